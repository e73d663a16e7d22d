//! A host serviced on a background thread while its owner is away.
//!
//! A game services its host once per frame. When the frame stalls (a level load, a long frame,
//! a breakpoint) nobody acknowledges, resends or pings, and after ENet's timeout the remotes drop
//! the connection. A [`ServiceThread`] keeps the host going in between: every
//! [`ServiceConfig::interval`] it runs the core's timers, reads the socket and sends what is
//! due. It never takes events: they wait in the core, in the core's order, until the owner
//! drives the host as it always does.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::UdpHost;

/// A host shared between its owner and a [`ServiceThread`]; `None` once the owner destroyed it,
/// which ends the thread.
pub type SharedUdpHost = Arc<Mutex<Option<UdpHost>>>;

/// How a [`ServiceThread`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceConfig {
    /// Time between the thread's passes (receive, timers, send).
    pub interval: Duration,
    /// How long the acknowledgements of received events may wait for the owner's own flush
    /// (which would carry the game's answers with them) before the thread sends them.
    pub flush_after: Duration,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        ServiceConfig {
            interval: Duration::from_millis(1),
            flush_after: Duration::from_millis(1),
        }
    }
}

#[derive(Debug)]
struct Shared {
    host: SharedUdpHost,
    stop: Mutex<bool>,
    stopped: Condvar,
    config: ServiceConfig,
    /// Passes run so far.
    passes: AtomicU64,
}

/// A background thread that services a [`SharedUdpHost`].
///
/// # Driving it
///
/// - [`start`](Self::start) takes the host behind its shared lock. The owner keeps using the
///   host as before, under the same lock: commands (`host_mut().send(...)`, `connect`), `flush`,
///   and `service` / `check_events` / `poll_queued_event` for events.
/// - Every `interval` the thread locks the host, runs the core's timers (resends, pings,
///   timeouts, handshakes) and reads the socket. Received packets and connection changes wait
///   in the core as events, in order, until the owner takes them. What the core has to send
///   (acknowledgements, resends, pings and whatever the owner queued) leaves at once when no
///   event is owed to the owner. Otherwise (events wait, or the owner took them and has not
///   flushed since) it waits `flush_after` from their arrival for the owner's own flush, which
///   carries the owner's answers in the same datagrams; then the thread sends it.
/// - While the thread runs, the owner's zero-timeout `service` (a frame's poll) reads only what
///   arrived since the thread's last pass (so nothing that arrived before the frame misses it)
///   and takes events; the timers and sends are the thread's. A `service` with a timeout still
///   waits on the socket itself.
/// - So a stalled owner's peers stay connected as long as their remotes answer, and a remote
///   that goes silent still times out on ENet's schedule. Memory stays bounded by ENet's
///   per-peer waiting-data limit (`HostConfig::maximum_waiting_data`): reliable data beyond it
///   is not acknowledged, so its sender keeps it and sends it again.
/// - [`stop`](Self::stop), dropping it, or the owner setting the host to `None` ends the thread
///   (stop and drop wait for it: at most one pass).
#[derive(Debug)]
pub struct ServiceThread {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl ServiceThread {
    /// Starts servicing `host`.
    pub fn start(host: SharedUdpHost, config: ServiceConfig) -> io::Result<ServiceThread> {
        let shared = Arc::new(Shared {
            host,
            stop: Mutex::new(false),
            stopped: Condvar::new(),
            config,
            passes: AtomicU64::new(0),
        });
        let worker = Arc::clone(&shared);
        let thread = thread::Builder::new()
            .name("rust_enet service".into())
            .spawn(move || {
                // A panic ends only this thread (the owner keeps servicing the host itself);
                // it must not unwind further.
                let pass = std::panic::AssertUnwindSafe(|| run(&worker));
                if std::panic::catch_unwind(pass).is_err() {
                    tracing::error!(
                        "the service thread panicked; only the host's owner services it now"
                    );
                }
                // However it ended, the owner services the host on its own again.
                set_thread_serviced(&worker.host, false);
            })?;
        set_thread_serviced(&shared.host, true);
        Ok(ServiceThread {
            shared,
            thread: Some(thread),
        })
    }

    /// The serviced host.
    pub fn host(&self) -> &SharedUdpHost {
        &self.shared.host
    }

