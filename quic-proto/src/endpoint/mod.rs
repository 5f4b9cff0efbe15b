//! The endpoint: one per socket (or shard), owning its connections.
//!
//! This is the driver API (see `docs/driving.md`):
//!
//! ```text
//! loop {
//!     wait until endpoint.next_wake_time() or a datagram arrives
//!     for each datagram:  endpoint.incoming_packet(now, remote, &mut datagram)
//!     while let Some(tx) = endpoint.prepare_next_packet(now, &mut buf) { send buf[..tx.size] to tx.destination }
//!     while let Some((handle, event)) = endpoint.poll_event() { react, via endpoint.connection(handle) }
//! }
//! ```
//!
//! The endpoint never scans all its connections: datagrams are routed by
//! one hash-map probe on the Destination Connection ID (a keyed SipHash, since
//! client-chosen Initial DCIDs are attacker-controlled), connections with
//! something to send wait in a queue, and deadlines sit in a min-heap with
//! lazy deletion. Stateless answers (Version Negotiation, Retry, stateless
//! reset) come out of the same [`Endpoint::prepare_next_packet`].

mod hash;
mod token;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use smallvec::SmallVec;

use crate::ack::EcnCodepoint;
use crate::cid_manager::CidEvent;
use crate::config::{ClientConfig, EndpointConfig, ServerConfig};
use crate::connection::{
    Connection, ConnectionParams, Event, TlsStartError, Transmit, MIN_INITIAL_SIZE,
};
use crate::crypto::{retry_integrity_tag, ResetTokenKey};
use crate::packet::{
    encode_retry, encode_version_negotiation, potential_stateless_reset, write_stateless_reset,
    Header, PartialPacket, FORM_BIT, MIN_STATELESS_RESET_LEN,
};
use crate::{ConnectionId, Level, StatelessResetToken, Version};

use self::hash::{KeyedHasher, OwnCidHasher};
use self::token::TokenKey;

/// Names one connection of an endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionHandle {
    index: u32,
    generation: u32,
}

/// A connection attempt could not start.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ConnectError {
    /// The TLS session could not start.
    Tls(TlsStartError),
    /// The configured version is not one we speak.
    UnsupportedVersion(Version),
}

impl core::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Tls(e) => write!(f, "{e}"),
            Self::UnsupportedVersion(v) => write!(f, "unsupported QUIC version {v:?}"),
        }
    }
}

impl std::error::Error for ConnectError {}

struct Slot {
    generation: u32,
    /// Boxed: the slot vector grows by doubling, and spare slots should
    /// cost a pointer, not a whole connection.
    conn: Option<Box<Connection>>,
    /// The deadline currently in the heap for this connection.
    armed: Option<Instant>,
    /// Whether the connection is in the send queue.
    queued: bool,
    initial_dcid: Option<ConnectionId>,
    /// The reset token registered in `by_reset_token`.
    reset_token: Option<StatelessResetToken>,
    /// [`Connection::peer_cid_changes`] when `reset_token` was last
    /// brought up to date; `None` before the first time.
    reset_token_checked: Option<u32>,
}

/// Where a received datagram came from and how it was marked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DatagramInfo {
    /// The peer's address.
    pub remote: SocketAddr,
    /// The local address it arrived on (from IP_PKTINFO or the like), if
    /// known; replies go out from it (see [`Transmit::source`]).
    pub local_ip: Option<IpAddr>,
    /// The ECN codepoint it carried.
    pub ecn: Option<EcnCodepoint>,
}

impl From<SocketAddr> for DatagramInfo {
    /// A datagram from `remote`, local address and ECN unknown.
    fn from(remote: SocketAddr) -> Self {
        Self {
            remote,
            local_ip: None,
            ecn: None,
        }
    }
}

/// Why a datagram could not be sent (see [`Endpoint::report_send_failure`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendFailure {
    /// The socket refused a segmentation-offload send (EIO from GSO).
    GsoUnsupported,
    /// The destination is unreachable.
    Unreachable,
}

/// Stateless packets waiting to go out, bounded so a flood of junk cannot
/// grow memory.
const MAX_STATELESS_QUEUE: usize = 64;

