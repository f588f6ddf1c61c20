//! IRC channels over real sockets: topics, operators and modes, bans,
//! kicks, invitations and the notice limit, with line-protocol clients in
//! the same rooms.

use crate::irc::{irc_server, irc_server_with, Irc};
use crate::util::Backend;

fn topics_are_shared_and_shown_on_join(b: Backend) {
    let (s, addr) = irc_server(b);
    let (mut line, guest) = s.connect();
    line.send("/topic");
    line.expect("* no topic is set for #lobby");
    let mut irc = Irc::register(addr, "ann");
    irc.send("JOIN #lobby");
    irc.expect(":ann!ann@user/ann JOIN #lobby");
    irc.until(":irc.test 366 ");
    line.expect("* ann joined #lobby");
    irc.send("TOPIC #lobby");
    irc.expect(":irc.test 331 ann #lobby :No topic is set");

    line.send("/topic Rust 2027, all welcome");
    line.expect("* you set the topic of #lobby: Rust 2027, all welcome");
    irc.expect(&format!(
        ":{guest}!{guest}@user/{guest} TOPIC #lobby :Rust 2027, all welcome"
    ));
    irc.send("TOPIC #lobby");
    irc.expect(":irc.test 332 ann #lobby :Rust 2027, all welcome");
    let who = irc.line();
    assert!(
        who.starts_with(&format!(":irc.test 333 ann #lobby {guest} ")),
        "{who}"
    );

    // New rooms are +t: the lobby's operator (the line client, there
    // first) opens the topic to everyone.
    line.send("/mode #lobby -t");
    line.expect("* you set mode -t on #lobby");
    irc.expect(&format!(":{guest}!{guest}@user/{guest} MODE #lobby -t"));
    irc.send("TOPIC #lobby :now from irc");
    irc.expect(":ann!ann@user/ann TOPIC #lobby :now from irc");
    line.expect("* ann set the topic of #lobby: now from irc");
    line.send("/topic");
    line.expect("* topic of #lobby: now from irc (set by ann)");

    // Joining shows it, on either side.
    let (mut late, _) = s.connect();
    late.expect("* topic of #lobby: now from irc (set by ann)");
    let mut bob = Irc::register(addr, "bob");
    bob.send("JOIN #lobby");
    bob.expect(":bob!bob@user/bob JOIN #lobby");
    bob.expect(":irc.test 332 bob #lobby :now from irc");
    assert!(bob.line().starts_with(":irc.test 333 bob #lobby ann "));
    irc.send("TOPIC #elsewhere :x");
    // (After the joins of the late line client and bob.)
    assert_eq!(
        irc.containing(" 442 "),
        ":irc.test 442 ann #elsewhere :You're not on that channel"
    );
}

fn operators_moderate_and_ban(b: Backend) {
    let (s, addr) = irc_server(b);
    let mut ann = Irc::register(addr, "ann");
    ann.send("JOIN #den");
    ann.expect(":ann!ann@user/ann JOIN #den");
    ann.expect(":irc.test 353 ann = #den :@ann");
    ann.until(":irc.test 366 ");
    let mut bob = Irc::register(addr, "bob");
    bob.send("JOIN #den");
    bob.until(":irc.test 366 ");
    ann.expect(":bob!bob@user/bob JOIN #den");
    let (mut line, guest) = s.connect();
    line.send("/join #den");
    line.expect("* you joined #den (3 users)");
    ann.containing(" JOIN #den");
    bob.containing(" JOIN #den");

    // Only operators change modes.
    bob.send("MODE #den +m");
    bob.expect(":irc.test 482 bob #den :You're not channel operator");
    ann.send("MODE #den +x");
    ann.expect(":irc.test 472 ann x :is unknown mode char to me");
    ann.send("MODE #den +o nobody");
    ann.expect(":irc.test 441 ann nobody #den :They aren't on that channel");
    // +m: only operators and voiced members speak, on either protocol.
    ann.send("MODE #den +mv bob");
    ann.expect(":ann!ann@user/ann MODE #den +mv bob");
    bob.expect(":ann!ann@user/ann MODE #den +mv bob");
    line.expect("* ann set mode +mv bob on #den");
    line.send("quiet please?");
    line.expect("! #den is moderated: only voiced users may speak");
    bob.send("PRIVMSG #den :voiced");
    ann.expect(":bob!bob@user/bob PRIVMSG #den :voiced");
    line.expect("[bob] voiced");
    ann.send("MODE #den");
    ann.expect(":irc.test 324 ann #den +mnt");
    ann.containing(" 329 ");
    ann.send("NAMES #den");
    ann.expect(&format!(":irc.test 353 ann = #den :@ann +bob {guest}"));
    ann.until(":irc.test 366 ");
    // +t (new rooms have it): the topic is the operators'.
    ann.send("MODE #den -m+t");
    ann.expect(":ann!ann@user/ann MODE #den -m");
    line.expect("* ann set mode -m on #den");
    line.send("/topic mine");
    line.expect("! you are not an operator of #den");
    line.send("/mode #den +o ann");
    line.expect("! you are not an operator of #den");
    line.send("/mode #den");
    line.expect("* modes of #den: +nt");
    // +b keeps the banned out, line clients too.
    ann.send(&format!("MODE #den +b {guest}!*@*"));
    ann.expect(&format!(":ann!ann@user/ann MODE #den +b {guest}!*@*"));
    line.expect(&format!("* ann set mode +b {guest}!*@* on #den"));
    line.send("/join #lobby");
    line.expect("* you joined #lobby (1 users)");
    line.send("/join #den");
    line.expect("! banned from #den");
    ann.send("MODE #den b");
    // (After the line client's leaving #den.)
    let ban = ann.containing(" 367 ");
    assert!(
        ban.starts_with(&format!(":irc.test 367 ann #den {guest}!*@* ann ")),
        "{ban}"
    );
    ann.expect(":irc.test 368 ann #den :End of channel ban list");
    // A rename keeps the status; leaving drops it.
    bob.send("NICK robert");
    ann.expect(":bob!bob@user/bob NICK :robert");
    ann.send("NAMES #den");
    ann.expect(":irc.test 353 ann = #den :@ann +robert");
    ann.until(":irc.test 366 ");
}

