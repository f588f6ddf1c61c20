//! Room history over the line protocol: what a joining client is replayed
//! (`--history`, `--history-replay`), what is never history, history and
//! topics kept across a clean restart, and every line older than the
//! writer's interval kept through `kill -9` in a chat burst.

use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::accounts::db_dir;
use crate::irc::{irc_server_with, Irc};
use crate::util::{server, Backend, Conn};

/// Seconds since the Unix epoch of a `YYYY-MM-DDThh:mm:ssZ` time, read
/// field by field; panics on anything else.
fn stamp_secs(s: &str) -> u64 {
    let b = s.as_bytes();
    let shape_ok = b.len() == 20
        && b.iter().enumerate().all(|(i, &c)| match i {
            4 | 7 => c == b'-',
            10 => c == b'T',
            13 | 16 => c == b':',
            19 => c == b'Z',
            _ => c.is_ascii_digit(),
        });
    assert!(shape_ok, "a YYYY-MM-DDThh:mm:ssZ time: {s:?}");
    let num = |from: usize, to: usize| -> i64 { s[from..to].parse().expect("digits") };
    let (y, mo, d) = (num(0, 4), num(5, 7), num(8, 10));
    let (h, mi, sec) = (num(11, 13), num(14, 16), num(17, 19));
    assert!((1..=12).contains(&mo) && (1..=31).contains(&d), "{s}");
    assert!(h < 24 && mi < 60 && sec < 61, "{s}");
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((mo + 9) % 12) + 2) / 5 + d - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    u64::try_from(days * 86_400 + h * 3600 + mi * 60 + sec).expect("after 1970")
}

pub(crate) fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
}

/// Reads a replay of `room`: `* history of #<room>`, then `~ <time> <line>`
/// lines, then `* end of history of #<room>`. Each time must lie between
/// `since` (seconds, taken before the lines were said) and now. Returns
/// the lines as they were said live.
pub(crate) fn replay(c: &mut Conn, room: &str, since: u64) -> Vec<String> {
    c.expect(&format!("* history of #{room}"));
    let end = format!("* end of history of #{room}");
    let mut lines = Vec::new();
    loop {
        let l = c.line();
        if l == end {
            return lines;
        }
        let rest = l
            .strip_prefix("~ ")
            .unwrap_or_else(|| panic!("a history line: {l:?}"));
        let (time, said) = rest.split_once(' ').expect("a time, then the line");
        let secs = stamp_secs(time);
        assert!(since <= secs && secs <= now_secs(), "{time} is not now");
        lines.push(said.to_string());
    }
}

/// Joins `room` and reads the confirmation.
fn join(c: &mut Conn, room: &str, users: usize) {
    c.send(&format!("/join #{room}"));
    c.expect(&format!("* you joined #{room} ({users} users)"));
}

fn joiners_get_the_newest_lines_of_the_room_they_join(b: Backend) {
    let since = now_secs();
    let (s, irc) = irc_server_with(b, &["--history", "5", "--history-replay", "3"]);
    let mut ann = s.connect_as("ann");
    join(&mut ann, "r", 1);
    let mut bob = s.connect_as("bob");
    join(&mut bob, "r", 2);
    ann.expect("* bob joined #r");
    let mut ivy = Irc::register(irc, "ivy");
    ivy.send("JOIN #r");
    ivy.until(":irc.test 366 ");
    ann.expect("* ivy joined #r");
    bob.expect("* ivy joined #r");

    // Chat, an action, a notice and a topic change are history; private
    // messages, nick changes, joins and parts are not.
    ann.send("one");
    bob.expect("[ann] one");
    ann.send("/me waves");
    bob.expect("* ann waves");
    ivy.send("NOTICE #r :three");
    ann.expect("[ivy] three");
    bob.expect("[ivy] three");
    bob.send("/msg ann psst");
    bob.expect("[bob -> ann] psst");
    ann.expect("[bob -> ann] psst");
    bob.send("/nick bo");
    bob.expect("* you are now bo");
    ann.expect("* bob is now bo");
    ivy.send("PART #r");
    ann.expect("* ivy left #r");
    bob.expect("* ivy left #r");
    ann.send("/topic four");
    ann.expect("* you set the topic of #r: four");
    bob.expect("* ann set the topic of #r: four");

    let mut carl = s.connect_as("carl");
    join(&mut carl, "r", 3);
    carl.expect("* topic of #r: four (set by ann)");
    let want = [
        "* ann waves",
        "[ivy] three",
        "* ann set the topic of #r: four",
    ];
    assert_eq!(replay(&mut carl, "r", since), want);
    ann.expect("* carl joined #r");
    bob.expect("* carl joined #r");

    ann.send("five");
    bob.expect("[ann] five");
    carl.expect("[ann] five");
    let mut dave = s.connect_as("dave");
    join(&mut dave, "r", 4);
    dave.expect("* topic of #r: four (set by ann)");
    let want = [
        "[ivy] three",
        "* ann set the topic of #r: four",
        "[ann] five",
    ];
    assert_eq!(replay(&mut dave, "r", since), want);

    for c in [&mut ann, &mut bob, &mut carl] {
        c.expect("* dave joined #r");
    }

    // History is per room, and a client moving gets only the new room's.
    join(&mut ann, "other", 1);
    for c in [&mut bob, &mut carl, &mut dave] {
        c.expect("* ann left #r");
    }
    ann.send("six");
    // Answered after "six" was handed to the history writer.
    ann.send("/topic");
    ann.expect("* no topic is set for #other");
    bob.send("/join #other");
    bob.expect("* you joined #other (2 users)");
    assert_eq!(replay(&mut bob, "other", since), ["[ann] six"]);
    ann.expect("* bo joined #other");
}

