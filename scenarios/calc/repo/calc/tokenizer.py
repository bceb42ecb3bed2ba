from dataclasses import dataclass

OPERATORS = "+-*/()"


@dataclass(frozen=True)
class Token:
    kind: str  # "num" or "op"
    text: str


def tokenize(source):
    """Split an expression into number and operator tokens, skipping spaces."""
    tokens = []
    i = 0
    while i < len(source):
        ch = source[i]
        if ch.isspace():
            i += 1
        elif ch in OPERATORS:
            tokens.append(Token("op", ch))
            i += 1
        elif ch.isdigit() or ch == ".":
            start = i
            while i < len(source) and (source[i].isdigit() or source[i] == "."):
                i += 1
            tokens.append(Token("num", source[start:i]))
        else:
            raise ValueError(f"unexpected character {ch!r} at position {i}")
    return tokens
