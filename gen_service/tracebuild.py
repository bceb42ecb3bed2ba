"""From a teacher's reply to a full trace: the one place that assembles traces.

The worker (to gate locally), the coordinator (to gate again and store) and regate (to judge stored
outputs) all call `TraceBuilder.build`, so a trace is assembled the same way everywhere: the system
and user messages rendered from (behaviour, scenario, prompt version), then the teacher's messages,
the vocabulary's tool specs and the lease's meta. Prompts are rendered once per key and cached; the
same string objects then recur in every trace, which also lets the gates' per-text caches hit.
"""

from __future__ import annotations

from typing import Any

from gen_service.core.context import render_context
from gen_service.core.prompts import TeacherPrompt, render_system
from gen_service.core.trace import MalformedTrace, assemble_trace, parse_teacher_reply
from gen_service.resources import Resources


class TraceBuilder:
    def __init__(self, resources: Resources) -> None:
        self._resources = resources
        self._prompts: dict[tuple[str, str, str], TeacherPrompt] = {}
        # The user message depends on the scenario alone: rendered once per scenario, and the same
        # string object then recurs across behaviours (the gates' per-text caches hit on it).
        self._users: dict[str, str] = {}
        self._tools = resources.vocabulary.openai_tools()

    def prompt(self, behaviour: str, scenario: str, version: str) -> TeacherPrompt:
        """The rendered system + user messages; KeyError for an unknown behaviour or scenario."""
        key = (behaviour, scenario, version)
        prompt = self._prompts.get(key)
        if prompt is None:
            scenario_spec = self._resources.scenarios[scenario]
            user = self._users.get(scenario)
            if user is None:
                user = self._users[scenario] = render_context(scenario_spec)
            system = render_system(
                self._resources.behaviours[behaviour], scenario_spec, self._resources.vocabulary
            )
            prompt = TeacherPrompt(system=system, user=user, version=version)
            self._prompts[key] = prompt
        return prompt

    def build(
        self,
        text: str,
        *,
        behaviour: str,
        scenario: str,
        seed: int,
        teacher: str,
        prompt_version: str,
        finish_reason: str,
    ) -> dict[str, Any] | None:
        """The full trace, or None when the reply is not a `{"messages": [...]}` object (the gates
        then judge the raw text as malformed_output) or names an unknown behaviour or scenario."""
        try:
            reply_messages = parse_teacher_reply(text)
            prompt = self.prompt(behaviour, scenario, prompt_version)
        except (MalformedTrace, KeyError):
            return None
        return assemble_trace(
            prompt.system,
            prompt.user,
            reply_messages,
            self._tools,
            {
                "behaviour": behaviour,
                "layer": self._resources.behaviours[behaviour].layer,
                "language": self._resources.scenarios[scenario].language,
                "scenario": scenario,
                "seed": seed,
                "teacher": teacher,
                "prompt_version": prompt_version,
                "finish_reason": finish_reason,
            },
        )
