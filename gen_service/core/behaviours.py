"""Behaviours and their signatures: declarative predicates evaluated on a parsed `Trace`.

A behaviour file (`behaviours/<layer>/<name>.toml`, decoded by `gen_service.catalog`) holds the
teacher's brief and a `[[signature]]` list; every entry names one predicate `kind` from `PREDICATES`
plus that kind's fields. A trace exhibits the behaviour when every predicate holds. The full schema
and each predicate's meaning are documented in `behaviours/README.md`.

Conventions shared by all predicates:
- "before"/"after" compare assistant messages: a call counts as before another only when it sits in
  an earlier assistant message (its result could inform the later call); calls of one message are
  simultaneous.
- patterns are Python regular expressions, searched case-insensitively (`re.search`), except
  `content_starts_with`, which anchors them at the start of the content.
- "reasoning before X" is the `reasoning_content` of every assistant message up to and including
  the message that makes the call X (a message reasons first, then calls).

Pure: no I/O. Every predicate is a frozen dataclass with `check(trace) -> str | None` (None: holds;
else a short detail).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from gen_service.core.trace import ToolCall, Trace
from gen_service.serialization import canonical_json, dumps_str

__all__ = [
    "DEFAULT_COMMIT_PATTERNS",
    "LAYERS",
    "PREDICATES",
    "Behaviour",
    "Predicate",
    "parse_predicate",
]

LAYERS: tuple[str, ...] = ("coding", "tool_depth", "reliability", "self_correction", "media")

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")

DEFAULT_COMMIT_PATTERNS: tuple[str, ...] = (
    r"\bI(?:'|’)?ll go with\b",
    r"\bI will go with\b",
    r"\bgoing with\b",
    r"\bgo with (?:option|approach)\b",
    r"\bI (?:choose|pick|prefer)\b",
    r"\bI(?:'|’)?ll (?:choose|pick|take)\b",
    r"\bchoos(?:e|ing)\b",
    r"\bsettl(?:e|ing) on\b",
    r"\bdecision:",
    r"\bthe best (?:option|approach|choice) is\b",
    r"\bcommit(?:ting)? to\b",
)

# Enumeration families recognised by `distinct_options_before`: each regex captures the label.
_OPTION_FAMILIES: tuple[re.Pattern[str], ...] = (
    re.compile(r"\boption\s*#?\s*([1-9])\b", re.IGNORECASE),
    re.compile(r"\boption\s+([a-e])\b(?=\s*[:).,-])", re.IGNORECASE),
    re.compile(r"\bapproach\s*#?\s*([1-9a-e])\b", re.IGNORECASE),
    re.compile(r"\balternative\s*#?\s*([1-9a-e])\b", re.IGNORECASE),
    re.compile(r"\(([a-e])\)", re.IGNORECASE),
    re.compile(r"\(([1-9])\)"),
    re.compile(r"\b(first|second|third|fourth|fifth)(?:ly)?\b", re.IGNORECASE),
)


# ---------------------------------------------------------------------------------------------------
# Field parsing helpers: every error names the field.


class _Fields:
    """Reads one signature entry's fields, collecting which were used, raising ValueError on misuse."""

    def __init__(self, where: str, data: Mapping[str, Any]) -> None:
        self.where = where
        self.data = data
        self.used: set[str] = {"kind"}

    def _get(self, name: str) -> Any:
        self.used.add(name)
        return self.data.get(name)

    def fail(self, name: str, problem: str) -> ValueError:
        return ValueError(f"{self.where}: field '{name}' {problem}")

    def names(self, name: str, *, required: bool = True) -> frozenset[str]:
        value = self._get(name)
        if value is None and not required:
            return frozenset()
        if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
            raise self.fail(name, "must be a non-empty list of tool names")
        bad = [v for v in value if not _NAME.match(v)]
        if bad:
            raise self.fail(name, f"has invalid tool name(s) {bad}")
        return frozenset(value)

    def patterns(self, name: str, *, required: bool = True) -> tuple[re.Pattern[str], ...]:
        value = self._get(name)
        if value is None and not required:
            return ()
        if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
            raise self.fail(name, "must be a non-empty list of regular expressions")
        compiled: list[re.Pattern[str]] = []
        for text in value:
            try:
                compiled.append(re.compile(text, re.IGNORECASE))
            except re.error as exc:
                raise self.fail(name, f"has an invalid regular expression {text!r}: {exc}") from None
        return tuple(compiled)

    def integer(self, name: str, default: int | None, *, minimum: int = 0) -> int | None:
        value = self._get(name)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise self.fail(name, f"must be an integer >= {minimum}")
        return value

    def choice(self, name: str, default: str, choices: Iterable[str]) -> str:
        value = self._get(name)
        if value is None:
            return default
        options = tuple(choices)
        if value not in options:
            raise self.fail(name, f"must be one of {list(options)}, got {value!r}")
        return str(value)

    def boolean(self, name: str, default: bool) -> bool:
        value = self._get(name)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self.fail(name, "must be true or false")
        return value

    def string(self, name: str) -> str | None:
        value = self._get(name)
        if value is None:
            return None
        if not isinstance(value, str) or not value:
            raise self.fail(name, "must be a non-empty string")
        return value

    def finish(self) -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            raise ValueError(f"{self.where}: unknown field(s) {unknown}")


