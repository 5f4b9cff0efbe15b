//! The receive path: partial header decoding, coalesced datagrams (RFC 9000
//! §12.2) and the in-place unprotect typestates.

use core::ops::Range;

use crate::coding::{DecodeError, Reader};
use crate::crypto::{HeaderKey, PacketKey};
use crate::{ConnectionId, Level, Version};

use super::header::{Header, LongType, FIXED_BIT, FORM_BIT, RETRY_INTEGRITY_TAG_LEN, SPIN_BIT};
use super::protect::{self, Unprotected};
use super::{PacketDecodeError, VersionList};

impl From<DecodeError> for PacketDecodeError {
    fn from(_: DecodeError) -> Self {
        Self::Truncated
    }
}

/// A byte range within one packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Span {
    start: usize,
    len: usize,
}

impl Span {
    fn read(r: &mut Reader<'_>, len: usize) -> Result<Self, PacketDecodeError> {
        let start = r.position();
        r.bytes(len)?;
        Ok(Self { start, len })
    }

    /// The bytes; spans are only built from bytes the reader has seen, so
    /// the fallback is unreachable.
    fn get(self, buf: &[u8]) -> &[u8] {
        buf.get(self.start..self.start + self.len).unwrap_or(&[])
    }
}

/// The header fields that are not header-protected, as parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fields {
    /// Initial, 0-RTT or Handshake (token empty except for Initial).
    Protected {
        ty: LongType,
        version: Version,
        dst_cid: ConnectionId,
        src_cid: ConnectionId,
        token: Span,
    },
    Retry {
        version: Version,
        dst_cid: ConnectionId,
        src_cid: ConnectionId,
        token: Span,
        integrity_tag: [u8; RETRY_INTEGRITY_TAG_LEN],
    },
    Short {
        spin: bool,
        dst_cid: ConnectionId,
    },
    VersionNegotiation {
        dst_cid: Span,
        src_cid: Span,
        versions: Span,
    },
    UnsupportedVersion {
        version: Version,
        dst_cid: Span,
        src_cid: Span,
    },
}

/// A parsed first packet: its fields, where its packet number starts (0 if
/// it has none) and its length within the datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Parsed {
    fields: Fields,
    pn_offset: usize,
    len: usize,
}

impl Parsed {
    fn header<'b>(&self, buf: &'b [u8], key_phase: bool) -> Header<'b> {
        match self.fields {
            Fields::Protected {
                ty,
                version,
                dst_cid,
                src_cid,
                token,
            } => match ty {
                LongType::Initial => Header::Initial {
                    version,
                    dst_cid,
                    src_cid,
                    token: token.get(buf),
                },
                LongType::ZeroRtt => Header::ZeroRtt {
                    version,
                    dst_cid,
                    src_cid,
                },
                // Retry is never parsed into `Protected`.
                LongType::Handshake | LongType::Retry => Header::Handshake {
                    version,
                    dst_cid,
                    src_cid,
                },
            },
            Fields::Retry {
                version,
                dst_cid,
                src_cid,
                token,
                integrity_tag,
            } => Header::Retry {
                version,
                dst_cid,
                src_cid,
                token: token.get(buf),
                integrity_tag,
            },
            Fields::Short { spin, dst_cid } => Header::Short {
                spin,
                key_phase,
                dst_cid,
            },
            Fields::VersionNegotiation {
                dst_cid,
                src_cid,
                versions,
            } => Header::VersionNegotiation {
                dst_cid: dst_cid.get(buf),
                src_cid: src_cid.get(buf),
                // Checked to be a multiple of 4 when parsed.
                versions: VersionList::new(versions.get(buf)).unwrap_or(VersionList::EMPTY),
            },
            Fields::UnsupportedVersion {
                version,
                dst_cid,
                src_cid,
            } => Header::UnsupportedVersion {
                version,
                dst_cid: dst_cid.get(buf),
                src_cid: src_cid.get(buf),
            },
        }
    }

    fn dst_cid<'s>(&'s self, buf: &'s [u8]) -> &'s [u8] {
        match &self.fields {
            Fields::Protected { dst_cid, .. }
            | Fields::Retry { dst_cid, .. }
            | Fields::Short { dst_cid, .. } => dst_cid,
            Fields::VersionNegotiation { dst_cid, .. }
            | Fields::UnsupportedVersion { dst_cid, .. } => dst_cid.get(buf),
        }
    }

    fn level(&self) -> Option<Level> {
        match self.fields {
            Fields::Protected { ty, .. } => ty.level(),
            Fields::Short { .. } => Some(Level::OneRtt),
            _ => None,
        }
    }

    fn version(&self) -> Option<Version> {
        match self.fields {
            Fields::Protected { version, .. }
            | Fields::Retry { version, .. }
            | Fields::UnsupportedVersion { version, .. } => Some(version),
            Fields::VersionNegotiation { .. } => Some(Version::NEGOTIATION),
            Fields::Short { .. } => None,
        }
    }

    /// The DCID as a v1/v2 connection ID, for comparing coalesced packets.
    fn v1_dst_cid(&self) -> Option<ConnectionId> {
        match self.fields {
            Fields::Protected { dst_cid, .. }
            | Fields::Retry { dst_cid, .. }
            | Fields::Short { dst_cid, .. } => Some(dst_cid),
            _ => None,
        }
    }
}

