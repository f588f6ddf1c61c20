//! A room's channel state, IRC style: its operators and voiced members,
//! modes (`+i +k +l +m +n +s +t`), bans and invitations. Kept by the room,
//! behind its lock, and touched on join, mode changes, topic changes and
//! renames; a moderated room is also read when its members speak. Nicks
//! are kept lower-cased. Mode changes are parsed and applied in
//! `channel/modes.rs`.

use std::collections::HashSet;

mod modes;

pub use modes::{ModeError, MAX_KEY, MAX_MODE_PARAMS};

/// The most rooms an IRC client may be in (ISUPPORT `CHANLIMIT`).
pub const MAX_ROOMS: usize = 50;

/// The longest KICK reason, in characters (ISUPPORT `KICKLEN`); longer
/// ones are cut.
pub const MAX_KICK: usize = 390;

/// Invitations a channel remembers; the oldest goes first.
const MAX_INVITES: usize = 64;

/// One ban: a `nick!user@host` mask with `*` and `?`, who set it, when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ban {
    pub mask: Box<str>,
    pub by: Box<str>,
    pub at_ms: u64,
}

/// Why a join was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JoinError {
    /// A ban matches (`+b`).
    Banned,
    /// Invite only (`+i`), and no invitation.
    InviteOnly,
    /// A key is set (`+k`) and another (or none) was given.
    BadKey,
    /// As many members as the limit (`+l`).
    Full,
}

/// A channel's state.
#[derive(Debug, Default)]
pub struct Channel {
    ops: HashSet<Box<str>>,
    voiced: HashSet<Box<str>>,
    /// `+t`: only operators set the topic.
    pub topic_ops: bool,
    /// `+m`: only operators and voiced members speak.
    pub moderated: bool,
    /// `+n`: only members send messages to the room.
    pub no_external: bool,
    /// `+i`: only the invited join.
    pub invite_only: bool,
    /// `+s`: hidden from those not in it.
    pub secret: bool,
    /// `+k`: the key a join must give.
    key: Option<Box<str>>,
    /// `+l`: the most members a join may make.
    limit: Option<usize>,
    bans: Vec<Ban>,
    /// Nicks invited and not yet joined, oldest first.
    invited: Vec<Box<str>>,
    /// When the room was created (ms since the epoch).
    pub created_ms: u64,
}

fn lower(nick: &str) -> Box<str> {
    nick.to_ascii_lowercase().into_boxed_str()
}

impl Channel {
    /// A new channel: `+nt`, as most servers make them.
    pub fn new(created_ms: u64) -> Channel {
        Channel {
            created_ms,
            topic_ops: true,
            no_external: true,
            ..Channel::default()
        }
    }

    pub fn is_op(&self, nick: &str) -> bool {
        self.ops.contains(&lower(nick))
    }

    /// Whether `nick` may speak in a moderated room.
    pub fn may_speak(&self, nick: &str) -> bool {
        let n = lower(nick);
        self.ops.contains(&n) || self.voiced.contains(&n)
    }

    pub fn add_op(&mut self, nick: &str) {
        self.ops.insert(lower(nick));
    }

    /// `@` for an operator, `+` for a voiced member, else nothing.
    pub fn prefix(&self, nick: &str) -> &'static str {
        let n = lower(nick);
        if self.ops.contains(&n) {
            "@"
        } else if self.voiced.contains(&n) {
            "+"
        } else {
            ""
        }
    }

    /// Every prefix of `nick`, highest first: `@+`, `@`, `+` or nothing
    /// (IRCv3 multi-prefix).
    pub fn prefixes(&self, nick: &str) -> &'static str {
        match self.prefix(nick) {
            "@" if self.voiced.contains(&lower(nick)) => "@+",
            p => p,
        }
    }

    /// A member left: it keeps no status.
    pub fn forget(&mut self, nick: &str) {
        let n = lower(nick);
        self.ops.remove(&n);
        self.voiced.remove(&n);
    }

    /// A member is now called `new`.
    pub fn rename(&mut self, old: &str, new: &str) {
        let (o, n) = (lower(old), lower(new));
        if self.ops.remove(&o) {
            self.ops.insert(n.clone());
        }
        if self.voiced.remove(&o) {
            self.voiced.insert(n);
        }
    }

    /// Whether `nick` (whose mask is `nick!nick@user/nick`) is banned.
    pub fn is_banned(&self, nick: &str) -> bool {
        let mask = format!("{0}!{0}@user/{0}", nick.to_ascii_lowercase());
        self.bans.iter().any(|b| glob(&b.mask, &mask))
    }

    pub fn bans(&self) -> &[Ban] {
        &self.bans
    }

    /// Remembers that `nick` was invited: it may join once, past `+i`,
    /// `+k` and `+l` (not past a ban).
    pub fn invite(&mut self, nick: &str) {
        let n = lower(nick);
        if self.invited.contains(&n) {
            return;
        }
        if self.invited.len() == MAX_INVITES {
            self.invited.remove(0);
        }
        self.invited.push(n);
    }

    /// Whether `nick` may join with `key` while the room has `members`:
    /// bans first, then an invitation lets it past the rest.
    pub fn may_join(&self, nick: &str, key: Option<&str>, members: usize) -> Result<(), JoinError> {
        if self.is_banned(nick) {
            return Err(JoinError::Banned);
        }
        if self.invited.contains(&lower(nick)) {
            return Ok(());
        }
        if self.invite_only {
            return Err(JoinError::InviteOnly);
        }
        if let Some(k) = &self.key {
            if key != Some(k.as_ref()) {
                return Err(JoinError::BadKey);
            }
        }
        if self.limit.is_some_and(|l| members >= l) {
            return Err(JoinError::Full);
        }
        Ok(())
    }

    /// [`Channel::may_join`], and when it may, its invitation is used up.
    pub fn admit(
        &mut self,
        nick: &str,
        key: Option<&str>,
        members: usize,
    ) -> Result<(), JoinError> {
        self.may_join(nick, key, members)?;
        let n = lower(nick);
        self.invited.retain(|i| *i != n);
        Ok(())
    }

    /// The modes with their parameters, as 324 gives them: `+iklmnst key
    /// 10`, or just `+` with none. The key is shown as `*` unless
    /// `with_key` (to members only, as servers do).
    pub fn mode_string(&self, with_key: bool) -> String {
        let mut s = String::from("+");
        let flags = [
            (self.invite_only, 'i'),
            (self.key.is_some(), 'k'),
            (self.limit.is_some(), 'l'),
            (self.moderated, 'm'),
            (self.no_external, 'n'),
            (self.secret, 's'),
            (self.topic_ops, 't'),
        ];
        for (on, c) in flags {
            if on {
                s.push(c);
            }
        }
        if let Some(k) = &self.key {
            s.push(' ');
            s.push_str(if with_key { k } else { "*" });
        }
        if let Some(l) = self.limit {
            s.push(' ');
            s.push_str(&l.to_string());
        }
        s
    }
}

