//! An in-memory pair of endpoints on a virtual clock: the protocol-test
//! harness. Everything goes through the public driver API, as a socket loop
//! would: `incoming_packet`, `prepare_next_packet`, `next_wake_time`,
//! `poll_event`.

#![allow(dead_code, reason = "each test binary uses part of the harness")]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use quic_proto::config::{ClientConfig, EndpointConfig, ServerConfig, TransportConfig};
use quic_proto::connection::{Connection, Event};
use quic_proto::endpoint::{ConnectionHandle, Endpoint};

pub const ALPN: &[u8] = b"test";

/// Which endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Who {
    Client,
    Server,
}

/// A certificate made on the fly and configurations that trust it.
pub struct Certs {
    pub server: Arc<rustls::ServerConfig>,
    pub client: Arc<rustls::ClientConfig>,
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

impl Certs {
    /// A self-signed certificate for "localhost", optionally with a chain
    /// of `extra_chain` further certificates to make the flight large.
    pub fn new(extra_chain: usize) -> Self {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let params = rcgen::CertificateParams::new(vec!["localhost".into()]).unwrap();
        let cert = params.self_signed(&key).unwrap();
        let mut chain = vec![cert.der().clone()];
        for i in 0..extra_chain {
            let k = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
            let p = rcgen::CertificateParams::new(vec![format!("padding{i}.invalid")]).unwrap();
            chain.push(p.self_signed(&k).unwrap().der().clone());
        }
        let key_der = rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into());
        let mut server = rustls::ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, key_der)
            .unwrap();
        server.alpn_protocols = vec![ALPN.to_vec()];
        server.max_early_data_size = 0;
        let mut roots = rustls::RootCertStore::empty();
        roots.add(cert.der().clone()).unwrap();
        let mut client = rustls::ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        client.alpn_protocols = vec![ALPN.to_vec()];
        Self {
            server: Arc::new(server),
            client: Arc::new(client),
        }
    }
}

type DropHook = Box<dyn FnMut(Who, usize, &mut Vec<u8>) -> bool>;

/// Two endpoints joined by an in-memory link with a one-way delay.
pub struct Pair {
    pub client: Endpoint,
    pub server: Endpoint,
    pub client_addr: SocketAddr,
    pub server_addr: SocketAddr,
    pub client_config: ClientConfig,
    pub now: Instant,
    pub delay: Duration,
    /// Datagrams on the wire: (arrival, receiver, sender address, bytes).
    wire: VecDeque<(Instant, Who, SocketAddr, Vec<u8>)>,
    /// Returns true to drop the `n`th datagram sent by `who`; may also
    /// change its bytes.
    pub drop_hook: Option<DropHook>,
    sent: [usize; 2],
    pub client_events: Vec<(ConnectionHandle, Event)>,
    pub server_events: Vec<(ConnectionHandle, Event)>,
    pub server_handle: Option<ConnectionHandle>,
    /// The most datagrams seen in one `prepare_next_packet` (GSO batch).
    pub max_batch: usize,
}

impl Pair {
    pub fn new(transport: TransportConfig) -> Self {
        Self::with_certs(Certs::new(0), transport, |_| {})
    }

