//! `RustENetPeer`: the `MultiplayerPeer` that replaces Godot's `ENetMultiplayerPeer`.
//!
//! Semantics follow Godot 4's ENet peer: the client picks its id and sends it in the CONNECT
//! data, the server is 1, reliable traffic uses ENet channel 0 and both unreliable modes channel
//! 1, user channel n maps to ENet channel n + 1, and packets carry no header of ours.

// gdext's `#[godot_api]` expands to public helper types without `Debug` implementations.
#![allow(missing_debug_implementations)]

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use godot::classes::multiplayer_peer::{ConnectionStatus, TransferMode};
use godot::classes::{IMultiplayerPeerExtension, MultiplayerPeerExtension};
use godot::global::Error;
use godot::meta::conv::RawPtr;
use godot::prelude::*;
use rust_enet_net::BindAddress;
use rust_enet_proto::{Packet, PacketFlags, PeerId};

use crate::admission::{Admission, client_id};
use crate::connection::{
    ControlEvent, MAXIMUM_CHANNELS, RustENetConnection, SharedHost, parse_bind_address,
};
use crate::id_map::IdMap;
use crate::packet_peer::{MAX_PACKET_SIZE, RustENetPacketPeer, send_on};

/// ENet channel for reliable traffic on user channel 0 (`SYSCH_RELIABLE`).
const SYSCH_RELIABLE: u8 = 0;
/// ENet channel for both unreliable modes on user channel 0 (`SYSCH_UNRELIABLE`).
const SYSCH_UNRELIABLE: u8 = 1;
/// Number of reserved ENet channels (`SYSCH_MAX`); user channel n is ENet channel n + 1.
const SYSCH_MAX: i64 = 2;

/// What the peer was created as; `None` until a `create_*` call succeeds and after `close()`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    None,
    Server,
    Client,
    Mesh,
}

/// A received packet waiting for `get_packet`.
struct Incoming {
    from: i32,
    enet_channel: u8,
    mode: TransferMode,
    data: Bytes,
}

/// What `poll` has to tell the multiplayer API after a state change.
enum Notify {
    Connected(i32),
    Disconnected(i32),
}

/// A `MultiplayerPeer` speaking the ENet protocol, implemented in pure Rust.
///
/// It is a drop-in replacement for `ENetMultiplayerPeer`, with the same methods, signals, error
/// codes and wire protocol, so it talks to Godot's own ENet peers:
///
/// ```gdscript
/// var peer := RustENetPeer.new()
/// peer.create_server(7000)   # or peer.create_client("127.0.0.1", 7000)
/// multiplayer.multiplayer_peer = peer
/// ```
#[derive(GodotClass)]
#[class(tool, init, base = MultiplayerPeerExtension)]
pub struct RustENetPeer {
    #[init(val = Mode::None)]
    mode: Mode,
    unique_id: i32,
    #[init(val = ConnectionStatus::DISCONNECTED)]
    connection_status: ConnectionStatus,
    refuse_new_connections: bool,
    transfer_channel: i32,
    #[init(val = TransferMode::RELIABLE)]
    transfer_mode: TransferMode,
    target_peer: i32,
    #[init(val = BindAddress::Wildcard)]
    bind_ip: BindAddress,
    /// Key 0 for the server's or client's host; in mesh mode one host per remote peer id.
    hosts: HashMap<i32, Gd<RustENetConnection>>,
    /// The remote peers by multiplayer id. Changed only through `add_peer` and `remove_peer`,
    /// which keep `slots` and `net_ids` in step.
    peers: IdMap<i32, Gd<RustENetPacketPeer>>,
    /// Server and client: the host slot of each remote peer id, so that `put_packet` queues on
    /// the host directly instead of calling into the peer's `RustENetPacketPeer` object.
    slots: IdMap<i32, PeerId>,
    /// Server and client: the remote peer id of each host slot (0 for none), so that `poll`
    /// attributes received packets without touching Godot objects.
    net_ids: Vec<i32>,
    /// Server and client: the driver of `hosts[0]`.
    main_host: Option<SharedHost>,
    /// A server's admission rules, shared with the CONNECT filter on its host.
    admission: Option<Arc<Admission>>,
    incoming: VecDeque<Incoming>,
    /// The packet last returned by `get_packet`; Godot reads it until the next `get_packet`,
    /// `poll` or `close`.
    current: Option<Bytes>,
    /// The ENet host created by `create_server` or `create_client` (null otherwise and in mesh
    /// mode). Use it for settings Godot exposes on `ENetConnection`.
    #[var(get = get_host, no_set, usage_flags = [NONE])]
    host: PhantomVar<Option<Gd<RustENetConnection>>>,
    /// If true, every `put_packet` sends its packet at once and `poll` acknowledges what it
    /// received at once, like `ENetMultiplayerPeer` (lowest latency, but one datagram and system
    /// call per packet); if false (default), packets and the acknowledgements of what `poll`
    /// received are queued and leave together at the end of the frame (or with the next `poll`):
    /// one datagram per connection and frame, which costs far less when many RPCs are sent per
    /// frame.
    #[var]
    immediate_flush: bool,
    /// A deferred `_flush_queued_sends` is pending for packets queued since the last flush.
    flush_queued: bool,
    /// `_flush_queued_sends` of this peer, made once: deferring a stored `Callable` costs less
    /// than `Object.call_deferred` by name (`base_mut`, a method name lookup) every frame.
    /// Holds the object's id, not a reference, so it keeps nothing alive.
    flush_callable: Option<Callable>,
    base: Base<MultiplayerPeerExtension>,
}

