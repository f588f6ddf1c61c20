//! Accounts in a cluster: two nodes on one Redis, each with its own
//! redis-server on a free port (skipped without the binary unless
//! `REQUIRE_REDIS=1`, see `cluster.rs`). An account made on one node
//! protects its nick, logs in, changes its password and is dropped on the
//! other; two nodes registering one name at once give it to one; a node
//! started while Redis is down serves, and has accounts once Redis is up.
//! History and topics across nodes are in `store_cluster_history.rs`.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use base64::Engine;

use crate::cluster::Redis;
use crate::irc::{irc_server_with, Irc};
use crate::util::{Backend, Conn, TestServer, TIMEOUT};

both_backends!(
    an_account_made_on_one_node_holds_on_the_other,
    two_nodes_registering_one_name_at_once_give_it_to_one,
    a_node_started_while_redis_is_down_has_accounts_once_it_is_up,
);

/// Starts a node of the cluster at `url`, serving the line protocol and
/// IRC (as `irc.test`), without waiting for it to reach Redis.
pub(crate) fn start_node(
    b: Backend,
    url: &str,
    id: &str,
    extra: &[&str],
) -> (TestServer, SocketAddr) {
    let mut args = vec!["--threads", "2", "--cluster", url, "--node-id", id];
    args.extend_from_slice(extra);
    irc_server_with(b, &args)
}

/// Starts a node and waits until it has joined the cluster.
pub(crate) fn node(
    b: Backend,
    redis: &Redis,
    id: &str,
    extra: &[&str],
) -> (TestServer, SocketAddr) {
    let (s, irc) = start_node(b, &redis.url(), id, extra);
    s.wait_log("[Cluster] connected to Redis");
    (s, irc)
}

/// Connects to `s` and takes `nick` (the cluster confirms it), skipping
/// the notices that cross from other nodes meanwhile.
pub(crate) fn named(s: &TestServer, nick: &str) -> Conn {
    let (mut c, _) = s.connect();
    c.send(&format!("/nick {nick}"));
    c.read_until(&format!("* you are now {nick}"));
    c
}

/// Reads up to the answer to `/nick`: a refusal or the rename.
fn nick_answer(c: &mut Conn) -> String {
    loop {
        let l = c.line();
        if l.starts_with("! ") || l.starts_with("* you are now ") {
            return l;
        }
    }
}

