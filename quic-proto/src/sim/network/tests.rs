use std::num::NonZeroU64;
use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::config::{ClientConfig, EndpointConfig, ServerConfig};
use crate::{Dir, StreamId, VarInt};

const ALPN: &[u8] = b"sim";
const SIZE: usize = 200_000;

/// rustls configurations trusting one self-signed certificate. Ed25519
/// signatures have a fixed length, so handshake sizes (and with them the
/// trace) do not vary with the signature's random nonce.
fn tls() -> (Arc<rustls::ServerConfig>, Arc<rustls::ClientConfig>) {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
    let params = rcgen::CertificateParams::new(vec!["localhost".into()]).unwrap();
    let cert = params.self_signed(&key).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let key_der = rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into());
    let mut server = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.der().clone()], key_der)
        .unwrap();
    server.alpn_protocols = vec![ALPN.to_vec()];
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.der().clone()).unwrap();
    let mut client = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    client.alpn_protocols = vec![ALPN.to_vec()];
    (Arc::new(server), Arc::new(client))
}

fn lossy_path() -> LinkConfig {
    LinkConfig {
        delay: Duration::from_millis(10),
        loss: 0.02,
        bandwidth: NonZeroU64::new(10_000_000),
        ..LinkConfig::default()
    }
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i.wrapping_mul(31) ^ (i >> 8)) as u8)
        .collect()
}

/// A client sending `SIZE` bytes on one stream to a server, over `network`.
struct Scenario {
    net: Network,
    client: NodeId,
    server: NodeId,
    conn: ConnectionHandle,
    /// Opened once the peer's stream limits arrive.
    stream: Option<StreamId>,
    server_conn: Option<ConnectionHandle>,
    data: Vec<u8>,
    written: usize,
    finished: bool,
    received: Vec<u8>,
    fin: bool,
}

impl Scenario {
    fn new(seed: u64, tls: &(Arc<rustls::ServerConfig>, Arc<rustls::ClientConfig>)) -> Self {
        let start = crate::test_instant();
        let mut net = Network::new(seed, start);
        let client_addr = "10.0.0.1:5000".parse().unwrap();
        let server_addr = "10.0.0.2:443".parse().unwrap();
        let server_config = ServerConfig::new(tls.0.clone()).unwrap();
        let client_config = ClientConfig::new(tls.1.clone()).unwrap();
        let client = net.add_endpoint(Endpoint::new(EndpointConfig::new(1), None), client_addr);
        let server = net.add_endpoint(
            Endpoint::new(EndpointConfig::new(2), Some(server_config)),
            server_addr,
        );
        net.link(client, server, lossy_path(), lossy_path());
        let conn = net
            .endpoint(client)
            .connect(start, &client_config, server_addr, "localhost")
            .unwrap();
        Self {
            net,
            client,
            server,
            conn,
            stream: None,
            server_conn: None,
            data: pattern(SIZE),
            written: 0,
            finished: false,
            received: Vec::new(),
            fin: false,
        }
    }

    /// Writes what flow control allows and reads what arrived.
    fn pump(&mut self) {
        if let Some(c) = self.net.endpoint(self.client).connection(self.conn) {
            if self.stream.is_none() {
                self.stream = c.open_stream(Dir::Uni).ok();
            }
            let Some(stream) = self.stream else { return };
            while self.written < self.data.len() {
                match c.write(stream, &self.data[self.written..]) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => self.written += n,
                }
            }
            if self.written == self.data.len() && !self.finished {
                c.finish(stream).unwrap();
                self.finished = true;
            }
        }
        while let Some((h, _)) = self.net.poll_event(self.server) {
            self.server_conn.get_or_insert(h);
        }
        let Some(c) = self
            .server_conn
            .and_then(|h| self.net.endpoint(self.server).connection(h))
        else {
            return;
        };
        while c.accept_stream(Dir::Uni).is_some() {}
        let Some(stream) = self.stream else { return };
        let mut buf = [0u8; 16384];
        while !self.fin {
            match c.read(stream, &mut buf) {
                Ok(Some((n, fin))) => {
                    self.received.extend_from_slice(&buf[..n]);
                    self.fin = fin;
                    if n == 0 && !fin {
                        break;
                    }
                }
                _ => break,
            }
        }
    }

    /// Runs until the server has the whole stream, or `limit` passes.
    fn run(&mut self, limit: Duration) -> bool {
        let deadline = self.net.now() + limit;
        // The closure gets the network by `&mut`; swap it back into `self`
        // around `pump` so the scenario's helpers can use it.
        let mut net = core::mem::replace(&mut self.net, Network::new(0, deadline));
        let done = net.run_until(deadline, |net| {
            core::mem::swap(&mut self.net, net);
            self.pump();
            core::mem::swap(&mut self.net, net);
            self.fin
        });
        self.net = net;
        done
    }

    fn assert_intact(&self) {
        assert!(self.fin, "stream incomplete");
        assert_eq!(self.received.len(), self.data.len());
        assert!(self.received == self.data, "stream content differs");
    }
}

