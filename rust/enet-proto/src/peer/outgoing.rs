//! Outgoing commands: queuing with sequence numbers (6.1), acknowledgement removal (8.4) and
//! retransmission timeouts (8.5, 8.6).

use bytes::Bytes;

use super::{
    PEER_RELIABLE_WINDOW_SIZE, PEER_TIMEOUT_LIMIT, PEER_TIMEOUT_MAXIMUM, PEER_TIMEOUT_MINIMUM, Peer,
};
use crate::time::EnetTime;
use crate::wire::{
    COMMAND_FLAG_ACKNOWLEDGE, COMMAND_FLAG_UNSEQUENCED, COMMAND_MASK, CONTROL_CHANNEL, Command,
    CommandHeader, CommandNumber, Fragment, command_size,
};

/// The body of a queued command. Sequence numbers live in [`OutgoingCommand`]; payloads are the
/// command's `Bytes` slice.
#[derive(Debug, Clone, Copy)]
pub(crate) enum OutgoingBody {
    /// A connection-control command, complete as it goes on the wire (CONNECT, VERIFY_CONNECT,
    /// DISCONNECT, PING, BANDWIDTH_LIMIT, THROTTLE_CONFIGURE): never one with a payload.
    Control(Command<'static>),
    SendReliable,
    SendUnreliable,
    SendUnsequenced,
    SendFragment(FragmentFields),
    SendUnreliableFragment(FragmentFields),
}

/// The fields of SEND_FRAGMENT and SEND_UNRELIABLE_FRAGMENT that stay the same for every
/// fragment of a packet except `fragment_number` (the offset and the payload live in
/// [`OutgoingCommand`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct FragmentFields {
    pub(crate) start_sequence_number: u16,
    pub(crate) fragment_count: u32,
    pub(crate) fragment_number: u32,
    pub(crate) total_length: u32,
}

impl OutgoingBody {
    /// The command this body belongs to.
    pub(crate) const fn number(&self) -> CommandNumber {
        match self {
            OutgoingBody::Control(command) => command.number(),
            OutgoingBody::SendReliable => CommandNumber::SendReliable,
            OutgoingBody::SendUnreliable => CommandNumber::SendUnreliable,
            OutgoingBody::SendUnsequenced => CommandNumber::SendUnsequenced,
            OutgoingBody::SendFragment(_) => CommandNumber::SendFragment,
            OutgoingBody::SendUnreliableFragment(_) => CommandNumber::SendUnreliableFragment,
        }
    }
}

/// A command queued for sending or sent and awaiting acknowledgement (6.1).
#[derive(Debug, Clone)]
pub(crate) struct OutgoingCommand {
    /// Full command byte (number plus ACKNOWLEDGE/UNSEQUENCED flags).
    pub(crate) command: u8,
    pub(crate) channel_id: u8,
    pub(crate) reliable_sequence_number: u16,
    /// Unreliable sequence number, or the unsequenced group for SEND_UNSEQUENCED.
    pub(crate) unreliable_sequence_number: u16,
    pub(crate) body: OutgoingBody,
    /// The payload slice this command carries; `Some` for the five data commands, even if empty.
    pub(crate) payload: Option<Bytes>,
    pub(crate) fragment_offset: u32,
    pub(crate) send_attempts: u32,
    pub(crate) sent_time: EnetTime,
    pub(crate) round_trip_timeout: u32,
    pub(crate) queue_time: u32,
}

impl OutgoingCommand {
    /// A command on `channel_id` whose command byte is `body`'s number with `flags`
    /// (`COMMAND_FLAG_ACKNOWLEDGE`, `COMMAND_FLAG_UNSEQUENCED` or 0), so the two cannot disagree.
    pub(crate) fn new(flags: u8, channel_id: u8, body: OutgoingBody) -> Self {
        OutgoingCommand {
            command: flags | body.number() as u8,
            channel_id,
            reliable_sequence_number: 0,
            unreliable_sequence_number: 0,
            body,
            payload: None,
            fragment_offset: 0,
            send_attempts: 0,
            sent_time: EnetTime(0),
            round_trip_timeout: 0,
            queue_time: 0,
        }
    }