#[godot_api]
impl RustENetPeer {
    /// Creates a server listening on `port` (all interfaces unless `set_bind_ip` was called).
    ///
    /// `max_clients` may be 1..4095. `max_channels` limits the user channels clients get (0 for
    /// the maximum). Bandwidths are in bytes per second, 0 for unlimited. Unlike Godot's peer
    /// (issue #123254), `max_channels` really limits channels and `in_bandwidth` is honoured
    /// (a negative `in_bandwidth`, which Godot's peer ignores, means unlimited).
    /// Returns `OK`, `ERR_ALREADY_IN_USE` if this peer is already active,
    /// `ERR_INVALID_PARAMETER` for out-of-range arguments or `ERR_CANT_CREATE` if the port
    /// cannot be bound.
    #[func]
    pub fn create_server(
        &mut self,
        port: i64,
        #[opt(default = 32)] max_clients: i64,
        #[opt(default = 0)] max_channels: i64,
        #[opt(default = 0)] in_bandwidth: i64,
        #[opt(default = 0)] out_bandwidth: i64,
    ) -> Error {
        if self.is_active() {
            godot_error!(
                "RustENetPeer.create_server: the multiplayer instance is already active; call close() first"
            );
            return Error::ERR_ALREADY_IN_USE;
        }
        self.refuse_new_connections = false;
        let Ok(port) = u16::try_from(port) else {
            godot_error!(
                "RustENetPeer.create_server: the port must be between 0 and 65535, not {port}"
            );
            return Error::ERR_INVALID_PARAMETER;
        };
        let channels = if max_channels > 0 {
            (max_channels + SYSCH_MAX).min(MAXIMUM_CHANNELS)
        } else {
            0
        };
        // Godot never looks at `in_bandwidth` (issue #123254), so a negative value works there:
        // accept it too, as unlimited, rather than fail where the built-in peer succeeds.
        let in_bandwidth = if in_bandwidth < 0 {
            godot_warn!(
                "RustENetPeer.create_server: in_bandwidth {in_bandwidth} is negative; using 0 (unlimited)"
            );
            0
        } else {
            in_bandwidth
        };
        let mut host = RustENetConnection::new_gd();
        let err = host.bind_mut().create(
            self.bind_ip,
            port,
            max_clients,
            channels,
            in_bandwidth,
            out_bandwidth,
        );
        if err != Error::OK {
            return err;
        }
        self.mode = Mode::Server;
        self.unique_id = 1;
        self.connection_status = ConnectionStatus::CONNECTED;
        self.main_host = host.bind().shared_host();
        // Godot's admission rules at CONNECT time, so refused clients fail at once.
        let admission = Admission::new();
        if let Some(shared) = &self.main_host
            && let Some(udp) = shared.lock().as_mut()
        {
            udp.host_mut().set_connect_filter(Some(admission.filter()));
        }
        self.admission = Some(admission);
        self.hosts.insert(0, host);
        Error::OK
    }

