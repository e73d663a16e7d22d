//! Relays: one UDP port per registered public address, as noray allocates them, forwarding only
//! between linked pairs, never more than it received, within a byte rate, until idle.
//!
//! noray's rule: a datagram arriving on relay port P from sender S is sent unchanged from the
//! port of the relay whose address is S to the address of the relay that owns P. This table
//! keeps that rule and adds:
//! - **links**: `connect-relay` links the host's and the joiner's relays, and only linked relays
//!   forward to each other (noray forwards between any two relays);
//! - **no dynamic relays**: an unknown sender never gets a port of its own (noray binds a
//!   random port outside the range for it);
//! - **latching** instead, for symmetric NATs, whose mapping toward the relay port differs
//!   from the one the registrar saw: a datagram from an unknown sender on port P re-addresses
//!   the one relay linked to P whose address has the sender's IP and that has not been heard
//!   from for [`RelayLimits::latch_quiet`]. More than one such relay: the datagram is dropped;
//! - **claims**, which make latching exact: a client of ours sends its pid to the relay port
//!   it was given, and [`RelayTable::claim`] points the client's relay at the mapping that pid
//!   came from. Several joiners behind one IP are then told apart;
//! - **rates**: a per-relay byte bucket on the sending relay and a global one; excess is
//!   dropped (noray's constraint assert crashes the process);
//! - **expiry** after [`RelayLimits::idle`] without forwarded traffic and at
//!   [`RelayLimits::lifetime`], exactly at the deadline (noray sweeps every 30 s).

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use thiserror::Error;

use crate::addr_list::canonical;
use crate::deadlines::DeadlineQueue;
use crate::rate::TokenBucket;

/// How many ports one allocation may try to bind before giving up.
const MAX_BIND_ATTEMPTS: usize = 16;

/// The sockets behind relay ports; the driver implements it, tests fake it.
pub trait RelayPorts {
    /// Binds `port` on every listening address; `false` when it cannot be bound now (the
    /// port is then tried again later, after the other free ports).
    fn open(&mut self, port: u16) -> bool;
    /// Releases a port that [`open`](Self::open) bound.
    fn close(&mut self, port: u16);
}

/// The relay limits (see [`crate::Config`] for their meaning and defaults).
#[derive(Debug, Clone)]
pub struct RelayLimits {
    /// Freed after this long without a forwarded datagram in either direction.
    pub idle: Duration,
    /// Freed this long after creation whatever the traffic; zero means no limit.
    pub lifetime: Duration,
    /// Bytes per second one relay may send on behalf of its address (0 = unlimited).
    pub rate: u64,
    /// Bytes one relay may send in a burst.
    pub burst: u64,
    /// Bytes per second all relays together may send (0 = unlimited).
    pub global_rate: u64,
    /// Relays whose registered address has the same IP (0 = unlimited).
    pub max_per_ip: usize,
    /// How long a relay's address must have been silent before a new sender may latch it.
    pub latch_quiet: Duration,
}

/// What to do with a datagram that arrived on a relay port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Forward {
    /// Send it from this relay port (the sender's relay)...
    pub from_port: u16,
    /// ...to this address (the relay owner's), unchanged.
    pub to: SocketAddr,
}

/// Why a relay datagram was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelayDrop {
    /// No relay owns the port (a late datagram after expiry).
    UnknownPort,
    /// The sender is no relay's address and could not latch one.
    UnknownSender,
    /// The sender's relay is not linked to the port's relay.
    NotLinked,
    /// The sender's relay is over its byte rate.
    RateLimited,
    /// All relays together are over the global byte rate.
    GlobalRateLimited,
}

/// Why a relay could not be allocated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum RelayError {
    /// Every port of the pool is in use.
    #[error("relay pool exhausted")]
    PoolExhausted,
    /// The address's IP already holds its maximum of relays.
    #[error("too many relays for this ip")]
    PerIpLimit,
    /// Free ports exist but none could be bound.
    #[error("no relay port could be bound")]
    BindFailed,
}

#[derive(Debug)]
struct Relay {
    generation: u64,
    /// The address the registrar saw; the allocation key.
    registered: SocketAddr,
    /// Where datagrams for this relay go and from where its owner's datagrams come.
    peer: SocketAddr,
    links: BTreeSet<u16>,
    created: Instant,
    last_active: Instant,
    last_heard: Option<Instant>,
    bucket: TokenBucket,
}