# ---------------------------------------------------------------------------------------------------
# Trace helpers.


def _tools_text(tools: frozenset[str]) -> str:
    return "/".join(sorted(tools))


def _argument_values(call: ToolCall, argument: str | None = None) -> list[str]:
    if argument is not None:
        if argument not in call.arguments:
            return []
        values = [call.arguments[argument]]
    else:
        values = list(call.arguments.values())
    return [v if isinstance(v, str) else dumps_str(v) for v in values]


def _any_match(patterns: Sequence[re.Pattern[str]], texts: Iterable[str]) -> bool:
    materialised = list(texts)
    return any(p.search(t) for p in patterns for t in materialised)


def _args_match(call: ToolCall, patterns: Sequence[re.Pattern[str]], argument: str | None = None) -> bool:
    return not patterns or _any_match(patterns, _argument_values(call, argument))


def _reasoning(message: Mapping[str, Any]) -> str:
    value = message.get("reasoning_content")
    return value if isinstance(value, str) else ""


def _content(message: Mapping[str, Any]) -> str:
    value = message.get("content")
    return value if isinstance(value, str) else ""


def _reasoning_through(trace: Trace, message_index: int) -> str:
    """Reasoning of every assistant message up to and including `message_index`."""
    return "\n".join(
        _reasoning(m)
        for i, m in enumerate(trace.messages[: message_index + 1])
        if m.get("role") == "assistant"
    )


def _first_call(
    trace: Trace, tools: frozenset[str], predicate: Callable[[ToolCall], bool] | None = None
) -> ToolCall | None:
    for call in trace.tool_calls:
        if call.name in tools and (predicate is None or predicate(call)):
            return call
    return None


def _last_call(trace: Trace, tools: frozenset[str]) -> ToolCall | None:
    found: ToolCall | None = None
    for call in trace.tool_calls:
        if call.name in tools:
            found = call
    return found


def _final_content(trace: Trace) -> str | None:
    last = trace.messages[-1] if trace.messages else None
    if last is None or last.get("role") != "assistant" or last.get("tool_calls"):
        return None
    return _content(last)


def _changed_lines(old: str, new: str) -> int:
    old_lines, new_lines = old.splitlines(), new.splitlines()
    changed = 0
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=old_lines, b=new_lines).get_opcodes():
        if tag != "equal":
            changed += (i2 - i1) + (j2 - j1)
    return changed


# ---------------------------------------------------------------------------------------------------
# Predicates.


class Predicate:
    """Base of all signature predicates."""

    kind: ClassVar[str]

    def check(self, trace: Trace) -> str | None:  # pragma: no cover - every subclass overrides
        raise NotImplementedError

    @classmethod
    def parse(cls, fields: _Fields) -> Predicate:  # pragma: no cover - every subclass overrides
        raise NotImplementedError


