//! Our stack on the harness: one [`Endpoint`] per node, driven through its
//! driver API (`incoming_packet`, `prepare_next_packet` with GSO batches of
//! [`BATCH`], `next_wake_time`, `poll_event`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::{Buf, Bytes};
use quic_proto::ack::EcnCodepoint;
use quic_proto::config::{ClientConfig, EndpointConfig, ServerConfig, TransportConfig};
use quic_proto::connection::Event;
use quic_proto::endpoint::{ConnectionHandle, DatagramInfo, Endpoint};
use quic_proto::streams::StreamEvent;
use quic_proto::{Dir, StreamId, VarInt};

use super::net::{AppEvent, Datagram, Node, Wire, BATCH, MAX_DATAGRAM};
use super::tls::{Setup, SERVER_NAME};
use super::{Stack, CONN_WINDOW, SEND_BUFFER, STREAM_WINDOW};

/// Our stack's configurations for one run.
pub(crate) struct Ours {
    client: ClientConfig,
    server: ServerConfig,
}

/// The transport settings of both sides: the benchmark's windows, no idle
/// timeout (idle connections must stay), 1200-byte datagrams without path
/// MTU discovery unless `pmtud` (as quinn-proto's side), the rest default.
fn transport(pmtud: bool) -> TransportConfig {
    let mut t = TransportConfig::default();
    t.max_idle_timeout = None;
    if !pmtud {
        t.mtu_discovery = None;
    }
    // Fixed windows, as quinn-proto's are: no auto-tuning range.
    t.stream_receive_window = STREAM_WINDOW;
    t.max_stream_receive_window = STREAM_WINDOW;
    t.receive_window = CONN_WINDOW;
    t.max_receive_window = CONN_WINDOW;
    t.send_buffer = SEND_BUFFER;
    t
}

impl Stack for Ours {
    type Node = OurNode;
    const NAME: &'static str = "ours";

    fn new(tls: &Setup) -> Result<Self, String> {
        let transport = Arc::new(transport(tls.pmtud));
        let mut client = ClientConfig::new(tls.client.clone()).map_err(|e| e.to_string())?;
        client.transport = transport.clone();
        let mut server = ServerConfig::new(tls.server.clone()).map_err(|e| e.to_string())?;
        server.transport = transport;
        server.max_connections = 1 << 20;
        Ok(Self { client, server })
    }

    fn server(&self, addr: SocketAddr, seed: u64) -> OurNode {
        OurNode::new(addr, seed, Some(self.server.clone()), self.client.clone())
    }

    fn client(&self, addr: SocketAddr, seed: u64) -> OurNode {
        OurNode::new(addr, seed, None, self.client.clone())
    }
}

/// One endpoint of ours.
pub(crate) struct OurNode {
    ep: Endpoint,
    addr: SocketAddr,
    client: ClientConfig,
    /// One GSO batch.
    buf: Vec<u8>,
}

impl OurNode {
    fn new(
        addr: SocketAddr,
        seed: u64,
        server: Option<ServerConfig>,
        client: ClientConfig,
    ) -> Self {
        let mut config = EndpointConfig::new(seed);
        config.max_gso_segments = BATCH;
        Self {
            ep: Endpoint::new(config, server),
            addr,
            client,
            buf: vec![0; BATCH * MAX_DATAGRAM],
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

impl Node for OurNode {
    type Conn = ConnectionHandle;
    type Stream = StreamId;

    fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn receive(&mut self, now: Instant, mut d: Datagram<'_>) {
        let info = DatagramInfo {
            remote: d.from,
            local_ip: None,
            ecn: EcnCodepoint::from_bits(d.ecn),
        };
        self.ep.incoming_packet(now, info, d.bytes_mut());
    }

    fn transmit(&mut self, now: Instant, wire: &mut Wire) -> usize {
        let mut sent = 0;
        while sent < BATCH {
            let Some((tx, _)) = self.ep.prepare_next_packet(now, &mut self.buf) else {
                break;
            };
            let segment = tx.segment_size.unwrap_or(tx.size).max(1);
            let ecn = tx.ecn.map_or(0, EcnCodepoint::bits);
            for datagram in self.buf[..tx.size].chunks(segment) {
                wire.push(self.addr, tx.destination, ecn, datagram);
                sent += 1;
            }
        }
        sent
    }

    fn next_wake(&mut self) -> Option<Instant> {
        self.ep.next_wake_time()
    }

    fn connect(&mut self, now: Instant, server: SocketAddr) -> Result<ConnectionHandle, String> {
        self.ep
            .connect(now, &self.client, server, SERVER_NAME)
            .map_err(|e| e.to_string())
    }

    fn poll_app(&mut self) -> Option<(ConnectionHandle, AppEvent<StreamId>)> {
        while let Some((handle, event)) = self.ep.poll_event() {
            let app = match event {
                Event::Connected => AppEvent::Connected,
                Event::Stream(StreamEvent::Opened { .. }) => AppEvent::Opened,
                Event::Stream(StreamEvent::Readable { id }) => AppEvent::Readable(id),
                Event::Stream(StreamEvent::Writable { id }) => AppEvent::Writable(id),
                Event::Stream(StreamEvent::Finished { id }) => AppEvent::Finished(id),
                Event::Closed(_) => AppEvent::Closed,
                Event::Drained => AppEvent::Drained,
                _ => continue,
            };
            return Some((handle, app));
        }
        None
    }

    fn open(&mut self, conn: ConnectionHandle, bidi: bool) -> Option<StreamId> {
        self.ep.connection(conn)?.open_stream(dir(bidi)).ok()
    }

    fn accept(&mut self, conn: ConnectionHandle, bidi: bool) -> Option<StreamId> {
        self.ep.connection(conn)?.accept_stream(dir(bidi))
    }

    fn write(&mut self, conn: ConnectionHandle, stream: StreamId, data: &mut Bytes) -> bool {
        let Some(c) = self.ep.connection(conn) else {
            return false;
        };
        match c.write_bytes(stream, data.clone()) {
            Ok(n) => {
                data.advance(n);
                n > 0
            }
            Err(_) => false,
        }
    }

    fn finish(&mut self, conn: ConnectionHandle, stream: StreamId) {
        if let Some(c) = self.ep.connection(conn) {
            let _ = c.finish(stream);
        }
    }

    fn read(
        &mut self,
        conn: ConnectionHandle,
        stream: StreamId,
        sink: &mut dyn FnMut(&[u8]),
    ) -> bool {
        let Some(c) = self.ep.connection(conn) else {
            return false;
        };
        loop {
            match c.read_chunk(stream, usize::MAX) {
                Ok(Some((chunk, fin))) => {
                    if !chunk.is_empty() {
                        sink(&chunk);
                    }
                    if fin {
                        return true;
                    }
                }
                Ok(None) | Err(_) => return false,
            }
        }
    }

    fn close(&mut self, now: Instant, conn: ConnectionHandle) {
        if let Some(c) = self.ep.connection(conn) {
            c.close(now, VarInt::from_u32(0), b"");
        }
    }

    fn cipher_suite(&mut self, conn: ConnectionHandle) -> Option<rustls::CipherSuite> {
        let c = self.ep.connection(conn)?;
        c.cipher_suite().map(|s| s.suite())
    }
}
