//! Endpoints joined by impaired [`Link`]s, run in virtual time.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, VecDeque};
use std::net::SocketAddr;
use std::time::Instant;

use crate::connection::Event;
use crate::endpoint::{ConnectionHandle, Endpoint};

use super::link::{DropReason, Link, LinkConfig, LinkStats, Outcome};

/// How many steps may run at one virtual instant before the network decides
/// it is spinning without progress.
const MAX_STEPS_AT_ONE_INSTANT: u64 = 10_000_000;
/// How many datagrams one endpoint may emit in one drain before the network
/// decides it sends without end.
const MAX_TRANSMITS_PER_DRAIN: usize = 100_000;
/// Room for the largest UDP datagram (or GSO batch).
const SEND_BUFFER: usize = 65_536;

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// An endpoint's place in a [`Network`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId(usize);

impl NodeId {
    /// The position of the node, in the order nodes were added.
    pub fn index(self) -> usize {
        self.0
    }
}

/// A change to the network applied at a scheduled virtual time
/// ([`Network::schedule`]).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Change {
    /// New impairments for the direction `from -> to` ([`Link::set_config`]).
    Link {
        /// The sending side of the direction.
        from: NodeId,
        /// The receiving side of the direction.
        to: NodeId,
        /// The impairments from then on.
        config: LinkConfig,
    },
    /// NAT rebinding: from then on `node`'s datagrams carry `new_addr` as
    /// their source, datagrams to `new_addr` reach it, and datagrams to its
    /// old address (including ones already in flight) are dropped.
    Rebind {
        /// The node whose address changes.
        node: NodeId,
        /// Its address from then on.
        new_addr: SocketAddr,
    },
}

/// Counters of what the network did, over all links.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct NetworkStats {
    /// Datagrams handed to a receiving endpoint.
    pub delivered: u64,
    /// Datagrams a link dropped (loss, queue, MTU, blackhole...).
    pub dropped_by_link: u64,
    /// Datagrams to an address no node has, or between nodes without a link.
    pub unroutable: u64,
    /// Datagrams that arrived for an address its node no longer has.
    pub stale_address: u64,
}

/// What the trace digest records about one datagram.
#[derive(Clone, Copy)]
enum TraceKind {
    Delivered,
    DeliveredCorrupted,
    Dropped(DropReason),
    Unroutable,
    StaleAddress,
}

impl TraceKind {
    fn code(self) -> u8 {
        match self {
            Self::Delivered => 0,
            Self::DeliveredCorrupted => 1,
            Self::Unroutable => 2,
            Self::StaleAddress => 3,
            Self::Dropped(DropReason::Loss) => 10,
            Self::Dropped(DropReason::Burst) => 11,
            Self::Dropped(DropReason::Queue) => 12,
            Self::Dropped(DropReason::Mtu) => 13,
            Self::Dropped(DropReason::Blackhole) => 14,
            // `DropReason` may grow; new reasons share one code.
            #[allow(unreachable_patterns)]
            Self::Dropped(_) => 19,
        }
    }
}

/// A datagram on its way: ordered by arrival, then by when it was sent.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct InFlight {
    at: Instant,
    seq: u64,
    from: usize,
    to: usize,
    source: SocketAddr,
    destination: SocketAddr,
    corrupted: bool,
    payload: Vec<u8>,
}

struct Node {
    endpoint: Endpoint,
    addr: SocketAddr,
    events: VecDeque<(ConnectionHandle, Event)>,
}

