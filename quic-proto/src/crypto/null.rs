//! The null packet protection suite. **FOR FUZZING ONLY. THE PRODUCT NEVER
//! USES IT.**
//!
//! This module exists only under `cfg(test)` or the `fuzzing` feature; a
//! normal build does not contain it, so no configuration can select it. It
//! provides no confidentiality and no integrity against anyone: payloads stay
//! in the clear, the "tag" is 16 zero bytes and the header is not masked.
//!
//! Its purpose is to let a fuzzer build packets that pass packet protection
//! and reach the frame parsers and the connection state machine. The tag is
//! still checked on open (it must be all zeros), so the packet layout, the
//! tag room and the header protection sample are the same as with a real
//! suite and the code paths that reject unauthentic packets stay reachable.

use super::{CryptoError, DirectionalKeys, HeaderKey, KeyPair, Keys, PacketKey};

/// The null suite's tag length, the same as every real QUIC suite's.
const TAG_LEN: usize = 16;

/// The null suite's header protection sample length, as with the real suites.
const SAMPLE_LEN: usize = 16;

/// A packet "key" that leaves the payload in the clear and writes a tag of
/// zeros. **Fuzzing only.**
#[derive(Clone, Copy, Debug, Default)]
pub struct NullPacketKey;

impl PacketKey for NullPacketKey {
    fn encrypt_in_place(
        &self,
        _pn: u64,
        _header: &[u8],
        payload: &mut [u8],
    ) -> Result<(), CryptoError> {
        let body_len = payload.len().checked_sub(TAG_LEN).ok_or(CryptoError)?;
        payload[body_len..].fill(0);
        Ok(())
    }

    fn decrypt_in_place(
        &self,
        _pn: u64,
        _header: &[u8],
        payload: &mut [u8],
    ) -> Result<usize, CryptoError> {
        let body_len = payload.len().checked_sub(TAG_LEN).ok_or(CryptoError)?;
        if payload[body_len..].iter().any(|&b| b != 0) {
            return Err(CryptoError);
        }
        Ok(body_len)
    }

    fn tag_len(&self) -> usize {
        TAG_LEN
    }

    fn confidentiality_limit(&self) -> u64 {
        u64::MAX
    }

    fn integrity_limit(&self) -> u64 {
        u64::MAX
    }
}

/// A header "key" that masks nothing. **Fuzzing only.**
#[derive(Clone, Copy, Debug, Default)]
pub struct NullHeaderKey;

impl NullHeaderKey {
    /// Checks the arguments as a real header key would, so callers that get
    /// them wrong fail under fuzzing too.
    fn check(sample: &[u8], pn: &[u8]) -> Result<(), CryptoError> {
        if sample.len() != SAMPLE_LEN || pn.len() > 4 {
            return Err(CryptoError);
        }
        Ok(())
    }
}

impl HeaderKey for NullHeaderKey {
    fn encrypt_in_place(
        &self,
        sample: &[u8],
        _first: &mut u8,
        pn: &mut [u8],
    ) -> Result<(), CryptoError> {
        Self::check(sample, pn)
    }

    fn decrypt_in_place(
        &self,
        sample: &[u8],
        _first: &mut u8,
        pn: &mut [u8],
    ) -> Result<(), CryptoError> {
        Self::check(sample, pn)
    }

    fn sample_len(&self) -> usize {
        SAMPLE_LEN
    }
}

/// Null keys for one direction. **Fuzzing only.**
pub fn null_directional_keys() -> DirectionalKeys {
    DirectionalKeys {
        packet: Box::new(NullPacketKey),
        header: Box::new(NullHeaderKey),
    }
}

/// Null packet keys for both directions. **Fuzzing only.**
pub fn null_packet_keys() -> KeyPair<Box<dyn PacketKey>> {
    KeyPair {
        local: Box::new(NullPacketKey),
        remote: Box::new(NullPacketKey),
    }
}

/// Null keys for one encryption level. **Fuzzing only.**
pub fn null_keys() -> Keys {
    Keys::new(null_directional_keys(), null_directional_keys())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_packet_key_round_trips_in_the_clear() {
        let key = NullPacketKey;
        let mut buf = *b"hello\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff";
        key.encrypt_in_place(7, b"hdr", &mut buf).unwrap();
        assert_eq!(&buf[..5], b"hello");
        assert_eq!(&buf[5..], &[0; 16]);
        assert_eq!(key.decrypt_in_place(7, b"hdr", &mut buf), Ok(5));
        assert_eq!(&buf[..5], b"hello");
    }

    #[test]
    fn null_packet_key_rejects_a_nonzero_tag_and_short_payloads() {
        let key = NullPacketKey;
        let mut buf = [0u8; 20];
        buf[19] = 1;
        assert_eq!(key.decrypt_in_place(0, &[], &mut buf), Err(CryptoError));
        assert_eq!(key.decrypt_in_place(0, &[], &mut [0; 15]), Err(CryptoError));
        assert_eq!(key.encrypt_in_place(0, &[], &mut [0; 15]), Err(CryptoError));
    }

    #[test]
    fn null_header_key_masks_nothing() {
        let keys = null_keys();
        let mut first = 0xc3;
        let mut pn = [1, 2, 3, 4];
        keys.header
            .local
            .encrypt_in_place(&[9; 16], &mut first, &mut pn)
            .unwrap();
        assert_eq!((first, pn), (0xc3, [1, 2, 3, 4]));
        assert!(keys
            .header
            .remote
            .decrypt_in_place(&[9; 15], &mut first, &mut pn)
            .is_err());
    }
}
