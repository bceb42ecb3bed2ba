"""Near-duplicate detection: MinHash signatures over word shingles, banded LSH, verified estimates.

`NearDupIndex.add(text)` answers whether `text` is a near duplicate of a text added before (estimated
Jaccard similarity of their word-5-gram sets ≥ `threshold`) and, if not, remembers it. Deterministic:
token hashes are CRC32 (stable across processes, unlike `hash()`), the permutations come from a fixed
seed, so a build reproduces its verdicts exactly.

Memory: one signature (`num_perm` × 4 bytes) and `bands` dictionary entries per remembered text, so
about 1 KB a text at the defaults; nothing else grows with the corpus.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

__all__ = ["DEFAULT_NUM_PERM", "NearDupIndex", "choose_bands", "shingle_hashes"]

DEFAULT_NUM_PERM = 128
SHINGLE_WORDS = 5
_PRIME = np.uint64(4294967311)  # the smallest prime above 2**32
_MASK32 = np.uint64(0xFFFFFFFF)
_WORD = re.compile(r"\w+")

U64 = npt.NDArray[np.uint64]
U32 = npt.NDArray[np.uint32]


def shingle_hashes(text: str, words: int = SHINGLE_WORDS) -> U64:
    """The distinct 32-bit hashes of the text's word `words`-grams (lower-cased `\\w+` words).

    A text shorter than `words` words is one shingle; an empty text has none.
    """
    tokens = _WORD.findall(text.lower())
    if not tokens:
        return np.zeros(0, dtype=np.uint64)
    cache: dict[str, int] = {}
    ids = np.fromiter(
        (cache.setdefault(t, zlib.crc32(t.encode())) for t in tokens), dtype=np.uint64, count=len(tokens)
    )
    if len(ids) < words:
        words = len(ids)
    count = len(ids) - words + 1
    combined = np.zeros(count, dtype=np.uint64)
    with np.errstate(over="ignore"):  # wrap-around is the hash's mixing, on purpose
        for offset in range(words):
            combined = combined * np.uint64(1_000_003) + ids[offset : offset + count]
        combined ^= combined >> np.uint64(29)
        combined *= np.uint64(0xBF58476D1CE4E5B9)
        combined ^= combined >> np.uint64(32)
    return np.unique(combined & _MASK32)


def choose_bands(num_perm: int, threshold: float) -> tuple[int, int]:
    """(bands, rows) with bands × rows = num_perm whose LSH step (1/bands)^(1/rows) is the largest one
    not above `threshold`, so pairs at the threshold are found with high probability (candidates are
    verified against the threshold afterwards, which removes the false positives)."""
    best: tuple[int, int] | None = None
    best_step = -1.0
    for rows in range(1, num_perm + 1):
        if num_perm % rows:
            continue
        bands = num_perm // rows
        step = (1.0 / bands) ** (1.0 / rows)
        if step <= threshold and step > best_step:
            best, best_step = (bands, rows), step
    return best or (num_perm, 1)


class NearDupIndex:
    """Remembers texts' MinHash signatures; finds earlier texts at or above a Jaccard threshold."""

    def __init__(self, threshold: float, *, num_perm: int = DEFAULT_NUM_PERM, seed: int = 1) -> None:
        if not 0.0 < threshold <= 1.0:
            raise ValueError("near-duplicate threshold must be in (0, 1]")
        self.threshold = threshold
        self.num_perm = num_perm
        rng = np.random.default_rng(seed)
        self._a = rng.integers(1, 2**31, size=num_perm, dtype=np.uint64)
        self._b = rng.integers(0, 2**32, size=num_perm, dtype=np.uint64)
        self.bands, self.rows = choose_bands(num_perm, threshold)
        self._tables: list[dict[bytes, list[int]]] = [{} for _ in range(self.bands)]
        self._signatures: list[U32] = []

    def __len__(self) -> int:
        return len(self._signatures)

    def signature(self, text: str) -> U32:
        """The MinHash signature of `text` (all 0xFFFFFFFF for a text without words)."""
        shingles = shingle_hashes(text)
        if shingles.size == 0:
            return np.full(self.num_perm, 0xFFFFFFFF, dtype=np.uint32)
        signature = np.full(self.num_perm, np.iinfo(np.uint64).max, dtype=np.uint64)
        # chunks bound the temporary (chunk × num_perm × 8 bytes) for very long texts
        for start in range(0, shingles.size, 2048):
            chunk = shingles[start : start + 2048]
            hashed = (np.outer(chunk, self._a) + self._b) % _PRIME
            np.minimum(signature, hashed.min(axis=0), out=signature)
        return (signature & _MASK32).astype(np.uint32)

    def query(self, signature: U32) -> tuple[int, float] | None:
        """The earliest remembered text whose estimated similarity reaches the threshold, and that
        estimate; None when there is none."""
        candidates: set[int] = set()
        for band, table in enumerate(self._tables):
            key = signature[band * self.rows : (band + 1) * self.rows].tobytes()
            found = table.get(key)
            if found:
                candidates.update(found)
        best: tuple[int, float] | None = None
        for candidate in sorted(candidates):
            estimate = float(np.mean(self._signatures[candidate] == signature))
            if estimate >= self.threshold:
                return candidate, estimate
        return best

    def insert(self, signature: U32) -> int:
        """Remember a signature; returns its id (0, 1, ...)."""
        index = len(self._signatures)
        self._signatures.append(signature)
        for band, table in enumerate(self._tables):
            key = signature[band * self.rows : (band + 1) * self.rows].tobytes()
            table.setdefault(key, []).append(index)
        return index

    def add(self, text: str) -> tuple[int, float] | None:
        """Query, and remember `text` when it is not a near duplicate. Returns the query's answer."""
        signature = self.signature(text)
        found = self.query(signature)
        if found is None:
            self.insert(signature)
        return found


def jaccard(a: Sequence[int] | U64, b: Sequence[int] | U64) -> float:
    """Exact Jaccard similarity of two hash sets (for tests and diagnostics)."""
    left, right = set(np.asarray(a).tolist()), set(np.asarray(b).tolist())
    if not left and not right:
        return 1.0
    return len(left & right) / len(left | right)
