// Standalone activities through the TypeScript SDK's activity client (`client.activity`): an
// activity started by a client rather than a workflow (StartActivityExecution), run by a real
// TypeScript worker, its result through PollActivityExecution, Describe, retries, heartbeats,
// cancellation, termination, id conflicts, list and count. The worker is strict about the
// activity task it polls (it refuses a task without scheduleToCloseTimeout, for one): these tests
// prove the server's tasks for standalone activities satisfy it. Each test was first run against
// the real dev server (README.md).
const { test } = require('node:test');
const assert = require('node:assert/strict');
const { status: grpcStatus } = require('@grpc/grpc-js');
const {
  Client,
  ActivityExecutionAlreadyStartedError,
  ActivityExecutionFailedError,
  ActivityNotFoundError,
  ServiceError,
} = require('@temporalio/client');
const { Context, CancelledFailure, ApplicationFailure } = require('@temporalio/activity');
const { TerminatedFailure, defineSearchAttributeKey, defaultPayloadConverter } = require('@temporalio/common');
const { tsToMs } = require('@temporalio/common/lib/time');
const { Worker, NativeConnection } = require('@temporalio/worker');
const { address, client, namespace, unique, eventually: eventuallyWithin } = require('./support');

const DEADLINE_MS = 20_000;
/** Calls `probe` until it returns something other than `undefined`; returns that. */
const eventually = (probe, what, every = 100) => eventuallyWithin(probe, what, every, DEADLINE_MS);
const WORKER_IDENTITY = 'standalone-worker@ts';
const CLIENT_IDENTITY = 'standalone-client@ts';
const tsTag = defineSearchAttributeKey('TsTag', 'KEYWORD');


function deferred() {
  let resolve;
  const promise = new Promise((r) => (resolve = r));
  return { promise, resolve };
}

/** What each activity saw, by activity id: `Context.current().info` and how it ended. */
const seen = new Map();
function record(entry) {
  const { activityId } = Context.current().info;
  if (!seen.has(activityId)) {
    seen.set(activityId, []);
  }
  seen.get(activityId).push(entry);
}
const seenBy = (activityId) => seen.get(activityId) ?? [];

/** Gates by activity id: `reached` resolves when the gated attempt runs; it returns after `release`. */
const gates = new Map();
function gate(activityId) {
  const g = { reached: deferred(), release: deferred() };
  gates.set(activityId, g);
  return g;
}

// The activities of this file (an activity-only worker: no workflows to bundle).
const activities = {
  /** Returns a greeting; keeps its info. */
  async greet(name) {
    record({ info: Context.current().info });
    return `Hello, ${name}!`;
  },
  /** Fails its first `failures` attempts (retryably); the next one waits at its gate, then returns its attempt. */
  async flaky(failures) {
    const { info } = Context.current();
    record({ attempt: info.attempt, info });
    if (info.attempt <= failures) {
      throw ApplicationFailure.retryable(`attempt ${info.attempt} fails`, 'Flaky');
    }
    const g = gates.get(info.activityId);
    if (g) {
      g.reached.resolve();
      await g.release.promise;
    }
    return info.attempt;
  },
  /** Fails for good at once. */
  async doomed() {
    throw ApplicationFailure.nonRetryable('no way', 'Doomed');
  },
  /** Heartbeats `{ step }` every 100 ms until cancelled; records the cancellation and rethrows it. */
  async heartbeater() {
    const ctx = Context.current();
    gates.get(ctx.info.activityId)?.reached.resolve();
    for (let step = 0; ; step++) {
      ctx.heartbeat({ step });
      try {
        await ctx.sleep(100);
      } catch (err) {
        record({
          cancelled: err instanceof CancelledFailure,
          message: err.message,
          details: { ...ctx.cancellationDetails },
        });
        throw err;
      }
    }
  },
};

/** A client with a known identity, on the suite's connection. */
async function activityClient() {
  const { connection } = await client();
  return new Client({ connection, namespace, identity: CLIENT_IDENTITY });
}

