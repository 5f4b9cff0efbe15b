//! quinn-proto 0.11 on the harness, driven sans-IO the way quinn's own
//! runtime drives it: datagrams go to `Endpoint::handle` (owned
//! `BytesMut`), connection events to `Connection::handle_event`, endpoint
//! events back to `Endpoint::handle_event`, datagrams out of
//! `Connection::poll_transmit` with GSO batches of [`BATCH`].
//!
//! quinn-proto has no endpoint-level send queue or timer: quinn's runtime
//! gives each connection a task and a timer. Here the node keeps the same
//! structures ours has inside its endpoint: a queue of connections with
//! something to do and a min-heap of deadlines with lazy deletion, so no
//! work scans all connections.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use quinn_proto::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use quinn_proto::{
    ClientConfig, Connection, ConnectionHandle, DatagramEvent, Dir, EcnCodepoint, Endpoint,
    EndpointConfig, Event, MtuDiscoveryConfig, ServerConfig, StreamEvent, StreamId,
    TransportConfig, VarInt,
};

use super::net::{AppEvent, Datagram, Node, Wire, BATCH, MAX_DATAGRAM};
use super::tls::{Setup, SERVER_NAME};
use super::{Stack, CONN_WINDOW, SEND_BUFFER, STREAM_WINDOW};

/// quinn-proto's configurations for one run.
pub(crate) struct Quinn {
    client: ClientConfig,
    server: Arc<ServerConfig>,
}

/// The same settings as ours: the benchmark's windows, no idle timeout,
/// 1200-byte datagrams, path MTU discovery with its default settings (up
/// to 1452 bytes, as ours) if `pmtud`, else off; segmentation offload on.
fn transport(pmtud: bool) -> TransportConfig {
    let mut t = TransportConfig::default();
    t.max_idle_timeout(None)
        .stream_receive_window(VarInt::from_u64(STREAM_WINDOW).unwrap_or(VarInt::MAX))
        .receive_window(VarInt::from_u64(CONN_WINDOW).unwrap_or(VarInt::MAX))
        .send_window(SEND_BUFFER)
        .initial_mtu(1200)
        .min_mtu(1200)
        .mtu_discovery_config(pmtud.then(MtuDiscoveryConfig::default))
        .enable_segmentation_offload(true);
    t
}

/// quinn-proto derives Initial keys from TLS_AES_128_GCM_SHA256, which a
/// provider restricted to another suite does not list: name it.
fn initial_suite() -> Result<rustls::quic::Suite, String> {
    rustls::crypto::ring::cipher_suite::TLS13_AES_128_GCM_SHA256
        .tls13()
        .and_then(|s| s.quic_suite())
        .ok_or_else(|| "ring has no QUIC AES-128-GCM suite".to_string())
}

impl Stack for Quinn {
    type Node = QuinnNode;
    const NAME: &'static str = "quinn";

    fn new(tls: &Setup) -> Result<Self, String> {
        let transport = Arc::new(transport(tls.pmtud));
        let crypto = QuicClientConfig::with_initial(tls.client.clone(), initial_suite()?)
            .map_err(|e| e.to_string())?;
        let mut client = ClientConfig::new(Arc::new(crypto));
        client.transport_config(transport.clone());
        let crypto = QuicServerConfig::with_initial(tls.server.clone(), initial_suite()?)
            .map_err(|e| e.to_string())?;
        let mut server = ServerConfig::with_crypto(Arc::new(crypto));
        server.transport_config(transport);
        Ok(Self {
            client,
            server: Arc::new(server),
        })
    }

    fn server(&self, addr: SocketAddr, seed: u64) -> QuinnNode {
        QuinnNode::new(addr, seed, Some(self.server.clone()), self.client.clone())
    }

    fn client(&self, addr: SocketAddr, seed: u64) -> QuinnNode {
        QuinnNode::new(addr, seed, None, self.client.clone())
    }
}

struct Slot {
    /// Boxed, as quinn keeps each connection in its own allocation.
    conn: Option<Box<Connection>>,
    /// Whether the connection is in the send queue.
    queued: bool,
    /// The deadline in the heap for this connection.
    armed: Option<Instant>,
}

/// One quinn-proto endpoint and its connections.
pub(crate) struct QuinnNode {
    ep: Endpoint,
    addr: SocketAddr,
    client: ClientConfig,
    slots: Vec<Slot>,
    send_queue: VecDeque<usize>,
    timers: BinaryHeap<Reverse<(Instant, usize)>>,
    events: VecDeque<(ConnectionHandle, AppEvent<StreamId>)>,
    /// Answers the endpoint made itself (rare: refusals, resets).
    stateless: VecDeque<(SocketAddr, Vec<u8>)>,
    /// One GSO batch.
    buf: Vec<u8>,
}

fn seed_bytes(seed: u64) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (i, chunk) in out.chunks_mut(8).enumerate() {
        chunk.copy_from_slice(
            &(seed ^ (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)).to_le_bytes(),
        );
    }
    out
}

