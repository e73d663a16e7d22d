//! A server on loopback in a thread, and TCP/UDP clients for it. Traffic goes to 127.0.0.1 and
//! ::1 only; every wait is bounded.

#![allow(dead_code)]

use std::io::{self, BufRead, BufReader, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, UdpSocket};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rust_enet_rendezvous::{BoundAddrs, Config, Driver, StopHandle};

pub const V4: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
pub const V6: IpAddr = IpAddr::V6(Ipv6Addr::LOCALHOST);
pub const WAIT: Duration = Duration::from_secs(5);

/// Whether this machine can use ::1 (tests of IPv6 skip themselves otherwise).
pub fn ipv6_available() -> bool {
    UdpSocket::bind((V6, 0)).is_ok()
}

/// A configuration on loopback with ephemeral TCP and registrar ports and `relay_ports`
/// (kept below Linux's ephemeral range, so client sockets never take them).
pub fn config(relay_ports: std::ops::RangeInclusive<u16>) -> Config {
    let mut bind = vec![V4];
    if ipv6_available() {
        bind.push(V6);
    }
    Config {
        bind,
        ipv6_optional: false,
        tcp_port: 0,
        udp_port: 0,
        relay_ports: relay_ports.collect(),
        log_level: "debug".to_owned(),
        ..Config::default()
    }
}

/// A server running on its own thread, stopped when dropped.
pub struct Running {
    pub addrs: BoundAddrs,
    stop: StopHandle,
    thread: Option<JoinHandle<io::Result<()>>>,
}

impl Running {
    pub fn start(config: Config) -> Self {
        let driver = Driver::bind(config).expect("bind on loopback");
        let addrs = driver.local_addrs().clone();
        let stop = driver.stop_handle();
        let thread = Some(std::thread::spawn(move || driver.run()));
        Self {
            addrs,
            stop,
            thread,
        }
    }

    pub fn tcp(&self, ip: IpAddr) -> SocketAddr {
        *self
            .addrs
            .tcp
            .iter()
            .find(|a| a.ip() == ip)
            .expect("listening on that family")
    }

    pub fn registrar(&self, ip: IpAddr) -> SocketAddr {
        *self
            .addrs
            .registrar
            .iter()
            .find(|a| a.ip() == ip)
            .expect("registrar on that family")
    }

    pub fn connect(&self) -> Client {
        Client::connect(self.tcp(V4))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.stop();
        if let Some(thread) = self.thread.take() {
            let result = thread.join().expect("server thread panicked");
            if !std::thread::panicking() {
                result.expect("server loop failed");
            }
        }
    }
}

/// A line-protocol client with bounded waits.
pub struct Client {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect_timeout(&addr, WAIT).expect("tcp connect");
        stream.set_read_timeout(Some(WAIT)).unwrap();
        stream.set_write_timeout(Some(WAIT)).unwrap();
        Self {
            writer: stream.try_clone().unwrap(),
            reader: BufReader::new(stream),
        }
    }

    pub fn send(&mut self, text: &str) {
        self.writer.write_all(text.as_bytes()).expect("tcp write");
    }

    pub fn send_bytes(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.writer.write_all(bytes)
    }

    /// The next line; panics if none comes within the wait.
    pub fn line(&mut self) -> String {
        let mut line = String::new();
        match self.reader.read_line(&mut line) {
            Ok(0) => panic!("connection closed while waiting for a line"),
            Ok(_) => line.trim_end_matches('\n').to_owned(),
            Err(e) => panic!("no line within {WAIT:?}: {e}"),
        }
    }

    /// `None` if no line arrives within `wait` (then the connection is still open).
    pub fn line_within(&mut self, wait: Duration) -> Option<String> {
        self.reader.get_ref().set_read_timeout(Some(wait)).unwrap();
        let mut line = String::new();
        let result = self.reader.read_line(&mut line);
        self.reader.get_ref().set_read_timeout(Some(WAIT)).unwrap();
        match result {
            Ok(0) => panic!("connection closed"),
            Ok(_) => Some(line.trim_end_matches('\n').to_owned()),
            Err(_) => None,
        }
    }

    /// Whether the server closes the connection within `wait` (lines before the close are
    /// skipped).
    pub fn closed_within(&mut self, wait: Duration) -> bool {
        let deadline = Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            self.reader.get_ref().set_read_timeout(Some(left)).unwrap();
            let mut line = String::new();
            match self.reader.read_line(&mut line) {
                Ok(0) => return true,
                Ok(_) => continue,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return false;
                }
                Err(_) => return true,
            }
        }
    }

    /// `register-host`; returns (oid, pid).
    pub fn register_host(&mut self) -> (String, String) {
        self.send("register-host\n");
        let oid = self
            .line()
            .strip_prefix("set-oid ")
            .expect("set-oid")
            .to_owned();
        let pid = self
            .line()
            .strip_prefix("set-pid ")
            .expect("set-pid")
            .to_owned();
        (oid, pid)
    }
}

