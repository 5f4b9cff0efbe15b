//! Flow control credit (RFC 9000 §4): the peer's limits on what we send and
//! our limits on what the peer sends, each usable for a stream or for the
//! whole connection.
//!
//! - [`SendCredit`] is a limit the peer gave us (MAX_DATA, MAX_STREAM_DATA,
//!   or MAX_STREAMS for stream counts) with the bookkeeping for the matching
//!   *_BLOCKED frame: queued once per limit, resent if lost only while we
//!   are still blocked at that limit.
//! - [`RecvWindow`] is a limit we give the peer: it checks what arrives,
//!   decides when a new MAX_DATA / MAX_STREAM_DATA is worth sending (half
//!   the window consumed) and auto-tunes the window from the RTT.

use std::time::{Duration, Instant};

use crate::{TransportError, TransportErrorCode};

/// A limit set by the peer and how much of it we have used.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct SendCredit {
    max: u64,
    used: u64,
    /// The limit at which we last queued a *_BLOCKED frame.
    blocked_at: Option<u64>,
    /// A *_BLOCKED frame waits to be written.
    blocked_pending: bool,
}

impl SendCredit {
    /// Credit up to `max`, none used.
    pub(crate) const fn new(max: u64) -> Self {
        Self {
            max,
            used: 0,
            blocked_at: None,
            blocked_pending: false,
        }
    }

    /// How much of the limit is used.
    pub(crate) const fn used(&self) -> u64 {
        self.used
    }

    /// What is left.
    pub(crate) const fn available(&self) -> u64 {
        self.max.saturating_sub(self.used)
    }

    /// Takes a new limit from the peer. RFC 9000 §4.1: "A sender MUST ignore
    /// any MAX_STREAM_DATA or MAX_DATA frames that do not increase flow
    /// control limits" (§4.6 says the same of MAX_STREAMS). Returns whether
    /// the limit grew.
    pub(crate) fn raise(&mut self, max: u64) -> bool {
        if max <= self.max {
            return false;
        }
        self.max = max;
        self.blocked_pending = false;
        true
    }

    /// Uses `n` more (saturating; callers stay within `available`).
    pub(crate) fn consume(&mut self, n: u64) {
        self.used = self.used.saturating_add(n);
    }

    /// We wanted more than the limit allows. RFC 9000 §4.1: "A sender SHOULD
    /// send a STREAM_DATA_BLOCKED or DATA_BLOCKED frame to indicate to the
    /// receiver that it has data to write but is blocked"; we send one per
    /// limit. Returns whether a frame became pending.
    pub(crate) fn on_blocked(&mut self) -> bool {
        if self.available() > 0 || self.blocked_at == Some(self.max) {
            return false;
        }
        self.blocked_at = Some(self.max);
        self.blocked_pending = true;
        true
    }

    /// Whether a *_BLOCKED frame is waiting and still true.
    pub(crate) fn blocked_pending(&self) -> bool {
        self.blocked_pending && self.blocked_at == Some(self.max) && self.available() == 0
    }

    /// Whether we are blocked and have not reported it at this limit.
    pub(crate) fn blocked_unreported(&self) -> bool {
        self.available() == 0 && self.blocked_at != Some(self.max)
    }

    /// The limit to put in the pending *_BLOCKED frame, if one is due.
    pub(crate) fn blocked_frame(&self) -> Option<u64> {
        self.blocked_pending().then_some(self.max)
    }

    /// The *_BLOCKED frame was written.
    pub(crate) fn blocked_sent(&mut self) {
        self.blocked_pending = false;
    }

    /// A *_BLOCKED frame for `limit` was lost: resend it only if we are
    /// still blocked at that limit. Returns whether it is pending again.
    pub(crate) fn blocked_lost(&mut self, limit: u64) -> bool {
        if self.blocked_at == Some(limit) && self.max == limit && self.available() == 0 {
            self.blocked_pending = true;
        }
        self.blocked_pending()
    }
}

/// A new limit to advertise, prepared by [`RecvWindow::prepare_update`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct WindowUpdate {
    /// The limit to put in MAX_DATA / MAX_STREAM_DATA.
    pub(crate) max: u64,
    window: u64,
    fresh: bool,
}

