//! Per-peer state: one slot of a [`Host`](crate::Host).
//!
//! A [`Peer`] holds everything ENet keeps per connection (protocol description 5.1): the
//! handshake results, the channels with their sequence numbers and incoming queues, the
//! outgoing/sent command queues, RTT and throttle statistics. The host drives it; applications
//! only read it through the accessors.
//!
//! Files: `channel.rs` (incoming ordering and dispatch, 7.4-7.6), `fragment.rs` (reassembly),
//! `outgoing.rs` (outgoing commands, acknowledgement removal, retransmission timeouts),
//! `rtt.rs` (round-trip time and packet throttle), `traffic.rs` (bandwidth, counters, packet
//! loss). Related `Peer` fields live in small structs of those files (`peer.rtt.smoothed`,
//! `peer.throttle.value`, `peer.timeouts.next`, ...).

mod channel;
mod fragment;
mod outgoing;
mod rtt;
mod traffic;

use std::collections::VecDeque;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};

use crate::event::DisconnectReason;
use crate::packet::Packet;
use crate::time::EnetTime;
use crate::wire::{PROTOCOL_MAXIMUM_PEER_ID, PROTOCOL_MAXIMUM_WINDOW_SIZE};

pub(crate) use channel::{Channel, IncomingCommand, IncomingKey, IncomingSource, QueueResult};
pub(crate) use fragment::FragmentCheck;
pub(crate) use outgoing::{FragmentFields, OutgoingBody, OutgoingCommand, TimeoutCheck, Timeouts};
pub(crate) use rtt::{RoundTrip, Throttle};
pub(crate) use traffic::{Bandwidth, PacketLoss, Traffic};

/// `PEER_DEFAULT_ROUND_TRIP_TIME`.
pub const PEER_DEFAULT_ROUND_TRIP_TIME: u32 = 500;
/// `PEER_DEFAULT_PACKET_THROTTLE`.
pub const PEER_DEFAULT_PACKET_THROTTLE: u32 = 32;
/// `PEER_PACKET_THROTTLE_SCALE`: the throttle is a fraction x/32.
pub const PEER_PACKET_THROTTLE_SCALE: u32 = 32;
/// `PEER_PACKET_THROTTLE_COUNTER`: step of the unreliable drop counter.
pub const PEER_PACKET_THROTTLE_COUNTER: u32 = 7;
/// `PEER_PACKET_THROTTLE_ACCELERATION`.
pub const PEER_PACKET_THROTTLE_ACCELERATION: u32 = 2;
/// `PEER_PACKET_THROTTLE_DECELERATION`.
pub const PEER_PACKET_THROTTLE_DECELERATION: u32 = 2;
/// `PEER_PACKET_THROTTLE_INTERVAL` in ms.
pub const PEER_PACKET_THROTTLE_INTERVAL: u32 = 5000;
/// `PEER_PACKET_LOSS_SCALE`: packet loss is a fraction x/65536.
pub const PEER_PACKET_LOSS_SCALE: u32 = 65536;
/// `PEER_PACKET_LOSS_INTERVAL` in ms.
pub const PEER_PACKET_LOSS_INTERVAL: u32 = 10_000;
/// `PEER_WINDOW_SIZE_SCALE`: bytes/s of bandwidth per 4096 bytes of window.
pub const PEER_WINDOW_SIZE_SCALE: u32 = 65536;
/// `PEER_TIMEOUT_LIMIT`.
pub const PEER_TIMEOUT_LIMIT: u32 = 32;
/// `PEER_TIMEOUT_MINIMUM` in ms.
pub const PEER_TIMEOUT_MINIMUM: u32 = 5000;
/// `PEER_TIMEOUT_MAXIMUM` in ms.
pub const PEER_TIMEOUT_MAXIMUM: u32 = 30_000;
/// `PEER_PING_INTERVAL` in ms.
pub const PEER_PING_INTERVAL: u32 = 500;
/// `PEER_UNSEQUENCED_WINDOW_SIZE`: bits in the unsequenced duplicate window.
pub const PEER_UNSEQUENCED_WINDOW_SIZE: u32 = 1024;
/// `PEER_FREE_UNSEQUENCED_WINDOWS`.
pub const PEER_FREE_UNSEQUENCED_WINDOWS: u32 = 32;
/// `PEER_RELIABLE_WINDOWS`.
pub const PEER_RELIABLE_WINDOWS: u16 = 16;
/// `PEER_RELIABLE_WINDOW_SIZE`.
pub const PEER_RELIABLE_WINDOW_SIZE: u16 = 0x1000;
/// `PEER_FREE_RELIABLE_WINDOWS`.
pub const PEER_FREE_RELIABLE_WINDOWS: u16 = 8;

