import re
from collections import Counter

_WORD = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?")


def count_words(text, min_length=1, fold_case=True):
    words = _WORD.findall(text)
    if fold_case:
        words = [w.lower() for w in words]
    return Counter(w for w in words if len(w) >= min_length)


def top(counts, n):
    """The n most frequent (word, count) pairs; ties in alphabetical order."""
    return sorted(counts.items(), key=lambda wc: (-wc[1], wc[0]))[:n]
