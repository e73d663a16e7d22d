//! What a session sends: the game's packets, the frame's flush, disconnects and closing.

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rust_enet_net::UdpHost;
use rust_enet_proto::{Packet, SendError};

use crate::events::{AfterPoll, Disconnected, PutError, SendFailure, SessionEvent, Status};
use crate::host::SessionHost;
use crate::mapping::{EnetChannel, Target, Transfer, UserChannel};
use crate::reason::LeaveReason;
use crate::remotes::Remote;
use crate::session::{Mode, Session};

impl Session {
    /// Sends everything queued on every host: the frame's flush is done.
    pub fn flush_all(&mut self) -> Vec<io::Error> {
        self.frame_flush_asked = false;
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

    /// Queues `data` for `target`: it leaves with the frame's flush (or the next poll), or at
    /// once with `immediate` set (see [`set_immediate`](Self::set_immediate)). Per-peer
    /// failures go to `failed`; the other peers still get the packet, as in Godot. Returns
    /// whether the caller must arrange the frame's flush (once per frame).
    pub fn put(
        &mut self,
        target: Target,
        transfer: Transfer,
        channel: UserChannel,
        data: Bytes,
        failed: &mut dyn FnMut(SendFailure),
    ) -> Result<AfterPoll, PutError> {
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
        match &mut self.mode {
            Mode::Server(s) => {
                let mut guard = s.host.lock();
                let Some(udp) = guard.as_mut() else {
                    failed(SendFailure::HostDestroyed);
                    return Ok(AfterPoll::Nothing);
                };
                match target {
                    Target::Broadcast => udp.broadcast(enet, packet),
                    // Checked above: the peer exists.
                    Target::Peer(id) => {
                        if let Some(remote) = s.remotes.get(id)
                            && let Some(f) = send_one(udp, remote, enet, packet)
                        {
                            failed(f);
                        }
                    }
                    Target::AllExcept(_) => {
                        for (id, remote) in s.remotes.iter() {
                            if target.selects(id)
                                && let Some(f) = send_one(udp, remote, enet, packet.clone())
                            {
                                failed(f);
                            }
                        }
                    }
                }
            }
            Mode::Client(c) => {
                let mut guard = c.host.lock();
                let Some(udp) = guard.as_mut() else {
                    failed(SendFailure::HostDestroyed);
                    return Ok(AfterPoll::Nothing);
                };
                if let Some(server) = c.server
                    && let Some(f) = send_one(udp, server, enet, packet)
                {
                    failed(f);
                }
            }
            Mode::Mesh(m) => {
                let mut send_to = |host: &SessionHost, remote: Remote| {
                    let mut guard = host.lock();
                    match guard.as_mut() {
                        None => failed(SendFailure::HostDestroyed),
                        Some(udp) => {
                            if let Some(f) = send_one(udp, remote, enet, packet.clone()) {
                                failed(f);
                            }
                        }
                    }
                };
                match target {
                    Target::Peer(id) => {
                        if let Some((host, remote)) = m.links.get(&id) {
                            send_to(host, *remote);
                        }
                    }
                    _ => {
                        for (&id, (host, remote)) in &m.links {
                            if target.selects(id) {
                                send_to(host, *remote);
                            }
                        }
                    }
                }
            }
        }
        Ok(self.ask_for_frame_flush())
    }

    /// `disconnect_peer(id, force)`: a graceful disconnect, sent now (`errors` gets a failed
    /// send); with `force` the peer is forgotten at once (no signal). `None` for an unknown id.
    pub fn disconnect_peer(
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

    /// The remote address of peer `id`.
    pub fn peer_address(&self, id: i32) -> Option<SocketAddr> {
        let (key, slot) = self.locate(id)?;
        let host = self.host_of(key)?;
        let guard = host.lock();
        guard.as_ref()?.host().peer(slot).map(|p| p.address())
    }

    /// Godot 3's `disconnect_peer(id, false)`: ends the connection once everything queued for
    /// it has been delivered; the disconnect is reported when it completes. False for an unknown
    /// id.
    pub fn disconnect_peer_later(&mut self, id: i32) -> bool {
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
    pub fn disconnect_peer_now(
        &mut self,
        id: i32,
        errors: &mut Vec<io::Error>,
    ) -> Option<SessionEvent> {
        let (key, slot) = self.locate(id)?;
        let address = self.peer_address(id);
        if let Some(host) = self.host_of(key)
            && let Err(e) = host.disconnect_now(slot, 0)
        {
            errors.push(e);
        }
        match &mut self.mode {
            Mode::Server(s) => {
                s.remotes.remove(id);
                s.admission.remove(id);
            }
            Mode::Client(c) => {
                c.server = None;
                c.ending = true;
                self.inbox.pending.push_back(SessionEvent::Ended(None));
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
    pub fn close_gracefully(mut self, wait: Duration) -> Vec<io::Error> {
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

    /// Calls `f` with each remote peer's connection and its host.
    pub(crate) fn each_remote_mut(&mut self, mut f: impl FnMut(&mut UdpHost, Remote)) {
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
    /// is queued, closes every socket and stops the service threads; every packet peer of the
    /// hosts becomes inactive.
    pub fn close(self) -> Vec<io::Error> {
        let mut errors = Vec::new();
        let links: Vec<(&SessionHost, Vec<Remote>)> = match &self.mode {
            Mode::Server(s) => vec![(&s.host, s.remotes.iter().map(|(_, r)| r).collect())],
            Mode::Client(c) => vec![(&c.host, c.server.into_iter().collect())],
            Mode::Mesh(m) => m.links.values().map(|(h, r)| (h, vec![*r])).collect(),
        };
        for (host, remotes) in links {
            // The guard sends what the flush built as it drops; only then is the host closed.
            if let Some(udp) = host.lock().as_mut() {
                for remote in remotes {
                    if remote.is_connected(udp) {
                        udp.host_mut().disconnect_now(remote.slot, 0);
                    }
                }
                if let Err(e) = udp.flush() {
                    errors.push(e);
                }
            }
            host.destroy();
        }
        errors
    }
}

/// Queues `packet` for `remote` unless a script dropped its connection.
fn send_one(udp: &mut UdpHost, remote: Remote, channel: u8, packet: Packet) -> Option<SendFailure> {
    if !remote.is_live(udp) {
        return Some(SendFailure::Inactive);
    }
    match udp.send(remote.slot, channel, packet) {
        // A send racing the peer's disconnect is not a misuse: Godot's ENetPacketPeer returns
        // FAILED without a message when enet_peer_send refuses a peer that is not connected.
        Ok(()) | Err(SendError::NotConnected) => None,
        Err(error) => Some(SendFailure::Refused { channel, error }),
    }
}
