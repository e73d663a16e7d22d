//! The multiplayer session behind `RustENetPeer`, without Godot: Godot's `ENetMultiplayerPeer`
//! rules over `rust_enet_net` hosts, tested by cargo over loopback.
//!
//! A [`Session`] is one of three [`Mode`]s. A server ([`Session::server`]) admits clients by the
//! id in their CONNECT data ([`Admission`]), is peer 1 and attributes every packet to the id of
//! its slot; a client ([`Session::client`]) talks to peer 1 only and is CONNECTING until the
//! handshake completes; a mesh ([`Session::mesh`]) has one host per remote peer, added with
//! [`Session::add_mesh_peer`], and turns away anyone else who connects to those hosts. The rest
//! is shared: the channel mapping and targets of [`mapping`], the queue of received packets and
//! [`FrameFlush`].
//!
//! Driving it, once per frame (what `RustENetPeer::poll` does):
//! 1. [`begin_poll`](Session::begin_poll): sends what is queued, notes connections a script
//!    dropped (reset, `peer_disconnect_now`, a destroyed host) and, in mesh mode, drains the
//!    hosts.
//! 2. [`next_event`](Session::next_event) until `None`, handling each [`SessionEvent`] before
//!    asking for the next: the first call services the host once (`Duration::ZERO`), later ones
//!    take what it queued. Signal handlers may send or close in between; after
//!    [`SessionEvent::Ended`] the caller closes the session.
//! 3. [`after_poll`](Session::after_poll): the acknowledgements of what the poll received leave
//!    now (`immediate`) or with the frame's flush, which the caller schedules when told to.
//!
//! Received packets wait in [`incoming`](Session::front_packet); [`put`](Session::put) queues
//! a packet for a [`Target`], leaving at once when `immediate` is set and otherwise with the
//! frame's flush ([`schedule_frame_flush`](Session::schedule_frame_flush), then
//! [`flush_all`](Session::flush_all)). [`close`](Session::close) drops every connection at once.

mod admission;
mod events;
pub(crate) mod mapping;
mod poll;
mod reason;
mod remotes;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rust_enet_net::UdpHost;
use rust_enet_proto::{Packet, PeerId, PeerState, SendError};

use crate::connection::SharedHost;
use crate::id_map::IdMap;
use crate::monitors::Snapshot;
use crate::stats::{self, Totals};
use admission::Admission;

pub(crate) use events::{
    AfterPoll, Disconnected, HostKey, Incoming, MeshError, PutError, SendFailure, SessionEvent,
    Status,
};
pub(crate) use mapping::{EnetChannel, Target, Transfer, UserChannel};
pub(crate) use poll::next_host_event;
use poll::{next_client_event, next_server_event, poll_mesh};
pub(crate) use reason::LeaveReason;
use remotes::{Remote, Remotes};

/// When what `put` queued and the acknowledgements of what a poll received leave: at once with
/// `immediate` (like Godot's peer: one datagram per packet), otherwise with one flush at the
/// end of the frame or with the next poll, whichever comes first (one datagram per connection
/// and frame).
#[derive(Debug, Default)]
pub(crate) struct FrameFlush {
    pub immediate: bool,
    /// A frame flush is due and the caller has been asked to schedule it.
    scheduled: bool,
}

#[derive(Debug)]
pub(crate) struct Server {
    host: SharedHost,
    admission: Arc<Admission>,
    remotes: Remotes,
}

#[derive(Debug)]
pub(crate) struct Client {
    host: SharedHost,
    unique_id: i32,
    /// The connection to peer 1; `None` once a script dropped it.
    server: Option<Remote>,
    connected: bool,
    /// The connection ended: `Ended` comes next.
    ending: bool,
    /// The server's disconnect (its slot and why), held back to the next poll because packets
    /// that came before it wait in `incoming`: SceneMultiplayer reads no packets once a poll
    /// leaves the peer disconnected. A service thread often gathers both for one poll.
    held: Option<(PeerId, LeaveReason)>,
}

#[derive(Debug)]
pub(crate) struct Mesh {
    unique_id: i32,
    links: IdMap<i32, (SharedHost, Remote)>,
}

