"""The `unverified_fix` check: replay a trace's edits on the scenario's project and run its tests.

The pure gates can only see what a trace *says* its tests printed. This check, optional per job and
run in the worker because it is I/O, finds out: it writes the scenario's buggy tree (`Scenario.files`,
tests included) into a fresh temporary folder, replays the trace's `edit_file` and `write_file` calls
in order, runs the scenario's `test_command` there, and rejects the trace when its final message claims
success but the tests do not pass.

    limiter = asyncio.BoundedSemaphore(2)          # concurrent test runs this worker allows
    detail = await check_fix(trace, scenario, limiter=limiter)
    if detail is not None:
        reject(UNVERIFIED_FIX, detail)

What counts:

- The check applies only to a trace that makes at least one edit (`edit_file`/`write_file` call) and
  whose final assistant message claims success (`claims_success`); otherwise it returns None.
- Edits replay like the tools: `edit_file {path, old, new}` replaces the first exact occurrence of a
  non-empty `old`; `write_file {path, content}` creates or overwrites. An edit whose own tool result
  reports a failure ("Error: ... not found; no changes made") changed nothing in the trace's world, so
  it is skipped; any other edit must apply, and one that does not (file missing, `old` absent) rejects
  the trace: its story diverges from the project. A path that is absolute or contains `..` rejects it.
- The project's tests are what the tests were: test files the trace edited (`tests/`, `test_*`,
  `*_test.*`, `*.test.*`, `*.spec.*`) are restored before the run, so weakening an assertion does not
  pass the check (the detail names them).
- The tests pass when the command exits 0 within `timeout_s`; a timeout or a kill is a failure.

Sandbox: the run gets its own session (a timeout kills the whole process group), stdin closed, the
environment the bank's captures use (`gen_service.scenario_bank`: no host pytest plugins, no
bytecode, no colour), resource limits per language (`ResourceLimits`, set with `setrlimit` in the
child before exec) and no network: the command runs under `unshare -rn` (a new user and network
namespace with only a downed loopback). Whether `unshare -rn` works is probed once per process; where
it does not (no util-linux `unshare`, user namespaces disabled, a container whose seccomp profile
forbids them) the check still runs, *without* network isolation, and says so once in a warning log
line. The mini-projects need no network, so only a malicious trace would notice.

Rust: every check compiles in its own temporary folder, with the bank's cargo settings (offline,
no incremental, one test thread), but in a target folder reused between checks
(`default_cargo_target_root()/slot-N`, beside the bank's shared one): cargo then only rebuilds the
crate, and the folder stays as large as the bank's crates (cargo names a path crate's artifacts
without its folder, so each crate's build lands on the same files every time). Measured here, a
reused slot saves about 15% per Rust check over a fresh folder. That naming is also why a slot is
held under an exclusive `flock` from build to the end of the test run: two checks of one crate in one
folder (in this process or another worker's) would overwrite each other's test binary between build
and run. Slots are created on demand, as many as Rust checks ever ran at once.

Infrastructure failures (a toolchain that is not installed, a sandbox that cannot start the process)
raise `ExecutionCheckUnavailable`; they are never a quality reject.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import errno
import fcntl
import logging
import math
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

from gen_service.core.gates import claims_success
from gen_service.core.scenarios import Scenario
from gen_service.core.trace import ToolCall, Trace
from gen_service.scenario_bank import Runner, cargo_target_dir, resolve_runner

__all__ = [
    "DEFAULT_LIMITS",
    "EDIT_TOOLS",
    "EditReplay",
    "ExecutionCheckUnavailable",
    "ResourceLimits",
    "check_fix",
    "default_cargo_target_root",
    "network_isolation",
    "replay_edits",
]

log = logging.getLogger("tracegen.worker.execution_check")

EDIT_TOOLS = frozenset({"edit_file", "write_file"})

_MIB = 1024 * 1024


class ExecutionCheckUnavailable(RuntimeError):
    """The check could not run (toolchain missing, process could not start): not the trace's fault."""


