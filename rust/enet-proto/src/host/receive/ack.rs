//! Acknowledgements (protocol description 7.1, 8.2): queueing an ACKNOWLEDGE for each reliable
//! command received, and handling an ACKNOWLEDGE that arrives, which feeds the round-trip time,
//! frees the acknowledged command and completes handshakes and disconnects waiting for it.

use super::Handled;
use crate::event::DisconnectReason;
use crate::host::Host;
use crate::peer::{
    Channel, PEER_FREE_RELIABLE_WINDOWS, PEER_RELIABLE_WINDOW_SIZE, PEER_RELIABLE_WINDOWS,
    PeerState, PendingAck,
};
use crate::time::EnetTime;
use crate::wire::{CommandHeader, CommandNumber};

impl Host {
    /// Queues an ACKNOWLEDGE per 7.1 (state rules and the c+7/c+8 window hold-back).
    pub(super) fn queue_acknowledgement(
        &mut self,
        idx: usize,
        header: &CommandHeader,
        number: CommandNumber,
        sent_time: u16,
    ) {
        let peer = &mut self.peers[idx];
        match peer.state {
            PeerState::Disconnecting
            | PeerState::AcknowledgingConnect
            | PeerState::Disconnected
            | PeerState::Zombie => return,
            PeerState::AcknowledgingDisconnect if number != CommandNumber::Disconnect => return,
            _ => {}
        }
        let seq = header.reliable_sequence_number;
        if let Some(channel) = peer.channels.get(usize::from(header.channel_id)) {
            let mut w = seq / PEER_RELIABLE_WINDOW_SIZE;
            let c = channel.incoming_reliable_sequence_number / PEER_RELIABLE_WINDOW_SIZE;
            if seq < channel.incoming_reliable_sequence_number {
                w += PEER_RELIABLE_WINDOWS;
            }
            if w >= c + PEER_FREE_RELIABLE_WINDOWS - 1 && w <= c + PEER_FREE_RELIABLE_WINDOWS {
                return;
            }
        }
        peer.acknowledgements.push_back(PendingAck {
            channel_id: header.channel_id,
            reliable_sequence_number: seq,
            sent_time,
            command_number: number as u8,
        });
        peer.bandwidth.outgoing_data_total = peer.bandwidth.outgoing_data_total.wrapping_add(8);
        self.mark_send(idx);
    }

    /// ACKNOWLEDGE (8.2).
    pub(super) fn handle_acknowledge(
        &mut self,
        idx: usize,
        channel_id: u8,
        received_reliable_sequence_number: u16,
        received_sent_time: u16,
    ) -> Handled {
        let now = self.service_time;
        let peer = &mut self.peers[idx];
        if matches!(peer.state, PeerState::Disconnected | PeerState::Zombie) {
            return Handled::Ok;
        }
        let mut sent = u32::from(received_sent_time) | (now.0 & 0xFFFF_0000);
        if (sent & 0x8000) > (now.0 & 0x8000) {
            sent = sent.wrapping_sub(0x10000);
        }
        let sent = EnetTime(sent);
        if now.is_before(sent) {
            return Handled::Ok; // "from the future": ignored entirely
        }
        let rtt = now.distance(sent).max(1);
        peer.update_round_trip_time(now, rtt);
        peer.last_receive_time = if now == EnetTime(0) { EnetTime(1) } else { now };
        peer.timeouts.earliest = EnetTime(0);
        let removed =
            peer.remove_sent_reliable_command(received_reliable_sequence_number, channel_id);
        let has_queued = peer.queued_commands() > 0;
        match peer.state {
            PeerState::AcknowledgingConnect => {
                if removed != Some(CommandNumber::VerifyConnect as u8) {
                    return Handled::Refused;
                }
                if !self.admit_handshake(idx) {
                    return Handled::Refused;
                }
                let peer = &mut self.peers[idx];
                let channels = peer.handshake.channels;
                peer.channels = (0..channels).map(|_| Channel::default()).collect();
                self.notify_connect(idx);
            }
            PeerState::Disconnecting => {
                if removed != Some(CommandNumber::Disconnect as u8) {
                    return Handled::Refused;
                }
                self.notify_disconnect(idx, DisconnectReason::Local);
            }
            PeerState::DisconnectLater if peer.has_no_outgoing() => {
                let data = peer.event_data;
                self.disconnect(crate::peer::PeerId(idx as u16), data);
            }
            _ => {}
        }
        if has_queued {
            // The window may have opened.
            self.mark_send(idx);
        }
        Handled::Ok
    }
}
