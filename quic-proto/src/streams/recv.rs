//! The receiving part of a stream (RFC 9000 §3.2): reassembly, final size,
//! flow control of what arrives, RESET_STREAM received and STOP_SENDING.
//!
//! # The buffer
//!
//! One `BytesMut` holds the stream from the first unread byte on. In-order
//! data is appended to it directly: the single copy from the decrypted
//! packet. An out-of-order piece is written at its place in the same buffer
//! (the gap before it zero-filled) and its range noted in a [`RangeSet`];
//! when the gap fills, the readable prefix grows past it. The buffer never
//! reaches beyond the advertised limit, so the flow-control window bounds
//! memory; overlapping and duplicate data is trimmed against what is
//! already readable. Reads copy out (`read`) or split off a `Bytes` without
//! copying (`read_chunk`).

use bytes::{Buf, Bytes, BytesMut};

use super::flow::{RecvWindow, WindowUpdate};
use super::ranges::RangeSet;
use super::ReadError;
use crate::{TransportError, TransportErrorCode, VarInt};

use std::time::{Duration, Instant};

/// An empty buffer keeps at most this much capacity.
const BUF_KEEP: usize = 4 * GROW_STEP;

/// Once a stream has carried this much, its buffer grows by at least this
/// much at a time. Growing makes `BytesMut` move the unread bytes to the
/// front of its allocation; large steps make that rare (it was 3 % of a bulk
/// receiver's instructions when the buffer grew by one packet's worth at a
/// time). Small streams grow as they need.
const GROW_STEP: usize = 64 * 1024;

fn final_size_error(reason: &'static str) -> TransportError {
    TransportError::new(TransportErrorCode::FINAL_SIZE_ERROR, reason)
}

/// The receiving part of a stream.
#[derive(Debug)]
pub(crate) struct RecvStream {
    /// Stream bytes from `read_offset` on, up to the highest received.
    buf: BytesMut,
    /// The first byte not yet read (or discarded).
    read_offset: u64,
    /// Every byte below this has arrived.
    contiguous: u64,
    /// Ranges received above `contiguous`.
    pieces: RangeSet,
    /// Our MAX_STREAM_DATA and the highest offset received.
    window: RecvWindow,
    final_size: Option<u64>,
    /// The peer's RESET_STREAM code.
    reset: Option<VarInt>,
    /// The application saw the reset.
    reset_read: bool,
    /// The application read the FIN.
    fin_read: bool,
    /// The application's STOP_SENDING code: data is discarded from then on.
    stopped: Option<VarInt>,
    stop_pending: bool,
}

impl RecvStream {
    /// A receiving part with our initial limit `window`, auto-tuned up to
    /// `max_window`.
    pub(crate) fn new(window: u64, max_window: u64) -> Self {
        Self {
            buf: BytesMut::new(),
            read_offset: 0,
            contiguous: 0,
            pieces: RangeSet::new(),
            window: RecvWindow::new(window, max_window),
            final_size: None,
            reset: None,
            reset_read: false,
            fin_read: false,
            stopped: None,
            stop_pending: false,
        }
    }

    /// Whether incoming data is being thrown away (reset or stopped).
    fn discarding(&self) -> bool {
        self.reset.is_some() || self.stopped.is_some()
    }

    /// Takes a STREAM frame's data. Checks the final size (RFC 9000 §4.5)
    /// and the stream and connection limits (§4.1) before storing anything.
    /// Returns whether something new became readable.
    pub(crate) fn on_data(
        &mut self,
        offset: u64,
        data: &[u8],
        fin: bool,
        conn: &mut RecvWindow,
        max_pieces: usize,
    ) -> Result<bool, TransportError> {
        // RFC 9000 §19.8: offset + length never exceeds 2^62-1 (the frame
        // decoder checks; this keeps the arithmetic below safe regardless).
        let end = offset
            .checked_add(data.len() as u64)
            .filter(|&e| e <= VarInt::MAX.into_inner())
            .ok_or(TransportError::frame_encoding("stream offset overflows"))?;
        self.check_final_size(end, fin)?;
        let delta = self.window.on_received_to(end)?;
        conn.on_received(delta)?;
        let fin_news = fin && self.final_size.is_none();
        if fin {
            self.final_size = Some(end);
        }
        if self.discarding() {
            // RFC 9000 §3.5: data after STOP_SENDING "is still counted
            // toward connection and stream flow control"; it is released
            // at once since nobody will read it.
            self.discard_to(self.window.received(), conn);
            return Ok(false);
        }
        let grew = self.store(offset, data, max_pieces)?;
        Ok(grew || (fin_news && self.contiguous == end && self.read_offset <= end))
    }

