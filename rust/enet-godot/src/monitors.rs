//! Custom monitors under `RustENet/` in the editor's Debugger > Monitors tab, aggregated over
//! every active `RustENetPeer` of the process: registered when the first one becomes active,
//! removed when the last one closes.
//!
//! Each peer hands in a [`Snapshot`] when its rates are measured (once a second, from `poll`)
//! and leaves with [`remove`]; the monitors only read the snapshots, so they never touch a peer
//! object (which may be busy in its own `poll` when a script asks for a monitor).

use std::cell::RefCell;
use std::collections::HashMap;

use godot::classes::Performance;
use godot::prelude::*;

use rust_enet_session::stats::{LinkSnapshot, Rates};

/// One peer's figures: its links and its traffic rates.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Snapshot {
    pub link: LinkSnapshot,
    pub rates: Rates,
}

/// How a monitor aggregates the snapshots of all active peers.
type Aggregate = fn(&[Snapshot]) -> f64;

/// The monitors: id and aggregate.
const MONITORS: [(&str, Aggregate); 9] = [
    ("RustENet/peers", |s| {
        s.iter().map(|p| p.link.peers as f64).sum()
    }),
    ("RustENet/rtt_avg_ms", |s| {
        weighted(s, |p| p.link.rtt_avg_ms)
    }),
    ("RustENet/rtt_max_ms", |s| {
        s.iter().map(|p| p.link.rtt_max_ms).fold(0.0, f64::max)
    }),
    ("RustENet/loss_percent", |s| {
        weighted(s, |p| p.link.loss_percent)
    }),
    ("RustENet/kib_up_per_sec", |s| {
        s.iter().map(|p| p.rates.bytes_sent).sum::<f64>() / 1024.0
    }),
    ("RustENet/kib_down_per_sec", |s| {
        s.iter().map(|p| p.rates.bytes_received).sum::<f64>() / 1024.0
    }),
    ("RustENet/datagrams_per_sec", |s| {
        s.iter()
            .map(|p| p.rates.datagrams_sent + p.rates.datagrams_received)
            .sum()
    }),
    ("RustENet/resends_per_sec", |s| {
        s.iter().map(|p| p.rates.resends).sum()
    }),
    ("RustENet/dropped_per_sec", |s| {
        s.iter().map(|p| p.rates.dropped_malformed).sum()
    }),
];

/// The mean of `f` over all remote peers of all snapshots.
fn weighted(snapshots: &[Snapshot], f: impl Fn(&Snapshot) -> f64) -> f64 {
    let peers: usize = snapshots.iter().map(|p| p.link.peers).sum();
    if peers == 0 {
        return 0.0;
    }
    snapshots
        .iter()
        .map(|p| f(p) * p.link.peers as f64)
        .sum::<f64>()
        / peers as f64
}

#[derive(Default)]
struct Registry {
    /// By the peer object's instance id.
    peers: HashMap<i64, Snapshot>,
    registered: bool,
}

thread_local! {
    static REGISTRY: RefCell<Registry> = RefCell::new(Registry::default());
}

/// The value of monitor `index` now.
fn value(index: usize) -> f64 {
    REGISTRY.with_borrow(|r| {
        let snapshots: Vec<Snapshot> = r.peers.values().copied().collect();
        MONITORS[index].1(&snapshots)
    })
}

/// Peer `key` is active with `snapshot`; the first active peer registers the monitors.
pub(crate) fn update(key: i64, snapshot: Snapshot) {
    let register = REGISTRY.with_borrow_mut(|r| {
        r.peers.insert(key, snapshot);
        !std::mem::replace(&mut r.registered, true)
    });
    if register {
        let mut performance = Performance::singleton();
        for (index, (id, _)) in MONITORS.iter().enumerate() {
            if !performance.has_custom_monitor(*id) {
                let callable = Callable::from_fn(*id, move |_| value(index));
                performance.add_custom_monitor(*id, &callable);
            }
        }
    }
}

/// Peer `key` closed; the last one removes the monitors.
pub(crate) fn remove(key: i64) {
    let unregister = REGISTRY.with_borrow_mut(|r| {
        let known = r.peers.remove(&key).is_some();
        let last = known && r.peers.is_empty() && r.registered;
        if last {
            r.registered = false;
        }
        last
    });
    if unregister {
        let mut performance = Performance::singleton();
        for (id, _) in MONITORS {
            if performance.has_custom_monitor(id) {
                performance.remove_custom_monitor(id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{LinkSnapshot, MONITORS, Rates, Snapshot, weighted};

    #[test]
    fn monitors_aggregate_over_peers() {
        let a = Snapshot {
            link: LinkSnapshot {
                peers: 3,
                rtt_avg_ms: 10.0,
                rtt_max_ms: 20.0,
                loss_percent: 0.0,
            },
            rates: Rates {
                bytes_sent: 2048.0,
                datagrams_sent: 10.0,
                datagrams_received: 5.0,
                ..Rates::default()
            },
        };
        let b = Snapshot {
            link: LinkSnapshot {
                peers: 1,
                rtt_avg_ms: 50.0,
                rtt_max_ms: 50.0,
                loss_percent: 8.0,
            },
            rates: Rates {
                bytes_sent: 1024.0,
                resends: 2.0,
                ..Rates::default()
            },
        };
        let all = [a, b];
        let get = |id: &str| {
            MONITORS
                .iter()
                .find(|(name, _)| *name == id)
                .map(|(_, f)| f(&all))
                .unwrap()
        };
        assert_eq!(get("RustENet/peers"), 4.0);
        assert_eq!(get("RustENet/rtt_avg_ms"), 20.0);
        assert_eq!(get("RustENet/rtt_max_ms"), 50.0);
        assert_eq!(get("RustENet/loss_percent"), 2.0);
        assert_eq!(get("RustENet/kib_up_per_sec"), 3.0);
        assert_eq!(get("RustENet/datagrams_per_sec"), 15.0);
        assert_eq!(get("RustENet/resends_per_sec"), 2.0);
        assert_eq!(weighted(&[], |p| p.link.rtt_avg_ms), 0.0);
    }
}