/// The relay pool and its forwarding rule, without sockets.
///
/// Drive it with [`allocate_pair`](Self::allocate_pair) on `connect-relay`,
/// [`handle_datagram`](Self::handle_datagram) for every datagram a relay port receives (then
/// send it as the returned [`Forward`] says), and [`handle_timeout`](Self::handle_timeout) at
/// [`poll_timeout`](Self::poll_timeout). Ports are bound and released through [`RelayPorts`].
#[derive(Debug)]
pub struct RelayTable {
    limits: RelayLimits,
    relays: HashMap<u16, Relay>,
    by_registered: HashMap<SocketAddr, u16>,
    by_peer: HashMap<SocketAddr, u16>,
    /// Allocation pops the back (highest port first, as noray); freed ports go to the front,
    /// so a port rests as long as possible before it serves someone else.
    free: VecDeque<u16>,
    per_ip: HashMap<IpAddr, usize>,
    global: TokenBucket,
    deadlines: DeadlineQueue<(u16, u64)>,
    next_generation: u64,
}

impl RelayTable {
    /// A table over `ports` (duplicates ignored), all free.
    pub fn new(ports: &[u16], limits: RelayLimits, now: Instant) -> Self {
        let mut sorted = ports.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        let global = TokenBucket::new(limits.global_rate, limits.global_rate, now);
        Self {
            limits,
            relays: HashMap::new(),
            by_registered: HashMap::new(),
            by_peer: HashMap::new(),
            free: sorted.into(),
            per_ip: HashMap::new(),
            global,
            deadlines: DeadlineQueue::default(),
            next_generation: 0,
        }
    }

    /// The relay ports of `host` and `joiner` (allocated if new), linked to each other.
    /// Fails without allocating anything when either cannot be had.
    pub fn allocate_pair(
        &mut self,
        host: SocketAddr,
        joiner: SocketAddr,
        now: Instant,
        ports: &mut dyn RelayPorts,
    ) -> Result<(u16, u16), RelayError> {
        let (host_port, host_new) = self.get_or_allocate(canonical(host), now, ports)?;
        let (joiner_port, _) = match self.get_or_allocate(canonical(joiner), now, ports) {
            Ok(found) => found,
            Err(error) => {
                if host_new {
                    self.free_relay(host_port, ports);
                }
                return Err(error);
            }
        };
        for (a, b) in [(host_port, joiner_port), (joiner_port, host_port)] {
            if let Some(relay) = self.relays.get_mut(&a) {
                relay.links.insert(b);
            }
        }
        Ok((host_port, joiner_port))
    }

    fn get_or_allocate(
        &mut self,
        addr: SocketAddr,
        now: Instant,
        ports: &mut dyn RelayPorts,
    ) -> Result<(u16, bool), RelayError> {
        if let Some(&port) = self.by_registered.get(&addr).or(self.by_peer.get(&addr)) {
            return Ok((port, false));
        }
        let ip = addr.ip();
        let same_ip = self.per_ip.get(&ip).copied().unwrap_or(0);
        if self.limits.max_per_ip != 0 && same_ip >= self.limits.max_per_ip {
            return Err(RelayError::PerIpLimit);
        }
        if self.free.is_empty() {
            return Err(RelayError::PoolExhausted);
        }
        let port = (0..self.free.len().min(MAX_BIND_ATTEMPTS))
            .find_map(|_| {
                let port = self.free.pop_back()?;
                if ports.open(port) {
                    Some(port)
                } else {
                    self.free.push_front(port);
                    None
                }
            })
            .ok_or(RelayError::BindFailed)?;
        self.next_generation += 1;
        let generation = self.next_generation;
        self.relays.insert(
            port,
            Relay {
                generation,
                registered: addr,
                peer: addr,
                links: BTreeSet::new(),
                created: now,
                last_active: now,
                last_heard: None,
                bucket: TokenBucket::new(self.limits.rate, self.limits.burst, now),
            },
        );
        self.by_registered.insert(addr, port);
        self.by_peer.insert(addr, port);
        *self.per_ip.entry(ip).or_default() += 1;
        self.schedule(port, now);
        Ok((port, true))
    }

