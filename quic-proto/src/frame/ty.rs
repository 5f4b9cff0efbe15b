//! Frame type codes (RFC 9000 §12.4, §19; RFC 9221 §4).

use core::fmt;

use crate::{Level, TransportError};

/// A frame type, an open set: unknown values round-trip and print as hex.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FrameType(pub u64);

macro_rules! frame_types {
    ($($name:ident = $val:expr,)*) => {
        impl FrameType {
            $(#[doc = concat!("`", stringify!($name), "`")] pub const $name: Self = Self($val);)*

            /// The RFC name of a known frame type (STREAM for all eight STREAM types).
            pub const fn name(self) -> Option<&'static str> {
                match self.0 {
                    $($val => Some(stringify!($name)),)*
                    0x08..=0x0f => Some("STREAM"),
                    _ => None,
                }
            }
        }
    };
}

frame_types! {
    PADDING = 0x00,
    PING = 0x01,
    ACK = 0x02,
    ACK_ECN = 0x03,
    RESET_STREAM = 0x04,
    STOP_SENDING = 0x05,
    CRYPTO = 0x06,
    NEW_TOKEN = 0x07,
    STREAM = 0x08,
    MAX_DATA = 0x10,
    MAX_STREAM_DATA = 0x11,
    MAX_STREAMS_BIDI = 0x12,
    MAX_STREAMS_UNI = 0x13,
    DATA_BLOCKED = 0x14,
    STREAM_DATA_BLOCKED = 0x15,
    STREAMS_BLOCKED_BIDI = 0x16,
    STREAMS_BLOCKED_UNI = 0x17,
    NEW_CONNECTION_ID = 0x18,
    RETIRE_CONNECTION_ID = 0x19,
    PATH_CHALLENGE = 0x1a,
    PATH_RESPONSE = 0x1b,
    CONNECTION_CLOSE = 0x1c,
    CONNECTION_CLOSE_APP = 0x1d,
    HANDSHAKE_DONE = 0x1e,
    DATAGRAM = 0x30,
    DATAGRAM_LEN = 0x31,
}

impl FrameType {
    /// STREAM type bit: an Offset field is present.
    pub const STREAM_OFF_BIT: u64 = 0x04;
    /// STREAM type bit: a Length field is present.
    pub const STREAM_LEN_BIT: u64 = 0x02;
    /// STREAM type bit: the frame carries the end of the stream.
    pub const STREAM_FIN_BIT: u64 = 0x01;

    /// Whether this is one of the eight STREAM frame types.
    pub const fn is_stream(self) -> bool {
        self.0 >= 0x08 && self.0 <= 0x0f
    }
}

/// Which packet types may carry a frame type, and how it counts for
/// acknowledgement and path probing (RFC 9000 §12.4 Table 3, §12.5, §9.1;
/// RFC 9221 §4).
impl FrameType {
    /// Whether this is a frame type this implementation knows.
    pub const fn is_known(self) -> bool {
        self.name().is_some()
    }

    /// Whether a frame of this type may appear in a packet at `level`
    /// (RFC 9000 §12.4 Table 3, §12.5). Unknown types are allowed nowhere.
    ///
    /// - Initial and Handshake: PADDING, PING, ACK, CRYPTO and the transport
    ///   CONNECTION_CLOSE (0x1c) only.
    /// - 0-RTT: everything except ACK, CRYPTO, HANDSHAKE_DONE, NEW_TOKEN,
    ///   PATH_RESPONSE and RETIRE_CONNECTION_ID (§12.5: "it is not possible to
    ///   send the following frames in 0-RTT packets"; Table 3 for the rest).
    /// - 1-RTT: everything ("all frames can appear in 1-RTT packets").
    ///
    /// DATAGRAM frames follow STREAM: 0-RTT and 1-RTT only (RFC 9221 §4).
    pub const fn allowed_in(self, level: Level) -> bool {
        match level {
            Level::Initial | Level::Handshake => matches!(
                self,
                Self::PADDING
                    | Self::PING
                    | Self::ACK
                    | Self::ACK_ECN
                    | Self::CRYPTO
                    | Self::CONNECTION_CLOSE
            ),
            Level::ZeroRtt => {
                self.is_known()
                    && !matches!(
                        self,
                        Self::ACK
                            | Self::ACK_ECN
                            | Self::CRYPTO
                            | Self::HANDSHAKE_DONE
                            | Self::NEW_TOKEN
                            | Self::PATH_RESPONSE
                            | Self::RETIRE_CONNECTION_ID
                    )
            }
            Level::OneRtt => self.is_known(),
        }
    }

