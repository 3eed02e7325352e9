//! The scheduler's state machine: which actions a schedule takes, when, and what it remembers.
//!
//! Every transition ends in [`Txn::advance_schedule`]: nominal times up to now are taken from
//! the spec (those older than the catch-up window are counted as missed), the buffer is
//! resolved against the overlap policy (start, skip, keep, or cancel/terminate what runs), and
//! the wake-up timer is set to the next action time. Starting a workflow and stopping one are
//! outbox tasks ([`Task::ScheduleStart`], [`Task::ScheduleStopRun`]) that the server runs on the
//! target's owner and reports back ([`Txn::schedule_start_recorded`]); a started run's close
//! comes back as [`Txn::schedule_workflow_closed`].
//!
//! This module does not start workflows, choose request ids' transport, or read the clock: the
//! server does, and passes the time in. It knows the real server's rules (overlap policies,
//! catch-up window default and minimum, buffer limit, recent and future action counts, pause
//! on failure, remaining actions) so the server only has to carry them out.

use crate::api::common::v1::{Memo, SearchAttributes, WorkflowType};
use crate::api::enums::v1::{ScheduleOverlapPolicy as Overlap, WorkflowExecutionStatus as Status};
use crate::api::history::v1::HistoryEvent;
use crate::api::schedule::v1::{Schedule, SchedulePatch};
use crate::error::CoreError;
use crate::schedule::spec::CompiledSpec;
use crate::schedule::*;
use crate::state::MutableState;
use crate::task::Task;
use crate::time::{self, Nanos};
use crate::transition::Txn;

/// A fresh schedule.
#[derive(Debug, Clone, Default)]
pub struct NewSchedule {
    /// Namespace id.
    pub namespace_id: String,
    /// Schedule id.
    pub schedule_id: String,
    /// Run id of its system run.
    pub run_id: String,
    /// The schedule as the request gives it.
    pub schedule: Schedule,
    /// Its memo.
    pub memo: Option<Memo>,
    /// Its custom search attributes.
    pub search_attributes: Option<SearchAttributes>,
    /// The creator's request id (a repeated create is recognised by it).
    pub request_id: String,
    /// A patch applied at creation (trigger, backfill).
    pub initial_patch: Option<SchedulePatch>,
}

/// Makes a schedule's system run; its tasks (the first wake-up, starts a creation-time patch
/// asks for) are returned to be committed with it.
pub fn new_schedule(s: NewSchedule, now: Nanos) -> Result<(MutableState, Vec<Task>), CoreError> {
    let schedule = canonical_schedule(s.schedule)?;
    let spec = compile(&schedule)?;
    let mut ms = MutableState {
        namespace_id: s.namespace_id.clone(),
        workflow_id: workflow_id_of(&s.schedule_id),
        run_id: s.run_id.clone(),
        first_execution_run_id: s.run_id.clone(),
        workflow_type: Some(WorkflowType { name: WORKFLOW_TYPE.into() }),
        task_queue: TASK_QUEUE.into(),
        status: Status::Running as i32,
        start_time: now,
        execution_time: now,
        start_request_id: s.request_id.clone(),
        next_event_id: 1,
        memo: s.memo,
        search_attributes: s.search_attributes.filter(|sa| !sa.indexed_fields.is_empty()),
        ..Default::default()
    };
    ms.scheduler = Some(Box::new(SchedulerState {
        schedule_id: s.schedule_id.clone(),
        jitter_seed: format!("{}-{}", s.namespace_id, s.schedule_id),
        schedule: Some(schedule),
        conflict_token: 1,
        create_time: now,
        last_processed: now,
        ..Default::default()
    }));
    let tasks = {
        let mut txn = Txn::new(&mut ms, now);
        if let Some(p) = &s.initial_patch {
            txn.patch_with(p, &spec)?;
        }
        txn.advance_with(&spec);
        std::mem::take(&mut txn.tasks)
    };
    Ok((ms, tasks))
}

