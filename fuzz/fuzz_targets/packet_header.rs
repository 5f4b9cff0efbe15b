//! Fuzz target `packet_header`: the body lives in `quic_tests::fuzz::packet_header` so that
//! `cargo test` replays this target's corpus (`fuzz/corpus/packet_header`) on stable.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| quic_tests::fuzz::packet_header(data));
