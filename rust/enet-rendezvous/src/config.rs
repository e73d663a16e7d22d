//! Every limit and address of the server, with the defaults the crate doc lists.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use thiserror::Error;

use crate::relay::RelayLimits;

/// Server configuration. [`Config::default`] is what the binary runs without flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Addresses the TCP listener, the registrar and the relay ports bind (default
    /// `0.0.0.0` and `::`, the IPv6 socket IPv6-only).
    pub bind: Vec<IpAddr>,
    /// When set, an IPv6 address of `bind` that cannot be bound (no IPv6 on the machine) is
    /// skipped with a warning instead of failing startup. Set for the default `bind`.
    pub ipv6_optional: bool,
    /// TCP port of the line protocol (noray: 8890). 0 picks one (tests).
    pub tcp_port: u16,
    /// UDP port of the registrar (noray: 8809), the same on every bind address. 0 picks one.
    pub udp_port: u16,
    /// The relay port pool (noray: 49152-51200). Its size is the maximum number of relays.
    pub relay_ports: Vec<u16>,
    /// TCP connections at once.
    pub max_tcp_clients: usize,
    /// TCP connections at once from one IP (0 = unlimited).
    pub max_clients_per_ip: usize,
    /// Longest line a client may send, in bytes; longer closes the connection.
    pub max_line_bytes: usize,
    /// Lines per second a client may send on average; past the burst the connection is closed.
    pub lines_per_sec: u64,
    /// Lines a client may send at once.
    pub line_burst: u64,
    /// Bytes waiting to be written to a client that does not read; past it, it is closed.
    pub max_pending_output: usize,
    /// Registered hosts at once.
    pub max_hosts: usize,
    /// A connection without a host is closed after this long without a line.
    pub client_idle: Duration,
    /// A connection with a host is closed after this long without a line or a registrar
    /// datagram from its host (zero = never, as noray).
    pub host_idle: Duration,
    /// A relay is freed after this long without forwarding (noray: 30 s, swept every 30 s).
    pub relay_idle: Duration,
    /// A relay is freed this long after its creation (zero = never; noray: 4 h, by crashing).
    pub relay_lifetime: Duration,
    /// Bytes per second one relay may send (noray: 128 KiB/s, by crashing). 0 = unlimited.
    pub relay_rate: u64,
    /// Bytes one relay may send at once before the rate applies.
    pub relay_burst: u64,
    /// Bytes per second all relays together may send. 0 = unlimited.
    pub relay_global_rate: u64,
    /// Relays whose address has the same IP (0 = unlimited).
    pub max_relays_per_ip: usize,
    /// Silence after which a relay's address may be latched by a new sender of the same IP.
    pub relay_latch_quiet: Duration,
    /// Candidates an extended client may report.
    pub max_candidates: usize,
    /// Registrar refresh interval recommended to extended clients.
    pub keepalive: Duration,
    /// Shared secret extended clients must present; see `allow_plain_noray` for the others.
    pub token: Option<String>,
    /// With a token set: still serve unmodified noray clients (they cannot present it).
    pub allow_plain_noray: bool,
    /// `error`, `warn`, `info`, `debug` or `trace`.
    pub log_level: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            bind: vec![
                IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            ],
            ipv6_optional: true,
            tcp_port: 8890,
            udp_port: 8809,
            relay_ports: (49152..=51200).collect(),
            max_tcp_clients: 1024,
            max_clients_per_ip: 64,
            max_line_bytes: 1024,
            lines_per_sec: 10,
            line_burst: 40,
            max_pending_output: 64 * 1024,
            max_hosts: 1024,
            client_idle: Duration::from_secs(60),
            host_idle: Duration::from_secs(4 * 3600),
            relay_idle: Duration::from_secs(30),
            relay_lifetime: Duration::from_secs(4 * 3600),
            relay_rate: 128 * 1024,
            relay_burst: 64 * 1024,
            relay_global_rate: 64 * 1024 * 1024,
            max_relays_per_ip: 64,
            relay_latch_quiet: Duration::from_secs(5),
            max_candidates: 8,
            keepalive: Duration::from_secs(20),
            token: None,
            allow_plain_noray: false,
            log_level: "info".to_owned(),
        }
    }
}

/// A configuration that cannot run.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConfigError {
    /// A value is out of its range.
    #[error("{0}")]
    Invalid(String),
}

