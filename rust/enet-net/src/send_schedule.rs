//! When a host's datagrams leave: the one place that decides it.
//!
//! A game engine drives its host once per frame: a poll takes what arrived, the game answers,
//! and the frame ends. What leaves, and when, follows from a few rules:
//!
//! - **The game's packets leave together, at the end of the frame** ([`FlushPolicy::Frame`], the
//!   default): everything the owner queued since its last flush goes out in one flush, several
//!   packets per datagram, never in slices while the frame is still running. A service thread
//!   never sends them on its own. [`FlushPolicy::Immediate`] sends each at once instead (Godot's
//!   `ENetMultiplayerPeer` behaviour).
//! - **Acknowledgements of what arrived wait a little for the owner's answers** and leave with
//!   them when the owner flushes first. Without a service thread they wait for the owner's next
//!   flush or service, as nothing else could send them. With one, they wait at most
//!   [`flush_after`](SendSchedule::new) from their arrival, then the thread sends them alone:
//!   round-trip samples then stay steady whatever the frame times, and ENet's packet throttle
//!   reads unsteady samples as congestion (`godot-project/tests/test_throttle.gd`).
//! - **The protocol's own traffic leaves at once**: resends, pings, handshakes, disconnects.
//!
//! The schedule holds no packets and no clock: it is told what happened (`events_arrived`,
//! `owner_queued`, `owner_flushed`, `sent`) and answers what is [`Due`] at a time and the
//! [`deadline`](SendSchedule::deadline) of the next decision. The driver keeps the owner's
//! queued packets out of the protocol core until the schedule releases them
//! (`UdpHost` stages them), so a flush for the protocol's sake never carries them.

use std::time::{Duration, Instant};

/// When the packets the owner queues leave.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FlushPolicy {
    /// With the owner's next flush (the end of its frame) or service: one flush per frame.
    #[default]
    Frame,
    /// At once, each packet on its own; acknowledgements are not held back either.
    Immediate,
}

/// What may be sent now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    /// Nothing: acknowledgements wait for the owner's answers, and their deadline has not come.
    Nothing,
    /// What the protocol core has: acknowledgements, resends, pings, handshakes. The owner's
    /// queued packets stay queued.
    Protocol,
    /// Everything: the owner's queued packets are released and leave with the rest.
    Everything,
}

/// The send decisions of one host; see the module documentation.
///
/// # Driving it
///
/// - The driver calls [`events_arrived`](Self::events_arrived) when received datagrams left
///   events for the owner, [`owner_queued`](Self::owner_queued) when the owner queued a packet
///   and [`owner_flushed`](Self::owner_flushed) when the owner ended its frame (a flush) or
///   serviced the host.
/// - Whoever is about to send (the service thread after each wake, the owner's service pass)
///   asks [`due`](Self::due), sends that, and reports it with [`sent`](Self::sent).
/// - A service thread sleeps no longer than [`deadline`](Self::deadline).
#[derive(Debug, Clone)]
pub struct SendSchedule {
    policy: FlushPolicy,
    flush_after: Duration,
    /// When the oldest acknowledgements still held back for the owner's answers arrived.
    acks_held_since: Option<Instant>,
    /// The owner queued packets that have not left yet.
    owner_packets: bool,
    /// The owner flushed: everything is due.
    flush_requested: bool,
}

impl SendSchedule {
    /// How long a service thread holds acknowledgements for the owner's answers by default.
    pub const DEFAULT_FLUSH_AFTER: Duration = Duration::from_millis(1);

    /// A schedule with `policy` whose held acknowledgements a service thread sends
    /// `flush_after` after their arrival.
    pub fn new(policy: FlushPolicy, flush_after: Duration) -> SendSchedule {
        SendSchedule {
            policy,
            flush_after,
            acks_held_since: None,
            owner_packets: false,
            flush_requested: false,
        }
    }

    pub fn policy(&self) -> FlushPolicy {
        self.policy
    }

