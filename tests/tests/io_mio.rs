//! `quic-io-mio` over loopback UDP: a QUIC server that is one source of a
//! test-owned `mio::Poll` loop, serving files over hq-interop to quinn's
//! client and to our quic-io-std client; the `mixed` example's server
//! (QUIC and a TCP echo port in one poll) under test; and a transfer whose
//! sends meet `WouldBlock` and still arrive intact.
//!
//! Files are SplitMix64 bytes; what arrives is compared by SHA-256. Every
//! loop and peer has a deadline, so a hang fails instead of hanging.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mio::{Events, Poll, Token};
use quic_io_mio::{Commands, IoStats, Params, QuicMio, SendConfig};
use quic_io_std::apps::hq::{self, HqClient, HqServer, HqServerStats, HqUrl, Output, RequestState};
use quic_io_std::apps::{dispatch_events, tls, App};
use quic_io_std::{Callbacks, Context, Flow, LoopControl};
use quic_proto::config::{ClientConfig, EndpointConfig, ServerConfig};
use quic_proto::connection::Event;
use quic_proto::endpoint::{ConnectionHandle, Endpoint};
use rustls::pki_types::CertificateDer;

#[path = "../../quic-io-mio/examples/mixed/server.rs"]
mod mixed;

const MIB: usize = 1024 * 1024;
/// Every loop and peer of a test gives up after this long.
const DEADLINE: Duration = Duration::from_secs(20);
/// The GSO batch of the endpoints (and their senders) unless a test says.
const BATCH: usize = 10;

/// The test server's tokens: its waker, then its socket(s).
const WAKER: Token = Token(0);
const QUIC: Token = Token(1);

// ---- files, digests, TLS ----------------------------------------------------------

use quic_tests::testkit::{filler, sha256};

/// A directory of files to serve, removed when dropped.
struct Site {
    dir: PathBuf,
    /// Each file's name and SHA-256.
    files: Vec<(String, usize, [u8; 32])>,
}

