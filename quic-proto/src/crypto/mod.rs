//! The cryptographic boundary: packet keys and header protection (RFC 9001 §5).
//!
//! The rest of the core sees only the two traits here, [`PacketKey`] (AEAD
//! packet protection) and [`HeaderKey`] (header protection), grouped into
//! [`Keys`] for one packet-number space and direction pair. The product
//! implements them with `rustls::quic` and `ring`; a fuzzing build may swap in
//! a null suite so that a fuzzer can reach the frame parsers without breaking
//! AEAD, but the product always uses the real one.
//!
//! Both traits work in place on the caller's buffer: nothing is allocated per
//! packet.

use core::fmt;

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
