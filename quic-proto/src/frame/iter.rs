//! Iterating over the frames of a packet payload.

use super::Frame;
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
