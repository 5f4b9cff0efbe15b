//! Connection ID management (RFC 9000 §5.1): the IDs we issue and the IDs the peer gave us.
//!
//! A connection owns one [`LocalCids`] and one [`RemoteCids`]. Neither knows
//! about packets, keys or the connection around it:
//!
//! - [`LocalCids`] holds the connection IDs we issued, the ones the endpoint
//!   routes incoming datagrams by. It issues NEW_CONNECTION_ID frames up to
//!   the smaller of the peer's `active_connection_id_limit` and our own cap
//!   (RFC 9000 §5.1.1), handles the peer's RETIRE_CONNECTION_ID frames and
//!   replaces what the peer retires, and can ask the peer to retire every
//!   ID issued so far with Retire Prior To ([`LocalCids::rotate`]). Every
//!   change to the routing table comes out as a [`CidEvent`] from
//!   [`LocalCids::poll_event`], so the endpoint never scans connections.
//! - [`RemoteCids`] holds the connection IDs the peer issued: the active one
//!   (our Destination Connection ID) and spares, with their stateless reset
//!   tokens. It checks NEW_CONNECTION_ID frames (RFC 9000 §19.15), honours
//!   Retire Prior To, queues RETIRE_CONNECTION_ID frames, enforces our
//!   `active_connection_id_limit` and recognises stateless resets
//!   (RFC 9000 §10.3.1).
//!
//! The core draws no randomness of its own: new IDs and their reset tokens
//! come from the caller through [`CidSource`]. The endpoint implements it
//! with its seeded generator and a
//! [`ResetTokenKey`](crate::crypto::ResetTokenKey), and is responsible for
//! never handing out the same ID twice (RFC 9000 §5.1: "the same connection
//! ID MUST NOT be issued more than once on the same connection") and for
//! avoiding collisions with other connections' IDs.
//!
//! # Frames and records
//!
//! Each side owns its frames: `write_frames` writes NEW_CONNECTION_ID or
//! RETIRE_CONNECTION_ID frames straight into the packet being built, never
//! more than a byte budget, and pushes one small [`CidRecord`] per frame.
//! The connection keeps the records with the sent packet and hands each back
//! to `on_acked` or `on_lost`; a lost frame is written again only while it
//! still matters. Both types accept every [`CidRecord`] and ignore the kind
//! that belongs to the other one, so the connection can hand records to both
//! without sorting them.
//!
//! # Memory
//!
//! Everything is bounded by configuration, never by what the peer sends:
//! [`RemoteCids`] stores at most its `active_connection_id_limit` IDs
//! (clamped to [`MAX_ACTIVE_CID_LIMIT`]) and at most twice that many pending
//! RETIRE_CONNECTION_ID frames (RFC 9000 §5.1.2), closing the connection
//! with CONNECTION_ID_LIMIT_ERROR beyond that; [`LocalCids`] holds at most
//! twice its cap (the IDs being retired by a rotation and their
//! replacements).
//!
//! # Example
//!
//! ```
//! use quic_proto::cid_manager::{CidEvent, CidRecord, LocalCids, RemoteCids};
//! use quic_proto::frame::{Frame, Frames};
//! use quic_proto::{ConnectionId, StatelessResetToken};
//!
//! // A deterministic source of IDs; an endpoint uses its seeded RNG and
//! // `ResetTokenKey` instead.
//! let mut n = 0u8;
//! let mut source = move || {
//!     n += 1;
//!     (ConnectionId::new(&[n; 8]).unwrap(), StatelessResetToken([n; 16]))
//! };
//!
//! // Server side: our handshake SCID is sequence 0.
//! let mut ours = LocalCids::new(ConnectionId::new(&[0; 8]).unwrap(), 8);
//! // The peer's transport parameters allow 3 active IDs: 2 more to issue.
//! ours.set_peer_limit(3, &mut source);
//! let mut routes = Vec::new();
//! while let Some(CidEvent::Issued(cid)) = ours.poll_event() {
//!     routes.push(cid);
//! }
//! assert_eq!(routes.len(), 3); // sequence 0 and the two new ones
//!
//! // The send path asks for frames and keeps the records with the packet.
//! let mut packet = Vec::new();
//! let mut records: Vec<CidRecord> = Vec::new();
//! ours.write_frames(&mut packet, 1200, &mut records);
//! assert_eq!(records.len(), 2);
//!
//! // The peer (here: our own RemoteCids standing in for it) takes them in.
//! let mut theirs = RemoteCids::new(ConnectionId::new(&[0; 8]).unwrap(), 4);
//! for frame in Frames::new(&packet) {
//!     if let Frame::NewConnectionId(f) = frame.unwrap() {
//!         theirs.on_new_connection_id(&f).unwrap();
//!     }
//! }
//! assert_eq!(theirs.spare_count(), 2);
//!
//! // The peer switches to a spare and retires sequence 0.
//! let new_dcid = theirs.rotate().unwrap();
//! let mut retire = Vec::new();
//! theirs.write_frames(&mut retire, 1200, &mut records);
//! let Some(Ok(Frame::RetireConnectionId { sequence })) = Frames::new(&retire).next() else {
//!     panic!("expected RETIRE_CONNECTION_ID");
//! };
//! ours.on_retire_connection_id(sequence, &new_dcid, &mut source).unwrap();
//! assert_eq!(ours.poll_event(), Some(CidEvent::Retired(ConnectionId::new(&[0; 8]).unwrap())));
//! assert!(matches!(ours.poll_event(), Some(CidEvent::Issued(_)))); // its replacement
//!
//! // Acknowledged frames are forgotten.
//! for r in records {
//!     ours.on_acked(r);
//!     theirs.on_acked(r);
//! }
//! assert!(!theirs.has_pending_frames());
//! ```

