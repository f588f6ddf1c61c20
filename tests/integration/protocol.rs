//! The wire protocol's exact lines: welcome, chat, notices, commands.

use crate::util::{server, Backend};

fn welcome_and_broadcast_to_all_others(b: Backend) {
    let s = server(b, &["--threads", "2"]);
    let (mut a, na) = s.connect();
    assert!(na.starts_with("guest-"), "generated nick: {na}");
    let (mut bb, nb) = s.connect();
    a.expect(&format!("* {nb} joined #lobby"));
    let (mut c, nc) = s.connect();
    a.expect(&format!("* {nc} joined #lobby"));
    bb.expect(&format!("* {nc} joined #lobby"));

    a.send("hello everyone");
    bb.expect(&format!("[{na}] hello everyone"));
    c.expect(&format!("[{na}] hello everyone"));
    // No echo: the sender's next line is someone else's.
    bb.send("marker");
    a.expect(&format!("[{nb}] marker"));
    c.expect(&format!("[{nb}] marker"));
}

fn crlf_and_empty_lines(b: Backend) {
    let s = server(b, &["--notice-limit", "0"]);
    let (mut a, na) = s.connect();
    let (mut bb, _) = s.connect();
    a.send_raw(b"\r\n\n   \nwith crlf\r\n");
    bb.expect(&format!("[{na}] with crlf"));
}

fn join_and_leave_notices(b: Backend) {
    let s = server(b, &[]);
    let (mut a, _) = s.connect();
    let (mut bb, nb) = s.connect();
    a.expect(&format!("* {nb} joined #lobby"));
    bb.send("/quit off to lunch");
    bb.expect("* bye");
    bb.expect_closed();
    a.expect(&format!("* {nb} left #lobby (off to lunch)"));
    let (c, nc) = s.connect();
    a.expect(&format!("* {nc} joined #lobby"));
    drop(c);
    a.expect(&format!("* {nc} left #lobby"));
}

/// `--notice-limit N` announces a join or leave while at most N clients
/// receive it: the joiner or leaver is not counted.
fn notice_limit_silences_crowds(b: Backend) {
    // One shard: a leave is handled before lines sent after it.
    let s = server(b, &["--notice-limit", "3", "--threads", "1"]);
    let (mut a, _) = s.connect();
    let mut others = Vec::new();
    for _ in 0..3 {
        // The 2nd, 3rd and 4th members' joins reach 1, 2 and 3 clients.
        let (c, n) = s.connect();
        a.expect(&format!("* {n} joined #lobby"));
        others.push((c, n));
    }
    // The 5th member's join would reach 4: silent.
    let (fifth, _) = s.connect();
    others[0].0.send("marker 1");
    a.expect(&format!("[{}] marker 1", others[0].1));
    a.send("/list");
    let list = a.line();
    assert!(
        list.starts_with("* 5 users in #lobby: "),
        "/list stays exact: {list}"
    );
    // Its leave would reach 4 too: silent.
    drop(fifth);
    others[0].0.send("marker 2");
    a.expect(&format!("[{}] marker 2", others[0].1));
    a.send("/list");
    let list = a.line();
    assert!(list.starts_with("* 4 users in #lobby: "), "{list}");
    // With 4 members left, a leave reaches 3: announced.
    let (gone, name) = others.pop().expect("a member");
    drop(gone);
    let left = a.line();
    assert!(left.starts_with(&format!("* {name} left #lobby")), "{left}");
}

/// `--notice-limit 0` turns join and leave notices off.
fn notice_limit_zero_announces_nothing(b: Backend) {
    let s = server(b, &["--notice-limit", "0"]);
    let (mut a, _) = s.connect();
    let (mut o, no) = s.connect();
    let (c, _) = s.connect();
    drop(c);
    o.send("marker");
    a.expect(&format!("[{no}] marker"));
}