    /// Creates a client connecting to `address:port` (an IP or a host name, resolved now).
    ///
    /// `channel_count` is the number of user channels (0 for the maximum). With `local_port`
    /// the client binds that port (and the `set_bind_ip` address). The connection completes
    /// later: watch `multiplayer.connected_to_server` and `connection_failed`. Returns `OK`,
    /// `ERR_ALREADY_IN_USE`, `ERR_INVALID_PARAMETER` or `ERR_CANT_CREATE`.
    #[func]
    pub fn create_client(
        &mut self,
        address: GString,
        port: i64,
        #[opt(default = 0)] channel_count: i64,
        #[opt(default = 0)] in_bandwidth: i64,
        #[opt(default = 0)] out_bandwidth: i64,
        #[opt(default = 0)] local_port: i64,
    ) -> Error {
        if self.is_active() {
            godot_error!(
                "RustENetPeer.create_client: the multiplayer instance is already active; call close() first"
            );
            return Error::ERR_ALREADY_IN_USE;
        }
        self.refuse_new_connections = false;
        let mut host = RustENetConnection::new_gd();
        let err = if local_port != 0 {
            let Ok(local_port) = u16::try_from(local_port) else {
                godot_error!(
                    "RustENetPeer.create_client: the local port must be between 0 and 65535, not {local_port}"
                );
                return Error::ERR_INVALID_PARAMETER;
            };
            host.bind_mut()
                .create(self.bind_ip, local_port, 1, 0, in_bandwidth, out_bandwidth)
        } else {
            host.bind_mut()
                .create(BindAddress::Wildcard, 0, 1, 0, in_bandwidth, out_bandwidth)
        };
        if err != Error::OK {
            return err;
        }
        let unique_id = generate_unique_id();
        let channels = if channel_count > 0 {
            channel_count + SYSCH_MAX
        } else {
            0
        };
        let peer = host
            .bind_mut()
            .connect_to_host(address, port, channels, i64::from(unique_id));
        let Some(peer) = peer else {
            host.bind_mut().destroy();
            godot_error!(
                "RustENetPeer.create_client: couldn't connect to the ENet multiplayer server"
            );
            return Error::ERR_CANT_CREATE;
        };
        self.mode = Mode::Client;
        self.unique_id = unique_id;
        self.connection_status = ConnectionStatus::CONNECTING;
        self.main_host = host.bind().shared_host();
        self.add_peer(1, peer);
        self.hosts.insert(0, host);
        Error::OK
    }

