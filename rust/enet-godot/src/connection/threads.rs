//! The service thread of a script's `RustENetConnection` (not in `ENetConnection`).

// gdext's `#[godot_api]` expands to public helper types without `Debug` implementations.
#![allow(missing_debug_implementations)]

use godot::global::Error;
use godot::prelude::*;
use rust_enet_net::ServiceConfig;

use super::RustENetConnection;

#[godot_api(secondary)]
impl RustENetConnection {
    /// Services this host on a background thread from now on (not in `ENetConnection`), so that its
    /// connections survive the script's stalls: a level load, a long frame, a breakpoint. The
    /// thread sleeps until there is work (a datagram arrives, one of ENet's timers is due, or the
    /// script queued a connection, a disconnection or a ping) and then receives, acknowledges,
    /// resends, pings and completes handshakes; an idle connection wakes it a few times a second,
    /// for ENet's pings. What it receives waits until `service` returns it, in the same order as
    /// without the thread, on the calling thread. Sends, `get_peers`, `flush` and the statistics
    /// keep working as before: what the script sends with `RustENetPacketPeer.send` or `broadcast`
    /// waits for its next `service` or `flush`, as in `ENetConnection`, and leaves together;
    /// acknowledgements of what arrived leave from the thread about a millisecond after it arrived.
    /// `service` with a `timeout` waits for the thread to deliver an event. A peer stays connected
    /// however long the script is away, as long as the remote end answers; a remote that goes
    /// silent still times out. While nobody takes the packets, each connection holds at most ENet's
    /// waiting-data limit (32 MiB): the thread does not acknowledge reliable data beyond it, so the
    /// sender keeps it and sends it again.
    ///
    /// Returns `OK` (also when the thread already runs), `ERR_UNCONFIGURED` before the host is
    /// created, or `ERR_CANT_CREATE` if the system refuses a thread. `destroy` and freeing the
    /// object end the thread. `RustENetPeer` starts one for each of its hosts unless
    /// `RustENetPeer.use_service_thread` is off.
    #[func]
    pub fn start_service_thread(&mut self) -> Error {
        let Some(host) = &self.host else {
            godot_error!("RustENetConnection.start_service_thread: create the host first");
            return Error::ERR_UNCONFIGURED;
        };
        match host.start_service_thread(ServiceConfig::default()) {
            Ok(()) => Error::OK,
            Err(e) => {
                godot_error!("RustENetConnection.start_service_thread: no thread: {e}");
                Error::ERR_CANT_CREATE
            }
        }
    }

    /// Ends the host's service thread and waits for it; from then on the host is serviced only by
    /// `service`, as in `ENetConnection`. Does nothing if no thread runs.
    #[func]
    pub fn stop_service_thread(&mut self) {
        if let Some(host) = &self.host {
            host.stop_service_thread();
        }
    }

    /// Returns `true` while a service thread services this host: one `start_service_thread`
    /// started, or the one a `RustENetPeer` gives its hosts (until `stop_service_thread` or
    /// `destroy`).
    #[func]
    pub fn is_service_thread_running(&self) -> bool {
        self.host
            .as_ref()
            .is_some_and(|host| host.is_service_thread_running())
    }

    /// Returns what this host's service thread does and costs the script: `running`, `passes` (the
    /// thread's wakes so far: a datagram, a timer or the script's work; an idle connection costs a
    /// few a second), and how long the script's calls waited for the host while the thread held it:
    /// `owner_locks` (calls that took the host), `owner_lock_waits` (those that had to wait) and
    /// the wait's percentiles over all of them, `owner_lock_wait_us_p50`, `owner_lock_wait_us_p99`,
    /// `owner_lock_wait_us_p999` and `owner_lock_wait_us_max`, in microseconds. An empty dictionary
    /// before the host is created.
    #[func]
    pub fn get_service_thread_statistics(&self) -> VarDictionary {
        let mut out = VarDictionary::new();
        let Some(host) = &self.host else {
            return out;
        };
        let waits = host.shared().lock_waits();
        let passes = host.service_thread_passes();
        out.set("running", passes.is_some());
        out.set("passes", passes.unwrap_or(0) as i64);
        out.set("owner_locks", waits.locks as i64);
        out.set("owner_lock_waits", waits.waited as i64);
        out.set("owner_lock_wait_us_p50", waits.p50_us);
        out.set("owner_lock_wait_us_p99", waits.p99_us);
        out.set("owner_lock_wait_us_p999", waits.p999_us);
        out.set("owner_lock_wait_us_max", waits.max_us);
        out
    }
}