fn nick_rules(b: Backend) {
    let s = server(b, &[]);
    let (mut a, na) = s.connect();
    let (mut o, _) = s.connect();
    a.line(); // o joined
    a.send("/nick Alice");
    a.expect("* you are now Alice");
    o.expect(&format!("* {na} is now Alice"));
    o.send("/nick alice");
    o.expect("! nick taken: alice");
    o.send("/nick ALICE");
    o.expect("! nick taken: ALICE");
    o.send("/nick");
    o.expect("! usage: /nick <name>");
    o.send("/nick bad name");
    o.expect("! invalid nick: use 1-32 characters of A-Z a-z 0-9 _ -");
    o.send("/nick bäd");
    o.expect("! invalid nick: use 1-32 characters of A-Z a-z 0-9 _ -");
    o.send(&format!("/nick {}", "x".repeat(33)));
    o.expect("! invalid nick: at most 32 characters");
    o.send(&format!("/nick {}", "x".repeat(32)));
    o.expect(&format!("* you are now {}", "x".repeat(32)));
    a.line(); // o's rename
    a.send("/nick Alice");
    a.expect("! you are already Alice");
    a.send("/nick ALICE");
    a.expect("* you are now ALICE");
    // After a rename, the old name is free for others.
    o.line(); // Alice is now ALICE
    o.send("/nick Alice2");
    o.expect("* you are now Alice2");
    a.line();
    let (mut c, _) = s.connect();
    c.send(&format!("/nick {na}"));
    c.expect(&format!("* you are now {na}"));
}

fn list_is_sorted(b: Backend) {
    let s = server(b, &["--notice-limit", "0"]);
    let mut a = s.connect_as("zed");
    let _b = s.connect_as("Bob");
    let _c = s.connect_as("amy");
    a.send("/list");
    // Renames are announced to everyone first.
    let before = a.read_until("* 3 users in #lobby: amy, Bob, zed");
    assert!(before.iter().all(|l| l.contains(" is now ")), "{before:?}");
}

fn quit_says_bye_and_closes(b: Backend) {
    let s = server(b, &[]);
    let (mut a, _) = s.connect();
    let (mut bb, nb) = s.connect();
    a.line();
    bb.send("/quit");
    bb.expect("* bye");
    bb.expect_closed();
    a.expect(&format!("* {nb} left #lobby"));
}

fn help_and_unknown_commands(b: Backend) {
    let s = server(b, &[]);
    let (mut a, _) = s.connect();
    a.send("/help");
    a.send("/dance wildly");
    let mut help = Vec::new();
    loop {
        let l = a.line();
        if l.starts_with("! ") {
            assert_eq!(l, "! unknown command: /dance");
            break;
        }
        assert!(l.starts_with("* "), "help lines are notices: {l:?}");
        help.push(l);
    }
    for cmd in [
        "/nick", "/list", "/quit", "/help", "/join", "/msg", "/me", "/who", "/rooms",
    ] {
        assert!(help.iter().any(|l| l.contains(cmd)), "/help mentions {cmd}");
    }
}

/// `/who` and `/list` name the first 100 nicks (sorted ignoring case),
/// then say how many more there are.
fn who_and_list_name_at_most_100(b: Backend) {
    let s = server(b, &["--notice-limit", "0", "--threads", "2"]);
    let mut conns = Vec::new();
    let mut nicks = Vec::new();
    for _ in 0..105 {
        let (c, n) = s.connect();
        conns.push(c);
        nicks.push(n);
    }
    nicks.sort_by(|a, b| {
        a.to_ascii_lowercase()
            .cmp(&b.to_ascii_lowercase())
            .then(a.cmp(b))
    });
    let first = nicks[..100].join(", ");
    let a = &mut conns[0];
    a.send("/who");
    a.expect(&format!("* 105 users online: {first}"));
    a.expect("* ... and 5 more");
    a.send("/list");
    a.expect(&format!("* 105 users in #lobby: {first}"));
    a.expect("* ... and 5 more");
    a.send(&format!("/msg {} marker", nicks[0]));
    let marker = a.line();
    assert!(marker.ends_with("] marker"), "nothing more: {marker}");
}

both_backends!(
    welcome_and_broadcast_to_all_others,
    crlf_and_empty_lines,
    join_and_leave_notices,
    notice_limit_silences_crowds,
    notice_limit_zero_announces_nothing,
    nick_rules,
    list_is_sorted,
    who_and_list_name_at_most_100,
    quit_says_bye_and_closes,
    help_and_unknown_commands,
);
