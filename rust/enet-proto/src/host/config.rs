//! Host configuration, errors, statistics and the transmit descriptor.

use std::fmt;
use std::net::SocketAddr;

use thiserror::Error;

use super::{
    HOST_DEFAULT_DUPLICATE_PEERS, HOST_DEFAULT_HANDSHAKE_LIMIT, HOST_DEFAULT_MAXIMUM_PACKET_SIZE,
    HOST_DEFAULT_MAXIMUM_WAITING_DATA, HOST_DEFAULT_MTU,
};
use crate::compress::Compressor;
use crate::wire::PROTOCOL_MAXIMUM_CHANNEL_COUNT;

struct_with_defaults! {
    /// Host parameters (protocol description 10). [`Default`] gives ENet's defaults with 32 slots.
    pub struct HostConfig {
        /// Peer slots, 1..=4095.
        pub peer_limit: usize = 32,
        /// Channels granted to incoming connections at most; 0 means 255.
        pub channel_limit: usize = PROTOCOL_MAXIMUM_CHANNEL_COUNT,
        /// Incoming bandwidth in bytes/s, 0 = unlimited.
        pub incoming_bandwidth: u32 = 0,
        /// Outgoing bandwidth in bytes/s, 0 = unlimited.
        pub outgoing_bandwidth: u32 = 0,
        /// MTU offered to new connections, 576..=4096 (ENet default 1392).
        pub mtu: u32 = HOST_DEFAULT_MTU,
        /// Append a CRC-32 to every datagram (both ends must agree).
        pub checksum: bool = false,
        /// Datagram compressor (both ends must agree).
        pub compressor: Option<Box<dyn Compressor + Send>> = None,
        /// Largest packet sent or accepted.
        pub maximum_packet_size: usize = HOST_DEFAULT_MAXIMUM_PACKET_SIZE,
        /// Largest amount of received, undelivered data per peer before new data is refused.
        pub maximum_waiting_data: usize = HOST_DEFAULT_MAXIMUM_WAITING_DATA,
        /// Simultaneous connections allowed from one IP address.
        pub duplicate_peers: usize = HOST_DEFAULT_DUPLICATE_PEERS,
        /// Seed of the host's PRNG (connect ids). The core never reads global randomness: the
        /// default is the fixed [`HostConfig::DEFAULT_SEED`], for reproducible tests, which a
        /// driver replaces with OS entropy (`rust_enet_net::UdpHost::bind` does; pass any other
        /// value there to get reproducible connect ids).
        pub seed: u64 = HostConfig::DEFAULT_SEED,
        /// Answer a CONNECT this host will not take (full, too many from one address, refused by
        /// the [connect filter](super::Host::set_connect_filter)) with one unreliable DISCONNECT
        /// to the connecting peer, so its attempt ends within a round trip (C ENet 1.3.x and
        /// Godot clients report a failed connection) instead of after ENet's connect timeout. The
        /// answer is 10 bytes (14 with checksums) to a CONNECT of at least 52: never an
        /// amplifier. `false` is C ENet's behaviour: refused CONNECTs get no answer.
        pub answer_refused_connects: bool = true,
        /// Half-open peers (VERIFY_CONNECT sent, not yet acknowledged) at most, in slots of their
        /// own beyond `peer_limit` as far as the 4095 peer ids allow (see `host/handshake.rs`); at
        /// least 1. When they are all taken, the oldest makes room for a new CONNECT.
        pub handshake_limit: usize = HOST_DEFAULT_HANDSHAKE_LIMIT,
    }
}

impl HostConfig {
    /// The default [`seed`](Self::seed): "no seed chosen" for a driver, which then seeds the
    /// host from the OS.
    pub const DEFAULT_SEED: u64 = 0x5EED_E4E7;
}

impl fmt::Debug for HostConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HostConfig")
            .field("peer_limit", &self.peer_limit)
            .field("channel_limit", &self.channel_limit)
            .field("incoming_bandwidth", &self.incoming_bandwidth)
            .field("outgoing_bandwidth", &self.outgoing_bandwidth)
            .field("mtu", &self.mtu)
            .field("checksum", &self.checksum)
            .field("compressor", &self.compressor.is_some())
            .field("maximum_packet_size", &self.maximum_packet_size)
            .field("maximum_waiting_data", &self.maximum_waiting_data)
            .field("duplicate_peers", &self.duplicate_peers)
            .field("seed", &self.seed)
            .field("answer_refused_connects", &self.answer_refused_connects)
            .field("handshake_limit", &self.handshake_limit)
            .finish()
    }
}

