//! A sans-IO QUIC transport.
//!
//! `quic-proto` is the pure core of the stack: it consumes datagrams and time
//! and produces datagrams and timer deadlines. It never reads a clock, opens a
//! socket, spawns a thread or draws unseeded randomness, so it runs the same
//! in a socket loop, a deterministic simulation or a fuzzer.
//!
//! # The driver loop
//!
//! An [`Endpoint`](endpoint::Endpoint) (one per socket or shard) owns its
//! connections. The embedder owns sockets and time and drives it with four
//! calls; every call that takes `now` first runs the timers due at `now`.
//! `docs/driving.md` states the whole contract. Here two endpoints talk over
//! in-memory queues, with a virtual clock:
//!
//! ```
//! use std::collections::VecDeque;
//! use std::net::SocketAddr;
//! use std::sync::Arc;
//! use std::time::{Duration, Instant};
//!
//! use quic_proto::config::{ClientConfig, EndpointConfig, ServerConfig};
//! use quic_proto::connection::Event;
//! use quic_proto::endpoint::Endpoint;
//! use quic_proto::streams::StreamEvent;
//! use quic_proto::Dir;
//!
//! # fn tls() -> (Arc<rustls::ServerConfig>, Arc<rustls::ClientConfig>) {
//! #     let provider = Arc::new(rustls::crypto::ring::default_provider());
//! #     let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
//! #     let cert = rcgen::CertificateParams::new(vec!["localhost".into()]).unwrap().self_signed(&key).unwrap();
//! #     let key = rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into());
//! #     let mut server = rustls::ServerConfig::builder_with_provider(provider.clone())
//! #         .with_protocol_versions(&[&rustls::version::TLS13]).unwrap()
//! #         .with_no_client_auth().with_single_cert(vec![cert.der().clone()], key).unwrap();
//! #     server.alpn_protocols = vec![b"demo".to_vec()];
//! #     let mut roots = rustls::RootCertStore::empty();
//! #     roots.add(cert.der().clone()).unwrap();
//! #     let mut client = rustls::ClientConfig::builder_with_provider(provider)
//! #         .with_protocol_versions(&[&rustls::version::TLS13]).unwrap()
//! #         .with_root_certificates(roots).with_no_client_auth();
//! #     client.alpn_protocols = vec![b"demo".to_vec()];
//! #     (Arc::new(server), Arc::new(client))
//! # }
//! let (server_tls, client_tls) = tls(); // rustls configs with ALPN "demo"
//! let server_addr: SocketAddr = "[::1]:4433".parse().unwrap();
//! let client_addr: SocketAddr = "[::1]:50000".parse().unwrap();
//! let mut server = Endpoint::new(EndpointConfig::new(1), Some(ServerConfig::new(server_tls).unwrap()));
//! let mut client = Endpoint::new(EndpointConfig::new(2), None);
//!
//! # #[allow(clippy::disallowed_methods)]
//! let mut now = Instant::now(); // any base: only differences matter
//! let conn = client
//!     .connect(now, &ClientConfig::new(client_tls).unwrap(), server_addr, "localhost")
//!     .unwrap();
//! let mut to_server: VecDeque<Vec<u8>> = VecDeque::new();
//! let mut to_client: VecDeque<Vec<u8>> = VecDeque::new();
//! let mut buf = vec![0u8; 1500];
//! let mut received = Vec::new();
//!
//! for _ in 0..1000 {
//!     // 1. Datagrams in (each may hold several coalesced packets).
//!     while let Some(mut d) = to_server.pop_front() {
//!         server.incoming_packet(now, client_addr, &mut d);
//!     }
//!     while let Some(mut d) = to_client.pop_front() {
//!         client.incoming_packet(now, server_addr, &mut d);
//!     }
//!     // 2. Datagrams out, written into our buffer.
//!     while let Some((tx, _)) = client.prepare_next_packet(now, &mut buf) {
//!         to_server.push_back(buf[..tx.size].to_vec());
//!     }
//!     while let Some((tx, _)) = server.prepare_next_packet(now, &mut buf) {
//!         to_client.push_back(buf[..tx.size].to_vec());
//!     }
//!     // 3. Events: the application reacts through the connection.
//!     while let Some((_, event)) = client.poll_event() {
//!         if event == Event::Connected {
//!             let c = client.connection(conn).unwrap();
//!             let id = c.open_stream(Dir::Uni).unwrap();
//!             c.write(id, b"hello").unwrap();
//!             c.finish(id).unwrap();
//!         }
//!     }
//!     while let Some((handle, event)) = server.poll_event() {
//!         if let Event::Stream(StreamEvent::Opened { .. }) = event {
//!             let c = server.connection(handle).unwrap();
//!             while let Some(id) = c.accept_stream(Dir::Uni) {
//!                 let mut chunk = [0u8; 64];
//!                 while let Ok(Some((n, _))) = c.read(id, &mut chunk) {
//!                     received.extend_from_slice(&chunk[..n]);
//!                     if n == 0 { break; }
//!                 }
//!             }
//!         }
//!     }
//!     if received == b"hello" {
//!         break;
//!     }
//!     // 4. Nothing in flight: sleep until the next timer (here: jump).
//!     if to_server.is_empty() && to_client.is_empty() {
//!         let wake = [client.next_wake_time(), server.next_wake_time()].into_iter().flatten().min();
//!         now = wake.unwrap_or(now + Duration::from_millis(1)).max(now);
//!     }
//! }
//! assert_eq!(received, b"hello");
//! ```
//!
//! # Layers
//!
//! - [`coding`]: the bounded reader, the encoder destinations, variable-length
//!   integers and the [`Encode`] / [`Decode`] traits;
//! - [`frame`]: every RFC 9000 frame plus DATAGRAM (RFC 9221);
//! - [`packet`]: long and short headers for QUIC v1 and v2, packet numbers,
//!   coalesced datagrams, Version Negotiation and Retry;
//! - [`crypto`]: initial secrets, AEAD and header protection through
//!   `rustls::quic` and `ring`, Retry integrity, stateless reset tokens and key
//!   updates, behind a trait boundary a fuzzing build can swap;
//! - [`transport_params`]: RFC 9000 §18 transport parameters with RFC 9221 and
//!   RFC 9368 extensions;
//! - [`ack`], [`recovery`], [`congestion`], [`streams`], [`cid_manager`]:
//!   components that write their own frames and get their records back when
//!   a packet is acknowledged or lost;
//! - [`connection`] and [`endpoint`]: the state machine and the driver API.
//!
//! Parsers never panic on any input; see `docs/wire.md` for the contract.

