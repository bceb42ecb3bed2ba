"""SFT formatting: render a trace with a chat template, supervise only the assistant turns.

`SFTFormatter.encode(trace)` gives `input_ids`, `attention_mask` and `labels`, where a label is the
token id for every token of an assistant turn (its reasoning, content, tool calls and the end-of-turn
token) and `IGNORE_INDEX` (-100) for everything else: system, user and tool turns, the role header
that opens an assistant turn (it is the prompt, not the answer) and the whitespace after the turn.

How the assistant spans are found, robustly and for any template: the conversation is rendered once
whole, and once for every assistant message `i` as (a) the messages before `i` with the generation
prompt and (b) the messages up to and including `i`. The span of message `i` is the text between the
ends of (a) and (b), trailing whitespace excluded. The three renderings must be prefixes of one another
(a template that rewrites earlier turns when later ones follow would make the labels wrong); otherwise
`SFTError` is raised naming the message. Character spans become token labels through the fast
tokenizer's offsets: a token is supervised when its first character lies inside a span. No string
search over the rendered text is involved.

The chat template is the tokenizer's own `chat_template`, or `CHATML_TOOLS_TEMPLATE` (ChatML with a
tools block, `<think>` reasoning and `<tool_call>` JSON, the Qwen/Hermes convention). Rendering goes
through `transformers`' `apply_chat_template`, so training and inference render alike.

Packing (`pack_examples`) concatenates whole examples into rows of `max_length` tokens, never
splitting one. Each row records `position_ids` that restart at 0 for every example and the example
lengths (`seq_lengths`); a trainer must pass `position_ids` (flash-attention varlen, or the
`DataCollatorWithFlattening` convention) or build a block-diagonal mask from `seq_lengths` so that no
example attends to another. The first token of every packed example is never supervised, so no loss
term reaches across a boundary either.
"""

from __future__ import annotations

import hashlib
import json
import statistics
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "CHATML_TOOLS_TEMPLATE",
    "IGNORE_INDEX",
    "Encoded",
    "LengthStats",
    "SFTError",
    "SFTFormatter",
    "TokenizeOptions",
    "TokenizeResult",
    "load_tokenizer",
    "pack_examples",
    "tokenize_corpus",
]

IGNORE_INDEX = -100

# ChatML with tools (Qwen 2.5/3 and Hermes style). Tool-call arguments may be a JSON string (the trace
# format) or a mapping (the Hugging Face convention).
CHATML_TOOLS_TEMPLATE = r"""
{%- if tools %}
    {{- '<|im_start|>system\n' }}
    {%- if messages[0].role == 'system' %}
        {{- messages[0].content + '\n\n' }}
    {%- endif %}
    {{- '# Tools\n\nYou may call one or more functions to assist with the user query.\n\n' }}
    {{- 'You are provided with function signatures within <tools></tools> XML tags:\n<tools>' }}
    {%- for tool in tools %}
        {{- '\n' + (tool | tojson) }}
    {%- endfor %}
    {{- '\n</tools>\n\nFor each function call, return a json object with function name and arguments ' }}
    {{- 'within <tool_call></tool_call> XML tags:\n<tool_call>\n{"name": <function-name>, ' }}
    {{- '"arguments": <args-json-object>}\n</tool_call><|im_end|>\n' }}
{%- elif messages[0].role == 'system' %}
    {{- '<|im_start|>system\n' + messages[0].content + '<|im_end|>\n' }}
{%- endif %}
{%- for message in messages %}
    {%- if message.role == 'system' %}
        {%- if not loop.first %}
            {{- '<|im_start|>system\n' + message.content + '<|im_end|>\n' }}
        {%- endif %}
    {%- elif message.role == 'user' %}
        {{- '<|im_start|>user\n' + message.content + '<|im_end|>\n' }}
    {%- elif message.role == 'assistant' %}
        {{- '<|im_start|>assistant\n' }}
        {%- if message.reasoning_content %}
            {{- '<think>\n' + message.reasoning_content.strip() + '\n</think>\n\n' }}
        {%- endif %}
        {%- if message.content %}
            {{- message.content }}
        {%- endif %}
        {%- for call in message.tool_calls or [] %}
            {%- if message.content or not loop.first %}
                {{- '\n' }}
            {%- endif %}
            {{- '<tool_call>\n{"name": "' + call.function.name + '", "arguments": ' }}
            {%- if call.function.arguments is string %}
                {{- call.function.arguments }}
            {%- else %}
                {{- call.function.arguments | tojson }}
            {%- endif %}
            {{- '}\n</tool_call>' }}
        {%- endfor %}
        {{- '<|im_end|>\n' }}
    {%- elif message.role == 'tool' %}
        {{- '<|im_start|>tool\n' + message.content + '<|im_end|>\n' }}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\n' }}
{%- endif %}
"""

