"""The scenario bank on disk: loading it, and capturing/verifying its real test output.

Layout (documented for humans in `scenarios/README.md`)::

    scenarios/<project>/scenario.toml      language, test_command, archetype, held_out, task,
                                           relevant_files, [[fix]] edits
    scenarios/<project>/repo/              the project with the bug in it (tests included)
    scenarios/<project>/captured/failing.txt   real output of the tests on repo/
    scenarios/<project>/captured/passing.txt   real output after applying [[fix]]

`load_scenarios` turns the bank into `Scenario` values (pure data, see `gen_service.core.scenarios`)
and never runs anything. `verify_scenario` runs a project's tests in a temporary copy, before and
after the reference fix, and either writes the captures (`capture=True`) or checks the committed ones
still match. `tracegen scenarios verify|list` is the command-line face of both.
"""

from __future__ import annotations

import difflib
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
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from gen_service.core.scenarios import FixEdit, Scenario, apply_edits
from gen_service.paths import scenarios_dir

__all__ = [
    "CAPTURE_FAILING",
    "CAPTURE_PASSING",
    "ScenarioSpec",
    "VerifyResult",
    "load_scenario",
    "load_scenarios",
    "load_spec",
    "normalize_output",
    "scenarios",
    "verify_scenario",
]

SPEC_FILE = "scenario.toml"
REPO_DIR = "repo"
CAPTURED_DIR = "captured"
CAPTURE_FAILING = "failing.txt"
CAPTURE_PASSING = "passing.txt"

# Folders that hold tool caches or build output, never project source.
_SKIPPED_DIRS = frozenset(
    {"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache", ".git", "node_modules", "target"}
)
_SKIPPED_SUFFIXES = (".pyc", ".pyo")
_PROJECT_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_KNOWN_KEYS = frozenset(
    {"language", "test_command", "archetype", "held_out", "task", "relevant_files", "fix"}
)
_FIX_KEYS = frozenset({"path", "old", "new"})
_PYTHON_NAMES = frozenset({"python", "python3"})


@dataclass(frozen=True, slots=True)
class ScenarioSpec:
    """One project as declared on disk, before (or without) its captures."""

    id: str
    project: str
    directory: Path
    language: str
    test_command: str
    archetype: str
    held_out: bool
    task: str
    relevant_files: tuple[str, ...]
    files: Mapping[str, str]  # relative posix path -> text, bug applied
    fix: tuple[FixEdit, ...]


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """What `verify_scenario` found for one scenario.

    `ok` means: the tests failed on the buggy tree, passed after the fix, and (without capture) the
    committed captures match the fresh run up to timings and object addresses.
    """

    scenario_id: str
    ok: bool
    problems: tuple[str, ...] = ()  # one sentence each; empty when ok
    failing_output: str = ""  # fresh output on the buggy tree
    passing_output: str = ""  # fresh output after the fix
    written: tuple[str, ...] = ()  # capture files (re)written, relative to the bank

    @property
    def reason(self) -> str:
        return "; ".join(self.problems)


# --------------------------------------------------------------------------------------------------
# Loading


def _require(data: Mapping[str, Any], key: str, kind: type, where: Path) -> Any:
    if key not in data:
        raise ValueError(f"{where}: missing required field {key!r}")
    value = data[key]
    # bool is an int subclass; a field that wants str/list must not accept true/false and vice versa
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise ValueError(f"{where}: field {key!r} must be a {kind.__name__}, got {type(value).__name__}")
    return value


def _read_repo(repo: Path) -> dict[str, str]:
    files: dict[str, str] = {}
    for root, dirnames, filenames in os.walk(repo):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIPPED_DIRS)
        for name in sorted(filenames):
            if name.endswith(_SKIPPED_SUFFIXES):
                continue
            path = Path(root) / name
            try:
                text = path.read_text(encoding="utf-8")
            except UnicodeDecodeError as exc:
                raise ValueError(f"{path}: not UTF-8 text ({exc.reason})") from None
            files[path.relative_to(repo).as_posix()] = text
    return dict(sorted(files.items()))


def _parse_fix(raw: Any, where: Path, files: Mapping[str, str]) -> tuple[FixEdit, ...]:
    if not isinstance(raw, list) or not raw:
        raise ValueError(f"{where}: [[fix]] must list at least one edit")
    edits: list[FixEdit] = []
    for number, item in enumerate(raw, start=1):
        label = f"{where}: [[fix]] #{number}"
        if not isinstance(item, dict):
            raise ValueError(f"{label} must be a table with path, old, new")
        extra = set(item) - _FIX_KEYS
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
                f"{where}: [[fix]] #{number}: 'old' must occur exactly once in {edit.path}, "
                f"found {count} times"
            )
        current = apply_edits(current, [edit])
    return tuple(edits)


