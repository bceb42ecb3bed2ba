"""Helpers for tests that talk to the teacher stub over real HTTP.

Not a conftest (the name only groups it with them): test modules import what they need, so this file
can never clash with the project's own fixtures.

- `serve_app(app)`: serve an ASGI app with uvicorn on a free loopback port in a background thread,
  wait (with a deadline) until `/healthz` answers, yield the base URL, shut down on exit.
- `RecordingSleep`: an injectable `sleep` that records the waits it is asked for and returns at once.
- `Catalog` / `load_catalog()`: the real behaviours and scenario bank, loaded once per test module.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn

__all__ = ["Catalog", "RecordingSleep", "closed_port_url", "load_catalog", "serve_app", "teacher_request"]


@contextmanager
def serve_app(app: Any, *, startup_deadline_s: float = 15.0) -> Iterator[str]:
    """Serve `app` on 127.0.0.1 and yield its base URL, e.g. "http://127.0.0.1:40123".

    The listening socket is bound here and handed to uvicorn, so no other process can take the port
    between choosing and binding it.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True, name=f"stub-{port}")
    thread.start()
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(base_url, thread, startup_deadline_s)
        yield base_url
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()


def _wait_healthy(base_url: str, thread: threading.Thread, deadline_s: float) -> None:
    deadline = time.monotonic() + deadline_s
    last_error = "no attempt"
    while time.monotonic() < deadline:
        if not thread.is_alive():
            raise RuntimeError(f"stub server thread died before {base_url} became healthy")
        try:
            if httpx.get(f"{base_url}/healthz", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError as exc:
            last_error = repr(exc)
        time.sleep(0.02)  # polling for readiness, not waiting for an outcome
    raise RuntimeError(f"stub at {base_url} not healthy within {deadline_s} s: {last_error}")


def closed_port_url() -> str:
    """A loopback URL on which nothing listens (connections are refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


class RecordingSleep:
    """Stands in for asyncio.sleep: records each requested wait, never sleeps."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@dataclass(frozen=True)
class Catalog:
    behaviours: Mapping[str, Any]
    scenarios: Mapping[str, Any]

    def pairs(self, count: int) -> list[tuple[str, str]]:
        """`count` (behaviour, scenario) pairs spread over behaviours and non-held-out scenarios."""
        behaviours = sorted(self.behaviours)
        scenarios = sorted(s for s, scenario in self.scenarios.items() if not scenario.held_out)
        return [(behaviours[i % len(behaviours)], scenarios[i % len(scenarios)]) for i in range(count)]


def load_catalog() -> Catalog:
    from gen_service.catalog import load_behaviours
    from gen_service.scenario_bank import load_scenarios

    return Catalog(behaviours=load_behaviours(), scenarios=load_scenarios())


def teacher_request(behaviour: str, scenario: str, seed: int, lease_id: str = "lease-1") -> Any:
    """A TeacherRequest with a small rendered-looking prompt."""
    from gen_service.worker.teachers import TeacherRequest

    return TeacherRequest(
        messages=[
            {"role": "system", "content": "You write one coding-agent trace as JSON."},
            {"role": "user", "content": f"Behaviour {behaviour}, scenario {scenario}."},
        ],
        behaviour=behaviour,
        scenario=scenario,
        seed=seed,
        lease_id=lease_id,
    )
