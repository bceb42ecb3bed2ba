class TokenBucket:
    """Holds at most `capacity` tokens and gains `rate` tokens per second."""

    def __init__(self, capacity, rate, clock):
        if capacity < 1 or rate <= 0:
            raise ValueError("capacity must be at least 1 and rate positive")
        self.capacity = capacity
        self.rate = rate
        self.clock = clock
        self.tokens = float(capacity)
        self.updated = clock.now()

    def __repr__(self):
        return f"TokenBucket(capacity={self.capacity}, rate={self.rate}, tokens={self.tokens:g})"

    def _refill(self):
        now = self.clock.now()
        elapsed = now - self.updated
        self.tokens = min(self.capacity, self.tokens + elapsed * self.rate)
        self.updated = now

    def available(self):
        self._refill()
        return int(self.tokens)

    def try_take(self, n=1):
        self._refill()
        if self.tokens >= n:
            self.tokens -= n
            return True
        return False