/// The three ways a `RustENetPeer` can be active.
#[derive(Debug)]
pub(crate) enum Mode {
    Server(Server),
    Client(Client),
    Mesh(Mesh),
}

/// An active `RustENetPeer`'s connections and received packets; see the module doc for how to
/// drive it.
#[derive(Debug)]
pub(crate) struct Session {
    mode: Mode,
    incoming: VecDeque<Incoming>,
    /// Events found by `begin_poll`, handed out first by `next_event`.
    pending: VecDeque<SessionEvent>,
    /// This poll has serviced the main host.
    serviced: bool,
    pub frame: FrameFlush,
}

impl Session {
    fn new(mode: Mode) -> Session {
        Session {
            mode,
            incoming: VecDeque::new(),
            pending: VecDeque::new(),
            serviced: false,
            frame: FrameFlush::default(),
        }
    }

    /// A server on `host`, which gets Godot's admission rules as its CONNECT filter so refused
    /// clients are answered at once.
    pub(crate) fn server(host: SharedHost) -> Session {
        let admission = Admission::new();
        if let Some(udp) = host.lock().as_mut() {
            udp.host_mut().set_connect_filter(Some(admission.filter()));
        }
        Session::new(Mode::Server(Server {
            host,
            admission,
            remotes: Remotes::default(),
        }))
    }

    /// A client with id `unique_id` whose host is connecting to the server from `slot`.
    pub(crate) fn client(host: SharedHost, slot: PeerId, unique_id: i32) -> Session {
        let server = host.lock().as_ref().map(|udp| Remote::of(udp, slot));
        Session::new(Mode::Client(Client {
            host,
            unique_id,
            server,
            connected: false,
            ending: false,
            held: None,
        }))
    }

    /// A mesh member with id `unique_id` and no peers yet.
    pub(crate) fn mesh(unique_id: i32) -> Session {
        Session::new(Mode::Mesh(Mesh {
            unique_id,
            links: IdMap::default(),
        }))
    }

    pub(crate) fn mode(&self) -> &Mode {
        &self.mode
    }

    pub(crate) fn unique_id(&self) -> i32 {
        match &self.mode {
            Mode::Server(_) => 1,
            Mode::Client(c) => c.unique_id,
            Mode::Mesh(m) => m.unique_id,
        }
    }

    pub(crate) fn status(&self) -> Status {
        match &self.mode {
            Mode::Client(c) if !c.connected => Status::Connecting,
            _ => Status::Connected,
        }
    }

    /// Adds the remote peer `id`, reached through `host`'s one connected peer; returns its slot.
    pub(crate) fn add_mesh_peer(&mut self, id: i32, host: SharedHost) -> Result<PeerId, MeshError> {
        let Mode::Mesh(mesh) = &mut self.mode else {
            return Err(MeshError::NotMesh);
        };
        let remote = {
            let guard = host.lock();
            let udp = guard.as_ref().ok_or(MeshError::InvalidHost)?;
            let mut slots = udp.host().peers();
            match (slots.next(), slots.next()) {
                (Some((slot, peer)), None) if peer.state() == PeerState::Connected => {
                    Remote::of(udp, slot)
                }
                _ => return Err(MeshError::InvalidHost),
            }
        };
        mesh.links.insert(id, (host, remote));
        Ok(remote.slot)
    }

    /// The host and slot of the remote peer `id`.
    pub(crate) fn locate(&self, id: i32) -> Option<(HostKey, PeerId)> {
        match &self.mode {
            Mode::Server(s) => s.remotes.get(id).map(|r| (HostKey::Main, r.slot)),
            Mode::Client(c) => c
                .server
                .filter(|_| id == 1)
                .map(|r| (HostKey::Main, r.slot)),
            Mode::Mesh(m) => m.links.get(&id).map(|(_, r)| (HostKey::Mesh(id), r.slot)),
        }
    }

    fn has_peer(&self, id: i32) -> bool {
        self.locate(id).is_some()
    }

    /// A server's `refuse_new_connections`: CONNECTs are answered with a refusal while set.
    pub(crate) fn set_refusing(&self, refuse: bool) {
        if let Mode::Server(s) = &self.mode {
            s.admission.set_refusing(refuse);
        }
    }

