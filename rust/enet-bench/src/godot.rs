//! Scenario 6 (Godot level), idle and stall rows for the table, read from the results of
//! `godot-project/bench/bench_rpc.tscn`, `bench_idle.tscn` and `bench_stall.tscn`
//! (`./build.sh bench` runs them before this binary).
//!
//! The file holds one JSON object per line, each one run of bench_rpc (`"scenario": "rpc"`) or one
//! server of bench_stall (`"scenario": "stall"`), with `"peer": "rust"` (RustENetPeer) or
//! `"peer": "builtin"` (Godot's ENetMultiplayerPeer, i.e. C ENet inside Godot, shown in the C ENet
//! column), and `"service_thread"`: `"server"` (the server's peer has the thread), `"all"`
//! (every peer has one) or `"off"`. Each RustENetPeer variant gets its rows against the same
//! built-in runs. Runs with `"peer": "memory"` (RustENetMemoryPeer, no network) give the
//! ceiling's row. The table shows the median of each metric over the runs of each kind. The
//! objects are flat (numbers and names), so a small scanner reads them; nothing else of JSON is
//! needed here.

use std::io;
use std::path::Path;

use crate::report::{Row, Target};

/// The rows of scenario 6 and of the stall benchmark from the JSON lines in `path`.
pub fn rows(path: &Path) -> io::Result<Vec<Row>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    let runs: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with('{'))
        .collect();
    let of_scenario = |scenario: &str| -> Vec<&str> {
        runs.iter()
            .copied()
            .filter(|l| text_field(l, "scenario").as_deref().unwrap_or("rpc") == scenario)
            .collect()
    };
    let of = |scenario: &str, peer: &str, thread: &str| -> Vec<&str> {
        of_scenario(scenario)
            .into_iter()
            .filter(|l| text_field(l, "peer").as_deref() == Some(peer))
            .filter(|l| text_field(l, "service_thread").as_deref().unwrap_or("off") == thread)
            .collect()
    };
    if runs.is_empty() {
        return Err(io::Error::other(format!(
            "{}: no results of bench_rpc.tscn or bench_stall.tscn",
            path.display()
        )));
    }
    let builtin = of("rpc", "builtin", "off");
    let clients = of_scenario("rpc")
        .iter()
        .find_map(|l| number_field(l, "clients"))
        .unwrap_or(0.0);
    let mut out = Vec::new();
    for (thread, label) in THREAD_VARIANTS {
        let rust = of("rpc", "rust", thread);
        if rust.is_empty() {
            continue;
        }
        let scenario = format!("6 Godot, {clients} clients, {label}");
        let note = format!(
            "C ENet column of scenario 6: Godot's built-in ENetMultiplayerPeer; one process, \
             server + clients, medians of {} rust ({label}) / {} built-in runs \
             (godot-project/bench/bench_rpc.gd)",
            rust.len(),
            builtin.len()
        );
        if thread != "off" {
            // What the service thread costs the main thread (no built-in column).
            for (name, key) in [
                (
                    "server service thread wakes/s",
                    "service_thread_passes_per_s",
                ),
                (
                    "owner's wait for the host lock p99, us",
                    "owner_lock_wait_us_p99",
                ),
                (
                    "owner's wait for the host lock p999, us",
                    "owner_lock_wait_us_p999",
                ),
            ] {
                let row = Row::new(&scenario, name, [median(&rust, key), None], Target::None);
                out.push(row.precision(1));
            }
        }
        for (i, &(name, key, target, digits)) in METRICS.iter().enumerate() {
            // The goal on the server's share of the main thread is the service thread's.
            let target = if key == "server_net_us_mean" && thread == "off" {
                Target::None
            } else {
                target
            };
            let values = [median(&rust, key), median(&builtin, key)];
            let row = Row::new(&scenario, name, values, target).precision(digits);
            out.push(if i == 0 { row.note(&note) } else { row });
        }
    }
    let memory = of("rpc", "memory", "off");
    if !memory.is_empty() {
        let scenario = format!("6 Godot, {clients} clients, no-network ceiling");
        let values = [
            median(&memory, "rpcs_per_s"),
            median(&builtin, "rpcs_per_s"),
        ];
        let row = Row::new(&scenario, "RPCs delivered/s, all", values, Target::None);
        out.push(row.precision(0).note(&format!(
            "rust_enet column: RustENetMemoryPeer (cargo feature bench-ceiling), a \
             MultiplayerPeer extension with no network at all: the most any peer written with \
             gdext can deliver in this scene; medians of {} runs",
            memory.len()
        )));
    }
    out.extend(idle_rows(&of));
    let stall_builtin = of("stall", "builtin", "off");
    let seconds = of_scenario("stall")
        .iter()
        .find_map(|l| number_field(l, "stall_s"))
        .unwrap_or(0.0);
    for (thread, label) in THREAD_VARIANTS {
        let rust = of("stall", "rust", thread);
        if rust.is_empty() {
            continue;
        }
        let scenario = format!("Godot server stall, {seconds} s");
        let target = if thread == "off" {
            Target::None
        } else {
            Target::ValueAtLeast(100.0)
        };
        let name = format!("connections kept, % ({label})");
        let values = [
            median(&rust, "kept_pct"),
            median(&stall_builtin, "kept_pct"),
        ];
        let row = Row::new(&scenario, &name, values, target).precision(0);
        out.push(if thread == "server" {
            row.note(
                "C ENet column: Godot's built-in server; 8 clients per server (4 built-in, \
                 4 RustENetPeer) in a second process, default timeouts, a reliable RPC each \
                 way every 100 ms; kept = connected, not dropped, every RPC once and in order \
                 (godot-project/bench/bench_stall.gd)",
            )
        } else {
            row
        });
    }
    Ok(out)
}