    /// A connection-control command (CONNECT, PING, DISCONNECT, ...) on `CONTROL_CHANNEL`.
    pub(crate) fn control(flags: u8, command: Command<'static>) -> Self {
        Self::new(flags, CONTROL_CHANNEL, OutgoingBody::Control(command))
    }

    pub(crate) fn with_payload(mut self, payload: Bytes, fragment_offset: u32) -> Self {
        self.payload = Some(payload);
        self.fragment_offset = fragment_offset;
        self
    }

    /// Carries `COMMAND_FLAG_ACKNOWLEDGE`.
    pub(crate) fn is_reliable(&self) -> bool {
        self.command & COMMAND_FLAG_ACKNOWLEDGE != 0
    }

    pub(crate) fn number(&self) -> u8 {
        self.command & COMMAND_MASK
    }

    /// Payload bytes (`fragmentLength`).
    pub(crate) fn fragment_length(&self) -> u32 {
        self.payload.as_ref().map_or(0, |p| p.len() as u32)
    }

    /// Fixed wire size of the command (header included, payload excluded).
    pub(crate) fn size(&self) -> usize {
        command_size(self.number()).unwrap_or(0)
    }

    /// The wire header and body, borrowing the payload.
    pub(crate) fn to_wire(&self) -> (CommandHeader, Command<'_>) {
        let header = CommandHeader {
            command: self.command,
            channel_id: self.channel_id,
            reliable_sequence_number: self.reliable_sequence_number,
        };
        let data: &[u8] = self.payload.as_deref().unwrap_or(&[]);
        let fragment = |f: FragmentFields| Fragment {
            start_sequence_number: f.start_sequence_number,
            fragment_count: f.fragment_count,
            fragment_number: f.fragment_number,
            total_length: f.total_length,
            fragment_offset: self.fragment_offset,
            data,
        };
        let command = match self.body {
            OutgoingBody::Control(command) => command,
            OutgoingBody::SendReliable => Command::SendReliable { data },
            OutgoingBody::SendUnreliable => Command::SendUnreliable {
                unreliable_sequence_number: self.unreliable_sequence_number,
                data,
            },
            OutgoingBody::SendUnsequenced => Command::SendUnsequenced {
                unsequenced_group: self.unreliable_sequence_number,
                data,
            },
            OutgoingBody::SendFragment(f) => Command::SendFragment(fragment(f)),
            OutgoingBody::SendUnreliableFragment(f) => Command::SendUnreliableFragment(fragment(f)),
        };
        (header, command)
    }
}

struct_with_defaults! {
    /// Retransmission timeouts (8.5, 8.6): when the oldest command in flight times out, and the
    /// limits after which a peer that stopped acknowledging is given up.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(crate) struct Timeouts {
        /// Backoff (a power of two of the attempts) from which `minimum` ends the connection.
        pub(crate) limit: u32 = PEER_TIMEOUT_LIMIT,
        /// Ms without an acknowledgement after which `limit` attempts end the connection.
        pub(crate) minimum: u32 = PEER_TIMEOUT_MINIMUM,
        /// Ms without an acknowledgement after which the connection ends anyway.
        pub(crate) maximum: u32 = PEER_TIMEOUT_MAXIMUM,
        /// Deadline of the front of the sent-reliable queue (`nextTimeout`).
        pub(crate) next: EnetTime = EnetTime(0),
        /// Sent time of the oldest command that timed out unacknowledged (0: none).
        pub(crate) earliest: EnetTime = EnetTime(0),
    }
}

/// Outcome of a retransmission-timeout check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TimeoutCheck {
    /// Nothing to do or commands were requeued for retransmission.
    Alive { requeued: bool },
    /// The timeout limits were reached: the peer must be disconnected.
    TimedOut,
}

