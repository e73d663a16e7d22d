//! The roles with many connections: the echo server (fan-in, and the latency scenario with one
//! peer) with its paced fan-in clients (scenarios 2 and 2b), and idle scale (3 and 3b). Client
//! processes spread their connections over several client hosts and sweep them.

use std::io;
use std::time::{Duration, Instant};

use rust_enet_net::UdpHost;
use rust_enet_proto::{Event, Packet, PacketFlags, PeerId};

use super::{
    CHANNEL_RELIABLE, CHANNEL_UNRELIABLE, CHANNELS, CONNECT_PENDING, FANIN_RELIABLE,
    FANIN_RELIABLE_EVERY, FANIN_TICK_HZ, FANIN_UNRELIABLE, GRACE, IDLE_SWEEP_PAUSE, Result, WAIT,
    client_host, connect_error, server_addr, server_host, service_drain, us_since,
};
use crate::sys::{cpu_ns, percentile, vm_hwm_kib};

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
