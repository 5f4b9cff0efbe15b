//! Sent-packet tracking for one packet-number space (RFC 9002 §2, Appendix
//! A.1): a dense queue of small records indexed by packet number. See
//! [`SentPackets`] for the layout.

use core::mem;
use core::ops::{Range, RangeInclusive};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

use smallvec::SmallVec;

use super::persistent::LostRun;
use super::PACKET_THRESHOLD;
use crate::TransportError;

const ACK_ELICITING: u8 = 1;
const IN_FLIGHT: u8 = 2;
/// Internal: acknowledged by the ACK being processed, not yet handed back.
const ACKED: u8 = 4;
const MTU_PROBE: u8 = 8;

/// How many skipped packet numbers are remembered after they leave the
/// queue, to recognise an acknowledgment of one (RFC 9000 §13.1).
const SKIPPED_HISTORY: usize = 4;

/// The queue's capacity is never shrunk below this many slots.
const MIN_CAPACITY: usize = 64;

/// What loss recovery keeps about one sent packet (RFC 9002 Appendix A.1.1),
/// plus the connection's record `R` of what the packet carried.
///
/// The packet number is not stored: it is the record's position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SentPacket<R> {
    /// When the packet was sent.
    pub time_sent: Instant,
    /// The connection's record of what the packet carried.
    pub record: R,
    /// The bytes sent: the QUIC packet including header and AEAD tag, not
    /// UDP or IP headers (RFC 9002 Appendix A.1.1, sent_bytes).
    pub size: u16,
    flags: u8,
}

impl<R> SentPacket<R> {
    /// A packet sent at `time_sent` with `size` bytes. `ack_eliciting`:
    /// it carries a frame other than ACK, PADDING or CONNECTION_CLOSE
    /// (RFC 9000 §13.2.1). `in_flight`: it counts toward bytes in flight,
    /// which is every ack-eliciting packet and every packet with PADDING
    /// (RFC 9002 §2).
    pub const fn new(
        time_sent: Instant,
        size: u16,
        ack_eliciting: bool,
        in_flight: bool,
        record: R,
    ) -> Self {
        let flags = (ack_eliciting as u8 * ACK_ELICITING) | (in_flight as u8 * IN_FLIGHT);
        Self {
            time_sent,
            record,
            size,
            flags,
        }
    }

    /// Marks the packet as a PMTU probe when `probe` is true (RFC 9000
    /// §14.4): in flight like any packet, but its loss is not a congestion
    /// signal and does not count toward persistent congestion.
    #[must_use]
    pub const fn with_mtu_probe(mut self, probe: bool) -> Self {
        self.flags |= probe as u8 * MTU_PROBE;
        self
    }

    /// Whether the packet is a PMTU probe (see [`SentPacket::with_mtu_probe`]).
    pub const fn is_mtu_probe(&self) -> bool {
        self.flags & MTU_PROBE != 0
    }

    /// Whether the packet is ack-eliciting.
    pub const fn ack_eliciting(&self) -> bool {
        self.flags & ACK_ELICITING != 0
    }

    /// Whether the packet counts toward bytes in flight.
    pub const fn in_flight(&self) -> bool {
        self.flags & IN_FLIGHT != 0
    }

    const fn acked(&self) -> bool {
        self.flags & ACKED != 0
    }

    /// The packet as handed back to the caller, without internal marks.
    fn released(mut self) -> Self {
        self.flags &= !ACKED;
        self
    }
}

/// One packet number's slot in the queue.
#[derive(Debug)]
enum Slot<R> {
    Sent(SentPacket<R>),
    /// Acknowledged and handed back.
    Acked,
    /// Declared lost, or never sent (a skipped packet number).
    Gone,
}

/// Bytes and ack-eliciting packets in flight.
#[derive(Clone, Copy, Debug, Default)]
struct InFlight {
    bytes: u64,
    ack_eliciting: u64,
}

impl InFlight {
    fn add<R>(&mut self, p: &SentPacket<R>) {
        if p.in_flight() {
            self.bytes = self.bytes.saturating_add(u64::from(p.size));
            if p.ack_eliciting() {
                self.ack_eliciting = self.ack_eliciting.saturating_add(1);
            }
        }
    }

