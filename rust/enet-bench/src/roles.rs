//! The rust_enet side of every benchmark role, one process each, mirroring `c/enet_bench.c`
//! line for line: same message sizes, channels, service pattern, deadlines and output.
//!
//! Service pattern (the C side does the same with `enet_host_service`/`check_events`):
//! - servers and paced clients: one [`UdpHost::service`] with a 1 ms wait per loop iteration
//!   (returns early on an event), then [`UdpHost::check_events`] until empty;
//! - the throughput sender tops its backlog up, then services the same way (1 ms wait);
//! - the flood sender (unsequenced rate) queues 64 messages, `service(0)`, drains;
//! - processes with several client hosts (fan-in, idle on many sockets) sweep them: each serviced
//!   with a zero timeout, then a sleep (fan-in 1 ms, idle 20 ms); with one host, a 1 ms wait;
//! - replies are queued with `send` and leave with the next service call (no flush).
//!
//! Servers bind 127.0.0.1 on an ephemeral port and print `PORT <n>` first. Every role ends with
//! one `RESULT key=value ...` line and stops by itself (bounded loops and hard deadlines).
//!
//! Here: the constants and host helpers every role shares, latency, bulk and empty service;
//! [`stream`]: the streaming roles (throughput, flood); [`many`]: the roles with many
//! connections (the echo server, fan-in and idle scale).

mod many;
mod stream;

pub use many::{FANIN_HOSTS, echo_server, fanin_clients, idle_clients, idle_server};
pub use stream::{flood_client, flood_server, tput_client, tput_server};

use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use rust_enet_net::{BindAddress, ReceiveCoalescing, UdpHost, WaitPrecision};
use rust_enet_proto::{Event, HostConfig, Packet, PeerId};

use crate::sys::{cpu_ns, percentile, vm_hwm_kib};

const CHANNEL_UNRELIABLE: u8 = 0;
const CHANNEL_RELIABLE: u8 = 1;
const CHANNELS: usize = 2;
/// Hard limit on any role's run time beyond its nominal length.
const GRACE: Duration = Duration::from_secs(20);
const WAIT: Duration = Duration::from_millis(1);

/// Throughput: message size and the most messages queued or unacknowledged at the sender
/// (scenario 1; 1b keeps [`TPUT_DEEP_BACKLOG`]).
pub const TPUT_MESSAGE: usize = 1024;
pub const TPUT_BACKLOG: usize = 256;
/// Scenario 1b: 4 MiB queued or unacknowledged, so that the sender's 1 ms service wait no longer
/// caps the rate (256 messages per wait are at most ~262 MB/s).
pub const TPUT_DEEP_BACKLOG: usize = 4096;
/// Fan-in: message sizes, send rate and the share of reliable messages.
pub const FANIN_UNRELIABLE: usize = 64;
pub const FANIN_RELIABLE: usize = 128;
const FANIN_TICK_HZ: u64 = 60;
const FANIN_RELIABLE_EVERY: u32 = 6;
/// Latency: ping size.
pub const PING_SIZE: usize = 32;
/// Unreliable flood: message size and messages queued per service call.
pub const FLOOD_MESSAGE: usize = 64;
const FLOOD_BATCH: usize = 64;
/// Handshakes a client process keeps open at once while connecting many peers.
const CONNECT_PENDING: usize = 64;
/// Sleep after each sweep of an idle client process with many hosts: with 4000 zero-timeout
/// services per sweep, every host is serviced every few tens of ms, often enough to answer
/// ENet's pings (every 500 ms).
const IDLE_SWEEP_PAUSE: Duration = Duration::from_millis(20);

type Result<T = ()> = io::Result<T>;

fn loopback() -> IpAddr {
    IpAddr::V4(Ipv4Addr::LOCALHOST)
}

