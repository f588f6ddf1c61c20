//! Accounts, history and topics in Redis, shared by every node of a
//! cluster.
//!
//! [`RedisOpener::new`] checks once at start that Redis answers; each
//! storage thread then takes its own connection with
//! [`RedisOpener::open`]. A connection lost in between (Redis restarted,
//! a network blip) is made again once per command before giving up.

use std::collections::HashMap;
use std::time::Duration;

use redis::{Client, Connection, RedisError, RedisResult};

use super::backend::{Account, Backend, HistLine, Range, SavedTopic, StoreError, Target};

mod history;
mod keys;
#[cfg(test)]
mod tests;

/// How long connecting, and each read or write, may take.
const IO_TIMEOUT: Duration = Duration::from_secs(2);

/// Claims the name in the index, then writes the account: one script, so
/// that of two nodes registering one name at once exactly one wins.
/// KEYS: index, account; ARGV: lower, name, hash, created.
const CREATE_ACCOUNT: &str = "
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[2], 'name', ARGV[2], 'hash', ARGV[3], 'created', ARGV[4])
return 1";

/// Changes the hash only of an account that exists (a bare HSET would
/// bring a dropped one half back). KEYS: account; ARGV: hash.
const SET_HASH: &str = "
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'hash', ARGV[1])
return 1";

/// Frees the name and deletes the account together. KEYS: index, account;
/// ARGV: lower.
const DROP_ACCOUNT: &str = "
local n = redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[2])
return n";

/// Makes connections to one Redis, which answered when this was made.
#[derive(Debug)]
pub struct RedisOpener {
    client: Client,
}

impl RedisOpener {
    /// Checks that `url` names a Redis that answers a PING.
    pub fn new(url: &str) -> Result<RedisOpener, StoreError> {
        // The URL may carry a password: messages name the address only.
        let client = Client::open(url)
            .map_err(|e| StoreError::Open(format!("the Redis URL is not valid: {e}")))?;
        let opener = RedisOpener { client };
        let mut con = opener.connect()?;
        redis::cmd("PING")
            .query::<()>(&mut con)
            .map_err(|e| opener.unreachable(e))?;
        Ok(opener)
    }

    /// An opener for `url` that does not ask Redis now: a cluster node
    /// starts while Redis is down, and its storage connects once it is up.
    pub fn lazy(url: &str) -> Result<RedisOpener, StoreError> {
        let client = Client::open(url)
            .map_err(|e| StoreError::Open(format!("the Redis URL is not valid: {e}")))?;
        Ok(RedisOpener { client })
    }

    /// A connection of its own for one storage thread. When Redis cannot
    /// be reached now, the store connects on its first command.
    pub fn open(&self) -> Result<RedisStore, StoreError> {
        Ok(RedisStore {
            con: self.connect().ok(),
            client: self.client.clone(),
        })
    }

    fn connect(&self) -> Result<Connection, StoreError> {
        connect(&self.client).map_err(|e| self.unreachable(e))
    }

    fn unreachable(&self, e: RedisError) -> StoreError {
        let addr = self.client.get_connection_info().addr();
        StoreError::Open(format!("cannot reach Redis at {addr}: {e}"))
    }
}

fn connect(client: &Client) -> RedisResult<Connection> {
    let con = client.get_connection_with_timeout(IO_TIMEOUT)?;
    con.set_read_timeout(Some(IO_TIMEOUT))?;
    con.set_write_timeout(Some(IO_TIMEOUT))?;
    Ok(con)
}

/// One connection to Redis, for one storage thread.
pub struct RedisStore {
    client: Client,
    /// `None` after the connection was lost, until the next command.
    con: Option<Connection>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("addr", self.client.get_connection_info().addr())
            .field("connected", &self.con.is_some())
            .finish()
    }
}

impl RedisStore {
    /// Runs `command`, connecting again and retrying once if the
    /// connection was lost. A timeout is not retried: the command may have
    /// been carried out (a retried append would store the lines twice),
    /// and a Redis too slow once is likely to be too slow again.
    fn run<T>(
        &mut self,
        what: &str,
        mut command: impl FnMut(&mut Connection) -> RedisResult<T>,
    ) -> Result<T, StoreError> {
        let mut retried = false;
        loop {
            let result = match &mut self.con {
                Some(con) => command(con),
                None => connect(&self.client).and_then(|con| command(self.con.insert(con))),
            };
            let e = match result {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            let lost = e.is_io_error() || e.is_connection_dropped();
            if lost {
                // Half a reply may still be on its way: never reuse it.
                self.con = None;
            }
            if !lost || retried || e.is_timeout() {
                let addr = self.client.get_connection_info().addr();
                return Err(StoreError::Backend(format!("Redis {what} ({addr}): {e}")));
            }
            retried = true;
        }
    }
}

impl Backend for RedisStore {
    fn account(&mut self, name: &str) -> Result<Option<Account>, StoreError> {
        let key = keys::account(&name.to_ascii_lowercase());
        let mut fields: HashMap<String, String> = self.run("account lookup", |con| {
            redis::cmd("HGETALL").arg(&key).query(con)
        })?;
        if fields.is_empty() {
            return Ok(None);
        }
        let mut take = |field: &str| {
            fields.remove(field).ok_or_else(|| {
                StoreError::Backend(format!("Redis account {key} has no field {field}"))
            })
        };
        Ok(Some(Account {
            name: take("name")?.into(),
            hash: take("hash")?.into(),
            created_ms: take("created")?.parse().unwrap_or(0),
        }))
    }

