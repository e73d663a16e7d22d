//! Role processes: starting one with its standard output read line by line on a thread, and
//! running a server and client pair (or a single role) to collect the `RESULT key=value ...`
//! line each prints.

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// One implementation under test: the program that plays its roles.
pub struct Side {
    pub exe: PathBuf,
    /// Environment for its processes.
    pub env: Vec<(String, String)>,
}

/// The key/values of a role's `RESULT` line.
pub type Metrics = HashMap<String, f64>;

/// Starts `exe args` with `env` added, standard input closed and standard error inherited;
/// returns the child and the lines of its standard output as they come.
pub fn spawn(
    exe: &Path,
    args: &[String],
    env: &[(String, String)],
) -> io::Result<(Child, mpsc::Receiver<String>)> {
    let mut child = Command::new(exe)
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
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

/// Runs `server` then `client(port)` with `exe`, waits for both (at most `budget`), and returns
/// their `RESULT` key/values.
pub fn run_pair(
    side: &Side,
    server: &[String],
    client: &[String],
    budget: Duration,
) -> io::Result<(Metrics, Metrics)> {
    let deadline = Instant::now() + budget;
    let (mut server_child, server_lines) = spawn(&side.exe, server, &side.env)?;
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
    let (mut client_child, client_lines) = spawn(&side.exe, &client_args, &side.env)?;
    let client_result = finish(&mut client_child, &client_lines, deadline, &client_args);
    let server_result = finish(&mut server_child, &server_lines, deadline, server);
    Ok((server_result?, client_result?))
}

/// Runs one process with `exe` (at most `budget`) and returns its `RESULT` key/values.
pub fn run_single(side: &Side, role: &[String], budget: Duration) -> io::Result<Metrics> {
    let deadline = Instant::now() + budget;
    let (mut child, lines) = spawn(&side.exe, role, &side.env)?;
    finish(&mut child, &lines, deadline, role)
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

/// A role's command line from its name and arguments.
pub fn args(list: &[&dyn ToString]) -> Vec<String> {
    list.iter().map(|a| a.to_string()).collect()
}

/// A metric value from a result, NaN if missing.
pub fn get(m: &Metrics, key: &str) -> f64 {
    m.get(key).copied().unwrap_or(f64::NAN)
}

/// CPU seconds per wall second from `cpu_ns` and `wall_us`.
pub fn cpu_per_wall(m: &Metrics) -> f64 {
    get(m, "cpu_ns") / 1e9 / (get(m, "wall_us") / 1e6)
}

/// `m / (wall_us in seconds)`: a count per second of the measured window.
pub fn per_second(m: &Metrics, count: f64) -> f64 {
    count / (get(m, "wall_us") / 1e6)
}