/** Runs `fn(taskQueue)` while an activity-only TypeScript worker polls a fresh task queue. */
async function withActivityWorker(fn, taskQueue = unique('tq-standalone')) {
  const connection = await NativeConnection.connect({ address });
  try {
    const worker = await Worker.create({ connection, namespace, taskQueue, activities, identity: WORKER_IDENTITY });
    return await worker.runUntil(fn(taskQueue));
  } finally {
    await connection.close();
  }
}

/** The error `promise` rejects with (fails if it resolves). */
async function rejection(promise) {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  assert.fail('expected a rejection');
}

test('a standalone activity queued before any worker polls runs on a TypeScript worker; describe shows its options', async () => {
  const c = await activityClient();
  const taskQueue = unique('tq-standalone');
  const id = unique('greet');
  const handle = await c.activity.start('greet', {
    id,
    taskQueue,
    args: ['Endure'],
    scheduleToCloseTimeout: '30s',
    scheduleToStartTimeout: '20s',
    startToCloseTimeout: '10s',
    heartbeatTimeout: '5s',
    retry: { initialInterval: '2s', backoffCoefficient: 3, maximumAttempts: 4, nonRetryableErrorTypes: ['Fatal'] },
  });
  assert.equal(handle.activityId, id);
  assert.ok(handle.runId, 'the start returns the run id');

  // No worker yet: the activity waits in its task queue.
  const queued = await handle.describe();
  assert.equal(queued.status, 'RUNNING');
  assert.equal(queued.runState, 'SCHEDULED');
  assert.equal(queued.attempt, 1);
  assert.equal(queued.activityRunId, handle.runId);
  assert.equal(queued.lastWorkerIdentity, undefined);
  assert.equal(queued.lastStartedTime, undefined);
  assert.equal(queued.closeTime, undefined);

  const result = await withActivityWorker(() => handle.result(), taskQueue);
  assert.equal(result, 'Hello, Endure!');
  // PollActivityExecution on a handle without a run id reads the latest run.
  assert.equal(await c.activity.getHandle(id).result(), 'Hello, Endure!');

  const d = await handle.describe({ includeInput: true, includeOutcome: true });
  assert.equal(d.activityId, id);
  assert.equal(d.activityRunId, handle.runId);
  assert.equal(d.activityType, 'greet');
  assert.equal(d.taskQueue, taskQueue);
  assert.equal(d.status, 'COMPLETED');
  assert.equal(d.runState, undefined, 'a closed activity has no run state');
  assert.equal(d.attempt, 1);
  assert.equal(d.scheduleToCloseTimeoutMs, 30_000);
  assert.equal(d.scheduleToStartTimeoutMs, 20_000);
  assert.equal(d.startToCloseTimeoutMs, 10_000);
  assert.equal(d.heartbeatTimeoutMs, 5_000);
  assert.deepEqual(d.retryPolicy, {
    initialInterval: 2_000,
    backoffCoefficient: 3,
    maximumAttempts: 4,
    maximumInterval: 200_000, // unset: the server makes it 100 x initialInterval
    nonRetryableErrorTypes: ['Fatal'],
  });
  assert.equal(d.lastWorkerIdentity, WORKER_IDENTITY);
  assert.ok(d.scheduleTime instanceof Date);
  assert.ok(d.lastStartedTime >= d.scheduleTime);
  assert.ok(d.closeTime >= d.lastStartedTime);
  assert.ok(d.executionDurationMs >= 0);
  assert.equal(d.canceledReason, undefined);
  assert.equal(d.hasInput, true);
  assert.deepEqual(await d.getInput(), ['Endure']);
  assert.equal(d.hasResult, true);
  assert.equal(await d.getResult(), 'Hello, Endure!');
  assert.equal(d.hasOutcomeFailure, false);

  // What the worker's task carried, as the activity saw it.
  const [{ info }] = seenBy(id);
  assert.equal(info.attempt, 1);
  assert.equal(info.scheduleToCloseTimeoutMs, 30_000);
  assert.equal(info.startToCloseTimeoutMs, 10_000);
  assert.equal(info.heartbeatTimeoutMs, 5_000);
  assert.deepEqual(info.retryPolicy, {
    initialInterval: 2_000,
    backoffCoefficient: 3,
    maximumAttempts: 4,
    maximumInterval: 200_000,
    nonRetryableErrorTypes: ['Fatal'],
  });
  assert.equal(info.scheduledTimestampMs, d.scheduleTime.getTime());
});

