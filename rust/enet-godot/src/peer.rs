//! `RustENetPeer`: the `MultiplayerPeer` that replaces Godot's `ENetMultiplayerPeer`.
//!
//! The session rules (ids, admission, targets, the channel mapping, when datagrams leave) live
//! in [`crate::session`]; this class converts arguments, maps results to Godot's error codes,
//! emits signals, owns the packet buffer Godot reads and keeps the Godot objects (`host`,
//! `get_peer`, mesh hosts) that mirror the session's connections.

// gdext's `#[godot_api]` expands to public helper types without `Debug` implementations.
#![allow(missing_debug_implementations)]

use std::collections::HashMap;

use bytes::Bytes;
use godot::classes::multiplayer_peer::{ConnectionStatus, TransferMode};
use godot::classes::{IMultiplayerPeerExtension, MultiplayerPeerExtension, TlsOptions};
use godot::global::Error;
use godot::meta::conv::RawPtr;
use godot::prelude::*;
use rust_enet_net::{BindAddress, LinkDirection};
use rust_enet_proto::PeerId;
use rust_enet_proto::compress::CompressionMode;

use crate::connection::{
    MAXIMUM_CHANNELS, RustENetConnection, conditions_of, link_direction, parse_bind_address,
};
use crate::packet_peer::{MAX_PACKET_SIZE, RustENetPacketPeer};
use crate::session::mapping::SYSCH_MAX;
use crate::session::{
    AfterPoll, Disconnected, HostKey, MeshError, Mode, PutError, SendFailure, Session,
    SessionEvent, Status, Target, Transfer, UserChannel,
};
use crate::settings;
use crate::simulation::{self, Simulation};

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
    /// The active session; `None` until a `create_*` call succeeds and after `close()`.
    session: Option<Session>,
    refuse_new_connections: bool,
    transfer_channel: i32,
    #[init(val = TransferMode::RELIABLE)]
    transfer_mode: TransferMode,
    target_peer: i32,
    #[init(val = BindAddress::Wildcard)]
    bind_ip: BindAddress,
    /// The server's or client's host object (`host`).
    main_host: Option<Gd<RustENetConnection>>,
    /// Mesh mode: the host object of each remote peer id.
    mesh_hosts: HashMap<i32, Gd<RustENetConnection>>,
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
    /// The compression every host this peer creates or adds uses: a
    /// `RustENetConnection.COMPRESS_*` constant (Godot 3's `compression_mode`).
    #[var(set = set_compression_mode)]
    compression_mode: i32,
    /// TLS options for `create_server`: with them, the server speaks DTLS (Godot 4's
    /// `TLSOptions.server(key, certificate)`).
    #[var]
    dtls_server_options: Option<Gd<TlsOptions>>,
    /// TLS options for `create_client`: with them, the client speaks DTLS (Godot 4's
    /// `TLSOptions.client(trusted_chain)`; `TLSOptions.client_unsafe()` skips verification).
    #[var]
    dtls_client_options: Option<Gd<TlsOptions>>,
    /// The name the server's certificate must carry for `create_client` with
    /// `dtls_client_options`; empty (the default) means the address given to `create_client`.
    #[var]
    dtls_hostname: GString,
    /// What `set_link_simulation` / `set_link_preset` asked for, if they were called.
    simulation: Option<Simulation>,
    /// What is simulated on this peer's hosts now.
    active_simulation: Simulation,
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
            (max_channels + i64::from(SYSCH_MAX)).min(MAXIMUM_CHANNELS)
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
        if let Some(options) = self.dtls_server_options.clone() {
            let err = host.bind_mut().dtls_server_setup(Some(options));
            if err != Error::OK {
                host.bind_mut().destroy();
                return err;
            }
        }
        self.configure_host(&mut host);
        let Some(shared) = host.bind().shared_host() else {
            return Error::ERR_CANT_CREATE;
        };
        self.session = Some(Session::server(shared));
        self.main_host = Some(host);
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
        if let Some(options) = self.dtls_client_options.clone() {
            let hostname = if self.dtls_hostname.is_empty() {
                address.clone()
            } else {
                self.dtls_hostname.clone()
            };
            let err = host.bind_mut().dtls_client_setup(hostname, Some(options));
            if err != Error::OK {
                host.bind_mut().destroy();
                return err;
            }
        }
        self.configure_host(&mut host);
        let unique_id = generate_unique_id();
        let channels = if channel_count > 0 {
            channel_count + i64::from(SYSCH_MAX)
        } else {
            0
        };
        let peer = host
            .bind_mut()
            .connect_to_host(address, port, channels, i64::from(unique_id));
        let (Some(peer), Some(shared)) = (peer, host.bind().shared_host()) else {
            host.bind_mut().destroy();
            godot_error!(
                "RustENetPeer.create_client: couldn't connect to the ENet multiplayer server"
            );
            return Error::ERR_CANT_CREATE;
        };
        let slot = peer.bind().slot();
        self.session = Some(Session::client(shared, slot, unique_id));
        self.main_host = Some(host);
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
        self.session = Some(Session::mesh(unique_id));
        Error::OK
    }

    /// Adds the remote peer `peer_id`, connected through `host` (a `RustENetConnection` with
    /// exactly one connected peer). Emits `peer_connected(peer_id)` at once.
    #[func]
    pub fn add_mesh_peer(&mut self, peer_id: i32, host: Option<Gd<RustENetConnection>>) -> Error {
        let Some(host) = host else {
            godot_error!("RustENetPeer.add_mesh_peer: the host is null");
            return Error::ERR_INVALID_PARAMETER;
        };
        let shared = host.bind().shared_host();
        let result = match (&mut self.session, shared) {
            (Some(session), Some(shared)) => session.add_mesh_peer(peer_id, shared),
            (Some(session), None) if matches!(session.mode(), Mode::Mesh(_)) => {
                Err(MeshError::InvalidHost)
            }
            _ => Err(MeshError::NotMesh),
        };
        match result {
            Ok(_) => {}
            Err(MeshError::NotMesh) => {
                godot_error!(
                    "RustENetPeer.add_mesh_peer: the multiplayer instance is not configured as a mesh; call create_mesh first"
                );
                return Error::ERR_UNCONFIGURED;
            }
            Err(MeshError::InvalidHost) => {
                godot_error!(
                    "RustENetPeer.add_mesh_peer: the provided host must have exactly one peer in the connected state"
                );
                return Error::ERR_INVALID_PARAMETER;
            }
        }
        let mut host = host;
        self.configure_host(&mut host);
        self.mesh_hosts.insert(peer_id, host);
        self.base_mut()
            .emit_signal("peer_connected", &[i64::from(peer_id).to_variant()]);
        Error::OK
    }

    /// The packet peer of the remote peer `id` (on a client only 1, the server).
    #[func]
    pub fn get_peer(&self, id: i32) -> Option<Gd<RustENetPacketPeer>> {
        let Some(session) = &self.session else {
            godot_error!("RustENetPeer.get_peer: the multiplayer instance isn't currently active");
            return None;
        };
        let peer = session
            .locate(id)
            .and_then(|(key, slot)| self.packet_peer(key, slot));
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

    /// Simulates a bad network on every host of this peer, now and for the hosts it creates or
    /// adds later (Godot 3 had no equivalent; see also the `network/rust_enet/simulation/`
    /// project settings, which need no code). `conditions` may hold `latency_ms`, `jitter_ms`,
    /// `loss_percent`, `duplicate_percent`, `reorder_percent` and `bandwidth_bytes_per_sec`
    /// (missing keys are 0; an empty dictionary restores a perfect link); `direction` is a
    /// `RustENetConnection.LINK_*` constant.
    #[func]
    pub fn set_link_simulation(
        &mut self,
        conditions: VarDictionary,
        #[opt(default = 0)] direction: i32,
    ) {
        let Some(direction) = link_direction(direction) else {
            godot_error!("RustENetPeer.set_link_simulation: unknown direction {direction}");
            return;
        };
        let mut sim = self.simulation.unwrap_or_default();
        sim.set(direction, conditions_of(&conditions));
        self.set_simulation(sim);
    }

    /// Simulates one of the named networks in both directions: `"lan"`, `"good_wifi"`,
    /// `"mobile_4g"`, `"bad"`, or `"off"` for a perfect link. Returns `ERR_INVALID_PARAMETER`
    /// for another name.
    #[func]
    pub fn set_link_preset(&mut self, name: GString) -> Error {
        let Some(conditions) = simulation::preset(&name.to_string()) else {
            godot_error!(
                "RustENetPeer.set_link_preset: unknown preset {name:?}; use off, {}",
                simulation::preset_names()
            );
            return Error::ERR_INVALID_PARAMETER;
        };
        let mut sim = Simulation::default();
        sim.set(LinkDirection::Both, conditions);
        self.set_simulation(sim);
        Error::OK
    }

    /// What this peer's hosts simulate now: `{"outgoing": {...}, "incoming": {...}}`, each with
    /// the keys `set_link_simulation` takes.
    #[func]
    pub fn get_link_simulation(&self) -> VarDictionary {
        simulation_dictionary(&self.active_simulation)
    }

    /// What the `network/rust_enet/simulation/` project settings give every new peer in a debug
    /// build, or with `release_build` in a release export: as `get_link_simulation`, or an
    /// empty dictionary when they simulate nothing there.
    #[func]
    pub fn project_link_simulation(release_build: bool) -> VarDictionary {
        settings::project_simulation(!release_build)
            .map(|sim| simulation_dictionary(&sim))
            .unwrap_or_default()
    }

    /// The IP address of the remote peer `id`, as text (Godot 3's `get_peer_address`).
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

    /// The UDP port of the remote peer `id` (Godot 3's `get_peer_port`).
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

    /// Godot 3's `close_connection`: tells every peer that the connection ends (a reliable
    /// disconnect), waits up to `wait_usec` microseconds for them to acknowledge, then closes
    /// like `close()`. The remote ends report the disconnect at once instead of timing out.
    /// No signals here.
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
    /// queued for it has been delivered (`disconnect_peer(id)` drops what is queued).
    /// `peer_disconnected` follows when the disconnect completes.
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

    /// Godot 3's `disconnect_peer(id, true)`: drops the connection to `id` at once (nothing
    /// queued is sent; the remote is told with one unreliable datagram) and emits
    /// `peer_disconnected(id)` now. On a client, `id` 1 closes the connection.
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

    #[func]
    fn set_compression_mode(&mut self, mode: i32) {
        match CompressionMode::from_godot(i64::from(mode)) {
            Some(_) => self.compression_mode = mode,
            None => godot_error!(
                "RustENetPeer.compression_mode: unknown mode {mode}; use a RustENetConnection.COMPRESS_* constant"
            ),
        }
    }

    /// Sends what `put_packet` queued since the last flush. Called deferred (at the end of the
    /// frame) by the first `put_packet` after a flush; does nothing if `poll` or `close` already
    /// sent or dropped it.
    #[func]
    fn _flush_queued_sends(&mut self) {
        if let Some(session) = &mut self.session
            && session.frame_flush_due()
        {
            report_flush_errors(session.flush_all());
        }
    }

    #[func]
    fn get_host(&self) -> Option<Gd<RustENetConnection>> {
        match (&self.session, &self.main_host) {
            (Some(session), Some(host)) if !matches!(session.mode(), Mode::Mesh(_)) => {
                Some(host.clone())
            }
            _ => {
                godot_error!("RustENetPeer.host: only available in server and client mode");
                None
            }
        }
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

/// Puts `sim` on both directions of `host`'s link.
fn apply_simulation(host: &mut Gd<RustENetConnection>, sim: &Simulation) {
    if let Some(shared) = host.bind().shared_host()
        && let Some(udp) = shared.lock().as_mut()
    {
        udp.set_link_conditions(LinkDirection::Outgoing, sim.outgoing);
        udp.set_link_conditions(LinkDirection::Incoming, sim.incoming);
    }
}

fn to_transfer(mode: TransferMode) -> Transfer {
    match mode {
        TransferMode::UNRELIABLE => Transfer::Unreliable,
        TransferMode::UNRELIABLE_ORDERED => Transfer::UnreliableOrdered,
        _ => Transfer::Reliable,
    }
}

fn to_transfer_mode(transfer: Transfer) -> TransferMode {
    match transfer {
        Transfer::Unreliable => TransferMode::UNRELIABLE,
        Transfer::UnreliableOrdered => TransferMode::UNRELIABLE_ORDERED,
        Transfer::Reliable => TransferMode::RELIABLE,
    }
}

/// A simulation as `get_link_simulation` reports it.
fn simulation_dictionary(sim: &Simulation) -> VarDictionary {
    let side = |c| {
        let mut d = VarDictionary::new();
        for (key, value) in simulation::condition_fields(c) {
            d.set(key, value);
        }
        d
    };
    let mut out = VarDictionary::new();
    out.set("outgoing", &side(&sim.outgoing));
    out.set("incoming", &side(&sim.incoming));
    out
}

fn report_flush_errors(errors: Vec<std::io::Error>) {
    for e in errors {
        godot_error!("RustENetConnection.flush: {e}");
    }
}

/// The messages `RustENetPacketPeer.send` gives for the same failures.
fn report_send_failure(failure: SendFailure) {
    match failure {
        SendFailure::Inactive => godot_error!("RustENetPacketPeer.send: the peer is not active"),
        SendFailure::HostDestroyed => {
            godot_error!("RustENetPacketPeer.send: the host was destroyed")
        }
        SendFailure::Refused { channel, error } => godot_error!(
            "RustENetPacketPeer.send: unable to send packet on channel {channel}: {error}"
        ),
        SendFailure::Flush(e) => godot_error!("RustENetPacketPeer: flush failed: {e}"),
    }
}

impl RustENetPeer {
    fn is_active(&self) -> bool {
        self.session.is_some()
    }

    /// The host object behind `key`.
    fn host_object(&self, key: HostKey) -> Option<Gd<RustENetConnection>> {
        match key {
            HostKey::Main => self.main_host.clone(),
            HostKey::Mesh(id) => self.mesh_hosts.get(&id).cloned(),
        }
    }

    /// The packet peer of `slot` on host `key` (the one its host object hands out).
    fn packet_peer(&self, key: HostKey, slot: PeerId) -> Option<Gd<RustENetPacketPeer>> {
        self.host_object(key)
            .map(|mut host| host.bind_mut().wrapper(slot))
    }

    /// Gives a host this peer creates or adds its compression and simulation.
    fn configure_host(&mut self, host: &mut Gd<RustENetConnection>) {
        if self.compression_mode != 0 {
            host.bind_mut().compress(i64::from(self.compression_mode));
        }
        let (sim, source) = match self.simulation {
            Some(sim) => (Some(sim), "set_link_simulation"),
            None => (
                settings::project_simulation(settings::is_debug_build()),
                "Project Settings > network/rust_enet/simulation",
            ),
        };
        let Some(sim) = sim.filter(Simulation::is_active) else {
            return;
        };
        apply_simulation(host, &sim);
        self.active_simulation = sim;
        godot_print!("RustENetPeer: simulating a bad network ({sim}), from {source}");
    }

    /// Applies `sim` to every host now and remembers it for later ones.
    fn set_simulation(&mut self, sim: Simulation) {
        self.simulation = Some(sim);
        self.active_simulation = sim;
        let hosts = self
            .main_host
            .iter_mut()
            .chain(self.mesh_hosts.values_mut());
        let mut any = false;
        for host in hosts {
            apply_simulation(host, &sim);
            any = true;
        }
        if any && sim.is_active() {
            godot_print!(
                "RustENetPeer: simulating a bad network ({sim}), from set_link_simulation"
            );
        }
    }

    /// Destroys the host objects of a closed session.
    fn destroy_hosts(&mut self) {
        let hosts = self
            .main_host
            .take()
            .into_iter()
            .chain(self.mesh_hosts.drain().map(|(_, h)| h));
        for mut host in hosts {
            let mut host = host.bind_mut();
            if host.is_created() {
                host.destroy();
            }
        }
        self.current = None;
        self.refuse_new_connections = false;
        self.active_simulation = Simulation::default();
    }

    /// Makes sure a deferred `_flush_queued_sends` runs at the end of this frame.
    fn schedule_flush(&mut self) {
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

    /// Emits a signal through `base_mut()`, so the handlers (SceneMultiplayer) may call back
    /// into this peer.
    fn emit(&mut self, signal: &str, id: i32) {
        self.base_mut()
            .emit_signal(signal, &[i64::from(id).to_variant()]);
    }

    /// Mirrors one session event on the Godot objects and in signals. Returns false when the
    /// session ended.
    fn apply(&mut self, event: SessionEvent) -> bool {
        match event {
            SessionEvent::Connected { id, host, slot } => {
                if let Some(mut peer) = self.packet_peer(host, slot)
                    && matches!(
                        self.session.as_ref().map(Session::mode),
                        Some(Mode::Server(_))
                    )
                {
                    peer.set_meta("_net_id", &id.to_variant());
                }
                self.emit("peer_connected", id);
            }
            SessionEvent::Disconnected { id, host, slot } => {
                if let Some(mut object) = self.host_object(host) {
                    object.bind_mut().release_wrapper(slot);
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
            SessionEvent::Ended(failure) => {
                if let Some(failure) = failure {
                    godot_error!("RustENetConnection.service: {failure}");
                }
                self.close_peer();
                return false;
            }
        }
        true
    }

    /// `close()`: drops every connection at once (an unreliable DISCONNECT each), closes the
    /// sockets and forgets everything. No signals.
    fn close_peer(&mut self) {
        let Some(session) = self.session.take() else {
            return;
        };
        report_flush_errors(session.close());
        self.destroy_hosts();
    }

    fn put_packet_bytes(&mut self, data: Bytes) -> Error {
        let Some(session) = &mut self.session else {
            godot_error!(
                "RustENetPeer.put_packet: the multiplayer instance isn't currently active"
            );
            return Error::ERR_UNCONFIGURED;
        };
        session.frame.immediate = self.immediate_flush;
        let target = self.target_peer;
        // Like Godot, send failures (e.g. a channel the connection lacks) are reported but do
        // not change the result.
        let result = session.put(
            Target::from_target_peer(target),
            to_transfer(self.transfer_mode),
            UserChannel(self.transfer_channel),
            data,
            &mut report_send_failure,
        );
        match result {
            Ok(()) => {}
            Err(PutError::NotConnected) => {
                godot_error!(
                    "RustENetPeer.put_packet: the multiplayer instance isn't currently connected to any server or client"
                );
                return Error::ERR_UNCONFIGURED;
            }
            Err(PutError::InvalidTarget) => {
                godot_error!("RustENetPeer.put_packet: invalid target peer {target}");
                return Error::ERR_INVALID_PARAMETER;
            }
            Err(PutError::NoServerPeer) => {
                godot_error!("RustENetPeer.put_packet: the client has no server peer");
                return Error::ERR_BUG;
            }
            Err(PutError::ChannelOutOfRange) => {
                // Godot's peer returns OK here too (it truncates the ENet channel to 8 bits and
                // sends on the wrong channel); the packet is dropped instead, with the error.
                godot_error!(
                    "RustENetPeer.put_packet: transfer channel {} is out of range (at most 253); packet dropped",
                    self.transfer_channel
                );
                return Error::OK;
            }
        }
        if !self.immediate_flush && session.schedule_frame_flush() {
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
        let immediate = self.immediate_flush;
        let Some(session) = &mut self.session else {
            godot_error!("RustENetPeer.poll: the multiplayer instance isn't currently active");
            return;
        };
        self.current = None;
        session.frame.immediate = immediate;
        report_flush_errors(session.begin_poll());
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
        let (after, errors) = session.after_poll();
        report_flush_errors(errors);
        if after == AfterPoll::ScheduleFlush {
            self.schedule_flush();
        }
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
        let hosts = self
            .main_host
            .iter_mut()
            .chain(self.mesh_hosts.values_mut());
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transfer_modes_convert_both_ways() {
        for mode in [
            TransferMode::RELIABLE,
            TransferMode::UNRELIABLE,
            TransferMode::UNRELIABLE_ORDERED,
        ] {
            assert_eq!(to_transfer_mode(to_transfer(mode)), mode);
        }
    }

    #[test]
    fn unique_ids_are_valid_client_ids() {
        for _ in 0..1000 {
            let id = generate_unique_id();
            assert!(id >= 2);
        }
    }
}
