//! Time keeping: the unwrapped clock, the per-peer timer heap and `handle_timeout`.
//!
//! Each peer has at most one interesting deadline at a time (quinn-style fixed timer table): the
//! retransmission timeout of its oldest unacknowledged command, or, when nothing is in flight,
//! the next idle ping. The host keeps them in a min-heap keyed by an unwrapped `u64` clock with
//! lazy invalidation, so `handle_timeout` only visits peers whose deadline has come.

use std::cmp::Reverse;

use super::{HOST_BANDWIDTH_THROTTLE_INTERVAL, Host};
use crate::event::DisconnectReason;
use crate::peer::{PeerState, TimeoutCheck};
use crate::time::EnetTime;

impl Host {
    /// Records `now` as the service time and advances the unwrapped clock (never backwards).
    pub(crate) fn advance_clock(&mut self, now: EnetTime) {
        if self.clock == 0 && self.clock_time == EnetTime(0) {
            // First input: anchor the unwrapped clock (1, so that 0 never means "due").
            self.clock = 1;
            self.clock_time = now;
        } else if now.is_after(self.clock_time) {
            self.clock += u64::from(now.0.wrapping_sub(self.clock_time.0));
            self.clock_time = now;
        }
        self.service_time = now;
    }

    /// The unwrapped clock value of `t` (times not after the latest input are due now).
    fn to_clock(&self, t: EnetTime) -> u64 {
        if t.is_after(self.clock_time) {
            self.clock + u64::from(t.0.wrapping_sub(self.clock_time.0))
        } else {
            self.clock
        }
    }

    fn time_of_clock(&self, c: u64) -> EnetTime {
        self.clock_time
            .add_millis(c.saturating_sub(self.clock).min(u64::from(u32::MAX)) as u32)
    }

    /// The peer's next deadline, if it has one (see the module doc).
    fn peer_deadline(&self, idx: usize) -> Option<EnetTime> {
        let p = &self.peers[idx];
        if matches!(p.state, PeerState::Disconnected | PeerState::Zombie) {
            return None;
        }
        if p.state == PeerState::AcknowledgingConnect {
            return Some(self.handshake_deadline(idx));
        }
        if p.state == PeerState::Connecting && !p.attempt.candidates.is_empty() {
            let candidate = p.attempt.next_time;
            let resend = (!p.sent_reliable_commands.is_empty()).then_some(p.timeouts.next);
            return Some(match resend {
                Some(resend) if resend.is_before(candidate) => resend,
                _ => candidate,
            });
        }
        if !p.sent_reliable_commands.is_empty() {
            return Some(p.timeouts.next);
        }
        // Queued commands go out with the next `poll_transmit`, whose send pass adds the ping.
        if p.state == PeerState::Connected && p.queued_commands() == 0 {
            let now = self.clock_time;
            if now.distance(p.last_receive_time) >= p.ping_interval {
                return Some(now);
            }
            return Some(p.last_receive_time.add_millis(p.ping_interval));
        }
        None
    }

    /// Registers the peer's deadline in the heap if it is earlier than the one registered.
    pub(crate) fn schedule(&mut self, idx: usize) {
        self.schedule_not_before(idx, 0);
    }

    fn schedule_not_before(&mut self, idx: usize, floor: u64) {
        let Some(deadline) = self.peer_deadline(idx) else {
            return;
        };
        let key = self.to_clock(deadline).max(floor);
        let peer = &mut self.peers[idx];
        match peer.timer_registered {
            Some(registered) if registered <= key => {}
            _ => {
                peer.timer_registered = Some(key);
                self.timers.push(Reverse((key, idx as u16)));
            }
        }
    }

    /// Puts the peer in the queue of peers with something to transmit.
    pub(crate) fn mark_send(&mut self, idx: usize) {
        let peer = &mut self.peers[idx];
        if !peer.in_send_queue {
            peer.in_send_queue = true;
            self.send_queue.push_back(idx as u16);
        }
    }

    /// Runs everything that is due at `now`: retransmission timeouts and peer timeouts (8.5,
    /// 8.6), idle pings (6.7) and the host bandwidth throttle every second (9.3). Only peers
    /// whose deadline has come are visited.
    pub fn handle_timeout(&mut self, now: EnetTime) {
        self.advance_clock(now);
        if now.distance(self.bandwidth_throttle_epoch) >= HOST_BANDWIDTH_THROTTLE_INTERVAL {
            self.bandwidth_throttle(now);
        }
        while let Some(&Reverse((key, slot))) = self.timers.peek() {
            if key > self.clock {
                break;
            }
            self.timers.pop();
            let idx = usize::from(slot);
            if self.peers[idx].timer_registered != Some(key) {
                continue; // superseded by an earlier registration that already ran
            }
            self.peers[idx].timer_registered = None;
            self.service_peer_timers(idx, now);
            // Whatever is still due waits for the next millisecond: no spinning here.
            self.schedule_not_before(idx, self.clock + 1);
        }
        self.refresh_timer_top();
    }