mod local;
mod remote;

pub use local::LocalCids;
pub use remote::RemoteCids;

use crate::{ConnectionId, StatelessResetToken};

/// The largest `active_connection_id_limit` [`RemoteCids`] enforces; larger
/// configured values are clamped to it, so a peer can never make us store
/// more than this many of its IDs.
pub const MAX_ACTIVE_CID_LIMIT: u64 = 64;

/// The cap on our own active IDs a connection uses unless configured
/// otherwise ([`LocalCids::new`]).
pub const DEFAULT_LOCAL_CAP: u64 = 8;

/// Where new local connection IDs and their stateless reset tokens come from.
///
/// The endpoint implements it with its seeded generator and its
/// [`ResetTokenKey`](crate::crypto::ResetTokenKey). Every ID returned must be
/// new on this connection (RFC 9000 §5.1) and non-empty; [`LocalCids`] stops
/// issuing if it receives a zero-length ID.
///
/// Closures returning the pair implement it too.
pub trait CidSource {
    /// A fresh connection ID and its stateless reset token.
    fn new_cid(&mut self) -> (ConnectionId, StatelessResetToken);
}

impl<F> CidSource for F
where
    F: FnMut() -> (ConnectionId, StatelessResetToken),
{
    fn new_cid(&mut self) -> (ConnectionId, StatelessResetToken) {
        self()
    }
}

/// A change to the set of local connection IDs the endpoint must route to
/// this connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CidEvent {
    /// Route datagrams with this Destination Connection ID to the connection.
    Issued(ConnectionId),
    /// Stop routing this ID: the peer retired it (RFC 9000 §19.16).
    Retired(ConnectionId),
}

/// What a sent packet carried for connection ID management: one frame and
/// its sequence number. Hand it back to the component that wrote it (or to
/// both; each ignores the other's kind) when the packet is acknowledged or
/// lost.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CidRecord {
    /// A NEW_CONNECTION_ID frame written by [`LocalCids`].
    NewConnectionId {
        /// The sequence number of the issued ID.
        sequence: u64,
    },
    /// A RETIRE_CONNECTION_ID frame written by [`RemoteCids`].
    RetireConnectionId {
        /// The sequence number of the retired ID.
        sequence: u64,
    },
}

#[cfg(test)]
mod tests;
