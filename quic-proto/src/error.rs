//! Protocol errors: what a peer did wrong, with its wire code.

use core::fmt;

use crate::coding::DecodeError;
use crate::frame::FrameType;

/// A QUIC transport error code (RFC 9000 §20.1), an open set: unknown values
/// round-trip and print as hex.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TransportErrorCode(pub u64);

macro_rules! codes {
    ($($(#[$doc:meta])* $name:ident = $val:expr,)*) => {
        impl TransportErrorCode {
            $($(#[$doc])* pub const $name: Self = Self($val);)*

            /// The RFC name of a known code.
            pub const fn name(self) -> Option<&'static str> {
                match self.0 {
                    $($val => Some(stringify!($name)),)*
                    0x100..=0x1ff => Some("CRYPTO_ERROR"),
                    _ => None,
                }
            }
        }
    };
}

codes! {
    /// An endpoint uses this with CONNECTION_CLOSE to signal that the connection is being closed abruptly in the absence of any error.
    NO_ERROR = 0x00,
    /// The endpoint encountered an internal error and cannot continue with the connection.
    INTERNAL_ERROR = 0x01,
    /// The server refused to accept a new connection.
    CONNECTION_REFUSED = 0x02,
    /// An endpoint received more data than it permitted in its advertised data limits.
    FLOW_CONTROL_ERROR = 0x03,
    /// An endpoint received a frame for a stream identifier that exceeded its advertised stream limit.
    STREAM_LIMIT_ERROR = 0x04,
    /// An endpoint received a frame for a stream that was not in a state that permitted that frame.
    STREAM_STATE_ERROR = 0x05,
    /// Final size of a stream changed, or data arrived beyond it.
    FINAL_SIZE_ERROR = 0x06,
    /// A frame was badly formatted.
    FRAME_ENCODING_ERROR = 0x07,
    /// Transport parameters were badly formatted, invalid, or missing.
    TRANSPORT_PARAMETER_ERROR = 0x08,
    /// The peer provided more connection IDs than our active_connection_id_limit.
    CONNECTION_ID_LIMIT_ERROR = 0x09,
    /// A protocol compliance error not covered by a more specific code.
    PROTOCOL_VIOLATION = 0x0a,
    /// A server received a client Initial with an invalid Token.
    INVALID_TOKEN = 0x0b,
    /// The application or application protocol caused the connection to be closed.
    APPLICATION_ERROR = 0x0c,
    /// More data was received in CRYPTO frames than can be buffered.
    CRYPTO_BUFFER_EXCEEDED = 0x0d,
    /// A key update error was detected.
    KEY_UPDATE_ERROR = 0x0e,
    /// The AEAD integrity limit was reached.
    AEAD_LIMIT_REACHED = 0x0f,
    /// No network path is able to support QUIC.
    NO_VIABLE_PATH = 0x10,
    /// Version negotiation failed or was tampered with (RFC 9368 §10.2).
    VERSION_NEGOTIATION_ERROR = 0x11,
}

impl TransportErrorCode {
    /// The CRYPTO_ERROR code carrying a TLS alert (RFC 9001 §4.8).
    pub const fn crypto(alert: u8) -> Self {
        Self(0x100 | alert as u64)
    }

    /// The TLS alert carried by a CRYPTO_ERROR code.
    pub const fn tls_alert(self) -> Option<u8> {
        if self.0 >= 0x100 && self.0 <= 0x1ff {
            Some((self.0 & 0xff) as u8)
        } else {
            None
        }
    }
}

impl fmt::Debug for TransportErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.name(), self.tls_alert()) {
            (_, Some(alert)) => write!(f, "CRYPTO_ERROR({alert:#04x})"),
            (Some(name), None) => f.write_str(name),
            (None, None) => write!(f, "TransportErrorCode({:#x})", self.0),
        }
    }
}

impl fmt::Display for TransportErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// A connection error caused by the peer: the code to send in
/// CONNECTION_CLOSE, the frame type that triggered it when known, and a
/// reason for logs and the close frame.
///
/// `Copy` and cheap to build with the `const` constructors, so parsers can
/// return it directly.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TransportError {
    /// The wire code.
    pub code: TransportErrorCode,
    /// The frame type being processed when the error was found, if any.
    pub frame_type: Option<FrameType>,
    /// A short human-readable reason.
    pub reason: &'static str,
}

impl TransportError {
    /// An error with `code` and `reason`, not tied to a frame type.
    pub const fn new(code: TransportErrorCode, reason: &'static str) -> Self {
        Self {
            code,
            frame_type: None,
            reason,
        }
    }

    /// FRAME_ENCODING_ERROR.
    pub const fn frame_encoding(reason: &'static str) -> Self {
        Self::new(TransportErrorCode::FRAME_ENCODING_ERROR, reason)
    }

    /// PROTOCOL_VIOLATION.
    pub const fn protocol_violation(reason: &'static str) -> Self {
        Self::new(TransportErrorCode::PROTOCOL_VIOLATION, reason)
    }

    /// TRANSPORT_PARAMETER_ERROR.
    pub const fn transport_parameter(reason: &'static str) -> Self {
        Self::new(TransportErrorCode::TRANSPORT_PARAMETER_ERROR, reason)
    }

    /// The same error, tied to frame type `ty`.
    pub const fn with_frame(mut self, ty: FrameType) -> Self {
        self.frame_type = Some(ty);
        self
    }

    /// A FRAME_ENCODING_ERROR for malformed bytes in a frame of type `ty`.
    pub const fn from_frame_decode(ty: FrameType, e: DecodeError) -> Self {
        let reason = match e {
            DecodeError::UnexpectedEnd => "frame truncated",
            DecodeError::InvalidValue(what) => what,
        };
        Self::frame_encoding(reason).with_frame(ty)
    }
}

impl fmt::Debug for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.code)?;
        if let Some(ty) = self.frame_type {
            write!(f, " in {ty:?}")?;
        }
        write!(f, ": {}", self.reason)
    }
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

impl std::error::Error for TransportError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_print_their_names() {
        assert_eq!(
            format!("{:?}", TransportErrorCode::FRAME_ENCODING_ERROR),
            "FRAME_ENCODING_ERROR"
        );
        assert_eq!(
            format!("{:?}", TransportErrorCode::crypto(0x28)),
            "CRYPTO_ERROR(0x28)"
        );
        assert_eq!(
            format!("{:?}", TransportErrorCode(0x4242)),
            "TransportErrorCode(0x4242)"
        );
        assert_eq!(TransportErrorCode::crypto(0x2a).tls_alert(), Some(0x2a));
    }
}
