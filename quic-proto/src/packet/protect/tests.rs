use hex_literal::hex;
use proptest::prelude::*;

use super::rfc9001_vectors::*;
use super::test_keys::{FakeHeaderKey, FakePacketKey};
use super::*;
use crate::crypto::{directional_keys, initial_keys, DirectionalKeys, Keys, Suite};
use crate::packet::{CoalescedPackets, Header, PartialPacket};
use crate::{ConnectionId, Level, Side, Version};

/// The product's Initial keys for the RFC 9001 A.2 client DCID: (client, server).
fn initial_key_pair() -> (Keys, Keys) {
    let dcid = hex!("8394c8f03e515708");
    (
        initial_keys(Version::V1, &dcid, Side::Client).unwrap(),
        initial_keys(Version::V1, &dcid, Side::Server).unwrap(),
    )
}

/// The product's keys for the RFC 9001 A.5 ChaCha20 secret.
fn chacha_keys() -> DirectionalKeys {
    let secret = hex!("9ac312a7f877468ebe69422748ad00a15443f18203a07d6060f688f30f21632b");
    directional_keys(Suite::Chacha20Poly1305Sha256, &secret, Version::V1).unwrap()
}

/// Writes `header` with `pn`, the payload, room for a 16-byte tag, patches
/// Length and seals; returns the packet.
fn build(
    header: &Header<'_>,
    pn: PacketNumber,
    payload: &[u8],
    pk: &dyn PacketKey,
    hk: &dyn HeaderKey,
) -> Result<Vec<u8>, PacketEncodeError> {
    let mut buf = vec![0u8; 2048];
    let layout = header.write(&mut buf, pn)?;
    let start = layout.header_len();
    let end = start + payload.len() + pk.tag_len();
    buf[start..start + payload.len()].copy_from_slice(payload);
    layout.finish(&mut buf, end)?;
    buf.truncate(end);
    seal(&mut buf, layout.pn_offset, pn, pk, hk)?;
    Ok(buf)
}

#[test]
fn seals_rfc9001_client_initial_byte_exact() {
    let (client, server) = initial_key_pair();
    let header = Header::Initial {
        version: Version::V1,
        dst_cid: ConnectionId::new(&hex!("8394c8f03e515708")).unwrap(),
        src_cid: ConnectionId::EMPTY,
        token: &[],
    };
    let mut payload = vec![0u8; 1162];
    payload[..CLIENT_INITIAL_CRYPTO.len()].copy_from_slice(&CLIENT_INITIAL_CRYPTO);
    let pn = PacketNumber::with_len(2, 4).unwrap();
    let (pk, hk) = (&*client.packet.local, &*client.header.local);
    let packet = build(&header, pn, &payload, pk, hk).unwrap();
    assert_eq!(packet.len(), 1200);
    assert_eq!(packet, CLIENT_INITIAL_PROTECTED);

    // The server's view: parse, unprotect, decrypt, all in place.
    let mut datagram = CLIENT_INITIAL_PROTECTED;
    let mut packets = CoalescedPackets::new(&mut datagram, 8, false);
    let partial = packets.next().unwrap().unwrap();
    assert!(packets.next().is_none());
    assert_eq!(partial.header(), header);
    assert_eq!(partial.pn_offset(), Some(18));
    let opened = partial
        .open(None, &*server.header.remote, &*server.packet.remote)
        .unwrap();
    assert_eq!(opened.pn(), 2);
    assert_eq!(opened.level(), Some(Level::Initial));
    assert_eq!(opened.payload(), &payload[..]);
}

#[test]
fn seals_rfc9001_server_initial_byte_exact() {
    let (client, server) = initial_key_pair();
    let (pk, hk) = (&*server.packet.local, &*server.header.local);
    let header = Header::Initial {
        version: Version::V1,
        dst_cid: ConnectionId::EMPTY,
        src_cid: ConnectionId::new(&hex!("f067a5502a4262b5")).unwrap(),
        token: &[],
    };
    let pn = PacketNumber::new(1, None);
    assert_eq!(pn.size(), 1, "A.2 would use 1 byte; the RFC sample uses 2");
    let pn = PacketNumber::with_len(1, 2).unwrap();
    let packet = build(&header, pn, &SERVER_INITIAL_PAYLOAD, pk, hk).unwrap();
    assert_eq!(packet, SERVER_INITIAL_PROTECTED);

    let mut packet = packet;
    let (hk, pk) = (&*client.header.remote, &*client.packet.remote);
    let opened = open(&mut packet, 18, Some(0), hk, pk).unwrap();
    assert_eq!(opened.pn, 1);
    assert_eq!(opened.pn_len, 2);
    assert_eq!(packet[opened.payload], SERVER_INITIAL_PAYLOAD);
}

