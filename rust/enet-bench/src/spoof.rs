//! The handshake-flood run: a 32-slot server (rust_enet or C ENet, the `fanin-server 16` role
//! of each) with 8 established clients exchanging traffic, then spoofed CONNECTs from many
//! distinct loopback addresses (any address in 127.0.0.0/8 can be bound here) while new clients
//! try to join, each kind once: rust_enet clients and C ENet clients (what Godot's built-in
//! peer runs). Reported per server: the established clients' reliable echoes delivered and
//! their RTT p99 before and during the flood, how many joiners got in and how fast, the
//! server's CPU and peak memory, and the bytes the server sent to the spoofed addresses over
//! the bytes it received from them.
//!
//! `rust-enet-bench flood-bench [--seconds 30] [--sources 20000] [--rate 2000]`. Roles it
//! starts: `spoof-sources FIRST COUNT RATE SECS PORT` (this binary, two processes, as one
//! process may hold only so many sockets) and `join PORT TIMEOUT` (this binary for rust_enet, the
//! C program for C ENet).

use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use rust_enet_net::{BindAddress, UdpHost};
use rust_enet_proto::{Event, HostConfig, Packet, PeerId};

use crate::sys::{cpu_ns_of, percentile, status_kib};

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
/// Channel the echo servers echo reliable packets on.
const CHANNEL_RELIABLE: u8 = 1;
const CHANNEL_UNRELIABLE: u8 = 0;
const PLAYERS: usize = 8;
/// Each player sends, per 50 ms tick, one reliable message (echoed) and three unreliable ones.
const TICK: Duration = Duration::from_millis(50);
const BASELINE: Duration = Duration::from_secs(5);
/// A joiner gives up after this long.
const JOIN_TIMEOUT_S: f64 = 5.0;

/// A CONNECT a C ENet client would send (52 bytes): header with sent time, then the command.
fn connect_datagram(connect_id: u32, data: u32) -> Vec<u8> {
    let mut c = vec![
        0x8F, 0xFF, 0x00, 0x01, 0x82, 0xFF, 0x00, 0x01, 0x00, 0x00, 0xFF, 0xFF,
    ];
    for v in [1392u32, 65536, 2, 0, 0, 5000, 2, 2] {
        c.extend_from_slice(&v.to_be_bytes());
    }
    c.extend_from_slice(&connect_id.to_be_bytes());
    c.extend_from_slice(&data.to_be_bytes());
    c
}

/// The `i`-th spoofed source address: 127.64.0.1 onwards.
fn source_ip(i: u32) -> Ipv4Addr {
    let n = 0x7F40_0001 + i;
    Ipv4Addr::from(n)
}

