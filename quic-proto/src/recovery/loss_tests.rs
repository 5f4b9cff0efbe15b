//! Tests of [`LossDetection`] on virtual time: thresholds, timers, PTO
//! rules, persistent congestion, and a property test over random ACKs.

use core::ops::RangeInclusive;
use std::collections::HashSet;
use std::time::{Duration, Instant};

use proptest::prelude::*;

use super::*;
use crate::congestion::{minimum_window, CongestionStats, NewReno, NewRenoConfig, Phase};
use crate::recovery::test_util::{base, ms};
use crate::{Side, TransportErrorCode};

const SIZE: u16 = 1200;

/// Time `x` milliseconds after the base instant.
fn t(x: u64) -> Instant {
    base() + ms(x)
}

struct Harness {
    loss: LossDetection<u64>,
    rtt: RttEstimator,
    cc: NewReno,
    ctx: Context,
    events: Vec<(SpaceId, u64, Fate)>,
    /// Packet numbers sent as PMTU probes.
    probes: HashSet<u64>,
}

impl Harness {
    fn new(ctx: Context) -> Self {
        Self {
            loss: LossDetection::new(),
            rtt: RttEstimator::default(),
            cc: NewReno::new(NewRenoConfig::default(), SIZE),
            ctx,
            events: Vec::new(),
            probes: HashSet::new(),
        }
    }

    /// A server (its peer's address validation is moot) with a confirmed
    /// handshake.
    fn confirmed() -> Self {
        let mut ctx = Context::new(Side::Server);
        ctx.handshake_confirmed = true;
        Self::new(ctx)
    }

    fn send(&mut self, space: SpaceId, pn: u64, at: u64) {
        let probe = self.probes.contains(&pn);
        let packet = SentPacket::new(t(at), SIZE, true, true, pn).with_mtu_probe(probe);
        self.loss.on_packet_sent(space, pn, packet, &mut self.cc);
    }

    fn ack(
        &mut self,
        space: SpaceId,
        ranges: &[RangeInclusive<u64>],
        at: u64,
        delay: Duration,
    ) -> Result<AckOutcome, TransportError> {
        let events = &mut self.events;
        self.loss.on_ack_received(
            t(at),
            space,
            ranges.iter().cloned(),
            delay,
            PathRef::new(&mut self.rtt, &mut self.cc),
            &self.ctx,
            |e| {
                assert_eq!(e.packet.record, e.pn);
                events.push((e.space, e.pn, e.fate));
            },
        )
    }

    fn timeout(&self) -> Option<Instant> {
        self.loss.timeout(&self.rtt, &self.ctx)
    }

    fn fire(&mut self, at: Instant) -> Option<Timeout> {
        let events = &mut self.events;
        self.loss.on_loss_detection_timeout(
            at,
            PathRef::new(&mut self.rtt, &mut self.cc),
            &self.ctx,
            |e| events.push((e.space, e.pn, e.fate)),
        )
    }

    fn take(&mut self, fate: Fate) -> Vec<u64> {
        let mut pns = Vec::new();
        self.events.retain(|&(_, pn, f)| {
            if f == fate {
                pns.push(pn);
            }
            f != fate
        });
        pns
    }
}

#[test]
fn packet_threshold_declares_packets_three_below_largest_lost() {
    let mut h = Harness::confirmed();
    for pn in 1..=5 {
        h.send(SpaceId::Data, pn, 0);
    }
    let out = h.ack(SpaceId::Data, &[5..=5], 10, Duration::ZERO).unwrap();
    // 5 - 3 = 2: packets 1 and 2 are lost, 3 and 4 may still be reordered.
    assert_eq!(h.take(Fate::Lost), [1, 2]);
    assert_eq!(h.take(Fate::Acked), [5]);
    assert_eq!(out.lost, 2);
    assert!(out.rtt_sampled);
    assert_eq!(h.loss.bytes_in_flight(), 2 * u64::from(SIZE));
    let left: Vec<u64> = h
        .loss
        .space(SpaceId::Data)
        .unwrap()
        .iter()
        .map(|(pn, _)| pn)
        .collect();
    assert_eq!(left, [3, 4]);
}

