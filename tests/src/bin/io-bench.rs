//! A loopback bulk transfer through quic-io-std and through quinn, in the
//! same run, with the same settings.
//!
//! ```text
//! cargo run --release -p quic-tests --bin io-bench [-- --bytes N] [--runs R]
//! ```
//!
//! Each run moves `N` bytes (default 200 MB; suffixes k, M, G) on one
//! stream from a server to a client over 127.0.0.1, first with our stack
//! (quic-io-std's socket loop: the server on its network thread, the client
//! in the main thread, the perf apps), then with quinn 0.11 on tokio (a
//! current-thread runtime for each side, in two threads likewise), and
//! prints MB/s for each and the ratio ours/quinn; with several runs, the
//! medians too.
//!
//! Both sides use the same protocol (perf: an 8-byte request for N bytes,
//! the bytes, FIN), TLS 1.3 with TLS_AES_128_GCM_SHA256 only, 1452-byte
//! datagrams from the start (no path MTU discovery on quinn's side, which
//! ours lacks), NewReno congestion control, fixed windows of 16 MiB per
//! stream and 64 MiB per connection, GSO batches of up to 10 datagrams, and
//! send the payload from a static buffer without copying. Received bytes
//! are counted, not checked. Throughput is measured on the client from the
//! end of the handshake to the last byte.
//!
//! A measurement, not a test: nothing here asserts on speed.

use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use quic_io_std::apps::perf::{PerfClient, PerfConfig, PerfServer};
use quic_io_std::apps::App;
use quic_io_std::{Callbacks, Context, Flow, Inbox, LoopControl, Params, SocketLoop};
use quic_proto::config::{ClientConfig, EndpointConfig, ServerConfig, TransportConfig};
use quic_proto::connection::Event;
use quic_proto::endpoint::{ConnectionHandle, Endpoint};
use quic_tests::testkit::{provider_with, Certs};
use rustls::crypto::CryptoProvider;

const ALPN: &[u8] = b"perf";
const STREAM_WINDOW: u64 = 16 << 20;
const CONN_WINDOW: u64 = 64 << 20;
const MTU: u16 = 1452;
/// The most datagrams in one GSO send, on both stacks (quinn's own cap).
const GSO_BATCH: usize = 10;
/// A transfer that takes longer than this has failed.
const DEADLINE: Duration = Duration::from_secs(300);

struct Args {
    bytes: u64,
    runs: usize,
}

fn parse_size(s: &str) -> Result<u64, String> {
    let lower = s.trim().to_ascii_lowercase();
    let lower = lower.strip_suffix('b').unwrap_or(&lower);
    let (number, multiplier) = match lower.char_indices().last() {
        Some((i, 'k')) => (&lower[..i], 1_000),
        Some((i, 'm')) => (&lower[..i], 1_000_000),
        Some((i, 'g')) => (&lower[..i], 1_000_000_000),
        _ => (lower, 1),
    };
    number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(multiplier))
        .ok_or_else(|| format!("{s:?}: not a byte count (such as 200M or 1G)"))
}

fn parse() -> Result<Args, String> {
    let mut out = Args {
        bytes: 200_000_000,
        runs: 1,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match a.as_str() {
            "--bytes" => out.bytes = parse_size(&value("--bytes")?)?,
            "--runs" => {
                out.runs = value("--runs")?
                    .parse()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or("--runs: a positive number")?
            }
            "-h" | "--help" => {
                return Err(
                    "usage: io-bench [--bytes N (default 200M)] [--runs R (default 1)]".into(),
                )
            }
            other => return Err(format!("unknown argument {other:?} (try --help)")),
        }
    }
    Ok(out)
}

