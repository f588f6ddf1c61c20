//! IRC across cluster nodes, against a real Redis and two real server
//! processes: NAMES, WHO, WHOIS, WHOWAS, ISON, USERHOST, LIST and 301 see
//! users on every node; channel operators, modes, bans and topics hold on
//! every node; KICK, INVITE, KILL and WALLOPS reach users on another node. Skips without
//! `redis-server` unless `REQUIRE_REDIS=1` (see `cluster.rs`).

use std::net::SocketAddr;

use crate::cluster::Redis;
use crate::irc::{irc_server_with, Irc};
use crate::util::{Backend, TestServer};

/// Starts a node serving IRC (as `irc.test`) in the cluster.
fn irc_node(b: Backend, redis: &Redis, id: &str, extra: &[&str]) -> (TestServer, SocketAddr) {
    let url = redis.url();
    let mut args = vec!["--threads", "2", "--cluster", &url, "--node-id", id];
    args.extend_from_slice(extra);
    let (s, addr) = irc_server_with(b, &args);
    s.wait_log("[Cluster] connected to Redis");
    (s, addr)
}

/// Joins `room` and reads through the end of its NAMES; returns the 353.
fn join(c: &mut Irc, nick: &str, room: &str) -> String {
    c.send(&format!("JOIN {room}"));
    c.expect(&format!(":{nick}!{nick}@user/{nick} JOIN {room}"));
    let seen = c.until(":irc.test 366 ");
    seen.into_iter()
        .find(|l| l.contains(" 353 "))
        .unwrap_or_default()
}

/// Returns once the client's node has handed the cluster everything the
/// client did before: its answer to NAMES comes from the cluster, in
/// order after them.
fn sync(c: &mut Irc, nick: &str) {
    c.send("NAMES #den");
    c.until(&format!(":irc.test 366 {nick} "));
}

both_backends!(
    users_on_every_node_are_seen,
    operators_modes_and_topics_hold_on_every_node,
    a_ban_set_on_one_node_keeps_users_out_on_another,
    invitations_keys_and_limits_hold_on_every_node,
    client_tags_cross_nodes,
    kick_kill_wallops_and_away_cross_nodes,
);

/// Registers `nick` on `addr` with message-tags.
fn tagged(addr: SocketAddr, nick: &str) -> Irc {
    let mut c = Irc::open(addr);
    c.send("CAP REQ :message-tags");
    c.send(&format!("NICK {nick}"));
    c.send(&format!("USER {nick} 0 * :{nick}"));
    c.send("CAP END");
    c.until(":irc.test 422 ");
    c
}

/// The client-only tags of a tagged line (`+a=b;+c`), and the rest.
fn client_tags(line: &str) -> (String, String) {
    let (tags, rest) = line
        .strip_prefix('@')
        .and_then(|l| l.split_once(' '))
        .unwrap_or_else(|| panic!("a tagged line: {line:?}"));
    let plus: Vec<&str> = tags.split(';').filter(|t| t.starts_with('+')).collect();
    (plus.join(";"), rest.to_string())
}

