//! Packet headers: the [`Header`] view and the send-side header writer
//! (RFC 8999 §5, RFC 9000 §17, RFC 9369 §3.2).

use crate::coding::{Encode, Encoder, SliceWriter, VarInt};
use crate::{ConnectionId, Level, Version};

use super::number::PacketNumber;
use super::{PacketEncodeError, VersionList};

/// The header form bit: set in long headers (RFC 8999 §5.1).
pub(crate) const FORM_BIT: u8 = 0x80;
/// The fixed bit, "QUIC bit" (RFC 9000 §17.2, §17.3.1; RFC 9287).
pub(crate) const FIXED_BIT: u8 = 0x40;
/// The spin bit of a short header (RFC 9000 §17.3.1).
pub(crate) const SPIN_BIT: u8 = 0x20;
/// The key phase bit of a short header (RFC 9000 §17.3.1).
pub(crate) const KEY_PHASE_BIT: u8 = 0x04;
/// Reserved bits of a long header (RFC 9000 §17.2).
pub(crate) const LONG_RESERVED_BITS: u8 = 0x0c;
/// Reserved bits of a short header (RFC 9000 §17.3.1).
pub(crate) const SHORT_RESERVED_BITS: u8 = 0x18;
/// The Packet Number Length bits (RFC 9000 §17.2).
pub(crate) const PN_LEN_BITS: u8 = 0x03;
/// The length of a Retry Integrity Tag (RFC 9001 §5.8).
pub const RETRY_INTEGRITY_TAG_LEN: usize = 16;

/// A long-header packet type. The two type bits map to these differently in
/// QUIC v1 (RFC 9000 §17.2) and QUIC v2 (RFC 9369 §3.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum LongType {
    /// Initial (v1 0b00, v2 0b01).
    Initial,
    /// 0-RTT (v1 0b01, v2 0b10).
    ZeroRtt,
    /// Handshake (v1 0b10, v2 0b11).
    Handshake,
    /// Retry (v1 0b11, v2 0b00).
    Retry,
}

impl LongType {
    /// The type named by the two type bits (`(first_byte >> 4) & 3`) in
    /// `version`, or `None` for a version this implementation does not speak.
    pub const fn from_bits(bits: u8, version: Version) -> Option<Self> {
        let bits = bits & 0x03;
        match version {
            // RFC 9000 §17.2, Table 5.
            Version::V1 => Some(match bits {
                0b00 => Self::Initial,
                0b01 => Self::ZeroRtt,
                0b10 => Self::Handshake,
                _ => Self::Retry,
            }),
            // RFC 9369 §3.2.
            Version::V2 => Some(match bits {
                0b01 => Self::Initial,
                0b10 => Self::ZeroRtt,
                0b11 => Self::Handshake,
                _ => Self::Retry,
            }),
            _ => None,
        }
    }

    /// The two type bits for this type in `version`, or `None` for a version
    /// this implementation does not speak.
    pub const fn to_bits(self, version: Version) -> Option<u8> {
        match version {
            Version::V1 => Some(match self {
                Self::Initial => 0b00,
                Self::ZeroRtt => 0b01,
                Self::Handshake => 0b10,
                Self::Retry => 0b11,
            }),
            Version::V2 => Some(match self {
                Self::Initial => 0b01,
                Self::ZeroRtt => 0b10,
                Self::Handshake => 0b11,
                Self::Retry => 0b00,
            }),
            _ => None,
        }
    }

    /// The protection level of packets of this type; Retry has none.
    pub const fn level(self) -> Option<Level> {
        match self {
            Self::Initial => Some(Level::Initial),
            Self::ZeroRtt => Some(Level::ZeroRtt),
            Self::Handshake => Some(Level::Handshake),
            Self::Retry => None,
        }
    }
}

