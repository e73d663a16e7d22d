//! The traversal against a scripted server, on a virtual clock.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::*;

const SERVER: &str = "198.51.100.1:8890";
const REGISTRAR: &str = "198.51.100.1:8809";

pub(super) fn addr(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn lines(t: &mut Traversal) -> Vec<String> {
    std::iter::from_fn(|| t.poll_line())
        .map(|l| String::from_utf8(l).unwrap())
        .collect()
}

fn transmits(t: &mut Traversal) -> Vec<(SocketAddr, String)> {
    std::iter::from_fn(|| t.poll_transmit())
        .map(|t| (t.to, String::from_utf8(t.data).unwrap()))
        .collect()
}

fn events(t: &mut Traversal) -> Vec<TraversalEvent> {
    std::iter::from_fn(|| t.poll_event()).collect()
}

/// The name of the one failure the traversal reported (and nothing else).
fn failure(t: &mut Traversal) -> &'static str {
    match &events(t)[..] {
        [TraversalEvent::Failed(failure)] => failure.name(),
        other => panic!("expected one failure, got {other:?}"),
    }
}

/// Open the link, answer register-host and the registrar: the traversal is registered.
fn registered(mut t: Traversal, start: Instant) -> Traversal {
    t.link_open(addr(SERVER), vec![addr("192.168.1.2:5000")], start);
    assert_eq!(
        lines(&mut t),
        [
            "rust_enet-hello 1",
            "rust_enet-candidates 192.168.1.2:5000",
            "register-host"
        ]
    );
    t.line(b"set-oid hostoid", start);
    t.line(b"set-pid secretpid", start);
    assert_eq!(transmits(&mut t), [(addr(REGISTRAR), "secretpid".into())]);
    t.datagram(addr(REGISTRAR), b"OK", start);
    t
}

#[test]
fn a_host_registers_retries_until_ok_and_keeps_the_mapping_alive() {
    let start = Instant::now();
    let config = TraversalConfig::default();
    let mut t = Traversal::host(config.clone(), start);
    t.link_open(addr(SERVER), vec![], start);
    assert_eq!(lines(&mut t), ["rust_enet-hello 1", "register-host"]);
    t.line(b"set-oid hostoid", start);
    t.line(b"set-pid secretpid", start);
    assert_eq!(t.registrar(), Some(addr(REGISTRAR)));
    assert_eq!(transmits(&mut t).len(), 1);
    assert_eq!(t.next_timeout(), Some(start + ms(100)));
    t.timeout(start + ms(100));
    assert_eq!(transmits(&mut t), [(addr(REGISTRAR), "secretpid".into())]);
    assert_eq!(t.id(), None);
    t.datagram(addr(REGISTRAR), b"OK", start + ms(120));
    assert_eq!(
        events(&mut t),
        [TraversalEvent::Registered {
            id: "hostoid".into()
        }]
    );
    assert_eq!(t.id(), Some("hostoid"));
    let refresh = start + ms(120) + config.keepalive;
    assert_eq!(t.next_timeout(), Some(refresh));
    t.timeout(refresh);
    assert_eq!(transmits(&mut t), [(addr(REGISTRAR), "secretpid".into())]);
    // Its OK changes nothing; a closed link ends the registration.
    t.datagram(addr(REGISTRAR), b"OK", refresh);
    assert!(events(&mut t).is_empty());
    t.link_closed("reset", refresh);
    assert_eq!(failure(&mut t), "server_lost");
}

#[test]
fn the_extension_sets_the_registrar_port_the_keepalive_and_the_token() {
    let start = Instant::now();
    let config = TraversalConfig {
        token: Some("s3cret".into()),
        ..TraversalConfig::default()
    };
    let mut t = Traversal::host(config, start);
    t.link_open(addr(SERVER), vec![], start);
    assert_eq!(lines(&mut t)[0], "rust_enet-hello 1 s3cret");
    t.line(
        b"rust_enet-welcome 1 registrar=18809 keepalive=4 ipv6=0 max-candidates=8",
        start,
    );
    t.line(b"set-oid o", start);
    t.line(b"set-pid p", start);
    assert_eq!(
        transmits(&mut t),
        [(addr("198.51.100.1:18809"), "p".into())]
    );
    t.datagram(addr("198.51.100.1:18809"), b"OK", start);
    assert_eq!(t.next_timeout(), Some(start + Duration::from_secs(4)));
}