/// Role `spoof-sources`: binds `count` sockets on distinct addresses from `first`, sends each
/// a CONNECT in turn at `rate` per second for `secs`, and counts what comes back to them.
pub fn spoof_sources(first: u32, count: u32, rate: f64, secs: f64, port: u16) -> io::Result<()> {
    let server = SocketAddr::new(LOOPBACK, port);
    let mut sockets = Vec::with_capacity(count as usize);
    for i in first..first + count {
        let socket = UdpSocket::bind(SocketAddr::new(IpAddr::V4(source_ip(i)), 0))?;
        socket.set_nonblocking(true)?;
        sockets.push(socket);
    }
    println!("READY");
    io::stdout().flush()?;
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(secs);
    let (mut sent, mut sent_bytes, mut back, mut back_bytes) = (0u64, 0u64, 0u64, 0u64);
    let mut next = 0usize;
    let mut buf = [0u8; 4096];
    let mut drained_at = Instant::now();
    let drain = |sockets: &[UdpSocket], back: &mut u64, back_bytes: &mut u64, buf: &mut [u8]| {
        for s in sockets {
            while let Ok(n) = s.recv(buf) {
                *back += 1;
                *back_bytes += n as u64;
            }
        }
    };
    while Instant::now() < end {
        let due = (start.elapsed().as_secs_f64() * rate) as u64;
        while sent < due {
            let datagram = connect_datagram(sent as u32 ^ 0x5A5A_0000 ^ first, 2 + next as u32);
            if sockets[next].send_to(&datagram, server).is_ok() {
                sent_bytes += datagram.len() as u64;
            }
            sent += 1;
            next = (next + 1) % sockets.len();
        }
        if drained_at.elapsed() >= Duration::from_millis(250) {
            drain(&sockets, &mut back, &mut back_bytes, &mut buf);
            drained_at = Instant::now();
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    // What the server still sends (C ENet resends VERIFY_CONNECT for up to 31.5 s; the
    // orchestrator keeps the server running that long) arrives until we are stopped.
    let linger = Instant::now() + Duration::from_secs(35);
    while Instant::now() < linger {
        drain(&sockets, &mut back, &mut back_bytes, &mut buf);
        println!("BACK sent_bytes={sent_bytes} back={back} back_bytes={back_bytes}");
        io::stdout().flush()?;
        std::thread::sleep(Duration::from_millis(500));
    }
    println!("RESULT sent={sent} sent_bytes={sent_bytes} back={back} back_bytes={back_bytes}");
    Ok(())
}

/// Role `join`: one rust_enet client connects (data: a Godot-like id) and reports how long the
/// handshake took, -1 if it failed or took longer than `timeout` s; then it leaves at once.
pub fn join(port: u16, timeout: f64) -> io::Result<()> {
    let mut host = UdpHost::bind(BindAddress::Ip(LOOPBACK), 0, HostConfig::default())?;
    let start = Instant::now();
    let peer = host
        .connect(SocketAddr::new(LOOPBACK, port), 2, 0x1234_5678)
        .map_err(io::Error::other)?;
    let hard = start + Duration::from_secs_f64(timeout);
    let mut took: i64 = -1;
    while Instant::now() < hard {
        match host.service(Duration::from_millis(1))? {
            Some(Event::Connect { .. }) => {
                took = start.elapsed().as_millis() as i64;
                break;
            }
            Some(Event::Disconnect { .. }) => break,
            _ => {}
        }
    }
    if took >= 0 {
        host.host_mut().disconnect_now(peer, 0);
        host.flush()?;
    }
    println!("RESULT join_ms={took}");
    Ok(())
}

/// A started role process and the lines of its standard output.
struct Proc {
    child: Child,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Proc {
    fn start(exe: &Path, args: &[String]) -> io::Result<Proc> {
        let (child, lines) = crate::process::spawn(exe, args, &[])?;
        Ok(Proc { child, lines })
    }

    /// The first line starting with `prefix`, waiting up to `wait`.
    fn line(&self, prefix: &str, wait: Duration) -> Option<String> {
        let deadline = Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self.lines.recv_timeout(left).ok()?;
            if let Some(rest) = line.strip_prefix(prefix) {
                return Some(rest.trim().to_owned());
            }
        }
    }

    /// The last line starting with `prefix` received so far.
    fn latest(&self, prefix: &str) -> Option<String> {
        self.lines
            .try_iter()
            .filter_map(|l| l.strip_prefix(prefix).map(|r| r.trim().to_owned()))
            .last()
    }

    fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn field(line: &str, key: &str) -> Option<f64> {
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
        .and_then(|v| v.parse().ok())
}

/// The established players: rust_enet client hosts in this process.
struct Players {
    hosts: Vec<(UdpHost, PeerId)>,
    start: Instant,
    /// Per phase (0 baseline, 1 flood): reliable messages sent, echoes back, RTTs in us.
    sent: [u64; 2],
    echoed: [u64; 2],
    rtt: [Vec<i64>; 2],
    disconnected: usize,
}

impl Players {
    fn connect(port: u16) -> io::Result<Players> {
        let mut hosts = Vec::new();
        for i in 0..PLAYERS {
            let mut host = UdpHost::bind(BindAddress::Ip(LOOPBACK), 0, HostConfig::default())?;
            let peer = host
                .connect(SocketAddr::new(LOOPBACK, port), 2, 100 + i as u32)
                .map_err(io::Error::other)?;
            hosts.push((host, peer));
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut connected = [false; PLAYERS];
        while connected.iter().any(|c| !c) {
            if Instant::now() > deadline {
                return Err(io::Error::other("the players did not connect"));
            }
            for (i, (host, _)) in hosts.iter_mut().enumerate() {
                if let Some(Event::Connect { .. }) = host.service(Duration::ZERO)? {
                    connected[i] = true;
                }
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        Ok(Players {
            hosts,
            start: Instant::now(),
            sent: [0; 2],
            echoed: [0; 2],
            rtt: [Vec::new(), Vec::new()],
            disconnected: 0,
        })
    }

    /// Services every host until `until`, sending each tick while `sending`; `phase` labels
    /// what is sent now.
    fn run(&mut self, until: Instant, phase: usize, sending: bool) -> io::Result<()> {
        let mut next_tick = Instant::now();
        while Instant::now() < until {
            if sending && Instant::now() >= next_tick {
                next_tick += TICK;
                let stamp = self.start.elapsed().as_micros() as u64;
                for (host, peer) in &mut self.hosts {
                    let mut reliable = vec![0u8; 128];
                    reliable[..8].copy_from_slice(&stamp.to_be_bytes());
                    reliable[8] = phase as u8;
                    if host
                        .host_mut()
                        .send(*peer, CHANNEL_RELIABLE, Packet::reliable(reliable))
                        .is_ok()
                    {
                        self.sent[phase] += 1;
                    }
                    for _ in 0..3 {
                        let _ = host.host_mut().send(
                            *peer,
                            CHANNEL_UNRELIABLE,
                            Packet::unreliable(vec![0u8; 64]),
                        );
                    }
                }
            }
            for (host, _) in &mut self.hosts {
                while let Some(event) = host.service(Duration::ZERO)? {
                    match event {
                        Event::Receive { packet, .. } if packet.data.len() >= 9 => {
                            let mut b = [0u8; 8];
                            b.copy_from_slice(&packet.data[..8]);
                            let sent_us = u64::from_be_bytes(b);
                            let p = usize::from(packet.data[8].min(1));
                            self.echoed[p] += 1;
                            let now = self.start.elapsed().as_micros() as u64;
                            self.rtt[p].push(now.saturating_sub(sent_us) as i64);
                        }
                        Event::Disconnect { .. } => self.disconnected += 1,
                        _ => {}
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        Ok(())
    }

    fn leave(&mut self) -> io::Result<()> {
        for (host, peer) in &mut self.hosts {
            host.host_mut().disconnect_now(*peer, 0);
            host.flush()?;
        }
        Ok(())
    }

    fn summary(&mut self, phase: usize) -> (f64, f64) {
        self.rtt[phase].sort_unstable();
        let delivered = self.echoed[phase] as f64 / self.sent[phase].max(1) as f64;
        (
            delivered,
            percentile(&self.rtt[phase], 99.0) as f64 / 1000.0,
        )
    }
}

/// What one server kind did under the flood.
struct Outcome {
    kind: &'static str,
    baseline: (f64, f64),
    flood: (f64, f64),
    players_dropped: usize,
    joins: Vec<(&'static str, i64)>,
    cpu_s_per_s: f64,
    hwm_mib: f64,
    spoof_in: u64,
    spoof_back: u64,
}

/// How long a server process runs at most for a flood of `seconds`.
fn server_seconds(seconds: f64) -> f64 {
    BASELINE.as_secs_f64() + seconds + 40.0
}

/// `server` is the command that starts the server (it prints `PORT <n>` first).
fn run_server(
    kind: &'static str,
    server: &[String],
    own_exe: &Path,
    c_exe: &Path,
    seconds: f64,
    sources: u32,
    rate: f64,
) -> io::Result<Outcome> {
    let (exe, args) = server
        .split_first()
        .ok_or_else(|| io::Error::other("no server command"))?;
    let server = Proc::start(Path::new(exe), args)?;
    let pid = server.child.id();
    let port: u16 = server
        .line("PORT", Duration::from_secs(10))
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| io::Error::other("the server printed no port"))?;
    let mut players = Players::connect(port)?;
    players.run(Instant::now() + BASELINE, 0, true)?;
    // Two source processes, each with half the addresses and half the rate.
    let half = sources / 2;
    let mut floods = Vec::new();
    for (first, count) in [(0, half), (half, sources - half)] {
        let args: Vec<String> = vec![
            "spoof-sources".into(),
            first.to_string(),
            count.to_string(),
            (rate / 2.0).to_string(),
            seconds.to_string(),
            port.to_string(),
        ];
        let p = Proc::start(own_exe, &args)?;
        p.line("READY", Duration::from_secs(60))
            .ok_or_else(|| io::Error::other("a spoof source did not start"))?;
        floods.push(p);
    }
    let flood_start = Instant::now();
    let cpu0 = cpu_ns_of(&pid.to_string());
    let flood_end = flood_start + Duration::from_secs_f64(seconds);
    // Joiners every 3 s from 1 s on, rust_enet and C ENet in turn, while the players play.
    let mut joins = Vec::new();
    let mut next_join = flood_start + Duration::from_secs(1);
    let mut pending: Vec<(&'static str, Proc)> = Vec::new();
    let mut started = 0usize;
    while Instant::now() < flood_end {
        let slice = (Instant::now() + Duration::from_millis(100)).min(flood_end);
        players.run(slice, 1, true)?;
        if Instant::now() >= next_join && next_join + Duration::from_secs(2) < flood_end {
            let (label, exe) = if started % 2 == 0 {
                ("rust_enet", own_exe)
            } else {
                ("C ENet", c_exe)
            };
            started += 1;
            let args = vec!["join".into(), port.to_string(), JOIN_TIMEOUT_S.to_string()];
            pending.push((label, Proc::start(exe, &args)?));
            next_join += Duration::from_secs(3);
        }
        pending.retain_mut(|(label, p)| match p.latest("RESULT") {
            Some(line) => {
                joins.push((*label, field(&line, "join_ms").unwrap_or(-1.0) as i64));
                false
            }
            None => true,
        });
    }
    let cpu = cpu_ns_of(&pid.to_string()).saturating_sub(cpu0) as f64 / 1e9 / seconds;
    // Outstanding echoes of the flood phase, then the joiners still running.
    players.run(Instant::now() + Duration::from_secs(2), 1, false)?;
    for (label, p) in pending {
        let line = p.line("RESULT", Duration::from_secs_f64(JOIN_TIMEOUT_S + 2.0));
        joins.push((
            label,
            line.and_then(|l| field(&l, "join_ms")).unwrap_or(-1.0) as i64,
        ));
        p.stop();
    }
    // Let whatever the server resends to the spoofed addresses arrive (C ENet: up to 31.5 s).
    players.run(Instant::now() + Duration::from_secs(33), 1, false)?;
    // What each source sent and got back, as it last reported.
    let (mut spoof_in, mut spoof_back) = (0u64, 0u64);
    for p in floods {
        if let Some(line) = p.latest("BACK") {
            spoof_in += field(&line, "sent_bytes").unwrap_or(0.0) as u64;
            spoof_back += field(&line, "back_bytes").unwrap_or(0.0) as u64;
        }
        p.stop();
    }
    let hwm = status_kib(&pid.to_string(), "VmHWM") as f64 / 1024.0;
    let baseline = players.summary(0);
    let flood = players.summary(1);
    let dropped = players.disconnected;
    players.leave()?;
    let _ = server.line("RESULT", Duration::from_secs(5));
    server.stop();
    Ok(Outcome {
        kind,
        baseline,
        flood,
        players_dropped: dropped,
        joins,
        cpu_s_per_s: cpu,
        hwm_mib: hwm,
        spoof_in,
        spoof_back,
    })
}

/// `flood-bench [--seconds S] [--sources N] [--rate R] [--godot PROJECT GODOT_COMMAND...]`:
/// runs the flood against a rust_enet, a C ENet and, with `--godot` (last; PROJECT is the test
/// project as that Godot sees it), a Godot built-in server, one after the other, and prints a
/// table.
pub fn run(args: &[String]) -> io::Result<()> {
    let mut seconds = 30.0;
    let mut sources = 20_000u32;
    let mut rate = 2000.0;
    let mut godot: Option<(String, Vec<String>)> = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--godot" {
            let project = it.next().cloned().unwrap_or_default();
            godot = Some((project, it.by_ref().cloned().collect()));
            break;
        }
        let v = it.next().and_then(|v| v.parse::<f64>().ok());
        match (a.as_str(), v) {
            ("--seconds", Some(v)) => seconds = v,
            ("--sources", Some(v)) => sources = v as u32,
            ("--rate", Some(v)) => rate = v,
            _ => return Err(io::Error::other(format!("flood-bench: bad argument {a}"))),
        }
    }
    let own = std::env::current_exe()?;
    let c = PathBuf::from(env!("C_ENET_BENCH"));
    let total = server_seconds(seconds).to_string();
    let role = |exe: &Path| -> Vec<String> {
        vec![
            exe.display().to_string(),
            "fanin-server".into(),
            "16".into(),
            total.clone(),
        ]
    };
    let mut servers: Vec<(&'static str, Vec<String>)> =
        vec![("rust_enet", role(&own)), ("C ENet 1.3.17", role(&c))];
    if let Some((project, command)) = godot {
        let mut cmd = command;
        cmd.extend(
            [
                "--headless",
                "--path",
                &project,
                "res://bench/flood_server.tscn",
                "--",
                &total,
            ]
            .map(String::from),
        );
        servers.push(("Godot built-in", cmd));
    }
    println!(
        "handshake flood: 32-slot server, {PLAYERS} players (20 reliable + 60 unreliable msgs/s \
         each), {rate} spoofed CONNECTs/s from {sources} addresses for {seconds} s"
    );
    let mut outcomes = Vec::new();
    for (kind, command) in &servers {
        eprintln!("flood-bench: {kind} server");
        outcomes.push(run_server(kind, command, &own, &c, seconds, sources, rate)?);
    }
    println!(
        "{:<14} {:>17} {:>17} {:>8} {:>22} {:>9} {:>8} {:>12}",
        "server",
        "echoes before",
        "echoes during",
        "dropped",
        "joins ok (max ms)",
        "CPU s/s",
        "RSS MiB",
        "bytes back/in"
    );
    for o in &outcomes {
        let ok: Vec<i64> = o.joins.iter().map(|j| j.1).filter(|&t| t >= 0).collect();
        let by_kind = |k: &str| {
            let all: Vec<i64> = o.joins.iter().filter(|j| j.0 == k).map(|j| j.1).collect();
            let good = all.iter().filter(|&&t| t >= 0).count();
            format!("{good}/{}", all.len())
        };
        println!(
            "{:<14} {:>7.4} p99 {:>4.1}ms {:>7.4} p99 {:>4.1}ms {:>8} {:>9} {:>5} ({:>4}) {:>9.3} {:>8.1} {:>12.3}",
            o.kind,
            o.baseline.0,
            o.baseline.1,
            o.flood.0,
            o.flood.1,
            o.players_dropped,
            format!("rust {}", by_kind("rust_enet")),
            format!("C {}", by_kind("C ENet")),
            ok.iter().max().copied().unwrap_or(-1),
            o.cpu_s_per_s,
            o.hwm_mib,
            o.spoof_back as f64 / o.spoof_in.max(1) as f64,
        );
    }
    Ok(())
}
