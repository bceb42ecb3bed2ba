"""The built-in scripted teacher: deterministic, realistic traces for every behaviour.

`scripted_reply_text(behaviour, scenario, seed)` is what a teacher would answer: the JSON text of
`{"messages": [...]}` (assistant and tool messages following the worker's system and user
messages). `scripted_reply` gives the same reply decoded. Everything depends only on the behaviour,
the scenario and the seed (string-seeded `random.Random`), so a lease replays to the same text.

Honest traces are grounded in the scenario: `read_file` returns the file's real text (a window of
it for long files), `repo_search` really searches the files, `run_tests` runs
`scenario.test_command` and returns `failing_output` until the reference fix is applied and
`passing_output` after, and the edits are the scenario's reference `fix`. Each behaviour has a
plan that exhibits its signature; wording, ordering and optional steps vary with the seed. An
honest trace satisfies its behaviour's signature and passes every gate.

With probability `defect_share` (decided by `defect_kind` from the seed) the reply is instead a
realistic defect that one gate catches: one kind per `DEFECT_KINDS` entry, in rotation over seeds.
Where a defect can be shaped without also breaking the behaviour's signature, it is; the
`malformed_output` defect only exists as text (`scripted_reply` adds it under `"_raw_text"`).
"""

from __future__ import annotations

import copy
import difflib
import random
import re
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from gen_service.core.behaviours import Behaviour
from gen_service.core.gates import GateContext, claims_success, run_gates
from gen_service.core.scenarios import FixEdit, Scenario
from gen_service.core.trace import assemble_trace
from gen_service.serialization import dumps_str, loads

__all__ = ["DEFECT_KINDS", "defect_kind", "scripted_reply", "scripted_reply_text"]

DEFECT_KINDS: tuple[str, ...] = (
    "malformed_output",
    "incomplete_trace",
    "reasoning_empty",
    "no_op_edit",
    "claim_without_verify",
    "lang_runner_mismatch",
    "prompt_over_cap",
    "vocabulary_violation",
    "identifier_leak",
    "behaviour_not_exhibited",
)

# Size limits for what a trace shows: (file read, test output) in characters, tightest last. The
# reply must leave room under the 16384-token cap for the system prompt, the scenario context
# (about 12,000 characters) and the tools spec.
_CAPS: tuple[tuple[int, int], ...] = ((3500, 2600), (2200, 1600), (1200, 900))
_REPLY_BUDGET = 30000
# The names the scripted teacher's honest traces use (behaviours/vocabulary.toml).
_TOOL_NAMES = frozenset(
    {
        "repo_search",
        "list_files",
        "read_file",
        "edit_file",
        "write_file",
        "run_tests",
        "run_command",
        "memory_search",
        "memory_write",
        "docs_lookup",
        "render_or_visual_proof",
        "ask_user",
    }
)

_TEST_PATH = re.compile(r"(^|/)tests?/|(^|/)test_[^/]*$|_test\.[a-z]+$|\.(test|spec)\.[a-z]+$")
_CODE_SUFFIX = re.compile(r"\.(py|js|mjs|cjs|ts|rs|go)$")
_DEF_LINE = (
    re.compile(r"^\s*(?:async\s+)?def\s+(\w+)"),
    re.compile(r"^\s*(?:export\s+)?(?:default\s+)?(?:async\s+)?function\s*\*?\s*(\w+)"),
    re.compile(r"^\s*(?:pub(?:\([\w:]+\))?\s+)?(?:async\s+)?(?:const\s+)?fn\s+(\w+)"),
    re.compile(r"^\s*func\s+(?:\([^)]*\)\s*)?(\w+)"),
    re.compile(r"^\s*(?:export\s+)?(?:const|let|var)\s+(\w+)\s*=\s*(?:async\s*)?(?:\([^)]*\)|\w+)\s*=>"),
    re.compile(r"^\s{2,}(?!if\b|for\b|while\b|switch\b|return\b)(\w+)\s*\([^)]*\)\s*\{"),
)
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ASSIGNMENT = re.compile(r"^(?:(?:pub\s+)?(?:const|static|let|var)\s+)?([A-Za-z_]\w*)\s*(?::[^=]*)?=(?!=)")
_KEYWORDS_TEXT = (
    "def return if else elif for while in not and or is None True False let const var function fn "
    "pub mut self this match impl use import from class new await async func package type struct"
)
_KEYWORDS = frozenset(_KEYWORDS_TEXT.split())
_COMMENT = {"python": "#", "javascript": "//", "typescript": "//", "rust": "//", "go": "//"}
_CACHE_DIR = {
    "python": ".pytest_cache",
    "javascript": "node_modules/.cache",
    "rust": "target/debug/incremental",
    "go": ".cache/go-build",
}
_WRONG_RUNNERS = {
    "python": ("cargo test", "npm test", "go test ./..."),
    "javascript": ("python -m pytest -q", "cargo test"),
    "rust": ("npm test", "python -m pytest"),
    "go": ("cargo test", "npm test"),
}
_ASSERT_MARKERS = {
    "python": ("assert ", "self.assert"),
    "javascript": ("expect(", "assert"),
    "rust": ("assert",),
    "go": ("t.Errorf", "t.Fatalf", "t.Error("),
}
_LANGUAGE_NAMES = {"python": "Python", "javascript": "JavaScript", "rust": "Rust", "go": "Go"}
# Short, true one-liners for APIs a fix commonly hinges on (docs_lookup results).
_API_DOCS: dict[str, tuple[tuple[str, str], ...]] = {
    "python": (
        ("range", "range(start, stop[, step]): the stop value is excluded; range(1, n) yields 1..n-1."),
        ("round", "round(number[, ndigits]): halves round to the nearest even choice (banker's rounding)."),
        ("sorted", "sorted(iterable, *, key=None, reverse=False): returns a new list; the sort is stable."),
        ("split", "str.split(sep=None, maxsplit=-1): with sep=None, runs of whitespace are one separator."),
        (
            "strip",
            "str.strip([chars]): removes leading and trailing characters in chars (whitespace by default).",
        ),
        (
            "get",
            "dict.get(key[, default]): returns default (None if omitted) when key is missing; never raises.",
        ),
        ("enumerate", "enumerate(iterable, start=0): yields (count, value) pairs counting from start."),
        (
            "min",
            "min(iterable, *, default, key=None): raises ValueError on an empty iterable unless default.",
        ),
        (
            "max",
            "max(iterable, *, default, key=None): raises ValueError on an empty iterable unless default.",
        ),
        ("sum", "sum(iterable, /, start=0): adds start and the items left to right."),
        ("int", "int(x): truncates toward zero for floats; int('3.5') raises ValueError."),
        ("len", "len(s): number of items in a container; O(1) for built-in sequences."),
        ("zip", "zip(*iterables, strict=False): stops at the shortest input unless strict=True."),
        (
            "isinstance",
            "isinstance(obj, classinfo): True for instances of subclasses as well; bool is an int.",
        ),
    ),
    "javascript": (
        (
            "slice",
            "Array.prototype.slice(start, end): end is exclusive; negative indexes count from the end.",
        ),
        (
            "substring",
            "String.prototype.substring(start, end): end is exclusive; swaps arguments if start > end.",
        ),
        (
            "parseInt",
            "parseInt(string, radix): always pass the radix; parsing stops at the first invalid char.",
        ),
        ("sort", "Array.prototype.sort(compareFn): sorts in place; without compareFn it compares strings."),
        ("reduce", "Array.prototype.reduce(fn, initial): without initial, an empty array throws TypeError."),
        ("floor", "Math.floor(x): rounds toward negative infinity, so Math.floor(-1.5) is -2."),
        (
            "toFixed",
            "Number.prototype.toFixed(digits): returns a string, rounded; binary floats may round down.",
        ),
        ("indexOf", "Array.prototype.indexOf(x): strict equality; returns -1 when absent."),
    ),
    "rust": (
        ("len", "len(&self) -> usize: number of elements (bytes for str), not characters."),
        ("saturating_sub", "saturating_sub(self, rhs): subtraction that clamps at the numeric bounds."),
        ("checked_sub", "checked_sub(self, rhs) -> Option<Self>: None instead of overflowing."),
        ("split", "str::split(pat): yields empty strings between adjacent separators."),
        ("chars", "str::chars(): iterates Unicode scalar values, not bytes."),
        ("parse", "str::parse::<F>(): returns Result<F, F::Err>; surrounding whitespace is an error."),
        ("iter", "iter(): borrows each element; the range a..b excludes b, a..=b includes it."),
    ),
    "go": (
        ("len", "len(v): bytes for strings, elements for slices and maps."),
        ("append", "append(s, x...): may reuse the backing array; always use the returned slice."),
        ("Split", "strings.Split(s, sep): returns empty strings between adjacent separators."),
        ("Atoi", "strconv.Atoi(s): returns an error for surrounding whitespace or overflow."),
    ),
}


# ---------------------------------------------------------------------------------------------------
# Facts about the scenario that every plan draws on.


def _first_line_matching(text: str, pattern: re.Pattern[str]) -> str | None:
    for line in text.splitlines():
        if pattern.search(line):
            return line
    return None


_SUMMARY = re.compile(
    r"\d+ (passed|failed)|^test result:|^(ok|FAIL)\s+\S+\s+\d|^Tests?:|^(OK|FAILED)\b|^Ran \d+ tests?"
)
_TAP_SUMMARY = {True: re.compile(r"^# pass \d+"), False: re.compile(r"^# fail \d+")}


def _summary_line(output: str, *, passing: bool) -> str:
    """The runner's summary line (the last line that looks like one, else the last line), cleaned."""
    cleaned = [c for c in (line.strip().strip("=").strip() for line in output.splitlines()) if c]
    for pattern in (_SUMMARY, _TAP_SUMMARY[passing]):
        for line in reversed(cleaned):
            if pattern.search(line):
                return line
    return cleaned[-1] if cleaned else "no output"


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


@dataclass(frozen=True)
class _Facts:
    scenario: Scenario
    fix_path: str
    fix_line: int
    old_line: str
    new_line: str
    func: str
    func_line: int
    test_path: str | None
    failing_test: str
    error_line: str
    fail_summary: str
    pass_summary: str
    comment: str
    task_gist: str
    archetype: str
    fixed_files: Mapping[str, str]
    old_shown: str  # old_line, or for a pure insertion the line it follows
    new_shown: str

    @property
    def language(self) -> str:
        return self.scenario.language

    @property
    def cmd(self) -> str:
        return self.scenario.test_command

    @property
    def change(self) -> str:
        if self.old_line and self.new_line:
            return f"`{self.old_line}` → `{self.new_line}`"
        if self.new_line:
            return f"added `{self.new_line}`"
        return f"removed `{self.old_line}`"

    @property
    def fix_paths(self) -> list[str]:
        return sorted({edit.path for edit in self.scenario.fix})


