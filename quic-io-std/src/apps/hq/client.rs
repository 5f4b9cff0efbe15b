//! The hq-interop client: fetches URLs, one request stream each, several
//! per connection, saving responses as they arrive.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Instant;

use quic_proto::config::ClientConfig;
use quic_proto::connection::{ConnectionError, Event};
use quic_proto::endpoint::{ConnectError, ConnectionHandle, Endpoint};
use quic_proto::streams::{ReadError, StreamEvent, WriteError};
use quic_proto::{Dir, StreamId, VarInt};

use super::{CHUNK, ERROR_CANCELLED};
use crate::apps::{App, Progress};

/// An `https://host[:port]/path` URL (port 443 by default).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct HqUrl {
    /// The host: a DNS name or an IP address (IPv6 without brackets).
    pub host: String,
    /// The UDP port.
    pub port: u16,
    /// The path with any query, starting with `/`.
    pub path: String,
}

/// Why a URL was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum UrlError {
    /// Not `https://`.
    Scheme(String),
    /// No host, a bad IPv6 literal, or user information.
    Host(String),
    /// The port is not a number from 1 to 65535.
    Port(String),
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Scheme(u) => write!(f, "{u}: only https:// URLs are supported"),
            Self::Host(u) => write!(f, "{u}: no valid host"),
            Self::Port(u) => write!(f, "{u}: invalid port"),
        }
    }
}

impl std::error::Error for UrlError {}

impl HqUrl {
    /// Parses `https://host[:port][/path]`.
    pub fn parse(url: &str) -> Result<Self, UrlError> {
        let rest = url
            .get(..8)
            .filter(|s| s.eq_ignore_ascii_case("https://"))
            .map(|_| &url[8..])
            .ok_or_else(|| UrlError::Scheme(url.to_owned()))?;
        let (authority, path) = match rest.find(['/', '?', '#']) {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let path = path.split('#').next().unwrap_or("");
        let path = if path.starts_with('/') {
            path.to_owned()
        } else {
            format!("/{path}")
        };
        if authority.contains('@') {
            return Err(UrlError::Host(url.to_owned()));
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let end = v6.find(']').ok_or_else(|| UrlError::Host(url.to_owned()))?;
            let host = &v6[..end];
            if host.parse::<std::net::Ipv6Addr>().is_err() {
                return Err(UrlError::Host(url.to_owned()));
            }
            let after = &v6[end + 1..];
            let port = match after.strip_prefix(':') {
                Some(p) => Some(p),
                None if after.is_empty() => None,
                None => return Err(UrlError::Host(url.to_owned())),
            };
            (host, port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            }
        };
        if host.is_empty() || host.contains(':') && !authority.starts_with('[') {
            return Err(UrlError::Host(url.to_owned()));
        }
        let port = match port {
            None => 443,
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|&p| p != 0)
                .ok_or_else(|| UrlError::Port(url.to_owned()))?,
        };
        Ok(Self {
            host: host.to_owned(),
            port,
            path,
        })
    }

    /// `host:port` (IPv6 in brackets): requests with equal authorities can
    /// share a connection.
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// Resolves the host (a blocking DNS lookup unless it is an IP address)
    /// to its first address.
    pub fn resolve(&self) -> io::Result<SocketAddr> {
        (self.host.as_str(), self.port)
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("{}: no address", self.host),
                )
            })
    }

    /// The name a response is saved under: the last path segment (its
    /// first 128 bytes at most), or `index.html` when that is empty,
    /// `.`/`..` or otherwise unusable.
    pub fn file_name(&self) -> String {
        let path = self.path.split('?').next().unwrap_or("");
        let mut last = path.rsplit('/').next().unwrap_or("");
        let bad = matches!(last, "" | "." | "..") || last.contains(['\\', '\0', ':']);
        if bad {
            return "index.html".to_owned();
        }
        let mut end = last.len().min(128);
        while !last.is_char_boundary(end) {
            end -= 1;
        }
        last = &last[..end];
        last.to_owned()
    }

    /// Groups URLs by authority, in order of first appearance: one
    /// connection per group.
    pub fn group(urls: &[HqUrl]) -> Vec<(String, Vec<HqUrl>)> {
        let mut groups: Vec<(String, Vec<HqUrl>)> = Vec::new();
        for url in urls {
            let authority = url.authority();
            match groups.iter_mut().find(|(a, _)| *a == authority) {
                Some((_, list)) => list.push(url.clone()),
                None => groups.push((authority, vec![url.clone()])),
            }
        }
        groups
    }
}

