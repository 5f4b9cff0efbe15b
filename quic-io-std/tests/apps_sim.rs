//! The apps of `quic_io_std::apps` over the simulator
//! (`quic_proto::sim::Network`), in virtual time: every byte each client
//! receives is checked against what the server has.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use quic_io_std::apps::hq::{
    self, HqClient, HqServer, HqUrl, LogEntry, LogOutcome, Output, RequestError, RequestState,
};
use quic_io_std::apps::perf::{self, PerfClient, PerfConfig, PerfServer};
use quic_io_std::apps::tls::{self, Verification};
use quic_io_std::apps::{demo, AlpnRouter, App};
use quic_proto::config::{ClientConfig, EndpointConfig, ServerConfig, TransportConfig};
use quic_proto::endpoint::Endpoint;
use quic_proto::sim::{presets, LinkConfig, Network, NodeId};

fn base_instant() -> Instant {
    #[allow(clippy::disallowed_methods, reason = "the base of virtual time")]
    Instant::now()
}

/// A fresh empty directory under the system's temporary directory.
fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("quic-apps-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `len` deterministic pseudo-random bytes (a 64-bit LCG), different per
/// `seed`.
fn content(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (x >> 56) as u8
        })
        .collect()
}

/// A client node and a server node joined by `path` both ways, and a
/// client configuration that trusts the server's fresh certificate.
struct Sim {
    net: Network,
    client: NodeId,
    server: NodeId,
    server_addr: SocketAddr,
    client_config: ClientConfig,
    /// Client configurations for other ALPNs, same trust.
    roots: Verification,
}

impl Sim {
    fn new(
        seed: u64,
        path: LinkConfig,
        server_alpns: &[&[u8]],
        client_alpn: &[u8],
        server_transport: TransportConfig,
    ) -> Self {
        let made = tls::self_signed(&["localhost"]).unwrap();
        let mut server_config = tls::server_config(&made.identity, server_alpns, false).unwrap();
        server_config.transport = Arc::new(server_transport);
        let roots = Verification::Roots(made.identity.chain.clone());
        let client_config = tls::client_config(&roots, &[client_alpn], false).unwrap();
        Self::with_configs(seed, path, server_config, client_config, roots)
    }

    fn with_configs(
        seed: u64,
        path: LinkConfig,
        server_config: ServerConfig,
        client_config: ClientConfig,
        roots: Verification,
    ) -> Self {
        println!("seed {seed}");
        let mut net = Network::new(seed, base_instant());
        let server_addr: SocketAddr = "10.0.0.2:443".parse().unwrap();
        let client = net.add_endpoint(
            Endpoint::new(EndpointConfig::new(seed), None),
            "10.0.0.1:5000".parse().unwrap(),
        );
        let server = net.add_endpoint(
            Endpoint::new(EndpointConfig::new(seed ^ 0x5eed), Some(server_config)),
            server_addr,
        );
        net.link(client, server, path.clone(), path);
        Self {
            net,
            client,
            server,
            server_addr,
            client_config,
            roots,
        }
    }

    /// Runs both apps until `done` holds or `limit` of virtual time passes.
    fn run(
        &mut self,
        client_app: &mut dyn App,
        server_app: &mut dyn App,
        limit: Duration,
        mut done: impl FnMut(&dyn App, &dyn App) -> bool,
    ) -> bool {
        let (client, server) = (self.client, self.server);
        let deadline = self.net.now() + limit;
        self.net.run_until(deadline, |net| {
            let now = net.now();
            while let Some((h, e)) = net.poll_event(server) {
                server_app.handle_event(net.endpoint(server), now, h, e);
            }
            server_app.poll(net.endpoint(server), now);
            while let Some((h, e)) = net.poll_event(client) {
                client_app.handle_event(net.endpoint(client), now, h, e);
            }
            client_app.poll(net.endpoint(client), now);
            done(client_app, server_app)
        })
    }
}

/// A quick path: 10 ms one way, no bottleneck.
fn clean_path() -> LinkConfig {
    LinkConfig {
        delay: Duration::from_millis(10),
        ..LinkConfig::default()
    }
}

/// The files of the hq tests, written under `root`: name and content.
fn write_files(root: &Path) -> Vec<(&'static str, Vec<u8>)> {
    let files = vec![
        ("small.txt", b"hello, hq-interop\n".to_vec()),
        ("empty.txt", Vec::new()),
        ("sub/medium.bin", content(200_000, 1)),
        ("big.bin", content(3_000_000, 2)),
        ("sub/index.html", b"<p>index</p>".to_vec()),
    ];
    for (name, data) in &files {
        let path = root.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, data).unwrap();
    }
    files
}

fn url(path: &str) -> HqUrl {
    HqUrl::parse(&format!("https://localhost:443{path}")).unwrap()
}

