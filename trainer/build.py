"""`corpus build`: exported corpora + curated slices → train/val/heldout JSONL, manifest and report.

Steps, in order (each counted in the report):

1. **read** every input, streamed: the backbone corpora in the order given, then the slices;
2. **de-identify** (`trainer.deid`), before judging, so a curated trace with real tool names or
   identifiers is repaired rather than dropped;
3. **gate** with the service's own `run_gates` and a `GateContext` built from the catalog;
4. **exact duplicates** by `content_key` (the service's key), then **near duplicates**: MinHash over the
   normalized text of the assistant turns (what training supervises) at `near_dup_threshold`. The first
   occurrence wins, so input order decides which copy stays. Measured on the scripted backbone, two
   distinct honest traces of the same behaviour and scenario reach at most ~0.6 Jaccard on their
   assistant text (~0.9 on the whole trace, whose prompt and file contents repeat), hence the scope
   and the 0.8 default;
5. **held-out split** by task type (`behaviour`, or scenario family = the scenario id's project part):
   every trace of a held-out type goes to `heldout.jsonl`, so the held-out set tests generalisation;
   of the rest a seeded `val_frac` goes to `val.jsonl`;
6. **blend** the training part: each slice is oversampled by its factor (given, or computed so the slice
   makes up `target_share` of the training blend), with exact copy counts, then a seeded shuffle.

Memory bound. Traces are never held in a list: pass 1 streams each kept trace (as its final output line)
into a spill file inside the staging folder and keeps only a fixed-size index entry per kept trace
(offset, length, source, task type, layer, a 64-bit hash: ~30 bytes) plus the dedupe state (a 32-byte
key and a MinHash signature with its LSH entries: ~1 KB). Pass 2 shuffles index arrays and copies lines
from the spill file by offset. So memory is O(kept traces × ~1 KB) and independent of trace size; the
largest single trace bounds the rest. Outputs are written into a staging folder and moved into place at
the end: a failed build leaves no half-written corpus.
"""

from __future__ import annotations

import hashlib
import random
import shutil
import tempfile
from array import array
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from gen_service.core.gates import GateContext, content_key, run_gates
from gen_service.core.vocabulary import Vocabulary
from gen_service.serialization import dumps, dumps_str
from trainer.deid import DeidConfig, Deidentifier
from trainer.minhash import DEFAULT_NUM_PERM, NearDupIndex
from trainer.sources import CorpusInputError, Source, backbone_source, read_records, slice_source

__all__ = [
    "CORPUS_SCHEMA",
    "BuildOptions",
    "BuildSummary",
    "SliceSpec",
    "assistant_text",
    "build_corpus",
    "oversample_factors",
    "task_type",
]

CORPUS_SCHEMA = "tracegen.sft-corpus/1"
DUPLICATE = "duplicate"
NEAR_DUPLICATE = "near_duplicate"
UNKNOWN_TYPE = "unknown"
HELDOUT_BY = ("behaviour", "scenario")
NEAR_DUP_SCOPES = ("assistant", "all")


@dataclass(frozen=True, slots=True)
class SliceSpec:
    """A curated slice: JSONL traces under a source name, oversampled by a factor or to a target share
    of the training blend (at most one of the two; neither means factor 1)."""

    name: str
    path: Path
    oversample: float | None = None
    target_share: float | None = None

    def __post_init__(self) -> None:
        if self.oversample is not None and self.target_share is not None:
            raise ValueError(f"slice {self.name!r}: give an oversample factor or a target share, not both")
        if self.oversample is not None and not self.oversample >= 0:
            raise ValueError(f"slice {self.name!r}: oversample factor must be >= 0")
        if self.target_share is not None and not 0 < self.target_share < 1:
            raise ValueError(f"slice {self.name!r}: target share must be in (0, 1)")


