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
use godot::classes::multiplayer_peer::TransferMode;
use godot::classes::{MultiplayerPeerExtension, TlsOptions};
use godot::global::Error;
use godot::prelude::*;
use rust_enet_net::{BindAddress, LinkDirection};
use rust_enet_proto::compress::CompressionMode;

use crate::connection::{
    MAXIMUM_CHANNELS, RustENetConnection, conditions_of, link_direction, parse_bind_address,
};
use crate::packet_peer::{RustENetPacketPeer, reason_dictionary};
use crate::session::mapping::SYSCH_MAX;
use crate::session::{LeaveReason, MeshError, Mode, Session, SessionEvent};
use crate::settings;
use crate::simulation::{self, Simulation};
use crate::stats::RateMeter;

mod driving;
mod multiplayer;

use driving::*;

/// A `MultiplayerPeer` speaking the ENet protocol, implemented in Rust: a drop-in replacement for
/// `ENetMultiplayerPeer`.
///
/// RustENetPeer is a `MultiplayerPeer` for the high-level multiplayer API. It has the same methods,
/// defaults, error codes and signals as `ENetMultiplayerPeer` and speaks the same ENet 1.3 wire
/// protocol, so a game switches to it with one line, and a RustENetPeer server accepts clients that
/// use Godot's built-in peer (and the reverse):
///
/// ```gdscript
/// var peer = RustENetPeer.new()
/// peer.create_server(7000)  # Or peer.create_client("127.0.0.1", 7000)
/// multiplayer.multiplayer_peer = peer
/// ```
///
/// The ENet connection and its packet peers are `RustENetConnection` (`host`) and
/// `RustENetPacketPeer` (`get_peer`), which mirror `ENetConnection` and `ENetPacketPeer`.
///
/// Reliable packets travel on ENet channel 0, unreliable and unreliable-ordered ones on channel 1,
/// and `MultiplayerPeer.transfer_channel` `n` on ENet channel `n + 1`; the server's id is `1` and a
/// client sends its randomly chosen id with its connection request, as Godot does.
///
/// Differences from `ENetMultiplayerPeer`:
///
/// - Connections survive the main thread's stalls (a level load, a long frame, a breakpoint): a
///   background thread keeps acknowledging, resending and pinging while `MultiplayerPeer.poll` is
///   not called, and what it receives waits for the next poll. A stalled built-in server loses its
///   clients after ENet's timeout. See `use_service_thread`.
/// - `MultiplayerPeer.put_packet` queues the packet; everything queued in a frame leaves together
///   at the end of the frame (or with the next `MultiplayerPeer.poll`), several packets per
///   datagram, together with the acknowledgements of what `MultiplayerPeer.poll` received. Set
///   `immediate_flush` to `true` to send each packet at once, like the built-in peer.
/// - In `create_server`, `max_channels` limits the channels and `in_bandwidth` is honoured (the
///   built-in peer passes the channel count as the incoming bandwidth).
/// - A server refuses a client it will not take (when full, while
///   `MultiplayerPeer.refuse_new_connections` is on, or when the client's id is invalid or already
///   connected) as its connection request arrives, with an answer that makes the client fail within
///   a round trip: `MultiplayerAPI.connection_failed` on built-in and RustENetPeer clients alike.
///   The built-in server completes the handshake and then drops the client silently, so its clients
///   report `MultiplayerAPI.connected_to_server` and time out seconds later.
/// - A client given a host name tries every address it resolves to (IPv6 and IPv4 interleaved, the
///   next one after 250 ms without an answer), so `"localhost"` reaches an IPv4-only server even
///   where it resolves to `::1` first.
///
/// Additions for testing and for projects coming from Godot 3:
///
/// - `set_link_simulation` and `set_link_preset` simulate a bad network (latency, jitter, loss,
///   duplication, reordering, a bandwidth cap) on every host of the peer; the
///   `network/rust_enet/simulation/` project settings do it for every peer of a game without code
///   (see `project_link_simulation`).
/// - `compression_mode`, `dtls_server_options`, `dtls_client_options` and `dtls_hostname` are set
///   before `create_server` / `create_client`, as in Godot 3; `get_peer_address`, `get_peer_port`,
///   `close_connection`, `disconnect_peer_later` and `disconnect_peer_now` are Godot 3's
///   `get_peer_address`, `get_peer_port`, `close_connection` and `disconnect_peer(id, now)`.
/// - Godot 3's `always_ordered` is `MultiplayerPeer.TRANSFER_MODE_UNRELIABLE_ORDERED` in Godot 4,
///   `server_relay` is `SceneMultiplayer.server_relay`, and `transfer_channel` is
///   `MultiplayerPeer.transfer_channel`: use those.
///
/// **Note:** ENet only uses UDP, not TCP. When forwarding the server port to make your server
/// accessible on the public Internet, you only need to forward the server port in UDP.
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
    /// The `RustENetConnection` created by `create_server` or `create_client`, for settings such as
    /// `RustENetConnection.compress`, `RustENetConnection.dtls_server_setup` or
    /// `RustENetConnection.bandwidth_limit`. `null` (with an error) before a successful `create_*`
    /// call, after `MultiplayerPeer.close` and in mesh mode.
    #[var(get = get_host, no_set, usage_flags = [NONE])]
    host: PhantomVar<Option<Gd<RustENetConnection>>>,
    /// If `true`, every `MultiplayerPeer.put_packet` (every RPC) sends its packet in its own
    /// datagram at once, like `ENetMultiplayerPeer`. If `false` (the default), packets are queued
    /// and leave together at the end of the frame or with the next `MultiplayerPeer.poll`, several
    /// per datagram and with the acknowledgements of the packets received in the frame: the order
    /// and reliability of packets are the same, and a game sending many RPCs per frame uses far
    /// less CPU and bandwidth. The queued packets of a frame reach the remote end within the same
    /// frame either way.
    #[var]
    immediate_flush: bool,
    /// If `true` (the default, from the project setting `network/rust_enet/use_service_thread`),
    /// each host of this peer is serviced on a background thread too (see
    /// `RustENetConnection.start_service_thread`), so connections survive the main thread's stalls:
    /// a level load, a long frame, a shader compile, a breakpoint. While the main thread is away,
    /// the thread receives, acknowledges, resends, pings and completes handshakes; a peer stays
    /// connected as long as its remote end answers, while a remote that really went silent still
    /// times out. Everything a script sees stays on the main thread and in the same order as with
    /// the thread off: packets, `MultiplayerPeer.peer_connected`,
    /// `MultiplayerPeer.peer_disconnected` and status changes come with `MultiplayerPeer.poll`.
    /// What the game sends still leaves with the frame's flush, or within about a millisecond;
    /// acknowledgements of packets the game has not handled yet leave from the thread about a
    /// millisecond after they arrive, which keeps round-trip times steady. The thread costs CPU
    /// time of its own, on another core where there is one (benchmark scenario 6: 13% of a core for
    /// a server receiving 15,000 datagrams per second). `ENetMultiplayerPeer` has no thread: a
    /// server that stalls for longer than ENet's timeout (5 to 30 seconds) loses every client.
    ///
    /// Set it to `false` to service the hosts only in `MultiplayerPeer.poll`, like
    /// `ENetMultiplayerPeer`. It takes effect at once, also on an active peer.
    #[var(set = set_use_service_thread)]
    #[init(val = settings::use_service_thread())]
    use_service_thread: bool,
    /// The compression every host this peer creates (`create_server`, `create_client`) or adds
    /// (`add_mesh_peer`) uses: a `RustENetConnection.COMPRESS_*` constant, `0` (none) by default.
    /// Both ends must use the same mode; a Godot 4 `ENetMultiplayerPeer` on the other end sets it
    /// with `host.compress(mode)`. Godot 3's `compression_mode`.
    #[var(set = set_compression_mode)]
    compression_mode: i32,
    /// TLS options for `create_server`: when set, the server speaks DTLS, so a DTLS server is
    /// `peer.dtls_server_options = TLSOptions.server(key, certificate)` before `create_server`.
    /// Godot 3's `use_dtls`, `set_dtls_key` and `set_dtls_certificate`.
    #[var]
    dtls_server_options: Option<Gd<TlsOptions>>,
    /// TLS options for `create_client`: when set, the client speaks DTLS, so a DTLS game is
    /// `peer.dtls_client_options = TLSOptions.client(trusted_chain)` before `create_client`
    /// (`TLSOptions.client_unsafe()` skips certificate checks). The server's certificate must name
    /// `dtls_hostname`. Godot 3's `use_dtls` and `dtls_verify`; Godot 4's built-in peer cannot set
    /// up a DTLS client through `create_client` at all.
    #[var]
    dtls_client_options: Option<Gd<TlsOptions>>,
    /// The name the server's certificate must carry when `create_client` uses
    /// `dtls_client_options`. Empty (the default) means the address given to `create_client`. Godot
    /// 3's `dtls_hostname`.
    #[var]
    dtls_hostname: GString,
    /// Rates of this peer's hosts, measured once a second by `poll`.
    meter: RateMeter,
    /// This object's key in the monitors' registry, once it reported there.
    monitor_key: Option<i64>,
    /// Why each peer that left during the last poll (or since) left: `get_disconnect_reason`.
    last_reasons: HashMap<i32, LeaveReason>,
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
    /// Creates a server listening on `port` for up to `max_clients` clients (1 to 4095). The server
    /// binds every interface, or the address given to `set_bind_ip`.
    ///
    /// `max_channels` limits the number of ENet channels a client gets; `0` allows the maximum of
    /// 255. `in_bandwidth` and `out_bandwidth` are in bytes per second; `0` (or a negative value)
    /// means unlimited, and ENet then throttles nothing.
    ///
    /// Returns `OK`; `ERR_ALREADY_IN_USE` if this peer is already a server, client or mesh (call
    /// `MultiplayerPeer.close` first); `ERR_INVALID_PARAMETER` if an argument is out of range;
    /// `ERR_CANT_CREATE` if the port cannot be bound. An error also prints a message that says
    /// which argument to change.
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

    /// Creates a client that connects to a server at `address` and `port`. `address` is an IPv4 or
    /// IPv6 address or a host name (resolved now, blocking).
    ///
    /// `channel_count` is the number of user channels to request (`0` for the most the server
    /// allows). `in_bandwidth` and `out_bandwidth` are in bytes per second, `0` for unlimited. A
    /// non-zero `local_port` binds the client to that port (and to the address given to
    /// `set_bind_ip`).
    ///
    /// Connecting happens in the background: `MultiplayerAPI.connected_to_server` or
    /// `MultiplayerAPI.connection_failed` follows, and `MultiplayerPeer.get_connection_status` goes
    /// from `MultiplayerPeer.CONNECTION_CONNECTING` to `MultiplayerPeer.CONNECTION_CONNECTED`.
    ///
    /// Returns `OK`; `ERR_ALREADY_IN_USE` if this peer is already active; `ERR_INVALID_PARAMETER`
    /// for an invalid port, channel count or bandwidth; `ERR_CANT_CREATE` if the address cannot be
    /// resolved or the socket cannot be created.
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

    /// Initializes this peer in mesh mode with `unique_id` as its own network id. Remote peers are
    /// then added one by one with `add_mesh_peer`, each through its own `RustENetConnection`; there
    /// is no server, and every peer talks to every other directly.
    ///
    /// Returns `ERR_INVALID_PARAMETER` if `unique_id` is not greater than `0` and
    /// `ERR_ALREADY_IN_USE` if this peer is already active.
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

    /// Adds the remote peer `peer_id` in mesh mode. `host` must be a `RustENetConnection` with
    /// exactly one peer, already connected (for example one made with
    /// `RustENetConnection.create_host_bound` and `RustENetConnection.connect_to_host`, serviced
    /// until `RustENetConnection.EVENT_CONNECT`). The peer owns `host` from then on and services it
    /// in `MultiplayerPeer.poll`. Emits `MultiplayerPeer.peer_connected` at once.
    ///
    /// Returns `ERR_UNCONFIGURED` if `create_mesh` was not called and `ERR_INVALID_PARAMETER` if
    /// `host` is null or does not have exactly one connected peer.
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

    /// Returns the `RustENetPacketPeer` of the remote peer `id`, for per-connection settings and
    /// statistics such as `RustENetPacketPeer.get_statistic` or `RustENetPacketPeer.set_timeout`.
    /// On a client the only remote peer is the server, id `1`. Returns `null` (and prints an error)
    /// if this peer is not active or has no peer with that id.
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

    /// Sets the local address that `create_server` binds, and `create_client` when it is given a
    /// `local_port`. `ip` is an IPv4 or IPv6 address, or `"*"` (the default) for every interface.
    /// An invalid address prints an error and keeps the previous one.
    #[func]
    pub fn set_bind_ip(&mut self, ip: GString) {
        match parse_bind_address(&ip.to_string()) {
            Some(bind) => self.bind_ip = bind,
            None => godot_error!(
                "RustENetPeer.set_bind_ip: invalid bind IP {ip:?}; use an IP address or \"*\""
            ),
        }
    }

    /// Simulates a bad network on every host of this peer (the server's or client's, and every mesh
    /// host), now and for the hosts it creates or adds later, so a whole game can be tested on a
    /// bad network through `SceneMultiplayer`. `conditions` may hold `latency_ms`, `jitter_ms`,
    /// `loss_percent`, `duplicate_percent`, `reorder_percent` and `bandwidth_bytes_per_sec`;
    /// missing keys are `0`, and an empty dictionary restores a perfect link. `direction` is a
    /// `RustENetConnection.LINK_*` constant (both, outgoing or incoming). Without code, the
    /// `network/rust_enet/simulation/` project settings do the same for every peer (see
    /// `project_link_simulation`); a call here takes precedence. A peer prints one line when it
    /// simulates.
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

    /// Simulates a named network in both directions on every host of this peer, as
    /// `set_link_simulation` does. The figures apply to each direction of each host (a round trip
    /// crosses two hosts' links when both simulate):
    ///
    /// - `"lan"`: 1 ms latency + up to 1 ms jitter.
    /// - `"good_wifi"`: 15 ms + up to 10 ms jitter, 0.5% loss.
    /// - `"mobile_4g"`: 50 ms + up to 30 ms jitter, 2% loss, 1% reordered, 1 MB/s.
    /// - `"bad"`: 125 ms + up to 50 ms jitter, 8% loss, 1% duplicated, 3% reordered, 64 KB/s.
    /// - `"off"`: a perfect link.
    ///
    /// Returns `OK`, or `ERR_INVALID_PARAMETER` for another name.
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

    /// Returns what this peer's hosts simulate now, as `{"outgoing": {...}, "incoming": {...}}`,
    /// each with the keys `set_link_simulation` takes: from `set_link_simulation` or
    /// `set_link_preset`, or from the `network/rust_enet/simulation/` project settings. All values
    /// are `0` when nothing is simulated.
    #[func]
    pub fn get_link_simulation(&self) -> VarDictionary {
        simulation_dictionary(&self.active_simulation)
    }

    /// Returns what the `network/rust_enet/simulation/` project settings give every new
    /// `RustENetPeer` in a debug build (the editor, its Run button, debug exports), or with
    /// `release_build` `true` in a release export: in the format of `get_link_simulation`, or an
    /// empty dictionary when they simulate nothing there. Release exports simulate only with
    /// `network/rust_enet/simulation/allow_in_release` on.
    ///
    /// The settings: `enabled`; `preset` (`custom` uses the numbers below; the others as in
    /// `set_link_preset`); `direction` (both, outgoing or incoming); `latency_ms`, `jitter_ms`,
    /// `loss_percent`, `duplicate_percent`, `reorder_percent`, `bandwidth_bytes_per_sec`;
    /// `allow_in_release`. A peer prints one line when it simulates.
    #[func]
    pub fn project_link_simulation(release_build: bool) -> VarDictionary {
        settings::project_simulation(!release_build)
            .map(|sim| simulation_dictionary(&sim))
            .unwrap_or_default()
    }

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

    #[func]
    fn set_use_service_thread(&mut self, enabled: bool) {
        self.use_service_thread = enabled;
        let hosts = self.hosts_mut();
        for host in hosts {
            set_service_thread(host, enabled);
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

    /// Returns what this peer's hosts did, summed over all of them: `peers` (connected remote
    /// peers), `rtt_avg_ms`, `rtt_max_ms`, `loss_percent` (the share of reliable commands lost in
    /// ENet's current 10-second loss epoch, averaged over the peers), the totals `datagrams_sent`,
    /// `datagrams_received`, `bytes_sent`, `bytes_received` (as they crossed the socket: after
    /// compression, with ENet's and DTLS's overhead), `resends` (reliable commands sent again) and
    /// `dropped_malformed` (datagrams dropped as malformed), and each total per second as
    /// `*_per_sec`, measured over the last full second by `MultiplayerPeer.poll`. The same figures,
    /// for every active peer of the process together, are the `RustENet/` monitors of the editor's
    /// Debugger > Monitors tab.
    ///
    /// Diagnostics go to Godot's output: errors and warnings (a peer dropped for a protocol
    /// violation, a failed DTLS session with its reason, socket errors, malformed datagrams) as
    /// `@GlobalScope.push_error` / `@GlobalScope.push_warning`, information and debug lines in the
    /// verbose log (`--verbose`), at most 3 lines of a kind per second and then one line saying how
    /// many were suppressed. The project setting `network/rust_enet/log_level` (Off, Error, Warning
    /// (default), Info, Debug) sets the level.
    #[func]
    pub fn get_statistics(&mut self) -> VarDictionary {
        let mut out = VarDictionary::new();
        let Some(session) = &mut self.session else {
            return out;
        };
        let totals = session.totals();
        let link = session.link_snapshot();
        let rates = self.meter.rates();
        let entries: [(&str, f64); 16] = [
            ("peers", link.peers as f64),
            ("rtt_avg_ms", link.rtt_avg_ms),
            ("rtt_max_ms", link.rtt_max_ms),
            ("loss_percent", link.loss_percent),
            ("datagrams_sent", totals.datagrams_sent as f64),
            ("datagrams_received", totals.datagrams_received as f64),
            ("bytes_sent", totals.bytes_sent as f64),
            ("bytes_received", totals.bytes_received as f64),
            ("resends", totals.resends as f64),
            ("dropped_malformed", totals.dropped_malformed as f64),
            ("datagrams_sent_per_sec", rates.datagrams_sent),
            ("datagrams_received_per_sec", rates.datagrams_received),
            ("bytes_sent_per_sec", rates.bytes_sent),
            ("bytes_received_per_sec", rates.bytes_received),
            ("resends_per_sec", rates.resends),
            ("dropped_malformed_per_sec", rates.dropped_malformed),
        ];
        for (key, value) in entries {
            out.set(key, value);
        }
        out
    }

    /// Returns why the remote peer `id` left: valid in the `MultiplayerPeer.peer_disconnected`
    /// handler and until the next `MultiplayerPeer.poll`. On a client, id `1` also tells why the
    /// connection failed or ended (`MultiplayerAPI.connection_failed`,
    /// `MultiplayerAPI.server_disconnected`). An empty dictionary when nothing is known.
    ///
    /// The dictionary holds `"reason"`, `"message"` (a sentence for logs and players) and `"data"`
    /// (what the remote's disconnect carried, else `0`). Reasons: `"remote"` (the remote end
    /// disconnected), `"timeout"` (it stopped answering, or never answered the connection request),
    /// `"protocol_violation"` (it broke the protocol and was dropped; the message says how),
    /// `"refused"` (the server refused the connection: full, refusing new connections, or the id is
    /// taken), `"dtls_failure"` (with OpenSSL's reason, e.g. a certificate that does not name the
    /// host), `"socket_error"`, `"local"` (our graceful disconnect completed) and `"kicked"`
    /// (dropped here at once).
    #[func]
    pub fn get_disconnect_reason(&self, id: i32) -> VarDictionary {
        self.last_reasons
            .get(&id)
            .map(reason_dictionary)
            .unwrap_or_default()
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

impl Drop for RustENetPeer {
    fn drop(&mut self) {
        self.close_peer();
    }
}
