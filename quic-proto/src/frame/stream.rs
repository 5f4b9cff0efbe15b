//! STREAM frames (RFC 9000 §19.8).

use core::fmt;

use super::{check_end, max_prefixed_len, put_type, FrameType, StreamId};
use crate::coding::{DecodeError, Encode, Encoder, Reader, VarInt};

/// A STREAM frame (types 0x08 to 0x0f), its data borrowed from the packet.
///
/// `with_len` records the LEN bit: without it the data runs to the end of
/// the packet, so such a frame must be the last in its packet. The OFF bit is
/// not recorded: an offset of zero is encoded by leaving the Offset field
/// out, which decodes to the same frame.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct StreamFrame<'a> {
    /// The stream.
    pub id: StreamId,
    /// The offset of `data` in the stream.
    pub offset: VarInt,
    /// The stream bytes.
    pub data: &'a [u8],
    /// Whether this frame ends the stream (the FIN bit).
    pub fin: bool,
    /// Whether the frame carries a Length field (the LEN bit).
    pub with_len: bool,
}

impl<'a> StreamFrame<'a> {
    /// Decodes the body of a STREAM frame of type `ty` (0x08..=0x0f).
    #[inline]
    pub(super) fn decode(ty: FrameType, r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        let id = StreamId::from_varint(r.varint()?);
        let offset = if ty.0 & FrameType::STREAM_OFF_BIT != 0 {
            r.varint()?
        } else {
            VarInt::ZERO
        };
        let with_len = ty.0 & FrameType::STREAM_LEN_BIT != 0;
        // RFC 9000 §19.8: without the LEN bit the data fills the packet.
        let data = if with_len {
            r.varint_prefixed()?
        } else {
            r.rest()
        };
        // RFC 9000 §19.8: offset + length must not exceed 2^62-1.
        check_end(offset, data.len())?;
        Ok(Self {
            id,
            offset,
            data,
            fin: ty.0 & FrameType::STREAM_FIN_BIT != 0,
            with_len,
        })
    }

    /// The frame type, with the OFF, LEN and FIN bits this frame encodes with.
    pub fn ty(&self) -> FrameType {
        stream_type(self.offset.into_inner(), self.fin, self.with_len)
    }

    /// The stream offset just past this frame's data.
    pub fn end(&self) -> u64 {
        self.offset
            .into_inner()
            .saturating_add(self.data.len() as u64)
    }

    /// Writes the type, Stream ID, Offset (left out when zero) and, with
    /// `with_len`, Length fields of a STREAM frame carrying `len` bytes; the
    /// caller writes the `len` data bytes right after.
    ///
    /// O(1), no allocation: at most four varints. `offset` saturates at
    /// 2^62-1 (flow control keeps real offsets far below).
    pub fn encode_header<E: Encoder + ?Sized>(
        id: StreamId,
        offset: u64,
        len: usize,
        fin: bool,
        with_len: bool,
        e: &mut E,
    ) {
        put_type(e, stream_type(offset, fin, with_len));
        e.put_varint(id.to_varint());
        if offset != 0 {
            e.put_varint(VarInt::saturating(offset));
        }
        if with_len {
            e.put_varint(VarInt::saturating(len as u64));
        }
    }

    /// The number of bytes [`StreamFrame::encode_header`] writes. O(1).
    pub fn header_len(id: StreamId, offset: u64, len: usize, with_len: bool) -> usize {
        let mut n = 1 + id.to_varint().size();
        if offset != 0 {
            n += VarInt::size_of(offset);
        }
        if with_len {
            n += VarInt::size_of(len as u64);
        }
        n
    }

    /// The most data bytes a STREAM frame for `id` at `offset` can carry in
    /// `space` bytes, header included; 0 also when not even the header fits
    /// (check [`StreamFrame::header_len`] before sending an empty FIN). O(1):
    /// a few comparisons over the four varint sizes.
    pub fn max_data_len(id: StreamId, offset: u64, space: usize, with_len: bool) -> usize {
        let fixed = Self::header_len(id, offset, 0, false);
        let avail = space.saturating_sub(fixed);
        if with_len {
            max_prefixed_len(avail)
        } else {
            avail
        }
    }
}

/// The STREAM type byte for these fields: OFF only for a non-zero offset.
fn stream_type(offset: u64, fin: bool, with_len: bool) -> FrameType {
    let mut ty = FrameType::STREAM.0;
    if offset != 0 {
        ty |= FrameType::STREAM_OFF_BIT;
    }
    if with_len {
        ty |= FrameType::STREAM_LEN_BIT;
    }
    if fin {
        ty |= FrameType::STREAM_FIN_BIT;
    }
    FrameType(ty)
}

impl Encode for StreamFrame<'_> {
    fn encode<E: Encoder + ?Sized>(&self, e: &mut E) {
        Self::encode_header(
            self.id,
            self.offset.into_inner(),
            self.data.len(),
            self.fin,
            self.with_len,
            e,
        );
        e.put_slice(self.data);
    }
}

