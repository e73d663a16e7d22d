//! The session rules over real loopback hosts, without Godot.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rust_enet_net::{BindAddress, ServiceConfig, UdpHost};
use rust_enet_proto::{HostConfig, PeerState};

use crate::{
    AfterPoll, Disconnected, HostKey, LeaveReason, MeshError, Mode, PutError, SendFailure, Session,
    SessionEvent, SessionHost, Status, Target, Transfer, UserChannel,
};

mod rendezvous;

const LOOPBACK: BindAddress = BindAddress::Ip(IpAddr::V4(Ipv4Addr::LOCALHOST));

fn host(peers: usize) -> SessionHost {
    let config = HostConfig {
        peer_limit: peers,
        ..HostConfig::default()
    };
    let udp = UdpHost::bind(LOOPBACK, 0, config).expect("bind a loopback host");
    SessionHost::new(udp)
}

fn addr(host: &SessionHost) -> SocketAddr {
    host.lock().as_ref().expect("host alive").local_addr()
}

fn server() -> (Session, SocketAddr) {
    let shared = host(8);
    let address = addr(&shared);
    (Session::server(shared), address)
}

/// The server's host.
fn server_host(server: &Session) -> SessionHost {
    let Mode::Server(s) = server.mode() else {
        unreachable!("a server session");
    };
    s.host.clone()
}

/// A server and one client per id, connected: the server has seen every client, and every
/// client its server.
fn server_with_clients(ids: &[i32]) -> (Session, Vec<(Session, SessionHost)>) {
    let (mut server, address) = server();
    let mut clients: Vec<(Session, SessionHost)> =
        ids.iter().map(|&id| client(address, id)).collect();
    let mut sessions: Vec<&mut Session> = vec![&mut server];
    sessions.extend(clients.iter_mut().map(|(session, _)| session));
    frames_until(&mut sessions, |seen| {
        connected_ids(&seen[0]).len() == ids.len() && seen[1..].iter().all(|s| !s.is_empty())
    });
    (server, clients)
}

/// A client with id `id` connecting to `server` with 6 channels (user channels 0 to 4).
fn client(server: SocketAddr, id: i32) -> (Session, SessionHost) {
    let shared = host(1);
    let slot = shared
        .lock()
        .as_mut()
        .expect("host alive")
        .connect(server, 6, id as u32)
        .expect("connect");
    (Session::client(shared.clone(), slot, id), shared)
}

/// One frame of every session: poll, then the frame's flush. Returns each one's events.
fn frame(sessions: &mut [&mut Session]) -> Vec<Vec<SessionEvent>> {
    let mut out = Vec::new();
    for session in sessions.iter_mut() {
        assert!(session.begin_poll().is_empty());
        let mut events = Vec::new();
        let mut ended = false;
        while let Some(event) = session.next_event() {
            ended = matches!(event, SessionEvent::Ended(_));
            events.push(event);
            if ended {
                break;
            }
        }
        // An ended session is closed by its caller; a failed host's flush fails.
        if !ended {
            let _ = session.after_poll();
            assert!(session.flush_all().is_empty());
        }
        out.push(events);
    }
    std::thread::sleep(Duration::from_millis(1));
    out
}

/// Frames until `done` says the events seen so far (per session) are enough; at most 3 s.
fn frames_until(
    sessions: &mut [&mut Session],
    mut done: impl FnMut(&[Vec<SessionEvent>]) -> bool,
) -> Vec<Vec<SessionEvent>> {
    let mut seen: Vec<Vec<SessionEvent>> = (0..sessions.len()).map(|_| Vec::new()).collect();
    let deadline = Instant::now() + Duration::from_secs(3);
    while !done(&seen) {
        assert!(
            Instant::now() < deadline,
            "timed out; events so far: {seen:?}"
        );
        for (all, new) in seen.iter_mut().zip(frame(sessions)) {
            all.extend(new);
        }
    }
    seen
}

