//! Fuzz target bodies.
//!
//! Each function takes the fuzzer's raw input and panics only if it finds a
//! bug: a parser that panics, or a value that does not survive
//! encode-then-decode unchanged. The `fuzz/` crate calls these from
//! `fuzz_target!`; `tests/fuzz_corpus.rs` replays the corpora through them.

use arbitrary::{Arbitrary, Unstructured};
use quic_proto::coding::{Encode, Reader};
use quic_proto::frame::{Frame, Frames};
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
