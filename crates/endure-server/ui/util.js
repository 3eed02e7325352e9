// DOM and formatting helpers. Everything user-controlled goes through
// textContent / setAttribute; innerHTML is never used.

const SVG_NS = "http://www.w3.org/2000/svg";

function applyAttrs(el, attrs) {
  if (!attrs) return;
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") el.setAttribute("class", Array.isArray(v) ? v.filter(Boolean).join(" ") : v);
    else if (k === "testid") el.setAttribute("data-testid", v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "value" && "value" in el) el.value = v;
    else if (k === "checked" || k === "disabled" || k === "selected") { el[k] = !!v; if (v) el.setAttribute(k, ""); }
    else el.setAttribute(k, v === true ? "" : String(v));
  }
}

function appendKids(el, kids) {
  for (const c of kids) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) appendKids(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

/** h("div", {class: "x", testid: "y", onclick: fn}, "text", child, [more]) */
export function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  if (attrs && (attrs instanceof Node || typeof attrs !== "object" || Array.isArray(attrs))) { kids.unshift(attrs); attrs = null; }
  applyAttrs(el, attrs);
  appendKids(el, kids);
  return el;
}

/** SVG element. */
export function s(tag, attrs, ...kids) {
  const el = document.createElementNS(SVG_NS, tag);
  applyAttrs(el, attrs);
  appendKids(el, kids);
  return el;
}

export function clear(el) { while (el.firstChild) el.removeChild(el.firstChild); return el; }
export function replace(el, ...kids) { clear(el); appendKids(el, kids); return el; }

// ---------- routing helpers ----------
export function enc(x) { return encodeURIComponent(String(x)); }
export function link(href, attrs, ...kids) {
  return h("a", Object.assign({ href, "data-link": "" }, attrs || {}), ...kids);
}

// ---------- time ----------
export function parseTime(t) {
  if (!t || typeof t !== "string" || t.startsWith("0001-01-01")) return null;
  const d = new Date(t);
  return isNaN(d.getTime()) ? null : d;
}
function pad(n, w = 2) { return String(n).padStart(w, "0"); }
export function fmtTime(t) {
  const d = t instanceof Date ? t : parseTime(t);
  if (!d) return "";
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}
export function fmtTimeMs(t) {
  const d = t instanceof Date ? t : parseTime(t);
  if (!d) return "";
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}
export function humanMs(ms) {
  if (ms === null || ms === undefined || isNaN(ms)) return "";
  const neg = ms < 0; ms = Math.abs(ms);
  let out;
  if (ms < 1000) out = `${Math.round(ms)}ms`;
  else if (ms < 60e3) out = `${(ms / 1000).toFixed(ms < 10e3 ? 2 : 1).replace(/\.?0+$/, "")}s`;
  else {
    const sec = Math.floor(ms / 1000);
    const d = Math.floor(sec / 86400), hh = Math.floor((sec % 86400) / 3600), mm = Math.floor((sec % 3600) / 60), ss = sec % 60;
    const parts = [];
    if (d) parts.push(`${d}d`);
    if (hh) parts.push(`${hh}h`);
    if (mm && !d) parts.push(`${mm}m`);
    if (ss && !d && !hh) parts.push(`${ss}s`);
    out = parts.join(" ") || "0s";
  }
  return neg ? `-${out}` : out;
}
export function relTime(t) {
  const d = t instanceof Date ? t : parseTime(t);
  if (!d) return "";
  const diff = Date.now() - d.getTime();
  return diff >= 0 ? `${humanMs(diff)} ago` : `in ${humanMs(-diff)}`;
}
/** <time> with local time and relative duration in the title + inline. */
export function timeEl(t, opts = {}) {
  const d = t instanceof Date ? t : parseTime(t);
  if (!d) return h("span", { class: "muted" }, opts.empty ?? "—");
  const now = new Date();
  const today = d.getFullYear() === now.getFullYear() && d.getMonth() === now.getMonth() && d.getDate() === now.getDate();
  const text = opts.compact && today ? fmtTime(d).slice(11) : fmtTime(d);
  return h("time", { datetime: d.toISOString(), title: `${fmtTime(d)} local · ${d.toISOString()} · ${relTime(d)}` }, text,
    opts.rel === false ? null : h("span", { class: "rel" }, ` (${relTime(d)})`));
}
/** "10s", "1.5s", "86400s" -> ms */
export function parseDuration(x) {
  if (x === null || x === undefined) return null;
  const m = /^(-?\d+(?:\.\d+)?)s$/.exec(String(x));
  return m ? parseFloat(m[1]) * 1000 : null;
}
export function fmtDuration(x) {
  const ms = parseDuration(x);
  if (ms === null) return x ? String(x) : "";
  if (ms === 0) return "none";
  return humanMs(ms);
}

