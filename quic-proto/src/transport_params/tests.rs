use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};
use std::time::Duration;

use hex_literal::hex;
use proptest::prelude::*;
use smallvec::smallvec;

use super::*;
use crate::{TransportErrorCode, Version};

// ---- helpers -------------------------------------------------------------

/// One parameter on the wire: ID, length, value.
fn p(id: u64, value: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    v.put_varint(VarInt::from_u64(id).unwrap());
    v.put_varint(VarInt::try_from(value.len()).unwrap());
    v.extend_from_slice(value);
    v
}

/// An integer parameter with the shortest varint encoding.
fn int(id: u64, x: u64) -> Vec<u8> {
    let mut value = Vec::new();
    value.put_varint(VarInt::from_u64(x).unwrap());
    p(id, &value)
}

/// Decodes `bytes` expecting a TRANSPORT_PARAMETER_ERROR; returns its reason.
fn reject(bytes: &[u8], sent_by: Side) -> &'static str {
    let e = TransportParameters::decode(bytes, sent_by).unwrap_err();
    assert_eq!(
        e.code,
        TransportErrorCode::TRANSPORT_PARAMETER_ERROR,
        "{e:?}"
    );
    assert_eq!(e.frame_type, None);
    e.reason
}

fn cid(bytes: &[u8]) -> ConnectionId {
    ConnectionId::new(bytes).unwrap()
}

/// A preferred_address value with the given connection ID.
fn preferred_address_value(cid: &[u8]) -> Vec<u8> {
    let mut v = hex!("c0000201 01bb 20010db8000000000000000000000001 01bb").to_vec();
    v.push(cid.len() as u8);
    v.extend_from_slice(cid);
    v.extend_from_slice(&[0x5a; 16]);
    v
}

/// A valid value for every known parameter, for the duplicate test.
fn valid_value(id: TransportParameterId) -> Vec<u8> {
    type I = TransportParameterId;
    match id {
        I::ORIGINAL_DESTINATION_CONNECTION_ID
        | I::INITIAL_SOURCE_CONNECTION_ID
        | I::RETRY_SOURCE_CONNECTION_ID => vec![1, 2, 3, 4],
        I::STATELESS_RESET_TOKEN => vec![7; 16],
        I::MAX_UDP_PAYLOAD_SIZE => hex!("44b0").to_vec(), // 1200
        I::ACTIVE_CONNECTION_ID_LIMIT => vec![4],
        I::DISABLE_ACTIVE_MIGRATION | I::GREASE_QUIC_BIT => vec![],
        I::PREFERRED_ADDRESS => preferred_address_value(&[9, 9]),
        I::VERSION_INFORMATION => hex!("00000001 00000001").to_vec(),
        _ => vec![5],
    }
}

// ---- defaults and accessors ----------------------------------------------

#[test]
fn defaults_are_the_rfc_values() {
    let d = TransportParameters::default();
    assert_eq!(d, TransportParameters::DEFAULT);
    assert_eq!(d.max_udp_payload_size.into_inner(), 65527);
    assert_eq!(d.ack_delay_exponent, 3);
    assert_eq!(d.max_ack_delay(), Duration::from_millis(25));
    assert_eq!(d.active_connection_id_limit.into_inner(), 2);
    assert_eq!(d.max_idle_timeout(), None);
    assert_eq!(d.initial_max_data, VarInt::ZERO);
    assert_eq!(d.max_datagram_frame_size, None);
    assert_eq!(
        TransportParameters::decode(&[], Side::Server),
        Ok(d.clone())
    );
    assert!(d.to_vec(Side::Client, None).is_empty());
    assert!(d.to_vec(Side::Server, None).is_empty());
}

