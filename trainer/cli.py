"""`tracegen corpus ...`: the trainer's data commands (`build`, `tokenize`).

Exit status: 0 on success; 2 for an invalid option; 1 when an input is unusable (the message names the
file and, for a bad line, the line) or the catalog is broken.
"""

from __future__ import annotations

import sys
import time
import tomllib
from pathlib import Path

import click

__all__ = ["corpus"]


@click.group("corpus")
def corpus() -> None:
    """Turn exported corpora into SFT data: build (assemble, filter, blend, split), tokenize."""


def _parse_pairs(values: tuple[str, ...], option: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for value in values:
        name, sep, rest = value.partition("=")
        if not sep or not name or not rest:
            raise click.BadParameter(f"expected NAME=VALUE, got {value!r}", param_hint=option)
        if name in pairs:
            raise click.BadParameter(f"{name!r} given twice", param_hint=option)
        pairs[name] = rest
    return pairs


def _parse_floats(values: tuple[str, ...], option: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for name, text in _parse_pairs(values, option).items():
        try:
            out[name] = float(text)
        except ValueError:
            raise click.BadParameter(f"{name}: {text!r} is not a number", param_hint=option) from None
    return out


@corpus.command("build")
@click.argument("backbones", nargs=-1, type=click.Path(path_type=Path))
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path), help="Output folder.")
@click.option(
    "--slice",
    "slices",
    multiple=True,
    metavar="NAME=PATH.jsonl",
    help="A curated slice (JSONL traces) under a source name; repeatable.",
)
@click.option(
    "--oversample",
    multiple=True,
    metavar="NAME=FACTOR",
    help="Oversample factor of a slice in the training blend (e.g. style=3, or 2.5).",
)
@click.option(
    "--target-share",
    multiple=True,
    metavar="NAME=SHARE",
    help="Share of the training blend a slice should make up (0-1); the factor is computed.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the splits and the shuffle.")