/// What a cluster node copies of the state to hand it to other nodes.
impl Channel {
    /// The nicks invited in and not yet joined (lower-cased).
    pub fn invitations(&self) -> impl Iterator<Item = &str> {
        self.invited.iter().map(|n| &**n)
    }

    /// The operators and voiced members (lower-cased), in no order.
    pub fn statuses(&self) -> (Vec<&str>, Vec<&str>) {
        let ops = self.ops.iter().map(|n| &**n).collect();
        (ops, self.voiced.iter().map(|n| &**n).collect())
    }
}

/// Whether a user matches a WHO mask (`*` any run, `?` any character,
/// ignoring ASCII case): by its nick, or by its whole `nick!nick@user/nick`
/// when the mask has a `!` or `@`.
pub fn who_matches(mask: &str, nick: &str) -> bool {
    let mask = mask.to_ascii_lowercase();
    let nick = nick.to_ascii_lowercase();
    if mask.contains(['!', '@']) {
        glob(&mask, &format!("{nick}!{nick}@user/{nick}"))
    } else {
        glob(&mask, &nick)
    }
}

/// Whether `text` matches `pattern`, where `*` is any run and `?` any one
/// character (both already lower-cased).
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn who_masks_match_nicks_or_whole_prefixes() {
        assert!(who_matches("an*", "Ann"));
        assert!(who_matches("?NN", "ann"));
        assert!(!who_matches("an*", "bob"));
        assert!(who_matches("*@user/bob", "Bob"));
        assert!(who_matches("b*!*@*", "bob"));
        assert!(!who_matches("*!*@elsewhere", "bob"));
    }

    #[test]
    fn masks_match_with_stars_and_question_marks() {
        assert!(glob("*", "bob!bob@user/bob"));
        assert!(glob("bob!*@*", "bob!bob@user/bob"));
        assert!(glob("*!*@user/sp?m*", "spam1!spam1@user/spam1"));
        assert!(!glob("*!*@user/sp?m", "spam1!spam1@user/spam1"));
        assert!(!glob("ann!*", "bob!bob@user/bob"));
        assert!(glob("a*b*c", "axxbyyc"));
        assert!(!glob("a*b*c", "axxbyy"));
    }

    #[test]
    fn joins_are_checked_and_invitations_used_once() {
        let mut c = Channel::new(0);
        let m = |_: &str| true;
        assert_eq!(c.may_join("eve", None, 1), Ok(()));
        c.apply("+i", "ann", 0, m).ok();
        assert_eq!(c.may_join("eve", None, 1), Err(JoinError::InviteOnly));
        c.invite("Eve");
        assert_eq!(c.admit("eve", None, 1), Ok(()));
        assert_eq!(c.may_join("eve", None, 1), Err(JoinError::InviteOnly));
        c.apply("-i+kl key 2", "ann", 0, m).ok();
        assert_eq!(c.may_join("eve", None, 1), Err(JoinError::BadKey));
        assert_eq!(c.may_join("eve", Some("KEY"), 1), Err(JoinError::BadKey));
        assert_eq!(c.may_join("eve", Some("key"), 1), Ok(()));
        assert_eq!(c.may_join("eve", Some("key"), 2), Err(JoinError::Full));
        // An invitation lets one in past +k and +l, never past a ban.
        c.invite("eve");
        assert_eq!(c.may_join("eve", None, 2), Ok(()));
        c.apply("+b eve!*@*", "ann", 0, m).ok();
        assert_eq!(c.may_join("eve", None, 2), Err(JoinError::Banned));
        for n in 0..=MAX_INVITES {
            c.invite(&format!("u{n}"));
        }
        assert_eq!(c.invited.len(), MAX_INVITES, "the oldest goes");
    }
}
