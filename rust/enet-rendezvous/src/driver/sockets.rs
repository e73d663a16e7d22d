//! Binding the listener, the registrar and relay ports, one socket per family, IPv6 sockets
//! IPv6-only so they share port numbers with the IPv4 ones on every system.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};

use mio::net::{TcpListener, UdpSocket};
use mio::{Interest, Registry, Token};
use socket2::{Domain, Protocol, Socket, Type};

use crate::relay::RelayPorts;

/// First token of the relay sockets: `RELAY_TOKEN_BASE + port * 2 + family`.
pub(super) const RELAY_TOKEN_BASE: usize = 1 << 20;

/// 0 for IPv4, 1 for IPv6: the index of a family's socket.
pub(super) fn family(addr: &SocketAddr) -> usize {
    usize::from(addr.is_ipv6())
}

fn new_socket(ip: IpAddr, kind: Type, protocol: Protocol) -> io::Result<Socket> {
    let domain = if ip.is_ipv6() {
        Domain::IPV6
    } else {
        Domain::IPV4
    };
    let socket = Socket::new(domain, kind, Some(protocol))?;
    if ip.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_nonblocking(true)?;
    Ok(socket)
}

/// A listening TCP socket on `ip:port`.
pub(super) fn tcp_listener(ip: IpAddr, port: u16) -> io::Result<TcpListener> {
    let socket = new_socket(ip, Type::STREAM, Protocol::TCP)?;
    // Restarting the server must not wait for TIME_WAIT; on Windows SO_REUSEADDR would let
    // another process steal the port instead, so it stays off there.
    #[cfg(unix)]
    socket.set_reuse_address(true)?;
    socket.bind(&SocketAddr::new(ip, port).into())?;
    socket.listen(1024)?;
    Ok(TcpListener::from_std(socket.into()))
}

/// A UDP socket on `ip:port`.
pub(super) fn udp_socket(ip: IpAddr, port: u16) -> io::Result<UdpSocket> {
    let socket = new_socket(ip, Type::DGRAM, Protocol::UDP)?;
    socket.bind(&SocketAddr::new(ip, port).into())?;
    Ok(UdpSocket::from_std(socket.into()))
}

/// The relay ports' sockets, bound when the relay table allocates a port and dropped when it
/// frees it, so an idle server holds no relay sockets at all.
#[derive(Debug)]
pub(super) struct RelaySockets {
    registry: Registry,
    /// The bind address of each family (index [`family`]).
    binds: [Option<IpAddr>; 2],
    sockets: HashMap<(u16, usize), UdpSocket>,
}

impl RelaySockets {
    pub(super) fn new(registry: Registry, binds: [Option<IpAddr>; 2]) -> Self {
        Self {
            registry,
            binds,
            sockets: HashMap::new(),
        }
    }

    /// The socket of relay `port` that can send to `to`.
    pub(super) fn socket(&self, port: u16, to: &SocketAddr) -> Option<&UdpSocket> {
        self.sockets.get(&(port, family(to)))
    }

    /// The socket of relay `port` in family `fam`.
    pub(super) fn socket_by_family(&self, port: u16, fam: usize) -> Option<&UdpSocket> {
        self.sockets.get(&(port, fam))
    }

    /// The port and family behind a relay token.
    pub(super) fn token_key(token: Token) -> Option<(u16, usize)> {
        let offset = token.0.checked_sub(RELAY_TOKEN_BASE)?;
        Some((u16::try_from(offset / 2).ok()?, offset % 2))
    }

    fn bind_family(&mut self, port: u16, fam: usize, ip: IpAddr) -> io::Result<()> {
        let mut socket = udp_socket(ip, port)?;
        let token = Token(RELAY_TOKEN_BASE + usize::from(port) * 2 + fam);
        self.registry
            .register(&mut socket, token, Interest::READABLE)?;
        self.sockets.insert((port, fam), socket);
        Ok(())
    }
}

impl RelayPorts for RelaySockets {
    fn open(&mut self, port: u16) -> bool {
        for fam in 0..2 {
            let Some(ip) = self.binds[fam] else {
                continue;
            };
            if let Err(error) = self.bind_family(port, fam, ip) {
                tracing::warn!(port, %ip, %error, "relay port cannot be bound; trying another");
                self.close(port);
                return false;
            }
        }
        true
    }

    fn close(&mut self, port: u16) {
        for fam in 0..2 {
            if let Some(mut socket) = self.sockets.remove(&(port, fam)) {
                let _ = self.registry.deregister(&mut socket);
            }
        }
    }
}

/// The soft limit of open files, where the system tells it (Linux `/proc`).
pub(super) fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}
