//! What the subcommands share: argument groups, endpoints, the loop's
//! callbacks around an app, and error messages for people.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use quic_io_std::apps::tls::{self, Verification};
use quic_io_std::apps::App;
use quic_io_std::{Callbacks, Context, Flow, LoopControl, Params, SocketLoop};
use quic_proto::config::{EndpointConfig, ServerConfig, TransportConfig};
use quic_proto::connection::{ConnectionError, Event};
use quic_proto::endpoint::{ConnectionHandle, Endpoint};

use crate::progress::{Bar, ProgressArgs};

/// A failure, as the one line printed after `error: `.
pub type Result<T> = std::result::Result<T, String>;

/// The default UDP port of `quic server` and `quic perf server`.
pub const DEFAULT_PORT: u16 = 4433;

// ---- arguments ------------------------------------------------------------

/// Parses a byte count: a number with an optional decimal (k, M, G, T) or
/// binary (Ki, Mi, Gi, Ti) suffix and an optional `B`: `100M`, `1.5G`,
/// `64KiB`, `1000`.
pub fn parse_size(s: &str) -> Result<u64> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, suffix) = t.split_at(split);
    let suffix = suffix.trim();
    let suffix = suffix
        .strip_suffix(['B', 'b'])
        .filter(|rest| !rest.is_empty() || suffix.len() == 1)
        .unwrap_or(suffix);
    let multiplier: u64 = match suffix.to_ascii_lowercase().as_str() {
        "" => 1,
        "k" => 1_000,
        "m" => 1_000_000,
        "g" => 1_000_000_000,
        "t" => 1_000_000_000_000,
        "ki" => 1 << 10,
        "mi" => 1 << 20,
        "gi" => 1 << 30,
        "ti" => 1 << 40,
        _ => {
            return Err(format!(
                "{s:?}: unknown size suffix (use k, M, G, T, Ki, Mi, Gi)"
            ))
        }
    };
    if let Ok(n) = number.parse::<u64>() {
        return n
            .checked_mul(multiplier)
            .ok_or_else(|| format!("{s:?}: too large"));
    }
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{s:?}: not a byte count (such as 100M or 1G)"))?;
    let bytes = (value * multiplier as f64).round();
    if !bytes.is_finite() || bytes >= 2f64.powi(63) {
        return Err(format!("{s:?}: too large"));
    }
    Ok(bytes as u64)
}

