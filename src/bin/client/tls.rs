//! Whom the client trusts over TLS: see `shardchat::tls_client`.

pub use shardchat::tls_client::Trust;

/// The rustls configuration every TLS connection of this process uses.
pub fn client_config(trust: &Trust) -> anyhow::Result<std::sync::Arc<rustls::ClientConfig>> {
    shardchat::tls_client::client_config(trust).map_err(anyhow::Error::msg)
}