#[test]
fn time_accessors_convert_units() {
    let mut tp = TransportParameters {
        max_idle_timeout_ms: VarInt::from_u32(30_000),
        max_ack_delay_ms: 10,
        ..Default::default()
    };
    assert_eq!(tp.max_idle_timeout(), Some(Duration::from_secs(30)));
    assert_eq!(tp.max_ack_delay(), Duration::from_millis(10));
    // RFC 9000 §19.3: ACK Delay * 2^ack_delay_exponent microseconds.
    assert_eq!(
        tp.decode_ack_delay(VarInt::from_u32(100)),
        Duration::from_micros(800)
    );
    tp.ack_delay_exponent = 0;
    assert_eq!(
        tp.decode_ack_delay(VarInt::from_u32(100)),
        Duration::from_micros(100)
    );
    tp.ack_delay_exponent = 200; // invalid, but must not panic
    assert_eq!(
        tp.decode_ack_delay(VarInt::MAX),
        Duration::from_micros(u64::MAX)
    );
}

// ---- encoding ------------------------------------------------------------

#[test]
fn encodes_byte_exact() {
    let tp = TransportParameters {
        max_idle_timeout_ms: VarInt::from_u32(30_000),
        max_udp_payload_size: VarInt::from_u32(1472),
        initial_max_data: VarInt::from_u32(1 << 20),
        initial_max_stream_data_bidi_local: VarInt::from_u32(1 << 16),
        initial_max_streams_bidi: VarInt::from_u32(100),
        ack_delay_exponent: 3, // default: omitted
        max_ack_delay_ms: 20,
        disable_active_migration: true,
        active_connection_id_limit: VarInt::from_u32(2), // default: omitted
        initial_source_connection_id: Some(cid(&hex!("c1c2c3c4"))),
        max_datagram_frame_size: Some(VarInt::from_u32(65535)),
        grease_quic_bit: true,
        ..Default::default()
    };
    let grease = GreaseParam {
        id_seed: 1,
        value: &[0xde, 0xad],
    };
    let expected = hex!(
        "01 04 80007530"    // max_idle_timeout 30000
        "03 02 45c0"        // max_udp_payload_size 1472
        "04 04 80100000"    // initial_max_data 2^20
        "05 04 80010000"    // initial_max_stream_data_bidi_local 2^16
        "08 02 4064"        // initial_max_streams_bidi 100
        "0b 01 14"          // max_ack_delay 20
        "0c 00"             // disable_active_migration
        "0f 04 c1c2c3c4"    // initial_source_connection_id
        "20 04 8000ffff"    // max_datagram_frame_size 65535
        "6ab2 00"           // grease_quic_bit
        "3a 02 dead"        // reserved ID 31 * 1 + 27 = 58
    );
    assert_eq!(tp.to_vec(Side::Client, Some(grease)), expected);
    assert_eq!(tp.encoded_len(Side::Client, Some(grease)), expected.len());
    assert_eq!(TransportParameters::decode(&expected, Side::Client), Ok(tp));
}

#[test]
fn a_client_never_encodes_server_only_parameters() {
    let tp = TransportParameters {
        original_destination_connection_id: Some(cid(&[1])),
        stateless_reset_token: Some(StatelessResetToken([2; 16])),
        preferred_address: Some(
            PreferredAddress::decode_value(&preferred_address_value(&[3])).unwrap(),
        ),
        retry_source_connection_id: Some(cid(&[4])),
        ..Default::default()
    };
    assert!(tp.to_vec(Side::Client, None).is_empty());
    let server = TransportParameters::decode(&tp.to_vec(Side::Server, None), Side::Server);
    assert_eq!(server, Ok(tp.clone()));
    // ...and validate() tells the caller the set was wrong for a client.
    assert_eq!(
        tp.validate(Side::Client).unwrap_err().reason,
        "client sent original_destination_connection_id"
    );
}

// ---- decoding: realistic input -------------------------------------------

