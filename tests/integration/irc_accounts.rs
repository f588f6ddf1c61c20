//! Accounts over IRC, part one: SASL PLAIN (`AUTHENTICATE`) before and
//! after registration, its failures and 400-byte pieces, and IRCv3
//! `draft/account-registration` (`REGISTER`), with the account seen in
//! WHOIS (330). NickServ, protected nicks and throttling are in
//! irc_nickserv.rs; account-tag and extended-join in irc_account_tags.rs.

use std::net::SocketAddr;

use base64::Engine;

use crate::irc::{irc_server, Irc};
use crate::util::{Backend, TestServer};

/// `text` in base64, as SASL carries it.
pub(crate) fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// Reads the rest of the welcome, through the MOTD's 422.
pub(crate) fn welcome(c: &mut Irc, nick: &str) {
    let lines = c.until(":irc.test 422 ");
    assert_eq!(
        lines[0],
        format!(":irc.test 001 {nick} :Welcome to the TestNet IRC Network, {nick}")
    );
}

/// A connection that asked for `sasl` (after `CAP LS 302`, which offers
/// PLAIN) and gave NICK and USER, not yet registered.
pub(crate) fn sasl_ready(addr: SocketAddr, nick: &str) -> Irc {
    let mut c = Irc::open(addr);
    c.send("CAP LS 302");
    let ls = c.line();
    assert!(
        ls.starts_with(":irc.test CAP * LS :") && ls.split(' ').any(|w| w == "sasl=PLAIN"),
        "{ls}"
    );
    c.send("CAP REQ :sasl");
    c.expect(":irc.test CAP * ACK :sasl");
    c.send(&format!("NICK {nick}"));
    c.send(&format!("USER {nick} 0 * :{nick}"));
    c
}

/// One SASL PLAIN exchange: `AUTHENTICATE PLAIN`, the empty challenge,
/// then `credentials` in one piece.
pub(crate) fn sasl_plain(c: &mut Irc, credentials: &str) {
    c.send("AUTHENTICATE PLAIN");
    c.expect("AUTHENTICATE +");
    c.send(&format!("AUTHENTICATE {}", b64(credentials)));
}

/// 900 and 903, for a client called `me` in numerics (`*` before
/// registration) whose nick is `nick`.
pub(crate) fn expect_sasl_success(c: &mut Irc, me: &str, nick: &str, account: &str) {
    c.expect(&format!(
        ":irc.test 900 {me} {nick}!{nick}@user/{nick} {account} :You are now logged in as {account}"
    ));
    c.expect(&format!(
        ":irc.test 903 {me} :SASL authentication successful"
    ));
}

/// Registers `nick` over IRC and creates its account with `REGISTER`.
pub(crate) fn irc_registered(addr: SocketAddr, nick: &str, password: &str) -> Irc {
    let mut c = Irc::register(addr, nick);
    c.send(&format!("REGISTER * * {password}"));
    c.expect(&format!(
        ":irc.test REGISTER SUCCESS {nick} :Account created"
    ));
    c.expect(&format!(
        ":irc.test 900 {nick} {nick}!{nick}@user/{nick} {nick} :You are now logged in as {nick}"
    ));
    c
}

/// Creates the account `nick` from a line client, which then takes
/// another nick (so that `nick` is free for IRC clients to log in with)
/// and leaves. Other line clients' comings and goings in the lobby may
/// come in between its answers.
pub(crate) fn account_made_by_line_client(s: &TestServer, nick: &str, password: &str) {
    let (mut c, _) = s.connect();
    c.send(&format!("/nick {nick}"));
    c.read_until(&format!("* you are now {nick}"));
    c.send(&format!("/register {password}"));
    c.read_until(&format!("* registered {nick}; you are logged in"));
    c.send(&format!("/nick {nick}-line"));
    c.read_until(&format!("* you are now {nick}-line"));
}

/// The account WHOIS shows for `nick` (its 330), asked by `me`.
pub(crate) fn whois_account(c: &mut Irc, me: &str, nick: &str) -> Option<String> {
    c.send(&format!("WHOIS {nick}"));
    let lines = c.until(&format!(":irc.test 318 {me} {nick} "));
    let mut found = None;
    for l in lines {
        if let Some(rest) = l.strip_prefix(&format!(":irc.test 330 {me} {nick} ")) {
            assert!(found.is_none(), "one 330");
            let account = rest.strip_suffix(" :is logged in as").expect("330 text");
            found = Some(account.to_string());
        }
    }
    found
}

