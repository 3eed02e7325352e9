// Temporal HTTP API access (same origin, /api/v1/...) and payload decoding.

import { enc, h, prettyJSON } from "./util.js";

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

/** Build "/api/v1/<path>?k=v" with undefined/empty params dropped. */
export function apiUrl(path, params) {
  let url = "/api/v1" + path;
  if (params) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) {
      if (v === undefined || v === null || v === "") continue;
      if (Array.isArray(v)) v.forEach((x) => q.append(k, x));
      else q.append(k, String(v));
    }
    const qs = q.toString();
    if (qs) url += "?" + qs;
  }
  return url;
}

export async function api(method, path, { params, body, signal } = {}) {
  const init = { method, headers: { Accept: "application/json" }, signal };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetch(apiUrl(path, params), init);
  } catch (e) {
    if (e && e.name === "AbortError") throw e;
    throw new ApiError(0, 14, `Network error: ${e && e.message ? e.message : e}`);
  }
  const text = await resp.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch (e) { data = null; }
  }
  if (!resp.ok) {
    const msg = data && typeof data.message === "string" && data.message
      ? data.message
      : `HTTP ${resp.status} ${resp.statusText}${text && !data ? ": " + text.slice(0, 200) : ""}`;
    throw new ApiError(resp.status, data && data.code, msg, data && data.details);
  }
  return data || {};
}
export const get = (path, params, opts) => api("GET", path, Object.assign({ params }, opts || {}));
export const post = (path, body, opts) => api("POST", path, Object.assign({ body }, opts || {}));

export const nsPath = (ns) => `/namespaces/${enc(ns)}`;

// ---------------- settings ----------------
let settingsPromise = null;
export function loadSettings() {
  if (!settingsPromise) {
    settingsPromise = get("/settings").catch(() => ({}));
  }
  return settingsPromise;
}
export function writeDisabled(settings, kind) {
  if (!settings) return false;
  if (settings.DisableWriteActions) return true;
  const key = { terminate: "WorkflowTerminateDisabled", cancel: "WorkflowCancelDisabled", signal: "WorkflowSignalDisabled",
    reset: "WorkflowResetDisabled", update: "WorkflowUpdateDisabled" }[kind];
  return key ? !!settings[key] : false;
}

// ---------------- payloads ----------------
// A payload arrives either as its plain JSON value (shorthand) or in
// canonical form {"metadata": {"encoding": "<b64>", ...}, "data": "<b64>"}.
// A Payloads message arrives as an array (of shorthand or canonical items)
// or as {"payloads": [canonical...]}.

function b64ToBytes(b64) {
  const bin = atob(String(b64 || "").replace(/-/g, "+").replace(/_/g, "/"));
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}
export function b64ToText(b64) {
  try { return new TextDecoder("utf-8", { fatal: false }).decode(b64ToBytes(b64)); } catch (e) { return ""; }
}
function textToB64(t) {
  const bytes = new TextEncoder().encode(t);
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin);
}

export function isCanonicalPayload(v) {
  if (!v || typeof v !== "object" || Array.isArray(v)) return false;
  const keys = Object.keys(v);
  if (!keys.length || !keys.every((k) => k === "metadata" || k === "data" || k === "externalPayloads")) return false;
  if (!("metadata" in v)) return false;
  const md = v.metadata;
  if (md === null || typeof md !== "object" || Array.isArray(md)) return false;
  if (!Object.values(md).every((x) => typeof x === "string")) return false;
  return v.data === undefined || typeof v.data === "string";
}

/** Normalize a Payloads field to a list of raw payloads (shorthand or canonical). */
export function payloadList(x) {
  if (x === undefined || x === null) return [];
  if (Array.isArray(x)) return x;
  if (typeof x === "object" && Array.isArray(x.payloads) && Object.keys(x).length === 1) return x.payloads;
  return [x];
}

function encodingOf(p) {
  try { return b64ToText(p.metadata && p.metadata.encoding); } catch (e) { return ""; }
}

/** Decode one payload synchronously (no codec). Result:
 *  {ok:true, value} or {ok:false, label, encoding, raw} */
