//! Activities: scheduling, attempts, retries with backoff per the retry policy, non-retryable
//! errors, the four timeouts, heartbeats and cancellation. Retries write no events: only the
//! final attempt's Started event and the close event.

use crate::cmd::{self, secs};
use endure_core::api::common::v1::Priority;
use endure_core::api::failure::v1::{ApplicationFailureInfo, failure::FailureInfo};
use endure_core::commands::WorkflowTaskCompletion;

cases! {
    dispatch_tasks_carry_the_priority_of_the_run_under_the_activitys_own:
        "A run's priority orders its workflow tasks; an activity's dispatch takes the run's priority for each field it leaves unset, on the first attempt and on retries" => |s| {
        s.start(|r| {
            r.priority = Some(Priority { priority_key: 2, fairness_key: "tenant-a".into(), fairness_weight: 0.0 })
        });
        s.at(1).poll_wft();
        s.at(2).complete_wft(vec![
            cmd::activity_with("a1", |a| a.retry_policy = Some(cmd::retry(1, 2.0, 0, 0))),
            cmd::activity_with("a2", |a| {
                a.priority = Some(Priority { priority_key: 1, fairness_key: String::new(), fairness_weight: 2.5 })
            }),
        ]);
        s.at(3).poll_activity(5);
        s.at(4).fail_activity(5, cmd::app_failure("flaky", "IOError"));
        s.run_timers_until(5);
    }

    activity_is_scheduled_started_and_completed:
        "ScheduleActivityTask writes ActivityTaskScheduled with the default retry policy filled in; the start is recorded only in state; completion writes Started + Completed and schedules a task" => |s| {
        s.start(|_| {});
        s.at(1).poll_wft();
        s.at(2).complete_wft(vec![cmd::activity("a1")]);
        s.at(3).poll_activity(5);
        s.at(4).complete_activity(5, "ok");
        s.poll_wft();
        s.at(5).complete_wft(vec![cmd::complete("done")]);
    }

    failed_attempts_are_retried_with_exponential_backoff:
        "Failed attempts are retried after initial × coefficient^(attempt-1) without history events; the final Started event carries the attempt and the last failure" => |s| {
        s.start(|_| {});
        s.at(1).poll_wft();
        s.at(2).complete_wft(vec![cmd::activity_with("a1", |a| a.retry_policy = Some(cmd::retry(2, 3.0, 0, 0)))]);
        s.at(3).poll_activity(5);
        s.at(4).fail_activity(5, cmd::app_failure("flaky", "IOError"));
        s.run_timers_until(6);
        s.poll_activity(5);
        s.at(7).fail_activity(5, cmd::app_failure("flaky again", "IOError"));
        s.run_timers_until(13);
        s.poll_activity(5);
        s.at(14).complete_activity(5, "ok");
    }

    backoff_is_capped_at_the_maximum_interval:
        "The backoff never exceeds the policy's maximum interval" => |s| {
        s.start(|_| {});
        s.at(1).poll_wft();
        s.at(2).complete_wft(vec![cmd::activity_with("a1", |a| a.retry_policy = Some(cmd::retry(4, 10.0, 5, 0)))]);
        s.at(3).poll_activity(5);
        s.at(4).fail_activity(5, cmd::app_failure("flaky", "IOError"));
        s.run_timers_until(8);
        s.poll_activity(5);
        s.at(9).fail_activity(5, cmd::app_failure("flaky", "IOError"));
    }

    maximum_attempts_ends_the_retries:
        "When the attempt count reaches maximum attempts the failure is final: ActivityTaskFailed with MaximumAttemptsReached" => |s| {
        s.start(|_| {});
        s.at(1).poll_wft();
        s.at(2).complete_wft(vec![cmd::activity_with("a1", |a| a.retry_policy = Some(cmd::retry(1, 2.0, 0, 2)))]);
        s.at(3).poll_activity(5);
        s.at(4).fail_activity(5, cmd::app_failure("flaky", "IOError"));
        s.run_timers_until(5);
        s.poll_activity(5);
        s.at(6).fail_activity(5, cmd::app_failure("still flaky", "IOError"));
    }

    non_retryable_failure_is_final:
        "A failure marked non-retryable by the worker is final at once (NonRetryableFailure)" => |s| {
        s.start(|_| {});
        s.at(1).poll_wft();
        s.at(2).complete_wft(vec![cmd::activity("a1")]);
        s.at(3).poll_activity(5);
        s.at(4).fail_activity(5, cmd::non_retryable("bad input", "ValueError"));
    }

    non_retryable_error_type_is_final:
        "A failure whose type is listed in the policy's non-retryable error types is final at once" => |s| {
        s.start(|_| {});
        s.at(1).poll_wft();
        s.at(2).complete_wft(vec![cmd::activity_with("a1", |a| {
            let mut p = cmd::retry(1, 2.0, 0, 0);
            p.non_retryable_error_types = vec!["ValueError".into()];
            a.retry_policy = Some(p);
        })]);
        s.at(3).poll_activity(5);
        s.at(4).fail_activity(5, cmd::app_failure("bad input", "ValueError"));
    }

    next_retry_delay_overrides_the_backoff:
        "An application failure's next_retry_delay replaces the policy's backoff for that retry" => |s| {
        let mut f = cmd::app_failure("rate limited", "Throttled");
        if let Some(FailureInfo::ApplicationFailureInfo(ApplicationFailureInfo { next_retry_delay, .. })) = &mut f.failure_info {
            *next_retry_delay = secs(30);
        }
        s.start(|_| {});
        s.at(1).poll_wft();
        s.at(2).complete_wft(vec![cmd::activity("a1")]);
        s.at(3).poll_activity(5);
        s.at(4).fail_activity(5, f);
        s.run_timers_until(34);
    }

    start_to_close_timeout_is_retried:
        "A start-to-close timeout counts as a failed attempt and is retried; the next attempt sees it as last failure" => |s| {
        s.start(|_| {});
        s.at(1).poll_wft();
        s.at(2).complete_wft(vec![cmd::activity_with("a1", |a| a.start_to_close_timeout = secs(5))]);
        s.at(3).poll_activity(5);
        s.run_timers_until(9);
        s.poll_activity(5);
        s.at(10).complete_activity(5, "ok");
    }

    // DIVERGENCE?: the real server runs every activity timeout through RetryActivity, where a
    // ScheduleToStart (or ScheduleToClose) timeout failure is not retryable and yields retry
    // state NonRetryableFailure (workflow/retry.go isRetryable); Endure records Timeout.
    schedule_to_start_timeout_is_final:
        "A schedule-to-start timeout is not retried: ActivityTaskTimedOut without a Started event" => |s| {
        s.start(|_| {});
        s.at(1).poll_wft();
        s.at(2).complete_wft(vec![cmd::activity_with("a1", |a| a.schedule_to_start_timeout = secs(3))]);
        s.run_timers_until(5);
    }

    schedule_to_close_timeout_bounds_all_attempts:
        "Schedule-to-close bounds the whole activity: it caps the other timeouts, stops retries whose backoff would pass it (retry state Timeout) and times out the activity when it fires" => |s| {
        s.start(|_| {});
        s.at(1).poll_wft();
        s.at(2).complete_wft(vec![cmd::activity_with("a1", |a| {
            a.schedule_to_close_timeout = secs(10);
            a.start_to_close_timeout = secs(30);
            a.retry_policy = Some(cmd::retry(4, 2.0, 0, 0));
        })]);
        s.at(3).poll_activity(5);
        s.at(4).fail_activity(5, cmd::app_failure("flaky", "IOError"));
        s.run_timers_until(8);
        s.poll_activity(5);
        s.at(9).fail_activity(5, cmd::app_failure("flaky", "IOError"));
    }

    schedule_to_close_timeout_fires_during_an_attempt:
        "The schedule-to-close timer closes a started activity with ActivityTaskTimedOut (its Started event is written first)" => |s| {
        s.start(|_| {});
        s.at(1).poll_wft();
        s.at(2).complete_wft(vec![cmd::activity_with("a1", |a| {
            a.schedule_to_close_timeout = secs(10);
            a.start_to_close_timeout = None;
        })]);
        s.at(3).poll_activity(5);
        s.run_timers_until(12);
    }

    heartbeats_extend_the_heartbeat_timeout:
        "Each heartbeat moves the heartbeat deadline; the timer re-arms itself until a heartbeat is missed, then the attempt times out (retried) and its details go to the next attempt" => |s| {
        s.start(|_| {});
        s.at(1).poll_wft();
        s.at(2).complete_wft(vec![cmd::activity_with("a1", |a| {
            a.start_to_close_timeout = secs(60);
            a.heartbeat_timeout = secs(5);
        })]);
        s.at(3).poll_activity(5);
        s.at(6).heartbeat(5, "25%");
        s.at(10).heartbeat(5, "50%");
        s.run_timers_until(16);
        s.poll_activity(5);
        s.at(17).complete_activity(5, "ok");
    }

    canceling_a_scheduled_activity_cancels_it_at_once:
        "RequestCancelActivityTask for an activity no worker started writes CancelRequested and Canceled together" => |s| {
        s.start(|_| {});
        s.at(1).poll_wft();
        s.at(2).complete_wft(vec![cmd::activity("a1"), cmd::timer("t1", 1)]);
        s.run_timers_until(3);
        s.poll_wft();
        s.at(4).complete_wft(vec![cmd::cancel_activity(5)]);
        s.at(5).poll_activity(5);
    }

    canceling_a_started_activity_waits_for_the_worker:
        "Cancel of a started activity writes CancelRequested; the worker learns it from its heartbeat and reports Canceled; a failure after the request is not retried" => |s| {
        s.start(|_| {});
        s.at(1).poll_wft();
        s.at(2).complete_wft(vec![cmd::activity("a1"), cmd::activity("a2"), cmd::timer("t1", 2)]);
        s.at(3).poll_activity(5);
        s.poll_activity(6);
        s.run_timers_until(4);
        s.poll_wft();
        s.at(5).complete_wft(vec![cmd::cancel_activity(5), cmd::cancel_activity(6)]);
        s.at(6).heartbeat(5, "stopping");
        s.activity_canceled(5);
        s.at(7).fail_activity(6, cmd::app_failure("interrupted", "IOError"));
    }

    result_of_a_closed_activity_is_refused:
        "A worker's result for an activity that already timed out (or a stale attempt) is NotFound" => |s| {
        s.start(|_| {});
        s.at(1).poll_wft();
        s.at(2).complete_wft(vec![cmd::activity_with("a1", |a| {
            a.start_to_close_timeout = secs(2);
            a.retry_policy = Some(cmd::retry(1, 2.0, 0, 1));
        })]);
        s.at(3).poll_activity(5);
        s.run_timers_until(6);
        s.complete_activity(5, "late");
        s.heartbeat(5, "late");
    }

    eager_activity_is_started_inside_the_completion:
        "An activity requested for eager execution on the workflow's queue is started for the completing worker (no dispatch, no schedule-to-start timer)" => |s| {
        s.start(|_| {});
        s.at(1).poll_wft();
        s.at(2).complete_wft_with(WorkflowTaskCompletion {
            commands: vec![
                cmd::activity_with("a1", |a| {
                    a.request_eager_execution = true;
                    a.schedule_to_start_timeout = secs(5);
                }),
                cmd::activity_with("a2", |a| a.task_queue = Some(endure_core::transition::normal_queue("other"))),
            ],
            ..Default::default()
        });
    }

    activity_without_timeouts_is_rejected:
        "An activity with neither start-to-close nor schedule-to-close fails the task with BadScheduleActivityAttributes" => |s| {
        s.start(|_| {});
        s.at(1).poll_wft();
        s.at(2).complete_wft(vec![cmd::activity_with("a1", |a| a.start_to_close_timeout = None)]);
    }

    run_timeout_bounds_activity_timeouts:
        "Without schedule-to-close, an activity inherits the run timeout as schedule-to-close and schedule-to-start" => |s| {
        s.start(|r| r.run_timeout = 30 * endure_core::time::SECOND);
        s.at(1).poll_wft();
        s.at(2).complete_wft(vec![cmd::activity("a1")]);
    }

    duplicate_activity_id_fails_the_task:
        "Scheduling an activity whose id is pending fails the task with ScheduleActivityDuplicateId" => |s| {
        s.start(|_| {});
        s.at(1).poll_wft();
        s.at(2).complete_wft(vec![cmd::activity("a1"), cmd::activity("a1")]);
    }

    pending_activities_are_rebuilt_from_history:
        "Rebuilding from history restores pending activities (attempt and started state are not in history)" => |s| {
        s.start(|_| {});
        s.at(1).poll_wft();
        s.at(2).complete_wft(vec![cmd::activity("a1"), cmd::activity("a2"), cmd::timer("t1", 1)]);
        s.at(3).poll_activity(5);
        s.run_timers_until(4);
        s.poll_wft();
        s.at(5).complete_wft(vec![cmd::cancel_activity(5)]);
        s.check_rebuild();
    }
}
