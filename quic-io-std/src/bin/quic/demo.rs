//! `quic demo`: a perf server on a network thread and a client in this
//! thread, over loopback, with a certificate made on the fly.

use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::sync::Arc;

use clap::Args;
use quic_io_std::apps::demo::{self, DemoConfig, DemoSummary};
use quic_io_std::apps::perf::PerfServer;
use quic_io_std::apps::tls::{self, Verification};
use quic_io_std::apps::App;
use quic_io_std::{Callbacks, Context, Flow, Inbox, LoopControl, Params};
use quic_proto::connection::{Event, Stats};
use quic_proto::endpoint::ConnectionHandle;

use crate::common::{self, Driver, Result};
use crate::progress::ProgressArgs;

/// `quic demo`.
#[derive(Clone, Debug, Args)]
pub struct DemoArgs {
    /// Bytes to move from server to client (suffixes k, M, G, Ki, Mi, Gi).
    #[arg(long, default_value = "100M", value_parser = common::parse_size)]
    pub bytes: u64,
    /// Streams carrying them at once.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub streams: u32,
    #[command(flatten)]
    pub progress: ProgressArgs,
}

/// What the main thread tells the server's network thread.
enum Command {
    /// Return the connection's counters and end the loop.
    Stop,
}

/// The server side: a perf server that stops on command and returns its
/// connection's counters.
struct DemoServer {
    app: PerfServer,
    inbox: Inbox<Command>,
    conns: HashSet<ConnectionHandle>,
    /// The counters of the last connection closed.
    closed: Option<Stats>,
}

impl Callbacks for DemoServer {
    type Output = Option<Stats>;
    type Error = String;

    fn event(
        &mut self,
        cx: &mut Context<'_>,
        handle: ConnectionHandle,
        event: Event,
    ) -> Flow<Self::Output, String> {
        match &event {
            Event::Connected => {
                self.conns.insert(handle);
            }
            Event::Closed(_) => {
                self.closed = cx.endpoint.connection(handle).map(|c| c.stats());
                self.conns.remove(&handle);
            }
            _ => {}
        }
        self.app.handle_event(cx.endpoint, cx.now, handle, event);
        Ok(LoopControl::Continue)
    }

    fn after_send(&mut self, cx: &mut Context<'_>, _: usize) -> Flow<Self::Output, String> {
        self.app.poll(cx.endpoint, cx.now);
        Ok(LoopControl::Continue)
    }

    fn wake(&mut self, cx: &mut Context<'_>) -> Flow<Self::Output, String> {
        if let Some(Command::Stop) = self.inbox.drain().next() {
            // The client's close may still be on its way: then the live
            // connection's counters are the final ones but for the close.
            let live = self
                .conns
                .iter()
                .find_map(|&h| cx.endpoint.connection(h).map(|c| c.stats()));
            return Ok(LoopControl::Exit(self.closed.or(live)));
        }
        Ok(LoopControl::Continue)
    }
}

pub fn run(args: DemoArgs) -> Result<()> {
    let start = quic_io_std::now();
    let demo = DemoConfig::new(args.bytes, args.streams as usize);
    let made = tls::self_signed(&["localhost"]).map_err(|e| e.to_string())?;
    let mut server_config =
        tls::server_config(&made.identity, &[demo::ALPN], false).map_err(|e| e.to_string())?;
    server_config.transport = Arc::new(common::bulk_transport());
    let roots = Verification::Roots(made.identity.chain.clone());
    let client_config = common::client_config(
        &roots,
        demo::ALPN,
        false,
        std::time::Duration::from_secs(10),
        common::bulk_transport(),
    )?;

    // The server on its network thread.
    let params = Params::bound_to(Ipv4Addr::LOCALHOST.into(), 0);
    let server_loop = common::bind(&params, "the demo server")?;
    let server_addr = server_loop.local_addrs()[0];
    let (commands, inbox) = quic_io_std::commands(server_loop.waker());
    let server = DemoServer {
        app: demo.server(),
        inbox,
        conns: HashSet::new(),
        closed: None,
    };
    let server_endpoint = common::endpoint(&params, Some(server_config));
    let thread = server_loop
        .spawn(server_endpoint, server)
        .map_err(|e| format!("cannot start the server thread: {e}"))?;

    // The client here.
    let mut client_loop = common::bind(&params, "the demo client")?;
    let client_addr = client_loop.local_addrs()[0];
    say!(
        "quic demo: {} bytes over {} stream(s), server {server_addr} (network thread), client {client_addr}",
        demo.total_bytes, demo.streams
    );
    let mut endpoint = common::endpoint(&params, None);
    let mut client = demo.client();
    client
        .connect(
            &mut endpoint,
            quic_io_std::now(),
            &client_config,
            server_addr,
            "localhost",
        )
        .map_err(|e| format!("cannot connect: {e}"))?;
    let total = (demo.total_bytes > 0).then_some(demo.total_bytes);
    let mut driver = Driver::client(client, &args.progress, total);
    let ran = common::run_loop(&mut client_loop, &mut endpoint, &mut driver);

    // Stop the server whatever happened, then report.
    let stopped = commands.send(Command::Stop);
    let server_stats = match (stopped, thread.join()) {
        (Ok(()), Ok(stats)) => stats,
        (Err(e), _) => return Err(format!("cannot stop the server thread: {e}")),
        (_, Err(e)) => return Err(format!("the server failed: {e}")),
    };
    ran?;
    let end = quic_io_std::now();
    let summary = DemoSummary::new(&driver.app.report(), server_stats.as_ref());
    say!("{summary}");
    let wall = common::secs(start, end);
    say!(
        "wall clock: {wall:.3} s from start to exit, setup and handshake included ({:.3} Gbit/s)",
        quic_io_std::apps::perf::gbps(summary.bytes, end.saturating_duration_since(start))
    );
    if !summary.complete {
        return Err(summary
            .errors
            .first()
            .cloned()
            .unwrap_or_else(|| "the transfer did not complete".into()));
    }
    Ok(())
}
