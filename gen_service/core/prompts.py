"""Teacher request rendering: the system and user messages for one (behaviour, scenario) lease.

Deterministic: the same behaviour, scenario and prompt version render the same text, so the
coordinator can re-render what a worker sent (regate) and the manifest can name the prompt version.
"""

from __future__ import annotations

from dataclasses import dataclass

from gen_service.core.behaviours import Behaviour
from gen_service.core.context import render_context
from gen_service.core.scenarios import Scenario
from gen_service.core.vocabulary import Vocabulary

PROMPT_VERSION = "v1"

_SYSTEM_TEMPLATE = """\
You write one training trace for a coding agent. The trace shows the agent solving the task in the \
user message with tools, and it must clearly exhibit one behaviour.

Behaviour: {name} (layer: {layer})
What the trace must show: {brief}
What it must not do: {must_not}

Tools (use only these names; arguments are JSON objects): {tools}
Language: {language}. Run the project's tests with: {test_command}

Answer with exactly one JSON object and nothing else: {{"messages": [...]}} holding the assistant and \
tool messages that follow this conversation, in OpenAI chat format. Every assistant message has \
"reasoning_content" (the agent's private reasoning, never empty), "content", and optional \
"tool_calls" ({{"id", "type": "function", "function": {{"name", "arguments": "<JSON string>"}}}}). \
Every tool call is answered by a {{"role": "tool", "tool_call_id", "content"}} message with realistic \
output. The last message is an assistant message without tool calls. Never claim success unless a \
test run after the last edit passed. Use no real names, e-mail addresses, home directories, hosts or \
keys.
"""


@dataclass(frozen=True, slots=True)
class TeacherPrompt:
    system: str
    user: str
    version: str


def render_prompt(
    behaviour: Behaviour, scenario: Scenario, vocabulary: Vocabulary, *, version: str = PROMPT_VERSION
) -> TeacherPrompt:
    return TeacherPrompt(
        system=render_system(behaviour, scenario, vocabulary),
        user=render_context(scenario),
        version=version,
    )


def render_system(behaviour: Behaviour, scenario: Scenario, vocabulary: Vocabulary) -> str:
    """The system message. The user message (`render_context`) depends on the scenario alone, so a
    caller rendering many behaviours of one scenario can render it once."""
    return _SYSTEM_TEMPLATE.format(
        name=behaviour.name,
        layer=behaviour.layer,
        brief=behaviour.brief.strip(),
        must_not=behaviour.must_not.strip(),
        tools=", ".join(sorted(vocabulary.names)),
        language=scenario.language,
        test_command=scenario.test_command,
    )
