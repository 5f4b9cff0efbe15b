//! The connection IDs the peer issued to us (RFC 9000 §5.1.2, §10.3.1,
//! §19.15, §19.16).

use smallvec::SmallVec;

use super::{CidRecord, MAX_ACTIVE_CID_LIMIT};
use crate::coding::{Encode, Encoder, VarInt};
use crate::frame::{Frame, FrameType, NewConnectionId};
use crate::{ConnectionId, StatelessResetToken, TransportError, TransportErrorCode};

/// One ID the peer issued that we have not retired.
#[derive(Clone, Copy, Debug)]
struct Spare {
    sequence: u64,
    cid: ConnectionId,
    /// Unknown for the handshake ID until the server's transport parameters
    /// arrive, and always for a client's ID.
    token: Option<StatelessResetToken>,
    /// Whether we have sent packets with it (RFC 9000 §10.3.1 checks only
    /// the tokens of IDs in use).
    used: bool,
}

/// A RETIRE_CONNECTION_ID frame we owe the peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Retiring {
    sequence: u64,
    in_flight: bool,
}

/// The connection IDs the peer issued to us: the active one, used as the
/// Destination Connection ID of every packet we send, and spares.
///
/// Holds at most `limit` IDs (our active_connection_id_limit), at most
/// `2 * limit` RETIRE_CONNECTION_ID frames not yet acknowledged, and a
/// bounded memory of sequence numbers we retired, so that a retransmitted
/// NEW_CONNECTION_ID frame cannot bring a retired ID back.
#[derive(Debug)]
pub struct RemoteCids {
    /// Not retired, in sequence order; always holds the active ID.
    pool: Vec<Spare>,
    /// The sequence number of the active ID.
    active: u64,
    /// Our active_connection_id_limit.
    limit: u64,
    /// The largest Retire Prior To received (RFC 9000 §19.15).
    largest_retire_prior_to: u64,
    /// Every sequence number below this is retired, or is retired on sight.
    retired_floor: u64,
    /// Sequence numbers at or above the floor we retired, ascending.
    retired_above: SmallVec<[u64; 4]>,
    /// RETIRE_CONNECTION_ID frames to write or waiting for an ACK.
    retiring: Vec<Retiring>,
    /// Counts the calls that may have changed the stored IDs or the active
    /// one; see [`RemoteCids::changes`].
    changes: u32,
}

impl RemoteCids {
    /// The peer's IDs, starting with `initial`: the Destination Connection
    /// ID of our first packets (for a server, the client's Source Connection
    /// ID, sequence 0; for a client, the random initial DCID until
    /// [`RemoteCids::update_initial`]). `limit` is the
    /// active_connection_id_limit we advertise, clamped to
    /// `2..=`[`MAX_ACTIVE_CID_LIMIT`]; advertise [`RemoteCids::limit`].
    pub fn new(initial: ConnectionId, limit: u64) -> Self {
        Self {
            pool: vec![Spare {
                sequence: 0,
                cid: initial,
                token: None,
                used: true,
            }],
            active: 0,
            // RFC 9000 §18.2: "The value of the active_connection_id_limit
            // parameter MUST be at least 2."
            limit: limit.clamp(2, MAX_ACTIVE_CID_LIMIT),
            largest_retire_prior_to: 0,
            retired_floor: 0,
            retired_above: SmallVec::new(),
            retiring: Vec::new(),
            changes: 0,
        }
    }

    /// The active_connection_id_limit enforced (RFC 9000 §18.2).
    pub const fn limit(&self) -> u64 {
        self.limit
    }

    /// The bound on RETIRE_CONNECTION_ID frames tracked at once: twice the
    /// limit (RFC 9000 §5.1.2: "SHOULD allow for sending and tracking a
    /// number of RETIRE_CONNECTION_ID frames of at least twice the value of
    /// the active_connection_id_limit transport parameter").
    pub const fn max_pending_retires(&self) -> u64 {
        self.limit.saturating_mul(2)
    }

    /// The Destination Connection ID to send with.
    pub fn active(&self) -> ConnectionId {
        self.active_entry().map_or(ConnectionId::EMPTY, |s| s.cid)
    }

