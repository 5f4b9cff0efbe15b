//! Runs the simulator's scenario suite over many seeds.
//!
//! ```text
//! cargo run --release -p quic-tests --bin sim-sweep -- [--preset NAME]... [--seeds N] [--first S] [--seed S] [--verbose]
//! ```
//!
//! Every preset of `quic_tests::sim_suite::PRESETS` (or the ones named) is
//! played for seeds `first..first + N` (default 1..=100), or for the one
//! `--seed`. A run that fails the suite's check, or panics, is printed with
//! its report and the command that replays it; the exit status is non-zero
//! if any failed. A summary per preset gives completion times and goodput.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::process::ExitCode;
use std::time::Duration;

use quic_tests::sim_suite::{check, tls, Preset, PRESETS};

struct Args {
    presets: Vec<&'static Preset>,
    seeds: Vec<u64>,
    verbose: bool,
}

fn parse() -> Result<Args, String> {
    let mut presets = Vec::new();
    let (mut first, mut count, mut one) = (1u64, 100u64, None);
    let mut verbose = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match a.as_str() {
            "--preset" => {
                let name = value("--preset")?;
                let p = quic_tests::sim_suite::preset(&name).ok_or_else(|| {
                    let names: Vec<_> = PRESETS.iter().map(|p| p.name).collect();
                    format!("no preset {name}; presets: {}", names.join(", "))
                })?;
                presets.push(p);
            }
            "--seeds" => {
                count = value("--seeds")?
                    .parse()
                    .map_err(|e| format!("--seeds: {e}"))?
            }
            "--first" => {
                first = value("--first")?
                    .parse()
                    .map_err(|e| format!("--first: {e}"))?
            }
            "--seed" => {
                one = Some(
                    value("--seed")?
                        .parse()
                        .map_err(|e| format!("--seed: {e}"))?,
                )
            }
            "--verbose" | "-v" => verbose = true,
            "--help" | "-h" => {
                let names: Vec<_> = PRESETS.iter().map(|p| p.name).collect();
                return Err(format!(
                    "usage: sim-sweep [--preset NAME]... [--seeds N] [--first S] [--seed S] [--verbose]\npresets: {}",
                    names.join(", ")
                ));
            }
            other => return Err(format!("unknown argument {other} (try --help)")),
        }
    }
    if presets.is_empty() {
        presets = PRESETS.iter().collect();
    }
    let seeds = match one {
        Some(s) => vec![s],
        None => (first..first.saturating_add(count)).collect(),
    };
    Ok(Args {
        presets,
        seeds,
        verbose: verbose || one.is_some(),
    })
}

fn main() -> ExitCode {
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let tls = tls();
    let mut failed = 0usize;
    for preset in &args.presets {
        let mut times = Vec::new();
        let mut goodputs = Vec::new();
        let mut fails = Vec::new();
        for &seed in &args.seeds {
            let outcome = catch_unwind(AssertUnwindSafe(|| preset.run(&tls, seed)));
            let verdict = match &outcome {
                Ok(report) => check(report),
                Err(panic) => Err(panic_message(panic.as_ref())),
            };
            if let Ok(report) = &outcome {
                if args.verbose {
                    println!("{}: {report}", preset.name);
                }
                if let Some(t) = report.completed {
                    times.push(t);
                }
                if let Some(g) = report.goodput_bps() {
                    goodputs.push(g);
                }
            }
            if let Err(why) = verdict {
                println!("FAIL {} seed {seed}: {why}", preset.name);
                if let Ok(report) = &outcome {
                    println!("  {report}");
                }
                println!("  replay: {}", preset.replay_command(seed));
                fails.push(seed);
            }
        }
        failed += fails.len();
        summarize(preset, args.seeds.len(), &fails, &mut times, &mut goodputs);
    }
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn summarize(
    preset: &Preset,
    runs: usize,
    fails: &[u64],
    times: &mut [Duration],
    goodputs: &mut [f64],
) {
    times.sort();
    goodputs.sort_by(f64::total_cmp);
    let pick = |p: f64| times.get(((times.len() as f64 - 1.0) * p).round() as usize);
    println!(
        "{:<12} {runs} seeds, {} failed{}; completion median {:?}, p90 {:?}, max {:?}; goodput median {:.2} Mbit/s",
        preset.name,
        fails.len(),
        if fails.is_empty() { String::new() } else { format!(" {fails:?}") },
        pick(0.5).copied().unwrap_or_default(),
        pick(0.9).copied().unwrap_or_default(),
        times.last().copied().unwrap_or_default(),
        goodputs.get(goodputs.len() / 2).copied().unwrap_or(0.0) / 1e6,
    );
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    let text = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic".into());
    format!("panicked: {text}")
}
