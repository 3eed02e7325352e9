//! Workflow-level RPCs: start, signal, signal-with-start, cancel, terminate, describe, history
//! and queries.
#![allow(deprecated)] // WorkflowIdReusePolicy::TerminateIfRunning is deprecated but still sent by clients.

use super::Frontend;
use super::deadline::poll_deadline;
use crate::error::{ApiError, ApiResult};
use crate::matching::{Dispatch, QueryTask, QueueKind};
use crate::starter::StartFields;
use crate::validate::{check_blob, check_id, check_run_id};
use endure_api::temporal::api::activity::v1::ActivityOptions;
use endure_api::temporal::api::common::v1::{Link, WorkflowExecution};
use endure_api::temporal::api::enums::v1::{
    EventType, HistoryEventFilterType, PendingActivityState, PendingWorkflowTaskState, QueryRejectCondition,
    QueryResultType, WorkflowExecutionStatus as Status, WorkflowIdConflictPolicy,
};
use endure_api::temporal::api::history::v1::History;
use endure_api::temporal::api::query::v1::QueryRejected;
use endure_api::temporal::api::taskqueue::v1::TaskQueue;
use endure_api::temporal::api::workflow::v1 as wf;
use endure_api::temporal::api::workflowservice::v1 as ws;
use endure_core::MutableState;
use endure_core::time::{self, to_opt_duration, to_timestamp};
use endure_core::transition::InitialSignal;
use endure_store::RunKey;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use tonic::Request;

/// How long a history long poll waits before answering with an empty page.
const HISTORY_LONG_POLL: Duration = Duration::from_secs(20);
/// Default and maximum history page size.
const HISTORY_PAGE: usize = 1000;
/// How long a query waits for a worker when the client sets no deadline.
const QUERY_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Serialize, Deserialize)]
struct HistoryToken {
    run_id: String,
    next_event_id: i64,
}

fn execution(r: &Option<WorkflowExecution>) -> ApiResult<&WorkflowExecution> {
    let e = r.as_ref().ok_or_else(|| ApiError::InvalidArgument("Execution is not set on request.".into()))?;
    check_id(&e.workflow_id, "WorkflowId")?;
    check_run_id(&e.run_id)?;
    Ok(e)
}

/// Moves the start fields out of a StartWorkflowExecution or SignalWithStartWorkflowExecution
/// request (the two messages name them identically).
macro_rules! start_fields {
    ($r:ident) => {
        StartFields {
            workflow_id: $r.workflow_id,
            workflow_type: $r.workflow_type,
            task_queue: $r.task_queue,
            input: $r.input,
            execution_timeout: $r.workflow_execution_timeout,
            run_timeout: $r.workflow_run_timeout,
            task_timeout: $r.workflow_task_timeout,
            identity: $r.identity,
            request_id: $r.request_id,
            reuse: $r.workflow_id_reuse_policy,
            conflict: $r.workflow_id_conflict_policy,
            retry_policy: $r.retry_policy,
            cron_schedule: $r.cron_schedule,
            memo: $r.memo,
            header: $r.header,
            search_attributes: $r.search_attributes,
            priority: $r.priority,
            user_metadata: $r.user_metadata,
            start_delay: $r.workflow_start_delay,
            versioning_override: $r.versioning_override,
            ..Default::default()
        }
    };
}

/// The start fields of a StartWorkflowExecution request.
pub(crate) fn start_fields_of(r: ws::StartWorkflowExecutionRequest) -> StartFields {
    start_fields!(r)
}

impl Frontend {
    pub(crate) async fn start_workflow_execution(
        &self,
        r: Request<ws::StartWorkflowExecutionRequest>,
    ) -> ApiResult<ws::StartWorkflowExecutionResponse> {
        let r = r.into_inner();
        let ns = self.namespaces.by_name(&r.namespace).await?;
        let eager = r.request_eager_execution && self.dynamic.eager_workflow_start;
        let f = start_fields_of(r);
        let (identity, queue) = (f.identity.clone(), f.task_queue.clone());
        let workflow_id = f.workflow_id.clone();
        let has_delay = time::opt_duration(&f.start_delay) > 0 || !f.cron_schedule.is_empty();
        let (s, _lock) = self.starter.start_workflow_holding_lock(&ns, f, None, None).await?;
        tracing::Span::current().record("temporal.run_id", s.run_id.as_str());
        // As the real server: a link to the start of the run answered with, whether this call
        // started it, repeated the call that did, or found it running (use existing).
        let link = Some(started_event_link(&ns.name, &workflow_id, &s.run_id));
        let eager_workflow_task = if eager && s.fresh && !has_delay {
            // Hand the first workflow task straight to the starting worker.
            let t = crate::matching::TaskRef {
                task_id: 0,
                run: endure_store::RunKey {
                    namespace_id: ns.id.clone(),
                    workflow_id,
                    run_id: s.run_id.clone(),
                },
                task: endure_core::Task::WorkflowTask {
                    task_queue: queue.map(|q| q.name).unwrap_or_default(),
                    stamp: 1,
                    sticky: false,
                    order: Default::default(),
                    version: String::new(),
                },
            };
            // Still under the workflow lock: no poller can take the task meanwhile.
            let poller = endure_core::transition::Poller { identity, ..Default::default() };
            self.start_workflow_task_as(&ns, &t, &poller, true).await.ok()
        } else {
            None
        };
        Ok(ws::StartWorkflowExecutionResponse {
            first_execution_run_id: s.run_id.clone(),
            run_id: s.run_id,
            started: s.started,
            status: Status::Running as i32,
            eager_workflow_task,
            link,
        })
    }