@dataclass(frozen=True)
class FirstToolIs(Predicate):
    """The trace's first tool call is one of `tools`."""

    kind: ClassVar[str] = "first_tool_is"
    tools: frozenset[str]

    def check(self, trace: Trace) -> str | None:
        if not trace.tool_calls:
            return "no tool call at all"
        first = trace.tool_calls[0]
        if first.name not in self.tools:
            return f"first tool call is {first.name}, not {_tools_text(self.tools)}"
        return None

    @classmethod
    def parse(cls, fields: _Fields) -> Predicate:
        return cls(tools=fields.names("tools"))


@dataclass(frozen=True)
class ToolCalled(Predicate):
    """Between `min_count` and `max_count` calls of `tools` (whose `argument` matches `patterns`)."""

    kind: ClassVar[str] = "tool_called"
    tools: frozenset[str]
    min_count: int = 1
    max_count: int | None = None
    argument: str | None = None
    patterns: tuple[re.Pattern[str], ...] = ()

    def check(self, trace: Trace) -> str | None:
        count = sum(
            1
            for call in trace.tool_calls
            if call.name in self.tools and _args_match(call, self.patterns, self.argument)
        )
        what = _tools_text(self.tools) + (" (matching)" if self.patterns else "")
        if count < self.min_count:
            return f"{count} call(s) of {what}, need at least {self.min_count}"
        if self.max_count is not None and count > self.max_count:
            return f"{count} call(s) of {what}, allowed at most {self.max_count}"
        return None

    @classmethod
    def parse(cls, fields: _Fields) -> Predicate:
        min_count = fields.integer("min_count", 1)
        max_count = fields.integer("max_count", None)
        assert min_count is not None
        if max_count is not None and max_count < min_count:
            raise fields.fail("max_count", "must be >= min_count")
        return cls(
            tools=fields.names("tools"),
            min_count=min_count,
            max_count=max_count,
            argument=fields.string("argument"),
            patterns=fields.patterns("patterns", required=False),
        )


@dataclass(frozen=True)
class ToolBefore(Predicate):
    """A call of `tools` comes before the first call of `before_tools` (that passes the filters)."""

    kind: ClassVar[str] = "tool_before"
    tools: frozenset[str]
    before_tools: frozenset[str]
    arguments: tuple[re.Pattern[str], ...] = ()
    before_arguments: tuple[re.Pattern[str], ...] = ()
    before_reasoning: tuple[re.Pattern[str], ...] = ()

    def _is_anchor(self, trace: Trace, call: ToolCall) -> bool:
        if not _args_match(call, self.before_arguments):
            return False
        return not self.before_reasoning or _any_match(
            self.before_reasoning, [_reasoning_through(trace, call.message_index)]
        )

    def check(self, trace: Trace) -> str | None:
        anchor = _first_call(trace, self.before_tools, lambda c: self._is_anchor(trace, c))
        filtered = " matching the filters" if self.before_arguments or self.before_reasoning else ""
        if anchor is None:
            return f"no call of {_tools_text(self.before_tools)}{filtered}"
        for call in trace.tool_calls:
            if call.message_index >= anchor.message_index:
                break
            if call.name in self.tools and _args_match(call, self.arguments):
                return None
        first = _tools_text(self.before_tools)
        return f"no {_tools_text(self.tools)} call before the first {first}{filtered}"

    @classmethod
    def parse(cls, fields: _Fields) -> Predicate:
        return cls(
            tools=fields.names("tools"),
            before_tools=fields.names("before_tools"),
            arguments=fields.patterns("arguments", required=False),
            before_arguments=fields.patterns("before_arguments", required=False),
            before_reasoning=fields.patterns("before_reasoning", required=False),
        )


