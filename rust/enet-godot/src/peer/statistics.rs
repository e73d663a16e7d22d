//! What a `RustENetPeer` reports about its network: statistics, disconnect reasons, monitors.

// gdext's `#[godot_api]` expands to public helper types without `Debug` implementations.
#![allow(missing_debug_implementations)]

use godot::prelude::*;

use super::RustENetPeer;
use crate::monitors;
use crate::packet_peer::reason_dictionary;

#[godot_api(secondary)]
impl RustENetPeer {
    /// Returns what this peer's hosts did, summed over all of them: `peers` (connected remote
    /// peers), `rtt_avg_ms`, `rtt_max_ms`, `loss_percent` (the share of reliable commands lost in
    /// ENet's current 10-second loss epoch, averaged over the peers), the totals `datagrams_sent`,
    /// `datagrams_received`, `bytes_sent`, `bytes_received` (as they crossed the socket: after
    /// compression, with ENet's and DTLS's overhead), `resends` (reliable commands sent again) and
    /// `dropped_malformed` (datagrams dropped as malformed), and each total per second as
    /// `*_per_sec`, measured over the last full second by `MultiplayerPeer.poll`. A peer that went
    /// through a rendezvous server also has `path`, how a client reaches its server (`"direct"` or
    /// `"relay"`, `""` while it looks for a path), and `peers_relayed`, how many of a server's
    /// clients came through the relay (`get_peer_path` tells each one's). The same figures, for
    /// every active peer of the process together, are the `RustENet/` monitors of the editor's
    /// Debugger > Monitors tab.
    ///
    /// Diagnostics go to Godot's output: errors and warnings (a peer dropped for a protocol
    /// violation, a failed DTLS session with its reason, socket errors, malformed datagrams) as
    /// `@GlobalScope.push_error` / `@GlobalScope.push_warning`, information and debug lines in the
    /// verbose log (`--verbose`), at most 3 lines of a kind per second and then one line saying how
    /// many were suppressed. The project setting `network/rust_enet/log_level` (Off, Error, Warning
    /// (default), Info, Debug) sets the level.
    #[func]
    pub fn get_statistics(&mut self) -> VarDictionary {
        let mut out = VarDictionary::new();
        let Some(session) = &mut self.session else {
            return out;
        };
        let totals = session.totals();
        let link = session.link_snapshot();
        let rates = self.meter.rates();
        let link_entries = [
            ("peers", link.peers as f64),
            ("rtt_avg_ms", link.rtt_avg_ms),
            ("rtt_max_ms", link.rtt_max_ms),
            ("loss_percent", link.loss_percent),
        ];
        let total_entries = totals.entries().map(|(key, total)| (key, total as f64));
        for (key, value) in link_entries
            .into_iter()
            .chain(total_entries)
            .chain(rates.entries())
        {
            out.set(key, value);
        }
        if session.went_through_rendezvous() {
            let path = session.path_of(1).map_or("", |path| path.kind());
            out.set("path", path);
            out.set("peers_relayed", session.relayed_peers() as f64);
        }
        out
    }

    /// Returns why the remote peer `id` left: valid in the `MultiplayerPeer.peer_disconnected`
    /// handler and until the next `MultiplayerPeer.poll`. On a client, id `1` also tells why the
    /// connection failed or ended (`MultiplayerAPI.connection_failed`,
    /// `MultiplayerAPI.server_disconnected`). An empty dictionary when nothing is known.
    ///
    /// The dictionary holds `"reason"`, `"message"` (a sentence for logs and players) and `"data"`
    /// (what the remote's disconnect carried, else `0`). Reasons: `"remote"` (the remote end
    /// disconnected), `"timeout"` (it stopped answering, or never answered the connection request),
    /// `"protocol_violation"` (it broke the protocol and was dropped; the message says how),
    /// `"refused"` (the server refused the connection: full, refusing new connections, or the id is
    /// taken), `"dtls_failure"` (with OpenSSL's reason, e.g. a certificate that does not name the
    /// host), `"socket_error"`, `"internal_error"` (the host's service thread failed: a bug to
    /// report), `"local"` (our graceful disconnect completed) and `"kicked"` (dropped here at
    /// once).
    #[func]
    pub fn get_disconnect_reason(&self, id: i32) -> VarDictionary {
        self.last_reasons
            .get(&id)
            .map(reason_dictionary)
            .unwrap_or_default()
    }
}

impl RustENetPeer {
    /// Once a second (from `poll`): the rates, a warning for malformed datagrams, the monitors.
    pub(super) fn measure(&mut self) {
        let now = std::time::Instant::now();
        let Some(session) = &mut self.session else {
            return;
        };
        if !self.meter.due(now) {
            return;
        }
        let totals = session.totals();
        if let Some(before) = self.meter.sample(now, totals) {
            let dropped = totals
                .dropped_malformed
                .saturating_sub(before.dropped_malformed);
            if dropped > 0 {
                tracing::warn!("{dropped} datagrams dropped as malformed in the last second");
            }
        }
        let snapshot = monitors::Snapshot {
            link: session.link_snapshot(),
            rates: self.meter.rates(),
        };
        let key = match self.monitor_key {
            Some(key) => key,
            None => *self.monitor_key.insert(self.base().instance_id().to_i64()),
        };
        monitors::update(key, snapshot);
    }
}
