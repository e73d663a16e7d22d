//! Does servicing a host cost more when it has more allocated slots? Runs the same traffic (one
//! connected client streaming small unreliable and reliable packets, with the clock advancing and
//! timers running) against servers with 32, 1024 and 4095 slots, and prints the time per round.
//! The protocol core keeps active-peer sets and a timer heap, so the figures should be flat.
//!
//! `cargo run --release -p rust_enet_proto --example slot_scaling`

#[path = "../tests/direct/mod.rs"]
mod direct;

use std::time::Instant;

use bytes::Bytes;
use direct::{SERVER, pump};
use rust_enet_proto::{EnetTime, Host, HostConfig, Packet, host::MINIMUM_TRANSMIT_BUFFER};

const ROUNDS: u32 = 200_000;

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
        std::hint::black_box(pump(&mut client, &mut server, now, &mut buf));
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
