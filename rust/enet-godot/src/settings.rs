//! The addon's project settings, under `network/rust_enet/` (Project Settings, with Advanced
//! Settings on): the bad-network simulation every `RustENetPeer` a game creates gets, the
//! diagnostics' log level and whether peers use a service thread.
//!
//! Registered when the extension loads (`register`), read when a peer creates its hosts
//! (`project_simulation`).

use godot::classes::{Os, ProjectSettings};
use godot::prelude::*;
use godot::register::info::PropertyHint;
use rust_enet_net::LinkDirection;

use crate::diagnostics;
use crate::simulation::{self, Simulation};

const PREFIX: &str = "network/rust_enet/simulation/";

/// A setting: its key under `PREFIX`, default, and editor hint.
struct Setting {
    key: &'static str,
    default: Value,
    hint: PropertyHint,
    hint_string: &'static str,
}

/// A setting's default value, of the setting's type.
#[derive(Clone, Copy)]
enum Value {
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(&'static str),
}

impl Value {
    fn to_variant(self) -> Variant {
        match self {
            Value::Bool(value) => value.to_variant(),
            Value::Int(value) => value.to_variant(),
            Value::Float(value) => value.to_variant(),
            Value::Text(value) => value.to_variant(),
        }
    }
}

impl Setting {
    /// A checkbox.
    const fn flag(key: &'static str, default: bool) -> Setting {
        Setting {
            key,
            default: Value::Bool(default),
            hint: PropertyHint::NONE,
            hint_string: "",
        }
    }

    /// A drop-down of the comma-separated `choices`.
    const fn choice(key: &'static str, default: Value, choices: &'static str) -> Setting {
        Setting {
            key,
            default,
            hint: PropertyHint::ENUM,
            hint_string: choices,
        }
    }

    /// A number in `range` (Godot's range hint: minimum, maximum, step, options).
    const fn number(key: &'static str, default: Value, range: &'static str) -> Setting {
        Setting {
            key,
            default,
            hint: PropertyHint::RANGE,
            hint_string: range,
        }
    }
}

const PRESET_HINT: &str = "custom,lan,good_wifi,mobile_4g,bad";
const MILLISECONDS: &str = "0,5000,1,suffix:ms";
const PERCENT: &str = "0,100,0.1,suffix:%";
const BYTES_PER_SECOND: &str = "0,100000000,1,or_greater,suffix:B/s";

const SETTINGS: [Setting; 10] = [
    Setting::flag("enabled", false),
    Setting::choice("preset", Value::Text("custom"), PRESET_HINT),
    Setting::choice("direction", Value::Int(0), "Both,Outgoing,Incoming"),
    Setting::number("latency_ms", Value::Int(0), MILLISECONDS),
    Setting::number("jitter_ms", Value::Int(0), MILLISECONDS),
    Setting::number("loss_percent", Value::Float(0.0), PERCENT),
    Setting::number("duplicate_percent", Value::Float(0.0), PERCENT),
    Setting::number("reorder_percent", Value::Float(0.0), PERCENT),
    Setting::number("bandwidth_bytes_per_sec", Value::Int(0), BYTES_PER_SECOND),
    Setting::flag("allow_in_release", false),
];

/// `network/rust_enet/log_level`: which diagnostics reach Godot's output.
const LOG_LEVEL: Setting = Setting::choice("log_level", Value::Int(2), diagnostics::LEVELS);

/// `network/rust_enet/use_service_thread`: the default of `RustENetPeer.use_service_thread`.
const USE_SERVICE_THREAD: Setting = Setting::flag("use_service_thread", true);

/// Adds the settings (with their defaults and hints) if the project does not have them.
pub(crate) fn register() {
    let mut project = ProjectSettings::singleton();
    let all = SETTINGS
        .iter()
        .map(|s| (format!("{PREFIX}{}", s.key), s))
        .chain(
            [&LOG_LEVEL, &USE_SERVICE_THREAD].map(|s| (format!("network/rust_enet/{}", s.key), s)),
        );
    for (name, setting) in all {
        let default = setting.default.to_variant();
        if !project.has_setting(&name) {
            project.set_setting(&name, &default);
        }
        project.set_initial_value(&name, &default);
        let mut info = VarDictionary::new();
        info.set("name", name.as_str());
        info.set("type", default.get_type().ord());
        info.set("hint", setting.hint.ord());
        info.set("hint_string", setting.hint_string);
        project.add_property_info(&info);
    }
}

fn get(project: &Gd<ProjectSettings>, key: &str) -> Variant {
    project.get_setting(&format!("{PREFIX}{key}"))
}

/// A setting's or a script's number, written as an int or a float (scripts write both 10 and
/// 10.0).
pub(crate) fn number(value: &Variant) -> Option<f64> {
    value
        .try_to::<f64>()
        .ok()
        .or_else(|| value.try_to::<i64>().ok().map(|i| i as f64))
}

/// The simulation the project settings ask for in a debug build (`debug_build`) or a release
/// export, or `None` when they ask for none there.
pub(crate) fn project_simulation(debug_build: bool) -> Option<Simulation> {
    let project = ProjectSettings::singleton();
    let flag = |key: &str| get(&project, key).try_to::<bool>().unwrap_or(false);
    if !simulation::project_simulation_applies(
        flag("enabled"),
        flag("allow_in_release"),
        debug_build,
    ) {
        return None;
    }
    let preset = get(&project, "preset")
        .try_to::<GString>()
        .map(|s| s.to_string())
        .unwrap_or_default();
    let conditions = match simulation::preset(&preset) {
        Some(conditions) => conditions,
        None => simulation::conditions_from(|key| number(&get(&project, key))),
    };
    let direction = match number(&get(&project, "direction")).unwrap_or(0.0) as i64 {
        1 => LinkDirection::Outgoing,
        2 => LinkDirection::Incoming,
        _ => LinkDirection::Both,
    };
    let mut sim = Simulation::default();
    sim.set(direction, conditions);
    Some(sim)
}

/// The `network/rust_enet/log_level` setting (an index into `diagnostics::LEVELS`).
pub(crate) fn log_level() -> i64 {
    let value = ProjectSettings::singleton().get_setting("network/rust_enet/log_level");
    value.try_to::<i64>().unwrap_or(2)
}

/// The `network/rust_enet/use_service_thread` setting (on when unset, as before the extension
/// registered it).
pub(crate) fn use_service_thread() -> bool {
    let value = ProjectSettings::singleton().get_setting("network/rust_enet/use_service_thread");
    value.try_to::<bool>().unwrap_or(true)
}

/// Whether Godot runs with `--verbose`.
pub(crate) fn is_verbose() -> bool {
    Os::singleton().is_stdout_verbose()
}

/// Whether this is a debug build (the editor, its Run, a debug export).
pub(crate) fn is_debug_build() -> bool {
    Os::singleton().is_debug_build()
}
