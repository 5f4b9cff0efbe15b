//! Frames from the peer: validation of stream IDs against direction, state
//! and limits (RFC 9000 §2.1, §3, §4.6, §19.4-§19.14), implicit opening of
//! peer streams, and delivery to the stream parts.

use super::streams::{dir_index, MAX_STREAM_COUNT};
use super::{StreamEvent, Streams};
use crate::frame::{Dir, Frame, FrameType, StreamFrame, StreamId};
use crate::{TransportError, TransportErrorCode, VarInt};

/// Which part of the stream a frame concerns, from our point of view.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Part {
    /// The peer's sending part, our receiving part: STREAM, RESET_STREAM,
    /// STREAM_DATA_BLOCKED.
    Recv,
    /// Our sending part: MAX_STREAM_DATA, STOP_SENDING.
    Send,
}

const fn state_error(reason: &'static str) -> TransportError {
    TransportError::new(TransportErrorCode::STREAM_STATE_ERROR, reason)
}

impl Streams {
    /// Routes a frame that concerns streams or their flow control.
    /// `Ok(false)` for any other frame (left to the caller); otherwise the
    /// result of the matching `on_*` method.
    pub fn on_frame(&mut self, frame: &Frame<'_>) -> Result<bool, TransportError> {
        match *frame {
            Frame::Stream(ref f) => self.on_stream_frame(f)?,
            Frame::ResetStream {
                id,
                error_code,
                final_size,
            } => self.on_reset_stream(id, error_code, final_size)?,
            Frame::StopSending { id, error_code } => self.on_stop_sending(id, error_code)?,
            Frame::MaxData { max } => self.on_max_data(max)?,
            Frame::MaxStreamData { id, max } => self.on_max_stream_data(id, max)?,
            Frame::MaxStreams { dir, count } => self.on_max_streams(dir, count)?,
            Frame::DataBlocked { limit } => self.on_data_blocked(limit)?,
            Frame::StreamDataBlocked { id, limit } => self.on_stream_data_blocked(id, limit)?,
            Frame::StreamsBlocked { dir, limit } => self.on_streams_blocked(dir, limit)?,
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Checks that a frame about `id` is allowed and opens peer streams it
    /// implies. `Ok(true)` when the stream has state to update, `Ok(false)`
    /// when it is closed and forgotten (the frame is then ignored: RFC 9000
    /// §4.5 makes errors for closed streams optional).
    fn resolve(&mut self, id: StreamId, part: Part) -> Result<bool, TransportError> {
        let local = self.is_local(id);
        match (part, local, id.dir()) {
            // RFC 9000 §19.8 (STREAM), §19.4 (RESET_STREAM), §19.13
            // (STREAM_DATA_BLOCKED): a frame for a send-only stream "MUST
            // terminate the connection with error STREAM_STATE_ERROR".
            (Part::Recv, true, Dir::Uni) => {
                return Err(state_error("frame for a send-only stream"))
            }
            // RFC 9000 §19.5 (STOP_SENDING), §19.10 (MAX_STREAM_DATA): the
            // same for a receive-only stream.
            (Part::Send, false, Dir::Uni) => {
                return Err(state_error("frame for a receive-only stream"))
            }
            _ => {}
        }
        let d = dir_index(id.dir());
        if local {
            // RFC 9000 §19.5, §19.8, §19.10: a frame for "a locally initiated
            // stream that has not yet been created" is STREAM_STATE_ERROR.
            if id.index() >= self.local[d].limit.used() {
                return Err(state_error("stream not yet opened"));
            }
            return Ok(self.map.contains_key(&id));
        }
        let r = &mut self.remote[d];
        // RFC 9000 §4.6: "An endpoint that receives a frame with a stream ID
        // exceeding the limit it has sent MUST treat this as a connection
        // error of type STREAM_LIMIT_ERROR".
        if id.index() >= r.max {
            return Err(TransportError::new(
                TransportErrorCode::STREAM_LIMIT_ERROR,
                "stream beyond our limit",
            ));
        }
        if id.index() >= r.opened {
            // RFC 9000 §3.2: "Before a stream is created, all streams of the
            // same type with lower-numbered stream IDs MUST be created." They
            // are open from here on; state is allocated when touched.
            r.opened = id.index() + 1;
            if !r.notified {
                r.notified = true;
                self.events.push_back(StreamEvent::Opened { dir: id.dir() });
            }
        } else if id.index() < r.accepted {
            return Ok(self.map.contains_key(&id));
        }
        if !self.map.contains_key(&id) {
            let stream = self.new_stream(id);
            self.map.insert(id, stream);
        }
        Ok(true)
    }

    /// A STREAM frame (RFC 9000 §19.8): data copied once into the stream's
    /// receive buffer.
    pub fn on_stream_frame(&mut self, f: &StreamFrame<'_>) -> Result<(), TransportError> {
        let ty = f.ty();
        if !self
            .resolve(f.id, Part::Recv)
            .map_err(|e| e.with_frame(ty))?
        {
            return Ok(());
        }
        // One lookup for the data, the Readable event and the done check
        // (what `notify_readable` and `maybe_free` would each look up).
        let accessible = self.accessible(f.id);
        let Some(stream) = self.map.get_mut(&f.id) else {
            return Ok(());
        };
        let Some(recv) = stream.recv.as_mut() else {
            return Ok(());
        };
        recv.on_data(
            f.offset.into_inner(),
            f.data,
            f.fin,
            &mut self.conn_recv,
            self.config.max_recv_fragments,
        )
        .map_err(|e| e.with_frame(ty))?;
        if accessible && recv.is_readable() && !stream.readable_notified {
            stream.readable_notified = true;
            self.events.push_back(StreamEvent::Readable { id: f.id });
        }
        if stream.is_done() {
            self.maybe_free(f.id);
        }
        Ok(())
    }

    /// A RESET_STREAM frame (RFC 9000 §19.4): the final size is checked and
    /// counted against connection flow control, unread data dropped.
    pub fn on_reset_stream(
        &mut self,
        id: StreamId,
        error_code: VarInt,
        final_size: VarInt,
    ) -> Result<(), TransportError> {
        let ty = FrameType::RESET_STREAM;
        if !self.resolve(id, Part::Recv).map_err(|e| e.with_frame(ty))? {
            return Ok(());
        }
        let Some(recv) = self.map.get_mut(&id).and_then(|s| s.recv.as_mut()) else {
            return Ok(());
        };
        let news = recv
            .on_reset(error_code, final_size.into_inner(), &mut self.conn_recv)
            .map_err(|e| e.with_frame(ty))?;
        if news && self.accessible(id) {
            self.events.push_back(StreamEvent::Reset { id, error_code });
            // The Reset event stands for Readable: a read returns the code.
            if let Some(stream) = self.map.get_mut(&id) {
                stream.readable_notified = true;
            }
        }
        self.notify_readable(id);
        self.maybe_free(id);
        Ok(())
    }

    /// A STOP_SENDING frame (RFC 9000 §19.5): we reset the stream with the
    /// peer's code (§3.5) and tell the application.
    pub fn on_stop_sending(
        &mut self,
        id: StreamId,
        error_code: VarInt,
    ) -> Result<(), TransportError> {
        let ty = FrameType::STOP_SENDING;
        if !self.resolve(id, Part::Send).map_err(|e| e.with_frame(ty))? {
            return Ok(());
        }
        let accessible = self.accessible(id);
        let Some(stream) = self.map.get_mut(&id) else {
            return Ok(());
        };
        let Some(send) = stream.send.as_mut() else {
            return Ok(());
        };
        let had_code = send.stop_code().is_some();
        let freed = send.on_stop_sending(error_code);
        if freed.is_some() {
            stream.want_writable = false;
        }
        if !had_code && accessible {
            self.events
                .push_back(StreamEvent::Stopped { id, error_code });
        }
        if let Some(freed) = freed {
            self.after_reset(id, freed);
        }
        Ok(())
    }

    /// A MAX_DATA frame (RFC 9000 §19.9); smaller limits are ignored.
    pub fn on_max_data(&mut self, max: VarInt) -> Result<(), TransportError> {
        self.conn_send.raise(max.into_inner());
        Ok(())
    }

    /// A MAX_STREAM_DATA frame (RFC 9000 §19.10).
    pub fn on_max_stream_data(&mut self, id: StreamId, max: VarInt) -> Result<(), TransportError> {
        let ty = FrameType::MAX_STREAM_DATA;
        if !self.resolve(id, Part::Send).map_err(|e| e.with_frame(ty))? {
            return Ok(());
        }
        let raised = self
            .map
            .get_mut(&id)
            .and_then(|s| s.send.as_mut())
            .is_some_and(|send| send.credit.raise(max.into_inner()));
        if raised {
            self.notify_writable(id);
        }
        Ok(())
    }

    /// A MAX_STREAMS frame (RFC 9000 §19.11); smaller limits are ignored.
    pub fn on_max_streams(&mut self, dir: Dir, count: VarInt) -> Result<(), TransportError> {
        let ty = match dir {
            Dir::Bi => FrameType::MAX_STREAMS_BIDI,
            Dir::Uni => FrameType::MAX_STREAMS_UNI,
        };
        // RFC 9000 §19.11: a count above 2^60 "MUST be treated as a
        // connection error of type FRAME_ENCODING_ERROR" (the decoder checks
        // too; this covers callers that build frames themselves).
        if count.into_inner() > MAX_STREAM_COUNT {
            return Err(TransportError::frame_encoding("stream count above 2^60").with_frame(ty));
        }
        self.raise_local_limit(dir, count.into_inner());
        Ok(())
    }

    /// A DATA_BLOCKED frame (RFC 9000 §19.12): informational. Our MAX_DATA
    /// updates never wait for it (RFC 9000 §4.2).
    pub fn on_data_blocked(&mut self, limit: VarInt) -> Result<(), TransportError> {
        let _ = limit;
        Ok(())
    }

    /// A STREAM_DATA_BLOCKED frame (RFC 9000 §19.13): validated like STREAM
    /// (it may open a peer stream), otherwise informational.
    pub fn on_stream_data_blocked(
        &mut self,
        id: StreamId,
        limit: VarInt,
    ) -> Result<(), TransportError> {
        let _ = limit;
        self.resolve(id, Part::Recv)
            .map_err(|e| e.with_frame(FrameType::STREAM_DATA_BLOCKED))?;
        Ok(())
    }

    /// A STREAMS_BLOCKED frame (RFC 9000 §19.14): informational; our
    /// MAX_STREAMS updates follow streams closing, not this frame.
    pub fn on_streams_blocked(&mut self, dir: Dir, limit: VarInt) -> Result<(), TransportError> {
        if limit.into_inner() > MAX_STREAM_COUNT {
            let ty = match dir {
                Dir::Bi => FrameType::STREAMS_BLOCKED_BIDI,
                Dir::Uni => FrameType::STREAMS_BLOCKED_UNI,
            };
            return Err(TransportError::frame_encoding("stream count above 2^60").with_frame(ty));
        }
        Ok(())
    }
}
