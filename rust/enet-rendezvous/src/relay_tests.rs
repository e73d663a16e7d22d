use std::collections::BTreeSet;

use super::*;
use crate::testing::FakePorts;

fn limits() -> RelayLimits {
    RelayLimits {
        idle: Duration::from_secs(30),
        lifetime: Duration::from_secs(3600),
        rate: 1000,
        burst: 1000,
        global_rate: 0,
        max_per_ip: 0,
        latch_quiet: Duration::from_secs(5),
    }
}

fn addr(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

const HOST: &str = "203.0.113.1:4000";
const JOINER: &str = "198.51.100.2:5000";

fn table(ports: &[u16], limits: RelayLimits) -> (RelayTable, FakePorts, Instant) {
    let now = Instant::now();
    (
        RelayTable::new(ports, limits, now),
        FakePorts::default(),
        now,
    )
}

/// A table over `ports` with the HOST and JOINER relays allocated and linked.
fn linked(ports: &[u16]) -> (RelayTable, FakePorts, Instant, (u16, u16)) {
    let (mut relays, mut fake, now) = table(ports, limits());
    let pair = relays
        .allocate_pair(addr(HOST), addr(JOINER), now, &mut fake)
        .unwrap();
    (relays, fake, now, pair)
}

#[test]
fn one_relay_per_address_highest_port_first() {
    let (mut relays, mut ports, t0, (h, j)) = linked(&[41000, 41001, 41002, 41003]);
    assert_eq!(
        (h, j),
        (41003, 41002),
        "noray hands out the highest free port first"
    );
    let again = relays
        .allocate_pair(addr(HOST), addr(JOINER), t0, &mut ports)
        .unwrap();
    assert_eq!(
        again,
        (h, j),
        "repeated connect-relay returns the same relays"
    );
    let (h2, j2) = relays
        .allocate_pair(addr(HOST), addr("198.51.100.3:1"), t0, &mut ports)
        .unwrap();
    assert_eq!(
        (h2, j2),
        (41003, 41001),
        "a host serves every joiner from its one relay"
    );
    assert_eq!(ports.open, BTreeSet::from([41001, 41002, 41003]));
}

#[test]
fn forwards_both_ways_between_a_linked_pair_only() {
    let (mut relays, mut ports, t0, (h, j)) = linked(&[41000, 41001, 41002, 41003]);
    assert_eq!(
        relays.handle_datagram(t0, h, addr(JOINER), 10),
        Ok(Forward {
            from_port: j,
            to: addr(HOST)
        })
    );
    assert_eq!(
        relays.handle_datagram(t0, j, addr(HOST), 10),
        Ok(Forward {
            from_port: h,
            to: addr(JOINER)
        })
    );
    // A registered stranger with its own relay pair may not reach this host.
    let (_, s) = relays
        .allocate_pair(addr("192.0.2.9:1"), addr("192.0.2.10:2"), t0, &mut ports)
        .unwrap();
    assert_ne!(s, h);
    assert_eq!(
        relays.handle_datagram(t0, h, addr("192.0.2.10:2"), 10),
        Err(RelayDrop::NotLinked)
    );
    // An unregistered sender from another IP gets nothing, and no port of its own.
    assert_eq!(
        relays.handle_datagram(t0, h, addr("192.0.2.77:7"), 10),
        Err(RelayDrop::UnknownSender)
    );
    assert_eq!(relays.len(), 4);
}

#[test]
fn excess_over_the_rate_is_dropped_then_recovers() {
    let (mut relays, _, t0, (h, _)) = linked(&[41000, 41001]);
    let sent: Vec<_> = (0..5)
        .map(|_| relays.handle_datagram(t0, h, addr(JOINER), 300))
        .collect();
    assert_eq!(
        sent.iter().filter(|r| r.is_ok()).count(),
        3,
        "burst 1000 B lets 3 × 300 B through"
    );
    assert_eq!(sent[3], Err(RelayDrop::RateLimited));
    let t1 = t0 + Duration::from_millis(300);
    assert!(
        relays.handle_datagram(t1, h, addr(JOINER), 300).is_ok(),
        "300 ms refill 300 B"
    );
}

#[test]
fn the_global_rate_caps_all_relays_together() {
    let (mut relays, mut ports, t0) = table(
        &[41000, 41001, 41002, 41003],
        RelayLimits {
            global_rate: 1500,
            rate: 0,
            ..limits()
        },
    );
    let (h1, _) = relays
        .allocate_pair(addr(HOST), addr(JOINER), t0, &mut ports)
        .unwrap();
    let (h2, _) = relays
        .allocate_pair(addr("192.0.2.1:1"), addr("192.0.2.2:2"), t0, &mut ports)
        .unwrap();
    assert!(relays.handle_datagram(t0, h1, addr(JOINER), 1000).is_ok());
    assert_eq!(
        relays.handle_datagram(t0, h2, addr("192.0.2.2:2"), 1000),
        Err(RelayDrop::GlobalRateLimited)
    );
}

#[test]
fn an_idle_relay_expires_at_its_deadline_and_its_port_is_reused_last() {
    let (mut relays, mut ports, t0, (h, j)) = linked(&[41000, 41001, 41002]);
    let t10 = t0 + Duration::from_secs(10);
    relays.handle_datagram(t10, h, addr(JOINER), 1).unwrap();
    assert_eq!(relays.poll_timeout(), Some(t0 + Duration::from_secs(30)));
    assert!(
        relays
            .handle_timeout(t0 + Duration::from_secs(30), &mut ports)
            .is_empty()
    );
    let t40 = t10 + Duration::from_secs(30);
    assert!(
        relays
            .handle_timeout(t40 - Duration::from_millis(1), &mut ports)
            .is_empty()
    );
    let mut freed = relays.handle_timeout(t40, &mut ports);
    freed.sort_unstable();
    assert_eq!(freed, vec![j, h]);
    assert!(relays.is_empty() && ports.open.is_empty());
    assert_eq!(
        relays.handle_datagram(t40, h, addr(JOINER), 1),
        Err(RelayDrop::UnknownPort)
    );
    let (h2, _) = relays
        .allocate_pair(addr(HOST), addr(JOINER), t40, &mut ports)
        .unwrap();
    assert_eq!(
        h2, 41000,
        "the never-used port goes before the freshly freed ones"
    );
}

#[test]
fn the_lifetime_ends_a_busy_relay() {
    let (mut relays, mut ports, t0) = table(
        &[41000, 41001],
        RelayLimits {
            lifetime: Duration::from_secs(50),
            rate: 0,
            ..limits()
        },
    );
    let (h, _) = relays
        .allocate_pair(addr(HOST), addr(JOINER), t0, &mut ports)
        .unwrap();
    for s in (10..50).step_by(10) {
        let now = t0 + Duration::from_secs(s);
        relays.handle_datagram(now, h, addr(JOINER), 1).unwrap();
        relays.handle_timeout(now, &mut ports);
    }
    assert_eq!(relays.len(), 2);
    relays.handle_timeout(t0 + Duration::from_secs(50), &mut ports);
    assert!(relays.is_empty());
}

#[test]
fn pool_and_per_ip_limits_refuse_without_leaking() {
    let (mut relays, mut ports, t0) = table(&[41000, 41001, 41002], limits());
    relays
        .allocate_pair(addr(HOST), addr(JOINER), t0, &mut ports)
        .unwrap();
    assert_eq!(
        relays.allocate_pair(addr("192.0.2.1:1"), addr("192.0.2.2:2"), t0, &mut ports),
        Err(RelayError::PoolExhausted)
    );
    assert_eq!(relays.len(), 2, "the host's fresh relay was given back");
    assert!(relays.port_of(addr("192.0.2.1:1")).is_none());

    let (mut relays, mut ports, t0) = table(
        &[41000, 41001, 41002, 41003],
        RelayLimits {
            max_per_ip: 2,
            ..limits()
        },
    );
    relays
        .allocate_pair(addr("192.0.2.1:1"), addr("192.0.2.1:2"), t0, &mut ports)
        .unwrap();
    assert_eq!(
        relays.allocate_pair(addr(HOST), addr("192.0.2.1:3"), t0, &mut ports),
        Err(RelayError::PerIpLimit)
    );
    assert_eq!(relays.len(), 2);
}

#[test]
fn ports_that_cannot_be_bound_are_skipped() {
    let (mut relays, mut ports, t0) = table(&[41000, 41001, 41002], limits());
    ports.unbindable.insert(41002);
    let pair = relays
        .allocate_pair(addr(HOST), addr(JOINER), t0, &mut ports)
        .unwrap();
    assert_eq!(pair, (41001, 41000));
}

#[test]
fn a_symmetric_nat_sender_latches_its_relay() {
    let (mut relays, _, t0, (h, j)) = linked(&[41000, 41001]);
    // The joiner's NAT maps it to a new port toward the relay port.
    let mapped = addr("198.51.100.2:6123");
    assert_eq!(
        relays.handle_datagram(t0, h, mapped, 4),
        Ok(Forward {
            from_port: j,
            to: addr(HOST)
        })
    );
    assert_eq!(
        relays.handle_datagram(t0, j, addr(HOST), 4),
        Ok(Forward {
            from_port: h,
            to: mapped
        }),
        "the host's answer goes to the mapping the joiner's NAT opened toward the relay"
    );
    // Heard from just now, so a second mapping of the same IP cannot take it over.
    assert_eq!(
        relays.handle_datagram(t0 + Duration::from_secs(1), h, addr("198.51.100.2:7000"), 4),
        Err(RelayDrop::UnknownSender)
    );
}

#[test]
fn latching_needs_a_single_quiet_candidate() {
    let (mut relays, mut ports, t0) = table(&[41000, 41001, 41002], limits());
    let (h, _) = relays
        .allocate_pair(addr(HOST), addr("198.51.100.2:1"), t0, &mut ports)
        .unwrap();
    relays
        .allocate_pair(addr(HOST), addr("198.51.100.2:2"), t0, &mut ports)
        .unwrap();
    assert_eq!(
        relays.handle_datagram(t0, h, addr("198.51.100.2:3"), 4),
        Err(RelayDrop::UnknownSender),
        "two joiners behind one IP: ambiguous"
    );
    relays
        .handle_datagram(t0, h, addr("198.51.100.2:2"), 4)
        .unwrap();
    assert_eq!(
        relays
            .handle_datagram(t0, h, addr("198.51.100.2:3"), 4)
            .map(|f| f.to),
        Ok(addr(HOST)),
        "once one is heard from, the other is the only quiet candidate"
    );
}

#[test]
fn a_claim_latches_the_claimant_among_joiners_behind_one_ip() {
    let (mut relays, mut ports, t0) = table(&[41000, 41001, 41002], limits());
    let (h, first) = relays
        .allocate_pair(addr(HOST), addr("198.51.100.2:1"), t0, &mut ports)
        .unwrap();
    let (_, second) = relays
        .allocate_pair(addr(HOST), addr("198.51.100.2:2"), t0, &mut ports)
        .unwrap();
    let mapped = addr("198.51.100.2:3");
    assert!(relays.claim(h, addr("198.51.100.2:2"), mapped, t0));
    assert_eq!(
        relays.handle_datagram(t0, h, mapped, 4),
        Ok(Forward {
            from_port: second,
            to: addr(HOST)
        }),
        "the claimed mapping speaks for the second joiner"
    );
    assert_eq!(
        relays
            .handle_datagram(t0, second, addr(HOST), 4)
            .map(|f| f.to),
        Ok(mapped)
    );
    assert!(
        !relays.claim(h, addr("198.51.100.2:1"), mapped, t0),
        "an address another relay serves cannot be claimed"
    );
    assert!(
        !relays.claim(first, addr("198.51.100.2:1"), addr("198.51.100.2:4"), t0),
        "a claim on a port the relay is not linked to does nothing"
    );
}
