//! A link simulator between the protocol core and the socket: latency, jitter, loss, duplication,
//! reordering and a bandwidth cap, driven by a seeded generator so runs are reproducible.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rust_enet_proto::rng::SplitMix64;

/// Conditions of one direction of the simulated link. The default is a perfect link (off).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct LinkConditions {
    /// Fixed one-way delay added to every datagram.
    pub latency_ms: u32,
    /// Extra delay drawn uniformly from `0..=jitter_ms` per datagram. Jitter alone can reorder.
    pub jitter_ms: u32,
    /// Probability (0–100) that a datagram is dropped.
    pub loss_percent: f32,
    /// Probability (0–100) that a datagram is delivered twice.
    pub duplicate_percent: f32,
    /// Probability (0–100) that a datagram is held back long enough to arrive after later ones.
    pub reorder_percent: f32,
    /// Serialisation rate of the link; 0 = unlimited. Datagrams queue behind each other at this
    /// rate, and are dropped when more than [`MAX_QUEUE_DELAY`] of backlog has built up.
    pub bandwidth_bytes_per_sec: u32,
}

/// Tail-drop threshold of the bandwidth-limited queue, like a router buffer.
pub const MAX_QUEUE_DELAY: Duration = Duration::from_secs(1);

impl LinkConditions {
    /// A perfect link: nothing is delayed, dropped or duplicated.
    pub const PERFECT: Self = Self {
        latency_ms: 0,
        jitter_ms: 0,
        loss_percent: 0.0,
        duplicate_percent: 0.0,
        reorder_percent: 0.0,
        bandwidth_bytes_per_sec: 0,
    };

    /// True when these conditions change nothing (datagrams pass straight through).
    pub fn is_perfect(&self) -> bool {
        self.latency_ms == 0
            && self.jitter_ms == 0
            && self.loss_percent <= 0.0
            && self.duplicate_percent <= 0.0
            && self.reorder_percent <= 0.0
            && self.bandwidth_bytes_per_sec == 0
    }
}

/// Packet fates from the core's seedable generator.
trait Fates {
    /// True with probability `percent` / 100.
    fn chance(&mut self, percent: f32) -> bool;
    /// Uniform in `0..=max`.
    fn up_to(&mut self, max: u32) -> u32;
}

impl Fates for SplitMix64 {
    fn chance(&mut self, percent: f32) -> bool {
        percent > 0.0 && self.unit() * 100.0 < f64::from(percent)
    }

    fn up_to(&mut self, max: u32) -> u32 {
        // No draw for 0: the sequence (and so every seeded run) stays what it always was.
        if max == 0 {
            0
        } else {
            self.below(u64::from(max) + 1) as u32
        }
    }
}

/// A datagram waiting in the simulator.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Held {
    release: Instant,
    /// Ties release in submission order.
    sequence: u64,
    addr: SocketAddr,
    data: Vec<u8>,
}

/// Which direction of the simulated link a setting applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkDirection {
    /// Datagrams leaving this host.
    Outgoing,
    /// Datagrams arriving at this host (before the core sees them).
    Incoming,
    /// Both directions (same conditions, independent random fates).
    Both,
}

/// Counters of what the simulator did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkStatistics {
    /// Datagrams dropped by `loss_percent`.
    pub lost: u64,
    /// Datagrams dropped because the bandwidth queue was full.
    pub queue_dropped: u64,
    /// Extra copies made by `duplicate_percent`.
    pub duplicated: u64,
    /// Datagrams held back by `reorder_percent`.
    pub reordered: u64,
    /// Datagrams handed to the simulator while it simulated (a perfect link with nothing held
    /// is bypassed and counts nothing), and their bytes.
    pub datagrams_submitted: u64,
    pub bytes_submitted: u64,
    /// Datagrams (copies included) and bytes the simulator let through: for the outgoing
    /// direction, what went to the socket; for the incoming one, what reached the host.
    pub datagrams_delivered: u64,
    pub bytes_delivered: u64,
}

impl LinkStatistics {
    /// Both directions' counters added up.
    pub fn sum(&self, other: &LinkStatistics) -> LinkStatistics {
        LinkStatistics {
            lost: self.lost + other.lost,
            queue_dropped: self.queue_dropped + other.queue_dropped,
            duplicated: self.duplicated + other.duplicated,
            reordered: self.reordered + other.reordered,
            datagrams_submitted: self.datagrams_submitted + other.datagrams_submitted,
            bytes_submitted: self.bytes_submitted + other.bytes_submitted,
            datagrams_delivered: self.datagrams_delivered + other.datagrams_delivered,
            bytes_delivered: self.bytes_delivered + other.bytes_delivered,
        }
    }

    fn deliver(&mut self, len: usize) {
        self.datagrams_delivered += 1;
        self.bytes_delivered += len as u64;
    }
}

/// One direction of the simulated link: a queue of held datagrams ordered by release time.
#[derive(Debug)]
pub(crate) struct LinkSimulator {
    conditions: LinkConditions,
    rng: SplitMix64,
    held: BinaryHeap<Reverse<Held>>,
    sequence: u64,
    /// When the bandwidth-limited link finishes sending what is already queued.
    busy_until: Option<Instant>,
    stats: LinkStatistics,
}

