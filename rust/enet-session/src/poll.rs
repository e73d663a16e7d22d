//! One poll's worth of host events for each session mode: admission on the server, the
//! server's connection on a client, the links of a mesh.

use std::collections::VecDeque;
use std::time::Duration;

use rust_enet_net::{DtlsClientState, UdpHost};
use rust_enet_proto::{Event, PeerId};

use crate::admission::client_id;
use crate::events::{HostFailure, HostKey, Incoming, SessionEvent};
use crate::reason::LeaveReason;
use crate::remotes::{Remote, Remotes};
use crate::session::{Client, Inbox, Mesh, Server};

/// The next event of `udp`: one service pass when `service` is set, otherwise what is queued.
/// Draining the queue never sends (see `UdpHost::poll_queued_event`).
pub fn next_host_event(
    udp: &mut UdpHost,
    service: Option<Duration>,
) -> Result<Option<Event>, HostFailure> {
    let event = match service {
        Some(wait) => udp.service(wait).map_err(HostFailure::of_io)?,
        None => udp.poll_queued_event(),
    };
    if event.is_none() {
        match udp.dtls_client_state() {
            Some(DtlsClientState::Failed(reason)) => return Err(HostFailure::Dtls(reason)),
            Some(DtlsClientState::Closed) => {
                return Err(HostFailure::Dtls("the server closed the session".into()));
            }
            _ => {}
        }
    }
    Ok(event)
}

pub(crate) fn next_server_event(
    s: &mut Server,
    mut service: Option<Duration>,
    inbox: &mut Inbox,
) -> Option<SessionEvent> {
    let mut guard = s.host.lock();
    let udp = guard.as_mut()?;
    loop {
        let event = match next_host_event(udp, service.take()) {
            Ok(event) => event?,
            Err(failure) => return server_host_failed(&mut s.remotes, failure, &mut inbox.pending),
        };
        match event {
            Event::Connect { peer: slot, data } => {
                // Refused CONNECTs were answered by the host's filter (`Admission`) and never
                // get here, except a second CONNECT with an id that was still connecting when
                // it arrived: the same rules again, now that the first has its id, and a silent
                // reset, as Godot resets every refused one.
                match client_id(data).filter(|_| s.admission.admits(data)) {
                    Some(id) => {
                        let remote = Remote::of(udp, slot);
                        if let (Some(rendezvous), Some(address)) =
                            (&mut s.rendezvous, remote.address)
                        {
                            rendezvous.peer_connected(address);
                        }
                        s.remotes.insert(id, remote);
                        s.admission.insert(id);
                        return Some(SessionEvent::Connected {
                            id,
                            host: HostKey::Main,
                            slot,
                        });
                    }
                    None => udp.host_mut().reset_peer(slot),
                }
            }
            Event::Disconnect {
                peer: slot,
                data,
                reason,
            } => {
                let id = s.remotes.id_in(slot);
                let address = id
                    .and_then(|id| s.remotes.remove(id))
                    .and_then(|r| r.address);
                let left = SessionEvent::Disconnected {
                    id,
                    host: HostKey::Main,
                    slot,
                    reason: LeaveReason::from_core(reason, data),
                    address,
                };
                match id {
                    Some(id) if inbox.incoming.iter().any(|p| p.from == id) => {
                        s.leaving.push((id, left));
                    }
                    Some(id) => {
                        s.admission.remove(id);
                        return Some(left);
                    }
                    None => return Some(left),
                }
            }
            Event::Receive {
                peer: slot,
                channel,
                packet,
            } => {
                // A connection that was refused, or whose peer was removed: dropped.
                if let Some(from) = s.remotes.id_in(slot) {
                    inbox
                        .incoming
                        .push_back(Incoming::new(from, channel, packet));
                }
            }
        }
    }
}

/// The server's host failed: every client is gone with it, for the reason the host failed, and
/// the session ends.
fn server_host_failed(
    remotes: &mut Remotes,
    failure: HostFailure,
    pending: &mut VecDeque<SessionEvent>,
) -> Option<SessionEvent> {
    let reason = failure.reason();
    for (id, remote) in remotes.iter() {
        pending.push_back(SessionEvent::Disconnected {
            id: Some(id),
            host: HostKey::Main,
            slot: remote.slot,
            reason: reason.clone(),
            address: remote.address,
        });
    }
    *remotes = Remotes::default();
    pending.push_back(SessionEvent::Ended(Some(failure)));
    pending.pop_front()
}

