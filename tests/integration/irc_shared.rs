//! What a client in several channels with another user hears about that
//! user over real sockets: its quit, nick change, away and realname
//! changes once, as IRC has it, not once per shared channel. Each check
//! reads up to a marker that a third client sends once it has seen the
//! event: on one shard, every copy of the event went out before it.

use std::net::SocketAddr;

use crate::irc::{irc_server_with, Irc};
use crate::util::Backend;

fn joined(c: &mut Irc, chans: &str) {
    c.send(&format!("JOIN {chans}"));
    for _ in chans.split(',') {
        c.until(":irc.test 366 ");
    }
}

/// Reads up to `marker`, and returns how many lines before it contain
/// `what`.
fn count_until(c: &mut Irc, what: &str, marker: &str) -> usize {
    let mut n = 0;
    loop {
        let l = c.line();
        if l.ends_with(marker) {
            return n;
        }
        n += usize::from(l.contains(what));
    }
}

/// Registers `nick` with away-notify and setname.
fn notified(addr: SocketAddr, nick: &str) -> Irc {
    let mut c = Irc::open(addr);
    c.send("CAP REQ :away-notify setname");
    c.send(&format!("NICK {nick}"));
    c.send(&format!("USER {nick} 0 * :{nick}"));
    c.send("CAP END");
    c.until(":irc.test 422 ");
    c
}

fn one_notice_per_user_not_per_shared_channel(b: Backend) {
    let (_s, addr) = irc_server_with(b, &["--threads", "1"]);
    let mut ann = notified(addr, "ann");
    joined(&mut ann, "#a,#b,#c");
    let mut bob = Irc::register(addr, "bob");
    joined(&mut bob, "#c,#a,#b");
    let mut cat = notified(addr, "cat");
    joined(&mut cat, "#b");
    // One pass's events reach a client room by room (docs/irc.md).
    let mut joins: Vec<String> = (0..3).map(|_| ann.line()).collect();
    joins.sort();
    assert_eq!(
        joins,
        [
            ":bob!bob@user/bob JOIN #a",
            ":bob!bob@user/bob JOIN #b",
            ":bob!bob@user/bob JOIN #c"
        ]
    );
    ann.expect(":cat!cat@user/cat JOIN #b");

    // cat shares #b only with bob, and hears of each change there.
    bob.send("NICK robert");
    cat.expect(":bob!bob@user/bob NICK :robert");
    cat.send("PRIVMSG #b :marker 1");
    assert_eq!(count_until(&mut ann, " NICK :robert", "marker 1"), 1);

    bob.send("AWAY :lunch");
    cat.expect(":robert!robert@user/robert AWAY :lunch");
    cat.send("PRIVMSG #b :marker 2");
    assert_eq!(count_until(&mut ann, " AWAY :lunch", "marker 2"), 1);

    bob.send("SETNAME :Robert");
    cat.expect(":robert!robert@user/robert SETNAME :Robert");
    cat.send("PRIVMSG #b :marker 3");
    assert_eq!(count_until(&mut ann, " SETNAME :Robert", "marker 3"), 1);

    bob.send("QUIT :bye");
    cat.expect(":robert!robert@user/robert QUIT :bye");
    cat.send("PRIVMSG #b :marker 4");
    assert_eq!(count_until(&mut ann, " QUIT :bye", "marker 4"), 1);
}

both_backends!(one_notice_per_user_not_per_shared_channel);
