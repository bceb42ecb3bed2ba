"""Loading the scenario bank: the real bank is well-formed, broken copies fail with clear errors.

No test here runs a project's tests (that is tests/integration/test_scenario_verify.py); only files
are read and, for broken copies, written under tmp_path.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from gen_service.core.scenarios import apply_edits
from gen_service.scenario_bank import load_scenarios, load_spec, normalize_output, scenarios

BANK = Path(__file__).resolve().parents[2] / "scenarios"
EXPECTED_PROJECTS = {"calc", "debug_stack", "graph", "lru", "mdlist", "minijson", "taskq", "tracker"}

# What the identifier_leak gate rejects; the bank's files end up quoted in traces.
_LEAKS = re.compile(
    r"/home/\w|/Users/\w|C:\\Users\\|[\w.+-]+@[\w-]+\.[\w.]+|"
    r"\b(?!127\.)\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b|\bsk-[A-Za-z0-9]{8,}|ghp_\w{8,}|AKIA[A-Z0-9]{8,}"
)


def _copy_project(tmp_path: Path, name: str = "lru") -> Path:
    target = tmp_path / "bank" / name
    shutil.copytree(BANK / name, target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


def test_all_projects_load() -> None:
    loaded = load_scenarios(BANK)
    assert set(loaded) == EXPECTED_PROJECTS
    assert list(loaded) == sorted(loaded)  # id order, deterministic
    for sid, scenario in loaded.items():
        assert scenario.id == scenario.project == sid
        assert scenario.language == "python"
        assert scenario.test_command == "python -m pytest -q"
        assert scenario.task
        assert scenario.archetype
        assert "README.md" in scenario.files
        assert any(p.startswith("tests/test_") for p in scenario.files)
        assert not any("__pycache__" in p or p.endswith(".pyc") for p in scenario.files)
        assert all(p in scenario.files for p in scenario.relevant_files)


def test_default_directory_is_the_bank() -> None:
    assert load_scenarios().keys() == load_scenarios(BANK).keys()


def test_exactly_one_held_out() -> None:
    held_out = [s.id for s in load_scenarios(BANK).values() if s.held_out]
    assert held_out == ["tracker"]


def test_archetypes_vary() -> None:
    archetypes = [s.archetype for s in load_scenarios(BANK).values()]
    assert len(set(archetypes)) == len(archetypes)


def test_fixes_apply_cleanly_and_change_the_relevant_file() -> None:
    for scenario in load_scenarios(BANK).values():
        fixed = apply_edits(scenario.files, scenario.fix)
        changed = {p for p in scenario.files if fixed[p] != scenario.files[p]}
        assert changed, scenario.id
        assert changed <= set(scenario.relevant_files), scenario.id
        for edit in scenario.fix:
            assert scenario.files[edit.path].count(edit.old) >= 1


def test_captures_look_like_real_pytest_runs() -> None:
    for scenario in load_scenarios(BANK).values():
        failing, passing = scenario.failing_output, scenario.passing_output
        assert re.search(r"^\d+ failed, \d+ passed in ", failing, re.M), scenario.id
        assert "Error" in failing, scenario.id
        assert "tests/test_" in failing, scenario.id
        assert re.search(r"^\d+ passed in ", passing, re.M), scenario.id
        assert "failed" not in passing, scenario.id
        assert "/tmp" not in failing + passing
        assert "tracegen-scenario-" not in failing + passing


def test_projects_are_small_and_carry_no_identifiers() -> None:
    for scenario in load_scenarios(BANK).values():
        assert sum(len(text) for text in scenario.files.values()) < 8000, scenario.id
        everything = "\n".join([scenario.task, scenario.failing_output, *scenario.files.values()])
        assert not _LEAKS.search(everything), (scenario.id, _LEAKS.search(everything))


def test_tests_avoid_time_network_randomness() -> None:
    banned = re.compile(r"^\s*(import|from)\s+(random|time|datetime|socket|urllib|requests|http)\b", re.M)
    for scenario in load_scenarios(BANK).values():
        for path, text in scenario.files.items():
            if path.endswith(".py"):
                assert not banned.search(text), (scenario.id, path)


# --------------------------------------------------------------------------------------------------
# Broken copies


def _rewrite(spec: Path, old: str, new: str) -> None:
    text = spec.read_text(encoding="utf-8")
    assert old in text
    spec.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    project = _copy_project(tmp_path)
    (project / "scenario.toml").write_text('language = "python\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"lru/scenario\.toml: invalid TOML"):
        load_spec(project)


@pytest.mark.parametrize("field", ["language", "test_command", "archetype", "held_out", "task"])
def test_missing_field_is_named(tmp_path: Path, field: str) -> None:
    project = _copy_project(tmp_path)
    spec = project / "scenario.toml"
    lines = spec.read_text(encoding="utf-8").splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{field} ="))
    end = start + 1
    if lines[start].rstrip().endswith('"""'):  # a multi-line string runs to its closing quotes
        while not lines[end].rstrip().endswith('"""'):
            end += 1
        end += 1
    spec.write_text("".join(lines[:start] + lines[end:]), encoding="utf-8")
    with pytest.raises(ValueError, match=rf"scenario\.toml: missing required field '{field}'"):
        load_spec(project)