#[test]
fn time_threshold_sets_loss_timer_and_declares_loss_on_expiry() {
    let mut h = Harness::confirmed();
    for pn in 1..=5 {
        h.send(SpaceId::Data, pn, 0);
    }
    h.ack(SpaceId::Data, &[5..=5], 10, Duration::ZERO).unwrap();
    h.events.clear();
    // RTT 10 ms: loss delay 9/8 * 10 = 11.25 ms after the send at t = 0.
    let loss_time = t(0) + Duration::from_micros(11_250);
    assert_eq!(
        h.loss.space(SpaceId::Data).unwrap().loss_time(),
        Some(loss_time)
    );
    assert_eq!(h.timeout(), Some(loss_time));
    assert_eq!(h.fire(loss_time - Duration::from_nanos(1)), None);
    assert_eq!(
        h.fire(loss_time),
        Some(Timeout::Lost {
            space: SpaceId::Data,
            packets: 2
        })
    );
    assert_eq!(h.take(Fate::Lost), [3, 4]);
    assert_eq!(h.loss.bytes_in_flight(), 0);
    assert_eq!(h.timeout(), None);
    // The timer loss is a congestion event like any other.
    assert_eq!(h.cc.stats().phase, Phase::Recovery);
}

#[test]
fn packets_sent_long_before_an_ack_are_lost_by_time() {
    let mut h = Harness::confirmed();
    h.send(SpaceId::Data, 0, 0);
    h.send(SpaceId::Data, 1, 100);
    // Sample 10 ms; packet 0 was sent 110 ms before the ACK > 11.25 ms.
    h.ack(SpaceId::Data, &[1..=1], 110, Duration::ZERO).unwrap();
    assert_eq!(h.take(Fate::Lost), [0]);
}

#[test]
fn losses_reach_controller_before_acknowledgments() {
    let mut h = Harness::confirmed();
    for pn in 0..=4 {
        h.send(SpaceId::Data, pn, 0);
    }
    h.ack(SpaceId::Data, &[4..=4], 10, Duration::ZERO).unwrap();
    // Halved to 6000 by the loss of 0 and 1; the ACK of 4, sent before the
    // recovery period started, does not grow it (acks first would give 6600).
    assert_eq!(h.cc.window(), 6000);
}

#[test]
fn rtt_sample_needs_newly_acked_largest_and_ack_eliciting_packet() {
    let mut h = Harness::confirmed();
    h.send(SpaceId::Data, 0, 0);
    let ack_only = SentPacket::new(t(0), 50, false, false, 1);
    h.loss.on_packet_sent(SpaceId::Data, 1, ack_only, &mut h.cc);
    h.send(SpaceId::Data, 2, 0);
    // Only the non-ack-eliciting packet: no sample.
    let out = h.ack(SpaceId::Data, &[1..=1], 40, Duration::ZERO).unwrap();
    assert!(!out.rtt_sampled);
    assert!(!h.rtt.has_sample());
    // Largest (2) newly acknowledged and ack-eliciting: sample of 50 ms.
    let out = h.ack(SpaceId::Data, &[2..=2], 50, Duration::ZERO).unwrap();
    assert!(out.rtt_sampled);
    assert_eq!(h.rtt.latest(), ms(50));
    assert_eq!(h.loss.first_rtt_sample(), Some(t(50)));
    // Largest already acknowledged, 0 newly: no second sample.
    let out = h
        .ack(SpaceId::Data, &[2..=2, 0..=0], 90, Duration::ZERO)
        .unwrap();
    assert_eq!(out.ack.newly_acked, 1);
    assert!(!out.rtt_sampled);
    assert_eq!(h.rtt.latest(), ms(50));
}

