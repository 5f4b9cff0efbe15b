//! The Retry Integrity Tag (RFC 9001 §5.8; RFC 9369 §3.3.3), with `ring`'s
//! AES-128-GCM under a fixed, public key per version.
//!
//! The tag proves only that the Retry came from someone who saw the client's
//! Initial packet (its Destination Connection ID); the key is public.

use core::fmt;

use ring::aead;

use super::UnsupportedVersion;
use crate::{ConnectionId, Version};

/// The length of the Retry Integrity Tag.
pub const RETRY_INTEGRITY_TAG_LEN: usize = 16;

/// The fixed AEAD key and nonce of one version.
struct RetryKey {
    key: [u8; 16],
    nonce: [u8; aead::NONCE_LEN],
}

/// RFC 9001 §5.8 (v1) and RFC 9369 §3.3.3 (v2).
fn retry_key(version: Version) -> Result<&'static RetryKey, UnsupportedVersion> {
    const V1: RetryKey = RetryKey {
        key: [
            0xbe, 0x0c, 0x69, 0x0b, 0x9f, 0x66, 0x57, 0x5a, 0x1d, 0x76, 0x6b, 0x54, 0xe3, 0x68,
            0xc8, 0x4e,
        ],
        nonce: [
            0x46, 0x15, 0x99, 0xd3, 0x5d, 0x63, 0x2b, 0xf2, 0x23, 0x98, 0x25, 0xbb,
        ],
    };
    const V2: RetryKey = RetryKey {
        key: [
            0x8f, 0xb4, 0xb0, 0x1b, 0x56, 0xac, 0x48, 0xe2, 0x60, 0xfb, 0xcb, 0xce, 0xad, 0x7c,
            0xcc, 0x92,
        ],
        nonce: [
            0xd8, 0x69, 0x69, 0xbc, 0x2d, 0x7c, 0x6d, 0x99, 0x90, 0xef, 0xb0, 0x4a,
        ],
    };
    match version {
        Version::V1 => Ok(&V1),
        Version::V2 => Ok(&V2),
        other => Err(UnsupportedVersion(other)),
    }
}

/// Why a Retry Integrity Tag could not be computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RetryIntegrityError {
    /// The version defines no Retry integrity key.
    UnsupportedVersion(Version),
    /// The original Destination Connection ID is longer than 20 bytes
    /// (RFC 9000 §17.2), so no valid Initial carried it.
    ConnectionIdTooLong,
}

impl fmt::Display for RetryIntegrityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnsupportedVersion(v) => write!(f, "no Retry integrity key for version {v:?}"),
            Self::ConnectionIdTooLong => f.write_str("original connection ID too long"),
        }
    }
}

impl std::error::Error for RetryIntegrityError {}

impl From<UnsupportedVersion> for RetryIntegrityError {
    fn from(e: UnsupportedVersion) -> Self {
        Self::UnsupportedVersion(e.0)
    }
}

/// Builds the AES-128-GCM key, nonce and Retry pseudo-packet (RFC 9001
/// §5.8): ODCID length, ODCID, then the Retry packet without its tag.
fn prepare(
    version: Version,
    original_dcid: &[u8],
    retry_without_tag: &[u8],
) -> Result<(aead::LessSafeKey, aead::Nonce, Vec<u8>), RetryIntegrityError> {
    let retry_key = retry_key(version)?;
    let odcid_len = u8::try_from(original_dcid.len())
        .ok()
        .filter(|&len| usize::from(len) <= ConnectionId::MAX_LEN)
        .ok_or(RetryIntegrityError::ConnectionIdTooLong)?;
    let key = match aead::UnboundKey::new(&aead::AES_128_GCM, &retry_key.key) {
        Ok(key) => aead::LessSafeKey::new(key),
        // Unreachable: the constant key is 16 bytes, AES-128's key length.
        Err(_) => unreachable!("16-byte AES-128 key"),
    };
    let nonce = aead::Nonce::assume_unique_for_key(retry_key.nonce);
    // Sized by the packet the caller already holds plus at most 21 bytes.
    let mut pseudo = Vec::with_capacity(1 + original_dcid.len() + retry_without_tag.len());
    pseudo.push(odcid_len);
    pseudo.extend_from_slice(original_dcid);
    pseudo.extend_from_slice(retry_without_tag);
    Ok((key, nonce, pseudo))
}

