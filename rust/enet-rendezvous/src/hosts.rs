//! Registered hosts: noray's HostEntity (oid, pid, the UDP address the registrar saw), keyed
//! by oid and by pid, with a cap on how many exist at once.
//!
//! Unlike noray, a host keeps one public address per family, and a later registrar datagram
//! replaces that family's address (noray keeps the first one forever, so a client that
//! re-registers from a new port is then unreachable).

use std::collections::HashMap;
use std::net::SocketAddr;

use thiserror::Error;

use crate::addr_list::canonical;
use crate::id::{EntropyError, IdSource, Oid, Pid};

/// The connection a host belongs to (noray's `findBySocket`); assigned by the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientId(pub u64);

/// One registered host.
#[derive(Debug)]
pub struct Host {
    /// Open id, shared with joiners.
    pub oid: Oid,
    /// Private id, sent to the registrar.
    pub pid: Pid,
    /// The TCP connection that registered it.
    pub client: ClientId,
    /// Public IPv4 address seen by the registrar.
    pub public_v4: Option<SocketAddr>,
    /// Public IPv6 address seen by the registrar.
    pub public_v6: Option<SocketAddr>,
}

impl Host {
    /// Records a registrar sighting; `true` when the family's address changed.
    pub fn record(&mut self, from: SocketAddr) -> bool {
        let from = canonical(from);
        let slot = if from.is_ipv4() {
            &mut self.public_v4
        } else {
            &mut self.public_v6
        };
        let changed = *slot != Some(from);
        *slot = Some(from);
        changed
    }

    /// The registered public addresses, IPv4 first.
    pub fn public(&self) -> Vec<SocketAddr> {
        self.public_v4.into_iter().chain(self.public_v6).collect()
    }

    /// Whether any public address is registered.
    pub fn is_registered(&self) -> bool {
        self.public_v4.is_some() || self.public_v6.is_some()
    }

    /// The address its relay serves: IPv4 when registered, else IPv6.
    pub fn relay_address(&self) -> Option<SocketAddr> {
        self.public_v4.or(self.public_v6)
    }

    /// The address of `peer` that this host is told in a `connect` line: the families both
    /// registered, IPv4 first; `None` when they share none.
    pub fn nat_address_of(&self, peer: &Host) -> Option<SocketAddr> {
        match (
            self.public_v4,
            peer.public_v4,
            self.public_v6,
            peer.public_v6,
        ) {
            (Some(_), Some(v4), _, _) => Some(v4),
            (_, _, Some(_), Some(v6)) => Some(v6),
            _ => None,
        }
    }
}

/// Why `register-host` failed.
#[derive(Debug, Clone, Error)]
pub enum RegisterError {
    /// The registry holds its maximum of hosts.
    #[error("host limit reached")]
    Full,
    /// Ids could not be generated.
    #[error(transparent)]
    Entropy(#[from] EntropyError),
}

/// All hosts, by oid and by pid.
///
/// Drive it with [`register`](Self::register) on `register-host`, [`by_pid_mut`](Self::by_pid_mut)
/// for registrar datagrams, [`get`](Self::get) for `connect` lookups and
/// [`remove`](Self::remove) when the owning connection ends.
#[derive(Debug)]
pub struct HostRegistry {
    by_oid: HashMap<Oid, Host>,
    oid_of_pid: HashMap<Pid, Oid>,
    max: usize,
}

impl HostRegistry {
    /// An empty registry holding at most `max` hosts.
    pub fn new(max: usize) -> Self {
        Self {
            by_oid: HashMap::new(),
            oid_of_pid: HashMap::new(),
            max,
        }
    }

