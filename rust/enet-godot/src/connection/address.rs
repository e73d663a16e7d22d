//! Addresses from scripts: bind addresses and host names, resolved to every address a name has
//! (the families interleaved, the resolver's first choice first).

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};

use rust_enet_net::BindAddress;

/// Parses a Godot bind address: `"*"` is every interface, anything else must be an IP literal.
pub(crate) fn parse_bind_address(text: &str) -> Option<BindAddress> {
    if text == "*" {
        return Some(BindAddress::Wildcard);
    }
    text.parse::<IpAddr>().ok().map(BindAddress::Ip)
}

/// Resolves `address:port` like Godot's `IP::resolve_hostname` (blocking, first result).
pub(crate) fn resolve(address: &str, port: u16) -> Option<SocketAddr> {
    resolve_all(address, port).into_iter().next()
}

/// Every address `address:port` resolves to (blocking), in the order to try them: the
/// resolver's order (RFC 6724, e.g. `::1` before `127.0.0.1` for `localhost`) with the two
/// families interleaved from the first one on, as RFC 8305 section 4 asks. An IP literal is
/// itself.
pub(crate) fn resolve_all(address: &str, port: u16) -> Vec<SocketAddr> {
    if let Ok(ip) = address.parse::<IpAddr>() {
        return vec![SocketAddr::new(ip, port)];
    }
    let Ok(found) = (address, port).to_socket_addrs() else {
        return Vec::new();
    };
    let mut unique: Vec<SocketAddr> = Vec::new();
    for addr in found {
        if !unique.contains(&addr) {
            unique.push(addr);
        }
    }
    interleave_families(unique)
}

/// Reorders `addresses` so the families alternate, starting with the first one's, keeping each
/// family's own order.
fn interleave_families(addresses: Vec<SocketAddr>) -> Vec<SocketAddr> {
    let Some(first) = addresses.first() else {
        return addresses;
    };
    let first_is_v6 = first.is_ipv6();
    let (mut preferred, mut other): (VecDeque<SocketAddr>, VecDeque<SocketAddr>) =
        addresses.iter().partition(|a| a.is_ipv6() == first_is_v6);
    let mut out = Vec::with_capacity(addresses.len());
    loop {
        match (preferred.pop_front(), other.pop_front()) {
            (None, None) => return out,
            (a, b) => out.extend(a.into_iter().chain(b)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{SocketAddr, interleave_families, resolve_all};

    fn addrs(list: &[&str]) -> Vec<SocketAddr> {
        list.iter().map(|a| a.parse().unwrap()).collect()
    }

    #[test]
    fn families_alternate_from_the_resolvers_first_choice() {
        let resolved = addrs(&["[::1]:7", "[::2]:7", "[::3]:7", "127.0.0.1:7", "10.0.0.1:7"]);
        assert_eq!(
            interleave_families(resolved),
            addrs(&["[::1]:7", "127.0.0.1:7", "[::2]:7", "10.0.0.1:7", "[::3]:7"])
        );
        let resolved = addrs(&["127.0.0.1:7", "[::1]:7"]);
        assert_eq!(interleave_families(resolved.clone()), resolved);
        assert!(interleave_families(Vec::new()).is_empty());
    }

    #[test]
    fn ip_literals_resolve_to_themselves() {
        assert_eq!(resolve_all("::1", 9), addrs(&["[::1]:9"]));
        assert_eq!(resolve_all("127.0.0.1", 9), addrs(&["127.0.0.1:9"]));
    }
}