    /// Removes what [`InFlight::add`] counted into `other`, as
    /// [`InFlight::remove`] of each of its packets would.
    fn remove_all(&mut self, other: Self) {
        debug_assert!(self.bytes >= other.bytes, "bytes in flight underflow");
        debug_assert!(
            self.ack_eliciting >= other.ack_eliciting,
            "ack-eliciting count underflow"
        );
        self.bytes = self.bytes.saturating_sub(other.bytes);
        self.ack_eliciting = self.ack_eliciting.saturating_sub(other.ack_eliciting);
    }

    fn remove<R>(&mut self, p: &SentPacket<R>) {
        if p.in_flight() {
            debug_assert!(self.bytes >= u64::from(p.size), "bytes in flight underflow");
            self.bytes = self.bytes.saturating_sub(u64::from(p.size));
            if p.ack_eliciting() {
                debug_assert!(self.ack_eliciting > 0, "ack-eliciting count underflow");
                self.ack_eliciting = self.ack_eliciting.saturating_sub(1);
            }
        }
    }
}

/// What one ACK frame did to a space, as returned by
/// [`SentPackets::on_ack_received`] and inside
/// [`AckOutcome`](super::AckOutcome).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AckSummary {
    /// The largest packet number the ACK acknowledges; `None` when it had
    /// no ranges.
    pub largest: Option<u64>,
    /// Whether that is larger than any packet number acknowledged before.
    /// RFC 9000 §13.4.2.1: ECN counts are validated only for such ACKs.
    pub largest_acked_increased: bool,
    /// How many packets this ACK newly acknowledged.
    pub newly_acked: u64,
    /// Whether any newly acknowledged packet was ack-eliciting.
    pub ack_eliciting_acked: bool,
    /// When the ACK's largest packet was sent, if this ACK newly
    /// acknowledged it: the base of the RTT sample (RFC 9002 §5.1) and the
    /// send time to give [`Controller::on_ecn_ce`] when the ECN-CE count
    /// grows (RFC 9002 Appendix B.7).
    ///
    /// [`Controller::on_ecn_ce`]: crate::congestion::Controller::on_ecn_ce
    pub largest_sent_time: Option<Instant>,
}

/// Packets declared lost by one scan.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct LossScan {
    /// How many packets were declared lost.
    pub(super) packets: u64,
    /// Their bytes that counted in flight, PMTU probes excepted.
    pub(super) in_flight_bytes: u64,
    /// When the last of those in flight (PMTU probes excepted) was sent.
    pub(super) largest_in_flight_sent: Option<Instant>,
    /// The longest span of lost ack-eliciting packets with nothing
    /// acknowledged in between (RFC 9002 §7.6.2).
    pub(super) persistent_span: Duration,
}

/// The sent packets of one packet-number space (RFC 9002 Appendix A.1).
///
/// # Layout
///
/// Packet numbers only grow (RFC 9000 §12.3), so the records of a space live
/// in a [`VecDeque`] where the record of packet number `pn` sits at index
/// `pn - first_pn`. Finding the record an ACK range names is an index, not a
/// search. A slot is one of:
///
/// - a [`SentPacket`] still awaiting its fate;
/// - an *acknowledged* tombstone, kept while an older packet is still
///   outstanding, because persistent congestion (RFC 9002 §7.6.2) must know
///   whether anything between two lost packets was acknowledged;
/// - a *gone* tombstone: declared lost, or a packet number the sender
///   skipped (RFC 9000 §21.4).
///
/// Tombstones are popped from the front as soon as no outstanding packet
/// precedes them, so memory stays proportional to the packet numbers between
/// the oldest outstanding packet and the newest sent one. When the queue
/// falls under a quarter of its capacity the capacity is halved (never below
/// 64 slots), so a burst does not leave an idle connection large.
///
/// # What a packet carried
///
/// The record is generic: [`SentPackets<R>`] stores one `R` per packet and
/// hands it back, by value, when the packet is acknowledged, declared lost
/// or discarded. The connection picks `R`: a `u32` index or a `Range<u32>`
/// into its own log of "frame X covered stream S bytes a..b", a small enum,
/// or `()` when only counting. Keeping the log outside means this type never
/// allocates per frame and the components that wrote the frames own their
/// retransmission state (see `design.md`, "Components own their frames").
/// With `R = u32` a slot is 24 bytes; with `R = Range<u32>`, 32.
///
/// # Cost
///
/// Sending is amortised O(1). An ACK costs O(ranges + slots the ranges
/// cover inside the queue); ranges below the oldest outstanding packet cost
/// nothing, so a peer repeating old ranges gains no work. Loss detection
/// walks from the oldest outstanding packet to the largest acknowledged;
/// everything `kPacketThreshold` below that is declared lost on the way, so
/// the walk is amortised O(1) per packet.
#[derive(Debug)]
pub struct SentPackets<R> {
    slots: VecDeque<Slot<R>>,
    /// The packet number of `slots[0]`; `first_pn + slots.len()` is the
    /// next packet number to send.
    first_pn: u64,
    largest_acked: Option<u64>,
    in_flight: InFlight,
    last_ack_eliciting: Option<Instant>,
    loss_time: Option<Instant>,
    skipped: SmallVec<[u64; SKIPPED_HISTORY]>,
}

