//! Fuzz target `transport_params`: the body lives in `quic_tests::fuzz::transport_params` so that
//! `cargo test` replays this target's corpus (`fuzz/corpus/transport_params`) on stable.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| quic_tests::fuzz::transport_params(data));
