//! Poller tests on real fds, each run once per backend this platform has.
//!
//! Tests are written as `fn name(backend: Backend)` and listed in
//! `backend_tests!`, which makes `epoll::name` (Linux) and `poll::name` test
//! cases of them. They synchronise with wait timeouts, never sleeps.

use std::collections::HashSet;
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::thread;
use std::time::{Duration, Instant};

use shardchat::poller::{Backend, Event, Events, Interest, Poller, Token, WAKE_TOKEN};
use shardchat::sys;

macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        #[cfg(target_os = "linux")]
        mod epoll {
            $(
                #[test]
                fn $name() {
                    super::$name(shardchat::poller::Backend::Epoll);
                }
            )*
        }

        mod poll {
            $(
                #[test]
                fn $name() {
                    super::$name(shardchat::poller::Backend::Poll);
                }
            )*
        }
    };
}

backend_tests!(
    reports_readable_socket,
    reports_listener_with_pending_connection,
    writable_only_while_asked,
    reports_only_busy_among_many_idle,
    small_buffer_reports_every_ready_source,
    waker_storm_loses_no_wake_up,
    closed_while_registered_does_not_spin,
    reports_peer_hangup,
    deregistered_token_can_be_reused,
    refuses_wake_token_and_duplicates,
    reports_its_backend,
);

/// How long a test waits for an event it expects.
const PATIENCE: Duration = Duration::from_secs(5);
/// How long a test waits to be confident an event does not come.
const QUIET: Duration = Duration::from_millis(50);

/// Tests that close registered fds take this exclusively, so that no other
/// test reuses the fd numbers they close; all others share it.
static FD_NUMBERS: RwLock<()> = RwLock::new(());

fn shared_fds() -> RwLockReadGuard<'static, ()> {
    FD_NUMBERS.read().unwrap_or_else(PoisonError::into_inner)
}

fn exclusive_fds() -> RwLockWriteGuard<'static, ()> {
    FD_NUMBERS.write().unwrap_or_else(PoisonError::into_inner)
}

fn new_poller(backend: Backend) -> Poller {
    let poller = Poller::new(backend).expect("create poller");
    assert_eq!(poller.backend(), backend);
    poller
}

/// A connected pair; the first end is non-blocking, ready to be registered.
fn pair() -> (UnixStream, UnixStream) {
    let (a, b) = UnixStream::pair().expect("socketpair");
    a.set_nonblocking(true).expect("nonblocking");
    (a, b)
}

/// One `wait`, returning its events.
fn wait_once(poller: &mut Poller, events: &mut Events, timeout: Duration) -> Vec<Event> {
    poller.wait(events, Some(timeout)).expect("wait");
    events.iter().copied().collect()
}

/// Waits until an event for `token` arrives, panicking after [`PATIENCE`].
fn wait_for(poller: &mut Poller, events: &mut Events, token: Token) -> Event {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "no event for {token:?}");
        if let Some(ev) = wait_once(poller, events, left)
            .into_iter()
            .find(|ev| ev.token == token)
        {
            return ev;
        }
    }
}

/// Asserts that a `wait` of [`QUIET`] reports nothing at all.
fn assert_quiet(poller: &mut Poller, events: &mut Events) {
    let got = wait_once(poller, events, QUIET);
    assert!(got.is_empty(), "unexpected events: {got:?}");
}

/// Reads until `WouldBlock`, as every caller must.
fn drain(stream: &mut UnixStream) -> usize {
    let mut buf = [0u8; 4096];
    let mut total = 0;
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return total,
            Ok(n) => total += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return total,
            Err(e) => panic!("read: {e}"),
        }
    }
}

fn reports_readable_socket(backend: Backend) {
    let _fds = shared_fds();
    let mut poller = new_poller(backend);
    let mut events = Events::with_capacity(16);
    let (mut a, mut b) = pair();
    poller
        .register(a.as_raw_fd(), Token(7), Interest::READABLE)
        .unwrap();
    assert_quiet(&mut poller, &mut events);

    b.write_all(b"hello\n").unwrap();
    let ev = wait_for(&mut poller, &mut events, Token(7));
    assert!(ev.readable && !ev.writable && !ev.closed, "{ev:?}");
    assert_eq!(drain(&mut a), 6);
    // Drained: neither backend reports it again.
    assert_quiet(&mut poller, &mut events);

    b.write_all(b"again\n").unwrap();
    assert!(wait_for(&mut poller, &mut events, Token(7)).readable);
    if backend == Backend::Poll {
        // Level-triggered: reported again while still readable.
        assert!(wait_for(&mut poller, &mut events, Token(7)).readable);
    }
    poller.deregister(a.as_raw_fd()).unwrap();
}

