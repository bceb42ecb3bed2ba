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
from gen_service.scenario_bank import load_project, load_scenarios, load_spec, normalize_output, scenarios

BANK = Path(__file__).resolve().parents[2] / "scenarios"
# The first bank's projects, plus the JavaScript and Rust ones; other projects may join.
PYTHON_PROJECTS = {"calc", "debug_stack", "graph", "lru", "mdlist", "minijson", "taskq", "tracker"}
JS_PROJECTS = {
    "js_argparse",
    "js_csvparse",
    "js_jobqueue",
    "js_money",
    "js_pager",
    "js_slugify",
    "js_toposort",
    "js_ttlcache",
}
RUST_PROJECTS = {
    "rs_dijkstra",
    "rs_kvstore",
    "rs_pathnorm",
    "rs_ratelimit",
    "rs_ringbuf",
    "rs_semver",
    "rs_tokenizer",
    "rs_wordwrap",
}
RUNNERS = {"python": "python -m pytest -q", "javascript": "node --test", "rust": "cargo test"}

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
    projects = {s.project for s in loaded.values()}
    assert projects >= PYTHON_PROJECTS | JS_PROJECTS | RUST_PROJECTS
    assert list(loaded) == sorted(loaded)  # id order, deterministic
    for sid, scenario in loaded.items():
        assert scenario.id == sid
        assert sid == scenario.project or sid.startswith(scenario.project + "/")
        assert scenario.test_command == RUNNERS[scenario.language]
        assert scenario.task
        assert scenario.archetype
        assert "README.md" in scenario.files
        assert not any("__pycache__" in p or p.endswith(".pyc") for p in scenario.files)
        assert not any(p.startswith("target/") or p == "Cargo.lock" for p in scenario.files)
        assert all(p in scenario.files for p in scenario.relevant_files)


@pytest.mark.parametrize(
    ("language", "projects", "test_file"),
    [
        ("python", PYTHON_PROJECTS, re.compile(r"^tests/test_\w+\.py$")),
        ("javascript", JS_PROJECTS, re.compile(r"^test/\w+\.test\.js$")),
        ("rust", RUST_PROJECTS, re.compile(r"^tests/\w+\.rs$")),
    ],
)
def test_each_language_has_its_projects(
    language: str, projects: set[str], test_file: re.Pattern[str]
) -> None:
    loaded = [s for s in load_scenarios(BANK).values() if s.project in projects]
    assert {s.project for s in loaded} == projects
    for scenario in loaded:
        assert scenario.language == language, scenario.id
        assert any(test_file.match(p) for p in scenario.files), scenario.id
        if language == "javascript":
            assert '"dependencies"' not in scenario.files["package.json"]  # node --test, nothing from npm
        if language == "rust":
            manifest = scenario.files["Cargo.toml"]
            assert manifest.rstrip().endswith("[dependencies]"), scenario.id  # no crates from outside


def test_variants_yield_more_scenarios_than_projects() -> None:
    loaded = load_scenarios(BANK)
    with_variants = {s.project for s in loaded.values() if "/" in s.id}
    assert {"js_csvparse", "js_ttlcache", "rs_ringbuf", "rs_tokenizer"} <= with_variants
    for project in with_variants:
        variants = [s for s in loaded.values() if s.project == project]
        assert len(variants) >= 2, project
        assert project not in loaded  # a project with variants has no plain "<project>" scenario
        trees = {tuple(sorted(s.files.items())) for s in variants}
        assert len(trees) == len(variants), project  # each variant breaks the project differently
    for project in {"js_csvparse", "js_ttlcache", "rs_ringbuf", "rs_tokenizer"}:
        variants = [s for s in loaded.values() if s.project == project]
        fixed = {tuple(sorted(apply_edits(s.files, s.fix).items())) for s in variants}
        assert len(fixed) == 1, project  # each fix leads back to the same project
    assert len(loaded) > len({s.project for s in loaded.values()})


def test_default_directory_is_the_bank() -> None:
    assert load_scenarios().keys() == load_scenarios(BANK).keys()


def test_held_out_projects() -> None:
    loaded = load_scenarios(BANK).values()
    held_out = {s.project for s in loaded if s.held_out}
    assert {"tracker", "js_money", "js_slugify", "rs_dijkstra", "rs_kvstore"} <= held_out
    for language in ("javascript", "rust"):
        assert len({s.project for s in loaded if s.language == language and s.held_out}) == 2, language
    for project in {s.project for s in loaded}:  # held-out is per project, never per variant
        assert len({s.held_out for s in loaded if s.project == project}) == 1, project


def test_archetypes_vary() -> None:
    loaded = load_scenarios(BANK).values()
    assert len({s.archetype for s in loaded}) >= 15
    for language in ("javascript", "rust"):
        assert len({s.archetype for s in loaded if s.language == language}) >= 7, language


