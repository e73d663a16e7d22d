//! Datagrams on the ENet socket that are not ENet: NAT traversal's punch packets and the
//! rendezvous server's replies, told apart before the protocol core (or DTLS) reads anything.
//!
//! A [`UdpHost`](crate::UdpHost) classifies every datagram that crosses its incoming link:
//! - from a watched source (a rendezvous server's UDP registrar, see
//!   [`SideChannel::watch`]): side channel, whatever it holds;
//! - a punch packet ([`is_punch`]): side channel;
//! - anything else: ENet (or DTLS).
//!
//! Side datagrams wait in a bounded queue that the owner drains with
//! [`UdpHost::poll_side_datagram`](crate::UdpHost::poll_side_datagram). While no traversal
//! listens (the channel is closed), punch packets are dropped and counted: a Godot peer's
//! netfox.noray host sends them to a joiner for eight seconds, and they are not ENet's to
//! parse.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Instant;

use bytes::Bytes;

/// The punch packets of netfox.noray's `PacketHandshake`: `$` and three flags, each its letter
/// or `-`: `r` (I have read from you), `w` (I write to you), `x` (we both read: done). Four
/// bytes is shorter than any ENet datagram (a header and one command header take six), so no
/// ENet peer sends one, and a C ENet or Godot peer drops one unread.
pub const PUNCH_LEN: usize = 4;

/// Whether `data` is a punch packet (see [`PUNCH_LEN`]).
pub fn is_punch(data: &[u8]) -> bool {
    matches!(data, [b'$', b'r' | b'-', b'w' | b'-', b'x' | b'-'])
}

/// Side datagrams kept for the owner at most; more are dropped and counted. A traversal
/// exchanges a few per 50 ms, and its owner drains them every frame.
pub const SIDE_QUEUE_CAPACITY: usize = 256;

/// Watched sources at most (a rendezvous server's registrar, its relay ports in use).
pub const MAX_WATCHED: usize = 16;

/// A datagram for the owner's traversal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SideDatagram {
    /// Its source, canonical (IPv4-mapped IPv6 as IPv4).
    pub from: SocketAddr,
    /// Its bytes.
    pub data: Bytes,
    /// When it was read.
    pub at: Instant,
}

/// What [`SideChannel::classify`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    /// For the protocol core (through DTLS when set up).
    Enet,
    /// Queued for the owner.
    Side,
    /// Not ENet, and nobody listens: dropped and counted.
    Dropped,
}

/// The classifier and queue of side datagrams of one host.
#[derive(Debug, Default)]
pub(crate) struct SideChannel {
    open: bool,
    watched: Vec<SocketAddr>,
    queue: VecDeque<SideDatagram>,
}

impl SideChannel {
    /// Start keeping side datagrams for the owner.
    pub(crate) fn open(&mut self) {
        self.open = true;
    }

    /// Stop keeping them; forget the watched sources and what waits.
    pub(crate) fn close(&mut self) {
        self.open = false;
        self.watched.clear();
        self.queue.clear();
    }

    pub(crate) fn is_open(&self) -> bool {
        self.open
    }

    /// Take every datagram from `source` (canonical) for the side channel, ENet or not.
    /// Returns false when [`MAX_WATCHED`] sources are watched already.
    pub(crate) fn watch(&mut self, source: SocketAddr) -> bool {
        if self.watched.contains(&source) {
            return true;
        }
        if self.watched.len() >= MAX_WATCHED {
            return false;
        }
        self.watched.push(source);
        true
    }

    pub(crate) fn unwatch(&mut self, source: SocketAddr) {
        self.watched.retain(|&watched| watched != source);
    }

    /// Decide where a datagram from `from` (canonical) goes.
    pub(crate) fn classify(&self, from: SocketAddr, data: &[u8]) -> Class {
        let watched = self.open && self.watched.contains(&from);
        if watched || is_punch(data) {
            if self.open && self.queue.len() < SIDE_QUEUE_CAPACITY {
                Class::Side
            } else {
                Class::Dropped
            }
        } else {
            Class::Enet
        }
    }

    /// Queue a datagram [`classify`](Self::classify) found to be [`Class::Side`].
    pub(crate) fn push(&mut self, from: SocketAddr, data: &[u8], at: Instant) {
        self.queue.push_back(SideDatagram {
            from,
            data: Bytes::copy_from_slice(data),
            at,
        });
    }

    pub(crate) fn pop(&mut self) -> Option<SideDatagram> {
        self.queue.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn punch_packets_are_four_bytes_of_flags() {
        for punch in [&b"$rwx"[..], b"$-w-", b"$rw-", b"$---"] {
            assert!(is_punch(punch), "{punch:?}");
        }
        for other in [&b"$rwxy"[..], b"$rw", b"rwx$", b"$wrx", b"OK", b""] {
            assert!(!is_punch(other), "{other:?}");
        }
    }

    #[test]
    fn a_closed_channel_drops_punches_and_passes_everything_else_to_enet() {
        let mut channel = SideChannel::default();
        assert!(channel.watch(addr(8809)));
        assert_eq!(channel.classify(addr(1), b"$rwx"), Class::Dropped);
        // Watching takes effect only while open: a closed channel must not eat ENet traffic.
        assert_eq!(channel.classify(addr(8809), b"OK"), Class::Enet);
        assert_eq!(
            channel.classify(addr(1), &[0x0f, 0xff, 0x82, 0xff, 0, 1]),
            Class::Enet
        );
    }

    #[test]
    fn an_open_channel_takes_punches_and_everything_from_watched_sources() {
        let mut channel = SideChannel::default();
        channel.open();
        assert!(channel.watch(addr(8809)));
        assert_eq!(channel.classify(addr(8809), b"OK"), Class::Side);
        assert_eq!(channel.classify(addr(2), b"$-w-"), Class::Side);
        assert_eq!(channel.classify(addr(2), b"OK"), Class::Enet);
        channel.unwatch(addr(8809));
        assert_eq!(channel.classify(addr(8809), b"OK"), Class::Enet);
    }

    #[test]
    fn the_queue_and_the_watch_list_are_bounded() {
        let mut channel = SideChannel::default();
        channel.open();
        let at = Instant::now();
        for _ in 0..SIDE_QUEUE_CAPACITY {
            assert_eq!(channel.classify(addr(2), b"$rwx"), Class::Side);
            channel.push(addr(2), b"$rwx", at);
        }
        assert_eq!(channel.classify(addr(2), b"$rwx"), Class::Dropped);
        assert_eq!(channel.pop().map(|d| d.from), Some(addr(2)));
        assert_eq!(channel.classify(addr(2), b"$rwx"), Class::Side);
        for port in 0..MAX_WATCHED as u16 {
            assert!(channel.watch(addr(10_000 + port)));
        }
        assert!(!channel.watch(addr(9)));
        channel.close();
        assert!(channel.pop().is_none());
        assert_eq!(channel.classify(addr(10_000), b"OK"), Class::Enet);
    }
}
