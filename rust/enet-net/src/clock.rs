//! The driver's clock: a monotonic [`Instant`] mapped onto ENet's wrapping millisecond counter.

use std::time::{Duration, Instant};

use rust_enet_proto::EnetTime;

/// ENet time at the clock's origin: about 17 minutes. A reset peer's "last heard" time is 0, and
/// ENet reads that as "long ago" because its own clock has usually run for a while by the time a
/// connection is made; so a freshly connected peer is pinged at once and gets a real RTT estimate
/// within a round trip. Starting near 0 would leave the 500 ms default in place for the first ping
/// interval, and the first lost reliable datagram would wait out a 500 ms retransmission timeout.
pub const CLOCK_START: u32 = 0x0010_0000;

/// Maps `Instant` to [`EnetTime`]: whole milliseconds since the origin, plus a start value.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    origin: Instant,
    start: u32,
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock {
    /// A clock reading [`CLOCK_START`] now.
    pub fn new() -> Self {
        Self::starting_at(CLOCK_START)
    }

    /// A clock reading `start` now; tests use values near `u32::MAX` to cross the wrap.
    pub fn starting_at(start: u32) -> Self {
        Self {
            origin: Instant::now(),
            start,
        }
    }

    /// The ENet time of `instant` (instants before the origin read as the origin).
    pub fn at(&self, instant: Instant) -> EnetTime {
        let elapsed = instant.saturating_duration_since(self.origin).as_millis();
        // Truncation is the wrap ENet time is defined to have.
        EnetTime(self.start.wrapping_add(elapsed as u32))
    }

    /// The current ENet time.
    pub fn now(&self) -> EnetTime {
        self.at(Instant::now())
    }

    /// The instant at which the clock will read `deadline`, given that it reads `now_time` at
    /// `now`. Deadlines already past map to `now`.
    pub fn instant_of(&self, deadline: EnetTime, now: Instant, now_time: EnetTime) -> Instant {
        if !deadline.is_after(now_time) {
            return now;
        }
        // The deadline's millisecond begins at origin + (elapsed ms of now + distance).
        let elapsed_ms = now.saturating_duration_since(self.origin).as_millis() as u64;
        let target = elapsed_ms + u64::from(deadline.0.wrapping_sub(now_time.0));
        self.origin + Duration::from_millis(target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_non_zero_and_wraps() {
        let clock = Clock::new();
        assert_eq!(clock.at(clock.origin), EnetTime(CLOCK_START));
        let clock = Clock::starting_at(u32::MAX - 1);
        assert_eq!(
            clock.at(clock.origin + Duration::from_millis(3)),
            EnetTime(1)
        );
    }

    #[test]
    fn deadlines_map_back_to_instants() {
        let clock = Clock::starting_at(u32::MAX - 10);
        let now = clock.origin + Duration::from_micros(2_500);
        let now_time = clock.at(now);
        let deadline = now_time.add_millis(20);
        let at = clock.instant_of(deadline, now, now_time);
        assert_eq!(clock.at(at), deadline);
        assert_eq!(
            clock.at(at - Duration::from_micros(1)),
            deadline.sub_millis(1)
        );
        assert_eq!(clock.instant_of(now_time.sub_millis(5), now, now_time), now);
    }
}
