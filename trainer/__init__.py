"""tracegen trainer (companion): corpus → SFT → LoRA → merge → GGUF → bake-off.

Built so far (`tracegen corpus ...`):
- `trainer.build`: exported corpora + curated slices → de-identify (`trainer.deid`) → re-gate with the
  service's gates → exact and MinHash near-duplicate removal (`trainer.minhash`) → held-out task types →
  oversampled, seeded-shuffled blend → train/val/heldout JSONL, manifest.json, REPORT.md;
- `trainer.sft`: chat-template rendering with assistant-only labels, length statistics, packing.
LoRA, merge, export and the bake-off are filled by later issues. Modules import their heavy
dependencies (numpy, transformers, pyarrow: the `trainer` extra) themselves; this package imports none.
"""
