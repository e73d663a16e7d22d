//! Channels: sequence numbers, reliable send windows, and the incoming queues with ENet's ordering,
//! duplicate and dispatch rules (protocol description 7.4-7.6).

use std::collections::VecDeque;

use bytes::Bytes;

use super::{Delivered, Peer, in_receive_window};
use crate::packet::{Packet, PacketFlags};
use crate::wire::{CommandNumber, PROTOCOL_MAXIMUM_FRAGMENT_COUNT};

/// One data channel of a connection.
#[derive(Debug, Default)]
pub(crate) struct Channel {
    pub(crate) outgoing_reliable_sequence_number: u16,
    pub(crate) outgoing_unreliable_sequence_number: u16,
    /// Bit w set: window w holds sent, unacknowledged commands.
    pub(crate) used_reliable_windows: u16,
    /// Sent, unacknowledged commands per 4096-sequence window.
    pub(crate) reliable_windows: [u16; 16],
    pub(crate) incoming_reliable_sequence_number: u16,
    pub(crate) incoming_unreliable_sequence_number: u16,
    pub(crate) incoming_reliable_commands: VecDeque<IncomingCommand>,
    pub(crate) incoming_unreliable_commands: VecDeque<IncomingCommand>,
}

impl Channel {
    /// `IncomingCommand::prefault` on the reassembly entries of this channel, in list order,
    /// until `budget` is used up. Returns the bytes covered; 0 once none is left to cover.
    pub(crate) fn prefault_reassembly(&mut self, budget: usize) -> usize {
        let mut covered = 0;
        let lists = [
            &mut self.incoming_reliable_commands,
            &mut self.incoming_unreliable_commands,
        ];
        for entry in lists.into_iter().flatten() {
            if covered >= budget {
                break;
            }
            if entry.fragment_count > 0 {
                covered += entry.prefault(budget - covered);
            }
        }
        covered
    }
}

/// Payload of an incoming entry: complete, or a reassembly buffer.
#[derive(Debug)]
pub(crate) enum IncomingData {
    Complete(Bytes),
    Assembling(Vec<u8>),
}

impl IncomingData {
    pub(crate) fn len(&self) -> usize {
        match self {
            IncomingData::Complete(b) => b.len(),
            IncomingData::Assembling(v) => v.len(),
        }
    }

    fn into_bytes(self) -> Bytes {
        match self {
            IncomingData::Complete(b) => b,
            IncomingData::Assembling(v) => Bytes::from(v),
        }
    }
}

/// A received data command waiting for ordering, reassembly or dispatch.
#[derive(Debug)]
pub(crate) struct IncomingCommand {
    /// Command number (SEND_RELIABLE, SEND_UNRELIABLE, SEND_FRAGMENT, ...).
    pub(crate) number: CommandNumber,
    pub(crate) reliable_sequence_number: u16,
    pub(crate) unreliable_sequence_number: u16,
    pub(crate) fragment_count: u32,
    pub(crate) fragments_remaining: u32,
    /// Received-fragment bitmap, one bit per fragment number.
    pub(crate) fragments: Vec<u32>,
    pub(crate) total_length: u32,
    pub(crate) data: IncomingData,
    pub(crate) flags: PacketFlags,
    /// Reassembly: no fragment has written at or beyond this offset, and `prefault` has touched
    /// every page below it that no fragment wrote (see `IncomingCommand::prefault`).
    pub(crate) prefaulted: usize,
    /// Scratch mark of the unreliable dispatch pass.
    deliver: bool,
}

impl IncomingCommand {
    pub(crate) fn new(
        number: CommandNumber,
        reliable_sequence_number: u16,
        unreliable_sequence_number: u16,
        data: IncomingData,
        flags: PacketFlags,
    ) -> Self {
        let total_length = data.len() as u32;
        IncomingCommand {
            number,
            reliable_sequence_number,
            unreliable_sequence_number,
            fragment_count: 0,
            fragments_remaining: 0,
            fragments: Vec::new(),
            total_length,
            data,
            flags,
            prefaulted: 0,
            deliver: false,
        }
    }

    fn into_delivered(self, channel: u8) -> Delivered {
        Delivered {
            channel,
            packet: Packet {
                data: self.data.into_bytes(),
                flags: self.flags,
            },
        }
    }
}

/// Ordering key of a command handed to `queue_incoming`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct IncomingKey {
    pub(crate) number: CommandNumber,
    pub(crate) reliable_sequence_number: u16,
    pub(crate) unreliable_sequence_number: u16,
}

