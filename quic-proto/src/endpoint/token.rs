//! Retry tokens (RFC 9000 §8.1.2–§8.1.4).
//!
//! A token binds the client's address and the original Destination
//! Connection ID to the time it was issued, under an HMAC key only this
//! endpoint knows, so a client can only use it from the address it was
//! sent to and only for a limited time. Times are milliseconds since the
//! endpoint's first `now`, since the core has no wall clock.

use std::net::SocketAddr;

use ring::hmac;

use crate::ConnectionId;

const MAC_LEN: usize = 16;

/// Issues and checks Retry tokens.
pub(crate) struct TokenKey(hmac::Key);

impl TokenKey {
    pub fn new(secret: &[u8]) -> Self {
        Self(hmac::Key::new(hmac::HMAC_SHA256, secret))
    }

    fn mac(&self, remote: &SocketAddr, issued_ms: u64, odcid: &[u8]) -> hmac::Tag {
        let mut ctx = hmac::Context::with_key(&self.0);
        match remote {
            SocketAddr::V4(a) => ctx.update(&a.ip().octets()),
            SocketAddr::V6(a) => ctx.update(&a.ip().octets()),
        }
        ctx.update(&remote.port().to_be_bytes());
        ctx.update(&issued_ms.to_be_bytes());
        ctx.update(odcid);
        ctx.sign()
    }

    /// A token for a client at `remote` whose first Initial went to `odcid`.
    pub fn issue(&self, remote: &SocketAddr, issued_ms: u64, odcid: &ConnectionId) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + 1 + odcid.len() + MAC_LEN);
        out.extend_from_slice(&issued_ms.to_be_bytes());
        out.push(odcid.len() as u8);
        out.extend_from_slice(odcid);
        out.extend_from_slice(&self.mac(remote, issued_ms, odcid).as_ref()[..MAC_LEN]);
        out
    }

    /// The original DCID the token vouches for, if it is ours, from
    /// `remote`, and not older than `lifetime_ms` at `now_ms`.
    pub fn validate(
        &self,
        token: &[u8],
        remote: &SocketAddr,
        now_ms: u64,
        lifetime_ms: u64,
    ) -> Option<ConnectionId> {
        let (issued, rest) = token.split_first_chunk::<8>()?;
        let issued_ms = u64::from_be_bytes(*issued);
        let (&len, rest) = rest.split_first()?;
        let (odcid, mac) = rest.split_at_checked(usize::from(len))?;
        if mac.len() != MAC_LEN || now_ms < issued_ms || now_ms - issued_ms > lifetime_ms {
            return None;
        }
        let expected = self.mac(remote, issued_ms, odcid);
        // Constant-time comparison of the truncated tag.
        let diff = expected.as_ref()[..MAC_LEN]
            .iter()
            .zip(mac)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        if diff != 0 {
            return None;
        }
        ConnectionId::new(odcid).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_bound_to_address_key_and_time() {
        let key = TokenKey::new(b"secret");
        let a: SocketAddr = "192.0.2.1:4433".parse().unwrap();
        let b: SocketAddr = "192.0.2.2:4433".parse().unwrap();
        let odcid = ConnectionId::new(&[1, 2, 3, 4, 5, 6, 7, 8]).unwrap();
        let t = key.issue(&a, 1000, &odcid);
        assert_eq!(key.validate(&t, &a, 1500, 10_000), Some(odcid));
        assert_eq!(key.validate(&t, &b, 1500, 10_000), None, "other address");
        assert_eq!(key.validate(&t, &a, 20_000, 10_000), None, "expired");
        assert_eq!(
            TokenKey::new(b"other").validate(&t, &a, 1500, 10_000),
            None,
            "other key"
        );
        let mut bad = t.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert_eq!(key.validate(&bad, &a, 1500, 10_000), None, "tampered");
        assert_eq!(key.validate(&t[..5], &a, 1500, 10_000), None, "truncated");
    }
}
