//! Path MTU discovery (RFC 9000 §14.3: the Datagram Packetization Layer
//! PMTU Discovery of RFC 8899): the search for the largest datagram the path
//! carries, and the detection of black holes that swallow datagrams the path
//! used to carry.
//!
//! [`Mtud`] is the state machine; the connection builds the probes
//! (`send.rs`), reports what becomes of them and of other 1-RTT packets,
//! and applies the datagram size it decides on (`Path::mtu`, and the
//! congestion controller's maximum datagram size, RFC 9002 §7.2).
//!
//! # Search
//!
//! It starts once the handshake is confirmed and the path validated. A
//! probe is a 1-RTT packet holding a PING padded to the probed size, alone
//! in its datagram. The first probe is of the bound itself: most paths
//! carry it (1452 bytes fit Ethernet), and then one probe ends the search.
//! If it is lost, a binary search follows between `good`, the largest size
//! known to get through (the current MTU), and `hi`, the largest size not
//! known to fail (the bound, which one lost optimistic probe does not
//! rule out): the next probe is their midpoint. An acknowledged probe
//! raises the MTU at once; three lost probes of one size (RFC 8899
//! MAX_PROBES) mark it too large. Once fewer than [`MIN_STEP`] bytes
//! separate the two, the bound is probed again if it is still `hi`, and the
//! search ends. One probe is in flight at a time, so a search takes one
//! round trip per step (one on a path that carries the bound; seven from
//! 1200 to 1341 under a 1350-byte limit, not counting repeats). A search
//! that ended below the bound runs again after the configured interval
//! (RFC 8899 PMTU_RAISE_TIMER).
//!
//! # Black holes
//!
//! When the path stops carrying the datagram size it used to (a route
//! change), every full-sized packet is lost and nothing but small ones get
//! through. Packets declared lost together in consecutive packet numbers
//! form a loss burst; a burst is suspicious if all its packets are larger
//! than [`BASE_MTU`] and no packet at least as large as its smallest, sent
//! after it, has been acknowledged. Random loss leaves such bursts
//! explained by the next acknowledgment of a full-sized packet, which clears
//! the count; a black hole does not. When the count reaches the configured
//! threshold, the MTU falls back to [`BASE_MTU`] and a new search starts
//! after a cooldown. So that a black hole cannot starve loss detection of
//! acknowledgments, PTO probes go at [`BASE_MTU`] while the MTU is above it
//! (see [`Mtud::pto_probe_limit`]): they get through, and their
//! acknowledgments declare the large packets lost.

use std::time::Instant;

use super::{Connection, Counters};
use crate::config::MtuDiscoveryConfig;
use crate::recovery::{SentPacket, SpaceId};

/// BASE_PLPMTU (RFC 8899 §5.1.2) for QUIC: the smallest maximum datagram
/// size (RFC 9000 §14), which every path must carry, and where the MTU
/// falls back to on a black hole.
pub(super) const BASE_MTU: u16 = 1200;

/// MAX_PROBES (RFC 8899 §5.1.2): probes of one size lost before the size is
/// taken as too large.
const MAX_PROBES: u8 = 3;

/// The search ends when the sizes known to work and not known to fail are
/// closer than this.
const MIN_STEP: u16 = 20;

/// The path MTU discovery of one path; see the [module docs](self).
///
/// Small inline: a connection with discovery off carries no more, and one
/// with discovery on keeps the rest in one allocation.
#[derive(Clone, Debug)]
pub(super) struct Mtud {
    /// The largest size to probe: the configured bound, our
    /// max_udp_payload_size and the peer's.
    bound: u16,
    /// When a probe may go: the search has a step to take (from the event
    /// that made it due), or a new search is due (from the start of the
    /// connection or path: the sender waits for the handshake to be
    /// confirmed and the path validated). `None` while there is nothing to
    /// do: discovery off, a probe in flight, or the MTU at the bound. The
    /// one field the send path reads.
    probe_at: Option<Instant>,
    /// `None`: discovery is off and the MTU never changes.
    on: Option<Box<On>>,
}

/// The state of discovery that is on.
#[derive(Clone, Debug)]
struct On {
    config: MtuDiscoveryConfig,
    /// The search under way, if any.
    search: Option<Search>,
    black_hole: BlackHole,
}