// ---------- status ----------
export const STATUS = {
  WORKFLOW_EXECUTION_STATUS_RUNNING: ["Running", "running"],
  WORKFLOW_EXECUTION_STATUS_COMPLETED: ["Completed", "completed"],
  WORKFLOW_EXECUTION_STATUS_FAILED: ["Failed", "failed"],
  WORKFLOW_EXECUTION_STATUS_CANCELED: ["Canceled", "canceled"],
  WORKFLOW_EXECUTION_STATUS_TERMINATED: ["Terminated", "terminated"],
  WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW: ["ContinuedAsNew", "continued"],
  WORKFLOW_EXECUTION_STATUS_TIMED_OUT: ["TimedOut", "timedout"],
  WORKFLOW_EXECUTION_STATUS_PAUSED: ["Paused", "paused"],
};
export const STATUS_ORDER = ["Running", "Completed", "Failed", "Canceled", "Terminated", "ContinuedAsNew", "TimedOut"];
export function statusName(st) { return (STATUS[st] || [String(st || "Unknown").replace(/^WORKFLOW_EXECUTION_STATUS_/, "")])[0]; }
export function statusClass(st) {
  if (STATUS[st]) return STATUS[st][1];
  const n = String(st || "").toLowerCase();
  for (const v of Object.values(STATUS)) if (v[0].toLowerCase() === n) return v[1];
  return "unknown";
}
export function badge(st, extra) {
  const name = STATUS[st] ? STATUS[st][0] : String(st || "Unknown");
  return h("span", Object.assign({ class: `badge st-${statusClass(st)}` }, extra || {}), name === "ContinuedAsNew" ? "Continued as new" : name === "TimedOut" ? "Timed out" : name);
}
export function enumLabel(v, prefix) {
  if (!v) return "";
  let x = String(v);
  if (prefix && x.startsWith(prefix)) x = x.slice(prefix.length);
  return x.toLowerCase().replace(/_/g, " ").replace(/^./, (c) => c.toUpperCase());
}

export function uuid() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80;
  const x = [...b].map((v) => v.toString(16).padStart(2, "0")).join("");
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

export function num(x) { const n = Number(x); return isNaN(n) ? 0 : n; }

export function prettyJSON(v) {
  try { return JSON.stringify(v, null, 2) ?? "undefined"; } catch (e) { return String(v); }
}
export function compactJSON(v, max = 120) {
  let t;
  try { t = typeof v === "string" ? v : JSON.stringify(v); } catch (e) { t = String(v); }
  if (t === undefined) t = "";
  return t.length > max ? t.slice(0, max - 1) + "…" : t;
}

/** Copy-to-clipboard-free monospaced id. */
export function mono(text, attrs) { return h("span", Object.assign({ class: "mono" }, attrs || {}), text); }

/** definition list from [label, value, testid] triples (skips empty values). */
export function fields(rows, attrs) {
  const dl = h("dl", Object.assign({ class: "fields" }, attrs || {}));
  for (const r of rows) {
    if (!r) continue;
    const [label, value, testid] = r;
    if (value === null || value === undefined || value === "") continue;
    dl.appendChild(h("div", { class: "field", testid: testid ? `field-${testid}` : null },
      h("dt", null, label), h("dd", null, value)));
  }
  return dl;
}

export function section(title, attrs, ...kids) {
  return h("section", Object.assign({ class: "card" }, attrs || {}), title ? h("h2", null, title) : null, ...kids);
}

export function table(headers, rows, attrs) {
  return h("table", Object.assign({ class: "tbl" }, attrs || {}),
    h("thead", null, h("tr", null, headers.map((x) => h("th", null, x)))),
    h("tbody", null, rows));
}

export function emptyRow(cols, text) {
  return h("tr", { class: "empty" }, h("td", { colspan: cols }, text));
}
