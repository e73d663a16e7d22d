//! `RustENetConnection`: an ENet host on a UDP socket, mirroring Godot's `ENetConnection`.

// gdext's `#[godot_api]` expands to public helper types without `Debug` implementations.
#![allow(missing_debug_implementations)]

use std::sync::Arc;
use std::time::Duration;

use godot::classes::TlsOptions;
use godot::global::Error;
use godot::prelude::*;
use rust_enet_net::{
    BindAddress, DtlsClientOptions, DtlsServerOptions, ServiceConfig, ServiceThread, SharedUdpHost,
};
use rust_enet_proto::compress::CompressionMode;
use rust_enet_proto::wire::{PROTOCOL_MAXIMUM_CHANNEL_COUNT, PROTOCOL_MAXIMUM_PEER_ID};
use rust_enet_proto::{Packet, PacketFlags, PeerId};

use crate::packet_peer::RustENetPacketPeer;

use crate::id_map::IdMap;

mod address;
mod arguments;
mod driving;

pub(crate) use address::{parse_bind_address, resolve, resolve_all};
use arguments::*;
pub(crate) use arguments::{conditions_of, link_direction};
use driving::*;

/// `ENET_PROTOCOL_MAXIMUM_PEER_ID`: the largest number of peer slots a host can have.
pub(crate) const MAXIMUM_PEERS: i64 = PROTOCOL_MAXIMUM_PEER_ID as i64;
/// `ENET_PROTOCOL_MAXIMUM_CHANNEL_COUNT`.
pub(crate) const MAXIMUM_CHANNELS: i64 = PROTOCOL_MAXIMUM_CHANNEL_COUNT as i64;

/// The driver shared between a connection and the packet peers it hands out. `None` once the
/// host is destroyed, which makes every packet peer of it inactive.
pub(crate) type SharedHost = SharedUdpHost;

/// An ENet host (a UDP socket with its connections), implemented in Rust; mirrors `ENetConnection`.
///
/// RustENetConnection is an ENet host: one UDP socket and up to 4095 connections to other ENet
/// hosts, each a `RustENetPacketPeer`. It has the methods and constants of `ENetConnection` and
/// speaks the same ENet 1.3 wire protocol, so it can connect to hosts made with `ENetConnection` or
/// the C ENet library.
///
/// `RustENetPeer` creates one for `RustENetPeer.create_server` and `RustENetPeer.create_client`
/// (see `RustENetPeer.host`). Scripts can also use one directly: create it with `create_host_bound`
/// or `create_host`, open connections with `connect_to_host`, and call `service` regularly (for
/// example every frame) to send, receive and get events:
///
/// ```gdscript
/// var host = RustENetConnection.new()
/// host.create_host()
/// var server = host.connect_to_host("127.0.0.1", 7000)
/// # In _process():
/// var event = host.service()
/// if event[0] == RustENetConnection.EVENT_RECEIVE:
/// print(event[1].get_packet())
/// ```
///
/// `set_link_simulation` (not in `ENetConnection`) adds latency, jitter, loss, duplication,
/// reordering or a bandwidth cap to the host's traffic, to test a game on a bad network.
#[derive(GodotClass)]
#[class(init, base = RefCounted)]
pub struct RustENetConnection {
    host: Option<SharedHost>,
    /// Services `host` while the script is away (`start_service_thread`).
    service_thread: Option<ServiceThread>,
    /// The packet peers handed out for this host's slots, like `ENetConnection::peers`.
    peers: IdMap<PeerId, Gd<RustENetPacketPeer>>,
    /// The four traffic totals at the last `pop_statistic` of each, so that it reports (and
    /// "resets") like ENet's counters while the core keeps running totals.
    popped: [u64; 4],
    base: Base<RefCounted>,
}

#[godot_api]
impl RustENetConnection {
    /// No event happened within the `timeout` given to `service`.
    #[constant]
    const EVENT_NONE: i32 = 0;
    /// The socket failed. The host should be destroyed.
    #[constant]
    const EVENT_ERROR: i32 = -1;
    /// A connection with a peer completed; `data` is what the remote end sent with its request.
    #[constant]
    const EVENT_CONNECT: i32 = 1;
    /// A peer disconnected or timed out; `data` is what the remote end sent with its disconnection,
    /// if anything.
    #[constant]
    const EVENT_DISCONNECT: i32 = 2;
    /// A packet arrived; read it from the peer with `PacketPeer.get_packet`.
    #[constant]
    const EVENT_RECEIVE: i32 = 3;

