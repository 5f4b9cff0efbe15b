//! Behaviour of `Streams` through its API: reassembly, flow-control and
//! final-size errors, blocking and unblocking, retransmission, stream
//! limits, state errors, STOP_SENDING and RESET_STREAM, lost control
//! frames, lifecycle.

use bytes::Bytes;

use super::*;
use crate::frame::{Dir, Frame, FrameType, StreamFrame, StreamId};
use crate::streams::{OpenError, ReadError, StreamError, WriteError};
use crate::TransportErrorCode;

fn v(x: u64) -> VarInt {
    VarInt::from_u64(x).unwrap()
}

fn sf(id: StreamId, offset: u64, data: &[u8], fin: bool) -> StreamFrame<'_> {
    StreamFrame {
        id,
        offset: v(offset),
        data,
        fin,
        with_len: true,
    }
}

fn code(r: Result<(), TransportError>) -> TransportErrorCode {
    r.expect_err("expected an error").code
}

fn pattern(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

fn client_bi(i: u64) -> StreamId {
    StreamId::new(Side::Client, Dir::Bi, i)
}

fn read_to_end(s: &mut Streams, id: StreamId) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    let mut buf = [0u8; 333];
    loop {
        match s.read(id, &mut buf).unwrap() {
            None => return (out, false),
            Some((n, fin)) => {
                out.extend_from_slice(&buf[..n]);
                if fin {
                    return (out, true);
                }
            }
        }
    }
}

/// STREAM frames in a packet: (id, offset, data, fin).
fn stream_frames(p: &Packet) -> Vec<(StreamId, u64, Vec<u8>, bool)> {
    p.frames()
        .into_iter()
        .filter_map(|f| match f {
            Frame::Stream(s) => Some((s.id, s.offset.into_inner(), s.data.to_vec(), s.fin)),
            _ => None,
        })
        .collect()
}

fn count<'a>(
    frames: impl IntoIterator<Item = &'a Packet>,
    f: impl Fn(&Frame<'_>) -> bool,
) -> usize {
    frames
        .into_iter()
        .map(|p| p.frames().iter().filter(|x| f(x)).count())
        .sum()
}

#[test]
fn out_of_order_stream_frames_with_overlaps_are_reassembled() {
    let (_, mut s) = pair();
    let id = client_bi(0);
    let data = pattern(1000, 1);
    for (a, b) in [(600, 1000), (100, 400), (300, 700), (0, 150)] {
        s.on_stream_frame(&sf(id, a, &data[a as usize..b], b == 1000))
            .unwrap();
    }
    assert_eq!(events(&mut s), [StreamEvent::Opened { dir: Dir::Bi }]);
    assert_eq!(s.accept(Dir::Bi), Some(id));
    assert_eq!(events(&mut s), [StreamEvent::Readable { id }]);
    assert_eq!(read_to_end(&mut s, id), (data, true));
}

#[test]
fn duplicate_stream_data_is_ignored_and_counted_once() {
    let tp = params(500, 1000, 10, 10);
    let (_, mut s) = pair_with(&tp, &tp, StreamsConfig::default());
    let id = client_bi(0);
    let data = pattern(500, 2);
    s.on_stream_frame(&sf(id, 0, &data, false)).unwrap();
    s.on_stream_frame(&sf(id, 0, &data, false)).unwrap();
    s.on_stream_frame(&sf(id, 200, &data[200..300], false))
        .unwrap();
    s.accept(Dir::Bi);
    assert_eq!(read_to_end(&mut s, id), (data, false));
}

#[test]
fn data_beyond_the_stream_window_is_flow_control_error() {
    let tp = params(1 << 20, 1000, 10, 10);
    let (_, mut s) = pair_with(&tp, &tp, StreamsConfig::default());
    s.on_stream_frame(&sf(client_bi(0), 0, &[0; 1000], false))
        .unwrap();
    let f = sf(client_bi(0), 1000, &[0], false);
    let e = s.on_stream_frame(&f).unwrap_err();
    assert_eq!(e.code, TransportErrorCode::FLOW_CONTROL_ERROR);
    assert_eq!(e.frame_type, Some(f.ty()));
}

