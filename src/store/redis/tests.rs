//! The Redis backend against a redis-server of each test's own, on a
//! free port: the shared suite, two nodes racing for one name, and
//! carrying on after Redis restarts.
//!
//! Without the binary the tests skip with a message, unless
//! `REQUIRE_REDIS=1` (CI), when that is a failure.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use super::RedisOpener;
use crate::store::backend::suite::{self, account, line};
use crate::store::backend::{Backend, Mark, Range, StoreError};

/// A private redis-server, stopped on drop.
struct TestRedis {
    port: u16,
    child: Option<Child>,
}

impl TestRedis {
    /// Starts one on a free port, or says why not (and the test skips).
    fn start() -> Option<TestRedis> {
        // The port is free when picked but another test may bind it before
        // redis-server does: then try another.
        for _ in 0..5 {
            let port = free_port();
            match TestRedis::start_on(port) {
                Ok(redis) => return redis,
                Err(why) => eprintln!("redis-server on port {port}: {why}; another port"),
            }
        }
        panic!("redis-server never started");
    }

    /// `Err` when it exited before it was ready (its port taken).
    fn start_on(port: u16) -> Result<Option<TestRedis>, String> {
        let spawned = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn();
        let mut child = match spawned {
            Ok(c) => c,
            Err(e) if std::env::var("REQUIRE_REDIS").as_deref() == Ok("1") => {
                panic!("REQUIRE_REDIS=1 but redis-server cannot run: {e}")
            }
            Err(e) => {
                eprintln!("SKIPPED: redis-server is not available ({e})");
                return Ok(None);
            }
        };
        // Wait for its own word that it is ready (a read, not a sleep).
        let out = child.stdout.take().expect("redis stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if line.contains("Ready to accept connections") {
                    let _ = tx.send(());
                }
            }
        });
        if let Err(e) = rx.recv_timeout(Duration::from_secs(10)) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("not ready ({e})"));
        }
        Ok(Some(TestRedis {
            port,
            child: Some(child),
        }))
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops it and starts an empty one on the same port.
    fn restart(&mut self) {
        self.stop();
        let again = TestRedis::start_on(self.port)
            .unwrap_or_else(|why| panic!("redis-server again: {why}"))
            .expect("redis-server ran a moment ago");
        self.child = Some(again.into_child());
    }

    fn into_child(mut self) -> Child {
        self.child.take().expect("running")
    }
}

impl Drop for TestRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address").port()
}

#[test]
fn suite() {
    let Some(redis) = TestRedis::start() else {
        return;
    };
    let opener = RedisOpener::new(&redis.url()).unwrap();
    suite::exercise(&mut opener.open().unwrap());
}

#[test]
fn two_connections() {
    let Some(redis) = TestRedis::start() else {
        return;
    };
    let opener = RedisOpener::new(&redis.url()).unwrap();
    suite::two_connections(&mut opener.open().unwrap(), &mut opener.open().unwrap());
}

#[test]
fn one_of_two_nodes_registering_a_name_at_once_wins() {
    let Some(redis) = TestRedis::start() else {
        return;
    };
    let opener = RedisOpener::new(&redis.url()).unwrap();
    for round in 0..20 {
        let name = format!("racer{round}");
        let start = Arc::new(Barrier::new(4));
        let won: usize = std::thread::scope(|s| {
            let racers: Vec<_> = ["", "X"]
                .iter()
                .cycle()
                .take(4)
                .enumerate()
                .map(|(i, case)| {
                    let mut store = opener.open().unwrap();
                    let start = start.clone();
                    let spelled = match *case {
                        "X" => name.to_ascii_uppercase(),
                        _ => name.clone(),
                    };
                    s.spawn(move || {
                        start.wait();
                        let hash = format!("hash{i}");
                        store.create_account(&account(&spelled, &hash)).unwrap()
                    })
                })
                .collect();
            racers.into_iter().map(|r| r.join().unwrap() as usize).sum()
        });
        assert_eq!(won, 1, "round {round}");
        let mut b = opener.open().unwrap();
        let kept = b.account(&name).unwrap().expect("the winner's account");
        assert!(kept.name.eq_ignore_ascii_case(&name));
    }
}

#[test]
fn a_restarted_redis_is_reconnected_to() {
    let Some(mut redis) = TestRedis::start() else {
        return;
    };
    let opener = RedisOpener::new(&redis.url()).unwrap();
    let mut b = opener.open().unwrap();
    assert!(b.create_account(&account("Before", "h")).unwrap());
    redis.restart();
    // The old connection is dead; the store makes a new one and the
    // command goes through (the restarted Redis kept nothing).
    assert_eq!(b.account("before").unwrap(), None);
    b.append(&[line("after", 1, 100)], 10).unwrap();
    let seen = b.history("after", &Range::Latest { after: None }, 10);
    assert_eq!(seen.unwrap(), vec![line("after", 1, 100)]);

    redis.stop();
    match b.account("before") {
        Err(StoreError::Backend(m)) => assert!(m.contains("127.0.0.1"), "{m}"),
        other => panic!("no Redis, yet {other:?}"),
    }
    redis.restart();
    assert_eq!(b.account("before").unwrap(), None, "back once Redis is");
}

#[test]
fn lines_stored_twice_by_a_retried_append_are_read_once() {
    let Some(redis) = TestRedis::start() else {
        return;
    };
    let opener = RedisOpener::new(&redis.url()).unwrap();
    let mut b = opener.open().unwrap();
    let twice = [line("r", 1, 100), line("r", 2, 200)];
    b.append(&twice, 10).unwrap();
    b.append(&twice, 10).unwrap();
    b.append(&[line("r", 3, 300)], 10).unwrap();
    let all = b.history("r", &Range::Latest { after: None }, 10).unwrap();
    assert_eq!(
        all,
        [line("r", 1, 100), line("r", 2, 200), line("r", 3, 300)]
    );
    let after = Range::After(Mark::MsgId("r-1".into()));
    let after = b.history("r", &after, 10).unwrap();
    assert_eq!(after, [line("r", 2, 200), line("r", 3, 300)]);
    let targets = b.targets(&["r".into()], 0, 1000, 10).unwrap();
    assert_eq!(targets.len(), 1);
}

#[test]
fn an_unreachable_redis_is_refused_at_start() {
    let port = free_port();
    match RedisOpener::new(&format!("redis://:secret@127.0.0.1:{port}")) {
        Err(StoreError::Open(m)) => {
            assert!(m.contains(&format!("127.0.0.1:{port}")), "{m}");
            assert!(!m.contains("secret"), "the password is shown: {m}");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        RedisOpener::new("not a url"),
        Err(StoreError::Open(_))
    ));
}

#[test]
fn openers_and_connections_move_between_threads() {
    fn sendable<T: Send + Sync>() {}
    sendable::<RedisOpener>();
    fn movable<T: Send>() {}
    movable::<super::RedisStore>();
}
