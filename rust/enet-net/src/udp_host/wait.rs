//! Waiting for datagrams: how [`UdpHost::service`] blocks until a datagram, a timer or its
//! deadline, and how precisely it ends (see [`WaitPrecision`]).
//!
//! Two ways to wait:
//! - a blocking read with `SO_RCVTIMEO` (on Linux `recvmmsg` with `MSG_WAITFORONE`, which
//!   takes the first datagram and what came with it): one system call, the lowest latency when
//!   a datagram ends the wait, but the kernel keeps the timeout in scheduler ticks, so a wait
//!   that no datagram ends overshoots by up to a tick or two (4-12 ms with `HZ=250`);
//! - a precise wait: on Linux `ppoll` on the socket with the exact time left (the kernel's
//!   high-resolution timer), then a non-blocking batch read; elsewhere the blocking read with a
//!   helper thread (`waker.rs`) that ends it on time with an empty datagram.
//!
//! [`WaitPrecision`] decides per wait; by default waits that a datagram is expected to end
//! (a busy host) block, and waits only a timer will end (a quiet client) are precise.

use std::io;
use std::net::UdpSocket;
use std::time::{Duration, Instant};

use super::UdpHost;
use super::receive::{ReceiveError, classify_receive_error};
#[cfg(target_os = "linux")]
use crate::batch;
use crate::coalesce::ReceiveCoalescing;
use crate::dtls::Dtls;
#[cfg(not(target_os = "linux"))]
use crate::waker::Waker;

/// How exactly a wait in [`UdpHost::service`] ends at its deadline when no datagram ends it.
///
/// A datagram always ends a wait at once. A blocking read's timeout is kept in scheduler ticks
/// by the kernel (a 1 ms wait that nothing ends lasts 4-12 ms on Linux with `HZ=250`); a
/// precise wait ends on time: on Linux with `ppoll` (one more system call per wait), elsewhere
/// with a helper thread, started on first need, that sends the host an empty datagram (about
/// one wake-up per millisecond while armed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WaitPrecision {
    /// Every wait is a blocking read: no extra system call or thread, waits may overshoot by
    /// ticks.
    Coarse,
    /// Precise waits only where no datagram is expected to end them: on hosts with at most
    /// 16 peers, when nothing is queued and nothing awaits acknowledgement (a client that sent
    /// everything and wants control back on time). Busy hosts keep the cheaper blocking read.
    #[default]
    Auto,
    /// Every wait is precise: `service(1 ms)` loops return on time.
    Precise,
}

/// Peers up to which [`WaitPrecision::Auto`] looks at every peer before a wait.
const AUTO_PRECISE_PEERS: usize = 16;

impl UdpHost {
    /// When a wait in [`service`](Self::service) must end on time; see [`WaitPrecision`].
    pub fn set_wait_precision(&mut self, precision: WaitPrecision) {
        self.wait_precision = precision;
        #[cfg(not(target_os = "linux"))]
        if precision == WaitPrecision::Coarse {
            self.blocking.drop_waker();
        }
    }

    /// The [`WaitPrecision`] set.
    pub fn wait_precision(&self) -> WaitPrecision {
        self.wait_precision
    }

    /// When a wait in [`service`](Self::service) may sleep before it reads, so that datagrams
    /// from many peers queue up and one batched read and send handle them; see
    /// [`ReceiveCoalescing`] (default: 500 µs once 32 peers send 2 000 datagrams/s in total and
    /// end 4 000 waits/s; [`ReceiveCoalescing::OFF`] never delays). A wait never sleeps past its
    /// own deadline, and a host with one busy peer never sleeps.
    pub fn set_receive_coalescing(&mut self, coalescing: ReceiveCoalescing) {
        self.coalescer.set_settings(coalescing);
    }

    /// The receive coalescing settings in force.
    pub fn receive_coalescing(&self) -> ReceiveCoalescing {
        self.coalescer.settings()
    }

