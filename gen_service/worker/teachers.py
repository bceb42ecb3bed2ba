"""Teachers as the worker sees them: one `complete(request) -> reply` port, two adapters.

- `ScriptedTeacher`: in-process and deterministic; its text is `scripted_reply_text(behaviour,
  scenario, seed)`, exactly what `tracegen teacher-stub` serves over HTTP for the same triple.
- `OpenAITeacher`: any OpenAI-compatible server, `POST {base_url}/chat/completions` over one pooled
  `httpx.AsyncClient`.

Failure contract, the same for both: a reply that arrives is returned, however bad its content (the
gates judge it); an infrastructure failure raises `TeacherUnavailable` and is never a quality reject.
`OpenAITeacher` retries, with capped exponential backoff and jitter, exactly these: 429 (waiting what
`Retry-After` says, clamped), 500/502/503/504, timeouts, connection and protocol errors, and a 200
whose body is not complete JSON or has no `choices` (a truncated reply). Any other status is not
retried: it raises `TeacherRequestRejected` at once (a `TeacherUnavailable`, so a worker that handles
the one handles the other).

Waiting goes through an injected `sleep`, so tests record the waits instead of sleeping.
"""

from __future__ import annotations

import asyncio
import importlib
import math
import os
import random
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeGuard

import aiohttp
import httpx
from pydantic import SecretStr

from gen_service.core.scripted import scripted_reply_text
from gen_service.core.tokens import estimate_tokens
from gen_service.core.trace import split_think_block
from gen_service.serialization import JSONDecodeError, dumps, loads
from gen_service.teachers import TeacherConfig, TeacherKind, resolve_api_key

if TYPE_CHECKING:
    from gen_service.core.behaviours import Behaviour
    from gen_service.core.scenarios import Scenario

__all__ = [
    "RETRYABLE_STATUS",
    "OpenAITeacher",
    "ScriptedTeacher",
    "Teacher",
    "TeacherReply",
    "TeacherRequest",
    "TeacherRequestRejected",
    "TeacherUnavailable",
    "build_teacher",
    "default_transport",
    "parse_retry_after",
]

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})

# A Retry-After beyond this is not a plausible instruction but a broken header: use the backoff.
_ABSURD_RETRY_AFTER_S = 86_400.0
_DELAY_SECONDS = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*$")
_BACKOFF_INITIAL_S = 0.5
_EXCERPT_CHARS = 300

# Sized for a worker pool of a few hundred concurrent calls against one teacher.
_POOL_LIMITS = httpx.Limits(max_connections=512, max_keepalive_connections=512, keepalive_expiry=30.0)


@dataclass(frozen=True, slots=True)
class TeacherRequest:
    """What a worker asks a teacher for: the rendered prompt plus the lease it serves."""

    messages: list[dict[str, Any]]  # system + user, OpenAI chat format
    behaviour: str  # behaviour name; travels in `metadata`, only the scripted teacher uses it
    scenario: str  # scenario id; likewise
    seed: int  # lease seed; sent as the request's `seed`
    lease_id: str


@dataclass(frozen=True, slots=True)
class TeacherReply:
    """One answered completion, before any parsing or gating."""

    text: str  # assistant content, the `{"messages": [...]}` answer (maybe fenced), <think> removed
    reasoning: str  # the teacher's own reasoning (reasoning_content or a leading <think> block)
    finish_reason: str  # as reported ("stop", "length", ...); "unknown" when the server gave none
    prompt_tokens: int  # from `usage`, else estimated at ~4 characters a token
    completion_tokens: int
    latency_s: float  # wall time of `complete`, retries and waits included
    attempts: int  # requests made, 1 when the first one answered


class TeacherUnavailable(Exception):
    """The teacher could not answer (after all retries): an infrastructure failure, never a reject."""

    def __init__(self, message: str, *, attempts: int) -> None:
        super().__init__(message)
        self.attempts = attempts


class TeacherRequestRejected(TeacherUnavailable):
    """The teacher refused the request with a status that retrying cannot fix (400, 401, 404, ...).

    Raised on the first such answer, without retrying. `status` is the HTTP status and `excerpt` the
    start of the response body.
    """

    def __init__(self, status: int, excerpt: str, *, teacher: str, attempts: int = 1) -> None:
        super().__init__(
            f"teacher {teacher!r} rejected the request: HTTP {status}: {excerpt}", attempts=attempts
        )
        self.status = status
        self.excerpt = excerpt


