//! Hostile input at the driver API: nothing the network sends may panic the
//! core or wedge a connection. Seeds are printed; set `QUIC_HOSTILE_SEED` to
//! replay one.

mod pair;

use std::time::Duration;

use pair::{Pair, Transfer, Who};
use quic_proto::config::TransportConfig;
use quic_proto::connection::Event;
use quic_proto::Dir;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn seeds() -> Vec<u64> {
    match std::env::var("QUIC_HOSTILE_SEED") {
        Ok(s) => vec![s.parse().expect("a u64 seed")],
        Err(_) => (1..=8).collect(),
    }
}

/// Random bytes, and mutations of real datagrams, thrown at both endpoints
/// during a handshake and a transfer.
#[test]
fn garbage_and_mutated_datagrams_never_panic() {
    for seed in seeds() {
        println!("seed {seed} (replay: QUIC_HOSTILE_SEED={seed})");
        let mut rng = Rng(seed);
        let mut pair = Pair::new(TransportConfig::default());
        let mut corrupt = Rng(seed ^ 0xdead_beef);
        // Flip a bit in one datagram out of five, drop one in ten.
        pair.drop_hook = Some(Box::new(move |_, _, bytes| {
            let r = corrupt.next();
            if r % 5 == 0 && !bytes.is_empty() {
                let at = (r >> 8) as usize % bytes.len();
                bytes[at] ^= 1 << ((r >> 32) % 8);
            }
            r % 10 == 1
        }));
        let h = pair.connect();
        for round in 0..200 {
            pair.step();
            let len = (rng.next() % 1400) as usize + 1;
            let mut junk: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            if round % 3 == 0 && !junk.is_empty() {
                // Look like a short-header packet for a real connection.
                junk[0] = 0x40 | (junk[0] & 0x3f);
            }
            let (now, c, s) = (pair.now, pair.client_addr, pair.server_addr);
            if round % 2 == 0 {
                pair.server.incoming_packet(now, c, &mut junk.clone());
            } else {
                pair.client.incoming_packet(now, s, &mut junk);
            }
        }
        pair.drop_hook = None;
        // The connection still works, or closed cleanly.
        let up = pair.drive_until(Duration::from_secs(20), |p| {
            p.client_saw(|e| *e == Event::Connected)
                || p.client_saw(|e| matches!(e, Event::Closed(_)))
        });
        assert!(up, "seed {seed}: neither connected nor closed");
        if pair.client_saw(|e| *e == Event::Connected)
            && !pair.client_saw(|e| matches!(e, Event::Closed(_)))
        {
            let mut t = Transfer::start(&mut pair, h, &[20_000], Dir::Bi);
            assert!(
                pair.drive_until(Duration::from_secs(30), |p| {
                    t.pump(p);
                    t.done()
                }),
                "seed {seed}: transfer stalled"
            );
            t.verify();
        }
        let _ = Who::Client;
    }
}

/// Every datagram of the handshake, replayed to its receiver once the
/// handshake is confirmed and both sides have dropped their Initial and
/// Handshake state: the stale packets are ignored, and data still flows.
#[test]
fn handshake_datagrams_replayed_after_confirmation_are_ignored() {
    let mut pair = Pair::new(TransportConfig::default());
    let seen = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let record = seen.clone();
    pair.drop_hook = Some(Box::new(move |who, _, bytes| {
        // Long-header datagrams: Initial and Handshake packets.
        if bytes.first().is_some_and(|b| b & 0x80 != 0) {
            record.borrow_mut().push((who, bytes.to_vec()));
        }
        false
    }));
    let h = pair.connect();
    assert!(pair.drive_until(Duration::from_secs(5), |p| {
        p.client_saw(|e| *e == Event::HandshakeConfirmed)
            && p.server_saw(|e| *e == Event::HandshakeConfirmed)
    }));
    pair.drop_hook = None;
    let replay = seen.borrow().clone();
    assert!(replay.len() >= 3, "handshake datagrams: {}", replay.len());
    for (who, mut bytes) in replay {
        let (now, c, s) = (pair.now, pair.client_addr, pair.server_addr);
        match who {
            Who::Client => pair.server.incoming_packet(now, c, &mut bytes),
            Who::Server => pair.client.incoming_packet(now, s, &mut bytes),
        }
        pair.step();
    }
    assert_eq!(
        pair.server.connection_count(),
        1,
        "a replayed Initial made a new connection"
    );
    let mut t = Transfer::start(&mut pair, h, &[20_000], Dir::Bi);
    assert!(pair.drive_until(Duration::from_secs(30), |p| {
        t.pump(p);
        t.done()
    }));
    t.verify();
    assert!(!pair.client_saw(|e| matches!(e, Event::Closed(_))));
}

