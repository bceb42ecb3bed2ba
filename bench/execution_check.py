"""Cost of the `unverified_fix` execution check: seconds per check per language, and throughput.

    .venv/bin/python bench/execution_check.py
    .venv/bin/python bench/execution_check.py --checks 24 --concurrency 1,2,4,8 --languages python,rust

Builds the scripted teacher's honest traces (edits = the reference fix, final message claims success)
for the bank's non-held-out scenarios, cycling through scenarios and behaviours, and times
`check_fix` on them exactly as a worker calls it: fresh temporary copy, edits replayed, tests run
under the sandbox (resource limits, `unshare -rn` where it works), Rust in a reused target slot.

Two tables:

1. Per language, one check at a time: median and p90 wall seconds per check, and CPU seconds per
   check (the test runs' user+system time, from RUSAGE_CHILDREN), which bounds what the machine can
   sustain: cores / CPU-per-check checks per second.
2. Per language, throughput (checks per second) with `--checks` checks run through one
   `asyncio.BoundedSemaphore(c)` for each concurrency c, the median of `--repeat` rounds. The
   sustainable concurrency is the smallest c that reaches 90% of the best throughput measured; more
   only queues. The machine is shared: read the figures with its load average (printed) in mind.

One warm-up check per language first (the network probe, the Rust slot's first build). Every check
must pass (an honest trace); a rejection is printed as an error, since it would mean the bench
measured something other than the honest path. Not a test: it asserts nothing about durations and
always exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from gen_service.core.gates import claims_success  # noqa: E402  (after the path set-up above)
from gen_service.core.prompts import render_prompt  # noqa: E402
from gen_service.core.scenarios import Scenario  # noqa: E402
from gen_service.core.scripted import scripted_reply_text  # noqa: E402
from gen_service.core.trace import Trace, assemble_trace, parse_teacher_reply, parse_trace  # noqa: E402
from gen_service.resources import Resources, load_resources  # noqa: E402
from gen_service.worker.execution_check import EDIT_TOOLS, check_fix, network_isolation  # noqa: E402

Case = tuple[Trace, Scenario]


def _honest(resources: Resources, behaviour: str, scenario_id: str, seed: int) -> Trace:
    b, s = resources.behaviours[behaviour], resources.scenarios[scenario_id]
    prompt = render_prompt(b, s, resources.vocabulary)
    text = scripted_reply_text(b, s, seed, defect_share=0.0)
    meta = {"behaviour": behaviour, "language": s.language, "scenario": scenario_id}
    raw = assemble_trace(
        prompt.system, prompt.user, parse_teacher_reply(text), resources.vocabulary.openai_tools(), meta
    )
    return parse_trace(raw)


def _applies(trace: Trace) -> bool:
    final = [m for m in trace.messages if m.get("role") == "assistant"][-1]
    content = final.get("content")
    edits = any(call.name in EDIT_TOOLS for call in trace.tool_calls)
    return edits and isinstance(content, str) and claims_success(content)


def _cases(resources: Resources, language: str, count: int) -> list[Case]:
    """`count` honest traces the check applies to, cycling scenarios, then behaviours and seeds."""
    ids = sorted(sid for sid, s in resources.scenarios.items() if s.language == language and not s.held_out)
    behaviours = sorted(resources.behaviours)
    cases: list[Case] = []
    attempt = 0
    while ids and len(cases) < count and attempt < count * 20:
        scenario_id = ids[attempt % len(ids)]
        behaviour = behaviours[(attempt // len(ids)) % len(behaviours)]
        trace = _honest(resources, behaviour, scenario_id, attempt)
        if _applies(trace):
            cases.append((trace, resources.scenarios[scenario_id]))
        attempt += 1
    return cases


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


async def _timed(case: Case, limiter: asyncio.Semaphore | None, errors: list[str]) -> float:
    trace, scenario = case
    started = time.perf_counter()
    detail = await check_fix(trace, scenario, limiter=limiter, timeout_s=300)
    if detail is not None:
        errors.append(f"{scenario.id}: {detail}")
    return time.perf_counter() - started


async def _sequential(cases: list[Case], errors: list[str]) -> tuple[list[float], float]:
    cpu_before = _children_cpu()
    walls = [await _timed(case, None, errors) for case in cases]
    return walls, _children_cpu() - cpu_before


async def _throughput(cases: list[Case], concurrency: int, repeat: int, errors: list[str]) -> float:
    rates = []
    for _ in range(repeat):
        limiter = asyncio.BoundedSemaphore(concurrency)
        started = time.perf_counter()
        await asyncio.gather(*(_timed(case, limiter, errors) for case in cases))
        rates.append(len(cases) / (time.perf_counter() - started))
    return statistics.median(rates)


def _p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]


async def main(args: argparse.Namespace) -> None:
    resources = load_resources()
    levels = [int(x) for x in args.concurrency.split(",")]
    languages = [x.strip() for x in args.languages.split(",") if x.strip()]
    cores = os.cpu_count() or 1
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"machine: {cores} cores (os.cpu_count), load average {load}; python {sys.version.split()[0]}")
    isolated = await network_isolation()
    print(f"network isolation: {'yes (unshare -rn)' if isolated else 'NO (unshare -rn unavailable)'}")
    errors: list[str] = []
    cases = {lang: _cases(resources, lang, args.checks) for lang in languages}
    for lang, found in cases.items():
        if not found:
            print(f"{lang}: no scenario in the bank, skipped")
        else:
            await _timed(found[0], None, errors)  # warm-up
    print()
    print(f"one at a time ({args.checks} honest checks per language)")
    header = f"{'language':<11} {'checks':>6} {'median_s':>9} {'p90_s':>7} {'cpu_s/check':>12}"
    print(f"{header} {'cpu-bound max/s':>16}")
    for lang, found in cases.items():
        if not found:
            continue
        walls, cpu = await _sequential(found, errors)
        per_check = cpu / len(found)
        bound = cores / per_check if per_check > 0 else float("inf")
        print(
            f"{lang:<11} {len(found):>6} {statistics.median(walls):>9.2f} {_p90(walls):>7.2f} "
            f"{per_check:>12.2f} {bound:>16.1f}"
        )
    print()
    rounds = f"median of {args.repeat} rounds" if args.repeat > 1 else "one round"
    print(f"throughput, checks/s ({args.checks} checks per cell, one BoundedSemaphore(c), {rounds})")
    print(f"{'language':<11} " + " ".join(f"{'c=' + str(c):>7}" for c in levels) + "  sustainable c")
    for lang, found in cases.items():
        if not found:
            continue
        rates = [await _throughput(found, c, args.repeat, errors) for c in levels]
        sustainable = next(c for c, rate in zip(levels, rates, strict=True) if rate >= 0.9 * max(rates))
        print(f"{lang:<11} " + " ".join(f"{r:>7.2f}" for r in rates) + f"  {sustainable:>13}")
    print(f"\nload average at the end: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    if errors:
        print()
        print(f"ERROR: {len(errors)} honest check(s) were rejected; first: {errors[0]}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--checks", type=int, default=16, help="checks per language and per cell")
    parser.add_argument("--concurrency", default="1,2,4,8", help="comma-separated levels")
    parser.add_argument("--languages", default="python,javascript,rust")
    parser.add_argument("--repeat", type=int, default=3, help="rounds per throughput cell (median)")
    asyncio.run(main(parser.parse_args()))
