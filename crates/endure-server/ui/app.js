// Endure Web UI: shell, router and the list pages.

import { h, s, clear, replace, enc, link, timeEl, fmtTime, relTime, fmtDuration, badge, statusName, STATUS_ORDER, statusClass,
  enumLabel, num, table, emptyRow, section, fields, mono, prettyJSON, uuid, parseTime, compactJSON } from "./util.js";
import { get, post, nsPath, loadSettings, decodeLocal, ApiError, payloadView, decodeSearchAttributes, writeDisabled } from "./api.js";
import { workflowPage } from "./workflow.js";

const main = document.getElementById("main");
const banner = document.getElementById("banner");
const PAGE_SIZE = 50;

// ---------------- error banner ----------------
export function showError(err, prefix) {
  if (err && err.name === "AbortError") return;
  const msg = err instanceof Error ? err.message : String(err);
  replace(banner,
    h("span", { class: "banner-msg", testid: "error-message" }, prefix ? `${prefix}: ${msg}` : msg),
    h("button", { class: "banner-close", type: "button", title: "Dismiss", "aria-label": "Dismiss", onclick: () => { banner.hidden = true; } }, "×"));
  banner.hidden = false;
}
export function clearError() { banner.hidden = true; clear(banner); }

window.addEventListener("unhandledrejection", (e) => { e.preventDefault(); showError(e.reason || "Unexpected error"); });
window.addEventListener("error", (e) => { e.preventDefault(); showError(e.error || e.message || "Unexpected error"); });

// ---------------- namespace ----------------
const NS_KEY = "endure.ui.namespace";
let currentNs = null;
let nsList = null;
export function rememberNs(ns) {
  currentNs = ns;
  try { localStorage.setItem(NS_KEY, ns); } catch (e) { /* storage may be unavailable */ }
  renderNav();
}
async function defaultNs() {
  if (currentNs) return currentNs;
  let ns = null;
  try { ns = localStorage.getItem(NS_KEY); } catch (e) { ns = null; }
  if (!ns) {
    const settings = await loadSettings();
    ns = (settings && settings.DefaultNamespace) || "default";
  }
  return ns;
}

// ---------------- navigation ----------------
let ctx = null; // current page context {signal, timers, alive}

export function navigate(url, { replace: rep = false } = {}) {
  if (rep) history.replaceState(null, "", url); else history.pushState(null, "", url);
  route();
}

document.addEventListener("click", (e) => {
  const a = e.target.closest && e.target.closest("a[data-link]");
  if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const href = a.getAttribute("href");
  if (!href || !href.startsWith("/")) return;
  e.preventDefault();
  navigate(href);
});
window.addEventListener("popstate", () => route());

function newCtx() {
  if (ctx) ctx.dispose();
  const ac = new AbortController();
  const timers = new Set();
  const c = {
    signal: ac.signal,
    alive: true,
    setTimeout(fn, ms) {
      const id = setTimeout(() => { timers.delete(id); if (c.alive) fn(); }, ms);
      timers.add(id);
      return id;
    },
    dispose() { c.alive = false; ac.abort(); timers.forEach(clearTimeout); timers.clear(); },
  };
  ctx = c;
  return c;
}

function seg(parts, i) { try { return decodeURIComponent(parts[i]); } catch (e) { return parts[i]; } }

async function route() {
  const c = newCtx();
  clearError();
  const path = location.pathname.replace(/\/+$/, "") || "/";
  const parts = path.split("/").filter(Boolean);
  const qs = new URLSearchParams(location.search);
  clear(main);
  try {
    if (parts.length === 0) {
      const ns = await defaultNs();
      return navigate(`${nsPath(ns)}/workflows`, { replace: true });
    }
    if (parts[0] === "namespaces" && parts.length === 1) { setActive("namespaces", null); return await namespacesPage(c); }
    if (parts[0] === "namespaces" && parts.length >= 2) {
      const ns = seg(parts, 1);
      if (ns !== currentNs) {
        currentNs = ns;
        // only persist namespaces known to exist (a typo in the URL should not stick)
        if (nsList && nsList.includes(ns)) rememberNs(ns); else renderNav();
      }
      const section = parts[2] || "workflows";
      setActive(section, ns);
      if (section === "workflows" && parts.length <= 3) return await workflowsPage(c, ns, qs);
      if (section === "workflows" && parts.length >= 4) {
        return await workflowPage(c, main, { ns, wid: seg(parts, 3), rid: parts[4] ? seg(parts, 4) : "" });
      }
      if (section === "schedules" && parts.length === 3) return await schedulesPage(c, ns);
      if (section === "schedules" && parts.length >= 4) return await schedulePage(c, ns, seg(parts, 3));
      if (section === "task-queues") return await taskQueuePage(c, ns, parts[3] ? seg(parts, 3) : (qs.get("name") || ""));
      if (section === "search-attributes") return await searchAttributesPage(c, ns);
    }
    setActive(null, null);
    main.appendChild(section404());
  } catch (e) {
    if (c.alive) showError(e);
  }
}

