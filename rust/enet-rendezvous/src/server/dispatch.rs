//! One client line at a time: noray's commands in noray's order of checks and replies, the
//! extension's commands, and the token policy.

use std::net::SocketAddr;
use std::time::Instant;

use super::Server;
use crate::addr_list;
use crate::command::{self, ClientCommand, Hello};
use crate::hosts::{ClientId, Host, RegisterError};
use crate::relay::RelayPorts;
use crate::reply::{EXTENSION_VERSION, ErrorCode, PeerMode, ServerLine, Welcome};

/// What one side of an orchestration is told about the other.
struct PeerView {
    client: ClientId,
    extended: bool,
    public: Vec<SocketAddr>,
    candidates: Vec<SocketAddr>,
}

impl Server {
    pub(super) fn handle_line(
        &mut self,
        now: Instant,
        id: ClientId,
        line: &[u8],
        ports: &mut dyn RelayPorts,
    ) {
        let command = command::parse(line);
        let Some(client) = self.clients.get(&id) else {
            return;
        };
        let plain_allowed = self.config.token.is_none() || self.config.allow_plain_noray;
        if !client.extended && !plain_allowed && !matches!(command, ClientCommand::Hello(_)) {
            tracing::info!(client = id.0, peer = %client.peer, "closing a client that did not present the token");
            return self.close(id);
        }
        match command {
            ClientCommand::RegisterHost => self.register_host(id),
            ClientCommand::Connect { oid } => self.connect(id, oid),
            ClientCommand::ConnectRelay { oid } => self.connect_relay(now, id, oid, ports),
            ClientCommand::Echo { data } => self.send(id, ServerLine::Echo(data)),
            ClientCommand::Hello(hello) => self.hello(id, hello),
            ClientCommand::Candidates { list } => self.candidates(id, list),
            ClientCommand::Unknown { command } => {
                tracing::debug!(client = id.0, command = %String::from_utf8_lossy(command), "unknown command ignored");
            }
        }
    }

    /// Tells an extended client why its command did nothing; plain clients hear nothing,
    /// as from noray.
    fn refuse(&mut self, id: ClientId, code: ErrorCode, text: &str) {
        tracing::debug!(client = id.0, code = code.as_str(), text, "command refused");
        if self.clients.get(&id).is_some_and(|c| c.extended) {
            self.send(id, ServerLine::Error(code, text));
        }
    }

    fn register_host(&mut self, id: ClientId) {
        let Some(client) = self.clients.get(&id) else {
            return;
        };
        // One host per connection: a repeated register-host gets the same ids again (noray
        // would create a second host that `findBySocket` never finds).
        if let Some(host) = client
            .host
            .as_ref()
            .and_then(|oid| self.hosts.get(oid.as_str().as_bytes()))
        {
            let (oid, pid) = (host.oid.clone(), host.pid.clone());
            self.send(id, ServerLine::SetOid(oid.as_str()));
            return self.send(id, ServerLine::SetPid(pid.as_str()));
        }
        match self.hosts.register(id, self.ids.as_mut()) {
            Ok(host) => {
                let (oid, pid) = (host.oid.clone(), host.pid.clone());
                tracing::info!(
                    client = id.0,
                    oid = oid.as_str(),
                    hosts = self.hosts.len(),
                    "host registered"
                );
                self.send(id, ServerLine::SetOid(oid.as_str()));
                self.send(id, ServerLine::SetPid(pid.as_str()));
                if let Some(client) = self.clients.get_mut(&id) {
                    client.host = Some(oid);
                }
            }
            Err(RegisterError::Full) => {
                tracing::warn!(
                    client = id.0,
                    max = self.config.max_hosts,
                    "register-host refused: host limit"
                );
                self.refuse(
                    id,
                    ErrorCode::HostLimit,
                    "the server holds its maximum of hosts",
                );
            }
            Err(RegisterError::Entropy(error)) => {
                tracing::error!(%error, "register-host failed");
                self.refuse(id, ErrorCode::Internal, "could not generate ids");
            }
        }
    }

    /// The host named by `oid` and the caller's own host, checked in noray's order.
    fn parties(
        &self,
        id: ClientId,
        oid: &[u8],
    ) -> Result<(&Host, &Host), (ErrorCode, &'static str)> {
        let host = self
            .hosts
            .get(oid)
            .ok_or((ErrorCode::UnknownOid, "no host has this oid"))?;
        if !host.is_registered() {
            return Err((
                ErrorCode::HostNotRegistered,
                "the host has no UDP address registered",
            ));
        }
        let own = self
            .clients
            .get(&id)
            .and_then(|c| c.host.as_ref())
            .and_then(|oid| self.hosts.get(oid.as_str().as_bytes()))
            .ok_or((ErrorCode::NoHost, "send register-host first"))?;
        if !own.is_registered() {
            return Err((
                ErrorCode::NotRegistered,
                "register your UDP address with the registrar first",
            ));
        }
        Ok((host, own))
    }

    fn view(&self, host: &Host) -> PeerView {
        let client = self.clients.get(&host.client);
        PeerView {
            client: host.client,
            extended: client.is_some_and(|c| c.extended),
            public: host.public(),
            candidates: client.map(|c| c.candidates.clone()).unwrap_or_default(),
        }
    }