#[test]
fn data_beyond_the_connection_window_is_flow_control_error() {
    let tp = params(1500, 1000, 10, 10);
    let (_, mut s) = pair_with(&tp, &tp, StreamsConfig::default());
    s.on_stream_frame(&sf(client_bi(0), 0, &[0; 1000], false))
        .unwrap();
    let f = sf(client_bi(1), 0, &[0; 501], false);
    assert_eq!(
        code(s.on_stream_frame(&f)),
        TransportErrorCode::FLOW_CONTROL_ERROR
    );
}

#[test]
fn final_size_change_is_final_size_error() {
    let (_, mut s) = pair();
    s.on_stream_frame(&sf(client_bi(0), 0, &[1; 10], true))
        .unwrap();
    let e = code(s.on_stream_frame(&sf(client_bi(0), 0, &[1; 11], true)));
    assert_eq!(e, TransportErrorCode::FINAL_SIZE_ERROR);
    let e = code(s.on_reset_stream(client_bi(0), v(0), v(9)));
    assert_eq!(e, TransportErrorCode::FINAL_SIZE_ERROR);
}

#[test]
fn data_beyond_final_size_is_final_size_error() {
    let (_, mut s) = pair();
    s.on_stream_frame(&sf(client_bi(0), 0, &[1; 10], true))
        .unwrap();
    let e = code(s.on_stream_frame(&sf(client_bi(0), 10, &[1], false)));
    assert_eq!(e, TransportErrorCode::FINAL_SIZE_ERROR);
    // After a reset too.
    s.on_reset_stream(client_bi(1), v(3), v(5)).unwrap();
    let e = code(s.on_stream_frame(&sf(client_bi(1), 4, &[1, 2], false)));
    assert_eq!(e, TransportErrorCode::FINAL_SIZE_ERROR);
}

#[test]
fn reset_final_size_counts_against_the_connection_window() {
    let tp = params(1000, 1000, 10, 10);
    let (_, mut s) = pair_with(&tp, &tp, StreamsConfig::default());
    s.on_reset_stream(client_bi(0), v(1), v(800)).unwrap();
    s.on_stream_frame(&sf(client_bi(1), 0, &[0; 200], false))
        .unwrap();
    let e = code(s.on_stream_frame(&sf(client_bi(2), 0, &[0; 1], false)));
    assert_eq!(e, TransportErrorCode::FLOW_CONTROL_ERROR);
}

#[test]
fn reset_final_size_releases_connection_credit() {
    let tp = params(1000, 1000, 10, 10);
    let (_, mut s) = pair_with(&tp, &tp, StreamsConfig::default());
    s.on_reset_stream(client_bi(0), v(1), v(800)).unwrap();
    assert!(s.wants_to_send());
    let p = packet(&mut s, 1200);
    assert!(
        p.frames().contains(&Frame::MaxData { max: v(1800) }),
        "{:?}",
        p.frames()
    );
}

#[test]
fn reset_received_is_reported_and_read_returns_the_code() {
    let (_, mut s) = pair();
    let id = client_bi(0);
    s.on_stream_frame(&sf(id, 0, b"abc", false)).unwrap();
    assert_eq!(s.accept(Dir::Bi), Some(id));
    events(&mut s);
    s.on_reset_stream(id, v(42), v(3)).unwrap();
    assert!(events(&mut s).contains(&StreamEvent::Reset {
        id,
        error_code: v(42)
    }));
    assert_eq!(s.read(id, &mut [0; 8]), Err(ReadError::Reset(v(42))));
}

