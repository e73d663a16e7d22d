//! Two hosts wired straight to each other, without the simulated network of `sim`: every
//! datagram arrives at once and none is lost. For the allocation test (`alloc.rs`) and the
//! slot-scaling example (`examples/slot_scaling.rs`, which includes this file by path); it
//! allocates nothing itself.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use rust_enet_proto::{EnetTime, Event, Host};

/// The client's address, as the server sees it.
pub const CLIENT: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 1000);
/// The server's address, where the client connects to.
pub const SERVER: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)), 2000);

/// Moves datagrams both ways until neither host has anything to send, draining both hosts'
/// events; returns the number of application packets received (on either side).
pub fn pump(client: &mut Host, server: &mut Host, now: EnetTime, buf: &mut [u8]) -> usize {
    let mut received = 0;
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
        for host in [&mut *client, &mut *server] {
            while let Some(event) = host.poll_event() {
                if matches!(event, Event::Receive { .. }) {
                    received += 1;
                }
            }
        }
        if !moved {
            return received;
        }
    }
}
