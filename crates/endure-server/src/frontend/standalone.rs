//! Standalone activities: StartActivityExecution, DescribeActivityExecution,
//! PollActivityExecution, RequestCancelActivityExecution, TerminateActivityExecution,
//! DeleteActivityExecution, ListActivityExecutions and CountActivityExecutions.
//!
//! A standalone activity is a system run (`endure_core::standalone`); these handlers validate
//! requests, make and change that run through the engine and present it. Each runs on the owner
//! of the activity's shard (routed by its system run's workflow id), except the listings, which
//! read visibility like ListWorkflowExecutions. Workers run the activity through the ordinary
//! activity RPCs (`tasks`).

use super::Frontend;
use super::deadline::poll_deadline;
use super::query_check::check;
use crate::error::{ApiError, ApiResult};
use crate::history::NewRun;
use crate::namespaces::Namespace;
use crate::validate::{check_blob, check_id, check_run_id};
use endure_api::temporal::api::activity::v1::{ActivityExecutionInfo, ActivityExecutionListInfo};
use endure_api::temporal::api::common::v1::{ActivityType, SearchAttributes};
use endure_api::temporal::api::enums::v1::{
    ActivityIdConflictPolicy, ActivityIdReusePolicy, PendingActivityState, WorkflowExecutionStatus as Status,
};
use endure_api::temporal::api::workflowservice::v1 as ws;
use endure_core::MutableState;
use endure_core::standalone::{
    ACTIVITY, NAMESPACE_DIVISION, StandaloneActivity, activity_id_of, workflow_id_of,
};
use endure_core::standalone_runner::NewStandalone;
use endure_core::time::{self, to_duration, to_timestamp};
use endure_store::visibility::{Attr, FilterExpr, SaType, Scalar};
use endure_store::{CurrentCondition, RunKey, VisibilityFilter};
use prost::Message;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use tonic::Request;

/// How long PollActivityExecution and a long-polling Describe wait at most.
const LONG_POLL: Duration = Duration::from_secs(20);

/// A Describe long-poll token: the state it described.
#[derive(Serialize, Deserialize)]
struct LongPollToken {
    run_id: String,
    transitions: i64,
}

/// The division filter: a standalone activity's system run.
fn is_standalone() -> FilterExpr {
    FilterExpr::eq(
        Attr::Custom { name: endure_core::schedule::NAMESPACE_DIVISION_ATTR.into(), ty: SaType::Keyword },
        Scalar::Str(NAMESPACE_DIVISION.into()),
    )
}

/// Search attributes a standalone activity shows: its own, without the ones the server keeps.
fn own_attributes(sa: Option<SearchAttributes>) -> SearchAttributes {
    let mut sa = sa.unwrap_or_default();
    sa.indexed_fields.remove(endure_core::schedule::NAMESPACE_DIVISION_ATTR);
    sa
}

/// The SDK name and version a client announces in its headers.
fn client_sdk<T>(r: &Request<T>) -> (String, String) {
    let get = |k: &str| r.metadata().get(k).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    (get("client-name"), get("client-version"))
}

/// An activity query as a workflow query over the activities' system runs: `ActivityId` is the
/// run's workflow id (prefixed), `ActivityType` its workflow type.
fn activities_query(text: &str) -> ApiResult<String> {
    use endure_core::query::{self, Expr, Value};
    if text.trim().is_empty() {
        return Ok(String::new());
    }
    let mut q = query::parse(text).map_err(|e| {
        ApiError::InvalidArgument(format!(
            "invalid query: syntax error at position {}: {}",
            e.offset, e.message
        ))
    })?;
    fn prefixed(v: &mut Value) {
        if let Value::Str(s) = v {
            *s = workflow_id_of(s);
        }
    }
    fn rename(name: &mut String) -> bool {
        match name.as_str() {
            "ActivityId" => {
                *name = "WorkflowId".into();
                true
            }
            "ActivityType" => {
                *name = "WorkflowType".into();
                false
            }
            _ => false,
        }
    }
    fn rewrite(e: &mut Expr) {
        match e {
            Expr::And(a, b) | Expr::Or(a, b) => {
                rewrite(a);
                rewrite(b);
            }
            Expr::Not(x) => rewrite(x),
            Expr::Compare { name, value, .. } => {
                if rename(name) {
                    prefixed(value);
                }
            }
            Expr::In { name, values, .. } => {
                if rename(name) {
                    values.iter_mut().for_each(prefixed);
                }
            }
            Expr::Between { name, low, high, .. } => {
                if rename(name) {
                    prefixed(low);
                    prefixed(high);
                }
            }
            Expr::StartsWith { name, prefix, .. } => {
                if rename(name) {
                    *prefix = workflow_id_of(prefix);
                }
            }
            Expr::IsNull { name, .. } => {
                rename(name);
            }
        }
    }
    if let Some(f) = q.filter.as_mut() {
        rewrite(f);
    }
    for o in q.order_by.iter_mut() {
        rename(&mut o.name);
    }
    Ok(q.to_string())
}

