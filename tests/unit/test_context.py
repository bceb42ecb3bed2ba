"""render_context and file_tree: budget respected, visible trimming, deterministic."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from gen_service.core.context import file_tree, render_context, trim_head, trim_middle
from gen_service.core.scenarios import FixEdit, Scenario
from gen_service.scenario_bank import load_scenarios

BANK = Path(__file__).resolve().parents[2] / "scenarios"
MARKER = re.compile(r"\[\.\.\. trimmed (\d+) lines \.\.\.\]")


def _scenario(**changes: object) -> Scenario:
    base = Scenario(
        id="demo",
        project="demo",
        language="python",
        test_command="python -m pytest -q",
        task="`demo` adds wrong. Please fix it.",
        files={
            "README.md": "# demo\n\n```python\nadd(1, 2)\n```\n",
            "demo/__init__.py": "",
            "demo/core.py": "".join(f"def f{i}(x):\n    return x + {i}\n\n" for i in range(200)),
            "demo/util.py": "X = 1\n",
            "tests/test_core.py": "from demo.core import f1\n\n\ndef test_f1():\n    assert f1(1) == 3\n",
        },
        fix=(FixEdit("demo/core.py", "x + 1\n", "x + 2\n"),),
        failing_output="".join(f"line {i}\n" for i in range(500)) + "1 failed, 3 passed in 0.01s\n",
        passing_output="4 passed in 0.01s\n",
        held_out=False,
        archetype="off_by_one",
        relevant_files=("demo/core.py", "tests/test_core.py"),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_file_tree() -> None:
    tree = file_tree(["tests/test_b.py", "pkg/sub/x.py", "README.md", "pkg/a.py", "tests/test_a.py"])
    assert tree.splitlines() == [
        "README.md",
        "pkg/",
        "  a.py",
        "  sub/",
        "    x.py",
        "tests/",
        "  test_a.py",
        "  test_b.py",
    ]
    assert file_tree([]) == ""


def test_trim_head_keeps_whole_lines_and_counts() -> None:
    text = "\n".join(f"row {i}" for i in range(100))
    out = trim_head(text, 200)
    assert len(out) <= 200
    shown = out.splitlines()[:-1]
    assert shown == text.splitlines()[: len(shown)]
    match = MARKER.fullmatch(out.splitlines()[-1])
    assert match
    assert int(match.group(1)) == 100 - len(shown)
    assert trim_head(text, 10_000) == text


def test_trim_middle_keeps_head_and_tail() -> None:
    text = "\n".join(f"row {i}" for i in range(100))
    out = trim_middle(text, 300)
    assert len(out) <= 300
    lines = out.splitlines()
    assert lines[0] == "row 0"
    assert lines[-1] == "row 99"
    (marker_at,) = [i for i, line in enumerate(lines) if MARKER.fullmatch(line)]
    assert int(MARKER.fullmatch(lines[marker_at]).group(1)) == 100 - (len(lines) - 1)  # type: ignore[union-attr]


@pytest.mark.parametrize("budget", [400, 800, 1500, 3000, 6000, 12000, 50000])
def test_budget_respected(budget: int) -> None:
    scenario = _scenario()
    out = render_context(scenario, char_budget=budget)
    assert len(out) <= budget
    assert out.startswith("## Task\n\n`demo` adds wrong.")


def test_sections_order_and_content() -> None:
    out = render_context(_scenario(), char_budget=6000)
    task, tree, files, failing = (
        out.index(h) for h in ("## Task", "## Repository", "## Files", "## Failing")
    )
    assert task < tree < files < failing
    for path in ("README.md", "demo/", "  core.py", "tests/", "  test_core.py"):
        assert path in out[tree:files]
    # relevant files first, in declared order; the long one trimmed but not crowding out the test
    assert out.index("### demo/core.py") < out.index("### tests/test_core.py") < out.index("### demo/util.py")
    assert "Output of `python -m pytest -q`" in out
    # the long output keeps its head and its summary line
    assert "line 0\n" in out
    assert "1 failed, 3 passed in 0.01s" in out
    assert MARKER.search(out[failing:])
    # the long relevant file is trimmed visibly, and what does not fit is counted
    assert MARKER.search(out[files:failing])
    assert "### tests/test_core.py\n```python\nfrom demo.core import f1\n" in out


def test_what_does_not_fit_is_counted() -> None:
    scenario = _scenario()
    big = "".join(f"Y{i} = {i}\n" for i in range(300))
    scenario = _scenario(files={**scenario.files, "demo/big.py": big, "demo/zz.py": "Z = 1\n"})
    out = render_context(scenario, char_budget=1500)
    assert len(out) <= 1500
    assert "[... omitted 3 file(s), 7 lines: see the tree ...]" in out
    assert "### demo/big.py" in out  # trimmed, then the rest omitted


def test_everything_shown_when_budget_is_large() -> None:
    scenario = _scenario(
        files={"a.py": "A = 1\n", "tests/test_a.py": "def test(): pass\n"},
        relevant_files=("a.py",),
        failing_output="F\n1 failed in 0.01s\n",
    )
    out = render_context(scenario)
    assert "trimmed" not in out
    assert "omitted" not in out
    assert "### a.py\n```python\nA = 1\n```" in out
    assert "```text\nF\n1 failed in 0.01s\n```" in out


def test_fence_is_longer_than_backticks_in_the_file() -> None:
    out = render_context(_scenario(), char_budget=50000)
    assert "### README.md\n````markdown\n# demo\n\n```python\n" in out


def test_deterministic_and_pure() -> None:
    scenario = _scenario()
    files_before = dict(scenario.files)
    first = render_context(scenario, char_budget=3000)
    assert all(render_context(scenario, char_budget=3000) == first for _ in range(3))
    assert dict(scenario.files) == files_before
    # insertion order of the files map does not matter
    shuffled = _scenario(files=dict(reversed(list(scenario.files.items()))))
    assert render_context(shuffled, char_budget=3000) == first


def test_rejects_non_positive_budget() -> None:
    with pytest.raises(ValueError, match="char_budget must be positive"):
        render_context(_scenario(), char_budget=0)


def test_real_bank_fits_default_budget() -> None:
    for scenario in load_scenarios(BANK).values():
        out = render_context(scenario)
        assert len(out) <= 12000
        # the bank's projects are small enough to be shown whole, with their real failing output
        assert "trimmed" not in out, scenario.id
        assert "omitted" not in out, scenario.id
        assert scenario.failing_output.strip() in out
        for path in scenario.relevant_files:
            assert f"### {path}\n" in out
        for budget in (2000, 4000):
            assert len(render_context(scenario, char_budget=budget)) <= budget
