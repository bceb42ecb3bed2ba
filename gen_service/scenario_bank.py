"""The scenario bank on disk: loading it, and capturing/verifying its real test output.

Layout (documented for humans in `scenarios/README.md`)::

    scenarios/<project>/scenario.toml      language, test_command, archetype, held_out, task,
                                           relevant_files, [[fix]] edits, or [[variant]] tables
    scenarios/<project>/repo/              the project: with its bug in it, or (with variants) fixed
    scenarios/<project>/captured/failing.txt   real output of the tests on the buggy tree
    scenarios/<project>/captured/passing.txt   real output after applying the fix
    scenarios/<project>/captured/<variant>/... the same, per variant

`load_scenarios` turns the bank into `Scenario` values (pure data, see `gen_service.core.scenarios`)
and never runs anything. `verify_scenario`/`verify_project` run a scenario's tests in a scratch
copy, before and after the reference fix, and either write the captures (`capture=True`) or check
the committed ones still match. `tracegen scenarios verify|list` is the command-line face of both.

Runners: Python runs with the interpreter running tracegen (pytest), JavaScript with `node --test`
(Node's built-in runner), Rust with `cargo test --offline` in one shared target folder. A runner
that is not installed is a reported failure, never a skip.
"""

from __future__ import annotations

import contextlib
import difflib
import fcntl
import importlib.util
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from gen_service.core.scenarios import FixEdit, Scenario, apply_edits
from gen_service.paths import scenarios_dir

__all__ = [
    "CAPTURE_FAILING",
    "CAPTURE_PASSING",
    "LANGUAGES",
    "Runner",
    "ScenarioSpec",
    "TestRun",
    "VerifyResult",
    "cargo_target_dir",
    "load_project",
    "load_scenario",
    "load_scenarios",
    "load_spec",
    "load_specs",
    "normalize_output",
    "resolve_runner",
    "run_tests",
    "scenarios",
    "verify_project",
    "verify_scenario",
]

SPEC_FILE = "scenario.toml"
REPO_DIR = "repo"
CAPTURED_DIR = "captured"
CAPTURE_FAILING = "failing.txt"
CAPTURE_PASSING = "passing.txt"
LANGUAGES = ("python", "javascript", "rust")
CARGO_TARGET_ENV = "TRACEGEN_CARGO_TARGET_DIR"  # overrides where the shared Rust build lives

# Folders that hold tool caches or build output, never project source.
_SKIPPED_DIRS = frozenset(
    {"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache", ".git", "node_modules", "target"}
)
_SKIPPED_SUFFIXES = (".pyc", ".pyo")
_SKIPPED_FILES = frozenset({"Cargo.lock"})  # written by cargo on every run; nothing is locked
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_KNOWN_KEYS = frozenset(
    {"language", "test_command", "archetype", "held_out", "task", "relevant_files", "fix", "variant"}
)
_VARIANT_KEYS = frozenset({"name", "archetype", "task", "relevant_files", "bug", "fix"})
_EDIT_KEYS = frozenset({"path", "old", "new"})
_PYTHON_NAMES = frozenset({"python", "python3"})


@dataclass(frozen=True, slots=True)
class ScenarioSpec:
    """One scenario as declared on disk, before (or without) its captures."""

    id: str  # "<project>" or "<project>/<variant>"
    project: str
    directory: Path  # the project folder
    language: str
    test_command: str
    archetype: str
    held_out: bool
    task: str
    relevant_files: tuple[str, ...]
    files: Mapping[str, str]  # relative posix path -> text, bug applied
    fix: tuple[FixEdit, ...]
    variant: str | None = None  # None: the project's single scenario

    @property
    def capture_dir(self) -> Path:
        base = self.directory / CAPTURED_DIR
        return base / self.variant if self.variant else base

    @property
    def capture_rel(self) -> str:
        """The capture folder relative to the project, for messages."""
        return f"{CAPTURED_DIR}/{self.variant}" if self.variant else CAPTURED_DIR


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """What `verify_scenario` found for one scenario.

    `ok` means: the tests failed on the buggy tree, passed after the fix, and (without capture) the
    committed captures match the fresh run up to timings, build hashes and object addresses.
    """

    scenario_id: str
    ok: bool
    problems: tuple[str, ...] = ()  # one sentence each; empty when ok
    failing_output: str = ""  # fresh output on the buggy tree
    passing_output: str = ""  # fresh output after the fix
    written: tuple[str, ...] = ()  # capture files (re)written, relative to the bank
    language: str = ""  # "" when the project did not even load
    project: str = ""

    @property
    def reason(self) -> str:
        return "; ".join(self.problems)


