//! Token buckets: the per-relay and global byte rates, and the per-client line rate.

use std::time::{Duration, Instant};

const MICROS_PER_SEC: u128 = 1_000_000;

/// A token bucket that refills `rate` units per second up to `burst` units and starts full.
///
/// Drive it with [`try_take`](Self::try_take) for each unit of work: it refills from the time
/// elapsed since the previous call and either takes the whole amount or nothing. A rate of 0
/// means unlimited.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: u64,
    burst: u64,
    /// Units × 10⁶, so sub-unit refills over short intervals are not lost.
    micro_tokens: u128,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket (`burst` is raised to at least 1 unit when a rate is set).
    pub fn new(rate: u64, burst: u64, now: Instant) -> Self {
        let burst = if rate == 0 { 0 } else { burst.max(1) };
        Self {
            rate,
            burst,
            micro_tokens: u128::from(burst) * MICROS_PER_SEC,
            last: now,
        }
    }

    /// Takes `amount` units if the bucket holds them; otherwise takes nothing.
    pub fn try_take(&mut self, amount: u64, now: Instant) -> bool {
        if self.rate == 0 {
            return true;
        }
        let cap = u128::from(self.burst) * MICROS_PER_SEC;
        let elapsed = now.saturating_duration_since(self.last);
        // Past the time a refill from empty takes, the bucket is full anyway; capping keeps
        // the product below overflow for any elapsed time.
        let full_after = Duration::from_secs(self.burst / self.rate + 1);
        let elapsed_us = elapsed.min(full_after).as_micros();
        self.micro_tokens = (self.micro_tokens + u128::from(self.rate) * elapsed_us).min(cap);
        self.last = now;
        let wanted = u128::from(amount) * MICROS_PER_SEC;
        if wanted > self.micro_tokens {
            return false;
        }
        self.micro_tokens -= wanted;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_rate() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(1000, 500, t0);
        assert!(bucket.try_take(500, t0));
        assert!(!bucket.try_take(1, t0), "the burst is spent");
        let t1 = t0 + Duration::from_millis(100);
        assert!(
            !bucket.try_take(101, t1),
            "100 ms refill 100 units, not 101"
        );
        assert!(bucket.try_take(100, t1));
        let t2 = t1 + Duration::from_secs(3600);
        assert!(!bucket.try_take(501, t2), "never above the burst");
        assert!(bucket.try_take(500, t2));
    }

    #[test]
    fn a_refused_take_takes_nothing() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(10, 10, t0);
        assert!(!bucket.try_take(11, t0));
        assert!(bucket.try_take(10, t0));
    }

    #[test]
    fn rate_zero_is_unlimited() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(0, 0, t0);
        assert!(bucket.try_take(u64::MAX, t0));
    }
}