fn main() -> ExitCode {
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let tls = Tls::new();
    println!(
        "loopback bulk transfer, {} bytes on one stream, server -> client; TLS_AES_128_GCM_SHA256, \
         {MTU}-byte datagrams, NewReno, windows {} MiB/stream {} MiB/connection, GSO batches of {GSO_BATCH}",
        args.bytes,
        STREAM_WINDOW >> 20,
        CONN_WINDOW >> 20
    );
    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    for run in 1..=args.runs {
        let a = match run_ours(&tls, args.bytes) {
            Ok(m) => m,
            Err(e) => {
                eprintln!("quic-io-std: {e}");
                return ExitCode::FAILURE;
            }
        };
        let b = match run_quinn(&tls, args.bytes) {
            Ok(m) => m,
            Err(e) => {
                eprintln!("quinn: {e}");
                return ExitCode::FAILURE;
            }
        };
        println!(
            "run {run}: quic-io-std {:8.1} MB/s ({:.3} s, {} packets lost) | quinn {:8.1} MB/s ({:.3} s, {} lost) | ours/quinn {:.2}",
            a.mbps(),
            a.secs,
            a.lost,
            b.mbps(),
            b.secs,
            b.lost,
            a.mbps() / b.mbps()
        );
        ours.push(a.mbps());
        theirs.push(b.mbps());
    }
    if args.runs > 1 {
        let (a, b) = (median(&mut ours), median(&mut theirs));
        println!(
            "median of {} runs: quic-io-std {a:.1} MB/s, quinn {b:.1} MB/s, ours/quinn {:.2}",
            args.runs,
            a / b
        );
    }
    ExitCode::SUCCESS
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// One transfer's figures.
struct Measure {
    bytes: u64,
    secs: f64,
    /// Packets the sender declared lost.
    lost: u64,
}

impl Measure {
    fn mbps(&self) -> f64 {
        self.bytes as f64 / 1e6 / self.secs.max(1e-9)
    }
}

#[allow(clippy::disallowed_methods, reason = "a benchmark reads the clock")]
fn now() -> Instant {
    Instant::now()
}

// ---- TLS --------------------------------------------------------------------

/// A certificate for "localhost" and rustls configurations offering
/// TLS_AES_128_GCM_SHA256 only, shared by both stacks.
struct Tls(Certs);

impl Tls {
    fn new() -> Self {
        Self(Certs::new())
    }

    fn provider() -> Arc<CryptoProvider> {
        provider_with(rustls::crypto::ring::cipher_suite::TLS13_AES_128_GCM_SHA256)
    }

    fn server(&self) -> rustls::ServerConfig {
        self.0.server_tls(Self::provider(), ALPN)
    }

    fn client(&self) -> rustls::ClientConfig {
        self.0.client_tls(Self::provider(), ALPN)
    }
}

// ---- ours -------------------------------------------------------------------

fn our_transport() -> Arc<TransportConfig> {
    let mut t = TransportConfig::default();
    t.stream_receive_window = STREAM_WINDOW;
    t.max_stream_receive_window = STREAM_WINDOW;
    t.receive_window = CONN_WINDOW;
    t.max_receive_window = CONN_WINDOW;
    t.initial_mtu = MTU;
    // Fixed datagrams, as quinn's side (no MTU discovery there either).
    t.mtu_discovery = None;
    Arc::new(t)
}

fn our_endpoint(seed: u64, params: &Params, server: Option<ServerConfig>) -> Endpoint {
    let mut config = EndpointConfig::new(seed);
    config.max_gso_segments = params.max_send_batch;
    Endpoint::new(config, server)
}

/// The server's loop: perf until told to stop; returns the packets lost.
struct Server {
    app: PerfServer,
    inbox: Inbox<()>,
    handle: Option<ConnectionHandle>,
    lost: u64,
}

impl Callbacks for Server {
    type Output = u64;
    type Error = String;

    fn event(&mut self, cx: &mut Context<'_>, h: ConnectionHandle, e: Event) -> Flow<u64, String> {
        if e == Event::Connected {
            self.handle = Some(h);
        }
        if matches!(e, Event::Closed(_)) {
            if let Some(conn) = cx.endpoint.connection(h) {
                self.lost = conn.stats().packets_lost;
            }
            self.handle = None;
        }
        self.app.handle_event(cx.endpoint, cx.now, h, e);
        Ok(LoopControl::Continue)
    }

    fn after_send(&mut self, cx: &mut Context<'_>, _: usize) -> Flow<u64, String> {
        self.app.poll(cx.endpoint, cx.now);
        Ok(LoopControl::Continue)
    }

    fn wake(&mut self, cx: &mut Context<'_>) -> Flow<u64, String> {
        if self.inbox.drain().next().is_some() {
            let live = self
                .handle
                .and_then(|h| cx.endpoint.connection(h))
                .map(|c| c.stats().packets_lost);
            return Ok(LoopControl::Exit(live.unwrap_or(self.lost)));
        }
        Ok(LoopControl::Continue)
    }
}

/// The client's loop: perf until done, within the deadline.
struct Client {
    app: PerfClient,
    deadline: Instant,
}

impl Callbacks for Client {
    type Output = ();
    type Error = String;

    fn event(&mut self, cx: &mut Context<'_>, h: ConnectionHandle, e: Event) -> Flow<(), String> {
        self.app.handle_event(cx.endpoint, cx.now, h, e);
        Ok(LoopControl::Continue)
    }

    fn after_send(&mut self, cx: &mut Context<'_>, _: usize) -> Flow<(), String> {
        self.app.poll(cx.endpoint, cx.now);
        if self.app.is_done() {
            return Ok(LoopControl::Exit(()));
        }
        if cx.now > self.deadline {
            return Err(format!("no end after {DEADLINE:?}"));
        }
        Ok(LoopControl::Continue)
    }

    fn time_check(&mut self, _: &mut Context<'_>, wake: &mut Option<Instant>) -> Flow<(), String> {
        *wake = Some(wake.map_or(self.deadline, |w| w.min(self.deadline)));
        Ok(LoopControl::Continue)
    }
}

fn run_ours(tls: &Tls, bytes: u64) -> Result<Measure, String> {
    let mut params = Params::bound_to(Ipv4Addr::LOCALHOST.into(), 0);
    params.max_send_batch = GSO_BATCH;
    let mut server_config = ServerConfig::new(Arc::new(tls.server())).map_err(|e| e.to_string())?;
    server_config.transport = our_transport();
    let mut client_config = ClientConfig::new(Arc::new(tls.client())).map_err(|e| e.to_string())?;
    client_config.transport = our_transport();

    let server_loop = SocketLoop::bind(&params).map_err(|e| e.to_string())?;
    let server_addr = server_loop.local_addrs()[0];
    let (stop, inbox) = quic_io_std::commands(server_loop.waker());
    let server = Server {
        app: PerfServer::new(),
        inbox,
        handle: None,
        lost: 0,
    };
    let thread = server_loop
        .spawn(our_endpoint(1, &params, Some(server_config)), server)
        .map_err(|e| e.to_string())?;

    let mut client_loop = SocketLoop::bind(&params).map_err(|e| e.to_string())?;
    let mut endpoint = our_endpoint(2, &params, None);
    let mut client = Client {
        app: PerfClient::new(PerfConfig::new(1, bytes).with_verify(false)),
        deadline: now() + DEADLINE,
    };
    client
        .app
        .connect(
            &mut endpoint,
            now(),
            &client_config,
            server_addr,
            "localhost",
        )
        .map_err(|e| e.to_string())?;
    let ran = client_loop.run(&mut endpoint, &mut client);
    let _ = stop.send(());
    let lost = thread.join().map_err(|e| format!("server: {e}"))?;
    ran.map_err(|e| e.to_string())?;
    let report = client.app.report();
    if !report.complete {
        return Err(format!("incomplete: {report}"));
    }
    Ok(Measure {
        bytes: report.downloaded,
        secs: report.elapsed.as_secs_f64(),
        lost,
    })
}

// ---- quinn ------------------------------------------------------------------

fn quinn_transport() -> Arc<quinn::TransportConfig> {
    let mut t = quinn::TransportConfig::default();
    t.stream_receive_window(quinn::VarInt::from_u64(STREAM_WINDOW).unwrap())
        .receive_window(quinn::VarInt::from_u64(CONN_WINDOW).unwrap())
        .send_window(CONN_WINDOW)
        .initial_mtu(MTU)
        .mtu_discovery_config(None)
        .congestion_controller_factory(Arc::new(quinn::congestion::NewRenoConfig::default()));
    Arc::new(t)
}

fn current_thread_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// The payload block quinn's server sends from, without copying.
static BLOCK: [u8; 64 * 1024] = [0x5a; 64 * 1024];

/// quinn's server: one connection, one perf request; returns packets lost.
async fn quinn_server(endpoint: quinn::Endpoint) -> Result<u64, String> {
    let incoming = endpoint.accept().await.ok_or("endpoint closed")?;
    let conn = incoming.await.map_err(|e| e.to_string())?;
    let (mut send, mut recv) = conn.accept_bi().await.map_err(|e| e.to_string())?;
    let mut header = [0u8; 8];
    recv.read_exact(&mut header)
        .await
        .map_err(|e| e.to_string())?;
    let mut left = u64::from_be_bytes(header);
    while left > 0 {
        let n = left.min(BLOCK.len() as u64) as usize;
        send.write_chunk(bytes::Bytes::from_static(&BLOCK[..n]))
            .await
            .map_err(|e| e.to_string())?;
        left -= n as u64;
    }
    send.finish().map_err(|e| e.to_string())?;
    let _ = conn.closed().await;
    let lost = conn.stats().path.lost_packets;
    endpoint.wait_idle().await;
    Ok(lost)
}

#[allow(
    clippy::disallowed_methods,
    reason = "quinn's server runs in its own thread"
)]
fn spawn_thread<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> std::thread::JoinHandle<T> {
    std::thread::spawn(f)
}