# --------------------------------------------------------------------------------------------------
# Loading


def _require(data: Mapping[str, Any], key: str, kind: type, where: str | Path) -> Any:
    if key not in data:
        raise ValueError(f"{where}: missing required field {key!r}")
    value = data[key]
    # bool is an int subclass; a field that wants str/list must not accept true/false and vice versa
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise ValueError(f"{where}: field {key!r} must be a {kind.__name__}, got {type(value).__name__}")
    return value


def _optional(data: Mapping[str, Any], key: str, kind: type, where: str | Path) -> Any:
    return _require(data, key, kind, where) if key in data else None


def _read_repo(repo: Path) -> dict[str, str]:
    files: dict[str, str] = {}
    for root, dirnames, filenames in os.walk(repo):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIPPED_DIRS)
        for name in sorted(filenames):
            if name.endswith(_SKIPPED_SUFFIXES) or name in _SKIPPED_FILES:
                continue
            path = Path(root) / name
            try:
                text = path.read_text(encoding="utf-8")
            except UnicodeDecodeError as exc:
                raise ValueError(f"{path}: not UTF-8 text ({exc.reason})") from None
            files[path.relative_to(repo).as_posix()] = text
    return dict(sorted(files.items()))


def _parse_edits(
    raw: Any, where: str, table: str, files: Mapping[str, str]
) -> tuple[tuple[FixEdit, ...], dict[str, str]]:
    """Edits of one `[[table]]` list, checked to apply in order; returns them and the edited tree."""
    if not isinstance(raw, list) or not raw:
        raise ValueError(f"{where}: [[{table}]] must list at least one edit")
    edits: list[FixEdit] = []
    for number, item in enumerate(raw, start=1):
        label = f"{where}: [[{table}]] #{number}"
        if not isinstance(item, dict):
            raise ValueError(f"{label} must be a table with path, old, new")
        extra = set(item) - _EDIT_KEYS
        if extra:
            raise ValueError(f"{label} has unknown field(s) {sorted(extra)}")
        path, old, new = (_require(item, key, str, where) for key in ("path", "old", "new"))
        if path not in files:
            raise ValueError(f"{label}: path {path!r} is not a file of repo/")
        if not old:
            raise ValueError(f"{label}: 'old' is empty")
        if old == new:
            raise ValueError(f"{label}: 'old' equals 'new', the edit changes nothing")
        edits.append(FixEdit(path=path, old=old, new=new))
    # Edits apply in order, so each `old` must be unique in the file as the earlier edits leave it.
    current = dict(files)
    for number, edit in enumerate(edits, start=1):
        count = current[edit.path].count(edit.old)
        if count != 1:
            raise ValueError(
                f"{where}: [[{table}]] #{number}: 'old' must occur exactly once in {edit.path}, "
                f"found {count} times"
            )
        current = apply_edits(current, [edit])
    return tuple(edits), current


def _relevant(raw: list[Any], where: Path, files: Mapping[str, str]) -> tuple[str, ...]:
    for path in raw:
        if not isinstance(path, str) or path not in files:
            raise ValueError(f"{where}: relevant_files names {path!r}, which is not a file of repo/")
    return tuple(raw)


def _text(value: str, key: str, where: str | Path) -> str:
    if not value.strip():
        raise ValueError(f"{where}: {key!r} is empty")
    return value.strip()


