//! Session events as Godot sees them: signals, packet peers, disconnect reasons.

use godot::prelude::*;
use rust_enet_session::{HostKey, LeaveReason, Mode, Session, SessionEvent};

use super::RustENetPeer;

/// A warning for connections that ended badly: a protocol violation, a failed DTLS session, a
/// socket error or an internal failure.
pub(super) fn report_leave(
    id: Option<i32>,
    address: Option<std::net::SocketAddr>,
    reason: &LeaveReason,
) {
    if matches!(
        reason,
        LeaveReason::ProtocolViolation(_)
            | LeaveReason::Dtls(_)
            | LeaveReason::Socket(_)
            | LeaveReason::Internal(_)
    ) {
        let who = id.map_or_else(|| "a connection".to_owned(), |id| format!("peer {id}"));
        let from = address.map_or_else(String::new, |a| format!(" ({a})"));
        tracing::warn!("{who}{from} disconnected: {reason}");
    }
}

impl RustENetPeer {
    /// Emits a signal through `base_mut()`, so the handlers (SceneMultiplayer) may call back
    /// into this peer.
    pub(super) fn emit(&mut self, signal: &str, id: i32) {
        self.base_mut()
            .emit_signal(signal, &[i64::from(id).to_variant()]);
    }

    /// Mirrors one session event on the Godot objects and in signals. Returns false when the
    /// session ended.
    pub(super) fn apply(&mut self, event: SessionEvent) -> bool {
        match event {
            SessionEvent::Connected { id, host, slot } => {
                if let Some(mut peer) = self.packet_peer_in(host, slot)
                    && matches!(
                        self.session.as_ref().map(Session::mode),
                        Some(Mode::Server(_))
                    )
                {
                    peer.set_meta("_net_id", &id.to_variant());
                }
                self.emit("peer_connected", id);
            }
            SessionEvent::Disconnected {
                id,
                host,
                slot,
                reason,
                address,
            } => {
                let client = matches!(
                    self.session.as_ref().map(Session::mode),
                    Some(Mode::Client(_))
                );
                report_leave(id, address, &reason);
                if let Some(mut object) = self.host_object(host) {
                    object.bind_mut().forget_packet_peer(slot, reason.clone());
                }
                // A client keeps why it never connected too (for `connection_failed`).
                if let Some(key) = id.or(client.then_some(1)) {
                    self.last_reasons.insert(key, reason);
                }
                if let HostKey::Mesh(key) = host
                    && id == Some(key)
                {
                    self.mesh_hosts.remove(&key);
                }
                if let Some(id) = id {
                    self.emit("peer_disconnected", id);
                }
            }
            SessionEvent::Registered { id } => {
                self.base_mut()
                    .emit_signal("rendezvous_registered", &[GString::from(&id).to_variant()]);
            }
            SessionEvent::RendezvousFailed(failure) => {
                if matches!(
                    self.session.as_ref().map(Session::mode),
                    Some(Mode::Client(_))
                ) {
                    self.last_reasons
                        .insert(1, LeaveReason::Rendezvous(failure.clone()));
                }
                self.report_rendezvous_failure(&failure);
            }
            SessionEvent::Ended(failure) => {
                if let Some(failure) = failure {
                    tracing::error!("{failure}");
                    if matches!(
                        self.session.as_ref().map(Session::mode),
                        Some(Mode::Client(_))
                    ) {
                        self.last_reasons.insert(1, failure.reason());
                    }
                }
                self.close_peer();
                return false;
            }
        }
        true
    }
}
