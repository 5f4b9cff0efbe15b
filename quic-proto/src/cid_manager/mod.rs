//! Connection ID management (RFC 9000 §5.1): the IDs we issue and the IDs the peer gave us.
