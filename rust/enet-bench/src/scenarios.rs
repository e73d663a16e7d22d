//! The scenarios: each runs its roles with both sides for the rounds asked, and turns the
//! medians of their `RESULT` metrics into report rows.

use std::io;
use std::time::Duration;

use crate::process::{Metrics, Side, args, cpu_per_wall, get, per_second, run_pair, run_single};
use crate::report::{Report, Row, Target};

/// Per side (rust_enet, then the reference), the median of each metric over its successful
/// rounds; `None` if none succeeded.
type Results = [Option<Vec<f64>>; 2];

/// A report row for metric `m` of a scenario's [`Results`]: `(name, target, digits)`.
type RowSpec<'a> = (&'a str, Target, usize);

/// The two sides under test, the rounds per side, and the report the scenarios add rows to.
pub struct Bench<'a> {
    pub sides: [(&'a str, &'a Side); 2],
    pub rounds: usize,
    pub report: Report,
}

impl Bench<'_> {
    /// Runs one scenario `rounds` times for both sides, alternating which side goes first, and
    /// returns per side the median of each metric over its successful rounds. Rounds and
    /// alternation keep interference from other load on the machine from deciding a ratio.
    fn both(&self, mut f: impl FnMut(&Side) -> io::Result<Vec<f64>>) -> Results {
        let mut results: [Vec<Vec<f64>>; 2] = [Vec::new(), Vec::new()];
        for round in 0..self.rounds {
            let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
            for i in order {
                let (name, side) = self.sides[i];
                match f(side) {
                    Ok(v) => results[i].push(v),
                    Err(err) => eprintln!("  {name}: {err}"),
                }
            }
        }
        results.map(|runs| {
            let first = runs.first()?;
            Some(
                (0..first.len())
                    .map(|m| median(runs.iter().map(|r| r[m]).collect()))
                    .collect(),
            )
        })
    }

    /// [`Bench::both`] for a server role and a client role (given the server's port first),
    /// each pair allowed `budget_secs`; `f` turns the server's and the client's results into
    /// the metrics.
    fn pairs(
        &self,
        (server, client): (&[String], &[String]),
        budget_secs: f64,
        f: impl Fn(&Metrics, &Metrics) -> io::Result<Vec<f64>>,
    ) -> Results {
        self.both(|side| {
            let budget = Duration::from_secs_f64(budget_secs);
            let (s, c) = run_pair(side, server, client, budget)?;
            f(&s, &c)
        })
    }

    /// One row per spec, for metrics 0, 1, ... of `r`; `note` goes on the first.
    fn push_rows(&mut self, label: &str, r: &Results, note: Option<&str>, rows: &[RowSpec]) {
        for (m, &(name, target, digits)) in rows.iter().enumerate() {
            let row = Row::new(label, name, metric(r, m), target).precision(digits);
            self.report.push(match note {
                Some(note) if m == 0 => row.note(note),
                _ => row,
            });
        }
    }

    /// Scenario 1 (`backlog` = 256) and 1b: one sender streams 1 KiB reliable messages for
    /// `secs`, keeping `backlog` of them queued or unacknowledged; MB/s at the server.
    pub fn throughput(&mut self, secs: f64, backlog: usize, label: &str) {
        let server = args(&[&"tput-server", &secs]);
        let client = args(&[&"tput-client", &secs, &backlog]);
        let r = self.pairs((&server, &client), secs + 30.0, |s, _| {
            Ok(vec![per_second(s, get(s, "bytes") / 1e6)])
        });
        let rows = [("1 KiB reliable, MB/s", Target::AtLeast(2.0), 1)];
        self.push_rows(label, &r, None, &rows);
    }

    /// [`Bench::pairs`] for a server with many clients: `server N SECS` and
    /// `clients PORT N SECS HOSTS`.
    fn many_clients(
        &self,
        (server, clients): (&str, &str),
        (n, secs, hosts): (usize, f64, usize),
        f: impl Fn(&Metrics, &Metrics) -> io::Result<Vec<f64>>,
    ) -> Results {
        let server = args(&[&server, &n, &secs]);
        let clients = args(&[&clients, &n, &secs, &hosts]);
        self.pairs((&server, &clients), secs + 90.0, f)
    }

    /// Scenario 2 (`hosts` = 10) and 2b (`hosts` = n): `n` paced clients on `hosts` client
    /// sockets, for `secs`, against an echo server.
    pub fn fanin(&mut self, (n, secs, hosts): (usize, f64, usize), label: &str) {
        let roles = ("fanin-server", "fanin-clients");
        let r = self.many_clients(roles, (n, secs, hosts), |s, c| {
            Ok(vec![
                cpu_per_wall(s),
                get(s, "unreliable") / get(c, "sent_unreliable"),
                get(c, "echoes") / get(c, "sent_reliable"),
                get(c, "p50_us") / 1e3,
                get(c, "p99_us") / 1e3,
                per_second(s, get(s, "dgrams_in")),
                per_second(s, get(s, "dgrams_out")),
                get(s, "coalescing_pct"),
                cpu_per_wall(c),
            ])
        });
        let rows = [
            ("server CPU s per s", Target::AtMost(0.5), 3),
            ("unreliable delivered", Target::AtLeast(1.0), 4),
            ("reliable echoed", Target::AtLeast(1.0), 4),
            ("echo p50 ms", Target::None, 2),
            ("echo p99 ms", Target::None, 2),
            ("server datagrams in/s", Target::None, 0),
            ("server datagrams out/s", Target::None, 0),
        ];
        // After the rows' metrics: the server's coalescing share, then the clients' CPU.
        self.push_rows(label, &r, Some(&coalescing_note(&r, rows.len())), &rows);
        self.report.push(client_cpu_row(label, &r, rows.len() + 1));
    }

    /// Scenario 3 (`hosts` = 1) and 3b (`hosts` = n): `n` idle connections on `hosts` client
    /// sockets; the server's CPU over `secs` once all are connected.
    pub fn idle(&mut self, (n, secs, hosts): (usize, f64, usize), label: &str) {
        let roles = ("idle-server", "idle-clients");
        let r = self.many_clients(roles, (n, secs, hosts), |s, c| {
            if get(s, "wall_us") <= 0.0 {
                return Err(io::Error::other("not all peers connected"));
            }
            Ok(vec![
                cpu_per_wall(s),
                per_second(s, get(s, "dgrams_in") + get(s, "dgrams_out")),
                get(s, "coalescing_pct"),
                cpu_per_wall(c),
            ])
        });
        let rows = [
            ("server CPU s per s", Target::AtMost(0.2), 3),
            ("server datagrams in+out/s", Target::None, 0),
        ];
        self.push_rows(label, &r, Some(&coalescing_note(&r, 2)), &rows);
        self.report.push(client_cpu_row(label, &r, 3));
    }

    /// Scenario 4: a 32 B reliable ping-pong at idle for `secs`; round trip percentiles.
    pub fn latency(&mut self, secs: f64) {
        let server = args(&[&"echo-server"]);
        let client = args(&[&"lat-client", &secs]);
        let r = self.pairs((&server, &client), secs + 30.0, |_, c| {
            Ok(vec![get(c, "p50_us"), get(c, "p99_us")])
        });
        let rows = [
            ("32 B ping-pong p50 us", Target::None, 0),
            ("32 B ping-pong p99 us", Target::AtMost(1.0), 0),
        ];
        self.push_rows("4 latency", &r, None, &rows);
    }

    /// Scenario 5: one reliable packet of `bytes`; the time until its 1-byte reply, and the
    /// peak memory of both processes.
    pub fn bulk(&mut self, bytes: usize) {
        let server = args(&[&"bulk-server"]);
        let client = args(&[&"bulk-client", &bytes]);
        let r = self.pairs((&server, &client), 120.0, |s, c| {
            if get(s, "intact") != 1.0 || get(c, "delivered") != 1.0 {
                return Err(io::Error::other("the bulk packet did not arrive intact"));
            }
            let memory = (get(s, "hwm_kib") + get(c, "hwm_kib")) / 1024.0;
            Ok(vec![get(c, "time_us") / 1e3, memory])
        });
        let rows = [
            ("time to deliver ms", Target::AtMost(0.5), 1),
            ("peak RSS both MiB", Target::None, 1),
        ];
        self.push_rows(&format!("5 bulk {} MiB", bytes >> 20), &r, None, &rows);
    }

    /// `n` hosts without peers, each serviced with a zero timeout in turn for `secs`: the CPU
    /// one such call costs.
    pub fn empty_service(&mut self, n: usize, secs: f64) {
        let r = self.both(|side| {
            let role = args(&[&"empty-service", &n, &secs]);
            let m = run_single(side, &role, Duration::from_secs_f64(secs + 30.0))?;
            Ok(vec![get(&m, "cpu_ns") / get(&m, "services")])
        });
        let rows = [("CPU ns per service(0)", Target::AtMost(1.0), 0)];
        self.push_rows(&format!("- empty service x{n}"), &r, None, &rows);
    }

    /// The ceiling: an unsequenced 64 B flood for `secs` against raw 64 B UDP datagrams.
    pub fn ceiling(&mut self, secs: f64) {
        let server = args(&[&"flood-server", &secs]);
        let client = args(&[&"flood-client", &secs]);
        let flood = self.pairs((&server, &client), secs + 30.0, |s, _| {
            Ok(vec![per_second(s, get(s, "messages"))])
        });
        // Column 1: std send_to/recv_from (Rust); column 2: sendmmsg/recvmmsg (C).
        let sink = args(&[&"udp-sink", &secs]);
        let source = args(&[&"udp-source", &secs]);
        let udp = self.pairs((&sink, &source), secs + 30.0, |s, _| {
            Ok(vec![
                per_second(s, get(s, "datagrams")),
                get(s, "cpu_ns") / 1e3 / get(s, "datagrams"),
            ])
        });
        let flood = metric(&flood, 0);
        let udp_cpu = metric(&udp, 1);
        let udp = metric(&udp, 0);
        let ceiling = udp[1];
        let fraction = flood.map(|v| Some(v? / ceiling?));
        let rows = [
            ("unsequenced 64 B msgs/s", flood, 0, None),
            (
                "raw UDP 64 B dgrams/s",
                udp,
                0,
                Some("rust_enet column: std send_to/recv_from; C column: sendmmsg/recvmmsg x64"),
            ),
            (
                "raw UDP receiver CPU us/dgram",
                udp_cpu,
                2,
                Some("per-datagram receive cost, plain vs batched: what recvmmsg would save"),
            ),
            (
                "msgs/s / batched UDP dgrams/s",
                fraction,
                2,
                Some("ENet packs ~19 such messages per datagram, so this can exceed 1"),
            ),
        ];
        for (name, values, digits, note) in rows {
            let row = Row::new("ceiling", name, values, Target::None).precision(digits);
            self.report.push(match note {
                Some(note) => row.note(note),
                None => row,
            });
        }
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Metric `m` of both sides.
fn metric(r: &Results, m: usize) -> [Option<f64>; 2] {
    [0, 1].map(|i| r[i].as_ref().map(|v| v[m]))
}

/// A note on how much of the server's window rust_enet's receive coalescing was on (the
/// `coalescing_pct` its servers print; C ENet has no such thing).
fn coalescing_note(r: &Results, m: usize) -> String {
    let pct = |v: Option<f64>| v.filter(|x| x.is_finite()).map(|x| format!("{x:.0} %"));
    let [rust, other] = metric(r, m).map(pct);
    let mut note = format!(
        "rust_enet server's receive coalescing on during {} of the window",
        rust.unwrap_or_else(|| "n/a".into())
    );
    if let Some(other) = other {
        note.push_str(&format!(" (reference column: {other})"));
    }
    note
}

/// The clients' process CPU while they send or idle: not a target, but it shows how hard the
/// client side works to keep up (many sockets are serviced one zero-timeout call each).
fn client_cpu_row(label: &str, r: &Results, m: usize) -> Row {
    Row::new(
        label,
        "client process CPU s per s",
        metric(r, m),
        Target::None,
    )
    .precision(3)
}
