//! The batching socket layer: non-blocking UDP sockets between the network
//! and an [`Endpoint`], reusable by any event loop.
//!
//! - [`Socket`] wraps one non-blocking UDP socket of any type quinn-udp can
//!   borrow (`std::net::UdpSocket`, `mio::net::UdpSocket`, ...: on Unix
//!   anything `AsFd`, on Windows anything `AsSocket`). [`Socket::receive`]
//!   drains it in batches (`recvmmsg`, GRO) until it would block, so it is
//!   safe under edge-triggered readiness, and hands every datagram to
//!   [`Endpoint::incoming_packet`] with its remote address, the local
//!   address it arrived on (pktinfo) and its ECN mark.
//! - [`Sender`] sends everything [`Endpoint::prepare_next_packet`] gives,
//!   as GSO batches where the platform allows, on the socket that fits
//!   each datagram. A send refused with `WouldBlock` is kept and retried by
//!   the next [`Sender::flush`]: no datagram is dropped by us for a full
//!   socket buffer. If the kernel refuses GSO (EIO), the layer falls back
//!   to one datagram per call for good and tells the endpoint with
//!   [`SendFailure::GsoUnsupported`](quic_proto::endpoint::SendFailure).
//!
//! All control-message work (GSO segment size, GRO stride, ECN, pktinfo)
//! is quinn-udp's; this module decides what to send where and keeps state.
//!
//! ```text
//! on readable(i):  sockets[i].receive(&mut endpoint, now, &mut bufs, max_calls, &mut stats)
//!                  -> Received { drained: false }: call again later (edge-triggered)
//! after any call:  sender.flush(&mut endpoint, now, &sockets, &mut stats)
//!                  -> Flushed { blocked_on: Some(i) }: wait until sockets[i] is writable
//! ```

mod send;
mod stats;

use std::io::{self, IoSliceMut};
use std::net::{IpAddr, SocketAddr, SocketAddrV6};
use std::time::Instant;

use quic_proto::ack::EcnCodepoint;
use quic_proto::endpoint::{DatagramInfo, Endpoint};
use quinn_udp::{RecvMeta, UdpSockRef, UdpSocketState};

pub use self::send::{Flushed, SendConfig, Sender};
pub use self::stats::{CallTimes, IoStats, SyscallStats};

/// The largest UDP payload (65535 minus the 8-byte UDP header); one
/// receive slot without GRO, and the send buffer's size.
pub const MAX_UDP_PAYLOAD: usize = 65527;

/// A socket type the layer can drive: one quinn-udp can borrow as a
/// `UdpSockRef` (on Unix anything `AsFd`, on Windows anything `AsSocket`),
/// such as `std::net::UdpSocket` and `mio::net::UdpSocket`.
#[cfg(unix)]
pub trait AsUdpSocket: std::os::fd::AsFd {}
#[cfg(unix)]
impl<T: std::os::fd::AsFd> AsUdpSocket for T {}

/// A socket type the layer can drive: one quinn-udp can borrow as a
/// `UdpSockRef` (on Unix anything `AsFd`, on Windows anything `AsSocket`),
/// such as `std::net::UdpSocket` and `mio::net::UdpSocket`.
#[cfg(windows)]
pub trait AsUdpSocket: std::os::windows::io::AsSocket {}
#[cfg(windows)]
impl<T: std::os::windows::io::AsSocket> AsUdpSocket for T {}

/// Which destinations a socket can reach.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Reach {
    /// The socket is IPv6 (IPv4 destinations take their mapped form).
    ipv6: bool,
    /// IPv4 destinations (an IPv4 socket, or dual-stack).
    v4: bool,
    /// IPv6 destinations.
    v6: bool,
}

/// One non-blocking UDP socket and its quinn-udp state.
pub struct Socket<S> {
    io: S,
    state: UdpSocketState,
    local: SocketAddr,
    reach: Reach,
}

impl<S> std::fmt::Debug for Socket<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Socket")
            .field("local", &self.local)
            .field("reach", &self.reach)
            .field("max_gso_segments", &self.state.max_gso_segments())
            .field("gro_segments", &self.state.gro_segments())
            .finish_non_exhaustive()
    }
}

/// What one [`Socket::receive`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Received {
    /// Datagrams handed to the endpoint.
    pub datagrams: usize,
    /// Whether the socket reported `WouldBlock` (nothing left). When
    /// `false` the call stopped at its limit and more may be waiting: under
    /// edge-triggered readiness, call again without waiting for an event.
    pub drained: bool,
}