/// A peer slot index in a host (0..peer_limit). It is also the peer id the remote puts in the
/// header of every datagram it sends to us.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerId(pub u16);

impl PeerId {
    /// The slot index as a `usize`.
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Display for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "peer#{}", self.0)
    }
}

/// Connection state of a peer slot, with ENet's numbering (protocol description 5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum PeerState {
    /// Slot free.
    Disconnected = 0,
    /// We sent CONNECT and wait for VERIFY_CONNECT.
    Connecting = 1,
    /// We received CONNECT, sent VERIFY_CONNECT and wait for its acknowledgement.
    AcknowledgingConnect = 2,
    /// Server side: handshake done, CONNECT event not delivered yet (unused by this host, which
    /// moves straight to `Connected` and queues the event).
    ConnectionPending = 3,
    /// Client side counterpart of `ConnectionPending` (unused for the same reason).
    ConnectionSucceeded = 4,
    /// Connected.
    Connected = 5,
    /// `disconnect_later` was called; queued outgoing data is still being delivered.
    DisconnectLater = 6,
    /// We sent a reliable DISCONNECT and wait for its acknowledgement.
    Disconnecting = 7,
    /// We received a reliable DISCONNECT; its acknowledgement is queued.
    AcknowledgingDisconnect = 8,
    /// The connection is dead; a DISCONNECT event is queued and the slot ignores all traffic.
    Zombie = 9,
}

impl PeerState {
    /// CONNECTED or DISCONNECT_LATER: the states in which data flows and which count as
    /// connected peers.
    pub const fn is_connected(self) -> bool {
        matches!(self, PeerState::Connected | PeerState::DisconnectLater)
    }
}

/// An acknowledgement waiting to be written (protocol description 6.5).
#[derive(Debug, Clone, Copy)]
pub(crate) struct PendingAck {
    pub(crate) channel_id: u8,
    pub(crate) reliable_sequence_number: u16,
    pub(crate) sent_time: u16,
    pub(crate) command_number: u8,
}

/// A complete packet waiting for the application.
#[derive(Debug, Clone)]
pub(crate) struct Delivered {
    pub(crate) channel: u8,
    pub(crate) packet: Packet,
}

fn unspecified_address() -> SocketAddr {
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0))
}

/// One peer slot: a connection and everything ENet tracks for it.
///
/// Obtained read-only from [`Host::peer`](crate::Host::peer); the host owns and drives it.
/// Related fields are grouped: round-trip time and packet throttle (`rtt.rs`), bandwidth,
/// traffic counters and packet loss (`traffic.rs`), retransmission timeouts (`outgoing.rs`),
/// and below the unsequenced window and the two sides of the handshake.
#[derive(Debug)]
pub struct Peer {
    pub(crate) incoming_peer_id: u16,
    pub(crate) state: PeerState,
    pub(crate) address: SocketAddr,
    pub(crate) outgoing_peer_id: u16,
    pub(crate) incoming_session_id: u8,
    pub(crate) outgoing_session_id: u8,
    pub(crate) connect_id: [u8; 4],
    pub(crate) mtu: u32,
    pub(crate) window_size: u32,
    pub(crate) channels: Vec<Channel>,
    pub(crate) bandwidth: Bandwidth,
    pub(crate) traffic: Traffic,
    pub(crate) loss: PacketLoss,
    pub(crate) rtt: RoundTrip,
    pub(crate) throttle: Throttle,
    pub(crate) timeouts: Timeouts,
    pub(crate) last_send_time: EnetTime,
    pub(crate) last_receive_time: EnetTime,
    pub(crate) ping_interval: u32,
    pub(crate) reliable_data_in_transit: u32,
    /// Counter of the control channel 0xFF (protocol description 4.13).
    pub(crate) outgoing_reliable_sequence_number: u16,
    pub(crate) unsequenced: Unsequenced,
    pub(crate) event_data: u32,
    pub(crate) total_waiting_data: usize,
    pub(crate) acknowledgements: VecDeque<PendingAck>,
    pub(crate) outgoing_commands: VecDeque<OutgoingCommand>,
    pub(crate) outgoing_send_reliable_commands: VecDeque<OutgoingCommand>,
    pub(crate) sent_reliable_commands: VecDeque<OutgoingCommand>,
    pub(crate) dispatched_commands: VecDeque<Delivered>,
    /// Queued in the host's dispatch queue (`PEER_FLAG_NEEDS_DISPATCH`).
    pub(crate) needs_dispatch: bool,
    /// A send pass stopped on a size/count limit (`PEER_FLAG_CONTINUE_SENDING`).
    pub(crate) continue_sending: bool,
    /// A CONNECT event (with its data) is owed to the application.
    pub(crate) connect_event_pending: Option<u32>,
    /// Server side: the half-open state of this peer (`host/handshake.rs`).
    pub(crate) handshake: HalfOpen,
    /// Client side: the addresses of [`Host::connect_any`](crate::Host::connect_any).
    pub(crate) attempt: ConnectAttempt,
    /// Why the peer became a zombie (reported with its DISCONNECT event).
    pub(crate) disconnect_reason: DisconnectReason,
    /// Earliest deadline registered in the host's timer heap (unwrapped host clock).
    pub(crate) timer_registered: Option<u64>,
    /// Queued in the host's list of peers with something to transmit.
    pub(crate) in_send_queue: bool,
}

