from tracker.billing import line_total
from tracker.durations import parse_duration


class Timesheet:
    def __init__(self, rate):
        self.rate = rate
        self._entries = []

    def __repr__(self):
        return f"Timesheet(rate={self.rate}, entries={len(self._entries)})"

    def log(self, project, duration):
        self._entries.append((project, parse_duration(duration)))

    def hours(self):
        """Total hours per project, projects in name order."""
        totals = {}
        for project, hours in self._entries:
            totals[project] = totals.get(project, 0.0) + hours
        return dict(sorted(totals.items()))

    def invoice_lines(self):
        """(project, hours rounded to 0.01, total in cents) per project."""
        return [(p, round(h, 2), line_total(h, self.rate)) for p, h in self.hours().items()]

    def invoice_total(self):
        return sum(cents for _, _, cents in self.invoice_lines())
