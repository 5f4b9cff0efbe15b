//! Connection IDs and stateless reset tokens (RFC 9000 §5.1, §10.3).

use core::fmt;

use crate::coding::{DecodeError, Encoder, Reader};

/// A QUIC version 1/2 connection ID: 0 to 20 bytes, stored inline so that it
/// is `Copy` and never allocates.
///
/// It hashes and compares as its bytes (`[u8]`), so a map keyed by
/// connection IDs can be searched with a slice of a packet.
#[derive(Clone, Copy, PartialOrd, Ord)]
pub struct ConnectionId {
    len: u8,
    bytes: [u8; ConnectionId::MAX_LEN],
}

impl ConnectionId {
    /// The largest connection ID QUIC v1 and v2 allow (RFC 9000 §17.2).
    pub const MAX_LEN: usize = 20;

    /// The zero-length connection ID.
    pub const EMPTY: Self = Self {
        len: 0,
        bytes: [0; Self::MAX_LEN],
    };

    /// Copies `bytes` into a connection ID, or fails if it is longer than
    /// [`ConnectionId::MAX_LEN`].
    pub fn new(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut out = Self::EMPTY;
        let dst = out
            .bytes
            .get_mut(..bytes.len())
            .ok_or(DecodeError::InvalidValue(
                "connection ID longer than 20 bytes",
            ))?;
        dst.copy_from_slice(bytes);
        out.len = bytes.len() as u8;
        Ok(out)
    }

    /// Reads a one-byte length followed by the ID (the long-header and
    /// NEW_CONNECTION_ID layout), rejecting lengths over 20.
    pub fn decode_len_prefixed(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let len = r.u8()?;
        Self::new(r.bytes(len.into())?)
    }

    /// Writes a one-byte length followed by the ID.
    pub fn encode_len_prefixed<E: Encoder + ?Sized>(&self, e: &mut E) {
        e.put_u8(self.len);
        e.put_slice(self);
    }

    /// The length in bytes.
    pub const fn len(&self) -> usize {
        self.len as usize
    }

    /// Whether this is the zero-length connection ID.
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl PartialEq for ConnectionId {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl Eq for ConnectionId {}

impl core::hash::Hash for ConnectionId {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        // As the slice hashes, as `Borrow<[u8]>` requires.
        (**self).hash(state);
    }
}

impl core::borrow::Borrow<[u8]> for ConnectionId {
    fn borrow(&self) -> &[u8] {
        self
    }
}

impl core::ops::Deref for ConnectionId {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }
}

impl fmt::Debug for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("[]");
        }
        for b in self.iter() {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

#[cfg(feature = "arbitrary")]
impl<'a> arbitrary::Arbitrary<'a> for ConnectionId {
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        // Never fail on short input: take what is left, up to the drawn length.
        let len = u.int_in_range(0..=Self::MAX_LEN)?.min(u.len());
        let bytes = u.bytes(len)?;
        Self::new(bytes).map_err(|_| arbitrary::Error::IncorrectFormat)
    }
}

/// A 16-byte stateless reset token (RFC 9000 §10.3).
///
/// Compared in constant time, since an attacker who learns a token can reset
/// the connection.
#[derive(Clone, Copy, Eq)]
pub struct StatelessResetToken(pub [u8; 16]);

impl StatelessResetToken {
    /// The token's length on the wire.
    pub const LEN: usize = 16;
}

impl PartialEq for StatelessResetToken {
    fn eq(&self, other: &Self) -> bool {
        self.0
            .iter()
            .zip(other.0.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }
}

impl core::hash::Hash for StatelessResetToken {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

impl fmt::Debug for StatelessResetToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StatelessResetToken(")?;
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        f.write_str(")")
    }
}

#[cfg(feature = "arbitrary")]
impl<'a> arbitrary::Arbitrary<'a> for StatelessResetToken {
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(Self(u.arbitrary()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_long_ids() {
        assert!(ConnectionId::new(&[0; 21]).is_err());
        let cid = ConnectionId::new(&[1, 2, 3]).unwrap();
        assert_eq!(&*cid, &[1, 2, 3]);
        assert_eq!(format!("{cid:?}"), "010203");
        let mut r = Reader::new(&[21, 0]);
        assert!(ConnectionId::decode_len_prefixed(&mut r).is_err());
    }

    #[test]
    fn maps_find_ids_by_their_bytes() {
        let mut map = std::collections::HashMap::new();
        map.insert(ConnectionId::new(&[7; 8]).unwrap(), 1);
        map.insert(ConnectionId::new(&[0]).unwrap(), 2);
        map.insert(ConnectionId::EMPTY, 3);
        let packet = [0x40, 7, 7, 7, 7, 7, 7, 7, 7, 0xaa];
        assert_eq!(map.get(&packet[1..9]), Some(&1));
        assert_eq!(map.get(&packet[1..8]), None);
        assert_eq!(map.get(&[0u8][..]), Some(&2));
        assert_eq!(map.get(&[][..]), Some(&3));
        assert_eq!(map.get(&[0u8, 0][..]), None);
        assert_ne!(ConnectionId::new(&[0]).unwrap(), ConnectionId::EMPTY);
    }
}
