//! The `quic` binary (feature `cli`) run as a user would: the demo, an
//! hq-interop server and client moving files byte for byte, perf, and the
//! errors for bad input. Servers listen on 127.0.0.1 port 0 and print the
//! port on their first line. Every process has a deadline: a hang fails
//! the test and the process is killed.

use std::io::{BufRead, BufReader, Read};
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

/// What a finished `quic` run left.
#[derive(Debug)]
struct Run {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl Run {
    fn ok(&self) -> &Self {
        assert!(self.status.success(), "quic failed: {self:#?}");
        self
    }

    fn failed(&self) -> &Self {
        assert_eq!(self.status.code(), Some(1), "{self:#?}");
        // One `error: ` line, the last thing on stderr.
        let last = self.stderr.lines().last().unwrap_or("");
        assert!(last.starts_with("error: "), "{self:#?}");
        self
    }
}

fn quic(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_quic"));
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

#[allow(
    clippy::disallowed_methods,
    reason = "deadlines for the processes under test"
)]
fn now() -> std::time::Instant {
    std::time::Instant::now()
}

#[allow(
    clippy::disallowed_methods,
    reason = "pipes are read beside the process"
)]
fn spawn(f: impl FnOnce() + Send + 'static) {
    thread::spawn(f);
}

/// Reads `pipe` to its end in a thread.
fn collect(pipe: Option<impl Read + Send + 'static>) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    if let Some(mut pipe) = pipe {
        spawn(move || {
            let mut out = String::new();
            let _ = pipe.read_to_string(&mut out);
            let _ = tx.send(out);
        });
    }
    rx
}

/// Runs `quic args`, failing the test if it takes longer than `limit`.
fn run(args: &[&str], limit: Duration) -> Run {
    let mut child = quic(args).spawn().expect("start quic");
    let stdout = collect(child.stdout.take());
    let stderr = collect(child.stderr.take());
    let deadline = now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for quic") {
            break status;
        }
        if now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("quic {args:?} did not finish within {limit:?}");
        }
        thread::sleep(Duration::from_millis(10));
    };
    let text = |rx: mpsc::Receiver<String>| rx.recv_timeout(limit).unwrap_or_default();
    Run {
        status,
        stdout: text(stdout),
        stderr: text(stderr),
    }
}

const LIMIT: Duration = Duration::from_secs(30);

/// A server process, killed when dropped.
struct Server {
    child: Child,
    port: u16,
    /// Everything the server printed after its first line.
    log: mpsc::Receiver<String>,
}

impl Server {
    /// Starts `quic args` and waits for its `listening on 127.0.0.1:PORT`.
    fn start(args: &[&str]) -> Self {
        let mut child = quic(args).spawn().expect("start the server");
        let stdout = child.stdout.take().expect("stdout");
        let (first_tx, first_rx) = mpsc::channel();
        let (log_tx, log) = mpsc::channel();
        spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let first = lines.next().and_then(Result::ok).unwrap_or_default();
            let _ = first_tx.send(first);
            // Keep reading, so a chatty server never blocks on its pipe.
            for line in lines.map_while(Result::ok) {
                let _ = log_tx.send(line);
            }
        });
        let first = match first_rx.recv_timeout(LIMIT) {
            Ok(line) => line,
            Err(_) => {
                let _ = child.kill();
                panic!("the server printed nothing within {LIMIT:?}");
            }
        };
        let port = first
            .strip_prefix("listening on 127.0.0.1:")
            .and_then(|rest| rest.split(' ').next())
            .and_then(|p| p.parse().ok());
        let Some(port) = port else {
            let _ = child.kill();
            let mut stderr = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = e.read_to_string(&mut stderr);
            }
            panic!("unexpected first line {first:?}; stderr: {stderr}");
        };
        Self { child, port, log }
    }

    fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.port)
    }

    /// The lines logged so far.
    fn log_lines(&self) -> Vec<String> {
        self.log.try_iter().collect()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A fresh empty directory for one test.
fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("quic-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `len` deterministic bytes that differ per `seed`.
fn content(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (x >> 56) as u8
        })
        .collect()
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 temporary path")
}

#[test]
fn demo_moves_a_small_transfer_and_prints_the_summary() {
    let run = run(
        &["demo", "--bytes", "3M", "--streams", "3", "--no-progress"],
        LIMIT,
    );
    run.ok();
    let out = &run.stdout;
    assert!(
        out.contains("3000000 of 3000000 bytes over 3 stream(s), every byte checked: ok"),
        "{out}"
    );
    for needle in [
        "Gbit/s",
        "handshake:",
        "rtt:",
        "packets:",
        "server sent",
        "wall clock:",
    ] {
        assert!(out.contains(needle), "no {needle:?} in {out}");
    }
    // Piped: no progress bar, nothing on stderr.
    assert_eq!(run.stderr, "");
}

