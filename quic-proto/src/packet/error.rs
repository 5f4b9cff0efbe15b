//! Errors of the packet layer.

use core::fmt;

use crate::{TransportError, Version};

/// Why a received packet could not be parsed or unprotected.
///
/// Almost every variant means "drop the packet (and, for parse errors, the
/// rest of the datagram) without a word"; only
/// [`PacketDecodeError::ReservedBits`] is a connection error, see
/// [`PacketDecodeError::transport_error`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PacketDecodeError {
    /// The datagram ended inside a header field.
    Truncated,
    /// The fixed bit (0x40) is clear on a QUIC v1/v2 packet and the
    /// grease_quic_bit extension was not negotiated (RFC 9000 §17.2, §17.3.1;
    /// RFC 9287).
    FixedBitUnset,
    /// A QUIC v1/v2 long header carries a connection ID longer than 20 bytes
    /// (RFC 9000 §17.2: such packets MUST be dropped).
    ConnectionIdTooLong,
    /// The local connection ID length given to the decoder is over 20 bytes.
    InvalidLocalCidLength,
    /// The Length field runs past the end of the datagram.
    LengthOutOfBounds,
    /// A Version Negotiation packet whose version list is not a whole number
    /// of 4-byte versions.
    MalformedVersionList,
    /// A packet later in the datagram carries a Destination Connection ID
    /// different from the first packet's (RFC 9000 §12.2: ignore it).
    DcidMismatch,
    /// The packet has no packet number to unprotect (Retry, Version
    /// Negotiation, or a version this implementation does not speak).
    NotProtected,
    /// The packet is too short to hold a 4-byte packet number allowance and a
    /// full header protection sample (RFC 9001 §5.4.2: MUST be discarded).
    TooShortForSample,
    /// The header protection key refused the sample.
    HeaderProtection,
    /// AEAD authentication failed (RFC 9001 §5.5: drop the packet; it counts
    /// toward the integrity limit of §6.6).
    Authentication,
    /// The reserved bits were non-zero in an authenticated packet (RFC 9000
    /// §17.2, §17.3.1): a connection error of type PROTOCOL_VIOLATION.
    ReservedBits,
}

impl PacketDecodeError {
    /// The connection error this failure calls for, if any; every other
    /// failure only drops the packet.
    pub const fn transport_error(self) -> Option<TransportError> {
        match self {
            // RFC 9000 §17.2 / §17.3.1: non-zero reserved bits after removing
            // both packet and header protection is a PROTOCOL_VIOLATION.
            Self::ReservedBits => Some(TransportError::protocol_violation(
                "reserved header bits set",
            )),
            _ => None,
        }
    }
}

impl fmt::Display for PacketDecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Truncated => "packet header truncated",
            Self::FixedBitUnset => "fixed bit unset",
            Self::ConnectionIdTooLong => "connection ID longer than 20 bytes",
            Self::InvalidLocalCidLength => "local connection ID length over 20",
            Self::LengthOutOfBounds => "Length field beyond the datagram",
            Self::MalformedVersionList => "malformed version list",
            Self::DcidMismatch => "coalesced packet with a different DCID",
            Self::NotProtected => "packet carries no packet number",
            Self::TooShortForSample => "packet too short for the header protection sample",
            Self::HeaderProtection => "header protection failed",
            Self::Authentication => "packet authentication failed",
            Self::ReservedBits => "reserved header bits set",
        })
    }
}

impl std::error::Error for PacketDecodeError {}

/// Why a packet could not be written or sealed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PacketEncodeError {
    /// The output buffer is too small.
    BufferTooSmall,
    /// The header names a version whose packet types this implementation
    /// does not know.
    UnsupportedVersion(Version),
    /// A connection ID is longer than the header can carry.
    ConnectionIdTooLong,
    /// The header kind has no packet number (Retry, Version Negotiation,
    /// unsupported version): use `Header::encode_unprotected`.
    NoPacketNumber,
    /// The header kind has a packet number and must be written with
    /// `Header::write`.
    HasPacketNumber,
    /// The packet is longer than the 2-byte Length field can express
    /// (16383 bytes after the packet number offset), or shorter than its
    /// header.
    InvalidLength,
    /// The packet does not leave room for the header protection sample
    /// (RFC 9001 §5.4.2: pad it).
    TooShortForSample,
    /// The packet number's length disagrees with the first byte.
    PacketNumberLength,
    /// A key refused to seal.
    Crypto,
    /// A stateless reset cannot be made both at least 21 bytes long and
    /// smaller than the packet that triggered it (RFC 9000 §10.3.3).
    StatelessResetTooSmall,
    /// Fewer unpredictable bytes were supplied than the packet needs.
    NotEnoughUnpredictableBytes,
}

impl fmt::Display for PacketEncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BufferTooSmall => f.write_str("output buffer too small"),
            Self::UnsupportedVersion(v) => write!(f, "unsupported version {v:?}"),
            Self::ConnectionIdTooLong => f.write_str("connection ID too long"),
            Self::NoPacketNumber => f.write_str("header kind has no packet number"),
            Self::HasPacketNumber => f.write_str("header kind needs a packet number"),
            Self::InvalidLength => f.write_str("packet length out of range"),
            Self::TooShortForSample => {
                f.write_str("packet too short for the header protection sample")
            }
            Self::PacketNumberLength => f.write_str("packet number length mismatch"),
            Self::Crypto => f.write_str("packet protection failed"),
            Self::StatelessResetTooSmall => f.write_str("stateless reset would be too small"),
            Self::NotEnoughUnpredictableBytes => f.write_str("not enough unpredictable bytes"),
        }
    }
}

impl std::error::Error for PacketEncodeError {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TransportErrorCode;

    #[test]
    fn only_reserved_bits_close_the_connection() {
        let e = PacketDecodeError::ReservedBits.transport_error().unwrap();
        assert_eq!(e.code, TransportErrorCode::PROTOCOL_VIOLATION);
        assert!(PacketDecodeError::Authentication
            .transport_error()
            .is_none());
    }
}
