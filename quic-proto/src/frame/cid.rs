//! NEW_CONNECTION_ID frames (RFC 9000 §19.15).

use super::{put_type, FrameType};
use crate::coding::{DecodeError, Encode, Encoder, Reader, VarInt};
use crate::{ConnectionId, StatelessResetToken};

/// A NEW_CONNECTION_ID frame (type 0x18): a connection ID the peer may use,
/// with its sequence number and stateless reset token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NewConnectionId {
    /// The sequence number of `cid`.
    pub sequence: VarInt,
    /// The peer asks us to retire connection IDs numbered below this.
    /// Never above `sequence` (RFC 9000 §19.15).
    pub retire_prior_to: VarInt,
    /// The connection ID, 1 to 20 bytes.
    pub cid: ConnectionId,
    /// The token a stateless reset for `cid` carries.
    pub reset_token: StatelessResetToken,
}

impl NewConnectionId {
    /// Decodes the body of a NEW_CONNECTION_ID frame.
    pub(super) fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let sequence = r.varint()?;
        let retire_prior_to = r.varint()?;
        // RFC 9000 §19.15: "Values less than 1 and greater than 20 are
        // invalid and MUST be treated as a connection error of type
        // FRAME_ENCODING_ERROR."
        let len = r.u8()?;
        if len == 0 || usize::from(len) > ConnectionId::MAX_LEN {
            return Err(DecodeError::InvalidValue(
                "NEW_CONNECTION_ID length not in 1..=20",
            ));
        }
        let cid = ConnectionId::new(r.bytes(len.into())?)?;
        let reset_token = StatelessResetToken(r.array()?);
        // RFC 9000 §19.15: Retire Prior To greater than Sequence Number
        // "MUST be treated as a connection error of type FRAME_ENCODING_ERROR".
        if retire_prior_to > sequence {
            return Err(DecodeError::InvalidValue(
                "NEW_CONNECTION_ID retire_prior_to above sequence number",
            ));
        }
        Ok(Self {
            sequence,
            retire_prior_to,
            cid,
            reset_token,
        })
    }
}

impl NewConnectionId {
    /// NEW_CONNECTION_ID.
    pub const fn ty(&self) -> FrameType {
        FrameType::NEW_CONNECTION_ID
    }
}

impl Encode for NewConnectionId {
    fn encode<E: Encoder + ?Sized>(&self, e: &mut E) {
        put_type(e, FrameType::NEW_CONNECTION_ID);
        e.put_varint(self.sequence);
        e.put_varint(self.retire_prior_to);
        self.cid.encode_len_prefixed(e);
        e.put_slice(&self.reset_token.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::Frame;
    use crate::TransportErrorCode;

    fn frame() -> NewConnectionId {
        NewConnectionId {
            sequence: VarInt::from_u32(5),
            retire_prior_to: VarInt::from_u32(2),
            cid: ConnectionId::new(&[0xaa, 0xbb]).unwrap(),
            reset_token: StatelessResetToken([0x11; 16]),
        }
    }

    fn bytes(seq: u8, rpt: u8, cid: &[u8]) -> Vec<u8> {
        let mut v = vec![0x18, seq, rpt, cid.len() as u8];
        v.extend_from_slice(cid);
        v.extend_from_slice(&[0x11; 16]);
        v
    }

    #[test]
    fn encodes_byte_exact() {
        let b = bytes(5, 2, &[0xaa, 0xbb]);
        assert_eq!(frame().to_vec(), b);
        assert_eq!(
            Frame::decode(&mut Reader::new(&b)),
            Ok(Frame::NewConnectionId(frame()))
        );
    }

    #[test]
    fn length_zero_or_above_20_is_frame_encoding_error() {
        for cid in [&[][..], &[7; 21][..]] {
            let e = Frame::decode(&mut Reader::new(&bytes(5, 2, cid))).unwrap_err();
            assert_eq!(e.code, TransportErrorCode::FRAME_ENCODING_ERROR);
            assert_eq!(e.frame_type, Some(FrameType::NEW_CONNECTION_ID));
        }
        assert!(Frame::decode(&mut Reader::new(&bytes(5, 2, &[7; 20]))).is_ok());
    }

    #[test]
    fn retire_prior_to_above_sequence_is_frame_encoding_error() {
        let e = Frame::decode(&mut Reader::new(&bytes(5, 6, &[1]))).unwrap_err();
        assert_eq!(e.code, TransportErrorCode::FRAME_ENCODING_ERROR);
        assert!(Frame::decode(&mut Reader::new(&bytes(5, 5, &[1]))).is_ok());
    }

    #[test]
    fn truncated_token_is_an_error() {
        let mut b = bytes(5, 2, &[1]);
        b.pop();
        let e = Frame::decode(&mut Reader::new(&b)).unwrap_err();
        assert_eq!(e.code, TransportErrorCode::FRAME_ENCODING_ERROR);
    }
}
