import pytest

from lexer import LexError, tokenize


def kinds(source):
    return [(t.kind, t.text) for t in tokenize(source)]


def test_arithmetic():
    assert kinds("x + 12 * (y - 3.5)") == [
        ("NAME", "x"), ("OP", "+"), ("NUMBER", "12"), ("OP", "*"),
        ("OP", "("), ("NAME", "y"), ("OP", "-"), ("NUMBER", "3.5"), ("OP", ")"),
    ]


def test_two_character_operators():
    assert [t.text for t in tokenize("a <= b == c != d >= e")] == [
        "a", "<=", "b", "==", "c", "!=", "d", ">=", "e",
    ]


def test_condition():
    assert kinds("if n >= 10") == [("IF", "if"), ("NAME", "n"), ("OP", ">="), ("NUMBER", "10")]


def test_assignment_is_not_comparison():
    assert kinds("n = 1") == [("NAME", "n"), ("OP", "="), ("NUMBER", "1")]


def test_string_with_escaped_quote():
    assert kinds(r'say "a \"b\""') == [("NAME", "say"), ("STRING", r'"a \"b\""')]


def test_keywords():
    assert [t.kind for t in tokenize("if x else y")] == ["IF", "NAME", "ELSE", "NAME"]
    assert [t.kind for t in tokenize("while n return n")] == ["WHILE", "NAME", "RETURN", "NAME"]


def test_names_containing_keywords_are_names():
    assert [t.kind for t in tokenize("iffy elsewhere")] == ["NAME", "NAME"]


def test_line_and_column():
    tok = list(tokenize("a\n  bb"))[1]
    assert (tok.text, tok.line, tok.column) == ("bb", 2, 3)


def test_unexpected_character():
    with pytest.raises(LexError, match=r"unexpected '\$' at 1:3"):
        list(tokenize("a $ b"))