    /// Whether waits currently sleep before reading (the last observation window met the
    /// [`ReceiveCoalescing`] thresholds and this is not a probe window).
    pub fn is_coalescing_receives(&self) -> bool {
        self.coalescer.is_active()
    }

    /// Wait up to `wait` for a datagram and deliver what came (on Linux with whatever else came
    /// with it). Returns whether the socket's queue is known to be empty now.
    pub(super) fn wait_and_receive(&mut self, wait: Duration) -> io::Result<bool> {
        let start = Instant::now();
        let deadline = start + wait;
        let received_before = self.stats.datagrams_received;
        // Busy many-peer host: let the datagrams of a short interval queue up first, so the
        // read below takes them all at once.
        let delay = self.coalescer.delay(start).min(wait);
        let mut wait = wait;
        if !delay.is_zero() {
            std::thread::sleep(delay);
            let now = Instant::now();
            if now >= deadline {
                self.receive_available()?;
                return Ok(false);
            }
            wait = deadline - now;
        }
        let drained = self.wait_for_datagrams(wait)?;
        if self.stats.datagrams_received != received_before {
            self.coalescer.record_wake();
        }
        self.release_incoming();
        Ok(drained)
    }

    /// Whether the coming wait must end on time: always, never, or (`Auto`) when no datagram
    /// is expected to end it, i.e. a small host with nothing queued and nothing unacknowledged.
    fn wants_precise_wait(&self) -> bool {
        match self.wait_precision {
            WaitPrecision::Coarse => false,
            WaitPrecision::Precise => true,
            WaitPrecision::Auto => {
                // Hosts with many peers see traffic all the time; looking costs O(peers).
                let small =
                    self.host.peers().take(AUTO_PRECISE_PEERS + 1).count() <= AUTO_PRECISE_PEERS;
                small
                    && self.host.peers().all(|(_, peer)| {
                        peer.queued_commands() == 0 && peer.unacknowledged_commands() == 0
                    })
            }
        }
    }

    /// The wait itself; returns whether the socket's queue is known to be empty after it.
    fn wait_for_datagrams(&mut self, wait: Duration) -> io::Result<bool> {
        let precise = self.wants_precise_wait();
        #[cfg(target_os = "linux")]
        if precise {
            if !readable_within(&self.socket, wait)? {
                return Ok(false);
            }
            return self.read_waiting(false);
        }
        #[cfg(not(target_os = "linux"))]
        self.blocking
            .arm(self.local_addr, Instant::now() + wait, precise);
        self.blocking.block_for(&self.socket, wait)?;
        let result = self.read_waiting(true);
        #[cfg(not(target_os = "linux"))]
        self.blocking.disarm(precise);
        result
    }

    /// One batch read (`recvmmsg`): blocking with `MSG_WAITFORONE` (the first datagram and
    /// what came with it), or non-blocking. A batch that is not full took everything queued.
    #[cfg(target_os = "linux")]
    fn read_waiting(&mut self, block: bool) -> io::Result<bool> {
        let mut batch = std::mem::take(&mut self.receive_batch);
        let result = match batch.receive(&self.socket, self.local_addr.is_ipv6(), block) {
            Ok(count) => {
                let now = self.clock.now();
                self.deliver_batch(now, &batch, count);
                Ok(count > 0 && count < batch::SLOTS)
            }
            Err(err) => match classify_receive_error(&err) {
                ReceiveError::Empty | ReceiveError::Skip | ReceiveError::Truncated => Ok(false),
                ReceiveError::Fatal => Err(err),
            },
        };
        self.receive_batch = batch;
        result
    }

    /// One blocking read (the socket is in blocking mode, see [`BlockingWait`]).
    #[cfg(not(target_os = "linux"))]
    fn read_waiting(&mut self, _block: bool) -> io::Result<bool> {
        let mut buffer = std::mem::take(&mut self.receive_buffer);
        let result = match self.socket.recv_from(&mut buffer) {
            Ok((len, from)) => {
                let now = self.clock.now();
                self.deliver(now, from, &buffer[..len], false);
                Ok(false)
            }
            Err(err) => match classify_receive_error(&err) {
                ReceiveError::Empty | ReceiveError::Skip => Ok(false),
                ReceiveError::Truncated => {
                    self.count_unread_truncated();
                    Ok(false)
                }
                ReceiveError::Fatal => Err(err),
            },
        };
        self.receive_buffer = buffer;
        result
    }

