//! Command line and environment: every [`Config`] field as `--flag VALUE` (or `--flag=VALUE`)
//! and as `RUST_ENET_RENDEZVOUS_FLAG` (upper case, `-` as `_`). Flags beat the environment,
//! which beats the defaults.

use std::net::IpAddr;
use std::time::Duration;

use crate::config::{Config, parse_port_list};

/// Prefix of every environment variable.
pub const ENV_PREFIX: &str = "RUST_ENET_RENDEZVOUS_";

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cli {
    /// Serve with this configuration.
    Run(Box<Config>),
    /// Print this text and exit successfully (`--help`, `--version`).
    Print(String),
}

type Apply = fn(&mut Config, &str) -> Result<(), String>;

struct Opt {
    name: &'static str,
    /// Placeholder of the value; empty for a switch.
    value: &'static str,
    help: &'static str,
    apply: Apply,
    show: fn(&Config) -> String,
}

fn number<T: std::str::FromStr>(text: &str) -> Result<T, String> {
    text.trim()
        .parse()
        .map_err(|_| format!("'{text}' is not a non-negative whole number"))
}

fn secs(text: &str) -> Result<Duration, String> {
    number(text).map(Duration::from_secs)
}

fn switch(text: &str) -> Result<bool, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "" | "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(format!("'{text}' is not true or false")),
    }
}

/// An option that sets a field of [`Config`] with `parse` (`number` or `secs`), shown in
/// `--help` as the field itself or, for durations, `as_secs` of it.
macro_rules! field_opt {
    ($name:literal, $value:literal, $field:ident, $help:literal, $parse:ident $(, $show:ident)?) => {
        Opt {
            name: $name,
            value: $value,
            help: $help,
            apply: |c, v| {
                c.$field = $parse(v)?;
                Ok(())
            },
            show: |c| c.$field$(.$show())?.to_string(),
        }
    };
}

