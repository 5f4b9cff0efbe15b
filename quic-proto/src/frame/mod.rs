//! QUIC frames (RFC 9000 §12.4, §19; RFC 9221 §4).
//!
//! # Zero copy
//!
//! A [`Frame`] borrows from the decrypted packet payload: STREAM, CRYPTO,
//! DATAGRAM and NEW_TOKEN data, reason phrases, and the ACK ranges are slices
//! of the payload, never copies. An [`AckFrame`] keeps its additional ranges
//! as the raw bytes they arrived in (checked while decoding) and
//! [`AckFrame::iter`] walks them, so decoding any frame allocates nothing.
//! A run of PADDING bytes decodes as one [`Frame::Padding`] with its length.
//!
//! Decode a payload with [`Frames`], which yields frames in order and stops
//! after the first error, or one frame at a time with [`Frame::decode`].
//!
//! # Sending
//!
//! Every frame type implements [`Encode`](crate::Encode). For data-carrying
//! frames the packet builder can also write just the header and copy the
//! data straight from its stream buffer: [`StreamFrame::encode_header`],
//! [`CryptoFrame::encode_header`], [`DatagramFrame::encode_header`], with
//! `header_len` and `max_data_len` companions to size them. ACK frames are
//! written from ranges with [`AckFrame::encode_ranges`].
//!
//! # No-panic contract
//!
//! Decoding never panics, whatever the bytes: every read goes through the
//! bounded [`Reader`](crate::Reader), every sum or difference of peer values
//! is checked, and every length is checked against what is left of the
//! packet before anything is sliced. A malformed frame is a
//! FRAME_ENCODING_ERROR [`TransportError`](crate::TransportError) naming the
//! frame type (RFC 9000 §12.4); a frame type sent in a longer encoding than
//! needed is a PROTOCOL_VIOLATION. The rules that depend on the packet type
//! are checked by [`FrameType::check_allowed`].
//!
//! Encoding trusts the caller: values are assumed to be in range (the types
//! mostly guarantee it), and anything that cannot be put on the wire
//! saturates rather than panics.

mod ack;
#[cfg(any(test, feature = "arbitrary"))]
mod arb;
mod cid;
mod close;
mod crypto;
mod datagram;
mod decode;
mod encode;
mod iter;
mod stream;
mod stream_id;
mod ty;

#[cfg(test)]
mod tests;

pub use ack::{AckFrame, AckIter, EcnCounts, InvalidAckRanges};
pub use cid::NewConnectionId;
pub use close::ConnectionClose;
pub use crypto::CryptoFrame;
pub use datagram::DatagramFrame;
pub use iter::Frames;
pub use stream::{StreamFrame, StreamHeader};
pub use stream_id::{Dir, StreamId};
pub use ty::FrameType;

use crate::coding::{DecodeError, Encoder, VarInt};

