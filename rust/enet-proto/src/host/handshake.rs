//! Server-side handshakes that cannot be turned against the server (flood resistance within
//! the ENet 1.3 wire protocol: a legitimate C ENet or Godot client sees nothing different).
//!
//! ENet gives every CONNECT, from any (spoofable) address, a slot and a VERIFY_CONNECT that it
//! resends for half a minute: a few dozen spoofed datagrams fill a server and make it an
//! amplifier. Here a half-open peer (ACKNOWLEDGING_CONNECT, VERIFY_CONNECT sent and not yet
//! acknowledged):
//! - is counted apart from `peer_limit`: half-open peers live in up to `handshake_limit` slots of
//!   their own (peer ids above the cap are fine on the wire; by default every id the connections
//!   leave free), allocated only when needed, so memory grows only while handshakes are under
//!   way; when that pool is full the oldest half-open peer makes room, so a flood cannot keep a
//!   real client from starting its handshake (at 2,000 spoofed CONNECTs a second a 32-player
//!   server keeps each handshake about 2 s, hundreds of round trips);
//! - never resends VERIFY_CONNECT on a timer: it answers each retransmitted CONNECT with one
//!   VERIFY_CONNECT (so no more bytes go back to an unverified address than came from it), and
//!   a client that already talks to its slot (its acknowledgement was lost) gets it again at most
//!   every [`HANDSHAKE_RESEND_INTERVAL`] ms;
//! - is dropped silently after [`HANDSHAKE_LIFETIME`] ms, long enough for ENet's CONNECT
//!   retransmissions at 0.5, 1.5 and 3.5 s; once its client has addressed the slot (it got
//!   VERIFY_CONNECT; its acknowledgement was lost), only when the client has been silent for the
//!   peer's timeout maximum (30 s by default), as a connection would be: such a client believes
//!   it is connected, and its next datagram, which ENet's backoff may send many seconds later,
//!   is what gets VERIFY_CONNECT resent;
//!
//! There is no limit per source address: spoofed floods come from many, and a burst of real
//! clients behind one address (a LAN, a test machine, a benchmark) must not be turned away.
//! The slot becomes a connection only when the acknowledgement arrives, and then only if fewer
//! than `peer_limit` connections exist; otherwise the new peer is disconnected at once.

use super::Host;
use crate::peer::PeerState;
use crate::time::EnetTime;

/// How long a half-open peer waits for the acknowledgement of its VERIFY_CONNECT, in ms.
pub const HANDSHAKE_LIFETIME: u32 = 5000;
/// Smallest gap between two VERIFY_CONNECTs a half-open peer sends when not asked by a CONNECT.
pub const HANDSHAKE_RESEND_INTERVAL: u32 = 500;
/// Default [`HostConfig::handshake_limit`](super::HostConfig::handshake_limit): as many
/// half-open peers as the 4095 peer ids allow beside the connections.
pub const HOST_DEFAULT_HANDSHAKE_LIMIT: usize = crate::wire::PROTOCOL_MAXIMUM_PEER_ID as usize;

impl Host {
    /// Connections (peers past or outside the server-side handshake).
    pub(crate) fn established_peers(&self) -> usize {
        self.active.len().saturating_sub(self.half_open)
    }

    /// A free slot for a new peer: the lowest free one, or a new one while the table is below
    /// `peer_limit + handshake_limit`.
    pub(crate) fn take_free_slot(&mut self) -> Option<usize> {
        if let Some(&slot) = self.free.first() {
            return Some(usize::from(slot));
        }
        if self.peers.len() >= self.slot_capacity {
            return None;
        }
        let idx = self.peers.len();
        self.peers
            .push(crate::peer::Peer::new(idx as u16, self.mtu));
        self.active_pos.push(super::NOT_ACTIVE);
        self.free.insert(idx as u16);
        Some(idx)
    }

