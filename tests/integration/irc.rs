//! IRC over real sockets: registration, the commands mapped so far, their
//! numerics, and IRC and line-protocol clients in the same rooms, each
//! seeing the other in its own form.

use std::net::SocketAddr;

use crate::util::{server, Backend, Conn, TestServer};

/// An IRC client: sends CR LF lines, reads lines that must end in CR LF.
struct Irc(Conn);

impl Irc {
    fn open(addr: SocketAddr) -> Irc {
        Irc(Conn::open(addr))
    }

    fn send(&mut self, line: &str) {
        self.0.send_raw(format!("{line}\r\n").as_bytes());
    }

    fn line(&mut self) -> String {
        let line = self.0.line();
        line.strip_suffix('\r')
            .unwrap_or_else(|| panic!("IRC lines end with CR LF: {line:?}"))
            .to_string()
    }

    fn expect(&mut self, want: &str) {
        assert_eq!(self.line(), want);
    }

    /// Reads up to and including the line starting with `prefix`.
    fn until(&mut self, prefix: &str) -> Vec<String> {
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
    fn containing(&mut self, text: &str) -> String {
        loop {
            let l = self.line();
            if l.contains(text) {
                return l;
            }
        }
    }

    /// Registers as `nick` and reads the welcome through the MOTD (or 422).
    fn register(addr: SocketAddr, nick: &str) -> Irc {
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

fn irc_server_with(b: Backend, extra: &[&str]) -> (TestServer, SocketAddr) {
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
    c.expect(":irc.test CAP * LS :echo-message message-tags server-time");
    c.send("NICK ann");
    c.send("USER ann 0 * :Ann");
    c.send("CAP REQ :multi-prefix");
    c.expect(":irc.test CAP * NAK :multi-prefix");
    c.send("CAP END");
    let welcome = c.until(":irc.test 422 ");
    let codes: Vec<&str> = welcome
        .iter()
        .map(|l| l.split(' ').nth(1).unwrap_or(""))
        .collect();
    assert_eq!(codes, ["001", "002", "003", "004", "005", "251", "422"]);
    assert!(welcome[4].contains(" CASEMAPPING=ascii "), "{}", welcome[4]);
    assert!(welcome[4].contains(" NETWORK=TestNet "), "{}", welcome[4]);
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

fn queries_about_users_and_rooms(b: Backend) {
    let (s, addr) = irc_server(b);
    let (_line, guest) = s.connect();
    let mut c = Irc::register(addr, "ann");
    c.send("JOIN #lobby");
    c.until(":irc.test 366 ");
    // What irssi asks right after joining.
    c.send("MODE #lobby");
    c.expect(":irc.test 324 ann #lobby +");
    assert!(c.line().starts_with(":irc.test 329 ann #lobby "));
    c.send("WHO #lobby");
    c.expect(":irc.test 352 ann #lobby ann user/ann irc.test ann H :0 ann");
    c.expect(&format!(
        ":irc.test 352 ann #lobby {guest} user/{guest} irc.test {guest} H :0 {guest}"
    ));
    c.expect(":irc.test 315 ann #lobby :End of /WHO list");
    c.send("MODE #lobby b");
    c.expect(":irc.test 368 ann #lobby :End of channel ban list");
    c.send("MODE #lobby +o ann");
    c.expect(":irc.test 482 ann #lobby :You're not channel operator");
    c.send("MODE #nowhere");
    c.expect(":irc.test 403 ann #nowhere :No such channel");
    c.send("MODE ann");
    c.expect(":irc.test 221 ann +");
    c.send(&format!("WHOIS {guest}"));
    c.expect(&format!(
        ":irc.test 311 ann {guest} {guest} user/{guest} * :{guest}"
    ));
    c.expect(&format!(":irc.test 312 ann {guest} irc.test :shardchat"));
    c.expect(&format!(":irc.test 318 ann {guest} :End of /WHOIS list"));
    c.send("WHOIS nobody");
    c.expect(":irc.test 401 ann nobody :No such nick/channel");
    c.expect(":irc.test 318 ann nobody :End of /WHOIS list");
    c.send(&format!("ISON nobody {guest} ANN"));
    c.expect(&format!(":irc.test 303 ann :{guest} ann"));
    c.send("USERHOST ann");
    c.expect(":irc.test 302 ann :ann=+ann@user/ann");
    c.send("LUSERS");
    c.expect(":irc.test 251 ann :There are 2 users and 0 invisible on 1 servers");
    c.expect(":irc.test 254 ann 1 :channels formed");
    c.expect(":irc.test 255 ann :I have 2 clients and 0 servers");
    c.send("MOTD");
    c.expect(":irc.test 422 ann :MOTD File is missing");
    c.send("VERSION");
    let version = c.line();
    assert!(
        version.starts_with(":irc.test 351 ann shardchat-"),
        "{version}"
    );
    c.send("TIME");
    let time = c.line();
    assert!(time.starts_with(":irc.test 391 ann irc.test :"), "{time}");
    assert!(time.ends_with(" GMT"), "{time}");
}

fn tagged_clients_get_time_and_msgid(b: Backend) {
    let (s, addr) = irc_server(b);
    let mut tagged = Irc::open(addr);
    tagged.send("CAP LS 302");
    tagged.expect(":irc.test CAP * LS :echo-message message-tags server-time");
    tagged.send("CAP REQ :server-time message-tags");
    tagged.expect(":irc.test CAP * ACK :server-time message-tags");
    tagged.send("NICK tag");
    tagged.send("USER tag 0 * :T");
    tagged.send("CAP LIST");
    tagged.expect(":irc.test CAP * LIST :message-tags server-time");
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

fn away_is_told_to_whoever_writes(b: Backend) {
    let (_s, addr) = irc_server(b);
    let mut ann = Irc::register(addr, "ann");
    let mut bob = Irc::register(addr, "bob");
    ann.send("AWAY :at lunch");
    ann.expect(":irc.test 306 ann :You have been marked as being away");
    bob.send("PRIVMSG ann :hi");
    bob.expect(":irc.test 301 bob ann :at lunch");
    ann.expect(":bob!bob@user/bob PRIVMSG ann :hi");
    bob.send("WHOIS ann");
    bob.expect(":irc.test 311 bob ann ann user/ann * :ann");
    bob.expect(":irc.test 312 bob ann irc.test :shardchat");
    bob.expect(":irc.test 301 bob ann :at lunch");
    bob.expect(":irc.test 318 bob ann :End of /WHOIS list");
    ann.send("AWAY");
    ann.expect(":irc.test 305 ann :You are no longer marked as being away");
    bob.send("PRIVMSG ann :back?");
    ann.expect(":bob!bob@user/bob PRIVMSG ann :back?");
    bob.send("PING :x");
    bob.expect(":irc.test PONG irc.test :x");
}

fn operators_kill_and_wallops(b: Backend) {
    let (s, addr) = irc_server_with(b, &["--oper", "root:t0ps3cret", "--oper", "ops:other"]);
    let (mut line, guest) = s.connect();
    let mut ann = Irc::register(addr, "ann");
    let mut bob = Irc::register(addr, "bob");
    bob.send(&format!("KILL {guest} :nope"));
    bob.expect(":irc.test 481 bob :Permission Denied- You're not an IRC operator");
    bob.send("WALLOPS :hello");
    bob.expect(":irc.test 481 bob :Permission Denied- You're not an IRC operator");
    ann.send("OPER nobody x");
    ann.expect(":irc.test 491 ann :No O-lines for your host");
    ann.send("OPER root wrong");
    ann.expect(":irc.test 464 ann :Password incorrect");
    ann.send("OPER root t0ps3cret");
    ann.expect(":irc.test 381 ann :You are now an IRC operator");
    bob.send("WHOIS ann");
    bob.expect(":irc.test 311 bob ann ann user/ann * :ann");
    bob.expect(":irc.test 312 bob ann irc.test :shardchat");
    bob.expect(":irc.test 313 bob ann :is an IRC operator");
    bob.expect(":irc.test 318 bob ann :End of /WHOIS list");
    ann.send("WALLOPS :maintenance at noon");
    ann.expect(":ann!ann@user/ann WALLOPS :maintenance at noon");
    bob.send("JOIN #lobby");
    bob.until(":irc.test 366 ");
    line.expect("* bob joined #lobby");
    ann.send("KILL bob :spamming");
    bob.expect("ERROR :Killed (ann (spamming))");
    bob.0.expect_closed();
    line.expect("* bob left #lobby (Killed (ann (spamming)))");
    ann.send(&format!("KILL {guest} :line users too"));
    line.expect("! disconnected: Killed (ann (line users too))");
    line.expect_closed();
    ann.send("KILL nobody");
    ann.expect(":irc.test 401 ann nobody :No such nick/channel");
}

fn motd_info_help_and_whowas(b: Backend) {
    let dir = std::env::temp_dir().join(format!("sc-motd-{}-{}", std::process::id(), b.name()));
    std::fs::create_dir_all(&dir).expect("a temp dir");
    let motd = dir.join("motd.txt");
    std::fs::write(&motd, "Welcome to the test network.\nBe kind.\u{1b}[2J\n").expect("write");
    let path = motd.to_str().expect("utf-8 path");
    let (_s, addr) = irc_server_with(b, &["--motd", path]);
    let mut c = Irc::open(addr);
    c.send("NICK ann");
    c.send("USER ann 0 * :Ann");
    let welcome = c.until(":irc.test 376 ");
    let n = welcome.len();
    assert_eq!(
        welcome[n - 4..],
        [
            ":irc.test 375 ann :- irc.test Message of the day - ",
            ":irc.test 372 ann :- Welcome to the test network.",
            ":irc.test 372 ann :- Be kind.[2J",
            ":irc.test 376 ann :End of /MOTD command.",
        ]
    );
    c.send("MOTD");
    assert_eq!(c.until(":irc.test 376 ").len(), 4);
    c.send("INFO");
    assert!(c.until(":irc.test 374 ann ").len() >= 2);
    c.send("HELP");
    let help = c.until(":irc.test 706 ");
    assert!(help[0].starts_with(":irc.test 704 ann index :"), "{help:?}");
    let mut gone = Irc::register(addr, "gone");
    gone.send("QUIT");
    gone.expect("ERROR :Closing link (Quit)");
    gone.0.expect_closed();
    c.send("WHOWAS GONE");
    c.expect(":irc.test 314 ann gone gone user/gone * :gone");
    c.expect(":irc.test 369 ann GONE :End of WHOWAS");
    c.send("WHOWAS never");
    c.expect(":irc.test 406 ann never :There was no such nickname");
    c.expect(":irc.test 369 ann never :End of WHOWAS");
    let _ = std::fs::remove_dir_all(&dir);
    // A missing file stops the server with a clear error.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_server"))
        .args(["--port", "0", "--motd", "/nonexistent/motd"])
        .output()
        .expect("run the server");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot read --motd /nonexistent/motd"),
        "{err}"
    );
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
    ann.expect(":irc.test 324 ann #den +m");
    ann.containing(" 329 ");
    ann.send("NAMES #den");
    ann.expect(&format!(":irc.test 353 ann = #den :@ann +bob {guest}"));
    ann.until(":irc.test 366 ");
    // +t: the topic is the operators'.
    ann.send("MODE #den -m+t");
    ann.expect(":ann!ann@user/ann MODE #den -m+t");
    line.expect("* ann set mode -m+t on #den");
    line.send("/topic mine");
    line.expect("! you are not an operator of #den");
    line.send("/mode #den +o ann");
    line.expect("! you are not an operator of #den");
    line.send("/mode #den");
    line.expect("* modes of #den: +t");
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
    bob.expect(":irc.test 442 bob #den :You're not on that channel");
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

both_backends!(
    operators_kick_users_of_either_protocol,
    invitations_reach_either_protocol,
    operators_moderate_and_ban,
    echo_message_returns_a_clients_own_messages,
    the_notice_limit_applies_to_irc_too,
    motd_info_help_and_whowas,
    operators_kill_and_wallops,
    away_is_told_to_whoever_writes,
    irc_formatting_reaches_irc_clients_only,
    server_password_gates_both_protocols,
    topics_are_shared_and_shown_on_join,
    tagged_clients_get_time_and_msgid,
    queries_about_users_and_rooms,
    quiet_and_unregistered_clients_are_closed,
    registration_and_its_numerics,
    errors_a_client_can_trigger,
    irc_and_line_clients_share_a_room,
    list_shows_the_rooms,
);
