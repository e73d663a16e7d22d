//! A host shared between its owner (the game's thread) and a [`ServiceThread`].
//!
//! [`ServiceThread`]: crate::ServiceThread

use std::io;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex, MutexGuard};
use rust_enet_proto::Event;

use crate::UdpHost;

/// A [`UdpHost`] behind a lock, shared by its owner, the packet-peer objects of an engine
/// adapter, and a [`ServiceThread`](crate::ServiceThread). `None` inside once the owner
/// destroyed the host, which ends the thread.
///
/// # Driving it
///
/// - [`lock`](Self::lock) gives the host for commands, `flush` and events, as `&mut UdpHost`.
///   While a service thread runs, nothing the owner does under the lock makes a system call:
///   what a flush builds is sent, and the thread woken if the owner queued protocol traffic,
///   when the guard drops, after the lock is released.
/// - [`service`](Self::service) is `UdpHost::service` for a shared host: with a thread, a
///   timeout waits for the thread to deliver an event, with the lock released.
#[derive(Debug, Clone, Default)]
pub struct SharedUdpHost {
    cell: Arc<HostCell>,
}

#[derive(Debug, Default)]
struct HostCell {
    host: Mutex<Option<UdpHost>>,
    /// Signalled when a service thread leaves events for the owner, or fails.
    events: Condvar,
    /// How long the owner's locks waited (the service thread held the host).
    waits: LockWaits,
}

/// How long the owner waited for a host's lock, over every [`SharedUdpHost::lock`]: how many
/// locks, how many found the host held, and percentiles of the wait (0 for a lock that did not
/// wait), from a histogram with four buckets per doubling (about 19 % apart).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LockWaitStatistics {
    pub locks: u64,
    pub waited: u64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    pub max_us: f64,
}

/// Buckets of the wait histogram: 4 per doubling from 1 µs to about 16 s.
const WAIT_BUCKETS: usize = 96;

#[derive(Debug)]
struct LockWaits {
    locks: AtomicU64,
    /// Waits by bucket (bucket 0: under 1 µs).
    buckets: [AtomicU64; WAIT_BUCKETS],
    max_ns: AtomicU64,
}

impl Default for LockWaits {
    fn default() -> Self {
        LockWaits {
            locks: AtomicU64::new(0),
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            max_ns: AtomicU64::new(0),
        }
    }
}

impl LockWaits {
    fn bucket(nanos: u64) -> usize {
        if nanos < 1000 {
            return 0;
        }
        let micros = nanos as f64 / 1000.0;
        (1 + (micros.log2() * 4.0) as usize).min(WAIT_BUCKETS - 1)
    }

    /// The lower bound of `bucket`, in microseconds.
    fn bucket_start_us(bucket: usize) -> f64 {
        if bucket == 0 {
            0.0
        } else {
            2f64.powf((bucket - 1) as f64 / 4.0)
        }
    }

    fn record(&self, waited: Option<Duration>) {
        self.locks.fetch_add(1, Ordering::Relaxed);
        if let Some(waited) = waited {
            let nanos = waited.as_nanos().min(u128::from(u64::MAX)) as u64;
            self.buckets[Self::bucket(nanos)].fetch_add(1, Ordering::Relaxed);
            self.max_ns.fetch_max(nanos, Ordering::Relaxed);
        }
    }

    fn statistics(&self) -> LockWaitStatistics {
        let counts: Vec<u64> = self
            .buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect();
        let locks = self.locks.load(Ordering::Relaxed);
        let waited: u64 = counts.iter().sum();
        // Locks that did not wait sit below every bucket.
        let percentile = |p: f64| {
            let rank = (p * locks as f64).ceil() as u64;
            let mut seen = locks - waited;
            if rank <= seen {
                return 0.0;
            }
            for (bucket, count) in counts.iter().enumerate() {
                seen += count;
                if seen >= rank {
                    return Self::bucket_start_us(bucket);
                }
            }
            Self::bucket_start_us(WAIT_BUCKETS - 1)
        };
        LockWaitStatistics {
            locks,
            waited,
            p50_us: percentile(0.5),
            p99_us: percentile(0.99),
            p999_us: percentile(0.999),
            max_us: self.max_ns.load(Ordering::Relaxed) as f64 / 1000.0,
        }
    }
}

impl SharedUdpHost {
    pub fn new(host: UdpHost) -> SharedUdpHost {
        SharedUdpHost {
            cell: Arc::new(HostCell {
                host: Mutex::new(Some(host)),
                events: Condvar::new(),
                waits: LockWaits::default(),
            }),
        }
    }

