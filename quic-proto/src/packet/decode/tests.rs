use hex_literal::hex;
use proptest::prelude::*;

use super::*;
use crate::packet::protect::test_keys::{FakeHeaderKey, FakePacketKey};
use crate::packet::{seal, PacketNumber};

fn cid(bytes: &[u8]) -> ConnectionId {
    ConnectionId::new(bytes).unwrap()
}

/// Writes `header` with a 2-byte packet number and `payload_len` more bytes
/// (payload plus tag room) into a new vector; Length is patched.
fn unsealed(header: &Header<'_>, pn: u64, payload_len: usize) -> Vec<u8> {
    let mut buf = vec![0xeeu8; 4096];
    let layout = header
        .write(&mut buf, PacketNumber::with_len(pn, 2).unwrap())
        .unwrap();
    let end = layout.header_len() + payload_len;
    layout.finish(&mut buf, end).unwrap();
    buf.truncate(end);
    buf
}

#[test]
fn rfc9001_client_initial_header_decodes() {
    let mut datagram = vec![0u8; 1200];
    datagram[..22].copy_from_slice(&hex!("c300000001088394c8f03e5157080000449e00000002"));
    let (p, rest) = PartialPacket::decode(&mut datagram, 0, false).unwrap();
    assert!(rest.is_empty());
    assert_eq!(
        p.header(),
        Header::Initial {
            version: Version::V1,
            dst_cid: cid(&hex!("8394c8f03e515708")),
            src_cid: ConnectionId::EMPTY,
            token: &[],
        }
    );
    assert_eq!(p.pn_offset(), Some(18));
    assert_eq!(p.len(), 18 + 0x49e);
    assert_eq!(p.level(), Some(Level::Initial));
    assert_eq!(p.dst_cid(), hex!("8394c8f03e515708"));
    assert_eq!(p.as_bytes()[18..22], [0, 0, 0, 2]);
}

#[test]
fn rfc9001_retry_decodes() {
    let mut datagram =
        hex!("ff000000010008f067a5502a4262b5746f6b656e04a265ba2eff4d829058fb3f0f2496ba");
    let (p, _) = PartialPacket::decode(&mut datagram, 0, false).unwrap();
    assert_eq!(
        p.header(),
        Header::Retry {
            version: Version::V1,
            dst_cid: ConnectionId::EMPTY,
            src_cid: cid(&hex!("f067a5502a4262b5")),
            token: b"token",
            integrity_tag: hex!("04a265ba2eff4d829058fb3f0f2496ba"),
        }
    );
    assert_eq!(p.level(), None);
    assert_eq!(p.len(), 36);
}

#[test]
fn coalesced_initial_handshake_and_short_split_in_place() {
    let d = cid(&[0xd0; 8]);
    let s = cid(&[0x50; 5]);
    let initial = unsealed(
        &Header::Initial {
            version: Version::V1,
            dst_cid: d,
            src_cid: s,
            token: b"tok",
        },
        0,
        50,
    );
    let handshake = unsealed(
        &Header::Handshake {
            version: Version::V1,
            dst_cid: d,
            src_cid: s,
        },
        1,
        40,
    );
    let one_rtt = unsealed(
        &Header::Short {
            spin: true,
            key_phase: false,
            dst_cid: d,
        },
        2,
        30,
    );
    let mut datagram = [initial.clone(), handshake.clone(), one_rtt.clone()].concat();
    let packets: Vec<_> = CoalescedPackets::new(&mut datagram, 8, false)
        .map(Result::unwrap)
        .collect();
    assert_eq!(packets.len(), 3);
    assert_eq!(packets[0].as_bytes(), &initial[..]);
    assert_eq!(packets[1].as_bytes(), &handshake[..]);
    assert_eq!(packets[2].as_bytes(), &one_rtt[..]);
    let levels: Vec<_> = packets.iter().map(PartialPacket::level).collect();
    assert_eq!(
        levels,
        [
            Some(Level::Initial),
            Some(Level::Handshake),
            Some(Level::OneRtt)
        ]
    );
    assert_eq!(packets[0].pn_offset(), Some(1 + 4 + 9 + 6 + 4 + 2));
    assert_eq!(packets[2].pn_offset(), Some(9));
    assert!(packets.iter().all(|p| p.dst_cid() == [0xd0; 8]));
}

