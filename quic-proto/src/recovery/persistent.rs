//! Persistent congestion (RFC 9002 §7.6).

use std::time::{Duration, Instant};

use super::{RttEstimator, PERSISTENT_CONGESTION_THRESHOLD};

/// The persistent congestion duration (RFC 9002 §7.6.1):
/// `(smoothed_rtt + max(4*rttvar, kGranularity) + max_ack_delay) *
/// kPersistentCongestionThreshold`. Unlike the PTO, it includes
/// `max_ack_delay` whatever the packet-number space.
pub fn persistent_congestion_duration(rtt: &RttEstimator, max_ack_delay: Duration) -> Duration {
    rtt.pto_base()
        .saturating_add(max_ack_delay)
        .saturating_mul(PERSISTENT_CONGESTION_THRESHOLD)
}

/// Follows the lost packets of one loss scan in packet-number (and so
/// send-time) order and measures the longest span between two lost
/// ack-eliciting packets with no acknowledged packet in between
/// (RFC 9002 §7.6.2).
#[derive(Clone, Copy, Debug)]
pub(super) struct LostRun {
    first_rtt_sample: Option<Instant>,
    start: Option<Instant>,
    longest: Duration,
}

impl LostRun {
    /// A run that ignores packets sent at or before `first_rtt_sample`;
    /// with no RTT sample yet, nothing counts.
    pub(super) const fn new(first_rtt_sample: Option<Instant>) -> Self {
        Self {
            first_rtt_sample,
            start: None,
            longest: Duration::ZERO,
        }
    }

    /// A packet sent at `time_sent` was declared lost.
    pub(super) fn on_lost(&mut self, time_sent: Instant, ack_eliciting: bool) {
        // RFC 9002 §7.6.2: "These two packets MUST be ack-eliciting" and "a
        // prior RTT sample existed when these two packets were sent"
        // (Appendix B.8: lost.time_sent > first_rtt_sample).
        let after_sample = self.first_rtt_sample.is_some_and(|t| time_sent > t);
        if !ack_eliciting || !after_sample {
            return;
        }
        match self.start {
            None => self.start = Some(time_sent),
            Some(start) => {
                self.longest = self.longest.max(time_sent.saturating_duration_since(start));
            }
        }
    }

    /// A packet between lost ones was acknowledged: RFC 9002 §7.6.2, "none
    /// of the packets sent between the send times of these two packets are
    /// acknowledged".
    pub(super) fn on_acked(&mut self) {
        self.start = None;
    }

    /// The longest qualifying span seen.
    pub(super) const fn longest(&self) -> Duration {
        self.longest
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recovery::test_util::{base, ms};

    /// A base of 2 units (here seconds): smoothed 0.6 + 4 * 0.225 + 0.5.
    fn example_rtt() -> RttEstimator {
        let mut rtt = RttEstimator::default();
        rtt.update(Duration::ZERO, ms(600), false, ms(500));
        // A sample equal to the first: smoothed stays 0.6, var becomes 0.225.
        rtt.update(Duration::ZERO, ms(600), false, ms(500));
        rtt
    }

    #[test]
    fn duration_is_three_times_pto_with_max_ack_delay() {
        let rtt = example_rtt();
        assert_eq!(rtt.pto_base() + ms(500), ms(2000));
        assert_eq!(persistent_congestion_duration(&rtt, ms(500)), ms(6000));
    }

    /// RFC 9002 §7.6.3: packets 2..=8, sent at t = 1, 2, 3, 4, 5, 6 and 8,
    /// are lost; the span 8 - 1 = 7 exceeds 2 * 3 = 6. The example assumes
    /// an RTT estimate, so the first sample predates t = 1.
    #[test]
    fn rfc_example_establishes_persistent_congestion() {
        let t0 = base();
        let mut run = LostRun::new(Some(t0));
        for t in [1000, 2000, 3000, 4000, 5000, 6000, 8000] {
            run.on_lost(t0 + ms(t), true);
        }
        assert_eq!(run.longest(), ms(7000));
        assert!(run.longest() > persistent_congestion_duration(&example_rtt(), ms(500)));
    }

    #[test]
    fn acknowledged_packet_in_between_breaks_the_span() {
        let t0 = base();
        let mut run = LostRun::new(Some(t0));
        for t in [1000, 2000, 3000, 4000] {
            run.on_lost(t0 + ms(t), true);
        }
        run.on_acked(); // packet 6 acknowledged
        for t in [6000, 8000] {
            run.on_lost(t0 + ms(t), true);
        }
        assert_eq!(run.longest(), ms(3000));
        assert!(run.longest() <= persistent_congestion_duration(&example_rtt(), ms(500)));
    }

    #[test]
    fn span_equal_to_duration_is_not_persistent() {
        let t0 = base();
        let mut run = LostRun::new(Some(t0));
        run.on_lost(t0 + ms(1000), true);
        run.on_lost(t0 + ms(7000), true);
        assert_eq!(run.longest(), ms(6000));
        assert!(run.longest() <= persistent_congestion_duration(&example_rtt(), ms(500)));
    }

    #[test]
    fn only_ack_eliciting_packets_after_first_sample_count() {
        let t0 = base();
        let mut run = LostRun::new(Some(t0 + ms(1000)));
        run.on_lost(t0 + ms(1000), true); // sent at the sample: excluded
        run.on_lost(t0 + ms(2000), false); // not ack-eliciting
        run.on_lost(t0 + ms(3000), true);
        run.on_lost(t0 + ms(9000), false);
        run.on_lost(t0 + ms(5000), true);
        assert_eq!(run.longest(), ms(2000));
        let mut no_sample = LostRun::new(None);
        no_sample.on_lost(t0, true);
        no_sample.on_lost(t0 + ms(100_000), true);
        assert_eq!(no_sample.longest(), Duration::ZERO);
    }
}
