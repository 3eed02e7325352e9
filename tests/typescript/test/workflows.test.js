// Child workflows, continue-as-new, timers, signal-with-start, search attributes, list,
// describe and history through the TypeScript SDK.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const { WorkflowExecutionAlreadyStartedError } = require('@temporalio/client');
const { client, unique, withWorker } = require('./support');

// What signal-with-start with the FAIL conflict policy answers (the real server's words).
const FAIL_OUTCOME =
  'ServiceError: 3 Invalid WorkflowIDConflictPolicy: WORKFLOW_ID_CONFLICT_POLICY_FAIL is not supported for this operation.';

test('a parent awaits two children and sums their results', async () => {
  const c = await client();
  const workflowId = unique('parent');
  const sum = await withWorker((taskQueue) => c.workflow.execute('parent', { taskQueue, workflowId }));
  assert.equal(sum, 6);
  const childDescription = await c.workflow.getHandle(`${workflowId}-child-1`).describe();
  assert.equal(childDescription.status.name, 'COMPLETED');
  assert.equal(childDescription.parentExecution?.workflowId, workflowId);
});

test('continue-as-new runs a chain of runs to the last one', async () => {
  const c = await client();
  const workflowId = unique('loop');
  const last = await withWorker((taskQueue) => c.workflow.execute('loop', { taskQueue, workflowId, args: [1, 3] }));
  assert.equal(last, 3);
  const description = await c.workflow.getHandle(workflowId).describe();
  assert.equal(description.status.name, 'COMPLETED');
  assert.notEqual(description.runId, description.raw.workflowExecutionInfo.firstRunId);
});

test('the earlier of two timers fires first; the run completes with the other pending', async () => {
  const c = await client();
  const workflowId = unique('timers');
  const result = await withWorker((taskQueue) => c.workflow.execute('timers', { taskQueue, workflowId }));
  assert.deepEqual(result, { winner: 'short', elapsedAtLeast200: true });
  const history = await c.workflow.getHandle(workflowId).fetchHistory();
  const types = history.events.map((e) => e.eventType);
  // EventType 17: TimerStarted, 18: TimerFired, 19: TimerCanceled (proto enum numbers). The
  // SDK completes the run without cancelling the hour-long timer.
  assert.equal(types.filter((t) => t === 17).length, 2);
  assert.equal(types.filter((t) => t === 18).length, 1);
  assert.equal(types.filter((t) => t === 19).length, 0);
});

test('signal-with-start starts a run, then signals the running one', async () => {
  const c = await client();
  await withWorker(async (taskQueue) => {
    const workflowId = unique('sws');
    const first = await c.workflow.signalWithStart('waitForApproval', {
      taskQueue,
      workflowId,
      signal: 'approve',
      signalArgs: ['alice'],
    });
    assert.equal(await first.result(), 'alice');
    // The run is closed: signal-with-start starts a second run (the default reuse policy).
    const second = await c.workflow.signalWithStart('waitForApproval', {
      taskQueue,
      workflowId,
      signal: 'approve',
      signalArgs: ['bob'],
    });
    assert.notEqual(second.signaledRunId, first.signaledRunId);
    assert.equal(await c.workflow.getHandle(workflowId).result(), 'bob');
  });
});

test('starting a running workflow id again is refused', async () => {
  const c = await client();
  await withWorker(async (taskQueue) => {
    const workflowId = unique('dup');
    const handle = await c.workflow.start('waitForApproval', { taskQueue, workflowId });
    await assert.rejects(c.workflow.start('waitForApproval', { taskQueue, workflowId }), WorkflowExecutionAlreadyStartedError);
    await handle.signal('approve', 'done');
    assert.equal(await handle.result(), 'done');
  });
});

test('search attributes set by a workflow are listed, counted and described', async () => {
  const c = await client();
  const tag = unique('tag');
  const workflowId = unique('tagged');
  await withWorker((taskQueue) => c.workflow.execute('tagged', { taskQueue, workflowId, args: [tag] }));
  const query = `TsTag = '${tag}'`;
  let listed = [];
  for (let i = 0; i < 50 && listed.length === 0; i++) {
    listed = [];
    for await (const w of c.workflow.list({ query })) {
      listed.push(w);
    }
    if (listed.length === 0) {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  assert.deepEqual(listed.map((w) => w.workflowId), [workflowId]);
  assert.equal(listed[0].status.name, 'COMPLETED');
  assert.equal((await c.workflow.count(query)).count, 1);
  const description = await c.workflow.getHandle(workflowId).describe();
  assert.deepEqual(description.searchAttributes.TsTag, [tag]);
  assert.equal(description.type, 'tagged');
});

test('signal-with-start under each id-conflict policy while a run is open', async () => {
  const c = await client();
  await withWorker(async (taskQueue) => {
    const workflowId = unique('sws-policy');
    const first = await c.workflow.start('waitForApproval', { taskQueue, workflowId });
    const firstRunId = first.firstExecutionRunId;
    // USE_EXISTING (the default): the running run gets the signal.
    const used = await c.workflow.signalWithStart('waitForApproval', {
      taskQueue,
      workflowId,
      signal: 'noise',
      workflowIdConflictPolicy: 'USE_EXISTING',
    });
    assert.equal(used.signaledRunId, firstRunId);
    // FAIL: not a policy signal-with-start takes.
    const failed = await c.workflow
      .signalWithStart('waitForApproval', {
        taskQueue,
        workflowId,
        signal: 'approve',
        signalArgs: ['nobody'],
        workflowIdConflictPolicy: 'FAIL',
      })
      .then(
        (h) => `started ${h.signaledRunId === firstRunId ? 'the same run' : 'a new run'}`,
        (err) => `${err.constructor.name}: ${err.cause?.code} ${err.cause?.details}`,
      );
    // TERMINATE_EXISTING: the open run is terminated and a new one gets the signal.
    const replaced = await c.workflow.signalWithStart('waitForApproval', {
      taskQueue,
      workflowId,
      signal: 'approve',
      signalArgs: ['carol'],
      workflowIdConflictPolicy: 'TERMINATE_EXISTING',
    });
    assert.notEqual(replaced.signaledRunId, firstRunId);
    assert.equal(await c.workflow.getHandle(workflowId, replaced.signaledRunId).result(), 'carol');
    const old = await c.workflow.getHandle(workflowId, firstRunId).describe();
    assert.equal(old.status.name, 'TERMINATED');
    assert.equal(failed, FAIL_OUTCOME);
  });
});
