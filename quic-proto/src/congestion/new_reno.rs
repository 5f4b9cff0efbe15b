//! NewReno (RFC 9002 §7, Appendix B).

use std::time::Instant;

use super::{
    initial_window, minimum_window, CongestionStats, Controller, ControllerFactory, Phase,
    MIN_DATAGRAM_SIZE,
};
use crate::recovery::RttEstimator;

/// NewReno settings; the defaults are RFC 9002's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NewRenoConfig {
    /// The initial window in bytes, instead of RFC 9002 §7.2's
    /// `min(10 * mds, max(14720, 2 * mds))`. Never below the minimum window.
    pub initial_window: Option<u64>,
}

impl ControllerFactory for NewRenoConfig {
    fn build(&self, _now: Instant, max_datagram_size: u16) -> Box<dyn Controller> {
        Box::new(NewReno::new(*self, max_datagram_size))
    }
}

/// The NewReno congestion controller of RFC 9002 §7 and Appendix B: slow
/// start, a recovery period entered on loss or ECN-CE that halves the
/// window once per round trip, congestion avoidance adding one maximum
/// datagram size per window acknowledged, and collapse to the minimum
/// window on persistent congestion. Never allocates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewReno {
    config: NewRenoConfig,
    max_datagram_size: u16,
    window: u64,
    /// u64::MAX stands for infinity (RFC 9002 Appendix B.3).
    ssthresh: u64,
    /// congestion_recovery_start_time (RFC 9002 Appendix B.2).
    recovery_start: Option<Instant>,
    /// Still in the recovery period: no packet sent after its start has
    /// been acknowledged yet.
    in_recovery: bool,
    /// Bytes acknowledged toward the next window increase in congestion
    /// avoidance (RFC 3465 §2.1, as RFC 9002 Appendix B.5 suggests).
    bytes_acked: u64,
}

impl NewReno {
    /// kLossReductionFactor (RFC 9002 §7.3.2, Appendix B.1): the window is
    /// halved: "a sender MUST set the slow start threshold to half the
    /// value of the congestion window when loss is detected".
    const LOSS_REDUCTION_DIVISOR: u64 = 2;

    /// A controller in slow start with the initial window for
    /// `max_datagram_size` (at least 1200).
    pub fn new(config: NewRenoConfig, max_datagram_size: u16) -> Self {
        let mut cc = Self {
            config,
            max_datagram_size: max_datagram_size.max(MIN_DATAGRAM_SIZE),
            window: 0,
            ssthresh: u64::MAX,
            recovery_start: None,
            in_recovery: false,
            bytes_acked: 0,
        };
        cc.window = cc.initial_window();
        cc
    }

    fn mds(&self) -> u64 {
        u64::from(self.max_datagram_size)
    }

    fn min_window(&self) -> u64 {
        minimum_window(self.max_datagram_size)
    }

    /// RFC 9002 Appendix B.5, InCongestionRecovery.
    fn sent_in_recovery(&self, sent_time: Instant) -> bool {
        self.recovery_start.is_some_and(|start| sent_time <= start)
    }
}

impl Controller for NewReno {
    fn on_packet_sent(&mut self, _now: Instant, _bytes: u64) {}

    fn on_ack(
        &mut self,
        _now: Instant,
        sent_time: Instant,
        bytes: u64,
        _rtt: &RttEstimator,
        app_limited: bool,
    ) {
        // RFC 9002 §7.3.2: "During a recovery period, the congestion window
        // does not change"; Appendix B.5 checks the packet's send time.
        if self.sent_in_recovery(sent_time) {
            return;
        }
        // RFC 9002 §7.3.2: "A recovery period ends and the sender enters
        // congestion avoidance when a packet sent during the recovery
        // period is acknowledged."
        self.in_recovery = false;
        // RFC 9002 §7.8: when the window is underutilized, it "SHOULD NOT
        // be increased in either slow start or congestion avoidance".
        if app_limited {
            return;
        }
        if self.window < self.ssthresh {
            // RFC 9002 §7.3.1: "the congestion window increases by the
            // number of bytes acknowledged".
            self.window = self.window.saturating_add(bytes);
            return;
        }
        // RFC 9002 §7.3.3: "MUST limit the increase to the congestion
        // window to at most one maximum datagram size for each congestion
        // window that is acknowledged."
        self.bytes_acked = self.bytes_acked.saturating_add(bytes);
        if self.bytes_acked >= self.window {
            self.bytes_acked -= self.window;
            self.window = self.window.saturating_add(self.mds());
        }
    }

