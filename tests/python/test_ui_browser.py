"""Endure's built-in Web UI in a real browser (Playwright for Python driving Debian's Chromium).

What the issue asks: every page loads without console errors, a running workflow's page updates
when its activity completes, and each action changes the workflow as the CLI then sees it. Also:
the codec endpoint (`--ui-codec-endpoint` / `ui.codec_endpoint`) and another UI build from a
folder (`--ui-asset-path` / `ui.asset_path`).

Every page is watched for console errors, uncaught page errors and requests to another origin
than the UI's (none are allowed, except the codec endpoint in the codec test). Chrome logs
"Failed to load resource: the server responded with a status of 4xx" for every fetch answered
4xx; no step here causes one, so that message fails the test too.

The browser is ``$CHROMIUM_BIN`` (``scripts/chromium.sh`` prints one, installing Debian's
``chromium`` package if needed); Playwright's own browser downloads are never used. Without
``CHROMIUM_BIN`` the tests FAIL: a silently skipped browser suite hides a broken UI.

With ``ENDURE_UI_SCREENSHOTS=DIR`` the main pages are saved as 1280x800 PNGs into DIR
(``docs/ui/*.png`` were made that way).

Only for Endure's own UI: with ``ENDURE_TEST_TARGET=temporal`` the module is skipped (the real
server's UI is a different application, with other element ids).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from contextlib import asynccontextmanager
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, AsyncIterator, Iterator

import pytest
from temporalio import activity, workflow
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleIntervalSpec,
    ScheduleSpec,
)
from temporalio.exceptions import ApplicationError

from conftest import EXTRA_NAMESPACE, make_server, new_worker, store, target, unique
from endure_testing.cli import Cli
from endure_testing.servers import ServerProcess

if target() == "temporal":
    pytest.skip(
        "Endure's own Web UI only: the real Temporal server's UI is a different application",
        allow_module_level=True,
    )

from endure_testing.browser import CHROMIUM_ARGS, TIMEOUT_MS, VIEWPORT, chromium_bin  # noqa: E402
from playwright.async_api import Page, async_playwright, expect  # noqa: E402

expect.set_options(timeout=TIMEOUT_MS)

SCREENSHOTS = os.environ.get("ENDURE_UI_SCREENSHOTS")


def b64(text: str | bytes) -> str:
    return base64.b64encode(text.encode() if isinstance(text, str) else text).decode()


# ---------------------------------------------------------------- workflows

# Activities of the live-update workflow wait here until the test releases them.
RELEASE: dict[str, asyncio.Event] = {}


@activity.defn(name="UiSayHello")
async def say_hello(name: str) -> str:
    return f"Hello, {name}!"


@activity.defn(name="UiWaitForRelease")
async def wait_for_release(key: str) -> str:
    await RELEASE.setdefault(key, asyncio.Event()).wait()
    return f"released {key}"


@workflow.defn(name="UiGreet")
class UiGreet:
    @workflow.run
    async def run(self, name: str) -> str:
        return await workflow.execute_activity(
            say_hello, name, start_to_close_timeout=timedelta(seconds=30)
        )


@workflow.defn(name="UiFail")
class UiFail:
    @workflow.run
    async def run(self, why: str) -> None:
        raise ApplicationError(f"ui failure: {why}", non_retryable=True)


@workflow.defn(name="UiLongRunning")
class UiLongRunning:
    """A pending timer (never awaited) and a pending activity the test releases."""

    @workflow.run
    async def run(self, key: str) -> dict:
        self.timer = asyncio.ensure_future(workflow.sleep(3600))
        done = await workflow.execute_activity(
            wait_for_release, key, start_to_close_timeout=timedelta(seconds=120)
        )
        return {"key": key, "activity": done}


@workflow.defn(name="UiWaiter")
class UiWaiter:
    """Records `note` signals; runs until `finish` (or a cancel / terminate / reset)."""

    def __init__(self) -> None:
        self.notes: list[Any] = []
        self.finished = False

    @workflow.signal(name="note")
    def note(self, value: Any) -> None:
        self.notes.append(value)

    @workflow.signal(name="finish")
    def finish(self) -> None:
        self.finished = True

    @workflow.query(name="notes")
    def get_notes(self) -> list[Any]:
        return self.notes

    @workflow.run
    async def run(self, label: str) -> list[Any]:
        await workflow.sleep(0.01)  # one more workflow task: a second reset point
        await workflow.wait_condition(lambda: self.finished)
        return self.notes


@workflow.defn(name="UiBulk")
class UiBulk:
    @workflow.run
    async def run(self, i: int) -> int:
        return i


WORKFLOWS = [UiGreet, UiFail, UiLongRunning, UiWaiter, UiBulk]
ACTIVITIES = [say_hello, wait_for_release]


# ---------------------------------------------------------------- servers


@pytest.fixture(scope="module")
def chromium() -> str:
    return chromium_bin()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, chromium: str) -> Iterator[ServerProcess]:
    """The suite's server with the built-in UI and no codec endpoint."""
    srv = make_server(
        tmp_path_factory.mktemp("ui"), "ui", ui=True,
        search_attributes={"CustomerId": "Keyword", "OrderTotal": "Double"},
    )
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


