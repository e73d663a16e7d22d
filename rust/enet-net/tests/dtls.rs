//! DTLS between `UdpHost`s over loopback: Godot's framing (one record per ENet datagram), the
//! certificate checks of `dtls_client_setup`, and a server that shrugs off plaintext, garbage and
//! handshake floods.
#![cfg(feature = "dtls")]

mod common;

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use openssl::asn1::Asn1Time;
use openssl::bn::BigNum;
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::PKey;
use openssl::x509::extension::SubjectAlternativeName;
use openssl::x509::{X509, X509NameBuilder};
use rust_enet_net::{
    BindAddress, DtlsClientOptions, DtlsClientState, DtlsError, DtlsServerOptions, DtlsSessions,
    LinkConditions, LinkDirection, UdpHost,
};
use rust_enet_proto::{Event, HostConfig, Packet, PeerId};

use common::{
    LOOPBACK, drive, has_connect, host, loopback_address, ping_pong, received, run_for,
    until_connected,
};

/// A self-signed EC P-256 certificate for `name` and its key, both PEM.
struct Identity {
    certificate_pem: String,
    key_pem: String,
}

impl Identity {
    fn server_options(&self) -> DtlsServerOptions {
        DtlsServerOptions::new(self.certificate_pem.clone(), self.key_pem.clone())
    }

    /// A client's options that trust this certificate (only) for `hostname`.
    fn trusted_for(&self, hostname: &str) -> DtlsClientOptions {
        DtlsClientOptions {
            hostname: hostname.into(),
            trusted_certificates_pem: Some(self.certificate_pem.clone()),
            unsafe_skip_verification: false,
        }
    }
}

fn self_signed(name: &str) -> Identity {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
    let key = PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap();
    let mut subject = X509NameBuilder::new().unwrap();
    subject.append_entry_by_nid(Nid::COMMONNAME, name).unwrap();
    let subject = subject.build();
    let mut builder = X509::builder().unwrap();
    builder.set_version(2).unwrap();
    let mut serial = BigNum::new().unwrap();
    serial
        .rand(64, openssl::bn::MsbOption::MAYBE_ZERO, false)
        .unwrap();
    builder
        .set_serial_number(&serial.to_asn1_integer().unwrap())
        .unwrap();
    builder.set_subject_name(&subject).unwrap();
    builder.set_issuer_name(&subject).unwrap();
    builder.set_pubkey(&key).unwrap();
    builder
        .set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    builder
        .set_not_after(&Asn1Time::days_from_now(2).unwrap())
        .unwrap();
    let san = SubjectAlternativeName::new()
        .dns(name)
        .build(&builder.x509v3_context(None, None))
        .unwrap();
    builder.append_extension(san).unwrap();
    builder.sign(&key, MessageDigest::sha256()).unwrap();
    let cert = builder.build();
    Identity {
        certificate_pem: String::from_utf8(cert.to_pem().unwrap()).unwrap(),
        key_pem: String::from_utf8(key.private_key_to_pem_pkcs8().unwrap()).unwrap(),
    }
}

fn dtls_server(identity: &Identity, peers: usize) -> UdpHost {
    let mut server = host(peers);
    server.dtls_server_setup(identity.server_options()).unwrap();
    server
}

/// A DTLS server with room for `peers` (a fresh self-signed certificate for `localhost`) and a
/// client that trusts it, not connected yet.
fn dtls_pair(peers: usize) -> (Identity, UdpHost, UdpHost) {
    let identity = self_signed("localhost");
    let server = dtls_server(&identity, peers);
    let client = trusting_client(&identity);
    (identity, server, client)
}

/// A DTLS client set up with `options`.
fn dtls_client(options: DtlsClientOptions) -> UdpHost {
    let mut client = host(1);
    client.dtls_client_setup(options).unwrap();
    client
}

/// A client that trusts `identity` for `localhost`.
fn trusting_client(identity: &Identity) -> UdpHost {
    dtls_client(identity.trusted_for("localhost"))
}

/// Connects `client` to `server` (4 channels, data 42); see [`common::connect`].
fn connect(client: &mut UdpHost, server: &mut UdpHost) -> (PeerId, PeerId) {
    common::connect(client, server, (4, 42))
}

