//! The IRCv3 capabilities beyond server-time, message-tags and
//! echo-message, over real sockets: cap-notify, multi-prefix,
//! userhost-in-names, away-notify, invite-notify, setname, batch with
//! labeled-response, and client-only tags with TAGMSG. What a client did
//! not ask for is checked by a marker: the sender's next message is the
//! very next line the client reads.

use std::net::SocketAddr;

use crate::irc::{irc_server, Irc};
use crate::util::Backend;

/// What `CAP LS 302` offers (with values).
const OFFER: &str = "account-tag away-notify batch cap-notify draft/account-registration \
                     draft/chathistory draft/event-playback echo-message extended-join \
                     invite-notify labeled-response message-tags multi-prefix sasl=PLAIN \
                     server-time setname userhost-in-names";
/// What plain `CAP LS` offers (no values).
const OFFER_OLD: &str = "account-tag away-notify batch cap-notify draft/account-registration \
                         draft/chathistory draft/event-playback echo-message extended-join \
                         invite-notify labeled-response message-tags multi-prefix sasl \
                         server-time setname userhost-in-names";

/// Registers `nick` (realname `real`) with the capabilities `caps`.
fn with_caps(addr: SocketAddr, nick: &str, real: &str, caps: &str) -> Irc {
    let mut c = Irc::open(addr);
    c.send("CAP LS 302");
    c.expect(&format!(":irc.test CAP * LS :{OFFER}"));
    c.send(&format!("CAP REQ :{caps}"));
    c.expect(&format!(":irc.test CAP * ACK :{caps}"));
    c.send(&format!("NICK {nick}"));
    c.send(&format!("USER {nick} 0 * :{real}"));
    c.send("CAP END");
    c.until(":irc.test 422 ");
    c
}

/// Joins `chan` and reads through the NAMES that follow.
fn join(c: &mut Irc, chan: &str) -> Vec<String> {
    c.send(&format!("JOIN {chan}"));
    c.until(":irc.test 366 ")
}

/// Reads up to the line ending in `want` (tags aside), checking that no
/// line before it contains `never`.
fn upto(c: &mut Irc, want: &str, never: &str) {
    loop {
        let l = c.line();
        if l.ends_with(want) {
            return;
        }
        assert!(!l.contains(never), "{never:?} in {l:?}");
    }
}

/// Strips the `@time=...;msgid=...` a tagged client's event starts with,
/// checking that they are there.
fn untimed(line: &str) -> String {
    let rest = line
        .strip_prefix("@time=")
        .unwrap_or_else(|| panic!("a time tag: {line:?}"));
    let (_, rest) = rest.split_once(";msgid=").expect("a msgid");
    let (_, rest) = rest.split_once([';', ' ']).expect("more after the msgid");
    rest.to_string()
}

fn negotiation_follows_cap_302(b: Backend) {
    let (_s, addr) = irc_server(b);
    let mut c = Irc::open(addr);
    c.send("CAP LS 302");
    c.expect(&format!(":irc.test CAP * LS :{OFFER}"));
    c.send("CAP LIST");
    c.expect(":irc.test CAP * LIST :cap-notify");
    c.send("CAP REQ :-cap-notify");
    c.expect(":irc.test CAP * NAK :-cap-notify");
    c.send("CAP REQ :cap-notify multi-prefix");
    c.expect(":irc.test CAP * ACK :cap-notify multi-prefix");
    c.send("CAP FROB");
    c.expect(":irc.test 410 * FROB :Invalid CAP command");
    c.send("CAP");
    c.expect(":irc.test 461 * CAP :Not enough parameters");
    // Without 302, cap-notify is the client's to turn on and off.
    let mut old = Irc::open(addr);
    old.send("CAP LS");
    old.expect(&format!(":irc.test CAP * LS :{OFFER_OLD}"));
    old.send("CAP REQ :cap-notify");
    old.expect(":irc.test CAP * ACK :cap-notify");
    old.send("CAP REQ :-cap-notify");
    old.expect(":irc.test CAP * ACK :-cap-notify");
    old.send("CAP LIST");
    old.expect(":irc.test CAP * LIST :");
}

