//! rust_enet against the C library (Debian libenet 1.3.17) over loopback, both directions:
//! our client with a C server and a C client with our server, every delivery kind on several
//! channels, fragments, disconnects with data, checksums and the range coder.

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use rust_enet_interop::{CEvent, CPeer, fnv1a64, pattern};
use rust_enet_net::{BindAddress, UdpHost};
use rust_enet_proto::compress::RangeCoder;
use rust_enet_proto::peer::PEER_PACKET_THROTTLE_SCALE;
use rust_enet_proto::{DisconnectReason, Event, HostConfig, Packet, PacketFlags, PeerId};

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const CHANNELS: usize = 4;
const CONNECT_DATA: u32 = 0x1234_5678;
const STEP: Duration = Duration::from_millis(1);
const WAIT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// Our host connects to a C server.
    RustClient,
    /// A C client connects to our host.
    RustServer,
}

#[derive(Debug, Clone, Copy, Default)]
struct Options {
    checksum: bool,
    range_coder: bool,
    wildcard: bool,
}

/// One connection between our host and a C host, both being serviced.
struct Session {
    ours: UdpHost,
    c: CPeer,
    our_peer: PeerId,
    c_peer: u32,
    our_events: VecDeque<Event>,
}

fn config(options: Options) -> HostConfig {
    HostConfig {
        peer_limit: 4,
        channel_limit: CHANNELS,
        checksum: options.checksum,
        compressor: options.range_coder.then(|| {
            Box::new(RangeCoder::new()) as Box<dyn rust_enet_proto::compress::Compressor + Send>
        }),
        ..HostConfig::default()
    }
}

impl Session {
    fn open(role: Role, options: Options) -> Session {
        let mut c = CPeer::spawn().expect("spawn the C peer");
        if options.checksum {
            c.command("checksum on").unwrap();
        }
        if options.range_coder {
            c.command("compress range").unwrap();
        }
        let bind = if options.wildcard {
            BindAddress::Wildcard
        } else {
            BindAddress::Ip(LOOPBACK)
        };
        let ours = UdpHost::bind(bind, 0, config(options)).expect("bind our host");
        let mut session = Session {
            ours,
            c,
            our_peer: PeerId(0),
            c_peer: 0,
            our_events: VecDeque::new(),
        };
        match role {
            Role::RustClient => {
                let port = session.c.server(0, 4, CHANNELS).unwrap();
                session.c.auto_service(true).unwrap();
                session.our_peer = session
                    .ours
                    .connect(SocketAddr::new(LOOPBACK, port), CHANNELS, CONNECT_DATA)
                    .unwrap();
                let event = session.wait_ours(|e| matches!(e, Event::Connect { .. }));
                assert_eq!(
                    event,
                    Event::Connect {
                        peer: session.our_peer,
                        data: 0
                    }
                );
                let event = session.wait_c(|e| matches!(e, CEvent::Connect { .. }));
                let CEvent::Connect { peer, data } = event else {
                    unreachable!()
                };
                assert_eq!(data, CONNECT_DATA);
                session.c_peer = peer;
            }
            Role::RustServer => {
                let port = session.ours.local_addr().port();
                session.c_peer = session.c.client(port, CHANNELS, CONNECT_DATA).unwrap();
                session.c.auto_service(true).unwrap();
                let event = session.wait_ours(|e| matches!(e, Event::Connect { .. }));
                let Event::Connect { peer, data } = event else {
                    unreachable!()
                };
                assert_eq!(data, CONNECT_DATA);
                session.our_peer = peer;
                let event = session.wait_c(|e| matches!(e, CEvent::Connect { .. }));
                assert_eq!(
                    event,
                    CEvent::Connect {
                        peer: session.c_peer,
                        data: 0
                    }
                );
                let address = session.ours.host().peer(peer).expect("peer slot").address();
                assert_eq!(
                    address.ip(),
                    LOOPBACK,
                    "IPv4-mapped source must be reported as IPv4"
                );
            }
        }
        session
    }

    /// Service our host briefly and queue its events.
    fn pump(&mut self) {
        if let Some(event) = self.ours.service(STEP).expect("service") {
            self.our_events.push_back(event);
        }
        while let Some(event) = self.ours.check_events() {
            self.our_events.push_back(event);
        }
    }

