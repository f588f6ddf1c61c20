//! Fake lag: how a shard slows down a client whose protocol counts on an
//! answer to every command (IRC). Its lines over the flood limit are not
//! dropped, as the line protocol's are: the line and everything after it
//! wait in the client's reader, what it sends meanwhile waits behind them,
//! and the held lines are taken up again when the client's bucket has a
//! token. A client that has more than `HELD_MAX` bytes waiting (IRC
//! daemons' receive queue) is closed with `ERROR :Excess Flood`.

use std::time::Duration;

use super::Shard;
use crate::codec::Flow;
use crate::proto::Reply;

/// The most input a client may have waiting (IRC daemons' "receive
/// queue"); one over-long line is always allowed on top.
const HELD_MAX: usize = 16 * 1024;

impl Shard {
    /// Puts off client `key`'s current line (and the rest of its input)
    /// for `wait_ms` milliseconds.
    pub(super) fn hold(&mut self, key: usize, wait_ms: u64) -> Flow {
        let c = &self.clients[key];
        let at = self.now + Duration::from_millis(wait_ms);
        self.throttled.push((key, c.id, at));
        Flow::Hold
    }

    /// After a read: closes client `key` if it has more waiting than it
    /// may (`max` is its protocol's longest line). False if it is closed.
    pub(super) fn check_held(&mut self, key: usize, max: usize) -> bool {
        let Some(c) = self.clients.get_mut(key) else {
            return false;
        };
        if c.reader.held() <= HELD_MAX + max {
            return true;
        }
        c.reader.take_held();
        self.reply(key, &Reply::Closing("Excess Flood"));
        self.doomed.push((key, Some("Excess Flood")));
        false
    }

    /// Takes up the held input of clients whose wait is over; a client
    /// whose input all went through is read again (its socket may have
    /// more that no new edge will announce).
    pub(super) fn resume_throttled(&mut self) {
        if self.throttled.iter().all(|&(_, _, at)| at > self.now) {
            return;
        }
        let now = self.now;
        let (due, later) = std::mem::take(&mut self.throttled)
            .into_iter()
            .partition::<Vec<_>, _>(|&(_, _, at)| at <= now);
        self.throttled = later;
        for (key, id, _) in due {
            let Some(c) = self.clients.get_mut(key) else {
                continue;
            };
            if c.id != id {
                continue; // gone, and its slot reused
            }
            let held = c.reader.take_held();
            let mut reader = std::mem::take(&mut c.reader);
            let max = c.session.max_line(self.limits.max_line);
            reader.feed(&held, max, |line| self.on_line(key, line));
            let Some(c) = self.clients.get_mut(key) else {
                continue;
            };
            let still_held = reader.held() > 0;
            c.reader = reader;
            if !still_held {
                self.mark_ready(key);
            }
        }
    }

    /// How long until the first held client's wait is over.
    pub(super) fn throttle_timeout(&self) -> Option<Duration> {
        self.throttled
            .iter()
            .map(|&(_, _, at)| at.saturating_duration_since(self.now))
            .min()
    }
}
