// Worker Deployments through the TypeScript SDK: versioned workers (`workerDeploymentOptions`
// with `useWorkerVersioning: true` and a `defaultVersioningBehavior`), workflows declaring their
// own behavior (`setWorkflowOptions({ versioningBehavior })`), and the deployment RPCs through
// the raw service (`client.workflowService`: SDK 1.24 has no deployment client):
// SetWorkerDeploymentCurrentVersion, SetWorkerDeploymentRampingVersion,
// DescribeWorkerDeployment, DescribeWorkerDeploymentVersion, ListWorkerDeployments. What is
// pinned: a Pinned run stays on the version of its first task while an AutoUpgrade run moves to
// the new current version (WorkflowTaskCompleted's deployment_version, Describe's
// versioning_info); a partial ramp splits new runs by the server's hash of the workflow id
// (farmhash Fingerprint32, exact); 0 % and 100 %; the Describe/List shapes; the errors of unknown
// deployments and versions, exact as the SDK reports them. Drainage is not tested (the launcher
// cannot pass the dynamic config that makes it quick). Each test was first run against the real
// dev server (README.md); /work/notes/worker-deployments.md has the wire facts.
const { test, after } = require('node:test');
const assert = require('node:assert/strict');
const { isDeepStrictEqual } = require('node:util');
const { randomUUID } = require('node:crypto');
const { status: grpcStatus } = require('@grpc/grpc-js');
const { Connection } = require('@temporalio/client');
const { temporal } = require('@temporalio/proto');
const { Worker, NativeConnection, DefaultLogger, bundleWorkflowCode } = require('@temporalio/worker');
const { address, client, namespace, unique, sleep, eventually: eventuallyWithin } = require('./support');

const DEADLINE_MS = 20_000;
/** Calls `probe` until it returns something other than `undefined`; returns that. */
const eventually = (probe, what, every = 100) => eventuallyWithin(probe, what, every, DEADLINE_MS);

const { EventType, VersioningBehavior, WorkerDeploymentVersionStatus, RoutingConfigUpdateState, TaskQueueType } =
  temporal.api.enums.v1;
const PINNED = VersioningBehavior.VERSIONING_BEHAVIOR_PINNED;
const AUTO_UPGRADE = VersioningBehavior.VERSIONING_BEHAVIOR_AUTO_UPGRADE;
const INACTIVE = WorkerDeploymentVersionStatus.WORKER_DEPLOYMENT_VERSION_STATUS_INACTIVE;
const CURRENT = WorkerDeploymentVersionStatus.WORKER_DEPLOYMENT_VERSION_STATUS_CURRENT;
const RAMPING = WorkerDeploymentVersionStatus.WORKER_DEPLOYMENT_VERSION_STATUS_RAMPING;
const DRAINING = WorkerDeploymentVersionStatus.WORKER_DEPLOYMENT_VERSION_STATUS_DRAINING;
const DRAINED = WorkerDeploymentVersionStatus.WORKER_DEPLOYMENT_VERSION_STATUS_DRAINED;
const COMPLETED = RoutingConfigUpdateState.ROUTING_CONFIG_UPDATE_STATE_COMPLETED;
const WORKFLOW_TQ = TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW;
const UNVERSIONED = '__unversioned__';

// ---------------------------------------------------------------- ramp hash

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;
const rot = (v, s) => ((v >>> s) | (v << (32 - s))) >>> 0;
const add = (a, b) => (a + b) >>> 0;
const mul = (a, b) => Math.imul(a, b) >>> 0;
function fmix(h) {
  h = mul(h ^ (h >>> 16), 0x85ebca6b);
  h = mul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}
function mur(a, h) {
  a = mul(rot(mul(a, C1), 17), C2);
  h = rot((h ^ a) >>> 0, 19);
  return add(mul(h, 5), 0xe6546b64);
}