/// Why a host could not be created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum HostError {
    /// `peer_limit` outside 1..=4095.
    #[error("peer limit {0} outside 1..=4095")]
    InvalidPeerLimit(usize),
    /// `mtu` outside 576..=4096.
    #[error("mtu {0} outside 576..=4096")]
    InvalidMtu(u32),
}

/// Why `connect` failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum ConnectError {
    /// Every slot is in use.
    #[error("no free peer slot")]
    NoFreeSlot,
    /// [`Host::connect_any`](super::Host::connect_any) was given no address.
    #[error("no address to connect to")]
    NoAddress,
}

/// Why `send` failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum SendError {
    /// The peer id names no slot of this host.
    #[error("no such peer")]
    InvalidPeer,
    /// The peer is not in the CONNECTED state.
    #[error("peer is not connected")]
    NotConnected,
    /// The channel is beyond the connection's channel count.
    #[error("channel out of range")]
    ChannelOutOfRange,
    /// The packet exceeds `maximum_packet_size` or needs more than 1048576 fragments.
    #[error("packet too large")]
    PacketTooLarge,
}

/// Traffic counters (ENet semantics for the four totals) and drop counters by reason.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostStatistics {
    /// Bytes of datagrams produced by `poll_transmit`.
    pub total_sent_data: u64,
    /// Datagrams produced by `poll_transmit`.
    pub total_sent_packets: u64,
    /// Bytes of datagrams passed to `handle_datagram`.
    pub total_received_data: u64,
    /// Datagrams passed to `handle_datagram`.
    pub total_received_packets: u64,
    /// Datagrams larger than 4096 bytes.
    pub dropped_oversized: u64,
    /// Datagrams too short for their header (and checksum).
    pub dropped_malformed: u64,
    /// Datagrams whose checksum did not match.
    pub dropped_bad_checksum: u64,
    /// Datagrams for a slot that does not exist, is free or dead, or belongs to another address.
    pub dropped_unknown_peer: u64,
    /// Datagrams whose session id does not match the slot's current connection.
    pub dropped_session_mismatch: u64,
    /// Compressed datagrams without a compressor configured.
    pub dropped_no_decompressor: u64,
    /// Compressed datagrams that failed to decompress.
    pub dropped_decompress_failed: u64,
    /// Datagrams whose command area stopped on a malformed command (earlier commands were kept).
    pub malformed_commands: u64,
    /// Datagrams without a peer whose first command is not CONNECT.
    pub dropped_not_connect: u64,
    /// Reliable commands in a datagram without a sent time.
    pub missing_sent_time: u64,
    /// Commands refused as ENet refuses them (wrong state, waiting-data limit, ...): the rest of
    /// the datagram is skipped and nothing is acknowledged.
    pub commands_refused: u64,
    /// CONNECTs refused (host full, duplicate, too many peers from one address, bad channels).
    pub connects_refused: u64,
    /// DISCONNECTs sent in answer to refused CONNECTs
    /// ([`HostConfig::answer_refused_connects`]).
    pub refusals_sent: u64,
    /// Refusals not sent because [`MAXIMUM_PENDING_REFUSALS`](super::MAXIMUM_PENDING_REFUSALS)
    /// were already waiting for `poll_transmit` (a flood).
    pub refusals_dropped: u64,
    /// Half-open peers dropped to make room for a newer handshake (a CONNECT flood).
    pub handshakes_evicted: u64,
    /// Half-open peers dropped because no acknowledgement came within their lifetime.
    pub handshakes_expired: u64,
    /// VERIFY_CONNECTs sent again (for a retransmitted CONNECT or a lost acknowledgement).
    pub handshake_resends: u64,
    /// Peers disconnected for breaking the protocol.
    pub protocol_violations: u64,
    /// Reliable commands sent again because no acknowledgement came in time (every peer's
    /// [`Peer::resends`](crate::Peer::resends), including peers gone since).
    pub resends: u64,
}

/// A datagram to send, produced by [`Host::poll_transmit`](super::Host::poll_transmit) into the caller's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transmit {
    /// Where to send it.
    pub destination: SocketAddr,
    /// Bytes written at the start of the buffer.
    pub len: usize,
}
