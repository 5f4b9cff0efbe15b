//! One QUIC connection: the state machine behind the driver API.
//!
//! A [`Connection`] is driven by its [`Endpoint`](crate::endpoint::Endpoint):
//! datagrams in ([`Connection::handle_datagram`]), datagrams out
//! ([`Connection::poll_transmit`]), timers ([`Connection::next_timeout`],
//! [`Connection::handle_timeout`]) and application events
//! ([`Connection::poll_event`]). Every call that takes `now` first runs the
//! timers due at `now`.
//!
//! The work is split by concern: `tls` (the rustls handshake), `recv`
//! (packets and frames in), `send` (packet assembly), `crypto_stream`
//! (CRYPTO data per level), `keys` (1-RTT key phases), `log` (what
//! each sent packet carried), `mtud` (path MTU discovery), `timers`.
//! Streams, ACK tracking, loss recovery and
//! congestion control are components of their own (`crate::streams`,
//! `crate::ack`, `crate::recovery`, `crate::congestion`) that write their
//! own frames and get their records back on acknowledgement or loss.

mod api;
pub(crate) mod crypto_stream;
mod events;
pub(crate) mod keys;
pub(crate) mod log;
mod mtud;
mod recv;
mod send;
mod timers;
pub(crate) mod tls;

pub use self::api::DatagramError;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

use crate::ack::{AckTracker, EcnCodepoint};
use crate::cid_manager::{CidEvent, CidSource, LocalCids, RemoteCids};
use crate::config::{ClientConfig, ServerConfig, TransportConfig};
use crate::congestion::{Controller, ControllerFactory, NewRenoConfig};
use crate::crypto::{initial_keys, Keys, ResetTokenKey};
use crate::recovery::{Context, LossDetection, RttEstimator, SpaceId};
use crate::streams::{StreamEvent, Streams, StreamsConfig};
use crate::transport_params::TransportParameters;
use crate::{
    ConnectionId, Side, StatelessResetToken, TransportError, TransportErrorCode, VarInt, Version,
};

use self::crypto_stream::CryptoStream;
use self::events::PendingEvents;
use self::keys::OneRttKeys;
use self::log::{FrameLog, LogSpan};
use self::timers::TimerFloor;
use self::tls::Tls;
pub use self::tls::TlsStartError;

/// The smallest datagram that may carry a client Initial (RFC 9000 §14.1).
pub const MIN_INITIAL_SIZE: usize = 1200;

/// Why a connection ended.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectionError {
    /// We closed it because the peer broke the protocol.
    TransportError(TransportError),
    /// The peer closed it with a transport error code.
    PeerTransportClose {
        /// The code.
        code: TransportErrorCode,
        /// The reason phrase the peer sent.
        reason: Vec<u8>,
    },
    /// The peer's application closed it.
    PeerApplicationClose {
        /// The application's code.
        code: VarInt,
        /// The reason phrase.
        reason: Vec<u8>,
    },
    /// Our application closed it.
    LocallyClosed,
    /// The idle timeout expired (RFC 9000 §10.1).
    TimedOut,
    /// The peer sent a stateless reset (RFC 9000 §10.3).
    Reset,
    /// The server speaks none of our versions (RFC 9000 §6.2).
    VersionMismatch,
}

impl core::fmt::Display for ConnectionError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::TransportError(e) => write!(f, "closed after a protocol error: {e}"),
            Self::PeerTransportClose { code, reason } => {
                write!(
                    f,
                    "peer closed: {code:?} ({})",
                    String::from_utf8_lossy(reason)
                )
            }
            Self::PeerApplicationClose { code, reason } => {
                write!(
                    f,
                    "peer application closed: {code} ({})",
                    String::from_utf8_lossy(reason)
                )
            }
            Self::LocallyClosed => f.write_str("closed by the application"),
            Self::TimedOut => f.write_str("idle timeout"),
            Self::Reset => f.write_str("stateless reset"),
            Self::VersionMismatch => f.write_str("no common QUIC version"),
        }
    }
}

impl std::error::Error for ConnectionError {}

