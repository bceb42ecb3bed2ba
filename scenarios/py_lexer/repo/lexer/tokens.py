from typing import NamedTuple

KEYWORDS = frozenset([
    "if",
    "else",
    "while",
    "return",
])


class Token(NamedTuple):
    kind: str
    text: str
    line: int
    column: int


class LexError(Exception):
    pass
