//! The result table (stdout) and its JSON form.

use std::fmt::Write;

/// What the ratio rust_enet / C ENet must be.
#[derive(Debug, Clone, Copy)]
pub enum Target {
    None,
    AtLeast(f64),
    AtMost(f64),
    /// A goal on rust_enet's own value, not the ratio (e.g. 100% of connections kept where
    /// the reference keeps none, so there is no ratio).
    ValueAtLeast(f64),
    /// rust_enet's value at most this much above the reference's (e.g. context switches per
    /// second, where a ratio of small counts says little).
    AboveAtMost(f64),
}

impl Target {
    fn text(self) -> String {
        match self {
            Target::None => "-".into(),
            Target::AtLeast(x) => format!(">= {x:.1}x"),
            Target::AtMost(x) => format!("<= {x:.1}x"),
            Target::ValueAtLeast(x) => format!("rust_enet >= {x}"),
            Target::AboveAtMost(x) => format!("<= reference + {x}"),
        }
    }

    fn met(self, values: [Option<f64>; 2], ratio: Option<f64>) -> Option<bool> {
        match self {
            Target::None => None,
            Target::AtLeast(x) => Some(ratio? >= x),
            Target::AtMost(x) => Some(ratio? <= x),
            Target::ValueAtLeast(x) => Some(values[0]? >= x),
            Target::AboveAtMost(x) => Some(values[0]? <= values[1]? + x),
        }
    }
}

/// One measured metric: the rust_enet and C ENet values and the target on their ratio.
#[derive(Debug)]
pub struct Row {
    scenario: String,
    metric: String,
    values: [Option<f64>; 2],
    target: Target,
    precision: usize,
    note: Option<String>,
}

impl Row {
    pub fn new(scenario: &str, metric: &str, values: [Option<f64>; 2], target: Target) -> Row {
        Row {
            scenario: scenario.into(),
            metric: metric.into(),
            values: values.map(|v| v.filter(|x| x.is_finite())),
            target,
            precision: 2,
            note: None,
        }
    }

    pub fn precision(mut self, digits: usize) -> Row {
        self.precision = digits;
        self
    }

    pub fn note(mut self, note: &str) -> Row {
        self.note = Some(note.into());
        self
    }

    fn ratio(&self) -> Option<f64> {
        let [Some(rust), Some(c)] = self.values else {
            return None;
        };
        if c == 0.0 {
            return (rust == 0.0).then_some(1.0);
        }
        Some(rust / c)
    }
}

/// All rows of one run.
#[derive(Debug, Default)]
pub struct Report {
    rows: Vec<Row>,
    skipped: Vec<(String, String)>,
    machine: String,
}

impl Report {
    pub fn push(&mut self, row: Row) {
        self.rows.push(row);
    }

    /// Where the numbers were taken (CPUs, kernel, load).
    pub fn machine(&mut self, machine: &str) {
        self.machine = machine.into();
    }

    /// A scenario that was not run, and why.
    pub fn skipped(&mut self, scenario: &str, why: &str) {
        self.skipped.push((scenario.into(), why.into()));
    }