fn names_and_who_show_every_prefix_and_host_to_those_who_ask(b: Backend) {
    let (_s, addr) = irc_server(b);
    let mut ann = with_caps(addr, "ann", "Ann", "server-time");
    join(&mut ann, "#c");
    ann.send("MODE #c +v ann");
    ann.expect(":ann!ann@user/ann MODE #c +v ann");
    let mut bob = with_caps(addr, "bob", "Bob", "multi-prefix userhost-in-names");
    let names = join(&mut bob, "#c");
    let entries = names[1].split_once(" :").expect("a 353").1.to_string();
    let mut entries: Vec<&str> = entries.split(' ').collect();
    entries.sort_unstable();
    assert_eq!(entries, ["@+ann!ann@user/ann", "bob!bob@user/bob"]);
    let mut carl = Irc::register(addr, "carl");
    let names = join(&mut carl, "#c");
    assert!(
        names[1].starts_with(":irc.test 353 carl = #c :"),
        "{names:?}"
    );
    let mut entries: Vec<&str> = names[1]
        .split_once(" :")
        .expect("a 353")
        .1
        .split(' ')
        .collect();
    entries.sort_unstable();
    assert_eq!(entries, ["@ann", "bob", "carl"]);
    bob.send("NAMES #c");
    let names = bob.until(":irc.test 366 ");
    assert!(
        names
            .iter()
            .any(|l| l.starts_with(":irc.test 353 bob = #c :@+ann!ann@user/ann ")),
        "{names:?}"
    );
    bob.send("WHO ann");
    upto(
        &mut bob,
        " 352 bob * ann user/ann irc.test ann H :0 Ann",
        " 315 ",
    );
    bob.expect(":irc.test 315 bob ann :End of /WHO list");
    bob.send("WHO #c");
    let who = bob.until(":irc.test 315 ");
    assert!(
        who.contains(&":irc.test 352 bob #c ann user/ann irc.test ann H@+ :0 Ann".to_string()),
        "{who:?}"
    );
    carl.send("WHO #c");
    let who = carl.until(":irc.test 315 ");
    assert!(
        who.contains(&":irc.test 352 carl #c ann user/ann irc.test ann H@ :0 Ann".to_string()),
        "{who:?}"
    );
}

fn away_changes_reach_channel_peers_with_away_notify(b: Backend) {
    let (_s, addr) = irc_server(b);
    let mut ann = with_caps(addr, "ann", "Ann", "away-notify");
    let mut bob = Irc::register(addr, "bob");
    let mut carl = Irc::register(addr, "carl");
    join(&mut ann, "#c");
    join(&mut bob, "#c");
    join(&mut carl, "#c");
    ann.containing(":carl!carl@user/carl JOIN");
    bob.containing(":carl!carl@user/carl JOIN");
    carl.send("AWAY :lunch");
    upto(
        &mut carl,
        " 306 carl :You have been marked as being away",
        "AWAY",
    );
    upto(&mut ann, ":carl!carl@user/carl AWAY :lunch", "AWAY");
    carl.send("AWAY");
    carl.expect(":irc.test 305 carl :You are no longer marked as being away");
    ann.expect(":carl!carl@user/carl AWAY");
    carl.send("PRIVMSG #c :marker");
    ann.expect(":carl!carl@user/carl PRIVMSG #c :marker");
    upto(&mut bob, ":carl!carl@user/carl PRIVMSG #c :marker", "AWAY");
    // A user who joins while away is said to be away, after its JOIN.
    let mut dave = Irc::register(addr, "dave");
    dave.send("AWAY :gone");
    dave.expect(":irc.test 306 dave :You have been marked as being away");
    join(&mut dave, "#c");
    ann.expect(":dave!dave@user/dave JOIN #c");
    ann.expect(":dave!dave@user/dave AWAY :gone");
    dave.send("PRIVMSG #c :marker");
    upto(&mut bob, ":dave!dave@user/dave PRIVMSG #c :marker", "AWAY");
}

