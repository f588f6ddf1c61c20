//! How a [`Range`] becomes one or two spans of a room's order, and how
//! TARGETS picks its rooms, so that both backends answer every
//! CHATHISTORY form alike.
//!
//! A room's lines are ordered by `(time_ms, id)`, `id` being the order in
//! which they were stored (starting at 1). The id only breaks ties between
//! lines of the same millisecond, so a time mark and a message-id mark name
//! places in one order, even where clocks of several nodes disagree.

use super::{Mark, Range, StoreError, Target};

/// A line's place in its room: its time, then its id (from 1, so that
/// `(t, 0)` comes before every line of millisecond `t`).
pub type Pos = (u64, u64);

/// Before every line.
const START: Pos = (0, 0);
/// After every line.
const END: Pos = (u64::MAX, u64::MAX);

/// Lines strictly between `after` and `before`, at most `limit` of them:
/// the oldest, or with `newest` the newest; returned oldest first either
/// way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    pub after: Pos,
    pub before: Pos,
    pub newest: bool,
    pub limit: usize,
}

impl Span {
    /// Whether a line at `pos` lies in the span (the limit aside).
    pub fn holds(&self, pos: Pos) -> bool {
        self.after < pos && pos < self.before
    }
}

/// The places a mark covers: one line's own, or the whole of one
/// millisecond.
struct Cover {
    first: Pos,
    last: Pos,
}

impl Cover {
    /// The exclusive lower bound that keeps the mark itself: ids start at
    /// 1, so one id less is below the marked line, and `(t, 0)` is already
    /// below every line of millisecond `t`.
    fn below(&self) -> Pos {
        (self.first.0, self.first.1.saturating_sub(1))
    }
}

/// The lines of `range`, at most `limit`, oldest first. `find` gives the
/// place of a message id in the room (`None` if no line has it); `fetch`
/// reads one span.
pub fn select<T>(
    range: &Range,
    limit: usize,
    mut find: impl FnMut(&str) -> Result<Option<Pos>, StoreError>,
    mut fetch: impl FnMut(Span) -> Result<Vec<T>, StoreError>,
) -> Result<Vec<T>, StoreError> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let mut cover = |mark: &Mark| -> Result<Option<Cover>, StoreError> {
        Ok(match mark {
            Mark::MsgId(id) => find(id)?.map(|at| Cover {
                first: at,
                last: at,
            }),
            Mark::Time(t) => Some(Cover {
                first: (*t, 0),
                last: (*t, u64::MAX),
            }),
        })
    };
    let span = |after, before, newest, limit| Span {
        after,
        before,
        newest,
        limit,
    };
    match range {
        Range::Latest { after: None } => fetch(span(START, END, true, limit)),
        Range::Latest { after: Some(m) } => match cover(m)? {
            Some(c) => fetch(span(c.last, END, true, limit)),
            None => Ok(Vec::new()),
        },
        Range::Before(m) => match cover(m)? {
            Some(c) => fetch(span(START, c.first, true, limit)),
            None => Ok(Vec::new()),
        },
        Range::After(m) => match cover(m)? {
            Some(c) => fetch(span(c.last, END, false, limit)),
            None => Ok(Vec::new()),
        },
        Range::Around(m) => {
            let Some(c) = cover(m)? else {
                return Ok(Vec::new());
            };
            let mut lines = match limit / 2 {
                0 => Vec::new(),
                half => fetch(span(START, c.first, true, half))?,
            };
            // What the earlier side did not fill goes to the later one.
            let rest = limit - lines.len();
            lines.extend(fetch(span(c.below(), END, false, rest))?);
            Ok(lines)
        }
        Range::Between(a, b) => {
            let (Some(a), Some(b)) = (cover(a)?, cover(b)?) else {
                return Ok(Vec::new());
            };
            if a.first <= b.first {
                fetch(span(a.last, b.first, false, limit))
            } else {
                fetch(span(b.last, a.first, true, limit))
            }
        }
    }
}

/// The exclusive time window of a TARGETS query, whichever way round it
/// was given.
pub fn window(from: u64, to: u64) -> (u64, u64) {
    (from.min(to), from.max(to))
}

/// Orders the rooms found by their latest line and keeps `limit` of them:
/// from the `from` side, like [`Range::Between`] (the oldest when `from`
/// is the earlier time, the newest otherwise), oldest first either way.
pub fn pick_targets(mut found: Vec<Target>, from: u64, to: u64, limit: usize) -> Vec<Target> {
    found.sort_by(|a, b| (a.latest_ms, &a.room).cmp(&(b.latest_ms, &b.room)));
    if from <= to {
        found.truncate(limit);
    } else {
        found.drain(..found.len().saturating_sub(limit));
    }
    found
}
