//! Keys derived from a raw traffic secret with `ring` (RFC 9001 §5.1, §5.4,
//! §6.1; RFC 9369 §3.3.2).
//!
//! rustls 0.23 derives the same keys internally but keeps the constructors
//! that take a secret (`DirectionalKeys::new`, `Secrets::new`) crate-private,
//! and its public `AeadKey` can only be built 32 bytes long, which AES-128
//! rejects. So a key built from a secret we hold ourselves (a test vector, a
//! secret from a key log, [`super::KeyUpdate::after`]) is derived here with
//! `ring::hkdf` and implemented with `ring::aead` directly. The tests check
//! that these keys and the rustls ones interoperate byte for byte.

use ring::aead::{self, quic as hp};
use ring::hkdf;

use super::{CryptoError, DirectionalKeys, HeaderKey, PacketKey, UnsupportedVersion};
use crate::Version;

/// A TLS 1.3 cipher suite usable with QUIC (RFC 9001 §5.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Suite {
    /// TLS_AES_128_GCM_SHA256.
    Aes128GcmSha256,
    /// TLS_AES_256_GCM_SHA384.
    Aes256GcmSha384,
    /// TLS_CHACHA20_POLY1305_SHA256.
    Chacha20Poly1305Sha256,
}

impl Suite {
    /// Every suite, in rustls' order of preference.
    pub const ALL: [Self; 3] = [
        Self::Aes256GcmSha384,
        Self::Aes128GcmSha256,
        Self::Chacha20Poly1305Sha256,
    ];

    /// The suite a rustls connection negotiated, if QUIC can use it.
    pub fn from_rustls(suite: ::rustls::SupportedCipherSuite) -> Option<Self> {
        use ::rustls::CipherSuite as C;
        match suite.suite() {
            C::TLS13_AES_128_GCM_SHA256 => Some(Self::Aes128GcmSha256),
            C::TLS13_AES_256_GCM_SHA384 => Some(Self::Aes256GcmSha384),
            C::TLS13_CHACHA20_POLY1305_SHA256 => Some(Self::Chacha20Poly1305Sha256),
            _ => None,
        }
    }

    /// The suite as rustls' ring provider implements it.
    pub fn rustls(self) -> ::rustls::SupportedCipherSuite {
        use ::rustls::crypto::ring::cipher_suite as cs;
        match self {
            Self::Aes128GcmSha256 => cs::TLS13_AES_128_GCM_SHA256,
            Self::Aes256GcmSha384 => cs::TLS13_AES_256_GCM_SHA384,
            Self::Chacha20Poly1305Sha256 => cs::TLS13_CHACHA20_POLY1305_SHA256,
        }
    }

    fn hkdf(self) -> hkdf::Algorithm {
        match self {
            Self::Aes128GcmSha256 | Self::Chacha20Poly1305Sha256 => hkdf::HKDF_SHA256,
            Self::Aes256GcmSha384 => hkdf::HKDF_SHA384,
        }
    }

    /// The hash length, which is also the length of the suite's secrets.
    fn hash_len(self) -> usize {
        self.hkdf().hmac_algorithm().digest_algorithm().output_len()
    }

    fn aead(self) -> &'static aead::Algorithm {
        match self {
            Self::Aes128GcmSha256 => &aead::AES_128_GCM,
            Self::Aes256GcmSha384 => &aead::AES_256_GCM,
            Self::Chacha20Poly1305Sha256 => &aead::CHACHA20_POLY1305,
        }
    }

    fn header(self) -> &'static hp::Algorithm {
        match self {
            Self::Aes128GcmSha256 => &hp::AES_128,
            Self::Aes256GcmSha384 => &hp::AES_256,
            Self::Chacha20Poly1305Sha256 => &hp::CHACHA20,
        }
    }

    /// RFC 9001 §6.6: packets one key may seal. AES-GCM: 2^23. ChaCha20 has
    /// no limit below the packet number space, like rustls reports it.
    fn confidentiality_limit(self) -> u64 {
        match self {
            Self::Aes128GcmSha256 | Self::Aes256GcmSha384 => 1 << 23,
            Self::Chacha20Poly1305Sha256 => u64::MAX,
        }
    }

    /// RFC 9001 §6.6: forgery attempts one key may see. AES-GCM: 2^52;
    /// ChaCha20-Poly1305: 2^36.
    fn integrity_limit(self) -> u64 {
        match self {
            Self::Aes128GcmSha256 | Self::Aes256GcmSha384 => 1 << 52,
            Self::Chacha20Poly1305Sha256 => 1 << 36,
        }
    }
}