/// A search for the path's MTU: the bound first, then a binary search.
#[derive(Clone, Copy, Debug)]
struct Search {
    /// The largest size known to get through (the MTU).
    good: u16,
    /// The largest size not known to fail (at first the bound).
    hi: u16,
    /// The size to probe next, or in flight.
    size: u16,
    /// Probes of `size` lost so far.
    lost: u8,
    /// The packet number of the probe in flight.
    in_flight: Option<u64>,
    /// `size` is the first, optimistic probe of the bound: most paths
    /// carry it, and then one probe ends the search. Its first loss
    /// proves nothing yet; the binary search takes over.
    optimistic: bool,
}

impl Search {
    /// A search above `good`, up to `bound`; `None` if there is no room.
    fn new(good: u16, bound: u16) -> Option<Self> {
        (bound > good).then_some(Self {
            good,
            hi: bound,
            size: bound,
            lost: 0,
            in_flight: None,
            optimistic: true,
        })
    }

    /// The midpoint between `good` and `hi`; the bound itself once they
    /// are close, if it was never tried; `None` when the search is done.
    fn next_size(&self, bound: u16) -> Option<u16> {
        let gap = self.hi.checked_sub(self.good).filter(|&g| g > 0)?;
        if gap < MIN_STEP {
            return (self.hi == bound).then_some(bound);
        }
        Some(self.good + gap.div_ceil(2))
    }
}

impl Mtud {
    /// Discovery with `config` (`None`: off), for a connection created at
    /// `now` whose own max_udp_payload_size is `ours`. The first search
    /// starts at the first chance to send a probe
    /// ([`Mtud::probe_size`]), which the sender gives only once the
    /// handshake is confirmed and the path validated.
    pub(super) fn new(config: Option<MtuDiscoveryConfig>, ours: u16, now: Instant) -> Self {
        let bound = config.map_or(BASE_MTU, |c| c.upper_bound.min(ours).max(BASE_MTU));
        Self {
            bound,
            probe_at: config.map(|_| now),
            on: config.map(|config| {
                Box::new(On {
                    config,
                    search: None,
                    black_hole: BlackHole::default(),
                })
            }),
        }
    }

    /// The peer's max_udp_payload_size transport parameter (at least 1200,
    /// checked when decoded) lowers the bound.
    pub(super) fn set_peer_limit(&mut self, peer: u64) {
        let peer = u16::try_from(peer).unwrap_or(u16::MAX).max(BASE_MTU);
        self.bound = self.bound.min(peer);
    }

    /// A new path at `now`: nothing is known about it; a new search starts
    /// as for a new connection.
    pub(super) fn reset(&mut self, now: Instant) {
        self.probe_at = None;
        if let Some(on) = &mut self.on {
            on.search = None;
            on.black_hole = BlackHole::default();
            self.probe_at = Some(now);
        }
    }

    /// Whether a probe (or the start of a search) is due at `now`: one
    /// comparison, for the send path.
    #[inline]
    pub(super) fn probe_due(&self, now: Instant) -> bool {
        self.probe_at.is_some_and(|at| now >= at)
    }

    /// The size of the probe to send now (after [`Mtud::probe_due`]),
    /// starting a new search if one is due. The caller then sends it and
    /// calls [`Mtud::on_probe_sent`], or sends nothing and asks again later.
    pub(super) fn probe_size(&mut self, now: Instant, mtu: u16) -> Option<u16> {
        let on = self.on.as_mut()?;
        if on.search.is_none() {
            // A new search begins.
            on.search = Search::new(mtu, self.bound);
            self.probe_at = on.search.map(|_| now);
        }
        let search = on.search.as_ref()?;
        if search.in_flight.is_some() {
            return None;
        }
        Some(search.size)
    }

    /// The probe went out as packet `pn`.
    pub(super) fn on_probe_sent(&mut self, pn: u64) {
        if let Some(s) = self.on.as_mut().and_then(|on| on.search.as_mut()) {
            s.in_flight = Some(pn);
            self.probe_at = None;
        }
    }

    /// The probe in flight: its packet number and size.
    #[inline]
    pub(super) fn probe_in_flight(&self) -> Option<(u64, u16)> {
        let s = self.on.as_ref()?.search.as_ref()?;
        Some((s.in_flight?, s.size))
    }

    /// Probe `pn` of `size` bytes was acknowledged: returns the new MTU if
    /// it is the search's probe (others belong to a search given up).
    pub(super) fn on_probe_acked(&mut self, now: Instant, pn: u64, size: u16) -> Option<u16> {
        let on = self.on.as_mut()?;
        let s = on.search.as_mut().filter(|s| s.in_flight == Some(pn))?;
        s.in_flight = None;
        s.good = size;
        s.lost = 0;
        s.optimistic = false;
        on.black_hole.on_probe_acked(pn, size);
        self.next_step(now);
        Some(size)
    }

