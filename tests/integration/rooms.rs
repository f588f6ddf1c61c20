//! Rooms, private messages and presence: every protocol line, and that
//! room-aware fan-out delivers exactly where it should across shards.

use std::collections::HashMap;

use crate::util::{server, Backend, Conn, TestServer};

/// Joins `room` (with `#`) and returns the member count it reports.
fn join(c: &mut Conn, room: &str) -> usize {
    c.send(&format!("/join {room}"));
    let l = c.line();
    let rest = l
        .strip_prefix("* you joined ")
        .unwrap_or_else(|| panic!("expected to join {room}, got {l:?}"));
    let (name, count) = rest.split_once(" (").expect("room (count)");
    assert!(
        name.eq_ignore_ascii_case(room),
        "joined {name}, wanted {room}"
    );
    count
        .trim_end_matches(" users)")
        .parse()
        .expect("a member count")
}

fn lobby_welcome_and_counts(b: Backend) {
    let s = server(b, &[]);
    let mut a = Conn::open(s.addr);
    let welcome = a.line();
    assert!(welcome.starts_with("* welcome guest-"), "{welcome}");
    a.expect("* you joined #lobby (1 users)");
    let mut c = Conn::open(s.addr);
    c.line();
    c.expect("* you joined #lobby (2 users)");
}

fn chat_stays_in_the_room(b: Backend) {
    let s = server(b, &["--threads", "2"]);
    let (mut a, na) = s.connect();
    let (mut bb, nb) = s.connect();
    let (mut c, nc) = s.connect();
    a.expect(&format!("* {nb} joined #lobby"));
    a.expect(&format!("* {nc} joined #lobby"));
    bb.expect(&format!("* {nc} joined #lobby"));

    assert_eq!(join(&mut c, "#Rust"), 1);
    a.expect(&format!("* {nc} left #lobby"));
    bb.expect(&format!("* {nc} left #lobby"));
    a.send("lobby only");
    bb.expect(&format!("[{na}] lobby only"));
    // c is elsewhere: its next line is the one from its own room.
    assert_eq!(join(&mut bb, "#rust"), 2, "room names ignore case");
    c.expect(&format!("* {nb} joined #Rust"));
    a.expect(&format!("* {nb} left #lobby"));
    bb.send("rust only");
    c.expect(&format!("[{nb}] rust only"));
    a.send("/list");
    a.expect(&format!("* 1 users in #lobby: {na}"));
    c.send("/list");
    let mut members = [nb.clone(), nc.clone()];
    members.sort_by_key(|n| n.to_lowercase());
    c.expect(&format!("* 2 users in #Rust: {}", members.join(", ")));
}

fn join_errors_change_nothing(b: Backend) {
    let s = server(b, &[]);
    let (mut a, _) = s.connect();
    for (cmd, err) in [
        ("/join", "! usage: /join #<room>"),
        (
            "/join lobby",
            "! invalid room name: rooms start with #, as in /join #lobby",
        ),
        (
            "/join #",
            "! invalid room name: use # and 1-32 characters of A-Z a-z 0-9 _ -",
        ),
        // (`/join #a b` is #a with the key `b`: docs/protocol.md.)
        (
            "/join #a.b",
            "! invalid room name: use # and 1-32 characters of A-Z a-z 0-9 _ -",
        ),
        (
            "/join #ü",
            "! invalid room name: use # and 1-32 characters of A-Z a-z 0-9 _ -",
        ),
        ("/join #LOBBY", "! you are already in #lobby"),
    ] {
        a.send(cmd);
        a.expect(err);
    }
    a.send(&format!("/join #{}", "r".repeat(33)));
    a.expect("! invalid room name: at most 32 characters after #");
    assert_eq!(join(&mut a, &format!("#{}", "r".repeat(32))), 1);
    a.send("/rooms");
    a.expect(&format!("* 1 rooms: #{} (1)", "r".repeat(32)));
}

fn leave_and_nick_notices_go_to_the_room_only(b: Backend) {
    let s = server(b, &["--threads", "2"]);
    let (mut a, _) = s.connect();
    let (mut bb, nb) = s.connect();
    let (mut c, nc) = s.connect();
    a.line();
    a.line();
    bb.line();
    join(&mut c, "#side");
    a.line(); // c left #lobby
    bb.line();
    bb.send("/nick Bee");
    bb.expect("* you are now Bee");
    a.expect(&format!("* {nb} is now Bee"));
    c.send("/nick Sea");
    c.expect("* you are now Sea");
    drop(bb);
    a.expect("* Bee left #lobby");
    let (_d, nd) = s.connect();
    join(&mut c, "#lobby");
    // c saw nothing of the lobby while away, not even d's arrival.
    a.expect(&format!("* {nd} joined #lobby"));
    a.expect("* Sea joined #lobby");
    let _ = nc;
}