#[test]
fn initial_space_ignores_ack_delay() {
    let mut h = Harness::confirmed();
    for (space, pn) in [(SpaceId::Initial, 0), (SpaceId::Handshake, 0)] {
        h.send(space, pn, 0);
    }
    h.ack(SpaceId::Initial, &[0..=0], 100, ms(0)).unwrap();
    h.send(SpaceId::Initial, 1, 100);
    // latest 100 >= min 100 + 0 (delay ignored): adjusted stays 100.
    h.ack(SpaceId::Initial, &[1..=1], 200, ms(20)).unwrap();
    assert_eq!(h.rtt.smoothed(), ms(100));
    // The Handshake space uses the delay: adjusted = 200 - 20 = 180.
    h.ack(SpaceId::Handshake, &[0..=0], 200, ms(20)).unwrap();
    assert_eq!(h.rtt.smoothed(), ms(110));
}

#[test]
fn pto_backoff_doubles_and_resets_on_ack() {
    let mut h = Harness::confirmed();
    h.send(SpaceId::Initial, 0, 0);
    // Initial RTT 333 ms: PTO = 333 + 4 * 166.5 = 999 ms, no max_ack_delay.
    assert_eq!(h.timeout(), Some(t(999)));
    assert_eq!(h.fire(t(998)), None);
    assert_eq!(
        h.fire(t(999)),
        Some(Timeout::Probe {
            space: SpaceId::Initial,
            packets: PTO_PROBE_PACKETS
        })
    );
    assert_eq!(h.loss.pto_count(), 1);
    // A PTO declares nothing lost (RFC 9002 §6.2).
    assert!(h.events.is_empty());
    assert_eq!(h.timeout(), Some(t(1998)));
    h.fire(t(1998)).unwrap();
    assert_eq!(h.loss.pto_count(), 2);
    assert_eq!(h.timeout(), Some(t(3996)));
    // The probes are sent; the PTO now runs from the last one, backed off.
    h.send(SpaceId::Initial, 1, 2000);
    assert_eq!(h.timeout(), Some(t(2000 + 4 * 999)));
    h.ack(SpaceId::Initial, &[1..=1], 2100, Duration::ZERO)
        .unwrap();
    assert_eq!(h.loss.pto_count(), 0);
}

#[test]
fn cached_timer_follows_sends_acks_and_context() {
    let mut h = Harness::confirmed();
    h.send(SpaceId::Initial, 0, 0);
    // Computes and caches the PTO: 999 ms (see the backoff test).
    assert_eq!(h.fire(t(10)), None);
    let epoch = h.loss.timer_epoch();
    // A later packet in the same space only moves the PTO later: the cache
    // stays as a lower bound, nothing fires at the old deadline, and the
    // exact timer is the new one.
    h.send(SpaceId::Initial, 1, 500);
    assert_eq!(h.loss.timer_epoch(), epoch);
    assert_eq!(h.fire(t(999)), None);
    assert_eq!(h.timeout(), Some(t(1499)));
    // The first ack-eliciting packet of another space may arm an earlier
    // timer: the epoch moves.
    h.send(SpaceId::Handshake, 0, 600);
    assert_ne!(h.loss.timer_epoch(), epoch);
    assert_eq!(h.fire(t(1000)), None);
    // An acknowledgment resets everything the timer was computed from.
    let epoch = h.loss.timer_epoch();
    h.ack(SpaceId::Initial, &[0..=1], 1000, Duration::ZERO)
        .unwrap();
    assert_ne!(h.loss.timer_epoch(), epoch);
    let pto = h.timeout().unwrap();
    assert_eq!(h.fire(pto - ms(1)), None);
    // A context change is seen without any call here: at the amplification
    // limit the PTO is not armed (RFC 9002 §6.2.2.1).
    h.ctx.at_amplification_limit = true;
    assert_eq!(h.timeout(), None);
    assert_eq!(h.fire(pto), None);
    h.ctx.at_amplification_limit = false;
    assert_eq!(h.timeout(), Some(pto));
    assert!(matches!(h.fire(pto), Some(Timeout::Probe { .. })));
}

