//! The IRC session on its own: what each line decodes to, and how replies
//! render as numerics.

use std::borrow::Cow;
use std::sync::Arc;

use super::*;
use crate::proto::Caps;

fn session() -> IrcSession {
    IrcSession::new(Arc::new(Identity {
        server: "irc.test".into(),
        network: "TestNet".into(),
        motd: Default::default(),
        history_max: 100,
    }))
}

fn decode<'a>(
    s: &mut IrcSession,
    line: &'a str,
    registered: bool,
) -> Option<Result<Request<'a>, Reply>> {
    s.decode(Line::Complete(line.as_bytes()), registered)
}

fn render(s: &IrcSession, nick: &str, reply: &Reply) -> String {
    let mut out = Vec::new();
    s.render_reply(nick, reply, &mut out);
    String::from_utf8(out).expect("UTF-8")
}

#[test]
fn registration_waits_for_nick_user_and_cap_end() {
    let mut s = session();
    assert_eq!(
        decode(&mut s, "CAP LS 302", false),
        Some(Err(Reply::Caps(Caps::List)))
    );
    assert_eq!(decode(&mut s, "NICK ann", false), None);
    assert_eq!(decode(&mut s, "USER ann 0 * :Ann", false), None);
    assert_eq!(
        decode(&mut s, "CAP REQ :sasl unknown-cap", false),
        Some(Err(Reply::Caps(Caps::Refused("sasl unknown-cap".into()))))
    );
    assert_eq!(
        decode(&mut s, "CAP END", false),
        Some(Ok(Request::Register(Cow::Borrowed("ann"))))
    );
    // Without CAP, USER after NICK registers; a refused nick can be
    // replaced by another NICK.
    let mut s = session();
    assert_eq!(decode(&mut s, "USER a 0 * :A", false), None);
    assert_eq!(
        decode(&mut s, "NICK bob", false),
        Some(Ok(Request::Register(Cow::Borrowed("bob"))))
    );
    assert_eq!(
        decode(&mut s, "NICK bob2", false),
        Some(Ok(Request::Register(Cow::Borrowed("bob2"))))
    );
}

#[test]
fn only_registration_and_keepalives_come_before_it() {
    let mut s = session();
    assert_eq!(
        decode(&mut s, "JOIN #a", false),
        Some(Err(Refusal::NotRegistered.into()))
    );
    assert_eq!(
        decode(&mut s, "REGISTER * * secret123", false),
        Some(Err(Refusal::RegisterAfterConnecting.into()))
    );
    assert_eq!(
        decode(&mut s, "PING :abc", false),
        Some(Err(Reply::Pong("abc".into())))
    );
    assert_eq!(decode(&mut s, "PONG :x", false), None);
    assert_eq!(
        decode(&mut s, "USER a 0 *", false),
        Some(Err(Refusal::NeedMoreParams("USER".into()).into()))
    );
    assert_eq!(
        decode(&mut s, "USER a 0 * :A", true),
        Some(Err(Refusal::AlreadyRegistered.into()))
    );
}

