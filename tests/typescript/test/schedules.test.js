// Schedules through the TypeScript SDK's schedule client (`client.schedule`): create with interval,
// cron and calendar specs, describe, update, pause and unpause, trigger under an overlap policy,
// backfill, list, delete, and the errors of a duplicate or a missing schedule. The workflows a
// schedule starts run on the suite's worker.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const { ScheduleAlreadyRunning, ScheduleNotFoundError } = require('@temporalio/client');
const { optionalDateToTs, tsToDate } = require('@temporalio/common/lib/time');
const { client, namespace, unique, withWorker } = require('./support');

const DEADLINE_MS = 20_000;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Calls `probe` until it returns something other than `undefined` (or `false`), at most
 * DEADLINE_MS; returns that. `every` is the pause between calls: the real server allows few
 * visibility (list) requests per second by default.
 */
async function eventually(probe, what, every = 100) {
  const deadline = Date.now() + DEADLINE_MS;
  let last;
  for (;;) {
    last = await probe();
    if (last !== undefined && last !== false) {
      return last;
    }
    if (Date.now() > deadline) {
      assert.fail(`timed out waiting for ${what}`);
    }
    await sleep(every);
  }
}

/** The description of `handle` once `ok(description)` holds. */
function describeUntil(handle, ok, what) {
  return eventually(async () => {
    const d = await handle.describe();
    return ok(d) ? d : undefined;
  }, what);
}