fn client_tags_cross_nodes(b: Backend) {
    let Some(redis) = Redis::start() else { return };
    let (_a, a) = irc_node(b, &redis, "ta", &[]);
    let (_b, bb) = irc_node(b, &redis, "tb", &[]);
    let mut ann = tagged(a, "ann");
    ann.send("JOIN #den");
    ann.until(":irc.test 366 ");
    sync(&mut ann, "ann");
    redis.await_subscribers("den", 1);
    let mut bob = tagged(bb, "bob");
    bob.send("JOIN #den");
    bob.until(":irc.test 366 ");
    ann.containing(" JOIN #den");
    redis.await_subscribers("den", 2);
    bob.send("@+typing=active TAGMSG #den");
    let (tags, rest) = client_tags(&ann.containing("TAGMSG"));
    assert_eq!(tags, "+typing=active");
    assert_eq!(rest, ":bob!bob@user/bob TAGMSG #den");
    bob.send("@+draft/reply=abc PRIVMSG #den :hello");
    let (tags, rest) = client_tags(&ann.containing("PRIVMSG"));
    assert_eq!(tags, "+draft/reply=abc");
    assert_eq!(rest, ":bob!bob@user/bob PRIVMSG #den :hello");
    bob.send("@+typing=paused TAGMSG ann");
    let (tags, rest) = client_tags(&ann.containing("TAGMSG"));
    assert_eq!(tags, "+typing=paused");
    assert_eq!(rest, ":bob!bob@user/bob TAGMSG ann");
    bob.send("@+draft/react=x PRIVMSG ann :psst");
    let (tags, rest) = client_tags(&ann.containing("PRIVMSG"));
    assert_eq!(tags, "+draft/react=x");
    assert_eq!(rest, ":bob!bob@user/bob PRIVMSG ann :psst");
}

fn invitations_keys_and_limits_hold_on_every_node(b: Backend) {
    let Some(redis) = Redis::start() else { return };
    let (_a, a) = irc_node(b, &redis, "ia", &[]);
    let (_b, bb) = irc_node(b, &redis, "ib", &[]);
    let mut ann = Irc::register(a, "ann");
    join(&mut ann, "ann", "#den");
    ann.send("MODE #den +i");
    ann.expect(":ann!ann@user/ann MODE #den +i");
    sync(&mut ann, "ann");
    redis.await_subscribers("den", 1);
    // Node b has nobody in #den: the kept modes apply when its first
    // member joins, who leaves again, told why.
    let mut bob = Irc::register(bb, "bob");
    bob.send("JOIN #den");
    bob.expect(":bob!bob@user/bob JOIN #den");
    bob.expect(":irc.test 473 bob #den :Cannot join channel (+i)");
    bob.expect(":bob!bob@user/bob PART #den");
    ann.expect(":bob!bob@user/bob JOIN #den");
    ann.expect(":bob!bob@user/bob PART #den");
    // An invitation from node a lets bob in on node b.
    ann.send("INVITE bob #den");
    ann.expect(":irc.test 341 ann bob #den");
    bob.expect(":ann!ann@user/ann INVITE bob :#den");
    bob.send("JOIN #den");
    bob.expect(":bob!bob@user/bob JOIN #den");
    bob.until(":irc.test 366 bob #den ");
    ann.expect(":bob!bob@user/bob JOIN #den");
    bob.send("PART #den");
    bob.expect(":bob!bob@user/bob PART #den");
    ann.expect(":bob!bob@user/bob PART #den");
    // The limit counts the members of every node: ann alone fills 1.
    ann.send("MODE #den -i+l 1");
    ann.expect(":ann!ann@user/ann MODE #den -i+l 1");
    sync(&mut ann, "ann");
    let mut cat = Irc::register(bb, "cat");
    cat.send("JOIN #den");
    cat.expect(":cat!cat@user/cat JOIN #den");
    cat.expect(":irc.test 471 cat #den :Cannot join channel (+l)");
    cat.expect(":cat!cat@user/cat PART #den");
    ann.expect(":cat!cat@user/cat JOIN #den");
    ann.expect(":cat!cat@user/cat PART #den");
    // And the key is the kept one.
    ann.send("MODE #den -l+k sesame");
    ann.expect(":ann!ann@user/ann MODE #den -l+k sesame");
    sync(&mut ann, "ann");
    cat.send("JOIN #den");
    cat.expect(":cat!cat@user/cat JOIN #den");
    cat.expect(":irc.test 475 cat #den :Cannot join channel (+k)");
    cat.expect(":cat!cat@user/cat PART #den");
    cat.send("JOIN #den sesame");
    cat.expect(":cat!cat@user/cat JOIN #den");
    cat.until(":irc.test 366 cat #den ");
    // ann saw cat come and go after the wrong key, then come.
    ann.expect(":cat!cat@user/cat JOIN #den");
    ann.expect(":cat!cat@user/cat PART #den");
    ann.expect(":cat!cat@user/cat JOIN #den");
    // A secret channel is listed by the cluster to its members only.
    ann.send("MODE #den +s");
    ann.expect(":ann!ann@user/ann MODE #den +s");
    cat.expect(":ann!ann@user/ann MODE #den +s");
    sync(&mut ann, "ann");
    bob.send("LIST");
    bob.expect(":irc.test 321 bob Channel :Users  Name");
    bob.expect(":irc.test 323 bob :End of /LIST");
    cat.send("LIST");
    cat.expect(":irc.test 321 cat Channel :Users  Name");
    cat.expect(":irc.test 322 cat #den 2 :");
    cat.expect(":irc.test 323 cat :End of /LIST");
}

