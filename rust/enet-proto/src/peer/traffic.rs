//! Per-peer traffic accounting: the bandwidths both ends announced and the bytes counted against
//! them each throttle interval ([`Bandwidth`], read by the host bandwidth throttle in
//! `host/bandwidth.rs`), whole-connection counters ([`Traffic`]) and the packet-loss statistic
//! ([`PacketLoss`], protocol description 8.7), all reported through [`Peer`]'s accessors.

#[cfg(doc)]
use super::Peer;
use super::{PEER_PACKET_LOSS_INTERVAL, PEER_PACKET_LOSS_SCALE};
use crate::time::EnetTime;

/// Bandwidth limits of a connection (9.3, 9.4) and the bytes of the current throttle interval.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Bandwidth {
    /// Incoming bandwidth the remote announced (bytes/s, 0 = unlimited).
    pub(crate) incoming: u32,
    /// Outgoing bandwidth the remote announced (bytes/s, 0 = unlimited).
    pub(crate) outgoing: u32,
    /// When the host last fixed this peer's share of its incoming bandwidth.
    pub(crate) incoming_throttle_epoch: EnetTime,
    /// When the host last throttled this peer to its incoming bandwidth.
    pub(crate) outgoing_throttle_epoch: EnetTime,
    /// Bytes received since the last bandwidth-throttle tick.
    pub(crate) incoming_data_total: u32,
    /// Bytes queued toward the peer since the last bandwidth-throttle tick.
    pub(crate) outgoing_data_total: u32,
}

/// Counters over the whole connection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Traffic {
    /// Bytes received from the peer.
    pub(crate) total_incoming_data: u64,
    /// Bytes queued toward the peer.
    pub(crate) total_outgoing_data: u64,
    /// Reliable commands sent again after a retransmission timeout.
    pub(crate) resends: u64,
    /// Datagrams exchanged with this peer and their bytes as they left or arrived (ENet header,
    /// checksum and compressed command area included).
    pub(crate) datagrams_sent: u64,
    pub(crate) datagrams_received: u64,
    pub(crate) wire_bytes_sent: u64,
    pub(crate) wire_bytes_received: u64,
}

/// Packet loss (8.7): commands sent and reliable commands lost in the current 10-second period,
/// and the smoothed loss they add up to, as fractions x/65536.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct PacketLoss {
    /// Start of the current period (0: none yet).
    pub(crate) epoch: EnetTime,
    pub(crate) packets_sent: u32,
    pub(crate) packets_lost: u32,
    /// Smoothed packet loss (`packetLoss`).
    pub(crate) mean: u32,
    /// Its variance (`packetLossVariance`).
    pub(crate) variance: u32,
}

impl PacketLoss {
    /// Samples the statistic when a datagram with commands is sent at `now` (8.7): once a
    /// period is over and something was sent in it, its loss is folded into `mean` and
    /// `variance` and a new period starts.
    pub(crate) fn update(&mut self, now: EnetTime) {
        if self.epoch == EnetTime(0) {
            self.epoch = now;
        } else if now.distance(self.epoch) >= PEER_PACKET_LOSS_INTERVAL && self.packets_sent > 0 {
            let sample = ((u64::from(self.packets_lost) * u64::from(PEER_PACKET_LOSS_SCALE))
                / u64::from(self.packets_sent)) as u32;
            let diff = sample.abs_diff(self.mean);
            self.variance = self.variance.wrapping_mul(3).wrapping_add(diff) / 4;
            self.mean = self.mean.wrapping_mul(7).wrapping_add(sample) / 8;
            self.epoch = now;
            self.packets_sent = 0;
            self.packets_lost = 0;
        }
    }
}