    /// Probe `pn` was declared lost: after [`MAX_PROBES`] losses its size
    /// is too large. Not a congestion signal (RFC 9000 §14.4).
    pub(super) fn on_probe_lost(&mut self, now: Instant, pn: u64) {
        let Some(on) = self.on.as_mut() else {
            return;
        };
        on.black_hole.on_probe_lost(pn);
        let Some(s) = on.search.as_mut().filter(|s| s.in_flight == Some(pn)) else {
            return;
        };
        s.in_flight = None;
        if s.optimistic {
            // The binary search from here; the bound stays `hi`, to be
            // tried again at the end.
            s.optimistic = false;
            if let Some(size) = s.next_size(self.bound) {
                s.size = size;
            }
            self.probe_at = Some(now);
            return;
        }
        s.lost += 1;
        if s.lost >= MAX_PROBES {
            s.hi = s.size - 1;
            s.lost = 0;
        }
        self.next_step(now);
    }

    /// Picks the next probe size, or ends the search: a new one is due
    /// after the interval if the MTU is still below the bound.
    fn next_step(&mut self, now: Instant) {
        let Some(on) = self.on.as_mut() else {
            return;
        };
        let Some(s) = on.search.as_mut() else {
            return;
        };
        if s.lost > 0 {
            // Probe the same size again.
            self.probe_at = Some(now);
            return;
        }
        if let Some(size) = s.next_size(self.bound) {
            s.size = size;
            self.probe_at = Some(now);
            return;
        }
        let below = s.good < self.bound;
        on.search = None;
        self.probe_at = below.then(|| now.checked_add(on.config.interval)).flatten();
    }

    /// Whether black-hole detection watches the 1-RTT packets at `mtu`:
    /// with discovery on and the MTU above the base. While it does, report
    /// every lost packet ([`Mtud::on_lost`]) and acknowledged one
    /// ([`Mtud::on_acked`]) of the application space, then end each ACK or
    /// loss-timer pass with [`Mtud::black_hole_detected`].
    #[inline]
    pub(super) fn watches(&self, mtu: u16) -> bool {
        self.on.is_some() && mtu > BASE_MTU
    }

    /// A non-probe packet was declared lost.
    #[inline]
    pub(super) fn on_lost(&mut self, pn: u64, size: u16) {
        if let Some(on) = &mut self.on {
            on.black_hole.on_lost(pn, size);
        }
    }

    /// A non-probe packet was acknowledged.
    #[inline]
    pub(super) fn on_acked(&mut self, pn: u64, size: u16) {
        if let Some(on) = &mut self.on {
            on.black_hole.on_acked(pn, size);
        }
    }

    /// Ends an ACK or loss-timer pass: whether the losses so far show a
    /// black hole. If so, the caller drops the MTU to [`BASE_MTU`]; the
    /// search under way is given up and a new one is due after the
    /// cooldown.
    pub(super) fn black_hole_detected(&mut self, now: Instant) -> bool {
        let Some(on) = self.on.as_mut() else {
            return false;
        };
        if !on.black_hole.end_pass(on.config.black_hole_threshold) {
            return false;
        }
        on.black_hole = BlackHole::default();
        on.search = None;
        self.probe_at = now.checked_add(on.config.black_hole_cooldown);
        true
    }

    /// The most a PTO probe of the application space may carry: the base
    /// MTU while black-hole detection watches (so that PTO probes get
    /// through a black hole and their acknowledgments reveal it), else all
    /// of `len`.
    #[inline]
    pub(super) fn pto_probe_limit(&self, mtu: u16, len: usize) -> usize {
        if self.watches(mtu) {
            len.min(usize::from(BASE_MTU))
        } else {
            len
        }
    }
}

/// What the packets one ACK frame or loss-timer pass decides about tell
/// path MTU discovery: lost probes always; the other 1-RTT packets while
/// black-hole detection watches. Also counts the lost packets in the
/// stats. An acknowledged probe needs no per-packet test: the pass's end
/// ([`MtudFeed::finish`]) sees that the probe in flight is no longer
/// outstanding and was not declared lost.
pub(super) struct MtudFeed<'a> {
    mtud: &'a mut Mtud,
    now: Instant,
    /// Black-hole detection watches the pass's packets.
    watch: bool,
}