/// The run state a running activity shows.
fn run_state(ms: &MutableState) -> PendingActivityState {
    let Some(a) = ms.activities.get(&ACTIVITY) else { return PendingActivityState::Unspecified };
    if !ms.is_open() {
        return PendingActivityState::Unspecified;
    }
    if a.cancel_requested {
        PendingActivityState::CancelRequested
    } else if a.paused {
        PendingActivityState::Paused
    } else if a.state == endure_core::ActivityState::Started {
        PendingActivityState::Started
    } else {
        PendingActivityState::Scheduled
    }
}

/// What DescribeActivityExecution shows of a standalone activity's run.
fn describe_info(
    ms: &MutableState,
    s: &StandaloneActivity,
    with_details: bool,
    with_failure: bool,
) -> ActivityExecutionInfo {
    let a = ms.activities.get(&ACTIVITY).cloned().unwrap_or_default();
    let open = ms.is_open();
    let started = a.state == endure_core::ActivityState::Started;
    let opt_ts = |t: i64| (t > 0).then(|| to_timestamp(t));
    ActivityExecutionInfo {
        activity_id: s.activity_id.clone(),
        run_id: ms.run_id.clone(),
        activity_type: a.activity_type.clone(),
        status: StandaloneActivity::status(ms.status) as i32,
        run_state: run_state(ms) as i32,
        task_queue: a.task_queue.clone(),
        schedule_to_close_timeout: Some(to_duration(a.schedule_to_close_timeout)),
        schedule_to_start_timeout: Some(to_duration(a.schedule_to_start_timeout)),
        start_to_close_timeout: Some(to_duration(a.start_to_close_timeout)),
        heartbeat_timeout: Some(to_duration(a.heartbeat_timeout)),
        retry_policy: a.retry_policy.clone(),
        heartbeat_details: if with_details { a.heartbeat_details.clone() } else { None },
        last_heartbeat_time: opt_ts(s.last_heartbeat_time),
        last_started_time: opt_ts(s.last_started_time),
        attempt: a.attempt,
        execution_duration: (!open).then(|| to_duration((ms.close_time - ms.start_time).max(0))),
        schedule_time: Some(to_timestamp(ms.start_time)),
        expiration_time: (a.schedule_to_close_timeout > 0)
            .then(|| to_timestamp(a.first_scheduled_time + a.schedule_to_close_timeout)),
        close_time: opt_ts(ms.close_time),
        last_failure: if with_failure { a.last_failure.clone() } else { None },
        last_worker_identity: if started && !a.started_identity.is_empty() {
            a.started_identity.clone()
        } else {
            a.last_worker_identity.clone()
        },
        current_retry_interval: (open && a.in_backoff && a.last_attempt_complete_time > 0)
            .then(|| to_duration(a.scheduled_time - a.last_attempt_complete_time)),
        last_attempt_complete_time: opt_ts(a.last_attempt_complete_time),
        next_attempt_schedule_time: (open && a.in_backoff && a.last_attempt_complete_time > 0)
            .then(|| to_timestamp(a.scheduled_time)),
        priority: Some(ms.priority.clone().unwrap_or_default()),
        state_transition_count: ms.state_transition_count,
        state_size_bytes: serde_json::to_vec(ms).map_or(0, |v| v.len() as i64),
        search_attributes: Some(own_attributes(ms.search_attributes.clone())),
        header: a.header.clone(),
        user_metadata: ms.user_metadata.clone(),
        canceled_reason: s.canceled_reason.clone(),
        total_heartbeat_count: s.heartbeat_count,
        sdk_name: s.sdk_name.clone(),
        sdk_version: s.sdk_version.clone(),
        start_delay: (s.start_delay > 0).then(|| to_duration(s.start_delay)),
        execution_time: Some(to_timestamp(ms.execution_time)),
        ..Default::default()
    }
}

