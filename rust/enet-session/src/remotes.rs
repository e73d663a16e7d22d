//! The remote peers of one host, by multiplayer id and by host slot.

use std::net::SocketAddr;

use rust_enet_net::UdpHost;
use rust_enet_proto::{PeerId, PeerState};

use crate::id_map::IdMap;

/// One connection of a session: its host slot and the connect id of the handshake that made
/// it, so a slot a script reset (or that a newer connection took over) is recognised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Remote {
    pub slot: PeerId,
    /// Where the connection came from (for messages; the slot forgets it when freed).
    pub address: Option<SocketAddr>,
    connect_id: [u8; 4],
}

impl Remote {
    /// The connection currently in `slot` of `udp`.
    pub fn of(udp: &UdpHost, slot: PeerId) -> Remote {
        let peer = udp.host().peer(slot);
        Remote {
            slot,
            address: peer.map(|p| p.address()),
            connect_id: peer.map_or([0; 4], |p| p.connect_id()),
        }
    }

    /// Whether the connection still occupies its slot: neither reset nor dropped at once
    /// (`reset`, `peer_disconnect_now`) nor replaced. A dead connection whose disconnect event
    /// is still queued (ZOMBIE) still does.
    pub fn is_live(&self, udp: &UdpHost) -> bool {
        udp.host().peer(self.slot).is_some_and(|p| {
            p.state() != PeerState::Disconnected && p.connect_id() == self.connect_id
        })
    }

    /// Whether the connection is CONNECTED (the state `enet_host_broadcast` sends to).
    pub fn is_connected(&self, udp: &UdpHost) -> bool {
        udp.host()
            .peer(self.slot)
            .is_some_and(|p| p.state() == PeerState::Connected && p.connect_id() == self.connect_id)
    }
}

/// A server's remote peers: multiplayer id to connection, and slot to id for attributing
/// received packets without a hash lookup. Changed only through `insert` and `remove`, which
/// keep both in step.
#[derive(Debug, Default)]
pub struct Remotes {
    by_id: IdMap<i32, Remote>,
    /// The id in each slot, 0 for none.
    by_slot: Vec<i32>,
}

impl Remotes {
    pub fn insert(&mut self, id: i32, remote: Remote) {
        let index = remote.slot.index();
        if self.by_slot.len() <= index {
            self.by_slot.resize(index + 1, 0);
        }
        self.by_slot[index] = id;
        self.by_id.insert(id, remote);
    }

    pub fn remove(&mut self, id: i32) -> Option<Remote> {
        let remote = self.by_id.remove(&id)?;
        if let Some(slot_id) = self.by_slot.get_mut(remote.slot.index())
            && *slot_id == id
        {
            *slot_id = 0;
        }
        Some(remote)
    }

    pub fn get(&self, id: i32) -> Option<Remote> {
        self.by_id.get(&id).copied()
    }

    /// The id of the peer in `slot`, if the slot holds one of these peers.
    pub fn id_in(&self, slot: PeerId) -> Option<i32> {
        self.by_slot
            .get(slot.index())
            .copied()
            .filter(|id| *id != 0)
    }

    pub fn iter(&self) -> impl Iterator<Item = (i32, Remote)> + '_ {
        self.by_id.iter().map(|(id, remote)| (*id, *remote))
    }
}
