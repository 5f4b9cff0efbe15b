//! The body of the `connection` fuzz target: hostile packets that get past
//! packet protection and reach a connection's frame processing.
//!
//! Random datagrams almost never decrypt, so this harness holds real keys
//! and seals the fuzzer's frames with them, through the product's own
//! packet encoder and AEAD (no mock crypto, no fuzzing hooks in
//! `quic-proto`). The first input byte picks one of two modes:
//!
//! - **Initial space** ([`Mode::InitialSpace`]): a server endpoint alone.
//!   The harness plays a client: it derives the Initial keys from a client
//!   Destination Connection ID the input chooses (RFC 9001 §5.2, through
//!   `quic_proto::crypto::initial_keys`) and sends Initial packets whose
//!   payload is the fuzzer's frames. A real ClientHello, captured once from
//!   our own client, is one of the frame kinds, so the input can take the
//!   server's TLS past the first flight.
//! - **Established** ([`Mode::Established`]): a real client and a real
//!   server endpoint, joined by a network the input drives (deliver, drop,
//!   replay, advance time) and able to run a complete handshake. The
//!   client's rustls configuration carries a key log, which hands the
//!   harness the Handshake and 1-RTT traffic secrets; the packet keys
//!   derive from them with `quic_proto::crypto::directional_keys` and
//!   `KeyUpdate::after` (RFC 9001 §5.1, §6). The harness can then inject
//!   Initial, Handshake or 1-RTT packets, with any key phase, at either
//!   endpoint as if the other had sent them.
//!
//! The checks: no panic; every connection that closes itself with a
//! transport error uses a code RFC 9000 defines, and INTERNAL_ERROR only for
//! a limit the stack imposes on purpose; endpoints hold a bounded number of
//! connections and never emit an unbounded burst; and once the input is
//! spent, with time running, every connection ends (idle timeout, close,
//! drain) and no timer stays due forever.
//!
//! The input is a little program: a configuration byte, then operations
//! until the bytes run out. [`Script`] writes such programs, for the seed
//! corpus; `docs/fuzzing.md` describes the format.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use arbitrary::{Arbitrary, Unstructured};
use quic_proto::coding::Encode;
use quic_proto::config::{ClientConfig, EndpointConfig, ServerConfig};
use quic_proto::connection::{ConnectionError, Event};
use quic_proto::crypto::{
    directional_keys, initial_keys, DirectionalKeys, HeaderKey, KeyPair, KeyUpdate, Keys,
    PacketKey, Suite,
};
use quic_proto::endpoint::{ConnectionHandle, Endpoint};
use quic_proto::frame::{AckFrame, CryptoFrame, Frame, Frames, NewConnectionId, StreamFrame};
use quic_proto::packet::{seal, CoalescedPackets, Header, PacketNumber, PartialPacket};
use quic_proto::streams::StreamEvent;
use quic_proto::{
    ConnectionId, Dir, Level, Side, StatelessResetToken, StreamId, TransportErrorCode, VarInt,
    Version,
};

use crate::testkit::{provider_with, ring_provider, Certs};

/// The ALPN both ends offer.
const ALPN: &[u8] = b"fuzz";
/// At most this many operations run per input.
const MAX_OPS: usize = 128;
/// The largest frame payload the harness puts in one packet.
const MAX_PAYLOAD: usize = 1400;
/// One `prepare_next_packet` loop yielding more datagrams than this is a
/// runaway sender.
const MAX_BURST: usize = 10_000;
/// Datagrams each direction of the network holds before dropping the oldest.
const WIRE_CAPACITY: usize = 512;
/// How far virtual time may run once the input is spent: every connection
/// must be gone by then.
const SETTLE_LIMIT: Duration = Duration::from_secs(4 * 3600);
/// How long the network keeps delivering once the input is spent.
const NETWORK_AFTER_INPUT: Duration = Duration::from_secs(2);
/// How many exchanges the settling network may have without time moving.
const MAX_ROUNDS_AT_INSTANT: usize = 5000;
/// How many times in a row a wake time may be due without anything moving.
const MAX_STUCK: usize = 1000;
/// The only reasons a connection may close itself with INTERNAL_ERROR: limits
/// the stack imposes on purpose, not states it did not expect.
const ALLOWED_INTERNAL_ERRORS: &[&str] = &["stream data too fragmented"];

/// The two ways in; bit 0 of the first input byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// A lone server fed client Initial packets.
    InitialSpace,
    /// A real client and server; packets injected at any level.
    Established,
}

/// The first input byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// Which harness runs.
    pub mode: Mode,
    /// QUIC v2 instead of v1.
    pub v2: bool,
    /// The cipher suite the client offers (Established only): an index into
    /// [`Suite::ALL`], modulo its length.
    pub suite: u8,
    /// The server validates addresses with Retry first.
    pub retry: bool,
}

impl Config {
    /// The byte that encodes this configuration.
    pub fn to_byte(self) -> u8 {
        u8::from(self.mode == Mode::Established)
            | u8::from(self.v2) << 1
            | (self.suite & 3) << 2
            | u8::from(self.retry) << 4
    }

    fn from_byte(b: u8) -> Self {
        Self {
            mode: if b & 1 == 0 {
                Mode::InitialSpace
            } else {
                Mode::Established
            },
            v2: b & 2 != 0,
            suite: (b >> 2) & 3,
            retry: b & 16 != 0,
        }
    }

    fn version(self) -> Version {
        if self.v2 {
            Version::V2
        } else {
            Version::V1
        }
    }

    fn suite(self) -> Suite {
        Suite::ALL[usize::from(self.suite) % Suite::ALL.len()]
    }
}

/// Runs one input.
pub fn run(data: &[u8]) {
    run_with_report(data);
}

/// What one input did, for tests that check the harness reaches what it
/// aims at.
#[derive(Debug, Default)]
pub struct Report {
    /// Packets the harness sealed and delivered.
    pub injected: usize,
    /// The first [`MAX_REPORTED_EVENTS`] events, with the side that had
    /// them.
    pub events: Vec<(Side, Event)>,
}

/// How many events a [`Report`] keeps.
pub const MAX_REPORTED_EVENTS: usize = 1000;

/// Whether `QUIC_FUZZ_TRACE` is set: then the harness prints what it does
/// to stderr, to study a finding.
fn tracing() -> bool {
    static TRACE: OnceLock<bool> = OnceLock::new();
    *TRACE.get_or_init(|| std::env::var_os("QUIC_FUZZ_TRACE").is_some())
}

macro_rules! trace {
    ($($arg:tt)*) => {
        if tracing() {
            eprintln!($($arg)*);
        }
    };
}

impl Report {
    fn event(&mut self, side: Side, event: &Event) {
        trace!("  event {side:?}: {event:?}");
        check_event(side, event);
        if self.events.len() < MAX_REPORTED_EVENTS {
            self.events.push((side, event.clone()));
        }
    }
}

/// Runs one input and says what it did.
pub fn run_with_report(data: &[u8]) -> Report {
    let mut input = Input(data);
    let Some(config) = input.byte() else {
        return Report::default();
    };
    let config = Config::from_byte(config);
    match config.mode {
        Mode::InitialSpace => InitialSpace::new(config, &mut input).run(&mut input),
        Mode::Established => Established::new(config).run(&mut input),
    }
}

