//! Named [`LinkConfig`]s after the network conditions of the QUIC interop
//! runner (its ns-3 scenarios), so tests can say what path they run over.
//!
//! Every preset is one direction; use it for both directions of a path to get
//! the runner's symmetric setup (for example a 30 ms RTT from 15 ms one way).

use std::num::NonZeroU64;
use std::time::{Duration, Instant};

use super::link::{GilbertElliott, LinkConfig};

/// The interop runner's bottleneck rate: 10 Mbit/s.
pub const INTEROP_BANDWIDTH: u64 = 10_000_000;
/// The interop runner's drop-tail queue: 25 packets of 1500 bytes.
pub const INTEROP_QUEUE_BYTES: usize = 25 * 1500;
/// The mean length of a loss (or corruption) burst in the lossy presets.
pub const MEAN_BURST_LEN: f64 = 3.0;

/// The interop runner's baseline path: 15 ms one-way delay (30 ms RTT),
/// a 10 Mbit/s bottleneck behind a 25-packet (≈ 25 × 1500 bytes) drop-tail
/// queue, no random loss.
pub fn interop_baseline() -> LinkConfig {
    LinkConfig {
        delay: Duration::from_millis(15),
        bandwidth: NonZeroU64::new(INTEROP_BANDWIDTH),
        queue_bytes: Some(INTEROP_QUEUE_BYTES),
        ..LinkConfig::default()
    }
}

/// A satellite-like path: 750 ms one-way delay (1.5 s RTT) with the
/// baseline's 10 Mbit/s bottleneck and 25-packet queue.
pub fn long_rtt() -> LinkConfig {
    LinkConfig {
        delay: Duration::from_millis(750),
        ..interop_baseline()
    }
}

/// A clean path: 15 ms one-way delay (30 ms RTT), 10 Mbit/s, no loss and no
/// queue limit (so only the sender's congestion control limits goodput).
pub fn clean_10mbit_30ms_rtt() -> LinkConfig {
    LinkConfig {
        delay: Duration::from_millis(15),
        bandwidth: NonZeroU64::new(INTEROP_BANDWIDTH),
        ..LinkConfig::default()
    }
}

/// The Gilbert-Elliott chain whose bad state lasts [`MEAN_BURST_LEN`]
/// datagrams on average and which is bad `rate` of the time in the long run
/// (`rate` is a fraction in `[0, 1)`, e.g. `0.02`).
///
/// The chain switches state before each datagram. Once bad, it stays bad for
/// each further datagram with probability `1 - q` (`q = p_bad_to_good`), so a
/// bad run is geometric with mean `1 / q`; a mean of 3 gives `q = 1/3`. The
/// stationary share of the bad state `π_b` solves the balance equation
/// `π_g · p = π_b · q` with `π_g = 1 - π_b` (`p = p_good_to_bad`), so
/// `π_b = p / (p + q)`. Setting `π_b = rate` gives
/// `p = q · rate / (1 - rate)`. With `loss_in_bad = 1` and
/// `loss_in_good = 0` every bad datagram and only those are hit, so the
/// long-run hit rate is `rate` and hits come in runs of mean 3.
///
/// Rates at or above `1 - q` need `p ≥ 1`, which the chain cannot honour
/// (it would switch away from good every datagram): `p` is capped at 1, which
/// gives a rate of `1 / (1 + q)` = 75 %. Negative or NaN rates give no loss.
pub fn burst_chain(rate: f64) -> GilbertElliott {
    let q = 1.0 / MEAN_BURST_LEN;
    let rate = if rate.is_nan() {
        0.0
    } else {
        rate.clamp(0.0, 1.0)
    };
    let p = if rate >= 1.0 {
        1.0
    } else {
        (q * rate / (1.0 - rate)).min(1.0)
    };
    GilbertElliott {
        p_good_to_bad: p,
        p_bad_to_good: q,
        loss_in_bad: 1.0,
        loss_in_good: 0.0,
    }
}

/// The baseline path with `pct` percent loss in bursts of mean length 3
/// (a Gilbert-Elliott chain from [`burst_chain`]; `loss(2.0)` loses 2 % of
/// datagrams in the long run).
pub fn loss(pct: f64) -> LinkConfig {
    LinkConfig {
        burst: Some(burst_chain(pct / 100.0)),
        ..interop_baseline()
    }
}

/// The baseline path with `pct` percent of datagrams corrupted (one bit
/// flipped, which QUIC's AEAD must reject).
///
/// The interop runner corrupts in bursts of 3, but [`LinkConfig`] only has an
/// independent corruption probability (its Gilbert-Elliott chain drives
/// loss, not corruption), so this preset corrupts each datagram independently
/// with probability `pct / 100`: the same long-run rate, without the bursts.
pub fn corruption(pct: f64) -> LinkConfig {
    LinkConfig {
        corrupt: pct / 100.0,
        ..interop_baseline()
    }
}