impl<S: AsUdpSocket> Socket<S> {
    /// Takes a bound UDP socket: makes it non-blocking and turns on what
    /// the platform offers (GRO, ECN and pktinfo reporting, no IP
    /// fragmentation).
    pub fn new(io: S) -> io::Result<Self> {
        let state = UdpSocketState::new(UdpSockRef::from(&io))?;
        let sock = socket2::SockRef::from(&io);
        let local = sock
            .local_addr()?
            .as_socket()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not an IP socket"))?;
        let reach = match local {
            SocketAddr::V4(_) => Reach {
                ipv6: false,
                v4: true,
                v6: false,
            },
            // Bound to a mapped IPv4 address: IPv4 peers only.
            SocketAddr::V6(a) if a.ip().to_ipv4_mapped().is_some() => Reach {
                ipv6: true,
                v4: true,
                v6: false,
            },
            // Dual-stack only when bound to `::` without IPV6_V6ONLY.
            SocketAddr::V6(a) => Reach {
                ipv6: true,
                v4: a.ip().is_unspecified() && !sock.only_v6()?,
                v6: true,
            },
        };
        Ok(Self {
            io,
            state,
            local,
            reach,
        })
    }

    /// The socket, for registering it with an event loop.
    pub fn get_ref(&self) -> &S {
        &self.io
    }

    /// The socket, mutably (mio's `register` takes `&mut`).
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.io
    }

    /// Gives the socket back.
    pub fn into_inner(self) -> S {
        self.io
    }

    /// The address the socket is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// How many datagrams one send may carry on this platform (1: no GSO).
    pub fn max_gso_segments(&self) -> usize {
        self.state.max_gso_segments()
    }

    /// How many datagrams the kernel may coalesce into one received buffer
    /// (1: no GRO).
    pub fn gro_segments(&self) -> usize {
        self.state.gro_segments()
    }

    /// Whether a datagram to `destination` can leave through this socket.
    pub fn can_reach(&self, destination: &SocketAddr) -> bool {
        match canonical(*destination) {
            SocketAddr::V4(_) => self.reach.v4,
            SocketAddr::V6(_) => self.reach.v6,
        }
    }

    /// Sets the kernel's receive and send buffer sizes (`None` leaves one
    /// as it is). The kernel may round or cap them.
    pub fn set_buffer_sizes(&self, recv: Option<usize>, send: Option<usize>) -> io::Result<()> {
        if let Some(n) = recv {
            self.state
                .set_recv_buffer_size(UdpSockRef::from(&self.io), n)?;
        }
        if let Some(n) = send {
            self.state
                .set_send_buffer_size(UdpSockRef::from(&self.io), n)?;
        }
        Ok(())
    }

    /// Receives up to `max_calls` batches, handing every datagram to
    /// `endpoint` as received at `now`, and stops early once the socket
    /// would block. Datagrams the kernel coalesced (GRO) are split at
    /// their stride. Errors that only report an earlier datagram's fate
    /// (ICMP "connection reset" on Windows) are skipped; other errors are
    /// returned, with what was received before them already delivered.
    pub fn receive(
        &mut self,
        endpoint: &mut Endpoint,
        now: Instant,
        bufs: &mut RecvBuffers,
        max_calls: usize,
        stats: &mut IoStats,
    ) -> io::Result<Received> {
        let mut out = Received::default();
        for _ in 0..max_calls {
            let started = stats.start();
            let result = {
                let mut chunks = bufs.data.chunks_mut(bufs.slot);
                let mut slices: [IoSliceMut<'_>; quinn_udp::BATCH_SIZE] =
                    std::array::from_fn(|_| IoSliceMut::new(chunks.next().unwrap_or_default()));
                self.state
                    .recv(UdpSockRef::from(&self.io), &mut slices, &mut bufs.meta)
            };
            stats.received(started);
            let count = match result {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    out.drained = true;
                    return Ok(out);
                }
                Err(e) if is_transient_recv_error(&e) => continue,
                Err(e) => return Err(e),
            };
            stats.recv_calls += 1;
            for i in 0..count.min(quinn_udp::BATCH_SIZE) {
                let meta = bufs.meta[i];
                let start = i * bufs.slot;
                let len = meta.len.min(bufs.slot);
                let slot = &mut bufs.data[start..start + len];
                let n = deliver(endpoint, now, &meta, slot);
                out.datagrams += n;
                stats.datagrams_received += n as u64;
            }
        }
        Ok(out)
    }

    /// Sends one quinn-udp transmit, untouched by quinn-udp's own error
    /// handling (the caller decides what each error means).
    fn try_send(&self, transmit: &quinn_udp::Transmit<'_>) -> io::Result<()> {
        self.state.try_send(UdpSockRef::from(&self.io), transmit)
    }

    /// Whether this socket is bound to an unspecified address, so that the
    /// source address of a datagram has to be chosen per send.
    fn is_wildcard(&self) -> bool {
        self.local.ip().is_unspecified()
    }

    /// Whether the socket is IPv6 (destinations must be IPv6 addresses,
    /// IPv4 ones in their mapped form).
    fn is_ipv6(&self) -> bool {
        self.reach.ipv6
    }
}