    fn on_congestion_event(
        &mut self,
        now: Instant,
        sent_time: Instant,
        is_persistent_congestion: bool,
        _lost_bytes: u64,
    ) {
        // RFC 9002 Appendix B.6: "No reaction if already in a recovery
        // period."
        if !self.sent_in_recovery(sent_time) {
            self.recovery_start = Some(now);
            self.in_recovery = true;
            self.ssthresh = self.window / Self::LOSS_REDUCTION_DIVISOR;
            // RFC 9002 §7.3.2: "The congestion window MUST be set to the
            // reduced value of the slow start threshold before exiting the
            // recovery period"; reduced at once, not below kMinimumWindow.
            self.window = self.ssthresh.max(self.min_window());
            self.bytes_acked = 0;
        }
        if is_persistent_congestion {
            // RFC 9002 §7.6.2: "the sender's congestion window MUST be
            // reduced to the minimum congestion window"; Appendix B.8 also
            // clears the recovery start, so slow start resumes.
            self.window = self.min_window();
            self.recovery_start = None;
            self.in_recovery = false;
            self.bytes_acked = 0;
        }
    }

    fn on_mtu_update(&mut self, max_datagram_size: u16) {
        self.max_datagram_size = max_datagram_size.max(MIN_DATAGRAM_SIZE);
        // The window is in bytes, which a new datagram size does not
        // change; only the minimum window follows it (RFC 9002 §7.2). The
        // connection changes the size only after the handshake (path MTU
        // discovery, a new path), never "in order to complete the
        // handshake", when RFC 9002 §7.2 would reset the window to the
        // initial one. A black hole's losses have reduced the window
        // already; a rebinding that keeps the IP address may keep it
        // (RFC 9000 §9.4).
        self.window = self.window.max(self.min_window());
    }

    fn window(&self) -> u64 {
        self.window
    }

    fn initial_window(&self) -> u64 {
        // RFC 9002 §7.2: "If the maximum datagram size changes during the
        // connection, the initial congestion window SHOULD be recalculated
        // with the new size."
        self.config
            .initial_window
            .unwrap_or_else(|| initial_window(self.max_datagram_size))
            .max(self.min_window())
    }

