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

/// The fields before the data of a STREAM frame, planned and encoded once
/// for the send path: [`StreamHeader::new`] encodes Type, Stream ID and
/// Offset, the size of the frame is worked out from
/// [`StreamHeader::fixed_len`], and [`StreamHeader::write`] adds the FIN and
/// LEN bits and the Length field and writes the lot with one `put_slice`.
/// The bytes are those of [`StreamFrame::encode_header`].
#[derive(Clone, Copy, Debug)]
pub struct StreamHeader {
    /// Type byte, then the varints; each varint is stored as 8 bytes and
    /// the shorter ones overwritten by the next field, hence the slack.
    bytes: [u8; Self::BUF_LEN],
    /// Bytes of Type, Stream ID and Offset.
    fixed: u8,
}

impl StreamHeader {
    /// Type (1) and three varints of at most 8 bytes.
    const BUF_LEN: usize = 1 + 3 * VarInt::MAX_SIZE;

    /// The Type (FIN and LEN bits still clear), Stream ID and Offset
    /// (left out when zero) fields of a STREAM frame for `id` at `offset`.
    /// `offset` saturates at 2^62-1, as in [`StreamFrame::encode_header`].
    pub fn new(id: StreamId, offset: u64) -> Self {
        let mut bytes = [0; Self::BUF_LEN];
        let mut at = put_varint_at(&mut bytes, 1, id.to_varint());
        if offset != 0 {
            at = put_varint_at(&mut bytes, at, VarInt::saturating(offset));
        }
        bytes[0] = stream_type(offset, false, false).0 as u8;
        Self {
            bytes,
            fixed: at as u8,
        }
    }

    /// The bytes of Type, Stream ID and Offset: the header without Length.
    pub const fn fixed_len(&self) -> usize {
        self.fixed as usize
    }

    /// The most data bytes the frame can carry in `space` bytes, header
    /// included, as [`StreamFrame::max_data_len`] for the same frame.
    pub fn max_data_len(&self, space: usize, with_len: bool) -> usize {
        let avail = space.saturating_sub(self.fixed_len());
        if with_len {
            max_prefixed_len(avail)
        } else {
            avail
        }
    }

    /// Writes the header of a frame carrying `len` bytes, with the FIN bit
    /// and, with `with_len`, a Length field; returns the bytes written. The
    /// caller writes the `len` data bytes right after.
    pub fn write<E: Encoder + ?Sized>(
        mut self,
        len: usize,
        fin: bool,
        with_len: bool,
        e: &mut E,
    ) -> usize {
        let mut end = self.fixed_len();
        if with_len {
            end = put_varint_at(&mut self.bytes, end, VarInt::saturating(len as u64));
        }
        // The OFF bit is already set as needed.
        self.bytes[0] |= stream_type(0, fin, with_len).0 as u8;
        let header = self.bytes.get(..end).unwrap_or(&self.bytes);
        e.put_slice(header);
        header.len()
    }
}

/// Stores the shortest encoding of `x` at `buf[at..]` and returns where it
/// ends. All 8 bytes of a `u64` are stored (the encoding first), so a field
/// may start at most 8 bytes before the end of `buf`.
fn put_varint_at(buf: &mut [u8; StreamHeader::BUF_LEN], at: usize, x: VarInt) -> usize {
    let size = x.size();
    let tag: u64 = match size {
        1 => 0,
        2 => 0x4000,
        4 => 0x8000_0000,
        _ => 0xc000_0000_0000_0000,
    };
    // The encoding in the top `size` bytes of the word.
    let word = (x.into_inner() | tag) << (64 - 8 * size);
    if let Some(dst) = buf.get_mut(at..at + 8) {
        dst.copy_from_slice(&word.to_be_bytes());
    }
    at + size
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
    fn stream_header_matches_encode_header() {
        for id in [0u64, 1, 100, 20_000, 1 << 40] {
            let id = StreamId::new(Side::Server, Dir::Bi, id);
            for offset in [
                0u64,
                1,
                63,
                64,
                16_383,
                16_384,
                1 << 30,
                (1 << 62) - 1,
                u64::MAX,
            ] {
                let h = StreamHeader::new(id, offset);
                assert_eq!(h.fixed_len(), StreamFrame::header_len(id, offset, 0, false));
                for space in [0usize, 1, 5, 70, 1200, 20_000] {
                    for with_len in [false, true] {
                        assert_eq!(
                            h.max_data_len(space, with_len),
                            StreamFrame::max_data_len(id, offset, space, with_len)
                        );
                    }
                }
                for len in [0usize, 1, 63, 64, 1150, 16_384, 1 << 30] {
                    for (fin, with_len) in
                        [(false, false), (true, false), (false, true), (true, true)]
                    {
                        let mut want = Vec::new();
                        StreamFrame::encode_header(id, offset, len, fin, with_len, &mut want);
                        let mut got = Vec::new();
                        let n = h.write(len, fin, with_len, &mut got);
                        assert_eq!((n, &got), (want.len(), &want), "{offset} {len}");
                    }
                }
            }
        }
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
