//! The socket loop's parameters and the opening of its sockets.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::time::Duration;

use socket2::{Domain, Protocol, Type};

use crate::socket::SendConfig;

/// Which sockets the loop opens when no local address is given.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum AddressFamily {
    /// An IPv4 socket and an IPv6-only socket, on the same port (the
    /// default; where IPv6 is unavailable, IPv4 alone).
    #[default]
    Any,
    /// One IPv6 socket that also serves IPv4 (IPV6_V6ONLY off); IPv4
    /// peers appear as plain IPv4 addresses to the endpoint.
    DualStack,
    /// One IPv4 socket.
    Ipv4,
    /// One IPv6-only socket.
    Ipv6,
}

/// What the socket loop opens and how it sends.
///
/// ```
/// let mut params = quic_io_std::Params::default();
/// params.port = 4433;
/// params.max_send_batch = 16;
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Params {
    /// The local port; 0 lets the system choose (every primary socket
    /// then shares the port the first one got).
    pub port: u16,
    /// Which sockets to open when [`Params::local_ip`] is `None`.
    pub family: AddressFamily,
    /// Bind this address (one socket, of its family) instead of the
    /// unspecified address(es) of [`Params::family`].
    pub local_ip: Option<IpAddr>,
    /// Bind the sockets to this network interface (Linux: SO_BINDTODEVICE;
    /// other platforms: not supported, opening fails).
    pub interface: Option<String>,
    /// The kernel receive buffer size to ask for (`None`: the system's).
    pub recv_buffer_size: Option<usize>,
    /// The kernel send buffer size to ask for (`None`: the system's).
    pub send_buffer_size: Option<usize>,
    /// Send one datagram per call even where GSO is available.
    pub disable_gso: bool,
    /// Also open a socket on this port (0: any) next to each primary
    /// socket, for migration tests; see `Context::set_send_socket`.
    pub extra_port: Option<u16>,
    /// The most datagrams one GSO send carries. Give the endpoint
    /// `EndpointConfig::max_gso_segments` of the same value.
    pub max_send_batch: usize,
    /// Testing: the first this many GSO sends fail as with EIO, which
    /// exercises the fallback to one datagram per call.
    pub simulated_eio: u32,
    /// Time the send and receive system calls and report them to
    /// `Callbacks::syscall_stats` at this interval (`None`: not timed).
    pub syscall_stats: Option<Duration>,
}

impl Default for Params {
    /// Any port, IPv4 and IPv6 sockets, GSO in batches of 10.
    fn default() -> Self {
        Self {
            port: 0,
            family: AddressFamily::Any,
            local_ip: None,
            interface: None,
            recv_buffer_size: None,
            send_buffer_size: None,
            disable_gso: false,
            extra_port: None,
            max_send_batch: SendConfig::default().max_batch,
            simulated_eio: 0,
            syscall_stats: None,
        }
    }
}

impl Params {
    /// The defaults on `port`.
    pub fn new(port: u16) -> Self {
        Self {
            port,
            ..Self::default()
        }
    }

    /// One socket bound to `ip` on `port` (for example loopback in tests).
    pub fn bound_to(ip: IpAddr, port: u16) -> Self {
        Self {
            port,
            local_ip: Some(ip),
            ..Self::default()
        }
    }

    /// How the sender behaves under these parameters.
    pub fn send_config(&self) -> SendConfig {
        SendConfig {
            max_batch: self.max_send_batch.max(1),
            gso: !self.disable_gso,
            simulated_eio: self.simulated_eio,
            simulated_would_block: 0,
        }
    }

    /// Opens the sockets, non-blocking: the primary ones first (IPv4
    /// before IPv6), then the extra ones in the same order.
    pub fn open(&self) -> io::Result<Vec<UdpSocket>> {
        let mut sockets = self.open_set(self.port)?;
        if let Some(port) = self.extra_port {
            sockets.extend(self.open_set(port)?);
        }
        Ok(sockets)
    }

