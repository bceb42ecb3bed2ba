"""The trace model: OpenAI chat format with tools, parsed and validated once.

A trace on the wire is `{"messages": [...], "tools": [...], "meta": {...}}`. `parse_trace` turns such a
mapping into a `Trace` whose tool calls are already decoded, or raises `MalformedTrace` naming the
first problem. The teacher answers with `{"messages": [...]}` (the assistant and tool messages that
follow the system and user messages the worker sent); `parse_teacher_reply` accepts that object bare or
inside a Markdown code fence.

Invariants of a parsed `Trace`:
- every message has a known role and string content (tool calls may come with empty content);
- every tool call has a string id, type "function", a string name and arguments that decode to a JSON
  object (kept both as the original string and decoded);
- `meta` is a mapping (possibly empty).
Whether the trace is *complete* (tool results answer calls, ends with a final answer) is a gate's
question, not the parser's.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gen_service.serialization import JSONDecodeError, loads

__all__ = [
    "ROLES",
    "MalformedTrace",
    "ToolCall",
    "Trace",
    "assemble_trace",
    "parse_teacher_reply",
    "parse_trace",
    "split_think_block",
    "string_leaves",
]

ROLES = frozenset({"system", "user", "assistant", "tool"})

_FENCE = re.compile(r"```(?:json|JSON)?\s*\n(.*?)\n?```", re.DOTALL)
_THINK = re.compile(r"^\s*<think>(.*?)</think>\s*", re.DOTALL)


class MalformedTrace(ValueError):
    """The input is not valid JSON or not a valid trace; the message names the problem."""


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One decoded tool call of an assistant message."""

    message_index: int
    call_id: str
    name: str
    arguments: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Trace:
    """A validated trace. `messages`, `tools` and `meta` are the original JSON values."""

    messages: Sequence[Mapping[str, Any]]
    tools: Sequence[Mapping[str, Any]]
    meta: Mapping[str, Any]
    tool_calls: Sequence[ToolCall] = field(default_factory=tuple)

    def to_json(self) -> dict[str, Any]:
        return {"messages": list(self.messages), "tools": list(self.tools), "meta": dict(self.meta)}

    @property
    def behaviour(self) -> str | None:
        value = self.meta.get("behaviour")
        return value if isinstance(value, str) else None

    @property
    def language(self) -> str | None:
        value = self.meta.get("language")
        return value if isinstance(value, str) else None

    def calls_in(self, message_index: int) -> list[ToolCall]:
        return [call for call in self.tool_calls if call.message_index == message_index]

    def tool_result(self, call_id: str) -> str | None:
        """The content of the tool message answering `call_id`, or None when there is none."""
        for message in self.messages:
            if message.get("role") == "tool" and message.get("tool_call_id") == call_id:
                content = message.get("content")
                return content if isinstance(content, str) else ""
        return None


def string_leaves(value: Any) -> Iterator[str]:
    """Every string inside a JSON value (objects' values and lists' items, depth first)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from string_leaves(item)
    elif isinstance(value, list):
        for item in value:
            yield from string_leaves(item)


def split_think_block(content: str) -> tuple[str, str]:
    """Split a leading `<think>...</think>` block from a reply: returns (reasoning, action)."""
    match = _THINK.match(content)
    if match is None:
        return "", content
    return match.group(1).strip(), content[match.end() :]


def parse_teacher_reply(text: str) -> list[dict[str, Any]]:
    """Decode the teacher's `{"messages": [...]}` reply (bare, or inside a ```json fence).

    Raises MalformedTrace when neither form holds a JSON object with a list of message objects.
    """
    candidates = [text.strip()]
    candidates.extend(match.group(1).strip() for match in _FENCE.finditer(text))
    last_error = "reply is empty"
    for candidate in candidates:
        if not candidate:
            continue
        try:
            value = loads(candidate)
        except JSONDecodeError as exc:
            last_error = f"reply is not JSON: {exc}"
            continue
        if not isinstance(value, dict):
            last_error = "reply is JSON but not an object"
            continue
        messages = value.get("messages")
        if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
            last_error = 'reply has no "messages" list of objects'
            continue
        return messages
    raise MalformedTrace(last_error)


def assemble_trace(
    system: str,
    user: str,
    reply_messages: Sequence[Mapping[str, Any]],
    tools: Sequence[Mapping[str, Any]],
    meta: Mapping[str, Any],
) -> dict[str, Any]:
    """The full trace the worker stores: its own system and user messages, then the teacher's."""
    return {
        "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}]
        + [dict(m) for m in reply_messages],
        "tools": list(tools),
        "meta": dict(meta),
    }


