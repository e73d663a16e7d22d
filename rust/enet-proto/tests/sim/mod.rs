//! A deterministic simulated network for driving `Host`s: a virtual clock, a seeded PRNG, and
//! per-direction links with loss, duplication, reordering, latency + jitter and an MTU cap.
//! The drive loop is bounded, so a livelock fails a test instead of hanging it.

#![allow(dead_code)]

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use rust_enet_proto::{EnetTime, Event, Host, HostConfig, Peer, PeerId, PeerState};

/// The simulation's own randomness, from the core's generator.
#[derive(Debug, Clone)]
pub struct Rng(rust_enet_proto::rng::SplitMix64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(rust_enet_proto::rng::SplitMix64::new(seed))
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }
    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        self.0.unit()
    }
    pub fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && self.unit() < p
    }
    pub fn below(&mut self, n: u32) -> u32 {
        if n == 0 {
            0
        } else {
            (self.next_u64() % u64::from(n)) as u32
        }
    }
    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next_u64() as u8).collect()
    }
}

/// One direction of a link.
#[derive(Debug, Clone, Copy)]
pub struct Link {
    pub loss: f64,
    pub duplicate: f64,
    /// Probability that a datagram gets an extra delay of up to `reorder_delay` ms.
    pub reorder: f64,
    pub reorder_delay: u32,
    pub latency: u32,
    pub jitter: u32,
    pub mtu: usize,
    /// Drop everything (a dead or silent peer).
    pub down: bool,
}

impl Default for Link {
    fn default() -> Self {
        Link {
            loss: 0.0,
            duplicate: 0.0,
            reorder: 0.0,
            reorder_delay: 0,
            latency: 10,
            jitter: 0,
            mtu: 4096,
            down: false,
        }
    }
}

impl Link {
    pub fn lossy(loss: f64, duplicate: f64, reorder: f64) -> Self {
        Link {
            loss,
            duplicate,
            reorder,
            reorder_delay: 40,
            latency: 10,
            jitter: 5,
            ..Link::default()
        }
    }
}

/// A datagram observed on the wire (after the sender produced it, before the link acts).
#[derive(Debug, Clone)]
pub struct Sent {
    pub time: u32,
    pub from: SocketAddr,
    pub to: SocketAddr,
    pub data: Vec<u8>,
}

pub struct Node {
    pub host: Host,
    pub addr: SocketAddr,
    pub events: Vec<(u32, Event)>,
    /// Drain `poll_event` in `flush` (off = an application that stopped reading).
    pub poll_events: bool,
    /// Steps in which the host's `poll_timeout` had come and `handle_timeout` ran.
    pub timer_wakes: u64,
    /// Those of them in which the host sent nothing and nothing was delivered to it: wakes
    /// for which there was no work.
    pub empty_timer_wakes: u64,
    /// Datagrams the host sent in the latest `flush`.
    sent_in_flush: usize,
}

#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct InFlight {
    /// Delivery time on the simulation's unwrapped clock.
    at: u64,
    seq: u64,
    to: usize,
    from: SocketAddr,
    data: Vec<u8>,
}

pub struct Sim {
    /// The hosts' millisecond clock (wraps, like ENet time).
    pub now: u32,
    /// The same instant, unwrapped: orders deliveries across the wrap.
    clock: u64,
    pub rng: Rng,
    pub nodes: Vec<Node>,
    links: HashMap<(usize, usize), Link>,
    pub default_link: Link,
    in_flight: BinaryHeap<Reverse<InFlight>>,
    seq: u64,
    buf: Vec<u8>,
    /// Every datagram produced, if `record` is on.
    pub record: bool,
    pub wire: Vec<Sent>,
    /// Every datagram handed to a host, if `record` is on, with its delivery time, in the order
    /// the hosts received them.
    pub delivered: Vec<Sent>,
    pub steps: u64,
}

pub fn addr(i: usize) -> SocketAddr {
    SocketAddr::new(
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, i as u8 + 1)),
        7000 + i as u16,
    )
}

