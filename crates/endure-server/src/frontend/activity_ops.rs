//! Operator actions on a workflow's pending activities: PauseActivity, UnpauseActivity,
//! ResetActivity and UpdateActivityOptions, and their successors the `temporal` CLI calls
//! (PauseActivityExecution …, naming one activity of a workflow by id).
//!
//! The handlers resolve the run and the activities named (by id, by type, or all), read what the
//! core cannot know (the options an activity was scheduled with, for a restore; a jitter drawn
//! here), and apply `endure_core::activity_ops` to each in one transition. The two families
//! differ only in validation and in a few answers, as the real server's do: the older one
//! ignores what it does not know, the newer one refuses it.

use super::Frontend;
use crate::error::{ApiError, ApiResult};
use crate::validate::check_run_id;
use endure_api::temporal::api::activity::v1::ActivityOptions;
use endure_api::temporal::api::common::v1::{Priority, RetryPolicy};
use endure_api::temporal::api::enums::v1::TaskQueueKind;
use endure_api::temporal::api::history::v1::history_event::Attributes;
use endure_api::temporal::api::taskqueue::v1::TaskQueue;
use endure_api::temporal::api::workflowservice::v1 as ws;
use endure_core::ActivityInfo;
use endure_core::activity_ops::{OptionsChange, ResetActivity};
use endure_core::time::{self, Nanos, to_duration};
use endure_store::RunKey;
use tonic::Request;

/// Which pending activities an operation names.
#[derive(Debug, Clone)]
enum Target {
    Id(String),
    Type(String),
    All,
}

/// Which family of RPCs asks: the deprecated ones (by id, type or all; lenient) or the
/// `*Execution` ones (one activity by id; strict).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Deprecated,
    Execution,
}

/// The activities the `activity` oneof of a deprecated-family request names (`$all`: its
/// "every activity" variant, if it has one); the handler returns InvalidArgument for none.
macro_rules! target_of {
    ($activity:expr, $m:ident $(, $all:ident)?) => {
        match $activity {
            Some(ws::$m::Activity::Id(id)) if !id.is_empty() => Target::Id(id),
            Some(ws::$m::Activity::Type(ty)) if !ty.is_empty() => Target::Type(ty),
            $(Some(ws::$m::Activity::$all(true)) => Target::All,)?
            _ => return Err(ApiError::InvalidArgument(NO_TARGET.into())),
        }
    };
}

const NO_TARGET: &str = "Either Activity.Id or Activity.Type should be set on request.";
const NOT_PENDING: &str =
    "Can't find pending activity with such ID. Invalid activityID or activity already completed";

/// The mask paths UpdateActivityOptions takes (snake case).
const MASK_PATHS: &[&str] = &[
    "task_queue.name",
    "schedule_to_close_timeout",
    "schedule_to_start_timeout",
    "start_to_close_timeout",
    "heartbeat_timeout",
    "retry_policy",
    "retry_policy.initial_interval",
    "retry_policy.backoff_coefficient",
    "retry_policy.maximum_interval",
    "retry_policy.maximum_attempts",
    "priority",
    "priority.priority_key",
    "priority.fairness_key",
    "priority.fairness_weight",
    "start_delay",
];

