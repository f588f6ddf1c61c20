//! Accounts over IRC: SASL PLAIN (`AUTHENTICATE`), IRCv3
//! `draft/account-registration` (`REGISTER`) and the NickServ service
//! user, decoded into the server's account requests; their answers as
//! 900-908 numerics, `REGISTER SUCCESS` / `FAIL REGISTER`, and notices
//! from NickServ (docs/accounts.md).

use std::borrow::Cow;

use base64::Engine;

use super::message::write;
use super::render::prefix;
use super::replies::To;
use super::IrcSession;
use crate::proto::{AccountRequest, Refusal, Reply, Request};
use crate::store::{AuthError, Outcome, Via};

/// The service's nick, and its prefix on the notices it sends.
pub(crate) const NICKSERV: &str = "NickServ";
const NICKSERV_PREFIX: &str = "NickServ!NickServ@services";
/// SASL credentials come in base64 pieces of at most this many bytes.
const SASL_PIECE: usize = 400;
/// The longest SASL PLAIN credentials taken (base64).
const SASL_MAX: usize = 1200;

impl IrcSession {
    /// `AUTHENTICATE`: SASL PLAIN, one step at a time.
    pub(super) fn authenticate<'a>(
        &mut self,
        arg: &str,
        registered: bool,
    ) -> Option<Result<Request<'a>, Reply>> {
        let Some(buf) = &mut self.sasl else {
            if arg.eq_ignore_ascii_case("PLAIN") {
                self.sasl = Some(String::new());
                return Some(Err(Reply::SaslContinue));
            }
            if arg == "*" {
                return Some(Err(Reply::SaslAborted));
            }
            return Some(Err(Reply::SaslMechanisms));
        };
        if arg == "*" {
            self.sasl = None;
            return Some(Err(Reply::SaslAborted));
        }
        if arg != "+" {
            buf.push_str(arg);
        }
        if buf.len() > SASL_MAX || arg.len() > SASL_PIECE {
            self.sasl = None;
            return Some(Err(Reply::SaslTooLong));
        }
        if arg.len() == SASL_PIECE {
            return None; // more pieces follow
        }
        let data = self.sasl.take().unwrap_or_default();
        match plain(&data) {
            Some((name, password)) => {
                // Only a registration still to come waits for the answer.
                self.sasl_busy = !registered;
                Some(Ok(Request::Account {
                    req: AccountRequest::Identify {
                        name: Some(Cow::Owned(name)),
                        password: Cow::Owned(password),
                    },
                    via: Via::Sasl,
                }))
            }
            None => Some(Err(Reply::SaslFailed)),
        }
    }
}

/// The account and password in SASL PLAIN credentials
/// (`authzid NUL authcid NUL password`, base64): the authorisation
/// identity must be empty or the same account.
fn plain(data: &str) -> Option<(String, String)> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(data)
        .ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let mut parts = text.split('\0');
    let (authz, authc, password) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || authc.is_empty() {
        return None;
    }
    if !authz.is_empty() && !authz.eq_ignore_ascii_case(authc) {
        return None;
    }
    Some((authc.to_string(), password.to_string()))
}

/// `REGISTER <account> <email|*> <password>`.
pub(super) fn register<'a>(params: &[&'a str]) -> Result<Request<'a>, Reply> {
    let [account, _email, password, ..] = params else {
        return Err(Reply::Refused(Refusal::NeedMoreParams("REGISTER".into())));
    };
    let name = (*account != "*").then_some(Cow::Borrowed(*account));
    Ok(Request::Account {
        req: AccountRequest::Register {
            name,
            password: Cow::Borrowed(password),
        },
        via: Via::Register,
    })
}

/// Whether a PRIVMSG target is the NickServ service.
pub(super) fn is_nickserv(target: &str) -> bool {
    let name = target.split('@').next().unwrap_or(target);
    name.eq_ignore_ascii_case(NICKSERV) || name.eq_ignore_ascii_case("NS")
}

