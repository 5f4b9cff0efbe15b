//! Counters of the socket layer and, when asked, system-call durations.

use std::time::{Duration, Instant};

/// What the socket layer did, counted since the sockets were opened.
///
/// The counters are always kept (they cost an addition each); the
/// system-call durations only when [`IoStats::syscalls`] is `Some`, since
/// timing a call reads the clock twice.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct IoStats {
    /// Datagrams handed to the kernel (a GSO send of n segments counts n).
    pub datagrams_sent: u64,
    /// Send calls that succeeded.
    pub send_calls: u64,
    /// Of those, the ones that carried more than one datagram (GSO).
    pub gso_sends: u64,
    /// Sends refused with `WouldBlock` (the datagrams were kept and retried).
    pub send_would_block: u64,
    /// Datagrams dropped because their send failed for another reason
    /// (loss recovery resends their content).
    pub send_errors: u64,
    /// GSO sends refused by the kernel or the driver (EIO, or the
    /// simulated EIO), after which the layer sent one datagram per call.
    pub gso_failures: u64,
    /// Datagrams given to the endpoint (a GRO batch of n counts n).
    pub datagrams_received: u64,
    /// Receive calls that returned data.
    pub recv_calls: u64,
    /// Durations of the send and receive calls, when measured.
    pub syscalls: Option<SyscallStats>,
}

/// Durations of the socket layer's system calls (see
/// [`IoStats::syscalls`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SyscallStats {
    /// `sendmsg` (one per GSO batch or datagram), `WouldBlock` included.
    pub send: CallTimes,
    /// `recvmmsg` / `recvmsg`, the final `WouldBlock` included.
    pub recv: CallTimes,
}

/// How often one kind of call ran and how long it took.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CallTimes {
    /// How many calls were timed.
    pub calls: u64,
    /// Their total duration.
    pub total: Duration,
    /// The longest one.
    pub max: Duration,
}

impl CallTimes {
    /// Adds one call that took `took`.
    pub fn record(&mut self, took: Duration) {
        self.calls += 1;
        self.total += took;
        self.max = self.max.max(took);
    }

    /// The mean duration of a call (zero before the first).
    pub fn mean(&self) -> Duration {
        match u32::try_from(self.calls) {
            Ok(0) => Duration::ZERO,
            Ok(n) => self.total / n,
            Err(_) => Duration::from_secs_f64(self.total.as_secs_f64() / self.calls as f64),
        }
    }
}

impl IoStats {
    /// Counters starting at zero; system calls are timed if `timed`.
    pub fn new(timed: bool) -> Self {
        Self {
            syscalls: timed.then(SyscallStats::default),
            ..Self::default()
        }
    }

    /// Starts timing a call, if calls are timed.
    pub(crate) fn start(&self) -> Option<Instant> {
        self.syscalls.map(|_| crate::now())
    }

    /// Ends timing a send call started with [`IoStats::start`].
    pub(crate) fn sent(&mut self, started: Option<Instant>) {
        if let (Some(s), Some(t)) = (self.syscalls.as_mut(), started) {
            s.send.record(crate::now().saturating_duration_since(t));
        }
    }

    /// Ends timing a receive call started with [`IoStats::start`].
    pub(crate) fn received(&mut self, started: Option<Instant>) {
        if let (Some(s), Some(t)) = (self.syscalls.as_mut(), started) {
            s.recv.record(crate::now().saturating_duration_since(t));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_times_keep_count_total_max_and_mean() {
        let mut t = CallTimes::default();
        assert_eq!(t.mean(), Duration::ZERO);
        t.record(Duration::from_micros(10));
        t.record(Duration::from_micros(30));
        assert_eq!(t.calls, 2);
        assert_eq!(t.total, Duration::from_micros(40));
        assert_eq!(t.max, Duration::from_micros(30));
        assert_eq!(t.mean(), Duration::from_micros(20));
    }

    #[test]
    fn untimed_stats_never_read_the_clock() {
        let mut s = IoStats::new(false);
        assert!(s.start().is_none());
        s.sent(None);
        assert_eq!(s, IoStats::default());
        assert!(IoStats::new(true).start().is_some());
    }
}
