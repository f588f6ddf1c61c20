//! Room history in SQLite: appending and trimming in one transaction, and
//! reading the spans that [`select`] makes of a CHATHISTORY range.

use std::collections::BTreeSet;

use rusqlite::types::Type;
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior};

use super::{failed, from_sql, to_sql};
use crate::store::backend::select::{self, Pos, Span};
use crate::store::backend::{HistKind, HistLine, Range, StoreError, Target};

/// Stores `lines`, then keeps only the newest `keep` of each room they
/// touch, all in one transaction.
pub(super) fn append(
    con: &mut Connection,
    lines: &[HistLine],
    keep: usize,
) -> rusqlite::Result<()> {
    if lines.is_empty() {
        return Ok(());
    }
    // Immediate: take the write lock up front, so that waiting for the
    // other connection goes through busy_timeout rather than failing.
    let tx = con.transaction_with_behavior(TransactionBehavior::Immediate)?;
    {
        let mut insert = tx.prepare_cached(
            "INSERT INTO history (room, msgid, time_ms, kind, nick, account, text)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?;
        for l in lines {
            insert.execute((
                &*l.room,
                &*l.msgid,
                to_sql(l.time_ms),
                l.kind as u8,
                &*l.nick,
                l.account.as_deref(),
                &*l.text,
            ))?;
        }
        let rooms: BTreeSet<&str> = lines.iter().map(|l| &*l.room).collect();
        // With fewer than `keep` lines the subquery is NULL and `id < NULL`
        // deletes nothing.
        let mut trim = tx.prepare_cached(
            "DELETE FROM history WHERE room = ?1 AND id < (
                 SELECT id FROM history WHERE room = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2
             )",
        )?;
        let mut clear = tx.prepare_cached("DELETE FROM history WHERE room = ?1")?;
        for room in rooms {
            match keep {
                0 => clear.execute([room])?,
                _ => trim.execute((room, to_sql(keep as u64 - 1)))?,
            };
        }
    }
    tx.commit()
}

/// The lines of `room` in `range`, at most `limit`, oldest first.
pub(super) fn history(
    con: &Connection,
    room: &str,
    range: &Range,
    limit: usize,
) -> Result<Vec<HistLine>, StoreError> {
    select::select(
        range,
        limit,
        |msgid| find(con, room, msgid).map_err(failed("history lookup")),
        |span| fetch(con, room, span).map_err(failed("history read")),
    )
}

/// The place of the line `msgid` in `room`, if there is one.
fn find(con: &Connection, room: &str, msgid: &str) -> rusqlite::Result<Option<Pos>> {
    con.prepare_cached(
        "SELECT time_ms, id FROM history WHERE room = ?1 AND msgid = ?2
         ORDER BY id DESC LIMIT 1",
    )?
    .query_row((room, msgid), |r| {
        Ok((from_sql(r.get(0)?), from_sql(r.get(1)?)))
    })
    .optional()
}

fn fetch(con: &Connection, room: &str, span: Span) -> rusqlite::Result<Vec<HistLine>> {
    // Both orders are served by the (room, time_ms) index, whose entries
    // end with the id.
    let sql = match span.newest {
        true => concat!(
            "SELECT msgid, time_ms, kind, nick, account, text FROM history
             WHERE room = ?1 AND (time_ms, id) > (?2, ?3) AND (time_ms, id) < (?4, ?5)",
            " ORDER BY time_ms DESC, id DESC LIMIT ?6"
        ),
        false => concat!(
            "SELECT msgid, time_ms, kind, nick, account, text FROM history
             WHERE room = ?1 AND (time_ms, id) > (?2, ?3) AND (time_ms, id) < (?4, ?5)",
            " ORDER BY time_ms, id LIMIT ?6"
        ),
    };
    let mut st = con.prepare_cached(sql)?;
    let rows = st.query_map(
        (
            room,
            to_sql(span.after.0),
            to_sql(span.after.1),
            to_sql(span.before.0),
            to_sql(span.before.1),
            to_sql(span.limit as u64),
        ),
        |r| read_line(room, r),
    )?;
    let mut lines = rows.collect::<rusqlite::Result<Vec<_>>>()?;
    if span.newest {
        lines.reverse();
    }
    Ok(lines)
}

fn read_line(room: &str, r: &Row<'_>) -> rusqlite::Result<HistLine> {
    let kind: u8 = r.get(2)?;
    Ok(HistLine {
        room: room.into(),
        msgid: r.get::<_, String>(0)?.into(),
        time_ms: from_sql(r.get(1)?),
        kind: HistKind::from_u8(kind).ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(
                2,
                Type::Integer,
                format!("unknown history kind {kind}").into(),
            )
        })?,
        nick: r.get::<_, String>(3)?.into(),
        account: r.get::<_, Option<String>>(4)?.map(Into::into),
        text: r.get::<_, String>(5)?.into(),
    })
}

/// Of `rooms`, those with a line strictly between `from` and `to`, by
/// their latest such line (see [`select::pick_targets`]).
pub(super) fn targets(
    con: &Connection,
    rooms: &[Box<str>],
    from: u64,
    to: u64,
    limit: usize,
) -> rusqlite::Result<Vec<Target>> {
    let (lo, hi) = select::window(from, to);
    let mut st = con.prepare_cached(
        "SELECT max(time_ms) FROM history WHERE room = ?1 AND time_ms > ?2 AND time_ms < ?3",
    )?;
    let mut found = Vec::new();
    for room in rooms.iter().collect::<BTreeSet<_>>() {
        let latest: Option<i64> = st.query_row((&**room, to_sql(lo), to_sql(hi)), |r| r.get(0))?;
        if let Some(latest) = latest {
            found.push(Target {
                room: room.clone(),
                latest_ms: from_sql(latest),
            });
        }
    }
    Ok(select::pick_targets(found, from, to, limit))
}