impl FromStr for HqUrl {
    type Err = UrlError;
    fn from_str(s: &str) -> Result<Self, UrlError> {
        Self::parse(s)
    }
}

impl fmt::Display for HqUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "https://{}{}", self.authority(), self.path)
    }
}

/// Where an [`HqClient`] puts response bodies.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Output {
    /// Count the bytes, keep nothing.
    Discard,
    /// Save each response in this directory under its URL's
    /// [`HqUrl::file_name`] (`name.1`, `name.2`... when names repeat). A
    /// failed request's partial file is removed.
    Directory(PathBuf),
    /// Keep each response in memory ([`HqClient::body`]).
    Memory,
}

/// Where a request is.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RequestState {
    /// Waiting for its connection, or for the peer to allow another stream.
    Queued,
    /// Sent; the response is arriving.
    InFlight,
    /// The whole response arrived (and was saved).
    Done,
    /// It failed; the other requests go on.
    Failed(RequestError),
}

/// Why a request failed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RequestError {
    /// The server reset the stream with this code
    /// ([`super::ERROR_NOT_FOUND`] and friends).
    Reset(u64),
    /// The connection ended first.
    Connection(ConnectionError),
    /// Saving the response failed (the stream was stopped).
    Output(String),
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Reset(code) => {
                let meaning = match u32::try_from(*code) {
                    Ok(super::ERROR_BAD_REQUEST) => " (bad request)",
                    Ok(super::ERROR_FORBIDDEN) => " (forbidden)",
                    Ok(super::ERROR_NOT_FOUND) => " (not found)",
                    Ok(super::ERROR_INTERNAL) => " (server error)",
                    _ => "",
                };
                write!(f, "stream reset by the server with code {code}{meaning}")
            }
            Self::Connection(e) => write!(f, "connection lost: {e}"),
            Self::Output(e) => write!(f, "cannot save the response: {e}"),
        }
    }
}

impl std::error::Error for RequestError {}

/// One request as the CLI sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RequestReport {
    /// The URL.
    pub url: HqUrl,
    /// Response bytes received so far.
    pub bytes: u64,
    /// Where it is.
    pub state: RequestState,
    /// The file the response is saved to ([`Output::Directory`]).
    pub file: Option<PathBuf>,
}

enum Sink {
    Discard,
    File(BufWriter<File>),
    Memory(Vec<u8>),
}

struct Request {
    report: RequestReport,
    conn: usize,
    stream: Option<StreamId>,
    line: Vec<u8>,
    written: usize,
    sink: Sink,
}

struct ClientConn {
    handle: ConnectionHandle,
    /// Requests waiting for a stream, in order.
    queue: VecDeque<usize>,
    streams: HashMap<StreamId, usize>,
    /// Requests not yet done or failed.
    open: usize,
    connected: bool,
    /// We closed it, or it closed.
    closed: bool,
}

/// Fetches `https://` URLs over hq-interop (ALPN [`super::ALPN`]).
///
/// [`HqClient::connect`] starts one connection for a group of requests
/// (several connections may run at once). Each request gets its own
/// bidirectional stream as soon as the handshake completes and the server's
/// stream limit allows, and its response is saved as it arrives (see
/// [`Output`]). A request that fails (the server resets its stream) is
/// reported in [`HqClient::requests`] while the others go on. Each
/// connection is closed with code 0 once all its requests are done or
/// failed; then [`App::is_done`] holds.
pub struct HqClient {
    output: Output,
    requests: Vec<Request>,
    conns: Vec<ClientConn>,
    by_handle: HashMap<ConnectionHandle, usize>,
    names: HashSet<String>,
    bytes: u64,
    scratch: Box<[u8]>,
}

impl fmt::Debug for HqClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HqClient")
            .field("output", &self.output)
            .field("requests", &self.requests.len())
            .field("connections", &self.conns.len())
            .field("bytes", &self.bytes)
            .finish_non_exhaustive()
    }
}