// ---- the input ---------------------------------------------------------------

/// The fuzzer's bytes, read from the front. Past the end, fields read as
/// zero, so a truncated operation still runs.
struct Input<'a>(&'a [u8]);

impl<'a> Input<'a> {
    fn byte(&mut self) -> Option<u8> {
        let (&first, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(first)
    }

    fn u8(&mut self) -> u8 {
        self.byte().unwrap_or(0)
    }

    fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.u8(), self.u8()])
    }

    fn bytes(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.0.split_at(n.min(self.0.len()));
        self.0 = rest;
        head
    }
}

/// Operation codes (the operation byte modulo [`Op::COUNT`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
enum Op {
    /// Seal and deliver one packet: two flag bytes ([`Inject`]), a payload.
    Inject = 0,
    /// Advance virtual time by a big-endian u16 of milliseconds and run
    /// the timers.
    Advance = 1,
    /// Established: deliver (or drop) queued datagrams; one flag byte.
    Deliver = 2,
    /// Established: run the network until the handshake is confirmed.
    Handshake = 3,
    /// Established: an application action; see [`App`].
    App = 4,
    /// Established: deliver the last datagram a side received again.
    /// Initial space: a datagram of raw input bytes (u16 length).
    Replay = 5,
}

impl Op {
    const COUNT: u8 = 6;

    fn from_byte(b: u8) -> Self {
        match b % Self::COUNT {
            0 => Self::Inject,
            1 => Self::Advance,
            2 => Self::Deliver,
            3 => Self::Handshake,
            4 => Self::App,
            _ => Self::Replay,
        }
    }
}

/// The two flag bytes of an injected packet ([`Script::inject`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Inject {
    /// Established: inject at the client (as the server) instead of at the
    /// server (as the client).
    pub to_client: bool,
    /// Established: 0 Initial, 1 Handshake, 2 and 3 1-RTT.
    pub level: u8,
    /// Established, 1-RTT: move to the next key generation first (a key
    /// update, RFC 9001 §6).
    pub key_update: bool,
    /// Established: a Destination Connection ID nobody issued. Initial
    /// space: the server's chosen connection ID instead of the original.
    pub other_dcid: bool,
    /// Do not pad a client Initial to 1200 bytes.
    pub no_pad: bool,
    /// 0 or 1: the next packet number; 2: skip up to 255 (one more byte);
    /// 3: repeat the last one.
    pub pn_mode: u8,
    /// Send from another client address (a rebinding or migration).
    pub rebind: bool,
    /// The packet number's length: 0 the sender's choice, else 1, 2 or 4.
    pub pn_len: u8,
    /// Append raw bytes (a length byte, then the bytes) to the datagram.
    pub trailing: bool,
    /// Initial space: use the Retry's token and keys, if a Retry came.
    pub after_retry: bool,
}

impl Inject {
    fn read(input: &mut Input<'_>) -> Self {
        let (a, b) = (input.u8(), input.u8());
        Self {
            to_client: a & 1 != 0,
            level: (a >> 1) & 3,
            key_update: a & 8 != 0,
            other_dcid: a & 16 != 0,
            no_pad: a & 32 != 0,
            pn_mode: a >> 6,
            rebind: b & 1 != 0,
            pn_len: (b >> 1) & 3,
            trailing: b & 8 != 0,
            after_retry: b & 16 != 0,
        }
    }

    fn write(self, out: &mut Vec<u8>) {
        out.push(
            u8::from(self.to_client)
                | (self.level & 3) << 1
                | u8::from(self.key_update) << 3
                | u8::from(self.other_dcid) << 4
                | u8::from(self.no_pad) << 5
                | (self.pn_mode & 3) << 6,
        );
        out.push(
            u8::from(self.rebind)
                | (self.pn_len & 3) << 1
                | u8::from(self.trailing) << 3
                | u8::from(self.after_retry) << 4,
        );
    }

    fn level(self) -> Level {
        match self.level & 3 {
            0 => Level::Initial,
            1 => Level::Handshake,
            _ => Level::OneRtt,
        }
    }

    fn packet_number(self, input: &mut Input<'_>, largest: Option<u64>) -> PacketNumber {
        let next = largest.map_or(0, |l| l + 1);
        let pn = match self.pn_mode {
            2 => next + u64::from(input.u8()),
            3 => largest.unwrap_or(0),
            _ => next,
        };
        match self.pn_len {
            0 => PacketNumber::new(pn, None),
            n => PacketNumber::with_len(pn, [1, 2, 4][usize::from(n - 1)])
                .unwrap_or_else(|| PacketNumber::new(pn, None)),
        }
    }
}

/// Frame kinds in a payload (the kind byte modulo [`Chunk::COUNT`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
enum Chunk {
    /// A length byte, then that many raw bytes.
    Raw = 0,
    /// A length byte, then bytes that `arbitrary` turns into one frame.
    Arbitrary = 1,
    /// A CRYPTO frame with a slice of a real ClientHello: two bytes scale
    /// its start and end.
    Hello = 2,
    /// An ACK of every packet number up to the largest the receiver sent at
    /// this level; one byte of ACK Delay.
    AckAll = 3,
    /// PING.
    Ping = 4,
    /// A length byte of PADDING.
    Padding = 5,
    /// STREAM: a selector byte (initiator, direction, index 0-3, FIN), a u16
    /// offset, a length byte; the data is filler.
    Stream = 6,
    /// NEW_CONNECTION_ID or RETIRE_CONNECTION_ID with small sequence
    /// numbers; one selector byte.
    Cid = 7,
}

impl Chunk {
    const COUNT: u8 = 8;

    fn from_byte(b: u8) -> Self {
        match b % Self::COUNT {
            0 => Self::Raw,
            1 => Self::Arbitrary,
            2 => Self::Hello,
            3 => Self::AckAll,
            4 => Self::Ping,
            5 => Self::Padding,
            6 => Self::Stream,
            _ => Self::Cid,
        }
    }
}

/// What a payload's frames may refer to.
struct PayloadContext<'a> {
    /// The largest packet number the receiver sent in this space.
    ack_largest: Option<u64>,
    /// The ClientHello bytes.
    hello: &'a [u8],
}

