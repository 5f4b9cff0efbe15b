//! The figures, each written once against [`Node`] so both stacks run the
//! same application code on the same harness.

use std::hint::black_box;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::measure::{Cpu, Heap, Pattern, Received};
use super::net::{AppEvent, Counts, Net, Node, Progress};
use super::tls::Setup;
use super::Stack;

/// The server's address (a label: nothing here touches a socket).
pub(crate) const SERVER: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)), 4433);

/// Client node `i`'s address: distinct per node.
pub(crate) fn client_addr(i: u64) -> SocketAddr {
    let ip = Ipv4Addr::new(127, 1 + (i >> 16) as u8, (i >> 8) as u8, i as u8);
    SocketAddr::new(ip.into(), 50_000)
}

/// The virtual clock's origin: one real instant, read once.
#[allow(
    clippy::disallowed_methods,
    reason = "the harness's virtual clock needs one real instant to start from"
)]
pub(crate) fn origin() -> Instant {
    Instant::now()
}

/// Runs until the client connection `conn` and one server connection are
/// up (settled if `settle`); returns the server's handle.
fn establish<N: Node>(
    net: &mut Net,
    client: &mut N,
    server: &mut N,
    conn: N::Conn,
    settle: bool,
) -> Result<N::Conn, String> {
    let mut client_up = false;
    let mut server_conn = None;
    net.run(client, server, settle, |_, _, c, s| {
        while let Some((h, ev)) = c.poll_app() {
            if h == conn && ev == AppEvent::Connected {
                client_up = true;
            }
        }
        while let Some((h, ev)) = s.poll_app() {
            if ev == AppEvent::Connected {
                server_conn = Some(h);
            }
        }
        if client_up && server_conn.is_some() {
            Progress::Done
        } else {
            Progress::Going
        }
    })?;
    server_conn.ok_or_else(|| "the server saw no connection".to_string())
}

/// Establishes `count` connections from `client` at once, then settles.
fn establish_many<N: Node>(
    net: &mut Net,
    client: &mut N,
    server: &mut N,
    count: usize,
) -> Result<Vec<N::Conn>, String> {
    let mut conns = Vec::with_capacity(count);
    for _ in 0..count {
        conns.push(client.connect(net.now, SERVER)?);
    }
    let mut client_up = 0;
    let mut server_up = 0;
    net.run(client, server, true, |_, _, c, s| {
        while let Some((_, ev)) = c.poll_app() {
            if ev == AppEvent::Connected {
                client_up += 1;
            }
        }
        while let Some((_, ev)) = s.poll_app() {
            if ev == AppEvent::Connected {
                server_up += 1;
            }
        }
        if client_up == count && server_up == count {
            Progress::Done
        } else {
            Progress::Going
        }
    })?;
    Ok(conns)
}

// ---- bulk -----------------------------------------------------------------

/// One bulk transfer.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Bulk {
    /// Stream bytes delivered (and checked).
    pub bytes: u64,
    /// Both sides' CPU time from the first write to the last byte read.
    pub cpu: Duration,
    /// Datagrams each side sent during the transfer.
    pub client_datagrams: u64,
    pub server_datagrams: u64,
    /// Allocations (both sides) in the steady-state window (the middle
    /// half of the transfer) and the sender's datagrams in it.
    pub window_allocs: u64,
    pub window_datagrams: u64,
}

impl Bulk {
    /// Megabytes (10^6) of stream data per CPU-second.
    pub(crate) fn mb_per_cpu_s(&self) -> f64 {
        self.bytes as f64 / 1e6 / self.cpu.as_secs_f64().max(1e-9)
    }

    pub(crate) fn allocs_per_datagram(&self) -> f64 {
        self.window_allocs as f64 / self.window_datagrams.max(1) as f64
    }
}