test('a failing standalone activity is retried with its backoff until it succeeds: attempts in the activity and in describe', async () => {
  const c = await activityClient();
  const id = unique('flaky');
  const g = gate(id);
  await withActivityWorker(async (taskQueue) => {
    const handle = await c.activity.start('flaky', {
      id,
      taskQueue,
      args: [2],
      startToCloseTimeout: '10s',
      retry: { initialInterval: '100ms', backoffCoefficient: 1, maximumAttempts: 5 },
    });
    await g.reached.promise;

    // The third attempt is running, after two failures.
    const running = await handle.describe({ includeLastFailure: true });
    assert.equal(running.status, 'RUNNING');
    assert.equal(running.runState, 'STARTED');
    assert.equal(running.attempt, 3);
    assert.equal(running.lastWorkerIdentity, WORKER_IDENTITY);
    assert.ok(running.lastAttemptCompleteTime instanceof Date);
    assert.equal(running.hasLastFailure, true);
    const lastFailure = await running.getLastFailure();
    assert.ok(lastFailure instanceof ApplicationFailure);
    assert.equal(lastFailure.message, 'attempt 2 fails');
    assert.equal(lastFailure.type, 'Flaky');

    g.release.resolve();
    assert.equal(await handle.result(), 3);

    const d = await handle.describe({ includeLastFailure: true, includeOutcome: true });
    assert.equal(d.status, 'COMPLETED');
    assert.equal(d.attempt, 3);
    assert.deepEqual(d.retryPolicy, {
      initialInterval: 100,
      backoffCoefficient: 1,
      maximumAttempts: 5,
      maximumInterval: 10_000,
      nonRetryableErrorTypes: [],
    });
    assert.equal(await d.getResult(), 3);
    assert.equal((await d.getLastFailure()).message, 'attempt 2 fails', 'the last failure outlives the success');
  });

  const attempts = seenBy(id);
  assert.deepEqual(
    attempts.map((a) => a.attempt),
    [1, 2, 3],
  );
  const first = attempts[0].info;
  for (const { info } of attempts) {
    assert.equal(info.activityRunId, first.activityRunId);
    assert.equal(info.scheduledTimestampMs, first.scheduledTimestampMs, 'scheduledTime is the first attempt\'s');
  }
  assert.equal(first.currentAttemptScheduledTimestampMs, first.scheduledTimestampMs);
  assert.ok(attempts[1].info.currentAttemptScheduledTimestampMs > first.currentAttemptScheduledTimestampMs);
  assert.ok(attempts[2].info.currentAttemptScheduledTimestampMs > attempts[1].info.currentAttemptScheduledTimestampMs);
});

test('a non-retryable failure closes a standalone activity as FAILED and result() throws it', async () => {
  const c = await activityClient();
  await withActivityWorker(async (taskQueue) => {
    const handle = await c.activity.start('doomed', { id: unique('doomed'), taskQueue, startToCloseTimeout: '10s' });
    const err = await rejection(handle.result());
    assert.ok(err instanceof ActivityExecutionFailedError);
    assert.equal(err.message, 'Activity execution failed');
    assert.equal(err.activityId, handle.activityId);
    assert.equal(err.runId, handle.runId);
    assert.ok(err.cause instanceof ApplicationFailure);
    assert.equal(err.cause.message, 'no way');
    assert.equal(err.cause.type, 'Doomed');
    assert.equal(err.cause.nonRetryable, true);

    const d = await handle.describe({ includeOutcome: true });
    assert.equal(d.status, 'FAILED');
    assert.equal(d.attempt, 1);
    assert.equal(d.hasOutcomeFailure, true);
    assert.equal((await d.getOutcomeFailure()).message, 'no way');
  });
});

