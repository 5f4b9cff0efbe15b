//! Loss recovery (RFC 9002): RTT estimation, sent-packet tracking, ACK
//! processing, loss detection and the probe timeout.
//!
//! The pieces need no connection object. Time comes in as `now`; the
//! connection's state comes in as a [`Context`]; the path's RTT estimator
//! and congestion controller come in as a [`PathRef`]; what each packet
//! carried is the connection's own record type `R`, handed back when the
//! packet is acknowledged, lost or discarded.
//!
//! - [`RttEstimator`] (RFC 9002 §5): one per path.
//! - [`SentPackets`] (RFC 9002 Appendix A.1): the sent packets of one
//!   packet-number space in a dense queue indexed by packet number, 24 bytes
//!   per packet for a `u32` record; see its docs for the layout.
//! - [`LossDetection`] (RFC 9002 §6, Appendix A): the three spaces, the
//!   packet and time thresholds, the PTO with its backoff, and persistent
//!   congestion (§7.6), driving a [`Controller`].
//!
//! # How a connection drives it
//!
//! **On send**, for each packet written: check
//! [`LossDetection::bytes_in_flight`] against [`Controller::window`] (probes
//! are exempt), then call [`LossDetection::on_packet_sent`] with the packet
//! number, a [`SentPacket`] and the path's controller.
//!
//! **On an ACK frame** in space `s`: call [`LossDetection::on_ack_received`]
//! with its ranges and scaled ACK delay. Lost packets, then acknowledged
//! ones, come back through the callback as [`PacketEvent`]s: give each
//! record to the component that wrote the frames (requeue on
//! [`Fate::Lost`], release on [`Fate::Acked`]). The RTT, the controller and
//! the PTO backoff are updated inside. If the ECN-CE count grew, call
//! [`Controller::on_ecn_ce`] afterwards. An error is a connection error
//! (PROTOCOL_VIOLATION).
//!
//! **On a timer**: the connection's next wake-up includes
//! [`LossDetection::timeout`]. Every call that takes `now` first calls
//! [`LossDetection::on_loss_detection_timeout`], which does nothing unless
//! the timer is due, declares packets lost ([`Timeout::Lost`]) or asks for
//! probes ([`Timeout::Probe`], [`Timeout::AntiDeadlock`]).
//!
//! **On key discard** (RFC 9001 §4.9) or rejected 0-RTT: call
//! [`LossDetection::discard_space`] and requeue or drop the records.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use quic_proto::congestion::{Controller, ControllerFactory, NewRenoConfig};
//! use quic_proto::recovery::{
//!     Context, Fate, LossDetection, PathRef, RttEstimator, SentPacket, SpaceId, Timeout,
//! };
//! use quic_proto::Side;
//!
//! let start = Instant::now();
//! let mut rtt = RttEstimator::default();
//! let mut cc = NewRenoConfig::default().build(start, 1200);
//! // The record type: here an index into the connection's own frame log.
//! let mut loss = LossDetection::<u32>::new();
//! let mut ctx = Context::new(Side::Client);
//! ctx.handshake_confirmed = true;
//!
//! // On send: packets 0..4 in the application space, records 100..104.
//! for pn in 0..4u64 {
//!     assert!(loss.bytes_in_flight() + 1200 <= cc.window());
//!     let packet = SentPacket::new(start, 1200, true, true, 100 + pn as u32);
//!     loss.on_packet_sent(SpaceId::Data, pn, packet, &mut *cc);
//! }
//! let wake_up = loss.timeout(&rtt, &ctx).expect("PTO armed");
//!
//! // On an ACK frame acknowledging 3 after 50 ms: 0 is lost by the packet
//! // threshold, 3 is acknowledged, 1 and 2 wait for the time threshold.
//! let now = start + Duration::from_millis(50);
//! let (mut requeue, mut delivered) = (Vec::new(), Vec::new());
//! let outcome = loss.on_ack_received(
//!     now,
//!     SpaceId::Data,
//!     [3..=3],
//!     Duration::ZERO,
//!     PathRef::new(&mut rtt, &mut *cc),
//!     &ctx,
//!     |event| match event.fate {
//!         Fate::Lost => requeue.push(event.packet.record),
//!         Fate::Acked => delivered.push(event.packet.record),
//!         _ => {}
//!     },
//! )?;
//! assert!(outcome.rtt_sampled);
//! assert_eq!((requeue, delivered), (vec![100], vec![103]));
//! assert_eq!(rtt.latest(), Duration::from_millis(50));
//!
//! // On a timer: the time threshold (9/8 RTT) declares 1 and 2 lost.
//! let at = loss.timeout(&rtt, &ctx).expect("loss timer");
//! assert!(at < wake_up);
//! let fired = loss.on_loss_detection_timeout(at, PathRef::new(&mut rtt, &mut *cc), &ctx, |_| {});
//! assert_eq!(fired, Some(Timeout::Lost { space: SpaceId::Data, packets: 2 }));
//! assert_eq!(loss.bytes_in_flight(), 0);
//! # Ok::<(), quic_proto::TransportError>(())
//! ```
//!
//! [`Controller`]: crate::congestion::Controller
//! [`Controller::window`]: crate::congestion::Controller::window
//! [`Controller::on_ecn_ce`]: crate::congestion::Controller::on_ecn_ce

mod loss;
mod persistent;
mod rtt;
mod sent;

use std::time::Duration;

pub use loss::{AckOutcome, LossDetection, Timeout, PTO_PROBE_PACKETS};
pub use persistent::persistent_congestion_duration;
pub use rtt::RttEstimator;
pub use sent::{AckSummary, SentPacket, SentPackets};

use crate::congestion::Controller;
use crate::{Level, Side};

