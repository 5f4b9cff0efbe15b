//! The sending part of a stream (RFC 9000 §3.1): the send buffer, what is
//! left to (re)transmit, FIN, and RESET_STREAM.
//!
//! # The buffer
//!
//! Unacknowledged data is a queue of `Bytes` chunks tagged with their stream
//! offset, followed by a `BytesMut` tail. Large `Bytes` writes are queued as
//! they are (zero copy); copies from `&[u8]` and small `Bytes` are appended
//! to the tail, which is frozen into a chunk once it is big, so a chatty
//! application does not cost an allocation per write. A frame is written by
//! copying straight from the chunks into the packet; retransmission re-reads
//! the same chunks, so the connection remembers only offsets.
//!
//! Acknowledged ranges above the first unacknowledged byte (`base`) are kept
//! in a [`RangeSet`]; when they join `base`, the chunks below are dropped, so
//! memory is freed as data is acknowledged. Lost ranges (minus anything
//! since acknowledged) wait in another set and are sent before new data.
//!
//! # Credit
//!
//! A write reserves stream flow-control credit (RFC 9000 §2.4: "write data,
//! understanding when stream flow control credit has successfully been
//! reserved"): the buffer never holds bytes beyond the peer's
//! MAX_STREAM_DATA, so buffered data is always sendable as far as the stream
//! is concerned; the connection's MAX_DATA is applied when frames are
//! written.

use std::collections::VecDeque;

use bytes::{Buf, Bytes, BytesMut};

use super::flow::SendCredit;
use super::ranges::RangeSet;
use crate::coding::Encoder;
use crate::frame::{StreamHeader, StreamId};
use crate::VarInt;

/// The tail is frozen into a chunk once it holds this much.
const TAIL_CHUNK: usize = 64 * 1024;
/// `Bytes` writes shorter than this are copied into the tail.
const SMALL_WRITE: usize = 512;
/// An empty tail keeps at most this much capacity.
const TAIL_KEEP: usize = 16 * 1024;

/// Where the FIN bit stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fin {
    /// The application has not finished the stream.
    NotRequested,
    /// Finished; FIN not yet sent.
    Unsent,
    /// Sent, not yet acknowledged.
    InFlight,
    /// Declared lost: send again.
    Lost,
    /// Acknowledged.
    Acked,
}

/// Where our RESET_STREAM stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ResetState {
    Pending,
    InFlight,
    Acked,
}

#[derive(Clone, Copy, Debug)]
struct Reset {
    code: VarInt,
    final_size: u64,
    state: ResetState,
}

/// One STREAM frame written by [`SendStream::write_frame`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Written {
    pub(crate) offset: u64,
    pub(crate) len: u32,
    pub(crate) fin: bool,
    /// Bytes sent for the first time (they consume connection credit).
    pub(crate) fresh: u64,
    /// The encoded size of the frame.
    pub(crate) size: usize,
}

/// The sending part of a stream.
#[derive(Debug)]
pub(crate) struct SendStream {
    /// Data before the tail, each chunk with its offset, from the chunk
    /// holding `base` on (the first may start below `base`).
    chunks: VecDeque<(u64, Bytes)>,
    /// The index in `chunks` where the last frame's data ended: where the
    /// next frame of new data most likely starts. Only a hint, checked
    /// before use (a stale one costs a binary search).
    copy_hint: usize,
    /// The newest unacknowledged bytes, ending at `end`.
    tail: BytesMut,
    /// The first unacknowledged byte; everything below is freed.
    base: u64,
    /// The offset the next written byte gets.
    end: u64,
    /// The first byte never sent.
    sent: u64,
    /// Acknowledged ranges above `base`.
    acked: RangeSet,
    /// Ranges below `sent` to send again.
    lost: RangeSet,
    fin: Fin,
    /// The peer's MAX_STREAM_DATA; `used` is `end` (reserved by writes).
    pub(crate) credit: SendCredit,
    buffer_limit: u64,
    reset: Option<Reset>,
    stop_code: Option<VarInt>,
}