/** FarmHash Fingerprint32 (farmhashmk Hash32, as the Go server's dgryski/go-farm has it). */
function fingerprint32(text) {
  const s = Buffer.from(text, 'utf8');
  const n = s.length;
  const at = (i) => s.readUInt32LE(i);
  if (n <= 4) {
    let b = 0;
    let c = 9;
    for (const x of s) {
      b = add(mul(b, C1), x >= 128 ? x - 256 : x);
      c = (c ^ b) >>> 0;
    }
    return fmix(mur(b, mur(n, c)));
  }
  if (n <= 12) {
    const a = add(n, at(0));
    const b = add(n * 5, at(n - 4));
    const c = add(9, at((n >>> 1) & 4));
    return fmix(mur(c, mur(b, mur(a, n * 5))));
  }
  if (n <= 24) {
    let a = at((n >>> 1) - 4);
    const b = at(4);
    const c = at(n - 8);
    const d = at(n >>> 1);
    const e = at(0);
    const f = at(n - 4);
    let h = add(mul(d, C1), n);
    a = add(rot(a, 12), f);
    h = add(mur(c, h), a);
    a = add(rot(a, 3), c);
    h = add(mur(e, h), a);
    a = add(rot(add(a, f), 12), d);
    h = add(mur(b, h), a);
    return fmix(h);
  }
  let h = n;
  let g = mul(C1, n);
  let f = g;
  const [a0, a1, a2, a3, a4] = [4, 8, 16, 12, 20].map((k) => mul(rot(mul(at(n - k), C1), 17), C2));
  h = add(mul(rot((h ^ a0) >>> 0, 19), 5), 0xe6546b64);
  h = add(mul(rot((h ^ a2) >>> 0, 19), 5), 0xe6546b64);
  g = add(mul(rot((g ^ a1) >>> 0, 19), 5), 0xe6546b64);
  g = add(mul(rot((g ^ a3) >>> 0, 19), 5), 0xe6546b64);
  f = add(rot(add(f, a4), 19), 113);
  for (let p = 0; p < Math.floor((n - 1) / 20) * 20; p += 20) {
    const [a, b, c, d, e] = [0, 4, 8, 12, 16].map((k) => at(p + k));
    h = add(h, a);
    g = add(g, b);
    f = add(f, c);
    h = add(mur(d, h), e);
    g = add(mur(c, g), a);
    f = add(mur(add(b, mul(e, C1)), f), d);
    f = add(f, g);
    g = add(g, f);
  }
  g = mul(rot(mul(rot(g, 11), C1), 17), C1);
  f = mul(rot(mul(rot(f, 11), C1), 17), C1);
  h = add(mul(rot(add(h, g), 19), 5), 0xe6546b64);
  h = mul(rot(h, 17), C1);
  h = add(mul(rot(add(h, f), 19), 5), 0xe6546b64);
  return mul(rot(h, 17), C1);
}

/** The server's choice for a partial ramp: a [0, 100) threshold from the workflow id. */
const goesToRamping = (workflowId, percentage) => 100 * (fingerprint32(workflowId) / 2 ** 32) <= percentage;

// ---------------------------------------------------------------- workers

let bundle;
/** This file's workflows (versioned-workflows.js), bundled once. */
function versionedBundle() {
  bundle ??= bundleWorkflowCode({
    workflowsPath: require.resolve('./versioned-workflows.js'),
    logger: new DefaultLogger('WARN'),
  });
  return bundle;
}

/**
 * Runs `fn()` while a worker of version `deployment`.`buildId` (default versioning behavior
 * `behavior`) polls `taskQueue`; returns what `fn` returns.
 */
async function withVersionedWorker({ taskQueue, deployment, buildId, behavior = 'PINNED' }, fn) {
  const connection = await NativeConnection.connect({ address });
  try {
    const worker = await Worker.create({
      connection,
      namespace,
      taskQueue,
      workflowBundle: await versionedBundle(),
      workerDeploymentOptions: {
        version: { deploymentName: deployment, buildId },
        useWorkerVersioning: true,
        defaultVersioningBehavior: behavior,
      },
    });
    return await worker.runUntil(fn());
  } finally {
    await connection.close();
  }
}

// ---------------------------------------------------------------- raw calls

const wdv = (deployment, buildId) => ({ buildId, deploymentName: deployment });
/** A structured deployment version of a response, as a plain object (or null when absent). */
const version = (v) => (v ? { buildId: v.buildId, deploymentName: v.deploymentName } : null);
/** A timestamp as a comparable string (or null when absent). */
const ts = (t) => (t ? `${String(t.seconds).padStart(12, '0')}.${String(t.nanos ?? 0).padStart(9, '0')}` : null);

async function describeDeployment(c, deployment) {
  return await c.workflowService.describeWorkerDeployment({ namespace, deploymentName: deployment });
}

