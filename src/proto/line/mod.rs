//! The line protocol's session: `/commands` and chat text in, `[nick]`
//! chat, `* ` notices and `! ` errors out. docs/protocol.md is the
//! reference; `protocol.rs` holds its parser and line formats.

use std::borrow::Cow;

use crate::codec::Line;
use crate::event::{Body, Event};
use crate::protocol::{self, Command, NickError};
use crate::rooms::RoomNameError;

mod accounts;

use super::{Presence, Refusal, Reply, Request, Scope, Speech, Usage};

/// What every protocol tells a client when a drain begins.
pub(crate) const DRAINING: &str =
    "server restarting: you will be disconnected shortly, please reconnect";

/// Decodes one framed line (see [`super::Session::decode`]).
pub(super) fn decode(line: Line<'_>, max_line: u32) -> Option<Result<Request<'_>, Refusal>> {
    let bytes = match line {
        Line::Complete(b) => b,
        Line::TooLong => return Some(Err(Refusal::LineTooLong { max: max_line })),
    };
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Some(Err(Refusal::InvalidUtf8));
    };
    let request = match protocol::parse(text)? {
        Command::Chat(text) => Request::Say {
            room: None,
            text,
            kind: Speech::Chat,
        },
        Command::Me(Some(text)) => Request::Say {
            room: None,
            text,
            kind: Speech::Action,
        },
        Command::Me(None) => return Some(Err(Refusal::Usage(Usage::Me))),
        Command::Nick(Some(name)) => Request::Nick(name),
        Command::Nick(None) => return Some(Err(Refusal::Usage(Usage::Nick))),
        Command::Join(Some(arg)) => match arg.split_once([' ', '\t']) {
            Some((room, key)) => Request::Move {
                room,
                key: Some(key.trim()),
            },
            None => Request::Move {
                room: arg,
                key: None,
            },
        },
        Command::Join(None) => return Some(Err(Refusal::Usage(Usage::Join))),
        Command::Msg(Some((to, text))) => Request::Private {
            to,
            text,
            notice: false,
        },
        Command::Msg(None) => return Some(Err(Refusal::Usage(Usage::Msg))),
        Command::List => Request::Presence(Presence::List),
        Command::Who => Request::Presence(Presence::Who),
        Command::Rooms => Request::Presence(Presence::Rooms),
        Command::Help => Request::Help,
        Command::Unknown(word) => {
            let word = protocol::sanitize(word).into_owned().into_boxed_str();
            return Some(Err(Refusal::UnknownCommand(word)));
        }
        Command::Quit(reason) => Request::Quit(reason),
        Command::Topic(text) => Request::Topic { room: None, text },
        Command::Kick(Some(arg)) => {
            let (nick, reason) = match arg.split_once([' ', '\t']) {
                Some((nick, reason)) => (nick, Some(protocol::sanitize(reason.trim()))),
                None => (arg, None),
            };
            Request::Kick {
                room: None,
                nick,
                reason: reason.filter(|r| !r.is_empty()),
            }
        }
        Command::Kick(None) => return Some(Err(Refusal::Usage(Usage::Kick))),
        Command::Mode(Some(arg)) => {
            let (room, change) = match arg.split_once([' ', '\t']) {
                Some((room, change)) => (room, Some(Cow::Borrowed(change.trim()))),
                None => (arg, None),
            };
            Request::RoomModes { room, change }
        }
        Command::Mode(None) => return Some(Err(Refusal::Usage(Usage::Mode))),
        Command::Pass(Some(pw)) => Request::Pass(pw),
        Command::Pass(None) => return Some(Err(Refusal::PasswordRequired)),
        Command::Account(which, arg) => return Some(accounts::decode(which, arg)),
    };
    Some(Ok(request))
}

