//! quinn as the peer, on a one-worker tokio runtime, speaking the protocol
//! of `app.rs`.

use std::net::SocketAddr;
use std::sync::Arc;

use super::app::{request, response, serve, sha256, Certs, Incoming, ALPN, DEADLINE};
use quic_tests::testkit::ring_provider;

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

async fn read_all(recv: &mut quinn::RecvStream) -> Incoming {
    let mut incoming = Incoming::default();
    while let Some(chunk) = recv.read_chunk(64 * 1024, true).await.expect("quinn read") {
        incoming.update(&chunk.bytes);
    }
    incoming
}

/// A quinn server on 127.0.0.1 answering one request on one connection;
/// finishes once the client closed.
pub fn spawn_server(
    rt: &tokio::runtime::Runtime,
    certs: &Certs,
) -> (SocketAddr, tokio::task::JoinHandle<quinn::ConnectionError>) {
    let crypto =
        quinn::crypto::rustls::QuicServerConfig::try_from(certs.server_tls(ring_provider(), ALPN))
            .unwrap();
    let config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    let _guard = rt.enter();
    let endpoint = quinn::Endpoint::server(config, "127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = endpoint.local_addr().unwrap();
    let task = rt.spawn(async move {
        let conn = endpoint
            .accept()
            .await
            .expect("quinn accept")
            .await
            .expect("quinn handshake");
        let (mut send, mut recv) = conn.accept_bi().await.expect("quinn accept_bi");
        let data = serve(read_all(&mut recv).await).expect("a request");
        send.write_all(&data).await.expect("quinn write");
        send.finish().expect("quinn finish");
        let close = conn.closed().await;
        endpoint.wait_idle().await;
        close
    });
    (addr, task)
}

/// A quinn client asking `server` for `download` bytes after uploading
/// `upload`; checks the response and closes with code 0.
pub fn spawn_client(
    rt: &tokio::runtime::Runtime,
    certs: &Certs,
    server: SocketAddr,
    upload: usize,
    download: usize,
) -> tokio::task::JoinHandle<()> {
    let crypto =
        quinn::crypto::rustls::QuicClientConfig::try_from(certs.client_tls(ring_provider(), ALPN))
            .unwrap();
    let _guard = rt.enter();
    let mut endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    endpoint.set_default_client_config(quinn::ClientConfig::new(Arc::new(crypto)));
    rt.spawn(async move {
        let conn = endpoint
            .connect(server, "localhost")
            .unwrap()
            .await
            .expect("quinn connect");
        let (mut send, mut recv) = conn.open_bi().await.expect("quinn open_bi");
        let data = request(upload, download);
        send.write_all(&data).await.expect("quinn write");
        send.finish().expect("quinn finish");
        let incoming = read_all(&mut recv).await;
        assert_eq!(incoming.len, 32 + download, "response length");
        assert_eq!(
            incoming.finish(),
            sha256(&response(&sha256(&data), download)),
            "the response arrived corrupted"
        );
        conn.close(0u32.into(), b"done");
        endpoint.wait_idle().await;
    })
}

/// Waits for quinn's side, within the tests' deadline.
pub fn join<T>(rt: &tokio::runtime::Runtime, task: tokio::task::JoinHandle<T>) -> T {
    rt.block_on(async { tokio::time::timeout(DEADLINE, task).await })
        .expect("quinn's side did not finish in time")
        .expect("quinn's side panicked")
}