/// A limit we advertise to the peer, what arrived against it, and what the
/// application consumed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RecvWindow {
    /// The largest limit advertised.
    max: u64,
    /// How far ahead of `consumed` a new limit is set.
    window: u64,
    /// Auto-tuning never grows `window` beyond this.
    max_window: u64,
    /// The highest offset received (a stream), or the sum of those over all
    /// streams (the connection, RFC 9000 §4.1).
    received: u64,
    /// Bytes read by the application or discarded.
    consumed: u64,
    /// When the last new limit was committed.
    last_update: Option<Instant>,
    /// The current limit was lost in transit and must be sent again.
    resend: bool,
}

impl RecvWindow {
    /// A window of `initial` bytes (the value of our transport parameter),
    /// growing up to `max_window` by auto-tuning.
    pub(crate) fn new(initial: u64, max_window: u64) -> Self {
        Self {
            max: initial,
            window: initial,
            max_window: max_window.max(initial),
            received: 0,
            consumed: 0,
            last_update: None,
            resend: false,
        }
    }

    /// The advertised limit.
    #[cfg(test)]
    pub(crate) const fn max(&self) -> u64 {
        self.max
    }

    /// The current window size.
    #[cfg(test)]
    pub(crate) const fn window(&self) -> u64 {
        self.window
    }

    /// What has been received so far (highest offset or sum of them).
    pub(crate) const fn received(&self) -> u64 {
        self.received
    }

    /// RFC 9000 §4.1: "A receiver MUST close the connection with an error of
    /// type FLOW_CONTROL_ERROR if the sender violates the advertised
    /// connection or stream data limits".
    pub(crate) fn check(&self, received: u64) -> Result<(), TransportError> {
        if received > self.max {
            return Err(TransportError::new(
                TransportErrorCode::FLOW_CONTROL_ERROR,
                "data beyond the advertised limit",
            ));
        }
        Ok(())
    }

    /// The peer's data now reaches `received` (a stream's highest offset):
    /// checks the limit and returns how much the highest offset grew.
    pub(crate) fn on_received_to(&mut self, received: u64) -> Result<u64, TransportError> {
        self.check(received)?;
        let delta = received.saturating_sub(self.received);
        self.received = self.received.max(received);
        Ok(delta)
    }

    /// `delta` more bytes count against the limit (the connection: a
    /// stream's highest offset grew by `delta`).
    pub(crate) fn on_received(&mut self, delta: u64) -> Result<(), TransportError> {
        let received = self.received.checked_add(delta).ok_or(TransportError::new(
            TransportErrorCode::FLOW_CONTROL_ERROR,
            "received data overflows",
        ))?;
        self.check(received)?;
        self.received = received;
        Ok(())
    }

    /// The application read (or we discarded) `n` more bytes.
    pub(crate) fn on_consumed(&mut self, n: u64) {
        self.consumed = self.consumed.saturating_add(n).min(self.received);
    }

    /// Whether a new limit is worth advertising: half the window is used up,
    /// so the new limit would move by at least half a window (RFC 9000 §4.2
    /// leaves the policy to us; this keeps updates infrequent but early).
    pub(crate) fn should_update(&self) -> bool {
        let room = self.max.saturating_sub(self.consumed);
        room <= self.window / 2 && self.consumed.saturating_add(self.window) > self.max
    }

    /// Whether a MAX_DATA / MAX_STREAM_DATA frame is due: a new limit, or
    /// the current one again because it was lost.
    pub(crate) fn wants_update(&self) -> bool {
        self.resend || self.should_update()
    }

    /// The limit to send now, without committing it. Auto-tuning: if the
    /// previous limit was committed less than two RTTs ago, the sender is
    /// consuming the window faster than the round trip lets us refresh it,
    /// so the window doubles (up to the configured maximum).
    pub(crate) fn prepare_update(&self, now: Instant, rtt: Duration) -> Option<WindowUpdate> {
        if !self.should_update() {
            return self.resend.then_some(WindowUpdate {
                max: self.max,
                window: self.window,
                fresh: false,
            });
        }
        let mut window = self.window;
        if let Some(last) = self.last_update {
            let since = now.checked_duration_since(last).unwrap_or_default();
            if since < rtt.saturating_mul(2) {
                window = window.saturating_mul(2).min(self.max_window);
            }
        }
        Some(WindowUpdate {
            max: self.consumed.saturating_add(window).max(self.max),
            window,
            fresh: true,
        })
    }

    /// The prepared limit was written at `now`.
    pub(crate) fn commit(&mut self, update: WindowUpdate, now: Instant) {
        self.resend = false;
        if update.fresh {
            self.window = update.window;
            self.max = self.max.max(update.max);
            self.last_update = Some(now);
        }
    }

