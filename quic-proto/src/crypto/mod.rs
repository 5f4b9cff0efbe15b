//! The cryptographic boundary: packet keys and header protection (RFC 9001 §5).