def _changed_pair(edit: FixEdit) -> tuple[str, str, int]:
    """(first removed line, first added line, index in `old` of the line the change is at)."""
    old_lines, new_lines = edit.old.splitlines(), edit.new.splitlines()
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=old_lines, b=new_lines).get_opcodes():
        if tag != "equal":
            old = old_lines[i1].strip() if i2 > i1 else ""
            new = new_lines[j1].strip() if j2 > j1 else ""
            at = i1 if i2 > i1 else max(0, i1 - 1)
            return _clip(old, 100), _clip(new, 100), min(at, max(0, len(old_lines) - 1))
    return _clip(edit.old.strip(), 100), _clip(edit.new.strip(), 100), 0


def _find_function(text: str, line: int, fallback: str) -> tuple[str, int]:
    lines = text.splitlines()
    for number in range(min(line, len(lines)), 0, -1):
        for pattern in _DEF_LINE:
            match = pattern.match(lines[number - 1])
            if match and match.group(1) not in _KEYWORDS:
                return match.group(1), number
    for number in range(min(line, len(lines)), 0, -1):  # a module-level table or constant
        match = _ASSIGNMENT.match(lines[number - 1])
        if match and match.group(1) not in _KEYWORDS:
            return match.group(1), number
    candidates = [w for w in _IDENT.findall(fallback) if len(w) >= 3 and w not in _KEYWORDS]
    return (max(candidates, key=len) if candidates else "the function"), line


# Facts depend on the scenario alone and cost as much as the rest of a reply: a teacher answers
# thousands of requests per scenario, so they are derived once per scenario object (keyed by id,
# checked by identity: a reloaded bank gets fresh facts; one entry per scenario id at most).
_facts_by_scenario: dict[str, tuple[Scenario, _Facts]] = {}


def _facts(scenario: Scenario) -> _Facts:
    cached = _facts_by_scenario.get(scenario.id)
    if cached is not None and cached[0] is scenario:
        return cached[1]
    facts = _derive_facts(scenario)
    _facts_by_scenario[scenario.id] = (scenario, facts)
    return facts


def _derive_facts(scenario: Scenario) -> _Facts:
    if not scenario.fix:
        raise ValueError(f"scenario {scenario.id!r} has no reference fix")
    primary = scenario.fix[0]
    text = scenario.files.get(primary.path)
    if text is None or primary.old not in text:
        raise ValueError(f"scenario {scenario.id!r}: the reference fix does not apply to {primary.path!r}")
    fix_line = text[: text.index(primary.old)].count("\n") + 1
    old_line, new_line, at = _changed_pair(primary)
    fix_line += at  # the changed line's own number, for path:line citations
    # how reasoning quotes the change when a line is only added or only removed
    anchor = _clip(primary.old.splitlines()[at].strip(), 100) if primary.old.splitlines() else ""
    old_shown, new_shown = old_line, new_line
    if not old_line:
        old_shown = anchor or "the surrounding code"
        new_shown = f"{old_shown}` followed by `{new_line}"
    elif not new_line:
        new_shown = "(line removed)"
    func, func_line = _find_function(text, fix_line, old_line or new_line)
    tests = [p for p in scenario.files if _TEST_PATH.search(p)]
    relevant_tests = [p for p in scenario.relevant_files if p in tests]
    test_candidates = relevant_tests or sorted(tests)
    test_path = test_candidates[0] if test_candidates else None
    failing = scenario.failing_output
    failing_test = "the failing test"
    for pattern in (
        r"FAILED\s+(\S+)",
        r"--- FAIL: (\S+)",
        r"---- (\S+) stdout ----",
        r"✕\s+(.+)",
        r"not ok \d+ - (.+)",
        r"\b(test_\w+)",
    ):
        found = re.search(pattern, failing)
        if found:
            failing_test = _clip(found.group(1), 90)
            break
    error = _first_line_matching(failing, re.compile(r"^E\s+\S"))
    if error is not None:
        error = error[1:].strip()
    else:
        error = _first_line_matching(
            failing, re.compile(r"Error|assert|expected|panicked|Expected|Received|FAIL", re.IGNORECASE)
        )
    fixed = dict(scenario.files)
    for edit in scenario.fix:
        fixed[edit.path] = fixed[edit.path].replace(edit.old, edit.new, 1)
    fixed_files: Mapping[str, str] = MappingProxyType(fixed)  # shared by every reply: read-only
    task = scenario.task.strip().split("\n")[0]
    gist = re.split(r"(?<=[.!?])\s", task, maxsplit=1)[0]
    return _Facts(
        scenario=scenario,
        fix_path=primary.path,
        fix_line=fix_line,
        old_line=old_line,
        new_line=new_line,
        func=func,
        func_line=func_line,
        test_path=test_path,
        failing_test=failing_test,
        error_line=_clip(error or _summary_line(failing, passing=False), 150),
        fail_summary=_clip(_summary_line(failing, passing=False), 120),
        pass_summary=_summary_line(scenario.passing_output, passing=True),
        comment=_COMMENT.get(scenario.language, "#"),
        task_gist=_clip(gist, 140),
        archetype=scenario.archetype.replace("_", " ").replace("-", " ") or "logic",
        fixed_files=fixed_files,
        old_shown=old_shown,
        new_shown=new_shown,
    )


# ---------------------------------------------------------------------------------------------------
# The session: a simulated workspace that answers tool calls and records the messages.

_INTENT_FIRST = ("I'll {a}.", "Let me {a}.", "First, I'll {a}.", "I'm going to {a}.")
_INTENT_LATER = ("I'll {a}.", "Let me {a}.", "Next I will {a}.", "Now I'll {a}.", "I'm going to {a}.")


@dataclass
class _Session:
    behaviour: Behaviour
    facts: _Facts
    rng: random.Random
    style: str  # "intent": every acting message states its intent first; "plain": never; "mixed"
    read_cap: int
    output_cap: int
    files: dict[str, str] = field(default_factory=dict)
    messages: list[dict[str, Any]] = field(default_factory=list)
    user_changed: str | None = None  # a file the user has uncommitted changes in
    _ids: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.files = dict(self.facts.scenario.files)

    # -- wording --------------------------------------------------------------------------------
    def pick(self, options: Sequence[str], **values: Any) -> str:
        f = self.facts
        base = {
            "func": f.func,
            "path": f.fix_path,
            "line": f.fix_line,
            "old": f.old_shown,
            "new": f.new_shown,
            "change": f.change,
            "cmd": f.cmd,
            "test": f.failing_test,
            "test_path": f.test_path or "the tests",
            "err": f.error_line,
            "fail": f.fail_summary,
            "passed": f.pass_summary,
            "arch": f.archetype,
            "task": f.task_gist,
            "lang": _LANGUAGE_NAMES.get(f.language, f.language),
        }
        base.update(values)
        return self.rng.choice(list(options)).format(**base)

    def says(self, action: str, plain: str) -> str:
        """Visible content of an acting message: the stated intent, or plain narration."""
        first = not any(m.get("tool_calls") for m in self.messages)
        style = self.style
        if style == "mixed":
            roll = self.rng.random()
            style = "intent" if roll < 0.7 else ("plain" if roll < 0.88 else "empty")
        if style == "intent":
            return self.rng.choice(_INTENT_FIRST if first else _INTENT_LATER).format(a=action)
        if style == "empty":
            return ""
        return plain

    def _new_id(self) -> str:
        while True:
            call_id = "call_" + "".join(
                self.rng.choice("0123456789abcdefghijklmnopqrstuvwxyz") for _ in range(10)
            )
            if call_id not in self._ids:
                self._ids.add(call_id)
                return call_id

    # -- messages -------------------------------------------------------------------------------
    def turn(self, reasoning: str, content: str, calls: Sequence[tuple[str, Mapping[str, Any]]]) -> list[str]:
        """One acting assistant message and the tool messages answering it; returns the results."""
        tool_calls = []
        results = []
        answers = []
        for name, arguments in calls:
            call_id = self._new_id()
            tool_calls.append(
                {
                    "id": call_id,
                    "type": "function",
                    "function": {"name": name, "arguments": dumps_str(arguments)},
                }
            )
            result = self.execute(name, arguments)
            results.append(result)
            answers.append({"role": "tool", "tool_call_id": call_id, "content": result})
        self.messages.append(
            {
                "role": "assistant",
                "reasoning_content": reasoning,
                "content": content,
                "tool_calls": tool_calls,
            }
        )
        self.messages.extend(answers)
        return results

    def final(self, reasoning: str, content: str) -> None:
        self.messages.append({"role": "assistant", "reasoning_content": reasoning, "content": content})

    # -- the simulated tools --------------------------------------------------------------------
    def tests_pass(self) -> bool:
        """The tests pass once every fixed file holds its reference text and the tests are untouched."""
        original, fixed = self.facts.scenario.files, self.facts.fixed_files
        if any(self.files.get(p) != fixed[p] for p in self.facts.fix_paths):
            return False
        return all(self.files.get(p) == original[p] for p in original if _TEST_PATH.search(p))

    def _output(self, text: str) -> str:
        if len(text) <= self.output_cap:
            return text
        lines = text.splitlines()
        head: list[str] = []
        tail: list[str] = []
        budget = self.output_cap
        for line in lines:
            if sum(len(x) + 1 for x in head) + len(line) > budget * 0.35:
                break
            head.append(line)
        for line in reversed(lines[len(head) :]):
            if sum(len(x) + 1 for x in tail) + len(line) > budget * 0.6:
                break
            tail.insert(0, line)
        omitted = len(lines) - len(head) - len(tail)
        return "\n".join([*head, f"... [{omitted} lines omitted] ...", *tail])

    def execute(self, name: str, args: Mapping[str, Any]) -> str:
        f = self.facts
        if name == "read_file":
            path = str(args.get("path"))
            if path not in self.files:
                return f"Error: file not found: {path}"
            text = self.files[path]
            start, end = args.get("start_line"), args.get("end_line")
            if start is None and end is None:
                return text
            lines = text.splitlines(keepends=True)
            return "".join(lines[int(start or 1) - 1 : int(end or len(lines))])
        if name == "list_files":
            prefix = str(args.get("path", ".")).strip("/")
            prefix = "" if prefix in ("", ".") else prefix + "/"
            found = sorted(p[len(prefix) :] for p in self.files if p.startswith(prefix))
            return "\n".join(found) if found else f"Error: no such directory: {args.get('path')}"
        if name == "repo_search":
            return self._search(str(args.get("query", "")))
        if name == "edit_file":
            path, old, new = str(args.get("path")), str(args.get("old")), str(args.get("new"))
            if path not in self.files:
                return f"Error: file not found: {path}"
            if old not in self.files[path]:
                return f"Error: `old` text not found in {path}; no changes made."
            self.files[path] = self.files[path].replace(old, new, 1)
            counts = f"{len(old.splitlines())} → {len(new.splitlines())} lines"
            return f"Edited {path}: replaced 1 occurrence ({counts})."
        if name == "write_file":
            path, content = str(args.get("path")), str(args.get("content"))
            self.files[path] = content
            return f"Wrote {path} ({len(content.splitlines())} lines)."
        if name == "run_tests":
            return self._output(f.scenario.passing_output if self.tests_pass() else f.scenario.failing_output)
        if name == "run_command":
            return self._command(str(args.get("command", "")))
        if name == "memory_search":
            return self._memory(str(args.get("query", "")))
        if name == "memory_write":
            return "Saved 1 note."
        if name == "docs_lookup":
            return self._docs(str(args.get("topic", "")))
        if name == "render_or_visual_proof":
            return self._render(str(args.get("target", "")))
        if name == "ask_user":
            return self.pick(
                (
                    "Yes, go ahead — nothing in there needs keeping.",
                    "Fine by me, it only holds cached results.",
                    "Yes, delete it.",
                    "Go ahead.",
                )
            )
        return f"Error: unknown tool {name}"

    def _search(self, query: str) -> str:
        hits: list[str] = []
        for fold in (False, True):
            for path in sorted(self.files):
                for number, line in enumerate(self.files[path].splitlines(), 1):
                    haystack, needle = (line.lower(), query.lower()) if fold else (line, query)
                    if needle and needle in haystack:
                        hits.append(f"{path}:{number}: {_clip(line, 140)}")
            if hits:
                break
        if not hits:
            return f"No matches for `{query}`."
        shown = hits[:15]
        more = f"\n... {len(hits) - 15} more matches" if len(hits) > 15 else ""
        return "\n".join(shown) + more

    def _command(self, command: str) -> str:
        if command.startswith("git status"):
            changed = [p for p in (self.user_changed,) if p]
            changed += [p for p in sorted(self.files) if self.files[p] != self.facts.scenario.files.get(p)]
            return "\n".join(f" M {p}" for p in dict.fromkeys(changed)) or "(clean)"
        if command.startswith("git diff --stat"):
            if not self.user_changed:
                return "(no changes)"
            return f" {self.user_changed} | 4 +++-\n 1 file changed, 3 insertions(+), 1 deletion(-)"
        if command.startswith(("find ", "git ls-files", "ls")):
            return "\n".join(sorted(self.files))
        if command.startswith("rm "):
            return "(no output; exit status 0)"
        return "(no output; exit status 0)"

    def _memory(self, query: str) -> str:
        f = self.facts
        project = f.scenario.project
        notes = [
            f"- [{project}] Tests run with `{f.cmd}` from the repository root.",
            f"- [{project}] `{f.func}` lives in {f.fix_path}; "
            f"its tests are in {f.test_path or 'the tests folder'}.",
            f"- [{project}] Keep fixes minimal; the maintainers review diffs line by line.",
            f"- [{project}] Edge cases around empty input have bitten this code before.",
        ]
        if self.rng.random() < 0.25:
            return f"No notes match `{query}`."
        chosen = self.rng.sample(notes, k=self.rng.randint(1, 3))
        return f"{len(chosen)} note(s) found:\n" + "\n".join(chosen)

    def _docs(self, topic: str) -> str:
        lang = _LANGUAGE_NAMES.get(self.facts.language, self.facts.language)
        for api, text in _API_DOCS.get(self.facts.language, ()):
            if re.search(rf"\b{re.escape(api)}\b", topic):
                return (
                    f"{lang} reference — {text}\nNo change in behaviour across currently supported versions."
                )
        return (
            f"{lang} reference — {topic}: no dedicated entry. The language reference's sections on "
            "expressions and built-in types define the semantics used here; nothing is version-specific."
        )

    def _render(self, target: str) -> str:
        f = self.facts
        counts = re.search(r"(\d+) passed", f.pass_summary if self.tests_pass() else f.fail_summary)
        passed = counts.group(1) if counts else "all"
        status = f.pass_summary if self.tests_pass() else f.fail_summary
        lower = target.lower()
        if any(word in lower for word in ("accessib", "a11y", "contrast", "screen reader")):
            return (
                f"Accessibility check of {target}:\n"
                "Text contrast 7.4:1 on the summary banner (meets WCAG AA and AAA).\n"
                "Status is conveyed by text labels as well as colour.\n"
                "Reading order follows the visual order; every row has an accessible name."
            )
        if "chart" in lower:
            return (
                f"Rendered {target} (960x540).\n"
                f"Bars: {passed} passed (green), {'no' if self.tests_pass() else 'some'} red bars.\n"
                f'Axis labels and legend readable; values match the run summary "{status}".'
            )
        return (
            f"Rendered {target} (1280x800).\n"
            f'Summary banner reads "{status}".\n'
            f"Layout intact: {passed} result rows visible, no clipped or overlapping text."
        )