/// The idle rows: what a connected, silent peer costs a 60 fps game, server and client process
/// (bench_idle.gd), per RustENetPeer variant (`service_thread` "on" or "off") against the
/// built-in peer.
fn idle_rows<'a>(of: &dyn Fn(&str, &str, &str) -> Vec<&'a str>) -> Vec<Row> {
    let mut out = Vec::new();
    for (thread, label) in [("on", "thread on"), ("off", "thread off")] {
        let rust = of("idle", "rust", thread);
        if rust.is_empty() {
            continue;
        }
        let builtin = of("idle", "builtin", "off");
        let scenario = format!("Godot idle connection at 60 fps, {label}");
        for role in ["server", "client"] {
            let by_role = |runs: &[&'a str]| -> Vec<&'a str> {
                runs.iter()
                    .copied()
                    .filter(|l| text_field(l, "role").as_deref() == Some(role))
                    .collect()
            };
            let (rust, builtin) = (by_role(&rust), by_role(&builtin));
            let cpu = [median(&rust, "cpu_pct"), median(&builtin, "cpu_pct")];
            let switches = [
                median(&rust, "switches_per_s"),
                median(&builtin, "switches_per_s"),
            ];
            let cpu_row = Row::new(
                &scenario,
                &format!("{role} process CPU, % of a core"),
                cpu,
                Target::AtMost(1.25),
            )
            .precision(2);
            out.push(if role == "server" {
                cpu_row.note(
                    "C ENet column: Godot's built-in ENetMultiplayerPeer; a server and a client \
                     process, one connection, nothing sent, Engine.max_fps 60, all threads \
                     counted (godot-project/bench/bench_idle.gd)",
                )
            } else {
                cpu_row
            });
            out.push(
                Row::new(
                    &scenario,
                    &format!("{role} process context switches/s"),
                    switches,
                    Target::AboveAtMost(10.0),
                )
                .precision(0),
            );
        }
    }
    out
}

/// RustENetPeer's variants: the `service_thread` value of a run, and its label in the table.
const THREAD_VARIANTS: [(&str, &str); 3] = [
    ("server", "server thread on"),
    ("all", "all threads on"),
    ("off", "thread off"),
];

/// Table rows: metric name, JSON key, target on the ratio, decimals.
const METRICS: [(&str, &str, Target, usize); 22] = [
    (
        "RPCs delivered/s, all",
        "rpcs_per_s",
        Target::AtLeast(2.0),
        0,
    ),
    (
        "reliable RPCs/s, clients->server",
        "rel_per_s",
        Target::None,
        0,
    ),
    (
        "unreliable RPCs/s, clients->server",
        "unrel_per_s",
        Target::None,
        0,
    ),
    (
        "state RPCs/s, server->clients",
        "state_per_s",
        Target::None,
        0,
    ),
    ("frames/s", "fps", Target::None, 0),
    (
        "frame time mean, us",
        "frame_us_mean",
        Target::AtMost(1.0),
        0,
    ),
    ("frame time p99, us", "frame_us_p99", Target::AtMost(1.0), 0),
    (
        "all peers' share of frame mean, us",
        "process_us_mean",
        Target::None,
        0,
    ),
    (
        "all peers' share of frame p99, us",
        "process_us_p99",
        Target::None,
        0,
    ),
    (
        "main thread CPU, % of a core",
        "main_thread_cpu_pct",
        Target::None,
        1,
    ),
    (
        "service threads CPU (all), % of a core",
        "service_threads_cpu_pct",
        Target::None,
        1,
    ),
    (
        "server peer poll + sends/frame mean, us",
        "server_net_us_mean",
        Target::AtMost(0.5),
        0,
    ),
    (
        "server peer poll + sends/frame p99, us",
        "server_net_us_p99",
        Target::None,
        0,
    ),
    (
        "server share of frame (+ RPC handling) mean, us",
        "server_us_mean",
        Target::None,
        0,
    ),
    (
        "server share of frame (+ RPC handling) p99, us",
        "server_us_p99",
        Target::None,
        0,
    ),
    (
        "clients poll+sends/frame mean, us",
        "clients_us_mean",
        Target::None,
        0,
    ),
    (
        "server us per received RPC",
        "server_us_per_rpc",
        Target::None,
        2,
    ),
    (
        "delivered fraction, reliable",
        "rel_fraction",
        Target::None,
        3,
    ),
    (
        "delivered fraction, unreliable",
        "unrel_fraction",
        Target::None,
        3,
    ),
    (
        "delivered fraction, state",
        "state_fraction",
        Target::None,
        3,
    ),
    (
        "server datagrams in/s",
        "server_datagrams_in_per_s",
        Target::None,
        0,
    ),
    (
        "server datagrams out/s",
        "server_datagrams_out_per_s",
        Target::None,
        0,
    ),
];

fn median(runs: &[&str], key: &str) -> Option<f64> {
    let mut values: Vec<f64> = runs.iter().filter_map(|l| number_field(l, key)).collect();
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    Some(if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    })
}

