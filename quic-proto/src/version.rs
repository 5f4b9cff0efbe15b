//! QUIC versions (RFC 8999 §5.4, RFC 9000 §15, RFC 9369).

use core::fmt;

/// A QUIC version number, an open set: unknown versions round-trip.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Version(pub u32);

impl Version {
    /// The value a Version Negotiation packet carries in its version field.
    pub const NEGOTIATION: Self = Self(0);
    /// QUIC version 1 (RFC 9000).
    pub const V1: Self = Self(0x0000_0001);
    /// QUIC version 2 (RFC 9369).
    pub const V2: Self = Self(0x6b33_43cf);

    /// The versions this implementation speaks, in order of preference.
    pub const SUPPORTED: [Self; 2] = [Self::V1, Self::V2];

    /// Whether this implementation speaks the version.
    pub fn is_supported(self) -> bool {
        Self::SUPPORTED.contains(&self)
    }

    /// Whether this is a reserved version of the form `0x?a?a?a?a`, used to
    /// exercise version negotiation (RFC 9000 §15).
    pub const fn is_reserved(self) -> bool {
        self.0 & 0x0f0f_0f0f == 0x0a0a_0a0a
    }

    /// A reserved (greasing) version derived from `seed`'s bits.
    pub const fn reserved(seed: u32) -> Self {
        Self((seed & 0xf0f0_f0f0) | 0x0a0a_0a0a)
    }
}

impl fmt::Debug for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::NEGOTIATION => f.write_str("NEGOTIATION"),
            Self::V1 => f.write_str("V1"),
            Self::V2 => f.write_str("V2"),
            Self(v) => write!(f, "Version({v:#010x})"),
        }
    }
}

#[cfg(feature = "arbitrary")]
impl<'a> arbitrary::Arbitrary<'a> for Version {
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(Self(u.arbitrary()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_versions() {
        assert!(Version(0x1a2a3a4a).is_reserved());
        assert!(!Version::V1.is_reserved());
        assert!(Version::reserved(0xdead_beef).is_reserved());
        assert!(Version::V2.is_supported());
    }
}
