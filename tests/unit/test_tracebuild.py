"""The trace builder's prompt cache renders exactly what `render_prompt` renders."""

from __future__ import annotations

from gen_service.core.prompts import render_prompt
from gen_service.resources import Resources
from gen_service.tracebuild import TraceBuilder


def test_cached_prompts_equal_fresh_renders_and_share_the_scenario_text(resources: Resources) -> None:
    builder = TraceBuilder(resources)
    for scenario in resources.generation_scenarios:
        users = set()
        for behaviour in sorted(resources.behaviours):
            prompt = builder.prompt(behaviour, scenario, "v7")
            fresh = render_prompt(
                resources.behaviours[behaviour],
                resources.scenarios[scenario],
                resources.vocabulary,
                version="v7",
            )
            assert prompt == fresh
            assert builder.prompt(behaviour, scenario, "v7") is prompt
            users.add(id(prompt.user))
        assert len(users) == 1, "one user text object per scenario"
