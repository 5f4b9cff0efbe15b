//! One `mio::Poll` loop serving hq-interop over QUIC and a plain TCP echo
//! port: QUIC as one more event source in a loop the application owns.
//!
//! ```text
//! cargo run -p quic-io-mio --example mixed -- --root ./www --write-cert /tmp/cert.pem
//! cargo run -p quic-io-mio --example hq_client -- --ca /tmp/cert.pem https://localhost:4433/index.html
//! nc 127.0.0.1 7777          # anything typed comes back
//! ```
//!
//! Type `quit` on the server's standard input to stop it: another thread
//! reads it and sends a command through the loop's waker.

mod server;

use std::error::Error;
use std::io::{self, BufRead};
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;
use quic_io_mio::{Commands, QuicMio};
use quic_io_std::apps::hq::{self, HqServer};
use quic_io_std::apps::tls;
use quic_proto::config::EndpointConfig;
use quic_proto::endpoint::Endpoint;

use server::{Command, MixedServer};

/// Serves files over hq-interop and echoes TCP, from one mio loop.
#[derive(Parser)]
struct Args {
    /// The directory to serve over QUIC.
    #[arg(long, default_value = ".")]
    root: PathBuf,
    /// The UDP address of the QUIC server.
    #[arg(long, default_value = "127.0.0.1:4433")]
    quic: SocketAddr,
    /// The TCP address of the echo port.
    #[arg(long, default_value = "127.0.0.1:7777")]
    tcp: SocketAddr,
    /// Save the self-signed certificate here (PEM), for the client's --ca.
    #[arg(long)]
    write_cert: Option<PathBuf>,
}

fn main() -> Result<(), Box<dyn Error>> {
    let args = Args::parse();
    let made = tls::self_signed(&["localhost"])?;
    if let Some(path) = &args.write_cert {
        std::fs::write(path, &made.cert_pem)?;
    }
    let server_config = tls::server_config(&made.identity, &[hq::ALPN], true)?;
    let mut config = EndpointConfig::new(random_seed()?);
    config.max_gso_segments = 10;
    let endpoint = Endpoint::new(config, Some(server_config));
    let quic = QuicMio::new(endpoint, mio::net::UdpSocket::bind(args.quic)?)?;
    let app = HqServer::new(&args.root)?.on_log(|entry| eprintln!("{entry}"));
    let listener = mio::net::TcpListener::bind(args.tcp)?;

    let server = MixedServer::new(quic, app, listener)?;
    eprintln!(
        "hq-interop on {:?} (udp), echo on {} (tcp); type quit to stop",
        server.quic_addrs(),
        server.tcp_addr()?
    );
    watch_stdin(server.commands())?;
    let stats = server.run()?;
    eprintln!(
        "quic: {} requests served, {} bytes, {} datagrams sent; \
         tcp: {} connections, {} bytes echoed",
        stats.hq.served,
        stats.hq.bytes_sent,
        stats.io.datagrams_sent,
        stats.tcp_connections,
        stats.tcp_bytes_echoed
    );
    Ok(())
}

/// Stops the loop when `quit` is typed, from a thread of its own.
#[allow(
    clippy::disallowed_methods,
    reason = "an example's helper thread; the lint guards quic-proto"
)]
fn watch_stdin(commands: Commands<Command>) -> io::Result<()> {
    std::thread::Builder::new()
        .name("stdin".into())
        .spawn(move || {
            for line in io::stdin().lock().lines() {
                match line {
                    Ok(line) if line.trim() == "quit" => {
                        let _ = commands.send(Command::Stop);
                        return;
                    }
                    Ok(_) => {}
                    Err(_) => return,
                }
            }
        })?;
    Ok(())
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
