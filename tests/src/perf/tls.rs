//! One TLS setup for both stacks: rustls 0.23 on ring, TLS 1.3 only, one
//! cipher suite, X25519 only, an ECDSA P-256 certificate made with rcgen,
//! no resumption (no tickets, no session cache).

use std::sync::Arc;

use rustls::crypto::{ring as ring_provider, CryptoProvider};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// The ALPN protocol both sides speak.
pub(crate) const ALPN: &[u8] = b"perf";
/// The name the certificate is for and the client verifies.
pub(crate) const SERVER_NAME: &str = "localhost";

/// The TLS 1.3 cipher suite of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Suite {
    /// TLS_AES_128_GCM_SHA256.
    Aes128,
    /// TLS_AES_256_GCM_SHA384.
    Aes256,
    /// TLS_CHACHA20_POLY1305_SHA256.
    Chacha,
}

impl Suite {
    /// All three, in report order.
    pub const ALL: [Suite; 3] = [Suite::Aes128, Suite::Aes256, Suite::Chacha];

    /// The short name used in keys (`aes128`, `aes256`, `chacha`).
    pub fn key(self) -> &'static str {
        match self {
            Self::Aes128 => "aes128",
            Self::Aes256 => "aes256",
            Self::Chacha => "chacha",
        }
    }

    /// The human-readable name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Aes128 => "AES-128-GCM",
            Self::Aes256 => "AES-256-GCM",
            Self::Chacha => "ChaCha20-Poly1305",
        }
    }

    pub(crate) fn rustls(self) -> rustls::SupportedCipherSuite {
        match self {
            Self::Aes128 => ring_provider::cipher_suite::TLS13_AES_128_GCM_SHA256,
            Self::Aes256 => ring_provider::cipher_suite::TLS13_AES_256_GCM_SHA384,
            Self::Chacha => ring_provider::cipher_suite::TLS13_CHACHA20_POLY1305_SHA256,
        }
    }
}

/// The settings of one run both stacks share: the rustls configurations,
/// and whether path MTU discovery is on.
pub(crate) struct Setup {
    pub server: Arc<rustls::ServerConfig>,
    pub client: Arc<rustls::ClientConfig>,
    pub suite: Suite,
    /// Path MTU discovery on both stacks, each with its default settings
    /// (up to 1452 bytes); off, both send 1200-byte datagrams.
    pub pmtud: bool,
}

/// A provider offering `suite` and X25519 only.
fn provider(suite: Suite) -> Arc<CryptoProvider> {
    let mut provider = ring_provider::default_provider();
    provider.cipher_suites = vec![suite.rustls()];
    provider.kx_groups = vec![ring_provider::kx_group::X25519];
    Arc::new(provider)
}

/// A self-signed ECDSA P-256 certificate for [`SERVER_NAME`].
pub(crate) struct Certificate {
    cert: CertificateDer<'static>,
    key: PrivatePkcs8KeyDer<'static>,
}

impl Certificate {
    pub(crate) fn generate() -> Result<Self, String> {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
            .map_err(|e| format!("rcgen key: {e}"))?;
        let params = rcgen::CertificateParams::new(vec![SERVER_NAME.into()])
            .map_err(|e| format!("rcgen params: {e}"))?;
        let cert = params
            .self_signed(&key)
            .map_err(|e| format!("rcgen certificate: {e}"))?;
        Ok(Self {
            cert: cert.der().clone(),
            key: PrivatePkcs8KeyDer::from(key.serialize_der()),
        })
    }

    /// Both sides' configurations for `suite`.
    pub(crate) fn setup(&self, suite: Suite, pmtud: bool) -> Result<Setup, String> {
        let provider = provider(suite);
        let mut server = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| format!("rustls server: {e}"))?
            .with_no_client_auth()
            .with_single_cert(
                vec![self.cert.clone()],
                PrivateKeyDer::Pkcs8(self.key.clone_key()),
            )
            .map_err(|e| format!("rustls server certificate: {e}"))?;
        server.alpn_protocols = vec![ALPN.to_vec()];
        // No resumption: no tickets, no session cache.
        server.send_tls13_tickets = 0;
        server.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});

        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(self.cert.clone())
            .map_err(|e| format!("root store: {e}"))?;
        let mut client = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| format!("rustls client: {e}"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        client.alpn_protocols = vec![ALPN.to_vec()];
        client.resumption = rustls::client::Resumption::disabled();
        Ok(Setup {
            server: Arc::new(server),
            client: Arc::new(client),
            suite,
            pmtud,
        })
    }
}
