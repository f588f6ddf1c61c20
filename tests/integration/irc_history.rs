//! Room history over IRC: the form history takes on joining for each set
//! of capabilities (a `chathistory` batch, plain lines, `time` tags, or
//! nothing with `draft/chathistory`), every CHATHISTORY subcommand with
//! message-id and timestamp marks, its errors, and lines of IRC and line
//! clients in each other's history.

use std::net::SocketAddr;

use crate::accounts::registered;
use crate::history::{now_secs, replay};
use crate::irc::{irc_server, irc_server_with, Irc};
use crate::util::Backend;

/// Registers `nick` with the capabilities `caps` (empty: none); returns
/// the client and its welcome.
fn client(addr: SocketAddr, nick: &str, caps: &str) -> (Irc, Vec<String>) {
    let mut c = Irc::open(addr);
    if !caps.is_empty() {
        c.send("CAP LS 302");
        c.until(":irc.test CAP * LS ");
        c.send(&format!("CAP REQ :{caps}"));
        c.expect(&format!(":irc.test CAP * ACK :{caps}"));
    }
    c.send(&format!("NICK {nick}"));
    c.send(&format!("USER {nick} 0 * :{nick}"));
    if !caps.is_empty() {
        c.send("CAP END");
    }
    let welcome = c.until(":irc.test 422 ");
    (c, welcome)
}

/// Joins `chan` and reads through the NAMES that follow.
fn join(c: &mut Irc, chan: &str) {
    c.send(&format!("JOIN {chan}"));
    c.until(":irc.test 366 ");
}

/// A line as a tagged client saw it: its tags and the line itself.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Said {
    tags: Vec<(String, String)>,
    line: String,
}

impl Said {
    fn parse(raw: &str) -> Said {
        let (tags, line) = match raw.strip_prefix('@') {
            Some(rest) => rest.split_once(' ').expect("tags, then the line"),
            None => ("", raw),
        };
        let tags = tags
            .split(';')
            .filter(|t| !t.is_empty())
            .map(|t| {
                let (k, v) = t.split_once('=').unwrap_or((t, ""));
                (k.to_string(), v.to_string())
            })
            .collect();
        Said {
            tags,
            line: line.to_string(),
        }
    }

    fn tag(&self, key: &str) -> &str {
        self.tags
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("no {key} tag: {self:?}"))
    }

    fn time(&self) -> &str {
        self.tag("time")
    }

    fn msgid(&self) -> &str {
        self.tag("msgid")
    }
}

/// Reads a batch opened as `BATCH +<ref> <what>`: its lines, each with
/// its `batch` tag (which must come first) taken off.
fn batched(c: &mut Irc, what: &str) -> Vec<String> {
    let open = c.line();
    let reference = open
        .strip_prefix(":irc.test BATCH +")
        .and_then(|r| r.strip_suffix(&format!(" {what}")))
        .unwrap_or_else(|| panic!("a {what} batch: {open:?}"))
        .to_string();
    let close = format!(":irc.test BATCH -{reference}");
    let alone = format!("@batch={reference} ");
    let first = format!("@batch={reference};");
    let mut lines = Vec::new();
    loop {
        let l = c.line();
        if l == close {
            return lines;
        }
        lines.push(match (l.strip_prefix(&alone), l.strip_prefix(&first)) {
            (Some(rest), _) => rest.to_string(),
            (_, Some(rest)) => format!("@{rest}"),
            _ => panic!("a line of the batch: {l:?}"),
        });
    }
}

/// Reads a `chathistory` batch for `target`.
fn batch(c: &mut Irc, target: &str) -> Vec<Said> {
    let lines = batched(c, &format!("chathistory {target}"));
    lines.iter().map(|l| Said::parse(l)).collect()
}

/// What `c` reads next: `want`'s lines, each with `tags` (built from the
/// line as first seen) before it.
fn expect_each(c: &mut Irc, want: &[&Said], tags: impl Fn(&Said) -> String) {
    for s in want {
        c.expect(&format!("{}{}", tags(s), s.line));
    }
}

