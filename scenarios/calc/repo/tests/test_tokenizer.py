from calc.tokenizer import Token, tokenize


def test_operators_and_numbers():
    assert tokenize("12 * (3)") == [
        Token("num", "12"),
        Token("op", "*"),
        Token("op", "("),
        Token("num", "3"),
        Token("op", ")"),
    ]


def test_number_at_end():
    assert [t.text for t in tokenize("4-27")] == ["4", "-", "27"]