impl Txn<'_> {
    fn scheduler(&mut self) -> Result<&mut SchedulerState, CoreError> {
        self.require_open()?;
        self.ms.scheduler.as_deref_mut().ok_or_else(|| CoreError::NotFound("not a schedule".into()))
    }

    fn spec(&mut self) -> Result<CompiledSpec, CoreError> {
        let s = self.scheduler()?;
        compile(s.schedule.as_ref().unwrap_or(&Default::default()))
    }

    /// The wake-up timer set for `fire_at` fired. A timer the schedule no longer waits for
    /// (the schedule changed since) is stale.
    pub fn schedule_wake(&mut self, fire_at: Nanos) -> Result<(), CoreError> {
        let s = self.scheduler()?;
        if s.wake_at != fire_at {
            return Err(CoreError::NotFound("a schedule wake-up timer no longer waited for".into()));
        }
        s.wake_at = 0;
        self.advance_schedule()
    }

    /// Takes what is due now and sets the next wake-up (every transition ends with it).
    pub fn advance_schedule(&mut self) -> Result<(), CoreError> {
        let spec = self.spec()?;
        self.advance_with(&spec);
        Ok(())
    }

    fn advance_with(&mut self, spec: &CompiledSpec) {
        let now = self.now;
        let Some(s) = self.ms.scheduler.as_deref_mut() else { return };
        let from = s.last_processed;
        if now > from {
            take_times(s, spec, from, now, false, 0);
            s.last_processed = now;
        }
        self.process_buffer();
        let Some(s) = self.ms.scheduler.as_deref_mut() else { return };
        let next = spec.next(&s.jitter_seed, s.last_processed).map(|(_, actual)| actual);
        match next {
            Some(at) if at != s.wake_at => {
                s.wake_at = at;
                self.tasks.push(Task::ScheduleWake { fire_at: at });
            }
            Some(_) => {}
            None => s.wake_at = 0,
        }
    }

    /// Resolves the buffer against the overlap policy: starts what may start, skips or keeps
    /// the rest, and cancels or terminates running workflows when a kept start asks for it.
    fn process_buffer(&mut self) {
        let now = self.now;
        // A start's request id names this schedule's run, so a schedule deleted and made again
        // under the same id never finds its predecessor's starts.
        let run_id = self.ms.run_id.clone();
        let Some(s) = self.ms.scheduler.as_deref_mut() else { return };
        let running = !s.running.is_empty() || s.starts.values().any(|p| p.tracked);
        let (mut keep, mut go) = (vec![], vec![]);
        let (mut seen, mut cancel, mut terminate) = (false, false, false);
        for b in std::mem::take(&mut s.buffer) {
            let policy = s.resolve(b.overlap);
            if policy == Overlap::AllowAll {
                go.push(b);
                continue;
            }
            if !running && !seen {
                seen = true;
                go.push(b);
                continue;
            }
            match policy {
                Overlap::BufferOne => {
                    if keep.iter().any(|k: &BufferedStart| s.resolve(k.overlap) == Overlap::BufferOne) {
                        s.overlap_skipped += 1;
                    } else {
                        keep.push(b);
                    }
                }
                Overlap::BufferAll => keep.push(b),
                Overlap::CancelOther => {
                    cancel = true;
                    keep.push(b);
                }
                Overlap::TerminateOther => {
                    terminate = true;
                    keep.push(b);
                }
                _ => s.overlap_skipped += 1,
            }
        }
        s.buffer = keep;
        let can_start = s.start_workflow_info().is_some();
        for b in go {
            if !can_start || !s.take_action(b.manual) {
                continue;
            }
            let tracked = s.resolve(b.overlap) != Overlap::AllowAll;
            let seq = s.next_seq;
            s.next_seq += 1;
            let workflow_id = s.workflow_id_for(b.nominal);
            let request_id = format!("schedule-{run_id}-{seq}-{}", b.nominal);
            s.starts
                .insert(seq, PendingStart { start: b, tracked, workflow_id, request_id, closed_early: None });
            self.tasks.push(Task::ScheduleStart { fire_at: now, seq });
        }
        if terminate || cancel {
            let Some(s) = self.ms.scheduler.as_deref_mut() else { return };
            for r in s.running.iter_mut().filter(|r| !r.stop_sent) {
                r.stop_sent = true;
                self.tasks.push(Task::ScheduleStopRun {
                    fire_at: now,
                    workflow_id: r.workflow_id.clone(),
                    run_id: r.run_id.clone(),
                    terminate,
                });
            }
        }
    }

    /// The server tried start `seq`: records the run it made (or that it made none) and
    /// takes the next buffered start if one may go now.
    pub fn schedule_start_recorded(&mut self, seq: i64, outcome: StartOutcome) -> Result<(), CoreError> {
        let now = self.now;
        let s = self.scheduler()?;
        let Some(p) = s.starts.remove(&seq) else {
            return Err(CoreError::NotFound("a schedule start already recorded".into()));
        };
        if let StartOutcome::Started(run_id) = outcome {
            s.action_count += 1;
            let action = RecentAction {
                schedule_time: p.start.actual,
                actual_time: now,
                workflow_id: p.workflow_id.clone(),
                run_id: run_id.clone(),
                status: Status::Running as i32,
                seq,
            };
            let at = s.recent_actions.iter().rposition(|a| a.seq < seq).map_or(0, |i| i + 1);
            s.recent_actions.insert(at, action);
            if s.recent_actions.len() > RECENT_ACTIONS {
                let extra = s.recent_actions.len() - RECENT_ACTIONS;
                s.recent_actions.drain(..extra);
            }
            if p.tracked {
                s.running.push(RunningWorkflow {
                    workflow_id: p.workflow_id.clone(),
                    run_id,
                    stop_sent: false,
                });
            }
            if let Some(c) = p.closed_early {
                closed(s, &p.workflow_id, c.status, c.result, c.failure);
            }
        }
        self.advance_schedule()
    }

    /// A workflow the schedule started closed (at the end of its chain): it no longer runs,
    /// its result or failure goes to the next start, a failure may pause the schedule, and a
    /// buffered start may go.
    pub fn schedule_workflow_closed(
        &mut self,
        workflow_id: &str,
        run_id: &str,
        close_event: &HistoryEvent,
    ) -> Result<(), CoreError> {
        let (status, result, failure) = close_of(close_event);
        let s = self.scheduler()?;
        if !s.running.iter().any(|r| r.workflow_id == workflow_id) {
            // Its start is not recorded yet: keep the close until it is.
            let Some(p) = s.starts.values_mut().find(|p| p.workflow_id == workflow_id) else {
                return Ok(());
            };
            p.closed_early =
                Some(ClosedEarly { run_id: run_id.to_owned(), status: status as i32, result, failure });
            return Ok(());
        }
        closed(s, workflow_id, status as i32, result, failure);
        self.advance_schedule()
    }

    /// Applies a patch: trigger now, backfill, pause or unpause. A patch repeated with the
    /// request id of one of the last applied is dropped, as on the real server.
    pub fn schedule_patch(&mut self, patch: &SchedulePatch, request_id: &str) -> Result<(), CoreError> {
        let spec = self.spec()?;
        let s = self.scheduler()?;
        if !request_id.is_empty() {
            if s.patch_request_ids.iter().any(|r| r == request_id) {
                return Ok(());
            }
            s.patch_request_ids.push(request_id.to_owned());
            if s.patch_request_ids.len() > PATCH_REQUEST_IDS {
                s.patch_request_ids.remove(0);
            }
        }
        self.patch_with(patch, &spec)?;
        self.advance_with(&spec);
        Ok(())
    }

    fn patch_with(&mut self, patch: &SchedulePatch, spec: &CompiledSpec) -> Result<(), CoreError> {
        let now = self.now;
        let s = self.scheduler()?;
        if let Some(t) = &patch.trigger_immediately {
            let at = t.scheduled_time.as_ref().map(time::from_timestamp).unwrap_or(now);
            push_start(s, BufferedStart { nominal: at, actual: at, overlap: t.overlap_policy, manual: true });
        }
        for b in &patch.backfill_request {
            backfill(s, spec, b);
        }
        for (text, paused) in [(&patch.pause, true), (&patch.unpause, false)] {
            if text.is_empty() {
                continue;
            }
            let state =
                s.schedule.get_or_insert_with(Default::default).state.get_or_insert_with(Default::default);
            state.paused = paused;
            state.notes = text.clone();
            s.conflict_token += 1;
        }
        Ok(())
    }

    /// Replaces the schedule (already validated and canonical) unless `conflict_token` names
    /// another version, in which case nothing changes (as on the real server). Returns whether
    /// it was applied. `search_attributes`, when given, replace the schedule's custom ones (the
    /// memo is never changed, as on the real server).
    pub fn schedule_update(
        &mut self,
        schedule: Schedule,
        conflict_token: Option<i64>,
        search_attributes: Option<SearchAttributes>,
    ) -> Result<bool, CoreError> {
        let spec = compile(&schedule)?;
        let now = self.now;
        // What was due under the old spec is taken first.
        self.advance_schedule()?;
        let s = self.scheduler()?;
        if conflict_token.is_some_and(|t| t != s.conflict_token) {
            return Ok(false);
        }
        s.schedule = Some(schedule);
        s.conflict_token += 1;
        s.update_time = now;
        s.last_processed = s.last_processed.max(now);
        if let Some(sa) = search_attributes {
            self.ms.search_attributes = Some(sa).filter(|sa| !sa.indexed_fields.is_empty());
        }
        self.advance_with(&spec);
        Ok(true)
    }

    /// DeleteSchedule: the schedule ends (its run closes; the runs it started go on).
    pub fn schedule_delete(&mut self) -> Result<(), CoreError> {
        self.scheduler()?;
        self.ms.status = Status::Terminated as i32;
        self.ms.close_time = self.now;
        Ok(())
    }
}
