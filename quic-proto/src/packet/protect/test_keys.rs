//! Test-only keys: a fake suite (XOR masks and a checksum tag) that lets the
//! packet tests corrupt and check packets without real cryptography.

use crate::crypto::{CryptoError, HeaderKey, PacketKey};

/// A keyed checksum over everything the AEAD authenticates.
fn checksum(key: u8, pn: u64, header: &[u8], ciphertext: &[u8]) -> [u8; 16] {
    let mut acc = [0u8; 16];
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ u64::from(key) ^ pn.rotate_left(17);
    for (i, &b) in header
        .iter()
        .chain([0xff].iter())
        .chain(ciphertext)
        .enumerate()
    {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        acc[i % 16] ^= (h >> 32) as u8;
    }
    for (i, a) in acc.iter_mut().enumerate() {
        h = (h ^ i as u64).wrapping_mul(0x0100_0000_01b3);
        *a ^= (h >> 24) as u8;
    }
    acc
}

/// XORs the payload with a keystream of `key` and `pn` and appends a checksum.
pub(crate) struct FakePacketKey(pub u8);

impl FakePacketKey {
    fn xor(&self, pn: u64, data: &mut [u8]) {
        for (i, b) in data.iter_mut().enumerate() {
            *b ^= self.0 ^ (pn as u8) ^ (i as u8).wrapping_mul(31);
        }
    }
}

impl PacketKey for FakePacketKey {
    fn encrypt_in_place(
        &self,
        pn: u64,
        header: &[u8],
        payload: &mut [u8],
    ) -> Result<(), CryptoError> {
        let text_len = payload.len().checked_sub(16).ok_or(CryptoError)?;
        let (text, tag) = payload.split_at_mut(text_len);
        self.xor(pn, text);
        tag.copy_from_slice(&checksum(self.0, pn, header, text));
        Ok(())
    }

    fn decrypt_in_place(
        &self,
        pn: u64,
        header: &[u8],
        payload: &mut [u8],
    ) -> Result<usize, CryptoError> {
        let text_len = payload.len().checked_sub(16).ok_or(CryptoError)?;
        let (text, tag) = payload.split_at_mut(text_len);
        if checksum(self.0, pn, header, text) != *tag {
            return Err(CryptoError);
        }
        self.xor(pn, text);
        Ok(text_len)
    }

    fn tag_len(&self) -> usize {
        16
    }

    fn confidentiality_limit(&self) -> u64 {
        u64::MAX
    }

    fn integrity_limit(&self) -> u64 {
        u64::MAX
    }
}

/// Applies an RFC 9001 §5.4.1 style mask: the low 4 (long) or 5 (short) bits
/// of the first byte and as many packet number bytes as `pn_len`.
fn apply_mask(mask: &[u8; 5], first: &mut u8, pn: &mut [u8], pn_len: usize) {
    let bits = if *first & 0x80 != 0 { 0x0f } else { 0x1f };
    *first ^= mask[0] & bits;
    for (b, m) in pn.iter_mut().take(pn_len).zip(&mask[1..]) {
        *b ^= m;
    }
}

fn protect(mask: [u8; 5], first: &mut u8, pn: &mut [u8]) {
    let pn_len = usize::from(*first & 3) + 1;
    apply_mask(&mask, first, pn, pn_len);
}

fn unprotect(mask: [u8; 5], first: &mut u8, pn: &mut [u8]) {
    let bits = if *first & 0x80 != 0 { 0x0f } else { 0x1f };
    *first ^= mask[0] & bits;
    let pn_len = usize::from(*first & 3) + 1;
    for (b, m) in pn.iter_mut().take(pn_len).zip(&mask[1..]) {
        *b ^= m;
    }
}

/// Masks with bytes derived from the sample and a key byte.
pub(crate) struct FakeHeaderKey(pub u8);

impl FakeHeaderKey {
    fn mask(&self, sample: &[u8]) -> Result<[u8; 5], CryptoError> {
        if sample.len() != 16 {
            return Err(CryptoError);
        }
        let mut m = [0u8; 5];
        for (i, &s) in sample.iter().enumerate() {
            m[i % 5] ^= s.rotate_left(i as u32) ^ self.0;
        }
        Ok(m)
    }
}

impl HeaderKey for FakeHeaderKey {
    fn encrypt_in_place(
        &self,
        sample: &[u8],
        first: &mut u8,
        pn: &mut [u8],
    ) -> Result<(), CryptoError> {
        protect(self.mask(sample)?, first, pn);
        Ok(())
    }

    fn decrypt_in_place(
        &self,
        sample: &[u8],
        first: &mut u8,
        pn: &mut [u8],
    ) -> Result<(), CryptoError> {
        unprotect(self.mask(sample)?, first, pn);
        Ok(())
    }

    fn sample_len(&self) -> usize {
        16
    }
}
