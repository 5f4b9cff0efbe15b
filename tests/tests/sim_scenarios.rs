//! Transfers over the simulator's interop-runner presets
//! (`quic_proto::sim::presets`), in virtual time.
//!
//! Every test runs a few seeds and prints a replay hint per seed; set
//! `QUIC_SIM_SEED` to run one seed only.

use std::sync::Arc;
use std::time::{Duration, Instant};

use quic_proto::config::{ClientConfig, EndpointConfig, ServerConfig, TransportConfig};
use quic_proto::endpoint::{ConnectionHandle, Endpoint};
use quic_proto::sim::{presets, LinkConfig, Network, NodeId};
use quic_proto::{Dir, StreamId};

const ALPN: &[u8] = b"sim";

type Tls = (Arc<rustls::ServerConfig>, Arc<rustls::ClientConfig>);

/// rustls configurations trusting one self-signed Ed25519 certificate
/// (fixed-length signatures keep handshake sizes, and the trace, stable).
fn tls() -> Tls {
    tls_with_padding_certs(0)
}

/// Like [`tls`], with `extra` more certificates in the server's chain to
/// make its first flight large.
fn tls_with_padding_certs(extra: usize) -> Tls {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
    let params = rcgen::CertificateParams::new(vec!["localhost".into()]).unwrap();
    let cert = params.self_signed(&key).unwrap();
    let mut chain = vec![cert.der().clone()];
    for i in 0..extra {
        let k = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
        let p = rcgen::CertificateParams::new(vec![format!("padding{i}.invalid")]).unwrap();
        chain.push(p.self_signed(&k).unwrap().der().clone());
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let key_der = rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into());
    let mut server = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key_der)
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

/// The byte at `offset` of stream number `stream`: differs per stream and
/// per position, so misplaced or mixed-up data is caught.
fn pattern_byte(stream: usize, offset: usize) -> u8 {
    (offset.wrapping_mul(31) ^ (offset >> 8) ^ stream.wrapping_mul(97)) as u8
}

/// The seeds to run: `QUIC_SIM_SEED` if set, else `defaults`.
fn seeds(defaults: &[u64]) -> Vec<u64> {
    match std::env::var("QUIC_SIM_SEED") {
        Ok(s) => vec![s.trim().parse().expect("QUIC_SIM_SEED must be a u64")],
        Err(_) => defaults.to_vec(),
    }
}

fn replay_hint(seed: u64, test: &str) {
    println!("seed {seed}: replay with QUIC_SIM_SEED={seed} cargo test -p quic-tests --test sim_scenarios {test}");
}

/// A client node and a server node joined by `path` in both directions.
struct Nodes {
    net: Network,
    start: Instant,
    client: NodeId,
    server: NodeId,
    server_addr: std::net::SocketAddr,
    client_config: ClientConfig,
}

impl Nodes {
    fn new(seed: u64, tls: &Tls, path: LinkConfig, transport: TransportConfig) -> Self {
        let start = quic_tests_base_instant();
        let mut net = Network::new(seed, start);
        let client_addr = "10.0.0.1:5000".parse().unwrap();
        let server_addr = "10.0.0.2:443".parse().unwrap();
        let transport = Arc::new(transport);
        let mut server_config = ServerConfig::new(tls.0.clone()).unwrap();
        server_config.transport = transport.clone();
        let mut client_config = ClientConfig::new(tls.1.clone()).unwrap();
        client_config.transport = transport;
        let client = net.add_endpoint(Endpoint::new(EndpointConfig::new(seed), None), client_addr);
        let server = net.add_endpoint(
            Endpoint::new(EndpointConfig::new(seed ^ 0x5eed), Some(server_config)),
            server_addr,
        );
        net.link(client, server, path.clone(), path);
        Self {
            net,
            start,
            client,
            server,
            server_addr,
            client_config,
        }
    }
}

/// One client opening a uni stream per entry of `sizes` to a server over
/// `path` (both directions), with `transport` on both sides.
struct Scenario {
    net: Network,
    start: Instant,
    client: NodeId,
    server: NodeId,
    conn: ConnectionHandle,
    sizes: Vec<usize>,
    /// Per stream: its id once opened, bytes written, whether finished.
    sending: Vec<(Option<StreamId>, usize, bool)>,
    server_conn: Option<ConnectionHandle>,
    /// Per stream id seen by the server: (index, bytes checked, fin seen).
    receiving: Vec<(StreamId, usize, bool)>,
    complete: usize,
}

