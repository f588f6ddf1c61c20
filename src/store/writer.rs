//! The history writer: keeps each room's chat, actions, notices and topic
//! changes from the shards' chunks, committing what has gathered in one
//! transaction per turn, and answers the history joining clients are sent
//! and CHATHISTORY.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};

use super::{
    Answer, Backend, HistKind, HistLine, HistoryPurpose, Query, Range, Replier, SavedTopic,
    Settings, StoreError, Target, Write,
};
use crate::backplane::ReplyTo;
use crate::event::Body;
use crate::frame::Chunk;

/// How long a failed commit waits before it is tried again (its lines are
/// kept meanwhile, up to [`MAX_PENDING`]).
const RETRY: Duration = Duration::from_millis(500);
/// Lines kept while the database refuses them; beyond this the oldest are
/// dropped (and counted in the log).
const MAX_PENDING: usize = 100_000;

/// Lines handed to the writer and not yet through a commit beyond which
/// shards read no client, so that the writer keeps up: under a burst
/// faster than the database takes lines, the wait until a delivered line
/// is committed would otherwise grow without bound (and so would memory).
const MAX_BACKLOG: usize = 1024;
/// How long a turn gathers lines before committing them: the bound on
/// when a line is committed is this plus the commit itself (history.md
/// documents 100 ms in all).
const GATHER: Duration = Duration::from_millis(20);
/// How often the writer looks at its channel while gathering: a joining
/// client's replay (answered as it is taken) waits at most this long.
const GATHER_SLICE: Duration = Duration::from_millis(5);
/// A commit taking longer than this (a database that hangs) no longer
/// holds shards back: chat goes on, and its lines wait in memory.
const STALL: Duration = Duration::from_secs(1);

/// What the writer has yet to commit, shared with the shards.
#[derive(Debug)]
pub(super) struct Backlog {
    /// Lines (events) handed over and not yet through a commit.
    lines: AtomicUsize,
    /// Lines kept in memory after the last commit failed (apart from
    /// `lines`), waiting for the next try.
    kept: AtomicUsize,
    /// When the writer's current turn began, in ms after `epoch` plus 1
    /// (0: it is waiting for work).
    busy_since: AtomicU64,
    epoch: Instant,
}

impl Default for Backlog {
    fn default() -> Backlog {
        Backlog {
            lines: AtomicUsize::new(0),
            kept: AtomicUsize::new(0),
            busy_since: AtomicU64::new(0),
            epoch: Instant::now(),
        }
    }
}

impl Backlog {
    fn now(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64 + 1
    }

    /// A shard handed the writer a chunk of `n` events.
    pub(super) fn handed(&self, n: usize) {
        self.lines.fetch_add(n, Ordering::Relaxed);
    }

    /// Lines handed to the writer and not yet committed.
    pub(super) fn depth(&self) -> usize {
        self.lines.load(Ordering::Relaxed) + self.kept.load(Ordering::Relaxed)
    }

    /// Whether shards should wait for the writer before reading on.
    pub(super) fn congested(&self) -> bool {
        if self.lines.load(Ordering::Relaxed) <= MAX_BACKLOG {
            return false;
        }
        let since = self.busy_since.load(Ordering::Relaxed);
        since == 0 || self.now().saturating_sub(since) < STALL.as_millis() as u64
    }
}

pub(super) struct Writer {
    backend: Box<dyn Backend>,
    settings: Settings,
    reply: Replier,
    backlog: Arc<Backlog>,
    /// Events of the chunks taken this turn (counted in the backlog).
    taken: usize,
    /// Lines taken and not yet committed, in order.
    pending: Vec<HistLine>,
    /// Topics taken and not yet saved, the newest of each room.
    topics: Vec<SavedTopic>,
    /// Answers waiting for the commit of what came before them.
    waiting: Vec<Query>,
    retry_at: Option<Instant>,
    dropped: u64,
}

impl Writer {
    pub(super) fn new(
        backend: Box<dyn Backend>,
        settings: Settings,
        reply: Replier,
        backlog: Arc<Backlog>,
    ) -> Writer {
        Writer {
            backend,
            settings,
            reply,
            backlog,
            taken: 0,
            pending: Vec::new(),
            topics: Vec::new(),
            waiting: Vec::new(),
            retry_at: None,
            dropped: 0,
        }
    }

    pub(super) fn run(mut self, rx: Receiver<Write>) {
        loop {
            // Wait for work; while a commit is failing, wake to retry it.
            let first = match self.retry_at {
                None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
                Some(at) => rx.recv_timeout(at.saturating_duration_since(Instant::now())),
            };
            let turn = self.backlog.now();
            self.backlog.busy_since.store(turn, Ordering::Relaxed);
            let mut stop = false;
            match first {
                Ok(w) => stop |= self.take(w),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => stop = true,
            }
            // Everything queued within GATHER of the turn's first message
            // goes into the same transaction: a commit (and its sync) costs
            // the same for one line or hundreds. Meanwhile the writer
            // sleeps rather than waits on the channel, so that shards
            // handing it chunks do not wake it each time.
            let gather_until = Instant::now() + GATHER;
            loop {
                while let Ok(w) = rx.try_recv() {
                    stop |= self.take(w);
                }
                let left = gather_until.saturating_duration_since(Instant::now());
                if stop || left.is_zero() || self.pending.len() >= MAX_BACKLOG / 2 {
                    break;
                }
                std::thread::sleep(left.min(GATHER_SLICE));
            }
            self.commit();
            // Committed, or kept in `pending` while the database refuses.
            let taken = std::mem::take(&mut self.taken);
            self.backlog
                .kept
                .store(self.pending.len(), Ordering::Relaxed);
            self.backlog.lines.fetch_sub(taken, Ordering::Relaxed);
            self.answer_waiting();
            self.backlog.busy_since.store(0, Ordering::Relaxed);
            if stop {
                return;
            }
        }
    }

