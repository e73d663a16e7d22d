//! The send pass (protocol description 6.4-6.6): packing acknowledgements and queued commands of
//! one peer into a datagram, then header, compression and checksum.

use super::{Host, Transmit};
use crate::compress::{Compressor, crc32};
use crate::event::DisconnectReason;
use crate::peer::{
    OutgoingCommand, PEER_PACKET_THROTTLE_COUNTER, PEER_PACKET_THROTTLE_SCALE,
    PEER_RELIABLE_WINDOW_SIZE, PEER_RELIABLE_WINDOWS, Peer, PeerState,
};
use crate::time::EnetTime;
use crate::wire::{
    COMMAND_FLAG_ACKNOWLEDGE, Command, CommandHeader, CommandNumber, DatagramHeader,
    PROTOCOL_MAXIMUM_MTU, PROTOCOL_MAXIMUM_PACKET_COMMANDS, PROTOCOL_MAXIMUM_PEER_ID,
};

/// `BUFFER_MAXIMUM`: ENet's scatter/gather entries per datagram (1 + 2 * 32).
const BUFFER_MAXIMUM: usize = 1 + 2 * PROTOCOL_MAXIMUM_PACKET_COMMANDS;

/// The command area being assembled, with ENet's budgets.
struct Writer<'a> {
    buf: &'a mut [u8],
    len: usize,
    commands: usize,
    buffers: usize,
    /// Bytes budgeted so far, starting with the full 4-byte header.
    packet_size: usize,
    mtu: usize,
    sent_time: bool,
}

impl Writer<'_> {
    fn room(&self) -> usize {
        self.mtu.saturating_sub(self.packet_size)
    }

    /// Appends one command; `has_packet` makes it take a second scatter/gather entry, as in ENet.
    fn emit(&mut self, header: &CommandHeader, command: &Command<'_>, has_packet: bool) -> bool {
        let Some(out) = self.buf.get_mut(self.len..) else {
            return false;
        };
        match command.emit(header, out) {
            Some(n) => {
                self.len += n;
                self.commands += 1;
                self.buffers += if has_packet { 2 } else { 1 };
                true
            }
            None => false,
        }
    }
}

/// `windows_mask(w, 10)` of 6.6: windows w..w+9 modulo 16.
fn windows_mask(w: u16) -> u16 {
    let w = u32::from(w);
    let free = u32::from(crate::peer::PEER_FREE_RELIABLE_WINDOWS) + 2;
    let bits = (1u32 << free) - 1;
    (((bits << w) | (bits >> (u32::from(PEER_RELIABLE_WINDOWS) - w))) & 0xFFFF) as u16
}

/// What the send pass must do after the peer borrow ends.
#[derive(Default)]
struct AfterBuild {
    zombie: bool,
    disconnect_later: bool,
}

impl Host {
    /// The next datagram to send, written to the start of `buf` (at least 4100 bytes; see
    /// [`MINIMUM_TRANSMIT_BUFFER`](super::MINIMUM_TRANSMIT_BUFFER)). Call until `None` after
    /// every input.
    pub fn poll_transmit(&mut self, now: EnetTime, buf: &mut [u8]) -> Option<Transmit> {
        self.advance_clock(now);
        while let Some((destination, bytes)) = self.raw_transmits.pop_front() {
            let Some(out) = buf.get_mut(..bytes.len()) else {
                continue; // caller buffer below the documented minimum: drop, never panic
            };
            out.copy_from_slice(&bytes);
            // Counted in the statistics when it was built.
            return Some(Transmit {
                destination,
                len: bytes.len(),
            });
        }
        while let Some(slot) = self.send_queue.pop_front() {
            let idx = usize::from(slot);
            self.peers[idx].in_send_queue = false;
            let built = self.build_datagram(idx, now, buf, true);
            if let Some(len) = built {
                let destination = self.peers[idx].address;
                if self.peers[idx].continue_sending {
                    self.mark_send(idx);
                }
                self.schedule(idx);
                return Some(Transmit { destination, len });
            }
            self.schedule(idx);
        }
        None
    }

    /// Whether datagrams wait for [`poll_transmit`](Self::poll_transmit): a peer has commands
    /// queued or due, or a datagram was built ahead (a DISCONNECT before a reset).
    pub fn has_transmit(&self) -> bool {
        !self.raw_transmits.is_empty() || !self.send_queue.is_empty()
    }

    /// Builds one datagram into a fresh buffer right away and queues it for `poll_transmit`
    /// (ENet's `flush`, used for unreliable DISCONNECTs before a slot is reset).
    pub(crate) fn flush_peer(&mut self, idx: usize) {
        let mut out = vec![0; PROTOCOL_MAXIMUM_MTU as usize + 4];
        let now = self.service_time;
        if let Some(len) = self.build_datagram(idx, now, &mut out, false) {
            out.truncate(len);
            self.raw_transmits.push_back((self.peers[idx].address, out));
        }
    }

