//! Events in IRC form: what IRC clients in a room see of everyone's
//! chat, actions, joins, parts, quits and nick changes, whatever protocol
//! the sender speaks.

use std::io::Write;

use super::message::{push_clean, write};
use crate::event::{Body, Event};

/// Appends `nick!nick@user/nick`: a user's prefix. Hosts are cloaked: no
/// client address is ever shown to other users.
pub(crate) fn push_prefix(out: &mut Vec<u8>, nick: &str) {
    push_clean(out, nick);
    out.push(b'!');
    push_clean(out, nick);
    out.extend_from_slice(b"@user/");
    push_clean(out, nick);
}

/// The prefix of `nick` as a string.
pub(crate) fn prefix(nick: &str) -> String {
    let mut v = Vec::with_capacity(3 * nick.len() + 6);
    push_prefix(&mut v, nick);
    String::from_utf8(v).unwrap_or_default()
}

/// Appends the IRCv3 tags of `e` and a space: `@time=...` (server-time),
/// and with `msgid` = `Some(node)` also `;msgid=...` (message-tags), where
/// `node` names the cluster node the event entered on when not this one,
/// then the sender's client-only tags `client` (already escaped).
pub(crate) fn write_tags(
    out: &mut Vec<u8>,
    e: &Event<'_>,
    msgid: Option<Option<&str>>,
    client: Option<&str>,
) {
    let t = Civil::of(e.time_ms);
    let _ = write!(
        out,
        "@time={:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year, t.month, t.day, t.hour, t.minute, t.second, t.milli
    );
    if let Some(node) = msgid {
        out.extend_from_slice(b";msgid=");
        if let Some(node) = node {
            push_clean(out, node);
            out.push(b'-');
        }
        let _ = write!(out, "{}-{}", e.id.shard, e.id.seq);
    }
    if let Some(tags) = client.filter(|t| !t.is_empty()) {
        out.push(b';');
        push_clean(out, tags);
    }
    out.push(b' ');
}

/// A UTC date and time.
pub(crate) struct Civil {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    pub milli: u32,
    /// 0 = Thursday (1 January 1970).
    pub weekday: u32,
}

impl Civil {
    /// The date and time `ms` milliseconds after the Unix epoch (Howard
    /// Hinnant's days-to-civil algorithm).
    pub fn of(ms: u64) -> Civil {
        let secs = ms / 1000;
        let days = (secs / 86_400) as i64;
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        Civil {
            year: yoe + era * 400 + i64::from(month <= 2),
            month,
            day,
            hour: (secs / 3600 % 24) as u32,
            minute: (secs / 60 % 60) as u32,
            second: (secs % 60) as u32,
            milli: (ms % 1000) as u32,
            weekday: days.rem_euclid(7) as u32,
        }
    }
}

