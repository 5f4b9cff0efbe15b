//! The test application run by our endpoints on the socket loop, its
//! protocol, and the TLS setup shared with quinn.
//!
//! One request/response on a bidirectional stream:
//! - request: `[response length: u64 LE][upload filler]`;
//! - response: `[SHA-256 of the request as received][download filler]`.
//!
//! The fillers are SplitMix64 bytes from fixed seeds, so either side can
//! regenerate what it should get and compare SHA-256 digests.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use quic_io_std::socket::IoStats;
use quic_io_std::{Callbacks, Context, Flow, LoopControl};
use quic_proto::config::{ClientConfig, EndpointConfig, ServerConfig};
use quic_proto::connection::{Connection, ConnectionError, Event};
use quic_proto::endpoint::{ConnectionHandle, Endpoint};
use quic_proto::streams::{StreamEvent, WriteError};
use quic_proto::{Dir, StreamId, VarInt};
use quic_tests::testkit::ring_provider;
use ring::digest;

pub const ALPN: &[u8] = b"io-std";
pub const MIB: usize = 1024 * 1024;
/// Every loop of a test gives up after this long.
pub const DEADLINE: Duration = Duration::from_secs(20);
/// The GSO batch our endpoints build when batching is on.
pub const BATCH: usize = 10;

// ---- payloads and digests ---------------------------------------------------

pub use quic_tests::testkit::{filler, sha256, Certs};

/// The request asking for `download` bytes after uploading `upload`.
pub fn request(upload: usize, download: usize) -> Vec<u8> {
    let mut out = (download as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&filler(1, upload));
    out
}

/// The response to a request whose digest is `request_digest`.
pub fn response(request_digest: &[u8; 32], download: usize) -> Vec<u8> {
    let mut out = request_digest.to_vec();
    out.extend_from_slice(&filler(2, download));
    out
}

/// A stream being received: its running digest, length and first bytes.
pub struct Incoming {
    hash: digest::Context,
    pub len: usize,
    pub head: Vec<u8>,
}

impl Default for Incoming {
    fn default() -> Self {
        Self {
            hash: digest::Context::new(&digest::SHA256),
            len: 0,
            head: Vec::new(),
        }
    }
}

impl Incoming {
    pub fn update(&mut self, data: &[u8]) {
        self.hash.update(data);
        self.len += data.len();
        let want = 32usize.saturating_sub(self.head.len()).min(data.len());
        self.head.extend_from_slice(&data[..want]);
    }

    pub fn finish(self) -> [u8; 32] {
        self.hash.finish().as_ref().try_into().unwrap()
    }
}

/// The server's answer to a complete request.
pub fn serve(incoming: Incoming) -> Result<Vec<u8>, String> {
    if incoming.len < 8 {
        return Err(format!("a request of {} bytes", incoming.len));
    }
    let download = u64::from_le_bytes(incoming.head[..8].try_into().unwrap()) as usize;
    Ok(response(&incoming.finish(), download))
}

// ---- TLS ------------------------------------------------------------------------

/// Our server configuration over `certs`.
pub fn our_server(certs: &Certs) -> ServerConfig {
    ServerConfig::new(Arc::new(certs.server_tls(ring_provider(), ALPN))).unwrap()
}

/// Our client configuration trusting `certs`.
pub fn our_client(certs: &Certs) -> ClientConfig {
    ClientConfig::new(Arc::new(certs.client_tls(ring_provider(), ALPN))).unwrap()
}

/// An endpoint of ours that batches `gso` datagrams per send.
pub fn endpoint(seed: u64, server: Option<ServerConfig>, gso: usize) -> Endpoint {
    let mut config = EndpointConfig::new(seed);
    config.max_gso_segments = gso;
    Endpoint::new(config, server)
}

// ---- the application on the loop -----------------------------------------------