    /// Makes the heap's top a deadline at which there is work, so that
    /// [`poll_timeout`](Self::poll_timeout) does not wake a driver for nothing: an entry
    /// superseded by an earlier registration is dropped, and a peer whose deadline moved later
    /// since it registered (an acknowledgement emptied its commands in flight, a datagram put its
    /// idle ping off) is registered again at the new time. A peer with no deadline at the moment
    /// keeps its entry: not every change of state registers the deadline it may gain, and that
    /// wake (`handle_timeout` registers what is then due) is how such a deadline was always
    /// found. Only the top is looked at; the entries below get the same treatment when they
    /// come up.
    pub(crate) fn refresh_timer_top(&mut self) {
        while let Some(&Reverse((key, slot))) = self.timers.peek() {
            let idx = usize::from(slot);
            if self.peers[idx].timer_registered != Some(key) {
                self.timers.pop();
                continue;
            }
            match self.peer_deadline(idx).map(|d| self.to_clock(d)) {
                Some(at) if at > key => {
                    self.timers.pop();
                    self.peers[idx].timer_registered = Some(at);
                    self.timers.push(Reverse((at, slot)));
                }
                _ => return,
            }
        }
    }

    fn service_peer_timers(&mut self, idx: usize, now: EnetTime) {
        if self.service_handshake_timer(idx, now) {
            return;
        }
        let peer = &mut self.peers[idx];
        if matches!(peer.state, PeerState::Disconnected | PeerState::Zombie) {
            return;
        }
        if peer.state == PeerState::Connecting
            && !peer.attempt.candidates.is_empty()
            && !now.is_before(peer.attempt.next_time)
        {
            self.try_next_connect_candidate(idx, now);
        }
        let peer = &mut self.peers[idx];
        if !peer.sent_reliable_commands.is_empty() && !now.is_before(peer.timeouts.next) {
            let resends_before = peer.traffic.resends;
            let check = peer.check_timeouts(now);
            self.stats.resends += self.peers[idx].traffic.resends - resends_before;
            match check {
                TimeoutCheck::TimedOut => {
                    self.notify_disconnect(idx, DisconnectReason::Timeout);
                    return;
                }
                // Like ENet, the next check waits for the deadline of the list front (which is
                // then not yet due), even if a command behind it is overdue.
                TimeoutCheck::Alive { requeued } => {
                    if requeued {
                        self.mark_send(idx);
                    }
                }
            }
        }
        let peer = &self.peers[idx];
        if peer.state == PeerState::Connected
            && peer.sent_reliable_commands.is_empty()
            && peer.queued_commands() == 0
            && now.distance(peer.last_receive_time) >= peer.ping_interval
        {
            self.queue_ping(idx);
        }
    }

    /// Whether a bandwidth throttle pass (9.3) would change anything: there is a limit on this
    /// host's outgoing bandwidth or a peer's incoming one, a recalculation of the limits is
    /// pending, or a peer's throttle limit is still below the full scale from a pass with limits.
    fn throttle_has_work(&self) -> bool {
        self.outgoing_bandwidth != 0
            || self.bandwidth_limited_peers > 0
            || self.recalculate_bandwidth_limits
            || !self.throttle_limits_full
    }

    /// When [`handle_timeout`](Self::handle_timeout) should run next, or `None` if nothing is
    /// pending. May be earlier than necessary, never later; with the timer heap's top refreshed
    /// after every input, an idle connection's host is woken only to ping.
    pub fn poll_timeout(&self) -> Option<EnetTime> {
        let mut best = self.timers.peek().map(|r| r.0.0);
        // With no connected peer the throttle has nothing to do (a pending recalculation waits
        // for the next connection, which schedules it); without limits neither (it would only
        // set every throttle limit to the full scale again), and then it runs with the next
        // `handle_timeout` that comes for another reason.
        if self.connected_peers > 0 && self.throttle_has_work() {
            let epoch = self.bandwidth_throttle_epoch;
            let bw = if self.clock_time.distance(epoch) >= HOST_BANDWIDTH_THROTTLE_INTERVAL {
                self.clock
            } else {
                self.to_clock(epoch.add_millis(HOST_BANDWIDTH_THROTTLE_INTERVAL))
            };
            best = Some(best.map_or(bw, |b| b.min(bw)));
        }
        best.map(|c| self.time_of_clock(c))
    }
}
