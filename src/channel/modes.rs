//! Mode changes on a channel, as IRC's MODE writes them (`+kl-m key 10`):
//! parsed, checked whole, then applied whole or not at all. Type A (`b`),
//! B (`k`), C (`l`) and D (`imnst`) modes as modern IRC defines them, and
//! the `o` and `v` prefixes.

use super::{lower, Ban, Channel};

/// The longest key (ISUPPORT `KEYLEN`).
pub const MAX_KEY: usize = 32;

/// The highest member limit `+l` takes.
pub const MAX_LIMIT: usize = 1_000_000;

/// Type A, B and C modes and prefixes taken from one change (ISUPPORT
/// `MODES`); any more are left out.
pub const MAX_MODE_PARAMS: usize = 4;

/// Why a mode change was refused (then nothing of it is applied).
#[derive(Debug, PartialEq, Eq)]
pub enum ModeError {
    /// A letter the server does not know.
    Unknown(char),
    /// `+o`/`+v` for someone not in the room.
    NotInRoom(Box<str>),
    /// A parameter the mode cannot take: the letter, the parameter, why.
    InvalidParam(char, Box<str>, &'static str),
}

/// What a mode change did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Applied {
    /// The change as applied (`+k-l key`, `-k *`), without what changed
    /// nothing; empty when nothing changed.
    pub change: String,
    /// The first mode left out for want of a parameter (`+k`, `+l` without
    /// one are ignored, as modern IRC says).
    pub missing: Option<char>,
}

/// Checks a key for `+k`: 1-32 characters of printable ASCII other than
/// the comma (which separates keys in JOIN).
fn check_key(key: &str) -> Result<(), &'static str> {
    let ok = !key.is_empty()
        && key.len() <= MAX_KEY
        && !key.starts_with(':')
        && key.bytes().all(|b| b.is_ascii_graphic() && b != b',');
    ok.then_some(())
        .ok_or("a key is 1-32 printable characters without a comma")
}

/// Checks a limit for `+l`: a whole number from 1 to [`MAX_LIMIT`].
fn check_limit(limit: &str) -> Result<usize, &'static str> {
    limit
        .parse::<usize>()
        .ok()
        .filter(|l| (1..=MAX_LIMIT).contains(l))
        .ok_or("a limit is a number from 1 to 1000000")
}

