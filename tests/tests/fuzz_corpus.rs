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
use quic_proto::frame::Frame;
use quic_proto::transport_params::TransportParameters;
use quic_proto::Side;
use quic_tests::fuzz;

const TARGETS: &[(&str, fn(&[u8]))] = &[
    ("frames", fuzz::frames),
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
}
