//! perf: a throughput protocol after draft-banks-quic-performance
//! (ALPN `perf`).
//!
//! The client opens a bidirectional stream and sends the number of bytes it
//! wants back as an 8-byte big-endian integer, then any bytes it uploads,
//! then FIN. The server answers with that many bytes, then FIN, starting as
//! soon as it has the 8 bytes (so upload and download may overlap), and
//! discards the upload. Several streams may run at once.
//!
//! The payload is arbitrary for the protocol; ours is a repeating pattern
//! of period 251 counted from the start of each stream, so a receiver that
//! knows it (with [`PerfConfig::verify`] or [`PerfServer::verify_uploads`])
//! checks every byte's value and position.
//!
//! Reset codes: [`ERROR_BAD_REQUEST`] (the stream ended before 8 bytes),
//! [`ERROR_BAD_DATA`] (a verified payload byte was wrong, or the response
//! was longer than asked).

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use quic_proto::config::ClientConfig;
use quic_proto::connection::{ConnectionError, Event, Stats};
use quic_proto::endpoint::{ConnectError, ConnectionHandle, Endpoint};
use quic_proto::streams::{ReadError, StreamEvent, WriteError};
use quic_proto::{Dir, StreamId, VarInt};

use super::{pattern_byte, App, Progress, PATTERN_PERIOD};

/// The ALPN protocol name.
pub const ALPN: &[u8] = b"perf";

/// Reset code: the request stream ended before its 8-byte length.
pub const ERROR_BAD_REQUEST: u32 = 0x1;
/// Reset / stop code: payload bytes were not the expected pattern, or more
/// came than were asked for.
pub const ERROR_BAD_DATA: u32 = 0x2;

/// How many bytes one `read_chunk` takes at most.
const READ_CHUNK: usize = 64 * 1024;

/// The pattern block: `BLOCK[i] = pattern_byte(i)`. Any run of the pattern
/// of up to `BLOCK_RUN` bytes starting at any offset is a slice of it.
const BLOCK_RUN: usize = PATTERN_PERIOD as usize * 261;
const BLOCK_LEN: usize = BLOCK_RUN + PATTERN_PERIOD as usize;
static BLOCK: [u8; BLOCK_LEN] = make_block();

const fn make_block() -> [u8; BLOCK_LEN] {
    let mut block = [0u8; BLOCK_LEN];
    let mut i = 0;
    while i < BLOCK_LEN {
        block[i] = pattern_byte(i as u64);
        i += 1;
    }
    block
}

/// The pattern bytes from stream offset `offset`, at most `max` of them
/// (and at most `BLOCK_RUN`), without copying.
fn pattern(offset: u64, max: u64) -> Bytes {
    let start = (offset % PATTERN_PERIOD) as usize;
    let len = usize::try_from(max).unwrap_or(usize::MAX).min(BLOCK_RUN);
    Bytes::from_static(&BLOCK).slice(start..start + len)
}

/// Whether `data` is the pattern from stream offset `offset`.
fn is_pattern(offset: u64, data: &[u8]) -> bool {
    let mut offset = offset;
    for piece in data.chunks(BLOCK_RUN) {
        let start = (offset % PATTERN_PERIOD) as usize;
        if piece != &BLOCK[start..start + piece.len()] {
            return false;
        }
        offset += piece.len() as u64;
    }
    true
}

// ---- server -----------------------------------------------------------------

struct ServerStream {
    header: [u8; 8],
    header_len: usize,
    /// Known once the 8 bytes are in.
    to_send: Option<u64>,
    sent: u64,
    uploaded: u64,
    send_done: bool,
    recv_done: bool,
}

#[derive(Default)]
struct ServerConn {
    streams: HashMap<StreamId, ServerStream>,
    report: PerfConnReport,
}

/// What a [`PerfServer`] did on one connection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PerfConnReport {
    /// Streams (requests) received.
    pub streams: u64,
    /// Response bytes handed to the transport.
    pub sent: u64,
    /// Upload bytes received.
    pub uploaded: u64,
    /// Streams reset for a bad request or bad data.
    pub errors: u64,
    /// The connection's counters when it closed.
    pub stats: Stats,
}

/// Answers perf requests (ALPN [`ALPN`]) on any number of connections and
/// streams.
#[derive(Default)]
pub struct PerfServer {
    conns: HashMap<ConnectionHandle, ServerConn>,
    finished: Vec<(ConnectionHandle, PerfConnReport)>,
    verify_uploads: bool,
    sent: u64,
    requests: u64,
    completed: u64,
    failed: u64,
}