/// Endpoints joined by per-direction impaired [`Link`]s, driven in virtual
/// time through the endpoints' public driver API (`incoming_packet`,
/// `prepare_next_packet`, `next_wake_time`, `handle_timeout`, `poll_event`).
///
/// Deterministic: the seed drives every link, ties between datagrams due at
/// the same instant are broken by send order, and nodes are served in the
/// order they were added. [`Network::trace_digest`] fingerprints a run.
///
/// # Example
///
/// A client sends 100 kB to a server over a 10 ms, 10 Mbit/s path with 2 %
/// loss (certificate setup hidden):
///
/// ```
/// # use std::{num::NonZeroU64, sync::Arc, time::{Duration, Instant}};
/// # use quic_proto::{config::*, endpoint::Endpoint, sim::*, Dir};
/// # let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
/// # let cert = rcgen::CertificateParams::new(vec!["localhost".into()]).unwrap().self_signed(&key).unwrap();
/// # let provider = Arc::new(rustls::crypto::ring::default_provider());
/// # let key_der = rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into());
/// # let mut tls_server = rustls::ServerConfig::builder_with_provider(provider.clone()).with_protocol_versions(&[&rustls::version::TLS13]).unwrap()
/// #     .with_no_client_auth().with_single_cert(vec![cert.der().clone()], key_der).unwrap();
/// # let mut roots = rustls::RootCertStore::empty();
/// # roots.add(cert.der().clone()).unwrap();
/// # let mut tls_client = rustls::ClientConfig::builder_with_provider(provider).with_protocol_versions(&[&rustls::version::TLS13]).unwrap()
/// #     .with_root_certificates(roots).with_no_client_auth();
/// # tls_server.alpn_protocols = vec![b"demo".to_vec()];
/// # tls_client.alpn_protocols = vec![b"demo".to_vec()];
/// # let server_config = ServerConfig::new(Arc::new(tls_server)).unwrap();
/// # let client_config = ClientConfig::new(Arc::new(tls_client)).unwrap();
/// # #[allow(clippy::disallowed_methods)]
/// let mut net = Network::new(7, Instant::now());
/// let client = net.add_endpoint(Endpoint::new(EndpointConfig::new(1), None), "10.0.0.1:5000".parse().unwrap());
/// let server_addr = "10.0.0.2:443".parse().unwrap();
/// let server = net.add_endpoint(Endpoint::new(EndpointConfig::new(2), Some(server_config)), server_addr);
/// let path = LinkConfig { delay: Duration::from_millis(10), loss: 0.02, bandwidth: NonZeroU64::new(10_000_000), ..LinkConfig::default() };
/// net.link(client, server, path.clone(), path);
/// let now = net.now();
/// let conn = net.endpoint(client).connect(now, &client_config, server_addr, "localhost").unwrap();
/// let (mut sent, mut received, mut stream, mut accepted) = (0, 0, None, None);
/// let data = vec![7u8; 100_000];
/// let done = net.run_until(net.now() + Duration::from_secs(10), |net| {
///     let c = net.endpoint(client).connection(conn).unwrap();
///     stream = stream.or_else(|| c.open_stream(Dir::Uni).ok()); // once the handshake allows
///     let Some(stream) = stream else { return false };
///     sent += c.write(stream, &data[sent..]).unwrap_or(0);
///     while let Some((h, _event)) = net.poll_event(server) { accepted = Some(h) }
///     if let Some(c) = accepted.and_then(|h| net.endpoint(server).connection(h)) {
///         while c.accept_stream(Dir::Uni).is_some() {}
///         while let Ok(Some((n, _fin))) = c.read(stream, &mut [0; 4096]) { if n == 0 { break } received += n }
///     }
///     received == data.len()
/// });
/// assert!(done);
/// ```
pub struct Network {
    seed: u64,
    start: Instant,
    now: Instant,
    nodes: Vec<Node>,
    by_addr: BTreeMap<SocketAddr, usize>,
    links: BTreeMap<(usize, usize), Link>,
    in_flight: BinaryHeap<Reverse<InFlight>>,
    changes: BinaryHeap<Reverse<(Instant, u64)>>,
    pending_changes: BTreeMap<u64, Change>,
    seq: u64,
    digest: u64,
    stats: NetworkStats,
    steps_at_now: u64,
    buf: Vec<u8>,
}

