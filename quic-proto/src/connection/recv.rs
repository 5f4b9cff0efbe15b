//! The receive path: datagrams to packets to frames (RFC 9000 §12, §13).

use std::mem;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::log::{FrameLog, LogRun, LogSpan, Record};
use super::mtud::MtudFeed;
use super::{Connection, ConnectionError, HandshakeDoneState, Space, State};
use crate::ack::EcnCodepoint;
use crate::cid_manager::{LocalCids, RemoteCids};
use crate::crypto::{initial_keys, verify_retry_integrity};
use crate::frame::StreamId;
use crate::frame::{Frame, Frames};
use crate::packet::{potential_stateless_reset, CoalescedPackets, Header, PartialPacket};
use crate::recovery::{Fate, PacketEvent, PathRef, SentPacket, SpaceId};
use crate::streams::{StreamRecord, Streams};
use crate::{ConnectionId, Level, Side, TransportError, TransportErrorCode, VarInt};

/// How many PATH_RESPONSE frames we owe at most; more challenges than that
/// between two sends are answered only in part (RFC 9000 §8.2.2 allows it).
const MAX_PATH_RESPONSES: usize = 4;

/// The components a sent packet's records go back to.
pub(super) struct Parts<'a> {
    /// The packet's space; `None` once discarded, when its CRYPTO and ACK
    /// frames no longer matter.
    pub space: Option<&'a mut Space>,
    pub streams: &'a mut Streams,
    pub handshake_done: &'a mut HandshakeDoneState,
    pub local_cids: &'a mut LocalCids,
    pub remote_cids: &'a mut RemoteCids,
}

impl Parts<'_> {
    /// Gives a lost frame back to the component that wrote it.
    pub fn lost(&mut self, r: Record) {
        match r {
            Record::Crypto(c) => {
                if let Some(space) = self.space.as_deref_mut() {
                    space.crypto.on_lost(c);
                }
            }
            Record::Stream(s) => self.streams.on_lost(s),
            Record::HandshakeDone => self.handshake_done.pending = !self.handshake_done.acked,
            Record::Cid(c) => {
                self.local_cids.on_lost(c);
                self.remote_cids.on_lost(c);
            }
            // A lost ACK is not resent: the next ACK carries its ranges.
            Record::Ack(_) => {}
        }
    }

    /// Tells the component that wrote a frame that the peer has it.
    fn acked(&mut self, r: Record) {
        match r {
            Record::Ack(a) => {
                if let Some(space) = self.space.as_deref_mut() {
                    space.ack.on_ack_acked(a);
                }
            }
            Record::Stream(s) => self.streams.on_acked(s),
            Record::Cid(c) => {
                self.local_cids.on_acked(c);
                self.remote_cids.on_acked(c);
            }
            Record::Crypto(c) => {
                if let Some(space) = self.space.as_deref_mut() {
                    space.crypto.on_acked(c);
                }
            }
            Record::HandshakeDone => self.handshake_done.acked = true,
        }
    }
}

/// The frames of the packets one ACK acknowledges, on their way to their
/// components. Consecutive STREAM frames of one stream that continue each
/// other (a sender's packets in order) are merged into one range, so the
/// stream hears once of a run of packets rather than once per packet; a
/// frame with FIN is not merged, so a stream's events come in the order
/// they would frame by frame.
struct AckedFrames<'p, 'a> {
    parts: &'p mut Parts<'a>,
    /// The pending run: stream, offset, length.
    run: Option<(StreamId, u64, u32)>,
}

impl<'p, 'a> AckedFrames<'p, 'a> {
    fn new(parts: &'p mut Parts<'a>) -> Self {
        Self { parts, run: None }
    }