#[test]
fn coalesced_packets_open_independently() {
    let (pk, hk) = (FakePacketKey(1), FakeHeaderKey(2));
    let d = cid(&[9; 4]);
    let mut datagram = Vec::new();
    for (i, header) in [
        Header::Handshake {
            version: Version::V2,
            dst_cid: d,
            src_cid: d,
        },
        Header::Short {
            spin: false,
            key_phase: true,
            dst_cid: d,
        },
    ]
    .iter()
    .enumerate()
    {
        let mut p = unsealed(header, i as u64, 20 + 16);
        let pn_offset = header.header_len(2).unwrap() - 2;
        seal(
            &mut p,
            pn_offset,
            PacketNumber::with_len(i as u64, 2).unwrap(),
            &pk,
            &hk,
        )
        .unwrap();
        datagram.extend_from_slice(&p);
    }
    let mut it = CoalescedPackets::new(&mut datagram, 4, false);
    let hs = it.next().unwrap().unwrap().open(None, &hk, &pk).unwrap();
    let short = it.next().unwrap().unwrap().open(Some(0), &hk, &pk).unwrap();
    assert!(it.next().is_none());
    assert_eq!((hs.pn(), hs.key_phase()), (0, false));
    assert_eq!((short.pn(), short.key_phase()), (1, true));
    assert_eq!(hs.payload(), &[0xee; 20]);
    assert_eq!(short.into_payload(), &[0xee; 20]);
}

#[test]
fn malformed_later_packet_still_yields_earlier_ones() {
    let d = cid(&[1; 8]);
    let hs = unsealed(
        &Header::Handshake {
            version: Version::V1,
            dst_cid: d,
            src_cid: d,
        },
        0,
        30,
    );
    // Trailing zero bytes: a "short header" with the fixed bit clear.
    let mut datagram = [hs.clone(), vec![0; 40]].concat();
    let mut it = CoalescedPackets::new(&mut datagram, 8, false);
    assert_eq!(it.next().unwrap().unwrap().as_bytes(), &hs[..]);
    assert_eq!(
        it.next().unwrap().unwrap_err(),
        PacketDecodeError::FixedBitUnset
    );
    assert!(it.next().is_none());
}

#[test]
fn later_packet_with_another_dcid_is_skipped() {
    let a = cid(&[1; 8]);
    let b = cid(&[2; 8]);
    let p1 = unsealed(
        &Header::Initial {
            version: Version::V1,
            dst_cid: a,
            src_cid: a,
            token: &[],
        },
        0,
        30,
    );
    let p2 = unsealed(
        &Header::Handshake {
            version: Version::V1,
            dst_cid: b,
            src_cid: a,
        },
        0,
        30,
    );
    let p3 = unsealed(
        &Header::Handshake {
            version: Version::V1,
            dst_cid: a,
            src_cid: a,
        },
        0,
        30,
    );
    let mut datagram = [p1, p2, p3.clone()].concat();
    let results: Vec<_> = CoalescedPackets::new(&mut datagram, 8, false)
        .map(|r| r.map(|p| p.as_bytes().to_vec()))
        .collect();
    assert_eq!(results.len(), 3);
    assert_eq!(results[1], Err(PacketDecodeError::DcidMismatch));
    assert_eq!(results[2].as_deref(), Ok(&p3[..]));
}

#[test]
fn fixed_bit_rules() {
    let d = cid(&[3; 4]);
    for header in [
        Header::Handshake {
            version: Version::V1,
            dst_cid: d,
            src_cid: d,
        },
        Header::Short {
            spin: false,
            key_phase: false,
            dst_cid: d,
        },
    ] {
        let mut p = unsealed(&header, 0, 30);
        p[0] &= !0x40;
        let mut copy = p.clone();
        assert_eq!(
            PartialPacket::decode(&mut p, 4, false).unwrap_err(),
            PacketDecodeError::FixedBitUnset
        );
        // RFC 9287: allowed once grease_quic_bit is negotiated.
        let (partial, _) = PartialPacket::decode(&mut copy, 4, true).unwrap();
        assert_eq!(partial.header(), header);
    }
    // Version Negotiation ignores it (RFC 9000 §17.2.1).
    let mut vn = hex!("80 00000000 00 00 00000001");
    assert!(PartialPacket::decode(&mut vn, 0, false).is_ok());
}

#[test]
fn v1_cids_over_20_bytes_are_dropped() {
    let mut p = hex!("c3 00000001 15").to_vec();
    p.extend_from_slice(&[0; 21]);
    p.extend_from_slice(&hex!("00 00 01 00"));
    assert_eq!(
        PartialPacket::decode(&mut p, 0, false).unwrap_err(),
        PacketDecodeError::ConnectionIdTooLong
    );
    assert_eq!(
        PartialPacket::decode(&mut [0x40; 30], 21, false).unwrap_err(),
        PacketDecodeError::InvalidLocalCidLength
    );
}

