//! Fuzz target bodies.
//!
//! Each function takes the fuzzer's raw input and panics only if it finds a
//! bug: a parser that panics, or a value that does not survive
//! encode-then-decode unchanged. The `fuzz/` crate calls these from
//! `fuzz_target!`; `tests/fuzz_corpus.rs` replays the corpora through them.
//!
//! The [`connection`](mod@connection) module holds the connection-level
//! harness, whose inputs are small programs that [`connection::Script`]
//! writes.

pub mod connection;

use arbitrary::{Arbitrary, Unstructured};
use quic_proto::coding::{Encode, Reader, SliceWriter};
use quic_proto::crypto::null_keys;
use quic_proto::frame::{Frame, Frames};
use quic_proto::packet::{CoalescedPackets, Header, PacketNumber, PartialPacket};
use quic_proto::transport_params::TransportParameters;
use quic_proto::Side;

/// Frame parsing: arbitrary bytes as a packet payload, then an arbitrary
/// valid frame built from the same bytes.
///
/// Checks that parsing never panics, that every frame parsed from the input
/// re-encodes to bytes that parse back to the same frame, and that every
/// valid frame round-trips with `encoded_len` equal to the bytes written.
pub fn frames(data: &[u8]) {
    for frame in Frames::new(data) {
        let Ok(frame) = frame else { break };
        assert_frame_roundtrip(&frame);
    }
    let mut u = Unstructured::new(data);
    while let Ok(frame) = Frame::arbitrary(&mut u) {
        assert_frame_roundtrip(&frame);
        if u.is_empty() {
            break;
        }
    }
}

fn assert_frame_roundtrip(frame: &Frame<'_>) {
    let bytes = frame.to_vec();
    assert_eq!(bytes.len(), frame.encoded_len(), "encoded_len of {frame:?}");
    let mut r = Reader::new(&bytes);
    let back = Frame::decode(&mut r).unwrap_or_else(|e| panic!("{frame:?} does not decode: {e}"));
    assert!(r.is_empty(), "{frame:?} left trailing bytes");
    assert_eq!(&back, frame);
}

/// A connection under hostile packets that pass packet protection: see the
/// [`connection`](mod@connection) module.
pub fn connection(data: &[u8]) {
    connection::run(data);
}

/// Transport parameters: the first byte picks the sending side, the rest is
/// the extension body; then an arbitrary valid parameter set from the same
/// bytes.
///
/// Checks that decoding never panics and never yields an error other than
/// TRANSPORT_PARAMETER_ERROR, that anything accepted also validates and
/// round-trips, and that every valid set round-trips with `encoded_len`
/// equal to the bytes written.
pub fn transport_params(data: &[u8]) {
    let Some((&first, body)) = data.split_first() else {
        return;
    };
    let side = if first & 1 == 0 {
        Side::Client
    } else {
        Side::Server
    };
    match TransportParameters::decode(body, side) {
        Ok(params) => {
            assert_eq!(params.validate(side), Ok(()));
            assert_params_roundtrip(&params, side);
        }
        Err(e) => assert_eq!(
            e.code,
            quic_proto::TransportErrorCode::TRANSPORT_PARAMETER_ERROR
        ),
    }
    let mut u = Unstructured::new(body);
    if let Ok(params) = TransportParameters::arbitrary_for(&mut u, side) {
        assert_params_roundtrip(&params, side);
    }
}

fn assert_params_roundtrip(params: &TransportParameters, side: Side) {
    let bytes = params.to_vec(side, None);
    assert_eq!(bytes.len(), params.encoded_len(side, None));
    let back = TransportParameters::decode(&bytes, side)
        .unwrap_or_else(|e| panic!("{params:?} does not decode: {e}"));
    assert_eq!(&back, params);
}

/// Packet headers and coalesced datagrams: the first byte picks the local
/// connection ID length (0, 4, 8 or 20) and the grease-bit flag, the rest is
/// one datagram; then an arbitrary header built from the same bytes.
///
/// Checks that splitting a datagram never panics and never yields more bytes
/// than it holds, that opening each packet with the null suite (the fuzzing
/// build's stand-in for AEAD) and parsing its frames never panics, and that
/// every encodable header decodes back to itself.
pub fn packet_header(data: &[u8]) {
    open_datagram(data);
    if let Some(rest) = data.get(1..) {
        arbitrary_header(rest);
    }
}

/// The datagram half of [`packet_header`]; returns how many packets opened
/// (so tests can check that the seeds reach the frame parser).
pub fn open_datagram(data: &[u8]) -> usize {
    let Some((&config, rest)) = data.split_first() else {
        return 0;
    };
    let local_cid_len = [0, 4, 8, 20][usize::from(config & 3)];
    let grease_quic_bit = config & 4 != 0;

    let keys = null_keys();
    let mut datagram = rest.to_vec();
    let mut seen = 0;
    let mut opened_count = 0;
    for packet in CoalescedPackets::new(&mut datagram, local_cid_len, grease_quic_bit) {
        let Ok(packet) = packet else { break };
        seen += packet.len();
        assert!(seen <= rest.len(), "coalesced packets overrun the datagram");
        let _ = packet.header();
        if packet.level().is_none() {
            continue;
        }
        let Ok(opened) = packet.open(None, &*keys.header.remote, &*keys.packet.remote) else {
            continue;
        };
        opened_count += 1;
        for frame in Frames::new(opened.payload()) {
            if frame.is_err() {
                break;
            }
        }
    }
    opened_count
}

/// The header half of [`packet_header`].
fn arbitrary_header(rest: &[u8]) {
    let mut u = Unstructured::new(rest);
    if let (Ok(header), Ok(pn)) = (Header::arbitrary(&mut u), PacketNumber::arbitrary(&mut u)) {
        assert_header_roundtrip(&header, pn);
    }
}

fn assert_header_roundtrip(header: &Header<'_>, pn: PacketNumber) {
    let mut bytes = vec![0u8; 4096];
    let len = if header.has_packet_number() {
        let layout = header
            .write(&mut bytes, pn)
            .expect("an arbitrary header is encodable");
        layout
            .finish(&mut bytes, layout.header_len())
            .expect("an empty payload fits");
        layout.header_len()
    } else {
        let mut w = SliceWriter::new(&mut bytes);
        header
            .encode_unprotected(&mut w)
            .expect("an arbitrary header is encodable");
        w.finish().expect("4096 bytes hold any header")
    };
    bytes.truncate(len);
    let (partial, _) = PartialPacket::decode(&mut bytes, header.dst_cid().len(), false)
        .unwrap_or_else(|e| panic!("{header:?} does not decode: {e:?}"));
    // The key phase bit is header-protected, so it reads false until the
    // protection is removed.
    let expected = match *header {
        Header::Short { spin, dst_cid, .. } => Header::Short {
            spin,
            key_phase: false,
            dst_cid,
        },
        h => h,
    };
    assert_eq!(partial.header(), expected);
}
