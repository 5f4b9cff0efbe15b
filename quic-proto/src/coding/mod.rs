//! The byte-level codec every wire type is built on.
//!
//! - [`Reader`]: a bounded, panic-free cursor over peer bytes. Every read is
//!   checked against the end of the buffer and fails with
//!   [`DecodeError::UnexpectedEnd`] instead of panicking; [`Reader::sub`] carves
//!   a length-delimited sub-reader so that a field can never read past its own
//!   length prefix.
//! - [`Encoder`]: where encoded bytes go. Implemented by `Vec<u8>` (grows), by
//!   [`SliceWriter`] (a caller-owned buffer, used on the send path so nothing is
//!   allocated per packet) and by [`LenCounter`] (counts only).
//! - [`Encode`] / [`Decode`]: the symmetric codec of every wire type.
//!   [`Encode::encoded_len`] runs the encoder against a [`LenCounter`], so the
//!   length can never drift from the bytes actually written.
//!
//! # No-panic contract
//!
//! No function in this module panics on any input. Decoders built on
//! [`Reader`] inherit that property as long as they use only its checked
//! accessors and checked arithmetic; see `docs/wire.md`.

mod reader;
mod varint;
mod writer;

pub use reader::Reader;
pub use varint::{VarInt, VarIntBoundsExceeded};
pub use writer::{BufferTooSmall, Encoder, LenCounter, SliceWriter};

use core::fmt;

/// The bytes could not be decoded.
///
/// This is the codec tier of errors: it says only that the bytes are
/// malformed. Frame and transport-parameter parsers turn it into a
/// [`TransportError`](crate::TransportError) with the right wire code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input ended before the value did.
    UnexpectedEnd,
    /// A field held a value the format does not allow; the string names it.
    InvalidValue(&'static str),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnexpectedEnd => f.write_str("unexpected end of input"),
            Self::InvalidValue(what) => write!(f, "invalid value: {what}"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// A wire type that can be written.
pub trait Encode {
    /// Writes the encoding of `self` to `e`.
    fn encode<E: Encoder + ?Sized>(&self, e: &mut E);

    /// The exact number of bytes [`Encode::encode`] writes.
    ///
    /// Computed by running the encoder against a counter, so it cannot drift
    /// from the encoding; types on hot paths may override it with arithmetic
    /// that property tests check against this definition.
    fn encoded_len(&self) -> usize {
        let mut c = LenCounter::default();
        self.encode(&mut c);
        c.len()
    }

    /// Encodes into a new vector (convenient in tests and on cold paths).
    fn to_vec(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.encoded_len());
        self.encode(&mut v);
        v
    }
}

/// A wire type that can be read from peer bytes without panicking.
///
/// The lifetime lets decoded values borrow from the input (for example a
/// STREAM frame's data), so that parsing copies nothing.
pub trait Decode<'a>: Sized {
    /// Reads one value from `r`, advancing it past the value.
    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError>;

    /// Decodes a value that must span all of `bytes`.
    fn decode_exact(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let v = Self::decode(&mut r)?;
        if r.is_empty() {
            Ok(v)
        } else {
            Err(DecodeError::InvalidValue("trailing bytes"))
        }
    }
}

impl Encode for VarInt {
    fn encode<E: Encoder + ?Sized>(&self, e: &mut E) {
        VarInt::encode(*self, e)
    }
    fn encoded_len(&self) -> usize {
        self.size()
    }
}

impl<'a> Decode<'a> for VarInt {
    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        VarInt::decode(r)
    }
}
