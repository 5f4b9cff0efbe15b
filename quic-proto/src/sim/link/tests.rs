use std::num::NonZeroU64;
use std::time::{Duration, Instant};

use super::*;

/// Any instant will do: the link only looks at differences.
fn base() -> Instant {
    crate::test_instant()
}

const MS: Duration = Duration::from_millis(1);

fn deliveries(outcome: Outcome) -> SmallVec<[Delivery; 2]> {
    match outcome {
        Outcome::Delivered(d) => d,
        Outcome::Dropped(reason) => panic!("unexpectedly dropped: {reason:?}"),
    }
}

fn dropped(outcome: &Outcome) -> Option<DropReason> {
    match outcome {
        Outcome::Dropped(reason) => Some(*reason),
        Outcome::Delivered(_) => None,
    }
}

/// Sends `n` datagrams 1 ms apart and records which were dropped.
fn drop_pattern(config: LinkConfig, seed: u64, n: usize) -> Vec<bool> {
    let mut link = Link::new(config, seed);
    let t0 = base();
    (0..n)
        .map(|i| dropped(&link.send(t0 + MS * i as u32, b"datagram")).is_some())
        .collect()
}

fn rate(count: u64, n: u64) -> f64 {
    count as f64 / n as f64
}

#[test]
fn perfect_link_delivers_in_order_after_exactly_the_delay() {
    let config = LinkConfig {
        delay: 30 * MS,
        ..LinkConfig::default()
    };
    let mut link = Link::new(config, 1);
    let t0 = base();
    for i in 0..100u32 {
        let now = t0 + MS * i;
        let payload = i.to_be_bytes();
        let d = deliveries(link.send(now, &payload));
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].at, now + 30 * MS);
        assert_eq!(d[0].payload, payload);
        assert!(!d[0].corrupted);
    }
    let stats = link.stats();
    assert_eq!(
        (stats.sent, stats.delivered, stats.dropped_total()),
        (100, 100, 0)
    );
    assert_eq!(stats.sent_bytes, 400);
    assert_eq!(stats.delivered_bytes, 400);
}

#[test]
fn default_link_has_no_delay() {
    let mut link = Link::new(LinkConfig::default(), 0);
    let t0 = base();
    assert_eq!(deliveries(link.send(t0, b"x"))[0].at, t0);
}

#[test]
fn random_loss_rate_matches_configuration() {
    let config = LinkConfig {
        loss: 0.1,
        ..LinkConfig::default()
    };
    let pattern = drop_pattern(config, 7, 100_000);
    let lost = pattern.iter().filter(|&&d| d).count() as u64;
    // Standard deviation is ~0.00095; allow about 5 of them.
    assert!((rate(lost, 100_000) - 0.1).abs() < 0.005, "lost {lost}");
}