    /// Whether the thread still runs (it ends when the host is destroyed).
    pub fn is_running(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// Passes the thread has run.
    pub fn passes(&self) -> u64 {
        self.shared.passes.load(Ordering::Relaxed)
    }

    /// Ends the thread and waits for it.
    pub fn stop(mut self) {
        self.shut_down();
    }

    fn shut_down(&mut self) {
        *self.shared.stop.lock() = true;
        self.shared.stopped.notify_all();
        if let Some(thread) = self.thread.take() {
            // The thread catches its own panics; an error here would be a panic in logging.
            let _ = thread.join();
        }
    }
}

impl Drop for ServiceThread {
    fn drop(&mut self) {
        self.shut_down();
    }
}

/// Tells the host whether a thread services it (see `UdpHost::service`).
fn set_thread_serviced(host: &SharedUdpHost, serviced: bool) {
    if let Some(host) = host.lock().as_mut() {
        host.thread_serviced = serviced;
    }
}

fn run(shared: &Shared) {
    let config = shared.config;
    // Since when events have waited for the owner with their acknowledgements unsent.
    let mut waiting_since: Option<Instant> = None;
    // A failing socket is reported once, not every pass.
    let mut failing = false;
    loop {
        {
            let mut stop = shared.stop.lock();
            if !*stop {
                let _ = shared.stopped.wait_for(&mut stop, config.interval);
            }
            if *stop {
                return;
            }
        }
        let mut guard = shared.host.lock();
        let Some(host) = guard.as_mut() else {
            return;
        };
        shared.passes.fetch_add(1, Ordering::Relaxed);
        let received = host.receive_and_run_timers();
        let now = Instant::now();
        // Events the owner has not handled yet (or handled without flushing since): their
        // acknowledgements wait `flush_after` for the owner's flush, which would carry its
        // answers in the same datagrams. Not longer: acknowledgements that leave a steady
        // moment after arrival keep the remote's round-trip samples steady, and ENet's packet
        // throttle reads unsteady ones as congestion (test_throttle.gd: holding them for the
        // owner's next frame took the throttle from 32 to 22-28).
        let send = if host.has_deferred_send() {
            let since = *waiting_since.get_or_insert(now);
            now.duration_since(since) >= config.flush_after
        } else {
            true
        };
        let flushed = if send {
            waiting_since = None;
            host.flush()
        } else {
            Ok(())
        };
        match received.and(flushed) {
            Ok(()) => failing = false,
            Err(err) if !failing => {
                failing = true;
                tracing::warn!(%err, "service thread: the socket failed");
            }
            Err(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use rust_enet_proto::{Event, HostConfig, Packet, PeerId};

    use super::*;
    use crate::BindAddress;
    use crate::udp_host::tests::next_event_of;

    fn loopback_host(config: HostConfig) -> UdpHost {
        let loopback = BindAddress::Ip(IpAddr::V4(Ipv4Addr::LOCALHOST));
        UdpHost::bind(loopback, 0, config).unwrap()
    }

    /// The owner's non-blocking poll of a serviced host.
    fn poll(thread: &ServiceThread) -> Option<Event> {
        let mut guard = thread.host().lock();
        guard.as_mut().unwrap().service(Duration::ZERO).unwrap()
    }

    fn with_host<R>(thread: &ServiceThread, f: impl FnOnce(&mut UdpHost) -> R) -> R {
        f(thread.host().lock().as_mut().unwrap())
    }

    /// A server (`config`) behind a service thread and a connected client. With `short`, a peer
    /// not heard from for 1 s is gone, both ways. Returns the client's peer for the server and
    /// the server's peer id of the client.
    fn pair(config: HostConfig, short: bool) -> (ServiceThread, UdpHost, PeerId, PeerId) {
        let server = Arc::new(Mutex::new(Some(loopback_host(config))));
        let address = server.lock().as_ref().unwrap().local_addr();
        let thread = ServiceThread::start(server, ServiceConfig::default()).unwrap();
        let mut client = loopback_host(HostConfig::default());
        let to_server = client.connect(address, 2, 0).unwrap();
        if short {
            client.host_mut().set_timeout(to_server, 8, 500, 1000);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut connected = false;
        let mut to_client = None;
        while (!connected || to_client.is_none()) && Instant::now() < deadline {
            if let Some(Event::Connect { .. }) = client.service(Duration::from_millis(1)).unwrap() {
                connected = true;
            }
            if let Some(Event::Connect { peer, .. }) = poll(&thread) {
                to_client = Some(peer);
            }
        }
        let to_client = to_client.expect("the server saw no connection");
        assert!(connected, "the client saw no connection");
        if short {
            with_host(&thread, |h| {
                h.host_mut().set_timeout(to_client, 8, 500, 1000)
            });
        }
        (thread, client, to_server, to_client)
    }

    /// The client sends `count` numbered reliable packets of `size` bytes, `per_step` at a time,
    /// while servicing for `stall`; the server's owner does nothing meanwhile. Returns the
    /// server's largest waiting data seen.
    fn send_during_stall(
        thread: &ServiceThread,
        (client, to_server, to_client): (&mut UdpHost, PeerId, PeerId),
        (count, per_step, size): (u32, u32, usize),
        stall: Duration,
    ) -> usize {
        let start = Instant::now();
        let mut sent = 0;
        let mut most_waiting = 0;
        while start.elapsed() < stall {
            for _ in 0..per_step.min(count - sent) {
                let mut data = vec![0; size.max(4)];
                data[..4].copy_from_slice(&sent.to_be_bytes());
                client
                    .host_mut()
                    .send(to_server, 0, Packet::reliable(data))
                    .unwrap();
                sent += 1;
            }
            if let Some(Event::Disconnect { .. }) =
                client.service(Duration::from_millis(1)).unwrap()
            {
                panic!("the client lost the server during the stall");
            }
            let waiting = with_host(thread, |h| {
                h.host()
                    .peer(to_client)
                    .map_or(0, |p| p.total_waiting_data())
            });
            most_waiting = most_waiting.max(waiting);
        }
        assert_eq!(sent, count, "the stall was too short to send everything");
        most_waiting
    }

    /// Queues reliable packets numbered `0..count` for `to_server`.
    fn queue_numbered(client: &mut UdpHost, to_server: PeerId, count: u32) {
        for i in 0..count {
            let packet = Packet::reliable(i.to_be_bytes().to_vec());
            client.host_mut().send(to_server, 0, packet).unwrap();
        }
    }

    /// The number a numbered packet starts with.
    fn number_of(packet: &Packet) -> u32 {
        u32::from_be_bytes(packet.data[..4].try_into().unwrap())
    }

    /// What the owner then polls: the numbers of `count` packets, each from `from` (fails after
    /// `limit`, or on any other event).
    fn receive_numbered(
        thread: &ServiceThread,
        client: &mut UdpHost,
        from: PeerId,
        count: usize,
        limit: Duration,
    ) -> Vec<u32> {
        let mut received = Vec::new();
        let deadline = Instant::now() + limit;
        while received.len() < count && Instant::now() < deadline {
            client.service(Duration::ZERO).unwrap();
            match poll(thread) {
                Some(Event::Receive { peer, packet, .. }) => {
                    assert_eq!(peer, from);
                    received.push(number_of(&packet));
                }
                Some(other) => panic!("unexpected {other:?}"),
                None => std::thread::sleep(Duration::from_millis(1)),
            }
        }
        received
    }

    #[test]
    fn a_stalled_owner_keeps_its_peer_and_gets_everything_in_order() {
        let (thread, mut client, to_server, to_client) = pair(HostConfig::default(), true);
        // Three times the peers' 1 s timeout without the owner polling.
        let link = (&mut client, to_server, to_client);
        send_during_stall(&thread, link, (500, 5, 4), Duration::from_secs(3));
        let received =
            receive_numbered(&thread, &mut client, to_client, 500, Duration::from_secs(5));
        assert_eq!(received, (0..500).collect::<Vec<_>>());
        assert!(thread.passes() > 1000, "{} passes in 3 s", thread.passes());
    }

    /// The control: the same stall without the thread loses the connection.
    #[test]
    fn without_the_thread_a_stall_loses_the_peer() {
        let mut server = loopback_host(HostConfig::default());
        let mut client = loopback_host(HostConfig::default());
        let to_server = client.connect(server.local_addr(), 2, 0).unwrap();
        client.host_mut().set_timeout(to_server, 8, 500, 1000);
        assert!(matches!(
            next_event_of(&mut client, &mut server),
            Event::Connect { .. }
        ));
        let start = Instant::now();
        let mut lost = false;
        while !lost && start.elapsed() < Duration::from_secs(3) {
            let packet = Packet::reliable(&b"during the stall"[..]);
            let _ = client.host_mut().send(to_server, 0, packet);
            lost = matches!(
                client.service(Duration::from_millis(1)).unwrap(),
                Some(Event::Disconnect { .. })
            );
        }
        assert!(
            lost,
            "the client kept a server that was not serviced for 3 s"
        );
    }

    /// A stalled owner's waiting data stays within ENet's limit: what lies beyond is refused
    /// unacknowledged, its sender resends it, and it all arrives once the owner is back.
    #[test]
    fn a_burst_beyond_the_waiting_limit_arrives_whole_and_in_order() {
        // Twice the limit: what the client's reliable window lets it send in one go.
        const LIMIT: usize = 32 * 1024;
        const SIZE: usize = 1000;
        let config = HostConfig {
            maximum_waiting_data: LIMIT,
            ..HostConfig::default()
        };
        let (thread, mut client, to_server, to_client) = pair(config, false);
        let link = (&mut client, to_server, to_client);
        let most = send_during_stall(&thread, link, (64, 64, SIZE), Duration::from_secs(1));
        assert!(
            most <= LIMIT + SIZE,
            "{most} bytes waited with a limit of {LIMIT}"
        );
        let received =
            receive_numbered(&thread, &mut client, to_client, 64, Duration::from_secs(10));
        assert_eq!(received, (0..64).collect::<Vec<_>>());
        let refused = with_host(&thread, |h| h.host().statistics().commands_refused);
        assert!(refused > 0, "nothing went beyond the limit");
    }

    /// A remote that sends and then disconnects while the owner is away: the owner gets every
    /// packet, then the disconnect (ENet would drop the packets the owner had not taken).
    #[test]
    fn packets_before_a_remote_disconnect_are_delivered_first() {
        let (thread, mut client, to_server, to_client) = pair(HostConfig::default(), false);
        queue_numbered(&mut client, to_server, 30);
        client.host_mut().disconnect_later(to_server, 7);
        let start = Instant::now();
        while start.elapsed() < Duration::from_millis(500) {
            client.service(Duration::from_millis(1)).unwrap();
        }
        let mut received = Vec::new();
        loop {
            match poll(&thread) {
                Some(Event::Receive { packet, .. }) => {
                    received.push(number_of(&packet));
                }
                Some(Event::Disconnect { peer, data, .. }) => {
                    assert_eq!((peer, data), (to_client, 7));
                    break;
                }
                other => panic!("expected the disconnect, got {other:?}"),
            }
        }
        assert_eq!(received, (0..30).collect::<Vec<_>>());
    }

    #[test]
    fn a_silent_remote_still_times_out() {
        let (thread, client, _, to_client) = pair(HostConfig::default(), true);
        drop(client);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            assert!(Instant::now() < deadline, "the dead client never timed out");
            match poll(&thread) {
                Some(Event::Disconnect { peer, .. }) => {
                    assert_eq!(peer, to_client);
                    break;
                }
                Some(other) => panic!("unexpected {other:?}"),
                None => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    }

    #[test]
    fn stopping_while_busy_ends_the_thread() {
        let (thread, mut client, to_server, _) = pair(HostConfig::default(), false);
        queue_numbered(&mut client, to_server, 1000);
        client.flush().unwrap();
        let host = Arc::clone(thread.host());
        let start = Instant::now();
        thread.stop();
        assert!(start.elapsed() < Duration::from_secs(2));
        // The thread is gone: only this test holds the host now.
        assert_eq!(Arc::strong_count(&host), 1);
    }

    #[test]
    fn destroying_the_host_ends_the_thread() {
        let (thread, _client, _, _) = pair(HostConfig::default(), false);
        assert!(thread.is_running());
        thread.host().lock().take();
        let deadline = Instant::now() + Duration::from_secs(2);
        while thread.is_running() {
            assert!(Instant::now() < deadline, "the thread outlived its host");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn the_owners_poll_gets_what_arrived_since_the_threads_last_pass() {
        let (thread, mut client, to_server, _) = pair(HostConfig::default(), false);
        let host = Arc::clone(thread.host());
        // Datagrams arrive while the owner holds the host (the thread cannot read them): the
        // owner's zero-timeout service reads them itself, and sends nothing.
        let mut guard = host.lock();
        queue_numbered(&mut client, to_server, 3);
        client.flush().unwrap();
        std::thread::sleep(Duration::from_millis(20));
        let udp = guard.as_mut().unwrap();
        assert!(udp.thread_serviced);
        let sent = udp.driver_statistics().datagrams_sent;
        let mut numbers = Vec::new();
        while let Some(event) = udp.service(Duration::ZERO).unwrap() {
            if let Event::Receive { packet, .. } = event {
                numbers.push(number_of(&packet));
            }
        }
        assert_eq!(numbers, [0, 1, 2]);
        assert_eq!(udp.driver_statistics().datagrams_sent, sent);
        // Their acknowledgements are owed to the owner's flush.
        assert!(udp.has_deferred_send());
        drop(guard);
        thread.stop();
        assert!(!host.lock().as_ref().unwrap().thread_serviced);
    }
}
