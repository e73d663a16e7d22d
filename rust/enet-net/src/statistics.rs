//! The driver's socket-level counters.

/// Socket-level counters of the driver (the core keeps its own, see `Host::statistics`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DriverStatistics {
    /// Datagrams handed to the socket.
    pub datagrams_sent: u64,
    /// Bytes handed to the socket.
    pub bytes_sent: u64,
    /// Datagrams read from the socket (including dropped ones).
    pub datagrams_received: u64,
    /// Bytes read from the socket.
    pub bytes_received: u64,
    /// Datagrams longer than [`MAXIMUM_DATAGRAM`](crate::MAXIMUM_DATAGRAM), dropped unread.
    pub dropped_truncated: u64,
    /// Sends that failed for one destination (unreachable, wrong address family, would block)
    /// and were dropped, as ENet drops them.
    pub send_failures: u64,
    /// DTLS: datagrams that failed DTLS processing (not a record of a session, not a ClientHello,
    /// broken session, from another address than the client's server) and were dropped.
    pub dtls_dropped: u64,
    /// DTLS server: ClientHellos dropped because of the pending-handshake cap, the session cap or
    /// refused new connections.
    pub dtls_refused_handshakes: u64,
    /// DTLS: handshakes that failed (bad cookie, certificate refused, protocol error).
    pub dtls_failed_handshakes: u64,
    /// DTLS: ENet datagrams not sent because no session was usable for their destination.
    pub dtls_unsent: u64,
    /// Datagrams (of `datagrams_sent`) that left in UDP segmentation offload sends: runs of
    /// equal-sized datagrams to one peer handed to the kernel as one buffer (Linux `UDP_SEGMENT`;
    /// the datagrams on the wire are the same).
    pub gso_datagrams: u64,
    /// Datagrams (of `datagrams_received`) that arrived coalesced with others in one buffer
    /// (Linux `UDP_GRO`) and were split again by the driver.
    pub gro_datagrams: u64,
    /// Bytes of large reassembly buffers mapped ahead of their fragments before blocking waits
    /// (`Host::prefault_reassembly`), so that copying the fragments in takes no page faults.
    pub reassembly_prefaulted: u64,
    /// Datagrams that were not ENet (punch packets, a rendezvous server's replies) kept for the
    /// owner's NAT traversal (see [`UdpHost::poll_side_datagram`](crate::UdpHost::poll_side_datagram)).
    pub side_datagrams: u64,
    /// Punch packets dropped because no traversal listened, or its queue was full.
    pub side_dropped: u64,
}

impl DriverStatistics {
    /// Adds what `other` counted (a layer's or a send's own counters) to these.
    pub(crate) fn add(&mut self, other: &DriverStatistics) {
        self.datagrams_sent += other.datagrams_sent;
        self.bytes_sent += other.bytes_sent;
        self.datagrams_received += other.datagrams_received;
        self.bytes_received += other.bytes_received;
        self.dropped_truncated += other.dropped_truncated;
        self.send_failures += other.send_failures;
        self.dtls_dropped += other.dtls_dropped;
        self.dtls_refused_handshakes += other.dtls_refused_handshakes;
        self.dtls_failed_handshakes += other.dtls_failed_handshakes;
        self.dtls_unsent += other.dtls_unsent;
        self.gso_datagrams += other.gso_datagrams;
        self.gro_datagrams += other.gro_datagrams;
        self.reassembly_prefaulted += other.reassembly_prefaulted;
        self.side_datagrams += other.side_datagrams;
        self.side_dropped += other.side_dropped;
    }
}