    fn acked(&mut self, r: Record) {
        if let Record::Stream(StreamRecord::Stream {
            id,
            offset,
            len,
            fin: false,
        }) = r
        {
            if let Some((run_id, run_offset, run_len)) = &mut self.run {
                let continues = *run_id == id && *run_offset + u64::from(*run_len) == offset;
                if let Some(merged) = run_len.checked_add(len).filter(|_| continues) {
                    *run_len = merged;
                    return;
                }
            }
            self.flush();
            self.run = Some((id, offset, len));
            return;
        }
        self.flush();
        self.parts.acked(r);
    }

    fn lost(&mut self, r: Record) {
        self.flush();
        self.parts.lost(r);
    }

    /// Hands the pending run to its stream; call when the ACK is done.
    fn flush(&mut self) {
        if let Some((id, offset, len)) = self.run.take() {
            self.parts.streams.on_acked(StreamRecord::Stream {
                id,
                offset,
                len,
                fin: false,
            });
        }
    }
}

/// The packets one ACK frame decides about, on their way out of the log.
/// The acknowledged packets come in packet-number order, so their entries
/// usually follow each other in the log: they are taken a run at a time,
/// which hands the frames over in the same order as packet by packet.
struct AckedPackets<'l, 'p, 'a, 'c> {
    log: &'l mut FrameLog,
    /// The acknowledged packets not yet taken from the log.
    acked: LogRun,
    frames: AckedFrames<'p, 'a>,
    /// Path MTU discovery hears of the packets too.
    mtud: MtudFeed<'c>,
    stats: &'c mut super::Counters,
}

impl<'l, 'p, 'a, 'c> AckedPackets<'l, 'p, 'a, 'c> {
    fn new(
        log: &'l mut FrameLog,
        frames: AckedFrames<'p, 'a>,
        mtud: MtudFeed<'c>,
        stats: &'c mut super::Counters,
    ) -> Self {
        Self {
            log,
            acked: LogRun::default(),
            frames,
            mtud,
            stats,
        }
    }

    /// Packet `pn` was acknowledged.
    #[inline(always)]
    fn acked(&mut self, pn: u64, p: &SentPacket<LogSpan>) {
        self.mtud.acked(pn, p.size);
        if !self.acked.append(p.record) {
            self.take_acked();
            self.acked = p.record.into();
        }
    }

    /// A packet was declared lost: counted, reported to path MTU
    /// discovery, its frames requeued. Out of line: losses are rare, and
    /// the per-packet closure stays small.
    #[inline(never)]
    fn lost(&mut self, e: PacketEvent<LogSpan>) {
        self.mtud.lost(self.stats, e.space, e.pn, &e.packet);
        self.take_acked();
        let frames = &mut self.frames;
        self.log.take(e.packet.record, |r| frames.lost(r));
    }

    /// A packet was discarded: what it carried no longer matters.
    fn dropped(&mut self, span: LogSpan) {
        self.take_acked();
        self.log.take(span, |_| {});
    }

    /// Hands every frame over; call when the ACK is done. Returns the
    /// path MTU discovery's part, to finish once the pass is over.
    fn finish(mut self) -> MtudFeed<'c> {
        self.take_acked();
        self.frames.flush();
        self.mtud
    }

    /// Takes the pending run of acknowledged packets from the log.
    #[inline(never)]
    fn take_acked(&mut self) {
        let frames = &mut self.frames;
        self.log
            .take_run(mem::take(&mut self.acked), |r| frames.acked(r));
    }
}

fn space_index(level: Level) -> Option<usize> {
    match level {
        Level::Initial => Some(0),
        Level::Handshake => Some(1),
        Level::OneRtt => Some(2),
        // 0-RTT is not accepted (no session resumption yet): such packets
        // are dropped, which RFC 9000 §12.3/RFC 9001 §4.6.2 allow.
        Level::ZeroRtt => None,
    }
}