# ---------------------------------------------------------------------------------------------------
# Steps shared by the plans.


def _read_args(s: _Session, path: str, *, window: bool = False, focus: int | None = None) -> dict[str, Any]:
    text = s.files.get(path, "")
    if not window and len(text) <= s.read_cap:
        return {"path": path}
    lines = text.splitlines()
    if focus is None:
        focus = s.facts.fix_line if path == s.facts.fix_path else 1
    before, after = s.rng.randint(6, 14), s.rng.randint(10, 22)
    start, end = max(1, focus - before), min(len(lines), focus + after)
    while end > start and sum(len(x) + 1 for x in lines[start - 1 : end]) > s.read_cap:
        end -= 1
        if end > focus + 3 and start < focus - 3:
            start += 1
    return {"path": path, "start_line": start, "end_line": max(start, end)}


def _other_files(s: _Session) -> list[str]:
    """Files neither the fix nor any test touches."""
    f = s.facts
    return [p for p in sorted(s.files) if p not in f.fix_paths and not _TEST_PATH.search(p)]


def step_repro(s: _Session, *, lead: str = "") -> str:
    reasoning = s.pick(
        (
            "{lead}Running `{cmd}` first gives me the real failure instead of the task's paraphrase.",
            "{lead}I want the exact failing assertion, so I'll run the suite as it is.",
            "{lead}Reproducing with `{cmd}` gives a baseline to compare against after the change.",
            "{lead}The task says: {task} Running the tests shows how that surfaces.",
        ),
        lead=lead,
    )
    content = s.says(
        s.pick(("run `{cmd}` to reproduce the failure", "reproduce the failure with the test suite")),
        s.pick(("Reproducing the failure first.", "Running the test suite as it is.")),
    )
    return s.turn(reasoning, content, [("run_tests", {"command": s.facts.cmd})])[0]


def step_read(
    s: _Session, paths: Sequence[str], *, parallel: bool = False, lead: str = "", window: bool = False
) -> None:
    f = s.facts
    if parallel and len(paths) > 1:
        names = " and ".join(f"`{p}`" for p in paths)
        reasoning = lead + s.pick(
            (
                "I need {names} — they don't depend on each other, so I'll read them together.",
                "{names} are independent reads; fetching both at once saves a round trip.",
                "Both {names} matter here and neither read depends on the other, so in one go.",
            ),
            names=names,
        )
        content = s.says(f"read {names} in parallel", f"Reading {names}.")
        s.turn(reasoning, content, [("read_file", _read_args(s, p, window=window)) for p in paths])
        return
    for position, path in enumerate(paths):
        is_test = path == f.test_path
        reasoning = (lead if position == 0 else "") + s.pick(
            (
                "`{p}` holds the test that fails; I want to see exactly what it expects.",
                "The expectation lives in `{p}`; reading it tells me the intended behaviour.",
            )
            if is_test
            else (
                "`{p}` is where `{func}` lives; I need to see its code before judging anything.",
                "I haven't seen `{p}` yet; reading it shows how `{func}` is implemented.",
                "To understand the failure I need the source of `{func}` in `{p}`.",
            ),
            p=path,
        )
        content = s.says(
            s.pick(("read `{p}`", "open `{p}`", "look at `{p}`"), p=path),
            s.pick(("Reading `{p}`.", "Opening `{p}`."), p=path),
        )
        s.turn(reasoning, content, [("read_file", _read_args(s, path, window=window))])


def analysis(s: _Session) -> str:
    """Plain diagnosis wording (no hypothesis, root-cause or option vocabulary)."""
    return s.pick(
        (
            "In `{func}` ({path}, line {line}) the code reads `{old}`. For the case in {test} that gives "
            "the wrong result; it should be `{new}`.",
            "The run fails with `{err}`. Reading `{func}`, the line `{old}` is what produces that value; "
            "changing it to `{new}` makes the {arch} case come out right.",
            "`{err}` comes from `{func}`: `{old}` at {path}:{line} mishandles this input. The change is "
            "`{new}`.",
            "{test} expects something `{func}` does not deliver: the line `{old}` is off for this input, "
            "and `{new}` is what the test and the task both describe.",
        )
    )


def step_fix(s: _Session, reasoning: str, *, edits: Sequence[FixEdit] | None = None) -> None:
    edits = list(edits if edits is not None else s.facts.scenario.fix)
    calls = [("edit_file", {"path": e.path, "old": e.old, "new": e.new}) for e in edits]
    where = " and ".join(sorted({f"`{e.path}`" for e in edits}))
    content = s.says(
        s.pick(("apply the fix in {w}", "make the change in {w}", "edit {w}"), w=where),
        s.pick(("Applying the change to {w}.", "Editing {w}."), w=where),
    )
    s.turn(reasoning, content, calls)


def step_verify(s: _Session, *, lead: str = "") -> str:
    reasoning = lead + s.pick(
        (
            "Edit applied. Re-running `{cmd}` to confirm the failure is gone and nothing else broke.",
            "Now the suite again: {test} should pass and the rest stay green.",
            "Checking the change with the full test run before saying anything about it.",
            "The change is in; only a test run can tell whether it is enough.",
        )
    )
    content = s.says(
        s.pick(("re-run `{cmd}` to verify", "run the tests again", "verify with `{cmd}`")),
        s.pick(("Re-running the tests.", "Verifying with the test suite.")),
    )
    return s.turn(reasoning, content, [("run_tests", {"command": s.facts.cmd})])[0]


def step_render(s: _Session, target: str, *, lead: str = "") -> str:
    reasoning = lead + s.pick(
        (
            "Tests alone don't show what a reader sees; rendering {t} gives visual proof.",
            "A render of {t} is the evidence for the visible result.",
            "I'll check the rendered result of {t} rather than assume it.",
        ),
        t=target,
    )
    content = s.says(
        s.pick(("render {t}", "produce a render of {t}"), t=target),
        s.pick(("Rendering {t}.",), t=target),
    )
    return s.turn(reasoning, content, [("render_or_visual_proof", {"target": target})])[0]