/// Appends event `e` of room `room` as a line. Texts from IRC clients
/// may hold IRC formatting codes; they are removed here.
pub(crate) fn render_event(room: &str, e: &Event<'_>, out: &mut Vec<u8>) {
    use protocol::strip_formatting as plain;
    let nick = e.nick;
    match e.body {
        Body::Chat { text } | Body::Notice { text } => {
            protocol::write_chat(out, nick, &plain(text))
        }
        Body::Action { text } => protocol::write_notice(out, &[nick, " ", &plain(text)]),
        Body::Join => protocol::write_notice(out, &[nick, " joined #", room]),
        Body::Part { reason } | Body::Quit { reason } => {
            let reason = reason.map(plain);
            protocol::write_left(out, nick, room, reason.as_deref())
        }
        Body::Nick { new } => protocol::write_notice(out, &[nick, " is now ", new]),
        Body::Topic { text } => protocol::write_notice(
            out,
            &[nick, " set the topic of #", room, ": ", &plain(text)],
        ),
        Body::Kick { target, reason } => match reason {
            Some(r) => protocol::write_notice(
                out,
                &[
                    nick,
                    " removed ",
                    target,
                    " from #",
                    room,
                    " (",
                    &plain(r),
                    ")",
                ],
            ),
            None => protocol::write_notice(out, &[nick, " removed ", target, " from #", room]),
        },
        Body::Mode { change } => {
            protocol::write_notice(out, &[nick, " set mode ", change, " on #", room])
        }
        Body::Private { to, text } | Body::PrivateNotice { to, text } => {
            protocol::write_private(out, nick, to, &plain(text))
        }
        Body::ServerNotice { text } => protocol::write_notice(out, &[&plain(text)]),
        // IRCv3 extensions: line clients are sent none of them.
        Body::TagMsg
        | Body::PrivateTagMsg { .. }
        | Body::Away { .. }
        | Body::Setname { .. }
        | Body::Invite { .. }
        | Body::ExtJoin { .. } => {}
    }
}

/// Appends `reply` as the line protocol writes it.
pub(super) fn render_reply(reply: &Reply, out: &mut Vec<u8>) {
    match reply {
        Reply::Welcome { nick, .. } => protocol::write_notice(out, &["welcome ", nick]),
        Reply::Joined { room, users, .. } => protocol::write_notice(
            out,
            &["you joined #", room, " (", &users.to_string(), " users)"],
        ),
        Reply::NickChanged { nick, .. } => protocol::write_notice(out, &["you are now ", nick]),
        // The line protocol never asks for these: it moves between rooms
        // (the join says so), and has no keep-alive or capabilities.
        Reply::Topic { room, topic } => match topic {
            Some(t) => protocol::write_notice(
                out,
                &[
                    "topic of #",
                    room,
                    ": ",
                    &protocol::strip_formatting(&t.text),
                    " (set by ",
                    &t.by,
                    ")",
                ],
            ),
            None => protocol::write_notice(out, &["no topic is set for #", room]),
        },
        Reply::RoomModes { room, modes, .. } => {
            protocol::write_notice(out, &["modes of #", room, ": ", modes])
        }
        Reply::Bans { room, bans } if bans.is_empty() => {
            protocol::write_notice(out, &["no bans in #", room])
        }
        Reply::Bans { room, bans } => {
            let masks: Vec<&str> = bans.iter().map(|b| &*b.mask).collect();
            protocol::write_notice(out, &["bans of #", room, ": ", &masks.join(", ")])
        }
        Reply::ModeSet { room, change } => {
            protocol::write_notice(out, &["you set mode ", change, " on #", room])
        }
        Reply::KickDone { room, target, .. } => {
            protocol::write_notice(out, &["you removed ", target, " from #", room])
        }
        Reply::Invited { from, room } => {
            protocol::write_notice(out, &[from, " invites you to #", room])
        }
        Reply::Inviting { nick, room } => {
            protocol::write_notice(out, &["you invited ", nick, " to #", room])
        }
        Reply::TopicSet { room, text } => {
            let text = protocol::strip_formatting(text);
            protocol::write_notice(out, &["you set the topic of #", room, ": ", &text])
        }
        Reply::Parted { .. }
        | Reply::Names { .. }
        | Reply::Who { .. }
        | Reply::Whois(_)
        | Reply::Online { .. }
        | Reply::Counts { .. }
        | Reply::Away(_)
        | Reply::Oper
        | Reply::Whowas { .. }
        | Reply::Motd
        | Reply::Info
        | Reply::IrcHelp
        | Reply::Wallops { .. }
        | Reply::IsAway { .. }
        | Reply::UserModes(_)
        | Reply::UserModesChanged(_)
        | Reply::Version
        | Reply::Time
        | Reply::Pong(_)
        | Reply::Ping
        | Reply::Caps(_)
        | Reply::Setname(_)
        | Reply::Closing(_) => {}
        Reply::Killed(why) => out.extend_from_slice(&protocol::error(&["disconnected: ", why])),
        Reply::Bye => protocol::write_notice(out, &["bye"]),
        Reply::ShuttingDown => protocol::write_notice(out, &["server shutting down"]),
        Reply::Draining => protocol::write_notice(out, &[DRAINING]),
        Reply::Help => out.extend_from_slice(protocol::HELP.as_bytes()),
        Reply::Users {
            scope,
            first,
            total,
        } => {
            let scope = match scope {
                Scope::Room(name) => format!("in #{name}"),
                Scope::Online => "online".to_string(),
            };
            out.extend_from_slice(&protocol::users_reply(&scope, first, *total));
        }
        Reply::Rooms(rooms) => out.extend_from_slice(&protocol::rooms_reply(rooms)),
        Reply::Account { outcome, .. } => accounts::render_outcome(outcome, out),
        Reply::AccountRefused { why, .. } => render_refusal(why, out),
        Reply::LoggedOut(_) => protocol::write_notice(out, &["you are logged out"]),
        Reply::History { room, lines, .. } => accounts::render_history(room, lines, out),
        // IRC's SASL, NickServ and CHATHISTORY: never asked by line clients.
        Reply::SaslContinue
        | Reply::SaslMechanisms
        | Reply::SaslAborted
        | Reply::SaslFailed
        | Reply::SaslTooLong
        | Reply::SaslAlready
        | Reply::IdentifyOrRenamed { .. }
        | Reply::RenamedUnidentified { .. }
        | Reply::NickServHelp(_)
        | Reply::HistoryTargets(_) => {}
        Reply::Refused(r) => render_refusal(r, out),
    }
}

