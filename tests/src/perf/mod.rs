//! The performance comparison behind `cargo run --release --bin
//! perf-compare`: our stack and quinn-proto on one in-memory harness, in
//! one process and one run (see `docs/performance.md`).
//!
//! Both stacks get the same rustls configuration (ring provider, one
//! cipher suite, X25519, an rcgen ECDSA P-256 certificate, no
//! resumption), the same windows (16 MiB per stream, 64 MiB per
//! connection, 16 MiB send buffer), 1200-byte datagrams without path MTU
//! discovery, no idle timeout, and segmentation-offload batches of 20
//! datagrams per turn. Client and server run in one thread, datagrams pass
//! through in-memory queues, and a virtual clock moves 25 µs per turn (and
//! jumps to the next timer when nothing moves). Every figure is written
//! once, against the `Node` trait both stacks implement, so they run the
//! same application code.
//!
//! CPU time is process CPU time: both sides and the harness. Heap figures
//! need the counting allocator (`stats_alloc`) installed as the global
//! allocator, which the binary does; without it they read zero.

mod figures;
mod floor;
mod measure;
mod net;
mod ours;
mod quinn;
mod tls;

use std::fmt::Write as _;
use std::io::Write;
use std::net::SocketAddr;

pub use tls::Suite;

use self::figures::{Bulk, BulkRun, HandshakeRun, Handshakes, Idle, ScaleRun};
use self::floor::Floor;
use self::measure::Pattern;
use self::net::Node;
use self::ours::Ours;
use self::quinn::Quinn;
use self::tls::{Certificate, Setup};

/// Initial and largest stream receive window, both stacks.
pub(crate) const STREAM_WINDOW: u64 = 16 << 20;
/// Initial and largest connection receive window, both stacks.
pub(crate) const CONN_WINDOW: u64 = 64 << 20;
/// What a sender may buffer per connection (ours: `send_buffer`, quinn:
/// `send_window`), both stacks.
pub(crate) const SEND_BUFFER: u64 = 16 << 20;

/// A stack under test: builds its nodes from one TLS setup.
pub(crate) trait Stack: Sized {
    type Node: Node;
    /// The stack's name in reports.
    const NAME: &'static str;
    fn new(tls: &Setup) -> Result<Self, String>;
    fn server(&self, addr: SocketAddr, seed: u64) -> Self::Node;
    fn client(&self, addr: SocketAddr, seed: u64) -> Self::Node;
}

/// One figure of the comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Figure {
    /// Bulk transfer per suite (and allocations per datagram, from the
    /// AES-128-GCM run).
    Bulk,
    /// Full handshakes per CPU-second and datagrams per handshake.
    Handshake,
    /// Heap bytes per established idle connection.
    Idle,
    /// ring's cost per packet, and each stack's bulk figure as a fraction.
    Floor,
    /// Per-datagram cost with many idle connections, and `next_wake_time`.
    Scale,
}

/// Which stacks to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Stacks {
    /// Both (ratios need both).
    Both,
    /// Ours alone (for profiling).
    Ours,
    /// quinn-proto alone.
    Quinn,
}

/// What to run and how big.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Options {
    /// The figures to run (all by default).
    pub figures: Vec<Figure>,
    /// The stacks to run.
    pub stacks: Stacks,
    /// The suites of the bulk figure.
    pub suites: Vec<Suite>,
    /// Bytes of each bulk transfer.
    pub bulk_bytes: u64,
    /// Handshakes timed.
    pub handshakes: u64,
    /// Idle connections for the heap figure.
    pub idle: usize,
    /// Idle-connection counts of the scale figure.
    pub scale_levels: Vec<usize>,
    /// Request/response exchanges per scale level.
    pub exchanges: usize,
    /// `next_wake` calls timed per scale level.
    pub wake_calls: u32,
    /// Packets sealed and opened for the crypto floor.
    pub floor_packets: u64,
    /// Path MTU discovery on both stacks (off: 1200-byte datagrams).
    pub pmtud: bool,
}

