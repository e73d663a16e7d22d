//! The ENet host: a table of peer slots driven as a sans-IO state machine.

mod bandwidth;
mod config;
mod handshake;
mod reassembly;
mod receive;
mod send;
mod timer;

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap, VecDeque};
use std::fmt;
use std::net::{IpAddr, SocketAddr};

use crate::compress::Compressor;
use crate::event::{DisconnectReason, Event};
use crate::packet::{Packet, PacketFlags};
use crate::peer::{
    Channel, OutgoingBody, OutgoingCommand, Peer, PeerId, PeerState, window_from_bandwidth,
};
use crate::time::EnetTime;
use crate::wire::{
    COMMAND_FLAG_ACKNOWLEDGE, COMMAND_FLAG_UNSEQUENCED, CONTROL_CHANNEL, CommandNumber, Connect,
    PROTOCOL_MAXIMUM_CHANNEL_COUNT, PROTOCOL_MAXIMUM_FRAGMENT_COUNT, PROTOCOL_MAXIMUM_MTU,
    PROTOCOL_MAXIMUM_PEER_ID, PROTOCOL_MINIMUM_CHANNEL_COUNT, PROTOCOL_MINIMUM_MTU,
};

use crate::rng::SplitMix64;
pub use config::{ConnectError, HostConfig, HostError, HostStatistics, SendError, Transmit};
pub use handshake::{HANDSHAKE_LIFETIME, HANDSHAKE_RESEND_INTERVAL, HOST_DEFAULT_HANDSHAKE_LIMIT};

/// `HOST_DEFAULT_MTU` (1.3.18).
pub const HOST_DEFAULT_MTU: u32 = 1392;
/// `HOST_DEFAULT_MAXIMUM_PACKET_SIZE`: 32 MiB.
pub const HOST_DEFAULT_MAXIMUM_PACKET_SIZE: usize = 32 * 1024 * 1024;
/// `HOST_DEFAULT_MAXIMUM_WAITING_DATA`: 32 MiB.
pub const HOST_DEFAULT_MAXIMUM_WAITING_DATA: usize = 32 * 1024 * 1024;
/// `HOST_BANDWIDTH_THROTTLE_INTERVAL` in ms.
pub const HOST_BANDWIDTH_THROTTLE_INTERVAL: u32 = 1000;
/// Default `duplicatePeers`: peers allowed from one IP address.
pub const HOST_DEFAULT_DUPLICATE_PEERS: usize = PROTOCOL_MAXIMUM_PEER_ID as usize;
/// Milliseconds [`Host::connect_any`] waits for an answer before it sends the CONNECT on to the
/// next address: RFC 8305's recommended Connection Attempt Delay.
pub const CONNECT_ATTEMPT_DELAY: u32 = 250;
/// Refusals ([`HostConfig::answer_refused_connects`]) that may wait for `poll_transmit` at once;
/// beyond that, refused CONNECTs go unanswered, so a flood cannot grow the queue.
pub const MAXIMUM_PENDING_REFUSALS: usize = 256;
/// Decides whether the host takes a CONNECT, from the sender's address and the CONNECT's data
/// ([`Host::set_connect_filter`]); `false` refuses it.
pub type ConnectFilter = Box<dyn FnMut(SocketAddr, u32) -> bool + Send>;
/// Smallest buffer [`Host::poll_transmit`] needs: the largest MTU plus a checksum.
pub const MINIMUM_TRANSMIT_BUFFER: usize = PROTOCOL_MAXIMUM_MTU as usize + 4;