impl Peer {
    /// Assigns sequence numbers and queues `cmd` (6.1). `total_queued` is the host-wide queue
    /// counter that orders the two outgoing queues.
    pub(crate) fn queue_outgoing_command(
        &mut self,
        mut cmd: OutgoingCommand,
        total_queued: &mut u32,
    ) {
        let added = (cmd.size() as u32).wrapping_add(cmd.fragment_length());
        self.bandwidth.outgoing_data_total = self.bandwidth.outgoing_data_total.wrapping_add(added);
        self.traffic.total_outgoing_data = self
            .traffic
            .total_outgoing_data
            .wrapping_add(u64::from(added));
        if cmd.channel_id == CONTROL_CHANNEL {
            self.outgoing_reliable_sequence_number =
                self.outgoing_reliable_sequence_number.wrapping_add(1);
            cmd.reliable_sequence_number = self.outgoing_reliable_sequence_number;
            cmd.unreliable_sequence_number = 0;
        } else if let Some(channel) = self.channels.get_mut(usize::from(cmd.channel_id)) {
            if cmd.command & COMMAND_FLAG_ACKNOWLEDGE != 0 {
                channel.outgoing_reliable_sequence_number =
                    channel.outgoing_reliable_sequence_number.wrapping_add(1);
                channel.outgoing_unreliable_sequence_number = 0;
                cmd.reliable_sequence_number = channel.outgoing_reliable_sequence_number;
                cmd.unreliable_sequence_number = 0;
            } else if cmd.command & COMMAND_FLAG_UNSEQUENCED != 0 {
                self.unsequenced.outgoing_group = self.unsequenced.outgoing_group.wrapping_add(1);
                cmd.reliable_sequence_number = 0;
                cmd.unreliable_sequence_number = self.unsequenced.outgoing_group;
            } else {
                if cmd.fragment_offset == 0 {
                    channel.outgoing_unreliable_sequence_number =
                        channel.outgoing_unreliable_sequence_number.wrapping_add(1);
                }
                cmd.reliable_sequence_number = channel.outgoing_reliable_sequence_number;
                cmd.unreliable_sequence_number = channel.outgoing_unreliable_sequence_number;
            }
        }
        cmd.send_attempts = 0;
        cmd.sent_time = EnetTime(0);
        cmd.round_trip_timeout = 0;
        *total_queued = total_queued.wrapping_add(1);
        cmd.queue_time = *total_queued;
        if cmd.is_reliable() && cmd.payload.is_some() {
            self.outgoing_send_reliable_commands.push_back(cmd);
        } else {
            self.outgoing_commands.push_back(cmd);
        }
    }

    /// Removes the command an ACKNOWLEDGE names (8.4) and returns its command number.
    pub(crate) fn remove_sent_reliable_command(
        &mut self,
        reliable_sequence_number: u16,
        channel_id: u8,
    ) -> Option<u8> {
        let matches = |c: &OutgoingCommand| {
            c.reliable_sequence_number == reliable_sequence_number && c.channel_id == channel_id
        };
        let mut was_sent = true;
        let removed = if let Some(pos) = self.sent_reliable_commands.iter().position(matches) {
            self.sent_reliable_commands.remove(pos)
        } else {
            was_sent = false;
            let search = |queue: &std::collections::VecDeque<OutgoingCommand>| {
                for (i, c) in queue.iter().enumerate() {
                    if !c.is_reliable() {
                        continue;
                    }
                    if c.send_attempts < 1 {
                        return None;
                    }
                    if matches(c) {
                        return Some(i);
                    }
                }
                None
            };
            if let Some(pos) = search(&self.outgoing_commands) {
                self.outgoing_commands.remove(pos)
            } else if let Some(pos) = search(&self.outgoing_send_reliable_commands) {
                self.outgoing_send_reliable_commands.remove(pos)
            } else {
                None
            }
        };
        let cmd = removed?;
        if let Some(channel) = self.channels.get_mut(usize::from(channel_id)) {
            let w = usize::from(reliable_sequence_number / PEER_RELIABLE_WINDOW_SIZE);
            if channel.reliable_windows[w] > 0 {
                channel.reliable_windows[w] -= 1;
                if channel.reliable_windows[w] == 0 {
                    channel.used_reliable_windows &= !(1u16 << w);
                }
            }
        }
        if cmd.payload.is_some() && was_sent {
            self.reliable_data_in_transit = self
                .reliable_data_in_transit
                .wrapping_sub(cmd.fragment_length());
        }
        if let Some(front) = self.sent_reliable_commands.front() {
            self.timeouts.next = front.sent_time.add_millis(front.round_trip_timeout);
        }
        Some(cmd.number())
    }

