//! Round-trip time estimation and the RTT-driven packet throttle (protocol description 8.3, 9.1):
//! [`RoundTrip`] and [`Throttle`], the two groups of [`Peer`] fields they keep.

use super::{
    PEER_DEFAULT_PACKET_THROTTLE, PEER_DEFAULT_ROUND_TRIP_TIME, PEER_PACKET_THROTTLE_ACCELERATION,
    PEER_PACKET_THROTTLE_DECELERATION, PEER_PACKET_THROTTLE_INTERVAL, PEER_PACKET_THROTTLE_SCALE,
    Peer,
};
use crate::time::EnetTime;

/// The least round-trip variance (ms) the throttle's deceleration test assumes: a sample slows
/// the throttle only if it exceeds the epoch's round trip by more than twice this.
///
/// ENet decelerates on `rtt > last_rtt + 2 * last_variance`. In the first epoch those are the
/// handshake's own sample, a few milliseconds with a variance of half that, so a sample a frame
/// later than the handshake's (a host serviced once per frame, acknowledgements sent with the
/// frame's flush, a busy frame) reads as congestion; a server sending reliable traffic every
/// frame then throttles every peer to 0 within a second and drops all unreliable packets for the
/// rest of the 5 s epoch, or longer. Jitter of one or two 60 Hz frames is not congestion. Only
/// when this host drops unreliable packets changes; the wire format does not.
pub(crate) const THROTTLE_VARIANCE_FLOOR: u32 = 16;

struct_with_defaults! {
    /// Round-trip time statistics in ms (8.3), with ENet's names in brackets.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(crate) struct RoundTrip {
        /// Smoothed round-trip time (`roundTripTime`).
        pub(crate) smoothed: u32 = PEER_DEFAULT_ROUND_TRIP_TIME,
        /// Its variance (`roundTripTimeVariance`).
        pub(crate) variance: u32 = 0,
        /// Lowest smoothed RTT of the previous throttle interval (`lastRoundTripTime`).
        pub(crate) last: u32 = PEER_DEFAULT_ROUND_TRIP_TIME,
        /// Highest variance of the previous throttle interval (`lastRoundTripTimeVariance`).
        pub(crate) last_variance: u32 = 0,
        /// Lowest smoothed RTT of the current throttle interval (`lowestRoundTripTime`).
        pub(crate) lowest: u32 = PEER_DEFAULT_ROUND_TRIP_TIME,
        /// Highest variance of the current throttle interval (`highestRoundTripTimeVariance`).
        pub(crate) highest_variance: u32 = 0,
    }
}

struct_with_defaults! {
    /// The packet throttle (9.1): the share `value`/32 of unreliable packets sent, which also
    /// scales the reliable window, and the parameters that move it (THROTTLE_CONFIGURE).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(crate) struct Throttle {
        /// `packetThrottle`.
        pub(crate) value: u32 = PEER_DEFAULT_PACKET_THROTTLE,
        /// Upper bound of `value`, set by the host bandwidth throttle (`packetThrottleLimit`).
        pub(crate) limit: u32 = PEER_PACKET_THROTTLE_SCALE,
        /// The unreliable drop counter (`packetThrottleCounter`).
        pub(crate) counter: u32 = 0,
        /// Start of the current throttle interval (`packetThrottleEpoch`).
        pub(crate) epoch: EnetTime = EnetTime(0),
        /// Increase per good RTT sample.
        pub(crate) acceleration: u32 = PEER_PACKET_THROTTLE_ACCELERATION,
        /// Decrease per bad RTT sample.
        pub(crate) deceleration: u32 = PEER_PACKET_THROTTLE_DECELERATION,
        /// Length in ms of the interval over which the lowest RTT is measured.
        pub(crate) interval: u32 = PEER_PACKET_THROTTLE_INTERVAL,
    }
}