    /// One step of the send pass for one peer (6.4): returns the datagram length in `out`.
    /// A flush (`normal_pass` false) adds no PING and leaves DISCONNECT_LATER alone: the caller
    /// is about to reset the slot.
    fn build_datagram(
        &mut self,
        idx: usize,
        now: EnetTime,
        out: &mut [u8],
        normal_pass: bool,
    ) -> Option<usize> {
        let checksum_len = if self.checksum { 4 } else { 0 };
        let Host {
            peers,
            send_scratch,
            total_queued,
            compressor,
            stats,
            ..
        } = self;
        let peer = &mut peers[idx];
        if matches!(peer.state, PeerState::Disconnected | PeerState::Zombie) {
            return None;
        }
        peer.continue_sending = false;
        let mtu = (peer.mtu as usize)
            .min(out.len().saturating_sub(checksum_len))
            .min(send_scratch.len() + 4);
        let mut w = Writer {
            buf: send_scratch,
            len: 0,
            commands: 0,
            buffers: 1,
            packet_size: DatagramHeader::MAX_LEN,
            mtu,
            sent_time: false,
        };
        let mut after = AfterBuild::default();
        write_acknowledgements(peer, &mut w, &mut after);
        let can_ping = if peer.outgoing_commands.is_empty()
            && peer.outgoing_send_reliable_commands.is_empty()
        {
            true
        } else {
            write_commands(peer, &mut w, now, &mut after)
        };
        if normal_pass
            && can_ping
            && peer.state == PeerState::Connected
            && peer.sent_reliable_commands.is_empty()
            && now.distance(peer.last_receive_time) >= peer.ping_interval
            && w.room() >= 4
        {
            peer.queue_outgoing_command(
                OutgoingCommand::control(COMMAND_FLAG_ACKNOWLEDGE, Command::Ping),
                total_queued,
            );
            write_commands(peer, &mut w, now, &mut after);
        }
        let result = if w.commands == 0 {
            None
        } else {
            peer.loss.update(now);
            let area_len = w.len;
            let area = &w.buf[..area_len];
            let header_sent_time = w.sent_time.then_some(now.low16());
            let header_len = if w.sent_time {
                DatagramHeader::MAX_LEN
            } else {
                DatagramHeader::MIN_LEN
            };
            let area_offset = header_len + checksum_len;
            let mut body_len = area_len;
            let mut compressed = false;
            if let Some(c) = compressor.as_mut() {
                if let Some(dst) = out.get_mut(area_offset..area_offset + area_len) {
                    if let Some(n) = compress_into(c.as_mut(), area, dst) {
                        compressed = true;
                        body_len = n;
                    }
                }
            }
            let known = peer.outgoing_peer_id < PROTOCOL_MAXIMUM_PEER_ID;
            let header = DatagramHeader {
                peer_id: peer.outgoing_peer_id,
                session_id: if known {
                    peer.outgoing_session_id & 3
                } else {
                    0
                },
                compressed,
                sent_time: header_sent_time,
            };
            header.emit(out)?;
            if !compressed {
                out.get_mut(area_offset..area_offset + area_len)?
                    .copy_from_slice(area);
            }
            if checksum_len > 0 {
                let seed = if known { peer.connect_id } else { [0; 4] };
                let crc = crc32(&[&out[..header_len], &seed, area]);
                out.get_mut(header_len..header_len + 4)?
                    .copy_from_slice(&crc.to_be_bytes());
            }
            peer.last_send_time = now;
            let total = area_offset + body_len;
            peer.traffic.datagrams_sent += 1;
            peer.traffic.wire_bytes_sent += total as u64;
            stats.total_sent_data += total as u64;
            stats.total_sent_packets += 1;
            Some(total)
        };
        if peer.state == PeerState::DisconnectLater && peer.has_no_outgoing() {
            after.disconnect_later = true;
        }
        if after.zombie {
            self.zombify(idx, DisconnectReason::Remote);
        } else if after.disconnect_later && normal_pass {
            let data = self.peers[idx].event_data;
            self.disconnect(crate::peer::PeerId(idx as u16), data);
        }
        result
    }
}

/// Compresses `area` into `dst` and keeps the result only if it is smaller (12.1).
fn compress_into(c: &mut dyn Compressor, area: &[u8], dst: &mut [u8]) -> Option<usize> {
    match c.compress(&[area], dst) {
        Some(n) if n > 0 && n < area.len() => Some(n),
        _ => None,
    }
}