    /// Changes the policy; switching to `Immediate` makes what waits due at once.
    pub fn set_policy(&mut self, policy: FlushPolicy) {
        self.policy = policy;
        if policy == FlushPolicy::Immediate
            && (self.owner_packets || self.acks_held_since.is_some())
        {
            self.flush_requested = true;
        }
    }

    pub fn flush_after(&self) -> Duration {
        self.flush_after
    }

    pub fn set_flush_after(&mut self, flush_after: Duration) {
        self.flush_after = flush_after;
    }

    /// Received datagrams left events for the owner at `now`: their acknowledgements wait for
    /// the owner's answers (not under [`FlushPolicy::Immediate`]).
    pub fn events_arrived(&mut self, now: Instant) {
        if self.policy == FlushPolicy::Frame && self.acks_held_since.is_none() {
            self.acks_held_since = Some(now);
        }
    }

    /// The owner queued a packet. Returns whether it must be released into the protocol core
    /// now (`Immediate`) rather than staged for the frame's end.
    pub fn owner_queued(&mut self) -> bool {
        match self.policy {
            FlushPolicy::Frame => {
                self.owner_packets = true;
                false
            }
            FlushPolicy::Immediate => {
                self.flush_requested = true;
                true
            }
        }
    }

    /// The owner flushed (its frame ended) or serviced the host: everything is due.
    pub fn owner_flushed(&mut self) {
        self.flush_requested = true;
    }

    /// What may leave at `now`. `threaded`: a service thread asks, which sends held
    /// acknowledgements once they are `flush_after` old; the owner's own passes leave them for
    /// its flush.
    pub fn due(&self, now: Instant, threaded: bool) -> Due {
        if self.flush_requested {
            return Due::Everything;
        }
        match self.acks_held_since {
            None => Due::Protocol,
            Some(since) if threaded && now >= since + self.flush_after => Due::Protocol,
            Some(_) => Due::Nothing,
        }
    }

    /// `due` was sent.
    pub fn sent(&mut self, due: Due) {
        match due {
            Due::Nothing => {}
            Due::Protocol => self.acks_held_since = None,
            Due::Everything => {
                self.acks_held_since = None;
                self.owner_packets = false;
                self.flush_requested = false;
            }
        }
    }

    /// When a service thread must next decide (the held acknowledgements' deadline); `None`
    /// when nothing waits on time.
    pub fn deadline(&self) -> Option<Instant> {
        if self.flush_requested {
            return None; // due now: the waker already asked for it
        }
        self.acks_held_since.map(|since| since + self.flush_after)
    }

    /// Whether something waits for the owner's flush: queued packets, or held acknowledgements
    /// (which only the owner's flush sends when there is no service thread).
    pub fn waits_for_owner(&self) -> bool {
        !self.flush_requested && (self.owner_packets || self.acks_held_since.is_some())
    }

    /// Whether acknowledgements are held for the owner's answers (a flush for the protocol's
    /// sake would send them early).
    pub fn holds_acknowledgements(&self) -> bool {
        self.acks_held_since.is_some() && !self.flush_requested
    }

    /// Whether the owner asked for everything to leave and it has not yet.
    pub fn flush_requested(&self) -> bool {
        self.flush_requested
    }
}