def test_wrong_type_is_named(tmp_path: Path) -> None:
    project = _copy_project(tmp_path)
    _rewrite(project / "scenario.toml", "held_out = false", 'held_out = "no"')
    with pytest.raises(ValueError, match=r"field 'held_out' must be a bool, got str"):
        load_spec(project)


def test_unknown_field_rejected(tmp_path: Path) -> None:
    project = _copy_project(tmp_path)
    _rewrite(project / "scenario.toml", "held_out = false", "held_out = false\nheldout = true")
    with pytest.raises(ValueError, match=r"unknown field\(s\) \['heldout'\]"):
        load_spec(project)


def test_fix_old_absent(tmp_path: Path) -> None:
    project = _copy_project(tmp_path)
    _rewrite(
        project / "scenario.toml",
        "        self._data.clear()\n        self.stats",
        "        gone()\n        x",
    )
    with pytest.raises(
        ValueError, match=r"\[\[fix\]\] #1: 'old' must occur exactly once in lru/cache\.py, found 0"
    ):
        load_spec(project)


def test_fix_old_ambiguous(tmp_path: Path) -> None:
    project = _copy_project(tmp_path)
    cache = project / "repo" / "lru" / "cache.py"
    cache.write_text(
        cache.read_text() + "\n    def reset(self):\n        self._data.clear()\n        self.stats.reset()\n"
    )
    with pytest.raises(ValueError, match=r"lru/scenario\.toml: \[\[fix\]\] #1: .* found 2 times"):
        load_spec(project)


def test_fix_path_not_in_repo(tmp_path: Path) -> None:
    project = _copy_project(tmp_path)
    _rewrite(project / "scenario.toml", 'path = "lru/cache.py"', 'path = "lru/missing.py"')
    with pytest.raises(ValueError, match=r"path 'lru/missing\.py' is not a file of repo/"):
        load_spec(project)


def test_relevant_file_not_in_repo(tmp_path: Path) -> None:
    project = _copy_project(tmp_path)
    _rewrite(project / "scenario.toml", '"tests/test_cache.py"]', '"tests/nope.py"]')
    with pytest.raises(ValueError, match=r"relevant_files names 'tests/nope\.py'"):
        load_spec(project)


def test_missing_capture_points_to_the_command(tmp_path: Path) -> None:
    project = _copy_project(tmp_path)
    (project / "captured" / "failing.txt").unlink()
    with pytest.raises(
        ValueError, match=r"failing\.txt: missing capture; run `tracegen scenarios verify --capture`"
    ):
        load_scenarios(project.parent)


def test_missing_scenario_toml(tmp_path: Path) -> None:
    (tmp_path / "bank" / "stray").mkdir(parents=True)
    (tmp_path / "bank" / "_shared").mkdir()  # underscore folders are not projects
    with pytest.raises(ValueError, match=r"stray/scenario\.toml: missing"):
        load_scenarios(tmp_path / "bank")


def test_caches_are_not_loaded(tmp_path: Path) -> None:
    project = _copy_project(tmp_path)
    (project / "repo" / "lru" / "__pycache__").mkdir()
    (project / "repo" / "lru" / "__pycache__" / "cache.cpython-311.pyc").write_bytes(b"\x00\xff")
    (project / "repo" / ".pytest_cache").mkdir()
    (project / "repo" / ".pytest_cache" / "README.md").write_text("cache")
    assert load_spec(project).files.keys() == load_spec(BANK / "lru").files.keys()


def test_normalize_output_ignores_durations_and_addresses() -> None:
    a = "E  where 3 = len(<X object at 0x7fbf5fbbd110>)\n2 failed, 5 passed in 0.03s\n"
    b = "E  where 3 = len(<X object at 0x7f0000000001>)  \n2 failed, 5 passed in 1.27s"
    assert normalize_output(a) == normalize_output(b)
    assert normalize_output(a) != normalize_output(a.replace("2 failed", "1 failed"))


# --------------------------------------------------------------------------------------------------
# Command line (list only: verify runs tests, see the integration tier)


def test_list_command() -> None:
    result = CliRunner().invoke(scenarios, ["list", "--bank", str(BANK)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert [line.split()[0] for line in lines] == sorted(EXPECTED_PROJECTS)
    assert lines[0].split() == ["calc", "python", "wrong_associativity", "-"]


def test_list_held_out_only() -> None:
    result = CliRunner().invoke(scenarios, ["list", "--held-out", "--bank", str(BANK)])
    assert result.exit_code == 0, result.output
    assert result.output.split() == ["tracker", "python", "float_rounding", "held-out"]


def test_verify_rejects_unknown_project() -> None:
    result = CliRunner().invoke(scenarios, ["verify", "--bank", str(BANK), "--project", "nope"])
    assert result.exit_code == 2
    assert "unknown project(s) nope" in result.output
