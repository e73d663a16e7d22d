//! `RustENetPacketPeer`: one peer slot of a `RustENetConnection`, mirroring `ENetPacketPeer`.

// gdext's `#[godot_api]` expands to public helper types without `Debug` implementations.
#![allow(missing_debug_implementations)]

use std::collections::VecDeque;

use bytes::Bytes;
use godot::classes::{IPacketPeerExtension, PacketPeerExtension};
use godot::global::Error;
use godot::meta::conv::RawPtr;
use godot::prelude::*;
use rust_enet_net::UdpHost;
use rust_enet_proto::{Packet, PacketFlags, PeerId, PeerState, SendError};

use crate::connection::SharedHost;

/// Largest packet accepted from scripts (Godot's ENet peers report `1 << 24` as well).
pub(crate) const MAX_PACKET_SIZE: i32 = 1 << 24;

/// The packet flags scripts may pass (`FLAG_RELIABLE | FLAG_UNSEQUENCED |
/// FLAG_UNRELIABLE_FRAGMENT`, Godot's `FLAG_ALLOWED`).
const FLAGS_ALLOWED: i64 = 0x1 | 0x2 | 0x8;

/// Queues `packet` for slot `id` on ENet `channel`, with `RustENetPacketPeer.send`'s result
/// codes and messages.
pub(crate) fn send_on(udp: &mut UdpHost, id: PeerId, channel: u8, packet: Packet) -> Error {
    match udp.host_mut().send(id, channel, packet) {
        Ok(()) => Error::OK,
        // A send racing the peer's disconnect is not a misuse: Godot's ENetPacketPeer returns
        // FAILED without a message when enet_peer_send refuses a peer that is not connected, so
        // this does too.
        Err(SendError::NotConnected) => Error::FAILED,
        Err(e) => {
            godot_error!(
                "RustENetPacketPeer.send: unable to send packet on channel {channel}: {e}"
            );
            Error::FAILED
        }
    }
}

/// Checks script-provided packet flags like Godot does.
pub(crate) fn checked_flags(flags: i64) -> Option<u32> {
    if flags & !FLAGS_ALLOWED != 0 {
        godot_error!(
            "RustENetPacketPeer: invalid packet flags {flags}; use FLAG_RELIABLE, FLAG_UNSEQUENCED and FLAG_UNRELIABLE_FRAGMENT"
        );
        return None;
    }
    Some(flags as u32)
}

/// A connection to one remote ENet peer, obtained from `RustENetPeer.get_peer` or
/// `RustENetConnection.get_peers` / `connect_to_host` / `service`. Mirrors `ENetPacketPeer`.
///
/// As a `PacketPeer`, `put_packet` sends reliably on channel 0, and `get_packet` returns the
/// packets queued by `RustENetConnection.service`.
#[derive(GodotClass)]
#[class(tool, no_init, base = PacketPeerExtension)]
pub struct RustENetPacketPeer {
    host: SharedHost,
    id: PeerId,
    active: bool,
    queue: VecDeque<Packet>,
    /// The packet last returned by `get_packet`; Godot reads it until the next call.
    current: Option<Bytes>,
    base: Base<PacketPeerExtension>,
}

#[godot_api]
impl RustENetPacketPeer {
    /// `ENET_PEER_PACKET_LOSS_SCALE`: packet loss statistics are ratios times this value.
    #[constant]
    const PACKET_LOSS_SCALE: i32 = 65536;
    /// `ENET_PEER_PACKET_THROTTLE_SCALE`.
    #[constant]
    const PACKET_THROTTLE_SCALE: i32 = 32;
    /// Reliable, ordered delivery.
    #[constant]
    const FLAG_RELIABLE: i32 = 0x1;
    /// Unreliable, unordered delivery.
    #[constant]
    const FLAG_UNSEQUENCED: i32 = 0x2;
    /// Fragment large unreliable packets unreliably instead of sending them reliably.
    #[constant]
    const FLAG_UNRELIABLE_FRAGMENT: i32 = 0x8;