impl SendStream {
    /// An empty sending part: the peer allows `credit` bytes, and at most
    /// `buffer_limit` unacknowledged bytes are buffered.
    pub(crate) fn new(credit: u64, buffer_limit: u64) -> Self {
        Self {
            chunks: VecDeque::new(),
            copy_hint: 0,
            tail: BytesMut::new(),
            base: 0,
            end: 0,
            sent: 0,
            acked: RangeSet::new(),
            lost: RangeSet::new(),
            fin: Fin::NotRequested,
            credit: SendCredit::new(credit),
            buffer_limit,
            reset: None,
            stop_code: None,
        }
    }

    /// Whether the application may still write or finish.
    pub(crate) fn is_writable(&self) -> bool {
        self.fin == Fin::NotRequested && self.reset.is_none()
    }

    /// The STOP_SENDING code the peer sent, if any.
    pub(crate) fn stop_code(&self) -> Option<VarInt> {
        self.stop_code
    }

    /// Bytes buffered and not yet acknowledged.
    pub(crate) fn buffered(&self) -> u64 {
        self.end - self.base
    }

    /// How many bytes a write may take now (ignoring connection limits),
    /// and whether stream credit rather than buffer room is the limit.
    pub(crate) fn room(&self) -> (u64, bool) {
        let credit = self.credit.available();
        let buffer = self.buffer_limit.saturating_sub(self.buffered());
        (credit.min(buffer), credit <= buffer)
    }

    /// Appends a copy of `data` (the caller keeps within [`SendStream::room`]),
    /// in chunks of at most `TAIL_CHUNK` bytes so that memory is released
    /// piecemeal as acknowledgments arrive.
    pub(crate) fn write_copy(&mut self, data: &[u8]) {
        let mut rest = data;
        while !rest.is_empty() {
            let n = (TAIL_CHUNK - self.tail.len()).min(rest.len());
            let (now, later) = rest.split_at(n);
            if self.tail.is_empty() {
                self.tail.reserve(n.max(SMALL_WRITE));
            }
            self.tail.extend_from_slice(now);
            self.advance_end(n);
            if self.tail.len() >= TAIL_CHUNK {
                self.freeze_tail();
            }
            rest = later;
        }
    }

    /// Appends `data` without copying unless it is small.
    pub(crate) fn write_bytes(&mut self, data: Bytes) {
        if data.len() < SMALL_WRITE {
            return self.write_copy(&data);
        }
        self.freeze_tail();
        let len = data.len();
        self.chunks.push_back((self.end, data));
        self.advance_end(len);
    }

    fn advance_end(&mut self, n: usize) {
        self.end = self.end.saturating_add(n as u64);
        self.credit.consume(n as u64);
    }

    fn freeze_tail(&mut self) {
        if !self.tail.is_empty() {
            let start = self.end - self.tail.len() as u64;
            let chunk = self.tail.split().freeze();
            self.chunks.push_back((start, chunk));
        }
    }

    /// Ends the stream after the data written so far. Returns false if it
    /// was already finished or reset.
    pub(crate) fn finish(&mut self) -> bool {
        if !self.is_writable() {
            return false;
        }
        self.fin = Fin::Unsent;
        true
    }

    /// Abandons the stream (RFC 9000 §3.1, "Reset Sent"): drops the buffer,
    /// remembers the final size (the bytes actually sent, which is what the
    /// peer's flow control counted) and queues RESET_STREAM. Returns the
    /// bytes freed, or `None` if already reset or fully acknowledged (a
    /// terminal state, where RFC 9000 §3.1 allows no RESET_STREAM).
    pub(crate) fn reset(&mut self, code: VarInt) -> Option<u64> {
        if self.reset.is_some() || self.is_all_acked() {
            return None;
        }
        let freed = self.buffered();
        self.reset = Some(Reset {
            code,
            final_size: self.sent,
            state: ResetState::Pending,
        });
        self.chunks = VecDeque::new();
        self.tail = BytesMut::new();
        self.acked.clear();
        self.lost.clear();
        self.base = self.end;
        Some(freed)
    }

    /// The peer sent STOP_SENDING: RFC 9000 §3.5, "An endpoint that receives
    /// a STOP_SENDING frame MUST send a RESET_STREAM frame if the stream is
    /// in the "Ready" or "Send" state" and "SHOULD copy the error code". We
    /// reset in "Data Sent" too rather than wait. Returns the bytes freed
    /// if this reset the stream.
    pub(crate) fn on_stop_sending(&mut self, code: VarInt) -> Option<u64> {
        if self.stop_code.is_some() {
            return None;
        }
        self.stop_code = Some(code);
        self.reset(code)
    }

