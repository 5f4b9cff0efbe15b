//! Round-trip time estimation (RFC 9002 §5).

use core::time::Duration;

use super::GRANULARITY;

/// The RTT estimate of one network path (RFC 9002 §5): the latest sample,
/// the minimum, the smoothed average and its variation.
///
/// Before the first sample the estimator reports the initial RTT as
/// smoothed and half of it as variation (RFC 9002 §5.3), and zero for the
/// latest and minimum RTT. All arithmetic saturates, so no input panics.
/// The estimator never allocates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RttEstimator {
    initial: Duration,
    latest: Duration,
    smoothed: Duration,
    var: Duration,
    min: Duration,
    /// [`RttEstimator::pto_base`], kept up to date: the timers read it far
    /// more often than samples change it.
    pto_base: Duration,
    has_sample: bool,
}

impl RttEstimator {
    /// kInitialRtt (RFC 9002 §6.2.2): "When no previous RTT is available,
    /// the initial RTT SHOULD be set to 333 milliseconds."
    pub const DEFAULT_INITIAL_RTT: Duration = Duration::from_millis(333);

    /// An estimator with no sample yet, starting from `initial_rtt` (for
    /// example a resumed connection's last smoothed RTT, RFC 9002 §6.2.2).
    pub const fn new(initial_rtt: Duration) -> Self {
        // RFC 9002 §5.3: rttvar = kInitialRtt / 2.
        let var = match initial_rtt.checked_div(2) {
            Some(half) => half,
            None => Duration::ZERO, // unreachable: the divisor is not zero
        };
        Self {
            initial: initial_rtt,
            latest: Duration::ZERO,
            smoothed: initial_rtt,
            var,
            min: Duration::ZERO,
            pto_base: pto_base(initial_rtt, var),
            has_sample: false,
        }
    }

    /// Forgets every sample and starts again from the initial RTT, as after
    /// a Retry (RFC 9002 §6.3) or on a new path (RFC 9000 §9.4).
    pub fn reset(&mut self) {
        *self = Self::new(self.initial);
    }

    /// Takes an RTT sample (RFC 9002 §5.1–§5.3).
    ///
    /// `latest` is the time from sending the largest newly acknowledged
    /// packet to receiving its acknowledgment; `ack_delay` is the peer's
    /// ACK Delay, already scaled by its ack_delay_exponent. The caller only
    /// calls this when the ACK newly acknowledges its largest packet and at
    /// least one ack-eliciting packet (RFC 9002 §5.1);
    /// [`LossDetection`](super::LossDetection) does that.
    ///
    /// The first sample resets the estimator to that sample. Later ones
    /// subtract the acknowledgment delay, limited to `max_ack_delay` once
    /// the handshake is confirmed, but only when that leaves at least
    /// `min_rtt`.
    pub fn update(
        &mut self,
        ack_delay: Duration,
        latest: Duration,
        handshake_confirmed: bool,
        max_ack_delay: Duration,
    ) {
        self.latest = latest;
        if !self.has_sample {
            // RFC 9002 §5.2: "min_rtt MUST be set to the latest_rtt on the
            // first RTT sample." §5.3: smoothed_rtt = latest_rtt,
            // rttvar = latest_rtt / 2.
            self.has_sample = true;
            self.min = latest;
            self.smoothed = latest;
            self.var = latest / 2;
            self.pto_base = pto_base(self.smoothed, self.var);
            return;
        }
        // RFC 9002 §5.2: min_rtt is the lesser of min_rtt and latest_rtt,
        // and ignores acknowledgment delay.
        self.min = self.min.min(latest);
        // RFC 9002 §5.3: "SHOULD ignore the peer's max_ack_delay until the
        // handshake is confirmed; MUST use the lesser of the acknowledgment
        // delay and the peer's max_ack_delay after the handshake is
        // confirmed".
        let ack_delay = if handshake_confirmed {
            ack_delay.min(max_ack_delay)
        } else {
            ack_delay
        };
        // RFC 9002 §5.3: "MUST NOT subtract the acknowledgment delay from
        // the RTT sample if the resulting value is smaller than the min_rtt."
        let adjusted = match self.min.checked_add(ack_delay) {
            Some(floor) if latest >= floor => latest.saturating_sub(ack_delay),
            _ => latest,
        };
        // RFC 9002 Appendix A.7 (and RFC 6298 §2.3): the variation uses the
        // smoothed RTT from before this sample. (The prose of §5.3 updates
        // smoothed_rtt first; the pseudocode and RFC 6298 do not.)
        let var_sample = self.smoothed.abs_diff(adjusted);
        self.var = self.var.saturating_mul(3).saturating_add(var_sample) / 4;
        self.smoothed = self.smoothed.saturating_mul(7).saturating_add(adjusted) / 8;
        self.pto_base = pto_base(self.smoothed, self.var);
    }