/// The text after `"key":` (and optional spaces) in a flat JSON object.
fn raw_field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let pattern = format!("\"{key}\"");
    let at = line.find(&pattern)? + pattern.len();
    let rest = line[at..].trim_start().strip_prefix(':')?;
    Some(rest.trim_start())
}

fn number_field(line: &str, key: &str) -> Option<f64> {
    let rest = raw_field(line, key)?;
    let end = rest.find([',', '}']).unwrap_or(rest.len());
    rest[..end].trim().parse().ok()
}

fn text_field(line: &str, key: &str) -> Option<String> {
    let rest = raw_field(line, key)?.strip_prefix('"')?;
    Some(rest[..rest.find('"')?].to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_per_peer() {
        let dir = std::env::temp_dir().join(format!("godot-json-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("g.jsonl");
        std::fs::write(
            &file,
            "{\"scenario\":\"stall\",\"peer\":\"rust\",\"service_thread\":\"server\",\"clients\":8,\
              \"stall_s\":20,\"kept_pct\":100.0}\n\
             {\"scenario\":\"rpc\",\"peer\":\"rust\",\"service_thread\":\"server\",\"clients\":32,\
              \"rpcs_per_s\":300.0}\n\
             {\"peer\": \"builtin\", \"clients\": 32, \"rpcs_per_s\": 100}\n\
             {\"peer\":\"rust\",\"service_thread\": \"server\",\"clients\":32,\"rpcs_per_s\":100.0}\n\
             {\"peer\":\"rust\",\"service_thread\":\"off\",\"clients\":32,\"rpcs_per_s\":50}\n\
             {\"peer\":\"builtin\",\"clients\":32,\"rpcs_per_s\":1.5e2}\n\
             {\"peer\":\"memory\",\"service_thread\":\"off\",\"clients\":32,\"rpcs_per_s\":250}\n\
             {\"scenario\":\"stall\",\"peer\":\"builtin\",\"service_thread\":\"off\",\
              \"clients\":8,\"stall_s\":20,\"kept_pct\":0.0}\n",
        )
        .unwrap();
        let rows = rows(&file).unwrap();
        let mut report = crate::report::Report::default();
        for row in rows {
            report.push(row);
        }
        let table = report.table();
        let row = |scenario: &str, metric: &str| -> String {
            table
                .lines()
                .find(|l| l.starts_with(scenario) && l.contains(metric))
                .unwrap_or_else(|| panic!("no row {scenario} / {metric} in\n{table}"))
                .to_owned()
        };
        // Thread on: rust median 200, built-in median 125.
        let on = row("6 Godot, 32 clients, server thread on", "RPCs delivered/s");
        assert!(on.contains("1.600x"), "{on}");
        // Thread off: the one rust run, 50, against the same built-in median.
        let off = row("6 Godot, 32 clients, thread off", "RPCs delivered/s");
        assert!(off.contains("0.400x"), "{off}");
        // The ceiling: the memory peer's one run, 250, against the built-in median.
        let ceiling = row(
            "6 Godot, 32 clients, no-network ceiling",
            "RPCs delivered/s",
        );
        assert!(ceiling.contains("2.000x"), "{ceiling}");
        let kept = row("Godot server stall, 20 s", "(server thread on)");
        assert!(kept.ends_with("yes"), "{kept}");
        // No rust runs with the thread off in the stall file, none with every thread on: no
        // rows for them.
        assert!(!table.contains("% (thread off)"), "{table}");
        assert!(!table.contains("all threads on"), "{table}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
