//! The TLS 1.3 handshake through `rustls::quic` (RFC 9001 §4).
//!
//! rustls consumes handshake bytes per encryption level and produces the
//! bytes to send, announcing each key change; this module turns that into
//! CRYPTO-stream writes per level and key installations, and turns TLS
//! failures into CRYPTO_ERROR codes carrying the alert (RFC 9001 §4.8).

use std::sync::Arc;

use rustls::pki_types::ServerName;
use rustls::quic::{self, KeyChange};

use crate::crypto::rustls_version;
use crate::{Level, TransportError, TransportErrorCode, Version};

/// A TLS session of either side.
pub(crate) struct Tls {
    session: Session,
    /// The level rustls is currently writing at.
    write_level: Level,
}

/// The rustls session while it has work to do, then only what the
/// application may still ask about it.
enum Session {
    Active(Box<quic::Connection>),
    Retired(Box<Retired>),
}

/// What a finished handshake leaves for the application's questions.
struct Retired {
    alpn: Option<Vec<u8>>,
    peer_certificates: Option<Vec<rustls::pki_types::CertificateDer<'static>>>,
    cipher_suite: Option<rustls::SupportedCipherSuite>,
    server_name: Option<String>,
}

/// What the handshake produced in one step.
pub(crate) enum TlsOutput {
    /// Bytes to send in CRYPTO frames at a level.
    Data(Level, Vec<u8>),
    /// New keys: Handshake, or 1-RTT with the secrets for key updates.
    Keys(Box<KeyChange>),
}

impl Tls {
    /// A client session sending `params` (encoded transport parameters).
    pub fn client(
        config: Arc<rustls::ClientConfig>,
        version: Version,
        server_name: &str,
        params: Vec<u8>,
    ) -> Result<Self, TlsStartError> {
        let name = ServerName::try_from(server_name.to_owned())
            .map_err(|_| TlsStartError::InvalidServerName)?;
        let version = rustls_version(version).map_err(|_| TlsStartError::UnsupportedVersion)?;
        let conn = quic::ClientConnection::new(config, version, name, params)
            .map_err(TlsStartError::Tls)?;
        Ok(Self {
            session: Session::Active(Box::new(conn.into())),
            write_level: Level::Initial,
        })
    }

    /// A server session sending `params`.
    pub fn server(
        config: Arc<rustls::ServerConfig>,
        version: Version,
        params: Vec<u8>,
    ) -> Result<Self, TlsStartError> {
        let version = rustls_version(version).map_err(|_| TlsStartError::UnsupportedVersion)?;
        let conn =
            quic::ServerConnection::new(config, version, params).map_err(TlsStartError::Tls)?;
        Ok(Self {
            session: Session::Active(Box::new(conn.into())),
            write_level: Level::Initial,
        })
    }

    /// Drops the rustls session, keeping what the accessors report. For a
    /// server whose handshake is complete and whose TLS output (session
    /// tickets included) is written: nothing more can come from TLS, and
    /// the session's buffers are most of an idle connection's memory.
    pub fn retire(&mut self) {
        let Session::Active(conn) = &self.session else {
            return;
        };
        if conn.is_handshaking() {
            return;
        }
        let retired = Retired {
            alpn: conn.alpn_protocol().map(<[u8]>::to_vec),
            peer_certificates: conn.peer_certificates().map(<[_]>::to_vec),
            cipher_suite: conn.negotiated_cipher_suite(),
            server_name: match &**conn {
                quic::Connection::Server(s) => s.server_name().map(str::to_owned),
                quic::Connection::Client(_) => None,
            },
        };
        self.session = Session::Retired(Box::new(retired));
    }

    /// Feeds handshake bytes received in order at some level.
    pub fn read(&mut self, data: &[u8]) -> Result<(), TransportError> {
        match &mut self.session {
            Session::Active(conn) => conn.read_hs(data).map_err(|e| self.error(e)),
            // RFC 9001 §6: a TLS KeyUpdate is an unexpected_message error,
            // and a client has nothing else to send after its Finished.
            Session::Retired(_) => Err(TransportError::new(
                TransportErrorCode::crypto(10),
                "TLS message after the handshake",
            )),
        }
    }

    /// The error to close with after rustls failed with `error`:
    /// CRYPTO_ERROR with the alert rustls would have sent (RFC 9001 §4.8).
    ///
    /// rustls records no alert when the handshake messages cannot even be
    /// framed (a message longer than it accepts, say): that is the peer's
    /// fault, so it closes with the alert rustls' own mapping gives a
    /// malformed message (decode_error), not INTERNAL_ERROR.
    fn error(&self, error: rustls::Error) -> TransportError {
        let Session::Active(conn) = &self.session else {
            return TransportError::new(TransportErrorCode::INTERNAL_ERROR, "TLS failure");
        };
        let alert = match (conn.alert(), error) {
            (Some(alert), _) => alert,
            (None, rustls::Error::InvalidMessage(m)) => rustls::AlertDescription::from(m),
            (None, _) => {
                return TransportError::new(TransportErrorCode::INTERNAL_ERROR, "TLS failure")
            }
        };
        TransportError::new(
            TransportErrorCode::crypto(u8::from(alert)),
            "TLS handshake failed",
        )
    }

