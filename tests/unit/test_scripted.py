"""The scripted teacher: honest traces show their behaviour and pass every gate; defects hit their gate.

Scenarios are built here (Python, JavaScript with a two-file fix, Rust with a long file that forces
windowed reads), so these tests do not depend on the scenario bank.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from typing import Any

import pytest

from gen_service.catalog import load_behaviours, load_vocabulary
from gen_service.core.behaviours import Behaviour
from gen_service.core.gates import GateContext, run_gates
from gen_service.core.scenarios import FixEdit, Scenario
from gen_service.core.scripted import DEFECT_KINDS, defect_kind, scripted_reply, scripted_reply_text
from gen_service.core.trace import MalformedTrace, assemble_trace, parse_teacher_reply, parse_trace
from gen_service.serialization import dumps_str

SEEDS = range(5)

# --------------------------------------------------------------------------------------------------
# Scenarios

_STATS_SRC = '''"""Small statistics helpers."""


def mean(values):
    """Arithmetic mean of a non-empty list."""
    return sum(values) / len(values)


def moving_average(values, window):
    """Averages of each run of `window` consecutive values."""
    if window <= 0:
        raise ValueError("window must be positive")
    result = []
    for start in range(len(values) - window):
        result.append(mean(values[start : start + window]))
    return result
'''
_STATS_TEST = """from stats.core import mean, moving_average


def test_mean():
    assert mean([1, 2, 3]) == 2


def test_moving_average_covers_the_last_window():
    assert moving_average([1, 2, 3, 4], 2) == [1.5, 2.5, 3.5]
"""
_STATS_FAILING = """.F                                                                       [100%]
=================================== FAILURES ===================================
__________________ test_moving_average_covers_the_last_window __________________

    def test_moving_average_covers_the_last_window():
>       assert moving_average([1, 2, 3, 4], 2) == [1.5, 2.5, 3.5]
E       assert [1.5, 2.5] == [1.5, 2.5, 3.5]

tests/test_core.py:9: AssertionError
=========================== short test summary info ============================
FAILED tests/test_core.py::test_moving_average_covers_the_last_window - assert [1.5, 2.5] == [...]
1 failed, 1 passed in 0.03s
"""


def stats_scenario() -> Scenario:
    return Scenario(
        id="stats",
        project="stats",
        language="python",
        test_command="python -m pytest -q",
        task="moving_average drops the last window. Make it average every full window.",
        files={
            "README.md": "# stats\n\nSmall statistics helpers.\n",
            "stats/__init__.py": "",
            "stats/core.py": _STATS_SRC,
            "tests/test_core.py": _STATS_TEST,
        },
        fix=(FixEdit("stats/core.py", "range(len(values) - window)", "range(len(values) - window + 1)"),),
        failing_output=_STATS_FAILING,
        passing_output="..                                                                       [100%]\n"
        "2 passed in 0.02s\n",
        held_out=False,
        archetype="off_by_one",
        relevant_files=("stats/core.py", "tests/test_core.py"),
    )


_CART_SRC = """import { formatPrice } from './format.js';

export function subtotal(items) {
  return items.slice(1).reduce((sum, item) => sum + item.price * item.qty, 0);
}

export function receipt(items) {
  return `Total: ${formatPrice(subtotal(items))}`;
}
"""
_FORMAT_SRC = """export function formatPrice(value) {
  return '$' + value.toFixed(1);
}
"""
_CART_TEST = """import { test } from 'node:test';
import assert from 'node:assert/strict';
import { subtotal, receipt } from '../src/cart.js';

const items = [{ price: 2.5, qty: 2 }, { price: 1.25, qty: 4 }];

test('subtotal sums every item', () => {
  assert.equal(subtotal(items), 10);
});

test('receipt shows cents', () => {
  assert.equal(receipt(items), 'Total: $10.00');
});
"""
_CART_FAILING = """TAP version 13
# Subtest: subtotal sums every item
not ok 1 - subtotal sums every item
  ---
  duration_ms: 0.8
  failureType: 'testCodeFailure'
  error: |-
    Expected values to be strictly equal:

    5 !== 10
  code: 'ERR_ASSERTION'
  ...
# Subtest: receipt shows cents
not ok 2 - receipt shows cents
  ---
  error: "Expected values to be strictly equal:\\n\\n'Total: $5.0' !== 'Total: $10.00'"
  ...
