//! In-place packet protection (RFC 9001 §5.3, §5.4), through the
//! [`PacketKey`] and [`HeaderKey`] traits only.
//!
//! Sealing: the AEAD seals the payload with the header (packet number
//! included, unmasked) as associated data, then header protection masks the
//! first byte and the packet number with a sample of the ciphertext taken 4
//! bytes after the start of the packet number (RFC 9001 §5.4.2).
//!
//! Opening runs the same steps backwards in two stages, so that the caller
//! can pick the packet key from the key phase bit before decrypting
//! (RFC 9001 §6): [`remove_header_protection`], then [`decrypt_payload`];
//! [`open`] chains them.

use core::ops::Range;

use crate::crypto::{HeaderKey, PacketKey};

use super::header::{
    FORM_BIT, KEY_PHASE_BIT, LONG_RESERVED_BITS, PN_LEN_BITS, SHORT_RESERVED_BITS,
};
use super::number::{decode_packet_number, PacketNumber};
use super::{PacketDecodeError, PacketEncodeError};

/// The sample starts this many bytes after the start of the packet number
/// field, as if the packet number were 4 bytes long (RFC 9001 §5.4.2).
pub const SAMPLE_OFFSET: usize = 4;

/// The longest packet number encoding (RFC 9000 §17.1).
const MAX_PN_LEN: usize = 4;

/// The smallest packet length that holds a header protection sample of
/// `sample_len` bytes for a packet number starting at `pn_offset`
/// (RFC 9001 §5.4.2).
pub const fn min_protected_len(pn_offset: usize, sample_len: usize) -> usize {
    pn_offset
        .saturating_add(SAMPLE_OFFSET)
        .saturating_add(sample_len)
}

/// Seals a packet in place (RFC 9001 §5.3, §5.4).
///
/// `packet` is the whole packet from its first byte: the unprotected header
/// ending with the packet number `pn` at `pn_offset` (as [`super::Header::write`]
/// leaves it, with Length already patched), the plaintext payload, then
/// `packet_key.tag_len()` bytes of room for the tag. The packet must be long
/// enough for the sample (see [`min_protected_len`]): pad the payload.
pub fn seal(
    packet: &mut [u8],
    pn_offset: usize,
    pn: PacketNumber,
    packet_key: &dyn PacketKey,
    header_key: &dyn HeaderKey,
) -> Result<(), PacketEncodeError> {
    let header_len = pn_offset.saturating_add(pn.size());
    let first = *packet.first().ok_or(PacketEncodeError::InvalidLength)?;
    if pn_offset == 0 || usize::from(first & PN_LEN_BITS) + 1 != pn.size() {
        return Err(PacketEncodeError::PacketNumberLength);
    }
    let sample_len = header_key.sample_len();
    if packet.len() < min_protected_len(pn_offset, sample_len)
        || packet.len() < header_len.saturating_add(packet_key.tag_len())
    {
        return Err(PacketEncodeError::TooShortForSample);
    }
    let (header, payload) = packet.split_at_mut(header_len);
    packet_key
        .encrypt_in_place(pn.full(), header, payload)
        .map_err(|_| PacketEncodeError::Crypto)?;
    let (head, tail) = packet.split_at_mut(pn_offset + SAMPLE_OFFSET);
    let sample = tail
        .get(..sample_len)
        .ok_or(PacketEncodeError::TooShortForSample)?;
    let (first, rest) = head
        .split_first_mut()
        .ok_or(PacketEncodeError::InvalidLength)?;
    let pn_bytes = rest
        .get_mut(pn_offset - 1..header_len - 1)
        .ok_or(PacketEncodeError::InvalidLength)?;
    header_key
        .encrypt_in_place(sample, first, pn_bytes)
        .map_err(|_| PacketEncodeError::Crypto)
}

/// What removing header protection revealed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unprotected {
    /// The unmasked first byte.
    pub first: u8,
    /// The full packet number, recovered from the truncated one.
    pub pn: u64,
    /// The packet number's length on the wire (1 to 4).
    pub pn_len: usize,
}

impl Unprotected {
    /// Where the payload starts: the header's length including the packet
    /// number.
    pub const fn header_len(&self, pn_offset: usize) -> usize {
        pn_offset.saturating_add(self.pn_len)
    }

    /// The key phase bit of a short header; `false` for long headers, which
    /// have none.
    pub const fn key_phase(&self) -> bool {
        self.first & FORM_BIT == 0 && self.first & KEY_PHASE_BIT != 0
    }
}

