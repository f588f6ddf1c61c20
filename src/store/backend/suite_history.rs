//! The history half of the backend test suite: appending and trimming,
//! and every [`Range`] form against one small room.

use super::suite::line;
use super::{Backend, HistLine, Mark, Range};

fn ids(lines: &[HistLine]) -> Vec<String> {
    lines.iter().map(|l| l.msgid.to_string()).collect()
}

/// `r-a` to `r-b` of room `r`, as message ids.
fn run(room: &str, a: u64, b: u64) -> Vec<String> {
    (a..=b).map(|n| format!("{room}-{n}")).collect()
}

fn latest(b: &mut dyn Backend, room: &str) -> Vec<String> {
    ids(&b
        .history(room, &Range::Latest { after: None }, 1000)
        .unwrap())
}

pub(super) fn append_and_trim(b: &mut dyn Backend) {
    let t = |n| line("t", n, 1000 + n);
    let u = |n| line("u", n, 1000 + n);
    b.append(&[], 3).unwrap();
    b.append(&(1..=5).map(t).collect::<Vec<_>>(), 3).unwrap();
    assert_eq!(latest(b, "t"), run("t", 3, 5));
    b.append(&[t(6), t(7)], 3).unwrap();
    assert_eq!(latest(b, "t"), run("t", 5, 7));

    b.append(&(1..=5).map(u).collect::<Vec<_>>(), 10).unwrap();
    b.append(&[t(8)], 2).unwrap();
    assert_eq!(latest(b, "t"), run("t", 7, 8));
    assert_eq!(
        latest(b, "u"),
        run("u", 1, 5),
        "an untouched room is kept whole"
    );

    b.append(&[t(9), u(6), t(10)], 4).unwrap();
    assert_eq!(latest(b, "t"), run("t", 7, 10));
    assert_eq!(latest(b, "u"), run("u", 3, 6));
    let full = b.history("t", &Range::Latest { after: None }, 1).unwrap();
    assert_eq!(full, vec![t(10)], "every field comes back as stored");

    b.append(&[t(11)], 0).unwrap();
    assert!(latest(b, "t").is_empty(), "keep 0 empties the room");
    assert_eq!(latest(b, "u"), run("u", 3, 6));
    assert!(latest(b, "never").is_empty());
    b.append(&[u(7)], 0).unwrap();
    assert!(latest(b, "u").is_empty());
}

