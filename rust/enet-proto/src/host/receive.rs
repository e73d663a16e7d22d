//! The receive path (protocol description 2.4, 2.5, 5.3, 5.5, 7, 8.2): header checks,
//! decompression, checksum, and one handler per command.

use std::net::SocketAddr;

use super::Host;
use crate::compress::crc32;
use crate::event::{DisconnectReason, ProtocolViolation};
use crate::packet::PacketFlags;
use crate::peer::{
    Channel, FragmentCheck, IncomingCommand, IncomingKey, IncomingSource, OutgoingBody,
    OutgoingCommand, PEER_FREE_RELIABLE_WINDOWS, PEER_FREE_UNSEQUENCED_WINDOWS,
    PEER_RELIABLE_WINDOW_SIZE, PEER_RELIABLE_WINDOWS, PEER_UNSEQUENCED_WINDOW_SIZE, PeerState,
    PendingAck, QueueResult, clamp_window, in_receive_window, window_from_bandwidth,
    window_from_bandwidths,
};
use crate::time::EnetTime;
use crate::wire::{
    COMMAND_FLAG_ACKNOWLEDGE, COMMAND_FLAG_UNSEQUENCED, CONTROL_CHANNEL, Command, CommandHeader,
    CommandIter, CommandNumber, Connect, DatagramHeader, Fragment, PROTOCOL_MAXIMUM_CHANNEL_COUNT,
    PROTOCOL_MAXIMUM_MTU, PROTOCOL_MAXIMUM_PEER_ID, PROTOCOL_MINIMUM_CHANNEL_COUNT,
    PROTOCOL_MINIMUM_MTU, ParseError, VerifyConnect,
};

/// Outcome of one command handler (14 item 11: a discard is a success).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Handled {
    /// Processed or silently discarded; acknowledged if reliable.
    Ok,
    /// Refused as ENet refuses it: stop parsing, no acknowledgement.
    Refused,
    /// The remote broke the protocol: stop parsing and drop the connection.
    Violation(ProtocolViolation),
}

/// Why `handle_connect` took no slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    /// Malformed, or a retransmission of a connection we have: no answer.
    Ignore,
    /// A CONNECT we will not take: answered ([`HostConfig::answer_refused_connects`]).
    Answer,
}