/// Removes header protection in place (RFC 9001 §5.4) and recovers the
/// packet number given the largest one received in an authenticated packet
/// of this space (RFC 9000 Appendix A.3).
///
/// `packet` is the whole packet from its first byte and `pn_offset` where its
/// packet number starts. A packet too short for the sample is refused
/// (RFC 9001 §5.4.2: MUST be discarded). Nothing is authenticated yet: the
/// values returned may be garbage, and the reserved bits are only checked
/// by [`decrypt_payload`].
#[inline]
pub fn remove_header_protection(
    packet: &mut [u8],
    pn_offset: usize,
    largest_received: Option<u64>,
    header_key: &dyn HeaderKey,
) -> Result<Unprotected, PacketDecodeError> {
    if pn_offset == 0 {
        return Err(PacketDecodeError::NotProtected);
    }
    let sample_start = pn_offset.saturating_add(SAMPLE_OFFSET);
    if packet.len() < sample_start {
        return Err(PacketDecodeError::TooShortForSample);
    }
    let (head, tail) = packet.split_at_mut(sample_start);
    let sample = tail
        .get(..header_key.sample_len())
        .ok_or(PacketDecodeError::TooShortForSample)?;
    let (first, rest) = head
        .split_first_mut()
        .ok_or(PacketDecodeError::TooShortForSample)?;
    // `rest` starts at offset 1 and holds exactly the 4 bytes that may be
    // packet number; the key only changes as many as the first byte says.
    let pn_room = rest
        .get_mut(pn_offset - 1..)
        .ok_or(PacketDecodeError::TooShortForSample)?;
    header_key
        .decrypt_in_place(sample, first, pn_room)
        .map_err(|_| PacketDecodeError::HeaderProtection)?;
    let pn_len = usize::from(*first & PN_LEN_BITS) + 1;
    let truncated = pn_room
        .iter()
        .take(pn_len.min(MAX_PN_LEN))
        .fold(0u32, |acc, &b| (acc << 8) | u32::from(b));
    Ok(Unprotected {
        first: *first,
        pn: decode_packet_number(truncated, pn_len, largest_received),
        pn_len,
    })
}

/// Decrypts the payload in place once header protection is off (RFC 9001
/// §5.3) and returns the plaintext's range within `packet`.
///
/// Only after the AEAD has authenticated the packet are the reserved bits
/// checked (RFC 9000 §17.2, §17.3.1; RFC 9001 §9.5): non-zero is
/// [`PacketDecodeError::ReservedBits`], a PROTOCOL_VIOLATION.
#[inline]
pub fn decrypt_payload(
    packet: &mut [u8],
    pn_offset: usize,
    unprotected: &Unprotected,
    packet_key: &dyn PacketKey,
) -> Result<Range<usize>, PacketDecodeError> {
    let header_len = unprotected.header_len(pn_offset);
    if packet.len() < header_len {
        return Err(PacketDecodeError::TooShortForSample);
    }
    let (header, payload) = packet.split_at_mut(header_len);
    if payload.len() < packet_key.tag_len() {
        return Err(PacketDecodeError::Authentication);
    }
    let plain_len = packet_key
        .decrypt_in_place(unprotected.pn, header, payload)
        .map_err(|_| PacketDecodeError::Authentication)?;
    let reserved = if unprotected.first & FORM_BIT != 0 {
        LONG_RESERVED_BITS
    } else {
        SHORT_RESERVED_BITS
    };
    if unprotected.first & reserved != 0 {
        return Err(PacketDecodeError::ReservedBits);
    }
    Ok(header_len..header_len + plain_len.min(payload.len()))
}

/// An opened packet, as [`open`] returns it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Opened {
    /// The full packet number.
    pub pn: u64,
    /// The packet number's length on the wire.
    pub pn_len: usize,
    /// The key phase bit of a short header; `false` for long headers.
    pub key_phase: bool,
    /// Where the plaintext payload (the frames) lies within the packet.
    pub payload: Range<usize>,
}

/// Removes header protection, then decrypts the payload, in place: the two
/// stages of [`remove_header_protection`] and [`decrypt_payload`] with one
/// packet key. Callers handling key updates use the stages directly to pick
/// the key from the key phase bit.
pub fn open(
    packet: &mut [u8],
    pn_offset: usize,
    largest_received: Option<u64>,
    header_key: &dyn HeaderKey,
    packet_key: &dyn PacketKey,
) -> Result<Opened, PacketDecodeError> {
    let u = remove_header_protection(packet, pn_offset, largest_received, header_key)?;
    let payload = decrypt_payload(packet, pn_offset, &u, packet_key)?;
    Ok(Opened {
        pn: u.pn,
        pn_len: u.pn_len,
        key_phase: u.key_phase(),
        payload,
    })
}

#[cfg(test)]
pub(crate) mod test_keys;

#[cfg(test)]
mod rfc9001_vectors;

#[cfg(test)]
mod tests;