    #[constant]
    const STATE_DISCONNECTED: i32 = 0;
    #[constant]
    const STATE_CONNECTING: i32 = 1;
    #[constant]
    const STATE_ACKNOWLEDGING_CONNECT: i32 = 2;
    #[constant]
    const STATE_CONNECTION_PENDING: i32 = 3;
    #[constant]
    const STATE_CONNECTION_SUCCEEDED: i32 = 4;
    #[constant]
    const STATE_CONNECTED: i32 = 5;
    #[constant]
    const STATE_DISCONNECT_LATER: i32 = 6;
    #[constant]
    const STATE_DISCONNECTING: i32 = 7;
    #[constant]
    const STATE_ACKNOWLEDGING_DISCONNECT: i32 = 8;
    #[constant]
    const STATE_ZOMBIE: i32 = 9;

    #[constant]
    const PEER_PACKET_LOSS: i32 = 0;
    #[constant]
    const PEER_PACKET_LOSS_VARIANCE: i32 = 1;
    #[constant]
    const PEER_PACKET_LOSS_EPOCH: i32 = 2;
    #[constant]
    const PEER_ROUND_TRIP_TIME: i32 = 3;
    #[constant]
    const PEER_ROUND_TRIP_TIME_VARIANCE: i32 = 4;
    #[constant]
    const PEER_LAST_ROUND_TRIP_TIME: i32 = 5;
    #[constant]
    const PEER_LAST_ROUND_TRIP_TIME_VARIANCE: i32 = 6;
    #[constant]
    const PEER_PACKET_THROTTLE: i32 = 7;
    #[constant]
    const PEER_PACKET_THROTTLE_LIMIT: i32 = 8;
    #[constant]
    const PEER_PACKET_THROTTLE_COUNTER: i32 = 9;
    #[constant]
    const PEER_PACKET_THROTTLE_EPOCH: i32 = 10;
    #[constant]
    const PEER_PACKET_THROTTLE_ACCELERATION: i32 = 11;
    #[constant]
    const PEER_PACKET_THROTTLE_DECELERATION: i32 = 12;
    #[constant]
    const PEER_PACKET_THROTTLE_INTERVAL: i32 = 13;

    /// Starts a graceful disconnect: queued data is dropped, a reliable DISCONNECT carrying
    /// `data` is sent, and a disconnect event follows its acknowledgement.
    #[func]
    pub fn peer_disconnect(&mut self, #[opt(default = 0)] data: i64) {
        let id = self.id;
        self.with_host("peer_disconnect", |udp| {
            udp.host_mut().disconnect(id, data as u32);
        });
    }

    /// Disconnects once everything queued has been delivered.
    #[func]
    pub fn peer_disconnect_later(&mut self, #[opt(default = 0)] data: i64) {
        let id = self.id;
        self.with_host("peer_disconnect_later", |udp| {
            udp.host_mut().disconnect_later(id, data as u32);
        });
    }

    /// Drops the connection at once, sending one unreliable DISCONNECT. No event follows and
    /// this peer becomes inactive.
    #[func]
    pub fn peer_disconnect_now(&mut self, #[opt(default = 0)] data: i64) {
        let id = self.id;
        self.with_host("peer_disconnect_now", |udp| {
            udp.host_mut().disconnect_now(id, data as u32);
            if let Err(e) = udp.flush() {
                godot_error!("RustENetPacketPeer.peer_disconnect_now: {e}");
            }
        });
        self.on_disconnect();
    }

    /// Sends a PING (the host also pings idle peers on its own).
    #[func]
    pub fn ping(&mut self) {
        let id = self.id;
        self.with_host("ping", |udp| udp.host_mut().ping(id));
    }

    /// Sets how often an idle connection is pinged, in milliseconds (0 = 500).
    #[func]
    pub fn ping_interval(&mut self, ping_interval: i64) {
        let id = self.id;
        self.with_host("ping_interval", |udp| {
            udp.host_mut()
                .set_ping_interval(id, ping_interval.clamp(0, i64::from(u32::MAX)) as u32);
        });
    }

