"""CoordinatorClient over real sockets, through the transport `tracegen worker` gives it
(`coordinator_transport`, aiohttp-backed): the failures a coordinator can produce on the wire are
retried, as they are over httpx's own transport, and a 4xx is not.

The "coordinator" here is a raw asyncio TCP server that plays one scripted answer per connection, so
a test can send what no well-behaved server would (a garbled status line, a connection closed
mid-answer). Waiting between attempts is switched off: the client gets a `RecordingSleep`.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import httpx
import pytest

from gen_service.api.schemas import LeaseOut
from gen_service.serialization import dumps
from gen_service.worker.client import CoordinatorClient, CoordinatorError, coordinator_transport
from tests.conftest_stub import RecordingSleep, closed_port_url

LIMITS = httpx.Limits(max_connections=4, max_keepalive_connections=4)

TransportFactory = Callable[[], httpx.AsyncBaseTransport]


@pytest.fixture(params=["coordinator_transport", "httpx"])
def new_transport(request: pytest.FixtureRequest) -> TransportFactory:
    """The worker's transport, and httpx's own as the reference the behaviour must match."""
    if request.param == "httpx":
        return lambda: httpx.AsyncHTTPTransport(limits=LIMITS)
    return lambda: coordinator_transport(LIMITS) or pytest.fail("no aiohttp-backed transport")


def http_answer(status: int, body: bytes) -> bytes:
    head = f"HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n"
    return head.encode() + b"connection: close\r\n\r\n" + body


@asynccontextmanager
async def scripted_server(answers: list[bytes]) -> AsyncIterator[tuple[str, list[bytes]]]:
    """Serve one answer per connection, in order; yields the base URL and the requests seen (heads)."""
    pending = list(answers)
    seen: list[bytes] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            (
                int(line.split(b":", 1)[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            ),
            0,
        )
        await reader.readexactly(length)
        seen.append(head)
        writer.write(pending.pop(0))
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", seen
    finally:
        server.close()
        await server.wait_closed()


CLAIMED = dumps({"leases": [], "more_work_possible": False})
LEASE = LeaseOut(
    lease_id="l1",
    token=1,
    job_id=1,
    job_name="j",
    teacher="t",
    prompt_version="v1",
    behaviour="survey_before_edit",
    scenario="py_inventory",
    seed=0,
    expires_at=datetime(2026, 1, 1, tzinfo=UTC),
)


def test_the_worker_transport_is_aiohttp_backed_unless_a_proxy_is_configured(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    module = importlib.import_module("httpx_aiohttp")  # a runtime dependency
    for name in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    assert isinstance(coordinator_transport(LIMITS), module.AiohttpTransport)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    assert coordinator_transport(LIMITS) is None  # httpx's own transport, which honours the proxy


@pytest.mark.parametrize(
    "failure",
    [
        b"NOT-HTTP garbage\r\n\r\n",  # a malformed answer (aiohttp: ClientResponseError, unmapped)
        b"HTTP/1.1 200 OK\r\ncontent-length: 500\r\n\r\n{",  # closed mid-body
        b"",  # closed without answering
        http_answer(503, b'{"detail": "restarting"}'),
    ],
)
async def test_wire_failures_are_retried_then_the_answer_is_used(
    new_transport: TransportFactory, failure: bytes
) -> None:
    async with scripted_server([failure, http_answer(200, CLAIMED)]) as (base_url, seen):
        sleep = RecordingSleep()
        async with httpx.AsyncClient(base_url=base_url, transport=new_transport(), timeout=10) as http:
            claim = await CoordinatorClient(http, sleep=sleep).claim("w", 8)
    assert claim.leases == []
    assert claim.more_work_possible is False
    assert len(seen) == 2
    assert len(sleep.waits) == 1


async def test_a_4xx_is_not_retried(new_transport: TransportFactory) -> None:
    async with scripted_server([http_answer(409, b'{"detail": "stale token"}')]) as (base_url, seen):
        sleep = RecordingSleep()
        async with httpx.AsyncClient(base_url=base_url, transport=new_transport(), timeout=10) as http:
            with pytest.raises(CoordinatorError, match="HTTP 409"):
                await CoordinatorClient(http, sleep=sleep).claim("w", 8)
    assert len(seen) == 1
    assert sleep.waits == []


async def test_an_unreachable_coordinator_ends_in_coordinator_error(new_transport: TransportFactory) -> None:
    sleep = RecordingSleep()
    async with httpx.AsyncClient(base_url=closed_port_url(), transport=new_transport(), timeout=10) as http:
        with pytest.raises(CoordinatorError, match="unreachable after 3 attempts"):
            await CoordinatorClient(http, max_attempts=3, sleep=sleep).claim("w", 8)
    assert len(sleep.waits) == 2


async def test_a_2xx_that_is_not_json_is_asked_again(new_transport: TransportFactory) -> None:
    answers = [http_answer(200, b"<html>proxy error</html>"), http_answer(200, CLAIMED)]
    async with scripted_server(answers) as (base_url, seen):
        sleep = RecordingSleep()
        async with httpx.AsyncClient(base_url=base_url, transport=new_transport(), timeout=10) as http:
            claim = await CoordinatorClient(http, sleep=sleep).claim("w", 8)
    assert claim.leases == [] and len(seen) == 2 and len(sleep.waits) == 1


CALLS: dict[str, Callable[[CoordinatorClient], Awaitable[object]]] = {
    "claim": lambda client: client.claim("w", 8),
    "submit": lambda client: client.submit([]),
    "release": lambda client: client.release([LEASE]),
}


@pytest.mark.parametrize(
    ("call", "answer"),
    [
        ("claim", b'{"leases": "none"}'),
        ("submit", b'{"results": [{"lease_id": 5}]}'),
        ("release", b'{"released": "many"}'),
    ],
)
async def test_an_answer_of_the_wrong_shape_is_a_coordinator_error(
    new_transport: TransportFactory, call: str, answer: bytes
) -> None:
    async with (
        scripted_server([http_answer(200, answer)]) as (base_url, _),
        httpx.AsyncClient(base_url=base_url, transport=new_transport(), timeout=10) as http,
    ):
        with pytest.raises(CoordinatorError, match="unexpected answer"):
            await CALLS[call](CoordinatorClient(http, sleep=RecordingSleep()))
