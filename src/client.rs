//! Per-connection state, owned by exactly one shard.

use std::time::Instant;

use std::sync::Arc;

use crate::codec::LineReader;
use crate::frame::ClientId;
use crate::outbound::Outbound;
use crate::proto::Session;
use crate::ratelimit::Bucket;
use crate::rooms::{Room, RoomId};
use crate::transport::Transport;

/// A room a client is in, and its place in the shard's member list of it.
#[derive(Debug)]
pub struct Membership {
    pub room: Arc<Room>,
    pub slot: usize,
}

/// One connected client. Holds no buffer while idle: the line reader and the
/// outbound queue allocate only while they hold bytes.
#[derive(Debug)]
pub struct Client {
    pub transport: Transport,
    pub id: ClientId,
    /// Empty until registered.
    pub nick: Box<str>,
    /// Named, welcomed and in a room (TLS clients: after the handshake).
    pub registered: bool,
    /// The server has a password and this client has not given it yet.
    pub locked: bool,
    /// An IRC operator (OPER): may KILL and WALLOPS.
    pub oper: bool,
    /// The nick a cluster-wide claim is on its way for.
    pub nick_pending: Option<Box<str>>,
    pub reader: LineReader,
    /// Its wire protocol: decoding its lines, rendering its replies.
    pub session: Session,
    pub out: Outbound,
    pub bucket: Bucket,
    /// Flood control for the presence commands (`/list`, `/who`, `/rooms`).
    pub presence: Bucket,
    /// The rooms it is in, in the order it joined them: the first is its
    /// current room (the line protocol's only one). Empty only while it
    /// is leaving.
    pub rooms: Vec<Membership>,
    /// Set once the client is leaving (after `/quit` or at shutdown): its
    /// last lines are being flushed and it is closed by this deadline.
    pub closing: Option<Instant>,
    /// Whether the poller currently reports writability for it (the
    /// poller's state, kept to avoid needless re-registrations).
    pub write_interest: bool,
    /// Queued on the shard's ready list (input left after the read budget).
    pub in_ready: bool,
    /// Queued on the shard's dirty list (own replies to flush this pass).
    pub dirty: bool,
    /// The poller reported that the peer shut down its side: read until
    /// the end of the stream, not just until a short read.
    pub peer_shut: bool,
    /// Its realname and activity (WHOIS, WHO), once registered.
    pub profile: Option<std::sync::Arc<crate::registry::Profile>>,
    /// The account it is logged in to.
    pub account: Option<Box<str>>,
    /// `account=<name>`: the tag its events carry while logged in.
    pub account_tag: Option<Box<str>>,
    /// An account command is with the storage; others wait for it.
    pub auth_pending: bool,
    /// Wrong passwords on this connection, and until when it may not try
    /// again (`shard/accounts.rs`).
    pub auth_fails: u8,
    pub auth_wait: Option<Instant>,
    /// Why it is being closed, once that is decided (for the metrics).
    pub closed_as: Option<crate::metrics::CloseReason>,
}

impl Client {
    pub fn new(
        transport: Transport,
        id: ClientId,
        session: Session,
        bucket: Bucket,
        presence: Bucket,
    ) -> Client {
        Client {
            transport,
            id,
            nick: Box::from(""),
            registered: false,
            locked: false,
            oper: false,
            nick_pending: None,
            reader: LineReader::new(),
            session,
            out: Outbound::default(),
            bucket,
            presence,
            rooms: Vec::new(),
            closing: None,
            write_interest: false,
            in_ready: false,
            dirty: false,
            peer_shut: false,
            profile: None,
            account: None,
            account_tag: None,
            auth_pending: false,
            auth_fails: 0,
            auth_wait: None,
            closed_as: None,
        }
    }
}

impl Client {
    /// Whether the server registers it now that it is connected (and its
    /// TLS handshake is done): a line client that owes no password.
    pub fn registers_now(&self) -> bool {
        !self.registered && !self.locked && self.session.registers_at_once()
    }

    /// Its protocol as the metrics label it (an index into
    /// [`crate::metrics::PROTOCOLS`]): the listener it came through.
    pub fn metric_proto(&self) -> usize {
        match (&self.transport, &self.session) {
            (crate::transport::Transport::Web(_), _) => 2,
            (_, crate::proto::Session::Irc(_)) => 1,
            _ => 0,
        }
    }

    /// Whether it is TLS with its handshake still under way.
    pub fn tls_handshaking(&self) -> bool {
        self.transport.tls_handshaking()
    }

    /// The form it reads events in: its session's, in WebSocket frames
    /// when it is a WebSocket.
    pub fn form(&self) -> crate::proto::Form {
        let form = self.session.form();
        match self.transport.web().and_then(|w| w.opcode()) {
            Some(opcode) => form.framed(opcode),
            None => form,
        }
    }

    /// Its current room (the first it joined of those it is in).
    pub fn current_room(&self) -> Option<&Arc<Room>> {
        self.rooms.first().map(|m| &m.room)
    }

    /// Where the room called `name` (with or without `#`, any case) is
    /// in its list of rooms.
    pub fn room_named(&self, name: &str) -> Option<usize> {
        let name = name.strip_prefix('#').unwrap_or(name);
        self.rooms
            .iter()
            .position(|m| m.room.name().eq_ignore_ascii_case(name))
    }

    /// Where room `id` is in its list of rooms.
    pub fn room_index(&self, id: RoomId) -> Option<usize> {
        self.rooms.iter().position(|m| m.room.id() == id)
    }
}