impl fmt::Debug for PerfServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PerfServer")
            .field("connections", &self.conns.len())
            .field("sent", &self.sent)
            .field("requests", &self.requests)
            .finish_non_exhaustive()
    }
}

impl PerfServer {
    /// A server that discards uploads unchecked.
    pub fn new() -> Self {
        Self::default()
    }

    /// Checks every uploaded byte against the pattern this crate's client
    /// sends; a mismatch resets the stream with [`ERROR_BAD_DATA`]. Only
    /// for clients known to send that pattern.
    pub fn verify_uploads(mut self, verify: bool) -> Self {
        self.verify_uploads = verify;
        self
    }

    /// The connections that have closed, with what was done on each, in
    /// the order they closed. (Bounded by the last 1024.)
    pub fn finished(&self) -> &[(ConnectionHandle, PerfConnReport)] {
        &self.finished
    }

    /// What was done so far on a live connection.
    pub fn connection(&self, handle: ConnectionHandle) -> Option<PerfConnReport> {
        self.conns.get(&handle).map(|c| c.report)
    }

    fn accept(&mut self, endpoint: &mut Endpoint, handle: ConnectionHandle) {
        let mut ids = Vec::new();
        if let Some(conn) = endpoint.connection(handle) {
            while let Some(id) = conn.accept_stream(Dir::Bi) {
                ids.push(id);
            }
            while let Some(id) = conn.accept_stream(Dir::Uni) {
                let _ = conn.stop(id, VarInt::from_u32(ERROR_BAD_REQUEST));
            }
        }
        for id in ids {
            let c = self.conns.entry(handle).or_default();
            c.report.streams += 1;
            self.requests += 1;
            c.streams.insert(
                id,
                ServerStream {
                    header: [0; 8],
                    header_len: 0,
                    to_send: None,
                    sent: 0,
                    uploaded: 0,
                    send_done: false,
                    recv_done: false,
                },
            );
            self.read(endpoint, handle, id);
        }
    }

    fn read(&mut self, endpoint: &mut Endpoint, handle: ConnectionHandle, id: StreamId) {
        let Some(conn) = endpoint.connection(handle) else {
            return;
        };
        let Some(c) = self.conns.get_mut(&handle) else {
            return;
        };
        let Some(s) = c.streams.get_mut(&id) else {
            return;
        };
        let mut failed = false;
        loop {
            match conn.read_chunk(id, READ_CHUNK) {
                Ok(Some((mut data, fin))) => {
                    if s.header_len < 8 {
                        let n = (8 - s.header_len).min(data.len());
                        s.header[s.header_len..s.header_len + n].copy_from_slice(&data[..n]);
                        s.header_len += n;
                        let _ = data.split_to(n);
                        if s.header_len == 8 {
                            s.to_send = Some(u64::from_be_bytes(s.header));
                        }
                    }
                    if self.verify_uploads && !is_pattern(s.uploaded, &data) {
                        failed = true;
                    }
                    s.uploaded += data.len() as u64;
                    c.report.uploaded += data.len() as u64;
                    if fin {
                        s.recv_done = true;
                        failed |= s.to_send.is_none();
                    }
                    if fin || failed {
                        break;
                    }
                }
                Ok(None) => break,
                Err(_) => {
                    // Reset by the client, or already at the end.
                    s.recv_done = true;
                    failed |= s.to_send.is_none();
                    break;
                }
            }
        }
        if failed {
            let code = if s.to_send.is_none() {
                ERROR_BAD_REQUEST
            } else {
                ERROR_BAD_DATA
            };
            let _ = conn.reset(id, VarInt::from_u32(code));
            let _ = conn.stop(id, VarInt::from_u32(code));
            c.streams.remove(&id);
            c.report.errors += 1;
            self.failed += 1;
            return;
        }
        self.send(endpoint, handle, id);
    }

