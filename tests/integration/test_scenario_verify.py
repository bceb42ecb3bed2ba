"""verify_scenario for real: runs the projects' pytest suites in temporary copies.

The committed bank is only read; every test that needs a broken scenario works on a copy under
tmp_path.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from gen_service.scenario_bank import CAPTURE_FAILING, CAPTURE_PASSING, scenarios, verify_scenario

BANK = Path(__file__).resolve().parents[2] / "scenarios"


def _copy_project(tmp_path: Path, name: str) -> Path:
    target = tmp_path / "bank" / name
    shutil.copytree(BANK / name, target, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    return target


def _snapshot(directory: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()
    }


@pytest.mark.parametrize("project", ["lru", "minijson", "tracker"])
def test_fails_before_passes_after_and_captures_match(project: str) -> None:
    before = _snapshot(BANK / project)
    result = verify_scenario(BANK / project, capture=False, timeout_s=120)
    assert result.ok, result.reason
    assert result.problems == ()
    assert result.written == ()
    assert " failed" in result.failing_output.splitlines()[-1]
    assert "Error" in result.failing_output  # the assertion and its traceback are there
    assert result.passing_output.splitlines()[-1].startswith(tuple(f"{n} passed" for n in range(1, 100)))
    # verifying reads the bank and writes nothing there (no caches, no captures)
    assert _snapshot(BANK / project) == before


def test_broken_fix_is_reported(tmp_path: Path) -> None:
    project = _copy_project(tmp_path, "calc")
    spec = project / "scenario.toml"
    # A fix that applies cleanly but repairs only half the bug: still right-associative.
    text = spec.read_text(encoding="utf-8")
    spec.write_text(
        text.replace("            rhs = self.term()\n", "            rhs = self.expr()\n"), encoding="utf-8"
    )
    result = verify_scenario(project, capture=False, timeout_s=120)
    assert not result.ok
    assert any(p.startswith("fixed tree: tests must pass but exited 1") for p in result.problems), (
        result.reason
    )
    assert "failed" in result.reason


def test_fix_that_does_not_apply_is_reported(tmp_path: Path) -> None:
    project = _copy_project(tmp_path, "lru")
    (project / "repo" / "lru" / "cache.py").write_text("# emptied\n", encoding="utf-8")
    result = verify_scenario(project, capture=False, timeout_s=120)
    assert not result.ok
    assert "'old' must occur exactly once in lru/cache.py" in result.reason


def test_scenario_whose_tests_pass_without_the_fix_is_reported(tmp_path: Path) -> None:
    project = _copy_project(tmp_path, "mdlist")
    escape = project / "repo" / "mdlist" / "escape.py"
    text = escape.read_text(encoding="utf-8")
    # Apply the fix by hand, and give the toml a harmless edit so it still loads.
    escape.write_text(
        text.replace(
            '    ("<", "&lt;"),\n    (">", "&gt;"),\n    ("&", "&amp;"),\n',
            '    ("&", "&amp;"),\n    ("<", "&lt;"),\n    (">", "&gt;"),\n',
        ),
        encoding="utf-8",
    )
    (project / "scenario.toml").write_text(
        (project / "scenario.toml").read_text(encoding="utf-8").split("[[fix]]")[0]
        + '[[fix]]\npath = "mdlist/escape.py"\nold = "for raw, entity"\nnew = "for raw, entity"\n',
        encoding="utf-8",
    )
    result = verify_scenario(project, capture=False, timeout_s=120)
    assert not result.ok
    assert "'old' equals 'new'" in result.reason

    (project / "scenario.toml").write_text(
        (project / "scenario.toml")
        .read_text(encoding="utf-8")
        .replace('new = "for raw, entity"', 'new = "for  raw, entity"'),
        encoding="utf-8",
    )
    result = verify_scenario(project, capture=False, timeout_s=120)
    assert not result.ok
    assert "buggy tree: tests must fail (exit 1) but exited 0" in result.reason


def test_stale_capture_is_reported_and_capture_rewrites_it(tmp_path: Path) -> None:
    project = _copy_project(tmp_path, "taskq")
    failing = project / "captured" / CAPTURE_FAILING
    failing.write_text(failing.read_text(encoding="utf-8").replace("3 failed", "4 failed"), encoding="utf-8")
    result = verify_scenario(project, capture=False, timeout_s=120)
    assert not result.ok
    assert "captured/failing.txt differs from a fresh run" in result.reason
    assert "4 failed" in result.reason

    result = verify_scenario(project, capture=True, timeout_s=120)
    assert result.ok, result.reason
    assert result.written == ("taskq/captured/failing.txt",)  # passing.txt only differed in timing, if at all
    assert verify_scenario(project, capture=False, timeout_s=120).ok


def test_capture_into_a_fresh_project(tmp_path: Path) -> None:
    project = _copy_project(tmp_path, "graph")
    shutil.rmtree(project / "captured")
    assert "missing; run with --capture" in verify_scenario(project, capture=False, timeout_s=120).reason
    result = verify_scenario(project, capture=True, timeout_s=120)
    assert result.ok, result.reason
    assert (project / "captured" / CAPTURE_FAILING).read_text(encoding="utf-8") == result.failing_output
    assert (project / "captured" / CAPTURE_PASSING).read_text(encoding="utf-8") == result.passing_output
    assert "tracegen-scenario-" not in result.failing_output + result.passing_output


def test_timeout_is_reported(tmp_path: Path) -> None:
    project = _copy_project(tmp_path, "lru")
    test_file = project / "repo" / "tests" / "test_stats.py"
    test_file.write_text(
        test_file.read_text(encoding="utf-8") + "\n\ndef test_hangs():\n    while True:\n        pass\n"
    )
    result = verify_scenario(project, capture=False, timeout_s=3)
    assert not result.ok
    assert "buggy tree: tests timed out after 3s" in result.reason


def test_missing_toolchain_is_an_error(tmp_path: Path) -> None:
    project = _copy_project(tmp_path, "lru")
    spec = project / "scenario.toml"
    spec.write_text(
        spec.read_text(encoding="utf-8").replace(
            'test_command = "python -m pytest -q"', 'test_command = "tracegen-no-such-runner --test"'
        ),
        encoding="utf-8",
    )
    result = verify_scenario(project, capture=False, timeout_s=30)
    assert not result.ok
    assert result.reason == "toolchain missing: 'tracegen-no-such-runner' (python) is not on PATH"


def test_cli_verify_reports_per_scenario_and_exits_1(tmp_path: Path) -> None:
    good = _copy_project(tmp_path, "lru")
    bad = _copy_project(tmp_path, "calc")
    (bad / "captured" / CAPTURE_PASSING).write_text("nothing\n", encoding="utf-8")
    bank = good.parent
    result = CliRunner().invoke(scenarios, ["verify", "--bank", str(bank)])
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("FAILED  calc: captured/passing.txt differs from a fresh run")
    assert lines[1] == "ok      lru"
    assert lines[-2:] == ["python: 2 projects, 2 scenarios, 1 ok, 1 failed", "1 ok, 1 failed"]

    result = CliRunner().invoke(scenarios, ["verify", "--bank", str(bank), "--project", "lru"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "ok      lru",
        "python: 1 projects, 1 scenarios, 1 ok, 0 failed",
        "1 ok, 0 failed",
    ]
