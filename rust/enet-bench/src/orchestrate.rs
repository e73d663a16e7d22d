//! Runs each scenario with rust_enet and with C ENet (server and clients as separate
//! processes), collects their `RESULT` lines and builds the report rows.

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use crate::report::{Report, Row, Target};
use crate::roles::{FANIN_HOSTS, TPUT_BACKLOG};

pub const USAGE: &str = "\
usage: rust-enet-bench [--quick] [--json FILE] [--only LIST] [--rounds N] [--against EXE]
  --quick        ~1 s per scenario (smoke run) instead of the full lengths
  --json FILE    also write the table as JSON
  --only LIST    comma-separated subset of: tput,tput-deep,fanin,fanin-sock,idle,idle-sock,
                 lat,bulk,empty-service,ceiling (default: all)
  --tput-backlog N  messages the tput-deep sender keeps queued or unacknowledged (default 4096)
  --rounds N     runs per side (default 3, 1 with --quick); the table shows medians
  --against EXE  A/B mode: compare with another rust-enet-bench build instead of C ENet
  --precise-waits  rust_enet with WaitPrecision::Precise (a helper thread ends every wait on
                 time; std's blocking-read timeouts overshoot by ticks) instead of Auto
  --no-coalescing  rust_enet with ReceiveCoalescing::OFF (every wait ends with the first
                 datagram), to see what adaptive receive coalescing is worth
  --c-default-buffers  run C ENet with the system's default socket buffers instead of the
                 256 KiB it asks for (rust_enet asks for 256 KiB too, on Linux)
  --godot-json FILE  add scenario 6 (Godot level) rows from bench_rpc.tscn results (JSON lines;
                 `./build.sh bench` writes them)";

const SCENARIOS: [&str; 10] = [
    "tput",
    "tput-deep",
    "fanin",
    "fanin-sock",
    "idle",
    "idle-sock",
    "lat",
    "bulk",
    "empty-service",
    "ceiling",
];

/// Hosts the empty-service loop sweeps: as many as the one-socket-per-client scenarios' client
/// processes hold (2b: 500, 3b: 4000).
const EMPTY_SERVICE_HOSTS: [usize; 2] = [500, 4000];

/// Command-line options of the orchestrator.
#[derive(Debug)]
pub struct Options {
    quick: bool,
    json: Option<PathBuf>,
    only: Vec<String>,
    rounds: Option<usize>,
    against: Option<PathBuf>,
    c_default_buffers: bool,
    precise_waits: bool,
    no_coalescing: bool,
    godot_json: Option<PathBuf>,
    tput_backlog: usize,
}

impl Options {
    /// `Ok(None)` for `--help`.
    pub fn parse(args: &[String]) -> Result<Option<Options>, String> {
        let mut options = Options {
            quick: false,
            json: None,
            only: SCENARIOS.iter().map(|s| s.to_string()).collect(),
            rounds: None,
            against: None,
            c_default_buffers: false,
            precise_waits: false,
            no_coalescing: false,
            godot_json: None,
            tput_backlog: crate::roles::TPUT_DEEP_BACKLOG,
        };
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            match arg.as_str() {
                "--quick" => options.quick = true,
                "--json" => {
                    options.json = Some(it.next().ok_or("--json needs a file name")?.into());
                }
                "--only" => {
                    let list = it.next().ok_or("--only needs a list")?;
                    options.only = list.split(',').map(str::to_owned).collect();
                    if let Some(bad) = options.only.iter().find(|s| !SCENARIOS.contains(&&***s)) {
                        return Err(format!("unknown scenario `{bad}`"));
                    }
                }
                "--rounds" => {
                    let n = it.next().ok_or("--rounds needs a number")?;
                    let n: usize = n.parse().map_err(|_| format!("bad round count `{n}`"))?;
                    options.rounds = Some(n.max(1));
                }
                "--against" => {
                    options.against = Some(it.next().ok_or("--against needs a program")?.into());
                }
                "--tput-backlog" => {
                    let n = it.next().ok_or("--tput-backlog needs a number")?;
                    let n: usize = n.parse().map_err(|_| format!("bad backlog `{n}`"))?;
                    options.tput_backlog = n.max(1);
                }
                "--c-default-buffers" => options.c_default_buffers = true,
                "--precise-waits" => options.precise_waits = true,
                "--no-coalescing" => options.no_coalescing = true,
                "--godot-json" => {
                    options.godot_json =
                        Some(it.next().ok_or("--godot-json needs a file name")?.into());
                }
                "--help" | "-h" => return Ok(None),
                other => return Err(format!("unknown option `{other}`")),
            }
        }
        Ok(Some(options))
    }

    fn wants(&self, scenario: &str) -> bool {
        self.only.iter().any(|s| s == scenario)
    }
}

