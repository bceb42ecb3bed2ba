"""tracegen trainer (companion): corpus → SFT → LoRA → merge → GGUF → bake-off. Filled by later issues."""
