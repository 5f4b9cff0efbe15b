//! DATAGRAM frames (RFC 9221 §4).

use core::fmt;

use super::{max_prefixed_len, put_type, FrameType};
use crate::coding::{DecodeError, Encode, Encoder, Reader, VarInt};

/// A DATAGRAM frame (types 0x30 and 0x31), its payload borrowed from the
/// packet.
///
/// `with_len` records the LEN bit (type 0x31): without it the data runs to
/// the end of the packet, so such a frame must be the last in its packet.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct DatagramFrame<'a> {
    /// The application payload.
    pub data: &'a [u8],
    /// Whether the frame carries a Length field.
    pub with_len: bool,
}

impl<'a> DatagramFrame<'a> {
    /// Decodes the body of a DATAGRAM frame of type `ty`.
    pub(super) fn decode(ty: FrameType, r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        // RFC 9221 §4: the LEN bit (0x01) says whether a Length field is
        // present; without it the Datagram Data field extends to the end of
        // the packet.
        let with_len = ty == FrameType::DATAGRAM_LEN;
        let data = if with_len {
            r.varint_prefixed()?
        } else {
            r.rest()
        };
        Ok(Self { data, with_len })
    }

    /// DATAGRAM or DATAGRAM_LEN.
    pub const fn ty(&self) -> FrameType {
        datagram_type(self.with_len)
    }

    /// Writes the type and, with `with_len`, the Length field of a DATAGRAM
    /// frame carrying `len` bytes; the caller writes the data right after.
    /// O(1), no allocation.
    pub fn encode_header<E: Encoder + ?Sized>(len: usize, with_len: bool, e: &mut E) {
        put_type(e, datagram_type(with_len));
        if with_len {
            e.put_varint(VarInt::saturating(len as u64));
        }
    }

    /// The number of bytes [`DatagramFrame::encode_header`] writes. O(1).
    pub fn header_len(len: usize, with_len: bool) -> usize {
        if with_len {
            1 + VarInt::size_of(len as u64)
        } else {
            1
        }
    }

    /// The largest payload a DATAGRAM frame can carry in `space` bytes,
    /// header included; 0 also when not even the header fits. O(1).
    pub fn max_data_len(space: usize, with_len: bool) -> usize {
        let avail = space.saturating_sub(1);
        if with_len {
            max_prefixed_len(avail)
        } else {
            avail
        }
    }
}

const fn datagram_type(with_len: bool) -> FrameType {
    if with_len {
        FrameType::DATAGRAM_LEN
    } else {
        FrameType::DATAGRAM
    }
}

impl Encode for DatagramFrame<'_> {
    fn encode<E: Encoder + ?Sized>(&self, e: &mut E) {
        Self::encode_header(self.data.len(), self.with_len, e);
        e.put_slice(self.data);
    }
}

impl fmt::Debug for DatagramFrame<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatagramFrame")
            .field("len", &self.data.len())
            .field("with_len", &self.with_len)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::Frame;
    use crate::TransportErrorCode;

    #[test]
    fn encodes_both_types_byte_exact() {
        let with = DatagramFrame {
            data: b"ok",
            with_len: true,
        };
        let bytes = [0x31, 2, b'o', b'k'];
        assert_eq!(with.to_vec(), bytes);
        assert_eq!(
            Frame::decode(&mut Reader::new(&bytes)),
            Ok(Frame::Datagram(with))
        );

        let without = DatagramFrame {
            data: b"ok",
            with_len: false,
        };
        let bytes = [0x30, b'o', b'k'];
        assert_eq!(without.to_vec(), bytes);
        assert_eq!(
            Frame::decode(&mut Reader::new(&bytes)),
            Ok(Frame::Datagram(without))
        );
    }

    #[test]
    fn length_past_the_packet_is_an_error() {
        let e = Frame::decode(&mut Reader::new(&[0x31, 3, 0])).unwrap_err();
        assert_eq!(e.code, TransportErrorCode::FRAME_ENCODING_ERROR);
        assert_eq!(e.frame_type, Some(FrameType::DATAGRAM_LEN));
    }

    #[test]
    fn max_data_len_is_tight() {
        for with_len in [false, true] {
            for space in 0..20_000usize {
                let n = DatagramFrame::max_data_len(space, with_len);
                if n > 0 {
                    assert!(DatagramFrame::header_len(n, with_len) + n <= space);
                }
                assert!(DatagramFrame::header_len(n + 1, with_len) + n + 1 > space);
            }
        }
    }
}