/// Starts connecting `client` to `server` (2 channels, `data`) without waiting.
fn start_connect(client: &mut UdpHost, server: &UdpHost, data: u32) -> PeerId {
    client.connect(loopback_address(server), 2, data).unwrap()
}

/// Both directions, every channel, reliable and unreliable, with contents checked; the reliable
/// 3000-byte packets are fragmented by ENet into several records.
fn exchange(client: &mut UdpHost, to_server: PeerId, server: &mut UdpHost, to_client: PeerId) {
    let message = |from: &str, channel: u8, i: usize| {
        let mut data = format!("{from} channel {channel} message {i} ").into_bytes();
        data.resize(if i % 2 == 0 { 3000 } else { 40 }, b'#');
        data
    };
    for channel in 0..4u8 {
        // Six reliable messages, then an unreliable one (number 99), each way.
        for i in [0, 1, 2, 3, 4, 5, 99] {
            let packet = |from| match i {
                99 => Packet::unreliable(message(from, channel, i)),
                _ => Packet::reliable(message(from, channel, i)),
            };
            client
                .host_mut()
                .send(to_server, channel, packet("client"))
                .unwrap();
            server
                .host_mut()
                .send(to_client, channel, packet("server"))
                .unwrap();
        }
    }
    let expected = 4 * 7;
    let events = drive(&mut [client, server], Duration::from_secs(5), |e| {
        received(&e[0]).len() >= expected && received(&e[1]).len() >= expected
    });
    for (events, from) in [(&events[1], "client"), (&events[0], "server")] {
        let got = received(events);
        for channel in 0..4u8 {
            let on_channel: Vec<_> = got
                .iter()
                .filter(|(c, _)| *c == channel)
                .map(|(_, d)| d.clone())
                .collect();
            let mut want: Vec<_> = (0..6).map(|i| message(from, channel, i)).collect();
            want.push(message(from, channel, 99));
            // Reliable ones in order; the unreliable one (sent last on a quiet loopback) too.
            assert_eq!(on_channel, want, "{from} channel {channel}");
        }
    }
}

#[test]
fn dtls_client_and_server_exchange_reliable_and_unreliable_data() {
    let (_, mut server, mut client) = dtls_pair(4);
    let (to_server, to_client) = connect(&mut client, &mut server);
    assert_eq!(client.dtls_client_state(), Some(DtlsClientState::Connected));
    assert_eq!(
        server.dtls_sessions(),
        DtlsSessions {
            handshaking: 0,
            established: 1
        }
    );
    exchange(&mut client, to_server, &mut server, to_client);
    let stats = server.driver_statistics();
    assert_eq!(stats.dtls_dropped, 0, "{stats:?}");
    assert_eq!(stats.dtls_failed_handshakes, 0, "{stats:?}");
}

/// Start connecting and service both for `time`; neither side may see a Connect.
fn connect_is_refused(client: &mut UdpHost, server: &mut UdpHost, time: Duration) {
    start_connect(client, server, 42);
    let events = run_for(&mut [client, server], time);
    assert!(!has_connect(&events[0]), "client connected: {events:?}");
    assert!(!has_connect(&events[1]), "server accepted: {events:?}");
    assert_eq!(server.dtls_sessions().established, 0);
}

fn client_failure(client: &UdpHost) -> String {
    match client.dtls_client_state() {
        Some(DtlsClientState::Failed(reason)) => reason,
        other => panic!("expected a failed dtls client, got {other:?}"),
    }
}

/// A client with `options` cannot connect to a server with `identity`: its handshake fails the
/// certificate check. Returns the client.
fn refused_by_verification(identity: &Identity, options: DtlsClientOptions) -> UdpHost {
    let hostname = options.hostname.clone();
    let mut server = dtls_server(identity, 4);
    let mut client = dtls_client(options);
    connect_is_refused(&mut client, &mut server, Duration::from_millis(1500));
    let reason = client_failure(&client);
    assert!(
        reason.contains("certificate verification failed"),
        "{hostname}: {reason}"
    );
    client
}