async function describeVersion(c, deployment, buildId) {
  return await c.workflowService.describeWorkerDeploymentVersion({
    namespace,
    deploymentVersion: wdv(deployment, buildId),
  });
}

/** Until the version exists with a task queue (its worker polled); its description. */
function waitVersion(c, deployment, buildId) {
  return eventually(async () => {
    try {
      const d = await describeVersion(c, deployment, buildId);
      return d.versionTaskQueues.length > 0 ? d : undefined;
    } catch (err) {
      if (err.code === grpcStatus.NOT_FOUND) {
        return undefined;
      }
      throw err;
    }
  }, `version ${deployment}:${buildId} to be registered`);
}

/**
 * Until the last routing change reached the deployment's task queues; the description. (The real
 * server propagates it asynchronously: about 1 s, much longer on a busy machine.)
 */
function routingDone(c, deployment) {
  return eventuallyWithin(
    async () => {
      const d = await describeDeployment(c, deployment);
      return d.workerDeploymentInfo.routingConfigUpdateState === COMPLETED ? d : undefined;
    },
    `routing of ${deployment} to propagate`,
    100,
    60_000,
  );
}

let noRetries;
/** A connection without the SDK's retries (closed after the file's tests). */
function noRetryService() {
  noRetries ??= Connection.connect({ address, interceptors: [] });
  return noRetries.then((connection) => connection.workflowService);
}
after(async () => {
  if (noRetries) {
    await (await noRetries).close();
  }
});

// The codes the SDK retries (its default retry interceptor).
const RETRYABLE = [
  grpcStatus.UNKNOWN,
  grpcStatus.RESOURCE_EXHAUSTED,
  grpcStatus.UNAVAILABLE,
  grpcStatus.ABORTED,
  grpcStatus.DATA_LOSS,
  grpcStatus.OUT_OF_RANGE,
];

/**
 * A routing change (`method` of the raw service), retried as the SDK would, but knowingly: the
 * response gets `retried: true` when an attempt failed first. (On a busy machine the real server
 * may fail an attempt it applied; the retry is then the no-op of the same change, whose
 * `previous_*` fields name the target itself.)
 */
async function routingChange(method, request) {
  const service = await noRetryService();
  for (let attempt = 1; ; attempt++) {
    try {
      const response = await service[method](request);
      response.retried = attempt > 1;
      return response;
    } catch (err) {
      if (attempt >= 8 || !RETRYABLE.includes(err.code)) {
        throw err;
      }
      await sleep(Math.min(200 * 2 ** attempt, 5_000));
    }
  }
}

/** SetWorkerDeploymentCurrentVersion; with `wait`, until the routing reached the task queues. */
async function setCurrent(c, deployment, buildId, { wait = true, ...extra } = {}) {
  const r = await routingChange('setWorkerDeploymentCurrentVersion', {
    namespace,
    deploymentName: deployment,
    buildId,
    ...extra,
  });
  if (wait) {
    await routingDone(c, deployment);
  }
  return r;
}

/** SetWorkerDeploymentRampingVersion; with `wait`, until the routing reached the task queues. */
async function setRamping(c, deployment, buildId, percentage, { wait = true, ...extra } = {}) {
  const r = await routingChange('setWorkerDeploymentRampingVersion', {
    namespace,
    deploymentName: deployment,
    buildId,
    percentage,
    ...extra,
  });
  if (wait) {
    await routingDone(c, deployment);
  }
  return r;
}

/**
 * Asserts the `previous_*` fields of a routing change's response: [version string, structured
 * version, and for a ramp the percentage]. A retried change (see `routingChange`) may instead
 * report `noOp`, what repeating the change answers.
 */
function assertPrevious(r, expected, noOp) {
  const got = [r.previousVersion, version(r.previousDeploymentVersion)];
  if (expected.length > 2) {
    got.push(r.previousPercentage);
  }
  if (r.retried && isDeepStrictEqual(got, noOp)) {
    return;
  }
  assert.deepEqual(got, expected);
}

/** The summary of `buildId` in a DescribeWorkerDeployment response. */
function summary(d, buildId) {
  const found = d.workerDeploymentInfo.versionSummaries.filter((s) => s.deploymentVersion?.buildId === buildId);
  assert.equal(found.length, 1, `one summary of ${buildId}`);
  return found[0];
}

