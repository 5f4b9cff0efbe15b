//! The sample packet protection vectors of RFC 9001 Appendix A and RFC 9369
//! Appendix A, byte for byte.
//!
//! Sealing and opening are done here on raw offsets (AEAD, then header
//! protection over the sample that starts 4 bytes after the packet number
//! offset, RFC 9001 §5.4.2), independent of the packet-header module.

use core::ops::Range;

use super::ring_keys::expand_label;
use super::{
    directional_keys, initial_keys, retry_integrity_tag, verify_retry_integrity, CryptoError,
    HeaderKey, KeyUpdate, Keys, PacketKey, Suite,
};
use crate::{Side, Version};

/// Decodes hex copied from the RFC text, ignoring all whitespace.
fn hex(text: &str) -> Vec<u8> {
    let digits: Vec<u8> = text
        .bytes()
        .filter(|b| !b.is_ascii_whitespace())
        .map(|b| match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            _ => panic!("not hex: {}", b as char),
        })
        .collect();
    assert_eq!(digits.len() % 2, 0, "odd number of hex digits");
    digits.chunks(2).map(|p| (p[0] << 4) | p[1]).collect()
}

/// Protects a packet: seals `payload` with `header` (unprotected, ending
/// with the packet number) as associated data, then applies header
/// protection with the sample 4 bytes after `pn_offset`.
fn protect(
    packet_key: &dyn PacketKey,
    header_key: &dyn HeaderKey,
    pn: u64,
    header: &[u8],
    pn_offset: usize,
    payload: &[u8],
) -> Vec<u8> {
    let mut packet = header.to_vec();
    packet.extend_from_slice(payload);
    packet.resize(packet.len() + packet_key.tag_len(), 0);
    let (aad, body) = packet.split_at_mut(header.len());
    packet_key.encrypt_in_place(pn, aad, body).unwrap();

    let sample_start = pn_offset + 4;
    let (head, rest) = packet.split_at_mut(sample_start);
    let (first, after_first) = head.split_at_mut(1);
    let pn_bytes = &mut after_first[pn_offset - 1..header.len() - 1];
    let sample = &rest[..header_key.sample_len()];
    header_key
        .encrypt_in_place(sample, &mut first[0], pn_bytes)
        .unwrap();
    packet
}

/// Removes the protection of `packet` in place and returns the plaintext's
/// range. The full packet number is given (the decoding of a truncated
/// packet number belongs to the packet module); the truncated bits must
/// match it.
fn unprotect(
    packet_key: &dyn PacketKey,
    header_key: &dyn HeaderKey,
    pn: u64,
    pn_offset: usize,
    packet: &mut [u8],
) -> Result<Range<usize>, CryptoError> {
    let sample_start = pn_offset + 4;
    let sample_end = sample_start + header_key.sample_len();
    if packet.len() < sample_end {
        return Err(CryptoError);
    }
    let (head, rest) = packet.split_at_mut(sample_start);
    let (first, after_first) = head.split_at_mut(1);
    header_key.decrypt_in_place(
        &rest[..header_key.sample_len()],
        &mut first[0],
        &mut after_first[pn_offset - 1..],
    )?;
    let pn_len = usize::from(packet[0] & 0x03) + 1;
    let header_len = pn_offset + pn_len;
    let truncated = packet[pn_offset..header_len]
        .iter()
        .fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
    if truncated != pn & ((1 << (8 * pn_len)) - 1) {
        return Err(CryptoError);
    }
    let (header, payload) = packet.split_at_mut(header_len);
    let len = packet_key.decrypt_in_place(pn, header, payload)?;
    Ok(header_len..header_len + len)
}

/// One Initial packet vector.
struct Initial {
    version: Version,
    /// Who sends it.
    sender: Side,
    header: &'static str,
    pn: u64,
    pn_offset: usize,
    payload: Vec<u8>,
    packet: &'static str,
}

/// The Destination Connection ID the client chose in all the vectors.
const CLIENT_DCID: [u8; 8] = hex_literal::hex!("8394c8f03e515708");

fn client_payload() -> Vec<u8> {
    let mut payload = hex(CLIENT_CRYPTO);
    payload.resize(1162, 0); // PADDING frames
    payload
}

fn client_initial(version: Version, header: &'static str, packet: &'static str) -> Initial {
    Initial {
        version,
        sender: Side::Client,
        header,
        pn: 2,
        pn_offset: 18,
        payload: client_payload(),
        packet,
    }
}