def _load_variants(
    raw: Any, data: Mapping[str, Any], common: dict[str, Any], spec_path: Path, files: dict[str, str]
) -> tuple[ScenarioSpec, ...]:
    if "fix" in data:
        raise ValueError(
            f"{spec_path}: a project with [[variant]] tables has no top-level [[fix]] "
            "(repo/ holds the fixed project; each variant has its own bug and fix)"
        )
    if not isinstance(raw, list) or not raw:
        raise ValueError(f"{spec_path}: [[variant]] must list at least one variant")
    default_archetype = _optional(data, "archetype", str, spec_path)
    default_task = _optional(data, "task", str, spec_path)
    specs: list[ScenarioSpec] = []
    seen: set[str] = set()
    for number, item in enumerate(raw, start=1):
        if not isinstance(item, dict):
            raise ValueError(f"{spec_path}: [[variant]] #{number} must be a table")
        name = _require(item, "name", str, f"{spec_path}: [[variant]] #{number}")
        where = f"{spec_path}: variant {name!r}"
        if not _NAME.match(name):
            raise ValueError(f"{where}: variant names are lower_snake_case")
        if name in seen:
            raise ValueError(f"{where}: duplicate variant name")
        seen.add(name)
        extra = set(item) - _VARIANT_KEYS
        if extra:
            raise ValueError(f"{where}: unknown field(s) {sorted(extra)}")
        archetype = _optional(item, "archetype", str, where) or default_archetype
        task = _optional(item, "task", str, where) or default_task
        if archetype is None:
            raise ValueError(f"{where}: missing required field 'archetype' (none at the top level either)")
        if task is None:
            raise ValueError(f"{where}: missing required field 'task' (none at the top level either)")
        relevant = common["relevant_files"]
        if "relevant_files" in item:
            relevant = _relevant(_require(item, "relevant_files", list, where), spec_path, files)
        bug, broken = _parse_edits(item.get("bug"), where, "variant.bug", files)
        if "fix" in item:
            fix, _ = _parse_edits(item["fix"], where, "variant.fix", broken)
        else:
            # The default fix undoes the bug: each edit reversed, last one first.
            undo = [{"path": e.path, "old": e.new, "new": e.old} for e in reversed(bug)]
            fix, _ = _parse_edits(undo, where, "variant.bug reversed", broken)
        specs.append(
            ScenarioSpec(
                id=f"{common['project']}/{name}",
                archetype=_text(archetype, "archetype", where),
                task=_text(task, "task", where),
                relevant_files=relevant,
                files=broken,
                fix=fix,
                variant=name,
                **{k: v for k, v in common.items() if k != "relevant_files"},
            )
        )
    return tuple(specs)