    /// No compression (the default).
    #[constant]
    const COMPRESS_NONE: i32 = 0;
    /// ENet's built-in range coder. Suits small packets; least CPU of the compressors.
    #[constant]
    const COMPRESS_RANGE_CODER: i32 = 1;
    /// FastLZ, as `ENetConnection` uses it. Fast, for small and medium packets.
    #[constant]
    const COMPRESS_FASTLZ: i32 = 2;
    /// zlib (deflate), as `ENetConnection` uses it. Better ratio on larger packets, more CPU.
    #[constant]
    const COMPRESS_ZLIB: i32 = 3;
    /// Zstandard, as `ENetConnection` uses it.
    #[constant]
    const COMPRESS_ZSTD: i32 = 4;

    /// `set_link_simulation` applies to datagrams in both directions.
    #[constant]
    const LINK_BOTH: i32 = 0;
    /// `set_link_simulation` applies to datagrams this host sends.
    #[constant]
    const LINK_OUTGOING: i32 = 1;
    /// `set_link_simulation` applies to datagrams this host receives.
    #[constant]
    const LINK_INCOMING: i32 = 2;

    /// Bytes sent in UDP datagrams (see `pop_statistic`).
    #[constant]
    const HOST_TOTAL_SENT_DATA: i32 = 0;
    /// UDP datagrams sent.
    #[constant]
    const HOST_TOTAL_SENT_PACKETS: i32 = 1;
    /// Bytes received in UDP datagrams.
    #[constant]
    const HOST_TOTAL_RECEIVED_DATA: i32 = 2;
    /// UDP datagrams received.
    #[constant]
    const HOST_TOTAL_RECEIVED_PACKETS: i32 = 3;

    /// Creates the host, bound to `bind_address` (`"*"` for every interface, or an IPv4 or IPv6
    /// address) and `bind_port` (`0` picks a free port), with room for `max_peers` connections (1
    /// to 4095). `max_channels` limits the channels of each connection (`0` means 255).
    /// `in_bandwidth` and `out_bandwidth` are in bytes per second, `0` for unlimited.
    ///
    /// Returns `OK`; `ERR_ALREADY_IN_USE` if the host already exists (call `destroy` first);
    /// `ERR_INVALID_PARAMETER` for an invalid address or out-of-range argument; `ERR_CANT_CREATE`
    /// if the socket cannot be bound.
    #[func]
    pub fn create_host_bound(
        &mut self,
        bind_address: GString,
        bind_port: i64,
        #[opt(default = 32)] max_peers: i64,
        #[opt(default = 0)] max_channels: i64,
        #[opt(default = 0)] in_bandwidth: i64,
        #[opt(default = 0)] out_bandwidth: i64,
    ) -> Error {
        let Some(bind) = parse_bind_address(&bind_address.to_string()) else {
            godot_error!(
                "RustENetConnection: invalid bind IP {bind_address:?}; use an IP address or \"*\""
            );
            return Error::ERR_INVALID_PARAMETER;
        };
        let Ok(port) = u16::try_from(bind_port) else {
            godot_error!(
                "RustENetConnection: the bind port must be between 0 and 65535, not {bind_port}"
            );
            return Error::ERR_INVALID_PARAMETER;
        };
        self.create(
            bind,
            port,
            max_peers,
            max_channels,
            in_bandwidth,
            out_bandwidth,
        )
    }

    /// Creates the host on a free port of every interface, for outgoing connections with
    /// `connect_to_host`. The arguments and return values are those of `create_host_bound`.
    #[func]
    pub fn create_host(
        &mut self,
        #[opt(default = 32)] max_peers: i64,
        #[opt(default = 0)] max_channels: i64,
        #[opt(default = 0)] in_bandwidth: i64,
        #[opt(default = 0)] out_bandwidth: i64,
    ) -> Error {
        self.create(
            BindAddress::Wildcard,
            0,
            max_peers,
            max_channels,
            in_bandwidth,
            out_bandwidth,
        )
    }

