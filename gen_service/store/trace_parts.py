"""A stored trace in two parts: the context it shares with many others, and what is its own.

Every trace of one (behaviour, scenario, prompt version) starts with the same rendered system and
user messages and carries the same tool specs: about 12 KB of its 19 KB. The store keeps that context
once, in `trace_context` under the sha256 of its canonical JSON, and each sample keeps only the
teacher's messages and its meta, naming the context by key. `join_trace(split_trace(t))` equals `t`
(same keys in the same order, same messages), so readers see whole traces as before.

Pure: no I/O. The store decides where the parts live.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from gen_service.serialization import canonical_json

_TRACE_KEYS = ["messages", "tools", "meta"]
_PROMPT_ROLES = ("system", "user")


def split_trace(trace: Mapping[str, Any]) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """(context, own) of a trace shaped as the trace builder makes it; (None, the trace) otherwise.

    Split only when the trace is exactly `{"messages", "tools", "meta"}` in that order and its first
    two messages are a plain system and user message (role and text content, nothing else): then the
    join restores it exactly. Any other shape is stored whole.
    """
    if list(trace) != _TRACE_KEYS:
        return None, dict(trace)
    messages = trace["messages"]
    if not isinstance(messages, list) or len(messages) < len(_PROMPT_ROLES):
        return None, dict(trace)
    for message, role in zip(messages, _PROMPT_ROLES, strict=False):
        if not (
            isinstance(message, Mapping)
            and list(message) == ["role", "content"]
            and message["role"] == role
            and isinstance(message["content"], str)
        ):
            return None, dict(trace)
    context = {"messages": messages[: len(_PROMPT_ROLES)], "tools": trace["tools"]}
    return context, {"messages": messages[len(_PROMPT_ROLES) :], "meta": trace["meta"]}


def join_trace(context: Mapping[str, Any] | None, own: Mapping[str, Any]) -> dict[str, Any]:
    """The whole trace from its parts (`context` None: `own` is the whole trace)."""
    if context is None:
        return dict(own)
    return {
        "messages": [*context["messages"], *own["messages"]],
        "tools": context["tools"],
        "meta": own["meta"],
    }


def context_key(context: Mapping[str, Any]) -> str:
    """sha256 hex of the context's canonical JSON: equal contexts share one stored row."""
    return hashlib.sha256(canonical_json(context)).hexdigest()


class ContextKeys:
    """`context_key` with a memory of recent contexts, for the coordinator's hot path.

    Hashing 12 KB per sample would cost more than the bytes it saves, and the contexts a process sees
    are few (behaviours × scenarios × prompt versions). Entries are keyed by the system and user
    texts (the trace builder hands out the same string objects, whose hashes Python caches) and
    checked against the tool specs by identity of their items, falling back to equality; a miss
    computes the key. Bounded: at most `capacity` entries, cleared when full.
    """

    def __init__(self, capacity: int = 8192) -> None:
        self._capacity = capacity
        self._entries: dict[tuple[str, str], tuple[Sequence[Any], str]] = {}

    def key_of(self, context: Mapping[str, Any]) -> str:
        system, user = (message["content"] for message in context["messages"])
        tools = context["tools"]
        entry = self._entries.get((system, user))
        if entry is not None:
            known_tools, key = entry
            if len(known_tools) == len(tools) and (
                all(a is b for a, b in zip(known_tools, tools, strict=True)) or known_tools == tools
            ):
                return key
        key = context_key(context)
        if len(self._entries) >= self._capacity:
            self._entries.clear()
        self._entries[(system, user)] = (tools, key)
        return key
