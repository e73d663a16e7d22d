//! Precise ends for blocking reads.
//!
//! std has no `poll`, so the driver waits for a datagram with a blocking read and
//! `SO_RCVTIMEO`. Linux keeps that timeout in scheduler ticks and adds one: a 1 ms timeout
//! returns after 4-12 ms with `HZ=250` (measured median 8 ms). `service(1 ms)` then sleeps eight
//! times too long, and retransmission and ping timers fire late. The [`Waker`] fixes the upper
//! bound: a helper thread sleeps on a precise condition-variable timeout and, if the owner is
//! still blocked when the deadline comes, sends it an empty datagram from a socket of its own.
//! The owner recognises those by their source address and drops them.
//!
//! Cost: while the owner services in a loop, about one helper wake-up per millisecond (it sleeps
//! until the current deadline, or ticks while none is armed; a notification is needed only when
//! a deadline is earlier than the helper's next look), and a wake datagram only when nothing
//! else arrived in time. With the 1 ms service loops of the benchmarks that is ~20 ms of CPU
//! per second on a small VM; `poll` would make it unnecessary.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

#[derive(Debug, Default)]
struct State {
    /// The deadline of the owner's current blocking read, if it is in one.
    deadline: Option<Instant>,
    /// What the helper is sleeping until (`None`: until notified).
    sleeping_until: Option<Instant>,
    shutdown: bool,
}

#[derive(Debug, Default)]
struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

/// A helper thread that ends the owner's blocking read at a precise deadline.
#[derive(Debug)]
pub(crate) struct Waker {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    /// Where wake datagrams come from, as the owner's socket reports it (canonical form).
    source: SocketAddr,
}

impl Waker {
    /// Starts the helper for a socket bound to `target` (its local address).
    pub(crate) fn start(target: SocketAddr) -> io::Result<Waker> {
        let destination = crate::address::reachable(target);
        let socket = UdpSocket::bind(SocketAddr::new(destination.ip(), 0))?;
        let source = crate::address::canonical_addr(socket.local_addr()?);
        let shared = Arc::new(Shared::default());
        let helper = Arc::clone(&shared);
        let thread = thread::Builder::new()
            .name("rust_enet waker".into())
            .spawn(move || run(&helper, &socket, destination))?;
        Ok(Waker {
            shared,
            thread: Some(thread),
            source,
        })
    }

    /// The (canonical) address wake datagrams come from.
    pub(crate) fn source(&self) -> SocketAddr {
        self.source
    }

    /// The owner is about to block until `deadline`.
    pub(crate) fn arm(&self, deadline: Instant) {
        let mut state = self.shared.state.lock();
        state.deadline = Some(deadline);
        // A helper sleeping until an earlier time re-reads the deadline when it wakes; only one
        // that sleeps longer (or waits without a time) needs a nudge.
        if state.sleeping_until.is_none_or(|until| until > deadline) {
            self.shared.changed.notify_one();
        }
    }

    /// The owner's blocking read is over.
    pub(crate) fn disarm(&self) {
        self.shared.state.lock().deadline = None;
    }
}

impl Drop for Waker {
    fn drop(&mut self) {
        self.shared.state.lock().shutdown = true;
        self.shared.changed.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run(shared: &Shared, socket: &UdpSocket, destination: SocketAddr) {
    let mut state = shared.state.lock();
    // Without a deadline the helper keeps ticking for a while instead of waiting for a
    // notification: service loops re-arm within a millisecond or so, and a tick is cheaper than
    // the notify-and-wake the next `arm` would otherwise need.
    let mut idle_ticks = 0;
    loop {
        if state.shutdown {
            return;
        }
        let now = Instant::now();
        match state.deadline {
            Some(deadline) if now >= deadline => {
                state.deadline = None;
                state.sleeping_until = None;
                idle_ticks = 0;
                drop(state);
                // Failures only mean the owner wakes at its coarse timeout instead.
                let _ = socket.send_to(&[], destination);
                state = shared.state.lock();
            }
            Some(deadline) => {
                idle_ticks = 0;
                state.sleeping_until = Some(deadline);
                let _ = shared.changed.wait_until(&mut state, deadline);
                state.sleeping_until = None;
            }
            None if idle_ticks < IDLE_TICKS => {
                idle_ticks += 1;
                let until = now + TICK;
                state.sleeping_until = Some(until);
                let _ = shared.changed.wait_until(&mut state, until);
                state.sleeping_until = None;
            }
            None => shared.changed.wait(&mut state),
        }
    }
}

/// How long the helper sleeps between looks while no read is armed, and how many such looks it
/// takes before it waits for a notification instead.
const TICK: Duration = Duration::from_millis(1);
const IDLE_TICKS: u32 = 100;
