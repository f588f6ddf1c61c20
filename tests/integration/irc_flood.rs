//! IRC flood control over real sockets: lines over the rate wait (fake
//! lag) rather than being dropped, `LIST` waits for its own limit, and a
//! client with too much waiting is closed with `ERROR :Excess Flood`.

use crate::irc::{irc_server_with, Irc};
use crate::util::Backend;

fn a_flood_is_slowed_down_not_dropped(b: Backend) {
    let (s, addr) = irc_server_with(b, &["--rate-limit", "20", "--rate-burst", "5"]);
    let mut c = Irc::register(addr, "ann");
    let flood: String = (0..40).map(|i| format!("PING :p{i}\r\n")).collect();
    c.0.send_raw(flood.as_bytes());
    for i in 0..40 {
        c.expect(&format!(":irc.test PONG irc.test :p{i}"));
    }
    // Nothing was dropped, so nothing was warned about either; and a line
    // client in the same server is served meanwhile.
    let (mut a, na) = s.connect();
    let (mut other, _) = s.connect();
    a.send("still here");
    other.expect(&format!("[{na}] still here"));
}

fn list_waits_for_its_own_limit(b: Backend) {
    let (_s, addr) = irc_server_with(b, &[]);
    let mut c = Irc::register(addr, "ann");
    c.send("JOIN #lobby");
    c.until(":irc.test 366 ");
    // The presence limit is a burst of 5, then 1 a second: the last three
    // wait, and each still gets its answer.
    let lists: String = (0..8).map(|_| "LIST\r\n").collect();
    c.0.send_raw(lists.as_bytes());
    for _ in 0..8 {
        let answer = c.until(":irc.test 323 ");
        assert!(
            answer.iter().all(|l| !l.contains("slow down")),
            "{answer:?}"
        );
    }
    c.send("PING :after");
    c.expect(":irc.test PONG irc.test :after");
}

fn too_much_waiting_is_an_excess_flood(b: Backend) {
    let (_s, addr) = irc_server_with(b, &["--rate-limit", "1", "--rate-burst", "3"]);
    let mut watcher = Irc::register(addr, "bob");
    watcher.send("JOIN #lobby");
    watcher.until(":irc.test 366 ");
    // NICK, USER and JOIN take the burst; everything after them waits.
    let mut ann = Irc::register(addr, "ann");
    ann.send("JOIN #lobby");
    watcher.expect(":ann!ann@user/ann JOIN #lobby");
    let line = "PRIVMSG #lobby :".to_string() + &"x".repeat(400) + "\r\n";
    let flood = line.repeat(30 * 1024 / line.len());
    ann.0.send_raw(flood.as_bytes());
    let seen = ann.until("ERROR ");
    assert_eq!(seen.last().map(String::as_str), Some("ERROR :Excess Flood"));
    ann.0.expect_closed();
    // None of the held lines reached the room.
    watcher.expect(":ann!ann@user/ann QUIT :Excess Flood");
}

both_backends!(
    a_flood_is_slowed_down_not_dropped,
    list_waits_for_its_own_limit,
    too_much_waiting_is_an_excess_flood,
);
