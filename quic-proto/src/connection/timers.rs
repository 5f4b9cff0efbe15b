//! The connection's timers (RFC 9000 §10.1, RFC 9001 §6.5, RFC 9002 §6):
//! the idle timeout, loss detection and PTO, the discard of old 1-RTT keys
//! and the keep-alive, with the timer floor that lets the per-datagram
//! calls return at once while nothing can be due.

use std::time::{Duration, Instant};

use super::keys::OneRttKeys;
use super::mtud::MtudFeed;
use super::{recv, Connection, ConnectionError, State};
use crate::recovery::SpaceId;

/// A time before which none of the timers [`Connection::handle_timeout`]
/// runs (idle timeout, loss detection, old 1-RTT keys, keep-alive) can be
/// due, so that a call before it returns at once.
///
/// Invalidation rule: the floor is kept only once the handshake is
/// confirmed and the path validated, when the loss detection [`Context`]
/// no longer changes; it holds while its [`TimerInputs`] are unchanged.
/// Those are the inputs that can move one of the deadlines earlier; the
/// others only move deadlines later (the last activity, the send times of
/// new packets), which leaves the floor a valid lower bound.
#[derive(Clone, Copy, Debug)]
pub(super) struct TimerFloor {
    /// `None`: no such timer is armed.
    at: Option<Instant>,
    inputs: TimerInputs,
}

/// What [`TimerFloor`] depends on besides times that only grow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct TimerInputs {
    /// [`LossDetection::timer_epoch`]: acknowledgments, losses, PTOs,
    /// discarded spaces, a first packet in flight.
    loss_epoch: u32,
    /// The PTO period (idle timeout and PTO).
    pto_base: Duration,
    /// When the previous 1-RTT keys go (a key update sets it).
    prev_discard_at: Option<Instant>,
    /// A keep-alive PING is waiting (sending it re-arms the keep-alive).
    ping_pending: bool,
}

/// The earlier of two optional deadlines (`None`: not armed).
fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

impl Connection {
    /// When [`Connection::handle_timeout`] must next run.
    pub fn next_timeout(&self) -> Option<Instant> {
        self.next_timeout_before(None)
    }

    /// [`Connection::next_timeout`] when it is earlier than `bound`, else
    /// `None`; with no bound, [`Connection::next_timeout`] itself. For a
    /// caller that acts only on an earlier deadline, such as the endpoint's
    /// timer heap, which holds the connection at `bound`.
    pub(crate) fn next_timeout_before(&self, bound: Option<Instant>) -> Option<Instant> {
        let before = |t: Option<Instant>| t.filter(|t| bound.is_none_or(|bound| *t < bound));
        match self.state {
            State::Closing { until } | State::Draining { until } => return before(Some(until)),
            State::Drained => return None,
            _ => {}
        }
        let acks = self.ack_deadline();
        if let Some(floor) = self
            .timer_floor
            .as_ref()
            .filter(|floor| self.timer_inputs_are(&floor.inputs))
        {
            // The floor bounds the other deadlines from below, so an ACK
            // deadline no later than it is the earliest of all...
            if floor.at.is_none_or(|at| acks.is_some_and(|a| a <= at)) {
                debug_assert_eq!(acks, self.next_timeout_computed(acks));
                return before(acks);
            }
            // ... and when neither is earlier than `bound`, nothing is.
            if bound.is_some_and(|bound| {
                floor.at.is_none_or(|at| at >= bound) && acks.is_none_or(|a| a >= bound)
            }) {
                debug_assert_eq!(before(self.next_timeout_computed(acks)), None);
                return None;
            }
        }
        before(self.next_timeout_computed(acks))
    }

    /// The earliest ACK deadline of the spaces with keys.
    fn ack_deadline(&self) -> Option<Instant> {
        let mut acks = self.spaces.data.ack.ack_deadline();
        for space in self.spaces.handshake.iter().flatten() {
            if space.keys.is_some() {
                acks = earliest(acks, space.ack.ack_deadline());
            }
        }
        acks
    }

