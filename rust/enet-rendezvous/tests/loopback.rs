//! The server over real sockets on loopback: noray's exchange as netfox.noray performs it,
//! relaying, limits, no amplification, and the extension.

mod support;

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use support::{
    Running, V4, V6, config, drain, ipv6_available, pair, register_from, registered_socket, relay,
};

const SHORT: Duration = Duration::from_millis(300);

#[test]
fn host_and_joiner_learn_each_others_address_with_connect() {
    let server = Running::start(config(21000..=21009));
    let mut p = pair(&server, None);
    p.joiner.send(&format!("connect {}\n", p.oid));
    assert_eq!(
        p.joiner.line(),
        format!("connect {}", p.host_udp.local_addr().unwrap())
    );
    assert_eq!(
        p.host.line(),
        format!("connect {}", p.joiner_udp.local_addr().unwrap())
    );
}

#[test]
fn relay_forwards_both_ways_like_netfox_handshakes() {
    let server = Running::start(config(21010..=21019));
    let mut p = pair(&server, None);
    let (to_host, to_joiner) = relay(&mut p);
    assert!((21010..=21019).contains(&to_host) && (21010..=21019).contains(&to_joiner));
    assert_ne!(to_host, to_joiner);
    assert_eq!(
        relay(&mut p),
        (to_host, to_joiner),
        "repeated connect-relay, same ports"
    );

    for _ in 0..3 {
        p.joiner_udp.send_to(b"$-w-", (V4, to_host)).unwrap();
    }
    let got = drain(&p.host_udp, SHORT);
    assert_eq!(
        got,
        vec![(b"$-w-".to_vec(), SocketAddr::new(V4, to_joiner)); 3]
    );
    p.host_udp.send_to(b"$rwx", (V4, to_joiner)).unwrap();
    let got = drain(&p.joiner_udp, SHORT);
    assert_eq!(got, vec![(b"$rwx".to_vec(), SocketAddr::new(V4, to_host))]);
}

#[test]
fn relays_never_amplify_and_ignore_strangers() {
    let server = Running::start(config(21020..=21029));
    let mut p = pair(&server, None);
    let (to_host, to_joiner) = relay(&mut p);
    // Both sides speak first, so no quiet relay is left for a same-IP stranger to latch.
    p.joiner_udp.send_to(b"hi", (V4, to_host)).unwrap();
    p.host_udp.send_to(b"hi", (V4, to_joiner)).unwrap();
    drain(&p.host_udp, SHORT);
    drain(&p.joiner_udp, SHORT);

    let mut strangers = vec![UdpSocket::bind((V4, 0)).unwrap()];
    if ipv6_available() {
        strangers.push(UdpSocket::bind((V6, 0)).unwrap());
    }
    for stranger in &strangers {
        let ip = stranger.local_addr().unwrap().ip();
        for port in [to_host, to_joiner] {
            for size in [1, 16, 500] {
                stranger.send_to(&vec![7; size], (ip, port)).unwrap();
            }
        }
        // Shorter than the 17-byte "Unknown host pid!": no reply at all.
        for size in [1, 16] {
            stranger
                .send_to(&vec![7; size], server.registrar(ip))
                .unwrap();
        }
    }
    for socket in strangers.iter().chain([&p.host_udp, &p.joiner_udp]) {
        assert_eq!(
            drain(socket, SHORT),
            vec![],
            "nothing reaches {:?}",
            socket.local_addr()
        );
    }

    let sizes = [1usize, 60, 1200, 8000];
    for &size in &sizes {
        p.joiner_udp
            .send_to(&vec![size as u8; size], (V4, to_host))
            .unwrap();
    }
    let got = drain(&p.host_udp, SHORT);
    let got_sizes: Vec<usize> = got.iter().map(|(bytes, _)| bytes.len()).collect();
    assert_eq!(
        got_sizes, sizes,
        "one datagram out per datagram in, unchanged"
    );

    let registrar = server.registrar(V4);
    let probe = UdpSocket::bind((V4, 0)).unwrap();
    probe.send_to(&[b'x'; 17], registrar).unwrap();
    assert_eq!(
        drain(&probe, SHORT),
        vec![(b"Unknown host pid!".to_vec(), registrar)]
    );
}

