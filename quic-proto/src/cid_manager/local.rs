//! The connection IDs we issue (RFC 9000 §5.1.1, §19.15, §19.16).

use std::collections::VecDeque;

use super::{CidEvent, CidRecord, CidSource, MAX_ACTIVE_CID_LIMIT};
use crate::coding::{Encode, Encoder, VarInt};
use crate::frame::{FrameType, NewConnectionId};
use crate::{ConnectionId, StatelessResetToken, TransportError};

/// Where a NEW_CONNECTION_ID frame for one of our IDs stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Delivery {
    /// Not yet written, or lost: write it.
    Pending,
    /// Written, waiting for an acknowledgement or a loss.
    InFlight,
    /// Acknowledged, or delivered by the handshake (sequence 0, the
    /// preferred address): never written again.
    Delivered,
}

/// One ID we issued and the peer has not retired.
#[derive(Clone, Copy, Debug)]
struct Issued {
    sequence: u64,
    cid: ConnectionId,
    token: StatelessResetToken,
    delivery: Delivery,
}

/// The connection IDs we issued to the peer and still accept.
///
/// Sequence 0 is the Source Connection ID of our handshake packets (RFC 9000
/// §5.1.1); its reset token, if any, travels in the server's transport
/// parameters and is not kept here. Further IDs are issued once the peer's
/// `active_connection_id_limit` is known ([`LocalCids::set_peer_limit`]), up
/// to the smaller of that limit and our own cap, and each one the peer
/// retires is replaced.
///
/// An ID stays here, and routed, until the peer retires it with
/// RETIRE_CONNECTION_ID (RFC 9000 §5.1.1: an issued ID is accepted "until
/// its peer invalidates the connection ID").
///
/// With a zero-length initial ID nothing is ever issued (RFC 9000 §5.1.1:
/// such an endpoint "cannot issue a new connection ID"), and a
/// RETIRE_CONNECTION_ID frame is a PROTOCOL_VIOLATION (RFC 9000 §19.16).
#[derive(Debug)]
pub struct LocalCids {
    /// Issued and not retired by the peer, in sequence order.
    issued: Vec<Issued>,
    /// Our own cap on active IDs.
    cap: u64,
    /// The peer's active_connection_id_limit; 0 until known.
    peer_limit: u64,
    /// The sequence number the next issued ID gets.
    next_sequence: u64,
    /// The largest sequence number the peer may know of: sent in a frame,
    /// in the handshake, or in the preferred address.
    largest_sent: u64,
    /// Our Retire Prior To value.
    retire_prior_to: u64,
    /// How many entries of `issued` are [`Delivery::Pending`]: kept up to
    /// date by every change of an entry's delivery, so the per-packet
    /// [`LocalCids::has_pending_frames`] does not scan.
    pending: usize,
    /// Whether our IDs are zero-length.
    zero_length: bool,
    /// Routing changes for the endpoint.
    events: VecDeque<CidEvent>,
}

impl LocalCids {
    /// Our IDs, starting with `initial`, the Source Connection ID of our
    /// handshake packets (sequence 0), with `cap` as our own limit on active
    /// IDs ([`DEFAULT_LOCAL_CAP`](super::DEFAULT_LOCAL_CAP) is a good value;
    /// it is clamped to `1..=`[`MAX_ACTIVE_CID_LIMIT`](super::MAX_ACTIVE_CID_LIMIT)).
    ///
    /// A non-empty `initial` is reported at once as [`CidEvent::Issued`].
    pub fn new(initial: ConnectionId, cap: u64) -> Self {
        let zero_length = initial.is_empty();
        let mut this = Self {
            issued: Vec::new(),
            cap: cap.clamp(1, MAX_ACTIVE_CID_LIMIT),
            peer_limit: 0,
            next_sequence: 1,
            largest_sent: 0,
            retire_prior_to: 0,
            pending: 0,
            zero_length,
            events: VecDeque::new(),
        };
        if !zero_length {
            this.issued.push(Issued {
                sequence: 0,
                cid: initial,
                // Sequence 0 is never carried in NEW_CONNECTION_ID, so its
                // token is never written; the server's one travels in its
                // transport parameters (RFC 9000 §18.2).
                token: StatelessResetToken([0; StatelessResetToken::LEN]),
                delivery: Delivery::Delivered,
            });
            this.events.push_back(CidEvent::Issued(initial));
        }
        this
    }

