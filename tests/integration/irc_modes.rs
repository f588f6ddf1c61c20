//! Channel modes over real sockets: keys, limits, invitations, outside
//! messages and secret rooms, MODE with parameters, the ISUPPORT tokens
//! that describe them, and the errors a client can meet on the way, with
//! line-protocol clients in the same rooms.

use crate::irc::{irc_server, Irc};
use crate::util::Backend;

/// Joins `room` and reads through the end of its NAMES.
fn join(c: &mut Irc, room: &str) {
    c.send(&format!("JOIN {room}"));
    c.until(":irc.test 366 ");
}

fn isupport_describes_the_modes(b: Backend) {
    let (_s, addr) = irc_server(b);
    let mut c = Irc::open(addr);
    c.send("NICK ann");
    c.send("USER ann 0 * :Ann");
    let welcome = c.until(":irc.test 422 ");
    let isupport: Vec<&String> = welcome
        .iter()
        .filter(|l| l.starts_with(":irc.test 005 "))
        .collect();
    assert_eq!(isupport.len(), 2, "{welcome:?}");
    // `:irc.test 005 ann <tokens> :are supported by this server`
    let mut tokens: Vec<&str> = Vec::new();
    for line in &isupport {
        let these: Vec<&str> = line
            .split(' ')
            .skip(3)
            .take_while(|t| !t.starts_with(':'))
            .collect();
        // At most 13 tokens in one 005 (modern IRC).
        assert!(these.len() <= 13, "{line}");
        assert!(line.ends_with(" :are supported by this server"), "{line}");
        tokens.extend(these);
    }
    for want in [
        "CHANMODES=b,k,l,imnst",
        "MODES=4",
        "CHANLIMIT=#:50",
        "KICKLEN=390",
        "KEYLEN=32",
        "NAMELEN=100",
        "PREFIX=(ov)@+",
        "NETWORK=TestNet",
    ] {
        assert!(tokens.contains(&want), "{want} in {tokens:?}");
    }
}

fn keys_limits_and_invitations(b: Backend) {
    let (s, addr) = irc_server(b);
    let (mut line, guest) = s.connect();
    let mut ann = Irc::register(addr, "ann");
    let mut bob = Irc::register(addr, "bob");
    let mut cat = Irc::register(addr, "cat");
    join(&mut ann, "#den");
    ann.send("MODE #den +kl secret 2");
    ann.expect(":ann!ann@user/ann MODE #den +kl secret 2");
    ann.send("MODE #den");
    ann.expect(":irc.test 324 ann #den +klnt secret 2");
    assert!(ann.line().starts_with(":irc.test 329 ann #den "));
    // The key is the members' to see.
    bob.send("MODE #den");
    bob.expect(":irc.test 324 bob #den +klnt * 2");
    bob.containing(" 329 ");

    bob.send("JOIN #den");
    bob.expect(":irc.test 475 bob #den :Cannot join channel (+k)");
    bob.send("JOIN #den wrong");
    bob.expect(":irc.test 475 bob #den :Cannot join channel (+k)");
    // Keys go with the rooms in the same place of the list.
    bob.send("JOIN #other,#den x,secret");
    bob.expect(":bob!bob@user/bob JOIN #other");
    bob.until(":irc.test 366 bob #other ");
    bob.expect(":bob!bob@user/bob JOIN #den");
    bob.expect(":irc.test 353 bob = #den :@ann bob");
    bob.expect(":irc.test 366 bob #den :End of /NAMES list");
    ann.expect(":bob!bob@user/bob JOIN #den");

    // Two members, a limit of two: full, for either protocol.
    cat.send("JOIN #den secret");
    cat.expect(":irc.test 471 cat #den :Cannot join channel (+l)");
    line.send("/join #den");
    line.expect("! #den needs its key: /join #den <key>");
    line.send("/join #den secret");
    line.expect("! #den is full");

    // Invite only; only operators invite.
    ann.send("MODE #den -l+i");
    ann.expect(":ann!ann@user/ann MODE #den -l+i");
    bob.expect(":ann!ann@user/ann MODE #den -l+i");
    cat.send("JOIN #den secret");
    cat.expect(":irc.test 473 cat #den :Cannot join channel (+i)");
    line.send("/join #den secret");
    line.expect("! #den is invite only: an operator must invite you");
    bob.send("INVITE cat #den");
    bob.expect(":irc.test 482 bob #den :You're not channel operator");

    // An invitation lets its nick in once, past the key too.
    ann.send(&format!("INVITE {guest} #den"));
    ann.expect(&format!(":irc.test 341 ann {guest} #den"));
    line.expect("* ann invites you to #den");
    line.send("/join #den");
    line.expect("* you joined #den (3 users)");
    ann.expect(&format!(":{guest}!{guest}@user/{guest} JOIN #den"));
    bob.expect(&format!(":{guest}!{guest}@user/{guest} JOIN #den"));
    line.send("/join #lobby");
    line.expect("* you joined #lobby (1 users)");
    ann.expect(&format!(":{guest}!{guest}@user/{guest} PART #den"));
    bob.expect(&format!(":{guest}!{guest}@user/{guest} PART #den"));
    line.send("/join #den secret");
    line.expect("! #den is invite only: an operator must invite you");
    ann.send("INVITE cat #den");
    ann.expect(":irc.test 341 ann cat #den");
    cat.expect(":ann!ann@user/ann INVITE cat :#den");
    cat.send("JOIN #den");
    cat.expect(":cat!cat@user/cat JOIN #den");
    cat.until(":irc.test 366 ");
    ann.expect(":cat!cat@user/cat JOIN #den");

    // -k takes any parameter and shows `*`.
    ann.send("MODE #den -k *");
    ann.expect(":ann!ann@user/ann MODE #den -k *");
    cat.expect(":ann!ann@user/ann MODE #den -k *");
    ann.send("MODE #den");
    ann.expect(":irc.test 324 ann #den +int");
    ann.containing(" 329 ");
}

