//! QUIC inside a user-owned `mio` event loop (not yet built; see issue 6).
