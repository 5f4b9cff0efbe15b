//! The `quic-io-std` socket loop over loopback UDP: our client against our
//! server and against quinn in both roles, the network thread driven by
//! commands from another thread, the GSO fallback after EIO, GSO on and off
//! delivering identical bytes, and a client moving to its extra socket.
//!
//! Each exchange is one request/response on a bidirectional stream whose
//! bytes are checked with SHA-256 (see `io_std/app.rs`). Every loop has a
//! wall-clock deadline (its `time_check` callback), so a hang fails.

use std::collections::VecDeque;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use quic_io_std::{
    AddressFamily, Callbacks, Context, Flow, Inbox, LoopControl, NetworkThread, Params, SocketLoop,
};
use quic_proto::config::ClientConfig;
use quic_proto::connection::{ConnectionError, Event};
use quic_proto::endpoint::ConnectionHandle;
use quic_proto::streams::{StreamEvent, WriteError};
use quic_proto::{Dir, StreamId, VarInt};

#[path = "io_std/app.rs"]
mod app;
#[path = "io_std/quinn_peer.rs"]
mod quinn_peer;

use app::*;

fn loopback() -> Params {
    Params::bound_to(Ipv4Addr::LOCALHOST.into(), 0)
}

/// Our server on its own network thread; its address on 127.0.0.1.
fn spawn_server(
    certs: &Certs,
    params: &Params,
    gso: usize,
) -> (SocketAddr, NetworkThread<Report, String>) {
    let socket_loop = SocketLoop::bind(params).unwrap();
    let addr = socket_loop.local_addrs()[0];
    let endpoint = endpoint(1, Some(our_server(certs)), gso);
    (addr, socket_loop.spawn(endpoint, App::server()).unwrap())
}

/// Our client in this thread, asking `server` for the plan's transfer.
fn run_client(params: &Params, plan: Plan, gso: usize) -> Report {
    let mut endpoint = endpoint(2, None, gso);
    quic_io_std::run(params, &mut endpoint, &mut App::client(plan))
        .unwrap_or_else(|e| panic!("our client: {e}"))
}

fn plan(certs: &Certs, server: SocketAddr, upload: usize, download: usize) -> Plan {
    Plan {
        server,
        config: our_client(certs),
        upload,
        download,
        migrate_after: None,
    }
}

fn closed_by_peer_with_zero(close: &Option<ConnectionError>) -> bool {
    matches!(
        close,
        Some(ConnectionError::PeerApplicationClose { code, .. }) if *code == VarInt::from_u32(0)
    )
}

/// Our client against our server: a 1 MiB upload and a 3 MiB download, the
/// client on a dual-stack socket (IPv4 peers through mapped addresses),
/// with system-call timing on.
#[test]
fn our_client_and_server_move_megabytes_through_the_loop() {
    let certs = Certs::new();
    let (server, thread) = spawn_server(&certs, &loopback(), BATCH);
    let mut params = Params::default();
    params.family = AddressFamily::DualStack;
    params.syscall_stats = Some(Duration::from_millis(1));
    let report = run_client(&params, plan(&certs, server, MIB, 3 * MIB), BATCH);
    let served = thread.join().unwrap_or_else(|e| panic!("our server: {e}"));

    assert_eq!(report.completed, 1);
    assert_eq!(report.close, Some(ConnectionError::LocallyClosed));
    assert_eq!(served.completed, 1);
    assert!(
        closed_by_peer_with_zero(&served.close),
        "{:?}",
        served.close
    );
    assert!(report.local[0].is_ipv6(), "{:?}", report.local);
    // Path MTU discovery reached its bound through quinn-udp sockets.
    assert_eq!(report.path_mtu, 1452);
    // The server saw us as plain IPv4, not as a mapped address.
    assert!(
        served.remotes.iter().all(SocketAddr::is_ipv4),
        "{:?}",
        served.remotes
    );
    let syscalls = report.io.syscalls.expect("timed");
    assert!(
        syscalls.send.calls > 0 && syscalls.recv.calls > 0,
        "{syscalls:?}"
    );
    assert!(syscalls.send.max <= syscalls.send.total);
    assert!(report.syscall_reports > 0);
    assert!(report.io.datagrams_received > 3 * MIB as u64 / 1500);
    assert!(served.io.datagrams_received > MIB as u64 / 1500);
    eprintln!("client {:?}\nserver {:?}", report.io, served.io);
}