fn history_on_join_takes_the_form_the_client_reads(b: Backend) {
    let since = now_secs();
    let (s, addr) = irc_server_with(b, &["--threads", "1", "--history", "10"]);
    let mut ann = registered(&s, "ann", "secret123");
    ann.send("/join #r");
    ann.expect("* you joined #r (1 users)");
    let (mut tom, _) = client(addr, "tom", "message-tags server-time echo-message");
    join(&mut tom, "#r");
    ann.expect("* tom joined #r");

    // Said by both kinds of client; tom sees each with its tags.
    tom.send("PRIVMSG #r :one");
    tom.send("NOTICE #r :two");
    ann.expect("[tom] one");
    ann.expect("[tom] two");
    ann.send("/me waves");
    ann.send("/topic four");
    ann.expect("* you set the topic of #r: four");
    ann.send("five");
    let said: Vec<Said> = (0..5).map(|_| Said::parse(&tom.line())).collect();
    let lines: Vec<&str> = said.iter().map(|s| s.line.as_str()).collect();
    assert_eq!(
        lines,
        [
            ":tom!tom@user/tom PRIVMSG #r :one",
            ":tom!tom@user/tom NOTICE #r :two",
            ":ann!ann@user/ann PRIVMSG #r :\x01ACTION waves\x01",
            ":ann!ann@user/ann TOPIC #r :four",
            ":ann!ann@user/ann PRIVMSG #r :five",
        ]
    );
    assert_eq!(said[4].tag("account"), "ann");
    // Private messages are not history.
    tom.send("PRIVMSG ann :psst");
    tom.line();
    ann.expect("[tom -> ann] psst");
    let no_topic: Vec<&Said> = said
        .iter()
        .filter(|s| !s.line.contains(" TOPIC "))
        .collect();

    // Asking for history itself, a client is pushed none (checked below).
    let caps = "draft/chathistory batch server-time message-tags";
    let (mut asks, _) = client(addr, "asks", caps);
    join(&mut asks, "#r");

    // A plain client gets plain lines, without the topic change.
    let (mut plain, _) = client(addr, "plain", "");
    join(&mut plain, "#r");
    expect_each(&mut plain, &no_topic, |_| String::new());

    // server-time alone: the same, with their times.
    let (mut timed, _) = client(addr, "timed", "server-time");
    join(&mut timed, "#r");
    expect_each(&mut timed, &no_topic, |s| format!("@time={} ", s.time()));
    plain.expect(":timed!timed@user/timed JOIN #r");

    // batch and server-time: a batch; the topic change is left out
    // (an event beyond messages, for draft/event-playback only).
    let (mut grouped, _) = client(addr, "grouped", "batch server-time");
    join(&mut grouped, "#r");
    let got = batch(&mut grouped, "#r");
    let want: Vec<Said> = no_topic
        .iter()
        .map(|s| Said {
            tags: vec![("time".into(), s.time().into())],
            line: s.line.clone(),
        })
        .collect();
    assert_eq!(got, want);
    assert!(timed
        .line()
        .ends_with(" :grouped!grouped@user/grouped JOIN #r"));

    // With message-tags too: the msgid and account each line had live;
    // with draft/event-playback, the topic change as well.
    let caps = "batch server-time message-tags draft/event-playback";
    let (mut tagged, _) = client(addr, "tagged", caps);
    join(&mut tagged, "#r");
    assert_eq!(batch(&mut tagged, "#r"), said);

    // A line client: IRC clients' lines in its form.
    let mut line = s.connect_as("line");
    line.send("/join #r");
    line.expect("* you joined #r (8 users)");
    line.expect("* topic of #r: four (set by ann)");
    let want = [
        "[tom] one",
        "[tom] two",
        "* ann waves",
        "* ann set the topic of #r: four",
        "[ann] five",
    ];
    assert_eq!(replay(&mut line, "r", since), want);

    // Every replay above went out after the one `asks` would have had.
    asks.send("PING :done");
    loop {
        let l = asks.line();
        if l == ":irc.test PONG irc.test :done" {
            break;
        }
        assert!(l.ends_with(" JOIN #r"), "only joins: {l:?}");
    }
}

/// CHATHISTORY TARGETS: the lines of its batch.
fn targets(c: &mut Irc, from: &str, to: &str, limit: usize) -> Vec<String> {
    c.send(&format!(
        "CHATHISTORY TARGETS timestamp={from} timestamp={to} {limit}"
    ));
    batched(c, "draft/chathistory-targets")
}

