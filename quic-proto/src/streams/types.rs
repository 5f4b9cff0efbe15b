//! The small public types of the streams layer: records, events, errors,
//! priorities and configuration.

use core::fmt;

use crate::frame::{Dir, StreamId};
use crate::VarInt;

/// What one frame written by [`Streams::write_frames`](super::Streams::write_frames)
/// carried, kept by the connection in its sent-packet log and handed back
/// to [`Streams::on_acked`](super::Streams::on_acked) or
/// [`Streams::on_lost`](super::Streams::on_lost).
///
/// Small and `Copy` (24 bytes): a STREAM frame is remembered as a range of
/// the stream's send buffer, never as a copy of its bytes; control frames
/// carry just enough to tell whether they are still current when lost.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StreamRecord {
    /// A STREAM frame: `len` bytes at `offset`, and the FIN bit.
    Stream {
        /// The stream.
        id: StreamId,
        /// The offset of the first byte.
        offset: u64,
        /// The number of data bytes.
        len: u32,
        /// Whether the frame carried FIN.
        fin: bool,
    },
    /// A RESET_STREAM frame (resent until acknowledged).
    ResetStream {
        /// The stream.
        id: StreamId,
    },
    /// A STOP_SENDING frame (resent while the stream still receives).
    StopSending {
        /// The stream.
        id: StreamId,
    },
    /// A MAX_DATA frame advertising `max` (resent only if still current).
    MaxData {
        /// The limit sent.
        max: u64,
    },
    /// A MAX_STREAM_DATA frame (resent only if still current).
    MaxStreamData {
        /// The stream.
        id: StreamId,
        /// The limit sent.
        max: u64,
    },
    /// A MAX_STREAMS frame (resent only if still current).
    MaxStreams {
        /// The stream type.
        dir: Dir,
        /// The cumulative count sent.
        count: u64,
    },
    /// A DATA_BLOCKED frame (resent only while still blocked there).
    DataBlocked {
        /// The connection limit we were blocked at.
        limit: u64,
    },
    /// A STREAM_DATA_BLOCKED frame (resent only while still blocked there).
    StreamDataBlocked {
        /// The stream.
        id: StreamId,
        /// The stream limit we were blocked at.
        limit: u64,
    },
    /// A STREAMS_BLOCKED frame (resent only while still blocked there).
    StreamsBlocked {
        /// The stream type.
        dir: Dir,
        /// The stream count we were blocked at.
        limit: u64,
    },
}

/// Something the application may want to react to, from
/// [`Streams::poll_event`](super::Streams::poll_event).
///
/// Events are hints, deduplicated per stream: each kind is queued at most
/// once until the application acts on it (reads, writes, accepts), so the
/// queue never grows beyond a few entries per stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StreamEvent {
    /// The peer opened one or more streams of this type: call
    /// [`Streams::accept`](super::Streams::accept) until it returns `None`.
    Opened {
        /// The stream type.
        dir: Dir,
    },
    /// Data, the end of the stream, or a reset can be read.
    Readable {
        /// The stream.
        id: StreamId,
    },
    /// A stream whose write was refused or cut short can take more data.
    Writable {
        /// The stream.
        id: StreamId,
    },
    /// Everything written on the stream, FIN included, was acknowledged.
    Finished {
        /// The stream.
        id: StreamId,
    },
    /// The peer abandoned its sending part of the stream (RESET_STREAM).
    Reset {
        /// The stream.
        id: StreamId,
        /// The peer's application error code.
        error_code: VarInt,
    },
    /// The peer asked us to stop sending (STOP_SENDING); the stream was
    /// reset with the same code (RFC 9000 §3.5).
    Stopped {
        /// The stream.
        id: StreamId,
        /// The peer's application error code.
        error_code: VarInt,
    },
    /// The peer raised its stream limit after [`Streams::open`](super::Streams::open)
    /// was refused: streams of this type can be opened again.
    Available {
        /// The stream type.
        dir: Dir,
    },
}

/// A stream's scheduling priority, in the manner of RFC 9218: lower
/// urgency first; within an urgency, non-incremental streams one at a time
/// in stream-ID order, then incremental streams round-robin.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Priority {
    /// 0 (most urgent) to 7.
    pub urgency: u8,
    /// Whether the stream's data is useful in pieces, so that it may share
    /// the connection with streams of the same urgency.
    pub incremental: bool,
}

