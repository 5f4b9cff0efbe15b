//! [`QuicMio`]: an endpoint and its UDP sockets as sources of a mio loop.

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::event::Event as MioEvent;
use mio::net::UdpSocket;
use mio::{Interest, Registry, Token};
use quic_io_std::socket::{Flushed, IoStats, RecvBuffers, SendConfig, Sender, Socket};
use quic_io_std::Params;
use quic_proto::connection::{Connection, Event};
use quic_proto::endpoint::{ConnectionHandle, Endpoint};

/// One QUIC endpoint on one or more non-blocking UDP sockets, driven by
/// an event loop the application owns.
///
/// The adapter registers its sockets in the application's
/// [`mio::Registry`] under tokens the application chooses
/// ([`QuicMio::register`]) and does socket work only when called:
///
/// | call | when | what |
/// |---|---|---|
/// | [`on_event`](QuicMio::on_event) | for every event (it ignores other tokens) | readable: [`on_readable`](QuicMio::on_readable) of that socket; writable: [`on_writable`](QuicMio::on_writable) |
/// | [`handle_timeout`](QuicMio::handle_timeout) | after every poll | runs the endpoint's timers that are due |
/// | [`poll_event`](QuicMio::poll_event) | until `None` | the endpoint's events, for the application |
/// | [`flush`](QuicMio::flush) | before every poll, after the application's writes | sends everything ready |
/// | [`timeout`](QuicMio::timeout) | as the argument of `Poll::poll` | when the endpoint needs a call again |
///
/// Readiness is edge-triggered: a readable socket is drained until it
/// would block (or, with [`QuicMio::set_recv_budget`], until the budget
/// runs out, after which [`QuicMio::read_pending`] says so). A send the
/// kernel refuses with `WouldBlock` is kept, the socket is registered for
/// writability, and the next flush (on its writable event) sends it
/// first; the interest is dropped again once the sender is no longer
/// blocked, so ordinary sends cause no wake-ups.
///
/// The endpoint belongs to the thread running the loop. Other threads
/// reach it through a command queue ([`crate::commands`]) that wakes the
/// loop with a `mio::Waker`.
pub struct QuicMio {
    endpoint: Endpoint,
    sockets: Vec<Socket<UdpSocket>>,
    /// Each socket's token, once registered.
    tokens: Vec<Option<Token>>,
    /// Sockets registered for writability (a send waits on them).
    write_interest: Vec<bool>,
    /// Sockets a budgeted receive left before they would block.
    undrained: Vec<bool>,
    recv_budget: Option<usize>,
    sender: Sender,
    recv: RecvBuffers,
    stats: IoStats,
}

impl std::fmt::Debug for QuicMio {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QuicMio")
            .field("sockets", &self.sockets)
            .field("tokens", &self.tokens)
            .field("sender", &self.sender)
            .field("connections", &self.endpoint.connection_count())
            .finish_non_exhaustive()
    }
}

impl QuicMio {
    /// Runs `endpoint` on one bound UDP socket (made non-blocking here).
    /// Sends are batched up to the endpoint's
    /// `EndpointConfig::max_gso_segments` where the platform has GSO.
    pub fn new(endpoint: Endpoint, socket: UdpSocket) -> io::Result<Self> {
        let mut config = SendConfig::default();
        config.max_batch = endpoint.max_gso_segments().max(1);
        Self::with_sockets(endpoint, vec![socket], config)
    }

    /// Opens the sockets `params` describe ([`Params::open`]: by default
    /// one IPv4 and one IPv6 socket on a shared port) and runs `endpoint`
    /// on them, sending as [`Params::send_config`] says (give the endpoint
    /// `EndpointConfig::max_gso_segments = params.max_send_batch`). System
    /// calls are timed if [`Params::syscall_stats`] is set.
    pub fn bind(endpoint: Endpoint, params: &Params) -> io::Result<Self> {
        let sockets = params.open()?.into_iter().map(UdpSocket::from_std);
        let mut quic = Self::with_sockets(endpoint, sockets.collect(), params.send_config())?;
        quic.set_syscall_timing(params.syscall_stats.is_some());
        Ok(quic)
    }