impl QuinnNode {
    fn new(
        addr: SocketAddr,
        seed: u64,
        server: Option<Arc<ServerConfig>>,
        client: ClientConfig,
    ) -> Self {
        let mut config = EndpointConfig::default();
        config.rng_seed(Some(seed_bytes(seed)));
        Self {
            // `allow_mtud`: the socket lets MTU probes through, as
            // the in-memory wire does (datagrams up to 1500 bytes); the
            // transport config decides whether discovery runs.
            ep: Endpoint::new(Arc::new(config), server, true, None),
            addr,
            client,
            slots: Vec::new(),
            send_queue: VecDeque::new(),
            timers: BinaryHeap::new(),
            events: VecDeque::new(),
            stateless: VecDeque::new(),
            buf: Vec::with_capacity(BATCH * MAX_DATAGRAM),
        }
    }

    fn insert(&mut self, ch: ConnectionHandle, conn: Connection) {
        if self.slots.len() <= ch.0 {
            self.slots.resize_with(ch.0 + 1, || Slot {
                conn: None,
                queued: false,
                armed: None,
            });
        }
        self.slots[ch.0].conn = Some(Box::new(conn));
        self.touch(ch.0);
    }

    /// Queues the connection for a visit in the next send phase.
    fn touch(&mut self, i: usize) {
        let slot = &mut self.slots[i];
        if slot.conn.is_some() && !slot.queued {
            slot.queued = true;
            self.send_queue.push_back(i);
        }
    }

    /// The connection, for the application; queues it (its state may
    /// have changed).
    fn conn(&mut self, ch: ConnectionHandle) -> Option<&mut Connection> {
        self.slots.get(ch.0)?.conn.as_ref()?;
        self.touch(ch.0);
        self.slots[ch.0].conn.as_deref_mut()
    }

    fn queue_response(&mut self, transmit: &quinn_proto::Transmit, bytes: &[u8]) {
        let bytes = bytes.get(..transmit.size).unwrap_or(bytes);
        self.stateless
            .push_back((transmit.destination, bytes.to_vec()));
    }

    /// Timers due at `now` queue their connections.
    fn fire_timers(&mut self, now: Instant) {
        while let Some(&Reverse((t, i))) = self.timers.peek() {
            if t > now {
                break;
            }
            self.timers.pop();
            if self.slots[i].armed == Some(t) {
                self.slots[i].armed = None;
                self.touch(i);
            }
        }
    }

    /// One visit of connection `i`: due timers, endpoint events, one
    /// `poll_transmit`, application events, the timer re-armed. Returns the
    /// datagrams sent (0: nothing to send).
    fn visit(&mut self, i: usize, now: Instant, wire: &mut Wire) -> usize {
        let ch = ConnectionHandle(i);
        let Self {
            ep,
            slots,
            timers,
            events,
            buf,
            addr,
            ..
        } = self;
        let slot = &mut slots[i];
        let Some(conn) = slot.conn.as_deref_mut() else {
            return 0;
        };
        if conn.poll_timeout().is_some_and(|t| t <= now) {
            conn.handle_timeout(now);
        }
        let mut drained = false;
        while let Some(event) = conn.poll_endpoint_events() {
            drained |= event.is_drained();
            if let Some(back) = ep.handle_event(ch, event) {
                conn.handle_event(back);
            }
        }
        let mut sent = 0;
        if !drained {
            buf.clear();
            if let Some(tx) = conn.poll_transmit(now, BATCH, buf) {
                let segment = tx.segment_size.unwrap_or(tx.size).max(1);
                let ecn = tx.ecn.map_or(0, |e| e as u8);
                for datagram in buf[..tx.size].chunks(segment) {
                    wire.push(*addr, tx.destination, ecn, datagram);
                    sent += 1;
                }
            }
        }
        while let Some(event) = conn.poll() {
            let app = match event {
                Event::Connected => AppEvent::Connected,
                Event::ConnectionLost { .. } => AppEvent::Closed,
                Event::Stream(StreamEvent::Opened { .. }) => AppEvent::Opened,
                Event::Stream(StreamEvent::Readable { id }) => AppEvent::Readable(id),
                Event::Stream(StreamEvent::Writable { id }) => AppEvent::Writable(id),
                Event::Stream(StreamEvent::Finished { id }) => AppEvent::Finished(id),
                _ => continue,
            };
            events.push_back((ch, app));
        }
        if drained {
            slot.conn = None;
            slot.armed = None;
            events.push_back((ch, AppEvent::Drained));
            return 0;
        }
        if let Some(t) = conn.poll_timeout() {
            // Only an earlier deadline enters the heap; a later one is
            // found when the armed entry fires.
            if slot.armed.is_none_or(|a| t < a) {
                slot.armed = Some(t);
                timers.push(Reverse((t, i)));
            }
        }
        sent
    }

