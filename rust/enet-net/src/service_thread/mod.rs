//! A host serviced on a background thread while its owner is away.
//!
//! A game services its host once per frame. When the frame stalls (a level load, a long frame,
//! a breakpoint) nobody acknowledges, resends or pings, and after ENet's timeout the remotes drop
//! the connection. A [`ServiceThread`] keeps the host going in between. It sleeps until there is
//! work (a datagram, the core's next timer, an acknowledgement's deadline, or a wake from the
//! owner) and never on a tick: an idle connection costs a few wakes a second, as ENet's pings
//! need. It never takes events: they wait in the core, in the core's order, until the owner
//! drives the host as it always does.

pub(crate) mod wait;

use std::any::Any;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use parking_lot::{Mutex, MutexGuard};

use crate::UdpHost;
use crate::coalesce::ReceiveCoalescing;
use crate::send_schedule::SendSchedule;
use crate::shared_host::SharedUdpHost;
use crate::udp_host::{HostFailure, ThreadLink, ThreadPass};
use wait::{Inbox, Wake};

/// How a [`ServiceThread`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceConfig {
    /// How long the acknowledgements of received events may wait for the owner's own flush
    /// (which would carry the game's answers with them) before the thread sends them (see
    /// [`SendSchedule`](crate::SendSchedule)).
    pub flush_after: Duration,
    /// When a datagram's wake sleeps a little before reading, so that one pass takes what many
    /// peers sent meanwhile ([`ReceiveCoalescing::SERVICE_THREAD`] by default).
    pub coalescing: ReceiveCoalescing,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        ServiceConfig {
            flush_after: SendSchedule::DEFAULT_FLUSH_AFTER,
            coalescing: ReceiveCoalescing::SERVICE_THREAD,
        }
    }
}

/// What a thread's starter, [`stop_all_service_threads`] and the thread itself share.
#[derive(Debug)]
struct Control {
    stop: AtomicBool,
    wake: Wake,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// Passes run: one per wake (a datagram, a timer, the owner).
    passes: AtomicU64,
}

impl Control {
    fn stop_and_join(&self) {
        self.stop.store(true, Ordering::Release);
        self.wake.wake();
        let handle = self.thread.lock().take();
        if let Some(handle) = handle
            && handle.thread().id() != thread::current().id()
        {
            // The thread catches its own panics; an error here would be a panic in logging.
            let _ = handle.join();
        }
    }

    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }
}

/// Every thread started and not yet joined, for [`stop_all_service_threads`].
static RUNNING: Mutex<Vec<Weak<Control>>> = Mutex::new(Vec::new());

/// Stops and joins every service thread still running: for an engine extension's teardown,
/// when hosts that scripts leaked would otherwise keep threads past the library's unloading.
pub fn stop_all_service_threads() {
    let running: Vec<Arc<Control>> = RUNNING
        .lock()
        .drain(..)
        .filter_map(|w| w.upgrade())
        .collect();
    for control in running {
        control.stop_and_join();
    }
}

/// A background thread that services a [`SharedUdpHost`].
///
/// # Driving it
///
/// - [`start`](Self::start) marks the host serviced (before the thread can run) and starts the
///   thread. The owner keeps using the host through [`SharedUdpHost::lock`]: commands, `send`,
///   `flush`, and `service` / `poll_queued_event` for events.
/// - The thread sleeps until a datagram arrives, the core's next timer or an acknowledgement's
///   deadline comes, or the owner wakes it. It then reads one batch of datagrams with the host
///   unlocked, locks the host to hand them to the core and run the timers, takes out what is due
///   to send (see [`SendSchedule`](crate::SendSchedule)), unlocks, and sends. Received packets
///   and connection changes wait in the core, in order, until the owner takes them.
/// - So a stalled owner's peers stay connected as long as their remotes answer, and a remote
///   that goes silent still times out on ENet's schedule. Memory stays bounded by ENet's
///   per-peer waiting-data limit (`HostConfig::maximum_waiting_data`): reliable data beyond it
///   is not acknowledged, so its sender keeps it and sends it again.
/// - [`stop`](Self::stop), dropping it, the owner setting the host to `None`, or
///   [`stop_all_service_threads`] end the thread; stop and drop wait for it, and cannot deadlock
///   whatever lock the caller holds (the thread gives up waiting for the host's lock when told
///   to stop). The owner then drives the host alone again.
/// - If the thread panics, or its socket fails, the host is marked failed
///   ([`HostFailure`]): the owner's next `service` returns the error, so it can report its
///   peers disconnected and close the host, instead of driving a host left half updated.
#[derive(Debug)]
pub struct ServiceThread {
    host: SharedUdpHost,
    control: Arc<Control>,
}

