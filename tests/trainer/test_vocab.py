"""The Qwen vocabulary fixture: the tokenizer assembled from the vocabulary-only GGUF tokenizes exactly
as llama.cpp does, and the cache never hands out a half-built folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from trainer.llama_cpp_source import (
    LlamaCppSourceError,
    chat_template_path,
    default_cache_root,
    llama_cpp_source,
    vocab_gguf_path,
)
from trainer.vocab import VocabError, qwen2_tokenizer_dir, tokenizer_from_vocab_gguf

QWEN_VOCAB_SIZE = 151_936


def _llama_cpp_vectors(gguf: Path) -> list[tuple[str, list[int]]]:
    """llama.cpp's own tokenizer test vectors: `.inp` texts separated by a marker, `.out` id lines."""
    texts = gguf.with_name(gguf.name + ".inp").read_text(encoding="utf-8").split("\n__ggml_vocab_test__\n")
    expected = gguf.with_name(gguf.name + ".out").read_text(encoding="utf-8").split("\n")
    return [(text, [int(i) for i in ids.split()]) for text, ids in zip(texts, expected, strict=False)]


def test_qwen_tokenizer_matches_llama_cpp_on_its_test_vectors(qwen_tokenizer_dir: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(qwen_tokenizer_dir))
    assert len(tokenizer) == QWEN_VOCAB_SIZE
    vectors = _llama_cpp_vectors(vocab_gguf_path(default_cache_root()))
    assert len(vectors) > 40
    mismatches = [
        (text, ids, tokenizer(text, add_special_tokens=False)["input_ids"])
        for text, ids in vectors
        if tokenizer(text, add_special_tokens=False)["input_ids"] != ids
    ]
    assert mismatches == []


def test_qwen_tokenizer_keeps_chatml_markers_whole(qwen_tokenizer_dir: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(qwen_tokenizer_dir))
    ids = tokenizer("<|im_start|>user\nhi<|im_end|>", add_special_tokens=False)["input_ids"]
    assert ids[0] == 151644 and ids[-1] == 151645
    assert tokenizer.eos_token_id == 151643 and tokenizer.pad_token_id == 151643
    assert tokenizer.decode(ids, skip_special_tokens=True) == "user\nhi"


def test_other_pretokenizers_are_refused_by_name(tmp_path: Path) -> None:
    spm = vocab_gguf_path(default_cache_root(), "llama-spm")
    with pytest.raises(VocabError, match=r"only gpt2/qwen2"):
        tokenizer_from_vocab_gguf(spm, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_half_built_cache_folder_is_rebuilt(tmp_path: Path) -> None:
    # Share the unpacked source (the slow part) but not the tokenizer folder.
    cache = tmp_path / "cache"
    source = llama_cpp_source(default_cache_root())
    (cache / "llama-cpp-python").mkdir(parents=True)
    (cache / "llama-cpp-python" / source.parent.name).symlink_to(source.parent)
    leftover = cache / "tokenizers" / "qwen2-v1"
    leftover.mkdir(parents=True)
    (leftover / "vocab.json").write_text("{}")  # killed before tokenizer.json was written
    folder = qwen2_tokenizer_dir(cache)
    assert folder == leftover
    assert (folder / "tokenizer.json").stat().st_size > 1_000_000
    assert not (folder / "vocab.json").exists()


def test_missing_template_names_the_ones_that_ship() -> None:
    assert chat_template_path(default_cache_root(), "Qwen3-Coder").read_text().strip()
    with pytest.raises(LlamaCppSourceError, match="Qwen3-Coder"):
        chat_template_path(default_cache_root(), "no-such-template")
