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
use quic_proto::connection::{ConnectionError, Event};
use quic_proto::crypto::null_keys;
use quic_proto::frame::Frame;
use quic_proto::packet::{encode_retry, encode_version_negotiation, seal, Header, PacketNumber};
use quic_proto::streams::StreamEvent;
use quic_proto::transport_params::TransportParameters;
use quic_proto::TransportErrorCode;
use quic_proto::{ConnectionId, Side, Version};
use quic_tests::fuzz;
use quic_tests::fuzz::connection::{App, Inject, Payload, Script};

/// A fuzz target's name and body.
type Target = (&'static str, fn(&[u8]));

const TARGETS: &[Target] = &[
    ("frames", fuzz::frames),
    ("packet_header", fuzz::packet_header),
    ("transport_params", fuzz::transport_params),
    ("connection", fuzz::connection),
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

    for (name, script) in connection_seeds() {
        write_seed("connection", name, &script.into_bytes());
    }
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

/// A client DCID for the Initial-space seeds.
const DCID: &[u8] = &[0x83, 0x94, 0xc8, 0xf0, 0x3e, 0x51, 0x57, 0x08];

/// A padded client Initial with the next packet number.
fn initial() -> Inject {
    Inject::default()
}

/// A 1-RTT packet to the server (as the client).
fn to_server() -> Inject {
    Inject {
        level: 2,
        ..Inject::default()
    }
}

/// A 1-RTT packet to the client (as the server).
fn to_client() -> Inject {
    Inject {
        to_client: true,
        level: 2,
        ..Inject::default()
    }
}

/// The hand-made inputs of the `connection` target.
fn connection_seeds() -> Vec<(&'static str, Script)> {
    let hello = || Payload::new().hello(0, 255);
    let established = || Script::established(false, 1, false).handshake();
    let mut seeds = vec![
        // Initial space: a lone server and a client that holds Initial keys.
        (
            "initial-hello",
            Script::initial_space(false, false, DCID)
                .inject(initial(), hello())
                .advance(1),
        ),
        (
            "initial-hello-v2",
            Script::initial_space(true, false, DCID).inject(initial(), hello()),
        ),
        (
            "initial-retry",
            Script::initial_space(false, true, DCID)
                .inject(initial(), hello())
                .inject(
                    Inject {
                        after_retry: true,
                        ..initial()
                    },
                    hello(),
                ),
        ),
        (
            "initial-split-hello-ack",
            Script::initial_space(false, false, DCID)
                .inject(initial(), Payload::new().hello(128, 255))
                .inject(initial(), Payload::new().hello(0, 128))
                .inject(
                    Inject {
                        other_dcid: true,
                        ..initial()
                    },
                    Payload::new().ack_all(0).ping(),
                )
                .advance(500),
        ),
        (
            "initial-stream-frame",
            Script::initial_space(false, false, DCID).inject(initial(), hello().stream(0, 0, 10)),
        ),
        (
            "initial-handshake-done",
            Script::initial_space(false, false, DCID).inject(initial(), hello().raw(&[0x1e])),
        ),
        (
            "initial-unpadded",
            Script::initial_space(false, false, DCID).inject(
                Inject {
                    no_pad: true,
                    ..initial()
                },
                hello(),
            ),
        ),
        (
            "initial-close",
            Script::initial_space(false, false, DCID)
                .inject(initial(), hello())
                .inject(
                    initial(),
                    Payload::new().raw(&[0x1c, 0x0a, 0x06, 0x02, b'n', b'o']),
                ),
        ),
        (
            "initial-short-dcid",
            Script::initial_space(false, false, &DCID[..4]).inject(initial(), hello()),
        ),
        (
            "initial-long-dcid",
            Script::initial_space(false, false, &[0x20; 20]).inject(initial(), hello()),
        ),
        (
            "initial-timeouts",
            Script::initial_space(false, false, DCID)
                .inject(initial(), hello())
                .advance(1000)
                .advance(5000)
                .advance(30_000),
        ),
        (
            "initial-raw-datagram",
            Script::initial_space(false, false, DCID).raw(&[0xc3; 1200]),
        ),
        (
            "initial-rebind",
            Script::initial_space(false, false, DCID)
                .inject(initial(), hello())
                .inject(
                    Inject {
                        rebind: true,
                        ..initial()
                    },
                    Payload::new().ping(),
                ),
        ),
        (
            "initial-pn-gap-duplicate",
            Script::initial_space(false, false, DCID)
                .inject(
                    Inject {
                        pn_mode: 2,
                        pn_len: 3,
                        ..initial()
                    },
                    hello(),
                )
                .inject(
                    Inject {
                        pn_mode: 3,
                        ..initial()
                    },
                    Payload::new().ping(),
                ),
        ),
        (
            "initial-trailing",
            Script::initial_space(false, false, DCID).inject(
                Inject {
                    trailing: true,
                    no_pad: true,
                    ..initial()
                },
                hello().padding(255).padding(255).padding(255).padding(255),
            ),
        ),
        (
            "initial-arbitrary",
            Script::initial_space(false, false, DCID).inject(
                initial(),
                hello()
                    .arbitrary(&[0x11; 24])
                    .arbitrary(&[0x42; 24])
                    .arbitrary(&[0x07; 24]),
            ),
        ),
        // Established: a real client and server, packets injected with the
        // keys from the client's key log.
        (
            "established-stream-to-server",
            established()
                .inject(to_server(), Payload::new().stream(0x10, 0, 100))
                .deliver(3),
        ),
        (
            "established-stream-to-client",
            established()
                .inject(to_client(), Payload::new().stream(0x03, 0, 100).ping())
                .deliver(3),
        ),
        (
            "established-key-update",
            established()
                .inject(
                    Inject {
                        key_update: true,
                        ..to_server()
                    },
                    Payload::new().ping(),
                )
                .deliver(3)
                .inject(
                    Inject {
                        key_update: true,
                        ..to_server()
                    },
                    Payload::new().ping(),
                )
                .deliver(3),
        ),
        (
            "established-ack-all",
            established()
                .app(true, App::OpenBi, true, &[0x13, 0x88])
                .inject(to_server(), Payload::new().ack_all(3))
                .deliver(3)
                .advance(100),
        ),
        (
            "established-cids",
            established()
                .inject(
                    to_server(),
                    Payload::new().cid(0x00).cid(0x02).cid(0x14).cid(0x01),
                )
                .deliver(3),
        ),
        (
            "established-rebind",
            established()
                .inject(
                    Inject {
                        rebind: true,
                        ..to_server()
                    },
                    Payload::new().ping(),
                )
                .deliver(3)
                .deliver(3),
        ),
        (
            "established-handshake-level",
            Script::established(false, 1, false)
                .deliver(2)
                .deliver(1)
                .inject(
                    Inject {
                        level: 1,
                        ..Inject::default()
                    },
                    Payload::new().ack_all(0).ping(),
                )
                .deliver(3),
        ),
        (
            "established-initial-to-client",
            Script::established(false, 1, false).inject(
                Inject {
                    to_client: true,
                    ..Inject::default()
                },
                Payload::new().raw(&[0x06, 0x00, 0x04, 0x02, 0x00, 0x00, 0x00]),
            ),
        ),
        (
            "established-handshake-done-to-server",
            established().inject(to_server(), Payload::new().raw(&[0x1e])),
        ),
        (
            "established-close-to-client",
            established().inject(to_client(), Payload::new().raw(&[0x1c, 0x0a, 0x00, 0x00])),
        ),
        (
            "established-unknown-dcid",
            established().inject(
                Inject {
                    other_dcid: true,
                    ..to_server()
                },
                Payload::new().ping().padding(40),
            ),
        ),
        (
            "established-datagrams",
            established()
                .app(false, App::Datagram, false, &[200])
                .deliver(3)
                .inject(to_server(), Payload::new().raw(&[0x31, 0x03, 1, 2, 3])),
        ),
        (
            "established-streams-app",
            established()
                .app(false, App::OpenBi, false, &[0x10, 0x00])
                .app(false, App::OpenUni, true, &[0x01, 0x00])
                .deliver(3)
                .app(true, App::Stop, false, &[0])
                .app(false, App::Reset, false, &[1])
                .deliver(3)
                .deliver(3)
                .app(false, App::Close, false, &[5]),
        ),
        (
            "established-replay",
            established()
                .app(false, App::KeyUpdate, true, &[])
                .deliver(3)
                .replay(false)
                .replay(true),
        ),
        (
            "established-arbitrary",
            established().inject(
                to_server(),
                Payload::new()
                    .arbitrary(&[0x21; 32])
                    .arbitrary(&[0x93; 32])
                    .arbitrary(&[0x5a; 32]),
            ),
        ),
    ];
    for (name, v2, suite, retry) in [
        ("handshake-v1-aes256", false, 0, false),
        ("handshake-v1-aes128", false, 1, false),
        ("handshake-v1-chacha", false, 2, false),
        ("handshake-v2-aes128", true, 1, false),
        ("handshake-v1-retry", false, 1, true),
    ] {
        seeds.push((name, Script::established(v2, suite, retry).handshake()));
    }
    seeds
}

fn closed_with(report: &fuzz::connection::Report, code: TransportErrorCode) -> bool {
    report.events.iter().any(
        |(_, e)| matches!(e, Event::Closed(ConnectionError::TransportError(t)) if t.code == code),
    )
}

/// The harness's keys are right: frames it seals reach the connections'
/// frame processing, at every level it aims at.
#[test]
fn connection_seeds_reach_frame_processing() {
    let seeds: std::collections::HashMap<_, _> = connection_seeds()
        .into_iter()
        .map(|(name, script)| {
            println!("running {name}");
            (
                name,
                fuzz::connection::run_with_report(&script.into_bytes()),
            )
        })
        .collect();
    for (name, report) in &seeds {
        println!("{name}: {} injected, {:?}", report.injected, report.events);
    }
    // A 1-RTT STREAM frame from the harness opens a stream at the server.
    let r = &seeds["established-stream-to-server"];
    assert!(r
        .events
        .iter()
        .any(|(side, e)| *side == quic_proto::Side::Server
            && matches!(e, Event::Stream(StreamEvent::Opened { .. }))));
    // HANDSHAKE_DONE from a client is a protocol violation (RFC 9000 §19.20).
    assert!(closed_with(
        &seeds["established-handshake-done-to-server"],
        TransportErrorCode::PROTOCOL_VIOLATION
    ));
    // The client sees the harness's CONNECTION_CLOSE.
    assert!(seeds["established-close-to-client"]
        .events
        .iter()
        .any(|(_, e)| matches!(e, Event::Closed(ConnectionError::PeerTransportClose { .. }))));
    // In the Initial space: the ClientHello gets the server through its
    // first flight, and a STREAM frame there is a protocol violation.
    assert!(closed_with(
        &seeds["initial-stream-frame"],
        TransportErrorCode::PROTOCOL_VIOLATION
    ));
    // Each handshake seed completes.
    for name in [
        "handshake-v1-aes256",
        "handshake-v1-chacha",
        "handshake-v2-aes128",
        "handshake-v1-retry",
    ] {
        assert!(
            seeds[name]
                .events
                .iter()
                .any(|(_, e)| *e == Event::HandshakeConfirmed),
            "{name}"
        );
    }
}
