//! Configuration: transport settings, TLS, and the endpoint's seed.

use std::sync::Arc;
use std::time::Duration;

use crate::transport_params::TransportParameters;
use crate::{VarInt, Version};

/// Per-connection transport settings, turned into our transport parameters
/// (RFC 9000 §18.2) and into local policy (windows, timers, buffers).
///
/// The defaults suit a general-purpose stack on the Internet; every field is
/// public so an application can tune it.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct TransportConfig {
    /// Close the connection after this long without a packet from the peer
    /// (the effective value is the smaller of ours and the peer's,
    /// RFC 9000 §10.1). `None` disables our side of it.
    pub max_idle_timeout: Option<Duration>,
    /// The receive window each new stream starts with (initial_max_stream_data_*).
    pub stream_receive_window: u64,
    /// The largest a stream's receive window may grow to by auto-tuning.
    pub max_stream_receive_window: u64,
    /// The connection-level receive window we start with (initial_max_data).
    pub receive_window: u64,
    /// The largest the connection window may grow to by auto-tuning.
    pub max_receive_window: u64,
    /// How many bidirectional streams the peer may have open at once.
    pub max_concurrent_bidi_streams: u64,
    /// How many unidirectional streams the peer may have open at once.
    pub max_concurrent_uni_streams: u64,
    /// Bytes the application may queue on one connection before writes are
    /// refused (back-pressure).
    pub send_buffer: u64,
    /// How long we may delay an ACK (max_ack_delay, RFC 9000 §13.2.1).
    pub max_ack_delay: Duration,
    /// The exponent for the ACK Delay field (ack_delay_exponent).
    pub ack_delay_exponent: u8,
    /// How many connection IDs we accept from the peer at once
    /// (active_connection_id_limit, at least 2).
    pub active_connection_id_limit: u64,
    /// The largest UDP payload we are willing to receive (max_udp_payload_size).
    pub max_udp_payload_size: u16,
    /// The datagram size we send with before any path MTU discovery (at
    /// least 1200, RFC 9000 §14), and again on a new path.
    pub initial_mtu: u16,
    /// Path MTU discovery (DPLPMTUD, RFC 9000 §14.3): probe for larger
    /// datagrams once the handshake is confirmed, and fall back to 1200
    /// bytes if a black hole appears. On by default; `None` sends
    /// `initial_mtu`-byte datagrams for the whole connection.
    pub mtu_discovery: Option<MtuDiscoveryConfig>,
    /// The RTT assumed before the first sample (RFC 9002 §6.2.2: 333 ms).
    pub initial_rtt: Duration,
    /// Accept DATAGRAM frames up to this size (RFC 9221
    /// max_datagram_frame_size); `None` disables datagrams.
    pub max_datagram_frame_size: Option<u16>,
    /// How many received datagrams are queued for the application before
    /// the oldest are dropped; also the send queue's length.
    pub datagram_queue_len: usize,
    /// Send a PING after this long without sending anything, to keep the
    /// connection (and NAT bindings) alive. `None` disables it.
    pub keep_alive_interval: Option<Duration>,
}

impl Default for TransportConfig {
    fn default() -> Self {
        Self {
            max_idle_timeout: Some(Duration::from_secs(30)),
            stream_receive_window: 1 << 20,
            max_stream_receive_window: 16 << 20,
            receive_window: 4 << 20,
            max_receive_window: 64 << 20,
            max_concurrent_bidi_streams: 100,
            max_concurrent_uni_streams: 100,
            send_buffer: 16 << 20,
            max_ack_delay: Duration::from_millis(25),
            ack_delay_exponent: 3,
            active_connection_id_limit: 4,
            max_udp_payload_size: 1472,
            initial_mtu: 1200,
            mtu_discovery: Some(MtuDiscoveryConfig::default()),
            initial_rtt: Duration::from_millis(333),
            max_datagram_frame_size: Some(1200),
            datagram_queue_len: 64,
            keep_alive_interval: None,
        }
    }
}