/// Several files, some requested twice, over two connections at once with
/// a server stream limit of 4 (so requests queue for streams); a missing
/// file, a `..` path, a symlink out of the root and an over-long request
/// fail with their codes while every other response arrives byte for byte.
#[test]
fn hq_serves_files_and_refuses_bad_paths() {
    let dir = temp_dir("hq");
    let root = dir.join("www");
    let out = dir.join("out");
    let files = write_files(&root);
    std::fs::write(dir.join("secret.txt"), b"outside the root").unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(dir.join("secret.txt"), root.join("escape.txt")).unwrap();

    let log: Arc<Mutex<Vec<LogEntry>>> = Arc::default();
    let sink = log.clone();
    let mut server = HqServer::new(&root)
        .unwrap()
        .on_log(move |e| sink.lock().unwrap().push(e.clone()));
    let mut transport = TransportConfig::default();
    transport.max_concurrent_bidi_streams = 4;
    let mut sim = Sim::new(11, clean_path(), &[hq::ALPN], hq::ALPN, transport);

    let long = format!("/{}", "a".repeat(hq::MAX_REQUEST));
    let mut first: Vec<&str> = vec!["/small.txt", "/big.bin", "/missing.txt", "/../secret.txt"];
    first.extend(["/empty.txt", "/sub/medium.bin", "/sub/", long.as_str()]);
    let second = [
        "/sub/medium.bin",
        "/escape.txt",
        "/small.txt",
        "/sub/../small.txt",
    ];
    let mut client = HqClient::new(Output::Directory(out.clone()));
    let now = sim.net.now();
    let (addr, config) = (sim.server_addr, sim.client_config.clone());
    client
        .connect(
            sim.net.endpoint(sim.client),
            now,
            &config,
            addr,
            "localhost",
            first.iter().map(|p| url(p)),
        )
        .unwrap();
    client
        .connect(
            sim.net.endpoint(sim.client),
            now,
            &config,
            addr,
            "localhost",
            second.iter().map(|p| url(p)),
        )
        .unwrap();
    let done = sim.run(&mut client, &mut server, Duration::from_secs(30), |c, _| {
        c.is_done()
    });
    assert!(done, "not done: {:?}", client.progress());

    let expect = |name: &str| files.iter().find(|(n, _)| *n == name).unwrap().1.clone();
    let reports: Vec<_> = client.requests().cloned().collect();
    let mut total = 0;
    for r in &reports {
        let want = match r.url.path.as_str() {
            "/small.txt" => Ok(expect("small.txt")),
            "/big.bin" => Ok(expect("big.bin")),
            "/empty.txt" => Ok(expect("empty.txt")),
            "/sub/medium.bin" => Ok(expect("sub/medium.bin")),
            "/sub/" => Ok(expect("sub/index.html")),
            "/missing.txt" => Err(hq::ERROR_NOT_FOUND),
            "/escape.txt" if cfg!(unix) => Err(hq::ERROR_FORBIDDEN),
            "/escape.txt" => Err(hq::ERROR_NOT_FOUND),
            "/../secret.txt" | "/sub/../small.txt" => Err(hq::ERROR_FORBIDDEN),
            p if p == long => Err(hq::ERROR_BAD_REQUEST),
            p => panic!("unexpected request {p}"),
        };
        match want {
            Ok(data) => {
                assert_eq!(r.state, RequestState::Done, "{}", r.url);
                assert_eq!(r.bytes, data.len() as u64, "{}", r.url);
                let saved = std::fs::read(r.file.as_ref().unwrap()).unwrap();
                assert!(saved == data, "{}: saved bytes differ", r.url);
                total += data.len() as u64;
            }
            Err(code) => {
                assert_eq!(
                    r.state,
                    RequestState::Failed(RequestError::Reset(code.into())),
                    "{}",
                    r.url
                );
                assert!(
                    r.file.is_none(),
                    "{}: a failed request leaves no file",
                    r.url
                );
            }
        }
    }
    // Repeated names do not overwrite each other.
    assert!(out.join("medium.bin").exists() && out.join("medium.bin.1").exists());
    assert!(out.join("small.txt").exists() && out.join("small.txt.1").exists());
    assert!(!out.join("secret.txt").exists() && !out.join("missing.txt").exists());
    let progress = client.progress();
    assert_eq!(
        (progress.requests, progress.completed, progress.failed),
        (12, 7, 5)
    );
    assert_eq!(progress.bytes, total);

    // The server logged every request, and served what the client got.
    let log = log.lock().unwrap();
    assert_eq!(log.len(), 12, "{log:#?}");
    let served: u64 = log
        .iter()
        .map(|e| match e.outcome {
            LogOutcome::Served { bytes } => bytes,
            _ => 0,
        })
        .sum();
    assert_eq!(served, total);
    let missing = log.iter().find(|e| e.path == "/missing.txt").unwrap();
    assert!(matches!(
        missing.outcome,
        LogOutcome::Refused { code: 404, .. }
    ));
    assert!(missing.to_string().contains("refused (404)"), "{missing}");
    let stats = server.stats();
    assert_eq!(
        (
            stats.connections,
            stats.requests,
            stats.served,
            stats.refused
        ),
        (2, 12, 7, 5)
    );
    std::fs::remove_dir_all(dir).unwrap();
}