CHATML_SPECIAL_TOKENS = ("<|im_start|>", "<|im_end|>", "<think>", "</think>", "<tool_call>", "</tool_call>")


class SFTError(ValueError):
    """A trace, tokenizer or template cannot be used for SFT; the message says which and why."""


@dataclass(frozen=True, slots=True)
class Encoded:
    """One tokenized trace. `spans` are the supervised character spans of `text`."""

    input_ids: list[int]
    attention_mask: list[int]
    labels: list[int]
    text: str
    spans: tuple[tuple[int, int], ...]
    boundary_splits: int = 0  # tokens that straddle a span edge (left unsupervised); 0 for sane templates

    def __len__(self) -> int:
        return len(self.input_ids)

    @property
    def supervised(self) -> int:
        return sum(1 for label in self.labels if label != IGNORE_INDEX)


def load_tokenizer(path: Path) -> Any:
    """A fast Hugging Face tokenizer from a folder (tokenizer.json + tokenizer_config.json) or from a
    bare tokenizer.json, offline. Raises SFTError naming the path."""
    try:
        from transformers import AutoTokenizer, PreTrainedTokenizerFast
    except ImportError:
        raise SFTError(
            "SFT formatting needs 'transformers': install tracegen with the 'trainer' extra"
        ) from None
    try:
        if path.is_file():
            tokenizer: Any = PreTrainedTokenizerFast(tokenizer_file=str(path))  # type: ignore[no-untyped-call]
        else:
            try:
                tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
            except (OSError, ValueError, KeyError):
                tokenizer = PreTrainedTokenizerFast.from_pretrained(str(path), local_files_only=True)
    # tokenizers raises a bare Exception from Rust for an invalid tokenizer.json; nothing narrower exists
    except Exception as exc:
        raise SFTError(f"{path}: cannot load a tokenizer: {exc}") from None
    if not getattr(tokenizer, "is_fast", False):
        raise SFTError(f"{path}: a fast tokenizer (tokenizer.json) is needed for character offsets")
    return tokenizer


