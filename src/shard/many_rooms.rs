//! Clients in several rooms at once, over real sockets: requests go
//! straight to a shard's handlers (no protocol has `JOIN`/`PART` of its
//! own yet), and the test drives the shard's pass by hand. Each room keeps
//! its own members, local index and notices; the line protocol's single
//! current room is the first of a client's rooms.

use std::borrow::Cow;
use std::io::{BufRead, BufReader, ErrorKind};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use super::Shard;
use crate::config::Config;
use crate::fanout::{mailbox, ShardMsg};
use crate::frame::ClientId;
use crate::poller::{Backend, Poller};
use crate::proto::{Protocol, Request, Speech};
use crate::shared::Shared;

fn shared() -> Arc<Shared> {
    super::tests::shared_with(Config {
        threads: Some(1),
        notice_limit: 100,
        rate_limit: 0,
        ..Config::default()
    })
}

/// One client's end of the socket.
struct Peer(BufReader<TcpStream>);

impl Peer {
    fn line(&mut self) -> String {
        let mut line = String::new();
        self.0.read_line(&mut line).expect("a line in time");
        line
    }

    /// The next `n` lines, sorted (lines of different rooms in one pass
    /// come room by room).
    fn lines(&mut self, n: usize) -> Vec<String> {
        let mut v: Vec<String> = (0..n).map(|_| self.line()).collect();
        v.sort();
        v
    }

    fn nothing_more(&mut self) {
        let stream = self.0.get_ref().try_clone().expect("a handle");
        let timeout = |d| stream.set_read_timeout(Some(d)).expect("timeout");
        timeout(Duration::from_millis(50));
        let mut line = String::new();
        match self.0.read_line(&mut line) {
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            other => panic!("unexpected {other:?}: {line:?}"),
        }
        timeout(Duration::from_secs(10));
    }
}

/// The end of a loop pass: deliver, flush, close.
fn pass(s: &mut Shard) {
    s.deliver();
    s.flush_dirty();
    s.close_doomed();
}

fn key_of(s: &Shard, id: u64) -> usize {
    s.clients
        .iter()
        .find(|(_, c)| c.id == ClientId(id))
        .map(|(k, _)| k)
        .expect("connected")
}

/// Every local member index agrees with its clients' memberships.
fn indexes_agree(s: &Shard) {
    for (room, local) in &s.rooms {
        for (slot, &(key, _)) in local.members.iter().enumerate() {
            let c = &s.clients[key];
            let at = c.room_index(*room).expect("a member knows its room");
            assert_eq!(c.rooms[at].slot, slot);
        }
    }
    for (_, c) in s.clients.iter() {
        for m in &c.rooms {
            assert!(s.rooms[&m.room.id()]
                .members
                .iter()
                .any(|&(k, _)| s.clients[k].id == c.id));
        }
    }
}

fn say(room: Option<&'static str>, text: &'static str) -> Request<'static> {
    Request::Say {
        room,
        text: Cow::Borrowed(text),
        kind: Speech::Chat,
    }
}