/// The interop runner's blackhole pattern as link switches for
/// [`Network::schedule`](super::Network::schedule): from `start`, the link
/// is up for `on`, then dark for `off`, repeating until `until`. Returns
/// `(when, blackholed)` pairs in time order, beginning with `(start, false)`
/// and ending with the link up (an entry at `until` if it was dark then).
/// The runner uses 5 s on and 2 s off. A zero-length cycle yields only the
/// first entry.
pub fn blackhole_schedule(
    start: Instant,
    on: Duration,
    off: Duration,
    until: Instant,
) -> Vec<(Instant, bool)> {
    let mut switches = vec![(start, false)];
    if on + off == Duration::ZERO {
        return switches;
    }
    let mut t = start;
    loop {
        let dark = t + on;
        if dark >= until {
            break;
        }
        switches.push((dark, true));
        let up = dark + off;
        if up >= until {
            switches.push((until, false));
            break;
        }
        switches.push((up, false));
        t = up;
    }
    switches
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::{DropReason, Link, Outcome};

    const DATAGRAMS: u64 = 200_000;

    /// Offers `DATAGRAMS` datagrams without a bottleneck and measures the
    /// loss rate and the mean length of runs of consecutive losses.
    fn measure(config: LinkConfig, seed: u64) -> (f64, f64) {
        let config = LinkConfig {
            bandwidth: None,
            queue_bytes: None,
            ..config
        };
        let mut link = Link::new(config, seed);
        let now = crate::test_instant();
        let (mut lost, mut runs, mut in_run) = (0u64, 0u64, false);
        for _ in 0..DATAGRAMS {
            let dropped = matches!(
                link.send(now, &[0; 100]),
                Outcome::Dropped(DropReason::Burst)
            );
            lost += u64::from(dropped);
            runs += u64::from(dropped && !in_run);
            in_run = dropped;
        }
        (lost as f64 / DATAGRAMS as f64, lost as f64 / runs as f64)
    }

    #[test]
    fn two_percent_burst_loss_has_rate_and_burst_length_as_documented() {
        let (rate, burst) = measure(loss(2.0), 1);
        assert!((rate - 0.02).abs() < 0.003, "loss rate {rate}");
        assert!((burst - 3.0).abs() < 0.25, "mean burst {burst}");
    }

    #[test]
    fn thirty_percent_burst_loss_has_rate_and_burst_length_as_documented() {
        let (rate, burst) = measure(loss(30.0), 2);
        assert!((rate - 0.30).abs() < 0.01, "loss rate {rate}");
        assert!((burst - 3.0).abs() < 0.1, "mean burst {burst}");
    }

    #[test]
    fn burst_chain_solves_the_balance_equation() {
        let ge = burst_chain(0.1);
        assert!((ge.p_bad_to_good - 1.0 / 3.0).abs() < 1e-12);
        let stationary = ge.p_good_to_bad / (ge.p_good_to_bad + ge.p_bad_to_good);
        assert!((stationary - 0.1).abs() < 1e-12);
        assert_eq!(burst_chain(-1.0).p_good_to_bad, 0.0);
        assert_eq!(burst_chain(f64::NAN).p_good_to_bad, 0.0);
        assert_eq!(burst_chain(0.9).p_good_to_bad, 1.0);
    }

    #[test]
    fn presets_match_the_interop_runner() {
        let base = interop_baseline();
        assert_eq!(base.delay, Duration::from_millis(15));
        assert_eq!(base.bandwidth.map(NonZeroU64::get), Some(10_000_000));
        assert_eq!(base.queue_bytes, Some(37_500));
        assert_eq!(long_rtt().delay, Duration::from_millis(750));
        assert_eq!(long_rtt().queue_bytes, base.queue_bytes);
        assert_eq!(corruption(5.0).corrupt, 0.05);
        assert_eq!(clean_10mbit_30ms_rtt().queue_bytes, None);
    }

    #[test]
    fn blackhole_schedule_alternates_five_on_two_off_and_ends_up() {
        let t0 = crate::test_instant();
        let s = |n| Duration::from_secs(n);
        let got = blackhole_schedule(t0, s(5), s(2), t0 + s(16));
        let want = vec![
            (t0, false),
            (t0 + s(5), true),
            (t0 + s(7), false),
            (t0 + s(12), true),
            (t0 + s(14), false),
        ];
        assert_eq!(got, want);
        let cut = blackhole_schedule(t0, s(5), s(2), t0 + s(6));
        assert_eq!(
            cut,
            vec![(t0, false), (t0 + s(5), true), (t0 + s(6), false)]
        );
        assert_eq!(
            blackhole_schedule(t0, s(0), s(0), t0 + s(6)),
            vec![(t0, false)]
        );
    }
}
