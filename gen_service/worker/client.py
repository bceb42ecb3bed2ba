"""The worker's only way to reach the coordinator: its HTTP API, through one httpx client.

In the embedded mode the same client runs over `httpx.ASGITransport(app)`; everywhere else over real
sockets (aiohttp-backed, see `coordinator_transport`). Transport failures and 5xx answers (a
coordinator restarting, a database failover) are retried with capped exponential backoff; 4xx answers
are bugs or bad configuration and raise at once.
"""

from __future__ import annotations

import asyncio
import random
import urllib.request
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import aiohttp
import httpx
from pydantic import BaseModel, ValidationError

from gen_service.api.schemas import (
    ClaimResponse,
    LeaseOut,
    ReleaseResponse,
    ResultIn,
    ResultStatusOut,
    SubmitResponse,
)
from gen_service.serialization import JSONDecodeError, dumps, loads
from gen_service.worker.teachers import default_transport

# What a failed request can raise: httpx's transport errors, and the aiohttp errors httpx-aiohttp
# passes through unmapped (`ClientResponseError` for a malformed response, which httpx's own
# transport reports as `RemoteProtocolError`, a TransportError).
_TRANSPORT_ERRORS = (httpx.TransportError, httpx.TimeoutException, aiohttp.ClientError)


class CoordinatorError(RuntimeError):
    """The coordinator refused a request (4xx) or stayed unreachable through every retry."""


def coordinator_transport(limits: httpx.Limits) -> httpx.AsyncBaseTransport | None:
    """The transport for a worker's requests to the coordinator over real sockets, to pass as
    `httpx.AsyncClient(transport=...)`; None means httpx's own (give the client `limits` too).

    aiohttp-backed when httpx-aiohttp is installed, as on the teacher path and for the same reason:
    httpx's own transport costs several times the CPU per request (here, on every claim and submit,
    also a failed `import sniffio`). Its failures are retried like httpx's own (`_TRANSPORT_ERRORS`).
    None while the environment names an HTTP proxy: httpx honours `HTTP(S)_PROXY` / `NO_PROXY` only
    with its own transport, and the worker keeps doing so.
    """
    proxies = urllib.request.getproxies()
    if any(proxies.get(scheme) for scheme in ("http", "https", "all")):
        return None
    return default_transport(limits)


_Answer = TypeVar("_Answer", bound=BaseModel)


def _answer(model: type[_Answer], path: str, value: Any) -> _Answer:
    """The coordinator's answer as `model`; CoordinatorError (not a crash) when it has another shape."""
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        raise CoordinatorError(f"{path}: unexpected answer: {exc.errors()[0]['msg']}") from exc


class CoordinatorClient:
    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        max_attempts: int = 8,
        max_backoff_s: float = 10.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._http = http
        self._max_attempts = max_attempts
        self._max_backoff_s = max_backoff_s
        self._sleep = sleep

    async def _post(self, path: str, body: dict[str, Any]) -> Any:
        payload = dumps(body)
        for attempt in range(1, self._max_attempts + 1):
            try:
                response = await self._http.post(
                    path, content=payload, headers={"content-type": "application/json"}
                )
            except _TRANSPORT_ERRORS as exc:
                problem = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code < 400:
                    try:
                        return loads(response.content)
                    except JSONDecodeError:
                        # A proxy's error page or a cut-off body: the outcome is unknown, and every
                        # request is idempotent, so ask again.
                        problem = f"HTTP {response.status_code} with a body that is not JSON"
                elif response.status_code < 500:
                    raise CoordinatorError(f"{path}: HTTP {response.status_code}: {response.text[:500]}")
                else:
                    problem = f"HTTP {response.status_code}"
            if attempt == self._max_attempts:
                raise CoordinatorError(
                    f"{path}: coordinator unreachable after {attempt} attempts ({problem})"
                )
            delay = min(self._max_backoff_s, 0.2 * 2 ** (attempt - 1))
            await self._sleep(delay * (0.5 + random.random() / 2))
        raise AssertionError("unreachable")

    async def claim(self, worker_id: str, max_leases: int, job_id: int | None = None) -> ClaimResponse:
        body: dict[str, Any] = {"worker_id": worker_id, "max_leases": max_leases}
        if job_id is not None:
            body["job_id"] = job_id
        return _answer(ClaimResponse, "/v1/leases/claim", await self._post("/v1/leases/claim", body))

    async def submit(self, results: Sequence[ResultIn]) -> list[ResultStatusOut]:
        body = {"results": [r.model_dump() for r in results]}
        return _answer(SubmitResponse, "/v1/results", await self._post("/v1/results", body)).results

    async def release(self, leases: Sequence[LeaseOut]) -> int:
        if not leases:
            return 0
        body = {"leases": [{"lease_id": lease.lease_id, "token": lease.token} for lease in leases]}
        answer = _answer(ReleaseResponse, "/v1/leases/release", await self._post("/v1/leases/release", body))
        return answer.released
