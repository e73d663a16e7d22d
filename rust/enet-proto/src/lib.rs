//! Sans-IO ENet 1.3 protocol core.
//!
//! This crate is the layer where protocol correctness lives. It never touches a socket, never
//! reads a clock and never spawns a thread: the caller passes the current [`EnetTime`] into every
//! input and drains the outputs. See [`Host`] for the driving contract.
//!
//! - [`wire`]: parse and emit every ENet datagram header and command, byte-compatible with
//!   ENet 1.3.17/1.3.18.
//! - [`compress`]: ENet's range coder, Godot's FastLZ/zlib/zstd codecs and the CRC-32 checksum.
//! - [`host`]/[`peer`]: the host state machine and per-peer state (handshake, reliability,
//!   fragmentation, throttling, bandwidth).
#![forbid(unsafe_code)]

#[macro_use]
mod macros;

pub mod compress;
pub mod event;
pub mod host;
pub mod packet;
pub mod peer;
pub mod rng;
pub mod time;
pub mod wire;

pub use event::{DisconnectReason, Event, ProtocolViolation};
pub use host::{
    CONNECT_ATTEMPT_DELAY, ConnectError, ConnectFilter, Host, HostConfig, HostError,
    HostStatistics, SendError, Transmit,
};
pub use packet::{Packet, PacketFlags};
pub use peer::{Peer, PeerId, PeerState};
pub use time::EnetTime;
