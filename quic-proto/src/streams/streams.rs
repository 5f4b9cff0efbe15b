//! [`Streams`]: the set of a connection's streams, their limits, and the
//! application-facing calls. Frames in and out live in `incoming.rs` and
//! `outgoing.rs`.

use std::collections::{BTreeMap, VecDeque};

use bytes::Bytes;

use super::flow::{RecvWindow, SendCredit};
use super::recv::RecvStream;
use super::schedule::Scheduler;
use super::send::SendStream;
use super::{OpenError, Priority, ReadError, StreamError, StreamEvent, StreamsConfig, WriteError};
use crate::frame::{Dir, StreamId};
use crate::transport_params::TransportParameters;
use crate::{Side, VarInt};

/// RFC 9000 §4.6: stream counts never exceed 2^60.
pub(super) const MAX_STREAM_COUNT: u64 = 1 << 60;

pub(super) const fn dir_index(dir: Dir) -> usize {
    match dir {
        Dir::Bi => 0,
        Dir::Uni => 1,
    }
}

pub(super) const DIRS: [Dir; 2] = [Dir::Bi, Dir::Uni];

/// One stream: its sending and receiving parts (either may be absent for a
/// unidirectional stream), priority and bookkeeping flags.
#[derive(Debug)]
pub(super) struct Stream {
    pub(super) send: Option<SendStream>,
    pub(super) recv: Option<RecvStream>,
    pub(super) prio: Priority,
    /// In the retransmission scheduler.
    pub(super) in_retransmit: bool,
    /// In the new-data scheduler.
    pub(super) in_fresh: bool,
    /// In the control-frame queue.
    pub(super) in_control: bool,
    /// A Readable event is queued and not yet followed by a read.
    pub(super) readable_notified: bool,
    /// A write was refused or cut short: queue Writable when room appears.
    pub(super) want_writable: bool,
    /// In the list of streams waiting for connection buffer room.
    pub(super) waiting_conn: bool,
}

impl Stream {
    /// Both parts are in a terminal state (what [`Streams::maybe_free`]
    /// needs, besides the application having seen the stream).
    pub(super) fn is_done(&self) -> bool {
        self.send.as_ref().is_none_or(SendStream::is_done)
            && self.recv.as_ref().is_none_or(RecvStream::is_done)
    }
}

/// Initial per-stream limits from one side's transport parameters.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct StreamLimits {
    bidi_local: u64,
    bidi_remote: u64,
    uni: u64,
}

impl StreamLimits {
    fn from_params(tp: &TransportParameters) -> Self {
        Self {
            bidi_local: tp.initial_max_stream_data_bidi_local.into_inner(),
            bidi_remote: tp.initial_max_stream_data_bidi_remote.into_inner(),
            uni: tp.initial_max_stream_data_uni.into_inner(),
        }
    }

    /// The limit that applies to stream `id` as seen by the side whose
    /// parameters these are (`side`).
    fn for_stream(&self, side: Side, id: StreamId) -> u64 {
        match (id.dir(), id.initiator() == side) {
            (Dir::Uni, _) => self.uni,
            (Dir::Bi, true) => self.bidi_local,
            (Dir::Bi, false) => self.bidi_remote,
        }
    }
}

/// Streams we open of one type.
#[derive(Debug)]
pub(super) struct LocalStreams {
    /// `max`: the peer's MAX_STREAMS; `used`: streams opened so far.
    pub(super) limit: SendCredit,
    /// `open` was refused: queue Available when the limit grows.
    pub(super) want_available: bool,
}

/// Streams the peer opens of one type.
#[derive(Debug)]
pub(super) struct RemoteStreams {
    /// Highest index seen + 1: every lower stream is open (RFC 9000 §3.2).
    pub(super) opened: u64,
    /// The next index `accept` returns.
    pub(super) accepted: u64,
    /// Streams freed so far.
    pub(super) closed: u64,
    /// The limit we advertised (MAX_STREAMS).
    pub(super) max: u64,
    /// How many open streams we allow at once (our transport parameter).
    pub(super) concurrency: u64,
    /// A MAX_STREAMS frame carrying `max` is due.
    pub(super) max_pending: bool,
    /// An Opened event is queued and `accept` has not yet returned `None`.
    pub(super) notified: bool,
}