    /// Creates a host for `client` with fresh ids.
    pub fn register(
        &mut self,
        client: ClientId,
        ids: &mut dyn IdSource,
    ) -> Result<&Host, RegisterError> {
        if self.by_oid.len() >= self.max {
            return Err(RegisterError::Full);
        }
        // 126 and 768 random bits: a collision is astronomically unlikely, but cheap to rule out.
        let oid = loop {
            let oid = Oid::generate(ids)?;
            if !self.by_oid.contains_key(&oid) {
                break oid;
            }
        };
        let pid = loop {
            let pid = Pid::generate(ids)?;
            if !self.oid_of_pid.contains_key(&pid) {
                break pid;
            }
        };
        self.oid_of_pid.insert(pid.clone(), oid.clone());
        let host = Host {
            oid: oid.clone(),
            pid,
            client,
            public_v4: None,
            public_v6: None,
        };
        Ok(self.by_oid.entry(oid).insert_entry(host).into_mut())
    }

    /// The host with this oid (the raw bytes of a `connect` line).
    pub fn get(&self, oid: &[u8]) -> Option<&Host> {
        self.by_oid.get(oid)
    }

    /// The host with this pid (the raw bytes of a registrar datagram).
    pub fn by_pid_mut(&mut self, pid: &[u8]) -> Option<&mut Host> {
        let oid = self.oid_of_pid.get(pid)?;
        self.by_oid.get_mut(oid)
    }

    /// Forgets the host with this oid.
    pub fn remove(&mut self, oid: &Oid) -> Option<Host> {
        let host = self.by_oid.remove(oid)?;
        self.oid_of_pid.remove(&host.pid);
        // A pid left behind would be a leak that no lookup shows (it finds no host).
        debug_assert_eq!(
            self.by_oid.len(),
            self.oid_of_pid.len(),
            "pid index out of step"
        );
        Some(host)
    }

    /// Hosts registered.
    pub fn len(&self) -> usize {
        self.by_oid.len()
    }

    /// Whether no host is registered.
    pub fn is_empty(&self) -> bool {
        self.by_oid.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::SeededIds;

    #[test]
    fn hosts_are_found_by_oid_and_pid_until_removed() {
        let mut registry = HostRegistry::new(2);
        let mut ids = SeededIds::new(1);
        let host = registry.register(ClientId(1), &mut ids).unwrap();
        let (oid, pid) = (host.oid.clone(), host.pid.clone());
        assert!(registry.get(oid.as_str().as_bytes()).is_some());
        assert!(registry.by_pid_mut(pid.as_str().as_bytes()).is_some());
        assert!(registry.by_pid_mut(oid.as_str().as_bytes()).is_none());
        registry.remove(&oid);
        assert!(registry.get(oid.as_str().as_bytes()).is_none());
        assert!(registry.by_pid_mut(pid.as_str().as_bytes()).is_none());
    }

    #[test]
    fn the_cap_refuses_one_more() {
        let mut registry = HostRegistry::new(1);
        let mut ids = SeededIds::new(1);
        registry.register(ClientId(1), &mut ids).unwrap();
        assert!(matches!(
            registry.register(ClientId(2), &mut ids),
            Err(RegisterError::Full)
        ));
    }

    #[test]
    fn families_are_recorded_separately_and_matched_for_nat() {
        let mut ids = SeededIds::new(1);
        let mut registry = HostRegistry::new(4);
        let a = registry
            .register(ClientId(1), &mut ids)
            .unwrap()
            .oid
            .clone();
        let b = registry
            .register(ClientId(2), &mut ids)
            .unwrap()
            .oid
            .clone();
        let mut host = registry.remove(&a).unwrap();
        let mut peer = registry.remove(&b).unwrap();
        assert!(host.record("[::ffff:203.0.113.1]:1".parse().unwrap()));
        assert!(
            !host.record("203.0.113.1:1".parse().unwrap()),
            "mapped IPv4 is IPv4"
        );
        assert!(host.record("[2001:db8::1]:1".parse().unwrap()));
        assert!(peer.record("[2001:db8::2]:2".parse().unwrap()));
        assert_eq!(
            host.nat_address_of(&peer),
            Some("[2001:db8::2]:2".parse().unwrap())
        );
        assert!(peer.record("198.51.100.2:2".parse().unwrap()));
        assert_eq!(
            host.nat_address_of(&peer),
            Some("198.51.100.2:2".parse().unwrap())
        );
        assert_eq!(host.relay_address(), Some("203.0.113.1:1".parse().unwrap()));
        assert_eq!(host.public().len(), 2);
    }
}