/// A message to NickServ: `REGISTER <password> [email]`,
/// `IDENTIFY [account] <password>`, `LOGOUT`, `DROP <password>`,
/// `PASSWORD <old> <new>`, `HELP`.
pub(super) fn nickserv<'a>(parts: &[&'a str]) -> Result<Request<'a>, Reply> {
    let words: Vec<&'a str> = parts.iter().flat_map(|p| p.split_whitespace()).collect();
    let Some((cmd, args)) = words.split_first() else {
        return Err(Reply::NickServHelp(None));
    };
    let is = |w: &str| cmd.eq_ignore_ascii_case(w);
    let req = if is("REGISTER") && !args.is_empty() {
        AccountRequest::Register {
            name: None,
            password: Cow::Borrowed(args[0]),
        }
    } else if is("IDENTIFY") && args.len() == 1 {
        AccountRequest::Identify {
            name: None,
            password: Cow::Borrowed(args[0]),
        }
    } else if is("IDENTIFY") && args.len() == 2 {
        AccountRequest::Identify {
            name: Some(Cow::Borrowed(args[0])),
            password: Cow::Borrowed(args[1]),
        }
    } else if is("LOGOUT") {
        AccountRequest::Logout
    } else if is("DROP") && args.len() == 1 {
        AccountRequest::Drop { password: args[0] }
    } else if is("PASSWORD") && args.len() == 2 {
        AccountRequest::Password {
            old: args[0],
            new: args[1],
        }
    } else if is("HELP") {
        return Err(Reply::NickServHelp(None));
    } else {
        let cmd = crate::protocol::sanitize(cmd).to_ascii_uppercase();
        return Err(Reply::NickServHelp(Some(cmd.into())));
    };
    Ok(Request::Account {
        req,
        via: Via::NickServ,
    })
}

/// A notice from NickServ to `me`.
pub(super) fn from_nickserv(out: &mut Vec<u8>, me: &str, text: &str) {
    write(out, NICKSERV_PREFIX, &["NOTICE", me], Some(text));
}

/// `900`: `nick` is logged in as `account`.
fn logged_in(out: &mut Vec<u8>, to: &To<'_>, nick: &str, account: &str) {
    let text = format!("You are now logged in as {account}");
    to.numeric(out, "900", &[&prefix(nick), account], Some(&text));
}

/// Appends what an account command came to, for the client `nick`.
pub(super) fn outcome(via: Via, outcome: &Outcome, to: &To<'_>, nick: &str, out: &mut Vec<u8>) {
    let me = to.me;
    match (outcome, via) {
        (Outcome::Registered(a), Via::Register) => {
            write(
                out,
                to.srv,
                &["REGISTER", "SUCCESS", a],
                Some("Account created"),
            );
            logged_in(out, to, nick, a);
        }
        (Outcome::Registered(a), _) => {
            from_nickserv(
                out,
                me,
                &format!("Nickname {a} registered; you are logged in"),
            );
            logged_in(out, to, nick, a);
        }
        (Outcome::LoggedIn(a), Via::Sasl) => {
            logged_in(out, to, nick, a);
            to.numeric(out, "903", &[], Some("SASL authentication successful"));
        }
        (Outcome::LoggedIn(a), _) => {
            from_nickserv(out, me, &format!("You are now identified for {a}"));
            logged_in(out, to, nick, a);
        }
        (Outcome::PasswordChanged, _) => from_nickserv(out, me, "Password changed"),
        (Outcome::Dropped(a), _) => {
            from_nickserv(out, me, &format!("Account {a} dropped"));
            logged_out(out, to);
        }
        (Outcome::Refused(e), via) => refused(via, &auth_refusal(*e), to, out),
    }
}

/// `901`: logged out.
pub(super) fn logged_out(out: &mut Vec<u8>, to: &To<'_>) {
    to.numeric(
        out,
        "901",
        &[&prefix(to.me)],
        Some("You are now logged out"),
    );
}

/// The refusal an account thread's error is, for the shared renderers.
fn auth_refusal(e: AuthError) -> AccountFailure {
    match e {
        AuthError::Taken => AccountFailure::Taken,
        AuthError::Invalid => AccountFailure::Invalid,
        AuthError::Throttled(s) => AccountFailure::Wait(s),
        AuthError::Unavailable => AccountFailure::Unavailable,
    }
}

/// Every way an account command fails, as IRC says it.
enum AccountFailure {
    Taken,
    Invalid,
    Wait(u64),
    Unavailable,
    Other(Refusal),
}

/// Appends an account command's refusal, said the way it was asked.
pub(super) fn refusal(via: Via, why: &Refusal, to: &To<'_>, out: &mut Vec<u8>) {
    let failure = match why {
        Refusal::LoginWait(s) => AccountFailure::Wait(*s),
        other => AccountFailure::Other(other.clone()),
    };
    refused(via, &failure, to, out);
}