/// A connection's streams and stream-level flow control.
///
/// See the [module documentation](super) for the design. Every method is
/// O(log n) in the number of open streams or better; nothing scans all
/// streams except [`Streams::set_peer_params`], which runs once.
#[derive(Debug)]
pub struct Streams {
    pub(super) side: Side,
    pub(super) config: StreamsConfig,
    /// Allocated stream state, by ID (deterministic order, no hasher keys).
    pub(super) map: BTreeMap<StreamId, Stream>,
    pub(super) local: [LocalStreams; 2],
    pub(super) remote: [RemoteStreams; 2],
    /// The peer's MAX_DATA; `used` is the sum of bytes sent on all streams.
    pub(super) conn_send: SendCredit,
    /// Our MAX_DATA; `received` is the sum of highest offsets (RFC 9000 §4.1).
    pub(super) conn_recv: RecvWindow,
    /// Unacknowledged bytes buffered across all streams.
    pub(super) send_buffered: u64,
    /// Stream payload bytes sent again after a loss (for stats).
    pub(super) retransmitted_bytes: u64,
    local_limits: StreamLimits,
    peer_limits: StreamLimits,
    /// Streams with lost data or a FIN to send (no connection credit needed).
    pub(super) retransmit: Scheduler,
    /// Streams with never-sent data.
    pub(super) fresh: Scheduler,
    /// Streams with control frames due, in the order they became due.
    pub(super) control: VecDeque<StreamId>,
    /// Streams whose writes were cut short by the connection buffer limit.
    pub(super) conn_waiters: Vec<StreamId>,
    pub(super) events: VecDeque<StreamEvent>,
}

impl Streams {
    /// The streams of a connection on `side` that advertised `local`
    /// transport parameters (our receive limits and stream counts come from
    /// there). The peer's limits are all zero until
    /// [`Streams::set_peer_params`].
    pub fn new(side: Side, local: &TransportParameters, config: StreamsConfig) -> Self {
        let remote = |count: VarInt| {
            let count = count.into_inner().min(MAX_STREAM_COUNT);
            RemoteStreams {
                opened: 0,
                accepted: 0,
                closed: 0,
                max: count,
                concurrency: count,
                max_pending: false,
                notified: false,
            }
        };
        let blocked_local = || LocalStreams {
            limit: SendCredit::new(0),
            want_available: false,
        };
        Self {
            side,
            config,
            map: BTreeMap::new(),
            local: [blocked_local(), blocked_local()],
            remote: [
                remote(local.initial_max_streams_bidi),
                remote(local.initial_max_streams_uni),
            ],
            conn_send: SendCredit::new(0),
            conn_recv: RecvWindow::new(local.initial_max_data.into_inner(), config.max_conn_window),
            send_buffered: 0,
            retransmitted_bytes: 0,
            local_limits: StreamLimits::from_params(local),
            peer_limits: StreamLimits::default(),
            retransmit: Scheduler::default(),
            fresh: Scheduler::default(),
            control: VecDeque::new(),
            conn_waiters: Vec::new(),
            events: VecDeque::new(),
        }
    }

    /// Applies the peer's transport parameters: its connection limit, its
    /// stream counts, and its initial stream limits (raising those of
    /// streams already open, as after 0-RTT). Limits only ever grow.
    pub fn set_peer_params(&mut self, peer: &TransportParameters) {
        self.conn_send.raise(peer.initial_max_data.into_inner());
        for (dir, count) in [
            (Dir::Bi, peer.initial_max_streams_bidi),
            (Dir::Uni, peer.initial_max_streams_uni),
        ] {
            self.raise_local_limit(dir, count.into_inner());
        }
        self.peer_limits = StreamLimits::from_params(peer);
        let ids: Vec<StreamId> = self.map.keys().copied().collect();
        for id in ids {
            let credit = self.peer_limits.for_stream(self.side.peer(), id);
            if let Some(send) = self.map.get_mut(&id).and_then(|s| s.send.as_mut()) {
                send.credit.raise(credit);
            }
            self.notify_writable(id);
        }
    }