const OPTIONS: &[Opt] = &[
    Opt {
        name: "bind",
        value: "IP[,IP]",
        help: "addresses to serve on, at most one IPv4 and one IPv6 (IPv6 sockets are IPv6-only)",
        apply: |c, v| {
            c.bind = v
                .split(',')
                .map(|ip| {
                    ip.trim()
                        .parse::<IpAddr>()
                        .map_err(|_| format!("'{ip}' is not an IP address"))
                })
                .collect::<Result<_, _>>()?;
            c.ipv6_optional = false;
            Ok(())
        },
        show: |c| {
            let ips: Vec<String> = c.bind.iter().map(ToString::to_string).collect();
            ips.join(",")
        },
    },
    field_opt!(
        "tcp-port",
        "PORT",
        tcp_port,
        "TCP port of the line protocol (noray: 8890)",
        number
    ),
    field_opt!(
        "udp-port",
        "PORT",
        udp_port,
        "UDP registrar port (noray: 8809)",
        number
    ),
    Opt {
        name: "relay-ports",
        value: "LIST",
        help: "relay port pool, e.g. 49152-51200,60000+9; its size caps the relays",
        apply: |c, v| {
            c.relay_ports = parse_port_list(v).map_err(|e| e.to_string())?;
            Ok(())
        },
        show: |c| match (c.relay_ports.first(), c.relay_ports.last()) {
            (Some(first), Some(last)) if usize::from(last - first) + 1 == c.relay_ports.len() => {
                format!("{first}-{last}")
            }
            _ => format!("{} ports", c.relay_ports.len()),
        },
    },
    field_opt!(
        "max-tcp-clients",
        "N",
        max_tcp_clients,
        "TCP connections at once",
        number
    ),
    field_opt!(
        "max-clients-per-ip",
        "N",
        max_clients_per_ip,
        "TCP connections at once from one IP (0 = unlimited)",
        number
    ),
    field_opt!(
        "max-line-bytes",
        "N",
        max_line_bytes,
        "longest line a client may send; longer closes it",
        number
    ),
    field_opt!(
        "lines-per-sec",
        "N",
        lines_per_sec,
        "average lines per second a client may send; more closes it",
        number
    ),
    field_opt!(
        "line-burst",
        "N",
        line_burst,
        "lines a client may send at once",
        number
    ),
    field_opt!(
        "max-pending-output",
        "BYTES",
        max_pending_output,
        "output held for a client that does not read before it is closed",
        number
    ),
    field_opt!(
        "max-hosts",
        "N",
        max_hosts,
        "registered hosts at once",
        number
    ),
    field_opt!(
        "client-idle-secs",
        "SECS",
        client_idle,
        "a connection without a host is closed after this long without a line",
        secs,
        as_secs
    ),
    field_opt!(
        "host-idle-secs",
        "SECS",
        host_idle,
        "a host is closed after this long without a line or registrar datagram (0 = never)",
        secs,
        as_secs
    ),
    field_opt!(
        "relay-idle-secs",
        "SECS",
        relay_idle,
        "a relay is freed after this long without forwarding (noray: 30)",
        secs,
        as_secs
    ),
    field_opt!(
        "relay-lifetime-secs",
        "SECS",
        relay_lifetime,
        "a relay is freed this long after creation (0 = never; noray: 14400)",
        secs,
        as_secs
    ),
    field_opt!(
        "relay-rate-bytes-per-sec",
        "BYTES",
        relay_rate,
        "bytes per second one relay may send; excess is dropped (0 = unlimited; noray: 131072)",
        number
    ),
    field_opt!(
        "relay-burst-bytes",
        "BYTES",
        relay_burst,
        "bytes one relay may send at once",
        number
    ),
    field_opt!(
        "relay-global-rate-bytes-per-sec",
        "BYTES",
        relay_global_rate,
        "bytes per second all relays together may send (0 = unlimited)",
        number
    ),
    field_opt!(
        "max-relays-per-ip",
        "N",
        max_relays_per_ip,
        "relays for addresses of one IP (0 = unlimited)",
        number
    ),
    field_opt!(
        "relay-latch-quiet-secs",
        "SECS",
        relay_latch_quiet,
        "silence after which a relay follows its owner to a new port of the same IP (symmetric NAT)",
        secs,
        as_secs
    ),
    field_opt!(
        "max-candidates",
        "N",
        max_candidates,
        "LAN candidates an extended client may report",
        number
    ),
    field_opt!(
        "keepalive-secs",
        "SECS",
        keepalive,
        "registrar refresh interval recommended to extended clients",
        secs,
        as_secs
    ),
    Opt {
        name: "token",
        value: "TOKEN",
        help: "shared secret extended clients must send; plain noray clients are then refused \
               unless --allow-plain-noray (prefer the environment variable: flags show in ps)",
        apply: |c, v| {
            c.token = (!v.is_empty()).then(|| v.to_owned());
            Ok(())
        },
        show: |c| {
            if c.token.is_some() {
                "(set)".to_owned()
            } else {
                "none".to_owned()
            }
        },
    },
    Opt {
        name: "allow-plain-noray",
        value: "",
        help: "with --token, still serve unmodified noray clients",
        apply: |c, v| {
            c.allow_plain_noray = switch(v)?;
            Ok(())
        },
        show: |c| {
            if c.allow_plain_noray {
                "on".to_owned()
            } else {
                "off".to_owned()
            }
        },
    },
    Opt {
        name: "log-level",
        value: "LEVEL",
        help: "error, warn, info, debug or trace (to stderr)",
        apply: |c, v| {
            c.log_level = v.trim().to_ascii_lowercase();
            Ok(())
        },
        show: |c| c.log_level.clone(),
    },
];

fn env_name(option: &Opt) -> String {
    format!(
        "{ENV_PREFIX}{}",
        option.name.to_ascii_uppercase().replace('-', "_")
    )
}

/// The `--help` text, with the defaults of [`Config::default`].
pub fn help() -> String {
    let defaults = Config::default();
    let mut text = format!(
        "rust-enet-rendezvous {}: a noray-compatible rendezvous and relay server\n\n\
         usage: rust-enet-rendezvous [--flag VALUE]...\n\n\
         Every flag can also be set by its environment variable; flags win.\n\n",
        env!("CARGO_PKG_VERSION")
    );
    for option in OPTIONS {
        let flag = if option.value.is_empty() {
            format!("--{}", option.name)
        } else {
            format!("--{} {}", option.name, option.value)
        };
        text.push_str(&format!(
            "  {flag}\n      {}\n      default: {}; env: {}\n",
            option.help,
            (option.show)(&defaults),
            env_name(option)
        ));
    }
    text.push_str("  --help, --version\n");
    text
}