fn connected_ids(events: &[SessionEvent]) -> Vec<i32> {
    events
        .iter()
        .filter_map(|e| match e {
            SessionEvent::Connected { id, .. } => Some(*id),
            _ => None,
        })
        .collect()
}

fn put(session: &mut Session, target: i32, transfer: Transfer, channel: i32, data: &[u8]) {
    let mut failures = Vec::new();
    session
        .put(
            Target::from_target_peer(target),
            transfer,
            UserChannel(channel),
            Bytes::copy_from_slice(data),
            &mut |f| failures.push(format!("{f:?}")),
        )
        .expect("put accepted");
    assert!(failures.is_empty(), "{failures:?}");
}

fn drain(session: &mut Session) -> Vec<(i32, i32, Transfer, Vec<u8>)> {
    std::iter::from_fn(|| session.pop_packet())
        .map(|p| (p.from, p.channel.to_user().0, p.transfer, p.data.to_vec()))
        .collect()
}

#[test]
fn a_server_admits_clients_by_their_id_and_refuses_a_duplicate() {
    let (mut server, address) = server();
    let (mut a, _) = client(address, 7);
    let (mut b, _) = client(address, 9);
    assert_eq!(a.status(), Status::Connecting);
    let seen = frames_until(&mut [&mut server, &mut a, &mut b], |seen| {
        seen[0].len() == 2 && !seen[1].is_empty() && !seen[2].is_empty()
    });
    let mut ids = connected_ids(&seen[0]);
    ids.sort();
    assert_eq!(ids, [7, 9]);
    assert_eq!(connected_ids(&seen[1]), [1]);
    assert_eq!(a.status(), Status::Connected);
    assert_eq!(server.locate(7).map(|(key, _)| key), Some(HostKey::Main));
    assert_eq!(a.unique_id(), 7);
    assert_eq!(server.unique_id(), 1);

    // A second client with id 7: refused at CONNECT time, so it ends without connecting.
    let (mut twin, _) = client(address, 7);
    let seen = frames_until(&mut [&mut server, &mut a, &mut twin], |seen| {
        seen[2]
            .iter()
            .any(|e| matches!(e, SessionEvent::Ended(None)))
    });
    assert!(seen[0].is_empty(), "the server reported {:?}", seen[0]);
    assert!(matches!(
        seen[2][..],
        [
            SessionEvent::Disconnected { id: None, .. },
            SessionEvent::Ended(None)
        ]
    ));
    // Refusing: the next client is turned away too.
    server.set_refusing(true);
    let (mut late, _) = client(address, 11);
    let seen = frames_until(&mut [&mut server, &mut late], |seen| {
        seen[1]
            .iter()
            .any(|e| matches!(e, SessionEvent::Ended(None)))
    });
    assert!(connected_ids(&seen[0]).is_empty());
}

#[test]
fn packets_follow_targets_and_keep_channel_and_mode() {
    let (mut server, mut clients) = server_with_clients(&[20, 30]);
    let [(a, _), (b, _)] = &mut clients[..] else {
        unreachable!("two clients");
    };
    put(&mut server, 0, Transfer::Reliable, 0, b"all");
    put(&mut server, 30, Transfer::Unreliable, 0, b"only b");
    put(
        &mut server,
        -30,
        Transfer::UnreliableOrdered,
        2,
        b"all but b",
    );
    put(a, 1, Transfer::Reliable, 1, b"from a");
    put(b, 0, Transfer::Unreliable, 0, b"from b");
    let mut got_a = Vec::new();
    let mut got_b = Vec::new();
    let mut got_server = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(3);
    while got_a.len() < 2 || got_b.len() < 2 || got_server.len() < 2 {
        assert!(
            Instant::now() < deadline,
            "{got_a:?} {got_b:?} {got_server:?}"
        );
        frame(&mut [&mut server, a, b]);
        got_server.extend(drain(&mut server));
        got_a.extend(drain(a));
        got_b.extend(drain(b));
    }
    got_a.sort();
    got_b.sort();
    got_server.sort();
    let unrel = Transfer::Unreliable;
    assert_eq!(
        got_a,
        [
            (1, 0, Transfer::Reliable, b"all".to_vec()),
            (1, 2, Transfer::UnreliableOrdered, b"all but b".to_vec()),
        ]
    );
    assert_eq!(
        got_b,
        [
            (1, 0, unrel, b"only b".to_vec()),
            (1, 0, Transfer::Reliable, b"all".to_vec()),
        ]
    );
    assert_eq!(
        got_server,
        [
            (20, 1, Transfer::Reliable, b"from a".to_vec()),
            (30, 0, unrel, b"from b".to_vec()),
        ]
    );
}