    /// The peer allows `count` streams of type `dir` in total.
    pub(super) fn raise_local_limit(&mut self, dir: Dir, count: u64) {
        let l = &mut self.local[dir_index(dir)];
        if l.limit.raise(count.min(MAX_STREAM_COUNT)) && l.want_available {
            l.want_available = false;
            self.events.push_back(StreamEvent::Available { dir });
        }
    }

    /// Whether `id` was opened by us.
    pub(super) fn is_local(&self, id: StreamId) -> bool {
        id.initiator() == self.side
    }

    /// Fresh state for stream `id`, with the parts this side has.
    pub(super) fn new_stream(&self, id: StreamId) -> Stream {
        let local = self.is_local(id);
        let bidi = id.dir() == Dir::Bi;
        let send = (local || bidi).then(|| {
            SendStream::new(
                self.peer_limits.for_stream(self.side.peer(), id),
                self.config.stream_send_buffer,
            )
        });
        let recv = (!local || bidi).then(|| {
            RecvStream::new(
                self.local_limits.for_stream(self.side, id),
                self.config.max_stream_window,
            )
        });
        Stream {
            send,
            recv,
            prio: Priority::DEFAULT,
            in_retransmit: false,
            in_fresh: false,
            in_control: false,
            readable_notified: false,
            want_writable: false,
            waiting_conn: false,
        }
    }

    /// Whether the application may use `id`: ours, or the peer's and
    /// already returned by [`Streams::accept`].
    pub(super) fn accessible(&self, id: StreamId) -> bool {
        self.is_local(id) || id.index() < self.remote[dir_index(id.dir())].accepted
    }

    fn app_stream(&mut self, id: StreamId) -> Option<&mut Stream> {
        if !self.accessible(id) {
            return None;
        }
        self.map.get_mut(&id)
    }

    /// Opens a stream of type `dir`. Fails with [`OpenError::Blocked`] (and
    /// queues STREAMS_BLOCKED once per limit, RFC 9000 §4.6) when the peer's
    /// MAX_STREAMS is reached. Allocates the stream's state now: state
    /// exists only for streams in use, never per unit of credit.
    pub fn open(&mut self, dir: Dir) -> Result<StreamId, OpenError> {
        let l = &mut self.local[dir_index(dir)];
        if l.limit.available() == 0 {
            l.limit.on_blocked();
            l.want_available = true;
            return Err(OpenError::Blocked);
        }
        let id = StreamId::new(self.side, dir, l.limit.used());
        l.limit.consume(1);
        let stream = self.new_stream(id);
        self.map.insert(id, stream);
        Ok(id)
    }

    /// The next stream the peer opened that the application has not yet
    /// taken, lowest ID first. Peer streams are usable only once accepted.
    /// Call until it returns `None` after each [`StreamEvent::Opened`].
    pub fn accept(&mut self, dir: Dir) -> Option<StreamId> {
        let d = dir_index(dir);
        let r = &mut self.remote[d];
        if r.accepted >= r.opened {
            r.notified = false;
            return None;
        }
        let id = StreamId::new(self.side.peer(), dir, r.accepted);
        r.accepted += 1;
        if !self.map.contains_key(&id) {
            let stream = self.new_stream(id);
            self.map.insert(id, stream);
        }
        // Tell the application what happened before it accepted.
        self.notify_readable(id);
        if let Some(code) = self
            .map
            .get(&id)
            .and_then(|s| s.send.as_ref())
            .and_then(SendStream::stop_code)
        {
            self.events.push_back(StreamEvent::Stopped {
                id,
                error_code: code,
            });
        }
        Some(id)
    }

    /// Copies as much of `data` as credit and buffer limits allow into the
    /// stream's send buffer. `Ok(n)` with `0 < n <= data.len()` (or 0 for
    /// empty data); [`WriteError::Blocked`] when nothing fits, after which a
    /// [`StreamEvent::Writable`] follows when room appears.
    pub fn write(&mut self, id: StreamId, data: &[u8]) -> Result<usize, WriteError> {
        self.write_with(id, data.len(), |send, n| {
            send.write_copy(data.get(..n).unwrap_or(data));
        })
    }

