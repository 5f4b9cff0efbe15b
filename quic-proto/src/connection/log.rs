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

/// The entries of consecutive packets (each span starting where the
/// previous one ends), to take out of the log in one step.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct LogRun {
    start: u64,
    end: u64,
}

impl LogRun {
    /// Adds the next packet's `span` if it continues the run (an empty run
    /// takes any span); returns whether it did.
    pub fn append(&mut self, span: LogSpan) -> bool {
        if self.start == self.end {
            *self = span.into();
            true
        } else if span.start == self.end {
            self.end += u64::from(span.len);
            true
        } else {
            false
        }
    }
}

impl From<LogSpan> for LogRun {
    fn from(span: LogSpan) -> Self {
        Self {
            start: span.start,
            end: span.start + u64::from(span.len),
        }
    }
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
    pub fn take(&mut self, span: LogSpan, f: impl FnMut(Record)) {
        self.take_run(span.into(), f);
    }

    /// Takes the entries of a run of packets out of the log, calling `f`
    /// on each in log order: the same calls as [`FrameLog::take`] of each
    /// packet of the run in turn.
    pub fn take_run(&mut self, run: LogRun, mut f: impl FnMut(Record)) {
        if run.start == self.base {
            // The oldest packets in the log (the usual case): pop their
            // entries instead of leaving holes to sweep.
            let n = (run.end - run.start).min(self.entries.len() as u64);
            self.base += n;
            self.entries.drain(..n as usize).flatten().for_each(f);
        } else {
            for i in run.start..run.end {
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
    fn a_run_hands_over_what_its_packets_would() {
        let mut log = FrameLog::default();
        let mut spans = Vec::new();
        for i in 0..4 {
            log.begin();
            for _ in 0..i {
                log.push(Record::HandshakeDone);
            }
            spans.push(log.finish());
        }
        // A run away from the front (packet 0 still in the log), then one
        // from the front.
        let mut run = LogRun::default();
        assert!(run.append(spans[2]) && run.append(spans[3]));
        assert!(!run.append(spans[1]), "not a continuation");
        let mut n = 0;
        log.take_run(run, |_| n += 1);
        assert_eq!((n, log.len()), (5, 6));
        let mut run = LogRun::default();
        assert!(run.append(spans[0]) && run.append(spans[1]));
        log.take_run(run, |_| n += 1);
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
