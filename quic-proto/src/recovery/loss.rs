//! Loss detection and the probe timeout across the three packet-number
//! spaces (RFC 9002 §6, Appendix A).

use core::ops::RangeInclusive;
use std::time::{Duration, Instant};

use super::persistent::persistent_congestion_duration;
use super::sent::{AckSummary, SentPacket, SentPackets};
use super::{Context, Fate, PacketEvent, PathRef, RttEstimator, SpaceId};
use crate::congestion::Controller;
use crate::TransportError;

/// How many ack-eliciting packets to send when the PTO expires. RFC 9002
/// §6.2.4: "An endpoint MAY send up to two full-sized datagrams containing
/// ack-eliciting packets to avoid an expensive consecutive PTO expiration
/// due to a single lost datagram".
pub const PTO_PROBE_PACKETS: u8 = 2;

/// What expiry of the loss detection timer asks of the connection, from
/// [`LossDetection::on_loss_detection_timeout`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Timeout {
    /// The time threshold passed (RFC 9002 §6.1.2): `packets` packets of
    /// `space` were declared lost and already handed back as
    /// [`Fate::Lost`]; the congestion controller has been told. Nothing
    /// else to do.
    Lost {
        /// The space whose packets were lost.
        space: SpaceId,
        /// How many packets were declared lost (possibly zero if the RTT
        /// grew since the timer was set).
        packets: u64,
    },
    /// The PTO expired (RFC 9002 §6.2.4): send `packets` ack-eliciting
    /// packets in `space` (new data if there is some, else data still
    /// unacknowledged, else a PING), ignoring the congestion window, and
    /// SHOULD include ack-eliciting packets of other spaces with data in
    /// flight. Sending at least one is required.
    Probe {
        /// The space to probe.
        space: SpaceId,
        /// How many probe packets to send; [`PTO_PROBE_PACKETS`].
        packets: u8,
    },
    /// The anti-deadlock PTO of a client whose address the server may not
    /// have validated (RFC 9002 §6.2.2.1): send one ack-eliciting packet in
    /// `space`, which is [`SpaceId::Handshake`] when the client has
    /// Handshake keys, else [`SpaceId::Initial`] in a datagram padded to at
    /// least 1200 bytes.
    AntiDeadlock {
        /// The space to send the packet in.
        space: SpaceId,
    },
}

/// What processing one ACK frame did, from
/// [`LossDetection::on_ack_received`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AckOutcome {
    /// What the ACK acknowledged.
    pub ack: AckSummary,
    /// Whether it produced an RTT sample.
    pub rtt_sampled: bool,
    /// How many packets were declared lost as a result.
    pub lost: u64,
    /// Whether those losses established persistent congestion
    /// (RFC 9002 §7.6); the controller has already collapsed its window.
    pub persistent_congestion: bool,
}

/// Which rule set the loss detection timer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TimerKind {
    Loss,
    Pto,
    AntiDeadlock,
}

/// Loss detection for one connection's path: the sent packets of the three
/// packet-number spaces, the PTO backoff, and the timer rules of RFC 9002
/// Appendix A. See the [module docs](super) for how a connection drives it.
///
/// `R` is the connection's record of what each packet carried; see
/// [`SentPackets`]. The RTT estimator and congestion controller belong to
/// the path and come in with each call as a [`PathRef`], so this type holds
/// no connection state and needs no connection object.
///
/// The loss detection timer needs no re-arm call: [`LossDetection::timeout`]
/// derives it from the current state, the [`Context`] and the RTT
/// estimator whenever asked, so a change in the context (handshake
/// confirmed, amplification limit lifted) takes effect at once. The last
/// value computed is kept and reused while neither the
/// context nor the PTO period changed and nothing here moved the timer
/// earlier.
///
/// Persistent congestion (RFC 9002 §7.6.2) is judged from the losses one
/// ACK or timer reveals in one space, as the RFC allows: "MAY use state for
/// just the packet number space that was acknowledged".
#[derive(Debug)]
pub struct LossDetection<R> {
    /// The Initial and Handshake spaces' packets: allocated with a space's
    /// first packet, freed when the space is discarded (RFC 9001 §4.9), so
    /// an established connection keeps only the application space's.
    handshake: [Option<Box<SentPackets<R>>>; 2],
    data: SentPackets<R>,
    pto_count: u32,
    first_rtt_sample: Option<Instant>,
    /// When the timer was last (re)armed by an event; the base of the
    /// anti-deadlock PTO, which "starts from the current time"
    /// (RFC 9002 Appendix A.8).
    last_armed: Option<Instant>,
    /// The timer as last computed; `None` after anything that may have
    /// moved it earlier.
    cached: Option<CachedTimer>,
    /// Counts the changes that may have moved the timer earlier (each drop
    /// of `cached`); see [`LossDetection::timer_epoch`].
    timer_epoch: u32,
    /// How many times the controller was told of a congestion event.
    congestion_events: u64,
}