fn render_refusal(r: &Refusal, out: &mut Vec<u8>) {
    let error = |out: &mut Vec<u8>, parts: &[&str]| out.extend_from_slice(&protocol::error(parts));
    if accounts::render_refusal(r, out) {
        return;
    }
    match r {
        Refusal::SlowDown => error(out, &["slow down"]),
        Refusal::PresenceSlowDown => error(
            out,
            &["slow down: /list, /who and /rooms are limited to 5 at once, then 1 per second"],
        ),
        Refusal::LineTooLong { max } => {
            error(out, &["line too long (max ", &max.to_string(), " bytes)"])
        }
        Refusal::InvalidUtf8 => error(out, &["invalid UTF-8"]),
        Refusal::Usage(u) => error(
            out,
            &[match u {
                Usage::Me => "usage: /me <action>",
                Usage::Msg => "usage: /msg <nick> <text>",
                Usage::Nick => "usage: /nick <name>",
                Usage::Join => "usage: /join #<room>",
                Usage::Mode => "usage: /mode #<room> [+/-modes [nicks or masks]]",
                Usage::Kick => "usage: /kick <nick> [reason]",
                u => accounts::usage(*u).unwrap_or("usage: /help"),
            }],
        ),
        Refusal::UnknownCommand(word) => error(out, &["unknown command: /", word]),
        Refusal::InvalidNick(e) => error(
            out,
            &[match e {
                NickError::Empty | NickError::BadChar => {
                    "invalid nick: use 1-32 characters of A-Z a-z 0-9 _ -"
                }
                NickError::TooLong => "invalid nick: at most 32 characters",
            }],
        ),
        Refusal::GuestNick => error(
            out,
            &["invalid nick: guest- names are given out by the server"],
        ),
        Refusal::AlreadyNick(nick) => error(out, &["you are already ", nick]),
        Refusal::NickTaken(nick) => error(out, &["nick taken: ", nick]),
        Refusal::NickChangePending => error(out, &["a nick change is already under way"]),
        Refusal::NickUnconfirmed(nick) => error(
            out,
            &["cannot change nick now, the cluster is unavailable: ", nick],
        ),
        Refusal::NoSuchUser(nick) => error(out, &["no such user: ", nick]),
        Refusal::NoSuchUserHere(nick) => error(
            out,
            &["no such user here, and the cluster is unavailable: ", nick],
        ),
        Refusal::InvalidRoom(e) => error(
            out,
            &[match e {
                RoomNameError::MissingHash => {
                    "invalid room name: rooms start with #, as in /join #lobby"
                }
                RoomNameError::TooLong => "invalid room name: at most 32 characters after #",
                RoomNameError::Empty | RoomNameError::BadChar => {
                    "invalid room name: use # and 1-32 characters of A-Z a-z 0-9 _ -"
                }
            }],
        ),
        Refusal::AlreadyInRoom(room) => error(out, &["you are already in #", room]),
        Refusal::NotInRoom(room) => error(out, &["you are not in #", room]),
        // Refusals of other protocols' commands, which line clients cannot
        // send; written plainly should one ever reach them.
        Refusal::NotRegistered => error(out, &["register first"]),
        Refusal::AlreadyRegistered => error(out, &["already registered"]),
        Refusal::NeedMoreParams(cmd) | Refusal::NoRecipient(cmd) => {
            error(out, &["not enough parameters: ", cmd])
        }
        Refusal::NoTextToSend => error(out, &["no text to send"]),
        Refusal::NoNickGiven => error(out, &["usage: /nick <name>"]),
        Refusal::UnknownIrcCommand(cmd) => error(out, &["unknown command: /", cmd]),
        Refusal::NotRoomOperator(room) => error(out, &["you are not an operator of #", room]),
        Refusal::Banned(room) => error(out, &["banned from #", room]),
        Refusal::Moderated(room) => error(
            out,
            &["#", room, " is moderated: only voiced users may speak"],
        ),
        Refusal::UnknownMode(c) => error(out, &["unknown mode: ", c.encode_utf8(&mut [0; 4])]),
        Refusal::TargetNotInRoom(nick, room) => error(out, &[nick, " is not in #", room]),
        Refusal::NoSuchRoom(room) => error(out, &["no such room: #", room]),
        Refusal::PasswordRequired => error(
            out,
            &["this server needs a password: send /pass <password> first"],
        ),
        Refusal::WrongPassword => error(out, &["wrong password"]),
        Refusal::NotOperator => error(out, &["only operators may do that"]),
        Refusal::NoRoom => error(out, &["you are in no room: /join #<room>"]),
        Refusal::AlreadyMember(nick, room) => error(out, &[nick, " is already in #", room]),
        Refusal::NoOperAccount => error(out, &["no such operator account"]),
        Refusal::NoPasswordNeeded => error(out, &["no password is needed now"]),
        Refusal::InviteOnly(room) => error(
            out,
            &["#", room, " is invite only: an operator must invite you"],
        ),
        Refusal::BadKey(room) => {
            error(out, &["#", room, " needs its key: /join #", room, " <key>"])
        }
        Refusal::RoomFull(room) => error(out, &["#", room, " is full"]),
        Refusal::CannotSend(room) => error(out, &["you cannot send to #", room]),
        Refusal::TooManyRooms(room) => error(out, &["too many rooms to join #", room]),
        Refusal::BadRoomMask(_, e) => render_refusal(&Refusal::InvalidRoom(*e), out),
        Refusal::InvalidModeParam {
            mode, param, why, ..
        } => error(
            out,
            &[
                "invalid parameter for +",
                mode.encode_utf8(&mut [0; 4]),
                ": ",
                param,
                " (",
                why,
                ")",
            ],
        ),
        Refusal::ModeNeedsParam(mode) => error(
            out,
            &[
                "mode +",
                mode.encode_utf8(&mut [0; 4]),
                " needs a parameter",
            ],
        ),
        Refusal::UsersDontMatch => error(out, &["you can only ask for your own modes"]),
        // Only IRC clients can change user modes.
        Refusal::UnknownUserMode => {}
        // Only IRC clients can send what these refuse.
        Refusal::InvalidCapCommand(_)
        | Refusal::InvalidRealname
        | Refusal::RegisterAfterConnecting => {}
        // Said by `accounts.rs`.
        Refusal::NickRegistered(_)
        | Refusal::BadPassword
        | Refusal::NotLoggedIn
        | Refusal::AlreadyLoggedIn(_)
        | Refusal::GuestAccount(_)
        | Refusal::AccountNotNick(_)
        | Refusal::LoginWait(_)
        | Refusal::TooManyFailures
        | Refusal::History { .. } => {}
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;
    use std::sync::Arc;

    use super::*;
    use crate::event::MsgId;
    use crate::frame::{ChunkBuilder, ClientId};
    use crate::proto::testing::delivered;
    use crate::proto::Form;
    use crate::rooms::RoomId;

    fn event<'a>(user: u64, nick: &'a str, body: Body<'a>) -> Event<'a> {
        Event {
            id: MsgId {
                shard: 0,
                seq: user,
            },
            time_ms: 0,
            user: ClientId(user),
            nick,
            body,
        }
    }

    fn rendered(e: &Event<'_>) -> String {
        let mut out = Vec::new();
        render_event("lobby", e, &mut out);
        String::from_utf8(out).expect("UTF-8")
    }

    #[test]
    fn events_render_as_the_line_protocol_always_wrote_them() {
        let cases = [
            (Body::Chat { text: "hi" }, "[ann] hi\n"),
            (Body::Action { text: "waves" }, "* ann waves\n"),
            (Body::Join, "* ann joined #lobby\n"),
            (Body::Part { reason: None }, "* ann left #lobby\n"),
            (
                Body::Quit {
                    reason: Some("slow consumer"),
                },
                "* ann left #lobby (slow consumer)\n",
            ),
            (Body::Nick { new: "bob" }, "* ann is now bob\n"),
            (
                Body::Private {
                    to: "bob",
                    text: "psst",
                },
                "[ann -> bob] psst\n",
            ),
            (Body::ServerNotice { text: "hello" }, "* hello\n"),
            (
                Body::Topic { text: "rust" },
                "* ann set the topic of #lobby: rust\n",
            ),
            (
                Body::Kick {
                    target: "eve",
                    reason: Some("spam"),
                },
                "* ann removed eve from #lobby (spam)\n",
            ),
            (
                Body::Mode { change: "+o bob" },
                "* ann set mode +o bob on #lobby\n",
            ),
        ];
        for (body, want) in cases {
            assert_eq!(rendered(&event(1, "ann", body)), want);
        }
    }

    #[test]
    fn lines_decode_into_requests() {
        let d = |s: &'static str| decode(Line::Complete(s.as_bytes()), 512);
        assert_eq!(
            d("hello"),
            Some(Ok(Request::Say {
                room: None,
                text: Cow::Borrowed("hello"),
                kind: Speech::Chat
            }))
        );
        assert_eq!(
            d("/join #a"),
            Some(Ok(Request::Move {
                room: "#a",
                key: None
            }))
        );
        assert_eq!(
            d("/join #a  s3cret "),
            Some(Ok(Request::Move {
                room: "#a",
                key: Some("s3cret")
            }))
        );
        assert_eq!(d("/me"), Some(Err(Refusal::Usage(Usage::Me))));
        assert_eq!(
            d("/x\x1by"),
            Some(Err(Refusal::UnknownCommand("xy".into())))
        );
        assert_eq!(d("  "), None);
        assert_eq!(
            decode(Line::TooLong, 512),
            Some(Err(Refusal::LineTooLong { max: 512 }))
        );
        assert_eq!(
            decode(Line::Complete(b"\xff"), 512),
            Some(Err(Refusal::InvalidUtf8))
        );
    }

    #[test]
    fn a_chunk_renders_once_per_pass_for_any_number_of_recipients() {
        let mut b = ChunkBuilder::new(RoomId(1), "lobby");
        b.push(&event(1, "ann", Body::Chat { text: "one" }));
        b.push(&event(2, "bob", Body::Join));
        b.push(&event(1, "ann", Body::Action { text: "waves" }));
        let chunks = [Arc::new(b.take())];
        assert_eq!(chunks[0].renders(Form::Line), 0);
        for to in 1..=1000 {
            let got = delivered(Form::Line, &chunks, to);
            let want: &[u8] = match to {
                1 => b"* bob joined #lobby\n",
                2 => b"[ann] one\n* ann waves\n",
                _ => b"[ann] one\n* bob joined #lobby\n* ann waves\n",
            };
            assert_eq!(got, want, "recipient {to}");
        }
        assert_eq!(chunks[0].renders(Form::Line), 1, "rendered once");
    }
}