#[test]
fn seals_rfc9001_chacha_short_header_byte_exact() {
    let keys = chacha_keys();
    let (pk, hk) = (&*keys.packet, &*keys.header);
    let header = Header::Short {
        spin: false,
        key_phase: false,
        dst_cid: ConnectionId::EMPTY,
    };
    let pn = PacketNumber::with_len(654_360_564, 3).unwrap();
    let packet = build(&header, pn, &[0x01], pk, hk).unwrap();
    assert_eq!(packet, CHACHA_SHORT_PROTECTED);

    let mut datagram = CHACHA_SHORT_PROTECTED;
    let (partial, rest) = PartialPacket::decode(&mut datagram, 0, false).unwrap();
    assert!(rest.is_empty());
    let unprotected = partial
        .remove_header_protection(Some(654_360_563), hk)
        .unwrap();
    assert_eq!(unprotected.pn(), 654_360_564);
    assert!(!unprotected.key_phase());
    let opened = unprotected.decrypt(pk).unwrap();
    assert_eq!(opened.payload(), [0x01]);
}

fn fake() -> (FakePacketKey, FakeHeaderKey) {
    (FakePacketKey(0x21), FakeHeaderKey(0x42))
}

fn short(key_phase: bool) -> Header<'static> {
    Header::Short {
        spin: true,
        key_phase,
        dst_cid: ConnectionId::new(&[7; 8]).unwrap(),
    }
}

#[test]
fn open_reports_key_phase_and_packet_number() {
    let (pk, hk) = fake();
    let pn = PacketNumber::new(0x1234, Some(0x1200));
    let mut packet = build(&short(true), pn, &[1; 30], &pk, &hk).unwrap();
    let opened = open(&mut packet, 9, Some(0x1233), &hk, &pk).unwrap();
    assert_eq!(opened.pn, 0x1234);
    assert!(opened.key_phase);
    assert_eq!(packet[opened.payload], [1; 30]);
    // The buffer now holds the unprotected header.
    assert_eq!(packet[0], 0x40 | 0x20 | 0x04 | pn.first_byte_bits());
}

#[test]
fn tampering_fails_authentication() {
    let (pk, hk) = fake();
    let pn = PacketNumber::with_len(5, 1).unwrap();
    let good = build(&short(false), pn, &[3; 20], &pk, &hk).unwrap();
    for i in 0..good.len() {
        let mut bad = good.clone();
        bad[i] ^= 0x01;
        let r = open(&mut bad, 9, Some(4), &hk, &pk);
        assert!(r.is_err(), "flipping byte {i} went unnoticed");
    }
    let mut wrong_key = good.clone();
    assert_eq!(
        open(&mut wrong_key, 9, Some(4), &hk, &FakePacketKey(0x22)),
        Err(PacketDecodeError::Authentication)
    );
}

/// Sets `bits` in the first byte before sealing, as a misbehaving peer would.
fn build_with_first_bits(header: &Header<'_>, bits: u8, payload: &[u8]) -> (Vec<u8>, usize) {
    let (pk, hk) = fake();
    let pn = PacketNumber::with_len(9, 2).unwrap();
    let mut buf = vec![0u8; 256];
    let layout = header.write(&mut buf, pn).unwrap();
    buf[0] |= bits;
    let end = layout.header_len() + payload.len() + 16;
    buf[layout.header_len()..end - 16].copy_from_slice(payload);
    layout.finish(&mut buf, end).unwrap();
    buf.truncate(end);
    seal(&mut buf, layout.pn_offset, pn, &pk, &hk).unwrap();
    (buf, layout.pn_offset)
}

#[test]
fn reserved_bits_are_checked_only_after_authentication() {
    let (pk, hk) = fake();
    let handshake = Header::Handshake {
        version: Version::V2,
        dst_cid: ConnectionId::new(&[1; 4]).unwrap(),
        src_cid: ConnectionId::EMPTY,
    };
    for (header, bits) in [
        (short(false), 0x08),
        (short(false), 0x10),
        (handshake, 0x04),
    ] {
        let (mut packet, pn_offset) = build_with_first_bits(&header, bits, &[0; 24]);
        let mut tampered = packet.clone();
        *tampered.last_mut().unwrap() ^= 0xff;
        assert_eq!(
            open(&mut tampered, pn_offset, None, &hk, &pk),
            Err(PacketDecodeError::Authentication),
            "an unauthenticated packet is dropped, not a protocol violation"
        );
        let err = open(&mut packet, pn_offset, None, &hk, &pk).unwrap_err();
        assert_eq!(err, PacketDecodeError::ReservedBits);
        assert!(err.transport_error().is_some());
    }
}