def load_project(project_dir: Path) -> tuple[ScenarioSpec, ...]:
    """Every scenario of one project folder (one, or one per variant, in declared order).

    Raises ValueError naming the offending file (and variant).
    """
    project = project_dir.name
    spec_path = project_dir / SPEC_FILE
    if not _NAME.match(project):
        raise ValueError(f"{project_dir}: project folder names are lower_snake_case")
    if not spec_path.is_file():
        raise ValueError(f"{spec_path}: missing (every project folder needs a {SPEC_FILE})")
    try:
        data = tomllib.loads(spec_path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{spec_path}: invalid TOML: {exc}") from None
    unknown = set(data) - _KNOWN_KEYS
    if unknown:
        raise ValueError(f"{spec_path}: unknown field(s) {sorted(unknown)}")
    language = _require(data, "language", str, spec_path)
    if language not in LANGUAGES:
        raise ValueError(f"{spec_path}: language {language!r} is not one of {', '.join(LANGUAGES)}")
    test_command = _text(_require(data, "test_command", str, spec_path), "test_command", spec_path)
    held_out = _require(data, "held_out", bool, spec_path)
    relevant_raw = _require(data, "relevant_files", list, spec_path)
    repo = project_dir / REPO_DIR
    if not repo.is_dir():
        raise ValueError(f"{repo}: missing (the project's files live in {REPO_DIR}/)")
    files = _read_repo(repo)
    if not files:
        raise ValueError(f"{repo}: no files")
    common: dict[str, Any] = {
        "project": project,
        "directory": project_dir,
        "language": language,
        "test_command": test_command,
        "held_out": held_out,
        "relevant_files": _relevant(relevant_raw, spec_path, files),
    }
    if "variant" in data:
        return _load_variants(data["variant"], data, common, spec_path, files)
    archetype = _require(data, "archetype", str, spec_path)
    task = _text(_require(data, "task", str, spec_path), "task", spec_path)
    fix, _ = _parse_edits(data.get("fix"), str(spec_path), "fix", files)
    return (ScenarioSpec(id=project, archetype=archetype, task=task, files=files, fix=fix, **common),)


def load_spec(project_dir: Path) -> ScenarioSpec:
    """The single scenario of a project without variants. Raises ValueError naming the file."""
    specs = load_project(project_dir)
    if len(specs) != 1 or specs[0].variant is not None:
        names = ", ".join(s.id for s in specs)
        raise ValueError(f"{project_dir / SPEC_FILE}: has variants ({names}); use load_project")
    return specs[0]


def _project_dirs(directory: Path) -> list[Path]:
    if not directory.is_dir():
        raise ValueError(f"{directory}: scenario bank folder not found")
    dirs = []
    for child in sorted(directory.iterdir()):
        # "_shared" or ".cache"-style folders are not projects
        if child.is_dir() and not child.name.startswith((".", "_")):
            dirs.append(child)
    return dirs


def load_specs(directory: Path | None = None) -> dict[str, ScenarioSpec]:
    """Every scenario's spec, by id, in id order. Needs no captures."""
    bank = directory if directory is not None else scenarios_dir()
    specs = [spec for d in _project_dirs(bank) for spec in load_project(d)]
    return {spec.id: spec for spec in sorted(specs, key=lambda s: s.id)}


def _read_capture(spec: ScenarioSpec, name: str) -> str:
    path = spec.capture_dir / name
    if not path.is_file():
        raise ValueError(f"{path}: missing capture; run `tracegen scenarios verify --capture`")
    return path.read_text(encoding="utf-8")


def _to_scenario(spec: ScenarioSpec) -> Scenario:
    return Scenario(
        id=spec.id,
        project=spec.project,
        language=spec.language,
        test_command=spec.test_command,
        task=spec.task,
        files=spec.files,
        fix=spec.fix,
        failing_output=_read_capture(spec, CAPTURE_FAILING),
        passing_output=_read_capture(spec, CAPTURE_PASSING),
        held_out=spec.held_out,
        archetype=spec.archetype,
        relevant_files=spec.relevant_files,
    )


def load_scenario(project_dir: Path) -> Scenario:
    """A project without variants as a `Scenario`, captures included. Raises ValueError naming the file."""
    return _to_scenario(load_spec(project_dir))


def load_scenarios(directory: Path | None = None) -> dict[str, Scenario]:
    """All scenarios of the bank (default: the installed `scenarios/`), by id, in id order.

    Held-out scenarios are included; callers that generate must filter on `held_out`.
    """
    return {sid: _to_scenario(spec) for sid, spec in load_specs(directory).items()}


# --------------------------------------------------------------------------------------------------
# Runners: how each language's test command runs on this machine


@dataclass(frozen=True, slots=True)
class Runner:
    """A test command resolved on this machine: what to execute, in which environment.

    `stable_workdir`, when set, is where the project must be written before running (Rust: a fixed
    path keeps cargo's build hashes, and so the shared target folder, from growing on every run).
    """

    language: str
    argv: tuple[str, ...]
    env: Mapping[str, str]
    scrub: tuple[str, ...] = ()  # absolute folders the tool prints, replaced by their short form
    stable_workdir: Path | None = None
    failed_exit: int = 1  # the exit status of "tests ran and some failed"
    failed_marker: re.Pattern[str] | None = None  # and what the output must show then

    def tests_failed(self, returncode: int, output: str) -> bool:
        """True when the run is an ordinary test failure (not a crash, build or usage error)."""
        if returncode != self.failed_exit:
            return False
        return self.failed_marker is None or bool(self.failed_marker.search(output))


@dataclass(frozen=True, slots=True)
class TestRun:
    """One run of a test command: its exit status (None: timed out) and its scrubbed output."""

    __test__ = False  # not a pytest test class, despite the name

    returncode: int | None
    output: str


# Variables that change how runners print, whatever the project: terminal size and colour, and the
# CI markers (pytest prints full assertion diffs when `CI` or `BUILD_NUMBER` is set).
_HOST_OUTPUT_SWITCHES = frozenset({"COLUMNS", "LINES", "FORCE_COLOR", "CI", "BUILD_NUMBER"})


def _base_env() -> dict[str, str]:
    # Drop what would make the host's configuration leak into the project's run: extra plugins,
    # addopts, import paths, node options, rust flags and backtrace settings.
    dropped = ("PYTEST_", "PYTHON", "NODE_", "RUST_", "RUSTFLAGS", "RUSTDOCFLAGS", "CARGO_TERM")
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(dropped) and key not in _HOST_OUTPUT_SWITCHES
    }
    env.update({"NO_COLOR": "1", "COLUMNS": "80"})
    return env


def cargo_target_dir() -> Path:
    """The build folder shared by every Rust run: `$TRACEGEN_CARGO_TARGET_DIR`, else under the temp dir."""
    configured = os.environ.get(CARGO_TARGET_ENV, "").strip()
    if configured:
        return Path(configured).expanduser()
    return Path(tempfile.gettempdir()) / "tracegen-cargo-target"


def _find_cargo(env: Mapping[str, str]) -> Path | None:
    found = shutil.which("cargo", path=env.get("PATH"))
    if found:
        return Path(found)
    homes = []
    if env.get("CARGO_HOME"):
        homes.append(Path(env["CARGO_HOME"]))
    if env.get("HOME"):
        homes.append(Path(env["HOME"]) / ".cargo")
    for home in homes:
        candidate = home / "bin" / "cargo"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def _python_runner(argv: list[str], env: dict[str, str]) -> Runner:
    # The same interpreter that runs tracegen: its pytest, its version, no PATH lookup.
    argv[0] = sys.executable
    if argv[1:3] == ["-m", "pytest"]:
        if importlib.util.find_spec("pytest") is None:
            raise RuntimeError(f"toolchain missing: pytest is not installed for {sys.executable}")
        argv[3:3] = ["-p", "no:cacheprovider"]
    env.update(
        {
            "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONHASHSEED": "0",
            "PYTHONUTF8": "1",
            "PYTHONIOENCODING": "utf-8",
            "PY_COLORS": "0",
        }
    )
    return Runner("python", tuple(argv), env, failed_exit=1)