impl Options {
    /// The full run (the sizes of the issue).
    pub fn full() -> Self {
        Self {
            figures: vec![
                Figure::Bulk,
                Figure::Handshake,
                Figure::Idle,
                Figure::Floor,
                Figure::Scale,
            ],
            stacks: Stacks::Both,
            suites: Suite::ALL.to_vec(),
            bulk_bytes: 1 << 30,
            handshakes: 2000,
            idle: 10_000,
            scale_levels: vec![1_000, 10_000, 100_000],
            exchanges: 10_000,
            wake_calls: 1_000_000,
            floor_packets: 500_000,
            pmtud: false,
        }
    }

    /// A small version of every figure, for a test (seconds, even in a
    /// debug build).
    pub fn quick() -> Self {
        Self {
            bulk_bytes: 2 << 20,
            handshakes: 10,
            idle: 50,
            scale_levels: vec![10, 30, 100],
            exchanges: 50,
            wake_calls: 10_000,
            floor_packets: 2_000,
            ..Self::full()
        }
    }
}

/// The results of a run.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    /// `key=value` pairs, in order; the binary prints them as its last line.
    pub pairs: Vec<(String, String)>,
}

impl Summary {
    fn put(&mut self, key: impl Into<String>, value: impl std::fmt::Display) {
        self.pairs.push((key.into(), value.to_string()));
    }

    fn put_f(&mut self, key: impl Into<String>, value: f64) {
        self.put(key, format!("{value:.4}"));
    }

    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The machine-readable line: space-separated `key=value` pairs.
    pub fn line(&self) -> String {
        let mut out = String::new();
        for (i, (k, v)) in self.pairs.iter().enumerate() {
            if i > 0 {
                out.push(' ');
            }
            let _ = write!(out, "{k}={v}");
        }
        out
    }
}

/// Both stacks' results of one figure (`None`: not run).
struct Pair<T> {
    ours: Option<T>,
    quinn: Option<T>,
}

impl<T> Pair<T> {
    fn run(
        stacks: Stacks,
        mut ours: impl FnMut() -> Result<T, String>,
        mut quinn: impl FnMut() -> Result<T, String>,
    ) -> Result<Self, String> {
        Ok(Self {
            ours: if stacks != Stacks::Quinn {
                Some(ours()?)
            } else {
                None
            },
            quinn: if stacks != Stacks::Ours {
                Some(quinn()?)
            } else {
                None
            },
        })
    }
}

/// The time slices in which the two stacks take turns (bulk transfer,
/// handshakes): whatever else runs on the machine meanwhile hits both
/// alike. Each keeps its own caches warm within a slice.
const SLICES: u64 = 16;

/// Both stacks' bulk transfers, in alternating slices (the first to go
/// alternates too).
fn bulk_pair(
    stacks: Stacks,
    tls: &Setup,
    total: u64,
    pattern: &Pattern,
) -> Result<Pair<Bulk>, String> {
    let mut ours = (stacks != Stacks::Quinn)
        .then(|| BulkRun::<Ours>::new(tls, total))
        .transpose()?;
    let mut quinn = (stacks != Stacks::Ours)
        .then(|| BulkRun::<Quinn>::new(tls, total))
        .transpose()?;
    for i in 1..=SLICES {
        let target = total / SLICES * i;
        let target = if i == SLICES { total } else { target };
        for turn in 0..2 {
            if (turn + i) % 2 == 1 {
                if let Some(r) = ours.as_mut() {
                    r.run_to(target, pattern)?;
                }
            } else if let Some(r) = quinn.as_mut() {
                r.run_to(target, pattern)?;
            }
        }
    }
    Ok(Pair {
        ours: ours.map(BulkRun::finish).transpose()?,
        quinn: quinn.map(BulkRun::finish).transpose()?,
    })
}

/// Both stacks' handshakes, in alternating slices.
fn handshake_pair(stacks: Stacks, tls: &Setup, count: u64) -> Result<Pair<Handshakes>, String> {
    let mut ours = (stacks != Stacks::Quinn)
        .then(|| HandshakeRun::<Ours>::new(tls))
        .transpose()?;
    let mut quinn = (stacks != Stacks::Ours)
        .then(|| HandshakeRun::<Quinn>::new(tls))
        .transpose()?;
    for i in 1..=SLICES {
        let n = count * i / SLICES - count * (i - 1) / SLICES;
        for turn in 0..2 {
            if (turn + i) % 2 == 1 {
                if let Some(r) = ours.as_mut() {
                    r.run(n)?;
                }
            } else if let Some(r) = quinn.as_mut() {
                r.run(n)?;
            }
        }
    }
    Ok(Pair {
        ours: ours.map(HandshakeRun::finish).transpose()?,
        quinn: quinn.map(HandshakeRun::finish).transpose()?,
    })
}