    fn send(&mut self, endpoint: &mut Endpoint, handle: ConnectionHandle, id: StreamId) {
        let Some(conn) = endpoint.connection(handle) else {
            return;
        };
        let Some(c) = self.conns.get_mut(&handle) else {
            return;
        };
        let Some(s) = c.streams.get_mut(&id) else {
            return;
        };
        if let (Some(total), false) = (s.to_send, s.send_done) {
            while s.sent < total {
                match conn.write_bytes(id, pattern(s.sent, total - s.sent)) {
                    Ok(n) => {
                        s.sent += n as u64;
                        c.report.sent += n as u64;
                        self.sent += n as u64;
                    }
                    Err(WriteError::Blocked) => break,
                    Err(_) => {
                        // Stopped by the client: this stream is over.
                        c.streams.remove(&id);
                        self.failed += 1;
                        return;
                    }
                }
            }
            if s.sent == total {
                let _ = conn.finish(id);
                s.send_done = true;
                self.completed += 1;
            }
        }
        if s.send_done && s.recv_done {
            c.streams.remove(&id);
        }
    }

    fn closed(&mut self, endpoint: &mut Endpoint, handle: ConnectionHandle) {
        if let Some(mut c) = self.conns.remove(&handle) {
            if let Some(conn) = endpoint.connection(handle) {
                c.report.stats = conn.stats();
            }
            if self.finished.len() == 1024 {
                self.finished.remove(0);
            }
            self.finished.push((handle, c.report));
        }
    }
}

impl App for PerfServer {
    fn handle_event(
        &mut self,
        endpoint: &mut Endpoint,
        _now: Instant,
        handle: ConnectionHandle,
        event: Event,
    ) {
        match event {
            Event::Connected => {
                self.conns.entry(handle).or_default();
            }
            Event::Stream(StreamEvent::Opened { .. }) => self.accept(endpoint, handle),
            Event::Stream(StreamEvent::Readable { id } | StreamEvent::Reset { id, .. }) => {
                self.read(endpoint, handle, id)
            }
            Event::Stream(StreamEvent::Writable { id }) => self.send(endpoint, handle, id),
            Event::Stream(StreamEvent::Stopped { id, .. }) => {
                if let Some(c) = self.conns.get_mut(&handle) {
                    if c.streams.remove(&id).is_some() {
                        self.failed += 1;
                    }
                }
            }
            Event::Closed(_) | Event::Drained => self.closed(endpoint, handle),
            _ => {}
        }
    }

    fn is_done(&self) -> bool {
        false
    }

    fn progress(&self) -> Progress {
        Progress {
            bytes: self.sent,
            total: None,
            requests: self.requests,
            completed: self.completed,
            failed: self.failed,
        }
    }
}

// ---- client -----------------------------------------------------------------

/// What a [`PerfClient`] asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PerfConfig {
    /// Streams run at once (at least 1); the totals are split evenly
    /// across them.
    pub streams: usize,
    /// Bytes to download in all.
    pub download: u64,
    /// Bytes to upload in all.
    pub upload: u64,
    /// Check every downloaded byte against the pattern of [`PerfServer`]
    /// (leave off against other servers, whose payload is their own).
    pub verify: bool,
}

impl Default for PerfConfig {
    /// One stream, 10 MB down, nothing up, verified.
    fn default() -> Self {
        Self {
            streams: 1,
            download: 10_000_000,
            upload: 0,
            verify: true,
        }
    }
}

impl PerfConfig {
    /// `streams` streams downloading `download` bytes in all.
    pub fn new(streams: usize, download: u64) -> Self {
        Self {
            streams,
            download,
            ..Self::default()
        }
    }

    /// The same, uploading `upload` bytes in all too.
    pub fn with_upload(mut self, upload: u64) -> Self {
        self.upload = upload;
        self
    }

    /// The same, checking (or not) every downloaded byte.
    pub fn with_verify(mut self, verify: bool) -> Self {
        self.verify = verify;
        self
    }
}

/// `total` split into `parts` near-equal shares, the larger ones first.
fn share(total: u64, parts: usize, index: usize) -> u64 {
    let parts = parts.max(1) as u64;
    total / parts + u64::from((index as u64) < total % parts)
}

struct ClientStream {
    id: Option<StreamId>,
    want: u64,
    upload: u64,
    /// Header bytes written (0..=8), then upload bytes written.
    header_written: usize,
    uploaded: u64,
    fin_sent: bool,
    received: u64,
    /// The whole response arrived.
    received_all: bool,
    /// The response arrived and the request (with its upload) was sent.
    done: bool,
    error: Option<String>,
}