def parse_trace(value: Any) -> Trace:
    """Validate a decoded JSON value as a trace. Raises MalformedTrace naming the first problem."""
    if isinstance(value, (str, bytes)):
        try:
            value = loads(value)
        except JSONDecodeError as exc:
            raise MalformedTrace(f"not JSON: {exc}") from None
    if not isinstance(value, Mapping):
        raise MalformedTrace("trace is not a JSON object")
    messages = value.get("messages")
    if not isinstance(messages, list) or not messages:
        raise MalformedTrace('"messages" must be a non-empty list')
    tools = value.get("tools", [])
    if not isinstance(tools, list) or not all(isinstance(t, Mapping) for t in tools):
        raise MalformedTrace('"tools" must be a list of objects')
    meta = value.get("meta", {})
    if not isinstance(meta, Mapping):
        raise MalformedTrace('"meta" must be an object')
    calls: list[ToolCall] = []
    for index, message in enumerate(messages):
        if not isinstance(message, Mapping):
            raise MalformedTrace(f"message {index} is not an object")
        role = message.get("role")
        if role not in ROLES:
            raise MalformedTrace(f"message {index} has unknown role {role!r}")
        content = message.get("content")
        if content is not None and not isinstance(content, str):
            raise MalformedTrace(f"message {index} content is not a string")
        if role == "assistant":
            reasoning = message.get("reasoning_content")
            if reasoning is not None and not isinstance(reasoning, str):
                raise MalformedTrace(f"message {index} reasoning_content is not a string")
            calls.extend(_parse_tool_calls(index, message.get("tool_calls")))
        elif message.get("tool_calls"):
            raise MalformedTrace(f"message {index} ({role}) carries tool_calls")
        elif role == "tool":
            if not isinstance(message.get("tool_call_id"), str):
                raise MalformedTrace(f"tool message {index} has no tool_call_id")
            if content is None:
                raise MalformedTrace(f"tool message {index} has no content")
        elif content is None:
            raise MalformedTrace(f"message {index} ({role}) has no content")
    return Trace(messages=messages, tools=tools, meta=meta, tool_calls=tuple(calls))


def _parse_tool_calls(index: int, raw: Any) -> list[ToolCall]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise MalformedTrace(f"message {index} tool_calls is not a list")
    calls: list[ToolCall] = []
    for position, call in enumerate(raw):
        where = f"message {index} tool_call {position}"
        if not isinstance(call, Mapping):
            raise MalformedTrace(f"{where} is not an object")
        call_id = call.get("id")
        if not isinstance(call_id, str) or not call_id:
            raise MalformedTrace(f"{where} has no id")
        if call.get("type", "function") != "function":
            raise MalformedTrace(f"{where} type is not 'function'")
        function = call.get("function")
        if not isinstance(function, Mapping):
            raise MalformedTrace(f"{where} has no function object")
        name = function.get("name")
        if not isinstance(name, str) or not name:
            raise MalformedTrace(f"{where} has no function name")
        arguments_text = function.get("arguments")
        if not isinstance(arguments_text, str):
            raise MalformedTrace(f"{where} arguments are not a JSON string")
        try:
            arguments = loads(arguments_text) if arguments_text.strip() else {}
        except JSONDecodeError:
            raise MalformedTrace(f"{where} arguments are not valid JSON") from None
        if not isinstance(arguments, dict):
            raise MalformedTrace(f"{where} arguments are not a JSON object")
        calls.append(ToolCall(message_index=index, call_id=call_id, name=name, arguments=arguments))
    return calls