    pub(crate) async fn signal_with_start_workflow_execution(
        &self,
        r: Request<ws::SignalWithStartWorkflowExecutionRequest>,
    ) -> ApiResult<ws::SignalWithStartWorkflowExecutionResponse> {
        let r = r.into_inner();
        let ns = self.namespaces.by_name(&r.namespace).await?;
        check_id(&r.signal_name, "SignalName")?;
        check_blob(&r.signal_input, self.engine.limits())?;
        if r.workflow_id_conflict_policy == WorkflowIdConflictPolicy::Fail as i32 {
            return Err(ApiError::InvalidArgument(
                "Invalid WorkflowIDConflictPolicy: WORKFLOW_ID_CONFLICT_POLICY_FAIL is not supported for this operation."
                    .into(),
            ));
        }
        let signal = InitialSignal {
            name: r.signal_name,
            input: r.signal_input,
            identity: r.identity.clone(),
            header: r.header.clone(),
            request_id: r.request_id.clone(),
        };
        let (workflow_id, request_id) = (r.workflow_id.clone(), r.request_id.clone());
        let f = start_fields!(r);
        let s = self.starter.start_workflow(&ns, f, Some(signal), None).await?;
        tracing::Span::current().record("temporal.run_id", s.run_id.as_str());
        let key = RunKey {
            namespace_id: ns.id.clone(),
            workflow_id: workflow_id.clone(),
            run_id: s.run_id.clone(),
        };
        let first_execution_run_id = self.engine.load(&key).await?.ms.first_execution_run_id;
        Ok(ws::SignalWithStartWorkflowExecutionResponse {
            signal_link: Some(request_event_link(
                &ns.name,
                &workflow_id,
                &s.run_id,
                &request_id,
                EventType::WorkflowExecutionSignaled,
            )),
            first_execution_run_id,
            run_id: s.run_id,
            started: s.started,
        })
    }

    pub(crate) async fn signal_workflow_execution(
        &self,
        r: Request<ws::SignalWorkflowExecutionRequest>,
    ) -> ApiResult<ws::SignalWorkflowExecutionResponse> {
        let r = r.into_inner();
        let ns = self.namespaces.by_name(&r.namespace).await?;
        let e = execution(&r.workflow_execution)?;
        check_id(&r.signal_name, "SignalName")?;
        check_blob(&r.input, self.engine.limits())?;
        let key = self.engine.resolve_run(&ns.id, &e.workflow_id, &e.run_id).await?;
        self.engine
            .update(&key, None, |t| {
                t.signal(&r.signal_name, r.input.clone(), &r.identity, r.header.clone(), &r.request_id)
            })
            .await?;
        Ok(ws::SignalWorkflowExecutionResponse {
            link: Some(request_event_link(
                &ns.name,
                &key.workflow_id,
                &key.run_id,
                &r.request_id,
                EventType::WorkflowExecutionSignaled,
            )),
        })
    }

    pub(crate) async fn request_cancel_workflow_execution(
        &self,
        r: Request<ws::RequestCancelWorkflowExecutionRequest>,
    ) -> ApiResult<ws::RequestCancelWorkflowExecutionResponse> {
        let r = r.into_inner();
        let ns = self.namespaces.by_name(&r.namespace).await?;
        let e = execution(&r.workflow_execution)?;
        let key = self.engine.resolve_run(&ns.id, &e.workflow_id, &e.run_id).await?;
        // Asking a closed run to cancel succeeds and changes nothing, as on the real server.
        if !self.engine.load(&key).await?.ms.is_open() {
            return Ok(ws::RequestCancelWorkflowExecutionResponse::default());
        }
        self.engine.update(&key, None, |t| t.request_cancel(&r.reason, &r.identity)).await?;
        Ok(ws::RequestCancelWorkflowExecutionResponse::default())
    }

    pub(crate) async fn terminate_workflow_execution(
        &self,
        r: Request<ws::TerminateWorkflowExecutionRequest>,
    ) -> ApiResult<ws::TerminateWorkflowExecutionResponse> {
        let r = r.into_inner();
        let ns = self.namespaces.by_name(&r.namespace).await?;
        let e = execution(&r.workflow_execution)?;
        check_blob(&r.details, self.engine.limits())?;
        let key = self.engine.resolve_run(&ns.id, &e.workflow_id, &e.run_id).await?;
        self.engine.update(&key, None, |t| t.terminate(&r.reason, r.details.clone(), &r.identity)).await?;
        Ok(ws::TerminateWorkflowExecutionResponse::default())
    }

