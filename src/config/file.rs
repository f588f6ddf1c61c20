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
#[path = "file_tests.rs"]
mod tests;