    /// [`FrameType::allowed_in`] as the receiver's check: RFC 9000 §12.4
    /// "An endpoint MUST treat receipt of a frame in a packet type that is
    /// not permitted as a connection error of type PROTOCOL_VIOLATION."
    pub const fn check_allowed(self, level: Level) -> Result<(), TransportError> {
        if self.allowed_in(level) {
            Ok(())
        } else {
            Err(
                TransportError::protocol_violation("frame not permitted in this packet type")
                    .with_frame(self),
            )
        }
    }

    /// Whether a packet containing this frame must be acknowledged: every
    /// frame but ACK, PADDING and CONNECTION_CLOSE (RFC 9000 §12.4 "N",
    /// §13.2; RFC 9002 §2).
    pub const fn is_ack_eliciting(self) -> bool {
        !matches!(
            self,
            Self::ACK
                | Self::ACK_ECN
                | Self::PADDING
                | Self::CONNECTION_CLOSE
                | Self::CONNECTION_CLOSE_APP
        )
    }

    /// Whether this frame may appear in a packet used to probe a new path:
    /// PATH_CHALLENGE, PATH_RESPONSE, NEW_CONNECTION_ID and PADDING
    /// (RFC 9000 §12.4 "P", §9.1).
    pub const fn is_probing(self) -> bool {
        matches!(
            self,
            Self::PATH_CHALLENGE | Self::PATH_RESPONSE | Self::NEW_CONNECTION_ID | Self::PADDING
        )
    }
}

impl fmt::Debug for FrameType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) if self.is_stream() => write!(f, "{name}({:#04x})", self.0),
            Some(name) => f.write_str(name),
            None => write!(f, "FrameType({:#x})", self.0),
        }
    }
}

impl fmt::Display for FrameType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TransportErrorCode;

    /// RFC 9000 §12.4 Table 3 "Pkts" column, with §12.5's 0-RTT exclusions
    /// and RFC 9221 §4 for DATAGRAM: (type, Initial/Handshake, 0-RTT, 1-RTT).
    const TABLE: &[(u64, bool, bool, bool)] = &[
        (0x00, true, true, true),
        (0x01, true, true, true),
        (0x02, true, false, true),
        (0x03, true, false, true),
        (0x04, false, true, true),
        (0x05, false, true, true),
        (0x06, true, false, true),
        (0x07, false, false, true),
        (0x08, false, true, true),
        (0x0f, false, true, true),
        (0x10, false, true, true),
        (0x11, false, true, true),
        (0x12, false, true, true),
        (0x13, false, true, true),
        (0x14, false, true, true),
        (0x15, false, true, true),
        (0x16, false, true, true),
        (0x17, false, true, true),
        (0x18, false, true, true),
        (0x19, false, false, true),
        (0x1a, false, true, true),
        (0x1b, false, false, true),
        (0x1c, true, true, true),
        (0x1d, false, true, true),
        (0x1e, false, false, true),
        (0x30, false, true, true),
        (0x31, false, true, true),
        (0x1f, false, false, false),
    ];

    #[test]
    fn permissions_follow_table_3() {
        for &(ty, ih, zero, one) in TABLE {
            let ty = FrameType(ty);
            assert_eq!(ty.allowed_in(Level::Initial), ih, "{ty:?} Initial");
            assert_eq!(ty.allowed_in(Level::Handshake), ih, "{ty:?} Handshake");
            assert_eq!(ty.allowed_in(Level::ZeroRtt), zero, "{ty:?} 0-RTT");
            assert_eq!(ty.allowed_in(Level::OneRtt), one, "{ty:?} 1-RTT");
        }
    }

    #[test]
    fn forbidden_frame_is_protocol_violation() {
        let e = FrameType::STREAM.check_allowed(Level::Initial).unwrap_err();
        assert_eq!(e.code, TransportErrorCode::PROTOCOL_VIOLATION);
        assert_eq!(e.frame_type, Some(FrameType::STREAM));
        let e = FrameType::CONNECTION_CLOSE_APP
            .check_allowed(Level::Handshake)
            .unwrap_err();
        assert_eq!(e.code, TransportErrorCode::PROTOCOL_VIOLATION);
        assert!(FrameType::CRYPTO.check_allowed(Level::Handshake).is_ok());
    }

    #[test]
    fn ack_eliciting_and_probing_sets() {
        let not_eliciting = [0x00, 0x02, 0x03, 0x1c, 0x1d];
        let probing = [0x00, 0x18, 0x1a, 0x1b];
        for &(ty, ..) in TABLE.iter().filter(|t| t.0 != 0x1f) {
            let t = FrameType(ty);
            assert_eq!(t.is_ack_eliciting(), !not_eliciting.contains(&ty), "{t:?}");
            assert_eq!(t.is_probing(), probing.contains(&ty), "{t:?}");
        }
    }
}
