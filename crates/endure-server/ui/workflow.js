// Workflow execution page: summary, payloads, pending work, query box,
// timeline (SVG), history table, actions, live updates.

import { h, s, clear, replace, enc, link, timeEl, fmtTime, fmtTimeMs, relTime, humanMs, fmtDuration, parseDuration, parseTime,
  badge, statusName, enumLabel, num, table, emptyRow, section, fields, mono, prettyJSON, compactJSON, uuid } from "./util.js";
import { get, post, nsPath, loadSettings, payloadView, payloadList, decodeLocal, decodeTree, decodeEvents, decodeSearchAttributes, writeDisabled } from "./api.js";
import { showError, clearError, navigate, confirmDialog } from "./app.js";

const POLL_MS = 1500;

// ---------- event helpers ----------
export function eventName(e) {
  return String(e.eventType || "").replace(/^EVENT_TYPE_/, "").toLowerCase().replace(/(^|_)([a-z])/g, (m, a, c) => c.toUpperCase());
}
export function attrs(e) {
  for (const [k, v] of Object.entries(e)) if (k.endsWith("EventAttributes")) return v || {};
  return {};
}
function firstPayloadPreview(x) {
  const list = payloadList(x);
  if (!list.length) return "";
  const parts = list.map((p) => { const r = decodeLocal(p); return r.ok ? compactJSON(r.value, 60) : `[${r.label}]`; });
  return compactJSON(parts.join(", "), 90);
}
function failureMsg(f) {
  if (!f) return "";
  let m = f.message || "";
  if (f.applicationFailureInfo && f.applicationFailureInfo.type) m = `${f.applicationFailureInfo.type}: ${m}`;
  if (f.timeoutFailureInfo) m = `${m} (${enumLabel(f.timeoutFailureInfo.timeoutType, "TIMEOUT_TYPE_")})`;
  if (f.cause && f.cause.message) m += ` ← ${f.cause.message}`;
  return m;
}
function eventSummary(e) {
  const a = attrs(e);
  const n = eventName(e);
  const kv = [];
  const add = (k, v) => { if (v !== undefined && v !== null && v !== "") kv.push([k, String(v)]); };
  switch (n) {
    case "WorkflowExecutionStarted":
      add("type", a.workflowType && a.workflowType.name); add("taskQueue", a.taskQueue && a.taskQueue.name); add("input", firstPayloadPreview(a.input));
      if (a.parentWorkflowExecution) add("parent", a.parentWorkflowExecution.workflowId);
      break;
    case "WorkflowExecutionCompleted": add("result", firstPayloadPreview(a.result)); break;
    case "WorkflowExecutionFailed": add("failure", failureMsg(a.failure)); add("retryState", enumLabel(a.retryState, "RETRY_STATE_")); break;
    case "WorkflowExecutionTimedOut": add("retryState", enumLabel(a.retryState, "RETRY_STATE_")); break;
    case "WorkflowExecutionTerminated": add("reason", a.reason); add("identity", a.identity); break;
    case "WorkflowExecutionCanceled": add("details", firstPayloadPreview(a.details)); break;
    case "WorkflowExecutionCancelRequested": add("cause", a.cause); add("identity", a.identity); break;
    case "WorkflowExecutionContinuedAsNew": add("newRun", a.newExecutionRunId); add("input", firstPayloadPreview(a.input)); break;
    case "WorkflowExecutionSignaled": add("signal", a.signalName); add("input", firstPayloadPreview(a.input)); add("identity", a.identity); break;
    case "WorkflowTaskScheduled": add("taskQueue", a.taskQueue && (a.taskQueue.normalName || a.taskQueue.name)); if (a.attempt > 1) add("attempt", a.attempt); break;
    case "WorkflowTaskStarted": add("identity", a.identity); break;
    case "WorkflowTaskCompleted": add("identity", a.identity); break;
    case "WorkflowTaskFailed": add("cause", enumLabel(a.cause, "WORKFLOW_TASK_FAILED_CAUSE_")); add("failure", failureMsg(a.failure)); break;
    case "WorkflowTaskTimedOut": add("timeoutType", enumLabel(a.timeoutType, "TIMEOUT_TYPE_")); break;
    case "ActivityTaskScheduled": add("activity", a.activityType && a.activityType.name); add("id", a.activityId); add("input", firstPayloadPreview(a.input)); break;
    case "ActivityTaskStarted": add("attempt", a.attempt); add("identity", a.identity); if (a.lastFailure) add("lastFailure", failureMsg(a.lastFailure)); break;
    case "ActivityTaskCompleted": add("result", firstPayloadPreview(a.result)); break;
    case "ActivityTaskFailed": add("failure", failureMsg(a.failure)); add("retryState", enumLabel(a.retryState, "RETRY_STATE_")); break;
    case "ActivityTaskTimedOut": add("failure", failureMsg(a.failure)); add("retryState", enumLabel(a.retryState, "RETRY_STATE_")); break;
    case "ActivityTaskCancelRequested": add("scheduledEventId", a.scheduledEventId); break;
    case "ActivityTaskCanceled": add("scheduledEventId", a.scheduledEventId); break;
    case "TimerStarted": add("timer", a.timerId); add("duration", fmtDuration(a.startToFireTimeout)); break;
    case "TimerFired": add("timer", a.timerId); break;
    case "TimerCanceled": add("timer", a.timerId); break;
    case "StartChildWorkflowExecutionInitiated": add("workflowId", a.workflowId); add("type", a.workflowType && a.workflowType.name); break;
    case "StartChildWorkflowExecutionFailed": add("workflowId", a.workflowId); add("cause", enumLabel(a.cause, "START_CHILD_WORKFLOW_EXECUTION_FAILED_CAUSE_")); break;
    case "ChildWorkflowExecutionStarted": case "ChildWorkflowExecutionCompleted": case "ChildWorkflowExecutionFailed":
    case "ChildWorkflowExecutionCanceled": case "ChildWorkflowExecutionTerminated": case "ChildWorkflowExecutionTimedOut":
      add("workflowId", a.workflowExecution && a.workflowExecution.workflowId);
      if (a.result) add("result", firstPayloadPreview(a.result));
      if (a.failure) add("failure", failureMsg(a.failure));
      break;
    case "MarkerRecorded": add("marker", a.markerName); break;
    case "UpsertWorkflowSearchAttributes": add("fields", Object.keys((a.searchAttributes && a.searchAttributes.indexedFields) || {}).join(", ")); break;
    case "WorkflowPropertiesModified": add("memo", Object.keys((a.upsertedMemo && a.upsertedMemo.fields) || {}).join(", ")); break;
    case "WorkflowExecutionUpdateAccepted":
      add("update", a.acceptedRequest && a.acceptedRequest.input && a.acceptedRequest.input.name);
      add("args", firstPayloadPreview(a.acceptedRequest && a.acceptedRequest.input && a.acceptedRequest.input.args)); break;
    case "WorkflowExecutionUpdateCompleted":
      if (a.outcome && a.outcome.success !== undefined) add("success", firstPayloadPreview(a.outcome.success));
      if (a.outcome && a.outcome.failure) add("failure", failureMsg(a.outcome.failure)); break;
    case "WorkflowExecutionUpdateAdmitted": add("update", a.request && a.request.input && a.request.input.name); break;
    case "SignalExternalWorkflowExecutionInitiated": add("signal", a.signalName); add("workflowId", a.workflowExecution && a.workflowExecution.workflowId); break;
    case "RequestCancelExternalWorkflowExecutionInitiated": add("workflowId", a.workflowExecution && a.workflowExecution.workflowId); break;
    default: {
      for (const [k, v] of Object.entries(a)) {
        if (kv.length >= 3) break;
        if (v !== null && typeof v !== "object") add(k, v);
      }
    }
  }
  return kv;
}

