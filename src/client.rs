//! Per-connection state, owned by exactly one shard.

use std::net::TcpStream;
use std::time::Instant;

use crate::codec::LineReader;
use crate::frame::ClientId;
use crate::outbound::Outbound;
use crate::ratelimit::Bucket;
use crate::rooms::Room;
use std::sync::Arc;

/// One connected client. Holds no buffer while idle: the line reader and the
/// outbound queue allocate only while they hold bytes.
#[derive(Debug)]
pub struct Client {
    pub stream: TcpStream,
    pub id: ClientId,
    pub nick: Box<str>,
    pub reader: LineReader,
    pub out: Outbound,
    pub bucket: Bucket,
    /// The room it is in; `None` only while it is leaving.
    pub room: Option<Arc<Room>>,
    /// Its index in the shard's member list of that room.
    pub room_slot: usize,
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
}

impl Client {
    pub fn new(stream: TcpStream, id: ClientId, nick: Box<str>, bucket: Bucket) -> Client {
        Client {
            stream,
            id,
            nick,
            reader: LineReader::new(),
            out: Outbound::default(),
            bucket,
            room: None,
            room_slot: 0,
            closing: None,
            write_interest: false,
            in_ready: false,
            dirty: false,
        }
    }
}