    /// The addresses to bind, in order.
    fn addresses(&self, port: u16) -> Vec<(SocketAddr, bool)> {
        let v4 = SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), port);
        let v6 = SocketAddr::new(Ipv6Addr::UNSPECIFIED.into(), port);
        match (self.local_ip, self.family) {
            (Some(ip), _) => vec![(SocketAddr::new(ip, port), true)],
            (None, AddressFamily::Any) => vec![(v4, true), (v6, true)],
            (None, AddressFamily::DualStack) => vec![(v6, false)],
            (None, AddressFamily::Ipv4) => vec![(v4, true)],
            (None, AddressFamily::Ipv6) => vec![(v6, true)],
        }
    }

    /// Opens one socket per address on `port`. With port 0 and several
    /// sockets the later ones take the first one's port; if that port is
    /// taken in the other family, the whole set is tried again.
    fn open_set(&self, port: u16) -> io::Result<Vec<UdpSocket>> {
        let addrs = self.addresses(port);
        let mut last = None;
        for _ in 0..16 {
            match self.try_open_set(&addrs) {
                Ok(s) => return Ok(s),
                Err(e) if port == 0 && e.kind() == io::ErrorKind::AddrInUse => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::from(io::ErrorKind::AddrInUse)))
    }

    fn try_open_set(&self, addrs: &[(SocketAddr, bool)]) -> io::Result<Vec<UdpSocket>> {
        let mut out: Vec<UdpSocket> = Vec::new();
        let mut port = None;
        for &(addr, v6_only) in addrs {
            let mut addr = addr;
            if let Some(p) = port {
                addr.set_port(p);
            }
            let socket = match self.open_one(addr, v6_only) {
                Ok(s) => s,
                // No IPv6 on this host (the socket or the bind fails for a
                // reason other than the port): IPv4 alone in the default mode.
                Err(e)
                    if addr.is_ipv6()
                        && self.local_ip.is_none()
                        && self.family == AddressFamily::Any
                        && !out.is_empty()
                        && e.kind() != io::ErrorKind::AddrInUse =>
                {
                    continue
                }
                Err(e) => return Err(e),
            };
            port.get_or_insert(socket.local_addr()?.port());
            out.push(socket);
        }
        Ok(out)
    }

    fn open_one(&self, addr: SocketAddr, v6_only: bool) -> io::Result<UdpSocket> {
        let socket =
            socket2::Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
        if addr.is_ipv6() {
            socket.set_only_v6(v6_only)?;
        }
        if let Some(name) = &self.interface {
            bind_device(&socket, name)?;
        }
        if let Some(n) = self.recv_buffer_size {
            socket.set_recv_buffer_size(n)?;
        }
        if let Some(n) = self.send_buffer_size {
            socket.set_send_buffer_size(n)?;
        }
        socket.bind(&addr.into())?;
        socket.set_nonblocking(true)?;
        Ok(socket.into())
    }
}

#[cfg(any(target_os = "android", target_os = "fuchsia", target_os = "linux"))]
fn bind_device(socket: &socket2::Socket, name: &str) -> io::Result<()> {
    socket.bind_device(Some(name.as_bytes()))
}

#[cfg(not(any(target_os = "android", target_os = "fuchsia", target_os = "linux")))]
fn bind_device(_: &socket2::Socket, name: &str) -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        format!("binding to interface {name:?} is only implemented on Linux"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_zero_gives_both_families_one_port() {
        let sockets = Params::default().open().unwrap();
        assert!(!sockets.is_empty());
        let ports: Vec<u16> = sockets
            .iter()
            .map(|s| s.local_addr().unwrap().port())
            .collect();
        assert!(ports.iter().all(|&p| p == ports[0] && p != 0), "{ports:?}");
    }

    #[test]
    fn the_extra_socket_has_its_own_port() {
        let mut params = Params::bound_to(Ipv4Addr::LOCALHOST.into(), 0);
        params.extra_port = Some(0);
        let sockets = params.open().unwrap();
        assert_eq!(sockets.len(), 2);
        let a = sockets[0].local_addr().unwrap();
        let b = sockets[1].local_addr().unwrap();
        assert_eq!(a.ip(), b.ip());
        assert_ne!(a.port(), b.port());
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn sockets_bind_to_an_interface() {
        let params = Params {
            interface: Some("lo".into()),
            ..Params::bound_to(Ipv4Addr::LOCALHOST.into(), 0)
        };
        match params.open() {
            Ok(sockets) => assert_eq!(sockets.len(), 1),
            // SO_BINDTODEVICE may need CAP_NET_RAW.
            Err(e) => assert_eq!(e.kind(), io::ErrorKind::PermissionDenied, "{e}"),
        }
        let params = Params {
            interface: Some("no-such-interface0".into()),
            ..Params::default()
        };
        assert!(params.open().is_err());
    }

    #[test]
    fn dual_stack_is_one_socket() {
        let params = Params {
            family: AddressFamily::DualStack,
            ..Params::default()
        };
        if let Ok(sockets) = params.open() {
            assert_eq!(sockets.len(), 1);
            assert!(sockets[0].local_addr().unwrap().is_ipv6());
        }
    }
}
