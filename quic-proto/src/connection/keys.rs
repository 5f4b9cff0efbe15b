//! Packet keys per space, and the 1-RTT key phases (RFC 9001 §5, §6).

use std::time::Instant;

use crate::crypto::{HeaderKey, KeyPair, KeyUpdate, Keys, PacketKey};

/// The 1-RTT keys: fixed header keys, and packet keys that change with each
/// key update (RFC 9001 §6).
pub(crate) struct OneRttKeys {
    pub header: KeyPair<Box<dyn HeaderKey>>,
    /// The current generation.
    pub packet: KeyPair<Box<dyn PacketKey>>,
    /// The next generation's receive key, derived ahead so a peer's update
    /// is recognised at once (RFC 9001 §6.3, §9.5). Its send key is derived
    /// only when an update happens: most connections never update, and the
    /// key holds some 600 bytes.
    pub next_remote: Box<dyn PacketKey>,
    /// The previous receive key, kept for the peer's old-phase packets;
    /// discarded three PTOs after the first packet of the new phase arrives
    /// (RFC 9001 §6.5), the deadline being unknown until then.
    pub prev_remote: Option<(Box<dyn PacketKey>, Option<Instant>)>,
    update: KeyUpdate,
    /// The key phase bit of the current generation.
    pub phase: bool,
    /// The first packet number we sent in the current phase; an ACK for a
    /// packet at or above it allows the next update (RFC 9001 §6.1).
    pub first_sent_in_phase: Option<u64>,
    /// The first packet number received in the current phase; older packets
    /// with the other phase bit use the previous key.
    pub first_received_in_phase: Option<u64>,
    /// Whether a packet of the current phase we sent has been acknowledged.
    pub phase_acked: bool,
    /// Packets sealed with the current key (RFC 9001 §6.6).
    pub sealed_in_phase: u64,
    /// `packet.local.tag_len()`, read once per generation (in
    /// [`OneRttKeys::new`] and [`OneRttKeys::rotate`], the only places the
    /// send key changes) instead of through the trait object per packet.
    local_tag_len: usize,
}

impl OneRttKeys {
    pub fn new(keys: Keys, update: KeyUpdate) -> Self {
        let local_tag_len = keys.packet.local.tag_len();
        Self {
            header: keys.header,
            packet: keys.packet,
            next_remote: update.next_remote_key(),
            prev_remote: None,
            update,
            phase: false,
            first_sent_in_phase: None,
            first_received_in_phase: None,
            phase_acked: true,
            sealed_in_phase: 0,
            local_tag_len,
        }
    }

    /// The AEAD tag length of the current send key.
    pub fn local_tag_len(&self) -> usize {
        debug_assert_eq!(self.local_tag_len, self.packet.local.tag_len());
        self.local_tag_len
    }

    /// Moves to the next generation; the old receive key stays usable for
    /// the peer's old-phase packets (see [`OneRttKeys::on_received`]).
    pub fn rotate(&mut self) {
        // The new generation's receive key was ready; its send key is
        // derived now (the receive key derived with it is the same as the
        // one held, and is dropped), then the following receive key.
        let local = self.update.next_packet_keys().local;
        self.local_tag_len = local.tag_len();
        let remote = core::mem::replace(&mut self.next_remote, self.update.next_remote_key());
        let old = core::mem::replace(&mut self.packet, KeyPair { local, remote });
        self.prev_remote = Some((old.remote, None));
        self.phase = !self.phase;
        self.first_sent_in_phase = None;
        self.first_received_in_phase = None;
        self.phase_acked = false;
        self.sealed_in_phase = 0;
    }

    /// A packet of the current phase arrived: the first one starts the
    /// clock on the previous key (RFC 9001 §6.5).
    pub fn on_received(&mut self, pn: u64, discard_old_at: Instant) {
        if self.first_received_in_phase.is_none() {
            self.first_received_in_phase = Some(pn);
            if let Some((_, deadline @ None)) = &mut self.prev_remote {
                *deadline = Some(discard_old_at);
            }
        }
    }

    /// When the previous receive key is to be discarded, if that is known.
    pub fn prev_discard_at(&self) -> Option<Instant> {
        self.prev_remote.as_ref().and_then(|(_, at)| *at)
    }

    /// Whether we may start a key update now (RFC 9001 §6.1: not before a
    /// packet of the current phase has been acknowledged).
    pub fn can_update(&self) -> bool {
        self.phase_acked
    }

    /// Whether the confidentiality limit is close enough that we should
    /// update (RFC 9001 §6.6), keeping a margin for packets in flight.
    pub fn near_confidentiality_limit(&self) -> bool {
        let limit = self.packet.local.confidentiality_limit();
        self.sealed_in_phase >= limit.saturating_sub(limit / 8)
    }
}

impl core::fmt::Debug for OneRttKeys {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("OneRttKeys")
            .field("phase", &self.phase)
            .finish_non_exhaustive()
    }
}