/// What one side saw, returned when its loop exits.
#[derive(Debug, Default)]
pub struct Report {
    /// Client: the response arrived whole and matched; server: requests served.
    pub completed: usize,
    /// Client: the digest of the whole response as received.
    pub response_digest: Option<[u8; 32]>,
    pub close: Option<ConnectionError>,
    pub io: IoStats,
    pub gso_at_ready: bool,
    pub gso_at_end: bool,
    /// Server: every address the client's connection had.
    pub remotes: Vec<SocketAddr>,
    /// How often `syscall_stats` ran.
    pub syscall_reports: usize,
    pub local: Vec<SocketAddr>,
    /// Client: the connection's datagram size when the response was whole
    /// (path MTU discovery is on by default).
    pub path_mtu: u16,
}

/// What a client asks for.
pub struct Plan {
    pub server: SocketAddr,
    pub config: ClientConfig,
    pub upload: usize,
    pub download: usize,
    /// Send from the extra socket (index 1) once this much was received.
    pub migrate_after: Option<usize>,
}

/// A stream's two directions.
#[derive(Default)]
struct Stream {
    out: Vec<u8>,
    written: usize,
    incoming: Incoming,
}

/// One side of a request/response exchange: a client with a [`Plan`], or a
/// server that answers every request. Exits when its connection drains.
pub struct App {
    plan: Option<Plan>,
    handle: Option<ConnectionHandle>,
    streams: HashMap<StreamId, Stream>,
    request_digest: [u8; 32],
    deadline: Instant,
    migrated: bool,
    pub report: Report,
}

impl App {
    pub fn client(plan: Plan) -> Self {
        let mut app = Self::server();
        app.plan = Some(plan);
        app
    }

    pub fn server() -> Self {
        Self {
            plan: None,
            handle: None,
            streams: HashMap::new(),
            request_digest: [0; 32],
            deadline: quic_io_std::now() + DEADLINE,
            migrated: false,
            report: Report::default(),
        }
    }

    fn is_client(&self) -> bool {
        self.plan.is_some()
    }

    fn exit(&mut self, cx: &mut Context<'_>) -> Flow<Report, String> {
        self.report.io = cx.io_stats().clone();
        self.report.gso_at_end = cx.gso_enabled();
        Ok(LoopControl::Exit(std::mem::take(&mut self.report)))
    }

    /// Writes what flow control takes, then FIN.
    fn pump(&mut self, conn: &mut Connection, id: StreamId) -> Result<(), String> {
        let Some(s) = self.streams.get_mut(&id) else {
            return Ok(());
        };
        if s.out.is_empty() {
            return Ok(());
        }
        while s.written < s.out.len() {
            match conn.write(id, &s.out[s.written..]) {
                Ok(0) | Err(WriteError::Blocked) => return Ok(()),
                Ok(n) => s.written += n,
                Err(e) => return Err(format!("write on {id:?}: {e}")),
            }
        }
        s.out = Vec::new();
        conn.finish(id).map_err(|e| format!("finish {id:?}: {e}"))
    }

    fn read(&mut self, conn: &mut Connection, now: Instant, id: StreamId) -> Result<(), String> {
        let s = self.streams.entry(id).or_default();
        let fin = loop {
            match conn.read_chunk(id, usize::MAX) {
                Ok(Some((chunk, fin))) => {
                    s.incoming.update(&chunk);
                    if fin {
                        break true;
                    }
                    if chunk.is_empty() {
                        break false;
                    }
                }
                Ok(None) => break false,
                Err(e) => return Err(format!("read on {id:?}: {e}")),
            }
        };
        if !fin {
            return Ok(());
        }
        let incoming = std::mem::take(&mut s.incoming);
        if let Some(plan) = &self.plan {
            let want = sha256(&response(&self.request_digest, plan.download));
            if incoming.len != 32 + plan.download {
                return Err(format!("a response of {} bytes", incoming.len));
            }
            let got = incoming.finish();
            if got != want {
                return Err("the response arrived corrupted".into());
            }
            self.report.response_digest = Some(got);
            self.report.completed += 1;
            self.report.path_mtu = conn.path_mtu();
            conn.close(now, VarInt::from_u32(0), b"done");
        } else {
            s.out = serve(incoming)?;
            self.report.completed += 1;
            self.pump(conn, id)?;
        }
        Ok(())
    }
}