    /// The next received packet, if any.
    pub(crate) fn front_packet(&self) -> Option<&Incoming> {
        self.incoming.front()
    }

    pub(crate) fn pop_packet(&mut self) -> Option<Incoming> {
        self.incoming.pop_front()
    }

    pub(crate) fn available_packets(&self) -> usize {
        self.incoming.len()
    }

    /// Step 1 of a poll (see the module doc).
    pub(crate) fn begin_poll(&mut self) -> Vec<io::Error> {
        let errors = if self.frame.scheduled {
            self.flush_all()
        } else {
            Vec::new()
        };
        self.serviced = false;
        match &mut self.mode {
            Mode::Server(s) => {
                let live = s.host.lock();
                let gone: Vec<(i32, Remote)> = s
                    .remotes
                    .iter()
                    .filter(|(_, r)| !live.as_ref().is_some_and(|udp| r.is_live(udp)))
                    .collect();
                drop(live);
                for (id, remote) in gone {
                    s.remotes.remove(id);
                    s.admission.remove(id);
                    self.pending.push_back(SessionEvent::Disconnected {
                        id: Some(id),
                        host: HostKey::Main,
                        slot: remote.slot,
                        reason: LeaveReason::Kicked,
                        address: remote.address,
                    });
                }
            }
            Mode::Client(c) => {
                if let Some((slot, reason)) = c.held.take() {
                    let (left, ended) = poll::server_left(c, slot, reason);
                    self.pending.extend([left, ended]);
                }
                if let Some(server) = c.server {
                    let live = c
                        .host
                        .lock()
                        .as_ref()
                        .is_some_and(|udp| server.is_live(udp));
                    if !live {
                        c.server = None;
                        self.pending.push_back(SessionEvent::Disconnected {
                            id: Some(1),
                            host: HostKey::Main,
                            slot: server.slot,
                            reason: LeaveReason::Kicked,
                            address: server.address,
                        });
                    }
                }
                if c.server.is_none() && !c.ending {
                    c.ending = true;
                    self.pending.push_back(SessionEvent::Ended(None));
                }
            }
            Mode::Mesh(m) => poll_mesh(m, &mut self.incoming, &mut self.pending),
        }
        errors
    }

    /// Step 2 of a poll (see the module doc).
    pub(crate) fn next_event(&mut self) -> Option<SessionEvent> {
        if let Some(event) = self.pending.pop_front() {
            return Some(event);
        }
        let service = if self.serviced {
            None
        } else {
            self.serviced = true;
            Some(Duration::ZERO)
        };
        match &mut self.mode {
            Mode::Server(s) => next_server_event(s, service, &mut self.incoming),
            Mode::Client(c) => next_client_event(c, service, &mut self.incoming, &mut self.pending),
            // Drained by `begin_poll`.
            Mode::Mesh(_) => None,
        }
    }

    /// Step 3 of a poll (see the module doc).
    pub(crate) fn after_poll(&mut self) -> (AfterPoll, Vec<io::Error>) {
        if self.frame.scheduled || !self.has_deferred_send() {
            return (AfterPoll::Nothing, Vec::new());
        }
        if self.frame.immediate {
            return (AfterPoll::Nothing, self.flush_all());
        }
        self.frame.scheduled = true;
        (AfterPoll::ScheduleFlush, Vec::new())
    }

    /// After `put` without `immediate`: whether the caller must schedule the frame's flush (the
    /// first queued send since the last flush).
    pub(crate) fn schedule_frame_flush(&mut self) -> bool {
        !std::mem::replace(&mut self.frame.scheduled, true)
    }

    /// Whether the frame's flush is still due (a poll or close may have done it already).
    pub(crate) fn frame_flush_due(&self) -> bool {
        self.frame.scheduled
    }

    /// Calls `f` with each of the session's hosts.
    fn each_host(&self, mut f: impl FnMut(&SharedHost)) {
        match &self.mode {
            Mode::Server(s) => f(&s.host),
            Mode::Client(c) => f(&c.host),
            Mode::Mesh(m) => m.links.values().for_each(|(host, _)| f(host)),
        }
    }

