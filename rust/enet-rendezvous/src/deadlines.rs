//! A lazy deadline queue: idle timers that move later on every bit of activity without
//! touching the queue.
//!
//! Each timed object is scheduled once; activity only updates the object's own "last active"
//! time. When its entry comes due, the owner recomputes the real deadline and either expires
//! the object or schedules it again. This needs deadlines that only move later, which holds for
//! idle and lifetime timers. Keys carry a generation where objects are reused (relay ports), so
//! an entry of an expired object never touches its successor.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

/// Min-queue of `(deadline, key)`.
///
/// Drive it with [`schedule`](Self::schedule) when an object is created (and when a due entry
/// turns out early), [`pop_due`](Self::pop_due) in the timeout handler, and
/// [`next`](Self::next) for the driver's wake-up time.
#[derive(Debug)]
pub struct DeadlineQueue<K: Ord> {
    heap: BinaryHeap<Reverse<(Instant, K)>>,
}

impl<K: Ord> Default for DeadlineQueue<K> {
    fn default() -> Self {
        Self {
            heap: BinaryHeap::new(),
        }
    }
}

impl<K: Ord + Copy> DeadlineQueue<K> {
    /// Adds an entry for `key` at `at`.
    pub fn schedule(&mut self, at: Instant, key: K) {
        self.heap.push(Reverse((at, key)));
    }

    /// The earliest entry's time (possibly a stale one: then the wake-up finds nothing to do).
    pub fn next(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((at, _))| *at)
    }

    /// Removes and returns one entry due at `now`, if any.
    pub fn pop_due(&mut self, now: Instant) -> Option<K> {
        match self.heap.peek() {
            Some(Reverse((at, _))) if *at <= now => self.heap.pop().map(|Reverse((_, key))| key),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn entries_come_due_in_time_order() {
        let t0 = Instant::now();
        let mut queue = DeadlineQueue::default();
        queue.schedule(t0 + Duration::from_secs(3), 'c');
        queue.schedule(t0 + Duration::from_secs(1), 'a');
        queue.schedule(t0 + Duration::from_secs(2), 'b');
        assert_eq!(queue.next(), Some(t0 + Duration::from_secs(1)));
        assert_eq!(queue.pop_due(t0), None);
        let t2 = t0 + Duration::from_secs(2);
        assert_eq!(queue.pop_due(t2), Some('a'));
        assert_eq!(queue.pop_due(t2), Some('b'));
        assert_eq!(queue.pop_due(t2), None);
        assert_eq!(queue.next(), Some(t0 + Duration::from_secs(3)));
    }
}
