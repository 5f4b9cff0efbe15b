//! Tests across frame types: byte-exact encodings of the frames without a
//! struct of their own, the error rules of RFC 9000 §12.4 and §19, property
//! roundtrips of every frame type, and the payload iterator.

use proptest::prelude::*;

use super::arb::{frame_of_kind, KINDS};
use super::*;
use crate::coding::{Encode, Reader, VarInt};
use crate::{Side, TransportError, TransportErrorCode};

fn decode_one(bytes: &[u8]) -> Result<Frame<'_>, TransportError> {
    let mut r = Reader::new(bytes);
    let f = Frame::decode(&mut r)?;
    assert!(r.is_empty(), "{} bytes left after {f:?}", r.remaining());
    Ok(f)
}

fn v(x: u32) -> VarInt {
    VarInt::from_u32(x)
}

fn assert_error(bytes: &[u8], code: TransportErrorCode, ty: FrameType) {
    let e = Frame::decode(&mut Reader::new(bytes)).unwrap_err();
    assert_eq!(e.code, code, "{bytes:02x?}: {e:?}");
    assert_eq!(e.frame_type, Some(ty), "{bytes:02x?}: {e:?}");
}

#[test]
fn simple_frames_encode_byte_exact() {
    let id = StreamId::new(Side::Server, Dir::Bi, 1); // 5
    let cases: Vec<(Frame<'_>, &[u8])> = vec![
        (Frame::Padding { len: 3 }, &[0, 0, 0]),
        (Frame::Ping, &[0x01]),
        (
            Frame::ResetStream {
                id,
                error_code: v(7),
                final_size: v(1000),
            },
            &[0x04, 5, 7, 0x43, 0xe8],
        ),
        (
            Frame::StopSending {
                id,
                error_code: v(64),
            },
            &[0x05, 5, 0x40, 0x40],
        ),
        (
            Frame::NewToken { token: b"tok" },
            &[0x07, 3, b't', b'o', b'k'],
        ),
        (
            Frame::MaxData { max: v(100_000) },
            &[0x10, 0x80, 0x01, 0x86, 0xa0],
        ),
        (Frame::MaxStreamData { id, max: v(9) }, &[0x11, 5, 9]),
        (
            Frame::MaxStreams {
                dir: Dir::Bi,
                count: v(3),
            },
            &[0x12, 3],
        ),
        (
            Frame::MaxStreams {
                dir: Dir::Uni,
                count: v(3),
            },
            &[0x13, 3],
        ),
        (Frame::DataBlocked { limit: v(1) }, &[0x14, 1]),
        (Frame::StreamDataBlocked { id, limit: v(2) }, &[0x15, 5, 2]),
        (
            Frame::StreamsBlocked {
                dir: Dir::Bi,
                limit: v(4),
            },
            &[0x16, 4],
        ),
        (
            Frame::StreamsBlocked {
                dir: Dir::Uni,
                limit: v(4),
            },
            &[0x17, 4],
        ),
        (Frame::RetireConnectionId { sequence: v(2) }, &[0x19, 2]),
        (
            Frame::PathChallenge([1, 2, 3, 4, 5, 6, 7, 8]),
            &[0x1a, 1, 2, 3, 4, 5, 6, 7, 8],
        ),
        (
            Frame::PathResponse([8, 7, 6, 5, 4, 3, 2, 1]),
            &[0x1b, 8, 7, 6, 5, 4, 3, 2, 1],
        ),
        (Frame::HandshakeDone, &[0x1e]),
    ];
    for (frame, bytes) in cases {
        assert_eq!(frame.to_vec(), bytes, "{frame:?}");
        assert_eq!(frame.encoded_len(), bytes.len(), "{frame:?}");
        assert_eq!(decode_one(bytes), Ok(frame));
        assert_eq!(Some(frame.ty().0), bytes.first().map(|&b| u64::from(b)));
    }
}

#[test]
fn padding_run_is_one_frame() {
    let payload = [0, 0, 0, 0, 0x01, 0, 0];
    let frames: Vec<_> = Frames::new(&payload).collect();
    assert_eq!(
        frames,
        [
            Ok(Frame::Padding { len: 4 }),
            Ok(Frame::Ping),
            Ok(Frame::Padding { len: 2 })
        ]
    );
}

#[test]
fn large_padding_is_skipped_in_one_step() {
    let payload = vec![0u8; 65_536];
    let mut frames = Frames::new(&payload);
    assert_eq!(frames.next(), Some(Ok(Frame::Padding { len: 65_536 })));
    assert_eq!(frames.next(), None);
}

