"""Quality gates: pure checks that decide whether a trace may enter the corpus.

`run_gates(value, context)` parses a trace (JSON text or a decoded mapping) and runs every pure gate
in registry order (`GATE_REASONS`). A value that is not a valid trace gets `malformed_output` alone;
otherwise each failing gate contributes one `Rejection` whose detail says why. The same function runs
in the worker, in the coordinator before a sample is stored, in `tracegen gate` and in the trainer's
corpus filter, so it must stay deterministic and free of I/O.

`duplicate` is not decided here: it needs what was accepted before. `content_key` gives the key the
callers compare.

Judgment calls (each also noted where it is implemented):
- `claim_without_verify`: a final message that admits a failure ("still failing", "could not fix",
  "not fixed yet", ...) is not a success claim, even if it also reports partial progress. A claim in a
  trace without edits needs a passing verification somewhere in the trace. A verification whose output
  says no tests ran counts as failing. A claim about the tests themselves ("all tests pass",
  "9 passed") is verified only by `run_tests`, even for behaviours where a render also verifies.
- `no_op_edit`: "the content the trace read" is the text of the latest whole-file `read_file` of the
  same path (a read with `start_line`/`end_line` returns a slice, not the file); an `edit_file` on the
  path carries that knowledge forward, a `write_file` or any `run_command` makes it unknown.
- `identifier_leak`: placeholders are not identifiers: the documentation domains (example.com/.org/
  .net, *.example, *.test, *.invalid, *.localhost) and documentation IPv4 ranges (192.0.2.0/24,
  198.51.100.0/24, 203.0.113.0/24) are allowed, like loopback 127/8, 0.0.0.0 and masks (255.x.x.x).
  A dotted quad right after "version", "v", "release", "build", "rev" or a version operator (`==`,
  `>=`, `@`, ...) is read as a version number, not an address. Key-shaped strings must look random
  (enough digits and letters), so `sk-learn-style-names` and `ghp_xxxx...` placeholders pass.
- `lang_runner_mismatch`: besides the listed runners, `uv|poetry|pdm|hatch|pipenv run` before a Python
  runner and `python -m tox|nox` fit Python; bare `jest`/`vitest`, `npm run test`, `npm t` and
  `pnpm|yarn` in front of `jest`/`vitest` fit JavaScript; `cargo +toolchain test` fits Rust. Language
  aliases: py/python3, js/node/nodejs/typescript/ts, rs, golang.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import posixpath
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from gen_service.core.tokens import estimate_tokens, trace_token_count
from gen_service.core.trace import MalformedTrace, ToolCall, Trace, parse_trace, string_leaves
from gen_service.serialization import JSONDecodeError, canonical_json, loads

__all__ = [
    "DEFAULT_MAX_TOKENS",
    "GATE_REASONS",
    "BehaviourCheck",
    "GateContext",
    "Reason",
    "Rejection",
    "claims_success",
    "content_key",
    "run_gates",
]

DEFAULT_MAX_TOKENS = 16384


class Reason(StrEnum):
    """Stable reason names, in registry order."""

    MALFORMED_OUTPUT = "malformed_output"  # not JSON, or not a valid trace
    INCOMPLETE_TRACE = "incomplete_trace"  # no final answer, unanswered calls, or cut at the length limit
    REASONING_EMPTY = "reasoning_empty"  # an acting or final assistant message without reasoning
    NO_OP_EDIT = "no_op_edit"  # an edit or write that changes nothing
    CLAIM_WITHOUT_VERIFY = "claim_without_verify"  # success claimed without a passing verification
    LANG_RUNNER_MISMATCH = "lang_runner_mismatch"  # a test command for another language's runner
    PROMPT_OVER_CAP = "prompt_over_cap"  # more tokens than the cap
    VOCABULARY_VIOLATION = "vocabulary_violation"  # a tool name outside the vocabulary
    IDENTIFIER_LEAK = "identifier_leak"  # a real-looking personal or infrastructure identifier
    BEHAVIOUR_NOT_EXHIBITED = "behaviour_not_exhibited"  # the behaviour's signature does not hold
    DUPLICATE = "duplicate"  # same content as an accepted trace (decided outside the pure gates)
    UNVERIFIED_FIX = "unverified_fix"  # claims a fix its edits do not make (worker-side execution check)


@dataclass(frozen=True, slots=True)
class Rejection:
    """One failing gate: its reason and a short human-readable detail."""

    reason: Reason
    detail: str


class BehaviourCheck(Protocol):
    """What the gates need of a behaviour (satisfied by `gen_service.core.behaviours.Behaviour`)."""

    @property
    def name(self) -> str: ...

    @property
    def verify_tools(self) -> frozenset[str]:
        """Tool names whose results verify a change for this behaviour, besides `run_tests`."""
        ...

    def check(self, trace: Trace) -> str | None:
        """None when the signature holds, else a detail saying what is missing."""
        ...


@dataclass(frozen=True)
class GateContext:
    """Everything the pure gates consult besides the trace.

    `count_tokens` is the estimate by default; pass `load_token_counter(path)` for exact counts.
    """

    vocabulary: frozenset[str]
    behaviours: Mapping[str, BehaviourCheck]
    max_tokens: int = DEFAULT_MAX_TOKENS
    count_tokens: Callable[[str], int] = estimate_tokens


# --------------------------------------------------------------------------------------------------
# One pass over the messages: what several gates need.

VERIFY_TOOL = "run_tests"
EDIT_TOOLS = frozenset({"edit_file", "write_file"})


@dataclass(slots=True)
class _Facts:
    results: list[str | None]  # per trace.tool_calls position: the answering tool message's content
    unknown_results: list[str] = field(default_factory=list)  # tool_call_ids answering no open call
    last_assistant: int | None = None  # index of the last assistant message
    behaviour: BehaviourCheck | None = None  # the behaviour meta names, when known


def _analyse(trace: Trace, context: GateContext) -> _Facts:
    calls = trace.tool_calls
    facts = _Facts(results=[None] * len(calls))
    # Calls are answered first-come first-served per id, so a repeated id needs two results.
    pending: dict[str, list[int]] = {}
    cursor = 0
    for index, message in enumerate(trace.messages):
        role = message.get("role")
        if role == "assistant":
            facts.last_assistant = index
            while cursor < len(calls) and calls[cursor].message_index == index:
                pending.setdefault(calls[cursor].call_id, []).append(cursor)
                cursor += 1
        elif role == "tool":
            call_id = message.get("tool_call_id")
            waiting = pending.get(call_id) if isinstance(call_id, str) else None
            if waiting:
                content = message.get("content")
                facts.results[waiting.pop(0)] = content if isinstance(content, str) else ""
            else:
                facts.unknown_results.append(str(call_id))
    name = trace.behaviour
    if name is not None:
        facts.behaviour = context.behaviours.get(name)
    return facts


def _summarise(items: list[str], limit: int = 3) -> str:
    shown = ", ".join(items[:limit])
    return shown if len(items) <= limit else f"{shown} and {len(items) - limit} more"


# --------------------------------------------------------------------------------------------------
# incomplete_trace


def _gate_incomplete(trace: Trace, context: GateContext, facts: _Facts) -> str | None:
    problems: list[str] = []
    last_index = len(trace.messages) - 1
    if facts.last_assistant is None:
        problems.append("no assistant message")
    elif facts.last_assistant != last_index:
        problems.append(f"the last message is a {trace.messages[-1].get('role')} message, not a final answer")
    elif trace.tool_calls and trace.tool_calls[-1].message_index == last_index:
        problems.append("the last assistant message still makes tool calls")
    unanswered = [
        f"{call.call_id} ({call.name})"
        for call, result in zip(trace.tool_calls, facts.results, strict=True)
        if result is None
    ]
    if unanswered:
        problems.append(f"tool calls without a result: {_summarise(unanswered)}")
    if facts.unknown_results:
        problems.append(f"tool results for unknown call ids: {_summarise(facts.unknown_results)}")
    if trace.meta.get("finish_reason") == "length":
        problems.append("the teacher stopped at the length limit (finish_reason=length)")
    return "; ".join(problems) or None


# --------------------------------------------------------------------------------------------------
# reasoning_empty


def _gate_reasoning(trace: Trace, context: GateContext, facts: _Facts) -> str | None:
    indices = {call.message_index for call in trace.tool_calls}
    if facts.last_assistant is not None:
        indices.add(facts.last_assistant)
    empty = []
    for index in sorted(indices):
        reasoning = trace.messages[index].get("reasoning_content")
        if not isinstance(reasoning, str) or not reasoning.strip():
            empty.append(str(index))
    if not empty:
        return None
    return f"assistant messages with empty reasoning_content: {_summarise(empty)}"


# --------------------------------------------------------------------------------------------------
# no_op_edit


def _path_of(arguments: Mapping[str, Any]) -> str | None:
    path = arguments.get("path")
    if not isinstance(path, str) or not path.strip():
        return None
    return posixpath.normpath(path.strip())


def _gate_no_op_edit(trace: Trace, context: GateContext, facts: _Facts) -> str | None:
    problems: list[str] = []
    # path -> the file's text as far as the trace knows it (see the module docstring)
    known: dict[str, str] = {}
    for position, call in enumerate(trace.tool_calls):
        name, arguments = call.name, call.arguments
        if name == "read_file":
            path = _path_of(arguments)
            result = facts.results[position]
            if path is None or result is None:
                continue
            if arguments.get("start_line") is None and arguments.get("end_line") is None:
                known[path] = result
        elif name == "edit_file":
            path = _path_of(arguments)
            old, new = arguments.get("old"), arguments.get("new")
            if isinstance(old, str) and old == new:
                problems.append(f"edit_file {call.call_id} on {path!r} replaces a text with itself")
                continue
            if path is None:
                continue
            current = known.pop(path, None)
            if (
                current is not None
                and isinstance(old, str)
                and isinstance(new, str)
                and old
                and old in current
            ):
                known[path] = current.replace(old, new, 1)
        elif name == "write_file":
            path = _path_of(arguments)
            if path is None:
                continue
            content = arguments.get("content")
            if isinstance(content, str) and known.get(path) == content:
                problems.append(f"write_file {call.call_id} rewrites {path!r} with the content it read")
            # a failed write leaves the file as it was: do not assume the new content
            known.pop(path, None)
        elif name == "run_command":
            known.clear()  # a shell command may change any file
    return "; ".join(problems) or None


# --------------------------------------------------------------------------------------------------
# claim_without_verify

_SENTENCE = re.compile(r"[^.!?;\n]+[.!?;]*")
_CLAUSE_SPLIT = re.compile(
    r"[,:]|\s[-–—]\s|\b(?:but|however|although|though|except|whereas)\b", re.IGNORECASE
)
_CLAIM = re.compile(
    r"""
      \b(?:fixed|fixes|resolved|resolves|solved|solves|addressed|done|completed|succeed(?:s|ed)
          |successful(?:ly)?)\b(?!-)
    | \b(?:is|now|task)\s+complete\b
    | \b(?:tests?|specs?|suites?|checks?|builds?|everything|all|ci|it)\b[^.;,!?\n]{0,40}?
          \b(?:pass(?:es|ed|ing)?|green|succeed(?:s|ed)?)\b
    | \b(?:passing|green)\s+(?:tests?|suites?|builds?|now)\b
    | \b\d+\s+passed\b
    | (?<!\bhow\s)\b(?:it|this|that|everything|fix|code|change)\s+(?:now\s+|also\s+)?works\b
    | \bwork(?:s|ing)?\s+(?:now|again|correctly|properly|as\s+expected|fine)\b
    | \bnow\s+working\b
    """,
    re.IGNORECASE | re.VERBOSE,
)
# words that, just before a claim (or inside a subject...verb claim), turn it into its opposite or a
# condition: "not fixed", "tests aren't passing", "once the tests pass", "to pass the flag"
_NEGATOR = re.compile(
    r"\b(?:not|no|never|none|nothing|cannot|unable|without|neither|nor|if|unless|until|whether|once"
    r"|yet\s+to|fail(?:ed|s)?\s+to|to\s+(?:pass|succeed))\b|n['’]t\b",
    re.IGNORECASE,
)
# an explicit admission that the work is not done makes the whole message a non-claim
_ADMISSION = re.compile(
    r"""
      \bstill\s+(?:fail(?:s|ing|ed)?|broken|red|crash(?:es|ing)?|erroring|errors?)\b
    | \b(?:could\s*not|couldn['’]t|cannot|can['’]t|unable\s+to|was\s+not\s+able\s+to|wasn['’]t\s+able\s+to
          |did\s+not\s+manage\s+to|didn['’]t\s+manage\s+to|failed\s+to)
          \s+(?:fully\s+)?(?:fix|resolve|solve|make\s+\w+\s+pass|get\s+\w+(?:\s+\w+)?\s+(?:to\s+pass|passing|working))\b
    | \bnot\s+(?:yet\s+|fully\s+|been\s+)?(?:fixed|resolved|solved|passing|working)\b
    | \b(?:is|are|remains?|keeps?)\s+(?:still\s+)?(?:failing|broken)\b
    """,
    re.IGNORECASE | re.VERBOSE,
)
# a claim about the test suite itself ("all tests pass", "9 passed") is verified only by a test run
_ABOUT_TESTS = re.compile(r"\b(?:tests?|specs?|suites?|passed)\b", re.IGNORECASE)
_TEST_FAILURE = re.compile(
    r"(?m)(?i:\b[1-9]\d*\s+(?:failed|errors?)\b)"  # pytest, jest, vitest, cargo summaries
    r"|\b(?:FAILED|ERROR)\b"  # pytest, unittest, cargo "test result: FAILED"
    r"|^(?:---\s+)?FAIL\b"  # go test, jest file lines
    r"|^\s*(?:#|ℹ)\s*fail\s+[1-9]\d*"  # node --test (TAP and spec reporters)
    r"|^error(?:\[E\d+\])?:"  # rustc / cargo build errors
    r"|^npm ERR!"
    r"|(?i:\bno tests ran\b)|\bRan 0 tests\b"  # nothing verified
)


# Screens: cheap substring tests that must hold wherever the regex above them can match, so a text that
# fails one is known not to match without running the regex. They look at `_folded(text)`, in which
# every character an IGNORECASE pattern could match with an ASCII letter is that letter in lower case.
# Every _ADMISSION match contains "still", "not", "failing" or "broken", or one of the openings
# (could / can / unable / was / did / failed) together with one of the verbs (fix / [re]solve / make / get).
_ADMISSION_WORDS = ("not", "still", "failing", "broken")
_ADMISSION_OPENINGS = ("could", "can", "unable", "was", "did", "failed")
_ADMISSION_VERBS = ("fix", "solve", "make", "get")
# Every _CLAIM match contains one of these (fixed/fixes, [re]solve[sd], addressed, done, complete[d],
# succeed[s|ed]/successful[ly], pass[es|ed|ing], green, work[s|ing]).
_CLAIM_WORDS = ("fixe", "solve", "address", "done", "complete", "succe", "pass", "green", "work")
# Every _TEST_FAILURE match contains one of these: failed/FAILED/FAIL/fail, error[s]/ERROR/ERR,
# "no tests ran" (any case), "Ran 0 tests". Passing runs often say "0 failed" or "# fail 0", so a hit
# is checked again against each branch of _TEST_FAILURE without its anchors and word boundaries (the
# case-insensitive ones in folded form): a text none of these match, no branch matches.
_TEST_FAILURE_WORDS = ("fail", "err", "no tests ran", "ran 0 tests")
_TEST_FAILURE_TALLY = re.compile(r"[1-9]\d*\s+(?:failed|error)")  # on the folded text
_TEST_FAILURE_LINE = re.compile(r"fail\s+[1-9]|error(?:\[E\d+\])?:")
# The only characters that IGNORECASE equates with an ASCII letter although `str.lower()` does not turn
# them into it (İ also lowers to two characters, which would shift positions). Checked over all of
# Unicode by the tests.
_LOWER_MISFITS = ("\u0130", "\u0131", "\u017f")  # İ ı ſ


def _folded(text: str) -> str | None:
    """`text.lower()`, when it can stand in for `text` under an IGNORECASE pattern; else None.

    When not None, the result has `text`'s length, character for character; each character that an
    IGNORECASE pattern (or a case-sensitive one) could match with an ASCII letter is that letter in
    lower case, and digits and whitespace are unchanged. So where a pattern matches `text`, the result
    holds the match's ASCII words, lowered, and its digits and spaces, at the same positions.
    """
    if text.isascii() or not any(misfit in text for misfit in _LOWER_MISFITS):
        return text.lower()
    return None


def _occurrences(text: str, words: tuple[str, ...]) -> list[tuple[int, int]]:
    """(start, end) of every occurrence of every word in `text`, overlapping ones included."""
    spans: list[tuple[int, int]] = []
    for word in words:
        at = text.find(word)
        while at != -1:
            spans.append((at, at + len(word)))
            at = text.find(word, at + 1)
    return spans


def _any_within(spans: list[tuple[int, int]], start: int, end: int) -> bool:
    """Whether one of `spans` lies within `start`..`end`."""
    # a plain loop: any() over a generator costs four times as much for the few spans there are
    for first, last in spans:  # noqa: SIM110
        if start <= first and last <= end:
            return True
    return False


def _clause_spans(sentence: str) -> list[tuple[int, int]]:
    """(start, end) of each piece `_CLAUSE_SPLIT.split(sentence)` returns, in order.

    The same pieces: the pattern has no groups and never matches the empty string, so split returns
    exactly the text between consecutive matches.
    """
    spans: list[tuple[int, int]] = []
    at = 0
    for separator in _CLAUSE_SPLIT.finditer(sentence):
        spans.append((at, separator.start()))
        at = separator.end()
    spans.append((at, len(sentence)))
    return spans


def _may_admit(folded: str) -> bool:
    """False only when `_ADMISSION` cannot match the text `folded` stands for."""
    return any(word in folded for word in _ADMISSION_WORDS) or (
        any(word in folded for word in _ADMISSION_OPENINGS)
        and any(word in folded for word in _ADMISSION_VERBS)
    )


def claims_success(text: str) -> bool:
    """Whether a final message claims the work succeeded (fixed, done, tests pass, works, ...).

    Negated or conditional claims ("could not fix", "tests aren't passing", "once it works") are not
    claims, and a message that admits a failure ("still failing", "not fixed yet", "unable to
    resolve") does not claim success as a whole. Questions are not claims.
    """
    return _success_claims(text) is not None


def _success_claims(text: str) -> bool | None:
    """None when `text` claims no success; else whether some claim is about tests passing.

    The screens only skip regex runs that cannot match (a sentence or clause holding none of
    `_CLAIM_WORDS` holds no claim), so the answer is the one the plain loop over every clause gives.
    """
    if not text:
        return None
    folded = _folded(text)
    if (folded is None or _may_admit(folded)) and _ADMISSION.search(text):
        return None
    words = None if folded is None else _occurrences(folded, _CLAIM_WORDS)  # None: could be anywhere
    if words is not None and not words:
        return None
    found: bool | None = None
    for sentence_match in _SENTENCE.finditer(text):
        offset, stop = sentence_match.span()
        if words is not None and not _any_within(words, offset, stop):
            continue
        sentence = sentence_match.group(0)
        if sentence.rstrip().endswith("?"):
            continue
        for start, end in _clause_spans(sentence):
            if words is not None and not _any_within(words, offset + start, offset + end):
                continue
            clause = sentence[start:end]
            for claim in _CLAIM.finditer(clause):
                # the four words before the claim, and the claim itself
                before = clause[max(0, claim.start() - 60) : claim.start()].split()[-4:]
                if _NEGATOR.search(" ".join([*before, claim.group(0)])):
                    continue
                if _ABOUT_TESTS.search(claim.group(0)):
                    return True
                found = False
    return found


def _may_show_failure(output: str) -> bool:
    """False only when `_TEST_FAILURE` cannot match `output`."""
    folded = _folded(output)
    if folded is None:
        return True
    if not any(word in folded for word in _TEST_FAILURE_WORDS):
        return False
    return (
        "FAIL" in output  # FAILED, FAIL
        or "ERROR" in output
        or "npm ERR!" in output
        or "Ran 0 tests" in output
        or "no tests ran" in folded
        or _TEST_FAILURE_TALLY.search(folded) is not None
        or _TEST_FAILURE_LINE.search(output) is not None
    )


def _verification_failure(output: str) -> str | None:
    if not _may_show_failure(output):
        return None
    match = _TEST_FAILURE.search(output)
    if match is None:
        return None
    start = output.rfind("\n", 0, match.start()) + 1
    end = output.find("\n", match.end())
    line = output[start : end if end != -1 else len(output)].strip()
    return line if len(line) <= 80 else line[:77] + "..."


_TESTS_ONLY = frozenset({VERIFY_TOOL})


def _gate_claim(trace: Trace, context: GateContext, facts: _Facts) -> str | None:
    """Why a success claim in the final message lacks a passing verification after the last edit.

    None when it does not. The final message decides only whether there is a claim and which tools
    verify it: `run_tests` alone for a claim about tests, also the behaviour's own verify tools
    otherwise. When the trace counts as verified under both sets, the answer is None whatever the
    message says, so it is not read (that is most traces, and reading it is the costly part).
    """
    if facts.last_assistant is None:
        return None
    content = trace.messages[facts.last_assistant].get("content")
    if not isinstance(content, str):
        return None
    # a render verifies "the chart is fixed" for a media behaviour, never "the tests pass"
    any_tool = _TESTS_ONLY if facts.behaviour is None else _TESTS_ONLY | facts.behaviour.verify_tools
    tests_verdict = _unverified_claim(trace, facts, _TESTS_ONLY)
    any_verdict = tests_verdict if any_tool == _TESTS_ONLY else _unverified_claim(trace, facts, any_tool)
    if tests_verdict is None and any_verdict is None:
        return None
    about_tests = _success_claims(content)
    if about_tests is None:
        return None
    return tests_verdict if about_tests else any_verdict


def _unverified_claim(trace: Trace, facts: _Facts, verify_tools: frozenset[str]) -> str | None:
    """Why a success claim verified by `verify_tools` is not verified, or None when it is."""
    last_edit = -1
    last_verify = -1
    for position, call in enumerate(trace.tool_calls):
        if call.name in EDIT_TOOLS:
            last_edit = position
        elif call.name in verify_tools:
            last_verify = position
    claim = "the final message claims success but"
    if last_edit >= 0 and last_verify < last_edit:
        return f"{claim} no verification ({', '.join(sorted(verify_tools))}) follows the last edit"
    if last_verify < 0:
        return f"{claim} nothing was verified ({', '.join(sorted(verify_tools))})"
    call = trace.tool_calls[last_verify]
    output = facts.results[last_verify]
    if output is None:
        return f"{claim} the last verification ({call.name}) has no result"
    failure = _verification_failure(output)
    if failure is not None:
        return f"{claim} the last verification ({call.name}) shows failures: {failure!r}"
    return None


# --------------------------------------------------------------------------------------------------
# lang_runner_mismatch

# leading `cd dir &&` (or `;`) and `FOO=1` / `env FOO=1` assignments, any number, in any order
_COMMAND_PREFIX = re.compile(
    r"""\s*(?:
        cd\s+(?:"[^"]*"|'[^']*'|[^\s;&|]+)\s*(?:&&|;)\s*
      | (?:env\s+)?[A-Za-z_][A-Za-z0-9_]*=(?:"[^"]*"|'[^']*'|[^\s;&|]*)\s+
    )*""",
    re.VERBOSE,
)
_END = r"(?=\s|$|;|&&|\|)"
_RUNNERS: dict[str, re.Pattern[str]] = {
    "python": re.compile(
        r"(?:(?:uv|poetry|pdm|hatch|pipenv)\s+run\s+)?"
        r"(?:pytest|py\.test|tox|nox|python(?:3(?:\.\d+)?)?\s+-m\s+(?:pytest|unittest|tox|nox))" + _END
    ),
    "javascript": re.compile(
        r"(?:(?:npm|pnpm|yarn)\s+(?:run\s+)?test|npm\s+t|(?:(?:npx|pnpm|yarn)\s+)?(?:vitest|jest)"
        r"|node\s+--test)" + _END
    ),
    "rust": re.compile(r"cargo(?:\s+\+\S+)?\s+(?:test|nextest)" + _END),
    "go": re.compile(r"go\s+test" + _END),
}
_LANGUAGE_ALIASES = {
    "python": "python",
    "py": "python",
    "python3": "python",
    "javascript": "javascript",
    "js": "javascript",
    "node": "javascript",
    "nodejs": "javascript",
    "typescript": "javascript",
    "ts": "javascript",
    "rust": "rust",
    "rs": "rust",
    "go": "go",
    "golang": "go",
}


def _runner_fits(command: str, language: str) -> bool:
    prefix = _COMMAND_PREFIX.match(command)
    rest = command[prefix.end() :] if prefix else command
    return _RUNNERS[language].match(rest) is not None


def _gate_lang_runner(trace: Trace, context: GateContext, facts: _Facts) -> str | None:
    raw_language = trace.language
    language = _LANGUAGE_ALIASES.get(raw_language.strip().lower()) if raw_language else None
    if language is None:
        return None
    bad: list[str] = []
    for call in trace.tool_calls:
        if call.name != VERIFY_TOOL:
            continue
        command = call.arguments.get("command")
        if not isinstance(command, str) or not command.strip():
            bad.append(f"{call.call_id} has no command")
        elif not _runner_fits(command, language):
            shown = command if len(command) <= 60 else command[:57] + "..."
            bad.append(repr(shown))
    if not bad:
        return None
    return f"run_tests commands that do not fit language {language}: {_summarise(bad)}"


# --------------------------------------------------------------------------------------------------
# prompt_over_cap, vocabulary_violation


def _gate_prompt_cap(trace: Trace, context: GateContext, facts: _Facts) -> str | None:
    count = trace_token_count(trace, context.count_tokens)
    if count <= context.max_tokens:
        return None
    return f"{count} tokens exceed the cap of {context.max_tokens}"


def _gate_vocabulary(trace: Trace, context: GateContext, facts: _Facts) -> str | None:
    outside = sorted({call.name for call in trace.tool_calls if call.name not in context.vocabulary})
    if not outside:
        return None
    return f"tool names outside the vocabulary: {_summarise([repr(name) for name in outside])}"


# --------------------------------------------------------------------------------------------------
# identifier_leak

_RESERVED_DOMAINS = ("example.com", "example.org", "example.net")
_RESERVED_SUFFIXES = (
    *(f".{domain}" for domain in _RESERVED_DOMAINS),
    ".example",
    ".test",
    ".invalid",
    ".localhost",
)
_DOC_NETWORKS = ("192.0.2.", "198.51.100.", "203.0.113.")
_VERSION_CONTEXT = re.compile(
    r"(?:\b(?:version|ver\.?|release|build|rev(?:ision)?)\s*[:=]?\s*|\bv|[=<>~^@!]=?\s*)$", re.IGNORECASE
)
_CODE_RECEIVERS = frozenset({"self", "this", "cls", "threading", "contextvars", "super"})


def _looks_random(body: str) -> bool:
    digits = sum(ch.isdigit() for ch in body)
    letters = sum(ch.isalpha() for ch in body)
    return digits >= 3 and letters >= 4


def _email_real(match: re.Match[str], text: str) -> bool:
    local, _, domain = match.group(0).rpartition("@")
    domain = domain.lower()
    if local.lower() == "git":  # git@host:org/repo is an SSH remote, not a person
        return False
    return not (domain in _RESERVED_DOMAINS or domain.endswith(_RESERVED_SUFFIXES))


def _ipv4_real(match: re.Match[str], text: str) -> bool:
    address = match.group(0)
    octets = [int(part) for part in address.split(".")]
    if any(octet > 255 for octet in octets):
        return False
    if octets[0] in (0, 127, 255) or address.startswith(_DOC_NETWORKS):
        return False
    return _VERSION_CONTEXT.search(text[max(0, match.start() - 16) : match.start()]) is None


def _host_real(match: re.Match[str], text: str) -> bool:
    return match.group(0).split(".", 1)[0] not in _CODE_RECEIVERS


def _key_real(match: re.Match[str], text: str) -> bool:
    return _looks_random(match.group("body"))


def _always(match: re.Match[str], text: str) -> bool:
    return True


def _containing(*needles: str) -> Callable[[str], bool]:
    """A screen that holds for every text containing one of `needles`."""
    if len(needles) == 1:
        needle = needles[0]
        return lambda text: needle in text  # without any(): this runs on every trace
    return lambda text: any(needle in text for needle in needles)


@dataclass(frozen=True, slots=True)
class _LeakPattern:
    """One kind of identifier.

    Invariant of `screen`: it holds for every text in which the kind can be found (one of `needles`
    occurs, or for a kind without needles, `pattern` matches), and it tests for substrings only (no
    anchors, lookarounds or word boundaries), so it also holds for any text that contains such a text.
    """

    kind: str
    needles: tuple[str, ...]  # cheap substring test before the regex; empty = always run
    pattern: re.Pattern[str]
    is_real: Callable[[re.Match[str], str], bool]
    screen: Callable[[str], object]  # see the class docstring
    secret: bool = False  # a detail names the kind only, never a piece of the match


_LEAK_PATTERNS: tuple[_LeakPattern, ...] = (
    _LeakPattern(
        "home-directory path",
        # the first branch needs /home/ or /Users/; the second, a drive letter's ":\\" or ":/" (any
        # case of "users" follows, so no spelling of it can be a needle)
        ("/home/", "/Users/", ":\\", ":/"),
        re.compile(
            r"(?<![\w.~/-])/(?:home|Users)/[A-Za-z0-9._-]+"
            r"|\b[A-Za-z]:(?:\\+|/)(?i:users)(?:\\+|/)[^\\/\s\"'<>|:*?]+"
        ),
        _always,
        _containing("/home/", "/Users/", ":\\", ":/"),
    ),
    _LeakPattern(
        "e-mail address",
        ("@",),
        re.compile(
            r"(?<![\w.%+-])[A-Za-z0-9._%+-]+@(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z]{2,}\b"
        ),
        _email_real,
        _containing("@"),
    ),
    _LeakPattern(
        "IPv4 address",
        (),
        re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w]|\.\d)"),
        _ipv4_real,
        # the three dots of any match with what lies between them; the leading literal lets `re` skip
        # ahead with a fast search, where the pattern itself tries every position
        re.compile(r"\.\d{1,3}\.\d{1,3}\.\d").search,
    ),
    _LeakPattern(
        "internal host name",
        (".internal", ".corp", ".lan", ".local"),
        re.compile(
            r"(?<![\w.-])(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+(?:internal|corp|lan|local)"
            r"(?![\w-]|\.[A-Za-z0-9]|\s*\()"
        ),
        _host_real,
        re.compile(r"\.(?:internal|corp|lan|local)").search,  # the needles, in one scan
    ),
    _LeakPattern(
        "API key (sk-…)",
        ("sk-",),
        re.compile(r"(?<![\w-])sk-(?P<body>[A-Za-z0-9_-]{20,})"),
        _key_real,
        _containing("sk-"),
        secret=True,
    ),
    _LeakPattern(
        "GitHub token (gh…_…)",
        ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
        re.compile(r"\b(?:gh[pousr]_|github_pat_)(?P<body>[A-Za-z0-9_]{20,})\b"),
        _key_real,
        re.compile(r"gh[pousr]_|github_pat_").search,  # the needles, in one scan
        secret=True,
    ),
    _LeakPattern(
        "AWS access key id (AKIA…)",
        ("AKIA", "ASIA"),
        re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
        _always,
        re.compile(r"A[KS]IA").search,  # the needles, in one scan
        secret=True,
    ),
    _LeakPattern(
        "Google API key (AIza…)",
        ("AIza",),
        re.compile(r"\bAIza[0-9A-Za-z_-]{35}(?![\w-])"),
        _always,
        _containing("AIza"),
        secret=True,
    ),
    _LeakPattern(
        "Slack token (xox…)",
        ("xox",),
        re.compile(r"\bxox[abprs]-(?P<body>[0-9A-Za-z-]{10,})"),
        _key_real,
        _containing("xox"),
        secret=True,
    ),
    _LeakPattern(
        "private key block",
        ("PRIVATE KEY",),
        re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----"),
        _always,
        _containing("PRIVATE KEY"),
        secret=True,
    ),
)


def _text_segments(trace: Trace) -> list[tuple[int, str, str]]:
    """(message index, part, text) for every non-empty piece of text in the messages, in order."""
    calls_by_message: dict[int, list[ToolCall]] = {}
    for call in trace.tool_calls:
        calls_by_message.setdefault(call.message_index, []).append(call)
    segments: list[tuple[int, str, str]] = []
    append = segments.append
    for index, message in enumerate(trace.messages):
        content = message.get("content")
        if isinstance(content, str) and content:
            append((index, "tool result" if message.get("role") == "tool" else "content", content))
        reasoning = message.get("reasoning_content")
        if isinstance(reasoning, str) and reasoning:
            append((index, "reasoning", reasoning))
        for call in calls_by_message.get(index, ()):
            for value in call.arguments.values():
                # `string_leaves(call.arguments)`, inlined for the usual flat arguments of strings
                if isinstance(value, str):
                    if value:
                        append((index, "tool arguments", value))
                else:
                    segments.extend((index, "tool arguments", leaf) for leaf in string_leaves(value) if leaf)
    return segments


def _describe(found: str, leak: _LeakPattern) -> str:
    """The kind and a redacted hint of where it is: never the whole identifier, nothing of a secret."""
    if leak.secret:
        return leak.kind  # the kind names the key's fixed prefix
    if "@" in found:
        hint = "…@" + found.rpartition("@")[2]  # the domain, not the person
    elif leak.kind.startswith("home"):
        hint = found[: max(found.rfind("/"), found.rfind("\\")) + 1] + "…"  # the folder, not the user
    elif found[0].isdigit():
        hint = found.split(".", 1)[0] + ".…"
    else:
        hint = "…." + found.rpartition(".")[2]
    return f"{leak.kind} {hint!r}"


def _first_leak(leak: _LeakPattern, text: str) -> str | None:
    """The description of the first real finding of one kind in one text, or None."""
    if leak.needles and not any(needle in text for needle in leak.needles):
        return None
    if not leak.screen(text):
        return None  # no match possible: skips the scan, which for a kind without needles is costly
    for match in leak.pattern.finditer(text):
        if leak.is_real(match, text):
            return _describe(match.group(0), leak)
    return None


# Only long texts recur (prompts, scenario files, captured test output); short ones (reasoning, tool
# arguments) are nearly always unique and would only churn the cache. Bounded: 512 × 32k chars.
_CACHED_SEGMENT_CHARS = range(1_000, 32_769)


@functools.lru_cache(maxsize=512)
def _leaks_in(text: str) -> tuple[tuple[int, str], ...]:
    """(pattern index, description) of the first real finding of each pattern in one text.

    Cached for long texts: system prompts, scenario files and captured test output recur across
    thousands of traces, and this scan is the costliest gate.
    """
    found: list[tuple[int, str]] = []
    for position, leak in enumerate(_LEAK_PATTERNS):
        description = _first_leak(leak, text)
        if description is not None:
            found.append((position, description))  # one finding per kind is enough to reject and explain
    return tuple(found)


def _gate_identifier_leak(trace: Trace, context: GateContext, facts: _Facts) -> str | None:
    """Per kind, the first finding in segment order (`_leaks_in` of each segment, in turn).

    Short segments are not scanned one by one: each kind's screen runs once over all of them joined,
    and only a kind whose screen holds there is looked for segment by segment. A screen that fails on
    the joined text fails on every part of it (it tests for substrings only), so no finding is missed.
    """
    segments = _text_segments(trace)
    first: dict[int, tuple[int, str]] = {}  # pattern index -> (segment number, description)
    short: list[int] = []
    for number, (_, _, text) in enumerate(segments):
        if len(text) < _CACHED_SEGMENT_CHARS.start:
            short.append(number)
            continue
        leaks = _leaks_in(text) if len(text) in _CACHED_SEGMENT_CHARS else _leaks_in.__wrapped__(text)
        for position, description in leaks:
            first.setdefault(position, (number, description))
    if short:
        joined = "\n".join([segments[number][2] for number in short])
        for position, leak in enumerate(_LEAK_PATTERNS):
            if not leak.screen(joined):
                continue
            before = first.get(position, (len(segments), ""))[0]  # a long segment's finding, if any
            for number in short:
                if number > before:
                    break
                finding = _first_leak(leak, segments[number][2])
                if finding is not None:
                    first[position] = (number, finding)
                    break
    if not first:
        return None
    return "; ".join(
        f"{description} in message {segments[number][0]} {segments[number][1]}"
        for _, (number, description) in sorted(first.items())
    )


# --------------------------------------------------------------------------------------------------
# behaviour_not_exhibited


def _gate_behaviour(trace: Trace, context: GateContext, facts: _Facts) -> str | None:
    if facts.behaviour is None:
        return None
    detail = facts.behaviour.check(trace)
    if detail is None:
        return None
    return f"{facts.behaviour.name}: {detail}"


# --------------------------------------------------------------------------------------------------
# The registry and its runner

_Gate = Callable[[Trace, GateContext, _Facts], str | None]

_GATES: tuple[tuple[Reason, _Gate], ...] = (
    (Reason.INCOMPLETE_TRACE, _gate_incomplete),
    (Reason.REASONING_EMPTY, _gate_reasoning),
    (Reason.NO_OP_EDIT, _gate_no_op_edit),
    (Reason.CLAIM_WITHOUT_VERIFY, _gate_claim),
    (Reason.LANG_RUNNER_MISMATCH, _gate_lang_runner),
    (Reason.PROMPT_OVER_CAP, _gate_prompt_cap),
    (Reason.VOCABULARY_VIOLATION, _gate_vocabulary),
    (Reason.IDENTIFIER_LEAK, _gate_identifier_leak),
    (Reason.BEHAVIOUR_NOT_EXHIBITED, _gate_behaviour),
)

GATE_REASONS: tuple[Reason, ...] = (Reason.MALFORMED_OUTPUT, *(reason for reason, _ in _GATES))


def run_gates(value: Any, context: GateContext) -> tuple[Trace | None, list[Rejection]]:
    """Parse `value` and run every pure gate on it.

    `value` is JSON text (str or bytes), a decoded mapping, or an already parsed `Trace`. Returns
    `(None, [malformed_output])` when it is not a valid trace; otherwise the trace and one `Rejection`
    per failing gate, in registry order (empty when the trace passes every gate).
    """
    if isinstance(value, Trace):
        trace = value
    else:
        try:
            trace = parse_trace(value)
        except MalformedTrace as exc:
            return None, [Rejection(Reason.MALFORMED_OUTPUT, str(exc))]
    facts = _analyse(trace, context)
    rejections: list[Rejection] = []
    for reason, gate in _GATES:
        detail = gate(trace, context, facts)
        if detail is not None:
            rejections.append(Rejection(reason, detail))
    return trace, rejections


# --------------------------------------------------------------------------------------------------
# duplicate key


@functools.lru_cache(maxsize=256)
def _collapse_cached(text: str) -> str:
    return " ".join(text.split())


def _collapse(text: str) -> str:
    """`text` with its whitespace runs collapsed to one space and its ends stripped."""
    if text.isprintable() and "  " not in text and text[:1] != " " and text[-1:] != " ":
        # Already collapsed: every whitespace character but the space is unprintable, so the only
        # whitespace here is single spaces between words.
        return text
    # Same as collapsing `\s+` runs and stripping, at a fraction of a regex's cost. Long texts
    # (prompts, file contents) recur across traces: those go through a small cache, from the length on
    # at which the identifier-leak scan caches them too.
    return _collapse_cached(text) if len(text) >= _CACHED_SEGMENT_CHARS.start else " ".join(text.split())


_UNDECODED = object()  # arguments that are not a JSON text


def _normalize(value: Any) -> Any:
    kind = type(value)
    # the exact JSON types first: they take the same branch as below, without the costlier ABC checks
    if kind is str:
        return _collapse(value)
    if kind is dict:
        return {key: _normalize(item) for key, item in value.items()}
    if kind is list:
        return [_normalize(item) for item in value]
    if isinstance(value, str):
        return " ".join(value.split())  # a plain str, as for the exact type
    if isinstance(value, Mapping):
        return {key: _normalize(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_normalize(item) for item in value]
    return value


def _normalized_messages(messages: Any) -> Any:
    if not isinstance(messages, list):
        return _normalize(messages)
    # Teachers mint call ids at random: identical traces must not differ by them.
    call_ids: dict[str, str] = {}
    result: list[Any] = []
    for message in messages:
        if type(message) is not dict and not isinstance(message, Mapping):
            result.append(_normalize(message))
            continue
        normalized: dict[str, Any] = {}
        for key, item in message.items():
            if type(item) is str and key != "tool_call_id":
                normalized[key] = _collapse(item)  # the common case: what `_normalize(item)` returns
            elif key == "tool_calls" and isinstance(item, list):
                normalized[key] = [_normalized_call(call, call_ids) for call in item]
            elif key == "tool_call_id" and isinstance(item, str):
                normalized[key] = call_ids.get(item) or _normalize(item)  # renumbered ids are never empty
            else:
                normalized[key] = _normalize(item)
        result.append(normalized)
    return result


def _normalized_call(call: Any, call_ids: dict[str, str]) -> Any:
    if type(call) is not dict and not isinstance(call, Mapping):
        return _normalize(call)
    normalized: dict[str, Any] = {}
    for key, item in call.items():
        if key == "id" and isinstance(item, str):
            normalized[key] = call_ids.setdefault(item, f"call-{len(call_ids)}")
        elif key == "function" and (type(item) is dict or isinstance(item, Mapping)):
            arguments = item.get("arguments")
            decoded: Any = _UNDECODED
            if isinstance(arguments, str):
                # decoded, so `{"a": 1}` and `{"a":1}` are the same arguments
                with contextlib.suppress(JSONDecodeError):
                    decoded = _normalize(loads(arguments))
            if decoded is _UNDECODED or type(item) is not dict:
                function = dict(_normalize(item))
                if decoded is not _UNDECODED:
                    function["arguments"] = decoded
            else:
                # The "arguments" item is the one `get` found (keys that are not exact str make
                # canonical_json raise either way): it is replaced, so it need not be collapsed first.
                function = {
                    name: decoded if name == "arguments" else _normalize(value)
                    for name, value in item.items()
                }
            normalized[key] = function
        else:
            normalized[key] = _normalize(item)
    return normalized


_PROMPT_ROLES = frozenset({"system", "user"})
_RENUMBERED_KEYS = frozenset({"tool_calls", "tool_call_id"})


def _plain_prompt(message: Any) -> tuple[tuple[str, str], ...] | None:
    """The items of a system or user message whose keys and values are all plain strings, else None.

    Such a message normalizes to its values collapsed, independently of the call id renumbering (it
    has neither `tool_calls` nor `tool_call_id`), and it is the part of a trace that recurs: the same
    prompts open thousands of traces.
    """
    if type(message) is not dict:
        return None
    role = message.get("role")
    if type(role) is not str or role not in _PROMPT_ROLES:
        return None
    items = tuple(message.items())
    for key, value in items:
        if type(key) is not str or type(value) is not str or key in _RENUMBERED_KEYS:
            return None
    return items


@functools.lru_cache(maxsize=64)
def _prompts_digest(prompts: tuple[tuple[tuple[str, str], ...], ...]) -> Any:
    """sha256 fed with the canonical JSON of `[` and the normalized prompt messages, comma-separated.

    Shared between callers: copy it before feeding it more.
    """
    normalized = [{key: _collapse(value) for key, value in items} for items in prompts]
    return hashlib.sha256(b"[" + b",".join(canonical_json(message) for message in normalized))


def content_key(trace_json: Mapping[str, Any]) -> str:
    """The duplicate key of a trace: sha256 hex of its normalized messages.

    Normalized: every string's whitespace runs collapsed to one space and its ends stripped, tool call
    arguments compared as decoded JSON, tool call ids renumbered in order of appearance, and the
    result serialized as canonical JSON (sorted keys). `meta` and `tools` are left out.

    Keys are stored: the digest must never change. The leading prompt messages are hashed from a cached
    sha256 state; that gives the same bytes because canonical JSON of a list is `[`, its items'
    canonical JSON joined by `,`, and `]`, and the rest of the messages are serialized as one list, at
    the depth and in the order they have in the whole.
    """
    messages: Any = trace_json.get("messages")
    prompts: list[tuple[tuple[str, str], ...]] = []
    if type(messages) is list:
        for message in messages:
            items = _plain_prompt(message)
            if items is None:
                break
            prompts.append(items)
    if not prompts:
        return hashlib.sha256(canonical_json(_normalized_messages(messages))).hexdigest()
    digest = _prompts_digest(tuple(prompts)).copy()
    rest = canonical_json(_normalized_messages(messages[len(prompts) :]))
    digest.update(b"," + rest[1:] if len(rest) > 2 else b"]")  # `rest` is `[...]`; b"[]" when empty
    key: str = digest.hexdigest()
    return key
