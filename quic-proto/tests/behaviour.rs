//! Connection behaviour on the in-memory pair: closing, limits, resets,
//! key updates, idle timeout, amplification, Retry and stateless answers.

mod pair;

use std::time::Duration;

use bytes::Bytes;
use pair::{Certs, Pair, Transfer, Who};
use quic_proto::config::TransportConfig;
use quic_proto::connection::{ConnectionError, Event};
use quic_proto::endpoint::ConnectionHandle;
use quic_proto::streams::StreamEvent;
use quic_proto::{Dir, VarInt};

fn connected(pair: &mut Pair) -> ConnectionHandle {
    let h = pair.connect();
    assert!(pair.drive_until(Duration::from_secs(5), |p| {
        p.client_saw(|e| *e == Event::HandshakeConfirmed) && p.server_handle.is_some()
    }));
    h
}

#[test]
fn application_close_code_and_reason_reach_the_peer() {
    let mut pair = Pair::new(TransportConfig::default());
    let h = connected(&mut pair);
    let now = pair.now;
    pair.client_conn(h).close(now, VarInt::from_u32(42), b"bye");
    assert!(pair.drive_until(Duration::from_secs(5), |p| {
        p.server_saw(|e| {
            matches!(
                e,
                Event::Closed(ConnectionError::PeerApplicationClose { .. })
            )
        })
    }));
    let closed = pair.server_events.iter().find_map(|(_, e)| match e {
        Event::Closed(ConnectionError::PeerApplicationClose { code, reason }) => {
            Some((*code, reason.clone()))
        }
        _ => None,
    });
    assert_eq!(closed, Some((VarInt::from_u32(42), b"bye".to_vec())));
    assert!(pair.client_saw(|e| *e == Event::Closed(ConnectionError::LocallyClosed)));
    // Both sides drain and free the connection (RFC 9000 §10.2).
    assert!(pair.drive_until(Duration::from_secs(10), |p| {
        p.client.connection_count() == 0 && p.server.connection_count() == 0
    }));
}

#[test]
fn idle_timeout_closes_both_sides_silently() {
    let mut config = TransportConfig::default();
    config.max_idle_timeout = Some(Duration::from_secs(2));
    let mut pair = Pair::new(config);
    connected(&mut pair);
    let start = pair.now;
    assert!(pair.drive_until(Duration::from_secs(10), |p| {
        p.client_saw(|e| *e == Event::Closed(ConnectionError::TimedOut))
            && p.server_saw(|e| *e == Event::Closed(ConnectionError::TimedOut))
    }));
    let idle = pair.now - start;
    assert!(
        idle >= Duration::from_secs(2) && idle < Duration::from_secs(3),
        "{idle:?}"
    );
}

#[test]
fn keep_alive_prevents_the_idle_timeout() {
    let mut config = TransportConfig::default();
    config.max_idle_timeout = Some(Duration::from_secs(2));
    config.keep_alive_interval = Some(Duration::from_millis(500));
    let mut pair = Pair::new(config);
    connected(&mut pair);
    pair.drive_until(Duration::from_secs(10), |_| false);
    assert!(!pair.client_saw(|e| matches!(e, Event::Closed(_))));
}

#[test]
fn stream_limit_is_enforced_and_raised_as_streams_complete() {
    let mut config = TransportConfig::default();
    config.max_concurrent_uni_streams = 2;
    let mut pair = Pair::new(config);
    let h = connected(&mut pair);
    let a = pair.client_conn(h).open_stream(Dir::Uni).unwrap();
    let b = pair.client_conn(h).open_stream(Dir::Uni).unwrap();
    assert!(
        pair.client_conn(h).open_stream(Dir::Uni).is_err(),
        "third stream beyond the limit of 2"
    );
    for id in [a, b] {
        pair.client_conn(h).write(id, b"hello").unwrap();
        pair.client_conn(h).finish(id).unwrap();
    }
    // The server reads both to the end; it then grants more streams.
    let ok = pair.drive_until(Duration::from_secs(5), |p| {
        let Some(sh) = p.server_handle else {
            return false;
        };
        let conn = p.server.connection(sh).unwrap();
        while let Some(id) = conn.accept_stream(Dir::Uni) {
            let mut buf = [0u8; 64];
            while let Ok(Some((_, false))) = conn.read(id, &mut buf) {}
        }
        let mut buf = [0u8; 64];
        for id in [a, b] {
            while let Ok(Some((_, false))) = conn.read(id, &mut buf) {}
        }
        p.client
            .connection(h)
            .unwrap()
            .open_stream(Dir::Uni)
            .is_ok()
    });
    assert!(ok, "MAX_STREAMS never raised the limit");
}