impl<R> Default for SentPackets<R> {
    fn default() -> Self {
        Self::new()
    }
}

impl<R> SentPackets<R> {
    /// An empty space; allocates nothing until the first packet.
    pub fn new() -> Self {
        Self {
            slots: VecDeque::new(),
            first_pn: 0,
            largest_acked: None,
            in_flight: InFlight::default(),
            last_ack_eliciting: None,
            loss_time: None,
            skipped: SmallVec::new(),
        }
    }

    /// Records packet `pn` (RFC 9002 Appendix A.5, OnPacketSent); see
    /// [`SentPacket::new`] for the arguments.
    pub fn on_sent(
        &mut self,
        pn: u64,
        now: Instant,
        size: u16,
        ack_eliciting: bool,
        in_flight: bool,
        record: R,
    ) {
        self.on_sent_packet(
            pn,
            SentPacket::new(now, size, ack_eliciting, in_flight, record),
        );
    }

    /// Records packet `pn` described by `packet`.
    ///
    /// `pn` must be at least [`SentPackets::next_pn`]; the packet numbers
    /// in between count as skipped, and an ACK of one of them is a
    /// PROTOCOL_VIOLATION. Each skipped number costs an empty slot while
    /// older packets are outstanding. A `pn` below `next_pn` is a caller
    /// bug: it is ignored (and asserts in debug builds).
    #[inline]
    pub fn on_sent_packet(&mut self, pn: u64, packet: SentPacket<R>) {
        let next = self.next_pn();
        if pn < next {
            debug_assert!(false, "packet number {pn} reused (next is {next})");
            return;
        }
        if pn > next {
            let recent = pn.saturating_sub(SKIPPED_HISTORY as u64).max(next);
            for skipped in recent..pn {
                self.remember_skipped(skipped);
            }
            if self.slots.is_empty() {
                self.first_pn = pn;
            } else {
                // Our own choice of packet number, so the gap is small.
                for _ in next..pn {
                    self.slots.push_back(Slot::Gone);
                }
            }
        }
        let packet = packet.released();
        self.in_flight.add(&packet);
        if packet.in_flight() && packet.ack_eliciting() {
            // RFC 9002 Appendix A.5: time_of_last_ack_eliciting_packet.
            self.last_ack_eliciting = Some(packet.time_sent);
        }
        self.slots.push_back(Slot::Sent(packet));
    }

    fn remember_skipped(&mut self, pn: u64) {
        if self.skipped.len() == SKIPPED_HISTORY {
            self.skipped.remove(0);
        }
        self.skipped.push(pn);
    }

