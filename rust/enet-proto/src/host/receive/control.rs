//! Control commands that change the connection (protocol description 5.5, 7.3): DISCONNECT from
//! the remote, BANDWIDTH_LIMIT and THROTTLE_CONFIGURE, and dropping a remote that broke the
//! protocol.

use super::Handled;
use crate::event::{DisconnectReason, ProtocolViolation};
use crate::host::Host;
use crate::peer::{PeerState, window_from_bandwidths};
use crate::wire::{COMMAND_FLAG_ACKNOWLEDGE, CommandHeader};

impl Host {
    /// DISCONNECT (5.5).
    pub(super) fn handle_disconnect(
        &mut self,
        idx: usize,
        header: &CommandHeader,
        data: u32,
    ) -> Handled {
        let state = self.peers[idx].state;
        if matches!(
            state,
            PeerState::Disconnected | PeerState::Zombie | PeerState::AcknowledgingDisconnect
        ) {
            return Handled::Ok;
        }
        // Packets already delivered in order, which the application has not taken yet, are
        // kept (it gets them before the DISCONNECT event). ENet drops them here; a remote's
        // `disconnect_later` promises them, and a host serviced on a thread often holds some.
        let peer = &mut self.peers[idx];
        let delivered = std::mem::take(&mut peer.dispatched_commands);
        peer.reset_queues();
        peer.total_waiting_data = delivered.iter().map(|d| d.packet.data.len()).sum();
        peer.dispatched_commands = delivered;
        match state {
            PeerState::Connecting => self.zombify(idx, DisconnectReason::Refused),
            PeerState::ConnectionSucceeded | PeerState::Disconnecting => {
                self.zombify(idx, DisconnectReason::Remote);
            }
            PeerState::AcknowledgingConnect | PeerState::ConnectionPending => {
                if state == PeerState::ConnectionPending {
                    self.recalculate_bandwidth_limits = true;
                }
                self.reset_slot(idx);
                return Handled::Ok;
            }
            PeerState::Connected | PeerState::DisconnectLater => {
                if header.command & COMMAND_FLAG_ACKNOWLEDGE != 0 {
                    self.set_state(idx, PeerState::AcknowledgingDisconnect);
                    self.peers[idx].disconnect_reason = DisconnectReason::Remote;
                } else {
                    self.zombify(idx, DisconnectReason::Remote);
                }
            }
            _ => {}
        }
        self.peers[idx].event_data = data;
        Handled::Ok
    }

    /// BANDWIDTH_LIMIT (7.3).
    pub(super) fn handle_bandwidth_limit(
        &mut self,
        idx: usize,
        incoming: u32,
        outgoing: u32,
    ) -> Handled {
        let host_out = self.outgoing_bandwidth;
        let peer = &mut self.peers[idx];
        if !peer.state.is_connected() {
            return Handled::Refused;
        }
        if peer.bandwidth.incoming != 0 {
            self.bandwidth_limited_peers = self.bandwidth_limited_peers.saturating_sub(1);
        }
        peer.bandwidth.incoming = incoming;
        peer.bandwidth.outgoing = outgoing;
        if incoming != 0 {
            self.bandwidth_limited_peers += 1;
        }
        peer.window_size = window_from_bandwidths(peer.bandwidth.incoming, host_out);
        Handled::Ok
    }

    /// PING: nothing to do but acknowledge it, which only a connected peer does.
    pub(super) fn handle_ping(&self, idx: usize) -> Handled {
        if self.peers[idx].state.is_connected() {
            Handled::Ok
        } else {
            Handled::Refused
        }
    }

    /// THROTTLE_CONFIGURE (7.3): the remote's packet-throttle parameters.
    pub(super) fn handle_throttle_configure(
        &mut self,
        idx: usize,
        interval: u32,
        acceleration: u32,
        deceleration: u32,
    ) -> Handled {
        let peer = &mut self.peers[idx];
        if !peer.state.is_connected() {
            return Handled::Refused;
        }
        peer.throttle.interval = interval;
        peer.throttle.acceleration = acceleration;
        peer.throttle.deceleration = deceleration;
        Handled::Ok
    }

    /// Drops a peer that broke the protocol: one unreliable DISCONNECT to it, then ZOMBIE with a
    /// typed reason.
    pub(super) fn protocol_violation(&mut self, idx: usize, violation: ProtocolViolation) {
        self.stats.protocol_violations += 1;
        tracing::debug!(peer = idx, %violation, "protocol violation, dropping peer");
        self.flush_disconnect(idx, 0);
        self.peers[idx].event_data = 0;
        self.zombify(idx, DisconnectReason::ProtocolViolation(violation));
    }
}
