//! Replies in IRC form: numerics (001-005, 251, 353/366, 321-323,
//! errors 4xx) and the commands that confirm a client's own actions.

use super::message::{self, write};
use super::render;
use super::{IrcSession, VERSION};
use crate::proto::{Caps, Reply, Scope};

/// Nick names in a 353 line, at most this many bytes of them.
const NAMES_PER_LINE: usize = 400;

impl IrcSession {
    /// Appends `reply` as numerics and commands for the client `nick`
    /// (empty before registration).
    pub(crate) fn render_reply(&self, nick: &str, reply: &Reply, out: &mut Vec<u8>) {
        let srv: &str = &self.identity.server;
        let me = if nick.is_empty() { "*" } else { nick };
        let to = To { srv, me };
        let num = |out: &mut Vec<u8>, code: &str, params: &[&str], text: Option<&str>| {
            to.numeric(out, code, params, text)
        };
        match reply {
            Reply::Welcome { nick } => {
                let net: &str = &self.identity.network;
                let nick: &str = nick;
                let welcome = format!("Welcome to the {net} IRC Network, {nick}");
                write(out, srv, &["001", nick], Some(&welcome));
                let host = format!("Your host is {srv}, running version {VERSION}");
                write(out, srv, &["002", nick], Some(&host));
                write(
                    out,
                    srv,
                    &["003", nick],
                    Some("This server was created at start"),
                );
                write(
                    out,
                    srv,
                    &["004", nick, srv, VERSION, "iow", "biklmnostv", "bklov"],
                    None,
                );
                let network = format!("NETWORK={net}");
                let modes = format!("MODES={}", crate::channel::MAX_MODE_PARAMS);
                let chanlimit = format!("CHANLIMIT=#:{}", crate::channel::MAX_ROOMS);
                let kicklen = format!("KICKLEN={}", crate::channel::MAX_KICK);
                let keylen = format!("KEYLEN={}", crate::channel::MAX_KEY);
                let chathistory = format!("CHATHISTORY={}", self.identity.history_max);
                let mut isupport = vec![
                    "CASEMAPPING=ascii",
                    "CHANTYPES=#",
                    "NICKLEN=32",
                    "CHANNELLEN=33",
                    "TOPICLEN=390",
                    "AWAYLEN=200",
                    "NAMELEN=100",
                    "PREFIX=(ov)@+",
                    "CHANMODES=b,k,l,imnst",
                    modes.as_str(),
                    chanlimit.as_str(),
                    kicklen.as_str(),
                    keylen.as_str(),
                    "TARGMAX=PRIVMSG:1,NOTICE:1,JOIN:,PART:,NAMES:1,KICK:1",
                    network.as_str(),
                ];
                if self.identity.history_max > 0 {
                    isupport.extend([chathistory.as_str(), "MSGREFTYPES=msgid,timestamp"]);
                }
                // At most 13 tokens on one 005 line (modern.ircdocs).
                for tokens in isupport.chunks(13) {
                    let mut parts = vec!["005", nick];
                    parts.extend_from_slice(tokens);
                    write(out, srv, &parts, Some("are supported by this server"));
                }
            }
            Reply::Joined {
                room,
                account,
                realname,
                ..
            } if self.has(super::caps::EXTENDED_JOIN) => write(
                out,
                &render::prefix(me),
                &["JOIN", &chan(room), account],
                Some(realname),
            ),
            Reply::Joined { room, .. } => {
                write(out, &render::prefix(me), &["JOIN", &chan(room)], None)
            }
            Reply::Parted { room, reason } => write(
                out,
                &render::prefix(me),
                &["PART", &chan(room)],
                reason.as_deref(),
            ),
            Reply::NickChanged { old, nick } => {
                write(out, &render::prefix(old), &["NICK"], Some(nick))
            }
            Reply::Names {
                room,
                nicks,
                secret,
            } => {
                let room = chan(room);
                let kind = if *secret { "@" } else { "=" };
                let mut line = String::new();
                let mut entry = String::new();
                for n in nicks.split(' ').filter(|n| !n.is_empty()) {
                    entry.clear();
                    self.names_entry(n, &mut entry);
                    if line.len() + entry.len() > NAMES_PER_LINE {
                        num(out, "353", &[kind, &room], Some(&line));
                        line.clear();
                    }
                    if !line.is_empty() {
                        line.push(' ');
                    }
                    line.push_str(&entry);
                }
                if !line.is_empty() {
                    num(out, "353", &[kind, &room], Some(&line));
                }
                num(out, "366", &[&room], Some("End of /NAMES list"));
            }
            Reply::Who { mask, users } => {
                for u in users {
                    let nick = &u.nick;
                    let (room, prefixes) = match &u.room {
                        Some((room, p)) => (chan(room), self.prefixes(p)),
                        None => ("*".to_string(), ""),
                    };
                    let host = format!("user/{nick}");
                    let real = format!("0 {}", u.realname.as_deref().unwrap_or(nick));
                    let flags = format!("{}{prefixes}", if u.away { "G" } else { "H" });
                    num(
                        out,
                        "352",
                        &[&room, nick, &host, srv, nick, &flags],
                        Some(&real),
                    );
                }
                num(out, "315", &[mask], Some("End of /WHO list"));
            }
            Reply::Whois(w) => {
                let crate::proto::Whois {
                    nick,
                    found,
                    away,
                    oper,
                    realname,
                    idle,
                    rooms,
                    addr,
                    account,
                } = &**w;
                match found {
                    Some(n) => {
                        let host = format!("user/{n}");
                        let real = realname.as_deref().unwrap_or(n);
                        num(out, "311", &[n, n, &host, "*"], Some(real));
                        num(out, "312", &[n, srv], Some("shardchat"));
                        if *oper {
                            num(out, "313", &[n], Some("is an IRC operator"));
                        }
                        if let Some(message) = away {
                            num(out, "301", &[n], Some(message));
                        }
                        if let Some(a) = account {
                            num(out, "330", &[n, a], Some("is logged in as"));
                        }
                        if let Some((idle, signon)) = idle {
                            let (idle, signon) = (idle.to_string(), signon.to_string());
                            let text = "seconds idle, signon time";
                            num(out, "317", &[n, &idle, &signon], Some(text));
                        }
                        if let Some(ip) = addr {
                            let text = format!("is connecting from *@{ip} {ip}");
                            num(out, "378", &[n], Some(&text));
                        }
                        if !rooms.is_empty() {
                            let list: Vec<String> =
                                rooms.iter().map(|r| self.whois_room(r)).collect();
                            num(out, "319", &[n], Some(&list.join(" ")));
                        }
                    }
                    None => num(out, "401", &[nick], Some("No such nick/channel")),
                }
                num(out, "318", &[nick], Some("End of /WHOIS list"));
            }
            Reply::Online { nicks, hosts } => {
                let list: Vec<String> = nicks
                    .iter()
                    .map(|n| {
                        if *hosts {
                            format!("{n}=+{n}@user/{n}")
                        } else {
                            n.to_string()
                        }
                    })
                    .collect();
                let code = if *hosts { "302" } else { "303" };
                num(out, code, &[], Some(&list.join(" ")));
            }
            Reply::RoomModes {
                room,
                modes,
                created_ms,
            } => {
                // The parameters (key, limit) are parameters of their own.
                let room = chan(room);
                let mut params = vec![room.as_str()];
                params.extend(modes.split(' '));
                num(out, "324", &params, None);
                let created = (created_ms / 1000).to_string();
                num(out, "329", &[&room, &created], None);
            }
            Reply::Bans { room, bans } => {
                for b in bans {
                    let at = (b.at_ms / 1000).to_string();
                    num(out, "367", &[&chan(room), &b.mask, &b.by, &at], None);
                }
                num(out, "368", &[&chan(room)], Some("End of channel ban list"));
            }
            Reply::ModeSet { room, change } => {
                let room = chan(room);
                let mut parts = vec!["MODE", room.as_str()];
                parts.extend(change.split(' '));
                write(out, &render::prefix(me), &parts, None);
            }
            Reply::Topic { room, topic } => match topic {
                Some(t) => {
                    num(out, "332", &[&chan(room)], Some(&t.text));
                    let at = (t.at_ms / 1000).to_string();
                    num(out, "333", &[&chan(room), &t.by, &at], None);
                }
                None => num(out, "331", &[&chan(room)], Some("No topic is set")),
            },
            Reply::TopicSet { room, text } => write(
                out,
                &render::prefix(me),
                &["TOPIC", &chan(room)],
                Some(text),
            ),
            Reply::Counts {
                users,
                max,
                opers,
                unknown,
                rooms,
            } => {
                let there = format!("There are {users} users and 0 invisible on 1 servers");
                num(out, "251", &[], Some(&there));
                if *opers > 0 {
                    num(
                        out,
                        "252",
                        &[&opers.to_string()],
                        Some("operator(s) online"),
                    );
                }
                if *unknown > 0 {
                    num(
                        out,
                        "253",
                        &[&unknown.to_string()],
                        Some("unknown connection(s)"),
                    );
                }
                num(out, "254", &[&rooms.to_string()], Some("channels formed"));
                let have = format!("I have {users} clients and 0 servers");
                num(out, "255", &[], Some(&have));
                let (u, m) = (users.to_string(), max.to_string());
                let local = format!("Current local users {u}, max {m}");
                num(out, "265", &[&u, &m], Some(&local));
                let global = format!("Current global users {u}, max {m}");
                num(out, "266", &[&u, &m], Some(&global));
            }
            Reply::Setname(real) => {
                if self.has(super::caps::SETNAME) {
                    write(out, &render::prefix(me), &["SETNAME"], Some(real));
                }
            }
            Reply::UserModes(modes) => num(out, "221", &[modes], None),
            Reply::UserModesChanged(change) => {
                write(out, &render::prefix(me), &["MODE", me], Some(change))
            }
            Reply::KickDone {
                room,
                target,
                reason,
            } => write(
                out,
                &render::prefix(me),
                &["KICK", &chan(room), target],
                Some(reason.as_deref().unwrap_or(target)),
            ),
            Reply::Invited { from, room } => write(
                out,
                &render::prefix(from),
                &["INVITE", me],
                Some(&chan(room)),
            ),
            Reply::Inviting { nick, room } => num(out, "341", &[nick, &chan(room)], None),
            Reply::Oper => num(out, "381", &[], Some("You are now an IRC operator")),
            Reply::Wallops { from, text } => {
                write(out, &render::prefix(from), &["WALLOPS"], Some(text))
            }
            Reply::Whowas { nick, was } => {
                match was {
                    Some(n) => {
                        let host = format!("user/{n}");
                        num(out, "314", &[n, n, &host, "*"], Some(n));
                    }
                    None => num(out, "406", &[nick], Some("There was no such nickname")),
                }
                num(out, "369", &[nick], Some("End of WHOWAS"));
            }
            Reply::Motd => self.motd(&to, out),
            Reply::Info => {
                num(out, "371", &[], Some(VERSION));
                num(
                    out,
                    "371",
                    &[],
                    Some("a sharded chat server: IRC and the line protocol in the same rooms"),
                );
                num(out, "374", &[], Some("End of /INFO list"));
            }
            Reply::IrcHelp => {
                num(out, "704", &["index"], Some("Commands:"));
                for line in HELP {
                    num(out, "705", &["index"], Some(line));
                }
                num(out, "706", &["index"], Some("End of /HELP"));
            }
            Reply::Away(true) => num(out, "306", &[], Some("You have been marked as being away")),
            Reply::Away(false) => num(
                out,
                "305",
                &[],
                Some("You are no longer marked as being away"),
            ),
            Reply::IsAway { nick, message } => num(out, "301", &[nick], Some(message)),
            Reply::Version => num(out, "351", &[VERSION, srv], Some("")),
            Reply::Time => num(out, "391", &[srv], Some(&http_date(crate::event::now_ms()))),
            Reply::Pong(token) => write(out, srv, &["PONG", srv], Some(token)),
            Reply::Ping => {
                out.extend_from_slice(b"PING :");
                message::push_clean(out, srv);
                out.extend_from_slice(b"\r\n");
            }
            Reply::Killed(why) => {
                out.extend_from_slice(b"ERROR :");
                message::push_clean(out, why);
                out.extend_from_slice(b"\r\n");
            }
            Reply::Closing(why) => {
                out.extend_from_slice(b"ERROR :");
                out.extend_from_slice(why.as_bytes());
                out.extend_from_slice(b"\r\n");
            }
            Reply::Caps(caps) => match caps {
                Caps::List => write(
                    out,
                    srv,
                    &["CAP", me, "LS"],
                    Some(&super::offered(self.cap_302)),
                ),
                Caps::Enabled(names) => write(out, srv, &["CAP", me, "LIST"], Some(names)),
                Caps::Acked(names) => write(out, srv, &["CAP", me, "ACK"], Some(names)),
                Caps::Refused(asked) => write(out, srv, &["CAP", me, "NAK"], Some(asked)),
            },
            Reply::Bye => {
                out.extend_from_slice(b"ERROR :Closing link (Quit)\r\n");
            }
            Reply::Draining => notice(out, srv, me, crate::proto::line::DRAINING),
            Reply::ShuttingDown => {
                out.extend_from_slice(b"ERROR :Server shutting down\r\n");
            }
            Reply::Help => notice(out, srv, me, "see docs/irc.md for the supported commands"),
            Reply::Users {
                scope,
                first,
                total,
            } => {
                let scope = match scope {
                    Scope::Room(r) => format!("in {}", chan(r)),
                    Scope::Online => "online".into(),
                };
                let text = format!("{total} users {scope}: {}", first.join(" "));
                notice(out, srv, me, &text);
            }
            Reply::Rooms(rooms) => {
                num(out, "321", &["Channel"], Some("Users  Name"));
                for (room, n) in rooms {
                    num(out, "322", &[&chan(room), &n.to_string()], Some(""));
                }
                num(out, "323", &[], Some("End of /LIST"));
            }
            Reply::Account { via, outcome } => {
                // SASL answers before registration: 900's mask names the
                // nick NICK gave.
                let nick = match (nick, &self.nick) {
                    ("", Some(given)) => given,
                    _ => me,
                };
                super::accounts::outcome(*via, outcome, &to, nick, out)
            }
            Reply::AccountRefused { via, why } => super::accounts::refusal(*via, why, &to, out),
            Reply::LoggedOut(via) => {
                if *via != crate::store::Via::Sasl {
                    super::accounts::from_nickserv(out, me, "You are now logged out");
                }
                super::accounts::logged_out(out, &to);
            }
            Reply::SaslContinue => out.extend_from_slice(b"AUTHENTICATE +\r\n"),
            Reply::SaslMechanisms => {
                num(
                    out,
                    "908",
                    &["PLAIN"],
                    Some("are available SASL mechanisms"),
                );
                num(out, "904", &[], Some("SASL authentication failed"));
            }
            Reply::SaslAborted => num(out, "906", &[], Some("SASL authentication aborted")),
            Reply::SaslFailed => num(out, "904", &[], Some("SASL authentication failed")),
            Reply::SaslTooLong => num(out, "905", &[], Some("SASL message too long")),
            Reply::SaslAlready => num(
                out,
                "907",
                &[],
                Some("You have already authenticated using SASL"),
            ),
            Reply::IdentifyOrRenamed { nick, secs } => super::accounts::from_nickserv(
                out,
                me,
                &format!(
                    "{nick} is a registered nick: identify within {secs} second{} \
                     (/msg NickServ IDENTIFY <password>, or SASL) or it will be changed",
                    if *secs == 1 { "" } else { "s" }
                ),
            ),
            Reply::RenamedUnidentified { nick } => super::accounts::from_nickserv(
                out,
                me,
                &format!("You did not identify for {nick}: your nick was changed"),
            ),
            Reply::NickServHelp(unknown) => super::accounts::help(unknown.as_deref(), me, out),
            Reply::History {
                room,
                purpose,
                lines,
            } => self.history(room, purpose, lines, out),
            Reply::HistoryTargets(targets) => self.history_targets(targets, out),
            Reply::Refused(r) => super::refusals::refusal(r, &to, out),
        }
    }
}