/// Something the application should know about.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The handshake completed: streams may carry 1-RTT data.
    Connected,
    /// The handshake is confirmed (RFC 9001 §4.1.2).
    HandshakeConfirmed,
    /// A stream event.
    Stream(StreamEvent),
    /// An unreliable datagram arrived; take it with
    /// [`Connection::recv_datagram`].
    DatagramReceived,
    /// The connection is closing or closed; no more data moves.
    Closed(ConnectionError),
    /// All state can be dropped: the closing or draining period is over.
    Drained,
}

/// The counters a connection keeps; [`Connection::stats`] adds the figures
/// read from other components (see [`Stats`] for each).
#[derive(Clone, Copy, Debug, Default)]
struct Counters {
    datagrams_sent: u64,
    datagrams_received: u64,
    packets_sent: u64,
    packets_received: u64,
    packets_lost: u64,
    bytes_lost: u64,
    bytes_sent: u64,
    bytes_received: u64,
    key_updates: u64,
    mtu_probes_sent: u64,
    mtu_probes_lost: u64,
    black_holes_detected: u64,
}

/// Counters for monitoring and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// UDP datagrams sent.
    pub datagrams_sent: u64,
    /// UDP datagrams received (including ones later dropped).
    pub datagrams_received: u64,
    /// QUIC packets sent.
    pub packets_sent: u64,
    /// QUIC packets received and authenticated.
    pub packets_received: u64,
    /// Packets declared lost, PMTU probes not included.
    pub packets_lost: u64,
    /// UDP payload bytes of the packets declared lost, PMTU probes not
    /// included.
    pub bytes_lost: u64,
    /// UDP payload bytes sent.
    pub bytes_sent: u64,
    /// UDP payload bytes received.
    pub bytes_received: u64,
    /// Key updates, either side's.
    pub key_updates: u64,
    /// Stream payload bytes sent again because the packet carrying them was
    /// declared lost.
    pub stream_bytes_retransmitted: u64,
    /// The smoothed RTT.
    pub rtt: Duration,
    /// The congestion window.
    pub cwnd: u64,
    /// Bytes in flight.
    pub bytes_in_flight: u64,
    /// Losses reported to the congestion controller as congestion events
    /// (RFC 9002 §7); lost PMTU probes never are (RFC 9000 §14.4).
    pub congestion_events: u64,
    /// The path's current maximum datagram size: the largest UDP payload
    /// we send ([`Connection::path_mtu`]).
    pub path_mtu: u16,
    /// PMTU probes sent (RFC 9000 §14.4).
    pub mtu_probes_sent: u64,
    /// PMTU probes declared lost.
    pub mtu_probes_lost: u64,
    /// Times the datagram size fell back to 1200 bytes because larger
    /// packets stopped getting through.
    pub black_holes_detected: u64,
}

/// Where a datagram from [`Connection::poll_transmit`] goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// The peer's address.
    pub destination: SocketAddr,
    /// How many bytes of the buffer to send.
    pub size: usize,
    /// The ECN codepoint to mark the datagram with.
    pub ecn: Option<EcnCodepoint>,
    /// The local address to send from, when the datagrams that reached us
    /// said (multi-homed hosts must answer from the address they were
    /// reached at).
    pub source: Option<std::net::IpAddr>,
    /// Set when the buffer holds several datagrams to send with one
    /// segmentation offload (GSO) call: each is this many bytes, the last
    /// may be shorter.
    pub segment_size: Option<usize>,
}

/// The lifecycle (RFC 9000 §10).
#[derive(Debug)]
enum State {
    Handshake,
    Established,
    /// We sent CONNECTION_CLOSE; answer packets with it until `until`.
    Closing {
        until: Instant,
    },
    /// The peer closed or reset; stay silent until `until`.
    Draining {
        until: Instant,
    },
    Drained,
}

/// The CONNECTION_CLOSE we send while closing.
#[derive(Debug, Clone)]
struct CloseFrame {
    application: bool,
    code: VarInt,
    frame_type: Option<crate::FrameType>,
    reason: Vec<u8>,
}

