//! The CRYPTO stream of one packet-number space (RFC 9000 §7.5, §19.6).
//!
//! TLS handshake bytes travel in CRYPTO frames, one independent byte stream
//! per encryption level. The send side keeps every byte until the level's
//! keys are discarded (handshake flights are a few kilobytes) and a short
//! sorted list of ranges still to (re)send; the receive side reassembles
//! out-of-order data within a bounded window.

use std::collections::BTreeMap;
use std::ops::Range;

use crate::ack::RangeSet;
use crate::coding::Encoder;
use crate::frame::CryptoFrame;
use crate::{TransportError, TransportErrorCode};

/// How far ahead of the read offset we buffer CRYPTO data. RFC 9000 §7.5:
/// "Implementations MUST support buffering at least 4096 bytes of data
/// received in out-of-order CRYPTO frames"; certificate chains make more
/// worthwhile.
pub(crate) const MAX_CRYPTO_BUFFER: u64 = 64 * 1024;

/// What a CRYPTO frame carried, for loss recovery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CryptoRecord {
    pub offset: u64,
    pub len: u32,
}

/// One level's CRYPTO stream, both directions. Nothing is allocated until
/// the first byte is written or received: the application data space has
/// a CRYPTO stream that most connections never use (only a server's
/// NewSessionTicket travels there).
#[derive(Debug, Default)]
pub(crate) struct CryptoStream(Option<Box<Buffers>>);

impl CryptoStream {
    fn buffers(&mut self) -> &mut Buffers {
        self.0.get_or_insert_with(Default::default)
    }

    /// Queues handshake bytes from TLS.
    pub fn write(&mut self, data: &[u8]) {
        if !data.is_empty() {
            self.buffers().write(data);
        }
    }

    /// Whether there is anything to send.
    pub fn has_pending(&self) -> bool {
        self.0.as_ref().is_some_and(|b| b.has_pending())
    }

    /// Writes at most one CRYPTO frame of at most `budget` bytes.
    pub fn write_frame<E: Encoder + ?Sized>(
        &mut self,
        e: &mut E,
        budget: usize,
    ) -> Option<CryptoRecord> {
        self.0.as_mut()?.write_frame(e, budget)
    }

    /// A frame was lost: its bytes are sent again.
    pub fn on_lost(&mut self, r: CryptoRecord) {
        if let Some(b) = &mut self.0 {
            b.on_lost(r);
        }
    }

    /// A frame was acknowledged: its bytes need never be sent again.
    pub fn on_acked(&mut self, r: CryptoRecord) {
        if let Some(b) = &mut self.0 {
            b.on_acked(r);
        }
    }

    /// Whether any byte sent has not been acknowledged.
    pub fn has_unacked(&self) -> bool {
        self.0.as_ref().is_some_and(|b| b.has_unacked())
    }

    /// Queues every byte not yet acknowledged again: what a PTO probe
    /// should carry (RFC 9002 §6.2.4: "retransmit previously sent
    /// unacknowledged data").
    pub fn requeue_unacked(&mut self) {
        if let Some(b) = &mut self.0 {
            b.requeue_unacked();
        }
    }

    /// Requeues everything sent so far (after a Retry, RFC 9000 §17.2.5.2,
    /// or when probing with all unacknowledged data).
    pub fn resend_all(&mut self) {
        if let Some(b) = &mut self.0 {
            b.resend_all();
        }
    }

    /// Takes a received CRYPTO frame and calls `deliver` with every byte
    /// that is now in order.
    ///
    /// Data more than [`MAX_CRYPTO_BUFFER`] beyond what TLS has consumed is
    /// CRYPTO_BUFFER_EXCEEDED (RFC 9000 §7.5).
    pub fn on_frame(
        &mut self,
        frame: &CryptoFrame<'_>,
        deliver: impl FnMut(&[u8]) -> Result<(), TransportError>,
    ) -> Result<(), TransportError> {
        self.buffers().on_frame(frame, deliver)
    }
}

/// The state of a CRYPTO stream in use.
#[derive(Debug)]
struct Buffers {
    /// Every byte written so far, from offset 0.
    sent: Vec<u8>,
    /// Ranges of `sent` waiting to be (re)sent, sorted and disjoint.
    pending: Vec<Range<u64>>,
    /// Ranges the peer has acknowledged.
    acked: RangeSet,
    /// The next offset the TLS stack has not yet been given.
    read_offset: u64,
    /// Out-of-order data, keyed by offset; never overlapping.
    out_of_order: BTreeMap<u64, Vec<u8>>,
}

impl Default for Buffers {
    fn default() -> Self {
        Self {
            sent: Vec::new(),
            pending: Vec::new(),
            acked: RangeSet::unbounded(),
            read_offset: 0,
            out_of_order: BTreeMap::new(),
        }
    }
}

