// Activities the suite's workflows call. Each one is plain code; what they exercise is the
// server's side of scheduling, retrying, timing out, heartbeating and cancelling them.
const { Context, CancelledFailure, ApplicationFailure } = require('@temporalio/activity');

/** The hello-world activity. */
async function greet(name) {
  return `Hello, ${name}!`;
}

/** Fails its first `failures` attempts (retryably), then returns the attempt that succeeded. */
async function flaky(failures) {
  const { attempt } = Context.current().info;
  if (attempt <= failures) {
    throw ApplicationFailure.retryable(`attempt ${attempt} fails`, 'Flaky');
  }
  return attempt;
}

/** Fails for good at once. */
async function doomed() {
  throw ApplicationFailure.nonRetryable('no way', 'Doomed');
}

/** Sleeps longer than its start-to-close timeout allows. */
async function sleepy(ms) {
  await Context.current().sleep(ms);
  return 'woke';
}

/** Heartbeats until cancelled; returns how it ended. */
async function heartbeatUntilCancelled() {
  const ctx = Context.current();
  for (let i = 0; ; i++) {
    ctx.heartbeat(i);
    try {
      await ctx.sleep(100);
    } catch (err) {
      if (err instanceof CancelledFailure) {
        return 'cancelled';
      }
      throw err;
    }
  }
}

/** Returns the heartbeat details the previous attempt left, then heartbeats and fails once. */
async function resumeFromHeartbeat() {
  const ctx = Context.current();
  const previous = ctx.info.heartbeatDetails;
  if (ctx.info.attempt === 1) {
    ctx.heartbeat('checkpoint-1');
    // Heartbeats are throttled: give this one time to reach the server.
    await ctx.sleep(1500);
    throw ApplicationFailure.retryable('first attempt fails after its checkpoint');
  }
  return previous;
}

module.exports = { greet, flaky, doomed, sleepy, heartbeatUntilCancelled, resumeFromHeartbeat };
