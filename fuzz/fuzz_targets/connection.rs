//! Fuzz target `connection`: the body lives in `quic_tests::fuzz::connection` so that
//! `cargo test` replays this target's corpus (`fuzz/corpus/connection`) on stable.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| quic_tests::fuzz::connection(data));
