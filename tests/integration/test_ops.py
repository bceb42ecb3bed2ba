"""Operating the coordinator: auth matrix, budgets, drain, idempotent creation, /metrics, /readyz."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from gen_service.api.app import ReadinessCheck, create_app
from gen_service.api.auth import Role, TokenRegistry, is_loopback, parse_tokens
from gen_service.resources import Resources
from gen_service.service import CoordinatorService
from gen_service.store.models import Lease, RawOutput, Reject, table_of
from gen_service.teachers import load_teachers
from tests.helpers import honest_text, honest_trace

ADMIN = "admin-secret-0123456789"
WORKER_A = "worker-a-secret-0123456789"
WORKER_B = "worker-b-secret-0123456789"
VIEWER = "viewer-secret-0123456789"


def registry() -> TokenRegistry:
    return TokenRegistry(
        parse_tokens(SecretStr(f"ops:{ADMIN}"), Role.ADMIN)
        + parse_tokens(SecretStr(f"wa:{WORKER_A},wb:{WORKER_B}"), Role.WORKER)
        + parse_tokens(SecretStr(f"dash:{VIEWER}"), Role.VIEWER)
    )


@pytest.fixture
async def api(service: CoordinatorService) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(
        service,
        teachers=load_teachers(None),
        lease_ttl_s=60,
        prompt_version="v1",
        reaper_interval_s=None,
        tokens=registry(),
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


# (method, path, body, role that may call it)
ROUTES = [
    ("GET", "/v1/jobs", None, "reader"),
    ("GET", "/v1/jobs/1", None, "reader"),
    ("GET", "/v1/jobs/1/deficits", None, "reader"),
    ("GET", "/metrics", None, "reader"),
    ("POST", "/v1/jobs", {"name": "m", "targets": {"survey_before_edit": 1}}, "admin"),
    ("POST", "/v1/jobs/1/pause", None, "admin"),
    ("POST", "/v1/jobs/1/drain", None, "admin"),
    ("POST", "/v1/jobs/1/resume", None, "admin"),
    ("POST", "/v1/jobs/1/cancel", None, "admin"),
    ("PATCH", "/v1/jobs/1/targets", {"targets": {"survey_before_edit": 2}}, "admin"),
    ("PUT", "/v1/jobs/1/budget", {"token_budget": 10}, "admin"),
    ("POST", "/v1/leases/claim", {"worker_id": "x", "max_leases": 1}, "worker"),
    ("POST", "/v1/leases/release", {"leases": [{"lease_id": "x", "token": 1}]}, "worker"),
    ("POST", "/v1/results", {"results": [{"lease_id": "x", "token": 1, "raw_text": ""}]}, "worker"),
]
ALLOWED = {"reader": {ADMIN, VIEWER}, "admin": {ADMIN}, "worker": {WORKER_A, WORKER_B}}


def test_every_route_is_in_the_matrix(api: httpx.AsyncClient) -> None:
    app = api._transport.app  # type: ignore[attr-defined]
    open_routes = {"/healthz", "/readyz", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}
    declared = {
        (method, route.path)
        for route in app.routes
        for method in getattr(route, "methods", set()) - {"HEAD", "OPTIONS"}
        if route.path not in open_routes and not route.path.startswith("/dashboard")
    }
    matrix = {(method, path.replace("/1", "/{job_id}")) for method, path, _, _ in ROUTES}
    assert declared <= matrix, declared - matrix


@pytest.mark.parametrize(("method", "path", "body", "who"), ROUTES)
async def test_auth_matrix(api: httpx.AsyncClient, method: str, path: str, body: object, who: str) -> None:
    async def call(headers: dict[str, str]) -> httpx.Response:
        return await api.request(method, path, json=body, headers=headers)

    for headers in (
        {},
        {"authorization": "Bearer"},
        {"authorization": f"Basic {ADMIN}"},
        bearer("wrong-token"),
    ):
        response = await call(headers)
        assert response.status_code == 401, (headers, response.text)
        assert response.headers["www-authenticate"] == "Bearer"
        assert "secret" not in response.text
    for token in (ADMIN, WORKER_A, VIEWER):
        response = await call(bearer(token))
        if token in ALLOWED[who]:
            assert response.status_code not in (401, 403), (token, response.text)
        else:
            assert response.status_code == 403, (token, response.text)


async def test_health_probes_need_no_token(api: httpx.AsyncClient) -> None:
    assert (await api.get("/healthz")).status_code == 200
    assert (await api.get("/readyz")).json() == {"status": "ready"}


async def test_readyz_reports_unreachable_redis(service: CoordinatorService) -> None:
    app = create_app(
        service,
        teachers=load_teachers(None),
        lease_ttl_s=60,
        prompt_version="v1",
        reaper_interval_s=None,
        readiness=ReadinessCheck("redis://127.0.0.1:1/0"),
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        response = await client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["problems"][0].startswith("redis:")


async def test_worker_cannot_touch_another_workers_lease(
    api: httpx.AsyncClient, resources: Resources
) -> None:
    await api.post(
        "/v1/jobs", json={"name": "own", "targets": {"survey_before_edit": 1}}, headers=bearer(ADMIN)
    )
    claim = await api.post(
        "/v1/leases/claim", json={"worker_id": "pretend-b", "max_leases": 1}, headers=bearer(WORKER_A)
    )
    lease = claim.json()["leases"][0]
    trace = honest_trace(resources, lease["behaviour"], lease["scenario"], lease["seed"])
    result = {"lease_id": lease["lease_id"], "token": lease["token"], "trace": trace, "raw_text": "{}"}
    ref = {"leases": [{"lease_id": lease["lease_id"], "token": lease["token"]}]}
    assert (await api.post("/v1/leases/release", json=ref, headers=bearer(WORKER_B))).json() == {
        "released": 0
    }
    stolen = await api.post("/v1/results", json={"results": [result]}, headers=bearer(WORKER_B))
    assert stolen.json()["results"][0]["outcome"] == "stale"
    own = await api.post("/v1/results", json={"results": [result]}, headers=bearer(WORKER_A))
    assert own.json()["results"][0]["outcome"] == "stored"


def test_tokens_parse_and_compare() -> None:
    tokens = registry()
    assert tokens.authenticate(WORKER_B).name == "wb"  # type: ignore[union-attr]
    assert tokens.authenticate(WORKER_B + "x") is None
    assert ADMIN not in repr(tokens)
    with pytest.raises(ValueError, match="shorter than 16"):
        parse_tokens(SecretStr("short"), Role.ADMIN)
    assert parse_tokens(SecretStr("a-bare-secret-of-length"), Role.VIEWER)[0][0].startswith("viewer-")
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.1.2.3")


async def drive(
    api: httpx.AsyncClient, resources: Resources, job_id: int, rounds: int, tokens: int
) -> list[str]:
    outcomes = []
    for _ in range(rounds):
        claim = await api.post("/v1/leases/claim", json={"worker_id": "w", "max_leases": 4, "job_id": job_id})
        leases = claim.json()["leases"]
        if not leases:
            break
        results = [
            {
                "lease_id": x["lease_id"],
                "token": x["token"],
                "trace": honest_trace(resources, x["behaviour"], x["scenario"], x["seed"]),
                "raw_text": honest_text(resources, x["behaviour"], x["scenario"], x["seed"]),
                "prompt_tokens": tokens,
                "completion_tokens": tokens,
            }
            for x in leases
        ]
        response = await api.post("/v1/results", json={"results": results})
        outcomes += [r["outcome"] for r in response.json()["results"]]
    return outcomes


@pytest.fixture
async def open_api(service: CoordinatorService) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(
        service, teachers=load_teachers(None), lease_ttl_s=60, prompt_version="v1", reaper_interval_s=None
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        yield client


async def test_token_budget_stops_and_resumes_leasing(
    open_api: httpx.AsyncClient, resources: Resources
) -> None:
    job = (
        await open_api.post(
            "/v1/jobs", json={"name": "b", "targets": {"survey_before_edit": 40}, "token_budget": 1000}
        )
    ).json()
    await drive(open_api, resources, job["id"], rounds=20, tokens=100)
    state = (await open_api.get(f"/v1/jobs/{job['id']}")).json()
    assert state["budget_exhausted"] and state["tokens_used"] >= 1000
    assert state["accepted"] < 40
    assert (await open_api.post("/v1/leases/claim", json={"worker_id": "w", "max_leases": 4})).json()[
        "leases"
    ] == []
    raised = await open_api.put(f"/v1/jobs/{job['id']}/budget", json={"token_budget": 10**9})
    assert raised.json()["budget_exhausted"] is False
    await drive(open_api, resources, job["id"], rounds=50, tokens=100)
    assert (await open_api.get(f"/v1/jobs/{job['id']}")).json()["status"] == "completed"


async def test_drain_lets_in_flight_finish_then_pauses(
    open_api: httpx.AsyncClient, resources: Resources
) -> None:
    job = (await open_api.post("/v1/jobs", json={"name": "d", "targets": {"survey_before_edit": 10}})).json()
    leases = (await open_api.post("/v1/leases/claim", json={"worker_id": "w", "max_leases": 2})).json()[
        "leases"
    ]
    assert (await open_api.post(f"/v1/jobs/{job['id']}/drain")).json()["status"] == "draining"
    assert (await open_api.post("/v1/leases/claim", json={"worker_id": "w", "max_leases": 2})).json()[
        "leases"
    ] == []
    results = [
        {
            "lease_id": x["lease_id"],
            "token": x["token"],
            "trace": honest_trace(resources, x["behaviour"], x["scenario"], x["seed"]),
            "raw_text": "{}",
        }
        for x in leases
    ]
    outcomes = (await open_api.post("/v1/results", json={"results": results})).json()["results"]
    assert [r["outcome"] for r in outcomes] == ["stored", "stored"]
    assert (await open_api.get(f"/v1/jobs/{job['id']}")).json()["status"] == "paused"


async def test_idempotency_key_on_job_creation(open_api: httpx.AsyncClient) -> None:
    body = {"name": "idem", "targets": {"survey_before_edit": 3}}
    first = await open_api.post("/v1/jobs", json=body, headers={"Idempotency-Key": "k-1"})
    again = await open_api.post("/v1/jobs", json=body, headers={"Idempotency-Key": "k-1"})
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"]
    other = await open_api.post(
        "/v1/jobs", json={**body, "name": "idem2"}, headers={"Idempotency-Key": "k-1"}
    )
    assert other.status_code == 409
    assert len((await open_api.get("/v1/jobs")).json()) == 1
    assert (await open_api.post("/v1/jobs", json=body)).status_code == 409


async def test_metrics_parse_and_match_the_database(
    open_api: httpx.AsyncClient, resources: Resources, engine: AsyncEngine
) -> None:
    job = (
        await open_api.post(
            "/v1/jobs", json={"name": "met", "targets": {"survey_before_edit": 3, "recall_first_habit": 2}}
        )
    ).json()
    claim = (await open_api.post("/v1/leases/claim", json={"worker_id": "w", "max_leases": 3})).json()[
        "leases"
    ]
    bad = {
        "lease_id": claim[0]["lease_id"],
        "token": claim[0]["token"],
        "raw_text": "not json",
        "latency_ms": 120,
    }
    await open_api.post("/v1/results", json={"results": [bad]})
    await drive(open_api, resources, job["id"], rounds=10, tokens=7)
    text = (await open_api.get("/metrics")).text
    families = {f.name: f for f in text_string_to_metric_families(text)}

    def total(name: str, **labels: str) -> float:
        return sum(
            s.value
            for s in families[name].samples
            if s.name == f"{name}_total" and all(s.labels.get(k) == v for k, v in labels.items())
        )

    async with engine.connect() as conn:
        leases = (await conn.execute(select(func.count()).select_from(table_of(Lease)))).scalar_one()
        raws = (await conn.execute(select(func.count()).select_from(table_of(RawOutput)))).scalar_one()
        malformed = (
            await conn.execute(
                select(func.count())
                .select_from(table_of(Reject))
                .where(table_of(Reject).c.reason == "malformed_output")
            )
        ).scalar_one()
    assert total("tracegen_leases_issued", job="met") == leases
    assert total("tracegen_results", job="met") == raws
    assert total("tracegen_rejects", job="met", reason="malformed_output") == malformed == 1
    accepted = {s.labels["behaviour"]: s.value for s in families["tracegen_accepted"].samples}
    deficits = (await open_api.get(f"/v1/jobs/{job['id']}/deficits")).json()["behaviours"]
    assert accepted == {row["behaviour"]: row["accepted"] for row in deficits}
    assert sum(accepted.values()) >= 3
    histogram = families["tracegen_teacher_latency_seconds"]
    count = next(s.value for s in histogram.samples if s.name.endswith("_count"))
    assert count == raws
    assert total("tracegen_prompt_tokens", job="met") == 7 * (raws - 1)


def test_serve_refuses_a_public_address_without_tokens(tmp_path: object) -> None:
    from click.testing import CliRunner

    from gen_service.cli import main

    result = CliRunner().invoke(main, ["serve", "--host", "0.0.0.0", "--db", "sqlite:////nonexistent/x.db"])
    assert result.exit_code == 2
    assert "refusing to listen on 0.0.0.0 without tokens" in result.output