    /// Drops heap entries that no longer match their connection's deadline.
    fn clean_timers(&mut self) {
        while let Some(&Reverse((t, i))) = self.timers.peek() {
            if self.slots[i].armed == Some(t) {
                break;
            }
            self.timers.pop();
        }
    }
}

fn dir(bidi: bool) -> Dir {
    if bidi {
        Dir::Bi
    } else {
        Dir::Uni
    }
}

impl Node for QuinnNode {
    type Conn = ConnectionHandle;
    type Stream = StreamId;

    fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn receive(&mut self, now: Instant, d: Datagram<'_>) {
        let ecn = EcnCodepoint::from_bits(d.ecn);
        let from = d.from;
        let mut response = Vec::new();
        match self
            .ep
            .handle(now, from, None, ecn, d.into_owned(), &mut response)
        {
            Some(DatagramEvent::ConnectionEvent(ch, event)) => {
                if let Some(conn) = self.slots.get_mut(ch.0).and_then(|s| s.conn.as_deref_mut()) {
                    conn.handle_event(event);
                    self.touch(ch.0);
                }
            }
            Some(DatagramEvent::NewConnection(incoming)) => {
                match self.ep.accept(incoming, now, &mut response, None) {
                    Ok((ch, conn)) => self.insert(ch, conn),
                    Err(e) => {
                        if let Some(tx) = e.response {
                            self.queue_response(&tx, &response);
                        }
                    }
                }
            }
            Some(DatagramEvent::Response(tx)) => self.queue_response(&tx, &response),
            None => {}
        }
    }

    fn transmit(&mut self, now: Instant, wire: &mut Wire) -> usize {
        self.fire_timers(now);
        let mut sent = 0;
        while let Some((to, bytes)) = self.stateless.pop_front() {
            wire.push(self.addr, to, 0, &bytes);
            sent += 1;
        }
        while sent < BATCH {
            let Some(&i) = self.send_queue.front() else {
                break;
            };
            let n = self.visit(i, now, wire);
            if n == 0 {
                self.send_queue.pop_front();
                self.slots[i].queued = false;
            } else {
                sent += n;
                // Round-robin: the connection goes to the back.
                self.send_queue.rotate_left(1);
            }
        }
        sent
    }

    fn next_wake(&mut self) -> Option<Instant> {
        self.clean_timers();
        self.timers.peek().map(|Reverse((t, _))| *t)
    }

    fn connect(&mut self, now: Instant, server: SocketAddr) -> Result<ConnectionHandle, String> {
        let (ch, conn) = self
            .ep
            .connect(now, self.client.clone(), server, SERVER_NAME)
            .map_err(|e| e.to_string())?;
        self.insert(ch, conn);
        Ok(ch)
    }

    fn poll_app(&mut self) -> Option<(ConnectionHandle, AppEvent<StreamId>)> {
        self.events.pop_front()
    }

    fn open(&mut self, conn: ConnectionHandle, bidi: bool) -> Option<StreamId> {
        self.conn(conn)?.streams().open(dir(bidi))
    }

    fn accept(&mut self, conn: ConnectionHandle, bidi: bool) -> Option<StreamId> {
        self.conn(conn)?.streams().accept(dir(bidi))
    }

    fn write(&mut self, conn: ConnectionHandle, stream: StreamId, data: &mut Bytes) -> bool {
        let Some(c) = self.conn(conn) else {
            return false;
        };
        match c
            .send_stream(stream)
            .write_chunks(std::slice::from_mut(data))
        {
            Ok(written) => written.bytes > 0,
            Err(_) => false,
        }
    }

    fn finish(&mut self, conn: ConnectionHandle, stream: StreamId) {
        if let Some(c) = self.conn(conn) {
            let _ = c.send_stream(stream).finish();
        }
    }

    fn read(
        &mut self,
        conn: ConnectionHandle,
        stream: StreamId,
        sink: &mut dyn FnMut(&[u8]),
    ) -> bool {
        let Some(c) = self.conn(conn) else {
            return false;
        };
        let mut recv = c.recv_stream(stream);
        let Ok(mut chunks) = recv.read(true) else {
            return false;
        };
        let mut fin = false;
        loop {
            match chunks.next(usize::MAX) {
                Ok(Some(chunk)) => sink(&chunk.bytes),
                Ok(None) => {
                    fin = true;
                    break;
                }
                Err(_) => break,
            }
        }
        // Flow-control credit goes out with the next visit (the
        // connection is queued by `conn`).
        let _ = chunks.finalize();
        fin
    }

    fn close(&mut self, now: Instant, conn: ConnectionHandle) {
        if let Some(c) = self.conn(conn) {
            c.close(now, VarInt::from_u32(0), Bytes::new());
        }
    }

    fn cipher_suite(&mut self, _conn: ConnectionHandle) -> Option<rustls::CipherSuite> {
        // quinn-proto does not expose it; the provider offers one suite
        // only, so the handshake cannot have agreed on another.
        None
    }
}
