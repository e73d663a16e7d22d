//! The handshake as received (protocol description 5.3): a CONNECT without a peer takes a
//! half-open slot and is answered with VERIFY_CONNECT (or refused, see
//! [`HostConfig::answer_refused_connects`](crate::HostConfig::answer_refused_connects)); a
//! VERIFY_CONNECT completes the client's connection. Flood resistance of half-open peers is in
//! `host/handshake.rs`; the acknowledgement that completes the server side, in `ack.rs`.

use std::net::SocketAddr;

use super::{Handled, Refusal};
use crate::compress::crc32;
use crate::event::{DisconnectReason, ProtocolViolation};
use crate::host::{Host, MAXIMUM_PENDING_REFUSALS};
use crate::peer::{PeerState, clamp_window, window_from_bandwidth, window_from_bandwidths};
use crate::wire::{
    COMMAND_FLAG_ACKNOWLEDGE, COMMAND_FLAG_UNSEQUENCED, CONTROL_CHANNEL, Command, CommandHeader,
    CommandNumber, Connect, DatagramHeader, PROTOCOL_MAXIMUM_CHANNEL_COUNT, PROTOCOL_MAXIMUM_MTU,
    PROTOCOL_MAXIMUM_PEER_ID, PROTOCOL_MINIMUM_CHANNEL_COUNT, PROTOCOL_MINIMUM_MTU, VerifyConnect,
};

impl Host {
    /// CONNECT without a peer (5.3 server side). Returns the new half-open slot, or why none
    /// was taken: [`Refusal::Answer`] for a CONNECT the caller answers with a DISCONNECT,
    /// [`Refusal::Ignore`] for one it drops.
    pub(super) fn handle_connect(
        &mut self,
        from: SocketAddr,
        connect: &Connect,
    ) -> Result<usize, Refusal> {
        let requested = connect.channel_count as usize;
        if !(PROTOCOL_MINIMUM_CHANNEL_COUNT..=PROTOCOL_MAXIMUM_CHANNEL_COUNT).contains(&requested) {
            return Err(Refusal::Ignore);
        }
        let mut duplicates = 0usize;
        let mut retransmitted = None;
        for &slot in self.by_ip.get(&from.ip()).map_or(&[][..], Vec::as_slice) {
            let p = &self.peers[usize::from(slot)];
            if p.state != PeerState::Connecting {
                if p.address.port() == from.port() && p.connect_id == connect.connect_id {
                    retransmitted = Some((usize::from(slot), p.state));
                    break;
                }
                duplicates += 1;
            }
        }
        if let Some((idx, state)) = retransmitted {
            // A retransmitted CONNECT of a connection we have: a half-open one answers it with
            // its VERIFY_CONNECT again (one answer per CONNECT), anything else ignores it.
            if state == PeerState::AcknowledgingConnect {
                self.resend_verify_connect(idx);
            }
            return Err(Refusal::Ignore);
        }
        if self.established_peers() >= self.peer_limit || duplicates >= self.duplicate_peers {
            return Err(Refusal::Answer);
        }
        if let Some(filter) = self.connect_filter.as_mut()
            && !filter(from, connect.data)
        {
            return Err(Refusal::Answer);
        }
        self.make_room_for_handshake();
        let idx = self.take_free_slot().ok_or(Refusal::Answer)?;
        self.allocate_slot(idx, from);
        self.set_state(idx, PeerState::AcknowledgingConnect);
        self.start_handshake(idx);
        let channel_count = requested.min(self.channel_limit);
        let host_mtu = self.mtu;
        let (host_in, host_out) = (self.incoming_bandwidth, self.outgoing_bandwidth);
        let peer = &mut self.peers[idx];
        // Channels are allocated when the handshake completes: a half-open peer holds little.
        peer.handshake.channels = channel_count;
        peer.connect_id = connect.connect_id;
        peer.mtu = host_mtu;
        peer.outgoing_peer_id = connect.outgoing_peer_id;
        peer.bandwidth.incoming = connect.incoming_bandwidth;
        peer.bandwidth.outgoing = connect.outgoing_bandwidth;
        peer.throttle.interval = connect.packet_throttle_interval;
        peer.throttle.acceleration = connect.packet_throttle_acceleration;
        peer.throttle.deceleration = connect.packet_throttle_deceleration;
        peer.event_data = connect.data;

        // Session ids (5.3 step 5): ours for what we receive is the remote's outgoing one.
        let incoming_session =
            next_session_id(connect.incoming_session_id, peer.outgoing_session_id);
        peer.outgoing_session_id = incoming_session;
        let outgoing_session =
            next_session_id(connect.outgoing_session_id, peer.incoming_session_id);
        peer.incoming_session_id = outgoing_session;

        let remote_mtu = connect
            .mtu
            .clamp(PROTOCOL_MINIMUM_MTU, PROTOCOL_MAXIMUM_MTU);
        peer.mtu = host_mtu.min(remote_mtu);
        peer.window_size = window_from_bandwidths(host_out, peer.bandwidth.incoming);
        let advertised = clamp_window(window_from_bandwidth(host_in).min(connect.window_size));
        let verify = VerifyConnect {
            outgoing_peer_id: peer.incoming_peer_id,
            incoming_session_id: incoming_session,
            outgoing_session_id: outgoing_session,
            mtu: peer.mtu,
            window_size: advertised,
            channel_count: channel_count as u32,
            incoming_bandwidth: host_in,
            outgoing_bandwidth: host_out,
            packet_throttle_interval: peer.throttle.interval,
            packet_throttle_acceleration: peer.throttle.acceleration,
            packet_throttle_deceleration: peer.throttle.deceleration,
            connect_id: peer.connect_id,
        };
        self.queue_control(
            idx,
            COMMAND_FLAG_ACKNOWLEDGE,
            Command::VerifyConnect(verify),
        );
        Ok(idx)
    }