/// Parses the unprotected parts of the first packet in `buf`.
fn parse(
    buf: &[u8],
    local_cid_len: usize,
    grease_quic_bit: bool,
) -> Result<Parsed, PacketDecodeError> {
    let mut r = Reader::new(buf);
    let first = r.u8()?;
    if first & FORM_BIT == 0 {
        return parse_short(&mut r, first, local_cid_len, grease_quic_bit);
    }
    let version = Version(r.u32()?);
    if version == Version::NEGOTIATION {
        return parse_version_negotiation(&mut r);
    }
    if !version.is_supported() {
        // RFC 8999 §5.1: only the invariants; CIDs up to 255 bytes. The
        // rest of the datagram is this packet's (its length is unknown).
        let dst_cid = read_invariant_cid(&mut r)?;
        let src_cid = read_invariant_cid(&mut r)?;
        return Ok(Parsed {
            fields: Fields::UnsupportedVersion {
                version,
                dst_cid,
                src_cid,
            },
            pn_offset: 0,
            len: buf.len(),
        });
    }
    check_fixed_bit(first, grease_quic_bit)?;
    // RFC 9000 §17.2: v1 (and v2) CIDs over 20 bytes MUST be dropped.
    let dst_cid = read_cid(&mut r)?;
    let src_cid = read_cid(&mut r)?;
    let ty = LongType::from_bits(first >> 4, version).ok_or(PacketDecodeError::Truncated)?;
    let token = match ty {
        LongType::Retry => return parse_retry(&mut r, version, dst_cid, src_cid),
        // RFC 9000 §17.2.2: Token Length (i), Token (..).
        LongType::Initial => {
            let len = r.varint_u64()?;
            let len = usize::try_from(len).map_err(|_| PacketDecodeError::Truncated)?;
            Span::read(&mut r, len)?
        }
        LongType::ZeroRtt | LongType::Handshake => Span {
            start: r.position(),
            len: 0,
        },
    };
    // RFC 9000 §17.2: Length covers the packet number and the payload.
    let length = r.varint_u64()?;
    let pn_offset = r.position();
    let len = usize::try_from(length)
        .ok()
        .and_then(|l| l.checked_add(pn_offset))
        .filter(|&end| end <= buf.len())
        .ok_or(PacketDecodeError::LengthOutOfBounds)?;
    Ok(Parsed {
        fields: Fields::Protected {
            ty,
            version,
            dst_cid,
            src_cid,
            token,
        },
        pn_offset,
        len,
    })
}

/// RFC 9000 §17.2, §17.3.1: a zero fixed bit is invalid in v1/v2 unless the
/// peer accepts greasing it (RFC 9287 §3).
fn check_fixed_bit(first: u8, grease_quic_bit: bool) -> Result<(), PacketDecodeError> {
    if first & FIXED_BIT == 0 && !grease_quic_bit {
        return Err(PacketDecodeError::FixedBitUnset);
    }
    Ok(())
}