impl Scenario {
    fn new(
        seed: u64,
        tls: &Tls,
        path: LinkConfig,
        sizes: &[usize],
        transport: TransportConfig,
    ) -> Self {
        let Nodes {
            mut net,
            start,
            client,
            server,
            server_addr,
            client_config,
        } = Nodes::new(seed, tls, path, transport);
        let conn = net
            .endpoint(client)
            .connect(start, &client_config, server_addr, "localhost")
            .unwrap();
        Self {
            net,
            start,
            client,
            server,
            conn,
            sizes: sizes.to_vec(),
            sending: vec![(None, 0, false); sizes.len()],
            server_conn: None,
            receiving: Vec::new(),
            complete: 0,
        }
    }

    fn done(&self) -> bool {
        self.complete == self.sizes.len()
    }

    /// Writes what flow control allows on every stream.
    fn send(&mut self) {
        let Some(c) = self.net.endpoint(self.client).connection(self.conn) else {
            return;
        };
        let mut chunk = [0u8; 16384];
        for (i, (id, written, finished)) in self.sending.iter_mut().enumerate() {
            if id.is_none() {
                *id = c.open_stream(Dir::Uni).ok();
            }
            let Some(stream) = *id else { return };
            let size = self.sizes[i];
            while *written < size {
                let n = (size - *written).min(chunk.len());
                for (k, b) in chunk[..n].iter_mut().enumerate() {
                    *b = pattern_byte(i, *written + k);
                }
                match c.write(stream, &chunk[..n]) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => *written += n,
                }
            }
            if *written == size && !*finished {
                c.finish(stream).unwrap();
                *finished = true;
            }
        }
    }

    /// Reads everything that arrived, checking every byte against the
    /// pattern of its stream.
    fn receive(&mut self) {
        while let Some((h, _)) = self.net.poll_event(self.server) {
            self.server_conn.get_or_insert(h);
        }
        let Some(c) = self
            .server_conn
            .and_then(|h| self.net.endpoint(self.server).connection(h))
        else {
            return;
        };
        while let Some(id) = c.accept_stream(Dir::Uni) {
            self.receiving.push((id, 0, false));
        }
        let mut buf = [0u8; 16384];
        for (id, checked, fin) in &mut self.receiving {
            // Client uni streams are opened in order: index = stream index.
            let index = id.index() as usize;
            let size = *self.sizes.get(index).expect("an unexpected stream");
            while !*fin {
                match c.read(*id, &mut buf) {
                    Ok(Some((n, f))) => {
                        for (k, &b) in buf[..n].iter().enumerate() {
                            let offset = *checked + k;
                            assert_eq!(
                                b,
                                pattern_byte(index, offset),
                                "stream {index} byte {offset}"
                            );
                        }
                        *checked += n;
                        assert!(*checked <= size, "stream {index} longer than sent");
                        if f {
                            assert_eq!(*checked, size, "stream {index} finished short");
                            *fin = true;
                            self.complete += 1;
                        }
                        if n == 0 && !f {
                            break;
                        }
                    }
                    _ => break,
                }
            }
        }
    }

    /// Runs until every stream arrived intact (returns the virtual time it
    /// took from the connect) or `limit` of virtual time passes (`None`).
    fn run(&mut self, limit: Duration) -> Option<Duration> {
        let deadline = self.net.now() + limit;
        let mut net = core::mem::replace(&mut self.net, Network::new(0, deadline));
        let done = net.run_until(deadline, |net| {
            core::mem::swap(&mut self.net, net);
            self.send();
            self.receive();
            core::mem::swap(&mut self.net, net);
            self.done()
        });
        self.net = net;
        done.then(|| self.net.now() - self.start)
    }
}

