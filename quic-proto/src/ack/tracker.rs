//! Received packets of one packet-number space and when to acknowledge them.

use std::time::{Duration, Instant};

use super::RangeSet;
use crate::coding::{Encoder, VarInt};
use crate::frame::{AckFrame, EcnCounts, FrameType};

/// The default cap on remembered ACK ranges per packet-number space
/// (RFC 9000 §13.2.3). Enough for heavy reordering; an ACK frame with this
/// many ranges still fits easily in one packet.
pub const DEFAULT_MAX_RANGES: usize = 32;

/// The default number of ack-eliciting packets after which an ACK is sent
/// at once (RFC 9000 §13.2.2: "SHOULD send an ACK frame after receiving at
/// least two ack-eliciting packets").
pub const DEFAULT_ACK_ELICITING_THRESHOLD: u32 = 2;

/// The ECN codepoint of a received IP packet (RFC 3168 §5), when it is one
/// of the three that QUIC counts (RFC 9000 §13.4.1). Not-ECT, or an unknown
/// codepoint, is `None` where an `Option<EcnCodepoint>` is asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EcnCodepoint {
    /// ECT(0), ECN field `0b10`.
    Ect0,
    /// ECT(1), ECN field `0b01`.
    Ect1,
    /// ECN-CE (congestion experienced), ECN field `0b11`.
    Ce,
}

impl EcnCodepoint {
    /// The codepoint in the two low bits of an IP TOS / traffic-class byte;
    /// `None` for Not-ECT.
    pub const fn from_bits(tos: u8) -> Option<Self> {
        match tos & 0b11 {
            0b10 => Some(Self::Ect0),
            0b01 => Some(Self::Ect1),
            0b11 => Some(Self::Ce),
            _ => None,
        }
    }

    /// The two-bit ECN field for this codepoint.
    pub const fn bits(self) -> u8 {
        match self {
            Self::Ect0 => 0b10,
            Self::Ect1 => 0b01,
            Self::Ce => 0b11,
        }
    }
}

/// What an ACK frame acknowledged, kept by the connection with the packet
/// that carried it and handed back to [`AckTracker::on_ack_acked`] when that
/// packet is acknowledged (RFC 9000 §13.2.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AckRecord {
    largest: u64,
}

impl AckRecord {
    /// The Largest Acknowledged field of the ACK frame.
    pub const fn largest(self) -> u64 {
        self.largest
    }
}

/// The three ECN counters of a packet-number space (RFC 9000 §13.4.1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct EcnCounters {
    ect0: u64,
    ect1: u64,
    ce: u64,
}

impl EcnCounters {
    fn count(&mut self, codepoint: EcnCodepoint) {
        let c = match codepoint {
            EcnCodepoint::Ect0 => &mut self.ect0,
            EcnCodepoint::Ect1 => &mut self.ect1,
            EcnCodepoint::Ce => &mut self.ce,
        };
        *c = c.saturating_add(1);
    }

    fn to_frame(self) -> EcnCounts {
        EcnCounts {
            ect0: VarInt::saturating(self.ect0),
            ect1: VarInt::saturating(self.ect1),
            ce: VarInt::saturating(self.ce),
        }
    }

    fn any(self) -> bool {
        self.ect0 != 0 || self.ect1 != 0 || self.ce != 0
    }
}

/// The received packets of one packet-number space, and the decision of
/// when to acknowledge them (RFC 9000 §13.2).
///
/// A connection holds one per space: [`AckTracker::immediate`] for Initial
/// and Handshake, [`AckTracker::delayed`] for application data. See the
/// [module documentation](super) for the life of a packet number.
#[derive(Clone, Debug)]
pub struct AckTracker {
    /// Received packet numbers still reported in ACK frames. Its floor is
    /// also the duplicate floor: anything below it is treated as seen.
    received: RangeSet,
    /// The largest packet number received and when (RFC 9000 §13.2.3:
    /// retained even when every range is discarded).
    largest: Option<(u64, Instant)>,
    /// The largest ack-eliciting packet number received (RFC 9000 §13.2.1).
    largest_ack_eliciting: Option<u64>,
    /// Ack-eliciting packets received since the last ACK frame was written.
    unacked_eliciting: u32,
    /// The smallest packet number received since the last ACK frame was
    /// written; `None` if nothing was received since.
    lowest_unreported: Option<u64>,
    /// When an ACK frame must be sent; `None` while no ack-eliciting packet
    /// waits for one.
    deadline: Option<Instant>,
    ecn: EcnCounters,
    /// Initial and Handshake: acknowledge every ack-eliciting packet at once.
    immediate: bool,
    max_ack_delay: Duration,
    threshold: u32,
}

