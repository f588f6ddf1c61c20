//! History and topics in a cluster: two nodes on one Redis (skipped
//! without redis-server unless `REQUIRE_REDIS=1`, see `cluster.rs`). Lines
//! said on either node are one history, replayed alike on both with the
//! msgids IRC clients saw live; a topic outlives both nodes' restarts.

use std::time::{Duration, Instant};

use crate::cluster::Redis;
use crate::irc::Irc;
use crate::store_cluster::{named, node};
use crate::util::{Backend, Conn, TIMEOUT};

both_backends!(
    history_is_one_across_nodes,
    a_topic_outlives_a_restart_of_every_node,
);

/// Registers `nick` with the capabilities `caps`.
fn irc(addr: std::net::SocketAddr, nick: &str, caps: &str) -> Irc {
    let mut c = Irc::open(addr);
    c.send(&format!("CAP REQ :{caps}"));
    c.expect(&format!(":irc.test CAP * ACK :{caps}"));
    c.send(&format!("NICK {nick}"));
    c.send(&format!("USER {nick} 0 * :{nick}"));
    c.send("CAP END");
    c.until(":irc.test 422 ");
    c
}

/// Reads up to a `chathistory` batch and through its end; returns its
/// lines, the batch reference replaced by `REF`.
fn batch(c: &mut Irc) -> Vec<String> {
    let open = c.containing(" BATCH +");
    let reference = open
        .split(' ')
        .find_map(|w| w.strip_prefix('+'))
        .expect("a batch reference")
        .to_string();
    let close = format!(":irc.test BATCH -{reference}");
    let mut lines = vec![open.clone()];
    loop {
        let l = c.line();
        let done = l == close;
        lines.push(l);
        if done {
            break;
        }
    }
    let tag = format!("@batch={reference};");
    lines
        .iter()
        .map(|l| {
            l.replacen(&tag, "@batch=REF;", 1)
                .replacen(&format!(" BATCH +{reference} "), " BATCH +REF ", 1)
                .replacen(&format!(" BATCH -{reference}"), " BATCH -REF", 1)
        })
        .collect()
}

/// The value of the tag `name` on a tagged line.
fn tag<'a>(line: &'a str, name: &str) -> &'a str {
    let tags = line
        .strip_prefix('@')
        .and_then(|l| l.split(' ').next())
        .unwrap_or_else(|| panic!("a tagged line: {line:?}"));
    tags.split(';')
        .find_map(|t| t.strip_prefix(name)?.strip_prefix('='))
        .unwrap_or_else(|| panic!("no {name} in {line:?}"))
}

