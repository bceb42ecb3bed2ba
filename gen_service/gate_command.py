"""`tracegen gate`: run the quality gates over a JSONL file of traces, offline.

One output line per non-blank input line, in order: `{"accepted": bool, "reasons": [...]}`. The
reasons are every failing pure gate in registry order, then `duplicate` when the line's content key
equals that of an earlier *accepted* line of the same input (a rejected line is never a dedupe
reference). Input is read as bytes, so a line that is not UTF-8 is just `malformed_output`.

Memory stays constant in the input's size except for one 32-byte key per accepted line.
Exit status: 0 whatever the verdicts; 2 when the input cannot be read (message on stderr) or an option
is invalid; 1 when the installed behaviour pool or vocabulary is broken.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO, NoReturn

import click

from gen_service.core.gates import DEFAULT_MAX_TOKENS, GateContext, Reason, content_key, run_gates
from gen_service.serialization import dumps

__all__ = ["gate", "gate_lines"]

_EXIT_UNREADABLE = 2


def gate_lines(lines: Iterable[bytes], context: GateContext) -> Iterable[dict[str, object]]:
    """The verdict for every non-blank line, in order (the command's logic, without its I/O)."""
    accepted_keys: set[bytes] = set()
    for line in lines:
        if not line.strip():
            continue
        trace, rejections = run_gates(line, context)
        reasons = [str(rejection.reason) for rejection in rejections]
        if trace is not None:
            key = bytes.fromhex(content_key(trace.to_json()))
            if key in accepted_keys:
                reasons.append(str(Reason.DUPLICATE))
            elif not reasons:
                accepted_keys.add(key)
        yield {"accepted": not reasons, "reasons": reasons}


@click.command("gate")
@click.argument("file", default="-", required=False, metavar="[FILE|-]")
@click.option(
    "--max-tokens",
    type=click.IntRange(min=1),
    default=DEFAULT_MAX_TOKENS,
    show_default=True,
    help="Token cap of prompt_over_cap.",
)
@click.option(
    "--tokenizer",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="A tokenizer.json for exact token counts (default: an estimate of 4 characters a token).",
)
def gate(file: str, max_tokens: int, tokenizer: Path | None) -> None:
    """Gate JSONL traces from FILE (or stdin for - or no FILE); print one verdict line per trace.

    Each output line is {"accepted": true|false, "reasons": [...]}. Exits 0 unless FILE cannot be read.
    """
    from gen_service.catalog import load_behaviours, load_vocabulary
    from gen_service.token_counting import TokenizerLoadError, token_counter_for

    try:
        count_tokens = token_counter_for(tokenizer)
    except TokenizerLoadError as exc:
        raise click.BadParameter(str(exc), param_hint="'--tokenizer'") from None
    try:
        context = GateContext(
            vocabulary=load_vocabulary().names,
            behaviours=load_behaviours(),
            max_tokens=max_tokens,
            count_tokens=count_tokens,
        )
    except ValueError as exc:
        raise click.ClickException(f"cannot load the behaviour pool: {exc}") from None

    name = "stdin" if file == "-" else file
    try:
        source: BinaryIO = sys.stdin.buffer if file == "-" else open(file, "rb")  # noqa: SIM115
    except OSError as exc:
        _unreadable(name, exc)
    out = sys.stdout.buffer
    try:
        for verdict in gate_lines(_read_lines(source, name), context):
            out.write(dumps(verdict) + b"\n")
            out.flush()  # a reader on a pipe sees each verdict as soon as it is decided
    except BrokenPipeError:
        _quiet_broken_pipe()
    finally:
        if file != "-":
            source.close()


def _read_lines(source: BinaryIO, name: str) -> Iterator[bytes]:
    try:
        yield from source
    except OSError as exc:
        _unreadable(name, exc)


def _unreadable(name: str, exc: OSError) -> NoReturn:
    click.echo(f"tracegen gate: cannot read {name}: {exc.strerror or exc}", err=True)
    sys.exit(_EXIT_UNREADABLE)


def _quiet_broken_pipe() -> NoReturn:
    # The reader went away (`tracegen gate big.jsonl | head`): stop quietly, like cat does, and keep
    # Python from complaining again when it flushes stdout at exit.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    sys.exit(0)
