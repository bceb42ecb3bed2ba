"""The read-only data every process needs: behaviours, vocabulary, scenarios and the gate context.

Loaded once at start-up (I/O) and injected; the objects themselves are pure core values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from gen_service.core.behaviours import Behaviour
from gen_service.core.gates import GateContext
from gen_service.core.scenarios import Scenario
from gen_service.core.vocabulary import Vocabulary


@dataclass(frozen=True)
class Resources:
    behaviours: Mapping[str, Behaviour]
    vocabulary: Vocabulary
    scenarios: Mapping[str, Scenario]
    gate_context: GateContext

    @cached_property
    def generation_scenarios(self) -> tuple[str, ...]:
        """Scenario ids that may be handed out for generation: every one not held out, sorted."""
        return tuple(sorted(sid for sid, s in self.scenarios.items() if not s.held_out))


def load_resources(*, max_tokens: int = 16384, tokenizer: Path | None = None) -> Resources:
    from gen_service.catalog import load_behaviours, load_vocabulary
    from gen_service.scenario_bank import load_scenarios

    behaviours = load_behaviours()
    vocabulary = load_vocabulary()
    scenarios = load_scenarios()
    from gen_service.token_counting import token_counter_for

    count_tokens = token_counter_for(tokenizer)
    context = GateContext(
        vocabulary=vocabulary.names,
        behaviours=behaviours,
        max_tokens=max_tokens,
        count_tokens=count_tokens,
    )
    return Resources(behaviours=behaviours, vocabulary=vocabulary, scenarios=scenarios, gate_context=context)