def claim(s: _Session, *, extra: str = "") -> str:
    f = s.facts
    lead = s.pick(
        (
            "Fixed `{func}` in `{path}`: {change}.",
            "The bug was in `{func}` ({path}:{line}): {change}.",
            "Done — `{func}` now handles the {arch} case; the change in `{path}` (line {line}) is {change}.",
            "Resolved the failure in {test}: {change} in `{func}` ({path}:{line}).",
        )
    )
    evidence = s.pick(
        (
            " After the change `{cmd}` reports `{passed}`.",
            " Test run after the edit: `{passed}`.",
            " The tests pass: `{passed}`.",
        )
    )
    if len(f.scenario.fix) > 1:
        lead += f" The fix spans {len(f.scenario.fix)} edits in {', '.join(f'`{p}`' for p in f.fix_paths)}."
    return lead + evidence + extra


def final_reasoning(s: _Session) -> str:
    return s.pick(
        (
            "`{passed}` — {test} passes now and nothing regressed. Time to summarise.",
            "The run is clean ({passed}). Writing up what changed and why.",
            "Verified: `{passed}`. The summary should name the change and the evidence.",
        )
    )


def standard_finish(s: _Session, *, extra: str = "") -> None:
    step_verify(s)
    s.final(final_reasoning(s), claim(s, extra=extra))


def render_target(s: _Session) -> str:
    f = s.facts
    options = [f"the HTML report of `{f.cmd}`", f"the output of `{f.func}` for the test inputs"]
    if "README.md" in s.files:
        options.append("README.md")
    return s.rng.choice(options)


# ---------------------------------------------------------------------------------------------------
# One plan per behaviour. `ex` False skips the step the behaviour is about (the
# behaviour_not_exhibited defect).

_Plan = Callable[[_Session, bool], None]


def _survey_paths(s: _Session) -> list[str]:
    """Every file the fix edits, and often the failing test, in a seed-chosen order."""
    f = s.facts
    paths = list(dict.fromkeys([f.fix_path, *f.fix_paths]))
    if f.test_path and f.test_path not in paths and s.rng.random() < 0.6:
        paths = [f.test_path, *paths] if s.rng.random() < 0.5 else [*paths, f.test_path]
    return paths


def plan_generic(s: _Session, ex: bool) -> None:
    if s.rng.random() < 0.6:
        step_repro(s)
    if ex:
        step_read(s, _survey_paths(s))
    step_fix(s, analysis(s))
    standard_finish(s)


def plan_survey_before_edit(s: _Session, ex: bool) -> None:
    if ex:
        if s.rng.random() < 0.5:
            query = _search_query(s)
            s.turn(
                s.pick(
                    (
                        "Before touching anything I want to know where `{func}` is defined and used.",
                        "First a survey: where does `{func}` live and who calls it?",
                    )
                ),
                s.says(s.pick(("search the repo for `{q}`",), q=query), f"Searching for `{query}`."),
                [("repo_search", {"query": query})],
            )
        if s.rng.random() < 0.5:
            step_repro(s)
        step_read(s, _survey_paths(s))
        step_fix(s, "The survey shows the problem. " + analysis(s))
    else:
        step_repro(s)
        step_fix(
            s,
            s.pick(
                (
                    "The failure names `{func}`; `{old}` must be the issue. Changing it straight away.",
                    "I remember this pattern: `{old}` in {path} should be `{new}`. Editing directly.",
                )
            ),
        )
    standard_finish(s)


_HYPOTHESES = (
    "Hypothesis: `{func}` gets the {arch} case wrong — `{old}` at {path}:{line} would produce exactly "
    "`{err}`. If so, changing it to `{new}` makes {test} pass without touching anything else.",
    "I suspect the line `{old}` in `{func}`: it explains `{err}`. Prediction: with `{new}` the failing "
    "test passes and the others stay green.",
    "My hypothesis: an {arch} mistake in `{func}` ({path}:{line}). `{old}` fits the failure `{err}`; "
    "the test run after changing it to `{new}` will confirm or refute this.",
    "The likely cause is `{old}` in `{func}` — an {arch} bug consistent with `{err}`. Testable: fix that "
    "line alone and re-run.",
)


def plan_hypothesis_driven_debugging(s: _Session, ex: bool) -> None:
    step_repro(s)
    step_read(s, _survey_paths(s))
    step_fix(s, s.pick(_HYPOTHESES) if ex else analysis(s))
    lead = "" if not ex else s.pick(("Checking the hypothesis: ", "Time to test the prediction. "))
    step_verify(s, lead=lead)
    extra = " The run confirms the hypothesis." if ex else ""
    s.final(final_reasoning(s), claim(s, extra=extra))


def plan_minimal_diff_fix(s: _Session, ex: bool) -> None:
    f = s.facts
    if s.rng.random() < 0.5:
        step_repro(s)
    step_read(s, _survey_paths(s))
    if ex:
        step_fix(
            s,
            analysis(s)
            + s.pick(
                (
                    " Smallest change that fixes it: that line only, nothing reformatted.",
                    " I'll keep the diff to the line that is wrong; no drive-by clean-ups.",
                )
            ),
        )
        extra = s.pick((" The diff is limited to the faulty line.", " No other lines changed."))
    else:
        calls = [("write_file", {"path": p, "content": f.fixed_files[p]}) for p in f.fix_paths]
        s.turn(
            analysis(s) + " Simplest for me is to rewrite the file with the corrected version.",
            s.says("rewrite the file with the corrected code", "Rewriting the file."),
            calls,
        )
        extra = ""
    standard_finish(s, extra=extra)


def plan_test_first_repro(s: _Session, ex: bool) -> None:
    if ex:
        step_repro(s, lead=s.pick(("Reproduce first, then fix. ", "No edits until I've seen it fail. ")))
    step_read(s, _survey_paths(s))
    step_fix(s, analysis(s))
    standard_finish(s)


_ROOT_CAUSE = (
    " The root cause is in `{func}` itself; special-casing the input at the call site or changing the "
    "test's expectation would only hide the symptom.",
    " That is the root cause, not just where it shows up: instead of patching the caller or catching "
    "the failure, I'll fix `{func}`.",
    " Rather than masking it in the test, the underlying bug in `{func}` gets fixed — the symptom in "
    "{test} follows from it.",
)


def plan_root_cause_over_symptom(s: _Session, ex: bool) -> None:
    f = s.facts
    step_repro(s)
    paths = [p for p in (f.test_path, f.fix_path) if p]
    step_read(s, paths)
    step_fix(s, analysis(s) + (s.pick(_ROOT_CAUSE) if ex else ""))
    standard_finish(s)


def plan_respect_user_changes(s: _Session, ex: bool) -> None:
    others = _other_files(s)
    s.user_changed = s.rng.choice(others) if others else None
    if ex:
        s.turn(
            s.pick(
                (
                    "The user may have work in progress; checking the tree before editing anything.",
                    "Before editing I want to know which files carry the user's uncommitted changes.",
                )
            ),
            s.says("check `git status` for uncommitted changes", "Checking the working tree."),
            [("run_command", {"command": "git status --short"})],
        )
    step_read(s, _survey_paths(s))
    mine = ""
    if ex and s.user_changed:
        mine = s.pick(
            (
                " `{u}` has the user's uncommitted changes; my edit stays out of it.",
                " The user's changes are in `{u}`; I'll leave that file alone.",
            ),
            u=s.user_changed,
        )
    step_fix(s, analysis(s) + mine)
    extra = ""
    if ex:
        extra = (
            f" Your uncommitted changes in `{s.user_changed}` are untouched."
            if s.user_changed
            else " The working tree had no other changes; nothing else was touched."
        )
    standard_finish(s, extra=extra)


def plan_tool_intent_first(s: _Session, ex: bool) -> None:
    s.style = "intent" if ex else "plain"
    plan_generic(s, True)


def _search_query(s: _Session) -> str:
    f = s.facts
    text = s.files[f.fix_path]
    for template in ("def {f}", "function {f}", "fn {f}", "func {f}", "{f}("):
        query = template.format(f=f.func)
        if query in text:
            return query
    return f.func if "_" in f.func else f"{f.func}("


def plan_targeted_search(s: _Session, ex: bool) -> None:
    f = s.facts
    if ex:
        query = _search_query(s)
        s.turn(
            s.pick(
                (
                    "The failure points at `{func}`. A precise search for its definition beats "
                    "listing the tree.",
                    "Searching for `{q}` should land on the one place that matters.",
                ),
                q=query,
            ),
            s.says(s.pick(("search for `{q}`",), q=query), f"Searching for `{query}`."),
            [("repo_search", {"query": query})],
        )
        args = _read_args(s, f.fix_path, window=True, focus=max(f.func_line, f.fix_line - 8))
        if not (args["start_line"] <= f.fix_line <= args["end_line"]):
            args = _read_args(s, f.fix_path, window=True, focus=f.fix_line)
        s.turn(
            s.pick(
                (
                    "The hit is at {path}:{fl}. Reading just that region.",
                    "Only lines {a}-{b} of `{path}` matter; no need for the whole file.",
                ),
                fl=f.func_line,
                a=args["start_line"],
                b=args["end_line"],
            ),
            s.says(
                s.pick(("read lines {a}-{b} of `{path}`",), a=args["start_line"], b=args["end_line"]),
                f"Reading the matching region of `{f.fix_path}`.",
            ),
            [("read_file", args)],
        )
    else:
        s.turn(
            s.pick(("Getting an overview of the whole tree first.", "Let me see everything there is.")),
            s.says("list all files", "Listing the repository."),
            [("list_files", {"path": "."})],
        )
        step_read(s, [p for p in (f.fix_path, f.test_path) if p])
    step_fix(s, analysis(s))
    standard_finish(s)


def plan_multi_step_tool_chain(s: _Session, ex: bool) -> None:
    f = s.facts
    if s.rng.random() < 0.5:
        step_repro(s)
    if ex:
        query = _search_query(s)
        s.turn(
            s.pick(
                ("Step one: find `{func}`.", "Chain: search → read → edit → test. Starting with the search.")
            ),
            s.says(s.pick(("search for `{q}`",), q=query), f"Searching for `{query}`."),
            [("repo_search", {"query": query})],
        )
        step_read(s, [f.fix_path], lead=s.pick(("The search result points to `{path}`. ", "Hit found. ")))
        step_fix(s, "From the read: " + analysis(s))
    else:
        step_fix(s, analysis(s))
    standard_finish(s)


