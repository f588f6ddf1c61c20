//! IRC over real sockets: registration, the commands mapped so far, their
//! numerics, and IRC and line-protocol clients in the same rooms, each
//! seeing the other in its own form.

use std::net::SocketAddr;

use crate::util::{server, Backend, Conn, TestServer};

/// An IRC client: sends CR LF lines, reads lines that must end in CR LF.
pub(crate) struct Irc(pub(crate) Conn);

impl Irc {
    pub(crate) fn open(addr: SocketAddr) -> Irc {
        Irc(Conn::open(addr))
    }

    pub(crate) fn send(&mut self, line: &str) {
        self.0.send_raw(format!("{line}\r\n").as_bytes());
    }

    pub(crate) fn line(&mut self) -> String {
        let line = self.0.line();
        line.strip_suffix('\r')
            .unwrap_or_else(|| panic!("IRC lines end with CR LF: {line:?}"))
            .to_string()
    }

    pub(crate) fn expect(&mut self, want: &str) {
        assert_eq!(self.line(), want);
    }

    /// Reads up to and including the line starting with `prefix`.
    pub(crate) fn until(&mut self, prefix: &str) -> Vec<String> {
        let mut seen = Vec::new();
        loop {
            let l = self.line();
            let done = l.starts_with(prefix);
            seen.push(l);
            if done {
                return seen;
            }
        }
    }

    /// Reads up to the first line containing `text`, and returns it.
    pub(crate) fn containing(&mut self, text: &str) -> String {
        loop {
            let l = self.line();
            if l.contains(text) {
                return l;
            }
        }
    }

    /// Registers as `nick` and reads the welcome through the MOTD (or 422).
    pub(crate) fn register(addr: SocketAddr, nick: &str) -> Irc {
        let mut c = Irc::open(addr);
        c.send(&format!("NICK {nick}"));
        c.send(&format!("USER {nick} 0 * :{nick}"));
        // The welcome ends with the MOTD, or 422 without one.
        let mut welcome = Vec::new();
        loop {
            let l = c.line();
            let done = l.starts_with(":irc.test 422 ") || l.starts_with(":irc.test 376 ");
            welcome.push(l);
            if done {
                break;
            }
        }
        assert_eq!(
            welcome[0],
            format!(":irc.test 001 {nick} :Welcome to the TestNet IRC Network, {nick}")
        );
        c
    }
}

pub(crate) fn irc_server(b: Backend) -> (TestServer, SocketAddr) {
    irc_server_with(b, &[])
}

pub(crate) fn irc_server_with(b: Backend, extra: &[&str]) -> (TestServer, SocketAddr) {
    let mut args = vec![
        "--irc-port",
        "0",
        "--server-name",
        "irc.test",
        "--network",
        "TestNet",
    ];
    if !extra.contains(&"--notice-limit") {
        args.extend_from_slice(&["--notice-limit", "100"]);
    }
    args.extend_from_slice(extra);
    let s = server(b, &args);
    let line = s.wait_log("[CHAT SERVER] IRC on ");
    let addr = line
        .strip_prefix("[CHAT SERVER] IRC on ")
        .and_then(|r| r.split(' ').next())
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("IRC line: {line:?}"));
    (s, addr)
}