/// Both ends close at the same instant. Neither reads the other's
/// CONNECTION_CLOSE once closing (RFC 9000 §10.2.1), so unless each limits
/// its answers the two bounce CONNECTION_CLOSEs for the whole closing
/// period; on a zero-latency link that exchange never ended. Found by the
/// `connection` fuzz target (fuzz/corpus/connection/regress-closing-ping-pong).
#[test]
fn simultaneous_close_does_not_bounce_connection_closes() {
    let mut pair = Pair::new(TransportConfig::default());
    pair.delay = Duration::from_micros(100);
    let h = pair.connect();
    assert!(pair.drive_until(Duration::from_secs(5), |p| {
        p.client_saw(|e| *e == Event::HandshakeConfirmed)
            && p.server_saw(|e| *e == Event::HandshakeConfirmed)
    }));
    let sent = std::rc::Rc::new(std::cell::Cell::new([0usize; 2]));
    let count = sent.clone();
    pair.drop_hook = Some(Box::new(move |who, _, _| {
        let mut n = count.get();
        n[who as usize] += 1;
        count.set(n);
        false
    }));
    let now = pair.now;
    pair.client_conn(h)
        .close(now, quic_proto::VarInt::from_u32(1), b"bye");
    pair.server_conn()
        .close(now, quic_proto::VarInt::from_u32(2), b"bye");
    assert!(pair.drive_until(Duration::from_secs(10), |p| {
        p.client_saw(|e| *e == Event::Drained) && p.server_saw(|e| *e == Event::Drained)
    }));
    let [client, server] = sent.get();
    // Each: its own CONNECTION_CLOSE, then answers to the 1st and 2nd
    // datagrams received (the 4th never comes).
    assert!(
        client <= 3 && server <= 3,
        "client sent {client}, server {server}"
    );
}

/// A flood of datagrams for a closing connection's ID gets a doubling gap
/// between answers (RFC 9000 §10.2.1: "SHOULD limit the rate at which it
/// generates packets in the closing state").
#[test]
fn closing_connection_answers_a_flood_sparingly() {
    let mut pair = Pair::new(TransportConfig::default());
    pair.connect();
    assert!(pair.drive_until(Duration::from_secs(5), |p| {
        p.client_saw(|e| *e == Event::HandshakeConfirmed)
    }));
    let now = pair.now;
    pair.server_conn()
        .close(now, quic_proto::VarInt::from_u32(0), b"");
    let mut buf = vec![0u8; 2048];
    while pair.server.prepare_next_packet(now, &mut buf).is_some() {}
    let dcid = pair.server_conn().local_cid();
    let mut answers = 0;
    for i in 0..100u8 {
        // A short header for the connection, then junk.
        let mut junk = vec![0x40 | (i & 0x3f)];
        junk.extend_from_slice(&dcid);
        junk.resize(60, i);
        let (now, c) = (pair.now, pair.client_addr);
        pair.server.incoming_packet(now, c, &mut junk);
        while pair.server.prepare_next_packet(now, &mut buf).is_some() {
            answers += 1;
        }
    }
    // The 1st, 2nd, 4th, ..., 64th: 7.
    assert_eq!(answers, 7);
}
