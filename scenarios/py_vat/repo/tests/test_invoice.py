from decimal import Decimal

import pytest

from vat import Invoice


def test_standard_rate():
    inv = Invoice()
    inv.add("lamp", "40.00", qty=2)
    assert (inv.net(), inv.tax(), inv.total()) == (Decimal("80.00"), Decimal("16.00"), Decimal("96.00"))


def test_reduced_rate_half_cent():
    inv = Invoice()
    inv.add("book", "12.50", rate="reduced")
    assert inv.tax() == Decimal("0.63")
    assert inv.total() == Decimal("13.13")


def test_mixed_invoice():
    inv = Invoice()
    inv.add("tea", "3.45", qty=3, rate="reduced")
    inv.add("mug", "7.99", rate="standard")
    inv.add("stamp", "1.10", rate="zero")
    assert inv.tax() == Decimal("2.12")


def test_unknown_rate():
    with pytest.raises(ValueError, match="unknown VAT rate 'luxury'"):
        Invoice().add("yacht", "1", rate="luxury")