/// Reads a payload: a chunk count byte (modulo 16), then the chunks.
fn read_payload(input: &mut Input<'_>, ctx: &PayloadContext<'_>) -> Vec<u8> {
    let count = input.u8() % 16;
    let mut out = Vec::new();
    for _ in 0..count {
        match Chunk::from_byte(input.u8()) {
            Chunk::Raw => {
                let n = input.u8();
                out.extend_from_slice(input.bytes(n.into()));
            }
            Chunk::Arbitrary => {
                let n = input.u8();
                let mut u = Unstructured::new(input.bytes(n.into()));
                if let Ok(frame) = Frame::arbitrary(&mut u) {
                    frame.encode(&mut out);
                }
            }
            Chunk::Hello => {
                let len = ctx.hello.len();
                let (a, b) = (input.u8(), input.u8());
                let (a, b) = (usize::from(a.min(b)), usize::from(a.max(b)));
                let (start, end) = (a * len / 255, b * len / 255);
                Frame::Crypto(CryptoFrame {
                    offset: VarInt::saturating(start as u64),
                    data: &ctx.hello[start..end.max(start)],
                })
                .encode(&mut out);
            }
            Chunk::AckAll => {
                let delay = input.u8();
                let largest = ctx.ack_largest.unwrap_or(0);
                let _ = AckFrame::encode_ranges([0..=largest], u64::from(delay), None, &mut out);
            }
            Chunk::Ping => Frame::Ping.encode(&mut out),
            Chunk::Padding => {
                let n = input.u8();
                out.resize(out.len() + usize::from(n), 0);
            }
            Chunk::Stream => {
                let sel = input.u8();
                let offset = input.u16();
                let len = input.u8();
                let initiator = if sel & 1 == 0 {
                    Side::Client
                } else {
                    Side::Server
                };
                let dir = if sel & 2 == 0 { Dir::Bi } else { Dir::Uni };
                let data = filler(len.into());
                Frame::Stream(StreamFrame {
                    id: StreamId::new(initiator, dir, u64::from((sel >> 2) & 3)),
                    offset: VarInt::from_u32(offset.into()),
                    data: &data,
                    fin: sel & 16 != 0,
                    with_len: sel & 32 == 0,
                })
                .encode(&mut out);
            }
            Chunk::Cid => {
                let sel = input.u8();
                if sel & 1 == 0 {
                    let sequence = u64::from((sel >> 1) & 7) + 1;
                    let retire = u64::from(sel >> 4).min(sequence);
                    let bytes = [0xc0 | sequence as u8; 8];
                    if let Ok(cid) = ConnectionId::new(&bytes) {
                        Frame::NewConnectionId(NewConnectionId {
                            sequence: VarInt::from_u32(sequence as u32),
                            retire_prior_to: VarInt::from_u32(retire as u32),
                            cid,
                            reset_token: StatelessResetToken([sequence as u8; 16]),
                        })
                        .encode(&mut out);
                    }
                } else {
                    Frame::RetireConnectionId {
                        sequence: VarInt::from_u32(u32::from(sel >> 1)),
                    }
                    .encode(&mut out);
                }
            }
        }
        if out.len() >= MAX_PAYLOAD {
            out.truncate(MAX_PAYLOAD);
            break;
        }
    }
    out
}

/// `len` bytes of stream data.
fn filler(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

// ---- shared fixtures -----------------------------------------------------------

/// What every input shares, made once per process: the certificate and the
/// TLS configurations (rcgen and rustls set-up would dominate a run), and
/// a real ClientHello for each version.
struct Fixture {
    server_tls: Arc<rustls::ServerConfig>,
    /// Client configurations offering one suite each, in [`Suite::ALL`]
    /// order, without resumption (each input must start from scratch).
    client_tls: Vec<rustls::ClientConfig>,
    /// A ClientHello (its CRYPTO stream) and the Source Connection ID its
    /// transport parameters name, for v1 and for v2.
    hellos: [(Vec<u8>, ConnectionId); 2],
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let certs = Certs::new();
        let server_tls = Arc::new(certs.server_tls(ring_provider(), ALPN));
        let client_tls = Suite::ALL
            .iter()
            .map(|suite| {
                let mut tls = certs.client_tls(provider_with(suite.rustls()), ALPN);
                tls.resumption = rustls::client::Resumption::disabled();
                tls
            })
            .collect();
        let mut any_suite = certs.client_tls(ring_provider(), ALPN);
        any_suite.resumption = rustls::client::Resumption::disabled();
        let any_suite = Arc::new(any_suite);
        let hellos = [Version::V1, Version::V2].map(|v| client_hello(&any_suite, v));
        Fixture {
            server_tls,
            client_tls,
            hellos,
        }
    })
}

/// The first flight of a real client of ours: the ClientHello bytes of its
/// Initial CRYPTO stream and its Source Connection ID.
fn client_hello(tls: &Arc<rustls::ClientConfig>, version: Version) -> (Vec<u8>, ConnectionId) {
    let mut config = ClientConfig::new(tls.clone()).expect("client config");
    config.version = version;
    let mut client = Endpoint::new(EndpointConfig::new(1), None);
    let now = base_instant();
    client
        .connect(now, &config, server_addr(), "localhost")
        .expect("connect");
    let mut buf = vec![0u8; 65536];
    let mut hello = Vec::new();
    let mut scid = None;
    while let Some((tx, _)) = client.prepare_next_packet(now, &mut buf) {
        let mut datagram = buf[..tx.size].to_vec();
        for packet in CoalescedPackets::new(&mut datagram, 8, false) {
            let Ok(packet) = packet else { break };
            let Header::Initial {
                dst_cid, src_cid, ..
            } = packet.header()
            else {
                continue;
            };
            scid = Some(src_cid);
            let keys = initial_keys(version, &dst_cid, Side::Server).expect("initial keys");
            let opened = packet
                .open(None, &*keys.header.remote, &*keys.packet.remote)
                .expect("our own Initial opens");
            for frame in Frames::new(opened.payload()) {
                if let Ok(Frame::Crypto(c)) = frame {
                    let offset = c.offset.into_inner() as usize;
                    if hello.len() < offset + c.data.len() {
                        hello.resize(offset + c.data.len(), 0);
                    }
                    hello[offset..offset + c.data.len()].copy_from_slice(c.data);
                }
            }
        }
    }
    (hello, scid.expect("the client sent an Initial"))
}

/// The base of virtual time: one real instant per process (only
/// differences matter).
fn base_instant() -> Instant {
    static BASE: OnceLock<Instant> = OnceLock::new();
    #[allow(
        clippy::disallowed_methods,
        reason = "one real instant to build virtual time on"
    )]
    *BASE.get_or_init(Instant::now)
}

fn server_addr() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0, 0, 0, 0, 1], 4433))
}

fn client_addr(rebind: bool) -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0, 0, 0, 0, 1], if rebind { 50001 } else { 50000 }))
}

fn server_config(config: Config) -> ServerConfig {
    let mut server = ServerConfig::new(fixture().server_tls.clone()).expect("server config");
    server.retry = config.retry;
    server
}

/// Checks an event: a connection that closed itself after a protocol error
/// names a defined code, and INTERNAL_ERROR only for a deliberate limit.
fn check_event(side: Side, event: &Event) {
    let Event::Closed(ConnectionError::TransportError(e)) = event else {
        return;
    };
    assert!(
        e.code.name().is_some(),
        "{side:?} closed with an undefined code: {e:?}"
    );
    if e.code == TransportErrorCode::INTERNAL_ERROR {
        assert!(
            ALLOWED_INTERNAL_ERRORS.contains(&e.reason),
            "{side:?} closed with INTERNAL_ERROR: {e:?}"
        );
    }
}