    /// The sequence number of [`RemoteCids::active`].
    pub const fn active_sequence(&self) -> u64 {
        self.active
    }

    /// The stateless reset token of the active ID, when known; the endpoint
    /// may want it to match resets that arrive with an unknown DCID.
    pub fn active_reset_token(&self) -> Option<StatelessResetToken> {
        self.active_entry().and_then(|s| s.token)
    }

    /// A number that changes with every call that may change the stored
    /// IDs or which one is active (and so [`RemoteCids::active`] or
    /// [`RemoteCids::active_reset_token`]): while it stays the same, they
    /// do too, and a caller need not read them again.
    pub const fn changes(&self) -> u32 {
        self.changes
    }

    /// How many IDs are stored: the active one and the spares.
    pub fn len(&self) -> usize {
        self.pool.len()
    }

    /// Whether no ID is stored; never true in practice, as the active ID
    /// is always kept.
    pub fn is_empty(&self) -> bool {
        self.pool.is_empty()
    }

    /// How many unused IDs are ready for a switch or a new path.
    pub fn spare_count(&self) -> usize {
        self.pool.len().saturating_sub(1)
    }

    /// How many RETIRE_CONNECTION_ID frames are owed or unacknowledged.
    pub fn pending_retires(&self) -> usize {
        self.retiring.len()
    }

    /// The largest Retire Prior To the peer sent.
    pub const fn retire_prior_to(&self) -> u64 {
        self.largest_retire_prior_to
    }

    /// Whether the peer uses zero-length IDs (our active DCID is empty).
    pub fn is_zero_length(&self) -> bool {
        self.active().is_empty()
    }

    /// Replaces the handshake ID (sequence 0) with `cid`: on a client, the
    /// server's Source Connection ID from its first Initial or Retry packet
    /// replaces the random initial DCID (RFC 9000 §7.2). The connection
    /// enforces §7.2's "only the first" rules; a zero-length `cid` means the
    /// server uses zero-length IDs from now on.
    pub fn update_initial(&mut self, cid: ConnectionId) {
        self.changes = self.changes.wrapping_add(1);
        if let Some(s) = self.pool.iter_mut().find(|s| s.sequence == 0) {
            s.cid = cid;
        }
    }

    /// Records the server's stateless_reset_token transport parameter, the
    /// token of sequence 0 (RFC 9000 §10.3, §18.2).
    pub fn set_initial_reset_token(&mut self, token: StatelessResetToken) {
        self.changes = self.changes.wrapping_add(1);
        if let Some(s) = self.pool.iter_mut().find(|s| s.sequence == 0) {
            s.token = Some(token);
        }
    }

    /// Stores the ID of the server's preferred_address transport parameter,
    /// sequence 1 (RFC 9000 §5.1.1), as a spare.
    ///
    /// RFC 9000 §18.2: "A server that chooses a zero-length connection ID
    /// MUST NOT provide a preferred address. Similarly, a server MUST NOT
    /// include a zero-length connection ID in this transport parameter. A
    /// client MUST treat a violation of these requirements as a connection
    /// error of type TRANSPORT_PARAMETER_ERROR."
    pub fn insert_preferred_address(
        &mut self,
        cid: ConnectionId,
        token: StatelessResetToken,
    ) -> Result<(), TransportError> {
        self.changes = self.changes.wrapping_add(1);
        if self.is_zero_length() || cid.is_empty() {
            return Err(TransportError::transport_parameter(
                "preferred_address with a zero-length connection ID",
            ));
        }
        self.check_consistent(1, &cid, &token)
            .map_err(|e| TransportError::transport_parameter(e.reason))?;
        self.accept(1, cid, token)
    }

