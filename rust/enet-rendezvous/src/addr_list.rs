//! The address lists of the extension lines: `-` or comma-separated socket addresses.
//!
//! An address is Rust's (and RFC 3986's) text form: `a.b.c.d:port` for IPv4 and
//! `[v6]:port` (optionally `[v6%scope]:port`, scope a number) for IPv6. IPv4-mapped IPv6
//! addresses are stored as IPv4, so a peer never sees the same host in two spellings.

use std::net::SocketAddr;

use thiserror::Error;

/// The spelling of an empty list.
pub const EMPTY_LIST: &str = "-";

/// Why an address list was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AddrListError {
    /// An entry is not `ip:port` / `[ip]:port`.
    #[error("'{0}' is not ip:port or [ipv6]:port")]
    Malformed(String),
    /// An entry has port 0 or the unspecified address, which nobody can send to.
    #[error("'{0}' cannot be sent to")]
    Unusable(String),
    /// More entries than the server accepts.
    #[error("more than {0} addresses")]
    TooMany(usize),
}

/// An IPv4-mapped IPv6 address as IPv4; anything else unchanged.
pub fn canonical(addr: SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(v4.into(), v6.port()),
            // Keeps the scope id, which `SocketAddr::new` would drop.
            None => addr,
        },
        SocketAddr::V4(_) => addr,
    }
}

/// Parses `-`, the empty string, or `addr[,addr...]` with at most `max` entries.
/// Duplicates (after [`canonical`]) are kept once, in first-seen order.
pub fn parse(text: &str, max: usize) -> Result<Vec<SocketAddr>, AddrListError> {
    let text = text.trim();
    if text.is_empty() || text == EMPTY_LIST {
        return Ok(Vec::new());
    }
    let mut list = Vec::new();
    for entry in text.split(',') {
        let addr: SocketAddr = entry
            .parse()
            .map_err(|_| AddrListError::Malformed(entry.to_owned()))?;
        let addr = canonical(addr);
        if addr.port() == 0 || addr.ip().is_unspecified() {
            return Err(AddrListError::Unusable(entry.to_owned()));
        }
        if !list.contains(&addr) {
            if list.len() == max {
                return Err(AddrListError::TooMany(max));
            }
            list.push(addr);
        }
    }
    Ok(list)
}

/// Appends the list's wire form (`-` when empty) to `out`.
pub fn emit(list: &[SocketAddr], out: &mut String) {
    if list.is_empty() {
        out.push_str(EMPTY_LIST);
        return;
    }
    for (i, addr) in list.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&addr.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    #[test]
    fn both_families_round_trip() {
        let list = parse("192.168.1.10:5000,[fe80::1%3]:5001,[2001:db8::7]:9", 8).unwrap();
        assert_eq!(
            list,
            vec![
                addr("192.168.1.10:5000"),
                addr("[fe80::1%3]:5001"),
                addr("[2001:db8::7]:9")
            ]
        );
        let mut text = String::new();
        emit(&list, &mut text);
        assert_eq!(text, "192.168.1.10:5000,[fe80::1%3]:5001,[2001:db8::7]:9");
    }

    #[test]
    fn dash_and_nothing_are_the_empty_list() {
        assert_eq!(parse("-", 8).unwrap(), vec![]);
        assert_eq!(parse("", 8).unwrap(), vec![]);
        let mut text = String::new();
        emit(&[], &mut text);
        assert_eq!(text, "-");
    }

    #[test]
    fn mapped_ipv4_is_stored_as_ipv4_and_duplicates_collapse() {
        let list = parse("[::ffff:10.0.0.2]:7,10.0.0.2:7", 8).unwrap();
        assert_eq!(list, vec![addr("10.0.0.2:7")]);
    }

    #[test]
    fn bad_entries_are_refused() {
        assert!(matches!(
            parse("10.0.0.1", 8),
            Err(AddrListError::Malformed(_))
        ));
        assert!(matches!(
            parse("::1:5", 8),
            Err(AddrListError::Malformed(_))
        ));
        assert!(matches!(
            parse("10.0.0.1:0", 8),
            Err(AddrListError::Unusable(_))
        ));
        assert!(matches!(
            parse("0.0.0.0:5", 8),
            Err(AddrListError::Unusable(_))
        ));
        assert!(matches!(
            parse("10.0.0.1:1 10.0.0.1:2", 8),
            Err(AddrListError::Malformed(_))
        ));
        assert_eq!(
            parse("1.1.1.1:1,1.1.1.1:2", 1),
            Err(AddrListError::TooMany(1))
        );
    }
}
