//! User timers: start, fire, cancel, and the races between a firing timer and a running task.

use crate::cmd;

cases! {
    timer_fires_and_schedules_a_task:
        "StartTimer writes TimerStarted and a timer task; when it fires TimerFired is written and a task scheduled" => |s| {
        s.start(|_| {});
        s.at(1).poll_wft();
        s.at(2).complete_wft(vec![cmd::timer("t1", 5)]);
        s.run_timers_until(7);
        s.poll_wft();
        s.at(8).complete_wft(vec![cmd::complete("done")]);
    }

    canceled_timer_does_not_fire:
        "CancelTimer writes TimerCanceled and removes the timer; its timer task later fires stale and changes nothing" => |s| {
        s.start(|_| {});
        s.at(1).poll_wft();
        s.at(2).complete_wft(vec![cmd::timer("t1", 5), cmd::timer("t2", 9)]);
        s.at(3).signal("stop", "");
        s.poll_wft();
        s.at(4).complete_wft(vec![cmd::cancel_timer("t1")]);
        s.run_timers_until(11);
    }

    timer_fired_during_a_task_is_dropped_by_a_cancel_in_it:
        "A timer that fires while a task is started is buffered; if that task cancels the timer the cancel wins and TimerFired is never written" => |s| {
        s.start(|_| {});
        s.at(1).poll_wft();
        s.at(2).complete_wft(vec![cmd::timer("t1", 5)]);
        s.at(3).signal("go", "");
        s.poll_wft();
        s.run_timers_until(7);
        s.at(8).complete_wft(vec![cmd::cancel_timer("t1")]);
    }

    duplicate_timer_id_fails_the_task:
        "Starting a timer whose id is in use fails the task with StartTimerDuplicateId" => |s| {
        s.start(|_| {});
        s.at(1).poll_wft();
        s.at(2).complete_wft(vec![cmd::timer("t1", 5)]);
        s.at(3).signal("go", "");
        s.poll_wft();
        s.at(4).complete_wft(vec![cmd::timer("t1", 5)]);
    }

    canceling_an_unknown_timer_fails_the_task:
        "Canceling a timer that is not pending fails the task with BadCancelTimerAttributes" => |s| {
        s.start(|_| {});
        s.at(1).poll_wft();
        s.at(2).complete_wft(vec![cmd::cancel_timer("nope")]);
    }

    timers_are_rebuilt_from_history:
        "Rebuilding state from history restores pending timers with their fire times" => |s| {
        s.start(|_| {});
        s.at(1).poll_wft();
        s.at(2).complete_wft(vec![cmd::timer("t1", 5), cmd::timer("t2", 50)]);
        s.run_timers_until(7);
        s.check_rebuild();
    }
}
