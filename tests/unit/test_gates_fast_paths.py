"""The gates' fast paths give exactly the answers of the plain logic they stand in for.

`gen_service.core.gates` skips work it can prove useless: substring screens before costly regexes
(claims, admissions, test failures, identifier leaks), no reading of the final message when the trace
is verified whatever it claims, one screen over all short texts of a trace instead of one scan per
text, and a cached sha256 state for the prompt messages that open most traces.
Each is compared here with a reference: the straightforward implementation it replaced, kept below as
it was, over the scripted traces the bench uses and over generated texts sprinkled with what the
screens look for (and with the characters that case-insensitive matching treats specially).
Duplicate keys are stored, so `content_key` is also pinned to digests computed before the fast path.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import string
import sys
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gen_service.core import gates
from gen_service.core.trace import ToolCall, Trace, parse_trace, string_leaves
from gen_service.serialization import JSONDecodeError, canonical_json, dumps_str, loads

EXAMPLES = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CONTEXT = gates.GateContext(vocabulary=frozenset(), behaviours={})
FACTS = gates._Facts(results=[])  # what the identifier-leak gate is given; it uses none of it

# --------------------------------------------------------------------------------------------------
# References: the logic as it was before the fast paths (only the regexes are shared with gates.py).


def reference_success_claims(text: str) -> bool | None:
    if not text or gates._ADMISSION.search(text):
        return None
    found: bool | None = None
    for sentence_match in gates._SENTENCE.finditer(text):
        sentence = sentence_match.group(0)
        if sentence.rstrip().endswith("?"):
            continue
        for clause in gates._CLAUSE_SPLIT.split(sentence):
            for claim in gates._CLAIM.finditer(clause):
                before = clause[max(0, claim.start() - 60) : claim.start()].split()[-4:]
                if gates._NEGATOR.search(" ".join([*before, claim.group(0)])):
                    continue
                if gates._ABOUT_TESTS.search(claim.group(0)):
                    return True
                found = False
    return found


def reference_verification_failure(output: str) -> str | None:
    match = gates._TEST_FAILURE.search(output)
    if match is None:
        return None
    start = output.rfind("\n", 0, match.start()) + 1
    end = output.find("\n", match.end())
    line = output[start : end if end != -1 else len(output)].strip()
    return line if len(line) <= 80 else line[:77] + "..."


def reference_gate_claim(trace: Trace, facts: gates._Facts) -> str | None:
    if facts.last_assistant is None:
        return None
    content = trace.messages[facts.last_assistant].get("content")
    about_tests = reference_success_claims(content) if isinstance(content, str) else None
    if about_tests is None:
        return None
    verify_tools = {gates.VERIFY_TOOL}
    if facts.behaviour is not None and not about_tests:
        verify_tools |= facts.behaviour.verify_tools
    last_edit = -1
    last_verify = -1
    for position, call in enumerate(trace.tool_calls):
        if call.name in gates.EDIT_TOOLS:
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
    failure = reference_verification_failure(output)
    if failure is not None:
        return f"{claim} the last verification ({call.name}) shows failures: {failure!r}"
    return None


def reference_text_segments(trace: Trace) -> Iterator[tuple[int, str, str]]:
    calls_by_message: dict[int, list[ToolCall]] = {}
    for call in trace.tool_calls:
        calls_by_message.setdefault(call.message_index, []).append(call)
    for index, message in enumerate(trace.messages):
        content = message.get("content")
        if isinstance(content, str) and content:
            yield index, "tool result" if message.get("role") == "tool" else "content", content
        reasoning = message.get("reasoning_content")
        if isinstance(reasoning, str) and reasoning:
            yield index, "reasoning", reasoning
        for call in calls_by_message.get(index, ()):
            for leaf in string_leaves(call.arguments):
                if leaf:
                    yield index, "tool arguments", leaf


def reference_leaks_in(text: str) -> tuple[tuple[int, str], ...]:
    found: list[tuple[int, str]] = []
    for position, leak in enumerate(gates._LEAK_PATTERNS):
        if leak.needles and not any(needle in text for needle in leak.needles):
            continue
        for match in leak.pattern.finditer(text):
            if leak.is_real(match, text):
                found.append((position, gates._describe(match.group(0), leak)))
                break
    return tuple(found)


def reference_identifier_leak(trace: Trace) -> str | None:
    first: dict[int, str] = {}
    for index, part, text in reference_text_segments(trace):
        for position, description in reference_leaks_in(text):
            first.setdefault(position, f"{description} in message {index} {part}")
    if not first:
        return None
    return "; ".join(first[position] for position in sorted(first))


def _ref_normalize(value: Any) -> Any:
    if isinstance(value, str):
        return " ".join(value.split())
    if isinstance(value, Mapping):
        return {key: _ref_normalize(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_ref_normalize(item) for item in value]
    return value


def _ref_normalized_call(call: Any, call_ids: dict[str, str]) -> Any:
    if not isinstance(call, Mapping):
        return _ref_normalize(call)
    normalized: dict[str, Any] = {}
    for key, item in call.items():
        if key == "id" and isinstance(item, str):
            normalized[key] = call_ids.setdefault(item, f"call-{len(call_ids)}")
        elif key == "function" and isinstance(item, Mapping):
            function = dict(_ref_normalize(item))
            arguments = item.get("arguments")
            if isinstance(arguments, str):
                with contextlib.suppress(JSONDecodeError):
                    function["arguments"] = _ref_normalize(loads(arguments))
            normalized[key] = function
        else:
            normalized[key] = _ref_normalize(item)
    return normalized


def _ref_normalized_messages(messages: Any) -> Any:
    if not isinstance(messages, list):
        return _ref_normalize(messages)
    call_ids: dict[str, str] = {}
    result: list[Any] = []
    for message in messages:
        if not isinstance(message, Mapping):
            result.append(_ref_normalize(message))
            continue
        normalized: dict[str, Any] = {}
        for key, item in message.items():
            if key == "tool_calls" and isinstance(item, list):
                normalized[key] = [_ref_normalized_call(call, call_ids) for call in item]
            elif key == "tool_call_id" and isinstance(item, str):
                normalized[key] = call_ids.get(item, _ref_normalize(item))
            else:
                normalized[key] = _ref_normalize(item)
        result.append(normalized)
    return result


def reference_content_key(trace_json: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical_json(_ref_normalized_messages(trace_json.get("messages")))).hexdigest()


# --------------------------------------------------------------------------------------------------
# Generated texts: what the screens look for, near misses, and the characters case folding treats
# specially (İ ı ſ, the Kelvin sign), in random company.

FRAGMENTS = [
    # claims, admissions, negations, questions
    "Fixed",
    "fixes",
    "resolved",
    "Solved",
    "addressed",
    "done",
    "Completed",
    "succeeded",
    "successfully",
    "is complete",
    "task complete",
    "all tests pass",
    "tests passed",
    "specs are green",
    "CI succeeds",
    "everything is passing",
    "passing tests",
    "green build",
    "9 passed",
    "12 passed",
    "0 passed",
    "it works",
    "this now works",
    "how it works",
    "works correctly",
    "working again",
    "now working",
    "not fixed",
    "aren't passing",
    "isn’t working",
    "if it works",
    "once the tests pass",
    "to pass",
    "still failing",
    "still broken",
    "could not fix",
    "couldn't resolve",
    "cannot fix",
    "can’t solve",
    "unable to fix",
    "was not able to make it pass",
    "wasn't able to get the tests to pass",
    "didn't manage to fix",
    "failed to fix",
    "not yet fixed",
    "is failing",
    "remains broken",
    "keeps failing",
    "not been solved",
    "but",
    "however",
    "although",
    "except",
    " - ",
    " – ",
    " — ",
    "?",
    ".",
    "!",
    ";",
    ":",
    ",",
    "\n",
    " ",
    "  ",
    "\t",
    # test runner output
    "FAILED",
    "FAIL",
    "ERROR",
    "error:",
    "error[E0308]:",
    "npm ERR!",
    "3 failed",
    "0 failed",
    "1 error",
    "2 errors",
    "no tests ran",
    "No Tests Ran",
    "Ran 0 tests",
    "Ran 1 test",
    "# fail 2",
    "# fail 0",
    "ℹ fail 1",
    "--- FAIL",
    "test result: FAILED.",
    "test result: ok.",
    "failures",
    # identifiers and near misses
    "/home/alice",
    "/Users/bob/x",
    "C:\\Users\\carol",
    "c:/USERS/dan",
    "~/home/x",
    "bob@corp.io",
    "git@github.com:org/repo",
    "x@example.com",
    "a@b.test",
    "@pytest.fixture",
    "10.0.0.1",
    "8.8.8.8",
    "127.0.0.1",
    "192.0.2.7",
    "version 1.2.3.4",
    "v10.1.1.1",
    "==1.2.3.4",
    "1.2.3.4.5",
    "999.1.1.1",
    "db.internal",
    "api.corp",
    "nas.lan",
    "printer.local",
    "self.local",
    "threading.local()",
    "sk-abc123def456ghi789jkl0",
    "sk-learn-style-names-here",
    "ghp_abcdefghij1234567890xyz",
    "github_pat_11ABCDEFG0123456789abcdef",
    "AKIAABCDEFGHIJKLMNOP",
    "ASIA1234567890ABCDEF",
    "AIzaSyA1234567890abcdefghijklmnopqrstu",
    "xoxb-1234567890-abcdef",
    "-----BEGIN RSA PRIVATE KEY-----",
    # case folding and whitespace specials
    "\u0130",
    "\u0131",
    "\u017f",
    "\u212a",
    "ſtill failing",
    "FAİLED",
    "faıl",
    "\u212aeys",
    "\xa0",
    "\u2028",
    "\u3000",
    "\x85",
    "\x0b",
    "\x1c",
    "٣",
    "١٠",
]

fragments = st.sampled_from(FRAGMENTS)
noise = st.text(alphabet=string.ascii_letters + string.digits + " ._-/@:\n", max_size=8)
tricky_text = st.lists(st.one_of(fragments, fragments, noise, st.text(max_size=4)), max_size=24).map("".join)


# --------------------------------------------------------------------------------------------------
# Case folding and whitespace: the facts about Python the screens rely on, checked over all of Unicode.

ALL_CHARACTERS = "".join(chr(code) for code in range(sys.maxunicode + 1) if not 0xD800 <= code <= 0xDFFF)


def test_only_the_listed_characters_fold_to_ascii_letters_unlike_lower() -> None:
    misfits = set()
    for letter in string.ascii_letters + " 0123456789!:[]#-":
        for match in re.finditer(re.escape(letter), ALL_CHARACTERS, re.IGNORECASE):
            if match.group(0).lower() != letter.lower():
                misfits.add(match.group(0))
    assert misfits == set(gates._LOWER_MISFITS)


def test_lower_keeps_positions_digits_and_spaces() -> None:
    for character in ALL_CHARACTERS:
        if character in gates._LOWER_MISFITS:
            continue
        lowered = character.lower()
        assert len(lowered) == 1, hex(ord(character))
        if re.fullmatch(r"[\d\s]", character):
            assert lowered == character, hex(ord(character))


def test_every_whitespace_but_the_space_is_unprintable() -> None:
    for character in ALL_CHARACTERS:
        if character.isspace() and character != " ":
            assert not character.isprintable(), hex(ord(character))
        # str.split() splits exactly at str.isspace() characters
        assert (len(f"a{character}b".split()) == 2) == character.isspace(), hex(ord(character))


@EXAMPLES
@given(tricky_text)
def test_folded_text_keeps_every_ascii_word_of_a_match(text: str) -> None:
    folded = gates._folded(text)
    if folded is None:
        assert any(misfit in text for misfit in gates._LOWER_MISFITS)
        return
    assert len(folded) == len(text)
    for pattern in (gates._CLAIM, gates._ADMISSION, gates._TEST_FAILURE):
        for match in pattern.finditer(text):
            start, end = match.span()
            assert folded[start:end] == match.group(0).lower()


# --------------------------------------------------------------------------------------------------
# claim_without_verify


@EXAMPLES
@given(tricky_text)
def test_success_claims_match_the_reference(text: str) -> None:
    assert gates._success_claims(text) == reference_success_claims(text)


@EXAMPLES
@given(tricky_text)
def test_claim_screens_hold_wherever_their_regex_matches(text: str) -> None:
    folded = gates._folded(text)
    if folded is None:
        return
    if gates._ADMISSION.search(text):
        assert gates._may_admit(folded)
    words = gates._occurrences(folded, gates._CLAIM_WORDS)
    for claim in gates._CLAIM.finditer(text):
        assert gates._any_within(words, *claim.span()), claim


@EXAMPLES
@given(tricky_text)
def test_clause_spans_are_the_split_pieces(text: str) -> None:
    assert [text[start:end] for start, end in gates._clause_spans(text)] == gates._CLAUSE_SPLIT.split(text)


@EXAMPLES
@given(tricky_text)
def test_verification_failure_matches_the_reference(text: str) -> None:
    assert gates._verification_failure(text) == reference_verification_failure(text)
    if gates._TEST_FAILURE.search(text):
        assert gates._may_show_failure(text)


@pytest.mark.parametrize(
    ("output", "failing"),
    [
        ("test result: ok. 3 passed; 0 failed; 0 ignored", False),
        ("# tests 4\n# pass 4\n# fail 0\n", False),
        ("# tests 4\n# pass 3\n# fail 1\n", True),
        ("Tests: 10 failed, 2 passed", True),
        ("1 Error in 0.1s", True),
        ("error[E0425]: cannot find value", True),
        ("warning: unused error: fine", False),
        ("npm ERR! Test failed.", True),
        ("Ran 0 tests in 0.000s", True),
        ("no tests ran in 0.01s", True),
        ("ſome output with FAİLED", False),
        ("FAIL src/sum.test.js", True),
    ],
)
def test_verification_failure_examples(output: str, failing: bool) -> None:
    assert (gates._verification_failure(output) is not None) == failing
    assert gates._verification_failure(output) == reference_verification_failure(output)


class _Behaviour:
    """A BehaviourCheck whose signature always holds: only its verify tools matter here."""

    def __init__(self, name: str, verify_tools: frozenset[str]) -> None:
        self.name = name
        self.verify_tools = verify_tools

    def check(self, trace: Trace) -> str | None:
        return None


CLAIM_CONTEXT = gates.GateContext(
    vocabulary=frozenset(),
    behaviours={
        "visual": _Behaviour("visual", frozenset({"render_or_visual_proof"})),
        "plain": _Behaviour("plain", frozenset()),
        "tests": _Behaviour("tests", frozenset({"run_tests"})),
        "odd": _Behaviour("odd", frozenset({"edit_file", "read_file"})),
    },
)
OUTPUTS = [
    "9 passed in 0.01s",
    "1 failed, 8 passed",
    "test result: ok. 3 passed; 0 failed",
    "# pass 4\n# fail 0",
    "Rendered: 3 bars, all green",
    "Render failed: ERROR no canvas",
    "",
]
step = st.tuples(
    st.sampled_from(["edit_file", "write_file", "run_tests", "render_or_visual_proof", "read_file"]),
    st.one_of(st.sampled_from(OUTPUTS), tricky_text, st.none()),  # None: the call gets no result
)


def _claim_trace(steps: list[tuple[str, str | None]], final: str, behaviour: str | None) -> Trace:
    messages: list[dict[str, Any]] = [{"role": "user", "content": "Fix it."}]
    for number, (name, output) in enumerate(steps):
        call = {"id": f"c{number}", "type": "function", "function": {"name": name, "arguments": "{}"}}
        messages.append({"role": "assistant", "content": "", "tool_calls": [call]})
        if output is not None:
            messages.append({"role": "tool", "tool_call_id": f"c{number}", "content": output})
    messages.append({"role": "assistant", "content": final})
    return parse_trace({"messages": messages, "meta": {"behaviour": behaviour}})


@pytest.mark.parametrize(
    ("steps", "final", "expected"),
    [
        # a passing test run, then a failing render: the render judges a claim about the chart ...
        (
            [("edit_file", "ok"), ("run_tests", "3 passed"), ("render_or_visual_proof", "ERROR")],
            "The chart is fixed.",
            "shows failures",
        ),
        # ... but never a claim about the tests
        (
            [("edit_file", "ok"), ("run_tests", "3 passed"), ("render_or_visual_proof", "ERROR")],
            "All tests pass.",
            None,
        ),
        ([("edit_file", "ok"), ("render_or_visual_proof", "looks right")], "The chart is fixed.", None),
        (
            [("edit_file", "ok"), ("render_or_visual_proof", "looks right")],
            "All tests pass.",
            "follows the last edit",
        ),
        ([("edit_file", "ok"), ("render_or_visual_proof", "looks right")], "Could not fix it.", None),
        ([("edit_file", "ok"), ("run_tests", "1 failed")], "Is it fixed?", None),
        ([("edit_file", "ok"), ("run_tests", None)], "Fixed.", "has no result"),
    ],
)
def test_claim_gate_examples(steps: list[tuple[str, str | None]], final: str, expected: str | None) -> None:
    trace = _claim_trace(steps, final, "visual")
    facts = gates._analyse(trace, CLAIM_CONTEXT)
    detail = gates._gate_claim(trace, CLAIM_CONTEXT, facts)
    assert detail == reference_gate_claim(trace, facts)
    assert (detail is None) if expected is None else (detail is not None and expected in detail)


def test_screens_pass_over_ordinary_text() -> None:
    """The screens must skip the common case, or they only add work (answers stay right either way)."""
    final = "Done — the change in `lexer/tokens.py` (line 5) is `else` → `else,`. The tests pass (9 passed)."
    folded = gates._folded(final)
    assert folded is not None and not gates._may_admit(folded)
    for output in ("9 passed in 0.01s", "test result: ok. 3 passed; 0 failed", "# pass 4\n# fail 0\n"):
        assert not gates._may_show_failure(output)
    for leak in gates._LEAK_PATTERNS:
        assert not leak.screen(final + "\n" + "x = version(1.2.3) + 'a.b.c'"), leak.kind


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(step, max_size=6),
    st.one_of(
        tricky_text, st.sampled_from(["Fixed; all tests pass.", "The chart is fixed.", "Done.", "No luck."])
    ),
    st.sampled_from([None, "visual", "plain", "tests", "odd", "unknown"]),
)
def test_claim_gate_matches_the_reference(
    steps: list[tuple[str, str | None]], final: str, behaviour: str | None
) -> None:
    trace = _claim_trace(steps, final, behaviour)
    facts = gates._analyse(trace, CLAIM_CONTEXT)
    assert gates._gate_claim(trace, CLAIM_CONTEXT, facts) == reference_gate_claim(trace, facts)


# --------------------------------------------------------------------------------------------------
# identifier_leak


@EXAMPLES
@given(tricky_text)
def test_leak_screens_hold_wherever_a_kind_can_be_found(text: str) -> None:
    for leak in gates._LEAK_PATTERNS:
        if leak.needles:
            if any(needle in text for needle in leak.needles):
                assert leak.screen(text), leak.kind
        elif leak.pattern.search(text):
            assert leak.screen(text), leak.kind


@EXAMPLES
@given(tricky_text)
def test_leaks_in_one_text_match_the_reference(text: str) -> None:
    assert gates._leaks_in.__wrapped__(text) == reference_leaks_in(text)


def _trace_of_texts(texts: list[str], nested: bool) -> Trace:
    """A trace whose segments are `texts`, spread over contents, reasoning, results and arguments."""
    messages: list[dict[str, Any]] = [{"role": "system", "content": texts[0] if texts else ""}]
    for number, text in enumerate(texts[1:]):
        kind = number % 4
        if kind == 0:
            messages.append({"role": "user", "content": text})
        elif kind == 1:
            messages.append({"role": "assistant", "content": "", "reasoning_content": text})
        elif kind == 2:
            arguments: dict[str, Any] = {"path": text, "n": 3}
            if nested:
                arguments["more"] = [text[::-1], {"deep": text[:5]}]
            call = {
                "id": f"c{number}",
                "type": "function",
                "function": {"name": "x", "arguments": dumps_str(arguments)},
            }
            messages.append({"role": "assistant", "content": text[:3], "tool_calls": [call]})
        else:
            messages.append({"role": "tool", "tool_call_id": f"c{number - 1}", "content": text})
    return parse_trace({"messages": messages})


# short texts, and long ones (cached or not) that may hold findings before or after the short ones
segment_text = st.one_of(
    tricky_text,
    tricky_text,
    st.tuples(tricky_text, st.integers(1_000, 1_200)).map(
        lambda pair: (pair[0] + " ") * (pair[1] // max(1, len(pair[0]) + 1) + 1)
    ),
    st.tuples(tricky_text, fragments).map(lambda pair: "z " * 600 + pair[0] + pair[1]),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(segment_text, max_size=12), st.booleans())
def test_identifier_leak_gate_matches_the_reference(texts: list[str], nested: bool) -> None:
    trace = _trace_of_texts(texts, nested)
    assert list(gates._text_segments(trace)) == list(reference_text_segments(trace))
    assert gates._gate_identifier_leak(trace, CONTEXT, FACTS) == reference_identifier_leak(trace)


def test_identifier_leak_reports_the_earliest_segment_across_long_and_short_texts() -> None:
    long_with_mail = "filler " * 200 + "mail me at carol@corp.io"
    texts = ["short and clean", long_with_mail, "reach dan@corp.io", "/home/erin/notes"]
    trace = _trace_of_texts(texts, nested=False)
    detail = gates._gate_identifier_leak(trace, CONTEXT, FACTS)
    assert detail == reference_identifier_leak(trace)
    assert detail is not None and "in message 1 content" in detail  # the long text comes first
    trace = _trace_of_texts([texts[0], texts[2], long_with_mail], nested=False)
    detail = gates._gate_identifier_leak(trace, CONTEXT, FACTS)
    assert detail == reference_identifier_leak(trace)
    assert detail is not None and "in message 1 content" in detail  # now the short one does


# --------------------------------------------------------------------------------------------------
# content_key

# Digests computed by the implementation before the fast paths: stored keys must never change.
GOLDEN_KEYS: list[tuple[dict[str, Any], str]] = [
    ({}, "74234e98afe7498fb5daf1f36ac2d78acc339464f950703b8c019892f982b90b"),
    ({"messages": []}, "4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945"),
    ({"messages": "not a list"}, "c6f345c1d4bdc4cf054aef4ced8e63088c9301b51b508b6eb1bf52aa035db7ce"),
    (
        {
            "messages": [
                {"role": "system", "content": "You are a careful engineer.\n\nUse the tools."},
                {"role": "user", "content": "Fix  `last()`:\tit is off by one.\n"},
                {
                    "role": "assistant",
                    "content": "Reading it.",
                    "reasoning_content": "Start   with the file.",
                    "tool_calls": [
                        {
                            "id": "call_a",
                            "type": "function",
                            "function": {"name": "read_file", "arguments": '{"path": "util.py"}'},
                        },
                    ],
                },
                {
                    "role": "tool",
                    "tool_call_id": "call_a",
                    "content": "def last(items):\n    return items[len(items)]\n",
                },
                {
                    "role": "assistant",
                    "content": "Fixed.",
                    "reasoning_content": "Done.",
                    "tool_calls": [
                        {
                            "id": "call_b",
                            "type": "function",
                            "function": {"name": "run_tests", "arguments": "{bad json"},
                        },
                        {
                            "id": "call_a",
                            "function": {
                                "name": "x",
                                "arguments": '{"a": [1, 2.5, null, true, {"b": " c  d "}]}',
                            },
                        },
                    ],
                },
                {"role": "tool", "tool_call_id": "call_b", "content": "3 passed\u2028in 0.1s\xa0 "},
                {"role": "tool", "tool_call_id": "unknown", "content": ""},
                {
                    "role": "assistant",
                    "content": "All 3 tests pass.",
                    "extra": [" a ", {"k": "\tv\n"}],
                    "n": 7,
                },
            ],
            "meta": {"seed": 1},
            "tools": [{"type": "function"}],
        },
        "215a3622f4e9a6a508326a1a5c6c44956987224919c4e5096f169f41e4511671",
    ),
    (
        {
            "messages": [
                {"role": "user", "content": "x" * 2500 + "\n\n" + "y " * 1200},
                "loose string",
                5,
                None,
            ]
        },
        "b667125baf6dfd579921aa664d3be99b9d67977424a4de7debeb15ec0454d8d5",
    ),
    (
        {"messages": [{"role": "system", "content": "p", "name": "sys"}, {"role": "system", "content": "q"}]},
        "6b341a5ae879a7ac3937d6b2da56cac52c950d7dcca4d436aa3039d933b75240",
    ),
    (
        {
            "messages": [
                {"role": "user", "content": "hi", "tool_call_id": "t"},
                {"role": "assistant", "content": "yo"},
            ]
        },
        "82c901a032681ecfa3f210be3e41377544f7df3aa1e3413bf899de5b7877f5d8",
    ),
    (
        {
            "messages": [
                {"role": "assistant", "content": None, "tool_calls": "nope"},
                {"role": "tool", "tool_call_id": 3},
            ]
        },
        "271494dc0bf10b957667bfb604546ea2a47620b7a153d8b2d46eaf16a8db5551",
    ),
]


@pytest.mark.parametrize(("trace_json", "key"), GOLDEN_KEYS)
def test_content_key_is_pinned(trace_json: dict[str, Any], key: str) -> None:
    assert reference_content_key(trace_json) == key
    assert gates.content_key(trace_json) == key
    assert gates.content_key(trace_json) == key  # again, from the cached prompt state


json_leaf = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1), st.floats(allow_nan=False), tricky_text
)
json_value = st.recursive(
    json_leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(["a", "b", " c "]), inner, max_size=3)
    ),
    max_leaves=8,
)
call_id = st.sampled_from(["c1", "c2", "call_x", " c1 ", ""])
arguments_text = st.one_of(json_value.map(dumps_str), tricky_text, st.just("{bad"), st.just(' { "a" :\n1 } '))
tool_call = st.one_of(
    st.fixed_dictionaries(
        {
            "id": call_id,
            "type": st.just("function"),
            "function": st.fixed_dictionaries({"name": tricky_text, "arguments": arguments_text}),
        }
    ),
    st.fixed_dictionaries(
        {
            "id": st.one_of(call_id, st.integers()),
            "function": st.one_of(json_value, st.fixed_dictionaries({"arguments": json_value})),
        }
    ),
    json_value,
)
prompt_text = st.sampled_from(
    ["You are careful.\n\nUse the tools.", "  Fix it\tplease ", "p" * 2100 + "\n q", ""]
)
message = st.one_of(
    st.fixed_dictionaries(
        {"role": st.sampled_from(["system", "user"]), "content": st.one_of(prompt_text, tricky_text)}
    ),
    st.fixed_dictionaries(
        {"role": st.just("assistant"), "content": st.one_of(tricky_text, st.none())},
        optional={
            "reasoning_content": tricky_text,
            "tool_calls": st.one_of(st.lists(tool_call, max_size=3), json_value),
        },
    ),
    st.fixed_dictionaries(
        {"role": st.just("tool"), "tool_call_id": st.one_of(call_id, json_value), "content": tricky_text}
    ),
    st.fixed_dictionaries(
        {"role": st.sampled_from(["system", "user", "assistant", ["user"]]), "content": json_value},
        optional={"name": tricky_text, "extra": json_value},
    ),
    json_value,
)
trace_json = st.one_of(
    st.fixed_dictionaries({"messages": st.lists(message, max_size=8)}, optional={"meta": json_value}),
    st.dictionaries(st.sampled_from(["messages", "meta"]), json_value, max_size=2),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trace_json)
def test_content_key_matches_the_reference(value: dict[str, Any]) -> None:
    assert _outcome(gates.content_key, value) == _outcome(reference_content_key, value)


def _outcome(key: Callable[[dict[str, Any]], str], value: dict[str, Any]) -> tuple[str, str]:
    """The key, or the error it raises (integers beyond 64 bits, non-string keys, deep nesting)."""
    try:
        return "key", key(value)
    except TypeError as error:
        return type(error).__name__, str(error)


@EXAMPLES
@given(tricky_text)
def test_collapse_matches_split_and_join(text: str) -> None:
    assert gates._collapse(text) == " ".join(text.split())
    assert gates._collapse(text * 300) == " ".join((text * 300).split())


def test_content_key_raises_where_the_reference_raises() -> None:
    too_deep: Any = "x"
    for _ in range(260):
        too_deep = [too_deep]
    for value in (
        {"messages": [{"role": "user", "content": "p"}, too_deep]},
        {"messages": [{"role": "system", "content": "p"}, {"role": "assistant", "content": {1: "x"}}]},
        {"messages": [{"role": "system", "content": "p"}, {"role": "tool", "tool_call_id": 2**64}]},
    ):
        error = _outcome(reference_content_key, value)
        assert error[0] != "key"
        assert _outcome(gates.content_key, value) == error


# --------------------------------------------------------------------------------------------------
# The scripted traces the bench measures, honest and defective


@pytest.fixture(scope="module")
def scripted() -> tuple[gates.GateContext, list[dict[str, Any]]]:
    """The gate context of the packaged catalog, and the bench's traces for a few defect shares."""
    from gen_service.core.scripted import scripted_reply_text
    from gen_service.resources import load_resources
    from gen_service.tracebuild import TraceBuilder

    resources = load_resources()
    builder = TraceBuilder(resources)
    behaviours = sorted(resources.behaviours)
    scenarios = list(resources.generation_scenarios)
    traces = []
    for share in (0.0, 0.5, 1.0):
        for seed in range(120):
            behaviour = behaviours[seed % len(behaviours)]
            scenario = scenarios[(seed * 7) % len(scenarios)]
            text = scripted_reply_text(
                resources.behaviours[behaviour], resources.scenarios[scenario], seed, defect_share=share
            )
            built = builder.build(
                text,
                behaviour=behaviour,
                scenario=scenario,
                seed=seed,
                teacher="t",
                prompt_version="v1",
                finish_reason="stop",
            )
            if built is not None:
                traces.append(built)
    return resources.gate_context, traces