def _javascript_runner(argv: list[str], env: dict[str, str]) -> Runner:
    found = shutil.which(argv[0], path=env.get("PATH"))
    if found is None:
        raise RuntimeError(f"toolchain missing: {argv[0]!r} (javascript) is not on PATH")
    argv[0] = found
    env["NODE_DISABLE_COLORS"] = "1"
    # node --test exits 1 for failing tests and for a file that does not even load; the latter
    # shows no "not ok" for a named test inside it, so require a failing test and a summary.
    return Runner(
        "javascript", tuple(argv), env, failed_exit=1, failed_marker=re.compile(r"^# fail [1-9]", re.M)
    )


def _rust_runner(argv: list[str], env: dict[str, str], stable_key: str) -> Runner:
    cargo = _find_cargo(env)
    if cargo is None:
        raise RuntimeError(
            "toolchain missing: 'cargo' (rust) is not on PATH, nor in $CARGO_HOME/bin or ~/.cargo/bin"
        )
    argv[0] = str(cargo)
    if "test" in argv and "--offline" not in argv:
        argv.insert(argv.index("test") + 1, "--offline")  # no crates come from outside
    target = cargo_target_dir()
    env.update(
        {
            # rustup's proxies find rustc beside cargo
            "PATH": os.pathsep.join([str(cargo.parent), env.get("PATH", "")]),
            "CARGO_TARGET_DIR": str(target),
            "CARGO_TERM_COLOR": "never",
            "CARGO_TERM_PROGRESS_WHEN": "never",
            "CARGO_INCREMENTAL": "0",
            "RUST_BACKTRACE": "0",
            "RUST_TEST_THREADS": "1",  # tests report in name order, not in completion order
        }
    )
    workdir = target.parent / f"{target.name}-src" / stable_key
    return Runner(
        "rust",
        tuple(argv),
        env,
        scrub=(str(target),),
        stable_workdir=workdir,
        failed_exit=101,  # cargo's exit for failing tests, and for a build error: tell them apart
        failed_marker=re.compile(r"^test result: FAILED\.", re.M),
    )


def resolve_runner(language: str, test_command: str, *, key: str = "scratch") -> Runner:
    """The runner for a scenario's test command on this machine.

    `key` names the scenario (Rust builds in a fixed folder per key). Raises RuntimeError starting
    with "toolchain missing" when the language's tool is not installed.
    """
    argv = shlex.split(test_command)
    if not argv:
        raise RuntimeError("empty test command")
    env = _base_env()
    if argv[0] in _PYTHON_NAMES:
        return _python_runner(argv, env)
    if language == "javascript" and argv[0] == "node":
        return _javascript_runner(argv, env)
    elif language == "rust" and argv[0] == "cargo":
        return _rust_runner(argv, env, re.sub(r"[^a-z0-9_]+", "__", key))
    found = shutil.which(argv[0], path=env.get("PATH"))
    if found is None:
        raise RuntimeError(f"toolchain missing: {argv[0]!r} ({language}) is not on PATH")
    return Runner(language, tuple(argv), env, failed_exit=1)


def _runner_argv(spec: ScenarioSpec) -> list[str]:
    """The command to run, resolved on this machine. Raises RuntimeError when the toolchain is missing."""
    return list(resolve_runner(spec.language, spec.test_command, key=spec.id).argv)


_DURATION = re.compile(r"\bin \d+(?:\.\d+)?s\b(?: \(\d+:\d\d:\d\d\))?")
_DURATION_MS = re.compile(r"\bduration_ms:? \d+(?:\.\d+)?")
_ADDRESS = re.compile(r"\b0x[0-9a-fA-F]{6,}\b")
_BUILD_HASH = re.compile(r"(target/(?:debug|release)/deps/[A-Za-z0-9_]+)-[0-9a-f]{16}\b")
_THREAD_ID = re.compile(r"^(thread '[^']*') \(\d+\)", re.M)
_CARGO_LOCK_WAIT = re.compile(r"^ *Blocking waiting for file lock.*\n", re.M)