    /// Whether a host holds acknowledgements a service pass put off.
    pub(crate) fn has_deferred_send(&self) -> bool {
        let mut deferred = false;
        self.each_host(|h| {
            deferred = deferred || h.lock().as_ref().is_some_and(UdpHost::has_deferred_send);
        });
        deferred
    }

    /// Sends everything queued on every host; the frame's flush is done.
    pub(crate) fn flush_all(&mut self) -> Vec<io::Error> {
        self.frame.scheduled = false;
        let mut errors = Vec::new();
        self.each_host(|host| {
            if let Some(udp) = host.lock().as_mut()
                && let Err(e) = udp.flush()
            {
                errors.push(e);
            }
        });
        errors
    }

    /// Queues `data` for `target` (see the module doc). Per-peer failures go to `failed`; the
    /// other peers still get the packet, as in Godot.
    pub(crate) fn put(
        &mut self,
        target: Target,
        transfer: Transfer,
        channel: UserChannel,
        data: Bytes,
        failed: &mut dyn FnMut(SendFailure),
    ) -> Result<(), PutError> {
        if self.status() != Status::Connected {
            return Err(PutError::NotConnected);
        }
        if target.named().is_some_and(|id| !self.has_peer(id)) {
            return Err(PutError::InvalidTarget);
        }
        if matches!(&self.mode, Mode::Client(c) if c.server.is_none()) {
            return Err(PutError::NoServerPeer);
        }
        let EnetChannel(enet) = channel
            .to_enet(transfer)
            .ok_or(PutError::ChannelOutOfRange)?;
        let packet = Packet::new(data, transfer.flags());
        let immediate = self.frame.immediate;
        match &mut self.mode {
            Mode::Server(s) => {
                let mut guard = s.host.lock();
                let Some(udp) = guard.as_mut() else {
                    failed(SendFailure::HostDestroyed);
                    return Ok(());
                };
                if target == Target::Broadcast {
                    udp.host_mut().broadcast(enet, packet);
                } else {
                    for (id, remote) in s.remotes.iter() {
                        if target.selects(id)
                            && let Some(f) = send_one(udp, remote, enet, packet.clone())
                        {
                            failed(f);
                        }
                    }
                }
                flush_if(udp, immediate, failed);
            }
            Mode::Client(c) => {
                let mut guard = c.host.lock();
                let Some(udp) = guard.as_mut() else {
                    failed(SendFailure::HostDestroyed);
                    return Ok(());
                };
                if let Some(server) = c.server
                    && let Some(f) = send_one(udp, server, enet, packet)
                {
                    failed(f);
                }
                flush_if(udp, immediate, failed);
            }
            Mode::Mesh(m) => {
                for (&id, (host, remote)) in &m.links {
                    if !target.selects(id) {
                        continue;
                    }
                    let mut guard = host.lock();
                    let Some(udp) = guard.as_mut() else {
                        failed(SendFailure::HostDestroyed);
                        continue;
                    };
                    if let Some(f) = send_one(udp, *remote, enet, packet.clone()) {
                        failed(f);
                    }
                    flush_if(udp, immediate, failed);
                }
            }
        }
        Ok(())
    }

    /// `disconnect_peer(id, force)`: a graceful disconnect, sent now (`errors` gets a failed
    /// send); with `force` the peer is forgotten at once (no signal). `None` for an unknown id.
    pub(crate) fn disconnect_peer(
        &mut self,
        id: i32,
        force: bool,
        errors: &mut Vec<io::Error>,
    ) -> Option<Disconnected> {
        let (key, _) = self.locate(id)?;
        let remote = match &self.mode {
            Mode::Server(s) => s.remotes.get(id),
            Mode::Client(c) => c.server,
            Mode::Mesh(m) => m.links.get(&id).map(|(_, r)| *r),
        }?;
        if let Some(host) = self.host_of(key)
            && let Some(udp) = host.lock().as_mut()
            && remote.is_live(udp)
        {
            udp.host_mut().disconnect(remote.slot, 0);
            if let Err(e) = udp.flush() {
                errors.push(e);
            }
        }
        if !force {
            return Some(Disconnected::Started);
        }
        match &mut self.mode {
            Mode::Server(s) => {
                s.remotes.remove(id);
                s.admission.remove(id);
                Some(Disconnected::Started)
            }
            Mode::Client(_) => Some(Disconnected::CloseClient),
            Mode::Mesh(m) => {
                m.links.remove(&id);
                Some(Disconnected::Started)
            }
        }
    }

