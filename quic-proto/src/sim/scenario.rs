//! A small application layer for simulated scenarios: one client and one
//! server joined by a path, streams of given sizes each way, datagrams,
//! scheduled path changes, and a [`Report`] with what happened.
//!
//! Every stream byte comes from a pattern that depends on the stream and the
//! offset; sender and receiver hash what they wrote and read (SHA-256), and
//! a stream counts as intact only when its length and hash match. Datagrams
//! carry their sequence number and a pattern, checked on arrival.
//!
//! ```
//! # use std::sync::Arc;
//! # use std::time::{Duration, Instant};
//! # use quic_proto::config::{ClientConfig, ServerConfig};
//! use quic_proto::sim::{presets, Scenario, Workload};
//! # let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
//! # let cert = rcgen::CertificateParams::new(vec!["localhost".into()]).unwrap().self_signed(&key).unwrap();
//! # let provider = Arc::new(rustls::crypto::ring::default_provider());
//! # let mut server_tls = rustls::ServerConfig::builder_with_provider(provider.clone())
//! #     .with_protocol_versions(&[&rustls::version::TLS13]).unwrap()
//! #     .with_no_client_auth()
//! #     .with_single_cert(vec![cert.der().clone()], rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into())).unwrap();
//! # server_tls.alpn_protocols = vec![b"sim".to_vec()];
//! # let mut roots = rustls::RootCertStore::empty();
//! # roots.add(cert.der().clone()).unwrap();
//! # let mut client_tls = rustls::ClientConfig::builder_with_provider(provider)
//! #     .with_protocol_versions(&[&rustls::version::TLS13]).unwrap()
//! #     .with_root_certificates(roots).with_no_client_auth();
//! # client_tls.alpn_protocols = vec![b"sim".to_vec()];
//! # let client = ClientConfig::new(Arc::new(client_tls)).unwrap();
//! # let server = ServerConfig::new(Arc::new(server_tls)).unwrap();
//! # #[allow(clippy::disallowed_methods)]
//! # let start = Instant::now(); // any base instant: only differences matter
//! // 200 kB up and 300 kB down over the interop runner's 2 % burst-loss path.
//! let mut scenario = Scenario::new(7, presets::loss(2.0));
//! scenario.workload = Workload { upload: vec![100_000; 2], download: vec![300_000], ..Workload::default() };
//! let report = scenario.run(&client, server, start);
//! assert!(report.intact(), "{report}");
//! println!("{report}"); // completion time, goodput, losses, the trace digest
//! ```

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use bytes::Bytes;
use ring::digest;

use crate::config::{ClientConfig, EndpointConfig, ServerConfig};
use crate::connection::{ConnectionError, Event, Stats};
use crate::endpoint::{ConnectionHandle, Endpoint};
use crate::frame::{Dir, StreamId};
use crate::VarInt;

use super::link::LinkConfig;
use super::network::{Change, Network, NetworkStats, NodeId};

/// The client's first address; rebinding moves it.
const CLIENT_ADDR: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 5000);
/// The server's address.
const SERVER_ADDR: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 1, 1)), 443);
/// How much a sender writes per call.
const CHUNK: usize = 32 * 1024;
/// How long, after the transfer completes and the client closes, the run
/// waits for both sides to drain.
const CLOSE_GRACE: Duration = Duration::from_secs(120);

/// What the applications on both sides do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Workload {
    /// Sizes of the streams the client opens and sends on (unidirectional).
    pub upload: Vec<u64>,
    /// Sizes of the streams the server opens and sends on (unidirectional),
    /// once the handshake completes on its side.
    pub download: Vec<u64>,
    /// Datagrams (RFC 9221) each side sends, one per application turn once
    /// connected. They are unreliable: the report counts what arrived.
    pub datagrams: u32,
    /// The payload size of each datagram (at least 4: its sequence number).
    pub datagram_size: usize,
}

impl Default for Workload {
    /// 1 MB down on one stream, nothing else.
    fn default() -> Self {
        Self {
            upload: Vec::new(),
            download: vec![1_000_000],
            datagrams: 0,
            datagram_size: 100,
        }
    }
}

impl Workload {
    /// `count` streams each way, `total` bytes in all, split evenly.
    pub fn both_ways(total: u64, count: usize) -> Self {
        let each = total / (2 * count.max(1) as u64);
        Self {
            upload: vec![each; count],
            download: vec![each; count],
            ..Self::default()
        }
    }

