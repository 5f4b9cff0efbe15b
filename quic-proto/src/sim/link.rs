//! One direction of a simulated network path.

use std::num::NonZeroU64;
use std::time::{Duration, Instant};

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use smallvec::SmallVec;

const NANOS_PER_SEC: u128 = 1_000_000_000;

/// The impairments of one link direction. `Default` is a perfect link: no
/// delay, no loss, unlimited bandwidth.
///
/// Probabilities are used as given: a value `<= 0` (or NaN) never fires, a
/// value `>= 1` always fires.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LinkConfig {
    /// Fixed one-way delay added to every datagram.
    pub delay: Duration,
    /// Extra delay drawn uniformly from `[0, jitter]` per datagram.
    pub jitter: Duration,
    /// Whether jitter may reorder datagrams. If false, a datagram arrives no
    /// earlier than the one sent before it (the link stays FIFO).
    pub reorder: bool,
    /// Probability that a datagram is lost, independently of the others.
    pub loss: f64,
    /// Correlated (bursty) loss, applied in addition to `loss`.
    pub burst: Option<GilbertElliott>,
    /// At most this many datagrams in a row are lost to `loss` and `burst`
    /// (the next one goes through), and at most this many in a row are
    /// corrupted: the QUIC interop runner's drop-rate and corrupt-rate
    /// scenarios cap their runs this way (`--burst`). `None`: no cap.
    pub max_run: Option<u32>,
    /// Probability that a datagram is delivered twice.
    pub duplicate: f64,
    /// Probability that one random bit of a delivered copy is flipped.
    pub corrupt: f64,
    /// Bottleneck rate in bits per second; a datagram of `n` bytes occupies
    /// the link for `n * 8 / bandwidth` seconds. `None`: unlimited.
    pub bandwidth: Option<NonZeroU64>,
    /// Drop-tail limit on the bytes waiting for the bottleneck, including the
    /// offered datagram. Only meaningful with `bandwidth`.
    pub queue_bytes: Option<usize>,
    /// Datagrams larger than this many bytes are dropped.
    pub mtu: Option<usize>,
    /// Drop every datagram.
    pub blackhole: bool,
}

/// The two-state Gilbert-Elliott loss model: the link is either *good* or
/// *bad*, switches state before each datagram with the given probabilities,
/// and loses the datagram with the loss probability of its current state.
///
/// With `loss_in_bad = 1` and `loss_in_good = 0`, losses come in runs of mean
/// length `1 / p_bad_to_good`, and the long-run loss rate is
/// `p_good_to_bad / (p_good_to_bad + p_bad_to_good)`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct GilbertElliott {
    /// Probability of moving from the good to the bad state per datagram.
    pub p_good_to_bad: f64,
    /// Probability of moving from the bad to the good state per datagram.
    pub p_bad_to_good: f64,
    /// Loss probability while in the bad state.
    pub loss_in_bad: f64,
    /// Loss probability while in the good state.
    pub loss_in_good: f64,
}

/// Why a link dropped a datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DropReason {
    /// Independent random loss (`LinkConfig::loss`).
    Loss,
    /// Gilbert-Elliott burst loss (`LinkConfig::burst`).
    Burst,
    /// The drop-tail queue in front of the bottleneck was full.
    Queue,
    /// The datagram exceeded the link MTU.
    Mtu,
    /// The link drops everything.
    Blackhole,
}

/// One copy of a datagram arriving at the far end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// When the copy arrives.
    pub at: Instant,
    /// The bytes that arrive (one bit differs from the original if
    /// `corrupted`).
    pub payload: Vec<u8>,
    /// Whether a bit of this copy was flipped.
    pub corrupted: bool,
}

/// What a link does with an offered datagram.
#[must_use = "a delivered datagram must be scheduled at its arrival time"]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The datagram never arrives.
    Dropped(DropReason),
    /// One copy, or two if duplicated, in no particular order of `at`.
    Delivered(SmallVec<[Delivery; 2]>),
}

/// Counters of everything a link did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LinkStats {
    /// Datagrams offered with [`Link::send`].
    pub sent: u64,
    /// Bytes offered.
    pub sent_bytes: u64,
    /// Copies delivered (a duplicated datagram counts twice).
    pub delivered: u64,
    /// Bytes delivered, counting every copy.
    pub delivered_bytes: u64,
    /// Datagrams dropped by independent random loss.
    pub dropped_loss: u64,
    /// Datagrams dropped by burst loss.
    pub dropped_burst: u64,
    /// Datagrams dropped because the queue was full.
    pub dropped_queue: u64,
    /// Datagrams dropped for exceeding the MTU.
    pub dropped_mtu: u64,
    /// Datagrams dropped by a blackholed link.
    pub dropped_blackhole: u64,
    /// Datagrams delivered twice.
    pub duplicated: u64,
    /// Copies delivered with a flipped bit.
    pub corrupted: u64,
}