/// A QUIC endpoint; see the module docs.
pub struct Endpoint {
    config: EndpointConfig,
    server: Option<ServerConfig>,
    rng: ChaCha8Rng,
    reset_key: Arc<ResetTokenKey>,
    token_key: TokenKey,
    slots: Vec<Slot>,
    free: Vec<u32>,
    by_cid: HashMap<ConnectionId, u32, OwnCidHasher>,
    /// Client-chosen Initial DCIDs, for Initial and 0-RTT packets that
    /// arrive before the client learns our CID (RFC 9000 §7.2).
    by_initial_dcid: HashMap<ConnectionId, u32, KeyedHasher>,
    /// Connections using zero-length local CIDs, by remote address.
    by_remote: HashMap<SocketAddr, u32, KeyedHasher>,
    /// The peer's stateless reset token for each connection's current
    /// remote CID: a reset arrives with a DCID we cannot route (RFC 9000 §10.3).
    by_reset_token: HashMap<StatelessResetToken, u32, KeyedHasher>,
    send_queue: VecDeque<u32>,
    timers: BinaryHeap<Reverse<(Instant, u32)>>,
    stateless: VecDeque<(SocketAddr, Vec<u8>)>,
    events: VecDeque<(ConnectionHandle, Event)>,
    /// How many datagrams one `prepare_next_packet` may return (GSO).
    gso_segments: usize,
    accept_filter: Option<Box<dyn FnMut(SocketAddr) -> bool + Send>>,
    /// The first `now` seen: the zero of Retry token times.
    epoch: Option<Instant>,
    /// The latest `now` a call brought.
    now: Option<Instant>,
    connection_count: usize,
    /// The connection the latest datagrams went to, when its timer and
    /// events are not brought up to date yet: consecutive datagrams of one
    /// connection (a burst, a GRO batch) settle it once. Every other call
    /// settles it first (see [`Endpoint::settle`]).
    unsettled: Option<u32>,
    /// The last `by_cid` entry a short header was routed by: most
    /// datagrams in a row are for the same CID. Dropped whenever an entry
    /// leaves `by_cid`.
    last_route: Option<(ConnectionId, u32)>,
}

impl core::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Endpoint")
            .field("connections", &self.connection_count)
            .finish_non_exhaustive()
    }
}

impl Endpoint {
    /// An endpoint; `server` is `Some` if it accepts connections.
    pub fn new(config: EndpointConfig, server: Option<ServerConfig>) -> Self {
        let gso_segments = config.max_gso_segments.max(1);
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        let hasher = KeyedHasher(rng.next_u64(), rng.next_u64());
        let mut token_secret = [0u8; 32];
        rng.fill_bytes(&mut token_secret);
        Self {
            reset_key: Arc::new(ResetTokenKey::new(&config.reset_key)),
            token_key: TokenKey::new(&token_secret),
            config,
            server,
            rng,
            slots: Vec::new(),
            free: Vec::new(),
            by_cid: HashMap::with_hasher(OwnCidHasher(hasher.0 ^ hasher.1.rotate_left(17))),
            by_initial_dcid: HashMap::with_hasher(hasher.clone()),
            by_remote: HashMap::with_hasher(hasher.clone()),
            by_reset_token: HashMap::with_hasher(hasher),
            send_queue: VecDeque::new(),
            timers: BinaryHeap::new(),
            stateless: VecDeque::new(),
            events: VecDeque::new(),
            epoch: None,
            now: None,
            gso_segments,
            accept_filter: None,
            connection_count: 0,
            unsettled: None,
            last_route: None,
        }
    }

    /// Entries in the routing tables; with no connection left, all are gone.
    #[cfg(all(test, feature = "sim"))]
    pub(crate) fn route_count(&self) -> usize {
        self.by_cid.len()
            + self.by_initial_dcid.len()
            + self.by_remote.len()
            + self.by_reset_token.len()
    }

    /// How many connections the endpoint holds.
    pub fn connection_count(&self) -> usize {
        // A connection the last datagram drained is gone once settled.
        let drained = self.unsettled_conn().is_some_and(Connection::is_drained);
        self.connection_count - usize::from(drained)
    }

