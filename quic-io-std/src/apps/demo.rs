//! The demo transfer: what `quic demo` runs with a server and a client in
//! one process.
//!
//! It is perf ([`super::perf`]) with several streams: the client asks the
//! server for [`DemoConfig::total_bytes`] split over
//! [`DemoConfig::streams`] streams, checks every byte, and the two sides'
//! counters make a [`DemoSummary`].

use std::fmt;
use std::time::Duration;

use quic_proto::connection::Stats;

use super::perf::{self, PerfClient, PerfConfig, PerfReport, PerfServer};

/// The ALPN protocol the demo speaks (perf's).
pub const ALPN: &[u8] = perf::ALPN;

/// What the demo transfers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DemoConfig {
    /// Bytes from server to client in all (default 100 MB).
    pub total_bytes: u64,
    /// Streams carrying them at once (default 4).
    pub streams: usize,
}

impl Default for DemoConfig {
    fn default() -> Self {
        Self {
            total_bytes: 100_000_000,
            streams: 4,
        }
    }
}

impl DemoConfig {
    /// `total_bytes` over `streams` streams.
    pub fn new(total_bytes: u64, streams: usize) -> Self {
        Self {
            total_bytes,
            streams: streams.max(1),
        }
    }

    /// The perf requests the client makes: every byte verified.
    pub fn perf_config(&self) -> PerfConfig {
        PerfConfig::new(self.streams, self.total_bytes).with_verify(true)
    }

    /// The client side (call [`PerfClient::connect`] on it).
    pub fn client(&self) -> PerfClient {
        PerfClient::new(self.perf_config())
    }

    /// The server side.
    pub fn server(&self) -> PerfServer {
        PerfServer::new()
    }
}

/// What the demo did, for people.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct DemoSummary {
    /// Bytes received by the client, every one checked.
    pub bytes: u64,
    /// Bytes asked for.
    pub requested: u64,
    /// Streams used.
    pub streams: usize,
    /// From the end of the handshake to the last byte.
    pub duration: Duration,
    /// `bytes` over `duration`, in Gbit/s.
    pub throughput_gbps: f64,
    /// The handshake: from `connect` to the client's `Connected` event.
    pub handshake: Option<Duration>,
    /// The client's smoothed RTT estimate at the end.
    pub rtt: Duration,
    /// Packets the client sent / declared lost.
    pub client_packets: (u64, u64),
    /// Packets the server sent / declared lost, if its counters are known.
    pub server_packets: Option<(u64, u64)>,
    /// Whether every stream completed with every byte.
    pub complete: bool,
    /// What went wrong, if anything.
    pub errors: Vec<String>,
}

impl DemoSummary {
    /// The summary of a client's report and, if known, the server
    /// connection's counters (from [`PerfServer::finished`] or the server
    /// endpoint).
    pub fn new(client: &PerfReport, server: Option<&Stats>) -> Self {
        let mut errors = client.errors.clone();
        if let Some(e) = &client.connection_error {
            errors.push(format!("connection: {e}"));
        }
        Self {
            bytes: client.downloaded,
            requested: client.requested,
            streams: client.streams,
            duration: client.elapsed,
            throughput_gbps: client.download_gbps(),
            handshake: client.handshake,
            rtt: client.stats.rtt,
            client_packets: (client.stats.packets_sent, client.stats.packets_lost),
            server_packets: server.map(|s| (s.packets_sent, s.packets_lost)),
            complete: client.complete,
            errors,
        }
    }
}

impl fmt::Display for DemoSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = if self.complete { "ok" } else { "INCOMPLETE" };
        writeln!(
            f,
            "transfer:   {} of {} bytes over {} stream(s), every byte checked: {status}",
            self.bytes, self.requested, self.streams
        )?;
        writeln!(
            f,
            "duration:   {:.3} s ({:.3} Gbit/s)",
            self.duration.as_secs_f64(),
            self.throughput_gbps
        )?;
        if let Some(h) = self.handshake {
            writeln!(f, "handshake:  {:.3} ms", h.as_secs_f64() * 1e3)?;
        }
        writeln!(f, "rtt:        {:.3} ms", self.rtt.as_secs_f64() * 1e3)?;
        write!(
            f,
            "packets:    client sent {} (lost {})",
            self.client_packets.0, self.client_packets.1
        )?;
        if let Some((sent, lost)) = self.server_packets {
            write!(f, ", server sent {sent} (lost {lost})")?;
        }
        for e in &self.errors {
            write!(f, "\nerror:      {e}")?;
        }
        Ok(())
    }
}