    /// Handles a NEW_CONNECTION_ID frame (RFC 9000 §19.15).
    ///
    /// Retire Prior To is applied first: every stored ID below it is retired,
    /// the active one included, before the new ID is added (RFC 9000 §5.1.2);
    /// if the active ID was retired, the lowest remaining one takes its
    /// place. An ID below the largest Retire Prior To, or one we already
    /// retired, is retired at once without being stored. A repeated frame is
    /// harmless.
    pub fn on_new_connection_id(&mut self, frame: &NewConnectionId) -> Result<(), TransportError> {
        self.changes = self.changes.wrapping_add(1);
        let sequence = frame.sequence.into_inner();
        let retire_prior_to = frame.retire_prior_to.into_inner();
        // RFC 9000 §19.15: "An endpoint that is sending packets with a
        // zero-length Destination Connection ID MUST treat receipt of a
        // NEW_CONNECTION_ID frame as a connection error of type
        // PROTOCOL_VIOLATION."
        if self.is_zero_length() {
            return Err(violation("NEW_CONNECTION_ID while using zero-length IDs"));
        }
        // RFC 9000 §19.15: Retire Prior To above the Sequence Number "MUST be
        // treated as a connection error of type FRAME_ENCODING_ERROR". The
        // frame decoder checks it already; this keeps the type honest for
        // frames built by hand.
        if retire_prior_to > sequence {
            return Err(TransportError::frame_encoding(
                "NEW_CONNECTION_ID retire_prior_to above sequence number",
            )
            .with_frame(FrameType::NEW_CONNECTION_ID));
        }
        self.check_consistent(sequence, &frame.cid, &frame.reset_token)?;
        // RFC 9000 §19.15: "A receiver MUST ignore any Retire Prior To fields
        // that do not increase the largest received Retire Prior To value."
        if retire_prior_to > self.largest_retire_prior_to {
            self.largest_retire_prior_to = retire_prior_to;
            self.retire_below(retire_prior_to)?;
        }
        self.accept(sequence, frame.cid, frame.reset_token)
    }

    /// Switches to the lowest spare ID and retires the active one, for
    /// instance on migration (RFC 9000 §5.1.2, §9.5). Returns the new
    /// Destination Connection ID, or `None` with zero-length IDs, without a
    /// spare, or while `limit` or more RETIRE_CONNECTION_ID frames are
    /// unacknowledged: our own switches use at most half of
    /// [`RemoteCids::max_pending_retires`], so that the other half is free
    /// for a Retire Prior To from the peer, which can retire up to `limit`
    /// IDs at once.
    pub fn rotate(&mut self) -> Option<ConnectionId> {
        self.changes = self.changes.wrapping_add(1);
        if self.is_zero_length() || self.retiring.len() as u64 >= self.limit {
            return None;
        }
        let next = self
            .pool
            .iter()
            .find(|s| s.sequence != self.active)?
            .sequence;
        let old = self.active;
        self.pool.retain(|s| s.sequence != old);
        // Cannot fail: fewer than `limit` are queued, half the bound.
        self.queue_retire(old).ok()?;
        self.activate(next)
    }

    /// Whether `token` (the last 16 bytes of a datagram) is the stateless
    /// reset token of an ID we have used and not retired (RFC 9000
    /// §10.3.1).
    ///
    /// Each comparison is constant-time and every candidate is compared
    /// ("endpoints MUST perform the comparison without leaking information
    /// about the value of the token"). Spares we never sent with are not
    /// candidates: "An endpoint MUST NOT check for any stateless reset tokens
    /// associated with connection IDs it has not used or for connection IDs
    /// that have been retired."
    pub fn is_stateless_reset(&self, token: &StatelessResetToken) -> bool {
        self.pool
            .iter()
            .filter(|s| s.used)
            .filter_map(|s| s.token.as_ref())
            .fold(false, |found, t| found | (t == token))
    }

    /// Whether a RETIRE_CONNECTION_ID frame is waiting to be written.
    pub fn has_pending_frames(&self) -> bool {
        self.retiring.iter().any(|r| !r.in_flight)
    }

    /// Writes pending RETIRE_CONNECTION_ID frames into `e`, using at most
    /// `budget` bytes; pushes one record per frame and returns the bytes
    /// written.
    pub fn write_frames<E: Encoder + ?Sized>(
        &mut self,
        e: &mut E,
        budget: usize,
        records: &mut impl Extend<CidRecord>,
    ) -> usize {
        let mut written: usize = 0;
        for r in self.retiring.iter_mut().filter(|r| !r.in_flight) {
            let frame = Frame::RetireConnectionId {
                sequence: VarInt::saturating(r.sequence),
            };
            let len = frame.encoded_len();
            match written.checked_add(len) {
                Some(total) if total <= budget => written = total,
                _ => continue,
            }
            frame.encode(e);
            r.in_flight = true;
            records.extend(Some(CidRecord::RetireConnectionId {
                sequence: r.sequence,
            }));
        }
        written
    }

