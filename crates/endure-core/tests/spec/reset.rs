//! Rebuilding state from history (`rebuild::rebuild`) and ResetWorkflowExecution on top of it
//! (`Txn::finish_reset`): the new run replays the base run's history up to a workflow task,
//! fails that task with cause ResetWorkflow, re-applies later signals and regenerates the tasks
//! of pending work. The driver terminates an open base run as the server does.

use crate::cmd;

cases! {
    reset_to_the_first_task_replays_and_fails_it:
        "Reset to the first task's completion copies events 1-3, fails that task with cause ResetWorkflow naming base and new run, re-applies later signals, schedules a task; the open base run is terminated" => |s| {
        s.start(|_| {});
        s.at(1).poll_wft();
        s.at(2).complete_wft(vec![cmd::timer("t1", 60)]);
        s.at(3).signal("after", "sig-1");
        s.poll_wft();
        s.at(4).complete_wft(vec![]);
        s.at(10).reset(4, true);
        s.poll_wft();
    }

    reset_can_drop_later_signals:
        "Reset without re-applying signals leaves them out of the new run" => |s| {
        s.start(|_| {});
        s.at(1).poll_wft();
        s.at(2).complete_wft(vec![]);
        s.at(3).signal("after", "");
        s.at(10).reset(4, false);
    }

    reset_regenerates_the_tasks_of_pending_work:
        "A reset point with a pending activity, timer, child, external signal and cancel gets their tasks again (activity timeouts counted from the reset)" => |s| {
        s.start(|_| {});
        s.at(1).poll_wft();
        s.at(2).complete_wft(vec![
            cmd::activity_with("a1", |a| a.schedule_to_close_timeout = cmd::secs(100)),
            cmd::timer("t1", 60),
            cmd::child("kid", |_| {}),
            cmd::signal_external("other", "ping"),
            cmd::cancel_external("other"),
        ]);
        s.at(3).signal("go", "");
        s.poll_wft();
        s.at(4).complete_wft(vec![cmd::complete("done")]);
        s.at(20).reset(13, true);
        s.check_rebuild();
    }

    reset_of_a_closed_run_leaves_it_closed:
        "Resetting a completed run creates the new run and leaves the base run as it was" => |s| {
        s.start(|_| {});
        s.at(1).poll_wft();
        s.at(2).complete_wft(vec![cmd::timer("t1", 1)]);
        s.run_timers_until(3);
        s.poll_wft();
        s.at(4).complete_wft(vec![cmd::complete("done")]);
        s.at(10).reset(4, true);
    }

    reset_to_a_scheduled_task_records_it_started_then_failed:
        "A reset whose rebuilt state ends with a scheduled, unstarted workflow task (finish id = scheduled + 1, as the real server accepts) records that task started by the resetter, then failed" => |s| {
        s.start(|_| {});
        s.at(1).poll_wft();
        s.at(2).complete_wft(vec![]);
        s.at(10).reset(3, true);
    }

    rebuild_matches_a_run_after_retries_and_buffering:
        "Rebuilding from history gives the live state's pending work, except what history does not hold (activity attempts in retry)" => |s| {
        s.start(|_| {});
        s.at(1).poll_wft();
        s.at(2).complete_wft(vec![cmd::activity("a1"), cmd::timer("t1", 30)]);
        s.at(3).poll_activity(5);
        s.at(4).fail_activity(5, cmd::app_failure("flaky", "IOError"));
        s.at(5).signal("go", "");
        s.check_rebuild();
    }
}
