//! A sans-IO QUIC transport.
//!
//! `quic-proto` is the pure core of the stack: it consumes datagrams and time
//! and produces datagrams and timer deadlines. It never reads a clock, opens a
//! socket, spawns a thread or draws unseeded randomness.
//!
//! This layer holds the wire format and packet protection:
//!
//! - [`coding`]: the bounded reader, the encoder destinations, variable-length
//!   integers and the [`Encode`] / [`Decode`] traits;
//! - [`frame`]: every RFC 9000 frame plus DATAGRAM (RFC 9221);
//! - [`packet`]: long and short headers for QUIC v1 and v2, packet numbers,
//!   coalesced datagrams, Version Negotiation and Retry;
//! - [`crypto`]: initial secrets, AEAD and header protection through
//!   `rustls::quic` and `ring`, Retry integrity, stateless reset tokens and key
//!   updates, behind a trait boundary a fuzzing build can swap;
//! - [`transport_params`]: RFC 9000 §18 transport parameters with RFC 9221 and
//!   RFC 9368 extensions.
//!
//! Parsers never panic on any input; see `docs/wire.md` for the contract.

#![forbid(unsafe_code)]

pub mod ack;
pub mod cid;
pub mod cid_manager;
pub mod coding;
pub mod config;
pub mod congestion;
pub mod connection;
pub mod crypto;
pub mod endpoint;
mod error;
pub mod frame;
pub mod packet;
pub mod recovery;
pub mod streams;
pub mod transport_params;
mod version;

pub use cid::{ConnectionId, StatelessResetToken};
pub use coding::{Decode, DecodeError, Encode, Reader, VarInt};
pub use error::{TransportError, TransportErrorCode};
pub use frame::{Dir, Frame, FrameType, StreamId};
pub use version::Version;

/// Which end of a connection an endpoint is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    /// The endpoint that initiated the connection.
    Client,
    /// The endpoint that accepted it.
    Server,
}

impl Side {
    /// The other side.
    pub const fn peer(self) -> Self {
        match self {
            Self::Client => Self::Server,
            Self::Server => Self::Client,
        }
    }

    /// Whether this is the client.
    pub const fn is_client(self) -> bool {
        matches!(self, Self::Client)
    }

    /// Whether this is the server.
    pub const fn is_server(self) -> bool {
        matches!(self, Self::Server)
    }
}

/// A packet protection level, one per kind of protected packet (RFC 9001 §2.1,
/// §4). Initial, Handshake and 1-RTT each have their own packet-number space;
/// 0-RTT shares the application space with 1-RTT.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Level {
    /// Initial packets, protected with keys derived from the client's first DCID.
    Initial,
    /// 0-RTT packets, protected with early-data keys.
    ZeroRtt,
    /// Handshake packets.
    Handshake,
    /// 1-RTT (short-header) packets.
    OneRtt,
}