    /// The packet carrying the frame in `record` was acknowledged: the
    /// retirement is complete. Records of NEW_CONNECTION_ID frames are
    /// ignored.
    pub fn on_acked(&mut self, record: CidRecord) {
        if let CidRecord::RetireConnectionId { sequence } = record {
            self.retiring.retain(|r| r.sequence != sequence);
        }
    }

    /// The packet carrying the frame in `record` was declared lost: write
    /// the frame again, unless another copy was acknowledged (RFC 9000
    /// §13.3: "Retired connection IDs are sent in RETIRE_CONNECTION_ID
    /// frames and retransmitted if the packet containing them is lost").
    /// Records of NEW_CONNECTION_ID frames are ignored.
    pub fn on_lost(&mut self, record: CidRecord) {
        if let CidRecord::RetireConnectionId { sequence } = record {
            if let Some(r) = self.retiring.iter_mut().find(|r| r.sequence == sequence) {
                r.in_flight = false;
            }
        }
    }

    /// How many retired sequence numbers above the floor are remembered.
    #[cfg(test)]
    pub(super) fn retired_memory(&self) -> usize {
        self.retired_above.len()
    }

    fn active_entry(&self) -> Option<&Spare> {
        self.pool.iter().find(|s| s.sequence == self.active)
    }

    /// Rejects a frame that contradicts what we hold.
    fn check_consistent(
        &self,
        sequence: u64,
        cid: &ConnectionId,
        token: &StatelessResetToken,
    ) -> Result<(), TransportError> {
        for s in &self.pool {
            if s.sequence == sequence {
                // RFC 9000 §19.15: "if a sequence number is used for
                // different connection IDs, the endpoint MAY treat that
                // receipt as a connection error of type PROTOCOL_VIOLATION";
                // likewise a repeated ID "with a different Stateless Reset
                // Token field value".
                let same_token = s.token.as_ref().is_none_or(|t| t == token);
                if s.cid != *cid || !same_token {
                    return Err(violation("sequence number reused for a different ID"));
                }
            } else if s.cid == *cid {
                // RFC 9000 §19.15: a repeated connection ID "with a different
                // Sequence Number field value".
                return Err(violation("connection ID repeated with another sequence"));
            } else if s.token.as_ref() == Some(token) {
                // RFC 9000 §10.3.2: "The same stateless reset token MUST NOT
                // be used for multiple connection IDs. [...] a duplicate
                // value MAY be treated as a connection error of type
                // PROTOCOL_VIOLATION."
                return Err(violation("stateless reset token reused"));
            }
        }
        Ok(())
    }

    /// Stores a consistent new ID, or retires it at once if it is stale.
    fn accept(
        &mut self,
        sequence: u64,
        cid: ConnectionId,
        token: StatelessResetToken,
    ) -> Result<(), TransportError> {
        if self.is_retired(sequence) {
            // RFC 9000 §19.15: "An endpoint that receives a NEW_CONNECTION_ID
            // frame with a sequence number smaller than the Retire Prior To
            // field of a previously received NEW_CONNECTION_ID frame MUST
            // send a corresponding RETIRE_CONNECTION_ID frame that retires
            // the newly received connection ID, unless it has already done
            // so for that sequence number."
            self.queue_retire(sequence)?;
        } else if let Err(at) = self.pool.binary_search_by_key(&sequence, |s| s.sequence) {
            // RFC 9000 §5.1.1: "After processing a NEW_CONNECTION_ID frame
            // and adding and retiring active connection IDs, if the number of
            // active connection IDs exceeds the value advertised in its
            // active_connection_id_limit transport parameter, an endpoint
            // MUST close the connection with an error of type
            // CONNECTION_ID_LIMIT_ERROR." Retire Prior To was applied
            // already; checking before the insertion keeps the pool bounded
            // even if the caller ignores the error.
            if self.pool.len() as u64 >= self.limit {
                return Err(limit_error("more active connection IDs than our limit"));
            }
            self.pool.insert(
                at,
                Spare {
                    sequence,
                    cid,
                    token: Some(token),
                    used: false,
                },
            );
        }
        if self.active_entry().is_none() {
            let lowest = self.pool.first().map(|s| s.sequence);
            lowest
                .and_then(|seq| self.activate(seq))
                .ok_or(violation("retire_prior_to left no connection ID to use"))?;
        }
        Ok(())
    }

