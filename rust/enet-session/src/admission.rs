//! Which CONNECTs a `RustENetPeer` server takes: Godot's admission rules, decided when the
//! CONNECT arrives (a [`ConnectFilter`] on the server's host) instead of after the handshake, so
//! a refused client is answered at once and fails within a round trip (`connection_failed`)
//! rather than reporting `connected_to_server` and timing out (godot#28740).
//!
//! Godot's rules: the CONNECT data is the client's peer id, which must be a valid client id
//! (2..=2^31-1) that no connected peer has, and the server must not be refusing new
//! connections. Driven by `RustENetPeer`: [`Admission::insert`] / [`Admission::remove`] as peers
//! come and go, [`Admission::set_refusing`] from `refuse_new_connections`. The filter may run on
//! whatever thread services the host, so the state sits behind a lock.

use std::collections::HashSet;
use std::sync::Arc;

use parking_lot::Mutex;
use rust_enet_proto::ConnectFilter;

/// The client id a CONNECT's data names, if it is a valid one (ids 0 and 1 are "everyone" and
/// the server; ids above 2^31-1 would turn negative in Godot).
pub fn client_id(data: u32) -> Option<i32> {
    i32::try_from(data).ok().filter(|id| *id >= 2)
}

/// A server's admission state, shared with the filter on its host.
#[derive(Debug, Default)]
pub struct Admission {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    refusing: bool,
    ids: HashSet<i32>,
}

impl Admission {
    pub fn new() -> Arc<Admission> {
        Arc::new(Admission::default())
    }

    /// Whether a CONNECT carrying `data` is taken.
    pub fn admits(&self, data: u32) -> bool {
        let state = self.state.lock();
        !state.refusing && client_id(data).is_some_and(|id| !state.ids.contains(&id))
    }

    pub fn set_refusing(&self, refusing: bool) {
        self.state.lock().refusing = refusing;
    }

    /// `id` is connected: another CONNECT with it is refused.
    pub fn insert(&self, id: i32) {
        self.state.lock().ids.insert(id);
    }

    /// `id` left: it may connect again.
    pub fn remove(&self, id: i32) {
        self.state.lock().ids.remove(&id);
    }

    /// The filter to install on the server's host.
    pub fn filter(self: &Arc<Self>) -> ConnectFilter {
        let admission = Arc::clone(self);
        Box::new(move |_, data| admission.admits(data))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_unused_ids_are_admitted_until_refusing() {
        let admission = Admission::new();
        let mut filter = admission.filter();
        let from = "127.0.0.1:9".parse().unwrap();
        for refused in [0u32, 1, 0x8000_0000, u32::MAX] {
            assert!(!filter(from, refused), "{refused}");
        }
        assert!(filter(from, 2));
        assert!(filter(from, i32::MAX as u32));
        admission.insert(7);
        assert!(!filter(from, 7), "an id in use");
        admission.remove(7);
        assert!(filter(from, 7));
        admission.set_refusing(true);
        assert!(!filter(from, 8));
        admission.set_refusing(false);
        assert!(filter(from, 8));
    }

    #[test]
    fn client_ids_are_two_to_i32_max() {
        assert_eq!(client_id(2), Some(2));
        assert_eq!(client_id(1), None);
        assert_eq!(client_id(0x7FFF_FFFF), Some(i32::MAX));
        assert_eq!(client_id(0x8000_0000), None);
    }
}
