//! Settings changed after [`Host::new`]: per peer (ping interval, timeouts, packet throttle) and
//! for the host (bandwidth, channel limit, compression, checksums, MTU, connect filter).

use super::{ConnectFilter, Host, clamp_channel_limit};
use crate::compress::Compressor;
use crate::peer::{PeerId, PeerState};
use crate::wire::{COMMAND_FLAG_ACKNOWLEDGE, Command, PROTOCOL_MAXIMUM_MTU, PROTOCOL_MINIMUM_MTU};

impl Host {
    /// Installs (or, with `None`, removes) a filter that sees every CONNECT this host would
    /// otherwise take, before a slot is allocated: the sender's address and the CONNECT's
    /// `data` (Godot puts the client's peer id there). A refused CONNECT takes no slot, gives no
    /// event and, with [`HostConfig::answer_refused_connects`](super::HostConfig::answer_refused_connects), is answered with a DISCONNECT
    /// so the client fails at once. The filter runs inside
    /// [`handle_datagram`](Self::handle_datagram).
    pub fn set_connect_filter(&mut self, filter: Option<ConnectFilter>) {
        self.connect_filter = filter;
    }

    /// Sets the idle ping interval in ms (0 = ENet's 500). Reset with the slot.
    pub fn set_ping_interval(&mut self, peer: PeerId, ms: u32) {
        if let Some(p) = self.peers.get_mut(peer.index()) {
            p.ping_interval = if ms == 0 {
                crate::peer::PEER_PING_INTERVAL
            } else {
                ms
            };
            self.schedule(peer.index());
        }
    }

    /// Sets the timeout parameters (8.6); 0 keeps ENet's default for that parameter.
    pub fn set_timeout(&mut self, peer: PeerId, limit: u32, minimum: u32, maximum: u32) {
        if let Some(p) = self.peers.get_mut(peer.index()) {
            p.timeouts.limit = if limit == 0 {
                crate::peer::PEER_TIMEOUT_LIMIT
            } else {
                limit
            };
            p.timeouts.minimum = if minimum == 0 {
                crate::peer::PEER_TIMEOUT_MINIMUM
            } else {
                minimum
            };
            p.timeouts.maximum = if maximum == 0 {
                crate::peer::PEER_TIMEOUT_MAXIMUM
            } else {
                maximum
            };
        }
    }

    /// Sets the packet-throttle parameters locally and sends them to the remote
    /// (THROTTLE_CONFIGURE).
    pub fn throttle_configure(
        &mut self,
        peer: PeerId,
        interval: u32,
        acceleration: u32,
        deceleration: u32,
    ) {
        let idx = peer.index();
        let Some(p) = self.peers.get_mut(idx) else {
            return;
        };
        if p.state == PeerState::Disconnected || p.state == PeerState::Zombie {
            return;
        }
        p.throttle.interval = interval;
        p.throttle.acceleration = acceleration;
        p.throttle.deceleration = deceleration;
        self.queue_control(
            idx,
            COMMAND_FLAG_ACKNOWLEDGE,
            Command::ThrottleConfigure {
                packet_throttle_interval: interval,
                packet_throttle_acceleration: acceleration,
                packet_throttle_deceleration: deceleration,
            },
        );
    }

    /// Changes the host's bandwidth limits; BANDWIDTH_LIMIT goes to every connected peer at the
    /// next bandwidth-throttle tick.
    pub fn set_bandwidth_limit(&mut self, incoming: u32, outgoing: u32) {
        self.incoming_bandwidth = incoming;
        self.outgoing_bandwidth = outgoing;
        self.recalculate_bandwidth_limits = true;
    }

    /// Channels granted to future incoming connections (0 or above 255 means 255).
    pub fn set_channel_limit(&mut self, limit: usize) {
        self.channel_limit = clamp_channel_limit(limit);
    }

    /// Installs or removes the datagram compressor (both ends must agree).
    pub fn set_compressor(&mut self, c: Option<Box<dyn Compressor + Send>>) {
        self.compressor = c;
    }

    /// Turns CRC-32 checksums on or off (both ends must agree).
    pub fn set_checksum(&mut self, on: bool) {
        self.checksum = on;
    }

    /// Changes the MTU offered by future connections (576..=4096; other values are ignored).
    pub fn set_mtu(&mut self, mtu: u32) {
        if (PROTOCOL_MINIMUM_MTU..=PROTOCOL_MAXIMUM_MTU).contains(&mtu) {
            self.mtu = mtu;
        }
    }

    /// Test hook: the next `connect` uses these connect-id bytes instead of random ones.
    #[doc(hidden)]
    pub fn force_next_connect_id(&mut self, id: [u8; 4]) {
        self.forced_connect_id = Some(id);
    }
}
