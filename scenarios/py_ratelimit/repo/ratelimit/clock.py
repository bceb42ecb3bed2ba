class FakeClock:
    """A clock that only moves when told to; `now()` returns seconds."""

    def __init__(self, start=0.0):
        self._now = float(start)

    def __repr__(self):
        return f"FakeClock(now={self._now})"

    def now(self):
        return self._now

    def advance(self, seconds):
        if seconds < 0:
            raise ValueError("time does not go backwards")
        self._now += seconds
