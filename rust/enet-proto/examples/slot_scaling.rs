//! Does servicing a host cost more when it has more allocated slots? Runs the same traffic (one
//! connected client streaming small unreliable and reliable packets, with the clock advancing and
//! timers running) against servers with 32, 1024 and 4095 slots, and prints the time per round.
//! The protocol core keeps active-peer sets and a timer heap, so the figures should be flat.
//!
//! `cargo run --release -p rust_enet_proto --example slot_scaling`

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Instant;

use bytes::Bytes;
use rust_enet_proto::{EnetTime, Event, Host, HostConfig, Packet, host::MINIMUM_TRANSMIT_BUFFER};

const CLIENT: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 1000);
const SERVER: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)), 2000);
const ROUNDS: u32 = 200_000;

fn pump(client: &mut Host, server: &mut Host, now: EnetTime, buf: &mut [u8]) {
    loop {
        let mut moved = false;
        while let Some(t) = client.poll_transmit(now, buf) {
            server.handle_datagram(now, CLIENT, &buf[..t.len]);
            moved = true;
        }
        while let Some(t) = server.poll_transmit(now, buf) {
            client.handle_datagram(now, SERVER, &buf[..t.len]);
            moved = true;
        }
        while client.poll_event().is_some() {}
        while let Some(event) = server.poll_event() {
            std::hint::black_box(matches!(event, Event::Receive { .. }));
        }
        if !moved {
            return;
        }
    }
}

fn nanos_per_round(slots: usize) -> f64 {
    let mut client = Host::new(HostConfig {
        seed: 1,
        ..HostConfig::default()
    })
    .expect("client");
    let config = HostConfig {
        peer_limit: slots,
        seed: 2,
        ..HostConfig::default()
    };
    let mut server = Host::new(config).expect("server");
    let mut buf = vec![0u8; MINIMUM_TRANSMIT_BUFFER];
    let mut now = EnetTime(1_000_000);
    let peer = client.connect(now, SERVER, 2, 0).expect("connect");
    pump(&mut client, &mut server, now, &mut buf);
    let payload = Bytes::from_static(&[7; 64]);
    let start = Instant::now();
    for round in 0..ROUNDS {
        let packet = if round % 8 == 0 {
            Packet::reliable(payload.clone())
        } else {
            Packet::unreliable(payload.clone())
        };
        client.send(peer, 0, packet).expect("send");
        if round % 16 == 0 {
            now = now.add_millis(1);
            client.handle_timeout(now);
            server.handle_timeout(now);
        }
        pump(&mut client, &mut server, now, &mut buf);
    }
    start.elapsed().as_nanos() as f64 / f64::from(ROUNDS)
}

fn main() {
    println!("server slots   ns per round (send + datagram both ways + events + timers)");
    let base = nanos_per_round(32);
    for slots in [32, 1024, 4095] {
        let ns = nanos_per_round(slots);
        println!(
            "{slots:>12}   {ns:>8.0}   ({:.2}x the 32-slot host)",
            ns / base
        );
    }
}
