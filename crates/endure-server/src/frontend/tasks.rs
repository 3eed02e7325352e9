//! Worker-facing RPCs: task polls, task completions, heartbeats, task-queue introspection.

use super::Frontend;
use super::deadline::poll_deadline;
use crate::error::{ApiError, ApiResult};
use crate::matching::{Dispatch, LONG_POLL, Matched, QueryTask, QueueKind, TaskRef};
use crate::metrics::{self, PollEnd};
use crate::namespaces::Namespace;
use crate::peer;
use crate::validate::{check_blob, check_id, check_run_id};
use endure_api::temporal::api::command::v1::command::Attributes as CommandAttributes;
use endure_api::temporal::api::common::v1::{Payloads, WorkflowExecution};
use endure_api::temporal::api::enums::v1::{
    DescribeTaskQueueMode, TaskQueueKind, TaskQueueType, WorkflowTaskFailedCause,
};
use endure_api::temporal::api::history::v1::History;
use endure_api::temporal::api::taskqueue::v1::{PollerInfo, TaskQueueStats};
use endure_api::temporal::api::workflowservice::v1 as ws;
use endure_core::commands::{CompletionOutcome, WorkflowTaskCompletion};
use endure_core::time::{to_duration, to_timestamp};
use endure_core::token::{TaskToken, TokenKind};
use endure_core::transition::Poller;
use endure_core::{Task, Txn};
use endure_store::RunKey;
use tonic::Request;

/// Maximum number of history events sent inline with a workflow task.
const MAX_INLINE_EVENTS: usize = 100_000;

fn queue_name(tq: &Option<endure_api::temporal::api::taskqueue::v1::TaskQueue>) -> ApiResult<String> {
    let name = tq.as_ref().map(|t| t.name.clone()).unwrap_or_default();
    check_id(&name, "TaskQueue")?;
    Ok(name)
}

/// A task that cannot be started any more: gone, already started, or its run's shard moved to
/// another replica (which dispatches it again).
fn is_stale(e: &ApiError) -> bool {
    matches!(
        e,
        ApiError::NotFound(_)
            | ApiError::FailedPrecondition(_)
            | ApiError::ShardNotOwned(_)
            // Starting it would have taken the history over the limits: the run is terminated.
            | ApiError::HistoryLimitExceeded(_)
    )
}

/// The metrics' name of a queue kind.
fn metric_kind(kind: QueueKind) -> metrics::QueueKind {
    match kind {
        QueueKind::Workflow => metrics::QueueKind::Workflow,
        QueueKind::Activity => metrics::QueueKind::Activity,
    }
}

/// Counts a poll as ended empty when dropped armed.
struct EmptyPoll<'a> {
    namespace: &'a str,
    kind: QueueKind,
    label: &'a str,
    armed: bool,
}

impl Drop for EmptyPoll<'_> {
    fn drop(&mut self) {
        if self.armed {
            metrics::poll(self.namespace, metric_kind(self.kind), self.label, PollEnd::Timeout);
        }
    }
}

/// The time from `from` to `to`, when both are set and in order.
fn between(
    from: Option<&prost_wkt_types::Timestamp>,
    to: Option<&prost_wkt_types::Timestamp>,
) -> Option<std::time::Duration> {
    let (from, to) = (from?, to?);
    let nanos = (to.seconds - from.seconds) as i128 * 1_000_000_000 + (to.nanos - from.nanos) as i128;
    u64::try_from(nanos).ok().map(std::time::Duration::from_nanos)
}

impl Frontend {
    fn token(&self, bytes: &[u8], kind: TokenKind) -> ApiResult<(TaskToken, RunKey)> {
        let t = TaskToken::decode(bytes)?;
        if t.kind != kind {
            return Err(ApiError::InvalidArgument("Task token is of the wrong kind for this call.".into()));
        }
        let key = RunKey {
            namespace_id: t.namespace_id.clone(),
            workflow_id: t.workflow_id.clone(),
            run_id: t.run_id.clone(),
        };
        Ok((t, key))
    }

    /// Waits for a task of a queue, honouring shutdown.
    async fn next_dispatch(
        &self,
        ns: &Namespace,
        queue: &str,
        kind: QueueKind,
        identity: &str,
        deadline: tokio::time::Instant,
        label: &str,
    ) -> Option<(Dispatch, Matched)> {
        let mut shutdown = self.shutdown.clone();
        if *shutdown.borrow() {
            return None;
        }
        // A poll that ends without a task is counted as timed out, also when its caller goes
        // away first (the SDK cancels its polls at shutdown), as the real server counts it.
        let mut empty = EmptyPoll { namespace: &ns.name, kind, label, armed: true };
        let polled = tokio::select! {
            d = self.matching.poll(&ns.id, queue, kind, identity, deadline) => d,
            _ = shutdown.changed() => None,
        };
        empty.armed = polled.is_none();
        polled
    }

    pub(crate) async fn poll_workflow_task_queue(
        &self,
        req: Request<ws::PollWorkflowTaskQueueRequest>,
    ) -> ApiResult<ws::PollWorkflowTaskQueueResponse> {
        let deadline = poll_deadline(&req, LONG_POLL);
        super::deadline::check_long_poll_timeout(&req)?;
        let r = req.into_inner();
        let ns = self.namespaces.by_name(&r.namespace).await?;
        let queue = queue_name(&r.task_queue)?;
        let version = versioned_worker(r.deployment_options.as_ref())?;
        #[allow(deprecated)] // worker_version_capabilities: still sent by SDKs
        let mut poller = polling_worker(
            &r.identity,
            r.deployment_options.as_ref(),
            r.worker_version_capabilities.as_ref(),
        );
        if poller.build_id.is_empty() {
            // Workers without versioning send their build id as the binary checksum.
            #[allow(deprecated)]
            let checksum = r.binary_checksum.clone();
            poller.build_id = checksum;
        }
        let sticky = r.task_queue.as_ref().is_some_and(|q| q.kind == TaskQueueKind::Sticky as i32);
        // The queue whose routing applies: a sticky queue's normal one.
        let routed_queue = match r.task_queue.as_ref() {
            Some(q) if sticky && !q.normal_name.is_empty() => q.normal_name.clone(),
            _ => queue.clone(),
        };
        let physical = match &version {
            Some(v) => {
                // A versioned worker's started events carry its version, not a build id.
                poller.build_id.clear();
                poller.deployment = Some(v.clone());
                let normal = r.task_queue.as_ref().map(|q| q.normal_name.clone()).unwrap_or_default();
                if sticky {
                    self.engine.router().versions().add_sticky(&ns.id, &queue, &normal, v);
                    queue.clone()
                } else {
                    self.deployments.register(&ns.id, v, &queue, QueueKind::Workflow).await?;
                    crate::versioning::physical(&queue, Some(v))
                }
            }
            None => queue.clone(),
        };
        let label = metrics::queue_label(&queue, sticky);
        let polled = |resp: &ws::PollWorkflowTaskQueueResponse, matched: Matched| {
            let end = if matched == Matched::Sync { PollEnd::SyncMatch } else { PollEnd::Task };
            metrics::poll(&ns.name, metrics::QueueKind::Workflow, label, end);
            if let Some(latency) = between(resp.scheduled_time.as_ref(), resp.started_time.as_ref()) {
                metrics::schedule_to_start(&ns.name, metrics::QueueKind::Workflow, label, latency);
            }
        };
        loop {
            let next =
                self.next_dispatch(&ns, &physical, QueueKind::Workflow, &r.identity, deadline, label).await;
            let Some((dispatch, matched)) = next else {
                return Ok(ws::PollWorkflowTaskQueueResponse::default());
            };
            match dispatch {
                Dispatch::Query(q) => {
                    if !q.remote && !self.queries.lock().contains_key(&q.query_id) {
                        continue; // its caller gave up
                    }
                    match self.query_task_response(&ns, q).await {
                        Ok(resp) => {
                            metrics::poll(&ns.name, metrics::QueueKind::Workflow, label, PollEnd::Task);
                            return Ok(resp);
                        }
                        Err(e) => tracing::warn!("dropping query task: {e}"),
                    }
                }
                Dispatch::Task(t) => match self
                    .start_workflow_task_anywhere(
                        &ns,
                        &t,
                        &self.target_told(&ns.id, &routed_queue, &t, &poller),
                    )
                    .await
                {
                    Ok(resp) => {
                        polled(&resp, matched);
                        super::observe::workflow_task_dispatched(&ns.name, &t, &resp);
                        return Ok(resp);
                    }
                    Err(e) if is_stale(&e) => continue,
                    Err(e) => {
                        self.engine.dispatch(t);
                        return Err(e);
                    }
                },
            }
        }
    }

