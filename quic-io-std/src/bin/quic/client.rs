//! `quic client`: fetches hq-interop URLs, one connection per host:port.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use quic_io_std::apps::hq::{self, HqClient, HqUrl, Output, RequestError, RequestState};
use quic_io_std::Params;
use quic_proto::endpoint::ConnectionHandle;

use crate::common::{self, describe_close, Driver, Result, TrustArgs};
use crate::progress::ProgressArgs;

/// `quic client`.
#[derive(Clone, Debug, Args)]
pub struct ClientArgs {
    /// URLs to fetch, such as https://host:4433/path (port 443 if none).
    #[arg(required = true, value_name = "URL")]
    pub urls: Vec<String>,
    /// Save the files in this directory (default: the current one).
    #[arg(long, value_name = "DIR", conflicts_with = "discard")]
    pub out: Option<PathBuf>,
    /// Count the bytes, save nothing.
    #[arg(long)]
    pub discard: bool,
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

/// A request that never got a connection.
struct Unsent {
    url: HqUrl,
    reason: String,
}

pub fn run(args: ClientArgs) -> Result<()> {
    let urls = args
        .urls
        .iter()
        .map(|u| HqUrl::parse(u).map_err(|e| e.to_string()))
        .collect::<Result<Vec<_>>>()?;
    common::check_keylog(args.keylog);
    let verification = args.trust.verification()?;
    let config = common::client_config(
        &verification,
        hq::ALPN,
        args.keylog,
        args.timeout,
        common::bulk_transport(),
    )?;
    let output = match (&args.out, args.discard) {
        (_, true) => Output::Discard,
        (Some(dir), false) => Output::Directory(dir.clone()),
        (None, false) => Output::Directory(PathBuf::from(".")),
    };

    let params = Params::default();
    let mut socket_loop = common::bind(&params, "the client")?;
    let mut endpoint = common::endpoint(&params, None);
    let mut client = HqClient::new(output);
    // Which authority each connection serves, and the URLs that got none.
    let mut authorities: HashMap<String, ConnectionHandle> = HashMap::new();
    let mut handles: HashMap<ConnectionHandle, (String, std::net::SocketAddr)> = HashMap::new();
    let mut unsent = Vec::new();
    let start = quic_io_std::now();
    for (authority, group) in HqUrl::group(&urls) {
        let Some(first) = group.first() else {
            continue;
        };
        let host = first.host.clone();
        let connected = common::resolve(&host, first.port).and_then(|remote| {
            client
                .connect(&mut endpoint, start, &config, remote, &host, group.clone())
                .map(|handle| (handle, remote))
                .map_err(|e| format!("cannot connect to {authority}: {e}"))
        });
        match connected {
            Ok((handle, remote)) => {
                authorities.insert(authority.clone(), handle);
                handles.insert(handle, (authority, remote));
            }
            Err(reason) => unsent.extend(group.into_iter().map(|url| Unsent {
                url,
                reason: reason.clone(),
            })),
        }
    }

    let mut driver =
        Driver::client(client, &args.progress, None).handshake_deadline(start + args.timeout);
    for (&handle, conn) in &handles {
        driver.watch(handle, conn.1);
    }
    if !authorities.is_empty() {
        common::run_loop(&mut socket_loop, &mut endpoint, &mut driver)?;
    }
    let elapsed = common::secs(start, quic_io_std::now());

    // The report: one line per URL, in the order given, then a summary.
    let mut failures: Vec<String> = Vec::new();
    let mut fetched = 0;
    let mut bytes = 0;
    let mut reports: Vec<Option<_>> = driver.app.requests().map(Some).collect();
    for url in &urls {
        if let Some(u) = unsent.iter().find(|u| u.url == *url) {
            say!("{url}: failed: {}", u.reason);
            failures.push(u.reason.clone());
            continue;
        }
        // The requests are in connection order: take this URL's first.
        let Some(report) = reports
            .iter_mut()
            .find(|r| r.is_some_and(|r| r.url == *url))
            .and_then(Option::take)
        else {
            continue;
        };
        bytes += report.bytes;
        match &report.state {
            RequestState::Done => {
                fetched += 1;
                match &report.file {
                    Some(file) => say!("{url}: {} bytes -> {}", report.bytes, file.display()),
                    None => say!("{url}: {} bytes", report.bytes),
                }
            }
            RequestState::Failed(error) => {
                let reason = match error {
                    RequestError::Connection(e) => {
                        let authority = url.authority();
                        let info = authorities
                            .get(&authority)
                            .and_then(|h| driver.conns.get(h));
                        let connected = info.is_some_and(|i| i.connected);
                        let e = info.and_then(|i| i.error.as_ref()).unwrap_or(e);
                        describe_close(e, connected, &authority, Some(args.timeout))
                    }
                    other => other.to_string(),
                };
                say!("{url}: failed: {reason}");
                failures.push(reason);
            }
            other => {
                let reason = format!("unfinished ({other:?})");
                say!("{url}: failed: {reason}");
                failures.push(reason);
            }
        }
    }
    let mbps = if elapsed > 0.0 {
        bytes as f64 / 1e6 / elapsed
    } else {
        0.0
    };
    say!(
        "fetched {fetched} of {} URLs, {bytes} bytes in {elapsed:.3} s ({mbps:.1} MB/s)",
        urls.len()
    );
    let mut distinct: Vec<String> = Vec::new();
    for f in failures {
        if !distinct.contains(&f) {
            distinct.push(f);
        }
    }
    match distinct.as_slice() {
        [] => Ok(()),
        [one] if fetched == 0 => Err(one.clone()),
        _ => Err(format!(
            "{} of {} URLs failed",
            urls.len() - fetched,
            urls.len()
        )),
    }
}