    /// Sets or replaces the server configuration (None stops accepting).
    pub fn set_server_config(&mut self, server: Option<ServerConfig>) {
        self.server = server;
    }

    /// Starts a connection to `remote`, verifying the server as
    /// `server_name`. The first Initial is ready to send at once.
    pub fn connect(
        &mut self,
        now: Instant,
        config: &ClientConfig,
        remote: SocketAddr,
        server_name: &str,
    ) -> Result<ConnectionHandle, ConnectError> {
        self.epoch.get_or_insert(now);
        if !self.config.supported_versions.contains(&config.version) {
            return Err(ConnectError::UnsupportedVersion(config.version));
        }
        let local_cid = self.new_cid();
        // RFC 9000 §7.2: an unpredictable DCID of at least 8 bytes.
        let mut dcid = [0u8; 16];
        self.rng.fill_bytes(&mut dcid);
        let original_dcid = ConnectionId::new(&dcid).unwrap_or(ConnectionId::EMPTY);
        let params = ConnectionParams {
            now,
            remote,
            local_cid,
            remote_cid: original_dcid,
            original_dcid,
            retry_scid: None,
            reset_token: None,
            seed: self.rng.next_u64(),
            version: config.version,
            reset_key: self.reset_key.clone(),
        };
        self.settle();
        let conn = Connection::client(params, config, server_name).map_err(ConnectError::Tls)?;
        let index = self.insert(conn, None);
        if local_cid.is_empty() {
            self.by_remote.insert(remote, index);
        }
        self.touch(index);
        Ok(self.handle(index))
    }

    /// The connection behind `handle`, for the application's calls. Using
    /// it marks the connection as possibly having something to send.
    pub fn connection(&mut self, handle: ConnectionHandle) -> Option<&mut Connection> {
        self.settle();
        let slot = self.slots.get(handle.index as usize)?;
        if slot.generation != handle.generation || slot.conn.is_none() {
            return None;
        }
        self.touch(handle.index);
        self.slots[handle.index as usize].conn.as_deref_mut()
    }

    /// The next event of any connection.
    pub fn poll_event(&mut self) -> Option<(ConnectionHandle, Event)> {
        self.settle();
        self.events.pop_front()
    }

    /// Whether [`Endpoint::poll_event`] has an event to give.
    pub fn has_events(&self) -> bool {
        !self.events.is_empty() || self.unsettled_conn().is_some_and(Connection::has_events)
    }

    /// The most datagrams one [`Endpoint::prepare_next_packet`] call packs
    /// into a segmentation-offload batch now:
    /// [`EndpointConfig::max_gso_segments`], or 1 after
    /// [`SendFailure::GsoUnsupported`].
    pub fn max_gso_segments(&self) -> usize {
        self.gso_segments
    }

    /// When the endpoint next needs a call with `now` (a timer), if ever.
    /// Never later than the earliest connection deadline; it may be earlier
    /// when a deadline moved back, and a call then simply finds nothing due.
    pub fn next_wake_time(&self) -> Option<Instant> {
        let armed = self.timers.peek().map(|Reverse((t, _))| *t);
        let unsettled = self
            .unsettled_conn()
            .and_then(|conn| conn.next_timeout_before(armed));
        unsettled.or(armed)
    }

    /// Runs every timer due at `now`. Each due connection runs its timers
    /// once; deadlines it leaves at or before `now` (an ACK or a probe that
    /// is due) are met by the next [`Endpoint::prepare_next_packet`].
    pub fn handle_timeout(&mut self, now: Instant) {
        self.settle();
        self.run_timers(now);
    }

    /// [`Endpoint::handle_timeout`] without settling: a connection left
    /// unsettled by the previous datagram may stay so while more of its
    /// datagrams arrive.
    fn run_timers(&mut self, now: Instant) {
        self.epoch.get_or_insert(now);
        self.now = Some(now);
        let mut due: SmallVec<[u32; 8]> = SmallVec::new();
        while let Some(&Reverse((t, index))) = self.timers.peek() {
            if t > now {
                break;
            }
            self.timers.pop();
            let slot = &mut self.slots[index as usize];
            if slot.armed == Some(t) {
                slot.armed = None;
                due.push(index);
            }
        }
        for index in due {
            if let Some(conn) = self.slots[index as usize].conn.as_mut() {
                conn.handle_timeout(now);
            }
            self.touch(index);
        }
    }

