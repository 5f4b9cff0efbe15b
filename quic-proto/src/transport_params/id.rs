//! Transport parameter identifiers (RFC 9000 §18, §18.1, §22.3).

use core::fmt;

use crate::VarInt;

/// A transport parameter identifier, an open set: unknown identifiers are
/// representable (and ignored when received, RFC 9000 §7.4.2).
///
/// Only values below 2^62 can be sent; [`TransportParameterId::varint`]
/// saturates anything larger.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TransportParameterId(pub u64);

macro_rules! ids {
    ($($(#[$doc:meta])* $name:ident = $val:expr,)*) => {
        impl TransportParameterId {
            $($(#[$doc])* pub const $name: Self = Self($val);)*

            /// Every parameter this implementation understands, by ascending ID.
            pub const KNOWN: &'static [Self] = &[$(Self::$name,)*];

            /// The registered name of a known parameter.
            pub const fn name(self) -> Option<&'static str> {
                match self.0 {
                    $($val => Some(stringify!($name)),)*
                    _ => None,
                }
            }
        }
    };
}

ids! {
    /// The DCID of the client's first Initial; server only (RFC 9000 §18.2).
    ORIGINAL_DESTINATION_CONNECTION_ID = 0x00,
    /// The maximum idle timeout in milliseconds (RFC 9000 §18.2).
    MAX_IDLE_TIMEOUT = 0x01,
    /// The stateless reset token of the handshake CID; server only (RFC 9000 §18.2).
    STATELESS_RESET_TOKEN = 0x02,
    /// The largest UDP payload the endpoint is willing to receive (RFC 9000 §18.2).
    MAX_UDP_PAYLOAD_SIZE = 0x03,
    /// The initial connection-level flow control limit (RFC 9000 §18.2).
    INITIAL_MAX_DATA = 0x04,
    /// The initial limit for locally initiated bidirectional streams (RFC 9000 §18.2).
    INITIAL_MAX_STREAM_DATA_BIDI_LOCAL = 0x05,
    /// The initial limit for peer-initiated bidirectional streams (RFC 9000 §18.2).
    INITIAL_MAX_STREAM_DATA_BIDI_REMOTE = 0x06,
    /// The initial limit for unidirectional streams (RFC 9000 §18.2).
    INITIAL_MAX_STREAM_DATA_UNI = 0x07,
    /// The initial number of bidirectional streams the peer may open (RFC 9000 §18.2).
    INITIAL_MAX_STREAMS_BIDI = 0x08,
    /// The initial number of unidirectional streams the peer may open (RFC 9000 §18.2).
    INITIAL_MAX_STREAMS_UNI = 0x09,
    /// The exponent scaling the ACK Delay field (RFC 9000 §18.2).
    ACK_DELAY_EXPONENT = 0x0a,
    /// The maximum acknowledgment delay in milliseconds (RFC 9000 §18.2).
    MAX_ACK_DELAY = 0x0b,
    /// The endpoint does not support active migration (RFC 9000 §18.2).
    DISABLE_ACTIVE_MIGRATION = 0x0c,
    /// The server's preferred address; server only (RFC 9000 §18.2).
    PREFERRED_ADDRESS = 0x0d,
    /// How many peer connection IDs the endpoint will store (RFC 9000 §18.2).
    ACTIVE_CONNECTION_ID_LIMIT = 0x0e,
    /// The SCID of the endpoint's first Initial (RFC 9000 §18.2).
    INITIAL_SOURCE_CONNECTION_ID = 0x0f,
    /// The SCID of the server's Retry; server only (RFC 9000 §18.2).
    RETRY_SOURCE_CONNECTION_ID = 0x10,
    /// Compatible version negotiation information (RFC 9368 §3).
    VERSION_INFORMATION = 0x11,
    /// The largest DATAGRAM frame the endpoint will receive (RFC 9221 §3).
    MAX_DATAGRAM_FRAME_SIZE = 0x20,
    /// The endpoint accepts any value of the QUIC Bit (RFC 9287 §3).
    GREASE_QUIC_BIT = 0x2ab2,
}

impl TransportParameterId {
    /// The largest `N` for which the reserved ID `31 * N + 27` is below 2^62.
    const MAX_RESERVED_N: u64 = (VarInt::MAX.into_inner() - 27) / 31;

    /// Whether this is a reserved ID of the form `31 * N + 27`, which carries
    /// no semantics and exists to exercise the rule that unknown parameters
    /// are ignored (RFC 9000 §18.1).
    pub const fn is_reserved(self) -> bool {
        self.0 % 31 == 27
    }

    /// A reserved ID `31 * N + 27` with `N` derived from `seed`; always below
    /// 2^62, so it can be sent.
    pub const fn reserved(seed: u64) -> Self {
        let n = seed % (Self::MAX_RESERVED_N + 1);
        // Cannot overflow: n <= MAX_RESERVED_N, so 31 * n + 27 <= 2^62 - 1.
        Self(31 * n + 27)
    }

    /// Whether only a server may send this parameter (RFC 9000 §18.2).
    pub const fn is_server_only(self) -> bool {
        matches!(
            self,
            Self::ORIGINAL_DESTINATION_CONNECTION_ID
                | Self::STATELESS_RESET_TOKEN
                | Self::PREFERRED_ADDRESS
                | Self::RETRY_SOURCE_CONNECTION_ID
        )
    }

    /// The ID as a variable-length integer, saturating at 2^62 - 1.
    pub const fn varint(self) -> VarInt {
        VarInt::saturating(self.0)
    }

    /// The bit this ID occupies in a duplicate-detection set, if it is a
    /// known parameter.
    pub(super) const fn seen_bit(self) -> Option<u32> {
        match self.0 {
            // 0x00..=0x11 are contiguous, one bit each.
            id @ 0x00..=0x11 => Some(id as u32),
            0x20 => Some(0x12),
            0x2ab2 => Some(0x13),
            _ => None,
        }
    }
}

impl fmt::Debug for TransportParameterId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None if self.is_reserved() => write!(f, "RESERVED({:#x})", self.0),
            None => write!(f, "TransportParameterId({:#x})", self.0),
        }
    }
}

