//! Mode 2: a real client and server, with the client's keys from its key log.

use super::*;

// ---- mode 2: a real client and server -----------------------------------------------

/// The TLS secrets a client logs (RFC 8446 key log labels).
#[derive(Debug, Default)]
pub(super) struct SecretLog(Mutex<Vec<(String, Vec<u8>)>>);

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
    pub(super) fn get(&self, label: &str) -> Option<Vec<u8>> {
        let entries = self.0.lock().ok()?;
        entries
            .iter()
            .find(|(l, _)| l == label)
            .map(|(_, s)| s.clone())
    }
}

/// Index of a side in per-side arrays.
pub(super) const fn ix(side: Side) -> usize {
    match side {
        Side::Client => 0,
        Side::Server => 1,
    }
}

/// Index of a packet number space.
pub(super) const fn space(level: Level) -> usize {
    match level {
        Level::Initial => 0,
        Level::Handshake => 1,
        Level::ZeroRtt | Level::OneRtt => 2,
    }
}

/// The most key generations the harness moves through.
pub(super) const MAX_GENERATION: usize = 8;

/// 1-RTT keys: generation 0 per sender, and the later generations.
pub(super) struct OneRttKeys {
    /// Indexed by [`ix`] of the sender.
    first: [DirectionalKeys; 2],
    updates: KeyUpdate,
    /// Generations 1.. ; `local` is the client's key.
    later: Vec<KeyPair<Box<dyn PacketKey>>>,
}

/// The keys the harness knows, by level and sender.
#[derive(Default)]
pub(super) struct KeyBook {
    /// The version and first client DCID they were derived for, and the
    /// keys (`local` is the client's).
    initial: Option<(Version, ConnectionId, Keys)>,
    /// Indexed by [`ix`] of the sender.
    handshake: Option<[DirectionalKeys; 2]>,
    one_rtt: Option<OneRttKeys>,
}

impl KeyBook {
    /// Derives whatever the key log now allows.
    pub(super) fn refresh(&mut self, log: &SecretLog, suite: Suite, version: Version) {
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
    pub(super) fn set_initial(&mut self, version: Version, dcid: ConnectionId) {
        if matches!(&self.initial, Some((v, d, _)) if *v == version && *d == dcid) {
            return;
        }
        self.initial = initial_keys(version, &dcid, Side::Client)
            .ok()
            .map(|k| (version, dcid, k));
    }

    /// The packet and header keys `sender` uses at `level`, generation
    /// `generation` for 1-RTT.
    pub(super) fn get(
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
pub(super) struct Established {
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
    pub(super) fn new(config: Config) -> Self {
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

    pub(super) fn run(mut self, input: &mut Input<'_>) -> Report {
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
    pub(super) fn receive(&mut self, to: Side, from: SocketAddr, datagram: &mut [u8]) {
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
    pub(super) fn deliver(&mut self, to: Side, drop: bool, only_first: bool) {
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
    pub(super) fn handshake(&mut self) {
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

    pub(super) fn inject(&mut self, input: &mut Input<'_>) {
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

    pub(super) fn app(&mut self, input: &mut Input<'_>) {
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
    pub(super) fn after_op(&mut self) {
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

    pub(super) fn events(&mut self, side: Side) {
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
    pub(super) fn stream_event(
        &mut self,
        side: Side,
        handle: ConnectionHandle,
        event: StreamEvent,
    ) {
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
    pub(super) fn tap(&mut self, sender: Side, datagram: &[u8]) {
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
    pub(super) fn settle(mut self) -> Report {
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