// ---------- derived state from history ----------
function analyze(events) {
  const byId = new Map(events.map((e) => [String(e.eventId), e]));
  const activities = new Map(); // scheduledEventId -> {...}
  const timers = new Map(); // startedEventId -> {...}
  const children = new Map(); // initiatedEventId -> {...}
  const wfts = new Map(); // scheduledEventId -> {...}
  const marks = []; // signals, updates
  const resetPoints = [];
  for (const e of events) {
    const a = attrs(e), n = eventName(e), t = parseTime(e.eventTime), id = String(e.eventId);
    if (n === "WorkflowTaskScheduled") wfts.set(id, { sched: t, schedId: id, attempt: a.attempt, state: "scheduled" });
    else if (n === "WorkflowTaskStarted") { const w = wfts.get(String(a.scheduledEventId)); if (w) { w.start = t; w.state = "started"; } }
    else if (/^WorkflowTask(Completed|Failed|TimedOut)$/.test(n)) {
      const w = wfts.get(String(a.scheduledEventId));
      if (w) { w.end = t; w.state = n.replace("WorkflowTask", "").toLowerCase(); w.endId = id; }
      if (n === "WorkflowTaskCompleted") resetPoints.push({ id, time: t });
    } else if (n === "ActivityTaskScheduled") {
      activities.set(id, { schedId: id, sched: t, activityId: a.activityId, type: a.activityType && a.activityType.name, state: "scheduled", attempt: 1 });
    } else if (n === "ActivityTaskStarted") {
      const x = activities.get(String(a.scheduledEventId));
      if (x) { x.start = t; x.state = "started"; x.attempt = a.attempt || 1; x.lastFailure = a.lastFailure; x.startId = id; }
    } else if (/^ActivityTask(Completed|Failed|TimedOut|Canceled)$/.test(n)) {
      const x = activities.get(String(a.scheduledEventId));
      if (x) { x.end = t; x.state = n.replace("ActivityTask", "").toLowerCase(); x.endId = id; x.failure = a.failure; }
    } else if (n === "ActivityTaskCancelRequested") {
      const x = activities.get(String(a.scheduledEventId));
      if (x) x.cancelRequested = t;
    } else if (n === "TimerStarted") {
      timers.set(id, { startId: id, timerId: a.timerId, start: t, duration: parseDuration(a.startToFireTimeout), state: "started" });
    } else if (n === "TimerFired" || n === "TimerCanceled") {
      const x = timers.get(String(a.startedEventId));
      if (x) { x.end = t; x.state = n === "TimerFired" ? "fired" : "canceled"; x.endId = id; }
    } else if (n === "StartChildWorkflowExecutionInitiated") {
      children.set(id, { initId: id, init: t, workflowId: a.workflowId, type: a.workflowType && a.workflowType.name, state: "initiated" });
    } else if (n === "StartChildWorkflowExecutionFailed") {
      const x = children.get(String(a.initiatedEventId));
      if (x) { x.end = t; x.state = "startfailed"; x.endId = id; }
    } else if (n.startsWith("ChildWorkflowExecution")) {
      const x = children.get(String(a.initiatedEventId));
      if (x) {
        if (a.workflowExecution && a.workflowExecution.runId) x.runId = a.workflowExecution.runId;
        const what = n.replace("ChildWorkflowExecution", "").toLowerCase();
        if (what === "started") { x.start = t; x.state = "running"; } else { x.end = t; x.state = what; x.endId = id; }
      }
    } else if (n === "WorkflowExecutionSignaled") marks.push({ kind: "signal", t, id, label: `Signal: ${a.signalName}` });
    else if (n === "WorkflowExecutionUpdateAccepted") marks.push({ kind: "update", t, id, label: `Update accepted: ${a.acceptedRequest && a.acceptedRequest.input && a.acceptedRequest.input.name}` });
    else if (n === "WorkflowExecutionUpdateCompleted") marks.push({ kind: "update", t, id, label: "Update completed" });
    else if (n === "WorkflowExecutionCancelRequested") marks.push({ kind: "cancel", t, id, label: "Cancel requested" });
    else if (n === "MarkerRecorded") marks.push({ kind: "marker", t, id, label: `Marker: ${a.markerName}` });
  }
  return { byId, activities, timers, children, wfts, marks, resetPoints };
}

