//! One simulated run: the replicas, the fault schedule, the workload and the checks.

use crate::network::{Link, Node, SimNet};
use crate::workload::{self, Client, NAMESPACE, request};
use endure_api::temporal::api::common::v1::WorkflowExecution;
use endure_api::temporal::api::enums::v1::{EventType, WorkflowExecutionStatus};
use endure_api::temporal::api::workflowservice::v1 as ws;
use endure_server::cluster::{Membership, Mode};
use endure_server::peer::Peers;
use endure_server::{Environment, Server, ServerConfig};
use endure_store::{ClusterStore, Fence};
use endure_store_memory::{Fault, MemoryStore};
use parking_lot::Mutex;
use rand::{RngExt, SeedableRng};
use rand_pcg::Pcg64;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// The shape of a run.
#[derive(Debug, Clone)]
pub struct Config {
    /// Replicas in the cluster.
    pub replicas: u32,
    /// History shards.
    pub shards: u32,
    /// Workflows the workload starts.
    pub workflows: u32,
    /// How long faults are injected (simulated time); the workload starts its workflows in it.
    pub fault_window: Duration,
    /// A fault begins about this often, on average.
    pub fault_every: Duration,
    /// After the faults stop and everything is healed, how long every workflow has to complete.
    pub drain: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            replicas: 3,
            shards: 8,
            workflows: 12,
            fault_window: Duration::from_secs(60),
            fault_every: Duration::from_secs(5),
            drain: Duration::from_secs(240),
        }
    }
}

/// What a run did.
#[derive(Debug, Clone)]
pub struct Report {
    /// The seed.
    pub seed: u64,
    /// Faults injected, by kind.
    pub faults: BTreeMap<&'static str, u32>,
    /// Workflows completed.
    pub completed: u32,
    /// What happened when (simulated seconds), for reproduction and comparison.
    pub transcript: String,
}

/// An invariant that did not hold.
#[derive(Debug, Clone, thiserror::Error)]
#[error("seed {seed}: {what}\n--- transcript ---\n{transcript}")]
pub struct Violation {
    /// The seed that shows it.
    pub seed: u64,
    /// What broke.
    pub what: String,
    /// What happened until then.
    pub transcript: String,
}

/// A store fault policy's view of its process.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Health {
    Up,
    /// Every store call waits until then.
    PausedUntil(Instant),
    /// Every store call times out (cut off, or crashed).
    Unreachable,
    /// Store calls time out, or lose their answer, now and then.
    Flaky,
}

/// One incarnation of a replica.
struct Process {
    node: Node,
    server: Server,
    health: Arc<Mutex<Health>>,
}

struct Sim {
    config: Config,
    seed: u64,
    rng: Pcg64,
    net: SimNet,
    db: MemoryStore,
    clock: endure_server::clock::Clock,
    /// The live incarnation of each replica.
    replicas: Vec<Process>,
    /// Crashed incarnations: still running, but cut off from everything forever.
    zombies: Vec<Process>,
    clients: Peers,
    started: Instant,
    transcript: String,
    faults: BTreeMap<&'static str, u32>,
}

fn listen_addr(replica: u32) -> SocketAddr {
    SocketAddr::from(([10, 0, 0, replica as u8 + 1], 7233))
}

fn internal_addr(replica: u32) -> SocketAddr {
    SocketAddr::from(([10, 0, 0, replica as u8 + 1], 7234))
}

impl Sim {
    fn log(&mut self, line: impl AsRef<str>) {
        let t = Instant::now().saturating_duration_since(self.started);
        let _ = writeln!(self.transcript, "{:8.3}s {}", t.as_secs_f64(), line.as_ref());
    }

    fn violation(&self, what: impl Into<String>) -> Violation {
        Violation { seed: self.seed, what: what.into(), transcript: self.transcript.clone() }
    }

