//! The send half: from `prepare_next_packet` to the sockets, with GSO,
//! its fallback, and datagrams kept across `WouldBlock`.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use quic_proto::connection::Transmit;
use quic_proto::endpoint::{Endpoint, SendFailure};

use super::{canonical, mapped, AsUdpSocket, IoStats, Socket, MAX_UDP_PAYLOAD};

/// The most payload one GSO send carries: the kernel refuses a batch
/// whose total exceeds an IP packet (65535 bytes with headers).
const MAX_GSO_BYTES: usize = 65000;

/// How a [`Sender`] sends.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SendConfig {
    /// The most datagrams one send call carries (GSO). Batches the
    /// endpoint makes larger than this, or than the platform allows, are
    /// split. Set `EndpointConfig::max_gso_segments` to the same number so
    /// the endpoint builds batches of that size.
    pub max_batch: usize,
    /// Use segmentation offload where the platform has it. When off (or
    /// unavailable), the endpoint is told GSO is unsupported and every
    /// datagram goes out in its own call.
    pub gso: bool,
    /// Testing: the first this many GSO sends fail as if the kernel had
    /// answered EIO, so the fallback path runs on any machine.
    pub simulated_eio: u32,
    /// Testing: one send call in this many (0: none; 1 counts as 2) is
    /// refused with `WouldBlock` before it reaches the kernel, so the
    /// full-buffer path runs where the socket buffer never fills (loopback
    /// frees a datagram's buffer space within the send call).
    pub simulated_would_block: u32,
}

impl Default for SendConfig {
    /// Batches of up to 10 datagrams, GSO on, no simulated failures.
    fn default() -> Self {
        Self {
            max_batch: 10,
            gso: true,
            simulated_eio: 0,
            simulated_would_block: 0,
        }
    }
}

/// A transmit the endpoint produced that is not fully sent yet.
#[derive(Clone, Copy, Debug)]
struct Pending {
    tx: Transmit,
    socket: usize,
    /// Bytes of the batch already sent (a multiple of the segment size).
    offset: usize,
}

/// What one [`Sender::flush`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Flushed {
    /// Datagrams handed to the kernel.
    pub datagrams: usize,
    /// Set when a socket returned `WouldBlock`: the datagrams it refused
    /// are kept, nothing more is asked of the endpoint, and the next
    /// flush retries them. Wait for this socket to become writable.
    pub blocked_on: Option<usize>,
}

/// Moves datagrams from an [`Endpoint`] to a set of [`Socket`]s.
///
/// One sender serves one endpoint and the sockets that endpoint uses; it
/// owns the send buffer (one UDP payload's worth, [`MAX_UDP_PAYLOAD`]).
pub struct Sender {
    buf: Vec<u8>,
    pending: Option<Pending>,
    config: SendConfig,
    /// GSO is in use: configured, available, and not refused yet.
    gso: bool,
    /// Whether the endpoint was told that GSO is off.
    told_endpoint: bool,
    eio_left: u32,
    /// Send calls tried, for [`SendConfig::simulated_would_block`].
    tries: u64,
    preferred: Option<usize>,
}

impl std::fmt::Debug for Sender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sender")
            .field("gso", &self.gso)
            .field("pending", &self.pending)
            .field("preferred", &self.preferred)
            .finish_non_exhaustive()
    }
}

impl Sender {
    /// A sender with nothing pending.
    pub fn new(config: SendConfig) -> Self {
        Self {
            buf: vec![0; MAX_UDP_PAYLOAD],
            pending: None,
            gso: config.gso && config.max_batch > 1,
            told_endpoint: false,
            eio_left: config.simulated_eio,
            tries: 0,
            preferred: None,
            config,
        }
    }

    /// Whether sends are batched (GSO configured, available on the sockets
    /// seen so far, and never refused).
    pub fn gso_enabled(&self) -> bool {
        self.gso
    }

    /// Sends from socket `index` whenever it can reach the destination
    /// (`None`: the first socket that fits, preferring one bound to the
    /// datagram's source address). For tests of migration: an extra socket
    /// on another port makes our address change.
    pub fn set_preferred_socket(&mut self, index: Option<usize>) {
        self.preferred = index;
    }