#[test]
fn client_trusting_another_certificate_is_refused() {
    let identity = self_signed("localhost");
    let impostor_trust = self_signed("localhost").trusted_for("localhost");
    let client = refused_by_verification(&identity, impostor_trust);
    assert!(client.driver_statistics().dtls_failed_handshakes >= 1);
}

#[test]
fn client_with_system_roots_refuses_a_self_signed_certificate() {
    let identity = self_signed("localhost");
    let mut server = dtls_server(&identity, 4);
    let mut client = dtls_client(DtlsClientOptions::new("localhost"));
    connect_is_refused(&mut client, &mut server, Duration::from_millis(1500));
    client_failure(&client);
}

#[test]
fn wrong_hostname_is_refused_when_verifying() {
    let identity = self_signed("localhost");
    for hostname in ["game.example.com", "127.0.0.1"] {
        refused_by_verification(&identity, identity.trusted_for(hostname));
    }
}

#[test]
fn unsafe_client_accepts_a_self_signed_certificate() {
    let identity = self_signed("localhost");
    let mut server = dtls_server(&identity, 4);
    let mut client = dtls_client(DtlsClientOptions {
        hostname: String::new(),
        trusted_certificates_pem: None,
        unsafe_skip_verification: true,
    });
    let (to_server, to_client) = connect(&mut client, &mut server);
    ping_pong(&mut client, to_server, &mut server, to_client);
}

#[test]
fn plaintext_client_cannot_connect_to_a_dtls_server() {
    let identity = self_signed("localhost");
    let mut server = dtls_server(&identity, 4);
    let mut client = host(1);
    connect_is_refused(&mut client, &mut server, Duration::from_millis(1500));
    let stats = server.driver_statistics();
    assert!(stats.dtls_dropped >= 1, "{stats:?}");
    assert_eq!(server.dtls_sessions(), DtlsSessions::default());
    assert_eq!(server.host().statistics().total_received_packets, 0);
}

#[test]
fn dtls_client_cannot_connect_to_a_plaintext_server() {
    let identity = self_signed("localhost");
    let mut server = host(4);
    let mut client = trusting_client(&identity);
    start_connect(&mut client, &server, 42);
    let events = run_for(&mut [&mut client, &mut server], Duration::from_millis(1500));
    assert!(
        !has_connect(&events[0]) && !has_connect(&events[1]),
        "{events:?}"
    );
    assert_eq!(
        client.dtls_client_state(),
        Some(DtlsClientState::Handshaking)
    );
}

#[test]
fn setup_errors_mirror_godot() {
    let identity = self_signed("localhost");
    let other = self_signed("localhost");
    let mut server = host(4);
    assert!(matches!(
        server.dtls_server_setup(DtlsServerOptions::new(
            "not a pem",
            identity.key_pem.clone()
        )),
        Err(DtlsError::InvalidCertificate(_))
    ));
    assert!(matches!(
        server.dtls_server_setup(DtlsServerOptions::new(
            identity.certificate_pem.clone(),
            "not a key"
        )),
        Err(DtlsError::InvalidPrivateKey(_))
    ));
    assert!(matches!(
        server.dtls_server_setup(DtlsServerOptions::new(
            identity.certificate_pem.clone(),
            other.key_pem.clone()
        )),
        Err(DtlsError::InvalidPrivateKey(_))
    ));
    server.dtls_server_setup(identity.server_options()).unwrap();
    // Like Godot's socket, a host is upgraded once.
    assert_eq!(
        server.dtls_server_setup(identity.server_options()),
        Err(DtlsError::AlreadyEnabled)
    );
    assert_eq!(
        server.dtls_client_setup(DtlsClientOptions::new("localhost")),
        Err(DtlsError::AlreadyEnabled)
    );

    let mut client = host(1);
    assert_eq!(
        client.dtls_client_setup(DtlsClientOptions::new("")),
        Err(DtlsError::MissingHostname)
    );
    assert!(matches!(
        client.dtls_client_setup(DtlsClientOptions {
            hostname: "localhost".into(),
            trusted_certificates_pem: Some("garbage".into()),
            unsafe_skip_verification: false,
        }),
        Err(DtlsError::InvalidCertificate(_))
    ));
    assert_eq!(client.dtls_client_state(), None);
    // Setup after `connect` is fine while nothing was sent: Godot's order.
    start_connect(&mut client, &server, 42);
    client
        .dtls_client_setup(identity.trusted_for("localhost"))
        .unwrap();
    assert_eq!(client.dtls_client_state(), Some(DtlsClientState::Idle));
    let events = until_connected(&mut [&mut client, &mut server], Duration::from_secs(5));
    assert!(has_connect(&events[0]));
}

