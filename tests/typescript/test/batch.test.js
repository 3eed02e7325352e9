// Batch operations through the TypeScript SDK's raw service (`client.workflowService`):
// StartBatchOperation (terminate by visibility query, signal by a list of executions),
// DescribeBatchOperation until the job is done, ListBatchOperations and StopBatchOperation.
// Only one batch runs at a time in a namespace: each test waits until none is running.
const { test, beforeEach } = require('node:test');
const assert = require('node:assert/strict');
const { status: grpcStatus } = require('@grpc/grpc-js');
const { Connection } = require('@temporalio/client');
const { temporal } = require('@temporalio/proto');
const { defaultPayloadConverter } = require('@temporalio/common');
const { tsToMs } = require('@temporalio/common/lib/time');
const { address, client, namespace, target, unique, withWorker, eventually } = require('./support');

const { BatchOperationType, BatchOperationState, ExecutionType, EventType } = temporal.api.enums.v1;
const { RUNNING, COMPLETED, FAILED } = {
  RUNNING: BatchOperationState.BATCH_OPERATION_STATE_RUNNING,
  COMPLETED: BatchOperationState.BATCH_OPERATION_STATE_COMPLETED,
  FAILED: BatchOperationState.BATCH_OPERATION_STATE_FAILED,
};


async function describeBatch(c, jobId) {
  return await c.workflowService.describeBatchOperation({ namespace, jobId });
}

/** The job's description once it has left RUNNING. */
function batchDone(c, jobId) {
  return eventually(async () => {
    const d = await describeBatch(c, jobId);
    return d.state === RUNNING ? undefined : d;
  }, `batch ${jobId} to finish`);
}

/** [total, complete, failure] of a description. */
const counts = (d) => [d.totalOperationCount, d.completeOperationCount, d.failureOperationCount].map(Number);

/** What visibility counts for `query`, once it is `n` (visibility lags on the real server). */
function visible(c, query, n) {
  return eventually(
    async () => ((await c.workflow.count(query)).count === n ? n : undefined),
    `${n} executions for ${query}`,
    200,
  );
}

/** The gRPC error a call fails with. */
async function grpcError(call) {
  const err = await call.then(
    () => undefined,
    (e) => e,
  );
  assert.ok(err, 'the call succeeded');
  return { code: err.code, details: err.details };
}

/** Workflows that do not exist (each item is NOT_FOUND: a success for a batch). */
function ghosts(n) {
  const tag = unique('ghost');
  return Array.from({ length: n }, (_, i) => ({ workflowId: `${tag}-${i}` }));
}

beforeEach(async () => {
  // One batch at a time per namespace: wait for the previous test's job to be listed done.
  const c = await client();
  await eventually(
    async () => {
      const { operationInfo } = await c.workflowService.listBatchOperations({ namespace });
      return operationInfo.some((i) => i.state === RUNNING) ? undefined : true;
    },
    'no batch running',
    200,
  );
});

test('a batch terminates the running workflows a visibility query matches', async () => {
  const c = await client();
  await withWorker(async (taskQueue) => {
    const done = await c.workflow.start('waitForApproval', { taskQueue, workflowId: unique('bt-done') });
    await done.signal('approve', 'before');
    assert.equal(await done.result(), 'before');
    const targets = [];
    for (let i = 0; i < 3; i++) {
      targets.push(await c.workflow.start('waitForApproval', { taskQueue, workflowId: unique('bt') }));
    }
    const query = `TaskQueue = '${taskQueue}'`;
    await visible(c, `${query} AND ExecutionStatus = 'Running'`, 3);
    await visible(c, query, 4);

    const jobId = unique('batch-terminate');
    const started = Date.now();
    await c.workflowService.startBatchOperation({
      namespace,
      jobId,
      visibilityQuery: query,
      reason: 'ts batch terminate',
      terminationOperation: { identity: 'ts-terminator' },
    });
    const d = await batchDone(c, jobId);
    assert.equal(d.state, COMPLETED);
    assert.equal(d.jobId, jobId);
    assert.equal(d.operationType, BatchOperationType.BATCH_OPERATION_TYPE_TERMINATE_WORKFLOW);
    // Terminate only takes running workflows: the completed match is not counted.
    assert.deepEqual(counts(d), [3, 3, 0]);
    assert.equal(d.identity, 'ts-terminator');
    assert.equal(d.reason, 'ts batch terminate');
    assert.equal(d.query, query);
    assert.deepEqual(d.executions, []);
    const [start, close] = [tsToMs(d.startTime), tsToMs(d.closeTime)];
    assert.ok(started - 5000 < start && start <= close && close < Date.now() + 5000, `${start} ${close}`);

    for (const h of targets) {
      const description = await h.describe();
      assert.equal(description.status.name, 'TERMINATED');
      const { events } = await h.fetchHistory();
      const last = events[events.length - 1];
      assert.equal(last.eventType, EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED);
      const terminated = last.workflowExecutionTerminatedEventAttributes;
      assert.equal(terminated.reason, 'ts batch terminate');
      // The server's own batch client terminates (`<pid>@<host>@`), not the operation's identity.
      assert.match(terminated.identity, /^\d+@[^@]+@$/);
    }
    assert.equal((await done.describe()).status.name, 'COMPLETED');
    await visible(c, `${query} AND ExecutionStatus = 'Terminated'`, 3);
  });
});