    /// Tries `take`, then pumps our host and tries again, until it finds something or
    /// `timeout` has passed.
    fn pump_until<T>(
        &mut self,
        timeout: Duration,
        mut take: impl FnMut(&mut Self) -> Option<T>,
    ) -> Option<T> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(found) = take(self) {
                return Some(found);
            }
            if Instant::now() >= deadline {
                return None;
            }
            self.pump();
        }
    }

    /// The first of our events matching `pred` (the others stay queued), within `timeout`.
    fn try_wait_ours(
        &mut self,
        timeout: Duration,
        mut pred: impl FnMut(&Event) -> bool,
    ) -> Option<Event> {
        self.pump_until(timeout, |s| {
            let i = s.our_events.iter().position(&mut pred)?;
            s.our_events.remove(i)
        })
    }

    /// The first C event matching `pred` (the others stay queued), within `timeout`.
    fn try_wait_c(
        &mut self,
        timeout: Duration,
        mut pred: impl FnMut(&CEvent) -> bool,
    ) -> Option<CEvent> {
        self.pump_until(timeout, |s| s.c.wait_event(STEP, &mut pred).ok())
    }

    fn wait_ours(&mut self, pred: impl FnMut(&Event) -> bool) -> Event {
        let found = self.try_wait_ours(WAIT, pred);
        found.unwrap_or_else(|| self.stuck("our host"))
    }

    fn wait_c(&mut self, pred: impl FnMut(&CEvent) -> bool) -> CEvent {
        let found = self.try_wait_c(WAIT, pred);
        found.unwrap_or_else(|| self.stuck("C peer"))
    }

    /// Fails the test: `who` did not see the event it waited for.
    fn stuck(&self, who: &str) -> ! {
        panic!(
            "{who}: expected event did not come; our events {:?}; C transcript {:?}; stats {:?}",
            self.our_events,
            self.c.transcript_tail(),
            self.ours.host().statistics()
        )
    }

    fn send_ours(&mut self, channel: u8, packet: Packet) {
        self.ours
            .host_mut()
            .send(self.our_peer, channel, packet)
            .expect("send");
    }

    fn send_c(&mut self, channel: u8, kind: &str, payload: &[u8]) {
        let peer = self.c_peer;
        self.c.send(peer, channel, kind, payload).expect("C send");
    }

    /// Wait until the C peer reports `payload` on `channel` with ENet packet flags `flags`.
    fn expect_c_receives(
        &mut self,
        channel: u8,
        payload: &[u8],
        flags: u32,
        timeout: Duration,
    ) -> bool {
        let hash = fnv1a64(payload);
        let peer = self.c_peer;
        let event = self.try_wait_c(timeout, |e| {
            matches!(e, CEvent::Receive { peer: p, channel: ch, hash: h, len, .. }
                if *p == peer && *ch == channel && *h == hash && *len == payload.len())
        });
        match event {
            Some(CEvent::Receive {
                prefix, flags: got, ..
            }) => {
                assert_eq!(prefix, payload[..payload.len().min(32)]);
                assert_eq!(got, flags, "C-side packet flags");
                true
            }
            _ => false,
        }
    }

    /// Wait until our host delivers `payload` on `channel`; checks the packet's flags.
    fn expect_ours_receives(
        &mut self,
        channel: u8,
        payload: &[u8],
        flags: PacketFlags,
        timeout: Duration,
    ) -> bool {
        let peer = self.our_peer;
        let event = self.try_wait_ours(timeout, |e| {
            matches!(e, Event::Receive { peer: p, channel: ch, packet }
                if *p == peer && *ch == channel && packet.data[..] == *payload)
        });
        match event {
            Some(Event::Receive { packet, .. }) => {
                assert_eq!(packet.flags, flags, "our packet flags");
                true
            }
            _ => false,
        }
    }

    /// Sends `payload` reliably to the C peer on `channel`; it must arrive within `timeout`.
    fn reliable_to_c(&mut self, channel: u8, payload: &[u8], timeout: Duration) {
        self.send_ours(channel, Packet::reliable(payload.to_vec()));
        assert!(
            self.expect_c_receives(channel, payload, 1, timeout),
            "{} bytes reliable to C on channel {channel}",
            payload.len()
        );
    }

    /// The C peer sends `payload` reliably on `channel`; it must reach us within `timeout`.
    fn reliable_to_ours(&mut self, channel: u8, payload: &[u8], timeout: Duration) {
        self.send_c(channel, "reliable", payload);
        assert!(
            self.expect_ours_receives(channel, payload, PacketFlags::RELIABLE, timeout),
            "{} bytes reliable from C on channel {channel}",
            payload.len()
        );
    }

    /// Unreliable kinds can be dropped by the sender's packet throttle even on loopback: each try
    /// waits until our throttle is back at full scale, where it drops nothing. A bulk transfer
    /// just before (`fragments_both_ways`) can leave it near 0, and ENet raises it by a step
    /// per acknowledged ping, about twice a second: 5 tries a second apart were not always
    /// enough.
    fn unreliable_to_c(&mut self, channel: u8, packet: Packet, c_flags: u32) {
        let payload = packet.data.clone();
        for _ in 0..5 {
            let full = self.pump_until(Duration::from_secs(20), |s| {
                let peer = s.ours.host().peer(s.our_peer)?;
                (peer.packet_throttle() >= PEER_PACKET_THROTTLE_SCALE).then_some(())
            });
            assert!(
                full.is_some(),
                "our packet throttle stayed below full scale"
            );
            self.send_ours(channel, packet.clone());
            if self.expect_c_receives(channel, &payload, c_flags, Duration::from_secs(1)) {
                return;
            }
        }
        panic!(
            "unreliable packet on channel {channel} never reached C: {:?}",
            self.c.transcript_tail()
        );
    }

    fn unreliable_to_ours(&mut self, channel: u8, kind: &str, payload: &[u8], flags: PacketFlags) {
        for _ in 0..5 {
            self.send_c(channel, kind, payload);
            if self.expect_ours_receives(channel, payload, flags, Duration::from_secs(1)) {
                return;
            }
        }
        panic!(
            "unreliable packet on channel {channel} never reached us: {:?}",
            self.our_events
        );
    }

    /// Reliable packets on every channel, both ways, checked in order per channel.
    fn reliable_in_order_both_ways(&mut self) {
        let payloads: Vec<(u8, Vec<u8>)> = (0..40u8)
            .map(|i| (i % CHANNELS as u8, pattern(i, 1 + usize::from(i) * 29)))
            .collect();
        for (channel, payload) in &payloads {
            self.send_ours(*channel, Packet::reliable(payload.clone()));
        }
        let peer = self.c_peer;
        for (channel, payload) in &payloads {
            // The next C receive on this channel must be the next payload sent on it.
            let event = self.wait_c(|e| matches!(e, CEvent::Receive { peer: p, channel: ch, .. } if *p == peer && ch == channel));
            let CEvent::Receive {
                hash, len, flags, ..
            } = event
            else {
                unreachable!()
            };
            assert_eq!(
                (len, hash, flags),
                (payload.len(), fnv1a64(payload), 1),
                "channel {channel}"
            );
        }
        for (channel, payload) in &payloads {
            self.send_c(*channel, "reliable", payload);
        }
        let peer = self.our_peer;
        for (channel, payload) in &payloads {
            let event = self.wait_ours(|e| matches!(e, Event::Receive { peer: p, channel: ch, .. } if *p == peer && ch == channel));
            let Event::Receive { packet, .. } = event else {
                unreachable!()
            };
            assert_eq!(packet.data[..], payload[..], "channel {channel}");
            assert_eq!(packet.flags, PacketFlags::RELIABLE);
        }
    }

    /// Reliable packets (in order), unreliable and unsequenced ones on every channel, both ways.
    fn every_delivery_kind(&mut self) {
        self.reliable_in_order_both_ways();
        self.unreliable_and_unsequenced_both_ways();
    }

    fn unreliable_and_unsequenced_both_ways(&mut self) {
        for channel in 0..CHANNELS as u8 {
            let unrel = pattern(100 + channel, 50 + usize::from(channel));
            let unseq = pattern(200 + channel, 70 + usize::from(channel));
            self.unreliable_to_c(channel, Packet::unreliable(unrel.clone()), 0);
            self.unreliable_to_c(channel, Packet::unsequenced(unseq.clone()), 2);
            self.unreliable_to_ours(channel, "unreliable", &unrel, PacketFlags::NONE);
            self.unreliable_to_ours(channel, "unsequenced", &unseq, PacketFlags::UNSEQUENCED);
        }
    }

    fn fragments_both_ways(&mut self) {
        let big = pattern(7, 100 * 1024);
        let medium = pattern(8, 3000);
        self.reliable_to_c(3, &big, WAIT);
        self.unreliable_to_c(
            1,
            Packet::new(medium.clone(), PacketFlags::UNRELIABLE_FRAGMENT),
            8,
        );
        self.reliable_to_ours(2, &big, WAIT);
        self.unreliable_to_ours(
            0,
            "unreliable_fragment",
            &medium,
            PacketFlags::UNRELIABLE_FRAGMENT,
        );
    }

    /// Graceful disconnect started by our side: C sees our data, we see a local disconnect.
    fn disconnect_from_ours(&mut self, data: u32) {
        let (our_peer, c_peer) = (self.our_peer, self.c_peer);
        self.ours.host_mut().disconnect(our_peer, data);
        let event = self.wait_c(|e| matches!(e, CEvent::Disconnect { .. }));
        assert_eq!(event, CEvent::Disconnect { peer: c_peer, data });
        let event = self.wait_ours(|e| matches!(e, Event::Disconnect { .. }));
        let Event::Disconnect { peer, reason, .. } = event else {
            unreachable!()
        };
        assert_eq!((peer, reason), (our_peer, DisconnectReason::Local));
    }

    /// Graceful disconnect started by the C side (`disconnect`, `disconnect_later` or
    /// `disconnect_now`): we see the remote's data.
    fn disconnect_from_c(&mut self, command: &str, data: u32) {
        let (our_peer, c_peer) = (self.our_peer, self.c_peer);
        self.c
            .command(&format!("{command} {c_peer} {data}"))
            .unwrap();
        let event = self.wait_ours(|e| matches!(e, Event::Disconnect { .. }));
        assert_eq!(
            event,
            Event::Disconnect {
                peer: our_peer,
                data,
                reason: DisconnectReason::Remote
            }
        );
        if command != "disconnect_now" {
            let event = self.wait_c(|e| matches!(e, CEvent::Disconnect { .. }));
            assert_eq!(
                event,
                CEvent::Disconnect {
                    peer: c_peer,
                    data: 0
                }
            );
        }
    }
}