    /// Starts incarnation `incarnation` of replica `replica`.
    async fn start(&mut self, replica: u32, incarnation: u32) -> Result<Process, Violation> {
        let node = Node { replica, incarnation };
        self.net.set(node, Link::Up);
        let health = Arc::new(Mutex::new(Health::Up));
        let policy_health = health.clone();
        let rng = Mutex::new(Pcg64::seed_from_u64(
            self.seed ^ (u64::from(replica) << 40) ^ (u64::from(incarnation) << 20),
        ));
        let policy = move |_: &endure_store_memory::Operation<'_>| -> Fault {
            match *policy_health.lock() {
                Health::Up => Fault::Proceed,
                Health::PausedUntil(until) => {
                    let now = Instant::now();
                    if until > now { Fault::Delay(until - now) } else { Fault::Proceed }
                }
                Health::Unreachable => Fault::TimeOut,
                Health::Flaky => match rng.lock().random_range(0..10) {
                    0..=2 => Fault::TimeOut,
                    3 => Fault::LoseAck,
                    _ => Fault::Proceed,
                },
            }
        };
        let store = Arc::new(self.db.handle().with_faults(Arc::new(policy)));
        let config = ServerConfig {
            listen: listen_addr(replica),
            namespaces: vec![],
            search_attributes: vec![],
            cluster: Mode::Shared(Membership {
                member_id: format!("r{replica}"),
                advertise_address: internal_addr(replica).to_string(),
                heartbeat_interval: Duration::from_secs(1),
                member_ttl: Duration::from_secs(5),
            }),
            shards: self.config.shards,
            internal_listen: Some(internal_addr(replica)),
            http_listen: None,
            ui_listen: None,
            ui: Default::default(),
            dynamic: Default::default(),
        };
        let env = Environment {
            clock: self.clock.clone(),
            ids: endure_server::ids::Ids::seeded(
                self.seed ^ (u64::from(replica) << 48) ^ u64::from(incarnation),
            ),
            network: Some(self.net.view(node)),
        };
        let server = Server::start_in(config, store, env)
            .await
            .map_err(|e| self.violation(format!("replica {replica} did not start: {e}")))?;
        Ok(Process { node, server, health })
    }
}

/// A fault of the schedule.
#[derive(Debug, Clone, Copy, PartialEq)]
enum FaultKind {
    /// The process stops: its store calls and connections wait until it goes on.
    Pause,
    /// Nobody can reach it and it reaches nobody, but it reaches the store.
    Isolate,
    /// It reaches nothing: no connection, every store call times out.
    Disconnect,
    /// Its store calls time out or lose their answers now and then.
    FlakyStore,
    /// It dies wherever it was; a new incarnation starts later.
    Crash,
}

impl FaultKind {
    const ALL: [FaultKind; 5] = [
        FaultKind::Pause,
        FaultKind::Isolate,
        FaultKind::Disconnect,
        FaultKind::FlakyStore,
        FaultKind::Crash,
    ];

    fn name(self) -> &'static str {
        match self {
            FaultKind::Pause => "pause",
            FaultKind::Isolate => "isolate",
            FaultKind::Disconnect => "disconnect",
            FaultKind::FlakyStore => "flaky store",
            FaultKind::Crash => "crash",
        }
    }
}

/// What the schedule does at a moment.
#[derive(Debug, Clone, Copy)]
enum Action {
    Begin(FaultKind, u32, Duration),
    End(FaultKind, u32),
    Check,
}

/// Runs one seed; `Err` names the first invariant that broke.
pub fn run_seed(seed: u64, config: &Config) -> Result<Report, Violation> {
    let mut builder = tokio::runtime::Builder::new_current_thread();
    builder.enable_all().start_paused(true);
    #[cfg(tokio_unstable)]
    builder.rng_seed(tokio::runtime::RngSeed::from_bytes(&seed.to_le_bytes()));
    let runtime = builder.build().map_err(|e| Violation {
        seed,
        what: format!("no runtime: {e}"),
        transcript: String::new(),
    })?;
    let config = config.clone();
    runtime.block_on(async move { Sim::new(seed, config).run().await })
}

