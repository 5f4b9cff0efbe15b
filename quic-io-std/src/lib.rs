//! QUIC over standard UDP sockets: a socket loop that runs a
//! [`quic_proto`] [`Endpoint`](quic_proto::endpoint::Endpoint) until told to
//! stop, in the calling thread or in a network thread, on a batching socket
//! layer that other event loops can reuse.
//!
//! # The loop
//!
//! [`SocketLoop::bind`] opens the sockets [`Params`] describe (both IPv4
//! and IPv6 by default, or one dual-stack socket, one family, one address;
//! buffer sizes, an interface, an extra socket on another port). Then
//! [`SocketLoop::run`] drives the endpoint in this thread, or
//! [`SocketLoop::spawn`] in a [`NetworkThread`]; [`run`] and [`spawn`] do
//! both steps. Each turn:
//!
//! ```text
//! ready(local addresses)                                  once
//! loop {
//!     event(handle, event) for each endpoint event;  send all  (until no event)
//!     after_send(datagrams);  time_check(&mut wake)
//!     wait for a socket, the waker, or `wake` (the endpoint's next timer)
//!     wake()            if the waker fired
//!     receive in batches -> incoming_packet;  after_receive(datagrams)
//!     handle_timeout    if the timer is due
//!     syscall_stats()   every Params::syscall_stats interval
//! }
//! ```
//!
//! Every callback of [`Callbacks`] has a default, gets a [`Context`] (the
//! endpoint and `now`) and returns [`LoopControl::Continue`] or
//! [`LoopControl::Exit`] with the loop's result, or an error.
//!
//! # Threads
//!
//! The endpoint belongs to the thread running the loop. Application code
//! talks to it only from inside the callbacks; other threads queue a
//! command with [`Commands`] (which wakes the loop through its
//! [`LoopWaker`]) and the loop's [`Callbacks::wake`] drains the [`Inbox`]
//! with the endpoint at hand. Never share the endpoint across threads.
//!
//! # Sending and receiving
//!
//! [`socket`] holds the data path: [`socket::Socket`] receives in batches
//! (recvmmsg, GRO) until the socket would block and gives each datagram to
//! the endpoint with its remote address, local address (pktinfo) and ECN
//! mark; [`socket::Sender`] sends what the endpoint prepares as GSO batches
//! of up to [`Params::max_send_batch`] datagrams (give the endpoint
//! `EndpointConfig::max_gso_segments` of the same value), keeps a datagram
//! the socket refused with `WouldBlock` for the next try, and on EIO from
//! a GSO send falls back to one datagram per call for good. The
//! control-message work is `quinn-udp`'s; socket options are `socket2`'s.
//! `docs/io-std.md` has the details.
//!
//! # Example
//!
//! Binding a port and leaving from the ready callback:
//!
//! ```
//! use std::net::{Ipv4Addr, SocketAddr};
//!
//! use quic_io_std::{Callbacks, Context, Flow, LoopControl, Params};
//! use quic_proto::config::EndpointConfig;
//! use quic_proto::endpoint::Endpoint;
//!
//! struct JustBind;
//!
//! impl Callbacks for JustBind {
//!     type Output = Vec<SocketAddr>;
//!     type Error = std::convert::Infallible;
//!
//!     fn ready(&mut self, _: &mut Context<'_>, local: &[SocketAddr]) -> Flow<Self::Output, Self::Error> {
//!         Ok(LoopControl::Exit(local.to_vec()))
//!     }
//! }
//!
//! let params = Params::bound_to(Ipv4Addr::LOCALHOST.into(), 0);
//! let mut endpoint = Endpoint::new(EndpointConfig::new(7), None);
//! let local = quic_io_std::run(&params, &mut endpoint, &mut JustBind).unwrap();
//! assert_eq!(local.len(), 1);
//! assert_ne!(local[0].port(), 0);
//! ```
//!
//! A network thread, stopped by a command from this thread:
//!
//! ```
//! use std::net::Ipv4Addr;
//!
//! use quic_io_std::{Callbacks, Context, Flow, Inbox, LoopControl, Params, SocketLoop};
//! use quic_proto::config::EndpointConfig;
//! use quic_proto::endpoint::Endpoint;
//!
//! enum Command {
//!     Stop,
//! }
//!
//! struct Server {
//!     inbox: Inbox<Command>,
//! }
//!
//! impl Callbacks for Server {
//!     type Output = usize;
//!     type Error = std::convert::Infallible;
//!
//!     fn wake(&mut self, cx: &mut Context<'_>) -> Flow<usize, Self::Error> {
//!         for command in self.inbox.drain() {
//!             match command {
//!                 Command::Stop => return Ok(LoopControl::Exit(cx.endpoint.connection_count())),
//!             }
//!         }
//!         Ok(LoopControl::Continue)
//!     }
//! }
//!
//! let socket_loop = SocketLoop::bind(&Params::bound_to(Ipv4Addr::LOCALHOST.into(), 0)).unwrap();
//! let (commands, inbox) = quic_io_std::commands(socket_loop.waker());
//! let endpoint = Endpoint::new(EndpointConfig::new(7), None);
//! let thread = socket_loop.spawn(endpoint, Server { inbox }).unwrap();
//! commands.send(Command::Stop).unwrap();
//! assert_eq!(thread.join().unwrap(), 0);
//! ```

// The application protocols of the `quic` command-line tool (hq-interop,
// perf, the demo transfer, TLS setup); documented in apps/mod.rs.
pub mod apps;
mod event_loop;
mod params;
pub mod socket;
mod thread;

use std::time::Instant;

pub use event_loop::{run, spawn, Callbacks, Context, Flow, LoopControl, LoopError, SocketLoop};
pub use params::{AddressFamily, Params};
pub use thread::{commands, Commands, Inbox, LoopWaker, NetworkThread, SendError};

/// The current time: the one place this crate reads the clock, for the
/// loop's `now` and the system-call timings.
#[allow(
    clippy::disallowed_methods,
    reason = "the socket loop is where the sans-IO core gets its time from"
)]
pub fn now() -> Instant {
    Instant::now()
}