fn registration_and_its_numerics(b: Backend) {
    let (_s, addr) = irc_server(b);
    let mut c = Irc::open(addr);
    c.send("JOIN #a");
    c.expect(":irc.test 451 * :You have not registered");
    c.send("PING :t1");
    c.expect(":irc.test PONG irc.test :t1");
    c.send("CAP LS 302");
    c.expect(":irc.test CAP * LS :account-tag away-notify batch cap-notify draft/account-registration draft/chathistory draft/event-playback echo-message extended-join invite-notify labeled-response message-tags multi-prefix sasl=PLAIN server-time setname userhost-in-names");
    c.send("NICK ann");
    c.send("USER ann 0 * :Ann");
    c.send("CAP REQ :multi-prefix frobnicate");
    c.expect(":irc.test CAP * NAK :multi-prefix frobnicate");
    c.send("CAP END");
    let welcome = c.until(":irc.test 422 ");
    let codes: Vec<&str> = welcome
        .iter()
        .map(|l| l.split(' ').nth(1).unwrap_or(""))
        .collect();
    // Registration ends with LUSERS (251 254 255 265 266: no operators
    // or unregistered connections here) and the MOTD (422: none).
    assert_eq!(
        codes,
        ["001", "002", "003", "004", "005", "005", "251", "254", "255", "265", "266", "422"]
    );
    assert!(welcome[4].contains(" CASEMAPPING=ascii "), "{}", welcome[4]);
    assert!(welcome[5].contains(" NETWORK=TestNet "), "{}", welcome[5]);
    c.send("USER ann 0 * :Ann");
    c.expect(":irc.test 462 ann :You may not reregister");

    // A second client asking for the same nick is refused until it picks
    // another.
    let mut d = Irc::open(addr);
    d.send("NICK ANN");
    d.send("USER x 0 * :X");
    d.expect(":irc.test 433 * ANN :Nickname is already in use");
    d.send("NICK bad!nick");
    d.expect(":irc.test 432 * * :Erroneous nickname");
    d.send("NICK bob");
    d.until(":irc.test 422 bob ");
}

fn errors_a_client_can_trigger(b: Backend) {
    let (_s, addr) = irc_server(b);
    let mut c = Irc::register(addr, "ann");
    // In no channel yet: lists and lookups still answer.
    c.send("LIST");
    c.expect(":irc.test 321 ann Channel :Users  Name");
    c.expect(":irc.test 323 ann :End of /LIST");
    c.send("WHO *");
    c.expect(":irc.test 352 ann * ann user/ann irc.test ann H :0 ann");
    c.expect(":irc.test 315 ann * :End of /WHO list");
    c.send("FROB x");
    c.expect(":irc.test 421 ann FROB :Unknown command");
    c.send("PRIVMSG");
    c.expect(":irc.test 411 ann :No recipient given (PRIVMSG)");
    c.send("PRIVMSG #a");
    c.expect(":irc.test 412 ann :No text to send");
    c.send("PRIVMSG #nowhere :hi");
    c.expect(":irc.test 442 ann #nowhere :You're not on that channel");
    c.send("PART #nowhere");
    c.expect(":irc.test 442 ann #nowhere :You're not on that channel");
    c.send("PRIVMSG nobody :hi");
    c.expect(":irc.test 401 ann nobody :No such nick/channel");
    c.send("JOIN");
    c.expect(":irc.test 461 ann JOIN :Not enough parameters");
    c.send(&format!("PRIVMSG #a :{}", "x".repeat(520)));
    c.expect(":irc.test 417 ann :Input line was too long");
    c.send("NICK ann2");
    c.expect(":ann!ann@user/ann NICK :ann2");
    c.send("PING :still-here");
    c.expect(":irc.test PONG irc.test :still-here");
}