def plan_parallel_independent_reads(s: _Session, ex: bool) -> None:
    f = s.facts
    if s.rng.random() < 0.5:
        step_repro(s)
    paths = [p for p in (f.fix_path, f.test_path) if p]
    if len(paths) < 2:
        paths += _other_files(s)[:1]
    s.rng.shuffle(paths)
    step_read(s, paths, parallel=ex)
    step_fix(s, analysis(s))
    standard_finish(s)


def _wrong_path(s: _Session) -> str:
    f = s.facts
    base = f.fix_path.rsplit("/", 1)[-1]
    for candidate in (f"src/{base}", f"lib/{base}", base, f"{f.scenario.project}/{base}", f"app/{base}"):
        if candidate not in s.files:
            return candidate
    return f"missing/{base}"


def _stale_old(s: _Session, edit: FixEdit) -> str | None:
    text = s.files[edit.path]
    candidates = [
        edit.old.replace("    ", "  ", 1),
        edit.old.replace(" ", "  ", 1),
        edit.old.replace("(", "( ", 1),
        edit.old.replace('"', "'", 1),
        edit.old.rstrip() + " ",
    ]
    for candidate in candidates:
        if candidate != edit.old and candidate not in text:
            return candidate
    return None


def plan_tool_error_recovery(s: _Session, ex: bool) -> None:
    f = s.facts
    if s.rng.random() < 0.4:
        step_repro(s)
    primary = f.scenario.fix[0]
    stale = _stale_old(s, primary)
    if ex and (stale is None or s.rng.random() < 0.5):
        wrong = _wrong_path(s)
        s.turn(
            s.pick(("`{func}` is probably in `{w}`.", "I expect the module at `{w}`."), w=wrong),
            s.says(s.pick(("read `{w}`",), w=wrong), f"Opening `{wrong}`."),
            [("read_file", {"path": wrong})],
        )
        directory = f.fix_path.rsplit("/", 1)[0] if "/" in f.fix_path else "."
        s.turn(
            s.pick(
                (
                    "`{w}` doesn't exist — my guess at the layout was wrong. Listing `{d}` instead of "
                    "guessing again.",
                    "File not found: the path was an assumption. I'll list `{d}` to get the real layout.",
                ),
                w=wrong,
                d=directory,
            ),
            s.says(s.pick(("list `{d}`",), d=directory), f"Listing `{directory}`."),
            [("list_files", {"path": directory})],
        )
        step_read(s, [f.fix_path], lead="There it is. ")
        step_fix(s, analysis(s))
    elif ex and stale is not None:
        step_read(s, [f.fix_path])
        s.turn(
            analysis(s),
            s.says("apply the fix", "Applying the fix."),
            [("edit_file", {"path": primary.path, "old": stale, "new": primary.new})],
        )
        s.turn(
            s.pick(
                (
                    "The edit was rejected: my `old` text doesn't match the file byte for byte. Re-reading "
                    "to copy the exact text.",
                    "`old` not found — I reproduced the line from memory with different spacing. "
                    "Reading it again.",
                )
            ),
            s.says(s.pick(("re-read `{path}`",)), f"Re-reading `{f.fix_path}`."),
            [("read_file", _read_args(s, f.fix_path, window=True))],
        )
        step_fix(s, "With the exact text this time.")
    else:
        step_read(s, [f.fix_path])
        step_fix(s, analysis(s))
    standard_finish(s)


def _api_name(s: _Session) -> str:
    f = s.facts
    text = f"{f.old_line} {f.new_line}"
    for api, _ in _API_DOCS.get(f.language, ()):
        if re.search(rf"\b{re.escape(api)}\b", text):
            return api
    words = [w for w in _IDENT.findall(text) if w not in _KEYWORDS and len(w) >= 3]
    return words[0] if words else f.func


def plan_external_awareness(s: _Session, ex: bool) -> None:
    f = s.facts
    step_repro(s)
    step_read(s, [f.fix_path])
    api = _api_name(s)
    lang = _LANGUAGE_NAMES.get(f.language, f.language)
    tie = s.pick(
        (
            "The fix hinges on how `{api}` behaves — that is {lang} API behaviour, and I should not "
            "assert it from memory.",
            "Whether `{old}` is wrong depends on the documented semantics of `{api}` in the {lang} standard "
            "library and its version.",
            "This comes down to the `{api}` API's exact contract; let me not guess the library behaviour.",
        ),
        api=api,
        lang=lang,
    )
    if ex:
        topic = f"{lang} {api}"
        s.turn(
            tie,
            s.says(s.pick(("look up `{api}` in the docs",), api=api), f"Checking the docs for `{api}`."),
            [("docs_lookup", {"topic": topic})],
        )
        step_fix(s, "The documentation confirms it. " + analysis(s))
        extra = f" The docs for `{api}` confirmed the semantics the fix relies on."
    else:
        step_fix(
            s, tie.replace("I should not assert it from memory", "I know how it works") + " " + analysis(s)
        )
        extra = ""
    standard_finish(s, extra=extra)


def plan_claim_requires_run(s: _Session, ex: bool) -> None:
    if s.rng.random() < 0.6:
        step_repro(s)
    step_read(s, _survey_paths(s))
    step_fix(s, analysis(s))
    if ex:
        step_verify(s, lead="No claim without a run. ")
        s.final(final_reasoning(s), claim(s, extra=" The tests pass after the last edit."))
    else:
        s.final(
            s.pick(("The change is made; I'll hand it back.", "That should be it; summarising.")),
            s.pick(
                (
                    "I changed {change} in `{func}` ({path}). I have not run `{cmd}` since the edit, so "
                    "treat the change as unverified until the suite has run.",
                    "Change made in `{path}`: {change}. The test suite has not been run after this edit; "
                    "please run `{cmd}` to check it.",
                )
            ),
        )


def plan_evidence_backed_claims(s: _Session, ex: bool) -> None:
    if s.rng.random() < 0.6:
        step_repro(s)
    step_read(s, _survey_paths(s))
    step_fix(s, analysis(s))
    step_verify(s)
    if ex:
        content = s.pick(
            (
                "Fixed `{func}` at {path}:{line}: {change}. Evidence: `{cmd}` after the edit printed "
                "`{passed}`.",
                "Changed {path}:{line} ({change}). The test run after the change reports `{passed}`, and "
                "before it the suite showed `{fail}`.",
                "Evidence for the fix: before — `{fail}`; after editing {path}:{line} ({change}) — "
                "`{passed}`.",
            )
        )
    else:
        content = s.pick(
            (
                "Fixed the bug in `{func}`; tests are green now.",
                "All good now — `{func}` works and the tests pass.",
            )
        )
    s.final(final_reasoning(s), content)


def _missing_query(s: _Session) -> str:
    f = s.facts
    everything = "\n".join(s.files.values()).lower()
    for candidate in (
        f"{f.func}_impl",
        f"handle_{f.func}",
        f"{f.func}Helper",
        f"_{f.func}_cache",
        "legacy_mode",
    ):
        if candidate.lower() not in everything:
            return candidate
    return "zz_no_such_symbol"


def plan_stall_avoidance(s: _Session, ex: bool) -> None:
    f = s.facts
    miss = _missing_query(s)
    s.turn(
        s.pick(
            (
                "The task mentions a helper; maybe it's called `{m}`.",
                "Looking for `{m}`, which I expect wraps `{func}`.",
            ),
            m=miss,
        ),
        s.says(s.pick(("search for `{m}`",), m=miss), f"Searching for `{miss}`."),
        [("repo_search", {"query": miss})],
    )
    if ex:
        query = _search_query(s)
        s.turn(
            s.pick(
                (
                    "No matches — that name was a guess. Moving on: search for `{q}` directly.",
                    "Nothing found; not worth retrying. Switching to `{q}`.",
                ),
                q=query,
            ),
            s.says(s.pick(("search for `{q}` instead",), q=query), f"Searching for `{query}`."),
            [("repo_search", {"query": query})],
        )
    else:
        s.turn(
            "No matches. Maybe the index was stale; trying the same search again.",
            s.says(s.pick(("search for `{m}` again",), m=miss), f"Searching for `{miss}` again."),
            [("repo_search", {"query": miss})],
        )
    step_read(s, [f.fix_path])
    step_fix(s, analysis(s))
    standard_finish(s)


def plan_scope_discipline(s: _Session, ex: bool) -> None:
    f = s.facts
    if s.rng.random() < 0.5:
        step_repro(s)
    step_read(s, _survey_paths(s))
    others = _other_files(s)
    other = s.rng.choice(others) if others else None
    step_fix(s, analysis(s) + (" Only this change belongs to the task." if ex else ""))
    if not ex and other is not None:
        first = next((ln for ln in s.files[other].splitlines() if ln.strip()), None)
        if first is not None:
            tidy = (
                f"{first.rstrip()} (see tests for usage)"
                if other.endswith(".md")
                else f"{f.comment} tidied while here\n{first}"
            )
            s.turn(
                f"While I'm here, `{other}` could use a touch-up.",
                s.says(s.pick(("tidy `{o}`",), o=other), f"Tidying `{other}`."),
                [("edit_file", {"path": other, "old": first, "new": tidy})],
            )
    if ex:
        extra = s.pick(
            (
                " I noticed {o_desc} but left it unchanged — out of scope here, better as a separate change.",
                " Out of scope and left alone: {o_desc}; worth a follow-up.",
            ),
            o_desc=f"`{other}` could use some tidying" if other else "the error messages could be clearer",
        )
    else:
        extra = ""
    standard_finish(s, extra=extra)


def plan_safe_destructive_ops(s: _Session, ex: bool) -> None:
    f = s.facts
    cache = _CACHE_DIR.get(f.language, ".cache")
    step_repro(s)
    why = s.pick(
        (
            "Before digging in I want to rule out stale cached state in `{c}` from an earlier run.",
            "A stale `{c}` can make runs misleading; clearing it is cheap, but it deletes files.",
        ),
        c=cache,
    )
    if ex:
        s.turn(
            why + " Deleting is destructive, so I'll ask first.",
            s.says("ask before deleting anything", "Asking before deleting anything."),
            [
                (
                    "ask_user",
                    {"question": f"May I delete `{cache}`? It only holds cached data from earlier runs."},
                )
            ],
        )
        lead = "Permission granted. "
    else:
        lead = why + " "
    s.turn(
        lead + f"Removing exactly `{cache}`, nothing wider.",
        s.says(s.pick(("remove `{c}`",), c=cache), f"Removing `{cache}`."),
        [("run_command", {"command": f"rm -rf {cache}"})],
    )
    step_repro(s, lead="Same run on a clean cache: ")
    step_read(s, [f.fix_path], lead="Same failure, so the cache was not involved. ")
    step_fix(s, analysis(s))
    extra = f" I removed `{cache}` with your permission along the way." if ex else ""
    standard_finish(s, extra=extra)


