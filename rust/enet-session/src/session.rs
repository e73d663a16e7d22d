//! [`Session`]: the modes, their state, and the poll's three steps.

use std::collections::VecDeque;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use rust_enet_net::{FlushPolicy, ServiceConfig};
use rust_enet_proto::{PeerId, PeerState};

use crate::admission::Admission;
use crate::events::{AfterPoll, HostKey, Incoming, MeshError, SessionEvent, Status};
use crate::host::SessionHost;
use crate::id_map::IdMap;
use crate::poll::{next_client_event, next_server_event, poll_mesh, server_left};
use crate::reason::LeaveReason;
use crate::remotes::{Remote, Remotes};
use crate::rendezvous::{Rendezvous, RendezvousEvent};
use crate::traversal::Path;

#[derive(Debug)]
pub struct Server {
    pub(crate) host: SessionHost,
    pub(crate) admission: Arc<Admission>,
    pub(crate) remotes: Remotes,
    /// The server's registration with a rendezvous server, when it hosts through one.
    pub(crate) rendezvous: Option<Rendezvous>,
    /// Disconnects held back to the next poll, as a client holds its server's: packets the
    /// peer sent before it left wait in `incoming`, and SceneMultiplayer reads no packet of a
    /// peer it was told is gone (it prints an error and drops it). Until then the id is still
    /// taken (a send to it is dropped).
    pub(crate) leaving: Vec<(i32, SessionEvent)>,
}

#[derive(Debug)]
pub struct Client {
    pub(crate) host: SessionHost,
    pub(crate) unique_id: i32,
    /// The connection to peer 1; `None` once a script dropped it.
    pub(crate) server: Option<Remote>,
    pub(crate) connected: bool,
    /// The connection ended: `Ended` comes next.
    pub(crate) ending: bool,
    /// The server's disconnect (its slot and why), held back to the next poll because packets
    /// that came before it wait in `incoming`: SceneMultiplayer reads no packets once a poll
    /// leaves the peer disconnected. A service thread often gathers both for one poll.
    pub(crate) held: Option<(PeerId, LeaveReason)>,
    /// A client joining through a rendezvous server: its traversal, and the channel count to
    /// ENet connection starts once it has a path (`server` is `None` until then).
    pub(crate) rendezvous: Option<Rendezvous>,
}

#[derive(Debug)]
pub struct Mesh {
    pub(crate) unique_id: i32,
    pub(crate) links: IdMap<i32, (SessionHost, Remote)>,
}

/// The three ways a `RustENetPeer` can be active.
#[derive(Debug)]
pub enum Mode {
    Server(Server),
    Client(Client),
    Mesh(Mesh),
}

/// What a session holds for its owner: the packets received, and the events found ahead of
/// their turn.
#[derive(Debug, Default)]
pub(crate) struct Inbox {
    pub(crate) incoming: VecDeque<Incoming>,
    /// Events found by `begin_poll` (or with another event), handed out first by `next_event`.
    pub(crate) pending: VecDeque<SessionEvent>,
}

/// An active multiplayer peer's connections and received packets; see the crate
/// documentation for how to drive it.
#[derive(Debug)]
pub struct Session {
    pub(crate) mode: Mode,
    pub(crate) inbox: Inbox,
    /// This poll has serviced the main host.
    serviced: bool,
    /// The owner's packets leave at once (Godot's behaviour) rather than with the frame's
    /// flush; given to every host's send schedule.
    pub(crate) policy: FlushPolicy,
    /// Whether the hosts have service threads (and mesh hosts added later get one).
    threads: Option<ServiceConfig>,
    /// The caller was asked to run `flush_all` at the end of this frame and has not yet.
    pub(crate) frame_flush_asked: bool,
}

impl Session {
    fn new(mode: Mode) -> Session {
        let session = Session {
            mode,
            inbox: Inbox::default(),
            serviced: false,
            policy: FlushPolicy::Frame,
            threads: None,
            frame_flush_asked: false,
        };
        session.each_host(SessionHost::track_drops);
        session
    }

    /// A server on `host`, which gets Godot's admission rules as its CONNECT filter so refused
    /// clients are answered at once.
    pub fn server(host: SessionHost) -> Session {
        let admission = Admission::new();
        if let Some(udp) = host.lock().as_mut() {
            udp.host_mut().set_connect_filter(Some(admission.filter()));
        }
        Session::new(Mode::Server(Server {
            host,
            admission,
            remotes: Remotes::default(),
            rendezvous: None,
            leaving: Vec::new(),
        }))
    }