    /// Retires every stored ID below `retire_prior_to` (RFC 9000 §5.1.2:
    /// "the peer MUST stop using the corresponding connection IDs and retire
    /// them with RETIRE_CONNECTION_ID frames").
    fn retire_below(&mut self, retire_prior_to: u64) -> Result<(), TransportError> {
        while let Some(first) = self.pool.first().map(|s| s.sequence) {
            if first >= retire_prior_to {
                break;
            }
            self.pool.remove(0);
            self.queue_retire(first)?;
        }
        self.mark_retired_below(retire_prior_to);
        Ok(())
    }

    fn activate(&mut self, sequence: u64) -> Option<ConnectionId> {
        let s = self.pool.iter_mut().find(|s| s.sequence == sequence)?;
        s.used = true;
        self.active = sequence;
        Some(s.cid)
    }

    fn retiring_is_full(&self) -> bool {
        self.retiring.len() as u64 >= self.max_pending_retires()
    }

    /// Owes the peer a RETIRE_CONNECTION_ID frame for `sequence`, once.
    fn queue_retire(&mut self, sequence: u64) -> Result<(), TransportError> {
        self.mark_retired(sequence);
        if self.retiring.iter().any(|r| r.sequence == sequence) {
            return Ok(());
        }
        // RFC 9000 §5.1.2: an endpoint "MAY choose to treat having connection
        // IDs in need of retirement that exceed this limit as a connection
        // error of type CONNECTION_ID_LIMIT_ERROR".
        if self.retiring_is_full() {
            return Err(limit_error("too many connection IDs awaiting retirement"));
        }
        self.retiring.push(Retiring {
            sequence,
            in_flight: false,
        });
        Ok(())
    }

    fn is_retired(&self, sequence: u64) -> bool {
        sequence < self.retired_floor || self.retired_above.binary_search(&sequence).is_ok()
    }

    fn mark_retired(&mut self, sequence: u64) {
        if let Err(at) = self.retired_above.binary_search(&sequence) {
            if sequence >= self.retired_floor {
                self.retired_above.insert(at, sequence);
            }
        }
        self.compact_retired();
    }

    fn mark_retired_below(&mut self, floor: u64) {
        self.retired_floor = self.retired_floor.max(floor);
        self.compact_retired();
    }

    /// Folds the retired sequence numbers that continue the floor into it
    /// and bounds the rest. Past the bound the lowest is forgotten: it can
    /// only come back through a NEW_CONNECTION_ID retransmitted after a
    /// voluntary switch while a lower sequence number was still missing.
    fn compact_retired(&mut self) {
        let floor = self.retired_floor;
        self.retired_above.retain(|s| *s >= floor);
        let mut dropped = 0;
        for s in &self.retired_above {
            if *s != self.retired_floor {
                break;
            }
            self.retired_floor = self.retired_floor.saturating_add(1);
            dropped += 1;
        }
        self.retired_above.drain(..dropped);
        let cap = usize::try_from(self.max_pending_retires()).unwrap_or(usize::MAX);
        if self.retired_above.len() > cap {
            self.retired_above.remove(0);
        }
    }
}

fn violation(reason: &'static str) -> TransportError {
    TransportError::protocol_violation(reason).with_frame(FrameType::NEW_CONNECTION_ID)
}

fn limit_error(reason: &'static str) -> TransportError {
    TransportError::new(TransportErrorCode::CONNECTION_ID_LIMIT_ERROR, reason)
        .with_frame(FrameType::NEW_CONNECTION_ID)
}