#[test]
fn invalid_sends_are_refused_with_their_reason() {
    let (mut server, address) = server();
    let (mut a, _) = client(address, 5);
    let data = || Bytes::from_static(b"x");
    let mut ignore = |_: SendFailure| {};
    let reliable = Transfer::Reliable;
    assert_eq!(
        a.put(
            Target::Broadcast,
            reliable,
            UserChannel(0),
            data(),
            &mut ignore
        ),
        Err(PutError::NotConnected)
    );
    frames_until(&mut [&mut server, &mut a], |seen| {
        !seen[0].is_empty() && !seen[1].is_empty()
    });
    for target in [6, -6] {
        assert_eq!(
            server.put(
                Target::from_target_peer(target),
                reliable,
                UserChannel(0),
                data(),
                &mut ignore
            ),
            Err(PutError::InvalidTarget)
        );
    }
    assert_eq!(
        server.put(
            Target::Broadcast,
            reliable,
            UserChannel(255),
            data(),
            &mut ignore
        ),
        Err(PutError::ChannelOutOfRange)
    );
    // A channel the connection lacks: the core refuses it for that peer, with the channel.
    let mut failures = Vec::new();
    let result = server.put(
        Target::Peer(5),
        reliable,
        UserChannel(5),
        data(),
        &mut |f| failures.push(f),
    );
    assert_eq!(result, Ok(AfterPoll::Nothing), "nothing was queued");
    assert!(matches!(
        failures[..],
        [SendFailure::Refused { channel: 6, .. }]
    ));
}

#[test]
fn a_connection_a_script_resets_is_reported_at_the_next_poll() {
    let (mut server, _clients) = server_with_clients(&[40]);
    let (_, slot) = server.locate(40).expect("peer 40");
    // What RustENetPacketPeer.reset does.
    server_host(&server).reset_peer(slot);
    // Sends to it fail as they would through its reset packet peer.
    let mut failures = Vec::new();
    let _ = server.put(
        Target::Peer(40),
        Transfer::Reliable,
        UserChannel(0),
        Bytes::from_static(b"x"),
        &mut |f| failures.push(f),
    );
    assert!(matches!(failures[..], [SendFailure::Inactive]));
    let seen = frame(&mut [&mut server]);
    assert!(matches!(
        seen[0][..],
        [SessionEvent::Disconnected { id: Some(40), .. }]
    ));
    assert!(server.locate(40).is_none());
}

#[test]
fn a_client_whose_server_disconnects_reports_it_then_ends() {
    let (mut server, mut clients) = server_with_clients(&[50]);
    let (a, _) = &mut clients[0];
    let mut errors = Vec::new();
    assert_eq!(
        server.disconnect_peer(50, false, &mut errors),
        Some(Disconnected::Started)
    );
    assert!(errors.is_empty());
    assert_eq!(server.disconnect_peer(51, false, &mut errors), None);
    let seen = frames_until(&mut [&mut server, a], |seen| {
        !seen[0].is_empty() && seen[1].len() >= 2
    });
    assert!(matches!(
        seen[0][..],
        [SessionEvent::Disconnected { id: Some(50), .. }]
    ));
    assert!(
        matches!(
            seen[1][..],
            [
                SessionEvent::Disconnected { id: Some(1), .. },
                SessionEvent::Ended(None)
            ]
        ),
        "{:?}",
        seen[1]
    );
}