class SFTFormatter:
    """Renders and tokenizes traces with assistant-only labels (module docstring).

    >>> formatter = SFTFormatter(tokenizer)                     # doctest: +SKIP
    >>> encoded = formatter.encode(trace)                       # doctest: +SKIP
    """

    def __init__(self, tokenizer: Any, template: str = "auto") -> None:
        own = getattr(tokenizer, "chat_template", None)
        if template == "auto":
            template = "tokenizer" if isinstance(own, str) and own else "builtin"
        if template == "tokenizer":
            if not isinstance(own, str) or not own:
                raise SFTError("the tokenizer has no chat_template (use the built-in template)")
            self.chat_template = own
        elif template == "builtin":
            self.chat_template = CHATML_TOOLS_TEMPLATE
        else:
            raise SFTError(f"unknown template choice {template!r}")
        self.template_name = template
        self.tokenizer = tokenizer

    def render(
        self,
        messages: Sequence[Mapping[str, Any]],
        tools: Sequence[Mapping[str, Any]] | None,
        *,
        prompt: bool,
    ) -> str:
        """The template's text for `messages` (with the generation prompt when `prompt`)."""
        text = self.tokenizer.apply_chat_template(
            [dict(m) for m in messages],
            tools=[dict(t) for t in tools] if tools else None,
            chat_template=self.chat_template,
            tokenize=False,
            add_generation_prompt=prompt,
        )
        if not isinstance(text, str):
            raise SFTError("the chat template did not render to text")
        return text

    def assistant_spans(
        self, messages: Sequence[Mapping[str, Any]], tools: Sequence[Mapping[str, Any]] | None
    ) -> tuple[str, list[tuple[int, int]]]:
        """The full rendering and the character span of every assistant turn in it."""
        full = self.render(messages, tools, prompt=False)
        spans: list[tuple[int, int]] = []
        for index, message in enumerate(messages):
            if message.get("role") != "assistant":
                continue
            before = self.render(messages[:index], tools, prompt=True) if index else ""
            upto = self.render(messages[: index + 1], tools, prompt=False)
            if not upto.startswith(before) or not full.startswith(upto):
                raise SFTError(
                    f"message {index}: the chat template renders earlier turns differently once later "
                    "turns follow, so assistant spans cannot be located"
                )
            end = len(upto.rstrip())
            if end > len(before):
                spans.append((len(before), end))
        return full, spans

    def encode(self, trace: Mapping[str, Any]) -> Encoded:
        """Tokenize one trace (`{"messages", "tools", ...}`) with assistant-only labels."""
        messages = trace.get("messages")
        if not isinstance(messages, list) or not messages:
            raise SFTError("trace has no messages")
        tools = trace.get("tools") or None
        text, spans = self.assistant_spans(messages, tools)
        encoding = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        input_ids = list(encoding["input_ids"])
        offsets = encoding["offset_mapping"]
        labels = [IGNORE_INDEX] * len(input_ids)
        boundary_splits = 0
        span_index = 0
        for position, (start, end) in enumerate(offsets):
            while span_index < len(spans) and start >= spans[span_index][1]:
                span_index += 1
            if span_index == len(spans):
                break
            span_start, span_end = spans[span_index]
            if span_start <= start < span_end:
                labels[position] = input_ids[position]
                if end > span_end:
                    boundary_splits += 1
            elif start < span_start < end:
                boundary_splits += 1
        return Encoded(
            input_ids=input_ids,
            attention_mask=[1] * len(input_ids),
            labels=labels,
            text=text,
            spans=tuple(spans),
            boundary_splits=boundary_splits,
        )


# --------------------------------------------------------------------------------------------------
# Packing


@dataclass(frozen=True, slots=True)
class PackedRow:
    input_ids: list[int]
    attention_mask: list[int]
    labels: list[int]
    position_ids: list[int]
    seq_lengths: list[int]


def pack_examples(examples: Iterable[Encoded], max_length: int, pad_id: int) -> Iterator[PackedRow]:
    """Greedy packing in input order: whole examples into rows of exactly `max_length` tokens (padding
    gets attention 0 and label -100). An example longer than `max_length` is an error: drop those
    first. Memory: one row."""
    ids: list[int] = []
    labels: list[int] = []
    positions: list[int] = []
    lengths: list[int] = []

    def flush() -> PackedRow:
        pad = max_length - len(ids)
        return PackedRow(
            input_ids=ids + [pad_id] * pad,
            attention_mask=[1] * len(ids) + [0] * pad,
            labels=labels + [IGNORE_INDEX] * pad,
            position_ids=positions + [0] * pad,
            seq_lengths=list(lengths),
        )

    for example in examples:
        n = len(example)
        if n > max_length:
            raise SFTError(f"an example of {n} tokens does not fit a row of {max_length}")
        if ids and len(ids) + n > max_length:
            yield flush()
            ids, labels, positions, lengths = [], [], [], []
        ids.extend(example.input_ids)
        labels.append(IGNORE_INDEX)  # nothing is predicted across an example boundary
        labels.extend(example.labels[1:])
        positions.extend(range(n))
        lengths.append(n)
    if ids:
        yield flush()