/// Runs perf requests on one connection and measures them
/// (ALPN [`ALPN`]).
///
/// [`PerfClient::connect`] starts the connection; once it is up, all the
/// streams of [`PerfConfig`] start at once. When every stream has finished
/// or failed, the client takes a last snapshot of the connection's counters
/// and closes it with code 0; [`PerfClient::report`] tells the results.
pub struct PerfClient {
    config: PerfConfig,
    handle: Option<ConnectionHandle>,
    started: Option<Instant>,
    connected: Option<Instant>,
    finished: Option<Instant>,
    last_now: Option<Instant>,
    streams: Vec<ClientStream>,
    by_id: HashMap<StreamId, usize>,
    next_open: usize,
    received: u64,
    uploaded: u64,
    stats: Stats,
    error: Option<ConnectionError>,
    closed: bool,
}

impl fmt::Debug for PerfClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PerfClient")
            .field("config", &self.config)
            .field("received", &self.received)
            .field("closed", &self.closed)
            .finish_non_exhaustive()
    }
}

/// The results of a [`PerfClient`], final once it [is done](App::is_done).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct PerfReport {
    /// Streams run.
    pub streams: usize,
    /// Streams that failed (see `errors`).
    pub failed_streams: usize,
    /// Bytes asked for.
    pub requested: u64,
    /// Bytes received (and verified, if asked).
    pub downloaded: u64,
    /// Bytes uploaded (handed to the transport).
    pub uploaded: u64,
    /// From `connect` to the `Connected` event.
    pub handshake: Option<Duration>,
    /// From the `Connected` event (when the streams start) to the last
    /// stream's end, or to the latest `now` seen while still running.
    pub elapsed: Duration,
    /// The client connection's counters at the end (or the latest seen).
    pub stats: Stats,
    /// Per failed stream, why.
    pub errors: Vec<String>,
    /// Why the connection ended, if it ended before the transfer did.
    pub connection_error: Option<ConnectionError>,
    /// Whether every stream completed with every byte.
    pub complete: bool,
}

impl PerfReport {
    /// Download throughput in Gbit/s over `elapsed`.
    pub fn download_gbps(&self) -> f64 {
        gbps(self.downloaded, self.elapsed)
    }

    /// Upload throughput in Gbit/s over `elapsed`.
    pub fn upload_gbps(&self) -> f64 {
        gbps(self.uploaded, self.elapsed)
    }
}

/// `bytes` over `elapsed`, in Gbit/s (0 for no time).
pub fn gbps(bytes: u64, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs > 0.0 {
        bytes as f64 * 8.0 / secs / 1e9
    } else {
        0.0
    }
}

impl fmt::Display for PerfReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} bytes down, {} up in {:.3} s over {} stream(s): {:.3} Gbit/s down, {:.3} Gbit/s up",
            self.downloaded,
            self.uploaded,
            self.elapsed.as_secs_f64(),
            self.streams,
            self.download_gbps(),
            self.upload_gbps()
        )?;
        if let Some(h) = self.handshake {
            write!(f, "; handshake {:.1} ms", h.as_secs_f64() * 1e3)?;
        }
        write!(
            f,
            "; rtt {:.1} ms; {} packets sent, {} lost",
            self.stats.rtt.as_secs_f64() * 1e3,
            self.stats.packets_sent,
            self.stats.packets_lost
        )?;
        if let Some(e) = &self.connection_error {
            write!(f, "; connection: {e}")?;
        }
        for e in &self.errors {
            write!(f, "; {e}")?;
        }
        Ok(())
    }
}

impl PerfClient {
    /// A client that will run `config` once connected.
    pub fn new(config: PerfConfig) -> Self {
        let n = config.streams.max(1);
        let streams = (0..n)
            .map(|i| ClientStream {
                id: None,
                want: share(config.download, n, i),
                upload: share(config.upload, n, i),
                header_written: 0,
                uploaded: 0,
                fin_sent: false,
                received: 0,
                received_all: false,
                done: false,
                error: None,
            })
            .collect();
        Self {
            config,
            handle: None,
            started: None,
            connected: None,
            finished: None,
            last_now: None,
            streams,
            by_id: HashMap::new(),
            next_open: 0,
            received: 0,
            uploaded: 0,
            stats: Stats::default(),
            error: None,
            closed: false,
        }
    }

    /// Connects to `remote` (verifying it as `server_name`).
    pub fn connect(
        &mut self,
        endpoint: &mut Endpoint,
        now: Instant,
        config: &ClientConfig,
        remote: SocketAddr,
        server_name: &str,
    ) -> Result<ConnectionHandle, ConnectError> {
        let handle = endpoint.connect(now, config, remote, server_name)?;
        self.handle = Some(handle);
        self.started = Some(now);
        self.last_now = Some(now);
        Ok(handle)
    }