impl Frontend {
    /// The run of a standalone activity (the current one, or `run_id`), loaded.
    async fn load_activity(
        &self,
        ns: &Namespace,
        activity_id: &str,
        run_id: &str,
    ) -> ApiResult<(RunKey, MutableState)> {
        check_id(activity_id, "ActivityId")?;
        check_run_id(run_id)?;
        let not_found = || ApiError::NotFound(format!("activity not found for ID: {activity_id}"));
        let key = match self.engine.resolve_run(&ns.id, &workflow_id_of(activity_id), run_id).await {
            Ok(k) => k,
            Err(ApiError::NotFound(_)) => return Err(not_found()),
            Err(e) => return Err(e),
        };
        let ms = match self.engine.load(&key).await {
            Ok(l) => l.ms,
            Err(ApiError::NotFound(_)) => return Err(not_found()),
            Err(e) => return Err(e),
        };
        if ms.standalone.is_none() {
            return Err(not_found());
        }
        Ok((key, ms))
    }

    pub(crate) async fn start_activity_execution(
        &self,
        req: Request<ws::StartActivityExecutionRequest>,
    ) -> ApiResult<ws::StartActivityExecutionResponse> {
        let (sdk_name, sdk_version) = client_sdk(&req);
        let r = req.into_inner();
        let ns = self.namespaces.by_name(&r.namespace).await?;
        check_id(&r.activity_id, "ActivityId")?;
        let activity_type = r
            .activity_type
            .clone()
            .filter(|t| !t.name.is_empty())
            .ok_or_else(|| ApiError::InvalidArgument("ActivityType is not set on request.".into()))?;
        let task_queue = r
            .task_queue
            .as_ref()
            .map(|q| q.name.clone())
            .filter(|n| !n.is_empty())
            .ok_or_else(|| ApiError::InvalidArgument("TaskQueue is not set on request.".into()))?;
        if [
            &r.schedule_to_close_timeout,
            &r.schedule_to_start_timeout,
            &r.start_to_close_timeout,
            &r.heartbeat_timeout,
        ]
        .into_iter()
        .chain([&r.start_delay])
        .any(time::is_negative)
        {
            return Err(ApiError::InvalidArgument("Invalid timeout is set on request.".into()));
        }
        check_blob(&r.input, self.engine.limits())?;
        if let Some(attrs) = r.search_attributes.as_ref().filter(|s| !s.indexed_fields.is_empty()) {
            let types = self.search_attributes.of(&ns.id).await?;
            crate::search_attributes::validate(&ns.name, &types, attrs, false, self.engine.limits())
                .map_err(ApiError::InvalidArgument)?;
        }
        let request_id = if r.request_id.is_empty() { self.engine.new_id() } else { r.request_id.clone() };
        let workflow_id = workflow_id_of(&r.activity_id);
        let _lock = self.engine.lock(&ns.id, &workflow_id).await;
        let condition = match self.engine.current_run(&ns.id, &workflow_id).await? {
            Some(cur) if cur.start_request_id == request_id => {
                return Ok(ws::StartActivityExecutionResponse {
                    run_id: cur.run_id,
                    started: false,
                    link: None,
                });
            }
            Some(cur) if cur.status == Status::Running as i32 => {
                let policy = ActivityIdConflictPolicy::try_from(r.id_conflict_policy)
                    .unwrap_or(ActivityIdConflictPolicy::Unspecified);
                if policy == ActivityIdConflictPolicy::UseExisting {
                    return Ok(ws::StartActivityExecutionResponse {
                        run_id: cur.run_id,
                        started: false,
                        link: None,
                    });
                }
                return Err(ApiError::ActivityAlreadyStarted {
                    message: "activity execution already started".into(),
                    start_request_id: cur.start_request_id,
                    run_id: cur.run_id,
                });
            }
            Some(cur) => {
                let policy = ActivityIdReusePolicy::try_from(r.id_reuse_policy)
                    .unwrap_or(ActivityIdReusePolicy::Unspecified);
                let allowed = match policy {
                    ActivityIdReusePolicy::RejectDuplicate => false,
                    ActivityIdReusePolicy::AllowDuplicateFailedOnly => cur.status != Status::Completed as i32,
                    _ => true,
                };
                if !allowed {
                    return Err(ApiError::ActivityAlreadyStarted {
                        message: "activity execution already started".into(),
                        start_request_id: cur.start_request_id,
                        run_id: cur.run_id,
                    });
                }
                CurrentCondition::RunIs(cur.run_id)
            }
            None => CurrentCondition::Absent,
        };
        let run_id = self.engine.new_run_id();
        let (ms, tasks) = endure_core::standalone_runner::new_standalone(
            NewStandalone {
                namespace_id: ns.id.clone(),
                run_id: run_id.clone(),
                request_id,
                identity: r.identity,
                sdk_name,
                sdk_version,
                activity_id: r.activity_id,
                activity_type: ActivityType { name: activity_type.name },
                task_queue,
                schedule_to_close: time::opt_duration(&r.schedule_to_close_timeout),
                schedule_to_start: time::opt_duration(&r.schedule_to_start_timeout),
                start_to_close: time::opt_duration(&r.start_to_close_timeout),
                heartbeat: time::opt_duration(&r.heartbeat_timeout),
                retry_policy: r.retry_policy,
                input: r.input,
                header: r.header,
                memo: None,
                search_attributes: r.search_attributes.filter(|s| !s.indexed_fields.is_empty()),
                user_metadata: r.user_metadata,
                priority: r.priority,
                start_delay: time::opt_duration(&r.start_delay),
            },
            self.engine.now(),
        )?;
        self.engine.create_run(NewRun { ms: &ms, events: vec![], tasks, condition }).await?;
        Ok(ws::StartActivityExecutionResponse { run_id, started: true, link: None })
    }