fn irc_and_line_clients_share_a_room(b: Backend) {
    let (s, addr) = irc_server(b);
    let (mut line, guest) = s.connect();
    let mut irc = Irc::register(addr, "ann");

    irc.send("JOIN #lobby");
    irc.expect(":ann!ann@user/ann JOIN #lobby");
    let names = irc.until(":irc.test 366 ");
    assert_eq!(
        names,
        [
            format!(":irc.test 353 ann = #lobby :ann @{guest}"),
            ":irc.test 366 ann #lobby :End of /NAMES list".to_string(),
        ]
    );
    line.expect("* ann joined #lobby");

    line.send("hello from nc");
    irc.expect(&format!(
        ":{guest}!{guest}@user/{guest} PRIVMSG #lobby :hello from nc"
    ));
    irc.send("PRIVMSG #lobby :hello from irc");
    line.expect("[ann] hello from irc");
    irc.send("PRIVMSG #lobby :\u{1}ACTION waves\u{1}");
    line.expect("* ann waves");
    line.send("/me nods");
    irc.expect(&format!(
        ":{guest}!{guest}@user/{guest} PRIVMSG #lobby :\u{1}ACTION nods\u{1}"
    ));

    // Private messages both ways; IRC senders see no echo.
    irc.send(&format!("PRIVMSG {guest} :psst"));
    line.expect(&format!("[ann -> {guest}] psst"));
    line.send("/msg ann yo");
    line.expect(&format!("[{guest} -> ann] yo"));
    irc.expect(&format!(":{guest}!{guest}@user/{guest} PRIVMSG ann :yo"));

    // A line client's /list shows the IRC user; the IRC client's NAMES
    // shows the line user.
    line.send("/list");
    line.expect(&format!("* 2 users in #lobby: ann, {guest}"));
    irc.send("NAMES #lobby");
    irc.expect(&format!(":irc.test 353 ann = #lobby :ann @{guest}"));
    irc.expect(":irc.test 366 ann #lobby :End of /NAMES list");

    // Nothing an IRC client sends breaks the line for others.
    irc.send("PRIVMSG #lobby :a\rQUIT :x");
    line.expect("[ann] aQUIT :x");

    // Nick changes, parts and quits, each in its own form.
    irc.send("NICK anna");
    irc.expect(":ann!ann@user/ann NICK :anna");
    line.expect("* ann is now anna");
    line.send("/nick zed");
    line.expect("* you are now zed");
    irc.expect(&format!(":{guest}!{guest}@user/{guest} NICK :zed"));
    irc.send("PART #lobby :bye for now");
    irc.expect(":anna!anna@user/anna PART #lobby :bye for now");
    line.expect("* anna left #lobby (bye for now)");
    irc.send("JOIN #lobby,#rust");
    irc.until(":irc.test 366 anna #lobby ");
    irc.expect(":anna!anna@user/anna JOIN #rust");
    irc.until(":irc.test 366 anna #rust ");
    line.expect("* anna joined #lobby");
    line.send("/join #rust");
    line.expect("* you joined #rust (2 users)");
    irc.expect(":zed!zed@user/zed PART #lobby");
    irc.expect(":zed!zed@user/zed JOIN #rust");
    // JOIN 0 leaves every channel.
    irc.send("JOIN 0");
    let parts = [irc.line(), irc.line()];
    assert!(
        parts.contains(&":anna!anna@user/anna PART #rust".to_string()),
        "{parts:?}"
    );
    assert!(
        parts.contains(&":anna!anna@user/anna PART #lobby".to_string()),
        "{parts:?}"
    );
    line.expect("* anna left #rust");
    irc.send("JOIN #rust");
    irc.until(":irc.test 366 ");
    line.expect("* anna joined #rust");
    irc.send("QUIT :gone");
    irc.expect("ERROR :Closing link (Quit)");
    line.expect("* anna left #rust (gone)");
}

fn list_shows_the_rooms(b: Backend) {
    let (s, addr) = irc_server(b);
    let (_line, _) = s.connect();
    let mut irc = Irc::register(addr, "ann");
    irc.send("JOIN #rust");
    irc.until(":irc.test 366 ");
    irc.send("LIST");
    irc.expect(":irc.test 321 ann Channel :Users  Name");
    irc.expect(":irc.test 322 ann #lobby 1 :");
    irc.expect(":irc.test 322 ann #rust 1 :");
    irc.expect(":irc.test 323 ann :End of /LIST");
}

