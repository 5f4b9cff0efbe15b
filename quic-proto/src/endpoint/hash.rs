//! The endpoint's hash functions: keyed SipHash for maps whose keys a
//! peer chooses, a multiply-fold for the connection IDs we draw ourselves.

use std::hash::{BuildHasher, Hasher};

/// A SipHash-2-4 hasher keyed from the endpoint's seed.
#[derive(Clone)]
pub(super) struct KeyedHasher(pub(super) u64, pub(super) u64);

impl BuildHasher for KeyedHasher {
    #[expect(
        deprecated,
        reason = "std's SipHasher is the keyed SipHash-2-4 HashDoS defence we need"
    )]
    type Hasher = std::hash::SipHasher;
    #[expect(
        deprecated,
        reason = "std's SipHasher is the keyed SipHash-2-4 HashDoS defence we need"
    )]
    fn build_hasher(&self) -> Self::Hasher {
        std::hash::SipHasher::new_with_keys(self.0, self.1)
    }
}

/// A fast keyed hash for `by_cid`, which holds only connection IDs we drew
/// at random ourselves: their bytes are already uniform, so folding them
/// with a multiply spreads them well, and since a peer cannot insert keys
/// of its choosing there is no collision attack to defend against (lookups
/// of chosen keys each cost one probe sequence). SipHash stays on every map
/// that holds peer-chosen keys. SipHash here was 3 % of a bulk transfer's
/// instructions.
#[derive(Clone)]
pub(super) struct OwnCidHasher(pub(super) u64);

impl BuildHasher for OwnCidHasher {
    type Hasher = FoldHasher;
    fn build_hasher(&self) -> FoldHasher {
        FoldHasher(self.0)
    }
}

/// The hasher of [`OwnCidHasher`].
pub(super) struct FoldHasher(u64);

impl FoldHasher {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    fn mix(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(23) ^ word).wrapping_mul(Self::K);
    }
}

impl Hasher for FoldHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.mix(u64::from_le_bytes(word));
        }
    }
    fn write_u8(&mut self, i: u8) {
        self.mix(u64::from(i));
    }
    fn write_usize(&mut self, i: usize) {
        self.mix(i as u64);
    }
    fn finish(&self) -> u64 {
        self.0 ^ (self.0 >> 29)
    }
}
