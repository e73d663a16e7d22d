//! Server → client lines: noray's and the extension's, each emitted as `<command> <data>\n`
//! (or `<command>\n` when the data is empty), exactly as noray writes them.

use std::net::SocketAddr;

use crate::addr_list;

/// The extension version this server speaks.
pub const EXTENSION_VERSION: u32 = 1;

/// Machine-readable reason of a `rust_enet-error` line. Only extended clients receive it;
/// noray itself sends nothing when a command fails, and so does this server to plain clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// Missing or wrong token; the server closes the connection after the line.
    Unauthorized,
    /// A malformed extension line.
    BadRequest,
    /// `register-host` refused: the server holds its maximum of hosts.
    HostLimit,
    /// `connect`/`connect-relay` named an oid that is not registered.
    UnknownOid,
    /// The named host has not registered a UDP address yet.
    HostNotRegistered,
    /// The caller has not sent `register-host` on this connection.
    NoHost,
    /// The caller has not registered a UDP address yet.
    NotRegistered,
    /// No relay port is free (pool, per-IP cap, or binding failed).
    RelayUnavailable,
    /// The server could not generate ids (OS entropy failed).
    Internal,
}

impl ErrorCode {
    /// The code's spelling on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unauthorized => "unauthorized",
            Self::BadRequest => "bad-request",
            Self::HostLimit => "host-limit",
            Self::UnknownOid => "unknown-oid",
            Self::HostNotRegistered => "host-not-registered",
            Self::NoHost => "no-host",
            Self::NotRegistered => "not-registered",
            Self::RelayUnavailable => "relay-unavailable",
            Self::Internal => "internal",
        }
    }
}

/// What the server tells an extended client in `rust_enet-welcome`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Welcome {
    /// The extension version both sides will speak.
    pub version: u32,
    /// UDP registrar port (the same on IPv4 and IPv6).
    pub registrar_port: u16,
    /// Recommended seconds between registrar refreshes (keepalive).
    pub keepalive_secs: u64,
    /// Whether the registrar and relays also listen on IPv6.
    pub ipv6: bool,
    /// Most candidates `rust_enet-candidates` accepts.
    pub max_candidates: usize,
}

/// How the two parties of an orchestration reach each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerMode {
    /// `connect`: punch toward the peer's addresses.
    Nat,
    /// `connect-relay`: send to this relay port on the server.
    Relay(u16),
}