/// The receiver's window of SEND_UNSEQUENCED groups and the sender's group counter (7.3, 6.1).
#[derive(Debug, Clone, Default)]
pub(crate) struct Unsequenced {
    /// First group of the 1024-group window.
    pub(crate) incoming_group: u16,
    /// Group of the last SEND_UNSEQUENCED queued.
    pub(crate) outgoing_group: u16,
    /// One bit per group of the window received so far.
    pub(crate) window: [u32; (PEER_UNSEQUENCED_WINDOW_SIZE / 32) as usize],
}

/// Server side of the handshake: a half-open peer (`host/handshake.rs`).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct HalfOpen {
    /// When it received its CONNECT.
    pub(crate) started: EnetTime,
    /// When its VERIFY_CONNECT was last (re)queued.
    pub(crate) last_verify_time: EnetTime,
    /// When its client last addressed the slot (a datagram with its peer and session id, from
    /// its address), if it has: a client that got VERIFY_CONNECT and whose acknowledgement was
    /// lost.
    pub(crate) last_heard: Option<EnetTime>,
    /// Channels granted, allocated when it connects.
    pub(crate) channels: usize,
}

/// Client side of the handshake: the further addresses [`Host::connect_any`](crate::Host::connect_any)
/// sends the CONNECT to while CONNECTING.
#[derive(Debug, Clone, Default)]
pub(crate) struct ConnectAttempt {
    /// Addresses still to try, in order.
    pub(crate) candidates: VecDeque<SocketAddr>,
    /// Every address the CONNECT went to; while CONNECTING an answer from any of them is taken,
    /// and the peer keeps the address that answered.
    pub(crate) tried: Vec<SocketAddr>,
    /// When the CONNECT moves on to the next candidate.
    pub(crate) next_time: EnetTime,
}

impl ConnectAttempt {
    /// Forgets the attempt, keeping the lists' memory for the slot's next connection.
    fn clear(&mut self) {
        self.candidates.clear();
        self.tried.clear();
        self.next_time = EnetTime(0);
    }
}

impl Peer {
    pub(crate) fn new(slot: u16, host_mtu: u32) -> Self {
        let mut peer = Peer {
            incoming_peer_id: slot,
            state: PeerState::Disconnected,
            address: unspecified_address(),
            outgoing_peer_id: PROTOCOL_MAXIMUM_PEER_ID,
            incoming_session_id: 0xFF,
            outgoing_session_id: 0xFF,
            connect_id: [0; 4],
            mtu: host_mtu,
            window_size: PROTOCOL_MAXIMUM_WINDOW_SIZE,
            channels: Vec::new(),
            bandwidth: Bandwidth::default(),
            traffic: Traffic::default(),
            loss: PacketLoss::default(),
            rtt: RoundTrip::default(),
            throttle: Throttle::default(),
            timeouts: Timeouts::default(),
            last_send_time: EnetTime(0),
            last_receive_time: EnetTime(0),
            ping_interval: PEER_PING_INTERVAL,
            reliable_data_in_transit: 0,
            outgoing_reliable_sequence_number: 0,
            unsequenced: Unsequenced::default(),
            event_data: 0,
            total_waiting_data: 0,
            acknowledgements: VecDeque::new(),
            outgoing_commands: VecDeque::new(),
            outgoing_send_reliable_commands: VecDeque::new(),
            sent_reliable_commands: VecDeque::new(),
            dispatched_commands: VecDeque::new(),
            needs_dispatch: false,
            continue_sending: false,
            connect_event_pending: None,
            handshake: HalfOpen::default(),
            attempt: ConnectAttempt::default(),
            disconnect_reason: DisconnectReason::Remote,
            timer_registered: None,
            in_send_queue: false,
        };
        peer.reset(host_mtu);
        peer
    }