/**
 * The ListWorkerDeployments entry of `deployment` (every page), once it shows the routing config
 * `rc` (the real server lists from visibility, which lags: an entry may be missing or stale for a
 * while, e.g. after its deployment's system workflow continued as new).
 */
function listed(c, deployment, rc) {
  const want = plainRouting(rc);
  return eventually(async () => {
    const found = [];
    let nextPageToken;
    do {
      const page = await c.workflowService.listWorkerDeployments({ namespace, nextPageToken });
      found.push(...page.workerDeployments.filter((e) => e.name === deployment));
      nextPageToken = page.nextPageToken;
    } while (nextPageToken?.length);
    assert.ok(found.length <= 1, `one entry of ${deployment}`);
    return found.length === 1 && isDeepStrictEqual(plainRouting(found[0].routingConfig), want) ? found[0] : undefined;
  }, `${deployment} listed with routing ${JSON.stringify(want)}`, 250);
}

/** A routing config as comparable plain values. */
function plainRouting(rc) {
  return {
    current: [rc.currentVersion, version(rc.currentDeploymentVersion), ts(rc.currentVersionChangedTime)],
    ramping: [
      rc.rampingVersion,
      version(rc.rampingDeploymentVersion),
      rc.rampingVersionPercentage,
      ts(rc.rampingVersionChangedTime),
      ts(rc.rampingVersionPercentageChangedTime),
    ],
    revision: Number(rc.revisionNumber),
  };
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

// ---------------------------------------------------------------- history

async function events(c, workflowId) {
  return (await c.workflow.getHandle(workflowId).fetchHistory()).events;
}

const ofType = (evs, type) => evs.filter((e) => e.eventType === type);
const tasksCompleted = (evs) =>
  ofType(evs, EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED).map((e) => e.workflowTaskCompletedEventAttributes);

/** Until `n` workflow tasks of the run completed; its history. */
function waitTasks(c, workflowId, n) {
  return eventually(async () => {
    const evs = await events(c, workflowId);
    return tasksCompleted(evs).length >= n ? evs : undefined;
  }, `${n} completed workflow tasks of ${workflowId}`, 50);
}

/** (behavior, deployment version, worker deployment name, build id stamp) of a completed task. */
const taskVersion = (t) => ({
  behavior: t.versioningBehavior,
  version: version(t.deploymentVersion),
  deployment: t.workerDeploymentName,
  stamp: t.workerVersion?.buildId,
});

async function versioningInfo(c, workflowId) {
  const info = (await c.workflow.getHandle(workflowId).describe()).raw.workflowExecutionInfo;
  const vi = info.versioningInfo;
  return {
    deployment: info.workerDeploymentName,
    behavior: vi.behavior,
    version: vi.version,
    deploymentVersion: version(vi.deploymentVersion),
    revision: Number(vi.revisionNumber),
    override: vi.versioningOverride ?? null,
  };
}

// ---------------------------------------------------------------- tests

test('a rollout: the Pinned run stays on v1, the AutoUpgrade run and new runs move to v2', async () => {
  const c = await client();
  const deployment = unique('dep');
  const taskQueue = unique('tq');
  const v1 = wdv(deployment, 'v1');
  const v2 = wdv(deployment, 'v2');
  const pinnedId = unique('pinned');
  const autoId = unique('auto');
  const freshId = unique('fresh');

  await withVersionedWorker({ taskQueue, deployment, buildId: 'v1' }, async () => {
    await waitVersion(c, deployment, 'v1');
    const first = await setCurrent(c, deployment, 'v1');
    assertPrevious(first, [UNVERSIONED, null], [`${deployment}.v1`, v1]);

    const pinned = await c.workflow.start('wdPinned', { taskQueue, workflowId: pinnedId });
    const auto = await c.workflow.start('wdAuto', { taskQueue, workflowId: autoId });
    for (const [workflowId, behavior] of [
      [pinnedId, PINNED],
      [autoId, AUTO_UPGRADE],
    ]) {
      const evs = await waitTasks(c, workflowId, 1);
      const started = evs[0].workflowExecutionStartedEventAttributes;
      assert.equal(started.versioningOverride, null);
      assert.equal(started.inheritedPinnedVersion, null);
      const done = tasksCompleted(evs);
      assert.equal(done.length, 1);
      assert.deepEqual(taskVersion(done[0]), { behavior, version: v1, deployment, stamp: 'v1' });
      assert.deepEqual(await versioningInfo(c, workflowId), {
        deployment,
        behavior,
        version: `${deployment}.v1`,
        deploymentVersion: v1,
        revision: 1,
        override: null,
      });
    }

    await withVersionedWorker({ taskQueue, deployment, buildId: 'v2' }, async () => {
      await waitVersion(c, deployment, 'v2');
      const second = await setCurrent(c, deployment, 'v2');
      assertPrevious(second, [`${deployment}.v1`, v1], [`${deployment}.v2`, v2]);

      await pinned.signal('step');
      await auto.signal('step');
      const pinnedEvents = await waitTasks(c, pinnedId, 2);
      const autoEvents = await waitTasks(c, autoId, 2);

      // The pinned run's next task completes on v1, the auto-upgrade run's on v2.
      assert.deepEqual(taskVersion(tasksCompleted(pinnedEvents)[1]), {
        behavior: PINNED,
        version: v1,
        deployment,
        stamp: 'v1',
      });
      assert.deepEqual(taskVersion(tasksCompleted(autoEvents)[1]), {
        behavior: AUTO_UPGRADE,
        version: v2,
        deployment,
        stamp: 'v2',
      });
      // Only the pinned run is told that the task queue's target version moved.
      const changed = (evs) =>
        ofType(evs, EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED).map(
          (e) => e.workflowTaskStartedEventAttributes.targetWorkerDeploymentVersionChanged,
        );
      assert.deepEqual(changed(pinnedEvents), [false, true]);
      assert.deepEqual(changed(autoEvents), [false, false]);

      const pinnedInfo = await versioningInfo(c, pinnedId);
      assert.deepEqual(
        [pinnedInfo.behavior, pinnedInfo.version, pinnedInfo.revision],
        [PINNED, `${deployment}.v1`, 1],
      );
      assert.deepEqual(await versioningInfo(c, autoId), {
        deployment,
        behavior: AUTO_UPGRADE,
        version: `${deployment}.v2`,
        deploymentVersion: v2,
        revision: 2,
        override: null,
      });

      // A new run goes to the new current version, with the worker's default behavior (PINNED).
      const fresh = await c.workflow.start('wdQuick', { taskQueue, workflowId: freshId });
      assert.equal(await fresh.result(), 'v2');
      const freshTasks = tasksCompleted(await events(c, freshId));
      assert.deepEqual(freshTasks.map(taskVersion), [{ behavior: PINNED, version: v2, deployment, stamp: 'v2' }]);
      const freshInfo = await versioningInfo(c, freshId);
      assert.deepEqual([freshInfo.behavior, freshInfo.deploymentVersion, freshInfo.revision], [PINNED, v2, 2]);

      await pinned.signal('finish');
      await auto.signal('finish');
      assert.deepEqual(await pinned.result(), ['v1', 'v1', 'v1']);
      assert.deepEqual(await auto.result(), ['v1', 'v2', 'v2']);
    });
  });
});

test('a ramp splits new runs by the hash of their workflow id; 100 % and 0 % send all to one version', async () => {
  const c = await client();
  const deployment = unique('dep');
  const taskQueue = unique('tq');
  const v2 = wdv(deployment, 'v2');
  const workers = (fn) =>
    withVersionedWorker({ taskQueue, deployment, buildId: 'v1', behavior: 'AUTO_UPGRADE' }, () =>
      withVersionedWorker({ taskQueue, deployment, buildId: 'v2', behavior: 'AUTO_UPGRADE' }, fn),
    );

  /** Runs `wdQuick` under each id (all at once); returns { id: build id that ran it }. */
  async function runAll(ids) {
    const results = await Promise.all(ids.map((workflowId) => c.workflow.execute('wdQuick', { taskQueue, workflowId })));
    return Object.fromEntries(ids.map((id, i) => [id, results[i]]));
  }

  await workers(async () => {
    await waitVersion(c, deployment, 'v1');
    await waitVersion(c, deployment, 'v2');
    await setCurrent(c, deployment, 'v1');
    let r = await setRamping(c, deployment, 'v2', 50);
    assertPrevious(r, ['', null, 0], [`${deployment}.v2`, v2, 50]);

    // Ids of every length class of the hash (up to 4, 5-12, 13-24 bytes, longer).
    const ids = [
      ...[3, 4, 7, 12, 17, 24].map((n) => randomUUID().replaceAll('-', '').slice(0, n)),
      ...Array.from({ length: 16 }, (_, i) => `ramp-${i}-${randomUUID()}`),
    ];
    const got = await runAll(ids);
    const want = Object.fromEntries(ids.map((id) => [id, goesToRamping(id, 50) ? 'v2' : 'v1']));
    assert.deepEqual(got, want);
    // (The ids are random: a split with no run on one side is possible, if unlikely: 2^-21.)
    const toV2 = Object.values(got).filter((b) => b === 'v2').length;
    assert.ok(toV2 > 0 && toV2 < ids.length, `${toV2} of ${ids.length} runs on v2`);
    // The behavior is the workers' default.
    const task = tasksCompleted(await events(c, ids[0]))[0];
    assert.equal(task.versioningBehavior, AUTO_UPGRADE);

    r = await setRamping(c, deployment, 'v2', 100);
    assertPrevious(r, [`${deployment}.v2`, v2, 50], [`${deployment}.v2`, v2, 100]);
    assert.deepEqual(new Set(Object.values(await runAll([1, 2, 3, 4, 5].map(() => unique('all'))))), new Set(['v2']));

    // 0 % keeps v2 as the ramping version (status RAMPING) with no new runs.
    r = await setRamping(c, deployment, 'v2', 0);
    assertPrevious(r, [`${deployment}.v2`, v2, 100], [`${deployment}.v2`, v2, 0]);
    const d = await describeDeployment(c, deployment);
    const rc = d.workerDeploymentInfo.routingConfig;
    assert.deepEqual(version(rc.rampingDeploymentVersion), v2);
    assert.equal(rc.rampingVersionPercentage, 0);
    assert.equal(summary(d, 'v2').status, RAMPING);
    assert.deepEqual(new Set(Object.values(await runAll([1, 2, 3, 4, 5].map(() => unique('none'))))), new Set(['v1']));

    // No version in the request: the ramp is removed.
    r = await routingChange('setWorkerDeploymentRampingVersion', { namespace, deploymentName: deployment });
    assertPrevious(r, [`${deployment}.v2`, v2, 0], ['', null, 0]);
    const after = (await describeDeployment(c, deployment)).workerDeploymentInfo.routingConfig;
    assert.equal(after.rampingVersion, '');
    assert.equal(after.rampingDeploymentVersion, null);
    assert.equal(Number(after.revisionNumber), 5);
  });
});

test('DescribeWorkerDeployment, DescribeWorkerDeploymentVersion and ListWorkerDeployments through a rollout', async () => {
  const c = await client();
  const deployment = unique('dep');
  const taskQueue = unique('tq');
  const v1 = wdv(deployment, 'v1');
  const v2 = wdv(deployment, 'v2');

  await withVersionedWorker({ taskQueue, deployment, buildId: 'v1' }, async () => {
    await waitVersion(c, deployment, 'v1');
    await withVersionedWorker({ taskQueue, deployment, buildId: 'v2' }, async () => {
      await waitVersion(c, deployment, 'v2');

      // Registered by the polls: inactive, routing still unversioned.
      let d = await describeDeployment(c, deployment);
      let info = d.workerDeploymentInfo;
      assert.equal(info.name, deployment);
      assert.deepEqual(
        info.versionSummaries.map((s) => s.version),
        [`${deployment}.v2`, `${deployment}.v1`],
      );
      let s1 = summary(d, 'v1');
      let s2 = summary(d, 'v2');
      assert.ok(ts(s1.createTime) < ts(s2.createTime));
      assert.equal(ts(info.createTime), ts(s1.createTime));
      for (const s of [s1, s2]) {
        assert.equal(s.status, INACTIVE);
        assert.equal(s.drainageInfo, null);
        assert.equal(s.currentSinceTime, null);
        assert.equal(s.rampingSinceTime, null);
      }
      let rc = info.routingConfig;
      assert.equal(rc.currentVersion, UNVERSIONED);
      assert.equal(rc.currentDeploymentVersion, null);
      assert.equal(Number(rc.revisionNumber), 0);
      assert.equal(rc.currentVersionChangedTime, null);
      assert.equal(info.routingConfigUpdateState, COMPLETED);
      assert.equal(info.managerIdentity, '');
      assert.equal(info.lastModifierIdentity, '');
      // The conflict token: Go's time.MarshalBinary of the last change (15 bytes, UTC).
      assert.equal(d.conflictToken.length, 15);
      assert.equal(d.conflictToken[0], 1);

      let v = await describeVersion(c, deployment, 'v1');
      let vi = v.workerDeploymentVersionInfo;
      assert.equal(vi.version, `${deployment}.v1`);
      assert.deepEqual(version(vi.deploymentVersion), v1);
      assert.equal(vi.status, INACTIVE);
      assert.deepEqual(
        vi.taskQueueInfos.map((q) => [q.name, q.type]),
        [[taskQueue, WORKFLOW_TQ]],
      );
      assert.deepEqual(
        v.versionTaskQueues.map((q) => [q.name, q.type]),
        [[taskQueue, WORKFLOW_TQ]],
      );
      assert.equal(vi.routingChangedTime, null);
      assert.equal(vi.drainageInfo, null);

      // Current v1, by a named operator.
      // (No run starts here: no need to wait for the routing to reach the task queue.)
      let r = await setCurrent(c, deployment, 'v1', { identity: 'operator-a', wait: false });
      d = await describeDeployment(c, deployment);
      info = d.workerDeploymentInfo;
      rc = info.routingConfig;
      const t1 = ts(rc.currentVersionChangedTime);
      assert.deepEqual(Buffer.from(d.conflictToken), Buffer.from(r.conflictToken));
      assert.equal(rc.currentVersion, `${deployment}.v1`);
      assert.deepEqual(version(rc.currentDeploymentVersion), v1);
      assert.equal(Number(rc.revisionNumber), 1);
      assert.equal(info.lastModifierIdentity, 'operator-a');
      s1 = summary(d, 'v1');
      assert.equal(s1.status, CURRENT);
      for (const field of ['currentSinceTime', 'routingUpdateTime', 'firstActivationTime', 'lastCurrentTime']) {
        assert.equal(ts(s1[field]), t1, field);
      }
      // A current version has drainage_info without a status.
      assert.equal(s1.drainageInfo.status, 0);
      assert.equal(ts(s1.drainageInfo.lastChangedTime), t1);
      assert.equal(summary(d, 'v2').status, INACTIVE);
      vi = (await describeVersion(c, deployment, 'v1')).workerDeploymentVersionInfo;
      assert.equal(vi.status, CURRENT);
      assert.equal(ts(vi.currentSinceTime), t1);
      assert.equal(ts(vi.routingChangedTime), t1);

      // The same change again is a no-op: same token, same revision.
      const again = await setCurrent(c, deployment, 'v1', { identity: 'operator-a', wait: false });
      assert.deepEqual(Buffer.from(again.conflictToken), Buffer.from(r.conflictToken));
      assert.equal(again.previousVersion, `${deployment}.v1`);
      rc = (await describeDeployment(c, deployment)).workerDeploymentInfo.routingConfig;
      assert.equal(Number(rc.revisionNumber), 1);

      // Ramping v2 at 25 %.
      r = await setRamping(c, deployment, 'v2', 25, { wait: false });
      d = await describeDeployment(c, deployment);
      rc = d.workerDeploymentInfo.routingConfig;
      const t2 = ts(rc.rampingVersionChangedTime);
      assert.ok(t2 > t1);
      assert.equal(ts(rc.rampingVersionPercentageChangedTime), t2);
      assert.equal(rc.rampingVersion, `${deployment}.v2`);
      assert.equal(rc.rampingVersionPercentage, 25);
      assert.deepEqual(version(rc.rampingDeploymentVersion), v2);
      assert.equal(Number(rc.revisionNumber), 2);
      s2 = summary(d, 'v2');
      assert.equal(s2.status, RAMPING);
      assert.equal(s2.drainageInfo, null);
      for (const field of ['rampingSinceTime', 'routingUpdateTime', 'firstActivationTime']) {
        assert.equal(ts(s2[field]), t2, field);
      }
      vi = (await describeVersion(c, deployment, 'v2')).workerDeploymentVersionInfo;
      assert.deepEqual([vi.status, vi.rampPercentage], [RAMPING, 25]);
      assert.equal(ts(vi.rampingSinceTime), t2);

      // List: the routing, the latest, current and ramping versions' summaries, no version list.
      let entry = await listed(c, deployment, rc);
      assert.equal(ts(entry.createTime), ts(d.workerDeploymentInfo.createTime));
      assert.deepEqual(version(entry.latestVersionSummary.deploymentVersion), v2);
      assert.deepEqual(version(entry.currentVersionSummary.deploymentVersion), v1);
      assert.equal(entry.currentVersionSummary.status, CURRENT);
      assert.deepEqual(version(entry.rampingVersionSummary.deploymentVersion), v2);
      assert.equal(entry.rampingVersionSummary.status, RAMPING);

      // Promoting the ramping version clears the ramp; v1 starts draining.
      r = await setCurrent(c, deployment, 'v2', { wait: false });
      assertPrevious(r, [`${deployment}.v1`, v1], [`${deployment}.v2`, v2]);
      d = await describeDeployment(c, deployment);
      rc = d.workerDeploymentInfo.routingConfig;
      assert.deepEqual(version(rc.currentDeploymentVersion), v2);
      assert.equal(Number(rc.revisionNumber), 3);
      assert.equal(rc.rampingVersion, '');
      assert.equal(rc.rampingVersionPercentage, 0);
      assert.equal(summary(d, 'v2').status, CURRENT);
      s1 = summary(d, 'v1');
      assert.ok([DRAINING, DRAINED].includes(s1.status), `v1 status ${s1.status}`);
      assert.equal(ts(s1.lastDeactivationTime), ts(rc.currentVersionChangedTime));
      assert.equal(s1.currentSinceTime, null);

      entry = await listed(c, deployment, rc);
      assert.deepEqual(version(entry.currentVersionSummary.deploymentVersion), v2);
      assert.equal(entry.rampingVersionSummary, null);

      // A build id the deployment does not have.
      let err = await rejection(describeVersion(c, deployment, 'v9'));
      assert.deepEqual([err.code, err.details], [grpcStatus.NOT_FOUND, 'Worker Deployment Version not found']);
      err = await rejection(
        c.workflowService.setWorkerDeploymentCurrentVersion({ namespace, deploymentName: deployment, buildId: 'v9' }),
      );
      assert.deepEqual(
        [err.code, err.details],
        [grpcStatus.NOT_FOUND, `build ID 'v9' not found in Worker Deployment '${deployment}'`],
      );
      // The current version cannot ramp.
      err = await rejection(
        c.workflowService.setWorkerDeploymentRampingVersion({
          namespace,
          deploymentName: deployment,
          buildId: 'v2',
          percentage: 10,
        }),
      );
      assert.deepEqual(
        [err.code, err.details],
        [grpcStatus.FAILED_PRECONDITION, `requested ramping version ${deployment}.v2 is already current`],
      );
    });
  });
});

test('an unknown deployment: NOT_FOUND, in the words of the real server', async () => {
  const c = await client();
  const unknown = unique('nodep');
  let err = await rejection(describeVersion(c, unknown, 'v1'));
  assert.deepEqual([err.code, err.details], [grpcStatus.NOT_FOUND, 'Worker Deployment Version not found']);
  err = await rejection(describeDeployment(c, ''));
  assert.deepEqual([err.code, err.details], [grpcStatus.INVALID_ARGUMENT, 'WorkerDeploymentName cannot be empty']);
  // The message ends with a '?', which grpc-go leaves as it is in grpc-message (grpc-js decodes
  // the header with decodeURI, which would leave a '%3F' undecoded).
  const noDeployment = `no Worker Deployment found with name '${unknown}'; does your Worker Deployment have pollers?`;
  for (const call of [
    () => describeDeployment(c, unknown),
    () => c.workflowService.setWorkerDeploymentCurrentVersion({ namespace, deploymentName: unknown, buildId: 'v1' }),
    () =>
      c.workflowService.setWorkerDeploymentRampingVersion({
        namespace,
        deploymentName: unknown,
        buildId: 'v1',
        percentage: 10,
      }),
  ]) {
    err = await rejection(call());
    assert.deepEqual([err.code, err.details], [grpcStatus.NOT_FOUND, noDeployment]);
  }
});