/// A replay holds what the room said before the join, never a line said
/// after it (the joiner sees those live, or said them). One shard, so
/// that the history writer's answers reach clients in the order it gives
/// them: a later joiner's replay shows that an earlier one's came.
fn a_replay_holds_only_lines_from_before_the_join(b: Backend) {
    let since = now_secs();
    let s = server(b, &["--threads", "1", "--history", "10"]);
    let mut ann = s.connect_as("ann");
    join(&mut ann, "h", 1);
    ann.send("old");
    ann.send("/topic");
    ann.expect("* no topic is set for #h");

    // The join and a line at once: the line is not history of the join.
    let mut bob = s.connect_as("bob");
    bob.send_raw(b"/join #h\nnew\n");
    bob.expect("* you joined #h (2 users)");
    assert_eq!(replay(&mut bob, "h", since), ["[ann] old"]);
    ann.expect("* bob joined #h");
    ann.expect("[bob] new");

    // Likewise into an empty room: no replay at all.
    let mut carl = s.connect_as("carl");
    carl.send_raw(b"/join #e\nfirst\n");
    carl.expect("* you joined #e (1 users)");
    let mut dave = s.connect_as("dave");
    join(&mut dave, "h", 3);
    assert_eq!(replay(&mut dave, "h", since), ["[ann] old", "[bob] new"]);
    carl.send("/topic");
    carl.expect("* no topic is set for #e");
}

/// With history off, or kept but not replayed, a joiner is sent none:
/// the next line after its join is the room's next live line.
fn no_replay_with_history_off_or_replay_0(b: Backend) {
    for args in [
        &["--history", "0"][..],
        &["--history", "5", "--history-replay", "0"][..],
    ] {
        let s = server(b, args);
        let mut ann = s.connect_as("ann");
        join(&mut ann, "r", 1);
        ann.send("one");
        ann.send("/topic");
        ann.expect("* no topic is set for #r");
        let mut bob = s.connect_as("bob");
        join(&mut bob, "r", 2);
        ann.expect("* bob joined #r");
        ann.send("two");
        bob.expect("[ann] two");
    }
}

