//! Random API calls on several hosts over a hostile network, checking bookkeeping invariants and
//! event sequences after every step. Deterministic per seed.

mod sim;

use std::collections::HashMap;

use bytes::Bytes;
use rust_enet_proto::{Event, Packet, PacketFlags, PeerId, PeerState};
use sim::{Link, Rng, Sim, server_config};

/// Per host and slot: is a connection reported (Connect seen, Disconnect not yet)?
type Open = HashMap<(usize, u16), bool>;

fn check_host_invariants(sim: &Sim, i: usize) {
    let host = &sim.nodes[i].host;
    host.debug_check_invariants();
    let connected = host
        .peers()
        .filter(|(_, p)| matches!(p.state(), PeerState::Connected | PeerState::DisconnectLater))
        .count();
    assert_eq!(
        host.connected_peers(),
        connected,
        "host {i}: connected count drifted"
    );
    for (id, p) in host.peers() {
        assert_ne!(
            p.state(),
            PeerState::Disconnected,
            "host {i}: {id} listed but free"
        );
        assert!(p.channel_count() <= 255);
        assert!((576..=4096).contains(&p.mtu()));
        assert!(p.packet_throttle() <= 32);
    }
    // Half-open handshakes have slots of their own beyond the connection limit.
    assert!(host.peers().count() <= host.peer_limit() + host.half_open_peers());
}

/// Checks event order per slot: Receives only inside Connect..Disconnect; reliable messages of
/// one connection and channel arrive in increasing order.
fn check_events(
    sim: &mut Sim,
    i: usize,
    open: &mut Open,
    last_reliable: &mut HashMap<(usize, u16, u8, u32), u32>,
    generation: &mut HashMap<(usize, u16), u32>,
) {
    for (_, e) in sim.take_events(i) {
        match e {
            Event::Connect { peer, .. } => {
                let was = open.insert((i, peer.0), true).unwrap_or(false);
                assert!(
                    !was,
                    "host {i}: second Connect for {peer} without Disconnect"
                );
                *generation.entry((i, peer.0)).or_default() += 1;
            }
            Event::Disconnect { peer, .. } => {
                open.insert((i, peer.0), false);
            }
            Event::Receive {
                peer,
                channel,
                packet,
            } => {
                assert!(
                    open.get(&(i, peer.0)).copied().unwrap_or(false),
                    "host {i}: Receive for {peer} outside a connection"
                );
                if packet.flags.contains(PacketFlags::RELIABLE) && packet.data.len() >= 8 {
                    let d = &packet.data;
                    let n = u32::from_be_bytes([d[4], d[5], d[6], d[7]]);
                    let g = generation[&(i, peer.0)];
                    let key = (i, peer.0, channel, g);
                    if let Some(&prev) = last_reliable.get(&key) {
                        assert!(
                            n > prev,
                            "host {i}: reliable {n} after {prev} on {peer}/{channel}"
                        );
                    }
                    last_reliable.insert(key, n);
                }
            }
        }
    }
}