/// Packets and the server's disconnect that one poll finds together (a service thread gathered
/// them): the poll delivers the packets with the client still connected, the next one reports
/// the disconnect (SceneMultiplayer reads no packets after a poll that ends disconnected).
#[test]
fn packets_before_the_servers_disconnect_are_read_first() {
    let (mut server, mut clients) = server_with_clients(&[50]);
    let (mut a, a_host) = clients.remove(0);
    for n in 0..5u8 {
        put(&mut server, 50, Transfer::Reliable, 0, &[n]);
    }
    assert!(server.flush_all().is_empty());
    assert!(server.disconnect_peer_later(50));
    // The client's owner is away; its service thread receives and acknowledges.
    a_host
        .start_service_thread(ServiceConfig::default())
        .expect("a thread");
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(300) {
        frame(&mut [&mut server]);
    }
    a_host.stop_service_thread();
    let first = frame(&mut [&mut a]).remove(0);
    assert!(first.is_empty(), "{first:?}");
    assert_eq!(a.status(), Status::Connected);
    let packets: Vec<Vec<u8>> = drain(&mut a).into_iter().map(|p| p.3).collect();
    assert_eq!(packets, (0..5u8).map(|n| vec![n]).collect::<Vec<_>>());
    let second = frame(&mut [&mut a]).remove(0);
    assert!(
        matches!(
            second[..],
            [
                SessionEvent::Disconnected { id: Some(1), .. },
                SessionEvent::Ended(None)
            ]
        ),
        "{second:?}"
    );
}

/// The same on a server: a client's last packets and its disconnect, found by one poll (the
/// server's service thread gathered them), are read with the client still connected, and the
/// next poll reports it gone. SceneMultiplayer prints an error for, and drops, a packet from a
/// peer it was told left (`!connected_peers.has(sender)`).
#[test]
fn packets_before_a_clients_disconnect_are_read_first() {
    let (mut server, mut clients) = server_with_clients(&[60]);
    let (mut a, _) = clients.remove(0);
    for n in 0..5u8 {
        put(&mut a, 1, Transfer::Reliable, 0, &[n]);
    }
    assert!(a.flush_all().is_empty());
    assert!(a.disconnect_peer_later(1));
    let s_host = server_host(&server);
    s_host
        .start_service_thread(ServiceConfig::default())
        .expect("a thread");
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(300) {
        frame(&mut [&mut a]);
    }
    s_host.stop_service_thread();
    let first = frame(&mut [&mut server]).remove(0);
    assert!(first.is_empty(), "{first:?}");
    assert!(
        server.has_peer(60),
        "still connected while its packets wait"
    );
    let packets: Vec<(i32, Vec<u8>)> = drain(&mut server).into_iter().map(|p| (p.0, p.3)).collect();
    assert_eq!(packets, (0..5u8).map(|n| (60, vec![n])).collect::<Vec<_>>());
    let second = frame(&mut [&mut server]).remove(0);
    assert!(
        matches!(
            second[..],
            [SessionEvent::Disconnected { id: Some(60), .. }]
        ),
        "{second:?}"
    );
    assert!(!server.has_peer(60));
}