export function decodeLocal(p) {
  if (!isCanonicalPayload(p)) return { ok: true, value: p };
  const encoding = encodingOf(p);
  if (encoding === "binary/null") return { ok: true, value: null };
  if (encoding === "json/plain" || encoding === "json/protobuf" || encoding === "") {
    const t = b64ToText(p.data || "");
    if (!t && encoding === "") return { ok: false, label: "Encoded (no encoding)", encoding, raw: p };
    try { return { ok: true, value: JSON.parse(t) }; } catch (e) { return { ok: true, value: t }; }
  }
  if (encoding === "binary/plain") {
    const n = b64ToBytes(p.data || "").length;
    return { ok: false, label: `Binary (${n} bytes)`, encoding, raw: p };
  }
  if (encoding === "binary/encrypted") return { ok: false, label: "Encrypted", encoding, raw: p };
  return { ok: false, label: `Encoded (${encoding || "unknown"})`, encoding, raw: p };
}

const codecCache = new Map();

/** Decode a list of raw payloads, using the codec endpoint for the ones that
 *  are not plain JSON (if configured). Never throws. */
export async function decodePayloads(list, ns) {
  const local = list.map(decodeLocal);
  const settings = await loadSettings();
  const endpoint = settings && settings.Codec && settings.Codec.Endpoint;
  if (!endpoint) return local;
  const need = [];
  local.forEach((r, i) => { if (!r.ok && r.encoding !== "binary/plain") need.push(i); });
  if (!need.length) return local;
  const todo = need.filter((i) => !codecCache.has(ns + "\u0000" + JSON.stringify(list[i])));
  if (todo.length) {
    try {
      const headers = { "Content-Type": "application/json", "X-Namespace": ns };
      const init = { method: "POST", headers, body: JSON.stringify({ payloads: todo.map((i) => list[i]) }) };
      if (settings.Codec.IncludeCredentials) init.credentials = "include";
      const resp = await fetch(endpoint.replace(/\/+$/, "") + "/decode", init);
      if (!resp.ok) throw new Error(`codec HTTP ${resp.status}`);
      const data = await resp.json();
      const out = (data && data.payloads) || [];
      todo.forEach((i, k) => {
        const p = out[k];
        codecCache.set(ns + "\u0000" + JSON.stringify(list[i]), p === undefined ? null : p);
      });
    } catch (e) {
      todo.forEach((i) => codecCache.set(ns + "\u0000" + JSON.stringify(list[i]), { error: String(e && e.message || e) }));
    }
  }
  for (const i of need) {
    const p = codecCache.get(ns + "\u0000" + JSON.stringify(list[i]));
    if (p && p.error) { local[i] = Object.assign({}, local[i], { label: `${local[i].label} (codec error: ${p.error})` }); continue; }
    if (!p) continue;
    const r = decodeLocal(p.metadata ? p : { metadata: p.metadata || {}, data: p.data });
    local[i] = r.ok ? Object.assign({ viaCodec: true }, r) : r;
  }
  return local;
}

/** Decode a search attribute map (indexedFields) to {name: value}. */
export function decodeSearchAttributes(sa) {
  const out = {};
  const fields = (sa && sa.indexedFields) || {};
  for (const [k, v] of Object.entries(fields)) {
    const r = decodeLocal(v);
    out[k] = r.ok ? r.value : `[${r.label}]`;
  }
  return out;
}

/** Encode a JSON value as a canonical json/plain payload (for requests). */
export function jsonPayload(value) {
  return { metadata: { encoding: textToB64("json/plain") }, data: textToB64(JSON.stringify(value)) };
}

/** Replace payload-bearing fields in an event/attribute tree with decoded
 *  values (async, via codec if configured). Returns a deep copy. Encoded
 *  payloads that cannot be decoded become "[Encrypted]" / "[Encoded (...)]". */
const PAYLOADS_KEYS = new Set(["input", "result", "details", "heartbeatDetails", "lastCompletionResult", "args",
  "success", "queryResult", "queryArgs", "lastHeartbeatDetails"]);
