//! Shared code for the workspace's integration tests.
//!
//! [`fuzz`] holds the bodies of the cargo-fuzz targets in `fuzz/`, so that a
//! plain `cargo test` can replay every target's seed corpus on the stable
//! toolchain (see `tests/fuzz_corpus.rs` and `docs/fuzzing.md`).
//!
//! [`udp_driver`] runs a `quic_proto` endpoint on a real loopback UDP
//! socket, for the interop tests against other QUIC stacks
//! (`tests/interop_quinn.rs`).
//!
//! [`perf`] is the comparison with quinn-proto behind the `perf-compare`
//! binary (`docs/performance.md`).

pub mod fuzz;
pub mod perf;
pub mod sim_suite;
pub mod testkit;
pub mod udp_driver;
