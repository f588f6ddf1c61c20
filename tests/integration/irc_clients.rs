//! Real IRC clients against the real server: WeeChat (headless), chatting
//! in #lobby with a line-protocol client, checked on both sides.
//!
//! WeeChat is set up from its command line (`-r`) and then driven one step
//! at a time through its FIFO, each step only after the previous one was
//! seen; what it receives is read back from its logger's files, which it
//! flushes at once. Skips when `weechat-headless` is not installed, unless
//! REQUIRE_IRC_CLIENTS=1.

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::net::SocketAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::irc::irc_server;
use crate::util::{Backend, TIMEOUT};

const WEECHAT: &str = "weechat-headless";

/// The server's name inside WeeChat, part of its buffer and log names.
const SERVER: &str = "shardchat";

/// How often a poll (the log files, the FIFO opening, the exit) looks again.
const POLL: Duration = Duration::from_millis(20);

/// `name` on PATH, or `None` after saying so, unless `require`=1 makes
/// that a failure.
fn installed_unless(name: &str, require: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file());
    if found.is_none() {
        let required = std::env::var(require).is_ok_and(|v| v == "1");
        assert!(!required, "{name} is not installed and {require}=1");
        eprintln!(
            "SKIPPED: {name} is not installed (Debian package weechat-headless; \
             set {require}=1 to fail instead)"
        );
    }
    found
}

/// Polls `check` until it gives a value; panics with `what` after
/// [`TIMEOUT`]. For what has no blocking wait with a timeout (a file
/// growing, a FIFO getting its reader, a child exiting).
fn poll<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "{what} within {TIMEOUT:?}");
        thread::sleep(POLL);
    }
}

/// A running `weechat-headless` with a home directory of its own, killed
/// (and its directory removed) on drop.
struct WeeChat {
    child: Child,
    dir: PathBuf,
    /// Held open for the whole session: were it closed between commands,
    /// WeeChat would reopen the FIFO on EOF, and a command written in
    /// between could be dropped with the old pipe.
    fifo: Option<File>,
}