impl Host {
    /// Processes one datagram received from `from`. Hostile or stale input is dropped and
    /// counted in [`statistics`](Self::statistics); it never panics.
    pub fn handle_datagram(&mut self, now: EnetTime, from: SocketAddr, datagram: &[u8]) {
        self.advance_clock(now);
        self.stats.total_received_data += datagram.len() as u64;
        self.stats.total_received_packets += 1;
        if datagram.len() > PROTOCOL_MAXIMUM_MTU as usize {
            self.stats.dropped_oversized += 1;
            return;
        }
        let Ok((header, header_len)) = DatagramHeader::parse(datagram) else {
            self.stats.dropped_malformed += 1;
            return;
        };
        let checksum_len = if self.checksum { 4 } else { 0 };
        let header_size = header_len + checksum_len;
        if datagram.len() < header_size {
            self.stats.dropped_malformed += 1;
            return;
        }
        let peer_idx = if header.peer_id == PROTOCOL_MAXIMUM_PEER_ID {
            None
        } else {
            let idx = usize::from(header.peer_id);
            let Some(peer) = self.peers.get(idx) else {
                self.stats.dropped_unknown_peer += 1;
                return;
            };
            if matches!(peer.state, PeerState::Disconnected | PeerState::Zombie)
                || !peer.accepts_address(from)
            {
                self.stats.dropped_unknown_peer += 1;
                return;
            }
            if peer.outgoing_peer_id < PROTOCOL_MAXIMUM_PEER_ID
                && header.session_id != peer.incoming_session_id
            {
                self.stats.dropped_session_mismatch += 1;
                return;
            }
            Some(idx)
        };

        let mut scratch = std::mem::take(&mut self.receive_scratch);
        let data: &[u8] = if header.compressed {
            let Some(compressor) = self.compressor.as_mut() else {
                self.stats.dropped_no_decompressor += 1;
                self.receive_scratch = scratch;
                return;
            };
            let limit = PROTOCOL_MAXIMUM_MTU as usize - header_size;
            scratch.resize(PROTOCOL_MAXIMUM_MTU as usize, 0);
            match compressor.decompress(&datagram[header_size..], &mut scratch[header_size..]) {
                Some(n) if n > 0 && n <= limit => {
                    scratch[..header_size].copy_from_slice(&datagram[..header_size]);
                    &scratch[..header_size + n]
                }
                _ => {
                    self.stats.dropped_decompress_failed += 1;
                    self.receive_scratch = scratch;
                    return;
                }
            }
        } else {
            datagram
        };
        if checksum_len > 0 {
            let seed = peer_idx.map_or([0; 4], |i| self.peers[i].connect_id);
            let expected = crc32(&[&data[..header_len], &seed, &data[header_size..]]);
            if data[header_len..header_size] != expected.to_be_bytes() {
                self.stats.dropped_bad_checksum += 1;
                self.receive_scratch = scratch;
                return;
            }
        }
        if let Some(idx) = peer_idx {
            if self.peers[idx].address != from {
                self.readdress(idx, from);
            }
            let peer = &mut self.peers[idx];
            peer.datagrams_received += 1;
            peer.wire_bytes_received += datagram.len() as u64;
            peer.incoming_data_total = peer.incoming_data_total.wrapping_add(data.len() as u32);
            peer.total_incoming_data = peer.total_incoming_data.wrapping_add(data.len() as u64);
        }
        self.handle_commands(peer_idx, from, header.sent_time, &data[header_size..]);
        if let Some(idx) = peer_idx {
            self.after_half_open_datagram(idx);
        }
        self.receive_scratch = scratch;
    }

    /// The command loop of 2.5.
    fn handle_commands(
        &mut self,
        mut peer_idx: Option<usize>,
        from: SocketAddr,
        sent_time: Option<u16>,
        area: &[u8],
    ) {
        let mut touched = peer_idx;
        for item in CommandIter::new(area) {
            let (header, command) = match item {
                Ok(parsed) => parsed,
                // Zero bytes after the last command are padding, not a command: Godot's FastLZ
                // mode pads inputs shorter than 16 bytes with zeros before compressing.
                Err(ParseError::UnknownCommand { number: 0, offset })
                    if area
                        .get(offset..)
                        .is_some_and(|rest| rest.iter().all(|&b| b == 0)) =>
                {
                    break;
                }
                Err(_) => {
                    self.stats.malformed_commands += 1;
                    break;
                }
            };
            let Some(idx) = peer_idx else {
                let Command::Connect(connect) = command else {
                    self.stats.dropped_not_connect += 1;
                    break;
                };
                match self.handle_connect(from, &connect) {
                    Ok(idx) => {
                        peer_idx = Some(idx);
                        touched = Some(idx);
                        // ACKNOWLEDGING_CONNECT: the CONNECT itself is never acknowledged, but
                        // a reliable command without a sent time still ends the datagram.
                        if header.command & COMMAND_FLAG_ACKNOWLEDGE != 0 && sent_time.is_none() {
                            self.stats.missing_sent_time += 1;
                            break;
                        }
                        continue;
                    }
                    Err(refusal) => {
                        self.stats.connects_refused += 1;
                        if refusal == Refusal::Answer && self.answer_refused_connects {
                            self.queue_refusal(from, &connect);
                        }
                        break;
                    }
                }
            };
            let result = self.handle_command(idx, &header, &command);
            match result {
                Handled::Ok => {}
                Handled::Refused => {
                    self.stats.commands_refused += 1;
                    break;
                }
                Handled::Violation(v) => {
                    self.protocol_violation(idx, v);
                    break;
                }
            }
            if header.command & COMMAND_FLAG_ACKNOWLEDGE != 0 {
                let Some(sent_time) = sent_time else {
                    self.stats.missing_sent_time += 1;
                    break;
                };
                self.queue_acknowledgement(idx, &header, command.number(), sent_time);
            }
        }
        if let Some(idx) = touched {
            self.schedule(idx);
        }
    }