/// Runs `f` on a fresh session in each role: our host the client, then the server. The role
/// is printed first, so that a failure names it.
fn in_both_roles(options: Options, f: impl Fn(&mut Session)) {
    for role in [Role::RustClient, Role::RustServer] {
        eprintln!("{role:?}, {options:?}");
        f(&mut Session::open(role, options));
    }
}

/// Without checksums or compression, each on a fresh session in both roles: every delivery
/// kind on every channel, fragments both ways, and a disconnect with data from either side.
#[test]
fn plain_sessions_in_both_roles() {
    let every_kind: fn(&mut Session) = Session::every_delivery_kind;
    for (what, case) in [
        ("every delivery kind", every_kind),
        ("fragments", Session::fragments_both_ways),
        ("our disconnect", |s| s.disconnect_from_ours(0xABCD)),
        ("the C side's disconnect", |s| {
            s.disconnect_from_c("disconnect", 4242)
        }),
    ] {
        eprintln!("{what}:");
        in_both_roles(Options::default(), case);
    }
}

#[test]
fn c_client_disconnect_later_and_now_reach_rust_server() {
    let mut s = Session::open(Role::RustServer, Options::default());
    s.send_c(0, "reliable", b"last words");
    s.disconnect_from_c("disconnect_later", 5);
    assert!(
        s.expect_ours_receives(0, b"last words", PacketFlags::RELIABLE, Duration::ZERO),
        "a packet queued before disconnect_later is delivered before the disconnect"
    );
    let mut s = Session::open(Role::RustServer, Options::default());
    s.disconnect_from_c("disconnect_now", 6);
}