/// One line the server sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerLine<'a> {
    /// `set-oid <oid>`.
    SetOid(&'a str),
    /// `set-pid <pid>`.
    SetPid(&'a str),
    /// `connect <ip>:<port>` (IPv6 as `[ip]:port`).
    Connect(SocketAddr),
    /// `connect-relay <port>`.
    ConnectRelay(u16),
    /// `echo <data>`, data echoed byte for byte.
    Echo(&'a [u8]),
    /// `rust_enet-welcome <version> registrar=<port> keepalive=<secs> ipv6=<0|1> max-candidates=<n>`.
    Welcome(&'a Welcome),
    /// `rust_enet-error <code> <text>`.
    Error(ErrorCode, &'a str),
    /// `rust_enet-registered <ip:port>`: the public address the registrar saw.
    Registered(SocketAddr),
    /// `rust_enet-peer nat <public> <lan>` or `rust_enet-peer relay <port> <public> <lan>`.
    Peer {
        /// NAT or relay (with the relay port leading to the peer).
        mode: PeerMode,
        /// The peer's registered public addresses, IPv4 first.
        public: &'a [SocketAddr],
        /// The peer's self-reported candidates.
        lan: &'a [SocketAddr],
    },
}

impl ServerLine<'_> {
    /// Appends the line, terminator included, to `out`.
    pub fn emit(&self, out: &mut Vec<u8>) {
        let (command, data): (&str, Vec<u8>) = match self {
            Self::SetOid(oid) => ("set-oid", oid.as_bytes().to_vec()),
            Self::SetPid(pid) => ("set-pid", pid.as_bytes().to_vec()),
            Self::Connect(addr) => ("connect", addr.to_string().into_bytes()),
            Self::ConnectRelay(port) => ("connect-relay", port.to_string().into_bytes()),
            Self::Echo(data) => ("echo", data.to_vec()),
            Self::Welcome(welcome) => (
                "rust_enet-welcome",
                format!(
                    "{} registrar={} keepalive={} ipv6={} max-candidates={}",
                    welcome.version,
                    welcome.registrar_port,
                    welcome.keepalive_secs,
                    u8::from(welcome.ipv6),
                    welcome.max_candidates
                )
                .into_bytes(),
            ),
            Self::Error(code, text) => {
                // A newline in the text would end the line early and forge another one.
                let text = text.replace(['\n', '\r'], " ");
                (
                    "rust_enet-error",
                    format!("{} {text}", code.as_str()).into_bytes(),
                )
            }
            Self::Registered(addr) => ("rust_enet-registered", addr.to_string().into_bytes()),
            Self::Peer { mode, public, lan } => {
                let mut text = match mode {
                    PeerMode::Nat => "nat ".to_owned(),
                    PeerMode::Relay(port) => format!("relay {port} "),
                };
                addr_list::emit(public, &mut text);
                text.push(' ');
                addr_list::emit(lan, &mut text);
                ("rust_enet-peer", text.into_bytes())
            }
        };
        out.extend_from_slice(command.as_bytes());
        if !data.is_empty() {
            out.push(b' ');
            out.extend_from_slice(&data);
        }
        out.push(b'\n');
    }

    /// The line as bytes, terminator included.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.emit(&mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(line: ServerLine<'_>) -> String {
        String::from_utf8(line.to_bytes()).unwrap()
    }

    #[test]
    fn noray_lines_match_noray_bytes() {
        assert_eq!(
            text(ServerLine::SetOid("6fmf8pkXUHtOWCmxY2P3v")),
            "set-oid 6fmf8pkXUHtOWCmxY2P3v\n"
        );
        assert_eq!(
            text(ServerLine::Connect("127.0.0.1:38735".parse().unwrap())),
            "connect 127.0.0.1:38735\n"
        );
        assert_eq!(
            text(ServerLine::ConnectRelay(41003)),
            "connect-relay 41003\n"
        );
        assert_eq!(text(ServerLine::Echo(b"hello world")), "echo hello world\n");
        assert_eq!(text(ServerLine::Echo(b"")), "echo\n");
    }

    #[test]
    fn extension_lines_have_their_documented_form() {
        let welcome = Welcome {
            version: 1,
            registrar_port: 8809,
            keepalive_secs: 20,
            ipv6: true,
            max_candidates: 8,
        };
        assert_eq!(
            text(ServerLine::Welcome(&welcome)),
            "rust_enet-welcome 1 registrar=8809 keepalive=20 ipv6=1 max-candidates=8\n"
        );
        assert_eq!(
            text(ServerLine::Error(
                ErrorCode::UnknownOid,
                "no host\nset-oid x"
            )),
            "rust_enet-error unknown-oid no host set-oid x\n"
        );
        let public = [
            "203.0.113.5:4000".parse().unwrap(),
            "[2001:db8::5]:4000".parse().unwrap(),
        ];
        let lan = ["192.168.1.5:4000".parse().unwrap()];
        assert_eq!(
            text(ServerLine::Peer {
                mode: PeerMode::Nat,
                public: &public,
                lan: &lan
            }),
            "rust_enet-peer nat 203.0.113.5:4000,[2001:db8::5]:4000 192.168.1.5:4000\n"
        );
        assert_eq!(
            text(ServerLine::Peer {
                mode: PeerMode::Relay(50000),
                public: &public[..1],
                lan: &[]
            }),
            "rust_enet-peer relay 50000 203.0.113.5:4000 -\n"
        );
        assert_eq!(
            text(ServerLine::Registered(
                "[2001:db8::5]:4000".parse().unwrap()
            )),
            "rust_enet-registered [2001:db8::5]:4000\n"
        );
    }
}
