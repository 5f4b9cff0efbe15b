//! Packet headers, packet numbers and packet protection (RFC 8999, RFC 9000
//! §12.2, §17, RFC 9001 §5, RFC 9369 §3.2).
//!
//! # Receiving: in place, in three states
//!
//! A datagram arrives as one `&mut [u8]` and is never copied.
//! [`CoalescedPackets`] splits it into its coalesced packets (RFC 9000
//! §12.2), each its own `&mut [u8]` (via `split_at_mut`), and each packet
//! then moves through three states:
//!
//! 1. [`PartialPacket`]: the header is parsed as far as it is not
//!    header-protected: form, version, connection IDs, token, Length, and so
//!    where the packet number starts and where the packet ends. That is
//!    enough to route it and pick its keys ([`PartialPacket::level`]).
//! 2. [`UnprotectedPacket`]: header protection is removed in place; the
//!    packet number and key phase bit are known but not yet authentic. The
//!    key phase selects the packet key (RFC 9001 §6).
//! 3. [`OpenedPacket`]: the AEAD has authenticated and decrypted the payload
//!    in place; the frames lie in [`OpenedPacket::payload`]. Only now are the
//!    reserved bits checked (RFC 9000 §17.2).
//!
//! Each transition consumes the previous state, so a packet cannot be
//! decrypted twice or read before it is authentic. The same steps exist as
//! free functions on raw slices in [`protect`] ([`open`], [`seal`]).
//!
//! # Sending: in place too
//!
//! [`Header::write`] writes a header into the caller's buffer with a 2-byte
//! Length placeholder and returns a [`HeaderLayout`]; the caller writes the
//! frames after it, leaves room for the AEAD tag, patches Length with
//! [`HeaderLayout::finish`], and [`seal`]s. Retry, Version Negotiation and
//! stateless resets are written whole ([`encode_retry`],
//! [`encode_version_negotiation`], [`write_stateless_reset`]); the core has
//! no RNG, so their unpredictable bits come from the caller.
//!
//! # No panics
//!
//! Every function here takes untrusted bytes and answers with a typed
//! [`PacketDecodeError`] (or [`PacketEncodeError`] on the send side): no
//! slice is indexed without a bound check, no arithmetic on peer values can
//! overflow, nothing allocates. Property tests feed arbitrary bytes to the
//! decoder and the coalesced iterator.

mod decode;
mod error;
mod header;
pub mod number;
pub mod protect;
mod retry;
mod stateless_reset;
mod version_negotiation;

pub use decode::{CoalescedPackets, OpenedPacket, PartialPacket, UnprotectedPacket};
pub use error::{PacketDecodeError, PacketEncodeError};
pub(crate) use header::FORM_BIT;
pub use header::{Header, HeaderLayout, LongType, RETRY_INTEGRITY_TAG_LEN};
pub use number::{decode_packet_number, packet_number_len, PacketNumber, MAX_PACKET_NUMBER};
pub use protect::{open, seal, Opened};
pub use retry::{encode_retry, retry_pseudo_packet, retry_pseudo_packet_from_bytes};
pub use stateless_reset::{
    potential_stateless_reset, write_stateless_reset, MIN_STATELESS_RESET_LEN,
};
pub use version_negotiation::{encode_version_negotiation, VersionList};