impl WeeChat {
    /// Starts `binary` connecting to `irc` as `nick` and joining #lobby.
    fn start(binary: &Path, irc: SocketAddr, nick: &str) -> WeeChat {
        let dir = temp_dir();
        let stdout = File::create(dir.join("stdout")).expect("create WeeChat's stdout file");
        let d = dir.display();
        // Only the plugins used here (no scripts, spelling or relay), and
        // the logger writing every line at once (flush_delay 0, default
        // 120 s). Some server options changed names in WeeChat 4 (`ssl` became
        // `tls`, now on by default; `anti_flood_prio_high`/`_low`, in
        // seconds, became `anti_flood`, in milliseconds), so both names are
        // set: the one the running version lacks is an error message in its
        // core buffer, nothing more. Plain TCP; WeeChat sending at once (its
        // anti-flood queue would hold each message back by 2 s); no
        // reconnecting behind the test's back; one server, connected
        // explicitly (`--no-connect` keeps anything else from connecting).
        let server_options = [
            ("ssl", "off"),
            ("tls", "off"),
            ("anti_flood_prio_high", "0"),
            ("anti_flood_prio_low", "0"),
            ("anti_flood", "0"),
            ("autoreconnect", "off"),
        ];
        let mut commands = vec![
            format!("/set logger.file.path {d}/logs"),
            "/set logger.file.flush_delay 0".to_string(),
            format!("/set fifo.file.path {d}/fifo"),
            format!(
                "/server add {SERVER} {}/{} -nicks={nick} -username={nick} -realname={nick} \
                 -autojoin=#lobby",
                irc.ip(),
                irc.port()
            ),
        ];
        for (option, value) in server_options {
            commands.push(format!("/set irc.server.{SERVER}.{option} {value}"));
        }
        commands.push(format!("/connect {SERVER}"));
        let mut cmd = Command::new(binary);
        cmd.arg("--dir")
            .arg(&dir)
            .args(["--no-connect", "--plugins", "irc,logger,fifo"]);
        for c in &commands {
            cmd.args(["--run-command", c]);
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(stdout.try_clone().expect("clone a file handle"))
            .stderr(stdout)
            .spawn()
            .expect("start weechat-headless");
        let mut w = WeeChat {
            child,
            dir,
            fifo: None,
        };
        w.fifo = Some(w.open_fifo());
        w
    }

    /// Opens the FIFO for writing once WeeChat has opened it for reading
    /// (until then a non-blocking open fails, where a blocking one would
    /// wait for ever if WeeChat never got there).
    fn open_fifo(&mut self) -> File {
        let path = self.dir.join("fifo");
        poll("WeeChat opened its FIFO", || {
            match OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(&path)
            {
                Ok(f) => Some(f),
                // Not there yet, or no reader yet.
                Err(e)
                    if e.kind() == ErrorKind::NotFound || e.raw_os_error() == Some(libc::ENXIO) =>
                {
                    self.assert_running();
                    None
                }
                Err(e) => panic!("open {}: {e}", path.display()),
            }
        })
    }

    fn assert_running(&mut self) {
        if let Some(status) = self.child.try_wait().expect("try_wait") {
            panic!("WeeChat exited early: {status}");
        }
    }

    /// Runs `text` (a command, or a message to send) in the buffer named
    /// `buffer` (`*` for the current one), through the FIFO.
    fn input(&mut self, buffer: &str, text: &str) {
        let line = if buffer == "*" {
            format!("*{text}\n")
        } else {
            format!("{buffer} *{text}\n")
        };
        // Far below PIPE_BUF, so written whole or not at all.
        self.fifo
            .as_mut()
            .expect("the FIFO is open")
            .write_all(line.as_bytes())
            .expect("write to WeeChat's FIFO");
    }

    /// Says `text` in #lobby (a `/` command runs there instead).
    fn in_lobby(&mut self, text: &str) {
        self.input(&format!("irc.{SERVER}.#lobby"), text);
    }

    /// The log file of buffer `name` (`#lobby`, or a nick for a query).
    fn log_path(&self, name: &str) -> PathBuf {
        self.dir
            .join("logs")
            .join(format!("irc.{SERVER}.{name}.weechatlog"))
    }

    /// Waits for a line of buffer `name`'s log (`date time<TAB>prefix<TAB>
    /// message`) that ends with `tail`; returns it.
    fn wait_logged(&mut self, name: &str, tail: &str) -> String {
        let path = self.log_path(name);
        poll(
            &format!("WeeChat logged {tail:?} in {}", path.display()),
            || {
                let found = std::fs::read_to_string(&path)
                    .ok()
                    .and_then(|text| text.lines().find(|l| l.ends_with(tail)).map(str::to_string));
                if found.is_none() {
                    self.assert_running();
                }
                found
            },
        )
    }

    /// Waits for WeeChat to exit by itself.
    fn wait_exit(&mut self) -> ExitStatus {
        poll("WeeChat exited", || {
            self.child.try_wait().expect("try_wait")
        })
    }
}

impl Drop for WeeChat {
    fn drop(&mut self) {
        self.fifo = None;
        let _ = self.child.kill();
        let _ = self.child.wait();
        if thread::panicking() {
            // Keep the directory, and show what WeeChat saw.
            eprintln!("WeeChat's files are in {}", self.dir.display());
            for name in ["stdout", "weechat.log"] {
                dump(&self.dir.join(name));
            }
            if let Ok(logs) = std::fs::read_dir(self.dir.join("logs")) {
                logs.flatten().for_each(|e| dump(&e.path()));
            }
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

fn dump(path: &Path) {
    if let Ok(text) = std::fs::read_to_string(path) {
        eprintln!("--- {}\n{text}", path.display());
    }
}

fn temp_dir() -> PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "shardchat-weechat-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create a temp dir");
    dir
}

fn weechat_and_a_line_client_share_the_lobby(b: Backend) {
    let Some(binary) = installed_unless(WEECHAT, "REQUIRE_IRC_CLIENTS") else {
        return;
    };
    let (s, irc) = irc_server(b);
    let (mut line, guest) = s.connect();
    let mut wee = WeeChat::start(&binary, irc, "wee");

    // Joined, as each side sees it.
    line.expect("* wee joined #lobby");
    // WeeChat asks for extended-join: the account and realname come
    // between the nick and the host.
    wee.wait_logged("#lobby", "(wee@user/wee) has joined #lobby");

    // WeeChat to the line client: a message and an action.
    wee.in_lobby("hello from weechat");
    line.expect("[wee] hello from weechat");
    wee.in_lobby("/me waves");
    line.expect("* wee waves");

    // The line client to WeeChat, in its log of #lobby.
    line.send("hello from nc");
    // The line client came first: it is the lobby's operator (`@`).
    wee.wait_logged("#lobby", &format!("\t@{guest}\thello from nc"));
    line.send("/me nods");
    wee.wait_logged("#lobby", &format!(" *\t{guest} nods"));

    // Private messages both ways (WeeChat opens a query buffer, logged
    // under the sender's nick).
    line.send("/msg wee psst");
    line.expect(&format!("[{guest} -> wee] psst"));
    wee.wait_logged(&guest, &format!("\t{guest}\tpsst"));
    wee.in_lobby(&format!("/msg {guest} psst back"));
    line.expect(&format!("[wee -> {guest}] psst back"));

    // Quitting: the line client sees it leave, and WeeChat exits cleanly.
    wee.input("*", "/quit bye");
    line.expect("* wee left #lobby (bye)");
    let status = wee.wait_exit();
    assert!(status.success(), "WeeChat exited with {status}");

    // Everything WeeChat sent on its own along the way (CAP, MODE on
    // joining, ...) was understood: no 421, which it shows in the server
    // buffer as `<COMMAND>: Unknown command`.
    let path = wee
        .dir
        .join("logs")
        .join(format!("irc.server.{SERVER}.weechatlog"));
    let server_log = std::fs::read_to_string(path).expect("read WeeChat's server buffer log");
    let unknown: Vec<&str> = server_log
        .lines()
        .filter(|l| l.contains("Unknown command"))
        .collect();
    assert!(unknown.is_empty(), "421 for WeeChat: {unknown:?}");
}

both_backends!(weechat_and_a_line_client_share_the_lobby);
