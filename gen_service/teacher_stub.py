"""`tracegen teacher-stub`: the scripted teacher behind an OpenAI-compatible HTTP server.

For demos, tests and load runs. It answers `POST /v1/chat/completions` with the scripted teacher's
text for the request's `metadata.behaviour`, `metadata.scenario` and `seed` (a real teacher ignores
those; here they are required, and a request without them gets a 400). Knobs make it misbehave the
way real servers do:

- `latency_ms`: wait this long (asyncio.sleep) before every 200 answer;
- `error_rate`: answer this share of requests 429 with `Retry-After: <retry_after>` and an
  OpenAI-style error body, as a rate-limiting gateway does (before looking at the body);
- `truncate_rate`: send this share of 200 answers cut off mid-JSON (a valid HTTP response whose body
  is not complete JSON);
- `fail_first` / `fail_with`: fail the first N requests deterministically, with 429 (+ Retry-After),
  500/502/503/504 or a truncated body, so retry tests need no luck.

`GET /stats` returns the counts by outcome since start; `GET /v1/models` and `GET /healthz` do what
their names say. Random draws come from one `random.Random(rng_seed)`, so a run is reproducible for
a given order of requests.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import click
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gen_service.core.scripted import scripted_reply_text
from gen_service.core.tokens import estimate_tokens
from gen_service.serialization import JSONDecodeError, dumps, loads

if TYPE_CHECKING:
    from gen_service.core.behaviours import Behaviour
    from gen_service.core.scenarios import Scenario

__all__ = ["FAIL_WITH", "STUB_MODEL", "create_stub_app", "teacher_stub"]

STUB_MODEL = "tracegen-scripted"
FAIL_WITH = ("429", "500", "502", "503", "504", "truncate")

# Outcomes counted by /stats (each chat request lands in exactly one).
_OUTCOMES = ("completed", "throttled", "server_error", "truncated", "bad_request")


@dataclass(slots=True)
class _StubState:
    rng: random.Random
    counts: Counter[str] = field(default_factory=Counter)
    requests: int = 0


def create_stub_app(
    behaviours: Mapping[str, Behaviour],
    scenarios: Mapping[str, Scenario],
    *,
    latency_ms: float = 0.0,
    error_rate: float = 0.0,
    defect_share: float = 0.2,
    retry_after: float = 1.0,
    truncate_rate: float = 0.0,
    rng_seed: int = 0,
    fail_first: int = 0,
    fail_with: str = "429",
    model: str = STUB_MODEL,
) -> Starlette:
    """The stub as an ASGI app, for `uvicorn` or for a test to serve itself.

    Raises ValueError on out-of-range knobs (rates outside [0, 1], negative latency or Retry-After,
    negative fail_first, unknown fail_with).
    """
    _check_range("latency_ms", latency_ms, 0.0, math.inf)
    _check_range("error_rate", error_rate, 0.0, 1.0)
    _check_range("defect_share", defect_share, 0.0, 1.0)
    _check_range("retry_after", retry_after, 0.0, math.inf)
    _check_range("truncate_rate", truncate_rate, 0.0, 1.0)
    if fail_first < 0:
        raise ValueError(f"fail_first must be >= 0, got {fail_first}")
    if fail_with not in FAIL_WITH:
        raise ValueError(f"fail_with must be one of {', '.join(FAIL_WITH)}, got {fail_with!r}")

    state = _StubState(rng=random.Random(rng_seed))
    latency_s = latency_ms / 1000.0
    retry_after_header = f"{retry_after:g}"

    def throttled() -> Response:
        state.counts["throttled"] += 1
        return _error(
            429,
            "rate limit reached (teacher-stub)",
            "rate_limit_error",
            "rate_limit_exceeded",
            headers={"retry-after": retry_after_header},
        )

    def server_error(status: int) -> Response:
        state.counts["server_error"] += 1
        headers = {"retry-after": retry_after_header} if status == 503 else None
        return _error(status, f"server error {status} (teacher-stub)", "server_error", None, headers=headers)

    def bad_request(message: str, param: str | None = None) -> Response:
        state.counts["bad_request"] += 1
        return _error(400, message, "invalid_request_error", "invalid_request", param=param)

    async def chat_completions(request: Request) -> Response:
        state.requests += 1
        truncate = False
        # Like a gateway, the failure knobs act before the body is read.
        if state.requests <= fail_first:
            if fail_with == "429":
                return throttled()
            if fail_with == "truncate":
                truncate = True
            else:
                return server_error(int(fail_with))
        elif error_rate and state.rng.random() < error_rate:
            return throttled()
        elif truncate_rate and state.rng.random() < truncate_rate:
            truncate = True

        try:
            body = loads(await request.body())
        except JSONDecodeError:
            return bad_request("request body is not valid JSON")
        if not isinstance(body, dict):
            return bad_request("request body must be a JSON object")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return bad_request("'messages' must be a non-empty list", "messages")
        metadata = body.get("metadata")
        behaviour_name = metadata.get("behaviour") if isinstance(metadata, dict) else None
        scenario_id = metadata.get("scenario") if isinstance(metadata, dict) else None
        seed = body.get("seed")
        if not isinstance(behaviour_name, str) or not isinstance(scenario_id, str):
            return bad_request(
                "teacher-stub needs metadata.behaviour and metadata.scenario (strings): it serves the"
                " scripted teacher, which answers only for a given behaviour, scenario and seed",
                "metadata",
            )
        if not isinstance(seed, int) or isinstance(seed, bool):
            return bad_request("teacher-stub needs an integer 'seed'", "seed")
        behaviour = behaviours.get(behaviour_name)
        if behaviour is None:
            return bad_request(f"unknown behaviour {behaviour_name!r}", "metadata.behaviour")
        scenario = scenarios.get(scenario_id)
        if scenario is None:
            return bad_request(f"unknown scenario {scenario_id!r}", "metadata.scenario")

        content = scripted_reply_text(behaviour, scenario, seed, defect_share=defect_share)
        prompt_tokens = sum(
            estimate_tokens(m["content"])
            for m in messages
            if isinstance(m, dict) and isinstance(m.get("content"), str)
        )
        completion_tokens = estimate_tokens(content)
        payload = dumps(
            {
                "id": f"chatcmpl-stub-{state.requests}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model") if isinstance(body.get("model"), str) else model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                    "total_tokens": prompt_tokens + completion_tokens,
                },
            }
        )
        if latency_s:
            await asyncio.sleep(latency_s)
        if truncate:
            state.counts["truncated"] += 1
            return Response(payload[: len(payload) // 2], media_type="application/json")
        state.counts["completed"] += 1
        return Response(payload, media_type="application/json")

    async def models(request: Request) -> Response:
        return _json({"object": "list", "data": [{"id": model, "object": "model", "owned_by": "tracegen"}]})

    async def healthz(request: Request) -> Response:
        return _json({"status": "ok"})

    async def stats(request: Request) -> Response:
        return _json({"requests": state.requests, **{name: state.counts[name] for name in _OUTCOMES}})

    return Starlette(
        routes=[
            Route("/v1/chat/completions", chat_completions, methods=["POST"]),
            Route("/v1/models", models, methods=["GET"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/stats", stats, methods=["GET"]),
        ]
    )


def _json(value: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(dumps(value), status_code=status, media_type="application/json", headers=headers)


def _error(
    status: int,
    message: str,
    kind: str,
    code: str | None,
    *,
    param: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    body = {"error": {"message": message, "type": kind, "param": param, "code": code}}
    return _json(body, status, headers)


def _check_range(name: str, value: float, low: float, high: float) -> None:
    if not (math.isfinite(value) and low <= value <= high):
        bounds = f"[{low:g}, {high:g}]" if math.isfinite(high) else f">= {low:g}"
        raise ValueError(f"{name} must be {bounds}, got {value}")


def _finite(ctx: click.Context, param: click.Parameter, value: float) -> float:
    if not math.isfinite(value):
        raise click.BadParameter(f"{value} is not a finite number")
    return value


@click.command("teacher-stub")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=8001, show_default=True)
@click.option(
    "--latency-ms",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    callback=_finite,
    help="Wait this long before every successful answer.",
)
@click.option(
    "--error-rate",
    type=click.FloatRange(0, 1),
    default=0.0,
    show_default=True,
    callback=_finite,
    help="Share of requests answered 429 with Retry-After.",
)
@click.option(
    "--defect-share",
    type=click.FloatRange(0, 1),
    default=0.2,
    show_default=True,
    callback=_finite,
    help="Share of scripted traces with a realistic defect.",
)
@click.option(
    "--retry-after",
    type=click.FloatRange(min=0),
    default=1.0,
    show_default=True,
    callback=_finite,
    help="Seconds sent in Retry-After on 429 (and 503).",
)
@click.option(
    "--truncate-rate",
    type=click.FloatRange(0, 1),
    default=0.0,
    show_default=True,
    callback=_finite,
    help="Share of answers cut off mid-JSON.",
)
@click.option(
    "--fail-first",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Fail the first N requests (see --fail-with).",
)
@click.option(
    "--fail-with",
    type=click.Choice(FAIL_WITH),
    default="429",
    show_default=True,
    help="How --fail-first fails: an HTTP status or a truncated body.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the stub's random draws.")
@click.option("--access-log/--no-access-log", default=False, show_default=True)
def teacher_stub(
    host: str,
    port: int,
    latency_ms: float,
    error_rate: float,
    defect_share: float,
    retry_after: float,
    truncate_rate: float,
    fail_first: int,
    fail_with: str,
    seed: int,
    access_log: bool,
) -> None:
    """Serve the scripted teacher as an OpenAI-compatible server (POST /v1/chat/completions)."""
    import uvicorn

    from gen_service.catalog import load_behaviours
    from gen_service.scenario_bank import load_scenarios

    behaviours = load_behaviours()
    scenarios = load_scenarios()
    app = create_stub_app(
        behaviours,
        scenarios,
        latency_ms=latency_ms,
        error_rate=error_rate,
        defect_share=defect_share,
        retry_after=retry_after,
        truncate_rate=truncate_rate,
        rng_seed=seed,
        fail_first=fail_first,
        fail_with=fail_with,
    )
    click.echo(
        f"teacher-stub: {len(behaviours)} behaviours, {len(scenarios)} scenarios;"
        f" base_url http://{host}:{port}/v1, model {STUB_MODEL}",
        err=True,
    )
    uvicorn.run(app, host=host, port=port, log_level="info", access_log=access_log)