fn reports_listener_with_pending_connection(backend: Backend) {
    let _fds = shared_fds();
    let mut poller = new_poller(backend);
    let mut events = Events::with_capacity(16);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    poller
        .register(listener.as_raw_fd(), Token(0), Interest::READABLE)
        .unwrap();
    assert_quiet(&mut poller, &mut events);

    let _client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    assert!(wait_for(&mut poller, &mut events, Token(0)).readable);
    let (_conn, _) = listener.accept().unwrap();
    assert!(matches!(
        listener.accept(),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock
    ));
    assert_quiet(&mut poller, &mut events);
}

fn writable_only_while_asked(backend: Backend) {
    let _fds = shared_fds();
    let mut poller = new_poller(backend);
    let mut events = Events::with_capacity(16);
    let (a, _b) = pair();
    let fd = a.as_raw_fd();

    // The socket has buffer space, but nobody asked: no busy loop.
    poller.register(fd, Token(1), Interest::READABLE).unwrap();
    assert_quiet(&mut poller, &mut events);

    poller.reregister(fd, Token(1), Interest::BOTH).unwrap();
    let ev = wait_for(&mut poller, &mut events, Token(1));
    assert!(ev.writable && !ev.readable, "{ev:?}");
    if backend == Backend::Poll {
        assert!(wait_for(&mut poller, &mut events, Token(1)).writable);
    }

    poller.reregister(fd, Token(1), Interest::READABLE).unwrap();
    assert_quiet(&mut poller, &mut events);

    poller.reregister(fd, Token(1), Interest::WRITABLE).unwrap();
    assert!(wait_for(&mut poller, &mut events, Token(1)).writable);
    poller.deregister(fd).unwrap();
    assert_quiet(&mut poller, &mut events);
}

fn reports_only_busy_among_many_idle(backend: Backend) {
    const PAIRS: usize = 2_000;
    let _fds = shared_fds();
    let limit = sys::raise_fd_limit().expect("fd limit");
    assert!(limit >= 3 * PAIRS as u64, "fd limit {limit} too low");
    let mut poller = new_poller(backend);
    let mut events = Events::with_capacity(256);
    let mut pairs: Vec<Option<(UnixStream, UnixStream)>> =
        (0..PAIRS).map(|_| Some(pair())).collect();
    for (i, p) in pairs.iter().enumerate() {
        let (a, _) = p.as_ref().unwrap();
        poller
            .register(a.as_raw_fd(), Token(i), Interest::READABLE)
            .unwrap();
    }
    assert_quiet(&mut poller, &mut events);

    let busy: HashSet<usize> = [0, 7, 999, 1_234, PAIRS - 1].into();
    expect_exactly(&mut poller, &mut events, &mut pairs, &busy, Token);

    // Deregister and close every other idle pair. Swap-removal moves entries
    // from the end of the poll(2) array into the holes; the survivors,
    // including moved ones, must keep their tokens.
    for i in (0..PAIRS).step_by(2).filter(|i| !busy.contains(i)) {
        let (a, _) = pairs[i].take().unwrap();
        poller.deregister(a.as_raw_fd()).unwrap();
    }
    assert_quiet(&mut poller, &mut events);
    let busy: HashSet<usize> = [7, 1_001, 1_235, PAIRS - 3, PAIRS - 1].into();
    expect_exactly(&mut poller, &mut events, &mut pairs, &busy, Token);

    // New tokens for the same fds.
    for i in &busy {
        let (a, _) = pairs[*i].as_ref().unwrap();
        poller
            .reregister(a.as_raw_fd(), Token(PAIRS + i), Interest::READABLE)
            .unwrap();
    }
    expect_exactly(&mut poller, &mut events, &mut pairs, &busy, |i| {
        Token(PAIRS + i)
    });
}

/// Writes to the peers of `busy`, then checks that exactly their tokens are
/// reported, and drains them.
fn expect_exactly(
    poller: &mut Poller,
    events: &mut Events,
    pairs: &mut [Option<(UnixStream, UnixStream)>],
    busy: &HashSet<usize>,
    token: impl Fn(usize) -> Token,
) {
    for i in busy {
        pairs[*i].as_mut().unwrap().1.write_all(b"x").unwrap();
    }
    let want: HashSet<Token> = busy.iter().map(|i| token(*i)).collect();
    let mut seen = HashSet::new();
    let deadline = Instant::now() + PATIENCE;
    while seen != want {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "saw {seen:?}, want {want:?}");
        for ev in wait_once(poller, events, left) {
            assert!(want.contains(&ev.token), "idle token reported: {ev:?}");
            assert!(ev.readable, "{ev:?}");
            seen.insert(ev.token);
        }
    }
    for i in busy {
        assert_eq!(drain(&mut pairs[*i].as_mut().unwrap().0), 1);
    }
    assert_quiet(poller, events);
}

