//! `quic`: the command-line tool of quic-io-std (feature `cli`).
//!
//! - `quic demo`: a server and a client over loopback in this process, a
//!   transfer checked byte by byte, a summary.
//! - `quic server` / `quic client`: hq-interop (HTTP/0.9 over QUIC), the
//!   protocol of the QUIC interop runner; the server answers perf too.
//! - `quic perf server` / `quic perf client`: throughput measurement.
//!
//! Results go to stdout, progress bars and errors to stderr; a failure
//! ends with one `error: ...` line and exit code 1 (2 for bad arguments).

/// `println!` that ignores a closed stdout (`quic server | head -1` must
/// not kill the server).
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

mod client;
mod common;
mod demo;
mod perf;
mod progress;
mod server;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// A QUIC transport's tools: a loopback demo, an hq-interop server and
/// client, and a throughput meter.
#[derive(Debug, Parser)]
#[command(name = "quic", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a server and a client over loopback in this process and move
    /// data between them (100 MB by default), checking every byte.
    Demo(demo::DemoArgs),
    /// Serve the files under a directory over hq-interop (and perf).
    Server(server::ServerArgs),
    /// Fetch https:// URLs over hq-interop, one connection per host:port.
    Client(client::ClientArgs),
    /// Measure throughput with the perf protocol.
    Perf {
        #[command(subcommand)]
        command: PerfCommand,
    },
}

#[derive(Debug, Subcommand)]
enum PerfCommand {
    /// Answer perf requests.
    Server(server::PerfServerArgs),
    /// Ask a perf server for data and report the throughput.
    Client(perf::PerfClientArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo(args) => demo::run(args),
        Command::Server(args) => server::run(args),
        Command::Client(args) => client::run(args),
        Command::Perf { command } => match command {
            PerfCommand::Server(args) => server::run_perf(args),
            PerfCommand::Client(args) => perf::run(args),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_argument_definitions_are_consistent() {
        super::Cli::command().debug_assert();
    }
}