/// Appends event `e` of room `room` (without `#`; empty for a private
/// event) as IRC writes it.
pub(crate) fn render_event(room: &str, e: &Event<'_>, out: &mut Vec<u8>) {
    let from = prefix(e.nick);
    let mut chan = String::with_capacity(room.len() + 1);
    chan.push('#');
    chan.push_str(room);
    let chan = chan.as_str();
    match e.body {
        Body::Chat { text } => write(out, &from, &["PRIVMSG", chan], Some(text)),
        Body::Action { text } => {
            let action = format!("\u{1}ACTION {text}\u{1}");
            write(out, &from, &["PRIVMSG", chan], Some(&action));
        }
        Body::Notice { text } => write(out, &from, &["NOTICE", chan], Some(text)),
        Body::Join => write(out, &from, &["JOIN", chan], None),
        Body::ExtJoin { account, realname } => {
            write(out, &from, &["JOIN", chan, account], Some(realname))
        }
        Body::Part { reason } => write(out, &from, &["PART", chan], reason),
        Body::Quit { reason } => write(out, &from, &["QUIT"], Some(reason.unwrap_or("Quit"))),
        Body::Nick { new } => write(out, &from, &["NICK"], Some(new)),
        Body::Topic { text } => write(out, &from, &["TOPIC", chan], Some(text)),
        Body::Kick { target, reason } => write(
            out,
            &from,
            &["KICK", chan, target],
            Some(reason.unwrap_or(target)),
        ),
        Body::Mode { change } => {
            let mut parts = vec!["MODE", chan];
            parts.extend(change.split(' ').filter(|p| !p.is_empty()));
            write(out, &from, &parts, None);
        }
        Body::Private { to, text } => write(out, &from, &["PRIVMSG", to], Some(text)),
        Body::PrivateNotice { to, text } => write(out, &from, &["NOTICE", to], Some(text)),
        Body::TagMsg => write(out, &from, &["TAGMSG", chan], None),
        Body::PrivateTagMsg { to } => write(out, &from, &["TAGMSG", to], None),
        Body::Away { message } => write(out, &from, &["AWAY"], message),
        Body::Setname { realname } => write(out, &from, &["SETNAME"], Some(realname)),
        Body::Invite { target } => write(out, &from, &["INVITE", target, chan], None),
        Body::ServerNotice { text } => {
            // No prefix: it comes from the server the client talks to.
            out.extend_from_slice(b"NOTICE ");
            push_clean(out, chan);
            out.extend_from_slice(b" :");
            push_clean(out, text);
            out.extend_from_slice(b"\r\n");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::MsgId;
    use crate::frame::ClientId;

    fn rendered(body: Body<'_>) -> String {
        let e = Event {
            id: MsgId::default(),
            time_ms: 0,
            user: ClientId(1),
            nick: "ann",
            body,
        };
        let mut out = Vec::new();
        render_event("rust", &e, &mut out);
        String::from_utf8(out).expect("UTF-8")
    }

    #[test]
    fn events_render_as_irc_clients_expect() {
        let p = ":ann!ann@user/ann";
        let cases = [
            (
                Body::Chat { text: "hi" },
                format!("{p} PRIVMSG #rust :hi\r\n"),
            ),
            (
                Body::Action { text: "waves" },
                format!("{p} PRIVMSG #rust :\u{1}ACTION waves\u{1}\r\n"),
            ),
            (
                Body::Notice { text: "n" },
                format!("{p} NOTICE #rust :n\r\n"),
            ),
            (Body::Join, format!("{p} JOIN #rust\r\n")),
            (Body::Part { reason: None }, format!("{p} PART #rust\r\n")),
            (
                Body::Part {
                    reason: Some("bye now"),
                },
                format!("{p} PART #rust :bye now\r\n"),
            ),
            (
                Body::Quit {
                    reason: Some("slow consumer"),
                },
                format!("{p} QUIT :slow consumer\r\n"),
            ),
            (Body::Quit { reason: None }, format!("{p} QUIT :Quit\r\n")),
            (Body::Nick { new: "bob" }, format!("{p} NICK :bob\r\n")),
            (Body::Topic { text: "t" }, format!("{p} TOPIC #rust :t\r\n")),
            (
                Body::Kick {
                    target: "eve",
                    reason: None,
                },
                format!("{p} KICK #rust eve :eve\r\n"),
            ),
            (
                Body::Mode { change: "+o bob" },
                format!("{p} MODE #rust +o bob\r\n"),
            ),
            (
                Body::Private {
                    to: "bob",
                    text: "psst",
                },
                format!("{p} PRIVMSG bob :psst\r\n"),
            ),
            (
                Body::PrivateNotice {
                    to: "bob",
                    text: "fyi",
                },
                format!("{p} NOTICE bob :fyi\r\n"),
            ),
            (Body::TagMsg, format!("{p} TAGMSG #rust\r\n")),
            (
                Body::PrivateTagMsg { to: "bob" },
                format!("{p} TAGMSG bob\r\n"),
            ),
            (Body::Away { message: None }, format!("{p} AWAY\r\n")),
            (
                Body::Away {
                    message: Some("at lunch"),
                },
                format!("{p} AWAY :at lunch\r\n"),
            ),
            (
                Body::Setname { realname: "Ann X" },
                format!("{p} SETNAME :Ann X\r\n"),
            ),
            (
                Body::Invite { target: "bob" },
                format!("{p} INVITE bob #rust\r\n"),
            ),
            (
                Body::ServerNotice { text: "hello" },
                "NOTICE #rust :hello\r\n".to_string(),
            ),
        ];
        for (body, want) in cases {
            assert_eq!(rendered(body), want);
        }
    }

    #[test]
    fn nothing_a_sender_wrote_breaks_the_line() {
        let out = rendered(Body::Chat {
            text: "a\r\nQUIT :x\0",
        });
        assert_eq!(out, ":ann!ann@user/ann PRIVMSG #rust :aQUIT :x\r\n");
    }
}
