//! Endure's services: the gRPC frontend, the history engine, matching and the task executor,
//! wired together over a [`endure_store::Store`].
//!
//! The modules form layers; each imports only from the layers below it (ARCHITECTURE.md draws
//! them; a test fails on an import cycle):
//! 1. leaves — [`clock`], [`ids`], [`error`], [`validate`], [`metrics`], [`dynamic_config`], [`search_attributes::schema`] and
//!    [`search_attributes::values`], [`cluster::hash`];
//! 2. [`namespaces`], the [`search_attributes`] registry, [`matching`], [`timer_queue`],
//!    [`peer`], [`workers`];
//! 3. [`cluster`] (shards and membership; tells the engine through [`cluster::ShardEvents`]);
//! 4. [`history`] (the engine);
//! 5. [`starter`], then the [`executor`] (timer tasks and cross-workflow steps);
//! 6. [`frontend`] and [`http_health`];
//! 7. this file, which builds and wires them: [`Server::start`] recovers persisted tasks,
//!    starts the executor and serves gRPC until [`Server::shutdown`] (long polls answered
//!    empty, in-flight RPCs finished, the store closed cleanly).

#![warn(missing_docs)]

pub mod batcher;
pub mod clock;
pub mod cluster;
pub mod deployments;
pub mod dynamic_config;
pub mod error;
pub mod executor;
pub mod frontend;
pub mod gauges;
pub mod history;
pub mod http_api;
pub mod http_health;
pub mod ids;
pub mod matching;
pub mod metered_store;
pub mod metrics;
pub mod namespaces;
pub mod network;
pub mod peer;
pub mod search_attributes;
pub mod starter;
pub mod telemetry;
pub mod timer_queue;
pub mod ui;
pub mod validate;
pub mod versioning;
pub mod workers;

#[cfg(test)]
mod engine_tests;
#[cfg(test)]
mod takeover_tests;

use endure_api::health::health_server::HealthServer;
use endure_api::operatorservice::operator_service_server::OperatorServiceServer;
use endure_api::workflowservice::workflow_service_server::WorkflowServiceServer;
use endure_store::Store;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::{Notify, watch};
use tonic::codec::CompressionEncoding;

/// How a response's `grpc-message` is re-encoded ([`error::grpc_message_as_go`]).
type MessageFix = fn(
    tonic::codegen::http::Response<tonic::body::Body>,
) -> tonic::codegen::http::Response<tonic::body::Body>;
type GrpcLayers =
    tower::layer::util::Stack<tower::util::MapResponseLayer<MessageFix>, tower::layer::util::Identity>;
/// A router of gRPC services as every listener serves them.
type GrpcRouter = tonic::transport::server::Router<GrpcLayers>;

/// The gRPC server every listener uses: its error messages encoded as the real server's.
fn grpc_server() -> tonic::transport::Server<GrpcLayers> {
    tonic::transport::Server::builder().layer(tower::util::MapResponseLayer::new(
        error::grpc_message_as_go::<tonic::body::Body> as MessageFix,
    ))
}

/// What to serve and where.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Namespaces that must exist (created if missing); `default` is always included.
    pub namespaces: Vec<String>,
    /// Custom search attributes registered at start-up in each of those namespaces (as
    /// `temporal server start-dev --search-attribute`); already registered ones are left.
    pub search_attributes: Vec<(String, endure_store::visibility::SaType)>,
    /// Alone on the store (dev) or one replica of a cluster.
    pub cluster: cluster::Mode,
    /// History shard count for a new cluster (a stored count wins).
    pub shards: u32,
    /// Address of the internal endpoint other replicas forward requests to (a cluster replica
    /// must have one; it serves the same WorkflowService).
    pub internal_listen: Option<SocketAddr>,
    /// Address of the HTTP endpoint, if any: Temporal's HTTP API and the probes (`/healthz`,
    /// `/readyz`).
    pub http_listen: Option<SocketAddr>,
    /// Address of the Web UI, if any (with the HTTP API under `/api/` on the same origin).
    pub ui_listen: Option<SocketAddr>,
    /// What the Web UI serves.
    pub ui: ui::UiConfig,
    /// Dynamic config values (`start-dev --dynamic-config-value`).
    pub dynamic: dynamic_config::DynamicConfig,
}