/// HANDSHAKE_DONE's progress (server side, RFC 9000 §13.3: resent until
/// acknowledged).
#[derive(Debug, Default)]
pub(crate) struct HandshakeDoneState {
    /// Waiting to be written.
    pub pending: bool,
    /// Written at least once.
    pub sent: bool,
    /// Acknowledged by the client.
    pub acked: bool,
}

/// One packet-number space.
struct Space {
    id: SpaceId,
    /// Initial and Handshake keys; 1-RTT keys live in `Connection::one_rtt`
    /// (boxed, so the application space does not carry an empty slot).
    keys: Option<Box<Keys>>,
    crypto: CryptoStream,
    ack: AckTracker,
    next_pn: u64,
    /// Probe packets requested by a PTO (RFC 9002 §6.2.4).
    probes: u8,
}

impl Space {
    fn new(id: SpaceId, max_ack_delay: Duration) -> Self {
        let ack = match id {
            SpaceId::Data => AckTracker::delayed(max_ack_delay),
            _ => AckTracker::immediate(),
        };
        Self {
            id,
            keys: None,
            crypto: CryptoStream::default(),
            ack,
            next_pn: 0,
            probes: 0,
        }
    }
}

/// The three packet-number spaces, indexed 0 (Initial), 1 (Handshake) and
/// 2 (application data). The Initial and Handshake spaces live on the heap
/// and are freed when their keys are discarded (RFC 9001 §4.9), so an
/// established connection holds only the application data space.
struct Spaces {
    /// Initial and Handshake; `None` once discarded.
    handshake: [Option<Box<Space>>; 2],
    data: Space,
}

impl Spaces {
    fn new(max_ack_delay: Duration) -> Self {
        Self {
            handshake: [
                Some(Box::new(Space::new(SpaceId::Initial, max_ack_delay))),
                Some(Box::new(Space::new(SpaceId::Handshake, max_ack_delay))),
            ],
            data: Space::new(SpaceId::Data, max_ack_delay),
        }
    }

    /// Space `idx`, unless it was discarded.
    fn get(&self, idx: usize) -> Option<&Space> {
        match idx {
            2 => Some(&self.data),
            _ => self.handshake.get(idx)?.as_deref(),
        }
    }

    /// Space `idx`, unless it was discarded.
    fn get_mut(&mut self, idx: usize) -> Option<&mut Space> {
        match idx {
            2 => Some(&mut self.data),
            _ => self.handshake.get_mut(idx)?.as_deref_mut(),
        }
    }

    /// Whether space `idx` has keys to protect packets with.
    fn has_keys(&self, idx: usize) -> bool {
        self.get(idx).is_some_and(|s| s.keys.is_some())
    }

    /// Drops a handshake space; returns whether it was there.
    fn discard(&mut self, idx: usize) -> bool {
        self.handshake
            .get_mut(idx)
            .is_some_and(|s| s.take().is_some())
    }

    /// The Initial and Handshake spaces not discarded.
    fn handshake_mut(&mut self) -> impl Iterator<Item = &mut Space> {
        self.handshake.iter_mut().flatten().map(|s| &mut **s)
    }
}

/// What the connection uses of the peer's transport parameters after they
/// arrive (RFC 9000 §18.2); the rest is applied then (stream limits, reset
/// token, connection IDs) and not kept.
#[derive(Clone, Copy, Debug)]
struct PeerParams {
    max_idle_timeout_ms: VarInt,
    max_ack_delay_ms: u16,
    ack_delay_exponent: u8,
    active_connection_id_limit: VarInt,
    max_datagram_frame_size: Option<VarInt>,
}

impl PeerParams {
    fn new(p: &TransportParameters) -> Self {
        Self {
            max_idle_timeout_ms: p.max_idle_timeout_ms,
            max_ack_delay_ms: p.max_ack_delay_ms,
            ack_delay_exponent: p.ack_delay_exponent,
            active_connection_id_limit: p.active_connection_id_limit,
            max_datagram_frame_size: p.max_datagram_frame_size,
        }
    }

    /// See [`TransportParameters::max_idle_timeout`].
    fn max_idle_timeout(&self) -> Option<Duration> {
        crate::transport_params::idle_timeout(self.max_idle_timeout_ms)
    }

