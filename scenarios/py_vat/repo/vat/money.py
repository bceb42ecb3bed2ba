from decimal import Decimal

CENT = Decimal("0.01")


def money(amount):
    """`amount` rounded to the cent; half a cent rounds up."""
    return Decimal(amount).quantize(CENT)