/// Writes pending acknowledgements first, in queue order (6.5).
fn write_acknowledgements(peer: &mut Peer, w: &mut Writer<'_>, after: &mut AfterBuild) {
    while let Some(ack) = peer.acknowledgements.front().copied() {
        if w.commands >= PROTOCOL_MAXIMUM_PACKET_COMMANDS
            || w.buffers >= BUFFER_MAXIMUM
            || w.room() < 8
        {
            peer.continue_sending = true;
            return;
        }
        let header = CommandHeader {
            command: CommandNumber::Acknowledge as u8,
            channel_id: ack.channel_id,
            reliable_sequence_number: ack.reliable_sequence_number,
        };
        let command = Command::Acknowledge {
            received_reliable_sequence_number: ack.reliable_sequence_number,
            received_sent_time: ack.sent_time,
        };
        if !w.emit(&header, &command, false) {
            peer.continue_sending = true;
            return;
        }
        w.packet_size += 8;
        if ack.command_number == CommandNumber::Disconnect as u8 {
            after.zombie = true;
        }
        peer.acknowledgements.pop_front();
    }
}

/// Writes queued commands merged by queue order, applying the reliable window, flow control and
/// the unreliable throttle (6.6). Returns whether a ping may be added.
fn write_commands(
    peer: &mut Peer,
    w: &mut Writer<'_>,
    now: EnetTime,
    after: &mut AfterBuild,
) -> bool {
    let mut can_ping = true;
    let mut window_wrap = false;
    let mut reliable_open = true;
    loop {
        let a = peer.outgoing_commands.front();
        let b = if reliable_open {
            peer.outgoing_send_reliable_commands.front()
        } else {
            None
        };
        let from_b = match (a, b) {
            (Some(a), Some(b)) => EnetTime(b.queue_time).is_before(EnetTime(a.queue_time)),
            (Some(_), None) => false,
            (None, Some(_)) => true,
            (None, None) => break,
        };
        let cmd = if from_b { b } else { a };
        let Some(cmd) = cmd else {
            break;
        };
        let reliable = cmd.is_reliable();
        let window = cmd.reliable_sequence_number / PEER_RELIABLE_WINDOW_SIZE;
        let mut data_channel = None;
        if reliable {
            let ch = usize::from(cmd.channel_id);
            if let Some(channel) = peer.channels.get(ch) {
                if window_wrap
                    || (cmd.send_attempts == 0
                        && cmd.reliable_sequence_number % PEER_RELIABLE_WINDOW_SIZE == 0
                        && (channel.reliable_windows[usize::from(
                            (window + PEER_RELIABLE_WINDOWS - 1) % PEER_RELIABLE_WINDOWS,
                        )] >= PEER_RELIABLE_WINDOW_SIZE
                            || channel.used_reliable_windows & windows_mask(window) != 0))
                {
                    // The receiver's window is not ready: no more reliable channel data now.
                    window_wrap = true;
                    if from_b {
                        reliable_open = false;
                        continue;
                    }
                    break;
                }
                data_channel = Some(ch);
            }
            if cmd.payload.is_some() {
                let allowance =
                    peer.throttle.value.wrapping_mul(peer.window_size) / PEER_PACKET_THROTTLE_SCALE;
                if peer
                    .reliable_data_in_transit
                    .wrapping_add(cmd.fragment_length())
                    > allowance.max(peer.mtu)
                {
                    // Flow control: the reliable window is full.
                    if from_b {
                        reliable_open = false;
                        continue;
                    }
                    break;
                }
            }
            can_ping = false;
        }
        let size = cmd.size();
        let fragment_length = cmd.fragment_length() as usize;
        let room = w.room();
        if w.commands >= PROTOCOL_MAXIMUM_PACKET_COMMANDS
            || w.buffers + 1 >= BUFFER_MAXIMUM
            || room < size
            || (cmd.payload.is_some() && (room as u16) < ((size + fragment_length) as u16))
        {
            peer.continue_sending = true;
            break;
        }
        if !reliable && cmd.payload.is_some() && cmd.fragment_offset == 0 {
            peer.throttle.counter =
                (peer.throttle.counter + PEER_PACKET_THROTTLE_COUNTER) % PEER_PACKET_THROTTLE_SCALE;
            if peer.throttle.counter > peer.throttle.value {
                // Throttled: drop this packet and the rest of its fragments (6.6; like ENet, the
                // match is on the (reliable, unreliable) pair only).
                let key = (cmd.reliable_sequence_number, cmd.unreliable_sequence_number);
                peer.outgoing_commands.pop_front();
                while peer.outgoing_commands.front().is_some_and(|c| {
                    (c.reliable_sequence_number, c.unreliable_sequence_number) == key
                }) {
                    peer.outgoing_commands.pop_front();
                }
                continue;
            }
        }
        let (header, command) = cmd.to_wire();
        if !w.emit(&header, &command, cmd.payload.is_some()) {
            peer.continue_sending = true;
            break;
        }
        let queue = if from_b {
            &mut peer.outgoing_send_reliable_commands
        } else {
            &mut peer.outgoing_commands
        };
        let Some(mut cmd) = queue.pop_front() else {
            break;
        };
        if reliable {
            if let Some(channel) = data_channel.and_then(|ch| peer.channels.get_mut(ch)) {
                if cmd.send_attempts == 0 {
                    channel.used_reliable_windows |= 1 << window;
                    channel.reliable_windows[usize::from(window)] =
                        channel.reliable_windows[usize::from(window)].wrapping_add(1);
                }
            }
            cmd.send_attempts = cmd.send_attempts.saturating_add(1);
            if cmd.round_trip_timeout == 0 {
                cmd.round_trip_timeout = peer
                    .rtt
                    .smoothed
                    .wrapping_add(peer.rtt.variance.wrapping_mul(4));
            }
            if peer.sent_reliable_commands.is_empty() {
                peer.timeouts.next = now.add_millis(cmd.round_trip_timeout);
            }
            cmd.sent_time = now;
            w.sent_time = true;
            peer.reliable_data_in_transit = peer
                .reliable_data_in_transit
                .wrapping_add(cmd.fragment_length());
            peer.sent_reliable_commands.push_back(cmd);
        }
        w.packet_size += size + fragment_length;
        peer.loss.packets_sent = peer.loss.packets_sent.wrapping_add(1);
    }
    if peer.state == PeerState::DisconnectLater && peer.has_no_outgoing() {
        after.disconnect_later = true;
    }
    can_ping
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::HostConfig;
    use crate::packet::Packet;
    use crate::peer::{Channel, PeerId};

    /// A host whose slot 0 is CONNECTED to nobody in particular, without a handshake.
    fn connected_host() -> (Host, PeerId) {
        let mut host = Host::new(HostConfig::default()).unwrap();
        let now = EnetTime(10_000);
        let id = host
            .connect(now, "10.0.0.9:9".parse().unwrap(), 1, 0)
            .unwrap();
        let idx = id.index();
        host.peers[idx].reset_queues();
        host.peers[idx].outgoing_peer_id = 0;
        host.peers[idx].channels = vec![Channel::default()];
        host.set_state(idx, PeerState::Connected);
        // Recently heard from: no ping in these datagrams.
        host.peers[idx].last_receive_time = now;
        (host, id)
    }

    #[test]
    fn throttle_drops_31_minus_t_of_every_32_unreliable_packets() {
        let (mut host, id) = connected_host();
        host.peers[id.index()].throttle.value = 16;
        for i in 0..32u8 {
            host.send(id, 0, Packet::unreliable(vec![i; 10])).unwrap();
        }
        let mut buf = vec![0; 4100];
        let mut sent = 0;
        while let Some(t) = host.poll_transmit(EnetTime(10_001), &mut buf) {
            // 2-byte header, then 8-byte SEND_UNRELIABLE + 10 bytes each.
            sent += (t.len - 2) / 18;
        }
        assert_eq!(sent, 17);
    }

    #[test]
    fn datagrams_hold_at_most_32_commands_and_one_mtu() {
        let (mut host, id) = connected_host();
        for i in 0..100u8 {
            host.send(id, 0, Packet::unreliable(vec![i; 1])).unwrap();
        }
        for _ in 0..3 {
            host.send(id, 0, Packet::reliable(vec![7; 1000])).unwrap();
        }
        let mut buf = vec![0; 4100];
        let mut lens = Vec::new();
        while let Some(t) = host.poll_transmit(EnetTime(10_001), &mut buf) {
            assert!(t.len <= 1392, "{}", t.len);
            let area = &buf[DatagramHeader::parse(&buf[..t.len]).unwrap().1..t.len];
            let n = crate::wire::CommandIter::new(area).count();
            assert!(n <= 32);
            lens.push(n);
        }
        assert_eq!(lens[..3], [32, 32, 32]);
        assert_eq!(lens.iter().sum::<usize>(), 103);
    }

    #[test]
    fn windows_mask_covers_ten_windows_modulo_sixteen() {
        assert_eq!(windows_mask(0), 0x03FF);
        assert_eq!(windows_mask(6), 0xFFC0);
        assert_eq!(windows_mask(8), 0xFF03);
        assert_eq!(windows_mask(15), 0x01FF | 0x8000);
    }
}