fn bad_parameters_change_nothing(b: Backend) {
    let (s, addr) = irc_server(b);
    let mut ann = Irc::register(addr, "ann");
    join(&mut ann, "#den");
    ann.send("MODE #den +ml many");
    ann.expect(":irc.test 696 ann #den l many :a limit is a number from 1 to 1000000");
    ann.send("MODE #den +k a,b");
    ann.expect(":irc.test 696 ann #den k a,b :a key is 1-32 printable characters without a comma");
    // +k and +l without their parameter are ignored, silently.
    ann.send("MODE #den +k");
    ann.send("MODE #den +sl");
    ann.expect(":ann!ann@user/ann MODE #den +s");
    ann.send("MODE #den");
    ann.expect(":irc.test 324 ann #den +nst");
    ann.containing(" 329 ");
    // At most MODES=4 variable modes are taken from one change.
    ann.send("MODE #den +bbbbb a!*@* b!*@* c!*@* d!*@* e!*@*");
    ann.expect(":ann!ann@user/ann MODE #den +bbbb a!*@* b!*@* c!*@* d!*@*");
    ann.send("MODE #den +x");
    ann.expect(":irc.test 472 ann x :is unknown mode char to me");

    // The line protocol's /mode has the new letters, and says why not.
    let (mut line, _) = s.connect();
    line.send("/join #nook");
    line.expect("* you joined #nook (1 users)");
    line.send("/mode #nook +kl pw 5");
    line.expect("* you set mode +kl pw 5 on #nook");
    line.send("/mode #nook");
    line.expect("* modes of #nook: +klnt pw 5");
    line.send("/mode #nook +l 0");
    line.expect("! invalid parameter for +l: 0 (a limit is a number from 1 to 1000000)");
    line.send("/mode #nook -k+l");
    line.expect("* you set mode -k * on #nook");
    line.expect("! mode +l needs a parameter");
    line.send("/mode #nook +is-l");
    line.expect("* you set mode +is-l on #nook");
    line.send("/mode #nook");
    line.expect("* modes of #nook: +inst");
    let (mut other, _) = s.connect();
    other.send("/join #nook");
    other.expect("! #nook is invite only: an operator must invite you");
    ann.send("JOIN #nook");
    ann.expect(":irc.test 473 ann #nook :Cannot join channel (+i)");
    // A room without a key ignores one given.
    other.send("/join #free anykey");
    other.expect("* you joined #free (1 users)");
}