    pub(crate) async fn reset_workflow_execution(
        &self,
        r: Request<ws::ResetWorkflowExecutionRequest>,
    ) -> ApiResult<ws::ResetWorkflowExecutionResponse> {
        use endure_api::temporal::api::enums::v1::{ResetReapplyExcludeType, ResetReapplyType};
        let r = r.into_inner();
        let ns = self.namespaces.by_name(&r.namespace).await?;
        let e = execution(&r.workflow_execution)?;
        let key = self.engine.resolve_run(&ns.id, &e.workflow_id, &e.run_id).await?;
        #[allow(deprecated)]
        let reapply = r.reset_reapply_type != ResetReapplyType::None as i32
            && !r.reset_reapply_exclude_types.contains(&(ResetReapplyExcludeType::Signal as i32));
        let run_id = self
            .engine
            .reset(&key, r.workflow_task_finish_event_id, &r.reason, reapply, &r.request_id)
            .await?;
        Ok(ws::ResetWorkflowExecutionResponse { run_id })
    }

    pub(crate) async fn update_workflow_execution_options(
        &self,
        r: Request<ws::UpdateWorkflowExecutionOptionsRequest>,
    ) -> ApiResult<ws::UpdateWorkflowExecutionOptionsResponse> {
        let r = r.into_inner();
        let ns = self.namespaces.by_name(&r.namespace).await?;
        let e = execution(&r.workflow_execution)?;
        let Some(update_mask) = r.update_mask else {
            return Err(ApiError::InvalidArgument("UpdateMask is required".into()));
        };
        let mask = endure_core::options::OptionsMask::of(&update_mask.paths)?;
        let options = r.workflow_execution_options.unwrap_or_default();
        let key = self.engine.resolve_run(&ns.id, &e.workflow_id, &e.run_id).await?;
        if mask.versioning_override
            && let Some(o) = options.versioning_override.clone()
            && let Some(pin) = (endure_core::deployment::RunVersioning {
                override_: Some(endure_core::deployment::normalize_override(o)),
                ..Default::default()
            })
            .override_pin()
        {
            // As the real server: a pin must name a version that polls the run's task queue.
            let ms = self.engine.load(&key).await?.ms;
            let queue = ms.task_queue.clone();
            let ty = crate::deployments::queue_type(crate::matching::QueueKind::Workflow);
            let present = self.deployments.load(&ns.id, &pin.deployment).await?.is_some_and(|(_, d)| {
                d.deployment.as_deref().is_some_and(|d| {
                    d.versions
                        .get(&pin.build_id)
                        .is_some_and(|v| v.task_queues.contains(&(queue.clone(), ty)))
                })
            });
            if !present {
                return Err(ApiError::FailedPrecondition(format!(
                    "Pinned version '{}' is not present in task queue '{queue}' of type 'Workflow'",
                    pin.key()
                )));
            }
        }
        let now = self.engine.now();
        let options =
            self.engine.update(&key, None, |t| t.update_options(&options, mask, &r.identity)).await?;
        Ok(ws::UpdateWorkflowExecutionOptionsResponse {
            workflow_execution_options: Some(options),
            update_time: Some(time::to_timestamp(now)),
        })
    }

    pub(crate) async fn delete_workflow_execution(
        &self,
        r: Request<ws::DeleteWorkflowExecutionRequest>,
    ) -> ApiResult<ws::DeleteWorkflowExecutionResponse> {
        let r = r.into_inner();
        let ns = self.namespaces.by_name(&r.namespace).await?;
        let e = execution(&r.workflow_execution)?;
        let key = self.engine.resolve_run(&ns.id, &e.workflow_id, &e.run_id).await?;
        self.engine.delete_run(&key, "").await?;
        Ok(ws::DeleteWorkflowExecutionResponse {})
    }

    pub(crate) async fn describe_workflow_execution(
        &self,
        r: Request<ws::DescribeWorkflowExecutionRequest>,
    ) -> ApiResult<ws::DescribeWorkflowExecutionResponse> {
        let r = r.into_inner();
        let ns = self.namespaces.by_name(&r.namespace).await?;
        let e = execution(&r.execution)?;
        let key = self.engine.resolve_run(&ns.id, &e.workflow_id, &e.run_id).await?;
        let ms = self.engine.load(&key).await?.ms;
        let mut described = describe(&ms);
        if let Some(info) = described.workflow_execution_info.as_mut() {
            // Written even when empty, as the real server writes it.
            info.auto_reset_points.get_or_insert_with(Default::default);
            if let Some(sa) = info.search_attributes.as_mut() {
                let types = self.search_attributes.of(&ns.id).await?;
                *sa = crate::search_attributes::present(&types, sa);
            }
        }
        Ok(described)
    }

