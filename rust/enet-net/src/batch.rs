//! Linux system-call batching: `recvmmsg`/`sendmmsg` and socket buffer sizes, through `nix`'s
//! safe wrappers (the crate forbids `unsafe`).
//!
//! On loopback a server's CPU is mostly the kernel's, and one system call per datagram is the
//! largest share of it that a driver controls: a batch read moves up to [`SLOTS`] datagrams per
//! call, a batch send all transmits of a flush.
//!
//! `nix`'s `MultiHeaders` holds raw pointers, so it is neither `Send` nor `Sync`; keeping one in
//! [`UdpHost`](crate::UdpHost) would make the host `!Send`. The headers therefore live in
//! thread-locals (allocated once per thread, reused by every host on it), while the datagram
//! buffers belong to each host. Receive headers are kept per address family: the kernel writes
//! the source address length back into them, and a length left by an IPv4 socket would cut the
//! next IPv6 address short.

use std::cell::RefCell;
use std::io::{self, IoSlice, IoSliceMut};
use std::net::{SocketAddr, UdpSocket};
use std::ops::Range;
use std::os::fd::AsRawFd;

use nix::sys::socket::{
    ControlMessage, ControlMessageOwned, MsgFlags, MultiHeaders, SockaddrStorage, recvmmsg,
    sendmmsg, sendmsg, setsockopt, sockopt,
};

/// Datagrams per system call, both directions.
pub(crate) const SLOTS: usize = 32;

thread_local! {
    static RECEIVE_HEADERS_V4: RefCell<MultiHeaders<SockaddrStorage>> =
        RefCell::new(MultiHeaders::preallocate(SLOTS, None));
    static RECEIVE_HEADERS_V6: RefCell<MultiHeaders<SockaddrStorage>> =
        RefCell::new(MultiHeaders::preallocate(SLOTS, None));
    static SEND_HEADERS: RefCell<MultiHeaders<SockaddrStorage>> =
        RefCell::new(MultiHeaders::preallocate(SLOTS, None));
    /// Receive headers with room for a `UDP_GRO` segment size, as long as no call has
    /// written into them (see [`ReceiveBatch::receive`]); `None` once one has.
    static GRO_HEADERS: RefCell<Option<MultiHeaders<SockaddrStorage>>> =
        const { RefCell::new(None) };
}

/// Turn on UDP receive offload (`UDP_GRO`): runs of equal-sized datagrams of one flow (on
/// loopback: one GSO send) arrive as one buffer with their segment size. Returns whether the
/// kernel accepted it.
pub(crate) fn enable_gro(socket: &UdpSocket) -> bool {
    match setsockopt(socket, sockopt::UdpGroSegment, &true) {
        Ok(()) => true,
        Err(err) => {
            tracing::debug!(%err, "UDP_GRO refused");
            false
        }
    }
}

/// Receive slot size with `UDP_GRO`: the largest UDP payload, which a coalesced buffer can fill.
/// Only the pages a datagram touches become resident, so small datagrams cost what they did.
pub(crate) const GRO_SLOT: usize = 65_536;

/// One received buffer of a batch: one datagram, or with `UDP_GRO` several back to back.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Received {
    /// Bytes written into the slot (at most the slot size).
    pub len: usize,
    /// The kernel cut the datagram to the slot (`MSG_TRUNC`), or its segment size was lost
    /// (`MSG_CTRUNC`): the buffer cannot be used.
    pub truncated: bool,
    /// With `UDP_GRO`: the size of each coalesced datagram (the last may be shorter); 0 for a
    /// single datagram.
    pub segment: usize,
    pub from: Option<SocketAddr>,
}

/// Reusable receive slots of one host: `SLOTS` buffers of `slot` bytes each. The default is
/// an empty stand-in (no allocation) for while the host borrows the real one; everything lives
/// behind pointers, so that swap moves a few words, not a 2 KiB array (it happens on every
/// receive, also the many that find nothing).
#[derive(Debug, Default)]
pub(crate) struct ReceiveBatch {
    buffers: Box<[u8]>,
    slot: usize,
    received: Box<[Received]>,
    count: usize,
    /// The socket has `UDP_GRO` on: buffers may hold several datagrams.
    gro: bool,
}

impl ReceiveBatch {
    pub fn new(slot: usize) -> Self {
        Self {
            buffers: vec![0; slot * SLOTS].into_boxed_slice(),
            slot,
            received: vec![Received::default(); SLOTS].into_boxed_slice(),
            count: 0,
            gro: false,
        }
    }