fn small_buffer_reports_every_ready_source(backend: Backend) {
    let _fds = shared_fds();
    let mut poller = new_poller(backend);
    let mut events = Events::with_capacity(1);
    let pairs: Vec<_> = (0..3).map(|_| pair()).collect();
    for (t, (a, b)) in pairs.iter().enumerate() {
        poller
            .register(a.as_raw_fd(), Token(t), Interest::READABLE)
            .unwrap();
        (&*b).write_all(b"x").unwrap();
    }
    // Nothing is drained, so under poll(2) all three stay ready; one event
    // per wait must still reach each of them rather than the first forever.
    let mut seen = HashSet::new();
    for _ in 0..pairs.len() {
        let got = wait_once(&mut poller, &mut events, PATIENCE);
        assert_eq!(got.len(), 1, "{got:?}");
        seen.insert(got[0].token);
    }
    assert_eq!(seen.len(), pairs.len(), "{seen:?}");
}

fn waker_storm_loses_no_wake_up(backend: Backend) {
    const THREADS: usize = 4;
    const WAKES: usize = 5_000;
    let _fds = shared_fds();
    let mut poller = new_poller(backend);
    let mut events = Events::with_capacity(16);
    let done = AtomicUsize::new(0);

    // More wake-ups than a pipe holds: they coalesce into one event, and a
    // full pipe or counter is not an error.
    let waker = poller.waker();
    for _ in 0..100_000 {
        waker.wake().expect("wake");
    }
    let got = wait_once(&mut poller, &mut events, PATIENCE);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].token, WAKE_TOKEN);
    assert_quiet(&mut poller, &mut events);

    thread::scope(|scope| {
        for _ in 0..THREADS {
            let waker = poller.waker();
            let done = &done;
            scope.spawn(move || {
                for _ in 0..WAKES {
                    waker.wake().expect("wake");
                }
                // Publish, then the final wake-up that must not be lost.
                done.fetch_add(1, Ordering::SeqCst);
                waker.wake().expect("final wake");
            });
        }

        let mut wake_events = 0usize;
        while done.load(Ordering::SeqCst) < THREADS {
            let got = wait_once(&mut poller, &mut events, PATIENCE);
            assert!(!got.is_empty(), "wake-up lost: wait timed out");
            for ev in got {
                assert_eq!(ev.token, WAKE_TOKEN, "{ev:?}");
                wake_events += 1;
            }
        }
        assert!(wake_events >= 1);
    });

    // At most one stale wake-up may remain (a wake after the last drain);
    // after that the waker must be drained and quiet, not spinning.
    let got = wait_once(&mut poller, &mut events, QUIET);
    assert!(got.iter().all(|ev| ev.token == WAKE_TOKEN), "{got:?}");
    assert_quiet(&mut poller, &mut events);
}

