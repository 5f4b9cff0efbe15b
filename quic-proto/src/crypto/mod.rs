//! The cryptographic boundary: packet keys and header protection (RFC 9001 §5).
//!
//! # The boundary
//!
//! The rest of the core sees only the two traits here, [`PacketKey`] (AEAD
//! packet protection, RFC 9001 §5.3) and [`HeaderKey`] (header protection,
//! RFC 9001 §5.4), grouped into [`DirectionalKeys`] for one direction and
//! [`Keys`] for both directions of one encryption level. Packet parsing and the
//! connection never name a cipher: they call the traits through `Box<dyn _>`.
//!
//! # In place, no allocation per packet
//!
//! Both traits work on the caller's buffer. [`PacketKey::encrypt_in_place`]
//! seals `payload[..len - tag_len]` and writes the tag into the last
//! `tag_len` bytes; [`PacketKey::decrypt_in_place`] opens in place and
//! returns the plaintext length. [`HeaderKey`] masks or unmasks the first byte
//! and the packet number bytes in place. Nothing is allocated per packet.
//!
//! # Where rustls is used and where ring is used directly
//!
//! - **rustls** (`rustls::quic`, ring provider) supplies every key the TLS
//!   handshake produces: [`initial_keys`] goes through
//!   `rustls::quic::Keys::initial`; the handshake's `rustls::quic::Keys`,
//!   `DirectionalKeys` and `PacketKeySet` convert into ours with `From`
//!   ([`RustlsPacketKey`], [`RustlsHeaderKey`]); [`KeyUpdate`] wraps the
//!   `rustls::quic::Secrets` rustls returns with the 1-RTT keys.
//! - **ring directly** does what rustls 0.23 exposes no public API for:
//!   [`directional_keys`] derives keys from a raw traffic secret (rustls keeps
//!   `DirectionalKeys::new` and `Secrets::new` crate-private), Retry integrity
//!   tags ([`retry_integrity_tag`], RFC 9001 §5.8, a fixed AES-128-GCM key)
//!   and stateless reset tokens ([`ResetTokenKey`], HMAC-SHA256). The tests
//!   cross-check the two paths against each other and against the RFC 9001 /
//!   RFC 9369 Appendix A vectors.
//!
//! # The null suite
//!
//! `null` (compiled only under `cfg(test)` or the `fuzzing` feature) leaves
//! packets in the clear, with an all-zero tag that is still checked, so a
//! fuzzer can reach the frame parsers; `KeyUpdate::null` yields its key
//! generations. **The product never uses it**: it does not exist in a normal
//! build.

use core::fmt;

#[cfg(any(test, feature = "fuzzing"))]
pub mod null;
mod reset;
mod retry;
mod ring_keys;
mod rustls;
#[cfg(test)]
mod test_tls;
#[cfg(test)]
mod vectors;

#[cfg(any(test, feature = "fuzzing"))]
pub use self::null::null_keys;
pub use self::reset::ResetTokenKey;
pub use self::retry::{
    retry_integrity_tag, verify_retry_integrity, RetryIntegrityError, RETRY_INTEGRITY_TAG_LEN,
};
pub use self::ring_keys::{directional_keys, Suite};
pub use self::rustls::{initial_keys, rustls_version, KeyUpdate, RustlsHeaderKey, RustlsPacketKey};

/// The version has no QUIC packet protection defined here (only QUIC v1 and
/// v2 do): its Initial salt, key labels and Retry key are unknown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnsupportedVersion(pub crate::Version);

impl fmt::Display for UnsupportedVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "no packet protection for QUIC version {:?}", self.0)
    }
}

impl std::error::Error for UnsupportedVersion {}

/// Packet protection failed: the packet is not authentic (or, when sealing,
/// the key refused, which does not happen with the real suites).
///
/// Deliberately carries no detail: a packet that fails to open is dropped
/// without a word (RFC 9001 §5.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CryptoError;

impl fmt::Display for CryptoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("packet protection failed")
    }
}

impl std::error::Error for CryptoError {}

/// AEAD protection of packet payloads for one direction (RFC 9001 §5.3).
pub trait PacketKey: Send + Sync {
    /// Seals `payload` in place.
    ///
    /// `header` is the unprotected header, used as associated data; `payload`
    /// is the plaintext followed by [`PacketKey::tag_len`] bytes of room,
    /// which receive the tag. `payload` shorter than the tag is an error.
    fn encrypt_in_place(
        &self,
        pn: u64,
        header: &[u8],
        payload: &mut [u8],
    ) -> Result<(), CryptoError>;

    /// Opens `payload` (ciphertext and tag) in place and returns the length
    /// of the plaintext, which now starts at `payload[0]`.
    fn decrypt_in_place(
        &self,
        pn: u64,
        header: &[u8],
        payload: &mut [u8],
    ) -> Result<usize, CryptoError>;

    /// The length of the authentication tag.
    fn tag_len(&self) -> usize;

    /// How many packets may be sealed with this key before a key update is
    /// due (RFC 9001 §6.6).
    fn confidentiality_limit(&self) -> u64;

    /// How many packets may fail to open with this key before the connection
    /// must close with AEAD_LIMIT_REACHED (RFC 9001 §6.6).
    fn integrity_limit(&self) -> u64;
}

/// Header protection for one direction (RFC 9001 §5.4).
pub trait HeaderKey: Send + Sync {
    /// Masks the first byte's protected bits and the packet number bytes.
    ///
    /// `sample` must be [`HeaderKey::sample_len`] bytes; `pn` holds exactly
    /// the encoded packet number (1 to 4 bytes).
    fn encrypt_in_place(
        &self,
        sample: &[u8],
        first: &mut u8,
        pn: &mut [u8],
    ) -> Result<(), CryptoError>;

    /// Removes the mask. `pn` may be longer than the packet number (up to 4
    /// bytes): only as many bytes as the unmasked first byte announces are
    /// changed.
    fn decrypt_in_place(
        &self,
        sample: &[u8],
        first: &mut u8,
        pn: &mut [u8],
    ) -> Result<(), CryptoError>;

    /// The sample length the key needs (16 for every QUIC v1/v2 suite).
    fn sample_len(&self) -> usize;
}

/// A key for each direction.
pub struct KeyPair<T> {
    /// Protects what we send.
    pub local: T,
    /// Removes the protection from what we receive.
    pub remote: T,
}

/// The packet and header keys of one direction.
pub struct DirectionalKeys {
    /// AEAD key.
    pub packet: Box<dyn PacketKey>,
    /// Header protection key.
    pub header: Box<dyn HeaderKey>,
}

impl fmt::Debug for DirectionalKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DirectionalKeys").finish_non_exhaustive()
    }
}

/// The packet and header keys of one encryption level.
pub struct Keys {
    /// AEAD keys.
    pub packet: KeyPair<Box<dyn PacketKey>>,
    /// Header protection keys.
    pub header: KeyPair<Box<dyn HeaderKey>>,
}

impl fmt::Debug for Keys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keys").finish_non_exhaustive()
    }
}

impl Keys {
    /// Assembles the keys of one level from its two directions.
    pub fn new(local: DirectionalKeys, remote: DirectionalKeys) -> Self {
        Self {
            packet: KeyPair {
                local: local.packet,
                remote: remote.packet,
            },
            header: KeyPair {
                local: local.header,
                remote: remote.header,
            },
        }
    }
}