def ui_server(tmp: Path, name: str, setting: str, value: str) -> ServerProcess:
    """A server with the UI and one UI setting: the dev server's flag on SQLite, the production
    server's ENDURE_UI_* variable on PostgreSQL."""
    if store() == "sqlite":
        flag = {"codec_endpoint": "--ui-codec-endpoint", "asset_path": "--ui-asset-path"}[setting]
        return make_server(tmp, name, ui=True, endure_args=[flag, value])
    return make_server(tmp, name, ui=True, env={f"ENDURE_UI_{setting.upper()}": value})


def http_json(url: str, method: str = "GET", body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=15) as r:
        return json.loads(r.read())


# ---------------------------------------------------------------- the browser


class Watch:
    """A page's console errors, page errors and requests to other origins."""

    def __init__(self, page: Page, origin: str, allowed_origins: tuple[str, ...] = ()):
        self.page = page
        self.origin = origin
        self.allowed = {origin, *allowed_origins}
        self.errors: list[str] = []
        self.foreign: list[str] = []
        self.other_origin_requests: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
        page.on("request", self._request)

    def _console(self, msg: Any) -> None:
        if msg.type == "error":
            self.errors.append(f"console.error at {self.page.url}: {msg.text}")

    def _request(self, req: Any) -> None:
        parts = urllib.parse.urlsplit(req.url)
        if parts.scheme in ("data", "blob", "about"):
            return
        origin = f"{parts.scheme}://{parts.netloc}"
        if origin != self.origin:
            self.other_origin_requests.append(req.url)
        if origin not in self.allowed:
            self.foreign.append(f"{req.method} {req.url}")

    def check(self) -> None:
        assert not self.errors, "console / page errors:\n" + "\n".join(self.errors)
        assert not self.foreign, "requests to other origins:\n" + "\n".join(self.foreign)


@asynccontextmanager
async def browser_page(server: ServerProcess, allowed_origins: tuple[str, ...] = ()) -> AsyncIterator[tuple[Page, Watch]]:
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=chromium_bin(), headless=True, args=CHROMIUM_ARGS
        )
        try:
            context = await browser.new_context(viewport=VIEWPORT)
            page = await context.new_page()
            page.set_default_timeout(TIMEOUT_MS)
            watch = Watch(page, server.ui_url, allowed_origins)
            yield page, watch
            # Let late console messages of the last page arrive before checking.
            await page.wait_for_timeout(300)
            watch.check()
        finally:
            await browser.close()


async def shot(page: Page, name: str, top: Any = None) -> None:
    """A 1280x800 PNG of the viewport into $ENDURE_UI_SCREENSHOTS (when set); with `top` (a
    locator) the page is first scrolled so that element is at the top."""
    if not SCREENSHOTS:
        return
    Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
    if top is not None:
        await top.evaluate("e => window.scrollTo(0, e.getBoundingClientRect().top + window.scrollY - 14)")
    await page.wait_for_timeout(400)  # payloads decode and times render asynchronously
    await page.screenshot(path=str(Path(SCREENSHOTS) / f"{name}.png"), type="png")


def wf_url(server: ServerProcess, wid: str, rid: str = "", ns: str = "default") -> str:
    q = urllib.parse.quote
    return f"{server.ui_url}/namespaces/{q(ns, safe='')}/workflows/{q(wid, safe='')}" + (
        f"/{q(rid, safe='')}" if rid else ""
    )


async def wait_count(server: ServerProcess, query: str, n: int, timeout: float = 20) -> None:
    """Until visibility counts `n` workflows for `query` (the HTTP API's CountWorkflowExecutions)."""
    url = f"{server.http_url}/api/v1/namespaces/default/workflow-count?" + urllib.parse.urlencode({"query": query})
    deadline = time.monotonic() + timeout
    got = None
    while time.monotonic() < deadline:
        got = int((await asyncio.to_thread(http_json, url)).get("count", 0))
        if got >= n:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"visibility counts {got} workflows for {query!r}, want {n}")


