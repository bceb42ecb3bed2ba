from decimal import Decimal

from vat import money


def test_plain_rounding():
    assert money(Decimal("1.234")) == Decimal("1.23")
    assert money(Decimal("1.236")) == Decimal("1.24")


def test_half_cent_rounds_up():
    assert money(Decimal("0.375")) == Decimal("0.38")
    assert money(Decimal("0.625")) == Decimal("0.63")
    assert money(Decimal("2.005")) == Decimal("2.01")