impl Default for SendSchedule {
    fn default() -> Self {
        SendSchedule::new(FlushPolicy::Frame, Self::DEFAULT_FLUSH_AFTER)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    /// A virtual clock: `at(n)` is `n` ms after a fixed start.
    fn clock() -> impl Fn(u64) -> Instant {
        let start = Instant::now();
        move |ms| start + Duration::from_millis(ms)
    }

    #[test]
    fn protocol_traffic_leaves_at_once_and_game_packets_wait_for_the_frame() {
        let at = clock();
        let mut schedule = SendSchedule::default();
        assert_eq!(schedule.due(at(0), true), Due::Protocol);
        assert_eq!(schedule.deadline(), None);
        // The game queues three packets during its frame: staged, nothing new is due.
        for _ in 0..3 {
            assert!(!schedule.owner_queued());
        }
        assert!(schedule.waits_for_owner());
        assert_eq!(schedule.due(at(5), true), Due::Protocol);
        schedule.sent(Due::Protocol);
        // A thread pass for a ping must not release them: still waiting for the frame.
        assert!(schedule.waits_for_owner());
        assert_eq!(schedule.deadline(), None, "no timer for the game's packets");
        schedule.owner_flushed();
        assert_eq!(schedule.due(at(16), true), Due::Everything);
        schedule.sent(Due::Everything);
        assert!(!schedule.waits_for_owner());
        assert_eq!(schedule.due(at(16), true), Due::Protocol);
    }

    #[test]
    fn a_thread_sends_held_acknowledgements_flush_after_their_arrival() {
        let at = clock();
        let mut schedule = SendSchedule::new(FlushPolicy::Frame, 2 * MS);
        schedule.events_arrived(at(10));
        // More events later do not push the deadline back.
        schedule.events_arrived(at(11));
        assert_eq!(schedule.deadline(), Some(at(12)));
        assert_eq!(schedule.due(at(11), true), Due::Nothing);
        assert_eq!(schedule.due(at(12), true), Due::Protocol);
        // The owner's own pass never sends them: they wait for its flush.
        assert_eq!(schedule.due(at(50), false), Due::Nothing);
        schedule.sent(Due::Protocol);
        assert_eq!(schedule.deadline(), None);
        assert!(!schedule.holds_acknowledgements());
    }

    #[test]
    fn the_owners_flush_before_the_deadline_carries_acknowledgements_and_answers() {
        let at = clock();
        let mut schedule = SendSchedule::default();
        schedule.events_arrived(at(0));
        assert!(schedule.holds_acknowledgements());
        assert!(!schedule.owner_queued());
        schedule.owner_flushed();
        assert!(!schedule.holds_acknowledgements());
        assert_eq!(schedule.deadline(), None);
        assert_eq!(schedule.due(at(0), true), Due::Everything);
        assert_eq!(schedule.due(at(0), false), Due::Everything);
        schedule.sent(Due::Everything);
        assert_eq!(schedule.due(at(1), true), Due::Protocol);
        assert!(!schedule.waits_for_owner());
    }

    #[test]
    fn immediate_releases_each_packet_and_holds_nothing() {
        let at = clock();
        let mut schedule = SendSchedule::new(FlushPolicy::Immediate, MS);
        schedule.events_arrived(at(0));
        assert!(!schedule.holds_acknowledgements());
        assert_eq!(schedule.due(at(0), false), Due::Protocol);
        assert!(schedule.owner_queued(), "released into the core at once");
        assert_eq!(schedule.due(at(0), true), Due::Everything);
        schedule.sent(Due::Everything);
        assert_eq!(schedule.due(at(0), true), Due::Protocol);
    }

    #[test]
    fn switching_to_immediate_releases_what_waits() {
        let at = clock();
        let mut schedule = SendSchedule::default();
        schedule.owner_queued();
        schedule.events_arrived(at(0));
        schedule.set_policy(FlushPolicy::Immediate);
        assert_eq!(schedule.due(at(0), true), Due::Everything);
        let mut idle = SendSchedule::default();
        idle.set_policy(FlushPolicy::Immediate);
        assert_eq!(idle.due(at(0), true), Due::Protocol, "nothing waited");
    }

    #[test]
    fn acknowledgements_sent_for_a_ping_end_the_hold() {
        let at = clock();
        let mut schedule = SendSchedule::default();
        schedule.events_arrived(at(0));
        schedule.owner_queued();
        // A resend or ping is due before the deadline: the driver sends the core's traffic,
        // held acknowledgements included, and reports it.
        schedule.sent(Due::Protocol);
        assert!(!schedule.holds_acknowledgements());
        assert!(schedule.waits_for_owner(), "the game's packet still waits");
        assert_eq!(schedule.deadline(), None);
    }
}
