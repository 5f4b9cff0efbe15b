//! Application protocols as sans-IO state machines.
//!
//! Each protocol is an [`App`]: it reacts to the events of an
//! [`Endpoint`]'s connections and pushes data into their streams. It owns no
//! socket, no clock and no thread, so the same object runs under the UDP
//! socket loop of this crate and under the simulator
//! (`quic_proto::sim::Network`) in tests. Files are read and written
//! synchronously where a protocol needs them (the hq-interop server and
//! client), in bounded chunks.
//!
//! | module | ALPN | what |
//! |---|---|---|
//! | [`hq`] | `hq-interop` | [`hq::HqServer`] serves files under a root; [`hq::HqClient`] fetches URLs |
//! | [`perf`] | `perf` | [`perf::PerfServer`] answers "send me N bytes"; [`perf::PerfClient`] measures throughput |
//! | [`demo`] | `perf` | [`demo::DemoConfig`]: perf over several streams in one process, with a [`demo::DemoSummary`] |
//! | [`tls`] | — | rustls configurations: self-signed certificates, PEM files, `--insecure`, SSLKEYLOGFILE |
//!
//! [`AlpnRouter`] serves several protocols on one endpoint, choosing the app
//! of each connection by its negotiated ALPN.
//!
//! # Driving an app
//!
//! After each turn of the driver loop (`docs/driving.md`), hand every event
//! to the app, then let it push data; [`dispatch_events`] does both:
//!
//! ```text
//! loop {
//!     receive datagrams, endpoint.incoming_packet(...)
//!     dispatch_events(&mut app, &mut endpoint, now)   // events, then app.poll
//!     while let Some(tx) = endpoint.prepare_next_packet(now, &mut buf) { send }
//!     if app.is_done() { flush once more (the CONNECTION_CLOSE) and stop }
//!     wait until endpoint.next_wake_time() or a datagram arrives
//! }
//! ```
//!
//! Writing happens inside `handle_event` as soon as a stream can take data
//! (on `Writable` after a refused or partial write), so `poll` only retries
//! what an event cannot announce (such as streams that could not be opened
//! yet). Apps never panic on what a peer sends.

pub mod demo;
pub mod hq;
pub mod perf;
pub mod tls;

use std::time::Instant;

use quic_proto::connection::Event;
use quic_proto::endpoint::{ConnectionHandle, Endpoint};

/// An application protocol driven by an endpoint's events.
pub trait App {
    /// Reacts to one event of the connection `handle` (from
    /// [`Endpoint::poll_event`]).
    fn handle_event(
        &mut self,
        endpoint: &mut Endpoint,
        now: Instant,
        handle: ConnectionHandle,
        event: Event,
    );

    /// Does what no event announces (opening streams that were refused,
    /// closing connections that are done). Call after the events of a turn.
    fn poll(&mut self, endpoint: &mut Endpoint, now: Instant) {
        let _ = (endpoint, now);
    }

    /// Whether the app has nothing more to do: a client's requests are all
    /// answered or failed and its connections closed. Servers never are.
    fn is_done(&self) -> bool;

    /// How far the app has got, for a progress bar.
    fn progress(&self) -> Progress;
}

/// Progress of an app, cheap to query on every turn.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Progress {
    /// Payload bytes moved so far: received by a client, sent by a server.
    pub bytes: u64,
    /// The payload bytes expected in all, when known (perf knows it; an
    /// hq-interop response carries no length).
    pub total: Option<u64>,
    /// Requests (streams) known so far.
    pub requests: u64,
    /// Requests completed successfully.
    pub completed: u64,
    /// Requests that failed (stream reset, refused, connection lost).
    pub failed: u64,
}

impl Progress {
    /// Requests neither completed nor failed yet.
    pub fn in_flight(&self) -> u64 {
        self.requests
            .saturating_sub(self.completed)
            .saturating_sub(self.failed)
    }
}

/// Hands every pending event of `endpoint` to `app`, then calls
/// [`App::poll`]. Returns how many events there were.
pub fn dispatch_events<A: App + ?Sized>(
    app: &mut A,
    endpoint: &mut Endpoint,
    now: Instant,
) -> usize {
    let mut count = 0;
    while let Some((handle, event)) = endpoint.poll_event() {
        app.handle_event(endpoint, now, handle, event);
        count += 1;
    }
    app.poll(endpoint, now);
    count
}

/// Several apps on one server endpoint, one per ALPN protocol: each
/// connection goes to the app whose protocol it negotiated. Connections
/// with a protocol no app serves are closed with
/// [`AlpnRouter::NO_APP`].
pub struct AlpnRouter {
    routes: Vec<(Vec<u8>, Box<dyn App + Send>)>,
    /// Which route each live connection belongs to.
    conns: std::collections::HashMap<ConnectionHandle, usize>,
}