impl Throttle {
    /// Adjusts the throttle for one RTT sample against the previous interval's `round_trip`
    /// (9.1), decelerating only on rises beyond [`THROTTLE_VARIANCE_FLOOR`] (see there).
    pub(crate) fn adjust(&mut self, rtt: u32, round_trip: &RoundTrip) {
        if round_trip.last <= round_trip.last_variance {
            self.value = self.limit;
        } else if rtt <= round_trip.last {
            self.value = self.value.saturating_add(self.acceleration).min(self.limit);
        } else if rtt
            > round_trip.last.saturating_add(
                round_trip
                    .last_variance
                    .max(THROTTLE_VARIANCE_FLOOR)
                    .saturating_mul(2),
            )
        {
            self.value = self.value.saturating_sub(self.deceleration);
        }
    }
}

impl Peer {
    /// Feeds one RTT sample (already at least 1 ms) into the smoothed RTT and variance, with
    /// ENet 1.3.16+'s integer arithmetic (8.3).
    pub(crate) fn update_round_trip_time(&mut self, now: EnetTime, rtt: u32) {
        let round_trip = &mut self.rtt;
        if self.last_receive_time != EnetTime(0) {
            self.throttle.adjust(rtt, round_trip);
            round_trip.variance -= round_trip.variance / 4;
            if rtt >= round_trip.smoothed {
                let d = rtt - round_trip.smoothed;
                round_trip.variance = round_trip.variance.wrapping_add(d / 4);
                round_trip.smoothed = round_trip.smoothed.wrapping_add(d / 8);
            } else {
                let d = round_trip.smoothed - rtt;
                round_trip.variance = round_trip.variance.wrapping_add(d / 4);
                round_trip.smoothed -= d / 8;
            }
        } else {
            round_trip.smoothed = rtt;
            round_trip.variance = rtt.saturating_add(1) / 2;
        }
        round_trip.lowest = round_trip.lowest.min(round_trip.smoothed);
        round_trip.highest_variance = round_trip.highest_variance.max(round_trip.variance);
        if self.throttle.epoch == EnetTime(0)
            || now.distance(self.throttle.epoch) >= self.throttle.interval
        {
            round_trip.last = round_trip.lowest;
            round_trip.last_variance = round_trip.highest_variance.max(1);
            round_trip.lowest = round_trip.smoothed;
            round_trip.highest_variance = round_trip.variance;
            self.throttle.epoch = now;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_sample_is_adopted_then_smoothed() {
        let mut p = Peer::new(0, 1392);
        p.update_round_trip_time(EnetTime(1000), 100);
        assert_eq!(p.rtt.smoothed, 100);
        assert_eq!(p.rtt.variance, 50);
        p.last_receive_time = EnetTime(1000);
        p.update_round_trip_time(EnetTime(1100), 180);
        // var = 50 - 12 + 80/4 = 58; srtt = 100 + 80/8 = 110
        assert_eq!(p.rtt.variance, 58);
        assert_eq!(p.rtt.smoothed, 110);
    }

    #[test]
    fn throttle_accelerates_and_decelerates() {
        let mut p = Peer::new(0, 1392);
        p.rtt.last = 100;
        p.rtt.last_variance = 10;
        p.throttle.value = 10;
        p.throttle.adjust(90, &p.rtt);
        assert_eq!(p.throttle.value, 12);
        p.throttle.adjust(200, &p.rtt);
        assert_eq!(p.throttle.value, 10);
        p.throttle.adjust(115, &p.rtt);
        assert_eq!(p.throttle.value, 10);
    }

    /// The handshake's quick first sample must not make frame-sized jitter look like
    /// congestion; a real rise still slows the throttle.
    #[test]
    fn a_quick_handshake_sample_does_not_throttle_a_frame_later() {
        let mut p = Peer::new(0, 1392);
        p.update_round_trip_time(EnetTime(1000), 3);
        p.last_receive_time = EnetTime(1000);
        for i in 0..50 {
            p.update_round_trip_time(EnetTime(1010 + i * 10), 3 + 30);
        }
        assert_eq!(p.throttle.value, p.throttle.limit, "30 ms of jitter");
        for i in 0..5 {
            p.update_round_trip_time(EnetTime(1600 + i * 10), 3 + 2 * THROTTLE_VARIANCE_FLOOR + 1);
        }
        assert_eq!(
            p.throttle.value,
            p.throttle.limit - 10,
            "a rise beyond the floor"
        );
    }
}