@dataclass(frozen=True, slots=True)
class ResourceLimits:
    """`setrlimit` values for one test run (soft and hard alike); CPU comes from the timeout.

    `memory_bytes` bounds each process's address space (RLIMIT_AS): V8 reserves about 1 GiB up front
    and rustc/LLVM map generously, so JavaScript and Rust get more than Python. `processes`
    (RLIMIT_NPROC) bounds fork bombs; the kernel counts all of the user's processes against it and
    does not enforce it for root. `file_bytes` (RLIMIT_FSIZE) bounds any one file written.
    """

    memory_bytes: int
    processes: int
    file_bytes: int


DEFAULT_LIMITS: Mapping[str, ResourceLimits] = {
    "python": ResourceLimits(memory_bytes=1024 * _MIB, processes=512, file_bytes=64 * _MIB),
    "javascript": ResourceLimits(memory_bytes=4096 * _MIB, processes=512, file_bytes=64 * _MIB),
    # cargo runs rustc, rustdoc and the test binaries as children; debug test binaries are large
    "rust": ResourceLimits(memory_bytes=4096 * _MIB, processes=1024, file_bytes=512 * _MIB),
}
_FALLBACK_LIMITS = ResourceLimits(memory_bytes=2048 * _MIB, processes=512, file_bytes=64 * _MIB)

_OUTPUT_CAP = 64 * 1024  # bytes of output kept (the tail): the detail quotes only the last lines
_DRAIN_AFTER_EXIT_S = 2.0  # a grandchild that keeps the pipe open does not hold the check up
_TEST_FILE = re.compile(r"(^|/)tests?/|(^|/)test_[^/]*$|_test\.[a-z]+$|\.(test|spec)\.[a-z]+$")
# What a tool result says when the edit it answers changed nothing.
_REPORTED_FAILURE = re.compile(
    r"^\W*(error|failed|failure)\b|\bnot found\b|\bno changes (were )?made\b|\bno match|\bdid not apply\b",
    re.IGNORECASE,
)


# --------------------------------------------------------------------------------------------------
# Replaying the edits (pure)


@dataclass(frozen=True, slots=True)
class EditReplay:
    """The tree a trace's edits leave, as the check runs it."""

    files: dict[str, str]
    edits: int  # edits that changed the tree's story (skipped, reported-failed ones excluded)
    restored_tests: tuple[str, ...]  # test files the trace edited, put back before the run


def _project_path(raw: object) -> str | None:
    """The normalized relative path, or None when `raw` is not a path inside the project."""
    if not isinstance(raw, str) or not raw.strip() or "\x00" in raw or "\\" in raw:
        return None
    path = PurePosixPath(raw)
    if path.is_absolute() or ".." in path.parts:
        return None
    parts = [part for part in path.parts if part != "."]
    return "/".join(parts) if parts else None


def _reported_failure(result: str | None) -> bool:
    return result is not None and _REPORTED_FAILURE.search(result) is not None


def _describe(position: int, call: ToolCall) -> str:
    path = call.arguments.get("path")
    shown = f" ({path!r})" if isinstance(path, str) else ""
    return f"{call.name} #{position}{shown}"


