//! Room history in Redis: one stream per room, trimmed to `keep` entries
//! as lines are added, read whole and selected from here.

use std::collections::{BTreeSet, HashMap, HashSet};

use redis::Pipeline;

use super::keys;
use crate::store::backend::select::{self, Pos, Span};
use crate::store::backend::{HistKind, HistLine, Range, StoreError, Target};

/// A stream as XRANGE gives it: entry ids and their fields, oldest first.
pub(super) type Entries = Vec<(String, HashMap<String, String>)>;

/// The commands that store `lines` and trim each room they touch to its
/// newest `keep` (exactly: MAXLEN without `~`), as one MULTI/EXEC.
pub(super) fn append(lines: &[HistLine], keep: usize) -> Pipeline {
    let mut pipe = redis::pipe();
    pipe.atomic();
    if keep == 0 {
        for room in lines.iter().map(|l| &*l.room).collect::<BTreeSet<_>>() {
            pipe.cmd("DEL").arg(keys::history(room)).ignore();
        }
        return pipe;
    }
    for l in lines {
        let cmd = pipe.cmd("XADD").arg(keys::history(&l.room));
        cmd.arg("MAXLEN").arg(keep).arg("*");
        cmd.arg("msgid").arg(&*l.msgid);
        cmd.arg("time").arg(l.time_ms);
        cmd.arg("kind").arg(l.kind as u8);
        cmd.arg("nick").arg(&*l.nick);
        if let Some(account) = &l.account {
            cmd.arg("account").arg(&**account);
        }
        cmd.arg("text").arg(&*l.text).ignore();
    }
    pipe
}

/// The lines of a room's stream with their places, in the room's order.
fn decode(room: &str, entries: Entries) -> Vec<(Pos, HistLine)> {
    // An append whose reply was lost (the connection dropped, or Redis
    // answered too late) is tried again and may have stored its lines
    // twice: the first of each message id stands.
    let mut seen = HashSet::new();
    let mut lines: Vec<(Pos, HistLine)> = entries
        .into_iter()
        .zip(1..)
        .filter_map(|((entry, mut f), id)| {
            let line = (|| {
                Some(HistLine {
                    room: room.into(),
                    msgid: f.remove("msgid")?.into(),
                    time_ms: f.get("time")?.parse().ok()?,
                    kind: HistKind::from_u8(f.get("kind")?.parse().ok()?)?,
                    nick: f.remove("nick")?.into(),
                    account: f.remove("account").map(Into::into),
                    text: f.remove("text")?.into(),
                })
            })();
            if line.is_none() {
                crate::warn!("[Store] Redis history entry {entry} of {room} is malformed; skipped");
            }
            // The stream's own order stands in for SQLite's id.
            line.map(|l| ((l.time_ms, id), l))
        })
        .filter(|(_, l)| seen.insert(l.msgid.clone()))
        .collect();
    // Stored in arrival order; lines from nodes whose clocks differ may
    // need moving.
    lines.sort_by_key(|(pos, _)| *pos);
    lines
}

/// The lines of `range` in a room's stream, at most `limit`, oldest
/// first, chosen as the SQLite backend chooses them.
pub(super) fn select(
    room: &str,
    entries: Entries,
    range: &Range,
    limit: usize,
) -> Result<Vec<HistLine>, StoreError> {
    let lines = decode(room, entries);
    select::select(
        range,
        limit,
        |msgid| {
            // The newest of lines sharing an id, as in SQLite.
            let found = lines.iter().filter(|(_, l)| &*l.msgid == msgid);
            Ok(found.max_by_key(|((_, id), _)| *id).map(|(pos, _)| *pos))
        },
        |span| Ok(fetch(&lines, span)),
    )
}

fn fetch(lines: &[(Pos, HistLine)], span: Span) -> Vec<HistLine> {
    let inside = lines.iter().filter(|(pos, _)| span.holds(*pos));
    let chosen: Vec<&HistLine> = match span.newest {
        true => {
            let mut newest: Vec<_> = inside.rev().take(span.limit).map(|(_, l)| l).collect();
            newest.reverse();
            newest
        }
        false => inside.take(span.limit).map(|(_, l)| l).collect(),
    };
    chosen.into_iter().cloned().collect()
}

/// Each room once, so that the pipeline's replies line up with the list.
pub(super) fn distinct(rooms: &[Box<str>]) -> Vec<Box<str>> {
    let set: BTreeSet<&Box<str>> = rooms.iter().collect();
    set.into_iter().cloned().collect()
}

/// Of `rooms`, with their streams in the same order, those with a line
/// strictly between `from` and `to` (see [`select::pick_targets`]).
pub(super) fn targets(
    rooms: Vec<Box<str>>,
    streams: Vec<Entries>,
    from: u64,
    to: u64,
    limit: usize,
) -> Vec<Target> {
    let (lo, hi) = select::window(from, to);
    let found = rooms
        .into_iter()
        .zip(streams)
        .filter_map(|(room, entries)| {
            let latest = decode(&room, entries)
                .into_iter()
                .map(|(_, l)| l.time_ms)
                .filter(|t| lo < *t && *t < hi)
                .max()?;
            Some(Target {
                room,
                latest_ms: latest,
            })
        })
        .collect();
    select::pick_targets(found, from, to, limit)
}
