"""Tiny Qwen-family models from a config: loadable, reproducible, and shaped for K-quants."""

from __future__ import annotations

from pathlib import Path

import pytest

from trainer.tiny_models import TinyModelSpec, build_tiny_model


@pytest.mark.parametrize("architecture", ["qwen3", "qwen3_5"])
def test_same_seed_same_weights_and_the_folder_loads(
    architecture: str, tmp_path: Path, qwen_tokenizer_dir: Path
) -> None:
    import torch
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM, AutoTokenizer

    spec = TinyModelSpec(architecture=architecture)  # type: ignore[arg-type]
    first = build_tiny_model(spec, tmp_path / "a", qwen_tokenizer_dir, seed=3)
    second = build_tiny_model(spec, tmp_path / "b", qwen_tokenizer_dir, seed=3)
    other = build_tiny_model(spec, tmp_path / "c", qwen_tokenizer_dir, seed=4)
    weights = [load_file(str(folder / "model.safetensors")) for folder in (first, second, other)]
    assert weights[0].keys() == weights[1].keys()
    assert all(torch.equal(weights[0][name], weights[1][name]) for name in weights[0])
    assert any(not torch.equal(weights[0][name], weights[2][name]) for name in weights[0])

    model = AutoModelForCausalLM.from_pretrained(str(first))
    tokenizer = AutoTokenizer.from_pretrained(str(first))
    assert len(tokenizer) == model.config.vocab_size == 151_936
    ids = tokenizer("def f(x): return x", return_tensors="pt")
    assert model(**ids).logits.shape == (1, ids["input_ids"].shape[1], 151_936)
    if architecture == "qwen3_5":
        assert "linear_attention" in model.config.layer_types
        assert model.config.layer_types[-1] == "full_attention"


@pytest.mark.parametrize(("field", "value"), [("hidden_size", 320), ("intermediate_size", 500)])
def test_sizes_that_k_quants_cannot_pack_are_refused(field: str, value: int) -> None:
    with pytest.raises(ValueError, match=f"{field}={value}: must be a positive multiple of 256"):
        TinyModelSpec(**{field: value})  # type: ignore[arg-type]


def test_an_existing_folder_is_never_overwritten(tmp_path: Path, qwen_tokenizer_dir: Path) -> None:
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError):
        build_tiny_model(TinyModelSpec(), tmp_path / "m", qwen_tokenizer_dir)
    assert (tmp_path / "m" / "keep.txt").read_text() == "mine"