@dataclass(frozen=True)
class ToolAfter(Predicate):
    """A call of `tools` comes after the first (or last) call of `after_tools`."""

    kind: ClassVar[str] = "tool_after"
    tools: frozenset[str]
    after_tools: frozenset[str]
    anchor: str = "last"

    def check(self, trace: Trace) -> str | None:
        if self.anchor == "first":
            anchor = _first_call(trace, self.after_tools)
        else:
            anchor = _last_call(trace, self.after_tools)
        if anchor is None:
            return f"no call of {_tools_text(self.after_tools)}"
        if any(c.name in self.tools and c.message_index > anchor.message_index for c in trace.tool_calls):
            return None
        return f"no {_tools_text(self.tools)} call after the {self.anchor} {_tools_text(self.after_tools)}"

    @classmethod
    def parse(cls, fields: _Fields) -> Predicate:
        return cls(
            tools=fields.names("tools"),
            after_tools=fields.names("after_tools"),
            anchor=fields.choice("anchor", "last", ("first", "last")),
        )


@dataclass(frozen=True)
class ParallelCalls(Predicate):
    """One assistant message makes at least `min_count` calls of `tools`."""

    kind: ClassVar[str] = "parallel_calls"
    tools: frozenset[str]
    min_count: int = 2

    def check(self, trace: Trace) -> str | None:
        per_message: dict[int, int] = {}
        for call in trace.tool_calls:
            if call.name in self.tools:
                per_message[call.message_index] = per_message.get(call.message_index, 0) + 1
        best = max(per_message.values(), default=0)
        if best < self.min_count:
            return f"at most {best} {_tools_text(self.tools)} call(s) in one message, need {self.min_count}"
        return None

    @classmethod
    def parse(cls, fields: _Fields) -> Predicate:
        count = fields.integer("min_count", 2, minimum=2)
        assert count is not None
        return cls(tools=fields.names("tools"), min_count=count)


@dataclass(frozen=True)
class ContentStartsWith(Predicate):
    """Every assistant message in scope has content that begins with one of `patterns`."""

    kind: ClassVar[str] = "content_starts_with"
    patterns: tuple[re.Pattern[str], ...]
    scope: str = "messages_with_tool_calls"

    def check(self, trace: Trace) -> str | None:
        in_scope = 0
        for index, message in enumerate(trace.messages):
            if message.get("role") != "assistant":
                continue
            if self.scope == "messages_with_tool_calls" and not message.get("tool_calls"):
                continue
            in_scope += 1
            content = _content(message).lstrip()
            if not any(p.match(content) for p in self.patterns):
                shown = content[:40] + ("…" if len(content) > 40 else "")
                return f"message {index} content does not begin with a stated intent: {shown!r}"
        if in_scope == 0:
            return "no assistant message in scope"
        return None

    @classmethod
    def parse(cls, fields: _Fields) -> Predicate:
        return cls(
            patterns=fields.patterns("patterns"),
            scope=fields.choice("scope", "messages_with_tool_calls", ("messages_with_tool_calls", "all")),
        )


@dataclass(frozen=True)
class ReasoningMatchesBefore(Predicate):
    """Reasoning before the first call of `before_tools` matches `min_distinct` of `patterns`."""

    kind: ClassVar[str] = "reasoning_matches_before"
    patterns: tuple[re.Pattern[str], ...]
    before_tools: frozenset[str]
    min_distinct: int = 1

    def check(self, trace: Trace) -> str | None:
        anchor = _first_call(trace, self.before_tools)
        if anchor is None:
            return f"no call of {_tools_text(self.before_tools)}"
        text = _reasoning_through(trace, anchor.message_index)
        matched = sum(1 for p in self.patterns if p.search(text))
        if matched < self.min_distinct:
            return (
                f"reasoning before the first {_tools_text(self.before_tools)} matches {matched} "
                f"pattern(s), need {self.min_distinct}"
            )
        return None

    @classmethod
    def parse(cls, fields: _Fields) -> Predicate:
        patterns = fields.patterns("patterns")
        count = fields.integer("min_distinct", 1, minimum=1)
        assert count is not None
        if count > len(patterns):
            raise fields.fail("min_distinct", "exceeds the number of patterns")
        return cls(patterns=patterns, before_tools=fields.names("before_tools"), min_distinct=count)