/// Parses a duration in seconds (`10`, `0.5`).
pub fn parse_seconds(s: &str) -> Result<Duration> {
    let secs: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("{s:?}: not a number of seconds"))?;
    if !(secs.is_finite() && secs > 0.0 && secs < 1e9) {
        return Err(format!("{s:?}: must be a positive number of seconds"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Where a server listens.
#[derive(Clone, Debug, Args)]
pub struct ListenArgs {
    /// UDP port to listen on (0: any free port; the address is printed).
    #[arg(long, short, default_value_t = DEFAULT_PORT)]
    pub port: u16,
    /// Listen on this address only (default: every IPv4 and IPv6 address).
    #[arg(long, value_name = "IP")]
    pub listen: Option<IpAddr>,
}

impl ListenArgs {
    /// The socket parameters.
    pub fn params(&self) -> Params {
        match self.listen {
            Some(ip) => Params::bound_to(ip, self.port),
            None => Params::new(self.port),
        }
    }
}

/// How a client checks the server's certificate.
#[derive(Clone, Debug, Args)]
pub struct TrustArgs {
    /// Accept any server certificate (for testing: the connection is
    /// encrypted but the server is not authenticated).
    #[arg(long, conflicts_with = "ca")]
    pub insecure: bool,
    /// Trust the certificates in this PEM file (such as the one `quic
    /// server --cert-out` saved).
    #[arg(long, value_name = "FILE")]
    pub ca: Option<PathBuf>,
}

impl TrustArgs {
    /// The verification these options ask for. No roots are bundled, so
    /// one of the two options is needed.
    pub fn verification(&self) -> Result<Verification> {
        if self.insecure {
            return Ok(Verification::Insecure);
        }
        match &self.ca {
            Some(path) => Ok(Verification::Roots(
                tls::load_certs(path).map_err(|e| e.to_string())?,
            )),
            None => Err(
                "no trusted certificates: give the server's certificate (or its CA) \
                 with --ca FILE, or --insecure to skip the check"
                    .to_owned(),
            ),
        }
    }
}

/// A client configuration for `alpn`, giving up on a silent server after
/// `idle_timeout` (which bounds the handshake too).
pub fn client_config(
    verification: &Verification,
    alpn: &[u8],
    key_log: bool,
    idle_timeout: Duration,
    transport: TransportConfig,
) -> Result<quic_proto::config::ClientConfig> {
    let mut config =
        tls::client_config(verification, &[alpn], key_log).map_err(|e| e.to_string())?;
    let mut transport = transport;
    transport.max_idle_timeout = Some(idle_timeout);
    config.transport = Arc::new(transport);
    Ok(config)
}

/// Warns when `--keylog` was given but `SSLKEYLOGFILE` names no file.
pub fn check_keylog(keylog: bool) {
    if keylog && std::env::var_os("SSLKEYLOGFILE").is_none_or(|v| v.is_empty()) {
        eprintln!("warning: --keylog: SSLKEYLOGFILE is not set, no keys will be logged");
    }
}

/// Splits `HOST:PORT`, `[IPv6]:PORT`, `HOST` or a bare IPv6 address;
/// `default_port` when none is given.
pub fn parse_host_port(s: &str, default_port: u16) -> Result<(String, u16)> {
    let bad_port = || format!("{s:?}: invalid port");
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or_else(|| format!("{s:?}: missing ']'"))?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().ok().filter(|&p| p != 0).ok_or_else(bad_port)?,
            None if after.is_empty() => default_port,
            None => return Err(format!("{s:?}: expected HOST:PORT")),
        };
        return Ok((host.to_owned(), port));
    }
    if s.parse::<std::net::Ipv6Addr>().is_ok() {
        return Ok((s.to_owned(), default_port));
    }
    let (host, port) = match s.rsplit_once(':') {
        Some((h, p)) => (h, p.parse().ok().filter(|&p| p != 0).ok_or_else(bad_port)?),
        None => (s, default_port),
    };
    if host.is_empty() || host.contains(':') {
        return Err(format!("{s:?}: expected HOST:PORT"));
    }
    Ok((host.to_owned(), port))
}

/// Resolves `host` to its first address, with an error for people.
pub fn resolve(host: &str, port: u16) -> Result<SocketAddr> {
    use std::net::ToSocketAddrs;
    match (host, port).to_socket_addrs() {
        Ok(mut addrs) => addrs
            .next()
            .ok_or_else(|| format!("cannot resolve {host}: no address")),
        Err(e) => Err(format!("cannot resolve {host}: {e}")),
    }
}

// ---- endpoints and sockets ------------------------------------------------

/// `N` bytes from the operating system's random generator (through ring,
/// via rustls), for the endpoint's seed and reset key.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    let provider = rustls::crypto::ring::default_provider();
    if provider.secure_random.fill(&mut out).is_err() {
        // No system generator through ring: std's per-process random
        // hash keys still differ between runs.
        use std::hash::{BuildHasher, Hasher};
        for (i, chunk) in out.chunks_mut(8).enumerate() {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_usize(i);
            let word = h.finish().to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
    }
    out
}

/// An endpoint with a random seed and reset key, batching sends as the
/// socket layer of `params` does.
pub fn endpoint(params: &Params, server: Option<ServerConfig>) -> Endpoint {
    let mut config = EndpointConfig::new(u64::from_le_bytes(random_bytes()));
    config.reset_key = random_bytes();
    config.max_gso_segments = params.max_send_batch;
    Endpoint::new(config, server)
}

/// Transport settings for bulk transfers: windows that let a loopback
/// or LAN path run at full speed from the start.
pub fn bulk_transport() -> TransportConfig {
    let mut t = TransportConfig::default();
    t.stream_receive_window = 4 << 20;
    t.max_stream_receive_window = 16 << 20;
    t.receive_window = 16 << 20;
    t.max_receive_window = 64 << 20;
    t
}

/// Opens the sockets of `params`, naming what for in the error (`a
/// server`, `the client`).
pub fn bind(params: &Params, what: &str) -> Result<SocketLoop> {
    SocketLoop::bind(params).map_err(|e| {
        let at = match params.local_ip {
            Some(ip) => SocketAddr::new(ip, params.port).to_string(),
            None => format!("port {}", params.port),
        };
        match e.kind() {
            io::ErrorKind::AddrInUse => {
                format!("cannot listen on {at}: the port is already in use")
            }
            io::ErrorKind::AddrNotAvailable => {
                format!("cannot listen on {at}: no such local address")
            }
            io::ErrorKind::PermissionDenied => {
                format!("cannot listen on {at}: permission denied")
            }
            _ => format!("cannot open UDP sockets for {what} on {at}: {e}"),
        }
    })
}

/// The addresses a loop listens on, for people: `127.0.0.1:4433, [::]:4433`.
pub fn addr_list(addrs: &[SocketAddr]) -> String {
    let list: Vec<String> = addrs.iter().map(ToString::to_string).collect();
    list.join(", ")
}

// ---- the loop around an app -----------------------------------------------

/// What the driver knows of a connection.
#[derive(Clone, Debug)]
pub struct ConnInfo {
    /// The peer's address.
    pub remote: Option<SocketAddr>,
    /// The handshake completed.
    pub connected: bool,
    /// Why it closed.
    pub error: Option<ConnectionError>,
}

/// The socket loop's callbacks around an [`App`]: events go to the app,
/// the app polls after each turn, the loop exits once it is done; a
/// progress bar follows it; connections are watched (and logged).
pub struct Driver<A> {
    /// The app.
    pub app: A,
    /// The connections seen, by handle.
    pub conns: HashMap<ConnectionHandle, ConnInfo>,
    bar: Option<Bar>,
    /// Print a line when a connection opens and closes (servers).
    log: bool,
    /// Forget connections once drained (servers: bounded memory).
    forget_drained: bool,
    /// Connections not connected by then are given up (clients).
    handshake_deadline: Option<Instant>,
}

impl<A: App> Driver<A> {
    /// A client's driver: connections remembered, nothing logged.
    pub fn client(app: A, progress: &ProgressArgs, total: Option<u64>) -> Self {
        Self {
            app,
            conns: HashMap::new(),
            bar: Bar::new(progress, total),
            log: false,
            forget_drained: false,
            handshake_deadline: None,
        }
    }

    /// Watches `handle` from now on (its handshake deadline included).
    pub fn watch(&mut self, handle: ConnectionHandle, remote: SocketAddr) {
        self.conns.insert(
            handle,
            ConnInfo {
                remote: Some(remote),
                connected: false,
                error: None,
            },
        );
    }

    /// Closes the watched connections whose handshake has not completed
    /// by `deadline`; their error becomes [`ConnectionError::TimedOut`].
    pub fn handshake_deadline(mut self, deadline: Instant) -> Self {
        self.handshake_deadline = Some(deadline);
        self
    }

    /// A server's driver: runs until the process ends.
    pub fn server(app: A, log: bool) -> Self {
        Self {
            app,
            conns: HashMap::new(),
            bar: None,
            log,
            forget_drained: true,
            handshake_deadline: None,
        }
    }

    /// Clears the progress bar, if any.
    pub fn finish_progress(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish();
        }
    }

    fn observe(&mut self, endpoint: &mut Endpoint, handle: ConnectionHandle, event: &Event) {
        let info = self.conns.entry(handle).or_insert_with(|| ConnInfo {
            remote: None,
            connected: false,
            error: None,
        });
        let conn = endpoint.connection(handle);
        if info.remote.is_none() {
            info.remote = conn.as_ref().map(|c| c.remote_address());
        }
        let remote = info
            .remote
            .map_or_else(|| "-".to_owned(), |r| r.to_string());
        match event {
            Event::Connected => {
                info.connected = true;
                if self.log {
                    let alpn = conn
                        .and_then(|c| c.alpn().map(|a| String::from_utf8_lossy(a).into_owned()))
                        .unwrap_or_default();
                    say!("{remote} connected ({alpn})");
                }
            }
            Event::Closed(error) => {
                // A handshake timeout of ours stays the reason.
                info.error.get_or_insert_with(|| error.clone());
                if self.log {
                    let stats = conn.map(|c| c.stats()).unwrap_or_default();
                    say!(
                        "{remote} closed: {}; {} bytes sent, {} received, {} packets lost",
                        describe_close(error, info.connected, &remote, None),
                        stats.bytes_sent,
                        stats.bytes_received,
                        stats.packets_lost
                    );
                }
            }
            Event::Drained if self.forget_drained => {
                self.conns.remove(&handle);
            }
            _ => {}
        }
    }
}