fn run_chaos(seed: u64) {
    let mut sim = Sim::new(seed);
    let mut rng = Rng::new(seed ^ 0xC0FFEE);
    let hosts: Vec<usize> = (0..4)
        .map(|i| sim.add_host(server_config(if i == 0 { 6 } else { 3 }, seed * 10 + i)))
        .collect();
    for &a in &hosts {
        for &b in &hosts {
            if a != b {
                *sim.link(a, b) = Link::lossy(0.05, 0.05, 0.1);
            }
        }
    }
    let mut open = Open::new();
    let mut last_reliable = HashMap::new();
    let mut generation = HashMap::new();
    // Sender-side counters so reliable payloads carry increasing numbers per sender slot.
    let mut counters: HashMap<(usize, u16), u32> = HashMap::new();
    for _ in 0..3_000 {
        // Slots dropped without a local event (disconnect_now, reset_peer).
        let mut silent_close: Option<(usize, u16)> = None;
        let h = hosts[rng.below(4) as usize];
        let peers: Vec<PeerId> = sim.nodes[h].host.peers().map(|(id, _)| id).collect();
        let target = peers
            .get(rng.below(peers.len() as u32 + 1) as usize)
            .copied();
        match (rng.below(100), target) {
            (0..=2, _) => {
                let other = hosts[rng.below(4) as usize];
                if other != h {
                    let to = sim.nodes[other].addr;
                    let now = sim.time();
                    let _ = sim.nodes[h].host.connect(
                        now,
                        to,
                        1 + rng.below(4) as usize,
                        rng.below(1000),
                    );
                }
            }
            (3..=79, Some(p)) => {
                let n = counters.entry((h, p.0)).or_default();
                *n += 1;
                let mut data = vec![0u8; 8 + rng.below(200) as usize];
                data[..4].copy_from_slice(&(h as u32 ^ (u32::from(p.0) << 8)).to_be_bytes());
                data[4..8].copy_from_slice(&n.to_be_bytes());
                if rng.chance(0.05) {
                    data.resize(rng.below(20_000) as usize + 8, 1);
                }
                let flags = [
                    PacketFlags::RELIABLE,
                    PacketFlags::NONE,
                    PacketFlags::UNSEQUENCED,
                    PacketFlags::UNRELIABLE_FRAGMENT,
                ][rng.below(4) as usize];
                let channel = rng.below(4) as u8;
                let _ = sim.nodes[h]
                    .host
                    .send(p, channel, Packet::new(Bytes::from(data), flags));
            }
            (80..=81, Some(p)) => sim.nodes[h].host.disconnect(p, rng.below(10)),
            (82, Some(p)) => sim.nodes[h].host.disconnect_later(p, rng.below(10)),
            (83, Some(p)) => {
                sim.nodes[h].host.disconnect_now(p, rng.below(10));
                silent_close = Some((h, p.0));
            }
            (84, Some(p)) => {
                sim.nodes[h].host.reset_peer(p);
                silent_close = Some((h, p.0));
            }
            (85, Some(p)) => sim.nodes[h].host.ping(p),
            (86, Some(p)) => sim.nodes[h].host.set_timeout(p, 8, 1_000, 4_000),
            (87, Some(p)) => {
                sim.nodes[h]
                    .host
                    .throttle_configure(p, 1_000 + rng.below(5_000), 2, 2)
            }
            (88, _) => sim.nodes[h]
                .host
                .set_bandwidth_limit(rng.below(200_000), rng.below(200_000)),
            (89, _) => {
                let other = hosts[rng.below(4) as usize];
                if other != h {
                    let down = rng.chance(0.2);
                    sim.link(h, other).down = down;
                }
            }
            _ => {}
        }
        // Events from before the call were checked in the previous round.
        if let Some(slot) = silent_close {
            open.insert(slot, false);
        }
        sim.flush();
        let ms = rng.below(40);
        for _ in 0..=ms / 10 {
            sim.step(10);
        }
        for &i in &hosts {
            check_host_invariants(&sim, i);
            check_events(&mut sim, i, &mut open, &mut last_reliable, &mut generation);
        }
    }
    // Let everything settle: links up, all connections closed or timed out eventually.
    for &a in &hosts {
        for &b in &hosts {
            if a != b {
                sim.link(a, b).down = false;
            }
        }
    }
    for &h in &hosts {
        let peers: Vec<PeerId> = sim.nodes[h].host.peers().map(|(id, _)| id).collect();
        for p in peers {
            sim.nodes[h].host.disconnect(p, 0);
        }
    }
    sim.flush();
    sim.run_for(70_000);
    for &i in &hosts {
        check_events(&mut sim, i, &mut open, &mut last_reliable, &mut generation);
        assert_eq!(
            sim.nodes[i].host.peers().count(),
            0,
            "host {i} still has peers"
        );
        assert_eq!(sim.nodes[i].host.connected_peers(), 0);
    }
    assert!(open.values().all(|o| !o), "a Connect without a Disconnect");
}

#[test]
fn random_api_calls_over_a_hostile_network_keep_every_invariant() {
    for seed in 1..=20 {
        run_chaos(seed);
    }
}
