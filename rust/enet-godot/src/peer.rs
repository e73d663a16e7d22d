//! `RustENetPeer`: the `MultiplayerPeer` that replaces Godot's `ENetMultiplayerPeer`.

// gdext's `#[godot_api]` expands to public helper types without `Debug` implementations.
#![allow(missing_debug_implementations)]

use godot::classes::multiplayer_peer::{ConnectionStatus, TransferMode};
use godot::classes::{IMultiplayerPeerExtension, MultiplayerPeerExtension};
use godot::global::Error;
use godot::prelude::*;

/// What the peer was created as; `None` until a `create_*` call succeeds and after `close()`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    None,
    Server,
    #[expect(
        dead_code,
        reason = "client mode arrives with the UDP driver (create_client)"
    )]
    Client,
    Mesh,
}

/// Largest packet a `MultiplayerPeer` may send, the same limit as Godot's ENet peer
/// (`ENET_HOST_DEFAULT_MAXIMUM_PACKET_SIZE`, 32 MiB, capped by Godot to 1 << 24).
const MAX_PACKET_SIZE: i32 = 1 << 24;

/// A `MultiplayerPeer` speaking the ENet protocol, implemented in pure Rust.
///
/// It is a drop-in replacement for `ENetMultiplayerPeer`:
/// `multiplayer.multiplayer_peer = RustENetPeer.new()` after `create_server` or `create_client`.
#[derive(GodotClass)]
#[class(tool, init, base = MultiplayerPeerExtension)]
pub struct RustENetPeer {
    #[init(val = Mode::None)]
    mode: Mode,
    unique_id: i32,
    #[init(val = ConnectionStatus::DISCONNECTED)]
    connection_status: ConnectionStatus,
    transfer_channel: i32,
    #[init(val = TransferMode::RELIABLE)]
    transfer_mode: TransferMode,
    target_peer: i32,
    refuse_new_connections: bool,
    base: Base<MultiplayerPeerExtension>,
}

impl std::fmt::Debug for RustENetPeer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RustENetPeer")
            .field("mode", &self.mode)
            .field("unique_id", &self.unique_id)
            .field("connection_status", &self.connection_status)
            .field("transfer_channel", &self.transfer_channel)
            .field("transfer_mode", &self.transfer_mode)
            .field("target_peer", &self.target_peer)
            .finish_non_exhaustive()
    }
}

#[godot_api]
impl RustENetPeer {
    /// Initializes this peer in mesh mode with `unique_id` as its own network id.
    ///
    /// Remote peers are then added one by one with `add_mesh_peer`. Returns `ERR_INVALID_PARAMETER`
    /// if `unique_id` is not positive and `ERR_ALREADY_IN_USE` if the peer is already active.
    #[func]
    fn create_mesh(&mut self, unique_id: i32) -> Error {
        if unique_id <= 0 {
            godot_error!("RustENetPeer.create_mesh: the unique ID must be greater than 0");
            return Error::ERR_INVALID_PARAMETER;
        }
        if self.is_active() {
            godot_error!(
                "RustENetPeer.create_mesh: the multiplayer instance is already active; call close() first"
            );
            return Error::ERR_ALREADY_IN_USE;
        }
        self.mode = Mode::Mesh;
        self.unique_id = unique_id;
        self.connection_status = ConnectionStatus::CONNECTED;
        Error::OK
    }
}

impl RustENetPeer {
    fn is_active(&self) -> bool {
        self.mode != Mode::None
    }
}

#[godot_api]
impl IMultiplayerPeerExtension for RustENetPeer {
    fn get_available_packet_count(&self) -> i32 {
        0
    }

    fn get_max_packet_size(&self) -> i32 {
        MAX_PACKET_SIZE
    }

    fn get_packet_script(&mut self) -> PackedByteArray {
        PackedByteArray::new()
    }

    fn put_packet_script(&mut self, _buffer: PackedByteArray) -> Error {
        godot_error!("RustENetPeer.put_packet: the multiplayer instance isn't currently active");
        Error::ERR_UNCONFIGURED
    }

    fn get_packet_channel(&self) -> i32 {
        0
    }

    fn get_packet_mode(&self) -> TransferMode {
        TransferMode::RELIABLE
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
        0
    }

    fn is_server(&self) -> bool {
        self.mode == Mode::Server
    }

    fn poll(&mut self) {}

    fn close(&mut self) {
        self.mode = Mode::None;
        self.unique_id = 0;
        self.connection_status = ConnectionStatus::DISCONNECTED;
        self.refuse_new_connections = false;
    }

    fn disconnect_peer(&mut self, _peer: i32, _force: bool) {}

    fn get_unique_id(&self) -> i32 {
        if !self.is_active() {
            godot_error!(
                "RustENetPeer.get_unique_id: the multiplayer instance isn't currently active"
            );
            return 0;
        }
        self.unique_id
    }

    fn set_refuse_new_connections(&mut self, enable: bool) {
        self.refuse_new_connections = enable;
    }

    fn is_refusing_new_connections(&self) -> bool {
        self.refuse_new_connections
    }

    fn is_server_relay_supported(&self) -> bool {
        matches!(self.mode, Mode::Server | Mode::Client)
    }

    fn get_connection_status(&self) -> ConnectionStatus {
        self.connection_status
    }
}