#![forbid(unsafe_code)]

pub mod ack;
pub mod cid;
pub mod cid_manager;
pub mod coding;
pub mod config;
pub mod congestion;
pub mod connection;
pub mod crypto;
pub mod endpoint;
mod error;
pub mod frame;
pub mod packet;
pub mod recovery;
#[cfg(feature = "sim")]
pub mod sim;
pub mod streams;
pub mod transport_params;
mod version;

pub use cid::{ConnectionId, StatelessResetToken};
pub use coding::{Decode, DecodeError, Encode, Reader, VarInt};
pub use error::{TransportError, TransportErrorCode};
pub use frame::{Dir, Frame, FrameType, StreamId};
pub use version::Version;

/// Which end of a connection an endpoint is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    /// The endpoint that initiated the connection.
    Client,
    /// The endpoint that accepted it.
    Server,
}

impl Side {
    /// The other side.
    pub const fn peer(self) -> Self {
        match self {
            Self::Client => Self::Server,
            Self::Server => Self::Client,
        }
    }

    /// Whether this is the client.
    pub const fn is_client(self) -> bool {
        matches!(self, Self::Client)
    }

    /// Whether this is the server.
    pub const fn is_server(self) -> bool {
        matches!(self, Self::Server)
    }
}

/// A packet protection level, one per kind of protected packet (RFC 9001 §2.1,
/// §4). Initial, Handshake and 1-RTT each have their own packet-number space;
/// 0-RTT shares the application space with 1-RTT.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Level {
    /// Initial packets, protected with keys derived from the client's first DCID.
    Initial,
    /// 0-RTT packets, protected with early-data keys.
    ZeroRtt,
    /// Handshake packets.
    Handshake,
    /// 1-RTT (short-header) packets.
    OneRtt,
}

/// The base instant of every unit test's virtual time: one real instant per
/// process, read once here (the core itself never reads the clock).
#[cfg(test)]
#[allow(
    clippy::disallowed_methods,
    reason = "tests need one real instant to build virtual time on"
)]
pub(crate) fn test_instant() -> std::time::Instant {
    static BASE: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    *BASE.get_or_init(std::time::Instant::now)
}
