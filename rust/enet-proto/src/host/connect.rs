//! Starting a connection as the client (protocol description 5.3, client side): [`Host::connect`]
//! queues the CONNECT; [`Host::connect_any`] also keeps further addresses of the remote host,
//! which the timer (`timer.rs`) tries in turn until one answers. The answer, VERIFY_CONNECT, is
//! handled in `receive/connect.rs`.

use std::net::SocketAddr;

use super::{CONNECT_ATTEMPT_DELAY, ConnectError, Host};
use crate::peer::{Channel, PeerId, PeerState, window_from_bandwidth};
use crate::time::EnetTime;
use crate::wire::{
    COMMAND_FLAG_ACKNOWLEDGE, Command, Connect, PROTOCOL_MAXIMUM_CHANNEL_COUNT,
    PROTOCOL_MINIMUM_CHANNEL_COUNT,
};

impl Host {
    /// Starts connecting to `address` with `channel_count` channels (clamped to 1..=255) and
    /// `data` for the remote's CONNECT event. The result arrives as an
    /// [`Event::Connect`](crate::Event::Connect) or, if the remote never answers, an
    /// [`Event::Disconnect`](crate::Event::Disconnect) with
    /// [`DisconnectReason::Timeout`](crate::DisconnectReason::Timeout).
    pub fn connect(
        &mut self,
        now: EnetTime,
        address: SocketAddr,
        channel_count: usize,
        data: u32,
    ) -> Result<PeerId, ConnectError> {
        self.advance_clock(now);
        let channel_count = channel_count.clamp(
            PROTOCOL_MINIMUM_CHANNEL_COUNT,
            PROTOCOL_MAXIMUM_CHANNEL_COUNT,
        );
        if self.established_peers() >= self.peer_limit {
            return Err(ConnectError::NoFreeSlot);
        }
        let Some(idx) = self.take_free_slot() else {
            return Err(ConnectError::NoFreeSlot);
        };
        let slot = idx as u16;
        self.allocate_slot(idx, address);
        let connect_id = match self.forced_connect_id.take() {
            Some(id) => id,
            None => self.rng.next_u32().to_be_bytes(),
        };
        let window_size = window_from_bandwidth(self.outgoing_bandwidth);
        let mtu = self.mtu;
        let (incoming_bandwidth, outgoing_bandwidth) =
            (self.incoming_bandwidth, self.outgoing_bandwidth);
        let peer = &mut self.peers[idx];
        peer.channels = (0..channel_count).map(|_| Channel::default()).collect();
        peer.state = PeerState::Connecting;
        peer.connect_id = connect_id;
        peer.mtu = mtu;
        peer.window_size = window_size;
        let connect = Connect {
            outgoing_peer_id: peer.incoming_peer_id,
            incoming_session_id: peer.incoming_session_id,
            outgoing_session_id: peer.outgoing_session_id,
            mtu,
            window_size,
            channel_count: channel_count as u32,
            incoming_bandwidth,
            outgoing_bandwidth,
            packet_throttle_interval: peer.throttle.interval,
            packet_throttle_acceleration: peer.throttle.acceleration,
            packet_throttle_deceleration: peer.throttle.deceleration,
            connect_id,
            data,
        };
        self.queue_control(idx, COMMAND_FLAG_ACKNOWLEDGE, Command::Connect(connect));
        Ok(PeerId(slot))
    }

    /// [`connect`](Self::connect) to a remote host known by several addresses (a host name that
    /// resolved to IPv6 and IPv4 addresses), trying them in order in the spirit of RFC 8305: the
    /// CONNECT goes to `addresses[0]`, and every [`CONNECT_ATTEMPT_DELAY`] ms without an answer
    /// it is sent on to the next address (at once, outside ENet's resend schedule). The first
    /// address whose VERIFY_CONNECT arrives becomes the peer's address; answers from the others
    /// are dropped from then on. The attempt fails only when ENet's connect timeout runs out,
    /// counted from the first CONNECT. Repeated addresses are tried once. Returns
    /// [`ConnectError::NoAddress`] for an empty list.
    pub fn connect_any(
        &mut self,
        now: EnetTime,
        addresses: &[SocketAddr],
        channel_count: usize,
        data: u32,
    ) -> Result<PeerId, ConnectError> {
        let (&first, rest) = addresses.split_first().ok_or(ConnectError::NoAddress)?;
        let peer = self.connect(now, first, channel_count, data)?;
        let idx = peer.index();
        let p = &mut self.peers[idx];
        p.attempt.tried.push(first);
        for &address in rest {
            if address != first && !p.attempt.candidates.contains(&address) {
                p.attempt.candidates.push_back(address);
            }
        }
        p.attempt.next_time = now.add_millis(CONNECT_ATTEMPT_DELAY);
        self.schedule(idx);
        Ok(peer)
    }

    /// Sends the CONNECT of a CONNECTING peer on to its next candidate address now.
    pub(crate) fn try_next_connect_candidate(&mut self, idx: usize, now: EnetTime) {
        let peer = &mut self.peers[idx];
        let Some(address) = peer.attempt.candidates.pop_front() else {
            return;
        };
        peer.attempt.tried.push(address);
        peer.attempt.next_time = now.add_millis(CONNECT_ATTEMPT_DELAY);
        let resend = peer.resend_in_flight_now();
        self.readdress(idx, address);
        if resend {
            self.mark_send(idx);
        }
    }
}
