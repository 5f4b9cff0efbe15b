//! A bounded, panic-free reader over peer bytes.

use super::{DecodeError, VarInt};

/// A cursor over a byte slice whose every accessor is bounds-checked.
///
/// Reads return [`DecodeError::UnexpectedEnd`] rather than panicking when the
/// input is short, and never advance on failure of a fixed-size read.
#[derive(Clone, Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader over all of `buf`.
    pub const fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    /// Bytes left to read.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Whether everything has been read.
    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// How many bytes have been read so far.
    pub const fn position(&self) -> usize {
        self.pos
    }

    /// The whole underlying buffer, read or not.
    pub const fn buffer(&self) -> &'a [u8] {
        self.buf
    }

    /// Reads `n` bytes as a borrowed slice.
    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self.pos.checked_add(n).ok_or(DecodeError::UnexpectedEnd)?;
        let out = self
            .buf
            .get(self.pos..end)
            .ok_or(DecodeError::UnexpectedEnd)?;
        self.pos = end;
        Ok(out)
    }

    /// Reads `n` bytes where `n` came off the wire as a `u64`.
    pub fn bytes_u64(&mut self, n: u64) -> Result<&'a [u8], DecodeError> {
        let n = usize::try_from(n).map_err(|_| DecodeError::UnexpectedEnd)?;
        self.bytes(n)
    }

    /// Reads a fixed-size array.
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let s = self.bytes(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(s);
        Ok(out)
    }

    /// Reads everything that is left.
    pub fn rest(&mut self) -> &'a [u8] {
        let out = &self.buf[self.pos..];
        self.pos = self.buf.len();
        out
    }

    /// Looks at the next byte without consuming it.
    pub fn peek_u8(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    /// Reads one byte.
    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        let b = self.peek_u8().ok_or(DecodeError::UnexpectedEnd)?;
        self.pos += 1;
        Ok(b)
    }

    /// Reads a big-endian `u16`.
    pub fn u16(&mut self) -> Result<u16, DecodeError> {
        self.array().map(u16::from_be_bytes)
    }

    /// Reads a big-endian `u32`.
    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        self.array().map(u32::from_be_bytes)
    }

    /// Reads a big-endian `u64`.
    pub fn u64(&mut self) -> Result<u64, DecodeError> {
        self.array().map(u64::from_be_bytes)
    }

    /// Reads a variable-length integer.
    pub fn varint(&mut self) -> Result<VarInt, DecodeError> {
        VarInt::decode(self)
    }

    /// Reads a variable-length integer as a `u64`.
    pub fn varint_u64(&mut self) -> Result<u64, DecodeError> {
        VarInt::decode(self).map(VarInt::into_inner)
    }

    /// Splits off a sub-reader over the next `n` bytes and advances past them.
    ///
    /// The sub-reader cannot read beyond those bytes, which is how
    /// length-prefixed fields are kept inside their length.
    pub fn sub(&mut self, n: usize) -> Result<Reader<'a>, DecodeError> {
        self.bytes(n).map(Reader::new)
    }

    /// Reads a varint length prefix, then that many bytes.
    pub fn varint_prefixed(&mut self) -> Result<&'a [u8], DecodeError> {
        let n = self.varint_u64()?;
        self.bytes_u64(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_bounded() {
        let mut r = Reader::new(&[1, 2, 3]);
        assert_eq!(r.u16(), Ok(0x0102));
        assert_eq!(r.u16(), Err(DecodeError::UnexpectedEnd));
        assert_eq!(r.position(), 2, "a failed read does not advance");
        assert_eq!(r.u8(), Ok(3));
        assert!(r.is_empty());
        assert_eq!(r.bytes(usize::MAX), Err(DecodeError::UnexpectedEnd));
        assert_eq!(r.bytes_u64(u64::MAX), Err(DecodeError::UnexpectedEnd));
    }

    #[test]
    fn sub_reader_stops_at_its_length() {
        let mut r = Reader::new(&[0, 1, 2, 3, 4]);
        let mut s = r.sub(2).unwrap();
        assert_eq!(s.u8(), Ok(0));
        assert_eq!(s.u16(), Err(DecodeError::UnexpectedEnd));
        assert_eq!(r.u8(), Ok(2));
    }
}
