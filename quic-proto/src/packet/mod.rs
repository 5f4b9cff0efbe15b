//! Packet headers, packet numbers and packet protection (RFC 9000 §17, RFC 9001 §5).