/// The HKDF labels of one QUIC version.
pub(crate) struct Labels {
    key: &'static [u8],
    iv: &'static [u8],
    hp: &'static [u8],
    ku: &'static [u8],
}

/// RFC 9001 §5.1, §5.4, §6.1 (v1) and RFC 9369 §3.3.2 (v2).
pub(crate) fn labels(version: Version) -> Result<&'static Labels, UnsupportedVersion> {
    const V1: Labels = Labels {
        key: b"quic key",
        iv: b"quic iv",
        hp: b"quic hp",
        ku: b"quic ku",
    };
    const V2: Labels = Labels {
        key: b"quicv2 key",
        iv: b"quicv2 iv",
        hp: b"quicv2 hp",
        ku: b"quicv2 ku",
    };
    match version {
        Version::V1 => Ok(&V1),
        Version::V2 => Ok(&V2),
        other => Err(UnsupportedVersion(other)),
    }
}

/// The longest output derived here: an AES-256 / ChaCha20 key or a SHA-384
/// secret.
const MAX_OUT: usize = 48;

/// `ring` wants the output length as a type.
struct OutLen(usize);

impl hkdf::KeyType for OutLen {
    fn len(&self) -> usize {
        self.0
    }
}

/// HKDF-Expand-Label with an empty context (RFC 8446 §7.1), into `out`.
pub(crate) fn expand_label(alg: hkdf::Algorithm, secret: &[u8], label: &[u8], out: &mut [u8]) {
    let prk = hkdf::Prk::new_less_safe(alg, secret);
    // HkdfLabel: uint16 length, opaque label<7..255> = "tls13 " + label,
    // opaque context<0..255> = "". Our labels are at most 10 bytes and our
    // outputs at most MAX_OUT bytes, so both fit their length fields.
    let out_len = (out.len() as u16).to_be_bytes();
    let label_len = [(b"tls13 ".len() + label.len()) as u8];
    let info: [&[u8]; 5] = [&out_len, &label_len, b"tls13 ", label, &[0]];
    let filled = prk
        .expand(&info, OutLen(out.len()))
        .and_then(|okm| okm.fill(out));
    if filled.is_err() {
        // Unreachable: HKDF refuses only outputs longer than 255 hash blocks,
        // and every caller asks for at most MAX_OUT bytes.
        unreachable!("HKDF output of at most {MAX_OUT} bytes");
    }
}

/// A traffic secret held by value (at most a SHA-384 output), wiped on drop.
#[derive(Clone)]
pub(crate) struct Secret {
    buf: [u8; MAX_OUT],
    len: usize,
}

impl Secret {
    /// The secret that follows `current` in a key update (RFC 9001 §6.1):
    /// HKDF-Expand-Label(current, "quic ku", "", Hash.length).
    pub(crate) fn next(suite: Suite, labels: &Labels, current: &[u8]) -> Self {
        let mut next = Self {
            buf: [0; MAX_OUT],
            len: suite.hash_len(),
        };
        expand_label(suite.hkdf(), current, labels.ku, &mut next.buf[..next.len]);
        next
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        self.buf.fill(0);
    }
}

/// Derives the packet and header keys of one direction from a traffic secret
/// (RFC 9001 §5.1; RFC 9369 §3.3.2 for the v2 labels).
pub fn directional_keys(
    suite: Suite,
    secret: &[u8],
    version: Version,
) -> Result<DirectionalKeys, UnsupportedVersion> {
    let labels = labels(version)?;
    Ok(DirectionalKeys {
        packet: Box::new(RingPacketKey::derive(suite, labels, secret)),
        header: Box::new(RingHeaderKey::derive(suite, labels, secret)),
    })
}

/// An AEAD packet key implemented with `ring` (RFC 9001 §5.3).
pub(crate) struct RingPacketKey {
    key: aead::LessSafeKey,
    iv: [u8; aead::NONCE_LEN],
    suite: Suite,
}

impl RingPacketKey {
    pub(crate) fn derive(suite: Suite, labels: &Labels, secret: &[u8]) -> Self {
        let alg = suite.aead();
        let mut key = [0; MAX_OUT];
        let key = &mut key[..alg.key_len()];
        expand_label(suite.hkdf(), secret, labels.key, key);
        let mut iv = [0; aead::NONCE_LEN];
        expand_label(suite.hkdf(), secret, labels.iv, &mut iv);
        let unbound = aead::UnboundKey::new(alg, key);
        key.fill(0);
        match unbound {
            Ok(unbound) => Self {
                key: aead::LessSafeKey::new(unbound),
                iv,
                suite,
            },
            // Unreachable: `key` is exactly `alg.key_len()` bytes, the only
            // thing `UnboundKey::new` checks.
            Err(_) => unreachable!("AEAD key of the algorithm's own length"),
        }
    }

