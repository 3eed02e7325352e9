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
use crate::validate::check_blob;
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

/// Search attributes a standalone activity's Describe shows: its own, without the ones the server
/// keeps (listings show the division too, as the real server's).
fn own_attributes(sa: Option<SearchAttributes>) -> SearchAttributes {
    let mut sa = sa.unwrap_or_default();
    sa.indexed_fields.remove(endure_core::schedule::NAMESPACE_DIVISION_ATTR);
    sa
}

/// The attributes an activity query may name besides custom ones (the real server's activity
/// visibility fields); any other is refused.
const ACTIVITY_QUERY_FIELDS: &[&str] = &[
    "ActivityId",
    "ActivityType",
    "WorkflowId",
    "WorkflowType",
    "RunId",
    "ExecutionStatus",
    "TaskQueue",
    "StartTime",
    "CloseTime",
    "ExecutionTime",
    "ExecutionDuration",
    "StateTransitionCount",
    "HistoryLength",
    "BuildIds",
    "TemporalNamespaceDivision",
];

/// An activity query as the real server reads it, made a workflow query over the activities'
/// system runs: `ActivityId` (and `WorkflowId`, which names the same) is the run's workflow id
/// (prefixed), `ActivityType` its workflow type. `count`: GROUP BY is judged (a listing ignores
/// it). Errors in the real server's words.
fn activities_query(
    text: &str,
    count: bool,
    custom: &crate::search_attributes::SaTypes,
) -> ApiResult<String> {
    use endure_core::query::{self, Expr, Value};
    if text.trim().is_empty() {
        return Ok(String::new());
    }
    let invalid = |m: String| ApiError::InvalidArgument(format!("invalid query: {m}"));
    // The real server's SQL parser judges the syntax first, and words its errors.
    crate::workers::query::WorkerQuery::parse(text).map_err(|e| match e {
        ApiError::InvalidArgument(m) => ApiError::InvalidArgument(m.replacen(
            "malformed query: ",
            "invalid query: malformed SQL query: ",
            1,
        )),
        e => e,
    })?;
    let mut q = query::parse(text)
        .map_err(|e| invalid(format!("syntax error at position {}: {}", e.offset, e.message)))?;
    if !q.order_by.is_empty() {
        return Err(invalid("operation is not supported: 'ORDER BY' clause".into()));
    }
    if count {
        if q.group_by.len() > 1 {
            return Err(invalid(
                "operation is not supported: 'GROUP BY' clause supports only a single field".into(),
            ));
        }
        if let Some(g) = q.group_by.first().filter(|g| *g != "ExecutionStatus") {
            return Err(invalid(format!(
                "operation is not supported: 'GROUP BY' clause is not supported for search attribute {g}"
            )));
        }
    } else {
        q.group_by.clear();
    }
    if let Some(f) = q.filter.as_ref() {
        for name in f.names() {
            if !ACTIVITY_QUERY_FIELDS.contains(&name) && !custom.contains_key(name) {
                return Err(invalid(format!("invalid search attribute: {name}")));
            }
        }
    }
    fn bad_time(e: &Expr) -> Option<String> {
        let is_time = |n: &str| matches!(n, "StartTime" | "CloseTime" | "ExecutionTime");
        let bad = |v: &Value| match v {
            Value::Str(s) if chrono::DateTime::parse_from_rfc3339(s).is_err() => Some(s.clone()),
            _ => None,
        };
        match e {
            Expr::And(a, b) | Expr::Or(a, b) => bad_time(a).or_else(|| bad_time(b)),
            Expr::Not(x) => bad_time(x),
            Expr::Compare { name, value, .. } if is_time(name) => bad(value),
            Expr::Between { name, low, high, .. } if is_time(name) => bad(low).or_else(|| bad(high)),
            Expr::In { name, values, .. } if is_time(name) => values.iter().find_map(bad),
            _ => None,
        }
    }
    if let Some(s) = q.filter.as_ref().and_then(bad_time) {
        return Err(invalid(format!("invalid expression: unable to parse datetime '{s}'")));
    }
    fn prefixed(v: &mut Value) {
        if let Value::Str(s) = v {
            *s = workflow_id_of(s);
        }
    }
    fn rename(name: &mut String) -> bool {
        match name.as_str() {
            // Activities have no workflow type: a column no activity run fills stands in.
            "WorkflowType" => {
                *name = "ParentWorkflowId".into();
                false
            }
            "ActivityId" | "WorkflowId" => {
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
    Ok(q.to_string())
}

/// Checks a start as the real server does, in its order and words; the activity type and the
/// task queue.
fn check_start(
    r: &ws::StartActivityExecutionRequest,
    limits: &endure_core::limits::Limits,
) -> ApiResult<(String, String)> {
    use prost::Message as _;
    let invalid = |m: String| Err(ApiError::InvalidArgument(m));
    if r.activity_id.is_empty() {
        return invalid("activityId is not set".into());
    }
    if r.activity_id.len() > 1000 {
        return invalid(format!(
            "activityId exceeds length limit. Length={} Limit=1000",
            r.activity_id.len()
        ));
    }
    let ty = r.activity_type.as_ref().map(|t| t.name.clone()).unwrap_or_default();
    if ty.is_empty() {
        return invalid("activityType is not set".into());
    }
    if ty.len() > 1000 {
        return invalid(format!("activityType exceeds length limit. Length={} Limit=1000", ty.len()));
    }
    let Some(queue) = r.task_queue.as_ref() else { return invalid("taskQueue is not set".into()) };
    if queue.name.is_empty() {
        return invalid("missing task queue name".into());
    }
    if queue.name.len() > 1000 {
        return invalid("taskQueue length exceeds limit".into());
    }
    if queue.name.starts_with("/_sys/") {
        return invalid("task queue name cannot start with reserved prefix /_sys/".into());
    }
    for (d, name) in [
        (&r.schedule_to_close_timeout, "ScheduleToCloseTimeout"),
        (&r.start_to_close_timeout, "StartToCloseTimeout"),
        (&r.schedule_to_start_timeout, "ScheduleToStartTimeout"),
        (&r.heartbeat_timeout, "HeartbeatTimeout"),
        (&r.start_delay, "StartDelay"),
    ] {
        if time::is_negative(d) {
            return invalid(format!("invalid {name}: negative duration"));
        }
    }
    if let Some(p) = &r.retry_policy {
        endure_core::retry::validate(p).map_err(ApiError::InvalidArgument)?;
    }
    if time::opt_duration(&r.schedule_to_close_timeout) == 0
        && time::opt_duration(&r.start_to_close_timeout) == 0
    {
        return invalid(format!(
            "a valid StartToCloseTimeout or ScheduleToCloseTimeout must be set on the activity. ActivityId={} ActivityType={ty}",
            r.activity_id
        ));
    }
    if r.priority.as_ref().is_some_and(|p| p.priority_key < 0) {
        return invalid("invalid priorities: priority key can't be negative".into());
    }
    if ActivityIdReusePolicy::try_from(r.id_reuse_policy).is_err() {
        return invalid(format!("unsupported ID reuse policy: {}", r.id_reuse_policy));
    }
    if ActivityIdConflictPolicy::try_from(r.id_conflict_policy).is_err() {
        return invalid(format!("unsupported ID conflict policy: {}", r.id_conflict_policy));
    }
    if let Some(summary) = r.user_metadata.as_ref().and_then(|m| m.summary.as_ref()) {
        let len = summary.encoded_len();
        if len > 400 {
            return invalid(format!("user_metadata.summary exceeds size limit. Length={len} Limit=400"));
        }
    }
    if check_blob(&r.input, limits).is_err() {
        return invalid("input exceeds length limit".into());
    }
    if !r.completion_callbacks.is_empty() {
        return invalid("completion callbacks are not enabled for this namespace".into());
    }
    Ok((ty, queue.name.clone()))
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
            .then(|| to_timestamp(ms.execution_time + a.schedule_to_close_timeout)),
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
        next_attempt_schedule_time: (open && a.in_backoff).then(|| to_timestamp(a.scheduled_time)),
        priority: ms.priority.clone(),
        state_transition_count: ms.state_transition_count,
        state_size_bytes: serde_json::to_vec(ms).map_or(0, |v| v.len() as i64),
        search_attributes: Some(own_attributes(ms.search_attributes.clone())),
        header: a.header.clone(),
        user_metadata: ms.user_metadata.clone(),
        canceled_reason: s.canceled_reason.clone(),
        total_heartbeat_count: s.heartbeat_count,
        sdk_name: s.sdk_name.clone(),
        sdk_version: s.sdk_version.clone(),
        start_delay: s.start_delay.map(to_duration),
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
        if activity_id.is_empty() {
            return Err(ApiError::InvalidArgument("activity ID is required".into()));
        }
        if !run_id.is_empty() && uuid::Uuid::parse_str(run_id).is_err() {
            return Err(ApiError::InvalidArgument("invalid run id: must be a valid UUID".into()));
        }
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
        let r = req.into_inner();
        if r.namespace.is_empty() {
            return Err(ApiError::InvalidArgument("Namespace is empty.".into()));
        }
        let ns = self.namespaces.by_name(&r.namespace).await?;
        let (activity_type, task_queue) = check_start(&r, self.engine.limits())?;
        if let Some(attrs) = r.search_attributes.as_ref().filter(|s| !s.indexed_fields.is_empty()) {
            let types = self.search_attributes.of(&ns.id).await?;
            crate::search_attributes::validate(&ns.name, &types, attrs, false, self.engine.limits())
                .map_err(ApiError::InvalidArgument)?;
        }
        let link = |run_id: &str| {
            use endure_api::temporal::api::common::v1::{Link, link};
            Some(Link {
                variant: Some(link::Variant::Activity(link::Activity {
                    namespace: ns.name.clone(),
                    activity_id: r.activity_id.clone(),
                    run_id: run_id.to_owned(),
                })),
            })
        };
        let request_id = if r.request_id.is_empty() { self.engine.new_id() } else { r.request_id.clone() };
        let workflow_id = workflow_id_of(&r.activity_id);
        let _lock = self.engine.lock(&ns.id, &workflow_id).await;
        let condition = match self.engine.current_run(&ns.id, &workflow_id).await? {
            Some(cur) if cur.start_request_id == request_id => {
                let link = link(&cur.run_id);
                return Ok(ws::StartActivityExecutionResponse { run_id: cur.run_id, started: false, link });
            }
            Some(cur) if cur.status == Status::Running as i32 => {
                let policy = ActivityIdConflictPolicy::try_from(r.id_conflict_policy)
                    .unwrap_or(ActivityIdConflictPolicy::Unspecified);
                if policy == ActivityIdConflictPolicy::UseExisting {
                    let link = link(&cur.run_id);
                    return Ok(ws::StartActivityExecutionResponse {
                        run_id: cur.run_id,
                        started: false,
                        link,
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
                identity: r.identity.clone(),
                activity_id: r.activity_id.clone(),
                activity_type: ActivityType { name: activity_type },
                task_queue,
                schedule_to_close: time::opt_duration(&r.schedule_to_close_timeout),
                schedule_to_start: time::opt_duration(&r.schedule_to_start_timeout),
                start_to_close: time::opt_duration(&r.start_to_close_timeout),
                heartbeat: time::opt_duration(&r.heartbeat_timeout),
                retry_policy: r.retry_policy.clone(),
                input: r.input.clone(),
                header: r.header.clone(),
                memo: None,
                search_attributes: r.search_attributes.clone().filter(|s| !s.indexed_fields.is_empty()),
                user_metadata: r.user_metadata.clone(),
                priority: r.priority.clone(),
                start_delay: r.start_delay.as_ref().map(|d| time::opt_duration(&Some(*d))),
            },
            self.engine.now(),
        )?;
        self.engine.create_run(NewRun { ms: &ms, events: vec![], tasks, condition }).await?;
        let link = link(&run_id);
        Ok(ws::StartActivityExecutionResponse { run_id, started: true, link })
    }

    pub(crate) async fn describe_activity_execution(
        &self,
        req: Request<ws::DescribeActivityExecutionRequest>,
    ) -> ApiResult<ws::DescribeActivityExecutionResponse> {
        let deadline = poll_deadline(&req, LONG_POLL);
        let r = req.into_inner();
        let ns = self.namespaces.by_name(&r.namespace).await?;
        let token = if r.long_poll_token.is_empty() {
            None
        } else {
            if r.run_id.is_empty() && !r.activity_id.is_empty() {
                return Err(ApiError::InvalidArgument(
                    "run id is required when long poll token is provided".into(),
                ));
            }
            Some(
                serde_json::from_slice::<LongPollToken>(&r.long_poll_token)
                    .map_err(|_| ApiError::InvalidArgument("invalid long poll token".into()))?,
            )
        };
        let (key, mut ms) = self.load_activity(&ns, &r.activity_id, &r.run_id).await?;
        if let Some(t) = token
            && t.run_id == ms.run_id
            && t.transitions == ms.state_transition_count
        {
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
            if ms.state_transition_count == t.transitions {
                // Nothing changed in time: an empty answer, as the real server's.
                return Ok(ws::DescribeActivityExecutionResponse::default());
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
        if outcome.is_none() {
            // Still running at the deadline: an empty answer, as the real server's.
            return Ok(ws::PollActivityExecutionResponse::default());
        }
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
        let q = check(&activities_query(&r.query, false, &custom)?, false, &custom)?;
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
                    search_attributes: Some(crate::search_attributes::present(
                        &custom,
                        &sa.unwrap_or_default(),
                    )),
                    task_queue: v.task_queue,
                    // Updated at the close only, as the real server's.
                    state_transition_count: if v.close_time > 0 { v.state_transition_count } else { 0 },
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
        let q = check(&activities_query(&r.query, true, &custom)?, true, &custom)?;
        let filter = VisibilityFilter {
            namespace_id: ns.id,
            expr: FilterExpr::and_opt(Some(is_standalone()), q.expr),
            open: None,
        };
        let (count, mut groups) = self.count(&filter, q.group_by_status).await?;
        // In the order of the values, as the real server's activity visibility answers.
        groups.sort_by(|a, b| a.0.data.cmp(&b.0.data));
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
        let custom = Default::default();
        assert_eq!(
            activities_query("ActivityId = 'a' AND ActivityType = 't'", false, &custom).unwrap(),
            "(WorkflowId = 'temporal-sys-activity:a') AND (WorkflowType = 't')"
        );
        assert_eq!(activities_query("  ", false, &custom).unwrap(), "");
        assert!(activities_query("Attempt = 1", false, &custom).is_err());
    }
}