    /// Destroys the host: its socket is closed and every `RustENetPacketPeer` of it becomes
    /// inactive at once. No disconnection is sent; remote peers notice through their timeout. Call
    /// `RustENetPacketPeer.peer_disconnect` and `service` first for a graceful shutdown.
    #[func]
    pub fn destroy(&mut self) {
        let Some(host) = self.host.take() else {
            godot_error!("RustENetConnection.destroy: host already destroyed");
            return;
        };
        for (_, mut peer) in self.peers.drain() {
            peer.bind_mut().on_disconnect();
        }
        host.lock().take();
        self.service_thread = None;
    }

    /// Starts connecting to the ENet host at `address` (an IP address or a host name, resolved now)
    /// and `port`, asking for `channels` channels (`0` means 255) and sending `data` (a 32-bit
    /// integer) with the request; `RustENetPeer` sends the client's multiplayer id here. Returns
    /// the `RustENetPacketPeer` of the new connection, or `null` (with an error) if the host is not
    /// active, the address cannot be resolved or every slot is in use. The connection completes in
    /// a later `service` call, which returns `EVENT_CONNECT`.
    #[func]
    pub fn connect_to_host(
        &mut self,
        address: GString,
        port: i64,
        #[opt(default = 0)] channels: i64,
        #[opt(default = 0)] data: i64,
    ) -> Option<Gd<RustENetPacketPeer>> {
        let Some(shared) = self.host.clone() else {
            godot_error!(
                "RustENetConnection.connect_to_host: the host is not active; call create_host first"
            );
            return None;
        };
        if !self.peers.is_empty() {
            godot_error!(
                "RustENetConnection.connect_to_host: the connection is already connected to a peer"
            );
            return None;
        }
        let Some(port) = u16::try_from(port).ok().filter(|p| *p != 0) else {
            godot_error!(
                "RustENetConnection.connect_to_host: the remote port number must be between 1 and 65535 (inclusive)"
            );
            return None;
        };
        let address = address.to_string();
        // Every address of a host name is tried (see `UdpHost::connect_any`), so `localhost`
        // reaches an IPv4-only server even where it resolves to `::1` first.
        let remotes = resolve_all(&address, port);
        if remotes.is_empty() {
            godot_error!(
                "RustENetConnection.connect_to_host: couldn't resolve the server IP address or domain name {address:?}"
            );
            return None;
        }
        let channels = if channels <= 0 || channels > MAXIMUM_CHANNELS {
            MAXIMUM_CHANNELS as usize
        } else {
            channels as usize
        };
        let result = match shared.lock().as_mut() {
            Some(udp) => udp.connect_any(&remotes, channels, data as u32),
            None => return None,
        };
        match result {
            Ok(id) => Some(self.wrapper(id)),
            Err(rust_enet_proto::ConnectError::NoAddress) => {
                godot_error!(
                    "RustENetConnection.connect_to_host: {address:?} resolves to no address this host's socket can reach ({remotes:?})"
                );
                None
            }
            Err(e) => {
                godot_error!("RustENetConnection.connect_to_host: {e}");
                None
            }
        }
    }