def status_of(describe: dict) -> str:
    """The status in `temporal workflow describe -o json`, e.g. ``CANCELED``."""
    st = str(describe["workflowExecutionInfo"]["status"])
    return st.upper().replace("WORKFLOW_EXECUTION_STATUS_", "")


async def until(check, what: str, timeout: float = 20) -> Any:
    """Polls the async `check` until it returns something truthy."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(0.3)
    raise AssertionError(f"{what}: never happened (last: {last!r})")


# ---------------------------------------------------------------- 1. every page


async def test_every_page_loads_without_console_errors(server: ServerProcess):
    client = await Client.connect(server.address, namespace="default")
    tq = unique("ui-pages")
    # More than a page of runs first (so the varied runs below are on top of the list).
    bulk = await asyncio.gather(
        *(client.start_workflow(UiBulk.run, i, id=unique(f"ui-bulk-{i:02d}"), task_queue=tq) for i in range(55))
    )
    async with new_worker(client, tq, WORKFLOWS, ACTIVITIES):
        greet = await client.start_workflow(UiGreet.run, "Endure", id=unique("ui-greet"), task_queue=tq)
        assert await greet.result() == "Hello, Endure!"
        more = [await client.start_workflow(UiGreet.run, n, id=unique(f"ui-greet-{n.lower()}"), task_queue=tq)
                for n in ("Ada", "Grace", "Linus")]
        await asyncio.gather(*(h.result() for h in more))
        failed = await client.start_workflow(UiFail.run, "on purpose", id=unique("ui-fail"), task_queue=tq)
        with pytest.raises(Exception):
            await failed.result()
        await asyncio.gather(*(h.result() for h in bulk))
        key = unique("hold")
        RELEASE[key] = asyncio.Event()
        running = await client.start_workflow(UiLongRunning.run, key, id=unique("ui-running"), task_queue=tq)
        schedule_id = unique("ui-nightly")
        await client.create_schedule(
            schedule_id,
            Schedule(
                action=ScheduleActionStartWorkflow(
                    UiGreet.run, "schedule", id=unique("ui-scheduled"), task_queue=tq
                ),
                spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(hours=1))]),
            ),
        )
        await wait_count(server, f'WorkflowType="UiBulk" AND ExecutionStatus="Completed"', 55)
        await wait_count(server, f'TaskQueue="{tq}"', 61)
        try:
            async with browser_page(server) as (page, watch):
                await every_page(server, page, tq, greet.id, failed.id, running.id, schedule_id)
        finally:
            RELEASE[key].set()
            await running.result()


async def every_page(server, page: Page, tq: str, greet_id: str, failed_id: str, running_id: str, schedule_id: str):
    ui = server.ui_url
    # `/` opens the default namespace's workflows.
    await page.goto(ui + "/")
    await expect(page.get_by_test_id("workflows-table")).to_be_visible()
    assert page.url.startswith(f"{ui}/namespaces/default/workflows"), page.url

    # Namespaces.
    await page.get_by_test_id("nav-namespaces").click()
    await expect(page.locator('[data-testid="namespace-row"][data-namespace="default"]')).to_be_visible()
    await expect(page.locator(f'[data-testid="namespace-row"][data-namespace="{EXTRA_NAMESPACE}"]')).to_be_visible()
    await shot(page, "namespaces")

    # Workflows list: status counts, then a query typed into the box, then paging.
    await page.goto(f"{ui}/namespaces/default/workflows")
    rows = page.get_by_test_id("workflow-row")
    await expect(rows).to_have_count(50)
    await expect(page.get_by_test_id("status-count-All")).to_have_attribute("data-count", re.compile(r"^\d+$"))
    counts = {
        k: int(await page.get_by_test_id(f"status-count-{k}").get_attribute("data-count"))
        for k in ("All", "Running", "Completed", "Failed")
    }
    assert counts["All"] >= 61 and counts["Failed"] >= 1 and counts["Running"] >= 1, counts
    assert counts["Completed"] >= 59, counts
    await expect(page.locator(f'[data-testid="workflow-row"][data-workflow-id="{failed_id}"]')).to_have_attribute(
        "data-status", "Failed"
    )
    # The docs' picture: the runs that are not bulk (a full page of rows makes too big a PNG).
    await page.get_by_test_id("workflow-query-input").fill('WorkflowType != "UiBulk"')
    await page.get_by_test_id("workflow-query-submit").click()
    await expect(page.locator('[data-testid="workflow-row"][data-status="Failed"]')).to_have_count(1)
    await expect(page.locator('[data-testid="workflow-row"][data-workflow-id^="ui-bulk-"]')).to_have_count(0)
    await expect(page.get_by_test_id("status-count-Running")).to_have_attribute("data-count", "1")
    await shot(page, "workflows")
    await page.get_by_test_id("workflow-query-clear").click()
    await expect(rows).to_have_count(50)

    await page.get_by_test_id("workflow-query-input").fill('WorkflowType="UiBulk"')
    await page.get_by_test_id("workflow-query-submit").click()
    await expect(page.locator('[data-testid="workflow-row"][data-status="Completed"]')).to_have_count(50)
    await expect(page.locator('[data-testid="workflow-row"]:not([data-workflow-id^="ui-bulk-"])')).to_have_count(0)
    await expect(page.get_by_test_id("status-count-All")).to_have_attribute("data-count", "55")
    await expect(page.get_by_test_id("status-count-Completed")).to_have_attribute("data-count", "55")
    first_page = set(await rows.evaluate_all("rs => rs.map(r => r.dataset.workflowId)"))
    await page.get_by_test_id("pager-next").click()
    await expect(rows).to_have_count(5)
    second_page = set(await rows.evaluate_all("rs => rs.map(r => r.dataset.workflowId)"))
    assert len(first_page | second_page) == 55, (len(first_page), len(second_page))
    await expect(page.get_by_test_id("pager-next")).to_be_disabled()
    assert "page=" in page.url and "query=" in page.url, page.url
    await page.get_by_test_id("pager-prev").click()
    await expect(rows).to_have_count(50)

    # A completed workflow: input, result, history table, timeline.
    await page.goto(wf_url(server, greet_id))
    await expect(page.get_by_test_id("wf-status")).to_have_text("Completed")
    await expect(page.get_by_test_id("wf-input-payload-json")).to_contain_text('"Endure"')
    await expect(page.get_by_test_id("wf-result-payload-json")).to_contain_text('"Hello, Endure!"')
    await expect(page.locator('[data-testid="history-row"][data-event-type="ActivityTaskCompleted"]')).to_have_count(1)
    await expect(page.locator('[data-testid="history-row"][data-event-type="WorkflowExecutionCompleted"]')).to_have_count(1)
    await expect(page.get_by_test_id("timeline-svg")).to_be_visible()
    await expect(page.locator('[data-testid="timeline-lane"][data-kind="activity"]')).to_have_count(1)
    await expect(page.get_by_test_id("live-indicator")).to_have_count(0)
    await shot(page, "workflow-completed")
    # A history row expands into the event's JSON.
    await page.locator('[data-testid="history-row"][data-event-type="ActivityTaskCompleted"]').click()
    await expect(page.get_by_test_id("history-event-json")).to_contain_text("Hello, Endure!")
    await shot(page, "history-timeline", top=page.get_by_test_id("timeline-card"))

    # A failed workflow: the failure message.
    await page.goto(wf_url(server, failed_id))
    await expect(page.get_by_test_id("wf-status")).to_have_text("Failed")
    await expect(page.get_by_test_id("wf-failure-message")).to_contain_text("ui failure: on purpose")

    # A running workflow: pending activity and timer, live indicator, the stack trace query.
    await page.goto(wf_url(server, running_id))
    await expect(page.get_by_test_id("wf-status")).to_have_text("Running")
    await expect(page.get_by_test_id("live-indicator")).to_be_visible()
    await expect(page.get_by_test_id("pending-activity-row")).to_have_count(1)
    await expect(page.get_by_test_id("pending-timer-row")).to_have_count(1)
    await expect(page.get_by_test_id("query-name")).to_have_value("__stack_trace")
    await page.get_by_test_id("query-run").click()
    await expect(page.get_by_test_id("query-result")).to_contain_text("activity: UiWaitForRelease")
    await expect(page.get_by_test_id("query-error")).to_have_count(0)
    await page.get_by_test_id("wf-summary").scroll_into_view_if_needed()
    await shot(page, "workflow-running")

    # Task queue with the SDK worker's pollers (reached from the workflow page's link).
    await page.get_by_test_id("task-queue-link").first.click()
    await expect(page.get_by_test_id("task-queue-name")).to_contain_text(tq)
    await expect(page.locator('[data-testid="pollers-workflow"] [data-testid="poller-row"]').first).to_be_visible()
    await expect(page.locator('[data-testid="pollers-activity"] [data-testid="poller-row"]').first).to_be_visible()
    await shot(page, "task-queue")
    await page.goto(f"{ui}/namespaces/default/task-queues")
    await expect(page.locator(f'[data-testid="task-queue-link"]:text-is("{tq}")')).to_be_visible()

    # Schedules: list and detail.
    await page.get_by_test_id("nav-schedules").click()
    row = page.locator(f'[data-testid="schedule-row"][data-schedule-id="{schedule_id}"]')
    await expect(row).to_be_visible()
    await expect(row).to_contain_text("every 1h")
    await shot(page, "schedules")
    await row.get_by_role("link").click()
    await expect(page.get_by_test_id("schedule-state")).to_have_text("Active")
    await expect(page.get_by_test_id("schedule-summary")).to_contain_text("every 1h")
    await expect(page.get_by_test_id("schedule-input-json")).to_contain_text('"schedule"')
    await expect(page.get_by_test_id("schedule-next-time").first).to_be_visible()

    # Search attributes.
    await page.get_by_test_id("nav-search-attributes").click()
    for name, kind in (("CustomerId", "KEYWORD"), ("OrderTotal", "DOUBLE")):
        row = page.locator(f'[data-testid="search-attribute-row"][data-kind="custom"][data-name="{name}"]')
        await expect(row).to_contain_text(kind)
    for name in ("WorkflowType", "ExecutionStatus", "WorkflowId"):
        await expect(page.locator(f'[data-testid="search-attribute-row"][data-kind="system"][data-name="{name}"]')).to_be_visible()
    await shot(page, "search-attributes")


# ---------------------------------------------------------------- 2. live update


async def test_running_workflow_page_updates_when_its_activity_completes(server: ServerProcess):
    client = await Client.connect(server.address, namespace="default")
    tq = unique("ui-live")
    key = unique("live")
    RELEASE[key] = asyncio.Event()
    async with new_worker(client, tq, WORKFLOWS, ACTIVITIES):
        handle = await client.start_workflow(UiLongRunning.run, key, id=unique("ui-live"), task_queue=tq)
        try:
            async with browser_page(server) as (page, watch):
                await page.goto(wf_url(server, handle.id))
                await expect(page.get_by_test_id("wf-status")).to_have_text("Running")
                await expect(page.get_by_test_id("pending-activity-row")).to_have_count(1)
                await expect(page.get_by_test_id("wf-result-payload-json")).to_have_count(0)
                # A page reload would lose this.
                await page.evaluate("window.__notReloaded = 1")
                RELEASE[key].set()
                await expect(page.get_by_test_id("wf-status")).to_have_text("Completed")
                await expect(page.get_by_test_id("wf-result-payload-json")).to_contain_text(f"released {key}")
                await expect(page.get_by_test_id("pending-activity-row")).to_have_count(0)
                await expect(page.get_by_test_id("live-indicator")).to_have_count(0)
                await expect(
                    page.locator('[data-testid="history-row"][data-event-type="WorkflowExecutionCompleted"]')
                ).to_have_count(1)
                assert await page.evaluate("window.__notReloaded") == 1, "the page was reloaded"
        finally:
            RELEASE[key].set()
        assert (await handle.result())["activity"] == f"released {key}"


# ---------------------------------------------------------------- 3. actions


async def confirm(page: Page, title: str) -> None:
    dialog = page.get_by_test_id("dialog")
    await expect(page.get_by_test_id("dialog-title")).to_contain_text(re.compile(title, re.I))
    await dialog.get_by_test_id("dialog-confirm").click()
    # The dialog closes when the action succeeded; it stays open with the error otherwise.
    error = dialog.get_by_test_id("dialog-error")
    await expect(dialog.and_(page.locator(":not([open])")).or_(error.and_(page.locator(":not([hidden])")))).to_have_count(1)
    assert not await error.is_visible(), f"{title}: the action failed: {await error.text_content()}"
    await expect(dialog).to_be_hidden()


async def test_actions_change_the_workflow_as_the_cli_sees_it(server: ServerProcess):
    client = await Client.connect(server.address, namespace="default")
    cli = Cli(server)
    tq = unique("ui-actions")
    async with new_worker(client, tq, WORKFLOWS, ACTIVITIES):
        handles = {
            k: await client.start_workflow(UiWaiter.run, k, id=unique(f"ui-{k}"), task_queue=tq)
            for k in ("signal", "cancel", "terminate", "reset")
        }
        # Each has completed its workflow tasks (a reset point) before the UI acts on it.
        for h in handles.values():
            await until(
                lambda h=h: wft_completed(h), f"{h.id}: two workflow tasks completed"
            )
        async with browser_page(server) as (page, watch):
            # Signal.
            h = handles["signal"]
            await page.goto(wf_url(server, h.id))
            await expect(page.get_by_test_id("wf-status")).to_have_text("Running")
            await page.get_by_test_id("action-signal").click()
            await page.get_by_test_id("signal-name").fill("note")
            await page.get_by_test_id("signal-input").fill('{"from": "ui"}')
            await confirm(page, "Signal")
            # The page shows the new event live; the workflow recorded the signal.
            await expect(
                page.locator('[data-testid="history-row"][data-event-type="WorkflowExecutionSignaled"]')
            ).to_have_count(1)
            history = await cli.json("workflow", "show", "-w", h.id)
            signaled = [e for e in history["events"] if "workflowExecutionSignaledEventAttributes" in e]
            assert [e["workflowExecutionSignaledEventAttributes"]["signalName"] for e in signaled] == ["note"], signaled
            assert await until(lambda: h.query(UiWaiter.get_notes), "the signal recorded") == [{"from": "ui"}]

            # Cancel.
            h = handles["cancel"]
            await page.goto(wf_url(server, h.id))
            await expect(page.get_by_test_id("wf-status")).to_have_text("Running")
            await page.get_by_test_id("action-cancel").click()
            await page.get_by_test_id("action-reason").fill("ui-cancel-reason")
            await confirm(page, "cancel")
            await expect(page.get_by_test_id("wf-status")).to_have_text("Canceled")
            desc = await cli.json("workflow", "describe", "-w", h.id)
            assert status_of(desc) == "CANCELED", desc["workflowExecutionInfo"]
            history = await cli.json("workflow", "show", "-w", h.id)
            assert any("workflowExecutionCancelRequestedEventAttributes" in e for e in history["events"])

            # Terminate (the dialog is the docs' actions picture).
            h = handles["terminate"]
            await page.goto(wf_url(server, h.id))
            await expect(page.get_by_test_id("wf-status")).to_have_text("Running")
            await page.get_by_test_id("action-terminate").click()
            await page.get_by_test_id("action-reason").fill("ui-terminate-reason")
            await shot(page, "actions-dialog")
            await confirm(page, "Terminate")
            await expect(page.get_by_test_id("wf-status")).to_have_text("Terminated")
            await expect(page.get_by_test_id("field-terminate-reason")).to_contain_text("ui-terminate-reason")
            desc = await cli.json("workflow", "describe", "-w", h.id)
            assert status_of(desc) == "TERMINATED", desc["workflowExecutionInfo"]
            history = await cli.json("workflow", "show", "-w", h.id)
            term = [e["workflowExecutionTerminatedEventAttributes"] for e in history["events"]
                    if "workflowExecutionTerminatedEventAttributes" in e]
            assert [t.get("reason") for t in term] == ["ui-terminate-reason"], term

            # Reset: the UI moves to the new run; the old one is terminated.
            h = handles["reset"]
            old = (await h.describe()).run_id
            await page.goto(wf_url(server, h.id, old))
            await expect(page.get_by_test_id("wf-status")).to_have_text("Running")
            await page.get_by_test_id("action-reset").click()
            await expect(page.get_by_test_id("reset-event-id")).to_be_visible()
            await page.get_by_test_id("action-reason").fill("ui-reset-reason")
            await confirm(page, "Reset")
            await expect(page.get_by_test_id("wf-run-id")).not_to_have_text(old)
            new = (await page.get_by_test_id("wf-run-id").text_content()).strip()
            assert new in page.url, page.url
            await expect(page.get_by_test_id("wf-status")).to_have_text("Running")
            latest = await cli.json("workflow", "describe", "-w", h.id)
            assert latest["workflowExecutionInfo"]["execution"]["runId"] == new, latest["workflowExecutionInfo"]
            assert status_of(latest) == "RUNNING"
            before = await cli.json("workflow", "describe", "-w", h.id, "-r", old)
            assert status_of(before) == "TERMINATED", before["workflowExecutionInfo"]
            old_history = await cli.json("workflow", "show", "-w", h.id, "-r", old)
            term = [e["workflowExecutionTerminatedEventAttributes"] for e in old_history["events"]
                    if "workflowExecutionTerminatedEventAttributes" in e]
            assert term and "ui-reset-reason" in json.dumps(term), term

        for k in ("signal", "reset"):
            await client.get_workflow_handle(handles[k].id).signal(UiWaiter.finish)


async def wft_completed(handle) -> bool:
    n = 0
    async for e in handle.fetch_history_events():
        if e.HasField("workflow_task_completed_event_attributes"):
            n += 1
    return n >= 2


async def test_schedule_actions_change_the_schedule_as_the_cli_sees_it(server: ServerProcess):
    client = await Client.connect(server.address, namespace="default")
    cli = Cli(server, ("schedule",))
    tq = unique("ui-sched")
    sid = unique("ui-sched")
    await client.create_schedule(
        sid,
        Schedule(
            action=ScheduleActionStartWorkflow(UiGreet.run, "trigger", id=unique("ui-sched-wf"), task_queue=tq),
            spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(hours=1))]),
        ),
    )
    async with new_worker(client, tq, WORKFLOWS, ACTIVITIES):
        async with browser_page(server) as (page, watch):
            await page.goto(f"{server.ui_url}/namespaces/default/schedules/{sid}")
            await expect(page.get_by_test_id("schedule-state")).to_have_text("Active")

            await page.get_by_test_id("schedule-pause").click()
            await page.get_by_test_id("dialog-reason").fill("ui-pause-note")
            await confirm(page, "Pause")
            await expect(page.get_by_test_id("schedule-state")).to_have_text("Paused")
            desc = await cli.json("describe", "-s", sid)
            state = desc["schedule"]["state"]
            assert state.get("paused") is True and state.get("notes") == "ui-pause-note", state

            await page.get_by_test_id("schedule-unpause").click()
            await page.get_by_test_id("dialog-reason").fill("ui-unpause-note")
            await confirm(page, "Unpause")
            await expect(page.get_by_test_id("schedule-state")).to_have_text("Active")
            desc = await cli.json("describe", "-s", sid)
            assert not desc["schedule"]["state"].get("paused"), desc["schedule"]["state"]

            await page.get_by_test_id("schedule-trigger").click()
            await confirm(page, "Trigger")
            await expect(page.get_by_test_id("schedule-recent-row")).to_have_count(1)

            async def triggered():
                d = await cli.json("describe", "-s", sid)
                return int(d["info"].get("actionCount", 0)) == 1 and d

            desc = await until(triggered, "the triggered action in `temporal schedule describe`")
            assert len(desc["info"]["recentActions"]) == 1, desc["info"]
    await client.get_schedule_handle(sid).delete()


# ---------------------------------------------------------------- 4. codec endpoint

SECRET = {"card": "4242-secret", "n": 7}


def encrypt(value: Any) -> dict:
    """A `binary/encrypted` payload in the HTTP API's canonical form: the JSON text reversed."""
    return {"metadata": {"encoding": b64("binary/encrypted")}, "data": b64(json.dumps(value)[::-1])}


