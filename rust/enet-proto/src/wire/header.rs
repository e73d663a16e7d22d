//! The datagram header: peer id, session bits, flags and the optional sent time.

use thiserror::Error;

/// The protocol header that starts every ENet datagram (2 or 4 bytes; the optional checksum that
/// may follow it is handled by the host, not here).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DatagramHeader {
    /// The receiver's slot index for this connection, or `PROTOCOL_MAXIMUM_PEER_ID` (0xFFF).
    pub peer_id: u16,
    /// Two-bit session id (0..=3).
    pub session_id: u8,
    /// The command area is compressed (`HEADER_FLAG_COMPRESSED`).
    pub compressed: bool,
    /// Low 16 bits of the sender's service time, present iff a reliable command is inside.
    pub sent_time: Option<u16>,
}

/// Why a datagram header could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum HeaderError {
    /// Fewer bytes than the header (and the flagged optional fields) needs.
    #[error("datagram of {len} bytes is shorter than its {needed}-byte header")]
    Truncated { len: usize, needed: usize },
}

impl DatagramHeader {
    /// Wire size of this header: 4 with a sent time, else 2.
    pub const fn len(&self) -> usize {
        if self.sent_time.is_some() { 4 } else { 2 }
    }
}