def _scrub(output: str, workdir: Path, runner: Runner) -> str:
    """What a run printed, minus what only this machine prints: its folders, thread ids, lock waits."""
    # The project folder first: Rust's lives beside the target folder and shares its prefix.
    for form in dict.fromkeys([str(workdir), os.path.realpath(workdir)]):
        # node prints file URLs, pytest and cargo plain paths; all become relative to the project
        output = output.replace("file://" + form + os.sep, "").replace(form + os.sep, "")
        output = output.replace(form, ".")
    for folder in runner.scrub:
        for form in dict.fromkeys([folder, os.path.realpath(folder)]):
            output = output.replace(form, "target")
    output = _THREAD_ID.sub(r"\1", output)
    return _CARGO_LOCK_WAIT.sub("", output)


def normalize_output(text: str) -> str:
    """Output with run-to-run noise (durations, addresses, build hashes, trailing blanks) made canonical.

    Captures are stored as really printed (minus machine paths); comparisons go through this function.
    """
    text = _DURATION.sub("in <duration>", text)
    text = _DURATION_MS.sub("duration_ms <duration>", text)
    text = _ADDRESS.sub("0x<address>", text)
    text = _BUILD_HASH.sub(r"\1-<hash>", text)
    text = _THREAD_ID.sub(r"\1", text)
    return "\n".join(line.rstrip() for line in text.strip("\n").splitlines()) + "\n"


def _write_tree(root: Path, files: Mapping[str, str]) -> None:
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    for rel, text in files.items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")


