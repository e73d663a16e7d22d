//! The receive path (protocol description 2.4, 2.5): [`Host::handle_datagram`] checks the
//! header, the peer slot, decompresses and verifies the checksum, then walks the command area and
//! hands each command to its handler:
//! - `connect.rs`: CONNECT (server side of the handshake) and VERIFY_CONNECT (client side);
//! - `ack.rs`: ACKNOWLEDGE, and queueing acknowledgements for reliable commands;
//! - `data.rs`: the five data commands and fragment reassembly;
//! - `control.rs`: DISCONNECT, PING, BANDWIDTH_LIMIT, THROTTLE_CONFIGURE, and dropping a peer
//!   that broke the protocol.

mod ack;
mod connect;
mod control;
mod data;

use std::net::SocketAddr;

use super::Host;
use crate::compress::crc32;
use crate::event::ProtocolViolation;
use crate::packet::PacketFlags;
use crate::peer::{IncomingKey, PeerState};
use crate::time::EnetTime;
use crate::wire::{
    COMMAND_FLAG_ACKNOWLEDGE, Command, CommandHeader, CommandIter, CommandNumber, DatagramHeader,
    PROTOCOL_MAXIMUM_MTU, PROTOCOL_MAXIMUM_PEER_ID, ParseError,
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
    /// A CONNECT we will not take: answered ([`HostConfig::answer_refused_connects`](crate::HostConfig::answer_refused_connects)).
    Answer,
}

impl Host {
    /// Processes one datagram received from `from`. Hostile or stale input is dropped and
    /// counted in [`statistics`](Self::statistics); it never panics.
    pub fn handle_datagram(&mut self, now: EnetTime, from: SocketAddr, datagram: &[u8]) {
        self.receive_datagram(now, from, datagram);
        // An acknowledgement or any datagram from a peer may have put its deadline off.
        self.refresh_timer_top();
    }

    fn receive_datagram(&mut self, now: EnetTime, from: SocketAddr, datagram: &[u8]) {
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
            peer.traffic.datagrams_received += 1;
            peer.traffic.wire_bytes_received += datagram.len() as u64;
            peer.bandwidth.incoming_data_total = peer
                .bandwidth
                .incoming_data_total
                .wrapping_add(data.len() as u32);
            peer.traffic.total_incoming_data = peer
                .traffic
                .total_incoming_data
                .wrapping_add(data.len() as u64);
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
            Command::Ping => self.handle_ping(idx),
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
            } => self.handle_throttle_configure(
                idx,
                packet_throttle_interval,
                packet_throttle_acceleration,
                packet_throttle_deceleration,
            ),
        }
    }
}