impl<A: App> Callbacks for Driver<A> {
    type Output = ();
    type Error = String;

    fn event(
        &mut self,
        cx: &mut Context<'_>,
        handle: ConnectionHandle,
        event: Event,
    ) -> Flow<(), String> {
        self.observe(cx.endpoint, handle, &event);
        self.app.handle_event(cx.endpoint, cx.now, handle, event);
        Ok(LoopControl::Continue)
    }

    fn time_check(&mut self, cx: &mut Context<'_>, wake: &mut Option<Instant>) -> Flow<(), String> {
        let Some(deadline) = self.handshake_deadline else {
            return Ok(LoopControl::Continue);
        };
        let pending: Vec<ConnectionHandle> = self
            .conns
            .iter()
            .filter(|(_, info)| !info.connected && info.error.is_none())
            .map(|(&h, _)| h)
            .collect();
        if pending.is_empty() {
            self.handshake_deadline = None;
        } else if cx.now >= deadline {
            self.handshake_deadline = None;
            for handle in pending {
                if let Some(info) = self.conns.get_mut(&handle) {
                    info.error = Some(ConnectionError::TimedOut);
                }
                if let Some(conn) = cx.endpoint.connection(handle) {
                    conn.close(cx.now, quic_proto::VarInt::ZERO, b"handshake timeout");
                }
            }
        } else {
            *wake = Some(wake.map_or(deadline, |w| w.min(deadline)));
        }
        Ok(LoopControl::Continue)
    }

