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

use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use rust_enet_net::{BindAddress, ReceiveCoalescing, UdpHost, WaitPrecision};
use rust_enet_proto::{Event, HostConfig, Packet, PacketFlags, PeerId};

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

fn server_host(peer_limit: usize) -> Result<UdpHost> {
    let config = HostConfig {
        peer_limit,
        ..HostConfig::default()
    };
    let mut host = UdpHost::bind(BindAddress::Ip(loopback()), 0, config)?;
    configure(&mut host);
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

/// Datagrams the core sent and received since `since` (an earlier reading of the same counters).
fn datagrams(host: &UdpHost, since: (u64, u64)) -> (u64, u64) {
    let stats = host.host().statistics();
    (
        stats.total_sent_packets - since.0,
        stats.total_received_packets - since.1,
    )
}

/// The share of a server's measured window during which rust_enet's adaptive receive
/// coalescing ([`UdpHost::is_coalescing_receives`]) was on, weighted by time.
#[derive(Default)]
struct CoalescingShare {
    on: Duration,
    all: Duration,
}

impl CoalescingShare {
    /// [`service_drain`] with a 1 ms wait; its time counts (when `measuring`) as on or off by
    /// the state at its start.
    fn service(
        &mut self,
        host: &mut UdpHost,
        measuring: bool,
        f: impl FnMut(&mut UdpHost, Event),
    ) -> Result {
        let on = host.is_coalescing_receives();
        let t = Instant::now();
        service_drain(host, WAIT, f)?;
        if measuring {
            let spent = t.elapsed();
            self.all += spent;
            if on {
                self.on += spent;
            }
        }
        Ok(())
    }

    fn percent(&self) -> f64 {
        100.0 * self.on.as_secs_f64() / self.all.as_secs_f64().max(1e-9)
    }
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

fn us_since(t: Instant) -> i64 {
    t.elapsed().as_micros() as i64
}

// ---- 1. reliable throughput ------------------------------------------------------------------

pub fn tput_server(secs: f64) -> Result {
    let mut host = server_host(4)?;
    let window = Duration::from_secs_f64(secs);
    let hard = Instant::now() + window + GRACE;
    let mut start: Option<(Instant, u64)> = None;
    let (mut bytes, mut messages) = (0u64, 0u64);
    let mut done = false;
    while !done && Instant::now() < hard {
        if start.is_some_and(|(t, _)| t.elapsed() >= window) {
            break;
        }
        service_drain(&mut host, WAIT, |_, event| match event {
            Event::Receive { packet, .. } => {
                if start.is_none() {
                    start = Some((Instant::now(), cpu_ns()));
                } else {
                    bytes += packet.len() as u64;
                    messages += 1;
                }
            }
            Event::Disconnect { .. } if start.is_some() => done = true,
            _ => {}
        })?;
    }
    let (wall, cpu) = start.map_or((0, 0), |(t, c)| (us_since(t), cpu_ns() - c));
    disconnect_all_now(&mut host)?;
    println!(
        "RESULT bytes={bytes} messages={messages} wall_us={wall} cpu_ns={cpu} hwm_kib={}",
        vm_hwm_kib()
    );
    Ok(())
}

pub fn tput_client(port: u16, secs: f64, backlog: usize) -> Result {
    let (mut host, peer) = single_client(port)?;
    let payload = Packet::reliable(vec![0xA5u8; TPUT_MESSAGE]);
    let hard = Instant::now() + Duration::from_secs_f64(secs) + GRACE;
    let (mut connected, mut done, mut sent) = (false, false, 0u64);
    while !done && Instant::now() < hard {
        if connected {
            loop {
                let queued = host.host().peer(peer).map_or(usize::MAX, |p| {
                    p.queued_commands() + p.unacknowledged_commands()
                });
                if queued >= backlog {
                    break;
                }
                // A fresh packet per message, as an application hands over new data each time.
                let packet = Packet::reliable(payload.data.to_vec());
                if host
                    .host_mut()
                    .send(peer, CHANNEL_RELIABLE, packet)
                    .is_err()
                {
                    break;
                }
                sent += 1;
            }
        }
        service_drain(&mut host, WAIT, |_, event| match event {
            Event::Connect { .. } => connected = true,
            Event::Disconnect { .. } => done = true,
            Event::Receive { .. } => {}
        })?;
    }
    println!("RESULT sent={sent} hwm_kib={}", vm_hwm_kib());
    Ok(())
}

// ---- 2. fan-in and the echo server -----------------------------------------------------------

/// Echo server for fan-in (`n` peers, CPU measured over `secs` once all are connected) and for
/// latency (`n` = 1, no window). Reliable packets go back unchanged on their channel.
pub fn echo_server(n: usize, secs: f64) -> Result {
    let mut host = server_host(n + 16)?;
    let window = Duration::from_secs_f64(secs);
    let hard = Instant::now() + window + Duration::from_secs(60);
    let (mut connected, mut disconnected) = (0usize, 0usize);
    let (mut unreliable, mut reliable) = (0u64, 0u64);
    let mut window_start: Option<(Instant, u64, (u64, u64))> = None;
    let mut measured: Option<(i64, u64, (u64, u64))> = None;
    let mut coalescing = CoalescingShare::default();
    while Instant::now() < hard {
        if let (Some((t, c, d)), None) = (window_start, measured) {
            if t.elapsed() >= window {
                measured = Some((us_since(t), cpu_ns() - c, datagrams(&host, d)));
            }
        }
        if connected > 0 && disconnected == connected {
            break;
        }
        let measuring = window_start.is_some() && measured.is_none();
        coalescing.service(&mut host, measuring, |host, event| match event {
            Event::Connect { .. } => {
                connected += 1;
                if connected == n && n > 1 {
                    window_start = Some((Instant::now(), cpu_ns(), datagrams(host, (0, 0))));
                }
            }
            Event::Disconnect { .. } => disconnected += 1,
            Event::Receive {
                peer,
                channel,
                packet,
            } => {
                if packet.flags.contains(PacketFlags::RELIABLE) {
                    reliable += 1;
                    let _ = host.host_mut().send(peer, channel, packet);
                } else {
                    unreliable += 1;
                }
            }
        })?;
    }
    let (wall, cpu, (out, inc)) = measured
        .or_else(|| window_start.map(|(t, c, d)| (us_since(t), cpu_ns() - c, datagrams(&host, d))))
        .unwrap_or((0, 0, (0, 0)));
    println!(
        "RESULT connected={connected} unreliable={unreliable} reliable={reliable} wall_us={wall} \
         cpu_ns={cpu} dgrams_out={out} dgrams_in={inc} coalescing_pct={:.1} hwm_kib={}",
        coalescing.percent(),
        vm_hwm_kib()
    );
    Ok(())
}

/// The client hosts (sockets) of a process with many connections.
struct ClientHosts {
    hosts: Vec<UdpHost>,
    /// (host index, peer) of every connection, in order.
    peers: Vec<(usize, PeerId)>,
    /// Connections that completed their handshake.
    connected: usize,
}

impl ClientHosts {
    /// Client hosts for `n` connections to the bench server on `port`, spread evenly over
    /// `hosts_n` hosts (connection *i* on host `i * hosts_n / n`), connected with at most
    /// [`CONNECT_PENDING`] handshakes open at a time, until all are or `deadline` passes.
    fn connect(
        port: u16,
        n: usize,
        hosts_n: usize,
        deadline: Instant,
        mut on_receive: impl FnMut(&Packet),
    ) -> Result<ClientHosts> {
        let hosts_n = hosts_n.clamp(1, n.max(1));
        let owner: Vec<usize> = (0..hosts_n)
            .flat_map(|h| std::iter::repeat_n(h, (h + 1) * n / hosts_n - h * n / hosts_n))
            .collect();
        let hosts = (0..hosts_n)
            .map(|h| client_host(owner.iter().filter(|&&o| o == h).count()))
            .collect::<Result<Vec<_>>>()?;
        let mut clients = ClientHosts {
            hosts,
            peers: Vec::with_capacity(n),
            connected: 0,
        };
        while clients.connected < n && Instant::now() < deadline {
            while clients.peers.len() < n
                && clients.peers.len() - clients.connected < CONNECT_PENDING
            {
                let h = owner[clients.peers.len()];
                let id = clients.hosts[h]
                    .connect(server_addr(port), CHANNELS, clients.peers.len() as u32)
                    .map_err(connect_error)?;
                clients.peers.push((h, id));
            }
            let mut connected = 0;
            clients.sweep(WAIT, |event| match event {
                Event::Connect { .. } => connected += 1,
                Event::Receive { packet, .. } => on_receive(&packet),
                Event::Disconnect { .. } => {}
            })?;
            clients.connected += connected;
        }
        Ok(clients)
    }

    /// Services every host once, passing every event to `f`: one host with a 1 ms wait;
    /// several each with a zero timeout, then a `pause` sleep.
    fn sweep(&mut self, pause: Duration, mut f: impl FnMut(Event)) -> Result {
        if let [host] = self.hosts.as_mut_slice() {
            return service_drain(host, WAIT, |_, event| f(event));
        }
        for host in &mut self.hosts {
            service_drain(host, Duration::ZERO, |_, event| f(event))?;
        }
        std::thread::sleep(pause);
        Ok(())
    }
}

struct EchoLatency {
    origin: Instant,
    samples: Vec<i64>,
}

impl EchoLatency {
    fn record(&mut self, packet: &Packet) {
        if let Some(stamp) = packet.data.get(..8) {
            let stamp = i64::from_le_bytes(stamp.try_into().unwrap_or_default());
            self.samples.push(us_since(self.origin) - stamp);
        }
    }

    /// A fan-in client event: echoes are timed, disconnects counted in `gone`.
    fn on_event(&mut self, gone: &mut usize, event: Event) {
        match event {
            Event::Receive { packet, .. } => self.record(&packet),
            Event::Disconnect { .. } => *gone += 1,
            Event::Connect { .. } => {}
        }
    }
}

/// Scenario 2 spreads the fan-in clients over this many client hosts (sockets); 2b gives every
/// client its own host, as separate game clients have.
pub const FANIN_HOSTS: usize = 10;

/// `n` fan-in clients on `hosts_n` client hosts, swept with a zero timeout each, then a 1 ms
/// sleep.
pub fn fanin_clients(port: u16, n: usize, secs: f64, hosts_n: usize) -> Result {
    let mut latency = EchoLatency {
        origin: Instant::now(),
        samples: Vec::new(),
    };
    let mut clients = ClientHosts::connect(port, n, hosts_n, Instant::now() + GRACE, |p| {
        latency.record(p)
    })?;
    if clients.connected < n {
        return Err(io::Error::other("fan-in clients could not all connect"));
    }
    let unreliable = vec![0x55u8; FANIN_UNRELIABLE];
    let mut reliable = vec![0xAAu8; FANIN_RELIABLE];
    let tick = Duration::from_micros(1_000_000 / FANIN_TICK_HZ);
    let (start, cpu0) = (Instant::now(), cpu_ns());
    let end = start + Duration::from_secs_f64(secs);
    // Client i sends at start + i * tick / n + k * tick: spread over the tick, as real clients.
    let mut next: Vec<Instant> = (0..n).map(|i| start + tick * i as u32 / n as u32).collect();
    let mut count = vec![0u32; n];
    let (mut sent_u, mut sent_r) = (0u64, 0u64);
    let mut gone = 0;
    loop {
        let t = Instant::now();
        if t >= end {
            break;
        }
        for (i, &(h, peer)) in clients.peers.iter().enumerate() {
            while next[i] <= t && next[i] < end {
                let host = clients.hosts[h].host_mut();
                let packet = Packet::unreliable(unreliable.clone());
                if host.send(peer, CHANNEL_UNRELIABLE, packet).is_ok() {
                    sent_u += 1;
                }
                count[i] += 1;
                if count[i] % FANIN_RELIABLE_EVERY == 0 {
                    reliable[..8].copy_from_slice(&us_since(latency.origin).to_le_bytes());
                    let packet = Packet::reliable(reliable.clone());
                    if host.send(peer, CHANNEL_RELIABLE, packet).is_ok() {
                        sent_r += 1;
                    }
                }
                next[i] += tick;
            }
        }
        clients.sweep(WAIT, |e| latency.on_event(&mut gone, e))?;
    }
    let (wall, cpu) = (us_since(start), cpu_ns() - cpu0);
    // Collect the last echoes, then leave.
    let linger = Instant::now() + Duration::from_secs(1);
    while Instant::now() < linger {
        clients.sweep(WAIT, |e| latency.on_event(&mut gone, e))?;
    }
    for &(h, peer) in &clients.peers {
        clients.hosts[h].host_mut().disconnect(peer, 0);
    }
    let leave = Instant::now() + Duration::from_secs(2);
    gone = 0;
    while gone < n && Instant::now() < leave {
        clients.sweep(WAIT, |e| latency.on_event(&mut gone, e))?;
    }
    let echoes = latency.samples.len();
    latency.samples.sort_unstable();
    println!(
        "RESULT sent_unreliable={sent_u} sent_reliable={sent_r} echoes={echoes} p50_us={} \
         p99_us={} wall_us={wall} cpu_ns={cpu} hwm_kib={}",
        percentile(&latency.samples, 50.0),
        percentile(&latency.samples, 99.0),
        vm_hwm_kib()
    );
    Ok(())
}

// ---- 3. idle scale -----------------------------------------------------------------------------

pub fn idle_server(n: usize, secs: f64) -> Result {
    let mut host = server_host(n)?;
    let window = Duration::from_secs_f64(secs);
    let hard = Instant::now() + Duration::from_secs(120);
    let (mut connected, mut received) = (0usize, 0u64);
    let mut window_start: Option<(Instant, u64, (u64, u64))> = None;
    let mut coalescing = CoalescingShare::default();
    while Instant::now() < hard {
        if window_start.is_some_and(|(t, _, _)| t.elapsed() >= window) {
            break;
        }
        let measuring = window_start.is_some();
        coalescing.service(&mut host, measuring, |host, event| match event {
            Event::Connect { .. } => {
                connected += 1;
                if connected == n {
                    window_start = Some((Instant::now(), cpu_ns(), datagrams(host, (0, 0))));
                }
            }
            Event::Disconnect { .. } => connected -= 1,
            Event::Receive { .. } => received += 1,
        })?;
    }
    let (wall, cpu, (out, inc)) = window_start.map_or((0, 0, (0, 0)), |(t, c, d)| {
        (us_since(t), cpu_ns() - c, datagrams(&host, d))
    });
    println!(
        "RESULT connected={connected} received={received} wall_us={wall} cpu_ns={cpu} \
         dgrams_out={out} dgrams_in={inc} coalescing_pct={:.1} hwm_kib={}",
        coalescing.percent(),
        vm_hwm_kib()
    );
    Ok(())
}

/// `n` idle connections on `hosts_n` client hosts: one host waits 1 ms per service; several are
/// swept with a zero timeout each, then a [`IDLE_SWEEP_PAUSE`] sleep.
pub fn idle_clients(port: u16, n: usize, secs: f64, hosts_n: usize) -> Result {
    let t0 = Instant::now();
    let mut clients = ClientHosts::connect(port, n, hosts_n, t0 + Duration::from_secs(60), |_| {})?;
    let connect_us = us_since(t0);
    // Stay connected and idle (pings only) until the server has measured.
    let (start, cpu0) = (Instant::now(), cpu_ns());
    let end = start + Duration::from_secs_f64(secs) + Duration::from_millis(1500);
    let mut sweeps = 0u64;
    while Instant::now() < end {
        clients.sweep(IDLE_SWEEP_PAUSE, |_| {})?;
        sweeps += 1;
    }
    let (wall, cpu) = (us_since(start), cpu_ns() - cpu0);
    println!(
        "RESULT connected={} connect_us={connect_us} sweeps={sweeps} wall_us={wall} cpu_ns={cpu} \
         hwm_kib={}",
        clients.connected,
        vm_hwm_kib()
    );
    Ok(())
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
    host.host_mut().disconnect(peer, 0);
    let leave = Instant::now() + Duration::from_secs(1);
    let mut gone = false;
    while !gone && Instant::now() < leave {
        service_drain(&mut host, WAIT, |_, event| {
            gone |= matches!(event, Event::Disconnect { .. });
        })?;
    }
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
    host.host_mut().disconnect(peer, 0);
    let leave = Instant::now() + Duration::from_secs(1);
    let mut gone = false;
    while !gone && Instant::now() < leave {
        service_drain(&mut host, WAIT, |_, event| {
            gone |= matches!(event, Event::Disconnect { .. });
        })?;
    }
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

// ---- unreliable packet rate (for the raw-UDP ceiling) ------------------------------------------
// Unsequenced messages: see the C side for why a sequenced flood measures loss recovery instead.

pub fn flood_server(secs: f64) -> Result {
    let mut host = server_host(4)?;
    let window = Duration::from_secs_f64(secs);
    let hard = Instant::now() + window + GRACE;
    let mut start: Option<(Instant, u64)> = None;
    let mut messages = 0u64;
    while Instant::now() < hard {
        if start.is_some_and(|(t, _)| t.elapsed() >= window) {
            break;
        }
        service_drain(&mut host, WAIT, |_, event| {
            if let Event::Receive { .. } = event {
                if start.is_none() {
                    start = Some((Instant::now(), cpu_ns()));
                } else {
                    messages += 1;
                }
            }
        })?;
    }
    let (wall, cpu) = start.map_or((0, 0), |(t, c)| (us_since(t), cpu_ns() - c));
    disconnect_all_now(&mut host)?;
    println!(
        "RESULT messages={messages} wall_us={wall} cpu_ns={cpu} hwm_kib={}",
        vm_hwm_kib()
    );
    Ok(())
}

pub fn flood_client(port: u16, secs: f64) -> Result {
    let (mut host, peer) = single_client(port)?;
    let payload = vec![0x3Cu8; FLOOD_MESSAGE];
    let hard = Instant::now() + Duration::from_secs_f64(secs) + GRACE;
    let (mut connected, mut done, mut sent) = (false, false, 0u64);
    while !done && Instant::now() < hard {
        if connected {
            for _ in 0..FLOOD_BATCH {
                let packet = Packet::unsequenced(payload.clone());
                if host
                    .host_mut()
                    .send(peer, CHANNEL_UNRELIABLE, packet)
                    .is_err()
                {
                    break;
                }
                sent += 1;
            }
        }
        let wait = if connected { Duration::ZERO } else { WAIT };
        service_drain(&mut host, wait, |_, event| match event {
            Event::Connect { .. } => connected = true,
            Event::Disconnect { .. } => done = true,
            Event::Receive { .. } => {}
        })?;
    }
    println!("RESULT sent={sent} hwm_kib={}", vm_hwm_kib());
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