    /// The RESET_STREAM frame to send, if one is due: code and final size.
    pub(crate) fn reset_frame(&self) -> Option<(VarInt, u64)> {
        match self.reset {
            Some(r) if r.state == ResetState::Pending => Some((r.code, r.final_size)),
            _ => None,
        }
    }

    /// The RESET_STREAM frame was written.
    pub(crate) fn reset_sent(&mut self) {
        if let Some(r) = &mut self.reset {
            r.state = ResetState::InFlight;
        }
    }

    /// A RESET_STREAM frame was lost: due again unless acknowledged.
    /// Returns whether it is pending.
    pub(crate) fn reset_lost(&mut self) -> bool {
        match &mut self.reset {
            Some(r) if r.state != ResetState::Acked => {
                r.state = ResetState::Pending;
                true
            }
            _ => false,
        }
    }

    /// A RESET_STREAM frame was acknowledged ("Reset Recvd").
    pub(crate) fn reset_acked(&mut self) {
        if let Some(r) = &mut self.reset {
            r.state = ResetState::Acked;
        }
    }

    /// Whether this part was reset (by us or because the peer stopped it).
    pub(crate) fn is_reset(&self) -> bool {
        self.reset.is_some()
    }

    /// "Data Recvd": every byte and the FIN acknowledged.
    pub(crate) fn is_all_acked(&self) -> bool {
        self.fin == Fin::Acked && self.base == self.end
    }

    /// A terminal state: "Data Recvd" or "Reset Recvd".
    pub(crate) fn is_done(&self) -> bool {
        self.is_all_acked() || matches!(self.reset, Some(r) if r.state == ResetState::Acked)
    }

    /// Whether something can be sent without new connection credit: lost
    /// ranges, a lost FIN, or a FIN after all data was sent.
    pub(crate) fn has_retransmit(&self) -> bool {
        self.reset.is_none()
            && (!self.lost.is_empty()
                || self.fin == Fin::Lost
                || (self.fin == Fin::Unsent && self.sent == self.end))
    }

    /// Whether bytes never sent are waiting.
    pub(crate) fn has_fresh(&self) -> bool {
        self.reset.is_none() && self.sent < self.end
    }

    fn fin_due(&self) -> bool {
        matches!(self.fin, Fin::Unsent | Fin::Lost)
    }

    /// Writes one STREAM frame of at most `space` bytes: a lost range or a
    /// bare FIN when `retransmit`, else new data within `conn_credit`.
    /// `None` if nothing fits or nothing is due.
    pub(crate) fn write_frame<E: Encoder + ?Sized>(
        &mut self,
        id: StreamId,
        space: usize,
        conn_credit: u64,
        retransmit: bool,
        e: &mut E,
    ) -> Option<Written> {
        if self.reset.is_some() {
            return None;
        }
        if retransmit {
            if let Some((start, stop)) = self.lost.first() {
                let header = StreamHeader::new(id, start);
                let (len, with_len) = fit(&header, stop - start, space)?;
                let end = start + len as u64;
                self.lost.remove(start, end);
                return Some(self.emit(header, start, len, with_len, 0, e));
            }
            if self.fin_due() && self.sent == self.end {
                let header = StreamHeader::new(id, self.end);
                // Without Length only if the header fills the space exactly;
                // a Length of 0 takes one byte.
                let with_len = header.fixed_len() != space;
                if header.fixed_len() + usize::from(with_len) > space {
                    return None;
                }
                return Some(self.emit(header, self.end, 0, with_len, 0, e));
            }
            return None;
        }
        let avail = (self.end - self.sent).min(conn_credit);
        if avail == 0 {
            return None;
        }
        let header = StreamHeader::new(id, self.sent);
        let (len, with_len) = fit(&header, avail, space)?;
        let offset = self.sent;
        self.sent += len as u64;
        Some(self.emit(header, offset, len, with_len, len as u64, e))
    }