    fn handle_command(
        &mut self,
        idx: usize,
        header: &CommandHeader,
        command: &Command<'_>,
    ) -> Handled {
        match *command {
            Command::Acknowledge {
                received_reliable_sequence_number,
                received_sent_time,
            } => self.handle_acknowledge(
                idx,
                header.channel_id,
                received_reliable_sequence_number,
                received_sent_time,
            ),
            // A CONNECT on an existing connection fails (5.3).
            Command::Connect(_) => Handled::Refused,
            Command::VerifyConnect(ref v) => self.handle_verify_connect(idx, v),
            Command::Disconnect { data } => self.handle_disconnect(idx, header, data),
            Command::Ping => {
                if self.peers[idx].state.is_connected() {
                    Handled::Ok
                } else {
                    Handled::Refused
                }
            }
            Command::SendReliable { data } => self.handle_send_data(
                idx,
                header,
                IncomingKey {
                    number: CommandNumber::SendReliable,
                    reliable_sequence_number: header.reliable_sequence_number,
                    unreliable_sequence_number: 0,
                },
                data,
                PacketFlags::RELIABLE,
            ),
            Command::SendUnreliable {
                unreliable_sequence_number,
                data,
            } => self.handle_send_data(
                idx,
                header,
                IncomingKey {
                    number: CommandNumber::SendUnreliable,
                    reliable_sequence_number: header.reliable_sequence_number,
                    unreliable_sequence_number,
                },
                data,
                PacketFlags::NONE,
            ),
            Command::SendUnsequenced {
                unsequenced_group,
                data,
            } => self.handle_send_unsequenced(idx, header, unsequenced_group, data),
            Command::SendFragment(ref f) => self.handle_send_fragment(idx, header, f, true),
            Command::SendUnreliableFragment(ref f) => {
                self.handle_send_fragment(idx, header, f, false)
            }
            Command::BandwidthLimit {
                incoming_bandwidth,
                outgoing_bandwidth,
            } => self.handle_bandwidth_limit(idx, incoming_bandwidth, outgoing_bandwidth),
            Command::ThrottleConfigure {
                packet_throttle_interval,
                packet_throttle_acceleration,
                packet_throttle_deceleration,
            } => {
                let peer = &mut self.peers[idx];
                if !peer.state.is_connected() {
                    return Handled::Refused;
                }
                peer.packet_throttle_interval = packet_throttle_interval;
                peer.packet_throttle_acceleration = packet_throttle_acceleration;
                peer.packet_throttle_deceleration = packet_throttle_deceleration;
                Handled::Ok
            }
        }
    }

    /// Queues an ACKNOWLEDGE per 7.1 (state rules and the c+7/c+8 window hold-back).
    fn queue_acknowledgement(
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
        peer.outgoing_data_total = peer.outgoing_data_total.wrapping_add(8);
        self.mark_send(idx);
    }

    /// Drops a peer that broke the protocol: one unreliable DISCONNECT to it, then ZOMBIE with a
    /// typed reason.
    fn protocol_violation(&mut self, idx: usize, violation: ProtocolViolation) {
        self.stats.protocol_violations += 1;
        tracing::debug!(peer = idx, %violation, "protocol violation, dropping peer");
        let peer = &mut self.peers[idx];
        peer.reset_queues();
        self.queue_command(
            idx,
            OutgoingCommand::new(
                CommandNumber::Disconnect as u8 | COMMAND_FLAG_UNSEQUENCED,
                CONTROL_CHANNEL,
                OutgoingBody::Disconnect { data: 0 },
            ),
        );
        self.flush_peer(idx);
        self.peers[idx].event_data = 0;
        self.zombify(idx, DisconnectReason::ProtocolViolation(violation));
    }