1..2
# tests 2
# pass 0
# fail 2
# duration_ms 41.5
"""
_CART_PASSING = """TAP version 13
# Subtest: subtotal sums every item
ok 1 - subtotal sums every item
# Subtest: receipt shows cents
ok 2 - receipt shows cents
1..2
# tests 2
# pass 2
# fail 0
# duration_ms 39.1
"""


def cart_scenario() -> Scenario:
    return Scenario(
        id="cart/two-bugs",
        project="cart",
        language="javascript",
        test_command="node --test",
        task="The receipt total is wrong and shows one decimal. Fix the cart.",
        files={
            "package.json": '{"name": "cart", "type": "module", "scripts": {"test": "node --test"}}\n',
            "src/cart.js": _CART_SRC,
            "src/format.js": _FORMAT_SRC,
            "test/cart.test.js": _CART_TEST,
        },
        fix=(
            FixEdit("src/cart.js", "items.slice(1).reduce", "items.reduce"),
            FixEdit("src/format.js", "value.toFixed(1)", "value.toFixed(2)"),
        ),
        failing_output=_CART_FAILING,
        passing_output=_CART_PASSING,
        held_out=False,
        archetype="wrong_slice",
        relevant_files=("src/cart.js", "test/cart.test.js"),
    )


def _ring_source() -> str:
    helpers = "\n".join(
        f"/// Helper number {i}: returns its input scaled by {i}.\npub fn scale_{i}(x: u64) -> u64 {{\n"
        f"    x * {i}\n}}\n"
        for i in range(1, 60)
    )
    return (
        "//! A fixed-capacity ring buffer.\n\n"
        "pub struct Ring {\n    items: Vec<u32>,\n    cap: usize,\n}\n\n"
        "impl Ring {\n"
        "    pub fn new(cap: usize) -> Self {\n        Ring { items: Vec::new(), cap }\n    }\n\n"
        "    pub fn push(&mut self, value: u32) {\n"
        "        if self.items.len() > self.cap {\n"
        "            self.items.remove(0);\n"
        "        }\n"
        "        self.items.push(value);\n"
        "    }\n\n"
        "    pub fn to_vec(&self) -> Vec<u32> {\n        self.items.clone()\n    }\n}\n\n" + helpers
    )


_RING_TEST = """use ring::Ring;

#[test]
fn wraps_when_full() {
    let mut ring = Ring::new(3);
    for v in 1..=4 {
        ring.push(v);
    }
    assert_eq!(ring.to_vec(), vec![2, 3, 4]);
}
"""
_RING_FAILING = """running 1 test
test wraps_when_full ... FAILED

failures:

---- wraps_when_full stdout ----
thread 'wraps_when_full' panicked at tests/ring.rs:9:5:
assertion `left == right` failed
  left: [1, 2, 3, 4]
 right: [2, 3, 4]

failures:
    wraps_when_full

test result: FAILED. 0 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s
"""
_RING_PASSING = """running 1 test
test wraps_when_full ... ok

