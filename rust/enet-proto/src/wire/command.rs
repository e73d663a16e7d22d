//! ENet commands: the 4-byte command header plus the twelve command bodies.

use thiserror::Error;

/// ENet's command numbers (low nibble of the command byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum CommandNumber {
    Acknowledge = 1,
    Connect = 2,
    VerifyConnect = 3,
    Disconnect = 4,
    Ping = 5,
    SendReliable = 6,
    SendUnreliable = 7,
    SendFragment = 8,
    SendUnsequenced = 9,
    BandwidthLimit = 10,
    ThrottleConfigure = 11,
    SendUnreliableFragment = 12,
}

/// The 4-byte header shared by every command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandHeader {
    /// The full command byte: number in the low nibble, `COMMAND_FLAG_ACKNOWLEDGE` /
    /// `COMMAND_FLAG_UNSEQUENCED` in the high bits.
    pub command: u8,
    /// Data channel 0..=254, or `CONTROL_CHANNEL` (0xFF).
    pub channel_id: u8,
    /// Meaning depends on the command (ENet protocol description 6.1).
    pub reliable_sequence_number: u16,
}

/// CONNECT body (48 bytes with the header).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Connect {
    pub outgoing_peer_id: u16,
    pub incoming_session_id: u8,
    pub outgoing_session_id: u8,
    pub mtu: u32,
    pub window_size: u32,
    pub channel_count: u32,
    pub incoming_bandwidth: u32,
    pub outgoing_bandwidth: u32,
    pub packet_throttle_interval: u32,
    pub packet_throttle_acceleration: u32,
    pub packet_throttle_deceleration: u32,
    /// Opaque bytes, never byte-swapped; also the checksum seed.
    pub connect_id: [u8; 4],
    pub data: u32,
}

/// VERIFY_CONNECT body (44 bytes with the header): CONNECT without `data`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifyConnect {
    pub outgoing_peer_id: u16,
    pub incoming_session_id: u8,
    pub outgoing_session_id: u8,
    pub mtu: u32,
    pub window_size: u32,
    pub channel_count: u32,
    pub incoming_bandwidth: u32,
    pub outgoing_bandwidth: u32,
    pub packet_throttle_interval: u32,
    pub packet_throttle_acceleration: u32,
    pub packet_throttle_deceleration: u32,
    pub connect_id: [u8; 4],
}

/// SEND_FRAGMENT / SEND_UNRELIABLE_FRAGMENT body (24 bytes with the header) and its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fragment<'a> {
    /// Reliable: the reliable sequence number of fragment 0. Unreliable: the unreliable sequence
    /// number shared by all fragments of the packet.
    pub start_sequence_number: u16,
    pub fragment_count: u32,
    pub fragment_number: u32,
    pub total_length: u32,
    pub fragment_offset: u32,
    pub data: &'a [u8],
}

/// One parsed command body. Payloads borrow from the datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command<'a> {
    Acknowledge { received_reliable_sequence_number: u16, received_sent_time: u16 },
    Connect(Connect),
    VerifyConnect(VerifyConnect),
    Disconnect { data: u32 },
    Ping,
    SendReliable { data: &'a [u8] },
    SendUnreliable { unreliable_sequence_number: u16, data: &'a [u8] },
    SendFragment(Fragment<'a>),
    SendUnsequenced { unsequenced_group: u16, data: &'a [u8] },
    BandwidthLimit { incoming_bandwidth: u32, outgoing_bandwidth: u32 },
    ThrottleConfigure {
        packet_throttle_interval: u32,
        packet_throttle_acceleration: u32,
        packet_throttle_deceleration: u32,
    },
    SendUnreliableFragment(Fragment<'a>),
}

/// Why parsing of a command area stopped. ENet stops at the first bad command and keeps the
/// effects of the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum ParseError {
    /// Fewer than 4 bytes left, or fewer than the command's fixed size.
    #[error("command truncated at offset {offset}")]
    Truncated { offset: usize },
    /// Command number 0 or >= 13.
    #[error("unknown command number {number} at offset {offset}")]
    UnknownCommand { number: u8, offset: usize },
    /// A `dataLength` that runs past the end of the datagram.
    #[error("payload of {len} bytes overruns the datagram at offset {offset}")]
    PayloadOverrun { len: usize, offset: usize },
}

/// Wire size of a command (header included, payload excluded), or `None` for numbers 0 and >= 13.
pub const fn command_size(number: u8) -> Option<usize> {
    match number {
        1 => Some(8),
        2 => Some(48),
        3 => Some(44),
        4 => Some(8),
        5 => Some(4),
        6 => Some(6),
        7 => Some(8),
        8 => Some(24),
        9 => Some(8),
        10 => Some(12),
        11 => Some(16),
        12 => Some(24),
        _ => None,
    }
}

/// Iterator over the commands of a command area, yielding `Err` once and then ending.
#[derive(Debug, Clone)]
pub struct CommandIter<'a> {
    pub(crate) data: &'a [u8],
    pub(crate) pos: usize,
    pub(crate) done: bool,
}
