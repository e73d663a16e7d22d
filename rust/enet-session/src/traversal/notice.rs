//! What a rendezvous server's lines mean to a traversal: noray's `set-oid`, `set-pid`,
//! `connect`, `connect-relay`, and rust_enet's extension lines when the server speaks it.

use std::net::SocketAddr;

/// One line from the server, as the traversal uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// The shareable id of this party.
    Oid(String),
    /// The private id to register over UDP.
    Pid(String),
    /// The server speaks the extension: its registrar port and refresh interval (seconds).
    Welcome {
        registrar_port: u16,
        keepalive_secs: u64,
    },
    /// Punch toward a remote at these addresses (public ones, then its own LAN ones).
    Punch {
        public: Vec<SocketAddr>,
        lan: Vec<SocketAddr>,
    },
    /// Reach the remote through this relay port of the server.
    Relay { port: u16 },
    /// The server refused something: its code (`unknown-oid`, `unauthorized`...) and text.
    Error { code: String, text: String },
    /// Nothing for a traversal (`echo`, `rust_enet-registered`, unknown or malformed lines).
    Other,
}

/// The notice of one line (terminator removed). noray splits at the first space; so does
/// netfox.noray's client, which this follows.
pub fn notice(line: &[u8]) -> Notice {
    let line = String::from_utf8_lossy(line);
    let (command, data) = line.split_once(' ').unwrap_or((&line, ""));
    match command {
        "set-oid" => Notice::Oid(data.to_owned()),
        "set-pid" => Notice::Pid(data.to_owned()),
        "connect" => match data.parse::<SocketAddr>() {
            Ok(address) => Notice::Punch {
                public: vec![address],
                lan: Vec::new(),
            },
            Err(_) => Notice::Other,
        },
        "connect-relay" => data
            .parse()
            .map_or(Notice::Other, |port| Notice::Relay { port }),
        "rust_enet-welcome" => welcome(data),
        "rust_enet-peer" => peer(data).unwrap_or(Notice::Other),
        "rust_enet-error" => {
            let (code, text) = data.split_once(' ').unwrap_or((data, ""));
            Notice::Error {
                code: code.to_owned(),
                text: text.to_owned(),
            }
        }
        _ => Notice::Other,
    }
}

/// `<version> registrar=<port> keepalive=<secs> ...` (unknown fields are skipped).
fn welcome(data: &str) -> Notice {
    let mut registrar_port = super::DEFAULT_REGISTRAR_PORT;
    let mut keepalive_secs = 0;
    for field in data.split(' ').skip(1) {
        match field.split_once('=') {
            Some(("registrar", port)) => registrar_port = port.parse().unwrap_or(registrar_port),
            Some(("keepalive", secs)) => keepalive_secs = secs.parse().unwrap_or(0),
            _ => {}
        }
    }
    Notice::Welcome {
        registrar_port,
        keepalive_secs,
    }
}

/// `nat <public> <lan>` or `relay <port> <public> <lan>`.
fn peer(data: &str) -> Option<Notice> {
    let mut fields = data.split(' ');
    match fields.next()? {
        "nat" => Some(Notice::Punch {
            public: addresses(fields.next()?)?,
            lan: addresses(fields.next().unwrap_or("-"))?,
        }),
        "relay" => Some(Notice::Relay {
            port: fields.next()?.parse().ok()?,
        }),
        _ => None,
    }
}

/// `-` or comma-separated `ip:port` / `[ipv6]:port`, at most `MAX_CANDIDATES`.
fn addresses(list: &str) -> Option<Vec<SocketAddr>> {
    if list == "-" {
        return Some(Vec::new());
    }
    list.split(',')
        .take(super::MAX_CANDIDATES)
        .map(|a| {
            a.parse::<SocketAddr>()
                .ok()
                .map(rust_enet_net::canonical_addr)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::traversal::tests::addr;

    #[test]
    fn noray_lines() {
        assert_eq!(
            notice(b"set-oid 6fmf8pkXUHtOWCmxY2P3v"),
            Notice::Oid("6fmf8pkXUHtOWCmxY2P3v".into())
        );
        assert_eq!(notice(b"set-pid abc"), Notice::Pid("abc".into()));
        assert_eq!(
            notice(b"connect 127.0.0.1:38735"),
            Notice::Punch {
                public: vec![addr("127.0.0.1:38735")],
                lan: vec![]
            }
        );
        assert_eq!(
            notice(b"connect-relay 41003"),
            Notice::Relay { port: 41003 }
        );
        assert_eq!(notice(b"connect-relay x"), Notice::Other);
        assert_eq!(notice(b"echo hi"), Notice::Other);
        assert_eq!(notice(b"connect"), Notice::Other);
    }

    #[test]
    fn extension_lines() {
        assert_eq!(
            notice(b"rust_enet-welcome 1 registrar=18809 keepalive=20 ipv6=1 max-candidates=8"),
            Notice::Welcome {
                registrar_port: 18809,
                keepalive_secs: 20
            }
        );
        assert_eq!(
            notice(b"rust_enet-peer nat 203.0.113.5:4000,[2001:db8::5]:4000 192.168.1.5:4000"),
            Notice::Punch {
                public: vec![addr("203.0.113.5:4000"), addr("[2001:db8::5]:4000")],
                lan: vec![addr("192.168.1.5:4000")]
            }
        );
        assert_eq!(
            notice(b"rust_enet-peer relay 50000 203.0.113.5:4000 -"),
            Notice::Relay { port: 50000 }
        );
        assert_eq!(notice(b"rust_enet-peer nat bogus -"), Notice::Other);
        assert_eq!(
            notice(b"rust_enet-error unknown-oid no host has that id"),
            Notice::Error {
                code: "unknown-oid".into(),
                text: "no host has that id".into()
            }
        );
    }
}
