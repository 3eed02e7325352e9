//! Schedules: CreateSchedule, DescribeSchedule, UpdateSchedule, PatchSchedule, DeleteSchedule,
//! ListSchedules and ListScheduleMatchingTimes.
//!
//! A schedule is a system run (`endure_core::schedule`); these handlers validate requests, make
//! and change that run through the engine, and present its state. Each runs on the owner of the
//! schedule's shard (routed by its system run's workflow id), except ListSchedules, which reads
//! visibility like ListWorkflowExecutions.

use super::Frontend;
use super::query_check::check;
use crate::error::{ApiError, ApiResult};
use crate::history::NewRun;
use crate::history::codec::SCHEDULE_LIST_INFO_MEMO;
use crate::namespaces::Namespace;
use crate::starter::StartFields;
use crate::validate::check_id;
use endure_api::temporal::api::common::v1::{Memo, SearchAttributes};
use endure_api::temporal::api::enums::v1::WorkflowExecutionStatus as Status;
use endure_api::temporal::api::schedule::v1::{
    Schedule, ScheduleListEntry, ScheduleListInfo, schedule_action,
};
use endure_api::temporal::api::workflowservice::v1 as ws;
use endure_core::MutableState;
use endure_core::schedule::{
    self as sched, NAMESPACE_DIVISION, NAMESPACE_DIVISION_ATTR, SCHEDULE_PAUSED, workflow_id_of,
};
use endure_core::scheduler::NewSchedule;
use endure_core::time;
use endure_store::visibility::{Attr, FilterExpr, SaType, Scalar};
use endure_store::{CurrentCondition, RunKey, VisibilityFilter};
use prost::Message;
use tonic::Request;

/// A conflict token as the wire carries it (8 bytes, big-endian, as the real server's).
fn encode_token(t: i64) -> Vec<u8> {
    t.to_be_bytes().to_vec()
}

/// A conflict token from the wire; anything but 8 bytes means "no check", as on the real server.
fn decode_token(b: &[u8]) -> Option<i64> {
    let bytes: [u8; 8] = b.try_into().ok()?;
    Some(i64::from_be_bytes(bytes))
}

fn not_found(schedule_id: &str) -> ApiError {
    ApiError::NotFound(format!("schedule {schedule_id} not found"))
}

/// The division filter: a schedule's system run.
fn is_schedule() -> FilterExpr {
    FilterExpr::eq(
        Attr::Custom { name: NAMESPACE_DIVISION_ATTR.into(), ty: SaType::Keyword },
        Scalar::Str(NAMESPACE_DIVISION.into()),
    )
}

/// Search attributes a schedule shows: its own, without the ones the server keeps; none when
/// it has none.
fn own_attributes(sa: Option<SearchAttributes>) -> Option<SearchAttributes> {
    let mut sa = sa?;
    sa.indexed_fields.retain(|k, _| k != NAMESPACE_DIVISION_ATTR && k != SCHEDULE_PAUSED);
    Some(sa).filter(|s| !s.indexed_fields.is_empty())
}

