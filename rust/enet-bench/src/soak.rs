//! The soak run: a rust_enet server and `clients` rust_enet clients in one process, every
//! client's link losing 5 % and reordering 5 % of its datagrams both ways (10 ms latency,
//! 5 ms jitter, the driver's link simulator), for `secs` seconds of mixed traffic: per client
//! and 50 ms tick one numbered reliable message, which the server echoes, and two unreliable
//! ones. Checks what a long session must keep: every reliable message echoed exactly once and
//! in order (nothing lost), and the process's memory flat after warm-up.
//!
//! `rust-enet-bench soak SECS CLIENTS` prints progress lines and one `RESULT` line.

use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use rust_enet_net::{BindAddress, LinkConditions, LinkDirection, UdpHost};
use rust_enet_proto::{Event, HostConfig, Packet, PeerId};

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const TICK: Duration = Duration::from_millis(50);
const CHANNEL_RELIABLE: u8 = 1;
const CHANNEL_UNRELIABLE: u8 = 0;

fn rss_kib() -> u64 {
    crate::sys::status_kib("self", "VmRSS")
}

struct Client {
    host: UdpHost,
    peer: PeerId,
    next_send: u32,
    next_echo: u32,
    out_of_order: u64,
}

pub fn soak(secs: f64, clients: usize) -> io::Result<()> {
    let mut server = UdpHost::bind(
        BindAddress::Ip(LOOPBACK),
        0,
        HostConfig {
            peer_limit: clients + 8,
            ..HostConfig::default()
        },
    )?;
    let port = server.local_addr().port();
    let lossy = LinkConditions {
        latency_ms: 10,
        jitter_ms: 5,
        loss_percent: 5.0,
        reorder_percent: 5.0,
        ..LinkConditions::PERFECT
    };
    let mut all = Vec::with_capacity(clients);
    for i in 0..clients {
        let mut host = UdpHost::bind(BindAddress::Ip(LOOPBACK), 0, HostConfig::default())?;
        host.set_link_conditions(LinkDirection::Both, lossy);
        host.set_link_seed(0x50A4 + i as u64);
        let peer = host
            .connect(SocketAddr::new(LOOPBACK, port), 2, i as u32)
            .map_err(io::Error::other)?;
        all.push(Client {
            host,
            peer,
            next_send: 0,
            next_echo: 0,
            out_of_order: 0,
        });
    }
    let mut connected = 0usize;
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(secs);
    let warm_up = start + Duration::from_secs_f64((secs * 0.1).max(10.0));
    let (mut rss_warm, mut rss_max) = (0u64, 0u64);
    let mut next_tick = Instant::now();
    let mut next_report = start + Duration::from_secs(10);
    let drain_until = end + Duration::from_secs(20);
    let mut disconnects = 0usize;
    loop {
        let now = Instant::now();
        let sending = now < end;
        if !sending && (now >= drain_until || all.iter().all(|c| c.next_echo == c.next_send)) {
            break;
        }
        if sending && now >= next_tick {
            next_tick += TICK;
            for c in &mut all {
                if c.host
                    .host()
                    .peer(c.peer)
                    .is_some_and(|p| p.state().is_connected())
                {
                    let mut msg = vec![0u8; 96];
                    msg[..4].copy_from_slice(&c.next_send.to_be_bytes());
                    if c.host
                        .host_mut()
                        .send(c.peer, CHANNEL_RELIABLE, Packet::reliable(msg))
                        .is_ok()
                    {
                        c.next_send += 1;
                    }
                    for _ in 0..2 {
                        let _ = c.host.host_mut().send(
                            c.peer,
                            CHANNEL_UNRELIABLE,
                            Packet::unreliable(vec![7u8; 48]),
                        );
                    }
                }
            }
        }
        while let Some(event) = server.service(Duration::ZERO)? {
            match event {
                Event::Receive {
                    peer,
                    channel,
                    packet,
                } if channel == CHANNEL_RELIABLE => {
                    let _ = server.host_mut().send(peer, channel, packet);
                }
                Event::Connect { .. } => connected += 1,
                Event::Disconnect { .. } => disconnects += 1,
                _ => {}
            }
        }
        for c in &mut all {
            while let Some(event) = c.host.service(Duration::ZERO)? {
                match event {
                    Event::Receive { packet, .. } if packet.data.len() >= 4 => {
                        let seq = u32::from_be_bytes([
                            packet.data[0],
                            packet.data[1],
                            packet.data[2],
                            packet.data[3],
                        ]);
                        if seq == c.next_echo {
                            c.next_echo += 1;
                        } else {
                            c.out_of_order += 1;
                        }
                    }
                    Event::Disconnect { .. } => disconnects += 1,
                    _ => {}
                }
            }
        }
        if now >= warm_up {
            let rss = rss_kib();
            if rss_warm == 0 {
                rss_warm = rss;
            }
            rss_max = rss_max.max(rss);
        }
        if now >= next_report {
            next_report += Duration::from_secs(10);
            let sent: u64 = all.iter().map(|c| u64::from(c.next_send)).sum();
            let echoed: u64 = all.iter().map(|c| u64::from(c.next_echo)).sum();
            println!(
                "soak: {:>4.0} s, {connected} connected, {sent} reliable sent, {echoed} echoed in order, RSS {} KiB",
                start.elapsed().as_secs_f64(),
                rss_kib()
            );
            io::stdout().flush()?;
        }
        std::thread::sleep(Duration::from_micros(500));
    }
    let sent: u64 = all.iter().map(|c| u64::from(c.next_send)).sum();
    let echoed: u64 = all.iter().map(|c| u64::from(c.next_echo)).sum();
    let out_of_order: u64 = all.iter().map(|c| c.out_of_order).sum();
    let growth = if rss_warm > 0 {
        (rss_max as f64 / rss_warm as f64 - 1.0) * 100.0
    } else {
        0.0
    };
    println!(
        "RESULT seconds={secs} clients={clients} connected={connected} disconnects={disconnects} \
         reliable_sent={sent} echoed_in_order={echoed} lost={} out_of_order={out_of_order} \
         rss_after_warmup_kib={rss_warm} rss_max_kib={rss_max} rss_growth_percent={growth:.2}",
        sent - echoed
    );
    Ok(())
}