    /// Initializes this peer in mesh mode with `unique_id` as its own network id.
    ///
    /// Remote peers are then added one by one with `add_mesh_peer`. Returns `ERR_INVALID_PARAMETER`
    /// if `unique_id` is not positive and `ERR_ALREADY_IN_USE` if the peer is already active.
    #[func]
    pub fn create_mesh(&mut self, unique_id: i32) -> Error {
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

    /// Adds the remote peer `peer_id`, connected through `host` (a `RustENetConnection` with
    /// exactly one connected peer). Emits `peer_connected(peer_id)` at once.
    #[func]
    pub fn add_mesh_peer(&mut self, peer_id: i32, host: Option<Gd<RustENetConnection>>) -> Error {
        let Some(mut host) = host else {
            godot_error!("RustENetPeer.add_mesh_peer: the host is null");
            return Error::ERR_INVALID_PARAMETER;
        };
        if self.mode != Mode::Mesh {
            godot_error!(
                "RustENetPeer.add_mesh_peer: the multiplayer instance is not configured as a mesh; call create_mesh first"
            );
            return Error::ERR_UNCONFIGURED;
        }
        let peers = host.bind_mut().get_peers();
        if peers.len() != 1 || !peers.at(0).bind().is_connected() {
            godot_error!(
                "RustENetPeer.add_mesh_peer: the provided host must have exactly one peer in the connected state"
            );
            return Error::ERR_INVALID_PARAMETER;
        }
        self.hosts.insert(peer_id, host);
        self.add_peer(peer_id, peers.at(0));
        self.base_mut()
            .emit_signal("peer_connected", &[i64::from(peer_id).to_variant()]);
        Error::OK
    }

    /// The packet peer of the remote peer `id` (on a client only 1, the server).
    #[func]
    pub fn get_peer(&self, id: i32) -> Option<Gd<RustENetPacketPeer>> {
        if !self.is_active() {
            godot_error!("RustENetPeer.get_peer: the multiplayer instance isn't currently active");
            return None;
        }
        let peer = self.peers.get(&id).cloned();
        if peer.is_none() {
            godot_error!("RustENetPeer.get_peer: no peer with id {id}");
        }
        peer
    }

    /// The address `create_server` (and `create_client` with a `local_port`) binds: an IP
    /// address, or `"*"` (the default) for every interface.
    #[func]
    pub fn set_bind_ip(&mut self, ip: GString) {
        match parse_bind_address(&ip.to_string()) {
            Some(bind) => self.bind_ip = bind,
            None => godot_error!(
                "RustENetPeer.set_bind_ip: invalid bind IP {ip:?}; use an IP address or \"*\""
            ),
        }
    }

    /// Sends what `put_packet` queued since the last flush. Called deferred (at the end of the
    /// frame) by the first `put_packet` after a flush; does nothing if `poll` or `close` already
    /// sent or dropped it.
    #[func]
    fn _flush_queued_sends(&mut self) {
        if self.flush_queued {
            self.flush_hosts();
        }
    }

    #[func]
    fn get_host(&self) -> Option<Gd<RustENetConnection>> {
        if !self.is_active() || self.mode == Mode::Mesh {
            godot_error!("RustENetPeer.host: only available in server and client mode");
            return None;
        }
        self.hosts.get(&0).cloned()
    }
}

/// A random id in 2..=2^31-1, like `MultiplayerPeer::generate_unique_id`.
fn generate_unique_id() -> i32 {
    use std::hash::{BuildHasher, Hasher};
    loop {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        let id = (hasher.finish() & 0x7FFF_FFFF) as i32;
        if id >= 2 {
            return id;
        }
    }
}

/// The ENet channel and packet flags for a Godot transfer mode and channel (put_packet).
fn enet_channel_and_flags(mode: TransferMode, channel: i32) -> (i64, PacketFlags) {
    let (system_channel, flags) = match mode {
        TransferMode::UNRELIABLE => (
            SYSCH_UNRELIABLE,
            PacketFlags::UNSEQUENCED | PacketFlags::UNRELIABLE_FRAGMENT,
        ),
        TransferMode::UNRELIABLE_ORDERED => (SYSCH_UNRELIABLE, PacketFlags::UNRELIABLE_FRAGMENT),
        _ => (SYSCH_RELIABLE, PacketFlags::RELIABLE),
    };
    let enet_channel = if channel > 0 {
        i64::from(channel) + SYSCH_MAX - 1
    } else {
        i64::from(system_channel)
    };
    (enet_channel, flags)
}

/// The Godot transfer mode a received packet reports, from its ENet flags.
fn transfer_mode_of(flags: PacketFlags) -> TransferMode {
    if flags.contains(PacketFlags::RELIABLE) {
        TransferMode::RELIABLE
    } else if flags.contains(PacketFlags::UNSEQUENCED) {
        TransferMode::UNRELIABLE
    } else {
        TransferMode::UNRELIABLE_ORDERED
    }
}

impl RustENetPeer {
    fn is_active(&self) -> bool {
        self.mode != Mode::None
    }

    /// Sends everything queued on every active host this peer owns and clears `flush_queued`.
    fn flush_hosts(&mut self) {
        self.flush_queued = false;
        for host in self.hosts.values_mut() {
            let mut host = host.bind_mut();
            if host.is_active() {
                host.flush_host();
            }
        }
    }

    /// Makes sure a deferred `_flush_queued_sends` runs at the end of this frame.
    fn schedule_flush(&mut self) {
        if self.flush_queued {
            return;
        }
        self.flush_queued = true;
        if self.flush_callable.is_none() {
            self.flush_callable = Some(Callable::from_object_method(
                &self.to_gd(),
                "_flush_queued_sends",
            ));
        }
        if let Some(flush) = &self.flush_callable {
            flush.call_deferred(&[]);
        }
    }

    /// After a poll: the acknowledgements of what it received wait in the hosts (see
    /// `RustENetConnection::drain_events`). They leave with the frame's deferred flush, together
    /// with whatever the game sends in answer: one datagram per peer and frame instead of two.
    /// With `immediate_flush` they leave now, like Godot's peer sends them.
    fn send_deferred_acknowledgements(&mut self) {
        if self.flush_queued
            || !self
                .hosts
                .values()
                .any(|host| host.bind().has_deferred_send())
        {
            return;
        }
        if self.immediate_flush {
            self.flush_hosts();
        } else {
            self.schedule_flush();
        }
    }