test('heartbeat details reach describe; a cancel request reaches the activity through its heartbeat and closes it CANCELED', async () => {
  const c = await activityClient();
  const id = unique('heartbeater');
  const g = gate(id);
  await withActivityWorker(async (taskQueue) => {
    const handle = await c.activity.start('heartbeater', {
      id,
      taskQueue,
      startToCloseTimeout: '20s',
      heartbeatTimeout: '1s',
    });
    await g.reached.promise;
    const beating = await eventually(async () => {
      const d = await handle.describe({ includeHeartbeatDetails: true });
      return d.hasHeartbeatDetails ? d : undefined;
    }, 'heartbeat details');
    assert.equal(beating.status, 'RUNNING');
    assert.equal(beating.runState, 'STARTED');
    assert.equal(beating.heartbeatTimeoutMs, 1_000);
    assert.ok(beating.lastHeartbeatTime instanceof Date);
    assert.ok(beating.totalHeartbeatCount >= 1);
    const details = await beating.getHeartbeatDetails();
    assert.equal(typeof details.step, 'number');

    await handle.cancel('enough');
    const requested = await handle.describe();
    if (requested.status === 'RUNNING') {
      // The worker learns of the request with its next heartbeat.
      assert.equal(requested.runState, 'CANCEL_REQUESTED');
    }
    assert.equal(requested.canceledReason, 'enough');

    const err = await rejection(handle.result());
    assert.ok(err instanceof ActivityExecutionFailedError);
    assert.equal(err.message, 'Activity execution failed');
    assert.ok(err.cause instanceof CancelledFailure, `a CancelledFailure, not ${err.cause}`);
    assert.equal(err.cause.message, 'Activity canceled');
    assert.equal(err.cause.failure.canceledFailureInfo.identity, CLIENT_IDENTITY);

    const d = await handle.describe({ includeOutcome: true });
    assert.equal(d.status, 'CANCELED');
    assert.equal(d.runState, undefined);
    assert.equal(d.canceledReason, 'enough');
    assert.ok(d.closeTime instanceof Date);
    assert.ok((await d.getOutcomeFailure()) instanceof CancelledFailure);
  });
  const [ending] = seenBy(id);
  assert.deepEqual(ending, {
    cancelled: true,
    message: 'CANCELLED',
    details: {
      cancelRequested: true,
      notFound: false,
      paused: false,
      timedOut: false,
      workerShutdown: false,
      reset: false,
    },
  });
});

test('terminate closes a standalone activity TERMINATED; its worker learns of it as NOT_FOUND on its next heartbeat', async () => {
  const c = await activityClient();
  const id = unique('terminated');
  const g = gate(id);
  await withActivityWorker(async (taskQueue) => {
    const handle = await c.activity.start('heartbeater', { id, taskQueue, startToCloseTimeout: '20s', heartbeatTimeout: '1s' });
    await g.reached.promise;
    await handle.terminate('stop it');

    const err = await rejection(handle.result());
    assert.ok(err instanceof ActivityExecutionFailedError);
    assert.equal(err.message, 'Activity execution failed');
    assert.ok(err.cause instanceof TerminatedFailure, `a TerminatedFailure, not ${err.cause}`);
    assert.equal(err.cause.message, 'stop it');
    assert.equal(err.cause.failure.terminatedFailureInfo.identity, CLIENT_IDENTITY);

    const d = await handle.describe();
    assert.equal(d.status, 'TERMINATED');
    assert.equal(d.runState, undefined);
    assert.ok(d.closeTime instanceof Date);

    // The activity's next heartbeat finds it gone.
    await eventually(async () => seenBy(id)[0], 'the activity to see its termination');

    // Closed: neither cancel nor terminate applies.
    const again = await rejection(handle.terminate('again'));
    assert.ok(again instanceof ServiceError);
    assert.equal(again.message, 'Failed to terminate activity');
    assert.equal(again.cause.code, grpcStatus.FAILED_PRECONDITION);
    const cancel = await rejection(handle.cancel('late'));
    assert.ok(cancel instanceof ServiceError);
    assert.equal(cancel.message, 'Failed to request activity cancellation');
    assert.equal(cancel.cause.code, grpcStatus.FAILED_PRECONDITION);
  });
  assert.deepEqual(seenBy(id)[0], {
    cancelled: true,
    message: 'NOT_FOUND',
    details: {
      cancelRequested: false,
      notFound: true,
      paused: false,
      timedOut: false,
      workerShutdown: false,
      reset: false,
    },
  });
});