    /// The run a history read addresses (the page token's run wins) and the decoded token.
    async fn history_target(
        &self,
        namespace: &str,
        execution_ref: &Option<WorkflowExecution>,
        page_token: &[u8],
    ) -> ApiResult<(RunKey, Option<HistoryToken>)> {
        let ns = self.namespaces.by_name(namespace).await?;
        let e = execution(execution_ref)?;
        let token: Option<HistoryToken> = if page_token.is_empty() {
            None
        } else {
            Some(
                serde_json::from_slice(page_token)
                    .map_err(|_| ApiError::InvalidArgument("Invalid NextPageToken.".into()))?,
            )
        };
        let run_id = token.as_ref().map(|t| t.run_id.clone()).unwrap_or_else(|| e.run_id.clone());
        Ok((self.engine.resolve_run(&ns.id, &e.workflow_id, &run_id).await?, token))
    }

    pub(crate) async fn get_workflow_execution_history(
        &self,
        req: Request<ws::GetWorkflowExecutionHistoryRequest>,
    ) -> ApiResult<ws::GetWorkflowExecutionHistoryResponse> {
        let deadline = poll_deadline(&req, HISTORY_LONG_POLL);
        let r = req.into_inner();
        let (key, token) = self.history_target(&r.namespace, &r.execution, &r.next_page_token).await?;
        let page = match r.maximum_page_size {
            n if n <= 0 => HISTORY_PAGE,
            n => (n as usize).min(HISTORY_PAGE * 10),
        };
        let close_only = r.history_event_filter_type == HistoryEventFilterType::CloseEvent as i32;
        let mut first = token.as_ref().map(|t| t.next_event_id).unwrap_or(1);
        let mut ms = self.engine.load(&key).await?.ms;
        if r.wait_new_event {
            let waiting = |ms: &MutableState, first: i64| {
                if close_only { ms.is_open() } else { ms.is_open() && ms.next_event_id <= first }
            };
            if waiting(&ms, first) {
                let mut rx = self.engine.watch(&key, (ms.next_event_id, !ms.is_open()));
                // Re-read after subscribing so a commit in between is not missed.
                ms = self.engine.load(&key).await?.ms;
                let mut shutdown = self.shutdown.clone();
                while waiting(&ms, first) && !*shutdown.borrow() {
                    tokio::select! {
                        changed = rx.changed() => if changed.is_err() { break },
                        _ = tokio::time::sleep_until(deadline) => break,
                        _ = shutdown.changed() => break,
                    }
                    ms = self.engine.load(&key).await?.ms;
                }
            }
        }
        let token_for = |next: i64| {
            serde_json::to_vec(&HistoryToken { run_id: key.run_id.clone(), next_event_id: next })
                .unwrap_or_default()
        };
        if close_only {
            if ms.is_open() {
                let next_page_token = if r.wait_new_event { token_for(first) } else { vec![] };
                return Ok(ws::GetWorkflowExecutionHistoryResponse {
                    history: Some(History::default()),
                    next_page_token,
                    ..Default::default()
                });
            }
            let events = self
                .engine
                .read_events(&key, ms.completion_event_id, ms.completion_event_id + 1, 1)
                .await?
                .into_iter()
                .map(|e| as_continued_as_new(e, &ms))
                .collect();
            return Ok(ws::GetWorkflowExecutionHistoryResponse {
                history: Some(History { events }),
                ..Default::default()
            });
        }
        first = first.max(1);
        let mut events = self.engine.read_events(&key, first, ms.next_event_id, page).await?;
        let next = events.last().map(|ev| ev.event_id + 1).unwrap_or(first);
        let next_page_token = if next < ms.next_event_id || (r.wait_new_event && ms.is_open()) {
            token_for(next)
        } else {
            vec![]
        };
        if next_page_token.is_empty() {
            // As the real server: the last page shows a retried workflow task's (unwritten) events.
            events.extend(endure_core::transition::transient_history(&ms));
        }
        Ok(ws::GetWorkflowExecutionHistoryResponse {
            history: Some(History { events }),
            next_page_token,
            ..Default::default()
        })
    }

    pub(crate) async fn get_workflow_execution_history_reverse(
        &self,
        r: Request<ws::GetWorkflowExecutionHistoryReverseRequest>,
    ) -> ApiResult<ws::GetWorkflowExecutionHistoryReverseResponse> {
        let r = r.into_inner();
        let (key, token) = self.history_target(&r.namespace, &r.execution, &r.next_page_token).await?;
        let ms = self.engine.load(&key).await?.ms;
        let before = token.map(|t| t.next_event_id).unwrap_or(ms.next_event_id);
        let page = if r.maximum_page_size <= 0 { HISTORY_PAGE } else { r.maximum_page_size as usize };
        let events = self.engine.read_events_reverse(&key, before, page).await?;
        let next_page_token = match events.last() {
            Some(ev) if ev.event_id > 1 => {
                serde_json::to_vec(&HistoryToken { run_id: key.run_id.clone(), next_event_id: ev.event_id })
                    .unwrap_or_default()
            }
            _ => vec![],
        };
        Ok(ws::GetWorkflowExecutionHistoryReverseResponse {
            history: Some(History { events }),
            next_page_token,
        })
    }