    pub(crate) async fn describe_activity_execution(
        &self,
        req: Request<ws::DescribeActivityExecutionRequest>,
    ) -> ApiResult<ws::DescribeActivityExecutionResponse> {
        let deadline = poll_deadline(&req, LONG_POLL);
        let r = req.into_inner();
        let ns = self.namespaces.by_name(&r.namespace).await?;
        let (key, mut ms) = self.load_activity(&ns, &r.activity_id, &r.run_id).await?;
        if !r.long_poll_token.is_empty() {
            let t: LongPollToken = serde_json::from_slice(&r.long_poll_token)
                .map_err(|_| ApiError::InvalidArgument("invalid long poll token".into()))?;
            if t.run_id == ms.run_id && t.transitions == ms.state_transition_count {
                let mut rx = self.engine.watch(&key, (ms.next_event_id, !ms.is_open()));
                ms = self.engine.load(&key).await?.ms;
                let mut shutdown = self.shutdown.clone();
                while ms.state_transition_count == t.transitions && !*shutdown.borrow() {
                    tokio::select! {
                        changed = rx.changed() => if changed.is_err() { break },
                        _ = tokio::time::sleep_until(deadline) => break,
                        _ = shutdown.changed() => break,
                    }
                    ms = self.engine.load(&key).await?.ms;
                }
            }
        }
        let Some(s) = ms.standalone.as_deref() else {
            return Err(ApiError::NotFound(format!("activity not found for ID: {}", r.activity_id)));
        };
        let info = describe_info(&ms, s, r.include_heartbeat_details, r.include_last_failure);
        let input =
            if r.include_input { ms.activities.get(&ACTIVITY).and_then(|a| a.input.clone()) } else { None };
        let outcome = if r.include_outcome { s.outcome.clone() } else { None };
        let long_poll_token = serde_json::to_vec(&LongPollToken {
            run_id: ms.run_id.clone(),
            transitions: ms.state_transition_count,
        })
        .unwrap_or_default();
        Ok(ws::DescribeActivityExecutionResponse {
            run_id: ms.run_id.clone(),
            info: Some(info),
            input,
            outcome,
            long_poll_token,
            callbacks: vec![],
        })
    }

    pub(crate) async fn poll_activity_execution(
        &self,
        req: Request<ws::PollActivityExecutionRequest>,
    ) -> ApiResult<ws::PollActivityExecutionResponse> {
        let deadline = poll_deadline(&req, LONG_POLL);
        let r = req.into_inner();
        let ns = self.namespaces.by_name(&r.namespace).await?;
        let (key, mut ms) = self.load_activity(&ns, &r.activity_id, &r.run_id).await?;
        if ms.is_open() {
            let mut rx = self.engine.watch(&key, (ms.next_event_id, false));
            ms = self.engine.load(&key).await?.ms;
            let mut shutdown = self.shutdown.clone();
            while ms.is_open() && !*shutdown.borrow() {
                tokio::select! {
                    changed = rx.changed() => if changed.is_err() { break },
                    _ = tokio::time::sleep_until(deadline) => break,
                    _ = shutdown.changed() => break,
                }
                ms = self.engine.load(&key).await?.ms;
            }
        }
        let outcome = ms.standalone.as_ref().and_then(|s| s.outcome.clone());
        Ok(ws::PollActivityExecutionResponse { run_id: ms.run_id.clone(), outcome })
    }

