//! Interop with quinn 0.11 over real loopback UDP, in both roles.
//!
//! Our endpoint runs on [`UdpDriver`] in the test thread; quinn runs on a
//! one-worker tokio runtime. Every exchange is request/response on
//! bidirectional streams:
//!
//! - a request is `[index: u64][response length: u64][filler]`, the filler
//!   derived from the index, so the server can regenerate what it should
//!   have received and compare SHA-256 digests;
//! - a response is `[SHA-256 of the request as received][filler]`: the
//!   client compares the server's digest with its own (the sender's hash
//!   against the receiver's), and the whole response with what it expects.
//!
//! Then one side closes with an application code and the test checks that
//! the peer saw exactly that code. Every run is bounded by a wall-clock
//! deadline so that a hang fails instead of stalling CI.
//!
//! quinn starts a key update of its own after its first 10 to 1000 packets
//! in every connection, so each bulk test also covers our answer to a
//! peer's key update. Several tests reproduce bugs these tests found in
//! `quic-proto` (TLS resumption and transport parameters, key updates we
//! start while only receiving or while idle, keep-alive in a blackhole, a
//! close after a stall); all are fixed.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use quic_proto::config::{ClientConfig, EndpointConfig, ServerConfig, TransportConfig};
use quic_proto::connection::{Connection, ConnectionError, Event, Stats};
use quic_proto::endpoint::{ConnectionHandle, Endpoint};
use quic_proto::streams::{StreamEvent, WriteError};
use quic_proto::{Dir, StreamId, VarInt};
use quic_tests::udp_driver::{Control, UdpDriver, DEFAULT_DEADLINE};
use ring::digest;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::CipherSuite;

const ALPN: &[u8] = b"interop";
const KIB: usize = 1024;
const MIB: usize = 1024 * 1024;
/// Small initial windows, on both stacks, so flow control is exercised.
const STREAM_WINDOW: u32 = 64 * 1024;
const CONN_WINDOW: u32 = 256 * 1024;
/// The application close code of most tests (the handshake tests use 0).
const DONE: u32 = 42;
const DATAGRAM_LEN: usize = 1000;
/// quinn pings when idle this long. A CONNECTION_CLOSE is sent once and
/// resent only in answer to packets from the peer (RFC 9000 §10.2.1), so a
/// close of ours lost on a busy loopback would otherwise leave quinn to idle
/// out instead of seeing the code; a PING within our closing period (3 PTO)
/// makes us send it again. (Ours stays off: see
/// `keep_alive_paces_pings_while_the_peer_is_silent`.)
const KEEP_ALIVE: Duration = Duration::from_millis(50);

// ---- certificates and TLS ------------------------------------------------

/// A self-signed certificate for "localhost", made on the fly.
struct Certs {
    cert: CertificateDer<'static>,
    key: PrivatePkcs8KeyDer<'static>,
}

impl Certs {
    fn new() -> Self {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let params = rcgen::CertificateParams::new(vec!["localhost".into()]).unwrap();
        let cert = params.self_signed(&key).unwrap();
        Self {
            cert: cert.der().clone(),
            key: PrivatePkcs8KeyDer::from(key.serialize_der()),
        }
    }

    fn server_tls(&self, provider: Arc<CryptoProvider>) -> rustls::ServerConfig {
        let mut tls = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![self.cert.clone()],
                PrivateKeyDer::Pkcs8(self.key.clone_key()),
            )
            .unwrap();
        tls.alpn_protocols = vec![ALPN.to_vec()];
        tls
    }

    fn client_tls(&self, provider: Arc<CryptoProvider>) -> rustls::ClientConfig {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.cert.clone()).unwrap();
        let mut tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        tls.alpn_protocols = vec![ALPN.to_vec()];
        tls
    }
}

fn ring_provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A provider offering TLS_CHACHA20_POLY1305_SHA256 only.
fn chacha_provider() -> Arc<CryptoProvider> {
    let mut provider = rustls::crypto::ring::default_provider();
    provider.cipher_suites =
        vec![rustls::crypto::ring::cipher_suite::TLS13_CHACHA20_POLY1305_SHA256];
    Arc::new(provider)
}

// ---- payloads ------------------------------------------------------------

