"""Benchmark of `tracegen corpus build` on an exported demo corpus (not a test: prints figures, exits 0).

Synthesizes an export in the service's format (`shard-*.jsonl` + `manifest.json`, as
`gen_service.export` writes it) straight from the scripted teacher (honest traces plus a few realistic
defects for the gates to drop), plus a curated slice with vendor tool names and planted identifiers;
then runs `tracegen corpus build` on it in a child process and reports wall time and peak RSS.

    .venv/bin/python bench/trainer_corpus.py --traces 10000 [--slice 500] [--workdir DIR] [--keep]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from itertools import cycle
from pathlib import Path
from typing import Any

from gen_service.core.prompts import render_prompt
from gen_service.core.scripted import scripted_reply
from gen_service.core.trace import assemble_trace
from gen_service.resources import load_resources
from gen_service.serialization import dumps


def scripted_traces(
    count: int, *, first_seed: int = 1, defect_share: float = 0.03
) -> Iterator[dict[str, Any]]:
    """`count` scripted traces, as the worker assembles them: behaviours round-robin over the
    generation scenarios, seeds counting up from `first_seed`."""
    resources = load_resources()
    pairs = [(b, s) for b in resources.behaviours.values() for s in resources.generation_scenarios]
    prompts: dict[tuple[str, str], Any] = {}
    tools = resources.vocabulary.openai_tools()
    for position, (behaviour, scenario_id) in zip(range(count), cycle(pairs), strict=False):
        seed = first_seed + position // len(pairs)
        scenario = resources.scenarios[scenario_id]
        key = (behaviour.name, scenario_id)
        if key not in prompts:
            prompts[key] = render_prompt(behaviour, scenario, resources.vocabulary)
        prompt = prompts[key]
        reply = scripted_reply(behaviour, scenario, seed, defect_share=defect_share)
        if "_raw_text" in reply:  # a malformed reply never reaches an export
            reply = scripted_reply(behaviour, scenario, seed, defect_share=0.0)
        yield assemble_trace(
            prompt.system,
            prompt.user,
            reply["messages"],
            tools,
            {
                "behaviour": behaviour.name,
                "layer": behaviour.layer,
                "language": scenario.language,
                "scenario": scenario_id,
                "seed": seed,
                "teacher": "scripted",
                "prompt_version": "v1",
                "finish_reason": "stop",
            },
        )


def synthesize(count: int, out_dir: Path, *, shard_size: int = 2000) -> int:
    """Write an export of `count` scripted traces in the format `gen_service.export` writes."""
    out_dir.mkdir(parents=True)
    shards: list[dict[str, Any]] = []
    per_behaviour: dict[str, int] = {}
    handle = None
    digest = hashlib.sha256()
    in_shard = 0
    written = 0
    for trace in scripted_traces(count):
        if handle is None or in_shard >= shard_size:
            if handle is not None:
                handle.close()
                shards[-1].update(count=in_shard, sha256=digest.hexdigest())
            name = f"shard-{len(shards):05d}.jsonl"
            handle = (out_dir / name).open("wb")
            shards.append({"file": name})
            digest = hashlib.sha256()
            in_shard = 0
        line = dumps(trace) + b"\n"
        handle.write(line)
        digest.update(line)
        in_shard += 1
        written += 1
        behaviour = trace["meta"]["behaviour"]
        per_behaviour[behaviour] = per_behaviour.get(behaviour, 0) + 1
    if handle is not None:
        handle.close()
        shards[-1].update(count=in_shard, sha256=digest.hexdigest())
    manifest = {
        "schema": "tracegen.manifest/1",
        "job": {"id": 1, "name": "demo", "status": "completed"},
        "teacher": "scripted",
        "prompt_version": "v1",
        "counts": {"raw": written, "dropped": 0, "kept": written, "surplus": 0},
        "per_behaviour": per_behaviour,
        "shards": shards,
    }
    (out_dir / "manifest.json").write_bytes(dumps(manifest))
    return written


def curated_slice(path: Path, count: int) -> int:
    """A curated-looking slice: fresh scripted traces (seeds the export does not use) with vendor tool
    names and planted identifiers, which de-identification must repair."""
    written = 0
    with path.open("w") as out:
        for index, trace in enumerate(scripted_traces(count, first_seed=100_000, defect_share=0.0)):
            trace["messages"][1]["content"] += (
                f"\n\nSession {index}: repo at /home/dev{index % 7}name/work, "
                f"CI on build-{index % 5}.acme.internal "
                f"(10.0.{index % 250}.7), owner ops{index % 3}@acme-corp.io"
            )
            for message in trace["messages"]:
                for call in message.get("tool_calls") or []:
                    if call["function"]["name"] == "run_tests":
                        call["function"]["name"] = "bash"
            trace["meta"] = {"behaviour": trace["meta"]["behaviour"], "curated": "yes"}
            out.write(json.dumps(trace) + "\n")
            written += 1
    return written


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--traces", type=int, default=10_000)
    parser.add_argument("--slice", type=int, default=500, help="curated slice size (0: none)")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="trainer-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    export = workdir / "demo"
    try:
        if not (export / "manifest.json").is_file():
            started = time.perf_counter()
            written = synthesize(args.traces, export)
            elapsed = time.perf_counter() - started
            print(f"synthesized an export of {written:,} traces in {elapsed:.1f}s: {export}")
        size = sum(p.stat().st_size for p in export.glob("shard-*.jsonl"))
        print(f"export size: {size / 1e6:.1f} MB")
        command = [
            str(Path(sys.executable).with_name("tracegen")), "corpus", "build", str(export),
            "--out", str(workdir / "corpus"), "--seed", "1", "--quiet",
        ]  # fmt: skip
        if args.slice:
            slice_path = workdir / "style.jsonl"
            print(f"curated slice: {curated_slice(slice_path, args.slice):,} traces")
            command += ["--slice", f"style={slice_path}", "--target-share", "style=0.1"]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        print(result.stdout.strip())
        if result.returncode != 0:
            print(f"corpus build failed ({result.returncode}):\n{result.stderr}")
            return 0
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        print(f"corpus build: wall {wall:.1f}s, CPU {cpu:.1f}s, peak RSS {after.ru_maxrss / 1024:.0f} MiB")
        report = (workdir / "corpus" / "REPORT.md").read_text()
        print("\n".join(report.splitlines()[:40]))
    finally:
        if not args.keep and args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
