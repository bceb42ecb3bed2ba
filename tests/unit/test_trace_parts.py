"""Stored traces in two parts: the split is exact, or the trace is kept whole."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st

from gen_service.store.trace_parts import ContextKeys, context_key, join_trace, split_trace

texts = st.text(max_size=40)
json_leaf = st.none() | st.booleans() | st.integers(-5, 5) | texts
json_value = st.recursive(
    json_leaf,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=8,
)
message = st.fixed_dictionaries({"role": st.sampled_from(["assistant", "tool"]), "content": texts})


@st.composite
def built_traces(draw: st.DrawFn) -> dict[str, Any]:
    """Traces shaped as the trace builder makes them."""
    return {
        "messages": [
            {"role": "system", "content": draw(texts)},
            {"role": "user", "content": draw(texts)},
            *draw(st.lists(message, max_size=4)),
        ],
        "tools": draw(st.lists(st.dictionaries(texts, json_value, max_size=3), max_size=3)),
        "meta": draw(st.dictionaries(texts, json_value, max_size=3)),
    }


@given(built_traces())
def test_split_then_join_gives_the_same_trace_byte_for_byte(trace: dict[str, Any]) -> None:
    context, own = split_trace(trace)
    assert context is not None
    assert "tools" not in own and len(own["messages"]) == len(trace["messages"]) - 2
    assert orjson.dumps(join_trace(context, own)) == orjson.dumps(trace)


@given(st.dictionaries(st.sampled_from(["messages", "tools", "meta", "extra"]), json_value, max_size=4))
def test_any_other_shape_is_kept_whole(value: dict[str, Any]) -> None:
    context, own = split_trace(value)
    if context is None:
        assert own == value
    assert orjson.dumps(join_trace(context, own)) == orjson.dumps(value)


def test_shapes_that_are_not_split() -> None:
    base = {
        "messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}],
        "tools": [],
        "meta": {},
    }
    assert split_trace(base)[0] is not None
    reordered = {"meta": {}, "messages": base["messages"], "tools": []}
    named = {**base, "messages": [{"role": "system", "content": "s", "name": "x"}, base["messages"][1]]}
    swapped = {**base, "messages": [base["messages"][1], base["messages"][0]]}
    parts = {**base, "messages": [{"role": "system", "content": [{"type": "text"}]}, base["messages"][1]]}
    for trace in (reordered, named, swapped, parts, {**base, "extra": 1}):
        assert split_trace(trace) == (None, trace)


def test_context_keys_remember_only_what_is_equal() -> None:
    tools = [{"type": "function", "function": {"name": "read_file"}}]
    context = {
        "messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}],
        "tools": tools,
    }
    keys = ContextKeys(capacity=2)
    first = keys.key_of(context)
    assert first == context_key(context)
    copy = {"messages": [dict(m) for m in context["messages"]], "tools": [dict(t) for t in tools]}
    assert keys.key_of(copy) == first, "equal tools (not the same objects) give the same key"
    other_tools = {**context, "tools": [{"type": "function", "function": {"name": "edit_file"}}]}
    assert keys.key_of(other_tools) == context_key(other_tools) != first
    other_user = {**context, "messages": [context["messages"][0], {"role": "user", "content": "v"}]}
    assert keys.key_of(other_user) == context_key(other_user) != first
    for n in range(5):  # past capacity: still right
        varied = {**context, "messages": [{"role": "system", "content": str(n)}, context["messages"][1]]}
        assert keys.key_of(varied) == context_key(varied)
