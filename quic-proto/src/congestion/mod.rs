//! Congestion control (RFC 9002 §7): the [`Controller`] trait, the
//! [`ControllerFactory`] that builds one per path, and [`NewReno`].
//!
//! A controller belongs to a path (RFC 9002 §7: "The congestion controller
//! is per path"). It does not count bytes in flight; loss recovery does
//! ([`LossDetection::bytes_in_flight`]), and the connection compares the two
//! before sending:
//!
//! ```text
//! may_send = loss.bytes_in_flight() + packet_size <= cc.window()   // unless probing
//! ```
//!
//! [`LossDetection`] calls [`Controller::on_packet_sent`],
//! [`Controller::on_ack`] and [`Controller::on_congestion_event`] in the
//! order RFC 9002 Appendix A requires; the connection calls
//! [`Controller::on_ecn_ce`] after validating ECN counts, and
//! [`Controller::on_mtu_update`] when path MTU discovery changes the
//! datagram size. CUBIC and others will implement the same trait.
//!
//! [`LossDetection`]: crate::recovery::LossDetection
//! [`LossDetection::bytes_in_flight`]: crate::recovery::LossDetection::bytes_in_flight

mod new_reno;

use core::fmt;
use std::time::Instant;

pub use new_reno::{NewReno, NewRenoConfig};

use crate::recovery::RttEstimator;

/// The smallest maximum datagram size QUIC allows (RFC 9000 §14: "a
/// minimum value of 1200 bytes"); controllers treat smaller values as this.
pub const MIN_DATAGRAM_SIZE: u16 = 1200;

/// kInitialWindow (RFC 9002 §7.2): "ten times the maximum datagram size
/// (max_datagram_size), while limiting the window to the larger of 14,720
/// bytes or twice the maximum datagram size".
pub fn initial_window(max_datagram_size: u16) -> u64 {
    let mds = u64::from(max_datagram_size.max(MIN_DATAGRAM_SIZE));
    (10 * mds).min(14_720u64.max(2 * mds))
}

/// kMinimumWindow (RFC 9002 §7.2): "The RECOMMENDED value is 2 *
/// max_datagram_size."
pub fn minimum_window(max_datagram_size: u16) -> u64 {
    2 * u64::from(max_datagram_size.max(MIN_DATAGRAM_SIZE))
}

/// A sender-side congestion controller for one path (RFC 9002 §7).
///
/// Object-safe: a path keeps a `Box<dyn Controller>` built by a
/// [`ControllerFactory`]. Sizes are in bytes of QUIC packets (headers and
/// AEAD tag included, UDP and IP excluded). Methods take `now` and never
/// read a clock.
pub trait Controller: Send + fmt::Debug {
    /// An in-flight packet of `bytes` was sent (RFC 9002 Appendix B.4).
    fn on_packet_sent(&mut self, now: Instant, bytes: u64);

    /// An in-flight packet of `bytes`, sent at `sent_time`, was
    /// acknowledged (RFC 9002 Appendix B.5). `app_limited`: the sender was
    /// not using the whole window, so it must not grow (RFC 9002 §7.8).
    fn on_ack(
        &mut self,
        now: Instant,
        sent_time: Instant,
        bytes: u64,
        rtt: &RttEstimator,
        app_limited: bool,
    );

    /// In-flight packets totalling `lost_bytes` were declared lost, the
    /// newest sent at `sent_time` (RFC 9002 Appendix B.6, B.8). With
    /// `is_persistent_congestion`, the losses established persistent
    /// congestion (RFC 9002 §7.6) and the window collapses to the minimum.
    fn on_congestion_event(
        &mut self,
        now: Instant,
        sent_time: Instant,
        is_persistent_congestion: bool,
        lost_bytes: u64,
    );

    /// The peer's ECN-CE count grew in an ACK whose largest acknowledged
    /// packet was sent at `sent_time` (RFC 9002 §7.1, Appendix B.7). By
    /// default, a congestion event without loss.
    fn on_ecn_ce(&mut self, now: Instant, sent_time: Instant) {
        self.on_congestion_event(now, sent_time, false, 0);
    }

    /// The path's maximum datagram size changed (RFC 9002 §7.2).
    fn on_mtu_update(&mut self, max_datagram_size: u16);

    /// The congestion window: how many bytes may be in flight.
    fn window(&self) -> u64;

    /// The window the controller started with.
    fn initial_window(&self) -> u64;

    /// The controller's state, for statistics and logs.
    fn stats(&self) -> CongestionStats;
}

/// Builds a [`Controller`] for each new path; the endpoint configuration
/// holds one (for example `Arc<dyn ControllerFactory>`).
pub trait ControllerFactory: Send + Sync + fmt::Debug {
    /// A controller for a path whose maximum datagram size is
    /// `max_datagram_size`, created at `now`.
    fn build(&self, now: Instant, max_datagram_size: u16) -> Box<dyn Controller>;
}

/// A snapshot of a controller's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CongestionStats {
    /// The congestion window in bytes.
    pub window: u64,
    /// The slow start threshold, `None` while infinite or for controllers
    /// without one.
    pub ssthresh: Option<u64>,
    /// The phase the controller is in.
    pub phase: Phase,
}

impl CongestionStats {
    /// A snapshot, for controllers outside this crate.
    pub const fn new(window: u64, ssthresh: Option<u64>, phase: Phase) -> Self {
        Self {
            window,
            ssthresh,
            phase,
        }
    }
}

/// The congestion control states of RFC 9002 §7.3.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Phase {
    /// Below the slow start threshold: the window grows by the bytes
    /// acknowledged (RFC 9002 §7.3.1).
    SlowStart,
    /// After a loss or ECN-CE, until a packet sent since is acknowledged
    /// (RFC 9002 §7.3.2).
    Recovery,
    /// At or above the slow start threshold: at most one maximum datagram
    /// size of growth per window acknowledged (RFC 9002 §7.3.3).
    CongestionAvoidance,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initial_window_follows_rfc_formula() {
        assert_eq!(initial_window(1200), 12_000);
        assert_eq!(initial_window(1500), 14_720);
        assert_eq!(initial_window(9000), 18_000);
        assert_eq!(initial_window(0), 12_000);
        assert_eq!(minimum_window(1200), 2400);
        assert_eq!(minimum_window(100), 2400);
    }

    #[test]
    fn controllers_are_object_safe_and_send() {
        fn assert_send<T: Send + ?Sized>() {}
        assert_send::<Box<dyn Controller>>();
        assert_send::<std::sync::Arc<dyn ControllerFactory>>();
    }
}
