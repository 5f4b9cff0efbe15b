//! The hq-interop server: files under a root directory, one per request
//! stream, read and sent in bounded chunks as the stream takes them.

use std::collections::HashMap;
use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Instant;

use quic_proto::connection::Event;
use quic_proto::endpoint::{ConnectionHandle, Endpoint};
use quic_proto::streams::{StreamEvent, WriteError};
use quic_proto::{Dir, StreamId, VarInt};

use super::{
    parse_request, request_relative_path, Refusal, CHUNK, ERROR_CANCELLED, ERROR_INTERNAL,
    MAX_REQUEST,
};
use crate::apps::{App, Progress};

/// What happened to one request, for the server's log.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct LogEntry {
    /// The connection.
    pub connection: ConnectionHandle,
    /// The client's address, if the connection was still there.
    pub remote: Option<SocketAddr>,
    /// The request stream.
    pub stream: StreamId,
    /// The requested path as sent (empty if the request was unreadable).
    pub path: String,
    /// The outcome.
    pub outcome: LogOutcome,
}

/// How a request ended.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LogOutcome {
    /// The whole file was handed to the transport, FIN included.
    Served {
        /// The file's size in bytes.
        bytes: u64,
    },
    /// Refused before the response began; the stream was reset with `code`.
    Refused {
        /// The reset code ([`super::ERROR_NOT_FOUND`] and friends).
        code: u32,
        /// Why, for people.
        reason: String,
    },
    /// Reading the file failed midway; the stream was reset with
    /// [`super::ERROR_INTERNAL`].
    Failed {
        /// Bytes sent before the failure.
        bytes: u64,
        /// The I/O error.
        reason: String,
    },
    /// The client stopped or reset the stream, or the connection ended.
    Cancelled {
        /// Bytes sent before.
        bytes: u64,
        /// The client's code, if it sent one.
        code: Option<u64>,
    },
}

impl fmt::Display for LogEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.remote {
            Some(remote) => write!(f, "{remote} ")?,
            None => f.write_str("- ")?,
        }
        write!(f, "stream {} {:?}: ", self.stream.into_inner(), self.path)?;
        match &self.outcome {
            LogOutcome::Served { bytes } => write!(f, "served {bytes} bytes"),
            LogOutcome::Refused { code, reason } => write!(f, "refused ({code}): {reason}"),
            LogOutcome::Failed { bytes, reason } => {
                write!(f, "failed after {bytes} bytes ({ERROR_INTERNAL}): {reason}")
            }
            LogOutcome::Cancelled { bytes, code } => match code {
                Some(code) => write!(
                    f,
                    "cancelled by the client (code {code}) after {bytes} bytes"
                ),
                None => write!(f, "cancelled after {bytes} bytes"),
            },
        }
    }
}

/// Counters of an [`HqServer`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct HqServerStats {
    /// Connections seen.
    pub connections: u64,
    /// Request streams accepted.
    pub requests: u64,
    /// Responses sent in full.
    pub served: u64,
    /// Requests refused (bad request, forbidden, not found).
    pub refused: u64,
    /// Responses cut short by a read error.
    pub failed: u64,
    /// Responses the client cancelled.
    pub cancelled: u64,
    /// Response bytes handed to the transport.
    pub bytes_sent: u64,
}

/// A request stream.
enum ServerStream {
    /// Collecting the request line (at most [`MAX_REQUEST`] + 1 bytes).
    Request(Vec<u8>),
    /// Sending the file.
    Sending(Box<Sending>),
}

struct Sending {
    path: String,
    file: File,
    /// Read from the file, not yet taken by the stream: `buf[start..end]`.
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    eof: bool,
    sent: u64,
}

/// The log callback.
type Logger = Box<dyn FnMut(&LogEntry) + Send>;

