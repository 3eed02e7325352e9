//! `endure-bench visibility`: loads runs carrying custom search attributes through the
//! Temporal API, then times the list-filter queries a user runs (newest runs, a selective
//! filter, a custom Keyword, a prefix, a grouped count) against any server.
//!
//! Loading goes through the API on purpose (StartWorkflowExecution with search attributes,
//! then TerminateWorkflowExecution for the runs that are to be closed), so the same command
//! fills Endure and the real dev server with the same data.

use crate::client::{self, Client};
use crate::stats::Latency;
use anyhow::{Context, Result};
use clap::Args;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use temporalio_protos::temporal::api::common::v1::{
    Payload, SearchAttributes, WorkflowExecution, WorkflowType,
};
use temporalio_protos::temporal::api::enums::v1::IndexedValueType;
use temporalio_protos::temporal::api::operatorservice::v1::AddSearchAttributesRequest;
use temporalio_protos::temporal::api::operatorservice::v1::operator_service_client::OperatorServiceClient;
use temporalio_protos::temporal::api::workflowservice::v1::{
    CountWorkflowExecutionsRequest, ListWorkflowExecutionsRequest, StartWorkflowExecutionRequest,
    TerminateWorkflowExecutionRequest,
};
use tokio::task::JoinSet;

/// Options of `endure-bench visibility`.
#[derive(Args, Debug, Clone)]
pub struct VisibilityArgs {
    /// Server address.
    #[arg(long, short, default_value = "127.0.0.1:7233")]
    address: String,
    /// Namespace.
    #[arg(long, short, default_value = "default")]
    namespace: String,
    /// Closed runs to load (started, then terminated).
    #[arg(long, default_value_t = 100_000)]
    closed: u64,
    /// Open runs to load (started, left running).
    #[arg(long, default_value_t = 1_000)]
    open: u64,
    /// Start/terminate RPCs in flight while loading.
    #[arg(long, default_value_t = 64)]
    load_concurrency: usize,
    /// Timed executions of each query (after one untimed).
    #[arg(long, default_value_t = 20)]
    repeat: usize,
    /// Skip loading (query what an earlier run loaded).
    #[arg(long)]
    no_load: bool,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

/// Workflow ids are `vis-bench-<7 digits>`; one run in ten is a `Summarize`.
const PREFIX: &str = "vis-bench";
/// Distinct `BenchCustomer` values (`c-0` … `c-999`).
const CUSTOMERS: u64 = 1000;

/// What was measured.
#[derive(Debug, Serialize)]
pub struct VisibilityReport {
    address: String,
    closed: u64,
    open: u64,
    /// Seconds the load took (null with --no-load).
    load_seconds: Option<f64>,
    /// Runs per second while loading.
    load_runs_per_sec: Option<f64>,
    /// Load errors (failed start/terminate RPCs).
    load_errors: u64,
    queries: Vec<QueryReport>,
}

/// One timed query.
#[derive(Debug, Serialize)]
pub struct QueryReport {
    name: String,
    rpc: String,
    query: String,
    /// Rows returned on the page (List) or the count (Count).
    result: i64,
    latency: Latency,
}

fn keyword(value: &str) -> Payload {
    Payload {
        metadata: HashMap::from([
            ("encoding".to_owned(), b"json/plain".to_vec()),
            ("type".to_owned(), b"Keyword".to_vec()),
        ]),
        data: serde_json::to_vec(value).expect("a string serializes"),
        ..Default::default()
    }
}

fn int(value: u64) -> Payload {
    Payload {
        metadata: HashMap::from([
            ("encoding".to_owned(), b"json/plain".to_vec()),
            ("type".to_owned(), b"Int".to_vec()),
        ]),
        data: value.to_string().into_bytes(),
        ..Default::default()
    }
}

/// Registers the benchmark's custom attributes (an existing one is left as it is).
async fn add_search_attributes(address: &str, namespace: &str) -> Result<()> {
    let channel = tonic::transport::Endpoint::from_shared(client::normalize_address(address))?
        .connect()
        .await
        .context("connecting the OperatorService")?;
    let mut op = OperatorServiceClient::new(channel);
    let request = AddSearchAttributesRequest {
        namespace: namespace.to_owned(),
        search_attributes: HashMap::from([
            ("BenchCustomer".to_owned(), IndexedValueType::Keyword as i32),
            ("BenchPriority".to_owned(), IndexedValueType::Int as i32),
        ]),
    };
    op.add_search_attributes(request).await.context("AddSearchAttributes")?;
    Ok(())
}

/// Starts (and for the first `closed`, terminates) `closed + open` runs. Returns the wall-clock
/// time (ns since the epoch) when half of them had started, and the error count.
async fn load(client: &Client, args: &VisibilityArgs) -> (i64, u64) {
    let total = args.closed + args.open;
    let errors = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicU64::new(0));
    let half_time = Arc::new(std::sync::atomic::AtomicI64::new(0));
    let began = Instant::now();
    let mut set = JoinSet::new();
    let mut last_print = Instant::now();
    for i in 0..total {
        while set.len() >= args.load_concurrency.max(1) {
            set.join_next().await;
        }
        if last_print.elapsed() > Duration::from_secs(5) {
            last_print = Instant::now();
            let n = done.load(Ordering::Relaxed);
            eprintln!("  loaded {n}/{total} ({:.0}/s)", n as f64 / began.elapsed().as_secs_f64());
        }
        let (mut c, errors, done, half_time) =
            (client.clone(), errors.clone(), done.clone(), half_time.clone());
        let namespace = args.namespace.clone();
        let close = i < args.closed;
        set.spawn(async move {
            let workflow_id = format!("{PREFIX}-{i:07}");
            let fields = HashMap::from([
                ("BenchCustomer".to_owned(), keyword(&format!("c-{}", i % CUSTOMERS))),
                ("BenchPriority".to_owned(), int(i % 5)),
            ]);
            let start = StartWorkflowExecutionRequest {
                namespace: namespace.clone(),
                workflow_id: workflow_id.clone(),
                workflow_type: Some(WorkflowType {
                    name: if i % 10 == 0 { "Summarize".into() } else { "Ingest".into() },
                }),
                task_queue: Some(client::task_queue("vis-bench")),
                request_id: uuid::Uuid::new_v4().to_string(),
                search_attributes: Some(SearchAttributes { indexed_fields: fields }),
                ..Default::default()
            };
            let run_id = match c.start_workflow_execution(start).await {
                Ok(r) => r.into_inner().run_id,
                Err(_) => {
                    errors.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            };
            if close {
                let terminate = TerminateWorkflowExecutionRequest {
                    namespace,
                    workflow_execution: Some(WorkflowExecution { workflow_id, run_id }),
                    reason: "visibility benchmark".into(),
                    ..Default::default()
                };
                if c.terminate_workflow_execution(terminate).await.is_err() {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
            }
            if done.fetch_add(1, Ordering::Relaxed) + 1 == total / 2 {
                half_time.store(now_ns(), Ordering::Relaxed);
            }
        });
    }
    while set.join_next().await.is_some() {}
    let half = match half_time.load(Ordering::Relaxed) {
        0 => now_ns(),
        t => t,
    };
    (half, errors.load(Ordering::Relaxed))
}

fn now_ns() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as i64).unwrap_or(0)
}

