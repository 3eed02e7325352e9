#!/usr/bin/env python3
"""Times the HTTP requests the Web UI's workflow list page makes, against any server that
speaks Temporal's HTTP API (Endure's `--http-port`, `temporal server start-dev --http-port`).

Standard library only. The data is expected to be what `endure-bench visibility` loads
(workflow ids `vis-bench-<7 digits>`, types `Summarize`/`Ingest`, the custom Keyword
`BenchCustomer` = `c-0` … `c-999`, closed runs terminated); the page states below query it.

What a list page load requests (crates/endure-server/ui/app.js, `workflowsPage`): the status
counts, `GET /api/v1/namespaces/{ns}/workflow-count?query=<Q> GROUP BY ExecutionStatus` (Q
without the status chip), and at the same time the page,
`GET /api/v1/namespaces/{ns}/workflows?pageSize=50&query=<Q'>[&nextPageToken=T]` with
Q' = `(Q) AND ExecutionStatus="X"` when a status chip is selected. The browser issues both
concurrently (the count is not awaited), so this script does too: two threads, each with its
own keep-alive connection (a browser keeps several per origin). Page 2 is the "Next" click: the
same count plus the list with the token page 1 returned (fetched once, untimed, then reused).

Per page state: one untimed load, then `--repeat` timed loads. A request's time is from just
before it is sent to its whole body read (loopback HTTP round trip; JSON decoding not
included). The page's time is from sending both to the later one's end, i.e. the slowest
request of the page. With `--metrics URL` (the server's Prometheus endpoint) the server's own
`service_latency` histogram is scraped before and after each state's timed loads, giving the
server-side mean per RPC (sum / count) and the histogram bucket holding the p50 and p90.

Usage: ui_list.py --http http://127.0.0.1:H [--metrics http://127.0.0.1:M/metrics]
                  [--namespace default] [--repeat 20] [--label NAME] [--json FILE]
"""

import argparse
import http.client
import json
import math
import re
import sys
import threading
import time
import urllib.parse
import urllib.request

PAGE_SIZE = 50

# (name, user query Q, status chip or "", page number)
STATES = [
    ("first page, no query", "", "", 1),
    ("page 2 (nextPageToken)", "", "", 2),
    ("status chip Running", "", "Running", 1),
    ("status chip Terminated", "", "Terminated", 1),
    ("typed filter WorkflowType", "WorkflowType = 'Summarize'", "", 1),
    ("typed filter + chip Running", "WorkflowType = 'Summarize'", "Running", 1),
    ("custom Keyword BenchCustomer", "BenchCustomer = 'c-42'", "", 1),
    ("custom Keyword + chip Running", "BenchCustomer = 'c-42'", "Running", 1),
    ("WorkflowId STARTS_WITH", "WorkflowId STARTS_WITH 'vis-bench-00042'", "", 1),
]


def combine_query(query, status):
    """app.js `combineQuery`."""
    q = query.strip()
    sq = f'ExecutionStatus="{status}"' if status else ""
    if q and sq:
        return f"({q}) AND {sq}"
    return q or sq


def count_query(query):
    """app.js: the status counts' query (the user's query without the chip)."""
    return f"{query} GROUP BY ExecutionStatus" if query else "GROUP BY ExecutionStatus"


def api_path(ns, what, params):
    """app.js `apiUrl`: empty parameters are dropped."""
    q = urllib.parse.urlencode([(k, v) for k, v in params if v not in (None, "")])
    return f"/api/v1/namespaces/{urllib.parse.quote(ns, safe='')}/{what}" + (f"?{q}" if q else "")


class Conn:
    """One keep-alive HTTP/1.1 connection (reopened if the server closes it)."""

    def __init__(self, host, port):
        self.host, self.port = host, port
        self.c = None

    def get(self, path):
        """Returns (seconds, status, body bytes)."""
        for attempt in (0, 1):
            if self.c is None:
                self.c = http.client.HTTPConnection(self.host, self.port, timeout=120)
                self.c.connect()
            try:
                t0 = time.perf_counter()
                self.c.request("GET", path, headers={"Accept": "application/json"})
                r = self.c.getresponse()
                body = r.read()
                dt = time.perf_counter() - t0
                if r.getheader("connection", "").lower() == "close":
                    self.c.close()
                    self.c = None
                return dt, r.status, body
            except (http.client.HTTPException, ConnectionError):
                self.c.close()
                self.c = None
                if attempt:
                    raise
        raise AssertionError("unreachable")


