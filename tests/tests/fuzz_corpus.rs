//! Replays every fuzz target's corpus (`fuzz/corpus/TARGET`) through the same
//! body the fuzzer runs, so that CI covers the fuzz targets on stable without
//! cargo-fuzz. Any input a fuzzer once found interesting stays a regression
//! test.
//!
//! `cargo test -p quic-tests --test fuzz_corpus -- --ignored write_seed_corpus`
//! regenerates the hand-made seeds (deterministically; the files are committed).

use std::fs;
use std::path::{Path, PathBuf};

use arbitrary::{Arbitrary, Unstructured};
use quic_proto::coding::Encode;
use quic_proto::crypto::null_keys;
use quic_proto::frame::Frame;
use quic_proto::packet::{encode_retry, encode_version_negotiation, seal, Header, PacketNumber};
use quic_proto::transport_params::TransportParameters;
use quic_proto::{ConnectionId, Side, Version};
use quic_tests::fuzz;

/// A fuzz target's name and body.
type Target = (&'static str, fn(&[u8]));

const TARGETS: &[Target] = &[
    ("frames", fuzz::frames),
    ("packet_header", fuzz::packet_header),
    ("transport_params", fuzz::transport_params),
];

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target)
}

fn corpus_files(target: &str) -> Vec<PathBuf> {
    let dir = corpus_dir(target);
    let mut files: Vec<_> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("readable corpus entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

#[test]
fn every_fuzz_corpus_replays_without_a_failure() {
    for &(target, body) in TARGETS {
        let files = corpus_files(target);
        assert!(
            files.len() >= 10,
            "corpus of {target} has only {} inputs",
            files.len()
        );
        for file in &files {
            let data = fs::read(file).expect("readable corpus file");
            let result = std::panic::catch_unwind(|| body(&data));
            assert!(result.is_ok(), "{target}: {} fails", file.display());
        }
        println!("{target}: replayed {} inputs", files.len());
    }
}

#[test]
fn null_protected_seeds_reach_the_frame_parser() {
    for version in ["V1", "V2"] {
        let dir = corpus_dir("packet_header");
        let coalesced = fs::read(dir.join(format!("seed-{version}-coalesced"))).unwrap();
        assert_eq!(
            fuzz::open_datagram(&coalesced),
            3,
            "{version} coalesced seed"
        );
        let ping = fs::read(dir.join(format!("seed-{version}-short-ping"))).unwrap();
        assert_eq!(fuzz::open_datagram(&ping), 1, "{version} short seed");
    }
}

/// A tiny deterministic generator for seed bytes (xorshift64*).
struct Seeds(u64);

impl Seeds {
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n)
            .map(|_| {
                self.0 ^= self.0 >> 12;
                self.0 ^= self.0 << 25;
                self.0 ^= self.0 >> 27;
                (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8
            })
            .collect()
    }
}

fn write_seed(target: &str, name: &str, data: &[u8]) {
    let dir = corpus_dir(target);
    fs::create_dir_all(&dir).expect("corpus directory");
    fs::write(dir.join(format!("seed-{name}")), data).expect("write seed");
}

#[test]
#[ignore = "regenerates the committed seed corpora"]
fn write_seed_corpus() {
    let mut seeds = Seeds(0x5eed_f00d);

    // frames: single valid frames of many types, then multi-frame payloads.
    let mut all = Vec::new();
    for i in 0..48 {
        let raw = seeds.bytes(96);
        let mut u = Unstructured::new(&raw);
        let Ok(frame) = Frame::arbitrary(&mut u) else {
            continue;
        };
        let bytes = frame.to_vec();
        all.extend_from_slice(&bytes);
        write_seed(
            "frames",
            &format!("{i:02}-{:?}", frame.ty()).replace(['(', ')'], ""),
            &bytes,
        );
    }
    write_seed("frames", "many", &all);
    write_seed("frames", "padding-ping", &[0, 0, 0, 1, 0, 0]);

    // transport parameters: valid blocks for each side.
    for i in 0..16 {
        let raw = seeds.bytes(256);
        let side = if i % 2 == 0 {
            Side::Client
        } else {
            Side::Server
        };
        let mut u = Unstructured::new(&raw);
        let Ok(params) = TransportParameters::arbitrary_for(&mut u, side) else {
            continue;
        };
        let mut data = vec![u8::from(side == Side::Server)];
        data.extend(params.to_vec(side, None));
        write_seed("transport_params", &format!("{i:02}-{side:?}"), &data);
    }

    // packet_header: datagrams of null-protected packets carrying frames, so
    // the fuzzer reaches the frame parser through the packet layer; and the
    // unprotected packet kinds.
    let cid8 = ConnectionId::new(&[0xc1; 8]).unwrap();
    let cid4 = ConnectionId::new(&[0x5e; 4]).unwrap();
    let frames = &all[..all.len().min(300)];
    for version in [Version::V1, Version::V2] {
        let initial = Header::Initial {
            version,
            dst_cid: cid8,
            src_cid: cid4,
            token: b"tok",
        };
        let handshake = Header::Handshake {
            version,
            dst_cid: cid8,
            src_cid: cid4,
        };
        let short = Header::Short {
            spin: true,
            key_phase: false,
            dst_cid: cid8,
        };
        let mut datagram = vec![2u8]; // config: local CID length 8
        for (pn, header) in [initial, handshake, short].iter().enumerate() {
            datagram.extend(null_packet(header, pn as u64, frames));
        }
        write_seed(
            "packet_header",
            &format!("{version:?}-coalesced"),
            &datagram,
        );
        let mut single = vec![2u8];
        single.extend(null_packet(&short, 7, &[1, 0, 0, 0]));
        write_seed("packet_header", &format!("{version:?}-short-ping"), &single);
        let zero_rtt = Header::ZeroRtt {
            version,
            dst_cid: cid8,
            src_cid: cid4,
        };
        let mut early = vec![2u8];
        early.extend(null_packet(&zero_rtt, 0, frames));
        write_seed("packet_header", &format!("{version:?}-0rtt"), &early);

        let mut retry = vec![0u8];
        encode_retry(
            &mut retry,
            version,
            &cid4,
            &cid8,
            b"retry-token",
            &[0xaa; 16],
        )
        .unwrap();
        write_seed("packet_header", &format!("{version:?}-retry"), &retry);
    }
    let mut vn = vec![1u8];
    encode_version_negotiation(&mut vn, 0x2a, &cid8, &cid4, &[Version::V1, Version::V2]).unwrap();
    write_seed("packet_header", "version-negotiation", &vn);
    let mut unknown = vec![0u8, 0xc0, 0x1a, 0x2a, 0x3a, 0x4a, 8];
    unknown.extend_from_slice(&cid8);
    unknown.extend([4, 1, 2, 3, 4]);
    unknown.resize(1200, 0);
    write_seed("packet_header", "unknown-version", &unknown);
}

/// One packet with `payload` as its frames, sealed with the null suite.
fn null_packet(header: &Header<'_>, pn: u64, payload: &[u8]) -> Vec<u8> {
    let keys = null_keys();
    let pn = PacketNumber::new(pn, None);
    let mut buf = vec![0u8; 2048];
    let layout = header.write(&mut buf, pn).unwrap();
    let start = layout.header_len();
    let end = start + payload.len() + keys.packet.local.tag_len();
    buf[start..start + payload.len()].copy_from_slice(payload);
    layout.finish(&mut buf, end).unwrap();
    buf.truncate(end);
    seal(
        &mut buf,
        layout.pn_offset,
        pn,
        &*keys.packet.local,
        &*keys.header.local,
    )
    .unwrap();
    buf
}
