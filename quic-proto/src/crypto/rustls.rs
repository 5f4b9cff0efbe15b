//! The keys rustls hands us, behind our traits; Initial keys (RFC 9001 §5.2);
//! key updates (RFC 9001 §6).

use core::fmt;

use ::rustls::quic as rq;

use super::ring_keys::{self, Labels, RingPacketKey, Secret, Suite};
use super::{
    CryptoError, DirectionalKeys, HeaderKey, KeyPair, Keys, PacketKey, UnsupportedVersion,
};
use crate::{Side, Version};

/// A `rustls::quic::PacketKey` as our [`PacketKey`].
///
/// Works in place: the tag rustls returns is copied into the last
/// `tag_len` bytes of the payload, so nothing is allocated per packet.
pub struct RustlsPacketKey(Box<dyn rq::PacketKey>);

impl RustlsPacketKey {
    /// Wraps a rustls packet key.
    pub fn new(key: Box<dyn rq::PacketKey>) -> Self {
        Self(key)
    }
}

impl PacketKey for RustlsPacketKey {
    fn encrypt_in_place(
        &self,
        pn: u64,
        header: &[u8],
        payload: &mut [u8],
    ) -> Result<(), CryptoError> {
        let tag_len = self.0.tag_len();
        let body_len = payload.len().checked_sub(tag_len).ok_or(CryptoError)?;
        let (body, tag_out) = payload.split_at_mut(body_len);
        let tag = self
            .0
            .encrypt_in_place(pn, header, body)
            .map_err(|_| CryptoError)?;
        // rustls' tags are 16 bytes for every suite, as `tag_len` says; a
        // mismatch would be a rustls bug, refused rather than half-written.
        if tag.as_ref().len() != tag_out.len() {
            return Err(CryptoError);
        }
        tag_out.copy_from_slice(tag.as_ref());
        Ok(())
    }

    fn decrypt_in_place(
        &self,
        pn: u64,
        header: &[u8],
        payload: &mut [u8],
    ) -> Result<usize, CryptoError> {
        self.0
            .decrypt_in_place(pn, header, payload)
            .map(<[u8]>::len)
            .map_err(|_| CryptoError)
    }

    fn tag_len(&self) -> usize {
        self.0.tag_len()
    }

    fn confidentiality_limit(&self) -> u64 {
        self.0.confidentiality_limit()
    }

    fn integrity_limit(&self) -> u64 {
        self.0.integrity_limit()
    }
}

/// A `rustls::quic::HeaderProtectionKey` as our [`HeaderKey`].
pub struct RustlsHeaderKey(Box<dyn rq::HeaderProtectionKey>);

impl RustlsHeaderKey {
    /// Wraps a rustls header protection key.
    pub fn new(key: Box<dyn rq::HeaderProtectionKey>) -> Self {
        Self(key)
    }
}

impl HeaderKey for RustlsHeaderKey {
    fn encrypt_in_place(
        &self,
        sample: &[u8],
        first: &mut u8,
        pn: &mut [u8],
    ) -> Result<(), CryptoError> {
        self.0
            .encrypt_in_place(sample, first, pn)
            .map_err(|_| CryptoError)
    }

    fn decrypt_in_place(
        &self,
        sample: &[u8],
        first: &mut u8,
        pn: &mut [u8],
    ) -> Result<(), CryptoError> {
        self.0
            .decrypt_in_place(sample, first, pn)
            .map_err(|_| CryptoError)
    }

    fn sample_len(&self) -> usize {
        self.0.sample_len()
    }
}

impl From<rq::DirectionalKeys> for DirectionalKeys {
    fn from(keys: rq::DirectionalKeys) -> Self {
        Self {
            packet: Box::new(RustlsPacketKey(keys.packet)),
            header: Box::new(RustlsHeaderKey(keys.header)),
        }
    }
}

impl From<rq::Keys> for Keys {
    fn from(keys: rq::Keys) -> Self {
        Self::new(keys.local.into(), keys.remote.into())
    }
}

