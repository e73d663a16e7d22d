//! Ending a connection from this side (protocol description 5.5): the graceful
//! [`Host::disconnect`], [`Host::disconnect_later`] after queued data, the immediate
//! [`Host::disconnect_now`] and the silent [`Host::reset_peer`]. A DISCONNECT from the remote is
//! handled in `receive/control.rs`.

use super::Host;
use crate::peer::{PeerId, PeerState};
use crate::wire::{COMMAND_FLAG_ACKNOWLEDGE, COMMAND_FLAG_UNSEQUENCED, Command};

impl Host {
    /// Graceful disconnect (5.5): drops queued data and sends a reliable DISCONNECT; an
    /// [`Event::Disconnect`](crate::Event::Disconnect) with
    /// [`DisconnectReason::Local`](crate::DisconnectReason::Local) follows its acknowledgement. A
    /// connection still in its handshake is dropped at once with one unreliable DISCONNECT.
    pub fn disconnect(&mut self, peer: PeerId, data: u32) {
        let idx = peer.index();
        let Some(p) = self.peers.get_mut(idx) else {
            return;
        };
        if matches!(
            p.state,
            PeerState::Disconnecting
                | PeerState::Disconnected
                | PeerState::AcknowledgingDisconnect
                | PeerState::Zombie
        ) {
            return;
        }
        if p.state.is_connected() {
            p.reset_queues();
            self.queue_control(idx, COMMAND_FLAG_ACKNOWLEDGE, Command::Disconnect { data });
            self.set_state(idx, PeerState::Disconnecting);
            self.schedule(idx);
        } else {
            self.flush_disconnect(idx, data);
            self.reset_slot(idx);
        }
    }

    /// Disconnects once everything queued has been delivered and acknowledged; meanwhile
    /// incoming data is discarded and `send` is refused. Otherwise like [`disconnect`](Self::disconnect).
    pub fn disconnect_later(&mut self, peer: PeerId, data: u32) {
        let idx = peer.index();
        let Some(p) = self.peers.get_mut(idx) else {
            return;
        };
        if p.state.is_connected() && !p.has_no_outgoing() {
            p.state = PeerState::DisconnectLater;
            p.event_data = data;
        } else {
            self.disconnect(peer, data);
        }
    }

    /// Drops the connection at once: one unreliable DISCONNECT is queued for `poll_transmit`,
    /// then the slot is reset. No local event.
    pub fn disconnect_now(&mut self, peer: PeerId, data: u32) {
        let idx = peer.index();
        let Some(p) = self.peers.get_mut(idx) else {
            return;
        };
        if p.state == PeerState::Disconnected {
            return;
        }
        if !matches!(p.state, PeerState::Zombie | PeerState::Disconnecting) {
            self.flush_disconnect(idx, data);
        }
        self.reset_slot(idx);
    }

    /// Frees the slot without telling the remote (which will time out). No event.
    pub fn reset_peer(&mut self, peer: PeerId) {
        if peer.index() < self.peers.len()
            && self.peers[peer.index()].state != PeerState::Disconnected
        {
            self.reset_slot(peer.index());
        }
    }

    /// Drops everything queued for the peer and builds one unreliable DISCONNECT carrying
    /// `data` into a datagram right away (for `poll_transmit`), ahead of a reset of the slot.
    pub(crate) fn flush_disconnect(&mut self, idx: usize, data: u32) {
        self.peers[idx].reset_queues();
        self.queue_control(idx, COMMAND_FLAG_UNSEQUENCED, Command::Disconnect { data });
        self.flush_peer(idx);
    }
}