    /// ACKNOWLEDGE (8.2).
    fn handle_acknowledge(
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
        peer.earliest_timeout = EnetTime(0);
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
                let channels = peer.handshake_channels;
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

    /// CONNECT without a peer (5.3 server side). Returns the new half-open slot, or why none
    /// was taken: [`Refusal::Answer`] for a CONNECT the caller answers with a DISCONNECT,
    /// [`Refusal::Ignore`] for one it drops.
    fn handle_connect(&mut self, from: SocketAddr, connect: &Connect) -> Result<usize, Refusal> {
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
        peer.handshake_channels = channel_count;
        peer.connect_id = connect.connect_id;
        peer.mtu = host_mtu;
        peer.outgoing_peer_id = connect.outgoing_peer_id;
        peer.incoming_bandwidth = connect.incoming_bandwidth;
        peer.outgoing_bandwidth = connect.outgoing_bandwidth;
        peer.packet_throttle_interval = connect.packet_throttle_interval;
        peer.packet_throttle_acceleration = connect.packet_throttle_acceleration;
        peer.packet_throttle_deceleration = connect.packet_throttle_deceleration;
        peer.event_data = connect.data;

        // Session ids (5.3 step 5), 2-bit arithmetic; 0xFF means "never connected".
        let mut incoming_session = if connect.incoming_session_id == 0xFF {
            peer.outgoing_session_id
        } else {
            connect.incoming_session_id
        };
        incoming_session = incoming_session.wrapping_add(1) & 3;
        if incoming_session == peer.outgoing_session_id {
            incoming_session = incoming_session.wrapping_add(1) & 3;
        }
        peer.outgoing_session_id = incoming_session;
        let mut outgoing_session = if connect.outgoing_session_id == 0xFF {
            peer.incoming_session_id
        } else {
            connect.outgoing_session_id
        };
        outgoing_session = outgoing_session.wrapping_add(1) & 3;
        if outgoing_session == peer.incoming_session_id {
            outgoing_session = outgoing_session.wrapping_add(1) & 3;
        }
        peer.incoming_session_id = outgoing_session;

        let remote_mtu = connect
            .mtu
            .clamp(PROTOCOL_MINIMUM_MTU, PROTOCOL_MAXIMUM_MTU);
        peer.mtu = host_mtu.min(remote_mtu);
        peer.window_size = window_from_bandwidths(host_out, peer.incoming_bandwidth);
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
            packet_throttle_interval: peer.packet_throttle_interval,
            packet_throttle_acceleration: peer.packet_throttle_acceleration,
            packet_throttle_deceleration: peer.packet_throttle_deceleration,
            connect_id: peer.connect_id,
        };
        self.queue_command(
            idx,
            OutgoingCommand::new(
                CommandNumber::VerifyConnect as u8 | COMMAND_FLAG_ACKNOWLEDGE,
                CONTROL_CHANNEL,
                OutgoingBody::VerifyConnect(verify),
            ),
        );
        Ok(idx)
    }