fn channel_members_with_invite_notify_see_invitations(b: Backend) {
    let (_s, addr) = irc_server(b);
    let mut ann = Irc::register(addr, "ann");
    let mut bob = with_caps(addr, "bob", "Bob", "invite-notify");
    let mut carl = Irc::register(addr, "carl");
    let mut dave = with_caps(addr, "dave", "Dave", "invite-notify");
    join(&mut ann, "#c");
    join(&mut bob, "#c");
    join(&mut carl, "#c");
    bob.containing(":carl!carl@user/carl JOIN");
    ann.containing(":carl!carl@user/carl JOIN");
    ann.send("INVITE dave #c");
    ann.expect(":irc.test 341 ann dave #c");
    dave.expect(":ann!ann@user/ann INVITE dave :#c");
    upto(&mut bob, ":ann!ann@user/ann INVITE dave #c", "INVITE");
    ann.send("PRIVMSG #c :marker");
    bob.expect(":ann!ann@user/ann PRIVMSG #c :marker");
    upto(&mut carl, ":ann!ann@user/ann PRIVMSG #c :marker", "INVITE");
}

fn setname_changes_the_realname_everyone_sees(b: Backend) {
    let (_s, addr) = irc_server(b);
    let mut ann = Irc::open(addr);
    ann.send("CAP LS 302");
    ann.line();
    ann.send("CAP REQ :setname");
    ann.expect(":irc.test CAP * ACK :setname");
    ann.send("NICK ann");
    ann.send("USER ann 0 * :Ann Original");
    ann.send("CAP END");
    let welcome = ann.until(":irc.test 422 ");
    assert!(welcome[4].contains(" NAMELEN=100 "), "{}", welcome[4]);
    let mut bob = with_caps(addr, "bob", "Bob", "setname");
    let mut carl = Irc::register(addr, "carl");
    join(&mut ann, "#c");
    join(&mut bob, "#c");
    join(&mut carl, "#c");
    ann.containing(":carl!carl@user/carl JOIN");
    bob.containing(":carl!carl@user/carl JOIN");
    carl.send("WHOIS ann");
    upto(
        &mut carl,
        " 311 carl ann ann user/ann * :Ann Original",
        "SETNAME",
    );
    carl.until(":irc.test 318 ");
    ann.send("SETNAME :Ann Renamed");
    ann.expect(":ann!ann@user/ann SETNAME :Ann Renamed");
    bob.expect(":ann!ann@user/ann SETNAME :Ann Renamed");
    ann.send("PRIVMSG #c :marker");
    bob.expect(":ann!ann@user/ann PRIVMSG #c :marker");
    upto(&mut carl, ":ann!ann@user/ann PRIVMSG #c :marker", "SETNAME");
    carl.send("WHOIS ann");
    carl.expect(":irc.test 311 carl ann ann user/ann * :Ann Renamed");
    carl.until(":irc.test 318 ");
    carl.send("WHO ann");
    carl.expect(":irc.test 352 carl * ann user/ann irc.test ann H :0 Ann Renamed");
    carl.until(":irc.test 315 ");
    ann.send(&format!("SETNAME :{}", "x".repeat(101)));
    ann.expect(":irc.test FAIL SETNAME INVALID_REALNAME :Realname is not valid");
    // Without the capability: applied, and answered by nothing.
    carl.send("SETNAME :Carl C");
    carl.send("PING :after");
    carl.expect(":irc.test PONG irc.test :after");
    bob.expect(":carl!carl@user/carl SETNAME :Carl C");
    carl.send(&format!("SETNAME :{}", "x".repeat(101)));
    carl.send("PING :again");
    carl.expect(":irc.test PONG irc.test :again");
}

fn labelled_commands_get_labelled_replies(b: Backend) {
    let (_s, addr) = irc_server(b);
    let mut ann = with_caps(addr, "ann", "Ann", "batch labeled-response echo-message");
    ann.send("@label=p1 PING :x");
    ann.expect("@label=p1 :irc.test PONG irc.test :x");
    ann.send("@label=a\\sb PONG :x");
    ann.expect("@label=a\\sb :irc.test ACK");
    ann.send("@label=w WHOIS ann");
    ann.expect("@label=w :irc.test BATCH +L1 labeled-response");
    ann.expect("@batch=L1 :irc.test 311 ann ann ann user/ann * :Ann");
    ann.expect("@batch=L1 :irc.test 312 ann ann irc.test :shardchat");
    assert!(ann.line().starts_with("@batch=L1 :irc.test 317 ann ann "));
    ann.expect("@batch=L1 :irc.test 318 ann ann :End of /WHOIS list");
    ann.expect(":irc.test BATCH -L1");
    join(&mut ann, "#c");
    // The echo of a labelled message carries the label.
    ann.send("@label=m PRIVMSG #c :hi");
    ann.expect("@label=m :ann!ann@user/ann PRIVMSG #c :hi");
    ann.send("@label=e JOIN #nope,#c");
    ann.expect("@label=e :irc.test BATCH +L2 labeled-response");
    ann.expect("@batch=L2 :ann!ann@user/ann JOIN #nope");
    // Labels need batch as well; without it they are ignored.
    let mut bob = with_caps(addr, "bob", "Bob", "labeled-response");
    bob.send("@label=p1 PING :y");
    bob.expect(":irc.test PONG irc.test :y");
    // And a client that did not ask for labels gets none.
    let mut carl = Irc::register(addr, "carl");
    carl.send("@label=p1 PING :z");
    carl.expect(":irc.test PONG irc.test :z");
}