fn server_initial(version: Version, header: &'static str, packet: &'static str) -> Initial {
    Initial {
        version,
        sender: Side::Server,
        header,
        pn: 1,
        pn_offset: 18,
        payload: hex(SERVER_PAYLOAD),
        packet,
    }
}

fn v1_client() -> Initial {
    let header = "c300000001088394c8f03e5157080000449e00000002";
    client_initial(Version::V1, header, V1_CLIENT_PACKET)
}

fn v1_server() -> Initial {
    let header = "c1000000010008f067a5502a4262b50040750001";
    server_initial(Version::V1, header, V1_SERVER_PACKET)
}

fn v2_client() -> Initial {
    let header = "d36b3343cf088394c8f03e5157080000449e00000002";
    client_initial(Version::V2, header, V2_CLIENT_PACKET)
}

fn v2_server() -> Initial {
    let header = "d16b3343cf0008f067a5502a4262b50040750001";
    server_initial(Version::V2, header, V2_SERVER_PACKET)
}

/// Seals the vector with the sender's rustls Initial keys, compares with the
/// RFC's packet, then opens it with the receiver's and gets the payload back.
fn check_initial(v: &Initial) {
    let sender = initial_keys(v.version, &CLIENT_DCID, v.sender).unwrap();
    let receiver = initial_keys(v.version, &CLIENT_DCID, v.sender.peer()).unwrap();
    let header = hex(v.header);
    let sealed = protect(
        &*sender.packet.local,
        &*sender.header.local,
        v.pn,
        &header,
        v.pn_offset,
        &v.payload,
    );
    assert_eq!(sealed, hex(v.packet), "sealed packet differs");

    let mut packet = sealed;
    let plain = unprotect(
        &*receiver.packet.remote,
        &*receiver.header.remote,
        v.pn,
        v.pn_offset,
        &mut packet,
    )
    .unwrap();
    assert_eq!(packet[..plain.start], header[..], "unprotected header");
    assert_eq!(packet[plain], v.payload[..], "opened payload");
}

/// Every single-bit change to a protected packet makes it fail to open.
fn check_bit_flips(v: &Initial, every_bit: bool) {
    let receiver = initial_keys(v.version, &CLIENT_DCID, v.sender.peer()).unwrap();
    let packet = hex(v.packet);
    for byte in 0..packet.len() {
        let bits = if every_bit {
            0..8
        } else {
            byte % 8..byte % 8 + 1
        };
        for bit in bits {
            let mut flipped = packet.clone();
            flipped[byte] ^= 1 << bit;
            let opened = unprotect(
                &*receiver.packet.remote,
                &*receiver.header.remote,
                v.pn,
                v.pn_offset,
                &mut flipped,
            );
            assert_eq!(opened, Err(CryptoError), "byte {byte} bit {bit}");
        }
    }
}

/// The Initial secrets and keys of Appendix A.1 of each RFC.
struct InitialSchedule {
    version: Version,
    initial_secret: &'static str,
    /// (label, secret, key, iv) for the client, then the server.
    sides: [(&'static [u8], &'static str, &'static str, &'static str); 2],
}

const V1_SCHEDULE: InitialSchedule = InitialSchedule {
    version: Version::V1,
    initial_secret: "7db5df06e7a69e432496adedb00851923595221596ae2ae9fb8115c1e9ed0a44",
    sides: [
        (
            b"client in",
            "c00cf151ca5be075ed0ebfb5c80323c42d6b7db67881289af4008f1f6c357aea",
            "1f369613dd76d5467730efcbe3b1a22d",
            "fa044b2f42a3fd3b46fb255c",
        ),
        (
            b"server in",
            "3c199828fd139efd216c155ad844cc81fb82fa8d7446fa7d78be803acdda951b",
            "cf3a5331653c364c88f0f379b6067e37",
            "0ac1493ca1905853b0bba03e",
        ),
    ],
};

