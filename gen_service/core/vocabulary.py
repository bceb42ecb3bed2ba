"""The tool vocabulary: the only tool names a trace may use, with their argument schemas.

Pure data. `gen_service.catalog.load_vocabulary` reads `behaviours/vocabulary.toml` and hands the
decoded mapping to `Vocabulary.from_mapping`, which validates it. Invariants of a `Vocabulary`:
tool names are unique snake_case identifiers, every description is one non-empty line, every
`parameters` is a JSON schema of type "object" whose `required` names are declared properties, and
`openai_tools()` lists the tools in the order the file gives them.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ToolSpec", "Vocabulary"]

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_JSON_TYPES = frozenset({"string", "integer", "number", "boolean", "array", "object", "null"})


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """One tool: its name, a one-line description and a JSON schema for its arguments."""

    name: str
    description: str
    parameters: Mapping[str, Any]

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(self.parameters.get("required", ()))

    def openai_spec(self) -> dict[str, Any]:
        """The OpenAI function spec; a fresh copy, safe for the caller to mutate."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": copy.deepcopy(dict(self.parameters)),
            },
        }


@dataclass(frozen=True)
class Vocabulary:
    """The validated vocabulary. Build it with `from_mapping`.

    >>> vocab = Vocabulary.from_mapping({"tool": [{"name": "ask_user", "description": "Ask.",
    ...     "parameters": {"type": "object", "properties": {"question": {"type": "string"}}}}]})
    >>> sorted(vocab.names)
    ['ask_user']
    """

    tools: tuple[ToolSpec, ...]
    names: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "names", frozenset(tool.name for tool in self.tools))

    def __contains__(self, name: object) -> bool:
        return name in self.names

    def get(self, name: str) -> ToolSpec | None:
        for tool in self.tools:
            if tool.name == name:
                return tool
        return None

    def openai_tools(self) -> list[dict[str, Any]]:
        """Every tool as an OpenAI function spec, in file order (stable across calls)."""
        return [tool.openai_spec() for tool in self.tools]

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Vocabulary:
        """Validate a decoded `vocabulary.toml`. Raises ValueError naming the offending tool and field."""
        if not isinstance(data, Mapping):
            raise ValueError("vocabulary must be a table")
        unknown = set(data) - {"version", "tool"}
        if unknown:
            raise ValueError(f"vocabulary: unknown top-level key(s) {sorted(unknown)}")
        raw_tools = data.get("tool")
        if not isinstance(raw_tools, list) or not raw_tools:
            raise ValueError("vocabulary: 'tool' must be a non-empty array of tables ([[tool]])")
        tools: list[ToolSpec] = []
        seen: set[str] = set()
        for position, raw in enumerate(raw_tools):
            tool = _parse_tool(position, raw)
            if tool.name in seen:
                raise ValueError(f"vocabulary: tool {tool.name!r} is defined twice")
            seen.add(tool.name)
            tools.append(tool)
        return cls(tools=tuple(tools))


def _parse_tool(position: int, raw: Any) -> ToolSpec:
    where = f"vocabulary: tool[{position}]"
    if not isinstance(raw, Mapping):
        raise ValueError(f"{where} must be a table")
    unknown = set(raw) - {"name", "description", "parameters"}
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {sorted(unknown)}")
    name = raw.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"{where}: 'name' must be a snake_case identifier, got {name!r}")
    where = f"vocabulary: tool {name!r}"
    description = raw.get("description")
    if not isinstance(description, str) or not description.strip() or "\n" in description.strip():
        raise ValueError(f"{where}: 'description' must be one non-empty line")
    parameters = raw.get("parameters")
    if not isinstance(parameters, Mapping):
        raise ValueError(f"{where}: 'parameters' must be a table (a JSON schema)")
    if parameters.get("type") != "object":
        raise ValueError(f"{where}: 'parameters.type' must be \"object\"")
    properties = parameters.get("properties", {})
    if not isinstance(properties, Mapping):
        raise ValueError(f"{where}: 'parameters.properties' must be a table")
    for prop_name, prop in properties.items():
        if not isinstance(prop, Mapping) or prop.get("type") not in _JSON_TYPES:
            raise ValueError(
                f"{where}: 'parameters.properties.{prop_name}.type' must be one of {sorted(_JSON_TYPES)}"
            )
    required = parameters.get("required", [])
    if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
        raise ValueError(f"{where}: 'parameters.required' must be a list of property names")
    missing = [r for r in required if r not in properties]
    if missing:
        raise ValueError(f"{where}: 'parameters.required' names undeclared properties {missing}")
    return ToolSpec(name=name, description=description.strip(), parameters=copy.deepcopy(dict(parameters)))
