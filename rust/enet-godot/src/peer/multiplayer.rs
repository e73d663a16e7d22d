//! `RustENetPeer`'s `MultiplayerPeer` side: the virtual methods Godot's multiplayer API calls.

// gdext's `#[godot_api]` expands to public helper types without `Debug` implementations.
#![allow(missing_debug_implementations)]

use godot::classes::IMultiplayerPeerExtension;
use godot::classes::multiplayer_peer::{ConnectionStatus, TransferMode};
use godot::global::Error;
use godot::meta::conv::RawPtr;
use godot::prelude::*;

use rust_enet_session::{AfterPoll, Disconnected, Mode, Session, Status};

use super::RustENetPeer;
use super::conversions::to_transfer_mode;
use super::sending::report_flush_errors;
use crate::diagnostics;
use crate::packet_peer::MAX_PACKET_SIZE;

#[godot_api]
impl IMultiplayerPeerExtension for RustENetPeer {
    fn get_available_packet_count(&self) -> i32 {
        let count = self.session.as_ref().map_or(0, Session::available_packets);
        i32::try_from(count).unwrap_or(i32::MAX)
    }

    fn get_max_packet_size(&self) -> i32 {
        MAX_PACKET_SIZE
    }

    unsafe fn get_packet_rawptr(
        &mut self,
        r_buffer: RawPtr<*mut RawPtr<*const u8>>,
        r_buffer_size: RawPtr<*mut i32>,
    ) -> Error {
        let Some(packet) = self.session.as_mut().and_then(Session::pop_packet) else {
            godot_error!("RustENetPeer.get_packet: no incoming packets available");
            return Error::ERR_UNAVAILABLE;
        };
        // SAFETY: Godot passes valid, writable out-pointers; the buffer lives in `self.current`
        // until the next get_packet, poll or close, which is as long as Godot may read it.
        unsafe { crate::hand_out_packet(&mut self.current, packet.data, r_buffer, r_buffer_size) }
    }

    unsafe fn put_packet_rawptr(
        &mut self,
        p_buffer: RawPtr<*const u8>,
        p_buffer_size: i32,
    ) -> Error {
        // SAFETY: Godot passes a buffer of `p_buffer_size` readable bytes.
        let data = unsafe { crate::copy_packet_in(p_buffer, p_buffer_size) };
        self.put_packet_bytes(data)
    }

    fn get_packet_channel(&self) -> i32 {
        match self.session.as_ref().and_then(Session::front_packet) {
            Some(p) => p.channel.to_user().0,
            None => {
                godot_error!("RustENetPeer.get_packet_channel: no packets to get");
                1
            }
        }
    }

    fn get_packet_mode(&self) -> TransferMode {
        match self.session.as_ref().and_then(Session::front_packet) {
            Some(p) => to_transfer_mode(p.transfer),
            None => {
                godot_error!("RustENetPeer.get_packet_mode: no packets to get");
                TransferMode::RELIABLE
            }
        }
    }

    fn set_transfer_channel(&mut self, channel: i32) {
        self.transfer_channel = channel;
    }

    fn get_transfer_channel(&self) -> i32 {
        self.transfer_channel
    }

    fn set_transfer_mode(&mut self, mode: TransferMode) {
        self.transfer_mode = mode;
    }

    fn get_transfer_mode(&self) -> TransferMode {
        self.transfer_mode
    }

    fn set_target_peer(&mut self, peer: i32) {
        self.target_peer = peer;
    }

    fn get_packet_peer(&self) -> i32 {
        match self.session.as_ref().and_then(Session::front_packet) {
            Some(p) => p.from,
            None => {
                godot_error!("RustENetPeer.get_packet_peer: no packets to get");
                1
            }
        }
    }

    fn is_server(&self) -> bool {
        matches!(
            self.session.as_ref().map(Session::mode),
            Some(Mode::Server(_))
        )
    }

    fn poll(&mut self) {
        let Some(session) = &mut self.session else {
            godot_error!("RustENetPeer.poll: the multiplayer instance isn't currently active");
            return;
        };
        self.current = None;
        self.last_reasons.clear();
        report_flush_errors(session.begin_poll());
        diagnostics::flush_pending();
        // Each event is handled before the next is asked for: handlers may send, disconnect or
        // close this peer.
        while let Some(event) = self.session.as_mut().and_then(Session::next_event) {
            if !self.apply(event) {
                return;
            }
        }
        let Some(session) = &mut self.session else {
            return;
        };
        if session.after_poll() == AfterPoll::FrameFlush {
            self.schedule_flush();
        }
        self.measure();
    }

    fn close(&mut self) {
        self.close_peer();
    }

    fn disconnect_peer(&mut self, peer: i32, force: bool) {
        let Some(session) = &mut self.session else {
            godot_error!(
                "RustENetPeer.disconnect_peer: the multiplayer instance isn't currently active"
            );
            return;
        };
        let mut errors = Vec::new();
        let outcome = session.disconnect_peer(peer, force, &mut errors);
        report_flush_errors(errors);
        match outcome {
            None => godot_error!("RustENetPeer.disconnect_peer: invalid peer id {peer}"),
            Some(Disconnected::CloseClient) => self.close_peer(),
            Some(Disconnected::Started) => {
                if force {
                    self.mesh_hosts.remove(&peer);
                }
            }
        }
    }

    fn get_unique_id(&self) -> i32 {
        match &self.session {
            Some(session) => session.unique_id(),
            None => {
                godot_error!(
                    "RustENetPeer.get_unique_id: the multiplayer instance isn't currently active"
                );
                0
            }
        }
    }

    fn set_refuse_new_connections(&mut self, enable: bool) {
        self.refuse_new_connections = enable;
        if let Some(session) = &self.session {
            session.set_refusing(enable);
        }
        // Like Godot: a DTLS server also stops starting new DTLS sessions.
        let hosts = self.hosts_mut();
        for host in hosts {
            host.bind_mut().refuse_new_connections(enable);
        }
    }

    fn is_refusing_new_connections(&self) -> bool {
        self.refuse_new_connections
    }

    fn is_server_relay_supported(&self) -> bool {
        matches!(
            self.session.as_ref().map(Session::mode),
            Some(Mode::Server(_) | Mode::Client(_))
        )
    }

    fn get_connection_status(&self) -> ConnectionStatus {
        match self.session.as_ref().map(Session::status) {
            None => ConnectionStatus::DISCONNECTED,
            Some(Status::Connecting) => ConnectionStatus::CONNECTING,
            Some(Status::Connected) => ConnectionStatus::CONNECTED,
        }
    }
}