/// 2027-01-15T08:00:00Z, the simulated epoch.
const EPOCH_NANOS: i64 = 1_800_000_000 * 1_000_000_000;

impl Sim {
    fn new(seed: u64, config: Config) -> Sim {
        let started = Instant::now();
        let now = move || EPOCH_NANOS + Instant::now().saturating_duration_since(started).as_nanos() as i64;
        let clock = endure_server::clock::Clock::from_fn(now);
        let db = MemoryStore::with_clock(endure_store_memory::Clock::from_fn(now));
        let net = SimNet::default();
        let clients = Peers::new(Some(net.view(Node { replica: Node::CLIENTS, incarnation: 0 })));
        Sim {
            config,
            seed,
            rng: Pcg64::seed_from_u64(seed),
            net,
            db,
            clock,
            replicas: vec![],
            zombies: vec![],
            clients,
            started,
            transcript: String::new(),
            faults: BTreeMap::new(),
        }
    }

    fn client(&self, replica: u32) -> Result<Client, Violation> {
        self.clients
            .workflow(&listen_addr(replica).to_string())
            .map_err(|e| self.violation(format!("no client for replica {replica}: {e}")))
    }

    /// The fault schedule and the checks, in time order.
    fn schedule(&mut self) -> Vec<(Duration, Action)> {
        let mut actions = Vec::new();
        let window = self.config.fault_window;
        let mut busy_until = vec![Duration::ZERO; self.config.replicas as usize];
        let mut t = Duration::from_secs(2);
        let every = self.config.fault_every.as_millis().max(1) as u64;
        while t < window {
            t += Duration::from_millis(self.rng.random_range(every / 2..every * 3 / 2 + 1));
            let replica = self.rng.random_range(0..self.config.replicas);
            let kind = FaultKind::ALL[self.rng.random_range(0..FaultKind::ALL.len())];
            let length = Duration::from_millis(self.rng.random_range(2_000..12_000));
            if busy_until[replica as usize] > t || t >= window {
                continue;
            }
            busy_until[replica as usize] = t + length + Duration::from_secs(1);
            actions.push((t, Action::Begin(kind, replica, length)));
            actions.push((t + length, Action::End(kind, replica)));
        }
        let mut c = Duration::ZERO;
        while c < window + Duration::from_secs(15) {
            actions.push((c, Action::Check));
            c += Duration::from_millis(500);
        }
        actions.sort_by_key(|(at, a)| (*at, matches!(a, Action::Check)));
        actions
    }

    async fn begin(&mut self, kind: FaultKind, replica: u32, length: Duration) -> Result<(), Violation> {
        *self.faults.entry(kind.name()).or_default() += 1;
        self.log(format!("fault: {} replica {replica}", kind.name()));
        let p = &self.replicas[replica as usize];
        match kind {
            FaultKind::Pause => {
                // Calls made while paused wait until it goes on, when the schedule resumes it.
                *p.health.lock() = Health::PausedUntil(Instant::now() + length);
                self.net.set(p.node, Link::Paused);
            }
            FaultKind::Isolate => self.net.set(p.node, Link::Cut),
            FaultKind::Disconnect => {
                *p.health.lock() = Health::Unreachable;
                self.net.set(p.node, Link::Cut);
            }
            FaultKind::FlakyStore => *p.health.lock() = Health::Flaky,
            FaultKind::Crash => {
                *p.health.lock() = Health::Unreachable;
                self.net.set(p.node, Link::Cut);
            }
        }
        Ok(())
    }

