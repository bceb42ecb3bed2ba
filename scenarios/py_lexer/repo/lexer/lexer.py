import re

from lexer.tokens import KEYWORDS, LexError, Token

_SPEC = [
    ("NUMBER", r"\d+(?:\.\d+)?"),
    ("NAME", r"[A-Za-z_]\w*"),
    ("STRING", r'"(?:[^"\\\n]|\\.)*"'),
    ("OP", r"==|!=|<=|>=|[-+*/()<>=,]"),
    ("NEWLINE", r"\n"),
    ("SKIP", r"[ \t]+"),
    ("MISMATCH", r"."),
]
_MASTER = re.compile("|".join(f"(?P<{kind}>{pattern})" for kind, pattern in _SPEC))


def tokenize(source):
    """Yield Tokens; keywords get their own kind (`IF`, `WHILE`, ...)."""
    line, line_start = 1, 0
    for m in _MASTER.finditer(source):
        kind, text = m.lastgroup, m.group()
        column = m.start() - line_start + 1
        if kind == "NEWLINE":
            line, line_start = line + 1, m.end()
            continue
        if kind == "SKIP":
            continue
        if kind == "MISMATCH":
            raise LexError(f"unexpected {text!r} at {line}:{column}")
        if kind == "NAME" and text in KEYWORDS:
            kind = text.upper()
        yield Token(kind, text, line, column)
