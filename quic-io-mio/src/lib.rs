//! QUIC inside an event loop the application owns: a [`quic_proto`]
//! endpoint becomes one more event source of a [`mio::Poll`], beside the
//! application's TCP listeners, pipes and timers. No second loop, no
//! runtime, no thread: the application's loop stays in charge.
//!
//! [`QuicMio`] holds the endpoint and its UDP sockets, registers them in the
//! application's [`mio::Registry`] under tokens the application chooses, and
//! moves datagrams only when called. The data path is quic-io-std's socket
//! layer ([`quic_io_std::socket`]), shared, not copied: receives drain the
//! socket in `recvmmsg`/GRO batches until it would block (so edge-triggered
//! readiness is handled), sends go out as GSO batches with ECN marks and
//! the source address set, and a send refused with `WouldBlock` is kept and
//! retried when the socket becomes writable.
//!
//! # The loop
//!
//! ```text
//! quic.register(poll.registry(), QUIC)?;                 // token(s) of your choice
//! loop {
//!     poll.poll(&mut events, min(quic.timeout(now), your timeouts))?;
//!     for event in &events {
//!         if quic.on_event(poll.registry(), event, now)? { continue; }   // ours: receive / flush
//!         ... your sources (WAKER: drain the command inbox) ...
//!     }
//!     quic.handle_timeout(now);
//!     while let Some((handle, event)) = quic.poll_event() { ... }   // or apps::dispatch_events
//!     quic.flush(poll.registry(), now)?;                 // send what is ready, every turn
//! }
//! ```
//!
//! `docs/driving.md` ("Embedding in your own event loop") explains the
//! contract and how it maps to epoll, io_uring and tokio.
//!
//! # Threads
//!
//! The endpoint belongs to the loop's thread. Other threads send commands
//! through [`commands`], which registers a [`mio::Waker`] under a token of
//! the application's choice; on that token's event the loop drains the
//! [`Inbox`] with the endpoint at hand.
//!
//! # Example
//!
//! A server and a client in one poll on loopback, until the handshake
//! completes:
//!
//! ```
//! use std::net::{Ipv4Addr, SocketAddr};
//! use std::time::Duration;
//!
//! use mio::{Events, Poll, Token};
//! use quic_io_mio::QuicMio;
//! use quic_io_std::apps::tls;
//! use quic_proto::config::EndpointConfig;
//! use quic_proto::connection::Event;
//! use quic_proto::endpoint::Endpoint;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let cert = tls::self_signed(&["localhost"])?;
//! let server_tls = tls::server_config(&cert.identity, &[b"demo"], false)?;
//! let roots = tls::Verification::Roots(cert.identity.chain.clone());
//! let client_tls = tls::client_config(&roots, &[b"demo"], false)?;
//!
//! let loopback = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
//! let mut poll = Poll::new()?;
//! let server_endpoint = Endpoint::new(EndpointConfig::new(1), Some(server_tls));
//! let mut server = QuicMio::new(server_endpoint, mio::net::UdpSocket::bind(loopback)?)?;
//! let mut client = QuicMio::new(
//!     Endpoint::new(EndpointConfig::new(2), None),
//!     mio::net::UdpSocket::bind(loopback)?,
//! )?;
//! server.register(poll.registry(), Token(0))?;
//! client.register(poll.registry(), Token(1))?;
//!
//! let start = quic_io_std::now();
//! let to = server.local_addrs()[0];
//! client.endpoint_mut().connect(start, &client_tls, to, "localhost")?;
//! let mut events = Events::with_capacity(64);
//! 'outer: loop {
//!     let now = quic_io_std::now();
//!     assert!(now - start < Duration::from_secs(10), "no handshake");
//!     server.flush(poll.registry(), now)?;
//!     client.flush(poll.registry(), now)?;
//!     let timeout = [server.timeout(now), client.timeout(now)].into_iter().flatten().min();
//!     poll.poll(&mut events, timeout)?;
//!     let now = quic_io_std::now();
//!     for event in events.iter() {
//!         // Each adapter handles its own tokens and ignores the others'.
//!         server.on_event(poll.registry(), event, now)?;
//!         client.on_event(poll.registry(), event, now)?;
//!     }
//!     server.handle_timeout(now);
//!     client.handle_timeout(now);
//!     while server.poll_event().is_some() {}
//!     while let Some((_, event)) = client.poll_event() {
//!         if event == Event::Connected {
//!             break 'outer;
//!         }
//!     }
//! }
//! assert_eq!(server.endpoint().connection_count(), 1);
//! assert!(server.io_stats().datagrams_received > 0);
//! # Ok(())
//! # }
//! ```

mod adapter;

use std::io;
use std::sync::Arc;

pub use adapter::QuicMio;
pub use quic_io_std::socket::{Flushed, IoStats, SendConfig, SyscallStats};
pub use quic_io_std::{Commands, Inbox, LoopWaker, Params, SendError};

/// A command queue into the loop of `registry`: creates the poll's
/// [`mio::Waker`] under `token`. Keep the [`Inbox`] in the loop and drain
/// it on `token`'s event; give the [`Commands`] (cloneable) to the threads
/// that need the endpoint. Each [`Commands::send`] queues a command and
/// wakes the loop; wakes while the loop is busy merge into one event.
///
/// mio allows one waker per poll: if the loop has one already, wrap it
/// instead, `quic_io_std::commands(LoopWaker::new(Arc::clone(&waker)))`.
pub fn commands<C>(
    registry: &mio::Registry,
    token: mio::Token,
) -> io::Result<(Commands<C>, Inbox<C>)> {
    let waker = Arc::new(mio::Waker::new(registry, token)?);
    Ok(quic_io_std::commands(LoopWaker::new(waker)))
}
