//! `quic perf client`: asks a perf server for data, reports Gbit/s.

use std::time::Duration;

use clap::Args;
use quic_io_std::apps::perf::{self, PerfClient, PerfConfig};
use quic_io_std::Params;

use crate::common::{self, describe_close, Driver, Result, TrustArgs, DEFAULT_PORT};
use crate::progress::ProgressArgs;

/// `quic perf client`.
#[derive(Clone, Debug, Args)]
pub struct PerfClientArgs {
    /// The server: HOST:PORT, or HOST for port 4433.
    #[arg(value_name = "HOST:PORT")]
    pub server: String,
    /// Bytes to download in all (suffixes k, M, G, Ki, Mi, Gi).
    #[arg(long, default_value = "100M", value_parser = common::parse_size)]
    pub bytes: u64,
    /// Bytes to upload in all.
    #[arg(long, default_value = "0", value_parser = common::parse_size)]
    pub upload: u64,
    /// Streams at once, the bytes split evenly.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub streams: u32,
    /// Do not check the downloaded bytes against this tool's pattern
    /// (for other implementations' perf servers).
    #[arg(long)]
    pub no_verify: bool,
    #[command(flatten)]
    pub trust: TrustArgs,
    /// Give up on a server silent this long, the handshake included.
    #[arg(long, value_name = "SECONDS", default_value = "10", value_parser = common::parse_seconds)]
    pub timeout: Duration,
    /// Log TLS secrets to the file SSLKEYLOGFILE names (for Wireshark).
    #[arg(long)]
    pub keylog: bool,
    #[command(flatten)]
    pub progress: ProgressArgs,
}

pub fn run(args: PerfClientArgs) -> Result<()> {
    let (host, port) = common::parse_host_port(&args.server, DEFAULT_PORT)?;
    common::check_keylog(args.keylog);
    let verification = args.trust.verification()?;
    let config = common::client_config(
        &verification,
        perf::ALPN,
        args.keylog,
        args.timeout,
        common::bulk_transport(),
    )?;
    let remote = common::resolve(&host, port)?;
    let params = Params::default();
    let mut socket_loop = common::bind(&params, "the client")?;
    let mut endpoint = common::endpoint(&params, None);
    let perf_config = PerfConfig::new(args.streams as usize, args.bytes)
        .with_upload(args.upload)
        .with_verify(!args.no_verify);
    let mut client = PerfClient::new(perf_config);
    let start = quic_io_std::now();
    let handle = client
        .connect(&mut endpoint, start, &config, remote, &host)
        .map_err(|e| format!("cannot connect to {host}: {e}"))?;
    let total = (args.bytes > 0).then_some(args.bytes);
    let mut driver =
        Driver::client(client, &args.progress, total).handshake_deadline(start + args.timeout);
    driver.watch(handle, remote);
    common::run_loop(&mut socket_loop, &mut endpoint, &mut driver)?;

    let report = driver.app.report();
    let authority = format!("{host}:{port}");
    if let Some(e) = &report.connection_error {
        let info = driver.conns.get(&handle);
        let connected = info.is_some_and(|i| i.connected);
        let e = info.and_then(|i| i.error.as_ref()).unwrap_or(e);
        return Err(describe_close(e, connected, &authority, Some(args.timeout)));
    }
    say!("perf against {authority} ({remote}): {report}");
    say!(
        "throughput: {:.3} Gbit/s down, {:.3} Gbit/s up",
        report.download_gbps(),
        report.upload_gbps()
    );
    if !report.complete {
        let first = report.errors.first().cloned().unwrap_or_default();
        return Err(format!(
            "{} of {} streams failed: {first}",
            report.failed_streams, report.streams
        ));
    }
    Ok(())
}
