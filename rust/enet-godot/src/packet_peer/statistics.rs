//! A `RustENetPacketPeer`'s figures: ENet's per-peer statistics, this crate's own, and why the
//! connection ended.

// gdext's `#[godot_api]` expands to public helper types without `Debug` implementations.
#![allow(missing_debug_implementations)]

use godot::prelude::*;
use rust_enet_session::LeaveReason;
use rust_enet_session::stats::{self, Totals};

use super::RustENetPacketPeer;

/// `{"reason": kind, "message": text, "data": remote data}` for scripts.
pub(crate) fn reason_dictionary(reason: &LeaveReason) -> VarDictionary {
    let mut out = VarDictionary::new();
    out.set("reason", reason.kind());
    out.set("message", reason.to_string().as_str());
    out.set("data", i64::from(reason.data()));
    out
}

#[godot_api(secondary)]
impl RustENetPacketPeer {
    /// Returns the connection statistic `statistic`, one of the `PEER_*` constants, in ENet's units
    /// (milliseconds for times, fractions of `PACKET_LOSS_SCALE` for loss, fractions of
    /// `PACKET_THROTTLE_SCALE` for the throttle).
    #[func]
    pub fn get_statistic(&self, statistic: i32) -> f64 {
        self.read_peer(|udp, id| {
            let p = udp.host().peer(id)?;
            let value = match statistic {
                Self::PEER_PACKET_LOSS => p.packet_loss(),
                Self::PEER_PACKET_LOSS_VARIANCE => p.packet_loss_variance(),
                Self::PEER_ROUND_TRIP_TIME => p.round_trip_time(),
                Self::PEER_ROUND_TRIP_TIME_VARIANCE => p.round_trip_time_variance(),
                Self::PEER_LAST_ROUND_TRIP_TIME => p.last_round_trip_time(),
                Self::PEER_PACKET_THROTTLE => p.packet_throttle(),
                Self::PEER_PACKET_THROTTLE_LIMIT => p.packet_throttle_limit(),
                Self::PEER_PACKET_THROTTLE_ACCELERATION => p.packet_throttle_acceleration(),
                Self::PEER_PACKET_THROTTLE_DECELERATION => p.packet_throttle_deceleration(),
                Self::PEER_PACKET_THROTTLE_INTERVAL => p.packet_throttle_interval(),
                // Epochs, counters and the last RTT variance are internal to the core.
                Self::PEER_PACKET_LOSS_EPOCH
                | Self::PEER_LAST_ROUND_TRIP_TIME_VARIANCE
                | Self::PEER_PACKET_THROTTLE_COUNTER
                | Self::PEER_PACKET_THROTTLE_EPOCH => 0,
                _ => {
                    godot_error!("RustENetPacketPeer.get_statistic: unknown statistic {statistic}");
                    0
                }
            };
            Some(f64::from(value))
        })
        .flatten()
        .unwrap_or(0.0)
    }

    /// Returns this connection's figures: `rtt_ms`, `rtt_variance_ms`, `loss_percent` (the share of
    /// reliable commands lost in ENet's current 10-second loss epoch, or its smoothed packet loss
    /// early in an epoch), `throttle` (0 to 32: ENet's share of unreliable packets let through),
    /// `reliable_in_flight` (reliable commands sent and not yet acknowledged), `queued_commands`,
    /// `reliable_bytes_in_transit`, `waiting_bytes` (received data waiting for earlier packets or
    /// for the game), the totals `datagrams_sent`, `datagrams_received`, `bytes_sent`,
    /// `bytes_received` (the datagrams exchanged with this peer as they left and arrived: ENet's
    /// header, checksum and compressed commands; DTLS adds its own records below) and `resends`,
    /// and each of them per second (`*_per_sec`) over the time between two calls at least a second
    /// apart. An empty dictionary when the peer is not active. `RustENetPeer.get_statistics` gives
    /// a whole host's bytes as they crossed the socket, DTLS included.
    #[func]
    pub fn get_statistics(&mut self) -> VarDictionary {
        let mut out = VarDictionary::new();
        let Some(figures) = self
            .read_peer(|udp, id| {
                udp.host().peer(id).map(|p| {
                    let (datagrams_sent, datagrams_received) = p.datagrams();
                    let (bytes_sent, bytes_received) = p.wire_bytes();
                    let totals = Totals {
                        datagrams_sent,
                        datagrams_received,
                        bytes_sent,
                        bytes_received,
                        resends: p.resends(),
                        ..Totals::default()
                    };
                    let loss = stats::loss_percent(p);
                    let fixed = [
                        ("rtt_ms", f64::from(p.round_trip_time())),
                        ("rtt_variance_ms", f64::from(p.round_trip_time_variance())),
                        ("loss_percent", loss),
                        ("throttle", f64::from(p.packet_throttle())),
                        ("reliable_in_flight", p.unacknowledged_commands() as f64),
                        ("queued_commands", p.queued_commands() as f64),
                        (
                            "reliable_bytes_in_transit",
                            f64::from(p.reliable_data_in_transit()),
                        ),
                        ("waiting_bytes", p.total_waiting_data() as f64),
                    ];
                    (fixed, totals)
                })
            })
            .flatten()
        else {
            return out;
        };
        let (fixed, totals) = figures;
        self.meter.sample(std::time::Instant::now(), totals);
        let rates = self.meter.rates();
        let total_entries = totals.entries().map(|(key, total)| (key, total as f64));
        let traffic = total_entries.into_iter().chain(rates.entries());
        for (key, value) in fixed.into_iter().chain(traffic) {
            // The host drops malformed datagrams before they reach a peer.
            if !key.starts_with("dropped_malformed") {
                out.set(key, value);
            }
        }
        out
    }

    /// Returns why this connection ended, once it has (an empty dictionary before). The dictionary
    /// holds `"reason"`, `"message"` (a sentence for logs and players) and `"data"` (what the
    /// remote's disconnect carried, else `0`). Reasons: `"remote"` (the remote end disconnected),
    /// `"timeout"` (it stopped answering, or never answered the connection request),
    /// `"protocol_violation"` (it broke the protocol and was dropped; the message says how),
    /// `"refused"` (the server refused the connection: full, refusing new connections, or the id is
    /// taken), `"dtls_failure"` (with OpenSSL's reason, e.g. a certificate that does not name the
    /// host), `"socket_error"`, `"internal_error"` (the host's service thread failed: a bug to
    /// report), `"local"` (our graceful disconnect completed) and `"kicked"` (dropped here at
    /// once).
    #[func]
    pub fn get_disconnect_reason(&self) -> VarDictionary {
        self.disconnect_reason
            .as_ref()
            .map(reason_dictionary)
            .unwrap_or_default()
    }
}
