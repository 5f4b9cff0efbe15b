//! Decoding one frame from a packet payload (RFC 9000 §12.4, §19).

use super::{
    AckFrame, ConnectionClose, CryptoFrame, DatagramFrame, Dir, Frame, FrameType, NewConnectionId,
    StreamFrame, StreamId,
};
use crate::coding::{DecodeError, Reader, VarInt};
use crate::TransportError;

/// RFC 9000 §19.11, §19.14: stream counts "cannot exceed 2^60".
const MAX_STREAM_COUNT: u64 = 1 << 60;

impl<'a> Frame<'a> {
    /// Reads one frame from `r`, borrowing its data from `r`'s buffer.
    ///
    /// Errors, all tied to the frame type when it was read:
    /// - a frame type not in its shortest encoding: PROTOCOL_VIOLATION
    ///   (RFC 9000 §12.4 allows it; we do);
    /// - an unknown frame type: FRAME_ENCODING_ERROR (RFC 9000 §12.4);
    /// - a truncated or malformed frame, or a field out of its allowed
    ///   range: FRAME_ENCODING_ERROR (RFC 9000 §19).
    ///
    /// On error `r` is left somewhere inside the bad frame; stop reading.
    #[inline]
    pub fn decode(r: &mut Reader<'a>) -> Result<Self, TransportError> {
        let ty = match r.peek_u8() {
            // A one-byte varint, minimally encoded by construction: every
            // known frame type.
            Some(b) if b < 0x40 => {
                r.u8()
                    .map_err(|_| TransportError::frame_encoding("truncated frame type"))?;
                FrameType(b.into())
            }
            _ => Self::decode_type(r)?,
        };
        Self::decode_body(ty, r).map_err(|e| TransportError::from_frame_decode(ty, e))
    }

    /// Reads a frame type of any length: unknown, or known but not in its
    /// shortest encoding.
    #[cold]
    fn decode_type(r: &mut Reader<'a>) -> Result<FrameType, TransportError> {
        let start = r.position();
        let ty = r
            .varint()
            .map_err(|_| TransportError::frame_encoding("truncated frame type"))?;
        let ty = FrameType(ty.into_inner());
        // RFC 9000 §12.4: "a frame type MUST use the shortest possible
        // encoding ... An endpoint MAY treat the receipt of a frame type that
        // uses a longer encoding than necessary as a connection error of type
        // PROTOCOL_VIOLATION."
        if r.position() - start != VarInt::size_of(ty.0) {
            return Err(
                TransportError::protocol_violation("frame type not minimally encoded")
                    .with_frame(ty),
            );
        }
        Ok(ty)
    }

    /// The bulk of the frames, STREAM, is decoded inline in the caller's
    /// loop; the others after a dispatch.
    #[inline]
    fn decode_body(ty: FrameType, r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        if ty.is_stream() {
            Ok(Self::Stream(StreamFrame::decode(ty, r)?))
        } else {
            Self::decode_other(ty, r)
        }
    }