/// The commands HELP lists.
const HELP: [&str; 4] = [
    "CAP PASS NICK USER PING PONG QUIT JOIN PART PRIVMSG NOTICE TOPIC NAMES",
    "LIST WHO WHOIS WHOWAS ISON USERHOST MODE AWAY LUSERS MOTD VERSION TIME",
    "INFO HELP OPER KILL WALLOPS KICK INVITE TAGMSG SETNAME",
    "See docs/irc.md for what each does here.",
];

impl IrcSession {
    /// A member's channel prefixes as this client reads them: all of them
    /// with multi-prefix, else the highest.
    fn prefixes<'p>(&self, all: &'p str) -> &'p str {
        if self.has(super::caps::MULTI_PREFIX) {
            all
        } else {
            all.get(..1).unwrap_or("")
        }
    }

    /// A WHOIS channel (`@+rust`) as this client reads it: `@+#rust`, or
    /// `@#rust` without multi-prefix.
    fn whois_room(&self, entry: &str) -> String {
        let name = entry.trim_start_matches(['@', '+']);
        let prefixes = self.prefixes(&entry[..entry.len() - name.len()]);
        format!("{prefixes}#{name}")
    }

    /// A NAMES entry (`@+nick`) as this client reads it (multi-prefix,
    /// userhost-in-names).
    fn names_entry(&self, entry: &str, out: &mut String) {
        let nick = entry.trim_start_matches(['@', '+']);
        out.push_str(self.prefixes(&entry[..entry.len() - nick.len()]));
        if self.has(super::caps::USERHOST_IN_NAMES) {
            out.push_str(&render::prefix(nick));
        } else {
            out.push_str(nick);
        }
    }

    /// 375/372/376 with the message of the day, or 422 without one.
    fn motd(&self, to: &To<'_>, out: &mut Vec<u8>) {
        match self.identity.motd.get() {
            None => to.numeric(out, "422", &[], Some("MOTD File is missing")),
            Some(lines) => {
                let start = format!("- {} Message of the day - ", to.srv);
                to.numeric(out, "375", &[], Some(&start));
                for line in lines.iter() {
                    to.numeric(out, "372", &[], Some(&format!("- {line}")));
                }
                to.numeric(out, "376", &[], Some("End of /MOTD command."));
            }
        }
    }
}