    /// Retransmission-timeout check (8.5): requeues timed-out reliable commands at the queue
    /// fronts with a doubled timeout, or reports that the peer timed out (8.6).
    pub(crate) fn check_timeouts(&mut self, now: EnetTime) -> TimeoutCheck {
        let mut requeued = false;
        // Timed-out commands go in front of what was queued when the check began, keeping their
        // relative order: count how many went to each queue and rotate them to the front after.
        let mut moved = (0usize, 0usize);
        let mut i = 0;
        while i < self.sent_reliable_commands.len() {
            let cmd = &self.sent_reliable_commands[i];
            if now.distance(cmd.sent_time) < cmd.round_trip_timeout {
                i += 1;
                continue;
            }
            if self.timeouts.earliest == EnetTime(0)
                || cmd.sent_time.is_before(self.timeouts.earliest)
            {
                self.timeouts.earliest = cmd.sent_time;
            }
            if self.timeouts.earliest != EnetTime(0) {
                let waited = now.distance(self.timeouts.earliest);
                // 2^(sendAttempts-1), saturating instead of C's undefined shift.
                let backoff = 1u64
                    .checked_shl(cmd.send_attempts.saturating_sub(1))
                    .unwrap_or(u64::MAX);
                if waited >= self.timeouts.maximum
                    || (backoff >= u64::from(self.timeouts.limit)
                        && waited >= self.timeouts.minimum)
                {
                    self.rotate_requeued(moved);
                    return TimeoutCheck::TimedOut;
                }
            }
            let Some(mut cmd) = self.sent_reliable_commands.remove(i) else {
                break;
            };
            self.loss.packets_lost = self.loss.packets_lost.wrapping_add(1);
            self.traffic.resends += 1;
            cmd.round_trip_timeout = cmd.round_trip_timeout.wrapping_mul(2);
            requeued = true;
            self.requeue(cmd, &mut moved);
            if i == 0 {
                if let Some(front) = self.sent_reliable_commands.front() {
                    self.timeouts.next = front.sent_time.add_millis(front.round_trip_timeout);
                }
            }
        }
        self.rotate_requeued(moved);
        TimeoutCheck::Alive { requeued }
    }

    /// Puts every command in flight back in front of the outgoing queues, in order, to be sent
    /// again with the next datagram: not a loss, so neither the timeout, the loss count nor the
    /// attempt count (which decides when ENet gives up) changes. For a CONNECT moving on to
    /// another address of the remote host, and a half-open peer's VERIFY_CONNECT sent again.
    pub(crate) fn resend_in_flight_now(&mut self) -> bool {
        let mut moved = (0usize, 0usize);
        while let Some(mut cmd) = self.sent_reliable_commands.pop_front() {
            cmd.send_attempts = cmd.send_attempts.saturating_sub(1);
            self.requeue(cmd, &mut moved);
        }
        self.rotate_requeued(moved);
        moved != (0, 0)
    }

    /// Appends a command taken out of flight to its outgoing queue, counting it in `moved`
    /// (plain, reliable) for [`rotate_requeued`](Self::rotate_requeued).
    fn requeue(&mut self, cmd: OutgoingCommand, moved: &mut (usize, usize)) {
        if cmd.payload.is_some() {
            self.reliable_data_in_transit = self
                .reliable_data_in_transit
                .wrapping_sub(cmd.fragment_length());
            self.outgoing_send_reliable_commands.push_back(cmd);
            moved.1 += 1;
        } else {
            self.outgoing_commands.push_back(cmd);
            moved.0 += 1;
        }
    }