impl Config {
    /// Checks the values that would make the server useless or unbounded.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |text: &str| Err(ConfigError::Invalid(text.to_owned()));
        if self.bind.is_empty() {
            return invalid("--bind needs at least one address");
        }
        if self.bind.iter().filter(|ip| ip.is_ipv4()).count() > 1
            || self.bind.iter().filter(|ip| ip.is_ipv6()).count() > 1
        {
            // Relays answer from the socket of the target's family; two of one family would
            // leave it ambiguous which address a client's NAT expects the answer from.
            return invalid("--bind takes at most one IPv4 and one IPv6 address");
        }
        for (value, name) in [
            (self.max_tcp_clients, "--max-tcp-clients"),
            (self.max_hosts, "--max-hosts"),
            (self.max_pending_output, "--max-pending-output"),
        ] {
            if value == 0 {
                return Err(ConfigError::Invalid(format!("{name} must be at least 1")));
            }
        }
        if self.max_line_bytes < 64 {
            return invalid("--max-line-bytes must be at least 64 (register-host, connect <oid>)");
        }
        if self.lines_per_sec == 0 || self.line_burst == 0 {
            return invalid("--lines-per-sec and --line-burst must be at least 1");
        }
        if self.client_idle.is_zero() || self.relay_idle.is_zero() || self.keepalive.is_zero() {
            return invalid(
                "--client-idle-secs, --relay-idle-secs and --keepalive-secs must be at least 1",
            );
        }
        let bad_token =
            |t: &String| t.is_empty() || t.len() > 256 || t.bytes().any(|b| !b.is_ascii_graphic());
        if self.token.as_ref().is_some_and(bad_token) {
            return invalid("--token must be 1 to 256 printable ASCII characters without spaces");
        }
        if !["error", "warn", "info", "debug", "trace"].contains(&self.log_level.as_str()) {
            return invalid("--log-level must be error, warn, info, debug or trace");
        }
        Ok(())
    }

    /// The relay part of the configuration.
    pub fn relay_limits(&self) -> RelayLimits {
        RelayLimits {
            idle: self.relay_idle,
            lifetime: self.relay_lifetime,
            rate: self.relay_rate,
            burst: self.relay_burst,
            global_rate: self.relay_global_rate,
            max_per_ip: self.max_relays_per_ip,
            latch_quiet: self.relay_latch_quiet,
        }
    }
}

/// Parses noray's relay port list: `2048`, `2048-2051`, `2048+3`, comma-separated.
/// Returns the ports sorted and deduplicated.
pub fn parse_port_list(text: &str) -> Result<Vec<u16>, ConfigError> {
    let bad = || {
        ConfigError::Invalid(format!(
            "'{text}' is not a port list like 49152-51200,60000+9"
        ))
    };
    let port = |s: &str| {
        s.trim()
            .parse::<u16>()
            .ok()
            .filter(|&p| p != 0)
            .ok_or_else(bad)
    };
    let mut ports = Vec::new();
    for item in text.split(',').filter(|s| !s.trim().is_empty()) {
        let (first, last) = if let Some((a, b)) = item.split_once('-') {
            (port(a)?, port(b)?)
        } else if let Some((a, n)) = item.split_once('+') {
            let first = port(a)?;
            let count: u16 = n.trim().parse().map_err(|_| bad())?;
            (first, first.checked_add(count).ok_or_else(bad)?)
        } else {
            let p = port(item)?;
            (p, p)
        };
        if first > last {
            return Err(bad());
        }
        ports.extend(first..=last);
    }
    ports.sort_unstable();
    ports.dedup();
    if ports.is_empty() {
        return Err(bad());
    }
    Ok(ports)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_match_noray_where_noray_has_one() {
        let config = Config::default();
        config.validate().unwrap();
        assert_eq!((config.tcp_port, config.udp_port), (8890, 8809));
        assert_eq!(config.relay_ports.len(), 2049);
        assert_eq!(config.relay_idle, Duration::from_secs(30));
        assert_eq!(config.relay_rate, 131_072);
    }

    #[test]
    fn port_lists_take_noray_forms() {
        assert_eq!(parse_port_list("2048").unwrap(), vec![2048]);
        assert_eq!(
            parse_port_list("2048-2050").unwrap(),
            vec![2048, 2049, 2050]
        );
        assert_eq!(
            parse_port_list("2048+2, 9000,2049").unwrap(),
            vec![2048, 2049, 2050, 9000]
        );
        for bad in ["", "0", "5-4", "x", "65535+1", "1-70000"] {
            assert!(parse_port_list(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tokens_with_spaces_are_refused() {
        let config = Config {
            token: Some("a b".to_owned()),
            ..Config::default()
        };
        assert!(config.validate().is_err());
    }
}