fn users_on_every_node_are_seen(b: Backend) {
    let Some(redis) = Redis::start() else { return };
    let (_a, a) = irc_node(b, &redis, "ia", &[]);
    let (_b, bb) = irc_node(b, &redis, "ib", &[]);
    let mut ann = Irc::register(a, "ann");
    assert_eq!(
        join(&mut ann, "ann", "#rust"),
        ":irc.test 353 ann = #rust :@ann"
    );
    redis.await_subscribers("rust", 1);
    let mut bob = Irc::register(bb, "bob");
    // NAMES on join lists the member on the other node, its status too.
    assert_eq!(
        join(&mut bob, "bob", "#rust"),
        ":irc.test 353 bob = #rust :@ann bob"
    );
    ann.expect(":bob!bob@user/bob JOIN #rust");
    bob.send("NAMES #rust");
    bob.expect(":irc.test 353 bob = #rust :@ann bob");
    bob.expect(":irc.test 366 bob #rust :End of /NAMES list");
    bob.send("WHO #rust");
    bob.expect(":irc.test 352 bob #rust ann user/ann irc.test ann H@ :0 ann");
    bob.expect(":irc.test 352 bob #rust bob user/bob irc.test bob H :0 bob");
    bob.expect(":irc.test 315 bob #rust :End of /WHO list");
    bob.send("WHO ANN");
    bob.expect(":irc.test 352 bob * ann user/ann irc.test ann H :0 ann");
    bob.expect(":irc.test 315 bob ANN :End of /WHO list");
    bob.send("WHOIS ann");
    bob.expect(":irc.test 311 bob ann ann user/ann * :ann");
    bob.expect(":irc.test 312 bob ann irc.test :shardchat");
    bob.expect(":irc.test 319 bob ann :@#rust");
    bob.expect(":irc.test 318 bob ann :End of /WHOIS list");
    bob.send("ISON nobody ANN bob");
    bob.expect(":irc.test 303 bob :ann bob");
    bob.send("USERHOST ann");
    bob.expect(":irc.test 302 bob :ann=+ann@user/ann");
    bob.send("LIST");
    bob.containing(" 321 ");
    bob.expect(":irc.test 322 bob #rust 2 :");
    bob.send("LIST #nowhere,#RUST");
    bob.containing(" 321 ");
    bob.expect(":irc.test 322 bob #rust 2 :");
    bob.expect(":irc.test 323 bob :End of /LIST");
    // And the other way round.
    ann.send("NAMES #rust");
    ann.expect(":irc.test 353 ann = #rust :@ann bob");
    ann.until(":irc.test 366 ");
    // INVITE reaches a user on the other node.
    let mut cat = Irc::register(bb, "cat");
    ann.send("INVITE cat #rust");
    ann.expect(":irc.test 341 ann cat #rust");
    cat.expect(":ann!ann@user/ann INVITE cat :#rust");
    ann.send("INVITE bob #rust");
    ann.expect(":irc.test 443 ann bob #rust :is already on channel");
    ann.send("INVITE nobody #rust");
    ann.expect(":irc.test 401 ann nobody :No such nick/channel");
}