@dataclass(frozen=True)
class ReasoningSequence(Predicate):
    """Reasoning matching `first`, then, in a later assistant message after a tool result, `then`."""

    kind: ClassVar[str] = "reasoning_sequence"
    first: tuple[re.Pattern[str], ...]
    then: tuple[re.Pattern[str], ...]

    def check(self, trace: Trace) -> str | None:
        seen_first = False
        tool_since_first = False
        for message in trace.messages:
            role = message.get("role")
            if role == "tool" and seen_first:
                tool_since_first = True
            if role != "assistant":
                continue
            text = _reasoning(message)
            if seen_first and tool_since_first and _any_match(self.then, [text]):
                return None
            if not seen_first and _any_match(self.first, [text]):
                seen_first = True
        if not seen_first:
            return "no reasoning matches the 'first' patterns"
        return "no later reasoning (after a tool result) matches the 'then' patterns"

    @classmethod
    def parse(cls, fields: _Fields) -> Predicate:
        return cls(first=fields.patterns("first"), then=fields.patterns("then"))


@dataclass(frozen=True)
class DistinctOptionsBefore(Predicate):
    """Reasoning before the first `before_tools` call names `min_options` options, then commits."""

    kind: ClassVar[str] = "distinct_options_before"
    before_tools: frozenset[str]
    min_options: int = 3
    commit_patterns: tuple[re.Pattern[str], ...] = ()

    def check(self, trace: Trace) -> str | None:
        anchor = _first_call(trace, self.before_tools)
        if anchor is None:
            return f"no call of {_tools_text(self.before_tools)}"
        text = _reasoning_through(trace, anchor.message_index)
        commits = self.commit_patterns or tuple(re.compile(p, re.IGNORECASE) for p in DEFAULT_COMMIT_PATTERNS)
        best = 0
        for family in _OPTION_FAMILIES:
            labels: dict[str, int] = {}
            for match in family.finditer(text):
                labels.setdefault(match.group(1).lower(), match.end())
            best = max(best, len(labels))
            if len(labels) < self.min_options:
                continue
            named_at = sorted(labels.values())[self.min_options - 1]
            if any(p.search(text, named_at) for p in commits):
                return None
            return f"{len(labels)} options named but no commitment to one after them"
        return f"reasoning names {best} distinct option(s), need {self.min_options}"

    @classmethod
    def parse(cls, fields: _Fields) -> Predicate:
        count = fields.integer("min_options", 3, minimum=2)
        assert count is not None
        return cls(
            before_tools=fields.names("before_tools"),
            min_options=count,
            commit_patterns=fields.patterns("commit_patterns", required=False),
        )


@dataclass(frozen=True)
class ResultThenCall(Predicate):
    """A call of `tools` whose result matches `result_patterns` is followed by a corrected call."""

    kind: ClassVar[str] = "result_then_call"
    tools: frozenset[str]
    result_patterns: tuple[re.Pattern[str], ...]
    then_tools: frozenset[str] = frozenset()
    after_tools: frozenset[str] = frozenset()
    different: bool = True

    def check(self, trace: Trace) -> str | None:
        start = 0
        if self.after_tools:
            anchor = _first_call(trace, self.after_tools)
            if anchor is None:
                return f"no call of {_tools_text(self.after_tools)}"
            start = trace.tool_calls.index(anchor)
        calls = list(trace.tool_calls)
        matched_any = False
        for position in range(start, len(calls)):
            call = calls[position]
            if call.name not in self.tools:
                continue
            result = trace.tool_result(call.call_id)
            if result is None or not _any_match(self.result_patterns, [result]):
                continue
            matched_any = True
            for later in calls[position + 1 :]:
                if later.message_index <= call.message_index:
                    continue
                if self.then_tools and later.name not in self.then_tools:
                    continue
                if (
                    self.different
                    and later.name == call.name
                    and dict(later.arguments) == dict(call.arguments)
                ):
                    continue
                return None
        if not matched_any:
            return f"no {_tools_text(self.tools)} result matches the result patterns"
        follow = _tools_text(self.then_tools) if self.then_tools else "different"
        return f"a matching {_tools_text(self.tools)} result is not followed by a {follow} call"

    @classmethod
    def parse(cls, fields: _Fields) -> Predicate:
        return cls(
            tools=fields.names("tools"),
            result_patterns=fields.patterns("result_patterns"),
            then_tools=fields.names("then_tools", required=False),
            after_tools=fields.names("after_tools", required=False),
            different=fields.boolean("different", True),
        )


