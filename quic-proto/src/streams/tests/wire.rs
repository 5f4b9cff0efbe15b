//! Two `Streams` joined by a "wire": `write_frames` on one side, decoding
//! with `Frames` and `on_frame` on the other, records acknowledged or lost
//! one round later. Moves about 1 MB in both directions on several streams
//! with small windows, without loss and with seeded random loss.

use std::collections::BTreeMap;
use std::time::Duration;

use super::*;
use crate::frame::{Dir, StreamId};
use crate::streams::WriteError;

/// SplitMix64: a tiny deterministic generator for the loss pattern.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// True with probability `per_mille / 1000`.
    fn chance(&mut self, per_mille: u64) -> bool {
        self.next() % 1000 < per_mille
    }
}

/// The bytes a stream carries in one direction: depends on the stream and
/// the direction so that misrouted data is caught.
fn content(id: StreamId, from_client: bool, len: usize) -> Vec<u8> {
    let seed = id.into_inner().wrapping_mul(2654435761) ^ u64::from(from_client);
    (0..len)
        .map(|i| (seed.wrapping_add(i as u64).wrapping_mul(0x9e37_79b9) >> 13) as u8)
        .collect()
}

/// What one side's application sends and has received.
struct Peer {
    streams: Streams,
    is_client: bool,
    /// Data to send per stream, how much was written, whether finished.
    outgoing: BTreeMap<StreamId, (Vec<u8>, usize, bool)>,
    /// Data received per stream and whether the FIN was read.
    incoming: BTreeMap<StreamId, (Vec<u8>, bool)>,
    /// Records of packets sent last round, with whether they were lost.
    in_flight: Vec<(Vec<StreamRecord>, bool)>,
    /// Packets sent and lost so far.
    sent: usize,
    lost: usize,
}

/// Response size on each bidirectional stream.
const RESPONSE: usize = 50_000;

impl Peer {
    fn new(streams: Streams, is_client: bool) -> Self {
        Self {
            streams,
            is_client,
            outgoing: BTreeMap::new(),
            incoming: BTreeMap::new(),
            in_flight: Vec::new(),
            sent: 0,
            lost: 0,
        }
    }

    /// The application's turn: accept, read, write, finish.
    fn app(&mut self, round: usize) {
        for dir in [Dir::Bi, Dir::Uni] {
            while let Some(id) = self.streams.accept(dir) {
                self.incoming.insert(id, (Vec::new(), false));
                if dir == Dir::Bi {
                    let data = content(id, self.is_client, RESPONSE);
                    self.outgoing.insert(id, (data, 0, false));
                }
            }
        }
        let mut buf = [0u8; 1500];
        for (&id, (got, fin)) in &mut self.incoming {
            while !*fin {
                // Alternate the copying and zero-copy reads.
                let r = if round % 2 == 0 {
                    self.streams
                        .read(id, &mut buf)
                        .map(|o| o.map(|(n, f)| (buf[..n].to_vec(), f)))
                } else {
                    self.streams
                        .read_chunk(id, 1000)
                        .map(|o| o.map(|(b, f)| (b.to_vec(), f)))
                };
                match r.unwrap() {
                    None => break,
                    Some((bytes, f)) => {
                        got.extend_from_slice(&bytes);
                        *fin = f;
                    }
                }
            }
        }
        for (&id, (data, pos, finished)) in &mut self.outgoing {
            while *pos < data.len() {
                match self.streams.write(id, &data[*pos..]) {
                    Ok(n) => *pos += n,
                    Err(WriteError::Blocked) => break,
                    Err(e) => panic!("write on {id:?}: {e}"),
                }
            }
            if *pos == data.len() && !*finished {
                self.streams.finish(id).unwrap();
                *finished = true;
            }
        }
        while let Some(ev) = self.streams.poll_event() {
            assert!(
                !matches!(ev, StreamEvent::Reset { .. } | StreamEvent::Stopped { .. }),
                "{ev:?}"
            );
        }
    }

    /// Last round's packets are now acknowledged or declared lost.
    fn settle(&mut self) {
        for (records, lost) in std::mem::take(&mut self.in_flight) {
            for r in records {
                if lost {
                    self.streams.on_lost(r);
                } else {
                    self.streams.on_acked(r);
                }
            }
        }
    }

    fn done(&self) -> bool {
        self.outgoing.values().all(|o| o.2) && self.incoming.values().all(|i| i.1)
    }
}

/// How the wire treats packets.
#[derive(Clone, Copy)]
struct Wire {
    /// Loss probability per mille.
    loss: u64,
    /// Probability per mille that a delivered packet is declared lost
    /// anyway (a spurious loss: its data is sent again).
    spurious: u64,
    /// Deliver each round's packets in a random order.
    reorder: bool,
}