@dataclass(frozen=True)
class BuildOptions:
    """Everything a build needs besides the gate context. Defaults are the CLI's."""

    backbones: Sequence[Path]
    out_dir: Path
    slices: Sequence[SliceSpec] = ()
    seed: int = 0
    val_frac: float = 0.05
    heldout_by: str = "behaviour"
    heldout_frac: float = 0.1  # share of the backbone's task types held out (at least one when > 0)
    heldout_types: Sequence[str] = ()  # explicit held-out types: overrides heldout_frac
    near_dup_threshold: float | None = 0.8  # None: no near-duplicate removal
    near_dup_scope: str = "assistant"
    num_perm: int = DEFAULT_NUM_PERM
    deid: DeidConfig = field(default_factory=DeidConfig)
    skip_bad_lines: bool = False

    def __post_init__(self) -> None:
        if not self.backbones and not self.slices:
            raise ValueError("nothing to build: give at least one exported corpus or slice")
        if self.heldout_by not in HELDOUT_BY:
            raise ValueError(f"heldout_by must be one of {list(HELDOUT_BY)}")
        if self.near_dup_scope not in NEAR_DUP_SCOPES:
            raise ValueError(f"near_dup_scope must be one of {list(NEAR_DUP_SCOPES)}")
        if not 0 <= self.val_frac < 1 or not 0 <= self.heldout_frac < 1:
            raise ValueError("val_frac and heldout_frac must be in [0, 1)")
        names = [spec.name for spec in self.slices]
        if len(set(names)) != len(names):
            raise ValueError("slice names must be distinct")
        shares = sum(spec.target_share or 0.0 for spec in self.slices)
        if shares >= 1:
            raise ValueError("slice target shares must add up to less than 1")


@dataclass
class SourceCounts:
    kind: str
    raw: int = 0
    dropped: int = 0
    kept: int = 0
    train: int = 0  # distinct traces in train
    train_copies: int = 0  # lines in train.jsonl after oversampling
    val: int = 0
    heldout: int = 0
    factor: float = 1.0
    target_share: float | None = None
    drop_reasons: Counter[str] = field(default_factory=Counter)


@dataclass
class BuildSummary:
    """What a build did; `manifest` is what manifest.json holds and `report` is REPORT.md."""

    out_dir: Path
    raw: int
    dropped: int
    kept: int
    splits: dict[str, int]
    drop_reasons: Counter[str]
    deid: Counter[str]
    sources: dict[str, SourceCounts]
    heldout_types: list[str]
    manifest: dict[str, Any]
    report: str


def task_type(meta: Mapping[str, Any], heldout_by: str) -> str:
    """The trace's task type: its behaviour, or its scenario family (the project: the part of the
    scenario id before "/"). "unknown" when meta does not say."""
    if heldout_by == "behaviour":
        value = meta.get("behaviour")
    else:
        scenario = meta.get("scenario")
        value = scenario.split("/", 1)[0] if isinstance(scenario, str) else None
    return value if isinstance(value, str) and value else UNKNOWN_TYPE


def assistant_text(trace: Mapping[str, Any]) -> str:
    """The assistant turns' text: reasoning, content, tool names and arguments (near-dup scope)."""
    pieces: list[str] = []
    for message in trace.get("messages") or ():
        if not isinstance(message, Mapping) or message.get("role") != "assistant":
            continue
        for key in ("reasoning_content", "content"):
            value = message.get(key)
            if isinstance(value, str):
                pieces.append(value)
        for call in message.get("tool_calls") or ():
            function = call.get("function") if isinstance(call, Mapping) else None
            if isinstance(function, Mapping):
                pieces.append(str(function.get("name", "")))
                pieces.append(str(function.get("arguments", "")))
    return "\n".join(pieces)


def _all_text(trace: Mapping[str, Any]) -> str:
    pieces: list[str] = []
    for message in trace.get("messages") or ():
        if isinstance(message, Mapping):
            for key in ("content", "reasoning_content"):
                value = message.get(key)
                if isinstance(value, str):
                    pieces.append(value)
    return "\n".join(pieces) + "\n" + assistant_text(trace)