impl ServiceThread {
    /// Starts servicing `host`. Fails if the host is destroyed, already has a thread, or the
    /// thread or its socket handle cannot be made.
    pub fn start(host: SharedUdpHost, config: ServiceConfig) -> io::Result<ServiceThread> {
        let (inbox, link) = {
            let mut guard = host.lock();
            let udp = guard.as_mut().ok_or_else(|| {
                io::Error::new(io::ErrorKind::NotConnected, "the host was destroyed")
            })?;
            if udp.check_thread() {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    "a service thread already services this host",
                ));
            }
            let (inbox, wake) = Inbox::new(udp.socket(), udp.uses_gro())?;
            let link = Arc::new(ThreadLink::new(wake, udp.socket().try_clone()?));
            // Serviced before the thread can run: from now on the owner's sends are collected.
            udp.attach_thread(Arc::clone(&link), config.flush_after, config.coalescing);
            (inbox, link)
        };
        let control = Arc::new(Control {
            stop: AtomicBool::new(false),
            wake: link.wake.clone(),
            thread: Mutex::new(None),
            passes: AtomicU64::new(0),
        });
        let worker = (host.clone(), Arc::clone(&link), Arc::clone(&control));
        let spawned = thread::Builder::new()
            .name("rust_enet service".into())
            .spawn(move || {
                let (host, link, control) = worker;
                run(&host, inbox, &link, &control);
            });
        match spawned {
            Ok(handle) => {
                *control.thread.lock() = Some(handle);
                let mut running = RUNNING.lock();
                running.retain(|w| w.strong_count() > 0);
                running.push(Arc::downgrade(&control));
                Ok(ServiceThread { host, control })
            }
            Err(err) => {
                link.end();
                if let Some(udp) = host.lock().as_mut() {
                    udp.check_thread();
                }
                Err(err)
            }
        }
    }

    /// The serviced host.
    pub fn host(&self) -> &SharedUdpHost {
        &self.host
    }

    /// Whether the thread still runs (it ends when the host is destroyed or fails).
    pub fn is_running(&self) -> bool {
        self.control
            .thread
            .lock()
            .as_ref()
            .is_some_and(|t| !t.is_finished())
    }

    /// Passes the thread has run: one per wake that was not a stop. An idle connection costs a
    /// few a second (ENet's pings); a busy one about one per batch of datagrams.
    pub fn passes(&self) -> u64 {
        self.control.passes.load(Ordering::Relaxed)
    }

    /// Ends the thread and waits for it (what dropping it does).
    pub fn stop(self) {}
}

impl Drop for ServiceThread {
    fn drop(&mut self) {
        self.control.stop_and_join();
    }
}

/// How long the thread waits for the host's lock before it looks whether it was told to stop.
const LOCK_PATIENCE: Duration = Duration::from_millis(2);

/// The host locked for the thread, or `None` once it is told to stop while waiting.
fn lock_unless_stopped<'a>(
    host: &'a SharedUdpHost,
    control: &Control,
) -> Option<MutexGuard<'a, Option<UdpHost>>> {
    loop {
        if control.stopping() {
            return None;
        }
        if let Some(guard) = host.try_lock_for_thread(LOCK_PATIENCE) {
            return Some(guard);
        }
    }
}

fn run(host: &SharedUdpHost, mut inbox: Inbox, link: &ThreadLink, control: &Control) {
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        serve(host, &mut inbox, link, control)
    }));
    inbox.restore();
    link.end();
    let failure = match outcome {
        Ok(Ok(())) => None,
        Ok(Err(err)) => {
            tracing::error!(%err, "the service thread's socket failed; the host is closed");
            Some(HostFailure::Socket(err.kind(), err.to_string()))
        }
        Err(panic) => {
            let message = panic_message(panic.as_ref());
            tracing::error!("the service thread panicked ({message}); the host is closed");
            Some(HostFailure::ThreadPanicked(message))
        }
    };
    if let Some(failure) = failure {
        if let Some(mut guard) = lock_unless_stopped(host, control)
            && let Some(udp) = guard.as_mut()
        {
            udp.fail(failure);
        }
        host.notify_events();
    }
}

fn panic_message(panic: &(dyn Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned())
}

/// The thread's loop; returns when told to stop or when the host is destroyed, or with the
/// socket's error.
fn serve(
    host: &SharedUdpHost,
    inbox: &mut Inbox,
    link: &ThreadLink,
    control: &Control,
) -> io::Result<()> {
    // The first pass runs at once: timers the owner set before the thread started.
    let mut deadline = Some(Instant::now());
    let mut more = false;
    let mut coalesce = Duration::ZERO;
    loop {
        if control.stopping() {
            return Ok(());
        }
        // Whether datagrams ended a wait (a read right after a full batch is not a wait).
        let mut datagrams = false;
        if !more {
            datagrams = inbox.wait(deadline)?;
            if control.stopping() {
                return Ok(());
            }
            // A busy many-peer host: let the datagrams of a short while queue up, so that one
            // read and one pass take them all (see `ReceiveCoalescing`), never past a deadline.
            if datagrams && !coalesce.is_zero() {
                let until =
                    deadline.map_or(coalesce, |d| d.saturating_duration_since(Instant::now()));
                std::thread::sleep(coalesce.min(until));
            }
        }
        control.passes.fetch_add(1, Ordering::Relaxed);
        // Read with the host unlocked; a read that fills its batch is followed by another at
        // once, without a wait.
        inbox.read()?;
        more = inbox.was_full();
        let pass = {
            let Some(mut guard) = lock_unless_stopped(host, control) else {
                return Ok(());
            };
            let Some(udp) = guard.as_mut() else {
                return Ok(()); // the owner destroyed the host
            };
            inbox.deliver(udp);
            udp.thread_pass(datagrams)?
        };
        let ThreadPass {
            events,
            deadline: next,
            outbox,
            coalesce: delay,
        } = pass;
        deadline = next;
        coalesce = delay;
        if events {
            host.notify_events();
        }
        if let Some(mut taken) = outbox {
            let sent = link.send_in_turn(taken.ticket, &mut taken.outbox);
            if let Some(udp) = lock_unless_stopped(host, control)
                .as_mut()
                .and_then(|g| g.as_mut())
            {
                udp.return_outbox(taken.outbox);
            }
            sent?;
        }
    }
}

#[cfg(test)]
mod tests;
