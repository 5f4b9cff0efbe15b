//! Streams and flow control (RFC 9000 §2-§4): send buffers, receive reassembly, credit.
//!
//! [`Streams`] is the set of a connection's streams. It needs no connection
//! object and never sees a packet: the connection (or any other transport,
//! such as a QMux record layer) hands it frames from the peer and asks it to
//! fill a byte budget with frames of its own.
//!
//! # The two directions of the seam
//!
//! **In**: each stream-related frame goes to an `on_*` method
//! ([`Streams::on_stream_frame`], [`Streams::on_reset_stream`], ... or
//! [`Streams::on_frame`] for any decoded [`Frame`](crate::Frame)), which
//! validates it against stream states and limits and returns the
//! [`TransportError`](crate::TransportError) to close the connection with.
//! STREAM data is copied once, from the decrypted packet into the stream's
//! receive buffer.
//!
//! **Out**: [`Streams::write_frames`] writes into a frame sink (any
//! [`Encoder`](crate::coding::Encoder): the packet being built, a
//! `SliceWriter` over the caller's buffer, a record writer) at most `budget`
//! bytes, control frames first, then STREAM frames whose bytes are copied
//! once from the send buffer. For each frame it pushes a small `Copy`
//! [`StreamRecord`] (stream, offset, length, FIN, or which control frame)
//! that the connection keeps in its sent-packet log. When the packet is
//! acknowledged or declared lost, the connection hands each record back to
//! [`Streams::on_acked`] or [`Streams::on_lost`]: acknowledged data is
//! freed, lost data is queued again and re-read from the send buffer, and a
//! lost control frame is resent only if it still says something current.
//! Over a transport where everything written is delivered (QMux), every
//! record is simply acknowledged at once.
//!
//! # Flow control
//!
//! Writes reserve the peer's stream credit and are bounded by per-stream and
//! per-connection buffer limits, so the application gets back-pressure
//! ([`WriteError::Blocked`], then [`StreamEvent::Writable`]). The peer's
//! MAX_DATA limits STREAM frames as they are written; DATA_BLOCKED,
//! STREAM_DATA_BLOCKED and STREAMS_BLOCKED are sent once per limit. On the
//! receive side a new MAX_STREAM_DATA / MAX_DATA is sent once the
//! application has consumed half the window, and the window doubles (up to
//! [`StreamsConfig`]'s maximum) when that happens within two RTTs.
//! Connection-level accounting counts the highest offset received on each
//! stream, final sizes from RESET_STREAM included (RFC 9000 §4.1, §4.5).
//!
//! # Memory
//!
//! Stream state is allocated when a stream is opened, accepted, or touched
//! by a frame, never per unit of credit: a peer allowing a million streams
//! costs nothing until they are used, and peer streams implicitly opened by
//! a higher stream ID (RFC 9000 §3.2) get state only when touched or
//! accepted. A stream is freed once both directions are in a terminal state
//! the application has seen. Acknowledged send data and read receive data
//! are released as they go; reassembly keeps out-of-order data inside the
//! flow-control window.
//!
//! # Scheduling
//!
//! Streams with data to send sit in a priority scheduler ([`Priority`],
//! RFC 9218 style): urgency 0-7, lowest first; within an urgency,
//! non-incremental streams one at a time in stream-ID order, then
//! incremental ones round-robin. Lost data and FINs go before new data.
//! Picking the next stream never scans all streams.
//!
//! # Example
//!
//! ```
//! use std::time::{Duration, Instant};
//! use quic_proto::frame::{Dir, Frames};
//! use quic_proto::streams::{StreamEvent, Streams, StreamsConfig};
//! use quic_proto::transport_params::TransportParameters;
//! use quic_proto::{Side, VarInt};
//!
//! let mut tp = TransportParameters::DEFAULT;
//! tp.initial_max_data = VarInt::from_u32(1 << 20);
//! tp.initial_max_stream_data_bidi_local = VarInt::from_u32(1 << 16);
//! tp.initial_max_stream_data_bidi_remote = VarInt::from_u32(1 << 16);
//! tp.initial_max_streams_bidi = VarInt::from_u32(10);
//!
//! let mut client = Streams::new(Side::Client, &tp, StreamsConfig::default());
//! let mut server = Streams::new(Side::Server, &tp, StreamsConfig::default());
//! client.set_peer_params(&tp);
//! server.set_peer_params(&tp);
//!
//! let id = client.open(Dir::Bi).unwrap();
//! assert_eq!(client.write(id, b"hello"), Ok(5));
//! client.finish(id).unwrap();
//!
//! // The connection builds a packet: a budget, a sink, a record log.
//! let (now, rtt) = (Instant::now(), Duration::from_millis(20));
//! let mut payload = Vec::new();
//! let mut records = Vec::new();
//! client.write_frames(now, rtt, 1200, &mut payload, &mut records);
//!
//! // The peer decodes the payload and routes the frames.
//! for frame in Frames::new(&payload) {
//!     assert!(server.on_frame(&frame.unwrap()).unwrap());
//! }
//! // The packet was acknowledged: the records go back.
//! for r in records {
//!     client.on_acked(r);
//! }
//! assert_eq!(client.poll_event(), Some(StreamEvent::Finished { id }));
//!
//! assert_eq!(server.poll_event(), Some(StreamEvent::Opened { dir: Dir::Bi }));
//! let id = server.accept(Dir::Bi).unwrap();
//! let mut buf = [0; 16];
//! assert_eq!(server.read(id, &mut buf), Ok(Some((5, true))));
//! assert_eq!(&buf[..5], b"hello");
//! ```

mod flow;
mod incoming;
mod outgoing;
mod ranges;
mod recv;
mod schedule;
mod send;
#[allow(clippy::module_inception)]
mod streams;
mod types;

#[cfg(test)]
mod tests;

pub use streams::Streams;
pub use types::{
    OpenError, Priority, ReadError, StreamError, StreamEvent, StreamRecord, StreamsConfig,
    WriteError,
};

/// A base instant for tests: only differences between instants matter.
#[cfg(test)]
pub(crate) use crate::test_instant;