    /// Takes one UDP datagram received from `from.remote` (on local address
    /// `from.local_ip`, with ECN marking `from.ecn`). The buffer is
    /// decrypted in place. Runs due timers first.
    pub fn incoming_packet(
        &mut self,
        now: Instant,
        from: impl Into<DatagramInfo>,
        datagram: &mut [u8],
    ) {
        let DatagramInfo {
            remote,
            local_ip,
            ecn,
        } = from.into();
        self.run_timers(now);
        if let Some(index) = self.route_short(datagram) {
            self.deliver(index, now, remote, local_ip, ecn, datagram);
            return;
        }
        let len = datagram.len();
        let Some(route) = self.classify(now, remote, datagram) else {
            return;
        };
        let index = route
            .dcid
            .as_ref()
            .and_then(|d| self.lookup(d))
            .or_else(|| self.by_remote.get(&remote).copied())
            .or_else(|| {
                route
                    .dcid
                    .as_ref()
                    .and_then(|d| self.by_initial_dcid.get(d).copied())
            })
            .or_else(|| {
                // RFC 9000 §10.3.1: a datagram we cannot route may be a
                // stateless reset; its connection recognises it.
                let token = potential_stateless_reset(datagram)?;
                self.by_reset_token.get(&token).copied()
            });
        if let Some(index) = index {
            self.deliver(index, now, remote, local_ip, ecn, datagram);
            return;
        }
        match route.kind {
            RouteKind::Unsupported { dcid, scid } => {
                self.send_version_negotiation(remote, len, &dcid, &scid)
            }
            RouteKind::Initial {
                version,
                scid,
                token,
            } => self.accept(
                now,
                DatagramInfo {
                    remote,
                    local_ip,
                    ecn,
                },
                datagram,
                version,
                route.dcid,
                scid,
                token,
            ),
            RouteKind::Short => self.send_stateless_reset(remote, len, route.dcid),
            RouteKind::Other => {}
        }
    }

    /// Writes the next datagram to send into `buf`: stateless answers
    /// first, then connections in turn. Runs due timers first.
    pub fn prepare_next_packet(
        &mut self,
        now: Instant,
        buf: &mut [u8],
    ) -> Option<(Transmit, Option<ConnectionHandle>)> {
        self.handle_timeout(now);
        if let Some((to, bytes)) = self.stateless.pop_front() {
            let n = bytes.len().min(buf.len());
            buf[..n].copy_from_slice(&bytes[..n]);
            return Some((
                Transmit {
                    destination: to,
                    size: n,
                    ecn: None,
                    segment_size: None,
                    source: None,
                },
                None,
            ));
        }
        while let Some(&index) = self.send_queue.front() {
            let slot = &mut self.slots[index as usize];
            let sent = slot.conn.as_mut().and_then(|c| c.poll_transmit(now, buf));
            match sent {
                Some(mut tx) => {
                    self.batch(now, index, buf, &mut tx);
                    // Round-robin: the connection goes to the back.
                    self.send_queue.rotate_left(1);
                    self.rearm(index);
                    return Some((tx, Some(self.handle(index))));
                }
                None => {
                    self.send_queue.pop_front();
                    self.slots[index as usize].queued = false;
                    self.rearm(index);
                    self.collect(index);
                }
            }
        }
        None
    }

    /// Tells the endpoint a datagram could not be sent. A
    /// [`SendFailure::GsoUnsupported`] turns segmentation offload off for
    /// good (the fallback sticks); other failures are left to loss recovery.
    pub fn report_send_failure(&mut self, failure: SendFailure) {
        if failure == SendFailure::GsoUnsupported {
            self.gso_segments = 1;
        }
    }

    /// Sets a filter that decides, from the client's address, whether a new
    /// connection is accepted (refused Initials are dropped).
    pub fn set_accept_filter(&mut self, filter: impl FnMut(SocketAddr) -> bool + Send + 'static) {
        self.accept_filter = Some(Box::new(filter));
    }

    // ---- internals -------------------------------------------------------

