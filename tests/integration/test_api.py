"""The coordinator API on both backends, through the worker's own client seam (ASGI transport)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from gen_service.api.app import create_app
from gen_service.resources import Resources
from gen_service.service import CoordinatorService
from gen_service.teachers import load_teachers
from tests.helpers import honest_trace


@pytest.fixture
async def api(service: CoordinatorService) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(
        service, teachers=load_teachers(None), lease_ttl_s=60, prompt_version="v1", reaper_interval_s=None
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        yield client


async def test_job_lifecycle_over_http(api: httpx.AsyncClient, resources: Resources) -> None:
    created = await api.post("/v1/jobs", json={"name": "j1", "targets": {"survey_before_edit": 2}})
    assert created.status_code == 201, created.text
    job_id = created.json()["id"]
    assert (await api.get(f"/v1/jobs/{job_id}")).json()["target"] == 2
    assert [j["name"] for j in (await api.get("/v1/jobs")).json()] == ["j1"]

    claim = (await api.post("/v1/leases/claim", json={"worker_id": "w", "max_leases": 10})).json()
    assert len(claim["leases"]) == 4 and claim["more_work_possible"]
    results = []
    for lease in claim["leases"]:
        trace = honest_trace(resources, lease["behaviour"], lease["scenario"], lease["seed"])
        results.append(
            {"lease_id": lease["lease_id"], "token": lease["token"], "trace": trace, "raw_text": "{}"}
        )
    submitted = await api.post("/v1/results", json={"results": results})
    assert submitted.status_code == 200, submitted.text
    outcomes = sorted(r["outcome"] for r in submitted.json()["results"])
    assert outcomes == ["stored", "stored", "surplus", "surplus"]

    deficits = (await api.get(f"/v1/jobs/{job_id}/deficits")).json()
    assert deficits["job"]["status"] == "completed"
    [row] = deficits["behaviours"]
    assert row["accepted"] == 2 and row["deficit"] == 0 and row["surplus"] == 2

    raised = await api.patch(f"/v1/jobs/{job_id}/targets", json={"targets": {"survey_before_edit": 3}})
    assert raised.json()["status"] == "running"
    assert (await api.post(f"/v1/jobs/{job_id}/pause")).json()["status"] == "paused"
    assert (await api.post(f"/v1/jobs/{job_id}/resume")).json()["status"] == "running"
    assert (await api.post(f"/v1/jobs/{job_id}/cancel")).json()["status"] == "cancelled"


async def test_release_over_http(api: httpx.AsyncClient) -> None:
    await api.post("/v1/jobs", json={"name": "r", "targets": {"tool_intent_first": 1}})
    leases = (await api.post("/v1/leases/claim", json={"worker_id": "w", "max_leases": 2})).json()["leases"]
    body = {"leases": [{"lease_id": x["lease_id"], "token": x["token"]} for x in leases]}
    assert (await api.post("/v1/leases/release", json=body)).json() == {"released": len(leases)}


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "fragment"),
    [
        ("post", "/v1/jobs", {"name": "x", "targets": {"nope": 1}}, 422, "unknown behaviours"),
        ("post", "/v1/jobs", {"name": "x", "teacher": "ghost"}, 422, "unknown teacher"),
        ("post", "/v1/jobs", {"name": "bad name!"}, 422, "name"),
        ("post", "/v1/jobs", {"name": "x", "surprise": 1}, 422, "surprise"),
        ("post", "/v1/jobs", {"name": "x", "target": 1, "targets": {"survey_before_edit": 1}}, 422, "either"),
        ("get", "/v1/jobs/999", None, 404, "no job"),
        ("post", "/v1/jobs/999/pause", None, 404, "no job"),
        ("post", "/v1/leases/claim", {"worker_id": "w", "max_leases": 0}, 422, "max_leases"),
        ("post", "/v1/results", {"results": []}, 422, "results"),
        (
            "post",
            "/v1/results",
            {"results": [{"lease_id": "x", "token": "NaN", "raw_text": ""}]},
            422,
            "token",
        ),
    ],
)
async def test_bad_requests_get_clear_4xx(
    api: httpx.AsyncClient, method: str, path: str, body: object, status: int, fragment: str
) -> None:
    response = await api.request(method.upper(), path, json=body)
    assert response.status_code == status
    assert fragment in response.text
    assert (await api.get("/v1/jobs")).json() == []


async def test_unknown_lease_is_stale(api: httpx.AsyncClient) -> None:
    response = await api.post(
        "/v1/results", json={"results": [{"lease_id": "nope", "token": 1, "raw_text": "x"}]}
    )
    assert response.json()["results"][0]["outcome"] == "stale"


async def test_openapi_lists_every_route(api: httpx.AsyncClient) -> None:
    paths = set((await api.get("/openapi.json")).json()["paths"])
    assert {
        "/v1/jobs",
        "/v1/jobs/{job_id}",
        "/v1/jobs/{job_id}/pause",
        "/v1/jobs/{job_id}/resume",
        "/v1/jobs/{job_id}/cancel",
        "/v1/jobs/{job_id}/targets",
        "/v1/jobs/{job_id}/deficits",
        "/v1/leases/claim",
        "/v1/leases/release",
        "/v1/results",
    } <= paths