fn chathistory_answers_every_subcommand(b: Backend) {
    let (s, addr) = irc_server_with(b, &["--history", "10"]);
    let caps = "draft/chathistory batch server-time message-tags echo-message";
    let (mut q, welcome) = client(addr, "q", caps);
    let isupport: Vec<&str> = welcome
        .iter()
        .filter(|l| l.starts_with(":irc.test 005 "))
        .flat_map(|l| l.split(' '))
        .collect();
    assert!(isupport.contains(&"CHATHISTORY=10"), "{welcome:?}");
    assert!(
        isupport.contains(&"MSGREFTYPES=msgid,timestamp"),
        "{welcome:?}"
    );
    join(&mut q, "#h");
    join(&mut q, "#g");
    // A room with history that q is not in.
    let mut bob = s.connect_as("bob");
    bob.send("/join #side");
    bob.expect("* you joined #side (1 users)");
    bob.send("said aside");
    let mut ann = s.connect_as("ann");
    ann.send("/join #h");
    ann.expect("* you joined #h (2 users)");
    assert!(q.line().ends_with(":ann!ann@user/ann JOIN #h"));

    // m[0..6] is m1..m6: q's own (echoed) and ann's, as q saw them live.
    let mut m = Vec::new();
    for n in 1..=6 {
        match n {
            3 => ann.send("m3"),
            _ => q.send(&format!("PRIVMSG #h :m{n}")),
        }
        let said = Said::parse(&q.line());
        assert!(
            said.line.ends_with(&format!(" PRIVMSG #h :m{n}")),
            "{said:?}"
        );
        m.push(said);
    }
    q.send("PRIVMSG #g :g1");
    let g1 = Said::parse(&q.line());
    let mut ask = |query: String| {
        q.send(&format!("CHATHISTORY {query}"));
        batch(&mut q, "#h")
    };
    let id = |s: &Said| s.msgid().to_string();
    let t = |s: &Said| s.time().to_string();
    let when = |keep: &dyn Fn(&str) -> bool| -> Vec<Said> {
        m.iter().filter(|s| keep(s.time())).cloned().collect()
    };

    // The msgid and time a line had live are those history gives it.
    assert_eq!(ask("LATEST #h * 10".into()), m);
    assert_eq!(ask("latest #H * 500".into()), m, "any case; limit capped");
    assert_eq!(ask("LATEST #h * 2".into()), m[4..6]);
    assert_eq!(ask(format!("LATEST #h msgid={} 10", id(&m[3]))), m[4..6]);
    let t4 = t(&m[3]);
    let later = when(&|x| x > t4.as_str());
    assert_eq!(ask(format!("LATEST #h timestamp={t4} 10")), later);
    assert_eq!(ask(format!("AFTER #h timestamp={t4} 10")), later);
    let earlier = when(&|x| x < t4.as_str());
    assert_eq!(ask(format!("BEFORE #h timestamp={t4} 10")), earlier);

    // Paging back and forth with the msgids of earlier answers.
    let page = ask("LATEST #h * 2".into());
    let page = ask(format!("BEFORE #h msgid={} 2", id(&page[0])));
    assert_eq!(page, m[2..4]);
    let page = ask(format!("BEFORE #h msgid={} 2", id(&page[0])));
    assert_eq!(page, m[0..2]);
    assert_eq!(ask(format!("BEFORE #h msgid={} 2", id(&page[0]))), []);
    let page = ask(format!("AFTER #h msgid={} 3", id(&page[1])));
    assert_eq!(page, m[2..5]);
    assert_eq!(ask(format!("AFTER #h msgid={} 3", id(&page[2]))), m[5..]);
    assert_eq!(ask("AFTER #h msgid=no-such-line 3".into()), []);

    assert_eq!(ask(format!("AROUND #h msgid={} 3", id(&m[3]))), m[2..5]);
    assert_eq!(ask(format!("AROUND #h msgid={} 1", id(&m[3]))), m[3..4]);
    // BETWEEN from the first mark's side, either way round.
    let (a, z) = (id(&m[0]), id(&m[4]));
    assert_eq!(ask(format!("BETWEEN #h msgid={a} msgid={z} 10")), m[1..4]);
    assert_eq!(ask(format!("BETWEEN #h msgid={a} msgid={z} 2")), m[1..3]);
    assert_eq!(ask(format!("BETWEEN #h msgid={z} msgid={a} 2")), m[2..4]);
    let (t1, t6) = (t(&m[0]), t(&m[5]));
    let inside = when(&|x| t1.as_str() < x && x < t6.as_str());
    let between = format!("BETWEEN #h timestamp={t1} timestamp={t6} 10");
    assert_eq!(ask(between), inside);

    // A nick: private messages are not kept, so an empty batch.
    q.send("CHATHISTORY LATEST ann * 10");
    assert_eq!(batch(&mut q, "ann"), []);

    // TARGETS: q's rooms with lines in the span, by their latest line.
    let mut rooms = [(t(&m[5]), "#h"), (t(&g1), "#g")];
    rooms.sort();
    let row = |(time, room): &(String, &str)| {
        format!(":irc.test CHATHISTORY TARGETS {room} timestamp={time}")
    };
    let (early, late) = ("2000-01-01T00:00:00.000Z", "2999-01-01T00:00:00.000Z");
    let both: Vec<String> = rooms.iter().map(row).collect();
    assert_eq!(targets(&mut q, early, late, 10), both);
    assert_eq!(targets(&mut q, early, late, 1), both[..1]);
    assert_eq!(targets(&mut q, late, early, 1), both[1..]);
    assert_eq!(targets(&mut q, early, &t1, 10), Vec::<String>::new());

    // Each: what follows CHATHISTORY | the FAIL line's code and text.
    for row in [
        "|NEED_MORE_PARAMS * :Missing parameters",
        " LATEST #h|NEED_MORE_PARAMS LATEST :Missing parameters",
        " BETWEEN #h * 5|NEED_MORE_PARAMS BETWEEN :Missing parameters",
        " FOO #h * 1|UNKNOWN_COMMAND FOO :Unknown subcommand",
        " LATEST #h * 0|INVALID_PARAMS LATEST :Invalid limit",
        " LATEST #h * many|INVALID_PARAMS LATEST :Invalid limit",
        " BEFORE #h * 5|INVALID_PARAMS BEFORE :Invalid message reference",
        " AFTER #h timestamp=today 5|INVALID_PARAMS AFTER :Invalid message reference",
        " TARGETS msgid=x * 5|INVALID_PARAMS TARGETS :Invalid timestamp",
        " LATEST #side * 5|INVALID_TARGET LATEST #side :You are not in that channel",
        " AROUND #nowhere msgid=x 5|INVALID_TARGET AROUND #nowhere :You are not in that channel",
    ] {
        let (query, answer) = row.split_once('|').expect("a query and its answer");
        q.send(&format!("CHATHISTORY{query}"));
        q.expect(&format!(":irc.test FAIL CHATHISTORY {answer}"));
    }
}

