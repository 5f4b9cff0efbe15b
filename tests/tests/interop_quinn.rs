//! Interop with quinn 0.11 over real loopback UDP, in both roles.
//!
//! Our endpoint runs on [`UdpDriver`] in the test thread; quinn runs on a
//! one-worker tokio runtime. Every exchange is request/response on
//! bidirectional streams:
//!
//! - a request is `[index: u64][response length: u64][filler]`, the filler
//!   derived from the index, so the server can regenerate what it should
//!   have received and compare SHA-256 digests;
//! - a response is `[SHA-256 of the request as received][filler]`: the
//!   client compares the server's digest with its own (the sender's hash
//!   against the receiver's), and the whole response with what it expects.
//!
//! Then one side closes with an application code and the test checks that
//! the peer saw exactly that code. Every run is bounded by a wall-clock
//! deadline so that a hang fails instead of stalling CI.
//!
//! quinn starts a key update of its own after its first 10 to 1000 packets
//! in every connection, so each bulk test also covers our answer to a
//! peer's key update. Several tests reproduce bugs these tests found in
//! `quic-proto` (TLS resumption and transport parameters, key updates we
//! start while only receiving or while idle, keep-alive in a blackhole, a
//! close after a stall); all are fixed.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use quic_proto::config::{ClientConfig, EndpointConfig, ServerConfig, TransportConfig};
use quic_proto::connection::{Connection, ConnectionError, Event, Stats};
use quic_proto::endpoint::{ConnectionHandle, Endpoint};
use quic_proto::streams::{StreamEvent, WriteError};
use quic_proto::{Dir, StreamId, VarInt};
use quic_tests::udp_driver::{Control, UdpDriver, DEFAULT_DEADLINE};
use ring::digest;
use rustls::crypto::CryptoProvider;
use rustls::CipherSuite;

#[path = "interop_quinn/harness.rs"]
mod harness;
use harness::*;

// ---- checks ------------------------------------------------------------------

/// Both sides moved every stream and datagram, and the side that closed
/// did so with the plan's code, which the other side saw exactly.
fn check(plan: &Plan, ours: &OurReport, quinn: &QuinnReport, our_side_is_client: bool) {
    let n = plan.streams.len();
    assert_eq!(
        ours.streams, n,
        "our side completed {} streams",
        ours.streams
    );
    assert_eq!(
        quinn.streams, n,
        "quinn completed {} streams",
        quinn.streams
    );
    assert_eq!(ours.datagrams, plan.datagrams as usize);
    assert_eq!(quinn.datagrams, plan.datagrams as usize);
    assert_eq!(ours.alpn.as_deref(), Some(ALPN));
    assert_eq!(quinn.alpn.as_deref(), Some(ALPN));
    // The stream bytes really crossed our sockets (on top of framing).
    let requests: usize = plan.streams.iter().map(|s| s.0).sum();
    let responses: usize = plan.streams.iter().map(|s| s.1.max(32)).sum();
    let (out, inc) = if our_side_is_client {
        (requests, responses)
    } else {
        (responses, requests)
    };
    assert!(
        ours.stats.bytes_sent >= out as u64 && ours.stats.bytes_received >= inc as u64,
        "our side sent {out} and received {inc} stream bytes, yet {:?}",
        ours.stats
    );
    let we_close = our_side_is_client != plan.server_closes;
    let code = plan.close_code;
    if we_close {
        assert_eq!(ours.close, Some(ConnectionError::LocallyClosed));
        assert_quinn_saw_our_close(&quinn.close, code);
        if let quinn::ConnectionError::ApplicationClosed(c) = &quinn.close {
            assert_eq!(&c.reason[..], b"done");
        }
    } else {
        assert!(
            matches!(quinn.close, quinn::ConnectionError::LocallyClosed),
            "quinn's close: {:?}",
            quinn.close
        );
        assert_eq!(
            ours.close,
            Some(ConnectionError::PeerApplicationClose {
                code: VarInt::from_u32(code),
                reason: b"done".to_vec(),
            })
        );
    }
}