    /// Answers a refused CONNECT from `to` with one unreliable DISCONNECT addressed to the
    /// connecting peer's slot (its `outgoing_peer_id`). A C ENet or rust_enet client in
    /// CONNECTING state skips the session check (its outgoing peer id is still 0xFFF), goes to
    /// ZOMBIE and reports a disconnect; Godot's peer then emits `connection_failed`.
    fn queue_refusal(&mut self, to: SocketAddr, connect: &Connect) {
        if self.raw_transmits.len() >= super::MAXIMUM_PENDING_REFUSALS {
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
    fn handle_verify_connect(&mut self, idx: usize, verify: &VerifyConnect) -> Handled {
        let peer = &mut self.peers[idx];
        if peer.state != PeerState::Connecting {
            return Handled::Ok;
        }
        let channel_count = verify.channel_count as usize;
        if !(PROTOCOL_MINIMUM_CHANNEL_COUNT..=PROTOCOL_MAXIMUM_CHANNEL_COUNT)
            .contains(&channel_count)
            || verify.packet_throttle_interval != peer.packet_throttle_interval
            || verify.packet_throttle_acceleration != peer.packet_throttle_acceleration
            || verify.packet_throttle_deceleration != peer.packet_throttle_deceleration
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
        peer.incoming_bandwidth = verify.incoming_bandwidth;
        peer.outgoing_bandwidth = verify.outgoing_bandwidth;
        self.notify_connect(idx);
        Handled::Ok
    }

    /// DISCONNECT (5.5).
    fn handle_disconnect(&mut self, idx: usize, header: &CommandHeader, data: u32) -> Handled {
        let state = self.peers[idx].state;
        if matches!(
            state,
            PeerState::Disconnected | PeerState::Zombie | PeerState::AcknowledgingDisconnect
        ) {
            return Handled::Ok;
        }
        // Packets already delivered in order, which the application has not taken yet, are
        // kept (it gets them before the DISCONNECT event). ENet drops them here; a remote's
        // `disconnect_later` promises them, and a host serviced on a thread often holds some.
        let peer = &mut self.peers[idx];
        let delivered = std::mem::take(&mut peer.dispatched_commands);
        peer.reset_queues();
        peer.total_waiting_data = delivered.iter().map(|d| d.packet.data.len()).sum();
        peer.dispatched_commands = delivered;
        match state {
            PeerState::Connecting => self.zombify(idx, DisconnectReason::Refused),
            PeerState::ConnectionSucceeded | PeerState::Disconnecting => {
                self.zombify(idx, DisconnectReason::Remote);
            }
            PeerState::AcknowledgingConnect | PeerState::ConnectionPending => {
                if state == PeerState::ConnectionPending {
                    self.recalculate_bandwidth_limits = true;
                }
                self.reset_slot(idx);
                return Handled::Ok;
            }
            PeerState::Connected | PeerState::DisconnectLater => {
                if header.command & COMMAND_FLAG_ACKNOWLEDGE != 0 {
                    self.set_state(idx, PeerState::AcknowledgingDisconnect);
                    self.peers[idx].disconnect_reason = DisconnectReason::Remote;
                } else {
                    self.zombify(idx, DisconnectReason::Remote);
                }
            }
            _ => {}
        }
        self.peers[idx].event_data = data;
        Handled::Ok
    }

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
    fn handle_send_data(
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
    fn handle_send_unsequenced(
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
        let base = u32::from(peer.incoming_unsequenced_group);
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
            peer.incoming_unsequenced_group = group.wrapping_sub(index) as u16;
            peer.unsequenced_window = [0; 32];
        } else if peer.unsequenced_window[word] & bit != 0 {
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
        self.peers[idx].unsequenced_window[word] |= bit;
        self.after_incoming(idx);
        Handled::Ok
    }

    /// SEND_FRAGMENT (`reliable`) and SEND_UNRELIABLE_FRAGMENT (7.3).
    fn handle_send_fragment(
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

    /// BANDWIDTH_LIMIT (7.3).
    fn handle_bandwidth_limit(&mut self, idx: usize, incoming: u32, outgoing: u32) -> Handled {
        let host_out = self.outgoing_bandwidth;
        let peer = &mut self.peers[idx];
        if !peer.state.is_connected() {
            return Handled::Refused;
        }
        if peer.incoming_bandwidth != 0 {
            self.bandwidth_limited_peers = self.bandwidth_limited_peers.saturating_sub(1);
        }
        peer.incoming_bandwidth = incoming;
        peer.outgoing_bandwidth = outgoing;
        if incoming != 0 {
            self.bandwidth_limited_peers += 1;
        }
        peer.window_size = window_from_bandwidths(peer.incoming_bandwidth, host_out);
        Handled::Ok
    }
}
