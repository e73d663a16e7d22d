//! Why a connection ended, as scripts read it (`get_disconnect_reason`).

use std::fmt;

use rust_enet_proto::{DisconnectReason, ProtocolViolation};

use crate::traversal::Failure;

/// Why a peer left (or a client never got in).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaveReason {
    /// The remote disconnected, sending `data`.
    Remote { data: u32 },
    /// The remote stopped answering (or never answered the connection request).
    Timeout,
    /// The remote broke the protocol; the connection was dropped here.
    ProtocolViolation(ProtocolViolation),
    /// The server refused the connection request (full, refusing, or a bad or duplicate id).
    Refused,
    /// The DTLS session failed, with OpenSSL's reason.
    Dtls(String),
    /// The socket failed.
    Socket(String),
    /// The host failed inside rust_enet (its service thread panicked, with the panic's
    /// message): a bug to report, never the remote's doing.
    Internal(String),
    /// Our graceful disconnect completed.
    Local,
    /// The client's rendezvous traversal failed before any connection was made.
    Rendezvous(Failure),
    /// Dropped here at once: `disconnect_peer_now`, a forced `disconnect_peer`, a script's
    /// `reset` / `peer_disconnect_now`, or the host destroyed.
    Kicked,
}

impl LeaveReason {
    pub fn from_core(reason: DisconnectReason, data: u32) -> LeaveReason {
        match reason {
            DisconnectReason::Remote => LeaveReason::Remote { data },
            DisconnectReason::Refused => LeaveReason::Refused,
            DisconnectReason::Local => LeaveReason::Local,
            DisconnectReason::Timeout => LeaveReason::Timeout,
            DisconnectReason::ProtocolViolation(v) => LeaveReason::ProtocolViolation(v),
        }
    }

    /// The reason's name in `get_disconnect_reason`'s `"reason"` key.
    pub fn kind(&self) -> &'static str {
        match self {
            LeaveReason::Remote { .. } => "remote",
            LeaveReason::Timeout => "timeout",
            LeaveReason::ProtocolViolation(_) => "protocol_violation",
            LeaveReason::Refused => "refused",
            LeaveReason::Dtls(_) => "dtls_failure",
            LeaveReason::Socket(_) => "socket_error",
            LeaveReason::Internal(_) => "internal_error",
            LeaveReason::Local => "local",
            LeaveReason::Kicked => "kicked",
            LeaveReason::Rendezvous(failure) => failure.name(),
        }
    }

    /// The data the remote's DISCONNECT carried (0 otherwise).
    pub fn data(&self) -> u32 {
        match self {
            LeaveReason::Remote { data } => *data,
            _ => 0,
        }
    }
}

impl fmt::Display for LeaveReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LeaveReason::Remote { data } => write!(f, "the remote end disconnected (data {data})"),
            LeaveReason::Timeout => f.write_str("the remote end stopped answering (timeout)"),
            LeaveReason::ProtocolViolation(v) => write!(f, "protocol violation: {v}"),
            LeaveReason::Refused => f.write_str(
                "the server refused the connection (full, refusing new connections, or the id is taken)",
            ),
            LeaveReason::Dtls(reason) => write!(f, "the DTLS session failed: {reason}"),
            LeaveReason::Socket(e) => write!(f, "socket error: {e}"),
            LeaveReason::Internal(e) => write!(f, "internal error: {e}"),
            LeaveReason::Local => f.write_str("disconnected here; the remote end acknowledged"),
            LeaveReason::Kicked => f.write_str("dropped here at once"),
            LeaveReason::Rendezvous(failure) => f.write_str(failure.message()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_reasons_keep_their_detail() {
        let violation = ProtocolViolation::ChannelOutOfRange { channel: 9 };
        let reason = LeaveReason::from_core(DisconnectReason::ProtocolViolation(violation), 0);
        assert_eq!(reason.kind(), "protocol_violation");
        assert!(reason.to_string().contains("channel 9"), "{reason}");
        let remote = LeaveReason::from_core(DisconnectReason::Remote, 42);
        assert_eq!((remote.kind(), remote.data()), ("remote", 42));
        assert_eq!(
            LeaveReason::from_core(DisconnectReason::Timeout, 7).data(),
            0
        );
        assert_eq!(
            LeaveReason::Dtls("hostname mismatch".into()).kind(),
            "dtls_failure"
        );
    }
}
