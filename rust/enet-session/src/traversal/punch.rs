//! Hole punching toward one remote party: its candidate addresses, the punch packets sent to
//! them and what came back.
//!
//! The packets are netfox.noray's (`$` and the flags `r`, `w`, `x`; see
//! `rust_enet_net::side_channel`), so a netfox.noray peer on Godot's own ENet takes part
//! unchanged: `r` once something came from the remote, `x` once the remote said it read ours.
//! A candidate is open as soon as any punch packet comes from it: the remote's NAT let ours
//! through, and ours lets the remote's through, since we sent to it first.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Which way a path goes (what `get_statistics()` reports).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Path {
    /// Straight to an address the remote reported for itself (both in one network).
    Lan,
    /// Straight to the remote's public address, as the rendezvous server saw it, or to an
    /// address its punches came from.
    Public,
    /// Through a relay port of the rendezvous server.
    Relay,
}

impl Path {
    /// `"direct"` or `"relay"`.
    pub fn kind(self) -> &'static str {
        match self {
            Path::Lan | Path::Public => "direct",
            Path::Relay => "relay",
        }
    }

    /// `"lan"`, `"public"` or `"relay"`: which candidate carried it.
    pub fn candidate(self) -> &'static str {
        match self {
            Path::Lan => "lan",
            Path::Public => "public",
            Path::Relay => "relay",
        }
    }
}

/// The time-to-live of the first punches (see [`Punch::new`]): they leave this side's NAT,
/// opening its mapping, and die before the other side's.
pub const PROBE_TTL: u8 = 2;

/// One punch packet to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PunchPacket {
    pub to: SocketAddr,
    pub data: [u8; 4],
    /// A low time-to-live for the packet, or `None` for the system's.
    pub ttl: Option<u8>,
}

/// Candidates of one remote at most (its LAN and public addresses, and the ones learned from
/// its punches).
pub const MAX_CANDIDATES: usize = 8;

#[derive(Debug, Clone)]
struct Candidate {
    address: SocketAddr,
    path: Path,
    /// A punch packet came from it.
    heard: bool,
    /// Its punches said they read ours (`r`).
    heard_us: bool,
}

/// Punching toward one remote.
///
/// # Driving it
///
/// Give it the remote's candidates ([`add`](Self::add), best first), then:
/// - [`due`](Self::due) says when punches are due; at that time
///   [`punches`](Self::punches) lists the datagrams to send (one per candidate);
/// - [`heard`](Self::heard) takes every punch packet that arrives and says whether it came from
///   one of this remote's candidates;
/// - [`open_path`](Self::open_path) is the best candidate a punch came from.
#[derive(Debug, Clone)]
pub struct Punch {
    candidates: Vec<Candidate>,
    interval: Duration,
    next: Instant,
    /// Until when punches are sent.
    until: Instant,
    /// Until when they are sent with [`PROBE_TTL`].
    probe_until: Instant,
}

impl Punch {
    /// Punch every `interval` from `now` until `now + duration`; during the first `probe`
    /// with a time-to-live of [`PROBE_TTL`], so that this side's NAT has its mapping before the
    /// remote's first full punch arrives. Both sides learn of each other at about the same time;
    /// a punch that reaches a Linux NAT before its own side sent anything makes it move that
    /// side's mapping to another port, and the path fails. `probe` is zero toward a relay.
    pub fn new(now: Instant, interval: Duration, duration: Duration, probe: Duration) -> Punch {
        Punch {
            candidates: Vec::new(),
            interval,
            next: now,
            until: now + duration,
            probe_until: now + probe,
        }
    }

    /// Add a candidate (kept once; at most [`MAX_CANDIDATES`]). Returns whether it is new.
    pub fn add(&mut self, address: SocketAddr, path: Path) -> bool {
        if self.knows(address) || self.candidates.len() >= MAX_CANDIDATES {
            return false;
        }
        self.candidates.push(Candidate {
            address,
            path,
            heard: false,
            heard_us: false,
        });
        true
    }

    /// Whether `address` is one of the candidates.
    pub fn knows(&self, address: SocketAddr) -> bool {
        self.candidates.iter().any(|c| c.address == address)
    }

    /// Whether a candidate has `address`'s IP (on any port).
    pub fn knows_ip(&self, address: SocketAddr) -> bool {
        self.candidates
            .iter()
            .any(|c| c.address.ip() == address.ip())
    }

    /// Whether `other` has a candidate of this one.
    pub fn overlaps(&self, other: &Punch) -> bool {
        other.candidates.iter().any(|c| self.knows(c.address))
    }

    /// Take `other`'s new candidates and punch again from `now` until `other`'s end.
    pub fn merge(&mut self, other: Punch, now: Instant) {
        for candidate in other.candidates {
            self.add(candidate.address, candidate.path);
        }
        self.next = now;
        self.until = self.until.max(other.until);
        self.probe_until = self.probe_until.max(other.probe_until);
    }

    /// The path of candidate `address`.
    pub fn path_of(&self, address: SocketAddr) -> Option<Path> {
        self.candidates
            .iter()
            .find(|c| c.address == address)
            .map(|c| c.path)
    }

