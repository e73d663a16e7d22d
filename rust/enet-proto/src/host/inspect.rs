//! Read access to the host for applications and drivers: the peer slots, the limits and the
//! statistics, plus the invariant check that tests and fuzz targets run after every input.

use super::{Host, HostStatistics, NOT_ACTIVE};
use crate::peer::{Peer, PeerId, PeerState};

impl Host {
    /// Read access to a slot (any state), or `None` for an id beyond the peer limit.
    pub fn peer(&self, id: PeerId) -> Option<&Peer> {
        self.peers.get(id.index())
    }

    /// Slots in use (any state but DISCONNECTED), in no particular order.
    pub fn peers(&self) -> impl Iterator<Item = (PeerId, &Peer)> {
        self.active
            .iter()
            .map(move |&slot| (PeerId(slot), &self.peers[usize::from(slot)]))
    }

    /// Peers in CONNECTED or DISCONNECT_LATER state.
    pub fn connected_peers(&self) -> usize {
        self.connected_peers
    }

    /// Connections at most (`HostConfig::peer_limit`). Half-open handshakes of a server use
    /// slots of their own beyond it, so peer ids can be up to `peer_limit + handshake_limit`.
    pub fn peer_limit(&self) -> usize {
        self.peer_limit
    }

    /// Server-side handshakes in progress (VERIFY_CONNECT sent, not yet acknowledged).
    pub fn half_open_peers(&self) -> usize {
        self.half_open
    }

    /// Channels granted to incoming connections at most.
    pub fn channel_limit(&self) -> usize {
        self.channel_limit
    }

    /// The host's MTU for new connections.
    pub fn mtu(&self) -> u32 {
        self.mtu
    }

    /// Traffic and drop counters.
    pub fn statistics(&self) -> &HostStatistics {
        &self.stats
    }

    /// Test hook: panics if the host's internal indexes disagree with the slots (free list,
    /// active list, address index, connected count). For tests and fuzzing only.
    #[doc(hidden)]
    pub fn debug_check_invariants(&self) {
        let mut connected = 0;
        let mut indexed = 0;
        for (i, peer) in self.peers.iter().enumerate() {
            let slot = i as u16;
            let in_use = peer.state != PeerState::Disconnected;
            assert_eq!(self.free.contains(&slot), !in_use, "free list, slot {i}");
            assert_eq!(
                self.active_pos[i] != NOT_ACTIVE,
                in_use,
                "active list, slot {i}"
            );
            if in_use {
                assert_eq!(
                    self.active[self.active_pos[i] as usize], slot,
                    "active pos {i}"
                );
                let by_ip = self.by_ip.get(&peer.address.ip());
                assert!(
                    by_ip.is_some_and(|s| s.contains(&slot)),
                    "address index {i}"
                );
                indexed += 1;
            }
            if peer.state.is_connected() {
                connected += 1;
            }
        }
        assert_eq!(self.active.len(), indexed);
        assert_eq!(self.by_ip.values().map(Vec::len).sum::<usize>(), indexed);
        assert_eq!(self.connected_peers, connected);
        let half_open = self
            .peers
            .iter()
            .filter(|p| p.state == PeerState::AcknowledgingConnect)
            .count();
        assert_eq!(self.half_open, half_open, "half-open count");
        assert!(self.peers.len() <= self.slot_capacity);
        assert!(
            self.established_peers() <= self.peer_limit,
            "connections over the limit"
        );
    }
}