impl HqClient {
    /// A client saving responses as `output` says. A directory is created
    /// if missing when the first request is added.
    pub fn new(output: Output) -> Self {
        Self {
            output,
            requests: Vec::new(),
            conns: Vec::new(),
            by_handle: HashMap::new(),
            names: HashSet::new(),
            bytes: 0,
            scratch: vec![0; CHUNK].into_boxed_slice(),
        }
    }

    /// Connects to `remote` (verifying it as `server_name`) and queues
    /// `urls` on that connection. The output files are created now, so an
    /// unusable output directory fails here rather than midway.
    pub fn connect(
        &mut self,
        endpoint: &mut Endpoint,
        now: Instant,
        config: &ClientConfig,
        remote: SocketAddr,
        server_name: &str,
        urls: impl IntoIterator<Item = HqUrl>,
    ) -> Result<ConnectionHandle, ConnectError> {
        let handle = endpoint.connect(now, config, remote, server_name)?;
        let conn_index = self.conns.len();
        let mut conn = ClientConn {
            handle,
            queue: VecDeque::new(),
            streams: HashMap::new(),
            open: 0,
            connected: false,
            closed: false,
        };
        for url in urls {
            let index = self.requests.len();
            let line = format!("GET {}\r\n", url.path).into_bytes();
            let (sink, file, error) = self.sink_for(&url);
            let mut request = Request {
                report: RequestReport {
                    url,
                    bytes: 0,
                    state: RequestState::Queued,
                    file,
                },
                conn: conn_index,
                stream: None,
                line,
                written: 0,
                sink,
            };
            match error {
                Some(e) => request.report.state = RequestState::Failed(RequestError::Output(e)),
                None => {
                    conn.queue.push_back(index);
                    conn.open += 1;
                }
            }
            self.requests.push(request);
        }
        self.by_handle.insert(handle, conn_index);
        self.conns.push(conn);
        Ok(handle)
    }

    fn sink_for(&mut self, url: &HqUrl) -> (Sink, Option<PathBuf>, Option<String>) {
        match &self.output {
            Output::Discard => (Sink::Discard, None, None),
            Output::Memory => (Sink::Memory(Vec::new()), None, None),
            Output::Directory(dir) => {
                let base = url.file_name();
                let mut name = base.clone();
                let mut n = 0;
                while !self.names.insert(name.clone()) {
                    n += 1;
                    name = format!("{base}.{n}");
                }
                let path = dir.join(&name);
                let opened = std::fs::create_dir_all(dir).and_then(|()| File::create(&path));
                match opened {
                    Ok(f) => (
                        Sink::File(BufWriter::with_capacity(CHUNK, f)),
                        Some(path),
                        None,
                    ),
                    Err(e) => (
                        Sink::Discard,
                        None,
                        Some(format!("{}: {e}", path.display())),
                    ),
                }
            }
        }
    }

