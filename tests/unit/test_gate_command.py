"""`tracegen gate`: JSONL in, one verdict line per non-blank line out, duplicates within the file."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from gen_service.catalog import load_vocabulary
from gen_service.core.tokens import estimate_tokens, trace_token_count
from gen_service.core.trace import parse_trace
from gen_service.gate_command import gate
from gen_service.serialization import dumps, dumps_str, loads
from gen_service.token_counting import load_token_counter


def _call(call_id: str, name: str, **arguments: Any) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": dumps_str(arguments)}}


def _trace(*, language: str = "python", command: str = "python -m pytest -q", **meta: Any) -> dict[str, Any]:
    """A trace that passes every gate (its meta names no behaviour unless given)."""
    return {
        "messages": [
            {"role": "system", "content": "You are a careful coding agent."},
            {"role": "user", "content": "tests/test_items.py fails with IndexError. Fix it."},
            {
                "role": "assistant",
                "reasoning_content": "Read the module first.",
                "content": "I'll read items.py.",
                "tool_calls": [_call("c1", "read_file", path="items.py")],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "def last(xs):\n    return xs[len(xs)]\n"},
            {
                "role": "assistant",
                "reasoning_content": "Hypothesis: the index is one past the end.",
                "content": "Let me fix the index.",
                "tool_calls": [_call("c2", "edit_file", path="items.py", old="xs[len(xs)]", new="xs[-1]")],
            },
            {"role": "tool", "tool_call_id": "c2", "content": "ok"},
            {
                "role": "assistant",
                "reasoning_content": "Check it.",
                "content": "I'll run the tests.",
                "tool_calls": [_call("c3", "run_tests", command=command)],
            },
            {"role": "tool", "tool_call_id": "c3", "content": "3 passed in 0.01s"},
            {
                "role": "assistant",
                "reasoning_content": "Verified.",
                "content": "Fixed last(); all tests pass.",
            },
        ],
        "tools": load_vocabulary().openai_tools(),
        "meta": {"language": language, "scenario": "items", "finish_reason": "stop", **meta},
    }


def _line(value: Any) -> bytes:
    return value if isinstance(value, bytes) else dumps(value)


def _jsonl(*values: Any) -> bytes:
    return b"".join(_line(value) + b"\n" for value in values)


def _verdicts(output: str) -> list[dict[str, Any]]:
    return [loads(line) for line in output.splitlines()]


def _run(args: list[str], data: bytes | None = None) -> Any:
    return CliRunner().invoke(gate, args, input=data, catch_exceptions=False)


def test_verdicts_in_order_with_duplicates_and_malformed_lines(tmp_path: Path) -> None:
    good = _trace()
    spaced = copy.deepcopy(good)
    spaced["messages"][-1]["content"] = "Fixed   last();\n all tests pass. "
    spaced["meta"] = {"language": "python", "seed": 99}
    other = _trace(command="pytest -x")
    path = tmp_path / "traces.jsonl"
    path.write_bytes(
        _jsonl(good)
        + b"\n   \n"  # blank lines give no verdict
        + _jsonl(
            b"this is not json",
            good,  # duplicate of line 1
            spaced,  # whitespace runs and meta do not make it new
            other,
            _trace(command="cargo test"),
            b"\xff\xfe not utf-8",
            {"messages": []},
        )
    )
    result = _run([str(path)])
    assert result.exit_code == 0, result.output
    assert _verdicts(result.stdout) == [
        {"accepted": True, "reasons": []},
        {"accepted": False, "reasons": ["malformed_output"]},
        {"accepted": False, "reasons": ["duplicate"]},
        {"accepted": False, "reasons": ["duplicate"]},
        {"accepted": True, "reasons": []},
        {"accepted": False, "reasons": ["lang_runner_mismatch"]},
        {"accepted": False, "reasons": ["malformed_output"]},
        {"accepted": False, "reasons": ["malformed_output"]},
    ]


def test_a_rejected_line_is_no_dedupe_reference() -> None:
    rejected = _trace(language="rust")  # same messages, but pytest does not fit rust
    accepted = _trace(language="python")
    result = _run(["-"], _jsonl(rejected, accepted, accepted, rejected))
    assert _verdicts(result.stdout) == [
        {"accepted": False, "reasons": ["lang_runner_mismatch"]},
        {"accepted": True, "reasons": []},
        {"accepted": False, "reasons": ["duplicate"]},
        {"accepted": False, "reasons": ["lang_runner_mismatch", "duplicate"]},  # pure reasons first
    ]


def test_all_pure_reasons_then_duplicate() -> None:
    leaky = _trace()
    leaky["messages"][1]["content"] += " Logs are on build.corp, ask ops@acme.io."
    leaky["messages"][2]["reasoning_content"] = " "
    result = _run([], _jsonl(leaky, leaky))
    assert _verdicts(result.stdout) == [
        {"accepted": False, "reasons": ["reasoning_empty", "identifier_leak"]},
        {"accepted": False, "reasons": ["reasoning_empty", "identifier_leak"]},
    ]


@pytest.mark.parametrize("args", [[], ["-"]])
def test_reads_stdin(args: list[str]) -> None:
    result = _run(args, _jsonl(_trace(), _trace()))
    assert result.exit_code == 0
    assert [v["accepted"] for v in _verdicts(result.stdout)] == [True, False]


def test_empty_input_gives_no_output() -> None:
    result = _run([], b"\n\n")
    assert result.exit_code == 0
    assert result.stdout == ""


def test_uses_the_real_behaviour_pool() -> None:
    # recall_first_habit: the first tool call must be memory_search; this trace starts with read_file
    result = _run([], _jsonl(_trace(behaviour="recall_first_habit")))
    assert _verdicts(result.stdout) == [{"accepted": False, "reasons": ["behaviour_not_exhibited"]}]
    # a behaviour the pool does not know is not checked
    result = _run([], _jsonl(_trace(behaviour="no_such_behaviour")))
    assert _verdicts(result.stdout) == [{"accepted": True, "reasons": []}]


def test_unknown_tool_name_is_a_vocabulary_violation() -> None:
    value = _trace()
    value["messages"][2]["tool_calls"][0]["function"]["name"] = "Read"
    result = _run([], _jsonl(value))
    assert _verdicts(result.stdout) == [{"accepted": False, "reasons": ["vocabulary_violation"]}]


def test_max_tokens() -> None:
    count = trace_token_count(parse_trace(_trace()), estimate_tokens)
    data = _jsonl(_trace())
    assert _verdicts(_run(["--max-tokens", str(count)], data).stdout)[0]["accepted"] is True
    assert _verdicts(_run(["--max-tokens", str(count - 1)], data).stdout) == [
        {"accepted": False, "reasons": ["prompt_over_cap"]}
    ]


def _word_tokenizer(path: Path) -> Path:
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import Whitespace

    tokenizer = Tokenizer(WordLevel({"[UNK]": 0}, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = Whitespace()
    tokenizer.save(str(path))
    return path


def test_tokenizer_gives_exact_counts(tmp_path: Path) -> None:
    path = _word_tokenizer(tmp_path / "tokenizer.json")
    trace = parse_trace(_trace())
    exact = trace_token_count(trace, load_token_counter(path))
    estimate = trace_token_count(trace, estimate_tokens)
    assert exact != estimate
    cap = min(exact, estimate)  # over the cap for one counter, within it for the other
    data = _jsonl(_trace())
    with_tokenizer = _verdicts(_run(["--tokenizer", str(path), "--max-tokens", str(cap)], data).stdout)
    without = _verdicts(_run(["--max-tokens", str(cap)], data).stdout)
    assert with_tokenizer[0]["accepted"] is (exact <= cap)
    assert without[0]["accepted"] is (estimate <= cap)
    assert with_tokenizer != without


def test_unreadable_file_exits_2_with_a_message(tmp_path: Path) -> None:
    result = _run([str(tmp_path / "missing.jsonl")])
    assert result.exit_code == 2
    assert "cannot read" in result.stderr
    assert "missing.jsonl" in result.stderr
    assert result.stdout == ""
    result = _run([str(tmp_path)])
    assert result.exit_code == 2
    assert "cannot read" in result.stderr


@pytest.mark.parametrize("value", ["0", "-5", "many"])
def test_bad_max_tokens_is_a_usage_error(value: str) -> None:
    result = _run(["--max-tokens", value], b"")
    assert result.exit_code == 2
    assert "--max-tokens" in result.stderr


def test_missing_tokenizer_is_a_usage_error(tmp_path: Path) -> None:
    result = _run(["--tokenizer", str(tmp_path / "nope.json")], b"")
    assert result.exit_code == 2
    assert "--tokenizer" in result.stderr
    assert "does not exist" in result.stderr


def test_invalid_tokenizer_is_a_usage_error(tmp_path: Path) -> None:
    path = tmp_path / "tokenizer.json"
    path.write_text('{"not": "a tokenizer"}')
    result = _run(["--tokenizer", str(path)], b"")
    assert result.exit_code == 2
    assert "not a valid tokenizer.json" in result.stderr


def _console_script() -> Path:
    script = Path(sys.executable).parent / "tracegen"
    assert script.exists(), "install the package (pip install -e . --no-deps) to get the tracegen script"
    return script


def test_real_process_over_a_file_and_stdin(tmp_path: Path) -> None:
    path = tmp_path / "traces.jsonl"
    path.write_bytes(_jsonl(_trace(), b"{oops", _trace(), _trace(command="go test ./...")))
    expected = [
        {"accepted": True, "reasons": []},
        {"accepted": False, "reasons": ["malformed_output"]},
        {"accepted": False, "reasons": ["duplicate"]},
        {"accepted": False, "reasons": ["lang_runner_mismatch"]},
    ]
    by_path = subprocess.run(
        [str(_console_script()), "gate", str(path)], capture_output=True, timeout=60, check=False
    )
    assert by_path.returncode == 0, by_path.stderr
    assert _verdicts(by_path.stdout.decode()) == expected
    by_stdin = subprocess.run(
        [str(_console_script()), "gate", "-"],
        input=path.read_bytes(),
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert by_stdin.returncode == 0, by_stdin.stderr
    assert by_stdin.stdout == by_path.stdout
    missing = subprocess.run(
        [str(_console_script()), "gate", str(tmp_path / "none.jsonl")],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert missing.returncode == 2
    assert b"cannot read" in missing.stderr
    assert missing.stdout == b""