    /// RFC 9000 §4.5: "If a RESET_STREAM or STREAM frame is received
    /// indicating a change in the final size for the stream, an endpoint
    /// SHOULD respond with an error of type FINAL_SIZE_ERROR"; data at or
    /// beyond the final size is the same error, and so is a final size
    /// below data already received.
    fn check_final_size(&self, end: u64, fin: bool) -> Result<(), TransportError> {
        match self.final_size {
            Some(size) if end > size => Err(final_size_error("data beyond the final size")),
            Some(size) if fin && end != size => Err(final_size_error("final size changed")),
            None if fin && end < self.window.received() => {
                Err(final_size_error("final size below data already received"))
            }
            _ => Ok(()),
        }
    }

    /// Copies the new part of `[offset, offset + len)` into the buffer.
    fn store(
        &mut self,
        offset: u64,
        data: &[u8],
        max_pieces: usize,
    ) -> Result<bool, TransportError> {
        let end = offset + data.len() as u64;
        let start = offset.max(self.contiguous);
        if start >= end {
            return Ok(false); // RFC 9000 §2.2: already received, discard.
        }
        let internal = || TransportError::new(TransportErrorCode::INTERNAL_ERROR, "receive buffer");
        // The window keeps `end - read_offset` within the advertised window.
        let rel = usize::try_from(start - self.read_offset).map_err(|_| internal())?;
        let src = usize::try_from(start - offset)
            .ok()
            .and_then(|skip| data.get(skip..))
            .ok_or_else(internal)?;
        if rel > self.buf.len() {
            self.buf.resize(rel, 0);
        }
        let overlap = (self.buf.len() - rel).min(src.len());
        let (old, new) = src.split_at(overlap);
        if overlap > 0 {
            self.buf
                .get_mut(rel..rel + overlap)
                .ok_or_else(internal)?
                .copy_from_slice(old);
        }
        if self.buf.capacity() - self.buf.len() < new.len() {
            let bulk = self.read_offset >= GROW_STEP as u64;
            self.buf
                .reserve(new.len().max(if bulk { GROW_STEP } else { 0 }));
        }
        self.buf.extend_from_slice(new);
        if start > self.contiguous {
            self.pieces.insert(start, end);
            if self.pieces.len() > max_pieces {
                return Err(TransportError::new(
                    TransportErrorCode::INTERNAL_ERROR,
                    "stream data too fragmented",
                ));
            }
            return Ok(false);
        }
        self.contiguous = end;
        while let Some((s, e)) = self.pieces.first() {
            if s > self.contiguous {
                break;
            }
            self.contiguous = self.contiguous.max(e);
            self.pieces.pop_first();
        }
        Ok(true)
    }

    /// Throws away everything below `to`, releasing its connection credit.
    fn discard_to(&mut self, to: u64, conn: &mut RecvWindow) {
        if to > self.read_offset {
            conn.on_consumed(to - self.read_offset);
            self.window.on_consumed(to - self.read_offset);
            self.read_offset = to;
        }
        self.contiguous = self.contiguous.max(to);
        self.buf = BytesMut::new();
        self.pieces.clear();
    }