    /// Slots for a socket with `UDP_GRO` on.
    pub fn with_gro() -> Self {
        Self {
            gro: true,
            ..Self::new(GRO_SLOT)
        }
    }

    /// Whether the slots are `UDP_GRO`-sized.
    pub fn is_gro(&self) -> bool {
        self.gro
    }

    /// One `recvmmsg`. `wait`: block (with the socket's read timeout) until the first datagram,
    /// then take what else is waiting (`MSG_WAITFORONE`); otherwise never block
    /// (`MSG_DONTWAIT`, whatever the socket's mode). Returns how many buffers arrived.
    pub fn receive(&mut self, socket: &UdpSocket, ipv6: bool, wait: bool) -> io::Result<usize> {
        self.count = 0;
        let flags = if wait {
            MsgFlags::MSG_WAITFORONE
        } else {
            MsgFlags::MSG_DONTWAIT
        };
        let slot = self.slot;
        let received = &mut self.received;
        let buffers = &mut self.buffers;
        let mut receive = |headers: &mut MultiHeaders<SockaddrStorage>| -> io::Result<usize> {
            let mut iovs: [[IoSliceMut<'_>; 1]; SLOTS] =
                std::array::from_fn(|_| [IoSliceMut::new(&mut [])]);
            for (iov, buffer) in iovs.iter_mut().zip(buffers.chunks_exact_mut(slot)) {
                *iov = [IoSliceMut::new(buffer)];
            }
            let results = recvmmsg(socket.as_raw_fd(), headers, iovs.iter_mut(), flags, None)
                .map_err(io::Error::from)?;
            let mut count = 0;
            for (out, message) in received.iter_mut().zip(results) {
                let mut segment = 0;
                let mut control_lost = false;
                match message.cmsgs() {
                    Ok(cmsgs) => {
                        for cmsg in cmsgs {
                            if let ControlMessageOwned::UdpGroSegments(size) = cmsg {
                                segment = usize::try_from(size).unwrap_or(0);
                            }
                        }
                    }
                    Err(_) => control_lost = true,
                }
                *out = Received {
                    len: message.bytes,
                    truncated: message.flags.contains(MsgFlags::MSG_TRUNC) || control_lost,
                    segment,
                    from: message.address.as_ref().and_then(socket_addr),
                };
                count += 1;
            }
            Ok(count)
        };
        let count = if self.gro {
            // The kernel writes the control (and address) length it used back into the header
            // of every datagram it delivers, and nix reuses headers without restoring them: a
            // datagram without a segment size would leave its header unable to carry one next
            // time. Headers are therefore used again only after calls that delivered nothing
            // (an error, mostly "nothing waiting", writes nothing back), and built afresh after
            // the others: a zero-timeout service that finds nothing allocates nothing.
            let mut headers = GRO_HEADERS
                .take()
                .unwrap_or_else(|| MultiHeaders::preallocate(SLOTS, Some(nix::cmsg_space!(i32))));
            let result = receive(&mut headers);
            if result.is_err() {
                GRO_HEADERS.set(Some(headers));
            }
            result?
        } else if ipv6 {
            RECEIVE_HEADERS_V6.with_borrow_mut(receive)?
        } else {
            RECEIVE_HEADERS_V4.with_borrow_mut(receive)?
        };
        self.count = count;
        Ok(count)
    }

    /// Buffer `index` of the last batch and its bytes.
    pub fn datagram(&self, index: usize) -> (Received, &[u8]) {
        let received = self.received[index];
        let start = index * self.slot;
        (
            received,
            &self.buffers[start..start + received.len.min(self.slot)],
        )
    }
}

fn socket_addr(addr: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = addr.as_sockaddr_in() {
        Some(SocketAddr::V4((*v4).into()))
    } else {
        addr.as_sockaddr_in6()
            .map(|v6| SocketAddr::V6((*v6).into()))
    }
}

/// Reusable send slots of one host: datagrams are written back to back by the core, then leave
/// together: runs of equal-sized datagrams to one destination as one UDP GSO send each
/// (`UDP_SEGMENT`), the rest in one `sendmmsg`.
#[derive(Debug)]
pub(crate) struct SendBatch {
    buffers: Box<[u8]>,
    slot: usize,
    /// Where each committed datagram starts in `buffers` and how long it is.
    starts: [usize; SLOTS],
    lens: [usize; SLOTS],
    destinations: [Option<SockaddrStorage>; SLOTS],
    count: usize,
    /// Bytes of `buffers` in use (the next datagram is written here).
    used: usize,
    /// Generic segmentation offload: on until the kernel refuses it once.
    gso: bool,
}

/// What becomes of each datagram of a [`SendBatch::send`], for the caller's statistics and log.
pub(crate) trait SendReport {
    /// A datagram of `len` bytes was handed to the socket; `gso`: in a segmentation offload send.
    fn sent(&mut self, len: usize, gso: bool);
    /// A datagram was dropped for its destination.
    fn failed(&mut self, err: &io::Error);
}

/// What a failed `sendmmsg` did to the first datagram of the rest.
pub(crate) enum SendFailure {
    /// This destination only: drop the datagram and go on (`io::Error` for the log).
    Dropped(io::Error),
    /// Report to the caller.
    Fatal(io::Error),
}

/// Largest UDP payload one GSO send may carry (the IPv4 datagram's 16-bit total length, less
/// the IP and UDP headers, with room for IPv4 options).
const GSO_MAX_BYTES: usize = 65_000;

/// Segments one GSO send may carry (the kernel's `UDP_MAX_SEGMENTS` is 64 or more).
const GSO_MAX_SEGMENTS: usize = 64;

impl SendBatch {
    pub fn new(slot: usize) -> Self {
        Self {
            buffers: vec![0; slot * SLOTS].into_boxed_slice(),
            slot,
            starts: [0; SLOTS],
            lens: [0; SLOTS],
            destinations: [None; SLOTS],
            count: 0,
            used: 0,
            gso: true,
        }
    }

    pub fn is_full(&self) -> bool {
        self.count == SLOTS
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The free slot the next datagram is written into (the batch must not be full). It starts
    /// right after the last committed datagram, so equal-sized datagrams lie back to back.
    pub fn next_slot(&mut self) -> &mut [u8] {
        // `used` is at most `count * slot` (every datagram is at most `slot` long), and the
        // buffer holds `SLOTS` slots, so a whole slot always fits while the batch is not full.
        &mut self.buffers[self.used..self.used + self.slot]
    }

    /// Take the next slot's first `len` bytes as a datagram to `destination`.
    pub fn commit(&mut self, len: usize, destination: SocketAddr) {
        self.starts[self.count] = self.used;
        self.lens[self.count] = len;
        self.destinations[self.count] = Some(SockaddrStorage::from(destination));
        self.count += 1;
        self.used += len;
    }

    /// How many datagrams from `first` on can leave as one GSO send: same destination, same
    /// length, except that the last may be shorter (the kernel's rule for `UDP_SEGMENT`).
    fn gso_run(&self, first: usize, count: usize) -> usize {
        let size = self.lens[first];
        if !self.gso || size == 0 {
            return 1;
        }
        let mut end = first + 1;
        let mut bytes = size;
        while end < count
            && end - first < GSO_MAX_SEGMENTS
            && self.destinations[end] == self.destinations[first]
            && self.lens[end] <= size
            && self.lens[end] > 0
            && bytes + self.lens[end] <= GSO_MAX_BYTES
        {
            bytes += self.lens[end];
            end += 1;
            if self.lens[end - 1] < size {
                break;
            }
        }
        end - first
    }

    /// Send every committed datagram, telling `report` what became of each. Returns the first
    /// error that concerns the socket itself.
    pub fn send(&mut self, socket: &UdpSocket, report: &mut impl SendReport) -> io::Result<()> {
        let count = std::mem::take(&mut self.count);
        self.used = 0;
        let mut single_from = 0;
        let mut index = 0;
        while index < count {
            let run = self.gso_run(index, count);
            if run < 2 {
                index += 1;
                continue;
            }
            self.send_singles(socket, single_from..index, report)?;
            let gso_run = index..index + run;
            if !self.send_gso(socket, gso_run.clone(), report)? {
                // GSO refused: from now on this host sends datagram by datagram.
                self.gso = false;
                self.send_singles(socket, gso_run, report)?;
            }
            index += run;
            single_from = index;
        }
        self.send_singles(socket, single_from..count, report)
    }

    /// One `sendmsg` with `UDP_SEGMENT` for the datagrams of `run` (back to back in the buffer).
    /// Returns `false` when the kernel refused segmentation offload itself.
    fn send_gso(
        &self,
        socket: &UdpSocket,
        run: Range<usize>,
        report: &mut impl SendReport,
    ) -> io::Result<bool> {
        let first = run.start;
        let last = run.end - 1;
        let start = self.starts[first];
        let end = self.starts[last] + self.lens[last];
        let Ok(segment) = u16::try_from(self.lens[first]) else {
            return Ok(false);
        };
        let iov = [IoSlice::new(&self.buffers[start..end])];
        let control = [ControlMessage::UdpGsoSegments(&segment)];
        loop {
            let result = sendmsg(
                socket.as_raw_fd(),
                &iov,
                &control,
                MsgFlags::empty(),
                self.destinations[first].as_ref(),
            );
            return match result {
                Ok(_) => {
                    for i in run {
                        report.sent(self.lens[i], true);
                    }
                    Ok(true)
                }
                Err(nix::errno::Errno::EINTR) => continue,
                // No segmentation offload here (old kernel, a device that cannot checksum, a
                // segment larger than the route's MTU): the caller sends one by one.
                Err(
                    nix::errno::Errno::EINVAL
                    | nix::errno::Errno::EIO
                    | nix::errno::Errno::ENOPROTOOPT
                    | nix::errno::Errno::EOPNOTSUPP,
                ) => Ok(false),
                Err(errno) => match classify_send_error(io::Error::from(errno)) {
                    SendFailure::Dropped(err) => {
                        for _ in run {
                            report.failed(&err);
                        }
                        Ok(true)
                    }
                    SendFailure::Fatal(err) => Err(err),
                },
            };
        }
    }

    /// The datagrams of `singles` in as few `sendmmsg` calls as the kernel allows.
    fn send_singles(
        &self,
        socket: &UdpSocket,
        singles: Range<usize>,
        report: &mut impl SendReport,
    ) -> io::Result<()> {
        let (mut done, to) = (singles.start, singles.end);
        let no_control: [ControlMessage<'_>; 0] = [];
        SEND_HEADERS.with_borrow_mut(|headers| {
            while done < to {
                let mut iovs: [[IoSlice<'_>; 1]; SLOTS] =
                    std::array::from_fn(|_| [IoSlice::new(&[])]);
                for (i, iov) in iovs[..to - done].iter_mut().enumerate() {
                    let start = self.starts[done + i];
                    *iov = [IoSlice::new(
                        &self.buffers[start..start + self.lens[done + i]],
                    )];
                }
                let result = sendmmsg(
                    socket.as_raw_fd(),
                    headers,
                    iovs[..to - done].iter(),
                    &self.destinations[done..to],
                    no_control,
                    MsgFlags::empty(),
                );
                match result {
                    Ok(results) => {
                        let accepted = results.count();
                        for i in done..done + accepted {
                            report.sent(self.lens[i], false);
                        }
                        done += accepted;
                        if accepted == 0 {
                            // Not expected from Linux; never spin on it.
                            report.failed(&io::Error::from(io::ErrorKind::WouldBlock));
                            done += 1;
                        }
                    }
                    Err(nix::errno::Errno::EINTR) => {}
                    Err(errno) => match classify_send_error(io::Error::from(errno)) {
                        SendFailure::Dropped(err) => {
                            report.failed(&err);
                            done += 1;
                        }
                        SendFailure::Fatal(err) => return Err(err),
                    },
                }
            }
            Ok(())
        })
    }
}

/// ENet counts "would block" as sent; the other listed errors concern only one destination.
pub(crate) fn classify_send_error(err: io::Error) -> SendFailure {
    use io::ErrorKind::*;
    match err.kind() {
        WouldBlock | ConnectionRefused | ConnectionReset | HostUnreachable | NetworkUnreachable
        | AddrNotAvailable | PermissionDenied | InvalidInput => SendFailure::Dropped(err),
        _ => SendFailure::Fatal(err),
    }
}

/// Send one datagram with the IP time-to-live (IPv6 hop limit) `ttl`, given per datagram
/// (`IP_TTL` / `IPV6_HOPLIMIT` control message), so nothing else leaving the socket meanwhile
/// (a service thread's sends) is touched.
pub(crate) fn send_with_ttl(
    socket: &UdpSocket,
    target: SocketAddr,
    data: &[u8],
    ttl: u8,
) -> io::Result<()> {
    let iov = [IoSlice::new(data)];
    let destination = SockaddrStorage::from(target);
    let v6 = matches!(target, SocketAddr::V6(v6) if v6.ip().to_ipv4_mapped().is_none());
    let hops = nix::libc::c_int::from(ttl);
    let control = if v6 {
        [ControlMessage::Ipv6HopLimit(&hops)]
    } else {
        [ControlMessage::Ipv4Ttl(&hops)]
    };
    loop {
        match sendmsg(
            socket.as_raw_fd(),
            &iov,
            &control,
            MsgFlags::empty(),
            Some(&destination),
        ) {
            Ok(_) => return Ok(()),
            Err(nix::errno::Errno::EINTR) => continue,
            Err(errno) => return Err(io::Error::from(errno)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The TTL a datagram arrived with at `socket` (`IP_RECVTTL`).
    fn received_ttl(socket: &UdpSocket) -> u8 {
        let mut buffer = [0u8; 64];
        let mut iov = [IoSliceMut::new(&mut buffer)];
        let mut space = nix::cmsg_space!(nix::libc::c_int);
        let message = nix::sys::socket::recvmsg::<SockaddrStorage>(
            socket.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::empty(),
        )
        .unwrap();
        let ttl = message.cmsgs().unwrap().find_map(|c| match c {
            ControlMessageOwned::Ipv4Ttl(ttl) => Some(ttl as u8),
            _ => None,
        });
        ttl.expect("no TTL control message")
    }

    #[test]
    fn a_datagram_leaves_with_the_ttl_asked_and_the_next_with_the_sockets() {
        let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
        setsockopt(&receiver, sockopt::Ipv4RecvTtl, &true).unwrap();
        let to = receiver.local_addr().unwrap();
        for sender in [
            UdpSocket::bind("127.0.0.1:0").unwrap(),
            UdpSocket::bind("[::]:0").unwrap(),
        ] {
            let target = match sender.local_addr().unwrap() {
                SocketAddr::V6(_) => SocketAddr::from((to.ip().to_canonical(), to.port())),
                SocketAddr::V4(_) => to,
            };
            let target =
                crate::address::socket_family_addr(sender.local_addr().unwrap(), target).unwrap();
            send_with_ttl(&sender, target, b"$-w-", 2).unwrap();
            assert_eq!(received_ttl(&receiver), 2, "from {:?}", sender.local_addr());
            sender.send_to(b"$-w-", target).unwrap();
            assert_eq!(received_ttl(&receiver), 64);
        }
    }

    fn batch(datagrams: &[(usize, u16)]) -> SendBatch {
        let mut batch = SendBatch::new(4100);
        for &(len, port) in datagrams {
            batch.next_slot()[..len].fill(0xAB);
            batch.commit(len, SocketAddr::from(([127, 0, 0, 1], port)));
        }
        batch
    }

    #[test]
    fn gso_runs_need_one_destination_and_one_size() {
        let b = batch(&[
            (1400, 1),
            (1400, 1),
            (1400, 1),
            (1400, 2),
            (900, 2),
            (900, 2),
        ]);
        assert_eq!(b.gso_run(0, b.count), 3);
        // Another peer starts a new run; a shorter datagram ends it (the kernel allows a short
        // last segment), so the second 900-byte one is alone.
        assert_eq!(b.gso_run(3, b.count), 2);
        assert_eq!(b.gso_run(4, b.count), 2);
        assert_eq!(b.gso_run(5, b.count), 1);
    }

    #[test]
    fn a_shorter_datagram_ends_a_gso_run() {
        let b = batch(&[(1400, 1), (1400, 1), (300, 1), (300, 1)]);
        assert_eq!(b.gso_run(0, b.count), 3);
        assert_eq!(b.gso_run(3, b.count), 1);
    }

    #[test]
    fn gso_runs_stay_below_the_datagram_size_limit() {
        let b = batch(&[(1400, 1); SLOTS]);
        // 46 * 1400 would fit in 65 000 bytes; 32 slots are the batch's limit.
        assert_eq!(b.gso_run(0, b.count), SLOTS);
        let b = batch(&[(4000, 1); 20]);
        assert_eq!(b.gso_run(0, b.count), 65_000 / 4000);
    }

    /// Counts the datagrams that left in GSO sends; a dropped one fails the test.
    #[derive(Default)]
    struct Offloaded(usize);

    impl SendReport for Offloaded {
        fn sent(&mut self, _len: usize, gso: bool) {
            self.0 += usize::from(gso);
        }

        fn failed(&mut self, err: &io::Error) {
            panic!("{err}");
        }
    }

    /// Sends `datagrams` (length, fill byte) through a batch to a plain socket (no GRO) and
    /// returns what that socket reads, datagram by datagram.
    fn sent_and_read(datagrams: &[(usize, u8)], gso: bool) -> (Vec<Vec<u8>>, usize) {
        let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
        receiver
            .set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut batch = SendBatch::new(4100);
        batch.gso = gso;
        for &(len, fill) in datagrams {
            batch.next_slot()[..len].fill(fill);
            batch.commit(len, receiver.local_addr().unwrap());
        }
        let mut offloaded = Offloaded::default();
        batch.send(&sender, &mut offloaded).unwrap();
        let mut buffer = [0u8; 8192];
        let read = (0..datagrams.len())
            .map(|_| {
                let (len, _) = receiver.recv_from(&mut buffer).unwrap();
                buffer[..len].to_vec()
            })
            .collect();
        (read, offloaded.0)
    }

    #[test]
    fn segmentation_offload_puts_the_same_datagrams_on_the_wire() {
        let datagrams = [(1400, 1), (1400, 2), (1400, 3), (700, 4), (90, 5), (90, 6)];
        let expected: Vec<Vec<u8>> = datagrams
            .iter()
            .map(|&(len, fill)| vec![fill; len])
            .collect();
        let (plain, offloaded) = sent_and_read(&datagrams, false);
        assert_eq!(plain, expected);
        assert_eq!(offloaded, 0);
        let (segmented, offloaded) = sent_and_read(&datagrams, true);
        assert_eq!(segmented, expected);
        // Two runs: the three full ones with the shorter 700, then the two 90-byte ones (a
        // kernel without UDP_SEGMENT sends them one by one instead).
        assert!(offloaded == 6 || offloaded == 0, "{offloaded}");
    }

    /// Headers kept after empty reads must still carry segment sizes after a read that wrote
    /// into them (a datagram without a segment size shrinks the control length the kernel
    /// writes back).
    #[test]
    fn gro_reads_keep_their_segment_sizes_across_empty_and_single_reads() {
        let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
        if !enable_gro(&receiver) {
            return; // no UDP_GRO on this kernel: nothing to check
        }
        let to = receiver.local_addr().unwrap();
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut batch = ReceiveBatch::with_gro();
        let read = |batch: &mut ReceiveBatch| -> Vec<Vec<u8>> {
            // Loopback delivers synchronously, but allow for a slow machine.
            for _ in 0..1_000 {
                match batch.receive(&receiver, false, false) {
                    Ok(count) => {
                        return (0..count)
                            .flat_map(|i| {
                                let (received, data) = batch.datagram(i);
                                assert!(!received.truncated);
                                let size = if received.segment > 0 {
                                    received.segment
                                } else {
                                    data.len()
                                };
                                data.chunks(size).map(<[u8]>::to_vec).collect::<Vec<_>>()
                            })
                            .collect();
                    }
                    Err(err) => assert_eq!(err.kind(), io::ErrorKind::WouldBlock),
                }
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            panic!("nothing arrived");
        };
        let empty = |batch: &mut ReceiveBatch| {
            let err = batch.receive(&receiver, false, false).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
        };
        for round in 0..3u8 {
            empty(&mut batch);
            empty(&mut batch);
            sender.send_to(&[round; 40], to).unwrap();
            assert_eq!(read(&mut batch), vec![vec![round; 40]]);
            empty(&mut batch);
            let mut run = SendBatch::new(4100);
            for _ in 0..3 {
                run.next_slot()[..1000].fill(round + 10);
                run.commit(1000, to);
            }
            run.send(&sender, &mut Offloaded::default()).unwrap();
            // With GSO and GRO one buffer and its segment size, else three datagrams: either
            // way the same three datagrams come out.
            let mut got = Vec::new();
            while got.len() < 3 {
                got.extend(read(&mut batch));
            }
            assert_eq!(got, vec![vec![round + 10; 1000]; 3]);
        }
    }

    #[test]
    fn datagrams_lie_back_to_back() {
        let b = batch(&[(10, 1), (20, 1), (5, 2)]);
        assert_eq!(&b.starts[..3], &[0, 10, 30]);
        assert_eq!(b.used, 35);
    }
}
