//! The interop harness: our endpoint on a UDP driver, quinn on tokio, a
//! request/response protocol checked with SHA-256, and the reports both
//! sides produce.

use super::*;
pub(super) const ALPN: &[u8] = b"interop";
pub(super) const KIB: usize = 1024;
pub(super) const MIB: usize = 1024 * 1024;
/// Small initial windows, on both stacks, so flow control is exercised.
pub(super) const STREAM_WINDOW: u32 = 64 * 1024;
pub(super) const CONN_WINDOW: u32 = 256 * 1024;
/// The application close code of most tests (the handshake tests use 0).
pub(super) const DONE: u32 = 42;
pub(super) const DATAGRAM_LEN: usize = 1000;
/// quinn pings when idle this long. A CONNECTION_CLOSE is sent once and
/// resent only in answer to packets from the peer (RFC 9000 §10.2.1), so a
/// close of ours lost on a busy loopback would otherwise leave quinn to idle
/// out instead of seeing the code; a PING within our closing period (3 PTO)
/// makes us send it again. (Ours stays off: see
/// `keep_alive_paces_pings_while_the_peer_is_silent`.)
pub(super) const KEEP_ALIVE: Duration = Duration::from_millis(50);

// ---- certificates and TLS ------------------------------------------------

pub(super) use quic_tests::testkit::{ring_provider, sha256, Certs};

/// A provider offering TLS_CHACHA20_POLY1305_SHA256 only.
pub(super) fn chacha_provider() -> Arc<CryptoProvider> {
    quic_tests::testkit::provider_with(
        rustls::crypto::ring::cipher_suite::TLS13_CHACHA20_POLY1305_SHA256,
    )
}

// ---- payloads ------------------------------------------------------------

