// Activities through the TypeScript SDK on default worker options: the first thing a new user
// runs. Each test was first run against the real dev server (README.md).
const { test } = require('node:test');
const assert = require('node:assert/strict');
const { client, unique, withWorker } = require('./support');

async function run(workflow, args, taskQueue) {
  const c = await client();
  return await c.workflow.execute(workflow, { taskQueue, workflowId: unique(workflow), args });
}

test('hello world: a workflow runs one activity on default options', async () => {
  const result = await withWorker((tq) => run('hello', ['Endure'], tq));
  assert.equal(result, 'Hello, Endure!');
});

test('a failing activity is retried by the server until it succeeds', async () => {
  const attempt = await withWorker((tq) => run('retried', [2], tq));
  assert.equal(attempt, 3);
});

test('a non-retryable failure reaches the workflow as an ActivityFailure at once', async () => {
  const outcome = await withWorker((tq) => run('nonRetryable', [], tq));
  assert.equal(outcome, 'ActivityFailure/Doomed/true');
});

test('an activity past its start-to-close timeout fails with a TimeoutFailure after its attempts', async () => {
  const outcome = await withWorker((tq) => run('timedOut', [], tq));
  assert.equal(outcome, 'ActivityFailure/TimeoutFailure/START_TO_CLOSE');
});

test('a heartbeating activity sees its cancellation and the workflow gets its result', async () => {
  const outcome = await withWorker((tq) => run('cancelActivity', [], tq));
  assert.equal(outcome, 'cancelled');
});

test('a retried activity reads the heartbeat details of its previous attempt', async () => {
  const details = await withWorker((tq) => run('heartbeatDetails', [], tq));
  assert.equal(details, 'checkpoint-1');
});
