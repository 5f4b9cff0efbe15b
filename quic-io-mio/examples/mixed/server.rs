//! The mixed server: hq-interop over QUIC and a plain TCP echo port, both
//! served from one `mio::Poll` loop in one thread. QUIC is one more event
//! source here, beside the TCP listener, its connections and a waker.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Registry, Token};
use quic_io_mio::{Commands, Inbox, IoStats, QuicMio};
use quic_io_std::apps::dispatch_events;
use quic_io_std::apps::hq::{HqServer, HqServerStats};

/// The waker of the command queue.
const WAKER: Token = Token(0);
/// The TCP listener.
const LISTENER: Token = Token(1);
/// The first token of the QUIC sockets (one per socket from here).
const QUIC: Token = Token(2);
/// The first token of TCP connections (room below for the QUIC sockets).
const FIRST_CONNECTION: usize = 16;

/// What other threads may ask of the loop.
#[derive(Debug)]
pub enum Command {
    /// Leave the loop and return the counters.
    Stop,
}

/// What the loop did, returned by [`MixedServer::run`].
#[derive(Debug)]
pub struct MixedStats {
    /// The hq-interop server's counters.
    pub hq: HqServerStats,
    /// The QUIC sockets' counters.
    pub io: IoStats,
    /// TCP connections accepted.
    pub tcp_connections: u64,
    /// Bytes echoed back over TCP.
    pub tcp_bytes_echoed: u64,
}

/// One echo connection: what was read and not yet written back.
struct Echo {
    stream: TcpStream,
    pending: Vec<u8>,
    read_closed: bool,
}

/// The loop and its sources.
pub struct MixedServer {
    poll: Poll,
    quic: QuicMio,
    app: HqServer,
    listener: TcpListener,
    echoes: HashMap<Token, Echo>,
    next_token: usize,
    inbox: Inbox<Command>,
    commands: Commands<Command>,
    tcp_connections: u64,
    tcp_bytes_echoed: u64,
    scratch: Vec<u8>,
}

impl MixedServer {
    /// A loop serving `app` on `quic` and echoing on `listener`; registers
    /// all three with a new poll.
    pub fn new(mut quic: QuicMio, app: HqServer, mut listener: TcpListener) -> io::Result<Self> {
        let poll = Poll::new()?;
        quic.register(poll.registry(), QUIC)?;
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)?;
        let (commands, inbox) = quic_io_mio::commands(poll.registry(), WAKER)?;
        Ok(Self {
            poll,
            quic,
            app,
            listener,
            echoes: HashMap::new(),
            next_token: FIRST_CONNECTION,
            inbox,
            commands,
            tcp_connections: 0,
            tcp_bytes_echoed: 0,
            scratch: vec![0; 64 * 1024],
        })
    }

    /// The QUIC sockets' addresses.
    pub fn quic_addrs(&self) -> Vec<SocketAddr> {
        self.quic.local_addrs()
    }

    /// The TCP echo port's address.
    pub fn tcp_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// A handle for other threads: [`Command::Stop`] ends [`MixedServer::run`].
    pub fn commands(&self) -> Commands<Command> {
        self.commands.clone()
    }

    /// Runs the loop until [`Command::Stop`].
    pub fn run(mut self) -> io::Result<MixedStats> {
        let mut events = Events::with_capacity(256);
        // A handle of our own on the poll's registry, so that registering
        // does not borrow the poll while its events are read.
        let registry = self.poll.registry().try_clone()?;
        let registry = &registry;
        loop {
            // QUIC's timer is the only one this loop has; an application
            // with its own would pass the earlier of the two.
            match self
                .poll
                .poll(&mut events, self.quic.timeout(quic_io_std::now()))
            {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                result => result?,
            }
            let now = quic_io_std::now();
            let mut stop = false;
            for event in events.iter() {
                if self.quic.on_event(registry, event, now)? {
                    continue;
                }
                match event.token() {
                    WAKER => {
                        for command in self.inbox.drain() {
                            match command {
                                Command::Stop => stop = true,
                            }
                        }
                    }
                    LISTENER => self.accept(registry)?,
                    token => {
                        if let Some(echo) = self.echoes.get_mut(&token) {
                            match serve(echo, &mut self.scratch) {
                                Ok((echoed, open)) => {
                                    self.tcp_bytes_echoed += echoed as u64;
                                    if !open {
                                        self.close(registry, token);
                                    }
                                }
                                // One broken connection does not end the loop.
                                Err(_) => self.close(registry, token),
                            }
                        }
                    }
                }
            }
            if stop {
                return Ok(MixedStats {
                    hq: self.app.stats(),
                    io: self.quic.io_stats().clone(),
                    tcp_connections: self.tcp_connections,
                    tcp_bytes_echoed: self.tcp_bytes_echoed,
                });
            }
            self.quic.handle_timeout(now);
            dispatch_events(&mut self.app, self.quic.endpoint_mut(), now);
            self.quic.flush(registry, now)?;
        }
    }

    /// Accepts every waiting connection (edge-triggered: until WouldBlock).
    fn accept(&mut self, registry: &Registry) -> io::Result<()> {
        loop {
            let (mut stream, _) = match self.listener.accept() {
                Ok(accepted) => accepted,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // A connection that died before we took it, or a full file
                // table: skip it.
                Err(_) => return Ok(()),
            };
            let token = Token(self.next_token);
            self.next_token += 1;
            registry.register(&mut stream, token, Interest::READABLE | Interest::WRITABLE)?;
            self.tcp_connections += 1;
            self.echoes.insert(
                token,
                Echo {
                    stream,
                    pending: Vec::new(),
                    read_closed: false,
                },
            );
        }
    }

    fn close(&mut self, registry: &Registry, token: Token) {
        if let Some(mut echo) = self.echoes.remove(&token) {
            let _ = registry.deregister(&mut echo.stream);
        }
    }
}

/// Echoes what can be echoed without blocking: writes back what is
/// pending, then reads more, until the socket would block either way.
/// Nothing more is read while a write waits (back-pressure). Returns the
/// bytes written back and whether the connection stays open.
fn serve(echo: &mut Echo, scratch: &mut [u8]) -> io::Result<(usize, bool)> {
    let mut echoed = 0;
    loop {
        while !echo.pending.is_empty() {
            match echo.stream.write(&echo.pending) {
                Ok(0) => return Ok((echoed, false)),
                Ok(n) => {
                    echo.pending.drain(..n);
                    echoed += n;
                }
                // A writable event comes when there is room.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok((echoed, true)),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if echo.read_closed {
            // Everything echoed: end our side too.
            let _ = echo.stream.shutdown(Shutdown::Write);
            return Ok((echoed, false));
        }
        match echo.stream.read(scratch) {
            Ok(0) => echo.read_closed = true,
            Ok(n) => echo.pending.extend_from_slice(&scratch[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok((echoed, true)),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}