/// A packet header, borrowed from a datagram or built for sending.
///
/// The packet number is not part of the header: it is protected, so it is
/// read by `open` and written from a [`PacketNumber`]. In a header read from a
/// packet whose header protection is still in place, `Short::key_phase` is
/// `false`; the real bit is known once protection is removed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Header<'a> {
    /// An Initial packet (RFC 9000 §17.2.2).
    Initial {
        /// QUIC v1 or v2.
        version: Version,
        /// Destination Connection ID.
        dst_cid: ConnectionId,
        /// Source Connection ID.
        src_cid: ConnectionId,
        /// The address validation token, possibly empty.
        token: &'a [u8],
    },
    /// A 0-RTT packet (RFC 9000 §17.2.3).
    ZeroRtt {
        /// QUIC v1 or v2.
        version: Version,
        /// Destination Connection ID.
        dst_cid: ConnectionId,
        /// Source Connection ID.
        src_cid: ConnectionId,
    },
    /// A Handshake packet (RFC 9000 §17.2.4).
    Handshake {
        /// QUIC v1 or v2.
        version: Version,
        /// Destination Connection ID.
        dst_cid: ConnectionId,
        /// Source Connection ID.
        src_cid: ConnectionId,
    },
    /// A Retry packet (RFC 9000 §17.2.5): the whole packet, unprotected.
    Retry {
        /// QUIC v1 or v2.
        version: Version,
        /// Destination Connection ID.
        dst_cid: ConnectionId,
        /// Source Connection ID.
        src_cid: ConnectionId,
        /// The Retry Token.
        token: &'a [u8],
        /// The Retry Integrity Tag (RFC 9001 §5.8).
        integrity_tag: [u8; RETRY_INTEGRITY_TAG_LEN],
    },
    /// A 1-RTT packet with a short header (RFC 9000 §17.3.1).
    Short {
        /// The latency spin bit (not header-protected).
        spin: bool,
        /// The key phase bit (header-protected).
        key_phase: bool,
        /// Destination Connection ID.
        dst_cid: ConnectionId,
    },
    /// A Version Negotiation packet (RFC 9000 §17.2.1, RFC 8999 §6): the
    /// whole packet. The connection IDs are those of whatever version the
    /// client tried, up to 255 bytes.
    VersionNegotiation {
        /// Destination Connection ID (the client's SCID, echoed).
        dst_cid: &'a [u8],
        /// Source Connection ID (the client's DCID, echoed).
        src_cid: &'a [u8],
        /// The versions the server supports.
        versions: VersionList<'a>,
    },
    /// A long header with a version this implementation does not speak: only
    /// the RFC 8999 invariants are known, enough to answer with Version
    /// Negotiation (RFC 9000 §6.1). The rest of the datagram belongs to it.
    UnsupportedVersion {
        /// The version, neither 0 nor one this implementation speaks.
        version: Version,
        /// Destination Connection ID, up to 255 bytes.
        dst_cid: &'a [u8],
        /// Source Connection ID, up to 255 bytes.
        src_cid: &'a [u8],
    },
}

impl<'a> Header<'a> {
    /// The long-header packet type, `None` for short headers, Version
    /// Negotiation and unsupported versions.
    pub const fn long_type(&self) -> Option<LongType> {
        match self {
            Self::Initial { .. } => Some(LongType::Initial),
            Self::ZeroRtt { .. } => Some(LongType::ZeroRtt),
            Self::Handshake { .. } => Some(LongType::Handshake),
            Self::Retry { .. } => Some(LongType::Retry),
            _ => None,
        }
    }

    /// The protection level, `None` for the unprotected kinds (Retry,
    /// Version Negotiation, unsupported versions).
    pub const fn level(&self) -> Option<Level> {
        match self {
            Self::Short { .. } => Some(Level::OneRtt),
            _ => match self.long_type() {
                Some(ty) => ty.level(),
                None => None,
            },
        }
    }

    /// Whether the packet carries a (protected) packet number.
    pub const fn has_packet_number(&self) -> bool {
        self.level().is_some()
    }

    /// The version field; `None` for short headers.
    pub const fn version(&self) -> Option<Version> {
        match *self {
            Self::Initial { version, .. }
            | Self::ZeroRtt { version, .. }
            | Self::Handshake { version, .. }
            | Self::Retry { version, .. }
            | Self::UnsupportedVersion { version, .. } => Some(version),
            Self::VersionNegotiation { .. } => Some(Version::NEGOTIATION),
            Self::Short { .. } => None,
        }
    }

    /// The Destination Connection ID.
    pub fn dst_cid(&self) -> &[u8] {
        match self {
            Self::Initial { dst_cid, .. }
            | Self::ZeroRtt { dst_cid, .. }
            | Self::Handshake { dst_cid, .. }
            | Self::Retry { dst_cid, .. }
            | Self::Short { dst_cid, .. } => dst_cid,
            Self::VersionNegotiation { dst_cid, .. } | Self::UnsupportedVersion { dst_cid, .. } => {
                dst_cid
            }
        }
    }