test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s
"""


def ring_scenario() -> Scenario:
    return Scenario(
        id="ring",
        project="ring",
        language="rust",
        test_command="cargo test",
        task="The ring buffer keeps one value too many when it wraps.",
        files={
            "Cargo.toml": '[package]\nname = "ring"\nversion = "0.1.0"\nedition = "2021"\n',
            "src/lib.rs": _ring_source(),
            "tests/ring.rs": _RING_TEST,
        },
        fix=(
            FixEdit(
                "src/lib.rs",
                "        if self.items.len() > self.cap {",
                "        if self.items.len() >= self.cap {",
            ),
        ),
        failing_output=_RING_FAILING,
        passing_output=_RING_PASSING,
        held_out=False,
        archetype="boundary",
    )


SCENARIOS = {"stats": stats_scenario(), "cart": cart_scenario(), "ring": ring_scenario()}

# --------------------------------------------------------------------------------------------------
# Helpers

BEHAVIOURS = load_behaviours()
VOCABULARY = load_vocabulary()
CONTEXT = GateContext(vocabulary=VOCABULARY.names, behaviours=BEHAVIOURS)


def _assembled(behaviour: Behaviour, scenario: Scenario, messages: list[dict[str, Any]]) -> dict[str, Any]:
    meta = {
        "behaviour": behaviour.name,
        "language": scenario.language,
        "scenario": scenario.id,
        "finish_reason": "stop",
    }
    system = f"You write one training trace showing {behaviour.name}."
    return assemble_trace(system, scenario.task, messages, VOCABULARY.openai_tools(), meta)


def _reasons(behaviour: Behaviour, scenario: Scenario, text: str) -> list[str]:
    try:
        messages = parse_teacher_reply(text)
    except MalformedTrace:
        return ["malformed_output"]
    _, rejections = run_gates(_assembled(behaviour, scenario, messages), CONTEXT)
    return [str(r.reason) for r in rejections]


def test_the_test_scenarios_are_consistent() -> None:
    for scenario in SCENARIOS.values():
        for edit in scenario.fix:
            assert scenario.files[edit.path].count(edit.old) == 1, (scenario.id, edit.path)
    assert len(SCENARIOS["ring"].files["src/lib.rs"]) > 4000  # forces windowed reads


# --------------------------------------------------------------------------------------------------
# Honest traces


@pytest.mark.parametrize("scenario_name", sorted(SCENARIOS))
@pytest.mark.parametrize("name", sorted(BEHAVIOURS))
def test_honest_traces_show_their_behaviour_and_pass_every_gate(name: str, scenario_name: str) -> None:
    behaviour, scenario = BEHAVIOURS[name], SCENARIOS[scenario_name]
    for seed in SEEDS:
        reply = scripted_reply(behaviour, scenario, seed, defect_share=0)
        trace = parse_trace(_assembled(behaviour, scenario, reply["messages"]))
        assert behaviour.check(trace) is None, (seed, behaviour.check(trace))
        _, rejections = run_gates(trace, CONTEXT)
        assert rejections == [], (seed, rejections)


@pytest.mark.parametrize("name", sorted(BEHAVIOURS))
def test_honest_traces_are_grounded_in_the_scenario(name: str) -> None:
    behaviour, scenario = BEHAVIOURS[name], SCENARIOS["stats"]
    messages = scripted_reply(behaviour, scenario, 3, defect_share=0)["messages"]
    trace = parse_trace(_assembled(behaviour, scenario, messages))
    fix = scenario.fix[0]
    edits = [c for c in trace.tool_calls if c.name == "edit_file" and c.arguments.get("new") == fix.new]
    assert edits and edits[-1].arguments["old"] == fix.old
    for call in trace.tool_calls:
        result = trace.tool_result(call.call_id)
        if call.name == "run_tests":
            assert call.arguments == {"command": scenario.test_command}
            assert result in (scenario.failing_output, scenario.passing_output)
        if (
            call.name == "read_file"
            and set(call.arguments) == {"path"}
            and call.arguments["path"] != fix.path
        ):
            path = call.arguments["path"]
            expected = scenario.files.get(path, f"Error: file not found: {path}")
            assert result == expected
    runs = [c for c in trace.tool_calls if c.name == "run_tests"]
    assert trace.tool_result(runs[-1].call_id) == scenario.passing_output
    assert all(m.get("reasoning_content", "x").strip() for m in trace.messages if m["role"] == "assistant")


def test_long_files_are_read_in_windows_that_show_the_fix() -> None:
    scenario = SCENARIOS["ring"]
    for name in ("survey_before_edit", "targeted_search", "fix_forward_from_test_output"):
        messages = scripted_reply(BEHAVIOURS[name], scenario, 1, defect_share=0)["messages"]
        trace = parse_trace(_assembled(BEHAVIOURS[name], scenario, messages))
        reads = [c for c in trace.tool_calls if c.name == "read_file" and c.arguments["path"] == "src/lib.rs"]
        assert reads and all("start_line" in c.arguments for c in reads)
        assert any(scenario.fix[0].old in (trace.tool_result(c.call_id) or "") for c in reads)


def test_the_same_inputs_give_the_same_text() -> None:
    for name in ("tool_error_recovery", "weigh_alternatives_then_commit", "visual_diff_check"):
        for share in (0.0, 1.0):
            first = scripted_reply_text(BEHAVIOURS[name], SCENARIOS["cart"], 11, defect_share=share)
            again = scripted_reply_text(BEHAVIOURS[name], SCENARIOS["cart"], 11, defect_share=share)
            assert first == again


def test_a_changed_scenario_of_the_same_id_is_not_answered_from_its_predecessor() -> None:
    # Facts derived from a scenario are reused for that scenario object only (a reloaded bank may
    # hold a scenario of the same id with other contents).
    behaviour = BEHAVIOURS["survey_before_edit"]
    original = SCENARIOS["stats"]
    before = scripted_reply_text(behaviour, original, 3, defect_share=0.0)
    changed = dataclasses.replace(original, test_command="python -m pytest -q -x --no-header")
    after = scripted_reply_text(behaviour, changed, 3, defect_share=0.0)
    assert "--no-header" not in before
    assert "--no-header" in after
    assert scripted_reply_text(behaviour, original, 3, defect_share=0.0) == before


def test_different_seeds_give_different_wording() -> None:
    for name, behaviour in BEHAVIOURS.items():
        texts = set()
        for seed in range(12):
            messages = scripted_reply(behaviour, SCENARIOS["stats"], seed, defect_share=0)["messages"]
            # compare the prose only: call ids alone must not be what makes traces differ
            texts.add(dumps_str([(m.get("reasoning_content"), m.get("content")) for m in messages]))
        assert len(texts) >= 10, (name, len(texts))


def test_honest_replies_stay_well_under_the_token_cap() -> None:
    for behaviour in BEHAVIOURS.values():
        for scenario in SCENARIOS.values():
            text = scripted_reply_text(behaviour, scenario, 2, defect_share=0)
            assert len(text) < 32000  # about 8,000 tokens, leaving room for prompt and tools


def test_a_behaviour_without_a_plan_gets_the_generic_plan() -> None:
    behaviour = Behaviour.from_mapping(
        {
            "name": "brand_new_behaviour",
            "layer": "coding",
            "brief": "Something new.",
            "must_not": "Something bad.",
            "default_target": 10,
            "demo_target": 2,
            "signature": [{"kind": "tool_after", "tools": ["run_tests"], "after_tools": ["edit_file"]}],
        }
    )
    reply = scripted_reply(behaviour, SCENARIOS["stats"], 0, defect_share=0)
    assert behaviour.check(parse_trace(_assembled(behaviour, SCENARIOS["stats"], reply["messages"]))) is None


# --------------------------------------------------------------------------------------------------
# Defects


def test_defect_kind_follows_the_share() -> None:
    behaviour, scenario = BEHAVIOURS["survey_before_edit"], SCENARIOS["stats"]
    assert all(defect_kind(behaviour, scenario, seed, 0.0) is None for seed in range(200))
    assert all(defect_kind(behaviour, scenario, seed, 1.0) is not None for seed in range(200))
    defective = sum(defect_kind(behaviour, scenario, seed, 0.2) is not None for seed in range(2000))
    assert 300 < defective < 500
    # ten consecutive seeds at share 1.0 produce every kind once
    assert {defect_kind(behaviour, scenario, seed, 1.0) for seed in range(40, 50)} == set(DEFECT_KINDS)


def test_the_defect_kind_names_the_gate_reasons() -> None:
    from gen_service.core.gates import GATE_REASONS

    assert set(DEFECT_KINDS) == {str(r) for r in GATE_REASONS}


@pytest.mark.parametrize("scenario_name", sorted(SCENARIOS))
@pytest.mark.parametrize("name", sorted(BEHAVIOURS))
def test_every_defect_is_caught_by_exactly_its_gate(name: str, scenario_name: str) -> None:
    behaviour, scenario = BEHAVIOURS[name], SCENARIOS[scenario_name]
    seen: Counter[str] = Counter()
    for seed in range(10):
        kind = defect_kind(behaviour, scenario, seed, 1.0)
        assert kind is not None
        seen[kind] += 1
        text = scripted_reply_text(behaviour, scenario, seed, defect_share=1.0)
        assert _reasons(behaviour, scenario, text) == [kind], (seed, kind)
    assert set(seen) == set(DEFECT_KINDS)


@pytest.mark.parametrize("name", sorted(BEHAVIOURS))
def test_the_not_exhibited_defect_breaks_the_signature(name: str) -> None:
    behaviour = BEHAVIOURS[name]
    for scenario in SCENARIOS.values():
        seeds = [
            s for s in range(40) if defect_kind(behaviour, scenario, s, 1.0) == "behaviour_not_exhibited"
        ]
        for seed in seeds[:2]:
            messages = scripted_reply(behaviour, scenario, seed, defect_share=1.0)["messages"]
            assert behaviour.check(parse_trace(_assembled(behaviour, scenario, messages))) is not None


def test_the_malformed_defect_is_broken_text_and_carried_in_the_dict() -> None:
    behaviour, scenario = BEHAVIOURS["tool_intent_first"], SCENARIOS["stats"]
    seed = next(s for s in range(40) if defect_kind(behaviour, scenario, s, 1.0) == "malformed_output")
    text = scripted_reply_text(behaviour, scenario, seed, defect_share=1.0)
    with pytest.raises(MalformedTrace):
        parse_teacher_reply(text)
    reply = scripted_reply(behaviour, scenario, seed, defect_share=1.0)
    assert reply["_raw_text"] == text
    assert reply["messages"]
    honest_seed = next(s for s in range(40) if defect_kind(behaviour, scenario, s, 1.0) != "malformed_output")
    assert "_raw_text" not in scripted_reply(behaviour, scenario, honest_seed, defect_share=1.0)