pub(super) fn ranges(b: &mut dyn Backend) {
    // Lines 4, 5 and 6 share a millisecond; room `o` interleaves with the
    // same times, to show rooms stay apart.
    let times = [100, 110, 120, 130, 130, 130, 160, 170, 180, 190];
    let mut lines = Vec::new();
    for (n, t) in (1..).zip(times) {
        lines.push(line("r", n, t));
        lines.push(line("o", n, t));
    }
    b.append(&lines, 100).unwrap();

    let id = |n: u64| Mark::MsgId(format!("r-{n}").into());
    let time = Mark::Time;
    let mut q = |range: Range, limit| ids(&b.history("r", &range, limit).unwrap());
    let none: Vec<String> = Vec::new();

    let all = Range::Latest { after: None };
    assert_eq!(q(all.clone(), 100), run("r", 1, 10));
    assert_eq!(q(all.clone(), 3), run("r", 8, 10));
    assert_eq!(q(all, 0), none);
    let after = |m| Range::Latest { after: Some(m) };
    assert_eq!(q(after(id(8)), 10), run("r", 9, 10));
    assert_eq!(q(after(id(2)), 3), run("r", 8, 10));
    assert_eq!(q(after(time(130)), 10), run("r", 7, 10));
    assert_eq!(q(after(time(129)), 100), run("r", 4, 10));
    assert_eq!(q(after(id(10)), 10), none);

    assert_eq!(q(Range::Before(id(5)), 2), run("r", 3, 4));
    assert_eq!(q(Range::Before(id(5)), 100), run("r", 1, 4));
    assert_eq!(q(Range::Before(time(130)), 10), run("r", 1, 3));
    assert_eq!(q(Range::Before(time(131)), 2), run("r", 5, 6));
    assert_eq!(q(Range::Before(id(1)), 10), none);

    assert_eq!(q(Range::After(id(5)), 2), run("r", 6, 7));
    assert_eq!(q(Range::After(time(130)), 2), run("r", 7, 8));
    assert_eq!(q(Range::After(time(129)), 2), run("r", 4, 5));
    assert_eq!(q(Range::After(time(0)), 100), run("r", 1, 10));
    assert_eq!(q(Range::After(id(10)), 10), none);

    assert_eq!(q(Range::Around(id(5)), 4), run("r", 3, 6));
    assert_eq!(q(Range::Around(id(5)), 5), run("r", 3, 7));
    assert_eq!(q(Range::Around(id(5)), 1), run("r", 5, 5));
    assert_eq!(
        q(Range::Around(id(1)), 4),
        run("r", 1, 4),
        "nothing before: all after"
    );
    assert_eq!(q(Range::Around(id(10)), 4), run("r", 8, 10));
    assert_eq!(q(Range::Around(time(130)), 4), run("r", 2, 5));
    assert_eq!(q(Range::Around(time(125)), 4), run("r", 2, 5));
    assert_eq!(q(Range::Around(id(5)), 0), none);

    let between = |a, b| Range::Between(a, b);
    assert_eq!(q(between(id(2), id(6)), 10), run("r", 3, 5));
    assert_eq!(q(between(id(2), id(6)), 2), run("r", 3, 4));
    assert_eq!(q(between(id(6), id(2)), 10), run("r", 3, 5));
    assert_eq!(q(between(id(6), id(2)), 2), run("r", 4, 5));
    assert_eq!(q(between(time(110), time(160)), 10), run("r", 3, 6));
    assert_eq!(q(between(time(160), time(110)), 2), run("r", 5, 6));
    assert_eq!(q(between(id(5), time(170)), 10), run("r", 6, 7));
    assert_eq!(q(between(time(130), id(9)), 10), run("r", 7, 8));
    assert_eq!(q(between(time(170), id(4)), 1), run("r", 7, 7));
    assert_eq!(q(between(id(2), id(2)), 10), none);
    assert_eq!(q(between(id(2), id(3)), 10), none);
    assert_eq!(q(between(time(130), time(130)), 10), none);
    assert_eq!(q(between(time(0), time(1000)), 0), none);

    // A message id that names no line of this room gives nothing, even if
    // another room has it.
    for unknown in ["r-99", "o-5", ""] {
        let m = || Mark::MsgId(unknown.into());
        assert_eq!(q(after(m()), 10), none);
        assert_eq!(q(Range::Before(m()), 10), none);
        assert_eq!(q(Range::After(m()), 10), none);
        assert_eq!(q(Range::Around(m()), 10), none);
        assert_eq!(q(between(m(), time(1000)), 10), none);
        assert_eq!(q(between(time(0), m()), 10), none);
    }
    assert!(b
        .history("nowhere", &Range::After(time(0)), 10)
        .unwrap()
        .is_empty());

    // Where clocks disagree (lines stored out of time order), time rules
    // and the storage order only breaks ties.
    b.append(
        &[line("s", 1, 100), line("s", 2, 300), line("s", 3, 200)],
        10,
    )
    .unwrap();
    assert_eq!(latest(b, "s"), ["s-1", "s-3", "s-2"]);
    let mut q = |range: Range, limit| ids(&b.history("s", &range, limit).unwrap());
    assert_eq!(q(Range::Latest { after: None }, 2), ["s-3", "s-2"]);
    assert_eq!(
        q(Range::Before(Mark::MsgId("s-2".into())), 10),
        ["s-1", "s-3"]
    );
    assert_eq!(q(Range::After(Mark::MsgId("s-3".into())), 10), ["s-2"]);
    assert_eq!(q(Range::After(Mark::Time(150)), 1), ["s-3"]);
}