impl Buffers {
    fn write(&mut self, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        let start = self.sent.len() as u64;
        self.sent.extend_from_slice(data);
        self.add_pending(start..start + data.len() as u64);
    }

    /// Whether there is anything to send.
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Writes at most one CRYPTO frame of at most `budget` bytes.
    pub fn write_frame<E: Encoder + ?Sized>(
        &mut self,
        e: &mut E,
        budget: usize,
    ) -> Option<CryptoRecord> {
        let range = self.pending.first()?.clone();
        let len =
            CryptoFrame::max_data_len(range.start, budget).min((range.end - range.start) as usize);
        if len == 0 {
            return None;
        }
        let start = range.start as usize;
        CryptoFrame::encode_header(range.start, len, e);
        e.put_slice(&self.sent[start..start + len]);
        if len as u64 == range.end - range.start {
            self.pending.remove(0);
        } else {
            self.pending[0].start += len as u64;
        }
        Some(CryptoRecord {
            offset: range.start,
            len: len as u32,
        })
    }

    /// A frame was lost: its bytes are sent again.
    pub fn on_lost(&mut self, r: CryptoRecord) {
        let end = (r.offset + u64::from(r.len)).min(self.sent.len() as u64);
        if r.offset < end {
            self.add_pending(r.offset..end);
        }
    }

    /// A frame was acknowledged: its bytes need never be sent again.
    pub fn on_acked(&mut self, r: CryptoRecord) {
        if r.len > 0 {
            self.acked
                .insert_range(r.offset..=r.offset + u64::from(r.len) - 1);
        }
    }

    /// Whether any byte sent has not been acknowledged.
    pub fn has_unacked(&self) -> bool {
        let total = self.sent.len() as u64;
        total > 0 && !self.acked.contains_range(0..=total - 1)
    }

    /// Queues every byte not yet acknowledged again: what a PTO probe
    /// should carry (RFC 9002 §6.2.4: "retransmit previously sent
    /// unacknowledged data").
    pub fn requeue_unacked(&mut self) {
        let mut end = self.sent.len() as u64;
        let gaps: Vec<Range<u64>> = self
            .acked
            .iter()
            .filter_map(|r| {
                let gap = (*r.end() + 1)..end;
                end = (*r.start()).min(end);
                (gap.start < gap.end).then_some(gap)
            })
            .collect();
        for gap in gaps {
            self.add_pending(gap);
        }
        if end > 0 {
            self.add_pending(0..end);
        }
    }

    /// Requeues everything sent so far (after a Retry, RFC 9000 §17.2.5.2,
    /// or when probing with all unacknowledged data).
    pub fn resend_all(&mut self) {
        if !self.sent.is_empty() {
            self.pending.clear();
            self.pending.push(0..self.sent.len() as u64);
        }
    }

    fn add_pending(&mut self, mut new: Range<u64>) {
        // Merge with every overlapping or adjacent range; the list is short.
        let mut i = 0;
        while i < self.pending.len() {
            let r = &self.pending[i];
            if r.end < new.start {
                i += 1;
            } else if new.end < r.start {
                break;
            } else {
                new = new.start.min(r.start)..new.end.max(r.end);
                self.pending.remove(i);
            }
        }
        self.pending.insert(i, new);
    }

    /// Takes a received CRYPTO frame and calls `deliver` with every byte
    /// that is now in order.
    ///
    /// Data more than [`MAX_CRYPTO_BUFFER`] beyond what TLS has consumed is
    /// CRYPTO_BUFFER_EXCEEDED (RFC 9000 §7.5).
    pub fn on_frame(
        &mut self,
        frame: &CryptoFrame<'_>,
        mut deliver: impl FnMut(&[u8]) -> Result<(), TransportError>,
    ) -> Result<(), TransportError> {
        let offset = frame.offset.into_inner();
        let end = offset.saturating_add(frame.data.len() as u64);
        if end > self.read_offset.saturating_add(MAX_CRYPTO_BUFFER) {
            return Err(TransportError::new(
                TransportErrorCode::CRYPTO_BUFFER_EXCEEDED,
                "CRYPTO data too far ahead",
            ));
        }
        if end <= self.read_offset {
            return Ok(()); // a retransmission of what we have
        }
        if offset <= self.read_offset {
            let skip = (self.read_offset - offset) as usize;
            deliver(&frame.data[skip..])?;
            self.read_offset = end;
        } else {
            self.store(offset, frame.data);
        }
        // Drain what has become contiguous.
        while let Some(entry) = self.out_of_order.first_entry() {
            let at = *entry.key();
            if at > self.read_offset {
                break;
            }
            let data = entry.remove();
            let end = at + data.len() as u64;
            if end > self.read_offset {
                deliver(&data[(self.read_offset - at) as usize..])?;
                self.read_offset = end;
            }
        }
        Ok(())
    }