/// kGranularity, the timer granularity (RFC 9002 §6.1.2): "The RECOMMENDED
/// value of the timer granularity (kGranularity) is 1 millisecond."
pub const GRANULARITY: Duration = Duration::from_millis(1);

/// kPacketThreshold (RFC 9002 §6.1.1): "The RECOMMENDED initial value for
/// the packet reordering threshold (kPacketThreshold) is 3".
pub const PACKET_THRESHOLD: u64 = 3;

/// kPersistentCongestionThreshold (RFC 9002 §7.6.1): "The RECOMMENDED value
/// for kPersistentCongestionThreshold is 3".
pub const PERSISTENT_CONGESTION_THRESHOLD: u32 = 3;

/// A packet-number space (RFC 9000 §12.3). 0-RTT and 1-RTT packets share
/// the application-data space.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SpaceId {
    /// Initial packets.
    Initial,
    /// Handshake packets.
    Handshake,
    /// 0-RTT and 1-RTT packets.
    Data,
}

impl SpaceId {
    /// The three spaces in order.
    pub const ALL: [SpaceId; 3] = [SpaceId::Initial, SpaceId::Handshake, SpaceId::Data];

    /// The space's index in [`SpaceId::ALL`], for per-space arrays.
    pub const fn index(self) -> usize {
        self as usize
    }
}

impl From<Level> for SpaceId {
    fn from(level: Level) -> Self {
        match level {
            Level::Initial => SpaceId::Initial,
            Level::Handshake => SpaceId::Handshake,
            Level::ZeroRtt | Level::OneRtt => SpaceId::Data,
        }
    }
}

/// What loss detection needs to know about the connection at the time of a
/// call. Cheap to build; the connection keeps one up to date or makes one
/// per call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Context {
    /// The peer's max_ack_delay transport parameter (RFC 9000 §18.2,
    /// 25 ms by default): the longest it intends to delay an ACK of
    /// application data.
    pub max_ack_delay: Duration,
    /// The handshake is confirmed (RFC 9001 §4.1.2). Before that the PTO
    /// ignores the application space and acknowledgment delays are not
    /// capped at `max_ack_delay` (RFC 9002 §5.3, §6.2.1).
    pub handshake_confirmed: bool,
    /// PeerCompletedAddressValidation (RFC 9002 Appendix A.6): always true
    /// at a server; at a client, true once it has received an
    /// acknowledgment of a Handshake packet. Implied by
    /// `handshake_confirmed`. While false, a client keeps a PTO armed even
    /// with nothing in flight and keeps the PTO backoff on ACKs.
    pub peer_completed_address_validation: bool,
    /// The endpoint has Handshake keys: the anti-deadlock probe is then a
    /// Handshake packet rather than a padded Initial (RFC 9002 §6.2.2.1).
    pub has_handshake_keys: bool,
    /// A server that cannot send anything more before its client's address
    /// is validated (RFC 9000 §8.1). Its PTO is not armed (RFC 9002
    /// §6.2.2.1); when a datagram lifts the limit, clear this and run
    /// [`LossDetection::on_loss_detection_timeout`], which fires at once if
    /// the PTO would have expired meanwhile.
    pub at_amplification_limit: bool,
    /// The sender is not using its congestion window fully, for lack of
    /// application data or flow-control credit (RFC 9002 §7.8); the window
    /// then does not grow on acknowledgments. A sender that is only waiting
    /// for its pacer is not application-limited.
    pub app_limited: bool,
}

impl Context {
    /// The context of a new connection on `side`: nothing confirmed, 25 ms
    /// max_ack_delay (RFC 9000 §18.2 default), and address validation by
    /// the peer complete only for a server.
    pub const fn new(side: Side) -> Self {
        Self {
            max_ack_delay: Duration::from_millis(25),
            handshake_confirmed: false,
            peer_completed_address_validation: side.is_server(),
            has_handshake_keys: false,
            at_amplification_limit: false,
            app_limited: false,
        }
    }

    const fn peer_validated(&self) -> bool {
        self.peer_completed_address_validation || self.handshake_confirmed
    }
}

/// The path state loss detection updates: its RTT estimator and congestion
/// controller, borrowed from wherever the connection keeps its paths.
#[derive(Debug)]
pub struct PathRef<'a> {
    /// The path's RTT estimator.
    pub rtt: &'a mut RttEstimator,
    /// The path's congestion controller.
    pub cc: &'a mut dyn Controller,
}

impl<'a> PathRef<'a> {
    /// Borrows a path's estimator and controller.
    pub fn new(rtt: &'a mut RttEstimator, cc: &'a mut dyn Controller) -> Self {
        Self { rtt, cc }
    }
}

/// What became of a sent packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Fate {
    /// The peer acknowledged it: what it carried was delivered.
    Acked,
    /// It was declared lost (RFC 9002 §6.1): retransmit what it carried, in
    /// a new packet, if still needed (RFC 9000 §13.3).
    Lost,
    /// Its keys were discarded or 0-RTT was rejected: it will never be
    /// acknowledged; requeue what still matters.
    Discarded,
}

/// A sent packet leaving loss recovery, handed to the connection's
/// callback.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PacketEvent<R> {
    /// The packet's space.
    pub space: SpaceId,
    /// Its packet number.
    pub pn: u64,
    /// What became of it.
    pub fate: Fate,
    /// What was recorded when it was sent, including the connection's `R`.
    pub packet: SentPacket<R>,
}

#[cfg(test)]
pub(crate) mod test_util {
    //! Virtual time for tests: one base instant per process, plus offsets.

    use std::time::{Duration, Instant};

    /// The base instant all tests add durations to.
    pub(crate) fn base() -> Instant {
        crate::test_instant()
    }

    pub(crate) const fn ms(x: u64) -> Duration {
        Duration::from_millis(x)
    }
}