/// What the simulator decided for a submitted datagram.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Fate {
    /// Deliver now, unchanged (perfect link).
    PassThrough,
    /// Held (possibly twice) or dropped; released datagrams come out of [`LinkSimulator::pop_due`].
    Held,
}

impl LinkSimulator {
    pub(crate) fn new(seed: u64) -> Self {
        Self {
            conditions: LinkConditions::PERFECT,
            rng: SplitMix64::new(seed),
            held: BinaryHeap::new(),
            sequence: 0,
            busy_until: None,
            stats: LinkStatistics::default(),
        }
    }

    pub(crate) fn conditions(&self) -> LinkConditions {
        self.conditions
    }

    /// Change the conditions; datagrams already held keep their release times.
    pub(crate) fn set_conditions(&mut self, conditions: LinkConditions) {
        self.conditions = conditions;
        if conditions.bandwidth_bytes_per_sec == 0 {
            self.busy_until = None;
        }
    }

    pub(crate) fn reseed(&mut self, seed: u64) {
        self.rng = SplitMix64::new(seed);
    }

    pub(crate) fn statistics(&self) -> LinkStatistics {
        self.stats
    }

    /// Perfect conditions and nothing held: every datagram passes straight through, so callers
    /// may skip reading the clock for it.
    pub(crate) fn is_transparent(&self) -> bool {
        self.conditions.is_perfect() && self.held.is_empty()
    }

    /// Decide the fate of a datagram submitted at `now`. Only when the link is perfect and nothing
    /// is held (so order is kept) does it pass straight through without a copy.
    pub(crate) fn submit(&mut self, now: Instant, addr: SocketAddr, data: &[u8]) -> Fate {
        let c = self.conditions;
        self.stats.datagrams_submitted += 1;
        self.stats.bytes_submitted += data.len() as u64;
        if c.is_perfect() && self.held.is_empty() {
            self.stats.deliver(data.len());
            return Fate::PassThrough;
        }
        if self.rng.chance(c.loss_percent) {
            self.stats.lost += 1;
            return Fate::Held;
        }
        let mut depart = now;
        if c.bandwidth_bytes_per_sec > 0 {
            let start = self.busy_until.map_or(now, |busy| busy.max(now));
            if start.duration_since(now) > MAX_QUEUE_DELAY {
                self.stats.queue_dropped += 1;
                return Fate::Held;
            }
            let serialise =
                Duration::from_secs_f64(data.len() as f64 / f64::from(c.bandwidth_bytes_per_sec));
            depart = start + serialise;
            self.busy_until = Some(depart);
        }
        let copies = if self.rng.chance(c.duplicate_percent) {
            self.stats.duplicated += 1;
            2
        } else {
            1
        };
        for _ in 0..copies {
            let mut delay = u64::from(c.latency_ms) + u64::from(self.rng.up_to(c.jitter_ms));
            if self.rng.chance(c.reorder_percent) {
                self.stats.reordered += 1;
                // Long enough to let the next few datagrams overtake this one.
                delay += 5 + u64::from(self.rng.up_to(c.jitter_ms.max(10) + c.latency_ms / 2));
            }
            self.sequence += 1;
            self.held.push(Reverse(Held {
                release: depart + Duration::from_millis(delay),
                sequence: self.sequence,
                addr,
                data: data.to_vec(),
            }));
        }
        Fate::Held
    }