    /// The table: scenario, metric, rust_enet, C ENet, ratio, target, met?
    pub fn table(&self) -> String {
        let header = [
            "scenario",
            "metric",
            "rust_enet",
            "C ENet",
            "ratio",
            "target",
            "met?",
        ];
        let mut cells: Vec<[String; 7]> = vec![header.map(String::from)];
        for row in &self.rows {
            let value =
                |v: Option<f64>| v.map_or("n/a".into(), |x| format!("{x:.*}", row.precision));
            let ratio = row.ratio();
            let met = match row.target.met(row.values, ratio) {
                Some(true) => "yes",
                Some(false) => "NO",
                None if matches!(row.target, Target::None) => "-",
                None => "n/a",
            };
            cells.push([
                row.scenario.clone(),
                row.metric.clone(),
                value(row.values[0]),
                value(row.values[1]),
                ratio.map_or("n/a".into(), |r| format!("{r:.3}x")),
                row.target.text(),
                met.into(),
            ]);
        }
        let widths: Vec<usize> = (0..7)
            .map(|i| {
                cells
                    .iter()
                    .map(|c| c[i].chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = String::new();
        for (n, line) in cells.iter().enumerate() {
            for (i, cell) in line.iter().enumerate() {
                // Text columns left-aligned, numbers right-aligned.
                if i < 2 {
                    let _ = write!(out, "{cell:<w$}  ", w = widths[i]);
                } else {
                    let _ = write!(out, "{cell:>w$}  ", w = widths[i]);
                }
            }
            out.truncate(out.trim_end().len());
            out.push('\n');
            if n == 0 {
                let total = widths.iter().sum::<usize>() + 2 * 6;
                out.push_str(&"-".repeat(total));
                out.push('\n');
            }
        }
        for row in &self.rows {
            if let Some(note) = &row.note {
                let _ = writeln!(out, "note ({}, {}): {note}", row.scenario, row.metric);
            }
        }
        for (scenario, why) in &self.skipped {
            let _ = writeln!(out, "{scenario}: {why}");
        }
        out
    }

    /// The same rows as a JSON array of objects.
    pub fn json(&self) -> String {
        let num = |v: Option<f64>| v.map_or("null".into(), |x| format!("{x}"));
        let mut out = format!(
            "{{\n  \"machine\": {},\n  \"rows\": [\n",
            json_string(&self.machine)
        );
        for (i, row) in self.rows.iter().enumerate() {
            let ratio = row.ratio();
            let met = row
                .target
                .met(row.values, ratio)
                .map_or("null".into(), |m| m.to_string());
            let _ = write!(
                out,
                "    {{\"scenario\": {}, \"metric\": {}, \"rust_enet\": {}, \"c_enet\": {}, \
                 \"ratio\": {}, \"target\": {}, \"met\": {}}}",
                json_string(&row.scenario),
                json_string(&row.metric),
                num(row.values[0]),
                num(row.values[1]),
                num(ratio),
                json_string(&row.target.text()),
                met
            );
            out.push_str(if i + 1 < self.rows.len() { ",\n" } else { "\n" });
        }
        out.push_str("  ],\n  \"skipped\": [");
        for (i, (scenario, why)) in self.skipped.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            let _ = write!(
                out,
                "{{\"scenario\": {}, \"why\": {}}}",
                json_string(scenario),
                json_string(why)
            );
        }
        out.push_str("]\n}\n");
        out
    }
}

fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_targets_and_json() {
        let mut report = Report::default();
        report.push(Row::new(
            "a",
            "x",
            [Some(4.0), Some(2.0)],
            Target::AtLeast(2.0),
        ));
        report.push(Row::new(
            "b",
            "y",
            [Some(1.0), Some(4.0)],
            Target::AtMost(0.2),
        ));
        report.push(Row::new("c", "z", [None, Some(1.0)], Target::AtMost(1.0)));
        report.push(Row::new(
            "e",
            "kept",
            [Some(100.0), Some(0.0)],
            Target::ValueAtLeast(100.0),
        ));
        report.skipped("d", "not \"ready\"");
        let table = report.table();
        assert!(table.contains("2.000x") && table.contains("yes"));
        assert!(table.contains("0.250x") && table.contains("NO"));
        assert!(table.contains("n/a"));
        let kept = table.lines().find(|l| l.starts_with('e')).unwrap();
        assert!(
            kept.contains("rust_enet >= 100") && kept.ends_with("yes"),
            "{kept}"
        );
        let json = report.json();
        assert!(json.contains("\"ratio\": 2,") && json.contains("\"met\": false"));
        assert!(json.contains("\"rust_enet\": null") && json.contains("not \\\"ready\\\""));
    }
}
