//! Room history over IRC: IRCv3 `draft/chathistory` (`CHATHISTORY
//! LATEST/BEFORE/AFTER/AROUND/BETWEEN/TARGETS`) decoded into history
//! requests, and history sent as a `chathistory` batch, or as plain lines
//! to a client without `batch` and `server-time` (docs/history.md).

use std::io::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use super::caps;
use super::message::{push_clean, write};
use super::render::{render_event, Civil};
use super::IrcSession;
use crate::proto::{HistoryRequest, Refusal, Reply, Request};
use crate::store::{HistKind, HistLine, HistoryPurpose, Mark, Range, Target};

/// Batch references for history, unique within the run.
static BATCHES: AtomicU64 = AtomicU64::new(0);

/// `CHATHISTORY <subcommand> ...`. `max` is the most lines one request
/// gets (ISUPPORT `CHATHISTORY`).
pub(super) fn decode<'a>(params: &[&'a str], max: usize) -> Result<Request<'a>, Reply> {
    let fail = |code: &'static str, target: String, why: &'static str| {
        Err(Reply::Refused(Refusal::History {
            code,
            target: target.into(),
            why,
        }))
    };
    let Some(sub) = params.first() else {
        return fail("NEED_MORE_PARAMS", "*".into(), "Missing parameters");
    };
    let sub_up = sub.to_ascii_uppercase();
    let sub_clean = crate::protocol::sanitize(&sub_up).into_owned();
    let known = ["LATEST", "BEFORE", "AFTER", "AROUND", "BETWEEN", "TARGETS"];
    let Some(&sub) = known.iter().find(|&&k| k == sub_up) else {
        return fail("UNKNOWN_COMMAND", sub_clean, "Unknown subcommand");
    };
    let needed = if sub_up == "BETWEEN" { 5 } else { 4 };
    if params.len() < needed {
        return fail("NEED_MORE_PARAMS", sub_clean, "Missing parameters");
    }
    let limit_at = needed - 1;
    let limit = match params.get(limit_at).and_then(|l| l.parse::<usize>().ok()) {
        Some(l) if l > 0 => l.min(max),
        _ => return fail("INVALID_PARAMS", sub_clean, "Invalid limit"),
    };
    if sub_up == "TARGETS" {
        let (Some(Mark::Time(from)), Some(Mark::Time(until))) = (mark(params[1]), mark(params[2]))
        else {
            return fail("INVALID_PARAMS", sub_clean, "Invalid timestamp");
        };
        return Ok(Request::History(HistoryRequest::Targets {
            from,
            until,
            limit,
        }));
    }
    let room = params[1];
    let bad_mark = |s: String| fail("INVALID_PARAMS", s, "Invalid message reference");
    let range = match sub_up.as_str() {
        "LATEST" if params[2] == "*" => Range::Latest { after: None },
        "LATEST" => match mark(params[2]) {
            Some(m) => Range::Latest { after: Some(m) },
            None => return bad_mark(sub_clean),
        },
        "BETWEEN" => match (mark(params[2]), mark(params[3])) {
            (Some(a), Some(b)) => Range::Between(a, b),
            _ => return bad_mark(sub_clean),
        },
        _ => {
            let Some(m) = mark(params[2]) else {
                return bad_mark(sub_clean);
            };
            match sub_up.as_str() {
                "BEFORE" => Range::Before(m),
                "AFTER" => Range::After(m),
                _ => Range::Around(m),
            }
        }
    };
    Ok(Request::History(HistoryRequest::Room {
        sub,
        room,
        range,
        limit,
    }))
}

/// `msgid=<id>` or `timestamp=<ISO 8601 UTC>`.
fn mark(s: &str) -> Option<Mark> {
    if let Some(id) = s.strip_prefix("msgid=") {
        return (!id.is_empty()).then(|| Mark::MsgId(id.into()));
    }
    parse_time(s.strip_prefix("timestamp=")?).map(Mark::Time)
}

/// `YYYY-MM-DDThh:mm:ss[.sss]Z` in ms since the Unix epoch.
pub(crate) fn parse_time(s: &str) -> Option<u64> {
    let s = s.strip_suffix('Z')?;
    let (date, time) = s.split_once('T')?;
    let mut d = date.split('-');
    let (y, mo, day): (i64, i64, i64) = (
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
    );
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let mut t = hms.split(':');
    let (h, mi, sec): (u64, u64, u64) = (
        t.next()?.parse().ok()?,
        t.next()?.parse().ok()?,
        t.next()?.parse().ok()?,
    );
    if d.next().is_some()
        || t.next().is_some()
        || !(1..=12).contains(&mo)
        || !(1..=31).contains(&day)
    {
        return None;
    }
    if h > 23 || mi > 59 || sec > 60 || frac.is_empty() || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let ms: u64 = format!("{frac:0<3}")[..3].parse().ok()?;
    // Howard Hinnant's days-from-civil.
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let days = u64::try_from(days).ok()?;
    Some(((days * 86_400 + h * 3600 + mi * 60 + sec) * 1000) + ms)
}

/// `2026-12-03T18:01:02.345Z`.
fn iso(ms: u64) -> String {
    let t = Civil::of(ms);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year, t.month, t.day, t.hour, t.minute, t.second, t.milli
    )
}