impl Priority {
    /// The least urgent level.
    pub const MAX_URGENCY: u8 = 7;
    /// RFC 9218 §4: urgency 3, not incremental.
    pub const DEFAULT: Self = Self {
        urgency: 3,
        incremental: false,
    };
}

impl Default for Priority {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Limits of the streams layer that are not transport parameters.
///
/// Our initial receive limits come from our own transport parameters
/// (they must match what the peer was told); these bound auto-tuning and
/// the memory the application may park in send buffers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamsConfig {
    /// Auto-tuning never grows a stream's receive window beyond this.
    pub max_stream_window: u64,
    /// Auto-tuning never grows the connection's receive window beyond this.
    pub max_conn_window: u64,
    /// The most unacknowledged bytes one stream may buffer for sending.
    pub stream_send_buffer: u64,
    /// The most unacknowledged bytes all streams together may buffer.
    pub conn_send_buffer: u64,
    /// The most out-of-order pieces a stream keeps aside; a peer that
    /// fragments a stream further is cut off with INTERNAL_ERROR, since
    /// each piece costs bookkeeping the flow-control window does not bound.
    pub max_recv_fragments: usize,
}

impl StreamsConfig {
    /// Defaults sized for a fast long path: windows up to 16 MiB per stream
    /// and 24 MiB per connection, 4 MiB of send buffer per stream and 16 MiB
    /// per connection, 4096 out-of-order pieces per stream.
    pub const DEFAULT: Self = Self {
        max_stream_window: 16 << 20,
        max_conn_window: 24 << 20,
        stream_send_buffer: 4 << 20,
        conn_send_buffer: 16 << 20,
        max_recv_fragments: 4096,
    };
}

impl Default for StreamsConfig {
    fn default() -> Self {
        Self::DEFAULT
    }
}

macro_rules! error_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $v:ident $(($t:ty))? => $msg:literal,)* }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        #[non_exhaustive]
        pub enum $name {
            $($(#[$vm])* $v $(($t))?,)*
        }

        impl fmt::Display for $name {
            #[allow(unused_variables)]
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self {
                    $(error_enum!(@pat $v $(($t))?) => f.write_str($msg),)*
                }
            }
        }

        impl std::error::Error for $name {}
    };
    (@pat $v:ident ($t:ty)) => { Self::$v(_) };
    (@pat $v:ident) => { Self::$v };
}

error_enum! {
    /// Why [`Streams::write`](super::Streams::write) accepted nothing.
    WriteError {
        /// No flow-control credit or buffer room now; wait for
        /// [`StreamEvent::Writable`].
        Blocked => "stream blocked by flow control or buffer limits",
        /// The peer sent STOP_SENDING with this code; the stream was reset.
        Stopped(VarInt) => "peer stopped the stream",
        /// The sending part is finished or reset, or the stream is
        /// receive-only.
        ClosedStream => "stream closed for writing",
        /// No such stream is open (never opened, not yet accepted, or
        /// already closed and forgotten).
        UnknownStream => "unknown stream",
    }
}

error_enum! {
    /// Why [`Streams::read`](super::Streams::read) returned no data.
    ReadError {
        /// The peer reset the stream with this code.
        Reset(VarInt) => "peer reset the stream",
        /// The end of the stream was already read, the application stopped
        /// reading, or the stream is send-only.
        ClosedStream => "stream closed for reading",
        /// No such stream is open.
        UnknownStream => "unknown stream",
    }
}

error_enum! {
    /// Why [`Streams::open`](super::Streams::open) failed.
    OpenError {
        /// The peer's stream limit is reached (a STREAMS_BLOCKED frame is
        /// queued); wait for [`StreamEvent::Available`].
        Blocked => "peer's stream limit reached",
    }
}

error_enum! {
    /// Why a stream operation (finish, reset, stop, priority) failed.
    StreamError {
        /// The direction concerned is already closed or does not exist.
        ClosedStream => "stream closed",
        /// No such stream is open.
        UnknownStream => "unknown stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_is_small() {
        assert!(core::mem::size_of::<StreamRecord>() <= 24);
    }

    #[test]
    fn errors_display() {
        assert_eq!(
            WriteError::Blocked.to_string(),
            "stream blocked by flow control or buffer limits"
        );
        assert_eq!(
            ReadError::Reset(VarInt::ZERO).to_string(),
            "peer reset the stream"
        );
    }
}