test('activity ids: a running id is refused, USE_EXISTING joins it, a closed id is reused unless REJECT_DUPLICATE; unknown ids are not found', async () => {
  const c = await activityClient();
  const id = unique('conflict');
  const g = gate(id);
  await withActivityWorker(async (taskQueue) => {
    const options = { id, taskQueue, startToCloseTimeout: '20s', heartbeatTimeout: '1s' };
    const first = await c.activity.start('heartbeater', options);
    await g.reached.promise;

    const err = await rejection(c.activity.start('heartbeater', options));
    assert.ok(err instanceof ActivityExecutionAlreadyStartedError, `not ${err}`);
    assert.equal(err.message, 'Activity execution already started');
    assert.equal(err.activityId, id);
    assert.equal(err.runId, first.runId);

    // The raw error: ALREADY_EXISTS with an ActivityExecutionAlreadyStartedFailure detail.
    const raw = await rejection(
      c.workflowService.startActivityExecution({
        namespace,
        activityId: id,
        activityType: { name: 'heartbeater' },
        taskQueue: { name: taskQueue },
        startToCloseTimeout: { seconds: 20 },
        requestId: unique('request'),
      }),
    );
    assert.equal(raw.code, grpcStatus.ALREADY_EXISTS);

    const joined = await c.activity.start('heartbeater', { ...options, idConflictPolicy: 'USE_EXISTING' });
    assert.equal(joined.runId, first.runId);

    await first.cancel('done');
    await rejection(first.result());

    const rejected = await rejection(c.activity.start('greet', { ...options, args: ['x'], idReusePolicy: 'REJECT_DUPLICATE' }));
    assert.ok(rejected instanceof ActivityExecutionAlreadyStartedError, `not ${rejected}`);
    assert.equal(rejected.runId, first.runId);

    // The default reuse policy starts a new run under the closed id.
    const second = await c.activity.start('greet', { ...options, args: ['again'] });
    assert.notEqual(second.runId, first.runId);
    assert.equal(await second.result(), 'Hello, again!');
    assert.equal((await c.activity.getHandle(id).describe()).activityRunId, second.runId);
    assert.equal((await c.activity.getHandle(id, first.runId).describe()).status, 'CANCELED');

    const missing = unique('missing');
    const notFound = await rejection(c.activity.getHandle(missing).describe());
    assert.ok(notFound instanceof ActivityNotFoundError, `not ${notFound}`);
    assert.equal(notFound.message, `activity not found for ID: ${missing}`);
    assert.ok((await rejection(c.activity.getHandle(missing).result())) instanceof ActivityNotFoundError);
    assert.ok((await rejection(c.activity.getHandle(missing).cancel('x'))) instanceof ActivityNotFoundError);
    assert.ok((await rejection(c.activity.getHandle(missing).terminate('x'))) instanceof ActivityNotFoundError);
  });
});