    /// The peer's RESET_STREAM. Returns whether it is news for the
    /// application (not a duplicate, and not after all data was read).
    pub(crate) fn on_reset(
        &mut self,
        code: VarInt,
        final_size: u64,
        conn: &mut RecvWindow,
    ) -> Result<bool, TransportError> {
        if matches!(self.final_size, Some(size) if size != final_size) {
            return Err(final_size_error("final size changed"));
        }
        if final_size < self.window.received() {
            return Err(final_size_error("final size below data already received"));
        }
        // RFC 9000 §4.5: "The receiver MUST use the final size of the
        // stream to account for all bytes sent on the stream in its
        // connection-level flow controller."
        let delta = self.window.on_received_to(final_size)?;
        conn.on_received(delta)?;
        self.final_size = Some(final_size);
        if self.reset.is_some() || self.fin_read {
            return Ok(false);
        }
        self.reset = Some(code);
        // RFC 9000 §3.2: we interrupt delivery and discard unread data.
        self.discard_to(final_size, conn);
        Ok(self.stopped.is_none())
    }

    /// Whether something can be read: data, the FIN, or a reset not yet
    /// reported.
    pub(crate) fn is_readable(&self) -> bool {
        if self.stopped.is_some() {
            return false;
        }
        (self.reset.is_some() && !self.reset_read)
            || (!self.fin_read
                && (self.contiguous > self.read_offset
                    || self.final_size == Some(self.read_offset)))
    }

    /// Checks for an error or the end before a read; `Ok(avail)` is the
    /// number of readable bytes.
    fn before_read(&mut self) -> Result<u64, ReadError> {
        if let Some(code) = self.reset {
            if self.stopped.is_none() {
                self.reset_read = true;
                return Err(ReadError::Reset(code));
            }
        }
        if self.stopped.is_some() || self.fin_read {
            return Err(ReadError::ClosedStream);
        }
        Ok(self.contiguous - self.read_offset)
    }

    /// Marks `n` bytes read and reports whether the FIN is reached.
    fn after_read(&mut self, n: usize) -> bool {
        self.read_offset += n as u64;
        self.window.on_consumed(n as u64);
        let fin = self.final_size == Some(self.read_offset);
        self.fin_read = fin;
        if self.buf.is_empty() && self.buf.capacity() > BUF_KEEP {
            self.buf = BytesMut::new();
        }
        fin
    }

    /// Copies readable data into `dst`: `Ok(None)` if nothing is readable
    /// yet, else the count and whether the stream ended there.
    pub(crate) fn read(&mut self, dst: &mut [u8]) -> Result<Option<(usize, bool)>, ReadError> {
        let avail = self.before_read()?;
        if avail == 0 && self.final_size != Some(self.read_offset) {
            return Ok(None);
        }
        let n = usize::try_from(avail).unwrap_or(usize::MAX).min(dst.len());
        let (Some(src), Some(out)) = (self.buf.get(..n), dst.get_mut(..n)) else {
            return Ok(None); // `contiguous - read_offset` never exceeds the buffer.
        };
        out.copy_from_slice(src);
        self.buf.advance(n);
        Ok(Some((n, self.after_read(n))))
    }

    /// Splits off up to `max` readable bytes without copying.
    pub(crate) fn read_chunk(&mut self, max: usize) -> Result<Option<(Bytes, bool)>, ReadError> {
        let avail = self.before_read()?;
        if avail == 0 && self.final_size != Some(self.read_offset) {
            return Ok(None);
        }
        let n = usize::try_from(avail)
            .unwrap_or(usize::MAX)
            .min(max)
            .min(self.buf.len());
        let chunk = self.buf.split_to(n).freeze();
        Ok(Some((chunk, self.after_read(n))))
    }

    /// The application stops reading (RFC 9000 §3.5). Unread data is
    /// dropped and its credit released; STOP_SENDING is queued unless the
    /// final size is already known. Returns `Ok(true)` if a frame is due.
    pub(crate) fn stop(&mut self, code: VarInt, conn: &mut RecvWindow) -> Result<bool, ReadError> {
        if self.stopped.is_some() || self.fin_read || self.reset_read {
            return Err(ReadError::ClosedStream);
        }
        self.stopped = Some(code);
        // RFC 9000 §3.5: STOP_SENDING "SHOULD only be sent for a stream that
        // has not been reset by the peer" and is unnecessary once all data
        // or the final size is in.
        self.stop_pending = self.final_size.is_none() && self.reset.is_none();
        self.discard_to(self.window.received(), conn);
        Ok(self.stop_pending)
    }

