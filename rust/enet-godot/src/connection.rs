//! `RustENetConnection`: an ENet host on a UDP socket, mirroring Godot's `ENetConnection`.

// gdext's `#[godot_api]` expands to public helper types without `Debug` implementations.
#![allow(missing_debug_implementations)]

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use godot::classes::{CryptoKey, TlsOptions, X509Certificate};
use godot::global::Error;
use godot::prelude::*;
use parking_lot::Mutex;
use rust_enet_net::{
    BindAddress, DtlsClientOptions, DtlsError, DtlsServerOptions, LinkConditions, LinkDirection,
    UdpHost,
};
use rust_enet_proto::compress::CompressionMode;
use rust_enet_proto::wire::{PROTOCOL_MAXIMUM_CHANNEL_COUNT, PROTOCOL_MAXIMUM_PEER_ID};
use rust_enet_proto::{Event, HostConfig, Packet, PacketFlags, PeerId};

use crate::packet_peer::RustENetPacketPeer;
use crate::session::{LeaveReason, next_host_event};
use crate::settings;
use crate::simulation;

use crate::id_map::IdMap;

/// `ENET_PROTOCOL_MAXIMUM_PEER_ID`: the largest number of peer slots a host can have.
pub(crate) const MAXIMUM_PEERS: i64 = PROTOCOL_MAXIMUM_PEER_ID as i64;
/// `ENET_PROTOCOL_MAXIMUM_CHANNEL_COUNT`.
pub(crate) const MAXIMUM_CHANNELS: i64 = PROTOCOL_MAXIMUM_CHANNEL_COUNT as i64;

/// The driver shared between a connection and the packet peers it hands out. `None` once the
/// host is destroyed, which makes every packet peer of it inactive.
pub(crate) type SharedHost = Arc<Mutex<Option<UdpHost>>>;

/// An event of [`RustENetConnection::drain_events`] other than a received packet.
enum ControlEvent {
    Connect {
        peer: Gd<RustENetPacketPeer>,
        data: u32,
    },
    Disconnect {
        peer: Gd<RustENetPacketPeer>,
        data: u32,
    },
    /// The socket failed; Godot treats this as fatal for the host.
    Error,
}

/// Parses a Godot bind address: `"*"` is every interface, anything else must be an IP literal.
pub(crate) fn parse_bind_address(text: &str) -> Option<BindAddress> {
    if text == "*" {
        return Some(BindAddress::Wildcard);
    }
    text.parse::<IpAddr>().ok().map(BindAddress::Ip)
}

/// Resolves `address:port` like Godot's `IP::resolve_hostname` (blocking, first result).
pub(crate) fn resolve(address: &str, port: u16) -> Option<SocketAddr> {
    resolve_all(address, port).into_iter().next()
}

/// Every address `address:port` resolves to (blocking), in the order to try them: the
/// resolver's order (RFC 6724, e.g. `::1` before `127.0.0.1` for `localhost`) with the two
/// families interleaved from the first one on, as RFC 8305 section 4 asks. An IP literal is
/// itself.
pub(crate) fn resolve_all(address: &str, port: u16) -> Vec<SocketAddr> {
    if let Ok(ip) = address.parse::<IpAddr>() {
        return vec![SocketAddr::new(ip, port)];
    }
    let Ok(found) = (address, port).to_socket_addrs() else {
        return Vec::new();
    };
    let mut unique: Vec<SocketAddr> = Vec::new();
    for addr in found {
        if !unique.contains(&addr) {
            unique.push(addr);
        }
    }
    interleave_families(unique)
}

/// Reorders `addresses` so the families alternate, starting with the first one's, keeping each
/// family's own order.
fn interleave_families(addresses: Vec<SocketAddr>) -> Vec<SocketAddr> {
    let Some(first) = addresses.first() else {
        return addresses;
    };
    let first_is_v6 = first.is_ipv6();
    let (mut preferred, mut other): (VecDeque<SocketAddr>, VecDeque<SocketAddr>) =
        addresses.iter().partition(|a| a.is_ipv6() == first_is_v6);
    let mut out = Vec::with_capacity(addresses.len());
    loop {
        match (preferred.pop_front(), other.pop_front()) {
            (None, None) => return out,
            (a, b) => out.extend(a.into_iter().chain(b)),
        }
    }
}

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

/// What `TLSOptions` holds, read through the getters Godot 4.3 added (called dynamically, as the
/// addon is built against the 4.2 API).
struct TlsSettings {
    is_server: bool,
    is_unsafe_client: bool,
    common_name_override: String,
    certificate_pem: String,
    private_key_pem: String,
    trusted_chain_pem: Option<String>,
}

