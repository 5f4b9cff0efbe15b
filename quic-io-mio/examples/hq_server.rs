//! An hq-interop file server in a mio loop of its own: the smallest
//! complete use of `QuicMio`.
//!
//! ```text
//! cargo run -p quic-io-mio --example hq_server -- --root ./www --write-cert /tmp/cert.pem
//! cargo run -p quic-io-mio --example hq_client -- --ca /tmp/cert.pem https://localhost:4433/index.html
//! ```
//!
//! Without `--cert`/`--key` the server makes a self-signed certificate for
//! `localhost`. It runs until killed; `mixed` shows stopping a loop from
//! another thread.

use std::error::Error;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;
use mio::net::UdpSocket;
use mio::{Events, Poll, Token};
use quic_io_mio::QuicMio;
use quic_io_std::apps::hq::{self, HqServer};
use quic_io_std::apps::{dispatch_events, tls};
use quic_proto::config::EndpointConfig;
use quic_proto::endpoint::Endpoint;

/// The token of our (single) UDP socket.
const QUIC: Token = Token(0);

/// Serves the files under a directory over hq-interop (HTTP/0.9 over QUIC).
#[derive(Parser)]
struct Args {
    /// The directory to serve.
    #[arg(long, default_value = ".")]
    root: PathBuf,
    /// The UDP address to listen on.
    #[arg(long, default_value = "127.0.0.1:4433")]
    listen: SocketAddr,
    /// The certificate chain (PEM); with --key.
    #[arg(long, requires = "key")]
    cert: Option<PathBuf>,
    /// The private key (PEM); with --cert.
    #[arg(long, requires = "cert")]
    key: Option<PathBuf>,
    /// Save the self-signed certificate here (PEM), for the client's --ca.
    #[arg(long)]
    write_cert: Option<PathBuf>,
    /// The most datagrams one GSO send carries (1: no batching).
    #[arg(long, default_value_t = 10)]
    gso: usize,
}

fn main() -> Result<(), Box<dyn Error>> {
    let args = Args::parse();
    let identity = match (&args.cert, &args.key) {
        (Some(cert), Some(key)) => tls::load_certified_key(cert, key)?,
        _ => {
            let made = tls::self_signed(&["localhost"])?;
            if let Some(path) = &args.write_cert {
                std::fs::write(path, &made.cert_pem)?;
            }
            made.identity
        }
    };
    // SSLKEYLOGFILE is honoured, for Wireshark.
    let server_config = tls::server_config(&identity, &[hq::ALPN], true)?;
    let mut config = EndpointConfig::new(random_seed()?);
    config.max_gso_segments = args.gso.max(1);
    let endpoint = Endpoint::new(config, Some(server_config));

    let mut poll = Poll::new()?;
    let mut quic = QuicMio::new(endpoint, UdpSocket::bind(args.listen)?)?;
    quic.register(poll.registry(), QUIC)?;
    let mut app = HqServer::new(&args.root)?.on_log(|entry| eprintln!("{entry}"));
    eprintln!(
        "serving {} on {} (hq-interop)",
        app.root().display(),
        quic.local_addrs()[0]
    );

    let mut events = Events::with_capacity(256);
    loop {
        // Wait for a datagram, a writable socket, or the endpoint's timer.
        match poll.poll(&mut events, quic.timeout(quic_io_std::now())) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            result => result?,
        }
        let now = quic_io_std::now();
        for event in events.iter() {
            quic.on_event(poll.registry(), event, now)?;
        }
        quic.handle_timeout(now);
        // The app reacts to the endpoint's events and writes responses...
        dispatch_events(&mut app, quic.endpoint_mut(), now);
        // ...which leave here, as do ACKs and everything else ready.
        quic.flush(poll.registry(), now)?;
    }
}

/// An endpoint seed from the operating system's random source (the seed
/// keys connection IDs and stateless resets: never a constant in a server).
fn random_seed() -> io::Result<u64> {
    let mut bytes = [0; 8];
    rustls::crypto::ring::default_provider()
        .secure_random
        .fill(&mut bytes)
        .map_err(|_| io::Error::other("no random numbers from the system"))?;
    Ok(u64::from_le_bytes(bytes))
}