impl Sim {
    pub fn new(seed: u64) -> Self {
        Sim {
            // Start away from 0 (ENet's "never" sentinel) and close to a 32-bit wrap, so every
            // test also crosses the wrap of the millisecond clock.
            now: u32::MAX - 20_000,
            clock: 0,
            rng: Rng::new(seed),
            nodes: Vec::new(),
            links: HashMap::new(),
            default_link: Link::default(),
            in_flight: BinaryHeap::new(),
            seq: 0,
            buf: vec![0; 4100],
            record: false,
            wire: Vec::new(),
            delivered: Vec::new(),
            steps: 0,
        }
    }

    pub fn add_host(&mut self, config: HostConfig) -> usize {
        let i = self.nodes.len();
        self.nodes.push(Node {
            host: Host::new(config).expect("valid host config"),
            addr: addr(i),
            events: Vec::new(),
            poll_events: true,
            timer_wakes: 0,
            empty_timer_wakes: 0,
            sent_in_flush: 0,
        });
        i
    }

    /// A new simulation (seeded with `seed`) with a host per config, as nodes 0, 1, ... in order.
    pub fn with_hosts<const N: usize>(seed: u64, configs: [HostConfig; N]) -> (Sim, [usize; N]) {
        let mut sim = Sim::new(seed);
        let nodes = configs.map(|config| sim.add_host(config));
        (sim, nodes)
    }

    pub fn time(&self) -> EnetTime {
        EnetTime(self.now)
    }

    pub fn host(&mut self, i: usize) -> &mut Host {
        &mut self.nodes[i].host
    }

    /// Node `i`'s peer `peer`.
    pub fn peer(&self, i: usize, peer: PeerId) -> &Peer {
        self.nodes[i].host.peer(peer).expect("valid peer id")
    }

    /// The state of node `i`'s peer `peer`.
    pub fn peer_state(&self, i: usize, peer: PeerId) -> PeerState {
        self.peer(i, peer).state()
    }

    /// Slots of node `i` in use (any state but DISCONNECTED).
    pub fn peer_count(&self, i: usize) -> usize {
        self.nodes[i].host.peers().count()
    }

    pub fn link(&mut self, from: usize, to: usize) -> &mut Link {
        let default = self.default_link;
        self.links.entry((from, to)).or_insert(default)
    }

    pub fn set_links(&mut self, a: usize, b: usize, link: Link) {
        *self.link(a, b) = link;
        *self.link(b, a) = link;
    }

    fn node_of(&self, a: SocketAddr) -> Option<usize> {
        self.nodes.iter().position(|n| n.addr == a)
    }

    /// Connects `client` to `server` and returns the client's peer id.
    pub fn connect(&mut self, client: usize, server: usize, channels: usize, data: u32) -> PeerId {
        let now = self.time();
        let to = self.nodes[server].addr;
        let id = self.nodes[client]
            .host
            .connect(now, to, channels, data)
            .expect("free slot");
        self.flush();
        id
    }

    /// Drains every host's transmits into the links and its events into `events`.
    pub fn flush(&mut self) {
        let now = self.time();
        for i in 0..self.nodes.len() {
            self.nodes[i].sent_in_flush = 0;
            while let Some(t) = self.nodes[i].host.poll_transmit(now, &mut self.buf) {
                self.nodes[i].sent_in_flush += 1;
                let data = self.buf[..t.len].to_vec();
                let from = self.nodes[i].addr;
                if self.record {
                    self.wire.push(Sent {
                        time: self.now,
                        from,
                        to: t.destination,
                        data: data.clone(),
                    });
                }
                let Some(to) = self.node_of(t.destination) else {
                    continue; // nobody there
                };
                self.transmit(i, to, from, data);
            }
            while self.nodes[i].poll_events
                && let Some(e) = self.nodes[i].host.poll_event()
            {
                self.nodes[i].events.push((self.now, e));
            }
        }
    }