class Worker(threading.Thread):
    """Runs requests on its own connection when told to (so two requests go out together)."""

    def __init__(self, host, port):
        super().__init__(daemon=True)
        self.conn = Conn(host, port)
        self.go = threading.Semaphore(0)
        self.done = threading.Semaphore(0)
        self.path = None
        self.result = None
        self.start()

    def run(self):
        while True:
            self.go.acquire()
            try:
                self.result = self.conn.get(self.path)
            except Exception as e:  # reported by the caller
                self.result = e
            self.done.release()


def concurrent(workers, paths):
    """Sends the paths at once (one per worker); returns (page seconds, [(s, status, body)])."""
    t0 = time.perf_counter()
    for w, p in zip(workers, paths):
        w.path = p
        w.go.release()
    for w in workers[: len(paths)]:
        w.done.acquire()
    page = time.perf_counter() - t0
    out = []
    for w in workers[: len(paths)]:
        if isinstance(w.result, Exception):
            raise w.result
        out.append(w.result)
    return page, out


def pct(xs, p):
    """Nearest-rank percentile (as endure-bench's Latency)."""
    s = sorted(xs)
    if not s:
        return float("nan")
    return s[max(0, min(len(s) - 1, math.ceil(p / 100 * len(s)) - 1))]


def summary_ms(xs):
    return {
        "p50_ms": pct(xs, 50) * 1000,
        "p90_ms": pct(xs, 90) * 1000,
        "max_ms": max(xs) * 1000 if xs else float("nan"),
        "mean_ms": sum(xs) / len(xs) * 1000 if xs else float("nan"),
        "n": len(xs),
    }


LINE = re.compile(r'^(service_latency(?:_seconds)?)_(bucket|sum|count)\{([^}]*)\}\s+(\S+)')
LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def scrape(url):
    """{operation: {"sum": s, "count": n, "buckets": {le: n}}} of service_latency (namespace
    default or any, summed over other labels)."""
    with urllib.request.urlopen(url, timeout=30) as r:
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        m = LINE.match(line)
        if not m:
            continue
        labels = dict(LABEL.findall(m.group(3)))
        op = labels.get("operation")
        if op not in ("ListWorkflowExecutions", "CountWorkflowExecutions"):
            continue
        e = out.setdefault(op, {"sum": 0.0, "count": 0.0, "buckets": {}})
        v = float(m.group(4))
        if m.group(2) == "bucket":
            le = float(labels["le"]) if labels.get("le") not in ("+Inf", None) else math.inf
            e["buckets"][le] = e["buckets"].get(le, 0.0) + v
        else:
            e[m.group(2)] += v
    return out


def metrics_diff(before, after):
    """Per operation: the requests between two scrapes, their mean and the buckets holding
    the p50 and p90 (as "<= X ms")."""
    res = {}
    for op, a in after.items():
        b = before.get(op, {"sum": 0.0, "count": 0.0, "buckets": {}})
        n = a["count"] - b["count"]
        if n <= 0:
            continue
        buckets = sorted((le, a["buckets"][le] - b["buckets"].get(le, 0.0)) for le in a["buckets"])

        def bucket_of(p):
            rank = math.ceil(p / 100 * n)
            for le, c in buckets:
                if c >= rank:
                    return le * 1000
            return math.inf

        res[op] = {
            "requests": n,
            "mean_ms": (a["sum"] - b["sum"]) / n * 1000,
            "p50_le_ms": bucket_of(50),
            "p90_le_ms": bucket_of(90),
        }
    return res


def result_of(kind, body):
    d = json.loads(body) if body else {}
    if kind == "list":
        return len(d.get("executions") or []), d.get("nextPageToken") or ""
    return int(d.get("count") or 0), None


def run_state(workers, conn, args, name, query, status, page, metrics_url):
    effective = combine_query(query, status)
    cq = count_query(query)
    token = ""
    if page == 2:
        dt, st, body = conn.get(api_path(args.namespace, "workflows",
                                         [("pageSize", PAGE_SIZE), ("query", effective)]))
        if st != 200:
            return {"name": name, "error": f"page 1: HTTP {st}: {body[:300].decode(errors='replace')}"}
        _, token = result_of("list", body)
        if not token:
            return {"name": name, "error": "page 1 returned no nextPageToken"}
    list_path = api_path(args.namespace, "workflows",
                         [("pageSize", PAGE_SIZE), ("query", effective), ("nextPageToken", token)])
    count_path = api_path(args.namespace, "workflow-count", [("query", cq)])
    reqs = [("list", "ListWorkflowExecutions", effective, list_path),
            ("count", "CountWorkflowExecutions", cq, count_path)]
    times = {k: [] for k, *_ in reqs}
    pages = []
    results = {}
    errors = {}
    before = None
    for i in range(args.repeat + 1):
        if i == 1 and metrics_url:
            before = scrape(metrics_url)
        page_s, outs = concurrent(workers, [p for *_, p in reqs])
        for (kind, _rpc, _q, _p), (dt, st, body) in zip(reqs, outs):
            if st != 200:
                errors[kind] = f"HTTP {st}: {body[:300].decode(errors='replace')}"
                continue
            results[kind] = result_of(kind, body)[0]
            if i > 0:
                times[kind].append(dt)
        if i > 0:
            pages.append(page_s)
    server = metrics_diff(before, scrape(metrics_url)) if metrics_url and before is not None else {}
    rep = {"name": name, "page": page, "page_latency": summary_ms(pages), "requests": []}
    for kind, rpc, q, path in reqs:
        rep["requests"].append({
            "kind": kind, "rpc": rpc, "query": q, "path": path,
            "result": results.get(kind), "error": errors.get(kind),
            "latency": summary_ms(times[kind]) if times[kind] else None,
            "server": server.get(rpc),
        })
    return rep