class Codec:
    """A remote codec server (POST /decode) with CORS, as Temporal's codec servers answer."""

    def __init__(self) -> None:
        self.allow_origin = ""
        self.calls: list[dict] = []
        codec = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def cors(self) -> None:
                self.send_header("Access-Control-Allow-Origin", codec.allow_origin)
                self.send_header("Access-Control-Allow-Methods", "POST, OPTIONS")
                self.send_header("Access-Control-Allow-Headers", "Content-Type, X-Namespace")

            def do_OPTIONS(self) -> None:
                self.send_response(204)
                self.cors()
                self.end_headers()

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                if self.path.rstrip("/") != "/decode":
                    self.send_response(404)
                    self.cors()
                    self.end_headers()
                    return
                codec.calls.append({"namespace": self.headers.get("X-Namespace"), "body": body})
                out = []
                for p in body.get("payloads", []):
                    enc = base64.b64decode(p.get("metadata", {}).get("encoding", "")).decode()
                    if enc == "binary/encrypted":
                        text = base64.b64decode(p.get("data", "")).decode()[::-1]
                        out.append({"metadata": {"encoding": b64("json/plain")}, "data": b64(text)})
                    else:
                        out.append(p)
                data = json.dumps({"payloads": out}).encode()
                self.send_response(200)
                self.cors()
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def start_encrypted(server: ServerProcess, wid: str) -> None:
    """Starts a workflow (no worker: it stays running) whose input is an encrypted payload, through
    the HTTP API."""
    http_json(
        f"{server.http_url}/api/v1/namespaces/default/workflows/{urllib.parse.quote(wid, safe='')}",
        "POST",
        {
            "workflowId": wid,
            "workflowType": {"name": "UiEncrypted"},
            "taskQueue": {"name": unique("ui-codec-tq")},
            "input": [encrypt(SECRET)],
            "requestId": unique("req"),
        },
    )


