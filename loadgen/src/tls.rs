//! Whom the loadgen trusts over TLS: the CAs in one PEM file, or (with
//! `--insecure`) any certificate at all, and the rustls client
//! configuration every connection of a run shares.

use std::path::Path;
use std::sync::Arc;

use anyhow::{anyhow, bail, Context, Result};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

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
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .context("choosing TLS protocol versions")?;
    let config = match trust {
        Trust::Ca { path } => builder.with_root_certificates(ca_file(path)?),
        Trust::Insecure => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCert { provider })),
    };
    Ok(Arc::new(config.with_no_client_auth()))
}

fn ca_file(path: &Path) -> Result<RootCertStore> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<_, _>>())
        .map_err(|e| anyhow!("--ca {}: cannot read certificates: {e}", path.display()))?;
    if certs.is_empty() {
        bail!("--ca {}: no PEM certificate found", path.display());
    }
    let mut roots = RootCertStore::empty();
    for cert in certs {
        roots
            .add(cert)
            .with_context(|| format!("--ca {}: not a usable CA certificate", path.display()))?;
    }
    Ok(roots)
}

/// Accepts whatever certificate the server shows. The handshake signatures
/// are still checked, so the handshake costs what a verified one does,
/// minus the chain check.
#[derive(Debug)]
struct AcceptAnyCert {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for AcceptAnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