/// The loss detection timer as computed for one context and PTO period.
///
/// Invalidation rule: every change of this type's state that can move the
/// timer earlier (an acknowledgment, a loss, a PTO, a discarded space, the
/// first ack-eliciting packet in flight of a space, the first in-flight
/// packet at all) drops the cache. A packet sent in a space that already
/// has ack-eliciting packets in flight can only move the timer later (a
/// later last-sent time, a later `last_armed`): the cache stays, as a lower
/// bound (`exact == false`). So a busy sender does not recompute the timer
/// per packet; its next acknowledgment does, once.
#[derive(Clone, Copy, Debug)]
struct CachedTimer {
    /// The context it was computed for.
    ctx: Context,
    /// [`RttEstimator::pto_base`] when it was computed: the only input from
    /// the estimator (the loss time is stored per space).
    pto_base: Duration,
    /// The timer, `None` when not armed; with `exact == false` no later
    /// than the timer (`None` stays `None`).
    timer: Option<(Instant, TimerKind, SpaceId)>,
    /// Whether `timer` is the timer itself rather than a lower bound.
    exact: bool,
}

impl<R> Default for LossDetection<R> {
    fn default() -> Self {
        Self::new()
    }
}

impl<R> LossDetection<R> {
    /// Loss detection with nothing sent; allocates nothing.
    pub fn new() -> Self {
        Self {
            handshake: [None, None],
            data: SentPackets::new(),
            pto_count: 0,
            first_rtt_sample: None,
            last_armed: None,
            cached: None,
            timer_epoch: 0,
            congestion_events: 0,
        }
    }

    /// The sent packets of `space`; `None` for an Initial or Handshake
    /// space with nothing sent since it started or was discarded.
    pub fn space(&self, space: SpaceId) -> Option<&SentPackets<R>> {
        match space {
            SpaceId::Data => Some(&self.data),
            _ => self.handshake[space.index()].as_deref(),
        }
    }

    /// The largest packet number of `space` the peer acknowledged.
    pub fn largest_acked(&self, space: SpaceId) -> Option<u64> {
        self.space(space)?.largest_acked()
    }

    fn space_mut(&mut self, space: SpaceId) -> &mut SentPackets<R> {
        match space {
            SpaceId::Data => &mut self.data,
            _ => self.handshake[space.index()].get_or_insert_with(Default::default),
        }
    }

    fn spaces(&self) -> impl Iterator<Item = &SentPackets<R>> {
        let [initial, handshake] = &self.handshake;
        initial
            .as_deref()
            .into_iter()
            .chain(handshake.as_deref())
            .chain(Some(&self.data))
    }

    /// Bytes in flight across all spaces (RFC 9002 Appendix B.2): compare
    /// with [`Controller::window`] before sending.
    pub fn bytes_in_flight(&self) -> u64 {
        self.spaces().map(SentPackets::bytes_in_flight).sum()
    }

    /// Ack-eliciting packets in flight across all spaces.
    pub fn ack_eliciting_in_flight(&self) -> u64 {
        self.spaces()
            .map(SentPackets::ack_eliciting_in_flight)
            .sum()
    }

    /// How many PTOs expired without an acknowledgment resetting the
    /// backoff (RFC 9002 Appendix A.3, pto_count).
    pub const fn pto_count(&self) -> u32 {
        self.pto_count
    }

    /// How many times losses were reported to the congestion controller
    /// ([`Controller::on_congestion_event`]); lost PMTU probes never are.
    pub const fn congestion_events(&self) -> u64 {
        self.congestion_events
    }

    /// When this loss detection took its first RTT sample.
    pub const fn first_rtt_sample(&self) -> Option<Instant> {
        self.first_rtt_sample
    }