/// Every delivery kind, fragments and a disconnect with data, with checksums, the range coder
/// and both together on both sides.
#[test]
fn checksums_and_range_coder_on_both_sides() {
    for (checksum, range_coder) in [(true, false), (false, true), (true, true)] {
        let options = Options {
            checksum,
            range_coder,
            wildcard: false,
        };
        in_both_roles(options, |s| {
            s.every_delivery_kind();
            s.fragments_both_ways();
            s.disconnect_from_ours(0xABCD);
        });
    }
}

#[test]
fn dual_stack_wildcard_server_reports_ipv4_peers() {
    // Bound to the wildcard (IPv6 with mapped IPv4 where available); the C client speaks IPv4 to
    // 127.0.0.1 and `open` checks the peer address comes out as plain IPv4.
    let mut s = Session::open(
        Role::RustServer,
        Options {
            wildcard: true,
            ..Options::default()
        },
    );
    s.reliable_to_ours(1, b"over the wildcard", WAIT);
    s.disconnect_from_ours(1);
}

#[test]
fn range_coder_shrinks_compressible_traffic_to_c() {
    let mut s = Session::open(
        Role::RustClient,
        Options {
            range_coder: true,
            ..Options::default()
        },
    );
    let zeros = vec![0u8; 64 * 1024];
    let before = s.ours.driver_statistics().bytes_sent;
    s.reliable_to_c(0, &zeros, WAIT);
    let sent = s.ours.driver_statistics().bytes_sent - before;
    assert!(
        sent < 16 * 1024,
        "64 KiB of zeros took {sent} bytes on the wire"
    );
}