#[test]
fn same_seed_gives_same_drops_and_another_seed_differs() {
    let config = LinkConfig {
        loss: 0.2,
        ..LinkConfig::default()
    };
    let a = drop_pattern(config.clone(), 42, 10_000);
    let b = drop_pattern(config.clone(), 42, 10_000);
    let c = drop_pattern(config, 43, 10_000);
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[test]
fn loss_drops_are_counted_as_loss() {
    let config = LinkConfig {
        loss: 1.0,
        ..LinkConfig::default()
    };
    let mut link = Link::new(config, 0);
    assert_eq!(dropped(&link.send(base(), b"x")), Some(DropReason::Loss));
    assert_eq!(link.stats().dropped(DropReason::Loss), 1);
    assert_eq!(link.stats().delivered, 0);
}

/// Mean length of the runs of consecutive `true`s.
fn mean_run_length(pattern: &[bool]) -> f64 {
    let runs = pattern.split(|&lost| !lost).filter(|run| !run.is_empty());
    let (count, total) = runs.fold((0u64, 0u64), |(c, t), run| (c + 1, t + run.len() as u64));
    rate(total, count)
}

#[test]
fn gilbert_elliott_loses_in_bursts_of_the_expected_length() {
    let config = LinkConfig {
        burst: Some(GilbertElliott {
            p_good_to_bad: 0.01,
            p_bad_to_good: 0.25,
            loss_in_bad: 1.0,
            loss_in_good: 0.0,
        }),
        ..LinkConfig::default()
    };
    let pattern = drop_pattern(config, 3, 100_000);
    let mean = mean_run_length(&pattern);
    assert!((mean - 4.0).abs() < 0.5, "mean burst length {mean}");
    // Long-run loss rate: 0.01 / (0.01 + 0.25).
    let lost = pattern.iter().filter(|&&d| d).count() as u64;
    assert!((rate(lost, 100_000) - 0.0385).abs() < 0.01, "lost {lost}");
}

#[test]
fn burst_drops_are_counted_as_burst() {
    let config = LinkConfig {
        burst: Some(GilbertElliott {
            p_good_to_bad: 1.0,
            p_bad_to_good: 0.0,
            loss_in_bad: 1.0,
            loss_in_good: 0.0,
        }),
        ..LinkConfig::default()
    };
    let mut link = Link::new(config, 3);
    assert_eq!(dropped(&link.send(base(), b"x")), Some(DropReason::Burst));
    // Leaving the burst model out resets the chain to the good state.
    link.set_config(LinkConfig::default());
    assert_eq!(dropped(&link.send(base(), b"x")), None);
    assert_eq!(
        (link.stats().dropped_burst, link.stats().dropped_loss),
        (1, 0)
    );
}

#[test]
fn independent_loss_at_the_same_rate_has_short_runs() {
    let config = LinkConfig {
        loss: 0.0385,
        ..LinkConfig::default()
    };
    let mean = mean_run_length(&drop_pattern(config, 3, 100_000));
    assert!(mean < 1.2, "mean run length {mean}");
}

#[test]
fn duplication_rate_matches_and_copies_are_identical() {
    let config = LinkConfig {
        delay: 5 * MS,
        duplicate: 0.05,
        ..LinkConfig::default()
    };
    let mut link = Link::new(config, 11);
    let t0 = base();
    let payload = [0xab; 64];
    let mut doubled = 0u64;
    for i in 0..100_000u32 {
        let d = deliveries(link.send(t0 + MS * i, &payload));
        if d.len() == 2 {
            doubled += 1;
            assert!(d.iter().all(|c| c.payload == payload));
        }
    }
    assert!(
        (rate(doubled, 100_000) - 0.05).abs() < 0.004,
        "doubled {doubled}"
    );
    let stats = link.stats();
    assert_eq!(stats.duplicated, doubled);
    assert_eq!(stats.delivered, 100_000 + doubled);
}

#[test]
fn corruption_flips_exactly_one_bit_at_the_configured_rate() {
    let config = LinkConfig {
        corrupt: 0.05,
        ..LinkConfig::default()
    };
    let mut link = Link::new(config, 5);
    let payload: Vec<u8> = (0..=255u8).collect();
    let mut corrupted = 0u64;
    for _ in 0..100_000 {
        let d = deliveries(link.send(base(), &payload));
        let flipped: u32 = d[0]
            .payload
            .iter()
            .zip(&payload)
            .map(|(a, b)| (a ^ b).count_ones())
            .sum();
        assert_eq!(flipped, u32::from(d[0].corrupted));
        corrupted += u64::from(d[0].corrupted);
    }
    assert!(
        (rate(corrupted, 100_000) - 0.05).abs() < 0.004,
        "corrupted {corrupted}"
    );
    assert_eq!(link.stats().corrupted, corrupted);
}

#[test]
fn corruption_of_an_empty_datagram_changes_nothing() {
    let config = LinkConfig {
        corrupt: 1.0,
        ..LinkConfig::default()
    };
    let mut link = Link::new(config, 5);
    let d = deliveries(link.send(base(), &[]));
    assert!(d[0].payload.is_empty());
    assert!(!d[0].corrupted);
}

fn ten_mbit(queue_bytes: Option<usize>) -> LinkConfig {
    LinkConfig {
        delay: 10 * MS,
        bandwidth: NonZeroU64::new(10_000_000),
        queue_bytes,
        ..LinkConfig::default()
    }
}

#[test]
fn bandwidth_spaces_datagrams_by_their_serialization_time() {
    let mut link = Link::new(ten_mbit(None), 0);
    let t0 = base();
    // 1250 bytes = 10_000 bits = 1 ms at 10 Mbit/s.
    for i in 1..=20u32 {
        let d = deliveries(link.send(t0, &[0; 1250]));
        assert_eq!(d[0].at, t0 + 10 * MS + MS * i);
    }
    assert_eq!(link.backlog_bytes(t0), 20 * 1250);
    assert_eq!(link.backlog_bytes(t0 + 4 * MS), 16 * 1250);
    // An idle link starts serializing at once.
    let later = t0 + Duration::from_secs(1);
    assert_eq!(link.backlog_bytes(later), 0);
    assert_eq!(
        deliveries(link.send(later, &[0; 1250]))[0].at,
        later + 11 * MS
    );
}

#[test]
fn drop_tail_queue_drops_when_overfilled() {
    let mut link = Link::new(ten_mbit(Some(5000)), 0);
    let t0 = base();
    let outcomes: Vec<_> = (0..10)
        .map(|_| dropped(&link.send(t0, &[0; 1250])))
        .collect();
    assert_eq!(outcomes[..4], [None; 4]);
    assert_eq!(outcomes[4..], [Some(DropReason::Queue); 6]);
    assert_eq!(link.stats().dropped_queue, 6);
    // One datagram drains per millisecond, making room for one more.
    let t1 = t0 + MS;
    let d = deliveries(link.send(t1, &[0; 1250]));
    assert_eq!(d[0].at, t0 + 15 * MS);
    assert_eq!(dropped(&link.send(t1, &[0; 1250])), Some(DropReason::Queue));
}

#[test]
fn oversized_datagrams_are_dropped_at_the_mtu() {
    let config = LinkConfig {
        mtu: Some(1200),
        ..LinkConfig::default()
    };
    let mut link = Link::new(config, 0);
    assert_eq!(dropped(&link.send(base(), &[0; 1200])), None);
    assert_eq!(
        dropped(&link.send(base(), &[0; 1201])),
        Some(DropReason::Mtu)
    );
    assert_eq!(link.stats().dropped_mtu, 1);
}

#[test]
fn blackhole_drops_everything() {
    let config = LinkConfig {
        blackhole: true,
        ..LinkConfig::default()
    };
    let mut link = Link::new(config, 0);
    for i in 0..100u32 {
        let outcome = link.send(base() + MS * i, b"x");
        assert_eq!(dropped(&outcome), Some(DropReason::Blackhole));
    }
    let stats = link.stats();
    assert_eq!((stats.dropped_blackhole, stats.delivered), (100, 0));
}

/// Arrival times of 1000 datagrams sent 1 ms apart over a jittery link.
fn jittered_arrivals(reorder: bool) -> Vec<Instant> {
    let config = LinkConfig {
        delay: 10 * MS,
        jitter: 20 * MS,
        reorder,
        ..LinkConfig::default()
    };
    let mut link = Link::new(config, 9);
    let t0 = base();
    (0..1000u32)
        .map(|i| {
            let now = t0 + MS * i;
            let at = deliveries(link.send(now, b"x"))[0].at;
            assert!(at >= now + 10 * MS && (reorder || at <= now + 30 * MS));
            at
        })
        .collect()
}

#[test]
fn jitter_without_reorder_keeps_the_link_fifo() {
    let arrivals = jittered_arrivals(false);
    assert!(arrivals.windows(2).all(|w| w[0] <= w[1]));
    assert!(arrivals.windows(2).any(|w| w[0] < w[1]));
}

#[test]
fn jitter_with_reorder_sometimes_reorders() {
    let arrivals = jittered_arrivals(true);
    let reordered = arrivals.windows(2).filter(|w| w[1] < w[0]).count();
    assert!(reordered > 100, "only {reordered} reordered");
}

#[test]
fn set_config_applies_to_later_datagrams() {
    let mut link = Link::new(ten_mbit(None), 0);
    let t0 = base();
    assert_eq!(deliveries(link.send(t0, &[0; 1250]))[0].at, t0 + 11 * MS);
    link.set_config(LinkConfig {
        delay: 50 * MS,
        ..LinkConfig::default()
    });
    assert_eq!(link.config().delay, 50 * MS);
    let t1 = t0 + 100 * MS;
    assert_eq!(deliveries(link.send(t1, &[0; 1250]))[0].at, t1 + 50 * MS);
    link.set_config(LinkConfig {
        blackhole: true,
        ..LinkConfig::default()
    });
    assert_eq!(dropped(&link.send(t1, b"x")), Some(DropReason::Blackhole));
    assert_eq!(link.stats().sent, 3);
}

#[test]
fn shorter_delay_does_not_overtake_without_reorder() {
    let config = LinkConfig {
        delay: 100 * MS,
        ..LinkConfig::default()
    };
    let mut link = Link::new(config, 0);
    let t0 = base();
    let first = deliveries(link.send(t0, b"a"))[0].at;
    link.set_config(LinkConfig::default());
    let second = deliveries(link.send(t0 + MS, b"b"))[0].at;
    assert_eq!(second, first);
}

#[test]
fn every_offered_datagram_is_delivered_or_dropped_once() {
    let config = LinkConfig {
        delay: 20 * MS,
        jitter: 5 * MS,
        loss: 0.05,
        burst: Some(GilbertElliott {
            p_good_to_bad: 0.02,
            p_bad_to_good: 0.3,
            loss_in_bad: 0.8,
            loss_in_good: 0.0,
        }),
        duplicate: 0.02,
        corrupt: 0.02,
        bandwidth: NonZeroU64::new(1_000_000),
        queue_bytes: Some(20_000),
        mtu: Some(1400),
        ..LinkConfig::default()
    };
    let mut link = Link::new(config, 77);
    let t0 = base();
    for i in 0..10_000u32 {
        let size = 100 + (i as usize * 37) % 1400;
        let _ = link.send(t0 + MS * i, &vec![0; size]);
    }
    let s = link.stats();
    assert_eq!(s.sent, 10_000);
    assert_eq!(s.delivered - s.duplicated + s.dropped_total(), s.sent);
    for reason in [
        DropReason::Loss,
        DropReason::Burst,
        DropReason::Queue,
        DropReason::Mtu,
    ] {
        assert!(s.dropped(reason) > 0, "no {reason:?} drops");
    }
}
