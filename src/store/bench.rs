//! What the history benches measure, reachable from `benches/` (the
//! sessions that render history are the crate's own): the joining
//! shard's share of a replay, which is rendering the lines it is handed
//! into the client's protocol.

use std::sync::Arc;

use crate::proto::{Identity, Protocol, Reply, Session};
use crate::store::{HistLine, HistoryPurpose};

/// A session of `protocol` (`"line"`, `"irc"`: plain IRC, `"irc-batch"`:
/// IRC with `batch`, `server-time` and `message-tags`), for rendering.
pub struct Reader(Session);

impl Reader {
    pub fn new(protocol: &str) -> Reader {
        let identity = Arc::new(Identity {
            server: "bench.server".into(),
            network: "bench".into(),
            motd: Default::default(),
            history_max: 100,
        });
        let proto = if protocol == "line" {
            Protocol::Line
        } else {
            Protocol::Irc
        };
        let mut session = Session::new(proto, &identity);
        if protocol == "irc-batch" {
            let line = b"CAP REQ :batch server-time message-tags";
            let _ = session.decode(crate::codec::Line::Complete(line), 4096, false);
        }
        Reader(session)
    }

    /// Appends the replay of `lines` of `room` to `out`, as the joining
    /// shard writes it for this reader.
    pub fn replay(&self, room: &str, lines: &[HistLine], out: &mut Vec<u8>) {
        let reply = Reply::History {
            room: room.into(),
            purpose: HistoryPurpose::Join,
            lines: lines.to_vec(),
        };
        self.0.render_reply("reader", &reply, out);
    }
}
