"""A Hugging Face tokenizer folder built from a vocabulary-only GGUF (no model weights, no hub).

The real Qwen vocabulary (151,936 ids) ships inside the pinned llama-cpp-python source package as
`ggml-vocab-qwen2.gguf`. transformers can read GGUF tokenizers only with torch installed; this module
reads the GGUF with the `gguf` package and assembles the same byte-level BPE that the original
`tokenizer.json` describes (Qwen2's pre-tokenizer split, NFC, byte-level decoding), so the corpus tools
run without torch.

Invariants:
- Ids are the GGUF's ids: token `i` of `tokenizer.ggml.tokens` is id `i`, merges keep their rank order.
- Control and user-defined tokens of the GGUF become added tokens (never split); control ones are
  "special" (skipped by `decode(..., skip_special_tokens=True)`).
- The tokenization equals llama.cpp's own on its test vectors (`ggml-vocab-qwen2.gguf.inp/.out`): a test
  checks every one.
- A cached folder is complete or absent (built beside it, renamed in).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from trainer.llama_cpp_source import cache_lock, vocab_gguf_path

__all__ = ["QWEN2_PRETOKENIZE_PATTERN", "qwen2_tokenizer_dir", "tokenizer_from_vocab_gguf"]

# The split pattern of Qwen2's tokenizer.json (the same in Qwen2.5 and Qwen3): contractions, letters
# with one leading non-letter, single digits, punctuation runs, newlines, spaces.
QWEN2_PRETOKENIZE_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)

# llama.cpp's token types (gguf.TokenType): 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte.
_CONTROL = 3
_USER_DEFINED = 4

# Bump when the assembled folder changes, so an older cached folder is rebuilt rather than reused.
_FORMAT = 1


class VocabError(ValueError):
    """The GGUF holds no usable BPE vocabulary; the message names the file and the missing field."""


def _field(reader: Any, path: Path, key: str) -> Any:
    field = reader.fields.get(key)
    if field is None:
        raise VocabError(f"{path}: no {key} field: not a tokenizer GGUF")
    return field.contents()


def tokenizer_from_vocab_gguf(gguf_path: Path, out_dir: Path) -> Path:
    """Write a `PreTrainedTokenizerFast` folder for the GGUF's BPE vocabulary into `out_dir`.

    The GGUF's own chat template (if any) becomes the folder's template; eos and pad follow the GGUF's
    ids. Only `gpt2`-model GGUFs with the `qwen2` pre-tokenizer are supported: other pre-tokenizers split
    text differently, and a silently different split would change every token count downstream.
    """
    from gguf import GGUFReader
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    reader = GGUFReader(str(gguf_path))
    model = _field(reader, gguf_path, "tokenizer.ggml.model")
    pre = _field(reader, gguf_path, "tokenizer.ggml.pre")
    if model != "gpt2" or pre != "qwen2":
        raise VocabError(f"{gguf_path}: tokenizer {model!r} with pre-tokenizer {pre!r}; only gpt2/qwen2")
    tokens: list[str] = list(_field(reader, gguf_path, "tokenizer.ggml.tokens"))
    types: list[int] = list(_field(reader, gguf_path, "tokenizer.ggml.token_type"))
    merges: list[str] = list(_field(reader, gguf_path, "tokenizer.ggml.merges"))
    if len(tokens) != len(types):
        raise VocabError(f"{gguf_path}: {len(tokens)} tokens but {len(types)} token types")

    special_types = (_CONTROL, _USER_DEFINED)
    vocab = {token: index for index, token in enumerate(tokens) if types[index] not in special_types}
    pairs: list[tuple[str, str]] = []
    for merge in merges:
        left, _, right = merge.partition(" ")
        pairs.append((left, right))
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=pairs, byte_fallback=False, ignore_merges=False))
    tokenizer.normalizer = normalizers.NFC()
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN2_PRETOKENIZE_PATTERN), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False),
        ]
    )
    tokenizer.decoder = decoders.ByteLevel()
    # Added tokens are appended in id order, so each lands on its GGUF id (checked below).
    added = [
        AddedToken(tokens[index], special=types[index] == _CONTROL, normalized=False)
        for index in range(len(tokens))
        if types[index] in special_types
    ]
    tokenizer.add_tokens(added)
    for index in range(len(tokens)):
        if tokenizer.token_to_id(tokens[index]) != index:
            raise VocabError(f"{gguf_path}: token {tokens[index]!r} did not land on id {index}")

    def token_at(key: str) -> str | None:
        field = reader.fields.get(key)
        return None if field is None else tokens[int(field.contents())]

    fast = PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=tokenizer,
        eos_token=token_at("tokenizer.ggml.eos_token_id"),
        pad_token=token_at("tokenizer.ggml.padding_token_id"),
        bos_token=None,  # Qwen adds no BOS; the GGUF repeats eos there
        clean_up_tokenization_spaces=False,
        model_max_length=131072,
    )
    template = reader.fields.get("tokenizer.chat_template")
    if template is not None:
        fast.chat_template = template.contents()
    fast.save_pretrained(str(out_dir))
    return out_dir


def qwen2_tokenizer_dir(cache_root: Path) -> Path:
    """The Qwen2 vocabulary as a tokenizer folder, built once per cache and reused (conversion takes
    seconds; every trainer test and fixture reads it)."""
    folder = cache_root / "tokenizers" / f"qwen2-v{_FORMAT}"
    if (folder / "tokenizer.json").is_file():
        return folder
    with cache_lock(folder.parent / f"{folder.name}.lock"):
        if (folder / "tokenizer.json").is_file():
            return folder
        source = vocab_gguf_path(cache_root, "qwen2")
        folder.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=folder.parent, prefix=".build-") as scratch:
            staging = Path(scratch) / "tokenizer"
            tokenizer_from_vocab_gguf(source, staging)
            (staging / "SOURCE.json").write_text(json.dumps({"gguf": source.name}) + "\n")
            if folder.exists():
                shutil.rmtree(folder)
            staging.rename(folder)
    return folder