const V2_SCHEDULE: InitialSchedule = InitialSchedule {
    version: Version::V2,
    initial_secret: "2062e8b3cd8d52092614b8071d0aa1fb7c2e3ac193f78b280e72d8f5751f6aba",
    sides: [
        (
            b"client in",
            "14ec9d6eb9fd7af83bf5a668bc17a7e283766aade7ecd0891f70f9ff7f4bf47b",
            "8b1a0bc121284290a29e0971b5cd045d",
            "91f73e2351d8fa91660e909f",
        ),
        (
            b"server in",
            "0263db1782731bf4588e7e4d93b7463907cb8cd8200b5da55a8bd488eafc37c1",
            "82db637861d55e1d011f19ea71d5d2a7",
            "dd13c276499c0249d3310652",
        ),
    ],
};

/// Our HKDF-Expand-Label reproduces the RFC's intermediate secrets and keys.
fn check_schedule(s: &InitialSchedule) {
    let (key_label, iv_label): (&[u8], &[u8]) = match s.version {
        Version::V1 => (b"quic key", b"quic iv"),
        _ => (b"quicv2 key", b"quicv2 iv"),
    };
    let sha256 = ring::hkdf::HKDF_SHA256;
    for (label, secret, key, iv) in s.sides {
        let mut out = [0; 32];
        expand_label(sha256, &hex(s.initial_secret), label, &mut out);
        assert_eq!(out[..], hex(secret)[..]);
        let mut out = [0; 16];
        expand_label(sha256, &hex(secret), key_label, &mut out);
        assert_eq!(out[..], hex(key)[..]);
        let mut out = [0; 12];
        expand_label(sha256, &hex(secret), iv_label, &mut out);
        assert_eq!(out[..], hex(iv)[..]);
    }
}

/// The ring keys derived from the RFC's Initial secrets produce the RFC's
/// packets too: the two implementations agree byte for byte.
fn check_initial_with_ring_keys(s: &InitialSchedule, v: &Initial) {
    let index = usize::from(v.sender.is_server());
    let (_, secret, _, _) = s.sides[index];
    let keys = directional_keys(Suite::Aes128GcmSha256, &hex(secret), s.version).unwrap();
    let sealed = protect(
        &*keys.packet,
        &*keys.header,
        v.pn,
        &hex(v.header),
        v.pn_offset,
        &v.payload,
    );
    assert_eq!(sealed, hex(v.packet));
}

/// Appendix A.4: the tag of the RFC's Retry is its last 16 bytes.
fn check_retry(version: Version, retry: &str) {
    let packet = hex(retry);
    let (without_tag, tag) = packet.split_at(packet.len() - 16);
    assert_eq!(
        retry_integrity_tag(version, &CLIENT_DCID, without_tag).unwrap()[..],
        tag[..]
    );
    assert!(verify_retry_integrity(
        version,
        &CLIENT_DCID,
        without_tag,
        tag
    ));
    for byte in 0..packet.len() {
        let mut flipped = packet.clone();
        flipped[byte] ^= 1 << (byte % 8);
        let (without_tag, tag) = flipped.split_at(flipped.len() - 16);
        assert!(!verify_retry_integrity(
            version,
            &CLIENT_DCID,
            without_tag,
            tag
        ));
    }
}

/// The ChaCha20-Poly1305 short header vector (RFC 9001 A.5, RFC 9369 A.5).
struct ShortHeader {
    version: Version,
    key: &'static str,
    iv: &'static str,
    ku: &'static str,
    packet: &'static str,
}

const CHACHA_SECRET: &str = "9ac312a7f877468ebe69422748ad00a15443f18203a07d6060f688f30f21632b";
const CHACHA_PN: u64 = 654_360_564;

const V1_SHORT: ShortHeader = ShortHeader {
    version: Version::V1,
    key: "c6d98ff3441c3fe1b2182094f69caa2ed4b716b65488960a7a984979fb23e1c8",
    iv: "e0459b3474bdd0e44a41c144",
    ku: "1223504755036d556342ee9361d253421a826c9ecdf3c7148684b36b714881f9",
    packet: "4cfe4189655e5cd55c41f69080575d7999c25a5bfb",
};

const V2_SHORT: ShortHeader = ShortHeader {
    version: Version::V2,
    key: "3bfcddd72bcf02541d7fa0dd1f5f9eeea817e09a6963a0e6c7df0f9a1bab90f2",
    iv: "a6b5bc6ab7dafce30ffff5dd",
    ku: "c69374c49e3d2a9466fa689e49d476db5d0dfbc87d32ceeaa6343fd0ae4c7d88",
    packet: "5558b1c60ae7b6b932bc27d786f4bc2bb20f2162ba",
};

