//! Test support: a complete rustls QUIC handshake in memory, so the tests can
//! hold the keys and `Secrets` rustls produces in a real connection.
//!
//! Authentication is stubbed on both ends (a fake certificate, a signer that
//! signs with zeros and a verifier that accepts anything): these tests are
//! about the keys, not about certificates.

use std::sync::{Arc, Mutex};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::quic as rq;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::{CertifiedKey, Signer, SigningKey};
use rustls::{DigitallySignedStruct, SignatureAlgorithm, SignatureScheme};

use super::Suite;

/// What one side of the handshake received from rustls.
#[derive(Default)]
pub(crate) struct Peer {
    /// The Handshake-level keys.
    pub handshake: Option<rq::Keys>,
    /// Generation 0 of the 1-RTT keys.
    pub one_rtt: Option<rq::Keys>,
    /// The secrets for the 1-RTT generations after 0.
    pub next: Option<rq::Secrets>,
}

/// The outcome of a handshake.
pub(crate) struct Handshake {
    pub client: Peer,
    pub server: Peer,
    /// The suite the client negotiated, as rustls reports it.
    pub negotiated: Option<Suite>,
    /// CLIENT_TRAFFIC_SECRET_0, from the client's key log.
    pub client_secret: Vec<u8>,
    /// SERVER_TRAFFIC_SECRET_0, from the client's key log.
    pub server_secret: Vec<u8>,
}

/// Runs a QUIC handshake offering only `suite`.
pub(crate) fn handshake(suite: Suite, version: rq::Version) -> Handshake {
    let log = Arc::new(KeyLog::default());
    let mut client = rq::Connection::Client(
        rq::ClientConnection::new(
            Arc::new(client_config(suite, log.clone())),
            version,
            ServerName::try_from("quic.test").unwrap(),
            b"client transport parameters".to_vec(),
        )
        .unwrap(),
    );
    let mut server = rq::Connection::Server(
        rq::ServerConnection::new(
            Arc::new(server_config(suite)),
            version,
            b"server transport parameters".to_vec(),
        )
        .unwrap(),
    );
    let (mut client_peer, mut server_peer) = (Peer::default(), Peer::default());
    loop {
        let a = transfer(&mut client, &mut server, &mut client_peer);
        let b = transfer(&mut server, &mut client, &mut server_peer);
        if !a && !b {
            break;
        }
    }
    assert!(!client.is_handshaking() && !server.is_handshaking());
    let secret = |label: &str| {
        let entries = log.0.lock().unwrap();
        let (_, secret) = entries.iter().find(|(l, _)| l == label).unwrap();
        secret.clone()
    };
    Handshake {
        negotiated: client
            .negotiated_cipher_suite()
            .and_then(Suite::from_rustls),
        client_secret: secret("CLIENT_TRAFFIC_SECRET_0"),
        server_secret: secret("SERVER_TRAFFIC_SECRET_0"),
        client: client_peer,
        server: server_peer,
    }
}

/// Moves everything `from` has to say to `to`; records key changes. Returns
/// whether anything happened.
fn transfer(from: &mut rq::Connection, to: &mut rq::Connection, peer: &mut Peer) -> bool {
    let mut progressed = false;
    loop {
        let mut buf = Vec::new();
        let change = from.write_hs(&mut buf);
        if !buf.is_empty() {
            to.read_hs(&buf).unwrap();
            progressed = true;
        }
        match change {
            Some(rq::KeyChange::Handshake { keys }) => peer.handshake = Some(keys),
            Some(rq::KeyChange::OneRtt { keys, next }) => {
                peer.one_rtt = Some(keys);
                peer.next = Some(next);
            }
            None if buf.is_empty() => return progressed,
            None => {}
        }
    }
}

fn provider(suite: Suite) -> Arc<rustls::crypto::CryptoProvider> {
    let mut provider = rustls::crypto::ring::default_provider();
    provider.cipher_suites = vec![suite.rustls()];
    Arc::new(provider)
}

fn client_config(suite: Suite, log: Arc<KeyLog>) -> rustls::ClientConfig {
    let mut config = rustls::ClientConfig::builder_with_provider(provider(suite))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAnything))
        .with_no_client_auth();
    config.key_log = log;
    config
}

fn server_config(suite: Suite) -> rustls::ServerConfig {
    rustls::ServerConfig::builder_with_provider(provider(suite))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(FakeCert))
}

/// Records the secrets rustls logs.
#[derive(Debug, Default)]
struct KeyLog(Mutex<Vec<(String, Vec<u8>)>>);

impl rustls::KeyLog for KeyLog {
    fn log(&self, label: &str, _client_random: &[u8], secret: &[u8]) {
        self.0
            .lock()
            .unwrap()
            .push((label.to_owned(), secret.to_vec()));
    }
}

#[derive(Debug)]
struct AcceptAnything;

impl ServerCertVerifier for AcceptAnything {
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
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![SignatureScheme::ED25519]
    }
}

#[derive(Debug)]
struct FakeCert;

impl ResolvesServerCert for FakeCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let cert = CertificateDer::from(b"not a certificate".to_vec());
        Some(Arc::new(CertifiedKey::new(vec![cert], Arc::new(FakeKey))))
    }
}

#[derive(Debug)]
struct FakeKey;

impl SigningKey for FakeKey {
    fn choose_scheme(&self, offered: &[SignatureScheme]) -> Option<Box<dyn Signer>> {
        offered
            .contains(&SignatureScheme::ED25519)
            .then(|| Box::new(FakeKey) as Box<dyn Signer>)
    }

    fn algorithm(&self) -> SignatureAlgorithm {
        SignatureAlgorithm::ED25519
    }
}

impl Signer for FakeKey {
    fn sign(&self, _message: &[u8]) -> Result<Vec<u8>, rustls::Error> {
        Ok(vec![0; 64])
    }

    fn scheme(&self) -> SignatureScheme {
        SignatureScheme::ED25519
    }
}
