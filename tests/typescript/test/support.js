// What the suite's tests share: the server's address (from the launcher, see README.md), one
// client, workers on a workflow bundle made once per test file, and unique names.
const { randomUUID } = require('node:crypto');
const { after } = require('node:test');
const { Connection, Client } = require('@temporalio/client');
const { Worker, NativeConnection, Runtime, DefaultLogger, bundleWorkflowCode } = require('@temporalio/worker');
const activities = require('../src/activities');

const address = process.env.TEMPORAL_ADDRESS;
if (!address) {
  throw new Error('TEMPORAL_ADDRESS is not set: run the suite through `npm test` under the launcher (README.md)');
}
const namespace = process.env.TEMPORAL_NAMESPACE || 'default';
/** `endure` or `temporal` (the real dev server, which validates the tests). */
const target = process.env.ENDURE_TEST_TARGET || 'endure';

Runtime.install({ logger: new DefaultLogger('WARN') });

let bundle;
/** The suite's workflows, bundled once per process. */
function workflowBundle() {
  bundle ??= bundleWorkflowCode({
    workflowsPath: require.resolve('../src/workflows.js'),
    logger: new DefaultLogger('WARN'),
  });
  return bundle;
}

let clientPromise;
/** A client of the server under test (one connection per test file). */
function client() {
  clientPromise ??= Connection.connect({ address }).then((connection) => new Client({ connection, namespace }));
  return clientPromise;
}

after(async () => {
  if (clientPromise) {
    await (await clientPromise).connection.close();
  }
});

/** A name no other test uses. */
function unique(prefix) {
  return `${prefix}-${randomUUID().slice(0, 12)}`;
}

/**
 * Runs `fn(taskQueue)` while a worker (the suite's workflows and activities, on a fresh task
 * queue) polls; `options` go to `Worker.create`. Returns what `fn` returns.
 */
async function withWorker(fn, options = {}) {
  const taskQueue = options.taskQueue ?? unique('tq');
  const connection = await NativeConnection.connect({ address });
  try {
    const worker = await Worker.create({
      connection,
      namespace,
      taskQueue,
      workflowBundle: await workflowBundle(),
      activities,
      ...options,
    });
    return await worker.runUntil(fn(taskQueue));
  } finally {
    await connection.close();
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Calls `probe` until it returns something other than `undefined` (at most `deadlineMs`); returns that. */
async function eventually(probe, what, every = 100, deadlineMs = 30_000) {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) {
      return value;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}`);
    }
    await sleep(every);
  }
}

module.exports = { address, namespace, target, client, unique, withWorker, sleep, eventually };
