//! Received-packet tracking and ACK generation (RFC 9000 §13.2).