/// What a new incoming entry is built from; the payload is copied only once the command is
/// accepted.
#[derive(Debug, Clone, Copy)]
pub(crate) enum IncomingSource<'a> {
    /// A whole packet.
    Data(&'a [u8], PacketFlags),
    /// The first fragment to arrive of a packet: creates the reassembly entry.
    Fragment(&'a crate::wire::Fragment<'a>, PacketFlags),
}

/// Result of `queue_incoming` (protocol description 7.4 and 14 item 11): a silent discard still
/// counts as success (the command is acknowledged), an error fails the command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum QueueResult {
    Queued,
    Discarded,
    Error,
}

/// Where ENet's backward walk (7.4) places `seq` in a list ordered by virtual (wrap-unrolled)
/// sequence number relative to `current`: `Ok(index)` to insert at, or `Err(index)` of an entry
/// with an equal key. Among entries with the same reliable sequence number, `tie` orders the
/// entry against the new command (the unreliable number; always `Equal` for reliable lists).
fn find_insertion<F>(
    list: &VecDeque<IncomingCommand>,
    current: u16,
    seq: u16,
    mut tie: F,
) -> Result<usize, usize>
where
    F: FnMut(&IncomingCommand) -> std::cmp::Ordering,
{
    for i in (0..list.len()).rev() {
        let e = &list[i];
        if seq >= current {
            if e.reliable_sequence_number < current {
                continue;
            }
        } else if e.reliable_sequence_number >= current {
            return Ok(i + 1);
        }
        if e.reliable_sequence_number < seq {
            return Ok(i + 1);
        }
        if e.reliable_sequence_number > seq {
            continue;
        }
        match tie(e) {
            std::cmp::Ordering::Less => return Ok(i + 1),
            std::cmp::Ordering::Equal => return Err(i),
            std::cmp::Ordering::Greater => continue,
        }
    }
    Ok(0)
}

impl Channel {
    /// Index of the reliable entry with sequence number `seq`, found by ENet's walk (7.3 step 3).
    pub(crate) fn find_reliable(&self, seq: u16) -> Option<usize> {
        find_insertion(
            &self.incoming_reliable_commands,
            self.incoming_reliable_sequence_number,
            seq,
            |_| std::cmp::Ordering::Equal,
        )
        .err()
    }

    /// Index of the unreliable entry of epoch `seq` with unreliable number `unrel` (7.3).
    pub(crate) fn find_unreliable(&self, seq: u16, unrel: u16) -> Option<usize> {
        find_insertion(
            &self.incoming_unreliable_commands,
            self.incoming_reliable_sequence_number,
            seq,
            |e| e.unreliable_sequence_number.cmp(&unrel),
        )
        .err()
    }
}

impl Peer {
    /// `queue_incoming` (7.4): orders `entry` into its channel, enforcing windows, duplicates and
    /// the waiting-data limit, then runs dispatch. `fragment_creating` makes a discard an error, as
    /// ENet does for calls that create a reassembly entry.
    pub(crate) fn queue_incoming(
        &mut self,
        channel_id: u8,
        key: IncomingKey,
        source: IncomingSource<'_>,
        maximum_waiting_data: usize,
    ) -> QueueResult {
        let fragment_creating = matches!(source, IncomingSource::Fragment(..));
        let discard = if fragment_creating {
            QueueResult::Error
        } else {
            QueueResult::Discarded
        };
        if self.state == super::PeerState::DisconnectLater {
            return discard;
        }
        let Some(channel) = self.channels.get_mut(usize::from(channel_id)) else {
            return QueueResult::Error;
        };
        let current = channel.incoming_reliable_sequence_number;
        let seq = key.reliable_sequence_number;
        if key.number != CommandNumber::SendUnsequenced && !in_receive_window(seq, current) {
            return discard;
        }
        let reliable = matches!(
            key.number,
            CommandNumber::SendReliable | CommandNumber::SendFragment
        );
        let position = match key.number {
            CommandNumber::SendReliable | CommandNumber::SendFragment => {
                if seq == current {
                    return discard;
                }
                match find_insertion(&channel.incoming_reliable_commands, current, seq, |_| {
                    std::cmp::Ordering::Equal
                }) {
                    Ok(i) => i,
                    Err(_) => return discard,
                }
            }
            CommandNumber::SendUnreliable | CommandNumber::SendUnreliableFragment => {
                let unrel = key.unreliable_sequence_number;
                if seq == current && unrel <= channel.incoming_unreliable_sequence_number {
                    return discard;
                }
                match find_insertion(&channel.incoming_unreliable_commands, current, seq, |e| {
                    e.unreliable_sequence_number.cmp(&unrel)
                }) {
                    Ok(i) => i,
                    Err(_) => return discard,
                }
            }
            CommandNumber::SendUnsequenced => 0,
            _ => return discard,
        };
        if self.total_waiting_data >= maximum_waiting_data {
            return QueueResult::Error;
        }
        let entry = match source {
            IncomingSource::Data(data, flags) => IncomingCommand::new(
                key.number,
                seq,
                key.unreliable_sequence_number,
                IncomingData::Complete(Bytes::copy_from_slice(data)),
                flags,
            ),
            IncomingSource::Fragment(fragment, flags) => {
                if fragment.fragment_count > PROTOCOL_MAXIMUM_FRAGMENT_COUNT {
                    return QueueResult::Error;
                }
                let mut entry = IncomingCommand::new_fragmented(
                    key.number,
                    seq,
                    key.unreliable_sequence_number,
                    fragment,
                    flags,
                );
                entry.add_fragment(fragment);
                entry
            }
        };
        self.total_waiting_data = self.total_waiting_data.saturating_add(entry.data.len());
        if reliable {
            channel.incoming_reliable_commands.insert(position, entry);
            self.dispatch_incoming_reliable(channel_id);
        } else {
            channel.incoming_unreliable_commands.insert(position, entry);
            self.dispatch_incoming_unreliable(channel_id, Some(position));
        }
        QueueResult::Queued
    }

