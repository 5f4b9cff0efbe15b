//! Writing inputs: the seed corpus and regression inputs.

use super::*;

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
