//! IRC user modes: `i` (invisible) and `w` (receives WALLOPS) are kept as
//! the client sets them and reported back; `o` is given by OPER only, so
//! `MODE nick +o` is ignored (and `-o` too: operators stay operators until
//! they leave). Any other letter gets 501.

/// Invisible (`+i`).
pub(crate) const INVISIBLE: u8 = 1;
/// Wants WALLOPS (`+w`).
pub(crate) const WALLOPS: u8 = 2;

const LETTERS: [(char, u8); 2] = [('i', INVISIBLE), ('w', WALLOPS)];

/// The modes as 221 shows them: `+` and the letters set (`o` for an
/// operator).
pub(crate) fn show(modes: u8, oper: bool) -> String {
    let mut s = String::from("+");
    for (letter, bit) in LETTERS {
        if modes & bit != 0 {
            s.push(letter);
        }
    }
    if oper {
        s.push('o');
    }
    s
}

/// Applies a change such as `+iw` or `-w+i` to `modes`: the new modes,
/// what actually changed (`+i`, empty if nothing), and whether the change
/// had a letter the server does not know.
pub(crate) fn apply(modes: u8, change: &str) -> (u8, String, bool) {
    let (mut now, mut adding, mut unknown) = (modes, true, false);
    let (mut plus, mut minus) = (String::new(), String::new());
    for ch in change.chars() {
        match ch {
            '+' => adding = true,
            '-' => adding = false,
            'o' | 'O' => {}
            _ => match LETTERS.iter().find(|(l, _)| *l == ch) {
                Some(&(letter, bit)) if adding && now & bit == 0 => {
                    now |= bit;
                    plus.push(letter);
                }
                Some(&(letter, bit)) if !adding && now & bit != 0 => {
                    now &= !bit;
                    minus.push(letter);
                }
                Some(_) => {}
                None => unknown = true,
            },
        }
    }
    let mut changed = String::new();
    if !plus.is_empty() {
        changed.push('+');
        changed.push_str(&plus);
    }
    if !minus.is_empty() {
        changed.push('-');
        changed.push_str(&minus);
    }
    (now, changed, unknown)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_change_report_what_changed_and_flag_unknown_letters() {
        assert_eq!(apply(0, "+i"), (INVISIBLE, "+i".into(), false));
        assert_eq!(
            apply(INVISIBLE, "+iw"),
            (INVISIBLE | WALLOPS, "+w".into(), false)
        );
        assert_eq!(
            apply(INVISIBLE | WALLOPS, "-i+x"),
            (WALLOPS, "-i".into(), true)
        );
        assert_eq!(apply(0, "+o"), (0, String::new(), false));
        assert_eq!(apply(0, "-i"), (0, String::new(), false));
        assert_eq!(show(INVISIBLE | WALLOPS, true), "+iwo");
        assert_eq!(show(0, false), "+");
    }
}