    /// Processes the ranges of an ACK frame, largest first as
    /// [`AckFrame::iter`](crate::frame::AckFrame::iter) yields them, and
    /// hands each newly acknowledged packet to `on_acked` in ascending
    /// packet-number order. Packets acknowledged before, declared lost
    /// before, or already discarded are not handed back again.
    ///
    /// This alone does no loss detection, RTT or congestion control; a
    /// connection uses [`LossDetection`](super::LossDetection), which calls
    /// the same steps in the order RFC 9002 requires.
    ///
    /// # Errors
    ///
    /// PROTOCOL_VIOLATION when a range names a packet number above the
    /// largest sent or one that was skipped (RFC 9000 §13.1). Nothing is
    /// changed then. The caller adds the frame type with
    /// [`TransportError::with_frame`].
    pub fn on_ack_received<I, F>(
        &mut self,
        ranges: I,
        mut on_acked: F,
    ) -> Result<AckSummary, TransportError>
    where
        I: IntoIterator<Item = RangeInclusive<u64>>,
        I::IntoIter: Clone,
        F: FnMut(u64, SentPacket<R>),
    {
        let (summary, span) = self.mark_acked(ranges)?;
        self.take_acked(span, &mut on_acked);
        Ok(summary)
    }

    /// Step 1 of processing an ACK: validates the ranges, then marks the
    /// newly acknowledged packets (removing them from flight) without
    /// handing them back yet. Returns the summary and the span of packet
    /// numbers marked, for [`SentPackets::take_acked`].
    pub(super) fn mark_acked<I>(
        &mut self,
        ranges: I,
    ) -> Result<(AckSummary, Option<RangeInclusive<u64>>), TransportError>
    where
        I: IntoIterator<Item = RangeInclusive<u64>>,
        I::IntoIter: Clone,
    {
        let ranges = ranges.into_iter();
        let Some(largest) = self.validate(ranges.clone())? else {
            return Ok((AckSummary::default(), None));
        };
        let mut summary = AckSummary {
            largest: Some(largest),
            largest_acked_increased: self.largest_acked.is_none_or(|l| largest > l),
            ..AckSummary::default()
        };
        // RFC 9002 Appendix A.7: largest_acked_packet = max(largest_acked_packet, ack.largest_acked).
        self.largest_acked = Some(self.largest_acked.map_or(largest, |l| l.max(largest)));
        // The packets marked: their span, and what they leave in flight
        // (taken off at once at the end).
        let (mut lo, mut hi) = (u64::MAX, 0);
        let mut acked = InFlight::default();
        for range in ranges {
            let Some(idx) = self.index_range(&range) else {
                continue;
            };
            let base = self.first_pn + idx.start as u64;
            for (pn, slot) in (base..).zip(self.slots.range_mut(idx)) {
                let Slot::Sent(p) = slot else { continue };
                if p.acked() {
                    continue; // a range repeated within the same frame
                }
                p.flags |= ACKED;
                acked.add(p);
                summary.newly_acked += 1;
                summary.ack_eliciting_acked |= p.ack_eliciting();
                if pn == largest {
                    summary.largest_sent_time = Some(p.time_sent);
                }
                lo = lo.min(pn);
                hi = hi.max(pn);
            }
        }
        self.in_flight.remove_all(acked);
        Ok((summary, (lo <= hi).then_some(lo..=hi)))
    }

    /// Checks every range before anything changes; returns the largest
    /// packet number acknowledged.
    fn validate<I>(&self, ranges: I) -> Result<Option<u64>, TransportError>
    where
        I: Iterator<Item = RangeInclusive<u64>>,
    {
        let largest_sent = self.next_pn().checked_sub(1);
        let mut largest = None;
        for range in ranges {
            if range.is_empty() {
                continue;
            }
            // RFC 9000 §13.1: "An endpoint SHOULD treat receipt of an
            // acknowledgment for a packet it did not send as a connection
            // error of type PROTOCOL_VIOLATION, if it is able to detect the
            // condition."
            if largest_sent.is_none_or(|sent| *range.end() > sent) {
                return Err(TransportError::protocol_violation(
                    "ACK of a packet number not yet sent",
                ));
            }
            if self.skipped.iter().any(|pn| range.contains(pn)) {
                return Err(TransportError::protocol_violation(
                    "ACK of a skipped packet number",
                ));
            }
            largest = largest.max(Some(*range.end()));
        }
        Ok(largest)
    }