    fn create_account(&mut self, account: &Account) -> Result<bool, StoreError> {
        let lower = account.name.to_ascii_lowercase();
        let key = keys::account(&lower);
        self.run("account creation", |con| {
            redis::cmd("EVAL")
                .arg(CREATE_ACCOUNT)
                .arg(2)
                .arg(keys::ACCOUNTS)
                .arg(&key)
                .arg(&lower)
                .arg(&*account.name)
                .arg(&*account.hash)
                .arg(account.created_ms)
                .query(con)
        })
    }

    fn set_hash(&mut self, name: &str, hash: &str) -> Result<bool, StoreError> {
        let key = keys::account(&name.to_ascii_lowercase());
        self.run("password change", |con| {
            redis::cmd("EVAL")
                .arg(SET_HASH)
                .arg(1)
                .arg(&key)
                .arg(hash)
                .query(con)
        })
    }

    fn drop_account(&mut self, name: &str) -> Result<bool, StoreError> {
        let lower = name.to_ascii_lowercase();
        let key = keys::account(&lower);
        self.run("account deletion", |con| {
            redis::cmd("EVAL")
                .arg(DROP_ACCOUNT)
                .arg(2)
                .arg(keys::ACCOUNTS)
                .arg(&key)
                .arg(&lower)
                .query(con)
        })
    }

    fn account_names(&mut self) -> Result<Vec<Box<str>>, StoreError> {
        let mut names: Vec<String> = self.run("account list", |con| {
            redis::cmd("HVALS").arg(keys::ACCOUNTS).query(con)
        })?;
        names.sort_by_key(|n| n.to_ascii_lowercase());
        Ok(names.into_iter().map(Into::into).collect())
    }

    fn append(&mut self, lines: &[HistLine], keep: usize) -> Result<(), StoreError> {
        if lines.is_empty() {
            return Ok(());
        }
        let pipe = history::append(lines, keep);
        self.run("history append", |con| pipe.query::<()>(con))
    }

    fn history(
        &mut self,
        room: &str,
        range: &Range,
        limit: usize,
    ) -> Result<Vec<HistLine>, StoreError> {
        let key = keys::history(room);
        let entries = self.run("history read", |con| {
            redis::cmd("XRANGE").arg(&key).arg("-").arg("+").query(con)
        })?;
        history::select(room, entries, range, limit)
    }

    fn targets(
        &mut self,
        rooms: &[Box<str>],
        from: u64,
        to: u64,
        limit: usize,
    ) -> Result<Vec<Target>, StoreError> {
        let rooms = history::distinct(rooms);
        if rooms.is_empty() || limit == 0 {
            return Ok(Vec::new()); // Redis refuses an empty pipeline
        }
        let mut pipe = redis::pipe();
        for room in &rooms {
            pipe.cmd("XRANGE")
                .arg(keys::history(room))
                .arg("-")
                .arg("+");
        }
        let streams = self.run("history targets", |con| pipe.query(con))?;
        Ok(history::targets(rooms, streams, from, to, limit))
    }

    fn save_topic(&mut self, topic: &SavedTopic) -> Result<(), StoreError> {
        let mut cmd = match topic.text.is_empty() {
            true => redis::cmd("HDEL"),
            false => redis::cmd("HSET"),
        };
        cmd.arg(keys::TOPICS).arg(&*topic.room);
        if !topic.text.is_empty() {
            let value = format!("{}\t{}\t{}", topic.set_ms, topic.set_by, topic.text);
            cmd.arg(value);
        }
        self.run("topic save", |con| cmd.query::<()>(con))
    }

    fn topics(&mut self) -> Result<Vec<SavedTopic>, StoreError> {
        let all: Vec<(String, String)> = self.run("topic list", |con| {
            redis::cmd("HGETALL").arg(keys::TOPICS).query(con)
        })?;
        let mut topics: Vec<SavedTopic> = all
            .into_iter()
            .filter_map(|(room, value)| parse_topic(&room, &value))
            .collect();
        topics.sort_by(|a, b| a.room.cmp(&b.room));
        Ok(topics)
    }

    fn connected(&self) -> bool {
        self.con.is_some()
    }
}

/// The saved topic of `room` (lower-case, no `#`), read on a connection
/// of the caller's: the cluster reads it when a room opens that no node
/// has open, whose kept state is gone.
pub(crate) fn saved_topic(con: &mut Connection, room: &str) -> RedisResult<Option<SavedTopic>> {
    let value: Option<String> = redis::cmd("HGET").arg(keys::TOPICS).arg(room).query(con)?;
    Ok(value.and_then(|v| parse_topic(room, &v)))
}

/// A topic as kept in [`keys::TOPICS`]: `<set_ms>\t<set_by>\t<text>`.
fn parse_topic(room: &str, value: &str) -> Option<SavedTopic> {
    let mut parts = value.splitn(3, '\t');
    let (Some(ms), Some(by), Some(text)) = (parts.next(), parts.next(), parts.next()) else {
        crate::warn!("[Store] Redis topic of {room} is malformed; ignored");
        return None;
    };
    Some(SavedTopic {
        room: room.into(),
        text: text.into(),
        set_by: by.into(),
        set_ms: ms.parse().unwrap_or(0),
    })
}