/// Scenario lengths and sizes.
struct Plan {
    tput_secs: f64,
    fanin_clients: usize,
    fanin_secs: f64,
    idle_peers: usize,
    /// Scenario 3b: idle peers, each on its own client socket.
    idle_sock_peers: usize,
    idle_secs: f64,
    lat_secs: f64,
    bulk_bytes: usize,
    flood_secs: f64,
    /// Runs per side; the table shows medians.
    rounds: usize,
}

impl Plan {
    fn new(quick: bool) -> Plan {
        let secs = |full: f64| if quick { 1.0 } else { full };
        Plan {
            tput_secs: secs(5.0),
            fanin_clients: 500,
            fanin_secs: secs(5.0),
            idle_peers: 4000,
            idle_sock_peers: 4000,
            idle_secs: secs(5.0),
            lat_secs: secs(3.0),
            bulk_bytes: 16 * 1024 * 1024,
            flood_secs: secs(2.0),
            rounds: if quick { 1 } else { 3 },
        }
    }
}

/// One implementation under test: the program that plays its roles.
struct Side {
    exe: PathBuf,
    /// Environment for its processes.
    env: Vec<(String, String)>,
}

type Metrics = HashMap<String, f64>;

/// Runs `server` then `client(port)` with `exe`, waits for both (at most `budget`), and returns
/// their `RESULT` key/values.
fn run_pair(
    side: &Side,
    server: &[String],
    client: &[String],
    budget: Duration,
) -> io::Result<(Metrics, Metrics)> {
    let deadline = Instant::now() + budget;
    let (mut server_child, server_lines) = spawn(side, server)?;
    let port = match server_lines.recv_timeout(Duration::from_secs(10)) {
        Ok(line) => line
            .strip_prefix("PORT ")
            .and_then(|p| p.trim().parse::<u16>().ok())
            .ok_or_else(|| io::Error::other(format!("server said `{line}`, not PORT")))?,
        Err(_) => {
            let _ = server_child.kill();
            let _ = server_child.wait();
            return Err(io::Error::other(format!("{server:?} printed no port")));
        }
    };
    let mut client_args = vec![client[0].clone(), port.to_string()];
    client_args.extend_from_slice(&client[1..]);
    let (mut client_child, client_lines) = spawn(side, &client_args)?;
    let client_result = finish(&mut client_child, &client_lines, deadline, &client_args);
    let server_result = finish(&mut server_child, &server_lines, deadline, server);
    Ok((server_result?, client_result?))
}

/// Runs one process with `exe` (at most `budget`) and returns its `RESULT` key/values.
fn run_single(side: &Side, role: &[String], budget: Duration) -> io::Result<Metrics> {
    let deadline = Instant::now() + budget;
    let (mut child, lines) = spawn(side, role)?;
    finish(&mut child, &lines, deadline, role)
}

fn spawn(side: &Side, args: &[String]) -> io::Result<(Child, mpsc::Receiver<String>)> {
    let mut child = Command::new(&side.exe)
        .args(args)
        .envs(side.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| io::Error::other("no stdout"))?;
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    Ok((child, rx))
}