const PAYLOAD_MAP_PARENTS = new Set(["memo", "header", "searchAttributes"]);
class Slot { constructor() { this.value = null; } }
function shown(r) { return r.ok ? r.value : `[${r.label}]`; }
export async function decodeTree(node, ns) {
  const jobs = [];
  function walk(v, key) {
    if (Array.isArray(v)) return v.map((x) => walk(x));
    if (!v || typeof v !== "object") return v;
    const out = {};
    for (const [k, x] of Object.entries(v)) {
      if (PAYLOADS_KEYS.has(k) && x && typeof x === "object" && (Array.isArray(x) || isCanonicalPayload(x) || Array.isArray(x.payloads))) {
        const slot = new Slot();
        jobs.push(decodePayloads(payloadList(x), ns).then((res) => { slot.value = res.map(shown); }));
        out[k] = slot;
      } else if ((k === "fields" || k === "indexedFields") && PAYLOAD_MAP_PARENTS.has(key) && x && typeof x === "object") {
        const m = {};
        for (const [fk, fv] of Object.entries(x)) {
          const slot = new Slot();
          jobs.push(decodePayloads([fv], ns).then((res) => { slot.value = shown(res[0]); }));
          m[fk] = slot;
        }
        out[k] = m;
      } else out[k] = walk(x, k);
    }
    return out;
  }
  const tree = walk(node);
  await Promise.all(jobs);
  function fill(v) {
    if (v instanceof Slot) return v.value;
    if (Array.isArray(v)) return v.map(fill);
    if (!v || typeof v !== "object") return v;
    const o = {};
    for (const [k, x] of Object.entries(v)) o[k] = fill(x);
    return o;
  }
  return fill(tree);
}

// ---------------- payload rendering ----------------

/** Element showing a Payloads/Payload field, decoded asynchronously. */
export function payloadView(x, ns, testid) {
  const box = h("div", { class: "payloads", testid });
  const list = payloadList(x);
  if (!list.length) { box.appendChild(h("span", { class: "muted" }, "No data")); return box; }
  box.appendChild(h("span", { class: "muted" }, "Decoding…"));
  decodePayloads(list, ns).then((res) => {
    while (box.firstChild) box.removeChild(box.firstChild);
    res.forEach((r, i) => {
      if (res.length > 1) box.appendChild(h("div", { class: "payload-idx" }, `Argument ${i + 1}`));
      if (r.ok) box.appendChild(h("pre", { class: "json", testid: testid ? `${testid}-json` : null }, prettyJSON(r.value)));
      else box.appendChild(h("div", { class: "encoded" },
        h("span", { class: "enc-badge", testid: "payload-encoded", title: r.encoding ? `encoding: ${r.encoding}` : null }, r.label)));
    });
  }, () => {});
  return box;
}

/** With a codec endpoint configured, decode every payload of a list of
 *  history events in one batched codec call and return decoded copies (used
 *  for the history summaries). Without a codec, returns the events as is. */
export async function decodeEvents(events, ns) {
  const settings = await loadSettings();
  if (!(settings && settings.Codec && settings.Codec.Endpoint)) return events;
  const pending = [];
  const collect = (v, key) => {
    if (Array.isArray(v)) { v.forEach((x) => collect(x)); return; }
    if (!v || typeof v !== "object") return;
    for (const [k, x] of Object.entries(v)) {
      if (PAYLOADS_KEYS.has(k) && x && typeof x === "object") {
        for (const p of payloadList(x)) if (!decodeLocal(p).ok) pending.push(p);
      } else if ((k === "fields" || k === "indexedFields") && PAYLOAD_MAP_PARENTS.has(key) && x && typeof x === "object") {
        for (const p of Object.values(x)) if (!decodeLocal(p).ok) pending.push(p);
      } else collect(x, k);
    }
  };
  collect(events);
  if (!pending.length) return events;
  await decodePayloads(pending, ns); // fills the cache in one request
  return Promise.all(events.map((e) => decodeTree(e, ns)));
}