impl Site {
    fn new(name: &str, sizes: &[usize]) -> Self {
        let dir = std::env::temp_dir().join(format!("quic-io-mio-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut files = Vec::new();
        for (i, &size) in sizes.iter().enumerate() {
            let name = format!("file{i}.bin");
            let data = filler(i as u64 + 1, size);
            std::fs::write(dir.join(&name), &data).unwrap();
            files.push((name, size, sha256(&data)));
        }
        Self { dir, files }
    }

    fn urls(&self, server: SocketAddr) -> Vec<HqUrl> {
        self.files
            .iter()
            .map(|(name, _, _)| {
                HqUrl::parse(&format!("https://localhost:{}/{name}", server.port())).unwrap()
            })
            .collect()
    }

    fn total(&self) -> usize {
        self.files.iter().map(|(_, size, _)| size).sum()
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A self-signed certificate for localhost and both sides' configurations.
struct Tls {
    cert: CertificateDer<'static>,
    server: ServerConfig,
    client: ClientConfig,
}

impl Tls {
    fn new() -> Self {
        let made = tls::self_signed(&["localhost"]).unwrap();
        let cert = made.identity.chain[0].clone();
        let roots = tls::Verification::Roots(vec![cert.clone()]);
        Self {
            server: tls::server_config(&made.identity, &[hq::ALPN], false).unwrap(),
            client: tls::client_config(&roots, &[hq::ALPN], false).unwrap(),
            cert,
        }
    }
}

fn endpoint(seed: u64, server: Option<ServerConfig>, gso: usize) -> Endpoint {
    let mut config = EndpointConfig::new(seed);
    config.max_gso_segments = gso;
    Endpoint::new(config, server)
}

fn loopback() -> Params {
    Params::bound_to(Ipv4Addr::LOCALHOST.into(), 0)
}

// ---- the mio server: QuicMio and HqServer in a poll of the test's own ----------

/// The command that ends the server's loop.
struct Stop;

/// What the server's loop saw.
#[derive(Debug)]
struct Served {
    hq: HqServerStats,
    io: IoStats,
    /// Writable events on the QUIC socket (registered only while blocked).
    writable_events: u64,
    /// Whether a send was still waiting for room when the loop ended.
    blocked_at_end: bool,
    gso: bool,
}

struct MioServer {
    addr: SocketAddr,
    commands: Commands<Stop>,
    thread: JoinHandle<Served>,
}

impl MioServer {
    /// Serves `root` from `quic` in a loop of its own on a new thread: the
    /// loop of the crate docs, with a waker to stop it and a deadline.
    fn spawn(mut quic: QuicMio, root: &Path) -> Self {
        let mut poll = Poll::new().unwrap();
        quic.register(poll.registry(), QUIC).unwrap();
        let (commands, mut inbox) = quic_io_mio::commands::<Stop>(poll.registry(), WAKER).unwrap();
        let mut app = HqServer::new(root).unwrap();
        let addr = quic.local_addrs()[0];
        let thread = std::thread::Builder::new()
            .name("mio-server".into())
            .spawn(move || {
                let deadline = quic_io_std::now() + DEADLINE;
                let mut events = Events::with_capacity(256);
                let mut writable_events = 0;
                loop {
                    let now = quic_io_std::now();
                    assert!(
                        now < deadline,
                        "the mio server passed its deadline: {quic:?} {:?}",
                        quic.io_stats()
                    );
                    let left = deadline - now;
                    let timeout = quic.timeout(now).map_or(left, |t| t.min(left));
                    match poll.poll(&mut events, Some(timeout)) {
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                        result => result.unwrap(),
                    }
                    let now = quic_io_std::now();
                    let mut stop = false;
                    for event in events.iter() {
                        if quic.owns(event.token()) && event.is_writable() {
                            writable_events += 1;
                        }
                        if quic.on_event(poll.registry(), event, now).unwrap() {
                            continue;
                        }
                        assert_eq!(event.token(), WAKER);
                        stop |= inbox.drain().count() > 0;
                    }
                    if stop {
                        return Served {
                            hq: app.stats(),
                            io: quic.io_stats().clone(),
                            writable_events,
                            blocked_at_end: quic.is_blocked(),
                            gso: quic.gso_enabled(),
                        };
                    }
                    quic.handle_timeout(now);
                    dispatch_events(&mut app, quic.endpoint_mut(), now);
                    quic.flush(poll.registry(), now).unwrap();
                }
            })
            .unwrap();
        Self {
            addr,
            commands,
            thread,
        }
    }

    fn stop(self) -> Served {
        self.commands
            .send(Stop)
            .unwrap_or_else(|e| panic!("stopping the server: {e}"));
        self.thread.join().expect("the mio server panicked")
    }
}

/// A server QuicMio on 127.0.0.1 with the default send configuration.
fn mio_server(tls: &Tls) -> QuicMio {
    let socket = mio::net::UdpSocket::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).unwrap();
    QuicMio::new(endpoint(1, Some(tls.server.clone()), BATCH), socket).unwrap()
}

// ---- clients ----------------------------------------------------------------------

/// Checks that every file of `site` arrived whole in `client` (Output::Memory).
fn check_bodies(site: &Site, client: &HqClient) {
    for (i, request) in client.requests().enumerate() {
        assert_eq!(request.state, RequestState::Done, "{}", request.url);
        let body = client.body(i).unwrap();
        let (_, size, digest) = &site.files[i];
        assert_eq!(body.len(), *size, "{}", request.url);
        assert!(sha256(body) == *digest, "{} arrived corrupted", request.url);
    }
}

/// Our hq-interop client on the quic-io-std loop: connects in `ready`,
/// leaves once every request is done and the connection drained.
struct StdClient {
    app: HqClient,
    server: SocketAddr,
    urls: Vec<HqUrl>,
    config: ClientConfig,
    deadline: Instant,
}

impl Callbacks for StdClient {
    type Output = HqClient;
    type Error = String;

    fn ready(&mut self, cx: &mut Context<'_>, _: &[SocketAddr]) -> Flow<HqClient, String> {
        let urls = std::mem::take(&mut self.urls);
        self.app
            .connect(
                cx.endpoint,
                cx.now,
                &self.config,
                self.server,
                "localhost",
                urls,
            )
            .map_err(|e| e.to_string())?;
        Ok(LoopControl::Continue)
    }

    fn event(
        &mut self,
        cx: &mut Context<'_>,
        handle: ConnectionHandle,
        event: Event,
    ) -> Flow<HqClient, String> {
        self.app.handle_event(cx.endpoint, cx.now, handle, event);
        Ok(LoopControl::Continue)
    }

    fn after_send(&mut self, cx: &mut Context<'_>, _: usize) -> Flow<HqClient, String> {
        self.app.poll(cx.endpoint, cx.now);
        if self.app.is_done() {
            let done = std::mem::replace(&mut self.app, HqClient::new(Output::Discard));
            return Ok(LoopControl::Exit(done));
        }
        Ok(LoopControl::Continue)
    }

    fn time_check(
        &mut self,
        cx: &mut Context<'_>,
        wake: &mut Option<Instant>,
    ) -> Flow<HqClient, String> {
        if cx.now >= self.deadline {
            return Err(format!(
                "the std client passed its deadline: {:?}",
                self.app.progress()
            ));
        }
        *wake = Some(wake.map_or(self.deadline, |w| w.min(self.deadline)));
        Ok(LoopControl::Continue)
    }
}

/// Fetches every file of `site` from `server` with our quic-io-std client.
fn std_fetch(tls: &Tls, site: &Site, server: SocketAddr) -> HqClient {
    let mut client = StdClient {
        app: HqClient::new(Output::Memory),
        server,
        urls: site.urls(server),
        config: tls.client.clone(),
        deadline: quic_io_std::now() + DEADLINE,
    };
    let mut endpoint = endpoint(2, None, BATCH);
    quic_io_std::run(&loopback(), &mut endpoint, &mut client)
        .unwrap_or_else(|e| panic!("our std client: {e}"))
}

/// Fetches every file of `site` from `server` with a QuicMio client in a
/// loop of this thread, on the default sockets (IPv4 and IPv6, two tokens).
fn mio_fetch(tls: &Tls, site: &Site, server: SocketAddr) -> (HqClient, IoStats) {
    let mut params = Params::default();
    params.max_send_batch = BATCH;
    let mut quic = QuicMio::bind(endpoint(3, None, BATCH), &params).unwrap();
    let mut poll = Poll::new().unwrap();
    quic.register(poll.registry(), Token(10)).unwrap();
    let mut app = HqClient::new(Output::Memory);
    let now = quic_io_std::now();
    app.connect(
        quic.endpoint_mut(),
        now,
        &tls.client,
        server,
        "localhost",
        site.urls(server),
    )
    .unwrap();
    let deadline = now + DEADLINE;
    let mut events = Events::with_capacity(256);
    while !app.is_done() {
        let now = quic_io_std::now();
        assert!(
            now < deadline,
            "the mio client passed its deadline: {:?}",
            app.progress()
        );
        quic.flush(poll.registry(), now).unwrap();
        let left = deadline - now;
        poll.poll(
            &mut events,
            Some(quic.timeout(now).map_or(left, |t| t.min(left))),
        )
        .unwrap();
        let now = quic_io_std::now();
        for event in events.iter() {
            assert!(
                quic.on_event(poll.registry(), event, now).unwrap(),
                "{event:?}"
            );
        }
        quic.handle_timeout(now);
        dispatch_events(&mut app, quic.endpoint_mut(), now);
    }
    quic.deregister(poll.registry()).unwrap();
    let stats = quic.io_stats().clone();
    (app, stats)
}

/// Fetches every file of `site` from `server` with quinn, one stream each,
/// all at once; checks them and closes with code 0.
fn quinn_fetch(tls: &Tls, site: &Site, server: SocketAddr) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(tls.cert.clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut crypto = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    crypto.alpn_protocols = vec![hq::ALPN.to_vec()];
    let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(crypto).unwrap();
    let files: Vec<(String, usize, [u8; 32])> = site.files.clone();
    let task = {
        let _guard = rt.enter();
        let mut endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
        endpoint.set_default_client_config(quinn::ClientConfig::new(Arc::new(crypto)));
        rt.spawn(async move {
            let conn = endpoint
                .connect(server, "localhost")
                .unwrap()
                .await
                .expect("quinn connect");
            let mut requests = Vec::new();
            for (name, size, digest) in files {
                let conn = conn.clone();
                requests.push(tokio::spawn(async move {
                    let (mut send, mut recv) = conn.open_bi().await.expect("quinn open_bi");
                    send.write_all(format!("GET /{name}\r\n").as_bytes())
                        .await
                        .expect("quinn write");
                    send.finish().expect("quinn finish");
                    let body = recv.read_to_end(size + 1).await.expect("quinn read");
                    assert_eq!(body.len(), size, "{name}");
                    assert!(sha256(&body) == digest, "{name} arrived corrupted");
                }));
            }
            for request in requests {
                request.await.expect("a quinn request panicked");
            }
            conn.close(0u32.into(), b"done");
            endpoint.wait_idle().await;
        })
    };
    rt.block_on(async { tokio::time::timeout(DEADLINE, task).await })
        .expect("quinn's client did not finish in time")
        .expect("quinn's client panicked");
}

// ---- the tests -----------------------------------------------------------------

#[test]
fn quinn_client_fetches_from_the_mio_server() {
    let tls = Tls::new();
    let site = Site::new("quinn", &[3 * MIB, 100 * 1024, 1]);
    let server = MioServer::spawn(mio_server(&tls), &site.dir);
    quinn_fetch(&tls, &site, server.addr);
    let served = server.stop();
    assert_eq!(served.hq.served, 3, "{served:?}");
    assert_eq!(served.hq.bytes_sent, site.total() as u64);
    assert!(!served.blocked_at_end);
    eprintln!("server {:?}", served.io);
}

#[test]
fn our_std_client_fetches_from_the_mio_server() {
    let tls = Tls::new();
    let site = Site::new("std", &[3 * MIB, 64 * 1024]);
    let server = MioServer::spawn(mio_server(&tls), &site.dir);
    let client = std_fetch(&tls, &site, server.addr);
    check_bodies(&site, &client);
    let served = server.stop();
    assert_eq!(served.hq.served, 2, "{served:?}");
    assert!(served.io.datagrams_sent > (3 * MIB / 1500) as u64);
    if served.gso {
        assert!(served.io.gso_sends > 0, "{:?}", served.io);
    }
}

/// The `mixed` example's server (quic-io-mio/examples/mixed/server.rs):
/// while our std client fetches two files over QUIC, a TCP client echoes
/// 1 MiB through the same poll, writing and reading at once (the echo
/// stops reading while its writes would block). Both finish; a command
/// from this thread then stops the loop.
#[test]
fn the_mixed_example_serves_quic_and_tcp_echo_from_one_poll() {
    use std::io::{Read, Write};

    let tls = Tls::new();
    let site = Site::new("mixed", &[2 * MIB, 10 * 1024]);
    let quic = mio_server(&tls);
    let app = HqServer::new(&site.dir).unwrap();
    let listener = mio::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).unwrap();
    let server = mixed::MixedServer::new(quic, app, listener).unwrap();
    let quic_addr = server.quic_addrs()[0];
    let tcp_addr = server.tcp_addr().unwrap();
    let commands = server.commands();
    let thread = std::thread::Builder::new()
        .name("mixed".into())
        .spawn(move || server.run())
        .unwrap();

    let sent = filler(9, MIB);
    let echoed = std::thread::scope(|s| {
        let tcp = s.spawn(|| {
            let mut stream = std::net::TcpStream::connect(tcp_addr).unwrap();
            stream.set_read_timeout(Some(DEADLINE)).unwrap();
            stream.set_write_timeout(Some(DEADLINE)).unwrap();
            let mut writer = stream.try_clone().unwrap();
            let data = &sent;
            s.spawn(move || {
                for chunk in data.chunks(7000) {
                    writer.write_all(chunk).unwrap();
                }
                writer.shutdown(std::net::Shutdown::Write).unwrap();
            });
            let mut back = Vec::new();
            stream.read_to_end(&mut back).unwrap();
            back
        });
        let client = std_fetch(&tls, &site, quic_addr);
        check_bodies(&site, &client);
        tcp.join().expect("the TCP client panicked")
    });
    assert!(
        echoed == sent,
        "the echo came back different ({} bytes)",
        echoed.len()
    );

    commands.send(mixed::Command::Stop).unwrap();
    let stats = thread.join().expect("the mixed server panicked").unwrap();
    assert_eq!(stats.hq.served, 2, "{stats:?}");
    assert_eq!(stats.tcp_connections, 1);
    assert_eq!(stats.tcp_bytes_echoed, MIB as u64);
    assert!(stats.io.datagrams_received > 0);
}

/// The server's socket has the smallest send buffer the kernel allows
/// and sends GSO batches of up to 32 datagrams, downloading 6 MiB to a
/// QuicMio client (two sockets, one per family). Sends refused with
/// `WouldBlock` are kept, the socket is registered for writability, the
/// writable event flushes them, and every byte arrives.
///
/// Loopback frees a datagram's buffer space inside the send call, so the
/// buffer never really fills there (200,000 sends of 48 KB GSO batches
/// with SO_SNDBUF at its 4608-byte minimum: no EAGAIN). So the sender also
/// refuses one send call in 3 as if the buffer were full
/// (`SendConfig::simulated_would_block`), before the kernel sees it; the
/// refusals it counted beyond those are real ones, printed.
#[test]
fn a_full_send_buffer_blocks_and_the_transfer_completes_intact() {
    const GSO: usize = 32;
    const EVERY: u64 = 3;
    let tls = Tls::new();
    let site = Site::new("wouldblock", &[6 * MIB]);
    let mut params = loopback();
    params.send_buffer_size = Some(1);
    let sockets = params
        .open()
        .unwrap()
        .into_iter()
        .map(mio::net::UdpSocket::from_std)
        .collect();
    let mut config = SendConfig::default();
    config.max_batch = GSO;
    config.simulated_would_block = EVERY as u32;
    let quic =
        QuicMio::with_sockets(endpoint(1, Some(tls.server.clone()), GSO), sockets, config).unwrap();
    let server = MioServer::spawn(quic, &site.dir);

    let (client, client_io) = mio_fetch(&tls, &site, server.addr);
    check_bodies(&site, &client);
    let served = server.stop();
    let io = &served.io;
    eprintln!("server {io:?}\nclient {client_io:?}");
    let tries = io.send_calls + io.send_would_block + io.send_errors + io.gso_failures;
    eprintln!(
        "WouldBlock: {} in all, {} beyond the simulated ones; {} writable events",
        io.send_would_block,
        io.send_would_block.saturating_sub(tries / EVERY),
        served.writable_events
    );
    assert!(io.send_would_block > 0, "{io:?}");
    assert!(
        served.writable_events > 0,
        "the writable interest never fired"
    );
    assert!(!served.blocked_at_end);
    assert_eq!(served.hq.bytes_sent, 6 * MIB as u64);
    if served.gso {
        assert!(
            io.gso_sends > 0 && io.datagrams_sent > io.send_calls,
            "{io:?}"
        );
    }
}