/// A tiny xorshift generator, so the garbage is reproducible.
struct Garbage(u64);

impl Garbage {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

/// A plausible DTLS 1.2 ClientHello record with `cookie` (not a complete, valid hello: enough to
/// pass a header check).
fn fake_client_hello(rng: &mut Garbage, cookie: &[u8]) -> Vec<u8> {
    let mut body = vec![0xfe, 0xfd];
    body.extend(rng.bytes(32));
    body.push(0);
    body.push(cookie.len() as u8);
    body.extend_from_slice(cookie);
    body.extend_from_slice(&[0, 2, 0xc0, 0x2b, 1, 0]);
    let len = body.len();
    let mut record = vec![22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0];
    record.extend_from_slice(&((len + 12) as u16).to_be_bytes());
    record.extend_from_slice(&[1, 0, (len >> 8) as u8, len as u8, 0, 0, 0, 0, 0, 0]);
    record.extend_from_slice(&[(len >> 8) as u8, len as u8]);
    record.extend(body);
    record
}

#[test]
fn garbage_and_hello_floods_change_nothing_for_a_connected_client() {
    let (_, mut server, mut client) = dtls_pair(8);
    let (to_server, to_client) = connect(&mut client, &mut server);
    // Handling the flood's handshakes slows the server's answers (under wine, enough that the
    // round trip swings), and ENet's packet throttle then drops unreliable packets, as it
    // should; the unreliable messages of the final exchange must arrive, so no deceleration.
    client.host_mut().throttle_configure(to_server, 5000, 2, 0);
    server.host_mut().throttle_configure(to_client, 5000, 2, 0);
    let server_addr = SocketAddr::new(LOOPBACK, server.local_addr().port());

    let mut rng = Garbage(0x5eed_1234_abcd_ef01);
    let attackers: Vec<UdpSocket> = (0..64)
        .map(|_| UdpSocket::bind((LOOPBACK, 0)).unwrap())
        .collect();
    for round in 0..5 {
        for (i, socket) in attackers.iter().enumerate() {
            let len = 1 + (rng.next() % 1400) as usize;
            let datagram = match (i + round) % 6 {
                0 => rng.bytes(len),
                // Hellos without a cookie (a stateless HelloVerifyRequest each) and with a wrong
                // one (refused without a session).
                1 => fake_client_hello(&mut rng, &[]),
                2 => fake_client_hello(&mut rng, &[7; 32]),
                // Records claiming an established session's epoch, and truncated hellos.
                3 => {
                    let mut record = vec![23, 0xfe, 0xfd, 0, 1];
                    record.extend(rng.bytes(len));
                    record
                }
                4 => fake_client_hello(&mut rng, &[])[..20].to_vec(),
                _ => vec![0xff; 4000],
            };
            socket.send_to(&datagram, server_addr).unwrap();
        }
        // The connected client's traffic keeps flowing in between.
        ping_pong(&mut client, to_server, &mut server, to_client);
    }
    let events = run_for(&mut [&mut client, &mut server], Duration::from_millis(300));
    assert!(!has_connect(&events[1]), "{events:?}");
    assert_eq!(server.host().connected_peers(), 1);
    assert_eq!(
        server.dtls_sessions(),
        DtlsSessions {
            handshaking: 0,
            established: 1
        }
    );
    let stats = server.driver_statistics();
    assert!(stats.dtls_dropped >= 100, "{stats:?}");
    assert!(stats.dtls_failed_handshakes >= 40, "{stats:?}");
    exchange(&mut client, to_server, &mut server, to_client);
}

/// One datagram per read and write, over a real socket: for half-finished handshakes.
#[derive(Debug)]
struct RawUdp(UdpSocket);

impl std::io::Read for RawUdp {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.recv(buf)
    }
}