    /// Sets min_rtt to the latest sample. RFC 9002 §5.2: "Endpoints SHOULD
    /// set the min_rtt to the newest RTT sample after persistent congestion
    /// is established." [`LossDetection`](super::LossDetection) calls it.
    pub fn reset_min_rtt(&mut self) {
        if self.has_sample {
            self.min = self.latest;
        }
    }

    /// Whether at least one sample has been taken.
    pub const fn has_sample(&self) -> bool {
        self.has_sample
    }

    /// The RTT this estimator started from.
    pub const fn initial(&self) -> Duration {
        self.initial
    }

    /// latest_rtt: the most recent sample, zero before the first.
    pub const fn latest(&self) -> Duration {
        self.latest
    }

    /// smoothed_rtt: the exponentially weighted average of the samples
    /// adjusted for acknowledgment delay; the initial RTT before the first.
    pub const fn smoothed(&self) -> Duration {
        self.smoothed
    }

    /// rttvar: the mean deviation of the samples; half the initial RTT
    /// before the first.
    pub const fn var(&self) -> Duration {
        self.var
    }

    /// min_rtt: the smallest sample seen, not adjusted for acknowledgment
    /// delay; zero before the first.
    pub const fn min(&self) -> Duration {
        self.min
    }

    /// The PTO period without max_ack_delay and backoff (RFC 9002 §6.2.1):
    /// `smoothed_rtt + max(4 * rttvar, kGranularity)`.
    pub const fn pto_base(&self) -> Duration {
        self.pto_base
    }

    /// The time-threshold reordering window (RFC 9002 §6.1.2):
    /// `max(kTimeThreshold * max(smoothed_rtt, latest_rtt), kGranularity)`
    /// with kTimeThreshold = 9/8.
    pub fn loss_delay(&self) -> Duration {
        // RFC 9002 §6.1.2: "The RECOMMENDED time threshold (kTimeThreshold),
        // expressed as an RTT multiplier, is 9/8."
        let rtt = self.latest.max(self.smoothed);
        (rtt.saturating_mul(9) / 8).max(GRANULARITY)
    }
}

/// `smoothed_rtt + max(4 * rttvar, kGranularity)` (RFC 9002 §6.2.1).
const fn pto_base(smoothed: Duration, var: Duration) -> Duration {
    let var4 = var.saturating_mul(4);
    let var4 = if var4.as_nanos() < GRANULARITY.as_nanos() {
        GRANULARITY
    } else {
        var4
    };
    smoothed.saturating_add(var4)
}