    /// Records a sent packet (RFC 9002 Appendix A.5): call once per packet,
    /// after it is written. An in-flight packet is reported to the
    /// congestion controller and re-bases the timer.
    pub fn on_packet_sent(
        &mut self,
        space: SpaceId,
        pn: u64,
        packet: SentPacket<R>,
        cc: &mut dyn Controller,
    ) {
        let (now, size, in_flight) = (packet.time_sent, packet.size, packet.in_flight());
        let sent = self.space_mut(space);
        let first_ack_eliciting = packet.ack_eliciting() && sent.ack_eliciting_in_flight() == 0;
        sent.on_sent_packet(pn, packet);
        if in_flight {
            // Only a later send time or `last_armed` (see `CachedTimer`),
            // unless the packet arms something that was not armed.
            if self.last_armed.is_none() || first_ack_eliciting {
                self.timer_moved();
            } else if let Some(c) = &mut self.cached {
                c.exact = false;
            }
            cc.on_packet_sent(now, u64::from(size));
            self.last_armed = Some(now);
        }
    }

    /// Marks packet `pn` of `space`, just recorded with
    /// [`LossDetection::on_packet_sent`], as a PMTU probe (RFC 9000 §14.4):
    /// its loss will not be a congestion event. Returns whether the packet
    /// was outstanding.
    pub fn mark_mtu_probe(&mut self, space: SpaceId, pn: u64) -> bool {
        self.space_mut(space).mark_mtu_probe(pn)
    }