    /// The earliest of the core's timer and the simulator's next release.
    pub(super) fn next_wake(&self, now: Instant) -> Option<Instant> {
        let now_time = self.clock.at(now);
        let timer = self
            .host
            .poll_timeout()
            .map(|deadline| self.clock.instant_of(deadline, now, now_time));
        [
            timer,
            self.outgoing_link.next_release(),
            self.incoming_link.next_release(),
            self.dtls.as_ref().and_then(Dtls::poll_timeout),
        ]
        .into_iter()
        .flatten()
        .min()
    }
}

/// Whether `socket` becomes readable within `wait` (readable includes a pending error, which the
/// read that follows takes off the socket). An interrupted wait counts as a timeout.
#[cfg(target_os = "linux")]
fn readable_within(socket: &UdpSocket, wait: Duration) -> io::Result<bool> {
    use std::os::fd::AsFd;

    use nix::errno::Errno;
    use nix::poll::{PollFd, PollFlags, ppoll};
    use nix::sys::time::TimeSpec;

    let mut fds = [PollFd::new(socket.as_fd(), PollFlags::POLLIN)];
    match ppoll(&mut fds, Some(TimeSpec::from_duration(wait)), None) {
        Ok(ready) => Ok(ready > 0),
        Err(Errno::EINTR) => Ok(false),
        Err(errno) => Err(errno.into()),
    }
}

/// The socket's read set-up for blocking waits, and (where there is no `ppoll`) the waker.
///
/// Waiting blocks in a read with a timeout; draining reads without blocking (on Linux with
/// `MSG_DONTWAIT`, elsewhere in non-blocking mode). Each change of mode costs a system call
/// (`ioctl(FIONBIO)`, `setsockopt(SO_RCVTIMEO)`), so both settings are remembered and no-op
/// changes skipped. Sends may find the socket in blocking mode after a wait; a full send buffer
/// then makes the send wait for room instead of dropping the datagram.
#[derive(Debug)]
pub(super) struct BlockingWait {
    nonblocking: bool,
    /// The `SO_RCVTIMEO` last set (whole milliseconds).
    timeout: Option<Duration>,
    /// Ends blocking reads on time for precise waits (started with the first one).
    #[cfg(not(target_os = "linux"))]
    waker: Option<Waker>,
    #[cfg(not(target_os = "linux"))]
    waker_tried: bool,
}

impl BlockingWait {
    /// For a socket that is non-blocking now.
    pub(super) fn new() -> BlockingWait {
        BlockingWait {
            nonblocking: true,
            timeout: None,
            #[cfg(not(target_os = "linux"))]
            waker: None,
            #[cfg(not(target_os = "linux"))]
            waker_tried: false,
        }
    }

    /// Blocking reads that give up after `wait`, rounded up to whole milliseconds (the kernel
    /// keeps the timeout in ticks anyway), so the value rarely changes between waits.
    fn block_for(&mut self, socket: &UdpSocket, wait: Duration) -> io::Result<()> {
        let wait = Duration::from_millis(wait.as_micros().div_ceil(1000).max(1) as u64);
        self.set_mode(socket, Some(wait))
    }

    /// Non-blocking reads, for draining the socket.
    #[cfg(not(target_os = "linux"))]
    pub(super) fn nonblocking(&mut self, socket: &UdpSocket) -> io::Result<()> {
        self.set_mode(socket, None)
    }

    fn set_mode(&mut self, socket: &UdpSocket, blocking: Option<Duration>) -> io::Result<()> {
        let nonblocking = blocking.is_none();
        if self.nonblocking != nonblocking {
            socket.set_nonblocking(nonblocking)?;
            self.nonblocking = nonblocking;
        }
        if blocking.is_some() && self.timeout != blocking {
            socket.set_read_timeout(blocking)?;
            self.timeout = blocking;
        }
        Ok(())
    }