    /// A server registers with a rendezvous server through `rendezvous`, made on its host
    /// ([`Session::main_host`]): [`SessionEvent::Registered`] gives the id to share. Returns
    /// false (and drops it) when the session is not a server.
    pub fn host_through(&mut self, rendezvous: Rendezvous) -> bool {
        match &mut self.mode {
            Mode::Server(s) => {
                s.rendezvous = Some(rendezvous);
                true
            }
            _ => false,
        }
    }

    /// The host of a server or client.
    pub fn main_host(&self) -> Option<&SessionHost> {
        self.host_of(HostKey::Main)
    }

    /// A client with id `unique_id` that looks for a path to a host through `rendezvous` (made
    /// on `host`, with `unique_id` as its CONNECT data) and then connects. It is CONNECTING until the
    /// handshake completes; a failed traversal ends it like a failed connection, after
    /// [`SessionEvent::RendezvousFailed`].
    pub fn client_via_rendezvous(
        host: SessionHost,
        rendezvous: Rendezvous,
        unique_id: i32,
    ) -> Session {
        Session::new(Mode::Client(Client {
            host,
            unique_id,
            server: None,
            connected: false,
            ending: false,
            held: None,
            rendezvous: Some(rendezvous),
        }))
    }

    /// A client with id `unique_id` whose host is connecting to the server from `slot`.
    pub fn client(host: SessionHost, slot: PeerId, unique_id: i32) -> Session {
        let server = host.lock().as_ref().map(|udp| Remote::of(udp, slot));
        Session::new(Mode::Client(Client {
            host,
            unique_id,
            server,
            connected: false,
            ending: false,
            held: None,
            rendezvous: None,
        }))
    }

    /// A mesh member with id `unique_id` and no peers yet.
    pub fn mesh(unique_id: i32) -> Session {
        Session::new(Mode::Mesh(Mesh {
            unique_id,
            links: IdMap::default(),
        }))
    }

    pub fn mode(&self) -> &Mode {
        &self.mode
    }

    pub fn unique_id(&self) -> i32 {
        match &self.mode {
            Mode::Server(_) => 1,
            Mode::Client(c) => c.unique_id,
            Mode::Mesh(m) => m.unique_id,
        }
    }

    pub fn status(&self) -> Status {
        match &self.mode {
            Mode::Client(c) if !c.connected => Status::Connecting,
            _ => Status::Connected,
        }
    }

    /// Adds the remote peer `id`, reached through `host`'s one connected peer; returns its slot.
    /// The host gets the session's flush policy and, if the session's hosts have them, a
    /// service thread.
    pub fn add_mesh_peer(&mut self, id: i32, host: SessionHost) -> Result<PeerId, MeshError> {
        let Mode::Mesh(mesh) = &mut self.mode else {
            return Err(MeshError::NotMesh);
        };
        let remote = {
            let mut guard = host.lock();
            let udp = guard.as_mut().ok_or(MeshError::InvalidHost)?;
            let only = {
                let mut slots = udp.host().peers();
                match (slots.next(), slots.next()) {
                    (Some((slot, peer)), None) if peer.state() == PeerState::Connected => {
                        Some(slot)
                    }
                    _ => None,
                }
            };
            let remote = Remote::of(udp, only.ok_or(MeshError::InvalidHost)?);
            udp.set_flush_policy(self.policy);
            remote
        };
        host.track_drops();
        if let Some(config) = self.threads
            && let Err(err) = host.start_service_thread(config)
        {
            tracing::warn!(%err, "no service thread for mesh peer {id}; poll services it");
        }
        mesh.links.insert(id, (host, remote));
        Ok(remote.slot)
    }

    /// The host and slot of the remote peer `id`.
    pub fn locate(&self, id: i32) -> Option<(HostKey, PeerId)> {
        match &self.mode {
            Mode::Server(s) => s.remotes.get(id).map(|r| (HostKey::Main, r.slot)),
            Mode::Client(c) => c
                .server
                .filter(|_| id == 1)
                .map(|r| (HostKey::Main, r.slot)),
            Mode::Mesh(m) => m.links.get(&id).map(|(_, r)| (HostKey::Mesh(id), r.slot)),
        }
    }

    pub(crate) fn has_peer(&self, id: i32) -> bool {
        self.locate(id).is_some()
            || matches!(&self.mode, Mode::Server(s) if s.leaving.iter().any(|(l, _)| *l == id))
    }

    /// A server's `refuse_new_connections`: CONNECTs are answered with a refusal while set.
    pub fn set_refusing(&self, refuse: bool) {
        if let Mode::Server(s) = &self.mode {
            s.admission.set_refusing(refuse);
        }
    }

