//! Tests of the ACK policy, ACK frame writing and range bookkeeping.

use std::collections::BTreeSet;
use std::ops::RangeInclusive;
use std::time::{Duration, Instant};

use proptest::prelude::*;

use super::*;
use crate::frame::{Frame, Frames};

const MAX_ACK_DELAY: Duration = Duration::from_millis(25);

/// Any instant will do: the tracker only looks at differences.
fn base() -> Instant {
    crate::test_instant()
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Receives `pn` as an ack-eliciting packet without ECN, asserting that it
/// was new.
fn recv(t: &mut AckTracker, pn: u64, now: Instant) {
    assert!(!t.on_packet_received(pn, now, true, None), "{pn} duplicate");
}

/// The decoded content of one ACK frame.
#[derive(Debug, PartialEq, Eq)]
struct Written {
    ranges: Vec<RangeInclusive<u64>>,
    delay: u64,
    ecn: Option<EcnCounts>,
}

/// Writes an ACK and decodes it back, checking it is the only frame.
fn write(t: &mut AckTracker, now: Instant, budget: usize) -> Option<(Written, usize)> {
    let mut buf = Vec::new();
    let record = t.write_ack(now, 3, &mut buf, budget);
    if record.is_none() {
        assert!(buf.is_empty(), "nothing written without a record");
        return None;
    }
    let mut frames = Frames::new(&buf);
    let Some(Ok(Frame::Ack(ack))) = frames.next() else {
        panic!("not an ACK: {buf:02x?}");
    };
    assert!(frames.next().is_none());
    assert_eq!(record.map(AckRecord::largest), Some(ack.largest()));
    let w = Written {
        ranges: ack.iter().collect(),
        delay: ack.ack_delay(),
        ecn: ack.ecn(),
    };
    Some((w, buf.len()))
}

fn ranges_of(t: &AckTracker) -> Vec<RangeInclusive<u64>> {
    t.ranges().iter().collect()
}

#[test]
fn in_order_packets_are_acked_every_second_ack_eliciting_packet() {
    let t0 = base();
    let mut t = AckTracker::delayed(MAX_ACK_DELAY);
    for pair in 0..5u64 {
        recv(&mut t, 2 * pair, t0);
        assert!(!t.wants_ack_now(t0), "after one packet of pair {pair}");
        assert!(t.ack_pending());
        recv(&mut t, 2 * pair + 1, t0);
        assert!(t.wants_ack_now(t0), "after two packets of pair {pair}");
        assert!(t.write_ack(t0, 3, &mut Vec::new(), 1200).is_some());
        assert!(!t.ack_pending());
    }
}

#[test]
fn threshold_is_configurable() {
    let t0 = base();
    let mut t = AckTracker::delayed(MAX_ACK_DELAY);
    t.set_ack_eliciting_threshold(3);
    recv(&mut t, 0, t0);
    recv(&mut t, 1, t0);
    assert!(!t.wants_ack_now(t0));
    recv(&mut t, 2, t0);
    assert!(t.wants_ack_now(t0));
}

#[test]
fn gap_above_the_largest_triggers_an_immediate_ack() {
    let t0 = base();
    let mut t = AckTracker::delayed(MAX_ACK_DELAY);
    recv(&mut t, 0, t0);
    recv(&mut t, 1, t0);
    write(&mut t, t0, 1200).unwrap();
    recv(&mut t, 3, t0); // 2 missing
    assert!(t.wants_ack_now(t0));
    write(&mut t, t0, 1200).unwrap();
    recv(&mut t, 4, t0); // in order after 3: no hurry
    assert!(!t.wants_ack_now(t0));
}

#[test]
fn packet_below_the_largest_triggers_an_immediate_ack() {
    let t0 = base();
    let mut t = AckTracker::delayed(MAX_ACK_DELAY);
    recv(&mut t, 0, t0);
    recv(&mut t, 2, t0);
    write(&mut t, t0, 1200).unwrap();
    recv(&mut t, 1, t0); // fills the gap, below the largest
    assert!(t.wants_ack_now(t0));
    let (w, _) = write(&mut t, t0, 1200).unwrap();
    assert_eq!(w.ranges, [0..=2]);
}

#[test]
fn gap_filled_by_non_ack_eliciting_packet_is_not_out_of_order() {
    // RFC 9000 §13.2.1 compares with the largest ack-eliciting packet and
    // asks whether packets are missing in between.
    let t0 = base();
    let mut t = AckTracker::delayed(MAX_ACK_DELAY);
    recv(&mut t, 0, t0);
    write(&mut t, t0, 1200).unwrap();
    assert!(!t.on_packet_received(1, t0, false, None));
    recv(&mut t, 2, t0);
    assert!(!t.wants_ack_now(t0));
}

#[test]
fn max_ack_delay_deadline_is_set_by_the_first_ack_eliciting_packet() {
    let t0 = base();
    let mut t = AckTracker::delayed(MAX_ACK_DELAY);
    assert_eq!(t.ack_deadline(), None);
    recv(&mut t, 0, t0);
    assert_eq!(t.ack_deadline(), Some(t0 + MAX_ACK_DELAY));
    assert!(!t.wants_ack_now(t0 + MAX_ACK_DELAY - ms(1)));
    assert!(t.wants_ack_now(t0 + MAX_ACK_DELAY));
}

#[test]
fn deadline_is_cleared_by_writing_an_ack() {
    let t0 = base();
    let mut t = AckTracker::delayed(MAX_ACK_DELAY);
    recv(&mut t, 0, t0);
    let (w, _) = write(&mut t, t0 + MAX_ACK_DELAY, 1200).unwrap();
    assert_eq!(w.delay, 25_000 >> 3);
    assert_eq!(t.ack_deadline(), None);
    assert!(!t.ack_pending() && !t.has_new_packets());
    // The next packet starts a fresh deadline.
    let t1 = t0 + ms(100);
    recv(&mut t, 1, t1);
    assert_eq!(t.ack_deadline(), Some(t1 + MAX_ACK_DELAY));
}

#[test]
fn initial_and_handshake_spaces_ack_immediately() {
    let t0 = base();
    let mut t = AckTracker::immediate();
    recv(&mut t, 0, t0);
    assert_eq!(t.ack_deadline(), Some(t0));
    assert!(t.wants_ack_now(t0));
    write(&mut t, t0, 1200).unwrap();
    recv(&mut t, 1, t0);
    assert!(t.wants_ack_now(t0));
}

#[test]
fn non_ack_eliciting_packets_alone_never_ask_for_an_ack() {
    let t0 = base();
    for mut t in [AckTracker::immediate(), AckTracker::delayed(MAX_ACK_DELAY)] {
        // In order, out of order and CE-marked: never a deadline.
        for pn in [0, 1, 5, 3] {
            assert!(!t.on_packet_received(pn, t0, false, Some(EcnCodepoint::Ce)));
        }
        assert!(!t.ack_pending());
        assert_eq!(t.ack_deadline(), None);
        assert!(!t.wants_ack_now(t0 + ms(1000)));
        // They are still included in the next ACK sent for another reason.
        assert!(t.has_new_packets());
        let (w, _) = write(&mut t, t0, 1200).unwrap();
        assert_eq!(w.ranges, [5..=5, 3..=3, 0..=1]);
    }
}

#[test]
fn ecn_ce_triggers_an_immediate_ack() {
    let t0 = base();
    let mut t = AckTracker::delayed(MAX_ACK_DELAY);
    assert!(!t.on_packet_received(0, t0, true, Some(EcnCodepoint::Ce)));
    assert!(t.wants_ack_now(t0));
}

#[test]
fn request_immediate_ack_pulls_the_deadline_in() {
    let t0 = base();
    let mut t = AckTracker::delayed(MAX_ACK_DELAY);
    t.request_immediate_ack(t0);
    assert_eq!(t.ack_deadline(), None, "nothing to acknowledge");
    recv(&mut t, 0, t0);
    t.request_immediate_ack(t0 + ms(1));
    assert_eq!(t.ack_deadline(), Some(t0 + ms(1)));
}

#[test]
fn duplicates_are_detected_and_not_counted() {
    let t0 = base();
    let mut t = AckTracker::delayed(MAX_ACK_DELAY);
    recv(&mut t, 7, t0);
    assert!(t.is_duplicate(7));
    assert!(!t.is_duplicate(6));
    assert!(t.on_packet_received(7, t0, true, Some(EcnCodepoint::Ect0)));
    assert_eq!(
        t.ecn_counts(),
        EcnCounts::default(),
        "no ECN for duplicates"
    );
    assert!(
        !t.wants_ack_now(t0),
        "a duplicate does not count toward an ACK"
    );
}

#[test]
fn packets_below_the_pruned_floor_are_duplicates() {
    let t0 = base();
    let mut t = AckTracker::delayed(MAX_ACK_DELAY);
    for pn in [0, 1, 2, 4] {
        recv(&mut t, pn, t0);
    }
    let record = t.write_ack(t0, 3, &mut Vec::new(), 1200).unwrap();
    t.on_ack_acked(record);
    // Packet 3 was never received, but it is below the floor now.
    assert!(t.is_duplicate(3));
    assert!(t.on_packet_received(3, t0, true, None));
    assert!(!t.is_duplicate(5));
}

#[test]
fn ack_frame_decodes_to_the_expected_ranges_and_delay() {
    let t0 = base();
    let mut t = AckTracker::delayed(MAX_ACK_DELAY);
    for pn in [0, 1, 2, 5, 6, 9, 20, 21] {
        recv(&mut t, pn, t0 + ms(pn));
    }
    // 21 arrived at t0 + 21 ms; ACK written 4 ms later: 4000 µs >> 3.
    let (w, len) = write(&mut t, t0 + ms(25), 1200).unwrap();
    assert_eq!(w.ranges, [20..=21, 9..=9, 5..=6, 0..=2]);
    assert_eq!(w.delay, 500);
    assert_eq!(w.ecn, None);
    let expected = AckFrame::ranges_encoded_len(w.ranges.iter().cloned(), 500, None);
    assert_eq!(expected, Ok(len));
}

#[test]
fn ack_delay_exponent_scales_and_never_panics() {
    let t0 = base();
    let mut t = AckTracker::delayed(MAX_ACK_DELAY);
    recv(&mut t, 0, t0);
    let now = t0 + Duration::from_micros(1024);
    for (exp, field) in [(0, 1024), (3, 128), (10, 1), (20, 0), (64, 0), (255, 0)] {
        let mut buf = Vec::new();
        t.write_ack(now, exp, &mut buf, 100).unwrap();
        let Some(Ok(Frame::Ack(ack))) = Frames::new(&buf).next() else {
            panic!("not an ACK");
        };
        assert_eq!(ack.ack_delay(), field, "exponent {exp}");
    }
    // A `now` before the packet arrived counts as no delay.
    let (w, _) = write(&mut t, t0.checked_sub(ms(1)).unwrap_or(t0), 100).unwrap();
    assert_eq!(w.delay, 0);
}

#[test]
fn ecn_counts_appear_in_ack_ecn() {
    let t0 = base();
    let mut t = AckTracker::delayed(MAX_ACK_DELAY);
    let marks = [
        Some(EcnCodepoint::Ect0),
        Some(EcnCodepoint::Ect0),
        Some(EcnCodepoint::Ect1),
        None,
        Some(EcnCodepoint::Ce),
    ];
    for (pn, mark) in (0..).zip(marks) {
        assert!(!t.on_packet_received(pn, t0, false, mark));
    }
    let (w, _) = write(&mut t, t0, 1200).unwrap();
    let expected = EcnCounts {
        ect0: VarInt::from_u32(2),
        ect1: VarInt::from_u32(1),
        ce: VarInt::from_u32(1),
    };
    assert_eq!(w.ecn, Some(expected));
    assert_eq!(t.ecn_counts(), expected);
}

#[test]
fn plain_ack_without_ecn_marks() {
    let t0 = base();
    let mut t = AckTracker::immediate();
    recv(&mut t, 0, t0);
    let mut buf = Vec::new();
    t.write_ack(t0, 3, &mut buf, 1200).unwrap();
    assert_eq!(buf.first(), Some(&0x02), "ACK, not ACK_ECN");
}

#[test]
fn ecn_codepoint_bits_roundtrip() {
    for cp in [EcnCodepoint::Ect0, EcnCodepoint::Ect1, EcnCodepoint::Ce] {
        assert_eq!(EcnCodepoint::from_bits(cp.bits()), Some(cp));
        assert_eq!(EcnCodepoint::from_bits(0xb8 | cp.bits()), Some(cp));
    }
    assert_eq!(EcnCodepoint::from_bits(0), None);
}

#[test]
fn range_cap_holds_when_every_other_packet_is_lost() {
    let t0 = base();
    let mut t = AckTracker::delayed(MAX_ACK_DELAY);
    for i in 0..10_000u64 {
        let pn = 2 * i;
        recv(&mut t, pn, t0);
        assert!(t.ranges().len() <= DEFAULT_MAX_RANGES);
        assert_eq!(t.largest_received(), Some(pn));
    }
    // Memory stays bounded: room for the cap plus the one range that
    // exceeds it for a moment, rounded up by the vector's growth.
    assert!(t.ranges().capacity() <= 2 * (DEFAULT_MAX_RANGES + 1));
    // The newest ranges are the ones kept.
    let (w, _) = write(&mut t, t0, 1200).unwrap();
    assert_eq!(w.ranges.len(), DEFAULT_MAX_RANGES);
    assert_eq!(w.ranges.first(), Some(&(19_998..=19_998)));
    // Dropped packet numbers are duplicates from now on.
    assert!(t.is_duplicate(1));
    assert!(t.on_packet_received(1, t0, true, None));
}

#[test]
fn range_cap_holds_when_packets_arrive_in_reverse() {
    let t0 = base();
    let mut t = AckTracker::delayed(MAX_ACK_DELAY);
    t.set_max_ranges(8);
    for i in (0..10_000u64).rev() {
        t.on_packet_received(2 * i, t0, true, None);
        assert!(t.ranges().len() <= 8);
    }
    assert_eq!(t.ranges().max(), Some(19_998));
    assert!(t.ranges().capacity() <= 16);
}

#[test]
fn budget_truncation_drops_the_oldest_ranges() {
    let t0 = base();
    let mut t = AckTracker::delayed(MAX_ACK_DELAY);
    for pn in (0..20).map(|i| i * 3) {
        recv(&mut t, pn, t0);
    }
    let (full, full_len) = write(&mut t, t0, 1200).unwrap();
    assert_eq!(full.ranges.len(), 20);
    // Each additional range here takes two bytes.
    let (w, len) = write(&mut t, t0, full_len - 1).unwrap();
    assert!(len < full_len);
    assert_eq!(w.ranges, full.ranges[..19]);
    let (w, _) = write(&mut t, t0, full_len - 10).unwrap();
    assert_eq!(w.ranges, full.ranges[..15]);
    // The set itself is untouched: truncation only shortens the frame.
    assert_eq!(t.ranges().len(), 20);
}

#[test]
fn budget_too_small_for_one_range_writes_nothing_and_keeps_the_ack_pending() {
    let t0 = base();
    let mut t = AckTracker::delayed(MAX_ACK_DELAY);
    recv(&mut t, 1000, t0); // largest takes two bytes
    recv(&mut t, 1001, t0);
    // type, largest (2), delay, count, first range: 6 bytes.
    let mut buf = Vec::new();
    assert_eq!(t.write_ack(t0, 3, &mut buf, 5), None);
    assert!(buf.is_empty());
    assert!(t.wants_ack_now(t0));
    assert!(t.write_ack(t0, 3, &mut buf, 6).is_some());
    assert_eq!(buf.len(), 6);
}

#[test]
fn nothing_to_acknowledge_writes_nothing() {
    let t0 = base();
    let mut t = AckTracker::immediate();
    assert_eq!(t.write_ack(t0, 3, &mut Vec::new(), 1200), None);
}

#[test]
fn ack_of_ack_pruning_shrinks_the_set() {
    let t0 = base();
    let mut t = AckTracker::delayed(MAX_ACK_DELAY);
    for pn in [0, 2, 4, 6] {
        recv(&mut t, pn, t0);
    }
    let first = t.write_ack(t0, 3, &mut Vec::new(), 1200).unwrap();
    assert_eq!(first.largest(), 6);
    recv(&mut t, 8, t0);
    recv(&mut t, 10, t0);
    let second = t.write_ack(t0, 3, &mut Vec::new(), 1200).unwrap();
    assert_eq!(t.ranges().len(), 6);
    t.on_ack_acked(first);
    assert_eq!(ranges_of(&t), [10..=10, 8..=8]);
    t.on_ack_acked(second);
    assert!(t.ranges().is_empty());
    // RFC 9000 §13.2.3: the largest received is kept for decoding.
    assert_eq!(t.largest_received(), Some(10));
    assert_eq!(t.write_ack(t0, 3, &mut Vec::new(), 1200), None);
    // A late, stale ACK-of-ACK changes nothing.
    t.on_ack_acked(first);
    recv(&mut t, 11, t0);
    assert_eq!(ranges_of(&t), [11..=11]);
}

#[test]
fn ack_of_ack_keeps_packets_not_yet_reported() {
    let t0 = base();
    let mut t = AckTracker::delayed(MAX_ACK_DELAY);
    recv(&mut t, 0, t0);
    recv(&mut t, 5, t0);
    let record = t.write_ack(t0, 3, &mut Vec::new(), 1200).unwrap();
    // Packet 3 arrives after that ACK was written, below its largest.
    recv(&mut t, 3, t0);
    t.on_ack_acked(record);
    assert_eq!(ranges_of(&t), [5..=5, 3..=3]);
    let (w, _) = write(&mut t, t0, 1200).unwrap();
    assert_eq!(w.ranges, [5..=5, 3..=3]);
}

/// A model of what the tracker must report, without cap or pruning.
#[derive(Clone, Debug)]
enum Event {
    Receive { pn: u64, eliciting: bool, ce: bool },
    WriteAck { budget: usize },
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        8 => (0u64..300, any::<bool>(), proptest::bool::weighted(0.1))
            .prop_map(|(pn, eliciting, ce)| Event::Receive { pn, eliciting, ce }),
        1 => (0usize..40).prop_map(|budget| Event::WriteAck { budget }),
    ]
}

