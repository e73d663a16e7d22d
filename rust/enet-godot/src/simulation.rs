//! Bad-network simulation for whole games: the named presets, the conditions scripts and
//! project settings give, and the rule for when project settings apply. Godot-free; the
//! `RustENetPeer` and `RustENetConnection` classes and `settings` feed it.

use std::fmt;

use rust_enet_net::{LinkConditions, LinkDirection};

/// A preset's name, its figures (per direction, for every datagram a host sends or receives)
/// and what it stands for. Documented in `RustENetPeer.set_link_preset`'s class reference.
pub(crate) const PRESETS: [(&str, LinkConditions); 4] = [
    (
        // A wired LAN or loopback with a switch in between.
        "lan",
        LinkConditions {
            latency_ms: 1,
            jitter_ms: 1,
            loss_percent: 0.0,
            duplicate_percent: 0.0,
            reorder_percent: 0.0,
            bandwidth_bytes_per_sec: 0,
        },
    ),
    (
        // Home Wi-Fi to a nearby server: ~40 ms round trip, rare loss.
        "good_wifi",
        LinkConditions {
            latency_ms: 15,
            jitter_ms: 10,
            loss_percent: 0.5,
            duplicate_percent: 0.0,
            reorder_percent: 0.0,
            bandwidth_bytes_per_sec: 0,
        },
    ),
    (
        // A phone on 4G: ~120 ms round trip, jittery, some loss, 1 MB/s.
        "mobile_4g",
        LinkConditions {
            latency_ms: 50,
            jitter_ms: 30,
            loss_percent: 2.0,
            duplicate_percent: 0.0,
            reorder_percent: 1.0,
            bandwidth_bytes_per_sec: 1_000_000,
        },
    ),
    (
        // Congested or far away: ~300 ms round trip, heavy loss, 64 KB/s.
        "bad",
        LinkConditions {
            latency_ms: 125,
            jitter_ms: 50,
            loss_percent: 8.0,
            duplicate_percent: 1.0,
            reorder_percent: 3.0,
            bandwidth_bytes_per_sec: 64_000,
        },
    ),
];

/// The preset called `name` (case-insensitive; "off" is a perfect link).
pub(crate) fn preset(name: &str) -> Option<LinkConditions> {
    let name = name.trim().to_ascii_lowercase();
    if name == "off" {
        return Some(LinkConditions::PERFECT);
    }
    PRESETS
        .iter()
        .find(|(preset, _)| *preset == name)
        .map(|(_, conditions)| *conditions)
}

/// The preset names, for messages and the project setting's hint.
pub(crate) fn preset_names() -> String {
    PRESETS
        .iter()
        .map(|(name, _)| *name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Conditions from named numbers (`latency_ms`, `jitter_ms`, `loss_percent`,
/// `duplicate_percent`, `reorder_percent`, `bandwidth_bytes_per_sec`); `number` gives a key's
/// value or `None`. Missing keys are 0, negatives 0, percentages at most 100.
pub(crate) fn conditions_from(mut number: impl FnMut(&str) -> Option<f64>) -> LinkConditions {
    let mut get = |key: &str| {
        number(key)
            .filter(|v| v.is_finite())
            .unwrap_or(0.0)
            .max(0.0)
    };
    let whole = |v: f64| v.min(f64::from(u32::MAX)) as u32;
    LinkConditions {
        latency_ms: whole(get("latency_ms")),
        jitter_ms: whole(get("jitter_ms")),
        loss_percent: get("loss_percent").min(100.0) as f32,
        duplicate_percent: get("duplicate_percent").min(100.0) as f32,
        reorder_percent: get("reorder_percent").min(100.0) as f32,
        bandwidth_bytes_per_sec: whole(get("bandwidth_bytes_per_sec")),
    }
}

/// The conditions as the named numbers `conditions_from` reads.
pub(crate) fn condition_fields(c: &LinkConditions) -> [(&'static str, f64); 6] {
    [
        ("latency_ms", f64::from(c.latency_ms)),
        ("jitter_ms", f64::from(c.jitter_ms)),
        ("loss_percent", f64::from(c.loss_percent)),
        ("duplicate_percent", f64::from(c.duplicate_percent)),
        ("reorder_percent", f64::from(c.reorder_percent)),
        (
            "bandwidth_bytes_per_sec",
            f64::from(c.bandwidth_bytes_per_sec),
        ),
    ]
}

/// What a `RustENetPeer` simulates on each of its hosts, per direction.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Simulation {
    pub outgoing: LinkConditions,
    pub incoming: LinkConditions,
}

impl Default for Simulation {
    fn default() -> Self {
        Simulation {
            outgoing: LinkConditions::PERFECT,
            incoming: LinkConditions::PERFECT,
        }
    }
}

impl Simulation {
    /// `conditions` on `direction`, the other direction as it was.
    pub(crate) fn set(&mut self, direction: LinkDirection, conditions: LinkConditions) {
        if matches!(direction, LinkDirection::Outgoing | LinkDirection::Both) {
            self.outgoing = conditions;
        }
        if matches!(direction, LinkDirection::Incoming | LinkDirection::Both) {
            self.incoming = conditions;
        }
    }

    pub(crate) fn is_active(&self) -> bool {
        !(self.outgoing.is_perfect() && self.incoming.is_perfect())
    }
}

impl fmt::Display for Simulation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let side = |f: &mut fmt::Formatter<'_>, what: &str, c: &LinkConditions| {
            if c.is_perfect() {
                return write!(f, "{what}: perfect");
            }
            write!(
                f,
                "{what}: {} ms + up to {} ms jitter, {}% loss, {}% duplicated, {}% reordered",
                c.latency_ms, c.jitter_ms, c.loss_percent, c.duplicate_percent, c.reorder_percent
            )?;
            if c.bandwidth_bytes_per_sec > 0 {
                write!(f, ", {} bytes/s", c.bandwidth_bytes_per_sec)?;
            }
            Ok(())
        };
        side(f, "sent", &self.outgoing)?;
        f.write_str("; ")?;
        side(f, "received", &self.incoming)
    }
}

