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
    /// The bytes; the fallback is for spans past the end, which the parser
    /// never makes.
    fn get(self, buf: &[u8]) -> &[u8] {
        buf.get(self.start..self.start + self.len).unwrap_or(&[])
    }
}

/// What the first byte and the version make a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Initial,
    ZeroRtt,
    Handshake,
    Retry,
    /// 1-RTT.
    Short,
    VersionNegotiation,
    UnsupportedVersion,
}

impl Kind {
    const fn long(ty: LongType) -> Self {
        match ty {
            LongType::Initial => Self::Initial,
            LongType::ZeroRtt => Self::ZeroRtt,
            LongType::Handshake => Self::Handshake,
            LongType::Retry => Self::Retry,
        }
    }
}

/// Where the Destination Connection ID starts: after the first byte in a
/// short header; after the first byte, the version and the DCID length in a
/// long one (RFC 8999 §5). The Source Connection ID's length byte follows
/// the DCID.
const SHORT_DCID_START: usize = 1;
const LONG_DCID_START: usize = 6;

/// A parsed first packet, 8 bytes so that it (and a `Result` of it) travels
/// in one register: only what the receive path needs per packet. The rest
/// of the header (version, SCID, token, version list) lies in the packet's
/// bytes at offsets the parser has checked, and [`Parsed::header`] reads it
/// from there.
///
/// `repr(C)` puts the one-byte fields first, so that a `Result`'s error
/// byte shares a slot with one of them rather than with part of
/// `pn_offset`; otherwise the compiler assembles the value through the
/// stack with overlapping loads and stores, which stall.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
struct Parsed {
    kind: Kind,
    /// At most 20 for v1/v2 kinds (checked); any length for the others.
    dst_cid_len: u8,
    /// Where the packet number starts (0 if it has none); the parser
    /// rejects a header longer than `u32::MAX` bytes.
    pn_offset: u32,
}

impl Parsed {
    /// The header, read from the packet's bytes `buf` (which the parser
    /// has checked, so the fallbacks are unreachable).
    fn header<'b>(&self, buf: &'b [u8], key_phase: bool) -> Header<'b> {
        let v1_cid = |s: &[u8]| ConnectionId::new(s).unwrap_or(ConnectionId::EMPTY);
        let version = self.version(buf).unwrap_or(Version(0));
        let dst_cid = self.dst_cid(buf);
        let src_cid = self.src_cid(buf);
        let rest = self.after_cids(buf);
        match self.kind {
            Kind::Initial => {
                // RFC 9000 §17.2.2: Token Length (i), Token (..).
                let mut r = Reader::new(rest);
                Header::Initial {
                    version,
                    dst_cid: v1_cid(dst_cid),
                    src_cid: v1_cid(src_cid),
                    token: r.varint_prefixed().unwrap_or(&[]),
                }
            }
            Kind::ZeroRtt => Header::ZeroRtt {
                version,
                dst_cid: v1_cid(dst_cid),
                src_cid: v1_cid(src_cid),
            },
            Kind::Handshake => Header::Handshake {
                version,
                dst_cid: v1_cid(dst_cid),
                src_cid: v1_cid(src_cid),
            },
            Kind::Retry => {
                // RFC 9000 §17.2.5: Retry Token (..), Retry Integrity Tag.
                let split = rest.len().saturating_sub(RETRY_INTEGRITY_TAG_LEN);
                let (token, tag) = rest.split_at(split);
                Header::Retry {
                    version,
                    dst_cid: v1_cid(dst_cid),
                    src_cid: v1_cid(src_cid),
                    token,
                    integrity_tag: tag.try_into().unwrap_or([0; RETRY_INTEGRITY_TAG_LEN]),
                }
            }
            Kind::Short => Header::Short {
                // Not header-protected: still as received.
                spin: buf.first().is_some_and(|&b| b & SPIN_BIT != 0),
                key_phase,
                dst_cid: v1_cid(dst_cid),
            },
            Kind::VersionNegotiation => Header::VersionNegotiation {
                dst_cid,
                src_cid,
                // Checked to be a multiple of 4 when parsed.
                versions: VersionList::new(rest).unwrap_or(VersionList::EMPTY),
            },
            Kind::UnsupportedVersion => Header::UnsupportedVersion {
                version,
                dst_cid,
                src_cid,
            },
        }
    }

    fn dst_cid<'b>(&self, buf: &'b [u8]) -> &'b [u8] {
        let start = match self.kind {
            Kind::Short => SHORT_DCID_START,
            _ => LONG_DCID_START,
        };
        Span {
            start,
            len: self.dst_cid_len.into(),
        }
        .get(buf)
    }

    /// Where a long header's SCID length byte is.
    fn src_cid_len_at(&self) -> usize {
        LONG_DCID_START + usize::from(self.dst_cid_len)
    }

    /// The SCID of a long header; empty for short headers.
    fn src_cid<'b>(&self, buf: &'b [u8]) -> &'b [u8] {
        if self.kind == Kind::Short {
            return &[];
        }
        let at = self.src_cid_len_at();
        let len = buf.get(at).copied().unwrap_or(0);
        Span {
            start: at + 1,
            len: len.into(),
        }
        .get(buf)
    }

    /// What follows a long header's connection IDs, to the packet's end.
    fn after_cids<'b>(&self, buf: &'b [u8]) -> &'b [u8] {
        let start = self.src_cid_len_at() + 1 + self.src_cid(buf).len();
        buf.get(start..).unwrap_or(&[])
    }

    fn pn_offset(&self) -> usize {
        self.pn_offset as usize
    }

    fn level(&self) -> Option<Level> {
        match self.kind {
            Kind::Initial => Some(Level::Initial),
            Kind::ZeroRtt => Some(Level::ZeroRtt),
            Kind::Handshake => Some(Level::Handshake),
            Kind::Short => Some(Level::OneRtt),
            _ => None,
        }
    }

    /// The version field of a long header.
    fn version(&self, buf: &[u8]) -> Option<Version> {
        if self.kind == Kind::Short {
            return None;
        }
        let bytes = buf.get(1..5)?.try_into().ok()?;
        Some(Version(u32::from_be_bytes(bytes)))
    }

    /// Whether the DCID is a v1/v2 connection ID, which coalesced packets
    /// are compared by.
    fn has_v1_dst_cid(&self) -> bool {
        !matches!(
            self.kind,
            Kind::VersionNegotiation | Kind::UnsupportedVersion
        )
    }
}