/// A ListSchedules query as the real server reads it: `ScheduleId` (rewritten to the system
/// run's workflow id), `TemporalSchedulePaused` and custom search attributes; any other system
/// attribute is refused. Returns the query to list system runs with.
fn schedules_query(text: &str, custom: &crate::search_attributes::SaTypes) -> ApiResult<String> {
    use endure_core::query::{self, Expr, Value};
    if text.trim().is_empty() {
        return Ok(String::new());
    }
    // The real server's SQL parser judges the syntax first, and words its errors.
    crate::workers::query::WorkerQuery::parse(text).map_err(|e| match e {
        ApiError::InvalidArgument(m) => ApiError::InvalidArgument(m.replacen(
            "malformed query: ",
            "invalid query: malformed SQL query: ",
            1,
        )),
        e => e,
    })?;
    let mut q = query::parse(text).map_err(|e| {
        ApiError::InvalidArgument(format!(
            "invalid query: syntax error at position {}: {}",
            e.offset, e.message
        ))
    })?;
    let refuse = |name: &str| {
        ApiError::InvalidArgument(format!("invalid query filter for schedules: cannot filter on {name:?}"))
    };
    let check_name = |name: &str| -> ApiResult<()> {
        if name == "ScheduleId" || name == SCHEDULE_PAUSED {
            return Ok(());
        }
        // System attributes, and names reserved for them (`TemporalScheduleId`), are refused.
        match crate::search_attributes::schema::system(name) {
            Some(_) => Err(refuse(name)),
            None if name.starts_with("Temporal") => Err(refuse(name)),
            None if !custom.contains_key(name) => {
                Err(ApiError::InvalidArgument(format!("invalid query: invalid search attribute: {name}")))
            }
            None => Ok(()),
        }
    };
    for o in &q.order_by {
        check_name(&o.name)?;
    }
    fn rewrite(e: &mut Expr) {
        let prefixed = |v: &mut Value| {
            if let Value::Str(s) = v {
                *s = workflow_id_of(s);
            }
        };
        match e {
            Expr::And(a, b) | Expr::Or(a, b) => {
                rewrite(a);
                rewrite(b);
            }
            Expr::Not(x) => rewrite(x),
            Expr::Compare { name, value, .. } if name == "ScheduleId" => {
                *name = "WorkflowId".into();
                prefixed(value);
            }
            Expr::In { name, values, .. } if name == "ScheduleId" => {
                *name = "WorkflowId".into();
                values.iter_mut().for_each(prefixed);
            }
            Expr::Between { name, low, high, .. } if name == "ScheduleId" => {
                *name = "WorkflowId".into();
                prefixed(low);
                prefixed(high);
            }
            Expr::StartsWith { name, prefix, .. } if name == "ScheduleId" => {
                *name = "WorkflowId".into();
                *prefix = workflow_id_of(prefix);
            }
            Expr::IsNull { name, .. } if name == "ScheduleId" => *name = "WorkflowId".into(),
            _ => {}
        }
    }
    if let Some(f) = q.filter.as_mut() {
        for name in f.names() {
            check_name(name)?;
        }
        rewrite(f);
    }
    Ok(q.to_string())
}

impl Frontend {
    /// Checks a schedule as the real server does (the action needs a task queue; a missing
    /// spec, action or workflow id is accepted), its search attributes and memo, and puts the
    /// spec in canonical form.
    async fn check_schedule(
        &self,
        ns: &Namespace,
        schedule: Option<Schedule>,
        search_attributes: Option<&SearchAttributes>,
        memo: Option<&Memo>,
    ) -> ApiResult<Schedule> {
        let schedule = schedule.unwrap_or_default();
        if let Some(schedule_action::Action::StartWorkflow(w)) =
            schedule.action.as_ref().and_then(|a| a.action.as_ref())
        {
            if w.task_queue.as_ref().is_none_or(|q| q.name.is_empty()) {
                return Err(ApiError::InvalidArgument("taskQueue is not set".into()));
            }
            let f = StartFields {
                workflow_id: if w.workflow_id.is_empty() { "-".into() } else { w.workflow_id.clone() },
                workflow_type: w.workflow_type.clone(),
                task_queue: w.task_queue.clone(),
                input: w.input.clone(),
                execution_timeout: w.workflow_execution_timeout,
                run_timeout: w.workflow_run_timeout,
                task_timeout: w.workflow_task_timeout,
                retry_policy: w.retry_policy.clone(),
                memo: w.memo.clone(),
                search_attributes: w.search_attributes.clone(),
                ..Default::default()
            };
            self.starter.validate(ns, &f).await?;
        }
        if let Some(sa) = search_attributes.filter(|s| !s.indexed_fields.is_empty()) {
            let types = self.search_attributes.of(&ns.id).await?;
            crate::search_attributes::validate(&ns.name, &types, sa, false, self.engine.limits())
                .map_err(ApiError::InvalidArgument)?;
        }
        if self.engine.limits().memo_too_large(endure_core::limits::memo_size(&memo.cloned())) {
            return Err(ApiError::InvalidArgument("Memo size exceeds limit.".into()));
        }
        Ok(sched::canonical_schedule(schedule)?)
    }

    /// The system run of a schedule, loaded: the engine's NOT_FOUND when it never existed
    /// (`workflow not found for ID: temporal-sys-scheduler:<id>`, as the real server words it);
    /// a deleted one is closed, which each caller words its own way.
    async fn load_schedule(&self, ns: &Namespace, schedule_id: &str) -> ApiResult<(RunKey, MutableState)> {
        if schedule_id.is_empty() {
            return Err(ApiError::InvalidArgument(
                "Can't load workflow execution.  WorkflowId not set.".into(),
            ));
        }
        let key = self.engine.resolve_run(&ns.id, &workflow_id_of(schedule_id), "").await?;
        let ms = self.engine.load(&key).await?.ms;
        if ms.scheduler.is_none() {
            return Err(crate::history::workflow_not_found(&workflow_id_of(schedule_id)));
        }
        Ok((key, ms))
    }