/// Whether the project's simulation settings apply to this run: when enabled, in debug builds
/// (the editor's Run, debug exports) and in release exports only where allowed.
pub(crate) fn project_simulation_applies(
    enabled: bool,
    allow_in_release: bool,
    debug_build: bool,
) -> bool {
    enabled && (debug_build || allow_in_release)
}

#[cfg(test)]
mod tests {
    use super::{
        LinkConditions, LinkDirection, PRESETS, Simulation, condition_fields, conditions_from,
        preset, preset_names, project_simulation_applies,
    };

    #[test]
    fn presets_are_found_by_name_and_grow_worse() {
        assert_eq!(preset("off"), Some(LinkConditions::PERFECT));
        assert_eq!(preset(" Mobile_4G "), Some(PRESETS[2].1));
        assert_eq!(preset("dial-up"), None);
        let rtt: Vec<u32> = PRESETS.iter().map(|(_, c)| 2 * c.latency_ms).collect();
        assert!(rtt.windows(2).all(|w| w[0] < w[1]), "{rtt:?}");
        assert!(PRESETS.iter().all(|(_, c)| !c.is_perfect()));
        assert_eq!(preset_names(), "lan, good_wifi, mobile_4g, bad");
    }

    #[test]
    fn conditions_are_read_clamped_and_written_back() {
        let given = |key: &str| match key {
            "latency_ms" => Some(100.0),
            "loss_percent" => Some(250.0),
            "jitter_ms" => Some(-5.0),
            "bandwidth_bytes_per_sec" => Some(f64::NAN),
            _ => None,
        };
        let c = conditions_from(given);
        assert_eq!(c.latency_ms, 100);
        assert_eq!(c.loss_percent, 100.0);
        assert_eq!(c.jitter_ms, 0);
        assert_eq!(c.bandwidth_bytes_per_sec, 0);
        let bad = PRESETS[3].1;
        let fields = condition_fields(&bad);
        let again = conditions_from(|key| fields.iter().find(|(k, _)| *k == key).map(|(_, v)| *v));
        assert_eq!(again, bad);
    }

    #[test]
    fn one_direction_keeps_the_other() {
        let mut sim = Simulation::default();
        assert!(!sim.is_active());
        sim.set(LinkDirection::Both, PRESETS[1].1);
        sim.set(LinkDirection::Incoming, LinkConditions::PERFECT);
        assert_eq!(sim.outgoing, PRESETS[1].1);
        assert!(sim.incoming.is_perfect());
        assert!(sim.is_active());
        let line = sim.to_string();
        assert!(
            line.starts_with("sent: 15 ms + up to 10 ms jitter, 0.5% loss"),
            "{line}"
        );
        assert!(line.ends_with("received: perfect"), "{line}");
    }

    #[test]
    fn project_settings_apply_in_debug_builds_and_in_release_only_when_allowed() {
        assert!(project_simulation_applies(true, false, true));
        assert!(!project_simulation_applies(true, false, false));
        assert!(project_simulation_applies(true, true, false));
        assert!(!project_simulation_applies(false, true, true));
    }
}