/// One bulk transfer of `total` bytes on one unidirectional stream from
/// client to server, resumable: [`BulkRun::run_to`] moves it on until the
/// server has read a given amount, so two stacks' transfers can take
/// turns in time slices and share whatever else the machine is doing.
pub(crate) struct BulkRun<S: Stack> {
    net: Net,
    client: S::Node,
    server: S::Node,
    conn: <S::Node as Node>::Conn,
    stream: <S::Node as Node>::Stream,
    total: u64,
    sent: u64,
    pending: Bytes,
    blocked: bool,
    finished: bool,
    rx: Received,
    accepted: Option<<S::Node as Node>::Stream>,
    /// This run's allocations and counters when the steady-state window
    /// opened and closed. (Allocations are counted process-wide, so only
    /// those made during this run's own slices add up.)
    window_start: Option<(u64, Counts)>,
    window_end: Option<(u64, Counts)>,
    /// Allocations during this run's slices so far.
    allocs: u64,
    start_counts: Counts,
    cpu: Duration,
}

impl<S: Stack> BulkRun<S> {
    /// Connects and opens the stream (untimed).
    pub(crate) fn new(tls: &Setup, total: u64) -> Result<Self, String> {
        let stack = S::new(tls)?;
        let mut server = stack.server(SERVER, 1);
        let mut client = stack.client(client_addr(0), 2);
        let mut net = Net::new(origin());
        let conn = client.connect(net.now, SERVER)?;
        let server_conn = establish(&mut net, &mut client, &mut server, conn, false)?;
        check_suite(&mut client, conn, tls)?;
        check_suite(&mut server, server_conn, tls)?;
        let stream = client.open(conn, false).ok_or("could not open a stream")?;
        let start_counts = net.counts;
        Ok(Self {
            net,
            client,
            server,
            conn,
            stream,
            total,
            sent: 0,
            pending: Bytes::new(),
            blocked: false,
            finished: false,
            rx: Received::new(),
            accepted: None,
            window_start: None,
            window_end: None,
            allocs: 0,
            start_counts,
            cpu: Duration::ZERO,
        })
    }

    /// Runs (timed) until the server has read at least `target` bytes, or
    /// everything and the end of the stream.
    pub(crate) fn run_to(&mut self, target: u64, pattern: &Pattern) -> Result<(), String> {
        let Self {
            net,
            client,
            server,
            conn,
            stream,
            total,
            sent,
            pending,
            blocked,
            finished,
            rx,
            accepted,
            window_start,
            window_end,
            allocs,
            cpu,
            ..
        } = self;
        let (conn, stream, total) = (*conn, *stream, *total);
        let target = target.min(total);
        if rx.fin || (rx.len >= target && target < total) {
            return Ok(());
        }
        let window = (total / 4, total / 4 * 3);
        let slice_heap = Heap::now();
        let timer = Cpu::start();
        let allocs_before = *allocs;
        let own_allocs = || allocs_before + Heap::now().since(slice_heap).allocs;
        net.run(client, server, false, |counts, _, c, s| {
            while let Some((_, ev)) = c.poll_app() {
                if let AppEvent::Writable(_) = ev {
                    *blocked = false;
                }
            }
            while !*blocked && !*finished {
                if pending.is_empty() {
                    if *sent == total {
                        c.finish(conn, stream);
                        *finished = true;
                        break;
                    }
                    *pending = pattern.chunk(*sent, total - *sent);
                }
                let before = pending.len();
                if !c.write(conn, stream, pending) {
                    *blocked = true;
                }
                *sent += (before - pending.len()) as u64;
            }
            while let Some((h, ev)) = s.poll_app() {
                let id = match ev {
                    AppEvent::Opened => match s.accept(h, false) {
                        Some(id) => {
                            *accepted = Some(id);
                            id
                        }
                        None => continue,
                    },
                    AppEvent::Readable(id) => id,
                    _ => continue,
                };
                if Some(id) != *accepted {
                    continue;
                }
                let fin = s.read(h, id, &mut |data| rx.take(pattern, data));
                rx.fin |= fin;
            }
            if window_start.is_none() && rx.len >= window.0 {
                *window_start = Some((own_allocs(), *counts));
            }
            if window_end.is_none() && rx.len >= window.1 {
                *window_end = Some((own_allocs(), *counts));
            }
            if rx.fin || (rx.len >= target && target < total) {
                Progress::Done
            } else {
                Progress::Going
            }
        })?;
        *cpu += timer.elapsed();
        *allocs = own_allocs();
        Ok(())
    }