fn clients_in_several_rooms(backend: Backend) {
    let shared = shared();
    let poller = Poller::new(backend).expect("poller");
    let (h, m) = mailbox(poller.waker(), 64);
    let mut s = Shard::new(0, poller, m, Arc::clone(&shared));
    s.set_peers(std::slice::from_ref(&h));
    let listener = TcpListener::bind("127.0.0.1:0").expect("listen");
    let mut peers: Vec<Peer> = (1..=3)
        .map(|id| {
            let c = TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
            let (server_end, _) = listener.accept().expect("accept");
            server_end.set_nonblocking(true).expect("non-blocking");
            assert!(h.send(ShardMsg::Connect {
                stream: server_end,
                id: ClientId(id),
                tls: false,
                proto: Protocol::Line,
            }));
            c.set_read_timeout(Some(Duration::from_secs(10)))
                .expect("timeout");
            Peer(BufReader::new(c))
        })
        .collect();
    s.drain_mailbox();
    pass(&mut s);
    for (i, p) in peers.iter_mut().enumerate() {
        assert_eq!(p.line(), format!("* welcome guest-{}\n", i + 1));
        assert!(p.line().starts_with("* you joined #lobby"));
    }
    // Later joins are announced to the earlier ones.
    assert_eq!(
        peers[0].lines(2),
        ["* guest-2 joined #lobby\n", "* guest-3 joined #lobby\n"]
    );
    assert_eq!(peers[1].line(), "* guest-3 joined #lobby\n");
    let (a, b, c) = (key_of(&s, 1), key_of(&s, 2), key_of(&s, 3));

    // 1 and 2 join #b as well; 3 stays in the lobby only.
    s.handle(
        a,
        Request::Join {
            rooms: "#b",
            keys: None,
        },
    );
    s.handle(
        b,
        Request::Join {
            rooms: "#B",
            keys: None,
        },
    );
    pass(&mut s);
    assert_eq!(peers[0].line(), "* you joined #b (1 users)\n");
    assert_eq!(peers[0].line(), "* guest-2 joined #b\n");
    assert_eq!(peers[1].line(), "* you joined #b (2 users)\n");
    indexes_agree(&s);
    assert_eq!(s.clients[a].rooms.len(), 2);

    // Chat for a named room, and for the current one (the first joined).
    s.handle(a, say(Some("#b"), "in b"));
    s.handle(a, say(None, "in lobby"));
    pass(&mut s);
    assert_eq!(
        peers[1].lines(2),
        ["[guest-1] in b\n", "[guest-1] in lobby\n"]
    );
    assert_eq!(peers[2].line(), "[guest-1] in lobby\n");
    peers[0].nothing_more();

    // Refusals.
    s.handle(a, say(Some("#nope"), "x"));
    s.handle(
        a,
        Request::Join {
            rooms: "#B",
            keys: None,
        },
    );
    s.handle(
        c,
        Request::Part {
            room: "#b",
            reason: None,
        },
    );
    s.handle(
        c,
        Request::Join {
            rooms: "b",
            keys: None,
        },
    );
    pass(&mut s);
    assert_eq!(peers[0].line(), "! you are not in #nope\n");
    assert_eq!(peers[0].line(), "! you are already in #b\n");
    assert_eq!(peers[2].line(), "! you are not in #b\n");
    assert!(peers[2]
        .line()
        .starts_with("! invalid room name: rooms start with #"));

    // 2 leaves #b and stays in the lobby.
    s.handle(
        b,
        Request::Part {
            room: "#b",
            reason: Some(Cow::Borrowed("later")),
        },
    );
    pass(&mut s);
    assert_eq!(peers[0].line(), "* guest-2 left #b (later)\n");
    peers[1].nothing_more();
    indexes_agree(&s);
    assert_eq!(s.clients[b].rooms.len(), 1);
    let b_room = shared.rooms.get("b").expect("#b still has 1");
    assert_eq!(b_room.members(), 1);
    assert_eq!(
        shared.registry.members_of(b_room.id(), 10).first,
        [Box::<str>::from("guest-1")]
    );

    // 1 quits: it leaves both rooms; #b is gone.
    assert!(!s.handle(a, Request::Quit(None)));
    pass(&mut s);
    assert_eq!(peers[0].line(), "* bye\n");
    assert_eq!(peers[1].line(), "* guest-1 left #lobby\n");
    assert_eq!(peers[2].line(), "* guest-1 left #lobby\n");
    assert!(shared.rooms.get("b").is_none());
    assert!(!s.rooms.contains_key(&b_room.id()));
    indexes_agree(&s);
}

#[test]
fn clients_in_several_rooms_under_epoll_and_poll() {
    for &backend in Backend::available() {
        clients_in_several_rooms(backend);
    }
}