def oversample_factors(train_counts: Mapping[str, int], specs: Sequence[SliceSpec]) -> dict[str, float]:
    """The factor of every source in the training blend.

    Backbones and slices without a setting get 1; a slice with `oversample` gets it. Slices with a
    `target_share` s_i share the blend T = R / (1 − Σ s_i), where R is the number of lines the other
    sources contribute, and get factor s_i·T / n_i (n_i: the slice's distinct training traces). A slice
    with no training traces gets 0.
    """
    factors = {name: 1.0 for name in train_counts}
    by_name = {spec.name: spec for spec in specs}
    rest = 0.0
    for name, count in train_counts.items():
        spec = by_name.get(name)
        if spec is not None and spec.target_share is not None:
            continue
        if spec is not None and spec.oversample is not None:
            factors[name] = spec.oversample
        rest += factors[name] * count
    shares = sum(spec.target_share for spec in specs if spec.target_share is not None)
    total = rest / (1.0 - shares) if shares < 1 else 0.0
    for spec in specs:
        if spec.target_share is None:
            continue
        count = train_counts.get(spec.name, 0)
        factors[spec.name] = (spec.target_share * total / count) if count else 0.0
    return factors


# --------------------------------------------------------------------------------------------------


class _Interner:
    def __init__(self) -> None:
        self.names: list[str] = []
        self._ids: dict[str, int] = {}

    def __call__(self, name: str) -> int:
        found = self._ids.get(name)
        if found is None:
            found = self._ids[name] = len(self.names)
            self.names.append(name)
        return found


@dataclass
class _Index:
    """One fixed-size entry per kept trace (see the module docstring's memory bound)."""

    offset: array[int] = field(default_factory=lambda: array("q"))
    length: array[int] = field(default_factory=lambda: array("l"))
    source: array[int] = field(default_factory=lambda: array("H"))
    type_id: array[int] = field(default_factory=lambda: array("l"))
    layer: array[int] = field(default_factory=lambda: array("H"))
    key: array[int] = field(default_factory=lambda: array("Q"))  # 64 bits of the content key