fn model_ranges(model: &BTreeSet<u64>) -> Vec<RangeInclusive<u64>> {
    let mut out: Vec<RangeInclusive<u64>> = Vec::new();
    for &x in model.iter().rev() {
        match out.last_mut() {
            Some(r) if *r.start() == x + 1 => *r = x..=*r.end(),
            _ => out.push(x..=x),
        }
    }
    out
}

proptest! {
    #[test]
    fn received_set_matches_a_btreeset_model(events in proptest::collection::vec(event(), 0..300)) {
        let t0 = base();
        let mut t = AckTracker::delayed(MAX_ACK_DELAY);
        t.set_max_ranges(usize::MAX);
        let mut model = BTreeSet::new();
        for (i, ev) in (0u64..).zip(events) {
            let now = t0 + ms(i);
            match ev {
                Event::Receive { pn, eliciting, ce } => {
                    let ecn = ce.then_some(EcnCodepoint::Ce);
                    let dup = t.on_packet_received(pn, now, eliciting, ecn);
                    prop_assert_eq!(dup, !model.insert(pn));
                    if eliciting && !dup {
                        prop_assert!(t.ack_pending());
                    }
                    prop_assert_eq!(t.largest_received(), model.last().copied());
                }
                Event::WriteAck { budget } => {
                    let mut buf = Vec::new();
                    let written = t.write_ack(now, 3, &mut buf, budget);
                    prop_assert!(buf.len() <= budget);
                    let all = model_ranges(&model);
                    match written {
                        None => prop_assert!(buf.is_empty()),
                        Some(record) => {
                            prop_assert_eq!(Some(record.largest()), model.last().copied());
                            let mut frames = Frames::new(&buf);
                            let ack = match frames.next() {
                                Some(Ok(Frame::Ack(ack))) => ack,
                                other => return Err(TestCaseError::fail(format!("{other:?}"))),
                            };
                            let got: Vec<_> = ack.iter().collect();
                            // The newest ranges, as many as fit.
                            prop_assert_eq!(&got[..], &all[..got.len()]);
                            if got.len() < all.len() {
                                let more = AckFrame::ranges_encoded_len(
                                    all[..=got.len()].iter().cloned(),
                                    ack.ack_delay(),
                                    ack.ecn().as_ref(),
                                );
                                prop_assert!(more.is_ok_and(|n| n > budget));
                            }
                            prop_assert!(!t.ack_pending());
                        }
                    }
                }
            }
            prop_assert_eq!(ranges_of(&t), model_ranges(&model));
        }
    }

    #[test]
    fn capped_tracker_never_panics_and_stays_within_its_cap(
        pns in proptest::collection::vec((0u64..2000, any::<bool>(), 0u8..4), 0..300),
        cap in 1usize..12,
        prune_every in 1usize..20,
    ) {
        let t0 = base();
        let mut t = AckTracker::delayed(MAX_ACK_DELAY);
        t.set_max_ranges(cap);
        for (i, (pn, eliciting, tos)) in pns.into_iter().enumerate() {
            let now = t0 + ms(i as u64);
            let dup = t.on_packet_received(pn, now, eliciting, EcnCodepoint::from_bits(tos));
            prop_assert!(t.ranges().len() <= cap);
            prop_assert!(t.is_duplicate(pn), "recorded or dropped: {} {}", pn, dup);
            if i % prune_every == 0 {
                if let Some(record) = t.write_ack(now, 3, &mut Vec::new(), 1200) {
                    t.on_ack_acked(record);
                    prop_assert!(t.ranges().is_empty());
                }
            }
            // Invariant: the top range, if any, holds the largest received.
            if let Some(max) = t.ranges().max() {
                prop_assert_eq!(Some(max), t.largest_received());
            }
        }
    }
}
