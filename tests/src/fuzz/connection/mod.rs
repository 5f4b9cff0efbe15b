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

pub use self::established::App;
use self::established::*;
use self::initial::*;
pub use self::script::{Payload, Script};

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

// After the `trace!` macro above: textual scope.
mod established;
mod initial;
mod script;
