//! The link simulator on a `RustENetConnection` (not in `ENetConnection`): conditions,
//! statistics and the seed.

// gdext's `#[godot_api]` expands to public helper types without `Debug` implementations.
#![allow(missing_debug_implementations)]

use godot::prelude::*;
use rust_enet_net::{LinkConditions, LinkDirection};

use super::RustENetConnection;
use crate::{settings, simulation};

#[godot_api(secondary)]
impl RustENetConnection {
    /// Simulates a bad network on this host's traffic, for testing a game (this method is not in
    /// `ENetConnection`). `conditions` may hold the keys `latency_ms`, `jitter_ms`, `loss_percent`,
    /// `duplicate_percent`, `reorder_percent` and `bandwidth_bytes_per_sec`; missing keys are `0`,
    /// and an empty dictionary restores a perfect link. `direction` is one of the `LINK_*`
    /// constants.
    ///
    /// ```gdscript
    /// multiplayer.multiplayer_peer.host.set_link_simulation({"latency_ms": 80, "jitter_ms": 10, "loss_percent": 2})
    /// ```
    #[func]
    pub fn set_link_simulation(
        &mut self,
        conditions: VarDictionary,
        #[opt(default = 0)] direction: i32,
    ) {
        let Some(direction) = link_direction("RustENetConnection.set_link_simulation", direction)
        else {
            return;
        };
        let link = conditions_of(&conditions);
        if self
            .with_host(|udp| udp.set_link_conditions(direction, link))
            .is_none()
        {
            godot_error!("RustENetConnection.set_link_simulation: the host is not active");
        }
    }

    /// Returns what `set_link_simulation` did to this host's traffic in `direction` (one of the
    /// `LINK_*` constants; `LINK_BOTH` adds the two directions up), counted since the host was
    /// created (this method is not in `ENetConnection`). The keys: `datagrams_submitted` and
    /// `bytes_submitted` (what entered the simulated link), `datagrams_delivered` and
    /// `bytes_delivered` (what left it: copies included, the lost ones not; for outgoing datagrams
    /// these are the bytes on the wire), `lost` (`loss_percent`), `queue_dropped` (over
    /// `bandwidth_bytes_per_sec`), `duplicated` and `reordered`. A direction with a perfect link
    /// and nothing held back is not simulated and counts nothing. An empty dictionary (and an
    /// error) when the host is not active.
    ///
    /// ```gdscript
    /// var link: Dictionary = multiplayer.multiplayer_peer.host.get_link_statistics(RustENetConnection.LINK_OUTGOING)
    /// print("lost %d of %d datagrams" % [link.lost, link.datagrams_submitted])
    /// ```
    #[func]
    pub fn get_link_statistics(&mut self, #[opt(default = 0)] direction: i32) -> VarDictionary {
        let mut out = VarDictionary::new();
        let Some(direction) = link_direction("RustENetConnection.get_link_statistics", direction)
        else {
            return out;
        };
        let Some(stats) = self.with_host(|udp| udp.link_statistics(direction)) else {
            godot_error!("RustENetConnection.get_link_statistics: the host is not active");
            return out;
        };
        for (key, value) in rust_enet_session::stats::link_entries(&stats) {
            out.set(key, i64::try_from(value).unwrap_or(i64::MAX));
        }
        out
    }

    /// Seeds the random numbers of `set_link_simulation`, so a simulated run can be repeated
    /// exactly.
    #[func]
    pub fn set_link_seed(&mut self, seed: i64) {
        self.with_host(|udp| udp.set_link_seed(seed as u64));
    }
}

/// A `LINK_*` constant as a direction; `None` (with an error printed for `method`) for another
/// number.
pub(crate) fn link_direction(method: &str, direction: i32) -> Option<LinkDirection> {
    match direction {
        RustENetConnection::LINK_BOTH => Some(LinkDirection::Both),
        RustENetConnection::LINK_OUTGOING => Some(LinkDirection::Outgoing),
        RustENetConnection::LINK_INCOMING => Some(LinkDirection::Incoming),
        _ => {
            godot_error!("{method}: unknown direction {direction}");
            None
        }
    }
}

/// Link conditions from a script's dictionary (see `set_link_simulation`).
pub(crate) fn conditions_of(conditions: &VarDictionary) -> LinkConditions {
    simulation::conditions_from(|key| conditions.get(key).as_ref().and_then(settings::number))
}