    /// Sends what is queued, receives what arrived, and returns the next event as an array
    /// `[event_type, peer, data, channel]`:
    ///
    /// - `event_type`: one of the `EVENT_*` constants;
    /// - `peer`: the `RustENetPacketPeer` concerned, or `null` for `EVENT_NONE` and `EVENT_ERROR`;
    /// - `data`: the 32-bit data of a connect or disconnect event;
    /// - `channel`: the channel of a received packet.
    ///
    /// A received packet (`EVENT_RECEIVE`) waits in its peer: read it with `PacketPeer.get_packet`.
    /// `timeout` is how many milliseconds to wait for an event (`0` returns at once). Call this
    /// until it returns `EVENT_NONE` to handle every event of a frame.
    #[func]
    pub fn service(&mut self, #[opt(default = 0)] timeout: i64) -> VarArray {
        let wait = Duration::from_millis(timeout.max(0) as u64);
        let mut received = None;
        let event = self.drain_events(Some(wait), |slot, channel, packet| {
            received = Some((slot, channel, packet));
            false
        });
        let (kind, peer, data, channel) = match (event, received) {
            // `drain_events` stops at the first packet, so there is no other event then; it only
            // passes packets of slots that have a packet peer.
            (_, Some((slot, channel, packet))) => match self.peers.get(&slot).cloned() {
                Some(mut peer) => {
                    peer.bind_mut().store_packet(packet);
                    (
                        Self::EVENT_RECEIVE,
                        peer.to_variant(),
                        0,
                        i64::from(channel),
                    )
                }
                None => (Self::EVENT_NONE, Variant::nil(), 0, 0),
            },
            (None, None) => (Self::EVENT_NONE, Variant::nil(), 0, 0),
            (Some(ControlEvent::Error), None) => (Self::EVENT_ERROR, Variant::nil(), 0, 0),
            (Some(ControlEvent::Connect { peer, data }), None) => {
                (Self::EVENT_CONNECT, peer.to_variant(), data, 0)
            }
            (Some(ControlEvent::Disconnect { peer, data }), None) => {
                (Self::EVENT_DISCONNECT, peer.to_variant(), data, 0)
            }
        };
        let mut out = VarArray::new();
        out.push(&kind.to_variant());
        out.push(&peer);
        out.push(&i64::from(data).to_variant());
        out.push(&channel.to_variant());
        out
    }

    /// Sends everything queued on every connection now, instead of at the next `service`.
    #[func]
    pub fn flush(&mut self) {
        self.flush_host();
    }

    /// Services this host on a background thread from now on (not in `ENetConnection`), so that its
    /// connections survive the script's stalls: a level load, a long frame, a breakpoint. Every
    /// millisecond the thread receives, acknowledges, resends, pings and completes handshakes; what
    /// it receives waits until `service` returns it, in the same order as without the thread, on
    /// the calling thread. Sends, `get_peers`, `flush` and the statistics keep working as before;
    /// what the script queues leaves with its next `service` or `flush`, or within about a
    /// millisecond. A peer stays connected however long the script is away, as long as the remote
    /// end answers; a remote that goes silent still times out. While nobody takes the packets, each
    /// connection holds at most ENet's waiting-data limit (32 MiB): the thread does not acknowledge
    /// reliable data beyond it, so the sender keeps it and sends it again.
    ///
    /// Returns `OK` (also when the thread already runs), `ERR_UNCONFIGURED` before the host is
    /// created, or `ERR_CANT_CREATE` if the system refuses a thread. `destroy` and freeing the
    /// object end the thread. `RustENetPeer` starts one for each of its hosts unless
    /// `RustENetPeer.use_service_thread` is off.
    #[func]
    pub fn start_service_thread(&mut self) -> Error {
        let Some(host) = &self.host else {
            godot_error!("RustENetConnection.start_service_thread: create the host first");
            return Error::ERR_UNCONFIGURED;
        };
        if self.is_service_thread_running() {
            return Error::OK;
        }
        match ServiceThread::start(Arc::clone(host), ServiceConfig::default()) {
            Ok(thread) => {
                self.service_thread = Some(thread);
                Error::OK
            }
            Err(e) => {
                godot_error!("RustENetConnection.start_service_thread: no thread: {e}");
                Error::ERR_CANT_CREATE
            }
        }
    }

    /// Ends the thread `start_service_thread` started and waits for it (at most a millisecond);
    /// from then on the host is serviced only by `service`, as in `ENetConnection`. Does nothing if
    /// no thread runs.
    #[func]
    pub fn stop_service_thread(&mut self) {
        if let Some(thread) = self.service_thread.take() {
            thread.stop();
        }
    }

    /// Returns `true` while `start_service_thread`'s thread services this host (until
    /// `stop_service_thread` or `destroy`).
    #[func]
    pub fn is_service_thread_running(&self) -> bool {
        self.service_thread
            .as_ref()
            .is_some_and(ServiceThread::is_running)
    }