#[test]
fn the_client_fetches_files_byte_for_byte_and_a_missing_one_fails_alone() {
    let dir = temp_dir("fetch");
    let root = dir.join("root");
    std::fs::create_dir_all(root.join("sub")).unwrap();
    let big = content(1_500_000, 1);
    let small = content(1000, 2);
    std::fs::write(root.join("big.bin"), &big).unwrap();
    std::fs::write(root.join("sub/small.bin"), &small).unwrap();
    let cert = dir.join("cert.pem");
    let server = Server::start(&[
        "server",
        "--root",
        path_str(&root),
        "--listen",
        "127.0.0.1",
        "--port",
        "0",
        "--cert-out",
        path_str(&cert),
    ]);

    // Two files and a missing one on one connection, verified with --ca.
    let out = dir.join("out");
    let fetch = run(
        &[
            "client",
            &server.url("/big.bin"),
            &server.url("/missing.txt"),
            &server.url("/sub/small.bin"),
            "--out",
            path_str(&out),
            "--ca",
            path_str(&cert),
        ],
        LIMIT,
    );
    fetch.failed();
    assert!(
        fetch.stderr.contains("1 of 3 URLs failed"),
        "{}",
        fetch.stderr
    );
    assert!(
        fetch
            .stdout
            .contains("/missing.txt: failed: stream reset by the server with code 404 (not found)"),
        "{}",
        fetch.stdout
    );
    assert!(
        fetch.stdout.contains("fetched 2 of 3 URLs"),
        "{}",
        fetch.stdout
    );
    assert!(std::fs::read(out.join("big.bin")).unwrap() == big);
    assert!(std::fs::read(out.join("small.bin")).unwrap() == small);
    assert!(!out.join("missing.txt").exists());

    // The server kept serving: a new connection gets the file again.
    let again = dir.join("again");
    run(
        &[
            "client",
            &server.url("/big.bin"),
            "--out",
            path_str(&again),
            "--insecure",
        ],
        LIMIT,
    )
    .ok();
    assert!(std::fs::read(again.join("big.bin")).unwrap() == big);
    let log = server.log_lines().join("\n");
    assert!(log.contains("\"/missing.txt\": refused (404)"), "{log}");
    assert!(log.contains("\"/big.bin\": served 1500000 bytes"), "{log}");
    drop(server);
    let _ = std::fs::remove_dir_all(dir);
}

/// With `--retry` on the server: the client passes address validation.
#[test]
fn perf_client_against_perf_server_reports_gbits() {
    let server = Server::start(&[
        "perf",
        "server",
        "--listen",
        "127.0.0.1",
        "--port",
        "0",
        "--retry",
    ]);
    let to = format!("127.0.0.1:{}", server.port);
    let run = run(
        &[
            "perf",
            "client",
            &to,
            "--bytes",
            "2M",
            "--upload",
            "300k",
            "--streams",
            "2",
            "--insecure",
        ],
        LIMIT,
    );
    run.ok();
    assert!(
        run.stdout.contains("2000000 bytes down, 300000 up"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("Gbit/s down"), "{}", run.stdout);
}

#[test]
fn an_unreadable_certificate_is_a_clear_error() {
    let dir = temp_dir("cert");
    let missing = dir.join("missing-cert.pem");
    let run = run(
        &[
            "server",
            "--root",
            path_str(&dir),
            "--cert",
            path_str(&missing),
            "--key",
            path_str(&missing),
        ],
        LIMIT,
    );
    run.failed();
    assert!(
        run.stderr
            .contains("missing-cert.pem: cannot read the file"),
        "{}",
        run.stderr
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_port_in_use_is_a_clear_error() {
    let dir = temp_dir("port");
    let taken = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let run = run(
        &[
            "server",
            "--root",
            path_str(&dir),
            "--listen",
            "127.0.0.1",
            "--port",
            &port,
        ],
        LIMIT,
    );
    run.failed();
    assert!(run.stderr.contains("already in use"), "{}", run.stderr);
    let _ = std::fs::remove_dir_all(dir);
}

/// An untrusted certificate fails the handshake with the TLS alert named;
/// no trust option at all is refused before connecting.
#[test]
fn a_handshake_failure_names_the_tls_alert() {
    let dir = temp_dir("handshake");
    let server = Server::start(&[
        "server",
        "--root",
        path_str(&dir),
        "--listen",
        "127.0.0.1",
        "--port",
        "0",
    ]);
    let other = dir.join("other.pem");
    let made = quic_io_std::apps::tls::self_signed(&["127.0.0.1"]).unwrap();
    std::fs::write(&other, made.cert_pem).unwrap();
    let run1 = run(
        &[
            "client",
            &server.url("/x"),
            "--discard",
            "--ca",
            path_str(&other),
        ],
        LIMIT,
    );
    run1.failed();
    assert!(
        run1.stderr.contains("handshake with 127.0.0.1:") && run1.stderr.contains("TLS alert"),
        "{}",
        run1.stderr
    );
    let run2 = run(&["client", &server.url("/x"), "--discard"], LIMIT);
    run2.failed();
    assert!(run2.stderr.contains("--insecure"), "{}", run2.stderr);
    drop(server);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_silent_host_times_out_with_a_clear_error() {
    // A socket that never answers.
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let to = format!("127.0.0.1:{}", silent.local_addr().unwrap().port());
    let run1 = run(
        &["perf", "client", &to, "--insecure", "--timeout", "0.5"],
        LIMIT,
    );
    run1.failed();
    assert!(
        run1.stderr
            .contains(&format!("no response from {to} within 0.5 s")),
        "{}",
        run1.stderr
    );
}

#[test]
fn bad_arguments_are_refused_by_the_parser() {
    let run1 = run(&["demo", "--bytes", "12X"], LIMIT);
    assert_eq!(run1.status.code(), Some(2), "{run1:#?}");
    assert!(
        run1.stderr.contains("unknown size suffix"),
        "{}",
        run1.stderr
    );
    let run2 = run(&["client", "http://example.org/", "--insecure"], LIMIT);
    run2.failed();
    assert!(run2.stderr.contains("only https://"), "{}", run2.stderr);
}