def load_spec(project_dir: Path) -> ScenarioSpec:
    """Read one project's scenario.toml and repo/. Raises ValueError naming the offending file."""
    project = project_dir.name
    spec_path = project_dir / SPEC_FILE
    if not _PROJECT_NAME.match(project):
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
    test_command = _require(data, "test_command", str, spec_path)
    archetype = _require(data, "archetype", str, spec_path)
    held_out = _require(data, "held_out", bool, spec_path)
    task = _require(data, "task", str, spec_path).strip()
    relevant = _require(data, "relevant_files", list, spec_path)
    if not task:
        raise ValueError(f"{spec_path}: 'task' is empty")
    if not test_command.strip():
        raise ValueError(f"{spec_path}: 'test_command' is empty")
    repo = project_dir / REPO_DIR
    if not repo.is_dir():
        raise ValueError(f"{repo}: missing (the project's files live in {REPO_DIR}/)")
    files = _read_repo(repo)
    if not files:
        raise ValueError(f"{repo}: no files")
    for path in relevant:
        if not isinstance(path, str) or path not in files:
            raise ValueError(f"{spec_path}: relevant_files names {path!r}, which is not a file of repo/")
    fix = _parse_fix(data.get("fix"), spec_path, files)
    return ScenarioSpec(
        id=project,
        project=project,
        directory=project_dir,
        language=language,
        test_command=test_command.strip(),
        archetype=archetype,
        held_out=held_out,
        task=task,
        relevant_files=tuple(relevant),
        files=files,
        fix=fix,
    )


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
    """Every project's spec, by id, in id order. Needs no captures."""
    bank = directory if directory is not None else scenarios_dir()
    specs = [load_spec(d) for d in _project_dirs(bank)]
    return {spec.id: spec for spec in specs}


def _read_capture(spec: ScenarioSpec, name: str) -> str:
    path = spec.directory / CAPTURED_DIR / name
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
    """One project as a `Scenario`, captures included. Raises ValueError naming the offending file."""
    return _to_scenario(load_spec(project_dir))


def load_scenarios(directory: Path | None = None) -> dict[str, Scenario]:
    """All scenarios of the bank (default: the installed `scenarios/`), by id, in id order.

    Held-out scenarios are included; callers that generate must filter on `held_out`.
    """
    return {sid: _to_scenario(spec) for sid, spec in load_specs(directory).items()}


# --------------------------------------------------------------------------------------------------
# Running the tests


@dataclass(frozen=True, slots=True)
class _Run:
    returncode: int | None  # None: timed out
    output: str


_DURATION = re.compile(r"\bin \d+(?:\.\d+)?s\b(?: \(\d+:\d\d:\d\d\))?")
_ADDRESS = re.compile(r"\b0x[0-9a-fA-F]{6,}\b")


def normalize_output(text: str) -> str:
    """Output with run-to-run noise (durations, object addresses, trailing blanks) made canonical.

    Captures are stored as really printed; comparisons go through this function.
    """
    text = _DURATION.sub("in <duration>", text)
    text = _ADDRESS.sub("0x<address>", text)
    return "\n".join(line.rstrip() for line in text.strip("\n").splitlines()) + "\n"


def _runner_env() -> dict[str, str]:
    # Drop what would make the host's configuration leak into the project's run: extra plugins,
    # addopts, import paths.
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PYTEST_", "PYTHON")) and key not in {"COLUMNS", "LINES"}
    }
    env.update(
        {
            "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONHASHSEED": "0",
            "PYTHONUTF8": "1",
            "PYTHONIOENCODING": "utf-8",
            "PY_COLORS": "0",
            "NO_COLOR": "1",
            "COLUMNS": "80",
        }
    )
    return env


def _runner_argv(spec: ScenarioSpec) -> list[str]:
    """The command to run, resolved on this machine. Raises RuntimeError when the toolchain is missing."""
    argv = shlex.split(spec.test_command)
    if argv[0] in _PYTHON_NAMES:
        # The same interpreter that runs tracegen: its pytest, its version, no PATH lookup.
        argv[0] = sys.executable
        if argv[1:3] == ["-m", "pytest"]:
            if importlib.util.find_spec("pytest") is None:
                raise RuntimeError(f"toolchain missing: pytest is not installed for {sys.executable}")
            argv[3:3] = ["-p", "no:cacheprovider"]
        return argv
    found = shutil.which(argv[0])
    if found is None:
        raise RuntimeError(f"toolchain missing: {argv[0]!r} ({spec.language}) is not on PATH")
    return argv


def _expected_failure(spec: ScenarioSpec, returncode: int) -> bool:
    if "pytest" in spec.test_command:
        return returncode == 1  # 1: tests ran and some failed; 2-5: interrupted, usage, no tests
    return returncode != 0


def _write_tree(root: Path, files: Mapping[str, str]) -> None:
    if root.exists():
        shutil.rmtree(root)
    for rel, text in files.items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")


