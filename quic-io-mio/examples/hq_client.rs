//! An hq-interop client in a mio loop: fetches URLs (one connection per
//! `host:port`, one stream per URL) and saves or counts the responses.
//!
//! ```text
//! cargo run -p quic-io-mio --example hq_client -- --ca /tmp/cert.pem \
//!     --output /tmp/got https://localhost:4433/a.bin https://localhost:4433/b.bin
//! ```

use std::error::Error;
use std::io;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use mio::{Events, Poll, Token};
use quic_io_mio::{Params, QuicMio};
use quic_io_std::apps::hq::{self, HqClient, HqUrl, Output, RequestState};
use quic_io_std::apps::{dispatch_events, tls, App};
use quic_proto::config::EndpointConfig;
use quic_proto::endpoint::Endpoint;

/// The first token of our UDP sockets (one per address family: 0 and 1).
const QUIC: Token = Token(0);

/// Fetches https:// URLs over hq-interop (HTTP/0.9 over QUIC).
#[derive(Parser)]
struct Args {
    /// The URLs, `https://host[:port]/path`.
    #[arg(required = true)]
    urls: Vec<HqUrl>,
    /// Save the responses in this directory (default: count their bytes).
    #[arg(long)]
    output: Option<PathBuf>,
    /// Trust the server certificates signed by these (PEM), e.g. the
    /// server's --write-cert file.
    #[arg(long)]
    ca: Option<PathBuf>,
    /// Accept any server certificate (testing only).
    #[arg(long, conflicts_with = "ca")]
    insecure: bool,
}

fn main() -> Result<ExitCode, Box<dyn Error>> {
    let args = Args::parse();
    let verification = match (&args.ca, args.insecure) {
        (Some(ca), _) => tls::Verification::Roots(tls::load_certs(ca)?),
        (None, true) => tls::Verification::Insecure,
        (None, false) => return Err("give --ca FILE, or --insecure".into()),
    };
    let client_config = tls::client_config(&verification, &[hq::ALPN], true)?;
    let params = Params::default();
    let mut config = EndpointConfig::new(random_seed()?);
    config.max_gso_segments = params.max_send_batch;

    let mut poll = Poll::new()?;
    // An IPv4 and an IPv6 socket: any URL's address family is reachable.
    let mut quic = QuicMio::bind(Endpoint::new(config, None), &params)?;
    quic.register(poll.registry(), QUIC)?;

    let output = match args.output {
        Some(dir) => Output::Directory(dir),
        None => Output::Discard,
    };
    let mut app = HqClient::new(output);
    let now = quic_io_std::now();
    for (authority, urls) in HqUrl::group(&args.urls) {
        let remote = urls[0].resolve()?;
        let host = urls[0].host.clone();
        app.connect(
            quic.endpoint_mut(),
            now,
            &client_config,
            remote,
            &host,
            urls,
        )
        .map_err(|e| format!("{authority}: {e}"))?;
    }

    let mut events = Events::with_capacity(256);
    while !app.is_done() {
        quic.flush(poll.registry(), quic_io_std::now())?;
        match poll.poll(&mut events, quic.timeout(quic_io_std::now())) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            result => result?,
        }
        let now = quic_io_std::now();
        for event in events.iter() {
            quic.on_event(poll.registry(), event, now)?;
        }
        quic.handle_timeout(now);
        dispatch_events(&mut app, quic.endpoint_mut(), now);
    }

    let mut failed = false;
    for request in app.requests() {
        match &request.state {
            RequestState::Done => match &request.file {
                Some(file) => println!(
                    "{}: {} bytes -> {}",
                    request.url,
                    request.bytes,
                    file.display()
                ),
                None => println!("{}: {} bytes", request.url, request.bytes),
            },
            state => {
                failed = true;
                let why = match state {
                    RequestState::Failed(e) => e.to_string(),
                    other => format!("{other:?}"),
                };
                println!("{}: failed: {why}", request.url);
            }
        }
    }
    let io = quic.io_stats();
    eprintln!(
        "{} datagrams received, {} sent in {} calls",
        io.datagrams_received, io.datagrams_sent, io.send_calls
    );
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// An endpoint seed from the operating system's random source.
fn random_seed() -> io::Result<u64> {
    let mut bytes = [0; 8];
    rustls::crypto::ring::default_provider()
        .secure_random
        .fill(&mut bytes)
        .map_err(|_| io::Error::other("no random numbers from the system"))?;
    Ok(u64::from_le_bytes(bytes))
}