    fn after_send(&mut self, cx: &mut Context<'_>, _datagrams: usize) -> Flow<(), String> {
        self.app.poll(cx.endpoint, cx.now);
        if let Some(bar) = &mut self.bar {
            bar.update(cx.now, self.app.progress());
        }
        if self.app.is_done() {
            self.finish_progress();
            return Ok(LoopControl::Exit(()));
        }
        Ok(LoopControl::Continue)
    }
}

/// Runs `driver` on `socket_loop` until its app is done.
pub fn run_loop<A: App>(
    socket_loop: &mut SocketLoop,
    endpoint: &mut Endpoint,
    driver: &mut Driver<A>,
) -> Result<()> {
    let result = socket_loop.run(endpoint, driver);
    driver.finish_progress();
    result.map_err(|e| e.to_string())
}

// ---- errors for people ----------------------------------------------------

/// Why a connection to or from `remote` ended, for people. `timeout` is the
/// client's idle timeout, which also bounds the handshake.
pub fn describe_close(
    error: &ConnectionError,
    connected: bool,
    remote: &str,
    timeout: Option<Duration>,
) -> String {
    match error {
        ConnectionError::TimedOut if !connected => match timeout {
            Some(t) => format!(
                "no response from {remote} within {} s: no QUIC server there, or the host is unreachable",
                t.as_secs_f64()
            ),
            None => format!("handshake with {remote} timed out"),
        },
        ConnectionError::TimedOut => format!("{remote} went silent (idle timeout)"),
        ConnectionError::TransportError(e) => match e.code.tls_alert() {
            Some(alert) => format!(
                "handshake with {remote} failed: we sent TLS alert {}{}",
                alert_name(alert),
                alert_hint(alert)
            ),
            None => format!("connection with {remote} failed: {e}"),
        },
        ConnectionError::PeerTransportClose { code, reason } => {
            let reason = String::from_utf8_lossy(reason);
            let reason = if reason.is_empty() {
                String::new()
            } else {
                format!(": {reason}")
            };
            match code.tls_alert() {
                Some(alert) => format!(
                    "handshake with {remote} failed: the peer sent TLS alert {}{reason}{}",
                    alert_name(alert),
                    alert_hint(alert)
                ),
                None => format!("{remote} closed the connection with {code}{reason}"),
            }
        }
        ConnectionError::PeerApplicationClose { code, reason } => {
            let reason = String::from_utf8_lossy(reason);
            if code.into_inner() == 0 {
                format!("closed by {remote} ({reason})")
            } else {
                format!("{remote} closed the connection with application code {code} ({reason})")
            }
        }
        ConnectionError::LocallyClosed => "closed".to_owned(),
        ConnectionError::Reset => format!("{remote} reset the connection (stateless reset)"),
        ConnectionError::VersionMismatch => format!("{remote} speaks no QUIC version we do"),
        other => other.to_string(),
    }
}