impl ServerConfig {
    /// A single-process server (the dev server) listening on `listen`.
    pub fn single(listen: SocketAddr) -> ServerConfig {
        ServerConfig {
            dynamic: dynamic_config::DynamicConfig::default(),
            listen,
            namespaces: vec![],
            search_attributes: vec![],
            cluster: cluster::Mode::Exclusive,
            shards: 1,
            internal_listen: None,
            http_listen: None,
            ui_listen: None,
            ui: ui::UiConfig::default(),
        }
    }
}

/// A running server.
pub struct Server {
    /// The address actually bound.
    pub local_addr: SocketAddr,
    /// The internal endpoint's address actually bound, if any.
    pub internal_addr: Option<SocketAddr>,
    /// The HTTP endpoint's (API and probes) address actually bound, if any.
    pub http_addr: Option<SocketAddr>,
    /// The Web UI's address actually bound, if any.
    pub ui_addr: Option<SocketAddr>,
    internal: Option<tokio::task::JoinHandle<Result<(), tonic::transport::Error>>>,
    shutdown_tx: watch::Sender<bool>,
    executor_stop: Arc<Notify>,
    sweeps_stop: Arc<Notify>,
    sweeps: tokio::task::JoinHandle<()>,
    serve: tokio::task::JoinHandle<Result<(), tonic::transport::Error>>,
    executor: tokio::task::JoinHandle<()>,
    store: Arc<dyn Store>,
    matching: Arc<matching::Matching>,
    engine: Arc<history::Engine>,
    ownership: Arc<cluster::Ownership>,
    heartbeat: Option<tokio::task::JoinHandle<()>>,
    frontend: Arc<frontend::Frontend>,
    worker_sweeps: tokio::task::JoinHandle<()>,
}