#[test]
fn packets_too_short_for_the_sample_are_refused() {
    let (pk, hk) = fake();
    let pn = PacketNumber::with_len(1, 1).unwrap();
    // pn_offset 9 + 4 + 16 = 29 bytes at least: header 10, tag 16, payload 3.
    assert!(build(&short(false), pn, &[0; 3], &pk, &hk).is_ok());
    assert_eq!(
        build(&short(false), pn, &[0; 2], &pk, &hk),
        Err(PacketEncodeError::TooShortForSample)
    );
    let mut packet = build(&short(false), pn, &[0; 3], &pk, &hk).unwrap();
    assert_eq!(
        open(&mut packet[..28], 9, None, &hk, &pk),
        Err(PacketDecodeError::TooShortForSample)
    );
    assert_eq!(
        open(&mut packet[..5], 9, None, &hk, &pk),
        Err(PacketDecodeError::TooShortForSample)
    );
    assert_eq!(
        open(&mut packet, 0, None, &hk, &pk),
        Err(PacketDecodeError::NotProtected)
    );
    assert_eq!(min_protected_len(9, 16), 29);
}

#[test]
fn seal_checks_the_packet_number_length() {
    let (pk, hk) = fake();
    let pn = PacketNumber::with_len(1, 1).unwrap();
    let mut buf = vec![0u8; 64];
    let layout = short(false).write(&mut buf, pn).unwrap();
    let other = PacketNumber::with_len(1, 2).unwrap();
    assert_eq!(
        seal(&mut buf, layout.pn_offset, other, &pk, &hk),
        Err(PacketEncodeError::PacketNumberLength)
    );
    assert_eq!(
        seal(&mut [], 1, pn, &pk, &hk),
        Err(PacketEncodeError::InvalidLength)
    );
}

#[test]
fn unprotected_kinds_cannot_be_opened() {
    let (pk, hk) = fake();
    let mut retry = Vec::new();
    Header::Retry {
        version: Version::V1,
        dst_cid: ConnectionId::EMPTY,
        src_cid: ConnectionId::EMPTY,
        token: &[1; 40],
        integrity_tag: [0; 16],
    }
    .encode_unprotected(&mut retry)
    .unwrap();
    let (partial, _) = PartialPacket::decode(&mut retry, 0, false).unwrap();
    assert_eq!(partial.pn_offset(), None);
    assert_eq!(
        partial.open(None, &hk, &pk).unwrap_err(),
        PacketDecodeError::NotProtected
    );
}

fn any_protected_header() -> impl Strategy<Value = (u8, bool, Vec<u8>, Vec<u8>, Vec<u8>, bool, bool)>
{
    (
        0u8..4,
        any::<bool>(),
        prop::collection::vec(any::<u8>(), 0..=20),
        prop::collection::vec(any::<u8>(), 0..=20),
        prop::collection::vec(any::<u8>(), 0..40),
        any::<bool>(),
        any::<bool>(),
    )
}

proptest! {
    #[test]
    fn seal_then_open_round_trips(
        (kind, v2, dcid, scid, token, spin, key_phase) in any_protected_header(),
        full in 0u64..=crate::packet::MAX_PACKET_NUMBER,
        gap in 1u64..100_000,
        payload in prop::collection::vec(any::<u8>(), 3..300),
    ) {
        let version = if v2 { Version::V2 } else { Version::V1 };
        let dst_cid = ConnectionId::new(&dcid).unwrap();
        let src_cid = ConnectionId::new(&scid).unwrap();
        let header = match kind {
            0 => Header::Initial { version, dst_cid, src_cid, token: &token },
            1 => Header::ZeroRtt { version, dst_cid, src_cid },
            2 => Header::Handshake { version, dst_cid, src_cid },
            _ => Header::Short { spin, key_phase, dst_cid },
        };
        let (pk, hk) = fake();
        let largest_acked = full.checked_sub(gap);
        let pn = PacketNumber::new(full, largest_acked);
        let mut packet = build(&header, pn, &payload, &pk, &hk).unwrap();
        let mut datagram = packet.clone();
        let (partial, rest) = PartialPacket::decode(&mut datagram, dcid.len(), false).unwrap();
        prop_assert!(rest.is_empty());
        let opened = partial.open(largest_acked, &hk, &pk).unwrap();
        prop_assert_eq!(opened.pn(), full);
        prop_assert_eq!(opened.header(), header);
        prop_assert_eq!(opened.payload(), &payload[..]);
        let pn_offset = header.header_len(pn.size()).unwrap() - pn.size();
        let raw = open(&mut packet, pn_offset, largest_acked, &hk, &pk).unwrap();
        prop_assert_eq!(raw.key_phase, matches!(header, Header::Short { key_phase: true, .. }));
    }
}