#[test]
fn client_keeps_pto_backoff_until_address_validated() {
    let mut h = Harness::new(Context::new(Side::Client));
    h.send(SpaceId::Initial, 0, 0);
    h.fire(t(999)).unwrap();
    h.send(SpaceId::Initial, 1, 999);
    assert_eq!(h.loss.pto_count(), 1);
    h.ack(SpaceId::Initial, &[1..=1], 1100, Duration::ZERO)
        .unwrap();
    assert_eq!(h.loss.pto_count(), 1);
    h.ctx.peer_completed_address_validation = true;
    h.send(SpaceId::Handshake, 0, 1100);
    h.ack(SpaceId::Handshake, &[0..=0], 1200, Duration::ZERO)
        .unwrap();
    assert_eq!(h.loss.pto_count(), 0);
}

#[test]
fn pto_not_armed_for_application_space_before_confirmation() {
    let mut h = Harness::new(Context::new(Side::Server));
    h.send(SpaceId::Data, 0, 0);
    assert_eq!(h.timeout(), None);
    assert_eq!(h.fire(t(100_000)), None);
    // With Handshake data also in flight, only that space arms the PTO.
    h.send(SpaceId::Handshake, 0, 10);
    assert_eq!(h.timeout(), Some(t(10 + 999)));
    h.ack(SpaceId::Handshake, &[0..=0], 20, Duration::ZERO)
        .unwrap();
    assert_eq!(h.timeout(), None);
    // Once confirmed, the application space arms it, with max_ack_delay.
    h.ctx.handshake_confirmed = true;
    // RTT 10 ms: 10 + 4 * 5 + 25 ms after the send at t = 0.
    assert_eq!(h.timeout(), Some(t(55)));
}

#[test]
fn client_with_only_one_rtt_in_flight_before_confirmation_probes_the_handshake_space() {
    // The client's Finished went out at t = 0 and was acknowledged... or
    // lost: either way nothing of the Handshake space is in flight, while
    // 1-RTT packets are, and the handshake is not confirmed.
    let mut ctx = Context::new(Side::Client);
    ctx.has_handshake_keys = true;
    ctx.peer_completed_address_validation = true;
    let mut h = Harness::new(ctx);
    h.send(SpaceId::Handshake, 0, 0);
    h.ack(SpaceId::Handshake, &[0..=0], 20, Duration::ZERO)
        .unwrap();
    h.send(SpaceId::Data, 0, 30);
    // RTT 20 ms: a PTO of 20 + 4 * 10 ms after the Handshake packet.
    assert_eq!(h.timeout(), Some(t(60)));
    assert!(matches!(
        h.fire(t(60)),
        Some(Timeout::Probe {
            space: SpaceId::Handshake,
            ..
        })
    ));
    // Without Handshake keys (the server, or once discarded) it stays off.
    h.ctx.has_handshake_keys = false;
    assert_eq!(h.timeout(), None);
}

#[test]
fn pto_includes_max_ack_delay_only_for_application_space() {
    let mut h = Harness::confirmed();
    h.send(SpaceId::Data, 0, 0);
    assert_eq!(h.timeout(), Some(t(999 + 25)));
    h.send(SpaceId::Handshake, 0, 10);
    assert_eq!(h.timeout(), Some(t(10 + 999)));
}

#[test]
fn pto_backoff_applies_to_max_ack_delay_too() {
    let mut h = Harness::confirmed();
    h.send(SpaceId::Data, 0, 0);
    assert_eq!(
        h.fire(t(1024)),
        Some(Timeout::Probe {
            space: SpaceId::Data,
            packets: PTO_PROBE_PACKETS
        })
    );
    assert_eq!(h.timeout(), Some(t(2 * (999 + 25))));
}