    /// Adds the remote peer `id`; on a server or client also its host slot.
    fn add_peer(&mut self, id: i32, peer: Gd<RustENetPacketPeer>) {
        if let Some(admission) = &self.admission {
            admission.insert(id);
        }
        if self.mode != Mode::Mesh {
            let slot = peer.bind().slot();
            self.slots.insert(id, slot);
            if self.net_ids.len() <= slot.index() {
                self.net_ids.resize(slot.index() + 1, 0);
            }
            self.net_ids[slot.index()] = id;
        }
        self.peers.insert(id, peer);
    }

    /// Removes the remote peer `id` (and its host slot) and returns its packet peer.
    fn remove_peer(&mut self, id: i32) -> Option<Gd<RustENetPacketPeer>> {
        if let Some(admission) = &self.admission {
            admission.remove(id);
        }
        if let Some(slot) = self.slots.remove(&id)
            && let Some(net_id) = self.net_ids.get_mut(slot.index())
            && *net_id == id
        {
            *net_id = 0;
        }
        self.peers.remove(&id)
    }

    /// Queues `packet` for the remote peer `id` (host slot `slot`) on the server's or client's
    /// host, without a call into its packet peer object: same result and messages as
    /// `RustENetPacketPeer.send`.
    fn send_to(&self, id: i32, slot: PeerId, channel: u8, packet: Packet) {
        let Some(shared) = &self.main_host else {
            return;
        };
        let result = match shared.lock().as_mut() {
            Some(udp) => send_on(udp, slot, channel, packet),
            None => {
                godot_error!("RustENetPacketPeer.send: the host was destroyed");
                return;
            }
        };
        // A packet peer a script reset or disconnected: its slot is free, so the send failed.
        // Until the next poll removes the peer, say why, as its packet peer would.
        if result == Error::FAILED
            && self
                .peers
                .get(&id)
                .is_some_and(|peer| !peer.bind().is_active())
        {
            godot_error!("RustENetPacketPeer.send: the peer is not active");
        }
    }

    fn emit(&mut self, notify: Notify) {
        // Through base_mut(), so the handlers (SceneMultiplayer) may call back into this peer.
        let (signal, id) = match notify {
            Notify::Connected(id) => ("peer_connected", id),
            Notify::Disconnected(id) => ("peer_disconnected", id),
        };
        self.base_mut()
            .emit_signal(signal, &[i64::from(id).to_variant()]);
    }

    /// `_disconnect_inactive_peers`: peers whose packet peer was reset or disconnected by a
    /// script are removed and reported.
    fn disconnect_inactive_peers(&mut self) {
        let gone: Vec<i32> = self
            .peers
            .iter()
            .filter(|(_, p)| !p.bind().is_active())
            .map(|(id, _)| *id)
            .collect();
        for id in gone {
            if self.mode == Mode::Client && id != 1 {
                continue;
            }
            self.remove_peer(id);
            if self.mode == Mode::Mesh {
                self.hosts.remove(&id);
            }
            self.emit(Notify::Disconnected(id));
        }
    }

    /// The next connect, disconnect or error event of host `key`: one service pass first, then
    /// queued events only. Packets received on the way go to `incoming`.
    fn next_host_event(&mut self, key: i32, serviced: &mut bool) -> Option<ControlEvent> {
        // Borrowed from the map, not cloned: a clone and its drop are two reference-count calls
        // into the engine.
        let host = self.hosts.get_mut(&key)?;
        let timeout = if *serviced {
            None
        } else {
            *serviced = true;
            Some(Duration::ZERO)
        };
        let mode = self.mode;
        let net_ids = &self.net_ids;
        let incoming = &mut self.incoming;
        host.bind_mut()
            .drain_events(timeout, |slot, channel, packet| {
                let from = match mode {
                    Mode::Server => match net_ids.get(slot.index()) {
                        // A connection that was refused, or whose peer was removed: dropped.
                        Some(&id) if id != 0 => id,
                        _ => return true,
                    },
                    Mode::Client => 1,
                    Mode::Mesh | Mode::None => key,
                };
                incoming.push_back(Incoming {
                    from,
                    enet_channel: channel,
                    mode: transfer_mode_of(packet.flags),
                    data: packet.data,
                });
                true
            })
    }

