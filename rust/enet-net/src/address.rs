//! Addresses and binding: which local address a host binds (and the socket options it gets),
//! the one form a peer's address is kept in (IPv4-mapped IPv6 taken as IPv4), and the family a
//! socket can send to.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6, UdpSocket};

/// Which local address to bind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BindAddress {
    /// All interfaces: `[::]` with `IPV6_V6ONLY` turned off, so one socket takes IPv6 and IPv4
    /// (as IPv4-mapped addresses), as Godot's ENet does; `0.0.0.0` where the system has no IPv6
    /// or refuses dual stack.
    #[default]
    Wildcard,
    /// One local address (IPv4 or IPv6); the socket then speaks only that family.
    Ip(IpAddr),
}

impl From<IpAddr> for BindAddress {
    fn from(ip: IpAddr) -> Self {
        Self::Ip(ip)
    }
}

/// IPv4-mapped IPv6 (`::ffff:a.b.c.d`) back to IPv4, so a peer's address compares equal whether
/// it came through a dual-stack or an IPv4 socket.
pub fn canonical_addr(addr: SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::V4(SocketAddrV4::new(v4, v6.port())),
            None => addr,
        },
        SocketAddr::V4(_) => addr,
    }
}

/// `addr` in the address family of a socket bound to `local`, or `None` where that socket
/// cannot reach it: IPv6 from an IPv4 socket, IPv4 from a socket on one IPv6 address (only the
/// dual-stack `[::]` takes IPv4-mapped destinations).
pub(crate) fn socket_family_addr(local: SocketAddr, addr: SocketAddr) -> Option<SocketAddr> {
    match (local, canonical_addr(addr)) {
        (SocketAddr::V6(v6), SocketAddr::V4(v4))
            if v6.ip().is_unspecified() || v6.ip().to_ipv4_mapped().is_some() =>
        {
            Some(SocketAddr::V6(SocketAddrV6::new(
                v4.ip().to_ipv6_mapped(),
                v4.port(),
                0,
                0,
            )))
        }
        (SocketAddr::V6(_), SocketAddr::V4(_)) | (SocketAddr::V4(_), SocketAddr::V6(_)) => None,
        (_, addr) => Some(addr),
    }
}

/// Bind `[::]` with `IPV6_V6ONLY` off (IPv6 and IPv4-mapped IPv4 on one socket, as Godot's ENet
/// binds `"*"`), else `0.0.0.0` where the system has no IPv6 or refuses dual stack.
/// An address at which a socket bound to `local` receives: wildcards become loopback.
#[cfg(not(target_os = "linux"))]
pub(crate) fn reachable(local: SocketAddr) -> SocketAddr {
    let ip = match local.ip() {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, local.port())
}

pub(crate) fn bind_wildcard(port: u16) -> io::Result<UdpSocket> {
    match bind_dual_stack(port) {
        Ok(socket) => return Ok(socket),
        Err(err) => tracing::debug!(%err, "no dual-stack [::] socket, binding 0.0.0.0"),
    }
    UdpSocket::bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port))
}

fn bind_dual_stack(port: u16) -> io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::IPV6, Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_only_v6(false)?;
    socket.bind(&SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port).into())?;
    Ok(socket.into())
}

/// `ENET_HOST_RECEIVE_BUFFER_SIZE` / `ENET_HOST_SEND_BUFFER_SIZE` (Linux doubles the value).
const SOCKET_BUFFER: usize = 256 * 1024;

/// Ask for ENet's socket buffer sizes; failures are ignored, as ENet ignores them.
pub(crate) fn set_socket_buffers(socket: &UdpSocket) {
    let socket = socket2::SockRef::from(socket);
    if let Err(err) = socket.set_recv_buffer_size(SOCKET_BUFFER) {
        tracing::debug!(%err, "SO_RCVBUF refused");
    }
    if let Err(err) = socket.set_send_buffer_size(SOCKET_BUFFER) {
        tracing::debug!(%err, "SO_SNDBUF refused");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sockets_get_enets_buffer_sizes() {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        set_socket_buffers(&socket);
        let socket = socket2::SockRef::from(&socket);
        assert!(socket.recv_buffer_size().unwrap() >= SOCKET_BUFFER);
        assert!(socket.send_buffer_size().unwrap() >= SOCKET_BUFFER);
    }

    #[test]
    fn wildcard_is_dual_stack_where_the_system_has_ipv6() {
        if UdpSocket::bind("[::1]:0").is_err() {
            return; // no IPv6 here: 0.0.0.0 is right
        }
        let socket = bind_wildcard(0).unwrap();
        let local = socket.local_addr().unwrap();
        assert!(local.is_ipv6(), "{local}");
        // An IPv4 datagram reaches it, from an IPv4-mapped address.
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        sender.send_to(b"v4", ("127.0.0.1", local.port())).unwrap();
        socket
            .set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        let mut buffer = [0u8; 8];
        let (len, from) = socket.recv_from(&mut buffer).unwrap();
        assert_eq!(&buffer[..len], b"v4");
        assert_eq!(canonical_addr(from), sender.local_addr().unwrap());
    }

    #[test]
    fn mapped_addresses_become_ipv4() {
        let mapped: SocketAddr = "[::ffff:127.0.0.1]:4000".parse().unwrap();
        assert_eq!(canonical_addr(mapped), "127.0.0.1:4000".parse().unwrap());
        let v6: SocketAddr = "[::1]:4000".parse().unwrap();
        assert_eq!(canonical_addr(v6), v6);
    }

    #[test]
    fn destinations_follow_the_socket_family() {
        let v6_local: SocketAddr = "[::]:1".parse().unwrap();
        let v4_local: SocketAddr = "0.0.0.0:1".parse().unwrap();
        let v4: SocketAddr = "127.0.0.1:9".parse().unwrap();
        assert_eq!(
            socket_family_addr(v6_local, v4),
            Some("[::ffff:127.0.0.1]:9".parse().unwrap())
        );
        assert_eq!(socket_family_addr(v4_local, v4), Some(v4));
        assert_eq!(
            socket_family_addr(v4_local, "[::1]:9".parse().unwrap()),
            None
        );
        assert_eq!(
            socket_family_addr(v4_local, "[::ffff:127.0.0.1]:9".parse().unwrap()),
            Some(v4)
        );
        // A socket on one IPv6 address is IPv6-only.
        assert_eq!(socket_family_addr("[::1]:1".parse().unwrap(), v4), None);
    }
}
