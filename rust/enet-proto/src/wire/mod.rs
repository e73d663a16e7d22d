//! The ENet 1.3 wire format: datagram header, optional checksum, and the twelve commands.
//!
//! Representations are plain structs and enums; `parse` checks every length before it reads,
//! `emit` writes into a caller-provided buffer. Multi-byte fields are big-endian except
//! `connect_id`, which ENet copies verbatim and which is kept here as four opaque bytes.
//!
//! This module is the contract shared by the host state machine, the fuzz targets and the tests:
//! `header.rs` for the datagram header, `command.rs` for commands.

mod command;
mod header;

pub use command::{
    Command, CommandHeader, CommandIter, CommandNumber, Connect, Fragment, ParseError,
    VerifyConnect, command_size,
};
pub use header::{DatagramHeader, HeaderError};

/// `ENET_PROTOCOL_MINIMUM_MTU`: MTU values received are clamped up to this.
pub const PROTOCOL_MINIMUM_MTU: u32 = 576;
/// `ENET_PROTOCOL_MAXIMUM_MTU`: MTU values received are clamped down to this; receive buffer size.
pub const PROTOCOL_MAXIMUM_MTU: u32 = 4096;
/// `ENET_PROTOCOL_MAXIMUM_PACKET_COMMANDS`: commands a sender packs into one datagram at most.
pub const PROTOCOL_MAXIMUM_PACKET_COMMANDS: usize = 32;
/// `ENET_PROTOCOL_MINIMUM_WINDOW_SIZE`.
pub const PROTOCOL_MINIMUM_WINDOW_SIZE: u32 = 4096;
/// `ENET_PROTOCOL_MAXIMUM_WINDOW_SIZE`.
pub const PROTOCOL_MAXIMUM_WINDOW_SIZE: u32 = 65536;
/// `ENET_PROTOCOL_MINIMUM_CHANNEL_COUNT`.
pub const PROTOCOL_MINIMUM_CHANNEL_COUNT: usize = 1;
/// `ENET_PROTOCOL_MAXIMUM_CHANNEL_COUNT`: data channels are 0..=254.
pub const PROTOCOL_MAXIMUM_CHANNEL_COUNT: usize = 255;
/// `ENET_PROTOCOL_MAXIMUM_PEER_ID`: also the "remote peer id not known yet" marker.
pub const PROTOCOL_MAXIMUM_PEER_ID: u16 = 0x0FFF;
/// `ENET_PROTOCOL_MAXIMUM_FRAGMENT_COUNT`.
pub const PROTOCOL_MAXIMUM_FRAGMENT_COUNT: u32 = 1024 * 1024;
/// Channel id of connection-control commands (CONNECT, VERIFY_CONNECT, DISCONNECT, PING, ...).
pub const CONTROL_CHANNEL: u8 = 0xFF;

/// Command byte bit 7: the command is reliable and must be acknowledged.
pub const COMMAND_FLAG_ACKNOWLEDGE: u8 = 0x80;
/// Command byte bit 6: set on SEND_UNSEQUENCED and on unreliable DISCONNECTs.
pub const COMMAND_FLAG_UNSEQUENCED: u8 = 0x40;
/// Low nibble of the command byte: the command number.
pub const COMMAND_MASK: u8 = 0x0F;

/// Header bit 15: the 2-byte `sentTime` field follows.
pub const HEADER_FLAG_SENT_TIME: u16 = 0x8000;
/// Header bit 14: the command area is compressed.
pub const HEADER_FLAG_COMPRESSED: u16 = 0x4000;
/// Header bits 12-13: session id.
pub const HEADER_SESSION_MASK: u16 = 0x3000;
/// Shift of the session id within the header's first field.
pub const HEADER_SESSION_SHIFT: u16 = 12;

/// Size of the checksum that follows the header when a host uses checksums.
pub const CHECKSUM_SIZE: usize = 4;
