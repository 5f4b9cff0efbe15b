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
