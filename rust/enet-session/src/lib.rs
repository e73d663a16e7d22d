//! The multiplayer session behind rust_enet's Godot `MultiplayerPeer`, without Godot: the rules
//! of Godot 4's `ENetMultiplayerPeer` over `rust_enet_net` hosts, tested by cargo over loopback.
//! The Godot adapter (`rust/enet-godot`) converts arguments and results, emits signals and
//! owns the packet buffers; everything a session decides is here.
//!
//! A [`Session`] is one of three [`Mode`]s. A server ([`Session::server`]) admits clients by the
//! id in their CONNECT data (`admission.rs`), is peer 1 and attributes every packet to the id of
//! its slot; a client ([`Session::client`]) talks to peer 1 only and is CONNECTING until the
//! handshake completes; a mesh ([`Session::mesh`]) has one host per remote peer, added with
//! [`Session::add_mesh_peer`], and turns away anyone else who connects to those hosts. The rest
//! is shared: the channel mapping and targets of `mapping.rs`, and the queue of received
//! packets.
//!
//! Each host is a [`SessionHost`]: the driver's shared host, its service thread (started and
//! stopped by [`Session::set_service_threads`]), and the log of connections a script ended
//! through it. The session is the only writer of its hosts' connections besides that log.
//!
//! # Driving it
//!
//! Once per frame (what `RustENetPeer::poll` does):
//! 1. [`begin_poll`](Session::begin_poll): the frame's flush if it is still due, connections a
//!    script ended (reset, `peer_disconnect_now`, a destroyed host) and, in mesh mode, the
//!    hosts' events.
//! 2. [`next_event`](Session::next_event) until `None`, handling each [`SessionEvent`] before
//!    asking for the next: the first call services the host once (`Duration::ZERO`), later ones
//!    take what it queued. Signal handlers may send or close in between; after
//!    [`SessionEvent::Ended`] the caller closes the session.
//! 3. [`after_poll`](Session::after_poll): [`AfterPoll::FrameFlush`] asks the caller to run
//!    [`flush_all`](Session::flush_all) at the end of the frame, which sends the
//!    acknowledgements of what the poll received together with the frame's answers.
//!
//! Received packets wait in [`front_packet`](Session::front_packet) /
//! [`pop_packet`](Session::pop_packet). [`put`](Session::put) queues a packet for a
//! [`Target`]; it leaves with the frame's flush (or the next poll), or at once after
//! [`set_immediate`](Session::set_immediate)`(true)`. When datagrams leave is the hosts' send
//! schedules' decision (`rust_enet_net::SendSchedule`); the session only passes the policy on
//! and asks for the frame's flush. [`close`](Session::close) drops every connection at once.

#![forbid(unsafe_code)]

mod admission;
mod events;
mod host;
mod id_map;
mod mapping;
mod poll;
mod reason;
mod remotes;
mod rendezvous;
mod report;
mod send;
mod session;
pub mod stats;
#[cfg(test)]
mod tests;
pub mod traversal;

pub use events::{
    AfterPoll, Disconnected, HostFailure, HostKey, Incoming, MeshError, PutError, SendFailure,
    SessionEvent, Status,
};
pub use host::SessionHost;
pub use id_map::{IdHasher, IdMap};
pub use mapping::{EnetChannel, SYSCH_MAX, Target, Transfer, UserChannel};
pub use poll::next_host_event;
pub use reason::LeaveReason;
pub use rendezvous::{Rendezvous, RendezvousEvent};
pub use session::{Client, Mesh, Mode, Server, Session};
