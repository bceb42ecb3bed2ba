"""The `unverified_fix` execution check, for real: traces' edits replayed and the projects' tests run.

Per language in the bank (python, javascript, rust; a language the bank does not have yet is skipped
and says so): the scripted teacher's honest trace, whose edits are the scenario's reference fix,
passes; the same trace with its fix edit made ineffective (the edit still applies, the bug stays) is
rejected. The rest runs on one Python scenario: replay rules, test files restored, timeout, memory
limit, network isolation, missing toolchain. Durations are never asserted: the machine is shared.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from gen_service.core.gates import claims_success
from gen_service.core.scenarios import Scenario
from gen_service.core.trace import Trace, parse_trace
from gen_service.resources import Resources, load_resources
from gen_service.service import CoordinatorService
from gen_service.store.tables import REJECT
from gen_service.worker.client import CoordinatorClient
from gen_service.worker.execution_check import (
    EditReplay,
    ExecutionCheckUnavailable,
    check_fix,
    network_isolation,
    replay_edits,
)
from gen_service.worker.pool import PoolConfig, WorkerPool
from gen_service.worker.teachers import ScriptedTeacher, TeacherReply, TeacherRequest
from tests.helpers import embedded_job, honest_trace

LANGUAGES = ("python", "javascript", "rust")
# Behaviours whose honest traces edit with the reference fix and end with a success claim.
BEHAVIOURS = ("minimal_diff_fix", "root_cause_over_symptom", "test_first_repro", "claim_requires_run")


@pytest.fixture(scope="module")
def resources() -> Resources:
    return load_resources()


def _calls(trace: dict[str, Any]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(tool call, decoded arguments) for every call; write arguments back with `_store`."""
    for message in trace["messages"]:
        for call in message.get("tool_calls") or []:
            yield call, json.loads(call["function"]["arguments"])


def _store(call: dict[str, Any], arguments: dict[str, Any]) -> None:
    call["function"]["arguments"] = json.dumps(arguments)


def _result_message(trace: dict[str, Any], call: dict[str, Any]) -> dict[str, Any]:
    return next(m for m in trace["messages"] if m.get("role") == "tool" and m["tool_call_id"] == call["id"])


def _claims(trace: dict[str, Any]) -> bool:
    final = [m for m in trace["messages"] if m["role"] == "assistant"][-1]
    return claims_success(final.get("content") or "")


def _is_fix_call(scenario: Scenario, name: str, args: dict[str, Any]) -> bool:
    if name == "edit_file":
        return any((e.path, e.old, e.new) == (args["path"], args["old"], args["new"]) for e in scenario.fix)
    return name == "write_file" and args["path"] in {e.path for e in scenario.fix}


def _claiming_trace(resources: Resources, scenario_id: str) -> dict[str, Any]:
    """An honest trace for the scenario that edits with the reference fix and claims success."""
    scenario = resources.scenarios[scenario_id]
    for behaviour in BEHAVIOURS:
        for seed in range(12):
            trace = honest_trace(resources, behaviour, scenario_id, seed)
            if _claims(trace) and any(
                _is_fix_call(scenario, c["function"]["name"], a) for c, a in _calls(trace)
            ):
                return trace
    raise AssertionError(f"no honest trace of {scenario_id} edits with the fix and claims success")


def _ineffective(trace: dict[str, Any], scenario: Scenario) -> dict[str, Any]:
    """The trace with its fix edits made harmless: each still applies, the bug stays."""
    trace = copy.deepcopy(trace)
    changed = 0
    for call, args in _calls(trace):
        name = call["function"]["name"]
        if not _is_fix_call(scenario, name, args):
            continue
        if name == "edit_file":
            old = args["old"]
            # a trailing blank on the edited line: valid in every language, changes no behaviour
            args["new"] = old[:-1] + " \n" if old.endswith("\n") else old + " "
        else:
            args["content"] = scenario.files[args["path"]]
        _store(call, args)
        changed += 1
    assert changed, "the trace has no fix edit to break"
    return trace