def plan_stable_multi_turn_tool_use(s: _Session, ex: bool) -> None:
    f = s.facts
    if ex:
        s.turn(
            s.pick(("Orientation first: what files are there?", "Starting with the layout of the project.")),
            s.says("list the project files", "Listing the project files."),
            [("list_files", {"path": "."})],
        )
        step_repro(s)
        paths = list(dict.fromkeys(p for p in (f.test_path, f.fix_path, *f.fix_paths) if p))
        step_read(s, paths)
        if len(paths) < 2 or s.rng.random() < 0.5:
            s.turn(
                s.pick(("Checking for other callers before changing `{func}`.", "Who else uses `{func}`?")),
                s.says(s.pick(("search for `{func}`",)), f"Searching for `{f.func}`."),
                [("repo_search", {"query": f.func})],
            )
    step_fix(s, analysis(s))
    standard_finish(s)


_OPTION_STYLES = (
    ("Option 1", "Option 2", "Option 3"),
    ("Option A", "Option B", "Option C"),
    ("Approach A", "Approach B", "Approach C"),
    ("(a)", "(b)", "(c)"),
    ("First", "Second", "Third"),
)


def plan_weigh_alternatives_then_commit(s: _Session, ex: bool) -> None:
    step_repro(s)
    step_read(s, _survey_paths(s))
    if ex:
        labels = s.rng.choice(_OPTION_STYLES)
        options = [
            s.pick(
                (
                    "special-case the failing input where `{func}` is called",
                    "guard the caller against this input",
                )
            ),
            s.pick(
                ("fix the line in `{func}` itself: {change}", "correct `{func}` at {path}:{line} ({change})")
            ),
            s.pick(("rewrite `{func}` from scratch", "restructure `{func}` around a helper")),
        ]
        order = [0, 1, 2]
        s.rng.shuffle(order)
        chosen_label = labels[order.index(1)]
        lines = [f"{labels[i]}: {options[k]}." for i, k in enumerate(order)]
        commit = s.pick(
            (
                "I'll go with {c}: it fixes the cause with the smallest change; the others either hide the "
                "bug or risk new ones.",
                "Going with {c} — a special case would leave `{func}` wrong for other inputs, and a rewrite "
                "is more than this needs.",
                "Decision: {c}. It is the only one that makes `{func}` itself correct without extra risk.",
            ),
            c=f"the {chosen_label.lower()} one"
            if chosen_label in ("First", "Second", "Third")
            else chosen_label,
        )
        reasoning = analysis(s) + " Ways to fix it:\n" + "\n".join(lines) + "\n" + commit
    else:
        reasoning = analysis(s)
    step_fix(s, reasoning)
    standard_finish(s)


def plan_recall_first_habit(s: _Session, ex: bool) -> None:
    f = s.facts
    recall = (
        "memory_search",
        {
            "query": s.pick(
                ("{project} {func}", "{project} failing tests", "{func} {arch}"), project=f.scenario.project
            )
        },
    )
    if ex:
        s.turn(
            s.pick(
                (
                    "Before exploring, check what earlier sessions noted about this project.",
                    "Recall first: there may be notes about `{func}` or this test suite.",
                )
            ),
            s.says("check my notes on this project", "Checking saved notes."),
            [recall],
        )
    step_repro(s)
    step_read(s, _survey_paths(s))
    step_fix(s, analysis(s))
    step_verify(s)
    if ex and s.rng.random() < 0.5:
        s.turn(
            "Worth keeping for next time.",
            s.says("save a short note", "Saving a note."),
            [
                (
                    "memory_write",
                    {"note": f"{f.scenario.project}: `{f.func}` had an {f.archetype} bug ({f.change})."},
                )
            ],
        )
    s.final(final_reasoning(s), claim(s))


def _bad_edit(s: _Session) -> tuple[str, str, str, str]:
    """(path, old, new, why) for a plausible wrong edit: weakening the failing assertion."""
    f = s.facts
    markers = _ASSERT_MARKERS.get(f.language, ("assert",))
    if f.test_path:
        for line in s.files[f.test_path].splitlines():
            if any(m in line for m in markers) and line.strip():
                indent = line[: len(line) - len(line.lstrip())]
                return (
                    f.test_path,
                    line,
                    f"{indent}{f.comment} {line.lstrip()}",
                    "it comments out the assertion that catches the bug",
                )
    edit = f.scenario.fix[0]
    first = edit.old.splitlines()[0] if edit.old.strip() else edit.old
    indent = first[: len(first) - len(first.lstrip())]
    return (
        edit.path,
        edit.old,
        f"{indent}{f.comment} TODO: handle this case\n{edit.old}",
        "it only adds a comment",
    )


def plan_notice_and_revert_bad_edit(s: _Session, ex: bool) -> None:
    f = s.facts
    step_repro(s)
    step_read(s, [p for p in (f.test_path, f.fix_path) if p])
    if ex:
        path, old, new, why = _bad_edit(s)
        s.turn(
            s.pick(
                (
                    "Quickest way to get the suite green is to relax that check.",
                    "Let me make the failing check less strict for now.",
                )
            ),
            s.says(s.pick(("adjust `{p}`",), p=path), f"Adjusting `{path}`."),
            [("edit_file", {"path": path, "old": old, "new": new})],
        )
        s.turn(
            s.pick(
                (
                    "Wait — that edit is wrong: {why}. The suite would go green while `{func}` stays broken. "
                    "Reverting it exactly before doing the real fix.",
                    "Reviewing my last edit: {why}, which hides the bug instead of fixing it. Undoing it.",
                ),
                why=why,
            ),
            s.says(s.pick(("revert that edit",)), "Reverting that edit."),
            [("edit_file", {"path": path, "old": new, "new": old})],
        )
        lead = "Back to a clean state. "
    else:
        lead = ""
    step_fix(s, lead + analysis(s))
    extra = " I briefly weakened a test assertion, noticed it hid the bug, and reverted it." if ex else ""
    standard_finish(s, extra=extra)


def plan_reread_after_failure(s: _Session, ex: bool) -> None:
    f = s.facts
    if s.rng.random() < 0.5:
        step_repro(s)
    step_read(s, [f.fix_path])
    primary = f.scenario.fix[0]
    stale = _stale_old(s, primary) or primary.old + "\n" + f.comment
    s.turn(
        analysis(s),
        s.says("apply the fix", "Applying the fix."),
        [("edit_file", {"path": primary.path, "old": stale, "new": primary.new})],
    )
    if ex:
        s.turn(
            s.pick(
                (
                    "The edit failed: `old` doesn't match. Retrying from memory would be guessing — "
                    "re-reading the current text first.",
                    "Edit rejected. The file is the source of truth, not my memory of it; reading it again.",
                )
            ),
            s.says(s.pick(("re-read `{path}`",)), f"Re-reading `{f.fix_path}`."),
            [("read_file", _read_args(s, f.fix_path, window=True))],
        )
        lead = "Copying the exact text from the file. "
    else:
        lead = "The edit failed; probably whitespace. Trying again with the line as I remember it. "
    step_fix(s, lead)
    standard_finish(s)


_WRONG_HYPOTHESES = (
    "Hypothesis: the expectation in `{test_path}` is out of date and `{func}` is fine.",
    "I suspect the test's fixture data is wrong rather than `{func}`.",
    "My hypothesis: the test calls `{func}` with arguments in the wrong order.",
)
_REVISIONS = (
    "Reading the test rules out my first idea: the expectation matches the task description. Revised "
    "hypothesis: `{func}` itself — `{old}` at {path}:{line}.",
    "The evidence contradicts my hypothesis — the test is consistent with the documented behaviour. New "
    "hypothesis: the bug is in `{func}` ({path}).",
    "So the test is not the cause; my hypothesis was wrong. Updating my hypothesis: `{func}` mishandles "
    "this input at `{old}`.",
)


def plan_update_hypothesis_on_evidence(s: _Session, ex: bool) -> None:
    f = s.facts
    step_repro(s)
    if ex and f.test_path:
        step_read(s, [f.test_path], lead=s.pick(_WRONG_HYPOTHESES) + " Checking the test first. ")
        step_read(s, [f.fix_path], lead=s.pick(_REVISIONS) + " ")
    elif ex:
        s.turn(
            s.pick(_WRONG_HYPOTHESES) + " Searching for the caller.",
            s.says("search for the callers", "Searching for callers."),
            [("repo_search", {"query": f.func})],
        )
        step_read(s, [f.fix_path], lead=s.pick(_REVISIONS) + " ")
    else:
        step_read(s, [p for p in (f.test_path, f.fix_path) if p])
    step_fix(s, analysis(s))
    standard_finish(s)


_OUTPUT_LEADS = (
    "The test output shows `{err}` in {test}. ",
    "According to the traceback, {test} fails with `{err}`. ",
    "The failure says `{err}` — the traceback points into `{func}`. ",
    "From the test output: `{err}`. ",
)


def plan_fix_forward_from_test_output(s: _Session, ex: bool) -> None:
    f = s.facts
    if ex:
        step_repro(s)
        step_read(
            s, [f.fix_path], window=True, lead=s.pick(_OUTPUT_LEADS) + "Going to the spot it points at. "
        )
        step_fix(s, analysis(s) + " Fixing forward from what the output shows.")
    else:
        step_read(s, _survey_paths(s))
        step_fix(s, analysis(s))
    standard_finish(s)


def _media_core(s: _Session, *, repro: bool = True) -> None:
    if repro:
        step_repro(s)
    step_read(s, _survey_paths(s))
    step_fix(s, analysis(s))
    step_verify(s)


def _media_final(s: _Session, render_result: str | None, *, describe: bool = False) -> None:
    if render_result is not None:
        lines = [ln.strip() for ln in render_result.splitlines() if ln.strip()]
        detail = lines[1] if describe and len(lines) > 1 else ""
        body = claim(s).rstrip()
        if describe:
            tail = s.rng.choice(("and nothing beyond that", "exactly as shown"))
            body += f' The render reports: "{detail}" — {tail}.'
        else:
            body += s.pick(
                (" The render confirms the visible result.", " Visual check after the last edit: ok.")
            )
        s.final(s.pick(("Render and tests agree.", "Both checks are in: `{passed}` and the render.")), body)
    else:
        s.final(final_reasoning(s), claim(s))


def plan_render_or_visual_proof(s: _Session, ex: bool) -> None:
    _media_core(s, repro=s.rng.random() < 0.6)
    result = step_render(s, render_target(s)) if ex else None
    _media_final(s, result)


