//! The simulator's scenario suite: one [`Preset`] per network condition of
//! the QUIC interop runner, each a workload over a path, played for many
//! seeds. `tests/sim_scenarios.rs` runs a few seeds of each in `cargo test`;
//! the `sim-sweep` binary runs many (see `docs/simulation.md`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use quic_proto::config::{ClientConfig, ServerConfig, TransportConfig};
use quic_proto::sim::{presets, Report, Scenario, Workload};

/// The ALPN both sides offer.
pub const ALPN: &[u8] = b"sim";

/// Server and client TLS configurations trusting one certificate.
pub type Tls = (Arc<rustls::ServerConfig>, Arc<rustls::ClientConfig>);

/// rustls configurations trusting one self-signed Ed25519 certificate,
/// with `extra` unrelated certificates appended to the server's chain to
/// make its first flight large. Ed25519 signatures have a fixed length, so
/// handshake sizes (and trace digests) do not vary between runs.
pub fn tls_with_padding_certs(extra: usize) -> Tls {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).expect("key");
    let params = rcgen::CertificateParams::new(vec!["localhost".into()]).expect("params");
    let cert = params.self_signed(&key).expect("certificate");
    let mut chain = vec![cert.der().clone()];
    for i in 0..extra {
        let k = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).expect("key");
        let p = rcgen::CertificateParams::new(vec![format!("padding{i}.invalid")]).expect("params");
        chain.push(p.self_signed(&k).expect("certificate").der().clone());
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let key_der = rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into());
    let mut server = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .expect("TLS 1.3")
        .with_no_client_auth()
        .with_single_cert(chain, key_der)
        .expect("server certificate");
    server.alpn_protocols = vec![ALPN.to_vec()];
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.der().clone()).expect("root");
    let mut client = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .expect("TLS 1.3")
        .with_root_certificates(roots)
        .with_no_client_auth();
    client.alpn_protocols = vec![ALPN.to_vec()];
    (Arc::new(server), Arc::new(client))
}

/// [`tls_with_padding_certs`] without padding.
pub fn tls() -> Tls {
    tls_with_padding_certs(0)
}

/// Client and server configurations over `tls` with `transport` on both.
pub fn configs(tls: &Tls, transport: TransportConfig) -> (ClientConfig, ServerConfig) {
    let transport = Arc::new(transport);
    let mut server = ServerConfig::new(tls.0.clone()).expect("server config");
    server.transport = transport.clone();
    let mut client = ClientConfig::new(tls.1.clone()).expect("client config");
    client.transport = transport;
    (client, server)
}

/// One base instant for virtual clocks (only differences matter).
pub fn base_instant() -> Instant {
    #[allow(
        clippy::disallowed_methods,
        reason = "a base for the virtual clock; nothing depends on its value"
    )]
    Instant::now()
}

/// A named scenario of the suite.
#[derive(Clone, Copy, Debug)]
pub struct Preset {
    /// The name used by the test, the sweep's `--preset` and the docs.
    pub name: &'static str,
    /// What the preset stands for.
    pub description: &'static str,
    /// The scenario for a seed.
    pub scenario: fn(u64) -> Scenario,
    /// The transport settings of both sides.
    pub transport: fn() -> TransportConfig,
}

/// 2 MB over 20 streams (10 each way) plus 50 datagrams each way.
fn two_megabytes() -> Workload {
    Workload {
        datagrams: 50,
        datagram_size: 400,
        ..Workload::both_ways(2_000_000, 10)
    }
}

/// 10 MB over 16 streams (8 each way): long enough at 10 Mbit/s to span
/// the 5-second cycles of the blackhole and rebinding presets.
fn ten_megabytes() -> Workload {
    Workload {
        datagrams: 50,
        datagram_size: 400,
        ..Workload::both_ways(10_000_000, 8)
    }
}

fn default_transport() -> TransportConfig {
    TransportConfig::default()
}