    /// Keeps out-of-order data, trimmed against what is already stored.
    fn store(&mut self, mut offset: u64, mut data: &[u8]) {
        // Trim against the piece that starts at or before `offset`.
        if let Some((&at, prev)) = self.out_of_order.range(..=offset).next_back() {
            let prev_end = at + prev.len() as u64;
            if prev_end >= offset + data.len() as u64 {
                return;
            }
            if prev_end > offset {
                data = &data[(prev_end - offset) as usize..];
                offset = prev_end;
            }
        }
        // Store the gaps between later pieces.
        let end = offset + data.len() as u64;
        let later: Vec<(u64, u64)> = self
            .out_of_order
            .range(offset..end)
            .map(|(&at, d)| (at, at + d.len() as u64))
            .collect();
        let mut cursor = offset;
        for (at, piece_end) in later {
            if at > cursor {
                let slice = &data[(cursor - offset) as usize..(at - offset) as usize];
                self.out_of_order.insert(cursor, slice.to_vec());
            }
            cursor = cursor.max(piece_end);
        }
        if cursor < end {
            self.out_of_order
                .insert(cursor, data[(cursor - offset) as usize..].to_vec());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{Frame, Frames};
    use crate::VarInt;

    fn frame(offset: u64, data: &[u8]) -> CryptoFrame<'_> {
        CryptoFrame {
            offset: VarInt::from_u64(offset).unwrap(),
            data,
        }
    }

    fn collect(s: &mut CryptoStream, frames: &[(u64, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        for &(o, d) in frames {
            s.on_frame(&frame(o, d), |b| {
                out.extend_from_slice(b);
                Ok(())
            })
            .unwrap();
        }
        out
    }

    #[test]
    fn out_of_order_and_overlapping_data_is_delivered_once_in_order() {
        let mut s = CryptoStream::default();
        let out = collect(
            &mut s,
            &[
                (6, b"ghij"),
                (2, b"cdefgh"),
                (0, b"ab"),
                (0, b"abc"),
                (8, b"ijkl"),
            ],
        );
        assert_eq!(out, b"abcdefghijkl");
        assert!(s.0.as_ref().unwrap().out_of_order.is_empty());
    }

    #[test]
    fn data_too_far_ahead_is_crypto_buffer_exceeded() {
        let mut s = CryptoStream::default();
        let err = s
            .on_frame(&frame(MAX_CRYPTO_BUFFER, b"x"), |_| Ok(()))
            .unwrap_err();
        assert_eq!(err.code, TransportErrorCode::CRYPTO_BUFFER_EXCEEDED);
    }

    #[test]
    fn lost_frames_are_resent_with_the_same_bytes() {
        let mut s = CryptoStream::default();
        s.write(&[7u8; 3000]);
        let mut records = Vec::new();
        let mut wire = Vec::new();
        while let Some(r) = s.write_frame(&mut wire, 1200) {
            records.push(r);
        }
        assert_eq!(records.iter().map(|r| u64::from(r.len)).sum::<u64>(), 3000);
        s.on_lost(records[1]);
        let mut again = Vec::new();
        let r = s.write_frame(&mut again, 1200).unwrap();
        assert_eq!(r, records[1]);
        let Some(Ok(Frame::Crypto(f))) = Frames::new(&again).next() else {
            panic!()
        };
        assert_eq!(f.offset.into_inner(), records[1].offset);
        assert!(!s.has_pending());
    }

    #[test]
    fn a_probe_requeues_exactly_the_unacknowledged_bytes() {
        let mut s = CryptoStream::default();
        s.write(&[1; 100]);
        s.buffers().pending.clear();
        s.on_acked(CryptoRecord {
            offset: 10,
            len: 20,
        });
        s.on_acked(CryptoRecord {
            offset: 50,
            len: 10,
        });
        assert!(s.has_unacked());
        s.requeue_unacked();
        assert_eq!(s.buffers().pending, vec![0..10, 30..50, 60..100]);
        s.on_acked(CryptoRecord {
            offset: 0,
            len: 100,
        });
        assert!(!s.has_unacked());
    }

    #[test]
    fn pending_ranges_merge() {
        let mut s = CryptoStream::default();
        s.write(&[0; 100]);
        s.buffers().pending.clear();
        s.buffers().add_pending(10..20);
        s.buffers().add_pending(30..40);
        s.buffers().add_pending(20..30);
        assert_eq!(s.buffers().pending, vec![10..40]);
    }
}