// ---------- page ----------
export async function workflowPage(c, main, { ns, wid, rid }) {
  const settings = await loadSettings();
  const base = `${nsPath(ns)}/workflows/${enc(wid)}`;
  const st = { ns, wid, rid, desc: null, events: [], expanded: new Set(), order: "asc", hideWft: false, lastLen: -1, polling: false };

  const describe = () => get(base, { "execution.runId": st.rid || undefined }, { signal: c.signal });
  st.desc = await describe();
  if (!c.alive) return;
  const info = st.desc.workflowExecutionInfo || {};
  if (!st.rid && info.execution && info.execution.runId) {
    st.rid = info.execution.runId;
    history.replaceState(null, "", `${base}/${enc(st.rid)}${location.search}`);
  }

  // containers
  const head = h("div", { class: "page-head" });
  const summary = h("div", { class: "wf-summary-wrap" });
  const queryBox = section("Queries", { testid: "query-card" });
  const timelineBox = section("Timeline", { testid: "timeline-card" });
  const historyBox = section("History", { testid: "history-card" });
  const page = h("div", { class: "page wf-page" }, head, summary, timelineBox, queryBox, historyBox);
  main.appendChild(page);

  const loadHistory = async () => {
    const events = [];
    let token = "";
    for (let i = 0; i < 1000; i++) {
      const r = await get(`${base}/history`, { "execution.runId": st.rid, nextPageToken: token, maximumPageSize: 1000 }, { signal: c.signal });
      events.push(...((r.history && r.history.events) || []));
      token = r.nextPageToken || "";
      if (!token) break;
    }
    st.view = await decodeEvents(events, st.ns).catch(() => events);
    return events;
  };
  st.events = await loadHistory();
  if (!c.alive) return;

  const isOpen = () => (st.desc.workflowExecutionInfo || {}).status === "WORKFLOW_EXECUTION_STATUS_RUNNING";
  const renderAll = () => {
    const an = analyze(st.events);
    renderHead(head, st, settings, an, isOpen(), refreshNow);
    renderSummary(summary, st, an, isOpen());
    renderTimeline(timelineBox, st, an, isOpen(), jumpTo);
    renderHistory(historyBox, st);
  };
  const jumpTo = (eventId) => {
    st.expanded.add(String(eventId));
    st.hideWft = st.hideWft && !/^WorkflowTask/.test(eventName(an0().byId.get(String(eventId)) || {}));
    renderHistory(historyBox, st);
    const row = historyBox.querySelector(`tr[data-event-id="${CSS.escape(String(eventId))}"]`);
    if (row) { row.scrollIntoView({ block: "center", behavior: "smooth" }); row.classList.add("flash"); }
  };
  const an0 = () => analyze(st.events);

  async function refreshNow() {
    try {
      const d = await describe();
      const ev = await loadHistory();
      if (!c.alive) return;
      st.desc = d; st.events = ev;
      renderAll();
      schedulePoll();
    } catch (e) { if (c.alive) showError(e); }
  }

  // live updates
  let pollErrors = 0;
  async function poll() {
    if (!c.alive) return;
    try {
      const d = await describe();
      if (!c.alive) return;
      const len = num(d.workflowExecutionInfo && d.workflowExecutionInfo.historyLength);
      const statusChanged = (d.workflowExecutionInfo || {}).status !== (st.desc.workflowExecutionInfo || {}).status;
      st.desc = d;
      if (len !== st.events.length || statusChanged) {
        st.events = await loadHistory();
        if (!c.alive) return;
        renderAll();
      } else {
        const an = analyze(st.events);
        renderSummary(summary, st, an, isOpen());
        renderHead(head, st, settings, an, isOpen(), refreshNow);
        renderTimeline(timelineBox, st, an, isOpen(), jumpTo);
      }
      pollErrors = 0;
    } catch (e) {
      if (!c.alive || e.name === "AbortError") return;
      pollErrors++;
      if (pollErrors === 3) showError(e, "Live updates");
    }
    schedulePoll();
  }
  let pollTimer = null;
  function schedulePoll() {
    if (pollTimer) clearTimeout(pollTimer);
    pollTimer = null;
    if (isOpen() && c.alive) pollTimer = c.setTimeout(poll, POLL_MS);
  }

  renderAll();
  renderQueryBox(queryBox, st, isOpen());
  schedulePoll();
}

function wfLink(ns, ex, text) {
  if (!ex || !ex.workflowId) return "";
  return link(`${nsPath(ns)}/workflows/${enc(ex.workflowId)}${ex.runId ? "/" + enc(ex.runId) : ""}`, { class: "mono" }, text || ex.workflowId);
}

// ---------- header + actions ----------
function renderHead(head, st, settings, an, open, refresh) {
  const info = st.desc.workflowExecutionInfo || {};
  const ns = st.ns;
  const ex = { workflowId: st.wid, runId: st.rid };
  const dis = (k) => writeDisabled(settings, k) || !open;
  const act = (key, label, cls, handler) => h("button", { type: "button", class: ["btn", cls], testid: `action-${key}`, disabled: dis(key), onclick: handler,
    title: writeDisabled(settings, key) ? "Disabled by server settings" : !open ? "The workflow is closed" : null }, label);
  const base = `${nsPath(ns)}/workflows/${enc(st.wid)}`;
  const after = () => { refresh(); };

  const onSignal = () => {
    const name = h("input", { type: "text", testid: "signal-name", list: "signal-names", required: true, placeholder: "signal name", spellcheck: "false" });
    const input = h("textarea", { testid: "signal-input", rows: 5, placeholder: '{"key": "value"}   (JSON; empty for no input)', spellcheck: "false" });
    const dl = h("datalist", { id: "signal-names" });
    // suggestions only if the query box already fetched the workflow's metadata
    if (st.metaPromise) st.metaPromise.then((def) => { for (const x of (def && def.signalDefinitions) || []) if (x.name) dl.appendChild(h("option", { value: x.name })); });
    confirmDialog({ title: "Send a signal", body: [h("label", null, "Signal name", name, dl), h("label", null, "Input (one JSON value)", input)],
      confirmLabel: "Send signal",
      onConfirm: async () => {
        if (!name.value.trim()) throw new Error("Signal name is required");
        let args = [];
        if (input.value.trim()) {
          try { args = [JSON.parse(input.value)]; } catch (e) { throw new Error(`Input is not valid JSON: ${e.message}`); }
        }
        return post(`${base}/signal/${enc(name.value.trim())}`, { workflowExecution: ex, signalName: name.value.trim(), input: args, identity: "endure-ui", requestId: uuid() });
      }, done: after });
  };
  const onCancel = () => {
    const reason = h("input", { type: "text", testid: "action-reason", value: "Canceled from Endure UI" });
    confirmDialog({ title: "Request cancellation?", body: [h("p", null, "The workflow is asked to cancel; it may run cleanup code before it closes."), h("label", null, "Reason", reason)],
      confirmLabel: "Request cancellation", danger: true,
      onConfirm: () => post(`${base}/cancel`, { workflowExecution: ex, identity: "endure-ui", requestId: uuid(), reason: reason.value }), done: after });
  };
  const onTerminate = () => {
    const reason = h("input", { type: "text", testid: "action-reason", value: "Terminated from Endure UI" });
    confirmDialog({ title: "Terminate workflow?", body: [h("p", null, "Terminating closes the run immediately; the workflow code gets no chance to react."), h("label", null, "Reason", reason)],
      confirmLabel: "Terminate", danger: true,
      onConfirm: () => post(`${base}/terminate`, { workflowExecution: ex, reason: reason.value, identity: "endure-ui" }), done: after });
  };
  const onReset = () => {
    const pts = an.resetPoints.slice().reverse();
    const sel = h("select", { testid: "reset-event-id" }, pts.map((p, i) => h("option", { value: p.id, selected: i === 0 }, `Event ${p.id} · WorkflowTaskCompleted · ${fmtTimeMs(p.time)}`)));
    const reason = h("input", { type: "text", testid: "action-reason", value: "Reset from Endure UI" });
    confirmDialog({ title: "Reset workflow?", body: [
      h("p", null, "Creates a new run that replays history up to the chosen workflow task and continues from there. The current run is terminated if still open."),
      pts.length ? h("label", null, "Reset to (workflow task completed event)", sel) : h("p", { class: "error-text" }, "No completed workflow task to reset to."),
      h("label", null, "Reason", reason)],
    confirmLabel: "Reset", danger: true,
    onConfirm: () => {
      if (!pts.length) throw new Error("No completed workflow task to reset to.");
      return post(`${base}/reset`, { workflowExecution: ex, workflowTaskFinishEventId: sel.value, reason: reason.value, requestId: uuid(), identity: "endure-ui" });
    },
    done: (r) => { if (r && r.runId) navigate(`${base}/${enc(r.runId)}`); else refresh(); } });
  };
  // reset is allowed for closed workflows too
  const resetBtn = h("button", { type: "button", class: "btn", testid: "action-reset", disabled: writeDisabled(settings, "reset") || !an.resetPoints.length, onclick: onReset,
    title: writeDisabled(settings, "reset") ? "Disabled by server settings" : null }, "Reset…");

  replace(head,
    h("div", { class: "head-main" },
      h("div", { class: "crumbs" }, link(`${nsPath(ns)}/workflows`, null, "Workflows"), " / ", (info.type && info.type.name) || ""),
      h("h1", { class: "wf-title" }, mono(st.wid, { class: "mono head-id", testid: "wf-id" }), " ", badge(info.status, { testid: "wf-status" }),
        open ? h("span", { class: "live", testid: "live-indicator", title: `Refreshing every ${POLL_MS / 1000}s while the workflow is running` }, h("span", { class: "dot" }), "Live") : null),
      h("div", { class: "muted small" }, "Run ", mono(st.rid, { testid: "wf-run-id" }))),
    h("div", { class: "head-extra actions" },
      act("signal", "Signal…", "", onSignal),
      act("cancel", "Cancel…", "", onCancel),
      act("terminate", "Terminate…", "danger-outline", onTerminate),
      resetBtn,
      h("button", { type: "button", class: "btn", testid: "wf-refresh", onclick: refresh, title: "Refresh" }, "↻")));
}