#[test]
fn write_blocked_by_stream_credit_sends_stream_data_blocked_once_and_resumes_on_max_stream_data() {
    let ctp = params(1 << 20, 1 << 16, 10, 10);
    let stp = params(1 << 20, 100, 10, 10);
    let (mut c, _) = pair_with(&ctp, &stp, StreamsConfig::default());
    let id = c.open(Dir::Bi).unwrap();
    assert_eq!(c.write(id, &[7; 150]), Ok(100));
    assert_eq!(c.write(id, &[7; 50]), Err(WriteError::Blocked));
    let p = packet(&mut c, 1200);
    let blocked = Frame::StreamDataBlocked { id, limit: v(100) };
    assert!(p.frames().contains(&blocked));
    assert_eq!(stream_frames(&p)[0].2.len(), 100);
    assert_eq!(c.write(id, &[7; 50]), Err(WriteError::Blocked));
    assert!(
        !c.wants_to_send(),
        "STREAM_DATA_BLOCKED only once per limit"
    );
    c.on_max_stream_data(id, v(250)).unwrap();
    assert_eq!(events(&mut c), [StreamEvent::Writable { id }]);
    assert_eq!(c.write(id, &[7; 200]), Ok(150));
    let p = packet(&mut c, 1200);
    let blocked = Frame::StreamDataBlocked { id, limit: v(250) };
    assert!(
        p.frames().contains(&blocked),
        "blocked again at the new limit"
    );
}

#[test]
fn sending_blocked_by_connection_credit_sends_data_blocked_once_and_resumes_on_max_data() {
    // The server could take more, but told the client 1000 bytes.
    let tp = params(1 << 20, 1 << 16, 10, 10);
    let mut c = Streams::new(Side::Client, &tp, StreamsConfig::default());
    c.set_peer_params(&params(1000, 1 << 16, 10, 10));
    let mut s = Streams::new(Side::Server, &tp, StreamsConfig::default());
    s.set_peer_params(&tp);
    let id = c.open(Dir::Bi).unwrap();
    // A write reserves stream credit; connection credit is spent when
    // frames are written, by priority.
    assert_eq!(c.write(id, &pattern(3000, 3)), Ok(3000));
    let mut packets = Vec::new();
    while c.wants_to_send() {
        packets.push(packet(&mut c, 1200));
    }
    let sent: usize = packets
        .iter()
        .flat_map(stream_frames)
        .map(|f| f.2.len())
        .sum();
    assert_eq!(sent, 1000);
    let blocked = |f: &Frame<'_>| *f == Frame::DataBlocked { limit: v(1000) };
    assert_eq!(count(&packets, blocked), 1);
    for p in &packets {
        deliver(&mut s, p).unwrap();
        p.records.iter().for_each(|&r| c.on_acked(r));
    }
    assert!(packet(&mut c, 1200).bytes.is_empty(), "DATA_BLOCKED once");
    c.on_max_data(v(3000)).unwrap();
    assert!(c.wants_to_send());
    flush(&mut c, &mut s);
    assert_eq!(s.accept(Dir::Bi), Some(id));
    assert_eq!(read_to_end(&mut s, id).0, pattern(3000, 3));
}

#[test]
fn send_buffer_limit_gives_back_pressure_until_acked() {
    let config = StreamsConfig {
        stream_send_buffer: 1000,
        ..StreamsConfig::default()
    };
    let tp = params(1 << 20, 1 << 16, 10, 10);
    let (mut c, mut s) = pair_with(&tp, &tp, config);
    let id = c.open(Dir::Uni).unwrap();
    assert_eq!(c.write(id, &[1; 1500]), Ok(1000));
    assert_eq!(c.write(id, &[1; 10]), Err(WriteError::Blocked));
    let p = packet(&mut c, 600);
    assert!(events(&mut c).is_empty());
    deliver(&mut s, &p).unwrap();
    p.records.iter().for_each(|&r| c.on_acked(r));
    assert_eq!(events(&mut c), [StreamEvent::Writable { id }]);
    let sent = stream_frames(&p)[0].2.len() as u64;
    assert_eq!(c.send_buffered(), 1000 - sent);
    assert!(c.write(id, &[1; 1000]).unwrap() > 500);
}

