class Simulator:
    """Runs callbacks in virtual time; callbacks due at the same time run in scheduling order."""

    def __init__(self):
        self.now = 0
        self._pending = {}  # time -> [(callback, args), ...] in the order they were scheduled

    def __repr__(self):
        waiting = sum(len(batch) for batch in self._pending.values())
        return f"Simulator(now={self.now}, pending={waiting})"

    def schedule(self, delay, callback, *args):
        if delay < 0:
            raise ValueError("cannot schedule in the past")
        self._pending.setdefault(self.now + delay, []).append((callback, args))

    def run(self, until=None):
        """Process events in time order; stop before events later than `until`."""
        while self._pending:
            time = min(self._pending)
            if until is not None and time > until:
                break
            self.now = time
            batch = self._pending[time]
            callback, args = batch.pop()
            if not batch:
                del self._pending[time]
            callback(*args)
