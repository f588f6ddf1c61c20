//! Lame-duck drain: every client is told the server is restarting, then
//! closed a few at a time, spread evenly until the drain's deadline, so
//! that they do not all reconnect at once.

use std::time::{Duration, Instant};

use super::Shard;
use crate::frame::ClientId;
use crate::metrics::CloseReason;
use crate::proto::Reply;

/// What a drained client's rooms are told, and its WebSocket close frame
/// says.
const DRAINED: &str = "server restarting";
/// How long a drained client's last lines may take to flush.
const DRAIN_LINGER: Duration = Duration::from_secs(2);

/// A drain under way on this shard.
#[derive(Debug)]
pub(super) struct Drain {
    start: Instant,
    until: Instant,
    /// The clients there were when it began, in the order they go.
    queue: Vec<(usize, ClientId)>,
    /// How many of `queue` have gone.
    done: usize,
}

impl Drain {
    /// When the next client is due to go: the i-th of n at
    /// start + (i+1)/n of the span, the last at `until`.
    fn next_due(&self) -> Option<Instant> {
        let n = self.queue.len();
        (self.done < n).then(|| {
            let span = self.until.saturating_duration_since(self.start);
            self.start + span.mul_f64((self.done + 1) as f64 / n as f64)
        })
    }
}

impl Shard {
    /// Tells every client the server is restarting and starts closing them
    /// gradually until `until`.
    pub(super) fn begin_draining(&mut self, until: Instant) {
        if self.drain.is_some() || self.stopping.is_some() {
            return;
        }
        let queue: Vec<(usize, ClientId)> = self.clients.iter().map(|(k, c)| (k, c.id)).collect();
        for &(key, _) in &queue {
            if self.clients[key].registered {
                self.reply(key, &Reply::Draining);
            }
        }
        self.drain = Some(Drain {
            start: self.now,
            until: until.max(self.now),
            queue,
            done: 0,
        });
    }

    /// Closes the clients whose turn has come.
    pub(super) fn drain_due(&mut self) {
        let now = self.now;
        loop {
            let Some(d) = &mut self.drain else {
                return;
            };
            match d.next_due() {
                Some(due) if due <= now => {}
                _ => return,
            }
            let (key, id) = d.queue[d.done];
            d.done += 1;
            let Some(c) = self.clients.get_mut(key) else {
                continue;
            };
            if c.id != id || c.closing.is_some() {
                continue;
            }
            if let Some(w) = c.transport.web_mut() {
                w.going_away(crate::web::GoingAway::Restarting);
            }
            self.reply(key, &Reply::Closing("Server restarting"));
            self.closing_as(key, CloseReason::Drained);
            if self.clients[key].registered {
                self.say_goodbye(key, true, Some(DRAINED), now + DRAIN_LINGER);
            } else {
                self.doomed.push((key, None));
            }
        }
    }

    /// How long until the next client is due to go, while draining.
    pub(super) fn drain_timeout(&self) -> Option<Duration> {
        let due = self.drain.as_ref()?.next_due()?;
        Some(due.saturating_duration_since(self.now))
    }
}
