//! The host bandwidth throttle (protocol description 9.3), run once a second by
//! `handle_timeout`. It visits connected peers only (the active list), never every slot.

use super::Host;
use crate::peer::PEER_PACKET_THROTTLE_SCALE;
use crate::time::EnetTime;
use crate::wire::{COMMAND_FLAG_ACKNOWLEDGE, Command};

impl Host {
    pub(crate) fn bandwidth_throttle(&mut self, now: EnetTime) {
        let elapsed = now.0.wrapping_sub(self.bandwidth_throttle_epoch.0);
        if elapsed < super::HOST_BANDWIDTH_THROTTLE_INTERVAL {
            return;
        }
        self.bandwidth_throttle_epoch = now;
        if self.connected_peers == 0 {
            return;
        }
        // Snapshot of the connected peers (the active list does not change below), in a reused
        // buffer.
        let mut connected = std::mem::take(&mut self.throttle_scratch);
        connected.clear();
        connected.extend(
            self.active
                .iter()
                .map(|&s| usize::from(s))
                .filter(|&i| self.peers[i].state.is_connected()),
        );
        self.throttle_outgoing(now, elapsed, &connected);
        self.throttle_limits_full = connected
            .iter()
            .all(|&i| self.peers[i].throttle.limit == PEER_PACKET_THROTTLE_SCALE);
        if self.recalculate_bandwidth_limits {
            self.recalculate_bandwidth_limits = false;
            self.allocate_incoming(now, &connected);
        }
        self.throttle_scratch = connected;
    }

    /// Part A: outgoing throttle limits.
    fn throttle_outgoing(&mut self, now: EnetTime, elapsed: u32, connected: &[usize]) {
        let mut data_total = u32::MAX;
        let mut bandwidth = u32::MAX;
        if self.outgoing_bandwidth != 0 {
            bandwidth = mul_div(self.outgoing_bandwidth, elapsed, 1000);
            data_total = connected.iter().fold(0u32, |acc, &i| {
                acc.wrapping_add(self.peers[i].bandwidth.outgoing_data_total)
            });
        }
        let mut peers_remaining = connected.len();
        let mut needs_adjustment = self.bandwidth_limited_peers > 0;
        while peers_remaining > 0 && needs_adjustment {
            needs_adjustment = false;
            let throttle = throttle_share(bandwidth, data_total);
            for &i in connected {
                let peer = &mut self.peers[i];
                if peer.bandwidth.incoming == 0 || peer.bandwidth.outgoing_throttle_epoch == now {
                    continue;
                }
                let peer_bandwidth = mul_div(peer.bandwidth.incoming, elapsed, 1000);
                if mul_div(
                    throttle,
                    peer.bandwidth.outgoing_data_total,
                    PEER_PACKET_THROTTLE_SCALE,
                ) <= peer_bandwidth
                {
                    continue;
                }
                peer.throttle.limit = if peer.bandwidth.outgoing_data_total == 0 {
                    1
                } else {
                    mul_div(
                        peer_bandwidth,
                        PEER_PACKET_THROTTLE_SCALE,
                        peer.bandwidth.outgoing_data_total,
                    )
                    .max(1)
                };
                peer.throttle.value = peer.throttle.value.min(peer.throttle.limit);
                peer.bandwidth.outgoing_throttle_epoch = now;
                peer.bandwidth.incoming_data_total = 0;
                peer.bandwidth.outgoing_data_total = 0;
                needs_adjustment = true;
                peers_remaining -= 1;
                bandwidth = bandwidth.wrapping_sub(peer_bandwidth);
                data_total = data_total.wrapping_sub(peer_bandwidth);
            }
        }
        if peers_remaining > 0 {
            let throttle = throttle_share(bandwidth, data_total);
            for &i in connected {
                let peer = &mut self.peers[i];
                if peer.bandwidth.outgoing_throttle_epoch == now {
                    continue;
                }
                peer.throttle.limit = throttle;
                peer.throttle.value = peer.throttle.value.min(throttle);
                peer.bandwidth.incoming_data_total = 0;
                peer.bandwidth.outgoing_data_total = 0;
            }
        }
    }

    /// Part B: incoming bandwidth allocation, announced with BANDWIDTH_LIMIT.
    fn allocate_incoming(&mut self, now: EnetTime, connected: &[usize]) {
        let mut peers_remaining = connected.len() as u32;
        let mut bandwidth = self.incoming_bandwidth;
        let mut needs_adjustment = true;
        let mut bandwidth_limit = 0u32;
        if bandwidth != 0 {
            while peers_remaining > 0 && needs_adjustment {
                needs_adjustment = false;
                bandwidth_limit = bandwidth / peers_remaining;
                for &i in connected {
                    let peer = &mut self.peers[i];
                    if peer.bandwidth.incoming_throttle_epoch == now {
                        continue;
                    }
                    if peer.bandwidth.outgoing > 0 && peer.bandwidth.outgoing >= bandwidth_limit {
                        continue;
                    }
                    peer.bandwidth.incoming_throttle_epoch = now;
                    needs_adjustment = true;
                    peers_remaining -= 1;
                    bandwidth = bandwidth.wrapping_sub(peer.bandwidth.outgoing);
                }
                if peers_remaining == 0 {
                    break;
                }
            }
        }
        let host_out = self.outgoing_bandwidth;
        for &i in connected {
            let peer = &self.peers[i];
            let incoming_bandwidth = if peer.bandwidth.incoming_throttle_epoch == now {
                peer.bandwidth.outgoing
            } else {
                bandwidth_limit
            };
            self.queue_control(
                i,
                COMMAND_FLAG_ACKNOWLEDGE,
                Command::BandwidthLimit {
                    incoming_bandwidth,
                    outgoing_bandwidth: host_out,
                },
            );
        }
    }
}

/// The throttle (x/32) that fits `data_total` bytes into `bandwidth`: all of it if they fit.
fn throttle_share(bandwidth: u32, data_total: u32) -> u32 {
    if data_total <= bandwidth {
        PEER_PACKET_THROTTLE_SCALE
    } else {
        mul_div(bandwidth, PEER_PACKET_THROTTLE_SCALE, data_total)
    }
}

/// `a * b / c` in u32 with ENet's wrapping multiplication (9.3 notes it may overflow); `c` is
/// never 0 at the call sites, and 0 is returned if it were.
fn mul_div(a: u32, b: u32, c: u32) -> u32 {
    a.wrapping_mul(b).checked_div(c).unwrap_or(0)
}