fn client_tags_reach_only_those_that_read_tags(b: Backend) {
    let s_addr = irc_server(b);
    let (s, addr) = (&s_addr.0, s_addr.1);
    let (mut line, _guest) = s.connect();
    let mut ann = with_caps(addr, "ann", "Ann", "message-tags echo-message");
    let mut bob = with_caps(addr, "bob", "Bob", "message-tags");
    let mut carl = with_caps(addr, "carl", "Carl", "server-time");
    for c in [&mut ann, &mut bob, &mut carl] {
        join(c, "#lobby");
    }
    ann.containing(":carl!carl@user/carl JOIN");
    bob.containing(":carl!carl@user/carl JOIN");
    line.read_until("* carl joined #lobby");
    ann.send("@+typing=active;+draft/reply=x\\sy;label=z;msgid=forged TAGMSG #lobby");
    let echo = ann.line();
    assert_eq!(
        untimed(&echo),
        "+typing=active;+draft/reply=x\\sy :ann!ann@user/ann TAGMSG #lobby"
    );
    let got = bob.containing(" TAGMSG #lobby");
    assert_eq!(got, echo, "the same tags and msgid for everyone");
    ann.send("@+draft/reply=1 PRIVMSG #lobby :hello");
    ann.line();
    assert_eq!(
        untimed(&bob.line()),
        "+draft/reply=1 :ann!ann@user/ann PRIVMSG #lobby :hello"
    );
    // No TAGMSG and no client tags for carl (no message-tags) nor the
    // line client: the message is the next thing they read.
    let hello = loop {
        let l = carl.line();
        assert!(!l.contains("TAGMSG"), "{l}");
        if l.contains("PRIVMSG #lobby :hello") {
            break l;
        }
    };
    assert!(hello.starts_with("@time="), "{hello}");
    assert!(
        hello.ends_with(" :ann!ann@user/ann PRIVMSG #lobby :hello"),
        "{hello}"
    );
    assert!(!hello.contains("reply"), "{hello}");
    let before = line.read_until("[ann] hello");
    assert!(
        before.iter().all(|l| l.contains(" joined #lobby")),
        "{before:?}"
    );
    // Private TAGMSG.
    ann.send("@+typing=paused TAGMSG bob");
    ann.line();
    assert_eq!(
        untimed(&bob.line()),
        "+typing=paused :ann!ann@user/ann TAGMSG bob"
    );
    ann.send("@+typing=paused TAGMSG carl");
    ann.line();
    ann.send("PRIVMSG carl :marker");
    ann.line();
    assert!(carl
        .line()
        .ends_with(":ann!ann@user/ann PRIVMSG carl :marker"));
    // Tags over 4,094 bytes are refused.
    ann.send(&format!("@+x={} TAGMSG #lobby", "a".repeat(4092)));
    ann.expect(":irc.test 417 ann :Input line was too long");
    ann.send(&format!("@+x={} TAGMSG #lobby", "a".repeat(4091)));
    assert!(ann.line().contains(" TAGMSG #lobby"));
}

both_backends!(
    negotiation_follows_cap_302,
    names_and_who_show_every_prefix_and_host_to_those_who_ask,
    away_changes_reach_channel_peers_with_away_notify,
    channel_members_with_invite_notify_see_invitations,
    setname_changes_the_realname_everyone_sees,
    labelled_commands_get_labelled_replies,
    client_tags_reach_only_those_that_read_tags,
);