@click.option("--val-frac", type=click.FloatRange(0, 1, max_open=True), default=0.05, show_default=True)
@click.option(
    "--heldout-by",
    type=click.Choice(["behaviour", "scenario"]),
    default="behaviour",
    show_default=True,
    help="Task type of the held-out split: the behaviour, or the scenario family (project).",
)
@click.option(
    "--heldout-frac",
    type=click.FloatRange(0, 1, max_open=True),
    default=0.1,
    show_default=True,
    help="Share of the backbone's task types held out (at least one when > 0), chosen by the seed.",
)
@click.option(
    "--heldout-type",
    "heldout_types",
    multiple=True,
    help="Hold out this task type (repeatable); overrides --heldout-frac.",
)
@click.option(
    "--near-dup-threshold",
    type=click.FloatRange(0, 1, min_open=True),
    default=0.8,
    show_default=True,
    help="MinHash Jaccard estimate at or above which a trace is a near duplicate of an earlier one.",
)
@click.option("--no-near-dup", is_flag=True, help="Skip near-duplicate removal (exact duplicates still go).")
@click.option(
    "--near-dup-scope",
    type=click.Choice(["assistant", "all"]),
    default="assistant",
    show_default=True,
    help="What the MinHash compares: the assistant turns (supervised text) or every message.",
)
@click.option(
    "--deid-config",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="TOML: tool_map, public_hosts, workspace_roots, identifiers, promote_test_commands.",
)
@click.option("--max-tokens", type=click.IntRange(min=1), default=None, help="Token cap of prompt_over_cap.")
@click.option(
    "--tokenizer",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="A tokenizer.json for exact token counts in prompt_over_cap.",
)
@click.option(
    "--skip-bad-lines",
    is_flag=True,
    help="Count a line that is not JSON as malformed_output instead of stopping with an error.",
)
@click.option("--quiet", is_flag=True, help="Print only the summary line.")
def build_command(
    backbones: tuple[Path, ...],
    out_dir: Path,
    slices: tuple[str, ...],
    oversample: tuple[str, ...],
    target_share: tuple[str, ...],
    seed: int,
    val_frac: float,
    heldout_by: str,
    heldout_frac: float,
    heldout_types: tuple[str, ...],
    near_dup_threshold: float,
    no_near_dup: bool,
    near_dup_scope: str,
    deid_config: Path | None,
    max_tokens: int | None,
    tokenizer: Path | None,
    skip_bad_lines: bool,
    quiet: bool,
) -> None:
    """Build train/val/heldout JSONL from exported corpora BACKBONES... and curated --slice inputs.

    De-identify, re-gate, remove exact and near duplicates, hold out task types, oversample slices,
    shuffle. Writes train.jsonl, val.jsonl, heldout.jsonl, manifest.json and REPORT.md into --out.
    """
    from gen_service.core.gates import DEFAULT_MAX_TOKENS, GateContext
    from trainer.build import BuildOptions, SliceSpec, build_corpus
    from trainer.deid import DeidConfig
    from trainer.sources import CorpusInputError

    slice_paths = _parse_pairs(slices, "'--slice'")
    factors = _parse_floats(oversample, "'--oversample'")
    shares = _parse_floats(target_share, "'--target-share'")
    for option, names in (("'--oversample'", factors), ("'--target-share'", shares)):
        unknown = sorted(set(names) - set(slice_paths))
        if unknown:
            raise click.BadParameter(f"no --slice named {unknown}", param_hint=option)
    deid = DeidConfig()
    if deid_config is not None:
        try:
            with deid_config.open("rb") as handle:
                deid = DeidConfig.from_mapping(tomllib.load(handle))
        except (tomllib.TOMLDecodeError, ValueError) as exc:
            raise click.BadParameter(f"{deid_config}: {exc}", param_hint="'--deid-config'") from None
    from gen_service.token_counting import TokenizerLoadError, token_counter_for

    try:
        count_tokens = token_counter_for(tokenizer)
    except TokenizerLoadError as exc:
        raise click.BadParameter(str(exc), param_hint="'--tokenizer'") from None
    try:
        specs = tuple(
            SliceSpec(name, Path(path), oversample=factors.get(name), target_share=shares.get(name))
            for name, path in slice_paths.items()
        )
        options = BuildOptions(
            backbones=backbones,
            out_dir=out_dir,
            slices=specs,
            seed=seed,
            val_frac=val_frac,
            heldout_by=heldout_by,
            heldout_frac=heldout_frac,
            heldout_types=heldout_types,
            near_dup_threshold=None if no_near_dup else near_dup_threshold,
            near_dup_scope=near_dup_scope,
            deid=deid,
            skip_bad_lines=skip_bad_lines,
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    try:
        from gen_service.catalog import load_behaviours, load_vocabulary

        context = GateContext(
            vocabulary=load_vocabulary().names,
            behaviours=load_behaviours(),
            max_tokens=max_tokens or DEFAULT_MAX_TOKENS,
            count_tokens=count_tokens,
        )
    except ValueError as exc:
        raise click.ClickException(f"the installed behaviour pool or vocabulary is broken: {exc}") from None
    started = time.perf_counter()

    def progress(message: str) -> None:
        if not quiet:
            click.echo(message, err=True)

    try:
        summary = build_corpus(options, context, progress=progress)
    except CorpusInputError as exc:
        raise click.ClickException(str(exc)) from None
    elapsed = time.perf_counter() - started
    if not quiet:
        click.echo(summary.report)
    splits = " · ".join(f"{name} {n:,}" for name, n in summary.splits.items())
    click.echo(
        f"raw {summary.raw:,} → dropped {summary.dropped:,} → kept {summary.kept:,}; {splits}; "
        f"wrote {summary.out_dir} in {elapsed:.1f}s"
    )


@corpus.command("tokenize")
@click.argument("corpus_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--tokenizer",
    "tokenizer_path",
    required=True,
    type=click.Path(exists=True, path_type=Path),
    help="A tokenizer folder (tokenizer.json + tokenizer_config.json) or a tokenizer.json file.",
)
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path), help="Output folder.")
@click.option(
    "--max-length",
    type=click.IntRange(min=8),
    default=16384,
    show_default=True,
    help="Training context in tokens; longer traces are counted and dropped.",
)
@click.option(
    "--template",
    type=click.Choice(["auto", "tokenizer", "builtin"]),
    default="auto",
    show_default=True,
    help="Chat template: the tokenizer's own (auto: when it has one) or the built-in ChatML-with-tools.",
)
@click.option("--pack", is_flag=True, help="Pack sequences into --max-length rows (position_ids reset).")
@click.option(
    "--split",
    "splits",
    multiple=True,
    default=("train", "val", "heldout"),
    show_default=True,
    help="Which split files to tokenize.",
)
def tokenize_command(
    corpus_dir: Path,
    tokenizer_path: Path,
    out_dir: Path,
    max_length: int,
    template: str,
    pack: bool,
    splits: tuple[str, ...],
) -> None:
    """Tokenize a built corpus (CORPUS_DIR) for SFT: input_ids, attention_mask and labels with only the
    assistant turns supervised. Writes <split>.parquet and TOKENIZE_REPORT.md / tokenize.json."""
    from trainer.sft import SFTError, TokenizeOptions, tokenize_corpus

    try:
        result = tokenize_corpus(
            corpus_dir,
            tokenizer_path,
            out_dir,
            TokenizeOptions(max_length=max_length, template=template, pack=pack, splits=splits),
        )
    except SFTError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(result.report)
    sys.stdout.flush()