/// Our client against a quinn server.
fn our_client_vs_quinn(plan: &Plan, our_provider: Arc<CryptoProvider>) -> (OurReport, QuinnReport) {
    let certs = Certs::new();
    let rt = runtime();
    let (addr, server) = spawn_quinn_server(&rt, &certs, ring_provider(), plan, 1);
    let mut driver = our_endpoint(1, None);
    let config = our_client_config(plan, &certs, our_provider);
    let ours = run_our_client(&mut driver, &config, addr, plan, false);
    let quinn = join(&rt, server).pop().unwrap();
    check(plan, &ours, &quinn, true);
    (ours, quinn)
}

/// A quinn client against our server.
fn quinn_vs_our_server(plan: &Plan, our_provider: Arc<CryptoProvider>) -> (OurReport, QuinnReport) {
    let certs = Certs::new();
    let rt = runtime();
    let mut driver = our_endpoint(2, Some(our_server_config(plan, &certs, our_provider)));
    let client = spawn_quinn_client(
        &rt,
        &certs,
        ring_provider(),
        plan,
        driver.local_addr().unwrap(),
    );
    let ours = run_our_server(&mut driver, plan);
    let quinn = join(&rt, client);
    check(plan, &ours, &quinn, false);
    (ours, quinn)
}

// ---- the tests -----------------------------------------------------------------

fn handshake_plan(server_closes: bool) -> Plan {
    let mut plan = Plan::new(vec![(KIB, KIB)]);
    plan.close_code = 0;
    plan.server_closes = server_closes;
    plan
}

#[test]
fn handshake_our_client_quinn_server_client_closes() {
    our_client_vs_quinn(&handshake_plan(false), ring_provider());
}

#[test]
fn handshake_our_client_quinn_server_server_closes() {
    our_client_vs_quinn(&handshake_plan(true), ring_provider());
}

#[test]
fn handshake_quinn_client_our_server_client_closes() {
    quinn_vs_our_server(&handshake_plan(false), ring_provider());
}

#[test]
fn handshake_quinn_client_our_server_server_closes() {
    quinn_vs_our_server(&handshake_plan(true), ring_provider());
}

/// 2 + 3 + 5 MB on three concurrent streams.
const BULK: [usize; 3] = [2 * MIB, 3 * MIB, 5 * MIB];

fn upload_plan() -> Plan {
    Plan::new(BULK.iter().map(|&n| (n, 32)).collect())
}

fn download_plan() -> Plan {
    Plan::new(BULK.iter().map(|&n| (16, n)).collect())
}

/// Our path MTU discovery (on by default) found the 1452-byte bound over
/// loopback with quinn acknowledging the probes, and quinn's larger
/// datagrams reached us.
fn check_path_mtu(ours: &OurReport) {
    let stats = &ours.stats;
    assert_eq!(stats.path_mtu, 1452, "{stats:?}");
    // The bound first: one probe on a path that carries it.
    assert_eq!(stats.mtu_probes_sent, 1, "{stats:?}");
    assert_eq!(stats.mtu_probes_lost, 0, "{stats:?}");
}

#[test]
fn transfer_our_client_uploads_to_quinn() {
    let (ours, _) = our_client_vs_quinn(&upload_plan(), ring_provider());
    check_path_mtu(&ours);
}

#[test]
fn transfer_our_client_downloads_from_quinn() {
    let (ours, _) = our_client_vs_quinn(&download_plan(), ring_provider());
    check_path_mtu(&ours);
}

#[test]
fn transfer_quinn_client_uploads_to_us() {
    let (ours, _) = quinn_vs_our_server(&upload_plan(), ring_provider());
    check_path_mtu(&ours);
}

#[test]
fn transfer_quinn_client_downloads_from_us() {
    let (ours, _) = quinn_vs_our_server(&download_plan(), ring_provider());
    check_path_mtu(&ours);
}

/// 1999 echoed 1 KB streams against a limit of 1000 concurrent streams.
fn many_streams_plan() -> Plan {
    let mut plan = Plan::new(vec![(KIB, KIB); 1999]);
    plan.max_streams = 1000;
    plan
}