/// Asks for `nick` on behalf of `c` until its node answers `want`.
///
/// A node learns the names registered on other nodes when it re-reads
/// them, every 2 s (`REFRESH` in src/store/accounts.rs), and no client
/// line tells when that happened. So the client asks, is refused for
/// another reason or (`other`) answered the other way, waits a moment and
/// asks again, within the usual test timeout.
fn ask_nick_until(c: &mut Conn, nick: &str, want: &str, other: &[&str]) {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        c.send(&format!("/nick {nick}"));
        let answer = nick_answer(c);
        if answer == want {
            return;
        }
        assert!(other.contains(&answer.as_str()), "/nick {nick}: {answer:?}");
        assert!(
            Instant::now() < deadline,
            "never {want:?}: still {answer:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The refusal of a nick registered by someone else.
fn registered(nick: &str) -> String {
    format!("! nick registered: {nick} (/identify {nick} <password> to use it)")
}

/// SASL PLAIN as `account` while registering `nick` on `addr`; returns
/// the client (registered) and the line that answered the credentials.
fn sasl(addr: SocketAddr, nick: &str, account: &str, password: &str) -> (Irc, String) {
    let mut c = Irc::open(addr);
    c.send("CAP REQ :sasl");
    c.expect(":irc.test CAP * ACK :sasl");
    c.send(&format!("NICK {nick}"));
    c.send(&format!("USER {nick} 0 * :{nick}"));
    c.send("AUTHENTICATE PLAIN");
    c.expect("AUTHENTICATE +");
    let creds = format!("\0{account}\0{password}");
    let creds = base64::engine::general_purpose::STANDARD.encode(creds);
    c.send(&format!("AUTHENTICATE {creds}"));
    let answer = c.line();
    if answer.contains(" 900 ") {
        let done = c.line();
        assert!(done.ends_with(" :SASL authentication successful"), "{done}");
    }
    c.send("CAP END");
    c.until(":irc.test 422 ");
    (c, answer)
}

fn an_account_made_on_one_node_holds_on_the_other(b: Backend) {
    let Some(redis) = Redis::start() else { return };
    let (a, _) = node(b, &redis, "aa", &[]);
    let (bn, b_irc) = node(b, &redis, "ab", &[]);
    let mut ann = named(&a, "ann");
    ann.send("/register secret123");
    ann.expect("* registered ann; you are logged in");

    // On B the nick is in use (ann is on A) until B knows it is
    // registered too.
    let (mut bob, _) = bn.connect();
    ask_nick_until(&mut bob, "ann", &registered("ann"), &["! nick taken: ann"]);

    // /identify on B logs in with the account made on A (ann gives the
    // nick up first: nicks are unique across the cluster).
    ann.send("/nick annie");
    ann.read_until("* you are now annie");
    bob.send("/identify ann wrongpass");
    bob.read_until("! wrong nick or password");
    bob.send("/identify ann secret123");
    bob.read_until("* you are logged in as ann");
    bob.read_until("* you are now ann");

    // A password changed on B...
    bob.send("/password secret123 newsecret1");
    bob.read_until("* password changed");
    // ...is the one SASL on B takes...
    let (_, answer) = sasl(b_irc, "sam", "ann", "secret123");
    assert!(answer.contains(" 904 "), "{answer}");
    let (mut sue, answer) = sasl(b_irc, "sue", "ann", "newsecret1");
    assert!(answer.contains(" 900 "), "{answer}");
    assert!(
        answer.ends_with(" ann :You are now logged in as ann"),
        "{answer}"
    );
    sue.send("WHOIS sue");
    let whois = sue.containing(" 330 ");
    assert_eq!(whois, ":irc.test 330 sue sue ann :is logged in as");
    // ...and the one A takes.
    ann.send("/logout");
    ann.read_until("* you are logged out");
    ann.send("/identify ann secret123");
    ann.read_until("! wrong nick or password");
    ann.send("/identify ann newsecret1");
    ann.read_until("* you are logged in as ann");
    // It cannot take the nick: bob has it, on B.
    ann.read_until("! nick taken: ann");

    // Dropped on B, the name is free on A once A re-reads the names.
    bob.send("/drop newsecret1");
    bob.read_until("* account ann dropped; you are logged out");
    bob.send("/nick bob");
    bob.read_until("* you are now bob");
    let mut carl = named(&a, "carl");
    ask_nick_until(&mut carl, "ann", "* you are now ann", &[&registered("ann")]);
    carl.send("/register another12");
    carl.read_until("* registered ann; you are logged in");
}

/// Nicks are unique across the cluster and an account is registered
/// under its owner's nick, so two nodes register one name at once only
/// when its holder registers it and hands the nick on while its password
/// is being hashed: here the holder on one node, the next owner on the
/// other. Whichever registration reaches Redis first wins; the other is
/// refused, and the account keeps the winner's password.
fn two_nodes_registering_one_name_at_once_give_it_to_one(b: Backend) {
    let Some(redis) = Redis::start() else { return };
    let (a, _) = node(b, &redis, "ra", &[]);
    let (bn, _) = node(b, &redis, "rb", &[]);
    let mut judge = named(&a, "judge");
    for round in 0..4 {
        let name = format!("racer{round}");
        let (first, second) = if round % 2 == 0 { (&a, &bn) } else { (&bn, &a) };
        let mut x = named(first, &name);
        let mut y = second.connect().0;
        x.send("/register pass-x-123");
        x.send(&format!("/nick x{name}"));
        let won = format!("* registered {name}; you are logged in");
        let lost = "! that nick is registered already";
        // The two answers may come in either order.
        let mut x_answer = None;
        loop {
            let l = x.line();
            if l == format!("* you are now x{name}") {
                break;
            }
            if l == won || l.starts_with("! ") {
                x_answer = Some(l);
            }
        }
        y.send(&format!("/nick {name}"));
        let y_nick = nick_answer(&mut y);
        let x_answer = x_answer.unwrap_or_else(|| account_answer(&mut x));
        let answers = if y_nick == registered(&name) {
            // y's node re-read the names just after x's registration:
            // y never got as far as registering.
            [x_answer, lost.to_string()]
        } else {
            assert_eq!(y_nick, format!("* you are now {name}"), "round {round}");
            y.send("/register pass-y-123");
            [x_answer, account_answer(&mut y)]
        };
        let winners: Vec<usize> = (0..2).filter(|&i| answers[i] == won).collect();
        assert_eq!(winners.len(), 1, "round {round}: {answers:?}");
        let w = winners[0];
        assert_eq!(answers[1 - w], lost, "round {round}");

        // The account has the winner's password, on both nodes.
        let (right, wrong) = match w {
            0 => ("pass-x-123", "pass-y-123"),
            _ => ("pass-y-123", "pass-x-123"),
        };
        judge.send(&format!("/identify {name} {wrong}"));
        judge.read_until("! wrong nick or password");
        let mut other = named(second, &format!("j{round}"));
        other.send(&format!("/identify {name} {right}"));
        other.read_until(&format!("* you are logged in as {name}"));
        judge.send(&format!("/identify {name} {right}"));
        judge.read_until(&format!("* you are logged in as {name}"));
        judge.send("/logout");
        judge.read_until("* you are logged out");
    }
}

/// Reads up to the answer to `/register`.
fn account_answer(c: &mut Conn) -> String {
    loop {
        let l = c.line();
        if l.starts_with("! ") || l.starts_with("* registered ") {
            return l;
        }
    }
}

fn a_node_started_while_redis_is_down_has_accounts_once_it_is_up(b: Backend) {
    let Some(mut redis) = Redis::start() else {
        return;
    };
    let (port, url) = (redis.port(), redis.url());
    redis.stop();

    // Its storage connects when first asked: the node starts and serves.
    let (bn, _) = start_node(b, &url, "lb", &[]);
    let (mut c1, n1) = bn.connect();
    let (mut c2, _) = bn.connect();
    c1.send("hello while Redis is down");
    c2.read_until(&format!("[{n1}] hello while Redis is down"));
    c1.send("/identify zed secret123");
    c1.read_until("! accounts are unavailable right now; try again later");

    let redis = Redis::start_on(port).expect("redis-server starts again");
    bn.wait_log("[Cluster] connected to Redis");
    c1.send("/nick ann");
    c1.read_until("* you are now ann");
    c1.send("/register secret123");
    c1.read_until("* registered ann; you are logged in");

    // An account made on a node that came later reaches it as well.
    let (a, _) = node(b, &redis, "la", &[]);
    let mut zed = named(&a, "zed");
    zed.send("/register secret123");
    zed.expect("* registered zed; you are logged in");
    ask_nick_until(&mut c2, "zed", &registered("zed"), &["! nick taken: zed"]);
    c2.send("/identify zed secret123");
    c2.read_until("* you are logged in as zed");
    let mut a2 = a.connect().0;
    a2.send("/nick ann");
    a2.read_until(&registered("ann"));
}
