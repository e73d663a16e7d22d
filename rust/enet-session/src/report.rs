//! What a session reports about itself: traffic totals and the state of its links.

use crate::session::Session;
use crate::stats::{self, LinkSnapshot, Totals};

impl Session {
    /// The traffic totals of every host.
    pub fn totals(&self) -> Totals {
        let mut totals = Totals::default();
        self.each_host(|host| {
            if let Some(udp) = host.lock().as_ref() {
                totals.add(&Totals::of(udp));
            }
        });
        totals
    }

    /// Connected remote peers with their mean and largest round trip (ms) and mean loss (%).
    pub fn link_snapshot(&mut self) -> LinkSnapshot {
        let (mut peers, mut rtt_sum, mut rtt_max, mut loss_sum) = (0usize, 0.0, 0.0f64, 0.0);
        self.each_remote_mut(|udp, remote| {
            if let Some(peer) = udp
                .host()
                .peer(remote.slot)
                .filter(|_| remote.is_connected(udp))
            {
                let rtt = f64::from(peer.round_trip_time());
                peers += 1;
                rtt_sum += rtt;
                rtt_max = rtt_max.max(rtt);
                loss_sum += stats::loss_percent(peer);
            }
        });
        let mean = |sum: f64| if peers == 0 { 0.0 } else { sum / peers as f64 };
        LinkSnapshot {
            peers,
            rtt_avg_ms: mean(rtt_sum),
            rtt_max_ms: rtt_max,
            loss_percent: mean(loss_sum),
        }
    }
}
