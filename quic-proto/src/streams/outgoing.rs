//! Frames to the peer and their fate: writing control and STREAM frames
//! into a frame sink within a byte budget, recording what was written, and
//! taking the records back as acknowledged or lost.

use core::iter::once;
use std::time::{Duration, Instant};

use super::streams::{dir_index, enqueue_control, sync_schedulers, Stream, DIRS};
use super::{StreamEvent, StreamRecord, Streams};
use crate::coding::{Encode, Encoder};
use crate::frame::{Frame, StreamId};
use crate::VarInt;

/// Writes `frame` if it fits in `left`, and takes its size off.
fn put<E: Encoder + ?Sized>(frame: Frame<'_>, left: &mut usize, e: &mut E) -> bool {
    let n = frame.encoded_len();
    if n > *left {
        return false;
    }
    frame.encode(e);
    *left -= n;
    true
}

fn varint(x: u64) -> VarInt {
    // Limits, offsets and counts all stay below 2^62 (flow control and
    // RFC 9000 §4.6 see to that).
    VarInt::saturating(x)
}

impl Streams {
    /// Whether [`Streams::write_frames`] has anything to write: control
    /// frames, lost data, or new data within connection credit (or a
    /// DATA_BLOCKED to report). The connection uses this to decide whether
    /// to build a packet.
    #[inline]
    pub fn wants_to_send(&self) -> bool {
        // Cheapest first: data waiting is the common answer.
        !self.retransmit.is_empty()
            || (!self.fresh.is_empty()
                && (self.conn_send.available() > 0 || self.conn_send.blocked_unreported()))
            || self.control_due()
    }

    /// Writes frames into `e`, at most `budget` bytes: control frames first
    /// (MAX_DATA, MAX_STREAMS, *_BLOCKED, then per stream RESET_STREAM,
    /// STREAM_DATA_BLOCKED, STOP_SENDING, MAX_STREAM_DATA), then STREAM
    /// frames by priority, retransmissions before new data. Each frame
    /// written adds one [`StreamRecord`] to `records`. Returns the bytes
    /// written.
    ///
    /// A STREAM frame that exactly fills what is left of the budget omits
    /// its Length field (RFC 9000 §19.8), so the caller must not write
    /// anything after this call when it returns `budget`; padding, if
    /// needed, goes before. `now` and `rtt` drive receive-window auto-tuning.
    pub fn write_frames<E, R>(
        &mut self,
        now: Instant,
        rtt: Duration,
        budget: usize,
        e: &mut E,
        records: &mut R,
    ) -> usize
    where
        E: Encoder + ?Sized,
        R: Extend<StreamRecord>,
    {
        let mut left = budget;
        if self.control_due() {
            self.control_frames(now, rtt, &mut left, e, records);
        }
        self.stream_frames(&mut left, e, records);
        // Writing STREAM frames may have found us blocked (DATA_BLOCKED).
        // It changes no other control state, and whatever else is due was
        // tried above with more room, so nothing else is checked here.
        if self.conn_send.blocked_pending() {
            self.control_frames(now, rtt, &mut left, e, records);
        }
        budget - left
    }

    /// Whether [`Streams::control_frames`] has a frame to write: exactly
    /// the conditions it checks, so skipping it when false changes nothing.
    fn control_due(&self) -> bool {
        !self.control.is_empty()
            || self.conn_recv.wants_update()
            || self.remote.iter().any(|r| r.max_pending)
            || self.conn_send.blocked_pending()
            || self.local.iter().any(|l| l.limit.blocked_pending())
    }

    /// Writes only the control frames of [`Streams::write_frames`].
    pub fn write_control_frames<E, R>(
        &mut self,
        now: Instant,
        rtt: Duration,
        budget: usize,
        e: &mut E,
        records: &mut R,
    ) -> usize
    where
        E: Encoder + ?Sized,
        R: Extend<StreamRecord>,
    {
        let mut left = budget;
        self.control_frames(now, rtt, &mut left, e, records);
        budget - left
    }

    /// Writes only the STREAM frames of [`Streams::write_frames`].
    pub fn write_stream_frames<E, R>(&mut self, budget: usize, e: &mut E, records: &mut R) -> usize
    where
        E: Encoder + ?Sized,
        R: Extend<StreamRecord>,
    {
        let mut left = budget;
        self.stream_frames(&mut left, e, records);
        budget - left
    }

