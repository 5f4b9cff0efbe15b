//! The socket loop: one endpoint on its sockets until a callback ends it.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::{Events, Interest, Poll, Token, Waker};
use quic_proto::connection::Event;
use quic_proto::endpoint::{ConnectionHandle, Endpoint};

use crate::socket::{IoStats, RecvBuffers, Sender, Socket, SyscallStats};
use crate::thread::{LoopWaker, NetworkThread};
use crate::Params;

/// The waker's token; socket `i` has token `i + 1`.
const WAKER: Token = Token(0);

/// The most receive calls (batches) taken from one socket before the loop
/// sends again, so a flood in one direction cannot starve our ACKs.
const MAX_RECV_CALLS: usize = 8;

/// What a callback wants next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub enum LoopControl<T> {
    /// Keep running.
    Continue,
    /// Send what is ready, then return `Ok(T)` from the loop.
    Exit(T),
}

/// What every callback returns: go on, exit with a value, or fail with
/// the application's error (the loop then returns at once).
pub type Flow<T, E> = Result<LoopControl<T>, E>;

/// Why the loop ended without a callback's `Exit`.
#[derive(Debug)]
#[non_exhaustive]
pub enum LoopError<E> {
    /// A callback returned this error.
    Callback(E),
    /// Opening, waiting on or receiving from a socket failed. (Failed
    /// sends are not errors: the datagram counts as lost.)
    Io(io::Error),
    /// The network thread panicked; the panic's message.
    Panicked(String),
}

impl<E: std::fmt::Display> std::fmt::Display for LoopError<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Callback(e) => write!(f, "{e}"),
            Self::Io(e) => write!(f, "socket loop: {e}"),
            Self::Panicked(m) => write!(f, "the network thread panicked: {m}"),
        }
    }
}

impl<E: std::fmt::Debug + std::fmt::Display> std::error::Error for LoopError<E> {}

impl<E> From<io::Error> for LoopError<E> {
    fn from(e: io::Error) -> Self {
        Self::Io(e)
    }
}

/// The application's side of the loop. Every method has a default that
/// does nothing and continues; each gets the [`Context`] (the endpoint and
/// `now`) and may end the loop.
///
/// The endpoint belongs to the loop's thread: application code reaches it
/// only from these callbacks (from another thread, send a command and
/// wake the loop; see [`Commands`](crate::Commands)). After any callback
/// the loop sends what the endpoint has ready before it waits, so writing
/// to a stream from any callback is enough to send it.
pub trait Callbacks {
    /// What the loop returns when a callback exits it.
    type Output;
    /// The error a callback may end the loop with.
    type Error;

    /// The sockets are open (their bound addresses, primary ones first)
    /// and the loop is about to start; a client typically connects here.
    fn ready(
        &mut self,
        cx: &mut Context<'_>,
        local: &[SocketAddr],
    ) -> Flow<Self::Output, Self::Error> {
        let _ = (cx, local);
        Ok(LoopControl::Continue)
    }

    /// One event from [`Endpoint::poll_event`]; the loop polls them all,
    /// after receiving, after timers and after each send pass.
    fn event(
        &mut self,
        cx: &mut Context<'_>,
        handle: ConnectionHandle,
        event: Event,
    ) -> Flow<Self::Output, Self::Error> {
        let _ = (cx, handle, event);
        Ok(LoopControl::Continue)
    }

    /// After a pass of receiving that handed `datagrams` (at least one) to
    /// the endpoint.
    fn after_receive(
        &mut self,
        cx: &mut Context<'_>,
        datagrams: usize,
    ) -> Flow<Self::Output, Self::Error> {
        let _ = (cx, datagrams);
        Ok(LoopControl::Continue)
    }

    /// After the endpoint's datagrams were sent (`datagrams` may be 0),
    /// once per turn of the loop, before it waits.
    fn after_send(
        &mut self,
        cx: &mut Context<'_>,
        datagrams: usize,
    ) -> Flow<Self::Output, Self::Error> {
        let _ = (cx, datagrams);
        Ok(LoopControl::Continue)
    }