/// SplitMix64: a seed per stream, so every byte is reproducible.
fn splitmix(x: &mut u64) -> u64 {
    *x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *x;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn fill(out: &mut Vec<u8>, seed: u64, len: usize) {
    let mut state = seed;
    out.reserve(len.saturating_sub(out.len()));
    while out.len() < len {
        let word = splitmix(&mut state).to_le_bytes();
        let n = (len - out.len()).min(8);
        out.extend_from_slice(&word[..n]);
    }
}

/// A request: `[index][response length][filler]`, `len` bytes (at least 16).
fn request(index: u64, len: usize, response_len: usize) -> Vec<u8> {
    assert!(len >= 16);
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(&index.to_le_bytes());
    out.extend_from_slice(&(response_len as u64).to_le_bytes());
    fill(&mut out, index.wrapping_mul(2).wrapping_add(1), len);
    out
}

/// A response: `[digest of the request received][filler]`, at least 32 bytes.
fn response(request_digest: &[u8; 32], index: u64, len: usize) -> Vec<u8> {
    let len = len.max(32);
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(request_digest);
    fill(&mut out, index.wrapping_mul(2).wrapping_add(2), len);
    out
}

fn sha256(data: &[u8]) -> [u8; 32] {
    digest::digest(&digest::SHA256, data)
        .as_ref()
        .try_into()
        .unwrap()
}

/// A stream being received: its digest so far, length and first bytes.
struct Incoming {
    hash: digest::Context,
    len: usize,
    head: Vec<u8>,
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
    fn update(&mut self, data: &[u8]) {
        self.hash.update(data);
        self.len += data.len();
        let want = 32usize.saturating_sub(self.head.len()).min(data.len());
        self.head.extend_from_slice(&data[..want]);
    }

    fn digest(self) -> (usize, Vec<u8>, [u8; 32]) {
        let d = self.hash.finish().as_ref().try_into().unwrap();
        (self.len, self.head, d)
    }
}

/// The server's check of a complete request; returns the response to send.
fn serve_request(incoming: Incoming) -> Vec<u8> {
    let (len, head, got) = incoming.digest();
    assert!(len >= 16, "request of {len} bytes is too short");
    let index = u64::from_le_bytes(head[..8].try_into().unwrap());
    let response_len = u64::from_le_bytes(head[8..16].try_into().unwrap()) as usize;
    let want = sha256(&request(index, len, response_len));
    assert_eq!(got, want, "request {index} ({len} bytes) arrived corrupted");
    response(&got, index, response_len)
}

/// The client's check of a complete response to `sent`.
fn check_response(sent: &Sent, incoming: Incoming) {
    let (len, head, got) = incoming.digest();
    assert_eq!(
        len,
        sent.response_len.max(32),
        "response {} has the wrong length",
        sent.index
    );
    assert_eq!(
        head[..32],
        sent.digest,
        "the server's digest of request {} differs from the sender's",
        sent.index
    );
    let want = sha256(&response(&sent.digest, sent.index, sent.response_len));
    assert_eq!(got, want, "response {} arrived corrupted", sent.index);
}

/// What a client remembers of a request it sent.
#[derive(Clone, Copy)]
struct Sent {
    index: u64,
    digest: [u8; 32],
    response_len: usize,
}

/// Datagram `i`: `[i: u32][filler]`.
fn datagram(i: u32) -> Vec<u8> {
    let mut out = i.to_le_bytes().to_vec();
    fill(&mut out, 0xd47a_0000 + u64::from(i), DATAGRAM_LEN);
    out
}

fn check_datagram(data: &[u8]) -> u32 {
    assert!(data.len() >= 4, "datagram too short");
    let i = u32::from_le_bytes(data[..4].try_into().unwrap());
    assert_eq!(
        sha256(data),
        sha256(&datagram(i)),
        "datagram {i} arrived corrupted"
    );
    i
}

// ---- what a test does ----------------------------------------------------

/// One exchange: the client sends each request, the server answers each;
/// then one side closes with `close_code`.
#[derive(Clone, Debug)]
struct Plan {
    /// (request length, response length) per stream, all concurrent.
    streams: Vec<(usize, usize)>,
    /// Datagrams the client sends and the server echoes.
    datagrams: u32,
    close_code: u32,
    server_closes: bool,
    /// Bytes moved on our side's streams after which we initiate a key update.
    our_key_update_at: Option<u64>,
    /// Bytes moved on quinn's streams after which it forces a key update.
    quinn_key_update_at: Option<u64>,
    /// How many bidirectional streams the server allows at once.
    max_streams: u32,
    /// quinn's keep-alive interval and idle timeout.
    quinn_keep_alive: Option<Duration>,
    quinn_idle_timeout: Duration,
    /// How long a quinn client waits after the handshake before its requests.
    quinn_start_delay: Duration,
}

impl Plan {
    fn new(streams: Vec<(usize, usize)>) -> Self {
        Self {
            streams,
            datagrams: 0,
            close_code: DONE,
            server_closes: false,
            our_key_update_at: None,
            quinn_key_update_at: None,
            max_streams: 100,
            quinn_keep_alive: Some(KEEP_ALIVE),
            quinn_idle_timeout: Duration::from_secs(10),
            quinn_start_delay: Duration::ZERO,
        }
    }

    fn our_transport(&self) -> Arc<TransportConfig> {
        let mut t = TransportConfig::default();
        t.stream_receive_window = u64::from(STREAM_WINDOW);
        t.receive_window = u64::from(CONN_WINDOW);
        t.max_concurrent_bidi_streams = u64::from(self.max_streams);
        t.max_idle_timeout = Some(Duration::from_secs(10));
        Arc::new(t)
    }

    fn quinn_transport(&self) -> Arc<quinn::TransportConfig> {
        let mut t = quinn::TransportConfig::default();
        t.stream_receive_window(quinn::VarInt::from_u32(STREAM_WINDOW))
            .receive_window(quinn::VarInt::from_u32(CONN_WINDOW))
            .max_concurrent_bidi_streams(quinn::VarInt::from_u32(self.max_streams))
            .max_idle_timeout(Some(self.quinn_idle_timeout.try_into().unwrap()))
            .keep_alive_interval(self.quinn_keep_alive);
        Arc::new(t)
    }
}

/// What our side saw.
#[derive(Debug)]
struct OurReport {
    /// The connection's `Closed` event.
    close: Option<ConnectionError>,
    stats: Stats,
    cipher: Option<CipherSuite>,
    alpn: Option<Vec<u8>>,
    /// Client: responses verified; server: requests verified and answered.
    streams: usize,
    /// Client: echoes verified; server: datagrams echoed.
    datagrams: usize,
    /// Client: how often the peer's stream limit refused `open_stream`.
    open_refused: usize,
    /// Server: the most peer streams accepted and not yet done at once.
    max_live_streams: usize,
}

/// What quinn saw.
#[derive(Debug)]
struct QuinnReport {
    close: quinn::ConnectionError,
    alpn: Option<Vec<u8>>,
    streams: usize,
    datagrams: usize,
}

// ---- our side --------------------------------------------------------------

/// Bytes moved on our streams, and the one key update we initiate.
struct OurKeyUpdate {
    at: Option<u64>,
    moved: u64,
    started: bool,
}

impl OurKeyUpdate {
    fn add(&mut self, conn: &mut Connection, n: usize) {
        self.moved += n as u64;
        if self.at.is_some_and(|at| self.moved >= at) && !self.started {
            self.started = true;
            conn.initiate_key_update();
        }
    }
}

/// Our application on one connection, driven by its events.
struct OurApp {
    plan: Plan,
    is_client: bool,
    handle: Option<ConnectionHandle>,
    /// Client: requests not yet opened, and those in flight.
    to_open: Vec<usize>,
    sent: HashMap<StreamId, Sent>,
    /// Data still to write, and how much of it is written.
    sends: HashMap<StreamId, (Vec<u8>, usize)>,
    recvs: HashMap<StreamId, Incoming>,
    /// Server: responses whose every byte the client acknowledged.
    acked: usize,
    /// Server: peer streams accepted.
    accepted: usize,
    echoes: BTreeMap<u32, ()>,
    key_update: OurKeyUpdate,
    closing: bool,
    /// Stop at `Closed` instead of waiting for `Drained`.
    stop_on_close: bool,
    report: OurReport,
}

impl OurApp {
    fn new(plan: &Plan, is_client: bool) -> Self {
        Self {
            to_open: (0..plan.streams.len()).rev().collect(),
            plan: plan.clone(),
            is_client,
            handle: None,
            sent: HashMap::new(),
            sends: HashMap::new(),
            recvs: HashMap::new(),
            acked: 0,
            accepted: 0,
            echoes: BTreeMap::new(),
            key_update: OurKeyUpdate {
                at: plan.our_key_update_at,
                moved: 0,
                started: false,
            },
            closing: false,
            stop_on_close: false,
            report: OurReport {
                close: None,
                stats: Stats::default(),
                cipher: None,
                alpn: None,
                streams: 0,
                datagrams: 0,
                open_refused: 0,
                max_live_streams: 0,
            },
        }
    }

    fn client(plan: &Plan, handle: ConnectionHandle) -> Self {
        let mut app = Self::new(plan, true);
        app.handle = Some(handle);
        app
    }

    fn server(plan: &Plan) -> Self {
        Self::new(plan, false)
    }

    fn on_event(&mut self, ep: &mut Endpoint, handle: ConnectionHandle, event: Event) -> Control {
        if *self.handle.get_or_insert(handle) != handle {
            // An earlier connection of the same endpoint winding down.
            return Control::Continue;
        }
        match &event {
            Event::Drained => return Control::Stop,
            Event::Closed(e) => {
                // The connection may be gone already (an idle timeout
                // closes and drains at once).
                if let Some(conn) = ep.connection(handle) {
                    self.report.stats = conn.stats();
                }
                self.report.close = Some(e.clone());
                if self.stop_on_close {
                    return Control::Stop;
                }
                return Control::Continue;
            }
            _ => {}
        }
        let Some(conn) = ep.connection(handle) else {
            return Control::Continue;
        };
        match event {
            Event::Connected => {
                self.report.cipher = conn.cipher_suite().map(|s| s.suite());
                self.report.alpn = conn.alpn().map(<[u8]>::to_vec);
                if self.is_client {
                    self.open_streams(conn);
                    for i in 0..self.plan.datagrams {
                        conn.send_datagram(Bytes::from(datagram(i)))
                            .expect("send a datagram");
                    }
                }
            }
            Event::Stream(ev) => self.on_stream_event(conn, ev),
            Event::DatagramReceived => {
                while let Some(d) = conn.recv_datagram() {
                    let i = check_datagram(&d);
                    if self.is_client {
                        self.echoes.insert(i, ());
                        self.report.datagrams = self.echoes.len();
                    } else {
                        conn.send_datagram(d).expect("echo a datagram");
                        self.report.datagrams += 1;
                    }
                }
            }
            _ => {}
        }
        self.maybe_close(conn);
        Control::Continue
    }

    fn on_stream_event(&mut self, conn: &mut Connection, ev: StreamEvent) {
        match ev {
            StreamEvent::Opened { dir } => {
                while let Some(id) = conn.accept_stream(dir) {
                    self.recvs.entry(id).or_default();
                    self.accepted += 1;
                }
                let live = self.accepted - self.acked;
                self.report.max_live_streams = self.report.max_live_streams.max(live);
            }
            StreamEvent::Readable { id } => self.read(conn, id),
            StreamEvent::Writable { id } => self.pump(conn, id),
            StreamEvent::Available { dir: Dir::Bi } => self.open_streams(conn),
            StreamEvent::Finished { .. } => self.acked += 1,
            StreamEvent::Reset { id, error_code } | StreamEvent::Stopped { id, error_code } => {
                panic!("stream {id:?} reset by the peer with {error_code}")
            }
            _ => {}
        }
    }

    /// Client: opens the remaining requests while the peer's limit allows.
    fn open_streams(&mut self, conn: &mut Connection) {
        while let Some(&i) = self.to_open.last() {
            let Ok(id) = conn.open_stream(Dir::Bi) else {
                self.report.open_refused += 1;
                return; // wait for StreamEvent::Available
            };
            self.to_open.pop();
            let (request_len, response_len) = self.plan.streams[i];
            let data = request(i as u64, request_len, response_len);
            self.sent.insert(
                id,
                Sent {
                    index: i as u64,
                    digest: sha256(&data),
                    response_len,
                },
            );
            self.recvs.insert(id, Incoming::default());
            self.sends.insert(id, (data, 0));
            self.pump(conn, id);
        }
    }

    /// Writes what flow control takes, then FIN once all is written.
    fn pump(&mut self, conn: &mut Connection, id: StreamId) {
        let Some((data, written)) = self.sends.get_mut(&id) else {
            return;
        };
        while *written < data.len() {
            match conn.write(id, &data[*written..]) {
                Ok(0) | Err(WriteError::Blocked) => return,
                Ok(n) => {
                    *written += n;
                    self.key_update.add(conn, n);
                }
                Err(e) => panic!("write on {id:?}: {e}"),
            }
        }
        conn.finish(id).expect("finish");
        self.sends.remove(&id);
    }

    fn read(&mut self, conn: &mut Connection, id: StreamId) {
        let incoming = self.recvs.entry(id).or_default();
        let fin = loop {
            match conn.read_chunk(id, usize::MAX) {
                Ok(Some((chunk, fin))) => {
                    incoming.update(&chunk);
                    self.key_update.add(conn, chunk.len());
                    if fin {
                        break true;
                    }
                    if chunk.is_empty() {
                        break false;
                    }
                }
                Ok(None) => break false,
                Err(e) => panic!("read on {id:?}: {e}"),
            }
        };
        if !fin {
            return;
        }
        let incoming = self.recvs.remove(&id).unwrap();
        if self.is_client {
            check_response(&self.sent[&id], incoming);
        } else {
            let data = serve_request(incoming);
            self.sends.insert(id, (data, 0));
            self.pump(conn, id);
        }
        self.report.streams += 1;
    }

    /// Closes once our part is done, if we are the side that closes.
    fn maybe_close(&mut self, conn: &mut Connection) {
        let n = self.plan.streams.len();
        let done = if self.is_client {
            self.report.streams == n && self.echoes.len() == self.plan.datagrams as usize
        } else {
            self.report.streams == n
                && self.acked == n
                && self.report.datagrams == self.plan.datagrams as usize
        };
        if !done || self.closing || self.is_client == self.plan.server_closes {
            return;
        }
        self.closing = true;
        self.report.stats = conn.stats();
        // A fresh `now`: checking a stream may have taken a while since the
        // event's, and a stale one could end the closing period before the
        // close goes out (see `close_after_a_stall_still_reaches_quinn`).
        conn.close(
            quic_tests::udp_driver::now(),
            VarInt::from_u32(self.plan.close_code),
            b"done",
        );
    }
}

fn our_endpoint(seed: u64, server: Option<ServerConfig>) -> UdpDriver {
    UdpDriver::bind(Endpoint::new(EndpointConfig::new(seed), server)).unwrap()
}

fn our_client_config(plan: &Plan, certs: &Certs, provider: Arc<CryptoProvider>) -> ClientConfig {
    let mut config = ClientConfig::new(Arc::new(certs.client_tls(provider))).unwrap();
    config.transport = plan.our_transport();
    config
}

fn our_server_config(plan: &Plan, certs: &Certs, provider: Arc<CryptoProvider>) -> ServerConfig {
    let mut config = ServerConfig::new(Arc::new(certs.server_tls(provider))).unwrap();
    config.transport = plan.our_transport();
    config
}

/// Runs one client connection of ours to `server` until it is over.
fn run_our_client(
    driver: &mut UdpDriver,
    config: &ClientConfig,
    server: SocketAddr,
    plan: &Plan,
    stop_on_close: bool,
) -> OurReport {
    let handle = driver.connect(config, server, "localhost").unwrap();
    let mut app = OurApp::client(plan, handle);
    app.stop_on_close = stop_on_close;
    driver
        .run(|ep, h, ev, _| app.on_event(ep, h, ev))
        .unwrap_or_else(|e| panic!("our client: {e}; so far {:?}", app.report));
    app.report
}

/// Serves one connection on our server until it is over.
fn run_our_server(driver: &mut UdpDriver, plan: &Plan) -> OurReport {
    let mut app = OurApp::server(plan);
    driver
        .run(|ep, h, ev, _| app.on_event(ep, h, ev))
        .unwrap_or_else(|e| panic!("our server: {e}; so far {:?}", app.report));
    app.report
}

// ---- quinn's side ----------------------------------------------------------

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

/// Bytes moved on quinn's streams, and the one forced key update.
struct KeyUpdateTrigger {
    at: Option<u64>,
    moved: AtomicU64,
    done: AtomicBool,
}

impl KeyUpdateTrigger {
    fn new(at: Option<u64>) -> Arc<Self> {
        Arc::new(Self {
            at,
            moved: AtomicU64::new(0),
            done: AtomicBool::new(false),
        })
    }

    fn add(&self, conn: &quinn::Connection, n: usize) {
        let moved = self.moved.fetch_add(n as u64, Ordering::Relaxed) + n as u64;
        if let Some(at) = self.at {
            if moved >= at && !self.done.swap(true, Ordering::Relaxed) {
                conn.force_key_update();
            }
        }
    }
}

fn quinn_alpn(conn: &quinn::Connection) -> Option<Vec<u8>> {
    conn.handshake_data()?
        .downcast::<quinn::crypto::rustls::HandshakeData>()
        .ok()?
        .protocol
}

async fn quinn_read_all(
    conn: &quinn::Connection,
    recv: &mut quinn::RecvStream,
    trigger: &KeyUpdateTrigger,
) -> Incoming {
    let mut incoming = Incoming::default();
    while let Some(chunk) = recv.read_chunk(64 * KIB, true).await.expect("quinn read") {
        incoming.update(&chunk.bytes);
        trigger.add(conn, chunk.bytes.len());
    }
    incoming
}

async fn quinn_write_all(
    conn: &quinn::Connection,
    send: &mut quinn::SendStream,
    data: &[u8],
    trigger: &KeyUpdateTrigger,
) {
    for piece in data.chunks(64 * KIB) {
        send.write_all(piece).await.expect("quinn write");
        trigger.add(conn, piece.len());
    }
    send.finish().expect("quinn finish");
}

/// Serves one connection on quinn; returns when it is closed.
async fn quinn_serve(conn: quinn::Connection, plan: Arc<Plan>) -> QuinnReport {
    let trigger = KeyUpdateTrigger::new(plan.quinn_key_update_at);
    let echo = {
        let conn = conn.clone();
        let n = plan.datagrams;
        tokio::spawn(async move {
            for _ in 0..n {
                let d = conn.read_datagram().await.expect("quinn read_datagram");
                check_datagram(&d);
                conn.send_datagram(d).expect("quinn echo datagram");
            }
            n as usize
        })
    };
    let mut tasks = Vec::new();
    let accept_error = loop {
        if plan.server_closes && tasks.len() == plan.streams.len() {
            break None;
        }
        let (mut send, mut recv) = match conn.accept_bi().await {
            Ok(s) => s,
            Err(e) => break Some(e),
        };
        let conn = conn.clone();
        let trigger = trigger.clone();
        let wait_acked = plan.server_closes;
        tasks.push(tokio::spawn(async move {
            let incoming = quinn_read_all(&conn, &mut recv, &trigger).await;
            let data = serve_request(incoming);
            quinn_write_all(&conn, &mut send, &data, &trigger).await;
            if wait_acked {
                // Every byte acknowledged before the server closes.
                send.stopped().await.expect("quinn stopped");
            }
        }));
    };
    let streams = tasks.len();
    for t in tasks {
        t.await.expect("quinn stream task");
    }
    let datagrams = echo.await.expect("quinn datagram task");
    if accept_error.is_none() {
        conn.close(quinn::VarInt::from_u32(plan.close_code), b"done");
    }
    QuinnReport {
        close: conn.closed().await,
        alpn: quinn_alpn(&conn),
        streams,
        datagrams,
    }
}

/// A quinn server on 127.0.0.1 serving `connections` connections in turn.
fn spawn_quinn_server(
    rt: &tokio::runtime::Runtime,
    certs: &Certs,
    provider: Arc<CryptoProvider>,
    plan: &Plan,
    connections: usize,
) -> (SocketAddr, tokio::task::JoinHandle<Vec<QuinnReport>>) {
    let crypto =
        quinn::crypto::rustls::QuicServerConfig::try_from(certs.server_tls(provider)).unwrap();
    let mut config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    config.transport_config(plan.quinn_transport());
    let _guard = rt.enter();
    let endpoint = quinn::Endpoint::server(config, "127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = endpoint.local_addr().unwrap();
    let plan = Arc::new(plan.clone());
    let task = rt.spawn(async move {
        let mut reports = Vec::new();
        for _ in 0..connections {
            let incoming = endpoint.accept().await.expect("quinn accept");
            let conn = incoming.await.expect("quinn handshake");
            reports.push(quinn_serve(conn, plan.clone()).await);
        }
        endpoint.wait_idle().await;
        reports
    });
    (addr, task)
}

/// A quinn client running `plan` against `server`.
fn spawn_quinn_client(
    rt: &tokio::runtime::Runtime,
    certs: &Certs,
    provider: Arc<CryptoProvider>,
    plan: &Plan,
    server: SocketAddr,
) -> tokio::task::JoinHandle<QuinnReport> {
    let crypto =
        quinn::crypto::rustls::QuicClientConfig::try_from(certs.client_tls(provider)).unwrap();
    let mut config = quinn::ClientConfig::new(Arc::new(crypto));
    config.transport_config(plan.quinn_transport());
    let _guard = rt.enter();
    let mut endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    endpoint.set_default_client_config(config);
    let plan = Arc::new(plan.clone());
    rt.spawn(async move {
        let conn = endpoint
            .connect(server, "localhost")
            .unwrap()
            .await
            .expect("quinn connect");
        tokio::time::sleep(plan.quinn_start_delay).await;
        let trigger = KeyUpdateTrigger::new(plan.quinn_key_update_at);
        let mut tasks = Vec::new();
        for (i, &(request_len, response_len)) in plan.streams.iter().enumerate() {
            let conn = conn.clone();
            let trigger = trigger.clone();
            tasks.push(tokio::spawn(async move {
                let data = request(i as u64, request_len, response_len);
                let sent = Sent {
                    index: i as u64,
                    digest: sha256(&data),
                    response_len,
                };
                let (mut send, mut recv) = conn.open_bi().await.expect("quinn open_bi");
                quinn_write_all(&conn, &mut send, &data, &trigger).await;
                let incoming = quinn_read_all(&conn, &mut recv, &trigger).await;
                check_response(&sent, incoming);
            }));
        }
        for i in 0..plan.datagrams {
            conn.send_datagram(Bytes::from(datagram(i)))
                .expect("quinn send_datagram");
        }
        let mut echoes = BTreeMap::new();
        while echoes.len() < plan.datagrams as usize {
            let d = conn.read_datagram().await.expect("quinn read_datagram");
            echoes.insert(check_datagram(&d), ());
        }
        let streams = tasks.len();
        for t in tasks {
            t.await.expect("quinn stream task");
        }
        if !plan.server_closes {
            conn.close(quinn::VarInt::from_u32(plan.close_code), b"done");
        }
        let close = conn.closed().await;
        endpoint.wait_idle().await;
        QuinnReport {
            close,
            alpn: quinn_alpn(&conn),
            streams,
            datagrams: echoes.len(),
        }
    })
}

fn join<T>(rt: &tokio::runtime::Runtime, task: tokio::task::JoinHandle<T>) -> T {
    rt.block_on(async { tokio::time::timeout(DEFAULT_DEADLINE, task).await })
        .expect("quinn's side did not finish in time")
        .expect("quinn's side panicked")
}

// ---- checks ------------------------------------------------------------------

/// Both sides moved every stream and datagram, and the side that closed
/// did so with the plan's code, which the other side saw exactly.
fn check(plan: &Plan, ours: &OurReport, quinn: &QuinnReport, our_side_is_client: bool) {
    let n = plan.streams.len();
    assert_eq!(
        ours.streams, n,
        "our side completed {} streams",
        ours.streams
    );
    assert_eq!(
        quinn.streams, n,
        "quinn completed {} streams",
        quinn.streams
    );
    assert_eq!(ours.datagrams, plan.datagrams as usize);
    assert_eq!(quinn.datagrams, plan.datagrams as usize);
    assert_eq!(ours.alpn.as_deref(), Some(ALPN));
    assert_eq!(quinn.alpn.as_deref(), Some(ALPN));
    // The stream bytes really crossed our sockets (on top of framing).
    let requests: usize = plan.streams.iter().map(|s| s.0).sum();
    let responses: usize = plan.streams.iter().map(|s| s.1.max(32)).sum();
    let (out, inc) = if our_side_is_client {
        (requests, responses)
    } else {
        (responses, requests)
    };
    assert!(
        ours.stats.bytes_sent >= out as u64 && ours.stats.bytes_received >= inc as u64,
        "our side sent {out} and received {inc} stream bytes, yet {:?}",
        ours.stats
    );
    let we_close = our_side_is_client != plan.server_closes;
    let code = plan.close_code;
    if we_close {
        assert_eq!(ours.close, Some(ConnectionError::LocallyClosed));
        assert_quinn_saw_our_close(&quinn.close, code);
        if let quinn::ConnectionError::ApplicationClosed(c) = &quinn.close {
            assert_eq!(&c.reason[..], b"done");
        }
    } else {
        assert!(
            matches!(quinn.close, quinn::ConnectionError::LocallyClosed),
            "quinn's close: {:?}",
            quinn.close
        );
        assert_eq!(
            ours.close,
            Some(ConnectionError::PeerApplicationClose {
                code: VarInt::from_u32(code),
                reason: b"done".to_vec(),
            })
        );
    }
}

/// Our client against a quinn server.
fn our_client_vs_quinn(plan: &Plan, our_provider: Arc<CryptoProvider>) -> (OurReport, QuinnReport) {
    let certs = Certs::new();
    let rt = runtime();
    let (addr, server) = spawn_quinn_server(&rt, &certs, ring_provider(), plan, 1);
    let mut driver = our_endpoint(1, None);
    let config = our_client_config(plan, &certs, our_provider);
    let ours = run_our_client(&mut driver, &config, addr, plan, false);
    let quinn = join(&rt, server).pop().unwrap();
    check(plan, &ours, &quinn, true);
    (ours, quinn)
}

/// A quinn client against our server.
fn quinn_vs_our_server(plan: &Plan, our_provider: Arc<CryptoProvider>) -> (OurReport, QuinnReport) {
    let certs = Certs::new();
    let rt = runtime();
    let mut driver = our_endpoint(2, Some(our_server_config(plan, &certs, our_provider)));
    let client = spawn_quinn_client(
        &rt,
        &certs,
        ring_provider(),
        plan,
        driver.local_addr().unwrap(),
    );
    let ours = run_our_server(&mut driver, plan);
    let quinn = join(&rt, client);
    check(plan, &ours, &quinn, false);
    (ours, quinn)
}

// ---- the tests -----------------------------------------------------------------

fn handshake_plan(server_closes: bool) -> Plan {
    let mut plan = Plan::new(vec![(KIB, KIB)]);
    plan.close_code = 0;
    plan.server_closes = server_closes;
    plan
}

#[test]
fn handshake_our_client_quinn_server_client_closes() {
    our_client_vs_quinn(&handshake_plan(false), ring_provider());
}

#[test]
fn handshake_our_client_quinn_server_server_closes() {
    our_client_vs_quinn(&handshake_plan(true), ring_provider());
}

#[test]
fn handshake_quinn_client_our_server_client_closes() {
    quinn_vs_our_server(&handshake_plan(false), ring_provider());
}

#[test]
fn handshake_quinn_client_our_server_server_closes() {
    quinn_vs_our_server(&handshake_plan(true), ring_provider());
}

/// 2 + 3 + 5 MB on three concurrent streams.
const BULK: [usize; 3] = [2 * MIB, 3 * MIB, 5 * MIB];

fn upload_plan() -> Plan {
    Plan::new(BULK.iter().map(|&n| (n, 32)).collect())
}

fn download_plan() -> Plan {
    Plan::new(BULK.iter().map(|&n| (16, n)).collect())
}

#[test]
fn transfer_our_client_uploads_to_quinn() {
    our_client_vs_quinn(&upload_plan(), ring_provider());
}

#[test]
fn transfer_our_client_downloads_from_quinn() {
    our_client_vs_quinn(&download_plan(), ring_provider());
}

#[test]
fn transfer_quinn_client_uploads_to_us() {
    quinn_vs_our_server(&upload_plan(), ring_provider());
}

#[test]
fn transfer_quinn_client_downloads_from_us() {
    quinn_vs_our_server(&download_plan(), ring_provider());
}

/// 1999 echoed 1 KB streams against a limit of 1000 concurrent streams.
fn many_streams_plan() -> Plan {
    let mut plan = Plan::new(vec![(KIB, KIB); 1999]);
    plan.max_streams = 1000;
    plan
}

#[test]
fn many_streams_our_client_quinn_server() {
    let (ours, _) = our_client_vs_quinn(&many_streams_plan(), ring_provider());
    // quinn's limit of 1000 was reached, and we waited for more credit.
    assert!(ours.open_refused > 0, "{ours:?}");
}

#[test]
fn many_streams_quinn_client_our_server() {
    let (ours, _) = quinn_vs_our_server(&many_streams_plan(), ring_provider());
    // quinn never had more than our limit open.
    assert!(
        (1..=1000).contains(&ours.max_live_streams),
        "{} streams live at once",
        ours.max_live_streams
    );
}

/// 2 MB each way on one stream (the request, then the response), with a
/// key update after `at` bytes moved by the side that initiates it: 1.5 MB
/// falls in the request, 2.5 MB in the response.
fn key_update_plan(ours: bool, at: usize) -> Plan {
    let mut plan = Plan::new(vec![(2 * MIB, 2 * MIB)]);
    if ours {
        plan.our_key_update_at = Some(at as u64);
    } else {
        plan.quinn_key_update_at = Some(at as u64);
    }
    plan
}

const IN_REQUEST: usize = 3 * MIB / 2;
const IN_RESPONSE: usize = 5 * MIB / 2;

fn assert_key_updated(ours: &OurReport) {
    assert!(
        ours.stats.key_updates >= 1,
        "no key update happened: {:?}",
        ours.stats
    );
}

#[test]
fn key_update_by_our_client_while_sending() {
    let (ours, _) = our_client_vs_quinn(&key_update_plan(true, IN_REQUEST), ring_provider());
    assert_key_updated(&ours);
}

#[test]
fn key_update_by_our_client_while_receiving() {
    let (ours, _) = our_client_vs_quinn(&key_update_plan(true, IN_RESPONSE), ring_provider());
    assert_key_updated(&ours);
}

#[test]
fn key_update_by_our_server_while_sending() {
    let (ours, _) = quinn_vs_our_server(&key_update_plan(true, IN_RESPONSE), ring_provider());
    assert_key_updated(&ours);
}

#[test]
fn key_update_by_our_server_while_receiving() {
    let (ours, _) = quinn_vs_our_server(&key_update_plan(true, IN_REQUEST), ring_provider());
    assert_key_updated(&ours);
}

/// Our server starts a key update on an idle connection, then the quinn
/// client sends its request: the deterministic form of the bug above.
#[test]
fn key_update_by_our_server_while_idle() {
    let mut plan = Plan::new(vec![(64 * KIB, 64 * KIB)]);
    plan.quinn_keep_alive = None;
    plan.quinn_idle_timeout = Duration::from_secs(2);
    plan.quinn_start_delay = Duration::from_millis(500);
    let certs = Certs::new();
    let rt = runtime();
    let mut driver = our_endpoint(5, Some(our_server_config(&plan, &certs, ring_provider())));
    let addr = driver.local_addr().unwrap();
    let client = spawn_quinn_client(&rt, &certs, ring_provider(), &plan, addr);
    let mut app = OurApp::server(&plan);
    driver
        .run_for(Duration::from_millis(250), |ep, h, ev, _| {
            app.on_event(ep, h, ev)
        })
        .unwrap();
    let handle = app.handle.expect("quinn connected");
    let conn = driver.endpoint.connection(handle).unwrap();
    assert!(conn.is_established());
    conn.initiate_key_update();
    driver.run(|ep, h, ev, _| app.on_event(ep, h, ev)).unwrap();
    let ours = app.report;
    let quinn = join(&rt, client);
    check(&plan, &ours, &quinn, false);
    assert_key_updated(&ours);
}

#[test]
fn key_update_by_quinn_server() {
    let (ours, _) = our_client_vs_quinn(&key_update_plan(false, IN_RESPONSE), ring_provider());
    assert_key_updated(&ours);
}

#[test]
fn key_update_by_quinn_client() {
    let (ours, _) = quinn_vs_our_server(&key_update_plan(false, IN_REQUEST), ring_provider());
    assert_key_updated(&ours);
}

fn chacha_plan() -> Plan {
    Plan::new(vec![(100 * KIB, 100 * KIB)])
}

#[test]
fn chacha20_only_our_client() {
    let (ours, _) = our_client_vs_quinn(&chacha_plan(), chacha_provider());
    assert_eq!(
        ours.cipher,
        Some(CipherSuite::TLS13_CHACHA20_POLY1305_SHA256)
    );
}

#[test]
fn chacha20_only_our_server() {
    let (ours, _) = quinn_vs_our_server(&chacha_plan(), chacha_provider());
    assert_eq!(
        ours.cipher,
        Some(CipherSuite::TLS13_CHACHA20_POLY1305_SHA256)
    );
}

/// 50 connections in turn from one client endpoint of ours, each a small
/// exchange closed with [`DONE`]. With `resumption` the rustls client keeps
/// its default session cache, so connections after the first resume TLS.
fn fifty_connections_in_sequence(resumption: bool) {
    const N: usize = 50;
    let plan = Plan::new(vec![(KIB, KIB)]);
    let certs = Certs::new();
    let rt = runtime();
    let (addr, server) = spawn_quinn_server(&rt, &certs, ring_provider(), &plan, N);
    let mut driver = our_endpoint(3, None);
    let mut tls = certs.client_tls(ring_provider());
    if !resumption {
        tls.resumption = rustls::client::Resumption::disabled();
    }
    let mut config = ClientConfig::new(Arc::new(tls)).unwrap();
    config.transport = plan.our_transport();
    // Each connection stops at its close; its closing period runs on
    // while the next connection starts.
    let mut ours = Vec::new();
    for i in 0..N {
        let report = run_our_client(&mut driver, &config, addr, &plan, true);
        assert_eq!(
            report.close,
            Some(ConnectionError::LocallyClosed),
            "connection {i} did not end with our close: {report:?}"
        );
        ours.push(report);
    }
    // Let the last closing period end, answering quinn if it needs it.
    driver
        .run(|ep, _, _, _| {
            if ep.connection_count() == 0 {
                Control::Stop
            } else {
                Control::Continue
            }
        })
        .unwrap();
    let quinn = join(&rt, server);
    assert_eq!(quinn.len(), N);
    for (o, q) in ours.iter().zip(&quinn) {
        check(&plan, o, q, true);
    }
}

#[test]
fn fifty_connections_in_sequence_our_client_quinn_server() {
    fifty_connections_in_sequence(true);
}

#[test]
fn fifty_connections_in_sequence_without_tls_resumption() {
    fifty_connections_in_sequence(false);
}

fn datagram_plan() -> Plan {
    let mut plan = Plan::new(vec![(KIB, KIB)]);
    plan.datagrams = 20;
    plan
}

#[test]
fn datagrams_our_client_quinn_server() {
    our_client_vs_quinn(&datagram_plan(), ring_provider());
}

#[test]
fn datagrams_quinn_client_our_server() {
    quinn_vs_our_server(&datagram_plan(), ring_provider());
}

/// Our client with a 50 ms keep-alive, connected to a quinn server that
/// never pings and idles out after `quinn_idle`; the connection sits idle
/// for one second (with everything towards us lost, if `blackhole`), then
/// we close it with [`DONE`]. Returns the datagrams we sent in that second.
fn keep_alive_idle_second(quinn_idle: Duration, blackhole: bool) -> u64 {
    let mut plan = Plan::new(Vec::new());
    plan.quinn_keep_alive = None;
    plan.quinn_idle_timeout = quinn_idle;
    let certs = Certs::new();
    let rt = runtime();
    let (addr, server) = spawn_quinn_server(&rt, &certs, ring_provider(), &plan, 1);
    let mut driver = our_endpoint(4, None);
    let mut config = our_client_config(&plan, &certs, ring_provider());
    let mut transport = (*plan.our_transport()).clone();
    transport.keep_alive_interval = Some(Duration::from_millis(50));
    config.transport = Arc::new(transport);
    let handle = driver.connect(&config, addr, "localhost").unwrap();
    let connected = driver
        .run_for(Duration::from_secs(5), |_, _, ev, _| match ev {
            Event::HandshakeConfirmed => Control::Stop,
            Event::Closed(e) => panic!("closed during the handshake: {e}"),
            _ => Control::Continue,
        })
        .unwrap();
    assert!(connected, "no handshake");
    let before = driver.endpoint.connection(handle).unwrap().stats();
    driver.drop_incoming = blackhole;
    driver
        .run_for(Duration::from_secs(1), |_, _, ev, _| match ev {
            Event::Closed(e) => panic!("the idle connection closed: {e}"),
            _ => Control::Continue,
        })
        .unwrap();
    driver.drop_incoming = false;
    let after = driver
        .endpoint
        .connection(handle)
        .expect("still open")
        .stats();
    close_and_wait_until_drained(&mut driver, handle, Duration::ZERO);
    assert_quinn_saw_our_close(&join(&rt, server).pop().unwrap().close, DONE);
    after.datagrams_sent - before.datagrams_sent
}

/// Our keep-alive holds an idle connection open past quinn's 300 ms idle
/// timeout, with about one PING per interval.
#[test]
fn keep_alive_holds_an_idle_connection_open() {
    let sent = keep_alive_idle_second(Duration::from_millis(300), false);
    assert!(
        (5..=60).contains(&sent),
        "{sent} datagrams in one idle second with a 50 ms keep-alive"
    );
}

/// While nothing reaches us, the keep-alive still paces its PINGs (one per
/// interval, plus the probes of loss recovery).
#[test]
fn keep_alive_paces_pings_while_the_peer_is_silent() {
    let sent = keep_alive_idle_second(Duration::from_secs(3), true);
    assert!(
        sent <= 60,
        "{sent} datagrams in one silent second with a 50 ms keep-alive"
    );
}

/// Our client closes, then its thread stalls for longer than the closing
/// period (3 PTO) before the endpoint runs again: the CONNECTION_CLOSE must
/// still go out once, so quinn sees our code.
#[test]
fn close_after_a_stall_still_reaches_quinn() {
    close_after_a_stall(Duration::from_millis(500));
}

/// The same without the stall, to show the test itself is sound.
#[test]
fn close_without_a_stall_reaches_quinn() {
    close_after_a_stall(Duration::ZERO);
}

fn close_after_a_stall(stall: Duration) {
    let mut plan = Plan::new(vec![(KIB, KIB)]);
    plan.quinn_idle_timeout = Duration::from_secs(2);
    let certs = Certs::new();
    let rt = runtime();
    let (addr, server) = spawn_quinn_server(&rt, &certs, ring_provider(), &plan, 1);
    let mut driver = our_endpoint(6, None);
    let config = our_client_config(&plan, &certs, ring_provider());
    let handle = driver.connect(&config, addr, "localhost").unwrap();
    let mut app = OurApp::client(&plan, handle);
    // Run the exchange, but take over the close ourselves.
    app.plan.server_closes = true;
    driver
        .run(|ep, h, ev, _| {
            app.on_event(ep, h, ev);
            if app.report.streams == 1 {
                Control::Stop
            } else {
                Control::Continue
            }
        })
        .unwrap();
    close_and_wait_until_drained(&mut driver, handle, stall);
    assert_quinn_saw_our_close(&join(&rt, server).pop().unwrap().close, DONE);
}

/// Closes our connection with `DONE` and "done", stalls the thread for
/// `stall`, then runs the endpoint until the connection is drained.
fn close_and_wait_until_drained(driver: &mut UdpDriver, handle: ConnectionHandle, stall: Duration) {
    let conn = driver.endpoint.connection(handle).expect("still open");
    conn.close(
        quic_tests::udp_driver::now(),
        VarInt::from_u32(DONE),
        b"done",
    );
    std::thread::sleep(stall);
    driver
        .run(|_, _, ev, _| match ev {
            Event::Drained => Control::Stop,
            _ => Control::Continue,
        })
        .unwrap();
}

/// quinn's connection ended with our application close carrying `code`.
fn assert_quinn_saw_our_close(close: &quinn::ConnectionError, code: u32) {
    match close {
        quinn::ConnectionError::ApplicationClosed(c) => {
            assert_eq!(c.error_code, quinn::VarInt::from_u32(code));
        }
        other => panic!("quinn saw {other:?}, not our close with {code}"),
    }
}