def replay_edits(trace: Trace, files: Mapping[str, str]) -> EditReplay | str:
    """The tree after the trace's edits, or a rejection detail when an edit cannot be replayed.

    Pure: `files` is not changed. See the module docstring for the rules.
    """
    tree = dict(files)
    applied = 0
    position = 0
    for call in trace.tool_calls:
        if call.name not in EDIT_TOOLS:
            continue
        position += 1
        label = _describe(position, call)
        if _reported_failure(trace.tool_result(call.call_id)):
            continue  # the trace itself shows this edit failing: it changed nothing
        path = _project_path(call.arguments.get("path"))
        if path is None:
            return f"{label}: the path is not a relative path inside the project"
        if call.name == "write_file":
            content = call.arguments.get("content")
            if not isinstance(content, str):
                return f"{label}: 'content' is not a string"
            tree[path] = content
            applied += 1
            continue
        old, new = call.arguments.get("old"), call.arguments.get("new")
        if not isinstance(old, str) or not isinstance(new, str) or not old:
            return f"{label}: 'old' and 'new' must be strings and 'old' non-empty"
        current = tree.get(path)
        if current is None:
            return f"{label} does not apply: the file does not exist, yet the trace reports the edit done"
        if old not in current:
            return f"{label} does not apply: its 'old' text is not in the file, yet the trace reports it done"
        tree[path] = current.replace(old, new, 1)
        applied += 1
    restored: list[str] = []
    for path, original in files.items():
        if _TEST_FILE.search(path) and tree.get(path) != original:
            tree[path] = original
            restored.append(path)
    return EditReplay(files=tree, edits=applied, restored_tests=tuple(restored))


def _final_claims_success(trace: Trace) -> bool:
    for message in reversed(trace.messages):
        if message.get("role") == "assistant":
            content = message.get("content")
            return isinstance(content, str) and claims_success(content)
    return False


# --------------------------------------------------------------------------------------------------
# The sandbox


_isolation: bool | None = None  # probed once per process: whether `unshare -rn` works here
_isolation_warned = False


def _probe_argv(unshare: str) -> list[str]:
    # Inside a fresh network namespace nothing is routable: connect() fails at once with ENETUNREACH.
    code = (
        "import socket,sys\n"
        "s=socket.socket()\n"
        "try:\n s.connect(('192.0.2.1',9))\n"
        f"except OSError as e:\n sys.exit(0 if e.errno=={errno.ENETUNREACH} else 3)\n"
        "sys.exit(4)\n"
    )
    return [unshare, "-rn", "--", sys.executable, "-c", code]


async def network_isolation() -> bool:
    """Whether test runs get no network (`unshare -rn` works here). Probed once, then cached."""
    global _isolation, _isolation_warned
    if _isolation is None:
        unshare = shutil.which("unshare")
        works = False
        why = "`unshare` is not installed"
        if unshare is not None:
            try:
                proc = await asyncio.create_subprocess_exec(
                    *_probe_argv(unshare),
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=asyncio.subprocess.DEVNULL,
                    stderr=asyncio.subprocess.PIPE,
                )
                _, err = await asyncio.wait_for(proc.communicate(), 10)
                works = proc.returncode == 0
                said = err.decode("utf-8", "replace").strip()[:200]
                why = f"`unshare -rn` exited {proc.returncode}: {said}"
            except (OSError, TimeoutError) as exc:
                why = f"`unshare -rn` could not run: {exc!r}"
        _isolation = works
        if not works and not _isolation_warned:
            _isolation_warned = True
            log.warning(
                "execution check: test runs are NOT network-isolated on this machine (%s); "
                "they run with the worker's network access",
                why,
            )
    return _isolation


def _runner(scenario: Scenario, cargo_target: Path | None) -> Runner:
    """The bank's runner for the scenario (same argv and environment as its captures).

    A Rust run builds in `cargo_target` (an exclusive slot) instead of the bank's shared folder.
    """
    try:
        runner = resolve_runner(scenario.language, scenario.test_command, key=scenario.id)
    except RuntimeError as exc:
        raise ExecutionCheckUnavailable(f"scenario {scenario.id!r}: {exc}") from exc
    if cargo_target is None or "CARGO_TARGET_DIR" not in runner.env:
        return runner
    env = {**runner.env, "CARGO_TARGET_DIR": str(cargo_target)}
    return dataclasses.replace(runner, env=env, scrub=(*runner.scrub, str(cargo_target)))


