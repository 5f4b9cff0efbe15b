//! The in-memory network both stacks run on: one thread, two FIFO queues
//! (one per direction), a virtual clock, no loss.
//!
//! A *turn* is: the client takes every datagram queued for it and sends
//! (at least [`BATCH`] datagrams or everything it has), then the server
//! does the same. Between turns the application reacts to events. The clock
//! moves by [`TURN_STEP`] per turn while anything moves, and jumps to the
//! earliest timer when everything is quiet.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};

/// Datagrams a node may produce per turn: both stacks keep calling their
/// send function (each call a segmentation-offload batch of up to this
/// many datagrams) until they have sent at least this many or have nothing
/// left; in steady state that is one full batch per turn.
pub(crate) const BATCH: usize = 20;

/// The largest datagram either stack sends here (both use 1200 bytes).
pub(crate) const MAX_DATAGRAM: usize = 1500;

/// How far the virtual clock moves per turn while datagrams flow: about
/// what a turn of 20 datagrams each way costs in CPU, so RTT samples are
/// small but not zero.
pub(crate) const TURN_STEP: Duration = Duration::from_micros(25);

/// Everything is settled once no datagram moves and no timer is due
/// within this long.
pub(crate) const QUIET: Duration = Duration::from_secs(1);

/// Quiet turns in a row (timer jumps) after which a run counts as stuck
/// and the benchmark stops with an error.
const MAX_IDLE_JUMPS: usize = 10_000;

/// Where a queued datagram goes; its bytes wait in the wire's pool.
struct Meta {
    from: SocketAddr,
    to: SocketAddr,
    ecn: u8,
    len: usize,
}

/// One datagram arriving: its addresses, and its bytes at the front of
/// the wire's pool. The receiving stack takes the bytes in the form its
/// API takes them: in place ([`Datagram::bytes_mut`], ours) or as an owned
/// `BytesMut` split off the pool ([`Datagram::into_owned`], quinn-proto).
/// Neither copies.
pub(crate) struct Datagram<'a> {
    pub from: SocketAddr,
    pub to: SocketAddr,
    /// The ECN codepoint in the two low bits (0: Not-ECT).
    pub ecn: u8,
    len: usize,
    pool: &'a mut BytesMut,
    taken: bool,
}

impl Datagram<'_> {
    /// The bytes, in the pool.
    pub(crate) fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.pool[..self.len]
    }

    /// The bytes as an owned buffer sharing the pool's allocation.
    pub(crate) fn into_owned(mut self) -> BytesMut {
        self.taken = true;
        self.pool.split_to(self.len)
    }
}

impl Drop for Datagram<'_> {
    /// A datagram whose bytes were used in place (or not at all) leaves
    /// the pool here.
    fn drop(&mut self) {
        if !self.taken {
            self.pool.advance(self.len);
        }
    }
}

/// One direction of the network: a FIFO of datagrams whose bytes live in
/// one reused pool buffer, in order, so the harness itself neither
/// allocates nor counts references per datagram. Both stacks get exactly
/// one copy per datagram: from the sender's buffer into the pool.
pub(crate) struct Wire {
    pool: BytesMut,
    queue: VecDeque<Meta>,
}

/// Room reserved in a wire's pool at the start of each send phase: two
/// full batches (a node may overshoot one batch by one call).
const POOL_ROOM: usize = 2 * BATCH * MAX_DATAGRAM + 4096;

impl Wire {
    pub(crate) fn new() -> Self {
        Self {
            pool: BytesMut::with_capacity(POOL_ROOM),
            queue: VecDeque::with_capacity(4 * BATCH),
        }
    }

    /// Called before a send phase: with every earlier datagram delivered
    /// and dropped, the pool is ours alone again and `reserve` reuses it
    /// in place.
    pub(crate) fn prepare(&mut self) {
        self.pool.reserve(POOL_ROOM);
    }

    /// Queues a copy of `bytes`.
    pub(crate) fn push(&mut self, from: SocketAddr, to: SocketAddr, ecn: u8, bytes: &[u8]) {
        self.pool.extend_from_slice(bytes);
        self.queue.push_back(Meta {
            from,
            to,
            ecn,
            len: bytes.len(),
        });
    }

    /// The next datagram; its bytes leave the pool when it is dropped or
    /// taken.
    pub(crate) fn pop(&mut self) -> Option<Datagram<'_>> {
        let Meta { from, to, ecn, len } = self.queue.pop_front()?;
        Some(Datagram {
            from,
            to,
            ecn,
            len,
            pool: &mut self.pool,
            taken: false,
        })
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }
}

/// What the application hears from a connection, the same for both stacks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AppEvent<S> {
    Connected,
    /// The peer opened streams: accept until `None`.
    Opened,
    Readable(S),
    Writable(S),
    /// Everything we wrote on the stream, FIN included, was acknowledged.
    Finished(S),
    /// The connection closed (for any reason).
    Closed,
    /// The connection's state is gone.
    Drained,
}

/// One endpoint of one stack, with the application calls the figures
/// need. Both stacks implement it; every figure is written once, against
/// this trait, so both run the same application code.
pub(crate) trait Node {
    type Conn: Copy + Eq + std::fmt::Debug;
    type Stream: Copy + Eq + std::fmt::Debug;