    fn transmit(&mut self, from_i: usize, to: usize, from: SocketAddr, data: Vec<u8>) {
        let link = *self.link(from_i, to);
        if link.down || data.len() > link.mtu || self.rng.chance(link.loss) {
            return;
        }
        let copies = if self.rng.chance(link.duplicate) {
            2
        } else {
            1
        };
        for _ in 0..copies {
            let mut delay = link.latency + self.rng.below(link.jitter + 1);
            if self.rng.chance(link.reorder) {
                delay += self.rng.below(link.reorder_delay + 1);
            }
            self.seq += 1;
            self.in_flight.push(Reverse(InFlight {
                at: self.clock + u64::from(delay),
                seq: self.seq,
                to,
                from,
                data: data.clone(),
            }));
        }
    }

    /// Injects a raw datagram to node `to` as if sent from `from`, delivered now.
    pub fn inject(&mut self, to: usize, from: SocketAddr, data: &[u8]) {
        let now = self.time();
        self.nodes[to].host.handle_datagram(now, from, data);
        self.flush();
    }

    fn next_wake(&self) -> Option<u32> {
        let now = EnetTime(self.now);
        let mut best: Option<u32> = None;
        let mut consider = |in_ms: u32| best = Some(best.map_or(in_ms, |b: u32| b.min(in_ms)));
        if let Some(Reverse(f)) = self.in_flight.peek() {
            consider(f.at.saturating_sub(self.clock).min(u64::from(u32::MAX)) as u32);
        }
        for n in &self.nodes {
            if let Some(t) = n.host.poll_timeout() {
                consider(if t.is_before(now) { 0 } else { t.distance(now) });
            }
        }
        best
    }

    /// One simulation step at the current time, then the clock moves to the next event (at
    /// least 1 ms, at most `max_advance`).
    pub fn step(&mut self, max_advance: u32) {
        self.steps += 1;
        assert!(self.steps < 50_000_000, "simulation livelock");
        let now = self.time();
        // Deliver everything due.
        let mut delivered_to = vec![false; self.nodes.len()];
        while let Some(Reverse(f)) = self.in_flight.peek() {
            if f.at > self.clock {
                break;
            }
            let Some(Reverse(f)) = self.in_flight.pop() else {
                break;
            };
            delivered_to[f.to] = true;
            self.nodes[f.to].host.handle_datagram(now, f.from, &f.data);
            if self.record {
                self.delivered.push(Sent {
                    time: self.now,
                    from: f.from,
                    to: self.nodes[f.to].addr,
                    data: f.data,
                });
            }
        }
        let mut woke = vec![false; self.nodes.len()];
        for (i, n) in self.nodes.iter_mut().enumerate() {
            if n.host.poll_timeout().is_some_and(|t| !t.is_after(now)) {
                n.host.handle_timeout(now);
                n.timer_wakes += 1;
                woke[i] = true;
            }
        }
        self.flush();
        for (i, n) in self.nodes.iter_mut().enumerate() {
            if woke[i] && !delivered_to[i] && n.sent_in_flush == 0 {
                n.empty_timer_wakes += 1;
            }
        }
        let advance = self
            .next_wake()
            .unwrap_or(max_advance)
            .clamp(1, max_advance);
        self.now = self.now.wrapping_add(advance);
        self.clock += u64::from(advance);
    }

    /// Runs until `done` holds or `limit_ms` of simulated time pass; returns whether it held.
    pub fn run_until(&mut self, limit_ms: u32, mut done: impl FnMut(&mut Sim) -> bool) -> bool {
        let start = self.now;
        loop {
            if done(self) {
                return true;
            }
            if self.now.wrapping_sub(start) >= limit_ms {
                return false;
            }
            self.step(50);
        }
    }

    /// Runs for `ms` of simulated time.
    pub fn run_for(&mut self, ms: u32) {
        let start = self.now;
        while self.now.wrapping_sub(start) < ms {
            self.step(50);
        }
    }

    pub fn events(&self, i: usize) -> &[(u32, Event)] {
        &self.nodes[i].events
    }

    pub fn take_events(&mut self, i: usize) -> Vec<(u32, Event)> {
        std::mem::take(&mut self.nodes[i].events)
    }

    /// Node `i`'s first event and when it came, in ms after `start`.
    pub fn first_event(&self, i: usize, start: u32) -> (u32, Event) {
        let (time, event) = &self.nodes[i].events[0];
        (time.wrapping_sub(start), event.clone())
    }