/// An ENet host: up to 4095 peer slots speaking ENet 1.3 over one (caller-owned) UDP socket.
///
/// # Driving contract
///
/// The host never reads a clock or touches a socket. Inputs:
/// - [`handle_datagram`](Self::handle_datagram) for every datagram received on the socket;
/// - [`handle_timeout`](Self::handle_timeout) when the time returned by
///   [`poll_timeout`](Self::poll_timeout) has come (calling it early or more often is harmless);
/// - commands: [`connect`](Self::connect), [`send`](Self::send), [`broadcast`](Self::broadcast),
///   the `disconnect*` family, [`ping`](Self::ping) and the settings.
///
/// After any input or command:
/// 1. call [`poll_transmit`](Self::poll_transmit) until it returns `None`, sending each datagram;
/// 2. call [`poll_event`](Self::poll_event) until it returns `None`;
/// 3. sleep until a datagram arrives or [`poll_timeout`](Self::poll_timeout) passes.
///
/// `now` must be a monotonic millisecond clock; it may wrap (see [`EnetTime`]).
///
/// Each `poll_transmit` call is one step of ENet's send pass: acknowledgements first, then queued
/// commands merged in queue order, at most 32 commands and one MTU per datagram, SENT_TIME only
/// with a reliable command inside, checksum and compression as configured. Costs grow with the
/// peers that have work (a send queue and a timer heap), never with the number of slots.
///
/// There is no intercept hook: the driver sees every datagram before `handle_datagram` and can
/// consume it there (ENet protocol description 13.1).
///
/// # Where this differs from C ENet (never on the wire)
/// - Connection events: a completed handshake moves the peer to CONNECTED at once and queues
///   its CONNECT event (ENet's `service` with an event structure). A lost connection becomes a
///   ZOMBIE and its slot is freed only when the DISCONNECT event is polled (ENet's
///   `service(NULL)` path), so a `PeerId` stays valid until the application saw the event.
/// - A remote that sends bad fragment fields, data on a channel it does not have, or data above
///   `maximum_packet_size` is disconnected with [`DisconnectReason::ProtocolViolation`] (and an
///   unreliable DISCONNECT) instead of having its datagram silently cut short forever.
/// - Reassembly buffers are zeroed; packets already queued for the application are still
///   delivered after `disconnect_later`.
/// - Timeouts are checked when `handle_timeout` finds the peer's deadline due rather than on
///   every service call; the deadline is ENet's (`nextTimeout`), so the outcome is the same.
pub struct Host {
    pub(crate) peers: Vec<Peer>,
    /// Connections at most (`HostConfig::peer_limit`); half-open peers are counted apart.
    pub(crate) peer_limit: usize,
    /// Half-open peers at most (`host/handshake.rs`).
    pub(crate) handshake_limit: usize,
    /// Slots the table may grow to: `peer_limit + handshake_limit`, at most 4095.
    pub(crate) slot_capacity: usize,
    /// Peers in ACKNOWLEDGING_CONNECT.
    pub(crate) half_open: usize,
    /// Half-open peers in the order their handshakes started (stale entries are skipped).
    pub(crate) handshake_order: VecDeque<(u16, EnetTime)>,
    channel_limit: usize,
    pub(crate) incoming_bandwidth: u32,
    pub(crate) outgoing_bandwidth: u32,
    pub(crate) mtu: u32,
    pub(crate) checksum: bool,
    pub(crate) compressor: Option<Box<dyn Compressor + Send>>,
    pub(crate) maximum_packet_size: usize,
    pub(crate) maximum_waiting_data: usize,
    duplicate_peers: usize,
    pub(crate) answer_refused_connects: bool,
    pub(crate) connect_filter: Option<ConnectFilter>,
    rng: SplitMix64,
    forced_connect_id: Option<[u8; 4]>,
    /// The host's cached "now" (`serviceTime`).
    pub(crate) service_time: EnetTime,
    /// Latest time seen and its unwrapped counterpart, for the timer heap.
    clock_time: EnetTime,
    clock: u64,
    pub(crate) total_queued: u32,
    pub(crate) connected_peers: usize,
    pub(crate) bandwidth_limited_peers: usize,
    pub(crate) recalculate_bandwidth_limits: bool,
    pub(crate) bandwidth_throttle_epoch: EnetTime,
    dispatch_queue: VecDeque<u16>,
    send_queue: VecDeque<u16>,
    timers: BinaryHeap<Reverse<(u64, u16)>>,
    /// Slots not in DISCONNECTED state, and each slot's position in that list.
    pub(crate) active: Vec<u16>,
    pub(crate) active_pos: Vec<u32>,
    pub(crate) free: BTreeSet<u16>,
    /// Slots in use by remote IP, for the duplicate-peer rules of CONNECT (5.3) without a scan
    /// of every slot.
    pub(crate) by_ip: HashMap<IpAddr, Vec<u16>>,
    pub(crate) raw_transmits: VecDeque<(SocketAddr, Vec<u8>)>,
    send_scratch: Vec<u8>,
    receive_scratch: Vec<u8>,
    /// Reused by the bandwidth throttle for its list of connected peers.
    throttle_scratch: Vec<usize>,
    /// (peer slot, channel) of large reassembly buffers to prefault (`reassembly.rs`).
    prefault_hints: Vec<(u16, u8)>,
    pub(crate) stats: HostStatistics,
}

impl fmt::Debug for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Host")
            .field("peer_limit", &self.peers.len())
            .field("connected_peers", &self.connected_peers)
            .field("active_peers", &self.active.len())
            .field("service_time", &self.service_time)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

pub(crate) const NOT_ACTIVE: u32 = u32::MAX;

