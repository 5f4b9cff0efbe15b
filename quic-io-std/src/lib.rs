//! QUIC over the standard library UDP sockets: the default socket loop (not yet built; see issue 5).

// The application protocols of the `quic` command-line tool (hq-interop,
// perf, the demo transfer, TLS setup); documented in apps/mod.rs.
pub mod apps;