function section404() {
  return h("div", { class: "page" }, h("h1", null, "Page not found"),
    h("p", null, "No page at ", mono(location.pathname), ". ", link("/", null, "Go to workflows")));
}

// ---------------- shell / nav ----------------
const nav = document.getElementById("nav");
let activeSection = null;
function setActive(sectionName, ns) {
  activeSection = sectionName;
  if (ns) currentNs = ns;
  renderNav();
}

function renderNav() {
  const ns = currentNs || "default";
  const item = (key, label, href, icon) => link(href, { class: ["nav-item", activeSection === key && "active"], testid: `nav-${key}` },
    h("span", { class: "nav-icon", "aria-hidden": "true" }, icon), label);
  const picker = h("select", { id: "ns-picker", testid: "namespace-picker", "aria-label": "Namespace",
    onchange: (e) => { rememberNs(e.target.value); navigate(`${nsPath(e.target.value)}/workflows`); } });
  const names = nsList ? nsList.slice() : [];
  if (!names.includes(ns)) names.unshift(ns);
  for (const n of names) picker.appendChild(h("option", { value: n, selected: n === ns }, n));
  replace(nav,
    h("div", { class: "nav-label" }, "Namespace"),
    picker,
    h("div", { class: "nav-links" },
      item("workflows", "Workflows", `${nsPath(ns)}/workflows`, "▤"),
      item("schedules", "Schedules", `${nsPath(ns)}/schedules`, "◷"),
      item("task-queues", "Task queues", `${nsPath(ns)}/task-queues`, "⇶"),
      item("search-attributes", "Search attributes", `${nsPath(ns)}/search-attributes`, "⌕"),
      item("namespaces", "Namespaces", "/namespaces", "◫")));
}

async function loadNamespaces() {
  try {
    const all = [];
    let token = "";
    for (let i = 0; i < 20; i++) {
      const r = await get("/namespaces", { pageSize: 100, nextPageToken: token });
      all.push(...(r.namespaces || []));
      token = r.nextPageToken || "";
      if (!token) break;
    }
    nsList = all.map((n) => n.namespaceInfo && n.namespaceInfo.name).filter(Boolean);
    renderNav();
    return all;
  } catch (e) {
    return null;
  }
}

function pageHeader(title, ...extra) {
  return h("div", { class: "page-head" }, h("h1", null, title), h("div", { class: "head-extra" }, ...extra));
}

// ---------------- namespaces ----------------
async function namespacesPage(c) {
  const body = h("div", { class: "page" }, pageHeader("Namespaces"));
  main.appendChild(body);
  const r = await get("/namespaces", { pageSize: 100 }, { signal: c.signal });
  const list = r.namespaces || [];
  nsList = list.map((n) => n.namespaceInfo && n.namespaceInfo.name).filter(Boolean);
  renderNav();
  const rows = list.map((n) => {
    const info = n.namespaceInfo || {}, cfg = n.config || {};
    return h("tr", { testid: "namespace-row", "data-namespace": info.name },
      h("td", null, link(`${nsPath(info.name)}/workflows`, { onclick: () => rememberNs(info.name), class: "strong" }, info.name),
        info.name === currentNs ? h("span", { class: "pill" }, "selected") : null),
      h("td", null, h("span", { class: ["state", info.state === "NAMESPACE_STATE_REGISTERED" ? "ok" : "warn"] }, enumLabel(info.state, "NAMESPACE_STATE_"))),
      h("td", null, fmtDuration(cfg.workflowExecutionRetentionTtl)),
      h("td", null, info.description || h("span", { class: "muted" }, "—")),
      h("td", null, info.ownerEmail || ""),
      h("td", null, mono(info.id || "", { class: "mono small" })));
  });
  body.appendChild(section(null, null, table(["Name", "State", "Retention", "Description", "Owner", "ID"],
    rows.length ? rows : emptyRow(6, "No namespaces"), { testid: "namespaces-table" })));
}