impl AckTracker {
    /// A tracker for the Initial or Handshake space, which acknowledges every
    /// ack-eliciting packet immediately (RFC 9000 §13.2.1: "MUST acknowledge
    /// all ack-eliciting Initial and Handshake packets immediately").
    pub fn immediate() -> Self {
        Self::new(true, Duration::ZERO)
    }

    /// A tracker for the application-data space, which delays ACKs by up to
    /// `max_ack_delay` (RFC 9000 §13.2.1). Pass the advertised max_ack_delay
    /// transport parameter less any expected lateness of the timer, since
    /// the parameter must include it (RFC 9000 §18.2).
    pub fn delayed(max_ack_delay: Duration) -> Self {
        Self::new(false, max_ack_delay)
    }

    fn new(immediate: bool, max_ack_delay: Duration) -> Self {
        Self {
            received: RangeSet::new(DEFAULT_MAX_RANGES),
            largest: None,
            largest_ack_eliciting: None,
            unacked_eliciting: 0,
            lowest_unreported: None,
            deadline: None,
            ecn: EcnCounters::default(),
            immediate,
            max_ack_delay,
            threshold: DEFAULT_ACK_ELICITING_THRESHOLD,
        }
    }

    /// Changes the longest ACK delay for packets received from now on.
    pub fn set_max_ack_delay(&mut self, max_ack_delay: Duration) {
        self.max_ack_delay = max_ack_delay;
    }

    /// Changes how many ack-eliciting packets trigger an ACK at once
    /// (at least 1; default [`DEFAULT_ACK_ELICITING_THRESHOLD`]).
    pub fn set_ack_eliciting_threshold(&mut self, threshold: u32) {
        self.threshold = threshold.max(1);
    }

    /// Changes how many ranges are remembered (at least 1; default
    /// [`DEFAULT_MAX_RANGES`]); the lowest are dropped if there are more.
    pub fn set_max_ranges(&mut self, max_ranges: usize) {
        self.received.set_limit(max_ranges);
    }

    /// Whether packet `pn` must be dropped as a duplicate: it was received
    /// already, or it is below the floor of forgotten packet numbers and may
    /// have been (RFC 9000 §12.3: a receiver "MUST discard a newly
    /// unprotected packet unless it is certain that it has not processed
    /// another packet with the same packet number").
    pub fn is_duplicate(&self, pn: u64) -> bool {
        pn < self.received.floor() || self.received.contains(pn)
    }

    /// Records a packet that was unprotected and processed, at `now`, with
    /// the ECN codepoint of its IP header if readable. Returns `true`, and
    /// changes nothing, if it is a duplicate ([`AckTracker::is_duplicate`]);
    /// the caller then drops it without processing its frames.
    ///
    /// `now` is when the packet arrived; for a packet buffered until its keys
    /// were available, pass its arrival time, so that the ACK Delay includes
    /// the buffering (RFC 9000 §13.2.5).
    ///
    /// A caller may check [`AckTracker::is_duplicate`] first, process the
    /// frames, then record the packet (RFC 9000 §13.1: a packet is not
    /// acknowledged before its frames are processed).
    pub fn on_packet_received(
        &mut self,
        pn: u64,
        now: Instant,
        ack_eliciting: bool,
        ecn: Option<EcnCodepoint>,
    ) -> bool {
        if self.is_duplicate(pn) {
            // RFC 9000 §13.4.1: duplicates do not increase ECN counts.
            return true;
        }
        let out_of_order = ack_eliciting && self.is_out_of_order(pn);
        self.received.insert(pn);
        if self.largest.is_none_or(|(largest, _)| pn > largest) {
            self.largest = Some((pn, now));
        }
        if let Some(codepoint) = ecn {
            self.ecn.count(codepoint);
        }
        self.lowest_unreported = Some(self.lowest_unreported.map_or(pn, |low| low.min(pn)));
        if ack_eliciting {
            self.on_ack_eliciting(pn, now, out_of_order, ecn == Some(EcnCodepoint::Ce));
        }
        // RFC 9000 §13.2.1: a non-ack-eliciting packet never causes an ACK by
        // itself; it is only acknowledged along with others.
        false
    }

