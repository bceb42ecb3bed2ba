from ledger.money import format_cents
from ledger.split import split_evenly


class Ledger:
    def __init__(self):
        self.expenses = []

    def __repr__(self):
        return f"Ledger(expenses={len(self.expenses)})"

    def add_expense(self, payer, cents, participants):
        if cents <= 0:
            raise ValueError("an expense must be positive")
        self.expenses.append((payer, cents, list(participants)))

    def balances(self):
        """Positive: the group owes this person; negative: they owe the group."""
        result = {}
        for payer, cents, participants in self.expenses:
            result[payer] = result.get(payer, 0) + cents
            for name, share in split_evenly(cents, participants).items():
                result[name] = result.get(name, 0) - share
        return result

    def report(self):
        return [f"{name}: {format_cents(c)}" for name, c in sorted(self.balances().items())]