def _unit(seed: int, purpose: str, key: int) -> float:
    """A uniform number in [0, 1) from (seed, purpose, key): order-independent and reproducible."""
    digest = hashlib.blake2b(f"{seed}|{purpose}|{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def _output_meta(meta: Mapping[str, Any], source: str, kind: str, type_name: str) -> dict[str, str]:
    """Meta as strings only (non-strings JSON-encoded), so every output line has one Arrow schema."""
    out = {str(k): v if isinstance(v, str) else dumps_str(v) for k, v in meta.items()}
    out["source"] = source
    out["source_kind"] = kind
    out["task_type"] = type_name
    return out


def build_corpus(
    options: BuildOptions,
    gate_context: GateContext,
    *,
    vocabulary: Vocabulary | None = None,
    layer_of: Callable[[str], str | None] | None = None,
    progress: Callable[[str], None] | None = None,
) -> BuildSummary:
    """Run the whole build (module docstring) and write `options.out_dir`.

    `vocabulary` gives the tool specs de-identification writes into `tools` (default: the installed
    vocabulary, limited to the names the gate context allows). `layer_of(behaviour)` names a
    behaviour's layer when a trace's meta does not (default: the gate context's behaviours, when they
    have a `layer`). Raises CorpusInputError (a ValueError) naming the
    file and line when an input is unusable; nothing is left in `out_dir` then.
    """
    sources = [backbone_source(path) for path in options.backbones]
    names_seen: Counter[str] = Counter()
    for position, source in enumerate(sources):
        names_seen[source.name] += 1
        if names_seen[source.name] > 1:  # two exports of jobs with one name: keep them apart
            sources[position] = Source(
                name=f"{source.name}#{names_seen[source.name]}",
                kind=source.kind,
                path=source.path,
                files=source.files,
                manifest=source.manifest,
            )
    sources += [slice_source(spec.name, spec.path) for spec in options.slices]
    clash = {s.name for s in sources if s.kind == "backbone"} & {spec.name for spec in options.slices}
    if clash:
        raise CorpusInputError(f"slice name(s) {sorted(clash)} clash with a backbone corpus name")
    if layer_of is None:
        behaviours = gate_context.behaviours

        def layer_of(name: str) -> str | None:
            behaviour = behaviours.get(name)
            layer = getattr(behaviour, "layer", None)
            return layer if isinstance(layer, str) else None

    if vocabulary is None:
        from gen_service.catalog import load_vocabulary

        installed = load_vocabulary()
        vocabulary = Vocabulary(tools=tuple(t for t in installed.tools if t.name in gate_context.vocabulary))
    out_dir = options.out_dir
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        summary = _build(
            options, gate_context, vocabulary, sources, layer_of, staging, progress or (lambda _: None)
        )
        if out_dir.exists():
            shutil.rmtree(out_dir)
        staging.rename(out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    summary.out_dir = out_dir
    return summary


def _build(
    options: BuildOptions,
    context: GateContext,
    vocabulary: Vocabulary,
    sources: list[Source],
    layer_of: Callable[[str], str | None],
    staging: Path,
    progress: Callable[[str], None],
) -> BuildSummary:
    deidentifier = Deidentifier(options.deid, vocabulary)
    counts = {s.name: SourceCounts(kind=s.kind) for s in sources}
    drop_reasons: Counter[str] = Counter()
    deid_traces = 0
    seen_keys: set[bytes] = set()
    near = (
        NearDupIndex(options.near_dup_threshold, num_perm=options.num_perm)
        if options.near_dup_threshold is not None
        else None
    )
    near_text = assistant_text if options.near_dup_scope == "assistant" else _all_text
    types = _Interner()
    layers = _Interner()
    source_ids = {s.name: i for i, s in enumerate(sources)}
    index = _Index()
    spill_path = staging / ".spill.jsonl"
    with spill_path.open("wb") as spill:
        position = 0
        for source in sources:
            tally = counts[source.name]
            for record in read_records(source, skip_bad_lines=options.skip_bad_lines):
                tally.raw += 1
                value = record.value
                if isinstance(value, Mapping):
                    before = sum(deidentifier.counts.values())
                    value = deidentifier.deidentify(value)
                    if sum(deidentifier.counts.values()) != before:
                        deid_traces += 1
                trace, rejections = run_gates(value, context)
                if trace is None or rejections:
                    _drop(tally, drop_reasons, [str(r.reason) for r in rejections])
                    continue
                trace_json = trace.to_json()
                key = bytes.fromhex(content_key(trace_json))
                if key in seen_keys:
                    _drop(tally, drop_reasons, [DUPLICATE])
                    continue
                if near is not None:
                    signature = near.signature(near_text(trace_json))
                    if near.query(signature) is not None:
                        _drop(tally, drop_reasons, [NEAR_DUPLICATE])
                        continue
                    near.insert(signature)
                seen_keys.add(key)
                tally.kept += 1
                meta = trace_json["meta"]
                type_name = task_type(meta, options.heldout_by)
                behaviour = meta.get("behaviour")
                layer = meta.get("layer")
                if not isinstance(layer, str) or not layer:
                    layer = (layer_of(behaviour) if isinstance(behaviour, str) else None) or "unknown"
                trace_json["meta"] = _output_meta(meta, source.name, source.kind, type_name)
                line = dumps(trace_json) + b"\n"
                spill.write(line)
                index.offset.append(position)
                index.length.append(len(line))
                index.source.append(source_ids[source.name])
                index.type_id.append(types(type_name))
                index.layer.append(layers(layer))
                index.key.append(int.from_bytes(key[:8], "big"))
                position += len(line)
                if (tally.raw % 2000) == 0:
                    progress(f"{source.name}: read {tally.raw:,}, kept {tally.kept:,}")
    del seen_keys, near  # pass 2 needs only the index
    progress("pass 1 done; splitting and blending")

    kept = len(index.offset)
    type_of = np.array(index.type_id, dtype=np.int64)
    source_of = np.array(index.source, dtype=np.int64)
    heldout_names = _choose_heldout(options, sources, types, source_of, type_of)
    heldout_ids = {types.names.index(name) for name in heldout_names if name in types.names}

    split = np.zeros(kept, dtype=np.int8)  # 0 train, 1 val, 2 heldout
    for i in range(kept):
        if int(type_of[i]) in heldout_ids:
            split[i] = 2
        elif options.val_frac and _unit(options.seed, "val", index.key[i]) < options.val_frac:
            split[i] = 1

    train_counts: dict[str, int] = {}
    for s in sources:
        sid = source_ids[s.name]
        in_source = source_of == sid
        counts[s.name].train = int(np.sum(in_source & (split == 0)))
        counts[s.name].val = int(np.sum(in_source & (split == 1)))
        counts[s.name].heldout = int(np.sum(in_source & (split == 2)))
        train_counts[s.name] = counts[s.name].train
    factors = oversample_factors(train_counts, options.slices)
    for spec in options.slices:
        counts[spec.name].target_share = spec.target_share

    train_entries: list[np.ndarray[Any, np.dtype[np.int64]]] = []
    for s in sources:
        sid = source_ids[s.name]
        members = np.nonzero((source_of == sid) & (split == 0))[0]
        factor = factors.get(s.name, 1.0)
        counts[s.name].factor = factor
        copies = _copies(members, factor, options.seed, s.name, index.key)
        counts[s.name].train_copies = int(copies.size)
        train_entries.append(copies)
    train = np.concatenate(train_entries) if train_entries else np.zeros(0, dtype=np.int64)
    rng = np.random.default_rng(options.seed)
    train = train[rng.permutation(train.size)]
    val = np.nonzero(split == 1)[0]
    val = val[rng.permutation(val.size)]
    heldout = np.nonzero(split == 2)[0]
    heldout = heldout[rng.permutation(heldout.size)]

    outputs: dict[str, dict[str, Any]] = {}
    with spill_path.open("rb") as spill:
        for name, entries in (("train", train), ("val", val), ("heldout", heldout)):
            outputs[name] = _write_split(staging / f"{name}.jsonl", spill, entries, index)
    spill_path.unlink()

    per_layer: dict[str, dict[str, int]] = {}
    layer_ids = np.array(index.layer, dtype=np.int64)
    for lid, layer_name in enumerate(layers.names):
        in_layer = layer_ids == lid
        per_layer[layer_name] = {
            "kept": int(np.sum(in_layer)),
            "train": int(np.sum(in_layer[train])) if train.size else 0,
            "val": int(np.sum(in_layer & (split == 1))),
            "heldout": int(np.sum(in_layer & (split == 2))),
        }
    per_type = Counter(
        {types.names[t]: int(n) for t, n in zip(*np.unique(type_of, return_counts=True), strict=True)}
    )

    raw = sum(c.raw for c in counts.values())
    dropped = sum(c.dropped for c in counts.values())
    splits = {name: info["lines"] for name, info in outputs.items()}
    deid_counts = Counter(deidentifier.counts)
    manifest = _manifest(
        options, sources, counts, raw, dropped, kept, drop_reasons, deid_counts, deid_traces,
        per_layer, per_type, heldout_names, outputs,
    )  # fmt: skip
    report = render_report(manifest)
    (staging / "manifest.json").write_bytes(dumps(manifest))
    (staging / "REPORT.md").write_text(report)
    return BuildSummary(
        out_dir=staging,
        raw=raw,
        dropped=dropped,
        kept=kept,
        splits=splits,
        drop_reasons=drop_reasons,
        deid=deid_counts,
        sources=counts,
        heldout_types=heldout_names,
        manifest=manifest,
        report=report,
    )


def _drop(tally: SourceCounts, reasons: Counter[str], names: list[str]) -> None:
    tally.dropped += 1
    for name in names:
        tally.drop_reasons[name] += 1
        reasons[name] += 1


def _choose_heldout(
    options: BuildOptions,
    sources: list[Source],
    types: _Interner,
    source_of: np.ndarray[Any, Any],
    type_of: np.ndarray[Any, Any],
) -> list[str]:
    if options.heldout_types:
        return sorted(set(options.heldout_types))
    if options.heldout_frac <= 0:
        return []
    backbone_ids = [i for i, s in enumerate(sources) if s.kind == "backbone"]
    eligible_ids = (
        set(np.unique(type_of[np.isin(source_of, backbone_ids)]).tolist()) if type_of.size else set()
    )
    eligible = sorted(types.names[t] for t in eligible_ids if types.names[t] != UNKNOWN_TYPE)
    if len(eligible) < 2:
        return []  # holding out the only type would leave nothing to train on
    count = min(len(eligible) - 1, max(1, round(options.heldout_frac * len(eligible))))
    return sorted(random.Random(f"heldout|{options.seed}").sample(eligible, count))


def _copies(
    members: np.ndarray[Any, np.dtype[np.int64]], factor: float, seed: int, name: str, keys: array[int]
) -> np.ndarray[Any, np.dtype[np.int64]]:
    """round(factor × n) entries: every member ⌊·/n⌋ times, the remainder given to a seeded choice."""
    n = members.size
    if n == 0:
        return members.astype(np.int64)
    total = round(factor * n)
    base, extra = divmod(total, n)
    parts = [np.repeat(members, base)] if base else []
    if extra:
        order = sorted(members.tolist(), key=lambda i: _unit(seed, f"copy|{name}", keys[i]))
        parts.append(np.array(sorted(order[:extra]), dtype=np.int64))
    return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, dtype=np.int64)


def _write_split(path: Path, spill: BinaryIO, entries: np.ndarray[Any, Any], index: _Index) -> dict[str, Any]:
    digest = hashlib.sha256()
    with path.open("wb") as handle:
        for entry in entries.tolist():
            spill.seek(index.offset[entry])
            line = spill.read(index.length[entry])
            handle.write(line)
            digest.update(line)
    return {"file": path.name, "lines": int(entries.size), "sha256": digest.hexdigest()}


def _manifest(
    options: BuildOptions,
    sources: list[Source],
    counts: Mapping[str, SourceCounts],
    raw: int,
    dropped: int,
    kept: int,
    drop_reasons: Counter[str],
    deid_counts: Counter[str],
    deid_traces: int,
    per_layer: Mapping[str, Mapping[str, int]],
    per_type: Counter[str],
    heldout_types: list[str],
    outputs: Mapping[str, Mapping[str, Any]],
) -> dict[str, Any]:
    train_lines = int(outputs["train"]["lines"])
    return {
        "schema": CORPUS_SCHEMA,
        "built_at": datetime.now(UTC).isoformat(),
        "options": {
            "seed": options.seed,
            "val_frac": options.val_frac,
            "heldout_by": options.heldout_by,
            "heldout_frac": options.heldout_frac,
            "heldout_types": list(options.heldout_types),
            "near_dup_threshold": options.near_dup_threshold,
            "near_dup_scope": options.near_dup_scope,
            "num_perm": options.num_perm,
        },
        "inputs": [
            {
                "name": s.name,
                "kind": s.kind,
                "path": str(s.path),
                "content_sha256": s.content_sha256,
                "job": (s.manifest or {}).get("job"),
            }
            for s in sources
        ],
        "counts": {"raw": raw, "dropped": dropped, "kept": kept},
        "drop_reasons": dict(drop_reasons.most_common()),
        "deidentification": {
            "traces_changed": deid_traces,
            "replacements": dict(sorted(deid_counts.items())),
        },
        "sources": {
            name: {
                "kind": c.kind,
                "raw": c.raw,
                "dropped": c.dropped,
                "kept": c.kept,
                "drop_reasons": dict(c.drop_reasons.most_common()),
                "train": c.train,
                "val": c.val,
                "heldout": c.heldout,
                "oversample_factor": round(c.factor, 6),
                "target_share": c.target_share,
                "train_lines": c.train_copies,
                "train_share": (c.train_copies / train_lines) if train_lines else 0.0,
            }
            for name, c in counts.items()
        },
        "per_layer": dict(sorted(per_layer.items())),
        "per_task_type": dict(sorted(per_type.items())),
        "heldout": {
            "by": options.heldout_by,
            "types": heldout_types,
            "not_found": sorted(set(heldout_types) - set(per_type)),  # asked for, but no kept trace has it
        },
        "outputs": dict(outputs),
    }


def render_report(manifest: Mapping[str, Any]) -> str:
    """REPORT.md, in the seed's form: raw N → dropped M → kept K, then the details."""
    counts = manifest["counts"]
    lines = [
        "# Corpus build report",
        "",
        f"raw {counts['raw']:,} → dropped {counts['dropped']:,} → kept {counts['kept']:,}",
        "",
        "Splits: "
        + " · ".join(f"{name} {info['lines']:,}" for name, info in manifest["outputs"].items())
        + f" (seed {manifest['options']['seed']})",
        "",
        "## Drop reasons (a trace failing several gates counts under each)",
        "",
    ]
    reasons: Mapping[str, int] = manifest["drop_reasons"]
    lines += [f"- {reason}: {n:,}" for reason, n in reasons.items()] or ["- none"]
    deid = manifest["deidentification"]
    lines += [
        "",
        f"## De-identification ({deid['traces_changed']:,} traces changed)",
        "",
    ]
    replacements: Mapping[str, int] = deid["replacements"]
    lines += [
        f"- {kind}: {n:,}" for kind, n in sorted(replacements.items(), key=lambda kv: (-kv[1], kv[0]))
    ] or ["- nothing replaced"]
    lines += [
        "",
        "## Per source",
        "",
        "| source | kind | raw | dropped | kept | train | val | heldout | oversample | train lines | share |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, s in manifest["sources"].items():
        target = f" (target {s['target_share']:.1%})" if s["target_share"] is not None else ""
        lines.append(
            f"| {name} | {s['kind']} | {s['raw']:,} | {s['dropped']:,} | {s['kept']:,} | {s['train']:,} "
            f"| {s['val']:,} | {s['heldout']:,} | ×{s['oversample_factor']:.2f} | {s['train_lines']:,} "
            f"| {s['train_share']:.1%}{target} |"
        )
    lines += [
        "",
        "## Per layer (kept)",
        "",
        "| layer | kept | train lines | val | heldout |",
        "|---|---:|---:|---:|---:|",
    ]
    for layer, c in manifest["per_layer"].items():
        lines.append(f"| {layer} | {c['kept']:,} | {c['train']:,} | {c['val']:,} | {c['heldout']:,} |")
    heldout = manifest["heldout"]
    lines += [
        "",
        f"## Held-out task types (by {heldout['by']})",
        "",
        ", ".join(heldout["types"]) if heldout["types"] else "none",
        "",
    ]
    if heldout.get("not_found"):
        lines += [f"warning: no kept trace has the held-out type(s) {', '.join(heldout['not_found'])}", ""]
    return "\n".join(lines)


def iter_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """The decoded lines of an output JSONL file (for tests and the tokenize step)."""
    from gen_service.serialization import loads

    with path.open("rb") as handle:
        for raw in handle:
            if raw.strip():
                value = loads(raw)
                if isinstance(value, dict):
                    yield value
