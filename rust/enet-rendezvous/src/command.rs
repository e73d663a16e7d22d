//! Client → server lines: noray's commands and the `rust_enet-` extension.
//!
//! noray splits a line at its first space: the command is what comes before, the data is
//! the whole rest (spaces included); a line without a space is all command with empty data.
//! Commands are case-sensitive. Unknown commands stay representable so the server can ignore
//! them, as noray does.

/// `register-host`: create a host for this connection (reply `set-oid`, `set-pid`).
pub const REGISTER_HOST: &[u8] = b"register-host";
/// `connect <oid>`: NAT punch-through orchestration.
pub const CONNECT: &[u8] = b"connect";
/// `connect-relay <oid>`: relay orchestration.
pub const CONNECT_RELAY: &[u8] = b"connect-relay";
/// `echo <text>`: the server answers `echo <text>`.
pub const ECHO: &[u8] = b"echo";
/// `rust_enet-hello <version> [token]`: switch this connection to the extension.
pub const HELLO: &[u8] = b"rust_enet-hello";
/// `rust_enet-candidates <list>`: this party's self-reported (LAN) addresses.
pub const CANDIDATES: &[u8] = b"rust_enet-candidates";

/// One parsed client line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientCommand<'a> {
    /// `register-host` (any data is ignored, as noray does).
    RegisterHost,
    /// `connect <oid>`; the oid is the whole rest of the line.
    Connect {
        /// The host's oid as sent.
        oid: &'a [u8],
    },
    /// `connect-relay <oid>`; the oid is the whole rest of the line.
    ConnectRelay {
        /// The host's oid as sent.
        oid: &'a [u8],
    },
    /// `echo <text>`.
    Echo {
        /// Everything after `echo `, possibly empty.
        data: &'a [u8],
    },
    /// `rust_enet-hello <version> [token]`, fields not yet checked.
    Hello(Result<Hello<'a>, &'static str>),
    /// `rust_enet-candidates <list>`, the list not yet parsed.
    Candidates {
        /// The address list text (see [`crate::addr_list`]).
        list: &'a [u8],
    },
    /// Any other command: ignored by noray and by this server.
    Unknown {
        /// The command word.
        command: &'a [u8],
    },
}

/// The fields of a well-formed `rust_enet-hello`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hello<'a> {
    /// The highest extension version the client speaks (≥ 1).
    pub version: u32,
    /// The shared secret, if the client sent one.
    pub token: Option<&'a [u8]>,
}

/// Parses one non-empty line (terminator removed).
pub fn parse(line: &[u8]) -> ClientCommand<'_> {
    let (command, data) = match line.iter().position(|&b| b == b' ') {
        Some(space) => (&line[..space], &line[space + 1..]),
        None => (line, &line[line.len()..]),
    };
    match command {
        REGISTER_HOST => ClientCommand::RegisterHost,
        CONNECT => ClientCommand::Connect { oid: data },
        CONNECT_RELAY => ClientCommand::ConnectRelay { oid: data },
        ECHO => ClientCommand::Echo { data },
        HELLO => ClientCommand::Hello(parse_hello(data)),
        CANDIDATES => ClientCommand::Candidates { list: data },
        _ => ClientCommand::Unknown { command },
    }
}

fn parse_hello(data: &[u8]) -> Result<Hello<'_>, &'static str> {
    let mut fields = data.split(|&b| b == b' ');
    let version = fields.next().unwrap_or_default();
    let token = fields.next();
    if fields.next().is_some() {
        return Err("expected: rust_enet-hello <version> [token]");
    }
    let version = std::str::from_utf8(version)
        .ok()
        .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|v| v.parse::<u32>().ok())
        .filter(|&v| v >= 1)
        .ok_or("the version must be a decimal number ≥ 1")?;
    match token {
        Some([]) => Err("the token is empty"),
        token => Ok(Hello { version, token }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noray_commands_take_the_whole_rest_as_data() {
        assert_eq!(parse(b"register-host"), ClientCommand::RegisterHost);
        assert_eq!(parse(b"register-host junk"), ClientCommand::RegisterHost);
        assert_eq!(
            parse(b"connect abc def"),
            ClientCommand::Connect { oid: b"abc def" }
        );
        assert_eq!(parse(b"connect"), ClientCommand::Connect { oid: b"" });
        assert_eq!(
            parse(b"connect-relay X_-9"),
            ClientCommand::ConnectRelay { oid: b"X_-9" }
        );
        assert_eq!(
            parse(b"echo hello world"),
            ClientCommand::Echo {
                data: b"hello world"
            }
        );
        assert_eq!(parse(b"echo"), ClientCommand::Echo { data: b"" });
    }

    #[test]
    fn commands_are_case_sensitive_and_unknown_ones_survive() {
        assert_eq!(
            parse(b"Register-Host"),
            ClientCommand::Unknown {
                command: b"Register-Host"
            }
        );
        assert_eq!(
            parse(b" connect x"),
            ClientCommand::Unknown { command: b"" }
        );
        assert_eq!(
            parse(b"set-oid x"),
            ClientCommand::Unknown {
                command: b"set-oid"
            }
        );
    }

    #[test]
    fn hello_carries_a_version_and_an_optional_token() {
        assert_eq!(
            parse(b"rust_enet-hello 1"),
            ClientCommand::Hello(Ok(Hello {
                version: 1,
                token: None
            }))
        );
        assert_eq!(
            parse(b"rust_enet-hello 7 s3cret"),
            ClientCommand::Hello(Ok(Hello {
                version: 7,
                token: Some(b"s3cret")
            }))
        );
        for bad in [
            &b"rust_enet-hello"[..],
            b"rust_enet-hello 0",
            b"rust_enet-hello +1",
            b"rust_enet-hello x",
            b"rust_enet-hello 1 a b",
            b"rust_enet-hello 1 ",
            b"rust_enet-hello 99999999999",
        ] {
            assert!(
                matches!(parse(bad), ClientCommand::Hello(Err(_))),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn candidates_keep_their_list_text() {
        assert_eq!(
            parse(b"rust_enet-candidates 10.0.0.2:5,[::1]:6"),
            ClientCommand::Candidates {
                list: b"10.0.0.2:5,[::1]:6"
            }
        );
    }
}
