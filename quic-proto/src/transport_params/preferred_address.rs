//! The preferred_address transport parameter (RFC 9000 §9.6, §18.2).

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};

use crate::coding::{Encoder, Reader};
use crate::{ConnectionId, StatelessResetToken, TransportError};

/// A server's preferred address (RFC 9000 §9.6, §18.2): where the client may
/// migrate once the handshake is confirmed, with the connection ID (sequence
/// number 1) and reset token to use there.
///
/// An address family the server does not offer is `None`; on the wire it is
/// the all-zero address and port (`0.0.0.0:0` or `[::]:0`). An address with a
/// zero port but a non-zero IP, or the reverse, is kept as given.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PreferredAddress {
    /// The IPv4 address and port, if offered.
    pub ipv4: Option<SocketAddrV4>,
    /// The IPv6 address and port, if offered. Flow info and scope ID are not
    /// carried on the wire and decode as zero.
    pub ipv6: Option<SocketAddrV6>,
    /// The connection ID to use on the preferred path; never zero-length in
    /// a valid parameter (RFC 9000 §18.2).
    pub connection_id: ConnectionId,
    /// The stateless reset token for `connection_id`.
    pub stateless_reset_token: StatelessResetToken,
}

impl PreferredAddress {
    /// Encoded size of everything except the connection ID: IPv4 address
    /// and port, IPv6 address and port, CID length and reset token.
    const FIXED_LEN: usize = 4 + 2 + 16 + 2 + 1 + StatelessResetToken::LEN;

    /// The length of the parameter's value in bytes.
    pub fn value_len(&self) -> usize {
        Self::FIXED_LEN + self.connection_id.len()
    }

    /// Writes the parameter's value (without ID or length).
    pub fn encode_value<E: Encoder + ?Sized>(&self, e: &mut E) {
        // RFC 9000 §18.2: an absent family is sent as the all-zero address and port.
        let v4 = self
            .ipv4
            .unwrap_or(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0));
        e.put_slice(&v4.ip().octets());
        e.put_u16(v4.port());
        let (v6_ip, v6_port) = match self.ipv6 {
            Some(a) => (*a.ip(), a.port()),
            None => (Ipv6Addr::UNSPECIFIED, 0),
        };
        e.put_slice(&v6_ip.octets());
        e.put_u16(v6_port);
        self.connection_id.encode_len_prefixed(e);
        e.put_slice(&self.stateless_reset_token.0);
    }

    /// Parses the parameter's value, which must be exactly one preferred
    /// address. Value checks (the non-empty CID) are left to
    /// [`TransportParameters::validate`](super::TransportParameters::validate).
    pub fn decode_value(value: &[u8]) -> Result<Self, TransportError> {
        let malformed = |_| TransportError::transport_parameter("preferred_address malformed");
        let mut r = Reader::new(value);
        let ip4 = Ipv4Addr::from(r.array::<4>().map_err(malformed)?);
        let port4 = r.u16().map_err(malformed)?;
        let ip6 = Ipv6Addr::from(r.array::<16>().map_err(malformed)?);
        let port6 = r.u16().map_err(malformed)?;
        let connection_id = decode_cid(&mut r)?;
        let token = r.array::<16>().map_err(malformed)?;
        if !r.is_empty() {
            return Err(TransportError::transport_parameter(
                "preferred_address has trailing bytes",
            ));
        }
        Ok(Self {
            ipv4: (!ip4.is_unspecified() || port4 != 0).then(|| SocketAddrV4::new(ip4, port4)),
            ipv6: (!ip6.is_unspecified() || port6 != 0)
                .then(|| SocketAddrV6::new(ip6, port6, 0, 0)),
            connection_id,
            stateless_reset_token: StatelessResetToken(token),
        })
    }
}

/// Reads the one-byte-length-prefixed connection ID of a preferred address.
fn decode_cid(r: &mut Reader<'_>) -> Result<ConnectionId, TransportError> {
    let malformed = |_| TransportError::transport_parameter("preferred_address malformed");
    let len = r.u8().map_err(malformed)?;
    if usize::from(len) > ConnectionId::MAX_LEN {
        return Err(TransportError::transport_parameter(
            "preferred_address connection ID longer than 20 bytes",
        ));
    }
    let bytes = r.bytes(len.into()).map_err(malformed)?;
    // Cannot fail: the length was checked against MAX_LEN above.
    ConnectionId::new(bytes).map_err(malformed)
}

#[cfg(feature = "arbitrary")]
impl<'a> arbitrary::Arbitrary<'a> for PreferredAddress {
    /// A preferred address that survives an encode/decode round trip: a
    /// non-empty CID, no all-zero address offered as present, zero flow info
    /// and scope ID.
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        let ipv4 = Option::<(u32, u16)>::arbitrary(u)?
            .filter(|&(ip, port)| ip != 0 || port != 0)
            .map(|(ip, port)| SocketAddrV4::new(ip.into(), port));
        let ipv6 = Option::<(u128, u16)>::arbitrary(u)?
            .filter(|&(ip, port)| ip != 0 || port != 0)
            .map(|(ip, port)| SocketAddrV6::new(ip.into(), port, 0, 0));
        let connection_id = super::arbitrary_impls::cid(u, 1)?;
        Ok(Self {
            ipv4,
            ipv6,
            connection_id,
            stateless_reset_token: StatelessResetToken(u.arbitrary()?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hex_literal::hex;

    fn sample() -> PreferredAddress {
        PreferredAddress {
            ipv4: Some(SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 1), 443)),
            ipv6: None,
            connection_id: ConnectionId::new(&[0xaa, 0xbb]).unwrap(),
            stateless_reset_token: StatelessResetToken([0x11; 16]),
        }
    }

    #[test]
    fn encodes_the_rfc_layout_with_a_zeroed_absent_family() {
        let mut v = Vec::new();
        sample().encode_value(&mut v);
        let expected = [
            &hex!("c0000201 01bb")[..],
            &[0; 18],
            &hex!("02 aabb"),
            &[0x11; 16],
        ]
        .concat();
        assert_eq!(v, expected);
        assert_eq!(sample().value_len(), v.len());
        assert_eq!(PreferredAddress::decode_value(&v), Ok(sample()));
    }

    #[test]
    fn a_zero_ip_with_a_nonzero_port_is_kept() {
        let mut a = sample();
        a.ipv6 = Some(SocketAddrV6::new(Ipv6Addr::UNSPECIFIED, 9, 0, 0));
        let mut v = Vec::new();
        a.encode_value(&mut v);
        assert_eq!(PreferredAddress::decode_value(&v), Ok(a));
    }

    #[test]
    fn every_truncation_is_malformed() {
        let mut v = Vec::new();
        sample().encode_value(&mut v);
        for n in 0..v.len() {
            let e = PreferredAddress::decode_value(&v[..n]).unwrap_err();
            assert_eq!(e.reason, "preferred_address malformed", "{n}");
        }
    }
}