impl std::io::Write for RawUdp {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.send(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// An OpenSSL DTLS client that answers the HelloVerifyRequest (so it gets a server session) and
/// then goes quiet.
fn half_open_handshake(
    server: &mut UdpHost,
    others: &mut [&mut UdpHost],
) -> openssl::ssl::SslStream<RawUdp> {
    use openssl::ssl::{Ssl, SslContext, SslMethod, SslStream, SslVerifyMode};
    let socket = UdpSocket::bind((LOOPBACK, 0)).unwrap();
    socket
        .connect((LOOPBACK, server.local_addr().port()))
        .unwrap();
    socket.set_nonblocking(true).unwrap();
    let mut context = SslContext::builder(SslMethod::dtls_client()).unwrap();
    context.set_verify(SslVerifyMode::NONE);
    let mut ssl = Ssl::new(&context.build()).unwrap();
    ssl.set_connect_state();
    let mut stream = SslStream::new(ssl, RawUdp(socket)).unwrap();
    let _ = stream.do_handshake(); // ClientHello
    for _ in 0..10 {
        server.service(Duration::from_millis(2)).unwrap(); // HelloVerifyRequest
        for other in others.iter_mut() {
            other.service(Duration::ZERO).unwrap();
        }
        // The second ClientHello once the HelloVerifyRequest is there. The peek buffer holds a
        // whole datagram: Windows fails a peek into a shorter one (WSAEMSGSIZE).
        let before = stream.get_ref().0.peek(&mut [0; 2048]).is_ok();
        if before {
            let _ = stream.do_handshake();
            break;
        }
    }
    stream
}

#[test]
fn pending_handshakes_are_capped_and_time_out() {
    let identity = self_signed("localhost");
    let mut server = host(8);
    let mut options = identity.server_options();
    options.max_pending_handshakes = 4;
    options.session_timeout = Duration::from_millis(1500);
    server.dtls_server_setup(options).unwrap();
    let mut client = trusting_client(&identity);
    let (to_server, to_client) = connect(&mut client, &mut server);

    let stalled: Vec<_> = (0..12)
        .map(|_| half_open_handshake(&mut server, &mut [&mut client]))
        .collect();
    run_for(&mut [&mut client, &mut server], Duration::from_millis(50));
    assert_eq!(
        server.dtls_sessions(),
        DtlsSessions {
            handshaking: 4,
            established: 1
        }
    );
    let stats = server.driver_statistics();
    assert_eq!(stats.dtls_refused_handshakes, 8, "{stats:?}");
    // The connected client is not disturbed.
    ping_pong(&mut client, to_server, &mut server, to_client);

    // A new client is refused while the cap is full ...
    let mut late = trusting_client(&identity);
    start_connect(&mut late, &server, 9);
    let events = run_for(
        &mut [&mut late, &mut server, &mut client],
        Duration::from_millis(300),
    );
    assert!(!has_connect(&events[0]));
    // ... and gets in once the stalled handshakes have timed out (ENet retransmits the CONNECT).
    let events = until_connected(
        &mut [&mut late, &mut server, &mut client],
        Duration::from_secs(8),
    );
    assert!(has_connect(&events[0]));
    assert_eq!(server.dtls_sessions().established, 2);
    // The stalled handshakes were made one after another, so they time out one after another:
    // the first to go made room for the late client, the others follow within the timeout.
    let deadline = Instant::now() + Duration::from_secs(3);
    while server.dtls_sessions().handshaking > 0 && Instant::now() < deadline {
        run_for(
            &mut [&mut late, &mut server, &mut client],
            Duration::from_millis(20),
        );
    }
    assert_eq!(
        server.dtls_sessions(),
        DtlsSessions {
            handshaking: 0,
            established: 2
        }
    );
    drop(stalled);
}

#[test]
fn a_slow_handshake_gets_the_whole_timeout_to_bring_its_peer() {
    // 400 ms each way: the server's session is made 1.2 s in (the second ClientHello), the
    // handshake ends 1.2 s later and the held CONNECT arrives 0.8 s after that, 2 s after the
    // session was made. The client has `session_timeout` from the end of its handshake.
    let identity = self_signed("localhost");
    let mut server = host(4);
    let mut options = identity.server_options();
    options.session_timeout = Duration::from_millis(1500);
    server.dtls_server_setup(options).unwrap();
    let mut client = trusting_client(&identity);
    client.set_link_conditions(
        LinkDirection::Both,
        LinkConditions {
            latency_ms: 400,
            ..LinkConditions::default()
        },
    );
    let peer = start_connect(&mut client, &server, 7);
    let events = until_connected(&mut [&mut client, &mut server], Duration::from_secs(10));
    assert!(events[0].contains(&Event::Connect { peer, data: 0 }));
    assert!(
        events[1]
            .iter()
            .any(|e| matches!(e, Event::Connect { data: 7, .. }))
    );
    assert_eq!(server.dtls_sessions().established, 1);
}

#[test]
fn disconnect_and_reset_free_the_dtls_session() {
    let (_, mut server, mut client) = dtls_pair(4);
    let (to_server, _) = connect(&mut client, &mut server);
    assert_eq!(server.dtls_sessions().established, 1);

    // Graceful disconnect from the client.
    client.host_mut().disconnect(to_server, 5);
    drive(
        &mut [&mut client, &mut server],
        Duration::from_secs(5),
        |e| {
            e[1].iter()
                .any(|e| matches!(e, Event::Disconnect { data: 5, .. }))
                && e[0].iter().any(|e| matches!(e, Event::Disconnect { .. }))
        },
    );
    run_for(&mut [&mut client, &mut server], Duration::from_millis(300));
    assert_eq!(server.dtls_sessions(), DtlsSessions::default());
    assert_eq!(client.dtls_client_state(), Some(DtlsClientState::Idle));

    // The same client host connects again with a fresh handshake.
    let (_, to_client) = connect(&mut client, &mut server);
    assert_eq!(server.dtls_sessions().established, 1);

    // A reset on the server frees the session too, and the client learns of it.
    server.host_mut().reset_peer(to_client);
    run_for(&mut [&mut client, &mut server], Duration::from_millis(300));
    assert_eq!(server.dtls_sessions(), DtlsSessions::default());
    assert_eq!(client.dtls_client_state(), Some(DtlsClientState::Closed));
}

#[test]
fn refusing_new_connections_stops_new_handshakes() {
    let identity = self_signed("localhost");
    let mut server = dtls_server(&identity, 4);
    server.set_dtls_refuse_new_connections(true);
    let mut client = trusting_client(&identity);
    connect_is_refused(&mut client, &mut server, Duration::from_millis(800));
    assert!(server.driver_statistics().dtls_refused_handshakes >= 1);
    assert_eq!(
        client.dtls_client_state(),
        Some(DtlsClientState::Handshaking)
    );
    server.set_dtls_refuse_new_connections(false);
    let events = until_connected(&mut [&mut client, &mut server], Duration::from_secs(8));
    assert!(has_connect(&events[1]));
}

#[test]
fn handshake_survives_a_lossy_link() {
    let (_, mut server, mut client) = dtls_pair(4);
    let lossy = LinkConditions {
        loss_percent: 25.0,
        ..LinkConditions::default()
    };
    client.set_link_seed(7);
    client.set_link_conditions(LinkDirection::Both, lossy);
    let peer = start_connect(&mut client, &server, 42);
    let events = until_connected(&mut [&mut client, &mut server], Duration::from_secs(12));
    assert!(events[0].contains(&Event::Connect { peer, data: 0 }));
    assert!(client.link_statistics(LinkDirection::Both).lost > 0);
}

#[test]
fn handshake_recovers_when_retransmissions_run_out() {
    // With this seed the 20 % loss eats the end of the first handshake in a way OpenSSL's
    // doubling retransmission timer does not repair before the server gives the session up; the
    // client then starts over with a new ClientHello.
    let (_, mut server, mut client) = dtls_pair(4);
    client.set_link_seed(6);
    client.set_link_conditions(
        LinkDirection::Both,
        LinkConditions {
            loss_percent: 20.0,
            ..LinkConditions::default()
        },
    );
    start_connect(&mut client, &server, 42);
    until_connected(&mut [&mut client, &mut server], Duration::from_secs(14));
    assert_eq!(server.dtls_sessions().established, 1);
}

#[test]
fn client_restarting_on_the_same_port_replaces_its_session() {
    let (identity, mut server, mut client) = dtls_pair(4);
    connect(&mut client, &mut server);
    let client_addr = client.local_addr();
    drop(client);

    // The same address, a new DTLS client: a new handshake, not a retransmission. (A new seed,
    // so ENet's connect id differs and the server takes the CONNECT for a new connection.)
    let config = HostConfig {
        seed: 0xD1FF_E4E7,
        ..HostConfig::default()
    };
    let mut client = UdpHost::bind(BindAddress::Ip(LOOPBACK), client_addr.port(), config).unwrap();
    client
        .dtls_client_setup(identity.trusted_for("localhost"))
        .unwrap();
    let (to_server, to_client) = connect(&mut client, &mut server);
    assert_eq!(server.dtls_sessions().established, 1);
    ping_pong(&mut client, to_server, &mut server, to_client);
}

#[test]
fn duplicated_records_are_dropped_by_replay_protection() {
    let (_, mut server, mut client) = dtls_pair(4);
    let (to_server, to_client) = connect(&mut client, &mut server);
    client.set_link_conditions(
        LinkDirection::Outgoing,
        LinkConditions {
            duplicate_percent: 100.0,
            ..LinkConditions::default()
        },
    );
    let before = server.driver_statistics().dtls_dropped;
    for i in 0..20u8 {
        client
            .host_mut()
            .send(to_server, 1, Packet::unreliable(vec![i; 100]))
            .unwrap();
        // One datagram per packet.
        client.flush().unwrap();
    }
    let events = drive(
        &mut [&mut client, &mut server],
        Duration::from_secs(5),
        |e| received(&e[1]).len() >= 20,
    );
    run_for(&mut [&mut client, &mut server], Duration::from_millis(100));
    // Each datagram arrived twice; the copy fails DTLS's replay check, not ENet's sequencing.
    let got = received(&events[1]);
    assert_eq!(got.len(), 20, "{got:?}");
    let dropped = server.driver_statistics().dtls_dropped - before;
    assert!(dropped >= 20, "{dropped}");
    ping_pong(&mut client, to_server, &mut server, to_client);
}

#[test]
fn ipv4_and_ipv6_dtls_clients_reach_a_wildcard_server() {
    let identity = self_signed("localhost");
    let mut server = UdpHost::bind(BindAddress::Wildcard, 0, HostConfig::default()).unwrap();
    server.dtls_server_setup(identity.server_options()).unwrap();
    let port = server.local_addr().port();
    let mut v4 = trusting_client(&identity);
    let (to_server, to_client) = connect(&mut v4, &mut server);
    ping_pong(&mut v4, to_server, &mut server, to_client);

    // IPv6 only where the wildcard socket is IPv6 and the system has ::1.
    let v6_loopback: IpAddr = "::1".parse().unwrap();
    if !server.local_addr().is_ipv6() {
        return;
    }
    let config = HostConfig {
        seed: 0x0006_E4E7,
        ..HostConfig::default()
    };
    let Ok(mut v6) = UdpHost::bind(BindAddress::Ip(v6_loopback), 0, config) else {
        return;
    };
    v6.dtls_client_setup(identity.trusted_for("localhost"))
        .unwrap();
    let peer = v6
        .connect(SocketAddr::new(v6_loopback, port), 2, 6)
        .unwrap();
    let events = until_connected(&mut [&mut v6, &mut server], Duration::from_secs(5));
    assert!(events[0].contains(&Event::Connect { peer, data: 0 }));
    assert_eq!(
        server.dtls_sessions(),
        DtlsSessions {
            handshaking: 0,
            established: 2
        }
    );
}

#[test]
fn a_dtls_host_can_move_to_a_service_thread() {
    fn assert_send<T: Send>() {}
    assert_send::<UdpHost>();
}