    /// Appends more full-size datagrams of the same connection behind the
    /// first, for one GSO send: all equal in size but the last.
    fn batch(&mut self, now: Instant, index: u32, buf: &mut [u8], tx: &mut Transmit) {
        let segment = tx.size;
        let conn = self.slots[index as usize].conn.as_ref();
        if conn.is_some_and(|c| segment > usize::from(c.path_mtu())) {
            // A PMTU probe, larger than the path MTU, goes alone.
            return;
        }
        let mut count = 1;
        while count < self.gso_segments {
            let Some(room) = buf.get_mut(tx.size..tx.size + segment) else {
                break;
            };
            let Some(conn) = self.slots[index as usize].conn.as_mut() else {
                break;
            };
            let Some(next) = conn.poll_transmit(now, room) else {
                break;
            };
            if next.destination != tx.destination || next.ecn != tx.ecn {
                // Cannot share one send; the datagram is in `room` but
                // unsent: treat it as lost (recovery resends its frames).
                break;
            }
            tx.size += next.size;
            count += 1;
            if next.size < segment {
                break;
            }
        }
        if count > 1 {
            tx.segment_size = Some(segment);
        }
    }

    fn handle(&self, index: u32) -> ConnectionHandle {
        ConnectionHandle {
            index,
            generation: self.slots[index as usize].generation,
        }
    }

    fn lookup(&self, dcid: &ConnectionId) -> Option<u32> {
        self.by_cid.get(dcid).copied()
    }

    /// The connection a short-header packet (RFC 9000 §17.3) is for,
    /// found from the DCID's bytes in place: it follows the first byte,
    /// with the length we give all our CIDs. Most datagrams take this way;
    /// anything else (long headers, zero-length CIDs, unknown CIDs, a
    /// possible stateless reset) goes through [`Self::classify`]. The
    /// connection parses and authenticates the packet itself.
    fn route_short(&mut self, datagram: &[u8]) -> Option<u32> {
        let cid_len = self.config.local_cid_len;
        if cid_len == 0 || datagram.first()? & FORM_BIT != 0 {
            return None;
        }
        let cid = datagram.get(1..1 + cid_len)?;
        if let Some((last, index)) = &self.last_route {
            if **last == *cid {
                return Some(*index);
            }
        }
        let index = self.by_cid.get(cid).copied()?;
        self.last_route = ConnectionId::new(cid).ok().map(|cid| (cid, index));
        Some(index)
    }

    /// Hands a datagram to connection `index`.
    fn deliver(
        &mut self,
        index: u32,
        now: Instant,
        remote: SocketAddr,
        local_ip: Option<IpAddr>,
        ecn: Option<EcnCodepoint>,
        datagram: &mut [u8],
    ) {
        if let Some(conn) = self.slots[index as usize].conn.as_mut() {
            conn.set_local_ip(local_ip);
            conn.handle_datagram(now, remote, ecn, datagram);
        }
        self.queue(index);
        // Its timer and events wait until a datagram for another
        // connection, or any other call, comes.
        if self.unsettled != Some(index) {
            self.settle();
            self.unsettled = Some(index);
        }
    }

    /// Brings the timer and events of the connection the latest datagrams
    /// went to up to date (what [`Endpoint::touch`] does), and frees it if
    /// it is drained.
    fn settle(&mut self) {
        if let Some(index) = self.unsettled.take() {
            self.rearm(index);
            self.collect(index);
        }
    }

    /// The connection [`Endpoint::settle`] would settle, if any.
    fn unsettled_conn(&self) -> Option<&Connection> {
        self.slots[self.unsettled? as usize].conn.as_deref()
    }

    fn new_cid(&mut self) -> ConnectionId {
        let mut bytes = [0u8; ConnectionId::MAX_LEN];
        let len = self.config.local_cid_len.min(ConnectionId::MAX_LEN);
        self.rng.fill_bytes(&mut bytes[..len]);
        ConnectionId::new(&bytes[..len]).unwrap_or(ConnectionId::EMPTY)
    }