#[test]
fn excess_over_the_relay_rate_is_dropped_and_the_server_lives_on() {
    let mut cfg = config(21030..=21039);
    cfg.relay_rate = 10_000;
    cfg.relay_burst = 5_000;
    let server = Running::start(cfg);
    let mut p = pair(&server, None);
    let (to_host, _) = relay(&mut p);
    let start = Instant::now();
    for _ in 0..50 {
        p.joiner_udp.send_to(&[1; 1000], (V4, to_host)).unwrap();
    }
    let sent_for = start.elapsed();
    let got = drain(&p.host_udp, SHORT).len();
    let allowed = 5 + (sent_for.as_secs_f64() * 10.0).ceil() as usize;
    assert!(
        (5..=allowed).contains(&got),
        "{got} of 50 datagrams passed, at most {allowed} allowed"
    );

    std::thread::sleep(Duration::from_millis(600));
    p.joiner_udp.send_to(b"later", (V4, to_host)).unwrap();
    assert_eq!(
        drain(&p.host_udp, SHORT).len(),
        1,
        "the relay recovered; noray would have crashed"
    );
    p.host.send("echo alive\n");
    assert_eq!(p.host.line(), "echo alive");
}

#[test]
fn idle_relays_and_idle_clients_expire() {
    let mut cfg = config(21040..=21049);
    cfg.relay_idle = Duration::from_secs(1);
    cfg.client_idle = Duration::from_secs(1);
    let server = Running::start(cfg);
    let mut p = pair(&server, None);
    let (to_host, to_joiner) = relay(&mut p);
    let mut idle = server.connect();

    std::thread::sleep(Duration::from_millis(1500));
    p.joiner_udp.send_to(b"late", (V4, to_host)).unwrap();
    assert_eq!(drain(&p.host_udp, SHORT), vec![], "the relay expired");
    for port in [to_host, to_joiner] {
        UdpSocket::bind((V4, port)).expect("an expired relay releases its port");
    }
    assert!(
        idle.closed_within(Duration::from_secs(2)),
        "a client without a host idles out"
    );
    p.host.send("echo still here\n");
    assert_eq!(
        p.host.line(),
        "echo still here",
        "hosts use the longer host idle time"
    );
}

#[test]
fn the_host_cap_refuses_the_next_register_host() {
    let mut cfg = config(21050..=21059);
    cfg.max_hosts = 1;
    let server = Running::start(cfg);
    let mut first = server.connect();
    first.register_host();
    let mut plain = server.connect();
    plain.send("register-host\n");
    assert_eq!(plain.line_within(SHORT), None, "noray-style silence");
    let mut extended = server.connect();
    extended.send("rust_enet-hello 1\nregister-host\n");
    extended.line();
    assert!(extended.line().starts_with("rust_enet-error host-limit "));
}

#[test]
fn a_line_flood_closes_only_the_flooder() {
    let server = Running::start(config(21060..=21069));
    let mut long = server.connect();
    let mut bystander = server.connect();
    // No newline, ever: the server must not buffer it.
    let _ = long.send_bytes(&vec![b'a'; 200_000]);
    assert!(long.closed_within(WAIT_CLOSE));
    let mut many = server.connect();
    let _ = many.send_bytes("echo x\n".repeat(2000).as_bytes());
    assert!(many.closed_within(WAIT_CLOSE));
    bystander.send("echo ok\n");
    assert_eq!(bystander.line(), "echo ok");
}

const WAIT_CLOSE: Duration = Duration::from_secs(3);

#[test]
fn a_client_that_does_not_read_its_replies_is_closed() {
    let mut cfg = config(21120..=21129);
    cfg.lines_per_sec = 1_000_000;
    cfg.line_burst = 1_000_000;
    cfg.max_pending_output = 4096;
    let server = Running::start(cfg);
    let mut lazy = server.connect();
    let line = format!("echo {}\n", "x".repeat(1000));
    // Never reading: the echoes fill both socket buffers, then the server's queue.
    let sent = (0..50_000)
        .take_while(|_| lazy.send_bytes(line.as_bytes()).is_ok())
        .count();
    assert!(
        sent < 50_000,
        "the server kept queueing output for a client that does not read"
    );
    assert!(lazy.closed_within(WAIT_CLOSE));
    let mut bystander = server.connect();
    bystander.send("echo ok\n");
    assert_eq!(bystander.line(), "echo ok");
}

#[test]
fn extended_clients_exchange_candidates_and_plain_ones_see_noray() {
    let server = Running::start(config(21070..=21079));
    let mut p = pair(&server, Some("rust_enet-hello 1"));
    p.host
        .send("rust_enet-candidates 192.168.1.10:4000,[fd00::10]:4000\n");
    p.joiner.send("rust_enet-candidates 192.168.1.11:5000\n");
    p.joiner.send(&format!("connect {}\n", p.oid));
    let (host_udp, joiner_udp) = (
        p.host_udp.local_addr().unwrap(),
        p.joiner_udp.local_addr().unwrap(),
    );
    assert_eq!(
        p.joiner.line(),
        format!("rust_enet-peer nat {host_udp} 192.168.1.10:4000,[fd00::10]:4000")
    );
    assert_eq!(p.joiner.line(), format!("connect {host_udp}"));
    assert_eq!(
        p.host.line(),
        format!("rust_enet-peer nat {joiner_udp} 192.168.1.11:5000")
    );
    assert_eq!(p.host.line(), format!("connect {joiner_udp}"));

    // A plain joiner of the same host gets exactly what noray would send.
    let mut plain = server.connect();
    let (_, pid) = plain.register_host();
    let plain_udp = registered_socket(server.registrar(V4), &pid);
    plain.send(&format!("connect {}\n", p.oid));
    assert_eq!(plain.line(), format!("connect {host_udp}"));
    assert_eq!(plain.line_within(SHORT), None);
    assert_eq!(
        p.host.line(),
        format!("rust_enet-peer nat {} -", plain_udp.local_addr().unwrap())
    );
}