#[test]
fn connection_send_buffer_limit_wakes_waiting_streams() {
    let config = StreamsConfig {
        conn_send_buffer: 1000,
        ..StreamsConfig::default()
    };
    let tp = params(1 << 20, 1 << 16, 10, 10);
    let (mut c, mut s) = pair_with(&tp, &tp, config);
    let a = c.open(Dir::Uni).unwrap();
    let b = c.open(Dir::Uni).unwrap();
    assert_eq!(c.write(a, &[1; 1000]), Ok(1000));
    assert_eq!(
        c.write_bytes(b, Bytes::from_static(b"x")),
        Err(WriteError::Blocked)
    );
    flush(&mut c, &mut s);
    assert!(events(&mut c).contains(&StreamEvent::Writable { id: b }));
    assert_eq!(c.write_bytes(b, Bytes::from_static(b"x")), Ok(1));
}

#[test]
fn lost_stream_data_is_resent_byte_identical_from_the_buffer_and_acked_data_freed() {
    let (mut c, mut s) = pair();
    let id = c.open(Dir::Uni).unwrap();
    let data = pattern(3000, 4);
    assert_eq!(c.write_bytes(id, Bytes::from(data.clone())), Ok(3000));
    let p: Vec<Packet> = (0..3).map(|_| packet(&mut c, 1200)).collect();
    assert_eq!(c.send_buffered(), 3000);
    p[1].records.iter().for_each(|&r| c.on_lost(r));
    for i in [0, 2] {
        deliver(&mut s, &p[i]).unwrap();
        p[i].records.iter().for_each(|&r| c.on_acked(r));
    }
    let first_len = stream_frames(&p[0])[0].2.len() as u64;
    assert_eq!(
        c.send_buffered(),
        3000 - first_len,
        "only the acked prefix is freed"
    );
    let again = packet(&mut c, 1200);
    assert_eq!(
        stream_frames(&again),
        stream_frames(&p[1]),
        "identical retransmission"
    );
    deliver(&mut s, &again).unwrap();
    again.records.iter().for_each(|&r| c.on_acked(r));
    assert_eq!(c.send_buffered(), 0);
    s.accept(Dir::Uni);
    assert_eq!(read_to_end(&mut s, id).0, data);
}

#[test]
fn open_beyond_peer_limit_fails_sends_streams_blocked_then_succeeds_after_max_streams() {
    let ctp = params(1 << 20, 1 << 16, 10, 10);
    let stp = params(1 << 20, 1 << 16, 2, 10);
    let (mut c, mut s) = pair_with(&ctp, &stp, StreamsConfig::default());
    c.open(Dir::Bi).unwrap();
    c.open(Dir::Bi).unwrap();
    assert_eq!(c.open(Dir::Bi), Err(OpenError::Blocked));
    assert_eq!(c.open(Dir::Bi), Err(OpenError::Blocked));
    let p = packet(&mut c, 1200);
    let blocked = Frame::StreamsBlocked {
        dir: Dir::Bi,
        limit: v(2),
    };
    assert_eq!(p.frames(), [blocked]);
    s.on_frame(&blocked).unwrap();
    assert!(!c.wants_to_send());
    c.on_max_streams(Dir::Bi, v(2)).unwrap();
    assert!(
        events(&mut c).is_empty(),
        "a limit that does not grow is ignored"
    );
    c.on_max_streams(Dir::Bi, v(3)).unwrap();
    assert_eq!(events(&mut c), [StreamEvent::Available { dir: Dir::Bi }]);
    assert_eq!(c.open(Dir::Bi), Ok(client_bi(2)));
}

#[test]
fn peer_stream_implicitly_opens_lower_streams_lazily() {
    let (_, mut s) = pair();
    s.on_stream_frame(&sf(client_bi(3), 0, b"x", false))
        .unwrap();
    assert_eq!(s.stream_count(), 1, "only the touched stream has state");
    assert_eq!(events(&mut s), [StreamEvent::Opened { dir: Dir::Bi }]);
    let accepted: Vec<_> = core::iter::from_fn(|| s.accept(Dir::Bi)).collect();
    assert_eq!(accepted, (0..4).map(client_bi).collect::<Vec<_>>());
    assert_eq!(s.read(client_bi(1), &mut [0; 4]), Ok(None));
    assert_eq!(s.read(client_bi(3), &mut [0; 4]), Ok(Some((1, false))));
}

