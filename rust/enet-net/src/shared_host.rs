//! A host shared between its owner (the game's thread) and a [`ServiceThread`].
//!
//! [`ServiceThread`]: crate::ServiceThread

use std::io;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex, MutexGuard};
use rust_enet_proto::Event;

use crate::UdpHost;

/// A [`UdpHost`] behind a lock, shared by its owner, the packet-peer objects of an engine
/// adapter, and a [`ServiceThread`](crate::ServiceThread). `None` inside once the owner
/// destroyed the host, which ends the thread.
///
/// # Driving it
///
/// - [`lock`](Self::lock) gives the host for commands, `flush` and events, as `&mut UdpHost`.
///   While a service thread runs, nothing the owner does under the lock makes a system call:
///   what a flush builds is sent, and the thread woken if the owner queued protocol traffic,
///   when the guard drops, after the lock is released.
/// - [`service`](Self::service) is `UdpHost::service` for a shared host: with a thread, a
///   timeout waits for the thread to deliver an event, with the lock released.
#[derive(Debug, Clone, Default)]
pub struct SharedUdpHost {
    cell: Arc<HostCell>,
}

#[derive(Debug, Default)]
struct HostCell {
    host: Mutex<Option<UdpHost>>,
    /// Signalled when a service thread leaves events for the owner, or fails.
    events: Condvar,
}

impl SharedUdpHost {
    pub fn new(host: UdpHost) -> SharedUdpHost {
        SharedUdpHost {
            cell: Arc::new(HostCell {
                host: Mutex::new(Some(host)),
                events: Condvar::new(),
            }),
        }
    }

    /// The host, locked; see the type's documentation.
    pub fn lock(&self) -> HostGuard<'_> {
        HostGuard {
            guard: Some(self.cell.host.lock()),
        }
    }

    /// The host locked for its service thread, unless it stays locked for `timeout` (the
    /// thread must also watch for its stop). A plain lock: the owner's after-work of
    /// [`HostGuard`] is not the thread's.
    pub(crate) fn try_lock_for_thread(
        &self,
        timeout: Duration,
    ) -> Option<MutexGuard<'_, Option<UdpHost>>> {
        self.cell.host.try_lock_for(timeout)
    }

    /// Whether both handles share one host.
    pub fn ptr_eq(&self, other: &SharedUdpHost) -> bool {
        Arc::ptr_eq(&self.cell, &other.cell)
    }

    /// Handles to this host (the owner's and the packet peers', the thread's).
    pub fn handle_count(&self) -> usize {
        Arc::strong_count(&self.cell)
    }

    /// Wakes owners waiting in [`service`](Self::service).
    pub(crate) fn notify_events(&self) {
        self.cell.events.notify_all();
    }

    /// `UdpHost::service` for a shared host: the next event, waiting up to `timeout` for one.
    /// Without a service thread the owner services the host itself under the lock. With one,
    /// the owner flushes what waits, then waits (lock released) for the thread to deliver an
    /// event. `Ok(None)` when the host was destroyed or the time passed.
    pub fn service(&self, timeout: Duration) -> io::Result<Option<Event>> {
        let deadline = Instant::now().checked_add(timeout);
        let mut guard = self.lock();
        loop {
            let Some(udp) = guard.as_mut() else {
                return Ok(None);
            };
            if !udp.check_thread() {
                let left =
                    deadline.map_or(timeout, |d| d.saturating_duration_since(Instant::now()));
                return udp.service(left);
            }
            if let Some(event) = udp.service(Duration::ZERO)? {
                return Ok(Some(event));
            }
            let Some(deadline) = deadline.filter(|d| *d > Instant::now()) else {
                return Ok(None);
            };
            if udp.has_outbox() {
                // What the service's flush built leaves (outside the lock) before the wait;
                // then events are looked for again, as they may have come meanwhile.
                guard.finish_owner_access();
                continue;
            }
            let inner = guard
                .guard
                .as_mut()
                .expect("the guard holds the lock until dropped");
            self.cell.events.wait_until(inner, deadline);
        }
    }
}

/// The owner's lock on a [`SharedUdpHost`]; dereferences to the host (`None` once destroyed).
/// Dropping it releases the lock first, then sends what the owner's calls built and wakes the
/// service thread if they need it (see [`SharedUdpHost`]).
#[derive(Debug)]
pub struct HostGuard<'a> {
    guard: Option<MutexGuard<'a, Option<UdpHost>>>,
}

impl HostGuard<'_> {
    /// Does what the owner's access left to do after unlocking, and locks again.
    fn finish_owner_access(&mut self) {
        let Some(mut guard) = self.guard.take() else {
            return;
        };
        let after = guard.as_mut().map(UdpHost::after_owner).unwrap_or_default();
        let mutex = MutexGuard::mutex(&guard);
        drop(guard);
        let returned = after.finish();
        let mut guard = mutex.lock();
        if let (Some(outbox), Some(udp)) = (returned, guard.as_mut()) {
            udp.return_outbox(outbox);
        }
        self.guard = Some(guard);
    }
}

impl Deref for HostGuard<'_> {
    type Target = Option<UdpHost>;

    fn deref(&self) -> &Option<UdpHost> {
        self.guard
            .as_ref()
            .expect("the guard holds the lock until dropped")
    }
}

impl DerefMut for HostGuard<'_> {
    fn deref_mut(&mut self) -> &mut Option<UdpHost> {
        self.guard
            .as_mut()
            .expect("the guard holds the lock until dropped")
    }
}

impl Drop for HostGuard<'_> {
    fn drop(&mut self) {
        let Some(mut guard) = self.guard.take() else {
            return;
        };
        let after = guard.as_mut().map(UdpHost::after_owner).unwrap_or_default();
        if after.outbox.is_none() && !after.wake {
            return;
        }
        let mutex = MutexGuard::mutex(&guard);
        drop(guard);
        if let Some(outbox) = after.finish() {
            // The statistics count what was sent; a host destroyed meanwhile counts nothing.
            if let Some(udp) = mutex.lock().as_mut() {
                udp.return_outbox(outbox);
            }
        }
    }
}

impl crate::udp_host::AfterOwner {
    /// Sends the owner's outbox in its turn and wakes the thread if asked; returns the sent
    /// outbox for the host's statistics and buffers. A socket error is kept for the owner's
    /// next call by the host (`deferred_error`), here only logged.
    fn finish(self) -> Option<crate::udp_host::Outbox> {
        let link = self.link?;
        let sent = self.outbox.map(|mut taken| {
            if let Err(err) = link.send_in_turn(taken.ticket, &mut taken.outbox) {
                tracing::warn!(%err, "sending the owner's datagrams failed");
            }
            taken.outbox
        });
        if self.wake {
            link.wake.wake();
        }
        sent
    }
}
