//! Signals and cancel requests sent to other workflows: the initiated event and task, then the
//! outcome the server reports back.

use crate::cmd;
use endure_core::api::enums::v1::{
    CancelExternalWorkflowExecutionFailedCause, SignalExternalWorkflowExecutionFailedCause,
};

cases! {
    external_signal_delivered:
        "SignalExternalWorkflowExecution writes Initiated and a SignalExternal task; delivery writes ExternalWorkflowExecutionSignaled and schedules a task" => |s| {
        s.start(|_| {});
        s.at(1).poll_wft();
        s.at(2).complete_wft(vec![cmd::signal_external("other", "ping")]);
        s.at(3).external_signal_result(5, Ok(()));
        s.external_signal_result(5, Ok(()));
    }

    external_signal_to_a_missing_workflow_fails:
        "A signal whose target does not exist writes SignalExternalWorkflowExecutionFailed with the cause" => |s| {
        s.start(|_| {});
        s.at(1).poll_wft();
        s.at(2).complete_wft(vec![cmd::signal_external("ghost", "ping")]);
        s.at(3).external_signal_result(5, Err(SignalExternalWorkflowExecutionFailedCause::ExternalWorkflowExecutionNotFound));
    }

    external_cancel_delivered:
        "RequestCancelExternalWorkflowExecution writes Initiated and a CancelExternal task; delivery writes ExternalWorkflowExecutionCancelRequested" => |s| {
        s.start(|_| {});
        s.at(1).poll_wft();
        s.at(2).complete_wft(vec![cmd::cancel_external("other")]);
        s.at(3).external_cancel_result(5, Ok(()));
    }

    external_cancel_to_a_missing_workflow_fails:
        "A cancel request whose target does not exist writes RequestCancelExternalWorkflowExecutionFailed" => |s| {
        s.start(|_| {});
        s.at(1).poll_wft();
        s.at(2).complete_wft(vec![cmd::cancel_external("ghost")]);
        s.at(3).external_cancel_result(5, Err(CancelExternalWorkflowExecutionFailedCause::ExternalWorkflowExecutionNotFound));
    }

    external_outcomes_during_a_task_are_buffered:
        "Outcomes that arrive while a task is started are buffered until it completes" => |s| {
        s.start(|_| {});
        s.at(1).poll_wft();
        s.at(2).complete_wft(vec![cmd::signal_external("other", "ping"), cmd::cancel_external("other")]);
        s.at(3).signal("go", "");
        s.poll_wft();
        s.at(4).external_signal_result(5, Ok(()));
        s.external_cancel_result(6, Ok(()));
        s.at(5).complete_wft(vec![]);
    }

    external_requests_need_a_target:
        "A signal without a workflow id fails the task with BadSignalWorkflowExecutionAttributes" => |s| {
        s.start(|_| {});
        s.at(1).poll_wft();
        s.at(2).complete_wft(vec![cmd::signal_external("", "ping")]);
    }

    pending_external_requests_are_rebuilt_from_history:
        "Rebuilding from history restores pending external signals and cancel requests" => |s| {
        s.start(|_| {});
        s.at(1).poll_wft();
        s.at(2).complete_wft(vec![cmd::signal_external("other", "ping"), cmd::cancel_external("other")]);
        s.check_rebuild();
    }
}