fn check_short_header(v: &ShortHeader) {
    let secret = hex(CHACHA_SECRET);
    let labels: [&[u8]; 3] = match v.version {
        Version::V1 => [b"quic key", b"quic iv", b"quic ku"],
        _ => [b"quicv2 key", b"quicv2 iv", b"quicv2 ku"],
    };
    for (label, expected) in labels.into_iter().zip([v.key, v.iv, v.ku]) {
        let expected = hex(expected);
        let mut out = vec![0; expected.len()];
        expand_label(ring::hkdf::HKDF_SHA256, &secret, label, &mut out);
        assert_eq!(out, expected);
    }

    let keys = directional_keys(Suite::Chacha20Poly1305Sha256, &secret, v.version).unwrap();
    let header = hex("4200bff4");
    let sealed = protect(&*keys.packet, &*keys.header, CHACHA_PN, &header, 1, &[0x01]);
    assert_eq!(sealed, hex(v.packet));

    let mut packet = sealed.clone();
    let plain = unprotect(&*keys.packet, &*keys.header, CHACHA_PN, 1, &mut packet).unwrap();
    assert_eq!(packet[..plain.start], header[..]);
    assert_eq!(packet[plain], [0x01]);

    for byte in 0..sealed.len() {
        for bit in 0..8 {
            let mut flipped = sealed.clone();
            flipped[byte] ^= 1 << bit;
            let opened = unprotect(&*keys.packet, &*keys.header, CHACHA_PN, 1, &mut flipped);
            assert_eq!(opened, Err(CryptoError), "byte {byte} bit {bit}");
        }
    }
}

/// The generation after the vector's secret uses the RFC's "ku" secret: the
/// packet key `KeyUpdate::after` yields equals the one derived from "ku".
fn check_key_update(v: &ShortHeader) {
    let secret = hex(CHACHA_SECRET);
    let suite = Suite::Chacha20Poly1305Sha256;
    let mut update = KeyUpdate::after(suite, v.version, Side::Server, &secret, &secret).unwrap();
    let next = update.next_packet_keys();
    let expected = directional_keys(suite, &hex(v.ku), v.version).unwrap();
    let header = hex("4200bff4");
    let mut a = *b"ping\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0";
    let mut b = a;
    next.local
        .encrypt_in_place(CHACHA_PN, &header, &mut a)
        .unwrap();
    expected
        .packet
        .encrypt_in_place(CHACHA_PN, &header, &mut b)
        .unwrap();
    assert_eq!(a, b);
}

#[test]
fn rfc9001_a1_initial_key_schedule() {
    check_schedule(&V1_SCHEDULE);
}

#[test]
fn rfc9001_a2_client_initial() {
    check_initial(&v1_client());
    check_initial_with_ring_keys(&V1_SCHEDULE, &v1_client());
}

#[test]
fn rfc9001_a2_client_initial_rejects_every_flipped_byte() {
    check_bit_flips(&v1_client(), false);
}

#[test]
fn rfc9001_a3_server_initial() {
    check_initial(&v1_server());
    check_initial_with_ring_keys(&V1_SCHEDULE, &v1_server());
}

#[test]
fn rfc9001_a3_server_initial_rejects_every_flipped_bit() {
    check_bit_flips(&v1_server(), true);
}

#[test]
fn rfc9001_a4_retry_integrity_tag() {
    check_retry(Version::V1, V1_RETRY);
}

#[test]
fn rfc9001_a5_chacha20_short_header() {
    check_short_header(&V1_SHORT);
}

#[test]
fn rfc9001_a5_key_update_uses_the_ku_secret() {
    check_key_update(&V1_SHORT);
}

#[test]
fn rfc9369_a1_initial_key_schedule() {
    check_schedule(&V2_SCHEDULE);
}

#[test]
fn rfc9369_a2_client_initial() {
    check_initial(&v2_client());
    check_initial_with_ring_keys(&V2_SCHEDULE, &v2_client());
}

#[test]
fn rfc9369_a2_client_initial_rejects_every_flipped_byte() {
    check_bit_flips(&v2_client(), false);
}

#[test]
fn rfc9369_a3_server_initial() {
    check_initial(&v2_server());
    check_initial_with_ring_keys(&V2_SCHEDULE, &v2_server());
}

#[test]
fn rfc9369_a3_server_initial_rejects_every_flipped_bit() {
    check_bit_flips(&v2_server(), true);
}

