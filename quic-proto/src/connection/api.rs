//! The application's side of a connection: streams (RFC 9000 §2–§4) and
//! unreliable datagrams (RFC 9221). Streams are a component of their own
//! (`crate::streams`); these calls forward to it.

use bytes::Bytes;

use super::Connection;
use crate::frame::{Dir, StreamId};
use crate::streams::{OpenError, Priority, ReadError, StreamError, WriteError};
use crate::VarInt;

impl Connection {
    // ---- streams -------------------------------------------------------

    /// Opens a stream, if the peer's stream limit allows (RFC 9000 §4.6).
    pub fn open_stream(&mut self, dir: Dir) -> Result<StreamId, OpenError> {
        self.streams.open(dir)
    }

    /// The next stream the peer opened, if any.
    pub fn accept_stream(&mut self, dir: Dir) -> Option<StreamId> {
        self.streams.accept(dir)
    }

    /// Copies as much of `data` as flow control and buffers allow into the
    /// stream; returns how much was taken.
    pub fn write(&mut self, id: StreamId, data: &[u8]) -> Result<usize, WriteError> {
        self.streams.write(id, data)
    }

    /// Like [`Connection::write`], without copying.
    pub fn write_bytes(&mut self, id: StreamId, data: Bytes) -> Result<usize, WriteError> {
        self.streams.write_bytes(id, data)
    }

    /// Ends the stream's send side (FIN).
    pub fn finish(&mut self, id: StreamId) -> Result<(), StreamError> {
        self.streams.finish(id)
    }

    /// Abandons the stream's send side with RESET_STREAM.
    pub fn reset(&mut self, id: StreamId, code: VarInt) -> Result<(), StreamError> {
        self.streams.reset(id, code)
    }

    /// Asks the peer to stop sending with STOP_SENDING.
    pub fn stop(&mut self, id: StreamId, code: VarInt) -> Result<(), StreamError> {
        self.streams.stop(id, code)
    }

    /// Reads in-order data into `buf`: `Ok(Some((n, fin)))`, or `Ok(None)`
    /// when nothing is available yet.
    pub fn read(
        &mut self,
        id: StreamId,
        buf: &mut [u8],
    ) -> Result<Option<(usize, bool)>, ReadError> {
        self.streams.read(id, buf)
    }

    /// Reads the next in-order chunk of at most `max` bytes without copying.
    pub fn read_chunk(
        &mut self,
        id: StreamId,
        max: usize,
    ) -> Result<Option<(Bytes, bool)>, ReadError> {
        self.streams.read_chunk(id, max)
    }

    /// Sets a stream's priority (RFC 9218 urgency and incremental flag).
    pub fn set_priority(
        &mut self,
        id: StreamId,
        urgency: u8,
        incremental: bool,
    ) -> Result<(), StreamError> {
        self.streams.set_priority(id, urgency, incremental)
    }

    /// A stream's priority.
    pub fn priority(&self, id: StreamId) -> Option<Priority> {
        self.streams.priority(id)
    }

    // ---- datagrams (RFC 9221) -----------------------------------------

    /// The largest datagram payload the peer accepts now, or `None` if it
    /// does not accept datagrams.
    pub fn max_datagram_size(&self) -> Option<usize> {
        let peer = self
            .peer_params
            .as_ref()?
            .max_datagram_frame_size?
            .into_inner();
        // Frame type and length prefix take up to 1 + 2 bytes in practice.
        let path = usize::from(self.path.mtu).saturating_sub(1 + 20 + 4 + 16 + 3);
        Some(
            (peer.min(u64::from(u16::MAX)) as usize)
                .saturating_sub(3)
                .min(path),
        )
    }

    /// Queues an unreliable datagram. The oldest queued datagram is dropped
    /// when the queue is full.
    pub fn send_datagram(&mut self, data: Bytes) -> Result<(), DatagramError> {
        let max = self
            .max_datagram_size()
            .ok_or(DatagramError::UnsupportedByPeer)?;
        if data.len() > max {
            return Err(DatagramError::TooLarge);
        }
        if self.datagrams_out.len() >= self.config.datagram_queue_len {
            self.datagrams_out.pop_front();
        }
        self.datagrams_out.push_back(data);
        Ok(())
    }

    /// Takes the oldest received datagram.
    pub fn recv_datagram(&mut self) -> Option<Bytes> {
        self.datagrams_in.pop_front()
    }
}

/// A datagram could not be queued.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DatagramError {
    /// The peer did not advertise max_datagram_frame_size (RFC 9221 §3), or
    /// the handshake has not got that far.
    UnsupportedByPeer,
    /// Larger than [`Connection::max_datagram_size`].
    TooLarge,
}

impl core::fmt::Display for DatagramError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::UnsupportedByPeer => "the peer does not accept datagrams",
            Self::TooLarge => "datagram too large",
        })
    }
}

impl std::error::Error for DatagramError {}