/// Parses the unprotected parts of the first packet in `buf`; returns them
/// and the packet's length. Inlined so that the short header, the common
/// case, is parsed in registers; the long-header parser returns only the
/// 8-byte [`Parsed`] (in a register) and leaves the reader at the packet's
/// end.
#[inline]
fn parse(
    buf: &[u8],
    local_cid_len: usize,
    grease_quic_bit: bool,
) -> Result<(Parsed, usize), PacketDecodeError> {
    let mut r = Reader::new(buf);
    let first = r.u8()?;
    if first & FORM_BIT == 0 {
        // A short header packet runs to the end of the datagram (§12.2).
        let parsed = parse_short(&mut r, first, local_cid_len, grease_quic_bit)?;
        Ok((parsed, buf.len()))
    } else {
        let parsed = parse_long(&mut r, first, grease_quic_bit)?;
        Ok((parsed, r.position()))
    }
}

/// Parses a long header and leaves `r` at the end of its packet.
fn parse_long(
    r: &mut Reader<'_>,
    first: u8,
    grease_quic_bit: bool,
) -> Result<Parsed, PacketDecodeError> {
    let version = Version(r.u32()?);
    if version == Version::NEGOTIATION {
        return parse_version_negotiation(r);
    }
    if !version.is_supported() {
        // RFC 8999 §5.1: only the invariants; CIDs up to 255 bytes. The
        // rest of the datagram is this packet's (its length is unknown).
        let dst_cid_len = read_invariant_cid(r)?;
        read_invariant_cid(r)?;
        r.rest();
        return Ok(Parsed {
            kind: Kind::UnsupportedVersion,
            dst_cid_len,
            pn_offset: 0,
        });
    }
    check_fixed_bit(first, grease_quic_bit)?;
    // RFC 9000 §17.2: v1 (and v2) CIDs over 20 bytes MUST be dropped.
    let dst_cid_len = read_cid(r)?;
    read_cid(r)?;
    let ty = LongType::from_bits(first >> 4, version).ok_or(PacketDecodeError::Truncated)?;
    match ty {
        LongType::Retry => return parse_retry(r, dst_cid_len),
        // RFC 9000 §17.2.2: Token Length (i), Token (..).
        LongType::Initial => {
            let len = r.varint_u64()?;
            let len = usize::try_from(len).map_err(|_| PacketDecodeError::Truncated)?;
            r.bytes(len)?;
        }
        LongType::ZeroRtt | LongType::Handshake => {}
    }
    // RFC 9000 §17.2: Length covers the packet number and the payload.
    let length = r.varint_u64()?;
    let pn_offset =
        u32::try_from(r.position()).map_err(|_| PacketDecodeError::LengthOutOfBounds)?;
    r.bytes_u64(length)
        .map_err(|_| PacketDecodeError::LengthOutOfBounds)?;
    Ok(Parsed {
        kind: Kind::long(ty),
        dst_cid_len,
        pn_offset,
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

/// Skips a length-prefixed v1/v2 connection ID and returns its length.
fn read_cid(r: &mut Reader<'_>) -> Result<u8, PacketDecodeError> {
    let len = r.u8()?;
    if usize::from(len) > ConnectionId::MAX_LEN {
        return Err(PacketDecodeError::ConnectionIdTooLong);
    }
    r.bytes(len.into())?;
    Ok(len)
}

/// Skips a length-prefixed connection ID of any length (RFC 8999 §5.1) and
/// returns its length.
fn read_invariant_cid(r: &mut Reader<'_>) -> Result<u8, PacketDecodeError> {
    let len = r.u8()?;
    r.bytes(len.into())?;
    Ok(len)
}

#[inline]
fn parse_short(
    r: &mut Reader<'_>,
    first: u8,
    local_cid_len: usize,
    grease_quic_bit: bool,
) -> Result<Parsed, PacketDecodeError> {
    // RFC 9000 §17.3.1: the DCID length is known only to the receiver.
    let dst_cid_len = u8::try_from(local_cid_len)
        .ok()
        .filter(|&l| usize::from(l) <= ConnectionId::MAX_LEN)
        .ok_or(PacketDecodeError::InvalidLocalCidLength)?;
    check_fixed_bit(first, grease_quic_bit)?;
    r.bytes(local_cid_len)?;
    Ok(Parsed {
        kind: Kind::Short,
        dst_cid_len,
        // The first byte, then the DCID.
        pn_offset: 1 + u32::from(dst_cid_len),
    })
}

/// Parses the rest of a Version Negotiation packet, which takes the whole
/// datagram.
fn parse_version_negotiation(r: &mut Reader<'_>) -> Result<Parsed, PacketDecodeError> {
    // RFC 9000 §17.2.1: the Unused bits, including the fixed bit, are
    // ignored.
    let dst_cid_len = read_invariant_cid(r)?;
    read_invariant_cid(r)?;
    if r.rest().len() % 4 != 0 {
        return Err(PacketDecodeError::MalformedVersionList);
    }
    Ok(Parsed {
        kind: Kind::VersionNegotiation,
        dst_cid_len,
        pn_offset: 0,
    })
}

fn parse_retry(r: &mut Reader<'_>, dst_cid_len: u8) -> Result<Parsed, PacketDecodeError> {
    // RFC 9000 §17.2.5: Retry Token (..), Retry Integrity Tag (128); no
    // Length, so the packet takes the rest of the datagram.
    if r.rest().len() < RETRY_INTEGRITY_TAG_LEN {
        return Err(PacketDecodeError::Truncated);
    }
    Ok(Parsed {
        kind: Kind::Retry,
        dst_cid_len,
        pn_offset: 0,
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
    #[inline]
    pub fn decode(
        datagram: &'a mut [u8],
        local_cid_len: usize,
        grease_quic_bit: bool,
    ) -> Result<(Self, &'a mut [u8]), PacketDecodeError> {
        let (parsed, len) = parse(datagram, local_cid_len, grease_quic_bit)?;
        if len > datagram.len() {
            // `parse` bounds the length by the datagram; kept for safety.
            return Err(PacketDecodeError::LengthOutOfBounds);
        }
        let (buf, rest) = datagram.split_at_mut(len);
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
        self.parsed.version(self.buf)
    }

    /// The Destination Connection ID, for routing.
    pub fn dst_cid(&self) -> &[u8] {
        self.parsed.dst_cid(self.buf)
    }

    /// Where the packet number starts, for packets that have one.
    pub fn pn_offset(&self) -> Option<usize> {
        self.level().map(|_| self.parsed.pn_offset())
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
    #[inline]
    pub fn remove_header_protection(
        self,
        largest_received: Option<u64>,
        header_key: &dyn HeaderKey,
    ) -> Result<UnprotectedPacket<'a>, PacketDecodeError> {
        if self.level().is_none() {
            return Err(PacketDecodeError::NotProtected);
        }
        let pn_offset = self.parsed.pn_offset();
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
    #[inline]
    pub fn decrypt(
        self,
        packet_key: &dyn PacketKey,
    ) -> Result<OpenedPacket<'a>, PacketDecodeError> {
        let payload = protect::decrypt_payload(
            self.buf,
            self.parsed.pn_offset(),
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

    /// The Destination Connection ID.
    pub fn dst_cid(&self) -> &[u8] {
        self.parsed.dst_cid(self.buf)
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

    #[inline]
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
        let v1_dcid = packet.parsed.has_v1_dst_cid();
        match &self.first_dcid {
            Some(first) if !v1_dcid || packet.dst_cid() != &first[..] => {
                return Some(Err(PacketDecodeError::DcidMismatch))
            }
            Some(_) => {}
            // The first packet: its DCID is kept only if another packet
            // follows (only long headers with a Length field leave a rest).
            None if v1_dcid && !self.rest.is_empty() => {
                self.first_dcid = ConnectionId::new(packet.dst_cid()).ok();
            }
            None => {}
        }
        Some(Ok(packet))
    }
}

#[cfg(test)]
mod tests;