#[test]
fn rfc9369_a4_retry_integrity_tag() {
    check_retry(Version::V2, V2_RETRY);
}

#[test]
fn rfc9369_a5_chacha20_short_header() {
    check_short_header(&V2_SHORT);
}

#[test]
fn rfc9369_a5_key_update_uses_the_ku_secret() {
    check_key_update(&V2_SHORT);
}

#[test]
fn initial_keys_refuse_unknown_versions() {
    let err = initial_keys(Version(0x1a2a_3a4a), &CLIENT_DCID, Side::Client).unwrap_err();
    assert_eq!(err.0, Version(0x1a2a_3a4a));
    assert!(directional_keys(Suite::Aes128GcmSha256, &[0; 32], Version(0xff00_001d)).is_err());
}

/// Initial keys of both sides agree with each other for any DCID.
#[test]
fn initial_keys_of_both_sides_interoperate() {
    for version in [Version::V1, Version::V2] {
        let client: Keys = initial_keys(version, b"any dcid", Side::Client).unwrap();
        let server: Keys = initial_keys(version, b"any dcid", Side::Server).unwrap();
        let header = hex("c300000001");
        let mut buf = *b"payload\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0";
        client
            .packet
            .local
            .encrypt_in_place(9, &header, &mut buf)
            .unwrap();
        assert_eq!(
            server.packet.remote.decrypt_in_place(9, &header, &mut buf),
            Ok(7)
        );
        assert_eq!(&buf[..7], b"payload");
    }
}

/// RFC 9001 A.2 / RFC 9369 A.2 (identical): the client's CRYPTO frame;
/// PADDING follows up to a 1162-byte payload.
const CLIENT_CRYPTO: &str = "
060040f1010000ed0303ebf8fa56f129 39b9584a3896472ec40bb863cfd3e868
04fe3a47f06a2b69484c000004130113 02010000c000000010000e00000b6578
616d706c652e636f6dff01000100000a 00080006001d00170018001000070005
04616c706e0005000501000000000033 00260024001d00209370b2c9caa47fba
baf4559fedba753de171fa71f50f1ce1 5d43e994ec74d748002b000302030400
0d0010000e0403050306030203080408 050806002d00020101001c0002400100
3900320408ffffffffffffffff050480 00ffff07048000ffff08011001048000
75300901100f088394c8f03e51570806 048000ffff
";

/// RFC 9001 A.3 / RFC 9369 A.3 (identical): the server's ACK and CRYPTO
/// frames, no PADDING.
const SERVER_PAYLOAD: &str = "
02000000000600405a020000560303ee fce7f7b37ba1d1632e96677825ddf739
88cfc79825df566dc5430b9a045a1200 130100002e00330024001d00209d3c94
0d89690b84d08a60993c144eca684d10 81287c834d5311bcf32bb9da1a002b00
020304
";