    fn decode_other(ty: FrameType, r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Ok(match ty {
            FrameType::PADDING => Self::Padding {
                len: 1 + skip_zeros(r)?,
            },
            FrameType::PING => Self::Ping,
            FrameType::ACK | FrameType::ACK_ECN => Self::Ack(AckFrame::decode(ty, r)?),
            FrameType::RESET_STREAM => Self::ResetStream {
                id: stream_id(r)?,
                error_code: r.varint()?,
                final_size: r.varint()?,
            },
            FrameType::STOP_SENDING => Self::StopSending {
                id: stream_id(r)?,
                error_code: r.varint()?,
            },
            FrameType::CRYPTO => Self::Crypto(CryptoFrame::decode(r)?),
            FrameType::NEW_TOKEN => Self::NewToken {
                token: new_token(r)?,
            },
            FrameType::MAX_DATA => Self::MaxData { max: r.varint()? },
            FrameType::MAX_STREAM_DATA => Self::MaxStreamData {
                id: stream_id(r)?,
                max: r.varint()?,
            },
            FrameType::MAX_STREAMS_BIDI | FrameType::MAX_STREAMS_UNI => Self::MaxStreams {
                dir: streams_dir(ty, FrameType::MAX_STREAMS_BIDI),
                count: stream_count(r)?,
            },
            FrameType::DATA_BLOCKED => Self::DataBlocked { limit: r.varint()? },
            FrameType::STREAM_DATA_BLOCKED => Self::StreamDataBlocked {
                id: stream_id(r)?,
                limit: r.varint()?,
            },
            FrameType::STREAMS_BLOCKED_BIDI | FrameType::STREAMS_BLOCKED_UNI => {
                Self::StreamsBlocked {
                    dir: streams_dir(ty, FrameType::STREAMS_BLOCKED_BIDI),
                    limit: stream_count(r)?,
                }
            }
            FrameType::NEW_CONNECTION_ID => Self::NewConnectionId(NewConnectionId::decode(r)?),
            FrameType::RETIRE_CONNECTION_ID => Self::RetireConnectionId {
                sequence: r.varint()?,
            },
            FrameType::PATH_CHALLENGE => Self::PathChallenge(r.array()?),
            FrameType::PATH_RESPONSE => Self::PathResponse(r.array()?),
            FrameType::CONNECTION_CLOSE | FrameType::CONNECTION_CLOSE_APP => {
                Self::ConnectionClose(ConnectionClose::decode(ty, r)?)
            }
            FrameType::HANDSHAKE_DONE => Self::HandshakeDone,
            FrameType::DATAGRAM | FrameType::DATAGRAM_LEN => {
                Self::Datagram(DatagramFrame::decode(ty, r)?)
            }
            // RFC 9000 §12.4: "An endpoint MUST treat the receipt of a frame of
            // unknown type as a connection error of type FRAME_ENCODING_ERROR."
            _ => return Err(DecodeError::InvalidValue("unknown frame type")),
        })
    }
}

/// Consumes the 0x00 bytes that follow a PADDING type byte and returns how
/// many there were: one scan, no per-byte frame dispatch.
fn skip_zeros(r: &mut Reader<'_>) -> Result<usize, DecodeError> {
    let rest = r.buffer().get(r.position()..).unwrap_or_default();
    let n = rest.iter().position(|&b| b != 0).unwrap_or(rest.len());
    r.bytes(n)?;
    Ok(n)
}

fn stream_id(r: &mut Reader<'_>) -> Result<StreamId, DecodeError> {
    r.varint().map(StreamId::from_varint)
}

/// The direction a MAX_STREAMS or STREAMS_BLOCKED type names: its
/// bidirectional variant is `bidi`, the next value is unidirectional.
fn streams_dir(ty: FrameType, bidi: FrameType) -> Dir {
    if ty == bidi {
        Dir::Bi
    } else {
        Dir::Uni
    }
}

/// RFC 9000 §19.11 (MAX_STREAMS), §19.14 (STREAMS_BLOCKED): a count above
/// 2^60 "MUST be treated as a connection error of type ... FRAME_ENCODING_ERROR".
fn stream_count(r: &mut Reader<'_>) -> Result<VarInt, DecodeError> {
    let count = r.varint()?;
    if count.into_inner() > MAX_STREAM_COUNT {
        return Err(DecodeError::InvalidValue("stream count above 2^60"));
    }
    Ok(count)
}

/// RFC 9000 §19.7: "A client MUST treat receipt of a NEW_TOKEN frame with an
/// empty Token field as a connection error of type FRAME_ENCODING_ERROR."
fn new_token<'a>(r: &mut Reader<'a>) -> Result<&'a [u8], DecodeError> {
    let token = r.varint_prefixed()?;
    if token.is_empty() {
        return Err(DecodeError::InvalidValue("empty NEW_TOKEN token"));
    }
    Ok(token)
}
