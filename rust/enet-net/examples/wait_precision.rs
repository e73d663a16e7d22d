//! How precisely `UdpHost::service(timeout)` returns when nothing arrives, and what the waiting
//! costs in CPU: a connected, quiet client on loopback services with 1, 2 and 5 ms timeouts
//! (its server is serviced from another thread, so pings are answered), for each
//! `WaitPrecision`.
//!
//!     cargo run --release -p rust_enet_net --example wait_precision
//!
//! Prints, per setting and timeout, the median and 99th percentile of how long a call took
//! beyond its timeout, and the process's CPU time per second of waiting (Linux: /proc).

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rust_enet_net::{BindAddress, UdpHost, WaitPrecision};
use rust_enet_proto::{Event, HostConfig};

const CALLS: usize = 2_000;

fn main() {
    let loopback = BindAddress::Ip(IpAddr::V4(Ipv4Addr::LOCALHOST));
    let mut server = UdpHost::bind(loopback, 0, HostConfig::default()).expect("server");
    let mut client = UdpHost::bind(loopback, 0, HostConfig::default()).expect("client");
    client.connect(server.local_addr(), 2, 0).expect("connect");
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut connected = false;
    while !connected && Instant::now() < deadline {
        if let Some(Event::Connect { .. }) = client.service(Duration::from_millis(1)).unwrap() {
            connected = true;
        }
        server.service(Duration::ZERO).unwrap();
    }
    assert!(connected, "no connection on loopback");
    let stop = Arc::new(AtomicBool::new(false));
    let serving = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let _ = server.service(Duration::from_millis(10));
            }
        })
    };
    println!(
        "{:<8} {:>7} {:>12} {:>12} {:>14}",
        "setting", "timeout", "median over", "p99 over", "CPU ms/s"
    );
    for (name, precision) in [
        ("coarse", WaitPrecision::Coarse),
        ("auto", WaitPrecision::Auto),
        ("precise", WaitPrecision::Precise),
    ] {
        client.set_wait_precision(precision);
        for timeout_ms in [1u64, 2, 5] {
            let timeout = Duration::from_millis(timeout_ms);
            let calls = CALLS / timeout_ms as usize;
            let mut over = Vec::with_capacity(calls);
            let cpu_before = cpu_time();
            let started = Instant::now();
            for _ in 0..calls {
                let start = Instant::now();
                let _ = client.service(timeout).unwrap();
                over.push(start.elapsed().saturating_sub(timeout));
            }
            let wall = started.elapsed().as_secs_f64();
            let cpu = cpu_time()
                .zip(cpu_before)
                .map(|(after, before)| (after - before).as_secs_f64() * 1000.0 / wall);
            over.sort();
            println!(
                "{:<8} {:>5} ms {:>9.0} µs {:>9.0} µs {:>14}",
                name,
                timeout_ms,
                micros(over[over.len() / 2]),
                micros(over[over.len() * 99 / 100]),
                cpu.map_or("-".to_owned(), |ms| format!("{ms:.1}")),
            );
        }
    }
    stop.store(true, Ordering::Relaxed);
    serving.join().unwrap();
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// User + system CPU time of the whole process (all threads), from /proc/self/stat.
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit(')').next()?.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // USER_HZ is 100 on every Linux architecture this runs on.
    Some(Duration::from_millis(ticks * 10))
}