#[test]
fn transfer_over_a_lossy_link_completes_intact() {
    let mut s = Scenario::new(1, &tls());
    assert!(s.run(Duration::from_secs(30)), "transfer stalled");
    s.assert_intact();
    let c2s = s.net.link_stats(s.client, s.server).unwrap();
    assert!(c2s.dropped_loss > 0, "2 % loss dropped nothing: {c2s:?}");
    assert!(s.net.stats().delivered > 150);
}

#[test]
fn same_seed_same_digest_other_seed_other_digest() {
    let tls = tls();
    let digest = |seed| {
        let mut s = Scenario::new(seed, &tls);
        assert!(s.run(Duration::from_secs(30)));
        s.assert_intact();
        (s.net.trace_digest(), s.net.now() - s.net.start)
    };
    let a = digest(5);
    assert_eq!(a, digest(5), "one seed, two runs");
    assert_ne!(a.0, digest(6).0, "another seed should lose other packets");
}

#[test]
fn transfer_survives_a_two_second_blackhole() {
    let mut s = Scenario::new(3, &tls());
    let t = s.net.now() + Duration::from_millis(100);
    let (c, sv) = (s.client, s.server);
    let dark = LinkConfig {
        blackhole: true,
        ..lossy_path()
    };
    for (from, to) in [(c, sv), (sv, c)] {
        s.net.schedule(
            t,
            Change::Link {
                from,
                to,
                config: dark.clone(),
            },
        );
        s.net.schedule(
            t + Duration::from_secs(2),
            Change::Link {
                from,
                to,
                config: lossy_path(),
            },
        );
    }
    assert!(!s.run(Duration::from_millis(150)), "done before the outage");
    assert!(s.run(Duration::from_secs(30)), "transfer stalled");
    s.assert_intact();
    let blackholed = s.net.link_stats(c, sv).unwrap().dropped_blackhole;
    assert!(blackholed > 0, "the outage dropped nothing");
    assert!(s.net.now() - s.net.start > Duration::from_secs(2));
}

#[test]
fn transfer_survives_nat_rebinding_of_the_client() {
    let mut s = Scenario::new(4, &tls());
    let new_addr: SocketAddr = "10.0.0.1:6000".parse().unwrap();
    let at = s.net.now() + Duration::from_millis(100);
    s.net.schedule(
        at,
        Change::Rebind {
            node: s.client,
            new_addr,
        },
    );
    assert!(!s.run(Duration::from_millis(100)), "done before rebinding");
    assert!(!s.received.is_empty(), "no data before rebinding");
    assert!(s.run(Duration::from_secs(30)), "transfer stalled");
    s.assert_intact();
    assert_eq!(s.net.addr(s.client), new_addr);
    let server_conn = s.server_conn.unwrap();
    let server = s.server;
    let remote = s
        .net
        .endpoint(server)
        .connection(server_conn)
        .unwrap()
        .remote_address();
    assert_eq!(remote, new_addr, "the server did not follow the rebinding");
}

/// Once both sides have closed and drained, neither endpoint keeps a route
/// (connection IDs, initial DCID, address, reset token) to the old
/// connection.
#[test]
fn drained_connections_leave_no_routes() {
    let mut s = Scenario::new(5, &tls());
    assert!(s.run(Duration::from_secs(30)), "transfer stalled");
    s.assert_intact();
    let (client, server, conn) = (s.client, s.server, s.conn);
    assert!(s.net.endpoint(server).route_count() > 0);
    let now = s.net.now();
    s.net
        .endpoint(client)
        .connection(conn)
        .unwrap()
        .close(now, VarInt::from_u32(0), b"done");
    let deadline = now + Duration::from_secs(30);
    let drained = s.net.run_until(deadline, |net| {
        net.endpoint(client).connection_count() == 0 && net.endpoint(server).connection_count() == 0
    });
    assert!(drained, "connections not drained");
    assert_eq!(s.net.endpoint(server).route_count(), 0);
    assert_eq!(s.net.endpoint(client).route_count(), 0);
}

#[test]
fn unknown_destination_is_counted_and_nothing_is_scheduled_after() {
    let start = crate::test_instant();
    let mut net = Network::new(9, start);
    let (_, client_tls) = tls();
    let client = net.add_endpoint(
        Endpoint::new(EndpointConfig::new(1), None),
        "10.0.0.1:5000".parse().unwrap(),
    );
    let config = ClientConfig::new(client_tls).unwrap();
    net.endpoint(client)
        .connect(start, &config, "10.9.9.9:443".parse().unwrap(), "localhost")
        .unwrap();
    let before = net.trace_digest();
    net.run_until(start + Duration::from_secs(120), |_| false);
    assert!(net.stats().unroutable >= 1);
    assert_eq!(net.stats().delivered, 0);
    assert_ne!(net.trace_digest(), before);
}
