//! QUIC variable-length integers (RFC 9000 §16).

use core::fmt;

use super::{DecodeError, Encoder, Reader};

/// An integer in `0..=2^62-1`, encoded on the wire in 1, 2, 4 or 8 bytes
/// (RFC 9000 §16).
///
/// The two most significant bits of the first byte give the length. Decoding
/// accepts non-minimal encodings, as the RFC requires of receivers (§16: "values
/// do not need to be encoded on the minimum number of bytes"); encoding always
/// uses the shortest form.
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct VarInt(u64);

/// A value did not fit in a [`VarInt`] (it was at least 2^62).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VarIntBoundsExceeded;

impl fmt::Display for VarIntBoundsExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("value too large for a QUIC variable-length integer")
    }
}

impl std::error::Error for VarIntBoundsExceeded {}

impl VarInt {
    /// The largest representable value, 2^62 - 1.
    pub const MAX: Self = Self((1 << 62) - 1);
    /// Zero.
    pub const ZERO: Self = Self(0);
    /// The largest encoded length in bytes.
    pub const MAX_SIZE: usize = 8;

    /// Builds a `VarInt` from a `u32`, which always fits.
    pub const fn from_u32(x: u32) -> Self {
        Self(x as u64)
    }

    /// Builds a `VarInt`, or fails if `x >= 2^62`.
    pub const fn from_u64(x: u64) -> Result<Self, VarIntBoundsExceeded> {
        if x <= Self::MAX.0 {
            Ok(Self(x))
        } else {
            Err(VarIntBoundsExceeded)
        }
    }

    /// Builds a `VarInt` from a `u64` already known to be in range, saturating
    /// at [`VarInt::MAX`] otherwise.
    pub const fn saturating(x: u64) -> Self {
        if x <= Self::MAX.0 {
            Self(x)
        } else {
            Self::MAX
        }
    }

    /// The value as a `u64`.
    pub const fn into_inner(self) -> u64 {
        self.0
    }

    /// The number of bytes the shortest encoding of this value takes.
    pub const fn size(self) -> usize {
        Self::size_of(self.0)
    }

    /// The number of bytes the shortest encoding of `x` takes (8 for values
    /// out of range, which cannot be encoded).
    pub const fn size_of(x: u64) -> usize {
        if x < (1 << 6) {
            1
        } else if x < (1 << 14) {
            2
        } else if x < (1 << 30) {
            4
        } else {
            8
        }
    }

    /// Reads a variable-length integer.
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let first = r.u8()?;
        let rest = usize::from(first >> 6);
        let mut value = u64::from(first & 0x3f);
        let extra = (1usize << rest) - 1;
        for _ in 0..extra {
            value = (value << 8) | u64::from(r.u8()?);
        }
        Ok(Self(value))
    }

    /// Writes the shortest encoding.
    pub fn encode<E: Encoder + ?Sized>(self, e: &mut E) {
        let x = self.0;
        match self.size() {
            1 => e.put_u8(x as u8),
            2 => e.put_u16(x as u16 | 0x4000),
            4 => e.put_u32(x as u32 | 0x8000_0000),
            _ => e.put_u64(x | 0xc000_0000_0000_0000),
        }
    }
}

impl From<u8> for VarInt {
    fn from(x: u8) -> Self {
        Self(x.into())
    }
}

impl From<u16> for VarInt {
    fn from(x: u16) -> Self {
        Self(x.into())
    }
}

impl From<u32> for VarInt {
    fn from(x: u32) -> Self {
        Self(x.into())
    }
}

impl TryFrom<u64> for VarInt {
    type Error = VarIntBoundsExceeded;
    fn try_from(x: u64) -> Result<Self, Self::Error> {
        Self::from_u64(x)
    }
}

impl TryFrom<usize> for VarInt {
    type Error = VarIntBoundsExceeded;
    fn try_from(x: usize) -> Result<Self, Self::Error> {
        Self::from_u64(x as u64)
    }
}

impl From<VarInt> for u64 {
    fn from(x: VarInt) -> Self {
        x.0
    }
}

impl fmt::Debug for VarInt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Display for VarInt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(feature = "arbitrary")]
impl<'a> arbitrary::Arbitrary<'a> for VarInt {
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(Self(u.arbitrary::<u64>()? & Self::MAX.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coding::Encode;

    fn decode(bytes: &[u8]) -> Result<u64, DecodeError> {
        let mut r = Reader::new(bytes);
        let v = VarInt::decode(&mut r)?;
        assert!(r.is_empty());
        Ok(v.into_inner())
    }

    // RFC 9000 Appendix A.1 sample encodings.
    #[test]
    fn rfc9000_appendix_a1_examples() {
        assert_eq!(
            decode(&[0xc2, 0x19, 0x7c, 0x5e, 0xff, 0x14, 0xe8, 0x8c]),
            Ok(151_288_809_941_952_652)
        );
        assert_eq!(decode(&[0x9d, 0x7f, 0x3e, 0x7d]), Ok(494_878_333));
        assert_eq!(decode(&[0x7b, 0xbd]), Ok(15_293));
        assert_eq!(decode(&[0x25]), Ok(37));
        assert_eq!(decode(&[0x40, 0x25]), Ok(37));
        assert_eq!(VarInt::from_u32(15_293).to_vec(), vec![0x7b, 0xbd]);
        assert_eq!(
            VarInt::from_u32(494_878_333).to_vec(),
            vec![0x9d, 0x7f, 0x3e, 0x7d]
        );
    }

    #[test]
    fn truncated_input_is_an_error() {
        assert_eq!(decode(&[0xc2, 0x19]), Err(DecodeError::UnexpectedEnd));
        assert_eq!(decode(&[]), Err(DecodeError::UnexpectedEnd));
    }

    #[test]
    fn bounds() {
        assert!(VarInt::from_u64(1 << 62).is_err());
        assert_eq!(VarInt::from_u64((1 << 62) - 1), Ok(VarInt::MAX));
        assert_eq!(VarInt::MAX.size(), 8);
        assert_eq!(VarInt::from_u32(63).size(), 1);
        assert_eq!(VarInt::from_u32(64).size(), 2);
        assert_eq!(VarInt::from_u32(16_383).size(), 2);
        assert_eq!(VarInt::from_u32(16_384).size(), 4);
    }

    proptest::proptest! {
        #[test]
        fn roundtrip(x in 0u64..=VarInt::MAX.into_inner()) {
            let v = VarInt::from_u64(x).unwrap();
            let bytes = v.to_vec();
            proptest::prop_assert_eq!(bytes.len(), v.size());
            proptest::prop_assert_eq!(bytes.len(), v.encoded_len());
            proptest::prop_assert_eq!(decode(&bytes), Ok(x));
        }
    }
}
