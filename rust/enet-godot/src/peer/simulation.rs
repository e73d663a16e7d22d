//! The link simulator on every host of a `RustENetPeer` (not in `ENetMultiplayerPeer`).

// gdext's `#[godot_api]` expands to public helper types without `Debug` implementations.
#![allow(missing_debug_implementations)]

use godot::global::Error;
use godot::prelude::*;
use rust_enet_net::LinkDirection;

use super::RustENetPeer;
use crate::connection::{RustENetConnection, conditions_of, link_direction};
use crate::settings;
use crate::simulation::{self, Simulation};

#[godot_api(secondary)]
impl RustENetPeer {
    /// Simulates a bad network on every host of this peer (the server's or client's, and every mesh
    /// host), now and for the hosts it creates or adds later, so a whole game can be tested on a
    /// bad network through `SceneMultiplayer`. `conditions` may hold `latency_ms`, `jitter_ms`,
    /// `loss_percent`, `duplicate_percent`, `reorder_percent` and `bandwidth_bytes_per_sec`;
    /// missing keys are `0`, and an empty dictionary restores a perfect link. `direction` is a
    /// `RustENetConnection.LINK_*` constant (both, outgoing or incoming). Without code, the
    /// `network/rust_enet/simulation/` project settings do the same for every peer (see
    /// `project_link_simulation`); a call here takes precedence. A peer prints one line when it
    /// simulates.
    #[func]
    pub fn set_link_simulation(
        &mut self,
        conditions: VarDictionary,
        #[opt(default = 0)] direction: i32,
    ) {
        let Some(direction) = link_direction("RustENetPeer.set_link_simulation", direction) else {
            return;
        };
        let mut sim = self.simulation.unwrap_or_default();
        sim.set(direction, conditions_of(&conditions));
        self.set_simulation(sim);
    }

    /// Simulates a named network in both directions on every host of this peer, as
    /// `set_link_simulation` does. The figures apply to each direction of each host (a round trip
    /// crosses two hosts' links when both simulate):
    ///
    /// - `"lan"`: 1 ms latency + up to 1 ms jitter.
    /// - `"good_wifi"`: 15 ms + up to 10 ms jitter, 0.5% loss.
    /// - `"mobile_4g"`: 50 ms + up to 30 ms jitter, 2% loss, 1% reordered, 1 MB/s.
    /// - `"bad"`: 125 ms + up to 50 ms jitter, 8% loss, 1% duplicated, 3% reordered, 64 KB/s.
    /// - `"off"`: a perfect link.
    ///
    /// Returns `OK`, or `ERR_INVALID_PARAMETER` for another name.
    #[func]
    pub fn set_link_preset(&mut self, name: GString) -> Error {
        let Some(conditions) = simulation::preset(&name.to_string()) else {
            godot_error!(
                "RustENetPeer.set_link_preset: unknown preset {name:?}; use off, {}",
                simulation::preset_names()
            );
            return Error::ERR_INVALID_PARAMETER;
        };
        let mut sim = Simulation::default();
        sim.set(LinkDirection::Both, conditions);
        self.set_simulation(sim);
        Error::OK
    }

    /// Returns what this peer's hosts simulate now, as `{"outgoing": {...}, "incoming": {...}}`,
    /// each with the keys `set_link_simulation` takes: from `set_link_simulation` or
    /// `set_link_preset`, or from the `network/rust_enet/simulation/` project settings. All values
    /// are `0` when nothing is simulated.
    #[func]
    pub fn get_link_simulation(&self) -> VarDictionary {
        simulation_dictionary(&self.active_simulation)
    }

    /// Returns what the `network/rust_enet/simulation/` project settings give every new
    /// `RustENetPeer` in a debug build (the editor, its Run button, debug exports), or with
    /// `release_build` `true` in a release export: in the format of `get_link_simulation`, or an
    /// empty dictionary when they simulate nothing there. Release exports simulate only with
    /// `network/rust_enet/simulation/allow_in_release` on.
    ///
    /// The settings: `enabled`; `preset` (`custom` uses the numbers below; the others as in
    /// `set_link_preset`); `direction` (both, outgoing or incoming); `latency_ms`, `jitter_ms`,
    /// `loss_percent`, `duplicate_percent`, `reorder_percent`, `bandwidth_bytes_per_sec`;
    /// `allow_in_release`. A peer prints one line when it simulates.
    #[func]
    pub fn project_link_simulation(release_build: bool) -> VarDictionary {
        settings::project_simulation(!release_build)
            .map(|sim| simulation_dictionary(&sim))
            .unwrap_or_default()
    }
}

impl RustENetPeer {
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
}

/// Puts `sim` on both directions of `host`'s link.
pub(super) fn apply_simulation(host: &mut Gd<RustENetConnection>, sim: &Simulation) {
    if let Some(shared) = host.bind().session_host()
        && let Some(udp) = shared.lock().as_mut()
    {
        udp.set_link_conditions(LinkDirection::Outgoing, sim.outgoing);
        udp.set_link_conditions(LinkDirection::Incoming, sim.incoming);
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