impl Callbacks for App {
    type Output = Report;
    type Error = String;

    fn ready(&mut self, cx: &mut Context<'_>, local: &[SocketAddr]) -> Flow<Report, String> {
        self.report.local = local.to_vec();
        self.report.gso_at_ready = cx.gso_enabled();
        let Some(plan) = &self.plan else {
            return Ok(LoopControl::Continue);
        };
        let handle = cx
            .endpoint
            .connect(cx.now, &plan.config, plan.server, "localhost")
            .map_err(|e| e.to_string())?;
        self.handle = Some(handle);
        Ok(LoopControl::Continue)
    }

    fn event(
        &mut self,
        cx: &mut Context<'_>,
        handle: ConnectionHandle,
        event: Event,
    ) -> Flow<Report, String> {
        if *self.handle.get_or_insert(handle) != handle {
            return Err(format!("a second connection: {event:?}"));
        }
        let now = cx.now;
        match event {
            Event::Drained => return self.exit(cx),
            Event::Closed(e) => self.report.close = Some(e),
            Event::Connected => {
                let Some(plan) = &self.plan else {
                    return Ok(LoopControl::Continue);
                };
                let out = request(plan.upload, plan.download);
                self.request_digest = sha256(&out);
                let conn = cx.endpoint.connection(handle).ok_or("no connection")?;
                let id = conn.open_stream(Dir::Bi).map_err(|e| e.to_string())?;
                self.streams.insert(
                    id,
                    Stream {
                        out,
                        ..Stream::default()
                    },
                );
                self.pump(conn, id)?;
            }
            Event::Stream(ev) => {
                let Some(conn) = cx.endpoint.connection(handle) else {
                    return Ok(LoopControl::Continue);
                };
                match ev {
                    StreamEvent::Opened { dir } => {
                        while let Some(id) = conn.accept_stream(dir) {
                            self.streams.entry(id).or_default();
                        }
                    }
                    StreamEvent::Readable { id } => self.read(conn, now, id)?,
                    StreamEvent::Writable { id } => self.pump(conn, id)?,
                    StreamEvent::Reset { id, .. } | StreamEvent::Stopped { id, .. } => {
                        return Err(format!("{id:?} was reset"))
                    }
                    _ => {}
                }
            }
            _ => {}
        }
        Ok(LoopControl::Continue)
    }

    fn after_receive(&mut self, cx: &mut Context<'_>, _: usize) -> Flow<Report, String> {
        let Some(handle) = self.handle else {
            return Ok(LoopControl::Continue);
        };
        let received: usize = self.streams.values().map(|s| s.incoming.len).sum();
        if let Some(at) = self.plan.as_ref().and_then(|p| p.migrate_after) {
            if !self.migrated && received >= at {
                self.migrated = true;
                cx.set_send_socket(Some(1));
            }
        }
        if !self.is_client() {
            if let Some(conn) = cx.endpoint.connection(handle) {
                let remote = conn.remote_address();
                if !self.report.remotes.contains(&remote) {
                    self.report.remotes.push(remote);
                }
            }
        }
        Ok(LoopControl::Continue)
    }

    fn time_check(
        &mut self,
        cx: &mut Context<'_>,
        wake: &mut Option<Instant>,
    ) -> Flow<Report, String> {
        if cx.now >= self.deadline {
            return Err(format!(
                "deadline passed; so far {:?}, {:?}",
                self.report,
                cx.io_stats()
            ));
        }
        *wake = Some(wake.map_or(self.deadline, |w| w.min(self.deadline)));
        Ok(LoopControl::Continue)
    }

    fn syscall_stats(
        &mut self,
        _: &mut Context<'_>,
        stats: &quic_io_std::socket::SyscallStats,
    ) -> Flow<Report, String> {
        if stats.send.calls > 0 || stats.recv.calls > 0 {
            self.report.syscall_reports += 1;
        }
        Ok(LoopControl::Continue)
    }
}