#[test]
fn anti_deadlock_pto_armed_for_client_with_nothing_in_flight() {
    let mut h = Harness::new(Context::new(Side::Client));
    assert_eq!(h.timeout(), None);
    h.send(SpaceId::Initial, 0, 0);
    h.ack(SpaceId::Initial, &[0..=0], 100, Duration::ZERO)
        .unwrap();
    assert_eq!(h.loss.ack_eliciting_in_flight(), 0);
    // RTT 100 ms: PTO 300 ms from the ACK.
    assert_eq!(h.timeout(), Some(t(400)));
    assert_eq!(
        h.fire(t(400)),
        Some(Timeout::AntiDeadlock {
            space: SpaceId::Initial
        })
    );
    assert_eq!(h.loss.pto_count(), 1);
    assert_eq!(h.timeout(), Some(t(400 + 600)));
    h.ctx.has_handshake_keys = true;
    assert_eq!(
        h.fire(t(1000)),
        Some(Timeout::AntiDeadlock {
            space: SpaceId::Handshake
        })
    );
    // Once the server has validated the address, nothing is armed.
    h.ctx.peer_completed_address_validation = true;
    assert_eq!(h.timeout(), None);
}

#[test]
fn server_at_amplification_limit_arms_no_pto() {
    let mut h = Harness::new(Context::new(Side::Server));
    h.send(SpaceId::Initial, 0, 0);
    h.ctx.at_amplification_limit = true;
    assert_eq!(h.timeout(), None);
    assert_eq!(h.fire(t(5000)), None);
    // A datagram lifts the limit: the PTO that would have expired fires now.
    h.ctx.at_amplification_limit = false;
    assert_eq!(h.timeout(), Some(t(999)));
    assert!(matches!(h.fire(t(5000)), Some(Timeout::Probe { .. })));
}

#[test]
fn loss_timer_takes_precedence_over_pto() {
    let mut h = Harness::confirmed();
    h.send(SpaceId::Handshake, 0, 0);
    h.send(SpaceId::Handshake, 1, 0);
    h.send(SpaceId::Handshake, 2, 0);
    h.ack(SpaceId::Handshake, &[2..=2], 10, Duration::ZERO)
        .unwrap();
    let loss_time = h
        .loss
        .space(SpaceId::Handshake)
        .unwrap()
        .loss_time()
        .unwrap();
    assert_eq!(h.timeout(), Some(loss_time));
}

#[test]
fn ack_of_unsent_packet_number_is_protocol_violation() {
    let mut h = Harness::confirmed();
    h.send(SpaceId::Data, 0, 0);
    h.send(SpaceId::Data, 2, 0); // 1 skipped
    for ranges in [&[3..=3][..], &[1..=1][..], &[2..=2, 0..=1][..]] {
        let e = h
            .ack(SpaceId::Data, ranges, 10, Duration::ZERO)
            .unwrap_err();
        assert_eq!(e.code, TransportErrorCode::PROTOCOL_VIOLATION);
    }
    let e = h
        .ack(SpaceId::Handshake, &[0..=0], 10, Duration::ZERO)
        .unwrap_err();
    assert_eq!(e.code, TransportErrorCode::PROTOCOL_VIOLATION);
    assert!(h.events.is_empty());
    assert_eq!(h.loss.bytes_in_flight(), 2 * u64::from(SIZE));
    assert!(!h.rtt.has_sample());
}

#[test]
fn discard_space_returns_records_and_resets_pto() {
    let mut h = Harness::new(Context::new(Side::Server));
    h.send(SpaceId::Initial, 0, 0);
    h.send(SpaceId::Initial, 1, 0);
    h.send(SpaceId::Handshake, 0, 0);
    h.fire(t(999)).unwrap();
    assert_eq!(h.loss.pto_count(), 1);
    let events = &mut h.events;
    h.loss.discard_space(t(1000), SpaceId::Initial, |e| {
        events.push((e.space, e.pn, e.fate));
    });
    assert_eq!(h.take(Fate::Discarded), [0, 1]);
    assert_eq!(h.loss.pto_count(), 0);
    assert_eq!(h.loss.bytes_in_flight(), u64::from(SIZE));
    assert!(
        h.loss.space(SpaceId::Initial).is_none(),
        "a discarded space's packets are freed"
    );
    // The PTO now comes from the Handshake space alone.
    assert_eq!(h.timeout(), Some(t(999)));
}

