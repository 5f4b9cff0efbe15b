//! The version_information transport parameter (RFC 9368 §3, §4).

use smallvec::SmallVec;

use crate::coding::{Encoder, Reader};
use crate::{Side, TransportError, Version};

/// Version Information (RFC 9368 §3): the version the sender chose and the
/// versions it offers.
///
/// The list is bounded by [`VersionInformation::MAX_AVAILABLE`]; the first
/// four entries are stored inline, so the common case does not allocate.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct VersionInformation {
    /// The version the sender chose for this connection.
    pub chosen: Version,
    /// Client: every version its first flight is compatible with, by
    /// descending preference, including `chosen`. Server: its Fully
    /// Deployed Versions, in no particular order; may be empty.
    pub available: SmallVec<[Version; 4]>,
}

impl VersionInformation {
    /// The most Available Versions accepted. RFC 9368 sets no limit; this
    /// one bounds the memory a peer can make us hold, and real deployments
    /// list a handful. A longer list is a TRANSPORT_PARAMETER_ERROR.
    pub const MAX_AVAILABLE: usize = 64;

    /// The length of the parameter's value in bytes.
    pub fn value_len(&self) -> usize {
        self.available.len().saturating_add(1).saturating_mul(4)
    }

    /// Writes the parameter's value (without ID or length).
    pub fn encode_value<E: Encoder + ?Sized>(&self, e: &mut E) {
        e.put_u32(self.chosen.0);
        for v in &self.available {
            e.put_u32(v.0);
        }
    }

    /// Parses the parameter's value. Structural failures are errors here;
    /// value checks are in [`VersionInformation::validate`].
    pub fn decode_value(value: &[u8]) -> Result<Self, TransportError> {
        // RFC 9368 §4: a parsing failure (too short, or a length not divisible
        // by four) closes a QUIC v1 connection with TRANSPORT_PARAMETER_ERROR.
        if value.len() < 4 {
            return Err(TransportError::transport_parameter(
                "version_information shorter than 4 bytes",
            ));
        }
        if value.len() % 4 != 0 {
            return Err(TransportError::transport_parameter(
                "version_information length not a multiple of 4",
            ));
        }
        if value.len() / 4 - 1 > Self::MAX_AVAILABLE {
            return Err(too_many());
        }
        let truncated = |_| TransportError::transport_parameter("version_information malformed");
        let mut r = Reader::new(value);
        let chosen = Version(r.u32().map_err(truncated)?);
        let mut available = SmallVec::with_capacity(value.len() / 4 - 1);
        while !r.is_empty() {
            available.push(Version(r.u32().map_err(truncated)?));
        }
        Ok(Self { chosen, available })
    }

    /// Checks the rules of RFC 9368 §4 that need no connection context.
    pub fn validate(&self, sent_by: Side) -> Result<(), TransportError> {
        // RFC 9368 §4: "If an endpoint receives a Chosen Version equal to zero,
        // or any Available Version equal to zero, it MUST treat it as a
        // parsing failure."
        if self.chosen.0 == 0 {
            return Err(TransportError::transport_parameter(
                "version_information chosen version is zero",
            ));
        }
        if self.available.iter().any(|v| v.0 == 0) {
            return Err(TransportError::transport_parameter(
                "version_information lists version zero",
            ));
        }
        if self.available.len() > Self::MAX_AVAILABLE {
            return Err(too_many());
        }
        // RFC 9368 §4: "If a server receives Version Information where the
        // Chosen Version is not included in Available Versions, it MUST treat
        // it as a parsing failure."
        if sent_by.is_client() && !self.available.contains(&self.chosen) {
            return Err(TransportError::transport_parameter(
                "version_information chosen version not in available versions",
            ));
        }
        Ok(())
    }
}

const fn too_many() -> TransportError {
    TransportError::transport_parameter("version_information lists more than 64 versions")
}

#[cfg(feature = "arbitrary")]
impl VersionInformation {
    /// Version Information that is valid as sent by `sent_by`.
    pub fn arbitrary_for(
        u: &mut arbitrary::Unstructured<'_>,
        sent_by: Side,
    ) -> arbitrary::Result<Self> {
        let nonzero = |u: &mut arbitrary::Unstructured<'_>| -> arbitrary::Result<Version> {
            u.int_in_range(1..=u32::MAX).map(Version)
        };
        let chosen = nonzero(u)?;
        let n = u.int_in_range(0..=Self::MAX_AVAILABLE)?;
        let mut available = SmallVec::with_capacity(n);
        for _ in 0..n {
            available.push(nonzero(u)?);
        }
        if sent_by.is_client() && !available.contains(&chosen) {
            // Put the chosen version somewhere in the list, keeping the bound.
            let at = u.int_in_range(0..=available.len())?;
            if available.len() == Self::MAX_AVAILABLE {
                available.pop();
            }
            available.insert(at.min(available.len()), chosen);
        }
        Ok(Self { chosen, available })
    }
}

#[cfg(feature = "arbitrary")]
impl<'a> arbitrary::Arbitrary<'a> for VersionInformation {
    /// Valid as sent by either side (the chosen version is always listed).
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        Self::arbitrary_for(u, Side::Client)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hex_literal::hex;

    #[test]
    fn decodes_chosen_then_available() {
        let vi =
            VersionInformation::decode_value(&hex!("00000001 6b3343cf 00000001 1a2a3a4a")).unwrap();
        assert_eq!(vi.chosen, Version::V1);
        assert_eq!(
            vi.available.as_slice(),
            &[Version::V2, Version::V1, Version(0x1a2a3a4a)]
        );
        assert_eq!(vi.validate(Side::Client), Ok(()));
        let mut v = Vec::new();
        vi.encode_value(&mut v);
        assert_eq!(v.len(), vi.value_len());
        assert_eq!(VersionInformation::decode_value(&v), Ok(vi));
    }

    #[test]
    fn a_server_may_send_an_empty_list_without_its_chosen_version() {
        let vi = VersionInformation::decode_value(&hex!("00000001")).unwrap();
        assert!(vi.available.is_empty());
        assert_eq!(vi.validate(Side::Server), Ok(()));
        assert!(vi.validate(Side::Client).is_err());
    }

    #[test]
    fn a_list_at_the_bound_is_accepted() {
        let value: Vec<u8> = (1..=65u32).flat_map(u32::to_be_bytes).collect();
        let vi = VersionInformation::decode_value(&value).unwrap();
        assert_eq!(vi.available.len(), VersionInformation::MAX_AVAILABLE);
        assert_eq!(vi.validate(Side::Server), Ok(()));
    }
}
