//! Iterating over the frames of a packet payload.

use super::{Frame, FrameType, StreamFrame};
use crate::coding::Reader;
use crate::TransportError;

/// The frames of a decrypted packet payload, in order.
///
/// Yields `Ok` frames until the payload is used up, or one `Err` for the
/// first malformed frame and then nothing more: a frame error closes the
/// connection (RFC 9000 §12.4), so nothing after it is worth reading. Each
/// step consumes at least one byte, so iteration ends after at most
/// `payload.len()` items.
///
/// An empty payload yields nothing; rejecting a packet with no frames
/// (RFC 9000 §12.4, PROTOCOL_VIOLATION) is the packet layer's job.
#[derive(Clone, Debug)]
pub struct Frames<'a> {
    r: Reader<'a>,
    failed: bool,
}

impl<'a> Frames<'a> {
    /// Frames of `payload`.
    pub const fn new(payload: &'a [u8]) -> Self {
        Self {
            r: Reader::new(payload),
            failed: false,
        }
    }

    /// The bytes not yet decoded.
    pub fn remaining(&self) -> usize {
        self.r.remaining()
    }
}

impl<'a> Frames<'a> {
    /// The next frame if it is a STREAM frame (type 0x08..=0x0f, one
    /// byte), decoded straight into its fields; `None`, consuming nothing,
    /// if the next frame is of another type or there is none. The receive
    /// loop takes STREAM frames, most frames of a transfer, this way and
    /// hands them to their stream without building a [`Frame`]; the result
    /// is the same as [`Iterator::next`]'s `Frame::Stream`.
    #[inline]
    pub fn next_stream(&mut self) -> Option<Result<StreamFrame<'a>, TransportError>> {
        let ty = FrameType(
            self.r
                .peek_u8()
                .filter(|b| (0x08..=0x0f).contains(b))?
                .into(),
        );
        if self.failed {
            return None;
        }
        // The type byte was just peeked.
        let _ = self.r.u8();
        let frame = StreamFrame::decode(ty, &mut self.r)
            .map_err(|e| TransportError::from_frame_decode(ty, e));
        self.failed = frame.is_err();
        Some(frame)
    }
}

impl<'a> Iterator for Frames<'a> {
    type Item = Result<Frame<'a>, TransportError>;

    /// Inlined so that a STREAM frame, decoded inline too, reaches the
    /// caller in registers rather than through a by-value copy.
    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.r.is_empty() {
            return None;
        }
        let frame = Frame::decode(&mut self.r);
        self.failed = frame.is_err();
        Some(frame)
    }
}

impl core::iter::FusedIterator for Frames<'_> {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::StreamId;

    #[test]
    fn next_stream_takes_stream_frames_only_and_matches_next() {
        let mut payload = Vec::new();
        StreamFrame::encode_header(
            StreamId::from_varint(4u32.into()),
            9,
            3,
            true,
            true,
            &mut payload,
        );
        payload.extend_from_slice(b"abc");
        payload.push(0x01); // PING
        StreamFrame::encode_header(
            StreamId::from_varint(8u32.into()),
            0,
            0,
            false,
            false,
            &mut payload,
        );
        payload.extend_from_slice(b"rest");

        let mut fast = Frames::new(&payload);
        let mut slow = Frames::new(&payload);
        let first = fast.next_stream().unwrap().unwrap();
        assert_eq!(slow.next(), Some(Ok(Frame::Stream(first))));
        assert_eq!(
            (first.offset.into_inner(), first.data, first.fin),
            (9, &b"abc"[..], true)
        );
        // A PING: not taken, nothing consumed.
        assert!(fast.next_stream().is_none());
        assert_eq!(fast.next(), Some(Ok(Frame::Ping)));
        assert_eq!(slow.next(), Some(Ok(Frame::Ping)));
        let last = fast.next_stream().unwrap().unwrap();
        assert_eq!(slow.next(), Some(Ok(Frame::Stream(last))));
        assert_eq!(last.data, b"rest");
        assert!(fast.next_stream().is_none() && fast.next().is_none());

        // A truncated STREAM frame: one error, then nothing.
        let mut bad = Frames::new(&[0x0a, 0x04, 0x05, b'x']);
        let err = bad.next_stream().unwrap().unwrap_err();
        assert_eq!(
            Frames::new(&[0x0a, 0x04, 0x05, b'x']).next(),
            Some(Err(err))
        );
        assert!(bad.next_stream().is_none() && bad.next().is_none());
    }
}
