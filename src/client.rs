//! Per-connection state, owned by exactly one shard.

use std::time::Instant;

use crate::codec::LineReader;
use crate::frame::ClientId;
use crate::outbound::Outbound;
use crate::ratelimit::Bucket;
use crate::rooms::Room;
use crate::transport::Transport;
use std::sync::Arc;

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
    /// The nick a cluster-wide claim is on its way for.
    pub nick_pending: Option<Box<str>>,
    pub reader: LineReader,
    pub out: Outbound,
    pub bucket: Bucket,
    /// Flood control for the presence commands (`/list`, `/who`, `/rooms`).
    pub presence: Bucket,
    /// The room it is in; `None` only while it is leaving.
    pub room: Option<Arc<Room>>,
    /// Its index in the shard's member list of that room.
    pub room_slot: usize,
    /// The shard's sequence number when it joined its room: it receives
    /// only the pass's chunks numbered from here on.
    pub joined_seq: u64,
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
}

impl Client {
    pub fn new(transport: Transport, id: ClientId, bucket: Bucket, presence: Bucket) -> Client {
        Client {
            transport,
            id,
            nick: Box::from(""),
            registered: false,
            nick_pending: None,
            reader: LineReader::new(),
            out: Outbound::default(),
            bucket,
            presence,
            room: None,
            room_slot: 0,
            joined_seq: 0,
            closing: None,
            write_interest: false,
            in_ready: false,
            dirty: false,
            peer_shut: false,
        }
    }
}
