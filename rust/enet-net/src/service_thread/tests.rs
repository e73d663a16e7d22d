use std::net::{IpAddr, Ipv4Addr};
use std::sync::mpsc;

use rust_enet_proto::{Event, HostConfig, Packet, PeerId};

use super::*;
use crate::udp_host::tests::next_event_of;
use crate::{BindAddress, ServiceThreadPanicked, UdpHost};

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
    let server = SharedUdpHost::new(loopback_host(config));
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
        if let Some(Event::Disconnect { .. }) = client.service(Duration::from_millis(1)).unwrap() {
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

/// Services `client` for `period`, returning the events it saw.
fn service_for(client: &mut UdpHost, period: Duration) -> Vec<Event> {
    let start = Instant::now();
    let mut events = Vec::new();
    while start.elapsed() < period {
        if let Some(event) = client.service(Duration::from_millis(1)).unwrap() {
            events.push(event);
        }
    }
    events
}

/// Sends `data` reliably to the server at once (a flush); true once the server acknowledged it
/// within `limit`, the client servicing meanwhile.
fn acknowledged_within(
    client: &mut UdpHost,
    to_server: PeerId,
    data: &'static [u8],
    limit: Duration,
) -> bool {
    let packet = Packet::reliable(data);
    client.host_mut().send(to_server, 0, packet).unwrap();
    client.flush().unwrap();
    let start = Instant::now();
    while client
        .host()
        .peer(to_server)
        .unwrap()
        .unacknowledged_commands()
        > 0
    {
        if start.elapsed() >= limit {
            return false;
        }
        client.service(Duration::from_millis(1)).unwrap();
    }
    true
}

/// Runs `f` on another thread and fails if it does not return within `limit` (a deadlock).
fn within<R: Send + 'static>(limit: Duration, f: impl FnOnce() -> R + Send + 'static) -> R {
    let (done, finished) = mpsc::channel();
    std::thread::spawn(move || done.send(f()));
    finished
        .recv_timeout(limit)
        .expect("did not finish in time (deadlock?)")
}

#[test]
fn a_stalled_owner_keeps_its_peer_and_gets_everything_in_order() {
    let (thread, mut client, to_server, to_client) = pair(HostConfig::default(), true);
    // Three times the peers' 1 s timeout without the owner polling.
    let link = (&mut client, to_server, to_client);
    send_during_stall(&thread, link, (500, 5, 4), Duration::from_secs(3));
    let received = receive_numbered(&thread, &mut client, to_client, 500, Duration::from_secs(5));
    assert_eq!(received, (0..500).collect::<Vec<_>>());
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
    let received = receive_numbered(&thread, &mut client, to_client, 64, Duration::from_secs(10));
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
    service_for(&mut client, Duration::from_millis(500));
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

/// A quiet connection wakes the thread only for ENet's pings (every 500 ms each way by
/// default), not on a tick: a thread that woke every millisecond would pass ~2000 times here.
#[test]
fn an_idle_connection_wakes_the_thread_only_for_its_pings() {
    let (thread, mut client, _, _) = pair(HostConfig::default(), false);
    // Let the handshake's traffic settle.
    service_for(&mut client, Duration::from_millis(300));
    let before = thread.passes();
    service_for(&mut client, Duration::from_secs(2));
    let passes = thread.passes() - before;
    // Per 500 ms: its own ping, the client's ping and the acknowledgement of its own.
    assert!(passes <= 40, "{passes} passes in 2 s of an idle connection");
    assert!(passes >= 4, "{passes} passes: the pings were not handled");
}

/// A datagram ends the thread's wait at once, although its next timer is far away: the
/// client's reliable packet is acknowledged within milliseconds while the owner is away.
#[test]
fn a_datagram_wakes_the_thread_at_once() {
    let (thread, mut client, to_server, _) = pair(HostConfig::default(), false);
    service_for(&mut client, Duration::from_millis(300));
    for attempt in 0..5 {
        assert!(
            acknowledged_within(
                &mut client,
                to_server,
                b"wake up",
                Duration::from_millis(100)
            ),
            "attempt {attempt}: no acknowledgement within 100 ms"
        );
    }
    drop(thread);
}

/// The owner's packets wait for its flush while the thread runs (a frame's packets leave
/// together, not in the thread's slices); the flush sends them in one datagram.
#[test]
fn the_owners_packets_leave_with_its_flush_in_one_datagram() {
    let (thread, mut client, to_server, to_client) = pair(HostConfig::default(), false);
    service_for(&mut client, Duration::from_millis(300));
    for text in [&b"one"[..], b"two", b"three"] {
        with_host(&thread, |udp| {
            udp.send(to_client, 1, Packet::reliable(text)).unwrap()
        });
    }
    assert!(with_host(&thread, |udp| udp.wants_flush()));
    // Meanwhile the client talks, so the thread passes (receives, acknowledges) many times.
    for _ in 0..10 {
        client
            .host_mut()
            .send(to_server, 0, Packet::reliable(&b"meanwhile"[..]))
            .unwrap();
        let events = service_for(&mut client, Duration::from_millis(10));
        assert!(
            events.is_empty(),
            "sent before the owner's flush: {events:?}"
        );
    }
    let received_before = client.driver_statistics().datagrams_received;
    let resends = || with_host(&thread, |udp| udp.host().peer(to_client).unwrap().resends());
    let resends_before = resends();
    with_host(&thread, |udp| udp.flush().unwrap());
    let mut texts = Vec::new();
    let start = Instant::now();
    while texts.len() < 3 && start.elapsed() < Duration::from_secs(2) {
        if let Some(Event::Receive { packet, .. }) =
            client.service(Duration::from_millis(1)).unwrap()
        {
            texts.push(packet.data.to_vec());
        }
    }
    assert_eq!(texts, [&b"one"[..], b"two", b"three"].map(<[u8]>::to_vec));
    let datagrams = client.driver_statistics().datagrams_received - received_before;
    // A resend (the thread's retransmission timeout, a few ms on loopback, ran out before the
    // client, starved of CPU, acknowledged) brings more datagrams; the packets still came.
    if resends() == resends_before {
        assert_eq!(
            datagrams, 1,
            "the three packets came in {datagrams} datagrams"
        );
    }
}

/// A command that queues protocol traffic (a disconnect) wakes the thread, which sends it: the
/// remote learns of it without the owner servicing the host.
#[test]
fn the_owners_commands_leave_without_its_service() {
    let (thread, mut client, _, to_client) = pair(HostConfig::default(), false);
    service_for(&mut client, Duration::from_millis(300));
    with_host(&thread, |udp| udp.host_mut().disconnect(to_client, 42));
    let events = service_for(&mut client, Duration::from_millis(200));
    assert!(
        matches!(events[..], [Event::Disconnect { data: 42, .. }]),
        "{events:?}"
    );
}

/// A panic on the thread (here in a connect filter, the application's code the thread runs)
/// ends the host visibly: the owner's next service returns the panic, never a half-updated
/// host that goes on.
#[test]
fn a_panic_on_the_thread_fails_the_host_for_its_owner() {
    let mut server = loopback_host(HostConfig::default());
    server
        .host_mut()
        .set_connect_filter(Some(Box::new(|_, _| panic!("the filter broke"))));
    let address = server.local_addr();
    let thread =
        ServiceThread::start(SharedUdpHost::new(server), ServiceConfig::default()).unwrap();
    let mut client = loopback_host(HostConfig::default());
    client.connect(address, 2, 0).unwrap();
    let start = Instant::now();
    let error = loop {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "the panic never reached the owner"
        );
        client.service(Duration::from_millis(1)).unwrap();
        let mut guard = thread.host().lock();
        match guard.as_mut().unwrap().service(Duration::ZERO) {
            Ok(_) => continue,
            Err(error) => break error,
        }
    };
    let panicked = error
        .get_ref()
        .and_then(|e| e.downcast_ref::<ServiceThreadPanicked>())
        .expect("the error names the panic");
    assert!(panicked.0.contains("the filter broke"), "{panicked:?}");
    assert!(!thread.is_running());
    // It stays failed: the owner cannot go on with the host.
    assert!(with_host(&thread, |udp| udp.flush()).is_err());
}

