//! `/connz`: every shard's connections, asked for with
//! [`ShardMsg::Census`] and listed a page at a time.

use std::time::{Duration, Instant};

use serde::Serialize;

use super::json::rfc3339;
use super::query::{ConnzQuery, Sort};
use crate::fanout::{ShardHandle, ShardMsg};
use crate::metrics::ConnInfo;

/// How long shards have to answer; one that has not by then is reported
/// missing.
pub(super) const CENSUS_TIMEOUT: Duration = Duration::from_secs(2);

/// Every connection of the shards that answered within `timeout`, and
/// the indexes of those that did not (busy, stopped, or a full mailbox).
pub(super) fn census(shards: &[ShardHandle], timeout: Duration) -> (Vec<ConnInfo>, Vec<usize>) {
    let deadline = Instant::now() + timeout;
    let mut asked = Vec::with_capacity(shards.len());
    let mut missing = Vec::new();
    for (i, shard) in shards.iter().enumerate() {
        let (tx, rx) = crossbeam_channel::bounded(1);
        // Never wait on a full mailbox: that shard is missing.
        match shard.try_send(ShardMsg::Census(tx)) {
            Ok(()) => asked.push((i, rx)),
            Err(_) => missing.push(i),
        }
    }
    let mut conns = Vec::new();
    for (i, rx) in asked {
        match rx.recv_deadline(deadline) {
            Ok(list) => conns.extend(list),
            Err(_) => missing.push(i),
        }
    }
    missing.sort_unstable();
    (conns, missing)
}

/// One connection as `/connz` lists it.
#[derive(Debug, Serialize)]
struct Entry<'a> {
    id: u64,
    /// `None` until registered.
    nick: Option<&'a str>,
    protocol: &'a str,
    tls: bool,
    shard: u32,
    /// As clients name them (`#lobby`).
    rooms: Vec<String>,
    account: Option<&'a str>,
    pending_bytes: u64,
    /// When it registered, RFC 3339, UTC; `None` before.
    since: Option<String>,
    since_ms: Option<u64>,
    /// Its address; `None` before it registered.
    addr: Option<&'a str>,
}

/// One page of the list.
#[derive(Debug, Serialize)]
pub(super) struct Page<'a> {
    total: usize,
    offset: usize,
    limit: usize,
    sort: &'static str,
    missing_shards: &'a [usize],
    connections: Vec<Entry<'a>>,
}

/// The page `q` asks for.
pub(super) fn page<'a>(conns: &'a mut [ConnInfo], missing: &'a [usize], q: ConnzQuery) -> Page<'a> {
    match q.sort {
        Sort::Id => conns.sort_by_key(|c| c.id),
        Sort::Pending => conns.sort_by_key(|c| (std::cmp::Reverse(c.pending_bytes), c.id)),
        Sort::Since => conns.sort_by_key(|c| (c.since_ms.unwrap_or(u64::MAX), c.id)),
        Sort::Nick => conns.sort_by_cached_key(|c| (c.nick.to_lowercase(), c.id)),
    }
    let connections = conns
        .iter()
        .skip(q.offset)
        .take(q.limit)
        .map(|c| Entry {
            id: c.id,
            nick: (!c.nick.is_empty()).then_some(c.nick.as_str()),
            protocol: c.protocol,
            tls: c.tls,
            shard: c.shard,
            rooms: c.rooms.iter().map(|r| format!("#{r}")).collect(),
            account: c.account.as_deref(),
            pending_bytes: c.pending_bytes,
            since: c.since_ms.map(rfc3339),
            since_ms: c.since_ms,
            addr: c.addr.as_deref(),
        })
        .collect();
    Page {
        total: conns.len(),
        offset: q.offset,
        limit: q.limit,
        sort: q.sort.name(),
        missing_shards: missing,
        connections,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;
    use crate::fanout::{mailbox, MAILBOX_CAPACITY};
    use crate::poller::{Backend, Poller};

    fn conn(id: u64, nick: &str, pending: u64, since_ms: u64) -> ConnInfo {
        ConnInfo {
            id,
            nick: nick.into(),
            protocol: "line",
            tls: false,
            shard: 0,
            rooms: vec!["lobby".into()],
            account: None,
            pending_bytes: pending,
            since_ms: Some(since_ms),
            addr: Some("127.0.0.1".into()),
        }
    }

    /// The page as JSON.
    fn page_of(mut conns: Vec<ConnInfo>, missing: &[usize], q: ConnzQuery) -> Value {
        serde_json::to_value(page(&mut conns, missing, q)).unwrap()
    }

    fn ids(v: &Value) -> Vec<u64> {
        v["connections"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_u64().unwrap())
            .collect()
    }

    fn sample() -> Vec<ConnInfo> {
        vec![
            conn(3, "carol", 0, 100),
            conn(1, "Bob", 500, 300),
            conn(2, "alice", 70, 200),
            conn(4, "", 70, 50),
        ]
    }

    #[test]
    fn pages_and_orders() {
        let q = |offset, limit, sort| ConnzQuery {
            offset,
            limit,
            sort,
        };
        let v = page_of(sample(), &[], q(0, 100, Sort::Id));
        assert_eq!(ids(&v), [1, 2, 3, 4]);
        assert_eq!(v["total"], 4);
        assert_eq!(ids(&page_of(sample(), &[], q(1, 2, Sort::Id))), [2, 3]);
        assert_eq!(ids(&page_of(sample(), &[], q(9, 2, Sort::Id))), [0u64; 0]);
        assert_eq!(
            ids(&page_of(sample(), &[], q(0, 9, Sort::Pending))),
            [1, 2, 4, 3]
        );
        assert_eq!(
            ids(&page_of(sample(), &[], q(0, 9, Sort::Since))),
            [4, 3, 2, 1]
        );
        assert_eq!(
            ids(&page_of(sample(), &[], q(0, 9, Sort::Nick))),
            [4, 2, 1, 3]
        );
        let v = page_of(sample(), &[1], q(0, 1, Sort::Id));
        assert_eq!(v["missing_shards"], json!([1]));
        let c = &v["connections"][0];
        assert_eq!(c["nick"], "Bob");
        assert_eq!(c["since"], "1970-01-01T00:00:00.300Z");
        assert_eq!(c["rooms"], json!(["#lobby"]));
        assert_eq!(c["account"], Value::Null);
        let unregistered = &page_of(sample(), &[], q(3, 1, Sort::Id))["connections"][0];
        assert_eq!(unregistered["nick"], Value::Null);
    }

    #[test]
    fn a_shard_that_does_not_answer_is_missing_and_does_not_hang() {
        let poller = Poller::new(Backend::Poll).expect("a poller");
        // Shard 0 answers from a thread; shard 1's mailbox is never read.
        let (answering, inbox) = mailbox(poller.waker(), MAILBOX_CAPACITY);
        let (silent, _unread) = mailbox(poller.waker(), MAILBOX_CAPACITY);
        let t = std::thread::spawn(move || loop {
            if let Some(ShardMsg::Census(tx)) = inbox.try_recv() {
                let _ = tx.send(vec![conn(7, "x", 0, 0)]);
                return;
            }
            std::thread::yield_now();
        });
        let started = Instant::now();
        let (conns, missing) = census(&[answering, silent], Duration::from_millis(200));
        assert!(started.elapsed() < Duration::from_secs(2));
        assert_eq!(conns.len(), 1);
        assert_eq!(missing, [1]);
        t.join().unwrap();
    }
}