    /// The STOP_SENDING frame to send, if due.
    pub(crate) fn stop_frame(&self) -> Option<VarInt> {
        self.stop_pending.then_some(self.stopped).flatten()
    }

    /// The STOP_SENDING frame was written.
    pub(crate) fn stop_sent(&mut self) {
        self.stop_pending = false;
    }

    /// A STOP_SENDING frame was lost: RFC 9000 §3.5, "An endpoint is
    /// expected to send another STOP_SENDING frame if a packet containing a
    /// previous STOP_SENDING is lost", unless the final size or a reset has
    /// arrived since. Returns whether it is due again.
    pub(crate) fn stop_lost(&mut self) -> bool {
        self.stop_pending =
            self.stopped.is_some() && self.final_size.is_none() && self.reset.is_none();
        self.stop_pending
    }

    /// RFC 9000 §3.2: "The receiver only sends MAX_STREAM_DATA frames in the
    /// "Recv" state"; none once the final size is known or we stopped.
    fn in_recv_state(&self) -> bool {
        self.final_size.is_none() && !self.discarding()
    }

    /// Whether a MAX_STREAM_DATA frame is due.
    pub(crate) fn wants_max_stream_data(&self) -> bool {
        self.in_recv_state() && self.window.wants_update()
    }

    /// The MAX_STREAM_DATA limit to send now, if due.
    pub(crate) fn prepare_max_stream_data(
        &self,
        now: Instant,
        rtt: Duration,
    ) -> Option<WindowUpdate> {
        if !self.in_recv_state() {
            return None;
        }
        self.window.prepare_update(now, rtt)
    }

    /// The prepared MAX_STREAM_DATA was written.
    pub(crate) fn commit_max_stream_data(&mut self, update: WindowUpdate, now: Instant) {
        self.window.commit(update, now);
    }

    /// A MAX_STREAM_DATA frame carrying `max` was lost. Returns whether a
    /// frame is due again.
    pub(crate) fn max_stream_data_lost(&mut self, max: u64) -> bool {
        self.window.on_lost(max) && self.in_recv_state()
    }

    /// A terminal state the application has seen: "Data Read", "Reset
    /// Read", or stopped with the final size known (nothing more to count).
    pub(crate) fn is_done(&self) -> bool {
        self.fin_read || self.reset_read || (self.stopped.is_some() && self.final_size.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX_PIECES: usize = 64;

    fn stream(window: u64) -> (RecvStream, RecvWindow) {
        (
            RecvStream::new(window, window),
            RecvWindow::new(1 << 30, 1 << 30),
        )
    }

    fn data(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 13 % 256) as u8).collect()
    }

    fn read_all(s: &mut RecvStream) -> (Vec<u8>, bool) {
        let mut out = Vec::new();
        let mut buf = [0u8; 7];
        loop {
            match s.read(&mut buf).unwrap() {
                None => return (out, false),
                Some((n, fin)) => {
                    out.extend_from_slice(&buf[..n]);
                    if fin {
                        return (out, true);
                    }
                }
            }
        }
    }

    #[test]
    fn in_order_data_is_readable_at_once() {
        let (mut s, mut c) = stream(1000);
        let d = data(100);
        assert_eq!(s.on_data(0, &d[..60], false, &mut c, MAX_PIECES), Ok(true));
        assert_eq!(s.on_data(60, &d[60..], true, &mut c, MAX_PIECES), Ok(true));
        assert_eq!(read_all(&mut s), (d, true));
        assert!(s.is_done());
        assert_eq!(s.read(&mut [0; 4]), Err(ReadError::ClosedStream));
    }