    /// Step 3 of processing an ACK: hands back the packets
    /// [`SentPackets::mark_acked`] marked, leaving tombstones.
    pub(super) fn take_acked<F>(&mut self, span: Option<RangeInclusive<u64>>, on_acked: &mut F)
    where
        F: FnMut(u64, SentPacket<R>),
    {
        let Some(idx) = span.and_then(|span| self.index_range(&span)) else {
            return;
        };
        let base = self.first_pn + idx.start as u64;
        for (pn, slot) in (base..).zip(self.slots.range_mut(idx)) {
            if matches!(slot, Slot::Sent(p) if p.acked()) {
                if let Slot::Sent(p) = mem::replace(slot, Slot::Acked) {
                    on_acked(pn, p.released());
                }
            }
        }
        self.pop_done();
    }

    /// Step 2 of processing an ACK, and the work of the loss timer:
    /// declares lost every outstanding packet at or below the largest
    /// acknowledged that was sent `kPacketThreshold` packets or
    /// `loss_delay` before it (RFC 9002 §6.1, Appendix A.10), and sets the
    /// space's loss time for the rest. Packets sent before
    /// `first_rtt_sample` do not count toward persistent congestion.
    pub(super) fn detect_lost<F>(
        &mut self,
        now: Instant,
        loss_delay: Duration,
        first_rtt_sample: Option<Instant>,
        on_lost: &mut F,
    ) -> LossScan
    where
        F: FnMut(u64, SentPacket<R>),
    {
        self.loss_time = None;
        let mut scan = LossScan::default();
        let Some(largest_acked) = self.largest_acked else {
            return scan;
        };
        let Some(idx) = self.index_range(&(0..=largest_acked)) else {
            return scan;
        };
        // Packets sent at or before this time are deemed lost.
        let lost_send_time = now.checked_sub(loss_delay);
        let mut run = LostRun::new(first_rtt_sample);
        let mut loss_time: Option<Instant> = None;
        let base = self.first_pn + idx.start as u64;
        for (pn, slot) in (base..).zip(self.slots.range_mut(idx)) {
            let lost = match slot {
                Slot::Sent(p) if !p.acked() => {
                    // RFC 9002 §6.1.1, §6.1.2. With sender-skipped packet
                    // numbers the packet threshold is slightly eager, as the
                    // RFC's note in Appendix A.10 accepts.
                    let by_count = largest_acked - pn >= PACKET_THRESHOLD;
                    let by_time = lost_send_time.is_some_and(|t| p.time_sent <= t);
                    if !(by_count || by_time) {
                        if let Some(t) = p.time_sent.checked_add(loss_delay) {
                            loss_time = Some(loss_time.map_or(t, |l| l.min(t)));
                        }
                    }
                    by_count || by_time
                }
                Slot::Sent(_) | Slot::Acked => {
                    run.on_acked();
                    false
                }
                Slot::Gone => false,
            };
            if !lost {
                continue;
            }
            if let Slot::Sent(p) = mem::replace(slot, Slot::Gone) {
                self.in_flight.remove(&p);
                scan.packets += 1;
                // RFC 9000 §14.4: "Loss of a QUIC packet that is carried in
                // a PMTU probe is therefore not a reliable indication of
                // congestion and SHOULD NOT trigger a congestion control
                // reaction".
                if !p.is_mtu_probe() {
                    if p.in_flight() {
                        scan.in_flight_bytes += u64::from(p.size);
                        scan.largest_in_flight_sent = Some(p.time_sent);
                    }
                    run.on_lost(p.time_sent, p.ack_eliciting());
                }
                on_lost(pn, p);
            }
        }
        self.loss_time = loss_time;
        scan.persistent_span = run.longest();
        self.pop_done();
        scan
    }