impl From<rq::PacketKeySet> for KeyPair<Box<dyn PacketKey>> {
    fn from(keys: rq::PacketKeySet) -> Self {
        Self {
            local: Box::new(RustlsPacketKey(keys.local)),
            remote: Box::new(RustlsPacketKey(keys.remote)),
        }
    }
}

/// The rustls name of a QUIC version, for building a rustls QUIC connection.
pub fn rustls_version(version: Version) -> Result<rq::Version, UnsupportedVersion> {
    match version {
        Version::V1 => Ok(rq::Version::V1),
        Version::V2 => Ok(rq::Version::V2),
        other => Err(UnsupportedVersion(other)),
    }
}

fn rustls_side(side: Side) -> ::rustls::Side {
    match side {
        Side::Client => ::rustls::Side::Client,
        Side::Server => ::rustls::Side::Server,
    }
}

/// The Initial keys for a connection whose client chose `client_dcid` as the
/// first Destination Connection ID (RFC 9001 §5.2; RFC 9369 §3.3.1 for the
/// v2 salt), derived by `rustls::quic::Keys::initial`.
pub fn initial_keys(
    version: Version,
    client_dcid: &[u8],
    side: Side,
) -> Result<Keys, UnsupportedVersion> {
    let rustls_version = rustls_version(version)?;
    // RFC 9001 §5.2: Initial packets use AEAD_AES_128_GCM and SHA-256.
    let suite = Suite::Aes128GcmSha256
        .rustls()
        .tls13()
        .and_then(|suite| suite.quic_suite());
    let Some(suite) = suite else {
        // Unreachable: the ring provider's TLS 1.3 suites all carry a QUIC
        // algorithm (rustls `crypto::ring::tls13`).
        unreachable!("rustls' ring TLS13_AES_128_GCM_SHA256 supports QUIC");
    };
    let keys = rq::Keys::initial(
        rustls_version,
        suite.suite,
        suite.quic,
        client_dcid,
        rustls_side(side),
    );
    Ok(keys.into())
}

/// The source of successive 1-RTT packet key generations (RFC 9001 §6).
///
/// Each call to [`KeyUpdate::next_packet_keys`] yields the packet keys of the
/// next generation and advances. Header protection keys never change with a
/// key update (RFC 9001 §6), so only packet keys are produced.
pub struct KeyUpdate(Generations);

enum Generations {
    /// The product path: the secrets rustls returned with the 1-RTT keys.
    Rustls(rq::Secrets),
    /// Secrets we hold ourselves, derived with ring.
    Ring {
        suite: Suite,
        labels: &'static Labels,
        side: Side,
        client: Secret,
        server: Secret,
    },
    /// The null suite: every generation is null (fuzzing only).
    #[cfg(any(test, feature = "fuzzing"))]
    Null,
}

impl KeyUpdate {
    /// Wraps the `next` secrets of `rustls::quic::KeyChange::OneRtt`. The
    /// first call to [`KeyUpdate::next_packet_keys`] yields generation 1 (the
    /// keys that came with the `KeyChange` are generation 0).
    pub fn new(next: rq::Secrets) -> Self {
        Self(Generations::Rustls(next))
    }

    /// Key updates that follow the generation protected by these traffic
    /// secrets: the first call to [`KeyUpdate::next_packet_keys`] yields the
    /// generation after them, as [`KeyUpdate::new`] does for rustls' secrets.
    pub fn after(
        suite: Suite,
        version: Version,
        side: Side,
        client_secret: &[u8],
        server_secret: &[u8],
    ) -> Result<Self, UnsupportedVersion> {
        let labels = ring_keys::labels(version)?;
        Ok(Self(Generations::Ring {
            suite,
            labels,
            side,
            client: Secret::next(suite, labels, client_secret),
            server: Secret::next(suite, labels, server_secret),
        }))
    }

    /// Key updates of the null suite, which yield null keys forever.
    ///
    /// **Fuzzing only**; see [`super::null`].
    #[cfg(any(test, feature = "fuzzing"))]
    pub fn null() -> Self {
        Self(Generations::Null)
    }