    /// Before waiting: `wake` is when the loop will next wake on its own
    /// (the endpoint's next timer). Set it earlier to be called back
    /// sooner; a later time is ignored.
    fn time_check(
        &mut self,
        cx: &mut Context<'_>,
        wake: &mut Option<Instant>,
    ) -> Flow<Self::Output, Self::Error> {
        let _ = (cx, wake);
        Ok(LoopControl::Continue)
    }

    /// The loop's [`LoopWaker`] was woken (from any thread).
    fn wake(&mut self, cx: &mut Context<'_>) -> Flow<Self::Output, Self::Error> {
        let _ = cx;
        Ok(LoopControl::Continue)
    }

    /// System-call durations since the sockets were opened, every
    /// [`Params::syscall_stats`] interval.
    fn syscall_stats(
        &mut self,
        cx: &mut Context<'_>,
        stats: &SyscallStats,
    ) -> Flow<Self::Output, Self::Error> {
        let _ = (cx, stats);
        Ok(LoopControl::Continue)
    }
}

/// What a callback may use: the endpoint, the time, and the loop's sockets.
pub struct Context<'a> {
    /// The endpoint the loop drives.
    pub endpoint: &'a mut Endpoint,
    /// The time the loop read last; pass it to the endpoint's calls.
    pub now: Instant,
    io: &'a mut Io,
}

impl std::fmt::Debug for Context<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("now", &self.now)
            .field("sockets", &self.local_addrs())
            .finish_non_exhaustive()
    }
}

impl Context<'_> {
    /// The sockets' bound addresses, in the order of [`Params::open`].
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.io.sockets.iter().map(Socket::local_addr).collect()
    }

    /// Sends from socket `index` (see [`Context::local_addrs`]) whenever it
    /// can reach the destination; `None` restores the default choice. With
    /// [`Params::extra_port`] this changes our address mid-connection.
    pub fn set_send_socket(&mut self, index: Option<usize>) {
        self.io.sender.set_preferred_socket(index);
    }

    /// The socket layer's counters so far.
    pub fn io_stats(&self) -> &IoStats {
        &self.io.stats
    }

    /// Whether sends are batched with GSO (false once the fallback ran).
    pub fn gso_enabled(&self) -> bool {
        self.io.sender.gso_enabled()
    }
}

/// The loop's sockets and buffers, lent to callbacks through [`Context`].
struct Io {
    sockets: Vec<Socket<mio::net::UdpSocket>>,
    sender: Sender,
    recv: RecvBuffers,
    stats: IoStats,
}

/// Open sockets and their poller, ready to run an endpoint in this
/// thread ([`SocketLoop::run`]) or in a network thread
/// ([`SocketLoop::spawn`]). Binding first gives the addresses and the
/// waker before anything runs.
pub struct SocketLoop {
    poll: Poll,
    events: Events,
    waker: Arc<Waker>,
    io: Io,
    /// Sockets that may hold datagrams (an event came and they were not
    /// drained yet).
    readable: Vec<bool>,
    /// Sockets registered for writability (a send is waiting on them).
    write_interest: Vec<bool>,
    stats_interval: Option<Duration>,
    /// An event taken from the endpoint to learn that one was waiting.
    held: Option<(ConnectionHandle, Event)>,
}

impl std::fmt::Debug for SocketLoop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SocketLoop")
            .field("sockets", &self.io.sockets)
            .field("sender", &self.io.sender)
            .finish_non_exhaustive()
    }
}