    /// `immediate_flush`: the owner's packets leave at once, each in its own datagram, and
    /// acknowledgements are not held back (Godot's behaviour), or (`false`, the default) with
    /// the frame's flush. Given once to every host's send schedule.
    pub fn set_immediate(&mut self, immediate: bool) {
        self.policy = if immediate {
            FlushPolicy::Immediate
        } else {
            FlushPolicy::Frame
        };
        let policy = self.policy;
        self.each_host(|host| {
            if let Some(udp) = host.lock().as_mut() {
                udp.set_flush_policy(policy);
            }
        });
    }

    /// Services every host of the session on a thread too (`use_service_thread`), or stops
    /// those threads. Returns the hosts' failures to start one (they are then serviced by the
    /// poll alone, as without the thread).
    pub fn set_service_threads(&mut self, config: Option<ServiceConfig>) -> Vec<io::Error> {
        self.threads = config;
        let mut errors = Vec::new();
        self.each_host(|host| match config {
            Some(config) => {
                if let Err(err) = host.start_service_thread(config) {
                    errors.push(err);
                }
            }
            None => host.stop_service_thread(),
        });
        errors
    }

    /// The next received packet, if any.
    pub fn front_packet(&self) -> Option<&Incoming> {
        self.inbox.incoming.front()
    }

    pub fn pop_packet(&mut self) -> Option<Incoming> {
        self.inbox.incoming.pop_front()
    }

    pub fn available_packets(&self) -> usize {
        self.inbox.incoming.len()
    }