/// Everything `endpoint` sends now.
fn drain(endpoint: &mut Endpoint, now: Instant, buf: &mut [u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while let Some((tx, _)) = endpoint.prepare_next_packet(now, buf) {
        assert!(out.len() < MAX_BURST, "a sender that does not stop");
        let segment = tx.segment_size.unwrap_or(tx.size).max(1);
        out.extend(buf[..tx.size].chunks(segment).map(<[u8]>::to_vec));
    }
    out
}

/// Seals one packet: `header`, `payload` (padded so that the datagram is at
/// least `min_len` bytes and the header protection sample exists).
fn seal_packet(
    header: &Header<'_>,
    pn: PacketNumber,
    payload: &[u8],
    min_len: usize,
    packet_key: &dyn PacketKey,
    header_key: &dyn HeaderKey,
) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 4096];
    let layout = header.write(&mut buf, pn).ok()?;
    let start = layout.header_len();
    let tag = packet_key.tag_len();
    let end = (start + payload.len() + tag)
        .max(min_len)
        .max(layout.min_packet_len(header_key.sample_len()));
    buf.get_mut(start..start + payload.len())?
        .copy_from_slice(payload);
    layout.finish(&mut buf, end).ok()?;
    buf.truncate(end);
    seal(&mut buf, layout.pn_offset, pn, packet_key, header_key).ok()?;
    Some(buf)
}

// ---- mode 1: the Initial space of a lone server ----------------------------------

/// A server endpoint and a scripted client that holds only Initial keys.
struct InitialSpace {
    now: Instant,
    server: Endpoint,
    version: Version,
    /// The client's first Destination Connection ID and its Initial keys.
    original: (ConnectionId, Keys),
    /// After a Retry: its Source Connection ID, token and the keys derived
    /// from that connection ID.
    retry: Option<(ConnectionId, Vec<u8>, Keys)>,
    /// Our Source Connection ID: the one the canned ClientHello names.
    scid: ConnectionId,
    hello: &'static [u8],
    /// The server's Source Connection ID, once it answered.
    server_cid: Option<ConnectionId>,
    /// The largest Initial packet number we sent, and the server's.
    largest_sent: Option<u64>,
    server_largest: Option<u64>,
    /// Datagrams delivered, which bounds how many connections may exist.
    delivered: usize,
    report: Report,
    buf: Vec<u8>,
}

impl InitialSpace {
    fn new(config: Config, input: &mut Input<'_>) -> Self {
        let version = config.version();
        let len = usize::from(input.u8()) % (ConnectionId::MAX_LEN + 1);
        let dcid = ConnectionId::new(input.bytes(len)).unwrap_or(ConnectionId::EMPTY);
        let keys = initial_keys(version, &dcid, Side::Client).expect("v1 and v2 have keys");
        let (hello, scid) = &fixture().hellos[usize::from(config.v2)];
        Self {
            now: base_instant(),
            server: Endpoint::new(EndpointConfig::new(2), Some(server_config(config))),
            version,
            original: (dcid, keys),
            retry: None,
            scid: *scid,
            hello,
            server_cid: None,
            largest_sent: None,
            server_largest: None,
            delivered: 0,
            report: Report::default(),
            buf: vec![0u8; 65536],
        }
    }

    fn run(mut self, input: &mut Input<'_>) -> Report {
        for _ in 0..MAX_OPS {
            let Some(op) = input.byte() else { break };
            trace!("op {:?}", Op::from_byte(op));
            match Op::from_byte(op) {
                Op::Inject => self.inject(input),
                Op::Advance => {
                    self.now += Duration::from_millis(input.u16().into());
                    self.server.handle_timeout(self.now);
                }
                Op::Replay => {
                    let len = usize::from(input.u16()) % 1500;
                    let mut datagram = input.bytes(len).to_vec();
                    self.deliver(&mut datagram, false);
                }
                Op::Deliver | Op::Handshake | Op::App => {}
            }
            self.after_op();
        }
        self.settle()
    }

    fn inject(&mut self, input: &mut Input<'_>) {
        let flags = Inject::read(input);
        let pn = flags.packet_number(input, self.largest_sent);
        self.largest_sent = self.largest_sent.max(Some(pn.full()));
        let ctx = PayloadContext {
            ack_largest: self.server_largest,
            hello: self.hello,
        };
        let payload = read_payload(input, &ctx);
        let (mut dcid, token, keys) = match &self.retry {
            Some((cid, token, keys)) if flags.after_retry => (*cid, &token[..], keys),
            _ => (self.original.0, &[][..], &self.original.1),
        };
        if flags.other_dcid {
            dcid = self.server_cid.unwrap_or(dcid);
        }
        let header = Header::Initial {
            version: self.version,
            dst_cid: dcid,
            src_cid: self.scid,
            token,
        };
        let min_len = if flags.no_pad { 0 } else { 1200 };
        let Some(mut datagram) = seal_packet(
            &header,
            pn,
            &payload,
            min_len,
            &*keys.packet.local,
            &*keys.header.local,
        ) else {
            return;
        };
        if flags.trailing {
            let n = input.u8();
            datagram.extend_from_slice(input.bytes(n.into()));
        }
        self.report.injected += 1;
        self.deliver(&mut datagram, flags.rebind);
    }

    fn deliver(&mut self, datagram: &mut [u8], rebind: bool) {
        self.delivered += 1;
        self.server
            .incoming_packet(self.now, client_addr(rebind), datagram);
    }

    /// Reads the server's answers (its connection ID, packet numbers and
    /// any Retry) and checks its events and bounds.
    fn after_op(&mut self) {
        for mut datagram in drain(&mut self.server, self.now, &mut self.buf) {
            self.tap(&mut datagram);
        }
        while let Some((_, event)) = self.server.poll_event() {
            self.report.event(Side::Server, &event);
        }
        assert!(
            self.server.connection_count() <= self.delivered,
            "more connections than datagrams"
        );
    }

    fn tap(&mut self, datagram: &mut [u8]) {
        for packet in CoalescedPackets::new(datagram, self.scid.len(), false) {
            let Ok(packet) = packet else { break };
            let header = packet.header();
            if let Header::Retry { src_cid, token, .. } = header {
                if let Ok(keys) = initial_keys(self.version, &src_cid, Side::Client) {
                    self.retry = Some((src_cid, token.to_vec(), keys));
                }
                continue;
            }
            let Header::Initial { src_cid, .. } = header else {
                continue;
            };
            self.server_cid.get_or_insert(src_cid);
            // The server protects with the keys of whichever first DCID its
            // connection saw: the original one or the Retry's.
            let bytes = packet.into_bytes().to_vec();
            let candidates = [Some(&self.original.1), self.retry.as_ref().map(|r| &r.2)];
            for keys in candidates.into_iter().flatten() {
                let mut copy = bytes.clone();
                let Ok((packet, _)) = PartialPacket::decode(&mut copy, 0, false) else {
                    break;
                };
                if let Ok(opened) = packet.open(
                    self.server_largest,
                    &*keys.header.remote,
                    &*keys.packet.remote,
                ) {
                    self.server_largest = self.server_largest.max(Some(opened.pn()));
                    break;
                }
            }
        }
    }

    /// Runs the timers until the server holds nothing.
    fn settle(mut self) -> Report {
        let end = self.now + SETTLE_LIMIT;
        let mut stuck = 0;
        while let Some(wake) = self.server.next_wake_time() {
            if wake > end {
                break;
            }
            if wake <= self.now {
                stuck += 1;
                assert!(stuck < MAX_STUCK, "a timer that stays due");
            } else {
                stuck = 0;
            }
            self.now = self.now.max(wake);
            self.server.handle_timeout(self.now);
            self.after_op();
        }
        assert_eq!(
            self.server.connection_count(),
            0,
            "a connection outlived {SETTLE_LIMIT:?} of silence"
        );
        self.report
    }
}

// ---- mode 2: a real client and server -----------------------------------------------

