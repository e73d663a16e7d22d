//! A host serviced on a background thread while its owner is away.
//!
//! A game services its host once per frame. When the frame stalls (a level load, a long frame,
//! a breakpoint) nobody acknowledges, resends or pings, and after ENet's timeout the remotes drop
//! the connection. A [`ServiceThread`] keeps the host going in between: every
//! [`ServiceConfig::interval`] it runs the core's timers and reads the socket, moves the events
//! into a queue that the owner drains in order, and sends what is due.

use std::collections::VecDeque;
use std::io;
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};
use rust_enet_proto::Event;

use crate::UdpHost;

/// How a [`ServiceThread`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceConfig {
    /// Time between the thread's passes (receive, timers, send).
    pub interval: Duration,
    /// How long the acknowledgements of received events may wait for the owner's own flush
    /// (which would carry the game's answers with them) before the thread sends them.
    pub flush_after: Duration,
    /// Events the queue holds at most. Beyond it the core keeps them, and ENet's per-peer
    /// waiting-data limit bounds what it accepts; nothing is dropped.
    pub queue_limit: usize,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        ServiceConfig {
            interval: Duration::from_millis(1),
            flush_after: Duration::from_millis(1),
            queue_limit: 4096,
        }
    }
}

#[derive(Debug)]
struct Shared {
    host: Arc<Mutex<UdpHost>>,
    /// Events the thread took from the core, oldest first. Lock order: `queue`, then `host`.
    queue: Mutex<VecDeque<Event>>,
    stop: Mutex<bool>,
    stopped: Condvar,
    config: ServiceConfig,
}

/// A background thread that services a shared [`UdpHost`].
///
/// # Driving it
///
/// - [`start`](Self::start) takes the host behind an `Arc<Mutex<_>>`; the owner keeps locking it
///   for commands (`host_mut().send(...)`, `connect`, `flush`) as before.
/// - The owner takes events only with [`poll_event`](Self::poll_event): first what the thread
///   queued, in the order the core produced it, then a non-blocking pass of its own. Calling
///   `UdpHost::service` or `check_events` on the host directly would return events ahead of
///   queued ones.
/// - Every `interval` the thread runs the core's timers (resends, pings, timeouts) and reads
///   the socket. What the core has to send leaves at once when no event waits for the owner;
///   otherwise after `flush_after` (the owner's flush, carrying its answers, usually comes
///   first). So a stalled owner's peers stay connected as long as their remotes answer, and a
///   remote that goes silent still times out on ENet's schedule.
/// - Dropping it (or [`stop`](Self::stop)) ends the thread and waits for it (at most one pass).
#[derive(Debug)]
pub struct ServiceThread {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl ServiceThread {
    /// Starts servicing `host`.
    pub fn start(host: Arc<Mutex<UdpHost>>, config: ServiceConfig) -> io::Result<ServiceThread> {
        let shared = Arc::new(Shared {
            host,
            queue: Mutex::new(VecDeque::new()),
            stop: Mutex::new(false),
            stopped: Condvar::new(),
            config,
        });
        let worker = Arc::clone(&shared);
        let thread = thread::Builder::new()
            .name("rust_enet service".into())
            .spawn(move || run(&worker))?;
        Ok(ServiceThread {
            shared,
            thread: Some(thread),
        })
    }

    /// The serviced host.
    pub fn host(&self) -> &Arc<Mutex<UdpHost>> {
        &self.shared.host
    }

    /// The next event: the oldest the thread queued, else one from a non-blocking pass
    /// (`service(Duration::ZERO)`) run here.
    pub fn poll_event(&self) -> io::Result<Option<Event>> {
        let mut queue = self.shared.queue.lock();
        if let Some(event) = queue.pop_front() {
            return Ok(Some(event));
        }
        let mut host = self.shared.host.lock();
        host.service(Duration::ZERO)
    }

    /// Events the thread has queued for the owner.
    pub fn queued_events(&self) -> usize {
        self.shared.queue.lock().len()
    }

    /// Ends the thread and waits for it.
    pub fn stop(mut self) {
        self.shut_down();
    }

    fn shut_down(&mut self) {
        *self.shared.stop.lock() = true;
        self.shared.stopped.notify_all();
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the service thread panicked");
        }
    }
}

impl Drop for ServiceThread {
    fn drop(&mut self) {
        self.shut_down();
    }
}

