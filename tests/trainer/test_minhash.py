"""MinHash near-duplicate index: deterministic signatures, estimates near the true Jaccard."""

from __future__ import annotations

import random

import numpy as np

from trainer.minhash import NearDupIndex, choose_bands, jaccard, shingle_hashes


def _text(rng: random.Random, words: int) -> str:
    return " ".join(
        rng.choice(["alpha", "beta", "gamma", "delta", "eps", "zeta", "eta", "theta"])
        + str(rng.randrange(50))
        for _ in range(words)
    )


def test_signatures_are_deterministic_and_estimate_jaccard() -> None:
    rng = random.Random(1)
    base = _text(rng, 400)
    words = base.split()
    variant = " ".join(words[:360] + _text(rng, 40).split())
    index_a, index_b = NearDupIndex(0.8), NearDupIndex(0.8)
    assert np.array_equal(index_a.signature(base), index_b.signature(base))
    true = jaccard(shingle_hashes(base), shingle_hashes(variant))
    estimate = float(np.mean(index_a.signature(base) == index_a.signature(variant)))
    assert abs(estimate - true) < 0.12


def test_index_finds_near_duplicates_only() -> None:
    rng = random.Random(2)
    base = _text(rng, 500)
    index = NearDupIndex(0.8)
    assert index.add(base) is None
    assert index.add(base + " one more sentence here") is not None
    assert index.add(_text(rng, 500)) is None  # unrelated
    assert index.add("") is None and len(index) == 3


def test_choose_bands() -> None:
    bands, rows = choose_bands(128, 0.8)
    assert bands * rows == 128 and (1 / bands) ** (1 / rows) <= 0.8