    /// `poller`, told whether the pinned run of `t` is no longer its queue's target (the worker
    /// learns it from the started event).
    fn target_told(&self, namespace_id: &str, queue: &str, t: &TaskRef, poller: &Poller) -> Poller {
        let mut p = poller.clone();
        if let Task::WorkflowTask { version, .. } = &t.task
            && let Some(pinned) = endure_core::deployment::Version::from_key(version)
            && let Some(route) = self.engine.router().versions().route(namespace_id, queue)
        {
            p.target_changed =
                route.deployment == pinned.deployment && route.target(&t.run.workflow_id) != pinned.build_id;
        }
        p
    }

    /// The run's namespace name and the ids of the namespaces its commands name (children,
    /// external signals and cancels), for the events that carry both. A name that resolves to
    /// nothing is left out: the command fails when it runs, as before.
    async fn command_namespaces(
        &self,
        namespace_id: &str,
        commands: &[endure_api::temporal::api::command::v1::Command],
    ) -> ApiResult<(String, std::collections::BTreeMap<String, String>)> {
        use endure_api::temporal::api::command::v1::command::Attributes as C;
        let own = self.namespaces.by_id(namespace_id).await?;
        let mut ids = std::collections::BTreeMap::from([(own.name.clone(), own.id.clone())]);
        #[allow(deprecated)] // the commands' namespace fields: deprecated, still sent by SDKs
        for named in commands.iter().filter_map(|c| match &c.attributes {
            Some(C::StartChildWorkflowExecutionCommandAttributes(a)) => Some(&a.namespace),
            Some(C::SignalExternalWorkflowExecutionCommandAttributes(a)) => Some(&a.namespace),
            Some(C::RequestCancelExternalWorkflowExecutionCommandAttributes(a)) => Some(&a.namespace),
            _ => None,
        }) {
            if !named.is_empty()
                && !ids.contains_key(named)
                && let Ok(ns) = self.namespaces.by_name(named).await
            {
                ids.insert(ns.name.clone(), ns.id.clone());
            }
        }
        Ok((own.name.clone(), ids))
    }

    /// [`Frontend::start_workflow_task`] on the replica that holds the task's workflow: here,
    /// or through the internal API (the task queue lives on one replica, its workflows on any).
    async fn start_workflow_task_anywhere(
        &self,
        ns: &Namespace,
        t: &TaskRef,
        poller: &Poller,
    ) -> ApiResult<ws::PollWorkflowTaskQueueResponse> {
        if self.engine.owns_run(&t.run) {
            return self.start_workflow_task(ns, t, poller).await;
        }
        self.start_remotely(t, poller, |mut c, body| async move { c.start_workflow_task(body).await }).await
    }

    /// [`Frontend::start_activity`] on the replica that holds the task's workflow.
    async fn start_activity_anywhere(
        &self,
        ns: &Namespace,
        t: &TaskRef,
        poller: &Poller,
    ) -> ApiResult<ws::PollActivityTaskQueueResponse> {
        if self.engine.owns_run(&t.run) {
            return self.start_activity(ns, t, poller).await;
        }
        self.start_remotely(t, poller, |mut c, body| async move { c.start_activity_task(body).await }).await
    }

    /// Asks the replica holding `t`'s workflow to start it (`call`: which Start RPC). A task
    /// whose workflow's replica cannot be reached (moving, or a network fault) is offered again
    /// a second later, so it is not lost if its workflow stayed where it was (a new owner offers
    /// it again itself; the queue keeps one copy).
    async fn start_remotely<R, F>(
        &self,
        t: &TaskRef,
        poller: &Poller,
        call: impl FnOnce(peer::ClusterClient, endure_api::internal::Json) -> F,
    ) -> ApiResult<R>
    where
        F: std::future::Future<Output = Result<tonic::Response<R>, tonic::Status>>,
    {
        let attempt = async {
            let addr = self.engine.owner_of(&t.run.namespace_id, &t.run.workflow_id)?;
            let start = peer::StartTask {
                task: t.into(),
                identity: poller.identity.clone(),
                build_id: poller.build_id.clone(),
                deployment: poller.deployment.clone(),
                target_changed: poller.target_changed,
                sdk: poller.sdk.clone(),
            };
            let body = peer::json(&start)?;
            let client = self.peers.cluster(&addr)?;
            call(client, body).await.map(tonic::Response::into_inner).map_err(ApiError::from_peer)
        };
        let r = attempt.await;
        if let Err(ApiError::ShardNotOwned(m)) = &r {
            tracing::debug!(
                task_id = t.task_id,
                "workflow's replica unreachable, offering the task again: {m}"
            );
            let (engine, t) = (self.engine.clone(), t.clone());
            tokio::spawn(async move {
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                engine.dispatch(t);
            });
        }
        r
    }