test('Context.current().info in a standalone activity: no workflow, its run id, and the durations the server fills in', async () => {
  const c = await activityClient();
  const bare = unique('info-bare');
  const full = unique('info-full');
  await withActivityWorker(async (taskQueue) => {
    const b = await c.activity.start('greet', { id: bare, taskQueue, args: ['bare'], startToCloseTimeout: '10s' });
    await b.result();
    const f = await c.activity.start('greet', {
      id: full,
      taskQueue,
      args: ['full'],
      scheduleToCloseTimeout: '30s',
      heartbeatTimeout: '4s',
      retry: { maximumAttempts: 3 },
      priority: { priorityKey: 2 },
    });
    await f.result();

    const [{ info }] = seenBy(bare);
    assert.equal(info.activityId, bare);
    assert.equal(info.activityType, 'greet');
    assert.equal(info.activityRunId, b.runId);
    assert.equal(info.taskQueue, taskQueue);
    assert.equal(info.namespace, namespace);
    assert.equal(info.activityNamespace, namespace);
    assert.equal(info.inWorkflow, false);
    assert.equal(info.workflowExecution, undefined);
    assert.equal(info.workflowType, undefined);
    assert.equal(info.workflowNamespace, undefined);
    assert.equal(info.isLocal, false);
    assert.equal(info.attempt, 1);
    assert.equal(info.heartbeatDetails, undefined);
    assert.ok(info.taskToken.length > 0);
    assert.equal(info.base64TaskToken, Buffer.from(info.taskToken).toString('base64'));
    // Unset timeouts arrive as zero durations (the worker refuses a task without scheduleToCloseTimeout).
    assert.equal(info.startToCloseTimeoutMs, 10_000);
    assert.equal(info.scheduleToCloseTimeoutMs, 0);
    assert.equal(info.heartbeatTimeoutMs, 0);
    assert.equal(info.currentAttemptScheduledTimestampMs, info.scheduledTimestampMs);
    const describedBare = await b.describe();
    assert.equal(info.scheduledTimestampMs, describedBare.scheduleTime.getTime());
    // No retry policy given: the server's default.
    assert.deepEqual(info.retryPolicy, {
      initialInterval: 1_000,
      backoffCoefficient: 2,
      maximumInterval: 100_000,
      maximumAttempts: 0,
      nonRetryableErrorTypes: [],
    });
    assert.deepEqual(describedBare.retryPolicy, {
      initialInterval: 1_000,
      backoffCoefficient: 2,
      maximumInterval: 100_000,
      maximumAttempts: 0,
      nonRetryableErrorTypes: [],
    });
    assert.equal(info.priority.priorityKey, undefined);

    // Only a schedule-to-close timeout: the start-to-close timeout is the same.
    const [{ info: fi }] = seenBy(full);
    assert.equal(fi.activityRunId, f.runId);
    assert.equal(fi.scheduleToCloseTimeoutMs, 30_000);
    assert.equal(fi.startToCloseTimeoutMs, 30_000);
    assert.equal(fi.heartbeatTimeoutMs, 4_000);
    assert.equal(fi.retryPolicy.maximumAttempts, 3);
    assert.equal(fi.priority.priorityKey, 2);
    const describedFull = await f.describe();
    assert.equal(describedFull.scheduleToCloseTimeoutMs, 30_000);
    assert.equal(describedFull.startToCloseTimeoutMs, 30_000);
    assert.equal(describedFull.priority.priorityKey, 2);
  });
});

test('a standalone activity task polled raw carries no workflow, its run id and every duration; async completion by its token', async () => {
  const c = await activityClient();
  const taskQueue = unique('tq-standalone-raw');
  const id = unique('raw');
  const handle = await c.activity.start('rawActivity', { id, taskQueue, args: ['in'], startToCloseTimeout: '10s' });
  const task = await c.connection.withDeadline(Date.now() + 30_000, () =>
    c.workflowService.pollActivityTaskQueue({ namespace, taskQueue: { name: taskQueue }, identity: 'raw-poller' }),
  );
  assert.ok(task.taskToken.length > 0);
  assert.equal(task.activityId, id);
  assert.equal(task.activityRunId, handle.runId);
  assert.equal(task.activityType.name, 'rawActivity');
  assert.equal(task.workflowNamespace, namespace);
  assert.ok(!task.workflowExecution?.workflowId, 'no workflow execution');
  assert.ok(!task.workflowType?.name, 'no workflow type');
  assert.equal(task.attempt, 1);
  assert.deepEqual(defaultPayloadConverter.fromPayload(task.input.payloads[0]), 'in');
  for (const field of ['scheduledTime', 'currentAttemptScheduledTime', 'startedTime']) {
    assert.ok(task[field], `${field} is set`);
  }
  assert.equal(tsToMs(task.scheduledTime), tsToMs(task.currentAttemptScheduledTime));
  // Unset durations are present, as zero.
  assert.ok(task.scheduleToCloseTimeout, 'scheduleToCloseTimeout is present');
  assert.equal(tsToMs(task.scheduleToCloseTimeout), 0);
  assert.equal(tsToMs(task.startToCloseTimeout), 10_000);
  assert.ok(task.heartbeatTimeout, 'heartbeatTimeout is present');
  assert.equal(tsToMs(task.heartbeatTimeout), 0);
  assert.equal(tsToMs(task.retryPolicy.initialInterval), 1_000);
  assert.equal(task.retryPolicy.backoffCoefficient, 2);
  assert.equal(tsToMs(task.retryPolicy.maximumInterval), 100_000);

  const started = await handle.describe();
  assert.equal(started.runState, 'STARTED');
  assert.equal(started.lastWorkerIdentity, 'raw-poller');

  // The activity client completes a task by its token, as for any activity.
  await c.activity.heartbeat(task.taskToken, 'half way');
  const beat = await handle.describe({ includeHeartbeatDetails: true });
  assert.equal(await beat.getHeartbeatDetails(), 'half way');
  await c.activity.complete(task.taskToken, 'out');
  assert.equal(await handle.result(), 'out');
  assert.equal((await handle.describe()).status, 'COMPLETED');
});

