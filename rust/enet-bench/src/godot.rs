//! Scenario 6 (Godot level) rows for the table, read from the results of
//! `godot-project/bench/bench_rpc.tscn` (`./build.sh bench` runs it before this binary).
//!
//! The file holds one JSON object per line, each one run of the scene with
//! `"peer": "rust"` (RustENetPeer) or `"peer": "builtin"` (Godot's ENetMultiplayerPeer, i.e. C
//! ENet inside Godot, shown in the C ENet column). The table shows the median of each metric
//! over the runs of each peer. The objects are flat (numbers and the peer name), so a small
//! scanner reads them; nothing else of JSON is needed here.

use std::io;
use std::path::Path;

use crate::report::{Row, Target};

/// The rows of scenario 6 from the JSON lines in `path`.
pub fn rows(path: &Path) -> io::Result<Vec<Row>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    let runs: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with('{'))
        .collect();
    let of = |peer: &str| -> Vec<&str> {
        runs.iter()
            .copied()
            .filter(|l| text_field(l, "peer").as_deref() == Some(peer))
            .collect()
    };
    let (rust, builtin) = (of("rust"), of("builtin"));
    if rust.is_empty() && builtin.is_empty() {
        return Err(io::Error::other(format!(
            "{}: no results of bench_rpc.tscn",
            path.display()
        )));
    }
    let clients = runs
        .iter()
        .find_map(|l| number_field(l, "clients"))
        .unwrap_or(0.0);
    let scenario = format!("6 Godot, {clients} clients");
    let metric = |key: &str| [median(&rust, key), median(&builtin, key)];
    let note = format!(
        "C ENet column of scenario 6: Godot's built-in ENetMultiplayerPeer; one process, \
         server + clients, medians of {} rust / {} built-in runs (godot-project/bench/bench_rpc.gd)",
        rust.len(),
        builtin.len()
    );
    Ok(METRICS
        .iter()
        .enumerate()
        .map(|(i, &(name, key, target, digits))| {
            let row = Row::new(&scenario, name, metric(key), target).precision(digits);
            if i == 0 { row.note(&note) } else { row }
        })
        .collect())
}

/// Table rows: metric name, JSON key, target on the ratio, decimals.
const METRICS: [(&str, &str, Target, usize); 16] = [
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
        "server poll+sends/frame mean, us",
        "server_us_mean",
        Target::None,
        0,
    ),
    (
        "server poll+sends/frame p99, us",
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
            "{\"peer\":\"rust\",\"clients\":32,\"rpcs_per_s\":300.0}\n\
             {\"peer\": \"builtin\", \"clients\": 32, \"rpcs_per_s\": 100}\n\
             {\"peer\":\"rust\",\"clients\":32,\"rpcs_per_s\":100.0}\n\
             {\"peer\":\"builtin\",\"clients\":32,\"rpcs_per_s\":1.5e2}\n",
        )
        .unwrap();
        let rows = rows(&file).unwrap();
        let mut report = crate::report::Report::default();
        for row in rows {
            report.push(row);
        }
        let table = report.table();
        assert!(table.contains("6 Godot, 32 clients"), "{table}");
        // rust median 200, built-in median 125.
        assert!(table.contains("1.600x"), "{table}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
