//! Received-packet tracking and ACK generation (RFC 9000 §13.2).
//!
//! A connection keeps one [`AckTracker`] per packet-number space. For each
//! packet it unprotects, it asks the tracker whether the packet is a
//! duplicate and records it ([`AckTracker::on_packet_received`]); the
//! tracker decides when an ACK is due and exposes the deadline for the
//! connection's timer ([`AckTracker::ack_deadline`]). When the send path
//! builds a packet it calls [`AckTracker::write_ack`], which writes the
//! frame straight into the packet and returns a small [`AckRecord`]; the
//! connection keeps that record with the sent packet and hands it back to
//! [`AckTracker::on_ack_acked`] when the packet is acknowledged, so that
//! the tracker stops reporting what the peer has seen (RFC 9000 §13.2.4).
//!
//! # When to acknowledge
//!
//! - Initial and Handshake ([`AckTracker::immediate`]): every ack-eliciting
//!   packet at once (RFC 9000 §13.2.1).
//! - Application data ([`AckTracker::delayed`]): after every second
//!   ack-eliciting packet (RFC 9000 §13.2.2, configurable), at once for an
//!   ack-eliciting packet that arrives out of order or marked ECN-CE
//!   (RFC 9000 §13.2.1), and otherwise within max_ack_delay of the first
//!   unacknowledged ack-eliciting packet.
//! - Packets that are not ack-eliciting never cause an ACK by themselves;
//!   they are acknowledged in the next ACK sent for another reason.
//!
//! # Memory
//!
//! Received packet numbers are a [`RangeSet`]: a short sorted vector of
//! ranges with a cap. Adversarial patterns (every other packet number) cost
//! at most the cap; the lowest ranges are forgotten first, and anything
//! forgotten is treated as a duplicate if it arrives again (RFC 9000
//! §12.3, §13.2.3).
//!
//! # Example
//!
//! ```
//! use std::time::{Duration, Instant};
//! use quic_proto::ack::{AckTracker, EcnCodepoint};
//! use quic_proto::frame::{Frame, Frames};
//!
//! let t0 = Instant::now(); // the embedder's clock, passed in
//! let mut space = AckTracker::delayed(Duration::from_millis(25));
//!
//! // The first ack-eliciting packet starts the max_ack_delay timer.
//! assert!(!space.on_packet_received(0, t0, true, None));
//! assert_eq!(space.ack_deadline(), Some(t0 + Duration::from_millis(25)));
//!
//! // The second asks for an ACK now; a repeat is a duplicate.
//! assert!(!space.on_packet_received(1, t0, true, Some(EcnCodepoint::Ect0)));
//! assert!(space.on_packet_received(1, t0, true, None));
//! assert!(space.wants_ack_now(t0));
//!
//! // Write it, 800 µs later, with ack_delay_exponent 3.
//! let mut packet = Vec::new();
//! let record = space
//!     .write_ack(t0 + Duration::from_micros(800), 3, &mut packet, 1200)
//!     .expect("fits");
//! assert!(!space.ack_pending());
//!
//! let Some(Ok(Frame::Ack(ack))) = Frames::new(&packet).next() else {
//!     panic!("not an ACK frame");
//! };
//! assert_eq!(ack.iter().collect::<Vec<_>>(), [0..=1]);
//! assert_eq!(ack.ack_delay(), 100); // 800 µs / 2^3
//! assert_eq!(ack.ecn().map(|c| c.ect0.into_inner()), Some(1));
//!
//! // Once the peer acknowledges the packet carrying that ACK, its ranges are
//! // no longer reported, and stay duplicates.
//! space.on_ack_acked(record);
//! assert!(space.ranges().is_empty());
//! assert!(space.is_duplicate(0));
//! assert_eq!(space.largest_received(), Some(1));
//! ```

mod range_set;
mod tracker;

pub use range_set::{Iter, RangeSet};
pub use tracker::{
    AckRecord, AckTracker, EcnCodepoint, DEFAULT_ACK_ELICITING_THRESHOLD, DEFAULT_MAX_RANGES,
};