fn outside_messages_and_secret_rooms(b: Backend) {
    let (s, addr) = irc_server(b);
    let (mut line, guest) = s.connect();
    let mut ann = Irc::register(addr, "ann");
    let mut bob = Irc::register(addr, "bob");
    join(&mut ann, "#den");
    line.send("/join #den");
    line.expect("* you joined #den (2 users)");
    ann.expect(&format!(":{guest}!{guest}@user/{guest} JOIN #den"));

    // +n, as new rooms are: only members send to the room.
    bob.send("PRIVMSG #den :from outside");
    bob.expect(":irc.test 404 bob #den :Cannot send to channel");
    ann.send("MODE #den -n");
    ann.expect(":ann!ann@user/ann MODE #den -n");
    line.expect("* ann set mode -n on #den");
    bob.send("PRIVMSG #den :from outside");
    ann.expect(":bob!bob@user/bob PRIVMSG #den :from outside");
    line.expect("[bob] from outside");
    // Outsiders have no voice in a moderated room, nor the banned.
    ann.send("MODE #den +b bob!*@*");
    ann.expect(":ann!ann@user/ann MODE #den +b bob!*@*");
    line.expect("* ann set mode +b bob!*@* on #den");
    bob.send("PRIVMSG #den :banned now");
    bob.expect(":irc.test 404 bob #den :Cannot send to channel");
    // A notice is never answered with an error: dropped, silently.
    bob.send("NOTICE #den :banned now");
    bob.send("NOTICE #nowhere :no one");
    bob.send("PING :after");
    bob.expect(":irc.test PONG irc.test :after");

    // +s: members see the room as secret, others do not see it at all.
    ann.send("MODE #den +s");
    ann.expect(":ann!ann@user/ann MODE #den +s");
    line.expect("* ann set mode +s on #den");
    ann.send("NAMES #den");
    ann.expect(&format!(":irc.test 353 ann @ #den :@ann {guest}"));
    ann.expect(":irc.test 366 ann #den :End of /NAMES list");
    bob.send("NAMES #den");
    bob.expect(":irc.test 366 bob #den :End of /NAMES list");
    bob.send("WHO #den");
    bob.expect(":irc.test 315 bob #den :End of /WHO list");
    bob.send("LIST");
    bob.expect(":irc.test 321 bob Channel :Users  Name");
    bob.expect(":irc.test 323 bob :End of /LIST");
    ann.send("LIST");
    ann.expect(":irc.test 321 ann Channel :Users  Name");
    ann.expect(":irc.test 322 ann #den 2 :");
    ann.expect(":irc.test 323 ann :End of /LIST");
    line.send("/rooms");
    line.expect("* 1 rooms: #den (2)");
    let (mut other, _) = s.connect();
    other.send("/rooms");
    other.expect("* 1 rooms: #lobby (1)");
}

fn errors_of_joins_and_user_modes(b: Backend) {
    let (_s, addr) = irc_server(b);
    let mut ann = Irc::register(addr, "ann");
    let mut bob = Irc::register(addr, "bob");
    ann.send("JOIN #bad!name");
    ann.expect(":irc.test 476 ann #bad!name :Bad Channel Mask");
    ann.send("JOIN nohash");
    ann.expect(":irc.test 476 ann nohash :Bad Channel Mask");
    ann.send("MODE bob");
    ann.expect(":irc.test 502 ann :Cant change mode for other users");
    ann.send("MODE nobody");
    ann.expect(":irc.test 401 ann nobody :No such nick/channel");
    ann.send("MODE ANN");
    ann.expect(":irc.test 221 ann +");
    ann.send("MODE");
    ann.expect(":irc.test 461 ann MODE :Not enough parameters");

    // CHANLIMIT=#:50: the 51st room is refused.
    let rooms: Vec<String> = (0..51).map(|i| format!("#r{i}")).collect();
    ann.send(&format!("JOIN {}", rooms.join(",")));
    for room in &rooms[..50] {
        ann.expect(&format!(":ann!ann@user/ann JOIN {room}"));
        ann.until(":irc.test 366 ");
    }
    ann.expect(":irc.test 405 ann #r50 :You have joined too many channels");

    // KICKLEN=390: longer reasons are cut.
    join(&mut bob, "#r0");
    ann.expect(":bob!bob@user/bob JOIN #r0");
    let long = "x".repeat(450);
    ann.send(&format!("KICK #r0 bob :{long}"));
    let cut = &long[..390];
    ann.expect(&format!(":ann!ann@user/ann KICK #r0 bob :{cut}"));
    bob.expect(&format!(":ann!ann@user/ann KICK #r0 bob :{cut}"));
}

both_backends!(
    isupport_describes_the_modes,
    keys_limits_and_invitations,
    bad_parameters_change_nothing,
    outside_messages_and_secret_rooms,
    errors_of_joins_and_user_modes,
);
