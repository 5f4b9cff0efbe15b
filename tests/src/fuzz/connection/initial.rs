//! Mode 1: the Initial space of a lone server.

use super::*;

// ---- mode 1: the Initial space of a lone server ----------------------------------

/// A server endpoint and a scripted client that holds only Initial keys.
pub(super) struct InitialSpace {
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
    pub(super) fn new(config: Config, input: &mut Input<'_>) -> Self {
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

    pub(super) fn run(mut self, input: &mut Input<'_>) -> Report {
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

    pub(super) fn inject(&mut self, input: &mut Input<'_>) {
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

    pub(super) fn deliver(&mut self, datagram: &mut [u8], rebind: bool) {
        self.delivered += 1;
        self.server
            .incoming_packet(self.now, client_addr(rebind), datagram);
    }

    /// Reads the server's answers (its connection ID, packet numbers and
    /// any Retry) and checks its events and bounds.
    pub(super) fn after_op(&mut self) {
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

    pub(super) fn tap(&mut self, datagram: &mut [u8]) {
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
    pub(super) fn settle(mut self) -> Report {
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