def _set_limits(limits: ResourceLimits, cpu_s: int) -> Callable[[], None]:
    values = (
        (resource.RLIMIT_AS, limits.memory_bytes),
        (resource.RLIMIT_CPU, cpu_s),
        (resource.RLIMIT_NPROC, limits.processes),
        (resource.RLIMIT_FSIZE, limits.file_bytes),
    )

    def apply() -> None:  # runs in the child between fork and exec: setrlimit calls only
        for kind, value in values:
            # never above what the worker itself was allowed
            for current in resource.getrlimit(kind):
                if current != resource.RLIM_INFINITY:
                    value = min(value, current)
            resource.setrlimit(kind, (value, value))

    return apply


def default_cargo_target_root() -> Path:
    """Where Rust checks keep their reusable target folders: beside the bank's shared one.

    Follows `$TRACEGEN_CARGO_TARGET_DIR` (see `gen_service.scenario_bank.cargo_target_dir`), with
    `-check` appended, so the bank's verification and the checks never build in the same folder.
    """
    shared = cargo_target_dir()
    return shared.with_name(f"{shared.name}-check")


def _claim_slot(root: Path) -> tuple[Path, IO[bytes]]:
    """An exclusive target directory under `root`: the first slot no check holds (created on demand)."""
    root.mkdir(parents=True, exist_ok=True)
    slot = 0
    while True:
        handle = (root / f"slot-{slot}.lock").open("ab")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            slot += 1
            continue
        except BaseException:
            handle.close()
            raise
        return root / f"slot-{slot}", handle


def _materialize(root: Path, files: Mapping[str, str]) -> str | None:
    """Write `files` under `root`; a detail when the tree cannot be written, else None."""
    try:
        for rel, text in files.items():
            target = root / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
    except (OSError, UnicodeEncodeError) as exc:
        # e.g. a write_file to "pkg" where "pkg/" is a folder, or to a path below a file
        return f"the edited tree cannot be written: {type(exc).__name__}: {exc}"
    return None


@dataclass(frozen=True, slots=True)
class _Outcome:
    returncode: int | None  # None: timed out
    output: str


async def _drain(stream: asyncio.StreamReader, sink: bytearray) -> None:
    while chunk := await stream.read(65536):
        sink.extend(chunk)
        if len(sink) > _OUTPUT_CAP:
            del sink[: len(sink) - _OUTPUT_CAP]


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


async def _run(runner: Runner, cwd: Path, timeout_s: float, limits: ResourceLimits) -> _Outcome:
    argv: Sequence[str] = runner.argv
    if await network_isolation():
        unshare = shutil.which("unshare")
        if unshare is not None:
            argv = [unshare, "-rn", "--", *argv]
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            cwd=cwd,
            env=dict(runner.env),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,  # its own process group: a timeout kills the whole tree
            preexec_fn=_set_limits(limits, cpu_s=math.ceil(timeout_s) + 1),
        )
    except (OSError, subprocess.SubprocessError) as exc:  # SubprocessError: setrlimit failed
        raise ExecutionCheckUnavailable(f"cannot start {argv[0]!r}: {exc}") from exc
    assert proc.stdout is not None
    sink = bytearray()
    reader = asyncio.ensure_future(_drain(proc.stdout, sink))
    timed_out = False
    try:
        await asyncio.wait_for(proc.wait(), timeout_s)
    except TimeoutError:
        timed_out = True
    finally:
        _kill_group(proc.pid)  # also reaps what the tests left running in the background
        await proc.wait()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(reader, _DRAIN_AFTER_EXIT_S)
    return _Outcome(
        None if timed_out else proc.returncode, _scrub(sink.decode("utf-8", "replace"), cwd, runner)
    )


def _scrub(output: str, cwd: Path, runner: Runner) -> str:
    # Runs happen from the copy's root; a tool that prints the temporary path or the build folder
    # anyway gets it shortened, so no machine-specific path reaches a rejection detail.
    for folder in runner.scrub:
        for form in dict.fromkeys([folder, os.path.realpath(folder)]):
            output = output.replace(form, "target")
    for form in dict.fromkeys([str(cwd), os.path.realpath(cwd)]):
        output = output.replace("file://" + form + os.sep, "").replace(form + os.sep, "")
        output = output.replace(form, ".")
    return output


