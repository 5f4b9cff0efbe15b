//! The send path: packet assembly straight into the caller's buffer
//! (RFC 9000 §12.2, §13, §14; RFC 9001 §5).
//!
//! One call fills one datagram: a packet per space that has something to
//! send, coalesced Initial, Handshake, 1-RTT in that order. Each space's
//! components write their own frames into the packet; records of what was
//! written go to the frame log. Packets are sealed once the datagram is
//! complete, because padding to 1200 bytes goes into the last packet.

use std::time::Instant;

use smallvec::SmallVec;

use super::log::Record;
use super::{Connection, State, Transmit, MIN_INITIAL_SIZE};
use crate::coding::{Encode, Encoder, SliceWriter};
use crate::frame::{ConnectionClose, DatagramFrame, Frame};
use crate::packet::{seal, Header, HeaderLayout, PacketEncodeError, PacketNumber};
use crate::recovery::{SentPacket, SpaceId};
use crate::streams::StreamRecord;
use crate::{FrameType, Side, TransportErrorCode, VarInt};

/// A packet written but not yet sealed.
struct Built {
    idx: usize,
    start: usize,
    layout: HeaderLayout,
    pn: PacketNumber,
    payload_len: usize,
    tag_len: usize,
    span: super::log::LogSpan,
    ack_eliciting: bool,
    padded: bool,
}

impl Built {
    fn end(&self) -> usize {
        self.start + self.layout.header_len() + self.payload_len + self.tag_len
    }
}

/// Lets `Streams::write_frames` record into the frame log.
struct StreamRecords<'a>(&'a mut super::log::FrameLog);

impl Extend<StreamRecord> for StreamRecords<'_> {
    fn extend<T: IntoIterator<Item = StreamRecord>>(&mut self, iter: T) {
        for r in iter {
            self.0.push(Record::Stream(r));
        }
    }
}

/// Lets the connection-ID components record into the frame log.
struct CidRecords<'a>(&'a mut super::log::FrameLog, bool);

impl Extend<crate::cid_manager::CidRecord> for CidRecords<'_> {
    fn extend<T: IntoIterator<Item = crate::cid_manager::CidRecord>>(&mut self, iter: T) {
        for r in iter {
            self.0.push(Record::Cid(r));
            self.1 = true;
        }
    }
}