    fn host_of(&self, key: HostKey) -> Option<&SharedHost> {
        match (&self.mode, key) {
            (Mode::Server(s), HostKey::Main) => Some(&s.host),
            (Mode::Client(c), HostKey::Main) => Some(&c.host),
            (Mode::Mesh(m), HostKey::Mesh(id)) => m.links.get(&id).map(|(host, _)| host),
            _ => None,
        }
    }

    /// The remote address of peer `id`.
    pub(crate) fn peer_address(&self, id: i32) -> Option<SocketAddr> {
        let (key, slot) = self.locate(id)?;
        let host = self.host_of(key)?;
        let guard = host.lock();
        guard.as_ref()?.host().peer(slot).map(|p| p.address())
    }

    /// Godot 3's `disconnect_peer(id, false)`: ends the connection once everything queued for
    /// it has been delivered; the disconnect is reported when it completes. False for an unknown
    /// id.
    pub(crate) fn disconnect_peer_later(&mut self, id: i32) -> bool {
        let Some((key, slot)) = self.locate(id) else {
            return false;
        };
        if let Some(host) = self.host_of(key)
            && let Some(udp) = host.lock().as_mut()
        {
            udp.host_mut().disconnect_later(slot, 0);
        }
        true
    }

    /// Godot 3's `disconnect_peer(id, true)`: drops the connection at once (one unreliable
    /// DISCONNECT, nothing queued is sent) and forgets the peer; the caller reports the
    /// disconnect now. `None` for an unknown id.
    pub(crate) fn disconnect_peer_now(
        &mut self,
        id: i32,
        errors: &mut Vec<io::Error>,
    ) -> Option<SessionEvent> {
        let (key, slot) = self.locate(id)?;
        let address = self.peer_address(id);
        if let Some(host) = self.host_of(key)
            && let Some(udp) = host.lock().as_mut()
        {
            udp.host_mut().disconnect_now(slot, 0);
            if let Err(e) = udp.flush() {
                errors.push(e);
            }
        }
        match &mut self.mode {
            Mode::Server(s) => {
                s.remotes.remove(id);
                s.admission.remove(id);
            }
            Mode::Client(c) => {
                c.server = None;
                c.ending = true;
                self.pending.push_back(SessionEvent::Ended(None));
            }
            Mode::Mesh(m) => {
                m.links.remove(&id);
            }
        }
        Some(SessionEvent::Disconnected {
            id: Some(id),
            host: key,
            slot,
            reason: LeaveReason::Kicked,
            address,
        })
    }

    /// Godot 3's `close_connection(wait_usec)`: asks every peer to disconnect (reliably), gives
    /// them up to `wait` to acknowledge while servicing the hosts, then closes like
    /// [`close`](Self::close).
    pub(crate) fn close_gracefully(mut self, wait: Duration) -> Vec<io::Error> {
        let mut errors = Vec::new();
        let live = |session: &mut Session| {
            let mut any = false;
            session.each_remote_mut(|udp, remote| any = any || remote.is_live(udp));
            any
        };
        self.each_remote_mut(|udp, remote| {
            if remote.is_connected(udp) {
                udp.host_mut().disconnect(remote.slot, 0);
            }
        });
        errors.extend(self.flush_all());
        let deadline = Instant::now() + wait;
        while live(&mut self) && Instant::now() < deadline {
            self.each_host(|host| {
                if let Some(udp) = host.lock().as_mut() {
                    // Only the disconnects' progress matters now; the events are dropped.
                    while let Ok(Some(_)) = udp.service(Duration::ZERO) {}
                }
            });
            std::thread::sleep(Duration::from_micros(200).min(wait));
        }
        errors.extend(self.close());
        errors
    }

