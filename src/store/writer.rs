//! The history writer: keeps each room's chat, actions, notices and topic
//! changes from the shards' chunks, committing what has gathered in one
//! transaction per turn, and answers the history joining clients are sent.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};

use super::{
    Answer, Backend, HistKind, HistLine, HistoryPurpose, Range, Replier, SavedTopic, Settings,
    StoreError, Write,
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

pub(super) struct Writer {
    backend: Box<dyn Backend>,
    settings: Settings,
    reply: Replier,
    /// Lines taken and not yet committed, in order.
    pending: Vec<HistLine>,
    /// Topics taken and not yet saved, the newest of each room.
    topics: Vec<SavedTopic>,
    /// Replays waiting for the commit of what came before them.
    replays: Vec<(Box<str>, usize, ReplyTo)>,
    retry_at: Option<Instant>,
    dropped: u64,
}

impl Writer {
    pub(super) fn new(backend: Box<dyn Backend>, settings: Settings, reply: Replier) -> Writer {
        Writer {
            backend,
            settings,
            reply,
            pending: Vec::new(),
            topics: Vec::new(),
            replays: Vec::new(),
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
            let mut stop = false;
            match first {
                Ok(w) => stop |= self.take(w),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => stop = true,
            }
            // Everything already queued goes into the same transaction.
            while let Ok(w) = rx.try_recv() {
                stop |= self.take(w);
            }
            self.commit();
            self.answer_replays();
            if stop {
                return;
            }
        }
    }

    /// Takes one message; true for Stop.
    fn take(&mut self, w: Write) -> bool {
        match w {
            Write::Chunk(chunk) => self.keep(&chunk),
            Write::Topic(topic) => {
                self.topics.retain(|t| t.room != topic.room);
                self.topics.push(topic);
            }
            Write::Replay { room, count, to } => self.replays.push((room, count, to)),
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

    fn answer_replays(&mut self) {
        for (room, count, to) in std::mem::take(&mut self.replays) {
            let lower = room.to_ascii_lowercase();
            let lines = match self
                .backend
                .history(&lower, &Range::Latest { after: None }, count)
            {
                Ok(lines) => lines,
                Err(e) => {
                    crate::warn!("[Store] cannot read the history of #{lower}: {e}");
                    continue;
                }
            };
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Account, Target};
    use crossbeam_channel::Sender;

    /// A backend whose first topic saves fail; the saved ones are sent.
    struct Flaky {
        fails: u32,
        saved: Sender<SavedTopic>,
    }

    impl Backend for Flaky {
        fn account(&mut self, _: &str) -> Result<Option<Account>, StoreError> {
            Ok(None)
        }
        fn create_account(&mut self, _: &Account) -> Result<bool, StoreError> {
            Ok(false)
        }
        fn set_hash(&mut self, _: &str, _: &str) -> Result<bool, StoreError> {
            Ok(false)
        }
        fn drop_account(&mut self, _: &str) -> Result<bool, StoreError> {
            Ok(false)
        }
        fn account_names(&mut self) -> Result<Vec<Box<str>>, StoreError> {
            Ok(Vec::new())
        }
        fn append(&mut self, _: &[HistLine], _: usize) -> Result<(), StoreError> {
            Ok(())
        }
        fn history(&mut self, _: &str, _: &Range, _: usize) -> Result<Vec<HistLine>, StoreError> {
            Ok(Vec::new())
        }
        fn targets(
            &mut self,
            _: &[Box<str>],
            _: u64,
            _: u64,
            _: usize,
        ) -> Result<Vec<Target>, StoreError> {
            Ok(Vec::new())
        }
        fn save_topic(&mut self, topic: &SavedTopic) -> Result<(), StoreError> {
            if self.fails > 0 {
                self.fails -= 1;
                return Err(StoreError::Backend("away for now".into()));
            }
            let _ = self.saved.send(topic.clone());
            Ok(())
        }
        fn topics(&mut self) -> Result<Vec<SavedTopic>, StoreError> {
            Ok(Vec::new())
        }
    }

    fn topic(room: &str, text: &str) -> SavedTopic {
        SavedTopic {
            room: room.into(),
            text: text.into(),
            set_by: "ann".into(),
            set_ms: 1,
        }
    }

    #[test]
    fn a_topic_the_database_refused_is_saved_later() {
        let (saved_tx, saved) = crossbeam_channel::unbounded();
        let backend = Flaky {
            fails: 2,
            saved: saved_tx,
        };
        let settings = Settings {
            keep: 10,
            replay: 10,
            auth_delay: Duration::ZERO,
        };
        let reply = Replier {
            shards: Arc::from(Vec::new()),
        };
        let writer = Writer::new(Box::new(backend), settings, reply);
        let (tx, rx) = crossbeam_channel::unbounded();
        tx.send(Write::Topic(topic("a", "first"))).unwrap();
        tx.send(Write::Topic(topic("b", "other"))).unwrap();
        tx.send(Write::Topic(topic("a", "second"))).unwrap();
        let thread = std::thread::spawn(move || writer.run(rx));
        // Refused twice, then saved: the newest of each room.
        let wait = Duration::from_secs(10);
        assert_eq!(saved.recv_timeout(wait), Ok(topic("b", "other")));
        assert_eq!(saved.recv_timeout(wait), Ok(topic("a", "second")));
        tx.send(Write::Stop).unwrap();
        thread.join().unwrap();
        assert!(saved.try_recv().is_err());
    }
}