    /// The socket a kept datagram waits for, if any.
    pub fn blocked_on(&self) -> Option<usize> {
        self.pending.map(|p| p.socket)
    }

    /// Sends what is pending, then everything the endpoint has ready at
    /// `now`, until the endpoint has nothing more or a socket would block.
    /// Send errors other than `WouldBlock` drop the datagram (loss
    /// recovery resends its content) and are counted in `stats`; none is
    /// returned.
    pub fn flush<S: AsUdpSocket>(
        &mut self,
        endpoint: &mut Endpoint,
        now: Instant,
        sockets: &[Socket<S>],
        stats: &mut IoStats,
    ) -> Flushed {
        self.flush_on(endpoint, now, sockets, stats)
    }

    /// [`Sender::flush`] on any [`Wire`].
    fn flush_on<W: Wire + ?Sized>(
        &mut self,
        endpoint: &mut Endpoint,
        now: Instant,
        sockets: &W,
        stats: &mut IoStats,
    ) -> Flushed {
        if self.gso && (0..sockets.count()).any(|i| sockets.max_gso_segments(i) < 2) {
            self.gso = false;
        }
        if !self.gso && !self.told_endpoint {
            // Ask for single datagrams instead of splitting batches here.
            endpoint.report_send_failure(SendFailure::GsoUnsupported);
            self.told_endpoint = true;
        }
        let mut out = Flushed::default();
        loop {
            let pending = match self.pending {
                Some(p) => p,
                None => {
                    let Some((tx, _)) = endpoint.prepare_next_packet(now, &mut self.buf) else {
                        return out;
                    };
                    let Some(socket) = self.pick(sockets, &tx) else {
                        // No socket of that address family.
                        stats.send_errors += segments(&tx, tx.size) as u64;
                        endpoint.report_send_failure(SendFailure::Unreachable);
                        continue;
                    };
                    Pending {
                        tx,
                        socket,
                        offset: 0,
                    }
                }
            };
            self.pending = Some(pending);
            match self.send_pending(endpoint, sockets, pending.socket, stats) {
                Ok(n) => out.datagrams += n,
                Err(n) => {
                    out.datagrams += n;
                    out.blocked_on = Some(pending.socket);
                    return out;
                }
            }
            self.pending = None;
        }
    }

    /// Sends the pending transmit from its offset, in calls of at most
    /// the allowed batch. `Ok(datagrams)` once all is sent (or dropped);
    /// `Err(datagrams sent before)` on `WouldBlock`, the rest kept.
    fn send_pending<W: Wire + ?Sized>(
        &mut self,
        endpoint: &mut Endpoint,
        sockets: &W,
        socket: usize,
        stats: &mut IoStats,
    ) -> Result<usize, usize> {
        let Some(p) = self.pending.as_mut() else {
            return Ok(0);
        };
        let tx = p.tx;
        let size = tx.size.min(self.buf.len());
        let segment = tx.segment_size.unwrap_or(size).clamp(1, size.max(1));
        let destination = if sockets.is_ipv6(socket) {
            mapped(tx.destination)
        } else {
            tx.destination
        };
        // Choose the source address only on a wildcard socket, and only
        // when it is of the destination's family.
        let src_ip = tx.source.filter(|ip| {
            sockets.is_wildcard(socket) && ip.is_ipv4() == canonical(tx.destination).is_ipv4()
        });
        let mut sent = 0;
        while p.offset < size {
            let per_call = if self.gso {
                self.config
                    .max_batch
                    .min(sockets.max_gso_segments(socket))
                    .min(MAX_GSO_BYTES / segment)
                    .max(1)
            } else {
                1
            };
            let len = (segment * per_call).min(size - p.offset);
            let contents = &self.buf[p.offset..p.offset + len];
            let n = segments_of(len, segment);
            let transmit = quinn_udp::Transmit {
                destination,
                ecn: tx.ecn.map(ecn),
                contents,
                segment_size: (n > 1).then_some(segment),
                src_ip,
            };
            let simulated = n > 1 && self.eio_left > 0;
            self.tries += 1;
            let every = u64::from(self.config.simulated_would_block);
            let result = if simulated {
                self.eio_left -= 1;
                Err(io::Error::other("simulated EIO from a GSO send"))
            } else if every > 0 && self.tries % every.max(2) == 0 {
                Err(io::ErrorKind::WouldBlock.into())
            } else {
                let started = stats.start();
                let r = sockets.send(socket, &transmit);
                stats.sent(started);
                r
            };
            match result {
                Ok(()) => {
                    p.offset += len;
                    sent += n;
                    stats.send_calls += 1;
                    stats.datagrams_sent += n as u64;
                    stats.gso_sends += u64::from(n > 1);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    stats.send_would_block += 1;
                    return Err(sent);
                }
                Err(e) if n > 1 && (simulated || is_gso_error(&e)) => {
                    // The path refused segmentation offload: from now on one
                    // datagram per call, and the endpoint stops batching.
                    // The same bytes go out again, split.
                    stats.gso_failures += 1;
                    self.gso = false;
                    endpoint.report_send_failure(SendFailure::GsoUnsupported);
                    self.told_endpoint = true;
                }
                Err(e) => {
                    if is_unreachable(&e) {
                        endpoint.report_send_failure(SendFailure::Unreachable);
                    }
                    p.offset += len;
                    stats.send_errors += n as u64;
                }
            }
        }
        Ok(sent)
    }

