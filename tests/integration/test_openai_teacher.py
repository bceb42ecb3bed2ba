"""OpenAITeacher over real HTTP against `teacher-stub`, and over httpx.MockTransport for replies the
stub never sends (reasoning fields, odd Retry-After headers, timeouts).

Waiting is switched off: every teacher gets a `RecordingSleep`, and tests assert on the waits it
was asked for, never on elapsed time.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractContextManager
from typing import Any

import httpx
import pytest

from gen_service.core.trace import parse_teacher_reply
from gen_service.serialization import dumps, loads
from gen_service.teacher_stub import create_stub_app
from gen_service.teachers import TeacherConfig
from gen_service.worker.teachers import (
    OpenAITeacher,
    TeacherRequest,
    TeacherRequestRejected,
    TeacherUnavailable,
    _SetCookieOnlyCookies,
    default_transport,
)
from tests.conftest_stub import (
    Catalog,
    RecordingSleep,
    closed_port_url,
    load_catalog,
    serve_app,
    teacher_request,
)

StubFactory = Callable[..., AbstractContextManager[str]]


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


@pytest.fixture
def stub(catalog: Catalog) -> Callable[..., AbstractContextManager[str]]:
    """`with stub(**knobs) as base_url:` serves a fresh stub app over real HTTP."""

    def start(**knobs: Any) -> AbstractContextManager[str]:
        knobs.setdefault("defect_share", 0.0)  # no malformed_output defects: replies must parse here
        return serve_app(create_stub_app(catalog.behaviours, catalog.scenarios, **knobs))

    return start


@pytest.fixture
def request_(catalog: Catalog) -> TeacherRequest:
    behaviour, scenario = catalog.pairs(1)[0]
    request: TeacherRequest = teacher_request(behaviour, scenario, seed=7)
    return request


def config(base_url: str, **overrides: Any) -> TeacherConfig:
    fields: dict[str, Any] = {
        "name": "stub",
        "kind": "openai",
        "base_url": f"{base_url}/v1",
        "model": "tracegen-scripted",
        "timeout_s": 10,
        "max_retries": 3,
        "max_retry_wait_s": 60,
    }
    fields.update(overrides)
    return TeacherConfig.model_validate(fields)


def stats(base_url: str) -> dict[str, int]:
    value: dict[str, int] = httpx.get(f"{base_url}/stats").json()
    return value


TransportFactory = Callable[[], httpx.AsyncBaseTransport]


@pytest.fixture(params=["httpx", "aiohttp"])
def new_transport(request: pytest.FixtureRequest) -> TransportFactory:
    """Each real-HTTP test runs over httpx's own transport and over httpx-aiohttp's (the default
    when installed), since retries depend on how each maps its failures onto httpx exceptions."""
    limits = httpx.Limits(max_connections=64)
    if request.param == "httpx":
        return lambda: httpx.AsyncHTTPTransport(limits=limits)
    module = importlib.import_module("httpx_aiohttp")  # a runtime dependency
    return lambda: module.AiohttpTransport(limits=limits)


# --- against the stub, over real HTTP ---------------------------------------------------------------


async def test_completion_parses_into_messages(
    new_transport: TransportFactory, stub: StubFactory, request_: TeacherRequest
) -> None:
    with stub() as base_url:
        sleep = RecordingSleep()
        teacher = OpenAITeacher(config(base_url), transport=new_transport(), sleep=sleep)
        try:
            reply = await teacher.complete(request_)
        finally:
            await teacher.aclose()
        assert stats(base_url)["completed"] == 1
    messages = parse_teacher_reply(reply.text)
    assert messages
    assert all(m.get("role") in {"assistant", "tool"} for m in messages)
    assert reply.finish_reason == "stop"
    assert reply.attempts == 1
    assert reply.prompt_tokens > 0
    assert reply.completion_tokens > 0
    assert sleep.waits == []


async def test_many_concurrent_completions_share_one_client(
    new_transport: TransportFactory, stub: StubFactory, catalog: Catalog
) -> None:
    requests = [teacher_request(b, s, seed=i, lease_id=f"l{i}") for i, (b, s) in enumerate(catalog.pairs(64))]
    with stub() as base_url:
        teacher = OpenAITeacher(config(base_url), transport=new_transport(), sleep=RecordingSleep())
        try:
            replies = await asyncio.gather(*(teacher.complete(r) for r in requests))
        finally:
            await teacher.aclose()
        assert stats(base_url)["completed"] == len(requests)
    assert all(parse_teacher_reply(reply.text) for reply in replies)


async def test_429_with_retry_after_is_retried_then_succeeds(
    new_transport: TransportFactory, stub: StubFactory, request_: TeacherRequest
) -> None:
    with stub(fail_first=2, fail_with="429", retry_after=3) as base_url:
        sleep = RecordingSleep()
        teacher = OpenAITeacher(config(base_url), transport=new_transport(), sleep=sleep)
        try:
            reply = await teacher.complete(request_)
        finally:
            await teacher.aclose()
        counts = stats(base_url)
    assert sleep.waits == [3.0, 3.0]
    assert reply.attempts == 3
    assert counts["throttled"] == 2
    assert counts["completed"] == 1
    assert parse_teacher_reply(reply.text)


async def test_retry_after_is_clamped_to_max_retry_wait(
    new_transport: TransportFactory, stub: StubFactory, request_: TeacherRequest
) -> None:
    with stub(fail_first=1, retry_after=120) as base_url:
        sleep = RecordingSleep()
        teacher = OpenAITeacher(config(base_url, max_retry_wait_s=5), transport=new_transport(), sleep=sleep)
        try:
            reply = await teacher.complete(request_)
        finally:
            await teacher.aclose()
    assert sleep.waits == [5.0]
    assert reply.attempts == 2


async def test_error_rate_429s_are_retried(
    new_transport: TransportFactory, stub: StubFactory, catalog: Catalog
) -> None:
    requests = [teacher_request(b, s, seed=i) for i, (b, s) in enumerate(catalog.pairs(20))]
    with stub(error_rate=0.3, retry_after=1, rng_seed=1) as base_url:
        sleep = RecordingSleep()
        teacher = OpenAITeacher(config(base_url, max_retries=20), transport=new_transport(), sleep=sleep)
        try:
            replies = [await teacher.complete(r) for r in requests]
        finally:
            await teacher.aclose()
        counts = stats(base_url)
    assert counts["completed"] == 20
    assert counts["throttled"] == len(sleep.waits) == sum(r.attempts - 1 for r in replies)
    assert counts["throttled"] > 0  # with seed 1 and 30 %, some requests are throttled
    assert set(sleep.waits) == {1.0}


async def test_truncated_reply_is_retried(
    new_transport: TransportFactory, stub: StubFactory, request_: TeacherRequest
) -> None:
    with stub(fail_first=1, fail_with="truncate") as base_url:
        sleep = RecordingSleep()
        teacher = OpenAITeacher(config(base_url, max_retry_wait_s=8), transport=new_transport(), sleep=sleep)
        try:
            reply = await teacher.complete(request_)
        finally:
            await teacher.aclose()
        counts = stats(base_url)
    assert counts["truncated"] == 1
    assert counts["completed"] == 1
    assert reply.attempts == 2
    assert len(sleep.waits) == 1
    assert 0 < sleep.waits[0] <= 8
    assert parse_teacher_reply(reply.text)


async def test_persistent_429_ends_in_teacher_unavailable(
    new_transport: TransportFactory, stub: StubFactory, request_: TeacherRequest
) -> None:
    with stub(error_rate=1.0, retry_after=2) as base_url:
        sleep = RecordingSleep()
        teacher = OpenAITeacher(config(base_url, max_retries=3), transport=new_transport(), sleep=sleep)
        try:
            with pytest.raises(TeacherUnavailable, match="after 4 attempt") as info:
                await teacher.complete(request_)
        finally:
            await teacher.aclose()
        counts = stats(base_url)
    assert not isinstance(info.value, TeacherRequestRejected)
    assert info.value.attempts == 4
    assert counts["throttled"] == 4
    assert counts["completed"] == 0
    assert sleep.waits == [2.0, 2.0, 2.0]


@pytest.mark.parametrize("status", ["500", "502", "503", "504"])
async def test_persistent_5xx_ends_in_teacher_unavailable(
    new_transport: TransportFactory, stub: StubFactory, request_: TeacherRequest, status: str
) -> None:
    with stub(fail_first=100, fail_with=status, retry_after=4) as base_url:
        sleep = RecordingSleep()
        teacher = OpenAITeacher(
            config(base_url, max_retries=4, max_retry_wait_s=3), transport=new_transport(), sleep=sleep
        )
        try:
            with pytest.raises(TeacherUnavailable, match=f"HTTP {status}") as info:
                await teacher.complete(request_)
        finally:
            await teacher.aclose()
        counts = stats(base_url)
    assert info.value.attempts == 5
    assert counts["server_error"] == 5
    assert len(sleep.waits) == 4
    if status == "503":  # the stub sends Retry-After with 503: honoured, clamped
        assert sleep.waits == [3.0] * 4
    else:  # capped exponential backoff with jitter: each wait in [cap/2, cap]
        caps = [min(3.0, 0.5 * 2**n) for n in range(4)]
        assert all(cap / 2 <= wait <= cap for wait, cap in zip(sleep.waits, caps, strict=True))


async def test_5xx_then_success(
    new_transport: TransportFactory, stub: StubFactory, request_: TeacherRequest
) -> None:
    with stub(fail_first=2, fail_with="502") as base_url:
        teacher = OpenAITeacher(config(base_url), transport=new_transport(), sleep=RecordingSleep())
        try:
            reply = await teacher.complete(request_)
        finally:
            await teacher.aclose()
    assert reply.attempts == 3


async def test_400_is_not_retried(
    new_transport: TransportFactory, stub: StubFactory, request_: TeacherRequest
) -> None:
    bad = TeacherRequest(
        messages=request_.messages,
        behaviour="no_such_behaviour",
        scenario=request_.scenario,
        seed=1,
        lease_id="x",
    )
    with stub() as base_url:
        sleep = RecordingSleep()
        teacher = OpenAITeacher(config(base_url), transport=new_transport(), sleep=sleep)
        try:
            with pytest.raises(TeacherRequestRejected) as info:
                await teacher.complete(bad)
        finally:
            await teacher.aclose()
        counts = stats(base_url)
    assert info.value.status == 400
    assert "no_such_behaviour" in info.value.excerpt
    assert info.value.attempts == 1
    assert counts["bad_request"] == 1
    assert counts["requests"] == 1
    assert sleep.waits == []


async def test_connection_refused_is_retried_then_unavailable(
    new_transport: TransportFactory, request_: TeacherRequest
) -> None:
    sleep = RecordingSleep()
    teacher = OpenAITeacher(config(closed_port_url(), max_retries=2), transport=new_transport(), sleep=sleep)
    try:
        with pytest.raises(TeacherUnavailable, match="Connect") as info:  # aiohttp maps it to ConnectTimeout
            await teacher.complete(request_)
    finally:
        await teacher.aclose()
    assert info.value.attempts == 3
    assert len(sleep.waits) == 2


async def test_api_key_is_sent_as_bearer_and_never_shown(
    new_transport: TransportFactory, stub: StubFactory, request_: TeacherRequest
) -> None:
    secret = "sk-test-secret-value-123"
    seen: list[httpx.Request] = []

    async def record(request: httpx.Request) -> None:
        seen.append(request)

    with stub() as base_url:
        teacher = OpenAITeacher(
            config(base_url), transport=new_transport(), sleep=RecordingSleep(), api_key=secret
        )
        teacher._client.event_hooks["request"].append(record)  # observe what goes on the wire
        try:
            await teacher.complete(request_)
        finally:
            await teacher.aclose()
    assert seen[0].headers["authorization"] == f"Bearer {secret}"
    assert secret not in repr(teacher)
    assert secret not in str(teacher)
    assert secret not in repr(seen[0].headers)


# --- replies the stub never sends: httpx.MockTransport ----------------------------------------------

Handler = Callable[[httpx.Request], httpx.Response]


def completion(message: dict[str, Any], *, finish_reason: str | None = "stop", usage: bool = True) -> bytes:
    payload: dict[str, Any] = {
        "id": "x",
        "object": "chat.completion",
        "choices": [
            {"index": 0, "message": {"role": "assistant", **message}, "finish_reason": finish_reason}
        ],
    }
    if usage:
        payload["usage"] = {"prompt_tokens": 11, "completion_tokens": 22, "total_tokens": 33}
    return dumps(payload)


@pytest.fixture
async def mock_teacher() -> AsyncIterator[Callable[..., tuple[OpenAITeacher, RecordingSleep]]]:
    """`make(handler, **config_overrides)` builds a teacher over httpx.MockTransport; closed at teardown."""
    made: list[OpenAITeacher] = []

    def make(handler: Handler, **overrides: Any) -> tuple[OpenAITeacher, RecordingSleep]:
        sleep = RecordingSleep()
        teacher = OpenAITeacher(
            config("http://teacher.test", **overrides), transport=httpx.MockTransport(handler), sleep=sleep
        )
        made.append(teacher)
        return teacher, sleep

    yield make
    for teacher in made:
        await teacher.aclose()


def simple_request() -> TeacherRequest:
    return TeacherRequest(
        messages=[{"role": "system", "content": "s"}, {"role": "user", "content": "u"}],
        behaviour="survey_before_edit",
        scenario="calc",
        seed=42,
        lease_id="lease-9",
    )


ANSWER = '{"messages": [{"role": "assistant", "reasoning_content": "r", "content": "Done."}]}'


async def test_request_body_carries_model_seed_metadata_and_params(mock_teacher: Any) -> None:
    bodies: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(loads(request.content))
        assert request.url == "http://teacher.test/v1/chat/completions"
        assert "authorization" not in request.headers
        return httpx.Response(200, content=completion({"content": ANSWER}))

    teacher, _ = mock_teacher(handler, params={"temperature": 0.3, "max_tokens": 100})
    reply = await teacher.complete(simple_request())
    assert bodies == [
        {
            "model": "tracegen-scripted",
            "messages": simple_request().messages,
            "seed": 42,
            "metadata": {"behaviour": "survey_before_edit", "scenario": "calc", "lease_id": "lease-9"},
            "temperature": 0.3,
            "max_tokens": 100,
        }
    ]
    assert (reply.prompt_tokens, reply.completion_tokens) == (11, 22)


async def test_think_block_is_split_into_reasoning(mock_teacher: Any) -> None:
    content = (
        "<think>\nThe user wants a trace. I will survey first.\n</think>\n\n```json\n" + ANSWER + "\n```"
    )

    teacher, _ = mock_teacher(lambda r: httpx.Response(200, content=completion({"content": content})))
    reply = await teacher.complete(simple_request())
    assert reply.reasoning == "The user wants a trace. I will survey first."
    assert "<think>" not in reply.text
    assert reply.text.startswith("```json")
    assert parse_teacher_reply(reply.text)[0]["content"] == "Done."


async def test_reasoning_content_field_is_honoured(mock_teacher: Any) -> None:
    message = {"content": ANSWER, "reasoning_content": "  Plan: answer with one message.  "}
    teacher, _ = mock_teacher(lambda r: httpx.Response(200, content=completion(message)))
    reply = await teacher.complete(simple_request())
    assert reply.reasoning == "Plan: answer with one message."
    assert reply.text == ANSWER


async def test_reasoning_field_alias_and_think_block_are_both_kept(mock_teacher: Any) -> None:
    message = {"content": "<think>second</think>" + ANSWER, "reasoning": "first"}
    teacher, _ = mock_teacher(lambda r: httpx.Response(200, content=completion(message)))
    reply = await teacher.complete(simple_request())
    assert reply.reasoning == "first\n\nsecond"
    assert reply.text == ANSWER


async def test_missing_usage_is_estimated_and_finish_reason_kept(mock_teacher: Any) -> None:
    body = completion({"content": ANSWER}, finish_reason="length", usage=False)
    teacher, _ = mock_teacher(lambda r: httpx.Response(200, content=body))
    reply = await teacher.complete(simple_request())
    assert reply.finish_reason == "length"
    assert reply.completion_tokens == -(-len(ANSWER) // 4)
    assert reply.prompt_tokens == 2


async def test_null_content_is_returned_for_the_gates_to_judge(mock_teacher: Any) -> None:
    body = completion({"content": None}, finish_reason=None)
    teacher, _ = mock_teacher(lambda r: httpx.Response(200, content=body))
    reply = await teacher.complete(simple_request())
    assert (reply.text, reply.reasoning, reply.finish_reason, reply.attempts) == ("", "", "unknown", 1)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("2", 2.0),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),  # a date in the past: retry now
        ("-5", None),
        ("999999999", None),
        ("later", None),
    ],
)
async def test_retry_after_header_forms(mock_teacher: Any, header: str, expected: float | None) -> None:
    answers = iter(
        [
            httpx.Response(429, headers={"retry-after": header}, json={"error": {"message": "slow down"}}),
            httpx.Response(200, content=completion({"content": ANSWER})),
        ]
    )
    teacher, sleep = mock_teacher(lambda r: next(answers), max_retry_wait_s=30)
    reply = await teacher.complete(simple_request())
    assert reply.attempts == 2
    assert len(sleep.waits) == 1
    if expected is None:  # garbage: the first backoff step, cap 0.5 s with jitter
        assert 0.25 <= sleep.waits[0] <= 0.5
    else:
        assert sleep.waits == [expected]


@pytest.mark.parametrize(
    "exception",
    [
        httpx.ReadTimeout("read timed out"),
        httpx.ConnectTimeout("connect timed out"),
        httpx.ReadError("reset"),
    ],
)
async def test_timeouts_and_transport_errors_are_retried(mock_teacher: Any, exception: Exception) -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise exception
        return httpx.Response(200, content=completion({"content": ANSWER}))

    teacher, sleep = mock_teacher(handler)
    reply = await teacher.complete(simple_request())
    assert reply.attempts == 2
    assert len(sleep.waits) == 1


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b'{"choices": [{"message": {"content": "x"',
        b'{"error": {"message": "boom"}}',
        b'{"choices": []}',
        b"[]",
    ],
)
async def test_incomplete_bodies_are_retried(mock_teacher: Any, body: bytes) -> None:
    answers = iter(
        [httpx.Response(200, content=body), httpx.Response(200, content=completion({"content": ANSWER}))]
    )
    teacher, _ = mock_teacher(lambda r: next(answers))
    reply = await teacher.complete(simple_request())
    assert reply.attempts == 2


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413, 422, 501])
async def test_other_statuses_are_rejected_at_once(mock_teacher: Any, status: int) -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(status, json={"error": {"message": "nope " * 200}})

    teacher, sleep = mock_teacher(handler)
    with pytest.raises(TeacherRequestRejected, match=f"HTTP {status}") as info:
        await teacher.complete(simple_request())
    assert calls == 1
    assert sleep.waits == []
    assert info.value.status == status
    assert len(info.value.excerpt) <= 301  # a short excerpt, not the whole body


async def test_max_retries_zero_means_one_attempt(mock_teacher: Any) -> None:
    teacher, sleep = mock_teacher(lambda r: httpx.Response(503), max_retries=0)
    with pytest.raises(TeacherUnavailable) as info:
        await teacher.complete(simple_request())
    assert info.value.attempts == 1
    assert sleep.waits == []


async def test_default_transport_is_aiohttp_when_installed(
    stub: StubFactory, request_: TeacherRequest
) -> None:
    module = importlib.import_module("httpx_aiohttp")  # a runtime dependency
    assert isinstance(default_transport(), module.AiohttpTransport)
    with stub() as base_url:
        teacher = OpenAITeacher(config(base_url), sleep=RecordingSleep())  # no transport: the default
        try:
            reply = await teacher.complete(request_)
        finally:
            await teacher.aclose()
    assert parse_teacher_reply(reply.text)


# --- the retry loop, exactly: which waits, how many attempts, what ends it -------------------------


class EdgeJitter:
    """Replaces the teacher's RNG: `uniform(a, b)` returns `b` (or `a`), so each jittered wait is
    exactly the top (or bottom) of its range and the backoff arithmetic can be asserted exactly."""

    def __init__(self, *, top: bool) -> None:
        self.top = top
        self.calls: list[tuple[float, float]] = []

    def uniform(self, a: float, b: float) -> float:
        self.calls.append((a, b))
        return b if self.top else a


@pytest.mark.parametrize("top", [True, False])
async def test_backoff_doubles_from_half_a_second_is_capped_and_jittered_over_its_upper_half(
    mock_teacher: Any, top: bool
) -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(503)  # no Retry-After: the backoff decides

    teacher, sleep = mock_teacher(handler, max_retries=6, max_retry_wait_s=3)
    teacher._random = EdgeJitter(top=top)
    with pytest.raises(TeacherUnavailable, match=r"after 7 attempt\(s\): HTTP 503") as info:
        await teacher.complete(simple_request())
    caps = [0.5, 1.0, 2.0, 3.0, 3.0, 3.0]  # 0.5 s × 2^(n-1), capped at max_retry_wait_s
    assert sleep.waits == (caps if top else [cap / 2 for cap in caps])
    assert teacher._random.calls[: len(caps)] == [(0, cap / 2) for cap in caps]
    assert (calls, info.value.attempts) == (7, 7)
    assert not isinstance(info.value, TeacherRequestRejected)


async def test_retry_after_wins_when_usable_and_the_backoff_counts_every_attempt(mock_teacher: Any) -> None:
    answers = iter(
        [
            httpx.Response(429, headers={"retry-after": "2"}),
            httpx.Response(500),  # attempt 2 failed: cap 1.0
            httpx.Response(429, headers={"retry-after": "soon"}),  # unusable: attempt 3, cap 2.0
            httpx.Response(503, headers={"retry-after": "99"}),  # clamped to max_retry_wait_s
            httpx.Response(200, content=completion({"content": ANSWER})),
        ]
    )
    teacher, sleep = mock_teacher(lambda r: next(answers), max_retries=4, max_retry_wait_s=7)
    teacher._random = EdgeJitter(top=True)
    reply = await teacher.complete(simple_request())
    assert sleep.waits == [2.0, 1.0, 2.0, 7.0]
    assert reply.attempts == 5
    assert reply.text == ANSWER


async def test_a_rejection_after_retries_stops_at_once_and_counts_its_attempt(mock_teacher: Any) -> None:
    answers = iter(
        [httpx.Response(502), httpx.Response(429, headers={"retry-after": "1"}), httpx.Response(404)]
    )
    teacher, sleep = mock_teacher(lambda r: next(answers), max_retries=5)
    with pytest.raises(TeacherRequestRejected, match="HTTP 404") as info:
        await teacher.complete(simple_request())
    assert info.value.attempts == 3
    assert len(sleep.waits) == 2
    assert sleep.waits[1] == 1.0


async def test_exhausted_retries_chain_the_last_failure(mock_teacher: Any) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    teacher, sleep = mock_teacher(handler, max_retries=2)
    with pytest.raises(TeacherUnavailable, match=r"after 3 attempt\(s\): ConnectError: refused") as info:
        await teacher.complete(simple_request())
    assert info.value.attempts == 3
    assert len(sleep.waits) == 2
    assert isinstance(info.value.__cause__, Exception)
    assert isinstance(info.value.__cause__.__cause__, httpx.ConnectError)


async def test_errors_that_are_not_teacher_failures_propagate_unretried(mock_teacher: Any) -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        raise RuntimeError("a bug, not an outage")

    teacher, sleep = mock_teacher(handler)
    with pytest.raises(RuntimeError, match="a bug"):
        await teacher.complete(simple_request())
    assert calls == 1
    assert sleep.waits == []


async def test_cancellation_while_waiting_to_retry_stops_the_call(mock_teacher: Any) -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(503)

    async def cancelled(seconds: float) -> None:
        raise asyncio.CancelledError

    teacher, _ = mock_teacher(handler)
    teacher._sleep = cancelled
    with pytest.raises(asyncio.CancelledError):
        await teacher.complete(simple_request())
    assert calls == 1


async def test_cookies_a_teacher_sets_are_sent_back_and_kept(mock_teacher: Any) -> None:
    sent: list[str | None] = []
    answers = iter(
        [
            httpx.Response(
                200, headers={"set-cookie": "route=b7; Path=/"}, content=completion({"content": ANSWER})
            ),
            httpx.Response(200, content=completion({"content": ANSWER})),  # sets nothing: keeps route
            httpx.Response(200, content=completion({"content": ANSWER})),
        ]
    )

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request.headers.get("cookie"))
        return next(answers)

    teacher, _ = mock_teacher(handler)
    for _ in range(3):
        await teacher.complete(simple_request())
    assert sent == [None, "route=b7", "route=b7"]
    assert isinstance(teacher._client.cookies, _SetCookieOnlyCookies)  # the cheap store is in use


@pytest.mark.parametrize(
    "garbage",
    [b"NOT-HTTP garbage\r\n\r\n", b'HTTP/1.1 200 OK\r\ncontent-length: 900\r\n\r\n{"cho', b""],
    ids=["garbled-status-line", "closed-mid-body", "closed-silently"],
)
async def test_garbled_replies_on_the_wire_are_retried_then_unavailable(
    new_transport: TransportFactory, request_: TeacherRequest, garbage: bytes
) -> None:
    """Whatever the transport raises for a broken answer, the teacher retries it and ends in
    TeacherUnavailable: it never escapes as a transport library's own exception."""
    seen = 0

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal seen
        await reader.readuntil(b"\r\n\r\n")
        seen += 1
        writer.write(garbage)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    base_url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    sleep = RecordingSleep()
    teacher = OpenAITeacher(config(base_url, max_retries=2), transport=new_transport(), sleep=sleep)
    try:
        with pytest.raises(TeacherUnavailable) as info:
            await teacher.complete(request_)
    finally:
        await teacher.aclose()
        server.close()
        await server.wait_closed()
    assert info.value.attempts == 3 == seen
    assert len(sleep.waits) == 2
