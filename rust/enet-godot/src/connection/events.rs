//! The class's own workings: creating the host, the packet peers it hands out for its slots,
//! and draining its events into them and into `service` results.

use std::time::Duration;

use godot::global::Error;
use godot::prelude::*;
use rust_enet_net::{BindAddress, UdpHost};
use rust_enet_proto::{Event, HostConfig, Packet, PeerId};
use rust_enet_session::{LeaveReason, SessionHost, next_host_event};

use super::{MAXIMUM_CHANNELS, MAXIMUM_PEERS, RustENetConnection, clamp_u32};
use crate::packet_peer::RustENetPacketPeer;

/// An event of [`RustENetConnection::drain_events`] other than a received packet.
pub(super) enum ControlEvent {
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
                self.host = Some(SessionHost::new(udp));
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
        self.host.as_ref().is_some_and(SessionHost::is_active)
    }

    pub(super) fn with_host<R>(&mut self, f: impl FnOnce(&mut UdpHost) -> R) -> Option<R> {
        let host = self.host.as_ref()?;
        let mut guard = host.lock();
        guard.as_mut().map(f)
    }

    /// Sends everything queued (`enet_host_flush`).
    pub(crate) fn flush_host(&mut self) {
        if let Some(Err(e)) = self.with_host(UdpHost::flush) {
            godot_error!("RustENetConnection.flush: {e}");
        }
    }

    /// The packet peer of slot `slot`, created on first use (and again once the one handed out
    /// became inactive: a new connection in the slot gets a new object, as in Godot).
    pub(crate) fn packet_peer_of(&mut self, slot: PeerId) -> Gd<RustENetPacketPeer> {
        if let Some(peer) = self.peers.get(&slot)
            && peer.bind().is_active()
        {
            return peer.clone();
        }
        let host = self.host.clone().unwrap_or_default();
        let peer = RustENetPacketPeer::create(host, slot);
        self.peers.insert(slot, peer.clone());
        peer
    }

    /// The connection in slot `slot` ended: its packet peer becomes inactive and is forgotten.
    pub(crate) fn forget_packet_peer(&mut self, slot: PeerId, reason: LeaveReason) {
        if let Some(mut peer) = self.peers.remove(&slot) {
            peer.bind_mut().on_disconnect_with(reason);
        }
    }

    /// Whether `create` succeeded and `destroy` was not called (the socket may be closed
    /// already, by a `RustENetPeer` that closed it).
    pub(crate) fn is_created(&self) -> bool {
        self.host.is_some()
    }

    /// Forgets packet peers made inactive by `reset` or `peer_disconnect_now`.
    pub(super) fn prune_inactive(&mut self) {
        self.peers.retain(|_, peer| peer.bind().is_active());
    }

    /// The host's events: a service first if `timeout` is set (waiting up to `timeout` for an
    /// event; with a service thread the wait releases the host), then queued events. Packets
    /// from slots with a packet peer go to `on_receive(slot, channel, packet)` for as long as it
    /// returns true; the first other event is returned (`None` once the queue is empty or
    /// `on_receive` returned false). Draining the queue never sends (see [`next_host_event`]).
    pub(super) fn drain_events(
        &mut self,
        timeout: Option<Duration>,
        mut on_receive: impl FnMut(PeerId, u8, Packet) -> bool,
    ) -> Option<ControlEvent> {
        if timeout.is_some() {
            // Once per service, not per queued event: costs O(peers).
            self.prune_inactive();
        }
        let host = self.host.clone()?;
        let mut first = timeout.map(|wait| host.shared().service(wait));
        loop {
            let event = match first.take() {
                Some(Ok(Some(event))) => Some(event),
                Some(Err(failure)) => {
                    godot_error!("RustENetConnection.service: {failure}");
                    return Some(ControlEvent::Error);
                }
                // No event from the service (or after it): what is queued, and whether the
                // client's DTLS session failed.
                Some(Ok(None)) | None => {
                    let mut guard = host.lock();
                    let udp = guard.as_mut()?;
                    match next_host_event(udp, None) {
                        Ok(event) => event,
                        Err(failure) => {
                            godot_error!("RustENetConnection.service: {failure}");
                            return Some(ControlEvent::Error);
                        }
                    }
                }
            }?;
            match event {
                Event::Connect { peer, data } => {
                    let address = host
                        .lock()
                        .as_ref()
                        .and_then(|udp| udp.host().peer(peer).map(|p| p.address()));
                    if let Some(address) = address {
                        self.rendezvous_peer_connected(rust_enet_net::canonical_addr(address));
                    }
                    return Some(ControlEvent::Connect {
                        peer: self.packet_peer_of(peer),
                        data,
                    });
                }
                Event::Disconnect { peer, data, reason } => {
                    // A slot we never handed out (or already reset) has nothing to report.
                    let Some(mut packet_peer) = self.peers.remove(&peer) else {
                        continue;
                    };
                    packet_peer
                        .bind_mut()
                        .on_disconnect_with(LeaveReason::from_core(reason, data));
                    return Some(ControlEvent::Disconnect {
                        peer: packet_peer,
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

    /// The host shared with this object's packet peers (`None` before `create` and after
    /// `destroy`), for a `RustENetPeer` session that takes it over.
    pub(crate) fn session_host(&self) -> Option<SessionHost> {
        self.host.clone()
    }
}
