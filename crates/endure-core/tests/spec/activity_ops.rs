//! Operator actions on pending activities: pause, unpause, reset and new options. None writes
//! history; they change the activity's state and what is dispatched.

use crate::cmd::{self};
use endure_core::activity_ops::{OptionsChange, ResetActivity};
use endure_core::time::SECOND;

cases! {
    paused_activity_is_not_dispatched_until_unpaused:
        "Pausing a scheduled activity makes its queued task stale; unpausing dispatches it again at once (a new stamp)" => |s| {
        s.start(|_| {});
        s.at(1).poll_wft();
        s.at(2).complete_wft(vec![cmd::activity("a1")]);
        s.at(3).pause_activity(5);
        s.at(4).pause_activity(5);
        s.at(5).unpause_activity(5, false, 0);
        s.at(6).poll_activity(5);
    }

    failure_while_paused_counts_and_waits_for_the_unpause:
        "A running attempt of a paused activity is told by its heartbeat; its failure counts (even past the last attempt) and no retry is dispatched until the unpause, which clears the last failure" => |s| {
        s.start(|_| {});
        s.at(1).poll_wft();
        s.at(2).complete_wft(vec![cmd::activity_with("a1", |a| a.retry_policy = Some(cmd::retry(1, 2.0, 0, 1)))]);
        s.at(3).poll_activity(5);
        s.at(4).pause_activity(5);
        s.heartbeat(5, "h1");
        s.at(5).fail_activity(5, cmd::app_failure("paused", "ActivityPause"));
        s.run_timers_until(30);
        s.at(31).unpause_activity(5, true, 2);
        s.run_timers_until(33);
    }

    timeouts_of_a_paused_activity_wait_and_overdue_ones_fire_on_unpause:
        "While paused no timeout fires; the unpause arms the running attempt's timeouts again and an overdue one fires at once" => |s| {
        s.start(|_| {});
        s.at(1).poll_wft();
        s.at(2).complete_wft(vec![cmd::activity_with("a1", |a| a.start_to_close_timeout = cmd::secs(5))]);
        s.at(3).poll_activity(5);
        s.at(4).pause_activity(5);
        s.run_timers_until(20);
        s.at(21).unpause_activity(5, false, 0);
        s.run_timers_until(21);
    }

    reset_starts_over_at_attempt_one:
        "Resetting a waiting retry dispatches attempt one now; resetting a running attempt tells its heartbeats" => |s| {
        s.start(|_| {});
        s.at(1).poll_wft();
        s.at(2).complete_wft(vec![cmd::activity_with("a1", |a| a.retry_policy = Some(cmd::retry(60, 2.0, 0, 0)))]);
        s.at(3).poll_activity(5);
        s.at(4).fail_activity(5, cmd::app_failure("flaky", "IOError"));
        s.at(5).reset_activity(5, ResetActivity { reset_heartbeat: true, ..Default::default() });
        s.at(6).poll_activity(5);
        s.at(7).reset_activity(5, ResetActivity::default());
        s.heartbeat(5, "h");
    }

    new_options_apply_at_once:
        "A waiting task moves to the new queue (the old one is stale); a running attempt's shorter start-to-close timeout is armed; heartbeat never exceeds start-to-close" => |s| {
        s.start(|_| {});
        s.at(1).poll_wft();
        s.at(2).complete_wft(vec![cmd::activity_with("a1", |a| a.heartbeat_timeout = cmd::secs(30))]);
        s.at(3).update_activity(5, OptionsChange { task_queue: Some("other".into()), ..Default::default() });
        s.at(4).poll_activity(5);
        s.at(5).update_activity(5, OptionsChange { start_to_close_timeout: Some(2 * SECOND), ..Default::default() });
        s.run_timers_until(8);
    }
}