/// Errors starting the server.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Binding the listen address failed.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// Address.
        addr: SocketAddr,
        /// Cause.
        source: std::io::Error,
    },
    /// Setting up state failed.
    #[error("{0}")]
    Setup(#[from] error::ApiError),
    /// Joining the cluster failed.
    #[error("{0}")]
    Cluster(#[from] cluster::ClusterError),
    /// The HTTP API could not be set up from the API's descriptors.
    #[error("HTTP API: {0}")]
    Http(String),
}

/// What a server takes from its surroundings: time, unique ids and connections. The system's
/// for a real server; simulated time, seeded ids and an in-memory network for a simulation
/// that must reproduce.
#[derive(Clone)]
pub struct Environment {
    /// Wall time.
    pub clock: clock::Clock,
    /// Unique ids.
    pub ids: ids::Ids,
    /// Connections (`None`: TCP). On an in-memory network the HTTP probes are not served.
    pub network: Option<Arc<dyn network::Network>>,
}

impl Environment {
    /// The system clock, random ids and TCP.
    pub fn system() -> Self {
        let clock = clock::Clock::system();
        Environment { ids: ids::Ids::with_time_ordered_runs(clock.clone()), clock, network: None }
    }
}

/// A bound listening address: TCP, or an in-memory network's.
enum Listener {
    Tcp(tokio::net::TcpListener),
    Memory(SocketAddr, network::Incoming),
}

impl Listener {
    async fn bind(
        addr: SocketAddr,
        network: &Option<Arc<dyn network::Network>>,
    ) -> Result<Listener, StartError> {
        match network {
            None => Ok(Listener::Tcp(bind(addr).await?)),
            Some(n) => {
                let (bound, incoming) =
                    n.listen(addr).await.map_err(|source| StartError::Bind { addr, source })?;
                Ok(Listener::Memory(bound, incoming))
            }
        }
    }

    fn local_addr(&self, asked: SocketAddr) -> Result<SocketAddr, StartError> {
        match self {
            Listener::Tcp(l) => l.local_addr().map_err(|source| StartError::Bind { addr: asked, source }),
            Listener::Memory(addr, _) => Ok(*addr),
        }
    }

    /// Serves `router` here until `stop` turns true.
    fn serve(
        self,
        router: GrpcRouter,
        mut stop: watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<Result<(), tonic::transport::Error>> {
        let stopped = async move {
            let _ = stop.wait_for(|s| *s).await;
        };
        match self {
            // Accepted connections need TCP_NODELAY themselves (the builder's setting does not
            // apply to a supplied listener); without it every small response waits ~40 ms.
            Listener::Tcp(l) => {
                let incoming = tonic::transport::server::TcpIncoming::from(l).with_nodelay(Some(true));
                tokio::spawn(router.serve_with_incoming_shutdown(incoming, stopped))
            }
            Listener::Memory(_, incoming) => {
                let incoming = tokio_stream::StreamExt::map(
                    tokio_stream::wrappers::ReceiverStream::new(incoming),
                    Ok::<_, std::io::Error>,
                );
                tokio::spawn(router.serve_with_incoming_shutdown(incoming, stopped))
            }
        }
    }
}

impl Server {
    /// Recovers state from `store` and starts serving.
    pub async fn start(config: ServerConfig, store: Arc<dyn Store>) -> Result<Server, StartError> {
        Self::start_in(config, store, Environment::system()).await
    }

    /// [`Server::start`] in the given environment.
    pub async fn start_in(
        config: ServerConfig,
        store: Arc<dyn Store>,
        env: Environment,
    ) -> Result<Server, StartError> {
        let Environment { clock, ids, network } = env;
        store.observe_writes(Arc::new(metrics::WriteMetrics));
        let store: Arc<dyn Store> = Arc::new(metered_store::MeteredStore::new(store));
        let matching = matching::Matching::new(clock.clone());
        let versions = versioning::VersionRouting::new();
        let timer_queue = timer_queue::TimerQueue::new();
        let peers = Arc::new(peer::Peers::new(network.clone()));
        let namespaces = Arc::new(namespaces::Namespaces::new(store.clone(), ids.clone()));
        let search_attributes = search_attributes::SearchAttributeRegistry::new(store.clone());
        let member_id = match &config.cluster {
            cluster::Mode::Exclusive => format!("single-{}", ids.next()),
            cluster::Mode::Shared(m) => m.member_id.clone(),
        };
        if matches!(config.cluster, cluster::Mode::Shared(_)) {
            // Other replicas may register or change namespaces and search attributes.
            namespaces.set_max_age(std::time::Duration::from_secs(5));
            search_attributes.set_max_age(std::time::Duration::from_secs(5));
        }
        let ownership = cluster::Ownership::new(&member_id);
        let engine = history::Engine::new(history::EngineParts {
            limits: config.dynamic.limits,
            executions: store.clone(),
            tasks: store.clone(),
            namespaces: namespaces.clone(),
            search_attributes: search_attributes.clone(),
            matching: matching.clone(),
            versions: versions.clone(),
            timers: timer_queue.clone(),
            peers: peers.clone(),
            clock: clock.clone(),
            ids,
            ownership: ownership.clone(),
        });
        let starter = starter::Starter::new(engine.clone(), search_attributes.clone());
        let cross = executor::cross::CrossWorkflow::new(
            engine.clone(),
            starter.clone(),
            namespaces.clone(),
            ownership.clone(),
            peers.clone(),
        );
        let batcher = batcher::Batcher::new(engine.clone(), namespaces.clone());
        let executor = executor::Executor::new(
            engine.clone(),
            cross.clone(),
            batcher.clone(),
            timer_queue,
            store.clone(),
            ownership.clone(),
            clock,
        );
        let mut names = vec!["default".to_string()];
        names.extend(config.namespaces.iter().cloned());
        let mut created = Vec::new();
        for n in names {
            created.push(namespaces.ensure(&n, namespaces::DEV_RETENTION).await?);
        }
        // Every namespace's custom search attributes are in memory before any run is written.
        for ns in namespaces.list().await? {
            search_attributes.load(&ns.id).await?;
        }
        for ns in &created {
            let existing = search_attributes.of(&ns.id).await?;
            let new: Vec<_> =
                config.search_attributes.iter().filter(|(n, _)| !existing.contains_key(n)).cloned().collect();
            if !new.is_empty() {
                search_attributes.add(&ns.id, new).await?;
            }
        }
        let listener = Listener::bind(config.listen, &network).await?;
        let local_addr = listener.local_addr(config.listen)?;
        let internal_listener = match config.internal_listen {
            Some(addr) => Some((Listener::bind(addr, &network).await?, addr)),
            None => None,
        };
        let internal_addr = match &internal_listener {
            Some((l, asked)) => Some(l.local_addr(*asked)?),
            None => None,
        };
        let http_listener = match config.http_listen {
            Some(addr) if network.is_none() => Some(bind(addr).await?),
            _ => None,
        };
        let http_addr = http_listener.as_ref().and_then(|l| l.local_addr().ok());
        let ui_listener = match config.ui_listen {
            Some(addr) if network.is_none() => Some(bind(addr).await?),
            _ => None,
        };
        let ui_addr = ui_listener.as_ref().and_then(|l| l.local_addr().ok());
        let heartbeat = cluster::join(
            store.clone(),
            engine.clone(),
            ownership.clone(),
            config.cluster.clone(),
            config.shards,
        )
        .await?;
        let timers_loaded = executor.scan().await?;
        tracing::info!(
            member = %member_id,
            shards = ?ownership.owned_shards(),
            timers = timers_loaded,
            "joined: tasks of the held shards loaded"
        );
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let workers = workers::Workers::new(
            config.dynamic.worker_registry_ttl,
            config.dynamic.worker_registry_eviction_interval,
        );
        let worker_sweeps = tokio::spawn(workers.clone().run_sweeps(shutdown_rx.clone()));
        tokio::spawn(gauges::run(
            matching.clone(),
            namespaces.clone(),
            ownership.clone(),
            shutdown_rx.clone(),
        ));
        let deployments = deployments::Deployments::new(engine.clone(), ownership.clone(), peers.clone());
        let fe = frontend::Frontend::new(
            frontend::Services {
                namespaces,
                search_attributes,
                engine: engine.clone(),
                starter,
                cross,
                matching: matching.clone(),
                ownership: ownership.clone(),
                peers,
                visibility: store.clone(),
                dynamic: config.dynamic.clone(),
                workers,
                deployments,
            },
            shutdown_rx.clone(),
        );
        let frontend = fe.clone();
        let wf = frontend::WorkflowFrontend(fe.clone());
        batcher.set_targets(Arc::new(wf.clone()));
        let workflow = WorkflowServiceServer::new(wf.clone())
            .accept_compressed(CompressionEncoding::Gzip)
            .send_compressed(CompressionEncoding::Gzip)
            .max_decoding_message_size(128 * 1024 * 1024)
            .max_encoding_message_size(128 * 1024 * 1024);
        let operator = OperatorServiceServer::new(wf.operator())
            .accept_compressed(CompressionEncoding::Gzip)
            .send_compressed(CompressionEncoding::Gzip);
        let health = HealthServer::new(frontend::HealthService(fe.clone()))
            .accept_compressed(CompressionEncoding::Gzip);
        if http_listener.is_some() || ui_listener.is_some() {
            // The HTTP API calls the same services in process.
            let grpc = tonic::service::Routes::new(workflow.clone()).add_service(operator.clone());
            let api = http_api::HttpApi::new(grpc).map_err(|e| StartError::Http(e.to_string()))?;
            if let Some(l) = http_listener {
                let ready = fe.clone();
                let app = http_health::router(Arc::new(move || ready.is_ready()))
                    .merge(http_api::router(api.clone()));
                tokio::spawn(http_health::serve(l, app, "HTTP API", shutdown_rx.clone()));
            }
            if let Some(l) = ui_listener {
                let mut ui_config = config.ui.clone();
                if ui_config.default_namespace.is_empty() {
                    ui_config.default_namespace = "default".into();
                }
                tokio::spawn(http_health::serve(
                    l,
                    ui::router(ui_config, api),
                    "Web UI",
                    shutdown_rx.clone(),
                ));
            }
        }
        let internal = internal_listener.map(|(l, _)| {
            let router = grpc_server().add_service(workflow.clone()).add_service(health.clone()).add_service(
                endure_api::internal::cluster::cluster_server::ClusterServer::new(
                    frontend::internal::ClusterService(frontend.clone()),
                )
                .max_decoding_message_size(128 * 1024 * 1024)
                .max_encoding_message_size(128 * 1024 * 1024),
            );
            l.serve(router, shutdown_rx.clone())
        });
        let router = grpc_server().add_service(workflow).add_service(operator).add_service(health);
        let serve = listener.serve(router, shutdown_rx.clone());
        let executor_stop = Arc::new(Notify::new());
        let executor = tokio::spawn(executor.run(executor_stop.clone()));
        let sweeps_stop = Arc::new(Notify::new());
        let sweeps = tokio::spawn(engine.clone().run_outbox_sweeps(sweeps_stop.clone()));
        Ok(Server {
            local_addr,
            internal_addr,
            http_addr,
            ui_addr,
            internal,
            shutdown_tx,
            executor_stop,
            sweeps_stop,
            sweeps,
            serve,
            executor,
            store,
            matching,
            engine,
            ownership,
            heartbeat,
            frontend,
            worker_sweeps,
        })
    }

    /// Whether the server is ready for traffic (see [`frontend::Frontend::is_ready`]).
    pub fn is_ready(&self) -> bool {
        self.frontend.is_ready()
    }

    /// The frontend (for the HTTP health endpoints).
    pub fn frontend(&self) -> Arc<frontend::Frontend> {
        self.frontend.clone()
    }

    /// The shards this replica holds right now.
    pub fn owned_shards(&self) -> Vec<i32> {
        self.ownership.owned_shards()
    }

    /// The leases this replica believes it holds (a paused replica may still believe in a lease
    /// the store has moved past).
    pub fn held_leases(&self) -> Vec<endure_store::Fence> {
        self.ownership.owned_shards().into_iter().filter_map(|s| self.ownership.fence(s)).collect()
    }

    /// Missing task rows the outbox check re-created (each one a bug).
    pub fn outbox_repairs(&self) -> u64 {
        self.engine.outbox_repairs()
    }

    /// Stops serving: answers long polls, waits for in-flight RPCs, closes the store.
    pub async fn shutdown(self) -> Result<(), error::ApiError> {
        let _ = self.shutdown_tx.send(true);
        self.matching.release_all_pollers();
        self.executor_stop.notify_one();
        let _ = self.executor.await;
        self.sweeps_stop.notify_one();
        let _ = self.sweeps.await;
        let _ = self.worker_sweeps.await;
        let (serve, internal) = (self.serve, self.internal);
        let drain = async move {
            match serve.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!("gRPC server ended with an error: {e}"),
                Err(e) => tracing::warn!("gRPC server task failed: {e}"),
            }
            if let Some(internal) = internal
                && let Ok(Err(e)) = internal.await
            {
                tracing::warn!("internal gRPC server ended with an error: {e}");
            }
        };
        tokio::pin!(drain);
        // In-flight requests get a few seconds; the shards are handed over then at the latest
        // (other replicas take them now rather than after the member ttl), and whatever is
        // still running can no longer commit to them.
        let drained = tokio::time::timeout(SHUTDOWN_DRAIN, &mut drain).await.is_ok();
        if !drained {
            tracing::warn!(
                "requests still in flight after {SHUTDOWN_DRAIN:?}; handing the shards over anyway"
            );
        }
        cluster::leave(&*self.store, &*self.engine, &self.ownership, self.heartbeat).await;
        if !drained {
            drain.await;
        }
        self.store.close().await?;
        Ok(())
    }
}

/// How long a shutting-down server waits for in-flight requests before handing its shards over.
const SHUTDOWN_DRAIN: std::time::Duration = std::time::Duration::from_secs(5);

async fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener, StartError> {
    tokio::net::TcpListener::bind(addr).await.map_err(|source| StartError::Bind { addr, source })
}