fn refused(via: Via, why: &AccountFailure, to: &To<'_>, out: &mut Vec<u8>) {
    let me = to.me;
    let text: Cow<'static, str> = match why {
        AccountFailure::Taken => "That name is registered already".into(),
        AccountFailure::Invalid => "Invalid account or password".into(),
        AccountFailure::Wait(s) => format!("Too many wrong passwords: wait {s}s").into(),
        AccountFailure::Unavailable => "Accounts are unavailable right now".into(),
        AccountFailure::Other(Refusal::BadPassword) => {
            "Passwords are 8 to 256 bytes without control characters".into()
        }
        AccountFailure::Other(Refusal::NotLoggedIn) => "You are not logged in".into(),
        AccountFailure::Other(Refusal::AlreadyLoggedIn(a)) => {
            format!("You are already logged in as {a}").into()
        }
        AccountFailure::Other(Refusal::GuestAccount(n)) => {
            format!("{n} cannot be registered: choose your own nick first").into()
        }
        AccountFailure::Other(Refusal::AccountNotNick(_)) => {
            "The account name must be your nick".into()
        }
        AccountFailure::Other(_) => "Refused".into(),
    };
    match via {
        Via::Sasl => match why {
            AccountFailure::Other(Refusal::AlreadyLoggedIn(_)) => to.numeric(
                out,
                "907",
                &[],
                Some("You have already authenticated using SASL"),
            ),
            AccountFailure::Wait(_) => {
                // 904 alone would not say why, nor for how long.
                super::replies::notice(out, to.srv, me, &text);
                to.numeric(out, "904", &[], Some("SASL authentication failed"));
            }
            _ => to.numeric(out, "904", &[], Some("SASL authentication failed")),
        },
        Via::Register => {
            let code = match why {
                AccountFailure::Taken => "ACCOUNT_EXISTS",
                AccountFailure::Other(Refusal::AlreadyLoggedIn(_)) => "ALREADY_AUTHENTICATED",
                AccountFailure::Other(Refusal::AccountNotNick(_)) => "ACCOUNT_NAME_MUST_BE_NICK",
                AccountFailure::Other(Refusal::GuestAccount(_)) => "BAD_ACCOUNT_NAME",
                AccountFailure::Other(Refusal::BadPassword) => "UNACCEPTABLE_PASSWORD",
                _ => "TEMPORARILY_UNAVAILABLE",
            };
            write(out, to.srv, &["FAIL", "REGISTER", code, me], Some(&text));
        }
        Via::NickServ | Via::Line => from_nickserv(out, me, &text),
    }
}

/// NickServ's help, or what it says to a command it does not know.
pub(super) fn help(unknown: Option<&str>, me: &str, out: &mut Vec<u8>) {
    if let Some(cmd) = unknown {
        from_nickserv(out, me, &format!("Unknown command {cmd}; try HELP"));
        return;
    }
    for line in [
        "NickServ keeps registered nicks for their owners:",
        "REGISTER <password>          registers your current nick",
        "IDENTIFY [nick] <password>   logs you in (SASL PLAIN works too)",
        "LOGOUT                       logs you out",
        "PASSWORD <old> <new>         changes your password",
        "DROP <password>              deletes your account",
    ] {
        from_nickserv(out, me, line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    #[test]
    fn sasl_plain_credentials_are_read_strictly() {
        assert_eq!(
            plain(&b64("\0ann\0secret12")),
            Some(("ann".into(), "secret12".into()))
        );
        assert_eq!(
            plain(&b64("ann\0ann\0secret12")),
            Some(("ann".into(), "secret12".into()))
        );
        assert_eq!(plain(&b64("bob\0ann\0secret12")), None, "other authzid");
        assert_eq!(plain(&b64("\0\0secret12")), None, "no account");
        assert_eq!(plain(&b64("ann secret12")), None, "not PLAIN");
        assert_eq!(plain("!!!"), None, "not base64");
    }

    #[test]
    fn nickserv_understands_what_users_type_by_habit() {
        assert!(matches!(
            nickserv(&["identify secret12"]),
            Ok(Request::Account {
                req: AccountRequest::Identify { name: None, .. },
                via: Via::NickServ
            })
        ));
        assert!(matches!(
            nickserv(&["REGISTER", "secret12", "ann@example.org"]),
            Ok(Request::Account {
                req: AccountRequest::Register { name: None, .. },
                ..
            })
        ));
        assert!(matches!(
            nickserv(&["HELP"]),
            Err(Reply::NickServHelp(None))
        ));
        assert!(matches!(
            nickserv(&["ghost x"]),
            Err(Reply::NickServHelp(Some(_)))
        ));
        assert!(is_nickserv("nickserv") && is_nickserv("NickServ@services"));
        assert!(!is_nickserv("ann"));
    }
}