    fn insert(&mut self, conn: Connection, initial_dcid: Option<ConnectionId>) -> u32 {
        self.connection_count += 1;
        if let Some(index) = self.free.pop() {
            let slot = &mut self.slots[index as usize];
            slot.generation = slot.generation.wrapping_add(1);
            slot.conn = Some(Box::new(conn));
            slot.initial_dcid = initial_dcid;
            slot.reset_token_checked = None;
            return index;
        }
        self.slots.push(Slot {
            generation: 0,
            conn: Some(Box::new(conn)),
            armed: None,
            queued: false,
            initial_dcid,
            reset_token: None,
            reset_token_checked: None,
        });
        (self.slots.len() - 1) as u32
    }

    /// After anything happened to a connection: queue it for sending,
    /// re-arm its timer, move its events out, and free it once drained.
    fn touch(&mut self, index: u32) {
        self.queue(index);
        self.rearm(index);
        self.collect(index);
    }

    /// Puts a live connection in the send queue, unless it is there.
    fn queue(&mut self, index: u32) {
        let slot = &mut self.slots[index as usize];
        if slot.conn.is_some() && !slot.queued {
            slot.queued = true;
            self.send_queue.push_back(index);
        }
    }

    fn rearm(&mut self, index: u32) {
        let slot = &mut self.slots[index as usize];
        // Only an earlier deadline goes into the heap. A later one waits for
        // the armed entry to fire (a wake-up with nothing due is harmless and
        // re-arms), so a busy connection whose deadlines move forward on
        // every packet adds no heap entries. A deadline already due for a
        // connection queued to send (typically an ACK to send at once) stays
        // out too: its `poll_transmit` runs the connection's timers, and the
        // connection is re-armed when it leaves the queue.
        let next = slot
            .conn
            .as_deref()
            .and_then(|conn| conn.next_timeout_before(slot.armed));
        let due_and_queued = |t: &Instant| slot.queued && self.now.is_some_and(|now| *t <= now);
        if let Some(t) = next.filter(|t| !due_and_queued(t)) {
            slot.armed = Some(t);
            self.timers.push(Reverse((t, index)));
        }
        // Drop stale heap tops so next_wake_time is exact.
        while let Some(&Reverse((t, i))) = self.timers.peek() {
            if self.slots[i as usize].armed == Some(t) {
                break;
            }
            self.timers.pop();
        }
    }

    /// Moves events out of the connection and frees it once drained.
    fn collect(&mut self, index: u32) {
        let slot = &mut self.slots[index as usize];
        let Some(conn) = slot.conn.as_mut() else {
            return;
        };
        // Most calls find nothing: ask before draining.
        if conn.has_cid_events() {
            while let Some(ev) = conn.poll_cid_event() {
                match ev {
                    CidEvent::Issued(cid) if !cid.is_empty() => {
                        self.by_cid.insert(cid, index);
                    }
                    CidEvent::Retired(cid) => {
                        self.by_cid.remove(&cid);
                        self.last_route = None;
                    }
                    _ => {}
                }
            }
        }
        let changes = Some(conn.peer_cid_changes());
        if slot.reset_token_checked != changes {
            slot.reset_token_checked = changes;
            let token = conn.peer_reset_token();
            if token != slot.reset_token {
                if let Some(old) = slot.reset_token.take() {
                    self.by_reset_token.remove(&old);
                }
                if let Some(new) = token {
                    self.by_reset_token.insert(new, index);
                }
                slot.reset_token = token;
            }
        }
        let mut drained = false;
        if conn.has_events() {
            let handle = ConnectionHandle {
                index,
                generation: slot.generation,
            };
            while let Some(ev) = conn.poll_event() {
                drained |= ev == Event::Drained;
                self.events.push_back((handle, ev));
            }
        }
        if drained || conn.is_drained() {
            self.remove(index);
        }
    }