/// RFC 9001 A.2: the protected client Initial.
const V1_CLIENT_PACKET: &str = "
c000000001088394c8f03e5157080000 449e7b9aec34d1b1c98dd7689fb8ec11
d242b123dc9bd8bab936b47d92ec356c 0bab7df5976d27cd449f63300099f399
1c260ec4c60d17b31f8429157bb35a12 82a643a8d2262cad67500cadb8e7378c
8eb7539ec4d4905fed1bee1fc8aafba1 7c750e2c7ace01e6005f80fcb7df6212
30c83711b39343fa028cea7f7fb5ff89 eac2308249a02252155e2347b63d58c5
457afd84d05dfffdb20392844ae81215 4682e9cf012f9021a6f0be17ddd0c208
4dce25ff9b06cde535d0f920a2db1bf3 62c23e596d11a4f5a6cf3948838a3aec
4e15daf8500a6ef69ec4e3feb6b1d98e 610ac8b7ec3faf6ad760b7bad1db4ba3
485e8a94dc250ae3fdb41ed15fb6a8e5 eba0fc3dd60bc8e30c5c4287e53805db
059ae0648db2f64264ed5e39be2e20d8 2df566da8dd5998ccabdae053060ae6c
7b4378e846d29f37ed7b4ea9ec5d82e7 961b7f25a9323851f681d582363aa5f8
9937f5a67258bf63ad6f1a0b1d96dbd4 faddfcefc5266ba6611722395c906556
be52afe3f565636ad1b17d508b73d874 3eeb524be22b3dcbc2c7468d54119c74
68449a13d8e3b95811a198f3491de3e7 fe942b330407abf82a4ed7c1b311663a
c69890f4157015853d91e923037c227a 33cdd5ec281ca3f79c44546b9d90ca00
f064c99e3dd97911d39fe9c5d0b23a22 9a234cb36186c4819e8b9c5927726632
291d6a418211cc2962e20fe47feb3edf 330f2c603a9d48c0fcb5699dbfe58964
25c5bac4aee82e57a85aaf4e2513e4f0 5796b07ba2ee47d80506f8d2c25e50fd
14de71e6c418559302f939b0e1abd576 f279c4b2e0feb85c1f28ff18f58891ff
ef132eef2fa09346aee33c28eb130ff2 8f5b766953334113211996d20011a198
e3fc433f9f2541010ae17c1bf202580f 6047472fb36857fe843b19f5984009dd
c324044e847a4f4a0ab34f719595de37 252d6235365e9b84392b061085349d73
203a4a13e96f5432ec0fd4a1ee65accd d5e3904df54c1da510b0ff20dcc0c77f
cb2c0e0eb605cb0504db87632cf3d8b4 dae6e705769d1de354270123cb11450e
fc60ac47683d7b8d0f811365565fd98c 4c8eb936bcab8d069fc33bd801b03ade
a2e1fbc5aa463d08ca19896d2bf59a07 1b851e6c239052172f296bfb5e724047
90a2181014f3b94a4e97d117b4381303 68cc39dbb2d198065ae3986547926cd2
162f40a29f0c3c8745c0f50fba3852e5 66d44575c29d39a03f0cda721984b6f4
40591f355e12d439ff150aab7613499d bd49adabc8676eef023b15b65bfc5ca0
6948109f23f350db82123535eb8a7433 bdabcb909271a6ecbcb58b936a88cd4e
8f2e6ff5800175f113253d8fa9ca8885 c2f552e657dc603f252e1a8e308f76f0
be79e2fb8f5d5fbbe2e30ecadd220723 c8c0aea8078cdfcb3868263ff8f09400
54da48781893a7e49ad5aff4af300cd8 04a6b6279ab3ff3afb64491c85194aab
760d58a606654f9f4400e8b38591356f bf6425aca26dc85244259ff2b19c41b9
f96f3ca9ec1dde434da7d2d392b905dd f3d1f9af93d1af5950bd493f5aa731b4
056df31bd267b6b90a079831aaf579be 0a39013137aac6d404f518cfd4684064
7e78bfe706ca4cf5e9c5453e9f7cfd2b 8b4c8d169a44e55c88d4a9a7f9474241
e221af44860018ab0856972e194cd934
";

/// RFC 9001 A.3: the protected server Initial.
const V1_SERVER_PACKET: &str = "
cf000000010008f067a5502a4262b500 4075c0d95a482cd0991cd25b0aac406a
5816b6394100f37a1c69797554780bb3 8cc5a99f5ede4cf73c3ec2493a1839b3
dbcba3f6ea46c5b7684df3548e7ddeb9 c3bf9c73cc3f3bded74b562bfb19fb84
022f8ef4cdd93795d77d06edbb7aaf2f 58891850abbdca3d20398c276456cbc4
2158407dd074ee
";

/// RFC 9001 A.4: the Retry packet, tag included.
const V1_RETRY: &str = "
ff000000010008f067a5502a4262b574 6f6b656e04a265ba2eff4d829058fb3f
0f2496ba
";