#[test]
fn silence_and_refusals_are_reasons_a_script_can_read() {
    let start = Instant::now();
    let timeout = TraversalConfig::default().server_timeout;
    let failure = |t: &mut Traversal| match &events(t)[..] {
        [TraversalEvent::Failed(f)] => f.name(),
        other => panic!("{other:?}"),
    };
    // Nothing accepts the connection.
    let mut t = Traversal::join("x", TraversalConfig::default(), start);
    assert_eq!(t.next_timeout(), Some(start + timeout));
    t.timeout(start + timeout);
    assert_eq!(failure(&mut t), "server_unreachable");
    let mut t = Traversal::join("x", TraversalConfig::default(), start);
    t.link_closed("connection refused", start);
    assert_eq!(failure(&mut t), "server_unreachable");
    // The registrar never answers (UDP blocked).
    let mut t = Traversal::host(TraversalConfig::default(), start);
    t.link_open(addr(SERVER), vec![], start);
    t.line(b"set-oid o", start);
    t.line(b"set-pid p", start);
    let mut now = start;
    while !t.is_done() {
        now = t.next_timeout().unwrap();
        t.timeout(now);
    }
    assert_eq!(now, start + timeout);
    assert_eq!(transmits(&mut t).len(), 50, "every 100 ms for 5 s");
    assert_eq!(failure(&mut t), "server_unreachable");
    // A wrong pid, and a wrong token.
    let mut t = Traversal::host(TraversalConfig::default(), start);
    t.link_open(addr(SERVER), vec![], start);
    t.line(b"set-oid o", start);
    t.line(b"set-pid p", start);
    t.datagram(addr(REGISTRAR), b"Unknown host pid!", start);
    assert_eq!(failure(&mut t), "refused");
    let mut t = Traversal::host(TraversalConfig::default(), start);
    t.link_open(addr(SERVER), vec![], start);
    t.line(b"rust_enet-error unauthorized bad token", start);
    assert_eq!(failure(&mut t), "unauthorized");
}

