//! Fuzz target `frames`: the body lives in `quic_tests::fuzz::frames` so that
//! `cargo test` replays this target's corpus (`fuzz/corpus/frames`) on stable.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| quic_tests::fuzz::frames(data));