/// Serves the files under a root directory over hq-interop (ALPN
/// [`super::ALPN`]): any number of connections, any number of concurrent
/// requests on each.
///
/// Each request is `GET /path` on a client-initiated bidirectional
/// stream. The path is percent-decoded and mapped below the root; `..`
/// segments, backslashes, drive colons, and symbolic links that resolve
/// outside the root are refused ([`super::ERROR_FORBIDDEN`]). A path naming
/// a directory serves its `index.html`. The file is streamed in chunks of
/// 64 KiB as flow control allows, so memory stays bounded whatever its size.
/// Failures reset the stream with the codes of [`super`] and are reported
/// to the logger set with [`HqServer::on_log`]; the other requests and
/// connections carry on.
pub struct HqServer {
    root: PathBuf,
    conns: HashMap<ConnectionHandle, HashMap<StreamId, ServerStream>>,
    stats: HqServerStats,
    logger: Option<Logger>,
    scratch: Box<[u8]>,
}

impl fmt::Debug for HqServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HqServer")
            .field("root", &self.root)
            .field("connections", &self.conns.len())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl HqServer {
    /// A server for the files under `root`, which must be a directory.
    pub fn new(root: impl AsRef<Path>) -> io::Result<Self> {
        let root = std::fs::canonicalize(root.as_ref()).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("root directory {}: {e}", root.as_ref().display()),
            )
        })?;
        if !root.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("root {} is not a directory", root.display()),
            ));
        }
        Ok(Self {
            root,
            conns: HashMap::new(),
            stats: HqServerStats::default(),
            logger: None,
            scratch: vec![0; CHUNK].into_boxed_slice(),
        })
    }

    /// Calls `logger` with every finished request (served, refused, failed
    /// or cancelled).
    pub fn on_log(mut self, logger: impl FnMut(&LogEntry) + Send + 'static) -> Self {
        self.logger = Some(Box::new(logger));
        self
    }

    /// The root directory, canonical.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The counters.
    pub fn stats(&self) -> HqServerStats {
        self.stats
    }

    /// Maps a request path to an open file below the root.
    fn open(&self, path: &str) -> Result<File, (Refusal, String)> {
        let rel = request_relative_path(path).map_err(|r| (r, "invalid path".to_owned()))?;
        let mut target = self.root.join(rel);
        for _ in 0..2 {
            let canonical = std::fs::canonicalize(&target).map_err(|e| io_refusal(&e))?;
            if !canonical.starts_with(&self.root) {
                return Err((Refusal::Forbidden, "outside the root".to_owned()));
            }
            if canonical.is_dir() {
                target = canonical.join("index.html");
                continue;
            }
            let file = File::open(&canonical).map_err(|e| io_refusal(&e))?;
            let meta = file.metadata().map_err(|e| io_refusal(&e))?;
            if !meta.is_file() {
                return Err((Refusal::NotFound, "not a regular file".to_owned()));
            }
            return Ok(file);
        }
        Err((Refusal::NotFound, "a directory".to_owned()))
    }

    fn log(&mut self, endpoint: &mut Endpoint, handle: ConnectionHandle, entry: LogEntryParts) {
        let (stream, path, outcome) = entry;
        match &outcome {
            LogOutcome::Served { .. } => self.stats.served += 1,
            LogOutcome::Refused { .. } => self.stats.refused += 1,
            LogOutcome::Failed { .. } => self.stats.failed += 1,
            LogOutcome::Cancelled { .. } => self.stats.cancelled += 1,
        }
        if let Some(logger) = &mut self.logger {
            let remote = endpoint.connection(handle).map(|c| c.remote_address());
            logger(&LogEntry {
                connection: handle,
                remote,
                stream,
                path,
                outcome,
            });
        }
    }

    fn accept(&mut self, endpoint: &mut Endpoint, now: Instant, handle: ConnectionHandle) {
        let mut accepted = Vec::new();
        if let Some(conn) = endpoint.connection(handle) {
            while let Some(id) = conn.accept_stream(Dir::Bi) {
                accepted.push(id);
            }
            // hq-interop has no unidirectional streams: refuse them.
            while let Some(id) = conn.accept_stream(Dir::Uni) {
                let _ = conn.stop(id, VarInt::from_u32(ERROR_CANCELLED));
            }
        }
        for id in accepted {
            self.stats.requests += 1;
            self.conns
                .entry(handle)
                .or_default()
                .insert(id, ServerStream::Request(Vec::new()));
            self.readable(endpoint, now, handle, id);
        }
    }

    fn readable(
        &mut self,
        endpoint: &mut Endpoint,
        now: Instant,
        handle: ConnectionHandle,
        id: StreamId,
    ) {
        let Some(conn) = endpoint.connection(handle) else {
            return;
        };
        let streams = self.conns.entry(handle).or_default();
        let Some(ServerStream::Request(line)) = streams.get_mut(&id) else {
            // The request was read already: discard what follows, up to FIN.
            while let Ok(Some((n, fin))) = conn.read(id, &mut self.scratch) {
                if fin || n == 0 {
                    break;
                }
            }
            return;
        };
        let mut complete: Option<Result<String, Refusal>> = None;
        loop {
            match conn.read(id, &mut self.scratch) {
                Ok(Some((n, fin))) => {
                    let room = (MAX_REQUEST + 1).saturating_sub(line.len());
                    line.extend_from_slice(&self.scratch[..n.min(room)]);
                    if let Some(end) = line.iter().position(|&b| b == b'\n') {
                        line.truncate(end + 1);
                        complete = Some(parse_request(line).map(str::to_owned));
                    } else if line.len() > MAX_REQUEST {
                        complete = Some(Err(Refusal::BadRequest));
                    } else if fin {
                        complete = Some(parse_request(line).map(str::to_owned));
                    }
                    if complete.is_some() || fin {
                        break;
                    }
                }
                Ok(None) => break,
                Err(quic_proto::streams::ReadError::Reset(code)) => {
                    // The client abandoned the request: abandon the stream.
                    streams.remove(&id);
                    let _ = conn.reset(id, VarInt::from_u32(ERROR_CANCELLED));
                    let entry = (id, String::new(), cancelled(0, Some(code)));
                    self.log(endpoint, handle, entry);
                    return;
                }
                Err(_) => break,
            }
        }
        let Some(request) = complete else {
            return;
        };
        // What the log shows of a malformed request: its start.
        let shown = String::from_utf8_lossy(&line[..line.len().min(100)])
            .trim_end()
            .to_owned();
        streams.remove(&id);
        // The request line is in; whatever follows is read and dropped.
        while let Ok(Some((n, fin))) = conn.read(id, &mut self.scratch) {
            if fin || n == 0 {
                break;
            }
        }
        let path = match request {
            Ok(path) => path,
            Err(refusal) => {
                self.refuse(endpoint, handle, id, shown, refusal, "malformed request");
                return;
            }
        };
        match self.open(&path) {
            Ok(file) => {
                let sending = Sending {
                    path,
                    file,
                    buf: vec![0; CHUNK].into_boxed_slice(),
                    start: 0,
                    end: 0,
                    eof: false,
                    sent: 0,
                };
                self.conns
                    .entry(handle)
                    .or_default()
                    .insert(id, ServerStream::Sending(Box::new(sending)));
                self.pump(endpoint, now, handle, id);
            }
            Err((refusal, reason)) => {
                self.refuse(endpoint, handle, id, path, refusal, &reason);
            }
        }
    }

    fn refuse(
        &mut self,
        endpoint: &mut Endpoint,
        handle: ConnectionHandle,
        id: StreamId,
        path: String,
        refusal: Refusal,
        reason: &str,
    ) {
        let code = refusal.code();
        if let Some(conn) = endpoint.connection(handle) {
            let _ = conn.reset(id, VarInt::from_u32(code));
            let _ = conn.stop(id, VarInt::from_u32(code));
        }
        let outcome = LogOutcome::Refused {
            code,
            reason: reason.to_owned(),
        };
        self.log(endpoint, handle, (id, path, outcome));
    }

    /// Moves file data into the stream until it is blocked or the file is
    /// all sent.
    fn pump(
        &mut self,
        endpoint: &mut Endpoint,
        _now: Instant,
        handle: ConnectionHandle,
        id: StreamId,
    ) {
        let Some(conn) = endpoint.connection(handle) else {
            return;
        };
        let Some(streams) = self.conns.get_mut(&handle) else {
            return;
        };
        let Some(ServerStream::Sending(s)) = streams.get_mut(&id) else {
            return;
        };
        let end = loop {
            if s.start == s.end {
                if s.eof {
                    let _ = conn.finish(id);
                    break Some(LogOutcome::Served { bytes: s.sent });
                }
                match s.file.read(&mut s.buf) {
                    Ok(0) => s.eof = true,
                    Ok(n) => (s.start, s.end) = (0, n),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        let _ = conn.reset(id, VarInt::from_u32(ERROR_INTERNAL));
                        break Some(LogOutcome::Failed {
                            bytes: s.sent,
                            reason: e.to_string(),
                        });
                    }
                }
                continue;
            }
            match conn.write(id, &s.buf[s.start..s.end]) {
                Ok(n) => {
                    s.start += n;
                    s.sent += n as u64;
                    self.stats.bytes_sent += n as u64;
                }
                Err(WriteError::Blocked) => break None,
                Err(WriteError::Stopped(code)) => {
                    break Some(cancelled(s.sent, Some(code)));
                }
                Err(_) => break Some(cancelled(s.sent, None)),
            }
        };
        if let Some(outcome) = end {
            if let Some(ServerStream::Sending(s)) = streams.remove(&id) {
                self.log(endpoint, handle, (id, s.path, outcome));
            }
        }
    }

    /// The client stopped the response (STOP_SENDING).
    fn stopped(
        &mut self,
        endpoint: &mut Endpoint,
        handle: ConnectionHandle,
        id: StreamId,
        code: VarInt,
    ) {
        let Some(stream) = self.conns.get_mut(&handle).and_then(|s| s.remove(&id)) else {
            return;
        };
        let (path, bytes) = match stream {
            ServerStream::Sending(s) => (s.path, s.sent),
            ServerStream::Request(_) => (String::new(), 0),
        };
        self.log(endpoint, handle, (id, path, cancelled(bytes, Some(code))));
    }

    /// The connection is gone: what was in progress is cancelled.
    fn closed(&mut self, endpoint: &mut Endpoint, handle: ConnectionHandle) {
        let Some(streams) = self.conns.remove(&handle) else {
            return;
        };
        let mut streams: Vec<_> = streams.into_iter().collect();
        streams.sort_by_key(|(id, _)| *id);
        for (id, stream) in streams {
            let (path, bytes) = match stream {
                ServerStream::Sending(s) => (s.path, s.sent),
                // A request that never completed was not a request.
                ServerStream::Request(_) => continue,
            };
            self.log(endpoint, handle, (id, path, cancelled(bytes, None)));
        }
    }
}