    /// Decides the fate of `len` bytes from `from` that arrived on relay `port`.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        port: u16,
        from: SocketAddr,
        len: usize,
    ) -> Result<Forward, RelayDrop> {
        let from = canonical(from);
        if !self.relays.contains_key(&port) {
            return Err(RelayDrop::UnknownPort);
        }
        let sender_port = match self.by_peer.get(&from) {
            Some(&sender) => sender,
            None => self
                .latch(port, from, now)
                .ok_or(RelayDrop::UnknownSender)?,
        };
        let target_peer = self
            .relays
            .get(&port)
            .map(|r| r.peer)
            .ok_or(RelayDrop::UnknownPort)?;
        let sender = self
            .relays
            .get_mut(&sender_port)
            .ok_or(RelayDrop::UnknownSender)?;
        sender.last_heard = Some(now);
        if !sender.links.contains(&port) {
            return Err(RelayDrop::NotLinked);
        }
        let len = u64::try_from(len).unwrap_or(u64::MAX);
        if !sender.bucket.try_take(len, now) {
            return Err(RelayDrop::RateLimited);
        }
        if !self.global.try_take(len, now) {
            return Err(RelayDrop::GlobalRateLimited);
        }
        sender.last_active = now;
        if let Some(target) = self.relays.get_mut(&port) {
            target.last_active = now;
        }
        Ok(Forward {
            from_port: sender_port,
            to: target_peer,
        })
    }

    /// Re-addresses the one quiet relay linked to `port` whose peer has `from`'s IP.
    fn latch(&mut self, port: u16, from: SocketAddr, now: Instant) -> Option<u16> {
        let quiet = self.limits.latch_quiet;
        let mut candidates = self.relays.get(&port)?.links.iter().filter(|&&linked| {
            self.relays.get(&linked).is_some_and(|r| {
                r.peer.ip() == from.ip()
                    && r.last_heard
                        .is_none_or(|heard| now.saturating_duration_since(heard) >= quiet)
            })
        });
        let chosen = *candidates.next()?;
        if candidates.next().is_some() {
            return None;
        }
        let relay = self.relays.get_mut(&chosen)?;
        tracing::debug!(port = chosen, old = %relay.peer, new = %from, "relay address latched");
        self.by_peer.remove(&relay.peer);
        relay.peer = from;
        self.by_peer.insert(from, chosen);
        Some(chosen)
    }

    /// A datagram on `port` from `from` carried the pid of the client registered as
    /// `registered`: that client's relay, when it is linked to `port`, now sends to `from`.
    /// Returns whether a relay was re-addressed. The claim itself is never forwarded.
    pub fn claim(
        &mut self,
        port: u16,
        registered: SocketAddr,
        from: SocketAddr,
        now: Instant,
    ) -> bool {
        let (registered, from) = (canonical(registered), canonical(from));
        let Some(&chosen) = self.by_registered.get(&registered) else {
            return false;
        };
        let Some(relay) = self.relays.get_mut(&chosen) else {
            return false;
        };
        // A claim cannot take an address another relay already serves.
        if !relay.links.contains(&port) || self.by_peer.get(&from).is_some_and(|&p| p != chosen) {
            return false;
        }
        tracing::debug!(port = chosen, old = %relay.peer, new = %from, "relay address claimed");
        self.by_peer.remove(&relay.peer);
        relay.peer = from;
        relay.last_heard = Some(now);
        self.by_peer.insert(from, chosen);
        true
    }

    /// Frees every relay whose idle or lifetime deadline has passed; returns their ports.
    pub fn handle_timeout(&mut self, now: Instant, ports: &mut dyn RelayPorts) -> Vec<u16> {
        let mut freed = Vec::new();
        while let Some((port, generation)) = self.deadlines.pop_due(now) {
            let Some(relay) = self
                .relays
                .get(&port)
                .filter(|r| r.generation == generation)
            else {
                continue;
            };
            if self.deadline(relay) <= now {
                self.free_relay(port, ports);
                freed.push(port);
            } else {
                self.schedule(port, now);
            }
        }
        freed
    }

    /// When [`handle_timeout`](Self::handle_timeout) next has work (maybe none, then).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadlines.next()
    }

    fn deadline(&self, relay: &Relay) -> Instant {
        let idle = relay.last_active + self.limits.idle;
        if self.limits.lifetime.is_zero() {
            idle
        } else {
            idle.min(relay.created + self.limits.lifetime)
        }
    }

    fn schedule(&mut self, port: u16, now: Instant) {
        if let Some(relay) = self.relays.get(&port) {
            let at = self.deadline(relay).max(now);
            self.deadlines.schedule(at, (port, relay.generation));
        }
    }

    fn free_relay(&mut self, port: u16, ports: &mut dyn RelayPorts) {
        let Some(relay) = self.relays.remove(&port) else {
            return;
        };
        for linked in &relay.links {
            if let Some(other) = self.relays.get_mut(linked) {
                other.links.remove(&port);
            }
        }
        self.by_registered.remove(&relay.registered);
        self.by_peer.remove(&relay.peer);
        let ip = relay.registered.ip();
        if let Some(count) = self.per_ip.get_mut(&ip) {
            *count -= 1;
            if *count == 0 {
                self.per_ip.remove(&ip);
            }
        }
        ports.close(port);
        self.free.push_front(port);
    }

    /// The relay port serving `addr`, if one is allocated.
    pub fn port_of(&self, addr: SocketAddr) -> Option<u16> {
        let addr = canonical(addr);
        self.by_registered
            .get(&addr)
            .or(self.by_peer.get(&addr))
            .copied()
    }

    /// Relays in use.
    pub fn len(&self) -> usize {
        self.relays.len()
    }

    /// Whether no relay is in use.
    pub fn is_empty(&self) -> bool {
        self.relays.is_empty()
    }
}

#[cfg(test)]
#[path = "relay_tests.rs"]
mod tests;
