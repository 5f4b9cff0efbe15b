//! QUIC over the standard library UDP sockets: the default socket loop (not yet built; see issue 5).
