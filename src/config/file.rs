//! The `--config` TOML file: each key names a flag; the keys the command
//! line does not give become flags ahead of it, and clap parses the whole
//! as one command line, so a value in the file meets the same checks as
//! the flag.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::parser::ValueSource;
use clap::{Arg, ArgAction, ArgMatches, Command, CommandFactory, FromArgMatches, Parser};
use toml::Value;

use super::Config;

/// Flags that name no setting, and so have no key.
const NOT_SETTINGS: [&str; 4] = ["config", "check-config", "help", "version"];

/// Why a configuration could not be loaded.
#[derive(Debug)]
pub enum LoadError {
    /// The command line itself is wrong, or asks for `--help` or
    /// `--version`: let clap show it and exit ([`clap::Error::exit`]).
    Usage(clap::Error),
    /// The file cannot be read, or its settings (with the command line's)
    /// are not valid; the message names the file, and the key when known.
    File(String),
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Usage(e) => f.write_str(&summary(e)),
            LoadError::File(msg) => f.write_str(msg),
        }
    }
}

impl std::error::Error for LoadError {}

impl Config {
    /// Parses a command line (program name first) and, with `--config`,
    /// the file it names: settings the command line gives win over the
    /// file's.
    pub fn load<I, T>(args: I) -> Result<Config, LoadError>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString>,
    {
        let mut args: Vec<OsString> = args.into_iter().map(Into::into).collect();
        if args.is_empty() {
            args.push("server".into());
        }
        let cli = match Config::command().try_get_matches_from(&args) {
            Ok(m) => m,
            // The file may give what a flag needs (`--no-plain` on the
            // command line, `tls-port` in the file): only clap's final
            // parse, with both, can tell.
            Err(e) if e.kind() == ErrorKind::MissingRequiredArgument => {
                let m = Config::command()
                    .ignore_errors(true)
                    .try_get_matches_from(&args)
                    .map_err(LoadError::Usage)?;
                if m.get_one::<PathBuf>("config").is_none() {
                    return Err(LoadError::Usage(e));
                }
                m
            }
            Err(e) => return Err(LoadError::Usage(e)),
        };
        let mut config = match cli.get_one::<PathBuf>("config") {
            None => Config::from_arg_matches(&cli).map_err(LoadError::Usage)?,
            Some(path) => merged(path, &cli, &args).map_err(LoadError::File)?,
        };
        config.command_line = args;
        Ok(config)
    }

    /// Loads the configuration again from the same command line, reading
    /// the `--config` file anew (for SIGHUP).
    pub fn reload(&self) -> Result<Config, String> {
        Config::load(self.command_line.iter().cloned()).map_err(|e| e.to_string())
    }
}

/// Parses the file's settings followed by the command line.
fn merged(path: &Path, cli: &ArgMatches, args: &[OsString]) -> Result<Config, String> {
    let table = read_table(path)?;
    let (file_args, keys) = to_args(&table, cli).map_err(|e| format!("{}: {e}", path.display()))?;
    let all = args[..1]
        .iter()
        .cloned()
        .chain(file_args)
        .chain(args[1..].iter().cloned());
    Config::try_parse_from(all).map_err(|e| {
        let key = match e.get(ContextKind::InvalidArg) {
            Some(ContextValue::String(arg)) => long_name(arg.as_str()).and_then(|l| keys.get(l)),
            _ => None,
        };
        match key {
            Some(key) => format!("{}: {key}: {}", path.display(), summary(&e)),
            None => format!("{}: {}", path.display(), summary(&e)),
        }
    })
}

/// Reads and parses the file; errors name it, and the line and column of
/// a syntax error.
fn read_table(path: &Path) -> Result<toml::Table, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the config file {}: {e}", path.display()))?;
    text.parse::<toml::Table>().map_err(|e| {
        let at = e.span().map(|s| s.start).unwrap_or(0).min(text.len());
        let before = &text[..at];
        let line = before.matches('\n').count() + 1;
        let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
        let message = e.message().trim_end();
        format!("{}:{line}:{column}: {message}", path.display())
    })
}

/// The flags the file's keys stand for, leaving out those the command
/// line gives; with them, each used flag's long name and the key that
/// set it.
fn to_args(
    table: &toml::Table,
    cli: &ArgMatches,
) -> Result<(Vec<OsString>, HashMap<String, String>), String> {
    let cmd = Config::command();
    let mut args = Vec::new();
    let mut used = HashMap::new();
    let mut seen: HashMap<String, &str> = HashMap::new();
    for (key, value) in table {
        let long = key.replace('_', "-");
        if NOT_SETTINGS.contains(&long.as_str()) {
            return Err(format!("{key}: not a setting a file can hold"));
        }
        let Some(arg) = cmd.get_arguments().find(|a| a.get_long() == Some(&long)) else {
            return Err(format!(
                "unknown key {key:?} (keys are the long flag names, as in --help)"
            ));
        };
        if let Some(other) = seen.insert(long.clone(), key) {
            return Err(format!("{other} and {key} are the same setting"));
        }
        if overridden(&cmd, arg, cli) {
            continue;
        }
        let flag = format!("--{long}");
        if !arg.get_action().takes_values() {
            match value {
                Value::Boolean(true) => args.push(flag.into()),
                Value::Boolean(false) => {}
                other => return Err(format!("{key}: expects true or false, not {}", a(other))),
            }
        } else {
            let values = match value {
                Value::Array(items) if matches!(arg.get_action(), ArgAction::Append) => {
                    items.iter().collect()
                }
                Value::Array(_) => return Err(format!("{key}: takes one value, not an array")),
                one => vec![one],
            };
            for v in values {
                let text = match v {
                    Value::String(s) => s.clone(),
                    Value::Integer(i) => i.to_string(),
                    Value::Float(f) => f.to_string(),
                    other => return Err(format!("{key}: expects a value, not {}", a(other))),
                };
                args.push(format!("{flag}={text}").into());
            }
        }
        used.insert(long, key.clone());
    }
    Ok((args, used))
}

/// Whether the command line gives this flag, or one it cannot be used
/// with (the file's `tls-self-signed` gives way to `--tls-cert`).
fn overridden(cmd: &Command, arg: &Arg, cli: &ArgMatches) -> bool {
    let given = |a: &Arg| cli.value_source(a.get_id().as_str()) == Some(ValueSource::CommandLine);
    given(arg)
        || cmd.get_arguments().filter(|c| given(c)).any(|c| {
            cmd.get_arg_conflicts_with(arg)
                .iter()
                .chain(cmd.get_arg_conflicts_with(c).iter())
                .any(|x| x.get_id() == arg.get_id() || x.get_id() == c.get_id())
        })
}

/// A value's type with its article: "a string", "an array".
fn a(v: &Value) -> String {
    let t = v.type_str();
    let article = if t.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    };
    format!("{article} {t}")
}

/// `--max-line` from clap's `--max-line <MAX_LINE>`.
fn long_name(arg: &str) -> Option<&str> {
    let rest = arg.strip_prefix("--")?;
    Some(rest.split([' ', '=']).next().unwrap_or(rest))
}

/// Clap's message on one line, without `error: `, usage or tips.
fn summary(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let text = text.trim_start();
    let text = text.strip_prefix("error: ").unwrap_or(text);
    text.lines()
        .take_while(|l| !l.trim().is_empty())
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
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
        let c =
            Config::load(["server", "--config", file.path(), "--network", "flag"]).expect("valid");
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
}
