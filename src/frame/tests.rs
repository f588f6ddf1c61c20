//! Chunks on their own: who gets which runs of a rendering, in which form.

use super::*;

fn chat<'a>(origin: u64, text: &'a str) -> Event<'a> {
    Event {
        id: MsgId { shard: 0, seq: 0 },
        time_ms: 0,
        user: ClientId(origin),
        nick: "n",
        body: Body::Chat { text },
    }
}

fn ranges(chunk: &Chunk, who: u64) -> Vec<String> {
    let mut out = Vec::new();
    chunk.for_each_range(Form::Line, ClientId(who), |_, run| {
        out.push(String::from_utf8_lossy(run).into_owned())
    });
    out
}

#[test]
fn recipients_get_everything_but_their_own_events() {
    let mut b = ChunkBuilder::new(RoomId(1), "r");
    for (origin, text) in [(1, "a1"), (1, "a2"), (2, "b1"), (3, "c1"), (2, "b2")] {
        b.push(&chat(origin, text));
    }
    let chunk = b.take();
    assert!(b.is_empty());
    assert_eq!(chunk.len(), 5);
    assert_eq!(
        ranges(&chunk, 9),
        vec!["[n] a1\n[n] a2\n[n] b1\n[n] c1\n[n] b2\n"]
    );
    assert_eq!(ranges(&chunk, 1), vec!["[n] b1\n[n] c1\n[n] b2\n"]);
    assert_eq!(ranges(&chunk, 2), vec!["[n] a1\n[n] a2\n", "[n] c1\n"]);
    assert_eq!(
        ranges(&chunk, 3),
        vec!["[n] a1\n[n] a2\n[n] b1\n", "[n] b2\n"]
    );
}

#[test]
fn a_chunk_from_one_sender_gives_that_sender_nothing() {
    let mut b = ChunkBuilder::new(RoomId(1), "r");
    b.push(&chat(7, "x"));
    let chunk = b.take();
    assert!(ranges(&chunk, 7).is_empty());
    assert_eq!(ranges(&chunk, 8), vec!["[n] x\n"]);
}

#[test]
fn a_chunk_keeps_its_events_whole() {
    let mut b = ChunkBuilder::new(RoomId(4), "Rust");
    let kick = Event {
        id: MsgId { shard: 3, seq: 99 },
        time_ms: 1_700_000_000_123,
        user: ClientId(5),
        nick: "ann",
        body: Body::Kick {
            target: "eve",
            reason: None,
        },
    };
    b.push(&chat(1, "hi"));
    b.push(&kick);
    b.set_node("node-b");
    let chunk = b.take();
    assert_eq!(chunk.room_name(), "Rust");
    assert_eq!(chunk.node(), Some("node-b"));
    let events: Vec<Event<'_>> = chunk.events().collect();
    assert_eq!(events, vec![chat(1, "hi"), kick]);
    assert_eq!(chunk.renders(Form::Line), 0, "rendered only when read");
}

#[test]
fn optional_events_go_only_to_readers_that_asked_and_tags_only_to_tag_readers() {
    use crate::event::sees;
    let mut b = ChunkBuilder::new(RoomId(1), "r");
    let away = Event {
        body: Body::Away {
            message: Some("lunch"),
        },
        ..chat(1, "")
    };
    b.push_tagged(&chat(1, "hi"), Some("+typing=done"));
    b.push(&away);
    b.push(&chat(2, "yo"));
    let chunk = b.take();
    let read = |form, sees| {
        let mut out = String::new();
        chunk.for_each_range(
            form,
            Recipient {
                id: ClientId(9),
                sees,
                in_room: None,
            },
            |_, run| out.push_str(&String::from_utf8_lossy(run)),
        );
        out
    };
    assert_eq!(read(Form::Line, sees::AWAY), "[n] hi\n[n] yo\n");
    assert_eq!(
        read(Form::Irc, 0),
        ":n!n@user/n PRIVMSG #r :hi\r\n:n!n@user/n PRIVMSG #r :yo\r\n"
    );
    assert_eq!(
        read(Form::Irc, sees::AWAY | sees::SETNAME),
        ":n!n@user/n PRIVMSG #r :hi\r\n:n!n@user/n AWAY :lunch\r\n\
         :n!n@user/n PRIVMSG #r :yo\r\n"
    );
    let tagged = read(Form::IrcTags, 0);
    assert!(
        tagged.contains(";+typing=done :n!n@user/n PRIVMSG #r :hi\r\n"),
        "{tagged}"
    );
    assert!(!tagged.contains("AWAY"), "{tagged}");
    assert_eq!(tagged.matches("+typing").count(), 1, "{tagged}");
    assert_eq!(
        chunk.renders(Form::Irc),
        1,
        "one rendering for every reader"
    );
    let mut own = String::new();
    let me = Recipient {
        id: ClientId(1),
        sees: sees::AWAY,
        in_room: None,
    };
    chunk.for_each_range(Form::Irc, me, |_, run| {
        own.push_str(&String::from_utf8_lossy(run))
    });
    assert_eq!(own, ":n!n@user/n PRIVMSG #r :yo\r\n", "no echo of its own");
}

