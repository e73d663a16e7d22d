//! The side channel of a host: datagrams that are not ENet (NAT traversal's punches and its
//! rendezvous server's), kept for the owner and sent past ENet and DTLS. See
//! [`crate::side_channel`] for what is kept.

use std::io;
use std::net::SocketAddr;
#[cfg(not(target_os = "linux"))]
use std::net::UdpSocket;

use super::UdpHost;
use crate::address::{canonical_addr, socket_family_addr};
#[cfg(target_os = "linux")]
use crate::batch;
use crate::side_channel::SideDatagram;

impl UdpHost {
    /// Start keeping the datagrams that are not ENet for the owner (a NAT traversal runs on
    /// this socket): punch packets, and everything from the sources given to
    /// [`watch_side_source`](Self::watch_side_source). See [`crate::side_channel`].
    pub fn open_side_channel(&mut self) {
        self.side.open();
    }

    /// Stop keeping them: punch packets are dropped again (and counted), watched sources are
    /// forgotten, and what waits is discarded.
    pub fn close_side_channel(&mut self) {
        self.side.close();
    }

    /// Whether [`open_side_channel`](Self::open_side_channel) is in effect.
    pub fn is_side_channel_open(&self) -> bool {
        self.side.is_open()
    }

    /// Keep every datagram from `source` for the side channel while it is open, whatever it
    /// holds (a rendezvous server's registrar, which never speaks ENet). Returns false when
    /// [`MAX_WATCHED`](crate::side_channel::MAX_WATCHED) sources are watched already.
    pub fn watch_side_source(&mut self, source: SocketAddr) -> bool {
        self.side.watch(canonical_addr(source))
    }

    /// Stop watching `source`.
    pub fn unwatch_side_source(&mut self, source: SocketAddr) {
        self.side.unwatch(canonical_addr(source));
    }

    /// The next side datagram read, oldest first. With a service thread, the thread reads and
    /// queues them; the owner drains them under its lock.
    pub fn poll_side_datagram(&mut self) -> Option<SideDatagram> {
        self.side.pop()
    }

    /// Send a datagram of the side channel from the host's socket: as
    /// [`socket_send`](Self::socket_send), but never through DTLS (punch packets and
    /// rendezvous requests are read before DTLS on the other side).
    pub fn side_send(&mut self, addr: SocketAddr, data: &[u8]) -> io::Result<()> {
        self.send_raw(addr, data)
    }

    /// Send a side datagram with the IP time-to-live (IPv6 hop limit) `ttl`, at once and past
    /// the simulated link: NAT traversal's first probes, which open this side's NAT mapping and
    /// die before the other side's NAT, so that NAT never sees an unsolicited datagram (Linux
    /// would give the other side's mapping a new port for the answers it then sends).
    pub fn side_send_with_ttl(&mut self, addr: SocketAddr, data: &[u8], ttl: u8) -> io::Result<()> {
        let Some(target) = socket_family_addr(self.local_addr, addr) else {
            return Ok(());
        };
        #[cfg(target_os = "linux")]
        let result = batch::send_with_ttl(&self.socket, target, data, ttl);
        #[cfg(not(target_os = "linux"))]
        let result = send_with_ttl(&self.socket, target, data, ttl);
        self.stats.datagrams_sent += 1;
        self.stats.bytes_sent += data.len() as u64;
        result
    }
}

/// [`UdpHost::side_send_with_ttl`] where no control message carries the TTL: set on the
/// socket around the send (a service thread's datagram sent in between goes out with it too).
#[cfg(not(target_os = "linux"))]
fn send_with_ttl(socket: &UdpSocket, target: SocketAddr, data: &[u8], ttl: u8) -> io::Result<()> {
    let sock = socket2::SockRef::from(socket);
    let ttl = u32::from(ttl);
    let v6 = matches!(target, SocketAddr::V6(v6) if v6.ip().to_ipv4_mapped().is_none());
    let before = if v6 {
        sock.unicast_hops_v6()?
    } else {
        sock.ttl_v4()?
    };
    let set = |value| {
        if v6 {
            sock.set_unicast_hops_v6(value)
        } else {
            sock.set_ttl_v4(value)
        }
    };
    set(ttl)?;
    let sent = socket.send_to(data, target).map(drop);
    set(before)?;
    sent
}