    /// Records a workflow task as started by `identity` and builds the worker's response. A
    /// `task_id` of 0 means the task was not taken from a queue (eager start).
    pub(crate) async fn start_workflow_task(
        &self,
        ns: &Namespace,
        t: &TaskRef,
        poller: &Poller,
    ) -> ApiResult<ws::PollWorkflowTaskQueueResponse> {
        self.start_workflow_task_as(ns, t, poller, false).await
    }

    /// [`Frontend::start_workflow_task`]; `lock_held`: the caller holds the workflow lock.
    pub(crate) async fn start_workflow_task_as(
        &self,
        ns: &Namespace,
        t: &TaskRef,
        poller: &Poller,
        lock_held: bool,
    ) -> ApiResult<ws::PollWorkflowTaskQueueResponse> {
        let Task::WorkflowTask { stamp, .. } = t.task else {
            return Err(ApiError::Internal("non-workflow task in a workflow queue".into()));
        };
        let request_id = self.engine.new_id();
        let consumed = (t.task_id > 0).then_some(t.task_id);
        let start = |x: &mut Txn<'_>| {
            let s = x.start_workflow_task(stamp, &request_id, poller)?;
            Ok((s, x.ms.workflow_type.clone(), x.ms.task_queue.clone()))
        };
        let (started, ty, queue) = if lock_held {
            self.engine.update_locked(&t.run, consumed, start).await?
        } else {
            self.engine.update(&t.run, consumed, start).await?
        };
        self.workflow_task_response(ns, &t.run, stamp, started, ty, &queue).await
    }

    /// The worker's view of a started workflow task: token, history since what it has cached,
    /// transient events, queries and update requests riding along.
    async fn workflow_task_response(
        &self,
        ns: &Namespace,
        run: &RunKey,
        stamp: i64,
        started: endure_core::transition::StartedWorkflowTask,
        ty: Option<endure_api::temporal::api::common::v1::WorkflowType>,
        queue: &str,
    ) -> ApiResult<ws::PollWorkflowTaskQueueResponse> {
        let end = if started.transient_events.is_empty() {
            started.started_event_id + 1
        } else {
            started.scheduled_event_id
        };
        let mut events = self.engine.read_events(run, started.first_event_id, end, MAX_INLINE_EVENTS).await?;
        events.extend(started.transient_events.clone());
        let now = self.engine.now();
        let token = TaskToken {
            kind: TokenKind::Workflow,
            namespace_id: ns.id.clone(),
            workflow_id: run.workflow_id.clone(),
            run_id: run.run_id.clone(),
            scheduled_event_id: started.scheduled_event_id,
            attempt: started.attempt,
            stamp,
            activity_id: String::new(),
            query_id: String::new(),
        };
        Ok(ws::PollWorkflowTaskQueueResponse {
            task_token: token.encode(),
            workflow_execution: Some(WorkflowExecution {
                workflow_id: run.workflow_id.clone(),
                run_id: run.run_id.clone(),
            }),
            workflow_type: ty,
            previous_started_event_id: started.previous_started_event_id,
            started_event_id: started.started_event_id,
            attempt: started.attempt,
            backlog_count_hint: self.matching.backlog(&ns.id, queue, QueueKind::Workflow) as i64,
            history: Some(History { events }),
            workflow_execution_task_queue: Some(endure_core::transition::normal_queue(queue)),
            scheduled_time: Some(to_timestamp(started.scheduled_time)),
            started_time: Some(to_timestamp(now)),
            // Held until a completion answers them: a task that fails or times out leaves them
            // for the next one, as the real server does.
            queries: self.buffered_queries.lock().get(run).cloned().unwrap_or_default().into_iter().collect(),
            messages: started
                .update_requests
                .iter()
                .map(|r| endure_core::updates::request_message(r, started.started_event_id - 1))
                .collect(),
            ..Default::default()
        })
    }

    async fn query_task_response(
        &self,
        ns: &Namespace,
        q: QueryTask,
    ) -> ApiResult<ws::PollWorkflowTaskQueueResponse> {
        let ms = self.engine.load(&q.run).await?.ms;
        let events = if q.sticky {
            vec![]
        } else {
            self.engine.read_events(&q.run, 1, ms.next_event_id, MAX_INLINE_EVENTS).await?
        };
        let token = TaskToken {
            kind: TokenKind::Query,
            namespace_id: ns.id.clone(),
            workflow_id: q.run.workflow_id.clone(),
            run_id: q.run.run_id.clone(),
            scheduled_event_id: 0,
            attempt: 1,
            stamp: 0,
            activity_id: String::new(),
            query_id: q.query_id.clone(),
        };
        Ok(ws::PollWorkflowTaskQueueResponse {
            task_token: token.encode(),
            workflow_execution: Some(WorkflowExecution {
                workflow_id: q.run.workflow_id.clone(),
                run_id: q.run.run_id.clone(),
            }),
            workflow_type: ms.workflow_type.clone(),
            previous_started_event_id: ms.last_completed_wft_started_id,
            // No started event and no times: what makes SDKs take it as a query-only task (one
            // that looks like a workflow task would take a workflow task's place in the worker).
            started_event_id: 0,
            attempt: 1,
            history: Some(History { events }),
            query: Some(q.query),
            workflow_execution_task_queue: Some(endure_core::transition::normal_queue(&ms.task_queue)),
            ..Default::default()
        })
    }

    /// The first problem with the search attributes that commands set (upsert, child start,
    /// continue-as-new), checked against the namespace's registered attributes.
    async fn check_command_search_attributes(
        &self,
        namespace_id: &str,
        commands: &[endure_api::temporal::api::command::v1::Command],
    ) -> ApiResult<Option<String>> {
        use endure_api::temporal::api::command::v1::command::Attributes as C;
        let sets = commands.iter().filter_map(|c| match c.attributes.as_ref()? {
            C::UpsertWorkflowSearchAttributesCommandAttributes(a) => {
                Some((a.search_attributes.as_ref()?, true))
            }
            C::StartChildWorkflowExecutionCommandAttributes(a) => {
                Some((a.search_attributes.as_ref()?, false))
            }
            C::ContinueAsNewWorkflowExecutionCommandAttributes(a) => {
                Some((a.search_attributes.as_ref()?, false))
            }
            _ => None,
        });
        let sets: Vec<_> = sets.filter(|(sa, _)| !sa.indexed_fields.is_empty()).collect();
        if sets.is_empty() {
            return Ok(None);
        }
        let types = self.search_attributes.of(namespace_id).await?;
        let ns = self.namespaces.by_id(namespace_id).await?;
        Ok(sets.into_iter().find_map(|(sa, upsert)| {
            crate::search_attributes::validate(&ns.name, &types, sa, upsert, self.engine.limits()).err()
        }))
    }

    pub(crate) async fn respond_workflow_task_completed(
        &self,
        r: Request<ws::RespondWorkflowTaskCompletedRequest>,
    ) -> ApiResult<ws::RespondWorkflowTaskCompletedResponse> {
        let mut r = r.into_inner();
        let (token, key) = self.token(&r.task_token, TokenKind::Workflow)?;
        let return_new = r.return_new_workflow_task;
        tracing::debug!(
            workflow_id = %key.workflow_id,
            return_new,
            force = r.force_create_new_workflow_task,
            commands = r.commands.len(),
            query_results = r.query_results.len(),
            "workflow task completion"
        );
        let answered: Vec<String> = r.query_results.keys().cloned().collect();
        if !answered.is_empty() {
            let mut held = self.buffered_queries.lock();
            if let Some(list) = held.get_mut(&key) {
                list.retain(|(id, _)| !answered.contains(id));
                if list.is_empty() {
                    held.remove(&key);
                }
            }
        }
        for (id, result) in std::mem::take(&mut r.query_results) {
            if let Some(tx) = self.queries.lock().remove(&id) {
                let _ = tx.send(ws::RespondQueryTaskCompletedRequest {
                    completed_type: result.result_type,
                    query_result: result.answer,
                    error_message: result.error_message,
                    failure: result.failure,
                    ..Default::default()
                });
            }
        }
        let bad_search_attributes =
            self.check_command_search_attributes(&key.namespace_id, &r.commands).await?;
        if !self.dynamic.eager_activity_execution {
            // Eager activities are off: every activity goes through its task queue.
            for cmd in r.commands.iter_mut() {
                if let Some(CommandAttributes::ScheduleActivityTaskCommandAttributes(a)) =
                    cmd.attributes.as_mut()
                {
                    a.request_eager_execution = false;
                }
            }
        }
        let build_id = completing_build_id(&r);
        let deployment = versioned_worker(r.deployment_options.as_ref())?;
        let route = match &deployment {
            Some(v) => self
                .deployments
                .load(&key.namespace_id, &v.deployment)
                .await?
                .and_then(|(_, ms)| ms.deployment.map(|d| d.route)),
            None => None,
        };
        let route_revision = route.as_ref().map_or(0, |r| r.revision);
        let route_target = route.as_ref().and_then(|r| {
            let build = r.target(&key.workflow_id);
            (!build.is_empty()).then(|| endure_core::deployment::Version::new(&r.deployment, build))
        });
        let (own_namespace, namespace_ids) = self.command_namespaces(&key.namespace_id, &r.commands).await?;
        let eager_request_ids = r.commands.iter().map(|_| self.engine.new_id()).collect();
        #[allow(deprecated)]
        let completion = WorkflowTaskCompletion {
            bad_search_attributes,
            deployment,
            versioning_behavior: r.versioning_behavior,
            route_revision,
            route_target,
            commands: r.commands,
            identity: r.identity,
            binary_checksum: r.binary_checksum,
            build_id,
            versioned: r.worker_version_stamp.as_ref().is_some_and(|s| s.use_versioning),
            eager_request_ids,
            own_namespace,
            namespace_ids,
            sdk_metadata: r.sdk_metadata,
            metering_metadata: r.metering_metadata,
            force_create_new_workflow_task: r.force_create_new_workflow_task,
            messages: r.messages,
            return_new_workflow_task: return_new,
            new_task_request_id: self.engine.new_id(),
            sticky: r.sticky_attributes.as_ref().and_then(|a| {
                let queue = a.worker_task_queue.as_ref()?.name.clone();
                Some((queue, endure_core::time::opt_duration(&a.schedule_to_start_timeout)))
            }),
        };
        let outcome = self
            .engine
            .update(&key, None, |x| {
                let out = x.complete_workflow_task(token.stamp, completion)?;
                // Recorded before the commit wakes the update's caller, which then looks here.
                if let CompletionOutcome::Completed(changes) = &out {
                    self.record_rejections(&key, changes.rejected.clone());
                }
                Ok(out)
            })
            .await?;
        match outcome {
            CompletionOutcome::Completed(mut changes) => {
                let activity_tasks = if changes.eager_activities.is_empty() {
                    vec![]
                } else {
                    let ns = self.namespaces.by_id(&key.namespace_id).await?;
                    let ty = self.engine.load(&key).await?.ms.workflow_type;
                    changes
                        .eager_activities
                        .drain(..)
                        .map(|a| {
                            let (event_id, queue) = (a.info.scheduled_event_id, a.info.task_queue.clone());
                            let mut resp = activity_response(&ns, &key, a.info, ty.clone());
                            super::observe::activity_task_dispatched(
                                &ns.name, &key, &queue, event_id, &mut resp,
                            );
                            resp
                        })
                        .collect()
                };
                let workflow_task = match changes.inline_task {
                    Some((stamp, started)) => {
                        let ns = self.namespaces.by_id(&key.namespace_id).await?;
                        let ms = self.engine.load(&key).await?.ms;
                        Some(
                            self.workflow_task_response(
                                &ns,
                                &key,
                                stamp,
                                started,
                                ms.workflow_type,
                                &ms.task_queue,
                            )
                            .await?,
                        )
                    }
                    None => None,
                };
                Ok(ws::RespondWorkflowTaskCompletedResponse {
                    workflow_task,
                    activity_tasks,
                    reset_history_event_id: if changes.discarded {
                        changes.reset_history_event_id
                    } else {
                        0
                    },
                })
            }
            CompletionOutcome::Failed { cause: WorkflowTaskFailedCause::UnhandledCommand, .. } => {
                Ok(ws::RespondWorkflowTaskCompletedResponse::default())
            }
            CompletionOutcome::Failed { message, .. } => Err(ApiError::InvalidArgument(message)),
        }
    }

    pub(crate) async fn respond_workflow_task_failed(
        &self,
        r: Request<ws::RespondWorkflowTaskFailedRequest>,
    ) -> ApiResult<ws::RespondWorkflowTaskFailedResponse> {
        let r = r.into_inner();
        let (token, key) = self.token(&r.task_token, TokenKind::Workflow)?;
        let cause =
            WorkflowTaskFailedCause::try_from(r.cause).unwrap_or(WorkflowTaskFailedCause::Unspecified);
        self.engine
            .update(&key, None, |x| {
                x.fail_workflow_task(token.stamp, cause, r.failure.clone(), &r.identity, false)
            })
            .await?;
        Ok(ws::RespondWorkflowTaskFailedResponse::default())
    }

    pub(crate) async fn poll_activity_task_queue(
        &self,
        req: Request<ws::PollActivityTaskQueueRequest>,
    ) -> ApiResult<ws::PollActivityTaskQueueResponse> {
        let deadline = poll_deadline(&req, LONG_POLL);
        super::deadline::check_long_poll_timeout(&req)?;
        let header = |k: &str| req.metadata().get(k).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let sdk = header("client-name").zip(header("client-version"));
        let r = req.into_inner();
        let ns = self.namespaces.by_name(&r.namespace).await?;
        let queue = queue_name(&r.task_queue)?;
        let version = versioned_worker(r.deployment_options.as_ref())?;
        #[allow(deprecated)] // worker_version_capabilities: still sent by SDKs
        let mut poller = polling_worker(
            &r.identity,
            r.deployment_options.as_ref(),
            r.worker_version_capabilities.as_ref(),
        );
        poller.sdk = sdk;
        let physical = match &version {
            Some(v) => {
                poller.deployment = Some(v.clone());
                self.deployments.register(&ns.id, v, &queue, QueueKind::Activity).await?;
                crate::versioning::physical(&queue, Some(v))
            }
            None => queue.clone(),
        };
        let label = queue.as_str();
        loop {
            let next =
                self.next_dispatch(&ns, &physical, QueueKind::Activity, &r.identity, deadline, label).await;
            let Some((dispatch, matched)) = next else {
                return Ok(ws::PollActivityTaskQueueResponse::default());
            };
            match dispatch {
                Dispatch::Query(_) => continue,
                Dispatch::Task(t) => match self.start_activity_anywhere(&ns, &t, &poller).await {
                    Ok(mut resp) => {
                        if let Task::ActivityTask { scheduled_event_id, .. } = &t.task {
                            let event_id = *scheduled_event_id;
                            super::observe::activity_task_dispatched(
                                &ns.name, &t.run, label, event_id, &mut resp,
                            );
                        }
                        let end = if matched == Matched::Sync { PollEnd::SyncMatch } else { PollEnd::Task };
                        metrics::poll(&ns.name, metrics::QueueKind::Activity, label, end);
                        let scheduled = resp.current_attempt_scheduled_time.as_ref();
                        if let Some(latency) = between(scheduled, resp.started_time.as_ref()) {
                            metrics::schedule_to_start(
                                &ns.name,
                                metrics::QueueKind::Activity,
                                label,
                                latency,
                            );
                        }
                        return Ok(resp);
                    }
                    Err(e) if is_stale(&e) => continue,
                    Err(e) => {
                        self.engine.dispatch(t);
                        return Err(e);
                    }
                },
            }
        }
    }

    /// Records an activity attempt taken from a queue as started by `identity` and builds the
    /// worker's response.
    pub(crate) async fn start_activity(
        &self,
        ns: &Namespace,
        t: &TaskRef,
        poller: &Poller,
    ) -> ApiResult<ws::PollActivityTaskQueueResponse> {
        let Task::ActivityTask { scheduled_event_id, attempt, stamp, .. } = t.task else {
            return Err(ApiError::Internal("non-activity task in an activity queue".into()));
        };
        let request_id = self.engine.new_id();
        let (s, ty, standalone) = self
            .engine
            .update(&t.run, Some(t.task_id), |x| {
                let s = x.start_activity(scheduled_event_id, attempt, Some(stamp), &request_id, poller)?;
                Ok((s, x.ms.workflow_type.clone(), x.ms.standalone.is_some()))
            })
            .await?;
        let priority = s.info.priority.clone();
        let mut resp = activity_response(ns, &t.run, s.info, ty);
        if standalone {
            resp.priority = priority;
            // As the real server: no workflow, and the activity's own run id.
            resp.workflow_type = None;
            resp.workflow_execution = Some(WorkflowExecution::default());
            resp.activity_run_id = t.run.run_id.clone();
        }
        Ok(resp)
    }

    /// Resolves a ById request to the run and the activity's scheduled event id.
    async fn activity_by_id(
        &self,
        namespace: &str,
        workflow_id: &str,
        run_id: &str,
        activity_id: &str,
    ) -> ApiResult<(RunKey, i64)> {
        let ns = self.namespaces.by_name(namespace).await?;
        check_id(activity_id, "ActivityId")?;
        if workflow_id.is_empty() && !run_id.is_empty() && uuid::Uuid::parse_str(run_id).is_err() {
            return Err(ApiError::InvalidArgument("RunId is not valid UUID.".into()));
        }
        check_run_id(run_id)?;
        // No workflow id: a standalone activity, named by its own id.
        let standalone;
        let workflow_id = if workflow_id.is_empty() {
            standalone = endure_core::standalone::workflow_id_of(activity_id);
            standalone.as_str()
        } else {
            workflow_id
        };
        check_id(workflow_id, "WorkflowId")?;
        let key = self
            .engine
            .resolve_run(&ns.id, workflow_id, run_id)
            .await
            .map_err(|e| standalone_error(workflow_id, e))?;
        let ms = self.engine.load(&key).await.map_err(|e| standalone_error(workflow_id, e))?.ms;
        if ms.standalone.is_some() && !ms.is_open() {
            let status = endure_core::standalone::StandaloneActivity::status(ms.status);
            return Err(ApiError::FailedPrecondition(format!(
                "invalid transition from {}",
                endure_core::standalone::status_name(status)
            )));
        }
        let scheduled_event_id = ms.activity_by_id(activity_id)?.scheduled_event_id;
        Ok((key, scheduled_event_id))
    }

    pub(crate) async fn record_activity_task_heartbeat(
        &self,
        r: Request<ws::RecordActivityTaskHeartbeatRequest>,
    ) -> ApiResult<ws::RecordActivityTaskHeartbeatResponse> {
        let r = r.into_inner();
        check_blob(&r.details, self.engine.limits())?;
        let (t, key) = self.token(&r.task_token, TokenKind::Activity)?;
        let answer = self
            .engine
            .update(&key, None, |x| {
                x.heartbeat_activity(t.scheduled_event_id, Some(t.attempt), r.details.clone())
            })
            .await
            .map_err(|e| standalone_error(&key.workflow_id, e))?;
        Ok(ws::RecordActivityTaskHeartbeatResponse {
            cancel_requested: answer.cancel_requested,
            activity_paused: answer.paused,
            activity_reset: answer.reset,
        })
    }

    pub(crate) async fn record_activity_task_heartbeat_by_id(
        &self,
        r: Request<ws::RecordActivityTaskHeartbeatByIdRequest>,
    ) -> ApiResult<ws::RecordActivityTaskHeartbeatByIdResponse> {
        let r = r.into_inner();
        check_blob(&r.details, self.engine.limits())?;
        let (key, sched) =
            self.activity_by_id(&r.namespace, &r.workflow_id, &r.run_id, &r.activity_id).await?;
        let answer = self
            .engine
            .update(&key, None, |x| x.heartbeat_activity(sched, None, r.details.clone()))
            .await
            .map_err(|e| standalone_error(&key.workflow_id, e))?;
        Ok(ws::RecordActivityTaskHeartbeatByIdResponse {
            cancel_requested: answer.cancel_requested,
            activity_paused: answer.paused,
            activity_reset: answer.reset,
        })
    }

    async fn complete_activity(
        &self,
        key: RunKey,
        sched: i64,
        attempt: Option<i32>,
        result: Option<Payloads>,
        identity: &str,
    ) -> ApiResult<()> {
        if check_blob(&result, self.engine.limits()).is_err() {
            // As the real server: an oversized result fails the activity, without retries.
            let failure = endure_api::temporal::api::failure::v1::Failure {
                message: "Complete result exceeds size limit.".into(),
                failure_info: Some(
                    endure_api::temporal::api::failure::v1::failure::FailureInfo::ServerFailureInfo(
                        endure_api::temporal::api::failure::v1::ServerFailureInfo { non_retryable: true },
                    ),
                ),
                ..Default::default()
            };
            return self
                .engine
                .update(&key, None, |x| x.fail_activity(sched, attempt, failure, None, identity))
                .await;
        }
        self.engine
            .update(&key, None, |x| x.complete_activity(sched, attempt, result, identity))
            .await
            .map_err(|e| standalone_error(&key.workflow_id, e))
    }

    pub(crate) async fn respond_activity_task_completed(
        &self,
        r: Request<ws::RespondActivityTaskCompletedRequest>,
    ) -> ApiResult<ws::RespondActivityTaskCompletedResponse> {
        let r = r.into_inner();
        let (t, key) = self.token(&r.task_token, TokenKind::Activity)?;
        self.complete_activity(key, t.scheduled_event_id, Some(t.attempt), r.result, &r.identity).await?;
        Ok(ws::RespondActivityTaskCompletedResponse::default())
    }

    pub(crate) async fn respond_activity_task_completed_by_id(
        &self,
        r: Request<ws::RespondActivityTaskCompletedByIdRequest>,
    ) -> ApiResult<ws::RespondActivityTaskCompletedByIdResponse> {
        let r = r.into_inner();
        let (key, sched) =
            self.activity_by_id(&r.namespace, &r.workflow_id, &r.run_id, &r.activity_id).await?;
        self.complete_activity(key, sched, None, r.result, &r.identity).await?;
        Ok(ws::RespondActivityTaskCompletedByIdResponse::default())
    }

    async fn fail_activity(
        &self,
        key: RunKey,
        sched: i64,
        attempt: Option<i32>,
        failure: Option<endure_api::temporal::api::failure::v1::Failure>,
        details: Option<Payloads>,
        identity: &str,
    ) -> ApiResult<()> {
        let failure =
            failure.ok_or_else(|| ApiError::InvalidArgument("Failure is not set on request.".into()))?;
        check_blob(&details, self.engine.limits())?;
        self.engine
            .update(&key, None, |x| x.fail_activity(sched, attempt, failure, details, identity))
            .await
            .map_err(|e| standalone_error(&key.workflow_id, e))
    }

    pub(crate) async fn respond_activity_task_failed(
        &self,
        r: Request<ws::RespondActivityTaskFailedRequest>,
    ) -> ApiResult<ws::RespondActivityTaskFailedResponse> {
        let r = r.into_inner();
        let (t, key) = self.token(&r.task_token, TokenKind::Activity)?;
        let application = r.failure.as_ref().is_some_and(|f| {
            matches!(
                f.failure_info,
                Some(endure_api::temporal::api::failure::v1::failure::FailureInfo::ApplicationFailureInfo(_))
            )
        });
        if endure_core::standalone::activity_id_of(&key.workflow_id).is_some() && !application {
            return Err(ApiError::InvalidArgument("Failure must have ApplicationFailureInfo.".into()));
        }
        self.fail_activity(
            key,
            t.scheduled_event_id,
            Some(t.attempt),
            r.failure,
            r.last_heartbeat_details,
            &r.identity,
        )
        .await?;
        Ok(ws::RespondActivityTaskFailedResponse::default())
    }

    pub(crate) async fn respond_activity_task_failed_by_id(
        &self,
        r: Request<ws::RespondActivityTaskFailedByIdRequest>,
    ) -> ApiResult<ws::RespondActivityTaskFailedByIdResponse> {
        let r = r.into_inner();
        let (key, sched) =
            self.activity_by_id(&r.namespace, &r.workflow_id, &r.run_id, &r.activity_id).await?;
        self.fail_activity(key, sched, None, r.failure, r.last_heartbeat_details, &r.identity).await?;
        Ok(ws::RespondActivityTaskFailedByIdResponse::default())
    }

    pub(crate) async fn respond_activity_task_canceled(
        &self,
        r: Request<ws::RespondActivityTaskCanceledRequest>,
    ) -> ApiResult<ws::RespondActivityTaskCanceledResponse> {
        let r = r.into_inner();
        check_blob(&r.details, self.engine.limits())?;
        let (t, key) = self.token(&r.task_token, TokenKind::Activity)?;
        self.engine
            .update(&key, None, |x| {
                x.cancel_activity(t.scheduled_event_id, Some(t.attempt), r.details.clone(), &r.identity)
            })
            .await
            .map_err(|e| standalone_error(&key.workflow_id, e))?;
        Ok(ws::RespondActivityTaskCanceledResponse::default())
    }

    pub(crate) async fn respond_activity_task_canceled_by_id(
        &self,
        r: Request<ws::RespondActivityTaskCanceledByIdRequest>,
    ) -> ApiResult<ws::RespondActivityTaskCanceledByIdResponse> {
        let r = r.into_inner();
        check_blob(&r.details, self.engine.limits())?;
        let (key, sched) =
            self.activity_by_id(&r.namespace, &r.workflow_id, &r.run_id, &r.activity_id).await?;
        self.engine
            .update(&key, None, |x| x.cancel_activity(sched, None, r.details.clone(), &r.identity))
            .await
            .map_err(|e| standalone_error(&key.workflow_id, e))?;
        Ok(ws::RespondActivityTaskCanceledByIdResponse::default())
    }

    pub(crate) async fn reset_sticky_task_queue(
        &self,
        r: Request<ws::ResetStickyTaskQueueRequest>,
    ) -> ApiResult<ws::ResetStickyTaskQueueResponse> {
        let r = r.into_inner();
        let ns = self.namespaces.by_name(&r.namespace).await?;
        let e = r
            .execution
            .ok_or_else(|| ApiError::InvalidArgument("Execution is not set on request.".into()))?;
        check_id(&e.workflow_id, "WorkflowId")?;
        let key = self.engine.resolve_run(&ns.id, &e.workflow_id, &e.run_id).await?;
        self.engine.update(&key, None, |x| x.reset_sticky()).await?;
        Ok(ws::ResetStickyTaskQueueResponse {})
    }

    pub(crate) async fn shutdown_worker(
        &self,
        r: Request<ws::ShutdownWorkerRequest>,
    ) -> ApiResult<ws::ShutdownWorkerResponse> {
        let r = r.into_inner();
        let ns = self.namespaces.by_name(&r.namespace).await?;
        if !r.sticky_task_queue.is_empty() {
            // The worker's cache is going away: move its waiting sticky tasks to normal queues now
            // instead of letting each wait out its schedule-to-start timeout.
            for d in self.matching.drain(&ns.id, &r.sticky_task_queue, QueueKind::Workflow) {
                if let Dispatch::Task(t) = d {
                    // A workflow held by another replica falls back when its sticky
                    // schedule-to-start timeout fires there.
                    if self.engine.owns_run(&t.run) {
                        let _ = self.engine.update(&t.run, Some(t.task_id), |x| x.reset_sticky()).await;
                    }
                }
            }
        }
        // A stopping SDK worker's last heartbeat (status SHUTTING_DOWN) rides on this call; it
        // is recorded as any other. Without one the registry is left alone, even when the
        // request names the worker.
        if let Some(hb) = r.worker_heartbeat {
            self.record_worker_heartbeats(&ns, &r.identity, vec![hb]).await?;
        }
        Ok(ws::ShutdownWorkerResponse {})
    }

    pub(crate) async fn list_task_queue_partitions(
        &self,
        r: Request<ws::ListTaskQueuePartitionsRequest>,
    ) -> ApiResult<ws::ListTaskQueuePartitionsResponse> {
        let r = r.into_inner();
        self.namespaces.by_name(&r.namespace).await?;
        let queue = queue_name(&r.task_queue)?;
        // One partition per queue, owned by this process.
        let part = endure_api::temporal::api::taskqueue::v1::TaskQueuePartitionMetadata {
            key: queue,
            owner_host_name: "endure".into(),
        };
        Ok(ws::ListTaskQueuePartitionsResponse {
            activity_task_queue_partitions: vec![part.clone()],
            workflow_task_queue_partitions: vec![part],
        })
    }

    pub(crate) async fn describe_task_queue(
        &self,
        r: Request<ws::DescribeTaskQueueRequest>,
    ) -> ApiResult<ws::DescribeTaskQueueResponse> {
        let r = r.into_inner();
        let ns = self.namespaces.by_name(&r.namespace).await?;
        let queue = queue_name(&r.task_queue)?;
        #[allow(deprecated)] // the enhanced mode is deprecated in the API; the CLI still asks for it
        if r.api_mode == DescribeTaskQueueMode::Enhanced as i32 {
            return Ok(self.describe_task_queue_enhanced(&ns, &queue, &r));
        }
        let kind = if r.task_queue_type == TaskQueueType::Activity as i32 {
            QueueKind::Activity
        } else {
            QueueKind::Workflow
        };
        let mut pollers = self.queue_pollers(&ns.id, &queue, kind);
        let versions = self.engine.router().versions().clone();
        let route = versions.route(&ns.id, &queue);
        if let Some(route) = &route {
            // Versioned workers poll their version's queue: they are this queue's pollers too.
            for build in versions.builds(&ns.id, &queue, kind) {
                let v = endure_core::deployment::Version::new(&route.deployment, &build);
                for mut p in self.queue_pollers(&ns.id, &crate::versioning::physical(&queue, Some(&v)), kind)
                {
                    #[allow(deprecated)]
                    {
                        p.worker_version_capabilities =
                            Some(endure_api::temporal::api::common::v1::WorkerVersionCapabilities {
                                build_id: build.clone(),
                                ..Default::default()
                            });
                    }
                    p.deployment_options =
                        Some(endure_api::temporal::api::deployment::v1::WorkerDeploymentOptions {
                            deployment_name: route.deployment.clone(),
                            build_id: build.clone(),
                            worker_versioning_mode:
                                endure_api::temporal::api::enums::v1::WorkerVersioningMode::Versioned as i32,
                        });
                    pollers.push(p);
                }
            }
        }
        Ok(ws::DescribeTaskQueueResponse {
            pollers,
            stats: r.report_stats.then(|| self.queue_stats(&ns.id, &queue, kind)),
            // A queue no deployment routes is reported unversioned since Go's zero time, as the
            // real server reports it.
            versioning_info: Some(route.map_or_else(unversioned_queue, |r| task_queue_versioning(&r))),
            ..Default::default()
        })
    }

    /// A queue's backlog: its count and the age of its longest-waiting task. (The add and
    /// dispatch rates the real server also reports are not measured: zero.)
    fn queue_stats(&self, namespace_id: &str, queue: &str, kind: QueueKind) -> TaskQueueStats {
        TaskQueueStats {
            approximate_backlog_count: self.matching.backlog(namespace_id, queue, kind) as i64,
            approximate_backlog_age: Some(
                prost_wkt_types::Duration::try_from(self.matching.backlog_age(namespace_id, queue, kind))
                    .unwrap_or_default(),
            ),
            ..Default::default()
        }
    }

    /// The queue's pollers, as Describe shows them.
    fn queue_pollers(&self, namespace_id: &str, queue: &str, kind: QueueKind) -> Vec<PollerInfo> {
        self.matching
            .pollers(namespace_id, queue, kind)
            .into_iter()
            .map(|p| PollerInfo {
                last_access_time: Some(prost_wkt_types::Timestamp::from(p.last_access)),
                identity: p.identity,
                rate_per_second: 0.0,
                ..Default::default()
            })
            .collect()
    }

    /// DescribeTaskQueue in its enhanced mode (what `temporal task-queue describe` asks): per
    /// build id (Endure knows only unversioned workers: the "" entry) and per task queue type
    /// (workflow and activity unless the request names types), the pollers and stats asked for.
    #[allow(deprecated)] // the enhanced mode's fields are deprecated in the API
    fn describe_task_queue_enhanced(
        &self,
        ns: &Namespace,
        queue: &str,
        r: &ws::DescribeTaskQueueRequest,
    ) -> ws::DescribeTaskQueueResponse {
        use endure_api::temporal::api::taskqueue::v1::{TaskQueueTypeInfo, TaskQueueVersionInfo};
        let types = if r.task_queue_types.is_empty() {
            vec![TaskQueueType::Workflow as i32, TaskQueueType::Activity as i32]
        } else {
            r.task_queue_types.clone()
        };
        let types_info = types
            .into_iter()
            .filter_map(|ty| {
                let kind = match TaskQueueType::try_from(ty) {
                    Ok(TaskQueueType::Workflow) => QueueKind::Workflow,
                    Ok(TaskQueueType::Activity) => QueueKind::Activity,
                    _ => return None,
                };
                let info = TaskQueueTypeInfo {
                    pollers: if r.report_pollers { self.queue_pollers(&ns.id, queue, kind) } else { vec![] },
                    stats: r.report_stats.then(|| self.queue_stats(&ns.id, queue, kind)),
                };
                Some((ty, info))
            })
            .collect();
        let version = TaskQueueVersionInfo { types_info, ..Default::default() };
        ws::DescribeTaskQueueResponse {
            versions_info: [(String::new(), version)].into_iter().collect(),
            ..Default::default()
        }
    }
}