/// Waits for the child to exit (killing it at `deadline`) and parses its `RESULT` line.
fn finish(
    child: &mut Child,
    lines: &mpsc::Receiver<String>,
    deadline: Instant,
    what: &[String],
) -> io::Result<Metrics> {
    loop {
        if let Some(status) = child.try_wait()? {
            if !status.success() {
                return Err(io::Error::other(format!("{what:?} exited with {status}")));
            }
            break;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(io::Error::other(format!(
                "{what:?} overran its time budget"
            )));
        }
        thread::sleep(Duration::from_millis(20));
    }
    let mut metrics = Metrics::new();
    // The reader thread ends at EOF, right after the exit.
    while let Ok(line) = lines.recv_timeout(Duration::from_secs(2)) {
        if let Some(rest) = line.strip_prefix("RESULT ") {
            for pair in rest.split_whitespace() {
                if let Some((k, v)) = pair.split_once('=') {
                    metrics.insert(k.to_owned(), v.parse().unwrap_or(f64::NAN));
                }
            }
        }
    }
    if metrics.is_empty() {
        return Err(io::Error::other(format!("{what:?} printed no RESULT")));
    }
    Ok(metrics)
}

fn args(list: &[&dyn ToString]) -> Vec<String> {
    list.iter().map(|a| a.to_string()).collect()
}

/// A metric value from a result, NaN if missing.
fn get(m: &Metrics, key: &str) -> f64 {
    m.get(key).copied().unwrap_or(f64::NAN)
}

/// CPU seconds per wall second from `cpu_ns` and `wall_us`.
fn cpu_per_wall(m: &Metrics) -> f64 {
    get(m, "cpu_ns") / 1e9 / (get(m, "wall_us") / 1e6)
}