/// One scale level's figures.
#[derive(Clone, Copy, Debug)]
struct ScalePoint {
    /// Both sides' CPU time per datagram of the exchanges, in nanoseconds.
    per_datagram_ns: f64,
    /// The same on the reference server (the first level's size),
    /// measured in the same stretch of time.
    reference_ns: f64,
    /// The server's `next_wake`, in nanoseconds per call.
    next_wake_ns: f64,
}

impl ScalePoint {
    /// The cost at this level over the cost at the first level, both
    /// measured side by side.
    fn growth(&self) -> f64 {
        self.per_datagram_ns / self.reference_ns.max(1e-9)
    }
}

/// The exchanges of a scale level run in this many batches, the servers
/// taking turns; each server's cheapest batch stands (interference from
/// other work only ever adds CPU time).
const SCALE_BATCHES: usize = 10;

/// One stack's two servers: one grows level by level; the reference stays
/// at the first level. Batches alternate between them, so the growth is
/// a ratio of costs measured side by side, not minutes apart on a machine
/// whose load changes.
struct ScalePair<S: Stack> {
    grow: ScaleRun<S>,
    reference: ScaleRun<S>,
    best: (f64, f64),
}

impl<S: Stack> ScalePair<S> {
    fn new(tls: &Setup, options: &Options) -> Result<Self, String> {
        let warmup = options.exchanges / 10;
        let mut reference = ScaleRun::new(tls, warmup)?;
        reference.grow_to(options.scale_levels.first().copied().unwrap_or(0))?;
        Ok(Self {
            grow: ScaleRun::new(tls, warmup)?,
            reference,
            best: (f64::INFINITY, f64::INFINITY),
        })
    }

    fn batch(&mut self, exchanges: usize, reference_first: bool) -> Result<(), String> {
        for turn in 0..2 {
            if (turn == 0) == reference_first {
                self.best.1 = self.best.1.min(self.reference.exchanges(exchanges)?);
            } else {
                self.best.0 = self.best.0.min(self.grow.exchanges(exchanges)?);
            }
        }
        Ok(())
    }

    fn point(&mut self, wake_calls: u32) -> ScalePoint {
        let (per_datagram_ns, reference_ns) =
            std::mem::replace(&mut self.best, (f64::INFINITY, f64::INFINITY));
        ScalePoint {
            per_datagram_ns,
            reference_ns,
            next_wake_ns: self.grow.next_wake_ns(wake_calls),
        }
    }

    fn finish(self) -> Result<(), String> {
        self.grow.finish()?;
        self.reference.finish()
    }
}

/// Both stacks' scale figures: the growing servers reach each level, then
/// the four servers take turns with batches of exchanges.
fn scale_pair(
    stacks: Stacks,
    tls: &Setup,
    options: &Options,
) -> Result<Pair<Vec<ScalePoint>>, String> {
    let mut ours = (stacks != Stacks::Quinn)
        .then(|| ScalePair::<Ours>::new(tls, options))
        .transpose()?;
    let mut quinn = (stacks != Stacks::Ours)
        .then(|| ScalePair::<Quinn>::new(tls, options))
        .transpose()?;
    let per_batch = (options.exchanges / SCALE_BATCHES).max(1);
    let (mut out_ours, mut out_quinn) = (Vec::new(), Vec::new());
    for &level in &options.scale_levels {
        if let Some(r) = ours.as_mut() {
            r.grow.grow_to(level)?;
        }
        if let Some(r) = quinn.as_mut() {
            r.grow.grow_to(level)?;
        }
        for batch in 0..SCALE_BATCHES {
            let odd = batch % 2 == 1;
            for turn in 0..2 {
                if (turn == 0) != odd {
                    if let Some(r) = ours.as_mut() {
                        r.batch(per_batch, odd)?;
                    }
                } else if let Some(r) = quinn.as_mut() {
                    r.batch(per_batch, !odd)?;
                }
            }
        }
        if let Some(r) = ours.as_mut() {
            out_ours.push(r.point(options.wake_calls));
        }
        if let Some(r) = quinn.as_mut() {
            out_quinn.push(r.point(options.wake_calls));
        }
    }
    let ours = ours.map(ScalePair::finish).transpose()?.map(|()| out_ours);
    let quinn = quinn
        .map(ScalePair::finish)
        .transpose()?
        .map(|()| out_quinn);
    Ok(Pair { ours, quinn })
}

fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    Some(a? / b?)
}

fn show(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.digits$}"))
}

/// The CPU model and core count, for the report.
pub fn machine() -> String {
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{model}, {cores} cores")
}

/// The crypto floor of every suite at `size`-byte packets, and each bulk
/// figure as a fraction of it. Keys: `floor_{suite}_mbps` and
/// `floor_fraction_{suite}` at 1200 bytes (the targets' floor), with
/// `_at_{size}` appended at any other size.
fn floor_figure(
    s: &mut Summary,
    out: &mut dyn Write,
    options: &Options,
    bulk: &[(Suite, Pair<Bulk>)],
    size: usize,
) -> Result<(), String> {
    let _ = writeln!(
        out,
        "crypto floor (ring: AEAD seal + open + 2 header-protection masks per {size}-byte packet, {} plaintext bytes):",
        floor::payload(size)
    );
    let at = if size == floor::PACKET {
        String::new()
    } else {
        format!("_at_{size}")
    };
    for &suite in &Suite::ALL {
        let f: Floor = floor::floor(suite, options.floor_packets, size)?;
        let mb = f.mb_per_cpu_s();
        let of_bulk = |which: fn(&Pair<Bulk>) -> Option<Bulk>| {
            bulk.iter()
                .find(|(s, _)| *s == suite)
                .and_then(|(_, r)| which(r))
                .map(|b| b.mb_per_cpu_s() / mb)
        };
        let o = of_bulk(|r| r.ours);
        let q = of_bulk(|r| r.quinn);
        let _ = writeln!(
            out,
            "  {:<18} {:>6.0} ns/packet = {:>7.1} MB/s; bulk as a fraction of it: ours {}  quinn {}",
            suite.name(),
            f.per_packet.as_nanos(),
            mb,
            show(o, 3),
            show(q, 3)
        );
        let _ = out.flush();
        let k = suite.key();
        s.put_f(format!("floor_{k}_mbps{at}"), mb);
        if let Some(v) = o {
            s.put_f(format!("floor_fraction_{k}{at}"), v);
        }
        if let Some(v) = q {
            s.put_f(format!("floor_fraction_{k}_quinn{at}"), v);
        }
    }
    Ok(())
}