class Teacher(Protocol):
    """The port every worker codes against."""

    name: str

    async def complete(self, request: TeacherRequest) -> TeacherReply:
        """Answer one request. Raises TeacherUnavailable on infrastructure failure."""
        ...

    async def aclose(self) -> None:
        """Release connections; the teacher is unusable afterwards."""
        ...


def parse_retry_after(value: str | None, *, max_wait_s: float, now: datetime | None = None) -> float | None:
    """The wait a `Retry-After` header asks for, clamped to [0, max_wait_s]; None to use the backoff.

    Accepts delay-seconds (decimals tolerated) and an HTTP-date (a date in the past means 0).
    Returns None for a missing, negative, unparsable or absurd (over a day) value.
    """
    if value is None:
        return None
    match = _DELAY_SECONDS.match(value)
    if match is not None:
        seconds = float(match.group(1))
    else:
        try:
            moment = parsedate_to_datetime(value.strip())
        except (TypeError, ValueError, IndexError):
            return None
        if moment.tzinfo is None:  # "-0000" zone: RFC 5322 says UTC with unknown local offset
            moment = moment.replace(tzinfo=UTC)
        seconds = (moment - (now or datetime.now(UTC))).total_seconds()
        seconds = max(seconds, 0.0)
    if not math.isfinite(seconds) or seconds > _ABSURD_RETRY_AFTER_S:
        return None
    return min(seconds, max_wait_s)


def default_transport(limits: httpx.Limits = _POOL_LIMITS) -> httpx.AsyncBaseTransport | None:
    """The aiohttp-backed transport of `httpx-aiohttp` when it is installed, else None (httpx's own).

    Measured against the stub on loopback at concurrency 64, it costs about 0.6 s of client CPU per
    1,000 completions where httpx's own transport costs about 4.5 s (see DESIGN.md, performance
    notes), with the same httpx API and the same exception types (it maps aiohttp's onto httpx's,
    all but `aiohttp.ClientResponseError`, raised for a malformed response). `limits` defaults to the
    teacher pool's (512 connections).
    """
    try:
        module = importlib.import_module("httpx_aiohttp")
    except ImportError:
        return None
    transport: httpx.AsyncBaseTransport = module.AiohttpTransport(limits=limits)
    return transport


class ScriptedTeacher:
    """The built-in teacher: deterministic text from (behaviour, scenario, seed), no I/O."""

    def __init__(
        self,
        name: str,
        behaviours: Mapping[str, Behaviour],
        scenarios: Mapping[str, Scenario],
        defect_share: float,
    ) -> None:
        if not 0.0 <= defect_share <= 1.0:
            raise ValueError(f"defect_share must be in [0, 1], got {defect_share}")
        self.name = name
        self._behaviours = behaviours
        self._scenarios = scenarios
        self._defect_share = defect_share

    def __repr__(self) -> str:
        return f"ScriptedTeacher(name={self.name!r}, defect_share={self._defect_share})"

    async def complete(self, request: TeacherRequest) -> TeacherReply:
        started = time.perf_counter()
        behaviour = self._behaviours.get(request.behaviour)
        if behaviour is None:
            raise TeacherRequestRejected(400, f"unknown behaviour {request.behaviour!r}", teacher=self.name)
        scenario = self._scenarios.get(request.scenario)
        if scenario is None:
            raise TeacherRequestRejected(400, f"unknown scenario {request.scenario!r}", teacher=self.name)
        content = scripted_reply_text(behaviour, scenario, request.seed, defect_share=self._defect_share)
        reasoning, text = split_think_block(content)
        return TeacherReply(
            text=text,
            reasoning=reasoning,
            finish_reason="stop",
            prompt_tokens=_estimate_prompt_tokens(request.messages),
            completion_tokens=estimate_tokens(content),
            latency_s=time.perf_counter() - started,
            attempts=1,
        )

    async def aclose(self) -> None:
        return None


class _SetCookieOnlyCookies(httpx.Cookies):
    """httpx's cookie store, which reads a response only when it sets a cookie.

    httpx passes every response to `extract_cookies`, which builds urllib request and response
    shims (parsing the URL again) before the standard-library jar looks for `Set-Cookie` /
    `Set-Cookie2` and, finding neither, stores nothing. Checking those two headers first skips that
    work and stores exactly the same cookies.
    """

    def extract_cookies(self, response: httpx.Response) -> None:
        headers = response.headers
        if "set-cookie" in headers or "set-cookie2" in headers:
            super().extract_cookies(response)


