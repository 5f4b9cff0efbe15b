//! Loss recovery (RFC 9002): RTT estimation, sent-packet tracking, ACK processing, loss detection, PTO.