    fn remove(&mut self, index: u32) {
        let slot = &mut self.slots[index as usize];
        let Some(mut conn) = slot.conn.take() else {
            return;
        };
        // Routes come from the CID events: apply any not yet drained, then
        // the IDs still issued are exactly the ones routed here.
        while let Some(ev) = conn.poll_cid_event() {
            if let CidEvent::Retired(cid) = ev {
                if self.by_cid.get(&cid) == Some(&index) {
                    self.by_cid.remove(&cid);
                    self.last_route = None;
                }
            }
        }
        for cid in conn.routed_cids() {
            if self.by_cid.get(cid) == Some(&index) {
                self.by_cid.remove(cid);
                self.last_route = None;
            }
        }
        if let Some(d) = slot.initial_dcid.take() {
            self.by_initial_dcid.remove(&d);
        }
        if let Some(t) = slot.reset_token.take() {
            self.by_reset_token.remove(&t);
        }
        if self.by_remote.get(&conn.remote_address()) == Some(&index) {
            self.by_remote.remove(&conn.remote_address());
        }
        slot.armed = None;
        self.free.push(index);
        self.connection_count -= 1;
    }

    fn push_stateless(&mut self, to: SocketAddr, bytes: Vec<u8>) {
        if self.stateless.len() < MAX_STATELESS_QUEUE {
            self.stateless.push_back((to, bytes));
        }
    }

    fn millis_since_epoch(&self, now: Instant) -> u64 {
        self.epoch
            .map_or(0, |e| now.saturating_duration_since(e).as_millis() as u64)
    }

    /// Reads what routing needs from the first packet of a datagram.
    /// Inlined so that the route of a short header, the common case, is
    /// built in place rather than returned through memory.
    #[inline(always)]
    fn classify(&self, now: Instant, remote: SocketAddr, datagram: &mut [u8]) -> Option<Route> {
        let (packet, _) = PartialPacket::decode(datagram, self.config.local_cid_len, false).ok()?;
        let dcid = ConnectionId::new(packet.dst_cid()).ok();
        let kind = if packet.level() == Some(Level::OneRtt) {
            // A short header: no more to read than the DCID.
            RouteKind::Short
        } else {
            self.classify_long(now, remote, &packet)
        };
        Some(Route { dcid, kind })
    }

    /// What a long header (or a packet of another version) asks for.
    fn classify_long(
        &self,
        now: Instant,
        remote: SocketAddr,
        packet: &PartialPacket<'_>,
    ) -> RouteKind {
        match packet.header() {
            Header::UnsupportedVersion {
                dst_cid, src_cid, ..
            } => RouteKind::Unsupported {
                dcid: dst_cid.to_vec(),
                scid: src_cid.to_vec(),
            },
            Header::Initial {
                version,
                src_cid,
                token,
                ..
            } => {
                let token = if token.is_empty() {
                    TokenCheck::Absent
                } else {
                    let lifetime = self
                        .server
                        .as_ref()
                        .map_or(0, |s| s.retry_token_lifetime.as_millis() as u64);
                    match self.token_key.validate(
                        token,
                        &remote,
                        self.millis_since_epoch(now),
                        lifetime,
                    ) {
                        Some(odcid) => TokenCheck::Valid(odcid),
                        None => TokenCheck::Invalid,
                    }
                };
                RouteKind::Initial {
                    version,
                    scid: src_cid,
                    token,
                }
            }
            Header::Short { .. } => RouteKind::Short,
            _ => RouteKind::Other,
        }
    }

