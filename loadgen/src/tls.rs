//! Whom the loadgen trusts over TLS: the CAs in one PEM file, or (with
//! `--insecure`) any certificate at all, and the rustls client
//! configuration every connection of a run shares.

use std::sync::Arc;

use anyhow::{anyhow, Result};
use rustls::pki_types::ServerName;
use rustls::ClientConfig;

use crate::cli::Trust;

/// What every TLS connection of a run needs.
#[derive(Debug)]
pub struct TlsSetup {
    pub config: Arc<ClientConfig>,
    /// The name to verify and send as SNI, one per `--addr`.
    pub names: Vec<ServerName<'static>>,
}

impl TlsSetup {
    /// Builds the configuration; `hosts` are the host parts of `--addr`.
    pub fn new(trust: &Trust, hosts: &[String]) -> Result<TlsSetup> {
        let names = hosts
            .iter()
            .map(|h| {
                ServerName::try_from(h.clone())
                    .map_err(|e| anyhow!("--addr {h:?}: not a name TLS can check: {e}"))
            })
            .collect::<Result<_>>()?;
        Ok(TlsSetup {
            config: client_config(trust)?,
            names,
        })
    }
}

fn client_config(trust: &Trust) -> Result<Arc<ClientConfig>> {
    let trust = match trust {
        Trust::Ca { path } => shardchat::tls_client::Trust::CaFile(path.clone()),
        Trust::Insecure => shardchat::tls_client::Trust::Anyone,
    };
    shardchat::tls_client::client_config(&trust).map_err(|e| match trust {
        shardchat::tls_client::Trust::CaFile(_) => anyhow!("--ca {e}"),
        _ => anyhow!("{e}"),
    })
}