// ---------------- workflows list ----------------
let tokenCache = { key: null, tokens: [""] };

function combineQuery(query, status) {
  const q = (query || "").trim();
  const sq = status ? `ExecutionStatus="${status}"` : "";
  if (q && sq) return `(${q}) AND ${sq}`;
  return q || sq;
}

async function workflowsPage(c, ns, qs) {
  const query = qs.get("query") || "";
  const status = qs.get("status") || "";
  const page = Math.max(1, parseInt(qs.get("page") || "1", 10) || 1);
  const effective = combineQuery(query, status);

  const setUrl = (q, st, p) => {
    const u = new URLSearchParams();
    if (q) u.set("query", q);
    if (st) u.set("status", st);
    if (p > 1) u.set("page", String(p));
    const qstr = u.toString();
    navigate(`${nsPath(ns)}/workflows${qstr ? "?" + qstr : ""}`);
  };

  const input = h("input", { type: "text", class: "query-input", testid: "workflow-query-input", value: query, spellcheck: "false",
    placeholder: 'List filter, e.g. WorkflowType="OrderWorkflow" AND StartTime > "2024-01-01T00:00:00Z"', "aria-label": "Query" });
  const form = h("form", { class: "query-form", testid: "workflow-query-form", onsubmit: (e) => { e.preventDefault(); setUrl(input.value.trim(), status, 1); } },
    input,
    h("button", { type: "submit", class: "btn primary", testid: "workflow-query-submit" }, "Search"),
    query ? h("button", { type: "button", class: "btn", testid: "workflow-query-clear", onclick: () => setUrl("", status, 1) }, "Clear") : null);
  const counts = h("div", { class: "status-counts", testid: "status-counts" });
  const tableBox = h("div", { class: "table-box" }, h("div", { class: "loading" }, "Loading workflows…"));
  const pager = h("div", { class: "pager" });
  const refresh = h("button", { class: "btn", type: "button", testid: "workflows-refresh", onclick: () => route() }, "↻ Refresh");
  main.appendChild(h("div", { class: "page" }, pageHeader("Workflows", refresh), form, counts, section(null, { class: "card flush" }, tableBox, pager)));
  input.focus();

  // counts (query without the status chip)
  const countQuery = query ? `${query} GROUP BY ExecutionStatus` : "GROUP BY ExecutionStatus";
  get(`${nsPath(ns)}/workflow-count`, { query: countQuery }, { signal: c.signal }).then((r) => {
    const byStatus = {};
    for (const g of r.groups || []) {
      const v = (g.groupValues || []).map((x) => { const d = decodeLocal(x); return d.ok ? d.value : ""; })[0];
      byStatus[String(v)] = num(g.count);
    }
    const chip = (st, label, n) => h("button", {
      type: "button", class: ["chip", `st-${st ? statusClass(st) : "all"}`, (status || "") === (st || "") && "active"],
      testid: `status-count-${st || "All"}`, "data-count": String(n),
      onclick: () => setUrl(query, st, 1),
    }, h("span", { class: "chip-label" }, label), h("span", { class: "chip-n" }, n.toLocaleString()));
    replace(counts, chip("", "All", num(r.count)),
      STATUS_ORDER.filter((st) => byStatus[st] || st === "Running" || st === "Completed" || st === "Failed" || st === status)
        .map((st) => chip(st, st === "ContinuedAsNew" ? "Continued as new" : st === "TimedOut" ? "Timed out" : st, byStatus[st] || 0)));
  }, (e) => { if (c.alive && e.name !== "AbortError") replace(counts, h("span", { class: "muted small" }, `Counts unavailable: ${e.message}`)); });

  // page tokens
  if (tokenCache.key !== `${ns}\u0000${effective}`) tokenCache = { key: `${ns}\u0000${effective}`, tokens: [""] };
  const fetchPage = (token) => get(`${nsPath(ns)}/workflows`, { pageSize: PAGE_SIZE, query: effective, nextPageToken: token }, { signal: c.signal });
  // tokens[k] is the token that fetches page k+1 ("" for page 1)
  let p = page;
  while (p > 1 && !tokenCache.tokens[p - 1]) p--;
  let resp = await fetchPage(tokenCache.tokens[p - 1] || "");
  tokenCache.tokens[p] = resp.nextPageToken || "";
  while (p < page && resp.nextPageToken && c.alive) {
    p++;
    resp = await fetchPage(resp.nextPageToken);
    tokenCache.tokens[p] = resp.nextPageToken || "";
  }
  const shownPage = p;
  if (!c.alive) return;
  const execs = (resp && resp.executions) || [];
  const rows = execs.map((x) => {
    const ex = x.execution || {};
    const href = `${nsPath(ns)}/workflows/${enc(ex.workflowId)}/${enc(ex.runId)}`;
    return h("tr", { testid: "workflow-row", "data-workflow-id": ex.workflowId, "data-run-id": ex.runId, "data-status": statusName(x.status) },
      h("td", null, badge(x.status)),
      h("td", null, link(href, { class: "mono strong", testid: "workflow-link" }, ex.workflowId)),
      h("td", { class: "nowrap" }, link(href, { class: "mono runid muted-link" }, ex.runId)),
      h("td", null, (x.type && x.type.name) || ""),
      h("td", { class: "nowrap" }, timeEl(x.startTime, { compact: true })),
      h("td", { class: "nowrap" }, timeEl(x.closeTime, { empty: "", compact: true, rel: false })),
      h("td", null, x.taskQueue ? link(`${nsPath(ns)}/task-queues?name=${enc(x.taskQueue)}`, { class: "mono small" }, x.taskQueue) : ""));
  });
  replace(tableBox, h("div", { class: "table-scroll" }, table(["Status", "Workflow ID", "Run ID", "Type", "Start", "End", "Task queue"],
    rows.length ? rows : emptyRow(7, effective ? "No workflows match this query." : "No workflows in this namespace yet."),
    { testid: "workflows-table" })));
  const hasNext = !!(resp && resp.nextPageToken);
  replace(pager,
    h("button", { class: "btn", type: "button", testid: "pager-prev", disabled: shownPage <= 1, onclick: () => setUrl(query, status, shownPage - 1) }, "← Previous"),
    h("span", { class: "page-ind", testid: "page-indicator" }, `Page ${shownPage}`, execs.length ? ` · rows ${(shownPage - 1) * PAGE_SIZE + 1}–${(shownPage - 1) * PAGE_SIZE + execs.length}` : ""),
    h("button", { class: "btn", type: "button", testid: "pager-next", disabled: !hasNext, onclick: () => setUrl(query, status, shownPage + 1) }, "Next →"));
}

