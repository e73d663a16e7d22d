//! Waiting for datagrams: how [`UdpHost::service`] blocks until a datagram, a timer or its
//! deadline.
//!
//! On Linux a wait is a `ppoll` on the socket with the exact time left: it ends as soon as a
//! datagram is readable, or on time (the kernel's high-resolution timer; no scheduler ticks),
//! and what is readable is then taken in one non-blocking batch read. The socket stays
//! non-blocking throughout, as ENet's does, and no helper thread is needed.
//!
//! Elsewhere std offers no readiness wait: a wait is a blocking read with `SO_RCVTIMEO`, which
//! some systems keep in scheduler ticks, and a helper thread (`waker.rs`) can end it on time
//! (see [`WaitPrecision`]).

use std::io;
use std::time::{Duration, Instant};

#[cfg(target_os = "linux")]
use std::net::UdpSocket;

use super::UdpHost;
#[cfg(target_os = "linux")]
use super::receive::{ReceiveError, classify_receive_error};
#[cfg(target_os = "linux")]
use crate::batch;
use crate::dtls::Dtls;
use crate::moderation::ReceiveCoalescing;

#[cfg(not(target_os = "linux"))]
pub(super) use blocking::BlockingWait;

/// How exactly a wait in [`UdpHost::service`] ends at its deadline, where the system offers no
/// readiness wait.
///
/// On Linux every wait is a `ppoll` and ends on time (within the kernel's timer slack, some
/// 50 µs): this setting changes nothing there. Elsewhere std has no `poll`, so the driver waits
/// with a blocking read, whose timeout some systems keep in scheduler ticks (a 1 ms wait that no
/// datagram ends may last a tick or more). A datagram always ends a wait at once. A helper
/// thread (started on first need) can end a wait on time by sending the host an empty
/// datagram; it wakes about once per millisecond while armed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WaitPrecision {
    /// Never use the helper: no extra thread, waits may overshoot by ticks.
    Coarse,
    /// Use the helper only for waits no datagram is expected to end: on hosts with at most
    /// 16 peers, when nothing is queued and nothing awaits acknowledgement (a client that sent
    /// everything and wants control back on time). Busy servers never pay for it.
    #[default]
    Auto,
    /// Use the helper for every wait: `service(1 ms)` loops return on time, at the cost of a
    /// helper wake-up per millisecond.
    Precise,
}

impl UdpHost {
    /// When a wait in [`service`](Self::service) must end on time; see [`WaitPrecision`]
    /// (no effect on Linux, where every wait ends on time).
    pub fn set_wait_precision(&mut self, precision: WaitPrecision) {
        self.wait_precision = precision;
        #[cfg(not(target_os = "linux"))]
        self.blocking.set_precision(precision);
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
        self.moderation.set_settings(coalescing);
    }

    /// The receive coalescing settings in force.
    pub fn receive_coalescing(&self) -> ReceiveCoalescing {
        self.moderation.settings()
    }

    /// Whether waits currently sleep before reading (the last observation window met the
    /// [`ReceiveCoalescing`] thresholds and this is not a probe window).
    pub fn is_coalescing_receives(&self) -> bool {
        self.moderation.is_active()
    }

    /// Wait up to `wait` for a datagram and deliver what came (on Linux with whatever else came
    /// with it). Returns whether the socket's queue is known to be empty now.
    pub(super) fn wait_and_receive(&mut self, wait: Duration) -> io::Result<bool> {
        let start = Instant::now();
        let deadline = start + wait;
        let received_before = self.stats.datagrams_received;
        // Busy many-peer host: let the datagrams of a short interval queue up first, so the
        // read below takes them all at once.
        let delay = self.moderation.delay(start).min(wait);
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
        let drained = self.wait_for_datagrams(wait, deadline)?;
        if self.stats.datagrams_received != received_before {
            self.moderation.record_wake();
        }
        self.release_incoming();
        Ok(drained)
    }