#[test]
fn unknown_frame_type_is_frame_encoding_error() {
    assert_error(
        &[0x1f],
        TransportErrorCode::FRAME_ENCODING_ERROR,
        FrameType(0x1f),
    );
    // 0x4040 is the shortest encoding of 0x40, an unassigned type.
    assert_error(
        &[0x40, 0x40],
        TransportErrorCode::FRAME_ENCODING_ERROR,
        FrameType(0x40),
    );
}

#[test]
fn non_minimal_frame_type_is_protocol_violation() {
    assert_error(
        &[0x40, 0x01],
        TransportErrorCode::PROTOCOL_VIOLATION,
        FrameType::PING,
    );
    assert_error(
        &[0x40, 0x00],
        TransportErrorCode::PROTOCOL_VIOLATION,
        FrameType::PADDING,
    );
    assert_error(
        &[0x80, 0, 0, 0x1e],
        TransportErrorCode::PROTOCOL_VIOLATION,
        FrameType::HANDSHAKE_DONE,
    );
}

#[test]
fn truncated_frame_type_is_frame_encoding_error() {
    let e = Frame::decode(&mut Reader::new(&[0x40])).unwrap_err();
    assert_eq!(e.code, TransportErrorCode::FRAME_ENCODING_ERROR);
}

#[test]
fn stream_counts_above_2_60_are_frame_encoding_errors() {
    let above = [0xd0, 0, 0, 0, 0, 0, 0, 1]; // 2^60 + 1
    let at = [0xd0, 0, 0, 0, 0, 0, 0, 0]; // 2^60
    for ty in [0x12u8, 0x13, 0x16, 0x17] {
        let mut bytes = vec![ty];
        bytes.extend_from_slice(&above);
        assert_error(
            &bytes,
            TransportErrorCode::FRAME_ENCODING_ERROR,
            FrameType(ty.into()),
        );
        let mut bytes = vec![ty];
        bytes.extend_from_slice(&at);
        assert!(decode_one(&bytes).is_ok(), "{ty:#x} with 2^60");
    }
}

#[test]
fn empty_new_token_is_frame_encoding_error() {
    assert_error(
        &[0x07, 0],
        TransportErrorCode::FRAME_ENCODING_ERROR,
        FrameType::NEW_TOKEN,
    );
}

#[test]
fn every_truncated_frame_is_frame_encoding_error() {
    // A valid encoding of each kind with a length field wherever there is a
    // choice, cut one byte short: always FRAME_ENCODING_ERROR for its type.
    let seed: Vec<u8> = (0..=255u8).cycle().take(4096).collect();
    for kind in 0..KINDS {
        let mut u = arbitrary::Unstructured::new(&seed);
        let frame = match frame_of_kind(kind, &mut u).unwrap() {
            Frame::Stream(s) => Frame::Stream(StreamFrame {
                with_len: true,
                ..s
            }),
            Frame::Datagram(d) => Frame::Datagram(DatagramFrame {
                with_len: true,
                ..d
            }),
            f => f,
        };
        let bytes = frame.to_vec();
        if bytes.len() < 2 {
            continue; // PING, HANDSHAKE_DONE, one byte of PADDING
        }
        if let Frame::Padding { .. } = frame {
            continue; // a shorter run of padding is still padding
        }
        let cut = &bytes[..bytes.len() - 1];
        assert_error(cut, TransportErrorCode::FRAME_ENCODING_ERROR, frame.ty());
    }
}

#[test]
fn frames_stop_after_the_first_error() {
    let payload = [0x01, 0x1f, 0x01];
    let mut frames = Frames::new(&payload);
    assert_eq!(frames.next(), Some(Ok(Frame::Ping)));
    assert!(matches!(frames.next(), Some(Err(_))));
    assert_eq!(frames.next(), None);
    assert_eq!(frames.next(), None);
}

#[test]
fn many_frames_iterate_in_order() {
    let id = StreamId::new(Side::Client, Dir::Bi, 0);
    let reason = b"done";
    let frames = [
        Frame::Crypto(CryptoFrame {
            offset: v(0),
            data: b"hello",
        }),
        Frame::Padding { len: 2 },
        Frame::Ping,
        Frame::MaxData { max: v(1 << 20) },
        Frame::Stream(StreamFrame {
            id,
            offset: v(10),
            data: b"abc",
            fin: false,
            with_len: true,
        }),
        Frame::PathChallenge([9; 8]),
        Frame::ConnectionClose(ConnectionClose::application(v(3), reason)),
        Frame::Stream(StreamFrame {
            id,
            offset: v(13),
            data: b"rest of packet",
            fin: true,
            with_len: false,
        }),
    ];
    let mut payload = Vec::new();
    for f in &frames {
        f.encode(&mut payload);
    }
    let decoded: Result<Vec<_>, _> = Frames::new(&payload).collect();
    assert_eq!(decoded.unwrap(), frames);
}