impl Host {
    /// Creates a host with every slot free.
    pub fn new(config: HostConfig) -> Result<Host, HostError> {
        if config.peer_limit == 0 || config.peer_limit > usize::from(PROTOCOL_MAXIMUM_PEER_ID) {
            return Err(HostError::InvalidPeerLimit(config.peer_limit));
        }
        if !(PROTOCOL_MINIMUM_MTU..=PROTOCOL_MAXIMUM_MTU).contains(&config.mtu) {
            return Err(HostError::InvalidMtu(config.mtu));
        }
        let peers: Vec<Peer> = (0..config.peer_limit)
            .map(|i| Peer::new(i as u16, config.mtu))
            .collect();
        let handshake_limit = config.handshake_limit.max(1);
        Ok(Host {
            peer_limit: config.peer_limit,
            handshake_limit,
            slot_capacity: config
                .peer_limit
                .saturating_add(handshake_limit)
                .min(usize::from(PROTOCOL_MAXIMUM_PEER_ID)),
            half_open: 0,
            handshake_order: VecDeque::new(),
            free: (0..config.peer_limit as u16).collect(),
            active_pos: vec![NOT_ACTIVE; peers.len()],
            peers,
            channel_limit: clamp_channel_limit(config.channel_limit),
            incoming_bandwidth: config.incoming_bandwidth,
            outgoing_bandwidth: config.outgoing_bandwidth,
            mtu: config.mtu,
            checksum: config.checksum,
            compressor: config.compressor,
            maximum_packet_size: config.maximum_packet_size,
            maximum_waiting_data: config.maximum_waiting_data,
            duplicate_peers: config.duplicate_peers,
            answer_refused_connects: config.answer_refused_connects,
            connect_filter: None,
            rng: SplitMix64::new(config.seed),
            forced_connect_id: None,
            service_time: EnetTime(0),
            clock_time: EnetTime(0),
            clock: 0,
            total_queued: 0,
            connected_peers: 0,
            bandwidth_limited_peers: 0,
            recalculate_bandwidth_limits: false,
            bandwidth_throttle_epoch: EnetTime(0),
            dispatch_queue: VecDeque::new(),
            send_queue: VecDeque::new(),
            timers: BinaryHeap::new(),
            active: Vec::new(),
            by_ip: HashMap::new(),
            raw_transmits: VecDeque::new(),
            send_scratch: vec![0; PROTOCOL_MAXIMUM_MTU as usize],
            receive_scratch: vec![0; PROTOCOL_MAXIMUM_MTU as usize],
            throttle_scratch: Vec::new(),
            prefault_hints: Vec::new(),
            stats: HostStatistics::default(),
        })
    }

