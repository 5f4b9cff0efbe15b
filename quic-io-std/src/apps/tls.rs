//! TLS for the apps: certificates and rustls configurations.
//!
//! Everything is TLS 1.3 on the ring provider, as QUIC requires (RFC 9001
//! §4.2).
//!
//! - [`self_signed`] makes a certificate and key for `localhost` (or given
//!   names) with rcgen, for a server started without `--cert`/`--key`.
//! - [`load_certs`] / [`load_key`] read PEM files, with errors that name the
//!   file and what was wrong.
//! - [`server_config`] / [`client_config`] build the quic-proto
//!   configurations with the ALPN protocols of the app, optionally logging
//!   TLS secrets to the file named by `SSLKEYLOGFILE` ([`rustls::KeyLogFile`]).
//! - [`Verification`] chooses how the client checks the server: against
//!   given roots, or not at all (`--insecure`, for testing only).

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use quic_proto::config::{ClientConfig, ConfigError, ServerConfig};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

/// Why a TLS configuration could not be built.
#[derive(Debug)]
#[non_exhaustive]
pub enum TlsError {
    /// A PEM file could not be read or parsed.
    Pem {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        error: rustls::pki_types::pem::Error,
    },
    /// A certificate file holds no `CERTIFICATE` section.
    NoCertificates(PathBuf),
    /// A key file holds no private key (PKCS#8, PKCS#1 or SEC1 section).
    NoPrivateKey(PathBuf),
    /// Client verification was asked for with no root certificate.
    NoRoots,
    /// rcgen could not make a certificate.
    Generate(rcgen::Error),
    /// rustls refused the certificates, key or roots.
    Rustls(rustls::Error),
    /// quic-proto refused the configuration.
    Config(ConfigError),
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Pem { path, error } => write!(f, "{}: {}", path.display(), pem_error(error)),
            Self::NoCertificates(path) => {
                write!(f, "{}: no CERTIFICATE section in the file", path.display())
            }
            Self::NoPrivateKey(path) => write!(
                f,
                "{}: no PRIVATE KEY section (PKCS#8, RSA or EC) in the file",
                path.display()
            ),
            Self::NoRoots => f.write_str(
                "no root certificate to verify the server with (give a CA file, or --insecure)",
            ),
            Self::Generate(e) => write!(f, "cannot make a self-signed certificate: {e}"),
            Self::Rustls(e) => write!(f, "TLS configuration refused: {e}"),
            Self::Config(e) => write!(f, "QUIC configuration refused: {e}"),
        }
    }
}

impl std::error::Error for TlsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Pem { error, .. } => Some(error),
            Self::Generate(e) => Some(e),
            Self::Rustls(e) => Some(e),
            Self::Config(e) => Some(e),
            _ => None,
        }
    }
}

fn pem_error(error: &rustls::pki_types::pem::Error) -> String {
    use rustls::pki_types::pem::Error;
    match error {
        Error::Io(e) => format!("cannot read the file: {e}"),
        Error::NoItemsFound => "no PEM section found".into(),
        other => format!("not valid PEM: {other}"),
    }
}

impl From<rustls::Error> for TlsError {
    fn from(e: rustls::Error) -> Self {
        Self::Rustls(e)
    }
}

impl From<ConfigError> for TlsError {
    fn from(e: ConfigError) -> Self {
        Self::Config(e)
    }
}

/// A certificate chain and its private key.
#[derive(Debug)]
pub struct CertifiedKey {
    /// The certificate chain, end entity first.
    pub chain: Vec<CertificateDer<'static>>,
    /// The private key.
    pub key: PrivateKeyDer<'static>,
}

impl Clone for CertifiedKey {
    fn clone(&self) -> Self {
        Self {
            chain: self.chain.clone(),
            key: self.key.clone_key(),
        }
    }
}

/// A self-signed certificate made by [`self_signed`], with its PEM forms
/// (to save for a client's CA option, or to reuse).
#[derive(Clone, Debug)]
pub struct SelfSigned {
    /// The certificate and key.
    pub identity: CertifiedKey,
    /// The certificate in PEM.
    pub cert_pem: String,
    /// The private key in PEM (PKCS#8).
    pub key_pem: String,
}

/// A fresh self-signed certificate (ECDSA P-256) for `names` (DNS names or
/// IP addresses, e.g. `["localhost"]`).
pub fn self_signed(names: &[&str]) -> Result<SelfSigned, TlsError> {
    let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    let key =
        rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(TlsError::Generate)?;
    let params = rcgen::CertificateParams::new(names).map_err(TlsError::Generate)?;
    let cert = params.self_signed(&key).map_err(TlsError::Generate)?;
    Ok(SelfSigned {
        identity: CertifiedKey {
            chain: vec![cert.der().clone()],
            key: PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        },
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// Every certificate in the PEM file at `path`, in file order.
pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem_err = |error| TlsError::Pem {
        path: path.to_owned(),
        error,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(pem_err)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(pem_err)?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificates(path.to_owned()));
    }
    Ok(certs)
}

/// The first private key in the PEM file at `path`.
pub fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|error| match error {
        rustls::pki_types::pem::Error::NoItemsFound => TlsError::NoPrivateKey(path.to_owned()),
        error => TlsError::Pem {
            path: path.to_owned(),
            error,
        },
    })
}

