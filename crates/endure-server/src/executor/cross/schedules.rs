//! The target-side steps of a schedule's tasks: start the workflow of a pending start, cancel or
//! terminate a workflow the overlap policy stops, and tell a schedule that a workflow it started
//! closed. Each runs on the owner of the workflow it touches and is idempotent: a start's
//! request id is fixed by the schedule, a stop checks the run is still the one started, and a
//! close report on a schedule that no longer waits for it changes nothing.

use super::{CrossWorkflow, Outcome};
use crate::error::{ApiError, ApiResult};
use crate::matching::TaskRef;
use crate::starter::StartFields;
use endure_api::temporal::api::common::v1::{Payload, SearchAttributes};
use endure_api::temporal::api::enums::v1::{WorkflowIdConflictPolicy, WorkflowIdReusePolicy};
use endure_api::temporal::api::history::v1::HistoryEvent;
use endure_core::schedule::{SCHEDULED_BY_ID, SCHEDULED_START_TIME, StartOutcome, workflow_id_of};

/// The identity a schedule acts under (in the histories of the runs it starts and stops), as
/// the real server's: `temporal-scheduler-<namespace>-<schedule id>`.
fn identity(namespace: &str, schedule_id: &str) -> String {
    format!("temporal-scheduler-{namespace}-{schedule_id}")
}

/// A search attribute value as the server writes one (JSON, with its type).
fn attribute(ty: &str, value: &str) -> Payload {
    Payload {
        metadata: [
            ("encoding".to_owned(), b"json/plain".to_vec()),
            ("type".to_owned(), ty.as_bytes().to_vec()),
        ]
        .into_iter()
        .collect(),
        data: serde_json::to_vec(value).unwrap_or_default(),
        ..Default::default()
    }
}

fn rfc3339(n: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp(
        n.div_euclid(1_000_000_000),
        n.rem_euclid(1_000_000_000) as u32,
    )
    .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
    .unwrap_or_default()
}

impl CrossWorkflow {
    /// Starts the workflow of the schedule's pending start `seq` (the schedule's run is the
    /// task's).
    pub(super) async fn schedule_start(&self, t: &TaskRef, seq: i64) -> ApiResult<Outcome> {
        let ms = match self.engine.load(&t.run).await {
            Ok(l) => l.ms,
            Err(ApiError::NotFound(_)) => return Ok(Outcome::Stale),
            Err(e) => return Err(e),
        };
        let Some(schedule) = ms.scheduler.as_deref().filter(|_| ms.is_open()) else {
            return Ok(Outcome::Stale);
        };
        let Some(start) = schedule.start_of(seq) else { return Ok(Outcome::Stale) };
        let ns = self.namespaces.by_id(&ms.namespace_id).await?;
        let info = start.info;
        let server = SearchAttributes {
            indexed_fields: [
                (SCHEDULED_BY_ID.to_owned(), attribute("Keyword", &schedule.schedule_id)),
                (SCHEDULED_START_TIME.to_owned(), attribute("Datetime", &rfc3339(start.nominal))),
            ]
            .into_iter()
            .collect(),
        };
        let fields = StartFields {
            workflow_id: start.workflow_id,
            workflow_type: info.workflow_type,
            task_queue: info.task_queue,
            input: info.input,
            execution_timeout: info.workflow_execution_timeout,
            run_timeout: info.workflow_run_timeout,
            task_timeout: info.workflow_task_timeout,
            identity: identity(&ns.name, &schedule.schedule_id),
            request_id: start.request_id,
            // As the real server: a scheduled start never reuses a closed run's id, a trigger or
            // backfill may.
            reuse: if start.manual {
                WorkflowIdReusePolicy::AllowDuplicate as i32
            } else {
                WorkflowIdReusePolicy::RejectDuplicate as i32
            },
            conflict: WorkflowIdConflictPolicy::Fail as i32,
            retry_policy: info.retry_policy,
            memo: info.memo,
            header: info.header,
            search_attributes: info.search_attributes,
            priority: info.priority,
            user_metadata: info.user_metadata,
            server_search_attributes: Some(server),
            continued_failure: start.last_failure,
            last_completion_result: start.last_completion_result,
            ..Default::default()
        };
        let outcome = match self.starter.start_workflow(&ns, fields, None, None).await {
            Ok(s) => StartOutcome::Started(s.run_id),
            // Nothing will ever make these start: the action is recorded as not taken.
            Err(e @ (ApiError::WorkflowAlreadyStarted { .. } | ApiError::InvalidArgument(_))) => {
                tracing::warn!(schedule_id = %schedule.schedule_id, "a schedule's start failed: {e}");
                StartOutcome::Failed(e.to_string())
            }
            Err(e) => return Err(e),
        };
        Ok(Outcome::ScheduleStart(outcome))
    }

    /// Cancels or terminates the run the schedule started as `run_id` (or the run that
    /// continues it), if it still runs.
    pub(super) async fn schedule_stop(
        &self,
        t: &TaskRef,
        workflow_id: &str,
        run_id: &str,
        terminate: bool,
    ) -> ApiResult<Outcome> {
        let key = match self.engine.resolve_run(&t.run.namespace_id, workflow_id, "").await {
            Ok(k) => k,
            Err(ApiError::NotFound(_)) => return Ok(Outcome::Done),
            Err(e) => return Err(e),
        };
        let ns = self.namespaces.by_id(&t.run.namespace_id).await?;
        let schedule_id = endure_core::schedule::schedule_id_of(&t.run.workflow_id).unwrap_or_default();
        let who = identity(&ns.name, schedule_id);
        let r = self
            .engine
            .update(&key, None, |x| {
                if x.ms.first_execution_run_id != run_id && x.ms.run_id != run_id {
                    return Ok(()); // another chain holds the id now
                }
                if terminate {
                    x.terminate("terminated by schedule overlap policy", None, &who)
                } else {
                    x.request_cancel("cancelled by schedule overlap policy", &who)
                }
            })
            .await;
        match r {
            Ok(()) | Err(ApiError::NotFound(_)) => Ok(Outcome::Done),
            Err(e) => Err(e),
        }
    }

    /// Tells schedule `schedule_id` that the task's run (one it started) closed.
    pub(super) async fn schedule_closed(
        &self,
        t: &TaskRef,
        schedule_id: &str,
        close_event: &HistoryEvent,
    ) -> ApiResult<Outcome> {
        let key = match self.engine.resolve_run(&t.run.namespace_id, &workflow_id_of(schedule_id), "").await {
            Ok(k) => k,
            Err(ApiError::NotFound(_)) => return Ok(Outcome::Done),
            Err(e) => return Err(e),
        };
        let (workflow_id, run_id) = (t.run.workflow_id.clone(), t.run.run_id.clone());
        match self
            .engine
            .update(&key, None, |x| x.schedule_workflow_closed(&workflow_id, &run_id, close_event))
            .await
        {
            Ok(()) | Err(ApiError::NotFound(_)) => Ok(Outcome::Done),
            Err(e) => Err(e),
        }
    }
}
