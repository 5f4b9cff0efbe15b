//! Behaviour tests for [`LocalCids`] and [`RemoteCids`].

use proptest::prelude::*;

use super::*;
use crate::coding::VarInt;
use crate::frame::{Frame, FrameType, Frames, NewConnectionId};
use crate::TransportErrorCode;

/// A deterministic [`CidSource`]: IDs `c0 00 00 00 n` with tokens `[n; 16]`
/// spread over four bytes.
#[derive(Debug, Default)]
struct Counter(u32);

impl CidSource for Counter {
    fn new_cid(&mut self) -> (ConnectionId, StatelessResetToken) {
        self.0 += 1;
        (cid_n(self.0), token_n(self.0))
    }
}

fn cid_n(n: u32) -> ConnectionId {
    let b = n.to_be_bytes();
    ConnectionId::new(&[0xc0, b[0], b[1], b[2], b[3]]).unwrap()
}

fn token_n(n: u32) -> StatelessResetToken {
    let mut t = [0x70; 16];
    t[..4].copy_from_slice(&n.to_be_bytes());
    StatelessResetToken(t)
}

fn cid(b: u8) -> ConnectionId {
    ConnectionId::new(&[b; 8]).unwrap()
}

fn token(b: u8) -> StatelessResetToken {
    StatelessResetToken([b; 16])
}

fn v(x: u64) -> VarInt {
    VarInt::from_u64(x).unwrap()
}

fn ncid(seq: u64, rpt: u64, id: u8) -> NewConnectionId {
    NewConnectionId {
        sequence: v(seq),
        retire_prior_to: v(rpt),
        cid: cid(id),
        reset_token: token(id),
    }
}

fn events(local: &mut LocalCids) -> Vec<CidEvent> {
    core::iter::from_fn(|| local.poll_event()).collect()
}