/// A log entry without its connection.
type LogEntryParts = (StreamId, String, LogOutcome);

fn cancelled(bytes: u64, code: Option<VarInt>) -> LogOutcome {
    LogOutcome::Cancelled {
        bytes,
        code: code.map(VarInt::into_inner),
    }
}

fn io_refusal(e: &io::Error) -> (Refusal, String) {
    let refusal = match e.kind() {
        io::ErrorKind::PermissionDenied => Refusal::Forbidden,
        _ => Refusal::NotFound,
    };
    (refusal, e.to_string())
}

impl App for HqServer {
    fn handle_event(
        &mut self,
        endpoint: &mut Endpoint,
        now: Instant,
        handle: ConnectionHandle,
        event: Event,
    ) {
        match event {
            Event::Connected => {
                self.stats.connections += 1;
                self.conns.entry(handle).or_default();
            }
            Event::Stream(StreamEvent::Opened { .. }) => self.accept(endpoint, now, handle),
            Event::Stream(StreamEvent::Readable { id }) => self.readable(endpoint, now, handle, id),
            Event::Stream(StreamEvent::Writable { id }) => self.pump(endpoint, now, handle, id),
            Event::Stream(StreamEvent::Stopped { id, error_code }) => {
                self.stopped(endpoint, handle, id, error_code)
            }
            Event::Stream(StreamEvent::Reset { id, .. }) => {
                self.readable(endpoint, now, handle, id)
            }
            Event::Closed(_) | Event::Drained => self.closed(endpoint, handle),
            _ => {}
        }
    }

    fn is_done(&self) -> bool {
        false
    }

    fn progress(&self) -> Progress {
        let s = &self.stats;
        Progress {
            bytes: s.bytes_sent,
            total: None,
            requests: s.requests,
            completed: s.served,
            failed: s.refused + s.failed + s.cancelled,
        }
    }
}
