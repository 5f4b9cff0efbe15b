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