    fn stream_bytes(&self) -> u64 {
        self.upload.iter().chain(&self.download).sum()
    }
}

/// A change to the path at a time after the start of a [`Scenario`].
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum PathChange {
    /// New impairments for the client-to-server direction.
    ClientToServer(LinkConfig),
    /// New impairments for the server-to-client direction.
    ServerToClient(LinkConfig),
    /// Both directions go dark (`true`) or come back (`false`), keeping the
    /// rest of their impairments as configured last.
    Blackhole(bool),
    /// The client's NAT binding moves to a new source port.
    RebindClientPort,
    /// The client's source address moves to a new IP address (and port).
    RebindClientAddress,
}

/// One client and one server, a path between them, a workload and a
/// schedule of path changes; [`Scenario::run`] plays it in virtual time.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// Drives every random choice of the network and the endpoints'
    /// connection IDs, tokens and packet-number skips.
    pub seed: u64,
    /// Impairments from client to server at the start.
    pub client_to_server: LinkConfig,
    /// Impairments from server to client at the start.
    pub server_to_client: LinkConfig,
    /// What the applications do.
    pub workload: Workload,
    /// Path changes, as offsets from the start (any order).
    pub changes: Vec<(Duration, PathChange)>,
    /// Virtual time the transfer may take before the run gives up.
    pub time_limit: Duration,
}

impl Scenario {
    /// `path` in both directions, the default [`Workload`], no changes and
    /// a 10-minute limit.
    pub fn new(seed: u64, path: LinkConfig) -> Self {
        Self {
            seed,
            client_to_server: path.clone(),
            server_to_client: path,
            workload: Workload::default(),
            changes: Vec::new(),
            time_limit: Duration::from_secs(600),
        }
    }

    /// Adds the interop runner's blackhole pattern: both directions up for
    /// `on`, dark for `off`, repeating until the time limit.
    pub fn with_blackholes(mut self, on: Duration, off: Duration) -> Self {
        let switches = super::presets::blackhole_offsets(on, off, self.time_limit);
        // The first entry is "up at the start", which the path already is.
        for (at, dark) in switches.into_iter().skip(1) {
            self.changes.push((at, PathChange::Blackhole(dark)));
        }
        self
    }

    /// Adds a client rebinding every `every` until the time limit: a new
    /// port, or with `address` a new IP address.
    pub fn with_rebinding(mut self, every: Duration, address: bool) -> Self {
        if every.is_zero() {
            return self;
        }
        let change = if address {
            PathChange::RebindClientAddress
        } else {
            PathChange::RebindClientPort
        };
        let mut t = every;
        while t < self.time_limit {
            self.changes.push((t, change.clone()));
            t += every;
        }
        self
    }

    /// Plays the scenario from the virtual instant `start`: connects, runs
    /// the workload until every stream arrived (or the time limit), closes
    /// the connection from the client with code 0 and waits for both sides
    /// to drain.
    pub fn run(&self, client: &ClientConfig, server: ServerConfig, start: Instant) -> Report {
        Run::new(self, server, start).play(self, client)
    }
}

/// What a [`Scenario::run`] observed.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Report {
    /// The scenario's seed.
    pub seed: u64,
    /// From the connect call to the client's `Connected` event.
    pub handshake: Option<Duration>,
    /// From the connect call to the last stream arriving intact.
    pub completed: Option<Duration>,
    /// Streams that arrived with the right length and hash.
    pub streams_intact: usize,
    /// Streams in the workload.
    pub streams_total: usize,
    /// Stream payload bytes in the workload, both directions.
    pub stream_bytes: u64,
    /// Datagrams handed to each side's connection (client, server).
    pub datagrams_sent: (u32, u32),
    /// Datagrams that arrived intact at the other side (at the server, at
    /// the client).
    pub datagrams_received: (u32, u32),
    /// The client connection's counters at the end.
    pub client_stats: Stats,
    /// The server connection's counters at the end.
    pub server_stats: Stats,
    /// What the network did.
    pub network: NetworkStats,
    /// Why the client's connection closed (`LocallyClosed` after a clean
    /// run).
    pub client_close: Option<ConnectionError>,
    /// Why the server's connection closed (the client's code 0 after a
    /// clean run; `TimedOut` if the close was lost).
    pub server_close: Option<ConnectionError>,
    /// Both connections reached `Drained` before the run ended.
    pub drained: bool,
    /// Anything the application layer found wrong (data that does not match
    /// the pattern or hash, unexpected streams, resets).
    pub failures: Vec<String>,
    /// [`Network::trace_digest`] at the end.
    pub trace_digest: u64,
}