// ---------- summary ----------
function closeEvent(st) {
  const last = st.events[st.events.length - 1];
  if (!last) return null;
  return /^WorkflowExecution(Completed|Failed|TimedOut|Canceled|Terminated|ContinuedAsNew)$/.test(eventName(last)) ? last : null;
}

function renderSummary(box, st, an, open) {
  const d = st.desc, info = d.workflowExecutionInfo || {}, cfg = d.executionConfig || {}, ns = st.ns;
  const startEv = st.events.find((e) => eventName(e) === "WorkflowExecutionStarted");
  const sa = startEv ? attrs(startEv) : {};
  const closeEv = closeEvent(st);
  const ca = closeEv ? attrs(closeEv) : {};
  const start = parseTime(info.startTime), close = parseTime(info.closeTime);
  const dur = start ? ((close ? close.getTime() : Date.now()) - start.getTime()) : null;
  const um = cfg.userMetadata || {};
  const umText = (x) => { if (x === undefined || x === null) return ""; const r = decodeLocal(x); return r.ok ? (typeof r.value === "string" ? r.value : compactJSON(r.value, 400)) : `[${r.label}]`; };
  const tq = info.taskQueue || (cfg.taskQueue && cfg.taskQueue.name);

  const main = section("Summary", { testid: "wf-summary" }, fields([
    ["Status", badge(info.status), "status"],
    ["Workflow type", (info.type && info.type.name) || "", "type"],
    ["Summary", umText(um.summary), "user-summary"],
    ["Details", umText(um.details) ? h("div", { class: "prewrap" }, umText(um.details)) : "", "user-details"],
    ["Start", timeEl(info.startTime), "start"],
    ["Execution time", info.executionTime && info.executionTime !== info.startTime ? timeEl(info.executionTime) : "", "execution-time"],
    ["Close", close ? timeEl(info.closeTime) : h("span", { class: "muted" }, "still running"), "close"],
    ["Duration", dur !== null ? `${humanMs(dur)}${close ? "" : " so far"}` : "", "duration"],
    ["Task queue", tq ? link(`${nsPath(ns)}/task-queues?name=${enc(tq)}`, { class: "mono", testid: "task-queue-link" }, tq) : "", "task-queue"],
    ["History", `${num(info.historyLength)} events${info.historySizeBytes ? ` · ${fmtBytes(num(info.historySizeBytes))}` : ""}`, "history-length"],
    ["State transitions", info.stateTransitionCount ? String(num(info.stateTransitionCount)) : "", "state-transitions"],
    ["Run timeout", cfg.workflowRunTimeout && cfg.workflowRunTimeout !== "0s" ? fmtDuration(cfg.workflowRunTimeout) : "", "run-timeout"],
    ["Execution timeout", cfg.workflowExecutionTimeout && cfg.workflowExecutionTimeout !== "0s" ? fmtDuration(cfg.workflowExecutionTimeout) : "", "execution-timeout"],
    ["Attempt", sa.attempt > 1 ? String(sa.attempt) : "", "attempt"],
    ["Parent", info.parentExecution ? wfLink(ns, info.parentExecution) : "", "parent"],
    ["Root", info.rootExecution && (info.rootExecution.workflowId !== st.wid || info.rootExecution.runId !== st.rid) ? wfLink(ns, info.rootExecution) : "", "root"],
    ["First run", info.firstRunId && info.firstRunId !== st.rid ? wfLink(ns, { workflowId: st.wid, runId: info.firstRunId }, info.firstRunId) : "", "first-run"],
    ["Continued from", sa.continuedExecutionRunId ? wfLink(ns, { workflowId: st.wid, runId: sa.continuedExecutionRunId }, sa.continuedExecutionRunId) : "", "continued-from"],
    ["Continued as", ca.newExecutionRunId ? wfLink(ns, { workflowId: st.wid, runId: ca.newExecutionRunId }, ca.newExecutionRunId) : "", "continued-as"],
    ["Identity", sa.identity, "identity"],
  ]));

  const kids = [main];
  // failure / termination
  if (closeEv) {
    const n = eventName(closeEv);
    if (n === "WorkflowExecutionFailed" || n === "WorkflowExecutionTimedOut" || n === "WorkflowExecutionTerminated" || n === "WorkflowExecutionCanceled") {
      const f = ca.failure;
      kids.push(section(n === "WorkflowExecutionFailed" ? "Failure" : n.replace("WorkflowExecution", "").replace("TimedOut", "Timed out"), { testid: "wf-failure", class: "card failure-card" },
        f ? failureView(f) : null,
        n === "WorkflowExecutionTerminated" ? fields([["Reason", ca.reason || "—", "terminate-reason"], ["Identity", ca.identity, "terminate-identity"]]) : null,
        n === "WorkflowExecutionTimedOut" ? h("p", null, `The workflow timed out (retry state: ${enumLabel(ca.retryState, "RETRY_STATE_") || "n/a"}).`) : null,
        n === "WorkflowExecutionCanceled" ? [h("p", null, "The workflow was canceled."), ca.details ? payloadView(ca.details, ns, "wf-cancel-details") : null] : null));
    }
  }
  // input / result
  kids.push(h("div", { class: "two-col" },
    section("Input", { testid: "wf-input" }, payloadView(sa.input, ns, "wf-input-payload")),
    section("Result", { testid: "wf-result" },
      closeEv && eventName(closeEv) === "WorkflowExecutionCompleted" ? payloadView(ca.result, ns, "wf-result-payload")
        : closeEv && eventName(closeEv) === "WorkflowExecutionContinuedAsNew" ? h("p", null, "Continued as new: ", wfLink(ns, { workflowId: st.wid, runId: ca.newExecutionRunId }, ca.newExecutionRunId))
          : h("span", { class: "muted" }, open ? "Pending: the workflow is still running." : "No result (the workflow did not complete successfully)."))));

  // pending activities
  if (open) {
    const pas = (d.pendingActivities || []).map((p) => h("tr", { testid: "pending-activity-row", "data-activity-id": p.activityId },
      h("td", null, mono(p.activityId || "")),
      h("td", null, (p.activityType && p.activityType.name) || ""),
      h("td", null, h("span", { class: ["state", p.state === "PENDING_ACTIVITY_STATE_STARTED" ? "ok" : ""] }, enumLabel(p.state, "PENDING_ACTIVITY_STATE_"))),
      h("td", { testid: "pending-activity-attempt" }, `${p.attempt || 1}${p.maximumAttempts ? " / " + p.maximumAttempts : ""}`),
      h("td", { class: "failure-text" }, p.lastFailure ? failureMsg(p.lastFailure) : ""),
      h("td", null, p.lastHeartbeatTime ? [timeEl(p.lastHeartbeatTime), p.heartbeatDetails ? h("div", { class: "small mono" }, firstPayloadPreview(p.heartbeatDetails)) : null] : h("span", { class: "muted" }, "—")),
      h("td", null, p.nextAttemptScheduleTime ? timeEl(p.nextAttemptScheduleTime) : (p.lastStartedTime ? ["started ", timeEl(p.lastStartedTime)] : "")),
      h("td", null, p.lastWorkerIdentity ? mono(p.lastWorkerIdentity, { class: "mono small" }) : "")));
    if (pas.length) kids.push(section(`Pending activities (${pas.length})`, { testid: "pending-activities" },
      table(["ID", "Type", "State", "Attempt", "Last failure", "Last heartbeat", "Next attempt / started", "Worker"], pas)));
    const pcs = (d.pendingChildren || []).map((p) => h("tr", { testid: "pending-child-row" },
      h("td", null, wfLink(ns, { workflowId: p.workflowId, runId: p.runId })), h("td", null, p.workflowTypeName || ""),
      h("td", null, enumLabel(p.parentClosePolicy, "PARENT_CLOSE_POLICY_")), h("td", null, String(p.initiatedId || ""))));
    if (pcs.length) kids.push(section(`Pending child workflows (${pcs.length})`, { testid: "pending-children" }, table(["Workflow", "Type", "Parent close policy", "Initiated event"], pcs)));
    const pts = [...an.timers.values()].filter((t) => t.state === "started").map((t) => {
      const fire = t.start && t.duration !== null ? new Date(t.start.getTime() + t.duration) : null;
      return h("tr", { testid: "pending-timer-row", "data-timer-id": t.timerId }, h("td", null, mono(t.timerId || "")), h("td", null, timeEl(t.start)),
        h("td", null, humanMs(t.duration)), h("td", null, fire ? timeEl(fire.toISOString()) : ""), h("td", null, String(t.startId)));
    });
    if (pts.length) kids.push(section(`Pending timers (${pts.length})`, { testid: "pending-timers" }, table(["Timer ID", "Started", "Duration", "Fires at", "Started event"], pts)));
  }
  // children from history
  const kidsRows = [...an.children.values()].map((x) => h("tr", { testid: "child-row", "data-workflow-id": x.workflowId },
    h("td", null, wfLink(ns, { workflowId: x.workflowId, runId: x.runId })), h("td", null, x.type || ""),
    h("td", null, !open && (x.state === "running" || x.state === "initiated")
      ? h("span", { class: "muted small", title: "The parent closed before this child reported a result; see the child's own page." }, "No close event")
      : h("span", { class: ["badge", `st-${childClass(x.state)}`] }, childLabel(x.state))),
    h("td", null, timeEl(x.start || x.init)), h("td", null, x.end ? timeEl(x.end.toISOString()) : "")));
  if (kidsRows.length) kids.push(section(`Child workflows (${kidsRows.length})`, { testid: "wf-children" }, table(["Workflow", "Type", "Status", "Started", "Closed"], kidsRows)));

  // memo + search attributes
  const memo = (info.memo && info.memo.fields) || {};
  const sas = decodeSearchAttributes(info.searchAttributes);
  const memoRows = Object.entries(memo).map(([k, v]) => h("tr", { testid: "memo-row", "data-key": k }, h("td", null, mono(k, { class: "mono nobreak" })), h("td", null, payloadView([v], ns))));
  const saRows = Object.entries(sas).sort().map(([k, v]) => h("tr", { testid: "search-attribute-value-row", "data-key": k }, h("td", null, mono(k, { class: "mono nobreak" })), h("td", null, h("span", { class: "mono small" }, typeof v === "string" ? v : JSON.stringify(v)))));
  kids.push(h("div", { class: "two-col" },
    section("Memo", { testid: "wf-memo" }, memoRows.length ? table(["Key", "Value"], memoRows) : h("span", { class: "muted" }, "No memo")),
    section("Search attributes", { testid: "wf-search-attributes" }, saRows.length ? table(["Name", "Value"], saRows) : h("span", { class: "muted" }, "None"))));

  replace(box, ...kids);
}
function childClass(state) {
  return { running: "running", initiated: "running", completed: "completed", failed: "failed", startfailed: "failed", canceled: "canceled", terminated: "terminated", timedout: "timedout" }[state] || "unknown";
}
function childLabel(state) {
  return { running: "Running", initiated: "Starting", completed: "Completed", failed: "Failed", startfailed: "Start failed", canceled: "Canceled", terminated: "Terminated", timedout: "Timed out" }[state] || state;
}
function fmtBytes(n) { return n < 1024 ? `${n} B` : n < 1048576 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / 1048576).toFixed(1)} MiB`; }

function failureView(f) {
  const chain = [];
  for (let x = f, i = 0; x && i < 10; x = x.cause, i++) chain.push(x);
  return h("div", { class: "failure" }, chain.map((x, i) => h("div", { class: "failure-item" },
    h("div", { class: "failure-msg", testid: i === 0 ? "wf-failure-message" : null }, i ? "Caused by: " : "", x.message || "(no message)"),
    x.applicationFailureInfo && x.applicationFailureInfo.type ? h("div", { class: "small muted" }, `Type: ${x.applicationFailureInfo.type}${x.applicationFailureInfo.nonRetryable ? " (non-retryable)" : ""}`) : null,
    x.activityFailureInfo ? h("div", { class: "small muted" }, `Activity ${x.activityFailureInfo.activityType && x.activityFailureInfo.activityType.name} (id ${x.activityFailureInfo.activityId}), retry state: ${enumLabel(x.activityFailureInfo.retryState, "RETRY_STATE_")}`) : null,
    x.stackTrace ? h("details", null, h("summary", null, "Stack trace"), h("pre", { class: "stack" }, x.stackTrace)) : null)));
}

// ---------- history table ----------
function renderHistory(box, st) {
  const start = parseTime(st.events[0] && st.events[0].eventTime);
  const src = st.view && st.view.length === st.events.length ? st.view : st.events;
  const evs = src.filter((e) => !(st.hideWft && /^WorkflowTask/.test(eventName(e))));
  if (st.order === "desc") evs.reverse();
  const rows = [];
  for (const e of evs) {
    const id = String(e.eventId);
    const t = parseTime(e.eventTime);
    const n = eventName(e);
    const open = st.expanded.has(id);
    const kv = eventSummary(e);
    const row = h("tr", { testid: "history-row", "data-event-id": id, "data-event-type": n, class: ["ev-row", open && "open", `ev-${eventCategory(n)}`], tabindex: "0",
      "aria-expanded": open ? "true" : "false",
      onclick: () => toggle(id), onkeydown: (k) => { if (k.key === "Enter" || k.key === " ") { k.preventDefault(); toggle(id); } } },
    h("td", { class: "ev-id mono" }, id),
    h("td", { class: "nowrap", title: t ? t.toISOString() : "" }, fmtTimeMs(t), start && t ? h("span", { class: "rel" }, ` +${humanMs(t - start)}`) : null),
    h("td", { class: "ev-type" }, h("span", { class: "ev-dot" }), n),
    h("td", { class: "ev-sum" }, kv.map(([k, v]) => h("span", { class: "kv" }, h("span", { class: "k" }, k), " ", h("span", { class: "v" }, v)))));
    rows.push(row);
    if (open) {
      const pre = h("pre", { class: "json", testid: "history-event-json" }, "…");
      decodeTree(e, st.ns).then((x) => { pre.textContent = prettyJSON(x); }, () => { pre.textContent = prettyJSON(e); });
      rows.push(h("tr", { class: "ev-detail", testid: "history-row-details", "data-event-id": id }, h("td", { colspan: 4 }, pre)));
    }
  }
  function toggle(id) {
    if (st.expanded.has(id)) st.expanded.delete(id); else st.expanded.add(id);
    const y = window.scrollY;
    renderHistory(box, st);
    window.scrollTo(0, y);
  }
  const tools = h("div", { class: "card-tools" },
    h("label", { class: "check" }, h("input", { type: "checkbox", testid: "history-hide-wft", checked: st.hideWft, onchange: (e) => { st.hideWft = e.target.checked; renderHistory(box, st); } }), " Hide workflow task events"),
    h("button", { type: "button", class: "btn small", testid: "history-order", onclick: () => { st.order = st.order === "asc" ? "desc" : "asc"; renderHistory(box, st); } },
      st.order === "asc" ? "Oldest first ↓" : "Newest first ↑"),
    h("button", { type: "button", class: "btn small", testid: "history-collapse", onclick: () => { st.expanded.clear(); renderHistory(box, st); } }, "Collapse all"));
  replace(box, h("div", { class: "card-head" }, h("h2", null, `History (${st.events.length} events)`), tools),
    h("div", { class: "table-scroll" }, table(["ID", "Time", "Event", "Details"], rows.length ? rows : emptyRow(4, "No events"), { testid: "history-table", class: "tbl history" })));
}
function eventCategory(n) {
  if (/Failed|TimedOut/.test(n)) return "bad";
  if (/Terminated|Cancel/.test(n)) return "warn";
  if (/^WorkflowTask/.test(n)) return "wft";
  if (/^Activity/.test(n)) return "act";
  if (/^Timer/.test(n)) return "timer";
  if (/Child/.test(n)) return "child";
  if (/Signal|Update/.test(n)) return "signal";
  return "wf";
}

// ---------- timeline ----------
const OUTCOME_COLOR = {
  completed: "var(--c-completed)", fired: "var(--c-completed)", running: "var(--c-running)", started: "var(--c-running)", scheduled: "var(--c-running)",
  initiated: "var(--c-running)", failed: "var(--c-failed)", startfailed: "var(--c-failed)", timedout: "var(--c-timedout)", canceled: "var(--c-canceled)",
  terminated: "var(--c-terminated)",
};
function renderTimeline(box, st, an, open, jumpTo) {
  const info = st.desc.workflowExecutionInfo || {};
  const t0d = parseTime(info.startTime) || parseTime(st.events[0] && st.events[0].eventTime);
  if (!t0d) { replace(box, h("h2", null, "Timeline"), h("p", { class: "muted" }, "No events.")); return; }
  const lastEv = parseTime(st.events.length ? st.events[st.events.length - 1].eventTime : null);
  const closeT = parseTime(info.closeTime);
  const t0 = t0d.getTime();
  let t1 = open ? Date.now() : (closeT || lastEv || t0d).getTime();
  if (lastEv && lastEv.getTime() > t1) t1 = lastEv.getTime();
  const tEnd = t1; // real end of the run (or now)
  if (t1 - t0 < 1000) t1 = t0 + 1000;

  const width = Math.max(760, Math.min(1600, (box.clientWidth || 1100) - 40));
  const LABEL = 210, PAD_R = 16, LANE_H = 24, TOP = 30;
  const plotW = width - LABEL - PAD_R;
  const x = (t) => LABEL + Math.max(0, Math.min(1, ((t instanceof Date ? t.getTime() : t) - t0) / (t1 - t0))) * plotW;
  const lanes = [];
  const pendingByActivityId = new Map((st.desc.pendingActivities || []).map((p) => [String(p.activityId), p]));
  const status = statusName(info.status).toLowerCase();

  // workflow lane
  lanes.push({ kind: "workflow", label: `Workflow · ${statusName(info.status)}`, bars: [{ a: t0, b: tEnd, color: OUTCOME_COLOR[status === "continuedasnew" ? "completed" : status] || "var(--c-running)", open, title: `Workflow ${statusName(info.status)}\nstart ${fmtTime(t0d)}${closeT ? `\nclose ${fmtTime(closeT)}` : ""}\nduration ${humanMs(tEnd - t0)}`, eventId: 1 }] });
  // workflow tasks lane
  const wftBars = [...an.wfts.values()].map((w) => ({
    a: w.sched.getTime(), b: (w.end || (open ? new Date(t1) : w.start || w.sched)).getTime(), color: OUTCOME_COLOR[w.state === "completed" ? "completed" : w.state] || "var(--c-running)",
    open: !w.end, thin: true, title: `Workflow task (scheduled event ${w.schedId})\n${w.state}${w.end ? `, took ${humanMs(w.end - w.sched)}` : ""}`, eventId: w.endId || w.schedId,
  }));
  lanes.push({ kind: "workflow-task", label: `Workflow tasks (${wftBars.length})`, bars: wftBars });
  // activities
  for (const a of an.activities.values()) {
    const pend = !a.end ? pendingByActivityId.get(String(a.activityId)) : null;
    const attempt = pend ? pend.attempt || a.attempt : a.attempt;
    const endT = a.end ? a.end.getTime() : open ? t1 : (a.start || a.sched).getTime();
    const state = a.end ? a.state : pend && pend.state === "PENDING_ACTIVITY_STATE_STARTED" ? "started" : a.state;
    const lastFail = (pend && pend.lastFailure) || a.lastFailure;
    const bars = [];
    const startT = a.start ? a.start.getTime() : (pend && parseTime(pend.lastStartedTime) ? parseTime(pend.lastStartedTime).getTime() : null);
    // waiting / retrying segment (scheduled -> last attempt started)
    const waitEnd = startT !== null && startT !== undefined ? startT : endT;
    bars.push({ a: a.sched.getTime(), b: waitEnd, color: attempt > 1 ? "var(--c-failed)" : "var(--c-muted)", retry: attempt > 1, faint: true,
      title: `${a.type} (activity ${a.activityId})\n${attempt > 1 ? `${attempt - 1} failed attempt(s) before ${a.end ? "the last attempt" : "now"}` : "waiting for a worker"}${lastFail ? `\nlast failure: ${failureMsg(lastFail)}` : ""}`, eventId: a.schedId });
    if (startT !== null && startT !== undefined) {
      bars.push({ a: startT, b: endT, color: OUTCOME_COLOR[state] || "var(--c-running)", open: !a.end,
        title: `${a.type} (activity ${a.activityId})\nattempt ${attempt}: ${state}${a.end ? `\ntook ${humanMs(endT - startT)}` : ""}${a.failure ? `\n${failureMsg(a.failure)}` : ""}`, eventId: a.endId || a.startId || a.schedId });
    }
    lanes.push({ kind: "activity", label: `${a.type || "activity"} #${a.activityId}${attempt > 1 ? ` ×${attempt}` : ""}`, state, bars, attempt,
      outcome: a.end ? a.state : "pending" });
  }
  // timers
  for (const tm of an.timers.values()) {
    const planned = tm.duration !== null ? tm.start.getTime() + tm.duration : t1;
    const endT = tm.end ? tm.end.getTime() : Math.min(planned, t1);
    lanes.push({ kind: "timer", label: `Timer ${tm.timerId} (${humanMs(tm.duration)})`, state: tm.state, bars: [{ a: tm.start.getTime(), b: endT, color: OUTCOME_COLOR[tm.state] || "var(--c-running)", open: !tm.end, timer: true,
      title: `Timer ${tm.timerId}: ${tm.state}\nduration ${humanMs(tm.duration)}${!tm.end ? `\nfires ${relTime(new Date(planned))}` : ""}`, eventId: tm.endId || tm.startId }] });
  }
  // children
  for (const ch of an.children.values()) {
    const endT = ch.end ? ch.end.getTime() : open ? t1 : (ch.start || ch.init).getTime();
    const bars = [];
    if (ch.start) bars.push({ a: ch.init.getTime(), b: ch.start.getTime(), color: "var(--c-muted)", faint: true, title: `Child ${ch.workflowId}: starting`, eventId: ch.initId });
    bars.push({ a: (ch.start || ch.init).getTime(), b: endT, color: OUTCOME_COLOR[ch.state] || "var(--c-running)", open: !ch.end, title: `Child workflow ${ch.workflowId} (${ch.type})\n${childLabel(ch.state)}`, eventId: ch.endId || ch.initId });
    lanes.push({ kind: "child", label: `Child ${ch.workflowId}`, state: ch.state, bars });
  }
  // signals / updates markers
  if (an.marks.length) lanes.push({ kind: "events", label: "Signals & updates", marks: an.marks });

  const MAX_LANES = 300;
  const shown = lanes.slice(0, MAX_LANES);
  const height = TOP + shown.length * LANE_H + 10;
  const svg = s("svg", { width, height, viewBox: `0 0 ${width} ${height}`, class: "timeline", testid: "timeline-svg", role: "img", "aria-label": "Workflow timeline" });
  // axis
  const ticks = niceTicks(t1 - t0, Math.max(3, Math.floor(plotW / 110)));
  const axis = s("g", { class: "axis" });
  for (const tk of ticks) {
    const xx = LABEL + (tk / (t1 - t0)) * plotW;
    if (open && xx > LABEL + plotW - 40) continue;
    axis.appendChild(s("line", { x1: xx, x2: xx, y1: TOP - 6, y2: height - 6, class: "grid" }));
    axis.appendChild(s("text", { x: xx, y: TOP - 12, class: "tick", "text-anchor": "middle" }, `+${humanMs(tk)}`, s("title", null, fmtTime(new Date(t0 + tk)))));
  }
  if (open) axis.appendChild(s("text", { x: LABEL + plotW, y: TOP - 12, class: "tick now", "text-anchor": "end" }, "now"));
  svg.appendChild(axis);
  shown.forEach((ln, i) => {
    const y = TOP + i * LANE_H;
    const g = s("g", { class: `lane lane-${ln.kind}`, testid: "timeline-lane", "data-kind": ln.kind, "data-state": ln.outcome || ln.state || "" });
    if (i % 2 === 0) g.appendChild(s("rect", { x: 0, y, width, height: LANE_H, class: "lane-bg" }));
    const label = ln.label.length > 30 ? ln.label.slice(0, 29) + "…" : ln.label;
    g.appendChild(s("text", { x: 8, y: y + LANE_H / 2 + 4, class: "lane-label" }, label, s("title", null, ln.label)));
    for (const b of ln.bars || []) {
      const x1 = x(b.a), x2 = Math.max(x(b.b), x1 + 3);
      const bh = b.thin ? 10 : b.faint ? 6 : 14;
      const rect = s("rect", { x: x1, y: y + (LANE_H - bh) / 2, width: x2 - x1, height: bh, rx: 3, fill: b.color,
        class: ["bar", b.faint && "faint", b.open && "open", b.retry && "retry"].filter(Boolean).join(" "), "data-event-id": b.eventId });
      rect.appendChild(s("title", null, b.title));
      if (b.eventId) rect.addEventListener("click", () => jumpTo(b.eventId));
      g.appendChild(rect);
    }
    if (ln.kind === "activity" && ln.attempt > 1) {
      const bb = ln.bars[ln.bars.length - 1];
      const xe = x(bb.b), nearEnd = xe > width - PAD_R - 70;
      g.appendChild(s("text", { x: nearEnd ? xe - 6 : xe + 4, y: y + LANE_H / 2 - 5, "text-anchor": nearEnd ? "end" : "start", class: "bar-note" }, `attempt ${ln.attempt}`));
    }
    for (const m of ln.marks || []) {
      const cx = x(m.t), cy = y + LANE_H / 2;
      const shape = m.kind === "update"
        ? s("path", { d: `M${cx} ${cy - 6} L${cx + 6} ${cy} L${cx} ${cy + 6} L${cx - 6} ${cy} Z`, class: `mark mark-${m.kind}` })
        : s("circle", { cx, cy, r: 5, class: `mark mark-${m.kind}` });
      shape.setAttribute("data-testid", "timeline-marker");
      shape.setAttribute("data-event-id", m.id);
      shape.appendChild(s("title", null, `${m.label}\nevent ${m.id} · ${fmtTimeMs(m.t)}`));
      shape.addEventListener("click", () => jumpTo(m.id));
      g.appendChild(shape);
    }
    svg.appendChild(g);
  });
  const legend = h("div", { class: "legend" },
    [["completed", "Completed"], ["running", "Running / pending"], ["failed", "Failed / retrying"], ["timedout", "Timed out"], ["canceled", "Canceled"], ["terminated", "Terminated"]]
      .map(([k, l]) => h("span", { class: "lg" }, h("span", { class: `sw st-${k}` }), l)),
    h("span", { class: "lg" }, h("span", { class: "sw mk" }), "Signal"), h("span", { class: "lg" }, h("span", { class: "sw mk-up" }), "Update"));
  replace(box, h("div", { class: "card-head" }, h("h2", null, "Timeline"), h("span", { class: "muted small" }, `${humanMs(tEnd - t0)} · click a bar to jump to its event`)),
    h("div", { class: "timeline-scroll" }, svg), legend,
    lanes.length > MAX_LANES ? h("p", { class: "muted small" }, `Showing the first ${MAX_LANES} of ${lanes.length} lanes.`) : null);
}
function niceTicks(span, n) {
  const steps = [100, 200, 500, 1e3, 2e3, 5e3, 1e4, 15e3, 3e4, 6e4, 12e4, 3e5, 6e5, 9e5, 18e5, 36e5, 72e5, 108e5, 216e5, 432e5, 864e5, 1728e5, 6048e5];
  const step = steps.find((st) => span / st <= n) || span / n;
  const out = [];
  for (let t = 0; t <= span + 1; t += step) out.push(t);
  return out;
}

