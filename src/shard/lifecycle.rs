//! Connections arriving and leaving: taking a new connection from the
//! acceptor, TLS handshakes that run out of time, closing (with the
//! reason counted), clients lingering over their last lines, the goodbye
//! at shutdown, and the census `/connz` asks for.

use std::net::TcpStream;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::{commands, web, Shard};
use crate::client::Client;
use crate::frame::ClientId;
use crate::metrics::CloseReason;
use crate::poller::{Interest, Token};
use crate::proto::{Protocol, Reply, Session};
use crate::ratelimit::Bucket;
use crate::transport::Transport;

impl Shard {
    pub(super) fn add_client(
        &mut self,
        stream: TcpStream,
        id: ClientId,
        tls: bool,
        proto: Protocol,
    ) {
        if self.stopping.is_some() {
            self.shared.connected.fetch_sub(1, Ordering::Relaxed);
            return;
        }
        let transport = match (&self.shared.tls, tls) {
            (Some(config), true) => match Transport::tls(stream, config) {
                Ok(t) => t,
                Err(e) => {
                    crate::warn!("[Server] cannot start TLS: {e}");
                    self.shared.connected.fetch_sub(1, Ordering::Relaxed);
                    return;
                }
            },
            _ => Transport::Plain(stream),
        };
        let transport = match proto {
            Protocol::Web => Transport::Web(Box::new(crate::web::WebStream::new(
                transport,
                tls,
                Arc::clone(&self.shared.web),
            ))),
            _ => transport,
        };
        let key = self.clients.vacant_key();
        if let Err(e) = self
            .poller
            .register(transport.raw_fd(), Token(key), Interest::READABLE)
        {
            crate::warn!("[Server] cannot watch a new connection: {e}");
            self.shared.connected.fetch_sub(1, Ordering::Relaxed);
            return;
        }
        let bucket = Bucket::new(self.policy, self.now_ms());
        let presence = Bucket::new(commands::PRESENCE_POLICY, self.now_ms());
        let handshaking = transport.is_handshaking();
        let session = Session::new(proto, &self.shared.identity);
        if !session.registers_at_once() {
            self.keepalive.push((key, id));
        }
        let mut client = Client::new(transport, id, session, bucket, presence);
        client.locked = self.shared.config.server_password.is_some();
        self.metrics.accepted[client.metric_proto()].add(1);
        self.metrics.connections[client.metric_proto()].add(1);
        self.clients.insert(client);
        if handshaking {
            self.handshakes
                .push((key, id, self.now + self.shared.config.handshake_timeout));
        } else if self.clients[key].registers_now() {
            self.register(key);
        }
    }

    /// Closes TLS clients whose handshake did not finish in time.
    pub(super) fn reap_handshakes(&mut self) {
        let now = self.now;
        let clients = &self.clients;
        let mut expired = Vec::new();
        self.handshakes.retain(|&(key, id, deadline)| {
            // A WebSocket that is open has its protocol's own timeouts.
            let pending = clients.get(key).is_some_and(|c| {
                c.id == id
                    && !c.registered
                    && (c.transport.web().is_none() || c.transport.is_handshaking())
            });
            if pending && now >= deadline {
                expired.push(key);
            }
            pending && now < deadline
        });
        for key in expired {
            self.closing_as(key, CloseReason::HandshakeTimeout);
            self.close(key, None);
        }
    }

    pub(super) fn close_doomed(&mut self) {
        for (key, reason) in std::mem::take(&mut self.doomed) {
            self.close(key, reason);
        }
    }

    /// Removes a client now. Others hear about it unless it already said
    /// goodbye (`/quit`, shutdown).
    pub(super) fn close(&mut self, key: usize, reason: Option<&str>) {
        let Some(c) = self.clients.get(key) else {
            return; // doomed twice in one pass
        };
        if c.closing.is_none() && c.registered {
            self.say_goodbye(key, true, reason, self.now);
        }
        let mut c = self.clients.remove(key);
        let why = c.closed_as.unwrap_or_else(|| CloseReason::of(reason));
        let m = &self.metrics;
        m.closed[why as usize].add(1);
        m.connections[c.metric_proto()].sub(1);
        if c.tls_handshaking() && why != CloseReason::HandshakeTimeout {
            m.tls_failed.add(1);
        }
        web::last_frames(&mut c);
        c.transport.close_notify();
        // Deregister before the fd closes: poll(2) keeps fds it was given.
        let _ = self.poller.deregister(c.transport.raw_fd());
        self.shared.connected.fetch_sub(1, Ordering::Relaxed);
    }

    /// Closes lingering clients whose deadline passed.
    pub(super) fn reap_lingering(&mut self) {
        let now = self.now;
        let mut i = 0;
        while i < self.lingering.len() {
            let key = self.lingering[i];
            match self.clients.get(key).and_then(|c| c.closing) {
                Some(deadline) if now < deadline => i += 1,
                Some(_) => {
                    self.close(key, None);
                    self.lingering.swap_remove(i);
                }
                None => {
                    self.lingering.swap_remove(i);
                }
            }
        }
    }

    pub(super) fn begin_stopping(&mut self) {
        if self.stopping.is_some() {
            return;
        }
        let deadline = self.now + self.shared.config.shutdown_timeout;
        self.stopping = Some(deadline);
        let keys: Vec<usize> = self.clients.iter().map(|(k, _)| k).collect();
        for key in keys {
            if let Some(w) = self.clients[key].transport.web_mut() {
                w.going_away(crate::web::GoingAway::ShuttingDown);
            }
            self.reply(key, &Reply::ShuttingDown);
            self.closing_as(key, CloseReason::Shutdown);
            self.say_goodbye(key, false, Some("server shutting down"), deadline);
        }
    }

    /// Every connection this shard holds, for `/connz`.
    pub(super) fn census(&self) -> Vec<crate::metrics::ConnInfo> {
        self.clients
            .iter()
            .map(|(_, c)| crate::metrics::ConnInfo {
                id: c.id.0,
                nick: c.nick.to_string(),
                protocol: crate::metrics::PROTOCOLS[c.metric_proto()],
                tls: matches!(c.transport, Transport::Tls(_))
                    || c.transport
                        .web()
                        .is_some_and(|w| matches!(w.inner(), Transport::Tls(_))),
                shard: self.index,
                rooms: c.rooms.iter().map(|m| m.room.name().to_string()).collect(),
                account: c.account.as_deref().map(str::to_string),
                pending_bytes: (c.out.pending() + c.transport.buffered()) as u64,
                since_ms: c.profile.as_ref().map(|p| p.signon_s * 1000),
                addr: c
                    .profile
                    .as_ref()
                    .and_then(|p| p.addr)
                    .map(|a| a.to_string()),
            })
            .collect()
    }

    /// Records why a client is being closed, unless that is already known.
    pub(crate) fn closing_as(&mut self, key: usize, why: CloseReason) {
        if let Some(c) = self.clients.get_mut(key) {
            c.closed_as.get_or_insert(why);
        }
    }
}