#[test]
fn unknown_versions_parse_only_the_invariants() {
    let mut p = hex!("c7 1a2a3a4a").to_vec();
    p.push(255);
    p.extend_from_slice(&[0xdd; 255]);
    p.push(0);
    p.extend_from_slice(&[0xff; 900]);
    let len = p.len();
    let (partial, rest) = PartialPacket::decode(&mut p, 8, false).unwrap();
    assert!(rest.is_empty());
    assert_eq!(partial.len(), len);
    assert_eq!(partial.pn_offset(), None);
    assert_eq!(partial.version(), Some(Version(0x1a2a3a4a)));
    match partial.header() {
        Header::UnsupportedVersion {
            dst_cid, src_cid, ..
        } => {
            assert_eq!(dst_cid, &[0xdd; 255][..]);
            assert!(src_cid.is_empty());
        }
        h => panic!("unexpected {h:?}"),
    }
    // Even with the fixed bit clear: it is not an invariant.
    let mut p = hex!("80 00000007 00 00").to_vec();
    assert!(PartialPacket::decode(&mut p, 0, false).is_ok());
}

#[test]
fn length_beyond_the_datagram_is_an_error() {
    let d = cid(&[3; 4]);
    let mut p = unsealed(
        &Header::Handshake {
            version: Version::V1,
            dst_cid: d,
            src_cid: d,
        },
        0,
        30,
    );
    p.pop();
    assert_eq!(
        PartialPacket::decode(&mut p, 4, false).unwrap_err(),
        PacketDecodeError::LengthOutOfBounds
    );
    // An 8-byte Length near 2^62 must not overflow.
    let mut p = hex!("e0 00000001 00 00 ffffffffffffffff 00").to_vec();
    assert_eq!(
        PartialPacket::decode(&mut p, 0, false).unwrap_err(),
        PacketDecodeError::LengthOutOfBounds
    );
}

#[test]
fn short_or_odd_special_packets_are_errors() {
    assert_eq!(
        PartialPacket::decode(&mut hex!("80 00000000 00 00 000001"), 0, false).unwrap_err(),
        PacketDecodeError::MalformedVersionList
    );
    assert_eq!(
        PartialPacket::decode(&mut hex!("f0 00000001 00 00 0102"), 0, false).unwrap_err(),
        PacketDecodeError::Truncated
    );
    assert_eq!(
        PartialPacket::decode(&mut [], 0, false).unwrap_err(),
        PacketDecodeError::Truncated
    );
    assert_eq!(
        PartialPacket::decode(&mut [0x40, 1, 2], 8, false).unwrap_err(),
        PacketDecodeError::Truncated
    );
    assert!(CoalescedPackets::new(&mut [], 0, false).next().is_none());
}

/// An owned description of a header, for proptest.
#[derive(Clone, Debug)]
struct Spec {
    kind: u8,
    v2: bool,
    dcid: Vec<u8>,
    scid: Vec<u8>,
    token: Vec<u8>,
    tag: [u8; 16],
    spin: bool,
    raw_dcid: Vec<u8>,
    raw_scid: Vec<u8>,
    versions: Vec<u8>,
    unknown: u32,
}

impl Spec {
    fn header(&self) -> Header<'_> {
        let version = if self.v2 { Version::V2 } else { Version::V1 };
        let dst_cid = cid(&self.dcid);
        let src_cid = cid(&self.scid);
        match self.kind {
            0 => Header::Initial {
                version,
                dst_cid,
                src_cid,
                token: &self.token,
            },
            1 => Header::ZeroRtt {
                version,
                dst_cid,
                src_cid,
            },
            2 => Header::Handshake {
                version,
                dst_cid,
                src_cid,
            },
            3 => Header::Short {
                spin: self.spin,
                key_phase: false,
                dst_cid,
            },
            4 => Header::Retry {
                version,
                dst_cid,
                src_cid,
                token: &self.token,
                integrity_tag: self.tag,
            },
            5 => Header::VersionNegotiation {
                dst_cid: &self.raw_dcid,
                src_cid: &self.raw_scid,
                versions: VersionList::new(&self.versions).unwrap(),
            },
            _ => Header::UnsupportedVersion {
                version: Version(self.unknown),
                dst_cid: &self.raw_dcid,
                src_cid: &self.raw_scid,
            },
        }
    }
}

fn spec() -> impl Strategy<Value = Spec> {
    let bytes = |max| prop::collection::vec(any::<u8>(), 0..=max);
    (
        (
            0u8..7,
            any::<bool>(),
            bytes(20),
            bytes(20),
            bytes(64),
            any::<[u8; 16]>(),
            any::<bool>(),
        ),
        (
            bytes(255),
            bytes(255),
            prop::collection::vec(any::<u32>(), 0..8),
            any::<u32>(),
        ),
    )
        .prop_map(
            |(
                (kind, v2, dcid, scid, token, tag, spin),
                (raw_dcid, raw_scid, versions, unknown),
            )| Spec {
                kind,
                v2,
                dcid,
                scid,
                token,
                tag,
                spin,
                raw_dcid,
                raw_scid,
                versions: versions.iter().flat_map(|v| v.to_be_bytes()).collect(),
                unknown: if unknown == 0 || Version(unknown).is_supported() {
                    0x0a0a_0a0a
                } else {
                    unknown
                },
            },
        )
}