impl<'a> MtudFeed<'a> {
    /// A pass over the packets of `space` on a path at `mtu`.
    #[inline]
    pub(super) fn new(mtud: &'a mut Mtud, mtu: u16, space: SpaceId, now: Instant) -> Self {
        let watch = space == SpaceId::Data && mtud.watches(mtu);
        Self { mtud, now, watch }
    }

    /// Packet `pn` of `size` bytes was acknowledged. Inlined into the
    /// acknowledgment loop: one test unless black-hole detection watches.
    #[inline(always)]
    pub(super) fn acked(&mut self, pn: u64, size: u16) {
        if self.watch {
            self.mtud.on_acked(pn, size);
        }
    }

    /// Packet `pn` of `space` was declared lost: counted in `stats` (lost
    /// probes apart) and reported.
    pub(super) fn lost<R>(
        &mut self,
        stats: &mut Counters,
        space: SpaceId,
        pn: u64,
        p: &SentPacket<R>,
    ) {
        if p.is_mtu_probe() {
            stats.mtu_probes_lost += 1;
            self.mtud.on_probe_lost(self.now, pn);
            return;
        }
        stats.packets_lost += 1;
        stats.bytes_lost += u64::from(p.size);
        if self.watch && space == SpaceId::Data {
            self.mtud.on_lost(pn, p.size);
        }
    }

    /// Ends the pass: `outstanding` tells whether a packet number of the
    /// application space is still awaiting its fate. Returns what
    /// [`Connection::end_mtu_discovery_pass`] needs, if anything: the
    /// acknowledged probe's size (the new MTU), and whether to look for a
    /// black hole.
    #[inline]
    pub(super) fn finish(self, outstanding: impl FnOnce(u64) -> bool) -> Option<Option<u16>> {
        let raised = match self.mtud.probe_in_flight() {
            Some((pn, size)) if !outstanding(pn) => self.mtud.on_probe_acked(self.now, pn, size),
            _ => None,
        };
        (self.watch || raised.is_some()).then_some(raised)
    }
}

impl Connection {
    /// Sends datagrams of `mtu` bytes from now on; the congestion controller
    /// learns the new maximum datagram size (RFC 9002 §7.2), and queued
    /// DATAGRAM frames that no longer fit are dropped.
    pub(super) fn set_mtu(&mut self, mtu: u16) {
        if mtu == self.path.mtu {
            return;
        }
        let smaller = mtu < self.path.mtu;
        self.path.mtu = mtu;
        self.path.cc.on_mtu_update(mtu);
        if smaller {
            if let Some(max) = self.max_datagram_size() {
                self.datagrams_out.retain(|d| d.len() <= max);
            }
        }
    }

    /// After an ACK frame or a loss-timer pass of the application space
    /// reported its packets to the discovery: applies an acknowledged
    /// probe's size (`raised`), then falls back to the base on a black hole.
    #[inline(never)]
    pub(super) fn end_mtu_discovery_pass(&mut self, now: Instant, raised: Option<u16>) {
        if let Some(mtu) = raised {
            self.set_mtu(mtu);
        }
        if self.path.mtud.watches(self.path.mtu) && self.path.mtud.black_hole_detected(now) {
            self.stats.black_holes_detected += 1;
            self.set_mtu(BASE_MTU);
        }
    }

    /// The peer moved to a new path (RFC 9000 §9): its MTU is unknown, so
    /// sending starts again at `initial_mtu` and a new search waits for the
    /// path to be validated. Out of line: it is rare, and called from the
    /// receive path.
    #[cold]
    #[inline(never)]
    pub(super) fn reset_mtu_discovery(&mut self, now: Instant) {
        self.path.mtud.reset(now);
        self.set_mtu(self.config.initial_mtu.max(BASE_MTU));
    }
}

/// Judges whether the losses of large packets mean a black hole; see the
/// [module docs](self).
#[derive(Clone, Copy, Debug)]
struct BlackHole {
    /// Suspicious loss bursts not explained since.
    suspicious: u8,
    /// The last packet number of the newest suspicious burst.
    suspicious_last: u64,
    /// The largest of the suspicious bursts' smallest packets: a larger
    /// packet, sent after them all and acknowledged, explains them all.
    suspicious_size: u16,
    /// The largest packet acknowledged since the newest suspicious burst
    /// (at least the base) and its packet number (the newest of that
    /// size): it explains an older burst of packets no larger.
    proof_size: u16,
    proof_pn: u64,
    /// The burst being gathered in this pass: its last packet number and
    /// smallest packet.
    burst: Option<(u64, u16)>,
}