    fn poll_client(&mut self) {
        if !self.peers.contains_key(&1) {
            self.close_peer();
            return;
        }
        let mut serviced = false;
        while self.mode == Mode::Client {
            let Some(event) = self.next_host_event(0, &mut serviced) else {
                return;
            };
            match event {
                ControlEvent::Connect { .. } => {
                    self.connection_status = ConnectionStatus::CONNECTED;
                    self.emit(Notify::Connected(1));
                }
                ControlEvent::Disconnect { .. } => {
                    let was_connected = self.connection_status == ConnectionStatus::CONNECTED;
                    if was_connected {
                        self.emit(Notify::Disconnected(1));
                    }
                    self.close_peer();
                    return;
                }
                ControlEvent::Error => {
                    self.close_peer();
                    return;
                }
            }
        }
    }

    fn poll_server(&mut self) {
        let mut serviced = false;
        while self.mode == Mode::Server {
            let Some(event) = self.next_host_event(0, &mut serviced) else {
                return;
            };
            match event {
                ControlEvent::Connect { mut peer, data } => {
                    // Refused CONNECTs were answered by the host's filter (`Admission`) and never
                    // get here, except a second CONNECT with an id that was still connecting
                    // when it arrived: the same rules again, now that the first has its id, and
                    // a silent reset, as Godot resets every refused one.
                    let admitted = self.admission.as_ref().is_some_and(|a| a.admits(data));
                    let Some(id) = client_id(data).filter(|_| admitted) else {
                        peer.bind_mut().reset();
                        continue;
                    };
                    peer.bind_mut().set_net_id(id);
                    peer.set_meta("_net_id", &id.to_variant());
                    self.add_peer(id, peer);
                    self.emit(Notify::Connected(id));
                }
                ControlEvent::Disconnect { peer, .. } => {
                    let Some(id) = self.id_of(&peer) else {
                        continue;
                    };
                    self.remove_peer(id);
                    self.emit(Notify::Disconnected(id));
                }
                ControlEvent::Error => {
                    self.close_peer();
                    return;
                }
            }
        }
    }

    fn poll_mesh(&mut self) {
        let keys: Vec<i32> = self.hosts.keys().copied().collect();
        let mut dropped = Vec::new();
        for key in keys {
            let mut serviced = false;
            loop {
                let Some(event) = self.next_host_event(key, &mut serviced) else {
                    break;
                };
                match event {
                    // A mesh host talks to exactly one peer; anyone else is turned away.
                    ControlEvent::Connect { mut peer, .. } => peer.bind_mut().reset(),
                    ControlEvent::Disconnect { .. } | ControlEvent::Error => {
                        dropped.push(key);
                        break;
                    }
                }
            }
        }
        for id in dropped {
            self.hosts.remove(&id);
            if self.remove_peer(id).is_some() {
                self.emit(Notify::Disconnected(id));
            }
        }
    }

    /// The id a server stored on a packet peer when it connected.
    fn id_of(&self, peer: &Gd<RustENetPacketPeer>) -> Option<i32> {
        let id = peer.bind().net_id()?;
        (self.peers.get(&id) == Some(peer)).then_some(id)
    }

    /// `close()`: drops every connection at once (an unreliable DISCONNECT each), closes the
    /// sockets and forgets everything. No signals.
    fn close_peer(&mut self) {
        if !self.is_active() {
            return;
        }
        for peer in self.peers.values_mut() {
            if peer.bind().is_connected() {
                peer.bind_mut().peer_disconnect_now(0);
            }
        }
        for host in self.hosts.values_mut() {
            let mut host = host.bind_mut();
            if host.is_active() {
                host.flush_host();
                host.destroy();
            }
        }
        self.hosts.clear();
        self.peers.clear();
        self.slots.clear();
        self.net_ids.clear();
        self.main_host = None;
        self.admission = None;
        self.incoming.clear();
        self.current = None;
        self.mode = Mode::None;
        self.unique_id = 0;
        self.connection_status = ConnectionStatus::DISCONNECTED;
        self.refuse_new_connections = false;
        self.flush_queued = false;
    }