    /// Removes every outstanding packet, as when the space's keys are
    /// discarded (RFC 9002 §6.4) or 0-RTT is rejected, and yields them in
    /// packet-number order so the connection can requeue or drop what they
    /// carried. Packet numbers continue from where they were; the largest
    /// acknowledged is kept. Dropping the iterator early drops the rest.
    pub fn drain(&mut self) -> impl Iterator<Item = (u64, SentPacket<R>)> + '_ {
        let next = self.next_pn();
        let first = mem::replace(&mut self.first_pn, next);
        self.in_flight = InFlight::default();
        self.last_ack_eliciting = None;
        self.loss_time = None;
        self.slots
            .drain(..)
            .zip(first..)
            .filter_map(|(slot, pn)| match slot {
                Slot::Sent(p) => Some((pn, p.released())),
                Slot::Acked | Slot::Gone => None,
            })
    }

    /// Frees the queue's spare capacity (for example after [`drain`]).
    ///
    /// [`drain`]: SentPackets::drain
    pub fn shrink_to_fit(&mut self) {
        self.slots.shrink_to_fit();
    }

    /// Pops tombstones from the front, then gives back capacity the queue
    /// has far outgrown.
    fn pop_done(&mut self) {
        while matches!(self.slots.front(), Some(Slot::Acked | Slot::Gone)) {
            self.slots.pop_front();
            self.first_pn += 1;
        }
        let cap = self.slots.capacity();
        if cap > MIN_CAPACITY && self.slots.len() < cap / 4 {
            self.slots.shrink_to((cap / 2).max(MIN_CAPACITY));
        }
    }

    /// The queue indices of the packet numbers in `range` that are in the
    /// queue, or `None` if there are none.
    fn index_range(&self, range: &RangeInclusive<u64>) -> Option<Range<usize>> {
        let last = self.next_pn().checked_sub(1)?;
        let lo = (*range.start()).max(self.first_pn);
        let hi = (*range.end()).min(last);
        if lo > hi {
            return None;
        }
        let start = usize::try_from(lo - self.first_pn).ok()?;
        let end = usize::try_from(hi - self.first_pn).ok()?.checked_add(1)?;
        Some(start..end)
    }

    /// The next packet number: one above the largest recorded, or the
    /// number the queue restarted from.
    pub fn next_pn(&self) -> u64 {
        self.first_pn + self.slots.len() as u64
    }

    /// The largest packet number the peer has acknowledged in this space.
    pub const fn largest_acked(&self) -> Option<u64> {
        self.largest_acked
    }

    /// Bytes of this space's packets in flight (RFC 9002 Appendix B.2).
    pub const fn bytes_in_flight(&self) -> u64 {
        self.in_flight.bytes
    }

    /// How many ack-eliciting packets of this space are in flight.
    pub const fn ack_eliciting_in_flight(&self) -> u64 {
        self.in_flight.ack_eliciting
    }

    /// When the last ack-eliciting, in-flight packet was sent; `None` after
    /// a [`drain`](SentPackets::drain) (RFC 9002 Appendix A.11).
    pub const fn last_ack_eliciting_sent(&self) -> Option<Instant> {
        self.last_ack_eliciting
    }

    /// When the next packet of this space can be declared lost by the time
    /// threshold (RFC 9002 Appendix A.10, loss_time), as of the last scan.
    pub const fn loss_time(&self) -> Option<Instant> {
        self.loss_time
    }

    /// Whether no packet is outstanding.
    pub fn is_empty(&self) -> bool {
        // The front slot is outstanding whenever the queue is not empty.
        self.slots.is_empty()
    }

    /// Marks the outstanding packet `pn` as a PMTU probe
    /// ([`SentPacket::with_mtu_probe`]); returns whether it was outstanding.
    pub fn mark_mtu_probe(&mut self, pn: u64) -> bool {
        let idx = pn
            .checked_sub(self.first_pn)
            .and_then(|i| usize::try_from(i).ok());
        match idx.and_then(|i| self.slots.get_mut(i)) {
            Some(Slot::Sent(p)) => {
                p.flags |= MTU_PROBE;
                true
            }
            _ => false,
        }
    }

    /// The outstanding packet `pn`, if any.
    pub fn get(&self, pn: u64) -> Option<&SentPacket<R>> {
        let idx = usize::try_from(pn.checked_sub(self.first_pn)?).ok()?;
        match self.slots.get(idx)? {
            Slot::Sent(p) => Some(p),
            Slot::Acked | Slot::Gone => None,
        }
    }

    /// The outstanding packets in packet-number order: neither
    /// acknowledged, nor declared lost, nor discarded.
    pub fn iter(&self) -> impl Iterator<Item = (u64, &SentPacket<R>)> + '_ {
        (self.first_pn..)
            .zip(self.slots.iter())
            .filter_map(|(pn, slot)| match slot {
                Slot::Sent(p) => Some((pn, p)),
                Slot::Acked | Slot::Gone => None,
            })
    }

    /// How many slots the queue holds, tombstones included: the memory in
    /// use is this times the slot size.
    pub fn slots_len(&self) -> usize {
        self.slots.len()
    }

    /// The queue's capacity in slots.
    pub fn slots_capacity(&self) -> usize {
        self.slots.capacity()
    }

    #[cfg(test)]
    pub(super) const fn slot_size() -> usize {
        mem::size_of::<Slot<R>>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recovery::test_util::{base, ms};
    use crate::TransportErrorCode;

    fn sent(pns: impl IntoIterator<Item = u64>) -> SentPackets<u64> {
        let t0 = base();
        let mut s = SentPackets::new();
        for pn in pns {
            s.on_sent(pn, t0 + ms(pn), 1000, true, true, pn * 10);
        }
        s
    }

    fn ack(s: &mut SentPackets<u64>, ranges: &[RangeInclusive<u64>]) -> Vec<u64> {
        let mut got = Vec::new();
        s.on_ack_received(ranges.iter().cloned(), |pn, p| {
            assert_eq!(p.record, pn * 10);
            got.push(pn);
        })
        .unwrap();
        got
    }

    #[test]
    fn slots_are_small() {
        assert_eq!(SentPackets::<u32>::slot_size(), 24);
        assert_eq!(SentPackets::<()>::slot_size(), 24);
        assert!(SentPackets::<Range<u32>>::slot_size() <= 32);
    }

    #[test]
    fn ack_ranges_with_holes_return_only_acked_packets() {
        let mut s = sent(0..10);
        assert_eq!(s.bytes_in_flight(), 10_000);
        let got = ack(&mut s, &[8..=9, 5..=6, 1..=2]);
        assert_eq!(got, [1, 2, 5, 6, 8, 9]);
        assert_eq!(s.bytes_in_flight(), 4000);
        assert_eq!(s.ack_eliciting_in_flight(), 4);
        assert_eq!(s.largest_acked(), Some(9));
        let left: Vec<u64> = s.iter().map(|(pn, _)| pn).collect();
        assert_eq!(left, [0, 3, 4, 7]);
    }

    #[test]
    fn duplicate_ack_returns_nothing_new() {
        let mut s = sent(0..4);
        assert_eq!(ack(&mut s, &[1..=2]), [1, 2]);
        let mut again = 0;
        let summary = s
            .on_ack_received([0..=3], |pn, _| {
                assert!(pn == 0 || pn == 3);
                again += 1;
            })
            .unwrap();
        assert_eq!(again, 2);
        assert_eq!(summary.newly_acked, 2);
        assert!(summary.largest_acked_increased);
        let summary = s.on_ack_received([0..=3], |_, _| panic!()).unwrap();
        assert_eq!(summary.newly_acked, 0);
        assert!(!summary.largest_acked_increased);
        assert!(s.is_empty());
        assert_eq!(s.bytes_in_flight(), 0);
    }

    #[test]
    fn summary_reports_largest_send_time_only_when_newly_acked() {
        let mut s = sent(0..4);
        let summary = s.on_ack_received([2..=3], |_, _| {}).unwrap();
        assert_eq!(summary.largest, Some(3));
        assert!(summary.largest_acked_increased);
        assert_eq!(summary.largest_sent_time, Some(base() + ms(3)));
        let summary = s.on_ack_received([3..=3, 0..=0], |_, _| {}).unwrap();
        assert_eq!(summary.newly_acked, 1);
        assert_eq!(summary.largest_sent_time, None);
    }

    #[test]
    fn ack_of_unsent_packet_number_is_protocol_violation() {
        let mut s = sent(0..5);
        let e = s.on_ack_received([5..=5], |_, _| {}).unwrap_err();
        assert_eq!(e.code, TransportErrorCode::PROTOCOL_VIOLATION);
        // Nothing changed: the valid range in the same frame was not applied.
        let e = s
            .on_ack_received([3..=9, 0..=1], |_, _| panic!())
            .unwrap_err();
        assert_eq!(e.code, TransportErrorCode::PROTOCOL_VIOLATION);
        assert_eq!(s.bytes_in_flight(), 5000);
        assert_eq!(s.largest_acked(), None);
        // Nothing sent at all.
        let mut empty = SentPackets::<u64>::new();
        assert!(empty.on_ack_received([0..=0], |_, _| {}).is_err());
    }

    #[test]
    fn ack_of_skipped_packet_number_is_protocol_violation() {
        let mut s = sent([0, 1, 3, 4]);
        assert_eq!(s.next_pn(), 5);
        assert!(s.get(2).is_none());
        let e = s.on_ack_received([1..=3], |_, _| {}).unwrap_err();
        assert_eq!(e.code, TransportErrorCode::PROTOCOL_VIOLATION);
        assert_eq!(ack(&mut s, &[3..=4, 0..=1]), [0, 1, 3, 4]);
        // Still detected after the skipped number left the queue.
        assert!(s.is_empty());
        assert!(s.on_ack_received([2..=2], |_, _| {}).is_err());
    }

    #[test]
    fn skip_before_first_packet_is_remembered() {
        let mut s = sent([1, 2]);
        assert_eq!(s.slots_len(), 2);
        assert!(s.on_ack_received([0..=0], |_, _| {}).is_err());
        assert_eq!(ack(&mut s, &[1..=2]), [1, 2]);
    }

    #[test]
    fn non_in_flight_packets_do_not_count() {
        let mut s = SentPackets::new();
        s.on_sent(0, base(), 50, false, false, 0u64);
        s.on_sent(1, base(), 1200, false, true, 10);
        assert_eq!(s.bytes_in_flight(), 1200);
        assert_eq!(s.ack_eliciting_in_flight(), 0);
        assert_eq!(s.last_ack_eliciting_sent(), None);
        assert_eq!(ack(&mut s, &[0..=1]), [0, 1]);
        assert_eq!(s.bytes_in_flight(), 0);
    }

    #[test]
    fn drain_returns_outstanding_and_keeps_numbering() {
        let mut s = sent(0..6);
        ack(&mut s, &[2..=3]);
        let drained: Vec<(u64, u64)> = s.drain().map(|(pn, p)| (pn, p.record)).collect();
        assert_eq!(drained, [(0, 0), (1, 10), (4, 40), (5, 50)]);
        assert!(s.is_empty());
        assert_eq!(s.bytes_in_flight(), 0);
        assert_eq!(s.ack_eliciting_in_flight(), 0);
        assert_eq!(s.next_pn(), 6);
        s.shrink_to_fit();
        assert_eq!(s.slots_capacity(), 0);
        s.on_sent(6, base(), 10, true, true, 60);
        assert_eq!(ack(&mut s, &[6..=6]), [6]);
    }

    #[test]
    fn memory_stays_small_after_100k_packets() {
        let mut s = SentPackets::<u32>::new();
        let t0 = base();
        for pn in 0..100_000u64 {
            s.on_sent(pn, t0 + ms(pn), 1200, true, true, pn as u32);
            if pn % 10 == 9 {
                s.on_ack_received([pn - 9..=pn], |_, _| {}).unwrap();
            }
        }
        assert!(s.is_empty());
        assert_eq!(s.slots_len(), 0);
        assert!(s.slots_capacity() <= 16, "{}", s.slots_capacity());
        assert_eq!(s.bytes_in_flight(), 0);
    }

    #[test]
    fn capacity_shrinks_after_a_burst() {
        let mut s = SentPackets::<u32>::new();
        let t0 = base();
        for pn in 0..10_000u64 {
            s.on_sent(pn, t0, 1200, true, true, 0);
        }
        assert!(s.slots_capacity() >= 10_000);
        for pn in 0..10_000u64 {
            s.on_ack_received([pn..=pn], |_, _| {}).unwrap();
        }
        assert!(s.slots_capacity() <= MIN_CAPACITY, "{}", s.slots_capacity());
    }

    #[test]
    fn acked_tombstones_wait_behind_outstanding_packet() {
        let mut s = sent(0..5);
        ack(&mut s, &[1..=4]);
        assert_eq!(s.slots_len(), 5);
        ack(&mut s, &[0..=0]);
        assert_eq!(s.slots_len(), 0);
    }
}