    /// Runs `endpoint` on `sockets` (at least one; bound, made non-blocking
    /// here), sending as `config` says. Each datagram leaves through the
    /// first socket of its address family, preferring one bound to the
    /// source address the endpoint chose.
    pub fn with_sockets(
        endpoint: Endpoint,
        sockets: Vec<UdpSocket>,
        config: SendConfig,
    ) -> io::Result<Self> {
        if sockets.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "QuicMio needs at least one socket",
            ));
        }
        let sockets = sockets
            .into_iter()
            .map(Socket::new)
            .collect::<io::Result<Vec<_>>>()?;
        let gro = sockets.iter().map(Socket::gro_segments).max().unwrap_or(1);
        let n = sockets.len();
        Ok(Self {
            endpoint,
            sockets,
            tokens: vec![None; n],
            write_interest: vec![false; n],
            undrained: vec![false; n],
            recv_budget: None,
            sender: Sender::new(config),
            recv: RecvBuffers::new(gro),
            stats: IoStats::new(false),
        })
    }

    // ---- registration ---------------------------------------------------------------

    /// Registers the sockets for readability: socket `i` (in the order of
    /// [`QuicMio::local_addrs`]) under `Token(token.0 + i)`, so one socket
    /// takes `token` alone. Registering again moves them to new tokens.
    pub fn register(&mut self, registry: &Registry, token: Token) -> io::Result<()> {
        for i in 0..self.sockets.len() {
            let t = token
                .0
                .checked_add(i)
                .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "token out of range"))?;
            self.register_socket(registry, i, Token(t))?;
        }
        Ok(())
    }

    /// Registers socket `index` alone under `token` (for applications that
    /// hand out tokens one by one); again: moves it to `token`.
    pub fn register_socket(
        &mut self,
        registry: &Registry,
        index: usize,
        token: Token,
    ) -> io::Result<()> {
        let Some(socket) = self.sockets.get_mut(index) else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("no socket {index}"),
            ));
        };
        let interest = interest(self.write_interest[index]);
        match self.tokens[index] {
            Some(_) => registry.reregister(socket.get_mut(), token, interest)?,
            None => registry.register(socket.get_mut(), token, interest)?,
        }
        self.tokens[index] = Some(token);
        Ok(())
    }

    /// Removes the sockets from `registry` (before dropping the adapter or
    /// moving it to another loop).
    pub fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
        for (i, socket) in self.sockets.iter_mut().enumerate() {
            if self.tokens[i].take().is_some() {
                registry.deregister(socket.get_mut())?;
            }
            self.write_interest[i] = false;
        }
        Ok(())
    }

    /// Whether `token` is one of the adapter's sockets.
    pub fn owns(&self, token: Token) -> bool {
        self.socket_of(token).is_some()
    }

    /// The index of the socket registered under `token`.
    pub fn socket_of(&self, token: Token) -> Option<usize> {
        self.tokens.iter().position(|t| *t == Some(token))
    }

    // ---- readiness -----------------------------------------------------------------

    /// Handles one event of the application's poll if its token is one of
    /// ours: a readable (or error) event drains that socket into the
    /// endpoint, a writable event flushes. Returns whether the event was
    /// ours; events of other sources are left alone.
    pub fn on_event(
        &mut self,
        registry: &Registry,
        event: &MioEvent,
        now: Instant,
    ) -> io::Result<bool> {
        let Some(i) = self.socket_of(event.token()) else {
            return Ok(false);
        };
        if event.is_readable() || event.is_error() || event.is_read_closed() {
            self.receive_from(i, now)?;
        }
        if event.is_writable() {
            self.on_writable(registry, now)?;
        }
        Ok(true)
    }

    /// Receives from every socket until it would block (or the budget of
    /// [`QuicMio::set_recv_budget`] runs out), handing each datagram to
    /// the endpoint. Returns how many there were. Call it when a socket of
    /// ours is readable ([`QuicMio::on_event`] does, for that socket alone)
    /// and whenever [`QuicMio::read_pending`] holds.
    pub fn on_readable(&mut self, now: Instant) -> io::Result<usize> {
        let mut total = 0;
        for i in 0..self.sockets.len() {
            total += self.receive_from(i, now)?;
        }
        Ok(total)
    }

    fn receive_from(&mut self, i: usize, now: Instant) -> io::Result<usize> {
        let budget = self.recv_budget.unwrap_or(usize::MAX);
        let got = self.sockets[i].receive(
            &mut self.endpoint,
            now,
            &mut self.recv,
            budget,
            &mut self.stats,
        )?;
        self.undrained[i] = !got.drained;
        Ok(got.datagrams)
    }

    /// Limits each socket's receive to `batches` calls (each up to 32
    /// datagrams, or GRO batches) per [`QuicMio::on_readable`] or readable
    /// event, so that a flood on our sockets cannot starve the loop's other
    /// sources; `None` (the default) drains until the socket would block.
    /// With a budget, a socket may be left holding datagrams: then
    /// [`QuicMio::read_pending`] is true, [`QuicMio::timeout`] is zero,
    /// and the loop must call [`QuicMio::on_readable`] again without
    /// waiting for an event (edge-triggered readiness will not repeat).
    pub fn set_recv_budget(&mut self, batches: Option<usize>) {
        self.recv_budget = batches.map(|b| b.max(1));
    }

    /// Whether a budgeted receive left datagrams on a socket: call
    /// [`QuicMio::on_readable`] this turn, event or not.
    pub fn read_pending(&self) -> bool {
        self.undrained.contains(&true)
    }

    /// Sends everything the endpoint has ready: first what a socket
    /// refused last time, then new datagrams, until the endpoint has
    /// nothing more or a socket would block.
    ///
    /// When a socket would block, the refused datagrams are kept and the
    /// socket is (re)registered for writability, so the loop gets a
    /// writable event for it once the kernel has room (at once if it
    /// already has); [`QuicMio::on_writable`] then flushes again. Once a
    /// flush is no longer blocked, the writable interest is dropped.
    /// (Before [`QuicMio::register`] there is no event to wait for: the
    /// next flush simply tries again.)
    /// Errors come only from the registry; failed sends are not errors
    /// (the datagram counts as lost and loss recovery resends its content;
    /// see [`IoStats::send_errors`]).
    pub fn flush(&mut self, registry: &Registry, now: Instant) -> io::Result<Flushed> {
        let out = self
            .sender
            .flush(&mut self.endpoint, now, &self.sockets, &mut self.stats);
        for i in 0..self.sockets.len() {
            let want = out.blocked_on == Some(i);
            // Blocked: register again even if already interested, which
            // re-arms the edge (the writable event may have been used).
            if want || self.write_interest[i] {
                if let Some(token) = self.tokens[i] {
                    registry.reregister(self.sockets[i].get_mut(), token, interest(want))?;
                    self.write_interest[i] = want;
                }
            }
        }
        Ok(out)
    }

    /// A socket of ours became writable: sends what waited, and more (see
    /// [`QuicMio::flush`]).
    pub fn on_writable(&mut self, registry: &Registry, now: Instant) -> io::Result<Flushed> {
        self.flush(registry, now)
    }

    /// Whether a send waits for a socket to become writable.
    pub fn is_blocked(&self) -> bool {
        self.sender.blocked_on().is_some()
    }

    // ---- time ----------------------------------------------------------------------

    /// How long `Poll::poll` may wait: until the endpoint's next timer
    /// (`None`: no timer, wait for events alone), or zero while the
    /// endpoint holds events not yet taken with [`QuicMio::poll_event`] or
    /// a budgeted receive left datagrams ([`QuicMio::read_pending`]).
    /// Take the minimum with the application's own timeouts.
    pub fn timeout(&self, now: Instant) -> Option<Duration> {
        if self.read_pending() || self.endpoint.has_events() {
            return Some(Duration::ZERO);
        }
        self.endpoint
            .next_wake_time()
            .map(|t| t.saturating_duration_since(now))
    }

    /// Runs the endpoint's timers if one is due at `now` (cheap otherwise):
    /// call after every poll. Datagrams the timers produce (probes, ACKs)
    /// go out with the next [`QuicMio::flush`].
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.endpoint.next_wake_time().is_some_and(|t| t <= now) {
            self.endpoint.handle_timeout(now);
        }
    }

    // ---- the endpoint --------------------------------------------------------------

    /// The next event of any connection (see `docs/driving.md`).
    pub fn poll_event(&mut self) -> Option<(ConnectionHandle, Event)> {
        self.endpoint.poll_event()
    }

    /// The endpoint.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// The endpoint, for connecting, accepting and the apps
    /// (`quic_io_std::apps::dispatch_events(&mut app, quic.endpoint_mut(), now)`).
    /// Flush afterwards: what the application wrote is sent by
    /// [`QuicMio::flush`].
    pub fn endpoint_mut(&mut self) -> &mut Endpoint {
        &mut self.endpoint
    }

    /// The connection `handle`, if it is still there.
    pub fn connection(&mut self, handle: ConnectionHandle) -> Option<&mut Connection> {
        self.endpoint.connection(handle)
    }

    // ---- sockets and counters ------------------------------------------------------

    /// The sockets' bound addresses, in order (socket `i` is registered
    /// under `Token(token.0 + i)` by [`QuicMio::register`]).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.sockets.iter().map(Socket::local_addr).collect()
    }

    /// Sends from socket `index` whenever it can reach the destination;
    /// `None` restores the default choice.
    pub fn set_send_socket(&mut self, index: Option<usize>) {
        self.sender.set_preferred_socket(index);
    }

    /// The socket layer's counters so far.
    pub fn io_stats(&self) -> &IoStats {
        &self.stats
    }

    /// Times the send and receive system calls from now on
    /// ([`IoStats::syscalls`]), or stops timing them.
    pub fn set_syscall_timing(&mut self, on: bool) {
        match (on, self.stats.syscalls.is_some()) {
            (true, false) => self.stats.syscalls = IoStats::new(true).syscalls,
            (false, true) => self.stats.syscalls = None,
            _ => {}
        }
    }

    /// Whether sends are batched with GSO (false where the platform lacks
    /// it, and for good after the kernel refused a batch).
    pub fn gso_enabled(&self) -> bool {
        self.sender.gso_enabled()
    }

    /// Takes the adapter apart (deregister first).
    pub fn into_parts(self) -> (Endpoint, Vec<UdpSocket>) {
        let sockets = self.sockets.into_iter().map(Socket::into_inner).collect();
        (self.endpoint, sockets)
    }
}