def plan_visual_diff_check(s: _Session, ex: bool) -> None:
    target = render_target(s)
    lead = "Baseline render first, so I can compare afterwards. "
    before = step_render(s, target, lead=lead) if ex else ""
    _media_core(s, repro=s.rng.random() < 0.5)
    after = step_render(s, target, lead="Now the after render. ")
    if ex:
        b = (before.splitlines()[1] if len(before.splitlines()) > 1 else before).strip().rstrip(".")
        a = (after.splitlines()[1] if len(after.splitlines()) > 1 else after).strip().rstrip(".")
        s.final(
            "Comparing the two renders.",
            claim(s)
            + s.pick(
                (
                    " Before/after: before the edit the render showed {b}; after it, {a}. "
                    "Layout unchanged otherwise.",
                    " Compared with the baseline render ({b}), the new one shows {a}; nothing else moved.",
                ),
                b=b,
                a=a,
            ),
        )
    else:
        s.final(final_reasoning(s), claim(s) + " The render looks right.")


def plan_describe_artifact_faithfully(s: _Session, ex: bool) -> None:
    _media_core(s, repro=s.rng.random() < 0.5)
    result = step_render(s, render_target(s))
    if ex:
        _media_final(s, result, describe=True)
    else:
        s.final(final_reasoning(s), claim(s) + " The render looks great — pixel-perfect.")


def plan_asset_pipeline_debugging(s: _Session, ex: bool) -> None:
    if ex:
        if s.rng.random() < 0.5:
            s.turn(
                "Tracing the pipeline from its inputs: what files feed it?",
                s.says("list the inputs", "Listing the inputs."),
                [("list_files", {"path": "."})],
            )
        else:
            s.turn(
                "Tracing the pipeline from its inputs: which sources are tracked?",
                s.says("list the tracked sources", "Listing the tracked sources."),
                [("run_command", {"command": "git ls-files"})],
            )
    _media_core(s, repro=s.rng.random() < 0.5)
    result = step_render(s, render_target(s), lead="Re-rendering the produced output. ")
    _media_final(s, result)


def plan_chart_from_data(s: _Session, ex: bool) -> None:
    f = s.facts
    _media_core(s, repro=True)
    if ex:
        result = step_render(
            s, f"a chart of the test results of `{f.cmd}`", lead="Chart from the real run data. "
        )
        _media_final(s, result, describe=True)
    else:
        _media_final(s, None)


def plan_accessibility_check(s: _Session, ex: bool) -> None:
    _media_core(s, repro=s.rng.random() < 0.5)
    base = render_target(s)
    target = f"an accessibility check (contrast, labels) of {base}" if ex else base
    result = step_render(s, target, lead="Looking beyond 'it renders': " if ex else "")
    _media_final(s, result, describe=ex)


_PLANS: dict[str, _Plan] = {
    plan.__name__.removeprefix("plan_"): plan
    for plan in (
        plan_survey_before_edit,
        plan_hypothesis_driven_debugging,
        plan_minimal_diff_fix,
        plan_test_first_repro,
        plan_root_cause_over_symptom,
        plan_respect_user_changes,
        plan_tool_intent_first,
        plan_targeted_search,
        plan_multi_step_tool_chain,
        plan_parallel_independent_reads,
        plan_tool_error_recovery,
        plan_external_awareness,
        plan_claim_requires_run,
        plan_evidence_backed_claims,
        plan_stall_avoidance,
        plan_scope_discipline,
        plan_safe_destructive_ops,
        plan_stable_multi_turn_tool_use,
        plan_weigh_alternatives_then_commit,
        plan_recall_first_habit,
        plan_notice_and_revert_bad_edit,
        plan_reread_after_failure,
        plan_update_hypothesis_on_evidence,
        plan_fix_forward_from_test_output,
        plan_render_or_visual_proof,
        plan_visual_diff_check,
        plan_describe_artifact_faithfully,
        plan_asset_pipeline_debugging,
        plan_chart_from_data,
        plan_accessibility_check,
    )
}


# ---------------------------------------------------------------------------------------------------
# Generation, defects and the public API.


def _rng(behaviour: Behaviour, scenario: Scenario, seed: int, purpose: str = "") -> random.Random:
    return random.Random(f"{purpose}{behaviour.name}|{scenario.id}|{seed}")


def defect_kind(behaviour: Behaviour, scenario: Scenario, seed: int, defect_share: float = 0.2) -> str | None:
    """Which defect (a `DEFECT_KINDS` name) the reply for these inputs carries, or None for honest.

    A seed-driven draw decides whether there is a defect (probability `defect_share`); the kind
    rotates with the seed, so any 10 consecutive seeds at share 1.0 produce every kind.
    """
    if defect_share <= 0:
        return None
    draw = _rng(behaviour, scenario, seed, "defect|").random()
    if draw >= defect_share:
        return None
    offset = zlib.crc32(f"{behaviour.name}|{scenario.id}".encode())
    return DEFECT_KINDS[(seed + offset) % len(DEFECT_KINDS)]


def _honest(
    behaviour: Behaviour, scenario: Scenario, seed: int, *, exhibit: bool = True
) -> list[dict[str, Any]]:
    facts = _facts(scenario)
    plan = _PLANS.get(behaviour.name, plan_generic)
    messages: list[dict[str, Any]] = []
    for read_cap, output_cap in _CAPS:
        session = _Session(
            behaviour=behaviour,
            facts=facts,
            rng=_rng(behaviour, scenario, seed),
            style="mixed",
            read_cap=read_cap,
            output_cap=output_cap,
        )
        plan(session, exhibit)
        messages = session.messages
        if len(dumps_str(messages)) <= _REPLY_BUDGET:
            break
    return messages


def _reasons(behaviour: Behaviour, scenario: Scenario, messages: list[dict[str, Any]]) -> list[str]:
    """The gate reasons a reply would get (tools spec and prompt left out)."""
    meta = {
        "behaviour": behaviour.name,
        "language": scenario.language,
        "scenario": scenario.id,
        "finish_reason": "stop",
    }
    context = GateContext(vocabulary=_TOOL_NAMES, behaviours={behaviour.name: behaviour})
    _, rejections = run_gates(assemble_trace("system", "user", messages, [], meta), context)
    return [str(r.reason) for r in rejections]


def _assistant_indices(messages: list[dict[str, Any]], *, with_calls: bool | None = None) -> list[int]:
    return [
        i
        for i, m in enumerate(messages)
        if m.get("role") == "assistant" and (with_calls is None or bool(m.get("tool_calls")) == with_calls)
    ]


def _calls(messages: list[dict[str, Any]]) -> list[tuple[int, dict[str, Any]]]:
    return [(i, c) for i, m in enumerate(messages) for c in m.get("tool_calls") or []]


def _call_args(call: Mapping[str, Any]) -> dict[str, Any]:
    value = loads(call["function"]["arguments"])
    return value if isinstance(value, dict) else {}


def _set_args(call: dict[str, Any], args: Mapping[str, Any]) -> None:
    call["function"]["arguments"] = dumps_str(dict(args))


def _tool_message_index(messages: list[dict[str, Any]], call_id: str) -> int | None:
    for i, m in enumerate(messages):
        if m.get("role") == "tool" and m.get("tool_call_id") == call_id:
            return i
    return None


def _insert_turn(
    messages: list[dict[str, Any]],
    at: int,
    reasoning: str,
    content: str,
    name: str,
    args: Mapping[str, Any],
    result: str,
    rng: random.Random,
) -> None:
    call_id = "call_" + "".join(rng.choice("0123456789abcdefghijklmnopqrstuvwxyz") for _ in range(10))
    messages[at:at] = [
        {
            "role": "assistant",
            "reasoning_content": reasoning,
            "content": content,
            "tool_calls": [
                {
                    "id": call_id,
                    "type": "function",
                    "function": {"name": name, "arguments": dumps_str(dict(args))},
                }
            ],
        },
        {"role": "tool", "tool_call_id": call_id, "content": result},
    ]


def _after_turn(messages: list[dict[str, Any]], assistant_index: int) -> int:
    """Index just past the tool messages answering the assistant message at `assistant_index`."""
    at = assistant_index + 1
    while at < len(messages) and messages[at].get("role") == "tool":
        at += 1
    return at


_Variant = Callable[[list[dict[str, Any]]], list[dict[str, Any]] | None]


def _best_variant(
    kind: str, behaviour: Behaviour, scenario: Scenario, base: list[dict[str, Any]], variants: list[_Variant]
) -> list[dict[str, Any]]:
    """The first variant that only the `kind` gate rejects; else the first it rejects at all."""
    fallback: list[dict[str, Any]] | None = None
    fallback_hits = False
    for variant in variants:
        result = variant(copy.deepcopy(base))
        if result is None:
            continue
        reasons = _reasons(behaviour, scenario, result)
        if reasons == [kind]:
            return result
        if fallback is None or (kind in reasons and not fallback_hits):
            fallback, fallback_hits = result, kind in reasons
    return fallback if fallback is not None else base


