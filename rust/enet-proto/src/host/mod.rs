//! The ENet host: a table of peer slots driven as a sans-IO state machine.
//!
//! [`Host`] and its constructor live here; its methods are spread over files by concern:
//! - inputs: `receive/` (datagrams, one handler per command), `timer.rs` (`handle_timeout`, the
//!   timer heap), `bandwidth.rs` (the once-a-second bandwidth throttle);
//! - outputs: `send.rs` (`poll_transmit`, the send pass), `events.rs` (`poll_event`);
//! - commands from the application: `connect.rs`, `outgoing.rs` (`send`, `broadcast`, `ping` and
//!   the queueing of every outgoing command), `disconnect.rs`, `settings.rs`;
//! - bookkeeping: `slots.rs` (slot allocation and state changes), `handshake.rs` (half-open
//!   peers of a server), `reassembly.rs` (prefaulting of large reassembly buffers);
//! - `inspect.rs`: read access and the invariant check; `config.rs`: configuration, errors,
//!   statistics.

mod bandwidth;
mod config;
mod connect;
mod disconnect;
mod events;
mod handshake;
mod inspect;
mod outgoing;
mod reassembly;
mod receive;
mod send;
mod settings;
mod slots;
mod timer;

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap, VecDeque};
use std::fmt;
use std::net::{IpAddr, SocketAddr};

use crate::compress::Compressor;
use crate::peer::Peer;
use crate::rng::SplitMix64;
use crate::time::EnetTime;
use crate::wire::{
    PROTOCOL_MAXIMUM_CHANNEL_COUNT, PROTOCOL_MAXIMUM_MTU, PROTOCOL_MAXIMUM_PEER_ID,
    PROTOCOL_MINIMUM_MTU,
};

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
///   `maximum_packet_size` is disconnected with [`DisconnectReason::ProtocolViolation`](crate::DisconnectReason::ProtocolViolation) (and an
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
    /// Every connected peer's packet throttle limit was at the full scale after the last
    /// throttle pass (a new peer starts there).
    pub(crate) throttle_limits_full: bool,
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
            throttle_limits_full: true,
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
}

/// The channel limit of [`HostConfig::channel_limit`] and [`Host::set_channel_limit`]: 0 or
/// above 255 means 255.
fn clamp_channel_limit(limit: usize) -> usize {
    if limit == 0 || limit > PROTOCOL_MAXIMUM_CHANNEL_COUNT {
        PROTOCOL_MAXIMUM_CHANNEL_COUNT
    } else {
        limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Event;

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