    /// The recorded datagrams (`record`) node `i` sent.
    pub fn wire_from(&self, i: usize) -> impl Iterator<Item = &Sent> {
        let addr = self.nodes[i].addr;
        self.wire.iter().filter(move |w| w.from == addr)
    }

    /// The recorded datagrams (`record`) sent to node `i`.
    pub fn wire_to(&self, i: usize) -> impl Iterator<Item = &Sent> {
        let addr = self.nodes[i].addr;
        self.wire.iter().filter(move |w| w.to == addr)
    }

    pub fn has_connect(&self, i: usize) -> bool {
        self.nodes[i]
            .events
            .iter()
            .any(|(_, e)| matches!(e, Event::Connect { .. }))
    }

    pub fn has_disconnect(&self, i: usize) -> bool {
        self.nodes[i]
            .events
            .iter()
            .any(|(_, e)| matches!(e, Event::Disconnect { .. }))
    }

    /// Sends what is queued, then runs until nodes `a` and `b` both reported a DISCONNECT or
    /// `limit_ms` passed; returns whether they did.
    pub fn run_until_disconnected(&mut self, a: usize, b: usize, limit_ms: u32) -> bool {
        self.flush();
        self.run_until(limit_ms, |s| s.has_disconnect(a) && s.has_disconnect(b))
    }

    /// Connects and runs until both sides report CONNECT; returns (client peer, server peer).
    pub fn establish(&mut self, client: usize, server: usize, channels: usize) -> (PeerId, PeerId) {
        let c = self.connect(client, server, channels, 0);
        assert!(
            self.run_until(20_000, |s| s.has_connect(client) && s.has_connect(server)),
            "handshake did not complete"
        );
        let s = self.nodes[server]
            .events
            .iter()
            .find_map(|(_, e)| match e {
                Event::Connect { peer, .. } => Some(*peer),
                _ => None,
            })
            .expect("server connect event");
        self.take_events(client);
        self.take_events(server);
        (c, s)
    }

    /// A new simulation (seeded with `seed`) of a server host (node 0, from `server`) and a
    /// client host (node 1, from `client`) connected with `channels` channels over default
    /// links: `(sim, server, client, client's peer id, server's peer id)`.
    pub fn pair(
        seed: u64,
        server: HostConfig,
        client: HostConfig,
        channels: usize,
    ) -> (Sim, usize, usize, PeerId, PeerId) {
        Sim::pair_over(seed, server, client, Link::default(), channels)
    }

    /// [`pair`](Self::pair) with `link` in both directions, from before the handshake.
    pub fn pair_over(
        seed: u64,
        server: HostConfig,
        client: HostConfig,
        link: Link,
        channels: usize,
    ) -> (Sim, usize, usize, PeerId, PeerId) {
        let (mut sim, [server, client]) = Sim::with_hosts(seed, [server, client]);
        sim.set_links(client, server, link);
        let (cpeer, speer) = sim.establish(client, server, channels);
        (sim, server, client, cpeer, speer)
    }

    /// Received packets of node `i` (channel, payload), in delivery order, removing them.
    pub fn take_received(&mut self, i: usize) -> Vec<(u8, Vec<u8>)> {
        let mut out = Vec::new();
        self.nodes[i].events.retain(|(_, e)| match e {
            Event::Receive {
                channel, packet, ..
            } => {
                out.push((*channel, packet.data.to_vec()));
                false
            }
            _ => true,
        });
        out
    }
}

pub fn server_config(peers: usize, seed: u64) -> HostConfig {
    HostConfig {
        peer_limit: peers,
        seed,
        ..HostConfig::default()
    }
}

/// `server` and `client` with the bandwidths of the verified example of protocol description
/// 9.4: the server takes 100 000 B/s and sends 50 000, the client takes 200 000 and sends
/// without limit.
pub fn bandwidth_example(server: HostConfig, client: HostConfig) -> (HostConfig, HostConfig) {
    (
        HostConfig {
            incoming_bandwidth: 100_000,
            outgoing_bandwidth: 50_000,
            ..server
        },
        HostConfig {
            incoming_bandwidth: 200_000,
            outgoing_bandwidth: 0,
            ..client
        },
    )
}