#[test]
fn reset_stream_and_stop_sending_reach_the_peer() {
    let mut pair = Pair::new(TransportConfig::default());
    let h = connected(&mut pair);
    let id = pair.client_conn(h).open_stream(Dir::Bi).unwrap();
    pair.client_conn(h).write(id, &[1; 1000]).unwrap();
    pair.client_conn(h).reset(id, VarInt::from_u32(7)).unwrap();
    // The server sees the reset when it reads the stream (or as an event
    // once the stream is accepted).
    let mut seen = None;
    let ok = pair.drive_until(Duration::from_secs(5), |p| {
        if let Some(conn) = p.server_handle.and_then(|sh| p.server.connection(sh)) {
            while conn.accept_stream(Dir::Bi).is_some() {}
            let mut buf = [0u8; 2000];
            loop {
                match conn.read(id, &mut buf) {
                    Ok(Some((n, _))) if n > 0 => continue,
                    Err(quic_proto::streams::ReadError::Reset(code)) => seen = Some(code),
                    _ => {}
                }
                break;
            }
        }
        seen.is_some()
    });
    assert!(ok, "server events: {:?}", pair.server_events);
    assert_eq!(seen, Some(VarInt::from_u32(7)));
    // The server asks the client to stop sending on a new stream.
    let id2 = pair.client_conn(h).open_stream(Dir::Bi).unwrap();
    pair.client_conn(h).write(id2, &[2; 100]).unwrap();
    let ok = pair.drive_until(Duration::from_secs(5), |p| {
        let sh = p.server_handle.unwrap();
        let conn = p.server.connection(sh).unwrap();
        while let Some(s) = conn.accept_stream(Dir::Bi) {
            if s == id2 {
                conn.stop(s, VarInt::from_u32(9)).unwrap();
            }
        }
        p.client_saw(|e| matches!(e, Event::Stream(StreamEvent::Stopped { error_code, .. }) if *error_code == VarInt::from_u32(9)))
    });
    assert!(ok, "client events: {:?}", pair.client_events);
}

#[test]
fn key_updates_by_either_side_keep_data_flowing() {
    let mut pair = Pair::new(TransportConfig::default());
    let h = connected(&mut pair);
    let mut t = Transfer::start(&mut pair, h, &[400_000], Dir::Bi);
    let mut updates = 0;
    let ok = pair.drive_until(Duration::from_secs(30), |p| {
        t.pump(p);
        let received: usize = t.received.values().map(|(d, _)| d.len()).sum();
        if updates == 0 && received > 100_000 {
            p.client.connection(h).unwrap().initiate_key_update();
            updates = 1;
        } else if updates == 1 && received > 250_000 {
            let sh = p.server_handle.unwrap();
            p.server.connection(sh).unwrap().initiate_key_update();
            updates = 2;
        }
        // Keep both sides talking until the server's update has been used.
        let sh = p.server_handle.unwrap();
        let server_updates = p.server.connection(sh).unwrap().stats().key_updates;
        let client_updates = p.client.connection(h).unwrap().stats().key_updates;
        if t.done() && (server_updates, client_updates) != (2, 2) {
            p.server.connection(sh).unwrap().ping();
        }
        t.done() && (server_updates, client_updates) == (2, 2)
    });
    assert!(ok);
    t.verify();
    let client_updates = pair.client_conn(h).stats().key_updates;
    let server_updates = pair.server_conn().stats().key_updates;
    assert_eq!(
        (client_updates, server_updates),
        (2, 2),
        "each side saw both updates"
    );
}