#[test]
fn a_realistic_server_block_with_every_parameter_decodes() {
    let block = [
        p(0x00, &hex!("8394c8f03e515708")),
        int(0x01, 30_000),
        p(0x02, &hex!("00112233445566778899aabbccddeeff")),
        int(0x03, 1472),
        int(0x04, 10_485_760),
        int(0x05, 1_048_576),
        int(0x06, 1_048_576),
        int(0x07, 1_048_576),
        int(0x08, 100),
        int(0x09, 3),
        int(0x0a, 2),
        int(0x0b, 20),
        p(0x0c, &[]),
        p(0x0d, &preferred_address_value(&hex!("0102030405060708"))),
        int(0x0e, 8),
        p(0x0f, &hex!("f067a5502a4262b5")),
        p(0x10, &hex!("5300d1")),
        p(0x11, &hex!("00000001 00000001 6b3343cf 5a6a7a8a")),
        int(0x20, 65535),
        p(0x2ab2, &[]),
        p(0x1b, &hex!("0badc0de")), // reserved
        int(0x4143, 7),             // unknown
    ]
    .concat();
    let tp = TransportParameters::decode(&block, Side::Server).unwrap();
    let expected = TransportParameters {
        original_destination_connection_id: Some(cid(&hex!("8394c8f03e515708"))),
        max_idle_timeout_ms: VarInt::from_u32(30_000),
        stateless_reset_token: Some(StatelessResetToken(hex!(
            "00112233445566778899aabbccddeeff"
        ))),
        max_udp_payload_size: VarInt::from_u32(1472),
        initial_max_data: VarInt::from_u32(10_485_760),
        initial_max_stream_data_bidi_local: VarInt::from_u32(1_048_576),
        initial_max_stream_data_bidi_remote: VarInt::from_u32(1_048_576),
        initial_max_stream_data_uni: VarInt::from_u32(1_048_576),
        initial_max_streams_bidi: VarInt::from_u32(100),
        initial_max_streams_uni: VarInt::from_u32(3),
        ack_delay_exponent: 2,
        max_ack_delay_ms: 20,
        disable_active_migration: true,
        preferred_address: Some(PreferredAddress {
            ipv4: Some(SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 1), 443)),
            ipv6: Some(SocketAddrV6::new(
                Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1),
                443,
                0,
                0,
            )),
            connection_id: cid(&hex!("0102030405060708")),
            stateless_reset_token: StatelessResetToken([0x5a; 16]),
        }),
        active_connection_id_limit: VarInt::from_u32(8),
        initial_source_connection_id: Some(cid(&hex!("f067a5502a4262b5"))),
        retry_source_connection_id: Some(cid(&hex!("5300d1"))),
        version_information: Some(VersionInformation {
            chosen: Version::V1,
            available: smallvec![Version::V1, Version::V2, Version(0x5a6a_7a8a)],
        }),
        max_datagram_frame_size: Some(VarInt::from_u32(65535)),
        grease_quic_bit: true,
    };
    assert_eq!(tp, expected);
    // Re-encoding drops only the unknown and reserved parameters.
    let reencoded = tp.to_vec(Side::Server, None);
    assert_eq!(
        reencoded.len(),
        block.len() - p(0x1b, &[0; 4]).len() - int(0x4143, 7).len()
    );
    assert_eq!(
        TransportParameters::decode(&reencoded, Side::Server),
        Ok(tp)
    );
}

#[test]
fn unknown_and_reserved_parameters_are_ignored() {
    let block = [
        p(0x1b, &[]),                   // reserved, N = 0
        p(31 * 1000 + 27, &[0xff; 40]), // reserved, long value
        p(31 * 1000 + 27, &[0xff; 3]),  // repeated reserved ID
        p(0x12, &[1, 2, 3]),            // unassigned
        p(0x12, &[]),                   // repeated unknown ID
        p((1 << 62) - 1, &[0]),         // largest ID
        p(0xff73db, &[0xc0]),           // unknown, not a valid varint
    ]
    .concat();
    for side in [Side::Client, Side::Server] {
        assert_eq!(
            TransportParameters::decode(&block, side),
            Ok(TransportParameters::DEFAULT)
        );
    }
}