def _scenario_of(resources: Resources, language: str) -> str:
    ids = sorted(sid for sid, s in resources.scenarios.items() if s.language == language)
    assert ids, f"the scenario bank has no {language} scenario"
    return ids[0]


def _parsed(trace: dict[str, Any]) -> Trace:
    return parse_trace(trace)


def _with_extra_write(trace: dict[str, Any], path: str, content: str) -> dict[str, Any]:
    """The trace with one more write_file (and its result) just before the final message."""
    trace = copy.deepcopy(trace)
    final = trace["messages"].pop()
    trace["messages"] += [
        {
            "role": "assistant",
            "reasoning_content": "Adding one more check.",
            "content": "",
            "tool_calls": [
                {
                    "id": "call_extra",
                    "type": "function",
                    "function": {
                        "name": "write_file",
                        "arguments": json.dumps({"path": path, "content": content}),
                    },
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_extra", "content": f"Wrote {path} (3 lines)."},
        final,
    ]
    return trace


# --------------------------------------------------------------------------------------------------
# Per language: honest passes, ineffective fix is rejected


@pytest.mark.parametrize("language", LANGUAGES)
async def test_honest_fix_passes_and_ineffective_fix_is_rejected(resources: Resources, language: str) -> None:
    scenario_id = _scenario_of(resources, language)
    scenario = resources.scenarios[scenario_id]
    honest = _claiming_trace(resources, scenario_id)
    broken = _ineffective(honest, scenario)
    limiter = asyncio.BoundedSemaphore(2)
    # Both at once: for Rust this also proves two builds of one crate do not share a target folder.
    passed, rejected = await asyncio.gather(
        check_fix(_parsed(honest), scenario, limiter=limiter, timeout_s=300),
        check_fix(_parsed(broken), scenario, limiter=limiter, timeout_s=300),
    )
    assert passed is None, passed
    assert rejected is not None
    assert rejected.startswith("the trace claims a fix, but after its "), rejected
    assert f"`{scenario.test_command}` fails (exit " in rejected, rejected
    assert "tracegen-check-" not in rejected  # the temporary folder's path is scrubbed


async def test_every_python_behaviour_passes_honestly(resources: Resources) -> None:
    """Every behaviour's honest trace passes on one scenario (stale edits, reverts, writes included)."""
    scenario_id = _scenario_of(resources, "python")
    scenario = resources.scenarios[scenario_id]
    limiter = asyncio.BoundedSemaphore(2)
    traces = {b: _parsed(honest_trace(resources, b, scenario_id, 3)) for b in sorted(resources.behaviours)}
    results = await asyncio.gather(*(check_fix(t, scenario, limiter=limiter) for t in traces.values()))
    assert dict(zip(traces, results, strict=True)) == dict.fromkeys(traces)


# --------------------------------------------------------------------------------------------------
# When the check applies, and how edits replay


@pytest.fixture(scope="module")
def python_case(resources: Resources) -> tuple[Scenario, dict[str, Any]]:
    scenario_id = _scenario_of(resources, "python")
    return resources.scenarios[scenario_id], _claiming_trace(resources, scenario_id)


async def test_dropped_fix_edit_is_rejected(python_case: tuple[Scenario, dict[str, Any]]) -> None:
    scenario, honest = python_case
    trace = copy.deepcopy(honest)
    for call, args in _calls(trace):
        if _is_fix_call(scenario, call["function"]["name"], args):
            # the trace itself shows the edit failing: it changed nothing, so it is skipped
            _result_message(trace, call)["content"] = "Error: `old` text not found; no changes made."
    detail = await check_fix(_parsed(trace), scenario)
    assert detail is not None and "fails (exit 1)" in detail, detail


async def test_no_claim_or_no_edit_means_the_check_does_not_apply(
    python_case: tuple[Scenario, dict[str, Any]],
) -> None:
    scenario, honest = python_case
    unclaimed = _ineffective(honest, scenario)
    unclaimed["messages"][-1]["content"] = "I could not fix it: the tests still fail."
    assert not _claims(unclaimed)
    assert await check_fix(_parsed(unclaimed), scenario) is None
    no_edits = copy.deepcopy(honest)
    for call, _ in _calls(no_edits):
        if call["function"]["name"] in {"edit_file", "write_file"}:
            call["function"]["name"] = "read_file"
            _store(call, {"path": scenario.fix[0].path})
    assert _claims(no_edits)
    assert await check_fix(_parsed(no_edits), scenario) is None


async def test_edit_that_does_not_apply_is_rejected(python_case: tuple[Scenario, dict[str, Any]]) -> None:
    scenario, honest = python_case
    trace = copy.deepcopy(honest)
    for call, args in _calls(trace):
        if call["function"]["name"] == "edit_file" and _is_fix_call(scenario, "edit_file", args):
            args["old"] = "text that is nowhere in the file\n"
            _store(call, args)  # its result still says "Edited ..."
    detail = await check_fix(_parsed(trace), scenario)
    assert detail is not None
    assert "does not apply: its 'old' text is not in the file" in detail, detail


@pytest.mark.parametrize("path", ["../escape.py", "/tmp/escape.py", "pkg/../../escape.py", ""])
async def test_paths_outside_the_project_are_rejected(
    python_case: tuple[Scenario, dict[str, Any]], path: str
) -> None:
    scenario, honest = python_case
    trace = _with_extra_write(honest, path, "x = 1\n")
    detail = await check_fix(_parsed(trace), scenario)
    assert detail is not None and "not a relative path inside the project" in detail, detail


def test_replay_follows_the_tools() -> None:
    files = {"pkg/a.py": "x = 1\nx = 1\n", "tests/test_a.py": "def test(): assert False\n"}
    calls = [
        ("edit_file", {"path": "pkg/a.py", "old": "x = 1", "new": "x = 2"}, "Edited pkg/a.py."),
        ("edit_file", {"path": "pkg/a.py", "old": "zzz", "new": "y"}, "Error: `old` text not found."),
        ("write_file", {"path": "./pkg/new.py", "content": "n = 0\n"}, "Wrote pkg/new.py."),
        ("write_file", {"path": "tests/test_a.py", "content": "def test(): pass\n"}, "Wrote it."),
    ]
    messages: list[dict[str, Any]] = [{"role": "user", "content": "fix it"}]
    for number, (name, args, result) in enumerate(calls):
        call = {
            "id": f"c{number}",
            "type": "function",
            "function": {"name": name, "arguments": json.dumps(args)},
        }
        messages += [
            {"role": "assistant", "content": "", "tool_calls": [call]},
            {"role": "tool", "tool_call_id": f"c{number}", "content": result},
        ]
    replay = replay_edits(parse_trace({"messages": messages}), files)
    assert isinstance(replay, EditReplay)
    assert replay.files == {
        "pkg/a.py": "x = 2\nx = 1\n",  # the first occurrence only
        "pkg/new.py": "n = 0\n",
        "tests/test_a.py": "def test(): assert False\n",  # test files are what they were
    }
    assert replay.edits == 3
    assert replay.restored_tests == ("tests/test_a.py",)
    assert files["pkg/a.py"] == "x = 1\nx = 1\n"  # the input is not changed


async def test_weakened_tests_do_not_pass(python_case: tuple[Scenario, dict[str, Any]]) -> None:
    scenario, honest = python_case
    trace = _ineffective(honest, scenario)
    tests = [p for p in scenario.files if p.startswith("tests/") and p.endswith(".py")]
    assert tests
    for path in tests:
        trace = _with_extra_write(trace, path, "def test_nothing():\n    pass\n")
    detail = await check_fix(_parsed(trace), scenario)
    assert detail is not None and "fails (exit 1)" in detail, detail
    assert "its edits to test files were not counted: " in detail


# --------------------------------------------------------------------------------------------------
# The sandbox


async def test_a_hanging_run_times_out(python_case: tuple[Scenario, dict[str, Any]]) -> None:
    scenario, honest = python_case
    trace = _with_extra_write(
        honest, "tests/test_zz_hang.py", "def test_hang():\n    while True:\n        pass\n"
    )
    detail = await check_fix(_parsed(trace), scenario, timeout_s=3)
    assert detail is not None and "timed out after 3s" in detail, detail


async def test_memory_is_limited(python_case: tuple[Scenario, dict[str, Any]]) -> None:
    scenario, honest = python_case
    hog = "def test_hog():\n    block = bytearray(3 * 1024**3)\n    assert block\n"
    trace = _with_extra_write(honest, "tests/test_zz_hog.py", hog)
    detail = await check_fix(_parsed(trace), scenario)
    assert detail is not None and "MemoryError" in detail, detail


async def test_no_network_where_isolation_works(python_case: tuple[Scenario, dict[str, Any]]) -> None:
    # This machine supports unshare -rn; where it does not, the check runs unisolated (README).
    assert await network_isolation(), "unshare -rn does not work here: test runs are not network-isolated"
    scenario, honest = python_case
    connections: list[int] = []

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        writer.close()

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    probe = (
        "import socket\n\n"
        "def test_reaches_the_host():\n"
        f"    socket.create_connection(('127.0.0.1', {port}), timeout=5).close()\n"
    )
    async with server:
        # Without the sandbox this test passes (the listener is up): the check runs it in a namespace.
        detail = await check_fix(_parsed(_with_extra_write(honest, "tests/test_zz_net.py", probe)), scenario)
    assert detail is not None and "fails (exit 1)" in detail, detail
    assert connections == []


async def test_a_missing_toolchain_is_not_a_reject(python_case: tuple[Scenario, dict[str, Any]]) -> None:
    scenario, honest = python_case
    missing = dataclasses.replace(scenario, test_command="tracegen-no-such-runner --all")
    with pytest.raises(ExecutionCheckUnavailable, match="toolchain missing"):
        await check_fix(_parsed(honest), missing)


# --------------------------------------------------------------------------------------------------
# The pool: a worker runs the check and the coordinator rejects what it reports


class IneffectiveFixTeacher(ScriptedTeacher):
    """The scripted teacher, except that its first `broken` replies editing with the reference fix
    have that fix made ineffective (see `_ineffective`)."""

    def __init__(self, resources: Resources, broken: int) -> None:
        super().__init__("scripted", resources.behaviours, resources.scenarios, defect_share=0.0)
        self._scenario_bank = resources.scenarios
        self._left = broken
        self.claiming = 0  # broken replies that claim success: the check applies to exactly these

    async def complete(self, request: TeacherRequest) -> TeacherReply:
        reply = await super().complete(request)
        scenario = self._scenario_bank[request.scenario]
        decoded = json.loads(reply.text)
        edits_the_fix = any(_is_fix_call(scenario, c["function"]["name"], a) for c, a in _calls(decoded))
        if not self._left or not edits_the_fix:
            return reply
        self._left -= 1
        broken = _ineffective(decoded, scenario)
        self.claiming += _claims(broken)
        return dataclasses.replace(reply, text=json.dumps(broken))


async def test_the_pool_reports_unverified_fixes_and_the_coordinator_rejects_them(
    service: CoordinatorService, resources: Resources
) -> None:
    job, app = await embedded_job(
        service, "exec-pool", target=3, behaviour="minimal_diff_fix", execution_check=True
    )
    teacher = IneffectiveFixTeacher(resources, broken=3)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://embedded") as http:
        pool = WorkerPool(
            CoordinatorClient(http),
            {"scripted": teacher},
            resources,
            PoolConfig(concurrency=2, job_id=job.id, submit_interval_s=0.01, idle_poll_s=0.05),
        )
        stats = await asyncio.wait_for(pool.run(asyncio.Event()), 300)
    assert teacher.claiming >= 1, "a broken reply that claims success: the case under test"
    assert stats.unverified_fixes == teacher.claiming
    assert stats.outcomes["rejected"] == teacher.claiming
    assert stats.execution_checks >= stats.unverified_fixes + 3, "the honest fixes that were stored ran too"
    assert stats.outcomes["stored"] == 3
    async with service.engine.connect() as conn:
        reasons = (await conn.execute(select(REJECT.c.reason).where(REJECT.c.job_id == job.id))).scalars()
        assert sorted(reasons) == ["unverified_fix"] * teacher.claiming