#[test]
fn quinn_client_against_our_loop_server() {
    let certs = Certs::new();
    let (server, thread) = spawn_server(&certs, &loopback(), BATCH);
    let rt = quinn_peer::runtime();
    let quinn = quinn_peer::spawn_client(&rt, &certs, server, 512 * 1024, 2 * MIB);
    quinn_peer::join(&rt, quinn);
    let served = thread.join().unwrap_or_else(|e| panic!("our server: {e}"));
    assert_eq!(served.completed, 1);
    assert!(
        closed_by_peer_with_zero(&served.close),
        "{:?}",
        served.close
    );
}

#[test]
fn our_loop_client_against_quinn_server() {
    let certs = Certs::new();
    let rt = quinn_peer::runtime();
    let (server, quinn) = quinn_peer::spawn_server(&rt, &certs);
    let report = run_client(
        &loopback(),
        plan(&certs, server, 2 * MIB, 512 * 1024),
        BATCH,
    );
    assert_eq!(report.completed, 1);
    let close = quinn_peer::join(&rt, quinn);
    assert!(
        matches!(&close, quinn::ConnectionError::ApplicationClosed(c) if c.error_code == 0u32.into()),
        "{close:?}"
    );
}

/// The first GSO send fails as with EIO: the server falls back to one
/// datagram per call, tells its endpoint, and keeps the fallback for the
/// rest of a 3 MiB download that arrives whole.
#[test]
fn eio_from_gso_falls_back_for_good() {
    let certs = Certs::new();
    let mut params = loopback();
    params.simulated_eio = 1;
    let (server, thread) = spawn_server(&certs, &params, BATCH);
    let report = run_client(&loopback(), plan(&certs, server, 64 * 1024, 3 * MIB), BATCH);
    let served = thread.join().unwrap_or_else(|e| panic!("our server: {e}"));
    assert_eq!(report.completed, 1);
    if !served.gso_at_ready {
        eprintln!("no GSO on this platform: nothing to fall back from");
        return;
    }
    assert_eq!(served.io.gso_failures, 1, "{:?}", served.io);
    assert_eq!(served.io.gso_sends, 0, "a GSO send after the fallback");
    assert_eq!(served.io.datagrams_sent, served.io.send_calls);
    assert!(!served.gso_at_end);
    // The client, without simulated failures, kept batching.
    assert!(report.gso_at_end);
}

/// IPv6 loopback if this host has it, else IPv4's.
fn loopback_v6_if_any() -> Params {
    match std::net::UdpSocket::bind((Ipv6Addr::LOCALHOST, 0)) {
        Ok(_) => Params::bound_to(Ipv6Addr::LOCALHOST.into(), 0),
        Err(_) => loopback(),
    }
}

/// The same download with the server batching up to 10 datagrams per send
/// and with GSO disabled: identical bytes arrive. The server is on IPv6
/// loopback (where there is one) and the client has the default sockets,
/// one per family.
#[test]
fn gso_on_and_off_deliver_identical_bytes() {
    let certs = Certs::new();
    let mut digests = Vec::new();
    for disable in [false, true] {
        let mut params = loopback_v6_if_any();
        params.disable_gso = disable;
        let (server, thread) = spawn_server(&certs, &params, BATCH);
        let client = Params::default();
        let report = run_client(&client, plan(&certs, server, 64 * 1024, 3 * MIB), BATCH);
        let served = thread.join().unwrap_or_else(|e| panic!("our server: {e}"));
        assert_eq!(report.completed, 1);
        assert!(report.local.len() <= 2, "{:?}", report.local);
        assert!(served
            .remotes
            .iter()
            .all(|r| r.is_ipv4() == server.is_ipv4()));
        digests.push(report.response_digest.unwrap());
        let io = &served.io;
        if disable {
            assert_eq!(io.gso_sends, 0);
            assert_eq!(io.datagrams_sent, io.send_calls);
            assert!(!served.gso_at_ready);
        } else if served.gso_at_ready {
            assert!(io.gso_sends > 0, "{io:?}");
            assert!(io.datagrams_sent > io.send_calls, "{io:?}");
        }
        eprintln!("disable_gso={disable}: server {io:?}");
    }
    assert_eq!(digests[0], digests[1]);
}