// ---------------- task queues ----------------
async function taskQueuePage(c, ns, name) {
  const input = h("input", { type: "text", class: "query-input", testid: "task-queue-input", value: name, placeholder: "Task queue name", "aria-label": "Task queue name", spellcheck: "false" });
  const form = h("form", { class: "query-form", onsubmit: (e) => { e.preventDefault(); const v = input.value.trim(); navigate(`${nsPath(ns)}/task-queues${v ? "?name=" + enc(v) : ""}`); } },
    input, h("button", { type: "submit", class: "btn primary", testid: "task-queue-submit" }, "Describe"));
  const body = h("div", { class: "page" }, pageHeader(name ? "Task queue" : "Task queues", name ? mono(name, { class: "mono head-id", testid: "task-queue-name" }) : null), form);
  main.appendChild(body);
  if (!name) {
    input.focus();
    const box = section("Task queues seen in recent workflows", { testid: "recent-task-queues" }, h("div", { class: "loading" }, "Loading…"));
    body.appendChild(box);
    const r = await get(`${nsPath(ns)}/workflows`, { pageSize: 200 }, { signal: c.signal });
    const seen = new Map();
    for (const x of r.executions || []) if (x.taskQueue) seen.set(x.taskQueue, (seen.get(x.taskQueue) || 0) + 1);
    const items = [...seen.entries()].sort((a, b) => b[1] - a[1]).map(([q, n]) =>
      h("li", null, link(`${nsPath(ns)}/task-queues?name=${enc(q)}`, { class: "mono", testid: "task-queue-link" }, q), h("span", { class: "muted small" }, ` · ${n} recent workflow${n === 1 ? "" : "s"}`)));
    replace(box, h("h2", null, "Task queues seen in recent workflows"), items.length ? h("ul", { class: "plain-list" }, items) : h("p", { class: "muted" }, "No workflows yet. Type a task queue name above."));
    return;
  }
  const kinds = [["TASK_QUEUE_TYPE_WORKFLOW", "Workflow"], ["TASK_QUEUE_TYPE_ACTIVITY", "Activity"]];
  const results = await Promise.all(kinds.map(([t]) =>
    get(`${nsPath(ns)}/task-queues/${enc(name)}`, { "taskQueue.kind": "TASK_QUEUE_KIND_NORMAL", taskQueueType: t, reportStats: true }, { signal: c.signal })
      .catch((e) => ({ __error: e }))));
  if (!c.alive) return;
  results.forEach((r, i) => {
    const [type, label] = kinds[i];
    const key = label.toLowerCase();
    if (r.__error) {
      if (r.__error.name === "AbortError") return;
      body.appendChild(section(`${label} task queue`, { testid: `task-queue-${key}` }, h("p", { class: "error-text" }, r.__error.message)));
      showError(r.__error, `${label} task queue`);
      return;
    }
    const st = r.stats || {};
    const pollers = (r.pollers || []).map((p) => h("tr", { testid: "poller-row", "data-identity": p.identity },
      h("td", null, mono(p.identity || "")),
      h("td", null, timeEl(p.lastAccessTime)),
      h("td", null, p.ratePerSecond !== undefined ? String(p.ratePerSecond) : ""),
      h("td", null, p.workerVersionCapabilities && p.workerVersionCapabilities.buildId ? mono(p.workerVersionCapabilities.buildId, { class: "mono small" }) : "")));
    body.appendChild(section(`${label} task queue`, { testid: `task-queue-${key}` },
      h("div", { class: "stats" },
        stat("Pollers", (r.pollers || []).length, `tq-${key}-pollers`),
        stat("Backlog", num(st.approximateBacklogCount).toLocaleString(), `tq-${key}-backlog`),
        stat("Backlog age", fmtDuration(st.approximateBacklogAge) === "none" ? "0s" : fmtDuration(st.approximateBacklogAge || "0s"), `tq-${key}-backlog-age`),
        stat("Add rate", `${(st.tasksAddRate || 0).toFixed(2)}/s`, `tq-${key}-add-rate`),
        stat("Dispatch rate", `${(st.tasksDispatchRate || 0).toFixed(2)}/s`, `tq-${key}-dispatch-rate`),
        r.effectiveRateLimit ? stat("Rate limit", `${r.effectiveRateLimit.requestsPerSecond}/s`, `tq-${key}-rate-limit`) : null),
      table(["Poller identity", "Last access", "Rate per second", "Build ID"], pollers.length ? pollers : emptyRow(4, "No pollers: no worker is polling this task queue."),
        { testid: `pollers-${key}` })));
  });
}
function stat(label, value, testid) {
  return h("div", { class: "stat", testid }, h("div", { class: "stat-v" }, String(value)), h("div", { class: "stat-l" }, label));
}