impl Channel {
    /// Applies `change` (`+o-v bob eve`, `+b *!*@user/spam*`, `+kl key
    /// 10`, `-k *`) by `by` at `now_ms`; `is_member` says whether a nick
    /// is in the room. Returns the change as applied, or why it was
    /// refused (then nothing is applied).
    pub fn apply(
        &mut self,
        change: &str,
        by: &str,
        now_ms: u64,
        is_member: impl Fn(&str) -> bool,
    ) -> Result<Applied, ModeError> {
        let mut words = change.split(' ').filter(|w| !w.is_empty());
        let letters = words.next().unwrap_or("");
        let mut params = words;
        let mut taken = 0;
        let mut missing = None;
        // Check everything first, so a refused change applies nothing.
        let mut plan: Vec<(bool, char, Option<&str>)> = Vec::new();
        let mut adding = true;
        for c in letters.chars() {
            // Whether this mode takes a parameter here.
            let wants = match c {
                '+' | '-' => {
                    adding = c == '+';
                    continue;
                }
                'o' | 'v' | 'b' | 'k' => true,
                'l' => adding,
                'i' | 'm' | 'n' | 's' | 't' => false,
                other => return Err(ModeError::Unknown(other)),
            };
            // Type A, B and C modes and prefixes count against `MODES`.
            if matches!(c, 'o' | 'v' | 'b' | 'k' | 'l') {
                if taken == MAX_MODE_PARAMS {
                    continue;
                }
                taken += 1;
            }
            let param = if wants { params.next() } else { None };
            match (c, param) {
                ('o' | 'v', None) => {}
                ('o' | 'v', Some(nick)) if !is_member(nick) => {
                    return Err(ModeError::NotInRoom(nick.into()));
                }
                ('k', Some(key)) if adding => {
                    check_key(key).map_err(|why| ModeError::InvalidParam('k', key.into(), why))?;
                    plan.push((true, 'k', Some(key)));
                }
                ('l', Some(limit)) => {
                    check_limit(limit)
                        .map_err(|why| ModeError::InvalidParam('l', limit.into(), why))?;
                    plan.push((true, 'l', Some(limit)));
                }
                ('k' | 'l', None) if adding => {
                    missing = missing.or(Some(c));
                }
                // `-k` takes any parameter, or none: the key goes.
                ('k', _) => plan.push((false, 'k', Some("*"))),
                (c, param) => plan.push((adding, c, param)),
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
                ('b', Some(m)) if add => self.ban(m, by, now_ms),
                ('b', Some(m)) => {
                    let before = self.bans.len();
                    let mask = lower(m);
                    self.bans.retain(|b| b.mask != mask);
                    self.bans.len() != before
                }
                ('k', Some(k)) if add => {
                    let new = Some(Box::from(k));
                    std::mem::replace(&mut self.key, new.clone()) != new
                }
                ('k', _) => self.key.take().is_some(),
                ('l', Some(l)) => {
                    let new = l.parse::<usize>().ok();
                    std::mem::replace(&mut self.limit, new) != new
                }
                ('l', None) => self.limit.take().is_some(),
                ('t', _) => std::mem::replace(&mut self.topic_ops, add) != add,
                ('m', _) => std::mem::replace(&mut self.moderated, add) != add,
                ('n', _) => std::mem::replace(&mut self.no_external, add) != add,
                ('i', _) => std::mem::replace(&mut self.invite_only, add) != add,
                ('s', _) => std::mem::replace(&mut self.secret, add) != add,
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
        let mut change = flags;
        for a in args {
            change.push(' ');
            change.push_str(a);
        }
        Ok(Applied { change, missing })
    }

    /// Adds a ban; whether it is new.
    fn ban(&mut self, mask: &str, by: &str, now_ms: u64) -> bool {
        let mask = lower(mask);
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn applied(change: &str) -> Result<Applied, ModeError> {
        Ok(Applied {
            change: change.into(),
            missing: None,
        })
    }

    fn members(n: &str) -> bool {
        ["ann", "bob"].contains(&n.to_ascii_lowercase().as_str())
    }

    #[test]
    fn changes_apply_whole_or_not_at_all() {
        let mut c = Channel::new(0);
        c.add_op("Ann");
        assert_eq!(c.mode_string(true), "+nt", "new channels are +nt");
        assert_eq!(
            c.apply("+ov bob bob", "ann", 1, members),
            applied("+ov bob bob")
        );
        assert_eq!(c.prefix("BOB"), "@");
        assert_eq!(c.apply("+o bob", "ann", 1, members), applied(""));
        assert_eq!(c.apply("-o+tm bob", "ann", 1, members), applied("-o+m bob"));
        assert_eq!(c.prefix("bob"), "+");
        assert_eq!(c.mode_string(true), "+mnt");
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
            applied("+b *!*@user/eve")
        );
        assert!(c.is_banned("Eve") && !c.is_banned("bob"));
        assert_eq!(c.bans()[0].by.as_ref(), "ann");
        assert_eq!(c.apply("+b", "ann", 1, members), applied(""));
        assert_eq!(
            c.apply("-b *!*@USER/EVE", "ann", 1, members),
            applied("-b *!*@USER/EVE")
        );
        assert!(!c.is_banned("eve"));
        c.rename("bob", "Robert");
        assert_eq!(c.prefix("robert"), "+");
        c.forget("robert");
        assert_eq!(c.prefix("robert"), "");
    }

    #[test]
    fn keys_and_limits_take_parameters() {
        let mut c = Channel::new(0);
        assert_eq!(
            c.apply("+kl secret 10", "ann", 1, members),
            applied("+kl secret 10")
        );
        assert_eq!(c.mode_string(true), "+klnt secret 10");
        assert_eq!(c.mode_string(false), "+klnt * 10");
        // -k takes any parameter, or none; -l none: the next word is +b's.
        assert_eq!(
            c.apply("-kl+b * x!*@*", "ann", 1, members),
            applied("-kl+b * x!*@*")
        );
        assert_eq!(c.mode_string(true), "+nt");
        assert_eq!(c.apply("-k", "ann", 1, members), applied(""));
        // Invalid parameters refuse the whole change.
        for (change, letter, param) in [
            ("+mk a,b", 'k', "a,b"),
            ("+k :x", 'k', ":x"),
            ("+l 0", 'l', "0"),
            ("+l ten", 'l', "ten"),
            ("+l 1000001", 'l', "1000001"),
        ] {
            match c.apply(change, "ann", 1, members) {
                Err(ModeError::InvalidParam(l, p, _)) => assert_eq!((l, &*p), (letter, param)),
                other => panic!("{change}: {other:?}"),
            }
        }
        let long = format!("+k {}", "k".repeat(MAX_KEY + 1));
        assert!(matches!(
            c.apply(&long, "ann", 1, members),
            Err(ModeError::InvalidParam('k', _, _))
        ));
        assert!(!c.moderated);
        // Without its parameter +k or +l is left out, the rest applies.
        assert_eq!(
            c.apply("+ik", "ann", 1, members),
            Ok(Applied {
                change: "+i".into(),
                missing: Some('k')
            })
        );
        // A new key replaces the old one; the same one changes nothing.
        c.apply("+k one", "ann", 1, members).ok();
        assert_eq!(c.apply("+k one", "ann", 1, members), applied(""));
        assert_eq!(c.apply("+k two", "ann", 1, members), applied("+k two"));
        assert_eq!(c.apply("-s+s-s", "ann", 1, members), applied("+s-s"));
    }

    #[test]
    fn at_most_four_variable_modes_are_taken() {
        let mut c = Channel::new(0);
        let change = "+bbbbb a!*@* b!*@* c!*@* d!*@* e!*@*";
        assert_eq!(
            c.apply(change, "ann", 1, members),
            applied("+bbbb a!*@* b!*@* c!*@* d!*@*")
        );
        assert_eq!(c.bans().len(), 4);
        assert_eq!(
            c.apply("+kl-bbb+m k 5 a!*@* b!*@* c!*@*", "ann", 1, members),
            applied("+kl-bb+m k 5 a!*@* b!*@*")
        );
    }
}