/// A game socket on `ip`, registered with the registrar as netfox does: the pid every 100 ms
/// until `OK` (at most 50 tries).
pub fn registered_socket(registrar: SocketAddr, pid: &str) -> UdpSocket {
    let socket = UdpSocket::bind((registrar.ip(), 0)).expect("udp bind");
    register_from(&socket, registrar, pid);
    socket
}

pub fn register_from(socket: &UdpSocket, registrar: SocketAddr, pid: &str) {
    socket
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut buf = [0; 64];
    for _ in 0..50 {
        socket.send_to(pid.as_bytes(), registrar).unwrap();
        if let Ok((n, from)) = socket.recv_from(&mut buf) {
            assert_eq!(from, registrar);
            assert_eq!(&buf[..n], b"OK");
            return;
        }
    }
    panic!("the registrar never answered OK");
}

/// Every datagram `socket` receives until `wait` passes without one.
pub fn drain(socket: &UdpSocket, wait: Duration) -> Vec<(Vec<u8>, SocketAddr)> {
    socket.set_read_timeout(Some(wait)).unwrap();
    let mut got = Vec::new();
    let mut buf = vec![0; 65_536];
    while let Ok((n, from)) = socket.recv_from(&mut buf) {
        got.push((buf[..n].to_vec(), from));
    }
    got
}

/// A host and a joiner, both registered over TCP and UDP (on `ip`'s registrar).
pub struct Pair {
    pub host: Client,
    pub joiner: Client,
    pub host_udp: UdpSocket,
    pub joiner_udp: UdpSocket,
    pub oid: String,
}

pub fn pair(server: &Running, hello: Option<&str>) -> Pair {
    let mut host = server.connect();
    let mut joiner = server.connect();
    if let Some(hello) = hello {
        for client in [&mut host, &mut joiner] {
            client.send(&format!("{hello}\n"));
            assert!(client.line().starts_with("rust_enet-welcome "));
        }
    }
    let (oid, host_pid) = host.register_host();
    let (_, joiner_pid) = joiner.register_host();
    let host_udp = registered_socket(server.registrar(V4), &host_pid);
    let joiner_udp = registered_socket(server.registrar(V4), &joiner_pid);
    if hello.is_some() {
        assert!(host.line().starts_with("rust_enet-registered 127.0.0.1:"));
        assert!(joiner.line().starts_with("rust_enet-registered 127.0.0.1:"));
    }
    Pair {
        host,
        joiner,
        host_udp,
        joiner_udp,
        oid,
    }
}

/// `connect-relay` from the joiner; returns (port to reach the host, port to reach the joiner).
pub fn relay(pair: &mut Pair) -> (u16, u16) {
    pair.joiner.send(&format!("connect-relay {}\n", pair.oid));
    let to_host = relay_port(&pair.joiner.line());
    let to_joiner = relay_port(&pair.host.line());
    (to_host, to_joiner)
}

pub fn relay_port(line: &str) -> u16 {
    line.strip_prefix("connect-relay ")
        .unwrap_or_else(|| panic!("expected connect-relay, got {line}"))
        .parse()
        .unwrap()
}
