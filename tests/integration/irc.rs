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

    /// Registers as `nick` and reads the welcome through the MOTD numeric.
    fn register(addr: SocketAddr, nick: &str) -> Irc {
        let mut c = Irc::open(addr);
        c.send(&format!("NICK {nick}"));
        c.send(&format!("USER {nick} 0 * :{nick}"));
        let welcome = c.until(":irc.test 422 ");
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
        "--notice-limit",
        "100",
    ];
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
    c.expect(":irc.test CAP * LS :");
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
            format!(":irc.test 353 ann = #lobby :ann {guest}"),
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
    irc.expect(&format!(":irc.test 353 ann = #lobby :ann {guest}"));
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

both_backends!(
    queries_about_users_and_rooms,
    quiet_and_unregistered_clients_are_closed,
    registration_and_its_numerics,
    errors_a_client_can_trigger,
    irc_and_line_clients_share_a_room,
    list_shows_the_rooms,
);