    /// Checks what arrived and returns the figures.
    pub(crate) fn finish(self) -> Result<Bulk, String> {
        let rx = &self.rx;
        if rx.len != self.total || !rx.intact || !rx.fin {
            return Err(format!(
                "{}: bulk transfer delivered {} of {} bytes{}, {}",
                S::NAME,
                rx.len,
                self.total,
                if rx.fin { "" } else { " without the end" },
                if rx.intact { "intact" } else { "CORRUPTED" }
            ));
        }
        misdelivered(&self.net)?;
        let (window_allocs, window_datagrams) = match (self.window_start, self.window_end) {
            (Some((a0, c0)), Some((a1, c1))) => {
                (a1 - a0, c1.client_datagrams - c0.client_datagrams)
            }
            _ => (0, 0),
        };
        let counts = self.net.counts;
        Ok(Bulk {
            bytes: rx.len,
            cpu: self.cpu,
            client_datagrams: counts.client_datagrams - self.start_counts.client_datagrams,
            server_datagrams: counts.server_datagrams - self.start_counts.server_datagrams,
            window_allocs,
            window_datagrams,
        })
    }
}

fn check_suite<N: Node>(node: &mut N, conn: N::Conn, tls: &Setup) -> Result<(), String> {
    match node.cipher_suite(conn) {
        Some(s) if s != tls.suite.rustls().suite() => {
            Err(format!("negotiated {s:?}, expected {}", tls.suite.name()))
        }
        _ => Ok(()),
    }
}

fn misdelivered(net: &Net) -> Result<(), String> {
    match net.counts.misdelivered {
        0 => Ok(()),
        n => Err(format!("{n} datagrams were addressed to nobody")),
    }
}

// ---- handshakes -------------------------------------------------------------

/// Sequential full handshakes.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Handshakes {
    pub count: u64,
    /// Both sides' CPU time for all handshakes (connect to settled).
    pub cpu: Duration,
    pub client_datagrams: u64,
    pub server_datagrams: u64,
}

impl Handshakes {
    pub(crate) fn per_cpu_s(&self) -> f64 {
        self.count as f64 / self.cpu.as_secs_f64().max(1e-9)
    }
}

/// Full handshakes, one at a time, each from a fresh client endpoint to
/// one server endpoint, timed from `connect` until both sides are
/// connected and every datagram of the exchange (ACKs, HANDSHAKE_DONE,
/// NEW_CONNECTION_ID, ...) has settled. Each connection is then closed and
/// drained, untimed, so the server stays small. Resumable, like
/// [`BulkRun`], so two stacks can take turns.
pub(crate) struct HandshakeRun<S: Stack> {
    stack: S,
    server: S::Node,
    net: Net,
    clients: u64,
    out: Handshakes,
}

impl<S: Stack> HandshakeRun<S> {
    /// The server, and one warm-up handshake, not counted (lazy
    /// initialisation).
    pub(crate) fn new(tls: &Setup) -> Result<Self, String> {
        let stack = S::new(tls)?;
        let server = stack.server(SERVER, 1);
        let mut run = Self {
            stack,
            server,
            net: Net::new(origin()),
            clients: 0,
            out: Handshakes::default(),
        };
        run.run(1)?;
        run.out = Handshakes::default();
        Ok(run)
    }

    /// `count` more handshakes.
    pub(crate) fn run(&mut self, count: u64) -> Result<(), String> {
        for _ in 0..count {
            self.clients += 1;
            let mut client = self
                .stack
                .client(client_addr(self.clients), 1000 + self.clients);
            let net = &mut self.net;
            let server = &mut self.server;
            let before = net.counts;
            let cpu = Cpu::start();
            let conn = client.connect(net.now, SERVER)?;
            let server_conn = establish(net, &mut client, server, conn, true)?;
            let elapsed = cpu.elapsed();
            self.out.count += 1;
            self.out.cpu += elapsed;
            self.out.client_datagrams += net.counts.client_datagrams - before.client_datagrams;
            self.out.server_datagrams += net.counts.server_datagrams - before.server_datagrams;
            // Teardown: the client closes; both drain.
            client.close(net.now, conn);
            let mut drained = (false, false);
            net.run(&mut client, server, false, |_, _, c, s| {
                while let Some((h, ev)) = c.poll_app() {
                    drained.0 |= h == conn && ev == AppEvent::Drained;
                }
                while let Some((h, ev)) = s.poll_app() {
                    drained.1 |= h == server_conn && ev == AppEvent::Drained;
                }
                if drained.0 && drained.1 {
                    Progress::Done
                } else {
                    Progress::Going
                }
            })?;
        }
        Ok(())
    }

