//! A room's channel state, IRC style: its operators and voiced members,
//! modes (`+t` topic by operators only, `+m` moderated) and bans. Kept by
//! the room, behind its lock, and touched on join, mode changes, topic
//! changes and renames; a moderated room is also read when its members
//! speak. Nicks are kept lower-cased.

use std::collections::HashSet;

/// One ban: a `nick!user@host` mask with `*` and `?`, who set it, when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ban {
    pub mask: Box<str>,
    pub by: Box<str>,
    pub at_ms: u64,
}

/// What a mode change did, or why it was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum ModeError {
    /// A letter the server does not know.
    Unknown(char),
    /// `+o`/`+v` for someone not in the room.
    NotInRoom(Box<str>),
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
    bans: Vec<Ban>,
    /// When the room was created (ms since the epoch).
    pub created_ms: u64,
}

fn lower(nick: &str) -> Box<str> {
    nick.to_ascii_lowercase().into_boxed_str()
}

impl Channel {
    pub fn new(created_ms: u64) -> Channel {
        Channel {
            created_ms,
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

    /// The modes as `+tm` (just `+` with none).
    pub fn mode_string(&self) -> String {
        let mut s = String::from("+");
        if self.moderated {
            s.push('m');
        }
        if self.topic_ops {
            s.push('t');
        }
        s
    }

    /// Applies `change` (`+o-v bob eve`, `+b *!*@user/spam*`, `-t`) by
    /// `by` at `now_ms`; `is_member` says whether a nick is in the room.
    /// Returns the change as applied (parameters as given; changes that
    /// change nothing left out), or why it was refused (then nothing is
    /// applied).
    pub fn apply(
        &mut self,
        change: &str,
        by: &str,
        now_ms: u64,
        is_member: impl Fn(&str) -> bool,
    ) -> Result<String, ModeError> {
        let mut words = change.split(' ').filter(|w| !w.is_empty());
        let letters = words.next().unwrap_or("");
        let mut params = words;
        // Check everything first, so a refused change applies nothing.
        let mut plan: Vec<(bool, char, Option<&str>)> = Vec::new();
        let mut adding = true;
        for c in letters.chars() {
            match c {
                '+' => adding = true,
                '-' => adding = false,
                'o' | 'v' => {
                    let Some(nick) = params.next() else { continue };
                    if !is_member(nick) {
                        return Err(ModeError::NotInRoom(nick.into()));
                    }
                    plan.push((adding, c, Some(nick)));
                }
                'b' => plan.push((adding, c, params.next())),
                't' | 'm' => plan.push((adding, c, None)),
                other => return Err(ModeError::Unknown(other)),
            }
        }
        let (mut flags, mut args) = (String::new(), Vec::new());
        let mut sign = None;
        for (add, c, param) in plan {
            let changed = match (c, param) {
                ('o', Some(n)) if add => self.ops.insert(lower(n)),
                ('o', Some(n)) => self.ops.remove(&lower(n)),
                ('v', Some(n)) if add => self.voiced.insert(lower(n)),
                ('v', Some(n)) => self.voiced.remove(&lower(n)),
                ('b', Some(m)) if add => {
                    let mask = lower(m);
                    let new = !self.bans.iter().any(|b| b.mask == mask);
                    if new {
                        self.bans.push(Ban {
                            mask,
                            by: by.into(),
                            at_ms: now_ms,
                        });
                    }
                    new
                }
                ('b', Some(m)) => {
                    let before = self.bans.len();
                    let mask = lower(m);
                    self.bans.retain(|b| b.mask != mask);
                    self.bans.len() != before
                }
                ('t', _) => std::mem::replace(&mut self.topic_ops, add) != add,
                ('m', _) => std::mem::replace(&mut self.moderated, add) != add,
                _ => false, // `b` without a mask: a listing, not a change
            };
            if changed {
                if sign != Some(add) {
                    flags.push(if add { '+' } else { '-' });
                    sign = Some(add);
                }
                flags.push(c);
                if let Some(p) = param {
                    args.push(p);
                }
            }
        }
        let mut applied = flags;
        for a in args {
            applied.push(' ');
            applied.push_str(a);
        }
        Ok(applied)
    }
}

/// What a cluster node copies of the state to hand it to other nodes.
impl Channel {
    /// The operators and voiced members (lower-cased), in no order.
    pub fn statuses(&self) -> (Vec<&str>, Vec<&str>) {
        let ops = self.ops.iter().map(|n| &**n).collect();
        (ops, self.voiced.iter().map(|n| &**n).collect())
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
    fn changes_apply_whole_or_not_at_all() {
        let mut c = Channel::new(0);
        c.add_op("Ann");
        let members = |n: &str| ["ann", "bob"].contains(&n.to_ascii_lowercase().as_str());
        assert_eq!(
            c.apply("+ov bob bob", "ann", 1, members),
            Ok("+ov bob bob".into())
        );
        assert_eq!(c.prefix("BOB"), "@");
        assert_eq!(c.apply("+o bob", "ann", 1, members), Ok(String::new()));
        assert_eq!(
            c.apply("-o+tm bob", "ann", 1, members),
            Ok("-o+tm bob".into())
        );
        assert_eq!(c.prefix("bob"), "+");
        assert_eq!(c.mode_string(), "+mt");
        assert!(c.may_speak("bob") && c.may_speak("ann") && !c.may_speak("eve"));
        assert_eq!(
            c.apply("+o-m eve", "ann", 1, members),
            Err(ModeError::NotInRoom("eve".into()))
        );
        assert!(c.moderated, "a refused change applies nothing");
        assert_eq!(
            c.apply("+x", "ann", 1, members),
            Err(ModeError::Unknown('x'))
        );
        assert_eq!(
            c.apply("+b *!*@user/eve", "ann", 7, members),
            Ok("+b *!*@user/eve".into())
        );
        assert!(c.is_banned("Eve") && !c.is_banned("bob"));
        assert_eq!(c.bans()[0].by.as_ref(), "ann");
        assert_eq!(c.apply("+b", "ann", 1, members), Ok(String::new()));
        assert_eq!(
            c.apply("-b *!*@USER/EVE", "ann", 1, members),
            Ok("-b *!*@USER/EVE".into())
        );
        assert!(!c.is_banned("eve"));
        c.rename("bob", "Robert");
        assert_eq!(c.prefix("robert"), "+");
        c.forget("robert");
        assert_eq!(c.prefix("robert"), "");
    }
}