#[test]
fn an_event_about_a_user_comes_from_the_first_room_a_reader_shares() {
    let quit = |rooms: &str| {
        let mut b = ChunkBuilder::new(RoomId(1), rooms);
        let e = Event {
            body: Body::Quit { reason: None },
            ..chat(1, "")
        };
        b.push(&chat(2, "before"));
        b.push_event(&e, None, Some("alpha beta gamma"));
        b.push(&chat(2, "after"));
        b.take()
    };
    let (alpha, beta) = (quit("Alpha"), quit("beta"));
    let read = |chunk: &Chunk, rooms: &'static [&'static str]| {
        let in_room = |name: &str| rooms.contains(&name);
        let mut out = String::new();
        let to = Recipient {
            id: ClientId(9),
            sees: 0,
            in_room: Some(&in_room),
        };
        chunk.for_each_range(Form::Line, to, |_, run| {
            out.push_str(&String::from_utf8_lossy(run))
        });
        out.matches(" left ").count()
    };
    // In alpha and beta: from alpha, the first by name, only.
    assert_eq!(read(&alpha, &["alpha", "beta"]), 1);
    assert_eq!(read(&beta, &["alpha", "beta"]), 0);
    // In beta and gamma, not alpha: from beta.
    assert_eq!(read(&beta, &["beta", "gamma"]), 1);
    // Without room knowledge, every copy is delivered.
    let mut all = 0;
    beta.for_each_range(Form::Line, ClientId(9), |_, run| {
        all += String::from_utf8_lossy(run).matches(" left ").count()
    });
    assert_eq!(all, 1);
    // The events around it are untouched.
    let mut around = String::new();
    let in_room = |name: &str| name == "alpha" || name == "beta";
    let to = Recipient {
        id: ClientId(9),
        sees: 0,
        in_room: Some(&in_room),
    };
    beta.for_each_range(Form::Line, to, |_, run| {
        around.push_str(&String::from_utf8_lossy(run))
    });
    assert_eq!(around, "[n] before\n[n] after\n");
}

#[test]
fn a_reused_builder_keeps_its_capacity_and_forgets_its_events() {
    let mut b = ChunkBuilder::new(RoomId(1), "one");
    for i in 0..100 {
        b.push(&chat(i % 3, "a line"));
    }
    let first = b.take();
    assert_eq!(first.len(), 100);
    assert_eq!(first.rendered(Form::Line).bytes().len(), 1100);
    assert!(b.records.capacity() >= 100, "capacity kept");
    b.reuse_for(RoomId(2), "two");
    b.push(&chat(5, "y"));
    let second = b.take();
    assert_eq!(second.room(), RoomId(2));
    assert_eq!(second.room_name(), "two");
    assert_eq!(ranges(&second, 1), vec!["[n] y\n"]);
    assert!(ranges(&second, 5).is_empty());
    assert_eq!(first.room(), RoomId(1));
    assert_eq!(ranges(&first, 9).concat(), "[n] a line\n".repeat(100));
}
