//! The host objects a `RustENetPeer` keeps beside its session: setting them up, finding them,
//! and tearing them down with the session.

use godot::prelude::*;
use rust_enet_net::ServiceConfig;
use rust_enet_proto::PeerId;
use rust_enet_session::{HostKey, Session};

use super::RustENetPeer;
use super::sending::report_flush_errors;
use super::simulation::apply_simulation;
use crate::connection::RustENetConnection;
use crate::monitors;
use crate::packet_peer::RustENetPacketPeer;
use crate::settings;
use crate::simulation::Simulation;
use rust_enet_session::stats::RateMeter;

impl RustENetPeer {
    pub(super) fn is_active(&self) -> bool {
        self.session.is_some()
    }

    /// Whether this peer is already a server, client or mesh, which `method` (a `create_*`) then
    /// refuses with an error.
    pub(super) fn already_active(&self, method: &str) -> bool {
        let active = self.is_active();
        if active {
            godot_error!(
                "{method}: the multiplayer instance is already active; call close() first"
            );
        }
        active
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
    pub(super) fn packet_peer_in(
        &self,
        key: HostKey,
        slot: PeerId,
    ) -> Option<Gd<RustENetPacketPeer>> {
        self.host_object(key)
            .map(|mut host| host.bind_mut().packet_peer_of(slot))
    }

    /// The service threads the session's hosts get (`use_service_thread`).
    pub(super) fn service_threads(&self) -> Option<ServiceConfig> {
        self.use_service_thread.then(ServiceConfig::default)
    }

    /// A new session of this peer on `host` (or of mesh hosts added later): it gets this peer's
    /// flush policy and service threads.
    pub(super) fn start_session(
        &mut self,
        mut session: Session,
        host: Option<Gd<RustENetConnection>>,
    ) {
        session.set_immediate(self.immediate_flush);
        for error in session.set_service_threads(self.service_threads()) {
            // The hosts are then serviced by `poll` alone, as without the thread.
            godot_error!("RustENetPeer: no service thread: {error}");
        }
        self.session = Some(session);
        self.main_host = host;
    }

    /// Gives a host this peer creates or adds its compression and simulation.
    pub(super) fn configure_host(&mut self, host: &mut Gd<RustENetConnection>) {
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

    /// `close()`: drops every connection at once (an unreliable DISCONNECT each), closes the
    /// sockets and forgets everything. No signals.
    pub(super) fn close_peer(&mut self) {
        let Some(session) = self.session.take() else {
            return;
        };
        report_flush_errors(session.close());
        self.destroy_hosts();
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
}