#[test]
fn any_max_datagram_frame_size_is_accepted() {
    for x in [0, 1, 1200, 65535, VarInt::MAX.into_inner()] {
        let tp = TransportParameters::decode(&int(0x20, x), Side::Client).unwrap();
        assert_eq!(
            tp.max_datagram_frame_size,
            Some(VarInt::from_u64(x).unwrap())
        );
    }
}

#[test]
fn integer_values_may_use_non_minimal_varints() {
    // RFC 9000 §16: receivers accept any encoding length.
    let tp = TransportParameters::decode(&p(0x04, &hex!("c000000000000005")), Side::Client);
    assert_eq!(tp.unwrap().initial_max_data, VarInt::from_u32(5));
}

// ---- decoding: one test per validation rule --------------------------------

#[test]
fn rejects_a_truncated_parameter_id() {
    assert_eq!(
        reject(&hex!("40"), Side::Client),
        "transport parameter ID truncated"
    );
    let block = [int(0x04, 5), hex!("80 00").to_vec()].concat();
    assert_eq!(
        reject(&block, Side::Client),
        "transport parameter ID truncated"
    );
}

#[test]
fn rejects_a_truncated_parameter_length() {
    assert_eq!(
        reject(&hex!("04"), Side::Client),
        "transport parameter length truncated"
    );
    assert_eq!(
        reject(&hex!("04 40"), Side::Client),
        "transport parameter length truncated"
    );
}

#[test]
fn rejects_a_value_running_past_the_end() {
    assert_eq!(
        reject(&hex!("04 02 05"), Side::Client),
        "transport parameter value truncated"
    );
    assert_eq!(
        reject(&hex!("04 c0ffffffffffffff 05"), Side::Client),
        "transport parameter value truncated"
    );
}

#[test]
fn rejects_an_integer_whose_length_disagrees_with_its_varint() {
    let reason = "integer transport parameter length disagrees with its varint";
    assert_eq!(reject(&p(0x01, &[]), Side::Client), reason);
    assert_eq!(reject(&p(0x01, &hex!("05 00")), Side::Client), reason);
    assert_eq!(reject(&p(0x04, &hex!("4005 00")), Side::Client), reason);
    assert_eq!(reject(&p(0x04, &hex!("80")), Side::Client), reason);
    assert_eq!(reject(&p(0x20, &hex!("c00000")), Side::Client), reason);
}

#[test]
fn rejects_every_known_parameter_sent_twice() {
    for &id in TransportParameterId::KNOWN {
        let once = p(id.0, &valid_value(id));
        assert!(
            TransportParameters::decode(&once, Side::Server).is_ok(),
            "{id:?}"
        );
        let twice = [once.clone(), int(0x4143, 1), once].concat();
        assert_eq!(
            reject(&twice, Side::Server),
            "duplicate transport parameter",
            "{id:?}"
        );
    }
}

#[test]
fn rejects_server_only_parameters_from_a_client() {
    let cases = [
        (0x00, "client sent original_destination_connection_id"),
        (0x02, "client sent stateless_reset_token"),
        (0x0d, "client sent preferred_address"),
        (0x10, "client sent retry_source_connection_id"),
    ];
    for (id, reason) in cases {
        let block = p(id, &valid_value(TransportParameterId(id)));
        assert_eq!(reject(&block, Side::Client), reason);
        assert!(TransportParameters::decode(&block, Side::Server).is_ok());
    }
}

#[test]
fn rejects_max_udp_payload_size_below_1200() {
    assert_eq!(
        reject(&int(0x03, 1199), Side::Client),
        "max_udp_payload_size below 1200"
    );
    assert_eq!(
        reject(&int(0x03, 0), Side::Server),
        "max_udp_payload_size below 1200"
    );
    let ok = TransportParameters::decode(&int(0x03, 1200), Side::Client).unwrap();
    assert_eq!(ok.max_udp_payload_size.into_inner(), 1200);
}