fn sasl_plain_logs_in_before_registration(b: Backend) {
    let (s, addr) = irc_server(b);
    account_made_by_line_client(&s, "ann", "secret123");

    let mut c = sasl_ready(addr, "ann");
    sasl_plain(&mut c, "\0ann\0secret123");
    expect_sasl_success(&mut c, "*", "ann", "ann");
    // Registration waits for CAP END.
    c.send("PING :still-negotiating");
    c.expect(":irc.test PONG irc.test :still-negotiating");
    c.send("CAP END");
    welcome(&mut c, "ann");
    // Logged in to the nick's own account: no NickServ warning.
    c.send("PING :settled");
    c.expect(":irc.test PONG irc.test :settled");

    let mut bob = Irc::register(addr, "bob");
    assert_eq!(
        whois_account(&mut bob, "bob", "ann").as_deref(),
        Some("ann")
    );
    assert_eq!(whois_account(&mut bob, "bob", "bob"), None);
    // SASL after registration (and a nick change) logs in too, and
    // nothing else: no second registration under the first nick. An
    // authorisation identity equal to the account is taken, as many
    // clients send it.
    bob.send("NICK bobby");
    bob.expect(":bob!bob@user/bob NICK :bobby");
    bob.send("AUTHENTICATE PLAIN");
    bob.expect("AUTHENTICATE +");
    bob.send(&format!("AUTHENTICATE {}", b64("ann\0ann\0secret123")));
    expect_sasl_success(&mut bob, "bobby", "bobby", "ann");
    bob.send("PING :after-sasl");
    bob.expect(":irc.test PONG irc.test :after-sasl");
    assert_eq!(
        whois_account(&mut c, "ann", "bobby").as_deref(),
        Some("ann")
    );
    c.send("NICK bob");
    c.expect(":ann!ann@user/ann NICK :bob");
}

/// Clients that send the whole exchange at once (NICK, USER, the SASL
/// steps and CAP END without waiting for answers) come in logged in:
/// registration waits for the credentials to be checked.
fn sasl_sent_in_one_burst_completes_before_the_welcome(b: Backend) {
    let (s, addr) = irc_server(b);
    account_made_by_line_client(&s, "ann", "secret123");
    let mut c = Irc::open(addr);
    let burst = [
        "CAP LS 302".to_string(),
        "NICK ann".to_string(),
        "USER ann 0 * :Ann".to_string(),
        "CAP REQ :sasl".to_string(),
        "AUTHENTICATE PLAIN".to_string(),
        format!("AUTHENTICATE {}", b64("\0ann\0secret123")),
        "CAP END".to_string(),
    ];
    c.0.send_raw(format!("{}\r\n", burst.join("\r\n")).as_bytes());
    assert!(c.line().starts_with(":irc.test CAP * LS :"));
    c.expect(":irc.test CAP * ACK :sasl");
    c.expect("AUTHENTICATE +");
    expect_sasl_success(&mut c, "*", "ann", "ann");
    welcome(&mut c, "ann");
    let mut bob = Irc::register(addr, "bob");
    assert_eq!(
        whois_account(&mut bob, "bob", "ann").as_deref(),
        Some("ann")
    );
}