    pub(crate) async fn query_workflow(
        &self,
        req: Request<ws::QueryWorkflowRequest>,
    ) -> ApiResult<ws::QueryWorkflowResponse> {
        let deadline = poll_deadline(&req, QUERY_TIMEOUT);
        let r = req.into_inner();
        let ns = self.namespaces.by_name(&r.namespace).await?;
        let e = execution(&r.execution)?;
        let query =
            r.query.ok_or_else(|| ApiError::InvalidArgument("Query is not set on request.".into()))?;
        if query.query_type.is_empty() {
            return Err(ApiError::InvalidArgument("QueryType is not set on request.".into()));
        }
        let key = self.engine.resolve_run(&ns.id, &e.workflow_id, &e.run_id).await?;
        let mut ms = self.engine.load(&key).await?.ms;
        let rejected = match QueryRejectCondition::try_from(r.query_reject_condition)
            .unwrap_or(QueryRejectCondition::None)
        {
            QueryRejectCondition::NotOpen => !ms.is_open(),
            QueryRejectCondition::NotCompletedCleanly => {
                ms.status != Status::Running as i32 && ms.status != Status::Completed as i32
            }
            _ => false,
        };
        if rejected {
            return Ok(ws::QueryWorkflowResponse {
                query_rejected: Some(QueryRejected { status: ms.status }),
                ..Default::default()
            });
        }
        // Queries are strongly consistent: a query must see every event accepted before it.
        // While a workflow task is outstanding (or the first one has not run yet) the worker's
        // state is behind history, so the query rides along with the next workflow task (its
        // answer comes back in that task's completion); if the run turns idle first, it goes to
        // a worker as a query task of its own.
        let busy = |ms: &MutableState| {
            ms.is_open() && (ms.workflow_task.is_some() || ms.last_completed_wft_started_id == 0)
        };
        let query_id = self.engine.new_id();
        let (tx, mut answer_rx) = tokio::sync::oneshot::channel();
        self.queries.lock().insert(query_id.clone(), tx);
        let mut shutdown = self.shutdown.clone();
        let mut dispatch = !busy(&ms);
        let mut early_answer = None;
        if !dispatch {
            self.buffered_queries
                .lock()
                .entry(key.clone())
                .or_default()
                .push((query_id.clone(), query.clone()));
            let mut rx = self.engine.watch(&key, (ms.next_event_id, false));
            loop {
                // Re-read after subscribing, and after every change, so a task that finished in
                // between is not missed.
                ms = self.engine.load(&key).await?.ms;
                if !busy(&ms) && self.take_buffered_query(&key, &query_id) {
                    dispatch = true;
                    break;
                }
                tokio::select! {
                    a = &mut answer_rx => {
                        early_answer = a.ok();
                        break;
                    }
                    changed = rx.changed() => if changed.is_err() { break },
                    _ = shutdown.wait_for(|s| *s) => break,
                    _ = tokio::time::sleep_until(deadline) => break,
                }
            }
            self.take_buffered_query(&key, &query_id);
        }
        if dispatch {
            // As the real server: to the worker that has the run cached (its sticky queue, when
            // polled here), else to the workflow's queue with the history.
            let sticky = !ms.sticky_queue.is_empty()
                && self.ownership.holds(self.ownership.queue_shard(&ns.id, &ms.sticky_queue))
                && self.matching.is_live(&ns.id, &ms.sticky_queue, QueueKind::Workflow);
            let queue = if sticky { &ms.sticky_queue } else { &ms.task_queue };
            self.engine.router().offer(
                &ns.id,
                queue,
                QueueKind::Workflow,
                false,
                Dispatch::Query(QueryTask {
                    query_id: query_id.clone(),
                    run: key.clone(),
                    query,
                    remote: false,
                    sticky,
                }),
            );
        }
        let answer = match early_answer {
            Some(a) => Some(a),
            None if dispatch => tokio::select! {
                a = tokio::time::timeout_at(deadline, answer_rx) => a.ok().and_then(Result::ok),
                _ = shutdown.wait_for(|s| *s) => None,
            },
            None => None,
        };
        self.queries.lock().remove(&query_id);
        let Some(answer) = answer else {
            return Err(ApiError::DeadlineExceeded("query timed out: no worker answered".into()));
        };
        match QueryResultType::try_from(answer.completed_type).unwrap_or(QueryResultType::Unspecified) {
            QueryResultType::Answered => {
                Ok(ws::QueryWorkflowResponse { query_result: answer.query_result, ..Default::default() })
            }
            _ => Err(ApiError::QueryFailed {
                message: answer.error_message,
                failure: answer.failure.map(Box::new),
            }),
        }
    }

    /// Removes a query from its run's buffer; false if a workflow task already took it.
    fn take_buffered_query(&self, key: &RunKey, query_id: &str) -> bool {
        let mut b = self.buffered_queries.lock();
        let Some(list) = b.get_mut(key) else { return false };
        let before = list.len();
        list.retain(|(id, _)| id != query_id);
        let taken = list.len() < before;
        if list.is_empty() {
            b.remove(key);
        }
        taken
    }