test('a batch signals the workflows of a list of executions, and only those', async () => {
  const c = await client();
  await withWorker(async (taskQueue) => {
    const [a, b, untouched] = [
      await c.workflow.start('waitForApproval', { taskQueue, workflowId: unique('bs-a') }),
      await c.workflow.start('waitForApproval', { taskQueue, workflowId: unique('bs-b') }),
      await c.workflow.start('waitForApproval', { taskQueue, workflowId: unique('bs-untouched') }),
    ];
    const bRun = (await b.describe()).runId;
    const jobId = unique('batch-signal');
    await c.workflowService.startBatchOperation({
      namespace,
      jobId,
      reason: 'ts batch signal',
      executions: [{ workflowId: a.workflowId }, { workflowId: b.workflowId, runId: bRun }],
      signalOperation: {
        signal: 'approve',
        input: { payloads: [defaultPayloadConverter.toPayload('batch')] },
        identity: 'ts-signaller',
      },
    });
    const d = await batchDone(c, jobId);
    assert.equal(d.state, COMPLETED);
    assert.equal(d.operationType, BatchOperationType.BATCH_OPERATION_TYPE_SIGNAL_WORKFLOW);
    assert.deepEqual(counts(d), [2, 2, 0]);
    assert.equal(d.identity, 'ts-signaller');
    assert.equal(d.reason, 'ts batch signal');
    assert.equal(d.query, '');
    assert.deepEqual(
      d.executions.map((e) => [e.type, e.businessId, e.runId]),
      [
        [ExecutionType.EXECUTION_TYPE_WORKFLOW, a.workflowId, ''],
        [ExecutionType.EXECUTION_TYPE_WORKFLOW, b.workflowId, bRun],
      ],
    );

    // The signalled runs got the input and completed with it.
    assert.equal(await a.result(), 'batch');
    assert.equal(await b.result(), 'batch');
    const { events } = await a.fetchHistory();
    const signalled = events.filter((e) => e.eventType === EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED);
    assert.equal(signalled.length, 1);
    const attrs = signalled[0].workflowExecutionSignaledEventAttributes;
    assert.equal(attrs.signalName, 'approve');
    assert.equal(attrs.identity, 'ts-signaller');
    assert.deepEqual(attrs.input.payloads.map((p) => defaultPayloadConverter.fromPayload(p)), ['batch']);
    assert.ok(attrs.requestId);
    // The one not listed is still waiting.
    assert.equal((await untouched.describe()).status.name, 'RUNNING');
    await untouched.signal('approve', 'by hand');
    assert.equal(await untouched.result(), 'by hand');
  });
});