impl LinkStats {
    /// Datagrams dropped for `reason`.
    pub fn dropped(&self, reason: DropReason) -> u64 {
        match reason {
            DropReason::Loss => self.dropped_loss,
            DropReason::Burst => self.dropped_burst,
            DropReason::Queue => self.dropped_queue,
            DropReason::Mtu => self.dropped_mtu,
            DropReason::Blackhole => self.dropped_blackhole,
        }
    }

    /// Datagrams dropped for any reason.
    pub fn dropped_total(&self) -> u64 {
        self.dropped_loss
            + self.dropped_burst
            + self.dropped_queue
            + self.dropped_mtu
            + self.dropped_blackhole
    }

    fn count_drop(&mut self, reason: DropReason) {
        let counter = match reason {
            DropReason::Loss => &mut self.dropped_loss,
            DropReason::Burst => &mut self.dropped_burst,
            DropReason::Queue => &mut self.dropped_queue,
            DropReason::Mtu => &mut self.dropped_mtu,
            DropReason::Blackhole => &mut self.dropped_blackhole,
        };
        *counter += 1;
    }
}

/// One direction of a simulated path: applies a [`LinkConfig`] to each
/// offered datagram, deterministically from its seed.
///
/// A datagram goes through, in order: blackhole, MTU, the bottleneck queue
/// (a queued datagram occupies the bottleneck even if it is lost later),
/// random loss, burst loss, then per copy delay, jitter and corruption.
#[derive(Clone, Debug)]
pub struct Link {
    config: LinkConfig,
    rng: ChaCha8Rng,
    /// When the bottleneck finishes serializing everything accepted so far.
    busy_until: Option<Instant>,
    /// The latest arrival scheduled, to keep the link FIFO without `reorder`.
    last_arrival: Option<Instant>,
    /// Gilbert-Elliott state.
    in_bad_state: bool,
    /// Datagrams lost in a row (by `loss` or `burst`), for `max_run`.
    lost_in_a_row: u32,
    /// Datagrams corrupted in a row, for `max_run`.
    corrupted_in_a_row: u32,
    stats: LinkStats,
}

impl Link {
    /// A link with `config` whose random choices all derive from `seed`.
    pub fn new(config: LinkConfig, seed: u64) -> Self {
        Self {
            config,
            rng: ChaCha8Rng::seed_from_u64(seed),
            busy_until: None,
            last_arrival: None,
            in_bad_state: false,
            lost_in_a_row: 0,
            corrupted_in_a_row: 0,
            stats: LinkStats::default(),
        }
    }

    /// The current impairments.
    pub fn config(&self) -> &LinkConfig {
        &self.config
    }

    /// Changes the impairments for datagrams offered from now on. Datagrams
    /// already queued keep their schedule; the burst state resets to good
    /// only if `config.burst` is `None`.
    pub fn set_config(&mut self, config: LinkConfig) {
        if config.burst.is_none() {
            self.in_bad_state = false;
        }
        self.config = config;
    }

    /// The counters so far.
    pub fn stats(&self) -> LinkStats {
        self.stats
    }

    /// Bytes waiting for (or being serialized by) the bottleneck at `now`;
    /// zero without a bandwidth limit.
    pub fn backlog_bytes(&self, now: Instant) -> u64 {
        match (self.config.bandwidth, self.busy_until) {
            (Some(bandwidth), Some(busy)) => {
                let nanos = busy.saturating_duration_since(now).as_nanos();
                let bytes = nanos * u128::from(bandwidth.get()) / 8 / NANOS_PER_SEC;
                u64::try_from(bytes).unwrap_or(u64::MAX)
            }
            _ => 0,
        }
    }

    /// Offers `datagram` to the link at `now` and returns its fate. Allocates
    /// only the delivered copies.
    pub fn send(&mut self, now: Instant, datagram: &[u8]) -> Outcome {
        self.stats.sent += 1;
        self.stats.sent_bytes += datagram.len() as u64;
        match self.transmit(now, datagram) {
            Ok(deliveries) => {
                for d in &deliveries {
                    self.stats.delivered += 1;
                    self.stats.delivered_bytes += d.payload.len() as u64;
                    self.stats.corrupted += u64::from(d.corrupted);
                }
                self.stats.duplicated += u64::from(deliveries.len() > 1);
                Outcome::Delivered(deliveries)
            }
            Err(reason) => {
                self.stats.count_drop(reason);
                Outcome::Dropped(reason)
            }
        }
    }

    fn transmit(
        &mut self,
        now: Instant,
        datagram: &[u8],
    ) -> Result<SmallVec<[Delivery; 2]>, DropReason> {
        if self.config.blackhole {
            return Err(DropReason::Blackhole);
        }
        if self.config.mtu.is_some_and(|mtu| datagram.len() > mtu) {
            return Err(DropReason::Mtu);
        }
        let departure = self.enqueue(now, datagram.len())?;
        if let Some(reason) = self.random_loss() {
            return Err(reason);
        }
        let copies = if self.chance(self.config.duplicate) {
            2
        } else {
            1
        };
        let mut deliveries = SmallVec::new();
        for _ in 0..copies {
            let at = self.arrival(departure);
            let mut payload = datagram.to_vec();
            let corrupted = self.corrupt_next() && self.flip_bit(&mut payload);
            deliveries.push(Delivery {
                at,
                payload,
                corrupted,
            });
        }
        Ok(deliveries)
    }