impl IrcSession {
    /// Appends a room's history: in a `chathistory` batch when asked for
    /// (CHATHISTORY) or when the client has `batch` and `server-time`;
    /// otherwise as plain lines (with `time` under `server-time`). Topic
    /// changes are left out of plain lines, so that they are not taken for
    /// new ones, and out of batches unless the client asked for
    /// `draft/event-playback`.
    pub(super) fn history(
        &self,
        room: &str,
        purpose: &HistoryPurpose,
        lines: &[HistLine],
        out: &mut Vec<u8>,
    ) {
        let batched = *purpose != HistoryPurpose::Join || self.has(caps::BATCH | caps::SERVER_TIME);
        let tagged = self.has(caps::MESSAGE_TAGS) || self.has(caps::ACCOUNT_TAG);
        if !batched {
            for l in lines.iter().filter(|l| l.kind != HistKind::Topic) {
                if self.has(caps::SERVER_TIME) {
                    let _ = write!(out, "@time={} ", iso(l.time_ms));
                }
                render_event(room, &l.event(), out);
            }
            return;
        }
        let reference = format!("h{}", BATCHES.fetch_add(1, Ordering::Relaxed) + 1);
        let srv: &str = &self.identity.server;
        let chan = match purpose {
            HistoryPurpose::Private => room.to_string(),
            _ => format!("#{room}"),
        };
        write(
            out,
            srv,
            &["BATCH", &format!("+{reference}"), "chathistory", &chan],
            None,
        );
        // Topic changes are events beyond messages: only for clients that
        // asked for them (IRCv3 draft/event-playback).
        let topics = self.has(caps::EVENT_PLAYBACK);
        for l in lines.iter().filter(|l| topics || l.kind != HistKind::Topic) {
            let _ = write!(out, "@batch={reference};time={}", iso(l.time_ms));
            if tagged || *purpose != HistoryPurpose::Join {
                out.extend_from_slice(b";msgid=");
                push_clean(out, &l.msgid);
            }
            if let Some(account) = l.account.as_deref().filter(|_| tagged) {
                out.extend_from_slice(b";account=");
                push_clean(out, account);
            }
            out.push(b' ');
            render_event(room, &l.event(), out);
        }
        write(out, srv, &["BATCH", &format!("-{reference}")], None);
    }

    /// Appends CHATHISTORY TARGETS' answer.
    pub(super) fn history_targets(&self, targets: &[Target], out: &mut Vec<u8>) {
        let reference = format!("h{}", BATCHES.fetch_add(1, Ordering::Relaxed) + 1);
        let srv: &str = &self.identity.server;
        let open = format!("+{reference}");
        write(
            out,
            srv,
            &["BATCH", &open, "draft/chathistory-targets"],
            None,
        );
        for t in targets {
            let _ = write!(out, "@batch={reference} ");
            let chan = format!("#{}", t.room);
            let when = format!("timestamp={}", iso(t.latest_ms));
            write(out, srv, &["CHATHISTORY", "TARGETS", &chan, &when], None);
        }
        write(out, srv, &["BATCH", &format!("-{reference}")], None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_read_back_what_is_written() {
        for ms in [0, 1_796_320_862_345, 951_782_400_000, 1_700_000_000_001] {
            assert_eq!(parse_time(&iso(ms)), Some(ms), "{}", iso(ms));
        }
        assert_eq!(parse_time("2026-12-03T18:01:02Z"), Some(1_796_320_862_000));
        assert_eq!(
            parse_time("2026-12-03T18:01:02.5Z"),
            Some(1_796_320_862_500)
        );
        for bad in [
            "2026-12-03",
            "2026-13-03T00:00:00Z",
            "x",
            "2026-12-03T18:01:02",
        ] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
    }

    #[test]
    fn every_subcommand_is_decoded_and_bad_ones_fail() {
        let ok = |p: &[&str]| decode(p, 100).is_ok();
        assert!(ok(&["LATEST", "#a", "*", "10"]));
        assert!(ok(&["LATEST", "#a", "msgid=0-1", "10"]));
        assert!(ok(&[
            "BEFORE",
            "#a",
            "timestamp=2026-12-03T18:01:02.000Z",
            "10"
        ]));
        assert!(ok(&["AFTER", "#a", "msgid=x", "10"]));
        assert!(ok(&["AROUND", "#a", "msgid=x", "10"]));
        assert!(ok(&["BETWEEN", "#a", "msgid=x", "msgid=y", "10"]));
        let targets = [
            "TARGETS",
            "timestamp=2026-12-03T18:01:02.000Z",
            "timestamp=2026-12-04T18:01:02.000Z",
            "5",
        ];
        assert!(ok(&targets));
        let code = |p: &[&str]| match decode(p, 100) {
            Err(Reply::Refused(Refusal::History { code, .. })) => code,
            other => panic!("{other:?}"),
        };
        assert_eq!(code(&["FOO", "#a", "*", "1"]), "UNKNOWN_COMMAND");
        assert_eq!(code(&["LATEST", "#a"]), "NEED_MORE_PARAMS");
        assert_eq!(code(&["LATEST", "#a", "*", "0"]), "INVALID_PARAMS");
        assert_eq!(code(&["BEFORE", "#a", "*", "5"]), "INVALID_PARAMS");
        assert_eq!(code(&["BEFORE", "#a", "msgid=", "5"]), "INVALID_PARAMS");
        match decode(&["LATEST", "#a", "*", "1000"], 100) {
            Ok(Request::History(HistoryRequest::Room { limit, .. })) => assert_eq!(limit, 100),
            other => panic!("{other:?}"),
        }
    }
}