fn read_cid(r: &mut Reader<'_>) -> Result<ConnectionId, PacketDecodeError> {
    let len = r.u8()?;
    if usize::from(len) > ConnectionId::MAX_LEN {
        return Err(PacketDecodeError::ConnectionIdTooLong);
    }
    ConnectionId::new(r.bytes(len.into())?).map_err(|_| PacketDecodeError::ConnectionIdTooLong)
}

fn read_invariant_cid(r: &mut Reader<'_>) -> Result<Span, PacketDecodeError> {
    let len = r.u8()?;
    Span::read(r, len.into())
}

fn parse_short(
    r: &mut Reader<'_>,
    first: u8,
    local_cid_len: usize,
    grease_quic_bit: bool,
) -> Result<Parsed, PacketDecodeError> {
    if local_cid_len > ConnectionId::MAX_LEN {
        return Err(PacketDecodeError::InvalidLocalCidLength);
    }
    check_fixed_bit(first, grease_quic_bit)?;
    // RFC 9000 §17.3.1: the DCID length is known only to the receiver.
    let dst_cid = ConnectionId::new(r.bytes(local_cid_len)?)
        .map_err(|_| PacketDecodeError::InvalidLocalCidLength)?;
    Ok(Parsed {
        fields: Fields::Short {
            spin: first & SPIN_BIT != 0,
            dst_cid,
        },
        pn_offset: r.position(),
        // A short header packet runs to the end of the datagram (§12.2).
        len: r.buffer().len(),
    })
}

fn parse_version_negotiation(r: &mut Reader<'_>) -> Result<Parsed, PacketDecodeError> {
    // RFC 9000 §17.2.1: the Unused bits, including the fixed bit, are
    // ignored; the packet takes the whole datagram.
    let dst_cid = read_invariant_cid(r)?;
    let src_cid = read_invariant_cid(r)?;
    let start = r.position();
    let versions = r.rest();
    if versions.len() % 4 != 0 {
        return Err(PacketDecodeError::MalformedVersionList);
    }
    Ok(Parsed {
        fields: Fields::VersionNegotiation {
            dst_cid,
            src_cid,
            versions: Span {
                start,
                len: versions.len(),
            },
        },
        pn_offset: 0,
        len: r.buffer().len(),
    })
}

fn parse_retry(
    r: &mut Reader<'_>,
    version: Version,
    dst_cid: ConnectionId,
    src_cid: ConnectionId,
) -> Result<Parsed, PacketDecodeError> {
    // RFC 9000 §17.2.5: Retry Token (..), Retry Integrity Tag (128); no
    // Length, so the packet takes the rest of the datagram.
    let token_len = r
        .remaining()
        .checked_sub(RETRY_INTEGRITY_TAG_LEN)
        .ok_or(PacketDecodeError::Truncated)?;
    let token = Span::read(r, token_len)?;
    let integrity_tag = r.array()?;
    Ok(Parsed {
        fields: Fields::Retry {
            version,
            dst_cid,
            src_cid,
            token,
            integrity_tag,
        },
        pn_offset: 0,
        len: r.buffer().len(),
    })
}

/// The first packet of a datagram, header parsed, protection still on. The
/// first state of the receive path: [`PartialPacket`] →
/// [`UnprotectedPacket`] → [`OpenedPacket`], all working in place on the
/// packet's slice of the datagram.
#[derive(Debug)]
pub struct PartialPacket<'a> {
    buf: &'a mut [u8],
    parsed: Parsed,
}