    fn put_packet_bytes(&mut self, data: Bytes) -> Error {
        if !self.is_active() {
            godot_error!(
                "RustENetPeer.put_packet: the multiplayer instance isn't currently active"
            );
            return Error::ERR_UNCONFIGURED;
        }
        if self.connection_status != ConnectionStatus::CONNECTED {
            godot_error!(
                "RustENetPeer.put_packet: the multiplayer instance isn't currently connected to any server or client"
            );
            return Error::ERR_UNCONFIGURED;
        }
        let target = self.target_peer;
        if target != 0 && !self.peers.contains_key(&target.saturating_abs()) {
            godot_error!("RustENetPeer.put_packet: invalid target peer {target}");
            return Error::ERR_INVALID_PARAMETER;
        }
        if self.mode == Mode::Client && !self.peers.contains_key(&1) {
            godot_error!("RustENetPeer.put_packet: the client has no server peer");
            return Error::ERR_BUG;
        }
        let (channel, flags) = enet_channel_and_flags(self.transfer_mode, self.transfer_channel);
        let Ok(channel) = u8::try_from(channel) else {
            // Godot's peer returns OK here too (it truncates the ENet channel to 8 bits and sends
            // on the wrong channel); the packet is dropped instead, with the error.
            godot_error!(
                "RustENetPeer.put_packet: transfer channel {} is out of range (at most 253); packet dropped",
                self.transfer_channel
            );
            return Error::OK;
        };
        let packet = Packet::new(data, flags);
        // Like Godot, send failures (e.g. a channel the connection lacks) are reported by the
        // packet peer but do not change the result. Unless `immediate_flush` is set, packets are
        // only queued here and leave together at the end of the frame (or with the next `poll`).
        let immediate = self.immediate_flush;
        match self.mode {
            Mode::Server if target == 0 => {
                if let Some(host) = self.hosts.get_mut(&0) {
                    let mut host = host.bind_mut();
                    host.broadcast_packet(channel, packet);
                    if immediate {
                        host.flush_host();
                    }
                }
            }
            Mode::Server if target < 0 => {
                for (&id, &slot) in &self.slots {
                    if id != -target {
                        self.send_to(id, slot, channel, packet.clone());
                    }
                }
                if let Some(host) = self.hosts.get_mut(&0).filter(|_| immediate) {
                    host.bind_mut().flush_host();
                }
            }
            Mode::Server => {
                if let Some(&slot) = self.slots.get(&target) {
                    self.send_to(target, slot, channel, packet);
                }
                if let Some(host) = self.hosts.get_mut(&0).filter(|_| immediate) {
                    host.bind_mut().flush_host();
                }
            }
            Mode::Client => {
                if let Some(&slot) = self.slots.get(&1) {
                    self.send_to(1, slot, channel, packet);
                    if immediate && let Some(peer) = self.peers.get_mut(&1) {
                        peer.bind_mut().flush();
                    }
                }
            }
            Mode::Mesh => {
                for (id, peer) in &mut self.peers {
                    let selected = if target <= 0 {
                        *id != -target
                    } else {
                        *id == target
                    };
                    if selected {
                        let mut peer = peer.bind_mut();
                        peer.send_packet(channel, packet.clone());
                        if immediate {
                            peer.flush();
                        }
                    }
                }
            }
            Mode::None => {}
        }
        if !immediate {
            self.schedule_flush();
        }
        Error::OK
    }
}

impl Drop for RustENetPeer {
    fn drop(&mut self) {
        self.close_peer();
    }
}

#[godot_api]
impl IMultiplayerPeerExtension for RustENetPeer {
    fn get_available_packet_count(&self) -> i32 {
        i32::try_from(self.incoming.len()).unwrap_or(i32::MAX)
    }

    fn get_max_packet_size(&self) -> i32 {
        MAX_PACKET_SIZE
    }

