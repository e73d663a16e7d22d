//! The streaming roles: reliable throughput (scenarios 1 and 1b) and the unsequenced flood of
//! the ceiling. One client feeds its connection as fast as its [`Feed`] allows; the server
//! counts what arrives over a window that starts with the first message.

use std::time::{Duration, Instant};

use rust_enet_net::UdpHost;
use rust_enet_proto::{Event, Packet, PacketFlags, PeerId};

use super::{
    CHANNEL_RELIABLE, CHANNEL_UNRELIABLE, FLOOD_BATCH, FLOOD_MESSAGE, GRACE, Result, TPUT_MESSAGE,
    WAIT, disconnect_all_now, server_host, service_drain, single_client, us_since,
};
use crate::sys::{cpu_ns, vm_hwm_kib};

/// What a receiving server (throughput, flood) measured: the messages after the first one and
/// their bytes, over its window's wall and CPU time (all 0 if nothing arrived).
struct Window {
    bytes: u64,
    messages: u64,
    wall: i64,
    cpu: u64,
}

/// The receiving server of the throughput and flood scenarios: its window starts with the first
/// message and lasts `secs`, or ends when the sender leaves; then every connection is ended.
fn receive_window(secs: f64) -> Result<Window> {
    let mut host = server_host(4)?;
    let window = Duration::from_secs_f64(secs);
    let hard = Instant::now() + window + GRACE;
    let mut start: Option<(Instant, u64)> = None;
    let (mut bytes, mut messages) = (0u64, 0u64);
    let mut done = false;
    while !done && Instant::now() < hard {
        if start.is_some_and(|(t, _)| t.elapsed() >= window) {
            break;
        }
        service_drain(&mut host, WAIT, |_, event| match event {
            Event::Receive { packet, .. } => {
                if start.is_none() {
                    start = Some((Instant::now(), cpu_ns()));
                } else {
                    bytes += packet.len() as u64;
                    messages += 1;
                }
            }
            Event::Disconnect { .. } if start.is_some() => done = true,
            _ => {}
        })?;
    }
    let (wall, cpu) = start.map_or((0, 0), |(t, c)| (us_since(t), cpu_ns() - c));
    disconnect_all_now(&mut host)?;
    Ok(Window {
        bytes,
        messages,
        wall,
        cpu,
    })
}

/// How a streaming client (throughput, flood) feeds its connection: copies of `payload` sent
/// with `flags` on `channel`, at most `batch` per pass and while fewer than `backlog` are queued
/// or unacknowledged; each pass then services with `wait`.
struct Feed {
    payload: Vec<u8>,
    flags: PacketFlags,
    channel: u8,
    batch: usize,
    backlog: Option<usize>,
    wait: Duration,
}

impl Feed {
    /// Queues this pass's messages; returns how many.
    fn top_up(&self, host: &mut UdpHost, peer: PeerId) -> u64 {
        let mut sent = 0;
        for _ in 0..self.batch {
            if let Some(backlog) = self.backlog {
                let queued = host.host().peer(peer).map_or(usize::MAX, |p| {
                    p.queued_commands() + p.unacknowledged_commands()
                });
                if queued >= backlog {
                    break;
                }
            }
            // A fresh packet per message, as an application hands over new data each time.
            let packet = Packet::new(self.payload.clone(), self.flags);
            if host.host_mut().send(peer, self.channel, packet).is_err() {
                break;
            }
            sent += 1;
        }
        sent
    }
}

/// The sending client of the throughput and flood scenarios: feeds the server on `port` as
/// `feed` says once connected (before, it services with a 1 ms wait), until the server leaves
/// or the deadline.
fn stream_client(port: u16, secs: f64, feed: Feed) -> Result {
    let (mut host, peer) = single_client(port)?;
    let hard = Instant::now() + Duration::from_secs_f64(secs) + GRACE;
    let (mut connected, mut done, mut sent) = (false, false, 0u64);
    while !done && Instant::now() < hard {
        if connected {
            sent += feed.top_up(&mut host, peer);
        }
        let wait = if connected { feed.wait } else { WAIT };
        service_drain(&mut host, wait, |_, event| match event {
            Event::Connect { .. } => connected = true,
            Event::Disconnect { .. } => done = true,
            Event::Receive { .. } => {}
        })?;
    }
    println!("RESULT sent={sent} hwm_kib={}", vm_hwm_kib());
    Ok(())
}

// ---- 1. reliable throughput ------------------------------------------------------------------

pub fn tput_server(secs: f64) -> Result {
    let Window {
        bytes,
        messages,
        wall,
        cpu,
    } = receive_window(secs)?;
    println!(
        "RESULT bytes={bytes} messages={messages} wall_us={wall} cpu_ns={cpu} hwm_kib={}",
        vm_hwm_kib()
    );
    Ok(())
}

pub fn tput_client(port: u16, secs: f64, backlog: usize) -> Result {
    let feed = Feed {
        payload: vec![0xA5u8; TPUT_MESSAGE],
        flags: PacketFlags::RELIABLE,
        channel: CHANNEL_RELIABLE,
        batch: usize::MAX,
        backlog: Some(backlog),
        wait: WAIT,
    };
    stream_client(port, secs, feed)
}

// ---- unreliable packet rate (for the raw-UDP ceiling) ------------------------------------------
// Unsequenced messages: see the C side for why a sequenced flood measures loss recovery instead.

pub fn flood_server(secs: f64) -> Result {
    let Window {
        messages,
        wall,
        cpu,
        ..
    } = receive_window(secs)?;
    println!(
        "RESULT messages={messages} wall_us={wall} cpu_ns={cpu} hwm_kib={}",
        vm_hwm_kib()
    );
    Ok(())
}

pub fn flood_client(port: u16, secs: f64) -> Result {
    let feed = Feed {
        payload: vec![0x3Cu8; FLOOD_MESSAGE],
        flags: PacketFlags::UNSEQUENCED,
        channel: CHANNEL_UNRELIABLE,
        batch: FLOOD_BATCH,
        backlog: None,
        wait: Duration::ZERO,
    };
    stream_client(port, secs, feed)
}
