"""The dashboard in a real browser (Playwright driving Debian's Chromium, headless) during a running job.

The coordinator (with the dashboard router) serves over a real socket from a background thread; a
worker pool in the same thread claims and submits over HTTP, with a scripted teacher slowed down so
the job is still running while the page is watched. The test asserts on what the page shows (text,
element state), never on the HTML source, and saves a screenshot under its output folder.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from gen_service.api.app import create_app
from gen_service.api.dashboard import DashboardConfig
from gen_service.core.gates import Reason
from gen_service.resources import Resources
from gen_service.service import CoordinatorService
from gen_service.store.engine import create_engine
from gen_service.teachers import BUILTIN_SCRIPTED
from gen_service.worker.client import CoordinatorClient
from gen_service.worker.pool import PoolConfig, WorkerPool
from gen_service.worker.teachers import ScriptedTeacher, TeacherReply, TeacherRequest
from tests.acceptance.procs import free_port, wait_for

pytestmark = pytest.mark.acceptance

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
TEACHERS = {
    "scripted": BUILTIN_SCRIPTED.model_copy(
        update={"defect_share": 0.35, "cost_per_1k_input": 0.15, "cost_per_1k_output": 0.6}
    )
}


class SlowTeacher:
    """The scripted teacher with a fixed delay per call, like a remote model's latency."""

    def __init__(self, inner: ScriptedTeacher, delay_s: float) -> None:
        self._inner = inner
        self._delay_s = delay_s

    async def complete(self, request: TeacherRequest) -> TeacherReply:
        await asyncio.sleep(self._delay_s)
        return await self._inner.complete(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


@dataclass
class LiveCoordinator:
    base_url: str
    loop: asyncio.AbstractEventLoop
    server: uvicorn.Server
    stop_workers: asyncio.Event
    service: CoordinatorService

    def call(self, coroutine: Any, timeout_s: float = 60) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout_s)


@pytest.fixture
def coordinator(fresh_sqlite_url: str, resources: Resources) -> Iterator[LiveCoordinator]:
    port = free_port()
    ready = threading.Event()
    holder: dict[str, Any] = {}

    async def main() -> None:
        engine = create_engine(fresh_sqlite_url)
        service = CoordinatorService(engine, resources)
        app = create_app(
            service,
            teachers=TEACHERS,
            lease_ttl_s=60,
            prompt_version="v1",
            reaper_interval_s=1,
            dashboard_config=DashboardConfig(refresh_s=0.5),
        )
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=3,
        )
        server = uvicorn.Server(config)
        holder.update(
            loop=asyncio.get_running_loop(),
            server=server,
            service=service,
            stop=asyncio.Event(),
            engine=engine,
        )
        ready.set()
        try:
            await server.serve()
        finally:
            await engine.dispose()

    thread = threading.Thread(target=lambda: asyncio.run(main()), name="coordinator", daemon=True)
    thread.start()
    assert ready.wait(60)
    base_url = f"http://127.0.0.1:{port}"
    wait_for(lambda: _answers(base_url + "/healthz"), timeout_s=60, what="the coordinator to listen")
    live = LiveCoordinator(base_url, holder["loop"], holder["server"], holder["stop"], holder["service"])
    try:
        yield live
    finally:
        live.loop.call_soon_threadsafe(live.stop_workers.set)
        live.server.should_exit = True
        thread.join(60)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


async def run_workers(live: LiveCoordinator, resources: Resources, job_id: int) -> Any:
    teacher = SlowTeacher(
        ScriptedTeacher(
            "scripted", resources.behaviours, resources.scenarios, TEACHERS["scripted"].defect_share
        ),
        delay_s=0.15,
    )
    async with httpx.AsyncClient(base_url=live.base_url, timeout=30) as http:
        pool = WorkerPool(
            CoordinatorClient(http),
            {"scripted": teacher},
            resources,
            PoolConfig(concurrency=4, job_id=job_id, submit_batch=4, submit_interval_s=0.1, grace_s=5),
        )
        return await pool.run(live.stop_workers)


def number(text: str) -> int:
    return int(text.replace(",", "").strip() or 0)