# Lines that say what failed, per runner. pytest: E lines, FAILED, the summary; node --test: "not ok",
# expected/actual, "# fail N"; cargo: compile errors, "... FAILED", assertion and left/right, the result.
_SALIENT = re.compile(
    r"^(E +\S|FAILED |ERROR |=+ .*\d+ (failed|passed|errors?)\b.* =+$|\d+ (failed|passed|errors?)\b"
    r"|not ok \d+ - |(expected|actual): |# fail \d+|error(\[E\d+\])?: (?!\|)"
    r"|test \S+ \.\.\. FAILED|assertion|(left|right): |test result: FAILED)"
)


def _summary(output: str, limit: int = 500) -> str:
    """What failed, in a few lines: the runner's failure lines and its summary, else the last lines."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    salient = [line for line in lines if _SALIENT.match(line)]
    kept = salient[:4] + salient[-1:] if len(salient) > 5 else salient
    text = " / ".join(kept or lines[-4:]) or "no output"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _failure_detail(scenario: Scenario, outcome: _Outcome, timeout_s: float, replay: EditReplay) -> str:
    if outcome.returncode is None:
        what = f"timed out after {timeout_s:g}s"
    elif outcome.returncode < 0:
        what = f"was killed by {signal.Signals(-outcome.returncode).name}"
    else:
        what = f"fails (exit {outcome.returncode})"
    detail = (
        f"the trace claims a fix, but after its {replay.edits} edit(s) "
        f"`{scenario.test_command}` {what}: {_summary(outcome.output)}"
    )
    if replay.restored_tests:
        detail += f" (its edits to test files were not counted: {', '.join(replay.restored_tests)})"
    return detail


# --------------------------------------------------------------------------------------------------
# The check


async def check_fix(
    trace: Trace,
    scenario: Scenario,
    *,
    timeout_s: float = 60.0,
    limiter: asyncio.Semaphore | None = None,
    limits: Mapping[str, ResourceLimits] | None = None,
    cargo_target_root: Path | None = None,
) -> str | None:
    """None when the trace's edits make `scenario`'s tests pass, or when the check does not apply.

    Otherwise the detail for an `unverified_fix` rejection: an edit that cannot be replayed, or the
    tests failing or timing out on the edited tree. `limiter` bounds how many test runs go at once
    (share one per worker); `limits` overrides `DEFAULT_LIMITS` per language. Raises
    `ExecutionCheckUnavailable` when the scenario's toolchain is missing or its process cannot start.
    """
    if not any(call.name in EDIT_TOOLS for call in trace.tool_calls) or not _final_claims_success(trace):
        return None
    replay = replay_edits(trace, scenario.files)
    if isinstance(replay, str):
        return replay
    language_limits = (limits or DEFAULT_LIMITS).get(scenario.language) or DEFAULT_LIMITS.get(
        scenario.language, _FALLBACK_LIMITS
    )
    _runner(scenario, None)  # a missing toolchain fails before waiting for a slot
    # The trees are a few KB: writing and removing them inline costs less than a thread hop, and
    # nothing is left behind when the check is cancelled.
    async with limiter if limiter is not None else contextlib.nullcontext():
        slot: IO[bytes] | None = None
        target: Path | None = None
        if scenario.language == "rust":
            target, slot = _claim_slot(cargo_target_root or default_cargo_target_root())
        tmp = tempfile.mkdtemp(prefix="tracegen-check-")
        try:
            root = Path(tmp) / (scenario.project or "project")
            problem = _materialize(root, replay.files)
            if problem is not None:
                return problem
            outcome = await _run(_runner(scenario, target), root, timeout_s, language_limits)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
            if slot is not None:
                slot.close()  # releases the flock
    if outcome.returncode == 0:
        return None
    return _failure_detail(scenario, outcome, timeout_s, replay)
