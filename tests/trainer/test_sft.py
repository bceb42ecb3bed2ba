"""SFT formatting: assistant-only labels, found through the template, checked by decoding."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.trainer.conftest import scripted_trace, train_tokenizer
from trainer.sft import (
    CHATML_TOOLS_TEMPLATE,
    IGNORE_INDEX,
    SFTError,
    SFTFormatter,
    load_tokenizer,
    pack_examples,
)

# A different template family (Llama-3-like headers), to show spans come from rendering, not ChatML.
HEADER_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "<|im_start|>{{ message.role }}{{ '\\n' }}"
    "{% if message.role == 'assistant' %}"
    "{% if message.reasoning_content %}<think>{{ message.reasoning_content }}</think>{% endif %}"
    "{{ message.content or '' }}"
    "{% for call in message.tool_calls or [] %}<tool_call>{{ call.function.name }} "
    "{{ call.function.arguments }}</tool_call>{% endfor %}"
    "{% else %}{{ message.content }}{% endif %}"
    "<|im_end|>{{ '\\n\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant{{ '\\n' }}{% endif %}"
)

# Drops the reasoning of every assistant turn but the last: renders earlier turns differently once
# later turns follow, which assistant-span location must refuse.
UNSTABLE_TEMPLATE = (
    "{%- for message in messages %}<|im_start|>{{ message.role }}\n"
    "{%- if message.role == 'assistant' and loop.last and message.reasoning_content %}"
    "<think>{{ message.reasoning_content }}</think>{% endif %}"
    "{{ message.content or '' }}<|im_end|>\n{%- endfor %}"
    "{%- if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


@pytest.fixture(scope="module")
def trace(resources: Any) -> dict[str, Any]:
    value = scripted_trace(resources, "hypothesis_driven_debugging", "calc", 3)
    assert sum(1 for m in value["messages"] if m["role"] == "assistant") >= 3
    assert any(m.get("tool_calls") for m in value["messages"])
    assert any(m["role"] == "tool" for m in value["messages"])
    return value


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory: pytest.TempPathFactory, trace: dict[str, Any]) -> Path:
    corpus = [json.dumps(trace), *(m.get("content") or "" for m in trace["messages"])] * 3
    corpus.append("def f(x):\n    return x + 1\n")
    return train_tokenizer(corpus, tmp_path_factory.mktemp("tok"), chat_template=CHATML_TOOLS_TEMPLATE)


def _runs(labels: list[int]) -> list[list[int]]:
    runs: list[list[int]] = []
    current: list[int] = []
    for label in labels:
        if label == IGNORE_INDEX:
            if current:
                runs.append(current)
                current = []
        else:
            current.append(label)
    if current:
        runs.append(current)
    return runs


def _unsupervised_runs(ids: list[int], labels: list[int]) -> list[list[int]]:
    runs: list[list[int]] = []
    current: list[int] = []
    for token, label in zip(ids, labels, strict=True):
        if label == IGNORE_INDEX:
            current.append(token)
        elif current:
            runs.append(current)
            current = []
    if current:
        runs.append(current)
    return runs


def _expected_chatml_turn(message: dict[str, Any]) -> str:
    """What one assistant turn must decode to under CHATML_TOOLS_TEMPLATE, written out by hand."""
    text = ""
    if message.get("reasoning_content"):
        text += "<think>\n" + message["reasoning_content"].strip() + "\n</think>\n\n"
    content = message.get("content") or ""
    text += content
    for position, call in enumerate(message.get("tool_calls") or []):
        if position or content:
            text += "\n"
        function = call["function"]
        call_json = f'{{"name": "{function["name"]}", "arguments": {function["arguments"]}}}'
        text += f"<tool_call>\n{call_json}\n</tool_call>"
    return text + "<|im_end|>"


def test_supervised_tokens_are_exactly_the_assistant_turns(
    tokenizer_dir: Path, trace: dict[str, Any]
) -> None:
    tokenizer = load_tokenizer(tokenizer_dir)
    encoded = SFTFormatter(tokenizer).encode(trace)
    assert len(encoded.input_ids) == len(encoded.labels) == len(encoded.attention_mask)
    assert encoded.boundary_splits == 0

    supervised = [tokenizer.decode(run, skip_special_tokens=False) for run in _runs(encoded.labels)]
    assistant = [m for m in trace["messages"] if m["role"] == "assistant"]
    assert supervised == [_expected_chatml_turn(m) for m in assistant]

    # every system, user and tool message sits whole inside an unsupervised stretch
    unsupervised = [
        tokenizer.decode(run, skip_special_tokens=False)
        for run in _unsupervised_runs(encoded.input_ids, encoded.labels)
    ]
    for message in trace["messages"]:
        if message["role"] in ("system", "user", "tool"):
            assert any(message["content"] in stretch for stretch in unsupervised), message["role"]
    # and the role headers of assistant turns are prompt, not answer
    assert all(not text.startswith("<|im_start|>") for text in supervised)
    assert sum(1 for label in encoded.labels if label != IGNORE_INDEX) == encoded.supervised


def test_labels_follow_the_tokenizers_own_template(tmp_path: Path, trace: dict[str, Any]) -> None:
    corpus = [json.dumps(trace)] * 2
    tokenizer = load_tokenizer(train_tokenizer(corpus, tmp_path / "tok", chat_template=HEADER_TEMPLATE))
    formatter = SFTFormatter(tokenizer)  # auto: the tokenizer's own template
    assert formatter.template_name == "tokenizer"
    encoded = formatter.encode(trace)
    supervised = [tokenizer.decode(run, skip_special_tokens=False) for run in _runs(encoded.labels)]
    expected = []
    for message in trace["messages"]:
        if message["role"] != "assistant":
            continue
        text = f"<think>{message['reasoning_content']}</think>" if message.get("reasoning_content") else ""
        text += message.get("content") or ""
        for call in message.get("tool_calls") or []:
            text += f"<tool_call>{call['function']['name']} {call['function']['arguments']}</tool_call>"
        expected.append(text + "<|im_end|>")
    assert supervised == expected


def test_a_template_that_rewrites_earlier_turns_is_refused(tmp_path: Path, trace: dict[str, Any]) -> None:
    tokenizer = load_tokenizer(
        train_tokenizer([json.dumps(trace)], tmp_path / "tok", chat_template=UNSTABLE_TEMPLATE)
    )
    with pytest.raises(SFTError, match="renders earlier turns differently"):
        SFTFormatter(tokenizer, "tokenizer").encode(trace)


def test_packing_keeps_examples_apart(tokenizer_dir: Path, trace: dict[str, Any]) -> None:
    tokenizer = load_tokenizer(tokenizer_dir)
    formatter = SFTFormatter(tokenizer)
    short = {"messages": trace["messages"][:3], "tools": []}
    examples = [formatter.encode(short) for _ in range(5)]
    n = len(examples[0])
    rows = list(pack_examples(examples, max_length=2 * n + 3, pad_id=0))
    assert [r.seq_lengths for r in rows] == [[n, n], [n, n], [n]]
    for row in rows:
        assert len(row.input_ids) == len(row.labels) == len(row.position_ids) == 2 * n + 3
        starts = [0]
        for length in row.seq_lengths[:-1]:
            starts.append(starts[-1] + length)
        for start, length in zip(starts, row.seq_lengths, strict=True):
            assert row.position_ids[start : start + length] == list(range(length))
            assert row.labels[start] == IGNORE_INDEX  # nothing predicted across a boundary
            assert row.labels[start + 1 : start + length] == examples[0].labels[1:]
        used = sum(row.seq_lengths)
        assert row.attention_mask == [1] * used + [0] * (len(row.input_ids) - used)
        assert set(row.labels[used:]) <= {IGNORE_INDEX}
    with pytest.raises(SFTError, match="does not fit"):
        list(pack_examples(examples, max_length=n - 1, pad_id=0))