#[test]
fn rejects_ack_delay_exponent_above_20() {
    let reason = "ack_delay_exponent above 20";
    assert_eq!(reject(&int(0x0a, 21), Side::Client), reason);
    assert_eq!(reject(&int(0x0a, 256), Side::Client), reason);
    assert_eq!(reject(&int(0x0a, 1 << 40), Side::Server), reason);
    let ok = TransportParameters::decode(&int(0x0a, 20), Side::Client).unwrap();
    assert_eq!(ok.ack_delay_exponent, 20);
}

#[test]
fn rejects_max_ack_delay_of_2_pow_14_or_more() {
    let reason = "max_ack_delay of 2^14 ms or more";
    assert_eq!(reject(&int(0x0b, 1 << 14), Side::Client), reason);
    assert_eq!(reject(&int(0x0b, 65536), Side::Client), reason);
    assert_eq!(reject(&int(0x0b, 1 << 40), Side::Server), reason);
    let ok = TransportParameters::decode(&int(0x0b, (1 << 14) - 1), Side::Client).unwrap();
    assert_eq!(ok.max_ack_delay(), Duration::from_millis(16383));
}

#[test]
fn rejects_active_connection_id_limit_below_2() {
    let reason = "active_connection_id_limit below 2";
    assert_eq!(reject(&int(0x0e, 0), Side::Client), reason);
    assert_eq!(reject(&int(0x0e, 1), Side::Server), reason);
    assert!(TransportParameters::decode(&int(0x0e, 2), Side::Client).is_ok());
}

#[test]
fn rejects_initial_max_streams_bidi_above_2_pow_60() {
    // RFC 9000 §4.6: TRANSPORT_PARAMETER_ERROR when received in a parameter.
    let reason = "initial_max_streams_bidi above 2^60";
    assert_eq!(reject(&int(0x08, (1 << 60) + 1), Side::Client), reason);
    assert_eq!(
        reject(&int(0x08, VarInt::MAX.into_inner()), Side::Client),
        reason
    );
    assert!(TransportParameters::decode(&int(0x08, 1 << 60), Side::Client).is_ok());
}

#[test]
fn rejects_initial_max_streams_uni_above_2_pow_60() {
    let reason = "initial_max_streams_uni above 2^60";
    assert_eq!(reject(&int(0x09, (1 << 60) + 1), Side::Server), reason);
    assert!(TransportParameters::decode(&int(0x09, 1 << 60), Side::Server).is_ok());
}

#[test]
fn rejects_a_stateless_reset_token_that_is_not_16_bytes() {
    let reason = "stateless_reset_token not 16 bytes";
    assert_eq!(reject(&p(0x02, &[0; 15]), Side::Server), reason);
    assert_eq!(reject(&p(0x02, &[0; 17]), Side::Server), reason);
    assert_eq!(reject(&p(0x02, &[]), Side::Server), reason);
}

#[test]
fn rejects_disable_active_migration_with_a_value() {
    assert_eq!(
        reject(&p(0x0c, &[0]), Side::Client),
        "disable_active_migration with a non-empty value"
    );
}

#[test]
fn rejects_grease_quic_bit_with_a_value() {
    assert_eq!(
        reject(&p(0x2ab2, &[1]), Side::Server),
        "grease_quic_bit with a non-empty value"
    );
}

#[test]
fn rejects_connection_id_parameters_longer_than_20_bytes() {
    let reason = "connection ID parameter longer than 20 bytes";
    for id in [0x00, 0x0f, 0x10] {
        assert_eq!(reject(&p(id, &[1; 21]), Side::Server), reason, "{id:#x}");
        let ok = TransportParameters::decode(&p(id, &[1; 20]), Side::Server);
        assert!(ok.is_ok(), "{id:#x}");
    }
    // A zero-length connection ID is a valid value (RFC 9000 §7.3).
    let tp = TransportParameters::decode(&p(0x0f, &[]), Side::Client).unwrap();
    assert_eq!(tp.initial_source_connection_id, Some(ConnectionId::EMPTY));
}