#[test]
fn a_mesh_talks_to_each_linked_peer_and_turns_others_away() {
    // Two mesh members, 1 and 2, linked by a host pair (as a script would set them up).
    let (h1, h2) = (host(2), host(2));
    let slot = h2
        .lock()
        .as_mut()
        .expect("alive")
        .connect(addr(&h1), 6, 0)
        .expect("connect");
    let deadline = Instant::now() + Duration::from_secs(3);
    let connected = |h: &SessionHost| {
        h.lock().as_ref().is_some_and(|u| {
            u.host()
                .peers()
                .any(|(_, p)| p.state() == PeerState::Connected)
        })
    };
    while !(connected(&h1) && connected(&h2)) {
        assert!(Instant::now() < deadline);
        for h in [&h1, &h2] {
            let _ = h
                .lock()
                .as_mut()
                .expect("alive")
                .service(Duration::from_millis(1));
        }
    }
    let mut one = Session::mesh(1);
    let mut two = Session::mesh(2);
    assert_eq!(one.add_mesh_peer(2, h1.clone()).map(|_| ()), Ok(()));
    assert_eq!(two.add_mesh_peer(1, h2.clone()), Ok(slot));
    assert_eq!(
        Session::server(host(1)).add_mesh_peer(3, h1.clone()),
        Err(MeshError::NotMesh)
    );
    assert_eq!(
        Session::mesh(4).add_mesh_peer(3, host(1)),
        Err(MeshError::InvalidHost)
    );
    // An outsider connecting to member 1's host is reset, never reported.
    let outsider = host(1);
    outsider
        .lock()
        .as_mut()
        .expect("alive")
        .connect(addr(&h1), 6, 0)
        .expect("connect");
    put(&mut one, 0, Transfer::Reliable, 0, b"to two");
    put(&mut two, 1, Transfer::Reliable, 3, b"to one");
    let mut got_one = Vec::new();
    let mut got_two = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(3);
    while got_one.is_empty() || got_two.is_empty() {
        assert!(Instant::now() < deadline);
        let seen = frame(&mut [&mut one, &mut two]);
        assert!(seen.iter().all(Vec::is_empty), "{seen:?}");
        let _ = outsider
            .lock()
            .as_mut()
            .expect("alive")
            .service(Duration::ZERO);
        got_one.extend(drain(&mut one));
        got_two.extend(drain(&mut two));
    }
    assert_eq!(got_one, [(2, 3, Transfer::Reliable, b"to one".to_vec())]);
    assert_eq!(got_two, [(1, 0, Transfer::Reliable, b"to two".to_vec())]);
    // A forced disconnect forgets the peer at once; the other side sees it end.
    let mut errors = Vec::new();
    assert_eq!(
        one.disconnect_peer(2, true, &mut errors),
        Some(Disconnected::Started)
    );
    assert!(one.locate(2).is_none());
    let seen = frames_until(&mut [&mut one, &mut two], |seen| !seen[1].is_empty());
    assert!(matches!(
        seen[1][..],
        [SessionEvent::Disconnected {
            id: Some(1),
            host: HostKey::Mesh(1),
            ..
        }]
    ));
}

#[test]
fn queued_sends_wait_for_the_frame_flush_unless_immediate() {
    let (_server, mut clients) = server_with_clients(&[60]);
    let (a, client_host) = &mut clients[0];
    let sent = || {
        client_host
            .lock()
            .as_ref()
            .expect("alive")
            .driver_statistics()
            .datagrams_sent
    };
    let before = sent();
    let mut ignore = |_: SendFailure| {};
    let mut put_one = |a: &mut Session, data: &'static [u8]| {
        a.put(
            Target::Peer(1),
            Transfer::Reliable,
            UserChannel(0),
            Bytes::from_static(data),
            &mut ignore,
        )
        .expect("put accepted")
    };
    assert_eq!(
        put_one(a, b"one"),
        AfterPoll::FrameFlush,
        "the first send asks for the frame flush"
    );
    assert_eq!(
        put_one(a, b"two"),
        AfterPoll::Nothing,
        "one flush per frame"
    );
    assert_eq!(sent(), before, "nothing leaves before the flush");
    assert!(a.frame_flush_due());
    assert!(a.flush_all().is_empty());
    assert!(!a.frame_flush_due());
    assert_eq!(sent(), before + 1, "both packets in one datagram");
    a.set_immediate(true);
    assert_eq!(put_one(a, b"three"), AfterPoll::Nothing);
    assert_eq!(sent(), before + 2, "immediate: sent by put");
}