    /// The Source Connection ID; `None` for short headers.
    pub fn src_cid(&self) -> Option<&[u8]> {
        match self {
            Self::Initial { src_cid, .. }
            | Self::ZeroRtt { src_cid, .. }
            | Self::Handshake { src_cid, .. }
            | Self::Retry { src_cid, .. } => Some(src_cid),
            Self::VersionNegotiation { src_cid, .. } | Self::UnsupportedVersion { src_cid, .. } => {
                Some(src_cid)
            }
            Self::Short { .. } => None,
        }
    }

    /// How many bytes [`Header::write`] uses with a `pn_len`-byte packet
    /// number, or `None` for kinds without a packet number.
    pub fn header_len(&self, pn_len: usize) -> Option<usize> {
        let fixed = match self {
            // first byte, version, two CID length bytes, 2-byte Length.
            Self::Initial { token, .. } => 1 + 4 + 2 + 2 + varint_len(token.len()) + token.len(),
            Self::ZeroRtt { .. } | Self::Handshake { .. } => 1 + 4 + 2 + 2,
            Self::Short { .. } => 1,
            _ => return None,
        };
        let cids = self.dst_cid().len() + self.src_cid().map_or(0, <[u8]>::len);
        Some(fixed + cids + pn_len)
    }

    /// Writes a header that carries a packet number (Initial, 0-RTT,
    /// Handshake, 1-RTT) at the start of `buf`, ending with the packet
    /// number `pn` on `pn.size()` bytes with the reserved bits zero.
    ///
    /// Long headers get a 2-byte Length field holding a placeholder: write
    /// the payload after [`HeaderLayout::header_len`], leave the tag's room,
    /// then call [`HeaderLayout::finish`] before sealing. Offsets in the
    /// returned layout are relative to `buf`.
    pub fn write(
        &self,
        buf: &mut [u8],
        pn: PacketNumber,
    ) -> Result<HeaderLayout, PacketEncodeError> {
        let mut w = SliceWriter::new(buf);
        let pn_bits = pn.first_byte_bits();
        let length_offset = match *self {
            Self::Initial {
                version,
                dst_cid,
                src_cid,
                token,
            } => {
                let ty = LongType::Initial;
                let at = write_long_with_length(
                    &mut w,
                    ty,
                    version,
                    pn_bits,
                    &dst_cid,
                    &src_cid,
                    Some(token),
                )?;
                Some(at)
            }
            Self::ZeroRtt {
                version,
                dst_cid,
                src_cid,
            } => {
                let ty = LongType::ZeroRtt;
                let at =
                    write_long_with_length(&mut w, ty, version, pn_bits, &dst_cid, &src_cid, None)?;
                Some(at)
            }
            Self::Handshake {
                version,
                dst_cid,
                src_cid,
            } => {
                let ty = LongType::Handshake;
                let at =
                    write_long_with_length(&mut w, ty, version, pn_bits, &dst_cid, &src_cid, None)?;
                Some(at)
            }
            Self::Short {
                spin,
                key_phase,
                dst_cid,
            } => {
                return Self::write_short(buf, spin, key_phase, &dst_cid, pn);
            }
            _ => return Err(PacketEncodeError::NoPacketNumber),
        };
        let pn_offset = w.len();
        pn.encode(&mut w);
        w.finish().map_err(|_| PacketEncodeError::BufferTooSmall)?;
        Ok(HeaderLayout {
            length_offset,
            pn_offset,
            pn,
        })
    }

    /// What [`Header::write`] does for a [`Header::Short`] with these
    /// fields, without building the `Header`: the 1-RTT send path.
    #[inline]
    pub fn write_short(
        buf: &mut [u8],
        spin: bool,
        key_phase: bool,
        dst_cid: &[u8],
        pn: PacketNumber,
    ) -> Result<HeaderLayout, PacketEncodeError> {
        let pn_offset = 1 + dst_cid.len();
        let (first, rest) = buf
            .get_mut(..pn_offset + pn.size())
            .and_then(|b| b.split_first_mut())
            .ok_or(PacketEncodeError::BufferTooSmall)?;
        let (cid, number) = rest.split_at_mut(dst_cid.len());
        // RFC 9000 §17.3.1: 0b01 | spin | reserved 00 | key phase | pn length.
        *first = FIXED_BIT | pn.first_byte_bits();
        if spin {
            *first |= SPIN_BIT;
        }
        if key_phase {
            *first |= KEY_PHASE_BIT;
        }
        cid.copy_from_slice(dst_cid);
        // One fixed-size copy per length (1 to 4) rather than a call to
        // copy a length known only at run time.
        let t = pn.truncated().to_be_bytes();
        match number {
            [a] => *a = t[3],
            [a, b] => [*a, *b] = [t[2], t[3]],
            [a, b, c] => [*a, *b, *c] = [t[1], t[2], t[3]],
            _ => number.copy_from_slice(t.get(4 - pn.size()..).unwrap_or(&t)),
        }
        Ok(HeaderLayout {
            length_offset: None,
            pn_offset,
            pn,
        })
    }

