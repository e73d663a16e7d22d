//! The orchestrator: parses the options, runs each chosen scenario with rust_enet and with C
//! ENet (or another build), and prints the report table (and JSON).

use std::io;
use std::path::PathBuf;
use std::time::Instant;

use crate::process::Side;
use crate::report::Report;
use crate::roles::{FANIN_HOSTS, TPUT_BACKLOG};
use crate::scenarios::Bench;

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
    let mut bench = Bench {
        sides: [("rust_enet", &rust), (reference_name, &c)],
        rounds,
        report: Report::default(),
    };
    let machine = machine();
    let started = Instant::now();
    let progress = |name: &str| eprintln!("[{:5.1}s] {name}", started.elapsed().as_secs_f64());

    if options.wants("tput") {
        progress("1. reliable throughput");
        bench.throughput(plan.tput_secs, TPUT_BACKLOG, "1 throughput");
    }
    if options.wants("tput-deep") {
        let backlog = options.tput_backlog;
        progress(&format!("1b. reliable throughput, {backlog} messages deep"));
        let label = format!("1b deep queue {backlog}");
        bench.throughput(plan.tput_secs, backlog, &label);
    }
    let (n, secs) = (plan.fanin_clients, plan.fanin_secs);
    for (scenario, hosts, label) in [
        ("fanin", FANIN_HOSTS, format!("2 fan-in {n}")),
        ("fanin-sock", n, format!("2b fan-in {n} socks")),
    ] {
        if options.wants(scenario) {
            progress(&format!("{label}: {n} clients on {hosts} sockets"));
            bench.fanin((n, secs, hosts), &label);
        }
    }
    let (idle, idle_sock) = (plan.idle_peers, plan.idle_sock_peers);
    for (scenario, n, hosts, what, label) in [
        ("idle", idle, 1, "3. idle scale", format!("3 idle {idle}")),
        (
            "idle-sock",
            idle_sock,
            idle_sock,
            "3b. idle scale",
            format!("3b idle {idle_sock} socks"),
        ),
    ] {
        if options.wants(scenario) {
            let sockets = if hosts == 1 { "socket" } else { "sockets" };
            progress(&format!("{what}: {n} peers on {hosts} {sockets}"));
            bench.idle((n, plan.idle_secs, hosts), &label);
        }
    }
    if options.wants("lat") {
        progress("4. latency");
        bench.latency(plan.lat_secs);
    }
    if options.wants("bulk") {
        progress("5. bulk");
        bench.bulk(plan.bulk_bytes);
    }
    if options.wants("empty-service") {
        for n in EMPTY_SERVICE_HOSTS {
            progress(&format!(
                "empty service: {n} hosts without peers, timeout 0"
            ));
            bench.empty_service(n, plan.flood_secs);
        }
    }
    if options.wants("ceiling") {
        progress("ceiling: unreliable rate and raw UDP");
        bench.ceiling(plan.flood_secs);
    }

    let mut report = bench.report;
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