fn operators_modes_and_topics_hold_on_every_node(b: Backend) {
    let Some(redis) = Redis::start() else { return };
    let (_a, a) = irc_node(b, &redis, "ma", &[]);
    let (_b, bb) = irc_node(b, &redis, "mb", &[]);
    let mut ann = Irc::register(a, "ann");
    join(&mut ann, "ann", "#den");
    ann.send("TOPIC #den :kept in the cluster");
    ann.expect(":ann!ann@user/ann TOPIC #den :kept in the cluster");
    sync(&mut ann, "ann");
    redis.await_subscribers("den", 1);
    // A node where the room is new takes its topic and operators.
    let mut bob = Irc::register(bb, "bob");
    bob.send("JOIN #den");
    bob.expect(":bob!bob@user/bob JOIN #den");
    bob.expect(":irc.test 332 bob #den :kept in the cluster");
    assert!(bob.line().starts_with(":irc.test 333 bob #den ann "));
    bob.expect(":irc.test 353 bob = #den :@ann bob");
    bob.until(":irc.test 366 ");
    ann.expect(":bob!bob@user/bob JOIN #den");
    redis.await_subscribers("den", 2);
    bob.send("MODE #den +m");
    bob.expect(":irc.test 482 bob #den :You're not channel operator");
    // An operator on one node makes a member on another an operator.
    ann.send("MODE #den +o bob");
    ann.expect(":ann!ann@user/ann MODE #den +o bob");
    bob.expect(":ann!ann@user/ann MODE #den +o bob");
    // Now bob's node lets it moderate, and ann's node applies it.
    bob.send("MODE #den +m");
    bob.expect(":bob!bob@user/bob MODE #den +m");
    ann.expect(":bob!bob@user/bob MODE #den +m");
    let mut cat = Irc::register(a, "cat");
    join(&mut cat, "cat", "#den");
    ann.expect(":cat!cat@user/cat JOIN #den");
    bob.expect(":cat!cat@user/cat JOIN #den");
    cat.send("PRIVMSG #den :may I?");
    cat.expect(":irc.test 404 cat #den :Cannot send to channel");
    ann.send("MODE #den");
    ann.expect(":irc.test 324 ann #den +mnt");
    ann.containing(" 329 ");
    bob.send("NAMES #den");
    bob.expect(":irc.test 353 bob = #den :@ann @bob cat");
    bob.until(":irc.test 366 ");
    // The room empties on node a: its state stays for the cluster.
    ann.send("PART #den");
    ann.containing(" PART #den");
    bob.expect(":ann!ann@user/ann PART #den");
    cat.expect(":ann!ann@user/ann PART #den");
    cat.send("PART #den");
    cat.expect(":cat!cat@user/cat PART #den");
    bob.expect(":cat!cat@user/cat PART #den");
    bob.send("NAMES #den");
    bob.expect(":irc.test 353 bob = #den :@bob");
    bob.until(":irc.test 366 ");
    join(&mut ann, "ann", "#den");
    ann.send("MODE #den");
    ann.expect(":irc.test 324 ann #den +mnt");
    ann.containing(" 329 ");
    ann.send("PRIVMSG #den :not an operator any more");
    ann.expect(":irc.test 404 ann #den :Cannot send to channel");
    // Empty on every node, the room starts afresh: its first member is
    // its operator, and it has a new room's modes.
    ann.send("PART #den");
    ann.containing(" PART #den");
    bob.send("PART #den");
    bob.containing(" PART #den");
    sync(&mut bob, "bob");
    sync(&mut ann, "ann");
    assert_eq!(
        join(&mut cat, "cat", "#den"),
        ":irc.test 353 cat = #den :@cat"
    );
    cat.send("MODE #den");
    cat.expect(":irc.test 324 cat #den +nt");
}