// ---------------- search attributes ----------------
async function searchAttributesPage(c, ns) {
  const body = h("div", { class: "page" }, pageHeader("Search attributes", h("span", { class: "muted" }, ns)));
  main.appendChild(body);
  const r = await get(`${nsPath(ns)}/search-attributes`, null, { signal: c.signal });
  if (!c.alive) return;
  const mk = (obj, kind) => {
    const rows = Object.entries(obj || {}).sort((a, b) => a[0].localeCompare(b[0])).map(([k, v]) =>
      h("tr", { testid: "search-attribute-row", "data-name": k, "data-kind": kind }, h("td", null, mono(k)), h("td", null, h("span", { class: "type-pill" }, String(v).replace(/^INDEXED_VALUE_TYPE_/, "")))));
    return table(["Name", "Type"], rows.length ? rows : emptyRow(2, "None"), { testid: `search-attributes-${kind}` });
  };
  body.appendChild(h("div", { class: "two-col" },
    section(`Custom (${Object.keys(r.customAttributes || {}).length})`, null, mk(r.customAttributes, "custom")),
    section(`System (${Object.keys(r.systemAttributes || {}).length})`, null, mk(r.systemAttributes, "system"))));
}

// ---------------- schedules ----------------
async function schedulesPage(c, ns) {
  const body = h("div", { class: "page" }, pageHeader("Schedules", h("button", { class: "btn", type: "button", onclick: () => route() }, "↻ Refresh")));
  main.appendChild(body);
  const all = [];
  let token = "";
  for (let i = 0; i < 10; i++) {
    const r = await get(`${nsPath(ns)}/schedules`, { maximumPageSize: 100, nextPageToken: token }, { signal: c.signal });
    all.push(...(r.schedules || []));
    token = r.nextPageToken || "";
    if (!token) break;
  }
  if (!c.alive) return;
  all.sort((a, b) => String(a.scheduleId).localeCompare(String(b.scheduleId)));
  const rows = all.map((sch) => {
    const info = sch.info || {};
    const recent = (info.recentActions || []).slice(-1)[0];
    return h("tr", { testid: "schedule-row", "data-schedule-id": sch.scheduleId },
      h("td", null, link(`${nsPath(ns)}/schedules/${enc(sch.scheduleId)}`, { class: "mono strong" }, sch.scheduleId)),
      h("td", null, info.paused ? h("span", { class: "badge st-paused" }, "Paused") : h("span", { class: "badge st-running" }, "Active")),
      h("td", null, (info.workflowType && info.workflowType.name) || ""),
      h("td", null, specSummary(info.spec)),
      h("td", { class: "nowrap" }, recent ? timeEl(recent.actualTime || recent.scheduleTime) : h("span", { class: "muted" }, "—")),
      h("td", { class: "nowrap" }, (info.futureActionTimes || [])[0] ? timeEl(info.futureActionTimes[0]) : h("span", { class: "muted" }, "—")),
      h("td", null, info.notes || ""));
  });
  body.appendChild(section(null, { class: "card flush" }, table(["Schedule ID", "State", "Workflow type", "Spec", "Last run", "Next run", "Notes"],
    rows.length ? rows : emptyRow(7, "No schedules in this namespace."), { testid: "schedules-table" })));
}

