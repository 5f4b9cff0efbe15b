//! Retry packets and the Retry pseudo-packet (RFC 9000 §17.2.5, RFC 9001
//! §5.8). Computing and checking the integrity tag itself is the crypto
//! layer's job; this module only lays out the bytes it covers.

use crate::coding::Encoder;
use crate::{ConnectionId, Version};

use super::header::{write_long_prefix, LongType, RETRY_INTEGRITY_TAG_LEN};
use super::{PacketDecodeError, PacketEncodeError};

/// Writes a Retry packet without its integrity tag: first byte (Unused bits
/// zero), version, CIDs and token (RFC 9000 §17.2.5).
fn encode_retry_without_tag<E: Encoder + ?Sized>(
    e: &mut E,
    version: Version,
    dst_cid: &ConnectionId,
    src_cid: &ConnectionId,
    token: &[u8],
) -> Result<(), PacketEncodeError> {
    write_long_prefix(e, LongType::Retry, version, 0, dst_cid, src_cid)?;
    e.put_slice(token);
    Ok(())
}

/// Writes a complete Retry packet with the given integrity tag (RFC 9000
/// §17.2.5). The server sets `dst_cid` to the client's SCID and `src_cid` to
/// a fresh connection ID that differs from the client's DCID; the tag is
/// computed over [`retry_pseudo_packet`] by the crypto layer.
pub fn encode_retry<E: Encoder + ?Sized>(
    e: &mut E,
    version: Version,
    dst_cid: &ConnectionId,
    src_cid: &ConnectionId,
    token: &[u8],
    integrity_tag: &[u8; RETRY_INTEGRITY_TAG_LEN],
) -> Result<(), PacketEncodeError> {
    encode_retry_without_tag(e, version, dst_cid, src_cid, token)?;
    e.put_slice(integrity_tag);
    Ok(())
}

/// Writes the Retry pseudo-packet of a Retry about to be sent (RFC 9001
/// §5.8): ODCID Length, ODCID, then the Retry packet as [`encode_retry`]
/// lays it out, without the tag. The AEAD of §5.8 takes it as associated
/// data to produce the tag.
pub fn retry_pseudo_packet<E: Encoder + ?Sized>(
    e: &mut E,
    original_dst_cid: &ConnectionId,
    version: Version,
    dst_cid: &ConnectionId,
    src_cid: &ConnectionId,
    token: &[u8],
) -> Result<(), PacketEncodeError> {
    original_dst_cid.encode_len_prefixed(e);
    encode_retry_without_tag(e, version, dst_cid, src_cid, token)
}

/// Writes the Retry pseudo-packet of a received Retry packet (RFC 9001 §5.8):
/// ODCID Length, ODCID, then the packet's bytes as received (including the
/// server's Unused bits) without the trailing 16-byte tag.
pub fn retry_pseudo_packet_from_bytes<E: Encoder + ?Sized>(
    e: &mut E,
    original_dst_cid: &ConnectionId,
    retry_packet: &[u8],
) -> Result<(), PacketDecodeError> {
    let without_tag = retry_packet
        .len()
        .checked_sub(RETRY_INTEGRITY_TAG_LEN)
        .and_then(|n| retry_packet.get(..n))
        .ok_or(PacketDecodeError::Truncated)?;
    original_dst_cid.encode_len_prefixed(e);
    e.put_slice(without_tag);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use hex_literal::hex;

    /// RFC 9001 Appendix A.4.
    const RFC9001_RETRY: [u8; 36] =
        hex!("ff000000010008f067a5502a4262b5746f6b656e04a265ba2eff4d829058fb3f0f2496ba");
    const ODCID: [u8; 8] = hex!("8394c8f03e515708");

    #[test]
    fn encodes_rfc9001_retry_up_to_the_unused_bits() {
        let mut v = Vec::new();
        let tag = RFC9001_RETRY[20..].try_into().unwrap();
        let scid = ConnectionId::new(&hex!("f067a5502a4262b5")).unwrap();
        encode_retry(
            &mut v,
            Version::V1,
            &ConnectionId::EMPTY,
            &scid,
            b"token",
            &tag,
        )
        .unwrap();
        // The RFC's server set the four Unused bits; we write them as zero.
        assert_eq!(v[0], 0xf0);
        assert_eq!(v[1..], RFC9001_RETRY[1..]);
    }

    #[test]
    fn pseudo_packet_from_bytes_prepends_odcid_and_drops_tag() {
        let odcid = ConnectionId::new(&ODCID).unwrap();
        let mut v = Vec::new();
        retry_pseudo_packet_from_bytes(&mut v, &odcid, &RFC9001_RETRY).unwrap();
        assert_eq!(v[0], 8);
        assert_eq!(v[1..9], ODCID);
        assert_eq!(v[9..], RFC9001_RETRY[..20]);
        assert_eq!(
            retry_pseudo_packet_from_bytes(&mut v, &odcid, &[0; 15]),
            Err(PacketDecodeError::Truncated)
        );
    }

    #[test]
    fn pseudo_packet_for_sending_matches_encoding() {
        let odcid = ConnectionId::new(&ODCID).unwrap();
        let scid = ConnectionId::new(&[9; 8]).unwrap();
        let mut packet = Vec::new();
        encode_retry(
            &mut packet,
            Version::V2,
            &ConnectionId::EMPTY,
            &scid,
            b"tk",
            &[0; 16],
        )
        .unwrap();
        let mut from_fields = Vec::new();
        retry_pseudo_packet(
            &mut from_fields,
            &odcid,
            Version::V2,
            &ConnectionId::EMPTY,
            &scid,
            b"tk",
        )
        .unwrap();
        let mut from_bytes = Vec::new();
        retry_pseudo_packet_from_bytes(&mut from_bytes, &odcid, &packet).unwrap();
        assert_eq!(from_fields, from_bytes);
    }

    /// The pseudo-packet is what RFC 9001 §5.8's AEAD authenticates: with
    /// the v1 Retry key the Appendix A.4 tag comes out.
    #[test]
    fn pseudo_packet_yields_the_rfc9001_tag() {
        use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_128_GCM};
        let key = LessSafeKey::new(
            UnboundKey::new(&AES_128_GCM, &hex!("be0c690b9f66575a1d766b54e368c84e")).unwrap(),
        );
        let nonce = Nonce::assume_unique_for_key(hex!("461599d35d632bf2239825bb"));
        let mut pseudo = Vec::new();
        let odcid = ConnectionId::new(&ODCID).unwrap();
        retry_pseudo_packet_from_bytes(&mut pseudo, &odcid, &RFC9001_RETRY).unwrap();
        let tag = key
            .seal_in_place_separate_tag(nonce, Aad::from(&pseudo), &mut [])
            .unwrap();
        assert_eq!(tag.as_ref(), &RFC9001_RETRY[20..]);
    }
}
