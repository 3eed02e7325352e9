//! Workflow Update: admission, delivery on (speculative) workflow tasks, acceptance,
//! completion, rejection, and what is written to history in each case.

use crate::cmd;

cases! {
    update_on_an_idle_run_gets_a_speculative_task:
        "An update with no task outstanding gets a speculative task (no event written); acceptance and response write the task's events, UpdateAccepted and UpdateCompleted" => |s| {
        s.start(|_| {});
        s.at(1).poll_wft();
        s.at(2).complete_wft(vec![]);
        s.at(3).admit_update("u1");
        s.poll_wft();
        s.at(4).complete_wft_messages(vec![], vec![cmd::accept("u1", 4), cmd::respond("u1", "hello")]);
    }

    rejected_update_discards_the_speculative_task:
        "A speculative task whose worker only rejects leaves no trace: the completion is discarded and the worker told to reset its history to the last completed task" => |s| {
        s.start(|_| {});
        s.at(1).poll_wft();
        s.at(2).complete_wft(vec![]);
        s.at(3).admit_update("u1");
        s.poll_wft();
        s.at(4).complete_wft_messages(vec![], vec![cmd::reject("u1", "not now")]);
    }

    rejection_with_commands_keeps_the_speculative_task:
        "A speculative task whose completion carries commands is written to history even if the update was rejected" => |s| {
        s.start(|_| {});
        s.at(1).poll_wft();
        s.at(2).complete_wft(vec![]);
        s.at(3).admit_update("u1");
        s.poll_wft();
        s.at(4).complete_wft_messages(vec![cmd::timer("t1", 5)], vec![cmd::reject("u1", "not now")]);
    }

    event_after_a_speculative_task_was_scheduled_keeps_it:
        "A signal written after the speculative task was scheduled means the task cannot be discarded: a rejection still writes its events" => |s| {
        s.start(|_| {});
        s.at(1).poll_wft();
        s.at(2).complete_wft(vec![]);
        s.at(3).admit_update("u1");
        s.signal("go", "");
        s.poll_wft();
        s.at(4).complete_wft_messages(vec![], vec![cmd::reject("u1", "not now")]);
    }

    update_admitted_during_a_task_rides_on_the_next_one:
        "An update admitted while a task is started waits; the completion schedules a normal task that delivers it" => |s| {
        s.start(|_| {});
        s.at(1).poll_wft();
        s.at(2).admit_update("u1");
        s.at(3).complete_wft(vec![]);
        s.poll_wft();
    }

    accepted_update_completes_in_a_later_task:
        "An update accepted in one task (ProtocolMessage command places the event among the commands) stays accepted until a later task responds" => |s| {
        s.start(|_| {});
        s.at(1).poll_wft();
        s.at(2).complete_wft(vec![]);
        s.at(3).admit_update("u1");
        s.poll_wft();
        s.at(4).complete_wft_messages(
            vec![cmd::timer("t0", 1), cmd::protocol("u1/accept"), cmd::timer("t1", 2)],
            vec![cmd::accept("u1", 4)],
        );
        s.check_rebuild();
        s.run_timers_until(6);
        s.poll_wft();
        s.at(7).complete_wft_messages(vec![], vec![cmd::respond("u1", "hello")]);
    }

    update_ids_are_deduplicated:
        "An update id already in flight is not admitted again; a completed one answers with its completion event, even after the run closed" => |s| {
        s.start(|_| {});
        s.at(1).poll_wft();
        s.at(2).complete_wft(vec![]);
        s.at(3).admit_update("u1");
        s.admit_update("u1");
        s.poll_wft();
        s.at(4).complete_wft_messages(
            vec![cmd::protocol("u1/accept"), cmd::protocol("u1/respond"), cmd::complete("done")],
            vec![cmd::accept("u1", 4), cmd::respond("u1", "hello")],
        );
        s.at(5).admit_update("u1");
        s.admit_update("u2");
    }

    another_admitted_update_gets_a_new_speculative_task:
        "When a discarded speculative task leaves another update admitted, a new speculative task is scheduled for it" => |s| {
        s.start(|_| {});
        s.at(1).poll_wft();
        s.at(2).complete_wft(vec![]);
        s.at(3).admit_update("u1");
        s.poll_wft();
        s.admit_update("u2");
        s.at(4).complete_wft_messages(vec![], vec![cmd::reject("u1", "not now")]);
    }

    // DIVERGENCE? (unconfirmed): messages no ProtocolMessage command places are applied after
    // the commands, and Endure skips them once a command closed the run, so the acceptance
    // and response here are dropped without an error while the update stays admitted.
    update_messages_after_a_close_command_are_dropped:
        "Update messages not placed by ProtocolMessage commands are applied after the commands: after CompleteWorkflow they are skipped" => |s| {
        s.start(|_| {});
        s.at(1).poll_wft();
        s.at(2).complete_wft(vec![]);
        s.at(3).admit_update("u1");
        s.poll_wft();
        s.at(4).complete_wft_messages(vec![cmd::complete("done")], vec![cmd::accept("u1", 4), cmd::respond("u1", "hello")]);
    }

    // DIVERGENCE?: the real server writes a speculative task's Scheduled and Started events
    // with its WorkflowTaskFailed (and WorkflowTaskTimedOut) event
    // (workflow_task_state_machine.go AddWorkflowTaskFailedEvent); Endure treats it like a
    // transient task: nothing is written and the next task is attempt 2, transient.
    failed_speculative_task_leaves_no_trace:
        "A speculative task the worker fails writes no event; the update stays admitted and rides on the retried (transient) task" => |s| {
        s.start(|_| {});
        s.at(1).poll_wft();
        s.at(2).complete_wft(vec![]);
        s.at(3).admit_update("u1");
        s.poll_wft();
        s.at(4).fail_wft(endure_core::api::enums::v1::WorkflowTaskFailedCause::WorkflowWorkerUnhandledFailure);
        s.poll_wft();
    }

    response_to_an_unaccepted_update_fails_the_task:
        "A response for an update that was never accepted fails the task with BadUpdateWorkflowExecutionMessage" => |s| {
        s.start(|_| {});
        s.at(1).poll_wft();
        s.at(2).admit_update("u1");
        s.at(3).complete_wft_messages(vec![], vec![cmd::respond("u1", "hello")]);
    }
}