function rangeText(ranges, names) {
  return (ranges || []).map((r) => {
    const st = r.start || 0, end = r.end || st, step = r.step || 1;
    const nm = (v) => (names ? names[v] || v : v);
    if (r.start === undefined && r.end === undefined && step === 1) return "*";
    if (end === st) return String(nm(st));
    return `${nm(st)}-${nm(end)}${step > 1 ? "/" + step : ""}`;
  }).join(",");
}
const DOW = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
function calText(cal) {
  const parts = [];
  const f = (label, ranges, names) => { const t = rangeText(ranges, names); if (t && t !== "*") parts.push(`${label} ${t}`); };
  f("second", cal.second); f("minute", cal.minute); f("hour", cal.hour);
  if (!(cal.dayOfMonth && rangeText(cal.dayOfMonth) === "1-31")) f("day", cal.dayOfMonth);
  if (!(cal.month && rangeText(cal.month) === "1-12")) f("month", cal.month);
  if (!(cal.dayOfWeek && rangeText(cal.dayOfWeek) === "0-6")) f("weekday", cal.dayOfWeek, DOW);
  if (cal.year && cal.year.length) f("year", cal.year);
  return parts.length ? parts.join(", ") : "every second";
}
function specSummary(spec) {
  if (!spec) return "";
  const out = [];
  for (const iv of spec.interval || []) out.push(`every ${fmtDuration(iv.interval)}${iv.phase && iv.phase !== "0s" ? ` (offset ${fmtDuration(iv.phase)})` : ""}`);
  for (const cs of spec.cronString || []) out.push(`cron ${cs}`);
  for (const cal of spec.structuredCalendar || []) out.push(`at ${calText(cal)}`);
  for (const cal of spec.calendar || []) out.push(`calendar ${["second", "minute", "hour", "dayOfMonth", "month", "dayOfWeek"].map((k) => cal[k] || "*").join(" ")}`);
  return out.join("; ");
}