fn with(seed: u64, path: quic_proto::sim::LinkConfig, workload: Workload, limit: u64) -> Scenario {
    let mut s = Scenario::new(seed, path);
    s.workload = workload;
    s.time_limit = Duration::from_secs(limit);
    s
}

/// Every preset of the suite.
pub const PRESETS: &[Preset] = &[
    Preset {
        name: "baseline",
        description: "15 ms one way, 10 Mbit/s, 25-packet drop-tail queue",
        scenario: |seed| with(seed, presets::interop_baseline(), two_megabytes(), 120),
        transport: default_transport,
    },
    Preset {
        name: "long_rtt",
        description: "750 ms one way (1.5 s RTT), 10 Mbit/s, 25-packet queue",
        scenario: |seed| with(seed, presets::long_rtt(), two_megabytes(), 300),
        transport: default_transport,
    },
    Preset {
        name: "loss_2",
        description: "baseline, 2 % of datagrams lost, at most 3 in a row",
        scenario: |seed| with(seed, presets::loss(2.0), two_megabytes(), 300),
        transport: default_transport,
    },
    Preset {
        name: "loss_30",
        description: "baseline, 30 % of datagrams lost, at most 3 in a row",
        scenario: |seed| with(seed, presets::loss(30.0), two_megabytes(), 600),
        transport: default_transport,
    },
    Preset {
        name: "corrupt_2",
        description: "baseline, 2 % of datagrams corrupted (a bit flipped), at most 3 in a row",
        scenario: |seed| with(seed, presets::corruption(2.0), two_megabytes(), 300),
        transport: default_transport,
    },
    Preset {
        name: "corrupt_30",
        description: "baseline, 30 % of datagrams corrupted (a bit flipped), at most 3 in a row",
        scenario: |seed| with(seed, presets::corruption(30.0), two_megabytes(), 600),
        transport: default_transport,
    },
    Preset {
        name: "blackhole",
        description: "baseline, both directions dark for 2 s after every 5 s",
        scenario: |seed| {
            with(seed, presets::interop_baseline(), ten_megabytes(), 300)
                .with_blackholes(Duration::from_secs(5), Duration::from_secs(2))
        },
        transport: default_transport,
    },
    Preset {
        name: "rebind_port",
        description: "baseline, the client's NAT port changes every 5 s",
        scenario: |seed| {
            with(seed, presets::interop_baseline(), ten_megabytes(), 300)
                .with_rebinding(Duration::from_secs(5), false)
        },
        transport: default_transport,
    },
    Preset {
        name: "rebind_addr",
        description: "baseline, the client's IP address and port change every 5 s",
        scenario: |seed| {
            with(seed, presets::interop_baseline(), ten_megabytes(), 300)
                .with_rebinding(Duration::from_secs(5), true)
        },
        transport: default_transport,
    },
];

/// The preset called `name`.
pub fn preset(name: &str) -> Option<&'static Preset> {
    PRESETS.iter().find(|p| p.name == name)
}

impl Preset {
    /// Plays this preset for `seed` with `tls`.
    pub fn run(&self, tls: &Tls, seed: u64) -> Report {
        let (client, server) = configs(tls, (self.transport)());
        (self.scenario)(seed).run(&client, server, base_instant())
    }

    /// The one-line command that replays `seed` of this preset.
    pub fn replay_command(&self, seed: u64) -> String {
        format!(
            "cargo run --release -p quic-tests --bin sim-sweep -- --preset {} --seed {seed}",
            self.name
        )
    }
}

/// What the suite demands of every run: every stream intact, a clean close
/// (the client's code 0 reached the server, or the server timed out
/// because every copy of it was lost), and at least one datagram through
/// each way.
pub fn check(report: &Report) -> Result<(), String> {
    if !report.intact() {
        return Err("data not delivered intact".into());
    }
    if !report.closed_cleanly() {
        return Err("connection did not close cleanly".into());
    }
    if report.datagrams_received.0 == 0 || report.datagrams_received.1 == 0 {
        return Err("no datagram got through".into());
    }
    Ok(())
}