def test_list_held_out_prints_only_held_out_scenarios() -> None:
    result = CliRunner().invoke(scenarios, ["list", "--held-out", "--bank", str(BANK)])
    assert result.exit_code == 0, result.output
    rows = [line.split() for line in result.output.splitlines()]
    assert [row[0] for row in rows] == sorted(s.id for s in load_scenarios(BANK).values() if s.held_out)
    assert all(row[-1] == "held-out" for row in rows)
    assert {"tracker", "js_money", "rs_kvstore"} <= {row[0] for row in rows}
    assert {row[1] for row in rows} >= {"python", "javascript", "rust"}

    everything = CliRunner().invoke(scenarios, ["list", "--bank", str(BANK)])
    ids = [line.split()[0] for line in everything.output.splitlines()]
    assert ids == list(load_scenarios(BANK))
    assert "rs_ringbuf/wrap_index" in ids


def test_fixes_apply_cleanly_and_change_the_relevant_file() -> None:
    for scenario in load_scenarios(BANK).values():
        fixed = apply_edits(scenario.files, scenario.fix)
        changed = {p for p in scenario.files if fixed[p] != scenario.files[p]}
        assert changed, scenario.id
        assert changed <= set(scenario.relevant_files), scenario.id
        for edit in scenario.fix:
            assert scenario.files[edit.path].count(edit.old) >= 1


# What a failing and a passing run print last, per language.
_CAPTURE_SHAPES = {
    "python": (r"^\d+ failed, \d+ passed in ", r"^\d+ passed in "),
    "javascript": (r"^# fail [1-9]\d*$", r"^# fail 0$"),
    "rust": (r"^test result: FAILED\. \d+ passed; [1-9]\d* failed", r"^test result: ok\. [1-9]\d* passed"),
}


def test_captures_look_like_real_runs() -> None:
    for scenario in load_scenarios(BANK).values():
        failing, passing = scenario.failing_output, scenario.passing_output
        failed_shape, passed_shape = _CAPTURE_SHAPES[scenario.language]
        assert re.search(failed_shape, failing, re.M), scenario.id
        assert re.search(passed_shape, passing, re.M), scenario.id
        assert re.search(r"Error|panicked", failing), scenario.id  # the assertion or panic is there
        assert not re.search(r"\b[1-9]\d* failed|not ok|FAILED", passing), scenario.id
        everything = failing + passing
        assert "/tmp" not in everything and "tracegen-scenario-" not in everything, scenario.id
        assert "tracegen-cargo" not in everything and "file://" not in everything, scenario.id
        if scenario.language == "python":
            assert "tests/test_" in failing, scenario.id
        if scenario.language == "javascript":
            assert re.search(r"location: 'test/\w+\.test\.js:\d+:\d+'", failing), scenario.id
        if scenario.language == "rust":
            assert re.search(r"panicked at (src|tests)/\w+\.rs:\d+:\d+:", failing), scenario.id
            assert re.search(r"^thread '[^']+' panicked", failing, re.M), scenario.id  # no thread ids


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
    assert lines[0].split() == ["calc", "python", "wrong_associativity", "-"]
    rows = {line.split()[0]: line.split() for line in lines}
    assert rows["js_csvparse/doubled_quote"][1:] == ["javascript", "wrong_escape", "-"]
    assert rows["rs_kvstore"][1:] == ["rust", "incomplete_undo", "held-out"]


def test_verify_rejects_unknown_project() -> None:
    result = CliRunner().invoke(scenarios, ["verify", "--bank", str(BANK), "--project", "nope"])
    assert result.exit_code == 2
    assert "unknown project(s) nope" in result.output


# --------------------------------------------------------------------------------------------------
# Variants (on copies of a project that has them)


def test_variant_ids_files_and_default_fix(tmp_path: Path) -> None:
    project = _copy_project(tmp_path, "rs_ringbuf")
    specs = load_project(project)
    assert [s.id for s in specs] == ["rs_ringbuf/wrap_index", "rs_ringbuf/stale_head"]
    fixed = _read_files(project / "repo")
    for spec in specs:
        assert spec.variant == spec.id.split("/")[1]
        assert spec.files != fixed  # the bug is applied in memory; repo/ is the fixed project
        assert apply_edits(spec.files, spec.fix) == fixed  # the default fix is the bug reversed
        assert spec.capture_dir == project / "captured" / spec.variant
    assert specs[0].archetype == "off_by_one"
    assert specs[0].fix[0].new == "        if tail >= self.capacity() {"
    with pytest.raises(ValueError, match=r"has variants \(rs_ringbuf/wrap_index, rs_ringbuf/stale_head\)"):
        load_spec(project)


def _read_files(repo: Path) -> dict[str, str]:
    return {
        p.relative_to(repo).as_posix(): p.read_text(encoding="utf-8")
        for p in sorted(repo.rglob("*"))
        if p.is_file()
    }