#[test]
fn commands_decode_into_shared_requests() {
    let mut s = session();
    let say = |room, text, kind| {
        Some(Ok(Request::Say {
            room: Some(room),
            text: Cow::Borrowed(text),
            kind,
        }))
    };
    assert_eq!(
        decode(&mut s, "PRIVMSG #a :hi there", true),
        say("#a", "hi there", Speech::Chat)
    );
    assert_eq!(
        decode(&mut s, "PRIVMSG #a :\u{1}ACTION waves\u{1}", true),
        say("#a", "waves", Speech::Action)
    );
    assert_eq!(
        decode(&mut s, "NOTICE #a :fyi", true),
        say("#a", "fyi", Speech::Notice)
    );
    assert_eq!(decode(&mut s, "PRIVMSG bob :\u{1}VERSION\u{1}", true), None);
    assert_eq!(
        decode(&mut s, "NOTICE bob :psst", true),
        Some(Ok(Request::Private {
            to: "bob",
            text: Cow::Borrowed("psst"),
            notice: true
        }))
    );
    assert_eq!(
        decode(&mut s, "privmsg", true),
        Some(Err(Refusal::NoRecipient("PRIVMSG".into()).into()))
    );
    assert_eq!(
        decode(&mut s, "PRIVMSG #a", true),
        Some(Err(Refusal::NoTextToSend.into()))
    );
    assert_eq!(
        decode(&mut s, "JOIN #a,#b", true),
        Some(Ok(Request::Join {
            rooms: "#a,#b",
            keys: None
        }))
    );
    assert_eq!(
        decode(&mut s, "JOIN #a,#b k1", true),
        Some(Ok(Request::Join {
            rooms: "#a,#b",
            keys: Some("k1")
        }))
    );
    assert_eq!(
        decode(&mut s, "MODE bob", true),
        Some(Ok(Request::UserModes {
            nick: "bob",
            change: None
        }))
    );
    assert_eq!(
        decode(&mut s, "MODE bob +i", true),
        Some(Ok(Request::UserModes {
            nick: "bob",
            change: Some("+i")
        }))
    );
    assert_eq!(
        decode(&mut s, "PART #a :later", true),
        Some(Ok(Request::Part {
            room: "#a",
            reason: Some(Cow::Borrowed("later"))
        }))
    );
    assert_eq!(
        decode(&mut s, "NICK carol", true),
        Some(Ok(Request::Nick("carol")))
    );
    assert_eq!(
        decode(&mut s, "FROB x", true),
        Some(Err(Refusal::UnknownIrcCommand("FROB".into()).into()))
    );
    let long = format!("PRIVMSG #a :{}", "x".repeat(500));
    assert_eq!(
        decode(&mut s, &long, true),
        Some(Err(Refusal::LineTooLong { max: 512 }.into()))
    );
    // Tags do not count against the 512 bytes.
    let tagged = format!("@+x={} PRIVMSG #a :hi", "t".repeat(4000));
    assert!(matches!(decode(&mut s, &tagged, true), Some(Ok(_))));
    assert_eq!(
        s.decode(Line::Complete(b"PRIVMSG #a :\xff"), true),
        Some(Err(Refusal::InvalidUtf8.into()))
    );
}

#[test]
fn replies_render_as_numerics() {
    let s = session();
    let welcome = render(&s, "ann", &Reply::Welcome { nick: "ann".into() });
    let lines: Vec<&str> = welcome.split("\r\n").collect();
    assert_eq!(
        lines[0],
        ":irc.test 001 ann :Welcome to the TestNet IRC Network, ann"
    );
    assert!(lines[4].starts_with(":irc.test 005 ann CASEMAPPING=ascii CHANTYPES=#"));
    assert!(lines[5].starts_with(":irc.test 005 ann "));
    assert!(lines[5].contains(" NETWORK=TestNet CHATHISTORY=100 MSGREFTYPES=msgid,timestamp :are supported by this server"));
    assert_eq!(
        lines.len(),
        7,
        "{lines:?}: LUSERS and the MOTD are replies of their own"
    );
    assert_eq!(
        render(&s, "", &Refusal::NickTaken("ann".into()).into()),
        ":irc.test 433 * ann :Nickname is already in use\r\n"
    );
    assert_eq!(
        render(&s, "ann", &Refusal::NotInRoom("x".into()).into()),
        ":irc.test 442 ann #x :You're not on that channel\r\n"
    );
    let nicks: Vec<String> = (0..100).map(|i| format!("user{i:03}")).collect();
    let nicks = nicks.join(" ").into_boxed_str();
    let names = render(
        &s,
        "ann",
        &Reply::Names {
            room: "big".into(),
            nicks,
            secret: false,
        },
    );
    let lines: Vec<&str> = names.trim_end().split("\r\n").collect();
    assert!(lines.len() > 2, "split over several 353s");
    assert!(lines.iter().all(|l| l.len() <= 510));
    assert_eq!(
        lines.last().copied(),
        Some(":irc.test 366 ann #big :End of /NAMES list")
    );
    let listed: usize = lines
        .iter()
        .filter(|l| l.starts_with(":irc.test 353 ann = #big :"))
        .map(|l| l.rsplit(':').next().unwrap_or("").split(' ').count())
        .sum();
    assert_eq!(listed, 100);
    assert_eq!(
        render(
            &s,
            "ann",
            &Reply::NickChanged {
                old: "ann".into(),
                nick: "bob".into()
            }
        ),
        ":ann!ann@user/ann NICK :bob\r\n"
    );
}

