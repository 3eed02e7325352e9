//! Runs that follow a closed run without a command asking for them: workflow retries per the
//! run's retry policy (with backoff), and cron runs at the schedule's next time.

use crate::cmd;
use crate::render::T0;
use endure_core::successor::cron_delay;
use endure_core::time::SECOND;

cases! {
    failed_workflow_is_retried_after_its_backoff:
        "A run that fails with a retry policy closes with retry state InProgress naming the new run; the new run (attempt 2, continued failure) waits for the backoff before its first task" => |s| {
        s.start(|r| r.retry_policy = Some(cmd::retry(10, 2.0, 0, 3)));
        s.at(1).poll_wft();
        s.at(2).complete_wft(vec![cmd::fail(cmd::app_failure("boom", "Boom"))]);
        s.run_timers_until(12);
        s.focus("run-2").poll_wft();
        s.at(13).complete_wft(vec![cmd::fail(cmd::app_failure("boom", "Boom"))]);
    }

    workflow_retries_end_at_maximum_attempts:
        "The last allowed attempt's failure is final: retry state MaximumAttemptsReached and no new run" => |s| {
        s.start(|r| {
            r.retry_policy = Some(cmd::retry(1, 2.0, 0, 2));
            r.attempt = 2;
        });
        s.at(1).poll_wft();
        s.at(2).complete_wft(vec![cmd::fail(cmd::app_failure("boom", "Boom"))]);
    }

    non_retryable_workflow_failure_is_final:
        "A failure type listed as non-retryable ends the chain (NonRetryableFailure)" => |s| {
        s.start(|r| {
            let mut p = cmd::retry(1, 2.0, 0, 0);
            p.non_retryable_error_types = vec!["Fatal".into()];
            r.retry_policy = Some(p);
        });
        s.at(1).poll_wft();
        s.at(2).complete_wft(vec![cmd::fail(cmd::app_failure("fatal", "Fatal"))]);
    }

    failure_without_a_retry_policy_is_final:
        "Without a retry policy a failed run closes with RetryPolicyNotSet" => |s| {
        s.start(|_| {});
        s.at(1).poll_wft();
        s.at(2).complete_wft(vec![cmd::fail(cmd::app_failure("boom", "Boom"))]);
    }

    run_timeout_is_retried:
        "A run timeout is retried per the retry policy like a failure" => |s| {
        s.start(|r| {
            r.run_timeout = 10 * SECOND;
            r.retry_policy = Some(cmd::retry(1, 2.0, 0, 0));
        });
        s.run_timers_until(10);
    }

    retry_stops_at_the_execution_deadline:
        "A retry whose backoff would end after the chain's execution deadline is not made (retry state Timeout)" => |s| {
        s.start(|r| {
            r.execution_timeout = 60 * SECOND;
            r.retry_policy = Some(cmd::retry(30, 2.0, 0, 0));
        });
        s.at(39).poll_wft();
        s.at(40).complete_wft(vec![cmd::fail(cmd::app_failure("boom", "Boom"))]);
    }

    execution_timeout_ends_the_chain:
        "The execution timeout caps the run timeout; when the deadline comes the run times out and no retry is made" => |s| {
        s.start(|r| {
            r.execution_timeout = 30 * SECOND;
            r.retry_policy = Some(cmd::retry(1, 2.0, 0, 0));
        });
        s.at(1).poll_wft();
        s.run_timers_until(30);
    }

    cron_run_waits_for_the_first_schedule_time:
        "The first run of a cron workflow starts with a first-task backoff to the schedule's next time (the starter computes it) and initiator CronSchedule" => |s| {
        let now = T0 + 30 * SECOND;
        s.at(30).start(|r| {
            r.cron_schedule = "*/15 * * * *".into();
            r.start_delay = cron_delay("*/15 * * * *", now).unwrap();
            r.initiator = endure_core::api::enums::v1::ContinueAsNewInitiator::CronSchedule as i32;
        });
        s.run_timers_until(900);
        s.poll_wft();
    }

    cron_run_completes_and_the_next_run_waits:
        "A cron run that completes names the next run, which carries the result as last completion result and waits until the next schedule time" => |s| {
        s.start(|r| r.cron_schedule = "*/15 * * * *".into());
        s.at(1).poll_wft();
        s.at(5).complete_wft(vec![cmd::complete("batch 1")]);
        s.run_timers_until(900);
    }

    // DIVERGENCE?: the real server counts the next cron time from the run's scheduled
    // (execution) time, rounded up to whole seconds (backoff.GetBackoffForNextSchedule), so an
    // `@every 60s` run started at t+0 and closed at t+2 is followed at t+60; Endure counts from
    // the close time (t+62). Calendar schedules agree.
    cron_run_that_fails_without_retry_goes_to_the_next_time:
        "A failed cron run without a retry policy still schedules the next cron run, with the failure as continued failure" => |s| {
        s.start(|r| r.cron_schedule = "@every 60s".into());
        s.at(1).poll_wft();
        s.at(2).complete_wft(vec![cmd::fail(cmd::app_failure("boom", "Boom"))]);
    }

    cron_run_retries_before_the_next_time:
        "A failed cron run with a retry policy is retried first; the retry keeps the cron schedule" => |s| {
        s.start(|r| {
            r.cron_schedule = "@every 60s".into();
            r.retry_policy = Some(cmd::retry(5, 2.0, 0, 2));
        });
        s.at(1).poll_wft();
        s.at(2).complete_wft(vec![cmd::fail(cmd::app_failure("boom", "Boom"))]);
        s.run_timers_until(7);
        s.focus("run-2").poll_wft();
        s.at(8).complete_wft(vec![cmd::fail(cmd::app_failure("boom", "Boom"))]);
    }

    terminate_ends_the_cron_chain:
        "A terminated cron run has no successor" => |s| {
        s.start(|r| r.cron_schedule = "@every 60s".into());
        s.at(1).terminate("stop the schedule");
    }

    cancel_ends_the_cron_chain:
        "A cron run that accepts cancellation has no successor" => |s| {
        s.start(|r| r.cron_schedule = "@every 60s".into());
        s.at(1).request_cancel();
        s.poll_wft();
        s.at(2).complete_wft(vec![cmd::cancel_workflow()]);
    }
}
