"""The behaviour pool and the signature predicates, on hand-written traces."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from gen_service.catalog import load_behaviours, load_vocabulary
from gen_service.core.behaviours import LAYERS, PREDICATES, Behaviour, parse_predicate
from gen_service.core.trace import Trace, parse_trace
from gen_service.paths import behaviours_dir
from gen_service.serialization import dumps_str

EXPECTED = {
    "coding": {
        "survey_before_edit",
        "hypothesis_driven_debugging",
        "minimal_diff_fix",
        "test_first_repro",
        "root_cause_over_symptom",
        "respect_user_changes",
    },
    "tool_depth": {
        "tool_intent_first",
        "targeted_search",
        "multi_step_tool_chain",
        "parallel_independent_reads",
        "tool_error_recovery",
        "external_awareness",
    },
    "reliability": {
        "claim_requires_run",
        "evidence_backed_claims",
        "stall_avoidance",
        "scope_discipline",
        "safe_destructive_ops",
        "stable_multi_turn_tool_use",
    },
    "self_correction": {
        "weigh_alternatives_then_commit",
        "recall_first_habit",
        "notice_and_revert_bad_edit",
        "reread_after_failure",
        "update_hypothesis_on_evidence",
        "fix_forward_from_test_output",
    },
    "media": {
        "render_or_visual_proof",
        "visual_diff_check",
        "describe_artifact_faithfully",
        "asset_pipeline_debugging",
        "chart_from_data",
        "accessibility_check",
    },
}
BEHAVIOURS = load_behaviours()

# --------------------------------------------------------------------------------------------------
# The pool


def test_exactly_the_thirty_behaviours_in_their_layer_folders() -> None:
    assert LAYERS == ("coding", "tool_depth", "reliability", "self_correction", "media")
    assert {layer: {b.name for b in BEHAVIOURS.values() if b.layer == layer} for layer in LAYERS} == EXPECTED
    for behaviour in BEHAVIOURS.values():
        assert (behaviours_dir() / behaviour.layer / f"{behaviour.name}.toml").is_file()


def test_behaviours_come_in_layer_order_then_name_order() -> None:
    keys = [(LAYERS.index(b.layer), b.name) for b in BEHAVIOURS.values()]
    assert keys == sorted(keys)
    assert list(BEHAVIOURS) == [b.name for b in BEHAVIOURS.values()]


def test_every_behaviour_is_complete_and_uses_only_vocabulary_tools() -> None:
    vocabulary = load_vocabulary()
    for behaviour in BEHAVIOURS.values():
        assert behaviour.brief and behaviour.must_not
        assert behaviour.default_target >= 1000 and 1 <= behaviour.demo_target <= 10
        assert behaviour.signature
        assert behaviour.tool_names() <= vocabulary.names
        expected_verify = (
            {"run_tests", "render_or_visual_proof"} if behaviour.layer == "media" else {"run_tests"}
        )
        assert behaviour.verify_tools == expected_verify


def test_the_predicate_set_stays_small_and_documented() -> None:
    assert len(PREDICATES) <= 16
    readme = (behaviours_dir() / "README.md").read_text()
    for kind in PREDICATES:
        assert f"`{kind}`" in readme, kind


# --------------------------------------------------------------------------------------------------
# A tiny trace builder: steps are ("call", reasoning, content, [(tool, args, result), ...]) or
# ("final", reasoning, content).


def build(*steps: tuple[Any, ...]) -> Trace:
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "system"},
        {"role": "user", "content": "fix the bug"},
    ]
    counter = 0
    for step in steps:
        if step[0] == "final":
            messages.append({"role": "assistant", "reasoning_content": step[1], "content": step[2]})
            continue
        _, reasoning, content, calls = step
        tool_calls, results = [], []
        for name, args, result in calls:
            counter += 1
            call_id = f"call_{counter}"
            tool_calls.append(
                {"id": call_id, "type": "function", "function": {"name": name, "arguments": dumps_str(args)}}
            )
            results.append({"role": "tool", "tool_call_id": call_id, "content": result})
        messages.append(
            {
                "role": "assistant",
                "reasoning_content": reasoning,
                "content": content,
                "tool_calls": tool_calls,
            }
        )
        messages.extend(results)
    return parse_trace({"messages": messages, "tools": [], "meta": {"language": "python"}})


def call(
    tool: str,
    args: dict[str, Any] | None = None,
    result: str = "ok",
    *,
    reasoning: str = "Next step.",
    content: str = "I'll do it.",
) -> tuple[Any, ...]:
    return ("call", reasoning, content, [(tool, args or {}, result)])


READ = call("read_file", {"path": "calc.py"}, "def add(a, b):\n    return a - b\n")
SEARCH = call("repo_search", {"query": "def add"}, "calc.py:1: def add(a, b):")
EDIT = call("edit_file", {"path": "calc.py", "old": "a - b", "new": "a + b"}, "Edited calc.py")
FAILING_RUN = call("run_tests", {"command": "pytest -q"}, "1 failed in 0.01s")
PASSING_RUN = call("run_tests", {"command": "pytest -q"}, "3 passed in 0.01s")
FINAL = ("final", "All green.", "Fixed `add` in calc.py:2; `3 passed in 0.01s`.")


def check(name: str, trace: Trace) -> str | None:
    return BEHAVIOURS[name].check(trace)


# --------------------------------------------------------------------------------------------------
# The seed's six signatures, one passing trace and one failing trace per predicate


def test_survey_before_edit() -> None:
    assert check("survey_before_edit", build(READ, EDIT, PASSING_RUN, FINAL)) is None
    assert check("survey_before_edit", build(SEARCH, EDIT, PASSING_RUN, FINAL)) is None
    edit_first = check("survey_before_edit", build(EDIT, READ, PASSING_RUN, FINAL))
    assert edit_first is not None and "tool_before" in edit_first
    no_edit = check("survey_before_edit", build(READ, PASSING_RUN, FINAL))
    assert no_edit is not None and "no call of edit_file/write_file" in no_edit
    no_run_after = check("survey_before_edit", build(READ, PASSING_RUN, EDIT, FINAL))
    assert no_run_after is not None and "tool_after" in no_run_after
    # a read in the same message as the edit is not a survey: its result could not inform the edit
    same_message = ("call", "r", "c", [("read_file", {"path": "calc.py"}, "x"), ("edit_file", {}, "ok")])
    assert check("survey_before_edit", build(same_message, PASSING_RUN, FINAL)) is not None


@pytest.mark.parametrize(
    "phrase",
    [
        "Hypothesis: add subtracts.",
        "I suspect the operator.",
        "My hypothesis is X.",
        "The likely cause is X.",
    ],
)
def test_hypothesis_driven_debugging_recognises_hypotheses(phrase: str) -> None:
    edit = call("edit_file", {"path": "calc.py", "old": "a - b", "new": "a + b"}, "ok", reasoning=phrase)
    assert check("hypothesis_driven_debugging", build(FAILING_RUN, READ, edit, PASSING_RUN, FINAL)) is None


def test_hypothesis_driven_debugging_fails_without_hypothesis_or_check() -> None:
    no_hypothesis = check("hypothesis_driven_debugging", build(FAILING_RUN, READ, EDIT, PASSING_RUN, FINAL))
    assert no_hypothesis is not None and "reasoning_matches_before" in no_hypothesis
    late = call("run_tests", {"command": "pytest"}, "3 passed", reasoning="Hypothesis: it was the operator.")
    assert check("hypothesis_driven_debugging", build(READ, EDIT, late, FINAL)) is not None
    stated = call("read_file", {"path": "calc.py"}, "x", reasoning="I suspect `-` should be `+`.")
    unchecked = check("hypothesis_driven_debugging", build(stated, EDIT, FINAL))
    assert unchecked is not None and "tool_after" in unchecked


def _intent(content: str) -> tuple[Any, ...]:
    return call("read_file", {"path": "calc.py"}, "x", content=content)


@pytest.mark.parametrize(
    "content",
    ["I'll read calc.py.", "Let me run the tests.", "Next I will edit it.", "I’ll check.", "Now I'll go."],
)
def test_tool_intent_first_accepts_stated_intents(content: str) -> None:
    trace = build(
        _intent(content), call("run_tests", {"command": "pytest"}, "ok", content="Let me test."), FINAL
    )
    assert check("tool_intent_first", trace) is None


@pytest.mark.parametrize(
    "content", ["", "The test fails because of add.", "Reading calc.py.", "  Hmm, I'll see"]
)
def test_tool_intent_first_rejects_other_openings(content: str) -> None:
    trace = build(
        call("run_tests", {"command": "pytest"}, "ok", content="Let me test."), _intent(content), FINAL
    )
    detail = check("tool_intent_first", trace)
    assert detail is not None and "content_starts_with" in detail


_OPTIONS = {
    "numbers": "Option 1: patch caller. Option 2: fix add. Option 3: rewrite.",
    "letters": "Approach A: patch caller. Approach B: fix add. Approach C: rewrite.",
    "parens": "(a) patch the caller, (b) fix add, (c) rewrite it.",
    "ordinals": "First, patch the caller. Second, fix add. Third, rewrite it.",
}


@pytest.mark.parametrize("style", sorted(_OPTIONS))
@pytest.mark.parametrize("commit", ["I'll go with the second.", "Going with option 2.", "I choose (b)."])
def test_weigh_alternatives_then_commit_passes(style: str, commit: str) -> None:
    edit = call(
        "edit_file",
        {"path": "calc.py", "old": "-", "new": "+"},
        "ok",
        reasoning=_OPTIONS[style] + " " + commit,
    )
    assert check("weigh_alternatives_then_commit", build(READ, edit, PASSING_RUN, FINAL)) is None


def test_weigh_alternatives_then_commit_fails() -> None:
    two = call("edit_file", {}, "ok", reasoning="Option 1: patch. Option 2: fix. I'll go with option 2.")
    detail = check("weigh_alternatives_then_commit", build(READ, two, PASSING_RUN, FINAL))
    assert detail is not None and "2 distinct option" in detail
    uncommitted = call("edit_file", {}, "ok", reasoning=_OPTIONS["numbers"] + " Hard to say.")
    detail = check("weigh_alternatives_then_commit", build(READ, uncommitted, PASSING_RUN, FINAL))
    assert detail is not None and "no commitment" in detail
    commit_first = call("edit_file", {}, "ok", reasoning="I'll go with this. " + _OPTIONS["numbers"])
    assert check("weigh_alternatives_then_commit", build(READ, commit_first, PASSING_RUN, FINAL)) is not None
    # options named only after the first edit do not count
    late = call(
        "run_tests", {"command": "pytest"}, "3 passed", reasoning=_OPTIONS["numbers"] + " I'll go with 2."
    )
    assert check("weigh_alternatives_then_commit", build(READ, EDIT, late, FINAL)) is not None


def _docs_edit(reasoning: str) -> tuple[Any, ...]:
    return call("edit_file", {"path": "calc.py", "old": "-", "new": "+"}, "ok", reasoning=reasoning)


def test_external_awareness() -> None:
    docs = call("docs_lookup", {"topic": "python range"}, "range(stop) excludes stop.")
    tied = "This hinges on the range API in the standard library."
    assert check("external_awareness", build(READ, docs, _docs_edit(tied), PASSING_RUN, FINAL)) is None
    # the tie can come in earlier reasoning too
    tie_read = call("read_file", {"path": "calc.py"}, "x", reasoning="Depends on the library version.")
    assert check("external_awareness", build(tie_read, docs, EDIT, PASSING_RUN, FINAL)) is None
    missing = check("external_awareness", build(READ, _docs_edit(tied), docs, PASSING_RUN, FINAL))
    assert missing is not None and "no docs_lookup call before" in missing
    untied = check("external_awareness", build(READ, docs, EDIT, PASSING_RUN, FINAL))
    assert untied is not None and "matching the filters" in untied


def test_recall_first_habit() -> None:
    recall = call("memory_search", {"query": "calc"}, "No notes.")
    assert check("recall_first_habit", build(recall, READ, EDIT, PASSING_RUN, FINAL)) is None
    later = check("recall_first_habit", build(READ, recall, EDIT, PASSING_RUN, FINAL))
    assert later is not None and "first tool call is read_file" in later
    assert check("recall_first_habit", build(FINAL)) is not None


# --------------------------------------------------------------------------------------------------
# Every predicate kind: a trace that passes and one that fails


def predicate(**fields: Any) -> Any:
    return parse_predicate(fields)


def test_tool_called_counts_and_filters_arguments() -> None:
    p = predicate(kind="tool_called", tools=["read_file"], min_count=2)
    assert p.check(build(READ, READ)) is None
    assert "1 call(s)" in p.check(build(READ))
    never = predicate(kind="tool_called", tools=["write_file"], min_count=0, max_count=0)
    assert never.check(build(READ)) is None
    assert never.check(build(call("write_file", {"path": "a", "content": "b"}))) is not None
    windowed = predicate(
        kind="tool_called", tools=["read_file"], argument="start_line", patterns=["^[0-9]+$"]
    )
    assert windowed.check(build(call("read_file", {"path": "a", "start_line": 3}))) is None
    assert windowed.check(build(READ)) is not None


def test_tool_before_filters_arguments() -> None:
    p = predicate(
        kind="tool_before", tools=["ask_user"], before_tools=["run_command"], before_arguments=[r"rm\s+-rf"]
    )
    ask = call("ask_user", {"question": "May I delete build/?"}, "Yes.")
    rm = call("run_command", {"command": "rm -rf build"}, "")
    ls = call("run_command", {"command": "ls"}, "a")
    assert p.check(build(ls, ask, rm)) is None
    assert p.check(build(ls, rm, ask)) is not None
    assert "no call of run_command matching" in p.check(build(ls, ask))


def test_tool_after_first_and_last() -> None:
    last = predicate(kind="tool_after", tools=["run_tests"], after_tools=["edit_file"])
    first = predicate(kind="tool_after", tools=["run_tests"], after_tools=["edit_file"], anchor="first")
    trace = build(EDIT, PASSING_RUN, EDIT)
    assert first.check(trace) is None
    assert last.check(trace) is not None


def test_parallel_calls() -> None:
    p = predicate(kind="parallel_calls", tools=["read_file"])
    both = (
        "call",
        "Independent.",
        "I'll read both.",
        [("read_file", {"path": "a"}, "a"), ("read_file", {"path": "b"}, "b")],
    )
    assert p.check(build(both)) is None
    assert "at most 1" in p.check(build(READ, READ))


def test_reasoning_sequence_needs_a_tool_result_in_between() -> None:
    p = predicate(kind="reasoning_sequence", first=["hypothesis:"], then=["rules out"])
    h1 = call("read_file", {"path": "t.py"}, "x", reasoning="Hypothesis: the test is wrong.")
    h2 = call("read_file", {"path": "calc.py"}, "y", reasoning="That rules out the test.")
    assert p.check(build(h1, h2)) is None
    same = call("read_file", {}, "x", reasoning="Hypothesis: X. That rules out Y.")
    assert p.check(build(same)) is not None
    assert p.check(build(h2, h1)) is not None


def test_result_then_call() -> None:
    p = predicate(kind="result_then_call", tools=["read_file"], result_patterns=["not found"])
    missing = call("read_file", {"path": "src/calc.py"}, "Error: file not found: src/calc.py")
    listing = call("list_files", {"path": "."}, "calc.py")
    assert p.check(build(missing, listing, READ)) is None
    assert p.check(build(missing, missing)) is not None  # the identical call is no recovery
    assert "no read_file result matches" in p.check(build(READ, EDIT))
    reread = predicate(
        kind="result_then_call",
        tools=["edit_file"],
        result_patterns=["not found"],
        then_tools=["read_file"],
        after_tools=["edit_file"],
    )
    failed_edit = call(
        "edit_file", {"path": "calc.py", "old": "a  - b", "new": "a + b"}, "Error: old text not found"
    )
    assert reread.check(build(READ, failed_edit, READ, EDIT)) is None
    assert reread.check(build(READ, failed_edit, EDIT)) is not None


def test_final_message_predicates() -> None:
    matches = predicate(
        kind="final_message_matches", patterns=[r"\d+ passed", r"\w+\.py:\d+"], min_distinct=2
    )
    assert matches.check(build(PASSING_RUN, FINAL)) is None
    assert matches.check(build(PASSING_RUN, ("final", "r", "Fixed it."))) is not None
    assert "no final assistant message" in matches.check(build(PASSING_RUN))
    quotes = predicate(kind="final_quotes_result", tools=["run_tests"], min_chars=8)
    assert quotes.check(build(PASSING_RUN, FINAL)) is None
    assert quotes.check(build(PASSING_RUN, ("final", "r", "Tests pass."))) is not None


def test_edit_predicates() -> None:
    read_first = predicate(kind="edit_targets_read_first")
    assert read_first.check(build(READ, EDIT)) is None
    assert "without reading it first" in read_first.check(build(EDIT, READ))
    small = predicate(kind="edit_size_at_most", max_changed_lines=2, max_files=1)
    assert small.check(build(EDIT)) is None
    rewrite = call("write_file", {"path": "calc.py", "content": "a\nb\nc\n"}, "Wrote calc.py")
    assert "3 lines" in small.check(build(rewrite))
    other = call("edit_file", {"path": "other.py", "old": "x", "new": "y"}, "ok")
    assert "4 lines" in small.check(build(EDIT, other))
    one_file = predicate(kind="edit_size_at_most", max_changed_lines=10, max_files=1)
    assert "2 files" in one_file.check(build(EDIT, other))
    reverted = predicate(kind="reverted_edit")
    undo = call("edit_file", {"path": "calc.py", "old": "a + b", "new": "a - b"}, "ok")
    assert reverted.check(build(EDIT, undo)) is None
    assert reverted.check(build(EDIT, EDIT)) is not None


def test_no_stall() -> None:
    p = predicate(kind="no_stall", min_tool_turns=3)
    assert p.check(build(FAILING_RUN, READ, EDIT, PASSING_RUN, FINAL)) is None
    assert "repeated" in p.check(build(READ, READ, EDIT, FINAL))
    assert "without a tool call" in p.check(
        build(READ, ("final", "hmm", "thinking"), EDIT, PASSING_RUN, FINAL)
    )
    assert "need 3" in p.check(build(EDIT, FINAL))


# --------------------------------------------------------------------------------------------------
# Validation errors name the field


def _valid() -> dict[str, Any]:
    return {
        "name": "sample",
        "layer": "coding",
        "brief": "Show it.",
        "must_not": "Skip it.",
        "default_target": 100,
        "demo_target": 2,
        "signature": [{"kind": "tool_called", "tools": ["read_file"]}],
    }


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"signature": [{"kind": "tool_sometimes", "tools": ["x"]}]}, "field 'kind' must be one of"),
        ({"signature": [{"kind": "tool_called", "tool": ["read_file"]}]}, "field 'tools'"),
        (
            {"signature": [{"kind": "tool_called", "tools": ["read_file"], "colour": 1}]},
            "unknown field(s) ['colour']",
        ),
        (
            {"signature": [{"kind": "tool_called", "tools": "read_file"}]},
            "field 'tools' must be a non-empty list",
        ),
        ({"signature": [{"kind": "final_message_matches", "patterns": ["("]}]}, "invalid regular expression"),
        (
            {"signature": [{"kind": "tool_after", "tools": ["a"], "after_tools": ["b"], "anchor": "x"}]},
            "'anchor'",
        ),
        ({"signature": [{"kind": "edit_size_at_most"}]}, "'max_changed_lines' is required"),
        (
            {"signature": [{"kind": "tool_called", "tools": ["r"], "min_count": -1}]},
            "'min_count' must be an integer",
        ),
        ({"signature": []}, "field 'signature'"),
        ({"layer": "styling"}, "field 'layer' must be one of"),
        ({"default_target": 0}, "field 'default_target'"),
        ({"demo_target": 500}, "'demo_target' must not exceed"),
        ({"brief": " "}, "field 'brief'"),
        ({"verify_tools": []}, "field 'verify_tools'"),
        ({"name": "Sample Name"}, "field 'name'"),
        ({"colour": "red"}, "unknown field(s) ['colour']"),
    ],
)
def test_invalid_behaviours_are_refused_naming_the_field(change: dict[str, Any], message: str) -> None:
    Behaviour.from_mapping(_valid())
    with pytest.raises(ValueError, match=re.escape(message)):
        Behaviour.from_mapping({**_valid(), **change})


def test_the_layer_must_match_the_folder() -> None:
    assert Behaviour.from_mapping(_valid(), layer_folder="coding").layer == "coding"
    with pytest.raises(ValueError, match="sits in folder 'media'"):
        Behaviour.from_mapping(_valid(), layer_folder="media")


def _write(root: Path, relative: str, text: str) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


_GOOD = """name = "sample"
layer = "coding"
brief = "Show it."
must_not = "Skip it."
default_target = 100
demo_target = 2