impl fmt::Display for TransportParameterId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

#[cfg(feature = "arbitrary")]
impl<'a> arbitrary::Arbitrary<'a> for TransportParameterId {
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(Self(u.arbitrary::<u64>()? & VarInt::MAX.into_inner()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_match_their_registries() {
        assert_eq!(TransportParameterId::RETRY_SOURCE_CONNECTION_ID.0, 0x10);
        assert_eq!(TransportParameterId::VERSION_INFORMATION.0, 0x11);
        assert_eq!(TransportParameterId::MAX_DATAGRAM_FRAME_SIZE.0, 0x20);
        assert_eq!(TransportParameterId::GREASE_QUIC_BIT.0, 0x2ab2);
        assert_eq!(TransportParameterId::KNOWN.len(), 20);
        assert_eq!(
            format!("{:?}", TransportParameterId::MAX_ACK_DELAY),
            "MAX_ACK_DELAY"
        );
        assert_eq!(format!("{:?}", TransportParameterId(27)), "RESERVED(0x1b)");
        assert_eq!(
            format!("{:?}", TransportParameterId(0x4242)),
            "TransportParameterId(0x4242)"
        );
    }

    #[test]
    fn known_ids_are_not_reserved_and_have_distinct_seen_bits() {
        let mut bits = 0u64;
        for id in TransportParameterId::KNOWN {
            assert!(!id.is_reserved(), "{id:?}");
            let bit = id.seen_bit().unwrap();
            assert_eq!(bits & (1 << bit), 0, "{id:?}");
            bits |= 1 << bit;
        }
        assert_eq!(TransportParameterId(0x12).seen_bit(), None);
    }

    #[test]
    fn reserved_ids_have_the_grease_form_and_fit_a_varint() {
        assert!(TransportParameterId(27).is_reserved());
        assert!(TransportParameterId(31 * 1000 + 27).is_reserved());
        assert!(!TransportParameterId(31 * 1000 + 26).is_reserved());
        for seed in [0, 1, 42, u64::MAX, u64::MAX / 3, 1 << 62] {
            let id = TransportParameterId::reserved(seed);
            assert!(id.is_reserved(), "{seed}");
            assert!(VarInt::from_u64(id.0).is_ok(), "{seed}");
        }
        assert_eq!(TransportParameterId::reserved(0).0, 27);
        let top = TransportParameterId::reserved(TransportParameterId::MAX_RESERVED_N);
        assert!(top.0 + 31 > VarInt::MAX.into_inner());
    }
}