    /// The wait itself: `ppoll` until the socket is readable or `wait` has passed, then one
    /// non-blocking `recvmmsg` for everything that is there.
    #[cfg(target_os = "linux")]
    fn wait_for_datagrams(&mut self, wait: Duration, _deadline: Instant) -> io::Result<bool> {
        if !readable_within(&self.socket, wait)? {
            return Ok(false);
        }
        let mut batch = std::mem::take(&mut self.receive_batch);
        let result = match batch.receive(&self.socket, self.local_addr.is_ipv6(), false) {
            Ok(count) => {
                let now = self.clock.now();
                self.deliver_batch(now, &batch, count);
                // A batch that is not full took everything queued: the queue is empty.
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

    /// The wait itself: a blocking read that the waker may end at `deadline`.
    #[cfg(not(target_os = "linux"))]
    fn wait_for_datagrams(&mut self, wait: Duration, deadline: Instant) -> io::Result<bool> {
        let armed = self.blocking.wants_waker(&self.host, self.wait_precision);
        self.blocking
            .prepare(&self.socket, self.local_addr, wait, deadline, armed)?;
        let mut buffer = std::mem::take(&mut self.receive_buffer);
        let result = self.socket.recv_from(&mut buffer);
        self.blocking.finish(armed);
        let result = match result {
            Ok((len, from)) => {
                let now = self.clock.now();
                self.deliver(now, from, &buffer[..len], false);
                Ok(false)
            }
            Err(err) => match super::receive::classify_receive_error(&err) {
                super::receive::ReceiveError::Empty | super::receive::ReceiveError::Skip => {
                    Ok(false)
                }
                super::receive::ReceiveError::Truncated => {
                    self.count_unread_truncated();
                    Ok(false)
                }
                super::receive::ReceiveError::Fatal => Err(err),
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

/// Blocking reads with a timeout, and the waker that ends them on time (systems without a
/// readiness wait in std).
#[cfg(not(target_os = "linux"))]
mod blocking {
    use std::io;
    use std::net::{SocketAddr, UdpSocket};
    use std::time::{Duration, Instant};

    use rust_enet_proto::Host;

    use super::WaitPrecision;
    use crate::address::canonical_addr;
    use crate::waker::Waker;

    /// Peers up to which [`WaitPrecision::Auto`] looks at every peer before a wait.
    const AUTO_PRECISE_PEERS: usize = 16;

    /// The socket's read set-up and the waker. Waiting is a blocking read with a timeout and
    /// draining a non-blocking read; each change costs a system call (`ioctl(FIONBIO)`,
    /// `setsockopt(SO_RCVTIMEO)`), so both settings are remembered and no-op changes skipped.
    /// Sends may find the socket in blocking mode after a wait; a full send buffer then makes
    /// the send wait for room instead of dropping the datagram.
    #[derive(Debug)]
    pub(in crate::udp_host) struct BlockingWait {
        nonblocking: bool,
        /// The `SO_RCVTIMEO` last set (whole milliseconds).
        timeout: Option<Duration>,
        /// Ends blocking reads on time when precise waits are on (started with the first).
        waker: Option<Waker>,
        waker_tried: bool,
    }

    impl BlockingWait {
        /// For a socket that is non-blocking now.
        pub(in crate::udp_host) fn new() -> BlockingWait {
            BlockingWait {
                nonblocking: true,
                timeout: None,
                waker: None,
                waker_tried: false,
            }
        }

        pub(in crate::udp_host) fn set_precision(&mut self, precision: WaitPrecision) {
            if precision == WaitPrecision::Coarse {
                self.waker = None;
                self.waker_tried = false;
            }
        }

        /// Whether the coming wait needs the waker: always, never, or (`Auto`) when no
        /// datagram is expected to end it, i.e. a small host with nothing queued and nothing
        /// unacknowledged.
        pub(in crate::udp_host) fn wants_waker(
            &self,
            host: &Host,
            precision: WaitPrecision,
        ) -> bool {
            match precision {
                WaitPrecision::Coarse => false,
                WaitPrecision::Precise => true,
                WaitPrecision::Auto => {
                    // Hosts with many peers see traffic all the time; looking costs O(peers).
                    let small =
                        host.peers().take(AUTO_PRECISE_PEERS + 1).count() <= AUTO_PRECISE_PEERS;
                    small
                        && host.peers().all(|(_, peer)| {
                            peer.queued_commands() == 0 && peer.unacknowledged_commands() == 0
                        })
                }
            }
        }

        /// Sets the socket up for a blocking read of at most `wait` and arms the waker for
        /// `deadline` if `armed`. The timeout is rounded up to whole milliseconds (the kernel
        /// keeps it in ticks anyway), so it rarely changes between waits.
        pub(in crate::udp_host) fn prepare(
            &mut self,
            socket: &UdpSocket,
            local: SocketAddr,
            wait: Duration,
            deadline: Instant,
            armed: bool,
        ) -> io::Result<()> {
            if armed && !self.waker_tried {
                self.waker_tried = true;
                match Waker::start(local) {
                    Ok(waker) => self.waker = Some(waker),
                    Err(err) => {
                        tracing::debug!(%err, "no waker thread: waits end at the coarse timeout")
                    }
                }
            }
            let wait = Duration::from_millis(wait.as_micros().div_ceil(1000).max(1) as u64);
            self.set_mode(socket, Some(wait))?;
            if let Some(waker) = self.waker.as_ref().filter(|_| armed) {
                waker.arm(deadline);
            }
            Ok(())
        }

        /// The blocking read is over.
        pub(in crate::udp_host) fn finish(&self, armed: bool) {
            if let Some(waker) = self.waker.as_ref().filter(|_| armed) {
                waker.disarm();
            }
        }

        /// Non-blocking reads, for draining the socket.
        pub(in crate::udp_host) fn nonblocking(&mut self, socket: &UdpSocket) -> io::Result<()> {
            self.set_mode(socket, None)
        }

        /// Whether an empty datagram from `from` is the waker's, not traffic.
        pub(in crate::udp_host) fn is_wake_up(&self, from: SocketAddr, len: usize) -> bool {
            len == 0
                && self
                    .waker
                    .as_ref()
                    .is_some_and(|w| w.source() == canonical_addr(from))
        }

        #[cfg(test)]
        pub(in crate::udp_host) fn has_waker(&self) -> bool {
            self.waker.is_some()
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
    fn a_datagram_ends_a_wait() {
        let mut host = idle_host();
        let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let target = host.local_addr();
        let start = Instant::now();
        std::thread::scope(|scope| {
            scope.spawn(|| {
                std::thread::sleep(Duration::from_millis(20));
                // Not ENet: the core drops it, but the wait must end for it.
                sender.send_to(b"not enet", target).unwrap();
            });
            // A wait of 10 s that the datagram ends (service would go on waiting for an event).
            host.wait_and_receive(Duration::from_secs(10)).unwrap();
        });
        assert_eq!(host.driver_statistics().datagrams_received, 1);
        assert!(start.elapsed() < Duration::from_secs(5));
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