impl fmt::Debug for StreamFrame<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamFrame")
            .field("id", &self.id)
            .field("offset", &self.offset)
            .field("len", &self.data.len())
            .field("fin", &self.fin)
            .field("with_len", &self.with_len)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{Dir, Frame};
    use crate::{Side, TransportErrorCode};

    fn decode(bytes: &[u8]) -> Result<StreamFrame<'_>, crate::TransportError> {
        match Frame::decode(&mut Reader::new(bytes))? {
            Frame::Stream(s) => Ok(s),
            other => panic!("not STREAM: {other:?}"),
        }
    }

    #[test]
    fn encodes_every_flag_combination_byte_exact() {
        let id = StreamId::new(Side::Client, Dir::Uni, 1); // 6
        let cases: [(u64, bool, bool, &[u8]); 4] = [
            (0, false, false, &[0x08, 6, b'h', b'i']),
            (0, true, true, &[0x0b, 6, 2, b'h', b'i']),
            (300, false, true, &[0x0e, 6, 0x41, 0x2c, 2, b'h', b'i']),
            (300, true, false, &[0x0d, 6, 0x41, 0x2c, b'h', b'i']),
        ];
        for (offset, fin, with_len, bytes) in cases {
            let f = StreamFrame {
                id,
                offset: VarInt::saturating(offset),
                data: b"hi",
                fin,
                with_len,
            };
            assert_eq!(f.to_vec(), bytes);
            assert_eq!(decode(bytes), Ok(f));
            assert_eq!(f.end(), offset + 2);
        }
    }

    #[test]
    fn explicit_zero_offset_decodes_to_offset_zero() {
        let f = decode(&[0x0c, 0, 0, b'x']).unwrap();
        assert_eq!((f.offset, f.data, f.fin), (VarInt::ZERO, &b"x"[..], false));
    }

    #[test]
    fn without_len_bit_data_runs_to_the_end() {
        let bytes = [0x08, 0, 1, 2, 3, 0x01];
        let mut r = Reader::new(&bytes);
        let Frame::Stream(f) = Frame::decode(&mut r).unwrap() else {
            panic!()
        };
        assert_eq!(f.data, [1, 2, 3, 1]);
        assert!(r.is_empty());
    }

    #[test]
    fn length_past_the_packet_is_an_error() {
        let e = decode(&[0x0a, 0, 5, 1, 2]).unwrap_err();
        assert_eq!(e.code, TransportErrorCode::FRAME_ENCODING_ERROR);
        assert_eq!(e.frame_type, Some(FrameType(0x0a)));
    }

    #[test]
    fn offset_plus_length_above_2_62_is_frame_encoding_error() {
        // Offset 2^62-1 with one byte of data.
        let mut bytes = vec![0x0c, 0];
        bytes.extend_from_slice(&[0xff; 8]);
        bytes.push(b'x');
        let e = decode(&bytes).unwrap_err();
        assert_eq!(e.code, TransportErrorCode::FRAME_ENCODING_ERROR);
        // The same offset with no data ends exactly at 2^62-1: allowed.
        bytes.pop();
        assert!(decode(&bytes).is_ok());
    }

    #[test]
    fn header_writer_matches_full_encoding() {
        let id = StreamId::new(Side::Server, Dir::Bi, 1000);
        let data = [7u8; 100];
        for (offset, with_len) in [(0, false), (0, true), (1 << 40, true), (70, false)] {
            let mut v = Vec::new();
            StreamFrame::encode_header(id, offset, data.len(), true, with_len, &mut v);
            assert_eq!(
                v.len(),
                StreamFrame::header_len(id, offset, data.len(), with_len)
            );
            v.extend_from_slice(&data);
            let f = StreamFrame {
                id,
                offset: VarInt::saturating(offset),
                data: &data,
                fin: true,
                with_len,
            };
            assert_eq!(v, f.to_vec());
        }
    }

    #[test]
    fn max_data_len_fills_space_exactly_or_as_close_as_varints_allow() {
        let id = StreamId::new(Side::Client, Dir::Bi, 0);
        for with_len in [false, true] {
            for offset in [0u64, 1, 1 << 20] {
                for space in 0..20_000usize {
                    let n = StreamFrame::max_data_len(id, offset, space, with_len);
                    let total = StreamFrame::header_len(id, offset, n, with_len) + n;
                    if n > 0 {
                        assert!(total <= space, "{space} {n}");
                    }
                    let more = StreamFrame::header_len(id, offset, n + 1, with_len) + n + 1;
                    assert!(more > space, "{space}: {} would fit", n + 1);
                }
            }
        }
        // Boundary: 65 bytes of room for length + data fits 63 data bytes.
        assert_eq!(StreamFrame::max_data_len(id, 0, 2 + 65, true), 63);
        assert_eq!(StreamFrame::max_data_len(id, 0, 1, true), 0);
    }

    #[test]
    fn debug_shows_length_not_data() {
        let f = StreamFrame {
            id: StreamId::new(Side::Client, Dir::Bi, 0),
            offset: VarInt::ZERO,
            data: &[0; 1000],
            fin: false,
            with_len: true,
        };
        assert!(format!("{f:?}").contains("len: 1000"));
    }
}