@dataclass(frozen=True)
class FinalMessageMatches(Predicate):
    """The final assistant message's content matches `min_distinct` of `patterns`."""

    kind: ClassVar[str] = "final_message_matches"
    patterns: tuple[re.Pattern[str], ...]
    min_distinct: int = 1

    def check(self, trace: Trace) -> str | None:
        content = _final_content(trace)
        if content is None:
            return "no final assistant message without tool calls"
        matched = sum(1 for p in self.patterns if p.search(content))
        if matched < self.min_distinct:
            return f"final message matches {matched} pattern(s), need {self.min_distinct}"
        return None

    @classmethod
    def parse(cls, fields: _Fields) -> Predicate:
        patterns = fields.patterns("patterns")
        count = fields.integer("min_distinct", 1, minimum=1)
        assert count is not None
        if count > len(patterns):
            raise fields.fail("min_distinct", "exceeds the number of patterns")
        return cls(patterns=patterns, min_distinct=count)


@dataclass(frozen=True)
class FinalQuotesResult(Predicate):
    """The final message quotes, verbatim, a line of the last result of `tools`."""

    kind: ClassVar[str] = "final_quotes_result"
    tools: frozenset[str]
    min_chars: int = 12

    def check(self, trace: Trace) -> str | None:
        content = _final_content(trace)
        if content is None:
            return "no final assistant message without tool calls"
        last = _last_call(trace, self.tools)
        if last is None:
            return f"no call of {_tools_text(self.tools)}"
        result = trace.tool_result(last.call_id) or ""
        for line in result.splitlines():
            quoted = line.strip().strip("=").strip()
            if len(quoted) >= self.min_chars and quoted in content:
                return None
        return f"final message quotes no line of the last {_tools_text(self.tools)} result"

    @classmethod
    def parse(cls, fields: _Fields) -> Predicate:
        count = fields.integer("min_chars", 12, minimum=1)
        assert count is not None
        return cls(tools=fields.names("tools"), min_chars=count)


_EDIT_TOOLS = frozenset({"edit_file", "write_file"})


@dataclass(frozen=True)
class EditTargetsReadFirst(Predicate):
    """Every path that `edit_tools` change was read (same `path`) in an earlier message."""

    kind: ClassVar[str] = "edit_targets_read_first"
    edit_tools: frozenset[str] = _EDIT_TOOLS
    read_tools: frozenset[str] = frozenset({"read_file"})

    def check(self, trace: Trace) -> str | None:
        edits = [c for c in trace.tool_calls if c.name in self.edit_tools]
        if not edits:
            return f"no call of {_tools_text(self.edit_tools)}"
        for edit in edits:
            path = edit.arguments.get("path")
            if not any(
                c.name in self.read_tools
                and c.arguments.get("path") == path
                and c.message_index < edit.message_index
                for c in trace.tool_calls
            ):
                return f"{edit.name} of {path!r} without reading it first"
        return None

    @classmethod
    def parse(cls, fields: _Fields) -> Predicate:
        return cls(
            edit_tools=fields.names("edit_tools", required=False) or _EDIT_TOOLS,
            read_tools=fields.names("read_tools", required=False) or frozenset({"read_file"}),
        )


