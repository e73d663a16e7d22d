//! Test doubles shared by the unit tests.

use std::collections::BTreeSet;

use crate::relay::RelayPorts;

/// Relay ports that only remember which are open; some may be marked unbindable.
#[derive(Debug, Default)]
pub struct FakePorts {
    pub open: BTreeSet<u16>,
    pub unbindable: BTreeSet<u16>,
}

impl RelayPorts for FakePorts {
    fn open(&mut self, port: u16) -> bool {
        if self.unbindable.contains(&port) {
            return false;
        }
        assert!(self.open.insert(port), "port {port} opened twice");
        true
    }

    fn close(&mut self, port: u16) {
        assert!(self.open.remove(&port), "port {port} closed but not open");
    }
}