/// RFC 3339 of `ns` since the epoch, UTC.
fn rfc3339(ns: i64) -> String {
    let secs = ns.div_euclid(1_000_000_000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// Times `repeat` executions of one query (after an untimed one).
async fn time_query(
    client: &Client,
    args: &VisibilityArgs,
    name: &str,
    count: bool,
    query: String,
) -> Result<QueryReport> {
    let mut samples = Vec::with_capacity(args.repeat);
    let mut result = 0;
    for i in 0..=args.repeat {
        let mut c = client.clone();
        let began = Instant::now();
        result = if count {
            let r = c
                .count_workflow_executions(CountWorkflowExecutionsRequest {
                    namespace: args.namespace.clone(),
                    query: query.clone(),
                })
                .await
                .with_context(|| format!("{name}: CountWorkflowExecutions({query})"))?;
            r.into_inner().count
        } else {
            let r = c
                .list_workflow_executions(ListWorkflowExecutionsRequest {
                    namespace: args.namespace.clone(),
                    page_size: 100,
                    query: query.clone(),
                    ..Default::default()
                })
                .await
                .with_context(|| format!("{name}: ListWorkflowExecutions({query})"))?;
            r.into_inner().executions.len() as i64
        };
        if i > 0 {
            samples.push(began.elapsed().as_micros() as u64);
        }
    }
    Ok(QueryReport {
        name: name.to_owned(),
        rpc: if count { "CountWorkflowExecutions" } else { "ListWorkflowExecutions (page 100)" }.to_owned(),
        query,
        result,
        latency: Latency::from_micros(samples),
    })
}

/// Runs the benchmark.
pub async fn run(args: VisibilityArgs) -> Result<()> {
    let client = client::connect(&args.address).await?;
    add_search_attributes(&args.address, &args.namespace).await?;
    let (mut load_seconds, mut load_rate, mut load_errors) = (None, None, 0);
    let mid = if args.no_load {
        now_ns() - 3_600_000_000_000
    } else {
        eprintln!("loading {} closed + {} open runs into {}", args.closed, args.open, args.address);
        let began = Instant::now();
        let (mid, errors) = load(&client, &args).await;
        let secs = began.elapsed().as_secs_f64();
        load_seconds = Some(secs);
        load_rate = Some((args.closed + args.open) as f64 / secs);
        load_errors = errors;
        eprintln!("  loaded in {secs:.1} s, {errors} error(s)");
        mid
    };
    let queries = [
        ("newest 100", false, String::new()),
        (
            "selective filter",
            false,
            format!(
                "WorkflowType = 'Summarize' AND ExecutionStatus = 'Terminated' AND StartTime > '{}'",
                rfc3339(mid)
            ),
        ),
        ("custom Keyword", false, "BenchCustomer = 'c-42'".to_owned()),
        ("STARTS_WITH", false, format!("WorkflowId STARTS_WITH '{PREFIX}-00042'")),
        ("count GROUP BY ExecutionStatus", true, "GROUP BY ExecutionStatus".to_owned()),
        ("count custom Int", true, "BenchPriority = 3".to_owned()),
    ];
    let mut reports = Vec::new();
    for (name, count, query) in queries {
        let r = time_query(&client, &args, name, count, query).await?;
        eprintln!(
            "  {:<32} p50 {:>8.2} ms  p95 {:>8.2} ms  result {}",
            r.name, r.latency.p50_ms, r.latency.p90_ms, r.result
        );
        reports.push(r);
    }
    let report = VisibilityReport {
        address: args.address.clone(),
        closed: args.closed,
        open: args.open,
        load_seconds,
        load_runs_per_sec: load_rate,
        load_errors,
        queries: reports,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("{:<32} {:>10} {:>10} {:>10} {:>10}", "query", "p50 ms", "p90 ms", "max ms", "result");
        for q in &report.queries {
            println!(
                "{:<32} {:>10.2} {:>10.2} {:>10.2} {:>10}",
                q.name, q.latency.p50_ms, q.latency.p90_ms, q.latency.max_ms, q.result
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_of_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_709_337_600_000_000_000), "2024-03-02T00:00:00Z");
        assert_eq!(rfc3339(951_782_400_000_000_000), "2000-02-29T00:00:00Z");
    }
}