    /// Answers a refused CONNECT from `to` with one unreliable DISCONNECT addressed to the
    /// connecting peer's slot (its `outgoing_peer_id`). A C ENet or rust_enet client in
    /// CONNECTING state skips the session check (its outgoing peer id is still 0xFFF), goes to
    /// ZOMBIE and reports a disconnect; Godot's peer then emits `connection_failed`.
    pub(super) fn queue_refusal(&mut self, to: SocketAddr, connect: &Connect) {
        if self.raw_transmits.len() >= MAXIMUM_PENDING_REFUSALS {
            self.stats.refusals_dropped += 1;
            return;
        }
        let header = DatagramHeader {
            peer_id: connect.outgoing_peer_id & PROTOCOL_MAXIMUM_PEER_ID,
            session_id: 0,
            compressed: false,
            sent_time: None,
        };
        let command_header = CommandHeader {
            command: CommandNumber::Disconnect as u8 | COMMAND_FLAG_UNSEQUENCED,
            channel_id: CONTROL_CHANNEL,
            reliable_sequence_number: 0,
        };
        let checksum_len = if self.checksum { 4 } else { 0 };
        let mut out = vec![0u8; 32];
        let Some(header_len) = header.emit(&mut out) else {
            return;
        };
        let area = header_len + checksum_len;
        let Some(command_len) =
            Command::Disconnect { data: 0 }.emit(&command_header, &mut out[area..])
        else {
            return;
        };
        out.truncate(area + command_len);
        if checksum_len > 0 {
            // The client checks it with its own connect id as the seed.
            let crc = crc32(&[&out[..header_len], &connect.connect_id, &out[area..]]);
            out[header_len..area].copy_from_slice(&crc.to_be_bytes());
        }
        self.stats.refusals_sent += 1;
        self.stats.total_sent_data += out.len() as u64;
        self.stats.total_sent_packets += 1;
        self.raw_transmits.push_back((to, out));
    }

    /// VERIFY_CONNECT (5.3 client side).
    pub(super) fn handle_verify_connect(&mut self, idx: usize, verify: &VerifyConnect) -> Handled {
        let peer = &mut self.peers[idx];
        if peer.state != PeerState::Connecting {
            return Handled::Ok;
        }
        let channel_count = verify.channel_count as usize;
        if !(PROTOCOL_MINIMUM_CHANNEL_COUNT..=PROTOCOL_MAXIMUM_CHANNEL_COUNT)
            .contains(&channel_count)
            || verify.packet_throttle_interval != peer.throttle.interval
            || verify.packet_throttle_acceleration != peer.throttle.acceleration
            || verify.packet_throttle_deceleration != peer.throttle.deceleration
            || verify.connect_id != peer.connect_id
        {
            peer.event_data = 0;
            self.stats.protocol_violations += 1;
            self.zombify(
                idx,
                DisconnectReason::ProtocolViolation(ProtocolViolation::VerifyConnectMismatch),
            );
            return Handled::Refused;
        }
        peer.remove_sent_reliable_command(1, CONTROL_CHANNEL);
        if channel_count < peer.channels.len() {
            peer.channels.truncate(channel_count);
        }
        peer.outgoing_peer_id = verify.outgoing_peer_id & PROTOCOL_MAXIMUM_PEER_ID;
        peer.incoming_session_id = verify.incoming_session_id;
        peer.outgoing_session_id = verify.outgoing_session_id;
        let mtu = verify.mtu.clamp(PROTOCOL_MINIMUM_MTU, PROTOCOL_MAXIMUM_MTU);
        peer.mtu = peer.mtu.min(mtu);
        peer.window_size = peer.window_size.min(clamp_window(verify.window_size));
        peer.bandwidth.incoming = verify.incoming_bandwidth;
        peer.bandwidth.outgoing = verify.outgoing_bandwidth;
        self.notify_connect(idx);
        Handled::Ok
    }
}

/// The session id of one direction of a new connection (5.3 step 5): the one the CONNECT proposes
/// (`0xFF`, "never connected", means the slot's `previous` one) plus one, skipping `previous`, in
/// 2-bit arithmetic, so a datagram of the slot's previous connection never matches.
fn next_session_id(proposed: u8, previous: u8) -> u8 {
    let base = if proposed == 0xFF { previous } else { proposed };
    let id = base.wrapping_add(1) & 3;
    if id == previous {
        id.wrapping_add(1) & 3
    } else {
        id
    }
}

#[cfg(test)]
mod tests {
    use super::next_session_id;

    #[test]
    fn session_ids_advance_in_two_bits_and_skip_the_previous_one() {
        // A fresh slot (0xFF) and a CONNECT that proposes nothing.
        assert_eq!(next_session_id(0xFF, 0xFF), 0);
        // The proposal plus one, wrapping at 4.
        assert_eq!(next_session_id(1, 0), 2);
        assert_eq!(next_session_id(3, 1), 0);
        // Never the slot's previous id.
        assert_eq!(next_session_id(1, 2), 3);
        assert_eq!(next_session_id(3, 0), 1);
        // No proposal: the previous id plus one.
        assert_eq!(next_session_id(0xFF, 2), 3);
    }
}