/// Splits one received buffer into its datagrams (GRO) and hands each to
/// the endpoint. Returns how many there were.
fn deliver(endpoint: &mut Endpoint, now: Instant, meta: &RecvMeta, data: &mut [u8]) -> usize {
    let info = DatagramInfo {
        remote: canonical(meta.addr),
        local_ip: meta.dst_ip.map(|ip| ip.to_canonical()),
        ecn: meta.ecn.and_then(|e| EcnCodepoint::from_bits(e as u8)),
    };
    let stride = if meta.stride == 0 {
        data.len()
    } else {
        meta.stride
    };
    let mut n = 0;
    for datagram in data.chunks_mut(stride.max(1)) {
        endpoint.incoming_packet(now, info, datagram);
        n += 1;
    }
    n
}

/// Receive errors that say nothing about the socket itself: an ICMP error
/// for an earlier send (Windows reports it on unconnected UDP sockets) or
/// an interrupted call.
fn is_transient_recv_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::Interrupted
    )
}

/// An address as the endpoint should see it: an IPv4-mapped IPv6 address
/// (what a dual-stack socket reports for IPv4 peers) becomes plain IPv4,
/// so a connection to `127.0.0.1` recognises its peer's answers.
pub fn canonical(addr: SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V6(a) => match a.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(IpAddr::V4(v4), a.port()),
            None => addr,
        },
        SocketAddr::V4(_) => addr,
    }
}

/// An address as an IPv6 socket needs it: IPv4 in its mapped form.
fn mapped(addr: SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V4(a) => {
            SocketAddr::V6(SocketAddrV6::new(a.ip().to_ipv6_mapped(), a.port(), 0, 0))
        }
        SocketAddr::V6(_) => addr,
    }
}

/// The receive buffers of a [`Socket::receive`]: one slot per datagram of
/// a batch, each large enough for a GRO batch or the largest datagram.
pub struct RecvBuffers {
    data: Vec<u8>,
    slot: usize,
    meta: [RecvMeta; quinn_udp::BATCH_SIZE],
}

impl std::fmt::Debug for RecvBuffers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecvBuffers")
            .field("slots", &self.meta.len())
            .field("slot", &self.slot)
            .finish_non_exhaustive()
    }
}

impl RecvBuffers {
    /// Buffers for sockets that coalesce up to `gro_segments` datagrams
    /// (see [`Socket::gro_segments`]; take the largest of the sockets that
    /// share them). Allocated once: 32 slots of 96,000 bytes (3 MB) on Linux
    /// with GRO.
    pub fn new(gro_segments: usize) -> Self {
        // A GRO batch is at most 64 KiB on the wire; with 1500-byte
        // segments quinn-udp's rule (segments × a full datagram) is larger.
        let slot = MAX_UDP_PAYLOAD.max(gro_segments.saturating_mul(1500));
        Self {
            data: vec![0; slot * quinn_udp::BATCH_SIZE],
            slot,
            meta: [RecvMeta::default(); quinn_udp::BATCH_SIZE],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    #[test]
    fn mapped_addresses_become_ipv4_and_back() {
        let v4: SocketAddr = "127.0.0.1:4433".parse().unwrap();
        let m = mapped(v4);
        assert_eq!(m.to_string(), "[::ffff:127.0.0.1]:4433");
        assert_eq!(canonical(m), v4);
        let v6: SocketAddr = "[::1]:4433".parse().unwrap();
        assert_eq!(canonical(v6), v6);
        assert_eq!(mapped(v6), v6);
    }

    #[test]
    fn sockets_know_which_destinations_they_reach() {
        let v4 = Socket::new(std::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap()).unwrap();
        let a4 = SocketAddr::new(Ipv4Addr::LOCALHOST.into(), 1);
        let a6 = SocketAddr::new(Ipv6Addr::LOCALHOST.into(), 1);
        assert!(v4.can_reach(&a4));
        assert!(!v4.can_reach(&a6));
        if let Ok(s) = std::net::UdpSocket::bind((Ipv6Addr::LOCALHOST, 0)) {
            let v6 = Socket::new(s).unwrap();
            assert!(v6.can_reach(&a6));
            assert!(!v6.can_reach(&a4));
            assert!(v6.is_ipv6());
        }
    }
}
