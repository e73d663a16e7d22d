//! Frame-driven draining for engine adapters that send once per frame.
//!
//! A game engine's multiplayer peer (Godot's `MultiplayerPeer`) is polled once per frame, hands
//! the received packets to the game, and the game answers within the same frame. With
//! [`UdpHost::service`] followed by [`UdpHost::check_events`] until `None`, the
//! acknowledgements of what `service` received leave as soon as the queue is drained, before the
//! game has answered, and the answers need a second datagram per peer. The adapter instead
//! drains with [`UdpHost::poll_queued_event`], which never sends, asks
//! [`UdpHost::has_deferred_send`] whether acknowledgements are waiting, and calls
//! [`UdpHost::flush`] once at the end of the frame: acknowledgements and answers share one
//! datagram per peer.

use rust_enet_proto::Event;

use crate::UdpHost;

impl UdpHost {
    /// The next queued event, without reading the socket and without sending.
    ///
    /// Unlike [`check_events`](Self::check_events), an empty queue does not send the
    /// acknowledgements [`service`](Self::service) put off: they stay queued (see
    /// [`has_deferred_send`](Self::has_deferred_send)) until the next `service`, `check_events`
    /// or [`flush`](Self::flush). The caller must make sure one of those follows soon (within
    /// the frame), or the remote retransmits.
    pub fn poll_queued_event(&mut self) -> Option<Event> {
        self.take_event()
    }

    /// Whether [`service`](Self::service) put off a send (the acknowledgements of the events it
    /// returned) that no `service`, `check_events` or [`flush`](Self::flush) has done yet.
    pub fn has_deferred_send(&self) -> bool {
        self.send_deferred
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};
    use std::time::Duration;

    use rust_enet_proto::{HostConfig, Packet};

    use crate::udp_host::tests::next_event_of;
    use crate::{BindAddress, UdpHost};

    use super::*;

    #[test]
    fn drained_events_leave_acknowledgements_for_the_frame_flush() {
        let loopback = BindAddress::Ip(IpAddr::V4(Ipv4Addr::LOCALHOST));
        let mut server = UdpHost::bind(loopback, 0, HostConfig::default()).unwrap();
        let mut client = UdpHost::bind(loopback, 0, HostConfig::default()).unwrap();
        let to_server = client.connect(server.local_addr(), 2, 0).unwrap();
        assert!(matches!(
            next_event_of(&mut client, &mut server),
            Event::Connect { .. }
        ));
        assert!(matches!(
            next_event_of(&mut server, &mut client),
            Event::Connect { .. }
        ));
        // Let the first pings and their acknowledgements cross before counting datagrams.
        for _ in 0..20 {
            assert!(client.service(Duration::from_millis(1)).unwrap().is_none());
            assert!(server.service(Duration::from_millis(1)).unwrap().is_none());
        }
        for text in [&b"one"[..], b"two", b"three"] {
            client
                .host_mut()
                .send(to_server, 0, Packet::reliable(text))
                .unwrap();
        }
        client.flush().unwrap();
        let sent_before = server.driver_statistics().datagrams_sent;
        let Event::Receive { peer, packet, .. } = next_event_of(&mut server, &mut client) else {
            panic!("expected the first packet");
        };
        assert_eq!(&packet.data[..], b"one");
        assert!(server.has_deferred_send());
        // The rest of the frame's events come without a send, also once the queue is empty.
        let mut rest = Vec::new();
        while let Some(event) = server.poll_queued_event() {
            let Event::Receive { packet, .. } = event else {
                panic!("expected packets only");
            };
            rest.push(packet.data);
        }
        assert_eq!(rest, [&b"two"[..], b"three"]);
        assert!(server.poll_queued_event().is_none());
        assert!(server.has_deferred_send());
        assert_eq!(server.driver_statistics().datagrams_sent, sent_before);
        // The game answers; the frame's flush sends the answer and the acknowledgements together.
        server
            .host_mut()
            .send(peer, 0, Packet::reliable(&b"answer"[..]))
            .unwrap();
        server.flush().unwrap();
        assert!(!server.has_deferred_send());
        assert_eq!(server.driver_statistics().datagrams_sent, sent_before + 1);
        let Event::Receive { packet, .. } = next_event_of(&mut client, &mut server) else {
            panic!("expected the answer");
        };
        assert_eq!(&packet.data[..], b"answer");
        // The datagram that brought the answer acknowledged all three packets.
        let peer = client.host().peer(to_server).unwrap();
        assert_eq!(peer.unacknowledged_commands(), 0);
    }
}
