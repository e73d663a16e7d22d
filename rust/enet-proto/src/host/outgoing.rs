//! Queueing outgoing commands (protocol description 6.1-6.3): application packets from
//! [`Host::send`] and [`Host::broadcast`] (cut into fragments above the MTU), and the control
//! commands the rest of the host queues (PING, DISCONNECT, ...). Queued commands leave with the
//! send pass of `send.rs`.

use super::{Host, SendError};
use crate::packet::{Packet, PacketFlags};
use crate::peer::{FragmentFields, OutgoingBody, OutgoingCommand, PeerId, PeerState};
use crate::wire::{
    COMMAND_FLAG_ACKNOWLEDGE, COMMAND_FLAG_UNSEQUENCED, Command, PROTOCOL_MAXIMUM_FRAGMENT_COUNT,
};

impl Host {
    /// Queues `packet` to `peer` on `channel` (protocol description 6.2, 6.3): fragmented above
    /// the MTU, reliable, unsequenced or unreliable by its flags.
    pub fn send(&mut self, peer: PeerId, channel: u8, packet: Packet) -> Result<(), SendError> {
        let length = packet.data.len();
        let fragment_length = self.check_send(peer, channel, length)?;
        let idx = peer.index();
        let flags = packet.flags;
        let ch = &self.peers[idx].channels[usize::from(channel)];
        let unreliable_exhausted = ch.outgoing_unreliable_sequence_number == 0xFFFF;
        if length > fragment_length {
            let unreliable = flags.contains(PacketFlags::UNRELIABLE_FRAGMENT)
                && !flags.contains(PacketFlags::RELIABLE)
                && !unreliable_exhausted;
            let start_sequence_number = if unreliable {
                ch.outgoing_unreliable_sequence_number.wrapping_add(1)
            } else {
                ch.outgoing_reliable_sequence_number.wrapping_add(1)
            };
            let fragment_count = length.div_ceil(fragment_length);
            for number in 0..fragment_count {
                let offset = number * fragment_length;
                let end = (offset + fragment_length).min(length);
                let fields = FragmentFields {
                    start_sequence_number,
                    fragment_count: fragment_count as u32,
                    fragment_number: number as u32,
                    total_length: length as u32,
                };
                let (command_flags, body) = if unreliable {
                    (0, OutgoingBody::SendUnreliableFragment(fields))
                } else {
                    (COMMAND_FLAG_ACKNOWLEDGE, OutgoingBody::SendFragment(fields))
                };
                let cmd = OutgoingCommand::new(command_flags, channel, body)
                    .with_payload(packet.data.slice(offset..end), offset as u32);
                self.queue_command(idx, cmd);
            }
            return Ok(());
        }
        let (command_flags, body) =
            if flags.contains(PacketFlags::UNSEQUENCED) && !flags.contains(PacketFlags::RELIABLE) {
                (COMMAND_FLAG_UNSEQUENCED, OutgoingBody::SendUnsequenced)
            } else if flags.contains(PacketFlags::RELIABLE) || unreliable_exhausted {
                (COMMAND_FLAG_ACKNOWLEDGE, OutgoingBody::SendReliable)
            } else {
                (0, OutgoingBody::SendUnreliable)
            };
        let cmd = OutgoingCommand::new(command_flags, channel, body).with_payload(packet.data, 0);
        self.queue_command(idx, cmd);
        Ok(())
    }

    /// Whether [`send`](Self::send) would take a packet of `length` bytes for `peer` on
    /// `channel` now, without queueing anything (for drivers that hold packets back and queue
    /// them later). Returns the fragment length `send` would cut it into.
    pub fn check_send(&self, peer: PeerId, channel: u8, length: usize) -> Result<usize, SendError> {
        let p = self.peers.get(peer.index()).ok_or(SendError::InvalidPeer)?;
        if p.state != PeerState::Connected {
            return Err(SendError::NotConnected);
        }
        if usize::from(channel) >= p.channels.len() {
            return Err(SendError::ChannelOutOfRange);
        }
        if length > self.maximum_packet_size {
            return Err(SendError::PacketTooLarge);
        }
        let fragment_length = (p.mtu as usize)
            .saturating_sub(4 + 24 + if self.checksum { 4 } else { 0 })
            .max(1);
        if length > fragment_length
            && length.div_ceil(fragment_length) > PROTOCOL_MAXIMUM_FRAGMENT_COUNT as usize
        {
            return Err(SendError::PacketTooLarge);
        }
        Ok(fragment_length)
    }

    /// Sends `packet` to every CONNECTED peer; the payload is shared, not copied.
    pub fn broadcast(&mut self, channel: u8, packet: Packet) {
        for i in 0..self.active.len() {
            let Some(&slot) = self.active.get(i) else {
                break;
            };
            if self.peers[usize::from(slot)].state == PeerState::Connected {
                // A peer with fewer channels simply does not get it, as in ENet.
                let _ = self.send(PeerId(slot), channel, packet.clone());
            }
        }
    }

    /// Queues a PING (only while CONNECTED).
    pub fn ping(&mut self, peer: PeerId) {
        let idx = peer.index();
        if self.peers.get(idx).map(|p| p.state) == Some(PeerState::Connected) {
            self.queue_ping(idx);
        }
    }

    /// Queues a command for a peer and marks it for sending.
    pub(crate) fn queue_command(&mut self, idx: usize, cmd: OutgoingCommand) {
        self.peers[idx].queue_outgoing_command(cmd, &mut self.total_queued);
        self.mark_send(idx);
    }

    /// Queues a connection-control command (on `CONTROL_CHANNEL`) with the command flags
    /// `flags` for a peer.
    pub(crate) fn queue_control(&mut self, idx: usize, flags: u8, command: Command<'static>) {
        self.queue_command(idx, OutgoingCommand::control(flags, command));
    }

    /// Queues a PING.
    pub(crate) fn queue_ping(&mut self, idx: usize) {
        self.queue_control(idx, COMMAND_FLAG_ACKNOWLEDGE, Command::Ping);
    }
}
