//! The simulator's scenario suite (`quic_tests::sim_suite`), in virtual
//! time: every interop-runner preset for a few seeds, plus handshake,
//! amplification, determinism and goodput scenarios.
//!
//! Every run prints its report; a failure prints the seed and the command
//! that replays it. Set `QUIC_SIM_SEED` to run one seed only. The long
//! sweep is the `sim-sweep` binary (docs/simulation.md).

use std::time::Duration;

use quic_proto::config::{ClientConfig, EndpointConfig, ServerConfig, TransportConfig};
use quic_proto::endpoint::Endpoint;
use quic_proto::sim::{presets, LinkConfig, Network, Scenario, Workload};
use quic_tests::sim_suite::{
    base_instant, check, configs, preset, tls, tls_with_padding_certs, Tls,
};

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

/// Plays the preset `name` for each default seed and checks every run:
/// all streams intact, a clean close, datagrams through both ways.
fn preset_suite(name: &str, defaults: &[u64]) {
    let p = preset(name).expect("a preset of the suite");
    let tls = tls();
    for seed in seeds(defaults) {
        let report = p.run(&tls, seed);
        println!("{name}: {report}");
        if let Err(why) = check(&report) {
            panic!(
                "{name} seed {seed}: {why}\n{report}\nreplay: {}\n    or: QUIC_SIM_SEED={seed} cargo test -p quic-tests --test sim_scenarios {name}",
                p.replay_command(seed)
            );
        }
    }
}

const SEEDS: &[u64] = &[1, 2, 3, 4];

#[test]
fn preset_baseline() {
    preset_suite("baseline", SEEDS);
}

#[test]
fn preset_long_rtt() {
    preset_suite("long_rtt", &[1, 2]);
}

#[test]
fn preset_loss_2() {
    preset_suite("loss_2", SEEDS);
}

#[test]
fn preset_loss_30() {
    preset_suite("loss_30", SEEDS);
}

#[test]
fn preset_corrupt_2() {
    preset_suite("corrupt_2", SEEDS);
}

#[test]
fn preset_corrupt_30() {
    preset_suite("corrupt_30", SEEDS);
}

#[test]
fn preset_blackhole() {
    preset_suite("blackhole", &[1, 2]);
}

#[test]
fn preset_rebind_port() {
    preset_suite("rebind_port", &[1, 2]);
}

#[test]
fn preset_rebind_addr() {
    preset_suite("rebind_addr", &[1, 2]);
}

#[test]
fn same_seed_same_trace_other_seed_other_trace() {
    let p = preset("loss_2").expect("preset");
    let tls = tls();
    let seed = seeds(&[31])[0];
    replay_hint(seed, "same_seed_same_trace");
    let run = |seed| {
        let mut s = (p.scenario)(seed);
        s.workload = Workload::both_ways(400_000, 4);
        let (client, server) = configs(&tls, (p.transport)());
        let r = s.run(&client, server, base_instant());
        println!("  {r}");
        assert!(r.intact(), "{r}");
        (
            r.trace_digest,
            r.completed,
            r.client_stats,
            r.server_stats.packets_sent,
        )
    };
    let a = run(seed);
    assert_eq!(a, run(seed), "one seed, two runs");
    assert_ne!(
        a.0,
        run(seed + 1).0,
        "another seed should lose other packets"
    );
}

#[test]
fn goodput_on_clean_10mbit_30ms_rtt_is_at_least_90_percent() {
    const SIZE: u64 = 10_000_000;
    let tls = tls();
    // Flow control must not be the bottleneck: windows far above the
    // bandwidth-delay product (37.5 kB).
    let mut transport = TransportConfig::default();
    transport.stream_receive_window = 16 << 20;
    transport.receive_window = 32 << 20;
    let seed = seeds(&[41])[0];
    replay_hint(seed, "goodput_on_clean");
    let mut s = Scenario::new(seed, presets::clean_10mbit_30ms_rtt());
    s.workload = Workload {
        download: vec![SIZE],
        ..Workload::default()
    };
    let (client, server) = configs(&tls, transport);
    let r = s.run(&client, server, base_instant());
    println!("  {r}");
    assert!(r.intact() && r.closed_cleanly(), "{r}");
    let goodput = r.goodput_bps().expect("completed");
    assert!(goodput >= 0.9 * 10e6, "goodput {:.2} Mbit/s", goodput / 1e6);
}

/// A client and a server node joined by `path` both ways.
fn two_nodes(
    seed: u64,
    tls: &Tls,
    path: LinkConfig,
    transport: TransportConfig,
) -> (
    Network,
    quic_proto::sim::NodeId,
    quic_proto::sim::NodeId,
    std::net::SocketAddr,
    ClientConfig,
) {
    let mut net = Network::new(seed, base_instant());
    let (client_config, server_config) = configs(tls, transport);
    let server_addr = "10.0.0.2:443".parse().unwrap();
    let client = net.add_endpoint(
        Endpoint::new(EndpointConfig::new(seed), None),
        "10.0.0.1:5000".parse().unwrap(),
    );
    let server = net.add_endpoint(
        Endpoint::new(EndpointConfig::new(seed ^ 0x5eed), Some(server_config)),
        server_addr,
    );
    net.link(client, server, path.clone(), path);
    (net, client, server, server_addr, client_config)
}

/// Fifty handshakes, one after another from one client endpoint, over the
/// 30 % loss preset (at most three in a row): every one completes on both
/// sides.
#[test]
fn fifty_handshakes_under_thirty_percent_loss() {
    use quic_proto::connection::Event;
    let tls = tls();
    for seed in seeds(&[41, 42]) {
        replay_hint(seed, "fifty_handshakes");
        let (mut net, client, server, server_addr, client_config) =
            two_nodes(seed, &tls, presets::loss(30.0), TransportConfig::default());
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

    let start = base_instant();
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