    /// Takes one message; true for Stop.
    fn take(&mut self, w: Write) -> bool {
        match w {
            Write::Chunk(chunk) => {
                self.taken += chunk.len();
                self.keep(&chunk);
            }
            Write::Topic(topic) => {
                self.topics.retain(|t| t.room != topic.room);
                self.topics.push(topic);
            }
            Write::Replay { room, count, to } => self.replay(room, count, to),
            Write::Query(q) => self.waiting.push(q),
            Write::Stop => return true,
        }
        false
    }

    /// The lines of a chunk worth keeping.
    fn keep(&mut self, chunk: &Arc<Chunk>) {
        let room: Box<str> = chunk.room_name().to_ascii_lowercase().into();
        for (e, tags) in chunk.events_tagged() {
            let (kind, text) = match e.body {
                Body::Chat { text } => (HistKind::Chat, text),
                Body::Action { text } => (HistKind::Action, text),
                Body::Notice { text } => (HistKind::Notice, text),
                Body::Topic { text } => (HistKind::Topic, text),
                _ => continue,
            };
            self.pending.push(HistLine {
                room: room.clone(),
                msgid: e.id.render(chunk.node()).into(),
                time_ms: e.time_ms,
                kind,
                nick: e.nick.into(),
                account: tags.and_then(crate::proto::account_of).map(Box::from),
                text: text.into(),
            });
        }
        if self.pending.len() > MAX_PENDING {
            let excess = self.pending.len() - MAX_PENDING;
            self.pending.drain(..excess);
            self.dropped += excess as u64;
        }
    }

    fn commit(&mut self) {
        if self.pending.is_empty() && self.topics.is_empty() {
            self.retry_at = None;
            return;
        }
        if self.retry_at.is_some_and(|at| Instant::now() < at) {
            return;
        }
        // Topics fail and are tried again like lines (a cluster's Redis
        // may be away for a while).
        let keep = self.settings.keep;
        let saved = self
            .save_topics()
            .and_then(|()| match self.pending.is_empty() {
                true => Ok(()),
                false => self.backend.append(&self.pending, keep),
            });
        match saved {
            Ok(()) => {
                self.pending.clear();
                if self.retry_at.take().is_some() || self.dropped > 0 {
                    crate::info!(
                        "[Store] history and topics are kept again ({} lines were lost)",
                        self.dropped
                    );
                    self.dropped = 0;
                }
            }
            Err(e) => {
                if self.retry_at.is_none() {
                    crate::warn!("[Store] cannot keep history or topics ({e}); retrying");
                }
                self.retry_at = Some(Instant::now() + RETRY);
            }
        }
    }

    /// Saves the waiting topics, oldest first, up to the first failure.
    fn save_topics(&mut self) -> Result<(), StoreError> {
        while let Some(t) = self.topics.first() {
            self.backend.save_topic(t)?;
            self.topics.remove(0);
        }
        Ok(())
    }

    fn answer_waiting(&mut self) {
        for w in std::mem::take(&mut self.waiting) {
            match w {
                Query::History {
                    room,
                    range,
                    limit,
                    to,
                } => {
                    let lower = room.to_ascii_lowercase();
                    let lines = self.read(&lower, &range, limit).unwrap_or_default();
                    let purpose = HistoryPurpose::Query;
                    let answer = Answer::History {
                        room,
                        purpose,
                        lines,
                    };
                    self.reply.send(to, answer);
                }
                Query::Targets {
                    rooms,
                    from,
                    until,
                    limit,
                    to,
                } => {
                    let targets = self.targets(&rooms, from, until, limit);
                    self.reply.send(to, Answer::Targets(targets));
                }
            }
        }
    }

    /// Lines of a room (lower-case), or none if they cannot be read.
    fn read(&mut self, lower: &str, range: &Range, limit: usize) -> Option<Vec<HistLine>> {
        match self.backend.history(lower, range, limit) {
            Ok(lines) => Some(lines),
            Err(e) => {
                crate::warn!("[Store] cannot read the history of #{lower}: {e}");
                None
            }
        }
    }

    fn targets(&mut self, rooms: &[Box<str>], from: u64, until: u64, limit: usize) -> Vec<Target> {
        self.backend
            .targets(rooms, from, until, limit)
            .unwrap_or_else(|e| {
                crate::warn!("[Store] cannot list history targets: {e}");
                Vec::new()
            })
    }

    /// Sends a client that joined `room` (display name) its newest lines
    /// from before the join, at once: those committed, then those taken
    /// since. Lines taken after the join are not among them: the client
    /// sees those live (or said them).
    fn replay(&mut self, room: Box<str>, count: usize, to: ReplyTo) {
        let lower = room.to_ascii_lowercase();
        let range = Range::Latest { after: None };
        let Some(mut lines) = self.read(&lower, &range, count) else {
            return;
        };
        let mut taken: Vec<HistLine> = (self.pending.iter().rev())
            .filter(|l| *l.room == *lower)
            .take(count)
            .cloned()
            .collect();
        taken.reverse();
        lines.extend(taken);
        lines.drain(..lines.len().saturating_sub(count));
        if !lines.is_empty() {
            let purpose = HistoryPurpose::Join;
            self.reply.send(
                to,
                Answer::History {
                    room,
                    purpose,
                    lines,
                },
            );
        }
    }
}

#[cfg(test)]
#[path = "writer_tests.rs"]
mod tests;
