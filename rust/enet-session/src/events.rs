//! What a [`Session`](crate::Session) reports: received packets, events, failures.

use std::fmt;
use std::io;
use std::net::SocketAddr;

use bytes::Bytes;
use rust_enet_net::ServiceThreadPanicked;
use rust_enet_proto::{Packet, PeerId, SendError};

use crate::mapping::{EnetChannel, Transfer};
use crate::reason::LeaveReason;
use crate::traversal::Failure;

/// A received packet waiting for `get_packet`.
#[derive(Debug)]
pub struct Incoming {
    pub from: i32,
    pub channel: EnetChannel,
    pub transfer: Transfer,
    pub data: Bytes,
}

impl Incoming {
    /// `packet`, received from peer `from` on ENet channel `channel`.
    pub fn new(from: i32, channel: u8, packet: Packet) -> Incoming {
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
pub enum HostKey {
    Main,
    Mesh(i32),
}

/// What a poll tells the multiplayer API, in order.
#[derive(Debug)]
pub enum SessionEvent {
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
    /// A server registered with its rendezvous server: `id` is what joiners enter.
    Registered { id: String },
    /// The rendezvous traversal failed (a client's connection fails with it; a server goes on
    /// serving who is connected, and cannot be found by its id any more).
    RendezvousFailed(Failure),
    /// The session is over, without a signal: the client's connection ended or failed, or a
    /// host failed (with the failure). The caller closes the session.
    Ended(Option<HostFailure>),
}

impl HostFailure {
    /// A host's `service` error: a failed service thread's panic, or the socket's error.
    pub fn of_io(error: io::Error) -> HostFailure {
        match error
            .get_ref()
            .and_then(|e| e.downcast_ref::<ServiceThreadPanicked>())
        {
            Some(panicked) => HostFailure::Internal(panicked.to_string()),
            None => HostFailure::Socket(error),
        }
    }

    /// The reason every connection of the failed host ended.
    pub fn reason(&self) -> LeaveReason {
        match self {
            HostFailure::Socket(e) => LeaveReason::Socket(e.to_string()),
            HostFailure::Dtls(reason) => LeaveReason::Dtls(reason.clone()),
            HostFailure::Internal(reason) => LeaveReason::Internal(reason.clone()),
        }
    }
}

/// Why a host cannot go on; Godot reports it as `EVENT_ERROR` from `service()`.
#[derive(Debug)]
pub enum HostFailure {
    Socket(io::Error),
    /// The client's DTLS session failed (with OpenSSL's reason) or was closed.
    Dtls(String),
    /// The host's service thread failed (a panic, with its message).
    Internal(String),
}

impl fmt::Display for HostFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostFailure::Socket(e) => write!(f, "socket error: {e}"),
            HostFailure::Dtls(reason) => write!(f, "the DTLS session failed: {reason}"),
            HostFailure::Internal(reason) => write!(f, "internal error: {reason}"),
        }
    }
}

/// The session's connection status (a closed session is no session).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Connecting,
    Connected,
}

/// Why `put` sent nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutError {
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
pub enum SendFailure {
    /// The peer's connection was reset or dropped by a script.
    Inactive,
    /// Its host was destroyed.
    HostDestroyed,
    /// The core refused the packet (no such channel, too large...).
    Refused { channel: u8, error: SendError },
}

/// Why `add_mesh_peer` refused a host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MeshError {
    NotMesh,
    /// The host is destroyed, or has not exactly one peer, in the connected state.
    InvalidHost,
}

/// What `disconnect_peer` leaves to the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disconnected {
    /// The peer stays until its disconnect completes (or is gone at once when forced).
    Started,
    /// A forced disconnect of a client's server: the caller closes the session.
    CloseClient,
}

/// What the end of a poll, or a `put`, asks of the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterPoll {
    Nothing,
    /// Make sure [`Session::flush_all`](crate::Session::flush_all) runs at the end of the
    /// frame (asked once per frame).
    FrameFlush,
}