def _run_tests(argv: Sequence[str], cwd: Path, timeout_s: float) -> _Run:
    with subprocess.Popen(
        list(argv),
        cwd=cwd,
        env=_runner_env(),
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
            return _Run(None, raw.decode("utf-8", "replace"))
    output = raw.decode("utf-8", "replace")
    # Runs happen from the copy's root, so paths are relative; scrub the temp path where a tool
    # prints it anyway, so no machine-specific path reaches a trace.
    for form in {str(cwd), os.path.realpath(cwd)}:
        output = output.replace(form + os.sep, "").replace(form, ".")
    return _Run(proc.returncode, output)


def _first_difference(expected: str, actual: str) -> str:
    diff = list(difflib.unified_diff(expected.splitlines(), actual.splitlines(), lineterm="", n=0))
    changed = [line for line in diff[2:] if line.startswith(("-", "+")) and not line.startswith("@@")]
    return " | ".join(changed[:2]) if changed else "whitespace differs"


def _tail(text: str, lines: int = 3) -> str:
    return " / ".join(text.strip().splitlines()[-lines:])


def verify_scenario(scenario_dir: Path, *, capture: bool, timeout_s: float = 120.0) -> VerifyResult:
    """Run the project's tests on the buggy tree (must fail) and on the fixed tree (must pass).

    The project runs in a temporary copy, with the interpreter running tracegen for Python projects.
    With `capture=True` the fresh outputs become the bank's captures (a file whose content only
    differs by timings is left untouched); otherwise they are compared with the committed captures.
    Never raises for a broken scenario: every problem is reported in the result.
    """
    project = scenario_dir.name
    try:
        spec = load_spec(scenario_dir)
        argv = _runner_argv(spec)
    except (ValueError, RuntimeError) as exc:
        return VerifyResult(project, ok=False, problems=(str(exc),))

    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="tracegen-scenario-") as tmp:
        workdir = Path(tmp) / spec.project
        _write_tree(workdir, spec.files)
        before = _run_tests(argv, workdir, timeout_s)
        if before.returncode is None:
            problems.append(f"buggy tree: tests timed out after {timeout_s:g}s")
        elif not _expected_failure(spec, before.returncode):
            problems.append(
                f"buggy tree: tests must fail (exit 1) but exited {before.returncode}: {_tail(before.output)}"
            )
        _write_tree(workdir, apply_edits(spec.files, spec.fix))
        after = _run_tests(argv, workdir, timeout_s)
        if after.returncode is None:
            problems.append(f"fixed tree: tests timed out after {timeout_s:g}s")
        elif after.returncode != 0:
            problems.append(
                f"fixed tree: tests must pass but exited {after.returncode}: {_tail(after.output)}"
            )

    written: list[str] = []
    captures = ((CAPTURE_FAILING, before.output), (CAPTURE_PASSING, after.output))
    if problems:
        pass  # never capture, nor compare, the output of a scenario that does not behave
    elif capture:
        for name, fresh in captures:
            path = spec.directory / CAPTURED_DIR / name
            old = path.read_text(encoding="utf-8") if path.is_file() else None
            if old is None or normalize_output(old) != normalize_output(fresh):
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(fresh, encoding="utf-8")
                written.append(f"{spec.project}/{CAPTURED_DIR}/{name}")
    else:
        for name, fresh in captures:
            path = spec.directory / CAPTURED_DIR / name
            rel = f"{CAPTURED_DIR}/{name}"
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
    )


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


def _select(bank: Path, names: Iterable[str]) -> list[Path]:
    dirs = {d.name: d for d in _project_dirs(bank)}
    wanted = list(dict.fromkeys(names))
    unknown = [name for name in wanted if name not in dirs]
    if unknown:
        raise click.BadParameter(
            f"unknown project(s) {', '.join(unknown)}; known: {', '.join(sorted(dirs))}",
            param_hint="--project",
        )
    return [dirs[name] for name in wanted] if wanted else list(dirs.values())


@click.group()
def scenarios() -> None:
    """Inspect the scenario bank and verify its captured test output."""


@scenarios.command("list")
@click.option("--held-out", "held_out_only", is_flag=True, help="Only the held-out scenarios.")
@_bank_option
def list_command(held_out_only: bool, bank: Path | None) -> None:
    """One line per scenario: id, language, archetype, held-out flag."""
    try:
        specs = load_specs(bank)
    except (ValueError, FileNotFoundError) as exc:
        raise click.ClickException(str(exc)) from None
    for spec in specs.values():
        if held_out_only and not spec.held_out:
            continue
        flag = "held-out" if spec.held_out else "-"
        click.echo(f"{spec.id:<16} {spec.language:<12} {spec.archetype:<24} {flag}")


@scenarios.command("verify")
@click.option("--capture", is_flag=True, help="Write the fresh outputs into the bank's captured/ files.")
@click.option("--project", "projects", multiple=True, metavar="NAME", help="Only this project (repeatable).")
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
        dirs = _select(bank_dir, projects)
    except (ValueError, FileNotFoundError) as exc:
        raise click.ClickException(str(exc)) from None
    failed = 0
    for project_dir in dirs:
        result = verify_scenario(project_dir, capture=capture, timeout_s=timeout_s)
        if result.ok:
            note = f" (wrote {', '.join(result.written)})" if result.written else ""
            click.echo(f"ok      {result.scenario_id}{note}")
        else:
            failed += 1
            click.echo(f"FAILED  {result.scenario_id}: {result.reason}")
    click.echo(f"{len(dirs) - failed} ok, {failed} failed")
    if failed:
        sys.exit(1)
