"""Invoice totals with value-added tax, rounded to the cent."""

from vat.invoice import Invoice, Line
from vat.money import money
from vat.rates import RATES

__all__ = ["Invoice", "Line", "RATES", "money"]