proptest! {
    #[test]
    fn headers_round_trip(spec in spec(), pn in any::<u64>(), pn_len in 1usize..=4, body in 0usize..100) {
        let header = spec.header();
        let mut bytes = if header.has_packet_number() {
            let pn = PacketNumber::with_len(pn & crate::packet::MAX_PACKET_NUMBER, pn_len).unwrap();
            let mut buf = vec![0u8; 512];
            let layout = header.write(&mut buf, pn).unwrap();
            prop_assert_eq!(Some(layout.header_len()), header.header_len(pn_len));
            let end = layout.header_len() + body;
            layout.finish(&mut buf, end).unwrap();
            buf.truncate(end);
            buf
        } else {
            let mut v = Vec::new();
            header.encode_unprotected(&mut v).unwrap();
            v
        };
        let len = bytes.len();
        let (partial, rest) = PartialPacket::decode(&mut bytes, spec.dcid.len(), false).unwrap();
        prop_assert!(rest.is_empty());
        prop_assert_eq!(partial.len(), len);
        prop_assert_eq!(partial.header(), header);
        prop_assert_eq!(partial.level(), header.level());
        prop_assert_eq!(partial.version(), header.version());
        prop_assert_eq!(partial.dst_cid(), header.dst_cid());
        if header.has_packet_number() {
            prop_assert_eq!(partial.pn_offset(), header.header_len(pn_len).map(|l| l - pn_len));
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(mut datagram in prop::collection::vec(any::<u8>(), 0..200), cid_len in prop::sample::select(vec![0usize, 4, 8, 20, 21]), grease in any::<bool>()) {
        let (pk, hk) = (FakePacketKey(1), FakeHeaderKey(2));
        for (i, packet) in CoalescedPackets::new(&mut datagram, cid_len, grease).enumerate() {
            prop_assert!(i < 200);
            if let Ok(packet) = packet {
                let _ = packet.header();
                let _ = packet.open(Some(i as u64 * 1000), &hk, &pk);
            }
        }
    }

    #[test]
    fn long_header_like_bytes_never_panic(
        first in prop::sample::select(vec![0xc0u8, 0xd0, 0xe0, 0xf0, 0x80, 0xc3]),
        version in prop::sample::select(vec![0u32, 1, 0x6b33_43cf, 0x1a2a_3a4a]),
        tail in prop::collection::vec(any::<u8>(), 0..120),
        cid_len in 0usize..=20,
    ) {
        let mut datagram = vec![first];
        datagram.extend_from_slice(&version.to_be_bytes());
        datagram.extend_from_slice(&tail);
        let total = datagram.len();
        let mut seen = 0;
        for packet in CoalescedPackets::new(&mut datagram, cid_len, false).flatten() {
            seen += packet.len();
            let _ = packet.header();
        }
        prop_assert!(seen <= total);
    }
}

/// What a fuzz target does: build an arbitrary header, encode it, decode it.
#[cfg(feature = "arbitrary")]
#[test]
fn arbitrary_headers_encode_and_decode_back() {
    use arbitrary::{Arbitrary, Unstructured};
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut noise = vec![0u8; 4096];
    for _ in 0..500 {
        for b in noise.iter_mut() {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            *b = seed as u8;
        }
        let mut u = Unstructured::new(&noise);
        let header = Header::arbitrary(&mut u).unwrap();
        let pn = PacketNumber::arbitrary(&mut u).unwrap();
        // Larger than anything 4096 bytes of noise can describe.
        let mut bytes = vec![0u8; 8192];
        let len = if header.has_packet_number() {
            let layout = header.write(&mut bytes, pn).unwrap();
            layout.finish(&mut bytes, layout.header_len()).unwrap();
            layout.header_len()
        } else {
            let mut w = crate::coding::SliceWriter::new(&mut bytes);
            header.encode_unprotected(&mut w).unwrap();
            w.finish().unwrap()
        };
        bytes.truncate(len);
        let (partial, _) =
            PartialPacket::decode(&mut bytes, header.dst_cid().len(), false).unwrap();
        // The key phase bit is header-protected: unknown before unprotecting.
        let expected = match header {
            Header::Short { spin, dst_cid, .. } => Header::Short {
                spin,
                key_phase: false,
                dst_cid,
            },
            h => h,
        };
        assert_eq!(partial.header(), expected);
    }
}