    /// Collects everything rustls wants to send, in order, with the key
    /// changes between levels.
    pub fn write(&mut self, mut out: impl FnMut(TlsOutput)) {
        let Session::Active(conn) = &mut self.session else {
            return;
        };
        loop {
            let mut buf = Vec::new();
            let change = conn.write_hs(&mut buf);
            if !buf.is_empty() {
                out(TlsOutput::Data(self.write_level, buf));
            }
            match change {
                Some(change) => {
                    self.write_level = match change {
                        KeyChange::Handshake { .. } => Level::Handshake,
                        KeyChange::OneRtt { .. } => Level::OneRtt,
                    };
                    out(TlsOutput::Keys(Box::new(change)));
                }
                None => break,
            }
        }
    }

    /// Whether the handshake is still running.
    pub fn is_handshaking(&self) -> bool {
        match &self.session {
            Session::Active(conn) => conn.is_handshaking(),
            Session::Retired(_) => false,
        }
    }

    /// The peer's encoded transport parameters, once received (`None` once
    /// retired: they were decoded long before).
    pub fn transport_parameters(&self) -> Option<&[u8]> {
        match &self.session {
            Session::Active(conn) => conn.quic_transport_parameters(),
            Session::Retired(_) => None,
        }
    }

    /// The negotiated ALPN protocol.
    pub fn alpn(&self) -> Option<&[u8]> {
        match &self.session {
            Session::Active(conn) => conn.alpn_protocol(),
            Session::Retired(r) => r.alpn.as_deref(),
        }
    }

    /// The peer's certificate chain, end entity first.
    pub fn peer_certificates(&self) -> Option<&[rustls::pki_types::CertificateDer<'static>]> {
        match &self.session {
            Session::Active(conn) => conn.peer_certificates(),
            Session::Retired(r) => r.peer_certificates.as_deref(),
        }
    }

    /// The negotiated cipher suite.
    pub fn cipher_suite(&self) -> Option<rustls::SupportedCipherSuite> {
        match &self.session {
            Session::Active(conn) => conn.negotiated_cipher_suite(),
            Session::Retired(r) => r.cipher_suite,
        }
    }

    /// The SNI the client sent (server side).
    pub fn server_name(&self) -> Option<&str> {
        match &self.session {
            Session::Active(conn) => match &**conn {
                quic::Connection::Server(s) => s.server_name(),
                quic::Connection::Client(_) => None,
            },
            Session::Retired(r) => r.server_name.as_deref(),
        }
    }
}

/// A TLS session could not start.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum TlsStartError {
    /// The server name is not a valid DNS name or IP address.
    InvalidServerName,
    /// rustls does not speak this QUIC version.
    UnsupportedVersion,
    /// rustls refused the configuration (for example: no TLS 1.3).
    Tls(rustls::Error),
}

impl core::fmt::Display for TlsStartError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::InvalidServerName => f.write_str("invalid server name"),
            Self::UnsupportedVersion => f.write_str("QUIC version not supported by TLS"),
            Self::Tls(e) => write!(f, "TLS configuration refused: {e}"),
        }
    }
}

impl std::error::Error for TlsStartError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn server() -> Tls {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".into()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.der().clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
            )
            .unwrap();
        config.alpn_protocols = vec![b"test".to_vec()];
        Tls::server(Arc::new(config), Version::V1, Vec::new()).unwrap()
    }

    /// A handshake message longer than rustls accepts fails before rustls
    /// records an alert; it is still the peer's fault: decode_error, not
    /// INTERNAL_ERROR. Found by the `connection` fuzz target
    /// (fuzz/corpus/connection/regress-oversized-tls-message).
    #[test]
    fn oversized_handshake_message_is_a_decode_error() {
        let mut tls = server();
        // A ClientHello announcing 2^24 - 1 bytes.
        let e = tls.read(&[0x01, 0xff, 0xff, 0xff]).unwrap_err();
        assert_eq!(e.code, TransportErrorCode::crypto(50), "{e:?}");
    }

    /// A malformed message rustls parses gets the alert rustls chose.
    #[test]
    fn malformed_client_hello_is_a_decode_error() {
        let mut tls = server();
        let e = tls.read(&[0x01, 0x00, 0x00, 0x01, 0x00]).unwrap_err();
        assert_eq!(e.code, TransportErrorCode::crypto(50), "{e:?}");
    }
}