fn a_ban_set_on_one_node_keeps_users_out_on_another(b: Backend) {
    let Some(redis) = Redis::start() else { return };
    let (_a, a) = irc_node(b, &redis, "ba", &[]);
    let (_b, bb) = irc_node(b, &redis, "bb", &[]);
    let mut ann = Irc::register(a, "ann");
    join(&mut ann, "ann", "#den");
    ann.send("MODE #den +b eve*!*@*");
    ann.expect(":ann!ann@user/ann MODE #den +b eve*!*@*");
    sync(&mut ann, "ann");
    redis.await_subscribers("den", 1);
    // Node b has nobody in #den: the ban comes with the room's state.
    let mut eve = Irc::register(bb, "eve");
    // MODE asks the cluster for a channel with no member on this node.
    eve.send("MODE #den b");
    let ban = eve.line();
    assert!(
        ban.starts_with(":irc.test 367 eve #den eve*!*@* ann "),
        "{ban}"
    );
    eve.expect(":irc.test 368 eve #den :End of channel ban list");
    eve.send("MODE #den");
    eve.expect(":irc.test 324 eve #den +nt");
    eve.containing(" 329 eve #den ");
    eve.send("MODE #nowhere");
    eve.expect(":irc.test 403 eve #nowhere :No such channel");
    eve.send("JOIN #den");
    eve.expect(":eve!eve@user/eve JOIN #den");
    eve.expect(":irc.test 474 eve #den :Cannot join channel (+b)");
    eve.expect(":eve!eve@user/eve PART #den");
    ann.expect(":eve!eve@user/eve JOIN #den");
    ann.expect(":eve!eve@user/eve PART #den");
    // Node b has a member now: the ban is refused at once.
    let mut bob = Irc::register(bb, "bob");
    join(&mut bob, "bob", "#den");
    ann.expect(":bob!bob@user/bob JOIN #den");
    eve.send("JOIN #den");
    eve.expect(":irc.test 474 eve #den :Cannot join channel (+b)");
    eve.send("PRIVMSG #den :hi");
    eve.expect(":irc.test 404 eve #den :Cannot send to channel");
    // A ban lifted on node a lets eve in on node b.
    redis.await_subscribers("den", 2);
    ann.send("MODE #den -b eve*!*@*");
    ann.expect(":ann!ann@user/ann MODE #den -b eve*!*@*");
    bob.expect(":ann!ann@user/ann MODE #den -b eve*!*@*");
    assert_eq!(
        join(&mut eve, "eve", "#den"),
        ":irc.test 353 eve = #den :@ann bob eve"
    );
}