/// Runs `sizes` over `path` for `seed` and asserts it completes intact
/// within `limit`; returns the completion time and the trace digest.
fn transfer(
    test: &str,
    seed: u64,
    tls: &Tls,
    path: LinkConfig,
    sizes: &[usize],
    transport: TransportConfig,
    limit: Duration,
) -> (Duration, u64) {
    replay_hint(seed, test);
    let mut s = Scenario::new(seed, tls, path, sizes, transport);
    let took = s.run(limit);
    let c2s = s.net.link_stats(s.client, s.server).unwrap();
    let s2c = s.net.link_stats(s.server, s.client).unwrap();
    println!(
        "  seed {seed}: completed in {took:?}; client->server {c2s:?}; server->client {s2c:?}"
    );
    let took =
        took.unwrap_or_else(|| panic!("seed {seed}: not complete within {limit:?} (virtual)"));
    (took, s.net.trace_digest())
}

fn four_streams(total: usize) -> Vec<usize> {
    vec![total / 4; 4]
}

#[test]
fn baseline_two_megabytes_on_four_streams_intact() {
    let tls = tls();
    for seed in seeds(&[1, 2, 3]) {
        transfer(
            "baseline_two_megabytes",
            seed,
            &tls,
            presets::interop_baseline(),
            &four_streams(2_000_000),
            TransportConfig::default(),
            Duration::from_secs(30),
        );
    }
}

#[test]
fn two_percent_burst_loss_two_megabytes_intact() {
    let tls = tls();
    for seed in seeds(&[11, 12, 13]) {
        transfer(
            "two_percent_burst_loss",
            seed,
            &tls,
            presets::loss(2.0),
            &four_streams(2_000_000),
            TransportConfig::default(),
            Duration::from_secs(60),
        );
    }
}

#[test]
fn thirty_percent_burst_loss_two_hundred_kilobytes_intact() {
    let tls = tls();
    // With 30 % loss in bursts, PTOs back off far; the default 30 s idle
    // timeout closed the connection mid-transfer, so it is raised here.
    let mut transport = TransportConfig::default();
    transport.max_idle_timeout = Some(Duration::from_secs(1200));
    for seed in seeds(&[21, 22, 23]) {
        transfer(
            "thirty_percent_burst_loss",
            seed,
            &tls,
            presets::loss(30.0),
            &four_streams(200_000),
            transport.clone(),
            Duration::from_secs(1200),
        );
    }
}

#[test]
fn same_seed_same_trace_other_seed_other_trace() {
    let tls = tls();
    let seed = seeds(&[31])[0];
    let run = |seed| {
        transfer(
            "same_seed_same_trace",
            seed,
            &tls,
            presets::loss(2.0),
            &four_streams(200_000),
            TransportConfig::default(),
            Duration::from_secs(60),
        )
    };
    let a = run(seed);
    assert_eq!(a, run(seed), "one seed, two runs");
    assert_ne!(
        a.1,
        run(seed + 1).1,
        "another seed should lose other packets"
    );
}

#[test]
fn goodput_on_clean_10mbit_30ms_rtt_is_at_least_90_percent() {
    const SIZE: usize = 10_000_000;
    let tls = tls();
    // Flow control must not be the bottleneck: windows far above the
    // bandwidth-delay product (37.5 kB).
    let mut transport = TransportConfig::default();
    transport.stream_receive_window = 16 << 20;
    transport.receive_window = 32 << 20;
    let seed = seeds(&[41])[0];
    let (took, _) = transfer(
        "goodput_on_clean",
        seed,
        &tls,
        presets::clean_10mbit_30ms_rtt(),
        &[SIZE],
        transport,
        Duration::from_secs(60),
    );
    let goodput = SIZE as f64 * 8.0 / took.as_secs_f64();
    println!("  goodput {:.2} Mbit/s over {took:?}", goodput / 1e6);
    assert!(goodput >= 0.9 * 10e6, "goodput {:.2} Mbit/s", goodput / 1e6);
}