impl Default for RttEstimator {
    /// An estimator starting from [`RttEstimator::DEFAULT_INITIAL_RTT`].
    fn default() -> Self {
        Self::new(Self::DEFAULT_INITIAL_RTT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const fn ms(x: u64) -> Duration {
        Duration::from_millis(x)
    }

    const fn us(x: u64) -> Duration {
        Duration::from_micros(x)
    }

    /// An estimator whose first sample was 100 ms: smoothed 100, var 50, min 100.
    fn after_first_sample() -> RttEstimator {
        let mut rtt = RttEstimator::default();
        rtt.update(ms(40), ms(100), true, ms(25));
        rtt
    }

    #[test]
    fn defaults_follow_rfc_initial_rtt() {
        let rtt = RttEstimator::default();
        assert!(!rtt.has_sample());
        assert_eq!(rtt.smoothed(), ms(333));
        assert_eq!(rtt.var(), us(166_500));
        assert_eq!(rtt.latest(), Duration::ZERO);
        assert_eq!(rtt.min(), Duration::ZERO);
        // 333 + 4 * 166.5 = 999 ms: "handshakes starting with a PTO of 1 second".
        assert_eq!(rtt.pto_base(), ms(999));
    }

    #[test]
    fn first_sample_resets_estimator_and_ignores_ack_delay() {
        let rtt = after_first_sample();
        assert!(rtt.has_sample());
        assert_eq!(rtt.latest(), ms(100));
        assert_eq!(rtt.min(), ms(100));
        assert_eq!(rtt.smoothed(), ms(100));
        assert_eq!(rtt.var(), ms(50));
        assert_eq!(rtt.pto_base(), ms(300));
    }

    #[test]
    fn subsequent_sample_subtracts_ack_delay() {
        let mut rtt = after_first_sample();
        // adjusted = 200 - 20 = 180; var = (3*50 + |100-180|)/4 = 57.5;
        // smoothed = (7*100 + 180)/8 = 110.
        rtt.update(ms(20), ms(200), true, ms(25));
        assert_eq!(rtt.min(), ms(100));
        assert_eq!(rtt.latest(), ms(200));
        assert_eq!(rtt.var(), us(57_500));
        assert_eq!(rtt.smoothed(), ms(110));
    }

    #[test]
    fn ack_delay_capped_at_max_ack_delay_after_confirmation() {
        let mut rtt = after_first_sample();
        // ack_delay min(50, 25) = 25; adjusted = 175; var = (150+75)/4 = 56.25;
        // smoothed = (700+175)/8 = 109.375.
        rtt.update(ms(50), ms(200), true, ms(25));
        assert_eq!(rtt.var(), us(56_250));
        assert_eq!(rtt.smoothed(), us(109_375));
    }

    #[test]
    fn max_ack_delay_ignored_before_confirmation() {
        let mut rtt = after_first_sample();
        // ack_delay 50 uncapped; adjusted = 150; var = (150+50)/4 = 50;
        // smoothed = (700+150)/8 = 106.25.
        rtt.update(ms(50), ms(200), false, ms(25));
        assert_eq!(rtt.var(), ms(50));
        assert_eq!(rtt.smoothed(), us(106_250));
    }

    #[test]
    fn ack_delay_not_subtracted_below_min_rtt() {
        let mut rtt = after_first_sample();
        // 110 < min 100 + 20, so adjusted = 110; var = (150+10)/4 = 40;
        // smoothed = (700+110)/8 = 101.25.
        rtt.update(ms(20), ms(110), true, ms(25));
        assert_eq!(rtt.var(), ms(40));
        assert_eq!(rtt.smoothed(), us(101_250));
    }

    #[test]
    fn ack_delay_subtracted_when_exactly_min_rtt_remains() {
        let mut rtt = after_first_sample();
        // 120 >= 100 + 20: adjusted = 100; var = (150+0)/4; smoothed = 100.
        rtt.update(ms(20), ms(120), true, ms(25));
        assert_eq!(rtt.var(), us(37_500));
        assert_eq!(rtt.smoothed(), ms(100));
    }

    #[test]
    fn min_rtt_tracks_smallest_sample_without_ack_delay() {
        let mut rtt = after_first_sample();
        rtt.update(ms(5), ms(80), true, ms(25));
        assert_eq!(rtt.min(), ms(80));
        rtt.update(ms(0), ms(90), true, ms(25));
        assert_eq!(rtt.min(), ms(80));
    }

    #[test]
    fn loss_delay_is_nine_eighths_of_larger_rtt() {
        let mut rtt = after_first_sample();
        assert_eq!(rtt.loss_delay(), us(112_500));
        // latest 200 > smoothed 112.5: 9/8 * 200 = 225.
        rtt.update(ms(0), ms(200), true, ms(25));
        assert_eq!(rtt.smoothed(), us(112_500));
        assert_eq!(rtt.loss_delay(), ms(225));
    }

    #[test]
    fn loss_delay_and_pto_floored_at_granularity() {
        let mut rtt = RttEstimator::new(Duration::ZERO);
        assert_eq!(rtt.loss_delay(), GRANULARITY);
        assert_eq!(rtt.pto_base(), GRANULARITY);
        rtt.update(Duration::ZERO, us(100), true, ms(25));
        assert_eq!(rtt.loss_delay(), GRANULARITY);
        // 100 us + max(4 * 50 us, 1 ms)
        assert_eq!(rtt.pto_base(), us(1_100));
    }

    #[test]
    fn reset_min_rtt_takes_latest_sample() {
        let mut rtt = after_first_sample();
        rtt.update(ms(0), ms(300), true, ms(25));
        assert_eq!(rtt.min(), ms(100));
        rtt.reset_min_rtt();
        assert_eq!(rtt.min(), ms(300));
    }

    #[test]
    fn reset_returns_to_initial_rtt() {
        let mut rtt = RttEstimator::new(ms(50));
        rtt.update(ms(0), ms(10), true, ms(25));
        rtt.reset();
        assert_eq!(rtt, RttEstimator::new(ms(50)));
    }

    #[test]
    fn huge_values_saturate_instead_of_panicking() {
        let mut rtt = RttEstimator::new(Duration::MAX);
        assert_eq!(rtt.pto_base(), Duration::MAX);
        rtt.update(Duration::MAX, Duration::MAX, false, Duration::MAX);
        rtt.update(Duration::MAX, Duration::MAX, true, Duration::MAX);
        let _ = (rtt.pto_base(), rtt.loss_delay());
    }
}