    /// Writes the frame `header` starts, carrying `[offset, offset + len)`.
    fn emit<E: Encoder + ?Sized>(
        &mut self,
        header: StreamHeader,
        offset: u64,
        len: usize,
        with_len: bool,
        fresh: u64,
        e: &mut E,
    ) -> Written {
        let fin = self.fin_due() && offset + len as u64 == self.end;
        let header_len = header.write(len, fin, with_len, e);
        self.copy_out(offset, len, e);
        if fin {
            self.fin = Fin::InFlight;
        }
        Written {
            size: header_len + len,
            offset,
            // `fit` caps frames at u32::MAX bytes.
            len: u32::try_from(len).unwrap_or(u32::MAX),
            fin,
            fresh,
        }
    }

    /// Copies `[offset, offset + len)` of the buffer into `e`.
    fn copy_out<E: Encoder + ?Sized>(&mut self, offset: u64, len: usize, e: &mut E) {
        // Usually the whole range lies in the chunk where the last frame
        // ended (the hint, which then stays right) or in the tail.
        if let Some(piece) = self.contiguous(offset, len) {
            e.put_slice(piece);
            return;
        }
        let stop = offset + len as u64;
        let mut at = offset;
        let mut i = self.chunk_at(at);
        while at < stop {
            let Some((o, b)) = self.chunks.get(i) else {
                break;
            };
            at = put_piece(b, *o, at, stop, e);
            i += 1;
        }
        // The chunk holding the last byte copied, where new data continues.
        self.copy_hint = i.saturating_sub(1);
        if at < stop {
            let tail_start = self.end - self.tail.len() as u64;
            at = put_piece(&self.tail, tail_start, at, stop, e);
        }
        // Every offset below `sent` is in the buffer while not acknowledged
        // (lost ranges never include acknowledged bytes); keep the frame
        // length right even if that were ever violated.
        debug_assert_eq!(at, stop, "send buffer missing bytes");
        if at < stop {
            e.put_zeros((stop - at) as usize);
        }
    }

    /// `[offset, offset + len)` when one piece of the buffer holds it all:
    /// the chunk at `copy_hint`, or the tail.
    fn contiguous(&self, offset: u64, len: usize) -> Option<&[u8]> {
        let (start, piece) = match self.chunks.get(self.copy_hint) {
            Some((o, b)) if *o <= offset && offset < o + b.len() as u64 => (*o, &b[..]),
            _ => (self.end - self.tail.len() as u64, &self.tail[..]),
        };
        let from = usize::try_from(offset.checked_sub(start)?).ok()?;
        piece.get(from..from.checked_add(len)?)
    }

    /// The index of the first chunk ending after `at` (`chunks.len()` if
    /// none): the hint or the chunk after it when `at` is there, else a
    /// binary search.
    fn chunk_at(&self, at: u64) -> usize {
        let holds = |i: usize| {
            self.chunks
                .get(i)
                .is_some_and(|(o, b)| *o <= at && at < o + b.len() as u64)
        };
        for i in [self.copy_hint, self.copy_hint + 1] {
            if holds(i) {
                return i;
            }
        }
        self.chunks
            .partition_point(|(o, b)| o + b.len() as u64 <= at)
    }

    /// A STREAM frame was acknowledged. Returns the bytes freed.
    pub(crate) fn on_ack(&mut self, offset: u64, len: u32, fin: bool) -> u64 {
        if self.reset.is_some() {
            return 0;
        }
        let old = self.base;
        let start = offset.max(self.base);
        let stop = offset.saturating_add(len.into()).min(self.sent);
        if start < stop {
            if start <= self.base && self.acked.is_empty() {
                // The common case: acknowledgments in order.
                self.base = self.base.max(stop);
            } else {
                self.acked.insert(start, stop);
            }
            if !self.lost.is_empty() {
                self.lost.remove(start, stop);
            }
        }
        if fin && matches!(self.fin, Fin::InFlight | Fin::Lost) {
            self.fin = Fin::Acked;
        }
        while let Some((s, e)) = self.acked.first() {
            if s > self.base {
                break;
            }
            self.base = self.base.max(e);
            self.acked.pop_first();
        }
        self.free_below_base();
        self.base - old
    }