    /// RFC 9001 §5.3: the IV XORed with the packet number, left-padded.
    fn nonce(&self, pn: u64) -> aead::Nonce {
        let mut nonce = self.iv;
        for (n, p) in nonce[aead::NONCE_LEN - 8..]
            .iter_mut()
            .zip(pn.to_be_bytes())
        {
            *n ^= p;
        }
        aead::Nonce::assume_unique_for_key(nonce)
    }
}

impl PacketKey for RingPacketKey {
    fn encrypt_in_place(
        &self,
        pn: u64,
        header: &[u8],
        payload: &mut [u8],
    ) -> Result<(), CryptoError> {
        let body_len = payload
            .len()
            .checked_sub(self.tag_len())
            .ok_or(CryptoError)?;
        let (body, tag_out) = payload.split_at_mut(body_len);
        let tag = self
            .key
            .seal_in_place_separate_tag(self.nonce(pn), aead::Aad::from(header), body)
            .map_err(|_| CryptoError)?;
        tag_out.copy_from_slice(tag.as_ref());
        Ok(())
    }

    fn decrypt_in_place(
        &self,
        pn: u64,
        header: &[u8],
        payload: &mut [u8],
    ) -> Result<usize, CryptoError> {
        self.key
            .open_in_place(self.nonce(pn), aead::Aad::from(header), payload)
            .map(|plain| plain.len())
            .map_err(|_| CryptoError)
    }

    fn tag_len(&self) -> usize {
        self.key.algorithm().tag_len()
    }

    fn confidentiality_limit(&self) -> u64 {
        self.suite.confidentiality_limit()
    }

    fn integrity_limit(&self) -> u64 {
        self.suite.integrity_limit()
    }
}

/// A header protection key implemented with `ring` (RFC 9001 §5.4).
pub(crate) struct RingHeaderKey(hp::HeaderProtectionKey);

impl RingHeaderKey {
    fn derive(suite: Suite, labels: &Labels, secret: &[u8]) -> Self {
        let alg = suite.header();
        let mut key = [0; MAX_OUT];
        let key = &mut key[..alg.key_len()];
        expand_label(suite.hkdf(), secret, labels.hp, key);
        let built = hp::HeaderProtectionKey::new(alg, key);
        key.fill(0);
        match built {
            Ok(k) => Self(k),
            // Unreachable: `key` is exactly `alg.key_len()` bytes.
            Err(_) => unreachable!("header key of the algorithm's own length"),
        }
    }

    fn apply(
        &self,
        sample: &[u8],
        first: &mut u8,
        pn: &mut [u8],
        protecting: bool,
    ) -> Result<(), CryptoError> {
        let mask = self.0.new_mask(sample).map_err(|_| CryptoError)?;
        apply_mask(&mask, first, pn, protecting)
    }
}

/// Applies (or removes) a header protection mask (RFC 9001 §5.4.1).
///
/// Leaves everything untouched and fails if `pn` is longer than 4 bytes.
/// Otherwise masks the low 4 (long header) or 5 (short header) bits of
/// `first` and as many bytes of `pn` as the unprotected first byte announces.
fn apply_mask(
    mask: &[u8; 5],
    first: &mut u8,
    pn: &mut [u8],
    protecting: bool,
) -> Result<(), CryptoError> {
    if pn.len() > 4 {
        return Err(CryptoError);
    }
    // RFC 9001 §5.4.1: the header form bit is never protected.
    let bits = if *first & 0x80 != 0 { 0x0f } else { 0x1f };
    let plain_first = if protecting {
        *first
    } else {
        *first ^ (mask[0] & bits)
    };
    let pn_len = usize::from(plain_first & 0x03) + 1;
    *first ^= mask[0] & bits;
    for (b, m) in pn.iter_mut().zip(&mask[1..]).take(pn_len) {
        *b ^= m;
    }
    Ok(())
}

impl HeaderKey for RingHeaderKey {
    fn encrypt_in_place(
        &self,
        sample: &[u8],
        first: &mut u8,
        pn: &mut [u8],
    ) -> Result<(), CryptoError> {
        self.apply(sample, first, pn, true)
    }

    fn decrypt_in_place(
        &self,
        sample: &[u8],
        first: &mut u8,
        pn: &mut [u8],
    ) -> Result<(), CryptoError> {
        self.apply(sample, first, pn, false)
    }

    fn sample_len(&self) -> usize {
        self.0.algorithm().sample_len()
    }
}