/// The client opens an extra socket on another port and moves its sends
/// there mid-download: the server follows the new address (NAT rebinding
/// as the server sees it) and the download completes.
#[test]
fn a_client_moves_to_its_extra_socket_mid_transfer() {
    let certs = Certs::new();
    let (server, thread) = spawn_server(&certs, &loopback(), BATCH);
    let mut params = loopback();
    params.extra_port = Some(0);
    let mut plan = plan(&certs, server, 16 * 1024, 2 * MIB);
    plan.migrate_after = Some(256 * 1024);
    let report = run_client(&params, plan, BATCH);
    let served = thread.join().unwrap_or_else(|e| panic!("our server: {e}"));
    assert_eq!(report.completed, 1);
    assert_eq!(report.local.len(), 2);
    assert_eq!(served.remotes, report.local, "the server followed us");
}

// ---- the network thread, driven from another thread -----------------------------

/// What the test thread asks of the client's network thread.
enum Command {
    Connect(SocketAddr),
    Write(Vec<u8>),
    Finish,
    Close,
}

/// What the network thread tells the test thread.
#[derive(Debug, PartialEq)]
enum Note {
    Connected,
    Response { len: usize, digest: [u8; 32] },
}

/// A client whose every move comes as a command through its inbox.
struct Remote {
    inbox: Inbox<Command>,
    notes: mpsc::Sender<Note>,
    config: ClientConfig,
    handle: Option<ConnectionHandle>,
    stream: Option<StreamId>,
    /// Bytes commanded but not yet taken by the stream, and whether FIN is.
    queue: VecDeque<Vec<u8>>,
    finish: bool,
    incoming: Incoming,
    wakes: usize,
    deadline: Instant,
}

