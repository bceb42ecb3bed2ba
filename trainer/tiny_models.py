"""Tiny Qwen-family causal LMs built from a config, for tests and benchmarks (no weights are downloaded).

Two shapes matter to the trainer: a dense Qwen3 (attention + MLP) and a Qwen3.5-style hybrid, whose layers
alternate linear attention (gated delta-net: `in_proj_qkv`, `in_proj_z`, `in_proj_a`, `in_proj_b`,
`out_proj`, a depthwise conv1d) with full attention. Both carry the real Qwen vocabulary (151,936 ids)
so the same folders go through `corpus tokenize`, LoRA training, merging and the GGUF converter.

Invariants:
- Hidden and intermediate sizes are multiples of 256 (K-quants pack rows of 256 values); `TinyModelSpec`
  refuses others.
- The same spec and seed give bit-identical weights (the initialiser is seeded; nothing else is random).
- The folder is loadable by `AutoModelForCausalLM.from_pretrained` and `AutoTokenizer.from_pretrained`.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

__all__ = ["TinyModelSpec", "build_tiny_model", "model_config"]

Architecture = Literal["qwen3", "qwen3_5"]

QWEN_VOCAB_SIZE = 151_936
_QUANT_ROW = 256


@dataclass(frozen=True)
class TinyModelSpec:
    """The shape of a tiny model. Defaults give ~40M parameters (most of them the tied embedding)."""

    architecture: Architecture = "qwen3"
    hidden_size: int = 256
    intermediate_size: int = 512
    num_hidden_layers: int = 2
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    head_dim: int = 64
    vocab_size: int = QWEN_VOCAB_SIZE
    tie_word_embeddings: bool = True
    max_position_embeddings: int = 4096

    def __post_init__(self) -> None:
        for name in ("hidden_size", "intermediate_size"):
            value = getattr(self, name)
            if value <= 0 or value % _QUANT_ROW:
                raise ValueError(f"{name}={value}: must be a positive multiple of {_QUANT_ROW} (K-quants)")
        if self.num_attention_heads % self.num_key_value_heads:
            raise ValueError("num_attention_heads must be a multiple of num_key_value_heads")
        if self.architecture == "qwen3_5" and self.num_hidden_layers < 2:
            raise ValueError("a hybrid model needs at least 2 layers (linear and full attention)")


def model_config(spec: TinyModelSpec, *, eos_token_id: int = 151_643, pad_token_id: int = 151_643) -> Any:
    """The transformers config for `spec` (a `Qwen3Config` or a `Qwen3_5TextConfig`)."""
    from transformers import Qwen3_5TextConfig, Qwen3Config

    common: dict[str, Any] = {
        "vocab_size": spec.vocab_size,
        "hidden_size": spec.hidden_size,
        "intermediate_size": spec.intermediate_size,
        "num_hidden_layers": spec.num_hidden_layers,
        "num_attention_heads": spec.num_attention_heads,
        "num_key_value_heads": spec.num_key_value_heads,
        "head_dim": spec.head_dim,
        "tie_word_embeddings": spec.tie_word_embeddings,
        "max_position_embeddings": spec.max_position_embeddings,
        "eos_token_id": eos_token_id,
        "pad_token_id": pad_token_id,
        "bos_token_id": None,
    }
    if spec.architecture == "qwen3":
        return Qwen3Config(**common)
    # Every second layer is full attention, the last one always (Qwen3.5 ends on full attention).
    layer_types = [
        "full_attention" if (index + 1) % 2 == 0 else "linear_attention"
        for index in range(spec.num_hidden_layers)
    ]
    layer_types[-1] = "full_attention"
    return Qwen3_5TextConfig(
        **common,
        layer_types=layer_types,
        linear_num_key_heads=2,
        linear_num_value_heads=4,
        linear_key_head_dim=64,
        linear_value_head_dim=64,
        linear_conv_kernel_dim=4,
        architectures=["Qwen3_5ForCausalLM"],
    )


def build_tiny_model(
    spec: TinyModelSpec, out_dir: Path, tokenizer_dir: Path, *, seed: int = 0, dtype: str = "float32"
) -> Path:
    """Initialise a model of shape `spec` with `seed`, save it (safetensors) with the tokenizer at
    `tokenizer_dir` into `out_dir` (created; must not exist), and return `out_dir`."""
    import torch
    from transformers import AutoModelForCausalLM

    if out_dir.exists():
        raise FileExistsError(f"{out_dir} exists; a tiny model is written into a new folder")
    torch.manual_seed(seed)
    config = model_config(spec)
    model = AutoModelForCausalLM.from_config(config, dtype=getattr(torch, dtype))  # type: ignore[no-untyped-call]
    model.save_pretrained(str(out_dir), safe_serialization=True)
    for item in tokenizer_dir.iterdir():
        if item.is_file() and item.name != "SOURCE.json":
            shutil.copy2(item, out_dir / item.name)
    return out_dir
