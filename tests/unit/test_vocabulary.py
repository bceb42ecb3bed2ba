"""The tool vocabulary: the shipped file and the validation of `Vocabulary.from_mapping`."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from gen_service.catalog import load_vocabulary
from gen_service.core.vocabulary import Vocabulary

EXPECTED = {
    "repo_search": ({"query"}, set()),
    "list_files": ({"path"}, set()),
    "read_file": ({"path"}, {"start_line", "end_line"}),
    "edit_file": ({"path", "old", "new"}, set()),
    "write_file": ({"path", "content"}, set()),
    "run_tests": ({"command"}, set()),
    "run_command": ({"command"}, set()),
    "memory_search": ({"query"}, set()),
    "memory_write": ({"note"}, set()),
    "docs_lookup": ({"topic"}, set()),
    "render_or_visual_proof": ({"target"}, set()),
    "ask_user": ({"question"}, set()),
}


def test_the_shipped_vocabulary_has_exactly_the_twelve_tools() -> None:
    vocabulary = load_vocabulary()
    assert vocabulary.names == frozenset(EXPECTED)
    for spec in vocabulary.openai_tools():
        function = spec["function"]
        required, optional = EXPECTED[function["name"]]
        parameters = function["parameters"]
        assert spec["type"] == "function"
        assert parameters["type"] == "object"
        assert set(parameters["required"]) == required
        assert set(parameters["properties"]) == required | optional
        assert function["description"].strip() and "\n" not in function["description"]


def test_openai_tools_is_stable_and_a_fresh_copy() -> None:
    vocabulary = load_vocabulary()
    first = vocabulary.openai_tools()
    assert [t["function"]["name"] for t in first] == [t.name for t in vocabulary.tools]
    first[0]["function"]["parameters"]["properties"].clear()
    assert vocabulary.openai_tools()[0]["function"]["parameters"]["properties"]
    assert vocabulary.openai_tools() == load_vocabulary().openai_tools()
    assert "read_file" in vocabulary and "bash" not in vocabulary


def _minimal() -> dict[str, Any]:
    return {
        "tool": [
            {
                "name": "ask_user",
                "description": "Ask the user.",
                "parameters": {
                    "type": "object",
                    "required": ["question"],
                    "properties": {"question": {"type": "string"}},
                },
            }
        ]
    }


def _broken(change: str) -> dict[str, Any]:
    data = _minimal()
    tool = data["tool"][0]
    if change == "no tools":
        data["tool"] = []
    elif change == "unknown top-level":
        data["tools"] = []
    elif change == "bad name":
        tool["name"] = "Ask User"
    elif change == "duplicate":
        data["tool"].append(copy.deepcopy(tool))
    elif change == "no description":
        tool["description"] = "  "
    elif change == "two-line description":
        tool["description"] = "Ask.\nThen wait."
    elif change == "not an object":
        tool["parameters"]["type"] = "array"
    elif change == "bad property type":
        tool["parameters"]["properties"]["question"]["type"] = "text"
    elif change == "required undeclared":
        tool["parameters"]["required"] = ["question", "urgency"]
    elif change == "unknown tool field":
        tool["vendor"] = "x"
    return data


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("no tools", "non-empty array"),
        ("unknown top-level", "unknown top-level key"),
        ("bad name", "'name' must be a snake_case identifier"),
        ("duplicate", "defined twice"),
        ("no description", "'description'"),
        ("two-line description", "'description'"),
        ("not an object", "'parameters.type'"),
        ("bad property type", "'parameters.properties.question.type'"),
        ("required undeclared", "undeclared properties ['urgency']"),
        ("unknown tool field", "unknown field(s) ['vendor']"),
    ],
)
def test_invalid_vocabularies_are_refused_with_a_clear_message(change: str, message: str) -> None:
    Vocabulary.from_mapping(_minimal())  # the baseline is valid
    with pytest.raises(ValueError, match="vocabulary") as info:
        Vocabulary.from_mapping(_broken(change))
    assert message in str(info.value)