    /// The connection, once [`PerfClient::connect`] succeeded.
    pub fn handle(&self) -> Option<ConnectionHandle> {
        self.handle
    }

    /// The configuration.
    pub fn config(&self) -> PerfConfig {
        self.config
    }

    /// The results so far (final once done).
    pub fn report(&self) -> PerfReport {
        let end = self.finished.or(self.last_now);
        let elapsed = match (self.connected, end) {
            (Some(start), Some(end)) => end.saturating_duration_since(start),
            _ => Duration::ZERO,
        };
        let errors: Vec<String> = self
            .streams
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.error.as_ref().map(|e| format!("stream #{i}: {e}")))
            .collect();
        let failed_streams = errors.len();
        PerfReport {
            streams: self.streams.len(),
            failed_streams,
            requested: self.config.download,
            downloaded: self.received,
            uploaded: self.uploaded,
            handshake: self
                .started
                .zip(self.connected)
                .map(|(s, c)| c.saturating_duration_since(s)),
            elapsed,
            stats: self.stats,
            errors,
            connection_error: self.error.clone(),
            complete: failed_streams == 0
                && self.error.is_none()
                && self.streams.iter().all(|s| s.done),
        }
    }

    fn open_streams(&mut self, endpoint: &mut Endpoint) {
        if self.connected.is_none() || self.closed {
            return;
        }
        let Some(handle) = self.handle else {
            return;
        };
        while self.next_open < self.streams.len() {
            let Some(conn) = endpoint.connection(handle) else {
                return;
            };
            let Ok(id) = conn.open_stream(Dir::Bi) else {
                break; // Available follows.
            };
            let i = self.next_open;
            self.next_open += 1;
            self.streams[i].id = Some(id);
            self.by_id.insert(id, i);
            self.write(endpoint, i);
        }
    }

    fn write(&mut self, endpoint: &mut Endpoint, i: usize) {
        let Some(conn) = self.handle.and_then(|h| endpoint.connection(h)) else {
            return;
        };
        let s = &mut self.streams[i];
        let Some(id) = s.id else {
            return;
        };
        let header = s.want.to_be_bytes();
        while s.header_written < 8 {
            match conn.write(id, &header[s.header_written..]) {
                Ok(n) => s.header_written += n,
                Err(_) => return, // Writable follows, or the read side reports.
            }
        }
        while s.uploaded < s.upload {
            match conn.write_bytes(id, pattern(s.uploaded, s.upload - s.uploaded)) {
                Ok(n) => {
                    s.uploaded += n as u64;
                    self.uploaded += n as u64;
                }
                Err(_) => return,
            }
        }
        if !s.fin_sent {
            s.fin_sent = conn.finish(id).is_ok();
        }
        if s.fin_sent && s.received_all && !s.done {
            s.done = true;
            self.by_id.remove(&id);
        }
    }

    fn read(&mut self, endpoint: &mut Endpoint, id: StreamId) {
        let Some(&i) = self.by_id.get(&id) else {
            return;
        };
        let Some(conn) = self.handle.and_then(|h| endpoint.connection(h)) else {
            return;
        };
        let s = &mut self.streams[i];
        let end = loop {
            match conn.read_chunk(id, READ_CHUNK) {
                Ok(Some((data, fin))) => {
                    let n = data.len() as u64;
                    if s.received + n > s.want {
                        let _ = conn.stop(id, VarInt::from_u32(ERROR_BAD_DATA));
                        break Some(Err(format!("more than the {} bytes asked for", s.want)));
                    }
                    if self.config.verify && !is_pattern(s.received, &data) {
                        let _ = conn.stop(id, VarInt::from_u32(ERROR_BAD_DATA));
                        break Some(Err(format!("wrong data near offset {}", s.received)));
                    }
                    s.received += n;
                    self.received += n;
                    if fin {
                        break Some(if s.received == s.want {
                            Ok(())
                        } else {
                            Err(format!("{} of {} bytes, then FIN", s.received, s.want))
                        });
                    }
                }
                Ok(None) => break None,
                Err(ReadError::Reset(code)) => {
                    break Some(Err(format!("reset by the server with code {code}")));
                }
                Err(_) => break None,
            }
        };
        match end {
            Some(Ok(())) => {
                s.received_all = true;
                // Done once the upload is out too.
                s.done = s.fin_sent;
                if !s.done {
                    return;
                }
            }
            Some(Err(e)) => {
                s.error = Some(e);
                let _ = conn.reset(id, VarInt::from_u32(ERROR_BAD_DATA));
            }
            None => return,
        }
        self.by_id.remove(&id);
    }

    fn finish_if_done(&mut self, endpoint: &mut Endpoint, now: Instant) {
        if self.closed || self.connected.is_none() {
            return;
        }
        if !self.streams.iter().all(|s| s.done || s.error.is_some()) {
            return;
        }
        self.finished = Some(now);
        self.closed = true;
        if let Some(conn) = self.handle.and_then(|h| endpoint.connection(h)) {
            self.stats = conn.stats();
            conn.close(now, VarInt::ZERO, b"done");
        }
    }
}