    fn free_below_base(&mut self) {
        // A chunk goes once all of it is acknowledged. One partly
        // acknowledged stays whole: trimming it would free nothing (its
        // bytes are one allocation) and frames only read above `base`.
        while let Some((o, b)) = self.chunks.front() {
            if *o + b.len() as u64 > self.base {
                return;
            }
            self.chunks.pop_front();
            self.copy_hint = self.copy_hint.saturating_sub(1);
        }
        let tail_start = self.end - self.tail.len() as u64;
        if tail_start < self.base {
            let n = ((self.base - tail_start) as usize).min(self.tail.len());
            self.tail.advance(n);
        }
        if self.tail.is_empty() && self.tail.capacity() > TAIL_KEEP {
            self.tail = BytesMut::new();
        }
    }

    /// A STREAM frame was declared lost: its bytes not since acknowledged
    /// are queued for retransmission, and its FIN if it carried one.
    /// Returns whether anything is due again.
    pub(crate) fn on_lost(&mut self, offset: u64, len: u32, fin: bool) -> bool {
        if self.reset.is_some() {
            return false;
        }
        let start = offset.max(self.base);
        let stop = offset.saturating_add(len.into()).min(self.sent);
        if start < stop {
            let lost = &mut self.lost;
            self.acked
                .for_each_gap(start, stop, |a, b| lost.insert(a, b));
        }
        if fin && self.fin == Fin::InFlight {
            self.fin = Fin::Lost;
        }
        self.has_retransmit()
    }
}

/// Copies the part of `piece` (starting at stream offset `start`) within
/// `[at, stop)` and returns the offset reached.
fn put_piece<E: Encoder + ?Sized>(piece: &[u8], start: u64, at: u64, stop: u64, e: &mut E) -> u64 {
    let from = at.saturating_sub(start);
    let to = (stop - start).min(piece.len() as u64);
    let Some(bytes) = usize::try_from(from)
        .ok()
        .zip(usize::try_from(to).ok())
        .and_then(|(f, t)| piece.get(f..t))
    else {
        return at;
    };
    e.put_slice(bytes);
    start + to
}

