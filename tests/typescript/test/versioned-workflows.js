// The workflows of worker-deployments.test.js, bundled on their own (a versioned worker runs only
// these): each records the build id of the worker that ran each of its workflow tasks
// (`workflowInfo().currentDeploymentVersion`). `wdPinned` and `wdAuto` declare their versioning
// behavior (`setWorkflowOptions`); `wdQuick` takes the worker's `defaultVersioningBehavior`.
const wf = require('@temporalio/workflow');

const step = wf.defineSignal('step');
const finish = wf.defineSignal('finish');

/** The build id of the worker running the current workflow task. */
function buildId() {
  return wf.workflowInfo().currentDeploymentVersion?.buildId ?? null;
}

/** One entry per workflow task: the first one, then one per `step` signal until `finish`. */
async function stepper() {
  const seen = [buildId()];
  let steps = 0;
  let done = false;
  wf.setHandler(step, () => void steps++);
  wf.setHandler(finish, () => void (done = true));
  while (!done) {
    const before = steps;
    await wf.condition(() => done || steps > before);
    seen.push(buildId());
  }
  return seen;
}

async function wdPinned() {
  return await stepper();
}
wf.setWorkflowOptions({ versioningBehavior: 'PINNED' }, wdPinned);

async function wdAuto() {
  return await stepper();
}
wf.setWorkflowOptions({ versioningBehavior: 'AUTO_UPGRADE' }, wdAuto);

/** One workflow task: returns the build id that ran it (behavior: the worker's default). */
async function wdQuick() {
  return buildId();
}

module.exports = { wdPinned, wdAuto, wdQuick };
