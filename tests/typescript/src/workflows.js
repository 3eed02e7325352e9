// The suite's workflows, bundled by the worker (webpack) like any user's workflow code.
const wf = require('@temporalio/workflow');

const defaults = wf.proxyActivities({ startToCloseTimeout: '10s' });

/** Hello world: one activity on default options. */
async function hello(name) {
  return await defaults.greet(name);
}

/** An activity that fails `failures` times, retried by the server. */
async function retried(failures) {
  const { flaky } = wf.proxyActivities({
    startToCloseTimeout: '10s',
    retry: { initialInterval: '50ms', backoffCoefficient: 1, maximumAttempts: 5 },
  });
  return await flaky(failures);
}

/** An activity that fails for good: the workflow reports how. */
async function nonRetryable() {
  try {
    await defaults.doomed();
    return 'unexpected success';
  } catch (err) {
    return `${err.constructor.name}/${err.cause?.type}/${err.cause?.nonRetryable}`;
  }
}

/** An activity that outlives its start-to-close timeout on every attempt. */
async function timedOut() {
  const { sleepy } = wf.proxyActivities({
    startToCloseTimeout: '300ms',
    retry: { initialInterval: '50ms', maximumAttempts: 2 },
  });
  try {
    await sleepy(5000);
    return 'unexpected success';
  } catch (err) {
    return `${err.constructor.name}/${err.cause?.constructor.name}/${err.cause?.timeoutType}`;
  }
}

/** Starts a heartbeating activity, cancels it after a while, and waits for its outcome. */
async function cancelActivity() {
  const { heartbeatUntilCancelled } = wf.proxyActivities({
    startToCloseTimeout: '30s',
    heartbeatTimeout: '2s',
    cancellationType: wf.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  });
  const scope = new wf.CancellationScope();
  const result = scope.run(() => heartbeatUntilCancelled());
  await wf.sleep(500);
  scope.cancel();
  try {
    return await result;
  } catch (err) {
    return `${err.constructor.name}/${err.cause?.constructor.name}`;
  }
}

/** An activity that resumes from the heartbeat details of its failed first attempt. */
async function heartbeatDetails() {
  const { resumeFromHeartbeat } = wf.proxyActivities({
    startToCloseTimeout: '10s',
    heartbeatTimeout: '5s',
    retry: { initialInterval: '50ms', maximumAttempts: 3 },
  });
  return await resumeFromHeartbeat();
}

module.exports = { hello, retried, nonRetryable, timedOut, cancelActivity, heartbeatDetails };

// ---- messages: signals, queries, updates -------------------------------------------------

const approve = wf.defineSignal('approve');
const stateQuery = wf.defineQuery('state');
const addUpdate = wf.defineUpdate('add');

/** Counts with updates, answers queries, and finishes when approved by signal. */
async function counter() {
  let total = 0;
  let approvedBy;
  wf.setHandler(approve, (who) => {
    approvedBy = who;
  });
  wf.setHandler(stateQuery, () => ({ total, approvedBy: approvedBy ?? null }));
  wf.setHandler(
    addUpdate,
    (n) => {
      total += n;
      return total;
    },
    {
      validator: (n) => {
        if (n < 0) {
          throw new Error('only positive numbers');
        }
      },
    },
  );
  await wf.condition(() => approvedBy !== undefined);
  return { total, approvedBy };
}

// ---- children, continue-as-new, timers ---------------------------------------------------

/** A child: sleeps briefly, returns its input doubled. */
async function child(n) {
  await wf.sleep(50);
  return n * 2;
}

/** Starts two children and sums their results. */
async function parent() {
  const [a, b] = await Promise.all([
    wf.executeChild(child, { args: [1], workflowId: `${wf.workflowInfo().workflowId}-child-1` }),
    wf.executeChild(child, { args: [2], workflowId: `${wf.workflowInfo().workflowId}-child-2` }),
  ]);
  return a + b;
}

/** Continues as new until it has run `runs` times; returns the last run's count. */
async function loop(run, runs) {
  if (run < runs) {
    await wf.continueAsNew(run + 1, runs);
  }
  return run;
}

/** Races a long timer against a short one. */
async function timers() {
  const started = Date.now();
  const winner = await Promise.race([
    wf.sleep('1 hour').then(() => 'long'),
    wf.sleep(200).then(() => 'short'),
  ]);
  return { winner, elapsedAtLeast200: Date.now() - started >= 200 };
}

/** Waits for the `approve` signal (for signal-with-start). */
async function waitForApproval() {
  let who;
  wf.setHandler(approve, (w) => {
    who = w;
  });
  await wf.condition(() => who !== undefined);
  return who;
}

/** Upserts a search attribute, then completes. */
async function tagged(value) {
  wf.upsertSearchAttributes({ TsTag: [value] });
  return value;
}

Object.assign(module.exports, { counter, child, parent, loop, timers, waitForApproval, tagged });

const finish = wf.defineSignal('finish');
const holdUpdate = wf.defineUpdate('hold');

/** Accepts `hold` updates that never finish; completes on the `finish` signal. */
async function unfinishedUpdates() {
  let done = false;
  wf.setHandler(finish, () => {
    done = true;
  });
  wf.setHandler(holdUpdate, async () => {
    await wf.condition(() => false);
  });
  await wf.condition(() => done);
  return 'finished';
}

Object.assign(module.exports, { unfinishedUpdates });

// ---- schedules ---------------------------------------------------------------------------

/** Started by a schedule: reports its id, its input and the memo the schedule gave it. */
async function scheduled(text) {
  const info = wf.workflowInfo();
  return { text, workflowId: info.workflowId, memo: info.memo ?? null };
}

Object.assign(module.exports, { scheduled });