impl TransportConfig {
    /// The transport parameters these settings advertise, without the
    /// connection-ID parameters the connection fills in (RFC 9000 §7.3).
    pub fn transport_parameters(&self) -> TransportParameters {
        TransportParameters {
            max_idle_timeout_ms: self
                .max_idle_timeout
                .map_or(VarInt::ZERO, |d| VarInt::saturating(d.as_millis() as u64)),
            max_udp_payload_size: VarInt::from(self.max_udp_payload_size.max(1200)),
            initial_max_data: VarInt::saturating(self.receive_window),
            initial_max_stream_data_bidi_local: VarInt::saturating(self.stream_receive_window),
            initial_max_stream_data_bidi_remote: VarInt::saturating(self.stream_receive_window),
            initial_max_stream_data_uni: VarInt::saturating(self.stream_receive_window),
            initial_max_streams_bidi: VarInt::saturating(self.max_concurrent_bidi_streams),
            initial_max_streams_uni: VarInt::saturating(self.max_concurrent_uni_streams),
            ack_delay_exponent: self.ack_delay_exponent.min(20),
            max_ack_delay_ms: self.max_ack_delay.as_millis().min((1 << 14) - 1) as u16,
            active_connection_id_limit: VarInt::saturating(self.active_connection_id_limit.max(2)),
            max_datagram_frame_size: self.max_datagram_frame_size.map(VarInt::from),
            ..TransportParameters::default()
        }
    }
}

/// Path MTU discovery settings (RFC 9000 §14.3, the Datagram
/// Packetization Layer PMTU Discovery of RFC 8899).
///
/// Once the handshake is confirmed and the path validated, the connection
/// sends PMTU probes (a PING padded to the probed size, in a datagram of its
/// own) and raises its datagram size each time one is acknowledged: the
/// upper bound first (one probe on most paths), then, if that is lost, a
/// binary search between the largest size known to work and the upper
/// bound, three losses of a size marking it too large (RFC 8899
/// MAX_PROBES). Lost probes are not a congestion signal (RFC 9000 §14.4).
/// When the search ends below the bound, it runs again after
/// [`interval`](Self::interval). If packets larger than 1200 bytes keep
/// being lost while smaller ones get through (a black hole), the datagram
/// size falls back to 1200 bytes and the search restarts after
/// [`black_hole_cooldown`](Self::black_hole_cooldown). A new path (the
/// peer migrated) starts again from `initial_mtu`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct MtuDiscoveryConfig {
    /// The largest UDP payload to probe for. The effective bound is the
    /// smallest of this, our `max_udp_payload_size` and the peer's
    /// max_udp_payload_size transport parameter (RFC 9000 §18.2). The
    /// default, 1452, fits a 1500-byte Ethernet MTU under IPv6 and UDP
    /// headers (quinn's default too).
    pub upper_bound: u16,
    /// How long after a search that ended below the bound to search again
    /// (RFC 8899 §5.1.1 PMTU_RAISE_TIMER; 600 s by default).
    pub interval: Duration,
    /// How many suspicious loss bursts declare a black hole (4 by default).
    /// A loss burst is a run of consecutive packets declared lost together;
    /// it is suspicious when every packet in it is larger than 1200 bytes
    /// and no packet at least as large sent after it has been acknowledged.
    /// An acknowledgment of such a packet clears the count.
    pub black_hole_threshold: u8,
    /// How long after a black hole to search again (60 s by default).
    pub black_hole_cooldown: Duration,
}

impl Default for MtuDiscoveryConfig {
    fn default() -> Self {
        Self {
            upper_bound: 1452,
            interval: Duration::from_secs(600),
            black_hole_threshold: 4,
            black_hole_cooldown: Duration::from_secs(60),
        }
    }
}

/// Why a configuration was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// The TLS configuration names no ALPN protocol; QUIC requires one
    /// (RFC 9001 §8.1).
    NoAlpn,
    /// A server's TLS configuration must set `max_early_data_size` to 0 or
    /// `u32::MAX` for QUIC (a rustls rule, RFC 9001 §4.6.1).
    EarlyDataSize,
}

impl core::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::NoAlpn => "QUIC requires an ALPN protocol in the TLS configuration",
            Self::EarlyDataSize => "max_early_data_size must be 0 or u32::MAX for QUIC",
        })
    }
}

impl std::error::Error for ConfigError {}

