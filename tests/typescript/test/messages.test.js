// Signals, queries and updates through the TypeScript SDK.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const { WorkflowUpdateFailedError } = require('@temporalio/client');
const { client, unique, withWorker } = require('./support');

// What an update naming a first run id other than the workflow's gets (the real server's).
const UPDATE_WRONG_FIRST_RUN = 'WorkflowNotFoundError: undefined';
// An update id used again after the run closed (the real server's answer).
const AGAIN_AFTER_CLOSE = 4;
// An accepted update whose handler had not finished when the run completed.
const UNFINISHED_OUTCOME =
  'WorkflowUpdateFailedError: ApplicationFailure Workflow Update failed because the Workflow completed before the Update completed.';

test('updates are validated and applied, queries read the state, a signal finishes the run', async () => {
  const c = await client();
  await withWorker(async (taskQueue) => {
    const handle = await c.workflow.start('counter', { taskQueue, workflowId: unique('counter') });
    assert.equal(await handle.executeUpdate('add', { args: [2] }), 2);
    assert.equal(await handle.executeUpdate('add', { args: [3] }), 5);
    await assert.rejects(handle.executeUpdate('add', { args: [-1] }), WorkflowUpdateFailedError);
    assert.deepEqual(await handle.query('state'), { total: 5, approvedBy: null });
    await handle.signal('approve', 'ops');
    assert.deepEqual(await handle.result(), { total: 5, approvedBy: 'ops' });
    // A closed run still answers queries.
    assert.deepEqual(await handle.query('state'), { total: 5, approvedBy: 'ops' });
  });
});

test('an update started without waiting is completed and its result fetched later', async () => {
  const c = await client();
  await withWorker(async (taskQueue) => {
    const handle = await c.workflow.start('counter', { taskQueue, workflowId: unique('counter') });
    const update = await handle.startUpdate('add', { args: [7], waitForStage: 'ACCEPTED', updateId: 'u-1' });
    assert.equal(await update.result(), 7);
    assert.equal(await handle.getUpdateHandle('u-1').result(), 7);
    await handle.signal('approve', 'later');
    assert.deepEqual(await handle.result(), { total: 7, approvedBy: 'later' });
    // The outcome is still there once the run has closed.
    assert.equal(await handle.getUpdateHandle('u-1').result(), 7);
  });
});

test('an update naming another first run is refused', async () => {
  const c = await client();
  await withWorker(async (taskQueue) => {
    const workflowId = unique('counter');
    const handle = await c.workflow.start('counter', { taskQueue, workflowId });
    const stranger = c.workflow.getHandle(workflowId, undefined, { firstExecutionRunId: '01936b8e-0000-7000-8000-000000000000' });
    const refused = await stranger.executeUpdate('add', { args: [1] }).then(
      () => 'applied',
      (err) => `${err.constructor.name}: ${err.cause?.constructor.name}`,
    );
    assert.equal(refused, UPDATE_WRONG_FIRST_RUN);
    assert.deepEqual(await handle.query('state'), { total: 0, approvedBy: null });
    await handle.signal('approve', 'x');
    await handle.result();
  });
});

test('after the run closed: a completed update answers again by its id, an unfinished one fails', async () => {
  const c = await client();
  await withWorker(async (taskQueue) => {
    const done = await c.workflow.start('counter', { taskQueue, workflowId: unique('counter') });
    assert.equal(await done.executeUpdate('add', { args: [4], updateId: 'once' }), 4);
    await done.signal('approve', 'x');
    await done.result();
    // The same update id again, after close: the recorded outcome, not an error.
    const again = await done.executeUpdate('add', { args: [4], updateId: 'once' }).then(
      (r) => r,
      (err) => `${err.constructor.name}: ${err.cause?.constructor.name} ${err.message}`,
    );
    assert.equal(again, AGAIN_AFTER_CLOSE);

    const held = await c.workflow.start('unfinishedUpdates', { taskQueue, workflowId: unique('held') });
    const update = await held.startUpdate('hold', { waitForStage: 'ACCEPTED', updateId: 'held-1' });
    await held.signal('finish');
    assert.equal(await held.result(), 'finished');
    const outcome = await update.result().then(
      (r) => `result ${r}`,
      (err) => `${err.constructor.name}: ${err.cause?.constructor.name} ${err.cause?.message}`,
    );
    assert.equal(outcome, UNFINISHED_OUTCOME);
  });
});