fn run_quinn(tls: &Tls, bytes: u64) -> Result<Measure, String> {
    let crypto = quinn::crypto::rustls::QuicServerConfig::try_from(tls.server())
        .map_err(|e| e.to_string())?;
    let mut server_config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    server_config.transport_config(quinn_transport());
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let server = spawn_thread(move || {
        current_thread_runtime().block_on(async move {
            let endpoint =
                quinn::Endpoint::server(server_config, SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
                    .map_err(|e| e.to_string())?;
            let _ = addr_tx.send(endpoint.local_addr().map_err(|e| e.to_string())?);
            quinn_server(endpoint).await
        })
    });
    let server_addr = addr_rx
        .recv_timeout(Duration::from_secs(10))
        .map_err(|_| "the server did not start")?;

    let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls.client())
        .map_err(|e| e.to_string())?;
    let mut client_config = quinn::ClientConfig::new(Arc::new(crypto));
    client_config.transport_config(quinn_transport());
    let client = current_thread_runtime().block_on(async move {
        let endpoint = quinn::Endpoint::client(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
            .map_err(|e| e.to_string())?;
        let transfer = async {
            let conn = endpoint
                .connect_with(client_config, server_addr, "localhost")
                .map_err(|e| e.to_string())?
                .await
                .map_err(|e| e.to_string())?;
            let start = now();
            let (mut send, mut recv) = conn.open_bi().await.map_err(|e| e.to_string())?;
            send.write_all(&bytes.to_be_bytes())
                .await
                .map_err(|e| e.to_string())?;
            send.finish().map_err(|e| e.to_string())?;
            let mut received = 0u64;
            while let Some(chunk) = recv
                .read_chunk(64 * 1024, true)
                .await
                .map_err(|e| e.to_string())?
            {
                received += chunk.bytes.len() as u64;
            }
            let secs = now().saturating_duration_since(start).as_secs_f64();
            conn.close(0u32.into(), b"done");
            Ok::<_, String>((received, secs))
        };
        let result = tokio::time::timeout(DEADLINE, transfer)
            .await
            .map_err(|_| format!("no end after {DEADLINE:?}"))?;
        endpoint.wait_idle().await;
        result
    });
    let lost = server
        .join()
        .map_err(|_| "the server thread panicked".to_owned())??;
    let (received, secs) = client?;
    if received != bytes {
        return Err(format!("{received} of {bytes} bytes"));
    }
    Ok(Measure {
        bytes: received,
        secs,
        lost,
    })
}