[[signature]]
kind = "tool_called"
tools = ["read_file"]
"""


def test_the_catalog_names_the_bad_file(tmp_path: Path) -> None:
    _write(tmp_path, "coding/sample.toml", _GOOD)
    assert list(load_behaviours(tmp_path)) == ["sample"]
    bad = _write(tmp_path, "media/broken.toml", _GOOD.replace('"sample"', '"broken"'))
    with pytest.raises(ValueError, match=r"broken\.toml: field 'layer'"):
        load_behaviours(tmp_path)
    bad.write_text("name = ")
    with pytest.raises(ValueError, match=r"broken\.toml: not valid TOML"):
        load_behaviours(tmp_path)
    bad.unlink()
    _write(tmp_path, "coding/renamed.toml", _GOOD)
    with pytest.raises(ValueError, match=r"renamed\.toml: field 'name' is 'sample'"):
        load_behaviours(tmp_path)


def test_the_catalog_checks_tools_against_the_vocabulary(tmp_path: Path) -> None:
    _write(tmp_path, "vocabulary.toml", (behaviours_dir() / "vocabulary.toml").read_text())
    _write(tmp_path, "coding/sample.toml", _GOOD.replace('["read_file"]', '["str_replace_editor"]'))
    with pytest.raises(ValueError, match=r"sample\.toml: names tool\(s\) outside the vocabulary"):
        load_behaviours(tmp_path)
    _write(tmp_path, "styling/x.toml", _GOOD)
    with pytest.raises(ValueError, match="folder is not a layer"):
        load_behaviours(tmp_path)