#[test]
fn rejects_a_malformed_preferred_address() {
    let value = preferred_address_value(&[1, 2, 3, 4]);
    let truncated = p(0x0d, &value[..value.len() - 1]);
    assert_eq!(
        reject(&truncated, Side::Server),
        "preferred_address malformed"
    );
    let trailing = p(0x0d, &[&value[..], &[0]].concat());
    assert_eq!(
        reject(&trailing, Side::Server),
        "preferred_address has trailing bytes"
    );
    let mut long_cid = preferred_address_value(&[7; 21]);
    assert_eq!(
        reject(&p(0x0d, &long_cid), Side::Server),
        "preferred_address connection ID longer than 20 bytes"
    );
    long_cid.truncate(30);
    assert_eq!(
        reject(&p(0x0d, &long_cid), Side::Server),
        "preferred_address connection ID longer than 20 bytes"
    );
}

#[test]
fn rejects_a_preferred_address_with_a_zero_length_connection_id() {
    assert_eq!(
        reject(&p(0x0d, &preferred_address_value(&[])), Side::Server),
        "preferred_address with a zero-length connection ID"
    );
}

#[test]
fn rejects_a_preferred_address_from_a_server_using_zero_length_ids() {
    let block = [p(0x0d, &preferred_address_value(&[1])), p(0x0f, &[])].concat();
    assert_eq!(
        reject(&block, Side::Server),
        "preferred_address from a server using a zero-length connection ID"
    );
    let block = [p(0x0d, &preferred_address_value(&[1])), p(0x0f, &[2])].concat();
    assert!(TransportParameters::decode(&block, Side::Server).is_ok());
}

#[test]
fn preferred_address_all_zero_families_are_absent() {
    let mut value = vec![0; 24];
    value.extend_from_slice(&hex!("01 aa"));
    value.extend_from_slice(&[0; 16]);
    let tp = TransportParameters::decode(&p(0x0d, &value), Side::Server).unwrap();
    let pa = tp.preferred_address.unwrap();
    assert_eq!((pa.ipv4, pa.ipv6), (None, None));
    assert_eq!(pa.connection_id, cid(&[0xaa]));
}

#[test]
fn rejects_version_information_shorter_than_4_bytes() {
    let reason = "version_information shorter than 4 bytes";
    assert_eq!(reject(&p(0x11, &[]), Side::Client), reason);
    assert_eq!(reject(&p(0x11, &[0, 0, 1]), Side::Server), reason);
}

#[test]
fn rejects_version_information_not_a_multiple_of_4() {
    let reason = "version_information length not a multiple of 4";
    assert_eq!(
        reject(&p(0x11, &hex!("00000001 0000")), Side::Server),
        reason
    );
    assert_eq!(
        reject(&p(0x11, &hex!("00000001 00000001 00")), Side::Client),
        reason
    );
}

#[test]
fn rejects_version_information_with_chosen_version_zero() {
    assert_eq!(
        reject(&p(0x11, &hex!("00000000 00000001")), Side::Server),
        "version_information chosen version is zero"
    );
    assert_eq!(
        reject(&p(0x11, &hex!("00000000 00000000")), Side::Client),
        "version_information chosen version is zero"
    );
}

#[test]
fn rejects_version_information_listing_version_zero() {
    assert_eq!(
        reject(&p(0x11, &hex!("00000001 00000001 00000000")), Side::Client),
        "version_information lists version zero"
    );
}

#[test]
fn rejects_a_client_chosen_version_missing_from_its_list() {
    let block = p(0x11, &hex!("00000001 6b3343cf"));
    assert_eq!(
        reject(&block, Side::Client),
        "version_information chosen version not in available versions"
    );
    // A server's list need not contain its chosen version (RFC 9368 §3).
    assert!(TransportParameters::decode(&block, Side::Server).is_ok());
}