/// The worker's view of a started activity attempt.
fn activity_response(
    ns: &Namespace,
    run: &RunKey,
    a: endure_core::ActivityInfo,
    ty: Option<endure_api::temporal::api::common::v1::WorkflowType>,
) -> ws::PollActivityTaskQueueResponse {
    let token = TaskToken {
        kind: TokenKind::Activity,
        namespace_id: ns.id.clone(),
        workflow_id: run.workflow_id.clone(),
        run_id: run.run_id.clone(),
        scheduled_event_id: a.scheduled_event_id,
        attempt: a.attempt,
        stamp: 0,
        activity_id: a.activity_id.clone(),
        query_id: String::new(),
    };
    let [s2c, stc, hb] = a.scheduled_timeouts.unwrap_or([
        a.schedule_to_close_timeout,
        a.start_to_close_timeout,
        a.heartbeat_timeout,
    ]);
    ws::PollActivityTaskQueueResponse {
        task_token: token.encode(),
        workflow_namespace: ns.name.clone(),
        workflow_type: ty,
        workflow_execution: Some(WorkflowExecution {
            workflow_id: run.workflow_id.clone(),
            run_id: run.run_id.clone(),
        }),
        activity_type: a.activity_type,
        activity_id: a.activity_id,
        header: a.header,
        input: a.input,
        heartbeat_details: a.heartbeat_details,
        scheduled_time: Some(to_timestamp(a.first_scheduled_time)),
        current_attempt_scheduled_time: Some(to_timestamp(a.scheduled_time)),
        started_time: Some(to_timestamp(a.started_time)),
        attempt: a.attempt,
        // Unset timeouts as explicit zeros, as the real server sends them (SDKs read them); as
        // scheduled, even after an operator changed them (the real server shows those too).
        schedule_to_close_timeout: Some(to_duration(s2c)),
        start_to_close_timeout: Some(to_duration(stc)),
        heartbeat_timeout: Some(to_duration(hb)),
        retry_policy: a.retry_policy,
        ..Default::default()
    }
}

