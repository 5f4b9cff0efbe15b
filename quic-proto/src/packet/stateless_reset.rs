//! Stateless resets (RFC 9000 §10.3).

use crate::StatelessResetToken;

use super::header::FIXED_BIT;
use super::PacketEncodeError;

/// The smallest stateless reset: 5 bytes that look like a short header and
/// packet number (38 unpredictable bits) plus the 16-byte token (RFC 9000
/// §10.3). Short header packets below this size are never valid.
pub const MIN_STATELESS_RESET_LEN: usize = 21;

/// Below this size a reset answers with one byte less than the packet that
/// triggered it (RFC 9000 §10.3: "43 bytes or shorter").
const SMALL_TRIGGER_LEN: usize = 43;

/// The trailing 16 bytes of a datagram that might be a stateless reset: any
/// datagram of at least [`MIN_STATELESS_RESET_LEN`] bytes (RFC 9000
/// §10.3.1).
///
/// The header form is deliberately not checked: RFC 9000 §10.3 requires
/// treating "any packet ending in a valid stateless reset token" as a reset,
/// since other versions might use a long header. Compare the result with
/// the tokens of connection IDs in use with the constant-time
/// [`StatelessResetToken`] equality, and only when the datagram's first
/// packet could not be processed.
pub fn potential_stateless_reset(datagram: &[u8]) -> Option<StatelessResetToken> {
    if datagram.len() < MIN_STATELESS_RESET_LEN {
        return None;
    }
    let start = datagram.len() - StatelessResetToken::LEN;
    let tail = datagram.get(start..)?;
    let mut token = [0u8; StatelessResetToken::LEN];
    token.copy_from_slice(tail);
    Some(StatelessResetToken(token))
}

/// Writes a stateless reset into `buf` and returns its length (RFC 9000
/// §10.3).
///
/// The reset is strictly smaller than the `triggering_len`-byte packet it
/// answers, so resets cannot loop (§10.3.3), and at least 21 bytes;
/// `preferred_len` sets its length within those bounds, except that a
/// trigger of 43 bytes or fewer is answered with exactly one byte less
/// (§10.3). The first byte is `0b01` followed by six unpredictable bits; all
/// bytes before the token come from `unpredictable`, which the caller fills
/// from its RNG and which must hold at least `len - 16` bytes.
pub fn write_stateless_reset(
    buf: &mut [u8],
    token: &StatelessResetToken,
    preferred_len: usize,
    triggering_len: usize,
    unpredictable: &[u8],
) -> Result<usize, PacketEncodeError> {
    let max = triggering_len.saturating_sub(1);
    let len = if triggering_len <= SMALL_TRIGGER_LEN {
        max
    } else {
        preferred_len.max(MIN_STATELESS_RESET_LEN).min(max)
    };
    if len < MIN_STATELESS_RESET_LEN {
        return Err(PacketEncodeError::StatelessResetTooSmall);
    }
    let random_len = len - StatelessResetToken::LEN;
    let random = unpredictable
        .get(..random_len)
        .ok_or(PacketEncodeError::NotEnoughUnpredictableBytes)?;
    let out = buf
        .get_mut(..len)
        .ok_or(PacketEncodeError::BufferTooSmall)?;
    let (head, tail) = out.split_at_mut(random_len);
    head.copy_from_slice(random);
    // RFC 9000 §10.3: Fixed Bits (2) = 1, i.e. a short header with the
    // fixed bit set.
    if let Some(first) = head.first_mut() {
        *first = FIXED_BIT | (*first & 0x3f);
    }
    tail.copy_from_slice(&token.0);
    Ok(len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const TOKEN: StatelessResetToken = StatelessResetToken([0x5a; 16]);

    #[test]
    fn reset_is_smaller_than_its_trigger() {
        let mut buf = [0u8; 1500];
        let random = [0xff; 1500];
        let n = write_stateless_reset(&mut buf, &TOKEN, 1000, 200, &random).unwrap();
        assert_eq!(n, 199);
        assert_eq!(buf[0], 0x7f);
        assert_eq!(buf[n - 16..n], TOKEN.0);
        let n = write_stateless_reset(&mut buf, &TOKEN, 50, 200, &random).unwrap();
        assert_eq!(n, 50);
        // Small triggers get one byte less (RFC 9000 §10.3).
        let n = write_stateless_reset(&mut buf, &TOKEN, 1000, 30, &random).unwrap();
        assert_eq!(n, 29);
        let n = write_stateless_reset(&mut buf, &TOKEN, 0, 22, &random).unwrap();
        assert_eq!(n, 21);
        assert_eq!(potential_stateless_reset(&buf[..n]), Some(TOKEN));
    }

    #[test]
    fn refuses_too_small_or_underfed_resets() {
        let mut buf = [0u8; 64];
        assert_eq!(
            write_stateless_reset(&mut buf, &TOKEN, 40, 21, &[0; 64]),
            Err(PacketEncodeError::StatelessResetTooSmall)
        );
        assert_eq!(
            write_stateless_reset(&mut buf, &TOKEN, 40, 0, &[0; 64]),
            Err(PacketEncodeError::StatelessResetTooSmall)
        );
        assert_eq!(
            write_stateless_reset(&mut buf, &TOKEN, 40, 100, &[0; 23]),
            Err(PacketEncodeError::NotEnoughUnpredictableBytes)
        );
        assert_eq!(
            write_stateless_reset(&mut buf[..30], &TOKEN, 40, 100, &[0; 64]),
            Err(PacketEncodeError::BufferTooSmall)
        );
    }

    #[test]
    fn detection_needs_21_bytes() {
        assert_eq!(potential_stateless_reset(&[0x40; 20]), None);
        let mut d = [0x41u8; 21];
        d[5..].copy_from_slice(&TOKEN.0);
        assert_eq!(potential_stateless_reset(&d), Some(TOKEN));
    }

    proptest! {
        #[test]
        fn never_panics(
            preferred in 0usize..3000,
            trigger in 0usize..3000,
            buf_len in 0usize..2000,
            random_len in 0usize..2000,
        ) {
            let mut buf = vec![0u8; buf_len];
            let random = vec![0x3c; random_len];
            if let Ok(n) = write_stateless_reset(&mut buf, &TOKEN, preferred, trigger, &random) {
                prop_assert!(n >= MIN_STATELESS_RESET_LEN && n < trigger);
                prop_assert_eq!(buf[0] & 0xc0, 0x40);
                prop_assert_eq!(potential_stateless_reset(&buf[..n]), Some(TOKEN));
            }
        }
    }
}
