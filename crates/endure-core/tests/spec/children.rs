//! Child workflows: initiation, start (or start failure), the close report to the parent,
//! buffering while the parent's task runs, continue-as-new inside a child, and parent close
//! policies. The driver runs the StartChild, RecordChildClosed and ParentClosePolicy tasks the
//! way the server's cross-workflow executor does, against child runs it creates.

use crate::cmd::{self, secs};
use endure_core::api::enums::v1::{ParentClosePolicy, StartChildWorkflowExecutionFailedCause};
use endure_core::api::history::v1::{
    HistoryEvent, WorkflowExecutionCompletedEventAttributes, history_event::Attributes,
};

cases! {
    child_starts_and_its_completion_is_reported:
        "StartChild writes Initiated and a StartChild task; the started child is recorded (ChildWorkflowExecutionStarted); its close is reported back as ChildWorkflowExecutionCompleted with the result" => |s| {
        s.start(|_| {});
        s.at(1).poll_wft();
        s.at(2).complete_wft(vec![cmd::child("kid", |_| {})]);
        s.at(3).start_child(5);
        s.focus("run-2").poll_wft();
        s.at(4).complete_wft(vec![cmd::complete("grown up")]);
        s.deliver_child_close();
        s.focus("run-1").poll_wft();
        s.at(5).complete_wft(vec![cmd::complete("done")]);
    }

    child_that_cannot_start_is_reported:
        "A child whose id is taken is recorded as StartChildWorkflowExecutionFailed and leaves the pending children" => |s| {
        s.start(|_| {});
        s.at(1).poll_wft();
        s.at(2).complete_wft(vec![cmd::child("kid", |_| {})]);
        s.at(3).child_start_failed(5, StartChildWorkflowExecutionFailedCause::WorkflowAlreadyExists);
    }

    child_failure_is_reported:
        "A child that fails without a retry policy is reported as ChildWorkflowExecutionFailed with its failure and retry state" => |s| {
        s.start(|_| {});
        s.at(1).poll_wft();
        s.at(2).complete_wft(vec![cmd::child("kid", |_| {})]);
        s.at(3).start_child(5);
        s.focus("run-2").poll_wft();
        s.at(4).complete_wft(vec![cmd::fail(cmd::app_failure("kid broke", "KidError"))]);
        s.deliver_child_close();
    }

    child_cancellation_is_reported:
        "A child that accepts a cancel request is reported as ChildWorkflowExecutionCanceled" => |s| {
        s.start(|_| {});
        s.at(1).poll_wft();
        s.at(2).complete_wft(vec![cmd::child("kid", |_| {})]);
        s.at(3).start_child(5);
        s.focus("run-2").request_cancel();
        s.poll_wft();
        s.at(4).complete_wft(vec![cmd::cancel_workflow()]);
        s.deliver_child_close();
    }

    child_timeout_is_reported:
        "A child whose run times out is reported as ChildWorkflowExecutionTimedOut" => |s| {
        s.start(|_| {});
        s.at(1).poll_wft();
        s.at(2).complete_wft(vec![cmd::child("kid", |c| c.workflow_run_timeout = secs(10))]);
        s.at(3).start_child(5);
        s.run_timers_until(13);
        s.focus("run-2").deliver_child_close();
    }

    child_termination_is_reported:
        "A terminated child is reported as ChildWorkflowExecutionTerminated" => |s| {
        s.start(|_| {});
        s.at(1).poll_wft();
        s.at(2).complete_wft(vec![cmd::child("kid", |_| {})]);
        s.at(3).start_child(5);
        s.focus("run-2").terminate("unwanted");
        s.deliver_child_close();
    }

    child_events_during_a_parent_task_are_buffered:
        "Child started and closed records that arrive while the parent's task is started are buffered; at flush the closed event gets the started event's id" => |s| {
        s.start(|_| {});
        s.at(1).poll_wft();
        s.at(2).complete_wft(vec![cmd::child("kid", |_| {})]);
        s.at(3).signal("go", "");
        s.poll_wft();
        s.at(4).start_child(5);
        s.focus("run-2").terminate("quick");
        s.deliver_child_close();
        s.focus("run-1").at(5).complete_wft(vec![]);
    }

    child_close_before_its_start_is_recorded_is_retried:
        "A close report for a child whose start is not recorded yet is refused (the task retries later) and changes nothing" => |s| {
        s.start(|_| {});
        s.at(1).poll_wft();
        s.at(2).complete_wft(vec![cmd::child("kid", |_| {})]);
        let close = HistoryEvent {
            event_id: 3,
            event_type: endure_core::api::enums::v1::EventType::WorkflowExecutionCompleted as i32,
            attributes: Some(Attributes::WorkflowExecutionCompletedEventAttributes(
                WorkflowExecutionCompletedEventAttributes { result: cmd::payload("early"), ..Default::default() },
            )),
            ..Default::default()
        };
        s.at(3).record_child_closed("run-1", 5, close);
    }

    // DIVERGENCE?: the real server names the run that closed (the child's last run, the
    // request's ChildExecution) in the parent's ChildWorkflowExecution* event
    // (recordchildworkflowcompleted); Endure names the child's first run.
    child_that_continues_as_new_reports_from_its_last_run:
        "A child that continues as new does not report a close; its successor keeps the parent and reports when it closes" => |s| {
        s.start(|_| {});
        s.at(1).poll_wft();
        s.at(2).complete_wft(vec![cmd::child("kid", |_| {})]);
        s.at(3).start_child(5);
        s.focus("run-2").poll_wft();
        s.at(5).complete_wft(vec![cmd::continue_as_new("round 2", |_| {})]);
        s.focus("run-3").poll_wft();
        s.at(6).complete_wft(vec![cmd::complete("grown up")]);
        s.deliver_child_close();
    }

    parent_close_policies_apply_to_started_children:
        "When the parent closes, each started child gets a ParentClosePolicy task (Unspecified means Terminate; Abandon and unstarted children get none); the server terminates or cancels them" => |s| {
        s.start(|_| {});
        s.at(1).poll_wft();
        s.at(2).complete_wft(vec![
            cmd::child("kid-default", |_| {}),
            cmd::child("kid-cancel", |c| c.parent_close_policy = ParentClosePolicy::RequestCancel as i32),
            cmd::child("kid-abandon", |c| c.parent_close_policy = ParentClosePolicy::Abandon as i32),
            cmd::child("kid-unstarted", |_| {}),
        ]);
        s.at(3).start_child(5).start_child(6).start_child(7);
        s.poll_wft();
        s.at(4).complete_wft(vec![cmd::complete("done")]);
        s.at(5).apply_parent_close_policies();
        s.focus("run-2").deliver_child_close();
    }

    pending_children_are_rebuilt_from_history:
        "Rebuilding from history restores pending children, started or not" => |s| {
        s.start(|_| {});
        s.at(1).poll_wft();
        s.at(2).complete_wft(vec![cmd::child("kid-1", |_| {}), cmd::child("kid-2", |_| {})]);
        s.at(3).start_child(5);
        s.check_rebuild();
    }
}