#[test]
fn datagrams_flow_both_ways() {
    let mut pair = Pair::new(TransportConfig::default());
    let h = connected(&mut pair);
    pair.client_conn(h)
        .send_datagram(Bytes::from_static(b"ping"))
        .unwrap();
    assert!(pair.drive_until(Duration::from_secs(5), |p| p
        .server_saw(|e| *e == Event::DatagramReceived)));
    assert_eq!(
        pair.server_conn().recv_datagram().as_deref(),
        Some(&b"ping"[..])
    );
    pair.server_conn()
        .send_datagram(Bytes::from_static(b"pong"))
        .unwrap();
    assert!(pair.drive_until(Duration::from_secs(5), |p| p
        .client_saw(|e| *e == Event::DatagramReceived)));
    assert_eq!(
        pair.client_conn(h).recv_datagram().as_deref(),
        Some(&b"pong"[..])
    );
}

#[test]
fn datagrams_are_refused_when_the_peer_does_not_accept_them() {
    let mut config = TransportConfig::default();
    config.max_datagram_frame_size = None;
    let mut pair = Pair::new(config);
    let h = connected(&mut pair);
    assert!(pair
        .client_conn(h)
        .send_datagram(Bytes::from_static(b"x"))
        .is_err());
}

#[test]
fn server_respects_the_amplification_limit_with_a_large_certificate_chain() {
    // Nine certificates make the server's first flight far larger than three
    // times the client's 1200-byte Initial (RFC 9000 §8.1).
    let mut pair = Pair::with_certs(Certs::new(8), TransportConfig::default(), |_| {});
    let sent = std::rc::Rc::new(std::cell::RefCell::new([0usize; 2]));
    let seen = sent.clone();
    let validated = std::rc::Rc::new(std::cell::Cell::new(false));
    let v = validated.clone();
    pair.drop_hook = Some(Box::new(move |who, _, bytes| {
        let mut s = seen.borrow_mut();
        s[who as usize] += bytes.len();
        // A client Handshake packet (long header, type 2 in v1) validates.
        if who == Who::Client && bytes[0] & 0xb0 == 0xa0 {
            v.set(true);
        }
        if !v.get() {
            assert!(
                s[Who::Server as usize] <= 3 * s[Who::Client as usize],
                "server sent {} for {}",
                s[1],
                s[0]
            );
        }
        false
    }));
    connected(&mut pair);
    assert!(
        sent.borrow()[Who::Server as usize] > 3 * 1200,
        "the chain was large enough to matter"
    );
}

#[test]
fn handshake_completes_through_a_retry() {
    let mut pair = Pair::with_certs(Certs::new(0), TransportConfig::default(), |s| {
        s.retry = true
    });
    let h = connected(&mut pair);
    let mut t = Transfer::start(&mut pair, h, &[10_000], Dir::Bi);
    assert!(pair.drive_until(Duration::from_secs(5), |p| {
        t.pump(p);
        t.done()
    }));
    t.verify();
}

#[test]
fn stateless_reset_from_a_restarted_server_ends_the_connection() {
    let mut pair = Pair::new(TransportConfig::default());
    let h = connected(&mut pair);
    // The server restarts with the same reset key and no state.
    pair.server =
        quic_proto::endpoint::Endpoint::new(quic_proto::config::EndpointConfig::new(2), None);
    pair.client_conn(h).ping();
    let seen = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let s2 = seen.clone();
    pair.drop_hook = Some(Box::new(move |who, _, bytes| {
        s2.borrow_mut().push((who, bytes.len(), bytes[0]));
        false
    }));
    let ok = pair.drive_until(Duration::from_secs(5), |p| {
        p.client_saw(|e| *e == Event::Closed(ConnectionError::Reset))
    });
    assert!(
        ok,
        "datagrams {:?}, client events {:?}",
        seen.borrow(),
        pair.client_events
    );
}

