//! Accounts over IRC, part two: the NickServ service (as PRIVMSG and as
//! the `NICKSERV`/`NS` commands), registered nicks protected from NICK
//! and from registration (identify in time or be renamed), and wrong
//! passwords throttled, then disconnected.

use std::time::Duration;

use crate::irc::{irc_server, irc_server_with, Irc};
use crate::irc_accounts::{
    account_made_by_line_client, sasl_plain, sasl_ready, welcome, whois_account,
};
use crate::util::Backend;

/// What NickServ says to `me`, as the line reads.
fn ns(me: &str, text: &str) -> String {
    format!(":NickServ!NickServ@services NOTICE {me} :{text}")
}

/// 900 for `nick` logged in to `account`.
fn logged_in(nick: &str, account: &str) -> String {
    format!(
        ":irc.test 900 {nick} {nick}!{nick}@user/{nick} {account} :You are now logged in as {account}"
    )
}

fn nickserv_keeps_accounts(b: Backend) {
    let (_s, addr) = irc_server(b);
    let mut ann = Irc::register(addr, "ann");
    ann.send("PRIVMSG NickServ :HELP");
    let help = [
        "NickServ keeps registered nicks for their owners:",
        "REGISTER <password>          registers your current nick",
        "IDENTIFY [nick] <password>   logs you in (SASL PLAIN works too)",
        "LOGOUT                       logs you out",
        "PASSWORD <old> <new>         changes your password",
        "DROP <password>              deletes your account",
    ];
    for line in help {
        ann.expect(&ns("ann", line));
    }
    // The command forms and the service's other name say the same.
    for form in ["NICKSERV HELP", "NS", "PRIVMSG NS :help"] {
        ann.send(form);
        for line in help {
            ann.expect(&ns("ann", line));
        }
    }
    ann.send("PRIVMSG NickServ :GHOST bob");
    ann.expect(&ns("ann", "Unknown command GHOST; try HELP"));
    ann.send("NS IDENTIFY");
    ann.expect(&ns("ann", "Unknown command IDENTIFY; try HELP"));

    ann.send("PRIVMSG NickServ :REGISTER short");
    ann.expect(&ns(
        "ann",
        "Passwords are 8 to 256 bytes without control characters",
    ));
    ann.send("PRIVMSG NickServ :REGISTER secret123 ann@example.org");
    ann.expect(&ns("ann", "Nickname ann registered; you are logged in"));
    ann.expect(&logged_in("ann", "ann"));
    ann.send("NS LOGOUT");
    ann.expect(&ns("ann", "You are now logged out"));
    ann.expect(":irc.test 901 ann ann!ann@user/ann :You are now logged out");
    ann.send("NICKSERV LOGOUT");
    ann.expect(&ns("ann", "You are not logged in"));
    ann.send("NICKSERV PASSWORD secret123 newsecret1");
    ann.expect(&ns("ann", "You are not logged in"));
    ann.send("NICKSERV IDENTIFY wrongpass1");
    ann.expect(&ns("ann", "Invalid account or password"));
    // Without an account name, the nick's.
    ann.send("NICKSERV IDENTIFY secret123");
    ann.expect(&ns("ann", "You are now identified for ann"));
    ann.expect(&logged_in("ann", "ann"));
    ann.send("PRIVMSG NickServ :IDENTIFY secret123");
    ann.expect(&ns("ann", "You are already logged in as ann"));
    ann.send("PRIVMSG NickServ :PASSWORD secret123 tiny");
    ann.expect(&ns(
        "ann",
        "Passwords are 8 to 256 bytes without control characters",
    ));
    ann.send("PRIVMSG NickServ :PASSWORD secret123 newsecret1");
    ann.expect(&ns("ann", "Password changed"));

    // The nick is the account's; NickServ's is the service's.
    let mut bob = Irc::register(addr, "bob");
    let registered = "Nickname is registered: identify first (SASL or NickServ)";
    for nick in ["ann", "ANN", "NickServ", "nickserv"] {
        bob.send(&format!("NICK {nick}"));
        bob.expect(&format!(":irc.test 433 bob {nick} :{registered}"));
    }
    // Nor can a client register as NickServ.
    let mut fake = Irc::open(addr);
    fake.send("NICK NickServ");
    fake.send("USER x 0 * :x");
    fake.expect(":irc.test 433 * NickServ :Nickname is already in use");
    // With an account name, that account, whatever the nick.
    bob.send("PRIVMSG NickServ@services :IDENTIFY ann newsecret1");
    bob.expect(&ns("bob", "You are now identified for ann"));
    bob.expect(&logged_in("bob", "ann"));
    assert_eq!(
        whois_account(&mut ann, "ann", "bob").as_deref(),
        Some("ann")
    );
    bob.send("NS LOGOUT");
    bob.expect(&ns("bob", "You are now logged out"));
    bob.expect(":irc.test 901 bob bob!bob@user/bob :You are now logged out");
    assert_eq!(whois_account(&mut ann, "ann", "bob"), None);

    ann.send("NS DROP wrongpass1");
    ann.expect(&ns("ann", "Invalid account or password"));
    ann.send("NS DROP newsecret1");
    ann.expect(&ns("ann", "Account ann dropped"));
    ann.expect(":irc.test 901 ann ann!ann@user/ann :You are now logged out");
    ann.send("NS DROP newsecret1");
    ann.expect(&ns("ann", "You are not logged in"));
    // Dropped: the nick is anyone's, and can be registered again.
    ann.send("NICK ann2");
    ann.expect(":ann!ann@user/ann NICK :ann2");
    bob.send("NICK ann");
    bob.expect(":bob!bob@user/bob NICK :ann");
    bob.send("NS REGISTER another12");
    bob.expect(&ns("ann", "Nickname ann registered; you are logged in"));
    bob.expect(&logged_in("ann", "ann"));
}