    /// Queues `packet` on `channel` for every connected peer of this host. `flags` is a combination
    /// of the `RustENetPacketPeer.FLAG_*` constants (`0` sends unreliably). Invalid flags, an
    /// out-of-range channel or a packet over 16 MiB are reported with an error and nothing is sent.
    #[func]
    pub fn broadcast(&mut self, channel: i64, packet: PackedByteArray, flags: i64) {
        let Some(shared) = &self.host else {
            godot_error!("RustENetConnection.broadcast: the host is not active");
            return;
        };
        let Some(flags) = crate::packet_peer::checked_flags(flags) else {
            return;
        };
        let mut guard = shared.lock();
        let Some(udp) = guard.as_mut() else { return };
        let Some(channel) = u8::try_from(channel)
            .ok()
            .filter(|c| usize::from(*c) < udp.host().channel_limit())
        else {
            godot_error!("RustENetConnection.broadcast: invalid channel {channel}");
            return;
        };
        let data = bytes::Bytes::copy_from_slice(packet.as_slice());
        udp.host_mut()
            .broadcast(channel, Packet::new(data, PacketFlags::from_bits(flags)));
    }

    /// Limits the channels granted to connections made after this call to `limit` (`0` or more than
    /// 255 means 255).
    #[func]
    pub fn channel_limit(&mut self, limit: i64) {
        self.with_host(|udp| udp.host_mut().set_channel_limit(limit.max(0) as usize));
    }

    /// Sets the host's incoming and outgoing bandwidth in bytes per second (`0` for unlimited) and
    /// tells every connected peer. ENet uses these to size its reliable windows and to throttle
    /// sends.
    #[func]
    pub fn bandwidth_limit(
        &mut self,
        #[opt(default = 0)] in_bandwidth: i64,
        #[opt(default = 0)] out_bandwidth: i64,
    ) {
        self.with_host(|udp| {
            udp.host_mut()
                .set_bandwidth_limit(clamp_u32(in_bandwidth), clamp_u32(out_bandwidth));
        });
    }

    /// Returns the `HOST_*` traffic counter `statistic` accumulated since it was last popped, and
    /// starts counting it again from zero.
    #[func]
    pub fn pop_statistic(&mut self, statistic: i32) -> f64 {
        let Some(shared) = &self.host else {
            godot_error!("RustENetConnection.pop_statistic: the host is not active");
            return 0.0;
        };
        let totals = match shared.lock().as_ref() {
            Some(udp) => {
                let stats = udp.host().statistics();
                [
                    stats.total_sent_data,
                    stats.total_sent_packets,
                    stats.total_received_data,
                    stats.total_received_packets,
                ]
            }
            None => return 0.0,
        };
        let Some(index) = usize::try_from(statistic)
            .ok()
            .filter(|i| *i < totals.len())
        else {
            godot_error!("RustENetConnection.pop_statistic: unknown statistic {statistic}");
            return 0.0;
        };
        let value = totals[index].saturating_sub(self.popped[index]);
        self.popped[index] = totals[index];
        value as f64
    }

    /// Compresses every datagram this host sends with `mode` (a `COMPRESS_*` constant) and expects
    /// the same of received datagrams. Both ends must use the same mode, or they cannot understand
    /// each other. The formats are those of `ENetConnection`, byte for byte.
    #[func]
    pub fn compress(&mut self, mode: i64) {
        let Some(mode) = CompressionMode::from_godot(mode) else {
            godot_error!("RustENetConnection.compress: unknown compression mode {mode}");
            return;
        };
        if !mode.is_available() {
            godot_error!("RustENetConnection.compress: {mode:?} is not available in this build");
            return;
        }
        let done = self.with_host(|udp| udp.host_mut().set_compressor(mode.compressor()));
        if done.is_none() {
            godot_error!("RustENetConnection.compress: the host is not active");
        }
    }