    /// The host, locked; see the type's documentation.
    pub fn lock(&self) -> HostGuard<'_> {
        let guard = match self.cell.host.try_lock() {
            Some(guard) => {
                self.cell.waits.record(None);
                guard
            }
            None => {
                let start = Instant::now();
                let guard = self.cell.host.lock();
                self.cell.waits.record(Some(start.elapsed()));
                guard
            }
        };
        HostGuard { guard: Some(guard) }
    }

    /// How long [`lock`](Self::lock) waited for the host so far (a service thread held it).
    pub fn lock_waits(&self) -> LockWaitStatistics {
        self.cell.waits.statistics()
    }

    /// The host locked for its service thread, unless it stays locked for `timeout` (the
    /// thread must also watch for its stop). A plain lock: the owner's after-work of
    /// [`HostGuard`] is not the thread's.
    pub(crate) fn try_lock_for_thread(
        &self,
        timeout: Duration,
    ) -> Option<MutexGuard<'_, Option<UdpHost>>> {
        self.cell.host.try_lock_for(timeout)
    }

    /// Whether both handles share one host.
    pub fn ptr_eq(&self, other: &SharedUdpHost) -> bool {
        Arc::ptr_eq(&self.cell, &other.cell)
    }

    /// Handles to this host (the owner's and the packet peers', the thread's).
    pub fn handle_count(&self) -> usize {
        Arc::strong_count(&self.cell)
    }

    /// Wakes owners waiting in [`service`](Self::service).
    pub(crate) fn notify_events(&self) {
        self.cell.events.notify_all();
    }

    /// `UdpHost::service` for a shared host: the next event, waiting up to `timeout` for one.
    /// Without a service thread the owner services the host itself under the lock. With one,
    /// the owner flushes what waits, then waits (lock released) for the thread to deliver an
    /// event. `Ok(None)` when the host was destroyed or the time passed.
    pub fn service(&self, timeout: Duration) -> io::Result<Option<Event>> {
        let deadline = Instant::now().checked_add(timeout);
        let mut guard = self.lock();
        loop {
            let Some(udp) = guard.as_mut() else {
                return Ok(None);
            };
            if !udp.check_thread() {
                let left =
                    deadline.map_or(timeout, |d| d.saturating_duration_since(Instant::now()));
                return udp.service(left);
            }
            if let Some(event) = udp.service(Duration::ZERO)? {
                return Ok(Some(event));
            }
            let Some(deadline) = deadline.filter(|d| *d > Instant::now()) else {
                return Ok(None);
            };
            if udp.has_outbox() {
                // What the service's flush built leaves (outside the lock) before the wait;
                // then events are looked for again, as they may have come meanwhile.
                guard.finish_owner_access();
                continue;
            }
            let inner = guard
                .guard
                .as_mut()
                .expect("the guard holds the lock until dropped");
            self.cell.events.wait_until(inner, deadline);
        }
    }
}

/// The owner's lock on a [`SharedUdpHost`]; dereferences to the host (`None` once destroyed).
/// Dropping it releases the lock first, then sends what the owner's calls built and wakes the
/// service thread if they need it (see [`SharedUdpHost`]).
#[derive(Debug)]
pub struct HostGuard<'a> {
    guard: Option<MutexGuard<'a, Option<UdpHost>>>,
}

impl HostGuard<'_> {
    /// Does what the owner's access left to do after unlocking, and locks again.
    fn finish_owner_access(&mut self) {
        let Some(mut guard) = self.guard.take() else {
            return;
        };
        let after = guard.as_mut().map(UdpHost::after_owner).unwrap_or_default();
        let mutex = MutexGuard::mutex(&guard);
        drop(guard);
        after.finish();
        self.guard = Some(mutex.lock());
    }
}

impl Deref for HostGuard<'_> {
    type Target = Option<UdpHost>;

    fn deref(&self) -> &Option<UdpHost> {
        self.guard
            .as_ref()
            .expect("the guard holds the lock until dropped")
    }
}

impl DerefMut for HostGuard<'_> {
    fn deref_mut(&mut self) -> &mut Option<UdpHost> {
        self.guard
            .as_mut()
            .expect("the guard holds the lock until dropped")
    }
}

impl Drop for HostGuard<'_> {
    fn drop(&mut self) {
        let Some(mut guard) = self.guard.take() else {
            return;
        };
        let after = guard.as_mut().map(UdpHost::after_owner).unwrap_or_default();
        drop(guard);
        after.finish();
    }
}

impl crate::udp_host::AfterOwner {
    /// Sends the owner's outbox in its turn (its counts and buffers go back through the link)
    /// and wakes the thread if asked. A socket error is logged; the datagram is dropped, as ENet
    /// drops what the socket refuses.
    fn finish(self) {
        let Some(link) = self.link else {
            return;
        };
        if let Some(mut taken) = self.outbox {
            if let Err(err) = link.send_in_turn(taken.ticket, &mut taken.outbox) {
                tracing::warn!(%err, "sending the owner's datagrams failed");
            }
            link.sent(taken.outbox);
        }
        if self.wake {
            link.wake.wake();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_percentiles_count_the_locks_that_did_not_wait() {
        let waits = LockWaits::default();
        for _ in 0..990 {
            waits.record(None);
        }
        for micros in [3, 3, 3, 3, 3, 100, 100, 100, 100, 5000] {
            waits.record(Some(Duration::from_micros(micros)));
        }
        let stats = waits.statistics();
        assert_eq!((stats.locks, stats.waited), (1000, 10));
        assert_eq!(stats.p50_us, 0.0);
        // The 990th lock did not wait; the 999th waited 100 µs, in the bucket from ~95 µs.
        assert_eq!(stats.p99_us, 0.0);
        assert!((90.0..=100.0).contains(&stats.p999_us), "{stats:?}");
        assert_eq!(stats.max_us, 5000.0);
    }
}