async def test_codec_endpoint_decodes_payloads_in_the_browser(server: ServerProcess, tmp_path: Path):
    # Without a codec endpoint: "Encrypted", never the bytes.
    wid = unique("ui-encrypted")
    await asyncio.to_thread(start_encrypted, server, wid)
    raw = encrypt(SECRET)["data"]
    async with browser_page(server) as (page, watch):
        await page.goto(wf_url(server, wid))
        await expect(page.get_by_test_id("wf-status")).to_have_text("Running")
        badge = page.locator('[data-testid="wf-input"] [data-testid="payload-encoded"]')
        await expect(badge).to_have_text("Encrypted")
        await expect(page.get_by_test_id("wf-input-payload-json")).to_have_count(0)
        started = page.locator('[data-testid="history-row"][data-event-type="WorkflowExecutionStarted"]')
        await started.click()
        await expect(page.get_by_test_id("history-event-json")).to_contain_text("[Encrypted]")
        text = await page.locator("body").inner_text()
        html = await page.content()
        for leak in (raw, "4242-secret", "terces-2424"):
            assert leak not in text and leak not in html, f"{leak!r} shown without a codec"

    codec = Codec()
    srv = None
    try:
        srv = ui_server(tmp_path, "codec", "codec_endpoint", codec.url)
        codec.allow_origin = srv.ui_url
        await asyncio.to_thread(srv.start)
        settings = await asyncio.to_thread(http_json, f"{srv.ui_url}/api/v1/settings")
        assert settings["Codec"]["Endpoint"] == codec.url, settings
        wid = unique("ui-encrypted")
        await asyncio.to_thread(start_encrypted, srv, wid)
        async with browser_page(srv, allowed_origins=(codec.url,)) as (page, watch):
            await page.goto(wf_url(srv, wid))
            await expect(page.get_by_test_id("wf-status")).to_have_text("Running")
            out = page.get_by_test_id("wf-input-payload-json")
            await expect(out).to_contain_text('"card": "4242-secret"')
            assert json.loads(await out.text_content()) == SECRET
            await expect(page.locator('[data-testid="wf-input"] [data-testid="payload-encoded"]')).to_have_count(0)
            await page.locator('[data-testid="history-row"][data-event-type="WorkflowExecutionStarted"]').click()
            await expect(page.get_by_test_id("history-event-json")).to_contain_text("4242-secret")
            await page.get_by_test_id("wf-input").scroll_into_view_if_needed()
            await shot(page, "codec")
            assert watch.other_origin_requests and all(
                u == codec.url + "/decode" for u in watch.other_origin_requests
            ), watch.other_origin_requests
        assert codec.calls and all(c["namespace"] == "default" for c in codec.calls), codec.calls
    finally:
        if srv is not None:
            srv.stop()
        codec.close()