    pub(crate) async fn request_cancel_activity_execution(
        &self,
        r: Request<ws::RequestCancelActivityExecutionRequest>,
    ) -> ApiResult<ws::RequestCancelActivityExecutionResponse> {
        let r = r.into_inner();
        let ns = self.namespaces.by_name(&r.namespace).await?;
        let (key, _) = self.load_activity(&ns, &r.activity_id, &r.run_id).await?;
        self.engine
            .update(&key, None, |x| x.standalone_cancel(&r.reason, &r.identity, &r.request_id))
            .await?;
        Ok(ws::RequestCancelActivityExecutionResponse {})
    }

    pub(crate) async fn terminate_activity_execution(
        &self,
        r: Request<ws::TerminateActivityExecutionRequest>,
    ) -> ApiResult<ws::TerminateActivityExecutionResponse> {
        let r = r.into_inner();
        let ns = self.namespaces.by_name(&r.namespace).await?;
        let (key, _) = self.load_activity(&ns, &r.activity_id, &r.run_id).await?;
        self.engine
            .update(&key, None, |x| x.standalone_terminate(&r.reason, &r.identity, &r.request_id))
            .await?;
        Ok(ws::TerminateActivityExecutionResponse {})
    }

    pub(crate) async fn delete_activity_execution(
        &self,
        r: Request<ws::DeleteActivityExecutionRequest>,
    ) -> ApiResult<ws::DeleteActivityExecutionResponse> {
        let r = r.into_inner();
        let ns = self.namespaces.by_name(&r.namespace).await?;
        let (key, _) = self.load_activity(&ns, &r.activity_id, &r.run_id).await?;
        self.engine.delete_run(&key, "").await?;
        Ok(ws::DeleteActivityExecutionResponse {})
    }

    pub(crate) async fn list_activity_executions(
        &self,
        r: Request<ws::ListActivityExecutionsRequest>,
    ) -> ApiResult<ws::ListActivityExecutionsResponse> {
        let r = r.into_inner();
        let ns = self.namespaces.by_name(&r.namespace).await?;
        let custom = self.search_attributes.of(&ns.id).await?;
        let q = check(&activities_query(&r.query)?, false, &custom)?;
        let filter = VisibilityFilter {
            namespace_id: ns.id,
            expr: FilterExpr::and_opt(Some(is_standalone()), q.expr),
            open: None,
        };
        let (rows, next_page_token) = self.list_rows(filter, r.page_size, &r.next_page_token).await?;
        let executions = rows
            .into_iter()
            .map(|v| {
                let sa = SearchAttributes::decode(v.search_attributes.as_slice()).ok();
                ActivityExecutionListInfo {
                    activity_id: activity_id_of(&v.workflow_id).unwrap_or_default().to_owned(),
                    run_id: v.run_id,
                    activity_type: Some(ActivityType { name: v.workflow_type }),
                    schedule_time: Some(to_timestamp(v.start_time)),
                    close_time: (v.close_time > 0).then(|| to_timestamp(v.close_time)),
                    status: StandaloneActivity::status(v.status) as i32,
                    search_attributes: Some(crate::search_attributes::present(&custom, &own_attributes(sa))),
                    task_queue: v.task_queue,
                    state_transition_count: v.state_transition_count,
                    state_size_bytes: v.history_size_bytes,
                    execution_duration: (v.close_time > 0)
                        .then(|| to_duration((v.close_time - v.start_time).max(0))),
                    execution_time: Some(to_timestamp(v.execution_time)),
                }
            })
            .collect();
        Ok(ws::ListActivityExecutionsResponse { executions, next_page_token })
    }

    pub(crate) async fn count_activity_executions(
        &self,
        r: Request<ws::CountActivityExecutionsRequest>,
    ) -> ApiResult<ws::CountActivityExecutionsResponse> {
        let r = r.into_inner();
        let ns = self.namespaces.by_name(&r.namespace).await?;
        let custom = self.search_attributes.of(&ns.id).await?;
        let q = check(&activities_query(&r.query)?, true, &custom)?;
        let filter = VisibilityFilter {
            namespace_id: ns.id,
            expr: FilterExpr::and_opt(Some(is_standalone()), q.expr),
            open: None,
        };
        let (count, groups) = self.count(&filter, q.group_by_status).await?;
        let groups = groups
            .into_iter()
            .map(|(value, count)| ws::count_activity_executions_response::AggregationGroup {
                group_values: vec![value],
                count,
            })
            .collect();
        Ok(ws::CountActivityExecutionsResponse { count, groups })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activity_queries_name_the_system_runs() {
        assert_eq!(
            activities_query("ActivityId = 'a' AND ActivityType = 't'").unwrap(),
            "(WorkflowId = 'temporal-sys-activity:a') AND (WorkflowType = 't')"
        );
        assert_eq!(activities_query("  ").unwrap(), "");
    }
}