# --------------------------------------------------------------------------------------------------
# The tokenize command


@dataclass(frozen=True)
class TokenizeOptions:
    max_length: int = 16384
    template: str = "auto"
    pack: bool = False
    splits: Sequence[str] = ("train", "val", "heldout")
    batch_rows: int = 256


@dataclass(frozen=True)
class LengthStats:
    count: int
    min: int
    mean: float
    p50: int
    p90: int
    p99: int
    max: int
    over_context: int
    supervised_tokens: int  # over the traces that fit the context
    total_tokens: int  # every trace
    kept_tokens: int  # the traces that fit the context

    @classmethod
    def of(cls, lengths: Sequence[int], supervised: int, max_length: int) -> LengthStats:
        if not lengths:
            return cls(0, 0, 0.0, 0, 0, 0, 0, 0, 0, 0, 0)
        ordered = sorted(lengths)

        def pct(q: float) -> int:
            return ordered[min(len(ordered) - 1, int(q * (len(ordered) - 1) + 0.5))]

        return cls(
            count=len(ordered),
            min=ordered[0],
            mean=round(statistics.fmean(ordered), 1),
            p50=pct(0.5),
            p90=pct(0.9),
            p99=pct(0.99),
            max=ordered[-1],
            over_context=sum(1 for n in ordered if n > max_length),
            supervised_tokens=supervised,
            total_tokens=sum(ordered),
            kept_tokens=sum(n for n in ordered if n <= max_length),
        )


@dataclass
class TokenizeResult:
    out_dir: Path
    stats: dict[str, LengthStats] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    report: str = ""