/// The TLS secrets a client logs (RFC 8446 key log labels).
#[derive(Debug, Default)]
struct SecretLog(Mutex<Vec<(String, Vec<u8>)>>);

impl rustls::KeyLog for SecretLog {
    fn log(&self, label: &str, _client_random: &[u8], secret: &[u8]) {
        if let Ok(mut entries) = self.0.lock() {
            entries.push((label.to_owned(), secret.to_vec()));
        }
    }

    fn will_log(&self, _label: &str) -> bool {
        true
    }
}

impl SecretLog {
    fn get(&self, label: &str) -> Option<Vec<u8>> {
        let entries = self.0.lock().ok()?;
        entries
            .iter()
            .find(|(l, _)| l == label)
            .map(|(_, s)| s.clone())
    }
}

/// Index of a side in per-side arrays.
const fn ix(side: Side) -> usize {
    match side {
        Side::Client => 0,
        Side::Server => 1,
    }
}

/// Index of a packet number space.
const fn space(level: Level) -> usize {
    match level {
        Level::Initial => 0,
        Level::Handshake => 1,
        Level::ZeroRtt | Level::OneRtt => 2,
    }
}

/// The most key generations the harness moves through.
const MAX_GENERATION: usize = 8;

/// 1-RTT keys: generation 0 per sender, and the later generations.
struct OneRttKeys {
    /// Indexed by [`ix`] of the sender.
    first: [DirectionalKeys; 2],
    updates: KeyUpdate,
    /// Generations 1.. ; `local` is the client's key.
    later: Vec<KeyPair<Box<dyn PacketKey>>>,
}

/// The keys the harness knows, by level and sender.
#[derive(Default)]
struct KeyBook {
    /// The version and first client DCID they were derived for, and the
    /// keys (`local` is the client's).
    initial: Option<(Version, ConnectionId, Keys)>,
    /// Indexed by [`ix`] of the sender.
    handshake: Option<[DirectionalKeys; 2]>,
    one_rtt: Option<OneRttKeys>,
}

impl KeyBook {
    /// Derives whatever the key log now allows.
    fn refresh(&mut self, log: &SecretLog, suite: Suite, version: Version) {
        let pair = |client: &str, server: &str| -> Option<[DirectionalKeys; 2]> {
            let c = log.get(client)?;
            let s = log.get(server)?;
            Some([
                directional_keys(suite, &c, version).ok()?,
                directional_keys(suite, &s, version).ok()?,
            ])
        };
        if self.handshake.is_none() {
            self.handshake = pair(
                "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
                "SERVER_HANDSHAKE_TRAFFIC_SECRET",
            );
        }
        if self.one_rtt.is_none() {
            if let (Some(first), Some(c), Some(s)) = (
                pair("CLIENT_TRAFFIC_SECRET_0", "SERVER_TRAFFIC_SECRET_0"),
                log.get("CLIENT_TRAFFIC_SECRET_0"),
                log.get("SERVER_TRAFFIC_SECRET_0"),
            ) {
                if let Ok(updates) = KeyUpdate::after(suite, version, Side::Client, &c, &s) {
                    self.one_rtt = Some(OneRttKeys {
                        first,
                        updates,
                        later: Vec::new(),
                    });
                }
            }
        }
    }

    /// The Initial keys for the client's first DCID `dcid` in `version`.
    fn set_initial(&mut self, version: Version, dcid: ConnectionId) {
        if matches!(&self.initial, Some((v, d, _)) if *v == version && *d == dcid) {
            return;
        }
        self.initial = initial_keys(version, &dcid, Side::Client)
            .ok()
            .map(|k| (version, dcid, k));
    }

    /// The packet and header keys `sender` uses at `level`, generation
    /// `generation` for 1-RTT.
    fn get(
        &mut self,
        sender: Side,
        level: Level,
        generation: usize,
    ) -> Option<(&dyn PacketKey, &dyn HeaderKey)> {
        match level {
            Level::Initial => {
                let (_, _, keys) = self.initial.as_ref()?;
                Some(match sender {
                    Side::Client => (&*keys.packet.local, &*keys.header.local),
                    Side::Server => (&*keys.packet.remote, &*keys.header.remote),
                })
            }
            Level::Handshake => {
                let keys = &self.handshake.as_ref()?[ix(sender)];
                Some((&*keys.packet, &*keys.header))
            }
            Level::ZeroRtt => None,
            Level::OneRtt => {
                let keys = self.one_rtt.as_mut()?;
                while keys.later.len() < generation {
                    let next = keys.updates.next_packet_keys();
                    keys.later.push(next);
                }
                let header = &*keys.first[ix(sender)].header;
                let packet = match (generation, sender) {
                    (0, _) => &*keys.first[ix(sender)].packet,
                    (g, Side::Client) => &*keys.later[g - 1].local,
                    (g, Side::Server) => &*keys.later[g - 1].remote,
                };
                Some((packet, header))
            }
        }
    }
}

/// The application actions ([`Script::app`]): a selector byte (bit 0: the
/// server's application; bits 1-3: the action; bit 4: a variant), then the
/// action's argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum App {
    /// Open a bidirectional stream and write a u16 of bytes (FIN with the
    /// variant bit).
    OpenBi = 0,
    /// Open a unidirectional stream and write a u16 of bytes (FIN with the
    /// variant bit).
    OpenUni = 1,
    /// Write a u16 of bytes more to a known stream (a byte picks it).
    Write = 2,
    /// Reset a known stream (a byte picks it), or with the variant bit
    /// finish it.
    Reset = 3,
    /// Ask the peer to stop sending on a known stream (a byte picks it).
    Stop = 4,
    /// Send a datagram of a byte's length.
    Datagram = 5,
    /// Initiate a key update, or with the variant bit send a PING.
    KeyUpdate = 6,
    /// Close the connection with a code byte.
    Close = 7,
}

/// A real client and server and the network between them.
struct Established {
    config: Config,
    now: Instant,
    /// Indexed by [`ix`].
    endpoints: [Endpoint; 2],
    client_handle: Option<ConnectionHandle>,
    server_handle: Option<ConnectionHandle>,
    log: Arc<SecretLog>,
    suite: Suite,
    version: Version,
    keys: KeyBook,
    /// Each side's connection ID, from its long headers.
    cids: [Option<ConnectionId>; 2],
    /// Datagrams in flight to each side, with the sender's address.
    wire: [VecDeque<(SocketAddr, Vec<u8>)>; 2],
    /// The last datagram each side received from the network.
    last: [Option<(SocketAddr, Vec<u8>)>; 2],
    /// The largest packet number each side sent (really, or as injected) in
    /// each space.
    largest: [[Option<u64>; 3]; 2],
    /// The 1-RTT key generation injected packets from each side use.
    generation: [usize; 2],
    /// Streams each side's application knows.
    streams: [Vec<StreamId>; 2],
    confirmed: [bool; 2],
    /// Datagrams the server received, which bound its connections.
    server_datagrams: usize,
    report: Report,
    buf: Vec<u8>,
}

