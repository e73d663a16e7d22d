//! [`SessionHost`]: one driver host as the session and the engine's objects share it.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;
use rust_enet_net::{HostGuard, ServiceConfig, ServiceThread, SharedUdpHost, UdpHost};
use rust_enet_proto::PeerId;

/// One host of a session, or of an engine's standalone connection object: the driver's
/// [`SharedUdpHost`], the [`ServiceThread`] that services it (if one does), and the log of
/// connections ended locally.
///
/// Clones share the host. The session, the engine's connection object and its packet-peer
/// objects each hold one; the last clone dropped stops the thread. Commands that end a
/// connection at once ([`reset_peer`](Self::reset_peer), [`disconnect_now`](Self::disconnect_now))
/// go through this type, which notes the slot for the session that owns the host
/// ([`Session::begin_poll`](crate::Session::begin_poll) reads the notes instead of looking at
/// every connection on every poll).
#[derive(Debug, Clone)]
pub struct SessionHost {
    inner: Arc<Inner>,
}

impl Default for SessionHost {
    /// A handle on no host (as one whose host was destroyed).
    fn default() -> Self {
        SessionHost {
            inner: Arc::new(Inner {
                destroyed: AtomicBool::new(true),
                ..Inner::default()
            }),
        }
    }
}

#[derive(Debug, Default)]
struct Inner {
    shared: SharedUdpHost,
    thread: Mutex<Option<ServiceThread>>,
    drops: Mutex<LocalDrops>,
    /// `destroy` ran (read on every poll without taking the host's lock).
    destroyed: AtomicBool,
}

/// Slots whose connection was ended locally, kept only while a session owns the host.
#[derive(Debug, Default)]
struct LocalDrops {
    tracked: bool,
    slots: Vec<PeerId>,
}

impl SessionHost {
    pub fn new(udp: UdpHost) -> SessionHost {
        SessionHost {
            inner: Arc::new(Inner {
                shared: SharedUdpHost::new(udp),
                thread: Mutex::new(None),
                drops: Mutex::new(LocalDrops::default()),
                destroyed: AtomicBool::new(false),
            }),
        }
    }

    /// The driver host, locked (see [`SharedUdpHost::lock`]).
    pub fn lock(&self) -> HostGuard<'_> {
        self.inner.shared.lock()
    }

    /// The driver host, for its own calls ([`SharedUdpHost::service`]).
    pub fn shared(&self) -> &SharedUdpHost {
        &self.inner.shared
    }

    /// Whether both handles share one host.
    pub fn ptr_eq(&self, other: &SessionHost) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// Whether the host exists (not destroyed).
    pub fn is_active(&self) -> bool {
        !self.inner.destroyed.load(Ordering::Acquire)
    }

    /// Ends the connection in `slot` at once, without telling the remote (`reset`).
    pub fn reset_peer(&self, slot: PeerId) {
        if let Some(udp) = self.lock().as_mut() {
            udp.host_mut().reset_peer(slot);
        }
        self.note_drop(slot);
    }

    /// Ends the connection in `slot` at once with one unreliable DISCONNECT carrying `data`,
    /// sent now (`peer_disconnect_now`).
    pub fn disconnect_now(&self, slot: PeerId, data: u32) -> io::Result<()> {
        let result = match self.lock().as_mut() {
            Some(udp) => {
                udp.host_mut().disconnect_now(slot, data);
                udp.flush()
            }
            None => Ok(()),
        };
        self.note_drop(slot);
        result
    }

    fn note_drop(&self, slot: PeerId) {
        let mut drops = self.inner.drops.lock();
        if drops.tracked {
            drops.slots.push(slot);
        }
    }

    /// A session owns the host from now on: local drops are noted for it.
    pub(crate) fn track_drops(&self) {
        self.inner.drops.lock().tracked = true;
    }

    /// The slots whose connections were ended locally since the last call.
    pub(crate) fn take_drops(&self) -> Vec<PeerId> {
        std::mem::take(&mut self.inner.drops.lock().slots)
    }

    /// Starts a service thread for the host (a no-op if one runs).
    pub fn start_service_thread(&self, config: ServiceConfig) -> io::Result<()> {
        let mut thread = self.inner.thread.lock();
        if thread.as_ref().is_some_and(ServiceThread::is_running) {
            return Ok(());
        }
        *thread = Some(ServiceThread::start(self.inner.shared.clone(), config)?);
        Ok(())
    }

    /// Stops the host's service thread, if one runs, and waits for it.
    pub fn stop_service_thread(&self) {
        let thread = self.inner.thread.lock().take();
        drop(thread);
    }

    /// Whether a service thread services the host now.
    pub fn is_service_thread_running(&self) -> bool {
        self.inner
            .thread
            .lock()
            .as_ref()
            .is_some_and(ServiceThread::is_running)
    }

    /// Passes the host's service thread has run (one per wake), if one runs.
    pub fn service_thread_passes(&self) -> Option<u64> {
        self.inner
            .thread
            .lock()
            .as_ref()
            .filter(|thread| thread.is_running())
            .map(ServiceThread::passes)
    }

    /// Closes the socket: every handle sees the host destroyed, and the thread ends.
    pub fn destroy(&self) {
        self.inner.destroyed.store(true, Ordering::Release);
        let udp = self.lock().take();
        drop(udp);
        self.stop_service_thread();
    }
}