/// Lines and a topic kept before a clean stop are there after a restart
/// on the same file, trimmed to the newest `--history` lines.
fn history_and_topics_survive_a_clean_restart(b: Backend) {
    let since = now_secs();
    let dir = db_dir(&format!("hist-restart-{}", b.name()));
    let db = dir.join("chat.db");
    let db = db.to_str().expect("a UTF-8 path");
    let (mut s, _) = irc_server_with(b, &["--db", db, "--history", "5"]);
    let mut ann = s.connect_as("ann");
    join(&mut ann, "r", 1);
    for n in 1..=6 {
        ann.send(&format!("line {n}"));
    }
    ann.send("/topic kept");
    ann.expect("* you set the topic of #r: kept");
    ann.send("line 7");
    ann.send("/topic");
    ann.expect("* topic of #r: kept (set by ann)");
    s.signal("TERM");
    ann.expect("* server shutting down");
    assert!(s.wait_exit().success(), "a clean stop");
    drop(s);

    let args = ["--db", db, "--history", "100", "--history-replay", "100"];
    let (s, irc) = irc_server_with(b, &args);
    let mut bob = s.connect_as("bob");
    join(&mut bob, "r", 1);
    bob.expect("* topic of #r: kept (set by ann)");
    let want = [
        "[ann] line 4",
        "[ann] line 5",
        "[ann] line 6",
        "* ann set the topic of #r: kept",
        "[ann] line 7",
    ];
    assert_eq!(replay(&mut bob, "r", since), want);
    bob.send("/topic");
    bob.expect("* topic of #r: kept (set by ann)");
    let mut ivy = Irc::register(irc, "ivy");
    ivy.send("JOIN #r");
    ivy.expect(":ivy!ivy@user/ivy JOIN #r");
    ivy.expect(":irc.test 332 ivy #r :kept");
    let who = ivy.line();
    assert!(who.starts_with(":irc.test 333 ivy #r ann "), "{who}");
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The documented interval: a line is committed at most this long after
/// its room's members were sent it.
const INTERVAL: Duration = Duration::from_millis(100);

/// `kill -9` during a chat burst: after a restart on the same file the
/// history is in order, without duplicates, holds only lines that were
/// sent, and every line a member had received `INTERVAL` before the kill.
fn kill_9_in_a_chat_burst_keeps_every_line_older_than_the_interval(b: Backend) {
    let dir = db_dir(&format!("hist-kill-{}", b.name()));
    let db = dir.join("chat.db");
    let db = db.to_str().expect("a UTF-8 path");
    let keep = 10_000;
    let args = [
        "--db",
        db,
        "--history",
        "10000",
        "--history-replay",
        "10000",
        "--rate-limit",
        "0",
        "--notice-limit",
        "0",
    ];
    let mut s = server(b, &args);
    let mut ann = s.connect_as("ann");
    join(&mut ann, "burst", 1);
    let mut bob = s.connect_as("bob");
    join(&mut bob, "burst", 2);

    // The sender writes numbered lines in batches of 100, each batch
    // against a credit the reader gives back as it reads, so that it
    // stays at most 20 batches ahead (the reader is never a slow
    // consumer).
    let (credit, credits) = mpsc::channel::<()>();
    for _ in 0..20 {
        credit.send(()).expect("credit");
    }
    let mut out = ann.stream().try_clone().expect("clone the socket");
    let sender = thread::spawn(move || {
        use std::io::Write;
        let mut next = 0u64;
        while credits.recv().is_ok() {
            let batch: String = (next..next + 100).map(|n| format!("{n}\n")).collect();
            next += 100;
            if out.write_all(batch.as_bytes()).is_err() {
                break;
            }
        }
        next // no line numbered this or higher was sent
    });

    // Read for half a second of burst, then kill.
    let mut got: Vec<(u64, Instant)> = Vec::new();
    loop {
        let l = bob.line();
        let n: u64 = l
            .strip_prefix("[ann] ")
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("a numbered line: {l:?}"));
        assert_eq!(n, got.len() as u64, "lines arrive in order, once");
        got.push((n, Instant::now()));
        if got.len().is_multiple_of(100) {
            let _ = credit.send(());
        }
        if got[0].1.elapsed() >= Duration::from_millis(500) && got.len() >= 1000 {
            break;
        }
    }
    let killed = Instant::now();
    s.signal("KILL");
    s.wait_exit();
    drop(credit);
    let sent = sender.join().expect("the sender");
    bob.drain_to_eof();
    drop(s);
    let must: Vec<u64> = got
        .iter()
        .filter(|(_, at)| killed.duration_since(*at) > INTERVAL)
        .map(|&(n, _)| n)
        .collect();
    assert!(!must.is_empty(), "lines were read well before the kill");

    let s = server(b, &args);
    let mut carl = s.connect_as("carl");
    join(&mut carl, "burst", 1);
    let kept: Vec<u64> = replay(&mut carl, "burst", 0)
        .iter()
        .map(|l| {
            l.strip_prefix("[ann] ")
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("a numbered line: {l:?}"))
        })
        .collect();
    assert!(
        kept.windows(2).all(|w| w[0] < w[1]),
        "in order, without duplicates"
    );
    assert!(kept.iter().all(|&n| n < sent), "only lines that were sent");
    // The newest `keep` lines are kept; older ones are trimmed.
    let oldest = match kept.len() < keep {
        true => 0,
        false => kept[0],
    };
    let lost: Vec<u64> = must
        .iter()
        .copied()
        .filter(|&n| n >= oldest && kept.binary_search(&n).is_err())
        .collect();
    assert!(
        lost.is_empty(),
        "{} lines received over {INTERVAL:?} before the kill are missing (first {:?}); \
         {} kept, {} must",
        lost.len(),
        lost.first(),
        kept.len(),
        must.len()
    );
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}

both_backends!(
    joiners_get_the_newest_lines_of_the_room_they_join,
    a_replay_holds_only_lines_from_before_the_join,
    no_replay_with_history_off_or_replay_0,
    history_and_topics_survive_a_clean_restart,
    kill_9_in_a_chat_burst_keeps_every_line_older_than_the_interval,
);