    /// The traffic totals of every host.
    pub(crate) fn totals(&self) -> Totals {
        let mut totals = Totals::default();
        self.each_host(|host| {
            if let Some(udp) = host.lock().as_ref() {
                totals.add(&Totals::of(udp));
            }
        });
        totals
    }

    /// Connected remote peers with their mean and largest round trip (ms) and mean loss (%),
    /// as the monitors show them (rates left at 0).
    pub(crate) fn link_snapshot(&mut self) -> Snapshot {
        let (mut peers, mut rtt_sum, mut rtt_max, mut loss_sum) = (0usize, 0.0, 0.0f64, 0.0);
        self.each_remote_mut(|udp, remote| {
            if let Some(peer) = udp
                .host()
                .peer(remote.slot)
                .filter(|_| remote.is_connected(udp))
            {
                let rtt = f64::from(peer.round_trip_time());
                peers += 1;
                rtt_sum += rtt;
                rtt_max = rtt_max.max(rtt);
                loss_sum += stats::loss_percent(peer);
            }
        });
        let mean = |sum: f64| if peers == 0 { 0.0 } else { sum / peers as f64 };
        Snapshot {
            peers,
            rtt_avg_ms: mean(rtt_sum),
            rtt_max_ms: rtt_max,
            loss_percent: mean(loss_sum),
            ..Snapshot::default()
        }
    }

    /// Calls `f` with each remote peer's connection and its host.
    fn each_remote_mut(&mut self, mut f: impl FnMut(&mut UdpHost, Remote)) {
        match &self.mode {
            Mode::Server(s) => {
                if let Some(udp) = s.host.lock().as_mut() {
                    s.remotes.iter().for_each(|(_, r)| f(udp, r));
                }
            }
            Mode::Client(c) => {
                if let (Some(udp), Some(r)) = (c.host.lock().as_mut(), c.server) {
                    f(udp, r);
                }
            }
            Mode::Mesh(m) => {
                for (host, r) in m.links.values() {
                    if let Some(udp) = host.lock().as_mut() {
                        f(udp, *r);
                    }
                }
            }
        }
    }

    /// `close()`: drops every connection at once (one unreliable DISCONNECT each), sends what
    /// is queued and closes every socket; every packet peer of the hosts becomes inactive.
    pub(crate) fn close(self) -> Vec<io::Error> {
        let mut errors = Vec::new();
        let links: Vec<(&SharedHost, Option<Remote>)> = match &self.mode {
            Mode::Server(s) => {
                let mut guard = s.host.lock();
                if let Some(udp) = guard.as_mut() {
                    for (_, remote) in s.remotes.iter() {
                        if remote.is_connected(udp) {
                            udp.host_mut().disconnect_now(remote.slot, 0);
                        }
                    }
                }
                drop(guard);
                vec![(&s.host, None)]
            }
            Mode::Client(c) => vec![(&c.host, c.server)],
            Mode::Mesh(m) => m.links.values().map(|(h, r)| (h, Some(*r))).collect(),
        };
        for (host, remote) in links {
            let mut guard = host.lock();
            if let Some(udp) = guard.as_mut() {
                if let Some(remote) = remote
                    && remote.is_connected(udp)
                {
                    udp.host_mut().disconnect_now(remote.slot, 0);
                }
                if let Err(e) = udp.flush() {
                    errors.push(e);
                }
            }
            guard.take();
        }
        errors
    }
}

/// Queues `packet` for `remote` unless a script dropped its connection.
fn send_one(udp: &mut UdpHost, remote: Remote, channel: u8, packet: Packet) -> Option<SendFailure> {
    if !remote.is_live(udp) {
        return Some(SendFailure::Inactive);
    }
    match udp.host_mut().send(remote.slot, channel, packet) {
        // A send racing the peer's disconnect is not a misuse: Godot's ENetPacketPeer returns
        // FAILED without a message when enet_peer_send refuses a peer that is not connected.
        Ok(()) | Err(SendError::NotConnected) => None,
        Err(error) => Some(SendFailure::Refused { channel, error }),
    }
}

fn flush_if(udp: &mut UdpHost, immediate: bool, failed: &mut dyn FnMut(SendFailure)) {
    if immediate && let Err(e) = udp.flush() {
        failed(SendFailure::Flush(e));
    }
}
