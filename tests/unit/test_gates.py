"""The pure quality gates: each gate with traces that must pass and traces that must fail."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import pytest

from gen_service.core.gates import (
    GATE_REASONS,
    BehaviourCheck,
    GateContext,
    Reason,
    Rejection,
    claims_success,
    content_key,
    run_gates,
)
from gen_service.core.trace import Trace
from gen_service.serialization import dumps, dumps_str

VOCABULARY = frozenset(
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
TOOLS = [
    {"type": "function", "function": {"name": name, "description": name, "parameters": {"type": "object"}}}
    for name in sorted(VOCABULARY)
]

BUGGY = "def last(items):\n    return items[len(items)]\n"
FIXED = "def last(items):\n    return items[len(items) - 1]\n"


@dataclass(frozen=True)
class FakeBehaviour:
    """A minimal BehaviourCheck: requires a named tool to be called."""

    name: str
    required_tool: str = "read_file"
    verify_tools: frozenset[str] = frozenset()

    def check(self, trace: Trace) -> str | None:
        if any(call.name == self.required_tool for call in trace.tool_calls):
            return None
        return f"no {self.required_tool} call"


BEHAVIOURS: dict[str, BehaviourCheck] = {
    "survey": FakeBehaviour("survey"),
    "visual": FakeBehaviour("visual", verify_tools=frozenset({"render_or_visual_proof"})),
    "needs_memory": FakeBehaviour("needs_memory", required_tool="memory_search"),
}
CONTEXT = GateContext(vocabulary=VOCABULARY, behaviours=BEHAVIOURS)


# -- builders ------------------------------------------------------------------------------------------


def call(call_id: str, name: str, **arguments: Any) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": dumps_str(arguments)}}


def assistant(
    content: str, *calls: dict[str, Any], reasoning: str | None = "Thinking it over."
) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if reasoning is not None:
        message["reasoning_content"] = reasoning
    if calls:
        message["tool_calls"] = list(calls)
    return message


def tool(call_id: str, content: str) -> dict[str, Any]:
    return {"role": "tool", "tool_call_id": call_id, "content": content}


def head() -> list[dict[str, Any]]:
    return [
        {"role": "system", "content": "You are a careful coding agent."},
        {"role": "user", "content": "tests/test_items.py fails: IndexError in last(). Fix it."},
    ]


def trace_of(
    body: list[dict[str, Any]],
    *,
    language: str | None = "python",
    behaviour: str | None = "survey",
    **meta: Any,
) -> dict[str, Any]:
    full_meta: dict[str, Any] = {"scenario": "items", "finish_reason": "stop", **meta}
    if language is not None:
        full_meta["language"] = language
    if behaviour is not None:
        full_meta["behaviour"] = behaviour
    return {"messages": head() + body, "tools": copy.deepcopy(TOOLS), "meta": full_meta}


def good_body(
    final: str = "Fixed the off-by-one in last(); all 3 tests pass.",
    test_output: str = "...\n3 passed in 0.02s",
    command: str = "python -m pytest -q",
) -> list[dict[str, Any]]:
    return [
        assistant(
            "I'll read the module first.", call("c1", "read_file", path="items.py"), reasoning="Read first."
        ),
        tool("c1", BUGGY),
        assistant(
            "Let me fix the index.",
            call("c2", "edit_file", path="items.py", old="items[len(items)]", new="items[len(items) - 1]"),
            reasoning="Hypothesis: the index is one past the end.",
        ),
        tool("c2", "ok"),
        assistant(
            "I'll run the tests.", call("c3", "run_tests", command=command), reasoning="Check the fix."
        ),
        tool("c3", test_output),
        assistant(final, reasoning="The tests confirm the fix."),
    ]


def good_trace(**kwargs: Any) -> dict[str, Any]:
    return trace_of(good_body(**kwargs))


def reasons(value: Any, context: GateContext = CONTEXT) -> list[Reason]:
    return [rejection.reason for rejection in run_gates(value, context)[1]]


def detail(value: Any, reason: Reason, context: GateContext = CONTEXT) -> str:
    for rejection in run_gates(value, context)[1]:
        if rejection.reason == reason:
            return rejection.detail
    raise AssertionError(f"{reason} did not fire")


# -- the runner ----------------------------------------------------------------------------------------


def test_good_trace_passes_every_gate() -> None:
    trace, rejections = run_gates(good_trace(), CONTEXT)
    assert rejections == []
    assert isinstance(trace, Trace)


def test_accepts_json_text_bytes_mapping_and_parsed_trace() -> None:
    value = good_trace()
    trace, _ = run_gates(value, CONTEXT)
    assert trace is not None
    for form in (dumps_str(value), dumps(value), trace):
        assert run_gates(form, CONTEXT)[1] == []


def test_registry_order() -> None:
    assert GATE_REASONS == (
        Reason.MALFORMED_OUTPUT,
        Reason.INCOMPLETE_TRACE,
        Reason.REASONING_EMPTY,
        Reason.NO_OP_EDIT,
        Reason.CLAIM_WITHOUT_VERIFY,
        Reason.LANG_RUNNER_MISMATCH,
        Reason.PROMPT_OVER_CAP,
        Reason.VOCABULARY_VIOLATION,
        Reason.IDENTIFIER_LEAK,
        Reason.BEHAVIOUR_NOT_EXHIBITED,
    )
    assert Reason.DUPLICATE not in GATE_REASONS
    # Decided outside the pure gates: duplicate (against what was accepted), unverified_fix (I/O).
    assert [str(reason) for reason in Reason][-2:] == ["duplicate", "unverified_fix"]
    assert Reason.UNVERIFIED_FIX not in GATE_REASONS


def test_all_failing_reasons_come_back_in_registry_order() -> None:
    body = [
        assistant(
            "Looking around. Contact me at jane.doe@acme-corp.com",
            call("c1", "grep_repo", query="last"),  # outside the vocabulary
            reasoning="",
        ),
        tool("c1", "items.py:2"),
        assistant("", call("c2", "edit_file", path="items.py", old="x", new="x")),
        tool("c2", "ok"),
        assistant("", call("c3", "run_tests", command="cargo test")),
        tool("c3", "test result: FAILED. 0 passed; 1 failed"),
        assistant("Done, everything works now.", call("c4", "read_file", path="items.py")),
    ]
    value = trace_of(body, behaviour="needs_memory", finish_reason="length")
    tiny = GateContext(vocabulary=VOCABULARY, behaviours=BEHAVIOURS, max_tokens=10)
    got = reasons(value, tiny)
    assert got == [
        Reason.INCOMPLETE_TRACE,
        Reason.REASONING_EMPTY,
        Reason.NO_OP_EDIT,
        Reason.CLAIM_WITHOUT_VERIFY,
        Reason.LANG_RUNNER_MISMATCH,
        Reason.PROMPT_OVER_CAP,
        Reason.VOCABULARY_VIOLATION,
        Reason.IDENTIFIER_LEAK,
        Reason.BEHAVIOUR_NOT_EXHIBITED,
    ]
    assert got == sorted(got, key=GATE_REASONS.index)
    rejections = run_gates(value, tiny)[1]
    assert all(isinstance(r, Rejection) and r.detail for r in rejections)


# -- malformed_output ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "not json at all",
        b'{"messages": [',
        "[1, 2, 3]",
        {"messages": []},
        {"messages": [{"role": "wizard", "content": "hi"}]},
        {"messages": [{"role": "assistant", "content": "x", "tool_calls": [{"id": "a", "function": {}}]}]},
        {
            "messages": [
                {
                    "role": "assistant",
                    "content": "x",
                    "tool_calls": [
                        {"id": "a", "type": "function", "function": {"name": "read_file", "arguments": "[1]"}}
                    ],
                }
            ]
        },
        {"messages": [{"role": "tool", "content": "orphan"}]},
        "",
    ],
)
def test_malformed_short_circuits(value: Any) -> None:
    trace, rejections = run_gates(value, CONTEXT)
    assert trace is None
    assert [r.reason for r in rejections] == [Reason.MALFORMED_OUTPUT]
    assert rejections[0].detail


# -- incomplete_trace ----------------------------------------------------------------------------------


def test_incomplete_no_assistant() -> None:
    value = trace_of([])
    assert Reason.INCOMPLETE_TRACE in reasons(value)
    assert "no assistant message" in detail(value, Reason.INCOMPLETE_TRACE)


def test_incomplete_ends_with_tool_message() -> None:
    value = trace_of(good_body()[:-1])
    assert "tool message" in detail(value, Reason.INCOMPLETE_TRACE)


def test_incomplete_final_message_makes_calls() -> None:
    body = [*good_body()[:-1], assistant("One more look.", call("c9", "read_file", path="items.py"))]
    assert "still makes tool calls" in detail(trace_of(body), Reason.INCOMPLETE_TRACE)


def test_incomplete_call_without_result() -> None:
    body = good_body()
    del body[3]  # the result of the edit
    assert "c2 (edit_file)" in detail(trace_of(body), Reason.INCOMPLETE_TRACE)


def test_incomplete_result_for_unknown_call() -> None:
    body = good_body()
    body.insert(6, tool("zzz", "surprise"))
    assert "unknown call ids: zzz" in detail(trace_of(body), Reason.INCOMPLETE_TRACE)


def test_incomplete_result_before_its_call_is_unknown() -> None:
    body = good_body()
    body.insert(0, tool("c1", "early"))
    assert Reason.INCOMPLETE_TRACE in reasons(trace_of(body))


def test_incomplete_finish_reason_length() -> None:
    value = trace_of(good_body(), finish_reason="length")
    assert reasons(value) == [Reason.INCOMPLETE_TRACE]
    assert "finish_reason=length" in detail(value, Reason.INCOMPLETE_TRACE)


def test_complete_with_parallel_calls_answered_in_any_order() -> None:
    body = [
        assistant(
            "I'll read both files.",
            call("a", "read_file", path="items.py"),
            call("b", "read_file", path="tests/test_items.py"),
        ),
        tool("b", "def test_last(): ..."),
        tool("a", BUGGY),
        *good_body()[2:],
    ]
    assert reasons(trace_of(body)) == []


def test_empty_tool_calls_list_on_final_message_is_complete() -> None:
    body = good_body()
    body[-1]["tool_calls"] = []
    assert reasons(trace_of(body)) == []


# -- reasoning_empty -----------------------------------------------------------------------------------


@pytest.mark.parametrize("reasoning", ["", "   \n\t", None])
def test_reasoning_empty_on_acting_message(reasoning: str | None) -> None:
    body = good_body()
    if reasoning is None:
        del body[0]["reasoning_content"]
    else:
        body[0]["reasoning_content"] = reasoning
    value = trace_of(body)
    assert reasons(value) == [Reason.REASONING_EMPTY]
    assert "2" in detail(value, Reason.REASONING_EMPTY)  # message index 2 (after system and user)


def test_reasoning_empty_on_final_message() -> None:
    body = good_body()
    body[-1]["reasoning_content"] = " "
    assert reasons(trace_of(body)) == [Reason.REASONING_EMPTY]


def test_reasoning_not_required_on_intermediate_chat_message() -> None:
    body = good_body()
    body.insert(4, assistant("(thinking aloud, no tools)", reasoning=None))
    assert reasons(trace_of(body)) == []


# -- no_op_edit ----------------------------------------------------------------------------------------


def test_no_op_edit_old_equals_new() -> None:
    body = good_body()
    body[2] = assistant("Let me edit.", call("c2", "edit_file", path="items.py", old="a = 1", new="a = 1"))
    value = trace_of(body)
    assert reasons(value) == [Reason.NO_OP_EDIT]
    assert "items.py" in detail(value, Reason.NO_OP_EDIT)


def test_no_op_write_of_the_content_read() -> None:
    body = good_body()
    body[2] = assistant("I'll rewrite it.", call("c2", "write_file", path="./items.py", content=BUGGY))
    assert reasons(trace_of(body)) == [Reason.NO_OP_EDIT]


def test_write_of_new_content_is_fine() -> None:
    body = good_body()
    body[2] = assistant("I'll rewrite it.", call("c2", "write_file", path="items.py", content=FIXED))
    assert reasons(trace_of(body)) == []


def test_write_differing_only_by_a_newline_is_a_change() -> None:
    body = good_body()
    body[2] = assistant("I'll rewrite it.", call("c2", "write_file", path="items.py", content=BUGGY.rstrip()))
    assert reasons(trace_of(body)) == []


def test_write_of_read_content_for_another_path_is_fine() -> None:
    body = good_body()
    body[2] = assistant("Copy it.", call("c2", "write_file", path="items_backup.py", content=BUGGY))
    assert reasons(trace_of(body)) == []


def test_revert_after_an_edit_is_not_a_no_op() -> None:
    body = good_body()
    body[6:6] = [
        assistant("Revert that edit.", call("c4", "write_file", path="items.py", content=BUGGY)),
        tool("c4", "ok"),
        assistant(
            "Apply it again.",
            call("c5", "edit_file", path="items.py", old="items[len(items)]", new="items[len(items) - 1]"),
        ),
        tool("c5", "ok"),
    ]
    assert Reason.NO_OP_EDIT not in reasons(trace_of(body))


def test_write_back_after_edit_and_reread_is_a_no_op() -> None:
    body = good_body()
    body[4:4] = [
        assistant("Read again.", call("r2", "read_file", path="items.py")),
        tool("r2", FIXED),
        assistant("Write it out.", call("w2", "write_file", path="items.py", content=FIXED)),
        tool("w2", "ok"),
    ]
    assert reasons(trace_of(body)) == [Reason.NO_OP_EDIT]


def test_partial_read_is_not_the_file_content() -> None:
    body = good_body()
    body[0] = assistant("Read line 2.", call("c1", "read_file", path="items.py", start_line=2, end_line=2))
    body[1] = tool("c1", "    return items[len(items)]\n")
    body[2] = assistant(
        "Write.", call("c2", "write_file", path="items.py", content="    return items[len(items)]\n")
    )
    assert Reason.NO_OP_EDIT not in reasons(trace_of(body))


def test_run_command_forgets_what_was_read() -> None:
    body = good_body()
    body[2:2] = [
        assistant("Reset.", call("g1", "run_command", command="git checkout items.py")),
        tool("g1", ""),
    ]
    body[4] = assistant("Rewrite.", call("c2", "write_file", path="items.py", content=BUGGY))
    assert Reason.NO_OP_EDIT not in reasons(trace_of(body))


# -- claims_success ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "Fixed the off-by-one in last().",
        "The bug is fixed.",
        "Done.",
        "All tests pass now.",
        "All 3 tests are passing.",
        "The test suite passes.",
        "It works now.",
        "Everything works as expected.",
        "Resolved: the index was one past the end.",
        "This resolves the IndexError.",
        "Pytest reports 3 passed.",
        "I successfully updated the parser and the build is green.",
        "The change should be fixed now, tests pass.",
        "**Fixed** ✅",
        "Could not reproduce at first, but after adding a repro test the bug is fixed.",
    ],
)
def test_claims_success(text: str) -> None:
    assert claims_success(text)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "I could not fix the bug.",
        "The bug is not fixed yet.",
        "The test isn't passing.",
        "Tests are still failing after my change.",
        "I was unable to resolve the import error.",
        "I couldn't get the tests to pass.",
        "Not all tests pass.",
        "None of the tests pass.",
        "Is it fixed?",
        "Once the tests pass, we can release.",
        "I need you to confirm whether it works on Windows.",
        "Here is how it works: last() indexes from the end.",
        "The root cause is a fixed-size buffer.",
        "I updated all callers to pass the flag explicitly.",
        "Fixed the parser, but test_dates still fails.",
        "I have not fixed it; the failure is in a vendored module I should not touch.",
        "Here's what I found about the failure in last().",
    ],
)
def test_does_not_claim_success(text: str) -> None:
    assert not claims_success(text)


# -- claim_without_verify ------------------------------------------------------------------------------


def test_claim_with_passing_run_after_edit_is_fine() -> None:
    assert reasons(good_trace()) == []


def test_claim_without_any_verification_after_the_edit() -> None:
    body = good_body()
    del body[4:6]  # the run_tests call and its result
    value = trace_of(body)
    assert reasons(value) == [Reason.CLAIM_WITHOUT_VERIFY]
    assert "follows the last edit" in detail(value, Reason.CLAIM_WITHOUT_VERIFY)


def test_claim_with_verification_only_before_the_last_edit() -> None:
    body = good_body()
    body[6:6] = [
        assistant("One more tweak.", call("c4", "edit_file", path="items.py", old="- 1", new="-1")),
        tool("c4", "ok"),
    ]
    assert reasons(trace_of(body)) == [Reason.CLAIM_WITHOUT_VERIFY]


def test_negated_claim_without_verification_is_fine() -> None:
    body = good_body(final="I could not fix the bug; the edit did not help and I have not run the tests.")
    del body[4:6]
    assert reasons(trace_of(body)) == []


@pytest.mark.parametrize(
    "output",
    [
        "FAILED tests/test_items.py::test_last - IndexError\n1 failed, 2 passed in 0.03s",
        "2 passed, 1 error in 0.10s",
        "ERROR tests/test_items.py - ImportError",
        "running 3 tests\ntest result: FAILED. 2 passed; 1 failed; 0 ignored",
        "# tests 3\n# pass 2\n# fail 1",
        "Tests:       1 failed, 2 passed, 3 total",
        "Ran 3 tests in 0.001s\n\nFAILED (failures=1)",
        "--- FAIL: TestLast (0.00s)\nFAIL\nexit status 1\nFAIL\texample.com/items\t0.002s",
        "error[E0425]: cannot find value `x` in this scope",
        "no tests ran in 0.01s",
    ],
)
def test_claim_with_failing_last_verification(output: str) -> None:
    value = good_trace(test_output=output)
    got = reasons(value)
    assert Reason.CLAIM_WITHOUT_VERIFY in got
    assert "shows failures" in detail(value, Reason.CLAIM_WITHOUT_VERIFY)


@pytest.mark.parametrize(
    ("language", "command", "output"),
    [
        ("python", "pytest -q", "3 passed in 0.02s"),
        ("python", "python -m unittest", "Ran 3 tests in 0.001s\n\nOK"),
        ("rust", "cargo test", "running 3 tests\ntest result: ok. 3 passed; 0 failed; 0 ignored"),
        ("javascript", "node --test", "# tests 3\n# pass 3\n# fail 0"),
        ("javascript", "npx jest", "Tests:       3 passed, 3 total"),
        ("go", "go test ./...", "ok  \texample.com/items\t0.002s"),
    ],
)
def test_claim_with_passing_output_of_each_runner(language: str, command: str, output: str) -> None:
    assert reasons(trace_of(good_body(test_output=output, command=command), language=language)) == []


def test_failure_then_passing_rerun_is_fine() -> None:
    body = good_body(test_output="1 failed, 2 passed")
    body[6:6] = [assistant("Run again.", call("c5", "run_tests", command="pytest")), tool("c5", "3 passed")]
    assert reasons(trace_of(body)) == []


def test_passing_run_then_failing_rerun_is_judged_by_the_last() -> None:
    body = good_body()
    body[6:6] = [assistant("Run again.", call("c5", "run_tests", command="pytest")), tool("c5", "1 failed")]
    assert reasons(trace_of(body)) == [Reason.CLAIM_WITHOUT_VERIFY]


def test_claim_without_edits_needs_a_passing_verification() -> None:
    body = [
        assistant("I'll read the module.", call("c1", "read_file", path="items.py")),
        tool("c1", FIXED),
        assistant("Everything works already, nothing to fix.", reasoning="Looks right."),
    ]
    assert reasons(trace_of(body)) == [Reason.CLAIM_WITHOUT_VERIFY]
    body[2:2] = [
        assistant("Run the tests.", call("c2", "run_tests", command="pytest")),
        tool("c2", "3 passed"),
    ]
    assert reasons(trace_of(body)) == []


def test_media_behaviour_counts_render_as_verification() -> None:
    body = good_body(final="Fixed the chart colours; the render looks right.")
    body[4] = assistant("I'll render it.", call("c3", "render_or_visual_proof", target="chart.png"))
    body[5] = tool("c3", "Rendered chart.png (800x600): bars use the new palette.")
    assert reasons(trace_of(body, behaviour="visual")) == []
    # the same trace for a behaviour without that verification tool is unverified
    assert reasons(trace_of(body, behaviour="survey")) == [Reason.CLAIM_WITHOUT_VERIFY]


def test_a_render_does_not_verify_a_claim_about_tests() -> None:
    body = good_body(final="Fixed the chart colours; all 9 tests pass and the render looks right.")
    body[4] = assistant("I'll render it.", call("c3", "render_or_visual_proof", target="chart.png"))
    body[5] = tool("c3", "Rendered chart.png (800x600): bars use the new palette.")
    value = trace_of(body, behaviour="visual")
    assert reasons(value) == [Reason.CLAIM_WITHOUT_VERIFY]
    assert "run_tests" in detail(value, Reason.CLAIM_WITHOUT_VERIFY)
    # with a passing test run after the edit, the same claim holds
    body[6:6] = [
        assistant("Run the tests.", call("c5", "run_tests", command="pytest")),
        tool("c5", "9 passed"),
    ]
    assert reasons(trace_of(body, behaviour="visual")) == []


def test_failing_render_is_a_failed_verification() -> None:
    body = good_body()
    body[4] = assistant("I'll render it.", call("c3", "render_or_visual_proof", target="chart.png"))
    body[5] = tool("c3", "ERROR: renderer crashed")
    assert reasons(trace_of(body, behaviour="visual")) == [Reason.CLAIM_WITHOUT_VERIFY]


# -- lang_runner_mismatch ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "command"),
    [
        ("python", "pytest"),
        ("python", "pytest -q tests/test_items.py"),
        ("python", "python -m pytest -x"),
        ("python", "python3 -m pytest"),
        ("python", "python -m unittest discover"),
        ("python", "tox -e py311"),
        ("python", "nox"),
        ("python", "cd sub && FOO=1 python -m pytest"),
        ("python", "cd a && cd 'b c' && PYTHONPATH=src BAR=\"x y\" pytest -q"),
        ("python", "env PYTHONHASHSEED=0 pytest"),
        ("python", "  uv run pytest"),
        ("javascript", "npm test"),
        ("javascript", "npm run test -- --watch=false"),
        ("javascript", "npx vitest run"),
        ("javascript", "npx jest src"),
        ("javascript", "node --test"),
        ("javascript", "pnpm test"),
        ("javascript", "yarn test"),
        ("js", "CI=1 npm test"),
        ("rust", "cargo test"),
        ("rust", "cd crate && cargo nextest run"),
        ("Rust", "RUST_BACKTRACE=1 cargo test -- --nocapture"),
        ("go", "go test ./..."),
        ("golang", "cd svc; go test -run TestLast"),
    ],
)
def test_runner_fits_language(language: str, command: str) -> None:
    value = trace_of(good_body(command=command), language=language)
    assert Reason.LANG_RUNNER_MISMATCH not in reasons(value)


@pytest.mark.parametrize(
    ("language", "command"),
    [
        ("python", "cargo test"),
        ("python", "npm test"),
        ("python", "pytest-watch"),
        ("python", "python items.py"),
        ("python", "cd sub && go test"),
        ("javascript", "pytest"),
        ("javascript", "npm install"),
        ("rust", "cargo build"),
        ("rust", "FOO=1 python -m pytest"),
        ("go", "go vet ./..."),
        ("go", "echo go test"),
    ],
)
def test_runner_mismatch(language: str, command: str) -> None:
    value = trace_of(good_body(command=command), language=language)
    assert Reason.LANG_RUNNER_MISMATCH in reasons(value)
    assert repr(command)[1:20] in detail(value, Reason.LANG_RUNNER_MISMATCH)


def test_runner_without_command_is_a_mismatch() -> None:
    body = good_body()
    body[4] = assistant("Run.", call("c3", "run_tests"))
    assert Reason.LANG_RUNNER_MISMATCH in reasons(trace_of(body))


@pytest.mark.parametrize("language", [None, "", "cobol", 3])
def test_runner_not_checked_for_unknown_language(language: Any) -> None:
    value = trace_of(good_body(command="cargo test"), language=None)
    if language is not None:
        value["meta"]["language"] = language
    assert Reason.LANG_RUNNER_MISMATCH not in reasons(value)


# -- prompt_over_cap -----------------------------------------------------------------------------------


def test_prompt_over_cap() -> None:
    value = good_trace()
    assert reasons(value, GateContext(vocabulary=VOCABULARY, behaviours=BEHAVIOURS, max_tokens=50)) == [
        Reason.PROMPT_OVER_CAP
    ]
    assert reasons(value) == []  # the default cap of 16384


def test_prompt_cap_uses_the_given_counter() -> None:
    value = good_trace()
    one_per_char = GateContext(vocabulary=VOCABULARY, behaviours=BEHAVIOURS, count_tokens=len)
    assert reasons(value, one_per_char) == []
    tight = GateContext(vocabulary=VOCABULARY, behaviours=BEHAVIOURS, max_tokens=1000, count_tokens=len)
    assert reasons(value, tight) == [Reason.PROMPT_OVER_CAP]
    assert "exceed the cap of 1000" in detail(value, Reason.PROMPT_OVER_CAP, tight)


def test_prompt_cap_counts_tool_results_and_reasoning() -> None:
    body = good_body()
    body[1] = tool("c1", "x" * 70_000)
    assert reasons(trace_of(body)) == [Reason.PROMPT_OVER_CAP]
    body = good_body()
    body[0]["reasoning_content"] = "y" * 70_000
    assert reasons(trace_of(body)) == [Reason.PROMPT_OVER_CAP]


# -- vocabulary_violation ------------------------------------------------------------------------------


def test_vocabulary_violation() -> None:
    body = good_body()
    body[0] = assistant("Reading.", call("c1", "Read", path="items.py"))
    value = trace_of(body)
    assert Reason.VOCABULARY_VIOLATION in reasons(value)
    assert "'Read'" in detail(value, Reason.VOCABULARY_VIOLATION)


def test_vocabulary_all_known_names_pass() -> None:
    body = [
        assistant("I'll look around.", *(call(f"k{i}", name) for i, name in enumerate(sorted(VOCABULARY)))),
        *(tool(f"k{i}", "ok") for i in range(len(VOCABULARY))),
        assistant("Here is a summary of what I looked at.", reasoning="Summary."),
    ]
    assert Reason.VOCABULARY_VIOLATION not in reasons(trace_of(body))


# -- identifier_leak -----------------------------------------------------------------------------------


def with_text(text: str, where: str = "content") -> dict[str, Any]:
    body = good_body()
    if where == "content":
        body[0]["content"] = f"I'll read the module. {text}"
    elif where == "reasoning":
        body[0]["reasoning_content"] = f"Read first. {text}"
    elif where == "result":
        body[1] = tool("c1", BUGGY + f"# {text}\n")
    elif where == "arguments":
        body[0] = assistant("I'll read it.", call("c1", "read_file", path=text))
    elif where == "user":
        body.insert(0, {"role": "user", "content": text})
    return trace_of(body)


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("see /home/alice/projects/items.py", "home-directory path"),
        ("/Users/bob/src/items.py", "home-directory path"),
        (r"C:\Users\carol\repo\items.py", "home-directory path"),
        ("C:/Users/carol/repo", "home-directory path"),
        ("mail jane.doe@acme-corp.com for access", "e-mail address"),
        ("connect to 10.20.30.40:5432", "IPv4 address"),
        ("server at 192.168.1.17.", "IPv4 address"),
        ("db at pg-primary.prod.internal:5432", "internal host name"),
        ("http://build.corp/job/42", "internal host name"),
        ("printer.lan", "internal host name"),
        ("ssh nas.local", "internal host name"),
        ("OPENAI_API_KEY=sk-proj-4f9aK2mX8qL1zT7vB3nR6wY0", "API key"),
        ("token ghp_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8", "GitHub token"),
        ("AKIAIOSFODNN7EXAMPLE", "AWS access key id"),
        ("-----BEGIN RSA PRIVATE KEY-----", "private key block"),
    ],
)
def test_identifier_leak(text: str, kind: str) -> None:
    value = with_text(text)
    assert reasons(value) == [Reason.IDENTIFIER_LEAK]
    assert kind in detail(value, Reason.IDENTIFIER_LEAK)


@pytest.mark.parametrize("where", ["content", "reasoning", "result", "arguments", "user"])
def test_identifier_leak_found_in_every_part(where: str) -> None:
    assert reasons(with_text("ping 10.1.2.3", where)) == [Reason.IDENTIFIER_LEAK]


def test_identifier_leak_in_windows_path_inside_arguments_is_decoded() -> None:
    value = with_text("C:\\Users\\dave\\repo", where="arguments")
    assert reasons(value) == [Reason.IDENTIFIER_LEAK]


@pytest.mark.parametrize("path", ["C:\\USERS\\dave\\repo", "d:/uSeRs/erin/x", "E:\\users\\frank"])
def test_identifier_leak_in_windows_home_of_any_case(path: str) -> None:
    # The pattern matches "users" in any case; its screen once needed a lower-case "sers".
    assert "home-directory path" in detail(with_text(f"opened {path}"), Reason.IDENTIFIER_LEAK)


def test_identifier_leak_never_prints_the_secret() -> None:
    secret = "sk-proj-4f9aK2mX8qL1zT7vB3nR6wY0"
    text = detail(with_text(f"key {secret}"), Reason.IDENTIFIER_LEAK)
    assert secret not in text
    assert "4f9aK2" not in text
    text = detail(with_text("AKIAIOSFODNN7EXAMPLE"), Reason.IDENTIFIER_LEAK)
    assert "IOSFODNN" not in text


def test_identifier_leak_names_every_kind_found() -> None:
    text = detail(with_text("/home/alice/x and jane@acme.io and 10.0.0.5"), Reason.IDENTIFIER_LEAK)
    assert "home-directory path" in text
    assert "e-mail address" in text
    assert "IPv4 address" in text
    assert "message 2 content" in text


@pytest.mark.parametrize(
    "text",
    [
        "served on 127.0.0.1:8000",
        "listen on 0.0.0.0",
        "netmask 255.255.255.0",
        "bumped to version 1.2.3.4",
        "requires foo==4.0.30319.42000",
        "docs use 192.0.2.10 and 203.0.113.5",
        "user@example.com wrote the fixture",
        "mail test@fixtures.test",
        "git@github.com:org/repo.git",
        "install lodash@4.17.21",
        "@pytest.fixture decorates it",
        "the task-runner and scikit-learn's sk-learn-compatible-estimator-v2-wrapper",
        "asked about disk-usage",
        "placeholder ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        "~/projects/items.py and /tmp/home/x",
        "https://example.org/home/about and /api/users/42",
        "threading.local() stores it; self.local is set; settings.local.json exists",
        "localhost:8080",
        "timing 0.01s, 1.5.2 release, ratio 3.14",
        "OID 1.3.6.1.4.1 is fine",
    ],
)
def test_no_identifier_leak(text: str) -> None:
    assert Reason.IDENTIFIER_LEAK not in reasons(with_text(text))


# -- behaviour_not_exhibited ---------------------------------------------------------------------------


def test_behaviour_not_exhibited() -> None:
    value = trace_of(good_body(), behaviour="needs_memory")
    assert reasons(value) == [Reason.BEHAVIOUR_NOT_EXHIBITED]
    assert detail(value, Reason.BEHAVIOUR_NOT_EXHIBITED) == "needs_memory: no memory_search call"


def test_behaviour_exhibited() -> None:
    assert reasons(trace_of(good_body(), behaviour="survey")) == []


@pytest.mark.parametrize("behaviour", [None, "no_such_behaviour"])
def test_behaviour_not_checked_when_unknown(behaviour: str | None) -> None:
    assert reasons(trace_of(good_body(), behaviour=behaviour)) == []


# -- content_key ---------------------------------------------------------------------------------------


def test_content_key_ignores_meta_tools_and_whitespace_runs() -> None:
    one = good_trace()
    two = copy.deepcopy(one)
    two["meta"] = {"behaviour": "other", "scenario": "else", "seed": 7}
    two["tools"] = []
    two["messages"][-1]["content"] = "Fixed   the off-by-one in\nlast();  all 3 tests pass.  "
    assert content_key(one) == content_key(two)
    assert len(content_key(one)) == 64
    int(content_key(one), 16)


def test_content_key_ignores_key_order_argument_spacing_and_call_ids() -> None:
    one = good_trace()
    two = copy.deepcopy(one)
    two["messages"] = [dict(reversed(list(m.items()))) for m in two["messages"]]
    for message in two["messages"]:
        for tool_call in message.get("tool_calls", []):
            tool_call["id"] = "x_" + tool_call["id"]
            tool_call["function"]["arguments"] = tool_call["function"]["arguments"].replace(":", ": ")
        if message["role"] == "tool":
            message["tool_call_id"] = "x_" + message["tool_call_id"]
    assert content_key(one) == content_key(two)


def test_content_key_sees_content_changes() -> None:
    one = good_trace()
    two = good_trace(final="Fixed the off-by-one in last(); all 4 tests pass.")
    three = good_trace(command="pytest")
    assert len({content_key(one), content_key(two), content_key(three)}) == 3


# -- performance ---------------------------------------------------------------------------------------


def test_gates_are_fast_enough_for_hundreds_of_samples_a_second() -> None:
    import time

    body = good_body()
    body[1] = tool("c1", (BUGGY + "# some more code and comments 1.2.3 x@y\n") * 400)  # ~30 kB result
    line = dumps(trace_of(body))
    started = time.perf_counter()
    for _ in range(100):
        run_gates(line, CONTEXT)
    per_sample = (time.perf_counter() - started) / 100
    assert per_sample < 0.01, f"{per_sample * 1000:.1f} ms a sample"


def test_content_key_tolerates_odd_values() -> None:
    assert len(content_key({})) == 64
    odd = {
        "messages": [
            {
                "role": "assistant",
                "content": "x",
                "tool_calls": [{"id": "a", "function": {"arguments": "{bad"}}],
            }
        ]
    }
    assert content_key(odd) != content_key({})