    fn max_ack_delay(&self) -> Duration {
        Duration::from_millis(self.max_ack_delay_ms.into())
    }

    /// See [`TransportParameters::decode_ack_delay`].
    fn decode_ack_delay(&self, ack_delay: VarInt) -> Duration {
        crate::transport_params::decode_ack_delay(ack_delay, self.ack_delay_exponent)
    }
}

/// The network path (RFC 9000 §8, §9): its address, RTT, congestion
/// controller and the anti-amplification budget. Kept apart from the
/// connection so that migration can swap it.
struct Path {
    remote: SocketAddr,
    rtt: RttEstimator,
    cc: Box<dyn Controller>,
    /// Whether the peer's address is validated (RFC 9000 §8.1).
    validated: bool,
    /// Bytes received and sent on the path while unvalidated (RFC 9000 §8.1:
    /// at most three times as many sent as received).
    received: u64,
    sent: u64,
    /// The largest UDP payload we send on the path: `initial_mtu` until
    /// path MTU discovery (`mtud`) changes it.
    mtu: u16,
    mtud: mtud::Mtud,
    /// Our address on this path, when the embedder reports it.
    local_ip: Option<std::net::IpAddr>,
}

impl Path {
    fn amplification_budget(&self) -> usize {
        if self.validated {
            usize::MAX
        } else {
            (self.received.saturating_mul(3).saturating_sub(self.sent)) as usize
        }
    }
}

/// A QUIC connection; see the module docs.
pub struct Connection {
    side: Side,
    version: Version,
    state: State,
    tls: Tls,
    config: Arc<TransportConfig>,
    spaces: Spaces,
    one_rtt: Option<OneRttKeys>,
    loss: LossDetection<LogSpan>,
    log: FrameLog,
    path: Path,
    streams: Streams,
    /// Our connection ID of the handshake (sequence 0).
    local_cid: ConnectionId,
    /// The connection IDs we issued (RFC 9000 §5.1).
    local_cids: LocalCids,
    /// The connection IDs the peer gave us, and their reset tokens.
    remote_cids: RemoteCids,
    /// Where new local connection IDs come from.
    cid_gen: CidGen,
    /// The DCID of the client's first Initial (RFC 9000 §7.3).
    original_dcid: ConnectionId,
    /// The SCID of the Retry we received or sent.
    retry_scid: Option<ConnectionId>,
    /// The token to put in client Initials (from a Retry).
    token: Vec<u8>,
    /// Whether the client has seen the server's first Initial (and taken
    /// its SCID as the DCID, RFC 9000 §7.2).
    got_server_initial: bool,
    peer_params: Option<PeerParams>,
    /// Our ack_delay_exponent transport parameter (the only one of ours
    /// needed after the handshake starts; the rest went to TLS).
    ack_delay_exponent: u8,
    handshake_confirmed: bool,
    /// HANDSHAKE_DONE: to send, and acknowledged (RFC 9000 §13.3).
    handshake_done: HandshakeDoneState,
    idle_timeout: Option<Duration>,
    last_activity: Instant,
    /// Whether an ack-eliciting packet was sent since the last receive
    /// (RFC 9000 §10.1 idle timer restarts).
    sent_ack_eliciting_since_receive: bool,
    /// When we last sent an ack-eliciting packet.
    last_ack_eliciting_sent: Instant,
    /// When `handle_timeout` next has something to do, at the earliest.
    timer_floor: Option<TimerFloor>,
    /// Our CONNECTION_CLOSE, once closing (boxed: most of a connection's
    /// life it is absent).
    close: Option<Box<CloseFrame>>,
    close_pending: bool,
    /// Datagrams received in the closing state: only the 1st, 2nd, 4th,
    /// 8th... get a CONNECTION_CLOSE back (RFC 9000 §10.2.1).
    closing_received: u32,
    error: Option<Box<ConnectionError>>,
    events: PendingEvents,
    path_responses: VecDeque<[u8; 8]>,
    datagrams_in: VecDeque<Bytes>,
    datagrams_out: VecDeque<Bytes>,
    ping_pending: bool,
    key_update_requested: bool,
    /// The data of our outstanding PATH_CHALLENGE, and whether it still
    /// has to be sent (RFC 9000 §8.2).
    challenge: Option<[u8; 8]>,
    challenge_pending: bool,
    /// 1-RTT packets that failed authentication (RFC 9001 §6.6).
    auth_failures: u64,
    stats: Counters,
}