    /// Like [`Streams::write`], without copying `data` (unless it is small).
    /// On a partial write the first `n` bytes were taken; the caller keeps
    /// the rest (`data.slice(n..)`).
    pub fn write_bytes(&mut self, id: StreamId, data: Bytes) -> Result<usize, WriteError> {
        let len = data.len();
        self.write_with(id, len, move |send, n| {
            let mut data = data;
            data.truncate(n);
            send.write_bytes(data);
        })
    }

    fn write_with(
        &mut self,
        id: StreamId,
        len: usize,
        put: impl FnOnce(&mut SendStream, usize),
    ) -> Result<usize, WriteError> {
        let conn_room = self
            .config
            .conn_send_buffer
            .saturating_sub(self.send_buffered);
        if !self.accessible(id) {
            return Err(WriteError::UnknownStream);
        }
        let Self {
            map,
            conn_waiters,
            control,
            retransmit,
            fresh,
            send_buffered,
            ..
        } = self;
        let stream = map.get_mut(&id).ok_or(WriteError::UnknownStream)?;
        let send = stream.send.as_mut().ok_or(WriteError::ClosedStream)?;
        if let Some(code) = send.stop_code() {
            return Err(WriteError::Stopped(code));
        }
        if !send.is_writable() {
            return Err(WriteError::ClosedStream);
        }
        let (room, by_credit) = send.room();
        let n = usize::try_from(room.min(conn_room))
            .unwrap_or(usize::MAX)
            .min(len);
        if n > 0 {
            put(send, n);
            *send_buffered += n as u64;
        }
        if n < len {
            stream.want_writable = true;
            if conn_room < room && !stream.waiting_conn {
                stream.waiting_conn = true;
                conn_waiters.push(id);
            }
            // RFC 9000 §4.1: blocked by the stream's limit: STREAM_DATA_BLOCKED.
            if by_credit && room <= conn_room && send.credit.on_blocked() {
                enqueue_control(control, stream, id);
            }
        }
        sync_schedulers(stream, id, retransmit, fresh);
        if n == 0 && len > 0 {
            return Err(WriteError::Blocked);
        }
        Ok(n)
    }

    /// Ends the stream after the data written so far (a FIN is sent).
    pub fn finish(&mut self, id: StreamId) -> Result<(), StreamError> {
        let Self {
            map,
            retransmit,
            fresh,
            ..
        } = self;
        let stream = access(map, id, self.side, &self.remote)?;
        let send = stream.send.as_mut().ok_or(StreamError::ClosedStream)?;
        if !send.finish() {
            return Err(StreamError::ClosedStream);
        }
        sync_schedulers(stream, id, retransmit, fresh);
        Ok(())
    }

    /// Abandons the sending part (RFC 9000 §3.1): buffered data is dropped
    /// and RESET_STREAM with `code` is sent until acknowledged.
    pub fn reset(&mut self, id: StreamId, code: VarInt) -> Result<(), StreamError> {
        let stream = access(&mut self.map, id, self.side, &self.remote)?;
        let send = stream.send.as_mut().ok_or(StreamError::ClosedStream)?;
        let freed = send.reset(code).ok_or(StreamError::ClosedStream)?;
        stream.want_writable = false;
        self.after_reset(id, freed);
        Ok(())
    }

    /// Book-keeping after the sending part of `id` was reset: buffer room,
    /// schedulers, the RESET_STREAM frame.
    pub(super) fn after_reset(&mut self, id: StreamId, freed: u64) {
        self.send_buffered = self.send_buffered.saturating_sub(freed);
        if let Some(stream) = self.map.get_mut(&id) {
            sync_schedulers(stream, id, &mut self.retransmit, &mut self.fresh);
            enqueue_control(&mut self.control, stream, id);
        }
        self.wake_conn_waiters();
    }

    /// Stops reading (RFC 9000 §3.5): unread and future data is discarded,
    /// and STOP_SENDING with `code` asks the peer to reset its side.
    pub fn stop(&mut self, id: StreamId, code: VarInt) -> Result<(), StreamError> {
        let stream = access(&mut self.map, id, self.side, &self.remote)?;
        let recv = stream.recv.as_mut().ok_or(StreamError::ClosedStream)?;
        let due = recv
            .stop(code, &mut self.conn_recv)
            .map_err(|_| StreamError::ClosedStream)?;
        if due {
            enqueue_control(&mut self.control, stream, id);
        }
        self.maybe_free(id);
        Ok(())
    }