impl Default for BlackHole {
    fn default() -> Self {
        Self {
            suspicious: 0,
            suspicious_last: 0,
            suspicious_size: 0,
            proof_size: BASE_MTU,
            proof_pn: 0,
            burst: None,
        }
    }
}

impl BlackHole {
    /// Losses come in packet-number order within a pass.
    fn on_lost(&mut self, pn: u64, size: u16) {
        match self.burst {
            Some((last, smallest)) if pn == last + 1 => {
                self.burst = Some((pn, smallest.min(size)));
            }
            _ => {
                self.close_burst();
                self.burst = Some((pn, size));
            }
        }
    }

    /// A lost probe does not end a burst (nor count in it).
    fn on_probe_lost(&mut self, pn: u64) {
        if let Some((last, smallest)) = self.burst {
            if pn == last + 1 {
                self.burst = Some((pn, smallest));
            }
        }
    }

    /// Acknowledgments come after the losses of their pass.
    fn on_acked(&mut self, pn: u64, size: u16) {
        self.close_burst();
        if size > self.proof_size || (size == self.proof_size && pn > self.proof_pn) {
            self.proof_size = size;
            self.proof_pn = pn;
        }
        if self.suspicious > 0 && pn > self.suspicious_last && size >= self.suspicious_size {
            self.suspicious = 0;
        }
    }

    fn on_probe_acked(&mut self, pn: u64, size: u16) {
        self.suspicious = 0;
        self.proof_size = size;
        self.proof_pn = pn;
    }

    /// Judges the burst gathered so far.
    fn close_burst(&mut self) {
        let Some((last, smallest)) = self.burst.take() else {
            return;
        };
        // A base-sized packet in the burst: a black hole would not have
        // taken it. A larger packet sent later got through: the path
        // carries this size.
        if smallest <= BASE_MTU || (last < self.proof_pn && smallest <= self.proof_size) {
            return;
        }
        self.suspicious_size = if self.suspicious == 0 {
            smallest
        } else {
            self.suspicious_size.max(smallest)
        };
        self.suspicious = self.suspicious.saturating_add(1);
        self.suspicious_last = self.suspicious_last.max(last);
        if last > self.proof_pn {
            // The proof predates this burst; start a new one.
            self.proof_size = BASE_MTU;
            self.proof_pn = 0;
        }
    }