impl core::fmt::Debug for Connection {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Connection")
            .field("side", &self.side)
            .field("state", &self.state)
            .field("local_cid", &self.local_cid)
            .field("remote_cid", &self.remote_cids.active())
            .finish_non_exhaustive()
    }
}

/// What a new connection starts from (the endpoint fills it in).
pub(crate) struct ConnectionParams {
    pub now: Instant,
    pub remote: SocketAddr,
    pub local_cid: ConnectionId,
    pub remote_cid: ConnectionId,
    pub original_dcid: ConnectionId,
    pub retry_scid: Option<ConnectionId>,
    pub reset_token: Option<StatelessResetToken>,
    pub seed: u64,
    pub version: Version,
    /// The endpoint's key for the reset tokens of the IDs we issue.
    pub reset_key: Arc<ResetTokenKey>,
}

/// How many connection IDs we keep issued at once (the peer's
/// active_connection_id_limit may lower it, RFC 9000 §5.1.1).
const MAX_LOCAL_CIDS: u64 = 4;

/// Makes the connection's new local IDs: seeded random bytes, and reset
/// tokens under the endpoint's key (RFC 9000 §10.3.2).
///
/// It keeps a seed and a count rather than a generator (whose block buffer
/// would add 300 bytes to every connection): each ID comes from its own
/// ChaCha8 stream of the seed. New IDs are rare, so building the generator
/// per call costs nothing that matters.
struct CidGen {
    seed: u64,
    drawn: u64,
    key: Arc<ResetTokenKey>,
    len: usize,
}

impl CidGen {
    /// Fills `out` from the next stream of the seed (connection IDs and
    /// PATH_CHALLENGE data).
    fn fill(&mut self, out: &mut [u8]) {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        rng.set_stream(self.drawn);
        self.drawn += 1;
        rng.fill_bytes(out);
    }
}

impl CidSource for CidGen {
    fn new_cid(&mut self) -> (ConnectionId, StatelessResetToken) {
        let mut bytes = [0u8; ConnectionId::MAX_LEN];
        let len = self.len.min(ConnectionId::MAX_LEN);
        self.fill(&mut bytes[..len]);
        let cid = ConnectionId::new(&bytes[..len]).unwrap_or(ConnectionId::EMPTY);
        (cid, self.key.token(&cid))
    }
}

impl Connection {
    /// A client connection to `server_name` (RFC 9000 §7): the first Initial
    /// is ready to send at once.
    pub(crate) fn client(
        p: ConnectionParams,
        config: &ClientConfig,
        server_name: &str,
    ) -> Result<Self, TlsStartError> {
        let transport = config.transport.clone();
        let mut params = transport.transport_parameters();
        params.initial_source_connection_id = Some(p.local_cid);
        let tls = Tls::client(
            config.tls.clone(),
            p.version,
            server_name,
            params.to_vec(Side::Client, None),
        )?;
        let mut conn = Self::new(Side::Client, tls, transport, params, p);
        if let Some(initial) = conn.spaces.get_mut(0) {
            initial.keys = initial_keys(conn.version, &conn.original_dcid, Side::Client)
                .ok()
                .map(Box::new);
        }
        conn.drive_tls();
        Ok(conn)
    }

    /// A server connection for a client's first Initial.
    pub(crate) fn server(
        p: ConnectionParams,
        config: &ServerConfig,
    ) -> Result<Self, TlsStartError> {
        let transport = config.transport.clone();
        let mut params = transport.transport_parameters();
        params.original_destination_connection_id = Some(p.original_dcid);
        params.initial_source_connection_id = Some(p.local_cid);
        params.retry_source_connection_id = p.retry_scid;
        params.stateless_reset_token = p.reset_token;
        let tls = Tls::server(
            config.tls.clone(),
            p.version,
            params.to_vec(Side::Server, None),
        )?;
        let mut conn = Self::new(Side::Server, tls, transport, params, p);
        // RFC 9001 §5.2: keys from the DCID of the Initial being answered,
        // which after a Retry is the Retry's SCID.
        let dcid = conn.retry_scid.unwrap_or(conn.original_dcid);
        if let Some(initial) = conn.spaces.get_mut(0) {
            initial.keys = initial_keys(conn.version, &dcid, Side::Server)
                .ok()
                .map(Box::new);
        }
        Ok(conn)
    }

