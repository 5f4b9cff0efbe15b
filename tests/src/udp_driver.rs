//! A small std-only driver that runs a `quic_proto` [`Endpoint`] on a real
//! UDP socket, for the interop tests against other QUIC stacks.
//!
//! It is a test helper, not the product socket loop: one blocking
//! [`UdpSocket`], a read timeout of at most [`MAX_WAIT`] so timers are met,
//! and a wall-clock deadline so that a stuck test fails instead of hanging.
//!
//! ```text
//! loop {
//!     now = Instant::now()
//!     send everything prepare_next_packet(now) gives
//!     hand every poll_event to the caller's closure (it may stop the loop)
//!     wait for a datagram until next_wake_time (at most MAX_WAIT)
//!     feed it and whatever else is queued to incoming_packet
//! }
//! ```

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use quic_proto::config::ClientConfig;
use quic_proto::connection::Event;
use quic_proto::endpoint::{ConnectError, ConnectionHandle, Endpoint};

/// The longest the driver blocks in one receive, so that it notices its
/// deadline and any timer it was not told about.
pub const MAX_WAIT: Duration = Duration::from_millis(10);

/// How long a run may last by default before it fails.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(30);

/// The most datagrams taken in one go before the driver sends again, so a
/// flood in one direction cannot starve our ACKs.
const MAX_RECV_BATCH: usize = 64;

/// The largest UDP payload we receive (IPv4 loopback limit, with headroom).
const RECV_BUF: usize = 65536;

/// The current time. Outside `quic-proto` reading the clock is allowed:
/// this is the socket loop that feeds `now` into the sans-IO core.
#[allow(
    clippy::disallowed_methods,
    reason = "the socket driver is the one place that reads the wall clock for the sans-IO core"
)]
pub fn now() -> Instant {
    Instant::now()
}

/// What the caller's event handler wants next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    /// Keep driving.
    Continue,
    /// Send what is ready, then return from [`UdpDriver::run`].
    Stop,
}

/// Why [`UdpDriver::run`] gave up.
#[derive(Debug)]
pub enum DriverError {
    /// The wall-clock deadline passed first.
    Deadline {
        /// The deadline that passed.
        after: Duration,
    },
    /// The socket failed.
    Io(io::Error),
}

impl std::fmt::Display for DriverError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Deadline { after } => write!(f, "driver deadline of {after:?} passed"),
            Self::Io(e) => write!(f, "socket error: {e}"),
        }
    }
}

impl std::error::Error for DriverError {}

impl From<io::Error> for DriverError {
    fn from(e: io::Error) -> Self {
        Self::Io(e)
    }
}

/// One [`Endpoint`] on one UDP socket bound to 127.0.0.1.
pub struct UdpDriver {
    /// The endpoint, for `connect` and the connections' calls between runs.
    pub endpoint: Endpoint,
    socket: UdpSocket,
    started: Instant,
    deadline: Duration,
    recv_buf: Vec<u8>,
    send_buf: Vec<u8>,
    /// While set, received datagrams are read and thrown away, as on a
    /// path that loses everything towards us.
    pub drop_incoming: bool,
}