#[test]
fn many_streams_our_client_quinn_server() {
    let (ours, _) = our_client_vs_quinn(&many_streams_plan(), ring_provider());
    // quinn's limit of 1000 was reached, and we waited for more credit.
    assert!(ours.open_refused > 0, "{ours:?}");
}

#[test]
fn many_streams_quinn_client_our_server() {
    let (ours, _) = quinn_vs_our_server(&many_streams_plan(), ring_provider());
    // quinn never had more than our limit open.
    assert!(
        (1..=1000).contains(&ours.max_live_streams),
        "{} streams live at once",
        ours.max_live_streams
    );
}

/// 2 MB each way on one stream (the request, then the response), with a
/// key update after `at` bytes moved by the side that initiates it: 1.5 MB
/// falls in the request, 2.5 MB in the response.
fn key_update_plan(ours: bool, at: usize) -> Plan {
    let mut plan = Plan::new(vec![(2 * MIB, 2 * MIB)]);
    if ours {
        plan.our_key_update_at = Some(at as u64);
    } else {
        plan.quinn_key_update_at = Some(at as u64);
    }
    plan
}

const IN_REQUEST: usize = 3 * MIB / 2;
const IN_RESPONSE: usize = 5 * MIB / 2;

fn assert_key_updated(ours: &OurReport) {
    assert!(
        ours.stats.key_updates >= 1,
        "no key update happened: {:?}",
        ours.stats
    );
}

#[test]
fn key_update_by_our_client_while_sending() {
    let (ours, _) = our_client_vs_quinn(&key_update_plan(true, IN_REQUEST), ring_provider());
    assert_key_updated(&ours);
}

#[test]
fn key_update_by_our_client_while_receiving() {
    let (ours, _) = our_client_vs_quinn(&key_update_plan(true, IN_RESPONSE), ring_provider());
    assert_key_updated(&ours);
}

#[test]
fn key_update_by_our_server_while_sending() {
    let (ours, _) = quinn_vs_our_server(&key_update_plan(true, IN_RESPONSE), ring_provider());
    assert_key_updated(&ours);
}

#[test]
fn key_update_by_our_server_while_receiving() {
    let (ours, _) = quinn_vs_our_server(&key_update_plan(true, IN_REQUEST), ring_provider());
    assert_key_updated(&ours);
}

/// Our server starts a key update on an idle connection, then the quinn
/// client sends its request: the deterministic form of the bug above.
#[test]
fn key_update_by_our_server_while_idle() {
    let mut plan = Plan::new(vec![(64 * KIB, 64 * KIB)]);
    plan.quinn_keep_alive = None;
    plan.quinn_idle_timeout = Duration::from_secs(2);
    plan.quinn_start_delay = Duration::from_millis(500);
    let certs = Certs::new();
    let rt = runtime();
    let mut driver = our_endpoint(5, Some(our_server_config(&plan, &certs, ring_provider())));
    let addr = driver.local_addr().unwrap();
    let client = spawn_quinn_client(&rt, &certs, ring_provider(), &plan, addr);
    let mut app = OurApp::server(&plan);
    driver
        .run_for(Duration::from_millis(250), |ep, h, ev, _| {
            app.on_event(ep, h, ev)
        })
        .unwrap();
    let handle = app.handle.expect("quinn connected");
    let conn = driver.endpoint.connection(handle).unwrap();
    assert!(conn.is_established());
    conn.initiate_key_update();
    driver.run(|ep, h, ev, _| app.on_event(ep, h, ev)).unwrap();
    let ours = app.report;
    let quinn = join(&rt, client);
    check(&plan, &ours, &quinn, false);
    assert_key_updated(&ours);
}

#[test]
fn key_update_by_quinn_server() {
    let (ours, _) = our_client_vs_quinn(&key_update_plan(false, IN_RESPONSE), ring_provider());
    assert_key_updated(&ours);
}

#[test]
fn key_update_by_quinn_client() {
    let (ours, _) = quinn_vs_our_server(&key_update_plan(false, IN_REQUEST), ring_provider());
    assert_key_updated(&ours);
}

fn chacha_plan() -> Plan {
    Plan::new(vec![(100 * KIB, 100 * KIB)])
}