impl Report {
    /// Every stream arrived with the right bytes and nothing went wrong.
    pub fn intact(&self) -> bool {
        self.failures.is_empty()
            && self.streams_intact == self.streams_total
            && self.completed.is_some()
    }

    /// Stream payload bits per second of virtual time, from the connect to
    /// the completion.
    pub fn goodput_bps(&self) -> Option<f64> {
        let t = self.completed?.as_secs_f64();
        (t > 0.0).then(|| self.stream_bytes as f64 * 8.0 / t)
    }

    /// The client closed with code 0 and the server saw it (or, if its
    /// copies were all lost, the server's idle timer ended the connection).
    pub fn closed_cleanly(&self) -> bool {
        let server_ok = match &self.server_close {
            Some(ConnectionError::PeerApplicationClose { code, .. }) => code.into_inner() == 0,
            Some(ConnectionError::TimedOut) => true,
            _ => false,
        };
        server_ok && self.client_close == Some(ConnectionError::LocallyClosed) && self.drained
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "seed {}: ", self.seed)?;
        match self.completed {
            Some(t) => write!(f, "{} bytes in {t:.3?}", self.stream_bytes)?,
            None => write!(
                f,
                "INCOMPLETE ({}/{} streams)",
                self.streams_intact, self.streams_total
            )?,
        }
        if let Some(g) = self.goodput_bps() {
            write!(f, " ({:.2} Mbit/s)", g / 1e6)?;
        }
        if let Some(h) = self.handshake {
            write!(f, ", handshake {h:.3?}")?;
        }
        let (c, s) = (&self.client_stats, &self.server_stats);
        write!(
            f,
            ", datagrams sent {}/{} lost {}/{}, stream bytes retransmitted {}/{}",
            c.datagrams_sent,
            s.datagrams_sent,
            c.packets_lost,
            s.packets_lost,
            c.stream_bytes_retransmitted,
            s.stream_bytes_retransmitted
        )?;
        write!(
            f,
            ", path MTU {}/{} (probes lost {}/{}, black holes {}/{}, congestion events {}/{})",
            c.path_mtu,
            s.path_mtu,
            c.mtu_probes_lost,
            s.mtu_probes_lost,
            c.black_holes_detected,
            s.black_holes_detected,
            c.congestion_events,
            s.congestion_events
        )?;
        if self.datagrams_sent != (0, 0) {
            write!(
                f,
                ", app datagrams {}/{} of {}/{}",
                self.datagrams_received.0,
                self.datagrams_received.1,
                self.datagrams_sent.0,
                self.datagrams_sent.1
            )?;
        }
        let n = &self.network;
        write!(
            f,
            ", network delivered {} dropped {} unroutable {} stale {}, close {:?}/{:?}, trace {:016x}",
            n.delivered,
            n.dropped_by_link,
            n.unroutable,
            n.stale_address,
            self.client_close,
            self.server_close,
            self.trace_digest
        )?;
        for failure in &self.failures {
            write!(f, "\n  {failure}")?;
        }
        Ok(())
    }
}

/// The byte at `offset` of the stream `tag`: differs per stream and
/// position, so misplaced or mixed-up data is caught.
fn pattern(tag: u64, offset: u64, out: &mut [u8]) {
    for (k, b) in out.iter_mut().enumerate() {
        let o = offset + k as u64;
        *b = (o.wrapping_mul(31) ^ (o >> 8) ^ tag.wrapping_mul(97)) as u8;
    }
}

/// Stream tags: uploads count from 0, downloads from 1 << 32.
const DOWNLOAD_TAG: u64 = 1 << 32;

/// One stream being written.
struct Outgoing {
    tag: u64,
    size: u64,
    id: Option<StreamId>,
    written: u64,
    finished: bool,
    hash: digest::Context,
}

/// One stream being read.
struct Incoming {
    tag: u64,
    size: u64,
    received: u64,
    hash: digest::Context,
    done: bool,
}

/// One side's application.
struct Side {
    node: NodeId,
    conn: Option<ConnectionHandle>,
    connected: bool,
    out: Vec<Outgoing>,
    /// The peer's streams, by their index in the peer's list.
    incoming: Vec<Option<Incoming>>,
    incoming_sizes: Vec<u64>,
    incoming_tag: u64,
    datagrams_sent: u32,
    datagrams_received: u32,
    close: Option<ConnectionError>,
    drained: bool,
    /// The connection's counters when last seen.
    stats: Stats,
}