    async fn end(&mut self, kind: FaultKind, replica: u32) -> Result<(), Violation> {
        self.log(format!("healed: {} replica {replica}", kind.name()));
        if kind == FaultKind::Crash {
            let incarnation = self.replicas[replica as usize].node.incarnation + 1;
            let fresh = self.start(replica, incarnation).await?;
            let dead = std::mem::replace(&mut self.replicas[replica as usize], fresh);
            self.zombies.push(dead);
            return Ok(());
        }
        let p = &self.replicas[replica as usize];
        *p.health.lock() = Health::Up;
        self.net.set(p.node, Link::Up);
        Ok(())
    }

    /// No two processes hold the same shard lease, and none holds one the store never gave.
    async fn check_leases(&self) -> Result<(), Violation> {
        let leases =
            self.db.shard_leases().await.map_err(|e| self.violation(format!("reading leases: {e}")))?;
        for lease in leases {
            let mut holders = Vec::new();
            for p in self.replicas.iter().chain(&self.zombies) {
                for f in p.server.held_leases() {
                    if f.shard_id != lease.shard_id {
                        continue;
                    }
                    if f.range_id > lease.range_id {
                        return Err(
                            self.violation(format!("{:?} holds {f:?}, past the store's {lease:?}", p.node))
                        );
                    }
                    if f == (Fence { shard_id: lease.shard_id, range_id: lease.range_id }) {
                        holders.push(p.node);
                    }
                }
            }
            if holders.len() > 1 {
                return Err(self.violation(format!(
                    "shard {} range {} held by {holders:?}",
                    lease.shard_id, lease.range_id
                )));
            }
        }
        Ok(())
    }