    /// Makes room for one more half-open peer if the pool (or the peer id space) is full: the
    /// oldest one goes.
    pub(crate) fn make_room_for_handshake(&mut self) {
        while self.half_open >= self.handshake_limit
            || (self.free.is_empty() && self.peers.len() >= self.slot_capacity)
        {
            let Some((slot, started)) = self.handshake_order.pop_front() else {
                return;
            };
            let idx = usize::from(slot);
            let peer = &self.peers[idx];
            if peer.state == PeerState::AcknowledgingConnect && peer.handshake.started == started {
                self.stats.handshakes_evicted += 1;
                self.reset_slot(idx);
            }
        }
    }

    /// Records that slot `idx` started its handshake now.
    pub(crate) fn start_handshake(&mut self, idx: usize) {
        let now = self.service_time;
        let peer = &mut self.peers[idx];
        peer.handshake.started = now;
        peer.handshake.last_verify_time = now;
        peer.handshake.last_heard = None;
        self.handshake_order.push_back((idx as u16, now));
        // Stale entries (peers that connected or went) are skipped when popped; keep the queue
        // from growing past the pool under churn.
        if self.handshake_order.len() > 2 * self.handshake_limit.max(1) {
            let peers = &self.peers;
            self.handshake_order.retain(|&(slot, started)| {
                let p = &peers[usize::from(slot)];
                p.state == PeerState::AcknowledgingConnect && p.handshake.started == started
            });
        }
    }

    /// Sends the half-open peer's VERIFY_CONNECT again now (its client retransmitted the CONNECT,
    /// or talks to the slot without having acknowledged).
    pub(crate) fn resend_verify_connect(&mut self, idx: usize) {
        let now = self.service_time;
        let peer = &mut self.peers[idx];
        peer.handshake.last_verify_time = now;
        if peer.resend_in_flight_now() {
            self.stats.handshake_resends += 1;
            self.mark_send(idx);
        }
    }

    /// A datagram reached half-open peer `idx` from its address: if it did not complete the
    /// handshake and the last VERIFY_CONNECT is old enough, send it again.
    pub(crate) fn after_half_open_datagram(&mut self, idx: usize) {
        let now = self.service_time;
        let peer = &mut self.peers[idx];
        if peer.state != PeerState::AcknowledgingConnect {
            return;
        }
        peer.handshake.last_heard = Some(now);
        if now.distance(peer.handshake.last_verify_time) >= HANDSHAKE_RESEND_INTERVAL {
            self.resend_verify_connect(idx);
        }
    }

    /// When a half-open peer expires.
    pub(crate) fn handshake_deadline(&self, idx: usize) -> EnetTime {
        let peer = &self.peers[idx];
        match peer.handshake.last_heard {
            Some(heard) => heard.add_millis(peer.timeouts.maximum.max(HANDSHAKE_LIFETIME)),
            None => peer.handshake.started.add_millis(HANDSHAKE_LIFETIME),
        }
    }

    /// Timer of a half-open peer: dropped silently once its lifetime is over. Returns whether
    /// the peer is half-open (its timers are handled here, not by ENet's resend schedule).
    pub(crate) fn service_handshake_timer(&mut self, idx: usize, now: EnetTime) -> bool {
        if self.peers[idx].state != PeerState::AcknowledgingConnect {
            return false;
        }
        if !now.is_before(self.handshake_deadline(idx)) {
            self.stats.handshakes_expired += 1;
            self.reset_slot(idx);
        }
        true
    }

    /// The acknowledgement of `idx`'s VERIFY_CONNECT arrived: true if it may become a
    /// connection; false if `peer_limit` connections exist (it was disconnected at once).
    pub(crate) fn admit_handshake(&mut self, idx: usize) -> bool {
        // `established_peers` does not count `idx` yet: it is still half-open.
        if self.established_peers() < self.peer_limit {
            return true;
        }
        self.stats.connects_refused += 1;
        self.disconnect_now(crate::peer::PeerId(idx as u16), 0);
        false
    }
}