    pub(crate) async fn respond_query_task_completed(
        &self,
        r: Request<ws::RespondQueryTaskCompletedRequest>,
    ) -> ApiResult<ws::RespondQueryTaskCompletedResponse> {
        let r = r.into_inner();
        let token = endure_core::token::TaskToken::decode(&r.task_token)?;
        let waiter = self.queries.lock().remove(&token.query_id);
        match waiter {
            Some(tx) => {
                let _ = tx.send(r);
                Ok(ws::RespondQueryTaskCompletedResponse {})
            }
            None => Err(ApiError::NotFound("query task not found, or already expired".into())),
        }
    }
}

/// As the real server does for the close-event filter: the close event of a run that a retry
/// or cron run continues reads as WorkflowExecutionContinuedAsNew (same event id), so clients
/// follow the chain instead of reporting the intermediate failure or result.
fn as_continued_as_new(
    e: endure_api::temporal::api::history::v1::HistoryEvent,
    ms: &MutableState,
) -> endure_api::temporal::api::history::v1::HistoryEvent {
    use endure_api::temporal::api::enums::v1::{ContinueAsNewInitiator, EventType};
    use endure_api::temporal::api::history::v1::{
        WorkflowExecutionContinuedAsNewEventAttributes as Can, history_event::Attributes as A,
    };
    let base = || Can {
        workflow_type: ms.workflow_type.clone(),
        task_queue: Some(endure_core::transition::normal_queue(&ms.task_queue)),
        input: ms.input.clone(),
        workflow_run_timeout: to_opt_duration(ms.run_timeout),
        workflow_task_timeout: to_opt_duration(ms.task_timeout),
        header: ms.header.clone(),
        memo: ms.memo.clone(),
        search_attributes: ms.search_attributes.clone(),
        ..Default::default()
    };
    let converted = match &e.attributes {
        Some(A::WorkflowExecutionCompletedEventAttributes(a)) if !a.new_execution_run_id.is_empty() => {
            Some(Can {
                new_execution_run_id: a.new_execution_run_id.clone(),
                workflow_task_completed_event_id: a.workflow_task_completed_event_id,
                initiator: ContinueAsNewInitiator::CronSchedule as i32,
                last_completion_result: a.result.clone(),
                ..base()
            })
        }
        Some(A::WorkflowExecutionFailedEventAttributes(a)) if !a.new_execution_run_id.is_empty() =>
        {
            #[allow(deprecated)]
            Some(Can {
                new_execution_run_id: a.new_execution_run_id.clone(),
                workflow_task_completed_event_id: a.workflow_task_completed_event_id,
                initiator: if a.retry_state
                    == endure_api::temporal::api::enums::v1::RetryState::InProgress as i32
                {
                    ContinueAsNewInitiator::Retry as i32
                } else {
                    ContinueAsNewInitiator::CronSchedule as i32
                },
                failure: a.failure.clone(),
                ..base()
            })
        }
        Some(A::WorkflowExecutionTimedOutEventAttributes(a)) if !a.new_execution_run_id.is_empty() => {
            Some(Can {
                new_execution_run_id: a.new_execution_run_id.clone(),
                initiator: ContinueAsNewInitiator::Retry as i32,
                ..base()
            })
        }
        _ => None,
    };
    match converted {
        Some(attrs) => endure_api::temporal::api::history::v1::HistoryEvent {
            event_type: EventType::WorkflowExecutionContinuedAsNew as i32,
            attributes: Some(A::WorkflowExecutionContinuedAsNewEventAttributes(attrs)),
            ..e
        },
        None => e,
    }
}

