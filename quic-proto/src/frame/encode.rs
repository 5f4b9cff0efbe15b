//! Encoding frames (RFC 9000 §19; RFC 9221 §4).

use super::{put_type, Frame, StreamId};
use crate::coding::{Encode, Encoder, VarInt};

impl Encode for Frame<'_> {
    /// Writes the frame. A [`Frame::Padding`] writes `len` zero bytes; STREAM
    /// and DATAGRAM frames without a Length field must be the last frame of
    /// their packet.
    fn encode<E: Encoder + ?Sized>(&self, e: &mut E) {
        match *self {
            Self::Padding { len } => e.put_zeros(len),
            Self::Ack(ack) => ack.encode(e),
            Self::Crypto(c) => c.encode(e),
            Self::Stream(s) => s.encode(e),
            Self::NewConnectionId(n) => n.encode(e),
            Self::ConnectionClose(c) => c.encode(e),
            Self::Datagram(d) => d.encode(e),
            Self::Ping | Self::HandshakeDone => put_type(e, self.ty()),
            Self::ResetStream {
                id,
                error_code,
                final_size,
            } => {
                put_type(e, self.ty());
                put_id(e, id);
                e.put_varint(error_code);
                e.put_varint(final_size);
            }
            Self::StopSending { id, error_code } => {
                put_type(e, self.ty());
                put_id(e, id);
                e.put_varint(error_code);
            }
            Self::NewToken { token } => {
                put_type(e, self.ty());
                e.put_varint(VarInt::saturating(token.len() as u64));
                e.put_slice(token);
            }
            Self::MaxData { max: x }
            | Self::DataBlocked { limit: x }
            | Self::MaxStreams { count: x, .. }
            | Self::StreamsBlocked { limit: x, .. }
            | Self::RetireConnectionId { sequence: x } => {
                put_type(e, self.ty());
                e.put_varint(x);
            }
            Self::MaxStreamData { id, max: x } | Self::StreamDataBlocked { id, limit: x } => {
                put_type(e, self.ty());
                put_id(e, id);
                e.put_varint(x);
            }
            Self::PathChallenge(data) | Self::PathResponse(data) => {
                put_type(e, self.ty());
                e.put_slice(&data);
            }
        }
    }
}

fn put_id<E: Encoder + ?Sized>(e: &mut E, id: StreamId) {
    e.put_varint(id.to_varint());
}
