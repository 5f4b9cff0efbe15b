//! Version Negotiation packets (RFC 8999 §6, RFC 9000 §6, §17.2.1).

use core::fmt;

use crate::coding::Encoder;
use crate::Version;

use super::header::{check_invariant_cids, put_u8_prefixed, FIXED_BIT, FORM_BIT};
use super::PacketEncodeError;

/// The Supported Version list of a Version Negotiation packet, borrowed as
/// raw bytes (a whole number of 4-byte versions) and read as [`Version`]s.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct VersionList<'a>(&'a [u8]);

impl<'a> VersionList<'a> {
    /// The empty list.
    pub const EMPTY: VersionList<'static> = VersionList(&[]);

    /// Wraps `bytes`, or `None` unless its length is a multiple of 4.
    pub const fn new(bytes: &'a [u8]) -> Option<Self> {
        if bytes.len() % 4 == 0 {
            Some(Self(bytes))
        } else {
            None
        }
    }

    /// The raw bytes.
    pub const fn as_bytes(&self) -> &'a [u8] {
        self.0
    }

    /// How many versions the list holds.
    pub const fn len(&self) -> usize {
        self.0.len() / 4
    }

    /// Whether the list is empty.
    pub const fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The versions, in order.
    pub fn iter(&self) -> impl Iterator<Item = Version> + 'a {
        self.0.chunks_exact(4).map(|c| {
            let mut b = [0u8; 4];
            b.copy_from_slice(c);
            Version(u32::from_be_bytes(b))
        })
    }

    /// Whether `version` is listed.
    pub fn contains(&self, version: Version) -> bool {
        self.iter().any(|v| v == version)
    }
}

impl fmt::Debug for VersionList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

#[cfg(feature = "arbitrary")]
impl<'a> arbitrary::Arbitrary<'a> for VersionList<'a> {
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        let n = u.int_in_range(0..=16usize)?;
        Ok(Self(u.bytes(4 * n)?))
    }
}

/// Writes the first byte, the zero version and both CIDs of a Version
/// Negotiation packet. `unused` supplies the seven Unused bits; 0x40 is
/// always set (RFC 9000 §17.2.1: "servers SHOULD set the most significant bit
/// of this field (0x40) to 1").
pub(crate) fn write_vn_prefix<E: Encoder + ?Sized>(
    e: &mut E,
    unused: u8,
    dst_cid: &[u8],
    src_cid: &[u8],
) {
    e.put_u8(FORM_BIT | FIXED_BIT | (unused & 0x3f));
    e.put_u32(Version::NEGOTIATION.0);
    put_u8_prefixed(e, dst_cid);
    put_u8_prefixed(e, src_cid);
}

/// Writes the server's Version Negotiation reply to a packet whose version it
/// does not speak (RFC 9000 §6.1, §17.2.1).
///
/// `client_dst_cid` and `client_src_cid` are the connection IDs of the
/// packet being answered: they are echoed swapped (RFC 9000 §17.2.1: the
/// reply's DCID is the received SCID and its SCID the received DCID). Both
/// may be up to 255 bytes (RFC 8999 §5.1). `unused` supplies the random
/// low bits of the first byte, since the core has no RNG; `supported` should
/// include a reserved version now and then (RFC 9000 §6.3).
pub fn encode_version_negotiation<E: Encoder + ?Sized>(
    e: &mut E,
    unused: u8,
    client_dst_cid: &[u8],
    client_src_cid: &[u8],
    supported: &[Version],
) -> Result<(), PacketEncodeError> {
    check_invariant_cids(client_src_cid, client_dst_cid)?;
    write_vn_prefix(e, unused, client_src_cid, client_dst_cid);
    for v in supported {
        e.put_u32(v.0);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use hex_literal::hex;

    #[test]
    fn reply_swaps_connection_ids_and_lists_versions() {
        let mut v = Vec::new();
        encode_version_negotiation(
            &mut v,
            0xff,
            &[0xd1, 0xd2],
            &[0x51],
            &[Version::V1, Version::V2],
        )
        .unwrap();
        assert_eq!(v, hex!("ff 00000000 0151 02d1d2 00000001 6b3343cf"));
    }

    #[test]
    fn reply_sets_the_fixed_looking_bit() {
        let mut v = Vec::new();
        encode_version_negotiation(&mut v, 0, &[], &[], &[]).unwrap();
        assert_eq!(v, hex!("c0 00000000 00 00"));
    }

    #[test]
    fn long_invariant_cids_are_echoed_up_to_255() {
        let long = [7u8; 255];
        let mut v = Vec::new();
        encode_version_negotiation(&mut v, 0, &long, &[], &[Version::V1]).unwrap();
        assert_eq!(v.len(), 1 + 4 + 1 + 1 + 255 + 4);
        let too_long = [7u8; 256];
        assert_eq!(
            encode_version_negotiation(&mut Vec::new(), 0, &too_long, &[], &[]),
            Err(PacketEncodeError::ConnectionIdTooLong)
        );
    }

    #[test]
    fn version_list_reads_versions() {
        let list = VersionList::new(&hex!("00000001 1a2a3a4a")).unwrap();
        assert_eq!(list.len(), 2);
        assert!(list.contains(Version::V1));
        assert!(!list.contains(Version::V2));
        assert_eq!(
            list.iter().collect::<Vec<_>>(),
            [Version::V1, Version(0x1a2a3a4a)]
        );
        assert!(VersionList::new(&[0, 0, 0]).is_none());
        assert!(VersionList::EMPTY.is_empty());
    }
}