    pub(crate) fn finish(self) -> Result<Handshakes, String> {
        misdelivered(&self.net)?;
        Ok(self.out)
    }
}

// ---- idle connections -------------------------------------------------------

/// Heap bytes held per established idle connection.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Idle {
    pub server_bytes: f64,
    pub both_bytes: f64,
}

/// How many connections a client endpoint opens at once when filling.
const GROUP: usize = 100;

/// Establishes `count` connections from one client endpoint to one
/// server endpoint (in groups, each settled), then reads the heap: both
/// sides; then drops the client endpoint and reads it again: the server.
pub(crate) fn idle<S: Stack>(tls: &Setup, count: usize) -> Result<Idle, String> {
    let stack = S::new(tls)?;
    let mut server = stack.server(SERVER, 1);
    let mut client = stack.client(client_addr(0), 2);
    let mut net = Net::new(origin());
    // Warm-up: one connection (lazy initialisation, the wires' pools).
    establish_many(&mut net, &mut client, &mut server, 1)?;
    let base = Heap::now();
    let mut made = 0;
    while made < count {
        let n = GROUP.min(count - made);
        establish_many(&mut net, &mut client, &mut server, n)?;
        made += n;
    }
    let both = Heap::now().since(base).live;
    drop(client);
    let server_only = Heap::now().since(base).live;
    // The server endpoint stays alive until both readings are taken.
    black_box(&mut server);
    misdelivered(&net)?;
    Ok(Idle {
        server_bytes: server_only as f64 / count as f64,
        both_bytes: both as f64 / count as f64,
    })
}

// ---- scale ------------------------------------------------------------------

/// Bytes of each request and each response.
const MESSAGE: usize = 64;

/// One active connection and a growing number of idle ones on one server
/// endpoint. Idle connections come from client endpoints that are dropped
/// once their connections are established and settled, so only the server
/// side stays. Resumable, so two stacks can take turns.
pub(crate) struct ScaleRun<S: Stack> {
    stack: S,
    net: Net,
    server: S::Node,
    client: S::Node,
    conn: <S::Node as Node>::Conn,
    server_conn: <S::Node as Node>::Conn,
    idle: usize,
    fillers: u64,
    request: Bytes,
    response: Bytes,
}

impl<S: Stack> ScaleRun<S> {
    /// The server, the active connection, and `warmup` exchanges on it
    /// (untimed: the first streams' state, the maps' first growth).
    pub(crate) fn new(tls: &Setup, warmup: usize) -> Result<Self, String> {
        let stack = S::new(tls)?;
        let mut server = stack.server(SERVER, 1);
        let mut client = stack.client(client_addr(0), 2);
        let mut net = Net::new(origin());
        let conn = client.connect(net.now, SERVER)?;
        let server_conn = establish(&mut net, &mut client, &mut server, conn, true)?;
        let mut run = Self {
            stack,
            net,
            server,
            client,
            conn,
            server_conn,
            idle: 0,
            fillers: 0,
            request: Bytes::from(vec![0x51; MESSAGE]),
            response: Bytes::from(vec![0x52; MESSAGE]),
        };
        run.exchanges(warmup.max(1))?;
        Ok(run)
    }

    /// Adds idle connections until there are `level` (untimed).
    pub(crate) fn grow_to(&mut self, level: usize) -> Result<(), String> {
        while self.idle < level {
            let n = GROUP.min(level - self.idle);
            self.fillers += 1;
            let mut filler = self
                .stack
                .client(client_addr(self.fillers), 2 + self.fillers);
            establish_many(&mut self.net, &mut filler, &mut self.server, n)?;
            self.idle += n;
        }
        Ok(())
    }

