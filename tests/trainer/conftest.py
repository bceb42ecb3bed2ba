"""Fixtures of the trainer tests: a small byte-level BPE tokenizer trained here (never downloaded),
traces from the scripted teacher, and exported corpora written through the service's export format."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest

from gen_service.catalog import load_behaviours, load_vocabulary
from gen_service.core.gates import GateContext
from gen_service.core.prompts import render_prompt
from gen_service.core.scripted import scripted_reply
from gen_service.core.trace import assemble_trace
from gen_service.resources import load_resources

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # belt and braces: nothing here may reach the hub
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

SPECIAL_TOKENS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<think>",
    "</think>",
    "<tool_call>",
    "</tool_call>",
]


def train_tokenizer(texts: Iterable[str], out_dir: Path, *, chat_template: str | None) -> Path:
    """Train a small byte-level BPE tokenizer on `texts` and save it as a Hugging Face tokenizer folder."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=2000,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(list(texts), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=SPECIAL_TOKENS[1:],
    )
    if chat_template is not None:
        fast.chat_template = chat_template
    fast.save_pretrained(str(out_dir))
    return out_dir


@pytest.fixture(scope="session")
def gate_context() -> GateContext:
    return GateContext(vocabulary=load_vocabulary().names, behaviours=load_behaviours())


@pytest.fixture(scope="session")
def resources() -> Any:
    return load_resources()


def scripted_trace(resources: Any, behaviour: str, scenario: str, seed: int) -> dict[str, Any]:
    """An honest scripted-teacher trace, assembled like the worker does."""
    b = resources.behaviours[behaviour]
    s = resources.scenarios[scenario]
    prompt = render_prompt(b, s, resources.vocabulary)
    reply = scripted_reply(b, s, seed, defect_share=0.0)
    return assemble_trace(
        prompt.system,
        prompt.user,
        reply["messages"],
        resources.vocabulary.openai_tools(),
        {
            "behaviour": behaviour,
            "layer": b.layer,
            "language": s.language,
            "scenario": scenario,
            "seed": seed,
        },
    )


def write_export(out_dir: Path, name: str, traces: list[Mapping[str, Any]], *, shard_size: int = 50) -> Path:
    """Write traces in the export format (`gen_service.export`): shards + manifest.json."""
    out_dir.mkdir(parents=True)
    shards: list[dict[str, Any]] = []
    for start in range(0, len(traces), shard_size):
        chunk = traces[start : start + shard_size]
        file_name = f"shard-{len(shards):05d}.jsonl"
        data = b"".join(json.dumps(t).encode() + b"\n" for t in chunk)
        (out_dir / file_name).write_bytes(data)
        shards.append({"file": file_name, "count": len(chunk), "sha256": hashlib.sha256(data).hexdigest()})
    manifest = {"schema": "tracegen.manifest/1", "job": {"id": 1, "name": name}, "shards": shards}
    (out_dir / "manifest.json").write_text(json.dumps(manifest))
    return out_dir


@pytest.fixture(scope="session")
def qwen_tokenizer_dir() -> Path:
    """The real Qwen vocabulary (151,936 ids) as a tokenizer folder, converted once from the
    `ggml-vocab-qwen2.gguf` inside the pinned llama-cpp-python source and cached by version under the
    tracegen cache (`TRACEGEN_CACHE_DIR`, default `~/.cache/tracegen`)."""
    from trainer.llama_cpp_source import default_cache_root
    from trainer.vocab import qwen2_tokenizer_dir

    return qwen2_tokenizer_dir(default_cache_root())
