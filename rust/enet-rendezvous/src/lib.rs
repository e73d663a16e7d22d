//! A rendezvous and relay server for NAT traversal of Godot games, compatible with
//! [noray](https://github.com/foxssake/noray) 1.4 and netfox.noray clients, plus a
//! `rust_enet-` extension that unmodified noray clients never see.
//!
//! # Layers
//! - [`Server`]: the whole protocol as a sans-IO state machine (TCP lines, hosts, the UDP
//!   registrar, relays, limits, timers); time is an argument and id randomness is injected.
//!   Its doc states how to drive it.
//! - [`Driver`]: one `mio` readiness loop over the TCP listeners, the clients, the registrar and
//!   the relay sockets. `mio` because a relay server watches thousands of sockets: std would
//!   need a thread per socket or a polling tick, and an async runtime would bring far more code
//!   than one loop needs. `socket2` sets `IPV6_V6ONLY`/`SO_REUSEADDR` before bind; `getrandom`
//!   supplies id entropy as nanoid's crypto RNG does for noray.
//! - The binary `rust-enet-rendezvous` ([`cli`] + [`log::StderrLog`] + [`Driver`]).
//!
//! # noray's protocol, as served here
//! TCP (default port 8890), UTF-8 lines ending in `\n`, `\r\n` or `\r`. A line is split at its
//! first space into a command and the whole rest as data. Unknown commands and empty lines are
//! ignored; a failed command gets **no** reply (noray only logs it).
//!
//! | client sends | server answers |
//! |---|---|
//! | `register-host` | `set-oid <oid>` then `set-pid <pid>` (21 and 128 chars of `A-Za-z0-9_-`) |
//! | `connect <oid>` | joiner first, then host: `connect <ip>:<port>`, each the other's registered address |
//! | `connect-relay <oid>` | joiner first, then host: `connect-relay <port>`, the relay port leading to the other |
//! | `echo <text>` | `echo <text>` |
//!
//! UDP registrar (default port 8809, IPv4 and IPv6): a datagram whose payload is exactly a pid
//! registers its source address for that host and is answered `OK`; anything else is answered
//! `Unknown host pid!` if the datagram is at least that long (17 bytes), and not at all
//! otherwise, so the registrar never sends more bytes than it received.
//!
//! `connect` and `connect-relay` need both parties to have sent `register-host` on their own
//! connection and to have registered over UDP. Relays are allocated as noray does: one port
//! per registered public address, the highest free port of the pool first; repeated
//! `connect-relay` returns the same ports; a host serving N joiners has one relay port.
//!
//! ## Where this server differs (noray's bugs and gaps, invisible to a working client)
//! - Relays forward only between the two relays a `connect-relay` linked, one datagram out
//!   per datagram in, unchanged: never an amplifier. Datagrams over the per-relay or the
//!   global byte rate are dropped (noray crashes). Unknown senders get no port of their own
//!   (noray binds a random port outside the pool for them); instead a relay *latches* onto a
//!   new source port of its owner's IP, which is what a symmetric NAT produces (see
//!   [`relay`]). Relays expire exactly at their idle or lifetime deadline.
//! - A repeated registrar datagram from a new source address replaces the old address
//!   (noray keeps the first, so a client that re-registers from a new port is unreachable).
//! - A repeated `register-host` on one connection answers the same oid and pid again.
//! - Limits exist ([`Config`]): connections (total and per IP), line length and rate, output
//!   queued for a client that does not read, hosts, relays per IP, idle connections.
//! - With a token set, unmodified clients are refused unless `--allow-plain-noray`.
//!
//! # The `rust_enet-` extension (version 1)
//! An extended client opts in by sending `rust_enet-hello`; noray ignores unknown commands, so
//! the same client still works against a real noray server, and the server sends extension
//! lines only to clients that said hello. All lines use noray's framing. Addresses are written
//! `a.b.c.d:port` or `[v6]:port` (Rust's `SocketAddr` form; `[v6%scope]:port` with a numeric
//! scope is accepted); a *list* is comma-separated addresses without spaces, or `-` when empty.
//!
//! ## Client → server
//! - `rust_enet-hello <version> [<token>]`: `<version>` is the highest extension version the
//!   client speaks (decimal, ≥ 1); `<token>` is the shared secret (printable ASCII, no spaces)
//!   when the server requires one, and is ignored otherwise. May be sent at any time; the first
//!   line is best. Answers (in order with everything else on the connection):
//!   - `rust_enet-welcome <version> registrar=<udp-port> keepalive=<secs> ipv6=<0|1> max-candidates=<n>`:
//!     `<version>` = min(client's, server's); the registrar port is the same on IPv4 and
//!     IPv6; `ipv6=1` when the registrar and the relays also listen on IPv6. Clients must
//!     ignore `key=value` fields they do not know (later versions may add some);
//!   - `rust_enet-error unauthorized <text>`, then the server closes the connection: missing or
//!     wrong token;
//!   - `rust_enet-error bad-request <text>`: malformed hello (and, with a token required and
//!     the client not yet accepted, the connection is closed).
//!
//!   **Detecting a plain noray server:** send `rust_enet-hello 1 [token]` followed by
//!   `echo rust_enet-probe`. This server answers the hello before the echo; noray answers only
//!   the echo. A client that sees `echo rust_enet-probe` first speaks plain noray from then on.
//! - `rust_enet-candidates <list>`: this party's self-reported addresses (the game socket's
//!   LAN addresses and port, IPv4 and IPv6), at most `max-candidates`, none with port 0 or an
//!   unspecified IP. Replaces the previous list; `-` clears it. Send it before `connect` /
//!   `connect-relay` (joiner) or right after `register-host` (host). A bad list is answered
//!   `rust_enet-error bad-request <text>` and the old list is kept. Ignored before hello.
//!
//! The noray commands are unchanged. For an extended client a failed `register-host`,
//! `connect` or `connect-relay` is answered `rust_enet-error <code> <text>` where `<code>` is
//! one of `host-limit`, `unknown-oid`, `host-not-registered`, `no-host`, `not-registered`,
//! `relay-unavailable`, `internal` (text is for humans). Plain clients hear nothing, as from noray.
//!
//! ## Server → client
//! - `rust_enet-registered <addr>`: sent when the registrar records a new public address for
//!   this client's host (first registration of a family, or a change), not on refreshes from
//!   the same address. This is the address as seen from the server (STUN-like).
//! - `rust_enet-peer nat <public-list> <lan-list>`: on `connect`, sent to each extended party
//!   immediately before its `connect <addr>` line; it describes the other party: its registered
//!   public addresses (IPv4 first) and its candidates. The `connect` line follows only if both
//!   parties registered a common family (IPv4 preferred, IPv6 as `connect [v6]:port`); with no
//!   common family the `rust_enet-peer` line is all the extended party gets.
//! - `rust_enet-peer relay <port> <public-list> <lan-list>`: on `connect-relay`, immediately
//!   before `connect-relay <port>` (same port). The relay is reached at the server's address
//!   the client used for TCP, on either family: every relay port listens on IPv4 and IPv6.
//!
//! ## Public addresses, IPv6 and keepalive
//! Send the pid to the registrar (the welcome's port) from the game socket, on the server's
//! IPv4 address and, when `ipv6=1` and the game socket can, on its IPv6 address: the host then
//! has one public address per family. `connect` tells each side the other's address of a family
//! both registered; a relay serves a party's IPv4 address if it has one, else its IPv6 one.
//! **Keepalive:** repeat the registrar datagram from the game socket every `keepalive` seconds
//! while hosting or waiting to connect. Each is answered `OK` (2 bytes; ENet ignores datagrams
//! that short, but a non-ENet socket must skip it), keeps the NAT mapping open, updates the
//! address if the mapping changed, and resets the host's idle timer (`--host-idle-secs`). TCP
//! lines (e.g. `echo`) also reset it.
//!
//! ## Token policy
//! With `--token` set, an extended client must present it in `rust_enet-hello`; any other
//! command before a successful hello closes the connection, so unmodified noray clients are
//! refused (their connection closes on `register-host`). `--allow-plain-noray` serves them
//! anyway (they cannot present a token); a wrong token is still refused. The token is a shared
//! secret for private deployments, sent in clear text: it keeps strangers off a server, it does
//! not protect traffic.
//!
//! # Configuration
//! Flags and environment variables (`RUST_ENET_RENDEZVOUS_<FLAG>`), listed with their defaults
//! by `--help` ([`cli::help`]):
//!
//! | flag | default | meaning |
//! |---|---|---|
//! | `--bind` | `0.0.0.0,::` | at most one IPv4 and one IPv6 address (IPv6 skipped with a warning if the default can't bind) |
//! | `--tcp-port` | 8890 | line protocol |
//! | `--udp-port` | 8809 | registrar |
//! | `--relay-ports` | `49152-51200` | relay pool (noray's forms `a`, `a-b`, `a+n`, comma-separated); bound on demand |
//! | `--max-tcp-clients` | 1024 | connections at once |
//! | `--max-clients-per-ip` | 64 | connections from one IP (0 = unlimited) |
//! | `--max-line-bytes` | 1024 | longer lines close the connection |
//! | `--lines-per-sec` / `--line-burst` | 10 / 40 | faster senders are closed |
//! | `--max-pending-output` | 65536 | bytes held for a client that does not read |
//! | `--max-hosts` | 1024 | registered hosts |
//! | `--client-idle-secs` | 60 | connection without a host, no line |
//! | `--host-idle-secs` | 14400 | connection with a host, no line or registrar datagram (0 = never) |
//! | `--relay-idle-secs` | 30 | relay without forwarded traffic |
//! | `--relay-lifetime-secs` | 14400 | relay age (0 = never) |
//! | `--relay-rate-bytes-per-sec` / `--relay-burst-bytes` | 131072 / 65536 | per relay, on what it sends for its owner |
//! | `--relay-global-rate-bytes-per-sec` | 67108864 | all relays (0 = unlimited) |
//! | `--max-relays-per-ip` | 64 | relays for one IP (0 = unlimited) |
//! | `--relay-latch-quiet-secs` | 5 | silence before a relay may latch a new source port |
//! | `--max-candidates` | 8 | extension candidates per client |
//! | `--keepalive-secs` | 20 | advertised registrar refresh interval |
//! | `--token` | none | shared secret |
//! | `--allow-plain-noray` | off | serve unmodified clients despite a token |
//! | `--log-level` | info | stderr log |
//!
//! The worst case holds `max-tcp-clients + relay ports × families` sockets; the driver warns at
//! startup when the open-files limit is lower.
#![forbid(unsafe_code)]

pub mod addr_list;
pub mod cli;
pub mod command;
mod config;
mod deadlines;
mod driver;
pub mod hosts;
pub mod id;
pub mod line;
pub mod log;
pub mod rate;
pub mod relay;
pub mod reply;
mod server;
#[cfg(test)]
mod testing;

pub use config::{Config, ConfigError, parse_port_list};
pub use driver::{BoundAddrs, Driver, StopHandle};
pub use hosts::ClientId;
pub use server::{Listening, REGISTRAR_OK, REGISTRAR_UNKNOWN, Server, Transmit};