/// One QUIC frame, borrowing its variable-length fields from the packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Frame<'a> {
    /// A run of PADDING bytes (RFC 9000 §19.1), `len` of them (at least 1).
    Padding {
        /// How many consecutive 0x00 bytes.
        len: usize,
    },
    /// PING (RFC 9000 §19.2).
    Ping,
    /// ACK or ACK_ECN (RFC 9000 §19.3).
    Ack(AckFrame<'a>),
    /// RESET_STREAM (RFC 9000 §19.4).
    ResetStream {
        /// The stream being reset.
        id: StreamId,
        /// The application error code.
        error_code: VarInt,
        /// The final size of the stream.
        final_size: VarInt,
    },
    /// STOP_SENDING (RFC 9000 §19.5).
    StopSending {
        /// The stream the peer should stop sending on.
        id: StreamId,
        /// The application error code.
        error_code: VarInt,
    },
    /// CRYPTO (RFC 9000 §19.6).
    Crypto(CryptoFrame<'a>),
    /// NEW_TOKEN (RFC 9000 §19.7).
    NewToken {
        /// The token, never empty.
        token: &'a [u8],
    },
    /// STREAM (RFC 9000 §19.8).
    Stream(StreamFrame<'a>),
    /// MAX_DATA (RFC 9000 §19.9).
    MaxData {
        /// The connection-level limit in bytes.
        max: VarInt,
    },
    /// MAX_STREAM_DATA (RFC 9000 §19.10).
    MaxStreamData {
        /// The stream.
        id: StreamId,
        /// The stream-level limit in bytes.
        max: VarInt,
    },
    /// MAX_STREAMS (RFC 9000 §19.11).
    MaxStreams {
        /// Which kind of stream the limit is for.
        dir: Dir,
        /// The cumulative stream count, at most 2^60.
        count: VarInt,
    },
    /// DATA_BLOCKED (RFC 9000 §19.12).
    DataBlocked {
        /// The connection-level limit the sender is blocked at.
        limit: VarInt,
    },
    /// STREAM_DATA_BLOCKED (RFC 9000 §19.13).
    StreamDataBlocked {
        /// The stream.
        id: StreamId,
        /// The stream-level limit the sender is blocked at.
        limit: VarInt,
    },
    /// STREAMS_BLOCKED (RFC 9000 §19.14).
    StreamsBlocked {
        /// Which kind of stream the sender wants to open.
        dir: Dir,
        /// The stream limit the sender is blocked at, at most 2^60.
        limit: VarInt,
    },
    /// NEW_CONNECTION_ID (RFC 9000 §19.15).
    NewConnectionId(NewConnectionId),
    /// RETIRE_CONNECTION_ID (RFC 9000 §19.16).
    RetireConnectionId {
        /// The sequence number of the connection ID to retire.
        sequence: VarInt,
    },
    /// PATH_CHALLENGE (RFC 9000 §19.17) with its 8 bytes of data.
    PathChallenge([u8; 8]),
    /// PATH_RESPONSE (RFC 9000 §19.18) echoing a challenge's data.
    PathResponse([u8; 8]),
    /// CONNECTION_CLOSE, transport or application (RFC 9000 §19.19).
    ConnectionClose(ConnectionClose<'a>),
    /// HANDSHAKE_DONE (RFC 9000 §19.20).
    HandshakeDone,
    /// DATAGRAM (RFC 9221 §4).
    Datagram(DatagramFrame<'a>),
}

impl Frame<'_> {
    /// The frame type this frame is encoded with (including the flag bits of
    /// STREAM, ACK, MAX_STREAMS, STREAMS_BLOCKED, CONNECTION_CLOSE and
    /// DATAGRAM types).
    pub fn ty(&self) -> FrameType {
        match self {
            Self::Padding { .. } => FrameType::PADDING,
            Self::Ping => FrameType::PING,
            Self::Ack(ack) => ack.ty(),
            Self::ResetStream { .. } => FrameType::RESET_STREAM,
            Self::StopSending { .. } => FrameType::STOP_SENDING,
            Self::Crypto(_) => FrameType::CRYPTO,
            Self::NewToken { .. } => FrameType::NEW_TOKEN,
            Self::Stream(s) => s.ty(),
            Self::MaxData { .. } => FrameType::MAX_DATA,
            Self::MaxStreamData { .. } => FrameType::MAX_STREAM_DATA,
            Self::MaxStreams { dir: Dir::Bi, .. } => FrameType::MAX_STREAMS_BIDI,
            Self::MaxStreams { dir: Dir::Uni, .. } => FrameType::MAX_STREAMS_UNI,
            Self::DataBlocked { .. } => FrameType::DATA_BLOCKED,
            Self::StreamDataBlocked { .. } => FrameType::STREAM_DATA_BLOCKED,
            Self::StreamsBlocked { dir: Dir::Bi, .. } => FrameType::STREAMS_BLOCKED_BIDI,
            Self::StreamsBlocked { dir: Dir::Uni, .. } => FrameType::STREAMS_BLOCKED_UNI,
            Self::NewConnectionId(_) => FrameType::NEW_CONNECTION_ID,
            Self::RetireConnectionId { .. } => FrameType::RETIRE_CONNECTION_ID,
            Self::PathChallenge(_) => FrameType::PATH_CHALLENGE,
            Self::PathResponse(_) => FrameType::PATH_RESPONSE,
            Self::ConnectionClose(c) => c.ty(),
            Self::HandshakeDone => FrameType::HANDSHAKE_DONE,
            Self::Datagram(d) => d.ty(),
        }
    }

    /// Whether receiving this frame obliges the peer to acknowledge it
    /// (RFC 9002 §2); see [`FrameType::is_ack_eliciting`].
    pub fn is_ack_eliciting(&self) -> bool {
        self.ty().is_ack_eliciting()
    }

    /// Whether this frame may appear in a path-probing packet (RFC 9000
    /// §9.1); see [`FrameType::is_probing`].
    pub fn is_probing(&self) -> bool {
        self.ty().is_probing()
    }
}

/// Writes a frame type (always its shortest encoding, RFC 9000 §12.4).
fn put_type<E: Encoder + ?Sized>(e: &mut E, ty: FrameType) {
    e.put_varint(VarInt::saturating(ty.0));
}

/// RFC 9000 §19.6, §19.8: "The largest offset delivered on a stream -- the
/// sum of the offset and data length -- cannot exceed 2^62-1."
fn check_end(offset: VarInt, len: usize) -> Result<(), DecodeError> {
    let end = offset.into_inner().checked_add(len as u64);
    match end {
        Some(end) if end <= VarInt::MAX.into_inner() => Ok(()),
        _ => Err(DecodeError::InvalidValue("offset + length exceeds 2^62-1")),
    }
}

/// The most data bytes that fit in `avail` bytes after a varint Length field
/// giving their count. O(1): tries each of the four varint sizes.
fn max_prefixed_len(avail: usize) -> usize {
    let mut best = 0;
    for (size, cap) in [
        (1, 63u64),
        (2, (1 << 14) - 1),
        (4, (1 << 30) - 1),
        (8, VarInt::MAX.into_inner()),
    ] {
        if let Some(room) = avail.checked_sub(size) {
            let n = usize::try_from(cap).map_or(room, |cap| room.min(cap));
            best = best.max(n);
        }
    }
    best
}