    pub fn with_certs(
        certs: Certs,
        transport: TransportConfig,
        tweak: impl FnOnce(&mut ServerConfig),
    ) -> Self {
        let transport = Arc::new(transport);
        let mut server_config = ServerConfig::new(certs.server).unwrap();
        server_config.transport = transport.clone();
        tweak(&mut server_config);
        let mut client_config = ClientConfig::new(certs.client).unwrap();
        client_config.transport = transport;
        #[allow(
            clippy::disallowed_methods,
            reason = "a base instant; only differences matter"
        )]
        let now = Instant::now();
        Self {
            client: Endpoint::new(EndpointConfig::new(1), None),
            server: Endpoint::new(EndpointConfig::new(2), Some(server_config)),
            client_addr: "[::1]:50000".parse().unwrap(),
            server_addr: "[::1]:4433".parse().unwrap(),
            client_config,
            now,
            delay: Duration::from_millis(10),
            wire: VecDeque::new(),
            drop_hook: None,
            sent: [0; 2],
            client_events: Vec::new(),
            server_events: Vec::new(),
            server_handle: None,
            max_batch: 0,
        }
    }

    /// Rebuilds the client endpoint with GSO batches of up to `n` datagrams.
    pub fn gso_segments(&mut self, n: usize) {
        let mut config = EndpointConfig::new(1);
        config.max_gso_segments = n;
        self.client = Endpoint::new(config, None);
    }

    pub fn connect(&mut self) -> ConnectionHandle {
        self.client
            .connect(self.now, &self.client_config, self.server_addr, "localhost")
            .unwrap()
    }

    pub fn client_conn(&mut self, h: ConnectionHandle) -> &mut Connection {
        self.client.connection(h).expect("client connection")
    }

    pub fn server_conn(&mut self) -> &mut Connection {
        let h = self.server_handle.expect("server connection accepted");
        self.server.connection(h).expect("server connection")
    }

    /// Sends everything both endpoints want to send now.
    fn flush(&mut self) -> bool {
        let mut any = false;
        let mut buf = vec![0u8; 65536];
        for who in [Who::Client, Who::Server] {
            for burst in 0.. {
                assert!(
                    burst < 10_000,
                    "{who:?} sends without end at {:?}",
                    self.now
                );
                let (ep, from) = match who {
                    Who::Client => (&mut self.client, self.client_addr),
                    Who::Server => (&mut self.server, self.server_addr),
                };
                let Some((tx, _)) = ep.prepare_next_packet(self.now, &mut buf) else {
                    break;
                };
                any = true;
                let n = self.sent[who as usize];
                self.sent[who as usize] += 1;
                // Split a GSO batch into its datagrams, as the kernel would.
                let segment = tx.segment_size.unwrap_or(tx.size);
                if who == Who::Client {
                    self.max_batch = self.max_batch.max(tx.size.div_ceil(segment));
                }
                for chunk in buf[..tx.size].chunks(segment) {
                    let mut bytes = chunk.to_vec();
                    if let Some(hook) = self.drop_hook.as_mut() {
                        if hook(who, n, &mut bytes) {
                            continue;
                        }
                    }
                    let to = match who {
                        Who::Client => Who::Server,
                        Who::Server => Who::Client,
                    };
                    self.wire
                        .push_back((self.now + self.delay, to, from, bytes));
                }
            }
        }
        any
    }

    fn deliver(&mut self) -> bool {
        let mut any = false;
        while let Some(pos) = self.wire.iter().position(|(at, ..)| *at <= self.now) {
            let (_, to, from, mut bytes) = self.wire.remove(pos).unwrap();
            let ep = match to {
                Who::Client => &mut self.client,
                Who::Server => &mut self.server,
            };
            ep.incoming_packet(self.now, from, &mut bytes);
            any = true;
        }
        any
    }

    fn collect_events(&mut self) {
        while let Some(e) = self.client.poll_event() {
            self.client_events.push(e);
        }
        while let Some(e) = self.server.poll_event() {
            if self.server_handle.is_none() {
                self.server_handle = Some(e.0);
            }
            self.server_events.push(e);
        }
    }

    /// One step: deliver what is due, send what is ready, collect events;
    /// if nothing happened, advance the clock to the next arrival or timer.
    /// Returns false when nothing is scheduled at all.
    pub fn step(&mut self) -> bool {
        let delivered = self.deliver();
        self.collect_events();
        let sent = self.flush();
        self.collect_events();
        if delivered || sent {
            return true;
        }
        let next = [
            self.wire.iter().map(|(at, ..)| *at).min(),
            self.client.next_wake_time(),
            self.server.next_wake_time(),
        ]
        .into_iter()
        .flatten()
        .min();
        match next {
            Some(t) => {
                self.now = self.now.max(t);
                self.client.handle_timeout(self.now);
                self.server.handle_timeout(self.now);
                true
            }
            None => false,
        }
    }

    /// Steps until `done` holds, for at most `limit` of virtual time.
    pub fn drive_until(
        &mut self,
        limit: Duration,
        mut done: impl FnMut(&mut Self) -> bool,
    ) -> bool {
        let end = self.now + limit;
        let mut steps = 0u64;
        while self.now < end {
            steps += 1;
            assert!(
                steps < 1_000_000,
                "no progress: the pair is spinning at {:?}",
                self.now
            );
            if done(self) {
                return true;
            }
            if !self.step() {
                return done(self);
            }
        }
        done(self)
    }

    pub fn client_saw(&self, pred: impl Fn(&Event) -> bool) -> bool {
        self.client_events.iter().any(|(_, e)| pred(e))
    }

    pub fn server_saw(&self, pred: impl Fn(&Event) -> bool) -> bool {
        self.server_events.iter().any(|(_, e)| pred(e))
    }
}

