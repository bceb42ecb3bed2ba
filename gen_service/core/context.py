"""The scenario context a teacher sees in the user message: task, file tree, files, failing output.

Pure and deterministic: the same scenario and budget always give the same text. The budget is a
hard limit on the rendered length. What does not fit is trimmed visibly, never silently: a trimmed
part is replaced by a `[... trimmed N lines ...]` marker, files that do not fit at all are counted in
an `[... omitted ...]` line, and the file tree always lists every path.

Priority when the budget is tight: the task, the file tree, the failing test output (at most
`OUTPUT_SHARE` of the budget, its head and tail kept, since pytest prints the first failure at the
top and the summary at the bottom), then the relevant files in their declared order, then the other
files (code before docs and config) in path order.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from gen_service.core.scenarios import Scenario

__all__ = ["OUTPUT_SHARE", "file_tree", "render_context", "trim_head", "trim_middle"]

OUTPUT_SHARE = 0.4  # at most this part of the budget goes to the failing output
_DOC_SUFFIXES = frozenset({".md", ".rst", ".txt", ".ini", ".cfg", ".toml", ".json", ".lock"})
_FENCE_LANGUAGES = {
    ".py": "python",
    ".md": "markdown",
    ".toml": "toml",
    ".ini": "ini",
    ".cfg": "ini",
    ".json": "json",
    ".js": "javascript",
    ".mjs": "javascript",
    ".rs": "rust",
    ".go": "go",
}
_BACKTICK_RUN = re.compile(r"`{3,}")


def _marker(lines: int) -> str:
    return f"[... trimmed {lines} lines ...]"


# --------------------------------------------------------------------------------------------------
# File tree


@dataclass
class _Dir:
    dirs: dict[str, _Dir] = field(default_factory=dict)
    files: set[str] = field(default_factory=set)


def file_tree(paths: Iterable[str]) -> str:
    """An indented tree of relative posix paths: folders end with "/", entries sorted by name.

    >>> print(file_tree(["pkg/b.py", "README.md", "pkg/a.py"]))
    README.md
    pkg/
      a.py
      b.py
    """
    root = _Dir()
    for path in paths:
        parts = PurePosixPath(path).parts
        if not parts:
            continue
        node = root
        for part in parts[:-1]:
            node = node.dirs.setdefault(part, _Dir())
        node.files.add(parts[-1])
    lines: list[str] = []

    def walk(node: _Dir, depth: int) -> None:
        entries = sorted([(name, True) for name in node.dirs] + [(name, False) for name in node.files])
        for name, is_dir in entries:
            lines.append("  " * depth + (name + "/" if is_dir else name))
            if is_dir:
                walk(node.dirs[name], depth + 1)

    walk(root, 0)
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------
# Trimming


def trim_head(text: str, max_chars: int) -> str:
    """`text` if it fits in `max_chars`, else its first whole lines and a trimmed-lines marker.

    Returns "" when not even the marker fits.
    """
    if len(text) <= max_chars:
        return text
    lines = text.splitlines()
    kept: list[str] = []
    used = 0
    for index, line in enumerate(lines):
        marker = _marker(len(lines) - index)
        if used + len(line) + 1 + len(marker) > max_chars:
            break
        kept.append(line)
        used += len(line) + 1
    marker = _marker(len(lines) - len(kept))
    if len(marker) > max_chars:
        return ""
    return "\n".join([*kept, marker])


def trim_middle(text: str, max_chars: int) -> str:
    """`text` if it fits, else its first and last whole lines around a trimmed-lines marker.

    The head and the tail get about half of the room each. Returns "" when not even the marker fits.
    """
    if len(text) <= max_chars:
        return text
    lines = text.splitlines()
    # The marker's width is bounded by the widest count it can show.
    room = max_chars - len(_marker(len(lines))) - 2  # two joining newlines
    if room < 0:
        return "" if len(_marker(len(lines))) > max_chars else _marker(len(lines))
    head: list[str] = []
    tail: list[str] = []
    used = 0
    lo, hi = 0, len(lines) - 1
    head_room = room // 2
    while lo <= hi and used + len(lines[lo]) + 1 <= head_room:
        head.append(lines[lo])
        used += len(lines[lo]) + 1
        lo += 1
    while hi >= lo and used + len(lines[hi]) + 1 <= room:
        tail.append(lines[hi])
        used += len(lines[hi]) + 1
        hi -= 1
    # What the tail left unused can still extend the head.
    while lo <= hi and used + len(lines[lo]) + 1 <= room:
        head.append(lines[lo])
        used += len(lines[lo]) + 1
        lo += 1
    trimmed = hi - lo + 1
    if trimmed <= 0:
        return "\n".join(lines)
    return "\n".join([*head, _marker(trimmed), *reversed(tail)])


# --------------------------------------------------------------------------------------------------
# Rendering


def _fence(text: str, suffix: str) -> tuple[str, str]:
    """Opening and closing fence for `text`: longer than any backtick run inside it."""
    longest = max((len(m.group(0)) for m in _BACKTICK_RUN.finditer(text)), default=0)
    ticks = "`" * max(3, longest + 1)
    return ticks + _FENCE_LANGUAGES.get(suffix, "text"), ticks


def _fenced(title: str, body: str, suffix: str) -> str:
    opening, closing = _fence(body, suffix)
    return f"{title}\n{opening}\n{body}\n{closing}\n"


def _overhead(title: str, text: str, suffix: str) -> int:
    """Characters a fenced block adds around `text` (or any trimmed version of it)."""
    return len(_fenced(title, text, suffix)) - len(text)


def _file_order(scenario: Scenario) -> list[str]:
    relevant = [p for p in dict.fromkeys(scenario.relevant_files) if p in scenario.files]
    chosen = set(relevant)
    others = sorted(
        (p for p in scenario.files if p not in chosen),
        key=lambda p: (PurePosixPath(p).suffix in _DOC_SUFFIXES, p),
    )
    return relevant + others


def _suffix(path: str) -> str:
    return PurePosixPath(path).suffix


def _omitted_line(paths: list[str], scenario: Scenario) -> str:
    lines = sum(len(scenario.files[p].splitlines()) for p in paths)
    return f"[... omitted {len(paths)} file(s), {lines} lines: see the tree ...]\n"


def _section_files(scenario: Scenario, room: int) -> str:
    """Files in priority order, whole while they fit, then trimmed; an omission line counts the rest.

    A relevant file that does not fit whole gets an equal share of what is left with the relevant
    files after it, so one long source file cannot crowd out its test.
    """
    order = _file_order(scenario)
    relevant = set(scenario.relevant_files)
    # A blank line after each block keeps the files apart for a human reader too.
    blocks = {p: _fenced(f"### {p}", scenario.files[p].rstrip("\n"), _suffix(p)) + "\n" for p in order}
    parts: list[str] = []
    used = 0
    omitted: list[str] = []
    for index, path in enumerate(order):
        rest = order[index:]
        if used + sum(len(blocks[p]) for p in rest) <= room:
            parts.extend(blocks[p] for p in rest)
            return "".join(parts)
        after = rest[1:]
        reserve = len(_omitted_line(after, scenario)) if after else 0
        if used + len(blocks[path]) + reserve <= room:
            parts.append(blocks[path])
            used += len(blocks[path])
            continue
        sharing = sum(1 for p in rest if p in relevant) if path in relevant else 1
        text = scenario.files[path].rstrip("\n")
        title = f"### {path}"
        body_room = (room - used - reserve) // max(sharing, 1) - _overhead(title, text, _suffix(path)) - 1
        body = trim_head(text, body_room) if body_room > 0 else ""
        if not body or body == _marker(len(text.splitlines())):
            omitted = rest
            break
        parts.append(_fenced(title, body, _suffix(path)) + "\n")
        used += len(parts[-1])
        if sharing <= 1:
            omitted = after
            break
    if omitted:
        line = _omitted_line(omitted, scenario)
        if used + len(line) <= room:
            parts.append(line)
    return "".join(parts)


def render_context(scenario: Scenario, *, char_budget: int = 12000) -> str:
    """The scenario as the teacher's user message: task, tree, files, then the failing test output.

    The result is at most `char_budget` characters long and depends on nothing but its arguments.
    """
    if char_budget <= 0:
        raise ValueError("char_budget must be positive")
    head = f"## Task\n\n{scenario.task.strip()}\n" + _fenced(
        f"\n## Repository ({len(scenario.files)} files)\n", file_tree(scenario.files), ""
    )
    if len(head) > char_budget:
        return trim_head(head, char_budget)

    run_title = f"\n## Failing tests\n\nOutput of `{scenario.test_command}` in the repository root:\n"
    output = scenario.failing_output.rstrip("\n")
    output_room = min(
        int(char_budget * OUTPUT_SHARE),
        char_budget - len(head) - _overhead(run_title, output, ""),
    )
    shown = trim_middle(output, output_room) if output_room > 0 else ""
    failing = _fenced(run_title, shown, "") if shown else ""

    files_title = "\n## Files\n\n"
    files_room = char_budget - len(head) - len(failing) - len(files_title)
    files = _section_files(scenario, files_room) if files_room > 0 else ""
    result = head + (files_title + files if files else "") + failing
    # The sections above already respect the budget; this guards the invariant, not a normal path.
    return result if len(result) <= char_budget else trim_head(result, char_budget)