pub(crate) fn next_client_event(
    c: &mut Client,
    mut service: Option<Duration>,
    inbox: &mut Inbox,
) -> Option<SessionEvent> {
    if c.ending || c.held.is_some() {
        return None;
    }
    let mut guard = c.host.lock();
    let udp = guard.as_mut()?;
    loop {
        let event = match next_host_event(udp, service.take()) {
            Ok(event) => event?,
            Err(failure) => {
                c.ending = true;
                return Some(SessionEvent::Ended(Some(failure)));
            }
        };
        match event {
            Event::Connect { peer: slot, .. } => {
                c.connected = true;
                return Some(SessionEvent::Connected {
                    id: 1,
                    host: HostKey::Main,
                    slot,
                });
            }
            Event::Disconnect {
                peer: slot,
                data,
                reason,
            } => {
                drop(guard);
                let reason = LeaveReason::from_core(reason, data);
                if !inbox.incoming.is_empty() {
                    c.held = Some((slot, reason));
                    return None;
                }
                let (left, ended) = server_left(c, slot, reason);
                inbox.pending.push_back(ended);
                return Some(left);
            }
            Event::Receive {
                peer: slot,
                channel,
                packet,
            } => {
                if c.server.is_some_and(|r| r.slot == slot) {
                    inbox.incoming.push_back(Incoming::new(1, channel, packet));
                }
            }
        }
    }
}

/// The client's connection to the server ended: the `Disconnected` event and the `Ended` that
/// follows it. Connected: `peer_disconnected(1)`, then the end; still connecting: the end only
/// (`connection_failed`, from the status change).
pub(crate) fn server_left(
    c: &mut Client,
    slot: PeerId,
    reason: LeaveReason,
) -> (SessionEvent, SessionEvent) {
    let id = c.connected.then_some(1);
    let address = c.server.take().and_then(|r| r.address);
    c.ending = true;
    let left = SessionEvent::Disconnected {
        id,
        host: HostKey::Main,
        slot,
        reason,
        address,
    };
    (left, SessionEvent::Ended(None))
}

/// Drains every mesh host: packets to the inbox, anyone but the link's peer turned away, and
/// links whose connection ended or whose host failed removed and reported (after all hosts).
pub(crate) fn poll_mesh(m: &mut Mesh, inbox: &mut Inbox) {
    // Links a script dropped (reset, `peer_disconnect_now`, a destroyed host) first.
    let gone: Vec<i32> = m
        .links
        .iter()
        .filter(|(_, (host, remote))| !host.is_active() || host.take_drops().contains(&remote.slot))
        .map(|(id, _)| *id)
        .collect();
    let gone = gone
        .into_iter()
        .map(|id| (id, LeaveReason::Kicked))
        .collect();
    remove_links(m, gone, &mut inbox.pending);
    let mut dropped = Vec::new();
    for (&id, (host, remote)) in &m.links {
        let mut guard = host.lock();
        let Some(udp) = guard.as_mut() else {
            dropped.push((id, LeaveReason::Kicked));
            continue;
        };
        let mut service = Some(Duration::ZERO);
        loop {
            let event = match next_host_event(udp, service.take()) {
                Ok(Some(event)) => event,
                Ok(None) => break,
                Err(failure) => {
                    dropped.push((id, failure.reason()));
                    break;
                }
            };
            match event {
                // A mesh host talks to exactly one peer.
                Event::Connect { peer: slot, .. } => udp.host_mut().reset_peer(slot),
                Event::Disconnect {
                    peer: slot,
                    data,
                    reason,
                } => {
                    let reason = LeaveReason::from_core(reason, data);
                    if slot == remote.slot {
                        dropped.push((id, reason));
                        break;
                    }
                    inbox.pending.push_back(SessionEvent::Disconnected {
                        id: None,
                        host: HostKey::Mesh(id),
                        slot,
                        reason,
                        address: None,
                    });
                }
                Event::Receive {
                    peer: slot,
                    channel,
                    packet,
                } => {
                    if slot == remote.slot {
                        inbox.incoming.push_back(Incoming::new(id, channel, packet));
                    }
                }
            }
        }
    }
    remove_links(m, dropped, &mut inbox.pending);
}

fn remove_links(m: &mut Mesh, ids: Vec<(i32, LeaveReason)>, pending: &mut VecDeque<SessionEvent>) {
    for (id, reason) in ids {
        if let Some((_, remote)) = m.links.remove(&id) {
            pending.push_back(SessionEvent::Disconnected {
                id: Some(id),
                host: HostKey::Mesh(id),
                slot: remote.slot,
                reason,
                address: remote.address,
            });
        }
    }
}
