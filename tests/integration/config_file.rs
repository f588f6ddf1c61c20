//! The `--config` TOML file and `--check-config`: the server runs with the
//! file's settings under the command line's, the checker accepts good
//! files (the deploy example among them) without listening or opening the
//! database, and refuses bad ones naming the file.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::util::{output_within_timeout, server, valid_cert, Backend};

/// The example shipped for operators.
const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/shardchat.toml");

/// Flags of the example still being added; they are allowed in its
/// commented-out lines until they exist.
const COMING: &[&str] = &["admin-port", "admin-bind", "log-format"];

/// A directory of files for one test, removed on drop.
struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Dir {
        let dir = std::env::temp_dir().join(format!("shardchat-cfg-{}-{tag}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create a temp dir");
        Dir(dir)
    }

    /// Writes `name` holding `text`; returns its path as text.
    fn file(&self, name: &str, text: &str) -> String {
        let path = self.0.join(name);
        std::fs::write(&path, text).expect("write a file");
        path.to_str().expect("a UTF-8 path").to_string()
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs the server binary with exactly `args`.
fn run(args: &[&str]) -> Output {
    output_within_timeout(Command::new(env!("CARGO_BIN_EXE_server")).args(args))
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `--check-config --config file` must pass, saying so.
fn assert_checks(file: &str) {
    let out = run(&["--check-config", "--config", file]);
    assert_eq!(out.status.code(), Some(0), "{file}: {}", stderr(&out));
    assert_eq!(stdout(&out), format!("configuration OK: {file}\n"));
}

/// `--check-config --config file` must fail with one line naming the file
/// and saying `why`.
fn assert_refused(file: &str, why: &str) {
    let out = run(&["--check-config", "--config", file]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{file} refused: {err}");
    assert!(
        err.starts_with(&format!("server: {file}")),
        "names the file: {err}"
    );
    assert!(err.contains(why), "{file}: says {why:?}: {err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(stdout(&out).is_empty(), "no OK line: {}", stdout(&out));
}

#[test]
fn the_server_runs_with_the_files_settings() {
    let dir = Dir::new("run");
    let file = dir.file("s.toml", "max-line = 100\nnotice-limit = 0\n");
    let s = server(Backend::Epoll, &["--config", &file]);
    let (mut a, na) = s.connect();
    let (mut b, _) = s.connect();
    a.send(&"m".repeat(100));
    b.expect(&format!("[{na}] {}", "m".repeat(100)));
    a.send(&"o".repeat(101));
    a.expect("! line too long (max 100 bytes)");
}

#[test]
fn a_flag_on_the_command_line_wins_over_the_file() {
    let dir = Dir::new("override");
    let file = dir.file("s.toml", "max-line = 100\nnotice-limit = 0\n");
    let s = server(Backend::Epoll, &["--config", &file, "--max-line", "200"]);
    let (mut a, na) = s.connect();
    let (mut b, _) = s.connect();
    a.send(&"m".repeat(150));
    b.expect(&format!("[{na}] {}", "m".repeat(150)));
    a.send(&"o".repeat(201));
    a.expect("! line too long (max 200 bytes)");
}

#[test]
fn a_bad_file_stops_the_server_at_start() {
    let dir = Dir::new("start");
    let file = dir.file("s.toml", "max-line = 0\n");
    let out = run(&["--config", &file, "--bind", "127.0.0.1", "--port", "0"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.starts_with(&format!("server: {file}: max-line: ")),
        "{err}"
    );
    assert!(stdout(&out).is_empty(), "never listened: {}", stdout(&out));
}

#[test]
fn check_config_passes_a_good_file_without_listening_or_opening_the_database() {
    let dir = Dir::new("good");
    let certs = valid_cert("cfg-good");
    let motd = dir.file("motd.txt", "hello\n");
    // A port in use and a database nobody could create: the check binds
    // neither.
    let taken = TcpListener::bind("127.0.0.1:0").expect("a port to occupy");
    let port = taken.local_addr().expect("addr").port();
    let file = dir.file(
        "s.toml",
        &format!(
            "bind = \"127.0.0.1\"\nport = {port}\ntls-port = {port}\n\
             tls-cert = {:?}\ntls-key = {:?}\nmotd = {motd:?}\n\
             db = \"/nonexistent/dir/x.db\"\noper = [\"alice:pw\"]\n",
            certs.cert, certs.key
        ),
    );
    assert_checks(&file);
    assert!(
        !Path::new("/nonexistent/dir/x.db").exists(),
        "no database was created"
    );
    // Without a file, the flags alone are checked.
    let out = run(&["--check-config", "--max-line", "10"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "configuration OK: flags\n");
    let out = run(&["--check-config", "--threads", "0"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "server: bad configuration: --threads must be at least 1\n"
    );
}

#[test]
fn check_config_refuses_a_bad_file_naming_it() {
    let dir = Dir::new("bad");
    let mismatched = crate::util::cert_files("cfg-bad", 2020, 2090, true);
    let tls = |cert: &Path, key: &Path| {
        format!("tls-port = 9443\ntls-cert = {cert:?}\ntls-key = {key:?}\n")
    };
    for (name, text, why) in [
        (
            "unknown.toml",
            "max-lines = 10\n".to_string(),
            "unknown key \"max-lines\"",
        ),
        (
            "value.toml",
            "max-line = \"lots\"\n".into(),
            "max-line: invalid value 'lots'",
        ),
        (
            "type.toml",
            "verbose = 1\n".into(),
            "verbose: expects true or false",
        ),
        ("syntax.toml", "port = 1\nport 2\n".into(), "syntax.toml:2:"),
        (
            "threads.toml",
            "threads = 0\n".into(),
            "--threads must be at least 1",
        ),
        (
            "nocert.toml",
            "tls-port = 9443\n".into(),
            "--tls-port needs --tls-cert",
        ),
        (
            "missing.toml",
            tls(
                Path::new("/nonexistent/c.pem"),
                Path::new("/nonexistent/k.pem"),
            ),
            "/nonexistent/c.pem",
        ),
        (
            "mismatch.toml",
            tls(&mismatched.cert, &mismatched.key),
            "do not go together",
        ),
        (
            "motd.toml",
            "motd = \"/nonexistent/motd\"\n".into(),
            "cannot read --motd",
        ),
    ] {
        assert_refused(&dir.file(name, &text), why);
    }
    let out = run(&["--check-config", "--config", "/nonexistent/s.toml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("cannot read the config file /nonexistent/s.toml"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_bad_command_line_keeps_clap_usage_errors() {
    let dir = Dir::new("usage");
    let file = dir.file("s.toml", "port = 1\n");
    let out = run(&["--check-config", "--config", &file, "--port", "abc"]);
    assert_eq!(out.status.code(), Some(2), "clap's usage exit code");
    assert!(stderr(&out).contains("invalid value 'abc' for '--port"));
    let out = run(&["--config", &file, "--help"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        stdout(&out).contains("--check-config"),
        "help lists the flag"
    );
}

#[test]
fn the_deploy_example_passes_the_check() {
    assert_checks(EXAMPLE);
}

#[test]
fn the_deploy_examples_commented_settings_are_flags_with_valid_values() {
    use clap::CommandFactory;
    let text = std::fs::read_to_string(EXAMPLE).expect("read the example");
    let command = shardchat::Config::command();
    let mut uncommented = String::new();
    let mut shown = 0;
    for line in text.lines() {
        let Some((key, _)) = line
            .strip_prefix("# ")
            .and_then(|l| l.split_once(" = "))
            .filter(|(k, _)| k.bytes().all(|c| c.is_ascii_lowercase() || c == b'-'))
        else {
            uncommented.push_str(line);
            uncommented.push('\n');
            continue;
        };
        shown += 1;
        let known = command.get_arguments().any(|a| a.get_long() == Some(key));
        assert!(known || COMING.contains(&key), "{line:?} names no flag");
        if known {
            // Uncommented, the same line must parse.
            uncommented.push_str(&line[2..]);
            uncommented.push('\n');
        }
    }
    assert!(shown > 10, "the example shows the settings that are off");
    let dir = Dir::new("example");
    let file = dir.file("all.toml", &uncommented);
    // Everything on at once parses; the check then stops at the example's
    // certificate, which does not exist here.
    assert_refused(&file, "/etc/shardchat/fullchain.pem");
}
