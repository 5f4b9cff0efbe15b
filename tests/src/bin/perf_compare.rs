//! `cargo run --release --bin perf-compare`: our stack against
//! quinn-proto on one in-memory harness (see `docs/performance.md`).
//!
//! Prints each figure for both stacks and their ratio; the last line is
//! one machine-readable line of `key=value` pairs. `--quick` runs a small
//! version of every figure in seconds. `--only`, `--stack` and the size
//! options select a reduced run, for profiling.

use std::alloc::System;
use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use quic_tests::perf::{self, Figure, Options, Stacks, Suite};
use stats_alloc::{StatsAlloc, INSTRUMENTED_SYSTEM};

/// Counts every allocation, for the heap figures.
#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

#[derive(Clone, Copy, Debug, ValueEnum)]
enum FigureArg {
    Bulk,
    Handshake,
    Idle,
    Floor,
    Scale,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum StackArg {
    Both,
    Ours,
    Quinn,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum SuiteArg {
    Aes128,
    Aes256,
    Chacha,
}

/// Compare quic-proto with quinn-proto: bulk throughput, handshakes, idle
/// memory, allocations, the crypto floor and scaling.
#[derive(Parser, Debug)]
#[command(name = "perf-compare")]
struct Args {
    /// A small version of every figure (seconds).
    #[arg(long)]
    quick: bool,
    /// Run only these figures (repeat or comma-separate).
    #[arg(long, value_enum, value_delimiter = ',')]
    only: Vec<FigureArg>,
    /// Run only one stack (no ratios then).
    #[arg(long, value_enum, default_value = "both")]
    stack: StackArg,
    /// Bulk suites to run (default: all three).
    #[arg(long, value_enum, value_delimiter = ',')]
    suite: Vec<SuiteArg>,
    /// MiB per bulk transfer.
    #[arg(long)]
    bulk_mib: Option<u64>,
    /// Handshakes timed.
    #[arg(long)]
    handshakes: Option<u64>,
    /// Idle connections for the heap figure.
    #[arg(long)]
    idle: Option<usize>,
    /// Idle-connection counts of the scale figure, comma-separated.
    #[arg(long, value_delimiter = ',')]
    scale: Vec<usize>,
    /// Request/response exchanges per scale level.
    #[arg(long)]
    exchanges: Option<usize>,
    /// Path MTU discovery on both stacks, each with its defaults (up to
    /// 1452-byte datagrams); without it both send 1200-byte datagrams.
    #[arg(long)]
    pmtud: bool,
}

fn options(args: &Args) -> Options {
    let mut o = if args.quick {
        Options::quick()
    } else {
        Options::full()
    };
    if !args.only.is_empty() {
        o.figures = args
            .only
            .iter()
            .map(|f| match f {
                FigureArg::Bulk => Figure::Bulk,
                FigureArg::Handshake => Figure::Handshake,
                FigureArg::Idle => Figure::Idle,
                FigureArg::Floor => Figure::Floor,
                FigureArg::Scale => Figure::Scale,
            })
            .collect();
    }
    o.stacks = match args.stack {
        StackArg::Both => Stacks::Both,
        StackArg::Ours => Stacks::Ours,
        StackArg::Quinn => Stacks::Quinn,
    };
    if !args.suite.is_empty() {
        o.suites = args
            .suite
            .iter()
            .map(|s| match s {
                SuiteArg::Aes128 => Suite::Aes128,
                SuiteArg::Aes256 => Suite::Aes256,
                SuiteArg::Chacha => Suite::Chacha,
            })
            .collect();
    }
    if let Some(m) = args.bulk_mib {
        o.bulk_bytes = m << 20;
    }
    if let Some(n) = args.handshakes {
        o.handshakes = n;
    }
    if let Some(n) = args.idle {
        o.idle = n;
    }
    o.pmtud = args.pmtud;
    if !args.scale.is_empty() {
        o.scale_levels = args.scale.clone();
    }
    if let Some(n) = args.exchanges {
        o.exchanges = n;
    }
    o
}

fn main() -> ExitCode {
    let args = Args::parse();
    let mut stdout = std::io::stdout();
    match perf::run(&options(&args), &mut stdout) {
        Ok(summary) => {
            println!("{}", summary.line());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("perf-compare failed: {e}");
            ExitCode::FAILURE
        }
    }
}