/** A nominal time as the server appends it to a scheduled workflow's id. */
function suffix(date) {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** The workflow ids of the recent actions of a description. */
function startedIds(description) {
  return description.info.recentActions.map((a) => a.action.workflow.workflowId);
}

/** Waits until the next wall-clock second has just begun. */
async function startOfNextSecond() {
  await sleep(1050 - (Date.now() % 1000));
}

test('an interval schedule starts runs named after their nominal times, with its memo and TemporalScheduledById', async () => {
  const c = await client();
  await withWorker(async (taskQueue) => {
    const scheduleId = unique('sched-interval');
    const workflowId = `run-${scheduleId}`;
    const handle = await c.schedule.create({
      scheduleId,
      spec: { intervals: [{ every: '1s' }] },
      action: {
        type: 'startWorkflow',
        workflowType: 'scheduled',
        workflowId,
        taskQueue,
        args: ['tick'],
        memo: { origin: 'schedule action' },
      },
      memo: { owner: 'typescript suite' },
      state: { remainingActions: 2 },
    });
    const d = await describeUntil(
      handle,
      (d) => d.info.numActionsTaken === 2 && d.state.remainingActions === 0,
      'two actions, none remaining',
    );
    assert.deepEqual(d.memo, { owner: 'typescript suite' });
    assert.deepEqual(d.info.nextActionTimes, []);
    const actions = d.info.recentActions;
    assert.equal(actions.length, 2);
    for (const a of actions) {
      // A nominal time: whole seconds, on the interval; the run id is the first run's.
      assert.equal(a.scheduledAt.getTime() % 1000, 0);
      assert.ok(a.takenAt.getTime() >= a.scheduledAt.getTime());
      const id = a.action.workflow.workflowId;
      assert.equal(id, `${workflowId}-${suffix(a.scheduledAt)}`);
      const run = c.workflow.getHandle(id);
      assert.deepEqual(await run.result(), { text: 'tick', workflowId: id, memo: { origin: 'schedule action' } });
      const description = await run.describe();
      assert.equal(description.runId, a.action.workflow.firstExecutionRunId);
      assert.equal(description.type, 'scheduled');
      assert.equal(description.taskQueue, taskQueue);
      assert.deepEqual(description.searchAttributes.TemporalScheduledById, [scheduleId]);
      assert.deepEqual(description.searchAttributes.TemporalScheduledStartTime, [a.scheduledAt]);
    }
    assert.equal(actions[1].scheduledAt.getTime() - actions[0].scheduledAt.getTime(), 1000);

    // No remaining actions: the schedule takes no more.
    await sleep(1500);
    assert.equal((await handle.describe()).info.numActionsTaken, 2);

    // Visibility finds the runs by the schedule that started them.
    const query = `TemporalScheduledById = '${scheduleId}'`;
    const listed = await eventually(
      async () => {
        const ids = [];
        for await (const w of c.workflow.list({ query })) {
          ids.push(w.workflowId);
        }
        return ids.length === 2 ? ids.sort() : undefined;
      },
      'two runs listed by TemporalScheduledById',
      250,
    );
    assert.deepEqual(listed, startedIds(d).sort());

    // Deleting the schedule leaves its runs alone.
    await handle.delete();
    await assert.rejects(handle.describe(), ScheduleNotFoundError);
    assert.equal((await c.workflow.getHandle(startedIds(d)[0]).describe()).status.name, 'COMPLETED');
  });
});

test('cron and calendar specs come back as structured calendars and give the matching times', async () => {
  const c = await client();
  const scheduleId = unique('sched-cal');
  const handle = await c.schedule.create({
    scheduleId,
    spec: {
      calendars: [{ hour: 12, minute: 15, dayOfMonth: 1, comment: 'monthly' }],
      cronExpressions: ['30 9 * * MON-FRI'],
    },
    action: { type: 'startWorkflow', workflowType: 'scheduled', taskQueue: unique('no-worker') },
    state: { paused: true, note: 'created paused' },
  });
  const d = await handle.describe();
  // The given calendar first, then the cron string's; every field filled in, as ranges.
  const every = (start, end) => [{ start, end, step: 1 }];
  const months = every('JANUARY', 'DECEMBER');
  assert.deepEqual(d.spec.calendars, [
    {
      second: every(0, 0),
      minute: every(15, 15),
      hour: every(12, 12),
      dayOfMonth: every(1, 1),
      month: months,
      year: [],
      dayOfWeek: every('SUNDAY', 'SATURDAY'),
      comment: 'monthly',
    },
    {
      second: every(0, 0),
      minute: every(30, 30),
      hour: every(9, 9),
      dayOfMonth: every(1, 31),
      month: months,
      year: [],
      dayOfWeek: every('MONDAY', 'FRIDAY'),
      comment: '',
    },
  ]);
  assert.deepEqual(d.spec.intervals, []);
  assert.deepEqual(d.spec.skip, []);
  // Defaults: overlap SKIP, a catch-up window of one year.
  assert.deepEqual(d.policies, { overlap: 'SKIP', catchupWindow: 365 * 86_400_000, pauseOnFailure: false });
  // Paused, it still shows its next ten times: weekdays at 09:30, the 1st at 12:15.
  const next = d.info.nextActionTimes;
  assert.equal(next.length, 10);
  for (const [i, t] of next.entries()) {
    const weekday = t.getUTCDay() >= 1 && t.getUTCDay() <= 5 && t.toISOString().endsWith('T09:30:00.000Z');
    const monthly = t.getUTCDate() === 1 && t.toISOString().endsWith('T12:15:00.000Z');
    assert.ok(weekday || monthly, t.toISOString());
    assert.ok(t.getTime() > Date.now() && (i === 0 || t > next[i - 1]), t.toISOString());
  }
  // The workflow id defaults (in the SDK) to `<schedule id>-workflow`.
  assert.equal(d.action.workflowId, `${scheduleId}-workflow`);
  assert.equal(d.state.paused, true);
  assert.equal(d.state.note, 'created paused');
  assert.equal(d.spec.calendars.length, 2);

  // Matching times of one week of January 2024 (Monday 1st to Sunday 7th): the 1st at 12:15
  // and every weekday at 09:30.
  const response = await c.workflowService.listScheduleMatchingTimes({
    namespace,
    scheduleId,
    startTime: optionalDateToTs(new Date('2024-01-01T00:00:00Z')),
    endTime: optionalDateToTs(new Date('2024-01-08T00:00:00Z')),
  });
  assert.deepEqual(
    response.startTime.map((t) => suffix(tsToDate(t))),
    [
      '2024-01-01T09:30:00Z',
      '2024-01-01T12:15:00Z',
      '2024-01-02T09:30:00Z',
      '2024-01-03T09:30:00Z',
      '2024-01-04T09:30:00Z',
      '2024-01-05T09:30:00Z',
    ],
  );
  await handle.delete();
});

test('update replaces spec, action and policies; pause and unpause set the note; errors', async () => {
  const c = await client();
  const scheduleId = unique('sched-update');
  const taskQueue = unique('no-worker');
  const options = {
    scheduleId,
    spec: { intervals: [{ every: '1h' }] },
    action: { type: 'startWorkflow', workflowType: 'scheduled', workflowId: `upd-${scheduleId}`, taskQueue, args: ['v1'] },
    state: { paused: true },
  };
  const handle = await c.schedule.create(options);
  const before = await handle.describe();
  assert.equal(before.info.lastUpdatedAt, undefined);
  assert.equal(before.policies.overlap, 'SKIP');
  assert.deepEqual(before.action.args, ['v1']);

  // A second create of the same id is refused.
  const duplicate = await c.schedule.create(options).catch((err) => err);
  assert.ok(duplicate instanceof ScheduleAlreadyRunning, `${duplicate}`);
  assert.equal(duplicate.scheduleId, scheduleId);
  assert.equal(duplicate.message, 'Schedule already exists and is running');

  await handle.update((previous) => ({
    ...previous,
    spec: { intervals: [{ every: '2h', offset: '5m' }] },
    action: { ...previous.action, args: ['v2'] },
    policies: { ...previous.policies, overlap: 'BUFFER_ONE' },
  }));
  const updated = await handle.describe();
  assert.deepEqual(updated.spec.intervals, [{ every: 2 * 3600_000, offset: 5 * 60_000 }]);
  assert.deepEqual(updated.action.args, ['v2']);
  assert.equal(updated.action.workflowId, `upd-${scheduleId}`);
  assert.equal(updated.policies.overlap, 'BUFFER_ONE');
  assert.ok(updated.info.lastUpdatedAt instanceof Date);
  assert.equal(updated.state.paused, true);

  await handle.unpause('back to work');
  let d = await handle.describe();
  assert.equal(d.state.paused, false);
  assert.equal(d.state.note, 'back to work');
  // Unpaused, the next times are on the new interval (offset 5 minutes past every other hour).
  assert.ok(d.info.nextActionTimes.length > 0);
  for (const t of d.info.nextActionTimes) {
    assert.equal((t.getTime() - 5 * 60_000) % (2 * 3600_000), 0, t.toISOString());
  }
  await handle.pause('maintenance');
  d = await handle.describe();
  assert.equal(d.state.paused, true);
  assert.equal(d.state.note, 'maintenance');
  assert.equal(d.info.numActionsTaken, 0);

  await handle.delete();
  const deleted = await handle.describe().catch((err) => err);
  assert.ok(deleted instanceof ScheduleNotFoundError, `${deleted}`);
  assert.equal(deleted.scheduleId, scheduleId);
  assert.equal(deleted.message, 'schedule not found');
  const deletedAgain = await handle.delete().catch((err) => err);
  assert.ok(deletedAgain instanceof ScheduleNotFoundError, `${deletedAgain}`);
  assert.equal(deletedAgain.message, 'workflow execution already completed');

  const missing = c.schedule.getHandle(unique('never-created'));
  const notFound = await missing.describe().catch((err) => err);
  assert.ok(notFound instanceof ScheduleNotFoundError, `${notFound}`);
  assert.equal(notFound.scheduleId, missing.scheduleId);
  assert.equal(notFound.message, `workflow not found for ID: temporal-sys-scheduler:${missing.scheduleId}`);
  await assert.rejects(missing.trigger(), ScheduleNotFoundError);
  await assert.rejects(missing.pause(), ScheduleNotFoundError);
});

test('triggers under BUFFER_ONE (one run, one buffered, the third skipped), then under SKIP', async () => {
  const c = await client();
  await withWorker(async (taskQueue) => {
    const scheduleId = unique('sched-buffer');
    const workflowId = `held-${scheduleId}`;
    const handle = await c.schedule.create({
      scheduleId,
      spec: { intervals: [{ every: '1d' }] },
      action: { type: 'startWorkflow', workflowType: 'waitForApproval', workflowId, taskQueue },
      policies: { overlap: 'BUFFER_ONE' },
      // Triggers run while paused; the spec never fires.
      state: { paused: true },
    });
    const counts = (d) => [
      d.info.numActionsTaken,
      d.info.numActionsSkippedOverlap,
      Number(d.raw.info.bufferSize ?? 0),
      d.info.runningActions.length,
    ];
    const expected = [
      [1, 0, 0, 1],
      [1, 0, 1, 1],
      [1, 1, 1, 1],
    ];
    const sent = [];
    for (const want of expected) {
      // One trigger a second: a trigger's time (whole seconds) names its run.
      await startOfNextSecond();
      sent.push(Date.now());
      // Trigger's own policy: the schedule's (without one, the SDK asks for ALLOW_ALL).
      await handle.trigger('BUFFER_ONE');
      await describeUntil(handle, (d) => counts(d).join() === want.join(), `counts ${want}`);
    }
    /** Whether `id` names the run of trigger `n` (its second, or the next one). */
    const isRunOf = (id, n) =>
      [0, 1000].some((late) => id === `${workflowId}-${suffix(new Date(Math.floor(sent[n] / 1000) * 1000 + late))}`);

    let d = await handle.describe();
    const [first] = startedIds(d);
    assert.equal(startedIds(d).length, 1);
    assert.ok(isRunOf(first, 0), first);
    assert.deepEqual(
      d.info.runningActions.map((a) => a.workflow.workflowId),
      [first],
    );
    assert.equal((await c.workflow.getHandle(first).describe()).status.name, 'RUNNING');

    // The first run finishes: the buffered start (of the second trigger) follows.
    await c.workflow.getHandle(first).signal('approve', 'first');
    assert.equal(await c.workflow.getHandle(first).result(), 'first');
    d = await describeUntil(handle, (d) => d.info.numActionsTaken === 2, 'the buffered start');
    const second = startedIds(d)[1];
    assert.ok(isRunOf(second, 1), second);
    assert.equal(Number(d.raw.info.bufferSize ?? 0), 0);
    await c.workflow.getHandle(second).signal('approve', 'second');
    assert.equal(await c.workflow.getHandle(second).result(), 'second');

    d = await describeUntil(handle, (d) => d.info.runningActions.length === 0, 'no running action');
    assert.equal(d.info.numActionsTaken, 2);
    assert.equal(d.info.numActionsSkippedOverlap, 1);
    assert.deepEqual(startedIds(d), [first, second]);

    // A trigger under SKIP starts a run when none is running, and is skipped while one is.
    await handle.trigger('SKIP');
    d = await describeUntil(handle, (d) => d.info.runningActions.length === 1, 'the third run');
    const third = d.info.runningActions[0].workflow.workflowId;
    assert.equal(startedIds(d)[2], third);
    await handle.trigger('SKIP');
    d = await describeUntil(handle, (d) => d.info.numActionsSkippedOverlap === 2, 'the skipped trigger');
    assert.equal(d.info.numActionsTaken, 3);
    assert.deepEqual(
      d.info.runningActions.map((a) => a.workflow.workflowId),
      [third],
    );
    await c.workflow.getHandle(third).signal('approve', 'third');
    assert.equal(await c.workflow.getHandle(third).result(), 'third');
    d = await describeUntil(handle, (d) => d.info.runningActions.length === 0, 'no running action');
    assert.deepEqual(startedIds(d), [first, second, third]);
    assert.equal(d.info.numActionsSkippedOverlap, 2);
    await handle.delete();
  });
});

test('a backfill starts a run per nominal time in [start, end]; trigger-immediately at create', async () => {
  const c = await client();
  await withWorker(async (taskQueue) => {
    const scheduleId = unique('sched-backfill');
    const workflowId = `bf-${scheduleId}`;
    const handle = await c.schedule.create({
      scheduleId,
      spec: { intervals: [{ every: '1m' }] },
      action: { type: 'startWorkflow', workflowType: 'scheduled', workflowId, taskQueue, args: ['back'] },
      // Backfills run while paused.
      state: { paused: true },
    });
    const start = new Date('2024-01-01T00:00:00Z');
    await handle.backfill({ start, end: new Date('2024-01-01T00:03:00Z'), overlap: 'ALLOW_ALL' });
    const d = await describeUntil(handle, (d) => d.info.numActionsTaken === 4, 'four backfilled actions');
    const nominal = ['00:00', '00:01', '00:02', '00:03'].map((m) => `2024-01-01T${m}:00Z`);
    assert.deepEqual(
      d.info.recentActions.map((a) => suffix(a.scheduledAt)),
      nominal,
    );
    assert.deepEqual(
      startedIds(d),
      nominal.map((n) => `${workflowId}-${n}`),
    );
    for (const id of startedIds(d)) {
      assert.deepEqual(await c.workflow.getHandle(id).result(), { text: 'back', workflowId: id, memo: {} });
    }
    assert.equal(d.state.paused, true);
    await handle.delete();

    // Trigger immediately at create: one action at once, named after the create time.
    const immediateId = unique('sched-now');
    const before = Math.floor(Date.now() / 1000) * 1000;
    const now = await c.schedule.create({
      scheduleId: immediateId,
      spec: { intervals: [{ every: '1d' }] },
      action: { type: 'startWorkflow', workflowType: 'scheduled', workflowId: `now-${immediateId}`, taskQueue, args: ['now'] },
      state: { paused: true, triggerImmediately: true },
    });
    const n = await describeUntil(now, (d) => d.info.numActionsTaken === 1, 'the immediate action');
    const [id] = startedIds(n);
    const at = n.info.recentActions[0].scheduledAt.getTime();
    assert.ok(at >= before && at <= Date.now(), `${at}`);
    assert.equal(id, `now-${immediateId}-${suffix(new Date(Math.floor(at / 1000) * 1000))}`);
    assert.deepEqual(await c.workflow.getHandle(id).result(), { text: 'now', workflowId: id, memo: {} });
    await now.delete();
  });
});

test('list finds schedules by a custom search attribute and by pause state', async () => {
  const c = await client();
  const tag = unique('tag');
  const taskQueue = unique('no-worker');
  const make = (name, paused) =>
    c.schedule.create({
      scheduleId: unique(name),
      spec: { intervals: [{ every: '1d' }] },
      action: { type: 'startWorkflow', workflowType: 'scheduled', taskQueue },
      memo: { name },
      searchAttributes: { TsTag: [tag] },
      state: paused ? { paused: true, note: 'listed paused' } : {},
    });
  const running = await make('sched-list-running', false);
  const paused = await make('sched-list-paused', true);

  const list = async (query) => {
    const out = [];
    for await (const s of c.schedule.list({ query })) {
      out.push(s);
    }
    return out.sort((a, b) => a.scheduleId.localeCompare(b.scheduleId));
  };
  const both = await eventually(
    async () => {
      const got = await list(`TsTag = '${tag}'`);
      return got.length === 2 ? got : undefined;
    },
    'both schedules listed',
    250,
  );
  const byId = Object.fromEntries(both.map((s) => [s.scheduleId, s]));
  const r = byId[running.scheduleId];
  const p = byId[paused.scheduleId];
  assert.deepEqual(r.memo, { name: 'sched-list-running' });
  assert.deepEqual(p.memo, { name: 'sched-list-paused' });
  assert.deepEqual(r.searchAttributes.TsTag, [tag]);
  assert.deepEqual(r.action, { type: 'startWorkflow', workflowType: 'scheduled' });
  assert.equal(r.state.paused, false);
  assert.equal(p.state.paused, true);
  assert.equal(p.state.note, 'listed paused');
  assert.deepEqual(r.spec.intervals, [{ every: 86_400_000, offset: undefined }]);
  assert.ok(r.info.nextActionTimes.length > 0);

  const onlyPaused = await eventually(
    async () => {
      const got = await list(`TsTag = '${tag}' AND TemporalSchedulePaused = true`);
      return got.length === 1 ? got : undefined;
    },
    'the paused schedule listed',
    250,
  );
  assert.equal(onlyPaused[0].scheduleId, paused.scheduleId);
  const byScheduleId = await list(`ScheduleId = '${running.scheduleId}'`);
  assert.deepEqual(byScheduleId.map((s) => s.scheduleId), [running.scheduleId]);

  await running.delete();
  await paused.delete();
  await eventually(async () => (await list(`TsTag = '${tag}'`)).length === 0, 'deleted schedules unlisted', 250);
});