#[test]
fn frame_classification_delegates_to_type() {
    assert!(Frame::Ping.is_ack_eliciting());
    assert!(!Frame::Padding { len: 1 }.is_ack_eliciting());
    assert!(Frame::PathChallenge([0; 8]).is_probing());
    assert!(!Frame::Ping.is_probing());
}

/// Makes a list of frames encodable back to back: every frame but the last
/// carries its length, and no PADDING directly follows PADDING (the decoder
/// would merge them).
fn back_to_back(frames: Vec<Frame<'_>>) -> Vec<Frame<'_>> {
    let n = frames.len();
    let mut out: Vec<Frame<'_>> = Vec::with_capacity(n);
    for (i, f) in frames.into_iter().enumerate() {
        let last = i + 1 == n;
        let f = match f {
            Frame::Stream(s) if !last => Frame::Stream(StreamFrame {
                with_len: true,
                ..s
            }),
            Frame::Datagram(d) if !last => Frame::Datagram(DatagramFrame {
                with_len: true,
                ..d
            }),
            f => f,
        };
        let after_padding = matches!(out.last(), Some(Frame::Padding { .. }));
        if !(after_padding && matches!(f, Frame::Padding { .. })) {
            out.push(f);
        }
    }
    out
}

proptest! {
    #[test]
    fn every_frame_type_roundtrips(seed in proptest::collection::vec(any::<u8>(), 0..512)) {
        for kind in 0..KINDS {
            let mut u = arbitrary::Unstructured::new(&seed);
            let frame = frame_of_kind(kind, &mut u).unwrap();
            let bytes = frame.to_vec();
            prop_assert_eq!(frame.encoded_len(), bytes.len());
            let mut r = Reader::new(&bytes);
            prop_assert_eq!(Frame::decode(&mut r), Ok(frame));
            prop_assert!(r.is_empty());
            prop_assert_eq!(frame.ty().0, u64::from(bytes[0]));
            // Encoding is the identity on what decoding produced.
            prop_assert_eq!(Frame::decode(&mut Reader::new(&bytes)).unwrap().to_vec(), bytes);
        }
    }

    #[test]
    fn sequences_of_frames_roundtrip(seed in proptest::collection::vec(any::<u8>(), 0..1024)) {
        let mut u = arbitrary::Unstructured::new(&seed);
        let mut frames = Vec::new();
        while !u.is_empty() && frames.len() < 16 {
            frames.push(u.arbitrary::<Frame<'_>>().unwrap());
        }
        let frames = back_to_back(frames);
        let mut payload = Vec::new();
        for f in &frames {
            f.encode(&mut payload);
        }
        let decoded: Result<Vec<_>, _> = Frames::new(&payload).collect();
        prop_assert_eq!(decoded, Ok(frames));
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_terminate(
        payload in proptest::collection::vec(any::<u8>(), 0..1500),
    ) {
        let mut n = 0;
        let mut errored = false;
        for item in Frames::new(&payload) {
            prop_assert!(!errored, "an item after an error");
            n += 1;
            match item {
                Ok(f) => {
                    let _ = f.to_vec();
                    if let Frame::Ack(ack) = f {
                        prop_assert_eq!(ack.iter().count() as u64, ack.additional_ranges() + 1);
                    }
                }
                Err(e) => {
                    errored = true;
                    prop_assert!(matches!(
                        e.code,
                        TransportErrorCode::FRAME_ENCODING_ERROR
                            | TransportErrorCode::PROTOCOL_VIOLATION
                    ));
                }
            }
        }
        prop_assert!(n <= payload.len());
    }

    #[test]
    fn biased_bytes_never_panic(
        // Mostly valid frame type bytes, to get deeper into the parsers.
        payload in proptest::collection::vec(
            prop_oneof![0u8..=0x1f, Just(0x30), Just(0x31), any::<u8>()], 0..600),
    ) {
        let count = Frames::new(&payload).count();
        prop_assert!(count <= payload.len());
    }
}
