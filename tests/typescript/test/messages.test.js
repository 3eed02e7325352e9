// Signals, queries and updates through the TypeScript SDK.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const { WorkflowUpdateFailedError } = require('@temporalio/client');
const { client, unique, withWorker } = require('./support');

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
  });
});
