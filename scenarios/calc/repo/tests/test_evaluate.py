import pytest

from calc import CalcError, evaluate


def test_single_digits():
    assert evaluate("1 + 2 * 3") == 7


def test_parentheses():
    assert evaluate("2 * (3 + 4)") == 14


def test_unary_minus_and_decimals():
    assert evaluate("-1.5 + 2") == 0.5


def test_division_by_zero():
    with pytest.raises(CalcError):
        evaluate("1 / (2 - 2)")


def test_division_is_left_associative():
    assert evaluate("8 / 4 / 2") == 1


def test_subtraction_is_left_associative():
    assert evaluate("10 - 3 - 2") == 5


def test_mixed_addition_and_subtraction():
    assert evaluate("1 - 2 + 3") == 2
