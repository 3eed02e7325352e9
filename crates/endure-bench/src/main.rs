//! `endure-bench`: a load generator that speaks raw Temporal gRPC (WorkflowService) to any
//! server, so one run measures Endure and the real Temporal server alike, and the driver behind
//! `bench/compare.sh`.
//!
//! It is its own starter and a minimal worker (poll workflow task → respond with commands, poll
//! activity task → respond completed), so the server, not an SDK, is the bottleneck. See
//! `bench/README.md`.

mod client;
mod compare;
mod load;
mod procfs;
mod scenario;
mod stats;
mod visibility;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use load::LoadOptions;
use scenario::Scenario;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "endure-bench",
    version,
    about = "Load generator for Temporal-API servers (Endure, Temporal)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run scenarios against a running server and report throughput and latency.
    Run(RunArgs),
    /// Start Endure and the Temporal dev server in turn, run the same scenarios against each,
    /// sample RSS and CPU, and print both side by side (what bench/compare.sh runs).
    Compare(Box<compare::CompareArgs>),
    /// Load runs with custom search attributes, then time list-filter queries and counts.
    Visibility(visibility::VisibilityArgs),
    /// Wait until a server answers GetSystemInfo; prints the milliseconds it took.
    Ready {
        /// Server address.
        #[arg(long, short, default_value = "127.0.0.1:7233")]
        address: String,
        /// Give up after this long.
        #[arg(long, default_value = "60s", value_parser = parse_duration)]
        timeout: Duration,
    },
}

/// Load shape shared by `run` and `compare`.
#[derive(Args, Clone, Debug)]
pub struct LoadArgs {
    /// Scenarios, comma-separated: start-only, one-activity, ten-activities, timer, signal,
    /// child, or all.
    #[arg(long, short, default_value = "one-activity", value_parser = parse_scenarios)]
    scenario: Vec<ScenarioList>,
    /// Top-level workflows to run per scenario (default 1000, or unlimited with --duration).
    #[arg(long, short)]
    workflows: Option<u64>,
    /// Most workflows in flight (started, not closed) at once.
    #[arg(long, short, default_value_t = 50)]
    concurrency: usize,
    /// Workflow-task pollers (concurrent long polls).
    #[arg(long, short, default_value_t = 8)]
    pollers: usize,
    /// Activity-task pollers (default: as many as --pollers).
    #[arg(long)]
    activity_pollers: Option<usize>,
    /// Stop starting workflows after this long per scenario (e.g. 30s, 2m, 500ms).
    #[arg(long, short, value_parser = parse_duration)]
    duration: Option<Duration>,
    /// After the last start, wait this long for open workflows to close.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    drain_timeout: Duration,
    /// Afterwards (untimed) check with DescribeWorkflowExecution that every workflow the worker
    /// completed is COMPLETED on the server.
    #[arg(long)]
    verify: bool,
    /// Namespace.
    #[arg(long, short, default_value = "default")]
    namespace: String,
    /// Length of the `timer` scenario's timer.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    timer: Duration,
    /// `timer` scenario only: leave every workflow open on its pending timer; a workflow counts
    /// as done once its StartTimer is acknowledged (fills a server with open workflows).
    #[arg(long)]
    hold_open: bool,
}

impl LoadArgs {
    /// The scenarios, flattened (`--scenario a,b --scenario c`).
    fn scenarios(&self) -> Vec<Scenario> {
        self.scenario.iter().flat_map(|list| list.0.iter().copied()).collect()
    }

    /// Options for one scenario against `address`.
    fn options(&self, address: &str, scenario: Scenario, progress: bool) -> LoadOptions {
        let workflows = match (self.workflows, self.duration) {
            (None, None) => Some(1000),
            (n, _) => n,
        };
        LoadOptions {
            address: address.to_owned(),
            namespace: self.namespace.clone(),
            scenario,
            workflows,
            concurrency: self.concurrency,
            pollers: self.pollers,
            activity_pollers: self.activity_pollers.unwrap_or(self.pollers),
            duration: self.duration,
            drain_timeout: self.drain_timeout,
            verify: self.verify,
            progress,
            timer: self.timer,
            hold_open: self.hold_open,
        }
    }
}

#[derive(Args)]
struct RunArgs {
    /// Server address (host:port or http://host:port).
    #[arg(long, short, default_value = "127.0.0.1:7233")]
    address: String,
    #[command(flatten)]
    load: LoadArgs,
    /// Print the reports as JSON on stdout instead of a table.
    #[arg(long)]
    json: bool,
    /// No progress line on stderr.
    #[arg(long, short)]
    quiet: bool,
}

/// One `--scenario` value: a comma-separated list.
#[derive(Clone, Debug)]
pub struct ScenarioList(Vec<Scenario>);

fn parse_scenarios(text: &str) -> Result<ScenarioList, String> {
    Scenario::parse_list(text).map(ScenarioList)
}

/// Parses `30`, `30s`, `500ms`, `2m` or `1h` into a duration (a bare number is seconds).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number.parse().map_err(|_| format!("invalid duration {text:?}"))?;
    let scale = match unit.trim() {
        "" | "s" => 1.0,
        "ms" => 0.001,
        "m" => 60.0,
        "h" => 3600.0,
        other => return Err(format!("invalid duration unit {other:?} in {text:?} (use ms, s, m or h)")),
    };
    if !value.is_finite() || value < 0.0 {
        return Err(format!("invalid duration {text:?}"));
    }
    Ok(Duration::from_secs_f64(value * scale))
}

async fn run(args: RunArgs) -> Result<()> {
    let mut reports = Vec::new();
    for scenario in args.load.scenarios() {
        let opts = args.load.options(&args.address, scenario, !args.quiet);
        let report = load::run(&opts).await.with_context(|| format!("scenario {scenario}"))?;
        reports.push(report);
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&reports)?);
    } else {
        stats::print_reports(&reports);
    }
    if reports.iter().any(|r| r.errors > 0) {
        std::process::exit(2);
    }
    Ok(())
}

async fn ready(address: String, timeout: Duration) -> Result<()> {
    let began = std::time::Instant::now();
    let mut last = None;
    while began.elapsed() < timeout {
        match client::probe_system_info(&address).await {
            Ok(()) => {
                println!("{}", began.elapsed().as_millis());
                return Ok(());
            }
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    Err(last.unwrap_or_else(|| anyhow::anyhow!("no attempt made")))
        .with_context(|| format!("{address} did not answer GetSystemInfo within {timeout:?}"))
}

#[tokio::main]
async fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Run(args) => run(args).await,
        Command::Compare(args) => compare::compare(*args).await,
        Command::Ready { address, timeout } => ready(address, timeout).await,
        Command::Visibility(args) => visibility::run(args).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("30").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("3d").is_err());
    }

    #[test]
    fn cli_parses() {
        let cli = Cli::try_parse_from([
            "endure-bench",
            "run",
            "--scenario",
            "timer,signal",
            "-s",
            "child",
            "--workflows",
            "10",
            "--json",
        ])
        .unwrap();
        let Command::Run(args) = cli.command else { panic!("not run") };
        assert_eq!(args.load.scenarios(), vec![Scenario::Timer, Scenario::Signal, Scenario::Child]);
        assert!(args.json);
    }
}