/// `UdpHost::set_wait_precision(Precise)` for every host of this process when the
/// orchestrator's `--precise-waits` set `RUST_ENET_BENCH_PRECISE_WAITS`, otherwise the default
/// (`Auto`); [`ReceiveCoalescing::OFF`] when `--no-coalescing` set
/// `RUST_ENET_BENCH_NO_COALESCING`, otherwise the default.
fn configure(host: &mut UdpHost) {
    if std::env::var_os("RUST_ENET_BENCH_PRECISE_WAITS").is_some() {
        host.set_wait_precision(WaitPrecision::Precise);
    }
    if std::env::var_os("RUST_ENET_BENCH_NO_COALESCING").is_some() {
        host.set_receive_coalescing(ReceiveCoalescing::OFF);
    }
}

/// A server host on an ephemeral loopback port, announced as `PORT <n>`.
fn server_host(peer_limit: usize) -> Result<UdpHost> {
    let host = client_host(peer_limit)?;
    println!("PORT {}", host.local_addr().port());
    io::stdout().flush()?;
    Ok(host)
}

fn client_host(peer_limit: usize) -> Result<UdpHost> {
    let config = HostConfig {
        peer_limit,
        ..HostConfig::default()
    };
    let mut host = UdpHost::bind(BindAddress::Ip(loopback()), 0, config)?;
    configure(&mut host);
    Ok(host)
}

/// A one-slot client host with a connection to the bench server on `port` under way.
fn single_client(port: u16) -> Result<(UdpHost, PeerId)> {
    let mut host = client_host(1)?;
    let peer = host
        .connect(server_addr(port), CHANNELS, 0)
        .map_err(connect_error)?;
    Ok((host, peer))
}

fn server_addr(port: u16) -> SocketAddr {
    SocketAddr::new(loopback(), port)
}

fn connect_error(err: rust_enet_proto::ConnectError) -> io::Error {
    io::Error::other(err)
}

/// One `service(wait)`, then every queued event, each passed to `f`.
fn service_drain(
    host: &mut UdpHost,
    wait: Duration,
    mut f: impl FnMut(&mut UdpHost, Event),
) -> Result {
    if let Some(event) = host.service(wait)? {
        f(host, event);
        while let Some(event) = host.check_events() {
            f(host, event);
        }
    }
    Ok(())
}

/// Ends every connection of `host` at once and sends the DISCONNECTs, so the remote side of a
/// measurement stops without waiting for a timeout.
fn disconnect_all_now(host: &mut UdpHost) -> Result {
    let peers: Vec<PeerId> = host.host().peers().map(|(id, _)| id).collect();
    for id in peers {
        host.host_mut().disconnect_now(id, 0);
    }
    host.flush()
}

/// Disconnects gracefully and services until the server confirms it (at most 1 s).
fn leave_server(host: &mut UdpHost, peer: PeerId) -> Result {
    host.host_mut().disconnect(peer, 0);
    let until = Instant::now() + Duration::from_secs(1);
    let mut gone = false;
    while !gone && Instant::now() < until {
        service_drain(host, WAIT, |_, event| {
            gone |= matches!(event, Event::Disconnect { .. });
        })?;
    }
    Ok(())
}

fn us_since(t: Instant) -> i64 {
    t.elapsed().as_micros() as i64
}

// ---- 4. latency --------------------------------------------------------------------------------

pub fn lat_client(port: u16, secs: f64) -> Result {
    let (mut host, peer) = single_client(port)?;
    let ping = vec![0x11u8; PING_SIZE];
    let length = Duration::from_secs_f64(secs);
    let hard = Instant::now() + length + GRACE;
    let mut begin: Option<Instant> = None;
    let mut sent_at: Option<Instant> = None;
    let mut rtt = Vec::new();
    while Instant::now() < hard && begin.is_none_or(|b| b.elapsed() < length) {
        service_drain(&mut host, WAIT, |_, event| match event {
            // Let the handshake's acknowledgements settle, then start.
            Event::Connect { .. } => begin = Some(Instant::now() + Duration::from_millis(200)),
            Event::Receive { .. } => {
                if let Some(t) = sent_at.take() {
                    rtt.push(us_since(t));
                }
            }
            Event::Disconnect { .. } => {}
        })?;
        if begin.is_some_and(|b| Instant::now() >= b) && sent_at.is_none() {
            sent_at = Some(Instant::now());
            host.host_mut()
                .send(peer, CHANNEL_RELIABLE, Packet::reliable(ping.clone()))
                .map_err(io::Error::other)?;
        }
    }
    leave_server(&mut host, peer)?;
    rtt.sort_unstable();
    println!(
        "RESULT samples={} p50_us={} p99_us={} hwm_kib={}",
        rtt.len(),
        percentile(&rtt, 50.0),
        percentile(&rtt, 99.0),
        vm_hwm_kib()
    );
    Ok(())
}