    /// [`Frontend::load_schedule`] for reads: a deleted schedule is `schedule not found`.
    async fn open_schedule(&self, ns: &Namespace, schedule_id: &str) -> ApiResult<(RunKey, MutableState)> {
        let (key, ms) = self.load_schedule(ns, schedule_id).await?;
        if !ms.is_open() {
            return Err(ApiError::NotFound("schedule not found".into()));
        }
        Ok((key, ms))
    }

    pub(crate) async fn create_schedule(
        &self,
        r: Request<ws::CreateScheduleRequest>,
    ) -> ApiResult<ws::CreateScheduleResponse> {
        let r = r.into_inner();
        let ns = self.namespaces.by_name(&r.namespace).await?;
        if r.schedule_id.is_empty() {
            return Err(ApiError::InvalidArgument(
                "Can't load workflow execution.  WorkflowId not set.".into(),
            ));
        }
        check_id(&r.schedule_id, "ScheduleId")?;
        let schedule =
            self.check_schedule(&ns, r.schedule, r.search_attributes.as_ref(), r.memo.as_ref()).await?;
        let workflow_id = workflow_id_of(&r.schedule_id);
        let _lock = self.engine.lock(&ns.id, &workflow_id).await;
        let condition = match self.engine.current_run(&ns.id, &workflow_id).await? {
            Some(cur) if cur.status == Status::Running as i32 => {
                if !r.request_id.is_empty() && cur.start_request_id == r.request_id {
                    let key = RunKey { namespace_id: ns.id.clone(), workflow_id, run_id: cur.run_id };
                    let ms = self.engine.load(&key).await?.ms;
                    let token = ms.scheduler.map_or(0, |s| s.conflict_token);
                    return Ok(ws::CreateScheduleResponse { conflict_token: encode_token(token) });
                }
                // The failure names no run, as the real server's (the run is the scheduler's).
                return Err(ApiError::WorkflowAlreadyStarted {
                    message: format!("schedule {:?} is already registered", r.schedule_id),
                    start_request_id: String::new(),
                    first_execution_run_id: String::new(),
                    run_id: String::new(),
                });
            }
            Some(cur) => CurrentCondition::RunIs(cur.run_id),
            None => CurrentCondition::Absent,
        };
        let (ms, tasks) = endure_core::scheduler::new_schedule(
            NewSchedule {
                namespace_id: ns.id.clone(),
                schedule_id: r.schedule_id.clone(),
                run_id: self.engine.new_run_id(),
                schedule,
                memo: r.memo.filter(|m| !m.fields.is_empty()),
                search_attributes: r.search_attributes,
                request_id: r.request_id,
                initial_patch: r.initial_patch,
            },
            self.engine.now(),
        )?;
        let token = ms.scheduler.as_ref().map_or(0, |s| s.conflict_token);
        self.engine.create_run(NewRun { ms: &ms, events: vec![], tasks, condition }).await?;
        Ok(ws::CreateScheduleResponse { conflict_token: encode_token(token) })
    }

    pub(crate) async fn describe_schedule(
        &self,
        r: Request<ws::DescribeScheduleRequest>,
    ) -> ApiResult<ws::DescribeScheduleResponse> {
        let r = r.into_inner();
        let ns = self.namespaces.by_name(&r.namespace).await?;
        let (_, ms) = self.open_schedule(&ns, &r.schedule_id).await?;
        let Some(s) = ms.scheduler.as_deref() else { return Err(not_found(&r.schedule_id)) };
        Ok(ws::DescribeScheduleResponse {
            schedule: s.schedule.clone(),
            info: Some(s.info()),
            memo: ms.memo.clone(),
            search_attributes: own_attributes(ms.search_attributes.clone()),
            conflict_token: encode_token(s.conflict_token),
        })
    }

    pub(crate) async fn update_schedule(
        &self,
        r: Request<ws::UpdateScheduleRequest>,
    ) -> ApiResult<ws::UpdateScheduleResponse> {
        let r = r.into_inner();
        let ns = self.namespaces.by_name(&r.namespace).await?;
        let token = decode_token(&r.conflict_token);
        let (key, _) = self.load_schedule(&ns, &r.schedule_id).await?;
        let schedule =
            self.check_schedule(&ns, r.schedule, r.search_attributes.as_ref(), r.memo.as_ref()).await?;
        let sa = r.search_attributes;
        self.engine.update(&key, None, |x| x.schedule_update(schedule, token, sa)).await?;
        Ok(ws::UpdateScheduleResponse {})
    }