    fn new(
        side: Side,
        tls: Tls,
        config: Arc<TransportConfig>,
        local_params: TransportParameters,
        p: ConnectionParams,
    ) -> Self {
        let mtu = config.initial_mtu.max(1200);
        let streams_config = StreamsConfig {
            max_stream_window: config.max_stream_receive_window,
            max_conn_window: config.max_receive_window,
            conn_send_buffer: config.send_buffer,
            ..StreamsConfig::DEFAULT
        };
        let max_ack_delay = config.max_ack_delay;
        Self {
            side,
            version: p.version,
            state: State::Handshake,
            tls,
            spaces: Spaces::new(max_ack_delay),
            one_rtt: None,
            loss: LossDetection::new(),
            log: FrameLog::default(),
            path: Path {
                remote: p.remote,
                rtt: RttEstimator::new(config.initial_rtt),
                cc: NewRenoConfig::default().build(p.now, mtu),
                // A client always knows its server's address is genuine;
                // the server validates the client (RFC 9000 §8.1).
                validated: side.is_client(),
                received: 0,
                sent: 0,
                mtu,
                mtud: mtud::Mtud::new(config.mtu_discovery, config.max_udp_payload_size, p.now),
                local_ip: None,
            },
            streams: Streams::new(side, &local_params, streams_config),
            local_cid: p.local_cid,
            local_cids: LocalCids::new(p.local_cid, MAX_LOCAL_CIDS),
            remote_cids: RemoteCids::new(p.remote_cid, config.active_connection_id_limit.max(2)),
            cid_gen: CidGen {
                seed: p.seed ^ 0x5eed_c1d5,
                drawn: 0,
                key: p.reset_key.clone(),
                len: p.local_cid.len(),
            },
            original_dcid: p.original_dcid,
            retry_scid: p.retry_scid,
            token: Vec::new(),
            got_server_initial: false,
            peer_params: None,
            idle_timeout: config.max_idle_timeout,
            ack_delay_exponent: local_params.ack_delay_exponent,
            handshake_confirmed: false,
            handshake_done: HandshakeDoneState::default(),
            last_activity: p.now,
            sent_ack_eliciting_since_receive: false,
            last_ack_eliciting_sent: p.now,
            timer_floor: None,
            close: None,
            close_pending: false,
            closing_received: 0,
            error: None,
            events: PendingEvents::default(),
            path_responses: VecDeque::new(),
            datagrams_in: VecDeque::new(),
            datagrams_out: VecDeque::new(),
            ping_pending: false,
            key_update_requested: false,
            auth_failures: 0,
            challenge: None,
            challenge_pending: false,
            stats: Counters::default(),
            config,
        }
    }

    /// Which side this is.
    pub fn side(&self) -> Side {
        self.side
    }

    /// The peer's address.
    pub fn remote_address(&self) -> SocketAddr {
        self.path.remote
    }

    /// Our connection ID (the one the peer sends to).
    pub fn local_cid(&self) -> ConnectionId {
        self.local_cid
    }

    /// The next change to the set of connection IDs routed to this
    /// connection (for the endpoint's routing table).
    pub(crate) fn poll_cid_event(&mut self) -> Option<CidEvent> {
        self.local_cids.poll_event()
    }

    /// Whether [`Connection::poll_cid_event`] has a change to give.
    #[inline]
    pub(crate) fn has_cid_events(&self) -> bool {
        self.local_cids.has_events()
    }

    /// Our connection IDs routed to this connection (once the CID events
    /// are drained): issued and not retired.
    pub(crate) fn routed_cids(&self) -> impl Iterator<Item = &ConnectionId> {
        self.local_cids.issued_ids()
    }