    /// Every request, in the order given.
    pub fn requests(&self) -> impl Iterator<Item = &RequestReport> + '_ {
        self.requests.iter().map(|r| &r.report)
    }

    /// The body received for request `index` (in the order given), with
    /// [`Output::Memory`].
    pub fn body(&self, index: usize) -> Option<&[u8]> {
        match &self.requests.get(index)?.sink {
            Sink::Memory(data) => Some(data),
            _ => None,
        }
    }

    /// The connections started, in order.
    pub fn connections(&self) -> impl Iterator<Item = ConnectionHandle> + '_ {
        self.conns.iter().map(|c| c.handle)
    }

    /// Opens streams for queued requests while the peer allows.
    fn open_queued(&mut self, endpoint: &mut Endpoint, c: usize) {
        let conn = &mut self.conns[c];
        if !conn.connected || conn.closed {
            return;
        }
        let Some(connection) = endpoint.connection(conn.handle) else {
            return;
        };
        while let Some(&index) = conn.queue.front() {
            let Ok(id) = connection.open_stream(Dir::Bi) else {
                break; // Blocked: StreamEvent::Available will follow.
            };
            conn.queue.pop_front();
            conn.streams.insert(id, index);
            let request = &mut self.requests[index];
            request.stream = Some(id);
            request.report.state = RequestState::InFlight;
            write_request(connection, request);
        }
    }

    /// Reads what arrived on `id`.
    fn read(&mut self, endpoint: &mut Endpoint, c: usize, id: StreamId) {
        let conn = &mut self.conns[c];
        let Some(&index) = conn.streams.get(&id) else {
            return;
        };
        let Some(connection) = endpoint.connection(conn.handle) else {
            return;
        };
        let request = &mut self.requests[index];
        let outcome = loop {
            match connection.read(id, &mut self.scratch) {
                Ok(Some((n, fin))) => {
                    if let Err(e) = request.sink.write(&self.scratch[..n]) {
                        let _ = connection.stop(id, VarInt::from_u32(ERROR_CANCELLED));
                        break Some(RequestState::Failed(RequestError::Output(e.to_string())));
                    }
                    request.report.bytes += n as u64;
                    self.bytes += n as u64;
                    if fin {
                        break Some(match request.sink.finish() {
                            Ok(()) => RequestState::Done,
                            Err(e) => RequestState::Failed(RequestError::Output(e.to_string())),
                        });
                    }
                }
                Ok(None) => break None,
                Err(ReadError::Reset(code)) => {
                    break Some(RequestState::Failed(RequestError::Reset(code.into_inner())));
                }
                Err(_) => break None,
            }
        };
        if let Some(state) = outcome {
            self.end_request(c, index, state);
        }
    }

    /// Marks a request done or failed and forgets its stream.
    fn end_request(&mut self, c: usize, index: usize, state: RequestState) {
        let request = &mut self.requests[index];
        if !matches!(
            request.report.state,
            RequestState::Queued | RequestState::InFlight
        ) {
            return;
        }
        if matches!(state, RequestState::Failed(_)) {
            request.sink = Sink::Discard;
            if let Some(file) = request.report.file.take() {
                let _ = std::fs::remove_file(file);
            }
        }
        request.report.state = state;
        let conn = &mut self.conns[c];
        if let Some(id) = request.stream {
            conn.streams.remove(&id);
        }
        conn.open = conn.open.saturating_sub(1);
    }

    /// Closes the connection `c` with code 0 once nothing is left on it.
    fn close_if_done(&mut self, endpoint: &mut Endpoint, now: Instant, c: usize) {
        let conn = &mut self.conns[c];
        if conn.open == 0 && !conn.closed {
            conn.closed = true;
            if let Some(connection) = endpoint.connection(conn.handle) {
                connection.close(now, VarInt::ZERO, b"done");
            }
        }
    }

    /// The connection ended: every request still open on it failed.
    fn connection_lost(&mut self, c: usize, error: ConnectionError) {
        self.conns[c].closed = true;
        let open: Vec<usize> = (0..self.requests.len())
            .filter(|&i| self.requests[i].conn == c)
            .collect();
        for i in open {
            self.end_request(
                c,
                i,
                RequestState::Failed(RequestError::Connection(error.clone())),
            );
        }
        self.conns[c].queue.clear();
    }
}

/// Writes what is left of the request line, then FIN.
fn write_request(connection: &mut quic_proto::connection::Connection, request: &mut Request) {
    let Some(id) = request.stream else {
        return;
    };
    while request.written < request.line.len() {
        match connection.write(id, &request.line[request.written..]) {
            Ok(n) => request.written += n,
            Err(WriteError::Blocked) => return, // Writable follows.
            Err(_) => return,                   // Reset or stopped: the read side reports it.
        }
    }
    let _ = connection.finish(id);
}

impl Sink {
    fn write(&mut self, data: &[u8]) -> io::Result<()> {
        match self {
            Self::Discard => Ok(()),
            Self::File(f) => f.write_all(data),
            Self::Memory(v) => {
                v.extend_from_slice(data);
                Ok(())
            }
        }
    }

    fn finish(&mut self) -> io::Result<()> {
        match self {
            Self::File(f) => f.flush(),
            _ => Ok(()),
        }
    }
}