/// Readable, plus writable while a send waits.
fn interest(writable: bool) -> Interest {
    if writable {
        Interest::READABLE | Interest::WRITABLE
    } else {
        Interest::READABLE
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    use mio::{Events, Poll};
    use quic_proto::config::EndpointConfig;

    fn endpoint() -> Endpoint {
        Endpoint::new(EndpointConfig::new(7), None)
    }

    fn loopback() -> Params {
        Params::bound_to(Ipv4Addr::LOCALHOST.into(), 0)
    }

    #[test]
    fn sockets_take_consecutive_tokens_until_deregistered() {
        let mut params = loopback();
        params.extra_port = Some(0);
        let mut quic = QuicMio::bind(endpoint(), &params).unwrap();
        let poll = Poll::new().unwrap();
        assert!(!quic.owns(Token(5)));
        quic.register(poll.registry(), Token(5)).unwrap();
        assert_eq!(quic.local_addrs().len(), 2);
        assert_eq!(quic.socket_of(Token(5)), Some(0));
        assert_eq!(quic.socket_of(Token(6)), Some(1));
        assert!(!quic.owns(Token(7)));
        // Moving one socket to a token of its own.
        quic.register_socket(poll.registry(), 1, Token(40)).unwrap();
        assert_eq!(quic.socket_of(Token(40)), Some(1));
        assert!(!quic.owns(Token(6)));
        assert!(quic.register_socket(poll.registry(), 2, Token(41)).is_err());
        quic.deregister(poll.registry()).unwrap();
        assert!(!quic.owns(Token(5)) && !quic.owns(Token(40)));
        let (_, sockets) = quic.into_parts();
        assert_eq!(sockets.len(), 2);
    }

    #[test]
    fn no_socket_is_an_error() {
        let err = QuicMio::with_sockets(endpoint(), Vec::new(), SendConfig::default()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }

    /// 100 datagrams wait; with a budget of one receive call each turn
    /// takes at most one batch and says more may wait, until a call finds
    /// the socket empty.
    #[test]
    fn a_receive_budget_leaves_reads_pending_until_drained() {
        let socket = UdpSocket::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).unwrap();
        let mut quic = QuicMio::new(endpoint(), socket).unwrap();
        let mut poll = Poll::new().unwrap();
        quic.register(poll.registry(), Token(1)).unwrap();
        quic.set_recv_budget(Some(1));
        let now = quic_io_std::now();
        assert_eq!(quic.timeout(now), None, "no connection, no timer");

        let peer = std::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        for i in 0..100u8 {
            // Not QUIC: the endpoint drops them, but they are counted.
            peer.send_to(&[i; 100], quic.local_addrs()[0]).unwrap();
        }
        let mut events = Events::with_capacity(8);
        poll.poll(&mut events, Some(Duration::from_secs(5)))
            .unwrap();
        let event = events.iter().next().expect("a readable event");
        let mut total = 0;
        let mut calls = 0;
        let mut first = true;
        while total < 100 {
            calls += 1;
            assert!(calls < 10_000, "only {total} of 100 arrived");
            let got = if first {
                first = false;
                assert!(quic.on_event(poll.registry(), event, now).unwrap());
                quic.io_stats().datagrams_received as usize
            } else {
                quic.on_readable(now).unwrap()
            };
            assert!(got <= 32, "{got} datagrams from one receive call");
            assert!(quic.read_pending() || got == 0);
            if quic.read_pending() {
                assert_eq!(quic.timeout(now), Some(Duration::ZERO));
            }
            total += got;
        }
        assert_eq!(quic.on_readable(now).unwrap(), 0);
        assert!(!quic.read_pending());
        assert_eq!(quic.io_stats().datagrams_received, 100);
    }
}