    /// Encodes a packet that has no packet number, completely: Retry (with
    /// its integrity tag and Unused bits zero), Version Negotiation (with
    /// Unused bits `0x40`, RFC 9000 §17.2.1), or the invariant header of an
    /// unsupported version, to which the caller appends the rest.
    pub fn encode_unprotected<E: Encoder + ?Sized>(
        &self,
        e: &mut E,
    ) -> Result<(), PacketEncodeError> {
        match *self {
            Self::Retry {
                version,
                dst_cid,
                src_cid,
                token,
                integrity_tag,
            } => super::retry::encode_retry(e, version, &dst_cid, &src_cid, token, &integrity_tag),
            Self::VersionNegotiation {
                dst_cid,
                src_cid,
                versions,
            } => {
                // The dedicated encoder swaps the CIDs of the packet it
                // answers; here they are already in reply order.
                check_invariant_cids(dst_cid, src_cid)?;
                super::version_negotiation::write_vn_prefix(e, 0, dst_cid, src_cid);
                e.put_slice(versions.as_bytes());
                Ok(())
            }
            Self::UnsupportedVersion {
                version,
                dst_cid,
                src_cid,
            } => {
                check_invariant_cids(dst_cid, src_cid)?;
                e.put_u8(FORM_BIT | FIXED_BIT);
                e.put_u32(version.0);
                put_u8_prefixed(e, dst_cid);
                put_u8_prefixed(e, src_cid);
                Ok(())
            }
            _ => Err(PacketEncodeError::HasPacketNumber),
        }
    }
}

/// The 2-byte varint placeholder left in the Length field.
const LENGTH_PLACEHOLDER: u16 = 0x4000;
/// The largest value a 2-byte varint holds.
const MAX_TWO_BYTE_VARINT: usize = 0x3fff;

fn varint_len(n: usize) -> usize {
    VarInt::try_from(n).map_or(8, VarInt::size)
}

/// Writes first byte, version and both length-prefixed CIDs of a v1/v2
/// long header (RFC 9000 §17.2).
pub(crate) fn write_long_prefix<E: Encoder + ?Sized>(
    e: &mut E,
    ty: LongType,
    version: Version,
    low_bits: u8,
    dst_cid: &ConnectionId,
    src_cid: &ConnectionId,
) -> Result<(), PacketEncodeError> {
    let bits = ty
        .to_bits(version)
        .ok_or(PacketEncodeError::UnsupportedVersion(version))?;
    e.put_u8(FORM_BIT | FIXED_BIT | (bits << 4) | (low_bits & 0x0f));
    e.put_u32(version.0);
    dst_cid.encode_len_prefixed(e);
    src_cid.encode_len_prefixed(e);
    Ok(())
}

/// Writes a v1/v2 long header up to and including the Length placeholder
/// (with the Initial token when given); returns where Length is.
fn write_long_with_length(
    w: &mut SliceWriter<'_>,
    ty: LongType,
    version: Version,
    pn_bits: u8,
    dst_cid: &ConnectionId,
    src_cid: &ConnectionId,
    token: Option<&[u8]>,
) -> Result<usize, PacketEncodeError> {
    write_long_prefix(w, ty, version, pn_bits, dst_cid, src_cid)?;
    if let Some(token) = token {
        // RFC 9000 §17.2.2: Token Length (i), Token (..).
        let len = VarInt::try_from(token.len()).map_err(|_| PacketEncodeError::InvalidLength)?;
        w.put_varint(len);
        w.put_slice(token);
    }
    let at = w.len();
    w.put_u16(LENGTH_PLACEHOLDER);
    Ok(at)
}