    /// Encrypts all traffic of this server host with DTLS, using `server_options` from
    /// `TLSOptions.server`. Call it right after `create_host_bound` (or
    /// `RustENetPeer.create_server`), before clients connect. Compatible with
    /// `ENetConnection.dtls_server_setup`. Needs Godot 4.3 or later. Returns `OK`;
    /// `ERR_UNCONFIGURED` if the host does not exist; `ERR_INVALID_PARAMETER` for missing or
    /// unusable options; `FAILED` if DTLS is already on or cannot be set up. Errors also print a
    /// message.
    #[func]
    pub fn dtls_server_setup(&mut self, server_options: Option<Gd<TlsOptions>>) -> Error {
        if !self.is_active() {
            godot_error!("RustENetConnection.dtls_server_setup: the host is not active");
            return Error::ERR_UNCONFIGURED;
        }
        let Some(options) = server_options else {
            godot_error!("RustENetConnection.dtls_server_setup: the server options are null");
            return Error::ERR_INVALID_PARAMETER;
        };
        let Some(tls) = read_tls_options(&options) else {
            return Error::FAILED;
        };
        if !tls.is_server {
            godot_error!(
                "RustENetConnection.dtls_server_setup: use TLSOptions.server(key, certificate)"
            );
            return Error::ERR_INVALID_PARAMETER;
        }
        let options = DtlsServerOptions::new(tls.certificate_pem, tls.private_key_pem);
        let result = self.with_host(|udp| udp.dtls_server_setup(options));
        dtls_result("dtls_server_setup", result)
    }

    /// Encrypts all traffic of this client host with DTLS. `hostname` is the name the server's
    /// certificate must carry, unless `client_options` (`TLSOptions.client` or
    /// `TLSOptions.client_unsafe`) says otherwise. Call it before the first packet leaves, for
    /// example right after `RustENetPeer.create_client`. Compatible with
    /// `ENetConnection.dtls_client_setup`. Needs Godot 4.3 or later. Returns the same codes as
    /// `dtls_server_setup`.
    #[func]
    pub fn dtls_client_setup(
        &mut self,
        hostname: GString,
        // Godot declares a null default and then refuses null; gdext 0.5 cannot declare object
        // defaults, so the argument is required here.
        client_options: Option<Gd<TlsOptions>>,
    ) -> Error {
        if !self.is_active() {
            godot_error!("RustENetConnection.dtls_client_setup: the host is not active");
            return Error::ERR_UNCONFIGURED;
        }
        let Some(options) = client_options else {
            godot_error!(
                "RustENetConnection.dtls_client_setup: the client options are null; use TLSOptions.client()"
            );
            return Error::ERR_INVALID_PARAMETER;
        };
        let Some(tls) = read_tls_options(&options) else {
            return Error::FAILED;
        };
        if tls.is_server {
            godot_error!("RustENetConnection.dtls_client_setup: use TLSOptions.client()");
            return Error::ERR_INVALID_PARAMETER;
        }
        let hostname = if tls.common_name_override.is_empty() {
            hostname.to_string()
        } else {
            tls.common_name_override
        };
        let options = DtlsClientOptions {
            hostname,
            trusted_certificates_pem: tls.trusted_chain_pem,
            unsafe_skip_verification: tls.is_unsafe_client,
        };
        let result = self.with_host(|udp| udp.dtls_client_setup(options));
        dtls_result("dtls_client_setup", result)
    }

    /// On a DTLS server, stops (if `refuse` is `true`) or resumes accepting new DTLS sessions. Has
    /// no effect on hosts without DTLS; use `MultiplayerPeer.refuse_new_connections` for a
    /// `RustENetPeer`.
    #[func]
    pub fn refuse_new_connections(&mut self, refuse: bool) {
        self.with_host(|udp| udp.set_dtls_refuse_new_connections(refuse));
    }

    /// Simulates a bad network on this host's traffic, for testing a game (this method is not in
    /// `ENetConnection`). `conditions` may hold the keys `latency_ms`, `jitter_ms`, `loss_percent`,
    /// `duplicate_percent`, `reorder_percent` and `bandwidth_bytes_per_sec`; missing keys are `0`,
    /// and an empty dictionary restores a perfect link. `direction` is one of the `LINK_*`
    /// constants.
    ///
    /// ```gdscript
    /// multiplayer.multiplayer_peer.host.set_link_simulation({"latency_ms": 80, "jitter_ms": 10, "loss_percent": 2})
    /// ```
    #[func]
    pub fn set_link_simulation(
        &mut self,
        conditions: VarDictionary,
        #[opt(default = 0)] direction: i32,
    ) {
        let Some(direction) = link_direction(direction) else {
            godot_error!("RustENetConnection.set_link_simulation: unknown direction {direction}");
            return;
        };
        let link = conditions_of(&conditions);
        if self
            .with_host(|udp| udp.set_link_conditions(direction, link))
            .is_none()
        {
            godot_error!("RustENetConnection.set_link_simulation: the host is not active");
        }
    }

