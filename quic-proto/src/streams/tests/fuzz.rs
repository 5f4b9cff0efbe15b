//! Property tests: random sequences of peer frames, application calls and
//! packet fates never panic, and what `write_frames` produces always decodes
//! and stays within the budget.

use proptest::prelude::*;

use super::*;
use crate::frame::{Dir, Frame, StreamFrame, StreamId};

#[derive(Clone, Debug)]
enum PeerFrame {
    Stream {
        id: u64,
        offset: u64,
        len: u16,
        fin: bool,
    },
    Reset {
        id: u64,
        code: u64,
        final_size: u64,
    },
    StopSending {
        id: u64,
        code: u64,
    },
    MaxData(u64),
    MaxStreamData {
        id: u64,
        max: u64,
    },
    MaxStreams {
        uni: bool,
        count: u64,
    },
    DataBlocked(u64),
    StreamDataBlocked {
        id: u64,
        limit: u64,
    },
    StreamsBlocked {
        uni: bool,
        limit: u64,
    },
}

#[derive(Clone, Debug)]
enum Op {
    Peer(PeerFrame),
    Open(bool),
    Accept(bool),
    Write(u8, u16),
    Read(u8, u16),
    Finish(u8),
    Reset(u8, u8),
    Stop(u8, u8),
    Priority(u8, u8, bool),
    /// Write a packet of this budget; 0: acknowledge, 1: lose, 2: keep.
    Flush(u16, u8),
    /// Settle the kept records: acknowledge (true) or lose.
    Settle(bool),
}

const VARINT_MAX: u64 = (1 << 62) - 1;

fn id() -> impl Strategy<Value = u64> {
    prop_oneof![4 => 0u64..48, 1 => 0..=VARINT_MAX]
}

fn value() -> impl Strategy<Value = u64> {
    prop_oneof![4 => 0u64..5000, 1 => 0..=VARINT_MAX, 1 => Just(1 << 60), 1 => Just((1 << 60) + 1)]
}

fn peer_frame() -> impl Strategy<Value = PeerFrame> {
    prop_oneof![
        4 => (id(), value(), 0u16..1500, any::<bool>())
            .prop_map(|(id, offset, len, fin)| PeerFrame::Stream { id, offset, len, fin }),
        1 => (id(), value(), value())
            .prop_map(|(id, code, final_size)| PeerFrame::Reset { id, code, final_size }),
        1 => (id(), value()).prop_map(|(id, code)| PeerFrame::StopSending { id, code }),
        1 => value().prop_map(PeerFrame::MaxData),
        1 => (id(), value()).prop_map(|(id, max)| PeerFrame::MaxStreamData { id, max }),
        1 => (any::<bool>(), value()).prop_map(|(uni, count)| PeerFrame::MaxStreams { uni, count }),
        1 => value().prop_map(PeerFrame::DataBlocked),
        1 => (id(), value()).prop_map(|(id, limit)| PeerFrame::StreamDataBlocked { id, limit }),
        1 => (any::<bool>(), value()).prop_map(|(uni, limit)| PeerFrame::StreamsBlocked { uni, limit }),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => peer_frame().prop_map(Op::Peer),
        1 => any::<bool>().prop_map(Op::Open),
        1 => any::<bool>().prop_map(Op::Accept),
        2 => (any::<u8>(), 0u16..3000).prop_map(|(s, n)| Op::Write(s, n)),
        2 => (any::<u8>(), 0u16..3000).prop_map(|(s, n)| Op::Read(s, n)),
        1 => any::<u8>().prop_map(Op::Finish),
        1 => (any::<u8>(), any::<u8>()).prop_map(|(s, c)| Op::Reset(s, c)),
        1 => (any::<u8>(), any::<u8>()).prop_map(|(s, c)| Op::Stop(s, c)),
        1 => (any::<u8>(), any::<u8>(), any::<bool>()).prop_map(|(s, u, i)| Op::Priority(s, u, i)),
        3 => (0u16..1500, 0u8..3).prop_map(|(b, f)| Op::Flush(b, f)),
        1 => any::<bool>().prop_map(Op::Settle),
    ]
}

fn vi(x: u64) -> VarInt {
    VarInt::saturating(x)
}

fn dir(uni: bool) -> Dir {
    if uni {
        Dir::Uni
    } else {
        Dir::Bi
    }
}

