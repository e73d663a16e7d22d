//! `RustENetConnection`: an ENet host on a UDP socket, mirroring Godot's `ENetConnection`.

// gdext's `#[godot_api]` expands to public helper types without `Debug` implementations.
#![allow(missing_debug_implementations)]

use std::time::Duration;

use godot::global::Error;
use godot::prelude::*;
use rust_enet_net::BindAddress;
use rust_enet_proto::compress::CompressionMode;
use rust_enet_proto::wire::{PROTOCOL_MAXIMUM_CHANNEL_COUNT, PROTOCOL_MAXIMUM_PEER_ID};
use rust_enet_proto::{Packet, PacketFlags, PeerId};
use rust_enet_session::{IdMap, SessionHost};

use crate::packet_peer::{RustENetPacketPeer, checked_flags};

mod address;
mod dtls;
mod events;
mod rendezvous;
mod simulation;
mod threads;

pub(crate) use address::{parse_bind_address, resolve, resolve_all};
use events::ControlEvent;
pub(crate) use rendezvous::{rendezvous_host_id, rendezvous_port};
pub(crate) use simulation::{conditions_of, link_direction};

/// `ENET_PROTOCOL_MAXIMUM_PEER_ID`: the largest number of peer slots a host can have.
pub(crate) const MAXIMUM_PEERS: i64 = PROTOCOL_MAXIMUM_PEER_ID as i64;
/// `ENET_PROTOCOL_MAXIMUM_CHANNEL_COUNT`.
pub(crate) const MAXIMUM_CHANNELS: i64 = PROTOCOL_MAXIMUM_CHANNEL_COUNT as i64;

/// Converts a script integer to a `u32` bandwidth, treating negatives as 0 (unlimited).
pub(crate) fn clamp_u32(value: i64) -> u32 {
    u32::try_from(value.max(0)).unwrap_or(u32::MAX)
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
    /// The host, shared with the packet peers handed out (and with a `RustENetPeer`'s session
    /// when it made this object); `None` before `create_*` and after `destroy`.
    host: Option<SessionHost>,
    /// The packet peers handed out for this host's slots, like `ENetConnection::peers`.
    peers: IdMap<PeerId, Gd<RustENetPacketPeer>>,
    /// The four traffic totals at the last `pop_statistic` of each, so that it reports (and
    /// "resets") like ENet's counters while the core keeps running totals.
    popped: [u64; 4],
    /// NAT traversal through a rendezvous server, once `rendezvous_host` or
    /// `rendezvous_connect` started one.
    rendezvous: rendezvous::RendezvousState,
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

    /// `get_rendezvous_status`: no rendezvous was started (or it was closed).
    #[constant]
    const RENDEZVOUS_NONE: i32 = 0;
    /// `get_rendezvous_status`: talking to the rendezvous server, registering, or punching.
    #[constant]
    const RENDEZVOUS_IN_PROGRESS: i32 = 1;
    /// `get_rendezvous_status`: `rendezvous_host` registered this host: `get_rendezvous_id` is the
    /// id to share.
    #[constant]
    const RENDEZVOUS_REGISTERED: i32 = 2;
    /// `get_rendezvous_status`: `rendezvous_connect` found a path; the connection's handshake runs
    /// over it (`service` returns `EVENT_CONNECT` when it completes).
    #[constant]
    const RENDEZVOUS_CONNECTING: i32 = 3;
    /// `get_rendezvous_status`: it failed; `get_rendezvous_error` says why.
    #[constant]
    const RENDEZVOUS_FAILED: i32 = 4;

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
        self.rendezvous = Default::default();
        for (_, mut peer) in self.peers.drain() {
            peer.bind_mut().on_disconnect();
        }
        host.destroy();
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
            Ok(id) => Some(self.packet_peer_of(id)),
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
        crate::diagnostics::flush_pending();
        self.drive_rendezvous();
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
        self.drive_rendezvous();
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
        let Some(flags) = checked_flags(flags) else {
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
        udp.broadcast(channel, Packet::new(data, PacketFlags::from_bits(flags)));
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