/// Loads a certificate chain and key from PEM files.
pub fn load_certified_key(cert: &Path, key: &Path) -> Result<CertifiedKey, TlsError> {
    let chain = load_certs(cert)?;
    let key = load_key(key)?;
    Ok(CertifiedKey { chain, key })
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A server configuration presenting `identity`, offering `alpns` (in
/// order of preference). With `key_log`, TLS secrets are appended to the
/// file named by the `SSLKEYLOGFILE` environment variable.
pub fn server_config(
    identity: &CertifiedKey,
    alpns: &[&[u8]],
    key_log: bool,
) -> Result<ServerConfig, TlsError> {
    let mut tls = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_no_client_auth()
        .with_single_cert(identity.chain.clone(), identity.key.clone_key())?;
    tls.alpn_protocols = alpns.iter().map(|a| a.to_vec()).collect();
    if key_log {
        tls.key_log = Arc::new(rustls::KeyLogFile::new());
    }
    Ok(ServerConfig::new(Arc::new(tls))?)
}

/// How a client checks the server's certificate.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Verification {
    /// Verify the chain up to one of these roots, and the server name.
    Roots(Vec<CertificateDer<'static>>),
    /// Accept any certificate (`--insecure`): the handshake signature is
    /// still checked against the certificate's key, but nothing ties that
    /// key to the server name. For testing only.
    Insecure,
}

/// A client configuration verifying servers as `verification` says,
/// offering `alpns`. With `key_log`, TLS secrets are appended to the file
/// named by `SSLKEYLOGFILE`.
pub fn client_config(
    verification: &Verification,
    alpns: &[&[u8]],
    key_log: bool,
) -> Result<ClientConfig, TlsError> {
    let provider = provider();
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])?;
    let mut tls = match verification {
        Verification::Roots(roots) => {
            if roots.is_empty() {
                return Err(TlsError::NoRoots);
            }
            let mut store = rustls::RootCertStore::empty();
            for root in roots {
                store.add(root.clone())?;
            }
            builder.with_root_certificates(store).with_no_client_auth()
        }
        Verification::Insecure => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate { provider }))
            .with_no_client_auth(),
    };
    tls.alpn_protocols = alpns.iter().map(|a| a.to_vec()).collect();
    if key_log {
        tls.key_log = Arc::new(rustls::KeyLogFile::new());
    }
    Ok(ClientConfig::new(Arc::new(tls))?)
}

/// The `--insecure` verifier: any certificate is accepted, but the
/// handshake must still be signed by its key.
#[derive(Debug)]
struct AcceptAnyCertificate {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for AcceptAnyCertificate {
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
        rustls::crypto::verify_tls12_signature(
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
        rustls::crypto::verify_tls13_signature(
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

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("quic-apps-tls-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn self_signed_round_trips_through_pem_files() {
        let dir = temp_dir("roundtrip");
        let made = self_signed(&["localhost"]).unwrap();
        let id = &made.identity;
        std::fs::write(dir.join("cert.pem"), &made.cert_pem).unwrap();
        std::fs::write(dir.join("key.pem"), &made.key_pem).unwrap();
        let loaded = load_certified_key(&dir.join("cert.pem"), &dir.join("key.pem")).unwrap();
        assert_eq!(loaded.chain, id.chain);
        assert_eq!(loaded.key.secret_der(), id.key.secret_der());
        server_config(&loaded, &[b"hq-interop"], false).unwrap();
        let roots = Verification::Roots(load_certs(&dir.join("cert.pem")).unwrap());
        client_config(&roots, &[b"hq-interop"], true).unwrap();
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn load_errors_name_the_file_and_the_problem() {
        let dir = temp_dir("errors");
        let missing = dir.join("missing.pem");
        let e = load_certs(&missing).unwrap_err().to_string();
        assert!(
            e.contains("missing.pem") && e.contains("cannot read"),
            "{e}"
        );
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "nothing here\n").unwrap();
        let e = load_certs(&empty).unwrap_err().to_string();
        assert!(
            e.contains("empty.pem") && e.contains("no CERTIFICATE"),
            "{e}"
        );
        let e = load_key(&empty).unwrap_err().to_string();
        assert!(
            e.contains("empty.pem") && e.contains("no PRIVATE KEY"),
            "{e}"
        );
        let e = client_config(&Verification::Roots(vec![]), &[b"x"], false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("--insecure"), "{e}");
        assert!(matches!(
            server_config(&self_signed(&["localhost"]).unwrap().identity, &[], false),
            Err(TlsError::Config(ConfigError::NoAlpn))
        ));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