#[test]
fn the_extension_is_detected_before_an_echo_probe() {
    let server = Running::start(config(21080..=21089));
    let mut client = server.connect();
    client.send("rust_enet-hello 1\necho rust_enet-probe\n");
    let welcome = client.line();
    let registrar = server.registrar(V4).port();
    let ipv6 = u8::from(ipv6_available());
    assert_eq!(
        welcome,
        format!(
            "rust_enet-welcome 1 registrar={registrar} keepalive=20 ipv6={ipv6} max-candidates=8"
        )
    );
    assert_eq!(client.line(), "echo rust_enet-probe");
}

#[test]
fn a_token_refuses_strangers_and_plain_clients() {
    let mut cfg = config(21090..=21099);
    cfg.token = Some("s3cret".to_owned());
    let server = Running::start(cfg);
    let mut plain = server.connect();
    plain.send("register-host\n");
    assert!(plain.closed_within(WAIT_CLOSE));
    let mut wrong = server.connect();
    wrong.send("rust_enet-hello 1 guess\n");
    assert_eq!(
        wrong.line(),
        "rust_enet-error unauthorized wrong or missing token"
    );
    assert!(wrong.closed_within(WAIT_CLOSE));
    let mut good = server.connect();
    good.send("rust_enet-hello 1 s3cret\n");
    assert!(good.line().starts_with("rust_enet-welcome 1 "));
    good.register_host();
}

#[test]
fn keepalive_from_a_new_port_moves_the_registration() {
    let server = Running::start(config(21100..=21109));
    let mut p = pair(&server, Some("rust_enet-hello 1"));
    let (_, pid) = p.host.register_host();
    // The same pid from a second socket (a new NAT mapping): the server follows it.
    let moved = UdpSocket::bind((V4, 0)).unwrap();
    register_from(&moved, server.registrar(V4), &pid);
    let moved_addr = moved.local_addr().unwrap();
    assert_eq!(p.host.line(), format!("rust_enet-registered {moved_addr}"));
    p.joiner.send(&format!("connect {}\n", p.oid));
    p.joiner.line();
    assert_eq!(p.joiner.line(), format!("connect {moved_addr}"));
}

#[test]
fn an_ipv6_host_and_an_ipv4_joiner_meet_through_the_relay() {
    if !ipv6_available() {
        eprintln!("skipped: no ::1 on this machine");
        return;
    }
    let server = Running::start(config(21110..=21119));
    let mut host = support::Client::connect(server.tcp(V6));
    host.send("rust_enet-hello 1\n");
    host.line();
    let (oid, pid) = host.register_host();
    let host_udp = registered_socket(server.registrar(V6), &pid);
    assert_eq!(
        host.line(),
        format!("rust_enet-registered {}", host_udp.local_addr().unwrap())
    );
    let mut joiner = server.connect();
    let (_, joiner_pid) = joiner.register_host();
    let joiner_udp = registered_socket(server.registrar(V4), &joiner_pid);

    joiner.send(&format!("connect {oid}\n"));
    assert_eq!(
        joiner.line_within(SHORT),
        None,
        "no common family: a plain joiner hears nothing"
    );
    joiner.send(&format!("connect-relay {oid}\n"));
    let to_host = support::relay_port(&joiner.line());
    assert!(host.line().starts_with("rust_enet-peer nat 127.0.0.1:"));
    assert!(host.line().starts_with("rust_enet-peer relay "));
    let to_joiner = support::relay_port(&host.line());

    joiner_udp.send_to(b"$-w-", (V4, to_host)).unwrap();
    assert_eq!(
        drain(&host_udp, SHORT),
        vec![(b"$-w-".to_vec(), SocketAddr::new(V6, to_joiner))]
    );
    host_udp.send_to(b"$rwx", (V6, to_joiner)).unwrap();
    assert_eq!(
        drain(&joiner_udp, SHORT),
        vec![(b"$rwx".to_vec(), SocketAddr::new(V4, to_host))]
    );
}
