//! Workflow tasks: scheduling, starting, completing, failing and timing out; buffering;
//! transient attempts; sticky queues; start delays and run timeouts.

use crate::cmd;
use endure_core::api::common::v1::{Payload, SearchAttributes};
use endure_core::api::enums::v1::WorkflowTaskFailedCause as Cause;
use endure_core::commands::WorkflowTaskCompletion;
use endure_core::time::SECOND;
use endure_core::transition::InitialSignal;

cases! {
    first_task_is_scheduled_started_and_completed:
        "A new run writes Started + WorkflowTaskScheduled; a poll writes WorkflowTaskStarted; a completion without commands writes WorkflowTaskCompleted and schedules nothing" => |s| {
        s.start(|_| {});
        s.at(1).poll_wft();
        s.at(2).complete_wft(vec![]);
    }

    events_during_a_started_task_are_buffered_then_flushed:
        "An activity result and a signal that arrive while a task is started are buffered; the completion writes them after WorkflowTaskCompleted (the activity's Started event first, ids fixed up) and schedules the next task" => |s| {
        s.start(|_| {});
        s.at(1).poll_wft();
        s.at(2).complete_wft(vec![cmd::activity("a1"), cmd::timer("t1", 60)]);
        s.at(3).poll_activity(5);
        s.at(4).signal("first", "");
        s.poll_wft();
        s.at(5).complete_activity(5, "done");
        s.signal("second", "sig-2");
        s.at(6).complete_wft(vec![]);
    }

    close_command_with_new_events_fails_the_task:
        "Completing the workflow while new events wait in the buffer fails the task with UnhandledCommand and schedules a new one that sees them" => |s| {
        s.start(|_| {});
        s.at(1).poll_wft();
        s.at(2).signal("late", "");
        s.at(3).complete_wft(vec![cmd::complete("done")]);
        s.at(4).poll_wft();
        s.at(5).complete_wft(vec![cmd::complete("done")]);
    }

    failed_attempts_after_the_first_are_transient:
        "Attempt 1's failure is written; attempts 2 and 3 are transient (their events go only to the worker) until one completes, which writes its Scheduled/Started events first" => |s| {
        s.start(|_| {});
        s.at(1).poll_wft();
        s.at(2).fail_wft(Cause::WorkflowWorkerUnhandledFailure);
        s.at(3).poll_wft();
        s.at(4).fail_wft(Cause::WorkflowWorkerUnhandledFailure);
        s.at(5).poll_wft();
        s.at(6).complete_wft(vec![cmd::timer("t1", 10)]);
    }

    new_events_reset_the_attempt_count:
        "A failed task whose buffer held new events schedules attempt 1 again (written to history): the worker has new input" => |s| {
        s.start(|_| {});
        s.at(1).poll_wft();
        s.at(2).fail_wft(Cause::WorkflowWorkerUnhandledFailure);
        s.at(3).poll_wft();
        s.at(4).signal("news", "");
        s.at(5).fail_wft(Cause::WorkflowWorkerUnhandledFailure);
    }

    // DIVERGENCE?: the real server does not count an attempt when a task fails on a sticky
    // queue (it clears stickiness and schedules attempt 1 on the normal queue, written to
    // history: workflow_task_state_machine.go failWorkflowTask); Endure schedules attempt 2 as a
    // transient task.
    failure_on_a_sticky_queue_counts_an_attempt:
        "A task that fails on the sticky queue clears stickiness; the next task (normal queue) is attempt 2, transient" => |s| {
        s.start(|_| {});
        s.at(1).poll_wft();
        s.at(2).complete_wft_with(cmd::sticky(vec![cmd::timer("t1", 1)]));
        s.run_timers_until(3);
        s.poll_wft();
        s.at(4).fail_wft(Cause::WorkflowWorkerUnhandledFailure);
    }

    // DIVERGENCE?: the real server converts a transient task to a normal one (attempt 1,
    // Scheduled + Started written at once) when new events were written since it was scheduled
    // (workflow_task_state_machine.go AddWorkflowTaskStartedEvent); Endure keeps attempt 2
    // transient and writes its Scheduled/Started events only when it completes.
    signal_while_a_transient_task_waits_keeps_it_transient:
        "A signal written while a transient (attempt 2) task is scheduled but not started leaves the task transient" => |s| {
        s.start(|_| {});
        s.at(1).poll_wft();
        s.at(2).fail_wft(Cause::WorkflowWorkerUnhandledFailure);
        s.at(3).signal("news", "");
        s.at(4).poll_wft();
        s.at(5).complete_wft(vec![]);
    }

    start_to_close_timeout_times_the_task_out:
        "A started task not completed within its timeout is timed out (WorkflowTaskTimedOut) and retried as a transient attempt; the late completion is refused" => |s| {
        s.start(|r| r.task_timeout = 5 * SECOND);
        s.at(1).poll_wft();
        s.run_timers_until(6);
        s.complete_wft(vec![]);
        s.at(7).poll_wft();
    }

    retried_task_timeouts_grow_after_the_third_attempt:
        "Attempts 4 and later get a start-to-close timeout extended by 5s, 10s, … (capped at 10 minutes)" => |s| {
        s.start(|r| r.task_timeout = 2 * SECOND);
        s.at(1).poll_wft();
        s.run_timers_until(3);
        s.poll_wft();
        s.run_timers_until(5);
        s.poll_wft();
        s.run_timers_until(7);
        s.poll_wft();
        s.run_timers_until(14);
        s.poll_wft();
    }

    a_started_task_cannot_be_started_again:
        "Polling a started task again with another request id fails; a stale stamp is not found" => |s| {
        s.start(|_| {});
        s.at(1).poll_wft();
        s.poll_wft();
        s.poll_wft_stamp(7);
    }

    invalid_command_rolls_back_the_whole_completion:
        "A bad command fails the task with its cause; the valid commands before it leave no trace" => |s| {
        s.start(|_| {});
        s.at(1).poll_wft();
        s.at(2).complete_wft(vec![cmd::timer("t1", 5), cmd::activity("a1"), cmd::timer("t1", 9)]);
    }

    commands_after_a_close_command_fail_the_task:
        "A command after the one that closed the workflow fails the task with UnhandledCommand" => |s| {
        s.start(|_| {});
        s.at(1).poll_wft();
        s.at(2).complete_wft(vec![cmd::complete("done"), cmd::timer("t1", 5)]);
    }

    sticky_completion_routes_the_next_task_to_the_sticky_queue:
        "After a completion asking for stickiness the next task goes to the worker's queue with a schedule-to-start timeout and partial history" => |s| {
        s.start(|_| {});
        s.at(1).poll_wft();
        s.at(2).complete_wft_with(cmd::sticky(vec![cmd::timer("t1", 1)]));
        s.run_timers_until(3);
        s.poll_wft();
    }

    sticky_schedule_to_start_timeout_falls_back_to_the_normal_queue:
        "A sticky task nobody polls in time is timed out (ScheduleToStart) and dispatched again to the normal queue, without counting an attempt" => |s| {
        s.start(|_| {});
        s.at(1).poll_wft();
        s.at(2).complete_wft_with(cmd::sticky(vec![cmd::timer("t1", 1)]));
        s.run_timers_until(10);
        s.poll_wft();
    }

    reset_sticky_redispatches_a_waiting_task:
        "ResetStickyTaskQueue sends a task waiting on the sticky queue to the normal queue under a new stamp; the old sticky timeout is stale" => |s| {
        s.start(|_| {});
        s.at(1).poll_wft();
        s.at(2).complete_wft_with(cmd::sticky(vec![]));
        s.at(3).signal("go", "");
        s.at(4).reset_sticky();
        s.run_timers_until(9);
        s.poll_wft();
    }

    return_new_workflow_task_starts_the_next_task_inline:
        "With return_new_workflow_task and new events, the next task is started inside the completion (no dispatch task) for the same worker" => |s| {
        s.start(|_| {});
        s.at(1).poll_wft();
        s.at(2).signal("go", "");
        s.at(3).complete_wft_with(WorkflowTaskCompletion {
            commands: vec![cmd::timer("t1", 5)],
            return_new_workflow_task: true,
            ..Default::default()
        });
    }

    force_new_task_schedules_one_without_new_events:
        "force_create_new_workflow_task schedules a task even when nothing new happened" => |s| {
        s.start(|_| {});
        s.at(1).poll_wft();
        s.at(2).complete_wft_with(WorkflowTaskCompletion { force_create_new_workflow_task: true, ..Default::default() });
    }

    start_delay_postpones_the_first_task:
        "A start delay writes first_workflow_task_backoff and a WorkflowBackoff timer instead of the first task; the run timeout counts from the end of the delay" => |s| {
        s.start(|r| {
            r.start_delay = 30 * SECOND;
            r.run_timeout = 60 * SECOND;
        });
        s.at(10).signal("early", "");
        s.run_timers_until(30);
        s.poll_wft();
    }

    signal_with_start_records_the_signal_before_the_first_task:
        "SignalWithStart writes the signal right after Started, before the first WorkflowTaskScheduled; its request id deduplicates a retry" => |s| {
        s.start(|r| {
            r.initial_signal = Some(InitialSignal {
                name: "hello".into(),
                input: cmd::payload("x"),
                identity: "client".into(),
                header: None,
                request_id: "sws-1".into(),
            })
        });
        s.at(1).signal("hello", "sws-1");
    }

    run_timeout_closes_the_run:
        "The run timeout fires: a started task is force-failed, the run times out (no retry policy), pending timers are dropped" => |s| {
        s.start(|r| r.run_timeout = 20 * SECOND);
        s.at(1).poll_wft();
        s.at(2).complete_wft(vec![cmd::timer("t1", 60)]);
        s.run_timers_until(20);
        s.run_timers_until(62);
    }

    // DIVERGENCE?: when the execution deadline has passed the real server records retry state
    // Timeout for a run timeout (timer_queue_active_task_executor.go,
    // executeWorkflowRunTimeoutTask); without a retry policy Endure records RetryPolicyNotSet.
    // Both timers are due at the same instant here (the run timeout defaults to the execution
    // timeout) and the run timeout fires first.
    execution_timeout_closes_the_run:
        "The execution timeout bounds the run timeout; the run timeout timer, due at the same time, closes the run" => |s| {
        s.start(|r| {
            r.execution_timeout = 30 * SECOND;
            r.run_timeout = 60 * SECOND;
        });
        s.at(1).poll_wft();
        s.run_timers_until(30);
    }

    markers_search_attributes_and_memo_are_recorded:
        "RecordMarker, UpsertWorkflowSearchAttributes and ModifyWorkflowProperties each write their event; upserts merge into the state" => |s| {
        use endure_core::api::command::v1::{
            Command, ModifyWorkflowPropertiesCommandAttributes, RecordMarkerCommandAttributes,
            UpsertWorkflowSearchAttributesCommandAttributes, command::Attributes as C,
        };
        use endure_core::api::common::v1::Memo;
        let field = |k: &str| (k.to_string(), Payload { data: b"\"v\"".to_vec(), ..Default::default() });
        s.start(|_| {});
        s.at(1).poll_wft();
        s.at(2).complete_wft(vec![
            Command {
                attributes: Some(C::RecordMarkerCommandAttributes(RecordMarkerCommandAttributes {
                    marker_name: "version".into(),
                    ..Default::default()
                })),
                ..Default::default()
            },
            Command {
                attributes: Some(C::UpsertWorkflowSearchAttributesCommandAttributes(
                    UpsertWorkflowSearchAttributesCommandAttributes {
                        search_attributes: Some(SearchAttributes { indexed_fields: [field("CustomKeyword")].into() }),
                    },
                )),
                ..Default::default()
            },
            Command {
                attributes: Some(C::ModifyWorkflowPropertiesCommandAttributes(ModifyWorkflowPropertiesCommandAttributes {
                    upserted_memo: Some(Memo { fields: [field("note")].into() }),
                })),
                ..Default::default()
            },
        ]);
        let ms = s.ms();
        assert!(ms.search_attributes.as_ref().is_some_and(|a| a.indexed_fields.contains_key("CustomKeyword")));
        assert!(ms.memo.as_ref().is_some_and(|m| m.fields.contains_key("note")));
        s.check_rebuild();
    }

    timer_command_without_a_timeout_is_rejected:
        "StartTimer without a positive StartToFireTimeout fails the task with BadStartTimerAttributes" => |s| {
        s.start(|_| {});
        s.at(1).poll_wft();
        s.at(2).complete_wft(vec![cmd::timer("t1", 0)]);
    }
}
