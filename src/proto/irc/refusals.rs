//! Refusals in IRC form: the numeric (4xx, 410), `FAIL` or notice that
//! tells a client why a command was not carried out.

use super::message::write;
use super::replies::{chan, notice, To};
use crate::proto::{Refusal, Usage};

/// Appends the numeric (or notice) for a refusal.
pub(super) fn refusal(r: &Refusal, to: &To<'_>, out: &mut Vec<u8>) {
    let (srv, me) = (to.srv, to.me);
    let num = |out: &mut Vec<u8>, code: &str, params: &[&str], text: Option<&str>| {
        to.numeric(out, code, params, text)
    };
    match r {
        Refusal::SlowDown => notice(out, srv, me, "slow down: lines are being dropped"),
        Refusal::PresenceSlowDown => notice(out, srv, me, "slow down: LIST is limited"),
        Refusal::LineTooLong { .. } => num(out, "417", &[], Some("Input line was too long")),
        Refusal::InvalidUtf8 => notice(out, srv, me, "invalid UTF-8: line dropped"),
        Refusal::Usage(Usage::Nick) | Refusal::NoNickGiven => {
            num(out, "431", &[], Some("No nickname given"))
        }
        Refusal::Usage(u) => {
            let cmd = match u {
                Usage::Me | Usage::Msg => "PRIVMSG",
                Usage::Nick => "NICK",
                Usage::Join => "JOIN",
                Usage::Mode => "MODE",
                Usage::Kick => "KICK",
                Usage::Register => "REGISTER",
                Usage::Identify | Usage::Password | Usage::Drop => "NICKSERV",
            };
            num(out, "461", &[cmd], Some("Not enough parameters"))
        }
        Refusal::UnknownCommand(cmd) | Refusal::UnknownIrcCommand(cmd) => {
            num(out, "421", &[cmd], Some("Unknown command"))
        }
        Refusal::InvalidNick(_) | Refusal::GuestNick => {
            num(out, "432", &["*"], Some("Erroneous nickname"))
        }
        Refusal::AlreadyNick(_) | Refusal::AlreadyInRoom(_) => {}
        Refusal::NickTaken(n) => num(out, "433", &[n], Some("Nickname is already in use")),
        Refusal::NickChangePending => notice(out, srv, me, "a nick change is already under way"),
        Refusal::NickUnconfirmed(n) => num(
            out,
            "437",
            &[n],
            Some("Nick/channel is temporarily unavailable"),
        ),
        Refusal::NoSuchUser(n) | Refusal::NoSuchUserHere(n) => {
            num(out, "401", &[n], Some("No such nick/channel"))
        }
        Refusal::InvalidRoom(_) => num(out, "403", &["*"], Some("No such channel")),
        Refusal::NotInRoom(room) => num(
            out,
            "442",
            &[&chan(room)],
            Some("You're not on that channel"),
        ),
        Refusal::NotRegistered => num(out, "451", &[], Some("You have not registered")),
        Refusal::AlreadyRegistered => num(out, "462", &[], Some("You may not reregister")),
        Refusal::NeedMoreParams(cmd) => num(out, "461", &[cmd], Some("Not enough parameters")),
        Refusal::NoRecipient(cmd) => {
            let text = format!("No recipient given ({cmd})");
            num(out, "411", &[], Some(&text))
        }
        Refusal::NoTextToSend => num(out, "412", &[], Some("No text to send")),
        Refusal::Banned(room) => num(out, "474", &[&chan(room)], Some("Cannot join channel (+b)")),
        Refusal::Moderated(room) => num(out, "404", &[&chan(room)], Some("Cannot send to channel")),
        Refusal::UnknownMode(c) => {
            let c = c.to_string();
            num(out, "472", &[&c], Some("is unknown mode char to me"))
        }
        Refusal::TargetNotInRoom(nick, room) => num(
            out,
            "441",
            &[nick, &chan(room)],
            Some("They aren't on that channel"),
        ),
        Refusal::NotRoomOperator(room) => num(
            out,
            "482",
            &[&chan(room)],
            Some("You're not channel operator"),
        ),
        Refusal::NoSuchRoom(room) => num(out, "403", &[&chan(room)], Some("No such channel")),
        Refusal::AlreadyMember(nick, room) => num(
            out,
            "443",
            &[nick, &chan(room)],
            Some("is already on channel"),
        ),
        Refusal::NoRoom => notice(out, srv, me, "you are in no channel: JOIN one first"),
        Refusal::NotOperator => num(
            out,
            "481",
            &[],
            Some("Permission Denied- You're not an IRC operator"),
        ),
        Refusal::NoOperAccount => num(out, "491", &[], Some("No O-lines for your host")),
        Refusal::PasswordRequired | Refusal::WrongPassword => {
            num(out, "464", &[], Some("Password incorrect"))
        }
        Refusal::NoPasswordNeeded => {}
        Refusal::InviteOnly(_)
        | Refusal::BadKey(_)
        | Refusal::RoomFull(_)
        | Refusal::CannotSend(_)
        | Refusal::TooManyRooms(_)
        | Refusal::BadRoomMask(..)
        | Refusal::InvalidModeParam { .. }
        | Refusal::ModeNeedsParam(_)
        | Refusal::UsersDontMatch
        | Refusal::UnknownUserMode => super::mode_replies::refusal(r, srv, me, out),
        Refusal::InvalidCapCommand(sub) => num(out, "410", &[sub], Some("Invalid CAP command")),
        Refusal::NickRegistered(n) => num(
            out,
            "433",
            &[n],
            Some("Nickname is registered: identify first (SASL or NickServ)"),
        ),
        Refusal::BadPassword
        | Refusal::NotLoggedIn
        | Refusal::AlreadyLoggedIn(_)
        | Refusal::GuestAccount(_)
        | Refusal::AccountNotNick(_)
        | Refusal::LoginWait(_) => {
            super::accounts::refusal(crate::store::Via::NickServ, r, to, out)
        }
        // ERROR says it.
        Refusal::TooManyFailures => {}
        Refusal::History { code, target, why } => {
            let mut parts = vec!["FAIL", "CHATHISTORY", code];
            parts.extend(target.split(' '));
            write(out, srv, &parts, Some(why))
        }
        Refusal::RegisterAfterConnecting => write(
            out,
            srv,
            &["FAIL", "REGISTER", "COMPLETE_CONNECTION_REQUIRED"],
            Some("Complete the connection first"),
        ),
        Refusal::InvalidRealname => write(
            out,
            srv,
            &["FAIL", "SETNAME", "INVALID_REALNAME"],
            Some("Realname is not valid"),
        ),
    }
}