/// DescribeWorkflowExecution's answer for a run.
pub(crate) fn describe(ms: &MutableState) -> ws::DescribeWorkflowExecutionResponse {
    let pending_activities = ms
        .activities
        .values()
        .map(|a| {
            let started = a.state == endure_core::ActivityState::Started;
            let state = if a.cancel_requested {
                PendingActivityState::CancelRequested
            } else if a.paused && started {
                PendingActivityState::PauseRequested
            } else if a.paused {
                PendingActivityState::Paused
            } else if started {
                PendingActivityState::Started
            } else {
                PendingActivityState::Scheduled
            };
            let policy = a.retry_policy.clone().unwrap_or_default();
            wf::PendingActivityInfo {
                activity_id: a.activity_id.clone(),
                activity_type: a.activity_type.clone(),
                state: state as i32,
                heartbeat_details: a.heartbeat_details.clone(),
                last_heartbeat_time: (a.last_heartbeat_time > 0).then(|| to_timestamp(a.last_heartbeat_time)),
                last_started_time: (a.started_time > 0).then(|| to_timestamp(a.started_time)),
                attempt: a.attempt,
                maximum_attempts: policy.maximum_attempts,
                scheduled_time: Some(to_timestamp(a.scheduled_time)),
                expiration_time: (a.schedule_to_close_timeout > 0)
                    .then(|| to_timestamp(a.first_scheduled_time + a.schedule_to_close_timeout)),
                last_failure: a.last_failure.clone(),
                last_worker_identity: if a.started_identity.is_empty() {
                    a.last_worker_identity.clone()
                } else {
                    a.started_identity.clone()
                },
                next_attempt_schedule_time: (a.in_backoff && !a.paused)
                    .then(|| to_timestamp(a.scheduled_time)),
                current_retry_interval: (a.in_backoff && !a.paused && a.last_attempt_complete_time > 0)
                    .then(|| time::to_duration(a.scheduled_time - a.last_attempt_complete_time)),
                last_attempt_complete_time: (a.last_attempt_complete_time > 0)
                    .then(|| to_timestamp(a.last_attempt_complete_time)),
                paused: a.paused,
                pause_info: a.paused.then(|| wf::pending_activity_info::PauseInfo {
                    pause_time: Some(to_timestamp(a.pause_time)),
                    paused_by: Some(wf::pending_activity_info::pause_info::PausedBy::Manual(
                        wf::pending_activity_info::pause_info::Manual {
                            identity: a.pause_identity.clone(),
                            reason: a.pause_reason.clone(),
                        },
                    )),
                }),
                // What the activity runs with now (UpdateActivityOptions changes it), timeouts
                // as explicit zeros when unset, as the real server shows them.
                activity_options: Some(ActivityOptions {
                    task_queue: Some(TaskQueue {
                        name: a.task_queue.clone(),
                        normal_name: a.task_queue.clone(),
                        ..Default::default()
                    }),
                    schedule_to_close_timeout: Some(time::to_duration(a.schedule_to_close_timeout)),
                    schedule_to_start_timeout: Some(time::to_duration(a.schedule_to_start_timeout)),
                    start_to_close_timeout: Some(time::to_duration(a.start_to_close_timeout)),
                    heartbeat_timeout: Some(time::to_duration(a.heartbeat_timeout)),
                    retry_policy: a.retry_policy.clone(),
                    ..Default::default()
                }),
                ..Default::default()
            }
        })
        .collect();
    let pending_workflow_task = ms.workflow_task.as_ref().map(|w| wf::PendingWorkflowTaskInfo {
        state: if w.is_started() {
            PendingWorkflowTaskState::Started
        } else {
            PendingWorkflowTaskState::Scheduled
        } as i32,
        scheduled_time: Some(to_timestamp(w.scheduled_time)),
        original_scheduled_time: Some(to_timestamp(w.scheduled_time)),
        started_time: w.is_started().then(|| to_timestamp(w.started_time)),
        attempt: w.attempt,
    });
    ws::DescribeWorkflowExecutionResponse {
        execution_config: Some(wf::WorkflowExecutionConfig {
            task_queue: Some(endure_core::transition::normal_queue(&ms.task_queue)),
            workflow_execution_timeout: to_opt_duration(ms.execution_timeout),
            // A child's run timeout shows even when zero, as the real server shows it.
            workflow_run_timeout: if ms.parent.is_some() {
                Some(time::to_duration(ms.run_timeout))
            } else {
                to_opt_duration(ms.run_timeout)
            },
            default_workflow_task_timeout: to_opt_duration(ms.task_timeout),
            user_metadata: ms.user_metadata.clone(),
        }),
        workflow_execution_info: Some(execution_info(ms)),
        pending_activities,
        pending_children: ms
            .children
            .values()
            .map(|c| wf::PendingChildExecutionInfo {
                workflow_id: c.workflow_id.clone(),
                run_id: c.run_id.clone(),
                workflow_type_name: c.workflow_type.clone(),
                initiated_id: c.initiated_event_id,
                parent_close_policy: c.parent_close_policy,
            })
            .collect(),
        pending_workflow_task,
        workflow_extended_info: Some(wf::WorkflowExecutionExtendedInfo {
            execution_expiration_time: (ms.execution_timeout > 0)
                .then(|| to_timestamp(ms.execution_time + ms.execution_timeout)),
            // Without a run timeout the real server shows Go's zero time (year 1), not nothing.
            run_expiration_time: Some(if ms.run_timeout > 0 {
                to_timestamp(ms.execution_time + ms.run_timeout)
            } else {
                time::go_zero_time()
            }),
            cancel_requested: ms.cancel_requested,
            original_start_time: Some(to_timestamp(ms.start_time)),
            // The request that started the run, and the event it made.
            request_id_infos: (!ms.start_request_id.is_empty())
                .then(|| {
                    let info = wf::RequestIdInfo {
                        event_type: EventType::WorkflowExecutionStarted as i32,
                        event_id: 1,
                        buffered: false,
                    };
                    (ms.start_request_id.clone(), info)
                })
                .into_iter()
                .collect(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The WorkflowExecutionInfo of a run, from its mutable state.
pub(crate) fn execution_info(ms: &MutableState) -> wf::WorkflowExecutionInfo {
    let execution = WorkflowExecution { workflow_id: ms.workflow_id.clone(), run_id: ms.run_id.clone() };
    wf::WorkflowExecutionInfo {
        execution: Some(execution.clone()),
        r#type: ms.workflow_type.clone(),
        start_time: Some(to_timestamp(ms.start_time)),
        close_time: (ms.close_time > 0).then(|| to_timestamp(ms.close_time)),
        status: ms.status,
        history_length: ms.next_event_id - 1,
        execution_time: Some(to_timestamp(ms.execution_time)),
        memo: Some(ms.memo.clone().unwrap_or_default()),
        search_attributes: Some(ms.visible_search_attributes().unwrap_or_default()),
        task_queue: ms.task_queue.clone(),
        state_transition_count: ms.state_transition_count,
        history_size_bytes: ms.history_size_bytes,
        execution_duration: (ms.close_time > 0)
            .then(|| time::to_duration((ms.close_time - ms.execution_time).max(0))),
        root_execution: Some({
            let (workflow_id, run_id) = ms.root();
            WorkflowExecution { workflow_id, run_id }
        }),
        parent_namespace_id: ms.parent.as_ref().map(|p| p.namespace_id.clone()).unwrap_or_default(),
        parent_execution: ms
            .parent
            .as_ref()
            .map(|p| WorkflowExecution { workflow_id: p.workflow_id.clone(), run_id: p.run_id.clone() }),
        first_run_id: ms.first_execution_run_id.clone(),
        priority: ms.priority.clone(),
        // A child shows its (empty) reset points from the start, as the real server does.
        auto_reset_points: (!ms.auto_reset_points.is_empty() || ms.parent.is_some())
            .then(|| wf::ResetPoints { points: ms.auto_reset_points.clone() }),
        most_recent_worker_version_stamp: endure_core::transition::worker_version(&ms.most_recent_build_id),
        worker_deployment_name: ms
            .versioning
            .as_ref()
            .and_then(|v| v.version.as_ref())
            .map(|v| v.deployment.clone())
            .unwrap_or_default(),
        versioning_info: ms.versioning.as_deref().map(versioning_info),
        ..Default::default()
    }
}

/// A run's versioning as Describe shows it: the last versioned completion's behavior and
/// version, the routing revision that decided it, and the override with both its deprecated
/// and new fields filled, as the real server shows it.
#[allow(deprecated)]
fn versioning_info(v: &endure_core::deployment::RunVersioning) -> wf::WorkflowExecutionVersioningInfo {
    use endure_api::temporal::api::enums::v1::VersioningBehavior;
    use wf::versioning_override::Override;
    let versioning_override = v.override_.clone().map(|mut o| {
        match &o.r#override {
            Some(Override::Pinned(p)) => {
                o.behavior = VersioningBehavior::Pinned as i32;
                if let Some(version) = p.version.as_ref().and_then(endure_core::deployment::Version::of_wire)
                {
                    o.pinned_version = version.dotted();
                }
            }
            Some(Override::AutoUpgrade(true)) => o.behavior = VersioningBehavior::AutoUpgrade as i32,
            _ => {}
        }
        o
    });
    wf::WorkflowExecutionVersioningInfo {
        behavior: v.behavior,
        version: v.version.as_ref().map(|x| x.dotted()).unwrap_or_default(),
        deployment_version: v.version.as_ref().map(|x| x.wire()),
        versioning_override,
        revision_number: v.revision,
        continue_as_new_initial_versioning_behavior: v.can_initial_behavior,
        ..Default::default()
    }
}

/// The link a start response carries to the run's WorkflowExecutionStarted event (Nexus
/// callers and SDKs attach it to what they started), as the real server returns it.
/// A link to the event a request with `request_id` (maybe empty) made in a run, by the request
/// id: what the real server answers a signal (`EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED`) or an
/// update (`…_UPDATE_ACCEPTED`) with.
pub(crate) fn request_event_link(
    namespace: &str,
    workflow_id: &str,
    run_id: &str,
    request_id: &str,
    event_type: EventType,
) -> Link {
    use endure_api::temporal::api::common::v1::link::{Variant, WorkflowEvent, workflow_event};
    Link {
        variant: Some(Variant::WorkflowEvent(WorkflowEvent {
            namespace: namespace.to_owned(),
            workflow_id: workflow_id.to_owned(),
            run_id: run_id.to_owned(),
            reference: Some(workflow_event::Reference::RequestIdRef(workflow_event::RequestIdReference {
                request_id: request_id.to_owned(),
                event_type: event_type as i32,
            })),
        })),
    }
}

pub(crate) fn started_event_link(namespace: &str, workflow_id: &str, run_id: &str) -> Link {
    use endure_api::temporal::api::common::v1::link::{Variant, WorkflowEvent, workflow_event};
    Link {
        variant: Some(Variant::WorkflowEvent(WorkflowEvent {
            namespace: namespace.to_owned(),
            workflow_id: workflow_id.to_owned(),
            run_id: run_id.to_owned(),
            reference: Some(workflow_event::Reference::EventRef(workflow_event::EventReference {
                event_id: 1,
                event_type: EventType::WorkflowExecutionStarted as i32,
            })),
        })),
    }
}