    /// Records the local address the latest datagram arrived on.
    pub(crate) fn set_local_ip(&mut self, ip: Option<std::net::IpAddr>) {
        if ip.is_some() {
            self.path.local_ip = ip;
        }
    }

    /// The peer's stateless reset token for the CID we send to, if known.
    pub(crate) fn peer_reset_token(&self) -> Option<StatelessResetToken> {
        self.remote_cids.active_reset_token()
    }

    /// Changes whenever [`Connection::peer_reset_token`] may have changed
    /// ([`RemoteCids::changes`]).
    pub(crate) fn peer_cid_changes(&self) -> u32 {
        self.remote_cids.changes()
    }

    /// Whether the handshake has completed.
    pub fn is_established(&self) -> bool {
        matches!(self.state, State::Established)
    }

    /// Whether the connection is closing, draining or drained.
    pub fn is_closed(&self) -> bool {
        matches!(
            self.state,
            State::Closing { .. } | State::Draining { .. } | State::Drained
        )
    }

    /// Whether all state may be dropped.
    pub fn is_drained(&self) -> bool {
        matches!(self.state, State::Drained)
    }

    /// Why the connection ended, once it has.
    pub fn error(&self) -> Option<&ConnectionError> {
        self.error.as_deref()
    }

    /// The negotiated ALPN protocol, once the handshake has got that far.
    pub fn alpn(&self) -> Option<&[u8]> {
        self.tls.alpn()
    }

    /// The peer's certificate chain, end entity first.
    pub fn peer_certificates(&self) -> Option<&[rustls::pki_types::CertificateDer<'static>]> {
        self.tls.peer_certificates()
    }

    /// The negotiated TLS cipher suite.
    pub fn cipher_suite(&self) -> Option<rustls::SupportedCipherSuite> {
        self.tls.cipher_suite()
    }

    /// The SNI the client asked for (server side).
    pub fn server_name(&self) -> Option<&str> {
        self.tls.server_name()
    }

    /// Counters and the path's current estimates.
    pub fn stats(&self) -> Stats {
        let c = self.stats;
        Stats {
            datagrams_sent: c.datagrams_sent,
            datagrams_received: c.datagrams_received,
            packets_sent: c.packets_sent,
            packets_received: c.packets_received,
            packets_lost: c.packets_lost,
            bytes_lost: c.bytes_lost,
            bytes_sent: c.bytes_sent,
            bytes_received: c.bytes_received,
            key_updates: c.key_updates,
            stream_bytes_retransmitted: self.streams.retransmitted_bytes(),
            rtt: self.path.rtt.smoothed(),
            cwnd: self.path.cc.window(),
            bytes_in_flight: self.loss.bytes_in_flight(),
            congestion_events: self.loss.congestion_events(),
            path_mtu: self.path.mtu,
            mtu_probes_sent: c.mtu_probes_sent,
            mtu_probes_lost: c.mtu_probes_lost,
            black_holes_detected: c.black_holes_detected,
        }
    }

    /// The path's current maximum datagram size: the largest UDP payload
    /// we send, `initial_mtu` until path MTU discovery raises it
    /// ([`TransportConfig::mtu_discovery`]).
    pub fn path_mtu(&self) -> u16 {
        self.path.mtu
    }

    /// Whether [`Connection::poll_event`] has an event to give.
    #[inline]
    pub(crate) fn has_events(&self) -> bool {
        !self.events.is_empty() || self.streams.has_events()
    }

    /// The next application event.
    pub fn poll_event(&mut self) -> Option<Event> {
        // Closed and Drained come last: the stream events of data that
        // arrived before the connection closed go first, however many
        // datagrams were handled before the application polls.
        if let Some(e) = self.events.pop_early() {
            return Some(e);
        }
        if let Some(e) = self.streams.poll_event() {
            return Some(Event::Stream(e));
        }
        self.events.pop_late(self.error.as_deref())
    }

    // ---- lifecycle -------------------------------------------------------

