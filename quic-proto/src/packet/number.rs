//! Packet number truncation and recovery (RFC 9000 §17.1, Appendix A.2, A.3).

use crate::coding::{Encode, Encoder};

/// The largest packet number, 2^62 - 1 (RFC 9000 §12.3).
pub const MAX_PACKET_NUMBER: u64 = (1 << 62) - 1;

/// A packet number as it is sent: the full value, which the AEAD nonce uses,
/// and how many of its low-order bytes (1 to 4) go on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PacketNumber {
    full: u64,
    len: u8,
}

impl PacketNumber {
    /// Chooses the encoding of `full` given the largest packet number the
    /// peer has acknowledged in this space (RFC 9000 §17.1, Appendix A.2):
    /// the shortest length whose window covers more than twice the range of
    /// unacknowledged packet numbers, including this one.
    ///
    /// Without an acknowledgment the whole range from 0 counts. A range over
    /// 2^31 cannot be represented and gets 4 bytes; the sender must not let
    /// that many packets go unacknowledged.
    pub fn new(full: u64, largest_acked: Option<u64>) -> Self {
        Self {
            full,
            len: packet_number_len(full, largest_acked) as u8,
        }
    }

    /// `full` sent on exactly `len` bytes, or `None` unless `len` is 1 to 4.
    pub const fn with_len(full: u64, len: usize) -> Option<Self> {
        match len {
            1..=4 => Some(Self {
                full,
                len: len as u8,
            }),
            _ => None,
        }
    }

    /// The full packet number.
    pub const fn full(self) -> u64 {
        self.full
    }

    /// How many bytes the packet number takes on the wire (1 to 4).
    pub const fn size(self) -> usize {
        self.len as usize
    }

    /// The low-order bytes that go on the wire.
    pub const fn truncated(self) -> u32 {
        (self.full & mask(self.len as usize)) as u32
    }

    /// The two Packet Number Length bits of the first byte: the length minus
    /// one (RFC 9000 §17.2).
    pub const fn first_byte_bits(self) -> u8 {
        self.len - 1
    }
}

impl Encode for PacketNumber {
    fn encode<E: Encoder + ?Sized>(&self, e: &mut E) {
        let bytes = self.truncated().to_be_bytes();
        // `len` is 1..=4 by construction, so the range is within the array.
        e.put_slice(bytes.get(4 - self.size()..).unwrap_or(&bytes));
    }

    fn encoded_len(&self) -> usize {
        self.size()
    }
}

#[cfg(feature = "arbitrary")]
impl<'a> arbitrary::Arbitrary<'a> for PacketNumber {
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        let full = u.int_in_range(0..=MAX_PACKET_NUMBER)?;
        let len = u.int_in_range(1..=4usize)?;
        Self::with_len(full, len).ok_or(arbitrary::Error::IncorrectFormat)
    }
}

/// The number of bytes RFC 9000 Appendix A.2 chooses to send `full` when the
/// peer has acknowledged up to `largest_acked`: 1 to 4.
pub fn packet_number_len(full: u64, largest_acked: Option<u64>) -> usize {
    let num_unacked = match largest_acked {
        None => full.saturating_add(1),
        // A packet number at or below the largest acknowledged one is a
        // caller bug; treat it as a single outstanding packet.
        Some(acked) => full.saturating_sub(acked).max(1),
    };
    // RFC 9000 §17.1: "able to represent more than twice as large a range";
    // Appendix A.2's ceil((log2(n) + 1) / 8) is the smallest `len` with
    // 2 * n <= 2^(8 * len).
    let range = num_unacked.saturating_mul(2);
    (1..=4).find(|&len| range <= 1u64 << (8 * len)).unwrap_or(4)
}

/// Recovers a full packet number from its `len` low-order bytes `truncated`,
/// given the largest packet number received in an authenticated packet of
/// this space, if any (RFC 9000 §17.1, Appendix A.3).
///
/// The result is the value closest to the next expected packet number. `len`
/// outside 1..=4 is clamped; bits of `truncated` above `len` bytes are
/// ignored. Never overflows: the result is at most [`MAX_PACKET_NUMBER`].
pub fn decode_packet_number(truncated: u32, len: usize, largest_received: Option<u64>) -> u64 {
    let len = len.clamp(1, 4);
    let expected = largest_received.map_or(0, |l| l.min(MAX_PACKET_NUMBER) + 1);
    let win = 1u64 << (8 * len);
    let hwin = win / 2;
    let pn_mask = mask(len);
    let candidate = (expected & !pn_mask) | (u64::from(truncated) & pn_mask);
    // Appendix A.3, with the subtraction guarded against underflow: when
    // expected < hwin, "candidate <= expected - hwin" is false.
    let decoded =
        if expected >= hwin && candidate <= expected - hwin && candidate < (1u64 << 62) - win {
            candidate + win
        } else if candidate > expected + hwin && candidate >= win {
            candidate - win
        } else {
            candidate
        };
    // Only reachable when the largest received number is 2^62 - 1: keep the
    // result a valid packet number by taking the candidate one window lower.
    if decoded > MAX_PACKET_NUMBER {
        decoded - win
    } else {
        decoded
    }
}

