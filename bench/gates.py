"""CPU cost of the per-sample pure work: trace assembly, each gate, and the duplicate key.

Not a test: it prints figures and exits 0. Run from the repository root:

    .venv/bin/python bench/gates.py [--traces 600] [--defect-share 0] [--rounds 5]

Traces come from the scripted teacher over every behaviour and generation scenario (seeds 0..N),
assembled by the same `TraceBuilder` the worker and coordinator use. Each step is timed over the whole
set, `--rounds` times; the figures are the median µs per trace. Gate caches warm up as they do in a
long run (the first round is included in nothing: it is a warm-up).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

from gen_service.core import gates
from gen_service.core.scripted import scripted_reply_text
from gen_service.core.trace import parse_trace
from gen_service.resources import load_resources
from gen_service.serialization import dumps
from gen_service.tracebuild import TraceBuilder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--traces", type=int, default=600)
    parser.add_argument("--defect-share", type=float, default=0.0)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    resources = load_resources()
    builder = TraceBuilder(resources)
    behaviours = sorted(resources.behaviours)
    scenarios = list(resources.generation_scenarios)
    jobs: list[tuple[str, str, int, str]] = []
    for seed in range(args.traces):
        behaviour = behaviours[seed % len(behaviours)]
        scenario = scenarios[(seed * 7) % len(scenarios)]
        text = scripted_reply_text(
            resources.behaviours[behaviour],
            resources.scenarios[scenario],
            seed,
            defect_share=args.defect_share,
        )
        jobs.append((behaviour, scenario, seed, text))

    def build(job: tuple[str, str, int, str]) -> Any:
        behaviour, scenario, seed, text = job
        return builder.build(
            text,
            behaviour=behaviour,
            scenario=scenario,
            seed=seed,
            teacher="t",
            prompt_version="v1",
            finish_reason="stop",
        )

    built = [build(job) for job in jobs]
    valid = [t for t in built if t is not None]
    parsed = [parse_trace(t) for t in valid]
    context = resources.gate_context
    facts = [gates._analyse(t, context) for t in parsed]
    sizes = [len(dumps(t)) for t in valid]
    prompt_chars = [len(t["messages"][0]["content"]) + len(t["messages"][1]["content"]) for t in valid]
    tools_chars = [len(dumps(t.get("tools", []))) for t in valid]

    steps: dict[str, Callable[[], object]] = {
        "build (parse reply + assemble)": lambda: [build(job) for job in jobs],
        "parse_trace": lambda: [parse_trace(t) for t in valid],
        "analyse (shared facts)": lambda: [gates._analyse(t, context) for t in parsed],
    }
    for reason, gate in gates._GATES:
        steps[f"gate {reason.value}"] = lambda gate=gate: [
            gate(t, context, f) for t, f in zip(parsed, facts, strict=True)
        ]
    steps["run_gates (all, from dict)"] = lambda: [gates.run_gates(t, context) for t in valid]
    steps["content_key"] = lambda: [gates.content_key(t) for t in valid]
    steps["dumps (orjson)"] = lambda: [dumps(t) for t in valid]

    print(
        f"tracegen gates: {len(jobs)} traces ({len(valid)} parse), defect share {args.defect_share:g},"
        f" median of {args.rounds} rounds after a warm-up"
    )
    print(
        f"  trace JSON bytes: median {statistics.median(sizes):.0f}"
        f" (prompt {statistics.median(prompt_chars):.0f} chars, tools {statistics.median(tools_chars):.0f})"
    )
    for name, step in steps.items():
        step()  # warm-up: caches fill as they would early in a run
        rounds = []
        for _ in range(args.rounds):
            started = time.perf_counter()
            step()
            rounds.append((time.perf_counter() - started) / len(jobs) * 1e6)
        print(f"  {name:<34} {statistics.median(rounds):8.1f} µs/trace")


if __name__ == "__main__":
    main()