impl Established {
    fn new(config: Config) -> Self {
        let fixture = fixture();
        let suite = config.suite();
        let log = Arc::new(SecretLog::default());
        let index = Suite::ALL.iter().position(|s| *s == suite).unwrap_or(0);
        let mut tls = fixture.client_tls[index].clone();
        tls.key_log = log.clone();
        let mut client_config = ClientConfig::new(Arc::new(tls)).expect("client config");
        client_config.version = config.version();
        let now = base_instant();
        let mut client = Endpoint::new(EndpointConfig::new(1), None);
        let client_handle = client
            .connect(now, &client_config, server_addr(), "localhost")
            .ok();
        let server = Endpoint::new(EndpointConfig::new(2), Some(server_config(config)));
        let mut this = Self {
            config,
            now,
            endpoints: [client, server],
            client_handle,
            server_handle: None,
            log,
            suite,
            version: config.version(),
            keys: KeyBook::default(),
            cids: [None; 2],
            wire: Default::default(),
            last: Default::default(),
            largest: [[None; 3]; 2],
            generation: [0; 2],
            streams: Default::default(),
            confirmed: [false; 2],
            server_datagrams: 0,
            report: Report::default(),
            buf: vec![0u8; 65536],
        };
        this.after_op();
        this
    }

    fn run(mut self, input: &mut Input<'_>) -> Report {
        for _ in 0..MAX_OPS {
            let Some(op) = input.byte() else { break };
            trace!("op {:?}", Op::from_byte(op));
            match Op::from_byte(op) {
                Op::Inject => self.inject(input),
                Op::Advance => {
                    self.now += Duration::from_millis(input.u16().into());
                    for ep in &mut self.endpoints {
                        ep.handle_timeout(self.now);
                    }
                }
                Op::Deliver => {
                    let flags = input.u8();
                    for to in [Side::Server, Side::Client] {
                        if flags & (1 << ix(to)) != 0 {
                            self.deliver(to, flags & 4 != 0, flags & 8 != 0);
                        }
                    }
                }
                Op::Handshake => self.handshake(),
                Op::App => self.app(input),
                Op::Replay => {
                    let to = if input.u8() & 1 == 0 {
                        Side::Server
                    } else {
                        Side::Client
                    };
                    if let Some((from, mut bytes)) = self.last[ix(to)].clone() {
                        self.receive(to, from, &mut bytes);
                    }
                }
            }
            self.after_op();
        }
        self.settle()
    }

    /// One datagram into `to`.
    fn receive(&mut self, to: Side, from: SocketAddr, datagram: &mut [u8]) {
        trace!(
            "  {:?} -> {to:?} at {:?}: {} bytes, first {:#04x}",
            to.peer(),
            self.now - base_instant(),
            datagram.len(),
            datagram.first().copied().unwrap_or(0)
        );
        if to == Side::Server {
            self.server_datagrams += 1;
        }
        self.endpoints[ix(to)].incoming_packet(self.now, from, datagram);
    }

    /// Delivers (or drops) what is in flight to `to`: everything, or only
    /// the first datagram.
    fn deliver(&mut self, to: Side, drop: bool, only_first: bool) {
        let count = if only_first {
            1
        } else {
            self.wire[ix(to)].len()
        };
        for _ in 0..count {
            let Some((from, mut bytes)) = self.wire[ix(to)].pop_front() else {
                break;
            };
            if drop {
                continue;
            }
            self.last[ix(to)] = Some((from, bytes.clone()));
            self.receive(to, from, &mut bytes);
        }
    }

    /// Runs the network until both sides confirmed the handshake (or gave
    /// up), with time jumping to the next timer whenever nothing is in
    /// flight.
    fn handshake(&mut self) {
        for _ in 0..200 {
            if self.confirmed == [true, true] {
                break;
            }
            if self.wire.iter().all(VecDeque::is_empty) {
                let wake = self
                    .endpoints
                    .iter()
                    .filter_map(Endpoint::next_wake_time)
                    .min();
                let Some(wake) = wake else { break };
                self.now = self.now.max(wake);
                for ep in &mut self.endpoints {
                    ep.handle_timeout(self.now);
                }
            }
            self.deliver(Side::Server, false, false);
            self.deliver(Side::Client, false, false);
            self.after_op();
        }
    }

    fn inject(&mut self, input: &mut Input<'_>) {
        let flags = Inject::read(input);
        let to = if flags.to_client {
            Side::Client
        } else {
            Side::Server
        };
        let sender = to.peer();
        let level = flags.level();
        let s = space(level);
        if level == Level::OneRtt && flags.key_update {
            let g = &mut self.generation[ix(sender)];
            *g = (*g + 1).min(MAX_GENERATION);
        }
        let pn = flags.packet_number(input, self.largest[ix(sender)][s]);
        let ctx = PayloadContext {
            ack_largest: self.largest[ix(to)][s],
            hello: &fixture().hellos[usize::from(self.config.v2)].0,
        };
        let payload = read_payload(input, &ctx);
        let unknown = ConnectionId::new(&[0xee; 8]).unwrap_or(ConnectionId::EMPTY);
        // Before the server has answered, the client's first DCID reaches it.
        let first = self.keys.initial.as_ref().map(|(_, dcid, _)| *dcid);
        let dcid = match (flags.other_dcid, self.cids[ix(to)], to) {
            (true, ..) => unknown,
            (false, Some(cid), _) => cid,
            (false, None, Side::Server) => match first {
                Some(cid) => cid,
                None => return,
            },
            (false, None, Side::Client) => return,
        };
        let scid = self.cids[ix(sender)].unwrap_or(unknown);
        let version = self.version;
        let generation = self.generation[ix(sender)];
        let header = match level {
            Level::Initial => Header::Initial {
                version,
                dst_cid: dcid,
                src_cid: scid,
                token: &[],
            },
            Level::Handshake => Header::Handshake {
                version,
                dst_cid: dcid,
                src_cid: scid,
            },
            _ => Header::Short {
                spin: false,
                key_phase: generation % 2 == 1,
                dst_cid: dcid,
            },
        };
        let min_len = if level == Level::Initial && sender == Side::Client && !flags.no_pad {
            1200
        } else {
            0
        };
        let Some((packet_key, header_key)) = self.keys.get(sender, level, generation) else {
            return;
        };
        let Some(mut datagram) =
            seal_packet(&header, pn, &payload, min_len, packet_key, header_key)
        else {
            return;
        };
        let largest = &mut self.largest[ix(sender)][s];
        *largest = (*largest).max(Some(pn.full()));
        if flags.trailing {
            let n = input.u8();
            datagram.extend_from_slice(input.bytes(n.into()));
        }
        self.report.injected += 1;
        let from = match sender {
            Side::Client => client_addr(flags.rebind),
            Side::Server if flags.rebind => SocketAddr::from(([0, 0, 0, 0, 0, 0, 0, 1], 4434)),
            Side::Server => server_addr(),
        };
        self.receive(to, from, &mut datagram);
    }

