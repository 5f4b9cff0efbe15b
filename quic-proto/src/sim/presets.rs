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
/// The longest run of consecutive losses (or corruptions) in the lossy
/// presets: the interop runner's `--burst=3`.
pub const INTEROP_MAX_BURST: u32 = 3;
/// The mean burst length of [`burst_chain`].
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

/// The baseline path with the interop runner's drop-rate model: each
/// datagram is lost with probability `pct / 100`, but never more than
/// [`INTEROP_MAX_BURST`] in a row (the one after a run of three goes
/// through). The long-run rate is a little below `pct` at high rates
/// (29.4 % for 30).
///
/// An earlier version used a Gilbert-Elliott chain with a *mean* burst of
/// 3 ([`burst_chain`]). Its bursts have no upper bound, and the chain
/// advances per datagram, not per second. So while only one side was
/// sending, for example an ACK per exponentially backed-off probe, a burst
/// could span a minute and outlast the idle timeout. That does not happen
/// on real links, nor in the runner.
pub fn loss(pct: f64) -> LinkConfig {
    LinkConfig {
        loss: pct / 100.0,
        max_run: Some(INTEROP_MAX_BURST),
        ..interop_baseline()
    }
}

/// The baseline path with the interop runner's corrupt-rate model: one bit
/// of each datagram is flipped (which QUIC's AEAD must reject) with
/// probability `pct / 100`, never more than [`INTEROP_MAX_BURST`] in a row.
pub fn corruption(pct: f64) -> LinkConfig {
    LinkConfig {
        corrupt: pct / 100.0,
        max_run: Some(INTEROP_MAX_BURST),
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
    blackhole_offsets(on, off, until.saturating_duration_since(start))
        .into_iter()
        .map(|(at, dark)| (start + at, dark))
        .collect()
}

/// [`blackhole_schedule`] as offsets from the start (what
/// [`Scenario::with_blackholes`](super::Scenario::with_blackholes) uses).
pub fn blackhole_offsets(on: Duration, off: Duration, until: Duration) -> Vec<(Duration, bool)> {
    let mut switches = vec![(Duration::ZERO, false)];
    if on + off == Duration::ZERO {
        return switches;
    }
    let mut t = Duration::ZERO;
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
    /// loss rate, the mean and the longest run of consecutive losses.
    fn measure(config: LinkConfig, seed: u64) -> (f64, f64, u64) {
        let config = LinkConfig {
            bandwidth: None,
            queue_bytes: None,
            ..config
        };
        let mut link = Link::new(config, seed);
        let now = crate::test_instant();
        let (mut lost, mut runs, mut run, mut longest) = (0u64, 0u64, 0u64, 0u64);
        for _ in 0..DATAGRAMS {
            let dropped = matches!(
                link.send(now, &[0; 100]),
                Outcome::Dropped(DropReason::Loss | DropReason::Burst)
            );
            lost += u64::from(dropped);
            runs += u64::from(dropped && run == 0);
            run = if dropped { run + 1 } else { 0 };
            longest = longest.max(run);
        }
        (
            lost as f64 / DATAGRAMS as f64,
            lost as f64 / runs as f64,
            longest,
        )
    }

    /// The drop-rate model's long-run rate: a Markov chain over the run
    /// length k = 0..=3 loses with probability r from k < 3 and never from
    /// k = 3, so the loss rate is r(1 + r + r²) / (1 + r + r² + r³).
    fn capped_rate(r: f64) -> f64 {
        r * (1.0 + r + r * r) / (1.0 + r + r * r + r * r * r)
    }

    #[test]
    fn two_percent_loss_has_the_rate_and_never_more_than_three_in_a_row() {
        let (rate, _, longest) = measure(loss(2.0), 1);
        assert!((rate - capped_rate(0.02)).abs() < 0.003, "loss rate {rate}");
        assert!(longest <= 3, "run of {longest}");
    }

    #[test]
    fn thirty_percent_loss_has_the_rate_and_runs_of_at_most_three() {
        let (rate, mean, longest) = measure(loss(30.0), 2);
        assert!((rate - capped_rate(0.3)).abs() < 0.01, "loss rate {rate}");
        assert_eq!(longest, 3, "runs reach the cap and stop there");
        assert!(mean > 1.3 && mean < 1.5, "mean run {mean}");
    }

    #[test]
    fn burst_chain_has_its_documented_rate_and_mean_burst() {
        let chain = LinkConfig {
            burst: Some(burst_chain(0.3)),
            ..LinkConfig::default()
        };
        let (rate, mean, _) = measure(chain, 3);
        assert!((rate - 0.30).abs() < 0.01, "loss rate {rate}");
        assert!((mean - 3.0).abs() < 0.1, "mean burst {mean}");
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