fn who_and_rooms(b: Backend) {
    let s = server(b, &["--notice-limit", "0"]);
    let [mut a, mut z, mut m] = s
        .named(&["ann", "Zed", "moe"])
        .try_into()
        .ok()
        .expect("three");
    join(&mut z, "#zoo");
    join(&mut m, "#Apes");
    a.send("/who");
    a.expect("* 3 users online: ann, moe, Zed");
    a.send("/rooms");
    a.expect("* 3 rooms: #Apes (1), #lobby (1), #zoo (1)");
    drop(m);
    a.send("/list"); // a round trip after m's departure ...
    a.expect("* 1 users in #lobby: ann");
    z.send("/rooms");
    let rooms = z.line();
    // ... though the room may outlive it by a moment on another shard.
    assert!(
        rooms == "* 2 rooms: #lobby (1), #zoo (1)" || rooms.starts_with("* 3 rooms"),
        "{rooms}"
    );
}

fn private_messages(b: Backend) {
    let s = server(b, &["--threads", "4", "--notice-limit", "0"]);
    let [mut a, mut bob] = s.named(&["Ann", "bob"]).try_into().ok().expect("two");
    join(&mut bob, "#elsewhere");
    a.send("/msg BOB psst, over here");
    a.expect("[Ann -> bob] psst, over here");
    bob.expect("[Ann -> bob] psst, over here");
    a.send("/msg nobody hi");
    a.expect("! no such user: nobody");
    a.send("/msg bob");
    a.expect("! usage: /msg <nick> <text>");
    a.send("/msg");
    a.expect("! usage: /msg <nick> <text>");
    a.send("/msg ann note to self");
    a.expect("[Ann -> Ann] note to self");
    a.send("/msg bob \x1b[2Jclean");
    a.expect("[Ann -> bob] [2Jclean");
    bob.expect("[Ann -> bob] [2Jclean");
}

fn me_actions(b: Backend) {
    let s = server(b, &["--notice-limit", "0"]);
    let [mut a, mut bob] = s.named(&["ann", "bob"]).try_into().ok().expect("two");
    a.send("/me waves");
    bob.expect("* ann waves");
    a.send("/me");
    a.expect("! usage: /me <action>");
    bob.send("marker");
    a.expect("[bob] marker");
}

/// Connects `n` clients; returns them with their nicks.
fn crowd(s: &TestServer, n: usize) -> Vec<(Conn, String)> {
    (0..n).map(|_| s.connect()).collect()
}

/// After everything else was read: the first two members of each group
/// send an end marker, and every member must see exactly the markers of the
/// others in its group next (nothing from any other group in between).
fn check_nothing_else_arrives(people: &mut [(Conn, String)], group_of: impl Fn(usize) -> usize) {
    let n = people.len();
    let mut senders: HashMap<usize, Vec<usize>> = HashMap::new();
    for i in 0..n {
        let g = senders.entry(group_of(i)).or_default();
        if g.len() < 2 {
            g.push(i);
        }
    }
    for idx in senders.values().flatten() {
        let (c, nick) = &mut people[*idx];
        c.send(&format!("end from {nick}"));
    }
    for i in 0..n {
        let mut want: Vec<String> = senders[&group_of(i)]
            .iter()
            .filter(|&&j| j != i)
            .map(|&j| format!("[{0}] end from {0}", people[j].1))
            .collect();
        let mut got: Vec<String> = (0..want.len()).map(|_| people[i].0.line()).collect();
        want.sort();
        got.sort();
        assert_eq!(got, want, "client {i} saw only its own room's markers");
    }
}

fn three_rooms_across_four_shards(b: Backend) {
    let s = server(b, &["--threads", "4", "--notice-limit", "0"]);
    let mut people = crowd(&s, 12);
    let rooms = ["#red", "#green", "#blue"];
    for (i, (c, _)) in people.iter_mut().enumerate() {
        join(c, rooms[i % 3]);
    }
    for (c, nick) in people.iter_mut() {
        c.send(&format!("hi from {nick}"));
    }
    let nicks: Vec<String> = people.iter().map(|(_, n)| n.clone()).collect();
    for (i, (c, _)) in people.iter_mut().enumerate() {
        let mut want: Vec<String> = (0..12)
            .filter(|&j| j % 3 == i % 3 && j != i)
            .map(|j| format!("[{0}] hi from {0}", nicks[j]))
            .collect();
        let mut got: Vec<String> = (0..want.len()).map(|_| c.line()).collect();
        want.sort();
        got.sort();
        assert_eq!(got, want, "client {i} in {}", rooms[i % 3]);
    }
    check_nothing_else_arrives(&mut people, |i| i % 3);
}

fn private_messages_across_shards(b: Backend) {
    let s = server(b, &["--threads", "4", "--notice-limit", "0"]);
    let mut people = crowd(&s, 8);
    let nicks: Vec<String> = people.iter().map(|(_, n)| n.clone()).collect();
    for (i, (c, me)) in people.iter_mut().enumerate() {
        for (j, to) in nicks.iter().enumerate() {
            if i != j {
                c.send(&format!("/msg {to} {i}->{j}"));
            }
        }
        let _ = me;
    }
    for (i, (c, me)) in people.iter_mut().enumerate() {
        let mut got: Vec<String> = (0..2 * (nicks.len() - 1)).map(|_| c.line()).collect();
        let mut want: Vec<String> = Vec::new();
        for (j, other) in nicks.iter().enumerate() {
            if i != j {
                want.push(format!("[{me} -> {other}] {i}->{j}")); // confirmations
                want.push(format!("[{other} -> {me}] {j}->{i}")); // received
            }
        }
        got.sort();
        want.sort();
        assert_eq!(got, want, "client {i}");
    }
    // The lobby saw none of it.
    check_nothing_else_arrives(&mut people, |_| 0);
}