    /// Returns what `set_link_simulation` did to this host's traffic in `direction` (one of the
    /// `LINK_*` constants; `LINK_BOTH` adds the two directions up), counted since the host was
    /// created (this method is not in `ENetConnection`). The keys: `datagrams_submitted` and
    /// `bytes_submitted` (what entered the simulated link), `datagrams_delivered` and
    /// `bytes_delivered` (what left it: copies included, the lost ones not; for outgoing datagrams
    /// these are the bytes on the wire), `lost` (`loss_percent`), `queue_dropped` (over
    /// `bandwidth_bytes_per_sec`), `duplicated` and `reordered`. A direction with a perfect link
    /// and nothing held back is not simulated and counts nothing. An empty dictionary (and an
    /// error) when the host is not active.
    ///
    /// ```gdscript
    /// var link: Dictionary = multiplayer.multiplayer_peer.host.get_link_statistics(RustENetConnection.LINK_OUTGOING)
    /// print("lost %d of %d datagrams" % [link.lost, link.datagrams_submitted])
    /// ```
    #[func]
    pub fn get_link_statistics(&mut self, #[opt(default = 0)] direction: i32) -> VarDictionary {
        let mut out = VarDictionary::new();
        let Some(direction) = link_direction(direction) else {
            godot_error!("RustENetConnection.get_link_statistics: unknown direction {direction}");
            return out;
        };
        let Some(stats) = self.with_host(|udp| udp.link_statistics(direction)) else {
            godot_error!("RustENetConnection.get_link_statistics: the host is not active");
            return out;
        };
        for (key, value) in crate::stats::link_entries(&stats) {
            out.set(key, i64::try_from(value).unwrap_or(i64::MAX));
        }
        out
    }

    /// Seeds the random numbers of `set_link_simulation`, so a simulated run can be repeated
    /// exactly.
    #[func]
    pub fn set_link_seed(&mut self, seed: i64) {
        self.with_host(|udp| udp.set_link_seed(seed as u64));
    }

    /// Returns the channel limit for incoming connections (see `channel_limit`).
    #[func]
    pub fn get_max_channels(&self) -> i64 {
        self.host
            .as_ref()
            .and_then(|h| {
                h.lock()
                    .as_ref()
                    .map(|udp| udp.host().channel_limit() as i64)
            })
            .unwrap_or(0)
    }

    /// Returns the local UDP port of the host's socket.
    #[func]
    pub fn get_local_port(&self) -> i64 {
        let port = self
            .host
            .as_ref()
            .and_then(|h| h.lock().as_ref().map(|udp| udp.local_addr().port()));
        match port {
            Some(port) => i64::from(port),
            None => {
                godot_error!("RustENetConnection.get_local_port: the host is not active");
                0
            }
        }
    }

    /// Returns the `RustENetPacketPeer`s of this host's connections, including those still
    /// connecting or disconnecting.
    #[func]
    pub fn get_peers(&mut self) -> Array<Gd<RustENetPacketPeer>> {
        self.prune_inactive();
        let mut ids: Vec<_> = self.peers.keys().copied().collect();
        ids.sort();
        let mut out = Array::new();
        for id in ids {
            out.push(&self.peers[&id]);
        }
        out
    }

    /// Sends `packet` as a raw UDP datagram from the host's socket to `destination_address` and
    /// `destination_port`, outside the ENet protocol. Useful for NAT punch-through: the remote host
    /// sees the datagram coming from this host's port.
    #[func]
    pub fn socket_send(
        &mut self,
        destination_address: GString,
        destination_port: i64,
        packet: PackedByteArray,
    ) {
        let Some(port) = u16::try_from(destination_port).ok().filter(|p| *p != 0) else {
            godot_error!(
                "RustENetConnection.socket_send: the destination port must be between 1 and 65535"
            );
            return;
        };
        let Some(addr) = resolve(&destination_address.to_string(), port) else {
            godot_error!("RustENetConnection.socket_send: couldn't resolve {destination_address}");
            return;
        };
        self.with_host(|udp| {
            if let Err(e) = udp.socket_send(addr, packet.as_slice()) {
                godot_error!("RustENetConnection.socket_send: {e}");
            }
        });
    }
}