/// The worker behind a poll: its identity and build id (from its deployment options, or the
/// older version capabilities).
#[allow(deprecated)] // worker_version_capabilities: deprecated, still sent by SDKs
fn polling_worker(
    identity: &str,
    deployment: Option<&endure_api::temporal::api::deployment::v1::WorkerDeploymentOptions>,
    capabilities: Option<&endure_api::temporal::api::common::v1::WorkerVersionCapabilities>,
) -> Poller {
    let build_id = deployment
        .map(|d| d.build_id.clone())
        .filter(|b| !b.is_empty())
        .or_else(|| capabilities.map(|c| c.build_id.clone()))
        .unwrap_or_default();
    Poller { identity: identity.to_owned(), build_id, ..Default::default() }
}

/// An error about a standalone activity's run as the real server words it (a run gone, or an
/// attempt no longer current: `activity not found for ID`).
fn standalone_error(workflow_id: &str, e: ApiError) -> ApiError {
    match (endure_core::standalone::activity_id_of(workflow_id), e) {
        (Some(id), ApiError::NotFound(_)) => ApiError::NotFound(format!("activity not found for ID: {id}")),
        (_, e) => e,
    }
}

/// A queue no deployment routes, as DescribeTaskQueue shows it.
#[allow(deprecated)]
fn unversioned_queue() -> endure_api::temporal::api::taskqueue::v1::TaskQueueVersioningInfo {
    /// 0001-01-01T00:00:00Z, Go's zero `time.Time`, in seconds since the Unix epoch.
    const GO_ZERO_TIME: i64 = -62_135_596_800;
    endure_api::temporal::api::taskqueue::v1::TaskQueueVersioningInfo {
        current_version: endure_core::deployment::UNVERSIONED.to_owned(),
        update_time: Some(prost_wkt_types::Timestamp { seconds: GO_ZERO_TIME, nanos: 0 }),
        ..Default::default()
    }
}

