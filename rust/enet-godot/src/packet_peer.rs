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
use rust_enet_session::stats::RateMeter;
use rust_enet_session::{LeaveReason, SessionHost};

mod statistics;

pub(crate) use statistics::reason_dictionary;

/// Largest packet accepted from scripts (Godot's ENet peers report `1 << 24` as well).
pub(crate) const MAX_PACKET_SIZE: i32 = 1 << 24;

/// The packet flags scripts may pass (Godot's `FLAG_ALLOWED`).
const FLAGS_ALLOWED: i64 = (RustENetPacketPeer::FLAG_RELIABLE
    | RustENetPacketPeer::FLAG_UNSEQUENCED
    | RustENetPacketPeer::FLAG_UNRELIABLE_FRAGMENT) as i64;

/// Queues `packet` for slot `id` on ENet `channel`, with `RustENetPacketPeer.send`'s result
/// codes and messages.
fn send_on(udp: &mut UdpHost, id: PeerId, channel: u8, packet: Packet) -> Error {
    match udp.send(id, channel, packet) {
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

/// A connection to one remote ENet peer, implemented in Rust; mirrors `ENetPacketPeer`.
///
/// A RustENetPacketPeer is one connection of a `RustENetConnection`: it is returned by
/// `RustENetPeer.get_peer`, `RustENetConnection.connect_to_host`, `RustENetConnection.get_peers`
/// and the events of `RustENetConnection.service`. It has the methods and constants of
/// `ENetPacketPeer`.
///
/// As a `PacketPeer`, `PacketPeer.put_packet` sends reliably on channel 0 and
/// `PacketPeer.get_packet` returns the packets that `RustENetConnection.service` received for this
/// peer. `send` chooses the channel and flags.
///
/// When its host is destroyed, or after `reset` or `peer_disconnect_now`, the peer becomes inactive
/// (`is_active` returns `false`) and its methods do nothing.
#[derive(GodotClass)]
#[class(tool, no_init, base = PacketPeerExtension)]
pub struct RustENetPacketPeer {
    host: SessionHost,
    id: PeerId,
    active: bool,
    /// Rates for `get_statistics`, measured between its calls.
    meter: RateMeter,
    /// Why the connection ended, once it has (`get_disconnect_reason`).
    disconnect_reason: Option<LeaveReason>,
    queue: VecDeque<Packet>,
    /// The packet last returned by `get_packet`; Godot reads it until the next call.
    current: Option<Bytes>,
    base: Base<PacketPeerExtension>,
}

#[godot_api]
impl RustENetPacketPeer {
    /// The packet loss statistics (`PEER_PACKET_LOSS`, `PEER_PACKET_LOSS_VARIANCE`) are fractions
    /// of this value: `65536` means every packet was lost.
    #[constant]
    const PACKET_LOSS_SCALE: i32 = 65536;
    /// The packet throttle is a fraction of this value: at `32` every unreliable packet is sent.
    #[constant]
    const PACKET_THROTTLE_SCALE: i32 = 32;
    /// Reliable, ordered delivery: the packet is resent until acknowledged.
    #[constant]
    const FLAG_RELIABLE: i32 = 0x1;
    /// Unreliable delivery, in no particular order. Do not combine with `FLAG_RELIABLE`.
    #[constant]
    const FLAG_UNSEQUENCED: i32 = 0x2;
    /// An unreliable packet larger than the MTU is split into unreliable fragments; without this
    /// flag, such a packet is sent reliably.
    #[constant]
    const FLAG_UNRELIABLE_FRAGMENT: i32 = 0x8;

    /// The peer is disconnected, or the slot is free.
    #[constant]
    const STATE_DISCONNECTED: i32 = 0;
    /// A connection request was sent; waiting for the answer.
    #[constant]
    const STATE_CONNECTING: i32 = 1;
    /// A connection request arrived and is being answered.
    #[constant]
    const STATE_ACKNOWLEDGING_CONNECT: i32 = 2;
    /// The connection is waiting to be confirmed.
    #[constant]
    const STATE_CONNECTION_PENDING: i32 = 3;
    /// The connection succeeded; its event has not been returned yet.
    #[constant]
    const STATE_CONNECTION_SUCCEEDED: i32 = 4;
    /// The peer is connected: packets can be sent and received.
    #[constant]
    const STATE_CONNECTED: i32 = 5;
    /// The peer will disconnect once everything queued has been sent (`peer_disconnect_later`).
    #[constant]
    const STATE_DISCONNECT_LATER: i32 = 6;
    /// A disconnection was sent; waiting for its acknowledgement.
    #[constant]
    const STATE_DISCONNECTING: i32 = 7;
    /// The remote peer asked to disconnect and is being answered.
    #[constant]
    const STATE_ACKNOWLEDGING_DISCONNECT: i32 = 8;
    /// The connection is over; its disconnection event has not been returned yet.
    #[constant]
    const STATE_ZOMBIE: i32 = 9;

    /// The mean packet loss of reliable packets, as a fraction of `PACKET_LOSS_SCALE`.
    #[constant]
    const PEER_PACKET_LOSS: i32 = 0;
    /// The variance of the packet loss.
    #[constant]
    const PEER_PACKET_LOSS_VARIANCE: i32 = 1;
    /// The time (ENet milliseconds) the current packet loss period began.
    #[constant]
    const PEER_PACKET_LOSS_EPOCH: i32 = 2;
    /// The mean round trip time of reliable packets, in milliseconds.
    #[constant]
    const PEER_ROUND_TRIP_TIME: i32 = 3;
    /// The variance of the round trip time, in milliseconds.
    #[constant]
    const PEER_ROUND_TRIP_TIME_VARIANCE: i32 = 4;
    /// The round trip time measured last, in milliseconds.
    #[constant]
    const PEER_LAST_ROUND_TRIP_TIME: i32 = 5;
    /// The round trip time variance measured last, in milliseconds.
    #[constant]
    const PEER_LAST_ROUND_TRIP_TIME_VARIANCE: i32 = 6;
    /// The current packet throttle, as a fraction of `PACKET_THROTTLE_SCALE`.
    #[constant]
    const PEER_PACKET_THROTTLE: i32 = 7;
    /// The highest the packet throttle may go.
    #[constant]
    const PEER_PACKET_THROTTLE_LIMIT: i32 = 8;
    /// The counter ENet compares with the throttle to decide which unreliable packets to drop.
    #[constant]
    const PEER_PACKET_THROTTLE_COUNTER: i32 = 9;
    /// The time (ENet milliseconds) the throttle was last adjusted.
    #[constant]
    const PEER_PACKET_THROTTLE_EPOCH: i32 = 10;
    /// How much the throttle rises when conditions improve (see `throttle_configure`).
    #[constant]
    const PEER_PACKET_THROTTLE_ACCELERATION: i32 = 11;
    /// How much the throttle falls when conditions worsen.
    #[constant]
    const PEER_PACKET_THROTTLE_DECELERATION: i32 = 12;
    /// How often, in milliseconds, the throttle is adjusted.
    #[constant]
    const PEER_PACKET_THROTTLE_INTERVAL: i32 = 13;

    /// Starts a graceful disconnection: data still queued is dropped, a disconnection carrying
    /// `data` is sent reliably, and `RustENetConnection.EVENT_DISCONNECT` follows once the remote
    /// end acknowledges it (or the connection times out).
    #[func]
    pub fn peer_disconnect(&mut self, #[opt(default = 0)] data: i64) {
        let id = self.id;
        self.with_host("peer_disconnect", |udp| {
            udp.host_mut().disconnect(id, data as u32);
        });
    }

    /// Disconnects gracefully (like `peer_disconnect`) once everything queued for the peer has been
    /// delivered. New packets can no longer be sent.
    #[func]
    pub fn peer_disconnect_later(&mut self, #[opt(default = 0)] data: i64) {
        let id = self.id;
        self.with_host("peer_disconnect_later", |udp| {
            udp.host_mut().disconnect_later(id, data as u32);
        });
    }

    /// Drops the connection at once, sending one unreliable disconnection carrying `data`. No
    /// `RustENetConnection.EVENT_DISCONNECT` follows for this peer, which becomes inactive.
    #[func]
    pub fn peer_disconnect_now(&mut self, #[opt(default = 0)] data: i64) {
        if self.check_active("peer_disconnect_now")
            && let Err(e) = self.host.disconnect_now(self.id, data as u32)
        {
            godot_error!("RustENetPacketPeer.peer_disconnect_now: {e}");
        }
        self.on_disconnect();
    }

    /// Sends a ping to the remote peer now. ENet pings idle connections on its own (see
    /// `ping_interval`); pings keep the connection alive and measure the round trip time.
    #[func]
    pub fn ping(&mut self) {
        let id = self.id;
        self.with_host("ping", |udp| udp.host_mut().ping(id));
    }

    /// Sets how often an idle connection is pinged, in milliseconds (`0` restores ENet's default of
    /// 500). Longer intervals send less, but the round trip time and packet loss statistics update
    /// less often.
    #[func]
    pub fn ping_interval(&mut self, ping_interval: i64) {
        let id = self.id;
        self.with_host("ping_interval", |udp| {
            udp.host_mut()
                .set_ping_interval(id, ping_interval.clamp(0, i64::from(u32::MAX)) as u32);
        });
    }

    /// Frees the connection's slot at once without telling the remote peer, which will time out.
    /// The peer becomes inactive.
    #[func]
    pub fn reset(&mut self) {
        if self.check_active("reset") {
            self.host.reset_peer(self.id);
        }
        self.on_disconnect();
    }

    /// Queues `packet` on `channel` with `flags`, a combination of the `FLAG_*` constants:
    /// `FLAG_RELIABLE` for reliable, ordered delivery; `FLAG_UNSEQUENCED` for unordered unreliable
    /// delivery; neither for unreliable delivery in order (late packets are dropped). The packet
    /// leaves with the next `RustENetConnection.service` or `RustENetConnection.flush`.
    ///
    /// Returns `OK`; `ERR_INVALID_PARAMETER` for an out-of-range channel, invalid flags or a packet
    /// over 16 MiB; `FAILED` if the peer is not connected.
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

    /// Configures the packet throttle, which reduces the share of unreliable packets sent when
    /// packet loss rises: every `interval` milliseconds, the throttle rises by `acceleration` if
    /// the round trip time fell and drops by `deceleration` if it rose (both out of
    /// `PACKET_THROTTLE_SCALE`). The remote end is told the same values.
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

    /// Sets when an unanswered connection is dropped, in milliseconds. `timeout` scales with the
    /// round trip time ENet measured (ENet's default 32 is a factor on it), `timeout_min` is the
    /// least time before a drop (default 5000) and `timeout_max` the most (default 30000). `0`
    /// keeps the default of an argument. The values must satisfy `timeout <= timeout_min <=
    /// timeout_max`, or an error is printed and nothing changes.
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

    /// Returns the `FLAG_*` flags of the next packet `PacketPeer.get_packet` will return.
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

    /// Returns the IP address of the remote peer. IPv4 addresses are given in IPv4 form, even on a
    /// dual-stack socket.
    #[func]
    pub fn get_remote_address(&self) -> GString {
        self.remote_address()
            .map_or_else(GString::new, |a| GString::from(&a.ip().to_string()))
    }

    /// Returns the UDP port of the remote peer.
    #[func]
    pub fn get_remote_port(&self) -> i64 {
        self.read_peer(|udp, id| udp.host().peer(id).map(|p| i64::from(p.address().port())))
            .flatten()
            .unwrap_or(0)
    }

    /// Returns the state of the connection, one of the `STATE_*` constants.
    #[func]
    pub fn get_state(&self) -> i32 {
        self.state().map_or(0, |s| s as i32)
    }

    /// Returns the number of channels of the connection, as agreed with the remote end.
    #[func]
    pub fn get_channels(&self) -> i64 {
        self.read_peer(|udp, id| udp.host().peer(id).map(|p| p.channel_count() as i64))
            .flatten()
            .unwrap_or(0)
    }

    /// Returns `true` while the peer belongs to a live host: not after `reset`,
    /// `peer_disconnect_now` or `RustENetConnection.destroy`.
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
        // SAFETY: Godot passes valid, writable out-pointers; the buffer lives in `self.current`
        // until the next get_packet, which is as long as Godot reads it.
        unsafe { crate::hand_out_packet(&mut self.current, packet.data, r_buffer, r_buffer_size) }
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
    pub(crate) fn create(host: SessionHost, id: PeerId) -> Gd<Self> {
        Gd::from_init_fn(|base| Self {
            host,
            id,
            active: true,
            disconnect_reason: None,
            meter: RateMeter::default(),
            queue: VecDeque::new(),
            current: None,
            base,
        })
    }

    /// The slot was freed (disconnect event, reset, host destroyed): the peer is inactive.
    pub(crate) fn on_disconnect(&mut self) {
        self.on_disconnect_with(LeaveReason::Kicked);
    }

    /// The connection ended for `reason`: the peer is inactive. The first reason stays.
    pub(crate) fn on_disconnect_with(&mut self, reason: LeaveReason) {
        self.disconnect_reason.get_or_insert(reason);
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

    /// The remote's address (IPv4 as IPv4), while the connection is there.
    pub(crate) fn remote_address(&self) -> Option<std::net::SocketAddr> {
        self.read_peer(|udp, id| {
            udp.host()
                .peer(id)
                .map(|p| rust_enet_net::canonical_addr(p.address()))
        })
        .flatten()
    }

    /// Queues `packet` on ENet `channel`; errors are reported with Godot's codes.
    pub(crate) fn send_packet(&mut self, channel: u8, packet: Packet) -> Error {
        let id = self.id;
        self.with_host("send", |udp| send_on(udp, id, channel, packet))
            .unwrap_or(Error::ERR_UNCONFIGURED)
    }

    pub(super) fn read_peer<R>(&self, f: impl FnOnce(&UdpHost, PeerId) -> R) -> Option<R> {
        if !self.active {
            return None;
        }
        let guard = self.host.lock();
        guard.as_ref().map(|udp| f(udp, self.id))
    }

    /// Whether the peer is active and its host alive; prints why not for `what`.
    fn check_active(&self, what: &str) -> bool {
        if !self.active {
            godot_error!("RustENetPacketPeer.{what}: the peer is not active");
            return false;
        }
        if !self.host.is_active() {
            godot_error!("RustENetPacketPeer.{what}: the host was destroyed");
            return false;
        }
        true
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