@dataclass(frozen=True)
class EditSizeAtMost(Predicate):
    """The edits change at most `max_changed_lines` lines in at most `max_files` files.

    An `edit_file` counts the lines removed plus added between `old` and `new`; a `write_file`
    counts every line it writes.
    """

    kind: ClassVar[str] = "edit_size_at_most"
    max_changed_lines: int
    max_files: int | None = None

    def check(self, trace: Trace) -> str | None:
        changed = 0
        files: set[str] = set()
        edits = 0
        for call in trace.tool_calls:
            if call.name == "edit_file":
                old, new = call.arguments.get("old"), call.arguments.get("new")
                changed += _changed_lines(str(old or ""), str(new or ""))
            elif call.name == "write_file":
                content = call.arguments.get("content")
                changed += len(content.splitlines()) if isinstance(content, str) else 0
            else:
                continue
            edits += 1
            files.add(str(call.arguments.get("path")))
        if edits == 0:
            return "no edit at all"
        if changed > self.max_changed_lines:
            return f"edits change {changed} lines, allowed {self.max_changed_lines}"
        if self.max_files is not None and len(files) > self.max_files:
            return f"edits touch {len(files)} files, allowed {self.max_files}"
        return None

    @classmethod
    def parse(cls, fields: _Fields) -> Predicate:
        lines = fields.integer("max_changed_lines", None, minimum=1)
        if lines is None:
            raise fields.fail("max_changed_lines", "is required")
        return cls(max_changed_lines=lines, max_files=fields.integer("max_files", None, minimum=1))


@dataclass(frozen=True)
class RevertedEdit(Predicate):
    """An `edit_file` later undone by an `edit_file` of the same path with `old` and `new` swapped."""

    kind: ClassVar[str] = "reverted_edit"

    def check(self, trace: Trace) -> str | None:
        edits = [c for c in trace.tool_calls if c.name == "edit_file"]
        for position, first in enumerate(edits):
            for later in edits[position + 1 :]:
                if (
                    later.message_index > first.message_index
                    and later.arguments.get("path") == first.arguments.get("path")
                    and later.arguments.get("old") == first.arguments.get("new")
                    and later.arguments.get("new") == first.arguments.get("old")
                ):
                    return None
        return "no edit_file is reverted by a later edit_file"

    @classmethod
    def parse(cls, fields: _Fields) -> Predicate:
        return cls()


@dataclass(frozen=True)
class NoStall(Predicate):
    """The trace keeps moving: every assistant message but the last calls a tool, and no call
    repeats an earlier call's name, arguments and result; at least `min_tool_turns` tool turns."""

    kind: ClassVar[str] = "no_stall"
    min_tool_turns: int = 0

    def check(self, trace: Trace) -> str | None:
        assistant = [(i, m) for i, m in enumerate(trace.messages) if m.get("role") == "assistant"]
        for index, message in assistant[:-1]:
            if not message.get("tool_calls"):
                return f"message {index} is an assistant turn without a tool call before the end"
        seen: set[tuple[str, bytes, str | None]] = set()
        for call in trace.tool_calls:
            key = (call.name, canonical_json(dict(call.arguments)), trace.tool_result(call.call_id))
            if key in seen:
                return f"{call.name} repeated with the same arguments and the same result"
            seen.add(key)
        turns = sum(1 for _, m in assistant if m.get("tool_calls"))
        if turns < self.min_tool_turns:
            return f"{turns} tool turn(s), need {self.min_tool_turns}"
        return None

    @classmethod
    def parse(cls, fields: _Fields) -> Predicate:
        turns = fields.integer("min_tool_turns", 0)
        assert turns is not None
        return cls(min_tool_turns=turns)


PREDICATES: Mapping[str, type[Predicate]] = {
    cls.kind: cls
    for cls in (
        FirstToolIs,
        ToolCalled,
        ToolBefore,
        ToolAfter,
        ParallelCalls,
        ContentStartsWith,
        ReasoningMatchesBefore,
        ReasoningSequence,
        DistinctOptionsBefore,
        ResultThenCall,
        FinalMessageMatches,
        FinalQuotesResult,
        EditTargetsReadFirst,
        EditSizeAtMost,
        RevertedEdit,
        NoStall,
    )
}

# Fields of each predicate that hold tool names (for the catalog's vocabulary cross-check).
_TOOL_FIELDS = ("tools", "before_tools", "after_tools", "then_tools", "edit_tools", "read_tools")