// ---- 5. bulk -----------------------------------------------------------------------------------

pub fn bulk_server() -> Result {
    let mut host = server_host(4)?;
    let hard = Instant::now() + Duration::from_secs(120);
    let mut leave: Option<Instant> = None;
    let (mut got, mut intact) = (0usize, false);
    while Instant::now() < hard && leave.is_none_or(|t| Instant::now() < t) {
        service_drain(&mut host, WAIT, |host, event| match event {
            Event::Receive { peer, packet, .. } => {
                let data = &packet.data;
                got = data.len();
                intact = got > 0 && data[0] == 0x42 && data[got - 1] == (got - 1) as u8;
                drop(packet);
                let _ = host
                    .host_mut()
                    .send(peer, CHANNEL_RELIABLE, Packet::reliable(vec![1u8]));
            }
            Event::Disconnect { .. } if got > 0 => leave = Some(Instant::now()),
            _ => {}
        })?;
        if got > 0 && leave.is_none() {
            leave = Some(Instant::now() + Duration::from_secs(2));
        }
    }
    println!(
        "RESULT bytes={got} intact={} hwm_kib={}",
        u8::from(intact),
        vm_hwm_kib()
    );
    Ok(())
}

pub fn bulk_client(port: u16, bytes: usize) -> Result {
    let (mut host, peer) = single_client(port)?;
    let hard = Instant::now() + Duration::from_secs(120);
    let (mut sent_at, mut done_at): (Option<Instant>, Option<Instant>) = (None, None);
    let mut failed = None;
    while done_at.is_none() && Instant::now() < hard {
        service_drain(&mut host, WAIT, |host, event| match event {
            Event::Connect { .. } => {
                let mut data: Vec<u8> = (0..bytes).map(|i| i as u8).collect();
                data[0] = 0x42;
                sent_at = Some(Instant::now());
                if let Err(err) =
                    host.host_mut()
                        .send(peer, CHANNEL_RELIABLE, Packet::reliable(data))
                {
                    failed = Some(err);
                }
            }
            Event::Receive { .. } => done_at = Some(Instant::now()),
            Event::Disconnect { .. } => {}
        })?;
        if let Some(err) = failed {
            return Err(io::Error::other(err));
        }
    }
    leave_server(&mut host, peer)?;
    let time_us = match (sent_at, done_at) {
        (Some(s), Some(d)) => d.duration_since(s).as_micros() as i64,
        _ => 0,
    };
    println!(
        "RESULT delivered={} time_us={time_us} hwm_kib={}",
        u8::from(done_at.is_some()),
        vm_hwm_kib()
    );
    Ok(())
}

/// `n` hosts without peers, each serviced with a zero timeout in turn, for `secs`: what a
/// service call that finds nothing to do costs (one `recvmmsg` that says "nothing waiting", plus
/// the library's own work). No sleep between sweeps: the loop measures the calls only.
pub fn empty_service(n: usize, secs: f64) -> Result {
    let mut hosts = (0..n).map(|_| client_host(1)).collect::<Result<Vec<_>>>()?;
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(secs);
    let cpu0 = cpu_ns();
    let mut services = 0u64;
    while Instant::now() < end {
        for host in &mut hosts {
            if host.service(Duration::ZERO)?.is_some() {
                return Err(io::Error::other("unexpected event"));
            }
        }
        services += n as u64;
    }
    let cpu = cpu_ns() - cpu0;
    println!(
        "RESULT services={services} wall_us={} cpu_ns={cpu}",
        start.elapsed().as_micros()
    );
    Ok(())
}
