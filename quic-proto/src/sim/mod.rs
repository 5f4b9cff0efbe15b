//! Building blocks of a deterministic, netem-style network simulator.
//!
//! The simulator moves datagrams between endpoints in virtual time. This
//! module holds its per-direction [`Link`]: given a datagram offered at a
//! virtual instant, a link decides whether and when it arrives, and with what
//! bytes. It also holds the [`Network`] that joins endpoints with such links
//! and runs them in virtual time (its docs show a transfer over a lossy
//! path). Nothing here reads a clock or draws unseeded randomness: time is the
//! `now` passed in and every random choice (loss, burst state, jitter,
//! duplication, which bit to corrupt) comes from one `ChaCha8Rng` seeded by the
//! caller, so a seed and a sequence of calls reproduce a run exactly.
//!
//! # Impairments ([`LinkConfig`])
//!
//! - `delay`: fixed one-way propagation delay.
//! - `jitter`: a uniform extra delay in `[0, jitter]` per datagram. With
//!   `reorder == false` the link stays FIFO (a datagram never arrives before
//!   the one sent ahead of it); with `reorder == true` jitter may reorder.
//! - `loss`: independent (Bernoulli) random loss, e.g. a noisy radio link.
//! - `burst`: correlated loss with a two-state [`GilbertElliott`] model, e.g.
//!   fading or a congested buffer that drops runs of packets.
//! - `max_run`: at most this many losses (and, separately, corruptions) in a
//!   row, as in the QUIC interop runner's drop-rate scenario.
//! - `duplicate`: a datagram is delivered twice (retransmitting link layers,
//!   routing loops).
//! - `corrupt`: one random bit of a delivered copy is flipped (a checksum the
//!   network did not catch); QUIC's AEAD must reject such packets.
//! - `bandwidth` + `queue_bytes`: a bottleneck that serializes datagrams one
//!   after another behind a drop-tail queue, so bursts queue, add delay
//!   (bufferbloat) and overflow.
//! - `mtu`: datagrams larger than the path MTU are dropped (PMTU black holes).
//! - `blackhole`: everything is dropped (a link down, a NAT rebinding).
//!
//! Impairments change at scheduled times with [`Link::set_config`]; the queue,
//! the burst state and the random stream carry over.
//!
//! # Scenarios
//!
//! [`Scenario`] is a small application layer on top: a client and a server,
//! streams of given sizes each way and datagrams ([`Workload`]), path
//! changes at set times (blackholes, NAT rebinding), every byte checked by
//! hash, and a [`Report`] with completion time, goodput, losses,
//! retransmissions, how the connection closed and the trace digest.
//! [`presets`] names the interop runner's network conditions.
//!
//! # Example
//!
//! ```
//! use std::num::NonZeroU64;
//! use std::time::{Duration, Instant};
//!
//! use quic_proto::sim::{Link, LinkConfig, Outcome};
//!
//! let config = LinkConfig {
//!     delay: Duration::from_millis(20),
//!     loss: 0.01,
//!     bandwidth: NonZeroU64::new(10_000_000), // 10 Mbit/s
//!     queue_bytes: Some(64 * 1024),
//!     ..LinkConfig::default()
//! };
//! let mut link = Link::new(config, 42); // the seed drives every random choice
//! # #[allow(clippy::disallowed_methods)]
//! let now = Instant::now(); // any base: only differences matter
//! match link.send(now, &[0; 1250]) {
//!     // 1 ms to serialize 1250 bytes, then 20 ms of delay.
//!     Outcome::Delivered(copies) => assert_eq!(copies[0].at, now + Duration::from_millis(21)),
//!     Outcome::Dropped(reason) => println!("dropped: {reason:?}"),
//! }
//! assert_eq!(link.stats().sent, 1);
//! ```

mod link;
mod network;
pub mod presets;
mod scenario;

pub use link::{Delivery, DropReason, GilbertElliott, Link, LinkConfig, LinkStats, Outcome};
pub use network::{Change, Network, NetworkStats, NodeId};
pub use scenario::{PathChange, Report, Scenario, Workload};
