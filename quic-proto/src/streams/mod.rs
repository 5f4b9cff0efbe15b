//! Streams and flow control (RFC 9000 §2-§4): send buffers, receive reassembly, credit.