/// An IRC client registering with someone's nick is warned, and renamed
/// to a guest nick once `--identify-timeout` is up.
fn an_unidentified_registered_nick_is_renamed(b: Backend) {
    let (s, addr) = irc_server_with(b, &["--identify-timeout", "1s"]);
    account_made_by_line_client(&s, "ann", "secret123");
    let mut c = Irc::register(addr, "ann");
    c.expect(&ns(
        "ann",
        "ann is a registered nick: identify within 1 second \
         (/msg NickServ IDENTIFY <password>, or SASL) or it will be changed",
    ));
    c.expect(&ns(
        "ann",
        "You did not identify for ann: your nick was changed",
    ));
    let renamed = c.line();
    let guest = renamed
        .strip_prefix(":ann!ann@user/ann NICK :guest-")
        .unwrap_or_else(|| panic!("renamed to a guest nick: {renamed:?}"));
    assert!(guest.bytes().all(|b| b.is_ascii_digit()), "{renamed}");
    let guest = format!("guest-{guest}");
    c.send("NICK ann");
    c.expect(&format!(
        ":irc.test 433 {guest} ann :Nickname is registered: identify first (SASL or NickServ)"
    ));
    // Identified, the nick can be taken back.
    c.send("PRIVMSG NickServ :IDENTIFY ann secret123");
    c.expect(&ns(&guest, "You are now identified for ann"));
    c.expect(&logged_in(&guest, "ann"));
    c.send("NICK ann");
    c.expect(&format!(":{guest}!{guest}@user/{guest} NICK :ann"));
}

