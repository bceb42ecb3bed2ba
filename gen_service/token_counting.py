"""Exact token counts from a Hugging Face `tokenizer.json` (the I/O side of `core.tokens`).

The `tokenizers` package is optional (it comes with the `trainer` extra); it is imported only when an
exact counter is asked for, so the estimate keeps working without it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from gen_service.core.tokens import estimate_tokens

__all__ = ["TokenizerLoadError", "load_token_counter", "token_counter_for"]


class TokenizerLoadError(ValueError):
    """The tokenizer file is missing, unreadable or not a tokenizer; the message says which."""


def load_token_counter(path: Path) -> Callable[[str], int]:
    """A counter giving the exact number of tokens the tokenizer in `path` makes of a text.

    Special tokens (BOS and the like) are not added: the count is of the text alone, like the
    estimate's. Raises TokenizerLoadError with a message naming the path and the problem.
    """
    if not path.exists():
        raise TokenizerLoadError(f"tokenizer file not found: {path}")
    if not path.is_file():
        raise TokenizerLoadError(f"tokenizer path is not a file: {path}")
    try:
        from tokenizers import Tokenizer
    except ImportError:
        raise TokenizerLoadError(
            "exact token counts need the 'tokenizers' package: pip install tokenizers "
            "(or install tracegen with the 'trainer' extra)"
        ) from None
    try:
        tokenizer = Tokenizer.from_file(str(path))
    # tokenizers raises a bare Exception (from Rust) for unreadable or invalid files; nothing narrower
    # is exposed, and any failure here means the same thing to the user.
    except Exception as exc:
        raise TokenizerLoadError(f"{path} is not a valid tokenizer.json: {exc}") from None

    def count_tokens(text: str) -> int:
        return len(tokenizer.encode(text, add_special_tokens=False).ids)

    return count_tokens


def token_counter_for(tokenizer: Path | None) -> Callable[[str], int]:
    """The counter a command uses: exact from `tokenizer` when given, else the ~4 chars/token
    estimate. Raises TokenizerLoadError naming the problem."""
    if tokenizer is None:
        return estimate_tokens
    return load_token_counter(tokenizer)