#[test]
fn an_unknown_id_fails_at_once_with_our_server_and_after_the_timeout_with_noray() {
    let start = Instant::now();
    let mut t = registered(
        Traversal::join("nosuch", TraversalConfig::default(), start),
        start,
    );
    assert_eq!(lines(&mut t), ["connect nosuch"]);
    t.line(b"rust_enet-error unknown-oid no host has that id", start);
    assert_eq!(failure(&mut t), "unknown_id");

    let mut t = registered(
        Traversal::join("nosuch", TraversalConfig::default(), start),
        start,
    );
    let deadline = t.next_timeout().unwrap();
    assert_eq!(deadline, start + TraversalConfig::default().server_timeout);
    t.timeout(deadline);
    match &events(&mut t)[..] {
        [TraversalEvent::Failed(failure)] => {
            assert_eq!(failure.name(), "unknown_id");
            assert!(failure.message().contains("'nosuch'"), "{failure:?}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_joiner_punches_every_candidate_and_takes_the_first_that_answers() {
    let start = Instant::now();
    let mut t = registered(
        Traversal::join("hostoid", TraversalConfig::default(), start),
        start,
    );
    assert_eq!(lines(&mut t), ["connect hostoid"]);
    let public = addr("203.0.113.7:6000");
    let lan = addr("10.0.0.7:6000");
    t.line(b"rust_enet-peer nat 203.0.113.7:6000 10.0.0.7:6000", start);
    // noray's line for the same party adds nothing.
    t.line(b"connect 203.0.113.7:6000", start);
    assert_eq!(
        transmits(&mut t),
        [(lan, "$-w-".into()), (public, "$-w-".into())]
    );
    // A stray punch from elsewhere is no path.
    t.datagram(addr("192.0.2.99:1234"), b"$rwx", start + ms(10));
    assert!(events(&mut t).is_empty());
    t.timeout(start + ms(50));
    assert_eq!(transmits(&mut t).len(), 2);
    t.datagram(public, b"$rwx", start + ms(60));
    assert_eq!(
        events(&mut t),
        [TraversalEvent::Connect {
            address: public,
            path: Path::Public
        }]
    );
    assert_eq!(transmits(&mut t), [(public, "$rwx".into())]);
    assert!(t.is_done());
    assert_eq!(t.path_of(public), Path::Public);
    assert_eq!(t.next_timeout(), None);
}

#[test]
fn a_symmetric_nat_answering_from_another_port_is_a_path() {
    let start = Instant::now();
    let mut t = registered(
        Traversal::join("h", TraversalConfig::default(), start),
        start,
    );
    t.line(b"connect 203.0.113.7:6000", start);
    let remapped = addr("203.0.113.7:6123");
    t.datagram(remapped, b"$-w-", start + ms(5));
    assert_eq!(
        events(&mut t),
        [TraversalEvent::Connect {
            address: remapped,
            path: Path::Public
        }]
    );
}

#[test]
fn without_a_direct_answer_the_joiner_asks_for_the_relay() {
    let start = Instant::now();
    let config = TraversalConfig::default();
    let mut t = registered(Traversal::join("hostoid", config.clone(), start), start);
    lines(&mut t);
    t.line(b"connect 203.0.113.7:6000", start);
    let mut now = start;
    while lines(&mut t).is_empty() {
        now = t.next_timeout().unwrap();
        t.timeout(now);
        assert!(now <= start + config.direct_timeout);
    }
    assert_eq!(now, start + config.direct_timeout);
    // (the lines were drained by the loop's check: it was `connect-relay hostoid`)
    transmits(&mut t);
    let relay = addr("198.51.100.1:41003");
    t.line(b"connect-relay 41003", now);
    // noray: punches only (the pid is a secret between us and the server).
    assert_eq!(transmits(&mut t), [(relay, "$-w-".into())]);
    t.datagram(relay, b"$rw-", now + ms(20));
    assert_eq!(
        events(&mut t),
        [TraversalEvent::Connect {
            address: relay,
            path: Path::Relay
        }]
    );
    assert_eq!(t.path_of(relay).kind(), "relay");
}

#[test]
fn with_our_server_the_pid_tells_the_relay_port_which_relay_is_ours() {
    let start = Instant::now();
    let config = TraversalConfig::default();
    let mut t = Traversal::join("hostoid", config.clone(), start);
    t.link_open(addr(SERVER), vec![], start);
    t.line(
        b"rust_enet-welcome 1 registrar=8809 keepalive=20 ipv6=0 max-candidates=8",
        start,
    );
    t.line(b"set-oid o", start);
    t.line(b"set-pid secretpid", start);
    t.datagram(addr(REGISTRAR), b"OK", start);
    t.line(b"rust_enet-peer nat 203.0.113.7:6000 -", start);
    transmits(&mut t);
    let later = start + config.direct_timeout;
    t.timeout(later);
    t.line(b"rust_enet-peer relay 41003 203.0.113.7:6000 -", later);
    let relay = addr("198.51.100.1:41003");
    assert_eq!(
        transmits(&mut t),
        [(relay, "secretpid".into()), (relay, "$-w-".into())]
    );
}

#[test]
fn the_relay_is_asked_for_by_name_and_can_fail_or_be_off() {
    let start = Instant::now();
    let config = TraversalConfig::default();
    let mut t = registered(Traversal::join("hostoid", config.clone(), start), start);
    lines(&mut t);
    t.line(b"connect 203.0.113.7:6000", start);
    t.timeout(start + config.direct_timeout);
    assert_eq!(lines(&mut t), ["connect-relay hostoid"]);
    t.line(b"connect-relay 41003", start + config.direct_timeout);
    let end = start + config.direct_timeout + config.relay_timeout;
    t.timeout(end);
    assert_eq!(failure(&mut t), "all_paths_failed");

    let off = TraversalConfig {
        allow_relay: false,
        ..config.clone()
    };
    let mut t = registered(Traversal::join("hostoid", off, start), start);
    lines(&mut t);
    t.line(b"connect 203.0.113.7:6000", start);
    t.timeout(start + config.direct_timeout);
    assert!(lines(&mut t).is_empty());
    assert_eq!(failure(&mut t), "all_paths_failed");
}

#[test]
fn a_host_answers_each_joiner_with_netfox_flags_until_it_connects() {
    let start = Instant::now();
    let config = TraversalConfig::default();
    let mut t = registered(Traversal::host(config.clone(), start), start);
    events(&mut t);
    let joiner = addr("203.0.113.9:7000");
    t.line(b"connect 203.0.113.9:7000", start);
    assert_eq!(transmits(&mut t), [(joiner, "$-w-".into())]);
    t.datagram(joiner, b"$-w-", start + ms(10));
    t.timeout(start + ms(50));
    assert_eq!(transmits(&mut t), [(joiner, "$rw-".into())]);
    t.datagram(joiner, b"$rw-", start + ms(60));
    t.timeout(start + ms(100));
    assert_eq!(transmits(&mut t), [(joiner, "$rwx".into())]);
    // A relayed joiner too: its ENet peer will come from the relay.
    let relay = addr("198.51.100.1:41002");
    t.line(b"connect-relay 41002", start + ms(100));
    assert_eq!(transmits(&mut t), [(relay, "$-w-".into())]);
    assert_eq!(t.path_of(relay), Path::Relay);
    assert_eq!(t.path_of(joiner), Path::Public);
    // Once connected, three more rounds; the relayed one goes on.
    t.peer_connected(joiner);
    let mut sent_to_joiner = 0;
    let mut now = start + ms(100);
    while now < start + Duration::from_secs(1) {
        now = t.next_timeout().unwrap();
        t.timeout(now);
        sent_to_joiner += transmits(&mut t)
            .iter()
            .filter(|(to, _)| *to == joiner)
            .count();
    }
    assert_eq!(sent_to_joiner, 3);
    // The host punches for its punch duration, then stops (the refresh remains).
    while let Some(next) = t.next_timeout()
        && next < start + config.keepalive
    {
        t.timeout(next);
        transmits(&mut t);
    }
    assert_eq!(t.next_timeout(), Some(start + config.keepalive));
}

#[test]
fn a_host_punches_a_bounded_number_of_joiners() {
    let start = Instant::now();
    let mut t = registered(Traversal::host(TraversalConfig::default(), start), start);
    for i in 0..MAX_PUNCHING + 5 {
        t.line(
            format!("connect 203.0.113.9:{}", 7000 + i).as_bytes(),
            start,
        );
    }
    assert_eq!(transmits(&mut t).len(), MAX_PUNCHING);
}
