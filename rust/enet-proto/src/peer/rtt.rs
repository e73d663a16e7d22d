//! Round-trip time estimation and the RTT-driven packet throttle (protocol description 8.3, 9.1).

use super::Peer;
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

impl Peer {
    /// Adjusts the packet throttle for one RTT sample (9.1), decelerating only on rises beyond
    /// [`THROTTLE_VARIANCE_FLOOR`] (see there).
    pub(crate) fn throttle(&mut self, rtt: u32) {
        if self.last_round_trip_time <= self.last_round_trip_time_variance {
            self.packet_throttle = self.packet_throttle_limit;
        } else if rtt <= self.last_round_trip_time {
            self.packet_throttle = self
                .packet_throttle
                .saturating_add(self.packet_throttle_acceleration)
                .min(self.packet_throttle_limit);
        } else if rtt
            > self.last_round_trip_time.saturating_add(
                self.last_round_trip_time_variance
                    .max(THROTTLE_VARIANCE_FLOOR)
                    .saturating_mul(2),
            )
        {
            self.packet_throttle = self
                .packet_throttle
                .saturating_sub(self.packet_throttle_deceleration);
        }
    }

    /// Feeds one RTT sample (already at least 1 ms) into the smoothed RTT and variance, with
    /// ENet 1.3.16+'s integer arithmetic (8.3).
    pub(crate) fn update_round_trip_time(&mut self, now: EnetTime, rtt: u32) {
        if self.last_receive_time != EnetTime(0) {
            self.throttle(rtt);
            self.round_trip_time_variance -= self.round_trip_time_variance / 4;
            if rtt >= self.round_trip_time {
                let d = rtt - self.round_trip_time;
                self.round_trip_time_variance = self.round_trip_time_variance.wrapping_add(d / 4);
                self.round_trip_time = self.round_trip_time.wrapping_add(d / 8);
            } else {
                let d = self.round_trip_time - rtt;
                self.round_trip_time_variance = self.round_trip_time_variance.wrapping_add(d / 4);
                self.round_trip_time -= d / 8;
            }
        } else {
            self.round_trip_time = rtt;
            self.round_trip_time_variance = rtt.saturating_add(1) / 2;
        }
        self.lowest_round_trip_time = self.lowest_round_trip_time.min(self.round_trip_time);
        self.highest_round_trip_time_variance = self
            .highest_round_trip_time_variance
            .max(self.round_trip_time_variance);
        if self.packet_throttle_epoch == EnetTime(0)
            || now.distance(self.packet_throttle_epoch) >= self.packet_throttle_interval
        {
            self.last_round_trip_time = self.lowest_round_trip_time;
            self.last_round_trip_time_variance = self.highest_round_trip_time_variance.max(1);
            self.lowest_round_trip_time = self.round_trip_time;
            self.highest_round_trip_time_variance = self.round_trip_time_variance;
            self.packet_throttle_epoch = now;
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
        assert_eq!(p.round_trip_time, 100);
        assert_eq!(p.round_trip_time_variance, 50);
        p.last_receive_time = EnetTime(1000);
        p.update_round_trip_time(EnetTime(1100), 180);
        // var = 50 - 12 + 80/4 = 58; srtt = 100 + 80/8 = 110
        assert_eq!(p.round_trip_time_variance, 58);
        assert_eq!(p.round_trip_time, 110);
    }

    #[test]
    fn throttle_accelerates_and_decelerates() {
        let mut p = Peer::new(0, 1392);
        p.last_round_trip_time = 100;
        p.last_round_trip_time_variance = 10;
        p.packet_throttle = 10;
        p.throttle(90);
        assert_eq!(p.packet_throttle, 12);
        p.throttle(200);
        assert_eq!(p.packet_throttle, 10);
        p.throttle(115);
        assert_eq!(p.packet_throttle, 10);
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
        assert_eq!(
            p.packet_throttle, p.packet_throttle_limit,
            "30 ms of jitter"
        );
        for i in 0..5 {
            p.update_round_trip_time(EnetTime(1600 + i * 10), 3 + 2 * THROTTLE_VARIANCE_FLOOR + 1);
        }
        assert_eq!(
            p.packet_throttle,
            p.packet_throttle_limit - 10,
            "a rise beyond the floor"
        );
    }
}
