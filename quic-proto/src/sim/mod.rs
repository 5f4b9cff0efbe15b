//! Building blocks of a deterministic, netem-style network simulator.
//!
//! The simulator moves datagrams between endpoints in virtual time. This
//! module holds its per-direction [`Link`]: given a datagram offered at a
//! virtual instant, a link decides whether and when it arrives, and with what
//! bytes. Nothing here reads a clock or draws unseeded randomness: time is the
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

mod link;

pub use link::{Delivery, DropReason, GilbertElliott, Link, LinkConfig, LinkStats, Outcome};
