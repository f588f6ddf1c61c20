//! Accounts over the line protocol: `/register`, `/identify`, `/logout`,
//! `/password`, `/drop`, protected nicks, wrong-password throttling, and
//! accounts kept across restarts (also after `kill -9`) and refused
//! database files (docs/accounts.md).

use std::time::Duration;

use crate::util::{output_within_timeout, server, Backend, Conn, TestServer, SERVER_BIN};

/// A fresh directory for a test's database file.
pub(crate) fn db_dir(tag: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("shardchat-db-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a temp dir");
    dir
}

fn register_identify_and_the_rest(b: Backend) {
    let s = server(b, &["--notice-limit", "0"]);
    let mut ann = s.connect_as("ann");
    ann.send("/register short");
    ann.expect("! passwords are 8 to 256 bytes, without spaces or control characters");
    ann.send("/register");
    ann.expect("! usage: /register <password>");
    ann.send("/register secret123");
    ann.expect("* registered ann; you are logged in");
    ann.send("/register secret123");
    ann.expect("! you are already logged in as ann");
    ann.send("/quit");
    ann.expect("* bye");

    // The nick is protected from anyone not logged in to it.
    let (mut bob, _) = s.connect();
    bob.send("/nick ANN");
    bob.expect("! nick registered: ANN (/identify ANN <password> to use it)");
    bob.send("/identify ann wrongpass");
    bob.expect("! wrong nick or password");
    bob.send("/identify nobody secret123");
    bob.expect("! wrong nick or password");
    bob.send("/identify ann secret123");
    bob.expect("* you are logged in as ann");
    bob.expect("* you are now ann");

    bob.send("/password wrongold newsecret1");
    bob.expect("! wrong nick or password");
    bob.send("/password secret123 tiny");
    bob.expect("! passwords are 8 to 256 bytes, without spaces or control characters");
    bob.send("/password secret123");
    bob.expect("! usage: /password <old> <new>");
    bob.send("/password secret123 newsecret1");
    bob.expect("* password changed");
    bob.send("/logout");
    bob.expect("* you are logged out");
    bob.send("/logout");
    bob.expect("! you are not logged in");
    bob.send("/drop newsecret1");
    bob.expect("! you are not logged in");
    bob.send("/identify secret123");
    bob.expect("! wrong nick or password");
    bob.send("/identify newsecret1");
    bob.expect("* you are logged in as ann");
    bob.send("/drop wrongpass1");
    bob.expect("! wrong nick or password");
    bob.send("/drop newsecret1");
    bob.expect("* account ann dropped; you are logged out");

    // Dropped: the nick is free to register again, by anyone.
    let mut carl = s.connect_as("carl");
    bob.send("/nick bob");
    bob.read_until("* you are now bob");
    carl.expect("* ann is now bob");
    carl.send("/nick ann");
    carl.expect("* you are now ann");
    carl.send("/register another1");
    carl.expect("* registered ann; you are logged in");
}

fn guests_and_services_cannot_be_registered(b: Backend) {
    let s = server(b, &["--notice-limit", "0"]);
    let (mut c, guest) = s.connect();
    c.send("/register secret123");
    c.expect(&format!(
        "! {guest} cannot be registered: choose a nick with /nick <name> first"
    ));
    c.send("/nick NickServ");
    c.expect("! nick registered: NickServ (/identify NickServ <password> to use it)");
    c.send("/identify x y z");
    c.expect("! usage: /identify [<nick>] <password>");
    c.send("/drop");
    c.expect("! usage: /drop <password>");
}