    /// Moves the last `plain`/`reliable` entries of the two outgoing queues to their fronts.
    fn rotate_requeued(&mut self, (plain, reliable): (usize, usize)) {
        if plain > 0 {
            self.outgoing_commands.rotate_right(plain);
        }
        if reliable > 0 {
            self.outgoing_send_reliable_commands.rotate_right(reliable);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::peer::Channel;

    fn connected_peer() -> Peer {
        let mut p = Peer::new(0, 1392);
        p.channels = vec![Channel::default(), Channel::default()];
        p
    }

    fn reliable(channel: u8) -> OutgoingCommand {
        OutgoingCommand::new(
            COMMAND_FLAG_ACKNOWLEDGE,
            channel,
            OutgoingBody::SendReliable,
        )
        .with_payload(Bytes::from_static(b"x"), 0)
    }

    #[test]
    fn reliable_send_starts_a_new_unreliable_epoch() {
        let mut p = connected_peer();
        let mut q = 0;
        let unrel = || {
            OutgoingCommand::new(0, 0, OutgoingBody::SendUnreliable)
                .with_payload(Bytes::from_static(b"u"), 0)
        };
        p.queue_outgoing_command(unrel(), &mut q);
        p.queue_outgoing_command(unrel(), &mut q);
        p.queue_outgoing_command(reliable(0), &mut q);
        p.queue_outgoing_command(unrel(), &mut q);
        let seqs: Vec<(u16, u16)> = p
            .outgoing_commands
            .iter()
            .map(|c| (c.reliable_sequence_number, c.unreliable_sequence_number))
            .collect();
        assert_eq!(seqs, vec![(0, 1), (0, 2), (1, 1)]);
        assert_eq!(
            p.outgoing_send_reliable_commands[0].reliable_sequence_number,
            1
        );
        assert_eq!(q, 4);
    }

    #[test]
    fn timed_out_commands_return_to_the_front_in_order_with_doubled_timeout() {
        let mut p = connected_peer();
        let mut q = 0;
        for _ in 0..3 {
            p.queue_outgoing_command(reliable(0), &mut q);
        }
        // Pretend the first two were sent at t=1000 with RTO 500, the third is still queued.
        for _ in 0..2 {
            let mut c = p.outgoing_send_reliable_commands.pop_front().unwrap();
            c.send_attempts = 1;
            c.sent_time = EnetTime(1000);
            c.round_trip_timeout = 500;
            p.sent_reliable_commands.push_back(c);
        }
        assert_eq!(
            p.check_timeouts(EnetTime(1499)),
            TimeoutCheck::Alive { requeued: false }
        );
        assert_eq!(
            p.check_timeouts(EnetTime(1500)),
            TimeoutCheck::Alive { requeued: true }
        );
        let seqs: Vec<u16> = p
            .outgoing_send_reliable_commands
            .iter()
            .map(|c| c.reliable_sequence_number)
            .collect();
        assert_eq!(seqs, vec![1, 2, 3]);
        assert_eq!(
            p.outgoing_send_reliable_commands[0].round_trip_timeout,
            1000
        );
        assert_eq!(p.loss.packets_lost, 2);
        assert_eq!(p.timeouts.earliest, EnetTime(1000));
    }

    #[test]
    fn huge_send_attempts_do_not_overflow_the_backoff_shift() {
        let mut p = connected_peer();
        let mut q = 0;
        p.queue_outgoing_command(reliable(0), &mut q);
        let mut c = p.outgoing_send_reliable_commands.pop_front().unwrap();
        c.send_attempts = 200;
        c.sent_time = EnetTime(1000);
        c.round_trip_timeout = 10;
        p.sent_reliable_commands.push_back(c);
        p.timeouts.minimum = 0;
        assert_eq!(p.check_timeouts(EnetTime(2000)), TimeoutCheck::TimedOut);
    }
}