    /// `connect <oid>`: each side gets the other's public address, the joiner first.
    fn connect(&mut self, id: ClientId, oid: &[u8]) {
        let (host, joiner) = match self.parties(id, oid) {
            Ok(parties) => parties,
            Err((code, text)) => return self.refuse(id, code, text),
        };
        let (host_view, joiner_view) = (self.view(host), self.view(joiner));
        let to_joiner = joiner.nat_address_of(host);
        let to_host = host.nat_address_of(joiner);
        tracing::info!(
            client = id.0,
            oid = host.oid.as_str(),
            ?to_joiner,
            ?to_host,
            "connect"
        );
        for (recipient, peer, addr) in [
            (&joiner_view, &host_view, to_joiner),
            (&host_view, &joiner_view, to_host),
        ] {
            if recipient.extended {
                self.send_peer(recipient.client, PeerMode::Nat, peer);
            }
            match addr {
                Some(addr) => self.send(recipient.client, ServerLine::Connect(addr)),
                None => tracing::debug!(
                    client = recipient.client.0,
                    "no common address family: no connect line"
                ),
            }
        }
    }

    /// `connect-relay <oid>`: a relay for each side's address, linked; each side gets the
    /// port that leads to the other, the joiner first.
    fn connect_relay(
        &mut self,
        now: Instant,
        id: ClientId,
        oid: &[u8],
        ports: &mut dyn RelayPorts,
    ) {
        let (host, joiner) = match self.parties(id, oid) {
            Ok(parties) => parties,
            Err((code, text)) => return self.refuse(id, code, text),
        };
        let (host_view, joiner_view) = (self.view(host), self.view(joiner));
        let (Some(host_addr), Some(joiner_addr)) = (host.relay_address(), joiner.relay_address())
        else {
            return;
        };
        let (host_port, joiner_port) = match self.relays.allocate_pair(
            host_addr,
            joiner_addr,
            now,
            ports,
        ) {
            Ok(pair) => pair,
            Err(error) => {
                tracing::warn!(client = id.0, %error, relays = self.relays.len(), "connect-relay refused");
                return self.refuse(id, ErrorCode::RelayUnavailable, &error.to_string());
            }
        };
        tracing::info!(
            client = id.0,
            host_port,
            joiner_port,
            relays = self.relays.len(),
            "connect-relay"
        );
        for (recipient, peer, port) in [
            (&joiner_view, &host_view, host_port),
            (&host_view, &joiner_view, joiner_port),
        ] {
            if recipient.extended {
                self.send_peer(recipient.client, PeerMode::Relay(port), peer);
            }
            self.send(recipient.client, ServerLine::ConnectRelay(port));
        }
    }

    fn send_peer(&mut self, to: ClientId, mode: PeerMode, peer: &PeerView) {
        let line = ServerLine::Peer {
            mode,
            public: &peer.public,
            lan: &peer.candidates,
        };
        self.send(to, line);
    }

    fn hello(&mut self, id: ClientId, hello: Result<Hello<'_>, &'static str>) {
        let authorized = |token: Option<&[u8]>, expected: &str| {
            // Same time whatever the first differing byte, so probing learns nothing.
            token.is_some_and(|t| {
                t.len() == expected.len()
                    && t.iter()
                        .zip(expected.as_bytes())
                        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                        == 0
            })
        };
        let hello = match hello {
            Ok(hello) => hello,
            Err(text) => {
                self.send(id, ServerLine::Error(ErrorCode::BadRequest, text));
                if self.config.token.is_some() && !self.clients.get(&id).is_some_and(|c| c.extended)
                {
                    self.close(id);
                }
                return;
            }
        };
        if !self
            .config
            .token
            .as_deref()
            .is_none_or(|expected| authorized(hello.token, expected))
        {
            tracing::info!(
                client = id.0,
                "closing a client with a wrong or missing token"
            );
            self.send(
                id,
                ServerLine::Error(ErrorCode::Unauthorized, "wrong or missing token"),
            );
            return self.close(id);
        }
        if let Some(client) = self.clients.get_mut(&id) {
            client.extended = true;
        }
        let welcome = Welcome {
            version: hello.version.min(EXTENSION_VERSION),
            registrar_port: self.listening.registrar_port,
            keepalive_secs: self.config.keepalive.as_secs(),
            ipv6: self.listening.ipv6,
            max_candidates: self.config.max_candidates,
        };
        self.send(id, ServerLine::Welcome(&welcome));
    }

    fn candidates(&mut self, id: ClientId, list: &[u8]) {
        if !self.clients.get(&id).is_some_and(|c| c.extended) {
            return tracing::debug!(client = id.0, "candidates before rust_enet-hello ignored");
        }
        let parsed = std::str::from_utf8(list)
            .map_err(|_| "the list is not UTF-8".to_owned())
            .and_then(|text| {
                addr_list::parse(text, self.config.max_candidates).map_err(|e| e.to_string())
            });
        match parsed {
            Ok(candidates) => {
                if let Some(client) = self.clients.get_mut(&id) {
                    client.candidates = candidates;
                }
            }
            Err(text) => self.refuse(id, ErrorCode::BadRequest, &text),
        }
    }
}