    /// Ends a pass: whether the suspicious bursts reach `threshold`
    /// (0: never).
    fn end_pass(&mut self, threshold: u8) -> bool {
        self.close_burst();
        threshold > 0 && self.suspicious >= threshold
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn mtud() -> Mtud {
        Mtud::new(
            Some(MtuDiscoveryConfig::default()),
            1472,
            crate::test_instant(),
        )
    }

    /// Runs a search on a path carrying `limit` bytes; returns the probed
    /// sizes and the final MTU.
    fn search(m: &mut Mtud, limit: u16) -> (Vec<u16>, u16) {
        let now = crate::test_instant();
        let mut mtu = BASE_MTU;
        let mut sizes = Vec::new();
        for pn in 0..100 {
            if !m.probe_due(now) {
                break;
            }
            let size = m.probe_size(now, mtu).unwrap();
            m.on_probe_sent(pn);
            assert!(!m.probe_due(now), "one probe at a time");
            sizes.push(size);
            if size <= limit {
                mtu = m.on_probe_acked(now, pn, size).unwrap();
            } else {
                m.on_probe_lost(now, pn);
            }
        }
        (sizes, mtu)
    }

    #[test]
    fn search_reaches_the_bound_on_a_clean_path() {
        let mut m = mtud();
        let (sizes, mtu) = search(&mut m, 1500);
        // The bound first: one probe.
        assert_eq!(sizes, [1452]);
        assert_eq!(mtu, 1452);
        // At the bound: nothing more to probe, ever.
        assert_eq!(m.probe_at, None);
    }

    #[test]
    fn search_stops_below_a_limit_after_three_losses_per_size() {
        let mut m = mtud();
        let (sizes, mtu) = search(&mut m, 1350);
        // The bound once, then a binary search, three losses per size.
        assert_eq!(
            sizes,
            [1452, 1326, 1389, 1389, 1389, 1357, 1357, 1357, 1341]
        );
        assert_eq!(mtu, 1341);
        // Below the bound: a new search after the interval.
        let again = crate::test_instant() + Duration::from_secs(600);
        assert_eq!(m.probe_at, Some(again));
        assert!(m.probe_due(again));
        assert_eq!(m.probe_size(again, mtu), Some(1452));
    }

    #[test]
    fn bound_is_the_smallest_of_config_ours_and_the_peers() {
        let mut m = Mtud::new(
            Some(MtuDiscoveryConfig::default()),
            1400,
            crate::test_instant(),
        );
        assert_eq!(m.bound, 1400);
        m.set_peer_limit(1300);
        assert_eq!(m.bound, 1300);
        m.set_peer_limit(65527);
        assert_eq!(m.bound, 1300);
        let (sizes, mtu) = search(&mut m, 1500);
        assert!(sizes.iter().all(|&s| s <= 1300), "{sizes:?}");
        assert_eq!(mtu, 1300);
    }

    #[test]
    fn no_search_when_off_or_at_the_bound() {
        let now = crate::test_instant();
        let off = Mtud::new(None, 1472, now);
        assert!(!off.probe_due(now));
        assert!(!off.watches(1452));
        let mut at_bound = mtud();
        assert!(at_bound.probe_due(now));
        assert_eq!(at_bound.probe_size(now, 1452), None);
        assert!(!at_bound.probe_due(now));
    }

    fn pass(m: &mut Mtud, lost: &[(u64, u16)], acked: &[(u64, u16)]) -> bool {
        for &(pn, size) in lost {
            m.on_lost(pn, size);
        }
        for &(pn, size) in acked {
            m.on_acked(pn, size);
        }
        m.black_hole_detected(crate::test_instant())
    }

    #[test]
    fn random_loss_is_not_a_black_hole() {
        let mut m = mtud();
        for i in 0..100u64 {
            let base = i * 10;
            // Two bursts of large packets, then later large packets acked.
            let lost = [(base, 1452), (base + 1, 1452), (base + 4, 1452)];
            let acked = [(base + 7, 1452), (base + 8, 1452)];
            assert!(!pass(&mut m, &lost, &acked));
        }
        // Losses declared by the timer, after later packets were acked.
        assert!(!pass(&mut m, &[], &[(2000, 1452)]));
        for pn in [1990, 1992, 1994, 1996, 1998] {
            assert!(!pass(&mut m, &[(pn, 1452)], &[]));
        }
    }

    #[test]
    fn bursts_with_small_packets_are_not_suspicious() {
        let mut m = mtud();
        for i in 0..10u64 {
            let lost = [(i * 10, 1452), (i * 10 + 1, 1200)];
            assert!(!pass(&mut m, &lost, &[(i * 10 + 5, 1200)]));
        }
    }

    #[test]
    fn large_losses_with_only_small_packets_acked_are_a_black_hole() {
        let mut m = mtud();
        for i in 0..3u64 {
            let lost: Vec<_> = (i * 10..i * 10 + 8).map(|pn| (pn, 1452)).collect();
            assert!(!pass(
                &mut m,
                &lost,
                &[(i * 10 + 8, 1200), (i * 10 + 9, 1200)]
            ));
        }
        assert!(pass(&mut m, &[(30, 1452)], &[(31, 1200)]));
        // Cooldown before searching again.
        let now = crate::test_instant();
        assert!(!m.probe_due(now));
        assert!(m.probe_due(now + Duration::from_secs(60)));
    }

    #[test]
    fn a_larger_packet_acked_later_clears_suspicion() {
        let mut m = mtud();
        for i in 0..3u64 {
            assert!(!pass(&mut m, &[(i * 10, 1452)], &[(i * 10 + 5, 1200)]));
        }
        // A full-sized packet sent after the bursts gets through.
        assert!(!pass(&mut m, &[], &[(31, 1452)]));
        assert!(!pass(&mut m, &[(40, 1452)], &[(41, 1200)]));
        // A smaller one than the bursts' packets explains nothing.
        assert!(!pass(&mut m, &[(50, 1452)], &[(51, 1300)]));
        assert!(!pass(&mut m, &[(60, 1452)], &[(61, 1300)]));
        assert!(pass(&mut m, &[(70, 1452)], &[(71, 1300)]));
    }

    #[test]
    fn threshold_zero_turns_detection_off() {
        let config = MtuDiscoveryConfig {
            black_hole_threshold: 0,
            ..MtuDiscoveryConfig::default()
        };
        let mut m = Mtud::new(Some(config), 1472, crate::test_instant());
        for i in 0..20u64 {
            assert!(!pass(&mut m, &[(i * 10, 1452)], &[(i * 10 + 5, 1200)]));
        }
    }
}