/// Builds the configuration from the defaults, then `env`, then `args` (without the program
/// name), and validates it.
pub fn parse(
    args: impl IntoIterator<Item = String>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Cli, String> {
    let mut config = Config::default();
    for option in OPTIONS {
        let name = env_name(option);
        if let Some(value) = env(&name) {
            (option.apply)(&mut config, &value).map_err(|e| format!("{name}: {e}"))?;
        }
    }
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => return Ok(Cli::Print(help())),
            "-V" | "--version" => {
                return Ok(Cli::Print(format!(
                    "rust-enet-rendezvous {}\n",
                    env!("CARGO_PKG_VERSION")
                )));
            }
            _ => {}
        }
        let (name, inline) = match arg.strip_prefix("--").map(|a| a.split_once('=')) {
            Some(Some((name, value))) => (name.to_owned(), Some(value.to_owned())),
            Some(None) => (arg[2..].to_owned(), None),
            None => return Err(format!("unexpected argument '{arg}' (see --help)")),
        };
        let option = OPTIONS
            .iter()
            .find(|o| o.name == name)
            .ok_or_else(|| format!("unknown flag --{name} (see --help)"))?;
        let value = match (inline, option.value.is_empty()) {
            (Some(value), _) => value,
            (None, true) => String::new(),
            (None, false) => args
                .next()
                .ok_or_else(|| format!("--{name} needs a value"))?,
        };
        (option.apply)(&mut config, &value).map_err(|e| format!("--{name}: {e}"))?;
    }
    config.validate().map_err(|e| e.to_string())?;
    Ok(Cli::Run(Box::new(config)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    fn run(cli: Result<Cli, String>) -> Config {
        match cli {
            Ok(Cli::Run(config)) => *config,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn no_flags_is_the_default() {
        assert_eq!(run(parse(args(&[]), |_| None)), Config::default());
    }

    #[test]
    fn flags_beat_environment_beats_defaults() {
        let env = |name: &str| match name {
            "RUST_ENET_RENDEZVOUS_TCP_PORT" => Some("7000".to_owned()),
            "RUST_ENET_RENDEZVOUS_UDP_PORT" => Some("7001".to_owned()),
            "RUST_ENET_RENDEZVOUS_TOKEN" => Some("abc".to_owned()),
            _ => None,
        };
        let config = run(parse(
            args(&[
                "--tcp-port",
                "9000",
                "--relay-ports=40000-40009",
                "--bind",
                "127.0.0.1",
                "--allow-plain-noray",
            ]),
            env,
        ));
        assert_eq!((config.tcp_port, config.udp_port), (9000, 7001));
        assert_eq!(config.relay_ports.len(), 10);
        assert_eq!(config.token.as_deref(), Some("abc"));
        assert!(config.allow_plain_noray && !config.ipv6_optional);
        assert_eq!(config.bind, vec!["127.0.0.1".parse::<IpAddr>().unwrap()]);
    }

    #[test]
    fn mistakes_are_reported() {
        assert!(
            parse(args(&["--tcp-port"]), |_| None)
                .unwrap_err()
                .contains("needs a value")
        );
        assert!(
            parse(args(&["--nope", "1"]), |_| None)
                .unwrap_err()
                .contains("unknown flag")
        );
        assert!(parse(args(&["--max-hosts", "-1"]), |_| None).is_err());
        assert!(parse(args(&["--max-hosts", "0"]), |_| None).is_err());
        assert!(parse(args(&["--bind", "1.2.3.4,5.6.7.8"]), |_| None).is_err());
    }

    #[test]
    fn help_lists_every_flag_with_its_default_and_variable() {
        let text = help();
        for option in OPTIONS {
            assert!(text.contains(&format!("--{}", option.name)));
            assert!(text.contains(&env_name(option)));
        }
        assert!(text.contains("default: 49152-51200; env: RUST_ENET_RENDEZVOUS_RELAY_PORTS"));
    }
}
