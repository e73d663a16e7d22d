//! The class's own workings: creating the host, draining its events into packet peers and
//! `service` results, and the packet peers it hands out.

use std::sync::Arc;
use std::time::Duration;

use godot::global::Error;
use godot::prelude::*;
use parking_lot::Mutex;
use rust_enet_net::{BindAddress, UdpHost};
use rust_enet_proto::{Event, HostConfig, Packet, PeerId};

use crate::packet_peer::RustENetPacketPeer;
use crate::session::{LeaveReason, next_host_event};

use super::*;

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

    pub(super) fn with_host<R>(&mut self, f: impl FnOnce(&mut UdpHost) -> R) -> Option<R> {
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
    pub(super) fn prune_inactive(&mut self) {
        self.peers.retain(|_, peer| peer.bind().is_active());
    }

    /// The host's events: a service pass first if `timeout` is set (up to `timeout` long), then
    /// queued events. Packets from slots with a packet peer go to `on_receive(slot, channel,
    /// packet)` for as long as it returns true; the first other event is returned (`None` once
    /// the queue is empty or `on_receive` returned false). Draining the queue never sends (see
    /// [`next_host_event`]).
    pub(super) fn drain_events(
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