/// What a client needs to connect.
#[derive(Clone)]
pub struct ClientConfig {
    pub(crate) tls: Arc<rustls::ClientConfig>,
    /// Transport settings.
    pub transport: Arc<TransportConfig>,
    /// The version the client starts with.
    pub version: Version,
}

impl ClientConfig {
    /// Checks that `tls` names at least one ALPN protocol. (TLS 1.3 support
    /// is checked by rustls when a connection starts, RFC 9001 §4.2.)
    pub fn new(tls: Arc<rustls::ClientConfig>) -> Result<Self, ConfigError> {
        if tls.alpn_protocols.is_empty() {
            return Err(ConfigError::NoAlpn);
        }
        Ok(Self {
            tls,
            transport: Arc::new(TransportConfig::default()),
            version: Version::V1,
        })
    }

    /// The TLS configuration.
    pub fn tls(&self) -> &Arc<rustls::ClientConfig> {
        &self.tls
    }
}

impl core::fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ClientConfig")
            .field("transport", &self.transport)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

/// What a server needs to accept connections.
#[derive(Clone)]
pub struct ServerConfig {
    pub(crate) tls: Arc<rustls::ServerConfig>,
    /// Transport settings for accepted connections.
    pub transport: Arc<TransportConfig>,
    /// Validate client addresses with a Retry before creating any state
    /// (RFC 9000 §8.1.2).
    pub retry: bool,
    /// Refuse new connections (with CONNECTION_REFUSED) beyond this many.
    pub max_connections: usize,
    /// How long a Retry token stays valid.
    pub retry_token_lifetime: Duration,
}

impl ServerConfig {
    /// Checks that `tls` names at least one ALPN protocol and an early-data
    /// size rustls accepts for QUIC. (TLS 1.3 support is checked by rustls
    /// when a connection starts, RFC 9001 §4.2.)
    pub fn new(tls: Arc<rustls::ServerConfig>) -> Result<Self, ConfigError> {
        if tls.alpn_protocols.is_empty() {
            return Err(ConfigError::NoAlpn);
        }
        if tls.max_early_data_size != 0 && tls.max_early_data_size != u32::MAX {
            return Err(ConfigError::EarlyDataSize);
        }
        Ok(Self {
            tls,
            transport: Arc::new(TransportConfig::default()),
            retry: false,
            max_connections: 100_000,
            retry_token_lifetime: Duration::from_secs(15),
        })
    }

    /// The TLS configuration.
    pub fn tls(&self) -> &Arc<rustls::ServerConfig> {
        &self.tls
    }
}

impl core::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ServerConfig")
            .field("transport", &self.transport)
            .field("retry", &self.retry)
            .field("max_connections", &self.max_connections)
            .finish_non_exhaustive()
    }
}

/// Settings shared by every connection of one endpoint.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct EndpointConfig {
    /// The seed of every wire-visible random choice (connection IDs, reset
    /// filler, grease): the same seed and the same inputs give the same
    /// datagrams.
    pub seed: u64,
    /// The length of the connection IDs we issue (0 to 20; 0 is allowed for
    /// clients that do not migrate).
    pub local_cid_len: usize,
    /// The key that derives stateless reset tokens (RFC 9000 §10.3.2). Keep
    /// it stable across restarts so old connections can still be reset;
    /// by default it is derived from the seed.
    pub reset_key: [u8; 32],
    /// The versions we accept, in order of preference.
    pub supported_versions: Vec<Version>,
    /// How many datagrams one `prepare_next_packet` call may pack for a
    /// segmentation-offload (GSO) send; 1 turns batching off.
    pub max_gso_segments: usize,
}

impl EndpointConfig {
    /// A configuration whose random choices all derive from `seed`.
    pub fn new(seed: u64) -> Self {
        let mut reset_key = [0u8; 32];
        for (i, chunk) in reset_key.chunks_mut(8).enumerate() {
            let word = seed.rotate_left(17 * i as u32)
                ^ 0x9e37_79b9_7f4a_7c15u64.wrapping_mul(i as u64 + 1);
            chunk.copy_from_slice(&word.to_le_bytes());
        }
        Self {
            seed,
            local_cid_len: 8,
            reset_key,
            supported_versions: Version::SUPPORTED.to_vec(),
            max_gso_segments: 1,
        }
    }
}