/// Stopping (or dropping) the thread while holding the host's lock cannot deadlock: the thread
/// gives up waiting for the lock once told to stop.
#[test]
fn stopping_while_the_owner_holds_the_lock_does_not_deadlock() {
    let (thread, mut client, to_server, _) = pair(HostConfig::default(), false);
    let host = thread.host().clone();
    within(Duration::from_secs(5), move || {
        let guard = host.lock();
        // Datagrams arrive while the lock is held: the thread wakes and waits for the lock.
        queue_numbered(&mut client, to_server, 200);
        client.flush().unwrap();
        std::thread::sleep(Duration::from_millis(50));
        thread.stop();
        drop(guard);
        // The thread is gone: it holds no handle on the host any more.
        assert_eq!(host.handle_count(), 1);
    });
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

/// After the thread stops, the owner drives the host alone again: its packets go out with its
/// own service, and what it had staged is not lost.
#[test]
fn after_the_thread_stops_the_owner_services_alone() {
    let (thread, mut client, _, to_client) = pair(HostConfig::default(), false);
    let host = thread.host().clone();
    host.lock()
        .as_mut()
        .unwrap()
        .send(to_client, 1, Packet::reliable(&b"staged"[..]))
        .unwrap();
    thread.stop();
    let mut guard = host.lock();
    let udp = guard.as_mut().unwrap();
    assert!(!udp.is_thread_serviced());
    udp.service(Duration::ZERO).unwrap();
    drop(guard);
    let events = service_for(&mut client, Duration::from_millis(200));
    assert!(
        matches!(&events[..], [Event::Receive { packet, .. }] if &packet.data[..] == b"staged"),
        "{events:?}"
    );
}

/// A host whose thread is stopped and started again (a game toggling `use_service_thread`)
/// gets a working thread: its sends are not held behind the old thread's.
#[test]
fn a_thread_started_again_on_the_same_host_sends() {
    let (thread, mut client, to_server, _) = pair(HostConfig::default(), false);
    service_for(&mut client, Duration::from_millis(200));
    let host = thread.host().clone();
    thread.stop();
    let again = ServiceThread::start(host, ServiceConfig::default()).unwrap();
    let restart = &b"after a restart"[..];
    assert!(
        acknowledged_within(&mut client, to_server, restart, Duration::from_millis(500)),
        "the restarted thread never acknowledged"
    );
    drop(again);
}
