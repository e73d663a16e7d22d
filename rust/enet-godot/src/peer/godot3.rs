//! Godot 3's `NetworkedMultiplayerENet` methods that Godot 4's peer lacks, for projects coming
//! from Godot 3.

// gdext's `#[godot_api]` expands to public helper types without `Debug` implementations.
#![allow(missing_debug_implementations)]

use godot::prelude::*;
use rust_enet_session::{Session, SessionEvent};

use super::RustENetPeer;
use super::sending::report_flush_errors;

#[godot_api(secondary)]
impl RustENetPeer {
    /// Returns the IP address of the remote peer `id` as text (Godot 3's `get_peer_address`; in
    /// Godot 4 use `ENetPacketPeer.get_remote_address` on `get_peer`). Prints an error and returns
    /// an empty string for an unknown id.
    #[func]
    pub fn get_peer_address(&self, id: i32) -> GString {
        match self.session.as_ref().and_then(|s| s.peer_address(id)) {
            Some(address) => GString::from(&address.ip().to_canonical().to_string()),
            None => {
                godot_error!("RustENetPeer.get_peer_address: no peer with id {id}");
                GString::new()
            }
        }
    }

    /// Returns the UDP port of the remote peer `id` (Godot 3's `get_peer_port`; in Godot 4 use
    /// `ENetPacketPeer.get_remote_port` on `get_peer`). Prints an error and returns `0` for an
    /// unknown id.
    #[func]
    pub fn get_peer_port(&self, id: i32) -> i64 {
        match self.session.as_ref().and_then(|s| s.peer_address(id)) {
            Some(address) => i64::from(address.port()),
            None => {
                godot_error!("RustENetPeer.get_peer_port: no peer with id {id}");
                0
            }
        }
    }

    /// Godot 3's `close_connection`: tells every remote peer that the connection ends (a reliable
    /// disconnect), gives them up to `wait_usec` microseconds (at most 10 seconds) to acknowledge
    /// while the hosts keep running, then closes like `MultiplayerPeer.close`. The remote ends
    /// report the disconnect at once (`MultiplayerAPI.server_disconnected`,
    /// `MultiplayerAPI.peer_disconnected`) instead of timing out. This peer emits no signals. In
    /// Godot 4's built-in peer, `MultiplayerPeer.close` is the closest, and it does not wait.
    #[func]
    pub fn close_connection(&mut self, #[opt(default = 100)] wait_usec: i64) {
        let Some(session) = self.session.take() else {
            godot_error!(
                "RustENetPeer.close_connection: the multiplayer instance isn't currently active"
            );
            return;
        };
        let wait = std::time::Duration::from_micros(wait_usec.clamp(0, 10_000_000) as u64);
        report_flush_errors(session.close_gracefully(wait));
        self.destroy_hosts();
    }

    /// Godot 3's `disconnect_peer(id, false)`: disconnects the remote peer `id` once everything
    /// already queued for it has been delivered, then reports `MultiplayerPeer.peer_disconnected`
    /// as usual. `MultiplayerPeer.disconnect_peer` instead drops what is still queued. Prints an
    /// error for an unknown id.
    #[func]
    pub fn disconnect_peer_later(&mut self, id: i32) {
        let known = self
            .session
            .as_mut()
            .is_some_and(|s| s.disconnect_peer_later(id));
        if !known {
            godot_error!("RustENetPeer.disconnect_peer_later: invalid peer id {id}");
        }
    }

    /// Godot 3's `disconnect_peer(id, true)`: drops the connection to `id` at once (nothing queued
    /// is sent; the remote end is told with one unreliable datagram) and emits
    /// `MultiplayerPeer.peer_disconnected` now, before returning. On a client, id `1` closes the
    /// connection to the server. Prints an error for an unknown id.
    #[func]
    pub fn disconnect_peer_now(&mut self, id: i32) {
        let mut errors = Vec::new();
        let event = self
            .session
            .as_mut()
            .and_then(|s| s.disconnect_peer_now(id, &mut errors));
        report_flush_errors(errors);
        let Some(event) = event else {
            godot_error!("RustENetPeer.disconnect_peer_now: invalid peer id {id}");
            return;
        };
        // The disconnect, then (on a client) the end of the session that follows it.
        if self.apply(event) {
            while let Some(SessionEvent::Ended(failure)) =
                self.session.as_mut().and_then(Session::next_event)
            {
                self.apply(SessionEvent::Ended(failure));
            }
        }
    }
}
