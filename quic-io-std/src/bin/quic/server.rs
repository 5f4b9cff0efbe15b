//! `quic server` (hq-interop and perf) and `quic perf server` (perf).

use std::path::PathBuf;

use clap::Args;
use quic_io_std::apps::hq::{self, HqServer};
use quic_io_std::apps::perf::{self, PerfServer};
use quic_io_std::apps::tls::{self, CertifiedKey};
use quic_io_std::apps::AlpnRouter;

use crate::common::{self, addr_list, Driver, ListenArgs, Result};

/// The server's certificate.
#[derive(Clone, Debug, Args)]
pub struct IdentityArgs {
    /// Certificate chain (PEM). Without --cert/--key a self-signed
    /// certificate for localhost, 127.0.0.1 and ::1 is made.
    #[arg(long, value_name = "FILE", requires = "key")]
    pub cert: Option<PathBuf>,
    /// Private key (PEM: PKCS#8, RSA or EC).
    #[arg(long, value_name = "FILE", requires = "cert")]
    pub key: Option<PathBuf>,
    /// Save the self-signed certificate (PEM) here, for clients' --ca.
    #[arg(long, value_name = "FILE", conflicts_with = "cert")]
    pub cert_out: Option<PathBuf>,
}

/// Options common to both servers.
#[derive(Clone, Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub listen: ListenArgs,
    #[command(flatten)]
    pub identity: IdentityArgs,
    /// Validate client addresses with a Retry before accepting connections.
    #[arg(long)]
    pub retry: bool,
    /// Log TLS secrets to the file SSLKEYLOGFILE names (for Wireshark).
    #[arg(long)]
    pub keylog: bool,
    /// Print only the listening line, not connections and requests.
    #[arg(long, short)]
    pub quiet: bool,
}

/// `quic server`.
#[derive(Clone, Debug, Args)]
pub struct ServerArgs {
    /// Serve the files under this directory (a directory serves its
    /// index.html).
    #[arg(long, value_name = "DIR")]
    pub root: PathBuf,
    #[command(flatten)]
    pub serve: ServeArgs,
}

/// `quic perf server`.
#[derive(Clone, Debug, Args)]
pub struct PerfServerArgs {
    #[command(flatten)]
    pub serve: ServeArgs,
}

/// Serves hq-interop from `--root` and perf, until the process is ended.
pub fn run(args: ServerArgs) -> Result<()> {
    let quiet = args.serve.quiet;
    let hq = HqServer::new(&args.root).map_err(|e| e.to_string())?;
    let hq = if quiet {
        hq
    } else {
        hq.on_log(|entry| say!("{entry}"))
    };
    let router = AlpnRouter::new()
        .route(hq::ALPN, Box::new(hq))
        .route(perf::ALPN, Box::new(PerfServer::new()));
    serve(&args.serve, router)
}

/// Serves perf until the process is ended.
pub fn run_perf(args: PerfServerArgs) -> Result<()> {
    let router = AlpnRouter::new().route(perf::ALPN, Box::new(PerfServer::new()));
    serve(&args.serve, router)
}

fn serve(args: &ServeArgs, router: AlpnRouter) -> Result<()> {
    common::check_keylog(args.keylog);
    let (identity, about_cert) = identity(&args.identity)?;
    let alpns = router.alpns();
    let alpn_refs: Vec<&[u8]> = alpns.iter().map(Vec::as_slice).collect();
    let mut config =
        tls::server_config(&identity, &alpn_refs, args.keylog).map_err(|e| e.to_string())?;
    config.retry = args.retry;
    config.transport = std::sync::Arc::new(common::bulk_transport());

    let params = args.listen.params();
    let mut socket_loop = common::bind(&params, "the server")?;
    let names: Vec<String> = alpns
        .iter()
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    // The first line, which scripts and tests read for the port.
    say!(
        "listening on {} ({})",
        addr_list(&socket_loop.local_addrs()),
        names.join(", ")
    );
    for line in about_cert {
        say!("{line}");
    }
    if args.retry {
        say!("retry: on (clients' addresses are validated first)");
    }
    let mut endpoint = common::endpoint(&params, Some(config));
    let mut driver = Driver::server(router, !args.quiet);
    common::run_loop(&mut socket_loop, &mut endpoint, &mut driver)
}

/// The certificate to present, and lines telling about it.
fn identity(args: &IdentityArgs) -> Result<(CertifiedKey, Vec<String>)> {
    if let (Some(cert), Some(key)) = (&args.cert, &args.key) {
        let identity = tls::load_certified_key(cert, key).map_err(|e| e.to_string())?;
        // rustls checks that the key matches the certificate.
        tls::server_config(&identity, &[b"check"], false).map_err(|e| {
            format!(
                "{} and {} do not make a usable identity: {e}",
                cert.display(),
                key.display()
            )
        })?;
        let line = format!("certificate: {}", cert.display());
        return Ok((identity, vec![line]));
    }
    let names = ["localhost", "127.0.0.1", "::1"];
    let made = tls::self_signed(&names).map_err(|e| e.to_string())?;
    let mut lines = vec![format!(
        "certificate: self-signed for {}, SHA-256 {}",
        names.join(", "),
        fingerprint(made.identity.chain.first().map_or(&[][..], |c| c.as_ref()))
    )];
    match &args.cert_out {
        Some(path) => {
            std::fs::write(path, &made.cert_pem)
                .map_err(|e| format!("cannot save the certificate to {}: {e}", path.display()))?;
            lines.push(format!(
                "certificate saved to {} (clients: --ca {})",
                path.display(),
                path.display()
            ));
        }
        None => {
            lines.push("clients: --insecure, or --cert-out FILE here and --ca FILE there".into())
        }
    }
    Ok((made.identity, lines))
}

/// The SHA-256 digest of `der` as colon-separated hex (ring's, through
/// rustls' TLS 1.3 suite).
fn fingerprint(der: &[u8]) -> String {
    let Some(suite) = rustls::crypto::ring::cipher_suite::TLS13_AES_128_GCM_SHA256.tls13() else {
        return "(unavailable)".into();
    };
    let digest = suite.common.hash_provider.hash(der);
    let hex: Vec<String> = digest.as_ref().iter().map(|b| format!("{b:02X}")).collect();
    hex.join(":")
}
