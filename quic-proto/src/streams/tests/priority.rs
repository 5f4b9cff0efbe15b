//! Scheduling and window auto-tuning, observed in the frames written.

use std::time::Duration;

use super::*;
use crate::frame::{Dir, Frame, StreamId};

fn stream_ids(p: &Packet) -> Vec<StreamId> {
    p.frames()
        .into_iter()
        .filter_map(|f| match f {
            Frame::Stream(s) => Some(s.id),
            _ => None,
        })
        .collect()
}

#[test]
fn lower_urgency_is_sent_first() {
    let (mut c, _) = pair();
    let a = c.open(Dir::Uni).unwrap();
    let b = c.open(Dir::Uni).unwrap();
    let d = c.open(Dir::Uni).unwrap();
    c.set_priority(a, 5, false).unwrap();
    c.set_priority(b, 1, false).unwrap();
    for id in [a, b, d] {
        c.write(id, &[1; 100]).unwrap();
    }
    assert_eq!(stream_ids(&packet(&mut c, 1200)), [b, d, a]);
}

#[test]
fn priority_change_of_a_queued_stream_takes_effect() {
    let (mut c, _) = pair();
    let a = c.open(Dir::Uni).unwrap();
    let b = c.open(Dir::Uni).unwrap();
    for id in [a, b] {
        c.write(id, &[1; 100]).unwrap();
    }
    c.set_priority(b, 0, true).unwrap();
    assert_eq!(stream_ids(&packet(&mut c, 1200)), [b, a]);
}

#[test]
fn incremental_streams_take_turns_and_sequential_ones_go_one_at_a_time() {
    let (mut c, _) = pair();
    let inc: Vec<_> = (0..3).map(|_| c.open(Dir::Uni).unwrap()).collect();
    let seq: Vec<_> = (0..2).map(|_| c.open(Dir::Uni).unwrap()).collect();
    for &id in &inc {
        c.set_priority(id, 2, true).unwrap();
        c.write(id, &[1; 2500]).unwrap();
    }
    // Written in reverse ID order: service follows stream IDs, not writes.
    for &id in seq.iter().rev() {
        c.set_priority(id, 4, false).unwrap();
        c.write(id, &[2; 2500]).unwrap();
    }
    let firsts: Vec<StreamId> = (0..6)
        .map(|_| stream_ids(&packet(&mut c, 1000))[0])
        .collect();
    let round: Vec<StreamId> = inc.iter().chain(&inc).copied().collect();
    assert_eq!(firsts, round, "round-robin, one packet each");
    let mut rest = Vec::new();
    while c.wants_to_send() {
        rest.extend(stream_ids(&packet(&mut c, 1000)));
    }
    // The incremental streams (urgency 2) finish before the sequential
    // ones (urgency 4), which go one after the other in ID order.
    let first_seq = rest.iter().position(|id| seq.contains(id)).unwrap();
    assert!(rest[..first_seq].iter().all(|id| inc.contains(id)));
    let mut tail = rest[first_seq..].to_vec();
    tail.dedup();
    assert_eq!(tail, seq);
}

#[test]
fn retransmissions_go_before_new_data() {
    let (mut c, _) = pair();
    let a = c.open(Dir::Uni).unwrap();
    let b = c.open(Dir::Uni).unwrap();
    c.set_priority(b, 0, false).unwrap();
    c.write(a, &[1; 100]).unwrap();
    let p = packet(&mut c, 1200);
    c.write(b, &[2; 100]).unwrap();
    p.records.iter().for_each(|&r| c.on_lost(r));
    assert_eq!(stream_ids(&packet(&mut c, 1200)), [a, b]);
}

/// Runs a bulk transfer on one stream with the receiver reading at once,
/// advancing `step` per round trip, and returns the MAX_STREAM_DATA
/// increments the receiver sent.
fn window_increments(step: Duration) -> Vec<u64> {
    let config = StreamsConfig {
        max_stream_window: 1 << 20,
        ..StreamsConfig::default()
    };
    let tp = params(1 << 30, 16 * 1024, 10, 10);
    let (mut c, mut s) = pair_with(&tp, &tp, config);
    let id = c.open(Dir::Uni).unwrap();
    let chunk = vec![0u8; 1 << 16];
    let mut now = crate::streams::test_instant();
    let mut limits = vec![16 * 1024];
    let mut buf = vec![0u8; 1 << 16];
    for _ in 0..12 {
        while c.write(id, &chunk).is_ok() {}
        loop {
            let p = packet_at(&mut c, now, 1200);
            if p.bytes.is_empty() {
                break;
            }
            deliver(&mut s, &p).unwrap();
            p.records.iter().for_each(|&r| c.on_acked(r));
        }
        s.accept(Dir::Uni);
        while let Ok(Some((n, _))) = s.read(id, &mut buf) {
            assert!(n > 0);
        }
        loop {
            let p = packet_at(&mut s, now, 1200);
            if p.bytes.is_empty() {
                break;
            }
            for f in p.frames() {
                if let Frame::MaxStreamData { max, .. } = f {
                    limits.push(max.into_inner());
                }
            }
            deliver(&mut c, &p).unwrap();
        }
        now += step;
    }
    limits.windows(2).map(|w| w[1] - w[0]).collect()
}

#[test]
fn receive_window_grows_when_the_application_reads_fast() {
    // A round trip every 1 ms, against an RTT of 10 ms: each window is used
    // up well within two RTTs, so it doubles up to the 1 MiB maximum.
    let fast = window_increments(Duration::from_millis(1));
    let k = 1024;
    assert_eq!(
        fast,
        [
            16 * k,
            32 * k,
            64 * k,
            128 * k,
            256 * k,
            512 * k,
            1024 * k,
            1024 * k,
            1024 * k,
            1024 * k,
            1024 * k,
            1024 * k
        ]
    );
}

#[test]
fn receive_window_stays_when_the_application_reads_slowly() {
    let slow = window_increments(Duration::from_millis(100));
    assert!(slow.iter().all(|&d| d == 16 * 1024), "{slow:?}");
    assert_eq!(slow.len(), 12);
}
