//! The connection's one-time events and the datagram count, pending until
//! the application polls them.

use super::{ConnectionError, Event};

/// The connection's own events not yet polled. Each but DatagramReceived
/// happens at most once, so flags and a count hold them without a queue
/// (an idle connection then keeps no event buffer); they are polled in the
/// order Connected, HandshakeConfirmed, DatagramReceived (one per
/// datagram, which only an established connection receives), then, after
/// the stream events, Closed and Drained.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct PendingEvents {
    pub(super) connected: bool,
    pub(super) confirmed: bool,
    pub(super) datagrams: u32,
    /// Closed, with the connection's error.
    pub(super) closed: bool,
    pub(super) drained: bool,
}

impl PendingEvents {
    pub(super) fn is_empty(&self) -> bool {
        !(self.connected || self.confirmed || self.datagrams > 0 || self.closed || self.drained)
    }

    /// The events that come before any stream event: Connected,
    /// HandshakeConfirmed, DatagramReceived.
    pub(super) fn pop_early(&mut self) -> Option<Event> {
        if core::mem::take(&mut self.connected) {
            Some(Event::Connected)
        } else if core::mem::take(&mut self.confirmed) {
            Some(Event::HandshakeConfirmed)
        } else if self.datagrams > 0 {
            self.datagrams -= 1;
            Some(Event::DatagramReceived)
        } else {
            None
        }
    }

    /// The events that come after every stream event: Closed, then
    /// Drained.
    pub(super) fn pop_late(&mut self, error: Option<&ConnectionError>) -> Option<Event> {
        if core::mem::take(&mut self.closed) {
            error.cloned().map(Event::Closed)
        } else if core::mem::take(&mut self.drained) {
            Some(Event::Drained)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_events_come_out_once_each_in_order() {
        let mut p = PendingEvents {
            drained: true,
            closed: true,
            datagrams: 2,
            confirmed: true,
            connected: true,
        };
        let error = Some(&ConnectionError::TimedOut);
        let events: Vec<Event> =
            core::iter::from_fn(|| p.pop_early().or_else(|| p.pop_late(error))).collect();
        assert_eq!(
            events,
            [
                Event::Connected,
                Event::HandshakeConfirmed,
                Event::DatagramReceived,
                Event::DatagramReceived,
                Event::Closed(ConnectionError::TimedOut),
                Event::Drained,
            ]
        );
        assert_eq!(p.pop_early().or_else(|| p.pop_late(error)), None);
    }
}
