//! Continue-as-new: the closing event, the successor run the same transition creates
//! (`Txn::new_run`), what carries over, and the throttle on tight loops.

use crate::cmd::{self, secs};
use endure_core::time::SECOND;

cases! {
    continue_as_new_starts_the_successor_run:
        "ContinueAsNew closes the run with WorkflowExecutionContinuedAsNew naming the new run; the successor starts in the same transition with the new input, continued-from and first run, and its first task at once" => |s| {
        s.start(|_| {});
        s.at(1).poll_wft();
        s.at(5).complete_wft(vec![cmd::continue_as_new("round 2", |_| {})]);
        s.focus("run-2").poll_wft();
    }

    tight_continue_as_new_loops_are_throttled:
        "A run that continues as new within a second of its start delays its successor's first task to that second" => |s| {
        s.start(|_| {});
        s.at_ms(200).poll_wft();
        s.at_ms(400).complete_wft(vec![cmd::continue_as_new("again", |_| {})]);
        s.run_timers_until(1);
    }

    continue_as_new_with_a_backoff_delays_the_successor:
        "backoff_start_interval becomes the successor's first-task backoff" => |s| {
        s.start(|_| {});
        s.at(1).poll_wft();
        s.at(2).complete_wft(vec![cmd::continue_as_new("later", |a| a.backoff_start_interval = secs(30))]);
        s.run_timers_until(32);
    }

    continue_as_new_carries_over_and_overrides:
        "The successor keeps the retry policy, cron schedule, memo and execution deadline of the chain, and takes the type, queue and timeouts the command sets" => |s| {
        s.start(|r| {
            r.retry_policy = Some(cmd::retry(1, 2.0, 0, 3));
            r.execution_timeout = 3600 * SECOND;
            r.run_timeout = 600 * SECOND;
        });
        s.at(1).poll_wft();
        s.at(2).complete_wft(vec![cmd::continue_as_new("v2", |a| {
            a.workflow_type = Some(endure_core::api::common::v1::WorkflowType { name: "GreetV2".into() });
            a.task_queue = Some(endure_core::transition::normal_queue("q2"));
            a.workflow_run_timeout = secs(120);
            a.workflow_task_timeout = secs(5);
            a.last_completion_result = cmd::payload("partial");
        })]);
    }

    continue_as_new_with_a_bad_cron_fails_the_task:
        "An invalid cron schedule on ContinueAsNew fails the task with BadContinueAsNewAttributes" => |s| {
        s.start(|_| {});
        s.at(1).poll_wft();
        s.at(2).complete_wft(vec![cmd::continue_as_new("x", |a| a.cron_schedule = "every day".into())]);
    }
}
