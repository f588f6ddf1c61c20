//! IRC queries about users and the server, and operators, over real
//! sockets: WHO, WHOIS, WHOWAS, ISON, USERHOST, MODE queries, LUSERS,
//! MOTD, VERSION, TIME, INFO, HELP, AWAY, OPER, KILL and WALLOPS.

use crate::irc::{irc_server, irc_server_with, Irc};
use crate::util::Backend;

fn queries_about_users_and_rooms(b: Backend) {
    let (s, addr) = irc_server(b);
    let (_line, guest) = s.connect();
    let mut c = Irc::register(addr, "ann");
    c.send("JOIN #lobby");
    c.until(":irc.test 366 ");
    // What irssi asks right after joining.
    c.send("MODE #lobby");
    c.expect(":irc.test 324 ann #lobby +nt");
    assert!(c.line().starts_with(":irc.test 329 ann #lobby "));
    c.send("WHO #lobby");
    c.expect(":irc.test 352 ann #lobby ann user/ann irc.test ann H :0 ann");
    c.expect(&format!(
        ":irc.test 352 ann #lobby {guest} user/{guest} irc.test {guest} H@ :0 {guest}"
    ));
    c.expect(":irc.test 315 ann #lobby :End of /WHO list");
    // Masks match nicks, or whole prefixes when they have `!` or `@`.
    c.send("WHO A?n");
    c.expect(":irc.test 352 ann * ann user/ann irc.test ann H :0 ann");
    c.expect(":irc.test 315 ann A?n :End of /WHO list");
    c.send("WHO *!*@user/guest-*");
    c.expect(&format!(
        ":irc.test 352 ann * {guest} user/{guest} irc.test {guest} H :0 {guest}"
    ));
    c.expect(":irc.test 315 ann *!*@user/guest-* :End of /WHO list");
    c.send("WHO zz*");
    c.expect(":irc.test 315 ann zz* :End of /WHO list");
    // LIST with channel names or a pattern lists only those.
    c.send("JOIN #rust,#go");
    c.until(":irc.test 366 ann #go ");
    for mask in ["#rust", "#nope,#RUST", "*us*", "r?st"] {
        c.send(&format!("LIST {mask}"));
        c.expect(":irc.test 321 ann Channel :Users  Name");
        c.expect(":irc.test 322 ann #rust 1 :");
        c.expect(":irc.test 323 ann :End of /LIST");
    }
    c.send("PART #rust,#go");
    c.until(":ann!ann@user/ann PART #go");
    c.send("MODE #lobby b");
    c.expect(":irc.test 368 ann #lobby :End of channel ban list");
    c.send("MODE #lobby +o ann");
    c.expect(":irc.test 482 ann #lobby :You're not channel operator");
    c.send("MODE #nowhere");
    c.expect(":irc.test 403 ann #nowhere :No such channel");
    c.send("MODE ann");
    c.expect(":irc.test 221 ann +");
    // irssi sets +i on connecting; w is kept too, o only comes by OPER.
    c.send("MODE ann +i");
    c.expect(":ann!ann@user/ann MODE ann :+i");
    c.send("MODE ann +iwx");
    c.expect(":ann!ann@user/ann MODE ann :+w");
    c.expect(":irc.test 501 ann :Unknown MODE flag");
    c.send("MODE ann +o-w");
    c.expect(":ann!ann@user/ann MODE ann :-w");
    c.send("MODE ann");
    c.expect(":irc.test 221 ann +i");
    c.send(&format!("WHOIS {guest}"));
    c.expect(&format!(
        ":irc.test 311 ann {guest} {guest} user/{guest} * :{guest}"
    ));
    c.expect(&format!(":irc.test 312 ann {guest} irc.test :shardchat"));
    let idle = c.line();
    assert!(
        idle.starts_with(&format!(":irc.test 317 ann {guest} ")),
        "{idle}"
    );
    c.expect(&format!(":irc.test 319 ann {guest} :@#lobby"));
    c.expect(&format!(":irc.test 318 ann {guest} :End of /WHOIS list"));
    // WHOIS lists channels with prefixes, but never secret ones.
    c.send("JOIN #quiet");
    c.until(":irc.test 366 ");
    c.send("MODE #quiet +s");
    c.expect(":ann!ann@user/ann MODE #quiet +s");
    c.send("WHOIS ann");
    c.until(":irc.test 317 ann ann ");
    c.expect(":irc.test 319 ann ann :#lobby");
    c.expect(":irc.test 318 ann ann :End of /WHOIS list");
    c.send("WHOIS nobody");
    c.expect(":irc.test 401 ann nobody :No such nick/channel");
    c.expect(":irc.test 318 ann nobody :End of /WHOIS list");
    c.send(&format!("ISON nobody {guest} ANN"));
    c.expect(&format!(":irc.test 303 ann :{guest} ann"));
    c.send("USERHOST ann");
    c.expect(":irc.test 302 ann :ann=+ann@user/ann");
    c.send("LUSERS");
    c.expect(":irc.test 251 ann :There are 2 users and 0 invisible on 1 servers");
    c.expect(":irc.test 254 ann 2 :channels formed");
    c.expect(":irc.test 255 ann :I have 2 clients and 0 servers");
    c.expect(":irc.test 265 ann 2 2 :Current local users 2, max 2");
    c.expect(":irc.test 266 ann 2 2 :Current global users 2, max 2");
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
    assert!(bob.line().starts_with(":irc.test 317 bob ann "));
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
    assert!(bob.line().starts_with(":irc.test 317 bob ann "));
    bob.expect(":irc.test 318 bob ann :End of /WHOIS list");
    // Only operators see where a user connects from.
    ann.send("WHOIS bob");
    ann.expect(":irc.test 311 ann bob bob user/bob * :bob");
    ann.expect(":irc.test 312 ann bob irc.test :shardchat");
    assert!(ann.line().starts_with(":irc.test 317 ann bob "));
    ann.expect(":irc.test 378 ann bob :is connecting from *@127.0.0.1 127.0.0.1");
    ann.expect(":irc.test 318 ann bob :End of /WHOIS list");
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
        .args([
            "--port",
            "0",
            "--db",
            ":memory:",
            "--motd",
            "/nonexistent/motd",
        ])
        .output()
        .expect("run the server");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot read --motd /nonexistent/motd"),
        "{err}"
    );
}

both_backends!(
    queries_about_users_and_rooms,
    away_is_told_to_whoever_writes,
    operators_kill_and_wallops,
    motd_info_help_and_whowas,
);