    /// The socket for `tx`: the preferred one if it fits, else one bound
    /// to the source address, else the first that reaches the destination.
    fn pick<W: Wire + ?Sized>(&self, sockets: &W, tx: &Transmit) -> Option<usize> {
        let fits = |i: &usize| sockets.can_reach(*i, &tx.destination);
        if let Some(i) = self.preferred.filter(|&i| i < sockets.count()).filter(fits) {
            return Some(i);
        }
        let all = 0..sockets.count();
        tx.source
            .and_then(|ip| {
                all.clone()
                    .filter(fits)
                    .find(|&i| sockets.local_ip(i) == ip)
            })
            .or_else(|| all.clone().find(fits))
    }
}

/// What the sender needs of a set of sockets (a seam for unit tests).
trait Wire {
    fn count(&self) -> usize;
    fn can_reach(&self, socket: usize, destination: &SocketAddr) -> bool;
    fn local_ip(&self, socket: usize) -> IpAddr;
    fn is_wildcard(&self, socket: usize) -> bool;
    fn is_ipv6(&self, socket: usize) -> bool;
    fn max_gso_segments(&self, socket: usize) -> usize;
    fn send(&self, socket: usize, transmit: &quinn_udp::Transmit<'_>) -> io::Result<()>;
}

impl<S: AsUdpSocket> Wire for [Socket<S>] {
    fn count(&self) -> usize {
        self.len()
    }
    fn can_reach(&self, socket: usize, destination: &SocketAddr) -> bool {
        self[socket].can_reach(destination)
    }
    fn local_ip(&self, socket: usize) -> IpAddr {
        self[socket].local_addr().ip()
    }
    fn is_wildcard(&self, socket: usize) -> bool {
        self[socket].is_wildcard()
    }
    fn is_ipv6(&self, socket: usize) -> bool {
        self[socket].is_ipv6()
    }
    fn max_gso_segments(&self, socket: usize) -> usize {
        self[socket].max_gso_segments()
    }
    fn send(&self, socket: usize, transmit: &quinn_udp::Transmit<'_>) -> io::Result<()> {
        self[socket].try_send(transmit)
    }
}

/// How many datagrams `len` bytes of `tx` hold.
fn segments(tx: &Transmit, len: usize) -> usize {
    segments_of(len, tx.segment_size.unwrap_or(len))
}

/// How many segments of `segment` bytes `len` bytes hold (the last may be
/// short).
fn segments_of(len: usize, segment: usize) -> usize {
    len.div_ceil(segment.max(1)).max(1)
}

fn ecn(e: quic_proto::ack::EcnCodepoint) -> quinn_udp::EcnCodepoint {
    use quic_proto::ack::EcnCodepoint as E;
    match e {
        E::Ect0 => quinn_udp::EcnCodepoint::Ect0,
        E::Ect1 => quinn_udp::EcnCodepoint::Ect1,
        E::Ce => quinn_udp::EcnCodepoint::Ce,
    }
}

/// Whether a failed GSO send means "this path cannot segment": Linux
/// answers EIO when the device or driver lacks the offload, and EINVAL for
/// some segment sizes the kernel will not take.
#[cfg(unix)]
fn is_gso_error(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EIO) | Some(libc::EINVAL))
}

