"""verify_scenario for real in all three languages: pytest, `node --test` and `cargo test`.

At least one project per language runs its tests here (the acceptance sample). Rust compiles are
the slow part, so a single Rust scenario runs. The committed bank is only read; anything broken is
a copy under tmp_path.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from gen_service.scenario_bank import (
    CAPTURE_FAILING,
    CARGO_TARGET_ENV,
    resolve_runner,
    scenarios,
    verify_project,
    verify_scenario,
)

BANK = Path(__file__).resolve().parents[2] / "scenarios"


def _copy_project(tmp_path: Path, name: str) -> Path:
    target = tmp_path / "bank" / name
    shutil.copytree(BANK / name, target, ignore=shutil.ignore_patterns("__pycache__", "target"))
    return target


def _snapshot(directory: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()
    }


@pytest.mark.parametrize(
    ("project", "variant", "failed_line", "passed_line"),
    [
        ("taskq", None, " failed, ", " passed in "),
        ("js_jobqueue", None, "# fail 3", "# fail 0"),
        ("js_csvparse", "doubled_quote", "# fail 1", "# fail 0"),
        ("rs_ringbuf", "wrap_index", "test result: FAILED. 2 passed; 3 failed", "test result: ok. 5 passed"),
    ],
)
def test_sample_per_language_verifies(
    project: str,
    variant: str | None,
    failed_line: str,
    passed_line: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A target folder of its own: proves the setting is honoured, and that captures made with
    # another target folder (other paths, other build hashes) still match.
    monkeypatch.setenv(CARGO_TARGET_ENV, str(tmp_path / "cargo-target"))
    before = _snapshot(BANK / project)
    result = verify_scenario(BANK / project, capture=False, timeout_s=300, variant=variant)
    assert result.ok, result.reason
    assert result.scenario_id == (f"{project}/{variant}" if variant else project)
    assert failed_line in result.failing_output
    assert passed_line in result.passing_output
    assert str(tmp_path) not in result.failing_output + result.passing_output
    assert _snapshot(BANK / project) == before  # nothing written into the bank (no target/, no lock)


def test_missing_cargo_is_reported_not_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("CARGO_HOME", str(tmp_path / "no-cargo-home"))
    result = verify_scenario(BANK / "rs_semver", capture=False, timeout_s=30)
    assert not result.ok
    assert result.reason == (
        "toolchain missing: 'cargo' (rust) is not on PATH, nor in $CARGO_HOME/bin or ~/.cargo/bin"
    )
    assert result.language == "rust"

    results = verify_project(BANK / "js_csvparse", capture=False, timeout_s=30)
    assert [r.reason for r in results] == ["toolchain missing: 'node' (javascript) is not on PATH"] * 2


def test_cargo_is_found_in_the_cargo_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cargo = shutil.which("cargo") or str(Path.home() / ".cargo" / "bin" / "cargo")
    home = tmp_path / "cargo-home"
    (home / "bin").mkdir(parents=True)
    (home / "bin" / "cargo").symlink_to(cargo)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("CARGO_HOME", str(home))
    runner = resolve_runner("rust", "cargo test", key="rs_semver")
    assert runner.argv == (str(home / "bin" / "cargo"), "test", "--offline")
    assert runner.env["PATH"].split(":")[0] == str(home / "bin")  # rustup's rustc proxy sits beside cargo
    assert runner.env["RUST_TEST_THREADS"] == "1"


def test_cli_summarises_per_language(tmp_path: Path) -> None:
    _copy_project(tmp_path, "js_pager")
    broken = _copy_project(tmp_path, "js_csvparse")
    capture = broken / "captured" / "last_char_dropped" / CAPTURE_FAILING
    capture.write_text(capture.read_text(encoding="utf-8").replace("# fail 4", "# fail 9"), encoding="utf-8")
    bank = tmp_path / "bank"
    result = CliRunner().invoke(scenarios, ["verify", "--bank", str(bank)])
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith(
        "FAILED  js_csvparse/last_char_dropped: captured/last_char_dropped/failing.txt"
    )
    assert "differs from a fresh run" in lines[0]
    assert lines[1:3] == ["ok      js_csvparse/doubled_quote", "ok      js_pager"]
    assert lines[-2:] == ["javascript: 2 projects, 3 scenarios, 2 ok, 1 failed", "2 ok, 1 failed"]

    result = CliRunner().invoke(
        scenarios, ["verify", "--bank", str(bank), "--project", "js_csvparse/doubled_quote"]
    )
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == "ok      js_csvparse/doubled_quote"

    result = CliRunner().invoke(scenarios, ["verify", "--bank", str(bank), "--project", "js_csvparse/nope"])
    assert result.exit_code == 1
    assert "FAILED  js_csvparse: js_csvparse: no variant(s) nope" in result.output


def test_capture_writes_per_variant_folders(tmp_path: Path) -> None:
    project = _copy_project(tmp_path, "js_ttlcache")
    shutil.rmtree(project / "captured")
    results = verify_project(project, capture=True, timeout_s=120)
    assert [r.ok for r in results] == [True, True], [r.reason for r in results]
    assert sorted(p.relative_to(project).as_posix() for p in (project / "captured").rglob("*.txt")) == [
        "captured/clear_stats/failing.txt",
        "captured/clear_stats/passing.txt",
        "captured/expiry_boundary/failing.txt",
        "captured/expiry_boundary/passing.txt",
    ]
    # the copy's captures equal the committed ones up to timings: capture output is stable
    again = verify_project(BANK / "js_ttlcache", capture=False, timeout_s=120)
    assert all(r.ok for r in again), [r.reason for r in again]
