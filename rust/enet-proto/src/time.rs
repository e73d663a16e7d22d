//! ENet time: a wrapping `u32` millisecond counter with wrap-aware ordering.

use std::cmp::Ordering;

/// Two instants further apart than this are assumed to have wrapped (`ENET_TIME_OVERFLOW`, one day).
pub const TIME_OVERFLOW: u32 = 86_400_000;

/// An ENet timestamp: milliseconds from an arbitrary origin, wrapping every ~49.7 days.
///
/// Comparisons follow ENet's `ENET_TIME_LESS` family: they are correct while the two instants are
/// within one day of each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct EnetTime(pub u32);

impl EnetTime {
    /// The raw millisecond counter.
    pub const fn as_millis(self) -> u32 {
        self.0
    }

    /// The low 16 bits, as carried in a datagram's `sentTime` field.
    pub const fn low16(self) -> u16 {
        self.0 as u16
    }

    /// `self + ms`, wrapping.
    #[must_use]
    pub const fn add_millis(self, ms: u32) -> Self {
        Self(self.0.wrapping_add(ms))
    }

    /// `self - ms`, wrapping.
    #[must_use]
    pub const fn sub_millis(self, ms: u32) -> Self {
        Self(self.0.wrapping_sub(ms))
    }

    /// `self` is strictly earlier than `other` (`ENET_TIME_LESS`).
    pub const fn is_before(self, other: Self) -> bool {
        self.0.wrapping_sub(other.0) >= TIME_OVERFLOW
    }

    /// `self` is strictly later than `other` (`ENET_TIME_GREATER`).
    pub const fn is_after(self, other: Self) -> bool {
        other.0.wrapping_sub(self.0) >= TIME_OVERFLOW
    }

    /// Absolute distance in milliseconds (`ENET_TIME_DIFFERENCE`).
    pub const fn distance(self, other: Self) -> u32 {
        let d = self.0.wrapping_sub(other.0);
        if d >= TIME_OVERFLOW {
            other.0.wrapping_sub(self.0)
        } else {
            d
        }
    }

    /// Wrap-aware ordering, for picking the earliest of several deadlines.
    pub fn wrapping_cmp(self, other: Self) -> Ordering {
        if self == other {
            Ordering::Equal
        } else if self.is_before(other) {
            Ordering::Less
        } else {
            Ordering::Greater
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordering_survives_wrap() {
        let late = EnetTime(5);
        let early = EnetTime(u32::MAX - 5);
        assert!(early.is_before(late));
        assert!(late.is_after(early));
        assert_eq!(late.distance(early), 11);
        assert_eq!(early.distance(late), 11);
        assert_eq!(early.add_millis(11), late);
        assert_eq!(early.wrapping_cmp(late), Ordering::Less);
    }

    #[test]
    fn equal_times_are_neither_before_nor_after() {
        let t = EnetTime(1234);
        assert!(!t.is_before(t));
        assert!(!t.is_after(t));
        assert_eq!(t.distance(t), 0);
    }
}