impl Side {
    fn new(node: NodeId, sizes: &[u64], tag: u64, peer_sizes: &[u64], peer_tag: u64) -> Self {
        Self {
            node,
            conn: None,
            connected: false,
            out: sizes
                .iter()
                .enumerate()
                .map(|(i, &size)| Outgoing {
                    tag: tag + i as u64,
                    size,
                    id: None,
                    written: 0,
                    finished: false,
                    hash: digest::Context::new(&digest::SHA256),
                })
                .collect(),
            incoming: peer_sizes.iter().map(|_| None).collect(),
            incoming_sizes: peer_sizes.to_vec(),
            incoming_tag: peer_tag,
            datagrams_sent: 0,
            datagrams_received: 0,
            close: None,
            drained: false,
            stats: Stats::default(),
        }
    }
}

struct Run {
    net: Network,
    start: Instant,
    client: Side,
    server: Side,
    handshake: Option<Duration>,
    completed: Option<Duration>,
    intact: usize,
    failures: Vec<String>,
    /// Sender-side hashes of finished streams: (tag, digest).
    sent_hashes: Vec<(u64, digest::Digest)>,
    next_client_addr: (u8, u16),
}

impl Run {
    fn new(s: &Scenario, server: ServerConfig, start: Instant) -> Self {
        let mut net = Network::new(s.seed, start);
        let c = net.add_endpoint(
            Endpoint::new(EndpointConfig::new(s.seed ^ 0xc11e), None),
            CLIENT_ADDR,
        );
        let srv = net.add_endpoint(
            Endpoint::new(EndpointConfig::new(s.seed ^ 0x5e4e), Some(server)),
            SERVER_ADDR,
        );
        net.link(
            c,
            srv,
            s.client_to_server.clone(),
            s.server_to_client.clone(),
        );
        let w = &s.workload;
        Self {
            net,
            start,
            client: Side::new(c, &w.upload, 0, &w.download, DOWNLOAD_TAG),
            server: Side::new(srv, &w.download, DOWNLOAD_TAG, &w.upload, 0),
            handshake: None,
            completed: None,
            intact: 0,
            failures: Vec::new(),
            sent_hashes: Vec::new(),
            next_client_addr: (1, 5000),
        }
    }

    fn schedule(&mut self, s: &Scenario) {
        let (mut up, mut down) = (s.client_to_server.clone(), s.server_to_client.clone());
        let mut changes = s.changes.clone();
        changes.sort_by_key(|(t, _)| *t);
        let (c, srv) = (self.client.node, self.server.node);
        for (offset, change) in changes {
            let at = self.start + offset;
            let link = |from, to, config| Change::Link { from, to, config };
            match change {
                PathChange::ClientToServer(config) => {
                    up = config.clone();
                    self.net.schedule(at, link(c, srv, config));
                }
                PathChange::ServerToClient(config) => {
                    down = config.clone();
                    self.net.schedule(at, link(srv, c, config));
                }
                PathChange::Blackhole(dark) => {
                    up.blackhole = dark;
                    down.blackhole = dark;
                    self.net.schedule(at, link(c, srv, up.clone()));
                    self.net.schedule(at, link(srv, c, down.clone()));
                }
                PathChange::RebindClientPort => {
                    self.next_client_addr.1 = self.next_client_addr.1.wrapping_add(1).max(1024);
                    let new_addr = self.client_addr();
                    self.net.schedule(at, Change::Rebind { node: c, new_addr });
                }
                PathChange::RebindClientAddress => {
                    self.next_client_addr.0 = self.next_client_addr.0.wrapping_add(1).max(1);
                    self.next_client_addr.1 = self.next_client_addr.1.wrapping_add(7).max(1024);
                    let new_addr = self.client_addr();
                    self.net.schedule(at, Change::Rebind { node: c, new_addr });
                }
            }
        }
    }