/// Over the interop runner's 2 % burst-loss path, responses still arrive
/// whole (kept in memory this time).
#[test]
fn hq_over_a_lossy_link_delivers_every_byte() {
    let dir = temp_dir("hq-lossy");
    let files = write_files(&dir);
    let mut server = HqServer::new(&dir).unwrap();
    let mut sim = Sim::new(
        12,
        presets::loss(2.0),
        &[hq::ALPN],
        hq::ALPN,
        TransportConfig::default(),
    );
    let paths = ["/big.bin", "/sub/medium.bin", "/small.txt"];
    let mut client = HqClient::new(Output::Memory);
    let now = sim.net.now();
    let (addr, config) = (sim.server_addr, sim.client_config.clone());
    client
        .connect(
            sim.net.endpoint(sim.client),
            now,
            &config,
            addr,
            "localhost",
            paths.iter().map(|p| url(p)),
        )
        .unwrap();
    let done = sim.run(&mut client, &mut server, Duration::from_secs(60), |c, _| {
        c.is_done()
    });
    assert!(done, "not done: {:?}", client.progress());
    for (i, path) in paths.iter().enumerate() {
        let want = &files
            .iter()
            .find(|(n, _)| format!("/{n}") == *path)
            .unwrap()
            .1;
        assert!(
            client.body(i) == Some(want.as_slice()),
            "{path}: bytes differ"
        );
    }
    let lost = sim.net.link_stats(sim.server, sim.client).unwrap();
    println!("server -> client: {lost:?}");
    assert!(sim.net.stats().dropped_by_link > 0, "the path lost nothing");
    std::fs::remove_dir_all(dir).unwrap();
}

/// perf: 3 MB down and 1 MB up over 3 streams, every byte checked on both
/// sides; the server's per-connection report matches.
#[test]
fn perf_moves_and_checks_every_byte_both_ways() {
    let mut server = PerfServer::new().verify_uploads(true);
    let mut sim = Sim::new(
        13,
        clean_path(),
        &[perf::ALPN],
        perf::ALPN,
        TransportConfig::default(),
    );
    let config = PerfConfig::new(3, 3_000_000).with_upload(1_000_001);
    let mut client = PerfClient::new(config);
    let now = sim.net.now();
    let (addr, cc) = (sim.server_addr, sim.client_config.clone());
    client
        .connect(sim.net.endpoint(sim.client), now, &cc, addr, "localhost")
        .unwrap();
    let done = sim.run(&mut client, &mut server, Duration::from_secs(30), |c, _| {
        c.is_done()
    });
    assert!(done, "not done: {:?}", client.progress());
    // Let the close reach the server, which then records its counters.
    sim.run(&mut client, &mut server, Duration::from_secs(2), |_, _| {
        false
    });
    let report = client.report();
    println!("{report}");
    assert!(report.complete, "{report:?}");
    assert_eq!((report.downloaded, report.uploaded), (3_000_000, 1_000_001));
    assert!(report.elapsed > Duration::ZERO && report.download_gbps() > 0.0);
    // Virtual time: the handshake takes one round trip (20 ms) at least.
    assert!(report.handshake.unwrap() >= Duration::from_millis(20));
    let (_, server_report) = server.finished()[0];
    assert_eq!((server_report.streams, server_report.sent), (3, 3_000_000));
    assert_eq!(
        (server_report.uploaded, server_report.errors),
        (1_000_001, 0)
    );
    assert!(server_report.stats.packets_sent > 0);
}

/// perf with more up than down: each stream ends only once its upload is
/// out too, though the short response arrives first.
#[test]
fn perf_waits_for_the_upload_when_the_response_is_short() {
    let mut server = PerfServer::new().verify_uploads(true);
    let mut sim = Sim::new(
        16,
        clean_path(),
        &[perf::ALPN],
        perf::ALPN,
        TransportConfig::default(),
    );
    let mut client = PerfClient::new(PerfConfig::new(2, 10).with_upload(600_000));
    let now = sim.net.now();
    let (addr, cc) = (sim.server_addr, sim.client_config.clone());
    client
        .connect(sim.net.endpoint(sim.client), now, &cc, addr, "localhost")
        .unwrap();
    let done = sim.run(&mut client, &mut server, Duration::from_secs(30), |c, _| {
        c.is_done()
    });
    assert!(done, "not done: {:?}", client.progress());
    sim.run(&mut client, &mut server, Duration::from_secs(2), |_, _| {
        false
    });
    let report = client.report();
    assert!(report.complete, "{report:?}");
    assert_eq!((report.downloaded, report.uploaded), (10, 600_000));
    let (_, server_report) = server.finished()[0];
    assert_eq!((server_report.uploaded, server_report.errors), (600_000, 0));
}