/// Computes the Retry Integrity Tag of a Retry packet (RFC 9001 §5.8;
/// RFC 9369 §3.3.3): AES-128-GCM over an empty plaintext with the Retry
/// pseudo-packet as associated data.
///
/// `original_dcid` is the Destination Connection ID of the client's Initial;
/// `retry_without_tag` is the whole Retry packet up to the tag.
pub fn retry_integrity_tag(
    version: Version,
    original_dcid: &[u8],
    retry_without_tag: &[u8],
) -> Result<[u8; RETRY_INTEGRITY_TAG_LEN], RetryIntegrityError> {
    let (key, nonce, pseudo) = prepare(version, original_dcid, retry_without_tag)?;
    let sealed = key.seal_in_place_separate_tag(nonce, aead::Aad::from(&pseudo), &mut []);
    let Ok(tag) = sealed else {
        // Unreachable: sealing fails only for inputs longer than AES-GCM's
        // ~64 GiB limit, and the plaintext is empty.
        unreachable!("sealing an empty plaintext");
    };
    let mut out = [0; RETRY_INTEGRITY_TAG_LEN];
    out.copy_from_slice(tag.as_ref());
    Ok(out)
}

/// Whether `tag` is the Retry Integrity Tag of the packet (RFC 9001 §5.8).
///
/// Verification is an AES-128-GCM open of the empty ciphertext with `tag`,
/// so `ring` compares the tag in constant time. Any error (unsupported
/// version, oversized ODCID, wrong tag length) is a failed verification.
pub fn verify_retry_integrity(
    version: Version,
    original_dcid: &[u8],
    retry_without_tag: &[u8],
    tag: &[u8],
) -> bool {
    let Ok(mut tag) = <[u8; RETRY_INTEGRITY_TAG_LEN]>::try_from(tag) else {
        return false;
    };
    let Ok((key, nonce, pseudo)) = prepare(version, original_dcid, retry_without_tag) else {
        return false;
    };
    key.open_in_place(nonce, aead::Aad::from(&pseudo), &mut tag)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::ring_keys::expand_label;

    /// RFC 9001 §5.8 and RFC 9369 §3.3.3: the key and nonce are
    /// HKDF-Expand-Label of a published secret with the version's labels.
    fn check_retry_key(version: Version, secret: &[u8], key_label: &[u8], iv_label: &[u8]) {
        let expected = retry_key(version).unwrap();
        let mut key = [0; 16];
        let mut nonce = [0; 12];
        expand_label(ring::hkdf::HKDF_SHA256, secret, key_label, &mut key);
        expand_label(ring::hkdf::HKDF_SHA256, secret, iv_label, &mut nonce);
        assert_eq!(key, expected.key, "{version:?}");
        assert_eq!(nonce, expected.nonce, "{version:?}");
    }

    #[test]
    fn retry_keys_derive_from_the_published_secrets_rfc9001_rfc9369() {
        check_retry_key(
            Version::V1,
            &hex_literal::hex!("d9c9943e6101fd200021506bcc02814c73030f25c79d71ce876eca876e6fca8e"),
            b"quic key",
            b"quic iv",
        );
        check_retry_key(
            Version::V2,
            &hex_literal::hex!("c4dd2484d681aefa4ff4d69c2c20299984a765a5d3c31982f38fc74162155e9f"),
            b"quicv2 key",
            b"quicv2 iv",
        );
    }

    #[test]
    fn retry_tag_depends_on_the_odcid_and_version() {
        let packet = b"\xff\x00\x00\x00\x01\x00\x00token";
        let tag = retry_integrity_tag(Version::V1, b"odcid", packet).unwrap();
        assert!(verify_retry_integrity(Version::V1, b"odcid", packet, &tag));
        assert!(!verify_retry_integrity(Version::V1, b"odcie", packet, &tag));
        assert!(!verify_retry_integrity(Version::V2, b"odcid", packet, &tag));
        assert!(!verify_retry_integrity(
            Version::V1,
            b"odcid",
            packet,
            &tag[..15]
        ));
    }

    #[test]
    fn retry_refuses_unknown_versions_and_long_odcids() {
        assert_eq!(
            retry_integrity_tag(Version(0x1a2a_3a4a), b"", b""),
            Err(RetryIntegrityError::UnsupportedVersion(Version(
                0x1a2a_3a4a
            )))
        );
        assert_eq!(
            retry_integrity_tag(Version::V1, &[0; 21], b""),
            Err(RetryIntegrityError::ConnectionIdTooLong)
        );
        assert!(retry_integrity_tag(Version::V1, &[0; 20], b"").is_ok());
        assert!(!verify_retry_integrity(Version(7), b"", b"", &[0; 16]));
    }
}
