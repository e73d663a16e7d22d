//! The class's own workings: applying session events (signals, packet peers, the packet
//! buffer), the frame flush, statistics sampling, host set-up and teardown, and the small
//! conversions and reports they share.

use bytes::Bytes;
use godot::classes::multiplayer_peer::TransferMode;
use godot::global::Error;
use godot::prelude::*;
use rust_enet_net::LinkDirection;
use rust_enet_proto::PeerId;

use crate::connection::RustENetConnection;
use crate::monitors;
use crate::packet_peer::RustENetPacketPeer;
use crate::session::{
    HostKey, LeaveReason, Mode, PutError, SendFailure, Session, SessionEvent, Target, Transfer,
    UserChannel,
};
use crate::settings;
use crate::simulation::{self, Simulation};
use crate::stats::RateMeter;

use super::RustENetPeer;

pub(super) fn generate_unique_id() -> i32 {
    use std::hash::{BuildHasher, Hasher};
    loop {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        let id = (hasher.finish() & 0x7FFF_FFFF) as i32;
        if id >= 2 {
            return id;
        }
    }
}

/// Puts `sim` on both directions of `host`'s link.
pub(super) fn apply_simulation(host: &mut Gd<RustENetConnection>, sim: &Simulation) {
    if let Some(shared) = host.bind().shared_host()
        && let Some(udp) = shared.lock().as_mut()
    {
        udp.set_link_conditions(LinkDirection::Outgoing, sim.outgoing);
        udp.set_link_conditions(LinkDirection::Incoming, sim.incoming);
    }
}

/// Starts or stops the service thread of `host` (`use_service_thread`).
pub(super) fn set_service_thread(host: &mut Gd<RustENetConnection>, enabled: bool) {
    let mut host = host.bind_mut();
    if !enabled {
        host.stop_service_thread();
    } else if host.is_created() {
        // An error was printed; the host is then serviced by `poll` alone, as without the thread.
        let _ = host.start_service_thread();
    }
}

pub(super) fn to_transfer(mode: TransferMode) -> Transfer {
    match mode {
        TransferMode::UNRELIABLE => Transfer::Unreliable,
        TransferMode::UNRELIABLE_ORDERED => Transfer::UnreliableOrdered,
        _ => Transfer::Reliable,
    }
}

pub(super) fn to_transfer_mode(transfer: Transfer) -> TransferMode {
    match transfer {
        Transfer::Unreliable => TransferMode::UNRELIABLE,
        Transfer::UnreliableOrdered => TransferMode::UNRELIABLE_ORDERED,
        Transfer::Reliable => TransferMode::RELIABLE,
    }
}

/// A simulation as `get_link_simulation` reports it.
pub(super) fn simulation_dictionary(sim: &Simulation) -> VarDictionary {
    let side = |c| {
        let mut d = VarDictionary::new();
        for (key, value) in simulation::condition_fields(c) {
            d.set(key, value);
        }
        d
    };
    let mut out = VarDictionary::new();
    out.set("outgoing", &side(&sim.outgoing));
    out.set("incoming", &side(&sim.incoming));
    out
}

/// A warning for connections that ended badly: a protocol violation or a failed DTLS session.
pub(super) fn report_leave(
    id: Option<i32>,
    address: Option<std::net::SocketAddr>,
    reason: &LeaveReason,
) {
    if matches!(
        reason,
        LeaveReason::ProtocolViolation(_) | LeaveReason::Dtls(_) | LeaveReason::Socket(_)
    ) {
        let who = id.map_or_else(|| "a connection".to_owned(), |id| format!("peer {id}"));
        let from = address.map_or_else(String::new, |a| format!(" ({a})"));
        tracing::warn!("{who}{from} disconnected: {reason}");
    }
}

pub(super) fn report_flush_errors(errors: Vec<std::io::Error>) {
    for e in errors {
        godot_error!("RustENetConnection.flush: {e}");
    }
}

/// Send failures of `put_packet`, through the rate-limited diagnostics (a game that keeps
/// sending to a peer that is gone would otherwise print a line per packet).
pub(super) fn report_send_failure(failure: SendFailure) {
    match failure {
        SendFailure::Inactive => tracing::warn!("send dropped: the peer is not active"),
        SendFailure::HostDestroyed => tracing::warn!("send dropped: the host was destroyed"),
        SendFailure::Refused { channel, error } => {
            tracing::error!("send dropped: unable to send the packet on channel {channel}: {error}")
        }
        SendFailure::Flush(e) => tracing::error!("flush failed: {e}"),
    }
}