/// RFC 9002 §7.6.3's example, shifted 10 s so that an earlier RTT sample
/// exists (T(x) = 10 s + x ms). The PTO base with max_ack_delay is 2 s,
/// until the final ACK's sample changes it to 2.125 s (threshold 6.375 s).
fn persistent_congestion_example(final_ack: &[RangeInclusive<u64>]) -> (Harness, AckOutcome) {
    persistent_congestion_example_with_probes(final_ack, &[])
}

/// [`persistent_congestion_example`] with packets `probes` sent as PMTU
/// probes.
fn persistent_congestion_example_with_probes(
    final_ack: &[RangeInclusive<u64>],
    probes: &[u64],
) -> (Harness, AckOutcome) {
    const T0: u64 = 10_000;
    let mut ctx = Context::new(Side::Server);
    ctx.max_ack_delay = ms(500);
    let mut h = Harness::new(ctx);
    h.probes.extend(probes);
    // Packet 0 gives the first RTT sample (600 ms) at T(0).
    h.send(SpaceId::Data, 0, T0 - 600);
    h.ack(SpaceId::Data, &[0..=0], T0, Duration::ZERO).unwrap();
    h.send(SpaceId::Data, 1, T0);
    h.send(SpaceId::Data, 2, T0 + 1000);
    // ACK of 1 at T(1.2) with 600 ms of delay: adjusted sample 600 ms.
    h.ack(SpaceId::Data, &[1..=1], T0 + 1200, ms(600)).unwrap();
    let pc_base = h.rtt.pto_base() + h.ctx.max_ack_delay;
    assert_eq!(pc_base, ms(2000));
    for (pn, at) in [
        (3, 2000),
        (4, 3000),
        (5, 4000),
        (6, 5000),
        (7, 6000),
        (8, 8000),
        (9, 12_000),
    ] {
        h.send(SpaceId::Data, pn, T0 + at);
    }
    h.events.clear();
    let out = h
        .ack(SpaceId::Data, final_ack, T0 + 12_200, Duration::ZERO)
        .unwrap();
    (h, out)
}

#[test]
fn persistent_congestion_established_as_in_rfc_example() {
    let (mut h, out) = persistent_congestion_example(&[9..=9]);
    assert_eq!(h.take(Fate::Lost), [2, 3, 4, 5, 6, 7, 8]);
    assert!(out.persistent_congestion);
    // Collapsed to the minimum window; then, as in RFC 9002 Appendix A.7
    // (losses before acknowledgments, recovery start cleared), the ACK of
    // packet 9 grows it in slow start.
    assert_eq!(h.cc.window(), minimum_window(SIZE) + u64::from(SIZE));
    assert_eq!(h.cc.stats().phase, Phase::SlowStart);
    assert_eq!(h.rtt.min(), h.rtt.latest());
}

#[test]
fn no_persistent_congestion_when_a_packet_between_is_acked() {
    let (mut h, out) = persistent_congestion_example(&[9..=9, 5..=5]);
    assert_eq!(h.take(Fate::Lost), [2, 3, 4, 6, 7, 8]);
    assert!(!out.persistent_congestion);
    assert_eq!(h.cc.stats().phase, Phase::Recovery);
    assert!(h.cc.window() > minimum_window(SIZE));
}

#[test]
fn no_persistent_congestion_when_span_is_within_duration() {
    // Packet 8 acknowledged with 9: the lost span 2..=7 is 5 s < 6.375 s.
    let (mut h, out) = persistent_congestion_example(&[8..=9]);
    assert_eq!(h.take(Fate::Lost), [2, 3, 4, 5, 6, 7]);
    assert!(!out.persistent_congestion);
}