impl SocketLoop {
    /// Opens the sockets `params` describe and registers them.
    pub fn bind(params: &Params) -> io::Result<Self> {
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let mut sockets = Vec::new();
        for (i, std_socket) in params.open()?.into_iter().enumerate() {
            let mut socket = Socket::new(mio::net::UdpSocket::from_std(std_socket))?;
            poll.registry()
                .register(socket.get_mut(), Token(i + 1), Interest::READABLE)?;
            sockets.push(socket);
        }
        let gro = sockets.iter().map(Socket::gro_segments).max().unwrap_or(1);
        let n = sockets.len();
        Ok(Self {
            poll,
            events: Events::with_capacity(64),
            waker,
            io: Io {
                sockets,
                sender: Sender::new(params.send_config()),
                recv: RecvBuffers::new(gro),
                stats: IoStats::new(params.syscall_stats.is_some()),
            },
            readable: vec![true; n],
            write_interest: vec![false; n],
            stats_interval: params.syscall_stats,
            held: None,
        })
    }

    /// The sockets' bound addresses, primary ones first.
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.io.sockets.iter().map(Socket::local_addr).collect()
    }

    /// A handle that wakes the loop from any thread (the
    /// [`Callbacks::wake`] callback runs).
    pub fn waker(&self) -> LoopWaker {
        LoopWaker::new(self.waker.clone())
    }

    /// The socket layer's counters so far.
    pub fn io_stats(&self) -> &IoStats {
        &self.io.stats
    }

    /// Runs `endpoint` in this thread until a callback exits or fails.
    /// May be called again afterwards (the sockets stay open).
    pub fn run<C: Callbacks + ?Sized>(
        &mut self,
        endpoint: &mut Endpoint,
        callbacks: &mut C,
    ) -> Result<C::Output, LoopError<C::Error>> {
        // Anything may have arrived since the last run.
        self.readable.fill(true);
        let mut now = crate::now();
        let local = self.local_addrs();
        // One macro so that every callback's answer is handled alike.
        macro_rules! call {
            ($method:ident $(, $arg:expr)*) => {{
                let mut cx = Context { endpoint: &mut *endpoint, now, io: &mut self.io };
                match callbacks.$method(&mut cx $(, $arg)*) {
                    Ok(LoopControl::Continue) => {}
                    Ok(LoopControl::Exit(value)) => {
                        self.flush(endpoint, crate::now());
                        return Ok(value);
                    }
                    Err(e) => return Err(LoopError::Callback(e)),
                }
            }};
        }
        call!(ready, &local);
        let mut next_stats = self.stats_interval.map(|i| now + i);
        loop {
            // Events and sends until the application has nothing to add.
            let mut sent = 0;
            loop {
                let mut delivered = false;
                while let Some((handle, event)) = self.held.take().or_else(|| endpoint.poll_event())
                {
                    delivered = true;
                    call!(event, handle, event);
                }
                sent += self.flush(endpoint, now);
                if !delivered {
                    break;
                }
                now = crate::now();
            }
            call!(after_send, sent);
            let timer = endpoint.next_wake_time();
            let mut wake = timer;
            call!(time_check, &mut wake);
            let wake = match (timer, wake) {
                (Some(t), Some(w)) => Some(t.min(w)),
                (t, w) => t.or(w),
            };
            // The last two callbacks may have used the endpoint.
            let more = self.flush(endpoint, now) > 0;
            if let Some(held) = endpoint.poll_event() {
                self.held = Some(held);
                continue;
            }
            if more {
                continue;
            }
            let wake = [wake, next_stats].into_iter().flatten().min();
            let timeout = if self.readable.contains(&true) {
                Some(Duration::ZERO)
            } else {
                wake.map(|w| w.saturating_duration_since(now))
            };
            let woke = self.wait(timeout)?;
            now = crate::now();
            if woke {
                call!(wake);
            }
            let received = self.receive(endpoint, now)?;
            if received > 0 {
                call!(after_receive, received);
            }
            if endpoint.next_wake_time().is_some_and(|t| t <= now) {
                endpoint.handle_timeout(now);
            }
            if let (Some(at), Some(interval)) = (next_stats, self.stats_interval) {
                if now >= at {
                    next_stats = Some(now + interval);
                    let stats = self.io.stats.syscalls.unwrap_or_default();
                    call!(syscall_stats, &stats);
                }
            }
        }
    }

    /// Moves the loop, `endpoint` and `callbacks` to a new network thread
    /// named `quic-network`, which runs until a callback exits or fails.
    pub fn spawn<C>(
        self,
        endpoint: Endpoint,
        callbacks: C,
    ) -> io::Result<NetworkThread<C::Output, C::Error>>
    where
        C: Callbacks + Send + 'static,
        C::Output: Send + 'static,
        C::Error: Send + 'static,
    {
        let waker = self.waker();
        let handle = std::thread::Builder::new()
            .name("quic-network".into())
            .spawn(move || {
                let (mut lp, mut endpoint, mut callbacks) = (self, endpoint, callbacks);
                lp.run(&mut endpoint, &mut callbacks)
            })?;
        Ok(NetworkThread::new(handle, waker))
    }

    /// Sends what the endpoint has ready; registers for writability when a
    /// socket would block. Returns the datagrams sent.
    fn flush(&mut self, endpoint: &mut Endpoint, now: Instant) -> usize {
        let out = self
            .io
            .sender
            .flush(endpoint, now, &self.io.sockets, &mut self.io.stats);
        if let Some(i) = out.blocked_on {
            if !self.write_interest[i] {
                let token = Token(i + 1);
                let interest = Interest::READABLE | Interest::WRITABLE;
                // If this fails the retry happens on the next turn instead.
                if self
                    .poll
                    .registry()
                    .reregister(self.io.sockets[i].get_mut(), token, interest)
                    .is_ok()
                {
                    self.write_interest[i] = true;
                }
            }
        }
        out.datagrams
    }

    /// Waits for readiness or `timeout`; marks readable sockets and drops
    /// write interest that was answered. Returns whether the waker fired.
    fn wait(&mut self, timeout: Option<Duration>) -> io::Result<bool> {
        match self.poll.poll(&mut self.events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(false),
            Err(e) => return Err(e),
        }
        let mut woke = false;
        for event in self.events.iter() {
            let Some(i) = event.token().0.checked_sub(1) else {
                woke = true;
                continue;
            };
            if i >= self.readable.len() {
                continue;
            }
            if event.is_readable() || event.is_error() || event.is_read_closed() {
                self.readable[i] = true;
            }
            if event.is_writable() && self.write_interest[i] {
                self.write_interest[i] = false;
                self.poll.registry().reregister(
                    self.io.sockets[i].get_mut(),
                    Token(i + 1),
                    Interest::READABLE,
                )?;
            }
        }
        Ok(woke)
    }

    /// Receives from every socket that may hold datagrams, a bounded number
    /// of batches each. Returns the datagrams handed to the endpoint.
    fn receive(&mut self, endpoint: &mut Endpoint, now: Instant) -> io::Result<usize> {
        let mut total = 0;
        let io = &mut self.io;
        for (i, socket) in io.sockets.iter_mut().enumerate() {
            if !self.readable[i] {
                continue;
            }
            let got = socket.receive(endpoint, now, &mut io.recv, MAX_RECV_CALLS, &mut io.stats)?;
            self.readable[i] = !got.drained;
            total += got.datagrams;
        }
        Ok(total)
    }
}

/// Opens the sockets of `params` and runs `endpoint` in this thread until a
/// callback exits or fails (see [`SocketLoop::run`]).
pub fn run<C: Callbacks + ?Sized>(
    params: &Params,
    endpoint: &mut Endpoint,
    callbacks: &mut C,
) -> Result<C::Output, LoopError<C::Error>> {
    SocketLoop::bind(params)?.run(endpoint, callbacks)
}

/// Opens the sockets of `params` and runs `endpoint` in a network thread
/// (see [`SocketLoop::spawn`]). Bind with [`SocketLoop::bind`] first to
/// learn the addresses or hand out the waker before the thread starts.
pub fn spawn<C>(
    params: &Params,
    endpoint: Endpoint,
    callbacks: C,
) -> io::Result<NetworkThread<C::Output, C::Error>>
where
    C: Callbacks + Send + 'static,
    C::Output: Send + 'static,
    C::Error: Send + 'static,
{
    SocketLoop::bind(params)?.spawn(endpoint, callbacks)
}
