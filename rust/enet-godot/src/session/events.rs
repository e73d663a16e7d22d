//! What a [`Session`](super::Session) reports: received packets, events, failures.

use std::fmt;
use std::io;
use std::net::SocketAddr;

use bytes::Bytes;
use rust_enet_proto::{Packet, PeerId, SendError};

use super::mapping::{EnetChannel, Transfer};
use super::reason::LeaveReason;

/// A received packet waiting for `get_packet`.
#[derive(Debug)]
pub(crate) struct Incoming {
    pub from: i32,
    pub channel: EnetChannel,
    pub transfer: Transfer,
    pub data: Bytes,
}

impl Incoming {
    /// `packet`, received from peer `from` on ENet channel `channel`.
    pub(crate) fn new(from: i32, channel: u8, packet: Packet) -> Incoming {
        Incoming {
            from,
            channel: EnetChannel(channel),
            transfer: Transfer::of_flags(packet.flags),
            data: packet.data,
        }
    }
}

/// Which of the session's hosts: the server's or client's, or a mesh peer's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HostKey {
    Main,
    Mesh(i32),
}

/// What a poll tells the multiplayer API, in order.
#[derive(Debug)]
pub(crate) enum SessionEvent {
    /// `peer_connected(id)`; on a client, the server answered and the status is CONNECTED.
    Connected {
        id: i32,
        host: HostKey,
        slot: PeerId,
    },
    /// A connection of `slot` ended. `id`: the peer to report with `peer_disconnected`, or
    /// `None` when it was not (or no longer) one of the session's peers.
    Disconnected {
        id: Option<i32>,
        host: HostKey,
        slot: PeerId,
        reason: LeaveReason,
        /// The remote's address, when the session knew the connection.
        address: Option<SocketAddr>,
    },
    /// The session is over, without a signal: the client's connection ended or failed, or a
    /// host failed (with the failure). The caller closes the session.
    Ended(Option<HostFailure>),
}

impl HostFailure {
    /// The same as a reason a client's connection ended.
    pub(crate) fn reason(&self) -> LeaveReason {
        match self {
            HostFailure::Socket(e) => LeaveReason::Socket(e.to_string()),
            HostFailure::Dtls(reason) => LeaveReason::Dtls(reason.clone()),
        }
    }
}

/// Why a host cannot go on; Godot reports it as `EVENT_ERROR` from `service()`.
#[derive(Debug)]
pub(crate) enum HostFailure {
    Socket(io::Error),
    /// The client's DTLS session failed (with OpenSSL's reason) or was closed.
    Dtls(String),
}

impl fmt::Display for HostFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostFailure::Socket(e) => write!(f, "socket error: {e}"),
            HostFailure::Dtls(reason) => write!(f, "the DTLS session failed: {reason}"),
        }
    }
}

/// The session's connection status (a closed session is no session).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    Connecting,
    Connected,
}

/// Why `put` sent nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PutError {
    /// A client still connecting.
    NotConnected,
    /// The target names a peer the session does not have.
    InvalidTarget,
    /// A client without its server peer.
    NoServerPeer,
    /// A user channel beyond ENet's 255 channels.
    ChannelOutOfRange,
}

/// A send to one peer that failed (the others of the same `put` went ahead).
#[derive(Debug)]
pub(crate) enum SendFailure {
    /// The peer's connection was reset or dropped by a script.
    Inactive,
    /// Its host was destroyed.
    HostDestroyed,
    /// The core refused the packet (no such channel, too large...).
    Refused { channel: u8, error: SendError },
    /// An immediate flush failed.
    Flush(io::Error),
}

/// Why `add_mesh_peer` refused a host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MeshError {
    NotMesh,
    /// The host is destroyed, or has not exactly one peer, in the connected state.
    InvalidHost,
}

/// What `disconnect_peer` leaves to the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Disconnected {
    /// The peer stays until its disconnect completes (or is gone at once when forced).
    Started,
    /// A forced disconnect of a client's server: the caller closes the session.
    CloseClient,
}

/// What the end of a poll asks of the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AfterPoll {
    Nothing,
    /// Make sure [`Session::flush_all`](super::Session::flush_all) runs at the end of the frame.
    ScheduleFlush,
}