    /// The receive key of the next generation, without advancing: what an
    /// endpoint keeps ready so that a peer's key update costs no derivation
    /// while its packet is processed (RFC 9001 §6.3, §9.5). The matching
    /// send key is derived only when the update happens, by
    /// [`KeyUpdate::next_packet_keys`].
    pub fn next_remote_key(&self) -> Box<dyn PacketKey> {
        match &self.0 {
            // rustls derives both directions of a generation at once, from
            // secrets it does not expose; the send half is dropped here.
            Generations::Rustls(secrets) => Box::new(RustlsPacketKey::new(
                secrets.clone().next_packet_keys().remote,
            )),
            Generations::Ring {
                suite,
                labels,
                side,
                client,
                server,
            } => {
                let (_, remote) = local_remote(*side, client, server);
                Box::new(RingPacketKey::derive(*suite, labels, remote.as_bytes()))
            }
            #[cfg(any(test, feature = "fuzzing"))]
            Generations::Null => super::null::null_packet_keys().remote,
        }
    }

    /// The packet keys of the next generation; advances to the one after.
    pub fn next_packet_keys(&mut self) -> KeyPair<Box<dyn PacketKey>> {
        match &mut self.0 {
            Generations::Rustls(secrets) => secrets.next_packet_keys().into(),
            Generations::Ring {
                suite,
                labels,
                side,
                client,
                server,
            } => {
                let (suite, labels) = (*suite, *labels);
                let (local, remote) = local_remote(*side, client, server);
                let keys = KeyPair {
                    local: Box::new(RingPacketKey::derive(suite, labels, local.as_bytes()))
                        as Box<dyn PacketKey>,
                    remote: Box::new(RingPacketKey::derive(suite, labels, remote.as_bytes())),
                };
                // RFC 9001 §6.1: both directions advance together.
                *client = Secret::next(suite, labels, client.as_bytes());
                *server = Secret::next(suite, labels, server.as_bytes());
                keys
            }
            #[cfg(any(test, feature = "fuzzing"))]
            Generations::Null => super::null::null_packet_keys(),
        }
    }
}

/// Our secret and the peer's, for `side`.
fn local_remote<'a>(
    side: Side,
    client: &'a Secret,
    server: &'a Secret,
) -> (&'a Secret, &'a Secret) {
    match side {
        Side::Client => (client, server),
        Side::Server => (server, client),
    }
}

impl From<rq::Secrets> for KeyUpdate {
    fn from(next: rq::Secrets) -> Self {
        Self::new(next)
    }
}