/// A task queue's routing as DescribeTaskQueue shows it.
#[allow(deprecated)]
fn task_queue_versioning(
    r: &endure_core::deployment::Route,
) -> endure_api::temporal::api::taskqueue::v1::TaskQueueVersioningInfo {
    use endure_core::deployment::{UNVERSIONED, Version};
    let ramping =
        r.ramp_set.then(|| Version::new(&r.deployment, &r.ramping)).filter(|v| !v.build_id.is_empty());
    let current = Some(Version::new(&r.deployment, &r.current)).filter(|v| !v.build_id.is_empty());
    endure_api::temporal::api::taskqueue::v1::TaskQueueVersioningInfo {
        current_version: current.as_ref().map_or(UNVERSIONED.to_owned(), |v| v.dotted()),
        current_deployment_version: current.as_ref().map(|v| v.wire()),
        ramping_version: ramping.as_ref().map(|v| v.dotted()).unwrap_or_default(),
        ramping_deployment_version: ramping.as_ref().map(|v| v.wire()),
        ramping_version_percentage: if r.ramp_set { r.percentage } else { 0.0 },
        update_time: Some(Default::default()),
    }
}

/// The version a versioned worker polls or completes as (`None` for an unversioned worker),
/// checked as the real server checks it.
pub(super) fn versioned_worker(
    options: Option<&endure_api::temporal::api::deployment::v1::WorkerDeploymentOptions>,
) -> ApiResult<Option<endure_core::deployment::Version>> {
    use endure_api::temporal::api::enums::v1::WorkerVersioningMode;
    let Some(o) = options else { return Ok(None) };
    if o.worker_versioning_mode != WorkerVersioningMode::Versioned as i32 {
        return Ok(None);
    }
    if o.deployment_name.is_empty() != o.build_id.is_empty() || o.deployment_name.is_empty() {
        return Err(ApiError::InvalidArgument("Deployment name and build id must be set together.".into()));
    }
    if o.deployment_name.contains('.') {
        return Err(ApiError::InvalidArgument("worker deployment name cannot contain '.'".into()));
    }
    if o.build_id.starts_with("__") {
        return Err(ApiError::InvalidArgument("BuildID cannot start with '__'".into()));
    }
    Ok(Some(endure_core::deployment::Version::new(&o.deployment_name, &o.build_id)))
}

/// The build id of the worker completing a workflow task (deployment options, or the older
/// version stamp, or the binary checksum).
#[allow(deprecated)] // worker_version_stamp: deprecated, still sent by SDKs
fn completing_build_id(r: &ws::RespondWorkflowTaskCompletedRequest) -> String {
    r.deployment_options
        .as_ref()
        .map(|d| d.build_id.clone())
        .filter(|b| !b.is_empty())
        .or_else(|| r.worker_version_stamp.as_ref().map(|s| s.build_id.clone()))
        .filter(|b| !b.is_empty())
        // Workers without versioning send their build id as the binary checksum.
        .unwrap_or_else(|| r.binary_checksum.clone())
}