/// How many of `avail` bytes a frame starting with `header` may carry in `space`
/// bytes, and whether it needs a Length field: none when the data fills the
/// space exactly, since such a frame is the last of its packet (RFC 9000
/// §19.8). `None` when not a byte fits.
fn fit(header: &StreamHeader, avail: u64, space: usize) -> Option<(usize, bool)> {
    const CAP: usize = u32::MAX as usize;
    let fill = header.max_data_len(space, false);
    if fill > 0 && fill <= CAP && avail >= fill as u64 {
        return Some((fill, false));
    }
    let n = header
        .max_data_len(space, true)
        .min(CAP)
        .min(usize::try_from(avail).unwrap_or(usize::MAX));
    (n > 0).then_some((n, true))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{Dir, Frame, Frames};
    use crate::Side;

    fn id() -> StreamId {
        StreamId::new(Side::Client, Dir::Bi, 0)
    }

    /// Writes one frame into a fresh vector and decodes it back.
    fn frame(s: &mut SendStream, space: usize, conn: u64, rtx: bool) -> Option<(Written, Vec<u8>)> {
        let mut v = Vec::new();
        let w = s.write_frame(id(), space, conn, rtx, &mut v)?;
        assert!(v.len() <= space);
        let Some(Ok(Frame::Stream(f))) = Frames::new(&v).next() else {
            panic!("not a STREAM frame")
        };
        assert_eq!(
            (f.offset.into_inner(), f.data.len() as u32, f.fin),
            (w.offset, w.len, w.fin)
        );
        Some((w, f.data.to_vec()))
    }

    fn pattern(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 % 251) as u8).collect()
    }

    #[test]
    fn writes_are_limited_by_credit_and_buffer() {
        let mut s = SendStream::new(100, 60);
        assert_eq!(s.room(), (60, false));
        s.write_copy(&[1; 60]);
        assert_eq!(s.room(), (0, false));
        let mut s = SendStream::new(10, 60);
        assert_eq!(s.room(), (10, true));
        s.write_copy(&[1; 10]);
        assert_eq!(s.room(), (0, true));
        assert!(s.credit.raise(20));
        assert_eq!(s.room(), (10, true));
    }

    #[test]
    fn frames_gather_across_copied_and_zero_copy_chunks() {
        let data = pattern(5000);
        let mut s = SendStream::new(1 << 20, 1 << 20);
        s.write_copy(&data[..100]);
        s.write_bytes(Bytes::copy_from_slice(&data[100..3000]));
        s.write_bytes(Bytes::copy_from_slice(&data[3000..3010])); // small: copied
        s.write_copy(&data[3010..]);
        assert!(s.finish());
        let mut got = Vec::new();
        let mut fins = Vec::new();
        while let Some((w, bytes)) = frame(&mut s, 1200, u64::MAX, false) {
            assert_eq!(w.offset as usize, got.len());
            got.extend_from_slice(&bytes);
            fins.push(w.fin);
        }
        assert_eq!(got, data);
        assert_eq!(fins.iter().filter(|&&f| f).count(), 1);
        assert_eq!(fins.last(), Some(&true), "FIN rides the last frame");
        assert!(frame(&mut s, 1200, u64::MAX, true).is_none());
    }

    #[test]
    fn finish_after_all_data_was_sent_sends_a_bare_fin() {
        let mut s = SendStream::new(1 << 20, 1 << 20);
        s.write_copy(&pattern(10));
        frame(&mut s, 1200, u64::MAX, false).unwrap();
        assert!(!s.has_retransmit());
        s.finish();
        assert!(s.has_retransmit() && !s.has_fresh());
        let (w, _) = frame(&mut s, 1200, 0, true).expect("bare FIN");
        assert!(w.fin && w.len == 0 && w.offset == 10);
    }

    #[test]
    fn large_copied_writes_are_freed_chunk_by_chunk_as_acked() {
        let data = pattern(3 * TAIL_CHUNK + 10);
        let mut s = SendStream::new(1 << 30, 1 << 30);
        s.write_copy(&data);
        assert_eq!(s.chunks.len(), 3);
        let len = data.len() as u64;
        frame(&mut s, data.len() + 100, u64::MAX, false).unwrap();
        assert_eq!(
            s.on_ack(0, TAIL_CHUNK as u32 + 1, false),
            TAIL_CHUNK as u64 + 1
        );
        assert_eq!(s.chunks.len(), 2, "the first chunk is dropped");
        assert_eq!(s.on_ack(0, len as u32, false), len - TAIL_CHUNK as u64 - 1);
        assert!(s.chunks.is_empty() && s.tail.is_empty());
    }

    #[test]
    fn last_frame_fills_space_without_length() {
        let mut s = SendStream::new(1 << 20, 1 << 20);
        s.write_copy(&pattern(2000));
        let mut v = Vec::new();
        s.write_frame(id(), 500, u64::MAX, false, &mut v).unwrap();
        assert_eq!(v.len(), 500);
        assert_eq!(
            v[0] & 0x02,
            0,
            "LEN bit clear when the frame fills the space"
        );
        let mut v = Vec::new();
        let w = s.write_frame(id(), 5000, u64::MAX, false, &mut v).unwrap();
        assert!(v.len() < 5000);
        assert_ne!(v[0] & 0x02, 0, "LEN bit set otherwise");
        assert_eq!(w.offset + u64::from(w.len), 2000);
    }

    #[test]
    fn connection_credit_limits_fresh_data_only() {
        let mut s = SendStream::new(1 << 20, 1 << 20);
        s.write_copy(&pattern(1000));
        let (w, _) = frame(&mut s, 1200, 300, false).unwrap();
        assert_eq!((w.len, w.fresh), (300, 300));
        assert!(frame(&mut s, 1200, 0, false).is_none());
        s.on_lost(0, 300, false);
        let (w, _) = frame(&mut s, 1200, 0, true).unwrap();
        assert_eq!((w.offset, w.len, w.fresh), (0, 300, 0));
    }

    #[test]
    fn lost_data_is_resent_byte_identical_and_acked_data_freed() {
        let data = pattern(3000);
        let mut s = SendStream::new(1 << 20, 1 << 20);
        s.write_bytes(Bytes::from(data.clone()));
        let mut sent = Vec::new();
        while let Some((w, bytes)) = frame(&mut s, 1000, u64::MAX, false) {
            sent.push((w, bytes));
        }
        assert_eq!(s.buffered(), 3000);
        // Acknowledge all frames but the second, which is lost.
        let (first, mid) = (sent[0].0, sent[1].0);
        assert_eq!(
            s.on_ack(first.offset, first.len, first.fin),
            u64::from(first.len)
        );
        for (last, _) in &sent[2..] {
            assert_eq!(
                s.on_ack(last.offset, last.len, last.fin),
                0,
                "gap before it"
            );
        }
        assert!(s.on_lost(mid.offset, mid.len, mid.fin));
        let (w, bytes) = frame(&mut s, 2000, 0, true).unwrap();
        assert_eq!((w.offset, w.len), (mid.offset, mid.len));
        assert_eq!(bytes, sent[1].1, "retransmission is byte-identical");
        assert_eq!(
            s.on_ack(w.offset, w.len, false),
            3000 - u64::from(first.len)
        );
        assert_eq!(s.buffered(), 0);
        assert!(s.chunks.is_empty());
    }

    #[test]
    fn spuriously_lost_then_acked_data_is_not_resent() {
        let mut s = SendStream::new(1 << 20, 1 << 20);
        s.write_copy(&pattern(100));
        let (w, _) = frame(&mut s, 1200, u64::MAX, false).unwrap();
        s.on_lost(w.offset, w.len, w.fin);
        s.on_ack(w.offset, w.len, w.fin);
        assert!(!s.has_retransmit());
        // Loss after the ack queues nothing either.
        assert!(!s.on_lost(w.offset, w.len, w.fin));
    }

    #[test]
    fn fin_rides_the_last_frame_and_is_resent_when_lost() {
        let mut s = SendStream::new(1 << 20, 1 << 20);
        s.write_copy(&pattern(10));
        s.finish();
        let (w, _) = frame(&mut s, 1200, u64::MAX, false).unwrap();
        assert!(w.fin);
        assert!(!s.has_retransmit());
        assert!(s.on_lost(w.offset, w.len, true));
        let (w2, _) = frame(&mut s, 1200, 0, true).unwrap();
        assert!(w2.fin && w2.len == 10);
        s.on_ack(w2.offset, w2.len, true);
        assert!(s.is_all_acked() && s.is_done());
    }

    #[test]
    fn reset_drops_the_buffer_and_keeps_the_sent_size_as_final_size() {
        let mut s = SendStream::new(1 << 20, 1 << 20);
        s.write_copy(&pattern(1000));
        frame(&mut s, 500, u64::MAX, false).unwrap();
        let sent = s.sent;
        assert_eq!(s.reset(VarInt::from_u32(7)), Some(1000));
        assert_eq!(s.buffered(), 0);
        assert_eq!(s.reset_frame(), Some((VarInt::from_u32(7), sent)));
        assert!(!s.has_fresh() && !s.has_retransmit());
        s.reset_sent();
        assert_eq!(s.reset_frame(), None);
        assert!(s.reset_lost());
        assert!(s.reset_frame().is_some());
        s.reset_sent();
        s.reset_acked();
        assert!(s.is_done());
        assert!(!s.reset_lost(), "acknowledged reset is not resent");
        assert_eq!(s.reset(VarInt::ZERO), None);
    }

    #[test]
    fn stop_sending_resets_with_the_peer_code_once() {
        let mut s = SendStream::new(1 << 20, 1 << 20);
        s.write_copy(b"abc");
        assert_eq!(s.on_stop_sending(VarInt::from_u32(9)), Some(3));
        assert_eq!(s.stop_code(), Some(VarInt::from_u32(9)));
        assert_eq!(s.reset_frame().map(|r| r.0), Some(VarInt::from_u32(9)));
        assert_eq!(s.on_stop_sending(VarInt::from_u32(1)), None);
    }

    #[test]
    fn bogus_acks_and_losses_are_clamped() {
        let mut s = SendStream::new(1 << 20, 1 << 20);
        s.write_copy(&pattern(100));
        assert_eq!(s.on_ack(50, u32::MAX, true), 0);
        assert!(!s.on_lost(u64::MAX - 5, u32::MAX, true));
        let (w, _) = frame(&mut s, 1200, u64::MAX, false).unwrap();
        assert_eq!((w.offset, w.len), (0, 100));
    }
}
