//! Traffic totals and their rates per second, and the state of a session's links, for an
//! engine's statistics and monitors: the engine's classes read the totals from their hosts and
//! feed a [`RateMeter`].

use std::time::{Duration, Instant};

use rust_enet_net::{LinkStatistics, UdpHost};
use rust_enet_proto::Peer;
use rust_enet_proto::peer::PEER_PACKET_LOSS_SCALE;

/// The connected remote peers of a session and how their links do, as the engine's monitors
/// show them.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LinkSnapshot {
    /// Remote peers connected.
    pub peers: usize,
    /// Mean and largest smoothed round trip over them, in milliseconds.
    pub rtt_avg_ms: f64,
    pub rtt_max_ms: f64,
    /// Mean packet loss over them, in percent.
    pub loss_percent: f64,
}

/// Declares [`Totals`] and [`Rates`] with one field per traffic counter, and what goes field by
/// field: adding totals, rates between two samples, and the counters by name.
macro_rules! traffic_counters {
    ($($(#[doc = $doc:literal])* $field:ident,)*) => {
        /// Running totals of one or more hosts.
        #[derive(Debug, Clone, Copy, Default, PartialEq)]
        pub struct Totals {
            $($(#[doc = $doc])* pub $field: u64,)*
        }

        /// [`Totals`] per second over the last measuring interval.
        #[derive(Debug, Clone, Copy, Default, PartialEq)]
        pub struct Rates {
            $(pub $field: f64,)*
        }

        /// How many counters [`Totals`] and [`Rates`] have.
        const COUNTERS: usize = [$(stringify!($field)),*].len();

        impl Totals {
            pub fn add(&mut self, other: &Totals) {
                $(self.$field += other.$field;)*
            }

            /// The totals by their field names, in declaration order.
            pub fn entries(&self) -> [(&'static str, u64); COUNTERS] {
                [$((stringify!($field), self.$field)),*]
            }

            fn per_second(&self, before: &Totals, seconds: f64) -> Rates {
                Rates {
                    $($field: self.$field.saturating_sub(before.$field) as f64 / seconds,)*
                }
            }
        }

        impl Rates {
            /// The rates by their totals' names with `_per_sec`, in declaration order.
            pub fn entries(&self) -> [(&'static str, f64); COUNTERS] {
                [$((concat!(stringify!($field), "_per_sec"), self.$field)),*]
            }
        }
    };
}

traffic_counters! {
    /// Datagrams and bytes as they crossed the socket: after compression, with ENet's and
    /// DTLS's overhead.
    datagrams_sent,
    datagrams_received,
    bytes_sent,
    bytes_received,
    /// Reliable commands sent again after a timeout.
    resends,
    /// Datagrams dropped as malformed: too long, too short, a bad checksum, a command area that
    /// does not parse, a compressed payload that does not decompress, cut by the socket.
    dropped_malformed,
}

impl Totals {
    /// The totals of `udp`.
    pub fn of(udp: &UdpHost) -> Totals {
        let driver = udp.driver_statistics();
        let core = udp.host().statistics();
        Totals {
            datagrams_sent: driver.datagrams_sent,
            datagrams_received: driver.datagrams_received,
            bytes_sent: driver.bytes_sent,
            bytes_received: driver.bytes_received,
            resends: core.resends,
            dropped_malformed: core.dropped_oversized
                + core.dropped_malformed
                + core.dropped_bad_checksum
                + core.malformed_commands
                + core.dropped_no_decompressor
                + core.dropped_decompress_failed
                + driver.dropped_truncated,
        }
    }
}

/// The link simulator's counters by the names `RustENetConnection.get_link_statistics` gives
/// them.
pub fn link_entries(stats: &LinkStatistics) -> [(&'static str, u64); 8] {
    [
        ("lost", stats.lost),
        ("queue_dropped", stats.queue_dropped),
        ("duplicated", stats.duplicated),
        ("reordered", stats.reordered),
        ("datagrams_submitted", stats.datagrams_submitted),
        ("bytes_submitted", stats.bytes_submitted),
        ("datagrams_delivered", stats.datagrams_delivered),
        ("bytes_delivered", stats.bytes_delivered),
    ]
}

/// Reliable commands sent in a loss epoch before its own ratio is reported.
const LOSS_SAMPLE_MIN: u32 = 32;

/// A connection's packet loss in percent: the share of reliable commands lost in the current
/// 10 s loss epoch once it has [`LOSS_SAMPLE_MIN`] of them, else ENet's smoothed `packet_loss`
/// (which moves an eighth of the way per epoch, so it takes minutes to show a steady loss).
pub fn loss_percent(peer: &Peer) -> f64 {
    if peer.packets_sent() >= LOSS_SAMPLE_MIN {
        f64::from(peer.packets_lost()) * 100.0 / f64::from(peer.packets_sent())
    } else {
        f64::from(peer.packet_loss()) * 100.0 / f64::from(PEER_PACKET_LOSS_SCALE)
    }
}

/// How long a measuring interval lasts at least.
pub const INTERVAL: Duration = Duration::from_secs(1);

/// Rates from totals sampled now and then: each interval of at least [`INTERVAL`] gives the
/// rates until the next one ends.
#[derive(Debug, Default)]
pub struct RateMeter {
    start: Option<(Instant, Totals)>,
    rates: Rates,
}

impl RateMeter {
    /// Whether a sample at `now` would end an interval (so the caller may skip reading totals).
    pub fn due(&self, now: Instant) -> bool {
        self.start
            .is_none_or(|(start, _)| now.saturating_duration_since(start) >= INTERVAL)
    }

    /// Feeds the totals at `now`; returns the totals at the start of the interval it ended,
    /// if it ended one.
    pub fn sample(&mut self, now: Instant, totals: Totals) -> Option<Totals> {
        match self.start {
            None => {
                self.start = Some((now, totals));
                None
            }
            Some((start, before)) => {
                let elapsed = now.saturating_duration_since(start);
                if elapsed < INTERVAL {
                    return None;
                }
                self.rates = totals.per_second(&before, elapsed.as_secs_f64());
                self.start = Some((now, totals));
                Some(before)
            }
        }
    }

    pub fn rates(&self) -> Rates {
        self.rates
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_cover_whole_intervals() {
        let mut meter = RateMeter::default();
        let t0 = Instant::now();
        assert!(meter.due(t0));
        let mut totals = Totals::default();
        assert_eq!(meter.sample(t0, totals), None);
        totals.bytes_sent = 500;
        totals.resends = 3;
        // Half an interval: nothing changes yet.
        assert!(!meter.due(t0 + Duration::from_millis(500)));
        assert_eq!(meter.sample(t0 + Duration::from_millis(500), totals), None);
        assert_eq!(meter.rates(), Rates::default());
        totals.bytes_sent = 2_000;
        let before = meter.sample(t0 + Duration::from_secs(2), totals);
        assert_eq!(before, Some(Totals::default()));
        assert_eq!(meter.rates().bytes_sent, 1_000.0);
        assert_eq!(meter.rates().resends, 1.5);
        // A counter that went back (a new host) reads as 0, not as a huge rate.
        let before = meter.sample(t0 + Duration::from_secs(3), Totals::default());
        assert_eq!(before.map(|t| t.bytes_sent), Some(2_000));
        assert_eq!(meter.rates().bytes_sent, 0.0);
    }

    #[test]
    fn totals_add_up() {
        let mut sum = Totals::default();
        let one = Totals {
            datagrams_sent: 1,
            datagrams_received: 2,
            bytes_sent: 3,
            bytes_received: 4,
            resends: 5,
            dropped_malformed: 6,
        };
        sum.add(&one);
        sum.add(&one);
        assert_eq!(sum.bytes_received, 8);
        assert_eq!(sum.dropped_malformed, 12);
    }
}