/// Deterministic content for stream `i`: the receiver can check every byte.
pub fn pattern(stream: usize, len: usize) -> Vec<u8> {
    (0..len)
        .map(|j| (j.wrapping_mul(31) ^ stream.wrapping_mul(131) ^ (j >> 8)) as u8)
        .collect()
}

/// A one-way bulk transfer on several client-opened streams.
pub struct Transfer {
    pub handle: ConnectionHandle,
    /// (stream, data, bytes written so far, finished).
    sending: Vec<(quic_proto::StreamId, Vec<u8>, usize, bool)>,
    /// Bytes received per stream, and whether FIN arrived.
    pub received: std::collections::HashMap<quic_proto::StreamId, (Vec<u8>, bool)>,
    pub expected: Vec<Vec<u8>>,
}

impl Transfer {
    /// Opens one client stream per size once the connection is up.
    pub fn start(
        pair: &mut Pair,
        handle: ConnectionHandle,
        sizes: &[usize],
        dir: quic_proto::Dir,
    ) -> Self {
        let mut sending = Vec::new();
        let mut expected = Vec::new();
        for (i, &len) in sizes.iter().enumerate() {
            let id = pair
                .client_conn(handle)
                .open_stream(dir)
                .expect("stream limit");
            let data = pattern(i, len);
            expected.push(data.clone());
            sending.push((id, data, 0, false));
        }
        Self {
            handle,
            sending,
            received: Default::default(),
            expected,
        }
    }

    /// Writes what flow control allows and reads what arrived.
    pub fn pump(&mut self, pair: &mut Pair) {
        let Some(conn) = pair.client.connection(self.handle) else {
            return;
        };
        for (id, data, written, finished) in &mut self.sending {
            while *written < data.len() {
                match conn.write(*id, &data[*written..]) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => *written += n,
                }
            }
            if *written == data.len() && !*finished {
                conn.finish(*id).unwrap();
                *finished = true;
            }
        }
        let Some(h) = pair.server_handle else { return };
        let Some(conn) = pair.server.connection(h) else {
            return;
        };
        for dir in [quic_proto::Dir::Bi, quic_proto::Dir::Uni] {
            while let Some(id) = conn.accept_stream(dir) {
                self.received.entry(id).or_default();
            }
        }
        let mut buf = vec![0u8; 65536];
        for (id, (data, fin)) in self.received.iter_mut() {
            while !*fin {
                match conn.read(*id, &mut buf) {
                    Ok(Some((n, f))) => {
                        data.extend_from_slice(&buf[..n]);
                        *fin = f;
                        if n == 0 && !f {
                            break;
                        }
                    }
                    _ => break,
                }
            }
        }
    }

    /// Whether every stream arrived complete.
    pub fn done(&self) -> bool {
        self.received.len() == self.expected.len() && self.received.values().all(|(_, fin)| *fin)
    }

    /// Checks every byte of every stream.
    pub fn verify(&self) {
        let mut got: Vec<_> = self.received.iter().collect();
        got.sort_by_key(|(id, _)| id.into_inner());
        assert_eq!(got.len(), self.expected.len());
        for ((_, (data, fin)), want) in got.iter().zip(&self.expected) {
            assert!(*fin);
            assert_eq!(data.len(), want.len());
            assert!(*data == *want, "stream content differs");
        }
    }
}