    fn stats(&self) -> CongestionStats {
        let phase = if self.in_recovery {
            Phase::Recovery
        } else if self.window < self.ssthresh {
            Phase::SlowStart
        } else {
            Phase::CongestionAvoidance
        };
        let ssthresh = (self.ssthresh != u64::MAX).then_some(self.ssthresh);
        CongestionStats::new(self.window, ssthresh, phase)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recovery::test_util::{base, ms};

    const MDS: u64 = 1200;

    fn reno() -> NewReno {
        NewReno::new(NewRenoConfig::default(), 1200)
    }

    fn ack(cc: &mut NewReno, now_ms: u64, sent_ms: u64, bytes: u64) {
        let rtt = RttEstimator::default();
        cc.on_ack(
            base() + ms(now_ms),
            base() + ms(sent_ms),
            bytes,
            &rtt,
            false,
        );
    }

    fn lose(cc: &mut NewReno, now_ms: u64, sent_ms: u64) {
        cc.on_congestion_event(base() + ms(now_ms), base() + ms(sent_ms), false, MDS);
    }

    #[test]
    fn starts_in_slow_start_with_initial_window() {
        let cc = reno();
        assert_eq!(cc.window(), 12_000);
        assert_eq!(cc.initial_window(), 12_000);
        assert_eq!(
            cc.stats(),
            CongestionStats::new(12_000, None, Phase::SlowStart)
        );
    }

    #[test]
    fn configured_initial_window_is_used_but_not_below_minimum() {
        let cc = NewReno::new(
            NewRenoConfig {
                initial_window: Some(100_000),
            },
            1200,
        );
        assert_eq!(cc.window(), 100_000);
        let cc = NewReno::new(
            NewRenoConfig {
                initial_window: Some(10),
            },
            1200,
        );
        assert_eq!(cc.window(), 2400);
    }

    #[test]
    fn slow_start_grows_by_bytes_acked() {
        let mut cc = reno();
        for i in 0..10 {
            ack(&mut cc, 100, i, MDS);
        }
        // One window acknowledged doubles it.
        assert_eq!(cc.window(), 24_000);
        assert_eq!(cc.stats().phase, Phase::SlowStart);
    }

    #[test]
    fn loss_halves_window_and_enters_recovery() {
        let mut cc = reno();
        lose(&mut cc, 100, 10);
        assert_eq!(cc.window(), 6000);
        assert_eq!(
            cc.stats(),
            CongestionStats::new(6000, Some(6000), Phase::Recovery)
        );
    }

    #[test]
    fn no_second_reduction_within_recovery_period() {
        let mut cc = reno();
        lose(&mut cc, 100, 10);
        // Packets sent before the recovery start: lost or CE, no reaction.
        lose(&mut cc, 150, 90);
        lose(&mut cc, 200, 100);
        cc.on_ecn_ce(base() + ms(210), base() + ms(95));
        assert_eq!(cc.window(), 6000);
        // Acknowledgments of packets sent before it do not grow the window.
        ack(&mut cc, 220, 99, MDS);
        assert_eq!(cc.window(), 6000);
        assert_eq!(cc.stats().phase, Phase::Recovery);
        // A loss of a packet sent after the recovery start starts a new one.
        lose(&mut cc, 300, 101);
        assert_eq!(cc.window(), 3000);
    }

    #[test]
    fn recovery_ends_when_packet_sent_after_start_is_acked() {
        let mut cc = reno();
        lose(&mut cc, 100, 10);
        ack(&mut cc, 200, 101, MDS);
        assert_eq!(cc.stats().phase, Phase::CongestionAvoidance);
        // At ssthresh, so that ack only counted toward congestion avoidance.
        assert_eq!(cc.window(), 6000);
    }

    #[test]
    fn congestion_avoidance_grows_one_mss_per_window() {
        let mut cc = reno();
        lose(&mut cc, 100, 10);
        assert_eq!(cc.window(), 6000);
        // 5 packets of 1200 bytes acknowledge one window: +1 MSS.
        for i in 0..4 {
            ack(&mut cc, 200, 101 + i, MDS);
            assert_eq!(cc.window(), 6000);
        }
        ack(&mut cc, 200, 105, MDS);
        assert_eq!(cc.window(), 7200);
        // The next increase needs a whole 7200-byte window: 6 packets.
        for i in 0..5 {
            ack(&mut cc, 300, 201 + i, MDS);
        }
        assert_eq!(cc.window(), 7200);
        ack(&mut cc, 300, 206, MDS);
        assert_eq!(cc.window(), 8400);
    }

    #[test]
    fn persistent_congestion_collapses_to_minimum_window() {
        let mut cc = reno();
        for i in 0..10 {
            ack(&mut cc, 50, i, MDS);
        }
        cc.on_congestion_event(base() + ms(100), base() + ms(90), true, 10 * MDS);
        assert_eq!(cc.window(), 2 * MDS);
        // ssthresh stays at half the old window, so slow start resumes.
        assert_eq!(
            cc.stats(),
            CongestionStats::new(2400, Some(12_000), Phase::SlowStart)
        );
        ack(&mut cc, 150, 95, MDS);
        assert_eq!(cc.window(), 3 * MDS);
    }

    #[test]
    fn persistent_congestion_collapses_even_within_recovery() {
        let mut cc = reno();
        lose(&mut cc, 100, 10);
        cc.on_congestion_event(base() + ms(150), base() + ms(90), true, MDS);
        assert_eq!(cc.window(), 2400);
    }

    #[test]
    fn app_limited_acks_do_not_grow_window() {
        let mut cc = reno();
        let rtt = RttEstimator::default();
        for i in 0..10 {
            cc.on_ack(base() + ms(50), base() + ms(i), MDS, &rtt, true);
        }
        assert_eq!(cc.window(), 12_000);
        lose(&mut cc, 100, 10);
        for i in 0..20 {
            cc.on_ack(base() + ms(200), base() + ms(101 + i), MDS, &rtt, true);
        }
        assert_eq!(cc.window(), 6000);
        // Still leaves recovery.
        assert_eq!(cc.stats().phase, Phase::CongestionAvoidance);
    }

    #[test]
    fn window_never_falls_below_minimum() {
        let mut cc = reno();
        for round in 0..10u64 {
            lose(&mut cc, 100 * (round + 1), 100 * round + 1);
        }
        assert_eq!(cc.window(), 2400);
    }

    #[test]
    fn mtu_update_recomputes_windows() {
        let mut cc = reno();
        cc.on_mtu_update(1500);
        assert_eq!(cc.initial_window(), 14_720);
        assert_eq!(cc.window(), 12_000);
        for i in 0..10 {
            ack(&mut cc, 50, i, MDS);
        }
        // The window is in bytes: a smaller datagram size leaves it.
        cc.on_mtu_update(1200);
        assert_eq!(cc.window(), 12_000 + 10 * MDS);
        // Below 1200 is treated as 1200.
        cc.on_mtu_update(0);
        assert_eq!(cc.initial_window(), 12_000);
        // The minimum window follows the datagram size.
        for round in 0..10u64 {
            lose(&mut cc, 100 * (round + 1), 100 * round + 1);
        }
        assert_eq!(cc.window(), 2400);
        cc.on_mtu_update(1452);
        assert_eq!(cc.window(), 2904);
    }

    #[test]
    fn factory_builds_boxed_controller() {
        let cc: Box<dyn Controller> = NewRenoConfig::default().build(base(), 1200);
        assert_eq!(cc.window(), 12_000);
    }
}