/// A client that identifies in time keeps the nick. Another, registered
/// later on the same (single) shard and never identifying, is renamed
/// after it: once that has happened the first's deadline has passed.
fn identifying_in_time_keeps_the_nick(b: Backend) {
    let (s, addr) = irc_server_with(b, &["--identify-timeout", "3s", "--threads", "1"]);
    account_made_by_line_client(&s, "ann", "secret123");
    account_made_by_line_client(&s, "bob", "secret123");
    let warning = |nick: &str| {
        ns(
            nick,
            &format!(
                "{nick} is a registered nick: identify within 3 seconds \
                 (/msg NickServ IDENTIFY <password>, or SASL) or it will be changed"
            ),
        )
    };
    let mut ann = Irc::register(addr, "ann");
    ann.expect(&warning("ann"));
    ann.send("PRIVMSG NickServ :IDENTIFY secret123");
    ann.expect(&ns("ann", "You are now identified for ann"));
    ann.expect(&logged_in("ann", "ann"));

    let mut bob = Irc::register(addr, "bob");
    bob.expect(&warning("bob"));
    bob.expect(&ns(
        "bob",
        "You did not identify for bob: your nick was changed",
    ));
    assert!(bob.line().starts_with(":bob!bob@user/bob NICK :guest-"));
    ann.send("PING :still-ann");
    ann.expect(":irc.test PONG irc.test :still-ann");
    let mut carl = Irc::register(addr, "carl");
    assert_eq!(
        whois_account(&mut carl, "carl", "ann").as_deref(),
        Some("ann")
    );
}

/// Three wrong passwords on a connection are free; then it waits
/// (`--auth-delay`, doubling), whether SASL or NickServ is used, and the
/// account has a count of its own. The tenth closes the connection.
fn wrong_passwords_are_throttled_then_disconnected(b: Backend) {
    let (s, addr) = irc_server_with(b, &["--auth-delay", "1s"]);
    account_made_by_line_client(&s, "ann", "secret123");
    let failed = ":irc.test 904 * :SASL authentication failed";
    let mut c = sasl_ready(addr, "carl");
    for n in 1..=3 {
        sasl_plain(&mut c, &format!("\0nobody{n}\0wrongpass"));
        c.expect(failed);
    }
    // Refused at once, even with the right password, and told why.
    sasl_plain(&mut c, "\0ann\0secret123");
    c.expect(":irc.test NOTICE * :Too many wrong passwords: wait 1s");
    c.expect(failed);
    c.send("CAP END");
    welcome(&mut c, "carl");
    c.send("PRIVMSG NickServ :IDENTIFY ann secret123");
    c.expect(&ns("carl", "Too many wrong passwords: wait 1s"));

    let mut d = Irc::register(addr, "dave");
    for _ in 0..3 {
        d.send("NS IDENTIFY ann wrongpass");
        d.expect(&ns("dave", "Invalid account or password"));
    }
    let mut e = Irc::register(addr, "erin");
    e.send("NS IDENTIFY ann secret123");
    e.expect(&ns("erin", "Too many wrong passwords: wait 1s"));
    sasl_plain(&mut e, "\0ann\0secret123");
    e.expect(":irc.test NOTICE erin :Too many wrong passwords: wait 1s");
    e.expect(":irc.test 904 erin :SASL authentication failed");
    drop(s);

    // Short waits, to reach ten wrong passwords.
    let (s, addr) = irc_server_with(b, &["--auth-delay", "10ms"]);
    let mut f = Irc::register(addr, "fred");
    let mut failures = 0;
    while failures < 10 {
        f.send(&format!("NS IDENTIFY nobody{failures} wrongpass"));
        let l = f.line();
        if l == ns("fred", "Invalid account or password") {
            failures += 1;
        } else if l.starts_with(&ns("fred", "Too many wrong passwords: wait ")) {
            f.0.expect_silence(Duration::from_millis(10));
        } else {
            panic!("unexpected {l:?}");
        }
    }
    f.expect("ERROR :Too many failed logins");
    f.0.expect_closed();
    s.assert_running();
}

both_backends!(
    nickserv_keeps_accounts,
    an_unidentified_registered_nick_is_renamed,
    identifying_in_time_keeps_the_nick,
    wrong_passwords_are_throttled_then_disconnected,
);