    pub(crate) async fn patch_schedule(
        &self,
        r: Request<ws::PatchScheduleRequest>,
    ) -> ApiResult<ws::PatchScheduleResponse> {
        let r = r.into_inner();
        let ns = self.namespaces.by_name(&r.namespace).await?;
        let patch = r.patch.unwrap_or_default();
        let (key, _) = self.load_schedule(&ns, &r.schedule_id).await?;
        self.engine.update(&key, None, |x| x.schedule_patch(&patch, &r.request_id)).await?;
        Ok(ws::PatchScheduleResponse {})
    }

    pub(crate) async fn delete_schedule(
        &self,
        r: Request<ws::DeleteScheduleRequest>,
    ) -> ApiResult<ws::DeleteScheduleResponse> {
        let r = r.into_inner();
        let ns = self.namespaces.by_name(&r.namespace).await?;
        let (key, _) = self.load_schedule(&ns, &r.schedule_id).await?;
        self.engine.update(&key, None, |x| x.schedule_delete()).await?;
        Ok(ws::DeleteScheduleResponse {})
    }

    pub(crate) async fn list_schedule_matching_times(
        &self,
        r: Request<ws::ListScheduleMatchingTimesRequest>,
    ) -> ApiResult<ws::ListScheduleMatchingTimesResponse> {
        let r = r.into_inner();
        let ns = self.namespaces.by_name(&r.namespace).await?;
        let (_, ms) = self.open_schedule(&ns, &r.schedule_id).await?;
        let Some(s) = ms.scheduler.as_deref() else { return Err(not_found(&r.schedule_id)) };
        let spec = s.schedule.as_ref().and_then(|x| x.spec.clone()).unwrap_or_default();
        let compiled = sched::spec::CompiledSpec::compile(&spec).map_err(ApiError::InvalidArgument)?;
        let start = r.start_time.as_ref().map(time::from_timestamp).unwrap_or(0);
        let end = r.end_time.as_ref().map(time::from_timestamp).unwrap_or(0);
        let out =
            compiled.matching_times(&s.jitter_seed, start, end).into_iter().map(time::to_timestamp).collect();
        Ok(ws::ListScheduleMatchingTimesResponse { start_time: out })
    }

    pub(crate) async fn list_schedules(
        &self,
        r: Request<ws::ListSchedulesRequest>,
    ) -> ApiResult<ws::ListSchedulesResponse> {
        let r = r.into_inner();
        let filter = self.schedules_filter(&r.namespace, &r.query).await?;
        let (rows, next_page_token) = self.list_rows(filter, r.maximum_page_size, &r.next_page_token).await?;
        let schedules = rows
            .into_iter()
            .map(|row| {
                // The memo is always there (empty without one), as the real server's entries.
                let mut memo = Memo::decode(row.memo.as_slice()).unwrap_or_default();
                let info = memo
                    .fields
                    .remove(SCHEDULE_LIST_INFO_MEMO)
                    .and_then(|p| ScheduleListInfo::decode(p.data.as_slice()).ok());
                let sa = SearchAttributes::decode(row.search_attributes.as_slice()).ok();
                ScheduleListEntry {
                    schedule_id: sched::schedule_id_of(&row.workflow_id).unwrap_or_default().to_owned(),
                    memo: Some(memo),
                    search_attributes: own_attributes(sa),
                    info,
                }
            })
            .collect();
        Ok(ws::ListSchedulesResponse { schedules, next_page_token })
    }

    /// The schedules of `namespace` that `query` (ListSchedules' list-filter language) selects.
    async fn schedules_filter(&self, namespace: &str, query: &str) -> ApiResult<VisibilityFilter> {
        let ns = self.namespaces.by_name(namespace).await?;
        let custom = self.search_attributes.of(&ns.id).await?;
        let q = check(&schedules_query(query, &custom)?, false, &custom)?;
        Ok(VisibilityFilter {
            namespace_id: ns.id,
            expr: FilterExpr::and_opt(Some(is_schedule()), q.expr),
            open: Some(true),
        })
    }

    /// The number of schedules a query selects (the list-filter language of ListSchedules).
    pub(crate) async fn count_schedules(
        &self,
        r: Request<ws::CountSchedulesRequest>,
    ) -> ApiResult<ws::CountSchedulesResponse> {
        let r = r.into_inner();
        let filter = self.schedules_filter(&r.namespace, &r.query).await?;
        let (count, _) = self.count(&filter, false).await?;
        Ok(ws::CountSchedulesResponse { count, groups: vec![] })
    }
}
