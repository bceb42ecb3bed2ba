from ratelimit.bucket import TokenBucket


class RateLimiter:
    """One token bucket per key, created on first use."""

    def __init__(self, capacity, rate, clock):
        self.capacity = capacity
        self.rate = rate
        self.clock = clock
        self._buckets = {}

    def __repr__(self):
        return f"RateLimiter(capacity={self.capacity}, rate={self.rate}, keys={len(self._buckets)})"

    def _bucket(self, key):
        if key not in self._buckets:
            self._buckets[key] = TokenBucket(self.capacity, self.rate, self.clock)
        return self._buckets[key]

    def allow(self, key):
        return self._bucket(key).try_take()

    def remaining(self, key):
        return self._bucket(key).available()