impl std::fmt::Debug for UdpDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UdpDriver")
            .field("local", &self.socket.local_addr().ok())
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl UdpDriver {
    /// Binds 127.0.0.1 on an ephemeral port. The [`DEFAULT_DEADLINE`]
    /// counts from now, across every [`UdpDriver::run`].
    pub fn bind(endpoint: Endpoint) -> io::Result<Self> {
        let socket = UdpSocket::bind("127.0.0.1:0")?;
        Ok(Self {
            endpoint,
            socket,
            started: now(),
            deadline: DEFAULT_DEADLINE,
            recv_buf: vec![0; RECV_BUF],
            send_buf: vec![0; RECV_BUF],
            drop_incoming: false,
        })
    }

    /// Replaces the deadline (counted from [`UdpDriver::bind`]).
    pub fn with_deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }

    /// The socket's address, for the peer to connect to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// Starts a connection now; it goes out on the next [`UdpDriver::run`].
    pub fn connect(
        &mut self,
        config: &ClientConfig,
        remote: SocketAddr,
        server_name: &str,
    ) -> Result<ConnectionHandle, ConnectError> {
        self.endpoint.connect(now(), config, remote, server_name)
    }

    /// Drives the endpoint, handing each event to `on_event` with the time
    /// it is handed over, until it returns [`Control::Stop`] (after which what
    /// is ready to send is sent) or the deadline passes.
    pub fn run(
        &mut self,
        on_event: impl FnMut(&mut Endpoint, ConnectionHandle, Event, Instant) -> Control,
    ) -> Result<(), DriverError> {
        self.drive(None, on_event).map(|_| ())
    }

    /// Like [`UdpDriver::run`], but returns `Ok(false)` once `duration`
    /// has passed (`Ok(true)` if `on_event` stopped it first).
    pub fn run_for(
        &mut self,
        duration: Duration,
        on_event: impl FnMut(&mut Endpoint, ConnectionHandle, Event, Instant) -> Control,
    ) -> Result<bool, DriverError> {
        self.drive(Some(now() + duration), on_event)
    }

    fn drive(
        &mut self,
        until: Option<Instant>,
        mut on_event: impl FnMut(&mut Endpoint, ConnectionHandle, Event, Instant) -> Control,
    ) -> Result<bool, DriverError> {
        loop {
            let t = now();
            if t.duration_since(self.started) > self.deadline {
                return Err(DriverError::Deadline {
                    after: self.deadline,
                });
            }
            if until.is_some_and(|u| t >= u) {
                self.flush(t)?;
                return Ok(false);
            }
            self.flush(t)?;
            let mut handled = false;
            while let Some((handle, event)) = self.endpoint.poll_event() {
                handled = true;
                // A fresh `now` per event: the handler may have spent a
                // while on the previous one.
                if on_event(&mut self.endpoint, handle, event, now()) == Control::Stop {
                    self.flush(now())?;
                    return Ok(true);
                }
            }
            if handled {
                // The handler may have queued data: send it before blocking.
                continue;
            }
            self.receive()?;
        }
    }

    /// Sends every datagram the endpoint has ready.
    fn flush(&mut self, t: Instant) -> io::Result<()> {
        while let Some((tx, _)) = self.endpoint.prepare_next_packet(t, &mut self.send_buf) {
            match self
                .socket
                .send_to(&self.send_buf[..tx.size], tx.destination)
            {
                Ok(_) => {}
                // A full socket buffer is a lost datagram; recovery copes.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Waits for one datagram until the next timer (at most [`MAX_WAIT`]),
    /// then takes whatever else is already queued, up to a batch. A timer
    /// that is already due is run, and the socket is still read without
    /// waiting, so a deadline the endpoint keeps in the past cannot starve
    /// reception.
    fn receive(&mut self) -> io::Result<()> {
        let t = now();
        let wait = self
            .endpoint
            .next_wake_time()
            .map_or(MAX_WAIT, |w| w.saturating_duration_since(t))
            .min(MAX_WAIT);
        let mut batch = 0;
        if wait.is_zero() {
            // The next flush sends what the timer made.
            self.endpoint.handle_timeout(t);
        } else {
            self.socket.set_read_timeout(Some(wait))?;
            match self.socket.recv_from(&mut self.recv_buf) {
                Ok((n, from)) => self.deliver(n, from),
                Err(e) if is_timeout(&e) => return Ok(()),
                Err(e) => return Err(e),
            }
            batch = 1;
        }
        self.socket.set_nonblocking(true)?;
        let mut result = Ok(());
        for _ in batch..MAX_RECV_BATCH {
            match self.socket.recv_from(&mut self.recv_buf) {
                Ok((n, from)) => self.deliver(n, from),
                Err(e) if is_timeout(&e) => break,
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        self.socket.set_nonblocking(false)?;
        result
    }

    fn deliver(&mut self, n: usize, from: SocketAddr) {
        if self.drop_incoming {
            return;
        }
        let datagram = &mut self.recv_buf[..n];
        self.endpoint.incoming_packet(now(), from, datagram);
    }
}

/// Whether a receive error only means "nothing yet" (Unix reports a read
/// timeout as `WouldBlock`, Windows as `TimedOut`).
fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}