/// `bad_certificate (42)`.
fn alert_name(alert: u8) -> String {
    let name = format!("{:?}", rustls::AlertDescription::from(alert));
    // CamelCase -> snake_case, as the TLS RFCs name alerts.
    let mut snake = String::new();
    let mut prev_lower = false;
    for c in name.chars() {
        if c.is_ascii_uppercase() && prev_lower {
            snake.push('_');
        }
        prev_lower = c.is_ascii_lowercase();
        snake.push(c.to_ascii_lowercase());
    }
    format!("{snake} ({alert})")
}

fn alert_hint(alert: u8) -> &'static str {
    match alert {
        // bad_certificate, unsupported_certificate, certificate_unknown,
        // unknown_ca, decrypt_error (a certificate that only looks like
        // the trusted one)
        42 | 43 | 46 | 48 | 51 => {
            " (the server's certificate is not trusted: give its certificate with --ca FILE, or --insecure to skip the check)"
        }
        120 => " (no application protocol in common)",
        _ => "",
    }
}

/// Elapsed seconds between two instants, never negative.
pub fn secs(from: Instant, to: Instant) -> f64 {
    to.saturating_duration_since(from).as_secs_f64()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_suffixes() {
        assert_eq!(parse_size("100M"), Ok(100_000_000));
        assert_eq!(parse_size("1G"), Ok(1_000_000_000));
        assert_eq!(parse_size("1.5GB"), Ok(1_500_000_000));
        assert_eq!(parse_size("64KiB"), Ok(65_536));
        assert_eq!(parse_size("2mi"), Ok(2 << 20));
        assert_eq!(parse_size("1000"), Ok(1000));
        assert_eq!(parse_size("7B"), Ok(7));
        assert_eq!(parse_size("0"), Ok(0));
        assert!(parse_size("12X").is_err());
        assert!(parse_size("M").is_err());
        assert!(parse_size("").is_err());
        assert!(parse_size("99999999999T").is_err());
    }

    #[test]
    fn host_port_forms() {
        let hp = |s| parse_host_port(s, 4433);
        assert_eq!(hp("localhost:1"), Ok(("localhost".into(), 1)));
        assert_eq!(hp("localhost"), Ok(("localhost".into(), 4433)));
        assert_eq!(hp("[::1]:9"), Ok(("::1".into(), 9)));
        assert_eq!(hp("[::1]"), Ok(("::1".into(), 4433)));
        assert_eq!(hp("::1"), Ok(("::1".into(), 4433)));
        assert!(hp("h:0").is_err());
        assert!(hp("h:x").is_err());
        assert!(hp(":5").is_err());
        assert!(hp("[::1]x").is_err());
    }

    #[test]
    fn alerts_read_like_the_rfc() {
        assert_eq!(alert_name(48), "unknown_ca (48)");
        assert_eq!(alert_name(42), "bad_certificate (42)");
        assert_eq!(alert_name(120), "no_application_protocol (120)");
    }
}