    fn control_frames<E, R>(
        &mut self,
        now: Instant,
        rtt: Duration,
        left: &mut usize,
        e: &mut E,
        records: &mut R,
    ) where
        E: Encoder + ?Sized,
        R: Extend<StreamRecord>,
    {
        if let Some(u) = self.conn_recv.prepare_update(now, rtt) {
            if put(Frame::MaxData { max: varint(u.max) }, left, e) {
                self.conn_recv.commit(u, now);
                records.extend(once(StreamRecord::MaxData { max: u.max }));
            }
        }
        for dir in DIRS {
            let r = &mut self.remote[dir_index(dir)];
            let count = r.max;
            if r.max_pending
                && put(
                    Frame::MaxStreams {
                        dir,
                        count: varint(count),
                    },
                    left,
                    e,
                )
            {
                r.max_pending = false;
                records.extend(once(StreamRecord::MaxStreams { dir, count }));
            }
        }
        if let Some(limit) = self.conn_send.blocked_frame() {
            if put(
                Frame::DataBlocked {
                    limit: varint(limit),
                },
                left,
                e,
            ) {
                self.conn_send.blocked_sent();
                records.extend(once(StreamRecord::DataBlocked { limit }));
            }
        }
        for dir in DIRS {
            let l = &mut self.local[dir_index(dir)].limit;
            if let Some(limit) = l.blocked_frame() {
                if put(
                    Frame::StreamsBlocked {
                        dir,
                        limit: varint(limit),
                    },
                    left,
                    e,
                ) {
                    l.blocked_sent();
                    records.extend(once(StreamRecord::StreamsBlocked { dir, limit }));
                }
            }
        }
        while let Some(&id) = self.control.front() {
            if let Some(stream) = self.map.get_mut(&id) {
                if !stream_control(stream, id, now, rtt, left, e, records) {
                    return;
                }
                stream.in_control = false;
            }
            self.control.pop_front();
        }
    }

    fn stream_frames<E, R>(&mut self, left: &mut usize, e: &mut E, records: &mut R)
    where
        E: Encoder + ?Sized,
        R: Extend<StreamRecord>,
    {
        loop {
            if *left == 0 {
                // The last frame filled the packet: not even a bare FIN fits.
                // What a pass with room would still do is note that new data
                // waits, with no retransmission ahead of it, for credit.
                if self.retransmit.is_empty()
                    && !self.fresh.is_empty()
                    && self.conn_send.available() == 0
                {
                    self.conn_send.on_blocked();
                }
                return;
            }
            let (id, retransmit) = if let Some(id) = self.retransmit.peek() {
                (id, true)
            } else if let Some(id) = self.fresh.peek() {
                if self.conn_send.available() == 0 {
                    // RFC 9000 §4.1: "A sender SHOULD send a ... DATA_BLOCKED
                    // frame to indicate to the receiver that it has data to
                    // write but is blocked by flow control limits."
                    self.conn_send.on_blocked();
                    return;
                }
                (id, false)
            } else {
                return;
            };
            let conn_credit = self.conn_send.available();
            let Self {
                map,
                retransmit: rtx_q,
                fresh: fresh_q,
                conn_send,
                retransmitted_bytes,
                ..
            } = self;
            let Some(stream) = map.get_mut(&id) else {
                rtx_q.remove_any(id);
                fresh_q.remove_any(id);
                continue;
            };
            let Some(send) = stream.send.as_mut() else {
                rtx_q.remove_any(id);
                fresh_q.remove_any(id);
                continue;
            };
            let written = send.write_frame(id, *left, conn_credit, retransmit, e);
            let more = if retransmit {
                send.has_retransmit()
            } else {
                send.has_fresh()
            };
            match written {
                // The next frame of the stream first in line does not fit.
                None if more => return,
                None => {}
                Some(w) => {
                    *left -= w.size;
                    conn_send.consume(w.fresh);
                    *retransmitted_bytes += u64::from(w.len).saturating_sub(w.fresh);
                    records.extend(once(StreamRecord::Stream {
                        id,
                        offset: w.offset,
                        len: w.len,
                        fin: w.fin,
                    }));
                }
            }
            if retransmit {
                rtx_q.served(id, stream.prio, more);
                stream.in_retransmit = more;
            } else {
                fresh_q.served(id, stream.prio, more);
                stream.in_fresh = more;
            }
            sync_schedulers(stream, id, rtx_q, fresh_q);
        }
    }

    /// The packet carrying the frame `record` describes was acknowledged.
    pub fn on_acked(&mut self, record: StreamRecord) {
        match record {
            StreamRecord::Stream {
                id,
                offset,
                len,
                fin,
            } => self.stream_acked(id, offset, len, fin),
            StreamRecord::ResetStream { id } => {
                if let Some(send) = self.map.get_mut(&id).and_then(|s| s.send.as_mut()) {
                    send.reset_acked();
                }
                self.maybe_free(id);
            }
            // Nothing to do: the peer has the frame.
            StreamRecord::StopSending { .. }
            | StreamRecord::MaxData { .. }
            | StreamRecord::MaxStreamData { .. }
            | StreamRecord::MaxStreams { .. }
            | StreamRecord::DataBlocked { .. }
            | StreamRecord::StreamDataBlocked { .. }
            | StreamRecord::StreamsBlocked { .. } => {}
        }
    }