fn quiet_and_unregistered_clients_are_closed(b: Backend) {
    let (s, addr) = irc_server_with(
        b,
        &[
            "--ping-interval",
            "1s",
            "--ping-timeout",
            "1s",
            "--registration-timeout",
            "1s",
        ],
    );
    // Never registers.
    let mut lurker = Irc::open(addr);
    lurker.send("NICK lurker");
    lurker.expect("ERROR :Registration timeout");
    lurker.0.expect_closed();

    // Answers the first PING, then goes quiet.
    let (mut line, _) = s.connect();
    let mut c = Irc::register(addr, "ann");
    c.send("JOIN #lobby");
    c.until(":irc.test 366 ");
    line.expect("* ann joined #lobby");
    c.expect("PING :irc.test");
    c.send("PONG :irc.test");
    c.expect("PING :irc.test");
    c.expect("ERROR :Ping timeout");
    c.0.expect_closed();
    line.expect("* ann left #lobby (Ping timeout)");
}

fn tagged_clients_get_time_and_msgid(b: Backend) {
    let (s, addr) = irc_server(b);
    let mut tagged = Irc::open(addr);
    tagged.send("CAP LS 302");
    tagged.expect(":irc.test CAP * LS :account-tag away-notify batch cap-notify draft/account-registration draft/chathistory draft/event-playback echo-message extended-join invite-notify labeled-response message-tags multi-prefix sasl=PLAIN server-time setname userhost-in-names");
    tagged.send("CAP REQ :server-time message-tags");
    tagged.expect(":irc.test CAP * ACK :server-time message-tags");
    tagged.send("NICK tag");
    tagged.send("USER tag 0 * :T");
    tagged.send("CAP LIST");
    // CAP LS 302 turned cap-notify on.
    tagged.expect(":irc.test CAP * LIST :cap-notify message-tags server-time");
    tagged.send("CAP END");
    tagged.until(":irc.test 422 ");
    let mut timed = Irc::open(addr);
    timed.send("CAP REQ :server-time");
    timed.expect(":irc.test CAP * ACK :server-time");
    timed.send("NICK tim");
    timed.send("USER tim 0 * :T");
    timed.send("CAP END");
    timed.until(":irc.test 422 ");
    let mut plain = Irc::register(addr, "pla");
    for c in [&mut tagged, &mut timed, &mut plain] {
        c.send("JOIN #lobby");
        c.until(":irc.test 366 ");
    }
    let (mut line, guest) = s.connect();
    line.send("one line, three forms");
    let msg = format!(":{guest}!{guest}@user/{guest} PRIVMSG #lobby :one line, three forms");
    let t = tagged.containing("one line, three forms");
    let (tags, rest) = t.split_once(' ').expect("tags, then the message");
    assert_eq!(rest, msg);
    let tags: Vec<&str> = tags.trim_start_matches('@').split(';').collect();
    assert_eq!(tags.len(), 2, "{t}");
    assert!(
        tags[0].starts_with("time=20") && tags[0].ends_with('Z'),
        "{t}"
    );
    assert!(tags[1].starts_with("msgid="), "{t}");
    let ti = timed.containing("one line, three forms");
    assert!(!ti.contains("msgid="), "{ti}");
    assert!(ti.ends_with(&msg), "{ti}");
    assert_eq!(plain.containing("one line, three forms"), msg);
    tagged.send("CAP REQ :-message-tags bogus");
    tagged.expect(":irc.test CAP tag NAK :-message-tags bogus");
}

fn server_password_gates_both_protocols(b: Backend) {
    let (s, addr) = irc_server_with(b, &["--server-password", "s3cret"]);
    let gate = "! this server needs a password: send /pass <password> first";
    // The line protocol: nothing but /pass (or /quit) before it.
    let mut line = Conn::open(s.addr);
    line.send("hello");
    line.expect(gate);
    line.send("/nick early");
    line.expect(gate);
    line.send("/pass");
    line.expect(gate);
    line.send("/pass s3cret");
    assert!(line.line().starts_with("* welcome guest-"));
    assert!(line.line().starts_with("* you joined #lobby"));
    line.send("/pass s3cret");
    line.expect("! no password is needed now");
    let mut wrong = Conn::open(s.addr);
    wrong.send("/pass guess");
    wrong.expect("! wrong password");
    wrong.expect_closed();

    // IRC: PASS before registering; without it or with a wrong one, 464.
    let mut irc = Irc::open(addr);
    irc.send("NICK ann");
    irc.send("USER ann 0 * :Ann");
    irc.expect(":irc.test 464 * :Password incorrect");
    irc.expect("ERROR :Bad password");
    irc.0.expect_closed();
    let mut bad = Irc::open(addr);
    bad.send("PASS guess");
    bad.expect(":irc.test 464 * :Password incorrect");
    bad.expect("ERROR :Bad password");
    bad.0.expect_closed();
    let mut good = Irc::open(addr);
    good.send("PASS s3cret");
    good.send("NICK bob");
    good.send("USER bob 0 * :Bob");
    good.until(":irc.test 422 bob ");
    good.send("PASS s3cret");
    good.expect(":irc.test 462 bob :You may not reregister");
}