#[test]
fn unknown_version_gets_version_negotiation() {
    let mut pair = Pair::new(TransportConfig::default());
    let mut datagram = vec![0u8; 1200];
    datagram[0] = 0xc0;
    datagram[1..5].copy_from_slice(&0x1a2a_3a4au32.to_be_bytes());
    datagram[5] = 8;
    datagram[6..14].copy_from_slice(&[7; 8]);
    datagram[14] = 0;
    let (now, from) = (pair.now, pair.client_addr);
    pair.server.incoming_packet(now, from, &mut datagram);
    let mut buf = vec![0u8; 1500];
    let (tx, handle) = pair
        .server
        .prepare_next_packet(now, &mut buf)
        .expect("a VN packet");
    assert_eq!((tx.destination, handle), (from, None));
    let vn = &buf[..tx.size];
    assert_eq!(
        &vn[1..5],
        &[0, 0, 0, 0],
        "version 0 marks Version Negotiation"
    );
    let versions: Vec<u32> = vn[7 + 8..]
        .chunks(4)
        .map(|c| u32::from_be_bytes(c.try_into().unwrap()))
        .collect();
    assert!(
        versions.contains(&1) && versions.contains(&0x6b33_43cf),
        "{versions:x?}"
    );
}

#[test]
fn nat_rebinding_moves_the_server_to_the_new_client_address() {
    let mut pair = Pair::new(TransportConfig::default());
    let h = connected(&mut pair);
    let mut t = Transfer::start(&mut pair, h, &[300_000], Dir::Bi);
    let new_addr: std::net::SocketAddr = "[::1]:50001".parse().unwrap();
    let mut rebound = false;
    let ok = pair.drive_until(Duration::from_secs(30), |p| {
        t.pump(p);
        let received: usize = t.received.values().map(|(d, _)| d.len()).sum();
        if !rebound && received > 50_000 {
            p.client_addr = new_addr;
            rebound = true;
        }
        t.done()
    });
    assert!(ok, "transfer stalled after rebinding");
    t.verify();
    assert_eq!(pair.server_conn().remote_address(), new_addr);
}

#[test]
fn close_is_sent_even_when_the_embedder_returns_after_the_closing_period() {
    let mut pair = Pair::new(TransportConfig::default());
    let h = connected(&mut pair);
    let now = pair.now;
    pair.client_conn(h).close(now, VarInt::from_u32(5), b"late");
    // The embedder stalls far longer than three PTOs before polling.
    pair.now += Duration::from_secs(10);
    assert!(pair.drive_until(Duration::from_secs(5), |p| {
        p.server_saw(|e| matches!(e, Event::Closed(ConnectionError::PeerApplicationClose { code, .. }) if *code == VarInt::from_u32(5)))
    }));
}

#[test]
fn replies_leave_from_the_local_address_the_peer_reached() {
    let mut pair = Pair::new(TransportConfig::default());
    let h = connected(&mut pair);
    let local: std::net::IpAddr = "2001:db8::7".parse().unwrap();
    let info = quic_proto::endpoint::DatagramInfo {
        remote: pair.client_addr,
        local_ip: Some(local),
        ecn: None,
    };
    // Route a real client datagram to the server, tagged with its local address.
    pair.client_conn(h).ping();
    let mut buf = vec![0u8; 1500];
    let now = pair.now;
    let (tx, _) = pair
        .client
        .prepare_next_packet(now, &mut buf)
        .expect("a PING");
    pair.server.incoming_packet(now, info, &mut buf[..tx.size]);
    // One ack-eliciting packet is acknowledged after max_ack_delay.
    let later = now + Duration::from_millis(30);
    let (reply, _) = pair
        .server
        .prepare_next_packet(later, &mut buf)
        .expect("an ACK");
    assert_eq!(reply.source, Some(local));
}

#[test]
fn clients_may_use_zero_length_connection_ids() {
    let mut pair = Pair::new(TransportConfig::default());
    let mut config = quic_proto::config::EndpointConfig::new(1);
    config.local_cid_len = 0;
    pair.client = quic_proto::endpoint::Endpoint::new(config, None);
    let h = connected(&mut pair);
    let mut t = Transfer::start(&mut pair, h, &[100_000], Dir::Bi);
    assert!(pair.drive_until(Duration::from_secs(10), |p| {
        t.pump(p);
        t.done()
    }));
    t.verify();
}

