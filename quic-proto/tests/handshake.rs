//! Handshake behaviour on the in-memory pair.

mod pair;

use std::time::Duration;

use pair::{Pair, Who};
use quic_proto::config::TransportConfig;
use quic_proto::connection::Event;

#[test]
fn client_and_server_complete_the_handshake() {
    let mut pair = Pair::new(TransportConfig::default());
    let h = pair.connect();
    let done = pair.drive_until(Duration::from_secs(5), |p| {
        p.client_saw(|e| *e == Event::HandshakeConfirmed)
            && p.server_saw(|e| *e == Event::Connected)
    });
    assert!(
        done,
        "client events {:?}\nserver events {:?}",
        pair.client_events, pair.server_events
    );
    assert_eq!(pair.client_conn(h).alpn(), Some(pair::ALPN));
    assert!(pair.client_conn(h).peer_certificates().is_some());
    let _ = Who::Client;
}

/// The server drops its rustls session once the handshake is complete; what
/// the application may ask about the handshake stays answerable.
#[test]
fn server_reports_alpn_sni_and_suite_after_dropping_its_tls_session() {
    let mut pair = Pair::new(TransportConfig::default());
    let h = pair.connect();
    assert!(pair.drive_until(Duration::from_secs(5), |p| {
        p.client_saw(|e| *e == Event::HandshakeConfirmed)
            && p.server_saw(|e| *e == Event::Connected)
    }));
    let client_suite = pair.client_conn(h).cipher_suite();
    let server = pair.server_conn();
    assert_eq!(server.alpn(), Some(pair::ALPN));
    assert_eq!(server.server_name(), Some("localhost"));
    assert!(server.cipher_suite().is_some());
    assert_eq!(server.cipher_suite(), client_suite);
    // No client certificate was asked for.
    assert!(server.peer_certificates().is_none());
}
