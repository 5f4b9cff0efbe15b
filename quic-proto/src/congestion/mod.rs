//! Congestion control (RFC 9002 §7): the controller trait and NewReno.