#[test]
fn a_chunk_renders_its_irc_form_once_and_its_line_form_never() {
    use crate::event::{Body, Event, MsgId};
    use crate::frame::{ChunkBuilder, ClientId};
    use crate::proto::testing::delivered;
    use crate::proto::Form;
    use crate::rooms::RoomId;

    let event = |user: u64, nick, body| Event {
        id: MsgId {
            shard: 0,
            seq: user,
        },
        time_ms: 0,
        user: ClientId(user),
        nick,
        body,
    };
    let mut b = ChunkBuilder::new(RoomId(1), "lobby");
    b.push(&event(1, "ann", Body::Chat { text: "one" }));
    b.push(&event(2, "bob", Body::Join));
    let chunks = [Arc::new(b.take())];
    let mut tagged = Vec::new();
    for to in 1..=1000 {
        for form in [Form::IrcTime, Form::IrcTags] {
            tagged.push(delivered(form, &chunks, to));
        }
        let got = delivered(Form::Irc, &chunks, to);
        let want: &[u8] = match to {
            1 => b":bob!bob@user/bob JOIN #lobby\r\n",
            2 => b":ann!ann@user/ann PRIVMSG #lobby :one\r\n",
            _ => b":ann!ann@user/ann PRIVMSG #lobby :one\r\n:bob!bob@user/bob JOIN #lobby\r\n",
        };
        assert_eq!(got, want, "recipient {to}");
    }
    assert_eq!(chunks[0].renders(Form::Irc), 1, "rendered once");
    assert_eq!(chunks[0].renders(Form::IrcTime), 1, "rendered once");
    assert_eq!(chunks[0].renders(Form::IrcTags), 1, "rendered once");
    // Recipient 3 gets both events in each tagged form.
    assert_eq!(
        String::from_utf8_lossy(&tagged[4]),
        "@time=1970-01-01T00:00:00.000Z :ann!ann@user/ann PRIVMSG #lobby :one\r\n\
         @time=1970-01-01T00:00:00.000Z :bob!bob@user/bob JOIN #lobby\r\n"
    );
    assert_eq!(
        String::from_utf8_lossy(&tagged[5]),
        "@time=1970-01-01T00:00:00.000Z;msgid=0-1 :ann!ann@user/ann PRIVMSG #lobby :one\r\n\
         @time=1970-01-01T00:00:00.000Z;msgid=0-2 :bob!bob@user/bob JOIN #lobby\r\n"
    );
    assert_eq!(chunks[0].renders(Form::Line), 0, "no line reader: never");
}

#[test]
fn tags_carry_the_time_and_a_cluster_wide_msgid() {
    use crate::event::{Body, Event, MsgId};
    use crate::frame::ClientId;
    let e = Event {
        id: MsgId { shard: 3, seq: 42 },
        time_ms: 1_796_288_400_123,
        user: ClientId(1),
        nick: "ann",
        body: Body::Join,
    };
    let tags = |msgid| {
        let mut out = Vec::new();
        write_tags(&mut out, &e, msgid, None);
        String::from_utf8(out).expect("UTF-8")
    };
    assert_eq!(tags(None), "@time=2026-12-03T09:00:00.123Z ");
    assert_eq!(
        tags(Some(None)),
        "@time=2026-12-03T09:00:00.123Z;msgid=3-42 "
    );
    assert_eq!(
        tags(Some(Some("node-b"))),
        "@time=2026-12-03T09:00:00.123Z;msgid=node-b-3-42 "
    );
}

#[test]
fn tags_of_a_line_are_kept_for_its_handling_only() {
    let mut s = session();
    let tagged = "@label=l1;+typing=active;+x=a\\sb;msgid=forged TAGMSG #a";
    assert_eq!(
        decode(&mut s, tagged, true),
        Some(Ok(Request::TagMsg("#a")))
    );
    // No label without labeled-response and batch.
    assert_eq!(
        s.take_line_tags(),
        (None, Some("+typing=active;+x=a\\sb".into()))
    );
    assert_eq!(s.take_line_tags(), (None, None), "taken once");
    decode(&mut s, "CAP REQ :batch labeled-response", false);
    decode(&mut s, "@label=l2;+y PING :t", true);
    assert_eq!(
        s.take_line_tags(),
        (Some("l2".into()), None),
        "PING relays no tags"
    );
    let over = format!("@+x={} TAGMSG #a", "a".repeat(4092));
    assert_eq!(
        decode(&mut s, &over, true),
        Some(Err(Reply::Refused(Refusal::LineTooLong { max: 512 })))
    );
    assert_eq!(
        decode(&mut s, "TAGMSG", true),
        Some(Err(Reply::Refused(Refusal::NoRecipient("TAGMSG".into()))))
    );
}

