//! A room's channel state as the cluster keeps it in Redis: its creation
//! time, modes, operators, voiced members, bans and topic, as text. The
//! node where the state changes writes all of it (`shardchat:chan:<room>`);
//! a node whose first local member joins the room reads it back into its
//! own copy through the channel's own mode changes, so every mode the
//! channel knows crosses without this file knowing it.
//!
//! ```text
//! created\t<ms>
//! modes\t<mode string, as MODE shows it>
//! topic\t<at-ms>\t<by>\t<text>
//! op\t<nick>
//! voice\t<nick>
//! ban\t<at-ms>\t<by>\t<mask>
//! invite\t<nick>
//! ```
//!
//! Lines it does not know are skipped (a newer node may add some).

use std::fmt::Write;

use crate::channel::Channel;
use crate::rooms::{Room, Topic};

/// The whole of `room`'s state, as text.
pub(crate) fn snapshot(room: &Room) -> String {
    let mut s = String::new();
    {
        let c = room.channel();
        let _ = writeln!(s, "created\t{}", c.created_ms);
        let _ = writeln!(s, "modes\t{}", one_line(&c.mode_string(true)));
        let (ops, voiced) = c.statuses();
        for n in ops {
            let _ = writeln!(s, "op\t{n}");
        }
        for n in voiced {
            let _ = writeln!(s, "voice\t{n}");
        }
        for n in c.invitations() {
            let _ = writeln!(s, "invite\t{n}");
        }
        for b in c.bans() {
            let _ = writeln!(
                s,
                "ban\t{}\t{}\t{}",
                b.at_ms,
                one_line(&b.by),
                one_line(&b.mask)
            );
        }
    }
    if let Some(t) = room.topic() {
        topic_line(&mut s, &t);
    }
    s
}

/// A state with only `nick` as operator, for a room new on every node,
/// with the topic it had when it was last open, if it had one.
pub(crate) fn fresh(created_ms: u64, nick: &str, topic: Option<&Topic>) -> String {
    let mut s = format!("created\t{created_ms}\nmodes\t+\nop\t{}\n", one_line(nick));
    if let Some(t) = topic {
        topic_line(&mut s, t);
    }
    s
}

fn topic_line(s: &mut String, t: &Topic) {
    let _ = writeln!(
        s,
        "topic\t{}\t{}\t{}",
        t.at_ms,
        one_line(&t.by),
        one_line(&t.text)
    );
}

/// Replaces `room`'s state with `state`'s.
pub(crate) fn restore(room: &Room, state: &str) {
    let (c, topic) = parse(state);
    let moderated = c.moderated;
    *room.channel() = c;
    room.set_moderated(moderated);
    if let Some(t) = topic {
        room.set_topic(t);
    }
}

/// The channel and topic `state` describes.
pub(crate) fn parse(state: &str) -> (Channel, Option<Topic>) {
    let mut created = 0;
    let mut changes: Vec<(String, &str, u64)> = Vec::new();
    let mut topic = None;
    let mut invited = Vec::new();
    for line in state.lines() {
        let mut f = line.splitn(4, '\t');
        match (f.next(), f.next(), f.next(), f.next()) {
            (Some("created"), Some(ms), None, None) => created = ms.parse().unwrap_or(0),
            (Some("modes"), Some(m), None, None) => changes.push((m.to_string(), "", 0)),
            (Some("op"), Some(n), None, None) => changes.push((format!("+o {n}"), "", 0)),
            (Some("voice"), Some(n), None, None) => changes.push((format!("+v {n}"), "", 0)),
            (Some("ban"), Some(at), Some(by), Some(mask)) => {
                changes.push((format!("+b {mask}"), by, at.parse().unwrap_or(0)));
            }
            (Some("invite"), Some(n), None, None) => invited.push(n),
            (Some("topic"), Some(at), Some(by), Some(text)) => {
                topic = Some(Topic {
                    text: text.into(),
                    by: by.into(),
                    at_ms: at.parse().unwrap_or(0),
                });
            }
            _ => {}
        }
    }
    let mut c = Channel::new(created);
    for (change, by, at) in &changes {
        // A change this node does not know is skipped, not fatal.
        let _ = c.apply(change, by, *at, |_| true);
    }
    for n in invited {
        c.invite(n);
    }
    (c, topic)
}

/// `text` without line or field breaks (they are already sanitized where
/// they enter; this keeps the format safe regardless).
fn one_line(text: &str) -> std::borrow::Cow<'_, str> {
    if text.contains(['\n', '\t', '\r']) {
        text.replace(['\n', '\t', '\r'], " ").into()
    } else {
        text.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rooms::Rooms;

    #[test]
    fn state_crosses_intact() {
        let rooms = Rooms::new(1);
        let (a, _) = rooms.join("Rust", 0, |_| true);
        {
            let mut c = a.channel();
            c.add_op("Ann");
            let all = |_: &str| true;
            c.apply("+mtv bob", "ann", 5, all).expect("applies");
            c.apply("+kl sesame 10", "ann", 6, all).expect("applies");
            c.apply("+b *!*@user/eve", "ann", 7, all).expect("applies");
        }
        a.set_topic(Topic {
            text: "hi there".into(),
            by: "ann".into(),
            at_ms: 9,
        });
        let text = snapshot(&a);
        let other = Rooms::new(1);
        let (b, _) = other.join("rust", 0, |_| true);
        restore(&b, &format!("{text}future\tline\n"));
        let c = b.channel();
        assert_eq!(c.prefix("ann"), "@");
        assert_eq!(c.prefix("bob"), "+");
        assert_eq!(c.mode_string(true), a.channel().mode_string(true));
        assert!(
            c.mode_string(true).contains("sesame 10"),
            "key and limit cross"
        );
        assert_eq!(c.bans(), a.channel().bans());
        assert_eq!(c.created_ms, a.channel().created_ms);
        drop(c);
        assert!(b.is_moderated());
        assert_eq!(b.topic(), a.topic());
        restore(&b, "garbage\n\tand more\nban\tx\n");
        assert_eq!(b.channel().prefix("ann"), "");
        let f = other.join("new", 0, |_| true).0;
        restore(&f, &fresh(3, "Zed", None));
        assert_eq!(f.channel().prefix("zed"), "@");
        assert_eq!(f.topic(), None);
        let kept = Topic {
            text: "back again".into(),
            by: "ann".into(),
            at_ms: 4,
        };
        restore(&f, &fresh(5, "Zed", Some(&kept)));
        assert_eq!(f.topic(), Some(kept));
    }
}