impl Connection {
    /// Writes the next datagram into `buf` and says where it goes, or
    /// returns `None` when there is nothing to send now. Runs the timers
    /// due at `now` first. Allocates nothing per datagram.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        self.handle_timeout(now);
        match self.state {
            State::Drained | State::Draining { .. } => return None,
            State::Closing { .. } => return self.transmit_close(now, buf),
            _ => {}
        }
        self.maybe_update_keys();
        let limit = buf
            .len()
            .min(usize::from(self.path.mtu))
            .min(self.path.amplification_budget());
        if !self.spaces.has_keys(0) && !self.spaces.has_keys(1) {
            if self.path.mtud.probe_due(now) {
                if let Some(tx) = self.transmit_mtu_probe(now, buf) {
                    return Some(tx);
                }
            }
            // Only 1-RTT packets can be sent (the usual case once the
            // handshake is done): one packet, padded only for a path probe.
            // Borrowed where it was returned, not moved out of the Option.
            let built = self.build_packet(now, 2, &mut buf[..limit], 0, 0);
            let b = built.as_ref()?;
            self.seal_and_record(now, buf, b);
            return Some(self.datagram_sent(b.end()));
        }
        let mut built: SmallVec<[Built; 3]> = SmallVec::new();
        let mut len = 0;
        let mut pad_to = 0usize;
        for idx in 0..3 {
            let min_len = if idx == 2 {
                pad_to.saturating_sub(len)
            } else {
                0
            };
            if let Some(b) = self.build_packet(now, idx, &mut buf[..limit], len, min_len) {
                len = b.end();
                // RFC 9000 §14.1: datagrams with a client Initial, or a
                // server's ack-eliciting Initial, are at least 1200 bytes.
                if idx == 0 && (self.side.is_client() || b.ack_eliciting) {
                    pad_to = MIN_INITIAL_SIZE;
                }
                built.push(b);
            }
        }
        let last = built.last_mut()?;
        if len < pad_to {
            if limit < pad_to {
                // Not enough budget (amplification limit) to send a
                // properly padded Initial: send nothing rather than a
                // datagram the peer must drop.
                for b in &built {
                    self.unbuild(b);
                }
                return None;
            }
            let extra = pad_to - len;
            let at = last.start + last.layout.header_len() + last.payload_len;
            buf[at..at + extra].fill(0);
            last.payload_len += extra;
            last.padded = true;
            len = pad_to;
        }
        for b in &built {
            self.seal_and_record(now, buf, b);
        }
        Some(self.datagram_sent(len))
    }

    /// A PMTU probe (RFC 9000 §14.4), if path MTU discovery wants one now:
    /// a 1-RTT packet of PING and PADDING filling a datagram of the probed
    /// size, alone in its `Transmit` (the endpoint does not batch a datagram
    /// larger than [`Connection::path_mtu`]). It needs room in `buf` and in
    /// the congestion window like any packet; nothing in it is resent if it
    /// is lost.
    #[inline(never)]
    fn transmit_mtu_probe(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        if !(self.handshake_confirmed && self.path.validated) {
            return None;
        }
        let size = self.path.mtud.probe_size(now, self.path.mtu)?;
        let len = usize::from(size);
        if self.loss.bytes_in_flight() + u64::from(size) > self.path.cc.window() {
            return None;
        }
        let buf = buf.get_mut(..len)?;
        let tag_len = self.one_rtt.as_ref()?.local_tag_len();
        let space = &self.spaces.data;
        let pn = PacketNumber::new(space.next_pn, self.loss.largest_acked(space.id));
        let layout = self.write_header(2, buf, pn).ok()?;
        let header_len = layout.header_len();
        let payload_len = len.checked_sub(header_len + tag_len)?;
        let mut w = SliceWriter::new(&mut buf[header_len..header_len + payload_len]);
        Frame::Ping.encode(&mut w);
        let padding = w.remaining();
        w.put_zeros(padding);
        // Nothing to give back to any component: an empty log span.
        self.log.begin();
        let span = self.log.finish();
        self.spaces.data.next_pn += 1;
        let built = Built {
            idx: 2,
            start: 0,
            layout,
            pn,
            payload_len,
            tag_len,
            span,
            ack_eliciting: true,
            padded: true,
        };
        self.seal_and_record(now, buf, &built);
        // Recorded as any packet, then marked: the common path does not
        // carry the probe flag.
        self.loss.mark_mtu_probe(SpaceId::Data, pn.full());
        self.path.mtud.on_probe_sent(pn.full());
        self.stats.mtu_probes_sent += 1;
        Some(self.datagram_sent(len))
    }

    /// Counts a datagram of `len` bytes against the stats and the
    /// anti-amplification budget, and says where it goes. Out of line, so
    /// the `Transmit` is written straight into the caller's return slot.
    #[inline(never)]
    fn datagram_sent(&mut self, len: usize) -> Transmit {
        self.stats.datagrams_sent += 1;
        self.stats.bytes_sent += len as u64;
        if !self.path.validated {
            self.path.sent += len as u64;
        }
        Transmit {
            destination: self.path.remote,
            size: len,
            ecn: None,
            segment_size: None,
            source: self.path.local_ip,
        }
    }

    /// RFC 9001 §6: start a key update when asked or when the
    /// confidentiality limit nears, once the previous one is acknowledged.
    fn maybe_update_keys(&mut self) {
        let confirmed = self.handshake_confirmed;
        let Some(keys) = self.one_rtt.as_mut() else {
            return;
        };
        if confirmed
            && keys.can_update()
            && (self.key_update_requested || keys.near_confidentiality_limit())
        {
            keys.rotate();
            self.key_update_requested = false;
            self.stats.key_updates += 1;
        }
    }

    /// Builds one packet of space `idx` at `buf[start..]`, unsealed.
    #[inline(always)]
    fn build_packet(
        &mut self,
        now: Instant,
        idx: usize,
        buf: &mut [u8],
        start: usize,
        mut min_len: usize,
    ) -> Option<Built> {
        let tag_len = match idx {
            2 => self.one_rtt.as_ref()?.local_tag_len(),
            _ => self.spaces.get(idx)?.keys.as_ref()?.packet.local.tag_len(),
        };
        let space = self.spaces.get(idx)?;
        let ack_now = space.ack.wants_ack_now(now);
        let probe = space.probes > 0;
        let mut wants = ack_now || probe || space.crypto.has_pending();
        if idx == 2 {
            // Stream data first: the usual reason to send.
            wants = wants
                || self.streams.wants_to_send()
                || self.handshake_done.pending
                || !self.path_responses.is_empty()
                || self.challenge_pending
                || !self.datagrams_out.is_empty()
                || self.ping_pending;
        }
        if !wants {
            return None;
        }
        let mtu = u64::from(self.path.mtu);
        let cwnd_ok = probe || self.loss.bytes_in_flight() + mtu <= self.path.cc.window();
        if !cwnd_ok && !ack_now {
            return None;
        }
        let space_id = space.id;
        let pn = PacketNumber::new(space.next_pn, self.loss.largest_acked(space_id));
        // PTO probes of the application space go at the base datagram size
        // while path MTU discovery watches for black holes (see `mtud`).
        let end = if probe && idx == 2 {
            self.path.mtud.pto_probe_limit(self.path.mtu, buf.len())
        } else {
            buf.len()
        };
        let out = buf.get_mut(start..end)?;
        let layout = self.write_header(idx, out, pn).ok()?;
        let header_len = layout.header_len();
        // Leave room for the tag, and a few bytes so a packet is never
        // only a header.
        let payload_cap = out.len().checked_sub(header_len + tag_len)?;
        if payload_cap < 8 {
            return None;
        }
        let rtt = self.path.rtt.smoothed();
        let exponent = self.ack_delay_exponent;
        let Self {
            spaces,
            log,
            streams,
            path_responses,
            datagrams_out,
            local_cids,
            remote_cids,
            ..
        } = self;
        let space = spaces.get_mut(idx)?;
        let mut w = SliceWriter::new(&mut out[header_len..header_len + payload_cap]);
        log.begin();
        let mut ack_eliciting = false;
        if space.ack.has_new_packets() {
            if let Some(r) = space.ack.write_ack(now, exponent, &mut w, payload_cap) {
                log.push(Record::Ack(r));
            }
        }
        if cwnd_ok {
            while space.crypto.has_pending() {
                let room = w.remaining();
                let Some(r) = space.crypto.write_frame(&mut w, room) else {
                    break;
                };
                log.push(Record::Crypto(r));
                ack_eliciting = true;
            }
            if idx == 2 {
                if self.handshake_done.pending && w.remaining() >= 1 {
                    Frame::HandshakeDone.encode(&mut w);
                    log.push(Record::HandshakeDone);
                    self.handshake_done.pending = false;
                    self.handshake_done.sent = true;
                    ack_eliciting = true;
                }
                let mut path_frame = false;
                if let Some(data) = self.challenge.filter(|_| self.challenge_pending) {
                    if w.remaining() >= 9 {
                        Frame::PathChallenge(data).encode(&mut w);
                        self.challenge_pending = false;
                        ack_eliciting = true;
                        path_frame = true;
                    }
                }
                while let Some(data) = path_responses.front() {
                    if w.remaining() < 9 {
                        break;
                    }
                    Frame::PathResponse(*data).encode(&mut w);
                    path_responses.pop_front();
                    ack_eliciting = true;
                    path_frame = true;
                }
                // RFC 9000 §8.2.1, §8.2.2: a datagram carrying PATH_CHALLENGE
                // or PATH_RESPONSE is expanded to at least 1200 bytes, as far
                // as the anti-amplification limit (the buffer) allows.
                if path_frame {
                    min_len = min_len.max(MIN_INITIAL_SIZE.saturating_sub(start));
                }
                while let Some(d) = datagrams_out.front() {
                    let need = DatagramFrame::header_len(d.len(), true) + d.len();
                    if need > w.remaining() {
                        break;
                    }
                    DatagramFrame::encode_header(d.len(), true, &mut w);
                    w.put_slice(d);
                    datagrams_out.pop_front();
                    ack_eliciting = true;
                }
                let mut cid_records = CidRecords(log, false);
                if local_cids.has_pending_frames() {
                    let room = w.remaining();
                    local_cids.write_frames(&mut w, room, &mut cid_records);
                }
                if remote_cids.has_pending_frames() {
                    let room = w.remaining();
                    remote_cids.write_frames(&mut w, room, &mut cid_records);
                }
                ack_eliciting |= cid_records.1;
                // Padding (for a coalesced client Initial or a path probe)
                // goes before STREAM frames, which may end the packet
                // without a Length.
                let pad = min_len.saturating_sub(header_len + w.len() + tag_len);
                if pad > 0 {
                    w.put_zeros(pad.min(w.remaining()));
                }
                let budget = w.remaining();
                let written =
                    streams.write_frames(now, rtt, budget, &mut w, &mut StreamRecords(log));
                ack_eliciting |= written > 0;
                if self.ping_pending && w.remaining() >= 1 {
                    Frame::Ping.encode(&mut w);
                    self.ping_pending = false;
                    ack_eliciting = true;
                }
            }
            if probe && !ack_eliciting && w.remaining() >= 1 {
                Frame::Ping.encode(&mut w);
                ack_eliciting = true;
            }
        }
        if w.is_empty() {
            log.abandon();
            return None;
        }
        // RFC 9001 §5.4.2: the sample needs 4 bytes after the packet
        // number's start, before the tag.
        let min_payload = 4usize.saturating_sub(pn.size());
        let padded = w.len() < min_payload;
        if padded {
            w.put_zeros(min_payload - w.len());
        }
        let payload_len = w.len();
        let span = log.finish();
        space.next_pn += 1;
        if probe && ack_eliciting {
            space.probes -= 1;
        }
        Some(Built {
            idx,
            start,
            layout,
            pn,
            payload_len,
            tag_len,
            span,
            ack_eliciting,
            padded: padded || min_len > 0,
        })
    }

    /// Undoes a built packet that will not be sent.
    fn unbuild(&mut self, b: &Built) {
        // The records stay in the log; the packet number is skipped. The
        // components have already marked the frames as sent, so requeue
        // them as if the packet were lost.
        let Self {
            log,
            spaces,
            streams,
            handshake_done,
            local_cids,
            remote_cids,
            ..
        } = self;
        let mut parts = super::recv::Parts {
            space: spaces.get_mut(b.idx),
            streams,
            handshake_done,
            local_cids,
            remote_cids,
        };
        log.take(b.span, |r| parts.lost(r));
    }

    /// Patches Length, seals, and records the packet for recovery.
    #[inline(always)]
    fn seal_and_record(&mut self, now: Instant, buf: &mut [u8], b: &Built) {
        let packet = &mut buf[b.start..b.end()];
        if b.layout.finish(packet, packet.len()).is_err() {
            return;
        }
        if let (2, Some(keys)) = (b.idx, self.one_rtt.as_mut()) {
            keys.sealed_in_phase += 1;
            keys.first_sent_in_phase.get_or_insert(b.pn.full());
        }
        let sealed = self.seal_with(b.idx, packet, b.layout.pn_offset, b.pn);
        if sealed.is_err() {
            return;
        }
        let size = (b.end() - b.start) as u16;
        let in_flight = b.ack_eliciting || b.padded;
        let record = SentPacket::new(now, size, b.ack_eliciting, in_flight, b.span);
        let space_id = SpaceId::ALL[b.idx];
        self.loss
            .on_packet_sent(space_id, b.pn.full(), record, &mut *self.path.cc);
        self.stats.packets_sent += 1;
        if b.ack_eliciting {
            if !self.sent_ack_eliciting_since_receive {
                // RFC 9000 §10.1: the idle timer restarts on the first
                // ack-eliciting packet sent after a receive.
                self.last_activity = now;
            }
            self.sent_ack_eliciting_since_receive = true;
            self.last_ack_eliciting_sent = now;
        }
        // RFC 9001 §4.9.1: a client discards Initial keys when it first
        // sends a Handshake packet.
        if self.side == Side::Client && space_id == SpaceId::Handshake {
            self.discard_space(now, 0);
        }
    }

    /// Writes the header of a packet in space `idx`, to our peer's current
    /// CID, at the start of `out`.
    #[inline(always)]
    fn write_header(
        &self,
        idx: usize,
        out: &mut [u8],
        pn: PacketNumber,
    ) -> Result<HeaderLayout, PacketEncodeError> {
        if idx == 2 {
            let key_phase = self.one_rtt.as_ref().is_some_and(|k| k.phase);
            return Header::write_short(out, false, key_phase, &self.remote_cids.active(), pn);
        }
        self.header(idx).write(out, pn)
    }

    /// The header of a packet in space `idx`, to our peer's current CID.
    fn header(&self, idx: usize) -> Header<'_> {
        let dst_cid = self.remote_cids.active();
        match idx {
            0 => Header::Initial {
                version: self.version,
                dst_cid,
                src_cid: self.local_cid,
                token: &self.token,
            },
            1 => Header::Handshake {
                version: self.version,
                dst_cid,
                src_cid: self.local_cid,
            },
            _ => Header::Short {
                spin: false,
                key_phase: self.one_rtt.as_ref().is_some_and(|k| k.phase),
                dst_cid,
            },
        }
    }

    /// Seals a packet of space `idx` with its current keys.
    fn seal_with(
        &self,
        idx: usize,
        packet: &mut [u8],
        pn_offset: usize,
        pn: PacketNumber,
    ) -> Result<(), ()> {
        let (packet_key, header_key) = match idx {
            2 => {
                let keys = self.one_rtt.as_ref().ok_or(())?;
                (&*keys.packet.local, &*keys.header.local)
            }
            _ => {
                let keys = self
                    .spaces
                    .get(idx)
                    .and_then(|s| s.keys.as_ref())
                    .ok_or(())?;
                (&*keys.packet.local, &*keys.header.local)
            }
        };
        seal(packet, pn_offset, pn, packet_key, header_key).map_err(|_| ())
    }

    /// In the closing state: one datagram with CONNECTION_CLOSE in every
    /// space we have keys for (RFC 9000 §10.2.3).
    fn transmit_close(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        if !self.close_pending {
            return None;
        }
        self.close_pending = false;
        let close = self.close.clone()?;
        let limit = buf
            .len()
            .min(usize::from(self.path.mtu))
            .min(self.path.amplification_budget());
        let mut len = 0;
        for idx in 0..3 {
            let has_keys = match idx {
                2 => self.one_rtt.is_some() && (self.handshake_confirmed || self.side.is_server()),
                _ => self.spaces.has_keys(idx),
            };
            if !has_keys {
                continue;
            }
            // RFC 9000 §10.2.3: an application close in Initial or
            // Handshake packets becomes APPLICATION_ERROR without detail.
            let frame = if close.application && idx < 2 {
                ConnectionClose {
                    application: false,
                    error_code: VarInt::saturating(TransportErrorCode::APPLICATION_ERROR.0),
                    frame_type: Some(FrameType::PADDING),
                    reason: &[],
                }
            } else {
                ConnectionClose {
                    application: close.application,
                    error_code: close.code,
                    frame_type: close.frame_type,
                    reason: &close.reason,
                }
            };
            let pad = if idx == 0 && self.side.is_client() {
                MIN_INITIAL_SIZE
            } else {
                0
            };
            if let Some(end) =
                self.write_close_packet(now, idx, &mut buf[..limit], len, &frame, pad)
            {
                len = end;
            }
        }
        if len == 0 {
            return None;
        }
        Some(self.datagram_sent(len))
    }

    fn write_close_packet(
        &mut self,
        _now: Instant,
        idx: usize,
        buf: &mut [u8],
        start: usize,
        frame: &ConnectionClose<'_>,
        pad_to: usize,
    ) -> Option<usize> {
        let space = self.spaces.get(idx)?;
        let pn = PacketNumber::new(space.next_pn, self.loss.largest_acked(space.id));
        let out = buf.get_mut(start..)?;
        let layout = self.write_header(idx, out, pn).ok()?;
        let hl = layout.header_len();
        let tag_len = 16;
        // Truncate the reason rather than fail to close.
        let mut frame = *frame;
        let room = out.len().checked_sub(hl + tag_len + 32)?;
        frame.reason = &frame.reason[..frame.reason.len().min(room)];
        let payload_end = out.len() - tag_len;
        let mut w = SliceWriter::new(&mut out[hl..payload_end]);
        Frame::ConnectionClose(frame).encode(&mut w);
        let min_payload = 4usize.saturating_sub(pn.size());
        let target = pad_to.saturating_sub(start + hl + tag_len).max(min_payload);
        if w.len() < target {
            let n = (target - w.len()).min(w.remaining());
            w.put_zeros(n);
        }
        let payload_len = w.len();
        let end = hl + payload_len + tag_len;
        let packet = &mut out[..end];
        layout.finish(packet, end).ok()?;
        self.seal_with(idx, packet, layout.pn_offset, pn).ok()?;
        if let Some(space) = self.spaces.get_mut(idx) {
            space.next_pn += 1;
        }
        Some(start + end)
    }
}