/// RFC 9369 A.2: the protected client Initial.
const V2_CLIENT_PACKET: &str = "
d76b3343cf088394c8f03e5157080000 449ea0c95e82ffe67b6abcdb4298b485
dd04de806071bf03dceebfa162e75d6c 96058bdbfb127cdfcbf903388e99ad04
9f9a3dd4425ae4d0992cfff18ecf0fdb 5a842d09747052f17ac2053d21f57c5d
250f2c4f0e0202b70785b7946e992e58 a59ac52dea6774d4f03b55545243cf1a
12834e3f249a78d395e0d18f4d766004 f1a2674802a747eaa901c3f10cda5500
cb9122faa9f1df66c392079a1b40f0de 1c6054196a11cbea40afb6ef5253cd68
18f6625efce3b6def6ba7e4b37a40f77 32e093daa7d52190935b8da58976ff33
12ae50b187c1433c0f028edcc4c2838b 6a9bfc226ca4b4530e7a4ccee1bfa2a3
d396ae5a3fb512384b2fdd851f784a65 e03f2c4fbe11a53c7777c023462239dd
6f7521a3f6c7d5dd3ec9b3f233773d4b 46d23cc375eb198c63301c21801f6520
bcfb7966fc49b393f0061d974a2706df 8c4a9449f11d7f3d2dcbb90c6b877045
636e7c0c0fe4eb0f697545460c806910 d2c355f1d253bc9d2452aaa549e27a1f
ac7cf4ed77f322e8fa894b6a83810a34 b361901751a6f5eb65a0326e07de7c12
16ccce2d0193f958bb3850a833f7ae43 2b65bc5a53975c155aa4bcb4f7b2c4e5
4df16efaf6ddea94e2c50b4cd1dfe060 17e0e9d02900cffe1935e0491d77ffb4
fdf85290fdd893d577b1131a610ef6a5 c32b2ee0293617a37cbb08b847741c3b
8017c25ca9052ca1079d8b78aebd4787 6d330a30f6a8c6d61dd1ab5589329de7
14d19d61370f8149748c72f132f0fc99 f34d766c6938597040d8f9e2bb522ff9
9c63a344d6a2ae8aa8e51b7b90a4a806 105fcbca31506c446151adfeceb51b91
abfe43960977c87471cf9ad4074d30e1 0d6a7f03c63bd5d4317f68ff325ba3bd
80bf4dc8b52a0ba031758022eb025cdd 770b44d6d6cf0670f4e990b22347a7db
848265e3e5eb72dfe8299ad7481a4083 22cac55786e52f633b2fb6b614eaed18
d703dd84045a274ae8bfa73379661388 d6991fe39b0d93debb41700b41f90a15
c4d526250235ddcd6776fc77bc97e7a4 17ebcb31600d01e57f32162a8560cacc
7e27a096d37a1a86952ec71bd89a3e9a 30a2a26162984d7740f81193e8238e61
f6b5b984d4d3dfa033c1bb7e4f0037fe bf406d91c0dccf32acf423cfa1e70710
10d3f270121b493ce85054ef58bada42 310138fe081adb04e2bd901f2f13458b
3d6758158197107c14ebb193230cd115 7380aa79cae1374a7c1e5bbcb80ee23e
06ebfde206bfb0fcbc0edc4ebec30966 1bdd908d532eb0c6adc38b7ca7331dce
8dfce39ab71e7c32d318d136b6100671 a1ae6a6600e3899f31f0eed19e3417d1
34b90c9058f8632c798d4490da498730 7cba922d61c39805d072b589bd52fdf1
e86215c2d54e6670e07383a27bbffb5a ddf47d66aa85a0c6f9f32e59d85a44dd
5d3b22dc2be80919b490437ae4f36a0a e55edf1d0b5cb4e9a3ecabee93dfc6e3
8d209d0fa6536d27a5d6fbb17641cde2 7525d61093f1b28072d111b2b4ae5f89
d5974ee12e5cf7d5da4d6a31123041f3 3e61407e76cffcdcfd7e19ba58cf4b53
6f4c4938ae79324dc402894b44faf8af bab35282ab659d13c93f70412e85cb19
9a37ddec600545473cfb5a05e08d0b20 9973b2172b4d21fb69745a262ccde96b
a18b2faa745b6fe189cf772a9f84cbfc
";

/// RFC 9369 A.3: the protected server Initial.
const V2_SERVER_PACKET: &str = "
dc6b3343cf0008f067a5502a4262b500 4075d92faaf16f05d8a4398c47089698
baeea26b91eb761d9b89237bbf872630 17915358230035f7fd3945d88965cf17
f9af6e16886c61bfc703106fbaf3cb4c fa52382dd16a393e42757507698075b2
c984c707f0a0812d8cd5a6881eaf21ce da98f4bd23f6fe1a3e2c43edd9ce7ca8
4bed8521e2e140
";

/// RFC 9369 A.4: the Retry packet, tag included.
const V2_RETRY: &str = "
cf6b3343cf0008f067a5502a4262b574 6f6b656ec8646ce8bfe33952d9555436
65dcc7b6
";