#[test]
fn chacha20_only_our_client() {
    let (ours, _) = our_client_vs_quinn(&chacha_plan(), chacha_provider());
    assert_eq!(
        ours.cipher,
        Some(CipherSuite::TLS13_CHACHA20_POLY1305_SHA256)
    );
}

#[test]
fn chacha20_only_our_server() {
    let (ours, _) = quinn_vs_our_server(&chacha_plan(), chacha_provider());
    assert_eq!(
        ours.cipher,
        Some(CipherSuite::TLS13_CHACHA20_POLY1305_SHA256)
    );
}

/// 50 connections in turn from one client endpoint of ours, each a small
/// exchange closed with [`DONE`]. With `resumption` the rustls client keeps
/// its default session cache, so connections after the first resume TLS.
fn fifty_connections_in_sequence(resumption: bool) {
    const N: usize = 50;
    let plan = Plan::new(vec![(KIB, KIB)]);
    let certs = Certs::new();
    let rt = runtime();
    let (addr, server) = spawn_quinn_server(&rt, &certs, ring_provider(), &plan, N);
    let mut driver = our_endpoint(3, None);
    let mut tls = certs.client_tls(ring_provider(), ALPN);
    if !resumption {
        tls.resumption = rustls::client::Resumption::disabled();
    }
    let mut config = ClientConfig::new(Arc::new(tls)).unwrap();
    config.transport = plan.our_transport();
    // Each connection stops at its close; its closing period runs on
    // while the next connection starts.
    let mut ours = Vec::new();
    for i in 0..N {
        let report = run_our_client(&mut driver, &config, addr, &plan, true);
        assert_eq!(
            report.close,
            Some(ConnectionError::LocallyClosed),
            "connection {i} did not end with our close: {report:?}"
        );
        ours.push(report);
    }
    // Let the last closing period end, answering quinn if it needs it.
    driver
        .run(|ep, _, _, _| {
            if ep.connection_count() == 0 {
                Control::Stop
            } else {
                Control::Continue
            }
        })
        .unwrap();
    let quinn = join(&rt, server);
    assert_eq!(quinn.len(), N);
    for (o, q) in ours.iter().zip(&quinn) {
        check(&plan, o, q, true);
    }
}

#[test]
fn fifty_connections_in_sequence_our_client_quinn_server() {
    fifty_connections_in_sequence(true);
}

#[test]
fn fifty_connections_in_sequence_without_tls_resumption() {
    fifty_connections_in_sequence(false);
}

fn datagram_plan() -> Plan {
    let mut plan = Plan::new(vec![(KIB, KIB)]);
    plan.datagrams = 20;
    plan
}

#[test]
fn datagrams_our_client_quinn_server() {
    our_client_vs_quinn(&datagram_plan(), ring_provider());
}

#[test]
fn datagrams_quinn_client_our_server() {
    quinn_vs_our_server(&datagram_plan(), ring_provider());
}

/// Our client with a 50 ms keep-alive, connected to a quinn server that
/// never pings and idles out after `quinn_idle`; the connection sits idle
/// for one second (with everything towards us lost, if `blackhole`), then
/// we close it with [`DONE`]. Returns the datagrams we sent in that second.
fn keep_alive_idle_second(quinn_idle: Duration, blackhole: bool) -> u64 {
    let mut plan = Plan::new(Vec::new());
    plan.quinn_keep_alive = None;
    plan.quinn_idle_timeout = quinn_idle;
    let certs = Certs::new();
    let rt = runtime();
    let (addr, server) = spawn_quinn_server(&rt, &certs, ring_provider(), &plan, 1);
    let mut driver = our_endpoint(4, None);
    let mut config = our_client_config(&plan, &certs, ring_provider());
    let mut transport = (*plan.our_transport()).clone();
    transport.keep_alive_interval = Some(Duration::from_millis(50));
    config.transport = Arc::new(transport);
    let handle = driver.connect(&config, addr, "localhost").unwrap();
    let connected = driver
        .run_for(Duration::from_secs(5), |_, _, ev, _| match ev {
            Event::HandshakeConfirmed => Control::Stop,
            Event::Closed(e) => panic!("closed during the handshake: {e}"),
            _ => Control::Continue,
        })
        .unwrap();
    assert!(connected, "no handshake");
    let before = driver.endpoint.connection(handle).unwrap().stats();
    driver.drop_incoming = blackhole;
    driver
        .run_for(Duration::from_secs(1), |_, _, ev, _| match ev {
            Event::Closed(e) => panic!("the idle connection closed: {e}"),
            _ => Control::Continue,
        })
        .unwrap();
    driver.drop_incoming = false;
    let after = driver
        .endpoint
        .connection(handle)
        .expect("still open")
        .stats();
    close_and_wait_until_drained(&mut driver, handle, Duration::ZERO);
    assert_quinn_saw_our_close(&join(&rt, server).pop().unwrap().close, DONE);
    after.datagrams_sent - before.datagrams_sent
}

