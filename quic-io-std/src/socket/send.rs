//! The send half: from `prepare_next_packet` to the sockets, with GSO,
//! its fallback, and datagrams kept across `WouldBlock`.

use std::io;
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
}

impl Default for SendConfig {
    /// Batches of up to 10 datagrams, GSO on, no simulated failures.
    fn default() -> Self {
        Self {
            max_batch: 10,
            gso: true,
            simulated_eio: 0,
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
        if self.gso && sockets.iter().any(|s| s.max_gso_segments() < 2) {
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
            match self.send_pending(endpoint, &sockets[pending.socket], stats) {
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
    fn send_pending<S: AsUdpSocket>(
        &mut self,
        endpoint: &mut Endpoint,
        socket: &Socket<S>,
        stats: &mut IoStats,
    ) -> Result<usize, usize> {
        let Some(p) = self.pending.as_mut() else {
            return Ok(0);
        };
        let tx = p.tx;
        let size = tx.size.min(self.buf.len());
        let segment = tx.segment_size.unwrap_or(size).clamp(1, size.max(1));
        let destination = if socket.is_ipv6() {
            mapped(tx.destination)
        } else {
            tx.destination
        };
        // Choose the source address only on a wildcard socket, and only
        // when it is of the destination's family.
        let src_ip = tx.source.filter(|ip| {
            socket.is_wildcard() && ip.is_ipv4() == canonical(tx.destination).is_ipv4()
        });
        let mut sent = 0;
        while p.offset < size {
            let per_call = if self.gso {
                self.config
                    .max_batch
                    .min(socket.max_gso_segments())
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
            let result = if simulated {
                self.eio_left -= 1;
                Err(io::Error::other("simulated EIO from a GSO send"))
            } else {
                let started = stats.start();
                let r = socket.try_send(&transmit);
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
    fn pick<S: AsUdpSocket>(&self, sockets: &[Socket<S>], tx: &Transmit) -> Option<usize> {
        let fits = |i: &usize| sockets[*i].can_reach(&tx.destination);
        if let Some(i) = self.preferred.filter(|&i| i < sockets.len()).filter(fits) {
            return Some(i);
        }
        let all = 0..sockets.len();
        tx.source
            .and_then(|ip| {
                all.clone()
                    .filter(fits)
                    .find(|&i| sockets[i].local_addr().ip() == ip)
            })
            .or_else(|| all.clone().find(fits))
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

    #[test]
    fn segments_count_the_short_tail() {
        assert_eq!(segments_of(1200, 1200), 1);
        assert_eq!(segments_of(2401, 1200), 3);
        assert_eq!(segments_of(0, 1200), 1);
        assert_eq!(segments_of(10, 0), 10);
    }
}