    /// Step 1 of a poll (see the crate doc): the frame's flush if it is still due, connections
    /// a script ended (reset, `peer_disconnect_now`, a destroyed host) and, in mesh mode, the
    /// hosts' events.
    pub fn begin_poll(&mut self) -> Vec<io::Error> {
        let errors = if self.frame_flush_asked {
            self.flush_all()
        } else {
            Vec::new()
        };
        self.serviced = false;
        self.drive_rendezvous();
        match &mut self.mode {
            Mode::Server(s) => {
                for (id, left) in s.leaving.drain(..) {
                    s.admission.remove(id);
                    self.inbox.pending.push_back(left);
                }
                let destroyed = !s.host.is_active();
                let gone: Vec<(i32, Remote)> = if destroyed {
                    s.remotes.iter().collect()
                } else {
                    s.host
                        .take_drops()
                        .into_iter()
                        .filter_map(|slot| s.remotes.id_in(slot))
                        .filter_map(|id| s.remotes.get(id).map(|r| (id, r)))
                        .collect()
                };
                for (id, remote) in gone {
                    s.remotes.remove(id);
                    s.admission.remove(id);
                    self.inbox.pending.push_back(SessionEvent::Disconnected {
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
                    let (left, ended) = server_left(c, slot, reason);
                    self.inbox.pending.extend([left, ended]);
                }
                if let Some(server) = c.server {
                    let dropped = c.host.take_drops().contains(&server.slot);
                    if dropped || !c.host.is_active() {
                        c.server = None;
                        self.inbox.pending.push_back(SessionEvent::Disconnected {
                            id: Some(1),
                            host: HostKey::Main,
                            slot: server.slot,
                            reason: LeaveReason::Kicked,
                            address: server.address,
                        });
                    }
                }
                if c.server.is_none() && c.rendezvous.is_none() && !c.ending {
                    c.ending = true;
                    self.inbox.pending.push_back(SessionEvent::Ended(None));
                }
            }
            Mode::Mesh(m) => poll_mesh(m, &mut self.inbox),
        }
        errors
    }

    /// Step 2 of a poll (see the crate doc): the next event, handled before asking again. The
    /// first call services the main host once, later ones take what it queued.
    pub fn next_event(&mut self) -> Option<SessionEvent> {
        if let Some(event) = self.inbox.pending.pop_front() {
            return Some(event);
        }
        let service = if self.serviced {
            None
        } else {
            self.serviced = true;
            Some(Duration::ZERO)
        };
        match &mut self.mode {
            Mode::Server(s) => next_server_event(s, service, &mut self.inbox),
            Mode::Client(c) => next_client_event(c, service, &mut self.inbox),
            // Drained by `begin_poll`.
            Mode::Mesh(_) => None,
        }
    }

    /// Step 3 of a poll (see the crate doc): whether the caller must arrange the frame's flush
    /// (what the poll received is acknowledged with the frame's answers).
    pub fn after_poll(&mut self) -> AfterPoll {
        self.ask_for_frame_flush()
    }

    /// `AfterPoll::FrameFlush` once per frame when a host waits for the owner's flush.
    pub(crate) fn ask_for_frame_flush(&mut self) -> AfterPoll {
        if self.frame_flush_asked || !self.wants_flush() {
            return AfterPoll::Nothing;
        }
        self.frame_flush_asked = true;
        AfterPoll::FrameFlush
    }

    /// Whether the frame's flush is still due (a poll or close may have done it already).
    pub fn frame_flush_due(&self) -> bool {
        self.frame_flush_asked
    }

    /// Calls `f` with each of the session's hosts.
    pub(crate) fn each_host(&self, mut f: impl FnMut(&SessionHost)) {
        match &self.mode {
            Mode::Server(s) => f(&s.host),
            Mode::Client(c) => f(&c.host),
            Mode::Mesh(m) => m.links.values().for_each(|(host, _)| f(host)),
        }
    }

    /// Whether a host has something waiting for the owner's flush.
    fn wants_flush(&self) -> bool {
        let mut wants = false;
        self.each_host(|h| {
            wants = wants || h.lock().as_ref().is_some_and(|udp| udp.wants_flush());
        });
        wants
    }

    /// The rendezvous id a server registered, once it did.
    pub fn rendezvous_id(&self) -> Option<&str> {
        match &self.mode {
            Mode::Server(s) => s.rendezvous.as_ref().and_then(Rendezvous::id),
            _ => None,
        }
    }

    /// Whether the session hosts or joined through a rendezvous server.
    pub fn went_through_rendezvous(&self) -> bool {
        match &self.mode {
            Mode::Server(s) => s.rendezvous.is_some(),
            Mode::Client(c) => c.rendezvous.is_some(),
            Mode::Mesh(_) => false,
        }
    }

    /// How many remote peers a server reaches through a relay of its rendezvous server.
    pub fn relayed_peers(&self) -> usize {
        match &self.mode {
            Mode::Server(s) => s
                .remotes
                .iter()
                .filter(|(id, _)| self.path_of(*id) == Some(Path::Relay))
                .count(),
            _ => usize::from(self.path_of(1) == Some(Path::Relay)),
        }
    }

    /// How the remote peer `id` is reached, when the session went through a rendezvous server.
    pub fn path_of(&self, id: i32) -> Option<Path> {
        match &self.mode {
            Mode::Server(s) => {
                let address = s.remotes.get(id)?.address?;
                Some(s.rendezvous.as_ref()?.path_of(address))
            }
            Mode::Client(c) if id == 1 => c.rendezvous.as_ref()?.chosen().map(|(_, path)| path),
            _ => None,
        }
    }

    /// One step of the rendezvous traversal, if there is one (see [`Rendezvous::drive`]).
    fn drive_rendezvous(&mut self) {
        match &mut self.mode {
            Mode::Server(s) => {
                let Some(rendezvous) = &mut s.rendezvous else {
                    return;
                };
                for event in drive(&s.host, rendezvous) {
                    self.inbox.pending.push_back(match event {
                        RendezvousEvent::Registered { id } => SessionEvent::Registered { id },
                        RendezvousEvent::Failed(failure) => SessionEvent::RendezvousFailed(failure),
                        RendezvousEvent::Connecting { .. } => continue,
                    });
                }
            }
            Mode::Client(c) if c.server.is_none() && !c.ending => {
                let Some(rendezvous) = &mut c.rendezvous else {
                    return;
                };
                for event in drive(&c.host, rendezvous) {
                    match event {
                        RendezvousEvent::Connecting { slot, .. } => {
                            c.server = c.host.lock().as_ref().map(|udp| Remote::of(udp, slot));
                        }
                        RendezvousEvent::Failed(failure) => {
                            c.ending = true;
                            self.inbox.pending.extend([
                                SessionEvent::RendezvousFailed(failure),
                                SessionEvent::Ended(None),
                            ]);
                        }
                        RendezvousEvent::Registered { .. } => {}
                    }
                }
            }
            _ => {}
        }
    }

    pub(crate) fn host_of(&self, key: HostKey) -> Option<&SessionHost> {
        match (&self.mode, key) {
            (Mode::Server(s), HostKey::Main) => Some(&s.host),
            (Mode::Client(c), HostKey::Main) => Some(&c.host),
            (Mode::Mesh(m), HostKey::Mesh(id)) => m.links.get(&id).map(|(host, _)| host),
            _ => None,
        }
    }
}

/// One step of `rendezvous` on `host` (nothing once the host is destroyed). The clock is read
/// here, so a session without a rendezvous (nearly all) reads none on its polls.
fn drive(host: &SessionHost, rendezvous: &mut Rendezvous) -> Vec<RendezvousEvent> {
    let now = std::time::Instant::now();
    host.lock()
        .as_mut()
        .map(|udp| rendezvous.drive(udp, now))
        .unwrap_or_default()
}
