//! CRYPTO frames (RFC 9000 §19.6).

use core::fmt;

use super::{check_end, max_prefixed_len, put_type, FrameType};
use crate::coding::{DecodeError, Encode, Encoder, Reader, VarInt};

/// A CRYPTO frame (type 0x06): TLS handshake bytes at an offset in the
/// crypto stream of the packet's encryption level, borrowed from the packet.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct CryptoFrame<'a> {
    /// The offset of `data` in the crypto stream.
    pub offset: VarInt,
    /// The handshake bytes.
    pub data: &'a [u8],
}

impl<'a> CryptoFrame<'a> {
    /// Decodes the body of a CRYPTO frame.
    pub(super) fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        let offset = r.varint()?;
        let data = r.varint_prefixed()?;
        // RFC 9000 §19.6: offset + length must not exceed 2^62-1.
        check_end(offset, data.len())?;
        Ok(Self { offset, data })
    }

    /// CRYPTO.
    pub const fn ty(&self) -> FrameType {
        FrameType::CRYPTO
    }

    /// The crypto stream offset just past this frame's data.
    pub fn end(&self) -> u64 {
        self.offset
            .into_inner()
            .saturating_add(self.data.len() as u64)
    }

    /// Writes the type, Offset and Length fields of a CRYPTO frame carrying
    /// `len` bytes; the caller writes the data right after.
    ///
    /// O(1), no allocation: one byte and two varints. `offset` saturates at
    /// 2^62-1.
    pub fn encode_header<E: Encoder + ?Sized>(offset: u64, len: usize, e: &mut E) {
        put_type(e, FrameType::CRYPTO);
        e.put_varint(VarInt::saturating(offset));
        e.put_varint(VarInt::saturating(len as u64));
    }

    /// The number of bytes [`CryptoFrame::encode_header`] writes. O(1).
    pub fn header_len(offset: u64, len: usize) -> usize {
        1 + VarInt::size_of(offset) + VarInt::size_of(len as u64)
    }

    /// The most data bytes a CRYPTO frame at `offset` can carry in `space`
    /// bytes, header included; 0 also when not even the header fits. O(1).
    pub fn max_data_len(offset: u64, space: usize) -> usize {
        max_prefixed_len(space.saturating_sub(1 + VarInt::size_of(offset)))
    }
}

impl Encode for CryptoFrame<'_> {
    fn encode<E: Encoder + ?Sized>(&self, e: &mut E) {
        Self::encode_header(self.offset.into_inner(), self.data.len(), e);
        e.put_slice(self.data);
    }
}

impl fmt::Debug for CryptoFrame<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CryptoFrame")
            .field("offset", &self.offset)
            .field("len", &self.data.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::Frame;
    use crate::TransportErrorCode;

    #[test]
    fn encodes_byte_exact() {
        let f = CryptoFrame {
            offset: VarInt::from_u32(1000),
            data: b"abc",
        };
        let bytes = [0x06, 0x43, 0xe8, 3, b'a', b'b', b'c'];
        assert_eq!(f.to_vec(), bytes);
        assert_eq!(
            Frame::decode(&mut Reader::new(&bytes)),
            Ok(Frame::Crypto(f))
        );
        assert_eq!(f.end(), 1003);
        let mut v = Vec::new();
        CryptoFrame::encode_header(1000, 3, &mut v);
        assert_eq!(v, bytes[..4]);
        assert_eq!(CryptoFrame::header_len(1000, 3), 4);
    }

    #[test]
    fn offset_plus_length_above_2_62_is_frame_encoding_error() {
        let mut bytes = vec![0x06];
        bytes.extend_from_slice(&[0xff; 8]);
        bytes.extend_from_slice(&[1, b'x']);
        let e = Frame::decode(&mut Reader::new(&bytes)).unwrap_err();
        assert_eq!(e.code, TransportErrorCode::FRAME_ENCODING_ERROR);
        assert_eq!(e.frame_type, Some(FrameType::CRYPTO));
    }

    #[test]
    fn max_data_len_is_tight() {
        for offset in [0u64, 100, 1 << 31] {
            for space in 0..20_000usize {
                let n = CryptoFrame::max_data_len(offset, space);
                if n > 0 {
                    assert!(CryptoFrame::header_len(offset, n) + n <= space);
                }
                assert!(CryptoFrame::header_len(offset, n + 1) + n + 1 > space);
            }
        }
    }
}