/// Runs one scenario `rounds` times for both sides, alternating which side goes first, and
/// returns per side the median of each metric over its successful rounds (`None` if none
/// succeeded). Rounds and alternation keep interference from other load on the machine from
/// deciding a ratio.
fn both(
    sides: &Sides,
    rounds: usize,
    mut f: impl FnMut(&Side) -> io::Result<Vec<f64>>,
) -> [Option<Vec<f64>>; 2] {
    let mut results: [Vec<Vec<f64>>; 2] = [Vec::new(), Vec::new()];
    for round in 0..rounds {
        let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        for i in order {
            let (name, side) = sides[i];
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

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// CPUs, kernel and load at the start: the numbers only mean something next to these.
fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, usize::from);
    let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
    let kernel = read("/proc/sys/kernel/osrelease");
    let load = read("/proc/loadavg");
    let load: Vec<&str> = load.split_whitespace().take(3).collect();
    format!(
        "machine: {cpus} CPUs, Linux {}, load average {} at start",
        kernel.trim(),
        load.join(" ")
    )
}

/// The system's default socket receive buffer (`net.core.rmem_default`), 212992 if unknown.
fn default_rcvbuf() -> u64 {
    std::fs::read_to_string("/proc/sys/net/core/rmem_default")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(212_992)
}

/// Metric `m` of both sides.
fn metric(r: &[Option<Vec<f64>>; 2], m: usize) -> [Option<f64>; 2] {
    [0, 1].map(|i| r[i].as_ref().map(|v| v[m]))
}

type Sides<'a> = [(&'a str, &'a Side); 2];

/// Scenario 1 (`backlog` = 256) and 1b: one sender streams 1 KiB reliable messages for `secs`,
/// keeping `backlog` of them queued or unacknowledged; MB/s at the server.
fn throughput(
    report: &mut Report,
    sides: &Sides,
    rounds: usize,
    secs: f64,
    backlog: usize,
    label: &str,
) {
    let r = both(sides, rounds, |side| {
        let (s, _) = run_pair(
            side,
            &args(&[&"tput-server", &secs]),
            &args(&[&"tput-client", &secs, &backlog]),
            Duration::from_secs_f64(secs + 30.0),
        )?;
        Ok(vec![get(&s, "bytes") / 1e6 / (get(&s, "wall_us") / 1e6)])
    });
    report.push(
        Row::new(
            label,
            "1 KiB reliable, MB/s",
            metric(&r, 0),
            Target::AtLeast(2.0),
        )
        .precision(1),
    );
}

/// A note on how much of the server's window rust_enet's receive coalescing was on (the
/// `coalescing_pct` its servers print; C ENet has no such thing).
fn coalescing_note(r: &[Option<Vec<f64>>; 2], m: usize) -> String {
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

/// [`both`] for a server with many clients: `server N SECS` and `clients PORT N SECS HOSTS`;
/// `f` turns the server's and the clients' results into the metrics.
fn many_clients(
    sides: &Sides,
    rounds: usize,
    (server, clients): (&str, &str),
    (n, secs, hosts): (usize, f64, usize),
    f: impl Fn(&Metrics, &Metrics) -> io::Result<Vec<f64>>,
) -> [Option<Vec<f64>>; 2] {
    both(sides, rounds, |side| {
        let (s, c) = run_pair(
            side,
            &args(&[&server, &n, &secs]),
            &args(&[&clients, &n, &secs, &hosts]),
            Duration::from_secs_f64(secs + 90.0),
        )?;
        f(&s, &c)
    })
}

/// Scenario 2 (`hosts` = 10) and 2b (`hosts` = n): `n` paced clients on `hosts` client
/// sockets, for `secs`, against an echo server.
fn fanin(
    report: &mut Report,
    sides: &Sides,
    rounds: usize,
    (n, secs, hosts): (usize, f64, usize),
    label: &str,
) {
    let roles = ("fanin-server", "fanin-clients");
    let r = many_clients(sides, rounds, roles, (n, secs, hosts), |s, c| {
        Ok(vec![
            cpu_per_wall(s),
            get(s, "unreliable") / get(c, "sent_unreliable"),
            get(c, "echoes") / get(c, "sent_reliable"),
            get(c, "p50_us") / 1e3,
            get(c, "p99_us") / 1e3,
            get(s, "dgrams_in") / (get(s, "wall_us") / 1e6),
            get(s, "dgrams_out") / (get(s, "wall_us") / 1e6),
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
    let extra = rows.len();
    let note = coalescing_note(&r, extra);
    for (m, (name, target, digits)) in rows.into_iter().enumerate() {
        let row = Row::new(label, name, metric(&r, m), target).precision(digits);
        report.push(if m == 0 { row.note(&note) } else { row });
    }
    report.push(client_cpu_row(label, &r, extra + 1));
}

/// Scenario 3 (`hosts` = 1) and 3b (`hosts` = n): `n` idle connections on `hosts` client
/// sockets; the server's CPU over `secs` once all are connected.
fn idle(
    report: &mut Report,
    sides: &Sides,
    rounds: usize,
    (n, secs, hosts): (usize, f64, usize),
    label: &str,
) {
    let roles = ("idle-server", "idle-clients");
    let r = many_clients(sides, rounds, roles, (n, secs, hosts), |s, c| {
        if get(s, "wall_us") <= 0.0 {
            return Err(io::Error::other("not all peers connected"));
        }
        let datagrams = get(s, "dgrams_in") + get(s, "dgrams_out");
        Ok(vec![
            cpu_per_wall(s),
            datagrams / (get(s, "wall_us") / 1e6),
            get(s, "coalescing_pct"),
            cpu_per_wall(c),
        ])
    });
    let cpu = Row::new(
        label,
        "server CPU s per s",
        metric(&r, 0),
        Target::AtMost(0.2),
    );
    report.push(cpu.precision(3).note(&coalescing_note(&r, 2)));
    report.push(
        Row::new(
            label,
            "server datagrams in+out/s",
            metric(&r, 1),
            Target::None,
        )
        .precision(0),
    );
    report.push(client_cpu_row(label, &r, 3));
}

/// The clients' process CPU while they send or idle: not a target, but it shows how hard the
/// client side works to keep up (many sockets are serviced one zero-timeout call each).
fn client_cpu_row(label: &str, r: &[Option<Vec<f64>>; 2], m: usize) -> Row {
    Row::new(
        label,
        "client process CPU s per s",
        metric(r, m),
        Target::None,
    )
    .precision(3)
}

pub fn run(options: &Options) -> io::Result<()> {
    let plan = Plan::new(options.quick);
    let rounds = options.rounds.unwrap_or(plan.rounds);
    let mut rust_env = Vec::new();
    if options.precise_waits {
        rust_env.push(("RUST_ENET_BENCH_PRECISE_WAITS".to_owned(), "1".to_owned()));
    }
    if options.no_coalescing {
        rust_env.push(("RUST_ENET_BENCH_NO_COALESCING".to_owned(), "1".to_owned()));
    }
    let rust = Side {
        exe: std::env::current_exe()?,
        env: rust_env,
    };
    let (reference, reference_name) = match &options.against {
        Some(exe) => (exe.clone(), "reference"),
        None => (PathBuf::from(env!("C_ENET_BENCH")), "C ENet"),
    };
    let mut env = Vec::new();
    if options.c_default_buffers && options.against.is_none() {
        env.push((
            "BENCH_SOCKET_BUFFER".to_owned(),
            (default_rcvbuf() / 2).to_string(),
        ));
    }
    let c = Side {
        exe: reference,
        env,
    };
    let sides = [("rust_enet", &rust), (reference_name, &c)];
    let mut report = Report::default();
    let machine = machine();
    let started = Instant::now();
    let progress = |name: &str| eprintln!("[{:5.1}s] {name}", started.elapsed().as_secs_f64());

    if options.wants("tput") {
        progress("1. reliable throughput");
        let label = "1 throughput";
        throughput(
            &mut report,
            &sides,
            rounds,
            plan.tput_secs,
            TPUT_BACKLOG,
            label,
        );
    }
    if options.wants("tput-deep") {
        let backlog = options.tput_backlog;
        progress(&format!("1b. reliable throughput, {backlog} messages deep"));
        let label = format!("1b deep queue {backlog}");
        throughput(&mut report, &sides, rounds, plan.tput_secs, backlog, &label);
    }
    let fanin_run = |report: &mut Report, hosts: usize, label: &str| {
        let (n, secs) = (plan.fanin_clients, plan.fanin_secs);
        progress(&format!("{label}: {n} clients on {hosts} sockets"));
        fanin(report, &sides, rounds, (n, secs, hosts), label);
    };
    if options.wants("fanin") {
        fanin_run(
            &mut report,
            FANIN_HOSTS,
            &format!("2 fan-in {}", plan.fanin_clients),
        );
    }
    if options.wants("fanin-sock") {
        let n = plan.fanin_clients;
        fanin_run(&mut report, n, &format!("2b fan-in {n} socks"));
    }
    if options.wants("idle") {
        let n = plan.idle_peers;
        progress(&format!("3. idle scale: {n} peers on 1 socket"));
        idle(
            &mut report,
            &sides,
            rounds,
            (n, plan.idle_secs, 1),
            &format!("3 idle {n}"),
        );
    }
    if options.wants("idle-sock") {
        let n = plan.idle_sock_peers;
        progress(&format!("3b. idle scale: {n} peers on {n} sockets"));
        let label = format!("3b idle {n} socks");
        idle(&mut report, &sides, rounds, (n, plan.idle_secs, n), &label);
    }

    if options.wants("lat") {
        progress("4. latency");
        let secs = plan.lat_secs;
        let r = both(&sides, rounds, |side| {
            let (_, c) = run_pair(
                side,
                &args(&[&"echo-server"]),
                &args(&[&"lat-client", &secs]),
                Duration::from_secs_f64(secs + 30.0),
            )?;
            Ok(vec![get(&c, "p50_us"), get(&c, "p99_us")])
        });
        report.push(
            Row::new(
                "4 latency",
                "32 B ping-pong p50 us",
                metric(&r, 0),
                Target::None,
            )
            .precision(0),
        );
        report.push(
            Row::new(
                "4 latency",
                "32 B ping-pong p99 us",
                metric(&r, 1),
                Target::AtMost(1.0),
            )
            .precision(0),
        );
    }

    if options.wants("bulk") {
        progress("5. bulk");
        let bytes = plan.bulk_bytes;
        let r = both(&sides, rounds, |side| {
            let (s, c) = run_pair(
                side,
                &args(&[&"bulk-server"]),
                &args(&[&"bulk-client", &bytes]),
                Duration::from_secs(120),
            )?;
            if get(&s, "intact") != 1.0 || get(&c, "delivered") != 1.0 {
                return Err(io::Error::other("the bulk packet did not arrive intact"));
            }
            let memory = (get(&s, "hwm_kib") + get(&c, "hwm_kib")) / 1024.0;
            Ok(vec![get(&c, "time_us") / 1e3, memory])
        });
        let label = format!("5 bulk {} MiB", bytes >> 20);
        report.push(
            Row::new(
                &label,
                "time to deliver ms",
                metric(&r, 0),
                Target::AtMost(0.5),
            )
            .precision(1),
        );
        report
            .push(Row::new(&label, "peak RSS both MiB", metric(&r, 1), Target::None).precision(1));
    }

    if options.wants("empty-service") {
        for n in EMPTY_SERVICE_HOSTS {
            progress(&format!(
                "empty service: {n} hosts without peers, timeout 0"
            ));
            let secs = plan.flood_secs;
            let r = both(&sides, rounds, |side| {
                let m = run_single(
                    side,
                    &args(&[&"empty-service", &n, &secs]),
                    Duration::from_secs_f64(secs + 30.0),
                )?;
                Ok(vec![get(&m, "cpu_ns") / get(&m, "services")])
            });
            report.push(
                Row::new(
                    &format!("- empty service x{n}"),
                    "CPU ns per service(0)",
                    metric(&r, 0),
                    Target::AtMost(1.0),
                )
                .precision(0),
            );
        }
    }

    if options.wants("ceiling") {
        progress("ceiling: unreliable rate and raw UDP");
        let secs = plan.flood_secs;
        let flood = both(&sides, rounds, |side| {
            let (s, _) = run_pair(
                side,
                &args(&[&"flood-server", &secs]),
                &args(&[&"flood-client", &secs]),
                Duration::from_secs_f64(secs + 30.0),
            )?;
            Ok(vec![get(&s, "messages") / (get(&s, "wall_us") / 1e6)])
        });
        // Column 1: std send_to/recv_from (Rust); column 2: sendmmsg/recvmmsg (C).
        let udp = both(&sides, rounds, |side| {
            let (s, _) = run_pair(
                side,
                &args(&[&"udp-sink", &secs]),
                &args(&[&"udp-source", &secs]),
                Duration::from_secs_f64(secs + 30.0),
            )?;
            Ok(vec![
                get(&s, "datagrams") / (get(&s, "wall_us") / 1e6),
                get(&s, "cpu_ns") / 1e3 / get(&s, "datagrams"),
            ])
        });
        let flood = metric(&flood, 0);
        let udp_cpu = metric(&udp, 1);
        let udp = metric(&udp, 0);
        let ceiling = udp[1];
        let fraction = flood.map(|v| Some(v? / ceiling?));
        report
            .push(Row::new("ceiling", "unsequenced 64 B msgs/s", flood, Target::None).precision(0));
        report.push(
            Row::new("ceiling", "raw UDP 64 B dgrams/s", udp, Target::None)
                .precision(0)
                .note("rust_enet column: std send_to/recv_from; C column: sendmmsg/recvmmsg x64"),
        );
        report.push(
            Row::new(
                "ceiling",
                "raw UDP receiver CPU us/dgram",
                udp_cpu,
                Target::None,
            )
            .precision(2)
            .note("per-datagram receive cost, plain vs batched: what recvmmsg would save"),
        );
        report.push(
            Row::new(
                "ceiling",
                "msgs/s / batched UDP dgrams/s",
                fraction,
                Target::None,
            )
            .precision(2)
            .note("ENet packs ~19 such messages per datagram, so this can exceed 1"),
        );
    }

    match &options.godot_json {
        Some(path) => crate::godot::rows(path)?
            .into_iter()
            .for_each(|row| report.push(row)),
        None => report.skipped(
            "6 Godot 32 clients",
            "not run: `./build.sh bench` runs it (or pass --godot-json FILE)",
        ),
    }
    let elapsed = started.elapsed().as_secs_f64();
    eprintln!("[{elapsed:5.1}s] done");
    println!("{machine}");
    report.machine(&machine);
    match &options.against {
        None => println!(
            "rust_enet{}{} vs C ENet 1.3.17{}, loopback, median of {rounds} alternating \
             round(s); ratio = rust_enet / C ENet",
            if options.precise_waits {
                " (precise waits)"
            } else {
                ""
            },
            if options.no_coalescing {
                " (receive coalescing off)"
            } else {
                ""
            },
            if options.c_default_buffers {
                " (with default socket buffers)"
            } else {
                ""
            }
        ),
        Some(exe) => println!(
            "A/B: this build vs {} (in the C ENet column), median of {rounds} round(s)",
            exe.display()
        ),
    }
    print!("{}", report.table());
    if let Some(path) = &options.json {
        std::fs::write(path, report.json())?;
    }
    Ok(())
}