    /// A punch packet `data` came from `from`: returns whether `from` is a candidate.
    pub fn heard(&mut self, from: SocketAddr, data: &[u8]) -> bool {
        let Some(candidate) = self.candidates.iter_mut().find(|c| c.address == from) else {
            return false;
        };
        candidate.heard = true;
        candidate.heard_us |= data.get(1) == Some(&b'r');
        true
    }

    /// Send `rounds` more rounds of punches, then stop.
    pub fn stop_after(&mut self, rounds: u32) {
        self.until = match rounds {
            0 => self.next,
            _ => self.next + self.interval * (rounds - 1) + Duration::from_nanos(1),
        };
    }

    /// Whether punches are still sent at `now`.
    pub fn is_active(&self, now: Instant) -> bool {
        now < self.until
    }

    /// When the next punches are due, while active.
    pub fn due(&self) -> Option<Instant> {
        (self.next < self.until).then_some(self.next)
    }

    /// The punches due at `now` (empty before [`due`](Self::due)), and the next time set.
    pub fn punches(&mut self, now: Instant) -> Vec<PunchPacket> {
        if now < self.next || now >= self.until {
            return Vec::new();
        }
        self.next = now + self.interval;
        let ttl = (now < self.probe_until).then_some(PROBE_TTL);
        self.candidates
            .iter()
            .map(|c| {
                let read = if c.heard { b'r' } else { b'-' };
                let done = if c.heard && c.heard_us { b'x' } else { b'-' };
                PunchPacket {
                    to: c.address,
                    data: [b'$', read, b'w', done],
                    ttl,
                }
            })
            .collect()
    }

    /// The best candidate (first added) a punch came from.
    pub fn open_path(&self) -> Option<(SocketAddr, Path)> {
        self.candidates
            .iter()
            .find(|c| c.heard)
            .map(|c| (c.address, c.path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::traversal::tests::addr;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Punches every 50 ms for `duration` from `start`, without probes.
    fn punching(start: Instant, duration: Duration) -> Punch {
        Punch::new(start, ms(50), duration, Duration::ZERO)
    }

    #[test]
    fn flags_follow_netfox_handshake() {
        let start = Instant::now();
        let mut punch = punching(start, Duration::from_secs(8));
        let lan = addr("192.168.1.5:4000");
        let public = addr("203.0.113.5:4000");
        assert!(punch.add(lan, Path::Lan));
        assert!(punch.add(public, Path::Public));
        assert!(!punch.add(public, Path::Public));
        let sent = |packets: Vec<PunchPacket>| -> Vec<(SocketAddr, [u8; 4])> {
            packets.into_iter().map(|p| (p.to, p.data)).collect()
        };
        assert_eq!(
            sent(punch.punches(start)),
            vec![(lan, *b"$-w-"), (public, *b"$-w-")]
        );
        assert!(
            punch.punches(start + Duration::from_millis(10)).is_empty(),
            "not due"
        );
        assert!(punch.heard(public, b"$-w-"));
        assert!(!punch.heard(addr("198.51.100.1:1"), b"$rwx"));
        let later = start + Duration::from_millis(50);
        assert_eq!(sent(punch.punches(later))[1], (public, *b"$rw-"));
        assert!(punch.heard(public, b"$rw-"));
        assert_eq!(
            sent(punch.punches(later + Duration::from_millis(50)))[1],
            (public, *b"$rwx")
        );
        assert_eq!(punch.open_path(), Some((public, Path::Public)));
        // LAN answers later: it is added first, so it is the better path.
        punch.heard(lan, b"$rw-");
        assert_eq!(punch.open_path(), Some((lan, Path::Lan)));
    }

    #[test]
    fn punching_stops_at_its_end() {
        let start = Instant::now();
        let mut punch = punching(start, Duration::from_millis(120));
        punch.add(addr("203.0.113.5:4000"), Path::Public);
        assert_eq!(punch.punches(start).len(), 1);
        assert_eq!(punch.due(), Some(start + Duration::from_millis(50)));
        assert_eq!(punch.punches(start + Duration::from_millis(100)).len(), 1);
        assert_eq!(punch.due(), None);
        assert!(punch.punches(start + Duration::from_millis(150)).is_empty());
        assert!(!punch.is_active(start + Duration::from_millis(120)));
    }

    #[test]
    fn the_first_punches_are_probes_with_a_low_ttl() {
        let start = Instant::now();
        let mut punch = Punch::new(start, ms(50), Duration::from_secs(8), ms(300));
        punch.add(addr("203.0.113.5:4000"), Path::Public);
        let ttls: Vec<Option<u8>> = (0..8)
            .flat_map(|round| punch.punches(start + ms(50) * round))
            .map(|p| p.ttl)
            .collect();
        let probes = [Some(PROBE_TTL); 6];
        assert_eq!(ttls, [&probes[..], &[None, None]].concat());
    }

    #[test]
    fn candidates_are_bounded() {
        let mut punch = punching(Instant::now(), Duration::from_secs(1));
        for port in 1..=MAX_CANDIDATES as u16 {
            assert!(punch.add(SocketAddr::from(([10, 0, 0, 1], port)), Path::Lan));
        }
        assert!(!punch.add(addr("10.0.0.2:1"), Path::Public));
    }
}