impl RustENetPeer {
    pub(super) fn is_active(&self) -> bool {
        self.session.is_some()
    }

    /// Every host object of this peer: the main host and the mesh hosts.
    pub(super) fn hosts_mut(&mut self) -> impl Iterator<Item = &mut Gd<RustENetConnection>> {
        self.main_host
            .iter_mut()
            .chain(self.mesh_hosts.values_mut())
    }

    /// The host object behind `key`.
    pub(super) fn host_object(&self, key: HostKey) -> Option<Gd<RustENetConnection>> {
        match key {
            HostKey::Main => self.main_host.clone(),
            HostKey::Mesh(id) => self.mesh_hosts.get(&id).cloned(),
        }
    }

    /// The packet peer of `slot` on host `key` (the one its host object hands out).
    pub(super) fn packet_peer(&self, key: HostKey, slot: PeerId) -> Option<Gd<RustENetPacketPeer>> {
        self.host_object(key)
            .map(|mut host| host.bind_mut().wrapper(slot))
    }

    /// Gives a host this peer creates or adds its compression and simulation.
    pub(super) fn configure_host(&mut self, host: &mut Gd<RustENetConnection>) {
        set_service_thread(host, self.use_service_thread);
        if self.compression_mode != 0 {
            host.bind_mut().compress(i64::from(self.compression_mode));
        }
        let (sim, source) = match self.simulation {
            Some(sim) => (Some(sim), "set_link_simulation"),
            None => (
                settings::project_simulation(settings::is_debug_build()),
                "Project Settings > network/rust_enet/simulation",
            ),
        };
        let Some(sim) = sim.filter(Simulation::is_active) else {
            return;
        };
        apply_simulation(host, &sim);
        self.active_simulation = sim;
        godot_print!("RustENetPeer: simulating a bad network ({sim}), from {source}");
    }

    /// Applies `sim` to every host now and remembers it for later ones.
    pub(super) fn set_simulation(&mut self, sim: Simulation) {
        self.simulation = Some(sim);
        self.active_simulation = sim;
        let hosts = self.hosts_mut();
        let mut any = false;
        for host in hosts {
            apply_simulation(host, &sim);
            any = true;
        }
        if any && sim.is_active() {
            godot_print!(
                "RustENetPeer: simulating a bad network ({sim}), from set_link_simulation"
            );
        }
    }

    /// Once a second (from `poll`): the rates, a warning for malformed datagrams, the monitors.
    pub(super) fn measure(&mut self) {
        let now = std::time::Instant::now();
        let Some(session) = &mut self.session else {
            return;
        };
        if !self.meter.due(now) {
            return;
        }
        let totals = session.totals();
        if let Some(before) = self.meter.sample(now, totals) {
            let dropped = totals
                .dropped_malformed
                .saturating_sub(before.dropped_malformed);
            if dropped > 0 {
                tracing::warn!("{dropped} datagrams dropped as malformed in the last second");
            }
        }
        let snapshot = monitors::Snapshot {
            rates: self.meter.rates(),
            ..session.link_snapshot()
        };
        let key = match self.monitor_key {
            Some(key) => key,
            None => *self.monitor_key.insert(self.base().instance_id().to_i64()),
        };
        monitors::update(key, snapshot);
    }

    /// Destroys the host objects of a closed session.
    pub(super) fn destroy_hosts(&mut self) {
        let hosts = self
            .main_host
            .take()
            .into_iter()
            .chain(self.mesh_hosts.drain().map(|(_, h)| h));
        for mut host in hosts {
            let mut host = host.bind_mut();
            if host.is_created() {
                host.destroy();
            }
        }
        self.current = None;
        self.refuse_new_connections = false;
        self.active_simulation = Simulation::default();
        self.meter = RateMeter::default();
        if let Some(key) = self.monitor_key.take() {
            monitors::remove(key);
        }
    }

    /// Makes sure a deferred `_flush_queued_sends` runs at the end of this frame.
    pub(super) fn schedule_flush(&mut self) {
        if self.flush_callable.is_none() {
            self.flush_callable = Some(Callable::from_object_method(
                &self.to_gd(),
                "_flush_queued_sends",
            ));
        }
        if let Some(flush) = &self.flush_callable {
            flush.call_deferred(&[]);
        }
    }