fn sasl_failures_are_answered_and_registration_goes_on(b: Backend) {
    let (s, addr) = irc_server(b);
    account_made_by_line_client(&s, "ann", "secret123");
    let mut c = sasl_ready(addr, "carl");
    let failed = ":irc.test 904 * :SASL authentication failed";

    sasl_plain(&mut c, "\0ann\0wrongpass");
    c.expect(failed);
    // Not base64, not PLAIN's three parts, no account, or another
    // authorisation identity.
    c.send("AUTHENTICATE PLAIN");
    c.expect("AUTHENTICATE +");
    c.send("AUTHENTICATE !!not-base64!!");
    c.expect(failed);
    for bad in ["ann secret123", "\0\0secret123", "bob\0ann\0secret123"] {
        sasl_plain(&mut c, bad);
        c.expect(failed);
    }
    // Only PLAIN is known.
    c.send("AUTHENTICATE SCRAM-SHA-256");
    c.expect(":irc.test 908 * PLAIN :are available SASL mechanisms");
    c.expect(failed);
    // Aborted, under way or not.
    c.send("AUTHENTICATE PLAIN");
    c.expect("AUTHENTICATE +");
    c.send("AUTHENTICATE *");
    c.expect(":irc.test 906 * :SASL authentication aborted");
    c.send("AUTHENTICATE *");
    c.expect(":irc.test 906 * :SASL authentication aborted");
    // A piece over 400 bytes, or more than the limit in all.
    let too_long = ":irc.test 905 * :SASL message too long";
    c.send("AUTHENTICATE PLAIN");
    c.expect("AUTHENTICATE +");
    c.send(&format!("AUTHENTICATE {}", "A".repeat(401)));
    c.expect(too_long);
    c.send("AUTHENTICATE PLAIN");
    c.expect("AUTHENTICATE +");
    for _ in 0..3 {
        c.send(&format!("AUTHENTICATE {}", "A".repeat(400)));
    }
    c.send("AUTHENTICATE AAAA");
    c.expect(too_long);
    c.send("AUTHENTICATE");
    c.expect(":irc.test 461 * AUTHENTICATE :Not enough parameters");

    // Registration completes without an account.
    c.send("CAP END");
    welcome(&mut c, "carl");
    let mut bob = Irc::register(addr, "bob");
    assert_eq!(whois_account(&mut bob, "bob", "carl"), None);
    // SASL once registered: numerics carry the nick; a second login is
    // refused.
    sasl_plain(&mut c, "\0ann\0wrongpass");
    c.expect(":irc.test 904 carl :SASL authentication failed");
    sasl_plain(&mut c, "\0ann\0secret123");
    expect_sasl_success(&mut c, "carl", "carl", "ann");
    sasl_plain(&mut c, "\0ann\0secret123");
    c.expect(":irc.test 907 carl :You have already authenticated using SASL");
    assert_eq!(
        whois_account(&mut bob, "bob", "carl").as_deref(),
        Some("ann")
    );
}

/// Credentials longer than one 400-byte piece: the last piece shorter,
/// or an exact 400 followed by `AUTHENTICATE +`.
/// Registration that completes while an exchange is half done aborts it
/// (906, before the welcome), as IRCv3 SASL says.
fn registering_aborts_a_half_done_sasl_exchange(b: Backend) {
    let (_s, addr) = irc_server(b);
    let mut c = sasl_ready(addr, "carl");
    c.send("AUTHENTICATE PLAIN");
    c.expect("AUTHENTICATE +");
    c.send("CAP END");
    c.expect(":irc.test 906 * :SASL authentication aborted");
    welcome(&mut c, "carl");
    // A new exchange starts afresh.
    c.send("AUTHENTICATE PLAIN");
    c.expect("AUTHENTICATE +");
    c.send("AUTHENTICATE *");
    c.expect(":irc.test 906 carl :SASL authentication aborted");
}

fn sasl_credentials_come_in_400_byte_pieces(b: Backend) {
    let (_s, addr) = irc_server(b);
    let password = "p".repeat(256);
    // Authorisation and authentication identities of 30 bytes and the
    // longest password: 318 bytes, 424 in base64.
    let long30 = "a23456789b123456789c123456789d";
    // 21 bytes: 300 bytes, exactly 400 in base64.
    let long21 = "e23456789f123456789g1";
    for name in [long30, long21] {
        let mut c = irc_registered(addr, name, &password);
        c.send("QUIT");
        c.expect("ERROR :Closing link (Quit)");
    }

    let mut c = sasl_ready(addr, "carl");
    let coded = b64(&format!("{long30}\0{long30}\0{password}"));
    assert_eq!(coded.len(), 424);
    c.send("AUTHENTICATE PLAIN");
    c.expect("AUTHENTICATE +");
    c.send(&format!("AUTHENTICATE {}", &coded[..400]));
    // The first piece alone is not answered.
    c.send("PING :one-piece");
    c.expect(":irc.test PONG irc.test :one-piece");
    c.send(&format!("AUTHENTICATE {}", &coded[400..]));
    expect_sasl_success(&mut c, "*", "carl", long30);

    let mut d = sasl_ready(addr, "dave");
    let coded = b64(&format!("{long21}\0{long21}\0{password}"));
    assert_eq!(coded.len(), 400);
    d.send("AUTHENTICATE PLAIN");
    d.expect("AUTHENTICATE +");
    d.send(&format!("AUTHENTICATE {coded}"));
    d.send("PING :exactly-400");
    d.expect(":irc.test PONG irc.test :exactly-400");
    d.send("AUTHENTICATE +");
    expect_sasl_success(&mut d, "*", "dave", long21);
    for (mut c, nick) in [(c, "carl"), (d, "dave")] {
        c.send("CAP END");
        welcome(&mut c, nick);
    }
}

