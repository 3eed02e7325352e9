//! Signals, cancellation requests and termination from clients.

use crate::cmd;

cases! {
    signal_is_written_and_schedules_a_task:
        "A signal is written at once when no task is started and schedules a task; a repeated request id is deduplicated" => |s| {
        s.start(|_| {});
        s.at(1).poll_wft();
        s.at(2).complete_wft(vec![]);
        s.at(3).signal("go", "req-1");
        s.at(4).signal("go", "req-1");
        s.signal("go", "");
        s.poll_wft();
    }

    signals_are_deduplicated_across_rebuild:
        "Signal request ids are rebuilt from history, so a retried signal stays deduplicated after a rebuild" => |s| {
        s.start(|_| {});
        s.at(1).signal("go", "req-1");
        s.check_rebuild();
    }

    cancel_request_is_written_once_and_the_workflow_cancels:
        "RequestCancelWorkflowExecution writes CancelRequested and schedules a task (a second request changes nothing); the workflow then cancels itself" => |s| {
        s.start(|_| {});
        s.at(1).poll_wft();
        s.at(2).complete_wft(vec![cmd::timer("t1", 60)]);
        s.at(3).request_cancel();
        s.request_cancel();
        s.at(4).poll_wft();
        s.at(5).complete_wft(vec![cmd::cancel_workflow()]);
    }

    terminate_force_fails_the_started_task:
        "Terminating a run with a started task writes WorkflowTaskFailed (ForceCloseCommand), flushes buffered events, writes Terminated and drops pending work" => |s| {
        s.start(|_| {});
        s.at(1).poll_wft();
        s.at(2).complete_wft(vec![cmd::timer("t1", 5), cmd::activity("a1")]);
        s.at(3).signal("go", "");
        s.poll_wft();
        s.at(4).signal("more", "");
        s.at(5).terminate("operator said so");
        s.run_timers_until(6);
        s.signal("after", "");
        s.terminate("again");
    }

    terminate_during_a_transient_task_writes_no_task_failure:
        "Terminating a run whose started task is transient writes only Terminated" => |s| {
        s.start(|_| {});
        s.at(1).poll_wft();
        s.at(2).fail_wft(endure_core::api::enums::v1::WorkflowTaskFailedCause::WorkflowWorkerUnhandledFailure);
        s.at(3).poll_wft();
        s.at(4).terminate("stuck");
    }
}