/// RFC 8999 §5.1: CIDs of any version are at most 255 bytes.
pub(crate) fn check_invariant_cids(dst: &[u8], src: &[u8]) -> Result<(), PacketEncodeError> {
    if dst.len() > usize::from(u8::MAX) || src.len() > usize::from(u8::MAX) {
        return Err(PacketEncodeError::ConnectionIdTooLong);
    }
    Ok(())
}

/// Writes a one-byte length and `bytes`; the caller has checked the length.
pub(crate) fn put_u8_prefixed<E: Encoder + ?Sized>(e: &mut E, bytes: &[u8]) {
    e.put_u8(bytes.len().min(usize::from(u8::MAX)) as u8);
    e.put_slice(bytes);
}

/// Where [`Header::write`] put things, relative to the start of the packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeaderLayout {
    /// Where the 2-byte Length field is, for long headers.
    pub length_offset: Option<usize>,
    /// Where the packet number starts.
    pub pn_offset: usize,
    /// The packet number written.
    pub pn: PacketNumber,
}

impl HeaderLayout {
    /// The packet number's length in bytes.
    pub const fn pn_len(&self) -> usize {
        self.pn.size()
    }

    /// The header's length including the packet number: where the payload
    /// starts.
    pub const fn header_len(&self) -> usize {
        self.pn_offset + self.pn.size()
    }

    /// The smallest packet length that leaves room for a header protection
    /// sample of `sample_len` bytes (RFC 9001 §5.4.2): pad the payload up to
    /// this.
    pub const fn min_packet_len(&self, sample_len: usize) -> usize {
        super::protect::min_protected_len(self.pn_offset, sample_len)
    }

    /// Patches the Length field of a long header once the packet is
    /// complete: `packet_len` is the length of the whole packet from its first
    /// byte, including the room for the AEAD tag (RFC 9000 §17.2: Length
    /// covers the packet number and the payload). Short headers have no
    /// Length and only have the bounds checked.
    #[inline]
    pub fn finish(&self, packet: &mut [u8], packet_len: usize) -> Result<(), PacketEncodeError> {
        if packet_len < self.header_len() || packet_len > packet.len() {
            return Err(PacketEncodeError::InvalidLength);
        }
        let Some(at) = self.length_offset else {
            return Ok(());
        };
        let length = packet_len - self.pn_offset;
        if length > MAX_TWO_BYTE_VARINT {
            return Err(PacketEncodeError::InvalidLength);
        }
        let field = packet
            .get_mut(at..at + 2)
            .ok_or(PacketEncodeError::InvalidLength)?;
        field.copy_from_slice(&(LENGTH_PLACEHOLDER | length as u16).to_be_bytes());
        Ok(())
    }
}

#[cfg(feature = "arbitrary")]
impl<'a> arbitrary::Arbitrary<'a> for Header<'a> {
    /// Only headers that encode: v1/v2 for the typed kinds, CIDs up to 255
    /// bytes for Version Negotiation and unsupported versions.
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        let version = if u.arbitrary()? {
            Version::V1
        } else {
            Version::V2
        };
        Ok(match u.int_in_range(0..=6u8)? {
            0 => Self::Initial {
                version,
                dst_cid: u.arbitrary()?,
                src_cid: u.arbitrary()?,
                token: u.arbitrary()?,
            },
            1 => Self::ZeroRtt {
                version,
                dst_cid: u.arbitrary()?,
                src_cid: u.arbitrary()?,
            },
            2 => Self::Handshake {
                version,
                dst_cid: u.arbitrary()?,
                src_cid: u.arbitrary()?,
            },
            3 => Self::Retry {
                version,
                dst_cid: u.arbitrary()?,
                src_cid: u.arbitrary()?,
                token: u.arbitrary()?,
                integrity_tag: u.arbitrary()?,
            },
            4 => Self::Short {
                spin: u.arbitrary()?,
                key_phase: u.arbitrary()?,
                dst_cid: u.arbitrary()?,
            },
            5 => Self::VersionNegotiation {
                dst_cid: arbitrary_invariant_cid(u)?,
                src_cid: arbitrary_invariant_cid(u)?,
                versions: u.arbitrary()?,
            },
            _ => {
                let v = Version(u.arbitrary()?);
                Self::UnsupportedVersion {
                    version: if v.is_supported() || v == Version::NEGOTIATION {
                        Version::reserved(v.0)
                    } else {
                        v
                    },
                    dst_cid: arbitrary_invariant_cid(u)?,
                    src_cid: arbitrary_invariant_cid(u)?,
                }
            }
        })
    }
}