const fn mask(len: usize) -> u64 {
    (1u64 << (8 * len)) - 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rfc9000_a2_encoding_examples() {
        let pn = PacketNumber::new(0xac5c02, Some(0xabe8b3));
        assert_eq!(pn.size(), 2);
        assert_eq!(pn.truncated(), 0x5c02);
        assert_eq!(pn.to_vec(), [0x5c, 0x02]);

        let pn = PacketNumber::new(0xace8fe, Some(0xabe8b3));
        assert_eq!(pn.size(), 3);
        assert_eq!(pn.to_vec(), [0xac, 0xe8, 0xfe]);
    }

    #[test]
    fn rfc9000_a3_decoding_example() {
        assert_eq!(
            decode_packet_number(0x9b32, 2, Some(0xa82f30ea)),
            0xa82f9b32
        );
    }

    #[test]
    fn unacknowledged_space_counts_from_zero() {
        assert_eq!(packet_number_len(0, None), 1);
        assert_eq!(packet_number_len(127, None), 1);
        assert_eq!(packet_number_len(128, None), 2);
        assert_eq!(packet_number_len(MAX_PACKET_NUMBER, None), 4);
        assert_eq!(packet_number_len(5, Some(5)), 1);
    }

    #[test]
    fn decoding_wraps_to_nearest_candidate() {
        // Just past a window boundary: 0x00 after 0xff is 0x100.
        assert_eq!(decode_packet_number(0x00, 1, Some(0xff)), 0x100);
        // A late packet from just below the boundary.
        assert_eq!(decode_packet_number(0xff, 1, Some(0x100)), 0xff);
        assert_eq!(decode_packet_number(0, 1, None), 0);
        assert_eq!(decode_packet_number(7, 4, None), 7);
    }

    #[test]
    fn decoding_at_the_top_stays_in_range() {
        for len in 1..=4 {
            for t in [0u32, 1, 0x7f, 0x80, 0xff, u32::MAX] {
                let pn = decode_packet_number(t, len, Some(MAX_PACKET_NUMBER));
                assert!(pn <= MAX_PACKET_NUMBER);
                let pn = decode_packet_number(t, len, Some(u64::MAX));
                assert!(pn <= MAX_PACKET_NUMBER);
            }
        }
    }

    #[test]
    fn with_len_rejects_bad_lengths() {
        assert!(PacketNumber::with_len(1, 0).is_none());
        assert!(PacketNumber::with_len(1, 5).is_none());
        let pn = PacketNumber::with_len(0x0012_3456_789a, 4).unwrap();
        assert_eq!(pn.truncated(), 0x3456_789a);
        assert_eq!(pn.first_byte_bits(), 3);
    }

    proptest! {
        #[test]
        fn decode_inverts_encode_within_window(
            pn in 1u64..=MAX_PACKET_NUMBER,
            gap in 1u64..=(1 << 31),
            offset in any::<u64>(),
        ) {
            let gap = gap.min(pn);
            let largest_acked = pn - gap;
            let enc = PacketNumber::new(pn, Some(largest_acked));
            prop_assert_eq!(enc.to_vec().len(), enc.size());
            let hwin = 1u64 << (8 * enc.size() - 1);
            // Any largest-received value whose next expected number lies in
            // [pn - hwin, pn + hwin - 1] recovers pn (Appendix A.3).
            let lo = pn.saturating_sub(hwin).max(1);
            let hi = (pn + hwin - 1).min(MAX_PACKET_NUMBER);
            let expected = lo + offset % (hi - lo + 1);
            let got = decode_packet_number(enc.truncated(), enc.size(), Some(expected - 1));
            prop_assert_eq!(got, pn);
            // The largest acknowledged number itself is always in the window.
            let got = decode_packet_number(enc.truncated(), enc.size(), Some(largest_acked));
            prop_assert_eq!(got, pn);
        }

        #[test]
        fn decode_never_panics(t in any::<u32>(), len in 0usize..8, largest in any::<Option<u64>>()) {
            prop_assert!(decode_packet_number(t, len, largest) <= MAX_PACKET_NUMBER);
        }

        #[test]
        fn full_encoding_without_ack_round_trips(pn in 0u64..(1 << 31)) {
            let enc = PacketNumber::new(pn, None);
            prop_assert_eq!(decode_packet_number(enc.truncated(), enc.size(), None), pn);
        }
    }
}
