//! `arbitrary::Arbitrary` for frames: only valid, encodable frames, so that a
//! fuzz target can assert `decode(encode(f)) == f`.
//!
//! Also compiled for unit tests (the `arbitrary` crate is a dev-dependency),
//! where the property tests drive it with random bytes.

use arbitrary::{Arbitrary, Result, Unstructured};

use super::{
    AckFrame, ConnectionClose, CryptoFrame, DatagramFrame, Dir, Frame, FrameType, NewConnectionId,
    StreamFrame,
};
use crate::coding::VarInt;
use crate::{ConnectionId, StatelessResetToken};

/// The number of frame kinds [`frame_of_kind`] builds, one per variant of
/// [`Frame`].
pub(super) const KINDS: usize = 21;

/// Any value a varint can hold.
pub(super) fn varint(u: &mut Unstructured<'_>) -> Result<VarInt> {
    Ok(VarInt::saturating(
        u.arbitrary::<u64>()? & VarInt::MAX.into_inner(),
    ))
}

fn varint_up_to(u: &mut Unstructured<'_>, max: u64) -> Result<VarInt> {
    Ok(VarInt::saturating(u.int_in_range(0..=max)?))
}

/// Bytes borrowed from the input, as many as it decides.
fn bytes<'a>(u: &mut Unstructured<'a>) -> Result<&'a [u8]> {
    let n = u.arbitrary_len::<u8>()?;
    u.bytes(n)
}

fn dir(u: &mut Unstructured<'_>) -> Result<Dir> {
    Ok(if u.arbitrary()? { Dir::Uni } else { Dir::Bi })
}

/// Offset and data such that offset + len stays within 2^62-1
/// (RFC 9000 §19.6, §19.8).
fn offset_and_data<'a>(u: &mut Unstructured<'a>) -> Result<(VarInt, &'a [u8])> {
    let data = bytes(u)?;
    let offset = varint_up_to(u, VarInt::MAX.into_inner() - data.len() as u64)?;
    Ok((offset, data))
}

fn stream_frame<'a>(u: &mut Unstructured<'a>) -> Result<StreamFrame<'a>> {
    let id = u.arbitrary()?;
    let (offset, data) = offset_and_data(u)?;
    Ok(StreamFrame {
        id,
        offset,
        data,
        fin: u.arbitrary()?,
        with_len: u.arbitrary()?,
    })
}

fn new_connection_id(u: &mut Unstructured<'_>) -> Result<NewConnectionId> {
    let sequence = varint(u)?;
    let retire_prior_to = varint_up_to(u, sequence.into_inner())?;
    let len = u.int_in_range(1..=ConnectionId::MAX_LEN)?;
    let mut cid = [0u8; ConnectionId::MAX_LEN];
    u.fill_buffer(&mut cid)?;
    let cid = ConnectionId::new(cid.get(..len).unwrap_or_default())
        .map_err(|_| arbitrary::Error::IncorrectFormat)?;
    Ok(NewConnectionId {
        sequence,
        retire_prior_to,
        cid,
        reset_token: StatelessResetToken(u.arbitrary()?),
    })
}

fn connection_close<'a>(u: &mut Unstructured<'a>) -> Result<ConnectionClose<'a>> {
    let application = u.arbitrary()?;
    let frame_type = if application || u.arbitrary()? {
        None
    } else {
        // 0 means "unknown" on the wire and decodes as None.
        Some(FrameType(varint(u)?.into_inner().max(1)))
    };
    Ok(ConnectionClose {
        application,
        error_code: varint(u)?,
        frame_type,
        reason: bytes(u)?,
    })
}

fn new_token<'a>(u: &mut Unstructured<'a>) -> Result<&'a [u8]> {
    // RFC 9000 §19.7: never empty.
    let token = bytes(u)?;
    Ok(if token.is_empty() { b"t" } else { token })
}

/// A valid frame of the given kind (`kind < KINDS`; larger values wrap).
pub(super) fn frame_of_kind<'a>(kind: usize, u: &mut Unstructured<'a>) -> Result<Frame<'a>> {
    const MAX_COUNT: u64 = 1 << 60;
    Ok(match kind % KINDS {
        0 => Frame::Padding {
            len: u.int_in_range(1..=1500)?,
        },
        1 => Frame::Ping,
        2 => Frame::Ack(AckFrame::arbitrary(u)?),
        3 => Frame::ResetStream {
            id: u.arbitrary()?,
            error_code: varint(u)?,
            final_size: varint(u)?,
        },
        4 => Frame::StopSending {
            id: u.arbitrary()?,
            error_code: varint(u)?,
        },
        5 => {
            let (offset, data) = offset_and_data(u)?;
            Frame::Crypto(CryptoFrame { offset, data })
        }
        6 => Frame::NewToken {
            token: new_token(u)?,
        },
        7 => Frame::Stream(stream_frame(u)?),
        8 => Frame::MaxData { max: varint(u)? },
        9 => Frame::MaxStreamData {
            id: u.arbitrary()?,
            max: varint(u)?,
        },
        10 => Frame::MaxStreams {
            dir: dir(u)?,
            count: varint_up_to(u, MAX_COUNT)?,
        },
        11 => Frame::DataBlocked { limit: varint(u)? },
        12 => Frame::StreamDataBlocked {
            id: u.arbitrary()?,
            limit: varint(u)?,
        },
        13 => Frame::StreamsBlocked {
            dir: dir(u)?,
            limit: varint_up_to(u, MAX_COUNT)?,
        },
        14 => Frame::NewConnectionId(new_connection_id(u)?),
        15 => Frame::RetireConnectionId {
            sequence: varint(u)?,
        },
        16 => Frame::PathChallenge(u.arbitrary()?),
        17 => Frame::PathResponse(u.arbitrary()?),
        18 => Frame::ConnectionClose(connection_close(u)?),
        19 => Frame::HandshakeDone,
        _ => Frame::Datagram(DatagramFrame {
            data: bytes(u)?,
            with_len: u.arbitrary()?,
        }),
    })
}

impl<'a> Arbitrary<'a> for Frame<'a> {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let kind = u.choose_index(KINDS)?;
        frame_of_kind(kind, u)
    }
}
