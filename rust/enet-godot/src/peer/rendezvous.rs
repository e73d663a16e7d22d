//! Hosting and joining through a rendezvous server (NAT traversal), on `RustENetPeer`.

// gdext's `#[godot_api]` expands to public helper types without `Debug` implementations.
#![allow(missing_debug_implementations)]

use std::time::Instant;

use godot::global::Error;
use godot::prelude::*;
use rust_enet_net::BindAddress;
use rust_enet_session::traversal::{Failure, TraversalConfig};
use rust_enet_session::{Rendezvous, SYSCH_MAX, Session};

use super::RustENetPeer;
use super::conversions::generate_unique_id;
use crate::connection::{RustENetConnection, rendezvous_host_id, rendezvous_port};

#[godot_api(secondary)]
impl RustENetPeer {
    /// Creates a server, like `create_server`, and registers it with the rendezvous server at
    /// `server_address` (a host name or an IP address) and `server_port` (TCP; `8890` is noray's
    /// port). Players behind home routers can then join it without port forwarding, with
    /// `create_client_rendezvous` and the id this server gets: `rendezvous_registered` gives it
    /// (and `get_rendezvous_id` afterwards). Share the id with the players (a lobby, a chat).
    ///
    /// The server works at once, for clients that know its address; the registration and each
    /// joiner's hole punching run on the server's own UDP socket. `local_port` `0` (the default)
    /// binds any free port. The server keeps its NAT mapping alive and answers each joiner's punch
    /// packets; a joiner behind a NAT that cannot be punched comes through the rendezvous server's
    /// relay instead (see `get_peer_path`).
    ///
    /// The rendezvous server is rust_enet's (`./build.sh rendezvous`) or any noray server (netfox
    /// users' `foxssake/noray`), whose clients are compatible both ways. If the registration fails,
    /// `rendezvous_failed` says why, and the server goes on serving the clients that reach it
    /// otherwise.
    ///
    /// Returns the errors of `create_server`; `ERR_INVALID_PARAMETER` for an empty address or a
    /// port out of range.
    #[func]
    // create_server's five parameters, in its order, after the rendezvous server's two: a
    // GDScript call cannot name its arguments, so they cannot become one struct.
    #[allow(clippy::too_many_arguments)]
    pub fn create_server_rendezvous(
        &mut self,
        server_address: GString,
        #[opt(default = 8890)] server_port: i64,
        #[opt(default = 32)] max_clients: i64,
        #[opt(default = 0)] max_channels: i64,
        #[opt(default = 0)] in_bandwidth: i64,
        #[opt(default = 0)] out_bandwidth: i64,
        #[opt(default = 0)] local_port: i64,
    ) -> Error {
        const METHOD: &str = "RustENetPeer.create_server_rendezvous";
        let Some(server_port) = rendezvous_port(METHOD, &server_address, server_port) else {
            return Error::ERR_INVALID_PARAMETER;
        };
        let err = self.create_server(
            local_port,
            max_clients,
            max_channels,
            in_bandwidth,
            out_bandwidth,
        );
        if err != Error::OK {
            return err;
        }
        let config = self.traversal_config();
        let Some(session) = &mut self.session else {
            return Error::ERR_CANT_CREATE;
        };
        let Some(host) = session.main_host().cloned() else {
            return Error::ERR_CANT_CREATE;
        };
        let rendezvous = match host.lock().as_mut() {
            Some(udp) => Rendezvous::host(
                &server_address.to_string(),
                server_port,
                config,
                udp,
                Instant::now(),
            ),
            None => return Error::ERR_CANT_CREATE,
        };
        session.host_through(rendezvous);
        Error::OK
    }