def test_variant_inherits_top_level_archetype_and_task(tmp_path: Path) -> None:
    project = _copy_project(tmp_path, "js_ttlcache")
    spec = project / "scenario.toml"
    text = spec.read_text(encoding="utf-8")
    _rewrite(spec, 'archetype = "state_not_reset"\n', "")
    _rewrite(spec, "held_out = false", 'held_out = false\narchetype = "shared_default"')
    loaded = {s.variant: s for s in load_project(project)}
    assert loaded["clear_stats"].archetype == "shared_default"
    assert loaded["expiry_boundary"].archetype == "wrong_comparison"
    spec.write_text(text.replace('archetype = "state_not_reset"\n', ""), encoding="utf-8")
    with pytest.raises(ValueError, match=r"variant 'clear_stats': missing required field 'archetype'"):
        load_project(project)


@pytest.mark.parametrize(
    ("old", "new", "error"),
    [
        ('name = "stale_head"', 'name = "wrap_index"', r"variant 'wrap_index': duplicate variant name"),
        (
            'name = "stale_head"',
            'name = "Stale-Head"',
            r"variant 'Stale-Head': variant names are lower_snake_case",
        ),
        (
            'name = "stale_head"',
            'name = "stale_head"\nseverity = 2',
            r"'stale_head': unknown field\(s\) \['severity'\]",
        ),
        (
            "if tail >= self.capacity() {'''\nnew",
            "if tail >= self.cap() {'''\nnew",
            r"'wrap_index': \[\[variant\.bug\]\] #1: 'old' must occur exactly once in src/ring\.rs, found 0",
        ),
        (
            'relevant_files = ["src/ring.rs", "tests/ring.rs"]',
            'relevant_files = ["src/ring.rs", "tests/ring.rs"]\n'
            '[[fix]]\npath = "src/ring.rs"\nold = "a"\nnew = "b"',
            r"no top-level \[\[fix\]\]",
        ),
    ],
)
def test_broken_variants_are_named(tmp_path: Path, old: str, new: str, error: str) -> None:
    project = _copy_project(tmp_path, "rs_ringbuf")
    _rewrite(project / "scenario.toml", old, new)
    with pytest.raises(ValueError, match=error):
        load_project(project)


def test_explicit_variant_fix_must_apply_to_the_broken_tree(tmp_path: Path) -> None:
    project = _copy_project(tmp_path, "js_csvparse")
    spec = project / "scenario.toml"
    spec.write_text(
        spec.read_text(encoding="utf-8")
        + "\n[[variant.fix]]\npath = 'src/csv.js'\nold = 'line[i + 1]'\nnew = 'line[i+1]'\n",
        encoding="utf-8",
    )
    with pytest.raises(
        ValueError, match=r"variant 'doubled_quote': \[\[variant\.fix\]\] #1: 'old' must occur exactly once"
    ):
        load_project(project)
    spec.write_text(
        spec.read_text(encoding="utf-8").replace(
            "old = 'line[i + 1]'\nnew = 'line[i+1]'", "old = 'i < line'\nnew = 'i<line'"
        ),
        encoding="utf-8",
    )
    doubled = load_project(project)[1]
    assert doubled.fix[0].new == "i<line"  # an explicit fix replaces the reversed bug


def test_unknown_language_rejected(tmp_path: Path) -> None:
    project = _copy_project(tmp_path)
    _rewrite(project / "scenario.toml", 'language = "python"', 'language = "cobol"')
    with pytest.raises(ValueError, match=r"language 'cobol' is not one of python, javascript, rust"):
        load_spec(project)


def test_normalize_output_ignores_node_and_cargo_noise() -> None:
    a = "  duration_ms: 1.56\n     Running tests/ring.rs (target/debug/deps/ring-79ea51230c732860)\n"
    b = "  duration_ms: 0.2\n     Running tests/ring.rs (target/debug/deps/ring-0787958412efe8e8)\n"
    assert normalize_output(a) == normalize_output(b)
    assert normalize_output("thread 'x' (4242) panicked") == normalize_output("thread 'x' panicked")


def test_runs_ignore_the_hosts_ci_and_terminal_switches(monkeypatch: pytest.MonkeyPatch) -> None:
    # pytest prints full assertion diffs under CI=true: captures must not depend on where they run.
    from gen_service import scenario_bank

    for name in ("CI", "BUILD_NUMBER", "FORCE_COLOR", "PYTEST_ADDOPTS"):
        monkeypatch.setenv(name, "1")
    env = scenario_bank._base_env()
    assert not {"CI", "BUILD_NUMBER", "FORCE_COLOR", "PYTEST_ADDOPTS"} & set(env)
    assert env["COLUMNS"] == "80"
