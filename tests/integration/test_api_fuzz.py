"""Schemathesis against the coordinator's OpenAPI schema, over a real socket: positive and negative
data for every operation, and no answer is ever a 5xx. Also hand-made hostile bodies."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode

from gen_service.api.app import create_app
from gen_service.resources import Resources
from gen_service.service import CoordinatorService
from gen_service.store.engine import create_engine
from gen_service.teachers import load_teachers
from tests.conftest import _migrate, _run_sync
from tests.conftest_stub import serve_app


@pytest.fixture(scope="module")
def coordinator_url(tmp_path_factory: pytest.TempPathFactory, resources: Resources) -> Iterator[str]:
    path: Path = tmp_path_factory.mktemp("fuzz") / "fuzz.db"
    _run_sync(_migrate(f"sqlite:///{path}"))
    service = CoordinatorService(create_engine(f"sqlite:///{path}"), resources)
    # A job exists, so operations on /v1/jobs/{job_id} reach the service, not only the 404 path.
    _run_sync(_create_seed_job(service))
    app = create_app(
        service, teachers=load_teachers(None), lease_ttl_s=60, prompt_version="v1", reaper_interval_s=None
    )
    with serve_app(app) as url:
        yield url


async def _create_seed_job(service: CoordinatorService) -> None:
    await service.create_job(
        name="seeded",
        teacher="scripted",
        targets={"survey_before_edit": 2},
        lease_ttl_s=60,
        prompt_version="v1",
    )
    await service.engine.dispose()  # the server's own loop opens fresh connections


OPERATIONS = [
    ("GET", "/v1/jobs"),
    ("POST", "/v1/jobs"),
    ("GET", "/v1/jobs/{job_id}"),
    ("POST", "/v1/jobs/{job_id}/pause"),
    ("POST", "/v1/jobs/{job_id}/drain"),
    ("POST", "/v1/jobs/{job_id}/resume"),
    ("POST", "/v1/jobs/{job_id}/cancel"),
    ("PATCH", "/v1/jobs/{job_id}/targets"),
    ("PUT", "/v1/jobs/{job_id}/budget"),
    ("GET", "/v1/jobs/{job_id}/deficits"),
    ("POST", "/v1/leases/claim"),
    ("POST", "/v1/leases/release"),
    ("POST", "/v1/results"),
]


def test_schema_lists_every_fuzzed_operation(coordinator_url: str) -> None:
    schema = schemathesis.openapi.from_url(f"{coordinator_url}/openapi.json")
    listed = {(op.ok().method.upper(), op.ok().path) for op in schema.get_all_operations()}
    assert set(OPERATIONS) <= listed


CASES = [(method, path, GenerationMode.POSITIVE) for method, path in OPERATIONS] + [
    # GET /v1/jobs takes no input at all, so there is nothing negative to generate for it.
    (method, path, GenerationMode.NEGATIVE)
    for method, path in OPERATIONS
    if (method, path) != ("GET", "/v1/jobs")
]


@pytest.mark.parametrize(("method", "path", "mode"), CASES)
def test_no_server_errors(coordinator_url: str, method: str, path: str, mode: GenerationMode) -> None:
    # Schemathesis's pytest plugin does not load under pytest 9; its strategies drive Hypothesis
    # directly instead, one operation and one generation mode per test.
    schema = schemathesis.openapi.from_url(f"{coordinator_url}/openapi.json")
    operation = schema[path][method]

    @given(operation.as_strategy(generation_mode=mode))
    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def run(case: schemathesis.Case) -> None:
        case.call_and_validate(checks=[not_a_server_error])

    run()


HOSTILE = [
    ("POST", "/v1/jobs", b'{"name": "x", "target": 1e400}'),
    ("POST", "/v1/jobs", b'{"name": "x", "target": NaN}'),
    ("POST", "/v1/jobs", b'{"name": "x", "target": 99999999999999999999999999999}'),
    ("POST", "/v1/jobs", b'{"name": "x", "lease_ttl_s": Infinity}'),
    ("POST", "/v1/jobs", b"[" * 5000 + b"]" * 5000),
    ("POST", "/v1/jobs", b'{"name": "' + b"a" * 2_000_000 + b'"}'),
    ("POST", "/v1/results", b'{"results": [{"lease_id": "x", "token": 1e999, "raw_text": ""}]}'),
    (
        "POST",
        "/v1/results",
        b'{"results": [{"lease_id": "x", "token": 1, "raw_text": "", "trace": '
        + b'{"a":' * 3000
        + b"1"
        + b"}" * 3000
        + b"}]}",
    ),
    ("POST", "/v1/leases/claim", b"not json"),
    ("PATCH", "/v1/jobs/1/targets", b'{"targets": {"survey_before_edit": -5}}'),
]


@pytest.mark.parametrize(("method", "path", "body"), HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_bodies_get_4xx_and_change_nothing(
    coordinator_url: str, method: str, path: str, body: bytes
) -> None:
    with httpx.Client(base_url=coordinator_url, timeout=30) as client:
        before = client.get("/v1/jobs").json()
        response = client.request(method, path, content=body, headers={"content-type": "application/json"})
        assert 400 <= response.status_code < 500, response.text[:500]
        assert client.get("/v1/jobs").json() == before


@pytest.mark.parametrize("body", [b"not json", b'{"worker_id": "w", "max_leases": NaN}', b"[" * 5000])
def test_unparseable_json_is_named_as_such(coordinator_url: str, body: bytes) -> None:
    with httpx.Client(base_url=coordinator_url, timeout=30) as client:
        response = client.post("/v1/leases/claim", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "json_invalid"