async function schedulePage(c, ns, sid) {
  const settings = await loadSettings();
  const body = h("div", { class: "page" });
  main.appendChild(body);
  const r = await get(`${nsPath(ns)}/schedules/${enc(sid)}`, null, { signal: c.signal });
  if (!c.alive) return;
  const sch = r.schedule || {}, info = r.info || {}, state = sch.state || {}, spec = sch.spec || {};
  const sw = (sch.action && sch.action.startWorkflow) || {};
  const ro = settings && settings.DisableWriteActions;
  const paused = !!state.paused;

  const patch = (p) => post(`${nsPath(ns)}/schedules/${enc(sid)}/patch`, { patch: p, identity: "endure-ui", requestId: uuid() });
  const pauseBtn = h("button", { class: "btn", type: "button", testid: paused ? "schedule-unpause" : "schedule-pause", disabled: ro,
    onclick: () => {
      const note = h("input", { type: "text", testid: "dialog-reason", value: paused ? "Unpaused via Endure UI" : "Paused via Endure UI" });
      confirmDialog({ title: paused ? `Unpause schedule ${sid}?` : `Pause schedule ${sid}?`, body: [h("label", null, "Note", note)],
        confirmLabel: paused ? "Unpause" : "Pause",
        onConfirm: () => patch(paused ? { unpause: note.value } : { pause: note.value }),
        done: () => route() });
    } }, paused ? "Unpause" : "Pause");
  const triggerBtn = h("button", { class: "btn primary", type: "button", testid: "schedule-trigger", disabled: ro,
    onclick: () => confirmDialog({ title: `Trigger schedule ${sid} now?`, body: [h("p", null, "Starts the scheduled action immediately (the schedule's overlap policy applies).")],
      confirmLabel: "Trigger now", onConfirm: () => patch({ triggerImmediately: { overlapPolicy: (sch.policies && sch.policies.overlapPolicy) || undefined } }), done: () => c.setTimeout(() => route(), 800) }) }, "Trigger now");

  body.appendChild(h("div", { class: "page-head" },
    h("div", null, h("div", { class: "crumbs" }, link(`${nsPath(ns)}/schedules`, null, "Schedules"), " / "),
      h("h1", null, mono(sid, { class: "mono head-id" }), " ", paused ? h("span", { class: "badge st-paused", testid: "schedule-state" }, "Paused") : h("span", { class: "badge st-running", testid: "schedule-state" }, "Active"))),
    h("div", { class: "head-extra actions" }, pauseBtn, triggerBtn)));

  body.appendChild(h("div", { class: "two-col" },
    section("Schedule", { testid: "schedule-summary" }, fields([
      ["Spec", specSummary(spec), "spec"],
      ["Time zone", spec.timezoneName, "timezone"],
      ["Start / end", spec.startTime || spec.endTime ? `${fmtTime(spec.startTime) || "—"} → ${fmtTime(spec.endTime) || "—"}` : "", "bounds"],
      ["Jitter", spec.jitter ? fmtDuration(spec.jitter) : "", "jitter"],
      ["State", paused ? "Paused" : "Active", "state"],
      ["Notes", state.notes, "notes"],
      ["Remaining actions", state.limitedActions ? String(state.remainingActions || 0) : "", "remaining"],
      ["Overlap policy", enumLabel(sch.policies && sch.policies.overlapPolicy, "SCHEDULE_OVERLAP_POLICY_"), "overlap"],
      ["Catchup window", fmtDuration(sch.policies && sch.policies.catchupWindow), "catchup"],
      ["Created", timeEl(info.createTime), "created"],
      ["Updated", info.updateTime ? timeEl(info.updateTime) : "", "updated"],
      ["Actions taken", String(num(info.actionCount)), "action-count"],
      ["Missed (catchup)", info.missedCatchupWindow ? String(info.missedCatchupWindow) : "", "missed"],
      ["Overlap skipped", info.overlapSkipped ? String(info.overlapSkipped) : "", "skipped"],
    ])),
    section("Action: start workflow", { testid: "schedule-action" }, fields([
      ["Workflow type", sw.workflowType && sw.workflowType.name, "wf-type"],
      ["Workflow ID", sw.workflowId ? mono(sw.workflowId) : "", "wf-id"],
      ["Task queue", sw.taskQueue && sw.taskQueue.name ? link(`${nsPath(ns)}/task-queues?name=${enc(sw.taskQueue.name)}`, { class: "mono" }, sw.taskQueue.name) : "", "wf-tq"],
      ["Run timeout", sw.workflowRunTimeout ? fmtDuration(sw.workflowRunTimeout) : "", "run-timeout"],
      ["Execution timeout", sw.workflowExecutionTimeout ? fmtDuration(sw.workflowExecutionTimeout) : "", "exec-timeout"],
    ]), h("h3", null, "Input"), payloadView(sw.input, ns, "schedule-input"))));

  const running = (info.runningWorkflows || []).map((w) => h("li", null, link(`${nsPath(ns)}/workflows/${enc(w.workflowId)}/${enc(w.runId)}`, { class: "mono" }, w.workflowId)));
  const recent = (info.recentActions || []).slice().reverse().map((a) => {
    const w = a.startWorkflowResult || {};
    return h("tr", { testid: "schedule-recent-row" }, h("td", { class: "nowrap" }, timeEl(a.scheduleTime, { compact: true })), h("td", { class: "nowrap" }, timeEl(a.actualTime, { compact: true, rel: false })),
      h("td", null, w.workflowId ? link(`${nsPath(ns)}/workflows/${enc(w.workflowId)}/${enc(w.runId)}`, { class: "mono" }, w.workflowId) : ""),
      h("td", null, a.startWorkflowStatus ? badge(a.startWorkflowStatus) : ""));
  });
  const future = (info.futureActionTimes || []).map((t) => h("li", { testid: "schedule-next-time" }, timeEl(t)));
  body.appendChild(h("div", { class: "two-col" },
    section("Recent actions", { testid: "schedule-recent" }, table(["Scheduled", "Actual", "Workflow", "Status"], recent.length ? recent : emptyRow(4, "No actions yet."))),
    section("Upcoming runs", { testid: "schedule-upcoming" }, future.length ? h("ul", { class: "plain-list" }, future) : h("p", { class: "muted" }, paused ? "Paused: no upcoming runs." : "None."),
      running.length ? [h("h3", null, "Running workflows"), h("ul", { class: "plain-list" }, running)] : null)));
}

