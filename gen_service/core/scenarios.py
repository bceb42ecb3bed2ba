"""Scenario model: the repo-shaped context a teacher sees, built from a runnable mini-project.

Pure data. Loading from `scenarios/` lives in `gen_service.catalog`; capturing real test output lives
in `gen_service.scenario_bank`. Invariants: `files` is the tree *with the bug applied* (tests
included); applying every `fix` edit (exact `old` → `new` replacement, each `old` occurring once in
its file) turns it into a tree whose tests pass; `failing_output` is the captured real output of
`test_command` on the buggy tree.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = ["FixEdit", "Scenario", "apply_edits"]


@dataclass(frozen=True, slots=True)
class FixEdit:
    """One exact replacement in one file (the shape of an `edit_file` call)."""

    path: str
    old: str
    new: str


@dataclass(frozen=True, slots=True)
class Scenario:
    id: str  # stable id used in leases: "<project>" or "<project>/<variant>"
    project: str  # mini-project folder name
    language: str  # "python", "javascript", "rust"
    test_command: str  # what run_tests runs, e.g. "python -m pytest -q"
    task: str  # the task as a user states it
    files: Mapping[str, str]  # relative path -> content, bug applied
    fix: Sequence[FixEdit]  # the reference fix
    failing_output: str  # captured output of test_command on the buggy tree
    passing_output: str  # captured output after the fix
    held_out: bool  # never handed out for generation; kept for evaluation
    archetype: str  # bug archetype, e.g. "off_by_one"
    relevant_files: Sequence[str] = ()  # files worth showing first (the buggy one, its test)

    @property
    def family(self) -> str:
        """Task family for held-out splits: the project."""
        return self.project


def apply_edits(files: Mapping[str, str], edits: Sequence[FixEdit]) -> dict[str, str]:
    """Apply exact-replacement edits to a file map. Raises ValueError when an `old` is absent."""
    result = dict(files)
    for edit in edits:
        current = result.get(edit.path)
        if current is None or edit.old not in current:
            raise ValueError(f"edit does not apply: {edit.path!r} lacks the expected text")
        result[edit.path] = current.replace(edit.old, edit.new, 1)
    return result
