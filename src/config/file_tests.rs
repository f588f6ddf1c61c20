//! Tests of the configuration file: merging with the command line,
//! precedence, types and every refusal.

use std::time::Duration;

use super::*;

/// A file holding `text`, removed on drop.
struct TempFile(PathBuf);

impl TempFile {
    fn new(text: &str) -> TempFile {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "shardchat-config-{}-{}.toml",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::write(&path, text).expect("write the config file");
        TempFile(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().expect("a UTF-8 path")
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Loads `server --config <file with text>` plus `args`.
fn load(text: &str, args: &[&str]) -> Result<Config, LoadError> {
    let file = TempFile::new(text);
    let mut all = vec!["server", "--config", file.path()];
    all.extend_from_slice(args);
    Config::load(all)
}

/// The error of a file that must be refused, checked to name the file.
fn refused(text: &str, args: &[&str]) -> String {
    let file = TempFile::new(text);
    let mut all = vec!["server", "--config", file.path()];
    all.extend_from_slice(args);
    match Config::load(all) {
        Err(LoadError::File(msg)) => {
            assert!(msg.contains(file.path()), "names the file: {msg}");
            msg
        }
        Err(LoadError::Usage(e)) => panic!("a file error, not usage: {e}"),
        Ok(c) => panic!("{text:?} must be refused, got {c:?}"),
    }
}

#[test]
fn the_file_sets_flags_of_every_kind() {
    let c = load(
        "port = 7000\nnetwork = \"net\"\nmax-outbuf = \"512KiB\"\n\
         shutdown-timeout = 1.5\nping-interval = 30\ntls-port = 7443\n\
         tls-self-signed = true\nbind = \"127.0.0.1\"\n",
        &[],
    )
    .expect("a valid file");
    assert_eq!(c.port, 7000);
    assert_eq!(c.network, "net");
    assert_eq!(c.max_outbuf, 512 << 10);
    assert_eq!(c.shutdown_timeout, Duration::from_millis(1500), "a float");
    assert_eq!(c.ping_interval, Duration::from_secs(30), "an integer");
    assert_eq!((c.tls_port, c.tls_self_signed), (Some(7443), true));
    assert_eq!(c.bind.to_string(), "127.0.0.1");
    assert!(c.config.is_some());
    // What the file does not set keeps its default.
    assert_eq!(c.max_line, 4096);
}

#[test]
fn the_command_line_wins_over_the_file() {
    let c = load(
        "max-line = 100\nnetwork = \"file\"\n",
        &["--max-line", "200"],
    )
    .expect("valid");
    assert_eq!(c.max_line, 200, "the flag wins");
    assert_eq!(c.network, "file", "the rest of the file still applies");
    // A flag the file gives and the command line gives, given once.
    let c = load("oper = [\"a:1\", \"b:2\"]\n", &["--oper", "c:3"]).expect("valid");
    assert_eq!(
        c.opers,
        vec![("c".into(), "3".into())],
        "replaced, not added"
    );
    // A file setting that conflicts with a flag gives way to it.
    let c = load(
        "tls-port = 0\ntls-self-signed = true\n",
        &["--tls-cert", "c.pem", "--tls-key", "k.pem"],
    )
    .expect("the flags win over the conflicting setting");
    assert!(!c.tls_self_signed);
    assert_eq!(c.tls_cert, Some(PathBuf::from("c.pem")));
}

#[test]
fn the_file_gives_what_a_flag_on_the_command_line_needs() {
    let c = load("tls-port = 0\ntls-self-signed = true\n", &["--no-plain"])
        .expect("--no-plain with the file's tls-port");
    assert!(c.no_plain);
    let e = refused("max-line = 100\n", &["--no-plain"]);
    assert!(e.contains("--tls-port"), "still needed: {e}");
    // Without a file, the command line alone is judged as usual.
    let e = Config::load(["server", "--no-plain"]).expect_err("needs --tls-port");
    assert!(matches!(e, LoadError::Usage(_)), "{e}");
}

#[test]
fn arrays_repeat_repeatable_flags_only() {
    let c = load(
        "oper = [\"alice:pw\", \"bob:pw2\"]\nhttp-origin = [\"https://a.test\"]\n",
        &[],
    )
    .expect("valid");
    assert_eq!(
        c.opers,
        vec![("alice".into(), "pw".into()), ("bob".into(), "pw2".into())]
    );
    assert_eq!(c.http_origins, vec!["https://a.test".to_string()]);
    let c = load("oper = \"alice:pw\"\n", &[]).expect("one value without an array");
    assert_eq!(c.opers.len(), 1);
    let e = refused("port = [1, 2]\n", &[]);
    assert!(e.contains("port: takes one value, not an array"), "{e}");
    let e = refused("oper = [\"a:b\", [\"c:d\"]]\n", &[]);
    assert!(e.contains("oper: expects a value, not an array"), "{e}");
    let e = refused("oper = [\"nocolon\"]\n", &[]);
    assert!(e.contains("oper: ") && e.contains("NAME:PASSWORD"), "{e}");
}

#[test]
fn booleans_turn_switches_on_and_off() {
    assert!(load("verbose = true\n", &[]).expect("valid").verbose);
    assert!(!load("verbose = false\n", &[]).expect("valid").verbose);
    let e = refused("verbose = \"yes\"\n", &[]);
    assert!(
        e.contains("verbose: expects true or false, not a string"),
        "{e}"
    );
    let e = refused("port = true\n", &[]);
    assert!(e.contains("port: expects a value, not a boolean"), "{e}");
}

#[test]
fn keys_are_long_flag_names_with_dashes_or_underscores() {
    assert_eq!(load("max_line = 99\n", &[]).expect("valid").max_line, 99);
    let e = refused("max-line = 99\nmax_line = 98\n", &[]);
    assert!(e.contains("are the same setting"), "{e}");
    let e = refused("max-lines = 99\n", &[]);
    assert!(e.contains("unknown key \"max-lines\""), "{e}");
    // The field's name is not the key: `--oper` fills `opers`.
    let e = refused("opers = [\"a:b\"]\n", &[]);
    assert!(e.contains("unknown key \"opers\""), "{e}");
    let e = refused("[server]\nport = 1\n", &[]);
    assert!(e.contains("unknown key \"server\""), "{e}");
    for key in ["config", "check-config", "check_config", "help", "version"] {
        let e = refused(&format!("{key} = true\n"), &[]);
        assert!(e.contains("not a setting a file can hold"), "{key}: {e}");
    }
}

#[test]
fn values_meet_the_flags_parsers() {
    for (text, key, why) in [
        ("max-line = 0\n", "max-line", "0 is not in 1..=1048576"),
        ("max-line = \"lots\"\n", "max-line", "invalid digit"),
        ("port = 70000\n", "port", "70000"),
        ("max-outbuf = \"lots\"\n", "max-outbuf", "not a size"),
        (
            "shutdown-timeout = \"soon\"\n",
            "shutdown-timeout",
            "duration",
        ),
        ("backend = \"kqueue\"\n", "backend", "kqueue"),
    ] {
        let e = refused(text, &[]);
        assert!(
            e.contains(&format!(": {key}: ")),
            "{text:?} names {key}: {e}"
        );
        assert!(e.contains(why), "{text:?}: {e}");
    }
    let e = refused("tls-cert = \"c.pem\"\n", &[]);
    assert!(e.contains("--tls-key"), "requires reach the file: {e}");
}

#[test]
fn tables_and_datetimes_are_not_values() {
    let e = refused("network = { name = \"x\" }\n", &[]);
    assert!(e.contains("network: expects a value, not a table"), "{e}");
    let e = refused("network = 1979-05-27\n", &[]);
    assert!(
        e.contains("network: expects a value, not a datetime"),
        "{e}"
    );
}

#[test]
fn an_unreadable_file_is_named() {
    let e = Config::load(["server", "--config", "/nonexistent/shardchat.toml"])
        .expect_err("no such file");
    let e = e.to_string();
    assert!(
        e.contains("cannot read the config file /nonexistent/shardchat.toml"),
        "{e}"
    );
}

#[test]
fn bad_toml_is_placed_by_line_and_column() {
    let e = refused("port = 1\n\nnetwork = unquoted\n", &[]);
    assert!(e.contains(".toml:3:11: "), "{e}");
    let e = refused("port = 1\nport = 2\n", &[]);
    assert!(e.contains(".toml:2:"), "duplicate key: {e}");
}

#[test]
fn the_command_line_keeps_clap_usage_errors() {
    let file = TempFile::new("port = 1\n");
    for (args, kind) in [
        (vec!["--port", "abc"], ErrorKind::ValueValidation),
        (vec!["--unknown"], ErrorKind::UnknownArgument),
        (vec!["--help"], ErrorKind::DisplayHelp),
        (vec!["--version"], ErrorKind::DisplayVersion),
    ] {
        let mut all = vec!["server", "--config", file.path()];
        all.extend_from_slice(&args);
        match Config::load(all) {
            Err(LoadError::Usage(e)) => assert_eq!(e.kind(), kind, "{args:?}"),
            other => panic!("{args:?}: expected a usage error, got {other:?}"),
        }
    }
}

#[test]
fn reload_reads_the_file_again_with_the_same_flags() {
    let file = TempFile::new("max-line = 100\nnetwork = \"one\"\n");
    let c = Config::load(["server", "--config", file.path(), "--network", "flag"]).expect("valid");
    assert_eq!((c.max_line, c.network.as_str()), (100, "flag"));
    std::fs::write(&file.0, "max-line = 300\nnetwork = \"two\"\n").expect("rewrite");
    let again = c.reload().expect("still valid");
    assert_eq!((again.max_line, again.network.as_str()), (300, "flag"));
    assert_eq!(again.command_line, c.command_line);
    std::fs::write(&file.0, "max-line = 0\n").expect("rewrite");
    let e = again.reload().expect_err("now invalid");
    assert!(e.contains(file.path()) && e.contains("max-line"), "{e}");
    // Without a file, reloading parses the same flags.
    let c = Config::load(["server", "--port", "7"]).expect("valid");
    assert_eq!(c.reload().expect("valid").port, 7);
}