impl<'a> PartialPacket<'a> {
    /// Parses the first packet of `datagram` and splits it off: returns the
    /// packet and the rest of the datagram (empty unless the packet has a
    /// long header with a Length field).
    ///
    /// `local_cid_len` is the length of the connection IDs this endpoint
    /// issues, which short headers do not state. `grease_quic_bit` accepts a
    /// zero fixed bit (RFC 9287). Only the parts without header protection
    /// are read; for versions this implementation does not speak only the
    /// RFC 8999 invariants are.
    pub fn decode(
        datagram: &'a mut [u8],
        local_cid_len: usize,
        grease_quic_bit: bool,
    ) -> Result<(Self, &'a mut [u8]), PacketDecodeError> {
        let parsed = parse(datagram, local_cid_len, grease_quic_bit)?;
        if parsed.len > datagram.len() {
            // `parse` bounds the length by the datagram; kept for safety.
            return Err(PacketDecodeError::LengthOutOfBounds);
        }
        let (buf, rest) = datagram.split_at_mut(parsed.len);
        Ok((Self { buf, parsed }, rest))
    }

    /// The header. For a short header, `key_phase` reads `false`: the bit is
    /// header-protected.
    pub fn header(&self) -> Header<'_> {
        self.parsed.header(self.buf, false)
    }

    /// The protection level; `None` for Retry, Version Negotiation and
    /// unsupported versions.
    pub fn level(&self) -> Option<Level> {
        self.parsed.level()
    }

    /// The version field; `None` for short headers.
    pub fn version(&self) -> Option<Version> {
        self.parsed.version()
    }

    /// The Destination Connection ID, for routing.
    pub fn dst_cid(&self) -> &[u8] {
        self.parsed.dst_cid(self.buf)
    }

    /// Where the packet number starts, for packets that have one.
    pub fn pn_offset(&self) -> Option<usize> {
        self.level().map(|_| self.parsed.pn_offset)
    }

    /// The packet's length in the datagram.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Whether the packet is empty (never: it has at least a first byte).
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The packet's bytes as received (for buffering until keys arrive, or
    /// checking a Retry's integrity tag).
    pub fn as_bytes(&self) -> &[u8] {
        self.buf
    }

    /// Gives the packet's bytes back.
    pub fn into_bytes(self) -> &'a mut [u8] {
        self.buf
    }

    /// Removes header protection in place and recovers the packet number,
    /// given the largest packet number received in an authenticated packet
    /// of this space (RFC 9001 §5.4, RFC 9000 Appendix A.3).
    pub fn remove_header_protection(
        self,
        largest_received: Option<u64>,
        header_key: &dyn HeaderKey,
    ) -> Result<UnprotectedPacket<'a>, PacketDecodeError> {
        if self.level().is_none() {
            return Err(PacketDecodeError::NotProtected);
        }
        let pn_offset = self.parsed.pn_offset;
        let unprotected =
            protect::remove_header_protection(self.buf, pn_offset, largest_received, header_key)?;
        Ok(UnprotectedPacket {
            buf: self.buf,
            parsed: self.parsed,
            unprotected,
        })
    }

    /// Removes header protection and decrypts with one packet key; see
    /// [`PartialPacket::remove_header_protection`] and
    /// [`UnprotectedPacket::decrypt`].
    pub fn open(
        self,
        largest_received: Option<u64>,
        header_key: &dyn HeaderKey,
        packet_key: &dyn PacketKey,
    ) -> Result<OpenedPacket<'a>, PacketDecodeError> {
        self.remove_header_protection(largest_received, header_key)?
            .decrypt(packet_key)
    }
}

/// A packet whose header protection is off: the packet number and key phase
/// are known but not yet authenticated.
#[derive(Debug)]
pub struct UnprotectedPacket<'a> {
    buf: &'a mut [u8],
    parsed: Parsed,
    unprotected: Unprotected,
}

impl<'a> UnprotectedPacket<'a> {
    /// The header, with the real key phase bit.
    pub fn header(&self) -> Header<'_> {
        self.parsed.header(self.buf, self.key_phase())
    }

    /// The full packet number (unauthenticated).
    pub fn pn(&self) -> u64 {
        self.unprotected.pn
    }

    /// The key phase bit of a short header (unauthenticated): it tells
    /// which packet key to decrypt with (RFC 9001 §6). `false` for long
    /// headers.
    pub fn key_phase(&self) -> bool {
        self.unprotected.key_phase()
    }

    /// The protection level.
    pub fn level(&self) -> Option<Level> {
        self.parsed.level()
    }

    /// Decrypts the payload in place and authenticates the packet; then
    /// checks the reserved bits (RFC 9000 §17.2: non-zero is a
    /// PROTOCOL_VIOLATION, but only once the packet is authentic).
    pub fn decrypt(
        self,
        packet_key: &dyn PacketKey,
    ) -> Result<OpenedPacket<'a>, PacketDecodeError> {
        let payload = protect::decrypt_payload(
            self.buf,
            self.parsed.pn_offset,
            &self.unprotected,
            packet_key,
        )?;
        Ok(OpenedPacket {
            buf: self.buf,
            parsed: self.parsed,
            unprotected: self.unprotected,
            payload,
        })
    }
}

