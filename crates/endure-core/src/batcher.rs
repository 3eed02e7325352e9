//! A batch job's transitions: created with its first step, the page of targets it lists, each
//! item it works, the step that hands over to the next, and its end (completed, failed, or
//! stopped).
//!
//! This module does not list targets or apply operations (the server does, through the same
//! handlers as the RPCs) and reads no clock: it keeps the checkpoint those steps commit.

use crate::api::common::v1::{Memo, Payload, WorkflowType};
use crate::api::enums::v1::WorkflowExecutionStatus as Status;
use crate::api::failure::v1::Failure;
use crate::api::history::v1::{self as h, HistoryEvent, history_event::Attributes};
use crate::api::workflowservice::v1::StartBatchOperationRequest;
use crate::batch::{BatchState, Target, WORKFLOW_TYPE, memo_name};
use crate::error::CoreError;
use crate::state::MutableState;
use crate::task::Task;
use crate::time::Nanos;
use crate::transition::Txn;

/// A fresh batch job.
#[derive(Debug, Clone, Default)]
pub struct NewBatch {
    /// Namespace id.
    pub namespace_id: String,
    /// Job id (its system run's workflow id).
    pub job_id: String,
    /// Run id of its system run.
    pub run_id: String,
    /// The request (validated).
    pub request: StartBatchOperationRequest,
    /// Items expected.
    pub total: i64,
    /// Operations per second.
    pub rps: f64,
    /// The targets, when the request lists them (all on one page); else the query lists them.
    pub executions: Option<Vec<Target>>,
}

fn json(value: &serde_json::Value) -> Payload {
    Payload {
        metadata: [("encoding".to_owned(), b"json/plain".to_vec())].into_iter().collect(),
        data: serde_json::to_vec(value).unwrap_or_default(),
        ..Default::default()
    }
}

/// Makes a batch job's system run (its started event, its memo as the real server's shows a
/// job: operation, reason, and query or executions) and its first step.
pub fn new_batch(b: NewBatch, now: Nanos) -> (MutableState, Vec<HistoryEvent>, Vec<Task>) {
    let mut memo = Memo::default();
    let op = b.request.operation.as_ref().map_or("", memo_name);
    memo.fields.insert("batch_operation_type".into(), json(&op.into()));
    memo.fields.insert("batch_operation_reason".into(), json(&b.request.reason.clone().into()));
    match &b.executions {
        Some(list) => {
            let list: Vec<serde_json::Value> = list
                .iter()
                .map(|t| {
                    let mut e = serde_json::json!({"type": 1, "business_id": t.workflow_id});
                    if !t.run_id.is_empty() {
                        e["run_id"] = t.run_id.clone().into();
                    }
                    e
                })
                .collect();
            memo.fields.insert("batch_operation_executions".into(), json(&list.into()));
        }
        None => {
            memo.fields.insert(
                "batch_operation_visibility_query".into(),
                json(&b.request.visibility_query.clone().into()),
            );
        }
    }
    let (page, listed_all) = match b.executions {
        Some(list) => (list, true),
        None => (vec![], false),
    };
    let identity = b.request.operation.as_ref().map_or("", crate::batch::identity).to_owned();
    let mut ms = MutableState {
        namespace_id: b.namespace_id,
        workflow_id: b.job_id,
        run_id: b.run_id.clone(),
        first_execution_run_id: b.run_id,
        workflow_type: Some(WorkflowType { name: WORKFLOW_TYPE.into() }),
        task_queue: crate::schedule::TASK_QUEUE.into(),
        status: Status::Running as i32,
        start_time: now,
        execution_time: now,
        next_event_id: 1,
        memo: Some(memo),
        batch: Some(Box::new(BatchState {
            request: Some(b.request),
            total: b.total,
            page,
            listed_all,
            rps: b.rps,
            ..Default::default()
        })),
        ..Default::default()
    };
    let mut txn = Txn::new(&mut ms, now);
    let run_id = txn.ms.run_id.clone();
    txn.append(Attributes::WorkflowExecutionStartedEventAttributes(
        h::WorkflowExecutionStartedEventAttributes {
            workflow_type: txn.ms.workflow_type.clone(),
            task_queue: Some(crate::transition::normal_queue(crate::schedule::TASK_QUEUE)),
            memo: txn.ms.memo.clone(),
            identity,
            original_execution_run_id: run_id.clone(),
            first_execution_run_id: run_id,
            attempt: 1,
            workflow_task_timeout: Some(crate::time::to_duration(10_000_000_000)),
            ..Default::default()
        },
    ));
    let events = std::mem::take(&mut txn.events);
    drop(txn);
    (ms, events, vec![Task::BatchStep { fire_at: now }])
}

impl Txn<'_> {
    fn batch(&mut self) -> Result<&mut BatchState, CoreError> {
        self.require_open()?;
        self.ms.batch.as_deref_mut().ok_or_else(|| CoreError::NotFound("not a batch job".into()))
    }

    /// The next page of targets was listed (`next_page_token` empty: it is the last).
    pub fn batch_page(&mut self, page: Vec<Target>, next_page_token: Vec<u8>) -> Result<(), CoreError> {
        let b = self.batch()?;
        if b.listed_all || b.index < b.page.len() {
            return Err(CoreError::NotFound("a batch page listed twice".into()));
        }
        b.listed_all = next_page_token.is_empty();
        b.next_page_token = next_page_token;
        b.page = page;
        b.index = 0;
        Ok(())
    }

    /// Item `index` of the current page was worked (`ok`: done, else failed).
    pub fn batch_item_done(&mut self, index: usize, ok: bool) -> Result<(), CoreError> {
        let b = self.batch()?;
        if b.index != index {
            return Err(CoreError::NotFound("a batch item already recorded".into()));
        }
        b.index += 1;
        if ok {
            b.succeeded += 1;
        } else {
            b.failed += 1;
        }
        Ok(())
    }

    /// A step ends: the job completes if every target was worked, else the next step is due now.
    pub fn batch_continue(&mut self) -> Result<(), CoreError> {
        let now = self.now;
        if self.batch()?.finished() {
            let id = self.append(Attributes::WorkflowExecutionCompletedEventAttributes(Default::default()));
            self.close(Status::Completed, id);
        } else {
            self.tasks.push(Task::BatchStep { fire_at: now });
        }
        Ok(())
    }

    /// The job cannot go on (its query is invalid): it fails.
    pub fn batch_fail(&mut self, message: &str) -> Result<(), CoreError> {
        self.batch()?.failure = message.to_owned();
        let failure = Failure { message: message.to_owned(), ..Default::default() };
        let id = self.append(Attributes::WorkflowExecutionFailedEventAttributes(
            h::WorkflowExecutionFailedEventAttributes { failure: Some(failure), ..Default::default() },
        ));
        self.close(Status::Failed, id);
        Ok(())
    }

    /// StopBatchOperation: the job ends where it is, its run terminated with the stop's reason
    /// and identity (reported as failed, as on the real server).
    pub fn batch_stop(&mut self, reason: &str, identity: &str) -> Result<(), CoreError> {
        self.batch()?;
        self.terminate(reason, None, identity)
    }
}
