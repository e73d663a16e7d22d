//! Adaptive receive coalescing for busy many-peer hosts.
//!
//! A server whose peers each send a few datagrams per tick is woken by almost every datagram:
//! the blocking read returns one datagram, the host acknowledges it, and waits again. On
//! loopback the sleep and wake-up per datagram are the largest kernel cost a driver controls.
//! When many distinct peers are sending, a short sleep before the blocking read lets the
//! datagrams of that interval queue up, so one `recvmmsg` and one `sendmmsg` handle all of them.
//! ENet's clock has a 1 ms resolution, so a delay below that is invisible to the protocol.
//!
//! The decision is made per window from what the host received in the previous one: how many
//! datagrams, from how many distinct peers (estimated with a 256-bit linear-counting sketch
//! over the source address and the header's peer id), and how many waits they ended. A single
//! busy peer (a throughput test, a ping-pong) never turns it on: its datagrams would only wait.
//! Nor do datagrams that already arrive in batches (UDP GRO buffers, client hosts flushing many
//! peers at once): few waits end, and a sleep would add a system call and a context switch. While
//! coalescing, waits are rare by construction, so a short window without it probes now and then.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// When [`UdpHost::service`](crate::UdpHost::service) may delay a wait's read to let datagrams
/// from many peers queue up; see
/// [`UdpHost::set_receive_coalescing`](crate::UdpHost::set_receive_coalescing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceiveCoalescing {
    /// How long a wait sleeps before it reads, at most (never past the wait's own deadline).
    /// `Duration::ZERO` turns coalescing off.
    pub max_delay: Duration,
    /// Distinct peers that must have sent during the last window (estimated).
    pub min_peers: u32,
    /// Datagrams per second that must have arrived during the last window.
    pub min_rate: u32,
    /// Waits per second that a datagram ended, without coalescing, during the last window. Where
    /// datagrams already arrive in batches (a client host flushing many peers at once, UDP GRO
    /// buffers) waits are few, and a sleep would only add a system call and a context switch.
    pub min_wake_rate: u32,
}

impl ReceiveCoalescing {
    /// Never delay a read: every wait ends with the first datagram.
    pub const OFF: ReceiveCoalescing = ReceiveCoalescing {
        max_delay: Duration::ZERO,
        min_peers: u32::MAX,
        min_rate: u32::MAX,
        min_wake_rate: u32::MAX,
    };
}

impl ReceiveCoalescing {
    /// A service thread's default ([`ServiceConfig::coalescing`](crate::ServiceConfig)): a pass
    /// at most every millisecond once datagrams from two peers or more wake it a thousand times
    /// a second. Its owner takes what it received at its next poll anyway, and acknowledgements
    /// are due within a millisecond (`SendSchedule::DEFAULT_FLUSH_AFTER`); fewer passes take the
    /// host's lock less often from the owner's frame.
    pub const SERVICE_THREAD: ReceiveCoalescing = ReceiveCoalescing {
        max_delay: Duration::from_millis(1),
        min_peers: 2,
        min_rate: 1_000,
        min_wake_rate: 1_000,
    };
}

impl Default for ReceiveCoalescing {
    /// 500 µs once at least 32 peers sent at least 2 000 datagrams per second in total and
    /// datagrams ended at least 4 000 waits per second (coalescing then at least halves them).
    fn default() -> Self {
        ReceiveCoalescing {
            max_delay: Duration::from_micros(500),
            min_peers: 32,
            min_rate: 2_000,
            min_wake_rate: 4_000,
        }
    }
}

/// How long one observation window lasts.
pub(crate) const WINDOW: Duration = Duration::from_millis(100);

/// While coalescing, after this many windows a short one runs without it, to see whether waits
/// would still be frequent (coalescing hides that).
const PROBE_EVERY: u32 = 5;

/// How long a window without coalescing lasts while probing.
const PROBE_WINDOW: Duration = Duration::from_millis(20);

/// Bits of the distinct-peer sketch.
const SKETCH_BITS: u32 = 256;

/// Traffic of the current window and the decision taken from the last one.
#[derive(Debug, Clone)]
pub(crate) struct Coalescer {
    settings: ReceiveCoalescing,
    window_start: Option<Instant>,
    datagrams: u32,
    /// Waits that a datagram ended in this window.
    wakes: u32,
    sketch: [u64; 4],
    active: bool,
    /// Coalesced windows since the last probe.
    coalesced_windows: u32,
    /// The current window is a short one without coalescing.
    probing: bool,
}

