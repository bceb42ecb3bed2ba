"""Token counting: the estimate, what a trace count includes, and exact counts from a tokenizer.json."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gen_service.core.tokens import estimate_tokens, trace_token_count
from gen_service.core.trace import parse_trace
from gen_service.serialization import dumps_str
from gen_service.token_counting import TokenizerLoadError, load_token_counter


@pytest.mark.parametrize(
    ("text", "expected"),
    [("", 0), ("a", 1), ("abcd", 1), ("abcde", 2), ("x" * 4000, 1000), ("x" * 4001, 1001), ("ééé", 1)],
)
def test_estimate_is_a_quarter_of_the_characters_rounded_up(text: str, expected: int) -> None:
    assert estimate_tokens(text) == expected


def _trace() -> dict[str, Any]:
    return {
        "messages": [
            {"role": "system", "content": "S"},
            {"role": "user", "content": "U"},
            {
                "role": "assistant",
                "reasoning_content": "R",
                "content": "A",
                "tool_calls": [
                    {
                        "id": "c1",
                        "type": "function",
                        "function": {"name": "read_file", "arguments": '{"path":"p"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "T"},
            {"role": "assistant", "reasoning_content": "R2", "content": "F"},
        ],
        "tools": [{"type": "function", "function": {"name": "read_file"}}],
        "meta": {"behaviour": "not counted at all, however long this is"},
    }


def test_trace_count_covers_text_reasoning_calls_and_tools_spec() -> None:
    value = _trace()
    seen: list[str] = []

    def spy(text: str) -> int:
        seen.append(text)
        return 7

    assert trace_token_count(parse_trace(value), spy) == 7
    [text] = seen
    expected = ["S", "U", "A", "R", "read_file", '{"path":"p"}', "T", "F", "R2", dumps_str(value["tools"])]
    assert text == "\n".join(expected)
    assert "not counted" not in text


def test_trace_count_with_the_estimate() -> None:
    trace = parse_trace(_trace())
    assert trace_token_count(trace, estimate_tokens) == estimate_tokens(
        "\n".join(
            ["S", "U", "A", "R", "read_file", '{"path":"p"}', "T", "F", "R2", dumps_str(_trace()["tools"])]
        )
    )


def test_trace_without_tools_counts_only_messages() -> None:
    value = _trace()
    value["tools"] = []
    assert trace_token_count(parse_trace(value), len) == len('S\nU\nA\nR\nread_file\n{"path":"p"}\nT\nF\nR2')


def _write_word_tokenizer(path: Path) -> Path:
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import Whitespace

    tokenizer = Tokenizer(WordLevel({"[UNK]": 0, "hello": 1, "world": 2}, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = Whitespace()
    tokenizer.save(str(path))
    return path


def test_exact_counter_from_tokenizer_json(tmp_path: Path) -> None:
    count = load_token_counter(_write_word_tokenizer(tmp_path / "tokenizer.json"))
    assert count("") == 0
    assert count("hello world") == 2
    assert count("hello   brave new world!") == 5  # unknown words and punctuation are tokens too


def test_exact_counter_drives_the_trace_count(tmp_path: Path) -> None:
    count = load_token_counter(_write_word_tokenizer(tmp_path / "tokenizer.json"))
    value = _trace()
    value["tools"] = []
    # S U A R read_file { " path ":" p "} T F R2: Whitespace splits punctuation runs apart
    assert trace_token_count(parse_trace(value), count) == count(
        'S\nU\nA\nR\nread_file\n{"path":"p"}\nT\nF\nR2'
    )


def test_missing_tokenizer_file(tmp_path: Path) -> None:
    with pytest.raises(TokenizerLoadError, match="not found"):
        load_token_counter(tmp_path / "nope.json")


def test_tokenizer_path_is_a_directory(tmp_path: Path) -> None:
    with pytest.raises(TokenizerLoadError, match="not a file"):
        load_token_counter(tmp_path)


@pytest.mark.parametrize("content", ["{}", "not json", '{"model": {"type": "Nonsense"}}'])
def test_file_that_is_not_a_tokenizer(tmp_path: Path, content: str) -> None:
    path = tmp_path / "tokenizer.json"
    path.write_text(content)
    with pytest.raises(TokenizerLoadError, match=r"not a valid tokenizer\.json"):
        load_token_counter(path)
