//! CONNECTION_CLOSE frames (RFC 9000 §19.19).

use core::fmt;

use super::{put_type, FrameType};
use crate::coding::{DecodeError, Encode, Encoder, Reader, VarInt};
use crate::{TransportError, TransportErrorCode};

/// A CONNECTION_CLOSE frame: type 0x1c for transport errors, 0x1d for
/// application errors. The reason phrase is borrowed from the packet.
///
/// A transport close names the frame type that triggered the error, or 0
/// when unknown (RFC 9000 §19.19); this struct maps 0 to `None`, so
/// `Some(FrameType::PADDING)` is written as 0 and reads back as `None`. An
/// application close has no Frame Type field and ignores `frame_type`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ConnectionClose<'a> {
    /// Whether this is an application close (type 0x1d).
    pub application: bool,
    /// The error code: a [`TransportErrorCode`] for transport closes, an
    /// application-defined code otherwise.
    pub error_code: VarInt,
    /// The frame type that caused a transport close, if known.
    pub frame_type: Option<FrameType>,
    /// The reason phrase, meant to be UTF-8 but not checked (RFC 9000 §19.19
    /// says "SHOULD").
    pub reason: &'a [u8],
}

impl<'a> ConnectionClose<'a> {
    /// Decodes the body of a CONNECTION_CLOSE frame of type `ty`.
    pub(super) fn decode(ty: FrameType, r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        let application = ty == FrameType::CONNECTION_CLOSE_APP;
        let error_code = r.varint()?;
        // RFC 9000 §19.19: only type 0x1c carries a Frame Type field, 0 when
        // the triggering frame type is unknown.
        let frame_type = if application {
            None
        } else {
            Some(r.varint_u64()?).filter(|&t| t != 0).map(FrameType)
        };
        let reason = r.varint_prefixed()?;
        Ok(Self {
            application,
            error_code,
            frame_type,
            reason,
        })
    }

    /// CONNECTION_CLOSE (0x1c) or its application variant (0x1d).
    pub const fn ty(&self) -> FrameType {
        if self.application {
            FrameType::CONNECTION_CLOSE_APP
        } else {
            FrameType::CONNECTION_CLOSE
        }
    }

    /// The transport error code, for a transport close.
    pub const fn transport_code(&self) -> Option<TransportErrorCode> {
        if self.application {
            None
        } else {
            Some(TransportErrorCode(self.error_code.into_inner()))
        }
    }

    /// An application close with `code` and `reason`.
    pub const fn application(code: VarInt, reason: &'a [u8]) -> Self {
        Self {
            application: true,
            error_code: code,
            frame_type: None,
            reason,
        }
    }
}

impl From<TransportError> for ConnectionClose<'static> {
    /// The transport close reporting `err` to the peer.
    fn from(err: TransportError) -> Self {
        Self {
            application: false,
            error_code: VarInt::saturating(err.code.0),
            frame_type: err.frame_type,
            reason: err.reason.as_bytes(),
        }
    }
}

impl Encode for ConnectionClose<'_> {
    fn encode<E: Encoder + ?Sized>(&self, e: &mut E) {
        put_type(e, self.ty());
        e.put_varint(self.error_code);
        if !self.application {
            let ty = self.frame_type.map_or(0, |t| t.0);
            e.put_varint(VarInt::saturating(ty));
        }
        e.put_varint(VarInt::saturating(self.reason.len() as u64));
        e.put_slice(self.reason);
    }
}

impl fmt::Debug for ConnectionClose<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("ConnectionClose");
        match self.transport_code() {
            Some(code) => d.field("code", &code).field("frame_type", &self.frame_type),
            None => d.field("application_code", &self.error_code),
        };
        d.field("reason", &String::from_utf8_lossy(self.reason))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::Frame;

    fn decode(bytes: &[u8]) -> Result<ConnectionClose<'_>, TransportError> {
        match Frame::decode(&mut Reader::new(bytes))? {
            Frame::ConnectionClose(c) => Ok(c),
            other => panic!("not CONNECTION_CLOSE: {other:?}"),
        }
    }

    #[test]
    fn transport_close_encodes_byte_exact() {
        let c =
            ConnectionClose::from(TransportError::frame_encoding("bad").with_frame(FrameType::ACK));
        let bytes = [0x1c, 0x07, 0x02, 3, b'b', b'a', b'd'];
        assert_eq!(c.to_vec(), bytes);
        assert_eq!(decode(&bytes), Ok(c));
        assert_eq!(
            c.transport_code(),
            Some(TransportErrorCode::FRAME_ENCODING_ERROR)
        );
    }

    #[test]
    fn unknown_frame_type_is_zero_on_the_wire() {
        let c = ConnectionClose::from(TransportError::protocol_violation(""));
        let bytes = [0x1c, 0x0a, 0x00, 0];
        assert_eq!(c.to_vec(), bytes);
        assert_eq!(decode(&bytes).unwrap().frame_type, None);
    }

    #[test]
    fn application_close_has_no_frame_type() {
        let c = ConnectionClose::application(VarInt::from_u32(0x100), b"bye");
        let bytes = [0x1d, 0x41, 0x00, 3, b'b', b'y', b'e'];
        assert_eq!(c.to_vec(), bytes);
        assert_eq!(decode(&bytes), Ok(c));
        assert_eq!(c.transport_code(), None);
        assert!(format!("{c:?}").contains("bye"));
    }

    #[test]
    fn reason_past_the_packet_is_an_error() {
        let e = decode(&[0x1d, 0, 9, b'x']).unwrap_err();
        assert_eq!(e.code, TransportErrorCode::FRAME_ENCODING_ERROR);
        assert_eq!(e.frame_type, Some(FrameType::CONNECTION_CLOSE_APP));
    }
}