/// An authenticated, decrypted packet: the plaintext frames lie in place in
/// the datagram.
#[derive(Debug)]
pub struct OpenedPacket<'a> {
    buf: &'a mut [u8],
    parsed: Parsed,
    unprotected: Unprotected,
    payload: Range<usize>,
}

impl<'a> OpenedPacket<'a> {
    /// The header, with the real key phase bit.
    pub fn header(&self) -> Header<'_> {
        self.parsed.header(self.buf, self.key_phase())
    }

    /// The full packet number.
    pub fn pn(&self) -> u64 {
        self.unprotected.pn
    }

    /// The key phase bit of a short header; `false` for long headers.
    pub fn key_phase(&self) -> bool {
        self.unprotected.key_phase()
    }

    /// The protection level.
    pub fn level(&self) -> Option<Level> {
        self.parsed.level()
    }

    /// Where the plaintext lies within the packet.
    pub fn payload_range(&self) -> Range<usize> {
        self.payload.clone()
    }

    /// The plaintext payload: the frames.
    pub fn payload(&self) -> &[u8] {
        self.buf.get(self.payload.clone()).unwrap_or(&[])
    }

    /// Consumes the packet, keeping only the plaintext payload.
    pub fn into_payload(self) -> &'a mut [u8] {
        let range = self.payload;
        match self.buf.get_mut(range) {
            Some(p) => p,
            // `decrypt_payload` returns a range within the packet.
            None => &mut [],
        }
    }
}

/// The packets coalesced in one datagram (RFC 9000 §12.2), each split off
/// as its own `&mut [u8]` for in-place decryption.
///
/// Yields each packet's [`PartialPacket`] in order. A malformed packet
/// yields its error and ends the iteration (its length, hence where the next
/// packet starts, is unknown); the packets before it are unaffected. A later
/// packet whose DCID differs from the first one's yields
/// [`PacketDecodeError::DcidMismatch`] and is skipped (§12.2: receivers
/// SHOULD ignore it).
#[derive(Debug)]
pub struct CoalescedPackets<'a> {
    rest: &'a mut [u8],
    local_cid_len: usize,
    grease_quic_bit: bool,
    first_dcid: Option<ConnectionId>,
    done: bool,
}

impl<'a> CoalescedPackets<'a> {
    /// Iterates over the packets of `datagram`; see [`PartialPacket::decode`]
    /// for the parameters.
    pub fn new(datagram: &'a mut [u8], local_cid_len: usize, grease_quic_bit: bool) -> Self {
        Self {
            rest: datagram,
            local_cid_len,
            grease_quic_bit,
            first_dcid: None,
            done: false,
        }
    }
}

impl<'a> Iterator for CoalescedPackets<'a> {
    type Item = Result<PartialPacket<'a>, PacketDecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.rest.is_empty() {
            return None;
        }
        let buf = core::mem::take(&mut self.rest);
        let (packet, rest) =
            match PartialPacket::decode(buf, self.local_cid_len, self.grease_quic_bit) {
                Ok(split) => split,
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            };
        self.rest = rest;
        let dcid = packet.parsed.v1_dst_cid();
        match self.first_dcid {
            None => self.first_dcid = dcid,
            Some(first) if dcid != Some(first) => {
                return Some(Err(PacketDecodeError::DcidMismatch))
            }
            Some(_) => {}
        }
        Some(Ok(packet))
    }
}

#[cfg(test)]
mod tests;
