from decimal import Decimal

RATES = {
    "standard": Decimal("0.20"),
    "reduced": Decimal("0.05"),
    "zero": Decimal("0"),
}


def rate_for(name):
    try:
        return RATES[name]
    except KeyError:
        raise ValueError(f"unknown VAT rate {name!r}") from None