fn closed_while_registered_does_not_spin(backend: Backend) {
    // Closing registered fds: no other test may reuse their numbers.
    let _fds = exclusive_fds();
    let mut poller = new_poller(backend);
    let mut events = Events::with_capacity(16);
    let (live, mut live_peer) = pair();
    poller
        .register(live.as_raw_fd(), Token(0), Interest::READABLE)
        .unwrap();
    // All opened before any is closed, so that none reuses a closed number
    // (which poll(2) could not tell from the old fd; see Poller::deregister).
    let pairs: Vec<_> = (0..3).map(|_| pair()).collect();
    let mut closed_fds = Vec::new();
    let mut peers = Vec::new();
    for (t, (a, b)) in (1..).zip(pairs) {
        poller
            .register(a.as_raw_fd(), Token(t), Interest::BOTH)
            .unwrap();
        closed_fds.push(a.as_raw_fd());
        peers.push(b);
        drop(a);
    }
    live_peer.write_all(b"x").unwrap();

    // Bounded: a few waits, each returning within its timeout; the closed
    // fds are reported at most once each (as closed), never in a loop.
    let start = Instant::now();
    let mut closed_reports = [0usize; 4];
    let mut live_seen = false;
    for _ in 0..5 {
        for ev in wait_once(&mut poller, &mut events, QUIET) {
            match ev.token {
                Token(0) => live_seen = true,
                Token(t @ 1..=3) => {
                    assert!(ev.closed, "{ev:?}");
                    closed_reports[t] += 1;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    assert!(live_seen);
    assert!(closed_reports.iter().all(|&n| n <= 1), "{closed_reports:?}");
    assert!(start.elapsed() < PATIENCE, "took {:?}", start.elapsed());

    // The caller's usual clean-up must not panic; its result may be an
    // error, since the fd is gone (epoll: EBADF, poll: not registered).
    for fd in closed_fds {
        let _ = poller.deregister(fd);
    }
    // New fds, probably reusing the closed numbers, register normally.
    let (fresh, mut fresh_peer) = pair();
    poller
        .register(fresh.as_raw_fd(), Token(9), Interest::READABLE)
        .unwrap();
    fresh_peer.write_all(b"y").unwrap();
    assert!(wait_for(&mut poller, &mut events, Token(9)).readable);
}

fn reports_peer_hangup(backend: Backend) {
    let _fds = shared_fds();
    let mut poller = new_poller(backend);
    let mut events = Events::with_capacity(16);
    let (mut a, b) = pair();
    poller
        .register(a.as_raw_fd(), Token(3), Interest::READABLE)
        .unwrap();
    drop(b);
    let ev = wait_for(&mut poller, &mut events, Token(3));
    assert!(ev.closed || ev.readable, "{ev:?}");
    assert_eq!(drain(&mut a), 0, "EOF");
    poller.deregister(a.as_raw_fd()).unwrap();
    assert_quiet(&mut poller, &mut events);
}

fn deregistered_token_can_be_reused(backend: Backend) {
    let _fds = shared_fds();
    let mut poller = new_poller(backend);
    let mut events = Events::with_capacity(16);
    let (a, mut a_peer) = pair();
    let (c, mut c_peer) = pair();

    poller
        .register(a.as_raw_fd(), Token(1), Interest::READABLE)
        .unwrap();
    poller.deregister(a.as_raw_fd()).unwrap();
    assert!(
        poller.deregister(a.as_raw_fd()).is_err(),
        "deregistered twice"
    );
    assert!(poller
        .reregister(a.as_raw_fd(), Token(1), Interest::READABLE)
        .is_err());

    poller
        .register(c.as_raw_fd(), Token(1), Interest::READABLE)
        .unwrap();
    a_peer.write_all(b"a").unwrap();
    assert_quiet(&mut poller, &mut events);
    c_peer.write_all(b"c").unwrap();
    assert!(wait_for(&mut poller, &mut events, Token(1)).readable);

    // The deregistered fd itself can come back, under another token, and is
    // reported at once since it already has data.
    poller
        .register(a.as_raw_fd(), Token(2), Interest::READABLE)
        .unwrap();
    assert!(wait_for(&mut poller, &mut events, Token(2)).readable);
}

fn refuses_wake_token_and_duplicates(backend: Backend) {
    let _fds = shared_fds();
    let mut poller = new_poller(backend);
    let mut events = Events::with_capacity(16);
    let (a, mut b) = pair();
    let fd = a.as_raw_fd();

    let err = poller
        .register(fd, WAKE_TOKEN, Interest::READABLE)
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    poller.register(fd, Token(4), Interest::READABLE).unwrap();
    let err = poller
        .reregister(fd, WAKE_TOKEN, Interest::BOTH)
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    let err = poller
        .register(fd, Token(5), Interest::READABLE)
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);

    // None of the refusals changed the registration.
    b.write_all(b"z").unwrap();
    let got = wait_once(&mut poller, &mut events, PATIENCE);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].token, Token(4));
}

fn reports_its_backend(backend: Backend) {
    let _fds = shared_fds();
    assert_eq!(new_poller(backend).backend(), backend);
    assert_eq!(backend.name().parse::<Backend>(), Ok(backend));
    assert_eq!(backend.to_string(), backend.name());
    assert!(Backend::available().contains(&backend));
}

#[test]
fn backend_names_and_defaults() {
    assert_eq!("poll".parse::<Backend>(), Ok(Backend::Poll));
    assert_eq!("epoll".parse::<Backend>(), Ok(Backend::Epoll));
    assert!("kqueue".parse::<Backend>().is_err());
    assert_eq!(Backend::available()[0], Backend::platform_default());
    if cfg!(target_os = "linux") {
        assert_eq!(Backend::platform_default(), Backend::Epoll);
    } else {
        assert_eq!(Backend::platform_default(), Backend::Poll);
        assert!(Poller::new(Backend::Epoll).is_err());
    }
    // A misspelt SHARDCHAT_BACKEND would silently run the default; fail here.
    let from_env = Backend::from_env().expect("SHARDCHAT_BACKEND");
    assert_eq!(
        Backend::from_env_or_default(),
        from_env.unwrap_or_else(Backend::platform_default)
    );
}