/// Sends up to 32 packets from `from` to `to` through `wire`.
fn transmit(
    from: &mut Peer,
    to: &mut Peer,
    now: std::time::Instant,
    rng: &mut Rng,
    wire: Wire,
) -> usize {
    let mut delivered = Vec::new();
    while delivered.len() < 32 && from.streams.wants_to_send() {
        let p = packet_at(&mut from.streams, now, 1200);
        if p.bytes.is_empty() {
            break;
        }
        delivered.push(p);
    }
    let sent = delivered.len();
    if wire.reorder {
        for i in (1..delivered.len()).rev() {
            let j = (rng.next() % (i as u64 + 1)) as usize;
            delivered.swap(i, j);
        }
    }
    for p in delivered {
        let lost = rng.chance(wire.loss);
        if !lost {
            deliver(&mut to.streams, &p).unwrap();
        }
        let declared_lost = lost || rng.chance(wire.spurious);
        from.in_flight.push((p.records, declared_lost));
        from.sent += 1;
        from.lost += usize::from(declared_lost);
    }
    sent
}

/// Runs the transfer and checks every byte; returns the rounds it took.
fn run(seed: u64, wire: Wire, stream_window: u64, conn_window: u64) -> usize {
    let tp = params(conn_window, stream_window, 8, 8);
    let config = StreamsConfig {
        max_stream_window: stream_window * 4,
        max_conn_window: conn_window * 4,
        ..StreamsConfig::default()
    };
    let (c, s) = pair_with(&tp, &tp, config);
    let (mut client, mut server) = (Peer::new(c, true), Peer::new(s, false));
    // About 1 MB from the client on 6 streams, 150 KB back on the 3 bidi ones.
    for (dir, len) in [
        (Dir::Uni, 300_000),
        (Dir::Bi, 200_000),
        (Dir::Uni, 150_000),
        (Dir::Bi, 150_000),
        (Dir::Uni, 100_000),
        (Dir::Bi, 100_000),
    ] {
        let id = client.streams.open(dir).unwrap();
        client
            .outgoing
            .insert(id, (content(id, true, len), 0, false));
        if dir == Dir::Bi {
            client.incoming.insert(id, (Vec::new(), false));
        }
    }
    let mut rng = Rng(seed);
    let mut now = crate::streams::test_instant();
    let mut round = 0;
    loop {
        round += 1;
        assert!(round < 20_000, "seed {seed}: no progress");
        client.settle();
        server.settle();
        client.app(round);
        server.app(round);
        let sent = transmit(&mut client, &mut server, now, &mut rng, wire)
            + transmit(&mut server, &mut client, now, &mut rng, wire);
        now += Duration::from_millis(5);
        if sent == 0
            && client.done()
            && server.done()
            && client.in_flight.is_empty()
            && server.in_flight.is_empty()
        {
            break;
        }
    }
    for (from, to) in [(&client, &server), (&server, &client)] {
        for (id, (data, _, _)) in &from.outgoing {
            let (got, fin) = &to.incoming[id];
            assert!(*fin, "seed {seed}: {id:?} not finished");
            assert!(
                got == data,
                "seed {seed}: {id:?} corrupted ({} of {} bytes)",
                got.len(),
                data.len()
            );
        }
    }
    assert_eq!(server.incoming.len(), 6);
    // Everything acknowledged and read: all stream state is gone.
    assert_eq!(client.streams.stream_count(), 0, "seed {seed}");
    assert_eq!(server.streams.stream_count(), 0, "seed {seed}");
    assert_eq!(client.streams.send_buffered(), 0);
    let lost = client.lost + server.lost;
    println!(
        "seed {seed}: {round} rounds, {} + {} packets, {lost} lost",
        client.sent, server.sent
    );
    let lossy = wire.loss + wire.spurious > 0;
    assert_eq!(lost > 0, lossy, "seed {seed}: loss not exercised");
    round
}

/// The seeds to run: `QUIC_STREAMS_SEED` replays one.
fn seeds() -> Vec<u64> {
    match std::env::var("QUIC_STREAMS_SEED") {
        Ok(s) => vec![s.parse().expect("QUIC_STREAMS_SEED is a u64")],
        Err(_) => vec![1, 2, 3],
    }
}

const LOSSLESS: Wire = Wire {
    loss: 0,
    spurious: 0,
    reorder: false,
};

#[test]
fn megabyte_on_several_streams_with_small_windows_arrives_intact() {
    run(0, LOSSLESS, 16 * 1024, 64 * 1024);
}

#[test]
fn megabyte_with_random_loss_arrives_intact() {
    for seed in seeds() {
        println!("loss test seed {seed} (replay: QUIC_STREAMS_SEED={seed})");
        let wire = Wire {
            loss: 100,
            ..LOSSLESS
        };
        run(seed, wire, 16 * 1024, 64 * 1024);
    }
}

#[test]
fn reordering_and_spurious_losses_with_tiny_windows_still_complete() {
    for seed in seeds() {
        println!("chaos test seed {seed} (replay: QUIC_STREAMS_SEED={seed})");
        let wire = Wire {
            loss: 300,
            spurious: 100,
            reorder: true,
        };
        run(seed, wire, 4 * 1024, 8 * 1024);
    }
}