    /// Frees the slot without telling the remote, which will time out. This peer becomes
    /// inactive.
    #[func]
    pub fn reset(&mut self) {
        let id = self.id;
        self.with_host("reset", |udp| udp.host_mut().reset_peer(id));
        self.on_disconnect();
    }

    /// Queues `packet` on ENet `channel` with `flags` (`FLAG_*`).
    #[func]
    pub fn send(&mut self, channel: i64, packet: PackedByteArray, flags: i64) -> Error {
        let Some(flags) = checked_flags(flags) else {
            return Error::ERR_INVALID_PARAMETER;
        };
        let Ok(channel) = u8::try_from(channel) else {
            godot_error!("RustENetPacketPeer.send: invalid channel {channel}");
            return Error::ERR_INVALID_PARAMETER;
        };
        let packet = Packet::new(
            Bytes::copy_from_slice(packet.as_slice()),
            PacketFlags::from_bits(flags),
        );
        self.send_packet(channel, packet)
    }

    /// Sets the throttle parameters here and at the remote end.
    #[func]
    pub fn throttle_configure(&mut self, interval: i64, acceleration: i64, deceleration: i64) {
        let id = self.id;
        let clamp = |v: i64| v.clamp(0, i64::from(u32::MAX)) as u32;
        self.with_host("throttle_configure", |udp| {
            udp.host_mut().throttle_configure(
                id,
                clamp(interval),
                clamp(acceleration),
                clamp(deceleration),
            );
        });
    }

    /// Sets the timeout parameters in milliseconds; 0 keeps ENet's default (32, 5000, 30000).
    /// Requires `timeout <= timeout_min <= timeout_max`.
    #[func]
    pub fn set_timeout(&mut self, timeout: i64, timeout_min: i64, timeout_max: i64) {
        if timeout > timeout_min || timeout_min > timeout_max {
            godot_error!(
                "RustENetPacketPeer.set_timeout: timeout must be <= timeout_min, which must be <= timeout_max"
            );
            return;
        }
        let id = self.id;
        let clamp = |v: i64| v.clamp(0, i64::from(u32::MAX)) as u32;
        self.with_host("set_timeout", |udp| {
            udp.host_mut()
                .set_timeout(id, clamp(timeout), clamp(timeout_min), clamp(timeout_max));
        });
    }

    /// Flags of the next queued packet (`FLAG_*`).
    #[func]
    pub fn get_packet_flags(&self) -> i64 {
        match self.queue.front() {
            Some(packet) => i64::from(packet.flags.bits()),
            None => {
                godot_error!("RustENetPacketPeer.get_packet_flags: no packet queued");
                0
            }
        }
    }

    /// The remote address (IPv4 addresses print as IPv4).
    #[func]
    pub fn get_remote_address(&self) -> GString {
        self.read_peer(|udp, id| {
            udp.host()
                .peer(id)
                .map(|p| rust_enet_net::canonical_addr(p.address()).ip().to_string())
        })
        .flatten()
        .map_or_else(GString::new, |s| GString::from(&s))
    }

    /// The remote UDP port.
    #[func]
    pub fn get_remote_port(&self) -> i64 {
        self.read_peer(|udp, id| udp.host().peer(id).map(|p| i64::from(p.address().port())))
            .flatten()
            .unwrap_or(0)
    }

    /// One of the `PEER_*` statistics, with ENet's units.
    #[func]
    pub fn get_statistic(&self, statistic: i32) -> f64 {
        self.read_peer(|udp, id| {
            let p = udp.host().peer(id)?;
            let value = match statistic {
                0 => p.packet_loss(),
                1 => p.packet_loss_variance(),
                3 => p.round_trip_time(),
                4 => p.round_trip_time_variance(),
                5 => p.last_round_trip_time(),
                7 => p.packet_throttle(),
                8 => p.packet_throttle_limit(),
                11 => p.packet_throttle_acceleration(),
                12 => p.packet_throttle_deceleration(),
                13 => p.packet_throttle_interval(),
                // Epochs, counters and the last RTT variance are internal to the core.
                2 | 6 | 9 | 10 => 0,
                _ => {
                    godot_error!("RustENetPacketPeer.get_statistic: unknown statistic {statistic}");
                    0
                }
            };
            Some(f64::from(value))
        })
        .flatten()
        .unwrap_or(0.0)
    }