    /// [`Connection::next_timeout`] of an open connection, from every
    /// deadline; `acks` is the earliest ACK deadline.
    fn next_timeout_computed(&self, acks: Option<Instant>) -> Option<Instant> {
        let loss = self.loss.timeout(&self.path.rtt, &self.recovery_context());
        earliest(earliest(acks, loss), self.other_deadlines())
    }

    /// The earliest of the idle timeout, the old 1-RTT keys' discard and the
    /// keep-alive: the deadlines besides loss detection and ACKs.
    fn other_deadlines(&self) -> Option<Instant> {
        let idle = self
            .effective_idle_timeout()
            .map(|d| self.last_activity + d);
        let keys = self.one_rtt.as_ref().and_then(OneRttKeys::prev_discard_at);
        earliest(earliest(idle, keys), self.keep_alive_due())
    }

    /// Runs the timers due at `now` (RFC 9002 §6, RFC 9000 §10).
    ///
    /// Called for every datagram received or sent, so the common case, the
    /// timer floor proving nothing is due (a lower bound on every deadline,
    /// kept while its inputs are unchanged), is inlined into the callers.
    #[inline]
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.timer_floor_holds(now) {
            debug_assert!(
                !self.timers_due(now),
                "a timer is due before the timer floor"
            );
            return;
        }
        self.run_due_timers(now);
    }

    /// Whether the [`TimerFloor`] proves that no timer is due at `now` in
    /// an open connection.
    #[inline]
    fn timer_floor_holds(&self, now: Instant) -> bool {
        matches!(self.state, State::Established)
            && self.timer_floor.as_ref().is_some_and(|floor| {
                floor.at.is_none_or(|at| now < at) && self.timer_inputs_are(&floor.inputs)
            })
    }

    /// [`Connection::handle_timeout`] when the timer floor does not rule
    /// out a due timer: the closing states, or the timers computed afresh.
    fn run_due_timers(&mut self, now: Instant) {
        match self.state {
            State::Closing { until } | State::Draining { until } => {
                // A CONNECTION_CLOSE not yet sent goes out first, however
                // late the embedder comes back.
                let unsent_close =
                    matches!(self.state, State::Closing { .. }) && self.close_pending;
                if now >= until && !unsent_close {
                    self.state = State::Drained;
                    self.events.drained = true;
                }
                return;
            }
            State::Drained => return,
            _ => {}
        }
        self.run_timers(now);
        self.timer_floor = self.timer_inputs().map(|inputs| TimerFloor {
            at: self.timers_lower_bound(),
            inputs,
        });
    }

    /// The inputs of [`TimerFloor`], or `None` while no floor is kept.
    #[inline]
    fn timer_inputs(&self) -> Option<TimerInputs> {
        if !(self.handshake_confirmed && self.path.validated) {
            return None;
        }
        Some(TimerInputs {
            loss_epoch: self.loss.timer_epoch(),
            pto_base: self.path.rtt.pto_base(),
            prev_discard_at: self.one_rtt.as_ref().and_then(OneRttKeys::prev_discard_at),
            ping_pending: self.ping_pending,
        })
    }

    /// Whether `Some(*inputs) == self.timer_inputs()`, asked field by field
    /// so that the common mismatch (a new loss epoch) returns early.
    #[inline]
    fn timer_inputs_are(&self, inputs: &TimerInputs) -> bool {
        let TimerInputs {
            loss_epoch,
            pto_base,
            prev_discard_at,
            ping_pending,
        } = *inputs;
        let same = self.handshake_confirmed
            && self.path.validated
            && loss_epoch == self.loss.timer_epoch()
            && ping_pending == self.ping_pending
            && pto_base == self.path.rtt.pto_base()
            && prev_discard_at == self.one_rtt.as_ref().and_then(OneRttKeys::prev_discard_at);
        debug_assert_eq!(same, Some(*inputs) == self.timer_inputs());
        same
    }

    /// No later than any timer `run_timers` acts on.
    fn timers_lower_bound(&self) -> Option<Instant> {
        let loss = self
            .loss
            .timeout_lower_bound(&self.path.rtt, &self.recovery_context());
        earliest(loss, self.other_deadlines())
    }

    /// Whether a timer `run_timers` acts on is due at `now`, computed
    /// afresh: the check of [`TimerFloor`] in debug builds.
    fn timers_due(&self, now: Instant) -> bool {
        let loss = self.loss.timeout(&self.path.rtt, &self.recovery_context());
        earliest(loss, self.other_deadlines()).is_some_and(|t| t <= now)
    }

    /// [`Connection::handle_timeout`] in an open connection.
    fn run_timers(&mut self, now: Instant) {
        if let Some(idle) = self.effective_idle_timeout() {
            if now >= self.last_activity + idle {
                // RFC 9000 §10.1: silently close and discard state.
                self.report_closed(ConnectionError::TimedOut);
                self.state = State::Drained;
                self.events.drained = true;
                return;
            }
        }
        if let Some(one_rtt) = &mut self.one_rtt {
            if one_rtt.prev_discard_at().is_some_and(|at| now >= at) {
                one_rtt.prev_remote = None;
            }
        }
        if self.keep_alive_due().is_some_and(|at| now >= at) {
            self.ping_pending = true;
        }
        self.run_loss_timer(now);
    }

    /// When the keep-alive PING is due: an interval after the later of the
    /// last packet received and the last ack-eliciting packet sent, so a
    /// silent peer gets one PING per interval, not a stream of them.
    fn keep_alive_due(&self) -> Option<Instant> {
        let interval = self.config.keep_alive_interval?;
        if !self.is_established() || self.ping_pending {
            return None;
        }
        Some(self.last_activity.max(self.last_ack_eliciting_sent) + interval)
    }

    fn run_loss_timer(&mut self, now: Instant) {
        let ctx = self.recovery_context();
        let Self {
            loss,
            path,
            log,
            spaces,
            streams,
            stats,
            handshake_done,
            local_cids,
            remote_cids,
            ..
        } = self;
        let mut mtud = MtudFeed::new(&mut path.mtud, path.mtu, SpaceId::Data, now);
        let fired = loss.on_loss_detection_timeout(
            now,
            crate::recovery::PathRef::new(&mut path.rtt, &mut *path.cc),
            &ctx,
            |event| {
                mtud.lost(stats, event.space, event.pn, &event.packet);
                let mut parts = recv::Parts {
                    space: spaces.get_mut(event.space.index()),
                    streams,
                    handshake_done,
                    local_cids,
                    remote_cids,
                };
                log.take(event.packet.record, |r| parts.lost(r));
            },
        );
        let data = loss.space(SpaceId::Data);
        let mtud = mtud.finish(|pn| data.is_some_and(|s| s.get(pn).is_some()));
        let losses = matches!(fired, Some(crate::recovery::Timeout::Lost { .. }));
        if let Some(raised) = mtud.filter(|raised| losses || raised.is_some()) {
            self.end_mtu_discovery_pass(now, raised);
        }
        match fired {
            Some(crate::recovery::Timeout::Probe { space, packets }) => {
                if let Some(s) = self.spaces.get_mut(space.index()) {
                    s.probes = packets;
                }
                // RFC 9002 §6.2.4: probes carry unacknowledged data, and the
                // other handshake spaces with data in flight probe too (a
                // Handshake probe cannot help a client that lost the
                // ServerHello).
                for s in self.spaces.handshake_mut() {
                    if s.keys.is_some() && s.crypto.has_unacked() {
                        s.crypto.requeue_unacked();
                        s.probes = s.probes.max(1);
                    }
                }
                // An unacknowledged HANDSHAKE_DONE rides on the probe: the
                // client cannot confirm the handshake without it.
                let hd = &mut self.handshake_done;
                if space == SpaceId::Data && hd.sent && !hd.acked {
                    hd.pending = true;
                }
                // A lost PATH_CHALLENGE is sent again (RFC 9000 §8.2.1).
                self.challenge_pending |= self.challenge.is_some() && space == SpaceId::Data;
            }
            Some(crate::recovery::Timeout::AntiDeadlock { space }) => {
                if let Some(s) = self.spaces.get_mut(space.index()) {
                    s.probes = 1;
                }
            }
            _ => {}
        }
    }
}
