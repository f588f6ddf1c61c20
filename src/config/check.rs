//! Rules between flags that clap cannot express, shared by
//! `Server::bind` and `--check-config`, and the check itself.

use std::path::Path;

use super::Config;
use crate::error::Error;
use crate::tls;

/// Where the TLS certificate comes from.
#[derive(Debug)]
pub(crate) enum TlsSource<'a> {
    /// No TLS port: no certificate.
    None,
    /// `--tls-self-signed`: generated at start.
    SelfSigned,
    /// `--tls-cert` and `--tls-key`.
    Files { cert: &'a Path, key: &'a Path },
}

/// Checks what clap cannot (`--threads 0`, TLS options without a TLS port
/// or a TLS port without a certificate) and says where TLS material comes
/// from.
pub(crate) fn startup_rules(config: &Config) -> Result<TlsSource<'_>, Error> {
    if config.threads == Some(0) {
        return Err(Error::Config("--threads must be at least 1".into()));
    }
    // Every TLS port needs the certificate options.
    let tls_port = config
        .tls_port
        .or(config.irc_tls_port)
        .or(config.https_port);
    match (
        tls_port,
        config.tls_self_signed,
        &config.tls_cert,
        &config.tls_key,
    ) {
        (None, false, None, None) => Ok(TlsSource::None),
        (None, _, _, _) => Err(Error::Config(
            "TLS options need --tls-port, --irc-tls-port or --https-port".into(),
        )),
        (Some(_), true, _, _) => Ok(TlsSource::SelfSigned),
        (Some(_), false, Some(cert), Some(key)) => Ok(TlsSource::Files { cert, key }),
        (Some(_), false, _, _) => Err(Error::Config(format!(
            "{} needs --tls-cert and --tls-key, or --tls-self-signed",
            if config.tls_port.is_some() {
                "--tls-port"
            } else if config.irc_tls_port.is_some() {
                "--irc-tls-port"
            } else {
                "--https-port"
            }
        ))),
    }
}

impl Config {
    /// What `--check-config` checks beyond parsing: the rules of
    /// [`startup_rules`], that the TLS certificate and key load and match,
    /// and that the MOTD file reads. Binds nothing and opens no database.
    /// The error names the `--config` file, if there is one.
    pub fn check(&self) -> Result<(), String> {
        self.check_files().map_err(|e| match &self.config {
            Some(path) => format!("{}: {e}", path.display()),
            None => e.to_string(),
        })
    }

    fn check_files(&self) -> Result<(), Error> {
        if let TlsSource::Files { cert, key } = startup_rules(self)? {
            tls::load(cert, key)?;
        }
        if let Some(path) = &self.motd {
            crate::server::read_motd(path)?;
        }
        Ok(())
    }

    /// Where the settings came from: the `--config` file, or `flags`.
    pub fn origin(&self) -> String {
        match &self.config {
            Some(path) => path.display().to_string(),
            None => "flags".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    /// The rules' answer for `args`: the TLS source (as Debug) or the error.
    fn rules(args: &[&str]) -> Result<String, String> {
        let mut all = vec!["server"];
        all.extend_from_slice(args);
        let config = Config::try_parse_from(all).expect("valid flags");
        startup_rules(&config)
            .map(|source| format!("{source:?}"))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn startup_rules_cover_threads_and_tls_combinations() {
        assert_eq!(rules(&[]), Ok("None".into()));
        assert_eq!(
            rules(&["--threads", "0"]),
            Err("bad configuration: --threads must be at least 1".into())
        );
        assert_eq!(
            rules(&["--tls-port", "1", "--tls-self-signed"]),
            Ok("SelfSigned".into())
        );
        assert_eq!(
            rules(&["--https-port", "1", "--tls-cert", "c", "--tls-key", "k"]),
            Ok(r#"Files { cert: "c", key: "k" }"#.into())
        );
        let e = rules(&["--tls-self-signed"]).expect_err("no TLS port");
        assert!(e.contains("TLS options need --tls-port"), "{e}");
        for (flag, named) in [
            ("--tls-port", "--tls-port needs"),
            ("--irc-tls-port", "--irc-tls-port needs"),
            ("--https-port", "--https-port needs"),
        ] {
            let e = rules(&[flag, "1"]).expect_err("no certificate");
            assert!(e.contains(named), "{flag}: {e}");
        }
    }

    #[test]
    fn check_reads_the_certificate_and_the_motd() {
        let c = Config::try_parse_from([
            "server",
            "--tls-port",
            "1",
            "--tls-cert",
            "/nonexistent/c.pem",
            "--tls-key",
            "/nonexistent/k.pem",
        ])
        .expect("valid flags");
        let e = c.check().expect_err("no certificate file");
        assert!(e.contains("/nonexistent/c.pem"), "{e}");
        let c = Config::try_parse_from(["server", "--motd", "/nonexistent/motd"]).expect("valid");
        let e = c.check().expect_err("no MOTD file");
        assert!(e.contains("cannot read --motd /nonexistent/motd"), "{e}");
        let c = Config::try_parse_from(["server", "--config", "/etc/s.toml", "--threads", "0"])
            .expect("valid");
        let e = c.check().expect_err("no threads");
        assert!(
            e.starts_with("/etc/s.toml: bad configuration: --threads"),
            "{e}"
        );
        assert!(Config::default().check().is_ok());
    }

    #[test]
    fn origin_names_the_file_or_flags() {
        assert_eq!(Config::default().origin(), "flags");
        let c = Config::try_parse_from(["server", "--config", "/etc/s.toml"]).expect("valid");
        assert_eq!(c.origin(), "/etc/s.toml");
    }
}