#[test]
fn setname_is_checked_and_refused_only_to_those_with_the_capability() {
    let mut s = session();
    assert_eq!(
        decode(&mut s, "SETNAME :New Name", true),
        Some(Ok(Request::Setname(Cow::Borrowed("New Name"))))
    );
    let long = format!("SETNAME :{}", "x".repeat(101));
    assert_eq!(decode(&mut s, &long, true), None);
    decode(&mut s, "CAP REQ setname", false);
    assert_eq!(
        decode(&mut s, &long, true),
        Some(Err(Reply::Refused(Refusal::InvalidRealname)))
    );
    assert_eq!(
        render(&s, "ann", &Reply::Refused(Refusal::InvalidRealname)),
        ":irc.test FAIL SETNAME INVALID_REALNAME :Realname is not valid\r\n"
    );
    assert_eq!(
        render(&s, "ann", &Reply::Setname("N".into())),
        ":ann!ann@user/ann SETNAME :N\r\n"
    );
    assert_eq!(render(&session(), "ann", &Reply::Setname("N".into())), "");
}

#[test]
fn names_show_prefixes_and_hosts_as_each_client_asked() {
    let names = Reply::Names {
        room: "a".into(),
        nicks: "@+ann +bob eve".into(),
        secret: false,
    };
    let line = |s: &IrcSession| render(s, "me", &names).lines().next().map(String::from);
    let mut s = session();
    assert_eq!(
        line(&s).as_deref(),
        Some(":irc.test 353 me = #a :@ann +bob eve")
    );
    decode(&mut s, "CAP REQ multi-prefix", false);
    assert_eq!(
        line(&s).as_deref(),
        Some(":irc.test 353 me = #a :@+ann +bob eve")
    );
    decode(&mut s, "CAP REQ :-multi-prefix userhost-in-names", false);
    assert_eq!(
        line(&s).as_deref(),
        Some(":irc.test 353 me = #a :@ann!ann@user/ann +bob!bob@user/bob eve!eve@user/eve")
    );
}

#[test]
fn websocket_forms_frame_each_line_once_per_pass() {
    use crate::event::{Body, Event, MsgId};
    use crate::frame::{ChunkBuilder, ClientId};
    use crate::proto::testing::delivered;
    use crate::proto::Form;
    use crate::rooms::RoomId;
    let event = |user: u64, nick, body| Event {
        id: MsgId {
            shard: 0,
            seq: user,
        },
        time_ms: 0,
        user: ClientId(user),
        nick,
        body,
    };
    let mut b = ChunkBuilder::new(RoomId(1), "lobby");
    b.push(&event(1, "ann", Body::Chat { text: "one" }));
    b.push(&event(2, "bob", Body::Join));
    let chunks = [Arc::new(b.take())];
    let frame = |op: u8, line: &str| [&[op, line.len() as u8][..], line.as_bytes()].concat();
    for to in 1..=1000 {
        let want = |op| match to {
            1 => frame(op, ":bob!bob@user/bob JOIN #lobby"),
            2 => frame(op, ":ann!ann@user/ann PRIVMSG #lobby :one"),
            _ => [
                frame(op, ":ann!ann@user/ann PRIVMSG #lobby :one"),
                frame(op, ":bob!bob@user/bob JOIN #lobby"),
            ]
            .concat(),
        };
        assert_eq!(delivered(Form::WsIrc, &chunks, to), want(0x81), "{to}");
        assert_eq!(delivered(Form::WsBinIrc, &chunks, to), want(0x82), "{to}");
        let line = delivered(Form::WsLine, &chunks, to);
        assert_eq!(line.first(), Some(&0x81), "{to}");
    }
    for form in [Form::WsIrc, Form::WsBinIrc, Form::WsLine] {
        assert_eq!(chunks[0].renders(form), 1, "{form:?} rendered once");
    }
    for form in [Form::Irc, Form::Line, Form::WsIrcTags] {
        assert_eq!(chunks[0].renders(form), 0, "{form:?}: no reader, never");
    }
    assert_eq!(Form::Irc.framed(0x2), Form::WsBinIrc);
    assert_eq!(Form::WsIrcTime.unframed(), (Form::IrcTime, Some(0x1)));
}