/// Our keep-alive holds an idle connection open past quinn's 300 ms idle
/// timeout, with about one PING per interval.
#[test]
fn keep_alive_holds_an_idle_connection_open() {
    let sent = keep_alive_idle_second(Duration::from_millis(300), false);
    assert!(
        (5..=60).contains(&sent),
        "{sent} datagrams in one idle second with a 50 ms keep-alive"
    );
}

/// While nothing reaches us, the keep-alive still paces its PINGs (one per
/// interval, plus the probes of loss recovery).
#[test]
fn keep_alive_paces_pings_while_the_peer_is_silent() {
    let sent = keep_alive_idle_second(Duration::from_secs(3), true);
    assert!(
        sent <= 60,
        "{sent} datagrams in one silent second with a 50 ms keep-alive"
    );
}

/// Our client closes, then its thread stalls for longer than the closing
/// period (3 PTO) before the endpoint runs again: the CONNECTION_CLOSE must
/// still go out once, so quinn sees our code.
#[test]
fn close_after_a_stall_still_reaches_quinn() {
    close_after_a_stall(Duration::from_millis(500));
}

/// The same without the stall, to show the test itself is sound.
#[test]
fn close_without_a_stall_reaches_quinn() {
    close_after_a_stall(Duration::ZERO);
}

fn close_after_a_stall(stall: Duration) {
    let mut plan = Plan::new(vec![(KIB, KIB)]);
    plan.quinn_idle_timeout = Duration::from_secs(2);
    let certs = Certs::new();
    let rt = runtime();
    let (addr, server) = spawn_quinn_server(&rt, &certs, ring_provider(), &plan, 1);
    let mut driver = our_endpoint(6, None);
    let config = our_client_config(&plan, &certs, ring_provider());
    let handle = driver.connect(&config, addr, "localhost").unwrap();
    let mut app = OurApp::client(&plan, handle);
    // Run the exchange, but take over the close ourselves.
    app.plan.server_closes = true;
    driver
        .run(|ep, h, ev, _| {
            app.on_event(ep, h, ev);
            if app.report.streams == 1 {
                Control::Stop
            } else {
                Control::Continue
            }
        })
        .unwrap();
    close_and_wait_until_drained(&mut driver, handle, stall);
    assert_quinn_saw_our_close(&join(&rt, server).pop().unwrap().close, DONE);
}

/// Closes our connection with `DONE` and "done", stalls the thread for
/// `stall`, then runs the endpoint until the connection is drained.
fn close_and_wait_until_drained(driver: &mut UdpDriver, handle: ConnectionHandle, stall: Duration) {
    let conn = driver.endpoint.connection(handle).expect("still open");
    conn.close(
        quic_tests::udp_driver::now(),
        VarInt::from_u32(DONE),
        b"done",
    );
    std::thread::sleep(stall);
    driver
        .run(|_, _, ev, _| match ev {
            Event::Drained => Control::Stop,
            _ => Control::Continue,
        })
        .unwrap();
}

/// quinn's connection ended with our application close carrying `code`.
fn assert_quinn_saw_our_close(close: &quinn::ConnectionError, code: u32) {
    match close {
        quinn::ConnectionError::ApplicationClosed(c) => {
            assert_eq!(c.error_code, quinn::VarInt::from_u32(code));
        }
        other => panic!("quinn saw {other:?}, not our close with {code}"),
    }
}