    /// Reads into `buf`: `Ok(Some((n, fin)))` with `fin` true once the end
    /// of the stream is reached (possibly with `n == 0`), `Ok(None)` when
    /// nothing is readable yet (a [`StreamEvent::Readable`] will follow).
    pub fn read(
        &mut self,
        id: StreamId,
        buf: &mut [u8],
    ) -> Result<Option<(usize, bool)>, ReadError> {
        let result = self.recv_part(id)?.read(buf);
        let n = match result {
            Ok(Some((n, _))) => n,
            _ => 0,
        };
        self.after_read(id, n);
        result
    }

    /// Reads up to `max` bytes as a `Bytes` split off the receive buffer,
    /// without copying. Same results as [`Streams::read`].
    pub fn read_chunk(
        &mut self,
        id: StreamId,
        max: usize,
    ) -> Result<Option<(Bytes, bool)>, ReadError> {
        let result = self.recv_part(id)?.read_chunk(max);
        let n = match &result {
            Ok(Some((b, _))) => b.len(),
            _ => 0,
        };
        self.after_read(id, n);
        result
    }

    fn recv_part(&mut self, id: StreamId) -> Result<&mut RecvStream, ReadError> {
        let stream = self.app_stream(id).ok_or(ReadError::UnknownStream)?;
        stream.readable_notified = false;
        stream.recv.as_mut().ok_or(ReadError::ClosedStream)
    }

    /// Credit and cleanup after the application read `n` bytes.
    fn after_read(&mut self, id: StreamId, n: usize) {
        self.conn_recv.on_consumed(n as u64);
        if let Some(stream) = self.map.get_mut(&id) {
            if stream
                .recv
                .as_ref()
                .is_some_and(RecvStream::wants_max_stream_data)
            {
                enqueue_control(&mut self.control, stream, id);
            }
        }
        self.maybe_free(id);
    }

    /// Sets the stream's priority; `urgency` is capped at 7.
    pub fn set_priority(
        &mut self,
        id: StreamId,
        urgency: u8,
        incremental: bool,
    ) -> Result<(), StreamError> {
        let Self {
            map,
            retransmit,
            fresh,
            ..
        } = self;
        let stream = access(map, id, self.side, &self.remote)?;
        let new = Priority {
            urgency: urgency.min(Priority::MAX_URGENCY),
            incremental,
        };
        for (queued, sched) in [
            (stream.in_retransmit, &mut *retransmit),
            (stream.in_fresh, &mut *fresh),
        ] {
            if queued {
                sched.remove(id, stream.prio);
                sched.insert(id, new);
            }
        }
        stream.prio = new;
        Ok(())
    }

    /// The stream's priority, if it is open.
    pub fn priority(&self, id: StreamId) -> Option<Priority> {
        self.map.get(&id).map(|s| s.prio)
    }

    /// The next event for the application.
    pub fn poll_event(&mut self) -> Option<StreamEvent> {
        self.events.pop_front()
    }

    /// Whether [`Streams::poll_event`] has an event to give.
    pub fn has_events(&self) -> bool {
        !self.events.is_empty()
    }

    /// How many streams have state allocated (open streams the application
    /// or the peer has touched). Never more than the streams in use.
    pub fn stream_count(&self) -> usize {
        self.map.len()
    }

    /// Stream payload bytes sent more than once (lost and sent again).
    pub fn retransmitted_bytes(&self) -> u64 {
        self.retransmitted_bytes
    }

    /// Bytes buffered for sending and not yet acknowledged, all streams.
    pub fn send_buffered(&self) -> u64 {
        self.send_buffered
    }

    /// Queues Readable for `id` if it is accessible, has something to
    /// read and none is queued.
    pub(super) fn notify_readable(&mut self, id: StreamId) {
        if !self.accessible(id) {
            return;
        }
        if let Some(stream) = self.map.get_mut(&id) {
            let readable = stream.recv.as_ref().is_some_and(RecvStream::is_readable);
            if readable && !stream.readable_notified {
                stream.readable_notified = true;
                self.events.push_back(StreamEvent::Readable { id });
            }
        }
    }