impl Coalescer {
    pub fn new(settings: ReceiveCoalescing) -> Self {
        Coalescer {
            settings,
            window_start: None,
            datagrams: 0,
            wakes: 0,
            sketch: [0; 4],
            active: false,
            coalesced_windows: 0,
            probing: false,
        }
    }

    pub fn settings(&self) -> ReceiveCoalescing {
        self.settings
    }

    pub fn set_settings(&mut self, settings: ReceiveCoalescing) {
        self.settings = settings;
        if settings.max_delay.is_zero() {
            self.active = false;
        }
    }

    /// Whether waits in the current window sleep before reading.
    pub fn is_active(&self) -> bool {
        self.active
    }

    /// One datagram from `from`; `peer_bits` identifies the peer among those sharing an address
    /// (the ENet header's peer id, when the datagram is readable).
    pub fn record(&mut self, from: SocketAddr, peer_bits: u16) {
        if self.settings.max_delay.is_zero() {
            return;
        }
        self.datagrams = self.datagrams.saturating_add(1);
        let bit = sketch_bit(from, peer_bits);
        self.sketch[(bit / 64) as usize] |= 1 << (bit % 64);
    }

    /// A wait ended because datagrams arrived.
    pub fn record_wake(&mut self) {
        self.wakes = self.wakes.saturating_add(1);
    }

    /// The delay before a wait's read at `now`: closes the window if it is over, then answers
    /// from the decision in force.
    pub fn delay(&mut self, now: Instant) -> Duration {
        if self.settings.max_delay.is_zero() {
            return Duration::ZERO;
        }
        match self.window_start {
            None => self.window_start = Some(now),
            Some(start) => {
                let elapsed = now.saturating_duration_since(start);
                let window = if self.probing { PROBE_WINDOW } else { WINDOW };
                if elapsed >= window {
                    self.close_window(elapsed);
                    self.window_start = Some(now);
                }
            }
        }
        if self.active {
            self.settings.max_delay
        } else {
            Duration::ZERO
        }
    }

    fn close_window(&mut self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        let rate = f64::from(self.datagrams) / seconds;
        let wake_rate = f64::from(self.wakes) / seconds;
        let peers = estimate_distinct(self.sketch.iter().map(|w| w.count_ones()).sum());
        let busy = rate >= f64::from(self.settings.min_rate)
            && peers >= f64::from(self.settings.min_peers);
        self.probing = false;
        self.active = if !busy {
            false
        } else if self.active {
            // Coalescing keeps waits rare by itself: keep it, but look again without it now
            // and then, for a short window.
            self.coalesced_windows += 1;
            self.probing = self.coalesced_windows >= PROBE_EVERY;
            !self.probing
        } else {
            self.coalesced_windows = 0;
            wake_rate >= f64::from(self.settings.min_wake_rate)
        };
        self.datagrams = 0;
        self.wakes = 0;
        self.sketch = [0; 4];
    }
}

/// Linear counting: the expected number of distinct items that set `set` of the sketch's bits.
fn estimate_distinct(set: u32) -> f64 {
    let m = f64::from(SKETCH_BITS);
    if set >= SKETCH_BITS {
        return f64::INFINITY;
    }
    -m * (1.0 - f64::from(set) / m).ln()
}

