//! A host's DTLS and link simulator settings, and what they report.

use super::UdpHost;
use crate::dtls::{
    Dtls, DtlsClientOptions, DtlsClientState, DtlsError, DtlsServerOptions, DtlsSessions,
};
use crate::link::{LinkConditions, LinkDirection, LinkStatistics};

impl UdpHost {
    /// Encrypt all traffic as a DTLS server (Godot's `ENetConnection.dtls_server_setup`). Call
    /// right after binding: plaintext peers stop working. Each remote address gets its own
    /// session; see [`DtlsServerOptions`] for the limits.
    pub fn dtls_server_setup(&mut self, options: DtlsServerOptions) -> Result<(), DtlsError> {
        if self.dtls.is_some() {
            return Err(DtlsError::AlreadyEnabled);
        }
        self.dtls = Some(Dtls::server(options, self.host.peer_limit())?);
        Ok(())
    }

    /// Encrypt all traffic as a DTLS client (Godot's `ENetConnection.dtls_client_setup`). Call
    /// before [`connect`](Self::connect) or right after it, before the next
    /// [`service`](Self::service) or [`flush`](Self::flush) sends the CONNECT: the handshake
    /// starts with the first datagram ENet sends.
    pub fn dtls_client_setup(&mut self, options: DtlsClientOptions) -> Result<(), DtlsError> {
        if self.dtls.is_some() {
            return Err(DtlsError::AlreadyEnabled);
        }
        self.dtls = Some(Dtls::client(options)?);
        Ok(())
    }

    /// DTLS sessions by state (a client has at most one); zero without DTLS.
    pub fn dtls_sessions(&self) -> DtlsSessions {
        self.dtls.as_ref().map(Dtls::sessions).unwrap_or_default()
    }

    /// The client's DTLS session state; `None` on a server or without DTLS. `Failed` is what
    /// Godot reports as `EVENT_ERROR` from `service()`.
    pub fn dtls_client_state(&self) -> Option<DtlsClientState> {
        self.dtls.as_ref().and_then(Dtls::client_state)
    }

    /// Godot's `ENetConnection.refuse_new_connections` on a DTLS server: start no new DTLS
    /// sessions while set (existing ones go on). No effect without a DTLS server.
    pub fn set_dtls_refuse_new_connections(&mut self, refuse: bool) {
        if let Some(dtls) = &mut self.dtls {
            dtls.set_refuse_new_sessions(refuse);
        }
    }

    /// Simulate a bad network on this host's traffic. Default: perfect in both directions.
    pub fn set_link_conditions(&mut self, direction: LinkDirection, conditions: LinkConditions) {
        if matches!(direction, LinkDirection::Outgoing | LinkDirection::Both) {
            self.outgoing_link.set_conditions(conditions);
        }
        if matches!(direction, LinkDirection::Incoming | LinkDirection::Both) {
            self.incoming_link.set_conditions(conditions);
        }
    }

    /// Current conditions of one direction (`Both` reports the outgoing one).
    pub fn link_conditions(&self, direction: LinkDirection) -> LinkConditions {
        match direction {
            LinkDirection::Incoming => self.incoming_link.conditions(),
            LinkDirection::Outgoing | LinkDirection::Both => self.outgoing_link.conditions(),
        }
    }

    /// Reseed the simulator's generators, for reproducible runs.
    pub fn set_link_seed(&mut self, seed: u64) {
        self.outgoing_link.reseed(seed);
        self.incoming_link.reseed(seed ^ 0x9E37_79B9_7F4A_7C15);
    }

    /// What the simulator did in one direction (`Both` sums the two).
    pub fn link_statistics(&self, direction: LinkDirection) -> LinkStatistics {
        let (out, inc) = (
            self.outgoing_link.statistics(),
            self.incoming_link.statistics(),
        );
        match direction {
            LinkDirection::Outgoing => out,
            LinkDirection::Incoming => inc,
            LinkDirection::Both => out.sum(&inc),
        }
    }
}