    /// A precise wait is about to block until `deadline`: the waker (started on first need)
    /// will end it then.
    #[cfg(not(target_os = "linux"))]
    fn arm(&mut self, local: std::net::SocketAddr, deadline: Instant, precise: bool) {
        if !precise {
            return;
        }
        if !self.waker_tried {
            self.waker_tried = true;
            match Waker::start(local) {
                Ok(waker) => self.waker = Some(waker),
                Err(err) => {
                    tracing::debug!(%err, "no waker thread: waits end at the coarse timeout")
                }
            }
        }
        if let Some(waker) = &self.waker {
            waker.arm(deadline);
        }
    }

    /// The blocking read of a precise wait is over.
    #[cfg(not(target_os = "linux"))]
    fn disarm(&self, precise: bool) {
        if let Some(waker) = self.waker.as_ref().filter(|_| precise) {
            waker.disarm();
        }
    }

    #[cfg(not(target_os = "linux"))]
    fn drop_waker(&mut self) {
        self.waker = None;
        self.waker_tried = false;
    }

    /// Whether an empty datagram from `from` is the waker's, not traffic.
    #[cfg(not(target_os = "linux"))]
    pub(super) fn is_wake_up(&self, from: std::net::SocketAddr, len: usize) -> bool {
        len == 0
            && self
                .waker
                .as_ref()
                .is_some_and(|w| w.source() == crate::address::canonical_addr(from))
    }

    #[cfg(all(test, not(target_os = "linux")))]
    fn has_waker(&self) -> bool {
        self.waker.is_some()
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use rust_enet_proto::HostConfig;

    use super::*;
    use crate::BindAddress;

    fn idle_host() -> UdpHost {
        let loopback = BindAddress::Ip(IpAddr::V4(Ipv4Addr::LOCALHOST));
        UdpHost::bind(loopback, 0, HostConfig::default()).unwrap()
    }

    #[test]
    fn a_wait_nothing_ends_lasts_its_timeout() {
        let mut host = idle_host();
        let start = Instant::now();
        assert!(host.service(Duration::from_millis(30)).unwrap().is_none());
        // Never early; the upper bound only catches a wait that does not end at all.
        assert!(start.elapsed() >= Duration::from_millis(30));
        assert!(start.elapsed() < Duration::from_secs(5));
        assert_eq!(host.driver_statistics().datagrams_received, 0);
    }

    #[test]
    fn a_datagram_ends_a_wait_blocking_or_precise() {
        for precision in [WaitPrecision::Coarse, WaitPrecision::Precise] {
            let mut host = idle_host();
            host.set_wait_precision(precision);
            let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            let target = host.local_addr();
            let start = Instant::now();
            std::thread::scope(|scope| {
                scope.spawn(|| {
                    std::thread::sleep(Duration::from_millis(20));
                    // Not ENet: the core drops it, but the wait must end for it.
                    sender.send_to(b"not enet", target).unwrap();
                });
                // A wait of 10 s that the datagram ends (service would go on waiting for an
                // event).
                host.wait_and_receive(Duration::from_secs(10)).unwrap();
            });
            assert_eq!(
                host.driver_statistics().datagrams_received,
                1,
                "{precision:?}"
            );
            assert!(start.elapsed() < Duration::from_secs(5), "{precision:?}");
        }
    }

    #[cfg(not(target_os = "linux"))]
    #[test]
    fn wake_ups_are_not_traffic() {
        let mut host = idle_host();
        host.set_wait_precision(WaitPrecision::Precise);
        for _ in 0..20 {
            assert!(host.service(Duration::from_millis(1)).unwrap().is_none());
        }
        assert!(host.blocking.has_waker());
        assert_eq!(host.host().statistics().total_received_packets, 0);
        assert_eq!(host.host().statistics().dropped_malformed, 0);
    }
}
