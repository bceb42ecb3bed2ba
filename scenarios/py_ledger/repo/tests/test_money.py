import pytest

from ledger import format_cents, parse_amount


def test_parse_amount():
    assert parse_amount("12.5") == 1250
    assert parse_amount("0.07") == 7
    assert parse_amount("3") == 300


def test_parse_rejects_fractions_of_a_cent():
    with pytest.raises(ValueError):
        parse_amount("1.005")


def test_format_cents():
    assert format_cents(1250) == "12.50"
    assert format_cents(-5) == "-0.05"