def fmt(x):
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else (
        "inf" if x == math.inf else f"{x:.2f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--http", required=True, help="base URL of the HTTP API, e.g. http://127.0.0.1:7243")
    ap.add_argument("--metrics", default="", help="the server's Prometheus endpoint (…/metrics), optional")
    ap.add_argument("--namespace", default="default")
    ap.add_argument("--repeat", type=int, default=20, help="timed loads per page state (after one untimed)")
    ap.add_argument("--label", default="", help="name of this run in the report")
    ap.add_argument("--json", default="", help="also write the report as JSON to this file")
    args = ap.parse_args()
    # Hand the GIL over promptly when a response arrives (the default 5 ms interval would add
    # up to 5 ms to a request whose answer lands while the other thread runs Python code).
    sys.setswitchinterval(1e-5)
    u = urllib.parse.urlsplit(args.http)
    host, port = u.hostname, u.port or 80
    workers = [Worker(host, port), Worker(host, port)]
    conn = Conn(host, port)
    report = {"label": args.label, "http": args.http, "repeat": args.repeat, "page_size": PAGE_SIZE,
              "mode": "concurrent (count and list at once, as the browser); page = slowest request",
              "states": []}
    for name, query, status, page in STATES:
        r = run_state(workers, conn, args, name, query, status, page, args.metrics)
        report["states"].append(r)
        if "error" in r:
            print(f"  {name}: ERROR {r['error']}", file=sys.stderr)
            continue
        print(f"  {name:<32} page p50 {fmt(r['page_latency']['p50_ms']):>8} ms  p90 "
              f"{fmt(r['page_latency']['p90_ms']):>8} ms", file=sys.stderr)
    title = f"{args.label}: " if args.label else ""
    print(f"\n{title}UI list page states, {args.repeat} timed loads each (after one untimed), "
          f"client-side loopback HTTP round trip, count and list concurrent; page = slowest")
    print(f"{'page state / request':<44}{'p50 ms':>9}{'p90 ms':>9}{'max ms':>9}{'result':>10}"
          f"{'srv mean':>10}{'srv p50<=':>10}{'srv p90<=':>10}")
    for r in report["states"]:
        if "error" in r:
            print(f"{r['name']:<44} ERROR {r['error']}")
            continue
        pl = r["page_latency"]
        print(f"{r['name']:<44}{fmt(pl['p50_ms']):>9}{fmt(pl['p90_ms']):>9}{fmt(pl['max_ms']):>9}")
        for q in r["requests"]:
            label = f"  {q['kind']}: {q['query'] or '(empty)'}"
            if len(label) > 43:
                label = label[:40] + "..."
            if q["error"]:
                print(f"{label:<44} ERROR {q['error']}")
                continue
            l, s = q["latency"], q["server"] or {}
            print(f"{label:<44}{fmt(l['p50_ms']):>9}{fmt(l['p90_ms']):>9}{fmt(l['max_ms']):>9}"
                  f"{q['result'] if q['result'] is not None else '-':>10}"
                  f"{fmt(s.get('mean_ms')):>10}{fmt(s.get('p50_le_ms')):>10}{fmt(s.get('p90_le_ms')):>10}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)
    over = [(r["name"], q["kind"], q["query"], q["latency"]) for r in report["states"] if "error" not in r
            for q in r["requests"] if q["latency"] and q["latency"]["p90_ms"] > 100]
    for name, kind, q, l in over:
        print(f"OVER 100 ms: {name}: {kind} {q!r} p50 {l['p50_ms']:.2f} p90 {l['p90_ms']:.2f}")
    return 1 if any("error" in r or any(q["error"] for q in r["requests"]) for r in report["states"]) else 0


if __name__ == "__main__":
    sys.exit(main())