class _TeacherHTTPClient(httpx.AsyncClient):
    """`httpx.AsyncClient` with `_SetCookieOnlyCookies` as its cookie store; otherwise unchanged.

    httpx keeps the client's store in `_cookies` (its `cookies` setter would wrap ours in a plain
    `Cookies`). Both stores share one jar, so were that attribute renamed in httpx, the client would
    keep using its own store: slower, not wrong (a test checks which store is in use).
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._cookies = _SetCookieOnlyCookies(self.cookies.jar)


class _RetryableFailure(Exception):
    """One attempt failed in a way a later attempt may not; `retry_after` is the server's wish."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class OpenAITeacher:
    """A teacher behind an OpenAI-compatible `/chat/completions` endpoint.

    One `httpx.AsyncClient` (pool of up to 512 connections) serves every call of the instance; call
    `aclose()` when done. `transport` replaces the network (tests pass `httpx.MockTransport`); left
    out, it is `default_transport()`. `sleep` is what waits between attempts; `api_key` is sent as a
    bearer token and never shown.
    """

    def __init__(
        self,
        config: TeacherConfig,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        api_key: str | None = None,
    ) -> None:
        if config.kind is not TeacherKind.OPENAI or config.base_url is None or config.model is None:
            raise ValueError(f"teacher {config.name!r} is not an openai teacher with base_url and model")
        self.name = config.name
        self._config = config
        self._model = config.model
        self._url = f"{config.base_url}/chat/completions"
        # Parsed once: httpx re-parses a str URL on every request; an httpx.URL it takes as it is.
        self._endpoint = httpx.URL(self._url)
        self._sleep = sleep
        self._api_key = SecretStr(api_key) if api_key else None
        self._random = random.Random()
        headers = {"content-type": "application/json", "accept": "application/json"}
        if self._api_key is not None:
            # httpx masks Authorization in the repr of headers; the key never reaches a log line.
            headers["authorization"] = f"Bearer {self._api_key.get_secret_value()}"
        self._client = _TeacherHTTPClient(
            headers=headers,
            timeout=httpx.Timeout(config.timeout_s),
            limits=_POOL_LIMITS,
            transport=transport if transport is not None else default_transport(),
            follow_redirects=False,
        )

    def __repr__(self) -> str:
        key = "set" if self._api_key is not None else "none"
        return f"OpenAITeacher(name={self.name!r}, url={self._url!r}, model={self._model!r}, api_key={key})"

    async def aclose(self) -> None:
        await self._client.aclose()

    async def complete(self, request: TeacherRequest) -> TeacherReply:
        """One completion, retried as the module docstring says. Raises TeacherUnavailable.

        At most `max_retries + 1` attempts. Only `_RetryableFailure` is retried, each time after
        `sleep(_wait(failure, attempt))`; the last one becomes `TeacherUnavailable`. Anything else an
        attempt raises (TeacherRequestRejected, cancellation) propagates at once. `attempts` in the
        reply or the exception counts the requests made, waits excluded.
        """
        body = dumps(
            {
                "model": self._model,
                "messages": request.messages,
                "seed": request.seed,
                "metadata": {
                    "behaviour": request.behaviour,
                    "scenario": request.scenario,
                    "lease_id": request.lease_id,
                },
                **self._config.params,
            }
        )
        started = time.perf_counter()
        max_attempts = self._config.max_retries + 1
        attempt = 1
        # A plain loop, not a retry library: this runs once per sample, and tenacity's per-call
        # machinery cost about 8% of a worker's CPU, more than this method's own work.
        while True:
            try:
                payload = await self._attempt(body, attempt)
            except _RetryableFailure as exc:
                if attempt >= max_attempts:
                    raise TeacherUnavailable(
                        f"teacher {self.name!r} unavailable after {attempt} attempt(s): {exc}",
                        attempts=attempt,
                    ) from exc
                await self._sleep(self._wait(exc, attempt))
                attempt += 1
                continue
            return _reply_from(payload, request, latency_s=time.perf_counter() - started, attempts=attempt)

    async def _attempt(self, body: bytes, attempt: int) -> dict[str, Any]:
        try:
            response = await self._client.post(self._endpoint, content=body)
        except (
            httpx.TimeoutException,
            httpx.NetworkError,
            httpx.RemoteProtocolError,
            httpx.DecodingError,
            # httpx-aiohttp passes some aiohttp errors through unmapped (a garbled status line is a
            # ClientResponseError): the same failures as RemoteProtocolError over httpx's transport.
            aiohttp.ClientError,
        ) as exc:
            raise _RetryableFailure(f"{type(exc).__name__}: {exc or 'no detail'}") from exc
        status = response.status_code
        if status in RETRYABLE_STATUS:
            retry_after = parse_retry_after(
                response.headers.get("retry-after"), max_wait_s=self._config.max_retry_wait_s
            )
            raise _RetryableFailure(f"HTTP {status}: {_excerpt(response)}", retry_after=retry_after)
        if not 200 <= status < 300:
            raise TeacherRequestRejected(status, _excerpt(response), teacher=self.name, attempts=attempt)
        try:
            payload = loads(response.content)
        except JSONDecodeError:
            raise _RetryableFailure(
                f"reply body is not complete JSON ({len(response.content)} bytes)"
            ) from None
        if not _has_message(payload):
            raise _RetryableFailure(f"reply has no choices[0].message: {_excerpt(response)}")
        return payload

    def _wait(self, failure: _RetryableFailure, attempt: int) -> float:
        """The wait after failed attempt number `attempt` (1-based): the server's Retry-After when it
        gave a usable one (already clamped), else equal-jitter backoff, uniform in [cap/2, cap] with
        cap = min(max_retry_wait_s, 0.5 s × 2^(attempt-1))."""
        if failure.retry_after is not None:
            return failure.retry_after
        cap = min(self._config.max_retry_wait_s, _BACKOFF_INITIAL_S * 2.0 ** (attempt - 1))
        return cap / 2 + self._random.uniform(0, cap / 2)


