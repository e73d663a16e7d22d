//! Peer slot bookkeeping: taking a slot into use and freeing it again, and changing a peer's
//! state while keeping the host's indexes (free list, active list, address index) and counts
//! (connected, half-open, bandwidth-limited) in step. Everything that allocates, resets or moves
//! a slot goes through here; `Host::debug_check_invariants` checks the result.

use std::net::SocketAddr;

use super::{Host, NOT_ACTIVE};
use crate::peer::PeerState;

impl Host {
    /// Takes a free slot into use for a connection with `address`.
    pub(crate) fn allocate_slot(&mut self, idx: usize, address: SocketAddr) {
        self.free.remove(&(idx as u16));
        if self.active_pos[idx] == NOT_ACTIVE {
            self.active_pos[idx] = self.active.len() as u32;
            self.active.push(idx as u16);
        }
        self.peers[idx].address = address;
        self.by_ip.entry(address.ip()).or_default().push(idx as u16);
    }

    /// The remote of a slot in use moved (only after connecting to the broadcast address).
    pub(crate) fn readdress(&mut self, idx: usize, address: SocketAddr) {
        self.unindex_address(idx);
        self.peers[idx].address = address;
        self.by_ip.entry(address.ip()).or_default().push(idx as u16);
    }

    fn unindex_address(&mut self, idx: usize) {
        let ip = self.peers[idx].address.ip();
        if let Some(slots) = self.by_ip.get_mut(&ip) {
            if let Some(pos) = slots.iter().position(|&s| usize::from(s) == idx) {
                slots.swap_remove(pos);
            }
            if slots.is_empty() {
                self.by_ip.remove(&ip);
            }
        }
    }

    /// Resets a slot to DISCONNECTED and frees it (`enet_peer_reset` plus host bookkeeping).
    pub(crate) fn reset_slot(&mut self, idx: usize) {
        if self.active_pos[idx] != NOT_ACTIVE {
            self.unindex_address(idx);
        }
        self.set_state(idx, PeerState::Disconnected);
        let mtu = self.mtu;
        let peer = &mut self.peers[idx];
        peer.reset(mtu);
        peer.timer_registered = None;
        let pos = self.active_pos[idx];
        if pos != NOT_ACTIVE {
            self.active.swap_remove(pos as usize);
            if let Some(&moved) = self.active.get(pos as usize) {
                self.active_pos[usize::from(moved)] = pos;
            }
            self.active_pos[idx] = NOT_ACTIVE;
        }
        self.free.insert(idx as u16);
    }

    /// Changes state, keeping the connected and bandwidth-limited counts (5.2).
    pub(crate) fn set_state(&mut self, idx: usize, state: PeerState) {
        let peer = &mut self.peers[idx];
        let was_half_open = peer.state == PeerState::AcknowledgingConnect;
        let is_half_open = state == PeerState::AcknowledgingConnect;
        if was_half_open && !is_half_open {
            self.half_open = self.half_open.saturating_sub(1);
        } else if is_half_open && !was_half_open {
            self.half_open += 1;
        }
        let was = peer.state.is_connected();
        let is = state.is_connected();
        if !was && is {
            self.connected_peers += 1;
            if peer.bandwidth.incoming != 0 {
                self.bandwidth_limited_peers += 1;
            }
        } else if was && !is {
            self.connected_peers = self.connected_peers.saturating_sub(1);
            if peer.bandwidth.incoming != 0 {
                self.bandwidth_limited_peers = self.bandwidth_limited_peers.saturating_sub(1);
            }
        }
        peer.state = state;
    }
}
