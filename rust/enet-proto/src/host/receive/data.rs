//! The data commands (protocol description 7.3): SEND_RELIABLE, SEND_UNRELIABLE,
//! SEND_UNSEQUENCED with its duplicate window, and the two fragment commands, which start or
//! continue a reassembly. Ordering and delivery are the channel's (`peer/channel.rs`); this
//! file checks each command against the connection and queues the peer for dispatch.

use super::Handled;
use crate::event::ProtocolViolation;
use crate::host::Host;
use crate::packet::PacketFlags;
use crate::peer::{
    FragmentCheck, IncomingCommand, IncomingKey, IncomingSource, PEER_FREE_UNSEQUENCED_WINDOWS,
    PEER_UNSEQUENCED_WINDOW_SIZE, QueueResult, in_receive_window,
};
use crate::wire::{CommandHeader, CommandNumber, Fragment};

impl Host {
    /// Common prologue of the data commands (7.3).
    fn data_prologue(
        &self,
        idx: usize,
        header: &CommandHeader,
        data_len: usize,
    ) -> Option<Handled> {
        let peer = &self.peers[idx];
        if !peer.state.is_connected() {
            return Some(Handled::Refused);
        }
        if usize::from(header.channel_id) >= peer.channels.len() {
            return Some(Handled::Violation(ProtocolViolation::ChannelOutOfRange {
                channel: header.channel_id,
            }));
        }
        if data_len > self.maximum_packet_size {
            return Some(Handled::Violation(ProtocolViolation::BadDataLength));
        }
        None
    }

    fn queue_result(result: QueueResult) -> Handled {
        match result {
            QueueResult::Queued | QueueResult::Discarded => Handled::Ok,
            QueueResult::Error => Handled::Refused,
        }
    }

    /// SEND_RELIABLE and SEND_UNRELIABLE.
    pub(super) fn handle_send_data(
        &mut self,
        idx: usize,
        header: &CommandHeader,
        key: IncomingKey,
        data: &[u8],
        flags: PacketFlags,
    ) -> Handled {
        if let Some(h) = self.data_prologue(idx, header, data.len()) {
            return h;
        }
        let max_waiting = self.maximum_waiting_data;
        let result = self.peers[idx].queue_incoming(
            header.channel_id,
            key,
            IncomingSource::Data(data, flags),
            max_waiting,
        );
        self.after_incoming(idx);
        Self::queue_result(result)
    }

    /// SEND_UNSEQUENCED with the 1024-bit duplicate window (7.3).
    pub(super) fn handle_send_unsequenced(
        &mut self,
        idx: usize,
        header: &CommandHeader,
        unsequenced_group: u16,
        data: &[u8],
    ) -> Handled {
        if let Some(h) = self.data_prologue(idx, header, data.len()) {
            return h;
        }
        let max_waiting = self.maximum_waiting_data;
        let peer = &mut self.peers[idx];
        let mut group = u32::from(unsequenced_group);
        let index = group % PEER_UNSEQUENCED_WINDOW_SIZE;
        let base = u32::from(peer.unsequenced.incoming_group);
        if group < base {
            group += 0x10000;
        }
        if group >= base + PEER_FREE_UNSEQUENCED_WINDOWS * PEER_UNSEQUENCED_WINDOW_SIZE {
            return Handled::Ok;
        }
        group &= 0xFFFF;
        let word = (index / 32) as usize;
        let bit = 1u32 << (index % 32);
        if group.wrapping_sub(index) != base {
            peer.unsequenced.incoming_group = group.wrapping_sub(index) as u16;
            peer.unsequenced.window = [0; 32];
        } else if peer.unsequenced.window[word] & bit != 0 {
            return Handled::Ok; // duplicate
        }
        let key = IncomingKey {
            number: CommandNumber::SendUnsequenced,
            reliable_sequence_number: header.reliable_sequence_number,
            unreliable_sequence_number: 0,
        };
        let result = peer.queue_incoming(
            header.channel_id,
            key,
            IncomingSource::Data(data, PacketFlags::UNSEQUENCED),
            max_waiting,
        );
        if result == QueueResult::Error {
            self.after_incoming(idx);
            return Handled::Refused;
        }
        self.peers[idx].unsequenced.window[word] |= bit;
        self.after_incoming(idx);
        Handled::Ok
    }

    /// SEND_FRAGMENT (`reliable`) and SEND_UNRELIABLE_FRAGMENT (7.3).
    pub(super) fn handle_send_fragment(
        &mut self,
        idx: usize,
        header: &CommandHeader,
        fragment: &Fragment<'_>,
        reliable: bool,
    ) -> Handled {
        if let Some(h) = self.data_prologue(idx, header, fragment.data.len()) {
            return h;
        }
        let max_packet = self.maximum_packet_size;
        let max_waiting = self.maximum_waiting_data;
        let peer = &mut self.peers[idx];
        let Some(channel) = peer.channels.get(usize::from(header.channel_id)) else {
            return Handled::Refused;
        };
        let current = channel.incoming_reliable_sequence_number;
        let start = fragment.start_sequence_number;
        let (number, epoch, unrel, flags) = if reliable {
            (CommandNumber::SendFragment, start, 0, PacketFlags::RELIABLE)
        } else {
            (
                CommandNumber::SendUnreliableFragment,
                header.reliable_sequence_number,
                start,
                PacketFlags::UNRELIABLE_FRAGMENT,
            )
        };
        if !in_receive_window(epoch, current) {
            return Handled::Ok;
        }
        if !reliable && epoch == current && start <= channel.incoming_unreliable_sequence_number {
            return Handled::Ok; // superseded
        }
        if FragmentCheck::of(fragment, max_packet) == FragmentCheck::Invalid {
            return Handled::Violation(ProtocolViolation::BadFragment);
        }
        let found = if reliable {
            channel.find_reliable(start)
        } else {
            channel.find_unreliable(epoch, start)
        };
        let Some(pos) = found else {
            let key = IncomingKey {
                number,
                reliable_sequence_number: epoch,
                unreliable_sequence_number: unrel,
            };
            let result = peer.queue_incoming(
                header.channel_id,
                key,
                IncomingSource::Fragment(fragment, flags),
                max_waiting,
            );
            if result == QueueResult::Queued {
                self.note_reassembly(idx, header.channel_id, fragment.total_length as usize);
            }
            self.after_incoming(idx);
            return Self::queue_result(result);
        };
        let Some(channel) = peer.channels.get_mut(usize::from(header.channel_id)) else {
            return Handled::Refused;
        };
        let list = if reliable {
            &mut channel.incoming_reliable_commands
        } else {
            &mut channel.incoming_unreliable_commands
        };
        let entry: &mut IncomingCommand = &mut list[pos];
        if !entry.matches_fragment(number, fragment) {
            return Handled::Violation(ProtocolViolation::FragmentMismatch);
        }
        if entry.add_fragment(fragment) {
            if reliable {
                peer.dispatch_incoming_reliable(header.channel_id);
            } else {
                peer.dispatch_incoming_unreliable(header.channel_id, None);
            }
            self.after_incoming(idx);
        }
        Handled::Ok
    }

    /// Queues the peer for dispatch if packets became deliverable.
    fn after_incoming(&mut self, idx: usize) {
        if !self.peers[idx].dispatched_commands.is_empty() {
            self.queue_dispatch(idx);
        }
    }
}
