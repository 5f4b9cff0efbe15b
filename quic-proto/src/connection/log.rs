//! What each sent packet carried, kept outside the sent-packet records.
//!
//! A sent packet's record (in [`crate::recovery::SentPackets`]) is a
//! [`LogSpan`]: the position and count of its entries in this log. When the
//! packet is acknowledged or lost, the connection takes its entries back and
//! hands each to the component that wrote it. Entries are freed from the
//! front as packets leave, so the log holds only what is in flight.

use std::collections::VecDeque;

use super::crypto_stream::CryptoRecord;
use crate::ack::AckRecord;
use crate::cid_manager::CidRecord;
use crate::streams::StreamRecord;

/// One frame worth remembering until its packet's fate is known.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Record {
    /// A CRYPTO frame.
    Crypto(CryptoRecord),
    /// An ACK frame: when acknowledged, the peer has seen it (RFC 9000 §13.2.4).
    Ack(AckRecord),
    /// A stream or flow-control frame.
    Stream(StreamRecord),
    /// NEW_CONNECTION_ID or RETIRE_CONNECTION_ID.
    Cid(CidRecord),
    /// HANDSHAKE_DONE (resent until acknowledged, RFC 9000 §13.3).
    HandshakeDone,
}

/// Where a packet's entries sit in the log.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct LogSpan {
    start: u64,
    len: u16,
}

/// The log of in-flight frames.
#[derive(Debug, Default)]
pub(crate) struct FrameLog {
    /// The absolute index of `entries[0]`.
    base: u64,
    entries: VecDeque<Option<Record>>,
    /// Where the packet being built starts.
    open: u64,
}

impl FrameLog {
    /// Starts the entries of a new packet.
    pub fn begin(&mut self) {
        self.open = self.base + self.entries.len() as u64;
    }

    /// Adds an entry to the packet being built.
    pub fn push(&mut self, r: Record) {
        self.entries.push_back(Some(r));
    }

    /// Closes the packet being built and returns its span.
    pub fn finish(&mut self) -> LogSpan {
        let end = self.base + self.entries.len() as u64;
        LogSpan {
            start: self.open,
            len: (end - self.open).min(u64::from(u16::MAX)) as u16,
        }
    }

    /// Drops the entries of a packet that was not sent after all.
    pub fn abandon(&mut self) {
        let keep = (self.open - self.base) as usize;
        self.entries.truncate(keep);
    }

    /// Takes a packet's entries out of the log, calling `f` on each.
    pub fn take(&mut self, span: LogSpan, mut f: impl FnMut(Record)) {
        if span.start == self.base {
            // The oldest packet in the log (the usual case): pop its
            // entries instead of leaving holes to sweep.
            for _ in 0..span.len {
                let Some(slot) = self.entries.pop_front() else {
                    break;
                };
                self.base += 1;
                if let Some(r) = slot {
                    f(r);
                }
            }
        } else {
            for i in span.start..span.start + u64::from(span.len) {
                let Some(slot) = i
                    .checked_sub(self.base)
                    .and_then(|at| self.entries.get_mut(at as usize))
                else {
                    continue;
                };
                if let Some(r) = slot.take() {
                    f(r);
                }
            }
        }
        while let Some(None) = self.entries.front() {
            self.entries.pop_front();
            self.base += 1;
        }
    }

    /// How many entries are held (for tests and stats).
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_freed_as_packets_leave() {
        let mut log = FrameLog::default();
        let mut spans = Vec::new();
        for _ in 0..3 {
            log.begin();
            log.push(Record::HandshakeDone);
            log.push(Record::HandshakeDone);
            spans.push(log.finish());
        }
        let mut n = 0;
        log.take(spans[1], |_| n += 1);
        assert_eq!((n, log.len()), (2, 6));
        log.take(spans[0], |_| n += 1);
        assert_eq!((n, log.len()), (4, 2));
        log.take(spans[0], |_| n += 1);
        assert_eq!(n, 4, "a span is taken once");
        log.take(spans[2], |_| n += 1);
        assert_eq!((n, log.len()), (6, 0));
    }

    #[test]
    fn abandoned_packets_leave_nothing() {
        let mut log = FrameLog::default();
        log.begin();
        log.push(Record::HandshakeDone);
        log.abandon();
        assert_eq!(log.len(), 0);
    }
}