    #[test]
    fn out_of_order_pieces_with_overlaps_reassemble() {
        let (mut s, mut c) = stream(1000);
        let d = data(300);
        assert_eq!(
            s.on_data(200, &d[200..300], true, &mut c, MAX_PIECES),
            Ok(false)
        );
        assert_eq!(
            s.on_data(50, &d[50..150], false, &mut c, MAX_PIECES),
            Ok(false)
        );
        assert_eq!(
            s.on_data(100, &d[100..250], false, &mut c, MAX_PIECES),
            Ok(false)
        );
        assert_eq!(s.pieces.len(), 1);
        assert!(!s.is_readable());
        assert_eq!(s.on_data(0, &d[0..60], false, &mut c, MAX_PIECES), Ok(true));
        assert!(s.pieces.is_empty());
        assert_eq!(read_all(&mut s), (d, true));
    }

    #[test]
    fn duplicate_data_is_ignored() {
        let (mut s, mut c) = stream(1000);
        let d = data(100);
        s.on_data(0, &d, false, &mut c, MAX_PIECES).unwrap();
        assert_eq!(s.on_data(0, &d[..50], false, &mut c, MAX_PIECES), Ok(false));
        assert_eq!(
            s.on_data(10, &d[10..100], false, &mut c, MAX_PIECES),
            Ok(false)
        );
        assert_eq!(c.received(), 100, "duplicates count once");
        assert_eq!(read_all(&mut s).0, d);
        assert_eq!(
            s.on_data(0, &d, false, &mut c, MAX_PIECES),
            Ok(false),
            "even after reading"
        );
        assert_eq!(s.read(&mut [0; 10]), Ok(None));
    }

    #[test]
    fn read_chunk_splits_without_copying_and_sees_the_fin() {
        let (mut s, mut c) = stream(1000);
        s.on_data(0, b"hello world", true, &mut c, MAX_PIECES)
            .unwrap();
        let (a, fin) = s.read_chunk(5).unwrap().unwrap();
        assert_eq!((&a[..], fin), (&b"hello"[..], false));
        let (b, fin) = s.read_chunk(100).unwrap().unwrap();
        assert_eq!((&b[..], fin), (&b" world"[..], true));
    }

    #[test]
    fn data_beyond_the_window_is_a_flow_control_error() {
        let (mut s, mut c) = stream(100);
        assert!(s.on_data(0, &data(100), false, &mut c, MAX_PIECES).is_ok());
        let e = s.on_data(100, &[1], false, &mut c, MAX_PIECES).unwrap_err();
        assert_eq!(e.code, TransportErrorCode::FLOW_CONTROL_ERROR);
        let (mut s, mut c) = (RecvStream::new(100, 100), RecvWindow::new(50, 50));
        let e = s
            .on_data(0, &data(51), false, &mut c, MAX_PIECES)
            .unwrap_err();
        assert_eq!(
            e.code,
            TransportErrorCode::FLOW_CONTROL_ERROR,
            "connection limit"
        );
    }

    #[test]
    fn final_size_changes_and_data_beyond_it_are_final_size_errors() {
        let (mut s, mut c) = stream(1000);
        s.on_data(0, &data(10), true, &mut c, MAX_PIECES).unwrap();
        let e = s
            .on_data(0, &data(12), true, &mut c, MAX_PIECES)
            .unwrap_err();
        assert_eq!(e.code, TransportErrorCode::FINAL_SIZE_ERROR);
        let e = s.on_data(10, &[1], false, &mut c, MAX_PIECES).unwrap_err();
        assert_eq!(e.code, TransportErrorCode::FINAL_SIZE_ERROR);
        let e = s.on_reset(VarInt::ZERO, 11, &mut c).unwrap_err();
        assert_eq!(e.code, TransportErrorCode::FINAL_SIZE_ERROR);
        // The same final size again is fine.
        assert!(s
            .on_data(5, &data(10)[5..], true, &mut c, MAX_PIECES)
            .is_ok());
        // A FIN below data already received.
        let (mut s, mut c) = stream(1000);
        s.on_data(0, &data(20), false, &mut c, MAX_PIECES).unwrap();
        let e = s
            .on_data(0, &data(10), true, &mut c, MAX_PIECES)
            .unwrap_err();
        assert_eq!(e.code, TransportErrorCode::FINAL_SIZE_ERROR);
    }