impl App for PerfClient {
    fn handle_event(
        &mut self,
        endpoint: &mut Endpoint,
        now: Instant,
        handle: ConnectionHandle,
        event: Event,
    ) {
        if Some(handle) != self.handle {
            return;
        }
        self.last_now = Some(now);
        match event {
            Event::Connected => {
                self.connected = Some(now);
                self.open_streams(endpoint);
            }
            Event::Stream(StreamEvent::Available { dir: Dir::Bi }) => self.open_streams(endpoint),
            Event::Stream(StreamEvent::Readable { id } | StreamEvent::Reset { id, .. }) => {
                self.read(endpoint, id)
            }
            Event::Stream(StreamEvent::Writable { id }) => {
                if let Some(&i) = self.by_id.get(&id) {
                    self.write(endpoint, i);
                }
            }
            Event::Stream(StreamEvent::Stopped { id, error_code }) => {
                if let Some(i) = self.by_id.remove(&id) {
                    let s = &mut self.streams[i];
                    s.error = Some(format!(
                        "upload stopped by the server with code {error_code}"
                    ));
                    if let Some(conn) = endpoint.connection(handle) {
                        let _ = conn.stop(id, VarInt::from_u32(ERROR_BAD_DATA));
                    }
                }
            }
            // Ended before we closed it (after, the report is final).
            Event::Closed(error) if !self.closed => {
                if let Some(conn) = endpoint.connection(handle) {
                    self.stats = conn.stats();
                }
                self.finished = Some(now);
                self.error = Some(error);
                self.closed = true;
            }
            Event::Drained => self.closed = true,
            _ => {}
        }
        self.finish_if_done(endpoint, now);
    }

    fn poll(&mut self, endpoint: &mut Endpoint, now: Instant) {
        self.last_now = Some(now);
        if !self.closed {
            if let Some(conn) = self.handle.and_then(|h| endpoint.connection(h)) {
                self.stats = conn.stats();
            }
        }
        if self.next_open < self.streams.len() {
            self.open_streams(endpoint);
        }
    }

    fn is_done(&self) -> bool {
        self.closed
    }

    fn progress(&self) -> Progress {
        let failed = self.streams.iter().filter(|s| s.error.is_some()).count() as u64;
        Progress {
            bytes: self.received,
            total: Some(self.config.download),
            requests: self.streams.len() as u64,
            completed: self.streams.iter().filter(|s| s.done).count() as u64,
            failed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_slices_match_the_pattern_anywhere() {
        for offset in [0u64, 1, 250, 251, 1000, 1 << 40] {
            let p = pattern(offset, 70_000);
            assert_eq!(p.len(), BLOCK_RUN);
            assert!(p
                .iter()
                .enumerate()
                .all(|(k, &b)| b == pattern_byte(offset + k as u64)));
            assert!(is_pattern(offset, &p));
            assert!(!is_pattern(offset + 1, &p));
        }
        let long: Vec<u8> = (0..200_000u64).map(|i| pattern_byte(7 + i)).collect();
        assert!(is_pattern(7, &long));
        let mut bad = long.clone();
        bad[150_000] ^= 1;
        assert!(!is_pattern(7, &bad));
        assert_eq!(pattern(3, 10).len(), 10);
    }

    #[test]
    fn shares_add_up() {
        for (total, parts) in [(100u64, 3usize), (0, 4), (7, 7), (5, 8), (1 << 40, 9)] {
            let sum: u64 = (0..parts).map(|i| share(total, parts, i)).sum();
            assert_eq!(sum, total);
        }
    }
}
