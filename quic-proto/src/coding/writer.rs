//! Destinations for encoded bytes.

use core::fmt;

/// Somewhere encoded bytes can be written.
///
/// All methods are infallible so that encoders stay simple; a bounded
/// destination ([`SliceWriter`]) records overflow instead of panicking and
/// reports it when finished.
pub trait Encoder {
    /// Appends `bytes`.
    fn put_slice(&mut self, bytes: &[u8]);

    /// Appends one byte.
    fn put_u8(&mut self, x: u8) {
        self.put_slice(&[x]);
    }

    /// Appends a big-endian `u16`.
    fn put_u16(&mut self, x: u16) {
        self.put_slice(&x.to_be_bytes());
    }

    /// Appends a big-endian `u32`.
    fn put_u32(&mut self, x: u32) {
        self.put_slice(&x.to_be_bytes());
    }

    /// Appends a big-endian `u64`.
    fn put_u64(&mut self, x: u64) {
        self.put_slice(&x.to_be_bytes());
    }

    /// Appends a variable-length integer.
    fn put_varint(&mut self, x: super::VarInt) {
        x.encode(self);
    }

    /// Appends `n` zero bytes (PADDING, for one).
    fn put_zeros(&mut self, n: usize) {
        const ZEROS: [u8; 64] = [0; 64];
        let mut left = n;
        while left > 0 {
            let k = left.min(ZEROS.len());
            self.put_slice(&ZEROS[..k]);
            left -= k;
        }
    }
}

impl Encoder for Vec<u8> {
    fn put_slice(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

/// An [`Encoder`] that only counts bytes; the basis of
/// [`Encode::encoded_len`](super::Encode::encoded_len).
#[derive(Clone, Copy, Debug, Default)]
pub struct LenCounter(usize);

impl LenCounter {
    /// Bytes counted so far.
    pub const fn len(&self) -> usize {
        self.0
    }

    /// Whether nothing has been counted.
    pub const fn is_empty(&self) -> bool {
        self.0 == 0
    }
}

impl Encoder for LenCounter {
    fn put_slice(&mut self, bytes: &[u8]) {
        self.0 = self.0.saturating_add(bytes.len());
    }
    fn put_zeros(&mut self, n: usize) {
        self.0 = self.0.saturating_add(n);
    }
}

/// The destination buffer was too small for what was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BufferTooSmall;

impl fmt::Display for BufferTooSmall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("output buffer too small")
    }
}

impl std::error::Error for BufferTooSmall {}

/// An [`Encoder`] over a caller-owned buffer: the send path writes packets
/// straight into the buffer it will hand to the socket.
///
/// Writes past the end are dropped and remembered; [`SliceWriter::finish`]
/// then fails. Callers check [`SliceWriter::remaining`] (or an encoded length)
/// before writing, so overflow signals a bug, never a panic.
#[derive(Debug)]
pub struct SliceWriter<'a> {
    buf: &'a mut [u8],
    pos: usize,
    overflow: bool,
}

impl<'a> SliceWriter<'a> {
    /// A writer that starts at the beginning of `buf`.
    pub fn new(buf: &'a mut [u8]) -> Self {
        Self {
            buf,
            pos: 0,
            overflow: false,
        }
    }

    /// Bytes written so far.
    pub const fn len(&self) -> usize {
        self.pos
    }

    /// Whether nothing has been written.
    pub const fn is_empty(&self) -> bool {
        self.pos == 0
    }

    /// Room left in the buffer.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Whether a write has been dropped for lack of room.
    pub const fn overflowed(&self) -> bool {
        self.overflow
    }

    /// The bytes written so far.
    pub fn written(&self) -> &[u8] {
        &self.buf[..self.pos]
    }

    /// The bytes written so far, mutably (to patch a length field, say).
    pub fn written_mut(&mut self) -> &mut [u8] {
        &mut self.buf[..self.pos]
    }

    /// The number of bytes written, or an error if anything was dropped.
    pub fn finish(self) -> Result<usize, BufferTooSmall> {
        if self.overflow {
            Err(BufferTooSmall)
        } else {
            Ok(self.pos)
        }
    }
}

impl Encoder for SliceWriter<'_> {
    fn put_slice(&mut self, bytes: &[u8]) {
        if self.overflow {
            return;
        }
        match self.buf.get_mut(self.pos..self.pos + bytes.len()) {
            Some(dst) => {
                dst.copy_from_slice(bytes);
                self.pos += bytes.len();
            }
            None => self.overflow = true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slice_writer_reports_overflow_instead_of_panicking() {
        let mut buf = [0u8; 3];
        let mut w = SliceWriter::new(&mut buf);
        w.put_u16(0xabcd);
        assert_eq!(w.remaining(), 1);
        w.put_u16(1);
        assert!(w.overflowed());
        w.put_u8(9);
        assert_eq!(w.finish(), Err(BufferTooSmall));
        assert_eq!(buf, [0xab, 0xcd, 0]);
    }

    #[test]
    fn zeros_and_counting_agree() {
        let mut v = Vec::new();
        v.put_zeros(200);
        let mut c = LenCounter::default();
        c.put_zeros(200);
        assert_eq!(v.len(), c.len());
        assert!(v.iter().all(|&b| b == 0));
    }
}
