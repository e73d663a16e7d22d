//! Addresses and binding: which local address a host binds, the one form a peer's address is
//! kept in (IPv4-mapped IPv6 taken as IPv4), and the family a socket can send to.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6, UdpSocket};

/// Which local address to bind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BindAddress {
    /// All interfaces: `[::]` with IPv4-mapped addresses (dual stack) where the system does that
    /// by default, otherwise `0.0.0.0`.
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

/// Bind `[::]` where that accepts IPv4 too, else `0.0.0.0`.
pub(crate) fn bind_wildcard(port: u16) -> io::Result<UdpSocket> {
    if ipv6_wildcard_is_dual_stack() {
        match UdpSocket::bind(SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port)) {
            Ok(socket) => return Ok(socket),
            Err(err) => tracing::debug!(%err, "no IPv6 wildcard socket, falling back to 0.0.0.0"),
        }
    }
    UdpSocket::bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port))
}

/// Whether a socket bound to `[::]` also receives IPv4 (IPV6_V6ONLY off). std cannot change the
/// option, so the driver relies on the system default: off on Linux unless
/// `net.ipv6.bindv6only` is set, off on macOS, on for Windows and the BSDs.
fn ipv6_wildcard_is_dual_stack() -> bool {
    if cfg!(any(target_os = "linux", target_os = "android")) {
        std::fs::read_to_string("/proc/sys/net/ipv6/bindv6only").map_or(true, |v| v.trim() == "0")
    } else {
        cfg!(any(target_os = "macos", target_os = "ios"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