    unsafe fn get_packet_rawptr(
        &mut self,
        r_buffer: RawPtr<*mut RawPtr<*const u8>>,
        r_buffer_size: RawPtr<*mut i32>,
    ) -> Error {
        let Some(packet) = self.incoming.pop_front() else {
            godot_error!("RustENetPeer.get_packet: no incoming packets available");
            return Error::ERR_UNAVAILABLE;
        };
        let data = self.current.insert(packet.data);
        // SAFETY: Godot passes valid, writable out-pointers; the buffer lives in `self.current`
        // until the next get_packet, poll or close, which is as long as Godot may read it.
        unsafe { crate::write_packet_out(data, r_buffer, r_buffer_size) };
        Error::OK
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
        match self.incoming.front() {
            Some(p) if i64::from(p.enet_channel) >= SYSCH_MAX => {
                i32::from(p.enet_channel) - SYSCH_MAX as i32 + 1
            }
            Some(_) => 0,
            None => {
                godot_error!("RustENetPeer.get_packet_channel: no packets to get");
                1
            }
        }
    }

    fn get_packet_mode(&self) -> TransferMode {
        match self.incoming.front() {
            Some(p) => p.mode,
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
        match self.incoming.front() {
            Some(p) => p.from,
            None => {
                godot_error!("RustENetPeer.get_packet_peer: no packets to get");
                1
            }
        }
    }

    fn is_server(&self) -> bool {
        self.mode == Mode::Server
    }

    fn poll(&mut self) {
        if !self.is_active() {
            godot_error!("RustENetPeer.poll: the multiplayer instance isn't currently active");
            return;
        }
        self.current = None;
        if self.flush_queued {
            self.flush_hosts();
        }
        self.disconnect_inactive_peers();
        match self.mode {
            Mode::Client => self.poll_client(),
            Mode::Server => self.poll_server(),
            Mode::Mesh => self.poll_mesh(),
            Mode::None => {}
        }
        self.send_deferred_acknowledgements();
    }

    fn close(&mut self) {
        self.close_peer();
    }

    fn disconnect_peer(&mut self, peer: i32, force: bool) {
        if !self.is_active() {
            godot_error!(
                "RustENetPeer.disconnect_peer: the multiplayer instance isn't currently active"
            );
            return;
        }
        let Some(packet_peer) = self.peers.get_mut(&peer) else {
            godot_error!("RustENetPeer.disconnect_peer: invalid peer id {peer}");
            return;
        };
        {
            let mut packet_peer = packet_peer.bind_mut();
            packet_peer.peer_disconnect(0);
            packet_peer.flush();
        }
        if force {
            self.remove_peer(peer);
            if self.mode == Mode::Mesh {
                self.hosts.remove(&peer);
            }
            if self.mode == Mode::Client {
                self.close_peer();
            }
        }
    }

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
        if let Some(admission) = &self.admission {
            admission.set_refusing(enable);
        }
        // Like Godot: a DTLS server also stops starting new DTLS sessions.
        for host in self.hosts.values_mut() {
            host.bind_mut().refuse_new_connections(enable);
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transfer_modes_map_to_godot_channels_and_flags() {
        let (ch, flags) = enet_channel_and_flags(TransferMode::RELIABLE, 0);
        assert_eq!((ch, flags), (0, PacketFlags::RELIABLE));
        let (ch, flags) = enet_channel_and_flags(TransferMode::UNRELIABLE, 0);
        assert_eq!(ch, 1);
        assert_eq!(flags.bits(), 0x2 | 0x8);
        let (ch, flags) = enet_channel_and_flags(TransferMode::UNRELIABLE_ORDERED, 0);
        assert_eq!((ch, flags.bits()), (1, 0x8));
        let (ch, _) = enet_channel_and_flags(TransferMode::UNRELIABLE, 3);
        assert_eq!(ch, 4);
    }

    #[test]
    fn received_flags_give_godot_transfer_modes() {
        assert_eq!(
            transfer_mode_of(PacketFlags::RELIABLE),
            TransferMode::RELIABLE
        );
        assert_eq!(
            transfer_mode_of(PacketFlags::UNSEQUENCED),
            TransferMode::UNRELIABLE
        );
        assert_eq!(
            transfer_mode_of(PacketFlags::UNRELIABLE_FRAGMENT),
            TransferMode::UNRELIABLE_ORDERED
        );
        assert_eq!(
            transfer_mode_of(PacketFlags::NONE),
            TransferMode::UNRELIABLE_ORDERED
        );
    }

    #[test]
    fn unique_ids_are_valid_client_ids() {
        for _ in 0..1000 {
            let id = generate_unique_id();
            assert!(id >= 2);
        }
    }
}