# ---------------------------------------------------------------- 5. another UI build


def fetch(url: str) -> tuple[int, str, str]:
    """Status, Content-Type and body of a GET (an error status is an answer, not an exception)."""
    try:
        with urllib.request.urlopen(url, timeout=15) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read().decode()


async def test_ui_asset_path_serves_another_ui_build(tmp_path: Path, chromium: str):
    assets = tmp_path / "assets"
    assets.mkdir()
    (assets / "index.html").write_text(
        '<!doctype html><html><head><meta charset="utf-8"><title>Other UI</title>'
        '<link rel="icon" href="data:,"><link rel="stylesheet" href="/_app/style.css"></head>'
        '<body><h1 id="other-ui">Another UI build</h1></body></html>'
    )
    (assets / "_app").mkdir()
    (assets / "_app" / "style.css").write_text("#other-ui { color: rgb(1, 2, 3); }\n")
    srv = ui_server(tmp_path, "assets", "asset_path", str(assets))
    await asyncio.to_thread(srv.start)
    try:
        ui = srv.ui_url
        status, ctype, body = await asyncio.to_thread(fetch, ui + "/")
        assert status == 200 and "text/html" in ctype and "Another UI build" in body, (status, ctype, body)
        status, ctype, body = await asyncio.to_thread(fetch, ui + "/_app/style.css")
        assert status == 200 and "text/css" in ctype and "rgb(1, 2, 3)" in body, (status, ctype, body)
        # An unknown page path is the UI's to route: index.html.
        status, ctype, body = await asyncio.to_thread(fetch, ui + "/namespaces/default/workflows")
        assert status == 200 and "Another UI build" in body, (status, body)
        # The built-in UI's files are not served: a missing script is a 404 (not an HTML page).
        status, ctype, body = await asyncio.to_thread(fetch, ui + "/app.js")
        assert status == 404 and "text/javascript" not in ctype, (status, ctype, body[:200])
        # Settings and the HTTP API stay on the same origin.
        settings = await asyncio.to_thread(http_json, ui + "/api/v1/settings")
        assert settings["DefaultNamespace"] == "default", settings
        names = [n["namespaceInfo"]["name"] for n in (await asyncio.to_thread(http_json, ui + "/api/v1/namespaces"))["namespaces"]]
        assert "default" in names, names
        async with browser_page(srv) as (page, watch):
            await page.goto(ui + "/some/deep/page")
            await expect(page.locator("#other-ui")).to_have_css("color", "rgb(1, 2, 3)")
    finally:
        srv.stop()
