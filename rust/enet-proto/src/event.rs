//! What the host reports to the application.

use crate::packet::Packet;
use crate::peer::PeerId;
use thiserror::Error;

/// An event from [`Host::poll_event`](crate::Host::poll_event).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A connection completed. On the server side `data` is the value the client passed to
    /// `connect`; on the client side it is 0.
    Connect { peer: PeerId, data: u32 },
    /// A connection ended. The slot is free again once this event has been returned, so `peer`
    /// may be reused by a later connection.
    Disconnect {
        peer: PeerId,
        data: u32,
        reason: DisconnectReason,
    },
    /// A packet arrived on `channel`.
    Receive {
        peer: PeerId,
        channel: u8,
        packet: Packet,
    },
}

/// Why a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisconnectReason {
    /// The remote sent DISCONNECT (graceful or immediate), or dropped the handshake after
    /// answering it.
    Remote,
    /// The remote answered our CONNECT with a DISCONNECT: it is full, refuses new connections,
    /// or refused what the CONNECT carried (a rust_enet server, or any ENet host that answers
    /// refusals; a C ENet server stays silent and the attempt times out).
    Refused,
    /// Our [`Host::disconnect`](crate::Host::disconnect) (or `disconnect_later`) completed: the
    /// remote acknowledged our DISCONNECT.
    Local,
    /// The remote stopped acknowledging (retransmission limits of ENet protocol description 8.6),
    /// including a CONNECT that was never answered.
    Timeout,
    /// The remote broke the protocol; the connection was dropped locally and an unreliable
    /// DISCONNECT was sent to it.
    ProtocolViolation(ProtocolViolation),
}

/// The protocol rule a remote peer broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum ProtocolViolation {
    /// VERIFY_CONNECT with an invalid channel count or with throttle values or a connect id that
    /// differ from our CONNECT.
    #[error("verify-connect does not match our connect")]
    VerifyConnectMismatch,
    /// A data command named a channel the connection does not have.
    #[error("command on channel {channel} beyond the negotiated channel count")]
    ChannelOutOfRange { channel: u8 },
    /// A data command's length exceeds the maximum packet size or runs past the datagram.
    #[error("data length out of bounds")]
    BadDataLength,
    /// Fragment fields (count, number, offset, total length) are inconsistent.
    #[error("invalid fragment fields")]
    BadFragment,
    /// A fragment does not match the packet it claims to belong to.
    #[error("fragment does not match its packet")]
    FragmentMismatch,
}