/// Whether a failed GSO send means "this path cannot segment" (no such
/// error is known on this platform).
#[cfg(not(unix))]
fn is_gso_error(_: &io::Error) -> bool {
    false
}

fn is_unreachable(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::NetworkUnreachable | io::ErrorKind::HostUnreachable
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::collections::VecDeque;

    use quic_proto::config::EndpointConfig;

    /// A send: destination, contents, segment size.
    type Record = (SocketAddr, Vec<u8>, Option<usize>);

    /// Sockets that record what is sent and answer from a script.
    struct Mock {
        ipv6: bool,
        gso: usize,
        /// The outcome of each send in turn (`None`: success); then success.
        script: RefCell<VecDeque<Option<io::Error>>>,
        sent: RefCell<Vec<Record>>,
    }

    impl Mock {
        fn new(ipv6: bool, script: Vec<Option<io::Error>>) -> Self {
            Self {
                ipv6,
                gso: 64,
                script: RefCell::new(script.into()),
                sent: RefCell::new(Vec::new()),
            }
        }
    }

    impl Wire for Mock {
        fn count(&self) -> usize {
            1
        }
        fn can_reach(&self, _: usize, d: &SocketAddr) -> bool {
            canonical(*d).is_ipv6() == self.ipv6
        }
        fn local_ip(&self, _: usize) -> IpAddr {
            IpAddr::from([127, 0, 0, 1])
        }
        fn is_wildcard(&self, _: usize) -> bool {
            false
        }
        fn is_ipv6(&self, _: usize) -> bool {
            self.ipv6
        }
        fn max_gso_segments(&self, _: usize) -> usize {
            self.gso
        }
        fn send(&self, _: usize, t: &quinn_udp::Transmit<'_>) -> io::Result<()> {
            if let Some(Some(e)) = self.script.borrow_mut().pop_front() {
                return Err(e);
            }
            let record = (t.destination, t.contents.to_vec(), t.segment_size);
            self.sent.borrow_mut().push(record);
            Ok(())
        }
    }

    /// An endpoint holding `n` Version Negotiation answers, the i-th to
    /// 127.0.0.1:(1000 + i), echoing i in its connection ID.
    fn endpoint_with_answers(n: u8) -> Endpoint {
        let mut endpoint = Endpoint::new(EndpointConfig::new(1), None);
        for i in 0..n {
            // A long header with a reserved version (0x?a?a?a?a).
            let mut d = vec![0xc0, 0x0a, 0x1a, 0x2a, 0x3a, 8];
            d.extend([0xdd; 8]);
            d.push(8);
            d.extend([i; 8]);
            d.resize(1200, 0);
            let from = SocketAddr::from(([127, 0, 0, 1], 1000 + u16::from(i)));
            endpoint.incoming_packet(crate::now(), from, &mut d);
        }
        endpoint
    }

    #[test]
    fn a_datagram_refused_with_would_block_is_kept_and_sent_next_time() {
        let mut endpoint = endpoint_with_answers(5);
        let wire = Mock::new(false, vec![None, Some(io::ErrorKind::WouldBlock.into())]);
        let mut sender = Sender::new(SendConfig::default());
        let mut stats = IoStats::default();
        let first = sender.flush_on(&mut endpoint, crate::now(), &wire, &mut stats);
        assert_eq!(first.datagrams, 1);
        assert_eq!(first.blocked_on, Some(0));
        assert_eq!(sender.blocked_on(), Some(0));
        let second = sender.flush_on(&mut endpoint, crate::now(), &wire, &mut stats);
        assert_eq!(second.datagrams, 4);
        assert_eq!(second.blocked_on, None);
        let sent = wire.sent.borrow();
        let ports: Vec<u16> = sent.iter().map(|(d, _, _)| d.port()).collect();
        assert_eq!(ports, [1000, 1001, 1002, 1003, 1004], "none lost, in order");
        for (i, (_, bytes, segments)) in sent.iter().enumerate() {
            // The answer echoes the client's source CID as its destination.
            assert_eq!(bytes[6..14], [i as u8; 8]);
            assert_eq!(*segments, None);
        }
        assert_eq!(stats.send_would_block, 1);
        assert_eq!(stats.datagrams_sent, 5);
        assert_eq!(stats.send_calls, 5);
    }

    #[test]
    fn an_ipv6_socket_sends_to_ipv4_peers_through_mapped_addresses() {
        let mut endpoint = endpoint_with_answers(1);
        let wire = Mock::new(true, vec![]);
        // This mock reaches IPv6 only: nothing fits, the datagram is
        // dropped and counted, and flushing ends.
        let mut sender = Sender::new(SendConfig::default());
        let mut stats = IoStats::default();
        let out = sender.flush_on(&mut endpoint, crate::now(), &wire, &mut stats);
        assert_eq!((out.datagrams, stats.send_errors), (0, 1));
        assert!(wire.sent.borrow().is_empty());

        struct DualStack(Mock);
        impl Wire for DualStack {
            fn count(&self) -> usize {
                1
            }
            fn can_reach(&self, _: usize, _: &SocketAddr) -> bool {
                true
            }
            fn local_ip(&self, i: usize) -> IpAddr {
                self.0.local_ip(i)
            }
            fn is_wildcard(&self, _: usize) -> bool {
                true
            }
            fn is_ipv6(&self, _: usize) -> bool {
                true
            }
            fn max_gso_segments(&self, i: usize) -> usize {
                self.0.max_gso_segments(i)
            }
            fn send(&self, i: usize, t: &quinn_udp::Transmit<'_>) -> io::Result<()> {
                self.0.send(i, t)
            }
        }
        let mut endpoint = endpoint_with_answers(1);
        let wire = DualStack(Mock::new(true, vec![]));
        let out = sender.flush_on(&mut endpoint, crate::now(), &wire, &mut stats);
        assert_eq!(out.datagrams, 1);
        let sent = wire.0.sent.borrow();
        assert_eq!(sent[0].0.to_string(), "[::ffff:127.0.0.1]:1000");
    }

    #[test]
    fn without_gso_on_the_sockets_the_endpoint_is_told_once() {
        let mut endpoint = endpoint_with_answers(2);
        let mut wire = Mock::new(false, vec![]);
        wire.gso = 1;
        let mut sender = Sender::new(SendConfig::default());
        assert!(sender.gso_enabled());
        let mut stats = IoStats::default();
        let out = sender.flush_on(&mut endpoint, crate::now(), &wire, &mut stats);
        assert_eq!(out.datagrams, 2);
        assert!(!sender.gso_enabled());
    }

    #[test]
    fn segments_count_the_short_tail() {
        assert_eq!(segments_of(1200, 1200), 1);
        assert_eq!(segments_of(2401, 1200), 3);
        assert_eq!(segments_of(0, 1200), 1);
        assert_eq!(segments_of(10, 0), 10);
    }

    /// A sender holding a batch of 25 datagrams of 1000 bytes (the last
    /// 500), as the endpoint would leave it, to 127.0.0.1:9.
    fn sender_with_batch(config: SendConfig) -> (Sender, Vec<u8>) {
        let mut sender = Sender::new(config);
        let size = 24 * 1000 + 500;
        for (i, b) in sender.buf[..size].iter_mut().enumerate() {
            *b = (i / 1000) as u8 ^ (i as u8);
        }
        let tx = Transmit {
            destination: SocketAddr::from(([127, 0, 0, 1], 9)),
            size,
            ecn: None,
            source: None,
            segment_size: Some(1000),
        };
        sender.pending = Some(Pending {
            tx,
            socket: 0,
            offset: 0,
        });
        let bytes = sender.buf[..size].to_vec();
        (sender, bytes)
    }

    #[test]
    fn batches_are_split_at_the_configured_size() {
        let (mut sender, bytes) = sender_with_batch(SendConfig::default());
        let mut endpoint = endpoint_with_answers(0);
        let wire = Mock::new(false, vec![]);
        let mut stats = IoStats::default();
        let out = sender.flush_on(&mut endpoint, crate::now(), &wire, &mut stats);
        assert_eq!(out.datagrams, 25);
        let sent = wire.sent.borrow();
        let shape: Vec<(usize, Option<usize>)> =
            sent.iter().map(|(_, b, s)| (b.len(), *s)).collect();
        assert_eq!(
            shape,
            [
                (10_000, Some(1000)),
                (10_000, Some(1000)),
                (4500, Some(1000))
            ]
        );
        assert_eq!(
            sent.iter()
                .flat_map(|(_, b, _)| b.clone())
                .collect::<Vec<_>>(),
            bytes
        );
        assert_eq!(
            (stats.gso_sends, stats.send_calls, stats.datagrams_sent),
            (3, 3, 25)
        );
    }

    /// Checks that after the first GSO send failed with `error`, the same
    /// bytes went out one datagram per call and GSO stays off.
    fn check_fallback(config: SendConfig, script: Vec<Option<io::Error>>) {
        let (mut sender, bytes) = sender_with_batch(config);
        let mut endpoint = endpoint_with_answers(0);
        let wire = Mock::new(false, script);
        let mut stats = IoStats::default();
        let out = sender.flush_on(&mut endpoint, crate::now(), &wire, &mut stats);
        assert_eq!(out.datagrams, 25);
        assert!(!sender.gso_enabled());
        let sent = wire.sent.borrow();
        assert_eq!(sent.len(), 25);
        assert!(sent.iter().all(|(_, b, s)| s.is_none() && b.len() <= 1000));
        assert_eq!(
            sent.iter()
                .flat_map(|(_, b, _)| b.clone())
                .collect::<Vec<_>>(),
            bytes
        );
        assert_eq!(
            (stats.gso_failures, stats.gso_sends, stats.send_errors),
            (1, 0, 0)
        );
    }

    #[test]
    fn a_simulated_eio_makes_the_batch_go_out_one_by_one() {
        let config = SendConfig {
            simulated_eio: 1,
            ..SendConfig::default()
        };
        check_fallback(config, vec![]);
    }

    #[cfg(unix)]
    #[test]
    fn a_real_eio_makes_the_batch_go_out_one_by_one() {
        let eio = io::Error::from_raw_os_error(libc::EIO);
        check_fallback(SendConfig::default(), vec![Some(eio)]);
    }

    #[test]
    fn simulated_would_block_refuses_every_nth_call_and_loses_nothing() {
        let config = SendConfig {
            simulated_would_block: 2,
            ..SendConfig::default()
        };
        let (mut sender, bytes) = sender_with_batch(config);
        let mut endpoint = endpoint_with_answers(0);
        let wire = Mock::new(false, vec![]);
        let mut stats = IoStats::default();
        let mut flushes = 0;
        loop {
            flushes += 1;
            let out = sender.flush_on(&mut endpoint, crate::now(), &wire, &mut stats);
            if out.blocked_on.is_none() {
                break;
            }
        }
        // Three GSO calls; the 2nd and 4th tries were refused.
        assert_eq!(
            (flushes, stats.send_would_block, stats.send_calls),
            (3, 2, 3)
        );
        let sent = wire.sent.borrow();
        assert_eq!(
            sent.iter()
                .flat_map(|(_, b, _)| b.clone())
                .collect::<Vec<_>>(),
            bytes
        );
    }

    #[test]
    fn other_send_errors_drop_the_datagrams_and_go_on() {
        let (mut sender, _) = sender_with_batch(SendConfig::default());
        let mut endpoint = endpoint_with_answers(0);
        let wire = Mock::new(false, vec![Some(io::Error::other("no"))]);
        let mut stats = IoStats::default();
        let out = sender.flush_on(&mut endpoint, crate::now(), &wire, &mut stats);
        assert_eq!((out.datagrams, stats.send_errors), (15, 10));
        assert!(sender.gso_enabled());
        assert_eq!(sender.blocked_on(), None);
    }
}