impl core::fmt::Debug for AlpnRouter {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let alpns: Vec<_> = self
            .routes
            .iter()
            .map(|(alpn, _)| String::from_utf8_lossy(alpn).into_owned())
            .collect();
        f.debug_struct("AlpnRouter")
            .field("alpns", &alpns)
            .field("connections", &self.conns.len())
            .finish()
    }
}

impl Default for AlpnRouter {
    fn default() -> Self {
        Self::new()
    }
}

impl AlpnRouter {
    /// The application close code for a connection whose ALPN no app serves
    /// (cannot happen when the TLS configuration lists only the routes'
    /// protocols).
    pub const NO_APP: u32 = 0x1;

    /// A router without routes.
    pub fn new() -> Self {
        Self {
            routes: Vec::new(),
            conns: std::collections::HashMap::new(),
        }
    }

    /// Serves connections that negotiated `alpn` with `app`.
    pub fn route(mut self, alpn: &[u8], app: Box<dyn App + Send>) -> Self {
        self.routes.push((alpn.to_vec(), app));
        self
    }

    /// The ALPN protocols routed, in order: what the server's TLS
    /// configuration should offer.
    pub fn alpns(&self) -> Vec<Vec<u8>> {
        self.routes.iter().map(|(alpn, _)| alpn.clone()).collect()
    }

    /// The app serving `alpn`.
    pub fn app(&self, alpn: &[u8]) -> Option<&(dyn App + Send)> {
        self.routes
            .iter()
            .find(|(a, _)| a == alpn)
            .map(|(_, app)| app.as_ref())
    }

    fn route_of(&mut self, endpoint: &mut Endpoint, handle: ConnectionHandle) -> Option<usize> {
        if let Some(&i) = self.conns.get(&handle) {
            return Some(i);
        }
        let alpn = endpoint.connection(handle)?.alpn()?.to_vec();
        let i = self.routes.iter().position(|(a, _)| *a == alpn)?;
        self.conns.insert(handle, i);
        Some(i)
    }
}

impl App for AlpnRouter {
    fn handle_event(
        &mut self,
        endpoint: &mut Endpoint,
        now: Instant,
        handle: ConnectionHandle,
        event: Event,
    ) {
        let gone = matches!(event, Event::Drained);
        match self.route_of(endpoint, handle) {
            Some(i) => self.routes[i].1.handle_event(endpoint, now, handle, event),
            None if event == Event::Connected => {
                if let Some(conn) = endpoint.connection(handle) {
                    conn.close(now, Self::NO_APP.into(), b"no application for this ALPN");
                }
            }
            None => {}
        }
        if gone {
            self.conns.remove(&handle);
        }
    }

    fn poll(&mut self, endpoint: &mut Endpoint, now: Instant) {
        for (_, app) in &mut self.routes {
            app.poll(endpoint, now);
        }
    }

    fn is_done(&self) -> bool {
        self.routes.iter().all(|(_, app)| app.is_done())
    }

    fn progress(&self) -> Progress {
        let mut sum = Progress {
            total: Some(0),
            ..Progress::default()
        };
        for (_, app) in &self.routes {
            let p = app.progress();
            sum.bytes += p.bytes;
            sum.total = match (sum.total, p.total) {
                (Some(a), Some(b)) => Some(a + b),
                _ => None,
            };
            sum.requests += p.requests;
            sum.completed += p.completed;
            sum.failed += p.failed;
        }
        sum
    }
}

/// The byte at `offset` of the data pattern the perf apps send: a period of
/// 251 (a prime, so it never lines up with chunk or packet sizes), which lets
/// the receiver check every byte's value and position.
pub(crate) const fn pattern_byte(offset: u64) -> u8 {
    (offset % PATTERN_PERIOD) as u8
}

/// The period of [`pattern_byte`].
pub(crate) const PATTERN_PERIOD: u64 = 251;

#[cfg(test)]
mod tests {
    use super::*;

    /// Apps move into the thread that drives their endpoint.
    #[test]
    fn apps_are_send() {
        fn send<T: Send>() {}
        send::<hq::HqServer>();
        send::<hq::HqClient>();
        send::<perf::PerfServer>();
        send::<perf::PerfClient>();
        send::<AlpnRouter>();
    }

    #[test]
    fn progress_counts_what_is_in_flight() {
        let p = Progress {
            requests: 5,
            completed: 2,
            failed: 1,
            ..Progress::default()
        };
        assert_eq!(p.in_flight(), 2);
    }
}