fn register_creates_an_account_named_for_the_nick(b: Backend) {
    let (_s, addr) = irc_server(b);
    // Before registration: the connection must be complete first.
    let mut early = Irc::open(addr);
    early.send("REGISTER * * secret123");
    early.expect(
        ":irc.test FAIL REGISTER COMPLETE_CONNECTION_REQUIRED :Complete the connection first",
    );
    // As the spec says, it tries again after the welcome.
    early.send("NICK early");
    early.send("USER early 0 * :Early");
    welcome(&mut early, "early");
    early.send("REGISTER * * secret123");
    early.expect(":irc.test REGISTER SUCCESS early :Account created");
    early
        .expect(":irc.test 900 early early!early@user/early early :You are now logged in as early");

    let mut ann = Irc::register(addr, "ann");
    ann.send("REGISTER ann * short");
    ann.expect(
        ":irc.test FAIL REGISTER UNACCEPTABLE_PASSWORD ann :Passwords are 8 to 256 bytes without control characters",
    );
    ann.send("REGISTER bob * secret123");
    ann.expect(
        ":irc.test FAIL REGISTER ACCOUNT_NAME_MUST_BE_NICK ann :The account name must be your nick",
    );
    ann.send("REGISTER ann");
    ann.expect(":irc.test 461 ann REGISTER :Not enough parameters");
    // The account may be named, in any case, or `*`; the email is not
    // needed and not kept.
    ann.send("REGISTER ANN ann@example.org secret123");
    ann.expect(":irc.test REGISTER SUCCESS ann :Account created");
    ann.expect(":irc.test 900 ann ann!ann@user/ann ann :You are now logged in as ann");
    ann.send("REGISTER * * secret123");
    ann.expect(
        ":irc.test FAIL REGISTER ALREADY_AUTHENTICATED ann :You are already logged in as ann",
    );
    let mut bob = Irc::register(addr, "bob");
    assert_eq!(
        whois_account(&mut bob, "bob", "ann").as_deref(),
        Some("ann")
    );

    // Logged out, ann keeps the nick; the name is taken as an account.
    ann.send("NS LOGOUT");
    ann.expect(":NickServ!NickServ@services NOTICE ann :You are now logged out");
    ann.expect(":irc.test 901 ann ann!ann@user/ann :You are now logged out");
    ann.send("REGISTER * * another123");
    ann.expect(":irc.test FAIL REGISTER ACCOUNT_EXISTS ann :That name is registered already");
    assert_eq!(whois_account(&mut bob, "bob", "ann"), None);

    // Guest names are the server's, and so is NickServ's.
    bob.send("NICK guest-77");
    bob.expect(":bob!bob@user/bob NICK :guest-77");
    bob.send("REGISTER * * secret123");
    bob.expect(
        ":irc.test FAIL REGISTER BAD_ACCOUNT_NAME guest-77 :guest-77 cannot be registered: choose your own nick first",
    );
}

both_backends!(
    registering_aborts_a_half_done_sasl_exchange,
    sasl_plain_logs_in_before_registration,
    sasl_sent_in_one_burst_completes_before_the_welcome,
    sasl_failures_are_answered_and_registration_goes_on,
    sasl_credentials_come_in_400_byte_pieces,
    register_creates_an_account_named_for_the_nick,
);