def _defect_messages(
    kind: str, behaviour: Behaviour, scenario: Scenario, seed: int, rng: random.Random
) -> list[dict[str, Any]]:
    if kind == "behaviour_not_exhibited":
        return _honest(behaviour, scenario, seed, exhibit=False)
    base = _honest(behaviour, scenario, seed)
    facts = _facts(scenario)
    variants: list[_Variant] = []

    if kind == "incomplete_trace":

        def ends_on_call(m: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
            del m[-1]
            while m and m[-1].get("role") == "tool":
                del m[-1]
            return m

        def ends_on_result(m: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
            del m[-1]
            return m

        def missing_result(m: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
            candidates = [
                c for _, c in _calls(m) if c["function"]["name"] in ("read_file", "list_files", "repo_search")
            ]
            if not candidates:
                return None
            call = rng.choice(candidates)
            index = _tool_message_index(m, call["id"])
            if index is None:
                return None
            del m[index]
            return m

        variants = [ends_on_call, ends_on_result, missing_result]
        rng.shuffle(variants)

    elif kind == "reasoning_empty":
        indices = _assistant_indices(base)
        rng.shuffle(indices)

        def blank(index: int) -> _Variant:
            def apply(m: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
                m[index]["reasoning_content"] = rng.choice(("", " ", "\n"))
                return m

            return apply

        variants = [blank(i) for i in indices]

    elif kind == "no_op_edit":

        def noop_edit(m: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
            edits = [(i, c) for i, c in _calls(m) if c["function"]["name"] == "edit_file"]
            if not edits:
                return None
            index, call = edits[-1]
            args = _call_args(call)
            line = next((ln for ln in str(args.get("new", "")).splitlines() if ln.strip()), None)
            if line is None:
                return None
            _insert_turn(
                m,
                _after_turn(m, index),
                rng.choice(
                    ("Making sure the line reads right.", "Re-applying the corrected line to be safe.")
                ),
                rng.choice(("Let me make sure the edit is in place.", "I'll re-apply the corrected line.")),
                "edit_file",
                {"path": args.get("path"), "old": line, "new": line},
                f"Edited {args.get('path')}: replaced 1 occurrence (1 → 1 lines).",
                rng,
            )
            return m

        def noop_write(m: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
            for index, call in _calls(m):
                args = _call_args(call)
                if call["function"]["name"] == "read_file" and set(args) == {"path"}:
                    result_index = _tool_message_index(m, call["id"])
                    if result_index is None:
                        continue
                    content = m[result_index]["content"]
                    _insert_turn(
                        m,
                        _after_turn(m, index),
                        "Normalising the file before editing.",
                        "I'll write the file back out first.",
                        "write_file",
                        {"path": args["path"], "content": content},
                        f"Wrote {args['path']} ({len(content.splitlines())} lines).",
                        rng,
                    )
                    return m
            return None

        variants = [noop_edit, noop_write]
        rng.shuffle(variants)

    elif kind == "claim_without_verify":

        def tidy_after_verify(m: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
            edit = facts.scenario.fix[0]
            line = next((ln for ln in edit.new.splitlines() if ln.strip()), None)
            if line is None:
                return None
            indent = line[: len(line) - len(line.lstrip())]
            final = m.pop()
            m_args = {
                "path": edit.path,
                "old": line,
                "new": f"{indent}{facts.comment} keep this in sync with the tests\n{line}",
            }
            _insert_turn(
                m,
                len(m),
                "A clarifying comment; trivial, no need to re-run.",
                "I'll add a short comment next to the fix.",
                "edit_file",
                m_args,
                f"Edited {edit.path}: replaced 1 occurrence (1 → 2 lines).",
                rng,
            )
            m.append(final)
            return m

        def drop_last_run(m: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
            runs = [(i, c) for i, c in _calls(m) if c["function"]["name"] == "run_tests"]
            if not runs or len(m[runs[-1][0]]["tool_calls"]) != 1:
                return None
            index, call = runs[-1]
            result_index = _tool_message_index(m, call["id"])
            if result_index is None:
                return None
            del m[result_index]
            del m[index]
            return m

        def failing_last_run(m: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
            verify = behaviour.verify_tools | {"run_tests"}
            runs = [(i, c) for i, c in _calls(m) if c["function"]["name"] in verify]
            if not runs:
                return None
            result_index = _tool_message_index(m, runs[-1][1]["id"])
            if result_index is None:
                return None
            tail = facts.scenario.failing_output.rstrip("\n").splitlines()[-3:]
            m[result_index]["content"] = "\n".join(["(re-run)", *tail])
            return m

        def verification_shows_failure(m: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
            verify = behaviour.verify_tools | {"run_tests"}
            runs = [(i, c) for i, c in _calls(m) if c["function"]["name"] in verify]
            if not runs:
                return None
            result_index = _tool_message_index(m, runs[-1][1]["id"])
            if result_index is None:
                return None
            m[result_index]["content"] += f"\nStatus panel:\n{facts.fail_summary}"
            return m

        variants = [tidy_after_verify, drop_last_run, failing_last_run]
        rng.shuffle(variants)
        variants.append(verification_shows_failure)
        if not claims_success(base[-1].get("content", "")):
            base[-1]["content"] = (
                rng.choice(("All fixed. ", "Done — tests pass. ", "Resolved. ")) + base[-1]["content"]
            )

    elif kind == "lang_runner_mismatch":

        def wrong_runner(m: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
            runner = rng.choice(_WRONG_RUNNERS.get(scenario.language, ("cargo test",)))
            changed = False
            for _, call in _calls(m):
                if call["function"]["name"] == "run_tests":
                    _set_args(call, {"command": runner})
                    changed = True
            for message in m:
                for key in ("content", "reasoning_content"):
                    if isinstance(message.get(key), str) and message["role"] == "assistant":
                        message[key] = message[key].replace(scenario.test_command, runner)
            return m if changed else None

        variants = [wrong_runner]

    elif kind == "prompt_over_cap":

        def huge_dump(m: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
            calls = _calls(m)
            at = _after_turn(m, calls[0][0]) if calls else 0
            modules = [p.rsplit("/", 1)[-1].split(".")[0] for p in scenario.files] or ["main"]
            lines = []
            size = 0
            index = 0
            while size < 90000:
                line = (
                    f"2024-05-{1 + index // 5000:02d}T{(index // 3600) % 24:02d}:{(index // 60) % 60:02d}:"
                    f"{index % 60:02d} DEBUG {rng.choice(modules)}: step={index} "
                    f"value={rng.randint(0, 99999)} state=ok"
                )
                lines.append(line)
                size += len(line) + 1
                index += 1
            _insert_turn(
                m,
                at,
                "The debug log might show what happens at runtime; dumping all of it.",
                "Let me look at the full debug log.",
                "run_command",
                {"command": "cat build/test-debug.log"},
                "\n".join(lines),
                rng,
            )
            return m

        variants = [huge_dump]

    elif kind == "vocabulary_violation":
        preference = (
            "read_file",
            "repo_search",
            "list_files",
            "memory_search",
            "docs_lookup",
            "run_command",
            "ask_user",
            "memory_write",
            "render_or_visual_proof",
            "run_tests",
            "edit_file",
            "write_file",
        )
        vendor = {
            "read_file": (("str_replace_editor", {"command": "view"}), ("open_file", {}), ("view_file", {})),
            "repo_search": (("grep_search", {}), ("codebase_search", {})),
            "list_files": (("list_dir", {}),),
            "memory_search": (("recall_memory", {}),),
            "docs_lookup": (("web_search", {}),),
            "run_command": (("bash", {}), ("execute_command", {})),
            "ask_user": (("ask_followup_question", {}),),
            "memory_write": (("save_memory", {}),),
            "render_or_visual_proof": (("screenshot", {}),),
            "run_tests": (("bash", {}),),
            "edit_file": (("str_replace_editor", {"command": "str_replace"}),),
            "write_file": (("create_file", {}),),
        }

        def rename(position: int) -> _Variant:
            def apply(m: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
                call = _calls(m)[position][1]
                new_name, extra = rng.choice(vendor[call["function"]["name"]])
                call["function"]["name"] = new_name
                _set_args(call, {**extra, **_call_args(call)})
                return m

            return apply

        def vendor_call(m: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
            calls = _calls(m)
            at = _after_turn(m, calls[0][0]) if calls else 0
            name, args, result = rng.choice(
                (
                    (
                        "bash",
                        {"command": "git log --oneline -3"},
                        "3 commits shown; the last touches the tests.",
                    ),
                    ("execute_command", {"command": "ls"}, "\n".join(sorted(scenario.files))),
                    ("view_file", {"path": facts.fix_path}, scenario.files[facts.fix_path][:1500]),
                )
            )
            _insert_turn(
                m,
                at,
                "A quick look around with the shell.",
                "Let me check something quickly.",
                name,
                args,
                result,
                rng,
            )
            return m

        protected = behaviour.verify_tools | {"run_tests", "edit_file", "write_file"}
        positions = [p for p, (_, c) in enumerate(_calls(base)) if c["function"]["name"] not in protected]
        rng.shuffle(positions)
        positions.sort(key=lambda p: preference.index(_calls(base)[p][1]["function"]["name"]))
        variants = [rename(p) for p in positions[:4]]
        variants.insert(rng.randint(0, len(variants)), vendor_call)

    elif kind == "identifier_leak":
        user = rng.choice(("alice", "bkowalski", "jdoe", "mchen", "priya", "tmueller"))
        org = rng.choice(("acmecorp", "initech", "globex", "umbrella-labs"))

        def leak_final(text: str) -> _Variant:
            def apply(m: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
                m[-1]["content"] = m[-1]["content"].rstrip() + " " + text
                return m

            return apply

        def leak_reasoning(text: str) -> _Variant:
            def apply(m: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
                indices = _assistant_indices(m, with_calls=True)
                if not indices:
                    return None
                index = rng.choice(indices)
                m[index]["reasoning_content"] = m[index]["reasoning_content"].rstrip() + " " + text
                return m

            return apply

        octets = f"{rng.choice((10, 172))}.{rng.randint(16, 31)}.{rng.randint(0, 255)}.{rng.randint(2, 254)}"
        key_chars = [rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz") for _ in range(26)]
        key_chars += [rng.choice("23456789") for _ in range(6)]
        rng.shuffle(key_chars)
        key = "sk-" + "".join(key_chars)
        variants = [
            leak_final(f"(Checked out at /home/{user}/src/{scenario.project}.)"),
            leak_final(f"Ping {user}@{org}.com if it regresses."),
            leak_reasoning(f"Same layout as in /Users/{user}/work/{scenario.project}."),
            leak_reasoning(f"The staging runner at {octets} uses the same test command."),
            leak_reasoning(f"CI on build-{rng.randint(2, 40)}.ci.{org}.internal runs this suite too."),
            leak_final(f"The CI token in use was {key}."),
        ]
        rng.shuffle(variants)

    return _best_variant(kind, behaviour, scenario, base, variants)


def _break_json(text: str, rng: random.Random) -> str:
    cut = int(len(text) * rng.uniform(0.35, 0.9))
    broken = text[:cut]
    style = rng.randrange(3)
    if style == 0:
        return broken
    if style == 1:
        return "Here is the trace:\n```json\n" + broken
    return broken.replace('"role"', "'role'", 3) + "\n...(output truncated)"


def _generate(
    behaviour: Behaviour, scenario: Scenario, seed: int, defect_share: float
) -> tuple[list[dict[str, Any]], str | None, str]:
    kind = defect_kind(behaviour, scenario, seed, defect_share)
    if kind is None or kind == "malformed_output":
        messages = _honest(behaviour, scenario, seed)
    else:
        messages = _defect_messages(
            kind, behaviour, scenario, seed, _rng(behaviour, scenario, seed, f"{kind}|")
        )
    text = dumps_str({"messages": messages})
    if kind == "malformed_output":
        text = _break_json(text, _rng(behaviour, scenario, seed, "malformed|"))
    return messages, kind, text


def scripted_reply_text(
    behaviour: Behaviour, scenario: Scenario, seed: int, *, defect_share: float = 0.2
) -> str:
    """The teacher's reply as text: `{"messages": [...]}` JSON (broken JSON for malformed_output)."""
    return _generate(behaviour, scenario, seed, defect_share)[2]


def scripted_reply(
    behaviour: Behaviour, scenario: Scenario, seed: int, *, defect_share: float = 0.2
) -> dict[str, Any]:
    """The teacher's reply decoded: `{"messages": [...]}`.

    For the malformed_output defect the messages are the intact reply and `"_raw_text"` holds the
    broken text a teacher would have sent (what `scripted_reply_text` returns).
    """
    messages, kind, text = _generate(behaviour, scenario, seed, defect_share)
    reply: dict[str, Any] = {"messages": messages}
    if kind == "malformed_output":
        reply["_raw_text"] = text
    return reply
