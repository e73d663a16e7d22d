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
use rust_enet_net::BindAddress;
use rust_enet_proto::compress::CompressionMode;
use rust_enet_session::{LeaveReason, MeshError, Mode, SYSCH_MAX, Session};

use crate::connection::{MAXIMUM_CHANNELS, RustENetConnection, parse_bind_address};
use crate::packet_peer::RustENetPacketPeer;
use crate::settings;
use crate::simulation::Simulation;
use conversions::generate_unique_id;
use rust_enet_session::stats::RateMeter;
use sending::report_flush_errors;

mod conversions;
mod events;
mod godot3;
mod hosts;
mod multiplayer;
mod rendezvous;
mod sending;
mod simulation;
mod statistics;

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
    #[var(set = set_immediate_flush)]
    immediate_flush: bool,
    /// If `true` (the default, from the project setting `network/rust_enet/use_service_thread`),
    /// each host of this peer is serviced on a background thread too (see
    /// `RustENetConnection.start_service_thread`), so connections survive the main thread's stalls:
    /// a level load, a long frame, a shader compile, a breakpoint. While the main thread is away,
    /// the thread receives, acknowledges, resends, pings and completes handshakes; a peer stays
    /// connected as long as its remote end answers, while a remote that really went silent still
    /// times out. Everything a script sees stays on the main thread and in the same order as with
    /// the thread off: packets, `MultiplayerPeer.peer_connected`,
    /// `MultiplayerPeer.peer_disconnected` and status changes come with `MultiplayerPeer.poll`. The
    /// thread sleeps until there is work (a datagram, one of ENet's timers, an acknowledgement
    /// due), so an idle connection wakes it a few times a second, for ENet's pings. What the game
    /// sends still leaves together at the end of the frame, as with the thread off: the thread
    /// never sends it on its own. Acknowledgements of packets the game has not handled yet leave
    /// from the thread about a millisecond after they arrive, which keeps round-trip times steady.
    /// The thread costs CPU time of its own, on another core where there is one (the README gives
    /// the benchmark figures; `RustENetConnection.get_service_thread_statistics` tells what it
    /// does). If the thread fails, every peer of its host is reported disconnected with the reason
    /// `internal_error` (see `get_disconnect_reason`). `ENetMultiplayerPeer` has no thread: a
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
    /// The shared secret of a private rendezvous server (its `--token`), sent by
    /// `create_server_rendezvous` and `create_client_rendezvous`. Empty (the default) for a public
    /// server; noray servers ignore it.
    #[var]
    rendezvous_token: GString,
    /// If `true` (the default), `create_client_rendezvous` goes through the rendezvous server's
    /// relay when no direct path answers. Set it to `false` to allow direct paths only.
    #[var]
    #[init(val = true)]
    rendezvous_relay: bool,
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
    /// Emitted when a server made with `create_server_rendezvous` is registered with its rendezvous
    /// server: `id` is what players give `create_client_rendezvous` to join it.
    #[signal]
    fn rendezvous_registered(id: GString);

    /// Emitted when the rendezvous part of `create_server_rendezvous` or `create_client_rendezvous`
    /// fails. `reason` is one of `"server_unreachable"` (no answer from the rendezvous server, over
    /// TCP or UDP), `"server_lost"` (a hosting server's connection to it closed: the id no longer
    /// works), `"unknown_id"` (no server is registered with that id), `"all_paths_failed"` (no
    /// direct path answered, and the relay did not either, or is off), `"unauthorized"` (the server
    /// refused `rendezvous_token`) or `"refused"` (the server refused for another reason);
    /// `message` says what happened, for logs and players. A client then fails like a failed
    /// connection (`MultiplayerAPI.connection_failed`); a server goes on serving the clients it
    /// has.
    #[signal]
    fn rendezvous_failed(reason: GString, message: GString);

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
        if self.already_active("RustENetPeer.create_server") {
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
        let Some(shared) = host.bind().session_host() else {
            return Error::ERR_CANT_CREATE;
        };
        self.start_session(Session::server(shared), Some(host));
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
        if self.already_active("RustENetPeer.create_client") {
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
        let (Some(peer), Some(shared)) = (peer, host.bind().session_host()) else {
            host.bind_mut().destroy();
            godot_error!(
                "RustENetPeer.create_client: couldn't connect to the ENet multiplayer server"
            );
            return Error::ERR_CANT_CREATE;
        };
        let slot = peer.bind().slot();
        self.start_session(Session::client(shared, slot, unique_id), Some(host));
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
        if self.already_active("RustENetPeer.create_mesh") {
            return Error::ERR_ALREADY_IN_USE;
        }
        self.start_session(Session::mesh(unique_id), None);
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
        let mut host = host;
        // Compression and simulation first: the session takes the host over as it is.
        self.configure_host(&mut host);
        let shared = host.bind().session_host();
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
            .and_then(|(key, slot)| self.packet_peer_in(key, slot));
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

    #[func]
    fn set_use_service_thread(&mut self, enabled: bool) {
        self.use_service_thread = enabled;
        let threads = self.service_threads();
        if let Some(session) = &mut self.session {
            for error in session.set_service_threads(threads) {
                godot_error!("RustENetPeer.use_service_thread: no service thread: {error}");
            }
        }
    }

    #[func]
    fn set_immediate_flush(&mut self, immediate: bool) {
        self.immediate_flush = immediate;
        if let Some(session) = &mut self.session {
            session.set_immediate(immediate);
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

impl Drop for RustENetPeer {
    fn drop(&mut self) {
        self.close_peer();
    }
}
