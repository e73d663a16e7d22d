//! Building and reading the `Event`s the integration tests expect, so that an assertion on an
//! event fits on a line.

#![allow(dead_code)]

use rust_enet_proto::{DisconnectReason, Event, PeerId};

/// The CONNECT event of `peer` with `data`.
pub fn connect(peer: PeerId, data: u32) -> Event {
    Event::Connect { peer, data }
}

/// The DISCONNECT event of `peer` with `data`, for `reason`.
pub fn disconnect(peer: PeerId, data: u32, reason: DisconnectReason) -> Event {
    Event::Disconnect { peer, data, reason }
}

/// The reason of a DISCONNECT event; `None` for any other event.
pub fn disconnect_reason(event: &Event) -> Option<DisconnectReason> {
    match event {
        Event::Disconnect { reason, .. } => Some(*reason),
        _ => None,
    }
}