    /// Queues Writable for `id` if a write was cut short and there is room
    /// now. A stream with room of its own but none in the connection's
    /// buffer waits in the connection's list instead.
    pub(super) fn notify_writable(&mut self, id: StreamId) {
        let conn_room = self
            .config
            .conn_send_buffer
            .saturating_sub(self.send_buffered);
        if !self.accessible(id) {
            return;
        }
        let Some(stream) = self.map.get_mut(&id) else {
            return;
        };
        let room = stream.send.as_ref().map_or(0, |s| s.room().0);
        if !stream.want_writable || room == 0 {
            return;
        }
        if conn_room == 0 {
            if !stream.waiting_conn {
                stream.waiting_conn = true;
                self.conn_waiters.push(id);
            }
            return;
        }
        stream.want_writable = false;
        self.events.push_back(StreamEvent::Writable { id });
    }

    /// Buffer room appeared at the connection level: wake the streams that
    /// were waiting for it.
    pub(super) fn wake_conn_waiters(&mut self) {
        if self.send_buffered >= self.config.conn_send_buffer {
            return;
        }
        for id in std::mem::take(&mut self.conn_waiters) {
            if let Some(stream) = self.map.get_mut(&id) {
                stream.waiting_conn = false;
            }
            self.notify_writable(id);
        }
    }

    /// Frees `id` once both parts are in a terminal state the application
    /// has seen, and gives the peer a new stream for each of its own that
    /// closes (RFC 9000 §4.6: "increase limits as streams are closed").
    pub(super) fn maybe_free(&mut self, id: StreamId) {
        let Some(stream) = self.map.get(&id) else {
            return;
        };
        if !(stream.is_done() && self.accessible(id)) {
            return;
        }
        let Some(stream) = self.map.remove(&id) else {
            return;
        };
        if stream.in_retransmit {
            self.retransmit.remove(id, stream.prio);
        }
        if stream.in_fresh {
            self.fresh.remove(id, stream.prio);
        }
        if !self.is_local(id) {
            let r = &mut self.remote[dir_index(id.dir())];
            r.closed += 1;
            let max = r.closed.saturating_add(r.concurrency).min(MAX_STREAM_COUNT);
            if max > r.max {
                r.max = max;
                r.max_pending = true;
            }
        }
    }
}

/// The stream `id` if the application may use it.
fn access<'a>(
    map: &'a mut BTreeMap<StreamId, Stream>,
    id: StreamId,
    side: Side,
    remote: &[RemoteStreams; 2],
) -> Result<&'a mut Stream, StreamError> {
    let accessible = id.initiator() == side || id.index() < remote[dir_index(id.dir())].accepted;
    if !accessible {
        return Err(StreamError::UnknownStream);
    }
    map.get_mut(&id).ok_or(StreamError::UnknownStream)
}

/// Puts `id` in the control-frame queue unless it is there.
pub(super) fn enqueue_control(control: &mut VecDeque<StreamId>, stream: &mut Stream, id: StreamId) {
    if !stream.in_control {
        stream.in_control = true;
        control.push_back(id);
    }
}

/// Makes the stream's scheduler membership match what it has to send.
#[inline(always)]
pub(super) fn sync_schedulers(
    stream: &mut Stream,
    id: StreamId,
    retransmit: &mut Scheduler,
    fresh: &mut Scheduler,
) {
    let (has_rtx, has_fresh) = stream
        .send
        .as_ref()
        .map_or((false, false), |s| (s.has_retransmit(), s.has_fresh()));
    sync_one(
        retransmit,
        &mut stream.in_retransmit,
        has_rtx,
        id,
        stream.prio,
    );
    sync_one(fresh, &mut stream.in_fresh, has_fresh, id, stream.prio);
}

/// Puts `id` in `scheduler` or takes it out so that it is there exactly
/// when `want` holds; `queued` says whether it is there now.
#[inline(always)]
fn sync_one(
    scheduler: &mut Scheduler,
    queued: &mut bool,
    want: bool,
    id: StreamId,
    prio: Priority,
) {
    if want != *queued {
        if want {
            scheduler.insert(id, prio);
        } else {
            scheduler.remove(id, prio);
        }
        *queued = want;
    }
}