    /// The address this endpoint sends from.
    fn addr(&self) -> SocketAddr;
    /// One datagram from the network.
    fn receive(&mut self, now: Instant, datagram: Datagram<'_>);
    /// Sends at least [`BATCH`] datagrams, or all it has, into `wire`;
    /// returns how many.
    fn transmit(&mut self, now: Instant, wire: &mut Wire) -> usize;
    /// When the node next needs a call with `now`, if ever.
    fn next_wake(&mut self) -> Option<Instant>;
    /// Starts a connection to `server`.
    fn connect(&mut self, now: Instant, server: SocketAddr) -> Result<Self::Conn, String>;
    /// The next application event.
    fn poll_app(&mut self) -> Option<(Self::Conn, AppEvent<Self::Stream>)>;
    fn open(&mut self, conn: Self::Conn, bidi: bool) -> Option<Self::Stream>;
    fn accept(&mut self, conn: Self::Conn, bidi: bool) -> Option<Self::Stream>;
    /// Takes a prefix of `data` without copying and advances it; false
    /// when nothing could be taken.
    fn write(&mut self, conn: Self::Conn, stream: Self::Stream, data: &mut Bytes) -> bool;
    fn finish(&mut self, conn: Self::Conn, stream: Self::Stream);
    /// Reads everything available in order, handing each chunk to `sink`;
    /// returns whether the end of the stream was reached.
    fn read(&mut self, conn: Self::Conn, stream: Self::Stream, sink: &mut dyn FnMut(&[u8]))
        -> bool;
    /// Closes the connection (application code 0).
    fn close(&mut self, now: Instant, conn: Self::Conn);
    /// The negotiated TLS cipher suite, where the stack tells.
    fn cipher_suite(&mut self, conn: Self::Conn) -> Option<rustls::CipherSuite>;
}

/// Counters of one run of turns.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Counts {
    pub client_datagrams: u64,
    pub server_datagrams: u64,
    /// Datagrams addressed to nobody present (must stay 0).
    pub misdelivered: u64,
}

/// The network and the clock.
pub(crate) struct Net {
    pub now: Instant,
    c2s: Wire,
    s2c: Wire,
    pub counts: Counts,
}

/// Whether the application still has something to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Progress {
    /// The goal is reached.
    Done,
    /// Keep going.
    Going,
}

impl Net {
    pub(crate) fn new(now: Instant) -> Self {
        Self {
            now,
            c2s: Wire::new(),
            s2c: Wire::new(),
            counts: Counts::default(),
        }
    }

    /// One turn; returns how many datagrams were sent.
    pub(crate) fn turn<N: Node>(&mut self, client: &mut N, server: &mut N) -> usize {
        let now = self.now;
        deliver(&mut self.s2c, client, now, &mut self.counts.misdelivered);
        self.c2s.prepare();
        let a = client.transmit(now, &mut self.c2s);
        deliver(&mut self.c2s, server, now, &mut self.counts.misdelivered);
        self.s2c.prepare();
        let b = server.transmit(now, &mut self.s2c);
        self.counts.client_datagrams += a as u64;
        self.counts.server_datagrams += b as u64;
        a + b
    }

    /// Runs turns, calling `app` after each, until it returns
    /// [`Progress::Done`] and, if `settle`, the network is then quiet:
    /// nothing in flight and no timer due within [`QUIET`].
    pub(crate) fn run<N: Node>(
        &mut self,
        client: &mut N,
        server: &mut N,
        settle: bool,
        mut app: impl FnMut(&Counts, Instant, &mut N, &mut N) -> Progress,
    ) -> Result<(), String> {
        let mut jumps = 0;
        let mut quiet_turns = 0;
        loop {
            let moved = self.turn(client, server);
            let progress = app(&self.counts, self.now, client, server);
            if progress == Progress::Done && !settle {
                return Ok(());
            }
            let quiet = moved == 0 && self.c2s.is_empty() && self.s2c.is_empty();
            if !quiet {
                jumps = 0;
                quiet_turns = 0;
                self.now += TURN_STEP;
                continue;
            }
            // The application may have acted after the quiet turn: one
            // more turn at the same instant sends what it queued before
            // the clock jumps.
            quiet_turns += 1;
            if quiet_turns < 2 {
                continue;
            }
            let wake = [client.next_wake(), server.next_wake()]
                .into_iter()
                .flatten()
                .min();
            if progress == Progress::Done && wake.is_none_or(|t| t > self.now + QUIET) {
                return Ok(());
            }
            match wake {
                Some(t) => {
                    jumps += 1;
                    if jumps > MAX_IDLE_JUMPS {
                        return Err(format!("no progress after {jumps} timer jumps"));
                    }
                    self.now = self.now.max(t);
                    quiet_turns = 0;
                }
                None => return Err("stalled: nothing to send and no timer".into()),
            }
        }
    }
}

fn deliver<N: Node>(wire: &mut Wire, node: &mut N, now: Instant, misdelivered: &mut u64) {
    let addr = node.addr();
    while let Some(d) = wire.pop() {
        if d.to == addr {
            node.receive(now, d);
        } else {
            *misdelivered += 1;
        }
    }
}