def test_scripted_traces_match_the_references(
    scripted: tuple[gates.GateContext, list[dict[str, Any]]],
) -> None:
    context, traces = scripted
    assert len(traces) > 300
    unverified = 0
    for trace_json in traces:
        trace = parse_trace(trace_json)
        facts = gates._analyse(trace, context)
        for message in trace.messages:
            for text in (message.get("content"), message.get("reasoning_content")):
                if isinstance(text, str):
                    assert gates._success_claims(text) == reference_success_claims(text)
                    assert gates._verification_failure(text) == reference_verification_failure(text)
        detail = gates._gate_claim(trace, context, facts)
        assert detail == reference_gate_claim(trace, facts)
        unverified += detail is not None
        assert gates._gate_identifier_leak(trace, context, facts) == reference_identifier_leak(trace)
        assert gates.content_key(trace_json) == reference_content_key(trace_json)
    assert unverified > 0  # the defects include unverified claims


def test_scripted_traces_with_planted_leaks_match_the_reference(
    scripted: tuple[gates.GateContext, list[dict[str, Any]]],
) -> None:
    plants = [
        "ssh to 10.20.30.40",
        "ask bob@corp.io",
        "see /home/alice/x",
        "db.internal",
        "AKIAABCDEFGHIJKLMNOP",
    ]
    for number, trace_json in enumerate(scripted[1][:120]):
        messages = [dict(message) for message in trace_json["messages"]]
        for offset, plant in enumerate(plants[: number % len(plants) + 1]):
            target = messages[(number * 3 + offset * 5) % len(messages)]
            field = "reasoning_content" if "reasoning_content" in target and offset % 2 else "content"
            target[field] = f"{target.get(field) or ''} {plant}"
        trace = parse_trace({**trace_json, "messages": messages})
        assert gates._gate_identifier_leak(trace, CONTEXT, FACTS) == reference_identifier_leak(trace)
