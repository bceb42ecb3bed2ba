from typing import NamedTuple


class Entry(NamedTuple):
    name: str
    score: int
    seconds: int


def standings(entries):
    """[(rank, entry)]: score high to low, then time low to high, then name."""
    rows = sorted(entries, key=lambda e: e.name)
    rows = sorted(rows, key=lambda e: -e.score)
    rows = sorted(rows, key=lambda e: e.seconds)
    ranked = []
    for i, entry in enumerate(rows):
        prev = rows[i - 1] if i else None
        if prev is not None and (prev.score, prev.seconds) == (entry.score, entry.seconds):
            ranked.append((ranked[-1][0], entry))
        else:
            ranked.append((i + 1, entry))
    return ranked