    fn app(&mut self, input: &mut Input<'_>) {
        let sel = input.u8();
        let side = if sel & 1 == 0 {
            Side::Client
        } else {
            Side::Server
        };
        let variant = sel & 16 != 0;
        let handle = match side {
            Side::Client => self.client_handle,
            Side::Server => self.server_handle,
        };
        let now = self.now;
        let streams = &mut self.streams[ix(side)];
        let Some(conn) = handle.and_then(|h| self.endpoints[ix(side)].connection(h)) else {
            return;
        };
        let pick = |input: &mut Input<'_>, streams: &[StreamId]| {
            let i = usize::from(input.u8());
            (!streams.is_empty()).then(|| streams[i % streams.len()])
        };
        match (sel >> 1) & 7 {
            0 | 1 => {
                let dir = if (sel >> 1) & 7 == 0 {
                    Dir::Bi
                } else {
                    Dir::Uni
                };
                let len = input.u16();
                if let Ok(id) = conn.open_stream(dir) {
                    streams.push(id);
                    let _ = conn.write(id, &filler(len.into()));
                    if variant {
                        let _ = conn.finish(id);
                    }
                }
            }
            2 => {
                let id = pick(input, streams);
                let len = input.u16();
                if let Some(id) = id {
                    let _ = conn.write(id, &filler(len.into()));
                }
            }
            3 => {
                if let Some(id) = pick(input, streams) {
                    if variant {
                        let _ = conn.finish(id);
                    } else {
                        let _ = conn.reset(id, VarInt::from_u32(7));
                    }
                }
            }
            4 => {
                if let Some(id) = pick(input, streams) {
                    let _ = conn.stop(id, VarInt::from_u32(9));
                }
            }
            5 => {
                let len = input.u8();
                let _ = conn.send_datagram(filler(len.into()).into());
            }
            6 => {
                if variant {
                    conn.ping();
                } else {
                    conn.initiate_key_update();
                }
            }
            _ => {
                let code = input.u8();
                conn.close(now, VarInt::from_u32(code.into()), b"fuzz");
            }
        }
    }

    /// Moves everything the endpoints send onto the wire (reading packet
    /// numbers and connection IDs on the way), handles events, learns keys
    /// and checks bounds.
    fn after_op(&mut self) {
        for sender in [Side::Client, Side::Server] {
            let from = match sender {
                Side::Client => client_addr(false),
                Side::Server => server_addr(),
            };
            let out = drain(&mut self.endpoints[ix(sender)], self.now, &mut self.buf);
            for datagram in out {
                self.tap(sender, &datagram);
                let wire = &mut self.wire[ix(sender.peer())];
                if wire.len() >= WIRE_CAPACITY {
                    wire.pop_front();
                }
                wire.push_back((from, datagram));
            }
        }
        for side in [Side::Client, Side::Server] {
            self.events(side);
        }
        self.keys.refresh(&self.log, self.suite, self.version);
        assert!(self.endpoints[0].connection_count() <= 1);
        assert!(
            self.endpoints[1].connection_count() <= self.server_datagrams,
            "server connections: {}",
            self.endpoints[1].connection_count()
        );
    }

    fn events(&mut self, side: Side) {
        while let Some((handle, event)) = self.endpoints[ix(side)].poll_event() {
            self.report.event(side, &event);
            if side == Side::Server && self.server_handle.is_none() {
                self.server_handle = Some(handle);
            }
            let mine = match side {
                Side::Client => self.client_handle,
                Side::Server => self.server_handle,
            };
            if mine != Some(handle) {
                continue;
            }
            match event {
                Event::HandshakeConfirmed => self.confirmed[ix(side)] = true,
                Event::Closed(_) => self.confirmed[ix(side)] = true,
                Event::Stream(e) => self.stream_event(side, handle, e),
                Event::DatagramReceived => {
                    if let Some(conn) = self.endpoints[ix(side)].connection(handle) {
                        while conn.recv_datagram().is_some() {}
                    }
                }
                _ => {}
            }
        }
    }

    /// The application accepts every stream and reads everything.
    fn stream_event(&mut self, side: Side, handle: ConnectionHandle, event: StreamEvent) {
        let Some(conn) = self.endpoints[ix(side)].connection(handle) else {
            return;
        };
        let streams = &mut self.streams[ix(side)];
        let readable = match event {
            StreamEvent::Opened { dir } => {
                while let Some(id) = conn.accept_stream(dir) {
                    streams.push(id);
                }
                streams.clone()
            }
            StreamEvent::Readable { id } => vec![id],
            _ => return,
        };
        let mut chunk = [0u8; 4096];
        for id in readable {
            while let Ok(Some((n, fin))) = conn.read(id, &mut chunk) {
                if n == 0 || fin {
                    break;
                }
            }
        }
    }

    /// Reads the packet numbers and connection IDs of a datagram `sender`
    /// sent, with the keys known so far.
    fn tap(&mut self, sender: Side, datagram: &[u8]) {
        let mut copy = datagram.to_vec();
        for packet in CoalescedPackets::new(&mut copy, 8, false) {
            let Ok(packet) = packet else { break };
            let header = packet.header();
            if let Header::Retry { .. } = header {
                // The client's next Initial has a new first DCID.
                self.keys.initial = None;
                continue;
            }
            if let Header::Initial { src_cid, .. } | Header::Handshake { src_cid, .. } = header {
                self.cids[ix(sender)].get_or_insert(src_cid);
            }
            if let (Some(version), Some(level)) = (header.version(), header.level()) {
                if sender == Side::Server {
                    // Compatible version negotiation (RFC 9368) shows here.
                    self.version = version;
                }
                if level == Level::Initial {
                    let dcid = ConnectionId::new(header.dst_cid()).unwrap_or(ConnectionId::EMPTY);
                    match (&self.keys.initial, sender) {
                        (None, Side::Client) => self.keys.set_initial(version, dcid),
                        (Some((_, first, _)), _) => {
                            let first = *first;
                            self.keys.set_initial(version, first);
                        }
                        (None, Side::Server) => {}
                    }
                }
            }
            let Some(level) = packet.level() else {
                continue;
            };
            let s = space(level);
            let largest = self.largest[ix(sender)][s];
            let bytes = packet.into_bytes().to_vec();
            let generations = if level == Level::OneRtt {
                MAX_GENERATION
            } else {
                0
            };
            let mut pn = None;
            for generation in 0..=generations {
                let Some((packet_key, header_key)) = self.keys.get(sender, level, generation)
                else {
                    break;
                };
                let mut attempt = bytes.clone();
                let Ok((packet, _)) = PartialPacket::decode(&mut attempt, 8, false) else {
                    break;
                };
                if let Ok(opened) = packet.open(largest, header_key, packet_key) {
                    pn = Some(opened.pn());
                    if tracing() {
                        let frames: Vec<_> = Frames::new(opened.payload())
                            .map_while(Result::ok)
                            .filter(|f| !matches!(f, Frame::Padding { .. }))
                            .map(|f| f.ty())
                            .collect();
                        eprintln!("    {sender:?} {level:?} pn {} {frames:?}", opened.pn());
                    }
                    break;
                }
            }
            self.largest[ix(sender)][s] = largest.max(pn);
        }
    }

    /// With the input spent, lets the network run for a while
    /// ([`NETWORK_AFTER_INPUT`]), then takes it down and lets time pass:
    /// every connection must end.
    ///
    /// Two live peers may legitimately keep each other alive for ever, so
    /// the last phase delivers nothing: then the idle timeout (RFC 9000
    /// §10.1) must end every connection, and no timer may stay due.
    fn settle(mut self) -> Report {
        let network_down = self.now + NETWORK_AFTER_INPUT;
        let end = self.now + SETTLE_LIMIT;
        let mut stuck = 0;
        let mut rounds_at_instant = (self.now, 0);
        loop {
            if rounds_at_instant.0 == self.now {
                rounds_at_instant.1 += 1;
                assert!(
                    rounds_at_instant.1 < MAX_ROUNDS_AT_INSTANT,
                    "the endpoints exchange datagrams without end"
                );
            } else {
                rounds_at_instant = (self.now, 0);
            }
            if self.now >= network_down {
                for wire in &mut self.wire {
                    wire.clear();
                }
            }
            if self.wire.iter().any(|w| !w.is_empty()) {
                self.deliver(Side::Server, false, false);
                self.deliver(Side::Client, false, false);
                self.after_op();
                continue;
            }
            let Some(wake) = self
                .endpoints
                .iter()
                .filter_map(Endpoint::next_wake_time)
                .min()
            else {
                break;
            };
            if wake > end {
                break;
            }
            if wake <= self.now {
                stuck += 1;
                assert!(stuck < MAX_STUCK, "a timer that stays due");
            } else {
                stuck = 0;
            }
            self.now = self.now.max(wake);
            for ep in &mut self.endpoints {
                ep.handle_timeout(self.now);
            }
            self.after_op();
        }
        for side in [Side::Client, Side::Server] {
            assert_eq!(
                self.endpoints[ix(side)].connection_count(),
                0,
                "a {side:?} connection outlived {SETTLE_LIMIT:?}"
            );
        }
        self.report
    }
}

