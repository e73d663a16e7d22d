//! Registering with a rendezvous server and joining through one (NAT traversal), on
//! `RustENetConnection`.

// gdext's `#[godot_api]` expands to public helper types without `Debug` implementations.
#![allow(missing_debug_implementations)]

use std::time::Instant;

use godot::global::Error;
use godot::prelude::*;
use rust_enet_session::traversal::{Failure, TraversalConfig};
use rust_enet_session::{Rendezvous, RendezvousEvent};

use super::{MAXIMUM_CHANNELS, RustENetConnection};
use crate::packet_peer::RustENetPacketPeer;

/// A connection's traversal and where it stands.
#[derive(Debug, Default)]
pub(crate) struct RendezvousState {
    rendezvous: Option<Rendezvous>,
    status: i32,
    failure: Option<Failure>,
}

#[godot_api(secondary)]
impl RustENetConnection {
    /// Registers this host with the rendezvous server at `server_address` (a host name or an IP
    /// address) and `server_port` (TCP; `8890` is noray's), from this host's own socket, so that
    /// others can reach it through NAT with `rendezvous_connect` and the id it gets
    /// (`get_rendezvous_id`, once `get_rendezvous_status` is `RENDEZVOUS_REGISTERED`). The
    /// registration, the keepalive of the NAT mapping and the answers to joiners' punch packets run
    /// in `service` and `flush`: call one of them every frame. Joiners then connect as any peer
    /// does (`EVENT_CONNECT`). See `RustENetPeer.create_server_rendezvous` for the same on the
    /// high-level peer.
    ///
    /// Returns `OK`, `ERR_UNCONFIGURED` if the host is not created, `ERR_ALREADY_IN_USE` if a
    /// rendezvous already runs (call `rendezvous_close` first), or `ERR_INVALID_PARAMETER` for an
    /// empty address or a port out of range.
    #[func]
    pub fn rendezvous_host(
        &mut self,
        server_address: GString,
        #[opt(default = 8890)] server_port: i64,
    ) -> Error {
        const METHOD: &str = "RustENetConnection.rendezvous_host";
        let Some(port) = rendezvous_port(METHOD, &server_address, server_port) else {
            return Error::ERR_INVALID_PARAMETER;
        };
        let server = server_address.to_string();
        self.start_rendezvous(|udp| {
            Rendezvous::host(
                &server,
                port,
                TraversalConfig::default(),
                udp,
                Instant::now(),
            )
        })
    }

    /// Finds a path to the host registered as `host_id` with the rendezvous server at
    /// `server_address` and `server_port` (its LAN address, its public one, then the server's
    /// relay) and connects over the first that answers, asking for `channels` channels (`0` means
    /// 255) with `data` in the request, as `connect_to_host` does. It runs in `service` and
    /// `flush`: the connection's `RustENetPacketPeer` comes with `EVENT_CONNECT`; if no path is
    /// found, `get_rendezvous_status` becomes `RENDEZVOUS_FAILED`.
    ///
    /// Returns what `rendezvous_host` returns, and `ERR_INVALID_PARAMETER` for an empty id.
    #[func]
    pub fn rendezvous_connect(
        &mut self,
        host_id: GString,
        server_address: GString,
        #[opt(default = 8890)] server_port: i64,
        #[opt(default = 0)] channels: i64,
        #[opt(default = 0)] data: i64,
    ) -> Error {
        const METHOD: &str = "RustENetConnection.rendezvous_connect";
        let Some(port) = rendezvous_port(METHOD, &server_address, server_port) else {
            return Error::ERR_INVALID_PARAMETER;
        };
        let Some(id) = rendezvous_host_id(METHOD, &host_id) else {
            return Error::ERR_INVALID_PARAMETER;
        };
        let channels = if (1..=MAXIMUM_CHANNELS).contains(&channels) {
            channels as usize
        } else {
            MAXIMUM_CHANNELS as usize
        };
        let server = server_address.to_string();
        self.start_rendezvous(|udp| {
            Rendezvous::join(
                &id,
                &server,
                port,
                TraversalConfig::default(),
                udp,
                Instant::now(),
                channels,
                data as u32,
            )
        })
    }

    /// Where the rendezvous of this host stands: a `RENDEZVOUS_*` constant.
    #[func]
    pub fn get_rendezvous_status(&self) -> i32 {
        self.rendezvous.status
    }

    /// The id `rendezvous_host` registered (what joiners give `rendezvous_connect`); empty before.
    #[func]
    pub fn get_rendezvous_id(&self) -> GString {
        self.rendezvous
            .rendezvous
            .as_ref()
            .and_then(Rendezvous::id)
            .map(GString::from)
            .unwrap_or_default()
    }

