//! Events for the application (protocol description 7.7, 5.3 "notify connect", 5.5 "notify
//! disconnect"): the dispatch queue of peers with something to report, [`Host::poll_event`]
//! that drains it round-robin, and the state changes that queue CONNECT and DISCONNECT events.

use super::Host;
use crate::event::{DisconnectReason, Event};
use crate::peer::{PeerId, PeerState};

impl Host {
    /// Whether [`poll_event`](Self::poll_event) would return an event now. Unlike taking one,
    /// asking changes nothing (taking a DISCONNECT event frees its slot).
    pub fn has_event(&self) -> bool {
        self.dispatch_queue.iter().any(|&slot| {
            let peer = &self.peers[usize::from(slot)];
            peer.needs_dispatch
                && (peer.connect_event_pending.is_some()
                    || peer.state == PeerState::Zombie
                    || (delivers_packets(peer.state) && !peer.dispatched_commands.is_empty()))
        })
    }

    /// The next event for the application (ENet's dispatch queue, 7.7): connection changes and
    /// received packets, round-robin between peers. A DISCONNECT event frees the slot.
    pub fn poll_event(&mut self) -> Option<Event> {
        while let Some(slot) = self.dispatch_queue.pop_front() {
            let idx = usize::from(slot);
            let peer = &mut self.peers[idx];
            if !peer.needs_dispatch {
                continue;
            }
            peer.needs_dispatch = false;
            if let Some(data) = peer.connect_event_pending.take() {
                if peer.state == PeerState::Zombie || !peer.dispatched_commands.is_empty() {
                    self.queue_dispatch(idx);
                }
                return Some(Event::Connect {
                    peer: PeerId(slot),
                    data,
                });
            }
            if delivers_packets(peer.state)
                && let Some(delivered) = peer.dispatched_commands.pop_front()
            {
                peer.total_waiting_data = peer
                    .total_waiting_data
                    .saturating_sub(delivered.packet.data.len());
                if !peer.dispatched_commands.is_empty() || peer.state == PeerState::Zombie {
                    self.queue_dispatch(idx);
                }
                return Some(Event::Receive {
                    peer: PeerId(slot),
                    channel: delivered.channel,
                    packet: delivered.packet,
                });
            }
            if peer.state == PeerState::Zombie {
                self.recalculate_bandwidth_limits = true;
                let event = Event::Disconnect {
                    peer: PeerId(slot),
                    data: peer.event_data,
                    reason: peer.disconnect_reason,
                };
                self.reset_slot(idx);
                return Some(event);
            }
        }
        None
    }

    /// Appends the peer to the dispatch queue unless it is already there.
    pub(crate) fn queue_dispatch(&mut self, idx: usize) {
        let peer = &mut self.peers[idx];
        if !peer.needs_dispatch {
            peer.needs_dispatch = true;
            self.dispatch_queue.push_back(idx as u16);
        }
    }

    /// Handshake complete: CONNECTED at once, CONNECT event queued (5.3 "notify connect").
    pub(crate) fn notify_connect(&mut self, idx: usize) {
        self.recalculate_bandwidth_limits = true;
        self.set_state(idx, PeerState::Connected);
        let peer = &mut self.peers[idx];
        peer.connect_event_pending = Some(peer.event_data);
        self.queue_dispatch(idx);
    }

    /// Connection over (5.5 "notify disconnect"): a half-open server-side slot is reset
    /// silently, anything else becomes a ZOMBIE with a DISCONNECT event (data 0).
    pub(crate) fn notify_disconnect(&mut self, idx: usize, reason: DisconnectReason) {
        let state = self.peers[idx].state;
        if state.is_connected() || state as u8 >= PeerState::ConnectionPending as u8 {
            self.recalculate_bandwidth_limits = true;
        }
        if state != PeerState::Connecting && (state as u8) < PeerState::ConnectionSucceeded as u8 {
            self.reset_slot(idx);
        } else {
            self.peers[idx].event_data = 0;
            self.zombify(idx, reason);
        }
    }

    /// ZOMBIE with a DISCONNECT event queued; the slot is reset when the event is polled.
    pub(crate) fn zombify(&mut self, idx: usize, reason: DisconnectReason) {
        self.set_state(idx, PeerState::Zombie);
        self.peers[idx].disconnect_reason = reason;
        self.queue_dispatch(idx);
    }
}

/// Whether a peer in `state` hands the packets it delivered to the application: while
/// connected, and, unlike ENet, after the connection ended (ZOMBIE) too, ahead of its DISCONNECT
/// event (ENet drops packets the application had not taken yet, which a host serviced on a
/// thread makes likely).
fn delivers_packets(state: PeerState) -> bool {
    matches!(
        state,
        PeerState::Connected | PeerState::DisconnectLater | PeerState::Zombie
    )
}