    /// The next held datagram whose release time has come.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<(SocketAddr, Vec<u8>)> {
        if self.held.peek()?.0.release > now {
            return None;
        }
        let Reverse(held) = self.held.pop()?;
        self.stats.deliver(held.data.len());
        Some((held.addr, held.data))
    }

    /// When the next held datagram is due.
    pub(crate) fn next_release(&self) -> Option<Instant> {
        self.held.peek().map(|held| held.0.release)
    }

    /// Number of datagrams currently held.
    #[cfg(test)]
    pub(crate) fn held_len(&self) -> usize {
        self.held.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr() -> SocketAddr {
        "127.0.0.1:9".parse().unwrap()
    }

    /// A simulator seeded with `seed`, on a link that is perfect but for what `change` sets.
    fn simulator(seed: u64, change: impl FnOnce(&mut LinkConditions)) -> LinkSimulator {
        let mut conditions = LinkConditions::PERFECT;
        change(&mut conditions);
        let mut sim = LinkSimulator::new(seed);
        sim.set_conditions(conditions);
        sim
    }

    /// Submits the one-byte datagrams `0..count` at `at`; returns their fates.
    fn submit_numbered(sim: &mut LinkSimulator, at: Instant, count: u8) -> Vec<Fate> {
        (0..count).map(|i| sim.submit(at, addr(), &[i])).collect()
    }

    /// The first bytes of the datagrams due at `at`, in release order.
    fn drain(sim: &mut LinkSimulator, at: Instant) -> Vec<u8> {
        std::iter::from_fn(|| sim.pop_due(at))
            .map(|(_, d)| d[0])
            .collect()
    }

    #[test]
    fn perfect_link_passes_through() {
        let mut sim = LinkSimulator::new(1);
        assert_eq!(sim.submit(Instant::now(), addr(), b"x"), Fate::PassThrough);
        assert_eq!(sim.held_len(), 0);
    }

    #[test]
    fn latency_holds_datagrams_in_order_until_due() {
        let mut sim = simulator(1, |c| c.latency_ms = 50);
        let t0 = Instant::now();
        let fates = submit_numbered(&mut sim, t0, 10);
        assert!(fates.iter().all(|fate| *fate == Fate::Held), "{fates:?}");
        assert_eq!(sim.pop_due(t0 + Duration::from_millis(49)), None);
        assert_eq!(sim.next_release(), Some(t0 + Duration::from_millis(50)));
        assert_eq!(
            drain(&mut sim, t0 + Duration::from_millis(50)),
            (0..10).collect::<Vec<_>>()
        );
        // Turning the link off again keeps order: nothing is held, so it passes through.
        sim.set_conditions(LinkConditions::PERFECT);
        assert_eq!(sim.submit(t0, addr(), b"y"), Fate::PassThrough);
    }

    #[test]
    fn loss_and_duplication_follow_their_rates() {
        let mut sim = simulator(7, |c| {
            c.loss_percent = 20.0;
            c.duplicate_percent = 10.0;
        });
        let t0 = Instant::now();
        for _ in 0..10_000 {
            sim.submit(t0, addr(), b"z");
        }
        let stats = sim.statistics();
        assert!((1700..2300).contains(&stats.lost), "{stats:?}");
        assert!((600..1000).contains(&stats.duplicated), "{stats:?}");
        assert_eq!(
            sim.held_len() as u64,
            10_000 - stats.lost + stats.duplicated
        );
    }

    #[test]
    fn counts_what_enters_and_what_leaves() {
        let mut sim = simulator(11, |c| {
            c.loss_percent = 10.0;
            c.duplicate_percent = 5.0;
            c.latency_ms = 20;
        });
        let t0 = Instant::now();
        for i in 0..1_000usize {
            sim.submit(t0, addr(), &vec![0u8; 10 + i % 7]);
        }
        let expected_bytes: u64 = (0..1_000u64).map(|i| 10 + i % 7).sum();
        let held = sim.statistics();
        assert_eq!(held.datagrams_submitted, 1_000);
        assert_eq!(held.bytes_submitted, expected_bytes);
        // Nothing leaves before its release time.
        assert_eq!(held.datagrams_delivered, 0);
        let mut bytes = 0u64;
        let mut count = 0u64;
        while let Some((_, data)) = sim.pop_due(t0 + Duration::from_millis(25)) {
            bytes += data.len() as u64;
            count += 1;
        }
        let stats = sim.statistics();
        assert_eq!(stats.datagrams_delivered, count);
        assert_eq!(stats.bytes_delivered, bytes);
        assert_eq!(count, 1_000 - stats.lost + stats.duplicated);
        // A perfect link with nothing held passes through and counts as delivered at once.
        sim.set_conditions(LinkConditions::PERFECT);
        assert_eq!(sim.submit(t0, addr(), b"abc"), Fate::PassThrough);
        assert_eq!(sim.statistics().bytes_delivered, bytes + 3);
    }

    #[test]
    fn reordering_lets_later_datagrams_overtake() {
        let mut sim = simulator(3, |c| c.reorder_percent = 30.0);
        let t0 = Instant::now();
        submit_numbered(&mut sim, t0, 100);
        let order = drain(&mut sim, t0 + Duration::from_secs(1));
        assert_eq!(order.len(), 100);
        assert!(order.windows(2).any(|w| w[0] > w[1]));
    }

    #[test]
    fn bandwidth_cap_spaces_datagrams_and_tail_drops() {
        let mut sim = simulator(5, |c| c.bandwidth_bytes_per_sec = 10_000);
        let t0 = Instant::now();
        let payload = [0u8; 1000];
        for _ in 0..20 {
            sim.submit(t0, addr(), &payload);
        }
        // 1000 bytes at 10 kB/s: one datagram every 100 ms, and about 1 s of backlog is kept.
        assert_eq!(sim.next_release(), Some(t0 + Duration::from_millis(100)));
        assert!((10..=12).contains(&sim.held_len()), "{}", sim.held_len());
        assert!(sim.statistics().queue_dropped >= 8);
    }

    #[test]
    fn same_seed_same_fates() {
        let run = |seed| {
            let mut sim = simulator(seed, |c| {
                c.loss_percent = 50.0;
                c.jitter_ms = 20;
            });
            let t0 = Instant::now();
            submit_numbered(&mut sim, t0, 64);
            drain(&mut sim, t0 + Duration::from_secs(1))
        };
        assert_eq!(run(11), run(11));
        assert_ne!(run(11), run(12));
    }
}