def build_teacher(
    config: TeacherConfig,
    *,
    behaviours: Mapping[str, Behaviour],
    scenarios: Mapping[str, Scenario],
    environ: Mapping[str, str] = os.environ,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Teacher:
    """The teacher a config describes. Reads an openai teacher's API key from `environ` now, so a
    missing key fails at start-up (TeacherConfigError, a ValueError) rather than on every call."""
    if config.kind is TeacherKind.SCRIPTED:
        return ScriptedTeacher(config.name, behaviours, scenarios, config.defect_share)
    key = resolve_api_key(config, environ)
    return OpenAITeacher(
        config, transport=transport, api_key=key.get_secret_value() if key is not None else None
    )


def _has_message(payload: Any) -> TypeGuard[dict[str, Any]]:
    if not isinstance(payload, dict):
        return False
    choices = payload.get("choices")
    return (
        isinstance(choices, list)
        and bool(choices)
        and isinstance(choices[0], dict)
        and isinstance(choices[0].get("message"), dict)
    )


def _reply_from(
    payload: dict[str, Any], request: TeacherRequest, *, latency_s: float, attempts: int
) -> TeacherReply:
    choice = payload["choices"][0]
    message = choice["message"]
    content = _content_text(message.get("content"))
    field_reasoning = message.get("reasoning_content")
    if not isinstance(field_reasoning, str):
        field_reasoning = message.get("reasoning")  # the name some servers (vLLM, OpenRouter) use
    think, text = split_think_block(content)
    parts = [part for part in (field_reasoning, think) if isinstance(part, str) and part.strip()]
    finish_reason = choice.get("finish_reason")
    usage = payload.get("usage")
    usage = usage if isinstance(usage, dict) else {}
    prompt_tokens = _count(usage.get("prompt_tokens"))
    completion_tokens = _count(usage.get("completion_tokens"))
    if prompt_tokens is None:
        prompt_tokens = _estimate_prompt_tokens(request.messages)
    if completion_tokens is None:
        completion_tokens = estimate_tokens(content) + sum(estimate_tokens(p) for p in parts)
    return TeacherReply(
        text=text,
        reasoning="\n\n".join(part.strip() for part in parts),
        finish_reason=finish_reason if isinstance(finish_reason, str) and finish_reason else "unknown",
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        latency_s=latency_s,
        attempts=attempts,
    )


def _content_text(content: Any) -> str:
    """Assistant content as text: a string, or the text parts of a content-part list."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            part["text"] for part in content if isinstance(part, dict) and isinstance(part.get("text"), str)
        )
    return ""


def _count(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None


def _estimate_prompt_tokens(messages: list[dict[str, Any]]) -> int:
    return sum(estimate_tokens(m["content"]) for m in messages if isinstance(m.get("content"), str))


def _excerpt(response: httpx.Response) -> str:
    text = " ".join(response.content[: _EXCERPT_CHARS * 4].decode("utf-8", "replace").split())
    if len(text) > _EXCERPT_CHARS:
        return text[:_EXCERPT_CHARS] + "…"
    return text or "(empty body)"