/// Runs the figures `options` selects, printing human-readable lines to
/// `out` as they come; returns the machine-readable summary.
pub fn run(options: &Options, out: &mut dyn Write) -> Result<Summary, String> {
    let mut s = Summary::default();
    let p = |out: &mut dyn Write, line: String| {
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    };
    p(
        out,
        format!(
            "perf-compare: quic-proto (ours) vs quinn-proto 0.11, one thread, in-memory, virtual clock; {}; {}",
            machine(),
            if options.pmtud {
                "path MTU discovery on (both stacks' defaults, up to 1452-byte datagrams)"
            } else {
                "1200-byte datagrams, no path MTU discovery"
            }
        ),
    );
    s.put("pmtud", u8::from(options.pmtud).to_string());
    if !measure::counting() {
        p(
            out,
            "note: the counting allocator is not installed; heap figures read 0".into(),
        );
    }
    let cert = Certificate::generate()?;
    let pattern = Pattern::new();
    let has = |f: Figure| options.figures.contains(&f);
    let stacks = options.stacks;

    let mut bulk: Vec<(Suite, Pair<Bulk>)> = Vec::new();
    if has(Figure::Bulk) {
        p(
            out,
            format!(
                "bulk: {} MiB on one stream, client to server; MB (10^6) of stream data per CPU-second, both sides",
                options.bulk_bytes >> 20
            ),
        );
        for &suite in &options.suites {
            let tls = cert.setup(suite, options.pmtud)?;
            let r = bulk_pair(stacks, &tls, options.bulk_bytes, &pattern)?;
            let o = r.ours.map(|b| b.mb_per_cpu_s());
            let q = r.quinn.map(|b| b.mb_per_cpu_s());
            p(
                out,
                format!(
                    "  {:<18} ours {:>8}  quinn {:>8}  ratio {}",
                    suite.name(),
                    show(o, 1),
                    show(q, 1),
                    show(ratio(o, q), 3)
                ),
            );
            for (name, b) in [("ours", &r.ours), ("quinn", &r.quinn)] {
                if let Some(b) = b {
                    p(
                        out,
                        format!(
                            "    {name}: {:.3} s CPU, datagrams client {} server {}",
                            b.cpu.as_secs_f64(),
                            b.client_datagrams,
                            b.server_datagrams
                        ),
                    );
                }
            }
            let k = suite.key();
            if let Some(v) = o {
                s.put_f(format!("bulk_{k}_ours"), v);
            }
            if let Some(v) = q {
                s.put_f(format!("bulk_{k}_quinn"), v);
            }
            if let Some(v) = ratio(o, q) {
                s.put_f(format!("bulk_{k}_ratio"), v);
            }
            bulk.push((suite, r));
        }
        if let Some((_, r)) = bulk.iter().find(|(s, _)| *s == Suite::Aes128) {
            let o = r.ours.map(|b| b.allocs_per_datagram());
            let q = r.quinn.map(|b| b.allocs_per_datagram());
            p(
                out,
                format!(
                    "allocations per data datagram (AES-128 bulk, middle half, both sides): ours {}  quinn {}",
                    show(o, 3),
                    show(q, 3)
                ),
            );
            if let Some(v) = o {
                s.put_f("allocs_per_datagram", v);
            }
            if let Some(v) = q {
                s.put_f("allocs_per_datagram_quinn", v);
            }
        }
    }

    if has(Figure::Handshake) {
        let tls = cert.setup(Suite::Aes128, options.pmtud)?;
        let r = handshake_pair(stacks, &tls, options.handshakes)?;
        let o = r.ours.map(|h| h.per_cpu_s());
        let q = r.quinn.map(|h| h.per_cpu_s());
        p(
            out,
            format!(
                "handshakes per CPU-second ({} full 1-RTT handshakes, AES-128-GCM, ECDSA P-256, X25519, both sides): ours {}  quinn {}  ratio {}",
                options.handshakes,
                show(o, 1),
                show(q, 1),
                show(ratio(o, q), 3)
            ),
        );
        let per = |h: &Option<Handshakes>| {
            h.map(|h| {
                (
                    h.client_datagrams as f64 / h.count.max(1) as f64,
                    h.server_datagrams as f64 / h.count.max(1) as f64,
                )
            })
        };
        let (od, qd) = (per(&r.ours), per(&r.quinn));
        p(
            out,
            format!(
                "datagrams per handshake (client / server, until settled): ours {} / {}  quinn {} / {}",
                show(od.map(|d| d.0), 1),
                show(od.map(|d| d.1), 1),
                show(qd.map(|d| d.0), 1),
                show(qd.map(|d| d.1), 1)
            ),
        );
        if let Some(v) = o {
            s.put_f("handshake_ours", v);
        }
        if let Some(v) = q {
            s.put_f("handshake_quinn", v);
        }
        if let Some(v) = ratio(o, q) {
            s.put_f("handshake_ratio", v);
        }
        if let Some((c, sv)) = od {
            s.put_f("handshake_datagrams_client", c);
            s.put_f("handshake_datagrams_server", sv);
        }
        if let Some((c, sv)) = qd {
            s.put_f("handshake_datagrams_client_quinn", c);
            s.put_f("handshake_datagrams_server_quinn", sv);
        }
    }

    if has(Figure::Idle) {
        let tls = cert.setup(Suite::Aes128, options.pmtud)?;
        let r: Pair<Idle> = Pair::run(
            stacks,
            || figures::idle::<Ours>(&tls, options.idle),
            || figures::idle::<Quinn>(&tls, options.idle),
        )?;
        let f = |i: &Option<Idle>, server: bool| {
            i.map(|i| if server { i.server_bytes } else { i.both_bytes })
        };
        p(
            out,
            format!(
                "heap bytes per established idle connection ({} connections): server ours {}  quinn {}  (ours/quinn {}); both sides ours {}  quinn {}  (ours/quinn {})",
                options.idle,
                show(f(&r.ours, true), 0),
                show(f(&r.quinn, true), 0),
                show(ratio(f(&r.ours, true), f(&r.quinn, true)), 3),
                show(f(&r.ours, false), 0),
                show(f(&r.quinn, false), 0),
                show(ratio(f(&r.ours, false), f(&r.quinn, false)), 3),
            ),
        );
        if let Some(v) = f(&r.ours, true) {
            s.put("idle_conn_bytes_server", format!("{v:.0}"));
            s.put(
                "idle_conn_bytes_both",
                format!("{:.0}", f(&r.ours, false).unwrap_or(0.0)),
            );
        }
        if let Some(v) = f(&r.quinn, true) {
            s.put("idle_conn_bytes_server_quinn", format!("{v:.0}"));
            s.put(
                "idle_conn_bytes_both_quinn",
                format!("{:.0}", f(&r.quinn, false).unwrap_or(0.0)),
            );
        }
    }

    if has(Figure::Floor) {
        // The floor the targets name is at 1200 bytes; with path MTU
        // discovery the stacks' packets are larger, and so is the floor's
        // packet in a second pass.
        let sizes: &[usize] = if options.pmtud {
            &[floor::PACKET, floor::PACKET_PMTUD]
        } else {
            &[floor::PACKET]
        };
        for &size in sizes {
            floor_figure(&mut s, out, options, &bulk, size)?;
        }
    }

    if has(Figure::Scale) {
        let tls = cert.setup(Suite::Aes128, options.pmtud)?;
        p(
            out,
            format!(
                "scale: CPU per datagram of request/response exchanges (64 bytes each way, a stream each) on one connection, with N idle connections on the server endpoint; cheapest of {SCALE_BATCHES} batches of {} exchanges, taking turns with a reference server holding the first level:",
                (options.exchanges / SCALE_BATCHES).max(1)
            ),
        );
        let r = scale_pair(stacks, &tls, options)?;
        let first = options.scale_levels.first().copied().unwrap_or(0);
        for (i, level) in options.scale_levels.iter().enumerate() {
            let o = r.ours.as_ref().map(|v| v[i]);
            let q = r.quinn.as_ref().map(|v| v[i]);
            p(
                out,
                format!(
                    "  N={level:<7} ours {:>6} ns/datagram (x{} of N={first} alongside)  quinn {:>6} ns/datagram (x{})  ratio (quinn/ours) {}; our next_wake_time {} ns",
                    show(o.map(|p| p.per_datagram_ns), 0),
                    show(o.map(|p| p.growth()), 3),
                    show(q.map(|p| p.per_datagram_ns), 0),
                    show(q.map(|p| p.growth()), 3),
                    show(
                        ratio(q.map(|p| p.per_datagram_ns), o.map(|p| p.per_datagram_ns)),
                        3
                    ),
                    show(o.map(|p| p.next_wake_ns), 2),
                ),
            );
            if let Some(p) = o {
                s.put_f(format!("scale_ns_per_datagram_{level}"), p.per_datagram_ns);
                s.put_f(format!("scale_growth_{level}"), p.growth());
                s.put_f(format!("next_wake_ns_{level}"), p.next_wake_ns);
            }
            if let Some(p) = q {
                s.put_f(
                    format!("scale_ns_per_datagram_{level}_quinn"),
                    p.per_datagram_ns,
                );
                s.put_f(format!("scale_growth_{level}_quinn"), p.growth());
            }
        }
        let last = |v: &Option<Vec<ScalePoint>>| Some(v.as_ref()?.last()?.growth());
        let (o, q) = (last(&r.ours), last(&r.quinn));
        p(
            out,
            format!(
                "  cost at N={} over N={first} (measured side by side): ours {}  quinn {}",
                options.scale_levels.last().copied().unwrap_or(0),
                show(o, 3),
                show(q, 3)
            ),
        );
        if let Some(v) = o {
            s.put_f("scale_cost_100k_over_1k", v);
        }
        if let Some(v) = q {
            s.put_f("scale_cost_100k_over_1k_quinn", v);
        }
    }
    Ok(s)
}
