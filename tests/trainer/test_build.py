"""`corpus build`: backbone + curated slice → blend share, seeded shuffle, held-out types,
de-identification."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from gen_service.core.gates import GateContext
from tests.trainer.conftest import scripted_trace, write_export
from trainer.build import BuildOptions, SliceSpec, build_corpus, iter_jsonl, oversample_factors
from trainer.sources import CorpusInputError

BACKBONE_BEHAVIOURS = (
    "survey_before_edit",
    "hypothesis_driven_debugging",
    "minimal_diff_fix",
    "claim_requires_run",
    "targeted_search",
    "tool_intent_first",
)
SLICE_BEHAVIOURS = ("survey_before_edit", "claim_requires_run", "minimal_diff_fix")
SCENARIOS = ("calc", "graph", "lru")

# Identifiers planted into the curated slice: every one must be gone from every output.
PLANTED = (
    "/home/jdoe",
    "jdoe",
    "jane.doe@initech.io",
    "build-07.initech.internal",
    "10.44.3.21",
    "sk-live4f9a8b7c6d5e4f3a2b1c0d9e",
    "ghp_9aZbY8xW7vU6tS5rQ4pO3nM2lK1jI0hG",
    "grafana.initech.io",
    "/srv/initech-billing",
)


def _plant(trace: dict[str, Any], index: int) -> dict[str, Any]:
    """A curated-looking trace: vendor tool names and real identifiers, as a session log would have."""
    messages = trace["messages"]
    messages[1]["content"] += (
        f"\n\nContext: checkout at /home/jdoe/work/repo{index}, deployed from /srv/initech-billing/app."
        " Ping jane.doe@initech.io or see https://grafana.initech.io/d/ci if CI on"
        " build-07.initech.internal (10.44.3.21) fails. jdoe's token: sk-live4f9a8b7c6d5e4f3a2b1c0d9e"
    )
    for message in messages:
        for call in message.get("tool_calls") or []:
            function = call["function"]
            if function["name"] == "run_tests":
                function["name"] = "bash"
            elif function["name"] == "repo_search":
                query = json.loads(function["arguments"])["query"]
                function["name"] = "grep"
                function["arguments"] = json.dumps({"pattern": query, "path": "."})
            elif function["name"] == "read_file":
                arguments = json.loads(function["arguments"])
                arguments["file_path"] = arguments.pop("path")
                function["name"] = "cat"
                function["arguments"] = json.dumps(arguments)
        if message["role"] == "tool" and "passed" in message["content"]:
            message["content"] += "\n(export GITHUB_TOKEN=ghp_9aZbY8xW7vU6tS5rQ4pO3nM2lK1jI0hG by jdoe)"
    for tool in trace["tools"]:
        if tool["function"]["name"] == "run_tests":
            tool["function"]["name"] = "bash"
    trace["meta"] = {"behaviour": trace["meta"]["behaviour"], "curated_by": "jdoe", "session": index}
    return trace


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory, resources: Any) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("inputs")
    backbone = [
        scripted_trace(resources, behaviour, scenario, seed)
        for behaviour in BACKBONE_BEHAVIOURS
        for scenario in SCENARIOS
        for seed in (1, 2)
    ]
    backbone.append(dict(backbone[0]))  # an exact duplicate
    export = write_export(root / "bb", "bb", backbone, shard_size=10)
    curated = [
        _plant(scripted_trace(resources, behaviour, scenario, 100 + i), i)
        for i, (behaviour, scenario) in enumerate((b, s) for b in SLICE_BEHAVIOURS for s in SCENARIOS)
    ]
    slice_path = root / "style.jsonl"
    slice_path.write_text("".join(json.dumps(t) + "\n" for t in curated))
    return export, slice_path


def _build(inputs: tuple[Path, Path], out: Path, context: GateContext, **kwargs: Any) -> Any:
    export, slice_path = inputs
    options = BuildOptions(
        backbones=[export],
        out_dir=out,
        slices=[SliceSpec("style", slice_path, target_share=kwargs.pop("share", 0.3))],
        heldout_types=kwargs.pop("heldout_types", ("targeted_search",)),
        **kwargs,
    )
    return build_corpus(options, context)


def _lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines()


def test_backbone_and_slice_blend_split_and_deidentify(
    inputs: tuple[Path, Path], tmp_path: Path, gate_context: GateContext
) -> None:
    summary = _build(inputs, tmp_path / "a", gate_context, seed=7, val_frac=0.1)
    out = tmp_path / "a"
    assert sorted(p.name for p in out.iterdir()) == [
        "REPORT.md",
        "heldout.jsonl",
        "manifest.json",
        "train.jsonl",
        "val.jsonl",
    ]
    # counts: 37 backbone lines (one exact duplicate) + 9 curated; curated traces are repaired, not dropped
    assert summary.raw == 46
    assert summary.sources["bb"].dropped == 1 and summary.drop_reasons["duplicate"] == 1
    assert summary.sources["style"].dropped == 0 and summary.sources["style"].kept == 9

    train = list(iter_jsonl(out / "train.jsonl"))
    val = list(iter_jsonl(out / "val.jsonl"))
    heldout = list(iter_jsonl(out / "heldout.jsonl"))

    # blend share: the slice makes up its target share of the training lines (exact copy counts)
    by_source = Counter(t["meta"]["source"] for t in train)
    share = by_source["style"] / len(train)
    assert abs(share - 0.3) < 0.5 / len(train) + 1 / len(train)
    style = summary.sources["style"]
    assert style.factor > 1 and by_source["style"] == round(style.factor * style.train)
    assert json.loads((out / "manifest.json").read_text())["sources"]["style"][
        "train_share"
    ] == pytest.approx(share)

    # held-out task types never reach train or val; every trace of that type is held out
    assert {t["meta"]["task_type"] for t in heldout} == {"targeted_search"}
    assert all(t["meta"]["behaviour"] != "targeted_search" for t in train + val)
    assert len(heldout) == 6

    # every planted identifier is gone from every output, and the tool names were mapped
    for name in ("train.jsonl", "val.jsonl", "heldout.jsonl", "manifest.json", "REPORT.md"):
        text = (out / name).read_text()
        for identifier in PLANTED:
            assert identifier not in text, (name, identifier)
        assert '"bash"' not in text and '"grep"' not in text and '"cat"' not in text
    curated = [t for t in train if t["meta"]["source"] == "style"]
    assert any("~user1/work/repo" in t["messages"][1]["content"] for t in curated)
    assert {t["meta"]["curated_by"] for t in curated} == {"user1"}
    replaced = summary.deid
    for kind in ("home_path", "email", "hostname", "ip_address", "secret", "username", "absolute_path"):
        assert replaced[kind] > 0, kind
    assert replaced["tool_name:bash→run_tests"] > 0 and replaced["tool_name:cat→read_file"] > 0
    report = (out / "REPORT.md").read_text()
    assert "raw 46 → dropped 1 → kept 45" in report
    assert "- duplicate: 1" in report and "tool_name:cat→read_file" in report
    assert "×" in report and "(target 30.0%)" in report


def test_shuffle_is_deterministic_per_seed_and_differs_across_seeds(
    inputs: tuple[Path, Path], tmp_path: Path, gate_context: GateContext
) -> None:
    _build(inputs, tmp_path / "s1", gate_context, seed=1)
    _build(inputs, tmp_path / "s1b", gate_context, seed=1)
    _build(inputs, tmp_path / "s2", gate_context, seed=2)
    for split in ("train.jsonl", "val.jsonl", "heldout.jsonl"):
        assert (tmp_path / "s1" / split).read_bytes() == (tmp_path / "s1b" / split).read_bytes()
    first = _lines(tmp_path / "s1" / "train.jsonl") + _lines(tmp_path / "s1" / "val.jsonl")
    second = _lines(tmp_path / "s2" / "train.jsonl") + _lines(tmp_path / "s2" / "val.jsonl")
    assert first != second
    # same material (held-out types fixed), another order and another val draw
    assert sorted(set(first)) == sorted(set(second))


def test_outputs_load_with_datasets(
    inputs: tuple[Path, Path], tmp_path: Path, gate_context: GateContext
) -> None:
    import datasets  # the corpus extra, installed by the test setup

    _build(inputs, tmp_path / "d", gate_context, seed=3, val_frac=0.2)
    files = {split: str(tmp_path / "d" / f"{split}.jsonl") for split in ("train", "val", "heldout")}
    loaded = datasets.load_dataset("json", data_files=files, cache_dir=str(tmp_path / "cache"))
    assert loaded["train"].num_rows == len(_lines(tmp_path / "d" / "train.jsonl"))
    row = loaded["train"][0]
    assert row["messages"][0]["role"] == "system" and row["tools"]


def test_heldout_by_scenario_family_and_chosen_by_seed(
    inputs: tuple[Path, Path], tmp_path: Path, gate_context: GateContext
) -> None:
    summary = _build(
        inputs,
        tmp_path / "f",
        gate_context,
        heldout_types=(),
        heldout_by="scenario",
        heldout_frac=0.3,
        seed=5,
    )
    assert len(summary.heldout_types) == 1 and summary.heldout_types[0] in SCENARIOS
    family = summary.heldout_types[0]
    train = list(iter_jsonl(tmp_path / "f" / "train.jsonl"))
    assert all(t["meta"]["task_type"] != family for t in train)
    assert all(t["meta"]["task_type"] == family for t in iter_jsonl(tmp_path / "f" / "heldout.jsonl"))


def test_near_duplicates_are_removed_across_sources(
    inputs: tuple[Path, Path], tmp_path: Path, gate_context: GateContext
) -> None:
    export, _ = inputs
    first = next(iter_jsonl(export / "shard-00000.jsonl"))
    near = json.loads(json.dumps(first))
    last = next(m for m in reversed(near["messages"]) if m["role"] == "assistant")
    last["content"] += " Nothing else changed."  # a few words more: not exact, but near
    path = tmp_path / "near.jsonl"
    path.write_text(json.dumps(near) + "\n")
    options = BuildOptions(
        backbones=[export], out_dir=tmp_path / "n", slices=[SliceSpec("near", path)], heldout_frac=0
    )
    summary = build_corpus(options, gate_context)
    assert summary.sources["near"].drop_reasons == Counter({"near_duplicate": 1})
    options = BuildOptions(
        backbones=[export],
        out_dir=tmp_path / "n2",
        slices=[SliceSpec("near", path)],
        heldout_frac=0,
        near_dup_threshold=None,
    )
    assert build_corpus(options, gate_context).sources["near"].kept == 1


def test_gates_drop_what_deidentification_cannot_repair(
    inputs: tuple[Path, Path], tmp_path: Path, gate_context: GateContext
) -> None:
    export, _ = inputs
    trace = next(iter_jsonl(export / "shard-00000.jsonl"))
    unknown_tool = json.loads(json.dumps(trace))
    for message in unknown_tool["messages"]:
        for call in message.get("tool_calls") or []:
            call["function"]["name"] = "frobnicate"
    truncated = json.loads(json.dumps(trace))
    truncated["messages"] = truncated["messages"][:3]
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(unknown_tool) + "\n" + json.dumps(truncated) + "\n" + '{"messages": 3}\n')
    options = BuildOptions(
        backbones=[], out_dir=tmp_path / "g", slices=[SliceSpec("bad", path)], heldout_frac=0
    )
    summary = build_corpus(options, gate_context)
    assert summary.kept == 0 and summary.dropped == 3
    assert summary.drop_reasons["vocabulary_violation"] == 1
    assert summary.drop_reasons["incomplete_trace"] == 1
    assert summary.drop_reasons["malformed_output"] == 1


def test_a_bad_input_names_the_file_and_line_and_leaves_nothing(
    inputs: tuple[Path, Path], tmp_path: Path, gate_context: GateContext
) -> None:
    export, _ = inputs
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"messages": []}\n\n{not json\n')
    options = BuildOptions(backbones=[export], out_dir=tmp_path / "x", slices=[SliceSpec("b", broken)])
    with pytest.raises(CorpusInputError, match=r"broken\.jsonl:3: not valid JSON"):
        build_corpus(options, gate_context)
    assert not (tmp_path / "x").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".x.")] == []


def test_oversample_factors() -> None:
    specs = [SliceSpec("a", Path("a"), target_share=0.2), SliceSpec("b", Path("b"), oversample=2.0)]
    factors = oversample_factors({"bb": 700, "a": 50, "b": 50}, specs)
    # the rest is 700 + 2×50 = 800 lines = 80 % of the blend, so a makes 200 lines: factor 4
    assert factors == {"bb": 1.0, "a": pytest.approx(4.0), "b": 2.0}
    assert oversample_factors({"bb": 10, "a": 0}, specs[:1])["a"] == 0.0
    with pytest.raises(ValueError, match="not both"):
        SliceSpec("c", Path("c"), oversample=2, target_share=0.1)


def test_an_unknown_heldout_type_is_reported(
    inputs: tuple[Path, Path], tmp_path: Path, gate_context: GateContext
) -> None:
    summary = _build(inputs, tmp_path / "u", gate_context, heldout_types=("no_such_behaviour",))
    assert summary.manifest["heldout"]["not_found"] == ["no_such_behaviour"]
    assert summary.splits["heldout"] == 0
    assert "warning: no kept trace has the held-out type(s) no_such_behaviour" in summary.report