    /// Why the rendezvous failed: `{"reason": ..., "message": ...}` with the reasons of
    /// `RustENetPeer.rendezvous_failed`; empty unless `get_rendezvous_status` is
    /// `RENDEZVOUS_FAILED`.
    #[func]
    pub fn get_rendezvous_error(&self) -> VarDictionary {
        let mut out = VarDictionary::new();
        if let Some(failure) = &self.rendezvous.failure {
            out.set("reason", failure.name());
            out.set("message", failure.message());
        }
        out
    }

    /// How `peer` is reached: `"direct"` or `"relay"` when it came through this host's rendezvous,
    /// `""` otherwise.
    #[func]
    pub fn get_peer_path(&self, peer: Option<Gd<RustENetPacketPeer>>) -> GString {
        let (Some(peer), Some(rendezvous)) = (peer, &self.rendezvous.rendezvous) else {
            return GString::new();
        };
        let Some(address) = peer.bind().remote_address() else {
            return GString::new();
        };
        GString::from(rendezvous.path_of(address).kind())
    }

    /// Stops the rendezvous: closes the connection to the rendezvous server and stops punching.
    /// Connections made through it stay.
    #[func]
    pub fn rendezvous_close(&mut self) {
        if let Some(mut rendezvous) = self.rendezvous.rendezvous.take() {
            self.with_host(|udp| rendezvous.close(udp));
        }
        self.rendezvous = RendezvousState::default();
    }
}

/// The rendezvous server's port, checked with its address; `None` (with an error printed for
/// `method`) when either is unusable.
pub(crate) fn rendezvous_port(method: &str, address: &GString, port: i64) -> Option<u16> {
    if address.is_empty() {
        godot_error!("{method}: the rendezvous server's address is empty");
        return None;
    }
    match u16::try_from(port) {
        Ok(port) if port > 0 => Some(port),
        _ => {
            godot_error!(
                "{method}: the rendezvous server's port must be between 1 and 65535, not {port}"
            );
            None
        }
    }
}

/// The id of the host to join; `None` (with an error printed for `method`) when it is empty or
/// holds a space or a line break.
pub(crate) fn rendezvous_host_id(method: &str, host_id: &GString) -> Option<String> {
    let id = host_id.to_string();
    if id.is_empty() || id.contains([' ', '\n', '\r']) {
        godot_error!("{method}: the host id {id:?} is empty or holds a space or a line break");
        return None;
    }
    Some(id)
}

impl RustENetConnection {
    fn start_rendezvous(
        &mut self,
        start: impl FnOnce(&mut rust_enet_net::UdpHost) -> Rendezvous,
    ) -> Error {
        if self.rendezvous.rendezvous.is_some() {
            godot_error!(
                "RustENetConnection: a rendezvous already runs on this host; call rendezvous_close() first"
            );
            return Error::ERR_ALREADY_IN_USE;
        }
        let Some(rendezvous) = self.with_host(start) else {
            godot_error!("RustENetConnection: the host is not active; call create_host first");
            return Error::ERR_UNCONFIGURED;
        };
        self.rendezvous = RendezvousState {
            rendezvous: Some(rendezvous),
            status: Self::RENDEZVOUS_IN_PROGRESS,
            failure: None,
        };
        Error::OK
    }

    /// One step of the rendezvous, from `service` and `flush`.
    pub(super) fn drive_rendezvous(&mut self) {
        let Some(mut rendezvous) = self.rendezvous.rendezvous.take() else {
            return;
        };
        let now = Instant::now();
        let events = self
            .with_host(|udp| rendezvous.drive(udp, now))
            .unwrap_or_default();
        for event in events {
            match event {
                RendezvousEvent::Registered { .. } => {
                    self.rendezvous.status = Self::RENDEZVOUS_REGISTERED;
                }
                RendezvousEvent::Connecting { .. } => {
                    self.rendezvous.status = Self::RENDEZVOUS_CONNECTING;
                }
                RendezvousEvent::Failed(failure) => {
                    tracing::warn!(
                        "rendezvous failed ({}): {}",
                        failure.name(),
                        failure.message()
                    );
                    self.rendezvous.status = Self::RENDEZVOUS_FAILED;
                    self.rendezvous.failure = Some(failure);
                }
            }
        }
        self.rendezvous.rendezvous = Some(rendezvous);
    }

    /// A peer connected from `address`: a host stops punching toward it.
    pub(super) fn rendezvous_peer_connected(&mut self, address: std::net::SocketAddr) {
        if let Some(rendezvous) = &mut self.rendezvous.rendezvous {
            rendezvous.peer_connected(address);
        }
    }
}