    /// Starts connecting to `address` with `channel_count` channels (clamped to 1..=255) and
    /// `data` for the remote's CONNECT event. The result arrives as an [`Event::Connect`] or, if
    /// the remote never answers, an [`Event::Disconnect`] with [`DisconnectReason::Timeout`].
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
            packet_throttle_interval: peer.packet_throttle_interval,
            packet_throttle_acceleration: peer.packet_throttle_acceleration,
            packet_throttle_deceleration: peer.packet_throttle_deceleration,
            connect_id,
            data,
        };
        self.queue_command(
            idx,
            OutgoingCommand::new(
                CommandNumber::Connect as u8 | COMMAND_FLAG_ACKNOWLEDGE,
                CONTROL_CHANNEL,
                OutgoingBody::Connect(connect),
            ),
        );
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
        p.connect_tried.push(first);
        for &address in rest {
            if address != first && !p.connect_candidates.contains(&address) {
                p.connect_candidates.push_back(address);
            }
        }
        p.next_candidate_time = now.add_millis(CONNECT_ATTEMPT_DELAY);
        self.schedule(idx);
        Ok(peer)
    }

    /// Sends the CONNECT of a CONNECTING peer on to its next candidate address now.
    pub(crate) fn try_next_connect_candidate(&mut self, idx: usize, now: EnetTime) {
        let peer = &mut self.peers[idx];
        let Some(address) = peer.connect_candidates.pop_front() else {
            return;
        };
        peer.connect_tried.push(address);
        peer.next_candidate_time = now.add_millis(CONNECT_ATTEMPT_DELAY);
        let resend = peer.resend_in_flight_now();
        self.readdress(idx, address);
        if resend {
            self.mark_send(idx);
        }
    }

    /// Installs (or, with `None`, removes) a filter that sees every CONNECT this host would
    /// otherwise take, before a slot is allocated: the sender's address and the CONNECT's
    /// `data` (Godot puts the client's peer id there). A refused CONNECT takes no slot, gives no
    /// event and, with [`HostConfig::answer_refused_connects`], is answered with a DISCONNECT
    /// so the client fails at once. The filter runs inside
    /// [`handle_datagram`](Self::handle_datagram).
    pub fn set_connect_filter(&mut self, filter: Option<ConnectFilter>) {
        self.connect_filter = filter;
    }

    /// Queues `packet` to `peer` on `channel` (protocol description 6.2, 6.3): fragmented above
    /// the MTU, reliable, unsequenced or unreliable by its flags.
    pub fn send(&mut self, peer: PeerId, channel: u8, packet: Packet) -> Result<(), SendError> {
        let length = packet.data.len();
        let fragment_length = self.check_send(peer, channel, length)?;
        let idx = peer.index();
        let p = &self.peers[idx];
        let flags = packet.flags;
        let ch = &p.channels[usize::from(channel)];
        if length > fragment_length {
            let fragment_count = length.div_ceil(fragment_length);
            let unreliable = flags.contains(PacketFlags::UNRELIABLE_FRAGMENT)
                && !flags.contains(PacketFlags::RELIABLE)
                && ch.outgoing_unreliable_sequence_number < 0xFFFF;
            let start_sequence_number = if unreliable {
                ch.outgoing_unreliable_sequence_number.wrapping_add(1)
            } else {
                ch.outgoing_reliable_sequence_number.wrapping_add(1)
            };
            for number in 0..fragment_count {
                let offset = number * fragment_length;
                let end = (offset + fragment_length).min(length);
                let fields = (
                    start_sequence_number,
                    fragment_count as u32,
                    number as u32,
                    length as u32,
                );
                let (command, body) = if unreliable {
                    (
                        CommandNumber::SendUnreliableFragment as u8,
                        OutgoingBody::SendUnreliableFragment {
                            start_sequence_number: fields.0,
                            fragment_count: fields.1,
                            fragment_number: fields.2,
                            total_length: fields.3,
                        },
                    )
                } else {
                    (
                        CommandNumber::SendFragment as u8 | COMMAND_FLAG_ACKNOWLEDGE,
                        OutgoingBody::SendFragment {
                            start_sequence_number: fields.0,
                            fragment_count: fields.1,
                            fragment_number: fields.2,
                            total_length: fields.3,
                        },
                    )
                };
                let cmd = OutgoingCommand::new(command, channel, body)
                    .with_payload(packet.data.slice(offset..end), offset as u32);
                self.queue_command(idx, cmd);
            }
            return Ok(());
        }
        let (command, body) =
            if flags.contains(PacketFlags::UNSEQUENCED) && !flags.contains(PacketFlags::RELIABLE) {
                (
                    CommandNumber::SendUnsequenced as u8 | COMMAND_FLAG_UNSEQUENCED,
                    OutgoingBody::SendUnsequenced,
                )
            } else if flags.contains(PacketFlags::RELIABLE)
                || ch.outgoing_unreliable_sequence_number == 0xFFFF
            {
                (
                    CommandNumber::SendReliable as u8 | COMMAND_FLAG_ACKNOWLEDGE,
                    OutgoingBody::SendReliable,
                )
            } else {
                (
                    CommandNumber::SendUnreliable as u8,
                    OutgoingBody::SendUnreliable,
                )
            };
        let cmd = OutgoingCommand::new(command, channel, body).with_payload(packet.data, 0);
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

    /// Whether datagrams wait for [`poll_transmit`](Self::poll_transmit): a peer has commands
    /// queued or due, or a datagram was built ahead (a DISCONNECT before a reset).
    pub fn has_transmit(&self) -> bool {
        !self.raw_transmits.is_empty() || !self.send_queue.is_empty()
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

    /// Graceful disconnect (5.5): drops queued data and sends a reliable DISCONNECT; an
    /// [`Event::Disconnect`] with [`DisconnectReason::Local`] follows its acknowledgement. A
    /// connection still in its handshake is dropped at once with one unreliable DISCONNECT.
    pub fn disconnect(&mut self, peer: PeerId, data: u32) {
        let idx = peer.index();
        let Some(p) = self.peers.get_mut(idx) else {
            return;
        };
        if matches!(
            p.state,
            PeerState::Disconnecting
                | PeerState::Disconnected
                | PeerState::AcknowledgingDisconnect
                | PeerState::Zombie
        ) {
            return;
        }
        p.reset_queues();
        let connected = p.state.is_connected();
        let flag = if connected {
            COMMAND_FLAG_ACKNOWLEDGE
        } else {
            COMMAND_FLAG_UNSEQUENCED
        };
        self.queue_command(
            idx,
            OutgoingCommand::new(
                CommandNumber::Disconnect as u8 | flag,
                CONTROL_CHANNEL,
                OutgoingBody::Disconnect { data },
            ),
        );
        if connected {
            self.set_state(idx, PeerState::Disconnecting);
            self.schedule(idx);
        } else {
            self.flush_peer(idx);
            self.reset_slot(idx);
        }
    }

    /// Disconnects once everything queued has been delivered and acknowledged; meanwhile
    /// incoming data is discarded and `send` is refused. Otherwise like [`disconnect`](Self::disconnect).
    pub fn disconnect_later(&mut self, peer: PeerId, data: u32) {
        let idx = peer.index();
        let Some(p) = self.peers.get_mut(idx) else {
            return;
        };
        if p.state.is_connected() && !p.has_no_outgoing() {
            p.state = PeerState::DisconnectLater;
            p.event_data = data;
        } else {
            self.disconnect(peer, data);
        }
    }

    /// Drops the connection at once: one unreliable DISCONNECT is queued for `poll_transmit`,
    /// then the slot is reset. No local event.
    pub fn disconnect_now(&mut self, peer: PeerId, data: u32) {
        let idx = peer.index();
        let Some(p) = self.peers.get_mut(idx) else {
            return;
        };
        if p.state == PeerState::Disconnected {
            return;
        }
        if !matches!(p.state, PeerState::Zombie | PeerState::Disconnecting) {
            p.reset_queues();
            self.queue_command(
                idx,
                OutgoingCommand::new(
                    CommandNumber::Disconnect as u8 | COMMAND_FLAG_UNSEQUENCED,
                    CONTROL_CHANNEL,
                    OutgoingBody::Disconnect { data },
                ),
            );
            self.flush_peer(idx);
        }
        self.reset_slot(idx);
    }

    /// Frees the slot without telling the remote (which will time out). No event.
    pub fn reset_peer(&mut self, peer: PeerId) {
        if peer.index() < self.peers.len()
            && self.peers[peer.index()].state != PeerState::Disconnected
        {
            self.reset_slot(peer.index());
        }
    }

    /// Queues a PING (only while CONNECTED).
    pub fn ping(&mut self, peer: PeerId) {
        let idx = peer.index();
        if self.peers.get(idx).map(|p| p.state) == Some(PeerState::Connected) {
            self.queue_ping(idx);
        }
    }

    /// Sets the idle ping interval in ms (0 = ENet's 500). Reset with the slot.
    pub fn set_ping_interval(&mut self, peer: PeerId, ms: u32) {
        if let Some(p) = self.peers.get_mut(peer.index()) {
            p.ping_interval = if ms == 0 {
                crate::peer::PEER_PING_INTERVAL
            } else {
                ms
            };
            self.schedule(peer.index());
        }
    }

    /// Sets the timeout parameters (8.6); 0 keeps ENet's default for that parameter.
    pub fn set_timeout(&mut self, peer: PeerId, limit: u32, minimum: u32, maximum: u32) {
        if let Some(p) = self.peers.get_mut(peer.index()) {
            p.timeout_limit = if limit == 0 {
                crate::peer::PEER_TIMEOUT_LIMIT
            } else {
                limit
            };
            p.timeout_minimum = if minimum == 0 {
                crate::peer::PEER_TIMEOUT_MINIMUM
            } else {
                minimum
            };
            p.timeout_maximum = if maximum == 0 {
                crate::peer::PEER_TIMEOUT_MAXIMUM
            } else {
                maximum
            };
        }
    }

    /// Sets the packet-throttle parameters locally and sends them to the remote
    /// (THROTTLE_CONFIGURE).
    pub fn throttle_configure(
        &mut self,
        peer: PeerId,
        interval: u32,
        acceleration: u32,
        deceleration: u32,
    ) {
        let idx = peer.index();
        let Some(p) = self.peers.get_mut(idx) else {
            return;
        };
        if p.state == PeerState::Disconnected || p.state == PeerState::Zombie {
            return;
        }
        p.packet_throttle_interval = interval;
        p.packet_throttle_acceleration = acceleration;
        p.packet_throttle_deceleration = deceleration;
        self.queue_command(
            idx,
            OutgoingCommand::new(
                CommandNumber::ThrottleConfigure as u8 | COMMAND_FLAG_ACKNOWLEDGE,
                CONTROL_CHANNEL,
                OutgoingBody::ThrottleConfigure {
                    interval,
                    acceleration,
                    deceleration,
                },
            ),
        );
    }

    /// Changes the host's bandwidth limits; BANDWIDTH_LIMIT goes to every connected peer at the
    /// next bandwidth-throttle tick.
    pub fn set_bandwidth_limit(&mut self, incoming: u32, outgoing: u32) {
        self.incoming_bandwidth = incoming;
        self.outgoing_bandwidth = outgoing;
        self.recalculate_bandwidth_limits = true;
    }

    /// Channels granted to future incoming connections (0 or above 255 means 255).
    pub fn set_channel_limit(&mut self, limit: usize) {
        self.channel_limit = clamp_channel_limit(limit);
    }

    /// Installs or removes the datagram compressor (both ends must agree).
    pub fn set_compressor(&mut self, c: Option<Box<dyn Compressor + Send>>) {
        self.compressor = c;
    }

    /// Turns CRC-32 checksums on or off (both ends must agree).
    pub fn set_checksum(&mut self, on: bool) {
        self.checksum = on;
    }

    /// Changes the MTU offered by future connections (576..=4096; other values are ignored).
    pub fn set_mtu(&mut self, mtu: u32) {
        if (PROTOCOL_MINIMUM_MTU..=PROTOCOL_MAXIMUM_MTU).contains(&mtu) {
            self.mtu = mtu;
        }
    }

    /// Read access to a slot (any state), or `None` for an id beyond the peer limit.
    pub fn peer(&self, id: PeerId) -> Option<&Peer> {
        self.peers.get(id.index())
    }

    /// Slots in use (any state but DISCONNECTED), in no particular order.
    pub fn peers(&self) -> impl Iterator<Item = (PeerId, &Peer)> {
        self.active
            .iter()
            .map(move |&slot| (PeerId(slot), &self.peers[usize::from(slot)]))
    }

    /// Peers in CONNECTED or DISCONNECT_LATER state.
    pub fn connected_peers(&self) -> usize {
        self.connected_peers
    }

    /// Connections at most (`HostConfig::peer_limit`). Half-open handshakes of a server use
    /// slots of their own beyond it, so peer ids can be up to `peer_limit + handshake_limit`.
    pub fn peer_limit(&self) -> usize {
        self.peer_limit
    }

    /// Server-side handshakes in progress (VERIFY_CONNECT sent, not yet acknowledged).
    pub fn half_open_peers(&self) -> usize {
        self.half_open
    }

    /// Channels granted to incoming connections at most.
    pub fn channel_limit(&self) -> usize {
        self.channel_limit
    }

    /// The host's MTU for new connections.
    pub fn mtu(&self) -> u32 {
        self.mtu
    }

    /// Traffic and drop counters.
    pub fn statistics(&self) -> &HostStatistics {
        &self.stats
    }

    /// Test hook: panics if the host's internal indexes disagree with the slots (free list,
    /// active list, address index, connected count). For tests and fuzzing only.
    #[doc(hidden)]
    pub fn debug_check_invariants(&self) {
        let mut connected = 0;
        let mut indexed = 0;
        for (i, peer) in self.peers.iter().enumerate() {
            let slot = i as u16;
            let in_use = peer.state != PeerState::Disconnected;
            assert_eq!(self.free.contains(&slot), !in_use, "free list, slot {i}");
            assert_eq!(
                self.active_pos[i] != NOT_ACTIVE,
                in_use,
                "active list, slot {i}"
            );
            if in_use {
                assert_eq!(
                    self.active[self.active_pos[i] as usize], slot,
                    "active pos {i}"
                );
                let by_ip = self.by_ip.get(&peer.address.ip());
                assert!(
                    by_ip.is_some_and(|s| s.contains(&slot)),
                    "address index {i}"
                );
                indexed += 1;
            }
            if peer.state.is_connected() {
                connected += 1;
            }
        }
        assert_eq!(self.active.len(), indexed);
        assert_eq!(self.by_ip.values().map(Vec::len).sum::<usize>(), indexed);
        assert_eq!(self.connected_peers, connected);
        let half_open = self
            .peers
            .iter()
            .filter(|p| p.state == PeerState::AcknowledgingConnect)
            .count();
        assert_eq!(self.half_open, half_open, "half-open count");
        assert!(self.peers.len() <= self.slot_capacity);
        assert!(
            self.established_peers() <= self.peer_limit,
            "connections over the limit"
        );
    }

    /// Test hook: the next `connect` uses these connect-id bytes instead of random ones.
    #[doc(hidden)]
    pub fn force_next_connect_id(&mut self, id: [u8; 4]) {
        self.forced_connect_id = Some(id);
    }

    /// Whether [`poll_event`](Self::poll_event) would return an event now. Unlike taking one,
    /// asking changes nothing (taking a DISCONNECT event frees its slot).
    pub fn has_event(&self) -> bool {
        self.dispatch_queue.iter().any(|&slot| {
            let peer = &self.peers[usize::from(slot)];
            peer.needs_dispatch
                && (peer.connect_event_pending.is_some()
                    || peer.state == PeerState::Zombie
                    || (delivers_packets(peer.state) && !peer.dispatched_commands.is_empty()))
        })
    }

    /// The next event for the application (ENet's dispatch queue, 7.7): connection changes and
    /// received packets, round-robin between peers. A DISCONNECT event frees the slot.
    pub fn poll_event(&mut self) -> Option<Event> {
        while let Some(slot) = self.dispatch_queue.pop_front() {
            let idx = usize::from(slot);
            let peer = &mut self.peers[idx];
            if !peer.needs_dispatch {
                continue;
            }
            peer.needs_dispatch = false;
            if let Some(data) = peer.connect_event_pending.take() {
                if peer.state == PeerState::Zombie || !peer.dispatched_commands.is_empty() {
                    self.queue_dispatch(idx);
                }
                return Some(Event::Connect {
                    peer: PeerId(slot),
                    data,
                });
            }
            if delivers_packets(peer.state)
                && let Some(delivered) = peer.dispatched_commands.pop_front()
            {
                peer.total_waiting_data = peer
                    .total_waiting_data
                    .saturating_sub(delivered.packet.data.len());
                if !peer.dispatched_commands.is_empty() || peer.state == PeerState::Zombie {
                    self.queue_dispatch(idx);
                }
                return Some(Event::Receive {
                    peer: PeerId(slot),
                    channel: delivered.channel,
                    packet: delivered.packet,
                });
            }
            if peer.state == PeerState::Zombie {
                self.recalculate_bandwidth_limits = true;
                let event = Event::Disconnect {
                    peer: PeerId(slot),
                    data: peer.event_data,
                    reason: peer.disconnect_reason,
                };
                self.reset_slot(idx);
                return Some(event);
            }
        }
        None
    }

    // ---- slot and state bookkeeping -------------------------------------------------------

    /// Takes a free slot into use for a connection with `address`.
    pub(crate) fn allocate_slot(&mut self, idx: usize, address: SocketAddr) {
        self.free.remove(&(idx as u16));
        if self.active_pos[idx] == NOT_ACTIVE {
            self.active_pos[idx] = self.active.len() as u32;
            self.active.push(idx as u16);
        }
        self.peers[idx].address = address;
        self.by_ip.entry(address.ip()).or_default().push(idx as u16);
    }

    /// The remote of a slot in use moved (only after connecting to the broadcast address).
    pub(crate) fn readdress(&mut self, idx: usize, address: SocketAddr) {
        self.unindex_address(idx);
        self.peers[idx].address = address;
        self.by_ip.entry(address.ip()).or_default().push(idx as u16);
    }

    fn unindex_address(&mut self, idx: usize) {
        let ip = self.peers[idx].address.ip();
        if let Some(slots) = self.by_ip.get_mut(&ip) {
            if let Some(pos) = slots.iter().position(|&s| usize::from(s) == idx) {
                slots.swap_remove(pos);
            }
            if slots.is_empty() {
                self.by_ip.remove(&ip);
            }
        }
    }

    /// Resets a slot to DISCONNECTED and frees it (`enet_peer_reset` plus host bookkeeping).
    pub(crate) fn reset_slot(&mut self, idx: usize) {
        if self.active_pos[idx] != NOT_ACTIVE {
            self.unindex_address(idx);
        }
        self.set_state(idx, PeerState::Disconnected);
        let mtu = self.mtu;
        let peer = &mut self.peers[idx];
        peer.reset(mtu);
        peer.timer_registered = None;
        let pos = self.active_pos[idx];
        if pos != NOT_ACTIVE {
            self.active.swap_remove(pos as usize);
            if let Some(&moved) = self.active.get(pos as usize) {
                self.active_pos[usize::from(moved)] = pos;
            }
            self.active_pos[idx] = NOT_ACTIVE;
        }
        self.free.insert(idx as u16);
    }

    /// Changes state, keeping the connected and bandwidth-limited counts (5.2).
    pub(crate) fn set_state(&mut self, idx: usize, state: PeerState) {
        let peer = &mut self.peers[idx];
        let was_half_open = peer.state == PeerState::AcknowledgingConnect;
        let is_half_open = state == PeerState::AcknowledgingConnect;
        if was_half_open && !is_half_open {
            self.half_open = self.half_open.saturating_sub(1);
        } else if is_half_open && !was_half_open {
            self.half_open += 1;
        }
        let was = peer.state.is_connected();
        let is = state.is_connected();
        if !was && is {
            self.connected_peers += 1;
            if peer.incoming_bandwidth != 0 {
                self.bandwidth_limited_peers += 1;
            }
        } else if was && !is {
            self.connected_peers = self.connected_peers.saturating_sub(1);
            if peer.incoming_bandwidth != 0 {
                self.bandwidth_limited_peers = self.bandwidth_limited_peers.saturating_sub(1);
            }
        }
        peer.state = state;
    }

    /// Appends the peer to the dispatch queue unless it is already there.
    pub(crate) fn queue_dispatch(&mut self, idx: usize) {
        let peer = &mut self.peers[idx];
        if !peer.needs_dispatch {
            peer.needs_dispatch = true;
            self.dispatch_queue.push_back(idx as u16);
        }
    }

    /// Handshake complete: CONNECTED at once, CONNECT event queued (5.3 "notify connect").
    pub(crate) fn notify_connect(&mut self, idx: usize) {
        self.recalculate_bandwidth_limits = true;
        self.set_state(idx, PeerState::Connected);
        let peer = &mut self.peers[idx];
        peer.connect_event_pending = Some(peer.event_data);
        self.queue_dispatch(idx);
    }

    /// Connection over (5.5 "notify disconnect"): a half-open server-side slot is reset
    /// silently, anything else becomes a ZOMBIE with a DISCONNECT event (data 0).
    pub(crate) fn notify_disconnect(&mut self, idx: usize, reason: DisconnectReason) {
        let state = self.peers[idx].state;
        if state.is_connected() || state as u8 >= PeerState::ConnectionPending as u8 {
            self.recalculate_bandwidth_limits = true;
        }
        if state != PeerState::Connecting && (state as u8) < PeerState::ConnectionSucceeded as u8 {
            self.reset_slot(idx);
        } else {
            self.peers[idx].event_data = 0;
            self.zombify(idx, reason);
        }
    }

    /// ZOMBIE with a DISCONNECT event queued; the slot is reset when the event is polled.
    pub(crate) fn zombify(&mut self, idx: usize, reason: DisconnectReason) {
        self.set_state(idx, PeerState::Zombie);
        self.peers[idx].disconnect_reason = reason;
        self.queue_dispatch(idx);
    }

    /// Queues a command for a peer and marks it for sending.
    pub(crate) fn queue_command(&mut self, idx: usize, cmd: OutgoingCommand) {
        self.peers[idx].queue_outgoing_command(cmd, &mut self.total_queued);
        self.mark_send(idx);
    }

    /// Queues a PING.
    pub(crate) fn queue_ping(&mut self, idx: usize) {
        self.queue_command(
            idx,
            OutgoingCommand::new(
                CommandNumber::Ping as u8 | COMMAND_FLAG_ACKNOWLEDGE,
                CONTROL_CHANNEL,
                OutgoingBody::Ping,
            ),
        );
    }
}

fn clamp_channel_limit(limit: usize) -> usize {
    if limit == 0 || limit > PROTOCOL_MAXIMUM_CHANNEL_COUNT {
        PROTOCOL_MAXIMUM_CHANNEL_COUNT
    } else {
        limit
    }
}

/// Whether a peer in `state` hands the packets it delivered to the application: while
/// connected, and, unlike ENet, after the connection ended (ZOMBIE) too, ahead of its DISCONNECT
/// event (ENet drops packets the application had not taken yet, which a host serviced on a
/// thread makes likely).
fn delivers_packets(state: PeerState) -> bool {
    matches!(
        state,
        PeerState::Connected | PeerState::DisconnectLater | PeerState::Zombie
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_can_move_to_a_service_thread() {
        fn assert_send<T: Send>() {}
        assert_send::<Host>();
        assert_send::<Event>();
    }

    #[test]
    fn config_limits_are_checked() {
        let bad = |peer_limit, mtu| {
            Host::new(HostConfig {
                peer_limit,
                mtu,
                ..HostConfig::default()
            })
            .err()
        };
        assert_eq!(bad(0, 1392), Some(HostError::InvalidPeerLimit(0)));
        assert_eq!(bad(4096, 1392), Some(HostError::InvalidPeerLimit(4096)));
        assert_eq!(bad(4095, 575), Some(HostError::InvalidMtu(575)));
        assert_eq!(bad(4095, 4096), None);
        let host = Host::new(HostConfig {
            channel_limit: 0,
            ..HostConfig::default()
        })
        .unwrap();
        assert_eq!(host.channel_limit(), 255);
        assert_eq!(host.poll_timeout(), None);
    }
}