/// Writes `local`'s frames and decodes them back.
fn local_frames(local: &mut LocalCids, budget: usize) -> (Vec<NewConnectionId>, Vec<CidRecord>) {
    let mut buf = Vec::new();
    let mut records = Vec::new();
    let n = local.write_frames(&mut buf, budget, &mut records);
    assert_eq!(n, buf.len());
    assert!(n <= budget);
    let frames = Frames::new(&buf)
        .map(|f| match f.unwrap() {
            Frame::NewConnectionId(f) => f,
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    (frames, records)
}

/// Writes `remote`'s frames and decodes the retired sequence numbers back.
fn remote_frames(remote: &mut RemoteCids, budget: usize) -> (Vec<u64>, Vec<CidRecord>) {
    let mut buf = Vec::new();
    let mut records = Vec::new();
    let n = remote.write_frames(&mut buf, budget, &mut records);
    assert_eq!(n, buf.len());
    assert!(n <= budget);
    let seqs = Frames::new(&buf)
        .map(|f| match f.unwrap() {
            Frame::RetireConnectionId { sequence } => sequence.into_inner(),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    (seqs, records)
}

fn seqs(frames: &[NewConnectionId]) -> Vec<u64> {
    frames.iter().map(|f| f.sequence.into_inner()).collect()
}

// ---------------------------------------------------------------- LocalCids

#[test]
fn the_handshake_id_is_routed_from_the_start() {
    let mut local = LocalCids::new(cid(1), 8);
    assert_eq!(events(&mut local), [CidEvent::Issued(cid(1))]);
    assert_eq!(local.iter().collect::<Vec<_>>(), [(0, cid(1))]);
    assert!(!local.has_pending_frames());
}

#[test]
fn nothing_is_issued_before_the_peer_limit_is_known() {
    let mut local = LocalCids::new(cid(1), 8);
    local.replenish(&mut Counter::default());
    assert_eq!(local.active_count(), 1);
    assert!(!local.rotate(&mut Counter::default()));
}

#[test]
fn issues_up_to_the_peer_limit() {
    let mut local = LocalCids::new(cid(1), 8);
    let mut src = Counter::default();
    local.set_peer_limit(3, &mut src);
    assert_eq!(local.active_count(), 3);
    assert_eq!(
        events(&mut local),
        [
            CidEvent::Issued(cid(1)),
            CidEvent::Issued(cid_n(1)),
            CidEvent::Issued(cid_n(2))
        ]
    );
    let (frames, records) = local_frames(&mut local, 1200);
    assert_eq!(seqs(&frames), [1, 2]);
    assert_eq!(frames[0].cid, cid_n(1));
    assert_eq!(frames[0].reset_token, token_n(1));
    assert_eq!(frames[1].retire_prior_to, VarInt::ZERO);
    assert_eq!(
        records,
        [
            CidRecord::NewConnectionId { sequence: 1 },
            CidRecord::NewConnectionId { sequence: 2 }
        ]
    );
    // Nothing more until something is retired.
    local.replenish(&mut src);
    assert!(!local.has_pending_frames());
}

#[test]
fn issues_up_to_our_own_cap_when_it_is_lower() {
    let mut local = LocalCids::new(cid(1), 2);
    local.set_peer_limit(7, &mut Counter::default());
    assert_eq!(local.active_count(), 2);
}

#[test]
fn replacement_after_retirement() {
    let mut local = LocalCids::new(cid(1), 8);
    let mut src = Counter::default();
    local.set_peer_limit(2, &mut src);
    local_frames(&mut local, 1200);
    events(&mut local);
    local
        .on_retire_connection_id(v(0), &cid_n(1), &mut src)
        .unwrap();
    assert_eq!(
        events(&mut local),
        [CidEvent::Retired(cid(1)), CidEvent::Issued(cid_n(2))]
    );
    let (frames, _) = local_frames(&mut local, 1200);
    assert_eq!(seqs(&frames), [2]);
    assert_eq!(local.active_count(), 2);
    // A retransmitted RETIRE_CONNECTION_ID changes nothing.
    local
        .on_retire_connection_id(v(0), &cid_n(1), &mut src)
        .unwrap();
    assert!(events(&mut local).is_empty());
}

#[test]
fn retire_of_an_unissued_sequence_is_protocol_violation() {
    let mut local = LocalCids::new(cid(1), 8);
    let mut src = Counter::default();
    local.set_peer_limit(2, &mut src);
    // Sequence 1 is allocated but the peer has not been told about it.
    let e = local
        .on_retire_connection_id(v(1), &cid(1), &mut src)
        .unwrap_err();
    assert_eq!(e.code, TransportErrorCode::PROTOCOL_VIOLATION);
    assert_eq!(e.frame_type, Some(FrameType::RETIRE_CONNECTION_ID));
    local_frames(&mut local, 1200);
    let e = local
        .on_retire_connection_id(v(2), &cid(1), &mut src)
        .unwrap_err();
    assert_eq!(e.code, TransportErrorCode::PROTOCOL_VIOLATION);
    local
        .on_retire_connection_id(v(1), &cid(1), &mut src)
        .unwrap();
}

#[test]
fn retire_of_the_packets_own_dcid_is_protocol_violation() {
    let mut local = LocalCids::new(cid(1), 8);
    let mut src = Counter::default();
    local.set_peer_limit(2, &mut src);
    local_frames(&mut local, 1200);
    let e = local
        .on_retire_connection_id(v(1), &cid_n(1), &mut src)
        .unwrap_err();
    assert_eq!(e.code, TransportErrorCode::PROTOCOL_VIOLATION);
    let e = local
        .on_retire_connection_id(v(0), &cid(1), &mut src)
        .unwrap_err();
    assert_eq!(e.code, TransportErrorCode::PROTOCOL_VIOLATION);
}

#[test]
fn zero_length_local_ids_issue_nothing_and_reject_retire() {
    let mut local = LocalCids::new(ConnectionId::EMPTY, 8);
    let mut src = Counter::default();
    local.set_peer_limit(8, &mut src);
    assert!(local.is_zero_length());
    assert!(events(&mut local).is_empty());
    assert!(!local.has_pending_frames());
    assert!(local.issue_preferred_address(&mut src).is_none());
    assert!(!local.rotate(&mut src));
    let e = local
        .on_retire_connection_id(v(0), &ConnectionId::EMPTY, &mut src)
        .unwrap_err();
    assert_eq!(e.code, TransportErrorCode::PROTOCOL_VIOLATION);
}

#[test]
fn a_source_yielding_zero_length_ids_stops_issuance() {
    let mut local = LocalCids::new(cid(1), 8);
    let mut empty = || (ConnectionId::EMPTY, token(9));
    local.set_peer_limit(4, &mut empty);
    assert_eq!(local.active_count(), 1);
}

#[test]
fn lost_new_connection_id_is_resent() {
    let mut local = LocalCids::new(cid(1), 8);
    let mut src = Counter::default();
    local.set_peer_limit(3, &mut src);
    let (_, records) = local_frames(&mut local, 1200);
    assert!(!local.has_pending_frames());
    local.on_lost(records[1]);
    let (frames, again) = local_frames(&mut local, 1200);
    assert_eq!(seqs(&frames), [2]);
    assert_eq!(frames[0].cid, cid_n(2));
    // Acknowledged: a late loss of the first copy changes nothing.
    local.on_acked(again[0]);
    local.on_lost(records[1]);
    assert!(!local.has_pending_frames());
    // Records of the other kind are ignored.
    local.on_lost(CidRecord::RetireConnectionId { sequence: 1 });
    assert!(!local.has_pending_frames());
}

#[test]
fn lost_new_connection_id_for_a_retired_id_is_not_resent() {
    let mut local = LocalCids::new(cid(1), 8);
    let mut src = Counter::default();
    local.set_peer_limit(2, &mut src);
    let (_, records) = local_frames(&mut local, 1200);
    local
        .on_retire_connection_id(v(1), &cid(1), &mut src)
        .unwrap();
    // The replacement (sequence 2) is pending; sequence 1 must not be.
    local.on_lost(records[0]);
    let (frames, _) = local_frames(&mut local, 1200);
    assert_eq!(seqs(&frames), [2]);
}

#[test]
fn frames_respect_the_budget_and_keep_sequence_order() {
    let mut local = LocalCids::new(cid(1), 8);
    local.set_peer_limit(4, &mut Counter::default());
    // type + seq + rpt + len + 5-byte ID + token = 25 bytes each.
    let (frames, _) = local_frames(&mut local, 24);
    assert!(frames.is_empty());
    let (frames, _) = local_frames(&mut local, 50);
    assert_eq!(seqs(&frames), [1, 2]);
    let (frames, _) = local_frames(&mut local, 1200);
    assert_eq!(seqs(&frames), [3]);
}

#[test]
fn rotation_sets_retire_prior_to_and_issues_replacements() {
    let mut local = LocalCids::new(cid(1), 8);
    let mut src = Counter::default();
    local.set_peer_limit(2, &mut src);
    let (_, first) = local_frames(&mut local, 1200);
    events(&mut local);
    assert!(local.rotate(&mut src));
    assert_eq!(local.retire_prior_to(), 2);
    assert_eq!(
        events(&mut local),
        [CidEvent::Issued(cid_n(2)), CidEvent::Issued(cid_n(3))]
    );
    let (frames, _) = local_frames(&mut local, 1200);
    assert_eq!(seqs(&frames), [2, 3]);
    assert!(frames.iter().all(|f| f.retire_prior_to == v(2)));
    // A lost frame for an ID being retired goes out again, with a Retire
    // Prior To the frame format allows.
    local.on_lost(first[0]);
    let (frames, _) = local_frames(&mut local, 1200);
    assert_eq!(seqs(&frames), [1]);
    assert_eq!(frames[0].retire_prior_to, v(1));
    // No second rotation until the peer retired the old IDs.
    assert!(!local.rotate(&mut src));
    local
        .on_retire_connection_id(v(0), &cid_n(2), &mut src)
        .unwrap();
    local
        .on_retire_connection_id(v(1), &cid_n(2), &mut src)
        .unwrap();
    // Retiring IDs below Retire Prior To issues no replacement.
    assert_eq!(
        events(&mut local),
        [CidEvent::Retired(cid(1)), CidEvent::Retired(cid_n(1))]
    );
    assert!(local.rotate(&mut src));
}

#[test]
fn preferred_address_takes_sequence_one() {
    let mut local = LocalCids::new(cid(1), 8);
    let mut src = Counter::default();
    let (pa, tok) = local.issue_preferred_address(&mut src).unwrap();
    assert_eq!((pa, tok), (cid_n(1), token_n(1)));
    assert!(local.issue_preferred_address(&mut src).is_none());
    local.set_peer_limit(3, &mut src);
    let (frames, _) = local_frames(&mut local, 1200);
    assert_eq!(seqs(&frames), [2]);
    // The peer may retire it although no frame carried it.
    local
        .on_retire_connection_id(v(1), &cid(1), &mut src)
        .unwrap();
}

// --------------------------------------------------------------- RemoteCids

#[test]
fn identical_new_connection_id_repeat_is_fine() {
    let mut remote = RemoteCids::new(cid(1), 4);
    remote.on_new_connection_id(&ncid(1, 0, 2)).unwrap();
    remote.on_new_connection_id(&ncid(1, 0, 2)).unwrap();
    assert_eq!(remote.len(), 2);
}

#[test]
fn duplicate_sequence_with_different_cid_is_protocol_violation() {
    let mut remote = RemoteCids::new(cid(1), 4);
    remote.on_new_connection_id(&ncid(1, 0, 2)).unwrap();
    let e = remote.on_new_connection_id(&ncid(1, 0, 3)).unwrap_err();
    assert_eq!(e.code, TransportErrorCode::PROTOCOL_VIOLATION);
    assert_eq!(e.frame_type, Some(FrameType::NEW_CONNECTION_ID));
    let mut other_token = ncid(1, 0, 2);
    other_token.reset_token = token(9);
    let e = remote.on_new_connection_id(&other_token).unwrap_err();
    assert_eq!(e.code, TransportErrorCode::PROTOCOL_VIOLATION);
}

#[test]
fn same_cid_or_token_under_another_sequence_is_protocol_violation() {
    let mut remote = RemoteCids::new(cid(1), 4);
    remote.on_new_connection_id(&ncid(1, 0, 2)).unwrap();
    let e = remote.on_new_connection_id(&ncid(2, 0, 2)).unwrap_err();
    assert_eq!(e.code, TransportErrorCode::PROTOCOL_VIOLATION);
    let mut same_token = ncid(2, 0, 3);
    same_token.reset_token = token(2);
    let e = remote.on_new_connection_id(&same_token).unwrap_err();
    assert_eq!(e.code, TransportErrorCode::PROTOCOL_VIOLATION);
}

#[test]
fn exceeding_our_limit_is_connection_id_limit_error() {
    let mut remote = RemoteCids::new(cid(1), 2);
    remote.on_new_connection_id(&ncid(1, 0, 2)).unwrap();
    let e = remote.on_new_connection_id(&ncid(2, 0, 3)).unwrap_err();
    assert_eq!(e.code, TransportErrorCode::CONNECTION_ID_LIMIT_ERROR);
}

#[test]
fn the_pool_stays_within_the_limit_even_if_errors_are_ignored() {
    let mut remote = RemoteCids::new(cid(1), 2);
    remote.on_new_connection_id(&ncid(21, 0, 2)).unwrap();
    for seq in 22..30 {
        let e = remote
            .on_new_connection_id(&ncid(seq, 0, seq as u8))
            .unwrap_err();
        assert_eq!(e.code, TransportErrorCode::CONNECTION_ID_LIMIT_ERROR);
        assert_eq!(remote.len(), 2);
    }
}

#[test]
fn ids_being_retired_do_not_count_against_our_limit() {
    let mut remote = RemoteCids::new(cid(1), 2);
    remote.on_new_connection_id(&ncid(1, 0, 2)).unwrap();
    // RFC 9000 §5.1.1: a peer may exceed our limit if Retire Prior To
    // retires the excess.
    remote.on_new_connection_id(&ncid(2, 1, 3)).unwrap();
    assert_eq!(remote.len(), 2);
    assert_eq!(remote.pending_retires(), 1);
}

#[test]
fn retire_prior_to_switches_the_active_id_and_queues_retire_frames() {
    let mut remote = RemoteCids::new(cid(1), 4);
    remote.on_new_connection_id(&ncid(1, 0, 2)).unwrap();
    remote.on_new_connection_id(&ncid(2, 0, 3)).unwrap();
    remote.on_new_connection_id(&ncid(3, 2, 4)).unwrap();
    assert_eq!(remote.active(), cid(3));
    assert_eq!(remote.active_sequence(), 2);
    assert_eq!(remote.retire_prior_to(), 2);
    assert_eq!(remote.len(), 2);
    let (retired, records) = remote_frames(&mut remote, 1200);
    assert_eq!(retired, [0, 1]);
    assert!(!remote.has_pending_frames());
    for r in records {
        remote.on_acked(r);
    }
    assert_eq!(remote.pending_retires(), 0);
    // A smaller Retire Prior To later has no effect.
    remote.on_new_connection_id(&ncid(4, 1, 5)).unwrap();
    assert_eq!(remote.len(), 3);
    assert_eq!(remote.pending_retires(), 0);
}

#[test]
fn retire_prior_to_covering_everything_uses_the_new_id() {
    let mut remote = RemoteCids::new(cid(1), 2);
    remote.on_new_connection_id(&ncid(5, 5, 6)).unwrap();
    assert_eq!(remote.active(), cid(6));
    assert_eq!(remote.len(), 1);
    assert_eq!(remote_frames(&mut remote, 1200).0, [0]);
}

#[test]
fn stale_sequence_below_retire_prior_to_is_retired_at_once() {
    let mut remote = RemoteCids::new(cid(1), 4);
    remote.on_new_connection_id(&ncid(3, 3, 4)).unwrap();
    remote_frames(&mut remote, 1200);
    remote.on_new_connection_id(&ncid(2, 0, 3)).unwrap();
    assert_eq!(remote.len(), 1);
    assert_eq!(remote.active(), cid(4));
    let (retired, _) = remote_frames(&mut remote, 1200);
    assert_eq!(retired, [2]);
    // A repeat while the frame is owed queues nothing more.
    remote.on_new_connection_id(&ncid(2, 0, 3)).unwrap();
    assert_eq!(remote.pending_retires(), 2);
}

#[test]
fn too_many_pending_retirements_is_connection_id_limit_error() {
    let mut remote = RemoteCids::new(cid(1), 2);
    assert_eq!(remote.max_pending_retires(), 4);
    remote.on_new_connection_id(&ncid(100, 100, 100)).unwrap();
    for seq in 1..4 {
        remote
            .on_new_connection_id(&ncid(seq, 0, seq as u8))
            .unwrap();
    }
    assert_eq!(remote.pending_retires(), 4);
    let e = remote.on_new_connection_id(&ncid(4, 0, 4)).unwrap_err();
    assert_eq!(e.code, TransportErrorCode::CONNECTION_ID_LIMIT_ERROR);
}

#[test]
fn lost_retire_connection_id_is_resent_until_acknowledged() {
    let mut remote = RemoteCids::new(cid(1), 4);
    remote.on_new_connection_id(&ncid(1, 1, 2)).unwrap();
    let (_, records) = remote_frames(&mut remote, 1200);
    remote.on_lost(records[0]);
    let (retired, again) = remote_frames(&mut remote, 1200);
    assert_eq!(retired, [0]);
    remote.on_acked(again[0]);
    remote.on_lost(records[0]);
    assert!(!remote.has_pending_frames());
    assert_eq!(remote.pending_retires(), 0);
}

#[test]
fn retire_frames_respect_the_budget() {
    let mut remote = RemoteCids::new(cid(1), 4);
    remote.on_new_connection_id(&ncid(1, 1, 2)).unwrap();
    assert!(remote_frames(&mut remote, 1).0.is_empty());
    assert_eq!(remote_frames(&mut remote, 2).0, [0]);
}

#[test]
fn rotate_switches_to_a_spare_and_retires_the_old_id() {
    let mut remote = RemoteCids::new(cid(1), 4);
    assert_eq!(remote.rotate(), None);
    remote.on_new_connection_id(&ncid(1, 0, 2)).unwrap();
    assert_eq!(remote.rotate(), Some(cid(2)));
    assert_eq!(remote.spare_count(), 0);
    let (retired, records) = remote_frames(&mut remote, 1200);
    assert_eq!(retired, [0]);
    remote.on_acked(records[0]);
    // A retransmitted NEW_CONNECTION_ID for a retired ID does not revive it.
    remote.on_new_connection_id(&ncid(2, 0, 3)).unwrap();
    assert_eq!(remote.rotate(), Some(cid(3)));
    remote.on_new_connection_id(&ncid(1, 0, 2)).unwrap();
    assert_eq!(remote.len(), 1);
    assert_eq!(remote_frames(&mut remote, 1200).0, [1]);
}

#[test]
fn stateless_reset_matches_only_used_unretired_ids() {
    let mut remote = RemoteCids::new(cid(1), 4);
    assert!(!remote.is_stateless_reset(&token(1)));
    remote.set_initial_reset_token(token(1));
    assert!(remote.is_stateless_reset(&token(1)));
    remote.on_new_connection_id(&ncid(1, 0, 2)).unwrap();
    // A spare we never sent with is not checked (RFC 9000 §10.3.1).
    assert!(!remote.is_stateless_reset(&token(2)));
    remote.rotate().unwrap();
    assert!(remote.is_stateless_reset(&token(2)));
    assert_eq!(remote.active_reset_token(), Some(token(2)));
    // Retired: no longer checked.
    assert!(!remote.is_stateless_reset(&token(1)));
    assert!(!remote.is_stateless_reset(&token(3)));
}

#[test]
fn update_initial_replaces_the_clients_random_dcid() {
    let mut remote = RemoteCids::new(cid(0xaa), 4);
    remote.update_initial(cid(1));
    assert_eq!(remote.active(), cid(1));
    assert_eq!(remote.active_sequence(), 0);
}

#[test]
fn zero_length_remote_ids_reject_new_connection_id() {
    let mut remote = RemoteCids::new(cid(0xaa), 4);
    remote.update_initial(ConnectionId::EMPTY);
    assert!(remote.is_zero_length());
    let e = remote.on_new_connection_id(&ncid(1, 0, 2)).unwrap_err();
    assert_eq!(e.code, TransportErrorCode::PROTOCOL_VIOLATION);
    assert_eq!(remote.rotate(), None);
    let e = remote
        .insert_preferred_address(cid(2), token(2))
        .unwrap_err();
    assert_eq!(e.code, TransportErrorCode::TRANSPORT_PARAMETER_ERROR);
    assert!(!remote.has_pending_frames());
}

#[test]
fn preferred_address_is_a_spare_with_sequence_one() {
    let mut remote = RemoteCids::new(cid(1), 2);
    let e = remote
        .insert_preferred_address(ConnectionId::EMPTY, token(2))
        .unwrap_err();
    assert_eq!(e.code, TransportErrorCode::TRANSPORT_PARAMETER_ERROR);
    remote.insert_preferred_address(cid(2), token(2)).unwrap();
    assert_eq!(remote.spare_count(), 1);
    // The same ID repeated in a NEW_CONNECTION_ID frame is fine.
    remote.on_new_connection_id(&ncid(1, 0, 2)).unwrap();
    assert_eq!(remote.rotate(), Some(cid(2)));
}

#[test]
fn limits_are_clamped() {
    assert_eq!(RemoteCids::new(cid(1), 0).limit(), 2);
    assert_eq!(
        RemoteCids::new(cid(1), u64::MAX).limit(),
        MAX_ACTIVE_CID_LIMIT
    );
}

// ------------------------------------------------------------ properties

#[derive(Clone, Debug)]
enum Op {
    /// A NEW_CONNECTION_ID frame from an arbitrary peer.
    New {
        seq: u64,
        rpt: u64,
        id: u8,
        tok: u8,
    },
    /// A RETIRE_CONNECTION_ID frame from an arbitrary peer.
    Retire {
        seq: u64,
        dcid: u8,
    },
    WriteLocal {
        budget: usize,
        fate: u8,
    },
    WriteRemote {
        budget: usize,
        fate: u8,
    },
    RotateLocal,
    RotateRemote,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u64..40, 0u64..40, 0u8..24, 0u8..24)
            .prop_map(|(seq, rpt, id, tok)| Op::New { seq, rpt: rpt.min(seq), id, tok }),
        3 => (0u64..40, 0u8..8).prop_map(|(seq, dcid)| Op::Retire { seq, dcid }),
        2 => (0usize..80, 0u8..3).prop_map(|(budget, fate)| Op::WriteLocal { budget, fate }),
        2 => (0usize..80, 0u8..3).prop_map(|(budget, fate)| Op::WriteRemote { budget, fate }),
        1 => Just(Op::RotateLocal),
        1 => Just(Op::RotateRemote),
    ]
}

fn settle(records: Vec<CidRecord>, fate: u8, local: &mut LocalCids, remote: &mut RemoteCids) {
    for r in records {
        if fate == 0 {
            local.on_acked(r);
            remote.on_acked(r);
        } else {
            local.on_lost(r);
            remote.on_lost(r);
        }
    }
}

proptest! {
    /// Arbitrary NEW/RETIRE sequences from a hostile peer never panic, and
    /// memory stays bounded whatever the outcome.
    #[test]
    fn random_frames_never_panic_and_memory_stays_bounded(
        limit in 2u64..6,
        ops in proptest::collection::vec(op(), 0..120),
    ) {
        let mut src = Counter::default();
        let mut local = LocalCids::new(cid(200), 4);
        local.set_peer_limit(limit, &mut src);
        let mut remote = RemoteCids::new(cid(201), limit);
        for op in ops {
            match op {
                Op::New { seq, rpt, id, tok } => {
                    let f = NewConnectionId {
                        sequence: v(seq),
                        retire_prior_to: v(rpt),
                        cid: cid(id),
                        reset_token: token(tok),
                    };
                    let _ = remote.on_new_connection_id(&f);
                }
                Op::Retire { seq, dcid } => {
                    let dcid = local.iter().nth(dcid.into()).map_or(cid(0), |(_, c)| c);
                    let _ = local.on_retire_connection_id(v(seq), &dcid, &mut src);
                }
                Op::WriteLocal { budget, fate } => {
                    let (_, records) = local_frames(&mut local, budget);
                    settle(records, fate, &mut local, &mut remote);
                }
                Op::WriteRemote { budget, fate } => {
                    let (_, records) = remote_frames(&mut remote, budget);
                    settle(records, fate, &mut local, &mut remote);
                }
                Op::RotateLocal => {
                    local.rotate(&mut src);
                }
                Op::RotateRemote => {
                    remote.rotate();
                }
            }
            while local.poll_event().is_some() {}
            prop_assert!(remote.len() as u64 <= remote.limit());
            prop_assert!(remote.pending_retires() as u64 <= remote.max_pending_retires());
            prop_assert!(remote.retired_memory() as u64 <= remote.max_pending_retires());
            prop_assert!(local.iter().count() as u64 <= 2 * 4);
        }
    }

    /// Between two well-behaved ends over a lossy channel, no error ever
    /// happens and the peer only ever uses IDs we still route.
    #[test]
    fn honest_peers_never_fail_and_always_use_routed_ids(
        limit in 2u64..6,
        ops in proptest::collection::vec(
            prop_oneof![
                3 => (0usize..80, 0u8..3).prop_map(|(budget, fate)| Op::WriteLocal { budget, fate }),
                3 => (0usize..80, 0u8..3).prop_map(|(budget, fate)| Op::WriteRemote { budget, fate }),
                1 => Just(Op::RotateLocal),
                1 => Just(Op::RotateRemote),
            ],
            0..150,
        ),
    ) {
        let mut src = Counter::default();
        let mut local = LocalCids::new(cid(200), 8);
        let mut remote = RemoteCids::new(cid(200), limit);
        local.set_peer_limit(remote.limit(), &mut src);
        let mut routed: std::collections::HashSet<ConnectionId> = Default::default();
        for op in ops {
            match op {
                Op::WriteLocal { budget, fate } => {
                    let (frames, records) = local_frames(&mut local, budget);
                    // fate 0: delivered and acked; 1: lost; 2: delivered, ACK lost.
                    if fate != 1 {
                        for f in &frames {
                            prop_assert_eq!(remote.on_new_connection_id(f), Ok(()));
                        }
                    }
                    settle(records, fate.min(1), &mut local, &mut remote);
                }
                Op::WriteRemote { budget, fate } => {
                    let dcid = remote.active();
                    let (seqs, records) = remote_frames(&mut remote, budget);
                    if fate != 1 {
                        for s in seqs {
                            prop_assert_eq!(
                                local.on_retire_connection_id(v(s), &dcid, &mut src),
                                Ok(())
                            );
                        }
                    }
                    settle(records, fate.min(1), &mut local, &mut remote);
                }
                // We rotate only while the peer has fewer than `limit`
                // RETIRE_CONNECTION_ID frames unacknowledged: rotations are
                // rare, acknowledgements come within round trips. (A peer
                // whose ACKs never arrive can be pushed past any bound.)
                Op::RotateLocal if (remote.pending_retires() as u64) < remote.limit() => {
                    local.rotate(&mut src);
                }
                Op::RotateRemote => {
                    remote.rotate();
                }
                _ => {}
            }
            while let Some(ev) = local.poll_event() {
                match ev {
                    CidEvent::Issued(c) => prop_assert!(routed.insert(c)),
                    CidEvent::Retired(c) => prop_assert!(routed.remove(&c)),
                }
            }
            prop_assert!(routed.contains(&remote.active()));
            prop_assert_eq!(routed.len(), local.iter().count());
        }
    }
}