impl core::fmt::Debug for Network {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Network")
            .field("seed", &self.seed)
            .field("elapsed", &(self.now - self.start))
            .field("nodes", &self.nodes.len())
            .field("in_flight", &self.in_flight.len())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl Network {
    /// An empty network whose links all derive their randomness from
    /// `seed`; virtual time starts at `start`.
    pub fn new(seed: u64, start: Instant) -> Self {
        Self {
            seed,
            start,
            now: start,
            nodes: Vec::new(),
            by_addr: BTreeMap::new(),
            links: BTreeMap::new(),
            in_flight: BinaryHeap::new(),
            changes: BinaryHeap::new(),
            pending_changes: BTreeMap::new(),
            seq: 0,
            digest: FNV_OFFSET,
            stats: NetworkStats::default(),
            steps_at_now: 0,
            buf: vec![0; SEND_BUFFER],
        }
    }

    /// Adds `endpoint`, reachable at `addr` (which replaces any node
    /// reachable there before).
    pub fn add_endpoint(&mut self, endpoint: Endpoint, addr: SocketAddr) -> NodeId {
        let id = self.nodes.len();
        self.nodes.push(Node {
            endpoint,
            addr,
            events: VecDeque::new(),
        });
        self.by_addr.insert(addr, id);
        NodeId(id)
    }

    /// Joins `a` and `b` with one link per direction (replacing any links
    /// between them). Each link's seed derives from the network seed and
    /// the ordered pair, so the same topology always draws the same losses.
    pub fn link(&mut self, a: NodeId, b: NodeId, a_to_b: LinkConfig, b_to_a: LinkConfig) {
        let forward = Link::new(a_to_b, self.link_seed(a.0, b.0));
        let backward = Link::new(b_to_a, self.link_seed(b.0, a.0));
        self.links.insert((a.0, b.0), forward);
        self.links.insert((b.0, a.0), backward);
    }

    /// The endpoint of `node`, for the application's calls.
    ///
    /// # Panics
    /// If `node` belongs to another network with more nodes.
    pub fn endpoint(&mut self, node: NodeId) -> &mut Endpoint {
        &mut self.nodes[node.0].endpoint
    }

    /// The address `node` is reachable at now.
    ///
    /// # Panics
    /// If `node` belongs to another network with more nodes.
    pub fn addr(&self, node: NodeId) -> SocketAddr {
        self.nodes[node.0].addr
    }

    /// The next event of `node`'s connections collected by [`Network::step`].
    ///
    /// # Panics
    /// If `node` belongs to another network with more nodes.
    pub fn poll_event(&mut self, node: NodeId) -> Option<(ConnectionHandle, Event)> {
        self.nodes[node.0].events.pop_front()
    }

    /// The current virtual time.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// The counters of the direction `from -> to`, if the nodes are linked.
    pub fn link_stats(&self, from: NodeId, to: NodeId) -> Option<LinkStats> {
        self.links.get(&(from.0, to.0)).map(Link::stats)
    }

    /// The network-wide counters.
    pub fn stats(&self) -> NetworkStats {
        self.stats
    }

    /// A 64-bit FNV-1a hash over every delivery and drop so far (virtual
    /// time since start, sender, receiver, size, what happened): two runs
    /// with equal digests moved the same datagrams at the same times.
    pub fn trace_digest(&self) -> u64 {
        self.digest
    }

    /// Applies `change` when virtual time reaches `at` (at once if `at` has
    /// passed). Changes due at the same instant apply in scheduling order.
    pub fn schedule(&mut self, at: Instant, change: Change) {
        let seq = self.next_seq();
        self.changes.push(Reverse((at, seq)));
        self.pending_changes.insert(seq, change);
    }

    /// One step: applies due changes, delivers every datagram due now (in
    /// arrival order, ties by send order), drains every endpoint's
    /// transmits into the links, and collects events. If none of that
    /// happened, advances virtual time to the next arrival, change or
    /// endpoint timer and runs the timers. Returns false when nothing is
    /// scheduled at all.
    ///
    /// # Panics
    /// If the network spins at one instant without progress (an endpoint
    /// whose timer never moves on, or that sends without end).
    pub fn step(&mut self) -> bool {
        self.steps_at_now += 1;
        assert!(
            self.steps_at_now < MAX_STEPS_AT_ONE_INSTANT,
            "sim::Network spins without progress at {:?} after start",
            self.now - self.start
        );
        let changed = self.apply_changes();
        let delivered = self.deliver();
        self.collect_events();
        let sent = self.drain();
        self.collect_events();
        if changed || delivered || sent {
            return true;
        }
        let Some(next) = self.next_event_time() else {
            return false;
        };
        if next > self.now {
            self.now = next;
            self.steps_at_now = 0;
        }
        for node in &mut self.nodes {
            node.endpoint.handle_timeout(self.now);
        }
        self.collect_events();
        true
    }

    /// Steps until `done` returns true (checked before every step), or
    /// virtual time passes `deadline`, or nothing is scheduled. Returns
    /// whether `done` held.
    pub fn run_until(
        &mut self,
        deadline: Instant,
        mut done: impl FnMut(&mut Self) -> bool,
    ) -> bool {
        loop {
            if done(self) {
                return true;
            }
            if self.now > deadline || !self.step() {
                return done(self);
            }
        }
    }

    // ---- internals -------------------------------------------------------

    fn next_seq(&mut self) -> u64 {
        let seq = self.seq;
        self.seq += 1;
        seq
    }

    fn link_seed(&self, from: usize, to: usize) -> u64 {
        let pair = ((from as u64) << 32) ^ (to as u64);
        splitmix64(splitmix64(self.seed) ^ pair)
    }

    fn next_event_time(&self) -> Option<Instant> {
        let arrival = self.in_flight.peek().map(|Reverse(d)| d.at);
        let change = self.changes.peek().map(|Reverse((at, _))| *at);
        let timers = self
            .nodes
            .iter()
            .filter_map(|n| n.endpoint.next_wake_time());
        arrival.into_iter().chain(change).chain(timers).min()
    }

    fn apply_changes(&mut self) -> bool {
        let mut any = false;
        while let Some(&Reverse((at, seq))) = self.changes.peek() {
            if at > self.now {
                break;
            }
            self.changes.pop();
            any = true;
            match self.pending_changes.remove(&seq) {
                Some(Change::Link { from, to, config }) => {
                    if let Some(link) = self.links.get_mut(&(from.0, to.0)) {
                        link.set_config(config);
                    }
                }
                Some(Change::Rebind { node, new_addr }) => self.rebind(node.0, new_addr),
                None => {}
            }
        }
        any
    }

    fn rebind(&mut self, node: usize, new_addr: SocketAddr) {
        let Some(n) = self.nodes.get_mut(node) else {
            return;
        };
        let old = core::mem::replace(&mut n.addr, new_addr);
        if self.by_addr.get(&old) == Some(&node) {
            self.by_addr.remove(&old);
        }
        self.by_addr.insert(new_addr, node);
    }

    fn deliver(&mut self) -> bool {
        let mut any = false;
        while self
            .in_flight
            .peek()
            .is_some_and(|Reverse(d)| d.at <= self.now)
        {
            let Some(Reverse(mut d)) = self.in_flight.pop() else {
                break;
            };
            any = true;
            let size = d.payload.len();
            // The receiver's NAT mapping for the old address is gone.
            if self.nodes[d.to].addr != d.destination {
                self.stats.stale_address += 1;
                self.trace(d.from, Some(d.to), size, TraceKind::StaleAddress);
                continue;
            }
            self.stats.delivered += 1;
            let kind = if d.corrupted {
                TraceKind::DeliveredCorrupted
            } else {
                TraceKind::Delivered
            };
            self.trace(d.from, Some(d.to), size, kind);
            self.nodes[d.to]
                .endpoint
                .incoming_packet(self.now, d.source, &mut d.payload);
        }
        any
    }

    fn drain(&mut self) -> bool {
        let mut any = false;
        let mut buf = core::mem::take(&mut self.buf);
        for from in 0..self.nodes.len() {
            for count in 0.. {
                assert!(
                    count < MAX_TRANSMITS_PER_DRAIN,
                    "sim::Network: node {from} sends without end at {:?} after start",
                    self.now - self.start
                );
                let Some((tx, _)) = self.nodes[from]
                    .endpoint
                    .prepare_next_packet(self.now, &mut buf)
                else {
                    break;
                };
                any = true;
                let size = tx.size.min(buf.len());
                // Split a GSO batch into its datagrams, as the kernel would.
                let segment = tx.segment_size.unwrap_or(size).max(1);
                for datagram in buf[..size].chunks(segment) {
                    self.send(from, tx.destination, datagram);
                }
            }
        }
        self.buf = buf;
        any
    }

    fn send(&mut self, from: usize, destination: SocketAddr, datagram: &[u8]) {
        let to = self.by_addr.get(&destination).copied();
        let link = to.and_then(|to| self.links.get_mut(&(from, to)).map(|l| (to, l)));
        let Some((to, link)) = link else {
            self.stats.unroutable += 1;
            self.trace(from, to, datagram.len(), TraceKind::Unroutable);
            return;
        };
        match link.send(self.now, datagram) {
            Outcome::Dropped(reason) => {
                self.stats.dropped_by_link += 1;
                self.trace(from, Some(to), datagram.len(), TraceKind::Dropped(reason));
            }
            Outcome::Delivered(copies) => {
                let source = self.nodes[from].addr;
                for copy in copies {
                    let seq = self.next_seq();
                    self.in_flight.push(Reverse(InFlight {
                        at: copy.at,
                        seq,
                        from,
                        to,
                        source,
                        destination,
                        corrupted: copy.corrupted,
                        payload: copy.payload,
                    }));
                }
            }
        }
    }

    fn collect_events(&mut self) {
        for node in &mut self.nodes {
            while let Some(event) = node.endpoint.poll_event() {
                node.events.push_back(event);
            }
        }
    }

    /// Folds one datagram's fate into the digest (FNV-1a over its fields).
    fn trace(&mut self, from: usize, to: Option<usize>, size: usize, kind: TraceKind) {
        let nanos = u64::try_from((self.now - self.start).as_nanos()).unwrap_or(u64::MAX);
        let to = to.map_or(u64::MAX, |t| t as u64);
        let fields = [nanos, from as u64, to, size as u64, u64::from(kind.code())];
        for field in fields {
            for byte in field.to_le_bytes() {
                self.digest = (self.digest ^ u64::from(byte)).wrapping_mul(FNV_PRIME);
            }
        }
    }
}

/// The SplitMix64 finalizer: spreads a seed over all 64 bits.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests;