def test_dashboard_follows_a_running_job(
    coordinator: LiveCoordinator, resources: Resources, tmp_path: Path
) -> None:
    # A missing browser is a broken set-up, not a reason to skip: `.ci/run` installs Debian's chromium.
    from playwright import sync_api

    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is not installed (apt-get install -y chromium)")
    layers: dict[str, str] = {}
    for name, behaviour in sorted(resources.behaviours.items()):
        layers.setdefault(behaviour.layer, name)
    targets = dict.fromkeys(sorted(layers.values()), 120)
    created = httpx.post(
        coordinator.base_url + "/v1/jobs", json={"name": "browser", "targets": targets, "teacher": "scripted"}
    )
    assert created.status_code == 201, created.text
    job_id = created.json()["id"]
    workers = asyncio.run_coroutine_threadsafe(run_workers(coordinator, resources, job_id), coordinator.loop)
    watched = next(iter(targets))
    screenshot = tmp_path / "dashboard.png"
    reject_shot = tmp_path / "dashboard-reject.png"

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1700})
            page.goto(f"{coordinator.base_url}/dashboard/jobs/{job_id}")
            page.evaluate("window.__sameDocument = true")  # gone if the page ever reloads
            wait_for(
                lambda: page.locator("#live").inner_text() == "live", timeout_s=60, what="the live stream"
            )
            assert page.locator("#job-title").inner_text() == "· browser"
            assert page.locator("#job-status").inner_text().lower() == "running"
            assert number(page.locator("#job-target").inner_text()) == 120 * len(targets)

            # Numbers and progress bars move on their own, without a reload.
            bar = page.get_by_role("progressbar", name=f"{watched} progress")
            first_accepted = number(page.locator("#job-accepted").inner_text())
            first_bar = int(bar.get_attribute("aria-valuenow") or 0)
            wait_for(
                lambda: number(page.locator("#job-accepted").inner_text()) > first_accepted + 5,
                timeout_s=120,
                interval_s=0.2,
                what="the accepted count to grow",
            )
            wait_for(
                lambda: int(bar.get_attribute("aria-valuenow") or 0) > first_bar,
                timeout_s=120,
                interval_s=0.2,
                what=f"the {watched} progress bar to grow",
            )
            width = page.locator(f'tr[data-behaviour="{watched}"] .fill').evaluate("e => e.style.width")
            assert width.endswith("%") and float(width[:-1]) > 0
            row = page.locator(f'tr[data-behaviour="{watched}"]')
            assert row.is_visible() and f"/ {120}" in row.inner_text()
            assert page.locator("#job-pass-rate").inner_text().endswith("%")
            wait_for(
                lambda: page.locator("#lat-p50").inner_text().endswith("ms"), timeout_s=30, what="latency p50"
            )
            assert page.locator("#tok-in").inner_text() not in ("", "0")
            assert page.locator("#cost-per").inner_text() not in ("", "–")
            assert page.locator("#chart rect.bar-rect").count() == 90
            assert page.evaluate("window.__sameDocument === true")

            page.screenshot(path=str(screenshot))
            print(f"dashboard screenshot: {screenshot}")

            # A reject excerpt opens in the side panel with its detail and the raw teacher text.
            excerpt = page.locator("#rejects a.excerpt").first
            wait_for(lambda: excerpt.is_visible(), timeout_s=120, interval_s=0.2, what="a reject excerpt")
            reasons = {reason.value for reason in Reason}

            def open_excerpt() -> bool:
                with contextlib.suppress(sync_api.Error):
                    page.locator("#rejects a.excerpt").first.click(timeout=2000)
                panel = page.locator("#detail")
                return panel.is_visible() and "loading" not in page.locator("#detail-reasons").inner_text()

            wait_for(open_excerpt, timeout_s=60, interval_s=0.5, what="the reject panel")
            shown = page.locator("#detail-reasons").inner_text()
            assert any(reason in shown for reason in reasons), shown
            assert page.locator("#detail-title").inner_text().startswith("Reject · lease ")
            assert page.locator("#detail-raw").inner_text().strip()
            assert "behaviour" in page.locator("#detail-meta").inner_text()
            page.screenshot(path=str(reject_shot))
            print(f"reject panel screenshot: {reject_shot}")

            # The job list links to the job.
            page.goto(f"{coordinator.base_url}/dashboard")
            link = page.get_by_role("link", name="browser")
            wait_for(lambda: link.is_visible(), timeout_s=30, what="the job list")
            assert link.get_attribute("href") == f"/dashboard/jobs/{job_id}"
        finally:
            browser.close()

    coordinator.loop.call_soon_threadsafe(coordinator.stop_workers.set)
    stats = workers.result(120)
    assert stats.submitted > 0
    assert screenshot.stat().st_size > 10_000 and reject_shot.stat().st_size > 10_000