    /// Creates a client that joins the server registered as `host_id` with the rendezvous server at
    /// `server_address` and `server_port`: the counterpart of `create_server_rendezvous`. It
    /// registers its own socket with the rendezvous server, punches toward the host's addresses
    /// (its LAN address first, when both are in one network, then its public one), and runs the
    /// ENet handshake over the first path that answers; when none answers within 1.5 seconds, it
    /// goes through the rendezvous server's relay (unless `rendezvous_relay` is `false`).
    ///
    /// Connecting happens in the background, as with `create_client`: the status is
    /// `MultiplayerPeer.CONNECTION_CONNECTING`, then `MultiplayerAPI.connected_to_server`, or
    /// `MultiplayerAPI.connection_failed`. When the rendezvous part fails, `rendezvous_failed`
    /// comes first, with the reason (`get_disconnect_reason` of `1` has it too):
    /// `server_unreachable`, `unknown_id`, `all_paths_failed`, `unauthorized`, `refused`.
    ///
    /// Returns `OK`; `ERR_ALREADY_IN_USE` if this peer is already active; `ERR_INVALID_PARAMETER`
    /// for an empty id or address, or a port or channel count out of range; `ERR_CANT_CREATE` if
    /// the socket cannot be created.
    #[func]
    pub fn create_client_rendezvous(
        &mut self,
        host_id: GString,
        server_address: GString,
        #[opt(default = 8890)] server_port: i64,
        #[opt(default = 0)] channel_count: i64,
        #[opt(default = 0)] in_bandwidth: i64,
        #[opt(default = 0)] out_bandwidth: i64,
    ) -> Error {
        const METHOD: &str = "RustENetPeer.create_client_rendezvous";
        if self.already_active(METHOD) {
            return Error::ERR_ALREADY_IN_USE;
        }
        let Some(id) = rendezvous_host_id(METHOD, &host_id) else {
            return Error::ERR_INVALID_PARAMETER;
        };
        let Some(server_port) = rendezvous_port(METHOD, &server_address, server_port) else {
            return Error::ERR_INVALID_PARAMETER;
        };
        if !(0..=crate::connection::MAXIMUM_CHANNELS - i64::from(SYSCH_MAX))
            .contains(&channel_count)
        {
            godot_error!(
                "{METHOD}: the channel count must be between 0 and 253, not {channel_count}"
            );
            return Error::ERR_INVALID_PARAMETER;
        }
        self.refuse_new_connections = false;
        let mut host = RustENetConnection::new_gd();
        let err =
            host.bind_mut()
                .create(BindAddress::Wildcard, 0, 1, 0, in_bandwidth, out_bandwidth);
        if err != Error::OK {
            return err;
        }
        self.configure_host(&mut host);
        let Some(shared) = host.bind().session_host() else {
            return Error::ERR_CANT_CREATE;
        };
        // As `create_client` asks: the user channels and Godot's system ones, or all 255.
        let channels = if channel_count > 0 {
            (channel_count + i64::from(SYSCH_MAX)) as usize
        } else {
            crate::connection::MAXIMUM_CHANNELS as usize
        };
        let config = self.traversal_config();
        let unique_id = generate_unique_id();
        let rendezvous = {
            let mut guard = shared.lock();
            let Some(udp) = guard.as_mut() else {
                return Error::ERR_CANT_CREATE;
            };
            Rendezvous::join(
                &id,
                &server_address.to_string(),
                server_port,
                config,
                udp,
                Instant::now(),
                channels,
                unique_id as u32,
            )
        };
        let session = Session::client_via_rendezvous(shared, rendezvous, unique_id);
        self.start_session(session, Some(host));
        Error::OK
    }

    /// The id this server registered with its rendezvous server (`create_server_rendezvous`), the
    /// one players join with; empty before `rendezvous_registered` and when the peer is not a
    /// server hosting through a rendezvous server.
    #[func]
    pub fn get_rendezvous_id(&self) -> GString {
        self.session
            .as_ref()
            .and_then(Session::rendezvous_id)
            .map(GString::from)
            .unwrap_or_default()
    }

    /// How the remote peer `id` is reached when this peer went through a rendezvous server:
    /// `"direct"` (straight to its address, public or in the same network) or `"relay"` (through
    /// the rendezvous server's relay); `""` for a peer reached otherwise, or unknown.
    #[func]
    pub fn get_peer_path(&self, id: i32) -> GString {
        self.session
            .as_ref()
            .and_then(|session| session.path_of(id))
            .map(|path| GString::from(path.kind()))
            .unwrap_or_default()
    }
}

impl RustENetPeer {
    /// The traversal's settings from this peer's properties.
    fn traversal_config(&self) -> TraversalConfig {
        let token = self.rendezvous_token.to_string();
        TraversalConfig {
            token: (!token.is_empty()).then_some(token),
            allow_relay: self.rendezvous_relay,
            ..TraversalConfig::default()
        }
    }

    /// `rendezvous_failed(reason, message)`, with a warning in the log.
    pub(super) fn report_rendezvous_failure(&mut self, failure: &Failure) {
        tracing::warn!(
            "rendezvous failed ({}): {}",
            failure.name(),
            failure.message()
        );
        self.base_mut().emit_signal(
            "rendezvous_failed",
            &[
                GString::from(failure.name()).to_variant(),
                GString::from(failure.message()).to_variant(),
            ],
        );
    }
}
