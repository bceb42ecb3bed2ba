"""Count words from standard input and print the most frequent ones."""

from wordfreq.cli import build_parser, main
from wordfreq.count import count_words, top

__all__ = ["build_parser", "count_words", "main", "top"]