fn read_tls_options(options: &Gd<TlsOptions>) -> Option<TlsSettings> {
    let mut options = options.clone();
    if !options.has_method("get_private_key") {
        godot_error!("RustENetConnection: DTLS needs Godot 4.3 or later (to read TLSOptions)");
        return None;
    }
    let certificate_pem = options
        .call("get_own_certificate", &[])
        .try_to::<Option<Gd<X509Certificate>>>()
        .ok()
        .flatten()
        .map(|mut c| c.save_to_string().to_string())
        .unwrap_or_default();
    let private_key_pem = options
        .call("get_private_key", &[])
        .try_to::<Option<Gd<CryptoKey>>>()
        .ok()
        .flatten()
        .map(|mut k| k.save_to_string().to_string())
        .unwrap_or_default();
    let trusted_chain_pem = options
        .call("get_trusted_ca_chain", &[])
        .try_to::<Option<Gd<X509Certificate>>>()
        .ok()
        .flatten()
        .map(|mut c| c.save_to_string().to_string());
    Some(TlsSettings {
        is_server: options
            .call("is_server", &[])
            .try_to::<bool>()
            .unwrap_or(false),
        is_unsafe_client: options
            .call("is_unsafe_client", &[])
            .try_to::<bool>()
            .unwrap_or(false),
        common_name_override: options
            .call("get_common_name_override", &[])
            .try_to::<GString>()
            .map(|s| s.to_string())
            .unwrap_or_default(),
        certificate_pem,
        private_key_pem,
        trusted_chain_pem,
    })
}

/// Maps a driver DTLS setup result to Godot's codes and messages.
fn dtls_result(what: &str, result: Option<Result<(), DtlsError>>) -> Error {
    match result {
        Some(Ok(())) => Error::OK,
        Some(Err(e)) => {
            godot_error!("RustENetConnection.{what}: {e}");
            match e {
                DtlsError::Unavailable | DtlsError::AlreadyEnabled | DtlsError::Setup(_) => {
                    Error::FAILED
                }
                _ => Error::ERR_INVALID_PARAMETER,
            }
        }
        None => Error::ERR_UNCONFIGURED,
    }
}

/// A `LINK_*` constant as a direction.
pub(crate) fn link_direction(direction: i32) -> Option<LinkDirection> {
    match direction {
        RustENetConnection::LINK_BOTH => Some(LinkDirection::Both),
        RustENetConnection::LINK_OUTGOING => Some(LinkDirection::Outgoing),
        RustENetConnection::LINK_INCOMING => Some(LinkDirection::Incoming),
        _ => None,
    }
}

/// Link conditions from a script's dictionary (see `set_link_simulation`).
pub(crate) fn conditions_of(conditions: &VarDictionary) -> LinkConditions {
    simulation::conditions_from(|key| conditions.get(key).as_ref().and_then(settings::number))
}

/// Converts a script integer to a `u32` bandwidth, treating negatives as 0 (unlimited).
fn clamp_u32(value: i64) -> u32 {
    u32::try_from(value.max(0)).unwrap_or(u32::MAX)
}

impl RustENetConnection {
    /// Validates the arguments like `ENetConnection::_create` and binds the socket.
    pub(crate) fn create(
        &mut self,
        bind: BindAddress,
        port: u16,
        max_peers: i64,
        max_channels: i64,
        in_bandwidth: i64,
        out_bandwidth: i64,
    ) -> Error {
        if self.host.is_some() {
            godot_error!("RustENetConnection: the host is already active; call destroy() first");
            return Error::ERR_ALREADY_IN_USE;
        }
        if !(1..=MAXIMUM_PEERS).contains(&max_peers) {
            godot_error!(
                "RustENetConnection: the number of clients must be set between 1 and 4095 (inclusive), not {max_peers}"
            );
            return Error::ERR_INVALID_PARAMETER;
        }
        if !(0..=MAXIMUM_CHANNELS).contains(&max_channels) {
            godot_error!(
                "RustENetConnection: the number of channels must be between 0 and 255, not {max_channels}"
            );
            return Error::ERR_INVALID_PARAMETER;
        }
        if in_bandwidth < 0 || out_bandwidth < 0 {
            godot_error!("RustENetConnection: bandwidths must not be negative");
            return Error::ERR_INVALID_PARAMETER;
        }
        let config = HostConfig {
            peer_limit: max_peers as usize,
            channel_limit: if max_channels == 0 {
                MAXIMUM_CHANNELS as usize
            } else {
                max_channels as usize
            },
            incoming_bandwidth: clamp_u32(in_bandwidth),
            outgoing_bandwidth: clamp_u32(out_bandwidth),
            ..HostConfig::default()
        };
        match UdpHost::bind(bind, port, config) {
            Ok(udp) => {
                self.host = Some(Arc::new(Mutex::new(Some(udp))));
                Error::OK
            }
            Err(e) => {
                godot_error!(
                    "RustENetConnection: couldn't create an ENet host on port {port}: {e}"
                );
                Error::ERR_CANT_CREATE
            }
        }
    }

    /// Whether the host exists (created and not destroyed).
    pub(crate) fn is_active(&self) -> bool {
        self.host.as_ref().is_some_and(|h| h.lock().is_some())
    }