def _execute(runner: Runner, cwd: Path, timeout_s: float) -> TestRun:
    with subprocess.Popen(
        list(runner.argv),
        cwd=cwd,
        env=dict(runner.env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, so a timeout kills the whole tree
    ) as proc:
        try:
            raw, _ = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            raw, _ = proc.communicate()
            return TestRun(None, _scrub(raw.decode("utf-8", "replace"), cwd, runner))
    return TestRun(proc.returncode, _scrub(raw.decode("utf-8", "replace"), cwd, runner))


@contextlib.contextmanager
def _workdir(runner: Runner, project: str) -> Iterator[Path]:
    """Where to write the project: a fresh temp folder, or the runner's fixed folder under a lock."""
    if runner.stable_workdir is None:
        with tempfile.TemporaryDirectory(prefix="tracegen-scenario-") as tmp:
            yield Path(tmp) / project
        return
    folder = runner.stable_workdir
    folder.parent.mkdir(parents=True, exist_ok=True)
    # Two verifications of the same scenario (two engineers, a test run) must not share the folder.
    with open(folder.parent / f"{folder.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield folder
        finally:
            shutil.rmtree(folder, ignore_errors=True)
            fcntl.flock(lock, fcntl.LOCK_UN)


def run_tests(
    runner: Runner, trees: Sequence[Mapping[str, str]], *, project: str, timeout_s: float
) -> list[TestRun]:
    """Write each tree in turn into one scratch folder and run the tests there; one result per tree.

    The folder is removed afterwards. Output is scrubbed of the folder's path (runs happen from its
    root, so paths are relative anyway) and of other machine-specific folders.
    """
    runs: list[TestRun] = []
    with _workdir(runner, project) as workdir:
        for files in trees:
            _write_tree(workdir, files)
            runs.append(_execute(runner, workdir, timeout_s))
    return runs


# --------------------------------------------------------------------------------------------------
# Verification


def _first_difference(expected: str, actual: str) -> str:
    diff = list(difflib.unified_diff(expected.splitlines(), actual.splitlines(), lineterm="", n=0))
    changed = [line for line in diff[2:] if line.startswith(("-", "+")) and not line.startswith("@@")]
    return " | ".join(changed[:2]) if changed else "whitespace differs"


def _tail(text: str, lines: int = 3) -> str:
    return " / ".join(text.strip().splitlines()[-lines:])


def _verify_spec(spec: ScenarioSpec, *, capture: bool, timeout_s: float) -> VerifyResult:
    def failed(*problems: str) -> VerifyResult:
        return VerifyResult(spec.id, False, problems, language=spec.language, project=spec.project)

    try:
        runner = resolve_runner(spec.language, spec.test_command, key=spec.id)
    except RuntimeError as exc:
        return failed(str(exc))
    trees = [spec.files, apply_edits(spec.files, spec.fix)]
    before, after = run_tests(runner, trees, project=spec.project, timeout_s=timeout_s)

    problems: list[str] = []
    if before.returncode is None:
        problems.append(f"buggy tree: tests timed out after {timeout_s:g}s")
    elif not runner.tests_failed(before.returncode, before.output):
        problems.append(
            f"buggy tree: tests must fail (exit {runner.failed_exit}) but exited {before.returncode}: "
            f"{_tail(before.output)}"
        )
    if after.returncode is None:
        problems.append(f"fixed tree: tests timed out after {timeout_s:g}s")
    elif after.returncode != 0:
        problems.append(f"fixed tree: tests must pass but exited {after.returncode}: {_tail(after.output)}")

    written: list[str] = []
    captures = ((CAPTURE_FAILING, before.output), (CAPTURE_PASSING, after.output))
    if problems:
        pass  # never capture, nor compare, the output of a scenario that does not behave
    elif capture:
        for name, fresh in captures:
            path = spec.capture_dir / name
            old = path.read_text(encoding="utf-8") if path.is_file() else None
            if old is None or normalize_output(old) != normalize_output(fresh):
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(fresh, encoding="utf-8")
                written.append(f"{spec.project}/{spec.capture_rel}/{name}")
    else:
        for name, fresh in captures:
            path = spec.capture_dir / name
            rel = f"{spec.capture_rel}/{name}"
            if not path.is_file():
                problems.append(f"{rel} is missing; run with --capture")
                continue
            committed = path.read_text(encoding="utf-8")
            if normalize_output(committed) != normalize_output(fresh):
                problems.append(f"{rel} differs from a fresh run: {_first_difference(committed, fresh)}")
    return VerifyResult(
        spec.id,
        ok=not problems,
        problems=tuple(problems),
        failing_output=before.output,
        passing_output=after.output,
        written=tuple(written),
        language=spec.language,
        project=spec.project,
    )


def _declared_language(project_dir: Path) -> str:
    # For reporting a project that does not load: its language, if the TOML says that much.
    try:
        value = tomllib.loads((project_dir / SPEC_FILE).read_text(encoding="utf-8")).get("language")
    except (OSError, tomllib.TOMLDecodeError):
        return ""
    return value if isinstance(value, str) else ""


def verify_project(
    project_dir: Path,
    *,
    capture: bool,
    timeout_s: float = 120.0,
    variants: Iterable[str] | None = None,
    progress: Callable[[VerifyResult], None] | None = None,
) -> tuple[VerifyResult, ...]:
    """`verify_scenario` for every scenario of a project (or only the named variants).

    A project that does not load yields one failed result with the project's name as id.
    """
    project = project_dir.name
    try:
        specs = load_project(project_dir)
    except ValueError as exc:
        result = VerifyResult(
            project, ok=False, problems=(str(exc),), language=_declared_language(project_dir), project=project
        )
        if progress:
            progress(result)
        return (result,)
    wanted = list(variants) if variants is not None else None
    if wanted is not None:
        known = {s.variant for s in specs}
        missing = [name for name in wanted if name not in known]
        if missing:
            problem = f"{project}: no variant(s) {', '.join(missing)}"
            result = VerifyResult(project, False, (problem,), language=specs[0].language, project=project)
            if progress:
                progress(result)
            return (result,)
        specs = tuple(s for s in specs if s.variant in wanted)
    results = []
    for spec in specs:
        result = _verify_spec(spec, capture=capture, timeout_s=timeout_s)
        if progress:
            progress(result)
        results.append(result)
    return tuple(results)


def verify_scenario(
    scenario_dir: Path, *, capture: bool, timeout_s: float = 120.0, variant: str | None = None
) -> VerifyResult:
    """Run a scenario's tests on the buggy tree (must fail) and on the fixed tree (must pass).

    `scenario_dir` is a project folder; `variant` names one of its variants (required when it has
    several). The project runs in a scratch copy, Python with the interpreter running tracegen.
    With `capture=True` the fresh outputs become the bank's captures (a file whose content only
    differs by timings or build hashes is left untouched); otherwise they are compared with the
    committed captures. Never raises for a broken scenario: every problem is reported in the result.
    """
    project = scenario_dir.name
    try:
        specs = load_project(scenario_dir)
    except ValueError as exc:
        return VerifyResult(
            project,
            ok=False,
            problems=(str(exc),),
            language=_declared_language(scenario_dir),
            project=project,
        )
    if variant is None and (len(specs) != 1 or specs[0].variant is not None):
        names = ", ".join(s.variant or "" for s in specs)
        return VerifyResult(
            project,
            ok=False,
            problems=(f"{project} has variants ({names}); name one",),
            language=specs[0].language,
            project=project,
        )
    chosen = [s for s in specs if s.variant == variant]
    if not chosen:
        return VerifyResult(
            project,
            False,
            (f"{project}: no variant {variant!r}",),
            language=specs[0].language,
            project=project,
        )
    return _verify_spec(chosen[0], capture=capture, timeout_s=timeout_s)


# --------------------------------------------------------------------------------------------------
# Command line


def _bank_option(function: Any) -> Any:
    return click.option(
        "--bank",
        "bank",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="Scenario bank folder (default: the installed scenarios/).",
    )(function)


@dataclass
class _Selection:
    directory: Path
    variants: list[str] | None = field(default=None)  # None: all of the project's scenarios


def _select(bank: Path, names: Iterable[str]) -> list[_Selection]:
    dirs = {d.name: d for d in _project_dirs(bank)}
    chosen: dict[str, _Selection] = {}
    unknown = []
    for name in dict.fromkeys(names):
        project, _, variant = name.partition("/")
        if project not in dirs:
            unknown.append(name)
            continue
        selection = chosen.setdefault(project, _Selection(dirs[project], [] if variant else None))
        if variant and selection.variants is not None:
            selection.variants.append(variant)
        elif not variant:
            selection.variants = None  # the whole project was asked for too
    if unknown:
        raise click.BadParameter(
            f"unknown project(s) {', '.join(unknown)}; known: {', '.join(sorted(dirs))}",
            param_hint="--project",
        )
    return list(chosen.values()) if chosen else [_Selection(d) for d in dirs.values()]


@click.group()
def scenarios() -> None:
    """Inspect the scenario bank and verify its captured test output."""


@scenarios.command("list")
@click.option(
    "--held-out", "held_out_only", is_flag=True, help="Only the held-out scenarios (for evaluation)."
)
@_bank_option
def list_command(held_out_only: bool, bank: Path | None) -> None:
    """One line per scenario: id, language, archetype, held-out flag."""
    try:
        specs = load_specs(bank)
    except (ValueError, FileNotFoundError) as exc:
        raise click.ClickException(str(exc)) from None
    shown = [spec for spec in specs.values() if spec.held_out or not held_out_only]
    width = max([16, *(len(spec.id) + 1 for spec in shown)])
    kind_width = max([24, *(len(spec.archetype) for spec in shown)])
    for spec in shown:
        flag = "held-out" if spec.held_out else "-"
        click.echo(f"{spec.id:<{width}} {spec.language:<12} {spec.archetype:<{kind_width}} {flag}")


def _summary_lines(results: Sequence[VerifyResult]) -> list[str]:
    languages = [lang for lang in LANGUAGES if any(r.language == lang for r in results)]
    languages += sorted({r.language for r in results} - set(languages))
    lines = []
    for language in languages:
        mine = [r for r in results if r.language == language]
        ok = sum(r.ok for r in mine)
        projects = len({r.project for r in mine})
        label = language or "unknown"
        lines.append(f"{label}: {projects} projects, {len(mine)} scenarios, {ok} ok, {len(mine) - ok} failed")
    ok = sum(r.ok for r in results)
    lines.append(f"{ok} ok, {len(results) - ok} failed")
    return lines


@scenarios.command("verify")
@click.option("--capture", is_flag=True, help="Write the fresh outputs into the bank's captured/ files.")
@click.option(
    "--project",
    "projects",
    multiple=True,
    metavar="NAME[/VARIANT]",
    help="Only this project, or one variant of it (repeatable).",
)
@click.option(
    "--timeout",
    "timeout_s",
    type=float,
    default=120.0,
    show_default=True,
    help="Seconds allowed for one test run.",
)
@_bank_option
def verify_command(capture: bool, projects: tuple[str, ...], timeout_s: float, bank: Path | None) -> None:
    """Check every scenario fails before its fix and passes after (and that captures match)."""
    try:
        bank_dir = bank if bank is not None else scenarios_dir()
        selections = _select(bank_dir, projects)
    except (ValueError, FileNotFoundError) as exc:
        raise click.ClickException(str(exc)) from None

    def report(result: VerifyResult) -> None:
        if result.ok:
            note = f" (wrote {', '.join(result.written)})" if result.written else ""
            click.echo(f"ok      {result.scenario_id}{note}")
        else:
            click.echo(f"FAILED  {result.scenario_id}: {result.reason}")

    results: list[VerifyResult] = []
    for selection in selections:
        results += verify_project(
            selection.directory,
            capture=capture,
            timeout_s=timeout_s,
            variants=selection.variants,
            progress=report,
        )
    for line in _summary_lines(results):
        click.echo(line)
    if not all(r.ok for r in results):
        sys.exit(1)