    /// Reliable dispatch (7.5): delivers the in-order, complete prefix of the reliable list.
    pub(crate) fn dispatch_incoming_reliable(&mut self, channel_id: u8) {
        let Some(channel) = self.channels.get_mut(usize::from(channel_id)) else {
            return;
        };
        let mut consumed = 0;
        for e in &channel.incoming_reliable_commands {
            if e.fragments_remaining > 0
                || e.reliable_sequence_number
                    != channel.incoming_reliable_sequence_number.wrapping_add(1)
            {
                break;
            }
            channel.incoming_reliable_sequence_number = e.reliable_sequence_number;
            if e.fragment_count > 0 {
                // Skip the fragments' own sequence numbers (u16 arithmetic, as ENet).
                channel.incoming_reliable_sequence_number = channel
                    .incoming_reliable_sequence_number
                    .wrapping_add(e.fragment_count.wrapping_sub(1) as u16);
            }
            consumed += 1;
        }
        if consumed == 0 {
            return;
        }
        channel.incoming_unreliable_sequence_number = 0;
        for _ in 0..consumed {
            let Some(e) = channel.incoming_reliable_commands.pop_front() else {
                break;
            };
            self.dispatched_commands
                .push_back(e.into_delivered(channel_id));
        }
        let unreliable_pending = !channel.incoming_unreliable_commands.is_empty();
        if unreliable_pending {
            self.dispatch_incoming_unreliable(channel_id, None);
        }
    }