impl fmt::Debug for KeyUpdate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let source = match self.0 {
            Generations::Rustls(_) => "rustls",
            Generations::Ring { .. } => "ring",
            #[cfg(any(test, feature = "fuzzing"))]
            Generations::Null => "null",
        };
        f.debug_tuple("KeyUpdate").field(&source).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::directional_keys;
    use crate::crypto::test_tls::handshake;

    const VERSIONS: [Version; 2] = [Version::V1, Version::V2];
    const HEADER: &[u8] = b"\x40short header";

    /// Seals "hello" with `sealer` as packet `pn`.
    fn seal(sealer: &dyn PacketKey, pn: u64) -> Vec<u8> {
        let mut buf = b"hello".to_vec();
        buf.resize(5 + sealer.tag_len(), 0);
        sealer.encrypt_in_place(pn, HEADER, &mut buf).unwrap();
        buf
    }

    fn opens(opener: &dyn PacketKey, pn: u64, sealed: &[u8]) -> bool {
        let mut buf = sealed.to_vec();
        match opener.decrypt_in_place(pn, HEADER, &mut buf) {
            Ok(len) => {
                assert_eq!(&buf[..len], b"hello");
                true
            }
            Err(CryptoError) => false,
        }
    }

    /// `a` and `b` are one direction's sealing and opening keys: what `a`
    /// seals `b` opens, and a packet number is part of the nonce.
    fn assert_pair(a: &dyn PacketKey, b: &dyn PacketKey) {
        let sealed = seal(a, 42);
        assert!(opens(b, 42, &sealed));
        assert!(!opens(b, 43, &sealed));
    }

    fn generations(update: &mut KeyUpdate, n: usize) -> Vec<KeyPair<Box<dyn PacketKey>>> {
        (0..n).map(|_| update.next_packet_keys()).collect()
    }

    #[test]
    fn key_update_generations_match_between_peers() {
        for suite in Suite::ALL {
            for version in VERSIONS {
                let hs = handshake(suite, rustls_version(version).unwrap());
                assert_eq!(hs.negotiated, Some(suite));
                let client_keys = Keys::from(hs.client.one_rtt.unwrap());
                let server_keys = Keys::from(hs.server.one_rtt.unwrap());
                let mut client = KeyUpdate::from(hs.client.next.unwrap());
                let mut server = KeyUpdate::from(hs.server.next.unwrap());
                // Generation 0 came with the KeyChange; 1, 2, 3 from updates.
                let mut c = vec![client_keys.packet];
                let mut s = vec![server_keys.packet];
                c.extend(generations(&mut client, 3));
                s.extend(generations(&mut server, 3));
                for n in 0..c.len() {
                    assert_pair(&*c[n].local, &*s[n].remote);
                    assert_pair(&*s[n].local, &*c[n].remote);
                    if let Some(later) = s.get(n + 1) {
                        assert!(!opens(&*later.remote, 42, &seal(&*c[n].local, 42)));
                        assert!(!opens(&*c[n + 1].remote, 42, &seal(&*s[n].local, 42)));
                    }
                    // Each direction has its own key.
                    assert!(!opens(&*c[n].remote, 42, &seal(&*c[n].local, 42)));
                }
            }
        }
    }

    /// The ring path (keys and key updates from the secrets rustls logs)
    /// interoperates with the rustls path, generation by generation.
    #[test]
    fn ring_keys_from_logged_secrets_match_rustls() {
        for suite in Suite::ALL {
            for version in VERSIONS {
                let hs = handshake(suite, rustls_version(version).unwrap());
                let (cs, ss) = (&hs.client_secret, &hs.server_secret);
                let server = Keys::from(hs.server.one_rtt.unwrap());

                let ring_client = directional_keys(suite, cs, version).unwrap();
                assert_pair(&*ring_client.packet, &*server.packet.remote);
                let ring_server = directional_keys(suite, ss, version).unwrap();
                assert_pair(&*server.packet.local, &*ring_server.packet);
                assert_header_keys_agree(&*ring_client.header, &*server.header.remote);
                assert_header_keys_agree(&*ring_server.header, &*server.header.local);

                let mut ring = KeyUpdate::after(suite, version, Side::Client, cs, ss).unwrap();
                let mut rustls = KeyUpdate::from(hs.server.next.unwrap());
                for (r, s) in generations(&mut ring, 3)
                    .iter()
                    .zip(generations(&mut rustls, 3))
                {
                    assert_pair(&*r.local, &*s.remote);
                    assert_pair(&*s.local, &*r.remote);
                }
            }
        }
    }

    /// Two header keys of the same direction mask identically and each
    /// removes the other's mask.
    fn assert_header_keys_agree(a: &dyn HeaderKey, b: &dyn HeaderKey) {
        let sample = [7u8; 16];
        for plain_first in [0x40u8, 0x43, 0xc1, 0xc3] {
            let plain_pn = [1, 2, 3, 4];
            let (mut fa, mut pa) = (plain_first, plain_pn);
            let (mut fb, mut pb) = (plain_first, plain_pn);
            let pn_len = usize::from(plain_first & 3) + 1;
            a.encrypt_in_place(&sample, &mut fa, &mut pa[..pn_len])
                .unwrap();
            b.encrypt_in_place(&sample, &mut fb, &mut pb[..pn_len])
                .unwrap();
            assert_eq!((fa, pa), (fb, pb));
            assert_eq!(
                fa & 0x80,
                plain_first & 0x80,
                "the form bit is never masked"
            );
            b.decrypt_in_place(&sample, &mut fa, &mut pa).unwrap();
            assert_eq!((fa, pa), (plain_first, plain_pn));
        }
    }

    /// RFC 9001 §6.6, as both implementations report it.
    #[test]
    fn aead_limits_follow_rfc9001() {
        for suite in Suite::ALL {
            let rustls_suite = suite.rustls().tls13().unwrap().quic_suite().unwrap();
            let rq_keys = rustls_suite.keys(b"cid", ::rustls::Side::Client, rq::Version::V1);
            let rustls_key = RustlsPacketKey::new(rq_keys.local.packet);
            let ring_key = directional_keys(suite, &[1; 32], Version::V1)
                .unwrap()
                .packet;
            let (confidentiality, integrity) = match suite {
                Suite::Chacha20Poly1305Sha256 => (u64::MAX, 1 << 36),
                _ => (1 << 23, 1 << 52),
            };
            for key in [&rustls_key as &dyn PacketKey, &*ring_key] {
                assert_eq!(key.confidentiality_limit(), confidentiality, "{suite:?}");
                assert_eq!(key.integrity_limit(), integrity, "{suite:?}");
                assert_eq!(key.tag_len(), 16);
            }
        }
    }

    #[test]
    fn suites_round_trip_through_rustls() {
        for suite in Suite::ALL {
            assert_eq!(Suite::from_rustls(suite.rustls()), Some(suite));
        }
    }

    #[test]
    fn packet_keys_refuse_payloads_shorter_than_the_tag() {
        let keys = initial_keys(Version::V1, b"cid", Side::Client).unwrap();
        let ring = directional_keys(Suite::Aes128GcmSha256, &[0; 32], Version::V1).unwrap();
        for key in [&*keys.packet.local, &*ring.packet] {
            assert_eq!(key.encrypt_in_place(0, &[], &mut [0; 15]), Err(CryptoError));
            assert_eq!(key.decrypt_in_place(0, &[], &mut [0; 15]), Err(CryptoError));
            assert_eq!(key.decrypt_in_place(0, &[], &mut [0; 40]), Err(CryptoError));
            let mut empty = [0; 16];
            key.encrypt_in_place(0, &[], &mut empty).unwrap();
            assert_eq!(key.decrypt_in_place(0, &[], &mut empty), Ok(0));
        }
    }

    #[test]
    fn header_keys_refuse_bad_samples_and_long_packet_numbers() {
        let keys = initial_keys(Version::V1, b"cid", Side::Client).unwrap();
        let ring = directional_keys(Suite::Aes128GcmSha256, &[0; 32], Version::V1).unwrap();
        for key in [&*keys.header.local, &*ring.header] {
            let (mut first, mut pn) = (0xc3, [0u8; 5]);
            assert!(key
                .encrypt_in_place(&[0; 15], &mut first, &mut pn[..4])
                .is_err());
            assert!(key.encrypt_in_place(&[0; 16], &mut first, &mut pn).is_err());
            assert_eq!((first, pn), (0xc3, [0; 5]), "untouched on error");
        }
    }

    /// `next_remote_key` is the next generation's receive key and does not
    /// advance: the following `next_packet_keys` yields that generation.
    #[test]
    fn next_remote_key_is_the_next_generations_receive_key() {
        for suite in Suite::ALL {
            let version = Version::V1;
            let hs = handshake(suite, rustls_version(version).unwrap());
            let (cs, ss) = (&hs.client_secret, &hs.server_secret);
            let mut client = KeyUpdate::from(hs.client.next.unwrap());
            let mut server = KeyUpdate::after(suite, version, Side::Server, cs, ss).unwrap();
            for _ in 0..3 {
                let (client_next, server_next) =
                    (client.next_remote_key(), server.next_remote_key());
                let c = client.next_packet_keys();
                let s = server.next_packet_keys();
                assert_pair(&*s.local, &*client_next);
                assert_pair(&*c.local, &*server_next);
                assert_pair(&*c.local, &*s.remote);
            }
        }
    }

    #[test]
    fn null_key_update_yields_null_keys() {
        let mut update = KeyUpdate::null();
        let keys = update.next_packet_keys();
        let sealed = seal(&*keys.local, 1);
        assert_eq!(&sealed[..5], b"hello");
        assert!(opens(&*keys.remote, 1, &sealed));
    }
}