/// Without history, CHATHISTORY fails and ISUPPORT does not offer it;
/// with history kept but not replayed, it answers.
fn chathistory_without_history_or_replay(b: Backend) {
    let (_s, addr) = irc_server(b);
    let (mut c, welcome) = client(addr, "ann", "");
    assert!(
        !welcome.iter().any(|l| l.contains("CHATHISTORY")),
        "{welcome:?}"
    );
    join(&mut c, "#r");
    c.send("PRIVMSG #r :hello");
    for (query, target) in [
        ("LATEST #r * 10", "LATEST #r"),
        (
            "TARGETS timestamp=2000-01-01T00:00:00Z timestamp=2999-01-01T00:00:00Z 5",
            "TARGETS *",
        ),
    ] {
        c.send(&format!("CHATHISTORY {query}"));
        c.expect(&format!(
            ":irc.test FAIL CHATHISTORY MESSAGE_ERROR {target} :History is not kept on this server"
        ));
    }

    let (_s, addr) = irc_server_with(b, &["--history", "5", "--history-replay", "0"]);
    let (mut ann, _) = client(addr, "ann", "");
    join(&mut ann, "#r");
    ann.send("PRIVMSG #r :kept");
    let (mut bob, _) = client(addr, "bob", "batch server-time");
    join(&mut bob, "#r");
    assert_eq!(ann.line(), ":bob!bob@user/bob JOIN #r");
    ann.send("PRIVMSG #r :live");
    assert!(bob.line().ends_with(" :ann!ann@user/ann PRIVMSG #r :live"));
    bob.send("CHATHISTORY LATEST #r * 10");
    let lines: Vec<String> = batch(&mut bob, "#r").into_iter().map(|s| s.line).collect();
    let want = [
        ":ann!ann@user/ann PRIVMSG #r :kept",
        ":ann!ann@user/ann PRIVMSG #r :live",
    ];
    assert_eq!(lines, want);
}

both_backends!(
    history_on_join_takes_the_form_the_client_reads,
    chathistory_answers_every_subcommand,
    chathistory_without_history_or_replay,
);