#[test]
fn mismatched_checksum_setting_does_not_connect() {
    // A control for the checksum tests: only the C server checksums, so neither side can parse
    // the other and no connection forms.
    let mut c = CPeer::spawn().unwrap();
    c.command("checksum on").unwrap();
    let port = c.server(0, 4, CHANNELS).unwrap();
    c.auto_service(true).unwrap();
    let mut ours = UdpHost::bind(BindAddress::Ip(LOOPBACK), 0, config(Options::default())).unwrap();
    ours.connect(SocketAddr::new(LOOPBACK, port), CHANNELS, 1)
        .unwrap();
    let deadline = Instant::now() + Duration::from_millis(1500);
    while Instant::now() < deadline {
        if let Some(event) = ours.service(Duration::from_millis(10)).unwrap() {
            panic!("unexpected {event:?}");
        }
    }
    assert!(c.drain_events().is_empty(), "{:?}", c.transcript_tail());
}

#[test]
fn reliable_data_survives_a_lossy_link_to_and_from_c() {
    in_both_roles(Options::default(), |s| {
        s.ours.set_link_seed(7);
        s.ours.set_link_conditions(
            rust_enet_net::LinkDirection::Both,
            rust_enet_net::LinkConditions {
                latency_ms: 2,
                jitter_ms: 3,
                loss_percent: 10.0,
                duplicate_percent: 2.0,
                reorder_percent: 5.0,
                bandwidth_bytes_per_sec: 0,
            },
        );
        s.reliable_in_order_both_ways();
        let big = pattern(11, 60 * 1024);
        s.reliable_to_c(1, &big, Duration::from_secs(8));
        s.reliable_to_ours(2, &big, Duration::from_secs(8));
        assert!(
            s.ours
                .link_statistics(rust_enet_net::LinkDirection::Both)
                .lost
                > 0
        );
    });
}

#[test]
fn vanished_c_peer_times_out() {
    let mut s = Session::open(Role::RustClient, Options::default());
    let peer = s.our_peer;
    s.ours.host_mut().set_timeout(peer, 32, 300, 1000);
    // Kill the C process without a word; our pings go unanswered.
    drop(std::mem::replace(&mut s.c, CPeer::spawn().unwrap()));
    let event = s
        .try_wait_ours(Duration::from_secs(5), |e| {
            matches!(e, Event::Disconnect { .. })
        })
        .expect("timeout disconnect");
    assert_eq!(
        event,
        Event::Disconnect {
            peer,
            data: 0,
            reason: DisconnectReason::Timeout
        }
    );
}

/// A CONNECT our server will not take is answered with a DISCONNECT, and C ENet 1.3.17 in
/// CONNECTING state takes it (its outgoing peer id is still 0xFFF, so it skips the session
/// check): a disconnect event within a round trip instead of its 5-30 s connect timeout. With
/// checksums the answer carries the CRC seeded with the client's connect id.
#[test]
fn refused_c_client_gets_a_disconnect_at_once() {
    for checksum in [false, true] {
        let mut ours = UdpHost::bind(
            BindAddress::Ip(LOOPBACK),
            0,
            HostConfig {
                peer_limit: 2,
                checksum,
                ..HostConfig::default()
            },
        )
        .unwrap();
        ours.host_mut()
            .set_connect_filter(Some(Box::new(|_, data| data != 0xBAD)));
        let mut c = CPeer::spawn().expect("spawn the C peer");
        if checksum {
            c.command("checksum on").unwrap();
        }
        let port = ours.local_addr().port();
        let started = Instant::now();
        let c_peer = c.client(port, CHANNELS, 0xBAD).unwrap();
        c.auto_service(true).unwrap();
        let deadline = Instant::now() + WAIT;
        let event = loop {
            assert!(Instant::now() < deadline, "checksum {checksum}: no event");
            let our_event = ours.service(STEP).unwrap();
            assert!(our_event.is_none(), "our server took it: {our_event:?}");
            if let Some(e) = c.next_event(Duration::ZERO) {
                break e;
            }
        };
        let took = started.elapsed();
        assert_eq!(
            event,
            CEvent::Disconnect {
                peer: c_peer,
                data: 0
            },
            "checksum {checksum}"
        );
        // Far below C ENet's connect timeout (at least 5 s): one round trip plus scheduling.
        assert!(
            took < Duration::from_secs(2),
            "checksum {checksum}: {took:?}"
        );
        let stats = ours.host().statistics();
        assert_eq!(stats.refusals_sent, 1, "checksum {checksum}");
        assert_eq!(ours.host().connected_peers(), 0);
    }
}