impl App for HqClient {
    fn handle_event(
        &mut self,
        endpoint: &mut Endpoint,
        now: Instant,
        handle: ConnectionHandle,
        event: Event,
    ) {
        let Some(&c) = self.by_handle.get(&handle) else {
            return;
        };
        match event {
            Event::Connected => {
                self.conns[c].connected = true;
                self.open_queued(endpoint, c);
            }
            Event::Stream(StreamEvent::Available { dir: Dir::Bi }) => self.open_queued(endpoint, c),
            Event::Stream(StreamEvent::Readable { id } | StreamEvent::Reset { id, .. }) => {
                self.read(endpoint, c, id)
            }
            Event::Stream(StreamEvent::Writable { id }) => {
                let conn = &self.conns[c];
                if let (Some(&index), Some(connection)) =
                    (conn.streams.get(&id), endpoint.connection(conn.handle))
                {
                    write_request(connection, &mut self.requests[index]);
                }
            }
            Event::Stream(StreamEvent::Opened { dir }) => {
                // The server has no business opening streams in hq-interop.
                if let Some(connection) = endpoint.connection(handle) {
                    while let Some(id) = connection.accept_stream(dir) {
                        let _ = connection.stop(id, VarInt::from_u32(ERROR_CANCELLED));
                    }
                }
            }
            Event::Closed(error) => self.connection_lost(c, error),
            Event::Drained => self.conns[c].closed = true,
            _ => {}
        }
        self.close_if_done(endpoint, now, c);
    }

    fn poll(&mut self, endpoint: &mut Endpoint, now: Instant) {
        for c in 0..self.conns.len() {
            if !self.conns[c].queue.is_empty() {
                self.open_queued(endpoint, c);
            }
            if self.conns[c].connected {
                self.close_if_done(endpoint, now, c);
            }
        }
    }

    fn is_done(&self) -> bool {
        self.conns.iter().all(|c| c.closed)
    }

    fn progress(&self) -> Progress {
        let mut p = Progress {
            bytes: self.bytes,
            total: None,
            requests: self.requests.len() as u64,
            completed: 0,
            failed: 0,
        };
        for r in &self.requests {
            match r.report.state {
                RequestState::Done => p.completed += 1,
                RequestState::Failed(_) => p.failed += 1,
                _ => {}
            }
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse() {
        let u = HqUrl::parse("https://localhost:4433/a/b.txt").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("localhost", 4433, "/a/b.txt")
        );
        assert_eq!(u.file_name(), "b.txt");
        assert_eq!(u.to_string(), "https://localhost:4433/a/b.txt");
        let u = HqUrl::parse("HTTPS://[::1]:443").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("::1", 443, "/")
        );
        assert_eq!(u.authority(), "[::1]:443");
        assert_eq!(u.file_name(), "index.html");
        let u = HqUrl::parse("https://example.org?q=1#frag").unwrap();
        assert_eq!((u.port, u.path.as_str()), (443, "/?q=1"));
        assert_eq!(
            HqUrl::parse("https://h/x/..").unwrap().file_name(),
            "index.html"
        );
        let long = HqUrl::parse(&format!("https://h/{}", "é".repeat(100))).unwrap();
        assert_eq!(long.file_name(), "é".repeat(64));
        assert!(matches!(
            HqUrl::parse("http://h/"),
            Err(UrlError::Scheme(_))
        ));
        assert!(matches!(
            HqUrl::parse("https://:80/"),
            Err(UrlError::Host(_))
        ));
        assert!(matches!(
            HqUrl::parse("https://u@h/"),
            Err(UrlError::Host(_))
        ));
        assert!(matches!(
            HqUrl::parse("https://[::1/"),
            Err(UrlError::Host(_))
        ));
        assert!(matches!(
            HqUrl::parse("https://::1:80/"),
            Err(UrlError::Host(_))
        ));
        assert!(matches!(
            HqUrl::parse("https://h:0/"),
            Err(UrlError::Port(_))
        ));
        assert!(matches!(
            HqUrl::parse("https://h:x/"),
            Err(UrlError::Port(_))
        ));
        assert!(matches!(
            HqUrl::parse("https://h:65536/"),
            Err(UrlError::Port(_))
        ));
    }

    #[test]
    fn urls_group_by_authority_in_order() {
        let urls: Vec<HqUrl> = [
            "https://a:1/x",
            "https://b:1/y",
            "https://a:1/z",
            "https://a:2/w",
        ]
        .iter()
        .map(|u| u.parse().unwrap())
        .collect();
        let groups = HqUrl::group(&urls);
        let shape: Vec<(&str, usize)> = groups.iter().map(|(a, l)| (a.as_str(), l.len())).collect();
        assert_eq!(shape, [("a:1", 2), ("b:1", 1), ("a:2", 1)]);
        assert_eq!(groups[0].1[1].path, "/z");
    }
}