#[test]
fn a_handshake_without_a_common_alpn_fails_with_a_tls_alert() {
    let certs = Certs::new(0);
    let mut client_tls = (*certs.client).clone();
    client_tls.alpn_protocols = vec![b"other".to_vec()];
    let certs = Certs {
        server: certs.server,
        client: std::sync::Arc::new(client_tls),
    };
    let mut pair = Pair::with_certs(certs, TransportConfig::default(), |_| {});
    pair.connect();
    assert!(pair.drive_until(Duration::from_secs(5), |p| {
        p.client_saw(|e| matches!(e, Event::Closed(ConnectionError::PeerTransportClose { code, .. }) if code.tls_alert() == Some(120)))
    }), "client events: {:?}", pair.client_events);
}

/// RFC 9000 §8.2.1 and §8.2.2: datagrams carrying PATH_CHALLENGE or
/// PATH_RESPONSE are expanded to at least 1200 bytes, unless the
/// anti-amplification limit of the unvalidated path forbids it. With no
/// stream data moving, the path validation after a rebinding is the only
/// thing that can make either side send a large datagram.
#[test]
fn path_validation_datagrams_are_padded_to_1200_bytes() {
    let mut pair = Pair::new(TransportConfig::default());
    let h = connected(&mut pair);
    let sizes = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let record = sizes.clone();
    pair.drop_hook = Some(Box::new(move |who, _, bytes| {
        record.borrow_mut().push((who, bytes.len()));
        false
    }));
    pair.client_addr = "[::1]:50002".parse().unwrap();
    pair.client_conn(h).ping();
    pair.drive_until(Duration::from_secs(5), |p| {
        p.server_conn().remote_address() == p.client_addr && sizes.borrow().len() >= 3
    });
    let sizes = sizes.borrow();
    // The server's first datagram to the new address carries its
    // PATH_CHALLENGE; until the path is validated it may send at most three
    // times what it received there (RFC 9000 §8.1).
    let first_server = sizes.iter().position(|&(who, _)| who == Who::Server);
    let (received, challenge) = match first_server {
        Some(i) => (
            sizes[..i].iter().map(|&(_, n)| n).sum::<usize>(),
            sizes[i].1,
        ),
        None => panic!("no PATH_CHALLENGE: {sizes:?}"),
    };
    assert_eq!(
        challenge,
        (3 * received).min(1200),
        "PATH_CHALLENGE not padded to the limit: {sizes:?}"
    );
    assert!(
        sizes
            .iter()
            .any(|&(who, n)| who == Who::Client && n >= 1200),
        "no padded PATH_RESPONSE: {sizes:?}"
    );
    assert_eq!(pair.server_conn().remote_address(), pair.client_addr);
}

/// Data that arrives with the peer's CONNECTION_CLOSE (here in the same
/// packet) is announced before the connection's Closed event, so an
/// application that stops reading at Closed has seen it all.
#[test]
fn stream_events_come_before_closed() {
    let mut pair = Pair::new(TransportConfig::default());
    let h = connected(&mut pair);
    let now = pair.now;
    let conn = pair.client_conn(h);
    let id = conn.open_stream(Dir::Uni).unwrap();
    conn.write(id, b"last words").unwrap();
    conn.finish(id).unwrap();
    // The data leaves; the close follows at the same instant, so both
    // reach the server in one delivery, before it polls its events.
    pair.step();
    let before = pair.server_events.len();
    pair.client_conn(h).close(now, VarInt::from_u32(0), b"done");
    pair.step();
    assert_eq!(pair.server_events.len(), before, "nothing arrived yet");
    assert!(pair.drive_until(Duration::from_secs(5), |p| {
        p.server_saw(|e| matches!(e, Event::Closed(_)))
    }));
    let order: Vec<&str> = pair
        .server_events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::Stream(StreamEvent::Opened { .. }) => Some("opened"),
            Event::Closed(_) => Some("closed"),
            _ => None,
        })
        .collect();
    assert_eq!(order, ["opened", "closed"], "{:?}", pair.server_events);
}