impl Remote {
    fn pump(&mut self, cx: &mut Context<'_>) -> Result<(), String> {
        let (Some(handle), Some(id)) = (self.handle, self.stream) else {
            return Ok(());
        };
        let conn = cx.endpoint.connection(handle).ok_or("gone")?;
        while let Some(front) = self.queue.front_mut() {
            match conn.write(id, front) {
                Ok(n) if n == front.len() => {
                    self.queue.pop_front();
                }
                Ok(0) | Err(WriteError::Blocked) => return Ok(()),
                Ok(n) => {
                    front.drain(..n);
                }
                Err(e) => return Err(e.to_string()),
            }
        }
        if self.finish {
            self.finish = false;
            conn.finish(id).map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}

impl Callbacks for Remote {
    type Output = usize;
    type Error = String;

    fn wake(&mut self, cx: &mut Context<'_>) -> Flow<usize, String> {
        self.wakes += 1;
        let commands: Vec<Command> = self.inbox.drain().collect();
        for command in commands {
            match command {
                Command::Connect(server) => {
                    let h = cx
                        .endpoint
                        .connect(cx.now, &self.config, server, "localhost");
                    self.handle = Some(h.map_err(|e| e.to_string())?);
                }
                Command::Write(data) => self.queue.push_back(data),
                Command::Finish => self.finish = true,
                Command::Close => {
                    let conn = cx.endpoint.connection(self.handle.ok_or("no connection")?);
                    conn.ok_or("gone")?
                        .close(cx.now, VarInt::from_u32(0), b"done");
                }
            }
        }
        self.pump(cx)?;
        Ok(LoopControl::Continue)
    }

    fn event(
        &mut self,
        cx: &mut Context<'_>,
        handle: ConnectionHandle,
        event: Event,
    ) -> Flow<usize, String> {
        let Some(conn) = cx.endpoint.connection(handle) else {
            return match event {
                Event::Drained => Ok(LoopControl::Exit(self.wakes)),
                _ => Ok(LoopControl::Continue),
            };
        };
        match event {
            Event::Connected => {
                self.stream = Some(conn.open_stream(Dir::Bi).map_err(|e| e.to_string())?);
                self.notes
                    .send(Note::Connected)
                    .map_err(|e| e.to_string())?;
            }
            Event::Stream(StreamEvent::Writable { .. }) => self.pump(cx)?,
            Event::Stream(StreamEvent::Readable { id }) => {
                while let Some((chunk, fin)) =
                    conn.read_chunk(id, usize::MAX).map_err(|e| e.to_string())?
                {
                    self.incoming.update(&chunk);
                    if fin {
                        let incoming = std::mem::take(&mut self.incoming);
                        let len = incoming.len;
                        let note = Note::Response {
                            len,
                            digest: incoming.finish(),
                        };
                        self.notes.send(note).map_err(|e| e.to_string())?;
                        break;
                    }
                    if chunk.is_empty() {
                        break;
                    }
                }
            }
            Event::Drained => return Ok(LoopControl::Exit(self.wakes)),
            _ => {}
        }
        Ok(LoopControl::Continue)
    }

    fn time_check(
        &mut self,
        cx: &mut Context<'_>,
        wake: &mut Option<Instant>,
    ) -> Flow<usize, String> {
        if cx.now >= self.deadline {
            return Err("deadline passed".into());
        }
        *wake = Some(wake.map_or(self.deadline, |w| w.min(self.deadline)));
        Ok(LoopControl::Continue)
    }
}

/// The client runs on a network thread; this thread connects it, streams a
/// 1 MiB request to it in 64 KiB commands, and closes it, each command
/// waking the loop.
#[test]
fn the_network_thread_takes_commands_from_another_thread() {
    let certs = Certs::new();
    let (server, server_thread) = spawn_server(&certs, &loopback(), BATCH);
    let socket_loop = SocketLoop::bind(&loopback()).unwrap();
    let (commands, inbox) = quic_io_std::commands(socket_loop.waker());
    let (notes_tx, notes) = mpsc::channel();
    let remote = Remote {
        inbox,
        notes: notes_tx,
        config: our_client(&certs),
        handle: None,
        stream: None,
        queue: VecDeque::new(),
        finish: false,
        incoming: Incoming::default(),
        wakes: 0,
        deadline: quic_io_std::now() + DEADLINE,
    };
    let client = socket_loop.spawn(endpoint(2, None, BATCH), remote).unwrap();

    commands.send(Command::Connect(server)).unwrap();
    assert_eq!(notes.recv_timeout(DEADLINE).unwrap(), Note::Connected);
    let download = 2 * MIB;
    let data = request(MIB, download);
    // The commands come from one more thread, through a clone.
    let sender = commands.clone();
    let chunks: Vec<Vec<u8>> = data.chunks(64 * 1024).map(<[u8]>::to_vec).collect();
    let n = chunks.len();
    std::thread::scope(|s| {
        s.spawn(move || {
            for chunk in chunks {
                sender.send(Command::Write(chunk)).unwrap();
            }
            sender.send(Command::Finish).unwrap();
        });
    });
    let want = response(&sha256(&data), download);
    assert_eq!(
        notes.recv_timeout(DEADLINE).unwrap(),
        Note::Response {
            len: want.len(),
            digest: sha256(&want)
        }
    );
    commands.send(Command::Close).unwrap();
    let wakes = client.join().unwrap_or_else(|e| panic!("our client: {e}"));
    assert!(
        wakes >= 2 && wakes <= n + 3,
        "{wakes} wake-ups for {n} writes"
    );
    let served = server_thread
        .join()
        .unwrap_or_else(|e| panic!("our server: {e}"));
    assert_eq!(served.completed, 1);
    // The loop is gone: commands come back.
    assert!(matches!(
        commands.send(Command::Finish),
        Err(quic_io_std::SendError::Closed(Command::Finish))
    ));
}