/// Who numerics come from and go to.
pub(super) struct To<'a> {
    pub srv: &'a str,
    /// The client's nick, `*` before it has one.
    pub me: &'a str,
}

impl To<'_> {
    /// Appends `:<server> <code> <me> <params...> [:<text>]`.
    pub(super) fn numeric(
        &self,
        out: &mut Vec<u8>,
        code: &str,
        params: &[&str],
        text: Option<&str>,
    ) {
        let mut parts = vec![code, self.me];
        parts.extend_from_slice(params);
        write(out, self.srv, &parts, text);
    }
}

/// `Thu, 03 Dec 2026 09:00:00 GMT` for a time in ms since the Unix epoch.
fn http_date(ms: u64) -> String {
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let t = render::Civil::of(ms);
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} GMT",
        WEEKDAYS[t.weekday as usize],
        t.day,
        MONTHS[(t.month - 1) as usize],
        t.year,
        t.hour,
        t.minute,
        t.second
    )
}

/// `#name` for a room name without `#`.
pub(super) fn chan(room: &str) -> String {
    format!("#{room}")
}

pub(super) fn notice(out: &mut Vec<u8>, srv: &str, me: &str, text: &str) {
    write(out, srv, &["NOTICE", me], Some(text));
}

#[cfg(test)]
mod tests {
    #[test]
    fn dates_are_written_as_http_dates() {
        assert_eq!(super::http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(
            super::http_date(1_796_288_400_000),
            "Thu, 03 Dec 2026 09:00:00 GMT"
        );
        assert_eq!(
            super::http_date(951_782_400_000),
            "Tue, 29 Feb 2000 00:00:00 GMT"
        );
    }
}