    /// A frame carrying limit `max` was lost: resend it if still current
    /// (a later, larger limit makes it moot). Returns whether it is due.
    pub(crate) fn on_lost(&mut self, max: u64) -> bool {
        if max == self.max {
            self.resend = true;
        }
        self.wants_update()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_credit_ignores_smaller_limits() {
        let mut c = SendCredit::new(100);
        assert!(!c.raise(50));
        assert!(!c.raise(100));
        assert!(c.raise(150));
        assert_eq!(c.available(), 150);
        c.consume(150);
        assert_eq!(c.available(), 0);
    }

    #[test]
    fn blocked_is_queued_once_per_limit_and_resent_only_while_blocked() {
        let mut c = SendCredit::new(10);
        assert!(!c.on_blocked(), "not blocked while credit remains");
        c.consume(10);
        assert!(c.on_blocked());
        assert_eq!(c.blocked_frame(), Some(10));
        c.blocked_sent();
        assert!(!c.on_blocked(), "already reported at this limit");
        assert_eq!(c.blocked_frame(), None);
        assert!(c.blocked_lost(10), "still blocked: resend");
        c.blocked_sent();
        assert!(c.raise(20));
        assert!(!c.blocked_lost(10), "no longer blocked at 10");
        c.consume(10);
        assert!(c.on_blocked());
        assert_eq!(c.blocked_frame(), Some(20));
    }

    #[test]
    fn receive_window_rejects_data_beyond_the_limit() {
        let mut w = RecvWindow::new(100, 1000);
        assert_eq!(w.on_received_to(60), Ok(60));
        assert_eq!(w.on_received_to(50), Ok(0));
        let e = w.on_received_to(101).unwrap_err();
        assert_eq!(e.code, TransportErrorCode::FLOW_CONTROL_ERROR);
        assert!(w.on_received(40).is_ok());
        assert!(w.on_received(1).is_err());
    }

    #[test]
    fn update_is_due_after_half_the_window_is_consumed() {
        let t0 = crate::streams::test_instant();
        let rtt = Duration::from_millis(10);
        let mut w = RecvWindow::new(100, 100);
        w.on_received_to(100).unwrap();
        w.on_consumed(49);
        assert!(!w.should_update());
        w.on_consumed(1);
        assert!(w.should_update());
        let u = w.prepare_update(t0, rtt).unwrap();
        assert_eq!(u.max, 150);
        w.commit(u, t0);
        assert_eq!(w.max(), 150);
        assert!(!w.wants_update());
    }

    #[test]
    fn lost_limit_is_resent_only_while_current() {
        let t0 = crate::streams::test_instant();
        let mut w = RecvWindow::new(100, 100);
        w.on_received_to(100).unwrap();
        w.on_consumed(100);
        let u = w.prepare_update(t0, Duration::ZERO).unwrap();
        w.commit(u, t0);
        assert_eq!(w.max(), 200);
        assert!(!w.on_lost(100), "an older limit is moot");
        assert!(w.on_lost(200));
        let again = w.prepare_update(t0, Duration::ZERO).unwrap();
        assert_eq!(again.max, 200);
        w.commit(again, t0);
        assert!(!w.wants_update());
    }

    #[test]
    fn window_doubles_when_consumed_within_two_rtts_up_to_the_maximum() {
        let t0 = crate::streams::test_instant();
        let rtt = Duration::from_millis(50);
        let mut w = RecvWindow::new(100, 300);
        let mut now = t0;
        let mut windows = Vec::new();
        for _ in 0..4 {
            let max = w.max();
            w.on_received_to(max).unwrap();
            w.on_consumed(max - w.consumed);
            let u = w.prepare_update(now, rtt).unwrap();
            w.commit(u, now);
            windows.push(w.window());
            now += Duration::from_millis(10);
        }
        assert_eq!(windows, [100, 200, 300, 300]);
    }

    #[test]
    fn window_stays_when_consumed_slowly() {
        let t0 = crate::streams::test_instant();
        let rtt = Duration::from_millis(50);
        let mut w = RecvWindow::new(100, 1000);
        for i in 0..4u32 {
            let max = w.max();
            w.on_received_to(max).unwrap();
            w.on_consumed(max - w.consumed);
            let now = t0 + Duration::from_millis(200) * i;
            let u = w.prepare_update(now, rtt).unwrap();
            w.commit(u, now);
        }
        assert_eq!(w.window(), 100);
    }
}