fn irc_formatting_reaches_irc_clients_only(b: Backend) {
    let (s, addr) = irc_server(b);
    let (mut line, _) = s.connect();
    let mut ann = Irc::register(addr, "ann");
    let mut bob = Irc::register(addr, "bob");
    for c in [&mut ann, &mut bob] {
        c.send("JOIN #lobby");
        c.until(":irc.test 366 ");
    }
    line.expect("* ann joined #lobby");
    line.expect("* bob joined #lobby");
    ann.send("PRIVMSG #lobby :\u{2}bold\u{2} \u{3}4,12red\u{f} and\u{1b}[2J escaped");
    assert_eq!(
        bob.containing("PRIVMSG"),
        ":ann!ann@user/ann PRIVMSG #lobby :\u{2}bold\u{2} \u{3}4,12red\u{f} and[2J escaped"
    );
    line.expect("[ann] bold red and[2J escaped");
}

fn echo_message_returns_a_clients_own_messages(b: Backend) {
    let (s, addr) = irc_server(b);
    let (mut line, guest) = s.connect();
    let mut echo = Irc::open(addr);
    echo.send("CAP REQ :echo-message message-tags");
    echo.expect(":irc.test CAP * ACK :echo-message message-tags");
    echo.send("NICK eco");
    echo.send("USER eco 0 * :E");
    echo.send("CAP END");
    echo.until(":irc.test 422 ");
    let mut plain = Irc::register(addr, "pla");
    for c in [&mut echo, &mut plain] {
        c.send("JOIN #lobby");
        c.until(":irc.test 366 ");
    }
    echo.send("PRIVMSG #lobby :said once");
    let mine = echo.containing("said once");
    let theirs = plain.containing("said once");
    assert_eq!(theirs, ":eco!eco@user/eco PRIVMSG #lobby :said once");
    // The echo is the same message, with the same msgid.
    let (tags, rest) = mine.split_once(' ').expect("tags");
    assert!(tags.contains(";msgid="), "{mine}");
    assert_eq!(rest, theirs);
    line.expect("* eco joined #lobby");
    line.expect("* pla joined #lobby");
    line.expect("[eco] said once");
    echo.send(&format!("PRIVMSG {guest} :direct"));
    let pm = echo.containing("direct");
    assert!(
        pm.ends_with(&format!(":eco!eco@user/eco PRIVMSG {guest} :direct")),
        "{pm}"
    );
    line.expect(&format!("[eco -> {guest}] direct"));
    // Without echo-message, nothing comes back.
    plain.send("PRIVMSG #lobby :once only");
    echo.containing("once only");
    plain.send("PING :after");
    plain.expect(":irc.test PONG irc.test :after");
}

both_backends!(
    echo_message_returns_a_clients_own_messages,
    irc_formatting_reaches_irc_clients_only,
    server_password_gates_both_protocols,
    tagged_clients_get_time_and_msgid,
    quiet_and_unregistered_clients_are_closed,
    registration_and_its_numerics,
    errors_a_client_can_trigger,
    irc_and_line_clients_share_a_room,
    list_shows_the_rooms,
);
