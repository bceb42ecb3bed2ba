"""`tracegen teacher-stub` over real HTTP: the OpenAI surface, the failure knobs, parity with the
in-process scripted teacher, and flag validation."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from click.testing import CliRunner

from gen_service.core.scripted import scripted_reply_text
from gen_service.serialization import JSONDecodeError, loads
from gen_service.teacher_stub import STUB_MODEL, create_stub_app, teacher_stub
from gen_service.teachers import TeacherConfig
from gen_service.worker.teachers import OpenAITeacher, ScriptedTeacher
from tests.conftest_stub import Catalog, RecordingSleep, load_catalog, serve_app, teacher_request


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


@pytest.fixture(scope="module")
def base_url(catalog: Catalog) -> Iterator[str]:
    """One well-behaved stub for the module (defect_share 0.2, no failures)."""
    with serve_app(create_stub_app(catalog.behaviours, catalog.scenarios, defect_share=0.2)) as url:
        yield url


def body(behaviour: str, scenario: str, seed: int) -> dict[str, object]:
    return {
        "model": STUB_MODEL,
        "messages": [{"role": "user", "content": "go"}],
        "seed": seed,
        "metadata": {"behaviour": behaviour, "scenario": scenario, "lease_id": "l"},
    }


def test_health_models_and_stats(base_url: str) -> None:
    assert httpx.get(f"{base_url}/healthz").json() == {"status": "ok"}
    models = httpx.get(f"{base_url}/v1/models").json()
    assert models["object"] == "list"
    assert [m["id"] for m in models["data"]] == [STUB_MODEL]
    stats = httpx.get(f"{base_url}/stats").json()
    assert set(stats) >= {"requests", "completed", "throttled", "server_error", "truncated", "bad_request"}


def test_answers_with_the_scripted_text_for_behaviour_scenario_seed(base_url: str, catalog: Catalog) -> None:
    for seed, (behaviour, scenario) in enumerate(catalog.pairs(12)):
        response = httpx.post(f"{base_url}/v1/chat/completions", json=body(behaviour, scenario, seed))
        assert response.status_code == 200
        payload = response.json()
        assert payload["object"] == "chat.completion"
        choice = payload["choices"][0]
        assert choice["finish_reason"] == "stop"
        expected = scripted_reply_text(
            catalog.behaviours[behaviour], catalog.scenarios[scenario], seed, defect_share=0.2
        )
        assert choice["message"] == {"role": "assistant", "content": expected}
        usage = payload["usage"]
        assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
        assert usage["completion_tokens"] > 0


async def test_scripted_teacher_matches_the_stub(base_url: str, catalog: Catalog) -> None:
    scripted = ScriptedTeacher("scripted", catalog.behaviours, catalog.scenarios, defect_share=0.2)
    remote = OpenAITeacher(
        TeacherConfig(name="stub", kind="openai", base_url=f"{base_url}/v1", model=STUB_MODEL),
        sleep=RecordingSleep(),
    )
    try:
        for seed, (behaviour, scenario) in enumerate(catalog.pairs(30)):
            request = teacher_request(behaviour, scenario, seed=1000 + seed)
            local = await scripted.complete(request)
            over_http = await remote.complete(request)
            assert local.text == over_http.text, (behaviour, scenario, seed)
            assert local.reasoning == over_http.reasoning
            assert (local.prompt_tokens, local.completion_tokens) == (
                over_http.prompt_tokens,
                over_http.completion_tokens,
            )
    finally:
        await remote.aclose()
        await scripted.aclose()


async def test_scripted_teacher_is_deterministic_and_rejects_unknown_names(catalog: Catalog) -> None:
    from gen_service.worker.teachers import TeacherRequestRejected

    teacher = ScriptedTeacher("scripted", catalog.behaviours, catalog.scenarios, defect_share=0.2)
    behaviour, scenario = catalog.pairs(1)[0]
    first = await teacher.complete(teacher_request(behaviour, scenario, seed=5))
    again = await teacher.complete(teacher_request(behaviour, scenario, seed=5))
    assert first.text == again.text
    assert first.attempts == 1
    assert first.finish_reason == "stop"
    with pytest.raises(TeacherRequestRejected, match="unknown behaviour"):
        await teacher.complete(teacher_request("nope", scenario, seed=5))
    with pytest.raises(TeacherRequestRejected, match="unknown scenario"):
        await teacher.complete(teacher_request(behaviour, "nope", seed=5))


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (lambda b: b.pop("metadata"), "metadata.behaviour"),
        (lambda b: b["metadata"].pop("scenario"), "metadata.scenario"),
        (lambda b: b.pop("seed"), "seed"),
        (lambda b: b.update(seed="7"), "seed"),
        (lambda b: b.update(messages=[]), "messages"),
        (lambda b: b["metadata"].update(behaviour="nope"), "unknown behaviour"),
        (lambda b: b["metadata"].update(scenario="nope"), "unknown scenario"),
    ],
)
def test_requests_without_what_the_stub_needs_get_400(
    base_url: str, catalog: Catalog, mutate: object, fragment: str
) -> None:
    behaviour, scenario = catalog.pairs(1)[0]
    payload = body(behaviour, scenario, 1)
    mutate(payload)  # type: ignore[operator]
    response = httpx.post(f"{base_url}/v1/chat/completions", json=payload)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert fragment in error["message"]


def test_body_that_is_not_json_gets_400(base_url: str) -> None:
    response = httpx.post(f"{base_url}/v1/chat/completions", content=b"{nope")
    assert response.status_code == 400
    assert "not valid JSON" in response.json()["error"]["message"]


def test_error_rate_one_always_throttles_with_retry_after(catalog: Catalog) -> None:
    app = create_stub_app(catalog.behaviours, catalog.scenarios, error_rate=1.0, retry_after=2.5)
    behaviour, scenario = catalog.pairs(1)[0]
    with serve_app(app) as url:
        for _ in range(3):
            response = httpx.post(f"{url}/v1/chat/completions", json=body(behaviour, scenario, 1))
            assert response.status_code == 429
            assert response.headers["retry-after"] == "2.5"
            assert response.json()["error"]["type"] == "rate_limit_error"
        stats = httpx.get(f"{url}/stats").json()
    assert stats["requests"] == 3
    assert stats["throttled"] == 3
    assert stats["completed"] == 0


def test_truncate_rate_one_cuts_every_body(catalog: Catalog) -> None:
    app = create_stub_app(catalog.behaviours, catalog.scenarios, truncate_rate=1.0)
    behaviour, scenario = catalog.pairs(1)[0]
    with serve_app(app) as url:
        response = httpx.post(f"{url}/v1/chat/completions", json=body(behaviour, scenario, 1))
        stats = httpx.get(f"{url}/stats").json()
    assert response.status_code == 200
    assert response.content.startswith(b'{"id"')
    with pytest.raises(JSONDecodeError):
        loads(response.content)
    assert stats["truncated"] == 1


def test_fail_first_then_normal(catalog: Catalog) -> None:
    app = create_stub_app(catalog.behaviours, catalog.scenarios, fail_first=2, fail_with="503", retry_after=1)
    behaviour, scenario = catalog.pairs(1)[0]
    with serve_app(app) as url:
        statuses = [
            httpx.post(f"{url}/v1/chat/completions", json=body(behaviour, scenario, 1)).status_code
            for _ in range(3)
        ]
    assert statuses == [503, 503, 200]


def test_defect_share_is_passed_to_the_scripted_teacher(catalog: Catalog) -> None:
    pairs = catalog.pairs(10)
    texts: dict[float, list[str]] = {}
    for share in (0.0, 1.0):
        app = create_stub_app(catalog.behaviours, catalog.scenarios, defect_share=share)
        with serve_app(app) as url:
            texts[share] = [
                httpx.post(f"{url}/v1/chat/completions", json=body(b, s, i)).json()["choices"][0]["message"][
                    "content"
                ]
                for i, (b, s) in enumerate(pairs)
            ]
        expected = [
            scripted_reply_text(catalog.behaviours[b], catalog.scenarios[s], i, defect_share=share)
            for i, (b, s) in enumerate(pairs)
        ]
        assert texts[share] == expected


@pytest.mark.parametrize(
    "knobs",
    [
        {"error_rate": 1.5},
        {"error_rate": -0.1},
        {"truncate_rate": 2.0},
        {"defect_share": float("nan")},
        {"latency_ms": -1.0},
        {"retry_after": -1.0},
        {"fail_first": -1},
        {"fail_with": "418"},
    ],
)
def test_create_stub_app_rejects_bad_knobs(knobs: dict[str, object]) -> None:
    name = next(iter(knobs))
    with pytest.raises(ValueError, match=name):
        create_stub_app({}, {}, **knobs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--error-rate", "1.5"], "--error-rate"),
        (["--truncate-rate", "-0.1"], "--truncate-rate"),
        (["--defect-share", "2"], "--defect-share"),
        (["--latency-ms", "-5"], "--latency-ms"),
        (["--latency-ms", "nan"], "--latency-ms"),
        (["--port", "70000"], "--port"),
        (["--port", "0"], "--port"),
        (["--retry-after", "-1"], "--retry-after"),
        (["--fail-first", "-2"], "--fail-first"),
        (["--fail-with", "418"], "--fail-with"),
    ],
)
def test_cli_rejects_bad_flags(args: list[str], fragment: str) -> None:
    result = CliRunner().invoke(teacher_stub, args)
    assert result.exit_code == 2
    assert fragment in result.output


def test_cli_is_registered() -> None:
    from gen_service.cli import main

    result = CliRunner().invoke(main, ["teacher-stub", "--help"])
    assert result.exit_code == 0
    for flag in (
        "--latency-ms",
        "--error-rate",
        "--defect-share",
        "--retry-after",
        "--truncate-rate",
        "--seed",
    ):
        assert flag in result.output