def parse_predicate(data: Any, *, where: str = "signature") -> Predicate:
    """Build one predicate from a decoded `[[signature]]` table. Raises ValueError naming the field."""
    if not isinstance(data, Mapping):
        raise ValueError(f"{where}: must be a table")
    kind = data.get("kind")
    if not isinstance(kind, str) or kind not in PREDICATES:
        raise ValueError(f"{where}: field 'kind' must be one of {sorted(PREDICATES)}, got {kind!r}")
    fields = _Fields(f"{where} ({kind})", data)
    predicate = PREDICATES[kind].parse(fields)
    fields.finish()
    return predicate


# ---------------------------------------------------------------------------------------------------
# Behaviour.

_BEHAVIOUR_FIELDS = frozenset(
    {"name", "layer", "brief", "must_not", "default_target", "demo_target", "verify_tools", "signature"}
)


@dataclass(frozen=True)
class Behaviour:
    """One named behaviour: the teacher's brief, its targets and its signature.

    `check`, `name` and `verify_tools` are the interface the gates use.
    """

    name: str
    layer: str
    brief: str
    must_not: str
    default_target: int
    demo_target: int
    verify_tools: frozenset[str]
    signature: tuple[Predicate, ...]

    def check(self, trace: Trace) -> str | None:
        """None when every signature predicate holds, else a detail naming the first that fails."""
        for position, predicate in enumerate(self.signature):
            problem = predicate.check(trace)
            if problem is not None:
                return f"signature[{position}] {predicate.kind}: {problem}"
        return None

    def tool_names(self) -> frozenset[str]:
        """Every tool name the behaviour's verify_tools and predicates mention."""
        names = set(self.verify_tools)
        for predicate in self.signature:
            for field_name in _TOOL_FIELDS:
                value = getattr(predicate, field_name, None)
                if isinstance(value, frozenset):
                    names.update(value)
        return frozenset(names)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, layer_folder: str | None = None) -> Behaviour:
        """Validate a decoded behaviour file. Raises ValueError naming the offending field.

        `layer_folder` is the folder the file sits in; when given, `layer` must equal it.
        """
        if not isinstance(data, Mapping):
            raise ValueError("behaviour must be a table")
        unknown = sorted(set(data) - _BEHAVIOUR_FIELDS)
        if unknown:
            raise ValueError(f"unknown field(s) {unknown}")
        name = data.get("name")
        if not isinstance(name, str) or not _NAME.match(name):
            raise ValueError(f"field 'name' must be a snake_case identifier, got {name!r}")
        layer = data.get("layer")
        if layer not in LAYERS:
            raise ValueError(f"field 'layer' must be one of {list(LAYERS)}, got {layer!r}")
        if layer_folder is not None and layer != layer_folder:
            raise ValueError(f"field 'layer' is {layer!r} but the file sits in folder {layer_folder!r}")
        texts: dict[str, str] = {}
        for key in ("brief", "must_not"):
            value = data.get(key)
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"field '{key}' must be a non-empty string")
            texts[key] = " ".join(value.split())
        targets: dict[str, int] = {}
        for key in ("default_target", "demo_target"):
            value = data.get(key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"field '{key}' must be a positive integer, got {value!r}")
            targets[key] = value
        if targets["demo_target"] > targets["default_target"]:
            raise ValueError("field 'demo_target' must not exceed 'default_target'")
        verify = data.get("verify_tools", ["run_tests"])
        if (
            not isinstance(verify, list)
            or not verify
            or not all(isinstance(v, str) and _NAME.match(v) for v in verify)
        ):
            raise ValueError("field 'verify_tools' must be a non-empty list of tool names")
        raw_signature = data.get("signature")
        if not isinstance(raw_signature, list) or not raw_signature:
            raise ValueError("field 'signature' must be a non-empty array of tables ([[signature]])")
        signature = tuple(
            parse_predicate(entry, where=f"signature[{position}]")
            for position, entry in enumerate(raw_signature)
        )
        return cls(
            name=name,
            layer=str(layer),
            brief=texts["brief"],
            must_not=texts["must_not"],
            default_target=targets["default_target"],
            demo_target=targets["demo_target"],
            verify_tools=frozenset(verify),
            signature=signature,
        )