    #[test]
    fn reset_accounts_the_final_size_and_releases_credit() {
        let (mut s, mut c) = stream(1000);
        s.on_data(0, &data(30), false, &mut c, MAX_PIECES).unwrap();
        assert_eq!(s.on_reset(VarInt::from_u32(5), 500, &mut c), Ok(true));
        assert_eq!(
            c.received(),
            500,
            "final size counts at the connection level"
        );
        assert_eq!(
            s.read(&mut [0; 10]),
            Err(ReadError::Reset(VarInt::from_u32(5)))
        );
        assert!(s.is_done());
        assert_eq!(
            s.on_reset(VarInt::from_u32(5), 500, &mut c),
            Ok(false),
            "duplicate"
        );
        let e = s.on_data(500, &[1], false, &mut c, MAX_PIECES).unwrap_err();
        assert_eq!(e.code, TransportErrorCode::FINAL_SIZE_ERROR);
        let e = s
            .on_reset(VarInt::ZERO, 1001, &mut RecvWindow::new(0, 0))
            .unwrap_err();
        assert_eq!(e.code, TransportErrorCode::FINAL_SIZE_ERROR);
    }

    #[test]
    fn reset_below_received_data_is_a_final_size_error() {
        let (mut s, mut c) = stream(1000);
        s.on_data(0, &data(30), false, &mut c, MAX_PIECES).unwrap();
        let e = s.on_reset(VarInt::ZERO, 20, &mut c).unwrap_err();
        assert_eq!(e.code, TransportErrorCode::FINAL_SIZE_ERROR);
    }

    #[test]
    fn reset_beyond_the_window_is_a_flow_control_error() {
        let (mut s, mut c) = stream(100);
        let e = s.on_reset(VarInt::ZERO, 101, &mut c).unwrap_err();
        assert_eq!(e.code, TransportErrorCode::FLOW_CONTROL_ERROR);
    }

    #[test]
    fn stop_discards_and_counts_later_data_as_consumed() {
        let (mut s, mut c) = stream(1000);
        s.on_data(0, &data(100), false, &mut c, MAX_PIECES).unwrap();
        assert_eq!(s.stop(VarInt::from_u32(3), &mut c), Ok(true));
        assert_eq!(s.stop_frame(), Some(VarInt::from_u32(3)));
        s.stop_sent();
        assert!(s.stop_lost(), "lost before the peer reset: resend");
        s.on_data(100, &data(50), false, &mut c, MAX_PIECES)
            .unwrap();
        assert_eq!(c.received(), 150);
        assert_eq!(s.read(&mut [0; 4]), Err(ReadError::ClosedStream));
        assert!(!s.is_done(), "final size unknown");
        assert_eq!(s.on_reset(VarInt::from_u32(3), 150, &mut c), Ok(false));
        assert!(s.is_done());
        assert!(!s.stop_lost(), "not after the reset");
        assert!(!s.wants_max_stream_data());
    }

    #[test]
    fn too_many_pieces_is_an_error() {
        let (mut s, mut c) = stream(10_000);
        for i in 0..4u64 {
            s.on_data(10 + i * 10, &[1], false, &mut c, 4).unwrap();
        }
        let e = s.on_data(100, &[1], false, &mut c, 4).unwrap_err();
        assert_eq!(e.code, TransportErrorCode::INTERNAL_ERROR);
    }

    #[test]
    fn max_stream_data_is_due_after_half_the_window_is_read() {
        let (mut s, mut c) = stream(100);
        s.on_data(0, &data(100), false, &mut c, MAX_PIECES).unwrap();
        s.read(&mut [0; 49]).unwrap();
        assert!(!s.wants_max_stream_data());
        s.read(&mut [0; 1]).unwrap();
        assert!(s.wants_max_stream_data());
        let t = crate::streams::test_instant();
        let u = s.prepare_max_stream_data(t, Duration::ZERO).unwrap();
        assert_eq!(u.max, 150);
        s.commit_max_stream_data(u, t);
        assert!(!s.wants_max_stream_data());
        assert!(!s.max_stream_data_lost(100), "an older limit is moot");
        assert!(s.max_stream_data_lost(150));
    }
}