    fn client_addr(&self) -> SocketAddr {
        let (host, port) = self.next_client_addr;
        SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, host)), port)
    }

    fn play(mut self, s: &Scenario, client: &ClientConfig) -> Report {
        self.schedule(s);
        let start = self.start;
        match self
            .net
            .endpoint(self.client.node)
            .connect(start, client, SERVER_ADDR, "localhost")
        {
            Ok(h) => self.client.conn = Some(h),
            Err(e) => self.failures.push(format!("connect failed: {e:?}")),
        }
        let total = s.workload.upload.len() + s.workload.download.len();
        let datagrams = s.workload.datagrams;
        let size = s.workload.datagram_size.max(4);
        let deadline = start + s.time_limit;
        let mut net = core::mem::replace(&mut self.net, Network::new(0, start));
        net.run_until(deadline, |net| {
            self.turn(net, datagrams, size);
            let sent_all =
                self.client.datagrams_sent == datagrams && self.server.datagrams_sent == datagrams;
            let done = self.intact == total && sent_all;
            done || self.client.close.is_some() || !self.failures.is_empty()
        });
        if self.intact == total && self.failures.is_empty() {
            self.completed = Some(net.now() - start);
        }
        // Close from the client and let both sides drain.
        let now = net.now();
        if let Some(c) = self
            .client
            .conn
            .and_then(|h| net.endpoint(self.client.node).connection(h))
        {
            c.close(now, VarInt::from_u32(0), b"done");
        }
        // The close may be lost; then the server's idle timer ends it, which
        // may take as long as the transfer was allowed to.
        net.run_until(now + CLOSE_GRACE.max(s.time_limit), |net| {
            self.turn(net, 0, size);
            self.client.drained && self.server.drained
        });
        self.report(s, net)
    }

    /// One application turn on both sides: events, reads, writes.
    fn turn(&mut self, net: &mut Network, datagrams: u32, size: usize) {
        let now = net.now();
        for is_client in [true, false] {
            let side = if is_client {
                &mut self.client
            } else {
                &mut self.server
            };
            while let Some((h, event)) = net.poll_event(side.node) {
                if side.conn.is_none() {
                    side.conn = Some(h);
                }
                match event {
                    Event::Connected => {
                        side.connected = true;
                        if is_client && self.handshake.is_none() {
                            self.handshake = Some(now - self.start);
                        }
                    }
                    Event::Closed(e) => side.close = Some(e),
                    Event::Drained => side.drained = true,
                    _ => {}
                }
            }
            let Some(conn) = side
                .conn
                .and_then(|h| net.endpoint(side.node).connection(h))
            else {
                continue;
            };
            side.stats = conn.stats();
            if !side.connected || conn.is_closed() {
                continue;
            }
            read_streams(
                side,
                conn,
                &self.sent_hashes,
                &mut self.intact,
                &mut self.failures,
            );
            write_streams(side, conn, &mut self.sent_hashes);
            exchange_datagrams(side, conn, datagrams, size, &mut self.failures);
        }
    }

    fn report(self, s: &Scenario, net: Network) -> Report {
        Report {
            seed: s.seed,
            handshake: self.handshake,
            completed: self.completed,
            streams_intact: self.intact,
            streams_total: s.workload.upload.len() + s.workload.download.len(),
            stream_bytes: s.workload.stream_bytes(),
            datagrams_sent: (self.client.datagrams_sent, self.server.datagrams_sent),
            datagrams_received: (
                self.server.datagrams_received,
                self.client.datagrams_received,
            ),
            client_stats: self.client.stats,
            server_stats: self.server.stats,
            network: net.stats(),
            client_close: self.client.close,
            server_close: self.server.close,
            drained: self.client.drained && self.server.drained,
            failures: self.failures,
            trace_digest: net.trace_digest(),
        }
    }
}

fn write_streams(
    side: &mut Side,
    conn: &mut crate::connection::Connection,
    sent_hashes: &mut Vec<(u64, digest::Digest)>,
) {
    let mut chunk = [0u8; CHUNK];
    for out in &mut side.out {
        if out.finished {
            continue;
        }
        if out.id.is_none() {
            // Streams open in list order, so the peer can tell which is which
            // by the stream's index; stop at the stream limit.
            match conn.open_stream(Dir::Uni) {
                Ok(id) => out.id = Some(id),
                Err(_) => return,
            }
        }
        let Some(id) = out.id else { return };
        while out.written < out.size {
            let n = (out.size - out.written).min(CHUNK as u64) as usize;
            pattern(out.tag, out.written, &mut chunk[..n]);
            match conn.write(id, &chunk[..n]) {
                Ok(0) | Err(_) => break,
                Ok(w) => {
                    out.hash.update(&chunk[..w]);
                    out.written += w as u64;
                }
            }
        }
        if out.written == out.size && conn.finish(id).is_ok() {
            out.finished = true;
            sent_hashes.push((out.tag, out.hash.clone().finish()));
        }
    }
}

