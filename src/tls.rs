//! TLS setup: loading the certificate and key (or generating a
//! self-signed pair), checking them at start and on reload, and the rustls
//! server configuration every TLS connection shares. A reload swaps the
//! certificate new handshakes get; connections already open keep theirs.

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use parking_lot::RwLock;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;

use crate::error::Error;

/// Bytes of encrypted output a TLS connection may hold before it
/// pushes back (the rest waits, as plaintext, in the client's queue).
pub const TLS_BUFFER_LIMIT: usize = 64 * 1024;

/// A loaded server identity.
pub struct Identity {
    pub config: Arc<ServerConfig>,
    /// SHA-256 of the leaf certificate, as `AB:CD:...`.
    pub fingerprint: String,
    /// The certificate handshakes are answered with, to swap on reload.
    pub certs: Arc<CertSwap>,
}

/// The certificate and key every new handshake gets; a reload replaces
/// them. Read once per handshake, never on the message path.
#[derive(Debug)]
pub struct CertSwap(RwLock<Arc<CertifiedKey>>);

impl CertSwap {
    /// Puts `key` in force for handshakes from now on.
    pub fn replace(&self, key: Arc<CertifiedKey>) {
        *self.0.write() = key;
    }
}

impl ResolvesServerCert for CertSwap {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(&self.0.read()))
    }
}

/// Loads a PEM certificate chain and private key (RSA, ECDSA or Ed25519),
/// refusing an expired or not-yet-valid leaf and a key that does not match.
pub fn load(cert_path: &Path, key_path: &Path) -> Result<Identity, Error> {
    let (key, fingerprint) = load_key(cert_path, key_path)?;
    identity(key, fingerprint)
}

/// Loads and checks a certificate and key as [`load`] does, without
/// building a configuration: what a reload swaps in. Returns the key and
/// the leaf's fingerprint.
pub fn load_key(cert_path: &Path, key_path: &Path) -> Result<(Arc<CertifiedKey>, String), Error> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_path)
        .and_then(|it| it.collect::<Result<_, _>>())
        .map_err(|e| {
            Error::Tls(format!(
                "{}: cannot read certificates: {e}",
                cert_path.display()
            ))
        })?;
    let Some(leaf) = certs.first() else {
        return Err(Error::Tls(format!(
            "{}: no certificate found",
            cert_path.display()
        )));
    };
    check_validity(leaf, cert_path)?;
    let key = PrivateKeyDer::from_pem_file(key_path).map_err(|e| {
        Error::Tls(format!(
            "{}: cannot read a private key: {e}",
            key_path.display()
        ))
    })?;
    let fingerprint = fingerprint(leaf);
    let key = certified(certs, key).map_err(|e| {
        Error::Tls(format!(
            "{} and {} do not go together: {e}",
            cert_path.display(),
            key_path.display()
        ))
    })?;
    Ok((key, fingerprint))
}

/// Generates an in-memory certificate for `bind` and `localhost`.
pub fn self_signed(bind: IpAddr) -> Result<Identity, Error> {
    let mut names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
    if !bind.is_unspecified() && !names.contains(&bind.to_string()) {
        names.push(bind.to_string());
    }
    let generated = rcgen::generate_simple_self_signed(names)
        .map_err(|e| Error::Tls(format!("cannot generate a certificate: {e}")))?;
    let cert = generated.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        generated.signing_key.serialize_der(),
    ));
    let fingerprint = fingerprint(&cert);
    let key = certified(vec![cert], key)
        .map_err(|e| Error::Tls(format!("self-signed certificate: {e}")))?;
    identity(key, fingerprint)
}

/// A certificate chain with its signing key, checked to belong together.
fn certified(
    certs: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<CertifiedKey>, rustls::Error> {
    let provider = rustls::crypto::ring::default_provider();
    let key = CertifiedKey::from_der(certs, key, &provider)?;
    Ok(Arc::new(key))
}

/// The shared configuration, answering handshakes with a swappable key.
fn identity(key: Arc<CertifiedKey>, fingerprint: String) -> Result<Identity, Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certs = Arc::new(CertSwap(RwLock::new(key)));
    // TLS 1.3 and 1.2 only; rustls never renegotiates.
    let config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| Error::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_cert_resolver(Arc::clone(&certs) as Arc<dyn ResolvesServerCert>);
    Ok(Identity {
        config: Arc::new(config),
        fingerprint,
        certs,
    })
}

fn check_validity(leaf: &CertificateDer<'_>, path: &Path) -> Result<(), Error> {
    let (_, cert) = x509_parser::parse_x509_certificate(leaf).map_err(|e| {
        Error::Tls(format!(
            "{}: not a valid X.509 certificate: {e}",
            path.display()
        ))
    })?;
    let validity = cert.validity();
    let now = x509_parser::time::ASN1Time::now();
    if now > validity.not_after {
        return Err(Error::Tls(format!(
            "{}: the certificate expired on {}",
            path.display(),
            validity.not_after
        )));
    }
    if now < validity.not_before {
        return Err(Error::Tls(format!(
            "{}: the certificate is not valid before {}",
            path.display(),
            validity.not_before
        )));
    }
    Ok(())
}

/// `AB:CD:...` SHA-256 of a DER certificate.
pub fn fingerprint(cert: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, cert);
    digest
        .as_ref()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}