    /// Passes `size` bytes through the bottleneck: returns when the datagram
    /// has been fully serialized, or a queue drop.
    fn enqueue(&mut self, now: Instant, size: usize) -> Result<Instant, DropReason> {
        let Some(bandwidth) = self.config.bandwidth else {
            return Ok(now);
        };
        if let Some(limit) = self.config.queue_bytes {
            let backlog = self.backlog_bytes(now);
            if backlog.saturating_add(size as u64) > limit as u64 {
                return Err(DropReason::Queue);
            }
        }
        let start = self.busy_until.map_or(now, |busy| busy.max(now));
        let departure = start + serialization_time(size, bandwidth);
        self.busy_until = Some(departure);
        Ok(departure)
    }

    /// Arrival time of one copy that left the bottleneck at `departure`.
    fn arrival(&mut self, departure: Instant) -> Instant {
        let jitter = self.uniform_duration(self.config.jitter);
        let mut at = departure + self.config.delay + jitter;
        if !self.config.reorder {
            if let Some(last) = self.last_arrival {
                at = at.max(last);
            }
        }
        self.last_arrival = Some(self.last_arrival.map_or(at, |last| last.max(at)));
        at
    }

    /// Random and burst loss, within `max_run`.
    fn random_loss(&mut self) -> Option<DropReason> {
        if self
            .config
            .max_run
            .is_some_and(|max| self.lost_in_a_row >= max)
        {
            self.lost_in_a_row = 0;
            return None;
        }
        let reason = if self.chance(self.config.loss) {
            Some(DropReason::Loss)
        } else if self.burst_loss() {
            Some(DropReason::Burst)
        } else {
            None
        };
        self.lost_in_a_row = if reason.is_some() {
            self.lost_in_a_row.saturating_add(1)
        } else {
            0
        };
        reason
    }

    /// Whether to corrupt the next copy, within `max_run`.
    fn corrupt_next(&mut self) -> bool {
        if self
            .config
            .max_run
            .is_some_and(|max| self.corrupted_in_a_row >= max)
        {
            self.corrupted_in_a_row = 0;
            return false;
        }
        let corrupt = self.chance(self.config.corrupt);
        self.corrupted_in_a_row = if corrupt {
            self.corrupted_in_a_row.saturating_add(1)
        } else {
            0
        };
        corrupt
    }

    /// Steps the Gilbert-Elliott chain and draws a loss in the new state.
    fn burst_loss(&mut self) -> bool {
        let Some(ge) = self.config.burst else {
            return false;
        };
        let switch = if self.in_bad_state {
            ge.p_bad_to_good
        } else {
            ge.p_good_to_bad
        };
        if self.chance(switch) {
            self.in_bad_state = !self.in_bad_state;
        }
        let loss = if self.in_bad_state {
            ge.loss_in_bad
        } else {
            ge.loss_in_good
        };
        self.chance(loss)
    }

    /// Flips one uniformly chosen bit; false if there is none to flip.
    fn flip_bit(&mut self, payload: &mut [u8]) -> bool {
        let bits = (payload.len() as u64).saturating_mul(8);
        if bits == 0 {
            return false;
        }
        let bit = self.below(bits);
        // `bit < bits = len * 8`, so `bit / 8 < len`.
        if let Some(byte) = payload.get_mut((bit / 8) as usize) {
            *byte ^= 1 << (bit % 8);
            return true;
        }
        false
    }

    /// True with probability `p`; draws nothing when `p <= 0` (or NaN), so a
    /// perfect link consumes no randomness.
    fn chance(&mut self, p: f64) -> bool {
        if p.is_nan() || p <= 0.0 {
            return false;
        }
        // 53 random bits: a uniform float in [0, 1).
        let unit = (self.rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        unit < p
    }

    /// Uniform in `[0, max]`; draws nothing when `max` is zero.
    fn uniform_duration(&mut self, max: Duration) -> Duration {
        let nanos = u64::try_from(max.as_nanos()).unwrap_or(u64::MAX);
        if nanos == 0 {
            return Duration::ZERO;
        }
        Duration::from_nanos(self.below(nanos.saturating_add(1)))
    }

    /// Uniform in `[0, n)` for `n > 0` (multiply-high; bias below 2^-64 * n).
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.rng.next_u64()) * u128::from(n)) >> 64) as u64
    }
}

/// Time to put `size` bytes on a link of `bandwidth` bits per second, rounded
/// up to the nanosecond so the link never exceeds its rate.
fn serialization_time(size: usize, bandwidth: NonZeroU64) -> Duration {
    let bits = size as u128 * 8;
    let nanos = (bits * NANOS_PER_SEC).div_ceil(u128::from(bandwidth.get()));
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests;
