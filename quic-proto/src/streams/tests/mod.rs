//! Tests of the whole streams layer through its public API: frames in,
//! frames out, records back, application calls and events.

mod api;
mod fuzz;
mod priority;
mod wire;

use std::time::{Duration, Instant};

use super::{StreamEvent, StreamRecord, Streams, StreamsConfig};
use crate::frame::{Frame, Frames};
use crate::transport_params::TransportParameters;
use crate::{Side, TransportError, VarInt};

pub(super) const RTT: Duration = Duration::from_millis(10);

/// Transport parameters with the same stream window for every stream type.
pub(super) fn params(
    max_data: u64,
    stream_window: u64,
    bidi: u64,
    uni: u64,
) -> TransportParameters {
    let v = |x: u64| VarInt::from_u64(x).unwrap();
    let mut tp = TransportParameters::DEFAULT;
    tp.initial_max_data = v(max_data);
    tp.initial_max_stream_data_bidi_local = v(stream_window);
    tp.initial_max_stream_data_bidi_remote = v(stream_window);
    tp.initial_max_stream_data_uni = v(stream_window);
    tp.initial_max_streams_bidi = v(bidi);
    tp.initial_max_streams_uni = v(uni);
    tp
}

/// A client and a server that exchanged `client` and `server` parameters.
pub(super) fn pair_with(
    client: &TransportParameters,
    server: &TransportParameters,
    config: StreamsConfig,
) -> (Streams, Streams) {
    let mut c = Streams::new(Side::Client, client, config);
    let mut s = Streams::new(Side::Server, server, config);
    c.set_peer_params(server);
    s.set_peer_params(client);
    (c, s)
}

/// A pair with generous limits on both sides.
pub(super) fn pair() -> (Streams, Streams) {
    let tp = params(1 << 20, 1 << 16, 100, 100);
    pair_with(&tp, &tp, StreamsConfig::default())
}

/// One packet's worth of frames and their records.
pub(super) struct Packet {
    pub(super) bytes: Vec<u8>,
    pub(super) records: Vec<StreamRecord>,
}

impl Packet {
    /// The decoded frames.
    pub(super) fn frames(&self) -> Vec<Frame<'_>> {
        Frames::new(&self.bytes)
            .map(|f| f.expect("we write valid frames"))
            .collect()
    }
}

/// Writes one packet of at most `budget` bytes.
pub(super) fn packet_at(s: &mut Streams, now: Instant, budget: usize) -> Packet {
    let mut bytes = Vec::new();
    let mut records = Vec::new();
    let n = s.write_frames(now, RTT, budget, &mut bytes, &mut records);
    assert_eq!(n, bytes.len());
    assert!(n <= budget);
    assert_eq!(records.is_empty(), bytes.is_empty());
    Packet { bytes, records }
}

/// Writes one packet at an arbitrary instant.
pub(super) fn packet(s: &mut Streams, budget: usize) -> Packet {
    packet_at(s, super::test_instant(), budget)
}

/// Feeds a packet's frames to `to`.
pub(super) fn deliver(to: &mut Streams, p: &Packet) -> Result<(), TransportError> {
    for f in p.frames() {
        assert!(to.on_frame(&f)?, "not a stream frame: {f:?}");
    }
    Ok(())
}

/// Moves packets from `from` to `to` until `from` has nothing to send,
/// acknowledging each at once. Returns the packets.
pub(super) fn flush(from: &mut Streams, to: &mut Streams) -> Vec<Packet> {
    let mut out = Vec::new();
    while from.wants_to_send() {
        let p = packet(from, 1200);
        if p.bytes.is_empty() {
            break;
        }
        deliver(to, &p).unwrap();
        for &r in &p.records {
            from.on_acked(r);
        }
        out.push(p);
        assert!(out.len() < 10_000, "endless flush");
    }
    out
}

/// All events queued so far.
pub(super) fn events(s: &mut Streams) -> Vec<StreamEvent> {
    core::iter::from_fn(|| s.poll_event()).collect()
}