/// Wrong passwords: three are free, then the connection waits (doubling
/// from `--auth-delay`), the account too, and the tenth closes the
/// connection. An unknown account counts like a wrong password.
fn wrong_passwords_are_throttled(b: Backend) {
    // A wait of 1s cannot run out by accident between two lines, even on a
    // loaded machine.
    let s = server(b, &["--notice-limit", "0", "--auth-delay", "1s"]);
    let _ann = registered(&s, "ann", "secret123");

    let (mut c, _) = s.connect();
    for name in ["x1", "x2", "x3"] {
        c.send(&format!("/identify {name} wrongpass"));
        c.expect("! wrong nick or password");
    }
    c.send("/identify x4 wrongpass");
    c.expect("! too many wrong passwords: wait 1s before trying again");

    // The account has its own count, whoever tries.
    let (mut d, _) = s.connect();
    for _ in 0..3 {
        d.send("/identify ann wrongpass");
        d.expect("! wrong nick or password");
    }
    let (mut e, _) = s.connect();
    e.send("/identify ann secret123");
    e.expect("! too many wrong passwords for that account: try again in 1s");
    // Once the wait is over the right password works again.
    e.expect_silence(Duration::from_millis(1100));
    e.send("/identify ann secret123");
    e.expect("* you are logged in as ann");

    // Ten wrong passwords on one connection close it (short waits, so
    // that the ten come quickly).
    let s = server(b, &["--notice-limit", "0", "--auth-delay", "10ms"]);
    let (mut f, _) = s.connect();
    let mut failures = 0;
    while failures < 10 {
        f.send(&format!("/identify nobody{failures} wrongpass"));
        match f.line().as_str() {
            "! wrong nick or password" => failures += 1,
            l if l.starts_with("! too many wrong passwords: wait ") => {
                f.expect_silence(Duration::from_millis(20));
            }
            l => panic!("unexpected {l:?}"),
        }
    }
    f.expect("! too many wrong passwords: disconnected");
    f.expect_closed();
    s.assert_running();
}

fn accounts_survive_a_restart_and_kill_9(b: Backend) {
    let dir = db_dir(&format!("acct-{}", b.name()));
    let db = dir.join("chat.db");
    let db = db.to_str().expect("a UTF-8 path");
    let args = ["--notice-limit", "0", "--db", db];
    let s = server(b, &args);
    let mut ann = s.connect_as("ann");
    ann.send("/register secret123");
    ann.expect("* registered ann; you are logged in");
    // Answered means committed: kill -9 at once.
    s.signal("KILL");
    drop(s);
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(db)
            .expect("the database file")
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600, "the database is private");

    let s = server(b, &args);
    let (mut c, _) = s.connect();
    c.send("/nick ann");
    c.expect("! nick registered: ann (/identify ann <password> to use it)");
    c.send("/identify ann secret123");
    c.expect("* you are logged in as ann");
    c.expect("* you are now ann");
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Runs the server on `db` and returns its exit status and stderr.
fn start_on(db: &str) -> (Option<i32>, String) {
    let out = output_within_timeout(std::process::Command::new(SERVER_BIN).args([
        "--bind",
        "127.0.0.1",
        "--port",
        "0",
        "--db",
        db,
    ]));
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn a_foreign_or_corrupt_database_stops_the_server(_b: Backend) {
    let dir = db_dir("foreign");
    let text = dir.join("notes.txt");
    std::fs::write(&text, "not a database, just some notes\n".repeat(200)).expect("write");
    let foreign = dir.join("other.db");
    {
        let con = rusqlite::Connection::open(&foreign).expect("sqlite");
        con.execute_batch("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL);")
            .expect("a table");
    }
    for path in [&text, &foreign] {
        let before = std::fs::read(path).expect("read");
        let p = path.to_str().expect("UTF-8");
        let (code, err) = start_on(p);
        assert_eq!(code, Some(1), "{err}");
        assert!(err.contains(p), "the error names the file: {err}");
        assert_eq!(err.lines().count(), 1, "one clear line: {err}");
        assert_eq!(std::fs::read(path).expect("read"), before, "left untouched");
    }
    let (code, err) = start_on("/nonexistent/dir/chat.db");
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("/nonexistent/dir/chat.db"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A client of `s` logged in as `nick` with `password` (registering it).
pub(crate) fn registered(s: &TestServer, nick: &str, password: &str) -> Conn {
    let mut c = s.connect_as(nick);
    c.send(&format!("/register {password}"));
    c.expect(&format!("* registered {nick}; you are logged in"));
    c
}

both_backends!(
    register_identify_and_the_rest,
    guests_and_services_cannot_be_registered,
    wrong_passwords_are_throttled,
    accounts_survive_a_restart_and_kill_9,
    a_foreign_or_corrupt_database_stops_the_server,
);