fn invitations_reach_either_protocol(b: Backend) {
    let (s, addr) = irc_server(b);
    let (mut line, guest) = s.connect();
    let mut ann = Irc::register(addr, "ann");
    let mut bob = Irc::register(addr, "bob");
    ann.send("JOIN #den");
    ann.until(":irc.test 366 ");
    ann.send("INVITE bob #den");
    ann.expect(":irc.test 341 ann bob #den");
    bob.expect(":ann!ann@user/ann INVITE bob :#den");
    ann.send(&format!("INVITE {guest} #den"));
    ann.expect(&format!(":irc.test 341 ann {guest} #den"));
    line.expect("* ann invites you to #den");
    bob.send("JOIN #den");
    bob.until(":irc.test 366 ");
    ann.expect(":bob!bob@user/bob JOIN #den");
    ann.send("INVITE bob #den");
    ann.expect(":irc.test 443 ann bob #den :is already on channel");
    ann.send("INVITE nobody #den");
    ann.expect(":irc.test 401 ann nobody :No such nick/channel");
    ann.send("INVITE bob #elsewhere");
    ann.expect(":irc.test 442 ann #elsewhere :You're not on that channel");
    ann.send("INVITE bob");
    ann.expect(":irc.test 461 ann INVITE :Not enough parameters");
}

fn operators_kick_users_of_either_protocol(b: Backend) {
    let (s, addr) = irc_server_with(b, &["--threads", "2"]);
    let mut ann = Irc::register(addr, "ann");
    ann.send("JOIN #den");
    ann.until(":irc.test 366 ");
    let mut bob = Irc::register(addr, "bob");
    bob.send("JOIN #den");
    bob.until(":irc.test 366 ");
    ann.expect(":bob!bob@user/bob JOIN #den");
    let (mut line, guest) = s.connect();
    line.send("/join #den");
    line.expect("* you joined #den (3 users)");
    ann.containing(" JOIN #den");
    bob.containing(" JOIN #den");

    bob.send("KICK #den ann");
    bob.expect(":irc.test 482 bob #den :You're not channel operator");
    line.send("/kick ann");
    line.expect("! you are not an operator of #den");
    ann.send("KICK #den nobody");
    ann.expect(":irc.test 401 ann nobody :No such nick/channel");
    ann.send("KICK #den");
    ann.expect(":irc.test 461 ann KICK :Not enough parameters");

    ann.send("KICK #den bob :take a break");
    ann.expect(":ann!ann@user/ann KICK #den bob :take a break");
    bob.expect(":ann!ann@user/ann KICK #den bob :take a break");
    line.expect("* ann removed bob from #den (take a break)");
    bob.send("PRIVMSG #den :still here?");
    bob.expect(":irc.test 404 bob #den :Cannot send to channel");
    ann.send("KICK #den bob");
    ann.expect(":irc.test 441 ann bob #den :They aren't on that channel");

    // A kicked line client goes back to the lobby.
    ann.send(&format!("KICK #den {guest}"));
    ann.expect(&format!(":ann!ann@user/ann KICK #den {guest} :{guest}"));
    line.expect(&format!("* ann removed {guest} from #den"));
    line.expect("* you joined #lobby (1 users)");
    ann.send("NAMES #den");
    ann.expect(":irc.test 353 ann = #den :@ann");
}

fn the_notice_limit_applies_to_irc_too(b: Backend) {
    // Announced while at most 1 other member would be told.
    let (_s, addr) = irc_server_with(b, &["--notice-limit", "1"]);
    let mut ann = Irc::register(addr, "ann");
    let mut bob = Irc::register(addr, "bob");
    let mut cat = Irc::register(addr, "cat");
    ann.send("JOIN #big");
    ann.until(":irc.test 366 ");
    bob.send("JOIN #big");
    bob.until(":irc.test 366 ");
    ann.expect(":bob!bob@user/bob JOIN #big");
    cat.send("JOIN #big");
    // Cat's own JOIN and an exact NAMES, but no one is told.
    cat.expect(":cat!cat@user/cat JOIN #big");
    cat.expect(":irc.test 353 cat = #big :@ann bob cat");
    cat.expect(":irc.test 366 cat #big :End of /NAMES list");
    cat.send("PRIVMSG #big :hi");
    ann.expect(":cat!cat@user/cat PRIVMSG #big :hi");
    bob.expect(":cat!cat@user/cat PRIVMSG #big :hi");
    ann.send("NAMES #big");
    ann.expect(":irc.test 353 ann = #big :@ann bob cat");
}

both_backends!(
    topics_are_shared_and_shown_on_join,
    operators_moderate_and_ban,
    invitations_reach_either_protocol,
    operators_kick_users_of_either_protocol,
    the_notice_limit_applies_to_irc_too,
);