// ---- writing inputs ---------------------------------------------------------------

/// Writes inputs for [`run`]: the seed corpus and regression inputs.
#[derive(Clone, Debug)]
pub struct Script(Vec<u8>);

/// A payload of [`Script::inject`].
#[derive(Clone, Debug, Default)]
pub struct Payload {
    count: u8,
    bytes: Vec<u8>,
}

impl Payload {
    /// An empty payload.
    pub fn new() -> Self {
        Self::default()
    }

    fn chunk(mut self, kind: Chunk, args: &[u8]) -> Self {
        self.count += 1;
        self.bytes.push(kind as u8);
        self.bytes.extend_from_slice(args);
        self
    }

    /// Raw bytes (at most 255).
    pub fn raw(self, bytes: &[u8]) -> Self {
        let n = bytes.len().min(255);
        let mut args = vec![n as u8];
        args.extend_from_slice(&bytes[..n]);
        self.chunk(Chunk::Raw, &args)
    }

    /// A frame that `arbitrary` builds from `seed` (at most 255 bytes).
    pub fn arbitrary(self, seed: &[u8]) -> Self {
        let n = seed.len().min(255);
        let mut args = vec![n as u8];
        args.extend_from_slice(&seed[..n]);
        self.chunk(Chunk::Arbitrary, &args)
    }

    /// A CRYPTO frame with the ClientHello from `from`/255 to `to`/255 of
    /// its length.
    pub fn hello(self, from: u8, to: u8) -> Self {
        self.chunk(Chunk::Hello, &[from, to])
    }

    /// An ACK of everything the receiver sent in this space.
    pub fn ack_all(self, delay: u8) -> Self {
        self.chunk(Chunk::AckAll, &[delay])
    }

    /// PING.
    pub fn ping(self) -> Self {
        self.chunk(Chunk::Ping, &[])
    }

    /// `n` bytes of PADDING.
    pub fn padding(self, n: u8) -> Self {
        self.chunk(Chunk::Padding, &[n])
    }

    /// A STREAM frame on one of the first four streams of a type, with
    /// `len` bytes of filler at `offset`. The selector: bit 0 the
    /// initiator (server if set), bit 1 unidirectional, bits 2-3 the
    /// index, bit 4 FIN, bit 5 no Length field.
    pub fn stream(self, selector: u8, offset: u16, len: u8) -> Self {
        let [hi, lo] = offset.to_be_bytes();
        self.chunk(Chunk::Stream, &[selector, hi, lo, len])
    }

    /// NEW_CONNECTION_ID (even selector) or RETIRE_CONNECTION_ID (odd).
    pub fn cid(self, selector: u8) -> Self {
        self.chunk(Chunk::Cid, &[selector])
    }
}

impl Script {
    /// An Initial-space input whose client chose `dcid` (at most 20 bytes).
    pub fn initial_space(v2: bool, retry: bool, dcid: &[u8]) -> Self {
        let config = Config {
            mode: Mode::InitialSpace,
            v2,
            suite: 0,
            retry,
        };
        let n = dcid.len().min(ConnectionId::MAX_LEN);
        let mut bytes = vec![config.to_byte(), n as u8];
        bytes.extend_from_slice(&dcid[..n]);
        Self(bytes)
    }

    /// An Established input.
    pub fn established(v2: bool, suite: u8, retry: bool) -> Self {
        let config = Config {
            mode: Mode::Established,
            v2,
            suite,
            retry,
        };
        Self(vec![config.to_byte()])
    }

    /// Injects one packet (for `pn_mode` 2, `gap` is the skip; for
    /// `trailing`, `trailing_bytes` are appended).
    pub fn inject(mut self, flags: Inject, payload: Payload) -> Self {
        self.0.push(Op::Inject as u8);
        flags.write(&mut self.0);
        if flags.pn_mode == 2 {
            self.0.push(3);
        }
        self.0.push(payload.count);
        self.0.extend_from_slice(&payload.bytes);
        if flags.trailing {
            self.0.extend_from_slice(&[4, 0xde, 0xad, 0xbe, 0xef]);
        }
        self
    }

    /// Advances time by `ms` milliseconds.
    pub fn advance(mut self, ms: u16) -> Self {
        self.0.push(Op::Advance as u8);
        self.0.extend_from_slice(&ms.to_be_bytes());
        self
    }

    /// Established: delivers what is in flight (bit 0: to the client, bit
    /// 1: to the server, bit 2: drop, bit 3: only the first datagram).
    pub fn deliver(mut self, flags: u8) -> Self {
        self.0.extend_from_slice(&[Op::Deliver as u8, flags]);
        self
    }

    /// Established: runs the handshake to confirmation.
    pub fn handshake(mut self) -> Self {
        self.0.push(Op::Handshake as u8);
        self
    }

    /// Established: an application action at the server (`server`) or the
    /// client; `variant` is the action's variant bit, `args` its argument
    /// bytes.
    pub fn app(mut self, server: bool, action: App, variant: bool, args: &[u8]) -> Self {
        self.0.push(Op::App as u8);
        self.0
            .push(u8::from(server) | (action as u8) << 1 | u8::from(variant) << 4);
        self.0.extend_from_slice(args);
        self
    }

    /// Established: replays the last datagram the client (`to_client`) or
    /// the server received. Initial space: use [`Script::raw`].
    pub fn replay(mut self, to_client: bool) -> Self {
        self.0
            .extend_from_slice(&[Op::Replay as u8, u8::from(to_client)]);
        self
    }

    /// Initial space: a datagram of raw bytes.
    pub fn raw(mut self, bytes: &[u8]) -> Self {
        self.0.push(Op::Replay as u8);
        self.0
            .extend_from_slice(&(bytes.len().min(1499) as u16).to_be_bytes());
        self.0.extend_from_slice(&bytes[..bytes.len().min(1499)]);
        self
    }

    /// The input bytes.
    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }
}