// ---------- queries ----------
function renderQueryBox(box, st, open) {
  const name = h("input", { type: "text", testid: "query-name", value: "__stack_trace", list: "query-names", spellcheck: "false", "aria-label": "Query name" });
  const dl = h("datalist", { id: "query-names" }, h("option", { value: "__stack_trace" }), h("option", { value: "__enhanced_stack_trace" }));
  const args = h("textarea", { testid: "query-args", rows: 2, placeholder: "Arguments as a JSON array, e.g. [\"x\", 1] (optional)", spellcheck: "false" });
  const out = h("div", { class: "query-out", testid: "query-output" });
  const btn = h("button", { type: "submit", class: "btn primary", testid: "query-run" }, "Run query");
  const form = h("form", { class: "query-box", onsubmit: async (e) => {
    e.preventDefault();
    let qa;
    if (args.value.trim()) {
      try { qa = JSON.parse(args.value); if (!Array.isArray(qa)) qa = [qa]; } catch (x) {
        replace(out, h("div", { class: "error-text", testid: "query-error" }, `Arguments are not valid JSON: ${x.message}`)); return;
      }
    }
    btn.disabled = true;
    replace(out, h("span", { class: "muted" }, "Running query…"));
    try {
      const r = await post(`${nsPath(st.ns)}/workflows/${enc(st.wid)}/query/${enc(name.value.trim())}`,
        { execution: { workflowId: st.wid, runId: st.rid }, query: { queryType: name.value.trim(), queryArgs: qa } });
      if (r.queryRejected) {
        replace(out, h("div", { class: "error-text", testid: "query-error" }, `Query rejected (workflow status ${statusName(r.queryRejected.status)})`));
      } else {
        const list = payloadList(r.queryResult);
        const first = list.length === 1 ? decodeLocal(list[0]) : null;
        if (first && first.ok && typeof first.value === "string") replace(out, h("pre", { class: "stack", testid: "query-result" }, first.value));
        else replace(out, h("div", { testid: "query-result" }, payloadView(r.queryResult, st.ns, "query-result-payload")));
      }
    } catch (x) {
      replace(out, h("div", { class: "error-text", testid: "query-error" }, x.message));
    } finally { btn.disabled = false; }
  } }, h("div", { class: "row" }, h("label", { class: "grow" }, "Query", name, dl), btn), h("label", null, "Arguments", args));
  replace(box, h("h2", null, "Queries"),
    h("p", { class: "muted small" }, "Runs a query on a worker. ", mono("__stack_trace"), " shows where the workflow is blocked.", open ? "" : " The workflow is closed: a worker must replay it to answer."),
    form, out);
  // discover the workflow's query names on demand (user-initiated: the query
  // needs a worker and fails if none is running, which would log a failed request)
  name.addEventListener("focus", () => {
    loadMeta(st).then((def) => {
      if (!def || dl.dataset.filled) return;
      dl.dataset.filled = "1";
      for (const q of def.queryDefinitions || []) if (q.name) dl.appendChild(h("option", { value: q.name }));
    });
  }, { once: true });
}

/** __temporal_workflow_metadata query (once per page), resolves to the
 *  definition or null. Never rejects. */
function loadMeta(st) {
  if (!st.metaPromise) {
    st.metaPromise = post(`${nsPath(st.ns)}/workflows/${enc(st.wid)}/query/__temporal_workflow_metadata`,
      { execution: { workflowId: st.wid, runId: st.rid }, query: { queryType: "__temporal_workflow_metadata" } })
      .then((r) => {
        const l = payloadList(r.queryResult);
        const v = l.length ? decodeLocal(l[0]) : null;
        return (v && v.ok && v.value && v.value.definition) || null;
      }, () => null);
  }
  return st.metaPromise;
}