    /// A client's first Initial: create a server connection, or answer
    /// with a Retry (RFC 9000 §8.1.2).
    #[expect(
        clippy::too_many_arguments,
        reason = "the parts of one classified Initial"
    )]
    fn accept(
        &mut self,
        now: Instant,
        from: DatagramInfo,
        datagram: &mut [u8],
        version: Version,
        dcid: Option<ConnectionId>,
        scid: ConnectionId,
        token: TokenCheck,
    ) {
        let DatagramInfo {
            remote,
            local_ip,
            ecn,
        } = from;
        let Some(server) = self.server.clone() else {
            return;
        };
        let Some(dcid) = dcid else { return };
        // RFC 9000 §14.1: a server MUST discard an Initial in a datagram
        // smaller than 1200 bytes. RFC 9000 §7.2: the client's first DCID
        // is at least 8 bytes.
        if datagram.len() < MIN_INITIAL_SIZE || dcid.len() < 8 {
            return;
        }
        if !self.config.supported_versions.contains(&version)
            || self.connection_count >= server.max_connections
            || self
                .accept_filter
                .as_mut()
                .is_some_and(|accept| !accept(remote))
        {
            return;
        }
        let (original_dcid, retry_scid) = match (server.retry, token) {
            (true, TokenCheck::Absent) => {
                self.send_retry(now, remote, version, &dcid, &scid);
                return;
            }
            (true, TokenCheck::Valid(odcid)) => (odcid, Some(dcid)),
            // RFC 9000 §8.1.3: an invalid token may be dropped silently.
            (true, TokenCheck::Invalid) => return,
            (false, _) => (dcid, None),
        };
        let local_cid = self.new_cid();
        let params = ConnectionParams {
            now,
            remote,
            local_cid,
            remote_cid: scid,
            original_dcid,
            retry_scid,
            reset_token: (!local_cid.is_empty()).then(|| self.reset_key.token(&local_cid)),
            seed: self.rng.next_u64(),
            version,
            reset_key: self.reset_key.clone(),
        };
        let Ok(conn) = Connection::server(params, &server) else {
            return;
        };
        let index = self.insert(conn, Some(dcid));
        self.by_initial_dcid.insert(dcid, index);
        if let Some(conn) = self.slots[index as usize].conn.as_mut() {
            conn.set_local_ip(local_ip);
            conn.handle_datagram(now, remote, ecn, datagram);
        }
        self.touch(index);
    }

    fn send_retry(
        &mut self,
        now: Instant,
        remote: SocketAddr,
        version: Version,
        dcid: &ConnectionId,
        scid: &ConnectionId,
    ) {
        let retry_scid = self.new_cid();
        let token = self
            .token_key
            .issue(&remote, self.millis_since_epoch(now), dcid);
        let mut packet = Vec::with_capacity(64 + token.len());
        if encode_retry(&mut packet, version, scid, &retry_scid, &token, &[0; 16]).is_err() {
            return;
        }
        let without_tag = packet.len() - 16;
        let Ok(tag) = retry_integrity_tag(version, dcid, &packet[..without_tag]) else {
            return;
        };
        packet[without_tag..].copy_from_slice(&tag);
        self.push_stateless(remote, packet);
    }

    /// RFC 9000 §6.1: answer an unknown version with the ones we speak,
    /// only for datagrams large enough to be a client's first flight.
    fn send_version_negotiation(
        &mut self,
        remote: SocketAddr,
        len: usize,
        dcid: &[u8],
        scid: &[u8],
    ) {
        if len < MIN_INITIAL_SIZE {
            return;
        }
        let mut versions = self.config.supported_versions.clone();
        // RFC 9000 §6.3 grease: a reserved version the client must ignore.
        versions.push(Version::reserved(self.rng.next_u32()));
        let mut packet = Vec::with_capacity(7 + dcid.len() + scid.len() + 4 * versions.len());
        let unused = (self.rng.next_u32() & 0x7f) as u8;
        if encode_version_negotiation(&mut packet, unused, dcid, scid, &versions).is_ok() {
            self.push_stateless(remote, packet);
        }
    }

    /// RFC 9000 §10.3: a short-header packet for no connection we know
    /// gets a stateless reset, always shorter than what triggered it.
    fn send_stateless_reset(&mut self, remote: SocketAddr, len: usize, dcid: Option<ConnectionId>) {
        let Some(dcid) = dcid.filter(|d| !d.is_empty()) else {
            return;
        };
        if len <= MIN_STATELESS_RESET_LEN {
            return;
        }
        let token = self.reset_key.token(&dcid);
        let mut filler = [0u8; 64];
        self.rng.fill_bytes(&mut filler);
        let mut buf = [0u8; 64];
        if let Ok(n) = write_stateless_reset(&mut buf, &token, 43, len, &filler) {
            self.push_stateless(remote, buf[..n].to_vec());
        }
    }
}

/// What the first packet of a datagram says about where it goes.
struct Route {
    dcid: Option<ConnectionId>,
    kind: RouteKind,
}

enum RouteKind {
    Unsupported {
        dcid: Vec<u8>,
        scid: Vec<u8>,
    },
    Initial {
        version: Version,
        scid: ConnectionId,
        token: TokenCheck,
    },
    Short,
    Other,
}

enum TokenCheck {
    Absent,
    Valid(ConnectionId),
    Invalid,
}
