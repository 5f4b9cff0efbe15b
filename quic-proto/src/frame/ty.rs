//! Frame type codes (RFC 9000 §12.4, §19; RFC 9221 §4).

use core::fmt;

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