fn kick_kill_wallops_and_away_cross_nodes(b: Backend) {
    let Some(redis) = Redis::start() else { return };
    let opers = ["--oper", "root:t0ps3cret"];
    let (_a, a) = irc_node(b, &redis, "ka", &opers);
    let (_b, bb) = irc_node(b, &redis, "kb", &opers);
    let mut ann = Irc::register(a, "ann");
    join(&mut ann, "ann", "#den");
    redis.await_subscribers("den", 1);
    let mut bob = Irc::register(bb, "bob");
    join(&mut bob, "bob", "#den");
    ann.expect(":bob!bob@user/bob JOIN #den");
    redis.await_subscribers("den", 2);
    // AWAY on one node is 301 and WHOIS on the other.
    bob.send("AWAY :at lunch");
    bob.expect(":irc.test 306 bob :You have been marked as being away");
    // (Bob's node answers after it has told the cluster.)
    bob.send("WHOIS bob");
    bob.containing(" 301 bob bob :at lunch");
    bob.until(":irc.test 318 ");
    ann.send("PRIVMSG bob :hi");
    ann.expect(":irc.test 301 ann bob :at lunch");
    bob.expect(":ann!ann@user/ann PRIVMSG bob :hi");
    // KICK of a member on another node.
    ann.send("KICK #den bob :take a break");
    ann.expect(":ann!ann@user/ann KICK #den bob :take a break");
    bob.expect(":ann!ann@user/ann KICK #den bob :take a break");
    bob.send("PRIVMSG #den :still here?");
    bob.expect(":irc.test 442 bob #den :You're not on that channel");
    bob.send("WHO #den");
    bob.expect(":irc.test 352 bob #den ann user/ann irc.test ann H@ :0 ann");
    bob.expect(":irc.test 315 bob #den :End of /WHO list");
    ann.send("KICK #den nobody");
    ann.expect(":irc.test 401 ann nobody :No such nick/channel");
    ann.send("KICK #den bob");
    ann.expect(":irc.test 441 ann bob #den :They aren't on that channel");
    // Operators on both nodes: WHOIS and WALLOPS see the other node's.
    let mut cat = Irc::register(bb, "cat");
    cat.send("OPER root t0ps3cret");
    cat.expect(":irc.test 381 cat :You are now an IRC operator");
    ann.send("OPER root t0ps3cret");
    ann.expect(":irc.test 381 ann :You are now an IRC operator");
    ann.send("WHOIS bob");
    ann.expect(":irc.test 311 ann bob bob user/bob * :bob");
    ann.expect(":irc.test 312 ann bob irc.test :shardchat");
    ann.expect(":irc.test 301 ann bob :at lunch");
    ann.expect(":irc.test 318 ann bob :End of /WHOIS list");
    bob.send("WHOIS cat");
    bob.expect(":irc.test 311 bob cat cat user/cat * :cat");
    bob.expect(":irc.test 312 bob cat irc.test :shardchat");
    bob.expect(":irc.test 313 bob cat :is an IRC operator");
    // Idle and signon times are known for this node's users (cat's).
    let idle = bob.line();
    assert!(idle.starts_with(":irc.test 317 bob cat "), "{idle}");
    bob.expect(":irc.test 318 bob cat :End of /WHOIS list");
    // Status follows a rename.
    bob.send("NICK robert");
    bob.expect(":bob!bob@user/bob NICK :robert");
    ann.send("WHOIS robert");
    ann.expect(":irc.test 311 ann robert robert user/robert * :robert");
    ann.expect(":irc.test 312 ann robert irc.test :shardchat");
    ann.expect(":irc.test 301 ann robert :at lunch");
    ann.expect(":irc.test 318 ann robert :End of /WHOIS list");
    cat.send("NICK cathy");
    cat.expect(":cat!cat@user/cat NICK :cathy");
    ann.send("WHOIS cathy");
    ann.expect(":irc.test 311 ann cathy cathy user/cathy * :cathy");
    ann.expect(":irc.test 312 ann cathy irc.test :shardchat");
    ann.expect(":irc.test 313 ann cathy :is an IRC operator");
    ann.expect(":irc.test 318 ann cathy :End of /WHOIS list");
    ann.send("WALLOPS :maintenance at noon");
    ann.expect(":ann!ann@user/ann WALLOPS :maintenance at noon");
    cat.expect(":ann!ann@user/ann WALLOPS :maintenance at noon");
    // KILL of a user on another node.
    ann.send("KILL robert :spamming");
    bob.expect("ERROR :Killed (ann (spamming))");
    bob.0.expect_closed();
    ann.send("KILL robert :again");
    ann.expect(":irc.test 401 ann robert :No such nick/channel");
    // WHOWAS on any node knows who left another.
    cat.send("QUIT");
    cat.until("ERROR ");
    cat.0.expect_closed();
    // (Cat's node tells the cluster before it answers dan's claim.)
    let _dan = Irc::register(bb, "dan");
    ann.send("WHOWAS CATHY");
    ann.expect(":irc.test 314 ann cathy cathy user/cathy * :cathy");
    ann.expect(":irc.test 369 ann CATHY :End of WHOWAS");
    ann.send("WHOWAS cat");
    ann.expect(":irc.test 314 ann cat cat user/cat * :cat");
    ann.expect(":irc.test 369 ann cat :End of WHOWAS");
}