fn read_streams(
    side: &mut Side,
    conn: &mut crate::connection::Connection,
    sent_hashes: &[(u64, digest::Digest)],
    intact: &mut usize,
    failures: &mut Vec<String>,
) {
    while let Some(id) = conn.accept_stream(Dir::Uni) {
        let index = id.index() as usize;
        match side.incoming_sizes.get(index) {
            Some(&size) if side.incoming[index].is_none() => {
                side.incoming[index] = Some(Incoming {
                    tag: side.incoming_tag + index as u64,
                    size,
                    received: 0,
                    hash: digest::Context::new(&digest::SHA256),
                    done: false,
                });
            }
            _ => failures.push(format!("unexpected stream {id:?}")),
        }
    }
    let mut expected = [0u8; CHUNK];
    for (index, slot) in side.incoming.iter_mut().enumerate() {
        let Some(inc) = slot else { continue };
        let id = StreamId::new(side_of_peer(side.incoming_tag), Dir::Uni, index as u64);
        while !inc.done {
            let (data, fin): (Bytes, bool) = match conn.read_chunk(id, CHUNK) {
                Ok(Some(r)) => r,
                Ok(None) => break,
                Err(e) => {
                    failures.push(format!("stream {}: read failed: {e:?}", inc.tag));
                    inc.done = true;
                    break;
                }
            };
            if inc.received + data.len() as u64 > inc.size {
                failures.push(format!("stream {}: longer than {}", inc.tag, inc.size));
                inc.done = true;
                break;
            }
            let want = &mut expected[..data.len()];
            pattern(inc.tag, inc.received, want);
            if data[..] != want[..] {
                failures.push(format!(
                    "stream {}: wrong bytes near offset {}",
                    inc.tag, inc.received
                ));
            }
            inc.hash.update(&data);
            inc.received += data.len() as u64;
            if fin {
                inc.done = true;
                finish_incoming(inc, sent_hashes, intact, failures);
            } else if data.is_empty() {
                break;
            }
        }
    }
}

/// The side that opened the streams tagged from `tag`.
fn side_of_peer(tag: u64) -> crate::Side {
    if tag == DOWNLOAD_TAG {
        crate::Side::Server
    } else {
        crate::Side::Client
    }
}

fn finish_incoming(
    inc: &Incoming,
    sent_hashes: &[(u64, digest::Digest)],
    intact: &mut usize,
    failures: &mut Vec<String>,
) {
    if inc.received != inc.size {
        failures.push(format!(
            "stream {}: finished at {} of {} bytes",
            inc.tag, inc.received, inc.size
        ));
        return;
    }
    let got = inc.hash.clone().finish();
    match sent_hashes.iter().find(|(tag, _)| *tag == inc.tag) {
        Some((_, sent)) if sent.as_ref() == got.as_ref() => *intact += 1,
        Some(_) => failures.push(format!("stream {}: hash mismatch", inc.tag)),
        None => failures.push(format!("stream {}: finished before it was sent", inc.tag)),
    }
}

fn exchange_datagrams(
    side: &mut Side,
    conn: &mut crate::connection::Connection,
    count: u32,
    size: usize,
    failures: &mut Vec<String>,
) {
    while let Some(d) = conn.recv_datagram() {
        let mut want = vec![0u8; d.len()];
        let seq = d
            .get(..4)
            .map_or(u32::MAX, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
        if let Some(tail) = want.get_mut(4..) {
            pattern(u64::from(seq), 0, tail);
        }
        if d.len() != size || d.get(4..) != want.get(4..) {
            failures.push(format!("datagram {seq}: wrong bytes"));
        }
        side.datagrams_received += 1;
    }
    if side.datagrams_sent < count {
        let seq = side.datagrams_sent;
        let mut payload = vec![0u8; size];
        payload[..4].copy_from_slice(&seq.to_be_bytes());
        pattern(u64::from(seq), 0, &mut payload[4..]);
        match conn.send_datagram(Bytes::from(payload)) {
            Ok(()) => side.datagrams_sent += 1,
            Err(e) => {
                failures.push(format!("datagram {seq}: {e}"));
                side.datagrams_sent = count;
            }
        }
    }
}