    /// Whether our IDs are zero-length, in which case none is ever issued.
    pub const fn is_zero_length(&self) -> bool {
        self.zero_length
    }

    /// The IDs the endpoint must route to this connection, with their
    /// sequence numbers, lowest first (for instance to remove every route
    /// when the connection ends).
    pub fn iter(&self) -> impl Iterator<Item = (u64, ConnectionId)> + '_ {
        self.issued.iter().map(|i| (i.sequence, i.cid))
    }

    /// How many IDs the peer may currently use: issued, not retired by the
    /// peer, and not below our Retire Prior To.
    pub fn active_count(&self) -> u64 {
        let n = self
            .issued
            .iter()
            .filter(|i| i.sequence >= self.retire_prior_to)
            .count();
        n as u64
    }

    /// Our current Retire Prior To value.
    pub const fn retire_prior_to(&self) -> u64 {
        self.retire_prior_to
    }

    /// The IDs issued and not retired, in sequence order: with the events
    /// drained, exactly the ones routed to this connection.
    pub fn issued_ids(&self) -> impl Iterator<Item = &ConnectionId> {
        self.issued.iter().map(|i| &i.cid)
    }

    /// Whether [`LocalCids::poll_event`] has a change to give.
    pub fn has_events(&self) -> bool {
        !self.events.is_empty()
    }

    /// The next routing change for the endpoint, oldest first.
    ///
    /// Drain these after every call that takes a [`CidSource`] or a frame;
    /// the queue holds only the changes since the last drain.
    pub fn poll_event(&mut self) -> Option<CidEvent> {
        let event = self.events.pop_front();
        if event.is_none() && self.events.capacity() > 0 {
            // Changes are rare (at the handshake and when the peer retires
            // an ID): an idle connection keeps no buffer for them.
            self.events = VecDeque::new();
        }
        event
    }

    /// Issues the ID for the server's preferred_address transport parameter,
    /// sequence 1 (RFC 9000 §5.1.1), and returns it with its reset token.
    ///
    /// `None` if our IDs are zero-length (RFC 9000 §18.2: such a server "MUST
    /// NOT provide a preferred address") or if another ID was issued
    /// already: call it right after [`LocalCids::new`].
    pub fn issue_preferred_address(
        &mut self,
        src: &mut impl CidSource,
    ) -> Option<(ConnectionId, StatelessResetToken)> {
        if self.zero_length || self.next_sequence != 1 {
            return None;
        }
        let (cid, token) = self.issue(src, Delivery::Delivered)?;
        self.largest_sent = 1;
        Some((cid, token))
    }

    /// Records the peer's active_connection_id_limit (RFC 9000 §18.2) and
    /// issues IDs up to the smaller of it and our cap.
    ///
    /// Until this is called nothing is issued. The transport-parameter
    /// decoder has already rejected values below 2.
    pub fn set_peer_limit(&mut self, limit: u64, src: &mut impl CidSource) {
        self.peer_limit = limit;
        self.replenish(src);
    }

    /// Issues new IDs until the peer has as many active ones as it and we
    /// allow (RFC 9000 §5.1.1: "An endpoint SHOULD ensure that its peer has a
    /// sufficient number of available and unused connection IDs"; "MUST NOT
    /// provide more connection IDs than the peer's limit").
    pub fn replenish(&mut self, src: &mut impl CidSource) {
        if self.zero_length {
            return;
        }
        let limit = self.peer_limit.min(self.cap);
        while self.active_count() < limit {
            if self.issue(src, Delivery::Pending).is_none() {
                return;
            }
        }
    }

    /// Asks the peer to retire every ID issued so far: the next
    /// NEW_CONNECTION_ID frames carry a Retire Prior To covering them, and
    /// fresh IDs are issued to replace them (RFC 9000 §5.1.2). The old IDs
    /// stay routed until the peer retires them.
    ///
    /// Returns `false`, doing nothing, with zero-length IDs, before the
    /// peer's limit is known, or while the previous rotation is still under
    /// way (RFC 9000 §5.1.2: "Endpoints SHOULD NOT issue updates of the
    /// Retire Prior To field before receiving RETIRE_CONNECTION_ID frames
    /// that retire all connection IDs indicated by the previous Retire Prior
    /// To value"). That rule also bounds what we hold to twice our cap.
    pub fn rotate(&mut self, src: &mut impl CidSource) -> bool {
        if self.zero_length || self.peer_limit == 0 {
            return false;
        }
        if self
            .issued
            .iter()
            .any(|i| i.sequence < self.retire_prior_to)
        {
            return false;
        }
        self.retire_prior_to = self.next_sequence;
        self.replenish(src);
        true
    }

    /// Handles a RETIRE_CONNECTION_ID frame for `sequence`, received in a
    /// packet whose Destination Connection ID was `packet_dcid`, and issues a
    /// replacement (RFC 9000 §5.1.1: "An endpoint SHOULD supply a new
    /// connection ID when the peer retires a connection ID").
    ///
    /// Retiring an ID already retired does nothing: the frame may be a
    /// retransmission.
    pub fn on_retire_connection_id(
        &mut self,
        sequence: VarInt,
        packet_dcid: &ConnectionId,
        src: &mut impl CidSource,
    ) -> Result<(), TransportError> {
        let sequence = sequence.into_inner();
        // RFC 9000 §19.16: "An endpoint that provides a zero-length
        // connection ID MUST treat receipt of a RETIRE_CONNECTION_ID frame as
        // a connection error of type PROTOCOL_VIOLATION."
        if self.zero_length {
            return Err(violation("RETIRE_CONNECTION_ID with zero-length IDs"));
        }
        // RFC 9000 §19.16: "Receipt of a RETIRE_CONNECTION_ID frame
        // containing a sequence number greater than any previously sent to
        // the peer MUST be treated as a connection error of type
        // PROTOCOL_VIOLATION."
        if sequence > self.largest_sent {
            return Err(violation("RETIRE_CONNECTION_ID for an unissued sequence"));
        }
        let Some(at) = self.issued.iter().position(|i| i.sequence == sequence) else {
            return Ok(());
        };
        let cid = self.issued.get(at).map(|i| i.cid);
        // RFC 9000 §19.16: "The sequence number specified in a
        // RETIRE_CONNECTION_ID frame MUST NOT refer to the Destination
        // Connection ID field of the packet in which the frame is contained.
        // The peer MAY treat this as a connection error of type
        // PROTOCOL_VIOLATION."
        if cid.as_ref() == Some(packet_dcid) {
            return Err(violation(
                "RETIRE_CONNECTION_ID names the packet's own DCID",
            ));
        }
        let retired = self.issued.remove(at);
        if retired.delivery == Delivery::Pending {
            self.pending -= 1;
        }
        self.debug_check_pending();
        self.events.push_back(CidEvent::Retired(retired.cid));
        self.replenish(src);
        Ok(())
    }

    /// Whether a NEW_CONNECTION_ID frame is waiting to be written.
    pub fn has_pending_frames(&self) -> bool {
        self.debug_check_pending();
        self.pending != 0
    }

    /// Checks the `pending` count against the entries (debug builds only).
    fn debug_check_pending(&self) {
        debug_assert_eq!(
            self.pending,
            self.issued
                .iter()
                .filter(|i| i.delivery == Delivery::Pending)
                .count()
        );
    }

    /// Writes pending NEW_CONNECTION_ID frames into `e`, lowest sequence
    /// first, using at most `budget` bytes; pushes one record per frame and
    /// returns the bytes written.
    ///
    /// Stops at the first frame that does not fit, so the peer learns our
    /// sequence numbers in order.
    pub fn write_frames<E: Encoder + ?Sized>(
        &mut self,
        e: &mut E,
        budget: usize,
        records: &mut impl Extend<CidRecord>,
    ) -> usize {
        let mut written: usize = 0;
        if self.pending == 0 {
            return written;
        }
        let retire_prior_to = self.retire_prior_to;
        for entry in self.issued.iter_mut() {
            if entry.delivery != Delivery::Pending {
                continue;
            }
            let frame = new_connection_id_frame(entry, retire_prior_to);
            let len = frame.encoded_len();
            match written.checked_add(len) {
                Some(total) if total <= budget => written = total,
                _ => break,
            }
            frame.encode(e);
            entry.delivery = Delivery::InFlight;
            self.pending -= 1;
            self.largest_sent = self.largest_sent.max(entry.sequence);
            records.extend(Some(CidRecord::NewConnectionId {
                sequence: entry.sequence,
            }));
        }
        self.debug_check_pending();
        written
    }

    /// The packet carrying the frame in `record` was acknowledged. Records
    /// of RETIRE_CONNECTION_ID frames are ignored.
    pub fn on_acked(&mut self, record: CidRecord) {
        if let Some(entry) = self.entry_mut(record) {
            let was_pending = entry.delivery == Delivery::Pending;
            entry.delivery = Delivery::Delivered;
            if was_pending {
                self.pending -= 1;
            }
        }
        self.debug_check_pending();
    }

    /// The packet carrying the frame in `record` was declared lost: the
    /// frame is written again unless the peer retired the ID meanwhile or
    /// another copy was acknowledged (RFC 9000 §13.3: "New connection IDs
    /// are sent in NEW_CONNECTION_ID frames and retransmitted if the packet
    /// containing them is lost"). Records of RETIRE_CONNECTION_ID frames are
    /// ignored.
    pub fn on_lost(&mut self, record: CidRecord) {
        if let Some(entry) = self.entry_mut(record) {
            if entry.delivery == Delivery::InFlight {
                entry.delivery = Delivery::Pending;
                self.pending += 1;
            }
        }
        self.debug_check_pending();
    }

    fn entry_mut(&mut self, record: CidRecord) -> Option<&mut Issued> {
        let CidRecord::NewConnectionId { sequence } = record else {
            return None;
        };
        self.issued.iter_mut().find(|i| i.sequence == sequence)
    }

    /// Draws one ID from `src` and records it; `None` if the source gave a
    /// zero-length ID (a NEW_CONNECTION_ID frame cannot carry one, RFC 9000
    /// §19.15) or sequence numbers ran out.
    fn issue(
        &mut self,
        src: &mut impl CidSource,
        delivery: Delivery,
    ) -> Option<(ConnectionId, StatelessResetToken)> {
        let sequence = self.next_sequence;
        if sequence > VarInt::MAX.into_inner() {
            return None;
        }
        let next = sequence.checked_add(1)?;
        let (cid, token) = src.new_cid();
        if cid.is_empty() {
            return None;
        }
        self.issued.push(Issued {
            sequence,
            cid,
            token,
            delivery,
        });
        if delivery == Delivery::Pending {
            self.pending += 1;
        }
        self.next_sequence = next;
        self.events.push_back(CidEvent::Issued(cid));
        Some((cid, token))
    }
}

/// The NEW_CONNECTION_ID frame for `entry`.
///
/// Retire Prior To is ours, or the entry's own sequence number when the
/// entry is one we are retiring (its frame was lost): RFC 9000 §19.15 wants
/// it "less than or equal to the value in the Sequence Number field", and
/// the peer ignores a value that does not increase its largest one, so the
/// lower value asks for nothing we do not want.
fn new_connection_id_frame(entry: &Issued, retire_prior_to: u64) -> NewConnectionId {
    NewConnectionId {
        sequence: VarInt::saturating(entry.sequence),
        retire_prior_to: VarInt::saturating(retire_prior_to.min(entry.sequence)),
        cid: entry.cid,
        reset_token: entry.token,
    }
}

fn violation(reason: &'static str) -> TransportError {
    TransportError::protocol_violation(reason).with_frame(FrameType::RETIRE_CONNECTION_ID)
}
