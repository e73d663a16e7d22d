//! The state machine on a virtual clock: noray's exchanges, limits, and the extension.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::{Listening, REGISTRAR_OK, REGISTRAR_UNKNOWN, Server, Transmit};
use crate::config::Config;
use crate::hosts::ClientId;
use crate::id::SeededIds;
use crate::testing::FakePorts;

struct Harness {
    server: Server,
    ports: FakePorts,
    now: Instant,
    /// Registrar replies and closes seen while draining lines.
    replies: Vec<(SocketAddr, &'static [u8])>,
    closed: Vec<ClientId>,
}

/// One client's view: its id and the pid it was given.
struct Party {
    id: ClientId,
    oid: String,
    pid: String,
}

fn addr(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

fn test_config() -> Config {
    Config {
        relay_ports: (41000..=41003).collect(),
        ..Config::default()
    }
}

impl Harness {
    fn new(config: Config) -> Self {
        let now = Instant::now();
        let listening = Listening {
            registrar_port: 8809,
            ipv6: true,
        };
        Self {
            server: Server::new(config, listening, Box::new(SeededIds::new(9)), now),
            ports: FakePorts::default(),
            now,
            replies: Vec::new(),
            closed: Vec::new(),
        }
    }

    fn accept(&mut self, peer: &str) -> ClientId {
        self.server
            .handle_tcp_accept(self.now, addr(peer))
            .expect("accepted")
    }

    fn send(&mut self, id: ClientId, text: &str) {
        self.server
            .handle_tcp_data(self.now, id, text.as_bytes(), &mut self.ports);
    }

    fn advance(&mut self, by: Duration) {
        self.now += by;
        if self.server.poll_timeout().is_some_and(|t| t <= self.now) {
            self.server.handle_timeout(self.now, &mut self.ports);
        }
    }

    /// Drains the transmit queue; returns the lines written to `id`, in order.
    fn lines(&mut self, id: ClientId) -> Vec<String> {
        let mut lines = Vec::new();
        let mut others = Vec::new();
        while let Some(transmit) = self.server.poll_transmit() {
            match transmit {
                Transmit::Line { client, bytes } if client == id => {
                    let text = String::from_utf8(bytes).unwrap();
                    lines.extend(text.lines().map(str::to_owned));
                }
                Transmit::Line { .. } => others.push(transmit),
                Transmit::Registrar { to, payload } => self.replies.push((to, payload)),
                Transmit::Close { client } => self.closed.push(client),
            }
        }
        // Lines for other clients stay queued for their own `lines` call.
        for transmit in others {
            self.server.out.push_back(transmit);
        }
        lines
    }

    fn registrar(&mut self, from: &str, payload: &str) -> Vec<&'static [u8]> {
        self.server
            .handle_registrar_datagram(self.now, addr(from), payload.as_bytes());
        self.lines(ClientId(0));
        let replies = self
            .replies
            .iter()
            .filter(|(to, _)| *to == addr(from))
            .map(|(_, p)| *p)
            .collect();
        self.replies.clear();
        replies
    }

    /// A plain host registered as 203.0.113.1:4000 and a plain joiner as 198.51.100.2:5000.
    fn host_and_joiner(&mut self) -> (Party, Party) {
        let host = self.party("127.0.0.1:1000", Some("203.0.113.1:4000"), None);
        let joiner = self.party("127.0.0.1:1001", Some("198.51.100.2:5000"), None);
        (host, joiner)
    }

    /// Four bytes from `from` on relay `port`: where the server forwards them.
    fn relay(&mut self, port: u16, from: &str) -> Option<(u16, SocketAddr)> {
        self.server
            .handle_relay_datagram(self.now, port, addr(from), &[0; 4])
            .map(|f| (f.from_port, f.to))
    }

    /// register-host and, when `udp` is given, the registrar datagram from it.
    fn party(&mut self, tcp: &str, udp: Option<&str>, hello: Option<&str>) -> Party {
        let id = self.accept(tcp);
        if let Some(hello) = hello {
            self.send(id, &format!("{hello}\n"));
            assert!(self.lines(id)[0].starts_with("rust_enet-welcome "));
        }
        self.send(id, "register-host\n");
        let lines = self.lines(id);
        let oid = lines[0].strip_prefix("set-oid ").unwrap().to_owned();
        let pid = lines[1].strip_prefix("set-pid ").unwrap().to_owned();
        if let Some(udp) = udp {
            assert_eq!(self.registrar(udp, &pid), vec![REGISTRAR_OK]);
            self.lines(id);
        }
        Party { id, oid, pid }
    }
}

#[test]
fn register_host_answers_set_oid_then_set_pid_and_again_the_same() {
    let mut h = Harness::new(test_config());
    let id = h.accept("127.0.0.1:1000");
    h.send(id, "register-host\r\n");
    let lines = h.lines(id);
    assert_eq!(lines.len(), 2);
    let oid = lines[0].strip_prefix("set-oid ").unwrap();
    let pid = lines[1].strip_prefix("set-pid ").unwrap();
    assert_eq!((oid.len(), pid.len()), (21, 128));
    h.send(id, "register-host\n");
    assert_eq!(h.lines(id), lines, "one host per connection");
    assert_eq!(h.server.host_count(), 1);
}

#[test]
fn the_registrar_answers_ok_and_never_more_bytes_than_it_received() {
    let mut h = Harness::new(test_config());
    let host = h.party("127.0.0.1:1000", None, None);
    assert_eq!(h.registrar("127.0.0.1:5000", &host.pid), vec![REGISTRAR_OK]);
    assert_eq!(
        h.registrar("127.0.0.1:5000", &format!("{}\n", host.pid)),
        vec![REGISTRAR_UNKNOWN]
    );
    assert_eq!(
        h.registrar("127.0.0.1:5000", "Unknown host pid!"),
        vec![REGISTRAR_UNKNOWN]
    );
    assert!(
        h.registrar("127.0.0.1:5000", "Unknown host pid").is_empty(),
        "16 bytes get no 17-byte reply"
    );
    assert!(h.registrar("127.0.0.1:5000", "x").is_empty());
}

#[test]
fn connect_gives_each_side_the_others_public_address() {
    let mut h = Harness::new(test_config());
    let (host, joiner) = h.host_and_joiner();
    h.send(joiner.id, &format!("connect {}\n", host.oid));
    assert_eq!(h.lines(joiner.id), vec!["connect 203.0.113.1:4000"]);
    assert_eq!(h.lines(host.id), vec!["connect 198.51.100.2:5000"]);
}

#[test]
fn connect_relay_gives_each_side_the_relay_port_leading_to_the_other() {
    let mut h = Harness::new(test_config());
    let (host, joiner) = h.host_and_joiner();
    h.send(joiner.id, &format!("connect-relay {}\n", host.oid));
    assert_eq!(h.lines(joiner.id), vec!["connect-relay 41003"]);
    assert_eq!(h.lines(host.id), vec!["connect-relay 41002"]);
    assert_eq!(
        h.relay(41003, "198.51.100.2:5000"),
        Some((41002, addr("203.0.113.1:4000")))
    );
}

#[test]
fn a_pid_sent_to_a_relay_port_claims_the_senders_relay_and_is_not_forwarded() {
    let mut h = Harness::new(test_config());
    let (host, joiner) = h.host_and_joiner();
    h.send(joiner.id, &format!("connect-relay {}\n", host.oid));
    h.lines(joiner.id);
    h.lines(host.id);
    // Behind a symmetric NAT the joiner reaches the relay port from a new mapping.
    let mapped = addr("198.51.100.2:6000");
    assert!(
        h.server
            .handle_relay_datagram(h.now, 41003, mapped, joiner.pid.as_bytes())
            .is_none(),
        "the claim itself is not forwarded"
    );
    assert_eq!(h.relay(41002, "203.0.113.1:4000"), Some((41003, mapped)));
}

#[test]
fn failed_commands_are_silent_for_plain_clients_and_explained_to_extended_ones() {
    let mut h = Harness::new(test_config());
    let host = h.party("127.0.0.1:1000", None, None);
    let plain = h.accept("127.0.0.1:1001");
    h.send(
        plain,
        &format!("connect {}\nconnect-relay nope\nbogus x\n", host.oid),
    );
    assert!(h.lines(plain).is_empty());
    let ext = h.accept("127.0.0.1:1002");
    h.send(ext, "rust_enet-hello 1\n");
    h.lines(ext);
    h.send(
        ext,
        &format!("connect {0}\nconnect nope\nconnect {0} extra\n", host.oid),
    );
    let codes: Vec<_> = h
        .lines(ext)
        .iter()
        .map(|l| l.split(' ').nth(1).unwrap().to_owned())
        .collect();
    assert_eq!(
        codes,
        vec!["host-not-registered", "unknown-oid", "unknown-oid"]
    );
    h.registrar("203.0.113.1:4000", &host.pid);
    h.send(ext, &format!("connect-relay {}\n", host.oid));
    assert_eq!(
        h.lines(ext)[0],
        "rust_enet-error no-host send register-host first"
    );
    assert!(h.lines(host.id).is_empty());
}

#[test]
fn a_closed_hosts_oid_is_forgotten() {
    let mut h = Harness::new(test_config());
    let host = h.party("127.0.0.1:1000", Some("203.0.113.1:4000"), None);
    let joiner = h.party(
        "127.0.0.1:1001",
        Some("198.51.100.2:5000"),
        Some("rust_enet-hello 1"),
    );
    h.server.handle_tcp_closed(host.id);
    h.send(joiner.id, &format!("connect {}\n", host.oid));
    assert_eq!(
        h.lines(joiner.id),
        vec!["rust_enet-error unknown-oid no host has this oid"]
    );
    assert_eq!(h.server.host_count(), 1);
}

#[test]
fn echo_answers_byte_for_byte() {
    let mut h = Harness::new(test_config());
    let id = h.accept("127.0.0.1:1000");
    h.send(id, "echo hello  world\necho\n");
    assert_eq!(h.lines(id), vec!["echo hello  world", "echo"]);
}

#[test]
fn the_host_cap_refuses_register_host() {
    let mut h = Harness::new(Config {
        max_hosts: 1,
        ..test_config()
    });
    h.party("127.0.0.1:1000", None, None);
    let plain = h.accept("127.0.0.1:1001");
    h.send(plain, "register-host\n");
    assert!(h.lines(plain).is_empty());
    let ext = h.accept("127.0.0.1:1002");
    h.send(ext, "rust_enet-hello 1\nregister-host\n");
    assert!(h.lines(ext)[1].starts_with("rust_enet-error host-limit "));
    assert_eq!(h.server.host_count(), 1);
}

#[test]
fn tcp_client_limits_refuse_connections() {
    let mut h = Harness::new(Config {
        max_tcp_clients: 3,
        max_clients_per_ip: 2,
        ..test_config()
    });
    h.accept("127.0.0.1:1");
    h.accept("127.0.0.1:2");
    assert!(
        h.server
            .handle_tcp_accept(h.now, addr("127.0.0.1:3"))
            .is_none(),
        "per ip"
    );
    h.accept("127.0.0.2:1");
    assert!(
        h.server
            .handle_tcp_accept(h.now, addr("127.0.0.3:1"))
            .is_none(),
        "total"
    );
}

#[test]
fn an_overlong_line_closes_the_client() {
    let mut h = Harness::new(Config {
        max_line_bytes: 64,
        ..test_config()
    });
    let id = h.accept("127.0.0.1:1000");
    h.send(id, &"x".repeat(64));
    assert!(h.closed.is_empty() && h.lines(id).is_empty());
    h.send(id, "y");
    h.lines(id);
    assert_eq!(h.closed, vec![id]);
    assert_eq!(h.server.client_count(), 0);
}

#[test]
fn a_line_flood_closes_the_client() {
    let mut h = Harness::new(Config {
        lines_per_sec: 10,
        line_burst: 20,
        ..test_config()
    });
    let id = h.accept("127.0.0.1:1000");
    h.send(id, &"echo x\n".repeat(20));
    assert_eq!(h.lines(id).len(), 20);
    h.advance(Duration::from_millis(100));
    h.send(id, "echo y\necho z\n");
    assert_eq!(h.lines(id), vec!["echo y"], "100 ms refill one line");
    assert_eq!(h.closed, vec![id]);
}

#[test]
fn idle_clients_without_a_host_are_closed() {
    let mut h = Harness::new(Config {
        client_idle: Duration::from_secs(60),
        ..test_config()
    });
    let id = h.accept("127.0.0.1:1000");
    h.advance(Duration::from_secs(30));
    h.send(id, "echo\n");
    h.advance(Duration::from_secs(59));
    h.lines(id);
    assert!(h.closed.is_empty());
    h.advance(Duration::from_secs(1));
    h.lines(id);
    assert_eq!(h.closed, vec![id]);
}

#[test]
fn registrar_refreshes_keep_a_host_and_silence_expires_it() {
    let config = Config {
        host_idle: Duration::from_secs(100),
        ..test_config()
    };
    let mut h = Harness::new(config);
    let host = h.party(
        "127.0.0.1:1000",
        Some("203.0.113.1:4000"),
        Some("rust_enet-hello 1"),
    );
    for _ in 0..5 {
        h.advance(Duration::from_secs(90));
        assert_eq!(
            h.registrar("203.0.113.1:4000", &host.pid),
            vec![REGISTRAR_OK]
        );
    }
    assert!(h.closed.is_empty());
    h.advance(Duration::from_secs(100));
    h.lines(host.id);
    assert_eq!(h.closed, vec![host.id]);
    assert_eq!(h.server.host_count(), 0);
}

#[test]
fn extended_clients_hear_their_public_address_when_it_changes() {
    let mut h = Harness::new(test_config());
    let host = h.party("127.0.0.1:1000", None, Some("rust_enet-hello 1"));
    h.registrar("203.0.113.1:4000", &host.pid);
    assert_eq!(
        h.lines(host.id),
        vec!["rust_enet-registered 203.0.113.1:4000"]
    );
    h.registrar("203.0.113.1:4000", &host.pid);
    assert!(
        h.lines(host.id).is_empty(),
        "a keepalive from the same address says nothing"
    );
    h.registrar("203.0.113.1:4001", &host.pid);
    assert_eq!(
        h.lines(host.id),
        vec!["rust_enet-registered 203.0.113.1:4001"]
    );
}

#[test]
fn candidates_reach_the_other_side_before_its_noray_line() {
    let mut h = Harness::new(test_config());
    let host = h.party(
        "127.0.0.1:1000",
        Some("203.0.113.1:4000"),
        Some("rust_enet-hello 1"),
    );
    h.send(
        host.id,
        "rust_enet-candidates 192.168.1.10:4000,[fd00::10]:4000\n",
    );
    let joiner = h.party(
        "127.0.0.1:1001",
        Some("203.0.113.1:5000"),
        Some("rust_enet-hello 1"),
    );
    h.send(joiner.id, "rust_enet-candidates 192.168.1.11:5000\n");
    h.send(joiner.id, &format!("connect {}\n", host.oid));
    assert_eq!(
        h.lines(joiner.id),
        vec![
            "rust_enet-peer nat 203.0.113.1:4000 192.168.1.10:4000,[fd00::10]:4000",
            "connect 203.0.113.1:4000"
        ]
    );
    assert_eq!(
        h.lines(host.id),
        vec![
            "rust_enet-peer nat 203.0.113.1:5000 192.168.1.11:5000",
            "connect 203.0.113.1:5000"
        ]
    );
    h.send(joiner.id, &format!("connect-relay {}\n", host.oid));
    assert_eq!(
        h.lines(joiner.id),
        vec![
            "rust_enet-peer relay 41003 203.0.113.1:4000 192.168.1.10:4000,[fd00::10]:4000",
            "connect-relay 41003"
        ]
    );
    assert_eq!(h.lines(host.id)[1], "connect-relay 41002");
    h.send(host.id, "rust_enet-candidates junk\n");
    assert!(h.lines(host.id)[0].starts_with("rust_enet-error bad-request "));
}

#[test]
fn plain_peers_of_extended_clients_see_only_noray_lines() {
    let mut h = Harness::new(test_config());
    let host = h.party(
        "127.0.0.1:1000",
        Some("203.0.113.1:4000"),
        Some("rust_enet-hello 1"),
    );
    h.send(host.id, "rust_enet-candidates 192.168.1.10:4000\n");
    let joiner = h.party("127.0.0.1:1001", Some("198.51.100.2:5000"), None);
    h.send(joiner.id, "rust_enet-candidates 10.0.0.1:1\n");
    h.send(joiner.id, &format!("connect {}\n", host.oid));
    assert_eq!(h.lines(joiner.id), vec!["connect 203.0.113.1:4000"]);
    assert_eq!(
        h.lines(host.id),
        vec![
            "rust_enet-peer nat 198.51.100.2:5000 -",
            "connect 198.51.100.2:5000"
        ],
        "a plain client's candidates line is ignored"
    );
}

#[test]
fn ipv6_parties_get_ipv6_and_mixed_families_get_no_connect_line() {
    let mut h = Harness::new(test_config());
    let hello = Some("rust_enet-hello 1");
    let host = h.party("[::1]:1000", Some("[2001:db8::1]:4000"), hello);
    let joiner = h.party("[::1]:1001", Some("[2001:db8::2]:5000"), hello);
    h.send(joiner.id, &format!("connect {}\n", host.oid));
    assert_eq!(h.lines(joiner.id)[1], "connect [2001:db8::1]:4000");
    let v4 = h.party("127.0.0.1:1002", Some("198.51.100.3:6000"), hello);
    h.send(v4.id, &format!("connect {}\n", host.oid));
    assert_eq!(
        h.lines(v4.id),
        vec!["rust_enet-peer nat [2001:db8::1]:4000 -"]
    );
    // The relay bridges the families: each relay port listens on both.
    h.send(v4.id, &format!("connect-relay {}\n", host.oid));
    assert_eq!(h.lines(v4.id)[1], "connect-relay 41003");
}

#[test]
fn with_a_token_plain_clients_are_refused_unless_allowed() {
    let token = Config {
        token: Some("s3cret".to_owned()),
        ..test_config()
    };
    let mut h = Harness::new(token.clone());
    let plain = h.accept("127.0.0.1:1000");
    h.send(plain, "register-host\n");
    assert!(h.lines(plain).is_empty());
    assert_eq!(h.closed, vec![plain]);

    let wrong = h.accept("127.0.0.1:1001");
    h.send(wrong, "rust_enet-hello 1 guess\nregister-host\n");
    assert_eq!(
        h.lines(wrong),
        vec!["rust_enet-error unauthorized wrong or missing token"]
    );
    let missing = h.accept("127.0.0.1:1002");
    h.send(missing, "rust_enet-hello 1\n");
    assert_eq!(
        h.lines(missing),
        vec!["rust_enet-error unauthorized wrong or missing token"]
    );
    assert_eq!(h.closed, vec![plain, wrong, missing]);
    assert_eq!(h.server.host_count(), 0);

    let good = h.party("127.0.0.1:1003", None, Some("rust_enet-hello 3 s3cret"));
    assert_eq!(h.server.host_count(), 1);
    assert!(!h.closed.contains(&good.id));

    let mut h = Harness::new(Config {
        allow_plain_noray: true,
        ..token
    });
    h.party("127.0.0.1:1000", None, None);
    let wrong = h.accept("127.0.0.1:1001");
    h.send(wrong, "rust_enet-hello 1 guess\n");
    h.lines(wrong);
    assert_eq!(
        h.closed,
        vec![wrong],
        "a wrong token is refused even when plain clients are served"
    );
}

#[test]
fn welcome_reports_the_servers_extension_parameters() {
    let mut h = Harness::new(test_config());
    let id = h.accept("127.0.0.1:1000");
    h.send(id, "rust_enet-hello 5\nrust_enet-hello x\n");
    assert_eq!(
        h.lines(id),
        vec![
            "rust_enet-welcome 1 registrar=8809 keepalive=20 ipv6=1 max-candidates=8",
            "rust_enet-error bad-request the version must be a decimal number ≥ 1"
        ]
    );
}

#[test]
fn relays_outlive_their_host_until_idle() {
    let mut h = Harness::new(Config {
        relay_idle: Duration::from_secs(30),
        ..test_config()
    });
    let (host, joiner) = h.host_and_joiner();
    h.send(joiner.id, &format!("connect-relay {}\n", host.oid));
    h.server.handle_tcp_closed(host.id);
    h.advance(Duration::from_secs(29));
    assert!(h.relay(41003, "198.51.100.2:5000").is_some());
    h.advance(Duration::from_secs(30));
    assert_eq!(h.server.relay_count(), 0);
    assert!(h.ports.open.is_empty());
}