    /// Processes an ACK frame received in `space` (RFC 9002 Appendix A.7,
    /// OnAckReceived): acknowledges packets, takes an RTT sample, detects
    /// losses, informs the congestion controller, and resets the PTO
    /// backoff.
    ///
    /// `ranges` are the frame's ranges, largest first
    /// ([`AckFrame::iter`](crate::frame::AckFrame::iter)); `ack_delay` is
    /// the ACK Delay field scaled by the peer's ack_delay_exponent.
    /// Every packet declared lost and then every packet newly acknowledged
    /// goes to `on_packet`, each exactly once, in that order; the
    /// controller sees the losses before the acknowledgments, as in
    /// RFC 9002 Appendix A.7, so acknowledgments of packets sent before a
    /// new recovery period do not grow the window.
    ///
    /// If the ECN-CE count in the frame grew (after the connection's ECN
    /// validation, RFC 9000 §13.4.2), the connection then calls
    /// [`Controller::on_ecn_ce`] with [`AckSummary::largest_sent_time`].
    ///
    /// # Errors
    ///
    /// PROTOCOL_VIOLATION if the frame acknowledges a packet number that
    /// was never sent or was skipped (RFC 9000 §13.1); nothing changes.
    #[expect(
        clippy::too_many_arguments,
        reason = "mirrors RFC 9002 OnAckReceived; bundling would only rename the inputs"
    )]
    pub fn on_ack_received<I, F>(
        &mut self,
        now: Instant,
        space: SpaceId,
        ranges: I,
        ack_delay: Duration,
        mut path: PathRef<'_>,
        ctx: &Context,
        mut on_packet: F,
    ) -> Result<AckOutcome, TransportError>
    where
        I: IntoIterator<Item = RangeInclusive<u64>>,
        I::IntoIter: Clone,
        F: FnMut(PacketEvent<R>),
    {
        let (summary, span) = self.space_mut(space).mark_acked(ranges)?;
        let mut outcome = AckOutcome {
            ack: summary,
            ..AckOutcome::default()
        };
        // RFC 9002 Appendix A.7: "Nothing to do if there are no newly acked
        // packets."
        if summary.newly_acked == 0 {
            return Ok(outcome);
        }
        self.timer_moved();
        // RFC 9002 §5.1: a sample only when the largest acknowledged is
        // newly acknowledged and at least one newly acknowledged packet is
        // ack-eliciting.
        if let (Some(sent), true) = (summary.largest_sent_time, summary.ack_eliciting_acked) {
            // RFC 9002 §5.3: an endpoint "MAY ignore the acknowledgment
            // delay for Initial packets, since these acknowledgments are
            // not delayed by the peer".
            let ack_delay = match space {
                SpaceId::Initial => Duration::ZERO,
                SpaceId::Handshake | SpaceId::Data => ack_delay,
            };
            let latest = now.saturating_duration_since(sent);
            path.rtt.update(
                ack_delay,
                latest,
                ctx.handshake_confirmed,
                ctx.max_ack_delay,
            );
            self.first_rtt_sample.get_or_insert(now);
            outcome.rtt_sampled = true;
        }
        (outcome.lost, outcome.persistent_congestion) =
            self.detect_lost(now, space, &mut path, ctx, &mut on_packet);
        let (rtt, cc) = (&*path.rtt, &mut *path.cc);
        self.space_mut(space).take_acked(span, &mut |pn, packet| {
            if packet.in_flight() {
                let bytes = u64::from(packet.size);
                cc.on_ack(now, packet.time_sent, bytes, rtt, ctx.app_limited);
            }
            on_packet(PacketEvent {
                space,
                pn,
                fate: Fate::Acked,
                packet,
            });
        });
        // RFC 9002 §6.2.1: "The PTO backoff factor is reset when an
        // acknowledgment is received, except ... a client does not reset
        // the PTO backoff factor on receiving acknowledgments in Initial
        // packets" while unsure the server validated its address.
        if ctx.peer_validated() {
            self.pto_count = 0;
        }
        self.last_armed = Some(now);
        Ok(outcome)
    }

    /// Declares lost what the thresholds allow in `space` and reports the
    /// losses to the controller (RFC 9002 Appendix B.8, OnPacketsLost).
    /// Returns the number lost and whether persistent congestion was
    /// established.
    fn detect_lost<F>(
        &mut self,
        now: Instant,
        space: SpaceId,
        path: &mut PathRef<'_>,
        ctx: &Context,
        on_packet: &mut F,
    ) -> (u64, bool)
    where
        F: FnMut(PacketEvent<R>),
    {
        let loss_delay = path.rtt.loss_delay();
        let first_sample = self.first_rtt_sample;
        let scan =
            self.space_mut(space)
                .detect_lost(now, loss_delay, first_sample, &mut |pn, packet| {
                    on_packet(PacketEvent {
                        space,
                        pn,
                        fate: Fate::Lost,
                        packet,
                    });
                });
        let Some(last_lost_sent) = scan.largest_in_flight_sent else {
            return (scan.packets, false);
        };
        // RFC 9002 §7.6.2: the span between two lost ack-eliciting packets
        // exceeds the persistent congestion duration.
        let persistent =
            scan.persistent_span > persistent_congestion_duration(path.rtt, ctx.max_ack_delay);
        self.congestion_events += 1;
        path.cc
            .on_congestion_event(now, last_lost_sent, persistent, scan.in_flight_bytes);
        if persistent {
            // RFC 9002 §5.2: "Endpoints SHOULD set the min_rtt to the newest
            // RTT sample after persistent congestion is established."
            path.rtt.reset_min_rtt();
        }
        (scan.packets, persistent)
    }

    /// When the loss detection timer expires (RFC 9002 Appendix A.8,
    /// SetLossDetectionTimer), or `None` when it is not armed. Cheap: a few
    /// comparisons. Fold it into the connection's next wake-up time.
    pub fn timeout(&self, rtt: &RttEstimator, ctx: &Context) -> Option<Instant> {
        match self.cache_for(rtt, ctx) {
            Some(c) if c.exact => c.timer.map(|(t, _, _)| t),
            _ => self.next_timer(rtt, ctx).map(|(t, _, _)| t),
        }
    }

    /// Something may have moved the timer earlier: drops the cached timer.
    fn timer_moved(&mut self) {
        self.cached = None;
        self.timer_epoch = self.timer_epoch.wrapping_add(1);
    }

    /// A number that changes whenever this type's state changes in a way
    /// that may move the timer earlier (see `CachedTimer` for which changes
    /// those are). While it, the [`Context`] and the PTO period stay the
    /// same, the timer is no earlier than when last computed: a caller can
    /// keep a lower bound of its own.
    pub const fn timer_epoch(&self) -> u32 {
        self.timer_epoch
    }

    /// No later than [`LossDetection::timeout`]: the cached value when it
    /// is a lower bound, without computing the exact timer.
    pub fn timeout_lower_bound(&self, rtt: &RttEstimator, ctx: &Context) -> Option<Instant> {
        match self.cache_for(rtt, ctx) {
            Some(c) => c.timer.map(|(t, _, _)| t),
            None => self.next_timer(rtt, ctx).map(|(t, _, _)| t),
        }
    }

    /// The cached timer, if it was computed for `rtt` and `ctx`.
    #[inline]
    fn cache_for(&self, rtt: &RttEstimator, ctx: &Context) -> Option<&CachedTimer> {
        let c = self.cached.as_ref()?;
        let c = (c.ctx == *ctx && c.pto_base == rtt.pto_base()).then_some(c)?;
        #[cfg(debug_assertions)]
        {
            let fresh = self.next_timer(rtt, ctx);
            if c.exact {
                debug_assert_eq!(c.timer, fresh, "cached loss timer is stale");
            } else {
                let at = |t: Option<(Instant, TimerKind, SpaceId)>| t.map(|(at, _, _)| at);
                debug_assert!(
                    at(fresh).is_none_or(|f| at(c.timer).is_some_and(|c| c <= f)),
                    "cached loss timer is later than the timer"
                );
            }
        }
        Some(c)
    }

    /// Runs the loss detection timer if it is due at `now` (RFC 9002
    /// Appendix A.9, OnLossDetectionTimeout); `None` if it is not armed or
    /// not yet due. Packets declared lost go to `on_packet`. Call it on
    /// every wake-up, and again after anything that may re-arm the timer
    /// in the past, such as a server receiving a datagram while at its
    /// amplification limit (RFC 9002 §6.2.2.1).
    #[inline]
    pub fn on_loss_detection_timeout<F>(
        &mut self,
        now: Instant,
        path: PathRef<'_>,
        ctx: &Context,
        on_packet: F,
    ) -> Option<Timeout>
    where
        F: FnMut(PacketEvent<R>),
    {
        if let Some(c) = self.cache_for(path.rtt, ctx) {
            // A lower bound is enough to tell that nothing is due.
            if c.timer.is_none_or(|(at, _, _)| at > now) {
                return None;
            }
        }
        self.run_timer(now, path, ctx, on_packet)
    }

    /// [`LossDetection::on_loss_detection_timeout`] past the cached timer:
    /// computes the timer, keeps it, and runs it if due.
    fn run_timer<F>(
        &mut self,
        now: Instant,
        mut path: PathRef<'_>,
        ctx: &Context,
        mut on_packet: F,
    ) -> Option<Timeout>
    where
        F: FnMut(PacketEvent<R>),
    {
        let timer = self.next_timer(path.rtt, ctx);
        self.cached = Some(CachedTimer {
            ctx: *ctx,
            pto_base: path.rtt.pto_base(),
            timer,
            exact: true,
        });
        let (at, kind, space) = timer?;
        if at > now {
            return None;
        }
        self.timer_moved();
        self.last_armed = Some(now);
        if kind == TimerKind::Loss {
            let (packets, _) = self.detect_lost(now, space, &mut path, ctx, &mut on_packet);
            return Some(Timeout::Lost { space, packets });
        }
        // RFC 9002 §6.2.1: "When a PTO timer expires, the PTO backoff MUST
        // be increased".
        self.pto_count = self.pto_count.saturating_add(1);
        Some(match kind {
            TimerKind::AntiDeadlock => Timeout::AntiDeadlock { space },
            TimerKind::Loss | TimerKind::Pto => Timeout::Probe {
                space,
                packets: PTO_PROBE_PACKETS,
            },
        })
    }

    /// Drops every packet of `space`, whose keys are being discarded
    /// (RFC 9002 §6.4, Appendix A.11), handing each to `on_packet` as
    /// [`Fate::Discarded`] so the connection can requeue or drop what it
    /// carried, and frees the space's memory. Resets the PTO backoff and
    /// the space's loss time. Also serves for rejected 0-RTT
    /// ([`SpaceId::Data`]; packet numbers continue) and, with a reset RTT
    /// estimator and a new controller, for a Retry (RFC 9002 §6.3).
    pub fn discard_space<F>(&mut self, now: Instant, space: SpaceId, mut on_packet: F)
    where
        F: FnMut(PacketEvent<R>),
    {
        let mut report = |sent: &mut SentPackets<R>| {
            for (pn, packet) in sent.drain() {
                on_packet(PacketEvent {
                    space,
                    pn,
                    fate: Fate::Discarded,
                    packet,
                });
            }
        };
        match space {
            SpaceId::Data => {
                report(&mut self.data);
                self.data.shrink_to_fit();
            }
            // A handshake space's packets are freed with it (a client that
            // gets a Retry starts its Initial space again with a new one).
            _ => {
                if let Some(mut sent) = self.handshake[space.index()].take() {
                    report(&mut sent);
                }
            }
        }
        self.pto_count = 0;
        self.last_armed = Some(now);
        self.timer_moved();
    }

    /// The timer and what set it (RFC 9002 Appendix A.8).
    fn next_timer(
        &self,
        rtt: &RttEstimator,
        ctx: &Context,
    ) -> Option<(Instant, TimerKind, SpaceId)> {
        if let Some((t, space)) = self.earliest_loss_time() {
            // RFC 9002 §6.2.1: "The PTO timer MUST NOT be set if a timer is
            // set for time threshold loss detection".
            return Some((t, TimerKind::Loss, space));
        }
        if ctx.at_amplification_limit {
            // RFC 9002 §6.2.2.1: "the server's PTO timer MUST NOT be armed
            // until datagrams have been received from the client".
            return None;
        }
        if self.ack_eliciting_in_flight() == 0 {
            if ctx.peer_validated() {
                return None;
            }
            // RFC 9002 §6.2.2.1: "the client MUST set the PTO timer if the
            // client has not received an acknowledgment for any of its
            // Handshake packets and the handshake is not confirmed ...
            // even if there are no packets in flight."
            let space = if ctx.has_handshake_keys {
                SpaceId::Handshake
            } else {
                SpaceId::Initial
            };
            let at = self
                .last_armed?
                .checked_add(self.backed_off(rtt.pto_base()))?;
            return Some((at, TimerKind::AntiDeadlock, space));
        }
        let (at, space) = self.pto_time_and_space(rtt, ctx)?;
        Some((at, TimerKind::Pto, space))
    }

    /// The earliest loss time across spaces (RFC 9002 Appendix A.8,
    /// GetLossTimeAndSpace).
    fn earliest_loss_time(&self) -> Option<(Instant, SpaceId)> {
        SpaceId::ALL
            .into_iter()
            .filter_map(|id| Some((self.space(id)?.loss_time()?, id)))
            .min_by_key(|(t, _)| *t)
    }

    /// The PTO deadline with ack-eliciting packets in flight (RFC 9002
    /// §6.2.1, Appendix A.8, GetPtoTimeAndSpace).
    fn pto_time_and_space(&self, rtt: &RttEstimator, ctx: &Context) -> Option<(Instant, SpaceId)> {
        let mut duration = self.backed_off(rtt.pto_base());
        let mut best: Option<(Instant, SpaceId)> = None;
        for id in SpaceId::ALL {
            let Some(space) = self.space(id) else {
                continue;
            };
            if space.ack_eliciting_in_flight() == 0 {
                continue;
            }
            if id == SpaceId::Data {
                // RFC 9002 §6.2.1: "An endpoint MUST NOT set its PTO timer
                // for the Application Data packet number space until the
                // handshake is confirmed."
                if !ctx.handshake_confirmed {
                    return best.or_else(|| self.handshake_fallback(duration, ctx));
                }
                // RFC 9002 §6.2.1: max_ack_delay counts for Application
                // Data only, with the same backoff.
                duration = duration.saturating_add(self.backed_off(ctx.max_ack_delay));
            }
            let Some(at) = space
                .last_ack_eliciting_sent()
                .and_then(|sent| sent.checked_add(duration))
            else {
                continue;
            };
            if best.is_none_or(|(b, _)| at < b) {
                best = Some((at, id));
            }
        }
        best
    }

    /// The PTO of a client whose only packets in flight are 1-RTT ones
    /// before the handshake is confirmed: armed in the Handshake space
    /// while it has keys, from its last ack-eliciting packet.
    ///
    /// RFC 9002's pseudocode arms no timer then. But if the client's
    /// Finished was declared lost and its retransmission waits behind a
    /// congestion window full of 1-RTT packets, which the server will not
    /// acknowledge before it has the Finished (RFC 9001 §5.7), nothing
    /// would ever move again. The probe carries the Finished regardless of
    /// the window (found by the simulator at 30 % corruption).
    fn handshake_fallback(&self, duration: Duration, ctx: &Context) -> Option<(Instant, SpaceId)> {
        if !ctx.has_handshake_keys {
            return None;
        }
        let base = self
            .space(SpaceId::Handshake)
            .and_then(SentPackets::last_ack_eliciting_sent)
            .or(self.last_armed)?;
        Some((base.checked_add(duration)?, SpaceId::Handshake))
    }

    /// `d * 2^pto_count`, saturating.
    fn backed_off(&self, d: Duration) -> Duration {
        let factor = 1u32.checked_shl(self.pto_count).unwrap_or(u32::MAX);
        d.saturating_mul(factor)
    }
}

#[cfg(test)]
#[path = "loss_tests.rs"]
mod tests;