    /// Emits a signal through `base_mut()`, so the handlers (SceneMultiplayer) may call back
    /// into this peer.
    pub(super) fn emit(&mut self, signal: &str, id: i32) {
        self.base_mut()
            .emit_signal(signal, &[i64::from(id).to_variant()]);
    }

    /// Mirrors one session event on the Godot objects and in signals. Returns false when the
    /// session ended.
    pub(super) fn apply(&mut self, event: SessionEvent) -> bool {
        match event {
            SessionEvent::Connected { id, host, slot } => {
                if let Some(mut peer) = self.packet_peer(host, slot)
                    && matches!(
                        self.session.as_ref().map(Session::mode),
                        Some(Mode::Server(_))
                    )
                {
                    peer.set_meta("_net_id", &id.to_variant());
                }
                self.emit("peer_connected", id);
            }
            SessionEvent::Disconnected {
                id,
                host,
                slot,
                reason,
                address,
            } => {
                let client = matches!(
                    self.session.as_ref().map(Session::mode),
                    Some(Mode::Client(_))
                );
                report_leave(id, address, &reason);
                if let Some(mut object) = self.host_object(host) {
                    object.bind_mut().release_wrapper(slot, reason.clone());
                }
                // A client keeps why it never connected too (for `connection_failed`).
                if let Some(key) = id.or(client.then_some(1)) {
                    self.last_reasons.insert(key, reason);
                }
                if let HostKey::Mesh(key) = host
                    && id == Some(key)
                {
                    self.mesh_hosts.remove(&key);
                }
                if let Some(id) = id {
                    self.emit("peer_disconnected", id);
                }
            }
            SessionEvent::Ended(failure) => {
                if let Some(failure) = failure {
                    tracing::error!("{failure}");
                    if matches!(
                        self.session.as_ref().map(Session::mode),
                        Some(Mode::Client(_))
                    ) {
                        self.last_reasons.insert(1, failure.reason());
                    }
                }
                self.close_peer();
                return false;
            }
        }
        true
    }

    /// `close()`: drops every connection at once (an unreliable DISCONNECT each), closes the
    /// sockets and forgets everything. No signals.
    pub(super) fn close_peer(&mut self) {
        let Some(session) = self.session.take() else {
            return;
        };
        report_flush_errors(session.close());
        self.destroy_hosts();
    }

    pub(super) fn put_packet_bytes(&mut self, data: Bytes) -> Error {
        let Some(session) = &mut self.session else {
            godot_error!(
                "RustENetPeer.put_packet: the multiplayer instance isn't currently active"
            );
            return Error::ERR_UNCONFIGURED;
        };
        session.frame.immediate = self.immediate_flush;
        let target = self.target_peer;
        // Like Godot, send failures (e.g. a channel the connection lacks) are reported but do
        // not change the result.
        let result = session.put(
            Target::from_target_peer(target),
            to_transfer(self.transfer_mode),
            UserChannel(self.transfer_channel),
            data,
            &mut report_send_failure,
        );
        match result {
            Ok(()) => {}
            Err(PutError::NotConnected) => {
                godot_error!(
                    "RustENetPeer.put_packet: the multiplayer instance isn't currently connected to any server or client"
                );
                return Error::ERR_UNCONFIGURED;
            }
            Err(PutError::InvalidTarget) => {
                godot_error!("RustENetPeer.put_packet: invalid target peer {target}");
                return Error::ERR_INVALID_PARAMETER;
            }
            Err(PutError::NoServerPeer) => {
                godot_error!("RustENetPeer.put_packet: the client has no server peer");
                return Error::ERR_BUG;
            }
            Err(PutError::ChannelOutOfRange) => {
                // Godot's peer returns OK here too (it truncates the ENet channel to 8 bits and
                // sends on the wrong channel); the packet is dropped instead, with the error.
                godot_error!(
                    "RustENetPeer.put_packet: transfer channel {} is out of range (at most 253); packet dropped",
                    self.transfer_channel
                );
                return Error::OK;
            }
        }
        if !self.immediate_flush && session.schedule_frame_flush() {
            self.schedule_flush();
        }
        Error::OK
    }
}