// ---------------- confirmation dialog ----------------
const dialog = document.getElementById("dialog");
/** confirmDialog({title, body:[nodes], confirmLabel, danger, validate, onConfirm: async, done}) */
export function confirmDialog({ title, body, confirmLabel = "Confirm", danger = false, onConfirm, done }) {
  const err = h("div", { class: "dialog-error", testid: "dialog-error", hidden: true });
  const confirmBtn = h("button", { type: "submit", class: ["btn", danger ? "danger" : "primary"], testid: "dialog-confirm" }, confirmLabel);
  const cancelBtn = h("button", { type: "button", class: "btn", testid: "dialog-cancel", onclick: () => dialog.close() }, "Cancel");
  const form = h("form", { method: "dialog", class: "dialog-form",
    onsubmit: async (e) => {
      e.preventDefault();
      err.hidden = true;
      confirmBtn.disabled = true;
      try {
        const res = await onConfirm();
        dialog.close();
        if (done) done(res);
      } catch (x) {
        err.textContent = x && x.message ? x.message : String(x);
        err.hidden = false;
      } finally {
        confirmBtn.disabled = false;
      }
    } },
  h("h2", { testid: "dialog-title" }, title), h("div", { class: "dialog-body" }, body), err, h("div", { class: "dialog-actions" }, cancelBtn, confirmBtn));
  replace(dialog, form);
  if (!dialog.open) dialog.showModal();
  const first = form.querySelector("input, textarea, select");
  if (first) first.focus(); else confirmBtn.focus();
}

// ---------------- boot ----------------
(async () => {
  currentNs = await defaultNs();
  renderNav();
  loadNamespaces();
  loadSettings().then((st) => {
    const v = document.getElementById("version");
    if (v && st && st.Version) v.textContent = /^\d/.test(st.Version) ? `v${st.Version}` : st.Version;
    if (st && st.DisableWriteActions) document.body.classList.add("read-only");
  });
  route();
})();