#[test]
fn lost_mtu_probes_are_no_congestion_signal() {
    let mut h = Harness::confirmed();
    h.probes.insert(1);
    for pn in 1..=5 {
        h.send(SpaceId::Data, pn, 0);
    }
    let out = h.ack(SpaceId::Data, &[2..=5], 10, Duration::ZERO).unwrap();
    assert_eq!(h.take(Fate::Lost), [1]);
    assert_eq!(out.lost, 1);
    assert_eq!(h.loss.bytes_in_flight(), 0);
    assert_eq!(h.loss.congestion_events(), 0);
    // Still in slow start: the window only grew.
    assert_eq!(h.cc.stats().phase, Phase::SlowStart);
    assert_eq!(h.cc.window(), 12_000 + 4 * u64::from(SIZE));
    // A lost ordinary packet is one.
    for pn in 6..=9 {
        h.send(SpaceId::Data, pn, 20);
    }
    h.ack(SpaceId::Data, &[7..=9], 30, Duration::ZERO).unwrap();
    assert_eq!(h.take(Fate::Lost), [6]);
    assert_eq!(h.loss.congestion_events(), 1);
    assert_eq!(h.cc.stats().phase, Phase::Recovery);
}

#[test]
fn lost_mtu_probes_do_not_count_toward_persistent_congestion() {
    // As in the RFC example, but packets 2 and 3 (sent at T(1) and T(2))
    // are probes: the span of lost ordinary packets, 4..=8, is 5 s, within
    // the 6.375 s duration.
    let (mut h, out) = persistent_congestion_example_with_probes(&[9..=9], &[2, 3]);
    assert_eq!(h.take(Fate::Lost), [2, 3, 4, 5, 6, 7, 8]);
    assert!(!out.persistent_congestion);
    assert_eq!(h.cc.stats().phase, Phase::Recovery);
    // Only probes lost: no congestion event at all.
    let (mut h, out) = persistent_congestion_example_with_probes(&[3..=9], &[2]);
    assert_eq!(h.take(Fate::Lost), [2]);
    assert_eq!((out.lost, out.persistent_congestion), (1, false));
    assert_eq!(h.loss.congestion_events(), 0);
}

#[test]
fn no_persistent_congestion_without_prior_rtt_sample() {
    let mut h = Harness::confirmed();
    for pn in 0..10 {
        h.send(SpaceId::Data, pn, pn * 10_000);
    }
    let out = h
        .ack(SpaceId::Data, &[9..=9], 90_100, Duration::ZERO)
        .unwrap();
    assert_eq!(out.lost, 9);
    assert!(!out.persistent_congestion);
    assert_eq!(
        h.cc.stats(),
        CongestionStats::new(6000, Some(6000), Phase::Recovery)
    );
}

#[test]
fn memory_stays_small_across_100k_packets() {
    let mut h = Harness::confirmed();
    for pn in 0..100_000u64 {
        h.send(SpaceId::Data, pn, pn);
        if pn % 2 == 1 {
            h.ack(SpaceId::Data, &[pn - 1..=pn], pn + 20, Duration::ZERO)
                .unwrap();
            h.events.clear();
        }
    }
    let space = h.loss.space(SpaceId::Data).unwrap();
    assert!(space.is_empty());
    assert!(space.slots_capacity() <= 16);
}

// ---- property test: random traffic and ACK patterns ----

#[derive(Clone, Debug)]
enum Op {
    Send {
        space: usize,
        skip: bool,
        size: u16,
        ack_eliciting: bool,
        padding: bool,
    },
    Ack {
        space: usize,
        pns: Vec<u64>,
        delay_ms: u64,
    },
    Tick {
        ms: u64,
    },
    Discard {
        space: usize,
    },
    Confirm,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..3usize, prop::bool::weighted(0.1), 1..1500u16, any::<bool>(), any::<bool>())
            .prop_map(|(space, skip, size, ack_eliciting, padding)| Op::Send {
                space, skip, size, ack_eliciting, padding
            }),
        3 => (0..3usize, prop::collection::vec(0..64u64, 0..12), 0..50u64)
            .prop_map(|(space, pns, delay_ms)| Op::Ack { space, pns, delay_ms }),
        2 => (0..400u64).prop_map(|ms| Op::Tick { ms }),
        1 => Just(Op::Confirm),
        1 => (0..2usize).prop_map(|space| Op::Discard { space }),
    ]
}

