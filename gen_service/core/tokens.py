"""Token counting for the prompt cap, offline and pure.

The default counter is an estimate: about four characters a token, rounded up (`estimate_tokens`).
That is the usual rule of thumb for English text and code under BPE tokenizers; it errs on both
sides by roughly 20 %, so a cap close to a model's real limit wants the exact counter, which
`gen_service.token_counting.load_token_counter` builds from a `tokenizer.json`.

`trace_token_count` decides *what* is counted: the same for every counter, so the estimate and the
exact count differ only in the counting.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from gen_service.core.trace import Trace
from gen_service.serialization import dumps_str

__all__ = ["CHARS_PER_TOKEN", "TokenCounter", "estimate_tokens", "trace_token_count"]

CHARS_PER_TOKEN = 4

TokenCounter = Callable[[str], int]


def estimate_tokens(text: str) -> int:
    """Estimated token count of `text`: ⌈characters ÷ 4⌉ (0 for the empty string)."""
    return -(-len(text) // CHARS_PER_TOKEN)


def trace_token_count(trace: Trace, count_tokens: TokenCounter) -> int:
    """Tokens of everything the trace puts in front of a model.

    Counted: every message's `content` and `reasoning_content`, every tool call's name and its
    `arguments` string as written, and the tools spec (`trace.tools` as compact JSON). The pieces are
    joined with newlines and counted in one call, so an exact tokenizer sees realistic boundaries.
    Not counted: role markers and other chat-template overhead (a few tokens a message).
    """
    pieces: list[str] = []
    append = pieces.append
    for message in trace.messages:
        content = message.get("content")
        if isinstance(content, str) and content:
            append(content)
        reasoning = message.get("reasoning_content")
        if isinstance(reasoning, str) and reasoning:
            append(reasoning)
        raw_calls = message.get("tool_calls")
        if isinstance(raw_calls, list):
            for call in raw_calls:
                function = call.get("function") if isinstance(call, Mapping) else None
                if isinstance(function, Mapping):
                    _append_str(pieces, function.get("name"))
                    _append_str(pieces, function.get("arguments"))
    if trace.tools:
        append(dumps_str(list(trace.tools)))
    return count_tokens("\n".join(pieces))


def _append_str(pieces: list[str], value: Any) -> None:
    if isinstance(value, str) and value:
        pieces.append(value)
