//! Stream identifiers (RFC 9000 §2.1).

use core::fmt;

use crate::coding::{VarInt, VarIntBoundsExceeded};
use crate::Side;

/// Whether a stream carries data both ways or only from its initiator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dir {
    /// Bidirectional: both endpoints send.
    Bi,
    /// Unidirectional: only the initiator sends.
    Uni,
}

/// A stream ID: a 62-bit integer whose two low bits name the initiator and
/// the direction (RFC 9000 §2.1), and whose remaining bits are the index of
/// the stream among those of its type.
///
/// The field is private so that every `StreamId` fits a variable-length
/// integer and can be put on the wire.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamId(u64);

impl StreamId {
    /// RFC 9000 §2.1: bit 0x01 is set for server-initiated streams.
    const SERVER_BIT: u64 = 0x01;
    /// RFC 9000 §2.1: bit 0x02 is set for unidirectional streams.
    const UNI_BIT: u64 = 0x02;
    /// One more than the largest stream index: 2^60, since stream IDs are
    /// 62-bit (RFC 9000 §2.1, §19.11).
    pub const INDEX_LIMIT: u64 = 1 << 60;

    /// The `index`-th stream (counting from 0) initiated by `side` in
    /// direction `dir`.
    ///
    /// `index` must be below [`StreamId::INDEX_LIMIT`]; stream limits
    /// (RFC 9000 §4.6) keep it there. Bits above are discarded so that the
    /// result is always encodable (and a debug build asserts).
    pub const fn new(side: Side, dir: Dir, index: u64) -> Self {
        debug_assert!(index < Self::INDEX_LIMIT);
        let side_bit = match side {
            Side::Client => 0,
            Side::Server => Self::SERVER_BIT,
        };
        let dir_bit = match dir {
            Dir::Bi => 0,
            Dir::Uni => Self::UNI_BIT,
        };
        Self(((index % Self::INDEX_LIMIT) << 2) | dir_bit | side_bit)
    }

    /// The stream ID carried by a variable-length integer.
    pub const fn from_varint(v: VarInt) -> Self {
        Self(v.into_inner())
    }

    /// The ID as a variable-length integer.
    pub const fn to_varint(self) -> VarInt {
        // Every constructor keeps the value below 2^62, so this never saturates.
        VarInt::saturating(self.0)
    }

    /// The raw 62-bit value.
    pub const fn into_inner(self) -> u64 {
        self.0
    }

    /// Which endpoint opened the stream (RFC 9000 §2.1, bit 0x01).
    pub const fn initiator(self) -> Side {
        if self.0 & Self::SERVER_BIT == 0 {
            Side::Client
        } else {
            Side::Server
        }
    }

    /// The stream's direction (RFC 9000 §2.1, bit 0x02).
    pub const fn dir(self) -> Dir {
        if self.0 & Self::UNI_BIT == 0 {
            Dir::Bi
        } else {
            Dir::Uni
        }
    }

    /// The index of the stream among streams of the same initiator and
    /// direction.
    pub const fn index(self) -> u64 {
        self.0 >> 2
    }
}

impl From<VarInt> for StreamId {
    fn from(v: VarInt) -> Self {
        Self::from_varint(v)
    }
}

impl From<StreamId> for VarInt {
    fn from(id: StreamId) -> Self {
        id.to_varint()
    }
}

impl TryFrom<u64> for StreamId {
    type Error = VarIntBoundsExceeded;
    fn try_from(x: u64) -> Result<Self, Self::Error> {
        VarInt::from_u64(x).map(Self::from_varint)
    }
}

impl From<StreamId> for u64 {
    fn from(id: StreamId) -> Self {
        id.0
    }
}

impl fmt::Debug for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let side = match self.initiator() {
            Side::Client => "client",
            Side::Server => "server",
        };
        let dir = match self.dir() {
            Dir::Bi => "bi",
            Dir::Uni => "uni",
        };
        write!(f, "StreamId({} {side} {dir} #{})", self.0, self.index())
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(any(test, feature = "arbitrary"))]
impl<'a> arbitrary::Arbitrary<'a> for StreamId {
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(Self(u.arbitrary::<u64>()? & VarInt::MAX.into_inner()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn low_bits_follow_rfc9000_table_1() {
        let cases = [
            (0x00, Side::Client, Dir::Bi),
            (0x01, Side::Server, Dir::Bi),
            (0x02, Side::Client, Dir::Uni),
            (0x03, Side::Server, Dir::Uni),
        ];
        for (bits, side, dir) in cases {
            let id = StreamId::new(side, dir, 5);
            assert_eq!(id.into_inner(), (5 << 2) | bits);
            assert_eq!(id.initiator(), side);
            assert_eq!(id.dir(), dir);
            assert_eq!(id.index(), 5);
        }
    }

    #[test]
    fn largest_index_is_encodable() {
        let id = StreamId::new(Side::Server, Dir::Uni, StreamId::INDEX_LIMIT - 1);
        assert_eq!(id.into_inner(), VarInt::MAX.into_inner());
        assert_eq!(id.to_varint(), VarInt::MAX);
        assert!(StreamId::try_from(1u64 << 62).is_err());
    }

    #[test]
    fn debug_names_the_stream_type() {
        let id = StreamId::new(Side::Client, Dir::Uni, 1);
        assert_eq!(format!("{id:?}"), "StreamId(6 client uni #1)");
        assert_eq!(id.to_string(), "6");
    }

    proptest::proptest! {
        #[test]
        fn parts_roundtrip(index in 0..StreamId::INDEX_LIMIT, server: bool, uni: bool) {
            let side = if server { Side::Server } else { Side::Client };
            let dir = if uni { Dir::Uni } else { Dir::Bi };
            let id = StreamId::new(side, dir, index);
            proptest::prop_assert_eq!((id.initiator(), id.dir(), id.index()), (side, dir, index));
            proptest::prop_assert_eq!(StreamId::from_varint(id.to_varint()), id);
        }
    }
}