    /// Closes the connection with an application error code and reason
    /// (RFC 9000 §10.2).
    pub fn close(&mut self, now: Instant, code: VarInt, reason: &[u8]) {
        if self.is_closed() {
            return;
        }
        self.start_closing(
            now,
            CloseFrame {
                application: true,
                code,
                frame_type: None,
                reason: reason.to_vec(),
            },
            ConnectionError::LocallyClosed,
        );
    }

    /// Starts a key update now, if one is allowed (RFC 9001 §6.1).
    pub fn initiate_key_update(&mut self) {
        self.key_update_requested = true;
    }

    /// Queues a PING (for keep-alive or to elicit an ACK).
    pub fn ping(&mut self) {
        self.ping_pending = true;
    }

    fn start_closing(&mut self, now: Instant, frame: CloseFrame, error: ConnectionError) {
        let until = now + self.pto_base() * 3;
        self.state = State::Closing { until };
        self.close = Some(Box::new(frame));
        self.close_pending = true;
        self.report_closed(error);
    }

    fn start_draining(&mut self, now: Instant, error: ConnectionError) {
        let until = now + self.pto_base() * 3;
        self.state = State::Draining { until };
        self.report_closed(error);
    }

    fn report_closed(&mut self, error: ConnectionError) {
        if self.error.is_none() {
            self.error = Some(Box::new(error));
            self.events.closed = true;
        }
    }

    /// Closes because the peer broke the protocol: the one place a
    /// `TransportError` becomes CONNECTION_CLOSE.
    fn protocol_error(&mut self, now: Instant, e: TransportError) {
        if self.is_closed() {
            return;
        }
        let frame = CloseFrame {
            application: false,
            code: VarInt::saturating(e.code.0),
            frame_type: Some(e.frame_type.unwrap_or(crate::FrameType::PADDING)),
            reason: e.reason.as_bytes().to_vec(),
        };
        self.start_closing(now, frame, ConnectionError::TransportError(e));
    }

    fn pto_base(&self) -> Duration {
        self.path.rtt.pto_base() + self.max_ack_delay()
    }

    fn max_ack_delay(&self) -> Duration {
        self.peer_params
            .as_ref()
            .map_or(Duration::from_millis(25), |p| p.max_ack_delay())
    }

    fn recovery_context(&self) -> Context {
        let mut ctx = Context::new(self.side);
        ctx.max_ack_delay = self.max_ack_delay();
        ctx.handshake_confirmed = self.handshake_confirmed;
        ctx.peer_completed_address_validation = self.side.is_server()
            || self.handshake_confirmed
            || self.spaces.get(1).is_none()
            || self.loss.largest_acked(SpaceId::Handshake).is_some();
        ctx.has_handshake_keys = self.spaces.has_keys(1);
        ctx.at_amplification_limit = self.path.amplification_budget() < MIN_INITIAL_SIZE;
        ctx
    }

    /// The effective idle timeout (RFC 9000 §10.1): the smaller of both
    /// sides' non-zero values, and at least three PTOs.
    fn effective_idle_timeout(&self) -> Option<Duration> {
        let peer = self.peer_params.as_ref().and_then(|p| p.max_idle_timeout());
        let t = match (self.idle_timeout, peer) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => a.or(b)?,
        };
        Some(t.max(self.pto_base() * 3))
    }

    /// Completes handshake bookkeeping after TLS made progress.
    fn drive_tls(&mut self) {
        let mut outputs = Vec::new();
        self.tls.write(|o| outputs.push(o));
        for o in outputs {
            match o {
                tls::TlsOutput::Data(level, data) => {
                    let space = match level {
                        crate::Level::Initial => 0,
                        crate::Level::Handshake => 1,
                        _ => 2,
                    };
                    if let Some(space) = self.spaces.get_mut(space) {
                        space.crypto.write(&data);
                    }
                }
                tls::TlsOutput::Keys(change) => match *change {
                    rustls::quic::KeyChange::Handshake { keys } => {
                        if let Some(handshake) = self.spaces.get_mut(1) {
                            handshake.keys = Some(Box::new(keys.into()));
                        }
                    }
                    rustls::quic::KeyChange::OneRtt { keys, next } => {
                        self.one_rtt = Some(OneRttKeys::new(keys.into(), next.into()));
                    }
                },
            }
        }
    }
}