    /// RFC 9000 §13.2.1: whether an ack-eliciting packet `pn`, not yet
    /// recorded, should be acknowledged without delay because it arrived
    /// out of order: below a received ack-eliciting packet, or above the
    /// largest one with packets missing in between.
    fn is_out_of_order(&self, pn: u64) -> bool {
        let Some(top) = self.largest_ack_eliciting else {
            return false;
        };
        if pn < top {
            return true;
        }
        // pn > top here (pn == top would be a duplicate). Forgotten packet
        // numbers, below the floor, do not count as missing.
        let lo = top.saturating_add(1).max(self.received.floor());
        let hi = pn.saturating_sub(1);
        lo <= hi && !self.received.contains_range(lo..=hi)
    }

    /// Moves the ACK deadline for a newly received ack-eliciting packet.
    fn on_ack_eliciting(&mut self, pn: u64, now: Instant, out_of_order: bool, ce: bool) {
        if self.largest_ack_eliciting.is_none_or(|top| pn > top) {
            self.largest_ack_eliciting = Some(pn);
        }
        self.unacked_eliciting = self.unacked_eliciting.saturating_add(1);
        // RFC 9000 §13.2.1: Initial and Handshake at once; out-of-order and
        // ECN-CE packets SHOULD be acknowledged without delay. RFC 9000
        // §13.2.2: after `threshold` ack-eliciting packets.
        let now_please =
            self.immediate || out_of_order || ce || self.unacked_eliciting >= self.threshold;
        let due = if now_please {
            now
        } else {
            // RFC 9000 §13.2.1: within max_ack_delay of the first
            // unacknowledged ack-eliciting packet; an earlier deadline stays.
            now.checked_add(self.max_ack_delay).unwrap_or(now)
        };
        self.deadline = Some(self.deadline.map_or(due, |d| d.min(due)));
    }

    /// Asks for an ACK at `now` if any packet is waiting to be acknowledged
    /// (for an IMMEDIATE_ACK frame, or the connection's own reasons).
    pub fn request_immediate_ack(&mut self, now: Instant) {
        if self.lowest_unreported.is_some() {
            self.deadline = Some(self.deadline.map_or(now, |d| d.min(now)));
        }
    }

    /// When an ACK frame must be sent at the latest, for the connection's
    /// timer; `None` while no ack-eliciting packet waits for one. A deadline
    /// at or before the time the packet arrived means "now".
    pub const fn ack_deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// Whether an ACK frame should be sent at `now`: the deadline has come.
    pub fn wants_ack_now(&self, now: Instant) -> bool {
        self.deadline.is_some_and(|d| d <= now)
    }

    /// Whether an ack-eliciting packet is waiting for an ACK frame, now or at
    /// [`AckTracker::ack_deadline`].
    pub const fn ack_pending(&self) -> bool {
        self.deadline.is_some()
    }

    /// Whether any packet, ack-eliciting or not, has been received since the
    /// last ACK frame was written: worth an ACK in a packet sent anyway
    /// (RFC 9000 §13.2: "SHOULD attempt to include an ACK frame if one has not
    /// been sent recently").
    pub const fn has_new_packets(&self) -> bool {
        self.lowest_unreported.is_some()
    }

    /// The largest packet number received, kept even when every range has
    /// been discarded (RFC 9000 §13.2.3), for packet-number decoding
    /// (RFC 9000 §17.1).
    pub fn largest_received(&self) -> Option<u64> {
        self.largest.map(|(pn, _)| pn)
    }

    /// When the largest packet number was received.
    pub fn largest_received_at(&self) -> Option<Instant> {
        self.largest.map(|(_, at)| at)
    }

    /// The received packet numbers still reported in ACK frames.
    pub const fn ranges(&self) -> &RangeSet {
        &self.received
    }

    /// The ECN counts of every packet received in this space, as an ACK_ECN
    /// frame carries them (RFC 9000 §13.4.1, §19.3.2).
    pub fn ecn_counts(&self) -> EcnCounts {
        self.ecn.to_frame()
    }

