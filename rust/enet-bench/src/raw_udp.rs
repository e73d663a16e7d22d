//! The physical ceiling, measured without ENet: 64-byte UDP datagrams over loopback with one
//! `send_to`/`recv_from` system call per datagram (std). The batched figure (`sendmmsg` and
//! `recvmmsg`, 64 per call) comes from the C program's `udp-sink`/`udp-source` roles, because
//! std has no batched calls and this workspace allows no `unsafe` and no `libc` outside Godot.

use std::io::{self, Write};
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use crate::sys::cpu_ns;

/// Datagram payload size of the ceiling measurement.
pub const UDP_SIZE: usize = 64;

pub fn udp_sink(secs: f64) -> io::Result<()> {
    let socket = UdpSocket::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))?;
    println!("PORT {}", socket.local_addr()?.port());
    io::stdout().flush()?;
    socket.set_read_timeout(Some(Duration::from_millis(100)))?;
    let window = Duration::from_secs_f64(secs);
    let hard = Instant::now() + window + Duration::from_secs(20);
    let mut buf = [0u8; 2048];
    let mut start: Option<(Instant, u64)> = None;
    let mut count = 0u64;
    while Instant::now() < hard {
        if start.is_some_and(|(t, _)| t.elapsed() >= window) {
            break;
        }
        match socket.recv_from(&mut buf) {
            Ok(_) if start.is_none() => start = Some((Instant::now(), cpu_ns())),
            Ok(_) => count += 1,
            Err(err)
                if matches!(
                    err.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(err) => return Err(err),
        }
    }
    let (wall, cpu) = start.map_or((0, 0), |(t, c)| {
        (t.elapsed().as_micros() as i64, cpu_ns() - c)
    });
    println!("RESULT datagrams={count} wall_us={wall} cpu_ns={cpu}");
    Ok(())
}

pub fn udp_source(port: u16, secs: f64) -> io::Result<()> {
    let socket = UdpSocket::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))?;
    socket.connect(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))?;
    let payload = [0u8; UDP_SIZE];
    // The sink's window starts at its first datagram: send a little longer than it measures.
    let end = Instant::now() + Duration::from_secs_f64(secs) + Duration::from_millis(300);
    let mut sent = 0u64;
    while Instant::now() < end {
        for _ in 0..64 {
            // Loopback drops on a full receive buffer instead of failing the send; ENOBUFS and
            // similar transient errors are counted as not sent.
            if socket.send(&payload).is_ok() {
                sent += 1;
            }
        }
    }
    println!("RESULT sent={sent}");
    Ok(())
}
