//! Stateless reset tokens (RFC 9000 §10.3.2), HMAC-SHA256 with `ring`.

use core::fmt;

use ring::hmac;

use crate::StatelessResetToken;

/// The static key from which an endpoint derives the stateless reset token of
/// each connection ID it issues (RFC 9000 §10.3.2).
///
/// The token is HMAC-SHA256(static key, connection ID) truncated to 16
/// bytes: deterministic, so an endpoint that lost all state can still
/// recompute the token of a connection ID it receives, and unpredictable to
/// anyone without the key.
pub struct ResetTokenKey(hmac::Key);

impl ResetTokenKey {
    /// Builds the key from static key material (from the endpoint's
    /// configuration or seed). RFC 9000 §10.3.2 wants it secret and, for a
    /// cluster of endpoints, shared by all of them.
    pub fn new(static_key: &[u8]) -> Self {
        Self(hmac::Key::new(hmac::HMAC_SHA256, static_key))
    }

    /// The stateless reset token for `cid`.
    pub fn token(&self, cid: &[u8]) -> StatelessResetToken {
        let tag = hmac::sign(&self.0, cid);
        let mut token = [0; StatelessResetToken::LEN];
        // HMAC-SHA256 output is 32 bytes, longer than the token.
        for (t, b) in token.iter_mut().zip(tag.as_ref()) {
            *t = *b;
        }
        StatelessResetToken(token)
    }
}

impl fmt::Debug for ResetTokenKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResetTokenKey").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ConnectionId;

    #[test]
    fn reset_token_is_deterministic_per_cid() {
        let key = ResetTokenKey::new(b"static key");
        let a = ConnectionId::new(&[1, 2, 3, 4]).unwrap();
        let b = ConnectionId::new(&[1, 2, 3, 5]).unwrap();
        assert_eq!(key.token(&a), key.token(&a));
        assert_eq!(key.token(&a), ResetTokenKey::new(b"static key").token(&a));
        assert_ne!(key.token(&a), key.token(&b));
        assert_ne!(key.token(&a), ResetTokenKey::new(b"other key").token(&a));
    }

    #[test]
    fn reset_token_is_truncated_hmac_sha256() {
        // RFC 4231 test case 2: HMAC-SHA256("Jefe", "what do ya want for
        // nothing?") starts 5bdcc146bf60754e6a042426089575c7.
        let key = ResetTokenKey::new(b"Jefe");
        assert_eq!(
            key.token(b"what do ya want for nothing?").0,
            hex_literal::hex!("5bdcc146bf60754e6a042426089575c7")
        );
    }
}
