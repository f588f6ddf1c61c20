//! The test suite every [`Backend`] must pass, whatever keeps the data:
//! each backend's tests run it against a fresh, empty store.

use super::{Account, Backend, HistKind, HistLine, Range, SavedTopic, Target};

/// Runs every check of the suite against `b`, which must be empty.
pub(crate) fn exercise(b: &mut dyn Backend) {
    accounts(b);
    topics(b);
    targets(b);
    super::suite_history::append_and_trim(b);
    super::suite_history::ranges(b);
}

/// Checks that two instances over one database see each other's commits;
/// both must be empty.
pub(crate) fn two_connections(a: &mut dyn Backend, b: &mut dyn Backend) {
    assert!(a.create_account(&account("Shared", "h1")).unwrap());
    assert_eq!(&*b.account("shared").unwrap().unwrap().hash, "h1");
    assert!(b.set_hash("SHARED", "h2").unwrap());
    assert_eq!(&*a.account("Shared").unwrap().unwrap().hash, "h2");
    assert!(!b.create_account(&account("sHaReD", "h3")).unwrap());

    let lines: Vec<HistLine> = (1..=3).map(|i| line("both", i, 100 + i)).collect();
    a.append(&lines, 10).unwrap();
    let seen = b.history("both", &Range::Latest { after: None }, 10);
    assert_eq!(seen.unwrap(), lines);

    b.save_topic(&topic("both", "from b")).unwrap();
    assert_eq!(a.topics().unwrap(), vec![topic("both", "from b")]);

    assert!(a.drop_account("shared").unwrap());
    assert_eq!(b.account("Shared").unwrap(), None);
}

pub(crate) fn account(name: &str, hash: &str) -> Account {
    Account {
        name: name.into(),
        hash: hash.into(),
        created_ms: 1_700_000_000_000,
    }
}

/// Line `n` of `room`: message id `<room>-<n>`, at `time_ms`; odd lines
/// have an account, and the kinds take turns.
pub(crate) fn line(room: &str, n: u64, time_ms: u64) -> HistLine {
    HistLine {
        room: room.into(),
        msgid: format!("{room}-{n}").into(),
        time_ms,
        kind: HistKind::from_u8((n % 4) as u8).unwrap(),
        nick: format!("nick{n}").into(),
        account: (n % 2 == 1).then(|| format!("acct{n}").into()),
        text: format!("line {n}: tabs\tand ünïcode").into(),
    }
}

pub(crate) fn topic(room: &str, text: &str) -> SavedTopic {
    SavedTopic {
        room: room.into(),
        text: text.into(),
        set_by: "setter".into(),
        set_ms: 1_700_000_000_123,
    }
}

fn accounts(b: &mut dyn Backend) {
    assert_eq!(b.account("alice").unwrap(), None);
    assert!(b.account_names().unwrap().is_empty());

    let alice = account("Alice", "$argon2id$v=19$m=19456,t=2,p=1$salt$hash");
    assert!(b.create_account(&alice).unwrap());
    for taken in ["Alice", "alice", "ALICE", "aLiCe"] {
        assert!(!b.create_account(&account(taken, "other")).unwrap());
    }
    for spelled in ["alice", "ALICE", "Alice"] {
        assert_eq!(b.account(spelled).unwrap().as_ref(), Some(&alice));
    }
    assert!(b.create_account(&account("bob", "hb")).unwrap());

    let mut names = b.account_names().unwrap();
    names.sort();
    assert_eq!(names, ["Alice", "bob"].map(Box::from));

    assert!(b.set_hash("ALICE", "new").unwrap());
    let changed = b.account("alice").unwrap().unwrap();
    assert_eq!((&*changed.name, &*changed.hash), ("Alice", "new"));
    assert_eq!(changed.created_ms, alice.created_ms);
    assert!(!b.set_hash("carol", "x").unwrap());
    assert_eq!(b.account("carol").unwrap(), None);

    assert!(b.drop_account("aLICE").unwrap());
    assert!(!b.drop_account("alice").unwrap());
    assert!(!b.set_hash("alice", "again").unwrap());
    assert_eq!(b.account("Alice").unwrap(), None);
    assert_eq!(b.account_names().unwrap(), [Box::from("bob")]);
    // The name is free again once dropped.
    assert!(b.create_account(&account("ALICE", "h")).unwrap());
    assert_eq!(&*b.account("alice").unwrap().unwrap().name, "ALICE");
    assert!(b.drop_account("alice").unwrap());
    assert!(b.drop_account("bob").unwrap());
    assert!(b.account_names().unwrap().is_empty());
}

fn topics(b: &mut dyn Backend) {
    assert!(b.topics().unwrap().is_empty());
    b.save_topic(&topic("a", "first")).unwrap();
    b.save_topic(&topic("b", "tabs\tin a topic")).unwrap();
    b.save_topic(&topic("a", "second")).unwrap();
    let mut all = b.topics().unwrap();
    all.sort_by(|x, y| x.room.cmp(&y.room));
    assert_eq!(
        all,
        vec![topic("a", "second"), topic("b", "tabs\tin a topic")]
    );

    b.save_topic(&topic("a", "")).unwrap();
    assert_eq!(b.topics().unwrap(), vec![topic("b", "tabs\tin a topic")]);
    // Clearing what was never set is no error.
    b.save_topic(&topic("never", "")).unwrap();
    b.save_topic(&topic("b", "")).unwrap();
    assert!(b.topics().unwrap().is_empty());
}

fn targets(b: &mut dyn Backend) {
    let lines = [
        line("ta", 1, 100),
        line("tb", 1, 150),
        line("ta", 2, 200),
        line("tc", 1, 300),
        line("elsewhere", 1, 250),
    ];
    b.append(&lines, 100).unwrap();
    let rooms: Vec<Box<str>> = ["ta", "tb", "tc", "td"].map(Into::into).to_vec();
    let t = |room: &str, latest_ms| Target {
        room: room.into(),
        latest_ms,
    };
    let all = vec![t("tb", 150), t("ta", 200), t("tc", 300)];
    assert_eq!(b.targets(&rooms, 0, 1000, 10).unwrap(), all);
    assert_eq!(b.targets(&rooms, 1000, 0, 10).unwrap(), all);
    // From the earlier side the oldest, from the later side the newest.
    assert_eq!(b.targets(&rooms, 0, 1000, 2).unwrap(), all[..2]);
    assert_eq!(b.targets(&rooms, 1000, 0, 2).unwrap(), all[1..]);
    // Both ends are exclusive, and only lines inside count.
    assert_eq!(b.targets(&rooms, 150, 300, 10).unwrap(), vec![t("ta", 200)]);
    assert_eq!(
        b.targets(&rooms, 0, 199, 10).unwrap(),
        [t("ta", 100), t("tb", 150)]
    );
    assert!(b.targets(&rooms, 0, 1000, 0).unwrap().is_empty());
    assert!(b.targets(&[], 0, 1000, 10).unwrap().is_empty());
    b.append(
        &[line("ta", 3, 10), line("tb", 3, 20), line("tc", 3, 30)],
        0,
    )
    .unwrap();
    assert!(b.targets(&rooms, 0, 1000, 10).unwrap().is_empty());
}