/// Clients hop between rooms while others chat. Stationary members must get
/// every line of their room, in order, and nothing else; a hopper must see,
/// between two `* you joined` lines, only lines of the room it was in.
fn join_leave_storm(b: Backend) {
    let s = server(
        b,
        &["--threads", "4", "--notice-limit", "0", "--rate-limit", "0"],
    );
    const ROOMS: usize = 4;
    const LINES: usize = 100;
    const HOPS: usize = 40;
    let mut stay: Vec<(Conn, String)> = crowd(&s, ROOMS * 2);
    for (i, (c, _)) in stay.iter_mut().enumerate() {
        if i % ROOMS != 0 {
            join(c, &format!("#r{}", i % ROOMS));
        }
    }
    let mut hoppers = crowd(&s, 6);
    let hopper_nicks: Vec<String> = hoppers.iter().map(|(_, n)| n.clone()).collect();
    let room_of = |i: usize| {
        if i.is_multiple_of(ROOMS) {
            "lobby".to_string()
        } else {
            format!("r{}", i % ROOMS)
        }
    };
    // Everyone writes: stationary members tag lines with their room, hoppers
    // send their hops and chat in between.
    for k in 0..LINES {
        for (i, (c, _)) in stay.iter_mut().enumerate().filter(|(i, _)| *i < ROOMS) {
            c.send(&format!("{} {k}", room_of(i)));
        }
        if k < HOPS {
            for (h, (c, _)) in hoppers.iter_mut().enumerate() {
                let room = (k + h) % ROOMS;
                let name = if room == 0 {
                    "#lobby".to_string()
                } else {
                    format!("#r{room}")
                };
                c.send(&format!("/join {name}"));
                c.send(&format!("{} hop", &name[1..]));
            }
        }
    }
    let stay_nicks: Vec<String> = stay.iter().map(|(_, n)| n.clone()).collect();
    // Stationary receivers: the second member of each room.
    for (i, (c, _)) in stay.iter_mut().enumerate().filter(|(i, _)| *i >= ROOMS) {
        let room = room_of(i);
        let sender = &stay_nicks[i - ROOMS];
        let mut next = 0;
        while next < LINES {
            let l = c.line();
            let (who, text) = l[1..]
                .split_once("] ")
                .unwrap_or_else(|| panic!("a chat line: {l:?}"));
            let tag = text.split(' ').next().expect("a room tag");
            assert_eq!(tag, room, "client in #{room} got {l:?}");
            if who == sender {
                assert_eq!(text, format!("{room} {next}"), "in order, none lost");
                next += 1;
            } else {
                assert!(
                    hopper_nicks.iter().any(|h| h == who),
                    "from a hopper: {l:?}"
                );
            }
        }
    }
    for (c, _) in hoppers.iter_mut() {
        let mut hops = 0;
        let mut current = "lobby".to_string();
        while hops < HOPS {
            let l = c.line();
            if let Some(rest) = l.strip_prefix("* you joined #") {
                current = rest.split(' ').next().expect("a room").to_string();
                hops += 1;
            } else if l.starts_with("! you are already in #") {
                hops += 1;
            } else if let Some((_, text)) = l[1..].split_once("] ") {
                let tag = text.split(' ').next().expect("a room tag");
                assert_eq!(tag, current, "a hopper in #{current} got {l:?}");
            } else {
                panic!("unexpected line {l:?}");
            }
        }
    }
}

fn a_thousand_rooms_of_ten(b: Backend) {
    let _ = shardchat::sys::raise_fd_limit();
    let _one_at_a_time = crate::util::heavy();
    let s = server(
        b,
        &["--threads", "4", "--notice-limit", "0", "--rate-limit", "0"],
    );
    const ROOMS: usize = 1000;
    let mut people = crowd(&s, ROOMS * 10);
    for (i, (c, _)) in people.iter_mut().enumerate() {
        c.send(&format!("/join #room{}", i % ROOMS));
    }
    for (c, _) in people.iter_mut() {
        let l = c.line();
        assert!(l.starts_with("* you joined #room"), "{l}");
    }
    check_nothing_else_arrives(&mut people, |i| i % ROOMS);
}

both_backends!(
    lobby_welcome_and_counts,
    chat_stays_in_the_room,
    join_errors_change_nothing,
    leave_and_nick_notices_go_to_the_room_only,
    who_and_rooms,
    private_messages,
    me_actions,
    three_rooms_across_four_shards,
    private_messages_across_shards,
    join_leave_storm,
    a_thousand_rooms_of_ten,
);