    /// `count` exchanges, timed: both sides' CPU time per datagram, in
    /// nanoseconds. The network is settled afterwards (untimed), so no
    /// timer of the active connection fires while fillers hold it.
    pub(crate) fn exchanges(&mut self, count: usize) -> Result<f64, String> {
        let before = self.net.counts;
        let cpu = Cpu::start();
        exchange(
            &mut self.net,
            &mut self.client,
            &mut self.server,
            self.conn,
            self.server_conn,
            count,
            &self.request,
            &self.response,
        )?;
        let cpu = cpu.elapsed();
        let counts = self.net.counts;
        let datagrams = (counts.client_datagrams - before.client_datagrams)
            + (counts.server_datagrams - before.server_datagrams);
        settle(&mut self.net, &mut self.client, &mut self.server)?;
        Ok(cpu.as_secs_f64() * 1e9 / datagrams.max(1) as f64)
    }

    /// The cost of the server node's `next_wake` (ours:
    /// `Endpoint::next_wake_time`), in nanoseconds per call.
    pub(crate) fn next_wake_ns(&mut self, calls: u32) -> f64 {
        let cpu = Cpu::start();
        for _ in 0..calls {
            black_box(self.server.next_wake());
        }
        cpu.elapsed().as_secs_f64() * 1e9 / f64::from(calls.max(1))
    }

    pub(crate) fn finish(self) -> Result<(), String> {
        misdelivered(&self.net)
    }
}

/// Untimed: lets the last ACKs go, so no timer of the active connection
/// fires while fillers hold the network.
fn settle<N: Node>(net: &mut Net, client: &mut N, server: &mut N) -> Result<(), String> {
    net.run(client, server, true, |_, _, c, s| {
        while c.poll_app().is_some() {}
        while s.poll_app().is_some() {}
        Progress::Done
    })
}

/// `count` request/response exchanges, one after the other.
#[allow(
    clippy::too_many_arguments,
    reason = "one call site; the pieces are distinct"
)]
fn exchange<N: Node>(
    net: &mut Net,
    client: &mut N,
    server: &mut N,
    conn: N::Conn,
    server_conn: N::Conn,
    count: usize,
    request: &Bytes,
    response: &Bytes,
) -> Result<(), String> {
    let mut done = 0;
    let mut current: Option<(N::Stream, usize)> = None;
    let mut serving: Vec<(N::Stream, usize)> = Vec::new();
    let mut error = None;
    net.run(client, server, false, |_, _, c, s| {
        // Client: one request at a time.
        while let Some((h, ev)) = c.poll_app() {
            if h != conn {
                continue;
            }
            if let (AppEvent::Readable(id), Some((cur, got))) = (ev, current.as_mut()) {
                if id == *cur {
                    let mut n = 0;
                    let fin = c.read(h, id, &mut |d| n += d.len());
                    *got += n;
                    if fin {
                        if *got != MESSAGE {
                            error = Some(format!("response of {} bytes", *got));
                        }
                        done += 1;
                        current = None;
                    }
                }
            }
        }
        if current.is_none() && done < count {
            if let Some(id) = c.open(conn, true) {
                let mut req = request.clone();
                while !req.is_empty() && c.write(conn, id, &mut req) {}
                c.finish(conn, id);
                current = Some((id, 0));
            }
        }
        // Server: answer each request once it is complete.
        while let Some((h, ev)) = s.poll_app() {
            if h != server_conn {
                continue;
            }
            match ev {
                AppEvent::Opened => {
                    while let Some(id) = s.accept(h, true) {
                        serving.push((id, 0));
                    }
                }
                AppEvent::Readable(_) => {}
                _ => continue,
            }
            let mut i = 0;
            while i < serving.len() {
                let (id, got) = &mut serving[i];
                let id = *id;
                let mut n = 0;
                let fin = s.read(h, id, &mut |d| n += d.len());
                *got += n;
                if fin {
                    let mut resp = response.clone();
                    while !resp.is_empty() && s.write(h, id, &mut resp) {}
                    s.finish(h, id);
                    serving.swap_remove(i);
                } else {
                    i += 1;
                }
            }
        }
        if done == count || error.is_some() {
            Progress::Done
        } else {
            Progress::Going
        }
    })?;
    match error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}