fn run(shared: &Shared) {
    let config = shared.config;
    // Since when events have waited for the owner with their acknowledgements unsent.
    let mut waiting_since: Option<Instant> = None;
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
        let mut queue = shared.queue.lock();
        let mut host = shared.host.lock();
        if let Err(err) = host.receive_and_run_timers() {
            tracing::warn!(%err, "service thread: the socket failed");
        }
        while queue.len() < config.queue_limit {
            match host.take_event() {
                Some(event) => queue.push_back(event),
                None => break,
            }
        }
        let events_wait = !queue.is_empty() || host.has_event();
        drop(queue);
        let now = Instant::now();
        let send = if events_wait {
            let since = *waiting_since.get_or_insert(now);
            now.duration_since(since) >= config.flush_after
        } else {
            true
        };
        if send {
            waiting_since = None;
            if let Err(err) = host.flush() {
                tracing::debug!(%err, "service thread: send failed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use rust_enet_proto::{HostConfig, Packet, PeerId};

    use super::*;
    use crate::BindAddress;
    use crate::udp_host::tests::next_event_of;

    fn loopback_host() -> UdpHost {
        let loopback = BindAddress::Ip(IpAddr::V4(Ipv4Addr::LOCALHOST));
        UdpHost::bind(loopback, 0, HostConfig::default()).unwrap()
    }

    /// A server behind a service thread and a connected client (short timeouts both ways:
    /// a peer not heard from for 1 s is gone). Returns the client's peer for the server and
    /// the server's peer id of the client.
    fn pair(config: ServiceConfig) -> (ServiceThread, UdpHost, PeerId, PeerId) {
        let server = Arc::new(Mutex::new(loopback_host()));
        let address = server.lock().local_addr();
        let thread = ServiceThread::start(server, config).unwrap();
        let mut client = loopback_host();
        let to_server = client.connect(address, 2, 0).unwrap();
        client.host_mut().set_timeout(to_server, 8, 500, 1000);
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut connected = false;
        let mut to_client = None;
        while (!connected || to_client.is_none()) && Instant::now() < deadline {
            if let Some(Event::Connect { .. }) = client.service(Duration::from_millis(1)).unwrap() {
                connected = true;
            }
            if let Some(Event::Connect { peer, .. }) = thread.poll_event().unwrap() {
                to_client = Some(peer);
            }
        }
        let to_client = to_client.expect("the server saw no connection");
        assert!(connected, "the client saw no connection");
        thread
            .host()
            .lock()
            .host_mut()
            .set_timeout(to_client, 8, 500, 1000);
        (thread, client, to_server, to_client)
    }

    /// The client sends `count` numbered reliable packets while servicing for `stall`; the
    /// server's owner does nothing meanwhile.
    fn send_during_stall(client: &mut UdpHost, to_server: PeerId, count: u32, stall: Duration) {
        let start = Instant::now();
        let mut sent = 0;
        while start.elapsed() < stall {
            if sent < count {
                let packet = Packet::reliable(sent.to_be_bytes().to_vec());
                client.host_mut().send(to_server, 0, packet).unwrap();
                sent += 1;
            }
            if let Some(Event::Disconnect { .. }) =
                client.service(Duration::from_millis(1)).unwrap()
            {
                panic!("the client lost the server during the stall");
            }
        }
        assert_eq!(sent, count, "the stall was too short to send everything");
    }

    /// What the owner then polls: the numbers of `count` packets, each from `from` (fails after
    /// 5 s, or on any other event).
    fn receive_numbered(
        thread: &ServiceThread,
        client: &mut UdpHost,
        from: PeerId,
        count: usize,
    ) -> Vec<u32> {
        let mut received = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(5);
        while received.len() < count && Instant::now() < deadline {
            client.service(Duration::ZERO).unwrap();
            match thread.poll_event().unwrap() {
                Some(Event::Receive { peer, packet, .. }) => {
                    assert_eq!(peer, from);
                    received.push(u32::from_be_bytes(packet.data[..4].try_into().unwrap()));
                }
                Some(other) => panic!("unexpected {other:?}"),
                None => std::thread::sleep(Duration::from_millis(1)),
            }
        }
        received
    }

    #[test]
    fn a_stalled_owner_keeps_its_peer_and_gets_everything_in_order() {
        let (thread, mut client, to_server, to_client) = pair(ServiceConfig::default());
        // Three times the peers' 1 s timeout without the owner polling.
        send_during_stall(&mut client, to_server, 500, Duration::from_secs(3));
        let received = receive_numbered(&thread, &mut client, to_client, 500);
        assert_eq!(received, (0..500).collect::<Vec<_>>());
    }

    /// The control: the same stall without the thread loses the connection.
    #[test]
    fn without_the_thread_a_stall_loses_the_peer() {
        let mut server = loopback_host();
        let mut client = loopback_host();
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

    #[test]
    fn a_burst_beyond_the_queue_arrives_whole_and_in_order() {
        let config = ServiceConfig {
            queue_limit: 16,
            ..ServiceConfig::default()
        };
        let (thread, mut client, to_server, to_client) = pair(config);
        for i in 0..200u32 {
            let packet = Packet::reliable(i.to_be_bytes().to_vec());
            client.host_mut().send(to_server, 0, packet).unwrap();
        }
        let start = Instant::now();
        while start.elapsed() < Duration::from_millis(500) {
            client.service(Duration::from_millis(1)).unwrap();
            assert!(thread.queued_events() <= 16);
        }
        let received = receive_numbered(&thread, &mut client, to_client, 200);
        assert_eq!(received, (0..200).collect::<Vec<_>>());
    }

    #[test]
    fn a_silent_remote_still_times_out() {
        let (thread, client, _, to_client) = pair(ServiceConfig::default());
        drop(client);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            assert!(Instant::now() < deadline, "the dead client never timed out");
            match thread.poll_event().unwrap() {
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
        let (thread, mut client, to_server, _) = pair(ServiceConfig::default());
        for i in 0..1000u32 {
            let packet = Packet::reliable(i.to_be_bytes().to_vec());
            client.host_mut().send(to_server, 0, packet).unwrap();
        }
        client.flush().unwrap();
        let host = Arc::clone(thread.host());
        let start = Instant::now();
        thread.stop();
        assert!(start.elapsed() < Duration::from_secs(2));
        // The thread is gone: only this test holds the host now.
        assert_eq!(Arc::strong_count(&host), 1);
    }
}