fn to_frame<'a>(f: &PeerFrame, data: &'a [u8]) -> Frame<'a> {
    let sid = |x: u64| StreamId::from_varint(vi(x));
    match *f {
        PeerFrame::Stream {
            id,
            offset,
            len,
            fin,
        } => Frame::Stream(StreamFrame {
            id: sid(id),
            offset: vi(offset),
            data: &data[..usize::from(len)],
            fin,
            with_len: true,
        }),
        PeerFrame::Reset {
            id,
            code,
            final_size,
        } => Frame::ResetStream {
            id: sid(id),
            error_code: vi(code),
            final_size: vi(final_size),
        },
        PeerFrame::StopSending { id, code } => Frame::StopSending {
            id: sid(id),
            error_code: vi(code),
        },
        PeerFrame::MaxData(max) => Frame::MaxData { max: vi(max) },
        PeerFrame::MaxStreamData { id, max } => Frame::MaxStreamData {
            id: sid(id),
            max: vi(max),
        },
        PeerFrame::MaxStreams { uni, count } => Frame::MaxStreams {
            dir: dir(uni),
            count: vi(count),
        },
        PeerFrame::DataBlocked(limit) => Frame::DataBlocked { limit: vi(limit) },
        PeerFrame::StreamDataBlocked { id, limit } => Frame::StreamDataBlocked {
            id: sid(id),
            limit: vi(limit),
        },
        PeerFrame::StreamsBlocked { uni, limit } => Frame::StreamsBlocked {
            dir: dir(uni),
            limit: vi(limit),
        },
    }
}

/// Runs `ops` against a server; stops at the first connection error, as
/// the connection would.
fn exercise(ops: &[Op], config: StreamsConfig) {
    let ours = params(4000, 1500, 5, 5);
    let theirs = params(3000, 1000, 3, 3);
    let mut s = Streams::new(Side::Server, &ours, config);
    s.set_peer_params(&theirs);
    let data = vec![0xabu8; 3000];
    let mut buf = vec![0u8; 3000];
    let mut kept = Vec::new();
    let t0 = crate::streams::test_instant();
    let sel = |x: u8| StreamId::from_varint(VarInt::from_u32(u32::from(x % 40)));
    for (i, op) in ops.iter().enumerate() {
        match *op {
            Op::Peer(ref f) => {
                if s.on_frame(&to_frame(f, &data)).is_err() {
                    return;
                }
            }
            Op::Open(uni) => {
                let _ = s.open(dir(uni));
            }
            Op::Accept(uni) => {
                let _ = s.accept(dir(uni));
            }
            Op::Write(x, n) => {
                let _ = s.write(sel(x), &data[..usize::from(n)]);
            }
            Op::Read(x, n) => {
                let _ = s.read(sel(x), &mut buf[..usize::from(n)]);
            }
            Op::Finish(x) => {
                let _ = s.finish(sel(x));
            }
            Op::Reset(x, c) => {
                let _ = s.reset(sel(x), VarInt::from(c));
            }
            Op::Stop(x, c) => {
                let _ = s.stop(sel(x), VarInt::from(c));
            }
            Op::Priority(x, u, inc) => {
                let _ = s.set_priority(sel(x), u, inc);
            }
            Op::Flush(budget, fate) => {
                let now = t0 + RTT * i as u32;
                let p = packet_at(&mut s, now, usize::from(budget));
                // Everything we write decodes.
                assert_eq!(p.frames().len(), p.records.len());
                match fate {
                    0 => p.records.iter().for_each(|&r| s.on_acked(r)),
                    1 => p.records.iter().for_each(|&r| s.on_lost(r)),
                    _ => kept.extend(p.records),
                }
            }
            Op::Settle(ack) => {
                for r in kept.drain(..) {
                    if ack {
                        s.on_acked(r);
                    } else {
                        s.on_lost(r);
                    }
                }
            }
        }
        while s.poll_event().is_some() {}
    }
    // Draining what is left terminates.
    for _ in 0..200 {
        if !s.wants_to_send() {
            break;
        }
        let p = packet(&mut s, 1200);
        p.records.iter().for_each(|&r| s.on_acked(r));
    }
    assert!(!s.wants_to_send(), "sending never settles");
}

proptest! {
    #[test]
    fn random_frame_and_call_sequences_never_panic(ops in proptest::collection::vec(op(), 0..80)) {
        exercise(&ops, StreamsConfig::default());
    }

    #[test]
    fn random_sequences_with_tiny_buffers_never_panic(ops in proptest::collection::vec(op(), 0..80)) {
        let config = StreamsConfig {
            max_stream_window: 2000,
            max_conn_window: 5000,
            stream_send_buffer: 700,
            conn_send_buffer: 1500,
            max_recv_fragments: 3,
        };
        exercise(&ops, config);
    }

    #[test]
    fn arbitrary_payload_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let tp = params(4000, 1500, 5, 5);
        let mut s = Streams::new(Side::Client, &tp, StreamsConfig::default());
        s.set_peer_params(&tp);
        for f in crate::frame::Frames::new(&bytes) {
            let Ok(f) = f else { break };
            if s.on_frame(&f).is_err() { break; }
        }
        let _ = packet(&mut s, 1200);
    }
}