#[test]
fn peer_stream_beyond_our_limit_is_stream_limit_error() {
    let tp = params(1 << 20, 1 << 16, 4, 1);
    let (_, mut s) = pair_with(&tp, &tp, StreamsConfig::default());
    s.on_stream_frame(&sf(client_bi(3), 0, b"x", false))
        .unwrap();
    let e = s
        .on_stream_frame(&sf(client_bi(4), 0, b"x", false))
        .unwrap_err();
    assert_eq!(e.code, TransportErrorCode::STREAM_LIMIT_ERROR);
    let uni = StreamId::new(Side::Client, Dir::Uni, 1);
    let e = code(s.on_reset_stream(uni, v(0), v(0)));
    assert_eq!(e, TransportErrorCode::STREAM_LIMIT_ERROR);
}

#[test]
fn max_streams_is_given_back_as_peer_streams_complete() {
    let ctp = params(1 << 20, 1 << 16, 10, 10);
    let stp = params(1 << 20, 1 << 16, 10, 2);
    let (mut c, mut s) = pair_with(&ctp, &stp, StreamsConfig::default());
    let ids = [c.open(Dir::Uni).unwrap(), c.open(Dir::Uni).unwrap()];
    assert_eq!(c.open(Dir::Uni), Err(OpenError::Blocked));
    for id in ids {
        c.write(id, b"data").unwrap();
        c.finish(id).unwrap();
    }
    flush(&mut c, &mut s);
    while let Some(id) = s.accept(Dir::Uni) {
        assert_eq!(read_to_end(&mut s, id), (b"data".to_vec(), true));
    }
    assert_eq!(s.stream_count(), 0, "finished streams are freed");
    let p = flush(&mut s, &mut c);
    let max = |f: &Frame<'_>| {
        *f == Frame::MaxStreams {
            dir: Dir::Uni,
            count: v(4),
        }
    };
    assert_eq!(count(&p, max), 1);
    assert!(events(&mut c).contains(&StreamEvent::Available { dir: Dir::Uni }));
    assert!(c.open(Dir::Uni).is_ok());
    assert_eq!(
        c.stream_count(),
        1,
        "our finished and acknowledged streams are freed too"
    );
}

#[test]
fn million_stream_limits_allocate_nothing_per_stream() {
    let tp = params(1 << 20, 1 << 16, 1_000_000, 1_000_000);
    let (mut c, mut s) = pair_with(&tp, &tp, StreamsConfig::default());
    assert_eq!((c.stream_count(), s.stream_count()), (0, 0));
    assert!(!c.wants_to_send() && !s.wants_to_send());
    // The peer jumping to its last allowed stream opens 10^6 streams and
    // allocates one.
    s.on_stream_frame(&sf(client_bi(999_999), 0, b"x", false))
        .unwrap();
    assert_eq!(s.stream_count(), 1);
    assert_eq!(s.accept(Dir::Bi), Some(client_bi(0)));
    assert_eq!(s.stream_count(), 2);
    c.open(Dir::Uni).unwrap();
    assert_eq!(c.stream_count(), 1);
}

#[test]
fn stream_frame_on_our_unidirectional_stream_is_stream_state_error() {
    let (mut c, mut s) = pair();
    let ours = c.open(Dir::Uni).unwrap();
    let f = sf(ours, 0, b"x", false);
    let e = c.on_stream_frame(&f).unwrap_err();
    assert_eq!(e.code, TransportErrorCode::STREAM_STATE_ERROR);
    assert_eq!(e.frame_type, Some(f.ty()));
    // Not yet opened: the same.
    let server_uni = StreamId::new(Side::Server, Dir::Uni, 5);
    assert_eq!(
        code(s.on_stream_frame(&sf(server_uni, 0, b"x", false))),
        TransportErrorCode::STREAM_STATE_ERROR
    );
}