    /// Unreliable dispatch (7.6): delivers current-epoch packets and unsequenced ones, drops
    /// superseded ones, keeps future epochs waiting. `queued` is the index of an entry the caller
    /// just inserted, which is never freed here.
    pub(crate) fn dispatch_incoming_unreliable(&mut self, channel_id: u8, queued: Option<usize>) {
        let Some(channel) = self.channels.get_mut(usize::from(channel_id)) else {
            return;
        };
        let current = channel.incoming_reliable_sequence_number;
        let list = &mut channel.incoming_unreliable_commands;
        let len = list.len();
        let mut start = 0usize;
        let mut dropped = 0usize;
        let mut i = 0usize;
        let mark = |list: &mut VecDeque<IncomingCommand>, from: usize, to: usize| {
            for e in list.range_mut(from..to) {
                e.deliver = true;
            }
        };
        while i < len {
            let e = &list[i];
            if e.number == CommandNumber::SendUnsequenced {
                i += 1;
                continue;
            }
            if e.reliable_sequence_number == current {
                if e.fragments_remaining == 0 {
                    channel.incoming_unreliable_sequence_number = e.unreliable_sequence_number;
                    i += 1;
                    continue;
                }
                if start != i {
                    mark(list, start, i);
                    dropped = i;
                } else if dropped != i {
                    dropped = i - 1;
                }
            } else {
                if in_receive_window(e.reliable_sequence_number, current) {
                    break;
                }
                dropped = i + 1;
                if start != i {
                    mark(list, start, i);
                }
            }
            start = i + 1;
            i += 1;
        }
        if start != i {
            mark(list, start, i);
            dropped = i;
        }
        // Entries before `dropped` are delivered if marked and freed otherwise; the caller's
        // freshly queued entry survives.
        let mut kept = None;
        for k in 0..dropped {
            let Some(e) = list.pop_front() else {
                break;
            };
            if e.deliver {
                self.dispatched_commands
                    .push_back(e.into_delivered(channel_id));
            } else if queued == Some(k) {
                kept = Some(e);
            } else {
                self.total_waiting_data = self.total_waiting_data.saturating_sub(e.data.len());
            }
        }
        if let Some(e) = kept {
            list.push_front(e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::peer::PeerState;

    fn peer() -> Peer {
        let mut p = Peer::new(0, 1392);
        p.state = PeerState::Connected;
        p.channels = vec![Channel::default()];
        p
    }

    fn queue(p: &mut Peer, number: CommandNumber, seq: u16, unrel: u16, max: usize) -> QueueResult {
        let byte = [if number == CommandNumber::SendReliable {
            seq as u8
        } else {
            unrel as u8
        }];
        let key = IncomingKey {
            number,
            reliable_sequence_number: seq,
            unreliable_sequence_number: unrel,
        };
        p.queue_incoming(0, key, IncomingSource::Data(&byte, PacketFlags::NONE), max)
    }

    fn rel(p: &mut Peer, seq: u16) -> QueueResult {
        queue(p, CommandNumber::SendReliable, seq, 0, usize::MAX)
    }

    fn unrel(p: &mut Peer, epoch: u16, unrel: u16) -> QueueResult {
        queue(p, CommandNumber::SendUnreliable, epoch, unrel, usize::MAX)
    }

    fn delivered(p: &mut Peer) -> Vec<u8> {
        p.dispatched_commands
            .drain(..)
            .map(|d| d.packet.data[0])
            .collect()
    }

    #[test]
    fn reliable_out_of_order_is_held_and_delivered_in_order() {
        let mut p = peer();
        assert_eq!(rel(&mut p, 2), QueueResult::Queued);
        assert_eq!(rel(&mut p, 3), QueueResult::Queued);
        assert_eq!(rel(&mut p, 3), QueueResult::Discarded);
        assert!(p.dispatched_commands.is_empty());
        assert_eq!(rel(&mut p, 1), QueueResult::Queued);
        assert_eq!(delivered(&mut p), vec![1, 2, 3]);
        assert_eq!(rel(&mut p, 3), QueueResult::Discarded);
        assert_eq!(rel(&mut p, 2), QueueResult::Discarded);
    }

    #[test]
    fn reliable_order_survives_sequence_wrap() {
        let mut p = peer();
        p.channels[0].incoming_reliable_sequence_number = 65_534;
        for s in [1u16, 0, 65_535] {
            assert_eq!(rel(&mut p, s), QueueResult::Queued);
        }
        let order: Vec<u16> = p
            .dispatched_commands
            .iter()
            .map(|d| d.packet.data[0] as u16)
            .collect();
        assert_eq!(order, vec![255, 0, 1]);
    }

    #[test]
    fn unreliable_older_is_dropped() {
        let mut p = peer();
        assert_eq!(unrel(&mut p, 0, 2), QueueResult::Queued);
        assert_eq!(delivered(&mut p), vec![2]);
        assert_eq!(unrel(&mut p, 0, 1), QueueResult::Discarded);
        assert_eq!(unrel(&mut p, 0, 3), QueueResult::Queued);
        assert_eq!(delivered(&mut p), vec![3]);
    }

    #[test]
    fn unreliable_of_a_future_epoch_waits_for_the_reliable_packet() {
        let mut p = peer();
        assert_eq!(unrel(&mut p, 1, 1), QueueResult::Queued);
        assert!(p.dispatched_commands.is_empty());
        assert_eq!(rel(&mut p, 1), QueueResult::Queued);
        assert_eq!(delivered(&mut p), vec![1, 1]);
        assert_eq!(p.total_waiting_data, 2);
    }

    #[test]
    fn waiting_data_limit_is_an_error() {
        let mut p = peer();
        assert_eq!(
            queue(&mut p, CommandNumber::SendReliable, 2, 0, 1),
            QueueResult::Queued
        );
        assert_eq!(
            queue(&mut p, CommandNumber::SendReliable, 3, 0, 1),
            QueueResult::Error
        );
    }
}
