from dataclasses import dataclass
from decimal import Decimal

from vat.money import money
from vat.rates import rate_for


@dataclass
class Line:
    description: str
    unit_price: Decimal
    qty: int
    rate: str

    @property
    def net(self):
        return money(self.unit_price * self.qty)

    @property
    def tax(self):
        return money(self.net * rate_for(self.rate))


class Invoice:
    def __init__(self):
        self.lines = []

    def __repr__(self):
        return f"Invoice(lines={len(self.lines)}, total={self.total()})"

    def add(self, description, unit_price, qty=1, rate="standard"):
        rate_for(rate)
        self.lines.append(Line(description, Decimal(unit_price), qty, rate))

    def net(self):
        return sum((line.net for line in self.lines), Decimal("0.00"))

    def tax(self):
        return sum((line.tax for line in self.lines), Decimal("0.00"))

    def total(self):
        return self.net() + self.tax()
