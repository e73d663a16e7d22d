//! Heap allocations on the hot path: once a connection is warm, moving a packet through
//! `send` → `poll_transmit` → `handle_datagram` → `poll_event` costs at most the allocation of the
//! received payload. Counted with dhat's testing allocator (this file holds one test, so nothing
//! else allocates while it counts).

mod direct;

use bytes::Bytes;
use direct::{SERVER, pump};
use rust_enet_proto::{EnetTime, Host, HostConfig, Packet, host::MINIMUM_TRANSMIT_BUFFER};

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

#[test]
fn warm_traffic_allocates_at_most_the_received_payloads() {
    let _profiler = dhat::Profiler::builder().testing().build();
    let mut client = Host::new(HostConfig {
        seed: 1,
        ..HostConfig::default()
    })
    .unwrap();
    let mut server = Host::new(HostConfig {
        seed: 2,
        ..HostConfig::default()
    })
    .unwrap();
    let mut buf = vec![0u8; MINIMUM_TRANSMIT_BUFFER];
    let mut now = EnetTime(1_000_000);
    let to_server = client.connect(now, SERVER, 4, 0).unwrap();
    pump(&mut client, &mut server, now, &mut buf);
    let to_client = server
        .peers()
        .next()
        .map(|(id, _)| id)
        .expect("server peer");

    const ROUNDS: usize = 400;
    const PER_ROUND: usize = 24;
    // Every packet the test will send exists before counting starts: creating them is the
    // application's allocation, not the protocol's.
    let payload = Bytes::from_static(&[0x5A; 100]);
    let make = |i: usize| match i % 3 {
        0 => Packet::reliable(payload.clone()),
        1 => Packet::unreliable(payload.clone()),
        _ => Packet::unsequenced(payload.clone()),
    };
    let mut batches: Vec<Vec<(bool, u8, Packet)>> = (0..ROUNDS + 50)
        .map(|r| {
            (0..PER_ROUND)
                .map(|i| (i % 2 == 0, (i % 4) as u8, make(r + i)))
                .collect()
        })
        .collect();

    let mut run_round = |client: &mut Host, server: &mut Host, now: EnetTime, batch| {
        for (upstream, channel, packet) in batch {
            if upstream {
                client.send(to_server, channel, packet).unwrap();
            } else {
                server.send(to_client, channel, packet).unwrap();
            }
        }
        client.handle_timeout(now);
        server.handle_timeout(now);
        pump(client, server, now, &mut buf)
    };
    // Warm-up: queues and reassembly structures reach their working size.
    for batch in batches.drain(..50) {
        now = now.add_millis(1);
        run_round(&mut client, &mut server, now, batch);
    }

    let before = dhat::HeapStats::get().total_blocks;
    let mut received = 0;
    for batch in batches.drain(..) {
        now = now.add_millis(1);
        received += run_round(&mut client, &mut server, now, batch);
    }
    let allocations = dhat::HeapStats::get().total_blocks - before;

    assert_eq!(
        received,
        ROUNDS * PER_ROUND,
        "every packet arrives on a perfect link"
    );
    assert!(
        allocations <= received as u64 + 16,
        "{allocations} allocations for {received} packets: the hot path allocates beyond payloads"
    );
}