/// SplitMix64: a seed per stream, so every byte is reproducible.
pub(super) fn splitmix(x: &mut u64) -> u64 {
    *x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *x;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

pub(super) fn fill(out: &mut Vec<u8>, seed: u64, len: usize) {
    let mut state = seed;
    out.reserve(len.saturating_sub(out.len()));
    while out.len() < len {
        let word = splitmix(&mut state).to_le_bytes();
        let n = (len - out.len()).min(8);
        out.extend_from_slice(&word[..n]);
    }
}

/// A request: `[index][response length][filler]`, `len` bytes (at least 16).
pub(super) fn request(index: u64, len: usize, response_len: usize) -> Vec<u8> {
    assert!(len >= 16);
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(&index.to_le_bytes());
    out.extend_from_slice(&(response_len as u64).to_le_bytes());
    fill(&mut out, index.wrapping_mul(2).wrapping_add(1), len);
    out
}

/// A response: `[digest of the request received][filler]`, at least 32 bytes.
pub(super) fn response(request_digest: &[u8; 32], index: u64, len: usize) -> Vec<u8> {
    let len = len.max(32);
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(request_digest);
    fill(&mut out, index.wrapping_mul(2).wrapping_add(2), len);
    out
}

/// A stream being received: its digest so far, length and first bytes.
pub(super) struct Incoming {
    pub(super) hash: digest::Context,
    pub(super) len: usize,
    pub(super) head: Vec<u8>,
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
    pub(super) fn update(&mut self, data: &[u8]) {
        self.hash.update(data);
        self.len += data.len();
        let want = 32usize.saturating_sub(self.head.len()).min(data.len());
        self.head.extend_from_slice(&data[..want]);
    }

    pub(super) fn digest(self) -> (usize, Vec<u8>, [u8; 32]) {
        let d = self.hash.finish().as_ref().try_into().unwrap();
        (self.len, self.head, d)
    }
}

/// The server's check of a complete request; returns the response to send.
pub(super) fn serve_request(incoming: Incoming) -> Vec<u8> {
    let (len, head, got) = incoming.digest();
    assert!(len >= 16, "request of {len} bytes is too short");
    let index = u64::from_le_bytes(head[..8].try_into().unwrap());
    let response_len = u64::from_le_bytes(head[8..16].try_into().unwrap()) as usize;
    let want = sha256(&request(index, len, response_len));
    assert_eq!(got, want, "request {index} ({len} bytes) arrived corrupted");
    response(&got, index, response_len)
}

/// The client's check of a complete response to `sent`.
pub(super) fn check_response(sent: &Sent, incoming: Incoming) {
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
pub(super) struct Sent {
    pub(super) index: u64,
    pub(super) digest: [u8; 32],
    pub(super) response_len: usize,
}

/// Datagram `i`: `[i: u32][filler]`.
pub(super) fn datagram(i: u32) -> Vec<u8> {
    let mut out = i.to_le_bytes().to_vec();
    fill(&mut out, 0xd47a_0000 + u64::from(i), DATAGRAM_LEN);
    out
}

pub(super) fn check_datagram(data: &[u8]) -> u32 {
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
pub(super) struct Plan {
    /// (request length, response length) per stream, all concurrent.
    pub(super) streams: Vec<(usize, usize)>,
    /// Datagrams the client sends and the server echoes.
    pub(super) datagrams: u32,
    pub(super) close_code: u32,
    pub(super) server_closes: bool,
    /// Bytes moved on our side's streams after which we initiate a key update.
    pub(super) our_key_update_at: Option<u64>,
    /// Bytes moved on quinn's streams after which it forces a key update.
    pub(super) quinn_key_update_at: Option<u64>,
    /// How many bidirectional streams the server allows at once.
    pub(super) max_streams: u32,
    /// quinn's keep-alive interval and idle timeout.
    pub(super) quinn_keep_alive: Option<Duration>,
    pub(super) quinn_idle_timeout: Duration,
    /// How long a quinn client waits after the handshake before its requests.
    pub(super) quinn_start_delay: Duration,
}

impl Plan {
    pub(super) fn new(streams: Vec<(usize, usize)>) -> Self {
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

    pub(super) fn our_transport(&self) -> Arc<TransportConfig> {
        let mut t = TransportConfig::default();
        t.stream_receive_window = u64::from(STREAM_WINDOW);
        t.receive_window = u64::from(CONN_WINDOW);
        t.max_concurrent_bidi_streams = u64::from(self.max_streams);
        t.max_idle_timeout = Some(Duration::from_secs(10));
        Arc::new(t)
    }

    pub(super) fn quinn_transport(&self) -> Arc<quinn::TransportConfig> {
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
pub(super) struct OurReport {
    /// The connection's `Closed` event.
    pub(super) close: Option<ConnectionError>,
    pub(super) stats: Stats,
    pub(super) cipher: Option<CipherSuite>,
    pub(super) alpn: Option<Vec<u8>>,
    /// Client: responses verified; server: requests verified and answered.
    pub(super) streams: usize,
    /// Client: echoes verified; server: datagrams echoed.
    pub(super) datagrams: usize,
    /// Client: how often the peer's stream limit refused `open_stream`.
    pub(super) open_refused: usize,
    /// Server: the most peer streams accepted and not yet done at once.
    pub(super) max_live_streams: usize,
}

/// What quinn saw.
#[derive(Debug)]
pub(super) struct QuinnReport {
    pub(super) close: quinn::ConnectionError,
    pub(super) alpn: Option<Vec<u8>>,
    pub(super) streams: usize,
    pub(super) datagrams: usize,
}

// ---- our side --------------------------------------------------------------

/// Bytes moved on our streams, and the one key update we initiate.
pub(super) struct OurKeyUpdate {
    pub(super) at: Option<u64>,
    pub(super) moved: u64,
    pub(super) started: bool,
}

impl OurKeyUpdate {
    pub(super) fn add(&mut self, conn: &mut Connection, n: usize) {
        self.moved += n as u64;
        if self.at.is_some_and(|at| self.moved >= at) && !self.started {
            self.started = true;
            conn.initiate_key_update();
        }
    }
}

/// Our application on one connection, driven by its events.
pub(super) struct OurApp {
    pub(super) plan: Plan,
    pub(super) is_client: bool,
    pub(super) handle: Option<ConnectionHandle>,
    /// Client: requests not yet opened, and those in flight.
    pub(super) to_open: Vec<usize>,
    pub(super) sent: HashMap<StreamId, Sent>,
    /// Data still to write, and how much of it is written.
    pub(super) sends: HashMap<StreamId, (Vec<u8>, usize)>,
    pub(super) recvs: HashMap<StreamId, Incoming>,
    /// Server: responses whose every byte the client acknowledged.
    pub(super) acked: usize,
    /// Server: peer streams accepted.
    pub(super) accepted: usize,
    pub(super) echoes: BTreeMap<u32, ()>,
    pub(super) key_update: OurKeyUpdate,
    pub(super) closing: bool,
    /// Stop at `Closed` instead of waiting for `Drained`.
    pub(super) stop_on_close: bool,
    pub(super) report: OurReport,
}

impl OurApp {
    pub(super) fn new(plan: &Plan, is_client: bool) -> Self {
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

    pub(super) fn client(plan: &Plan, handle: ConnectionHandle) -> Self {
        let mut app = Self::new(plan, true);
        app.handle = Some(handle);
        app
    }

    pub(super) fn server(plan: &Plan) -> Self {
        Self::new(plan, false)
    }

    pub(super) fn on_event(
        &mut self,
        ep: &mut Endpoint,
        handle: ConnectionHandle,
        event: Event,
    ) -> Control {
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

    pub(super) fn on_stream_event(&mut self, conn: &mut Connection, ev: StreamEvent) {
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
    pub(super) fn open_streams(&mut self, conn: &mut Connection) {
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
    pub(super) fn pump(&mut self, conn: &mut Connection, id: StreamId) {
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

    pub(super) fn read(&mut self, conn: &mut Connection, id: StreamId) {
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
    pub(super) fn maybe_close(&mut self, conn: &mut Connection) {
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

pub(super) fn our_endpoint(seed: u64, server: Option<ServerConfig>) -> UdpDriver {
    UdpDriver::bind(Endpoint::new(EndpointConfig::new(seed), server)).unwrap()
}

pub(super) fn our_client_config(
    plan: &Plan,
    certs: &Certs,
    provider: Arc<CryptoProvider>,
) -> ClientConfig {
    let mut config = ClientConfig::new(Arc::new(certs.client_tls(provider, ALPN))).unwrap();
    config.transport = plan.our_transport();
    config
}

pub(super) fn our_server_config(
    plan: &Plan,
    certs: &Certs,
    provider: Arc<CryptoProvider>,
) -> ServerConfig {
    let mut config = ServerConfig::new(Arc::new(certs.server_tls(provider, ALPN))).unwrap();
    config.transport = plan.our_transport();
    config
}

/// Runs one client connection of ours to `server` until it is over.
pub(super) fn run_our_client(
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
pub(super) fn run_our_server(driver: &mut UdpDriver, plan: &Plan) -> OurReport {
    let mut app = OurApp::server(plan);
    driver
        .run(|ep, h, ev, _| app.on_event(ep, h, ev))
        .unwrap_or_else(|e| panic!("our server: {e}; so far {:?}", app.report));
    app.report
}

// ---- quinn's side ----------------------------------------------------------

pub(super) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

/// Bytes moved on quinn's streams, and the one forced key update.
pub(super) struct KeyUpdateTrigger {
    pub(super) at: Option<u64>,
    pub(super) moved: AtomicU64,
    pub(super) done: AtomicBool,
}

impl KeyUpdateTrigger {
    pub(super) fn new(at: Option<u64>) -> Arc<Self> {
        Arc::new(Self {
            at,
            moved: AtomicU64::new(0),
            done: AtomicBool::new(false),
        })
    }

    pub(super) fn add(&self, conn: &quinn::Connection, n: usize) {
        let moved = self.moved.fetch_add(n as u64, Ordering::Relaxed) + n as u64;
        if let Some(at) = self.at {
            if moved >= at && !self.done.swap(true, Ordering::Relaxed) {
                conn.force_key_update();
            }
        }
    }
}

pub(super) fn quinn_alpn(conn: &quinn::Connection) -> Option<Vec<u8>> {
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
pub(super) fn spawn_quinn_server(
    rt: &tokio::runtime::Runtime,
    certs: &Certs,
    provider: Arc<CryptoProvider>,
    plan: &Plan,
    connections: usize,
) -> (SocketAddr, tokio::task::JoinHandle<Vec<QuinnReport>>) {
    let crypto =
        quinn::crypto::rustls::QuicServerConfig::try_from(certs.server_tls(provider, ALPN))
            .unwrap();
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
pub(super) fn spawn_quinn_client(
    rt: &tokio::runtime::Runtime,
    certs: &Certs,
    provider: Arc<CryptoProvider>,
    plan: &Plan,
    server: SocketAddr,
) -> tokio::task::JoinHandle<QuinnReport> {
    let crypto =
        quinn::crypto::rustls::QuicClientConfig::try_from(certs.client_tls(provider, ALPN))
            .unwrap();
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

pub(super) fn join<T>(rt: &tokio::runtime::Runtime, task: tokio::task::JoinHandle<T>) -> T {
    rt.block_on(async { tokio::time::timeout(DEFAULT_DEADLINE, task).await })
        .expect("quinn's side did not finish in time")
        .expect("quinn's side panicked")
}