    fn stream_acked(&mut self, id: StreamId, offset: u64, len: u32, fin: bool) {
        let Self {
            map,
            retransmit,
            fresh,
            ..
        } = self;
        let Some(stream) = map.get_mut(&id) else {
            return;
        };
        let Some(send) = stream.send.as_mut() else {
            return;
        };
        let was_acked = send.is_all_acked();
        let freed = send.on_ack(offset, len, fin);
        let finished = !was_acked && send.is_all_acked();
        let done = send.is_done();
        let want_writable = stream.want_writable;
        // An acknowledgment only takes work away (lost ranges, a lost FIN),
        // never new data, so only a queued retransmission can change.
        if stream.in_retransmit {
            sync_schedulers(stream, id, retransmit, fresh);
        }
        self.send_buffered = self.send_buffered.saturating_sub(freed);
        if finished && self.accessible(id) {
            self.events.push_back(StreamEvent::Finished { id });
        }
        if freed > 0 {
            if want_writable {
                self.notify_writable(id);
            }
            if !self.conn_waiters.is_empty() {
                self.wake_conn_waiters();
            }
        }
        if done {
            self.maybe_free(id);
        }
    }

    /// The packet carrying the frame `record` describes was declared lost:
    /// its data is queued again, and a control frame is resent only if it
    /// still says something current.
    pub fn on_lost(&mut self, record: StreamRecord) {
        match record {
            StreamRecord::Stream {
                id,
                offset,
                len,
                fin,
            } => {
                let Self {
                    map,
                    retransmit,
                    fresh,
                    ..
                } = self;
                if let Some(stream) = map.get_mut(&id) {
                    if let Some(send) = stream.send.as_mut() {
                        send.on_lost(offset, len, fin);
                    }
                    sync_schedulers(stream, id, retransmit, fresh);
                }
            }
            StreamRecord::ResetStream { id } => {
                self.control_again(id, |s| s.send.as_mut().is_some_and(|x| x.reset_lost()));
            }
            StreamRecord::StopSending { id } => {
                self.control_again(id, |s| s.recv.as_mut().is_some_and(|x| x.stop_lost()));
            }
            StreamRecord::MaxData { max } => {
                self.conn_recv.on_lost(max);
            }
            StreamRecord::MaxStreamData { id, max } => {
                self.control_again(id, |s| {
                    s.recv.as_mut().is_some_and(|x| x.max_stream_data_lost(max))
                });
            }
            StreamRecord::MaxStreams { dir, count } => {
                let r = &mut self.remote[dir_index(dir)];
                if count == r.max {
                    r.max_pending = true;
                }
            }
            StreamRecord::DataBlocked { limit } => {
                self.conn_send.blocked_lost(limit);
            }
            StreamRecord::StreamDataBlocked { id, limit } => {
                self.control_again(id, |s| {
                    s.send
                        .as_mut()
                        .is_some_and(|x| !x.is_reset() && x.credit.blocked_lost(limit))
                });
            }
            StreamRecord::StreamsBlocked { dir, limit } => {
                self.local[dir_index(dir)].limit.blocked_lost(limit);
            }
        }
    }

    /// Puts `id` back in the control queue if `due` says a frame is due.
    fn control_again(&mut self, id: StreamId, due: impl FnOnce(&mut Stream) -> bool) {
        if let Some(stream) = self.map.get_mut(&id) {
            if due(stream) {
                enqueue_control(&mut self.control, stream, id);
            }
        }
    }
}

/// Writes the control frames due for one stream. `false` if one did not
/// fit (the stream stays queued).
fn stream_control<E, R>(
    stream: &mut Stream,
    id: StreamId,
    now: Instant,
    rtt: Duration,
    left: &mut usize,
    e: &mut E,
    records: &mut R,
) -> bool
where
    E: Encoder + ?Sized,
    R: Extend<StreamRecord>,
{
    if let Some(send) = stream.send.as_mut() {
        if let Some((error_code, final_size)) = send.reset_frame() {
            let final_size = varint(final_size);
            if !put(
                Frame::ResetStream {
                    id,
                    error_code,
                    final_size,
                },
                left,
                e,
            ) {
                return false;
            }
            send.reset_sent();
            records.extend(once(StreamRecord::ResetStream { id }));
        }
        if let Some(limit) = send.credit.blocked_frame().filter(|_| !send.is_reset()) {
            if !put(
                Frame::StreamDataBlocked {
                    id,
                    limit: varint(limit),
                },
                left,
                e,
            ) {
                return false;
            }
            send.credit.blocked_sent();
            records.extend(once(StreamRecord::StreamDataBlocked { id, limit }));
        }
    }
    if let Some(recv) = stream.recv.as_mut() {
        if let Some(error_code) = recv.stop_frame() {
            if !put(Frame::StopSending { id, error_code }, left, e) {
                return false;
            }
            recv.stop_sent();
            records.extend(once(StreamRecord::StopSending { id }));
        }
        if let Some(u) = recv.prepare_max_stream_data(now, rtt) {
            if !put(
                Frame::MaxStreamData {
                    id,
                    max: varint(u.max),
                },
                left,
                e,
            ) {
                return false;
            }
            recv.commit_max_stream_data(u, now);
            records.extend(once(StreamRecord::MaxStreamData { id, max: u.max }));
        }
    }
    true
}