/// Which sketch bit `(from, peer_bits)` sets (a multiplicative hash; no need for strength).
fn sketch_bit(from: SocketAddr, peer_bits: u16) -> u32 {
    let ip = match from {
        SocketAddr::V4(v4) => u64::from(v4.ip().to_bits()),
        SocketAddr::V6(v6) => {
            let bits = v6.ip().to_bits();
            (bits as u64) ^ ((bits >> 64) as u64)
        }
    };
    let key = ip ^ (u64::from(from.port()) << 32) ^ (u64::from(peer_bits) << 48);
    let hash = key.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (hash >> 56) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    /// Feeds `per_window` datagrams from `peers` peers (round robin) into each of `windows`
    /// windows and returns the delay answered at the end.
    fn run(coalescer: &mut Coalescer, start: Instant, peers: u16, per_window: u32) -> Duration {
        run_with_wakes(coalescer, start, peers, per_window, per_window / 2)
    }

    /// The same with `wakes` waits ended by datagrams per window.
    fn run_with_wakes(
        coalescer: &mut Coalescer,
        start: Instant,
        peers: u16,
        per_window: u32,
        wakes: u32,
    ) -> Duration {
        let mut now = start;
        let mut delay = coalescer.delay(now);
        for window in 0..3u32 {
            for i in 0..per_window {
                coalescer.record(addr(40_000), (i % u32::from(peers)) as u16);
            }
            for _ in 0..wakes {
                coalescer.record_wake();
            }
            now = start + WINDOW * (window + 1);
            delay = coalescer.delay(now);
        }
        delay
    }

    #[test]
    fn many_busy_peers_turn_coalescing_on() {
        let mut coalescer = Coalescer::new(ReceiveCoalescing::default());
        // 500 peers, 3 500 datagrams per 100 ms: the fan-in benchmark's server.
        assert_eq!(
            run(&mut coalescer, Instant::now(), 500, 3_500),
            Duration::from_micros(500)
        );
        assert!(coalescer.is_active());
    }

    #[test]
    fn batched_arrivals_do_not_turn_coalescing_on() {
        let mut coalescer = Coalescer::new(ReceiveCoalescing::default());
        // The same traffic, but arriving in 100 batches per window (1 000 waits per second).
        assert_eq!(
            run_with_wakes(&mut coalescer, Instant::now(), 500, 3_500, 100),
            Duration::ZERO
        );
    }

    #[test]
    fn coalescing_probes_without_itself_now_and_then() {
        let start = Instant::now();
        let mut coalescer = Coalescer::new(ReceiveCoalescing::default());
        assert!(!run(&mut coalescer, start, 500, 3_500).is_zero());
        // While coalescing, waits are rare by construction: the decision holds for a while,
        // then one window runs without coalescing and decides afresh.
        let mut windows_until_probe = 0;
        let mut now = start + WINDOW * 3;
        for _ in 0..40 {
            for i in 0..3_500u32 {
                coalescer.record(addr(40_000), (i % 500) as u16);
            }
            coalescer.record_wake();
            now += WINDOW;
            if coalescer.delay(now).is_zero() {
                break;
            }
            windows_until_probe += 1;
        }
        assert!((1..PROBE_EVERY).contains(&windows_until_probe));
        // The probe is short: 20 ms with waits as frequent as ever turn coalescing on again.
        for i in 0..700u32 {
            coalescer.record(addr(40_000), (i % 500) as u16);
        }
        for _ in 0..300 {
            coalescer.record_wake();
        }
        assert!(!coalescer.delay(now + PROBE_WINDOW).is_zero());
    }

    #[test]
    fn one_busy_peer_quiet_peers_or_off_never_wait() {
        let on = ReceiveCoalescing::default();
        for (what, settings, peers, per_window) in [
            ("one busy peer", on, 1, 20_000),
            ("100 peers, 100 datagrams per second in total", on, 100, 10),
            ("off", ReceiveCoalescing::OFF, 500, 3_500),
        ] {
            let mut coalescer = Coalescer::new(settings);
            let delay = run(&mut coalescer, Instant::now(), peers, per_window);
            assert_eq!(delay, Duration::ZERO, "{what}");
        }
    }

    #[test]
    fn coalescing_stops_when_traffic_stops() {
        let start = Instant::now();
        let mut coalescer = Coalescer::new(ReceiveCoalescing::default());
        assert!(!run(&mut coalescer, start, 500, 3_500).is_zero());
        // A silent window follows.
        assert!(coalescer.delay(start + WINDOW * 4).is_zero());
    }

    #[test]
    fn distinct_estimate_tracks_the_peer_count() {
        let mut coalescer = Coalescer::new(ReceiveCoalescing::default());
        for port in 0..64u16 {
            coalescer.record(addr(50_000 + port), 0);
        }
        let set: u32 = coalescer.sketch.iter().map(|w| w.count_ones()).sum();
        let estimate = estimate_distinct(set);
        assert!((40.0..=90.0).contains(&estimate), "estimate {estimate}");
    }
}