    /// Back to DISCONNECTED with ENet's reset values (5.1). Session ids and the slot index survive;
    /// host bookkeeping (connected count, queues of the host) is the caller's job.
    pub(crate) fn reset(&mut self, host_mtu: u32) {
        self.state = PeerState::Disconnected;
        self.outgoing_peer_id = PROTOCOL_MAXIMUM_PEER_ID;
        self.connect_id = [0; 4];
        self.mtu = host_mtu;
        self.window_size = PROTOCOL_MAXIMUM_WINDOW_SIZE;
        self.bandwidth = Bandwidth::default();
        self.traffic = Traffic::default();
        self.loss = PacketLoss::default();
        self.rtt = RoundTrip::default();
        self.throttle = Throttle::default();
        self.timeouts = Timeouts::default();
        self.last_send_time = EnetTime(0);
        self.last_receive_time = EnetTime(0);
        self.ping_interval = PEER_PING_INTERVAL;
        self.reliable_data_in_transit = 0;
        self.outgoing_reliable_sequence_number = 0;
        self.unsequenced = Unsequenced::default();
        self.event_data = 0;
        self.total_waiting_data = 0;
        self.needs_dispatch = false;
        self.continue_sending = false;
        self.connect_event_pending = None;
        self.handshake = HalfOpen::default();
        self.attempt.clear();
        self.disconnect_reason = DisconnectReason::Remote;
        self.reset_queues();
        self.channels.clear();
    }

    /// Drops every queued command, acknowledgement and undelivered packet
    /// (`enet_peer_reset_queues`). Channels are emptied but kept.
    pub(crate) fn reset_queues(&mut self) {
        self.acknowledgements.clear();
        self.outgoing_commands.clear();
        self.outgoing_send_reliable_commands.clear();
        self.sent_reliable_commands.clear();
        self.dispatched_commands.clear();
        for channel in &mut self.channels {
            channel.incoming_reliable_commands.clear();
            channel.incoming_unreliable_commands.clear();
        }
        self.reliable_data_in_transit = 0;
        self.total_waiting_data = 0;
    }

    /// Connection state.
    pub fn state(&self) -> PeerState {
        self.state
    }
    /// The remote address (IP and port).
    pub fn address(&self) -> SocketAddr {
        self.address
    }
    /// Smoothed round-trip time in ms.
    pub fn round_trip_time(&self) -> u32 {
        self.rtt.smoothed
    }
    /// Round-trip time variance in ms.
    pub fn round_trip_time_variance(&self) -> u32 {
        self.rtt.variance
    }
    /// Lowest smoothed RTT of the previous throttle interval.
    pub fn last_round_trip_time(&self) -> u32 {
        self.rtt.last
    }
    /// Packet loss as a fraction x/65536 (10-second statistic).
    pub fn packet_loss(&self) -> u32 {
        self.loss.mean
    }
    /// Start of the current packet-loss measurement period.
    pub fn packet_loss_epoch(&self) -> EnetTime {
        self.loss.epoch
    }
    /// Commands sent in the current packet-loss period.
    pub fn packets_sent(&self) -> u32 {
        self.loss.packets_sent
    }
    /// Reliable commands timed out in the current packet-loss period.
    pub fn packets_lost(&self) -> u32 {
        self.loss.packets_lost
    }

    /// Reliable commands sent again after a retransmission timeout since the connection began
    /// (unlike `packets_lost`, never reset by the loss epoch).
    pub fn resends(&self) -> u64 {
        self.traffic.resends
    }