/// Returns once the line `msgid` is the room's newest in Redis. Each node
/// stores its own lines from its own writer thread: waiting for each line
/// before the next is said keeps the stored order the order said even
/// when two lines share a millisecond (then the order they were stored in
/// decides). Nothing announces a commit, so `c` asks until it sees it.
fn stored(c: &mut Irc, msgid: &str) {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        c.send("CHATHISTORY LATEST #hist * 1");
        let newest = batch(c);
        if newest.len() == 3 && tag(&newest[1], "msgid") == msgid {
            return;
        }
        assert!(Instant::now() < deadline, "{msgid} never stored");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Joins `#hist` from a line client and returns the replayed lines.
fn replayed(c: &mut Conn) -> Vec<String> {
    c.send("/join #hist");
    c.read_until("* history of #hist");
    c.read_until("* end of history of #hist")
}

fn history_is_one_across_nodes(b: Backend) {
    let Some(redis) = Redis::start() else { return };
    let keep = ["--history", "50", "--history-replay", "50"];
    let (a, a_irc) = node(b, &redis, "ha", &keep);
    let (bn, b_irc) = node(b, &redis, "hb", &keep);
    let caps = "batch draft/chathistory message-tags server-time";
    let mut ann = irc(a_irc, "ann", caps);
    let mut bob = irc(b_irc, "bob", caps);
    ann.send("JOIN #hist");
    ann.until(":irc.test 366 ann ");
    bob.send("JOIN #hist");
    bob.until(":irc.test 366 bob ");
    redis.await_subscribers("hist", 2);

    // Turn about: the listener on the other node reads each line live,
    // with its msgid, before the next is said.
    let mut live: Vec<String> = Vec::new();
    for i in 0..6 {
        let (speaker, listener, node_id) = match i % 2 {
            0 => (&mut ann, &mut bob, "ha"),
            _ => (&mut bob, &mut ann, "hb"),
        };
        speaker.send(&format!("PRIVMSG #hist :line {i}"));
        let seen = listener.containing(&format!(" PRIVMSG #hist :line {i}"));
        let msgid = tag(&seen, "msgid").to_string();
        assert!(
            msgid.starts_with(&format!("{node_id}-")),
            "a msgid names the node the line was said on: {msgid}"
        );
        stored(speaker, &msgid);
        live.push(msgid);
    }

    // CHATHISTORY answers alike on both nodes, with the live msgids.
    ann.send("CHATHISTORY LATEST #hist * 50");
    let on_a = batch(&mut ann);
    bob.send("CHATHISTORY LATEST #hist * 50");
    let on_b = batch(&mut bob);
    assert_eq!(on_a, on_b);
    assert_eq!(on_a[0], ":irc.test BATCH +REF chathistory #hist");
    let body = &on_a[1..on_a.len() - 1];
    let ids: Vec<&str> = body.iter().map(|l| tag(l, "msgid")).collect();
    assert_eq!(ids, live);
    for (i, l) in body.iter().enumerate() {
        let who = ["ann", "bob"][i % 2];
        let want = format!(" :{who}!{who}@user/{who} PRIVMSG #hist :line {i}");
        assert!(l.ends_with(&want), "{l:?}");
    }
    // A msgid seen live on B for a line said on A marks a place on B.
    bob.send(&format!("CHATHISTORY AFTER #hist msgid={} 50", live[2]));
    let after = batch(&mut bob);
    assert_eq!(after[1..after.len() - 1], body[3..]);

    // Pushed on joining either node, the same lines in the same order.
    let mut cy = irc(b_irc, "cy", "batch message-tags server-time");
    cy.send("JOIN #hist");
    assert_eq!(batch(&mut cy)[1..], on_a[1..]);
    let on_a = replayed(&mut named(&a, "dee"));
    let on_b = replayed(&mut named(&bn, "eve"));
    assert_eq!(on_a, on_b);
    let texts: Vec<&str> = on_a.iter().map(|l| l.split_at(23).1).collect();
    assert_eq!(
        texts,
        [
            "[ann] line 0",
            "[bob] line 1",
            "[ann] line 2",
            "[bob] line 3",
            "[ann] line 4",
            "[bob] line 5",
        ]
    );
}

fn a_topic_outlives_a_restart_of_every_node(b: Backend) {
    let Some(redis) = Redis::start() else { return };
    let (mut a, _) = node(b, &redis, "ta", &[]);
    let (mut bn, _) = node(b, &redis, "tb", &[]);
    let mut ann = named(&a, "ann");
    ann.send("/join #den");
    ann.read_until("* you joined #den (1 users)");
    // The cluster makes the room's first member its operator once it has
    // looked for the room's state; it answers /list after that.
    ann.send("/list");
    ann.read_until("* 1 users in #den: ann");
    let mut bob = named(&bn, "bob");
    bob.send("/join #den");
    bob.read_until("* you joined #den (1 users)");
    redis.await_subscribers("den", 2);
    ann.send("/topic kept through restarts");
    ann.read_until("* you set the topic of #den: kept through restarts");
    bob.read_until("* ann set the topic of #den: kept through restarts");

    // Both nodes stop (their storage commits what it has first); Redis
    // stays up. With nobody left in #den, the cluster's state of it is
    // gone or stale: the topic comes back from the saved topics.
    for s in [&mut a, &mut bn] {
        s.signal("TERM");
        assert!(s.wait_exit().success());
    }
    let (a, _) = node(b, &redis, "ta", &[]);
    let (bn, _) = node(b, &redis, "tb", &[]);
    let mut carl = named(&bn, "carl");
    carl.send("/join #den");
    carl.read_until("* you joined #den (1 users)");
    carl.expect("* topic of #den: kept through restarts (set by ann)");
    // The second node to open it takes it from the cluster's state.
    let mut dee = named(&a, "dee");
    dee.send("/join #den");
    dee.read_until("* you joined #den (1 users)");
    dee.expect("* topic of #den: kept through restarts (set by ann)");
}