#[test]
fn rejects_version_information_with_more_than_64_versions() {
    let value: Vec<u8> = (1..=66u32).flat_map(u32::to_be_bytes).collect();
    assert_eq!(
        reject(&p(0x11, &value), Side::Server),
        "version_information lists more than 64 versions"
    );
}

// ---- properties ------------------------------------------------------------

fn varint() -> impl Strategy<Value = VarInt> {
    prop_oneof![0u64..64, 0u64..16_384, 0..=VarInt::MAX.into_inner()]
        .prop_map(|x| VarInt::from_u64(x).unwrap())
}

fn varint_in(lo: u64, hi: u64) -> impl Strategy<Value = VarInt> {
    (lo..=hi).prop_map(|x| VarInt::from_u64(x).unwrap())
}

fn conn_id(min: usize) -> impl Strategy<Value = ConnectionId> {
    prop::collection::vec(any::<u8>(), min..=20).prop_map(|b| cid(&b))
}

fn server_only<T: core::fmt::Debug + Clone + 'static>(
    allowed: bool,
    s: impl Strategy<Value = T> + 'static,
) -> BoxedStrategy<Option<T>> {
    if allowed {
        prop::option::of(s).boxed()
    } else {
        Just(None).boxed()
    }
}

fn preferred_address() -> impl Strategy<Value = PreferredAddress> {
    (
        prop::option::of((any::<u32>(), any::<u16>())),
        prop::option::of((any::<u128>(), any::<u16>())),
        conn_id(1),
        any::<[u8; 16]>(),
    )
        .prop_map(|(v4, v6, connection_id, token)| PreferredAddress {
            ipv4: v4
                .filter(|&(ip, port)| ip != 0 || port != 0)
                .map(|(ip, port)| SocketAddrV4::new(ip.into(), port)),
            ipv6: v6
                .filter(|&(ip, port)| ip != 0 || port != 0)
                .map(|(ip, port)| SocketAddrV6::new(ip.into(), port, 0, 0)),
            connection_id,
            stateless_reset_token: StatelessResetToken(token),
        })
}

fn version_information(sent_by: Side) -> impl Strategy<Value = VersionInformation> {
    (1..=u32::MAX, prop::collection::vec(1..=u32::MAX, 0..=8)).prop_map(move |(chosen, list)| {
        let mut available: smallvec::SmallVec<[Version; 4]> =
            list.into_iter().map(Version).collect();
        if sent_by.is_client() && !available.contains(&Version(chosen)) {
            available.push(Version(chosen));
        }
        VersionInformation {
            chosen: Version(chosen),
            available,
        }
    })
}

/// Valid parameters as sent by `sent_by`.
fn params(sent_by: Side) -> impl Strategy<Value = TransportParameters> {
    let server = sent_by.is_server();
    let cids = (
        server_only(server, conn_id(0)),
        prop::option::of(conn_id(0)),
        server_only(server, conn_id(0)),
        server_only(server, any::<[u8; 16]>().prop_map(StatelessResetToken)),
        server_only(server, preferred_address()),
    );
    let limits = (
        varint(),
        varint_in(1200, VarInt::MAX.into_inner()),
        varint(),
        varint(),
        varint(),
        varint(),
        varint_in(0, 1 << 60),
        varint_in(0, 1 << 60),
        0..=20u8,
        0..(1u16 << 14),
        varint_in(2, VarInt::MAX.into_inner()),
    );
    let extensions = (
        any::<bool>(),
        prop::option::of(version_information(sent_by)),
        prop::option::of(varint()),
        any::<bool>(),
    );
    (cids, limits, extensions).prop_map(|(c, l, x)| {
        let (odcid, iscid, rscid, token, mut preferred) = c;
        if iscid.is_some_and(|c| c.is_empty()) {
            preferred = None;
        }
        TransportParameters {
            original_destination_connection_id: odcid,
            max_idle_timeout_ms: l.0,
            stateless_reset_token: token,
            max_udp_payload_size: l.1,
            initial_max_data: l.2,
            initial_max_stream_data_bidi_local: l.3,
            initial_max_stream_data_bidi_remote: l.4,
            initial_max_stream_data_uni: l.5,
            initial_max_streams_bidi: l.6,
            initial_max_streams_uni: l.7,
            ack_delay_exponent: l.8,
            max_ack_delay_ms: l.9,
            disable_active_migration: x.0,
            preferred_address: preferred,
            active_connection_id_limit: l.10,
            initial_source_connection_id: iscid,
            retry_source_connection_id: rscid,
            version_information: x.1,
            max_datagram_frame_size: x.2,
            grease_quic_bit: x.3,
        }
    })
}