/// Descending, disjoint, non-adjacent ranges covering `pns` (relative to
/// `next`, so the ACKs mostly name recent packets and sometimes unsent ones).
fn ranges_of(mut pns: Vec<u64>, next: u64) -> Vec<RangeInclusive<u64>> {
    for pn in &mut pns {
        *pn = (next + 2).saturating_sub(*pn);
    }
    pns.sort_unstable_by(|a, b| b.cmp(a));
    pns.dedup();
    let mut out: Vec<RangeInclusive<u64>> = Vec::new();
    for pn in pns {
        match out.last_mut() {
            Some(r) if *r.start() == pn + 1 => *r = pn..=*r.end(),
            _ => out.push(pn..=pn),
        }
    }
    out
}

fn check_invariants(h: &Harness) {
    let mut bytes = 0u64;
    let mut eliciting = 0u64;
    for id in SpaceId::ALL {
        let Some(space) = h.loss.space(id) else {
            continue;
        };
        let mut space_bytes = 0;
        for (_, p) in space.iter().filter(|(_, p)| p.in_flight()) {
            space_bytes += u64::from(p.size);
            eliciting += u64::from(p.ack_eliciting());
        }
        assert_eq!(space.bytes_in_flight(), space_bytes, "{id:?}");
        bytes += space_bytes;
    }
    assert_eq!(h.loss.bytes_in_flight(), bytes);
    assert_eq!(h.loss.ack_eliciting_in_flight(), eliciting);
    assert!(h.cc.window() >= minimum_window(SIZE));
}

proptest! {
    #[test]
    fn random_ack_patterns_never_panic_or_underflow(
        ops in prop::collection::vec(op(), 1..120),
        client in any::<bool>(),
    ) {
        let side = if client { Side::Client } else { Side::Server };
        let mut h = Harness::new(Context::new(side));
        let mut now = 0u64;
        let mut next_pn = [0u64; 3];
        let mut resolved: HashSet<(SpaceId, u64)> = HashSet::new();
        let mut discarded = [false; 3];
        for op in ops {
            match op {
                Op::Send { space, skip, size, ack_eliciting, padding } => {
                    if discarded[space] {
                        continue;
                    }
                    let id = SpaceId::ALL[space];
                    next_pn[space] += u64::from(skip);
                    let pn = next_pn[space];
                    next_pn[space] += 1;
                    let packet = SentPacket::new(t(now), size, ack_eliciting, ack_eliciting || padding, pn);
                    h.loss.on_packet_sent(id, pn, packet, &mut h.cc);
                }
                Op::Ack { space, pns, delay_ms } => {
                    let id = SpaceId::ALL[space];
                    let ranges = ranges_of(pns, next_pn[space]);
                    let before = h.loss.largest_acked(id);
                    match h.ack(id, &ranges, now, ms(delay_ms)) {
                        Ok(out) => {
                            prop_assert!(h.loss.largest_acked(id) >= before);
                            prop_assert_eq!(out.ack.largest.is_some(), !ranges.is_empty());
                        }
                        Err(e) => prop_assert_eq!(e.code, TransportErrorCode::PROTOCOL_VIOLATION),
                    }
                }
                Op::Tick { ms: dt } => {
                    now += dt;
                    let due = h.timeout().is_some_and(|at| at <= t(now));
                    prop_assert_eq!(h.fire(t(now)).is_some(), due);
                }
                Op::Discard { space } => {
                    discarded[space] = true;
                    let events = &mut h.events;
                    h.loss.discard_space(t(now), SpaceId::ALL[space], |e| {
                        events.push((e.space, e.pn, e.fate));
                    });
                }
                Op::Confirm => {
                    h.ctx.handshake_confirmed = true;
                    h.ctx.peer_completed_address_validation = true;
                    h.ctx.has_handshake_keys = true;
                }
            }
            for (space, pn, _) in h.events.drain(..) {
                prop_assert!(pn < next_pn[space.index()]);
                prop_assert!(resolved.insert((space, pn)), "{:?} {} resolved twice", space, pn);
            }
            check_invariants(&h);
        }
    }
}