test('one batch at a time; stop fails a running job; list shows jobs newest first', async () => {
  const c = await client();
  const firstId = unique('batch-first');
  await c.workflowService.startBatchOperation({
    namespace,
    jobId: firstId,
    reason: 'small',
    executions: ghosts(2),
    cancellationOperation: { identity: 'ts-canceller' },
  });
  const first = await batchDone(c, firstId);
  assert.equal(first.state, COMPLETED);
  assert.equal(first.operationType, BatchOperationType.BATCH_OPERATION_TYPE_CANCEL_WORKFLOW);
  // Workflows that do not exist count as done.
  assert.deepEqual(counts(first), [2, 2, 0]);

  // 500 items at the namespace's default pace (50 a second): it runs for seconds.
  const longId = unique('batch-long');
  await c.workflowService.startBatchOperation({
    namespace,
    jobId: longId,
    reason: 'long',
    executions: ghosts(500),
    signalOperation: { signal: 'nobody-listens', identity: 'ts-long' },
  });
  const running = await describeBatch(c, longId);
  assert.equal(running.state, RUNNING);
  assert.equal(running.closeTime, null);
  assert.equal(running.executions.length, 500);

  // The limit counts the running jobs visibility knows of: wait until it lists this one.
  await eventually(
    async () => {
      const { operationInfo } = await c.workflowService.listBatchOperations({ namespace });
      return operationInfo.some((i) => i.jobId === longId && i.state === RUNNING) ? true : undefined;
    },
    'the long job listed as running',
    200,
  );
  // A second job is refused while this one runs. (RESOURCE_EXHAUSTED is an error the SDK's
  // connection retries by default, for as long as the first job runs: ask without retries.)
  const noRetries = await Connection.connect({ address, interceptors: [] });
  try {
    for (const jobId of [unique('batch-second'), longId]) {
      const second = await grpcError(
        noRetries.workflowService.startBatchOperation({
          namespace,
          jobId,
          reason: 'second',
          executions: ghosts(1),
          terminationOperation: {},
        }),
      );
      assert.deepEqual(second, {
        code: grpcStatus.RESOURCE_EXHAUSTED,
        details: 'Max concurrent batch operations is reached',
      });
    }
  } finally {
    await noRetries.close();
  }

  await c.workflowService.stopBatchOperation({ namespace, jobId: longId, reason: 'enough', identity: 'ts-stopper' });
  const stopped = await batchDone(c, longId);
  assert.equal(stopped.state, FAILED);
  assert.ok(tsToMs(stopped.closeTime) >= tsToMs(stopped.startTime));
  assert.equal(stopped.reason, 'long');
  assert.equal(stopped.identity, 'ts-long');
  if (target === 'temporal') {
    // The real server's stopped job reports no counts (its progress is not kept).
    assert.deepEqual(counts(stopped), [0, 0, 0]);
  } else {
    // Endure keeps a stopped job's progress (a deliberate difference, as in the Python suite's
    // test_batch.py): what was done before the stop, not all of it.
    const [total, complete, failure] = counts(stopped);
    assert.equal(total, 500);
    assert.ok(complete < 500, `${complete}`);
    assert.equal(failure, 0);
  }
  assert.deepEqual(
    await grpcError(c.workflowService.stopBatchOperation({ namespace, jobId: longId, reason: 'again' })),
    { code: grpcStatus.NOT_FOUND, details: 'workflow execution already completed' },
  );
  const unknown = unique('batch-unknown');
  assert.deepEqual(await grpcError(describeBatch(c, unknown)), {
    code: grpcStatus.NOT_FOUND,
    details: `workflow not found for ID: ${unknown}`,
  });

  // The list: newest first, with states and types.
  const listed = await eventually(
    async () => {
      const { operationInfo } = await c.workflowService.listBatchOperations({ namespace });
      const mine = operationInfo.filter((i) => i.jobId === firstId || i.jobId === longId);
      return mine.length === 2 && mine.every((i) => i.state !== RUNNING) ? mine : undefined;
    },
    'both jobs listed as done',
    200,
  );
  assert.deepEqual(
    listed.map((i) => [i.jobId, i.state, i.operationType]),
    [
      [longId, FAILED, BatchOperationType.BATCH_OPERATION_TYPE_SIGNAL_WORKFLOW],
      [firstId, COMPLETED, BatchOperationType.BATCH_OPERATION_TYPE_CANCEL_WORKFLOW],
    ],
  );
  for (const [info, d] of [
    [listed[0], stopped],
    [listed[1], first],
  ]) {
    assert.ok(Math.abs(tsToMs(info.startTime) - tsToMs(d.startTime)) < 1);
    assert.ok(Math.abs(tsToMs(info.closeTime) - tsToMs(d.closeTime)) < 1);
  }
  const page = await c.workflowService.listBatchOperations({ namespace, pageSize: 1 });
  assert.deepEqual(
    page.operationInfo.map((i) => i.jobId),
    [longId],
  );
  assert.ok(page.nextPageToken?.length > 0);

  // The namespace is free again.
  const afterId = unique('batch-after');
  await c.workflowService.startBatchOperation({
    namespace,
    jobId: afterId,
    reason: 'after the stop',
    executions: ghosts(1),
    signalOperation: { signal: 'nobody-listens' },
  });
  assert.deepEqual(counts(await batchDone(c, afterId)), [1, 1, 0]);
});