    /// Datagrams sent to and received from this peer since the connection began.
    pub fn datagrams(&self) -> (u64, u64) {
        (self.traffic.datagrams_sent, self.traffic.datagrams_received)
    }

    /// Bytes of those datagrams as the protocol produced and received them (ENet header,
    /// checksum and compressed command area; a DTLS layer below adds its own).
    pub fn wire_bytes(&self) -> (u64, u64) {
        (
            self.traffic.wire_bytes_sent,
            self.traffic.wire_bytes_received,
        )
    }
    /// Highest RTT variance of the previous throttle interval.
    pub fn last_round_trip_time_variance(&self) -> u32 {
        self.rtt.last_variance
    }
    /// The unreliable drop counter (advances by 7 modulo 32 per unreliable packet).
    pub fn packet_throttle_counter(&self) -> u32 {
        self.throttle.counter
    }
    /// Start of the current throttle interval.
    pub fn packet_throttle_epoch(&self) -> EnetTime {
        self.throttle.epoch
    }
    /// Packet loss variance (x/65536).
    pub fn packet_loss_variance(&self) -> u32 {
        self.loss.variance
    }
    /// Share x/32 of unreliable packets sent; also scales the reliable window.
    pub fn packet_throttle(&self) -> u32 {
        self.throttle.value
    }
    /// Upper bound of the packet throttle (set by the host bandwidth throttle).
    pub fn packet_throttle_limit(&self) -> u32 {
        self.throttle.limit
    }
    /// Throttle increase per good RTT sample.
    pub fn packet_throttle_acceleration(&self) -> u32 {
        self.throttle.acceleration
    }
    /// Throttle decrease per bad RTT sample.
    pub fn packet_throttle_deceleration(&self) -> u32 {
        self.throttle.deceleration
    }
    /// Interval in ms over which the lowest RTT is measured for the throttle.
    pub fn packet_throttle_interval(&self) -> u32 {
        self.throttle.interval
    }
    /// Incoming bandwidth the remote announced (bytes/s, 0 = unlimited).
    pub fn incoming_bandwidth(&self) -> u32 {
        self.bandwidth.incoming
    }
    /// Outgoing bandwidth the remote announced (bytes/s, 0 = unlimited).
    pub fn outgoing_bandwidth(&self) -> u32 {
        self.bandwidth.outgoing
    }
    /// Number of channels negotiated for this connection.
    pub fn channel_count(&self) -> usize {
        self.channels.len()
    }
    /// Negotiated MTU.
    pub fn mtu(&self) -> u32 {
        self.mtu
    }
    /// Reliable window in bytes.
    pub fn window_size(&self) -> u32 {
        self.window_size
    }
    /// The connection id (four opaque bytes, as on the wire).
    pub fn connect_id(&self) -> [u8; 4] {
        self.connect_id
    }
    /// Bytes received from this peer since the last bandwidth-throttle tick (ENet semantics).
    pub fn incoming_data_total(&self) -> u32 {
        self.bandwidth.incoming_data_total
    }
    /// Bytes queued toward this peer since the last bandwidth-throttle tick (ENet semantics).
    pub fn outgoing_data_total(&self) -> u32 {
        self.bandwidth.outgoing_data_total
    }
    /// Bytes received from this peer over the whole connection.
    pub fn total_incoming_data(&self) -> u64 {
        self.traffic.total_incoming_data
    }
    /// Bytes queued toward this peer over the whole connection.
    pub fn total_outgoing_data(&self) -> u64 {
        self.traffic.total_outgoing_data
    }
    /// Reliable payload bytes sent and not yet acknowledged.
    pub fn reliable_data_in_transit(&self) -> u32 {
        self.reliable_data_in_transit
    }
    /// Received bytes waiting to be delivered to the application.
    pub fn total_waiting_data(&self) -> usize {
        self.total_waiting_data
    }
    /// Ping interval in ms.
    pub fn ping_interval(&self) -> u32 {
        self.ping_interval
    }
    /// Timeout parameters `(limit, minimum, maximum)`.
    pub fn timeout(&self) -> (u32, u32, u32) {
        (
            self.timeouts.limit,
            self.timeouts.minimum,
            self.timeouts.maximum,
        )
    }
    /// Time of the last acknowledgement received (0 = none yet).
    pub fn last_receive_time(&self) -> EnetTime {
        self.last_receive_time
    }
    /// Time of the last datagram sent.
    pub fn last_send_time(&self) -> EnetTime {
        self.last_send_time
    }
    /// Commands queued and not yet sent.
    pub fn queued_commands(&self) -> usize {
        self.outgoing_commands.len() + self.outgoing_send_reliable_commands.len()
    }
    /// Reliable commands sent and not yet acknowledged.
    pub fn unacknowledged_commands(&self) -> usize {
        self.sent_reliable_commands.len()
    }