/// The demo: 2 MB over 5 streams, the client trusting any certificate
/// (`--insecure`); the summary tells bytes, time, RTT and both sides'
/// packets.
#[test]
fn demo_transfers_over_several_streams_and_summarizes() {
    let demo_config = demo::DemoConfig::new(2_000_000, 5);
    let made = tls::self_signed(&["localhost"]).unwrap();
    let server_config = tls::server_config(&made.identity, &[demo::ALPN], false).unwrap();
    let client_config = tls::client_config(&Verification::Insecure, &[demo::ALPN], false).unwrap();
    let mut sim = Sim::with_configs(
        14,
        clean_path(),
        server_config,
        client_config,
        Verification::Insecure,
    );
    let mut server = demo_config.server();
    let mut client = demo_config.client();
    let now = sim.net.now();
    let (addr, cc) = (sim.server_addr, sim.client_config.clone());
    client
        .connect(sim.net.endpoint(sim.client), now, &cc, addr, "localhost")
        .unwrap();
    let done = sim.run(&mut client, &mut server, Duration::from_secs(30), |c, _| {
        c.is_done()
    });
    assert!(done, "not done: {:?}", client.progress());
    sim.run(&mut client, &mut server, Duration::from_secs(2), |_, _| {
        false
    });
    let (_, server_report) = server.finished()[0];
    let summary = demo::DemoSummary::new(&client.report(), Some(&server_report.stats));
    println!("{summary}");
    assert!(summary.complete, "{summary}");
    assert_eq!(
        (summary.bytes, summary.requested, summary.streams),
        (2_000_000, 2_000_000, 5)
    );
    assert!(summary.rtt >= Duration::from_millis(20), "{summary}");
    assert!(summary.handshake.unwrap() >= Duration::from_millis(20));
    assert!(summary.client_packets.0 > 0);
    let (server_sent, _) = summary.server_packets.unwrap();
    assert!(server_sent > 2_000_000 / 1500, "{summary}");
    assert!(summary.throughput_gbps > 0.0);
    assert!(summary.to_string().contains("every byte checked: ok"));
}

/// One endpoint serving hq-interop and perf through an [`AlpnRouter`]:
/// each client gets its own protocol.
#[test]
fn router_serves_each_connection_by_its_alpn() {
    let dir = temp_dir("router");
    let files = write_files(&dir);
    let router = AlpnRouter::new()
        .route(hq::ALPN, Box::new(HqServer::new(&dir).unwrap()))
        .route(perf::ALPN, Box::new(PerfServer::new()));
    let mut sim = Sim::new(
        15,
        clean_path(),
        &[hq::ALPN, perf::ALPN],
        perf::ALPN,
        TransportConfig::default(),
    );
    let mut server = router;
    let mut perf_client = PerfClient::new(PerfConfig::new(2, 100_000));
    let now = sim.net.now();
    let (addr, cc) = (sim.server_addr, sim.client_config.clone());
    perf_client
        .connect(sim.net.endpoint(sim.client), now, &cc, addr, "localhost")
        .unwrap();
    assert!(sim.run(
        &mut perf_client,
        &mut server,
        Duration::from_secs(5),
        |c, _| c.is_done()
    ));
    assert!(perf_client.report().complete);

    let hq_config = tls::client_config(&sim.roots, &[hq::ALPN], false).unwrap();
    let mut hq_client = HqClient::new(Output::Memory);
    let now = sim.net.now();
    hq_client
        .connect(
            sim.net.endpoint(sim.client),
            now,
            &hq_config,
            addr,
            "localhost",
            [url("/small.txt")],
        )
        .unwrap();
    assert!(sim.run(
        &mut hq_client,
        &mut server,
        Duration::from_secs(5),
        |c, _| c.is_done()
    ));
    assert_eq!(hq_client.body(0), Some(files[0].1.as_slice()));
    let p = server.app(perf::ALPN).unwrap().progress();
    assert_eq!((p.bytes, p.completed), (100_000, 2));
    let p = server.app(hq::ALPN).unwrap().progress();
    assert_eq!((p.bytes, p.completed), (files[0].1.len() as u64, 1));
    std::fs::remove_dir_all(dir).unwrap();
}