/// A mask path in snake case (clients may send camelCase, as JSON names them).
fn snake(path: &str) -> String {
    let mut out = String::new();
    for c in path.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// The activity's options as the operations answer them.
fn options_of(a: &ActivityInfo, with_kind: bool) -> ActivityOptions {
    ActivityOptions {
        task_queue: Some(TaskQueue {
            name: a.task_queue.clone(),
            kind: if with_kind { TaskQueueKind::Normal as i32 } else { 0 },
            ..Default::default()
        }),
        schedule_to_close_timeout: Some(to_duration(a.schedule_to_close_timeout)),
        schedule_to_start_timeout: Some(to_duration(a.schedule_to_start_timeout)),
        start_to_close_timeout: Some(to_duration(a.start_to_close_timeout)),
        heartbeat_timeout: Some(to_duration(a.heartbeat_timeout)),
        retry_policy: a.retry_policy.clone(),
        priority: a.priority.clone(),
        start_delay: None,
    }
}

/// Checks the values an options change would set.
fn check_options(o: &ActivityOptions, paths: &[String]) -> ApiResult<()> {
    let has = |p: &str| paths.iter().any(|x| x == p || x.starts_with(&format!("{p}.")));
    for (d, name) in [
        (&o.start_to_close_timeout, "StartToCloseTimeout"),
        (&o.heartbeat_timeout, "HeartbeatTimeout"),
        (&o.schedule_to_close_timeout, "ScheduleToCloseTimeout"),
        (&o.schedule_to_start_timeout, "ScheduleToStartTimeout"),
    ] {
        if time::is_negative(d) {
            return Err(ApiError::InvalidArgument(format!("invalid {name}: negative duration")));
        }
    }
    if has("task_queue") {
        match &o.task_queue {
            None => return Err(ApiError::InvalidArgument("TaskQueue is not provided".into())),
            Some(q) if q.name.is_empty() => {
                return Err(ApiError::InvalidArgument("missing task queue name".into()));
            }
            _ => {}
        }
    }
    if has("retry_policy")
        && let Some(p) = &o.retry_policy
    {
        if time::is_negative(&p.initial_interval) {
            return Err(ApiError::InvalidArgument(
                "invalid InitialInterval set on retry policy: negative duration".into(),
            ));
        }
        if p.backoff_coefficient != 0.0 && p.backoff_coefficient < 1.0 {
            return Err(ApiError::InvalidArgument(
                "BackoffCoefficient cannot be less than 1 on retry policy.".into(),
            ));
        }
        if p.maximum_attempts < 0 {
            return Err(ApiError::InvalidArgument(
                "MaximumAttempts cannot be negative on retry policy.".into(),
            ));
        }
    }
    Ok(())
}

/// The change `paths` of `o` make to activity `a` (retry policy and priority fields merged into
/// what it has).
fn change_of(a: &ActivityInfo, o: &ActivityOptions, paths: &[String]) -> OptionsChange {
    let mut c = OptionsChange::default();
    let mut policy: Option<RetryPolicy> = None;
    let mut priority: Option<Priority> = None;
    let given_policy = o.retry_policy.clone().unwrap_or_default();
    let given_priority = o.priority.clone().unwrap_or_default();
    for p in paths {
        match p.as_str() {
            "task_queue.name" => c.task_queue = o.task_queue.as_ref().map(|q| q.name.clone()),
            "schedule_to_close_timeout" => {
                c.schedule_to_close_timeout = Some(time::opt_duration(&o.schedule_to_close_timeout))
            }
            "schedule_to_start_timeout" => {
                c.schedule_to_start_timeout = Some(time::opt_duration(&o.schedule_to_start_timeout))
            }
            "start_to_close_timeout" => {
                c.start_to_close_timeout = Some(time::opt_duration(&o.start_to_close_timeout))
            }
            "heartbeat_timeout" => c.heartbeat_timeout = Some(time::opt_duration(&o.heartbeat_timeout)),
            "retry_policy" => policy = Some(given_policy.clone()),
            "retry_policy.initial_interval" => {
                policy.get_or_insert_with(|| a.retry_policy.clone().unwrap_or_default()).initial_interval =
                    given_policy.initial_interval
            }
            "retry_policy.backoff_coefficient" => {
                policy.get_or_insert_with(|| a.retry_policy.clone().unwrap_or_default()).backoff_coefficient =
                    given_policy.backoff_coefficient
            }
            "retry_policy.maximum_interval" => {
                policy.get_or_insert_with(|| a.retry_policy.clone().unwrap_or_default()).maximum_interval =
                    given_policy.maximum_interval
            }
            "retry_policy.maximum_attempts" => {
                policy.get_or_insert_with(|| a.retry_policy.clone().unwrap_or_default()).maximum_attempts =
                    given_policy.maximum_attempts
            }
            "priority" => priority = Some(given_priority.clone()),
            "priority.priority_key" => {
                priority.get_or_insert_with(|| a.priority.clone().unwrap_or_default()).priority_key =
                    given_priority.priority_key
            }
            "priority.fairness_key" => {
                priority.get_or_insert_with(|| a.priority.clone().unwrap_or_default()).fairness_key =
                    given_priority.fairness_key.clone()
            }
            "priority.fairness_weight" => {
                priority.get_or_insert_with(|| a.priority.clone().unwrap_or_default()).fairness_weight =
                    given_priority.fairness_weight
            }
            _ => {}
        }
    }
    c.retry_policy = policy.map(|p| endure_core::retry::with_defaults(Some(p)));
    c.priority = priority;
    c
}

/// The options an activity was scheduled with, from its ActivityTaskScheduled event.
fn original_options(attrs: &Attributes) -> Option<OptionsChange> {
    let Attributes::ActivityTaskScheduledEventAttributes(a) = attrs else { return None };
    Some(OptionsChange {
        task_queue: a.task_queue.as_ref().map(|q| q.name.clone()),
        schedule_to_close_timeout: Some(time::opt_duration(&a.schedule_to_close_timeout)),
        schedule_to_start_timeout: Some(time::opt_duration(&a.schedule_to_start_timeout)),
        start_to_close_timeout: Some(time::opt_duration(&a.start_to_close_timeout)),
        heartbeat_timeout: Some(time::opt_duration(&a.heartbeat_timeout)),
        retry_policy: a.retry_policy.clone(),
        priority: a.priority.clone(),
    })
}

impl Frontend {
    /// The run an operation acts on, and the scheduled event ids of the activities it names.
    async fn activity_targets(
        &self,
        namespace: &str,
        workflow_id: &str,
        run_id: &str,
        target: &Target,
        family: Family,
    ) -> ApiResult<(RunKey, Vec<i64>)> {
        let ns = self.namespaces.by_name(namespace).await?;
        let key = match self.engine.resolve_run(&ns.id, workflow_id, run_id).await {
            Ok(k) => k,
            Err(ApiError::NotFound(_)) if run_id.is_empty() => {
                return Err(ApiError::NotFound(format!("workflow not found for ID: {workflow_id}")));
            }
            Err(ApiError::NotFound(_)) => {
                return Err(ApiError::NotFound(format!(
                    "workflow execution not found for workflow ID \"{workflow_id}\" and run ID \"{run_id}\""
                )));
            }
            Err(e) => return Err(e),
        };
        let ms = self.engine.load(&key).await?.ms;
        if !ms.is_open() {
            return Err(ApiError::NotFound("workflow execution already completed".into()));
        }
        let named: Vec<i64> = ms
            .activities
            .values()
            .filter(|a| match target {
                Target::Id(id) => &a.activity_id == id,
                Target::Type(ty) => a.activity_type.as_ref().is_some_and(|t| &t.name == ty),
                Target::All => true,
            })
            .map(|a| a.scheduled_event_id)
            .collect();
        if named.is_empty() && !(matches!(target, Target::All) && family == Family::Deprecated) {
            return Err(ApiError::NotFound(NOT_PENDING.into()));
        }
        Ok((key, named))
    }

    /// Checks the execution a deprecated-family request names.
    fn deprecated_execution(
        e: &Option<endure_api::temporal::api::common::v1::WorkflowExecution>,
    ) -> ApiResult<(String, String)> {
        let e = e.clone().unwrap_or_default();
        if e.workflow_id.is_empty() {
            return Err(ApiError::InvalidArgument("WorkflowId is not set on request.".into()));
        }
        if !e.run_id.is_empty() && check_run_id(&e.run_id).is_err() {
            return Err(ApiError::InvalidArgument("RunId is not valid UUID.".into()));
        }
        Ok((e.workflow_id, e.run_id))
    }

    /// Checks what an `*Execution`-family request names.
    fn execution_target(workflow_id: &str, activity_id: &str, run_id: &str) -> ApiResult<Target> {
        if activity_id.is_empty() {
            return Err(ApiError::InvalidArgument("activity ID is required".into()));
        }
        if !run_id.is_empty() && check_run_id(run_id).is_err() {
            return Err(ApiError::InvalidArgument("invalid run id: must be a valid UUID".into()));
        }
        if workflow_id.is_empty() {
            // A standalone activity: Endure has none.
            return Err(ApiError::NotFound(format!("activity not found for ID: {activity_id}")));
        }
        Ok(Target::Id(activity_id.to_owned()))
    }

    async fn pause(
        &self,
        (namespace, workflow_id, run_id): (&str, &str, &str),
        target: Target,
        identity: &str,
        reason: &str,
        family: Family,
    ) -> ApiResult<()> {
        let (key, named) = self.activity_targets(namespace, workflow_id, run_id, &target, family).await?;
        let changed = self
            .engine
            .update(&key, None, |t| {
                let mut changed = false;
                for sched in &named {
                    changed |= t.pause_activity(*sched, identity, reason)?;
                }
                Ok(changed)
            })
            .await?;
        if !changed && family == Family::Execution {
            return Err(ApiError::FailedPrecondition("activity is already paused".into()));
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    async fn unpause(
        &self,
        (namespace, workflow_id, run_id): (&str, &str, &str),
        target: Target,
        reset_attempts: bool,
        reset_heartbeat: bool,
        jitter: Nanos,
        family: Family,
    ) -> ApiResult<()> {
        let (key, named) = self.activity_targets(namespace, workflow_id, run_id, &target, family).await?;
        let delays: Vec<Nanos> = named.iter().map(|_| self.engine.jitter(jitter)).collect();
        self.engine
            .update(&key, None, |t| {
                for (sched, delay) in named.iter().zip(&delays) {
                    t.unpause_activity(*sched, reset_attempts, reset_heartbeat, *delay)?;
                }
                Ok(())
            })
            .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn reset(
        &self,
        (namespace, workflow_id, run_id): (&str, &str, &str),
        target: Target,
        keep_paused: bool,
        reset_heartbeat: bool,
        jitter: Nanos,
        restore: bool,
        family: Family,
    ) -> ApiResult<()> {
        let (key, named) = self.activity_targets(namespace, workflow_id, run_id, &target, family).await?;
        let mut resets = Vec::new();
        for sched in &named {
            let restore = if restore { self.scheduled_options(&key, *sched).await? } else { None };
            resets.push(ResetActivity {
                keep_paused,
                reset_heartbeat,
                delay: self.engine.jitter(jitter),
                restore,
            });
        }
        self.engine
            .update(&key, None, |t| {
                for (sched, reset) in named.iter().zip(resets) {
                    t.reset_activity(*sched, reset)?;
                }
                Ok(())
            })
            .await
    }

    /// The options activity `sched` was scheduled with.
    async fn scheduled_options(&self, key: &RunKey, sched: i64) -> ApiResult<Option<OptionsChange>> {
        let events = self.engine.read_events(key, sched, sched + 1, 1).await?;
        Ok(events.first().and_then(|e| e.attributes.as_ref()).and_then(original_options))
    }

    #[allow(clippy::too_many_arguments)]
    async fn update_options(
        &self,
        (namespace, workflow_id, run_id): (&str, &str, &str),
        target: Target,
        options: Option<ActivityOptions>,
        mask: Option<prost_wkt_types::FieldMask>,
        restore: bool,
        family: Family,
    ) -> ApiResult<ActivityOptions> {
        let paths: Vec<String> =
            mask.as_ref().map(|m| m.paths.iter().map(|p| snake(p)).collect()).unwrap_or_default();
        if family == Family::Execution {
            if let Some(p) = paths.iter().find(|p| !MASK_PATHS.contains(&p.as_str())) {
                return Err(ApiError::InvalidArgument(format!("unsupported update_mask path: \"{p}\"")));
            }
            if !restore && paths.is_empty() {
                return Err(ApiError::InvalidArgument("UpdateMask must specify at least one path".into()));
            }
        }
        let options = options.unwrap_or_default();
        check_options(&options, &paths)?;
        let (key, named) = self.activity_targets(namespace, workflow_id, run_id, &target, family).await?;
        let mut restores = Vec::new();
        for sched in &named {
            restores.push(if restore { self.scheduled_options(&key, *sched).await? } else { None });
        }
        let updated = self
            .engine
            .update(&key, None, |t| {
                let mut first = None;
                for (sched, restore) in named.iter().zip(restores) {
                    let Some(a) = t.ms.activities.get(sched).cloned() else { continue };
                    let change = match restore {
                        Some(original) => original,
                        None => change_of(&a, &options, &paths),
                    };
                    if let Some(p) = &change.retry_policy {
                        // The policy as merged with the activity's (a maximum interval below
                        // its initial one, say).
                        endure_core::retry::validate(p).map_err(endure_core::CoreError::InvalidArgument)?;
                    }
                    let stc = change.start_to_close_timeout.unwrap_or(a.start_to_close_timeout);
                    let s2c = change.schedule_to_close_timeout.unwrap_or(a.schedule_to_close_timeout);
                    if stc == 0 && s2c == 0 {
                        return Err(endure_core::CoreError::InvalidArgument(format!(
                            "a valid StartToCloseTimeout or ScheduleToCloseTimeout must be set on the activity. ActivityId={} ActivityType={}",
                            a.activity_id,
                            a.activity_type.as_ref().map_or("", |t| t.name.as_str())
                        )));
                    }
                    let after = t.update_activity_options(*sched, change)?;
                    first.get_or_insert(after);
                }
                Ok(first)
            })
            .await?;
        Ok(updated.map(|a| options_of(&a, !restore)).unwrap_or_default())
    }

    /// The request's update options, checked as the deprecated RPC does first.
    fn options_request(
        options: &Option<ActivityOptions>,
        mask: &Option<prost_wkt_types::FieldMask>,
        restore: bool,
    ) -> ApiResult<()> {
        if restore {
            if mask.as_ref().is_some_and(|m| !m.paths.is_empty()) {
                return Err(ApiError::InvalidArgument(
                    "Both UpdateMask and RestoreOriginal are provided".into(),
                ));
            }
            return Ok(());
        }
        if options.is_none() {
            return Err(ApiError::InvalidArgument("ActivityOptions are not provided".into()));
        }
        if mask.is_none() {
            return Err(ApiError::InvalidArgument("UpdateMask is not provided".into()));
        }
        Ok(())
    }

    pub(crate) async fn pause_activity(
        &self,
        r: Request<ws::PauseActivityRequest>,
    ) -> ApiResult<ws::PauseActivityResponse> {
        let r = r.into_inner();
        let (wf, run) = Self::deprecated_execution(&r.execution)?;
        let target = target_of!(r.activity, pause_activity_request);
        self.pause((&r.namespace, &wf, &run), target, &r.identity, &r.reason, Family::Deprecated).await?;
        Ok(ws::PauseActivityResponse {})
    }

    pub(crate) async fn unpause_activity(
        &self,
        r: Request<ws::UnpauseActivityRequest>,
    ) -> ApiResult<ws::UnpauseActivityResponse> {
        let r = r.into_inner();
        let (wf, run) = Self::deprecated_execution(&r.execution)?;
        let target = target_of!(r.activity, unpause_activity_request, UnpauseAll);
        let jitter = time::opt_duration(&r.jitter);
        self.unpause(
            (&r.namespace, &wf, &run),
            target,
            r.reset_attempts,
            r.reset_heartbeat,
            jitter,
            Family::Deprecated,
        )
        .await?;
        Ok(ws::UnpauseActivityResponse {})
    }

    pub(crate) async fn reset_activity(
        &self,
        r: Request<ws::ResetActivityRequest>,
    ) -> ApiResult<ws::ResetActivityResponse> {
        let r = r.into_inner();
        let (wf, run) = Self::deprecated_execution(&r.execution)?;
        let target = target_of!(r.activity, reset_activity_request, MatchAll);
        let jitter = time::opt_duration(&r.jitter);
        self.reset(
            (&r.namespace, &wf, &run),
            target,
            r.keep_paused,
            r.reset_heartbeat,
            jitter,
            r.restore_original_options,
            Family::Deprecated,
        )
        .await?;
        Ok(ws::ResetActivityResponse {})
    }

    pub(crate) async fn update_activity_options(
        &self,
        r: Request<ws::UpdateActivityOptionsRequest>,
    ) -> ApiResult<ws::UpdateActivityOptionsResponse> {
        let r = r.into_inner();
        Self::options_request(&r.activity_options, &r.update_mask, r.restore_original)?;
        let (wf, run) = Self::deprecated_execution(&r.execution)?;
        let target = target_of!(r.activity, update_activity_options_request, MatchAll);
        let activity_options = self
            .update_options(
                (&r.namespace, &wf, &run),
                target,
                r.activity_options,
                r.update_mask,
                r.restore_original,
                Family::Deprecated,
            )
            .await?;
        Ok(ws::UpdateActivityOptionsResponse { activity_options: Some(activity_options) })
    }

    pub(crate) async fn pause_activity_execution(
        &self,
        r: Request<ws::PauseActivityExecutionRequest>,
    ) -> ApiResult<ws::PauseActivityExecutionResponse> {
        let r = r.into_inner();
        let target = Self::execution_target(&r.workflow_id, &r.activity_id, &r.run_id)?;
        self.pause(
            (&r.namespace, &r.workflow_id, &r.run_id),
            target,
            &r.identity,
            &r.reason,
            Family::Execution,
        )
        .await?;
        Ok(ws::PauseActivityExecutionResponse {})
    }

    pub(crate) async fn unpause_activity_execution(
        &self,
        r: Request<ws::UnpauseActivityExecutionRequest>,
    ) -> ApiResult<ws::UnpauseActivityExecutionResponse> {
        let r = r.into_inner();
        let target = Self::execution_target(&r.workflow_id, &r.activity_id, &r.run_id)?;
        let jitter = time::opt_duration(&r.jitter);
        self.unpause(
            (&r.namespace, &r.workflow_id, &r.run_id),
            target,
            false,
            false,
            jitter,
            Family::Execution,
        )
        .await?;
        Ok(ws::UnpauseActivityExecutionResponse {})
    }

    pub(crate) async fn reset_activity_execution(
        &self,
        r: Request<ws::ResetActivityExecutionRequest>,
    ) -> ApiResult<ws::ResetActivityExecutionResponse> {
        let r = r.into_inner();
        let target = Self::execution_target(&r.workflow_id, &r.activity_id, &r.run_id)?;
        let jitter = time::opt_duration(&r.jitter);
        self.reset(
            (&r.namespace, &r.workflow_id, &r.run_id),
            target,
            r.keep_paused,
            r.reset_heartbeat,
            jitter,
            r.restore_original_options,
            Family::Execution,
        )
        .await?;
        Ok(ws::ResetActivityExecutionResponse {})
    }

    pub(crate) async fn update_activity_execution_options(
        &self,
        r: Request<ws::UpdateActivityExecutionOptionsRequest>,
    ) -> ApiResult<ws::UpdateActivityExecutionOptionsResponse> {
        let r = r.into_inner();
        let target = Self::execution_target(&r.workflow_id, &r.activity_id, &r.run_id)?;
        let activity_options = self
            .update_options(
                (&r.namespace, &r.workflow_id, &r.run_id),
                target,
                r.activity_options,
                r.update_mask,
                r.restore_original,
                Family::Execution,
            )
            .await?;
        Ok(ws::UpdateActivityExecutionOptionsResponse { activity_options: Some(activity_options) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mask_paths_are_taken_in_snake_or_camel_case() {
        assert_eq!(snake("startToCloseTimeout"), "start_to_close_timeout");
        assert_eq!(snake("taskQueue.name"), "task_queue.name");
        assert_eq!(snake("retry_policy.maximum_attempts"), "retry_policy.maximum_attempts");
        for p in MASK_PATHS {
            assert_eq!(&snake(p), p);
        }
    }

    #[test]
    fn a_retry_policy_field_is_merged_into_the_activitys_policy() {
        let a = ActivityInfo {
            retry_policy: Some(RetryPolicy {
                maximum_attempts: 5,
                backoff_coefficient: 2.0,
                ..Default::default()
            }),
            ..Default::default()
        };
        let o = ActivityOptions {
            retry_policy: Some(RetryPolicy { maximum_attempts: 9, ..Default::default() }),
            ..Default::default()
        };
        let c = change_of(&a, &o, &["retry_policy.maximum_attempts".into()]);
        let p = c.retry_policy.expect("a policy");
        assert_eq!((p.maximum_attempts, p.backoff_coefficient), (9, 2.0));
        assert_eq!(c.task_queue, None);
    }
}
