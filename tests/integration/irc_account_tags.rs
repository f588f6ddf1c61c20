//! Accounts as other IRC clients see them: `extended-join` (JOIN with
//! the account, or `*`, and the realname) and `account-tag` (`account=`
//! on what a logged-in user does), each only for the clients that asked.

use std::net::SocketAddr;

use crate::irc::{irc_server, Irc};
use crate::irc_accounts::{account_made_by_line_client, expect_sasl_success, sasl_plain};
use crate::util::Backend;

/// Registers `nick` (realname `real`) with the capabilities `caps`,
/// logged in by SASL to `login` (account, password) if given.
fn client(
    addr: SocketAddr,
    nick: &str,
    real: &str,
    caps: &str,
    login: Option<(&str, &str)>,
) -> Irc {
    let mut c = Irc::open(addr);
    c.send("CAP LS 302");
    assert!(c.line().starts_with(":irc.test CAP * LS :"));
    if !caps.is_empty() {
        c.send(&format!("CAP REQ :{caps}"));
        c.expect(&format!(":irc.test CAP * ACK :{caps}"));
    }
    c.send(&format!("NICK {nick}"));
    c.send(&format!("USER {nick} 0 * :{real}"));
    if let Some((account, password)) = login {
        sasl_plain(&mut c, &format!("\0{account}\0{password}"));
        expect_sasl_success(&mut c, "*", nick, account);
    }
    c.send("CAP END");
    c.until(":irc.test 422 ");
    c
}

/// Joins `#room` and reads through the NAMES that follow; returns the
/// client's own JOIN.
fn join(c: &mut Irc) -> String {
    c.send("JOIN #room");
    let lines = c.until(":irc.test 366 ");
    lines[0].clone()
}

/// `line` without the `@time=...;msgid=...` a tagged client's event
/// starts with (checked to be there), keeping any tags after them.
fn untimed(line: &str) -> String {
    let rest = line
        .strip_prefix("@time=")
        .unwrap_or_else(|| panic!("a time tag: {line:?}"));
    let (_, rest) = rest.split_once(";msgid=").expect("a msgid");
    match rest.split_once([';', ' ']) {
        Some((_, rest)) if rest.starts_with(':') => rest.to_string(),
        Some((_, rest)) => format!("@{rest}"),
        None => panic!("more after the msgid: {line:?}"),
    }
}

fn extended_join_and_account_tag_show_the_account(b: Backend) {
    let (s, addr) = irc_server(b);
    account_made_by_line_client(&s, "ann", "secret123");
    let mut ext = client(addr, "ext", "Ext", "account-tag extended-join", None);
    let mut tags = client(addr, "tags", "Tags", "message-tags", None);
    let mut plain = client(addr, "plain", "Plain", "", None);
    join(&mut ext);
    join(&mut tags);
    assert_eq!(
        untimed(&ext.line()),
        ":tags!tags@user/tags JOIN #room * :Tags"
    );
    join(&mut plain);
    assert_eq!(
        untimed(&ext.line()),
        ":plain!plain@user/plain JOIN #room * :Plain"
    );
    assert_eq!(untimed(&tags.line()), ":plain!plain@user/plain JOIN #room");

    // A logged-in user with extended-join joins: its own JOIN is
    // extended too.
    let login = Some(("ann", "secret123"));
    let mut ann = client(addr, "ann", "Ann Example", "extended-join", login);
    assert_eq!(
        join(&mut ann),
        ":ann!ann@user/ann JOIN #room ann :Ann Example"
    );
    assert_eq!(
        untimed(&ext.line()),
        "@account=ann :ann!ann@user/ann JOIN #room ann :Ann Example"
    );
    assert_eq!(
        untimed(&tags.line()),
        "@account=ann :ann!ann@user/ann JOIN #room"
    );
    plain.expect(":ann!ann@user/ann JOIN #room");

    // What a logged-in user says carries its account to tagged clients.
    ann.send("PRIVMSG #room :hello");
    let said = "@account=ann :ann!ann@user/ann PRIVMSG #room :hello";
    assert_eq!(untimed(&ext.line()), said);
    assert_eq!(untimed(&tags.line()), said);
    plain.expect(":ann!ann@user/ann PRIVMSG #room :hello");
    ann.send("PRIVMSG ext :psst");
    assert_eq!(
        untimed(&ext.line()),
        "@account=ann :ann!ann@user/ann PRIVMSG ext :psst"
    );
    // Not logged in: no account.
    plain.send("PRIVMSG #room :hi");
    let said = ":plain!plain@user/plain PRIVMSG #room :hi";
    assert_eq!(untimed(&ext.line()), said);
    assert_eq!(untimed(&tags.line()), said);
    ann.expect(said);
    // Logged out, no longer.
    ann.send("NS LOGOUT");
    ann.until(":irc.test 901 ");
    ann.send("PRIVMSG #room :bye");
    let said = ":ann!ann@user/ann PRIVMSG #room :bye";
    assert_eq!(untimed(&ext.line()), said);
    assert_eq!(untimed(&tags.line()), said);
    plain.expect(said);
}

both_backends!(extended_join_and_account_tag_show_the_account);