    /// Nothing is queued or unacknowledged (the condition `disconnect_later` waits for).
    pub(crate) fn has_no_outgoing(&self) -> bool {
        self.outgoing_commands.is_empty()
            && self.outgoing_send_reliable_commands.is_empty()
            && self.sent_reliable_commands.is_empty()
    }

    /// Source-address check of protocol description 2.4 step 4: the same IP and port, unless
    /// this peer was connected to the IPv4 broadcast address.
    pub(crate) fn accepts_address(&self, from: SocketAddr) -> bool {
        match self.address.ip() {
            IpAddr::V4(ip) if ip == Ipv4Addr::BROADCAST => true,
            _ => {
                self.address == from
                    || (self.state == PeerState::Connecting && self.attempt.tried.contains(&from))
            }
        }
    }
}

/// Window size from two bandwidths (protocol description 9.4): both 0 → maximum; one 0 → from
/// the other; else from the smaller. Clamped to the protocol window limits.
pub(crate) fn window_from_bandwidths(a: u32, b: u32) -> u32 {
    let w = if a == 0 && b == 0 {
        crate::wire::PROTOCOL_MAXIMUM_WINDOW_SIZE
    } else if a == 0 || b == 0 {
        (a.max(b) / PEER_WINDOW_SIZE_SCALE).wrapping_mul(crate::wire::PROTOCOL_MINIMUM_WINDOW_SIZE)
    } else {
        (a.min(b) / PEER_WINDOW_SIZE_SCALE).wrapping_mul(crate::wire::PROTOCOL_MINIMUM_WINDOW_SIZE)
    };
    clamp_window(w)
}

/// Window size from one bandwidth (0 = unlimited).
pub(crate) fn window_from_bandwidth(bandwidth: u32) -> u32 {
    if bandwidth == 0 {
        crate::wire::PROTOCOL_MAXIMUM_WINDOW_SIZE
    } else {
        clamp_window(
            (bandwidth / PEER_WINDOW_SIZE_SCALE)
                .wrapping_mul(crate::wire::PROTOCOL_MINIMUM_WINDOW_SIZE),
        )
    }
}

pub(crate) fn clamp_window(w: u32) -> u32 {
    w.clamp(
        crate::wire::PROTOCOL_MINIMUM_WINDOW_SIZE,
        crate::wire::PROTOCOL_MAXIMUM_WINDOW_SIZE,
    )
}

/// Reliable window test of the receiver (protocol description 7.2): `seq` lies in the 7 windows
/// starting at the one holding `current` (the last delivered sequence number).
pub(crate) fn in_receive_window(seq: u16, current: u16) -> bool {
    let mut w = seq / PEER_RELIABLE_WINDOW_SIZE;
    let c = current / PEER_RELIABLE_WINDOW_SIZE;
    if seq < current {
        w += PEER_RELIABLE_WINDOWS;
    }
    w >= c && w < c + PEER_FREE_RELIABLE_WINDOWS - 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receive_window_spans_seven_windows_and_wraps() {
        assert!(in_receive_window(1, 0));
        assert!(in_receive_window(7 * 4096 - 1, 0));
        assert!(!in_receive_window(7 * 4096, 0));
        // Behind the last delivered number: treated as 16 windows ahead, so outside.
        assert!(!in_receive_window(5, 10));
        // Across the wrap.
        assert!(in_receive_window(3, 65_000));
        assert!(!in_receive_window(65_000 - 4096 * 2, 65_000));
    }

    #[test]
    fn windows_follow_bandwidths() {
        assert_eq!(window_from_bandwidths(0, 0), 65536);
        assert_eq!(window_from_bandwidths(100_000, 0), 4096);
        assert_eq!(window_from_bandwidths(0, 1 << 30), 65536);
        assert_eq!(window_from_bandwidths(50_000, 200_000), 4096);
        assert_eq!(window_from_bandwidth(0), 65536);
        assert_eq!(window_from_bandwidth(100_000), 4096);
    }
}