#[cfg(feature = "arbitrary")]
fn arbitrary_invariant_cid<'a>(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<&'a [u8]> {
    let len = u.int_in_range(0..=usize::from(u8::MAX))?;
    u.bytes(len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hex_literal::hex;

    fn cid(bytes: &[u8]) -> ConnectionId {
        ConnectionId::new(bytes).unwrap()
    }

    #[test]
    fn long_types_map_per_version() {
        for ty in [
            LongType::Initial,
            LongType::ZeroRtt,
            LongType::Handshake,
            LongType::Retry,
        ] {
            for v in Version::SUPPORTED {
                let bits = ty.to_bits(v).unwrap();
                assert_eq!(LongType::from_bits(bits, v), Some(ty));
            }
        }
        assert_eq!(LongType::Initial.to_bits(Version::V2), Some(0b01));
        assert_eq!(LongType::Retry.to_bits(Version::V2), Some(0b00));
        assert_eq!(LongType::from_bits(0, Version(0x1a2a3a4a)), None);
        assert_eq!(LongType::Handshake.level(), Some(Level::Handshake));
        assert_eq!(LongType::Retry.level(), None);
    }

    #[test]
    fn rfc9001_client_initial_header_bytes() {
        let hdr = Header::Initial {
            version: Version::V1,
            dst_cid: cid(&hex!("8394c8f03e515708")),
            src_cid: ConnectionId::EMPTY,
            token: &[],
        };
        let mut buf = [0u8; 64];
        let layout = hdr
            .write(&mut buf, PacketNumber::with_len(2, 4).unwrap())
            .unwrap();
        assert_eq!(layout.pn_offset, 18);
        assert_eq!(layout.length_offset, Some(16));
        assert_eq!(hdr.header_len(4), Some(layout.header_len()));
        let mut packet = [0u8; 1200];
        packet[..22].copy_from_slice(&buf[..22]);
        layout.finish(&mut packet, 1200).unwrap();
        assert_eq!(
            packet[..22],
            hex!("c300000001088394c8f03e5157080000449e00000002")
        );
    }

    #[test]
    fn rfc9001_server_initial_header_bytes() {
        let hdr = Header::Initial {
            version: Version::V1,
            dst_cid: ConnectionId::EMPTY,
            src_cid: cid(&hex!("f067a5502a4262b5")),
            token: &[],
        };
        let mut buf = [0u8; 200];
        let layout = hdr
            .write(&mut buf, PacketNumber::with_len(1, 2).unwrap())
            .unwrap();
        layout.finish(&mut buf, layout.pn_offset + 0x75).unwrap();
        assert_eq!(
            buf[..layout.header_len()],
            hex!("c1000000010008f067a5502a4262b50040750001")
        );
    }

    #[test]
    fn byte_exact_first_bytes_per_type_and_version() {
        let d = cid(&[0xaa]);
        let s = cid(&[0xbb]);
        let pn = PacketNumber::with_len(0x12, 1).unwrap();
        let cases: [(Header<'_>, &[u8]); 7] = [
            (
                Header::ZeroRtt {
                    version: Version::V1,
                    dst_cid: d,
                    src_cid: s,
                },
                &hex!("d0 00000001 01aa 01bb 4000 12"),
            ),
            (
                Header::Handshake {
                    version: Version::V1,
                    dst_cid: d,
                    src_cid: s,
                },
                &hex!("e0 00000001 01aa 01bb 4000 12"),
            ),
            (
                Header::Initial {
                    version: Version::V2,
                    dst_cid: d,
                    src_cid: s,
                    token: &[7],
                },
                &hex!("d0 6b3343cf 01aa 01bb 0107 4000 12"),
            ),
            (
                Header::ZeroRtt {
                    version: Version::V2,
                    dst_cid: d,
                    src_cid: s,
                },
                &hex!("e0 6b3343cf 01aa 01bb 4000 12"),
            ),
            (
                Header::Handshake {
                    version: Version::V2,
                    dst_cid: d,
                    src_cid: s,
                },
                &hex!("f0 6b3343cf 01aa 01bb 4000 12"),
            ),
            (
                Header::Short {
                    spin: true,
                    key_phase: true,
                    dst_cid: d,
                },
                &hex!("64 aa 12"),
            ),
            (
                Header::Short {
                    spin: false,
                    key_phase: false,
                    dst_cid: ConnectionId::EMPTY,
                },
                &hex!("40 12"),
            ),
        ];
        for (hdr, want) in cases {
            let mut buf = [0u8; 64];
            let layout = hdr.write(&mut buf, pn).unwrap();
            assert_eq!(&buf[..layout.header_len()], want, "{hdr:?}");
        }
    }

    #[test]
    fn retry_and_vn_encode_whole_packets() {
        let tag = [0x11; 16];
        let retry = |version| Header::Retry {
            version,
            dst_cid: ConnectionId::EMPTY,
            src_cid: cid(&[0xbb]),
            token: b"tok",
            integrity_tag: tag,
        };
        let mut v = Vec::new();
        retry(Version::V1).encode_unprotected(&mut v).unwrap();
        assert_eq!(v[..11], hex!("f0 00000001 00 01bb 746f6b"));
        assert_eq!(v[11..], tag);
        let mut v = Vec::new();
        retry(Version::V2).encode_unprotected(&mut v).unwrap();
        assert_eq!(v[..5], hex!("c0 6b3343cf"));

        let vn = Header::VersionNegotiation {
            dst_cid: &[1],
            src_cid: &[2, 3],
            versions: VersionList::new(&hex!("00000001 6b3343cf")).unwrap(),
        };
        let mut v = Vec::new();
        vn.encode_unprotected(&mut v).unwrap();
        assert_eq!(v, hex!("c0 00000000 0101 020203 00000001 6b3343cf"));
    }

    #[test]
    fn kinds_are_refused_by_the_wrong_encoder() {
        let pn = PacketNumber::with_len(0, 1).unwrap();
        let vn = Header::VersionNegotiation {
            dst_cid: &[],
            src_cid: &[],
            versions: VersionList::EMPTY,
        };
        assert_eq!(
            vn.write(&mut [0; 64], pn),
            Err(PacketEncodeError::NoPacketNumber)
        );
        let short = Header::Short {
            spin: false,
            key_phase: false,
            dst_cid: ConnectionId::EMPTY,
        };
        assert_eq!(
            short.encode_unprotected(&mut Vec::new()),
            Err(PacketEncodeError::HasPacketNumber)
        );
        let bad = Header::Handshake {
            version: Version(0x1a2a3a4a),
            dst_cid: ConnectionId::EMPTY,
            src_cid: ConnectionId::EMPTY,
        };
        assert_eq!(
            bad.write(&mut [0; 64], pn),
            Err(PacketEncodeError::UnsupportedVersion(Version(0x1a2a3a4a)))
        );
        let long = [0u8; 256];
        let unsupported = Header::UnsupportedVersion {
            version: Version(7),
            dst_cid: &long,
            src_cid: &[],
        };
        assert_eq!(
            unsupported.encode_unprotected(&mut Vec::new()),
            Err(PacketEncodeError::ConnectionIdTooLong)
        );
    }

    #[test]
    fn write_reports_small_buffers() {
        let hdr = Header::Handshake {
            version: Version::V1,
            dst_cid: cid(&[1; 20]),
            src_cid: cid(&[2; 20]),
        };
        let pn = PacketNumber::with_len(9, 4).unwrap();
        let need = hdr.header_len(4).unwrap();
        assert_eq!(
            hdr.write(&mut vec![0; need - 1], pn),
            Err(PacketEncodeError::BufferTooSmall)
        );
        assert!(hdr.write(&mut vec![0; need], pn).is_ok());
    }

    #[test]
    fn finish_checks_bounds() {
        let hdr = Header::Handshake {
            version: Version::V1,
            dst_cid: ConnectionId::EMPTY,
            src_cid: ConnectionId::EMPTY,
        };
        let mut buf = vec![0u8; 20_000];
        let layout = hdr
            .write(&mut buf, PacketNumber::with_len(0, 1).unwrap())
            .unwrap();
        assert_eq!(
            layout.finish(&mut buf, 5),
            Err(PacketEncodeError::InvalidLength)
        );
        assert_eq!(
            layout.finish(&mut buf, 20_001),
            Err(PacketEncodeError::InvalidLength)
        );
        assert_eq!(
            layout.finish(&mut buf, layout.pn_offset + 0x4000),
            Err(PacketEncodeError::InvalidLength)
        );
        layout.finish(&mut buf, layout.pn_offset + 0x3fff).unwrap();
        assert_eq!(buf[layout.length_offset.unwrap()..][..2], [0x7f, 0xff]);
    }
}