test('list and count standalone activities by query, with a custom search attribute and GROUP BY', async () => {
  const c = await activityClient();
  const tag = unique('tag');
  const running = unique('listed-running');
  const g = gate(running);
  await withActivityWorker(async (taskQueue) => {
    const attrs = [{ key: tsTag, value: tag }];
    const done = [];
    for (const name of ['a', 'b']) {
      const h = await c.activity.start('greet', {
        id: unique(`listed-${name}`),
        taskQueue,
        args: [name],
        startToCloseTimeout: '10s',
        typedSearchAttributes: attrs,
      });
      await h.result();
      done.push(h);
    }
    const live = await c.activity.start('heartbeater', {
      id: running,
      taskQueue,
      startToCloseTimeout: '20s',
      heartbeatTimeout: '1s',
      typedSearchAttributes: attrs,
    });
    await g.reached.promise;

    const query = `TsTag = '${tag}'`;
    const completedQuery = `${query} AND ExecutionStatus = 'Completed'`;
    await eventually(
      async () => ((await c.activity.count(completedQuery)).count === 2 ? true : undefined),
      'two completed activities in visibility',
      200,
    );
    assert.equal((await c.activity.count(query)).count, 3);
    assert.equal((await c.activity.count(`${query} AND ExecutionStatus = 'Running'`)).count, 1);
    assert.equal((await c.activity.count(`${query} AND ActivityType = 'greet'`)).count, 2);
    assert.equal((await c.activity.count(`TaskQueue = '${taskQueue}'`)).count, 3);
    assert.equal((await c.activity.count(`ActivityId = '${running}'`)).count, 1);

    const grouped = await c.activity.count(`${query} GROUP BY ExecutionStatus`);
    assert.equal(grouped.count, 3);
    assert.deepEqual(
      grouped.groups.map((gr) => [gr.groupValues, gr.count]).sort((x, y) => String(x[0]).localeCompare(String(y[0]))),
      [
        [[['Completed']], 2],
        [[['Running']], 1],
      ],
    );

    const listed = [];
    for await (const info of c.activity.list(completedQuery)) {
      listed.push(info);
    }
    assert.deepEqual(listed.map((i) => i.activityId).sort(), done.map((h) => h.activityId).sort());
    for (const info of listed) {
      const h = done.find((x) => x.activityId === info.activityId);
      assert.equal(info.activityRunId, h.runId);
      assert.equal(info.activityType, 'greet');
      assert.equal(info.taskQueue, taskQueue);
      assert.equal(info.status, 'COMPLETED');
      assert.ok(info.scheduleTime instanceof Date);
      assert.ok(info.closeTime >= info.scheduleTime);
      assert.equal(info.typedSearchAttributes.get(tsTag), tag);
    }
    const runningListed = [];
    for await (const info of c.activity.list(`${query} AND ExecutionStatus = 'Running'`)) {
      runningListed.push(info);
    }
    assert.deepEqual(
      runningListed.map((i) => [i.activityId, i.activityRunId, i.activityType, i.status, i.closeTime]),
      [[running, live.runId, 'heartbeater', 'RUNNING', undefined]],
    );
    assert.equal((await live.describe()).typedSearchAttributes.get(tsTag), tag);

    const badQuery = await rejection(c.activity.count('NoSuchAttribute = 1'));
    assert.ok(badQuery instanceof ServiceError);
    assert.equal(badQuery.cause.code, grpcStatus.INVALID_ARGUMENT);

    await live.cancel('listed');
    await rejection(live.result());
  });
});