    /// Writes an ACK frame into `e`, at most `budget` bytes, and returns what
    /// it acknowledged; `None`, with nothing written, if there is nothing to
    /// acknowledge or even the newest range does not fit.
    ///
    /// The frame lists the ranges largest first and drops the oldest ranges
    /// until it fits (RFC 9000 §13.2.3: "older ranges (those with the
    /// smallest packet numbers) are omitted"). It is an ACK_ECN frame once
    /// any packet arrived with an ECN codepoint (RFC 9000 §13.4.1). The ACK
    /// Delay is the time since the largest packet arrived (RFC 9000 §13.2.5),
    /// in microseconds divided by 2^`ack_delay_exponent` (our own transport
    /// parameter, RFC 9000 §19.3).
    ///
    /// Writing clears the pending ACK: the counter of ack-eliciting packets
    /// and the deadline (RFC 9000 §13.2.1: no more than one ACK-only packet
    /// per ack-eliciting packet).
    pub fn write_ack<E: Encoder + ?Sized>(
        &mut self,
        now: Instant,
        ack_delay_exponent: u8,
        e: &mut E,
        budget: usize,
    ) -> Option<AckRecord> {
        let largest = self.received.max()?;
        let delay = self.ack_delay_field(now, ack_delay_exponent);
        let ecn = self.ecn.any().then(|| self.ecn.to_frame());
        let n = fitting_ranges(&self.received, delay, ecn.as_ref(), budget);
        if n == 0 {
            return None;
        }
        AckFrame::encode_ranges(self.received.iter().take(n), delay, ecn.as_ref(), e).ok()?;
        self.unacked_eliciting = 0;
        self.deadline = None;
        self.lowest_unreported = None;
        Some(AckRecord { largest })
    }

    /// The ACK Delay field: microseconds since the largest packet arrived,
    /// shifted right by the exponent (RFC 9000 §19.3).
    fn ack_delay_field(&self, now: Instant, exponent: u8) -> u64 {
        let Some((_, at)) = self.largest else {
            return 0;
        };
        let micros = now.saturating_duration_since(at).as_micros();
        let micros = u64::try_from(micros).unwrap_or(u64::MAX);
        micros.checked_shr(u32::from(exponent)).unwrap_or(0)
    }

    /// A packet carrying the ACK frame described by `record` was
    /// acknowledged: stop reporting packet numbers up to its Largest
    /// Acknowledged (RFC 9000 §13.2.4: "the receiver can stop acknowledging
    /// packets less than or equal to the Largest Acknowledged field in the
    /// sent ACK frame").
    ///
    /// Packets received since the last ACK frame was written are kept even
    /// if they are lower, so every packet is reported at least once. The
    /// pruned packet numbers stay duplicates: the floor rises with them
    /// (RFC 9000 §13.2.3), and the largest received is kept.
    pub fn on_ack_acked(&mut self, record: AckRecord) {
        let mut cut = record.largest.saturating_add(1);
        if let Some(low) = self.lowest_unreported {
            cut = cut.min(low);
        }
        self.received.remove_below(cut);
    }
}

/// How many of `set`'s ranges, newest first, an ACK frame can carry within
/// `budget` bytes; 0 if not even the first fits. Matches the layout
/// [`AckFrame::encode_ranges`] writes (RFC 9000 §19.3).
fn fitting_ranges(set: &RangeSet, delay: u64, ecn: Option<&EcnCounts>, budget: usize) -> usize {
    let mut ranges = set.iter();
    let Some(first) = ranges.next() else {
        return 0;
    };
    let (ty, ecn_len) = match ecn {
        Some(counts) => (
            FrameType::ACK_ECN,
            counts.ect0.size() + counts.ect1.size() + counts.ce.size(),
        ),
        None => (FrameType::ACK, 0),
    };
    let fixed = VarInt::size_of(ty.0)
        + VarInt::size_of(*first.end())
        + VarInt::size_of(delay)
        + VarInt::size_of(first.end() - first.start())
        + ecn_len;
    let total = |count: usize, extra: usize| {
        fixed
            .saturating_add(VarInt::size_of(count as u64))
            .saturating_add(extra)
    };
    if total(0, 0) > budget {
        return 0;
    }
    let (mut n, mut extra, mut prev_smallest) = (1usize, 0usize, *first.start());
    for range in ranges {
        // Gap and ACK Range Length, as RFC 9000 §19.3.1 defines them.
        let gap = prev_smallest.saturating_sub(*range.end()).saturating_sub(2);
        let len = range.end() - range.start();
        extra = extra.saturating_add(VarInt::size_of(gap) + VarInt::size_of(len));
        // The size only grows with the count, so the first miss ends it.
        if total(n, extra) > budget {
            break;
        }
        n += 1;
        prev_smallest = *range.start();
    }
    n
}

#[cfg(test)]
#[path = "tracker_tests.rs"]
mod tests;