impl Connection {
    /// Processes one UDP datagram from `remote` (all of its coalesced
    /// packets), in place. Runs the timers due at `now` first.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        remote: SocketAddr,
        ecn: Option<EcnCodepoint>,
        data: &mut [u8],
    ) {
        self.handle_timeout(now);
        if matches!(self.state, State::Drained | State::Draining { .. }) {
            return;
        }
        self.stats.datagrams_received += 1;
        self.stats.bytes_received += data.len() as u64;
        if !self.path.validated {
            self.path.received += data.len() as u64;
        }
        if let State::Closing { .. } = self.state {
            // RFC 9000 §10.2.1: answer with CONNECTION_CLOSE, no more, and
            // "SHOULD limit the rate at which it generates packets in the
            // closing state", here by answering a doubling number of
            // datagrams. Answering every one would let two endpoints that
            // close at once bounce their CONNECTION_CLOSEs until the
            // closing period ends (neither reads the other's frames), and
            // would answer any flood of datagrams for our connection ID.
            self.closing_received = self.closing_received.saturating_add(1);
            if self.closing_received.is_power_of_two() {
                self.close_pending = true;
            }
            return;
        }
        let reset = potential_stateless_reset(data);
        let datagram_len = data.len();
        let mut authenticated = false;
        // RFC 9000 §12.2: the iterator ends at a coalesced packet with
        // another DCID than the first.
        for packet in CoalescedPackets::new(data, self.local_cid.len(), false) {
            let Ok(packet) = packet else { break };
            authenticated |= self.handle_packet(now, remote, ecn, packet, datagram_len);
            if self.is_closed() {
                return;
            }
        }
        if !authenticated {
            // RFC 9000 §10.3.1: a datagram that fails to decrypt and ends
            // with the peer's reset token is a stateless reset.
            if reset.is_some_and(|token| self.remote_cids.is_stateless_reset(&token)) {
                self.start_draining(now, ConnectionError::Reset);
            }
        }
    }

    /// Handles one packet; returns whether it was authentic.
    fn handle_packet(
        &mut self,
        now: Instant,
        remote: SocketAddr,
        ecn: Option<EcnCodepoint>,
        packet: PartialPacket<'_>,
        datagram_len: usize,
    ) -> bool {
        let Some(level) = packet.level() else {
            self.handle_unprotected(now, &packet);
            return false;
        };
        if packet.version().is_some_and(|v| v != self.version) {
            return false;
        }
        if level == Level::Initial {
            // RFC 9000 §14.1: a server MUST discard an Initial in a datagram
            // smaller than 1200 bytes. RFC 9000 §17.2.2: a server's Initial
            // carries no token; a client discards one that does.
            let token = match packet.header() {
                Header::Initial { token, .. } => token,
                _ => &[],
            };
            if (self.side.is_server() && datagram_len < super::MIN_INITIAL_SIZE)
                || (self.side.is_client() && !token.is_empty())
            {
                return false;
            }
        }
        let Some(idx) = space_index(level) else {
            return false;
        };
        // RFC 9001 §5.7: "Even if it has 1-RTT secrets, a server MUST NOT
        // process incoming 1-RTT protected packets before the TLS handshake
        // is complete." Acknowledging them would let the client confirm the
        // handshake (RFC 9001 §4.1.2) and drop its Handshake keys while its
        // Finished is still lost. The client sends the data again.
        if idx == 2 && self.side.is_server() && matches!(self.state, State::Handshake) {
            return false;
        }
        if remote != self.path.remote {
            // RFC 9000 §9: servers do not migrate, so a client drops packets
            // from other addresses; a server accepts a new client address
            // only once the handshake is confirmed (§9, §9.3).
            if self.side.is_client() || idx != 2 || !self.handshake_confirmed {
                return false;
            }
        }
        let Some((pn, non_probing)) = self.open(now, idx, level, packet, ecn) else {
            return false;
        };
        // RFC 9000 §9.3: the highest-numbered non-probing packet from a new
        // address moves the path there.
        if remote != self.path.remote
            && non_probing
            && self.spaces.data.ack.largest_received() == Some(pn)
        {
            self.migrate(now, remote, datagram_len);
        }
        self.stats.packets_received += 1;
        self.last_activity = now;
        self.sent_ack_eliciting_since_receive = false;
        true
    }

    /// A packet without packet protection: Version Negotiation or Retry
    /// (anything else unprotected is dropped).
    fn handle_unprotected(&mut self, now: Instant, packet: &PartialPacket<'_>) {
        match packet.header() {
            // RFC 9000 §6.2: a client that receives a VN listing none of
            // its versions abandons the attempt; one listing its own
            // version, or arriving after any valid packet, is ignored. A
            // DCID longer than v1 allows cannot echo our SCID.
            Header::VersionNegotiation {
                dst_cid, versions, ..
            } if self.side.is_client()
                && dst_cid.len() <= ConnectionId::MAX_LEN
                && self.stats.packets_received == 0
                && !versions.contains(self.version) =>
            {
                self.report_closed(ConnectionError::VersionMismatch);
                self.state = State::Drained;
                self.events.drained = true;
            }
            Header::Retry { .. } => self.handle_retry(now, packet),
            _ => {}
        }
    }

    /// Removes protection and processes the frames; returns the packet
    /// number if the packet was authentic and processed.
    fn open(
        &mut self,
        now: Instant,
        idx: usize,
        level: Level,
        packet: PartialPacket<'_>,
        ecn: Option<EcnCodepoint>,
    ) -> Option<(u64, bool)> {
        // RFC 9000 §7.2: the client adopts the server's SCID from its first
        // Initial as its DCID (below, once the packet is authentic).
        let server_scid = if self.side.is_client() && level == Level::Initial {
            match packet.header() {
                Header::Initial { src_cid, .. } => Some(src_cid),
                _ => None,
            }
        } else {
            None
        };
        let largest = self.spaces.get(idx)?.ack.largest_received();
        let pto = self.pto_base();
        let (opened, rotated) = if idx == 2 {
            let keys = self.one_rtt.as_mut()?;
            let unprotected = packet
                .remove_header_protection(largest, &*keys.header.remote)
                .ok()?;
            let pn = unprotected.pn();
            if self.spaces.data.ack.is_duplicate(pn) {
                return None;
            }
            // RFC 9001 §6.3: a flipped key phase is the peer's key update,
            // unless the packet is older than the current phase.
            // The other phase bit is the previous key for packets older than
            // the first of the current phase, and also for every packet
            // until the peer's first one in the current phase when we
            // started the update ourselves (the peer still sends with the
            // old key until it sees ours).
            let old = keys.first_received_in_phase.is_none_or(|first| pn < first);
            let (key, rotate) = if unprotected.key_phase() == keys.phase {
                (&*keys.packet.remote, false)
            } else if let (true, Some((prev, _))) = (old, keys.prev_remote.as_ref()) {
                (&**prev, false)
            } else {
                (&*keys.next_remote, true)
            };
            (unprotected.decrypt(key), rotate)
        } else {
            let keys = self.spaces.get(idx)?.keys.as_ref()?;
            (
                packet.open(largest, &*keys.header.remote, &*keys.packet.remote),
                false,
            )
        };
        let opened = match opened {
            Ok(o) => o,
            Err(e) => {
                if let Some(err) = e.transport_error() {
                    self.protocol_error(now, err);
                } else if idx == 2 {
                    self.count_auth_failure(now);
                }
                return None;
            }
        };
        let pn = opened.pn();
        if let Some(keys) = self.one_rtt.as_mut().filter(|_| idx == 2) {
            if rotated {
                keys.rotate();
                self.stats.key_updates += 1;
            }
            if opened.key_phase() == keys.phase {
                keys.on_received(pn, now + pto * 3);
            }
        }
        if self.spaces.get(idx)?.ack.is_duplicate(pn) {
            return None;
        }
        if self.side.is_client() && level == Level::Initial && !self.got_server_initial {
            if let Some(src) = server_scid {
                self.remote_cids.update_initial(src);
            }
            self.got_server_initial = true;
        }
        // RFC 9000 §8.1: a Handshake packet from the client proves its address.
        if self.side.is_server() && level == Level::Handshake {
            self.path.validated = true;
            // RFC 9001 §4.9.1: the server discards Initial keys on the
            // first Handshake packet it processes.
            self.discard_space(now, 0);
        }
        let mut ack_eliciting = false;
        let mut non_probing = false;
        let mut frames = 0usize;
        let mut iter = Frames::new(opened.payload());
        loop {
            // STREAM frames go straight to their stream. All 1-RTT frames
            // are allowed (RFC 9000 §12.4); STREAM is ack-eliciting and
            // not a probing frame.
            if level == Level::OneRtt {
                if let Some(frame) = iter.next_stream() {
                    ack_eliciting = true;
                    non_probing = true;
                    frames += 1;
                    if let Err(e) = frame.and_then(|f| self.streams.on_stream_frame(&f)) {
                        self.protocol_error(now, e);
                        return None;
                    }
                    continue;
                }
            }
            let Some(frame) = iter.next() else { break };
            let result = frame.and_then(|f| {
                let ty = f.ty();
                // 1-RTT packets may carry every frame type (RFC 9000 §12.4),
                // and decoding has already rejected unknown types.
                if level != Level::OneRtt {
                    ty.check_allowed(level)?;
                }
                ack_eliciting |= ty.is_ack_eliciting();
                non_probing |= !ty.is_probing();
                frames += 1;
                self.handle_frame(now, idx, opened.dst_cid(), f)
            });
            if let Err(e) = result {
                self.protocol_error(now, e);
                return None;
            }
            if self.is_closed() {
                return None;
            }
        }
        if frames == 0 {
            // RFC 9000 §12.4: a packet without frames is a PROTOCOL_VIOLATION.
            self.protocol_error(
                now,
                TransportError::protocol_violation("packet without frames"),
            );
            return None;
        }
        // The frames may have completed the handshake and discarded this
        // space, whose acknowledgments then no longer matter.
        if let Some(space) = self.spaces.get_mut(idx) {
            space.ack.on_packet_received(pn, now, ack_eliciting, ecn);
        }
        Some((pn, non_probing))
    }

    /// The peer moved to `remote` (RFC 9000 §9.3): send there from now on,
    /// within the anti-amplification limit until a PATH_CHALLENGE proves the
    /// address (§8.2, §9.3). A new IP address (not just a new port, as in
    /// NAT rebinding) also resets the congestion controller and RTT (§9.4).
    /// The datagram size goes back to `initial_mtu` either way.
    fn migrate(&mut self, now: Instant, remote: SocketAddr, datagram_len: usize) {
        let new_ip = remote.ip() != self.path.remote.ip();
        self.path.remote = remote;
        self.path.validated = false;
        self.path.received = datagram_len as u64;
        self.path.sent = 0;
        // RFC 9000 §14.2: the maximum datagram size belongs to a pair of
        // addresses; the new one's is found again once it is validated.
        self.reset_mtu_discovery(now);
        if new_ip {
            self.path.rtt = crate::recovery::RttEstimator::new(self.config.initial_rtt);
            self.path.cc = crate::congestion::ControllerFactory::build(
                &crate::congestion::NewRenoConfig::default(),
                now,
                self.path.mtu,
            );
        }
        let mut data = [0u8; 8];
        self.cid_gen.fill(&mut data);
        self.challenge = Some(data);
        self.challenge_pending = true;
    }

    /// RFC 9001 §6.6: past the AEAD integrity limit of forged packets, the
    /// connection MUST close with AEAD_LIMIT_REACHED.
    fn count_auth_failure(&mut self, now: Instant) {
        self.auth_failures += 1;
        let limit = self
            .one_rtt
            .as_ref()
            .map_or(u64::MAX, |k| k.packet.remote.integrity_limit());
        if self.auth_failures > limit {
            self.protocol_error(
                now,
                TransportError::new(
                    TransportErrorCode::AEAD_LIMIT_REACHED,
                    "too many forged packets",
                ),
            );
        }
    }

    /// A Retry (RFC 9000 §17.2.5.2): accepted once, before any server
    /// Initial, if its integrity tag verifies.
    fn handle_retry(&mut self, now: Instant, packet: &PartialPacket<'_>) {
        if self.side.is_server() || self.got_server_initial || self.retry_scid.is_some() {
            return;
        }
        let Header::Retry { src_cid, token, .. } = packet.header() else {
            return;
        };
        let bytes = packet.as_bytes();
        let Some(split) = bytes.len().checked_sub(16) else {
            return;
        };
        let (without_tag, tag) = bytes.split_at(split);
        if token.is_empty()
            || !verify_retry_integrity(self.version, &self.original_dcid, without_tag, tag)
        {
            return;
        }
        self.token = token.to_vec();
        self.remote_cids.update_initial(src_cid);
        self.retry_scid = Some(src_cid);
        // RFC 9001 §5.2: new Initial keys from the Retry's SCID; the
        // ClientHello goes again with the token.
        let Some(initial) = self.spaces.get_mut(0) else {
            return;
        };
        initial.keys = initial_keys(self.version, &src_cid, Side::Client)
            .ok()
            .map(Box::new);
        initial.crypto.resend_all();
        let Self { loss, log, .. } = self;
        loss.discard_space(now, SpaceId::Initial, |e| log.take(e.packet.record, |_| {}));
    }

    /// Handles one frame of an authenticated packet in space `idx`.
    fn handle_frame(
        &mut self,
        now: Instant,
        idx: usize,
        packet_dcid: &[u8],
        frame: Frame<'_>,
    ) -> Result<(), TransportError> {
        use crate::coding::Encode;
        match frame {
            Frame::Stream(f) => self.streams.on_stream_frame(&f)?,
            Frame::Padding { .. } | Frame::Ping => {}
            Frame::Ack(ack) => self.handle_ack(now, idx, &ack)?,
            Frame::Crypto(f) => {
                let Self { spaces, tls, .. } = self;
                // A packet's earlier frames may have discarded its space.
                let Some(space) = spaces.get_mut(idx) else {
                    return Ok(());
                };
                space.crypto.on_frame(&f, |data| tls.read(data))?;
                self.drive_tls();
                // A client takes the server's transport parameters from its
                // EncryptedExtensions, the first Handshake message: before
                // that, a resumed session would show the remembered ones.
                if self.side.is_server() || idx >= 1 {
                    self.handshake_progress(now)?;
                }
            }
            Frame::NewToken { .. } => {
                // RFC 9000 §19.7: servers MUST treat NEW_TOKEN as PROTOCOL_VIOLATION.
                if self.side.is_server() {
                    return Err(TransportError::protocol_violation(
                        "NEW_TOKEN from a client",
                    ));
                }
                // Tokens are not stored for later connections (yet).
            }
            Frame::NewConnectionId(f) => self.remote_cids.on_new_connection_id(&f)?,
            Frame::RetireConnectionId { sequence } => {
                // Our connection IDs are v1 ones, so the fallback is
                // unreachable.
                let packet_dcid = ConnectionId::new(packet_dcid).unwrap_or(ConnectionId::EMPTY);
                let Self {
                    local_cids,
                    cid_gen,
                    ..
                } = self;
                local_cids.on_retire_connection_id(sequence, &packet_dcid, cid_gen)?;
            }
            Frame::PathChallenge(data) => {
                if self.path_responses.len() < MAX_PATH_RESPONSES {
                    self.path_responses.push_back(data);
                }
            }
            // RFC 9000 §8.2.3: a PATH_RESPONSE with the data of our
            // challenge validates the path; others are ignored.
            Frame::PathResponse(data) => {
                if self.challenge.is_some_and(|c| c == data) {
                    self.challenge = None;
                    self.challenge_pending = false;
                    self.path.validated = true;
                }
            }
            Frame::ConnectionClose(c) => {
                let reason = c.reason.to_vec();
                let error = match c.transport_code() {
                    Some(code) => ConnectionError::PeerTransportClose { code, reason },
                    None => ConnectionError::PeerApplicationClose {
                        code: c.error_code,
                        reason,
                    },
                };
                // RFC 9000 §10.2.2: enter draining; send nothing more.
                self.start_draining(now, error);
            }
            Frame::HandshakeDone => {
                // RFC 9000 §19.20: a server MUST treat HANDSHAKE_DONE as
                // PROTOCOL_VIOLATION.
                if self.side.is_server() {
                    return Err(TransportError::protocol_violation(
                        "HANDSHAKE_DONE from a client",
                    ));
                }
                self.confirm_handshake(now);
            }
            Frame::Datagram(d) => {
                // RFC 9221 §3: DATAGRAM without support, or larger than we
                // allow, is PROTOCOL_VIOLATION.
                let max = self.config.max_datagram_frame_size.map_or(0, usize::from);
                if self.config.max_datagram_frame_size.is_none() || frame.encoded_len() > max {
                    return Err(TransportError::protocol_violation(
                        "unexpected or oversized DATAGRAM",
                    )
                    .with_frame(d.ty()));
                }
                if self.datagrams_in.len() >= self.config.datagram_queue_len {
                    self.datagrams_in.pop_front();
                }
                self.datagrams_in
                    .push_back(bytes::Bytes::copy_from_slice(d.data));
                self.events.datagrams = self.events.datagrams.saturating_add(1);
            }
            other => {
                if !self.streams.on_frame(&other)? {
                    return Err(TransportError::protocol_violation("unhandled frame")
                        .with_frame(other.ty()));
                }
            }
        }
        Ok(())
    }

    /// An ACK frame. Out of line: its body would crowd the per-frame loop
    /// of `open`, most of whose frames are STREAM frames.
    #[inline(never)]
    fn handle_ack(
        &mut self,
        now: Instant,
        idx: usize,
        ack: &crate::frame::AckFrame<'_>,
    ) -> Result<(), TransportError> {
        let delay = match (idx, &self.peer_params) {
            (2, Some(p)) => p.decode_ack_delay(VarInt::saturating(ack.ack_delay())),
            _ => Duration::ZERO,
        };
        let ctx = self.recovery_context();
        let space_id = SpaceId::ALL[idx];
        let Self {
            loss,
            path,
            log,
            spaces,
            streams,
            stats,
            handshake_done,
            local_cids,
            remote_cids,
            ..
        } = self;
        let mut parts = Parts {
            space: spaces.get_mut(idx),
            streams,
            handshake_done,
            local_cids,
            remote_cids,
        };
        let mtud = MtudFeed::new(&mut path.mtud, path.mtu, space_id, now);
        let mut packets = AckedPackets::new(log, AckedFrames::new(&mut parts), mtud, stats);
        let outcome = loss.on_ack_received(
            now,
            space_id,
            ack.iter(),
            delay,
            PathRef::new(&mut path.rtt, &mut *path.cc),
            &ctx,
            |event| match event.fate {
                Fate::Acked => packets.acked(event.pn, &event.packet),
                Fate::Lost => packets.lost(event),
                _ => packets.dropped(event.packet.record),
            },
        );
        let mtud = packets.finish();
        let data = loss.space(SpaceId::Data);
        let mtud = mtud.finish(|pn| data.is_some_and(|s| s.get(pn).is_some()));
        let outcome = outcome?;
        if let Some(raised) = mtud {
            self.end_mtu_discovery_pass(now, raised);
        }
        if idx == 2 {
            if let (Some(keys), Some(largest)) = (self.one_rtt.as_mut(), outcome.ack.largest) {
                if keys
                    .first_sent_in_phase
                    .is_some_and(|first| largest >= first)
                {
                    keys.phase_acked = true;
                }
            }
            // RFC 9001 §4.1.2: a client MAY consider the handshake confirmed
            // when a 1-RTT packet it sent is acknowledged.
            if self.side.is_client() && outcome.ack.newly_acked > 0 {
                self.confirm_handshake(now);
            }
        }
        Ok(())
    }

    /// Checks what TLS achieved: the peer's transport parameters, and the
    /// end of the handshake (RFC 9001 §4.1.1).
    fn handshake_progress(&mut self, now: Instant) -> Result<(), TransportError> {
        if self.peer_params.is_none() {
            if let Some(bytes) = self.tls.transport_parameters() {
                let params =
                    crate::transport_params::TransportParameters::decode(bytes, self.side.peer())?;
                self.validate_peer_cids(&params)?;
                self.streams.set_peer_params(&params);
                self.path
                    .mtud
                    .set_peer_limit(params.max_udp_payload_size.into_inner());
                if let Some(token) = params
                    .stateless_reset_token
                    .filter(|_| self.side.is_client())
                {
                    self.remote_cids.set_initial_reset_token(token);
                }
                self.peer_params = Some(super::PeerParams::new(&params));
            }
        }
        if matches!(self.state, State::Handshake) && !self.tls.is_handshaking() {
            if self.peer_params.is_none() {
                return Err(TransportError::new(
                    TransportErrorCode::crypto(109), // missing_extension
                    "no transport parameters",
                ));
            }
            // RFC 9001 §8.1: without a negotiated application protocol the
            // connection MUST close with no_application_protocol.
            if self.tls.alpn().is_none() {
                return Err(TransportError::new(
                    TransportErrorCode::crypto(120), // no_application_protocol
                    "no application protocol negotiated",
                ));
            }
            self.state = State::Established;
            self.events.connected = true;
            // RFC 9000 §5.1.1: offer spare IDs up to the peer's limit.
            if let Some(limit) = self
                .peer_params
                .as_ref()
                .map(|p| p.active_connection_id_limit.into_inner())
            {
                let Self {
                    local_cids,
                    cid_gen,
                    ..
                } = self;
                local_cids.set_peer_limit(limit, cid_gen);
            }
            if self.side.is_server() {
                // RFC 9001 §4.1.2: the server's handshake is confirmed on
                // completion; it tells the client with HANDSHAKE_DONE.
                self.handshake_done.pending = true;
                self.confirm_handshake(now);
                // Everything TLS had to say (session tickets included) was
                // written by `drive_tls` before this check.
                self.tls.retire();
            }
        }
        Ok(())
    }

    /// RFC 9000 §7.3: the connection IDs in the handshake must match the
    /// transport parameters, or the handshake was tampered with.
    fn validate_peer_cids(
        &self,
        p: &crate::transport_params::TransportParameters,
    ) -> Result<(), TransportError> {
        let err = TransportError::transport_parameter;
        if p.initial_source_connection_id != Some(self.remote_cids.active()) {
            return Err(err("initial_source_connection_id does not match"));
        }
        if self.side.is_client() {
            if p.original_destination_connection_id != Some(self.original_dcid) {
                return Err(err("original_destination_connection_id does not match"));
            }
            if p.retry_source_connection_id != self.retry_scid {
                return Err(err("retry_source_connection_id does not match"));
            }
        }
        Ok(())
    }

    /// The handshake is confirmed (RFC 9001 §4.1.2): Handshake keys go.
    pub(super) fn confirm_handshake(&mut self, now: Instant) {
        if self.handshake_confirmed {
            return;
        }
        self.handshake_confirmed = true;
        // RFC 9001 §4.9.2: discard Handshake keys once confirmed.
        self.discard_space(now, 1);
        self.events.confirmed = true;
    }

    /// Discards a space's keys and in-flight packets (RFC 9001 §4.9).
    pub(super) fn discard_space(&mut self, now: Instant, idx: usize) {
        if !self.spaces.discard(idx) {
            return;
        }
        let Self { loss, log, .. } = self;
        loss.discard_space(now, SpaceId::ALL[idx], |e| {
            log.take(e.packet.record, |_| {})
        });
    }
}