fn grease() -> impl Strategy<Value = Option<(u64, Vec<u8>)>> {
    prop::option::of((any::<u64>(), prop::collection::vec(any::<u8>(), 0..64)))
}

fn check_roundtrip(
    tp: &TransportParameters,
    sent_by: Side,
    g: &Option<(u64, Vec<u8>)>,
) -> Result<(), TestCaseError> {
    let grease = g.as_ref().map(|(id_seed, value)| GreaseParam {
        id_seed: *id_seed,
        value,
    });
    prop_assert_eq!(tp.validate(sent_by), Ok(()));
    let bytes = tp.to_vec(sent_by, grease);
    prop_assert_eq!(tp.encoded_len(sent_by, grease), bytes.len());
    let decoded = TransportParameters::decode(&bytes, sent_by);
    prop_assert_eq!(decoded.as_ref(), Ok(tp));
    Ok(())
}

proptest! {
    #[test]
    fn client_parameters_roundtrip(tp in params(Side::Client), g in grease()) {
        check_roundtrip(&tp, Side::Client, &g)?;
    }

    #[test]
    fn server_parameters_roundtrip(tp in params(Side::Server), g in grease()) {
        check_roundtrip(&tp, Side::Server, &g)?;
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_decoder(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        for side in [Side::Client, Side::Server] {
            if let Err(e) = TransportParameters::decode(&bytes, side) {
                prop_assert_eq!(e.code, TransportErrorCode::TRANSPORT_PARAMETER_ERROR);
            }
        }
    }

    /// Well-framed parameters with known IDs and random values reach every
    /// per-parameter parser.
    #[test]
    fn random_values_for_known_ids_never_panic_the_decoder(
        params in prop::collection::vec(
            (prop::sample::select(TransportParameterId::KNOWN), prop::collection::vec(any::<u8>(), 0..48)),
            0..8,
        )
    ) {
        let bytes: Vec<u8> = params.iter().flat_map(|(id, v)| p(id.0, v)).collect();
        for side in [Side::Client, Side::Server] {
            if let Ok(tp) = TransportParameters::decode(&bytes, side) {
                prop_assert_eq!(tp.validate(side), Ok(()));
            }
        }
    }
}

#[cfg(feature = "arbitrary")]
proptest! {
    #[test]
    fn arbitrary_parameters_are_valid_and_roundtrip(seed in prop::collection::vec(any::<u8>(), 0..512)) {
        use arbitrary::{Arbitrary, Unstructured};
        for side in [Side::Client, Side::Server] {
            let mut u = Unstructured::new(&seed);
            let tp = TransportParameters::arbitrary_for(&mut u, side);
            prop_assert!(tp.is_ok(), "short input still generates: {:?}", tp);
            let tp = tp.unwrap();
            check_roundtrip(&tp, side, &None)?;
        }
        let mut u = Unstructured::new(&seed);
        let tp = TransportParameters::arbitrary(&mut u).unwrap();
        check_roundtrip(&tp, Side::Server, &None)?;
        if tp.validate(Side::Client).is_ok() {
            check_roundtrip(&tp, Side::Client, &None)?;
        }
    }
}