/// Fifty handshakes, one after another from one client endpoint, over the
/// 30 % burst-loss preset: every one completes on both sides.
#[test]
fn fifty_handshakes_under_thirty_percent_burst_loss() {
    use quic_proto::connection::Event;
    let tls = tls();
    for seed in seeds(&[41]) {
        replay_hint(seed, "fifty_handshakes");
        let mut transport = TransportConfig::default();
        transport.max_idle_timeout = Some(Duration::from_secs(600));
        let Nodes {
            mut net,
            client,
            server,
            server_addr,
            client_config,
            ..
        } = Nodes::new(seed, &tls, presets::loss(30.0), transport);
        let mut slowest = Duration::ZERO;
        for i in 0..50 {
            let began = net.now();
            let handle = net
                .endpoint(client)
                .connect(began, &client_config, server_addr, "localhost")
                .unwrap();
            let (mut client_done, mut server_done) = (false, false);
            let ok = net.run_until(began + Duration::from_secs(600), |net| {
                while let Some((h, e)) = net.poll_event(client) {
                    client_done |= h == handle && e == Event::HandshakeConfirmed;
                }
                while let Some((_, e)) = net.poll_event(server) {
                    server_done |= e == Event::Connected;
                }
                client_done && server_done
            });
            assert!(ok, "seed {seed}: handshake {i} did not complete (client {client_done}, server {server_done})");
            slowest = slowest.max(net.now() - began);
            let now = net.now();
            if let Some(c) = net.endpoint(client).connection(handle) {
                c.close(now, quic_proto::VarInt::from_u32(0), b"");
            }
        }
        println!("  seed {seed}: 50 handshakes, slowest {slowest:?} (virtual)");
    }
}

/// One real instant for the virtual clock's base.
fn quic_tests_base_instant() -> Instant {
    #[allow(clippy::disallowed_methods, reason = "a base instant")]
    Instant::now()
}

/// A nine-certificate chain makes the server's first flight several times
/// the client's 1200-byte Initial; with the server's first flights
/// blackholed for 1.5 s, the handshake still completes, and before the
/// client's address is validated the server never sends more than three
/// times what it received (RFC 9000 §8.1), checked over the link counters
/// while the handshake runs.
#[test]
fn nine_certificate_handshake_with_lost_first_flights_respects_the_amplification_limit() {
    use quic_proto::connection::Event;
    use quic_proto::sim::Change;
    let (server_tls, client_tls) = tls_with_padding_certs(8);

    let start = quic_tests_base_instant();
    let mut net = Network::new(51, start);
    let client_addr = "10.0.0.1:5000".parse().unwrap();
    let server_addr = "10.0.0.2:443".parse().unwrap();
    let client = net.add_endpoint(Endpoint::new(EndpointConfig::new(1), None), client_addr);
    let server_config = ServerConfig::new(server_tls).unwrap();
    let server = net.add_endpoint(
        Endpoint::new(EndpointConfig::new(2), Some(server_config)),
        server_addr,
    );
    let path = presets::interop_baseline();
    net.link(
        client,
        server,
        path.clone(),
        LinkConfig {
            blackhole: true,
            ..path.clone()
        },
    );
    net.schedule(
        start + Duration::from_millis(1500),
        Change::Link {
            from: server,
            to: client,
            config: path,
        },
    );
    let client_config = ClientConfig::new(client_tls).unwrap();
    let handle = net
        .endpoint(client)
        .connect(start, &client_config, server_addr, "localhost")
        .unwrap();
    let (mut client_done, mut server_done) = (false, false);
    let mut max_ratio_seen = 0.0f64;
    let ok = net.run_until(start + Duration::from_secs(30), |net| {
        // Until the server holds Handshake keys from the client the address
        // is unvalidated; the server's handshake completing needs them.
        if !server_done {
            let sent = net.link_stats(server, client).unwrap().sent_bytes;
            let received = net.link_stats(client, server).unwrap().delivered_bytes;
            if received > 0 {
                max_ratio_seen = max_ratio_seen.max(sent as f64 / received as f64);
            }
            assert!(
                sent <= 3 * received,
                "server sent {sent} bytes for {received} received"
            );
        }
        while let Some((h, e)) = net.poll_event(client) {
            client_done |= h == handle && e == Event::HandshakeConfirmed;
        }
        while let Some((_, e)) = net.poll_event(server) {
            server_done |= e == Event::Connected;
        }
        client_done && server_done
    });
    assert!(
        ok,
        "handshake incomplete (client {client_done}, server {server_done})"
    );
    assert!(
        max_ratio_seen > 1.5,
        "the chain did not press against the limit ({max_ratio_seen:.2})"
    );
    println!(
        "  completed at {:?}; highest sent/received ratio before validation {max_ratio_seen:.2}",
        net.now() - start
    );
}