#[test]
fn frames_for_the_wrong_direction_or_unopened_local_streams_are_stream_state_errors() {
    let (_, mut s) = pair();
    let client_uni = StreamId::new(Side::Client, Dir::Uni, 0);
    let server_uni = StreamId::new(Side::Server, Dir::Uni, 0);
    let server_bi = StreamId::new(Side::Server, Dir::Bi, 0);
    let cases: [(Frame<'_>, FrameType); 6] = [
        (
            Frame::MaxStreamData {
                id: client_uni,
                max: v(9),
            },
            FrameType::MAX_STREAM_DATA,
        ),
        (
            Frame::StopSending {
                id: client_uni,
                error_code: v(1),
            },
            FrameType::STOP_SENDING,
        ),
        (
            Frame::ResetStream {
                id: server_uni,
                error_code: v(1),
                final_size: v(0),
            },
            FrameType::RESET_STREAM,
        ),
        (
            Frame::StreamDataBlocked {
                id: server_uni,
                limit: v(0),
            },
            FrameType::STREAM_DATA_BLOCKED,
        ),
        (
            Frame::MaxStreamData {
                id: server_bi,
                max: v(9),
            },
            FrameType::MAX_STREAM_DATA,
        ),
        (
            Frame::StopSending {
                id: server_bi,
                error_code: v(1),
            },
            FrameType::STOP_SENDING,
        ),
    ];
    for (f, ty) in cases {
        let e = s.on_frame(&f).unwrap_err();
        assert_eq!(
            (e.code, e.frame_type),
            (TransportErrorCode::STREAM_STATE_ERROR, Some(ty)),
            "{f:?}"
        );
    }
    // MAX_STREAM_DATA for a peer's bidirectional stream opens it (RFC 9000 §3.2).
    s.on_max_stream_data(client_bi(0), v(5)).unwrap();
    assert_eq!(s.accept(Dir::Bi), Some(client_bi(0)));
}

#[test]
fn stop_sending_received_resets_the_stream_with_the_same_code() {
    let (mut c, _) = pair();
    let id = c.open(Dir::Bi).unwrap();
    c.write(id, &[5; 100]).unwrap();
    let first = packet(&mut c, 60);
    let sent = stream_frames(&first)[0].2.len() as u64;
    c.on_stop_sending(id, v(77)).unwrap();
    assert_eq!(
        events(&mut c),
        [StreamEvent::Stopped {
            id,
            error_code: v(77)
        }]
    );
    assert_eq!(c.write(id, b"more"), Err(WriteError::Stopped(v(77))));
    assert_eq!(c.send_buffered(), 0);
    let p = packet(&mut c, 1200);
    let reset = Frame::ResetStream {
        id,
        error_code: v(77),
        final_size: v(sent),
    };
    assert_eq!(p.frames(), [reset], "final size is what was sent");
    // A duplicate STOP_SENDING changes nothing.
    c.on_stop_sending(id, v(78)).unwrap();
    assert!(events(&mut c).is_empty() && !c.wants_to_send());
}

#[test]
fn reset_stream_is_resent_until_acknowledged_then_the_stream_is_freed() {
    let (mut c, mut s) = pair();
    let id = c.open(Dir::Uni).unwrap();
    c.write(id, &[1; 10]).unwrap();
    let data = packet(&mut c, 1200);
    c.reset(id, v(5)).unwrap();
    assert_eq!(c.reset(id, v(5)), Err(StreamError::ClosedStream));
    let reset = Frame::ResetStream {
        id,
        error_code: v(5),
        final_size: v(10),
    };
    let p1 = packet(&mut c, 1200);
    assert_eq!(p1.frames(), [reset]);
    p1.records.iter().for_each(|&r| c.on_lost(r));
    let p2 = packet(&mut c, 1200);
    assert_eq!(p2.frames(), [reset]);
    // The lost data frame is not resent after the reset.
    data.records.iter().for_each(|&r| c.on_lost(r));
    assert!(!c.wants_to_send());
    deliver(&mut s, &p2).unwrap();
    p2.records.iter().for_each(|&r| c.on_acked(r));
    assert_eq!(c.stream_count(), 0);
    // A late loss report of the acknowledged reset changes nothing.
    p1.records.iter().for_each(|&r| c.on_lost(r));
    assert!(!c.wants_to_send());
    assert_eq!(events(&mut s), [StreamEvent::Opened { dir: Dir::Uni }]);
    assert_eq!(s.accept(Dir::Uni), Some(id));
    assert_eq!(s.read(id, &mut [0; 4]), Err(ReadError::Reset(v(5))));
    assert_eq!(s.stream_count(), 0);
}

#[test]
fn stop_reading_sends_stop_sending_and_the_peer_resets() {
    let (mut c, mut s) = pair();
    let id = c.open(Dir::Uni).unwrap();
    c.write(id, &[1; 100]).unwrap();
    flush(&mut c, &mut s);
    assert_eq!(s.accept(Dir::Uni), Some(id));
    s.stop(id, v(9)).unwrap();
    assert_eq!(s.read(id, &mut [0; 4]), Err(ReadError::ClosedStream));
    let p = flush(&mut s, &mut c);
    assert_eq!(
        count(&p, |f| *f
            == Frame::StopSending {
                id,
                error_code: v(9)
            }),
        1
    );
    assert!(events(&mut c).contains(&StreamEvent::Stopped {
        id,
        error_code: v(9)
    }));
    let p = flush(&mut c, &mut s);
    let reset = Frame::ResetStream {
        id,
        error_code: v(9),
        final_size: v(100),
    };
    assert_eq!(count(&p, |f| *f == reset), 1);
    assert_eq!((c.stream_count(), s.stream_count()), (0, 0));
}

#[test]
fn lost_max_data_is_resent_only_while_current() {
    let tp = params(1000, 1 << 16, 10, 10);
    let (mut c, mut s) = pair_with(&tp, &tp, StreamsConfig::default());
    // Updates far apart in time, so that auto-tuning leaves the window be.
    let t0 = crate::streams::test_instant();
    let at = |secs| t0 + std::time::Duration::from_secs(secs);
    let id = c.open(Dir::Uni).unwrap();
    c.write(id, &[1; 600]).unwrap();
    flush(&mut c, &mut s);
    s.accept(Dir::Uni);
    read_to_end(&mut s, id);
    let p1 = packet_at(&mut s, at(1), 1200);
    assert_eq!(p1.frames(), [Frame::MaxData { max: v(1600) }]);
    p1.records.iter().for_each(|&r| s.on_lost(r));
    let p2 = packet_at(&mut s, at(2), 1200);
    assert_eq!(
        p2.frames(),
        [Frame::MaxData { max: v(1600) }],
        "resent while current"
    );
    deliver(&mut c, &p2).unwrap();
    c.write(id, &[1; 600]).unwrap();
    flush(&mut c, &mut s);
    read_to_end(&mut s, id);
    let p3 = packet_at(&mut s, at(3), 1200);
    assert_eq!(p3.frames(), [Frame::MaxData { max: v(2200) }]);
    p2.records.iter().for_each(|&r| s.on_lost(r));
    assert!(!s.wants_to_send(), "an outdated limit is not resent");
}

#[test]
fn lost_stream_data_blocked_is_resent_only_while_still_blocked() {
    let ctp = params(1 << 20, 1 << 16, 10, 10);
    let stp = params(1 << 20, 10, 10, 10);
    let (mut c, _) = pair_with(&ctp, &stp, StreamsConfig::default());
    let id = c.open(Dir::Bi).unwrap();
    c.write(id, &[1; 20]).unwrap();
    let p = packet(&mut c, 1200);
    p.records.iter().for_each(|&r| c.on_lost(r));
    let again = packet(&mut c, 1200);
    assert!(again
        .frames()
        .contains(&Frame::StreamDataBlocked { id, limit: v(10) }));
    c.on_max_stream_data(id, v(30)).unwrap();
    again.records.iter().for_each(|&r| c.on_lost(r));
    let last = packet(&mut c, 1200);
    assert!(!last
        .frames()
        .iter()
        .any(|f| matches!(f, Frame::StreamDataBlocked { .. })));
}

#[test]
fn stream_state_is_freed_when_both_directions_are_done() {
    let (mut c, mut s) = pair();
    let id = c.open(Dir::Bi).unwrap();
    c.write(id, b"request").unwrap();
    c.finish(id).unwrap();
    flush(&mut c, &mut s);
    assert_eq!(s.accept(Dir::Bi), Some(id));
    assert_eq!(read_to_end(&mut s, id), (b"request".to_vec(), true));
    assert_eq!(s.stream_count(), 1, "our sending part is still open");
    s.write(id, b"response").unwrap();
    s.finish(id).unwrap();
    flush(&mut s, &mut c);
    assert!(events(&mut s).contains(&StreamEvent::Finished { id }));
    assert_eq!(s.stream_count(), 0);
    assert!(events(&mut c).contains(&StreamEvent::Finished { id }));
    assert_eq!(read_to_end(&mut c, id), (b"response".to_vec(), true));
    assert_eq!(c.stream_count(), 0);
    assert_eq!(c.read(id, &mut [0; 4]), Err(ReadError::UnknownStream));
    assert_eq!(c.write(id, b"x"), Err(WriteError::UnknownStream));
    // Late frames for the forgotten stream are ignored.
    c.on_stream_frame(&sf(id, 0, b"response", true)).unwrap();
    s.on_stream_frame(&sf(id, 0, b"request", true)).unwrap();
    assert_eq!((c.stream_count(), s.stream_count()), (0, 0));
}

#[test]
fn application_calls_on_wrong_streams_fail_with_typed_errors() {
    let (mut c, _) = pair();
    let server_uni = StreamId::new(Side::Server, Dir::Uni, 0);
    assert_eq!(c.write(server_uni, b"x"), Err(WriteError::UnknownStream));
    assert_eq!(
        c.read(client_bi(0), &mut [0]),
        Err(ReadError::UnknownStream)
    );
    let uni = c.open(Dir::Uni).unwrap();
    assert_eq!(c.read(uni, &mut [0]), Err(ReadError::ClosedStream));
    assert_eq!(c.stop(uni, v(0)), Err(StreamError::ClosedStream));
    c.finish(uni).unwrap();
    assert_eq!(c.finish(uni), Err(StreamError::ClosedStream));
    assert_eq!(c.write(uni, b"x"), Err(WriteError::ClosedStream));
    assert_eq!(
        c.set_priority(client_bi(9), 0, false),
        Err(StreamError::UnknownStream)
    );
}

#[test]
fn stream_unblocked_by_credit_while_the_connection_buffer_is_full_waits_for_room() {
    let config = StreamsConfig {
        conn_send_buffer: 1000,
        ..StreamsConfig::default()
    };
    let ctp = params(1 << 20, 1 << 16, 10, 10);
    let mut stp = params(1 << 20, 100, 10, 10);
    stp.initial_max_stream_data_uni = v(1 << 16);
    let (mut c, mut s) = pair_with(&ctp, &stp, config);
    let a = c.open(Dir::Bi).unwrap();
    let b = c.open(Dir::Uni).unwrap();
    assert_eq!(c.write(a, &[1; 200]), Ok(100), "stream credit");
    assert_eq!(c.write(b, &[1; 2000]), Ok(900), "connection buffer");
    c.on_max_stream_data(a, v(500)).unwrap();
    assert!(events(&mut c).is_empty(), "credit, but no buffer room");
    flush(&mut c, &mut s);
    let ev = events(&mut c);
    assert!(ev.contains(&StreamEvent::Writable { id: a }), "{ev:?}");
    assert!(ev.contains(&StreamEvent::Writable { id: b }), "{ev:?}");
}

#[test]
fn stream_state_stays_small() {
    let size = core::mem::size_of::<crate::streams::streams::Stream>();
    println!(
        "Stream: {size} bytes, Streams: {} bytes",
        core::mem::size_of::<Streams>()
    );
    assert!(size <= 512, "{size}");
    assert!(core::mem::size_of::<Streams>() <= 640);
}