    /// The connection state (`STATE_*`); `STATE_DISCONNECTED` when inactive.
    #[func]
    pub fn get_state(&self) -> i32 {
        self.state().map_or(0, |s| s as i32)
    }

    /// The number of channels of the connection.
    #[func]
    pub fn get_channels(&self) -> i64 {
        self.read_peer(|udp, id| udp.host().peer(id).map(|p| p.channel_count() as i64))
            .flatten()
            .unwrap_or(0)
    }

    /// Whether this peer still refers to a live slot of a live host.
    #[func]
    pub fn is_active(&self) -> bool {
        self.active && self.host.lock().is_some()
    }
}

#[godot_api]
impl IPacketPeerExtension for RustENetPacketPeer {
    fn get_available_packet_count(&self) -> i32 {
        i32::try_from(self.queue.len()).unwrap_or(i32::MAX)
    }

    fn get_max_packet_size(&self) -> i32 {
        MAX_PACKET_SIZE
    }

    unsafe fn get_packet_rawptr(
        &mut self,
        r_buffer: RawPtr<*mut RawPtr<*const u8>>,
        r_buffer_size: RawPtr<*mut i32>,
    ) -> Error {
        let Some(packet) = self.queue.pop_front() else {
            godot_error!("RustENetPacketPeer.get_packet: no packet queued");
            return Error::ERR_UNAVAILABLE;
        };
        let data = self.current.insert(packet.data);
        // SAFETY: Godot passes valid, writable out-pointers; the buffer lives in `self.current`
        // until the next get_packet, which is as long as Godot reads it.
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
        // PacketPeer.put_packet on an ENet peer is reliable on channel 0.
        self.send_packet(0, Packet::reliable(data))
    }
}

impl RustENetPacketPeer {
    pub(crate) fn create(host: SharedHost, id: PeerId) -> Gd<Self> {
        Gd::from_init_fn(|base| Self {
            host,
            id,
            active: true,
            queue: VecDeque::new(),
            current: None,
            base,
        })
    }

    /// The slot was freed (disconnect event, reset, host destroyed): the peer is inactive.
    pub(crate) fn on_disconnect(&mut self) {
        self.active = false;
    }

    /// Queues a packet received by `RustENetConnection.service`.
    pub(crate) fn store_packet(&mut self, packet: Packet) {
        self.queue.push_back(packet);
    }

    /// The slot's state, if the peer is active.
    pub(crate) fn state(&self) -> Option<PeerState> {
        self.read_peer(|udp, id| udp.host().peer(id).map(|p| p.state()))
            .flatten()
    }

    /// The host slot of this connection.
    pub(crate) fn slot(&self) -> PeerId {
        self.id
    }

    /// Queues `packet` on ENet `channel`; errors are reported with Godot's codes.
    pub(crate) fn send_packet(&mut self, channel: u8, packet: Packet) -> Error {
        let id = self.id;
        self.with_host("send", |udp| send_on(udp, id, channel, packet))
            .unwrap_or(Error::ERR_UNCONFIGURED)
    }

    fn read_peer<R>(&self, f: impl FnOnce(&UdpHost, PeerId) -> R) -> Option<R> {
        if !self.active {
            return None;
        }
        let guard = self.host.lock();
        guard.as_ref().map(|udp| f(udp, self.id))
    }

    fn with_host<R>(&mut self, what: &str, f: impl FnOnce(&mut UdpHost) -> R) -> Option<R> {
        if !self.active {
            godot_error!("RustENetPacketPeer.{what}: the peer is not active");
            return None;
        }
        let mut guard = self.host.lock();
        match guard.as_mut() {
            Some(udp) => Some(f(udp)),
            None => {
                godot_error!("RustENetPacketPeer.{what}: the host was destroyed");
                None
            }
        }
    }
}