/// The same with the hosts' service threads on: the frame's packets still leave together with
/// the frame's flush, never from the thread before it.
#[test]
fn with_service_threads_the_frames_packets_still_leave_with_its_flush() {
    let (mut server, mut clients) = server_with_clients(&[61]);
    assert!(
        server
            .set_service_threads(Some(ServiceConfig::default()))
            .is_empty()
    );
    let (a, a_host) = &mut clients[0];
    assert!(
        a.set_service_threads(Some(ServiceConfig::default()))
            .is_empty()
    );
    assert!(a_host.is_service_thread_running());
    let received = || {
        let host = server_host(&server);
        let guard = host.lock();
        guard
            .as_ref()
            .expect("alive")
            .driver_statistics()
            .datagrams_received
    };
    // Let pings and their acknowledgements settle.
    std::thread::sleep(Duration::from_millis(50));
    let before = received();
    for text in [&b"one"[..], b"two", b"three"] {
        put(a, 1, Transfer::Reliable, 0, text);
    }
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(received(), before, "sent before the frame's flush");
    assert!(a.flush_all().is_empty());
    let start = Instant::now();
    while received() == before {
        assert!(start.elapsed() < Duration::from_secs(2), "never sent");
        std::thread::sleep(Duration::from_millis(1));
    }
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(
        received(),
        before + 1,
        "the frame's packets in one datagram"
    );
    // The session owns the threads: off, they stop; close ends them with the hosts.
    assert!(a.set_service_threads(None).is_empty());
    assert!(!a_host.is_service_thread_running());
    let server_host = server_host(&server);
    assert!(server_host.is_service_thread_running());
    assert!(server.close().is_empty());
    assert!(!server_host.is_service_thread_running());
}

/// A host whose service thread panics ends visibly: the server reports every client
/// disconnected with an internal error a script can read, then the session ends.
#[test]
fn a_service_thread_panic_disconnects_every_peer_with_a_reason() {
    let (mut server, mut clients) = server_with_clients(&[80, 81]);
    let host = server_host(&server);
    assert!(
        server
            .set_service_threads(Some(ServiceConfig::default()))
            .is_empty()
    );
    // Application code the thread runs (a connect filter) panics on the next CONNECT.
    host.lock()
        .as_mut()
        .expect("alive")
        .host_mut()
        .set_connect_filter(Some(Box::new(|_, _| panic!("a filter bug"))));
    let (mut late, _late_host) = client(addr(&host), 82);
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !seen.iter().any(|e| matches!(e, SessionEvent::Ended(_))) {
        assert!(
            Instant::now() < deadline,
            "the failure was never reported: {seen:?}"
        );
        // The server's frame by hand: its host may fail at any point of it (the thread panics
        // on its own time), and then its flushes report errors, which `frame` forbids.
        let _ = server.begin_poll();
        seen.extend(std::iter::from_fn(|| server.next_event()));
        let _ = server.after_poll();
        let _ = server.flush_all();
        for (session, _) in &mut clients {
            frame(&mut [session]);
        }
        frame(&mut [&mut late]);
    }
    let mut left: Vec<i32> = seen
        .iter()
        .filter_map(|e| match e {
            SessionEvent::Disconnected {
                id: Some(id),
                reason: LeaveReason::Internal(message),
                ..
            } if message.contains("a filter bug") => Some(*id),
            _ => None,
        })
        .collect();
    left.sort();
    assert_eq!(left, [80, 81], "{seen:?}");
    assert_eq!(
        LeaveReason::Internal(String::new()).kind(),
        "internal_error"
    );
}

#[test]
fn close_drops_every_connection_and_closes_the_sockets() {
    let (server, mut clients) = server_with_clients(&[70]);
    let (mut a, a_host) = clients.remove(0);
    let server_host = server_host(&server);
    assert!(server.close().is_empty());
    assert!(server_host.lock().is_none(), "the socket is closed");
    // The client hears the unreliable DISCONNECT and ends at once, not after a timeout.
    let started = Instant::now();
    let seen = frames_until(&mut [&mut a], |seen| {
        seen[0].iter().any(|e| matches!(e, SessionEvent::Ended(_)))
    });
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(matches!(
        seen[0][..],
        [
            SessionEvent::Disconnected { id: Some(1), .. },
            SessionEvent::Ended(None)
        ]
    ));
    assert!(a_host.lock().is_some());
}