    async fn run(mut self) -> Result<Report, Violation> {
        for r in 0..self.config.replicas {
            let p = self.start(r, 0).await?;
            self.replicas.push(p);
        }
        let ready_by = Instant::now() + Duration::from_secs(60);
        while !self.replicas.iter().all(|p| p.server.is_ready()) {
            if Instant::now() > ready_by {
                return Err(self.violation("the replicas did not become ready"));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.log("cluster ready");
        let stop = Arc::new(tokio::sync::Notify::new());
        let workers = self.spawn_workers(stop.clone())?;
        let starts = self.spawn_starter()?;
        let schedule = self.schedule();
        let origin = Instant::now();
        for (at, action) in schedule {
            tokio::time::sleep_until(origin + at).await;
            match action {
                Action::Begin(kind, replica, length) => self.begin(kind, replica, length).await?,
                Action::End(kind, replica) => self.end(kind, replica).await?,
                Action::Check => self.check_leases().await?,
            }
        }
        self.log("faults over; draining");
        let deadline = Instant::now() + self.config.drain;
        let mut open: Vec<String> = (0..self.config.workflows).map(|i| format!("wf-{i}")).collect();
        while !open.is_empty() {
            if Instant::now() > deadline {
                let tails = self.describe_open(&open).await;
                return Err(self.violation(format!("not completed within the drain: {tails}")));
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
            self.check_leases().await?;
            let mut still = Vec::new();
            for id in open {
                if self.status(&id).await != Some(WorkflowExecutionStatus::Completed) {
                    still.push(id);
                }
            }
            open = still;
        }
        self.log("every workflow completed");
        stop.notify_waiters();
        for w in workers.into_iter().chain(starts) {
            w.abort();
        }
        self.verify().await?;
        let completed = self.config.workflows;
        Ok(Report {
            seed: self.seed,
            faults: self.faults.clone(),
            completed,
            transcript: self.transcript.clone(),
        })
    }

    fn spawn_workers(
        &mut self,
        stop: Arc<tokio::sync::Notify>,
    ) -> Result<Vec<tokio::task::JoinHandle<()>>, Violation> {
        let mut handles = Vec::new();
        for k in 0..self.config.replicas * 2 {
            let clients: Vec<Client> =
                (0..self.config.replicas).map(|r| self.client(r)).collect::<Result<_, _>>()?;
            let mut rng = Pcg64::seed_from_u64(self.seed.wrapping_add(u64::from(k) + 1));
            let stop = stop.clone();
            let activities = k % 2 == 1;
            handles.push(tokio::spawn(async move {
                let identity = format!("worker-{k}");
                loop {
                    let mut client = clients[rng.random_range(0..clients.len())].clone();
                    let ok = if activities {
                        workload::work_activity_task(&mut client, &identity).await
                    } else {
                        workload::work_workflow_task(&mut client, &identity).await
                    };
                    if !ok {
                        tokio::select! {
                            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                            _ = stop.notified() => return,
                        }
                    }
                }
            }));
        }
        Ok(handles)
    }

    fn spawn_starter(&mut self) -> Result<Vec<tokio::task::JoinHandle<()>>, Violation> {
        let clients: Vec<Client> =
            (0..self.config.replicas).map(|r| self.client(r)).collect::<Result<_, _>>()?;
        let window = self.config.fault_window.as_millis() as u64;
        let mut handles = Vec::new();
        for i in 0..self.config.workflows {
            let at = Duration::from_millis(self.rng.random_range(0..window.max(1)));
            let mut rng = Pcg64::seed_from_u64(self.seed ^ (u64::from(i) << 32) ^ 0x5eed);
            let clients = clients.clone();
            handles.push(tokio::spawn(async move {
                tokio::time::sleep(at).await;
                let id = format!("wf-{i}");
                loop {
                    let mut client = clients[rng.random_range(0..clients.len())].clone();
                    if client.start_workflow_execution(request(workload::start_request(&id))).await.is_ok() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }));
        }
        Ok(handles)
    }

    /// A workflow's status as any replica answers it (`None` if none does, or it does not
    /// exist yet).
    async fn status(&mut self, workflow_id: &str) -> Option<WorkflowExecutionStatus> {
        for _ in 0..self.config.replicas {
            let r = self.rng.random_range(0..self.config.replicas);
            let Ok(mut client) = self.client(r) else { continue };
            let describe = ws::DescribeWorkflowExecutionRequest {
                namespace: NAMESPACE.into(),
                execution: Some(WorkflowExecution { workflow_id: workflow_id.into(), run_id: String::new() }),
            };
            if let Ok(d) = client.describe_workflow_execution(request(describe)).await {
                let status = d.into_inner().workflow_execution_info.map(|i| i.status).unwrap_or(0);
                return WorkflowExecutionStatus::try_from(status).ok();
            }
        }
        None
    }

    async fn history(
        &mut self,
        workflow_id: &str,
    ) -> Result<Vec<endure_api::temporal::api::history::v1::HistoryEvent>, String> {
        let mut last = String::new();
        for _ in 0..30 {
            let r = self.rng.random_range(0..self.config.replicas);
            let Ok(mut client) = self.client(r) else { continue };
            let get = ws::GetWorkflowExecutionHistoryRequest {
                namespace: NAMESPACE.into(),
                execution: Some(WorkflowExecution { workflow_id: workflow_id.into(), run_id: String::new() }),
                maximum_page_size: 1000,
                ..Default::default()
            };
            match client.get_workflow_execution_history(request(get)).await {
                Ok(h) => return Ok(h.into_inner().history.map(|h| h.events).unwrap_or_default()),
                Err(e) => last = e.message().to_owned(),
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        Err(last)
    }

    async fn describe_open(&mut self, open: &[String]) -> String {
        let mut out = String::new();
        for id in open {
            let tail = match self.history(id).await {
                Ok(events) => events
                    .iter()
                    .rev()
                    .take(4)
                    .rev()
                    .map(|e| {
                        format!(
                            "{}:{:?}",
                            e.event_id,
                            EventType::try_from(e.event_type).unwrap_or(EventType::Unspecified)
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(" "),
                Err(e) => format!("(no history: {e})"),
            };
            let _ = write!(out, "\n  {id}: … {tail}");
            if let Ok(Some(ns)) = endure_store::NamespaceStore::namespace_by_name(&self.db, NAMESPACE).await {
                let shard = endure_server::cluster::shard_of(self.config.shards, &ns.id, id);
                let _ = write!(out, " (shard {shard})");
            }
        }
        if let Ok(leases) = self.db.shard_leases().await {
            let _ = write!(
                out,
                "\n  leases: {:?}",
                leases.iter().map(|l| (l.shard_id, l.owner.clone(), l.range_id)).collect::<Vec<_>>()
            );
        }
        for p in &self.replicas {
            let _ = write!(
                out,
                "\n  {:?} holds {:?}",
                p.node,
                p.server.held_leases().iter().map(|f| (f.shard_id, f.range_id)).collect::<Vec<_>>()
            );
        }
        out
    }

    /// Every workflow's history is whole, it ran once, and no task row was ever re-created —
    /// read from the store itself, the truth (a replica that was paused may still answer from
    /// what it knew before, until it learns it lost its shards).
    async fn verify(&mut self) -> Result<(), Violation> {
        use endure_api::prost::Message;
        use endure_store::{ExecutionStore, NamespaceStore, RunKey, VisibilityFilter, VisibilityStore};
        let fail = |s: &Self, e: endure_store::StoreError| s.violation(format!("reading the store: {e}"));
        let ns = match self.db.namespace_by_name(NAMESPACE).await {
            Ok(Some(ns)) => ns,
            Ok(None) => return Err(self.violation("no default namespace")),
            Err(e) => return Err(fail(self, e)),
        };
        for i in 0..self.config.workflows {
            let id = format!("wf-{i}");
            let current = match self.db.current_run(&ns.id, &id).await {
                Ok(Some(c)) => c,
                Ok(None) => return Err(self.violation(format!("{id} has no run"))),
                Err(e) => return Err(fail(self, e)),
            };
            let key = RunKey { namespace_id: ns.id.clone(), workflow_id: id.clone(), run_id: current.run_id };
            let rows = self.db.read_events(&key, 1, i64::MAX, 100_000).await.map_err(|e| fail(self, e))?;
            let mut events = Vec::with_capacity(rows.len());
            for r in rows {
                let e = endure_api::temporal::api::history::v1::HistoryEvent::decode(r.data.as_slice())
                    .map_err(|e| self.violation(format!("{id}: an undecodable event: {e}")))?;
                events.push(e);
            }
            let types: Vec<EventType> = events
                .iter()
                .map(|e| EventType::try_from(e.event_type).unwrap_or(EventType::Unspecified))
                .collect();
            let count = |t: EventType| types.iter().filter(|x| **x == t).count();
            let contiguous = events.iter().enumerate().all(|(n, e)| e.event_id == n as i64 + 1);
            let ok = contiguous
                && types.first() == Some(&EventType::WorkflowExecutionStarted)
                && types.last() == Some(&EventType::WorkflowExecutionCompleted)
                && count(EventType::WorkflowExecutionStarted) == 1
                && count(EventType::WorkflowExecutionCompleted) == 1
                && count(EventType::ActivityTaskScheduled) == 1
                && count(EventType::ActivityTaskCompleted) == 1
                && count(EventType::TimerStarted) == 1
                && count(EventType::TimerFired) == 1;
            if !ok {
                return Err(self.violation(format!("{id}: history is not whole: {types:?}")));
            }
            self.log(format!("{id}: {} events", events.len()));
        }
        let all = VisibilityFilter { namespace_id: ns.id.clone(), expr: None, open: None };
        let total = self.db.count_runs(&all).await.map_err(|e| fail(self, e))?;
        if total != i64::from(self.config.workflows) {
            return Err(self
                .violation(format!("{total} runs for {} workflows: one ran twice", self.config.workflows)));
        }
        for p in self.replicas.iter().chain(&self.zombies) {
            let repairs = p.server.outbox_repairs();
            if repairs > 0 {
                return Err(self.violation(format!("{:?} re-created {repairs} lost task rows", p.node)));
            }
        }
        Ok(())
    }
}
