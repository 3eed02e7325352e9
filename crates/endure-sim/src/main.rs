//! `endure-sim`: runs seeds of the cluster simulation; prints a failing seed's transcript.

use anyhow::{Result, bail};
use clap::Parser;
use std::time::Duration;

/// Deterministic simulation of an Endure cluster under faults.
#[derive(Parser)]
struct Args {
    /// First seed.
    #[arg(long, default_value_t = 0)]
    from: u64,
    /// How many seeds.
    #[arg(long, default_value_t = 100)]
    seeds: u64,
    /// Run only this seed and print its transcript.
    #[arg(long)]
    seed: Option<u64>,
    /// Workflows per run.
    #[arg(long, default_value_t = 12)]
    workflows: u32,
    /// Simulated seconds of faults per run.
    #[arg(long, default_value_t = 60)]
    fault_window: u64,
}

fn main() -> Result<()> {
    let args = Args::parse();
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .without_time()
            .init();
    }
    let config = endure_sim::Config {
        workflows: args.workflows,
        fault_window: Duration::from_secs(args.fault_window),
        ..Default::default()
    };
    if let Some(seed) = args.seed {
        let report = endure_sim::run_seed(seed, &config)?;
        print!("{}", report.transcript);
        println!("seed {seed}: ok, faults {:?}", report.faults);
        return Ok(());
    }
    let mut failed = Vec::new();
    for seed in args.from..args.from + args.seeds {
        match endure_sim::run_seed(seed, &config) {
            Ok(r) => println!("seed {seed}: ok ({} workflows, faults {:?})", r.completed, r.faults),
            Err(v) => {
                println!("seed {seed}: VIOLATION: {}", v.what);
                failed.push(seed);
            }
        }
    }
    if !failed.is_empty() {
        bail!(
            "{} seeds broke an invariant: {failed:?} (rerun one with --seed N for its transcript)",
            failed.len()
        );
    }
    Ok(())
}