    fn with_host<R>(&mut self, f: impl FnOnce(&mut UdpHost) -> R) -> Option<R> {
        let shared = self.host.as_ref()?;
        let mut guard = shared.lock();
        guard.as_mut().map(f)
    }

    /// Sends everything queued (`enet_host_flush`).
    pub(crate) fn flush_host(&mut self) {
        if let Some(Err(e)) = self.with_host(|udp| udp.flush()) {
            godot_error!("RustENetConnection.flush: {e}");
        }
    }

    /// The packet peer for slot `id`, created on first use (and again once the one handed out
    /// became inactive: a new connection in the slot gets a new object, as in Godot).
    pub(crate) fn wrapper(&mut self, id: PeerId) -> Gd<RustENetPacketPeer> {
        if let Some(peer) = self.peers.get(&id)
            && peer.bind().is_active()
        {
            return peer.clone();
        }
        let shared = self.host.clone().unwrap_or_default();
        let peer = RustENetPacketPeer::create(shared, id);
        self.peers.insert(id, peer.clone());
        peer
    }

    /// The connection in slot `id` ended: its packet peer becomes inactive and is forgotten.
    pub(crate) fn release_wrapper(&mut self, id: PeerId, reason: LeaveReason) {
        if let Some(mut peer) = self.peers.remove(&id) {
            peer.bind_mut().on_disconnect_with(reason);
        }
    }

    /// Whether `create` succeeded and `destroy` was not called (the socket may be closed
    /// already, by a `RustENetPeer` that closed it).
    pub(crate) fn is_created(&self) -> bool {
        self.host.is_some()
    }

    /// Forgets packet peers made inactive by `reset` or `peer_disconnect_now`.
    fn prune_inactive(&mut self) {
        self.peers.retain(|_, peer| peer.bind().is_active());
    }

    /// The host's events: a service pass first if `timeout` is set (up to `timeout` long), then
    /// queued events. Packets from slots with a packet peer go to `on_receive(slot, channel,
    /// packet)` for as long as it returns true; the first other event is returned (`None` once
    /// the queue is empty or `on_receive` returned false). Draining the queue never sends (see
    /// [`next_host_event`]).
    fn drain_events(
        &mut self,
        timeout: Option<Duration>,
        mut on_receive: impl FnMut(PeerId, u8, Packet) -> bool,
    ) -> Option<ControlEvent> {
        if timeout.is_some() {
            // Once per service pass, not per queued event: costs O(peers).
            self.prune_inactive();
        }
        let shared = self.host.clone()?;
        let mut service = timeout;
        loop {
            let event = {
                let mut guard = shared.lock();
                let udp = guard.as_mut()?;
                match next_host_event(udp, service.take()) {
                    Ok(event) => event,
                    Err(failure) => {
                        godot_error!("RustENetConnection.service: {failure}");
                        return Some(ControlEvent::Error);
                    }
                }
            }?;
            match event {
                Event::Connect { peer, data } => {
                    return Some(ControlEvent::Connect {
                        peer: self.wrapper(peer),
                        data,
                    });
                }
                Event::Disconnect { peer, data, reason } => {
                    // A slot we never handed out (or already reset) has nothing to report.
                    let Some(mut wrapper) = self.peers.remove(&peer) else {
                        continue;
                    };
                    wrapper
                        .bind_mut()
                        .on_disconnect_with(LeaveReason::from_core(reason, data));
                    return Some(ControlEvent::Disconnect {
                        peer: wrapper,
                        data,
                    });
                }
                Event::Receive {
                    peer,
                    channel,
                    packet,
                } => {
                    if self.peers.contains_key(&peer) && !on_receive(peer, channel, packet) {
                        return None;
                    }
                }
            }
        }
    }

    /// The driver shared with this host's packet peers (`None` before `create` and after
    /// `destroy`), for callers that send without going through a packet peer.
    pub(crate) fn shared_host(&self) -> Option<SharedHost> {
        self.host.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs(list: &[&str]) -> Vec<SocketAddr> {
        list.iter().map(|a| a.parse().unwrap()).collect()
    }

    #[test]
    fn families_alternate_from_the_resolvers_first_choice() {
        let resolved = addrs(&["[::1]:7", "[::2]:7", "[::3]:7", "127.0.0.1:7", "10.0.0.1:7"]);
        assert_eq!(
            interleave_families(resolved),
            addrs(&["[::1]:7", "127.0.0.1:7", "[::2]:7", "10.0.0.1:7", "[::3]:7"])
        );
        let resolved = addrs(&["127.0.0.1:7", "[::1]:7"]);
        assert_eq!(interleave_families(resolved.clone()), resolved);
        assert!(interleave_families(Vec::new()).is_empty());
    }

    #[test]
    fn ip_literals_resolve_to_themselves() {
        assert_eq!(resolve_all("::1", 9), addrs(&["[::1]:9"]));
        assert_eq!(resolve_all("127.0.0.1", 9), addrs(&["127.0.0.1:9"]));
    }
}