def tokenize_corpus(
    corpus_dir: Path, tokenizer_path: Path, out_dir: Path, options: TokenizeOptions
) -> TokenizeResult:
    """Tokenize the split files of a built corpus into `<split>.parquet` (streamed in batches).

    Traces longer than `max_length` are counted (`over_context`) and left out. Writes `tokenize.json`
    (the statistics) and `TOKENIZE_REPORT.md`. Raises SFTError naming the file and line of a trace
    that cannot be rendered.
    """
    try:
        import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no type information
        import pyarrow.parquet as pq  # type: ignore[import-untyped]
    except ImportError:
        raise SFTError("tokenize needs 'pyarrow' (it comes with the 'trainer' extra via datasets)") from None
    from gen_service.serialization import JSONDecodeError, loads

    tokenizer = load_tokenizer(tokenizer_path)
    formatter = SFTFormatter(tokenizer, options.template)
    pad_id = tokenizer.pad_token_id
    if pad_id is None:
        pad_id = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else 0
    out_dir.mkdir(parents=True, exist_ok=True)
    result = TokenizeResult(out_dir=out_dir)
    boundary_splits = 0
    for split in options.splits:
        source = corpus_dir / f"{split}.jsonl"
        if not source.is_file():
            continue
        lengths: list[int] = []
        supervised = 0

        def examples(source: Path = source, lengths: list[int] = lengths) -> Iterator[tuple[Encoded, str]]:
            nonlocal supervised, boundary_splits
            with source.open("rb") as handle:
                for number, raw in enumerate(handle, start=1):
                    if not raw.strip():
                        continue
                    try:
                        trace = loads(raw)
                        encoded = formatter.encode(trace)
                    except (JSONDecodeError, SFTError) as exc:
                        raise SFTError(f"{source}:{number}: {exc}") from None
                    lengths.append(len(encoded))
                    boundary_splits += encoded.boundary_splits
                    if len(encoded) > options.max_length:
                        continue
                    supervised += encoded.supervised
                    meta = trace.get("meta") if isinstance(trace, dict) else None
                    task = meta.get("task_type", "") if isinstance(meta, dict) else ""
                    yield encoded, str(task)

        target = out_dir / f"{split}.parquet"
        rows = 0
        writer: Any = None
        batch: dict[str, list[Any]] = {}
        try:
            stream: Iterable[dict[str, Any]]
            if options.pack:
                stream = (
                    {
                        "input_ids": r.input_ids,
                        "attention_mask": r.attention_mask,
                        "labels": r.labels,
                        "position_ids": r.position_ids,
                        "seq_lengths": r.seq_lengths,
                    }
                    for r in pack_examples((e for e, _ in examples()), options.max_length, pad_id)
                )
            else:
                stream = (
                    {
                        "input_ids": e.input_ids,
                        "attention_mask": e.attention_mask,
                        "labels": e.labels,
                        "task_type": task,
                    }
                    for e, task in examples()
                )
            for row in stream:
                for key, value in row.items():
                    batch.setdefault(key, []).append(value)
                rows += 1
                if rows % options.batch_rows == 0:
                    writer = _write_batch(pa, pq, writer, target, batch)
                    batch = {}
            if batch or writer is None:
                writer = _write_batch(pa, pq, writer, target, batch)
        finally:
            if writer is not None:
                writer.close()
        result.rows[split] = rows
        result.stats[split] = LengthStats.of(lengths, supervised, options.max_length)
    summary = {
        "tokenizer": str(tokenizer_path),
        "template": formatter.template_name,
        "template_sha256": hashlib.sha256(formatter.chat_template.encode()).hexdigest(),
        "max_length": options.max_length,
        "packed": options.pack,
        "boundary_splits": boundary_splits,
        "rows": result.rows,
        "stats": {name: stats.__dict__ for name, stats in result.stats.items()},
    }
    (out_dir / "tokenize.json").write_text(json.dumps(summary, indent=2) + "\n")
    result.report = _render_tokenize_report(summary, result)
    (out_dir / "TOKENIZE_REPORT.md").write_text(result.report)
    return result


def _write_batch(pa: Any, pq: Any, writer: Any, target: Path, batch: Mapping[str, list[Any]]) -> Any:
    schema = pa.schema(
        [
            ("input_ids", pa.list_(pa.int32())),
            ("attention_mask", pa.list_(pa.int8())),
            ("labels", pa.list_(pa.int32())),
        ]
        + (
            [("position_ids", pa.list_(pa.int32())), ("seq_lengths", pa.list_(pa.int32()))]
            if "position_ids" in batch
            else [("task_type", pa.string())]
        )
    )
    if writer is None:
        writer = pq.ParquetWriter(str(target), schema)
    if batch:
        writer.write_table(pa.Table.from_pydict(dict(batch), schema=schema))
    return writer


def _render_tokenize_report(summary: Mapping[str, Any], result: TokenizeResult) -> str:
    lines = [
        "# Tokenize report",
        "",
        f"template: {summary['template']} · max length {summary['max_length']:,} · "
        f"{'packed' if summary['packed'] else 'one trace a row'}",
        "",
        "| split | traces | min | mean | p50 | p90 | p99 | max | over context (dropped) "
        "| supervised tokens | rows |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, s in result.stats.items():
        share = s.supervised_tokens / max(1, s.kept_tokens)
        lines.append(
            f"| {name} | {s.count:,} | {s.min:,} | {s.mean:,.1f} | {s.p50:,} | {s.p90:,} | {s.p99:,} "
            f"| {s.max:,} | {s.over_context:,} | {s.supervised_tokens:,} ({share:.0%} of kept) "
            f"| {result.rows[name]:,} |"
        )
    if summary["boundary_splits"]:
        lines += ["", f"warning: {summary['boundary_splits']} tokens straddle an assistant span edge"]
    return "\n".join(lines) + "\n"
